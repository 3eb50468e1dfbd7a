"""Bundles: verification on load (hash, format version, not a bundle, safe_mode) and inspect without TensorFlow."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast_cli import bundle as B
from forecast_cli.cli import app
from forecast_cli.errors import BundleError

from conftest import AAPL, ROOT

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def rewrite(src: Path, dst: Path, *, manifest=None, model=None) -> Path:
    """Copy a bundle, replacing the manifest (a function of the old one) or the model bytes."""
    with zipfile.ZipFile(src) as zf:
        m = json.loads(zf.read("manifest.json"))
        k = zf.read("model.keras")
    if manifest is not None:
        m = manifest(m)
    if model is not None:
        k = model(k)
    with zipfile.ZipFile(dst, "w") as zf:
        zf.writestr("manifest.json", json.dumps(m))
        zf.writestr("model.keras", k)
    return dst


def assert_refused(r, words: str):
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0], r.stderr


def flip_last_byte(b: bytes) -> bytes:
    return b[:-1] + bytes([b[-1] ^ 0xFF])


def test_altered_model_is_refused_everywhere(aapl_bundle, tmp_path):
    bad = rewrite(aapl_bundle, tmp_path / "altered.fcst", model=flip_last_byte)
    with pytest.raises(BundleError, match="does not match the SHA-256"):
        B.load_bundle(bad)
    assert_refused(invoke("predict", bad, AAPL), "model.keras does not match the SHA-256")
    assert_refused(invoke("inspect", bad), "model.keras does not match the SHA-256")
    out = tmp_path / "out"
    assert_refused(invoke("score", bad, AAPL, "-o", out), "model.keras does not match the SHA-256")
    assert not out.exists()  # nothing written for a bad bundle


def test_unknown_format_version_is_refused(aapl_bundle, tmp_path):
    bad = rewrite(aapl_bundle, tmp_path / "v99.fcst", manifest=lambda m: {**m, "format_version": 99})
    assert_refused(invoke("predict", bad, AAPL), "unknown bundle format version 99")
    assert_refused(invoke("inspect", bad), "unknown bundle format version 99")


@pytest.mark.parametrize("content,words", [
    (b"Date,Close\n2020-01-01,1\n", "not a forecast bundle (not a zip file)"),
    (None, "not a forecast bundle: it has no manifest.json"),
])
def test_not_a_bundle_is_refused(tmp_path, content, words):
    p = tmp_path / "model.fcst"
    if content is None:
        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("other.txt", "x")
    else:
        p.write_bytes(content)
    assert_refused(invoke("inspect", p), words)
    assert_refused(invoke("predict", p, AAPL), words)


def test_missing_bundle(tmp_path):
    assert_refused(invoke("inspect", tmp_path / "nope.fcst"), "bundle not found")


def test_keras_loads_with_safe_mode(aapl_bundle, tmp_path, monkeypatch):
    """A model with a Lambda layer (arbitrary code), with a correct hash, is still refused: by the layer-class
    check (see test_bundle_safety), and by safe_mode when that check is bypassed (defence in depth)."""
    from forecast_cli import manifest as M
    from forecast_cli.runtime import import_keras

    monkeypatch.setattr(M, "ALLOWED_LAYERS", M.ALLOWED_LAYERS | {"Lambda"})

    keras = import_keras()
    inp = keras.Input((20, 1))
    out = keras.layers.Reshape((5, 1))(keras.layers.Dense(5)(keras.layers.Flatten()(
        keras.layers.Lambda(lambda x: x * 2.0)(inp))))
    kpath = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(kpath)
    kbytes = kpath.read_bytes()
    bad = rewrite(aapl_bundle, tmp_path / "lambda.fcst", model=lambda _: kbytes,
                  manifest=lambda m: {**m, "model_sha256": B.sha256_bytes(kbytes)})
    with pytest.raises(BundleError, match="refused to load model.keras"):
        B.load_bundle(bad)


def test_inspect_json(aapl_bundle):
    r = invoke("inspect", aapl_bundle, "--json")
    assert r.exit_code == 0, r.output
    v = json.loads(r.stdout)
    assert v["format_version"] == B.FORMAT_VERSION and v["model_sha256_verified"] is True
    assert v["window"] == {"lookback": 20, "horizon": 5}
    assert v["data"]["target"] == ["Close"] and v["data"]["trading_days"] is True
    assert "residuals" not in v["conformal"] and v["conformal"]["residuals_shape"][:2] == [5, 1]
    assert v["training_data"]["sha256"] and v["training_data"]["rows"] > 3000
    assert set(v["holdout"]["metrics"]) >= {"model", "naive"}
    assert "keras" in v["versions"] and "numpy" in v["versions"]
    r = invoke("inspect", aapl_bundle)
    assert r.exit_code == 0 and "data contract" in r.stdout and "verified" in r.stdout


def test_inspect_does_not_import_tensorflow(aapl_bundle):
    code = (
        "import sys\n"
        "from forecast_cli.cli import main\n"
        f"sys.argv = ['forecast', 'inspect', {str(aapl_bundle)!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('NO-TF-OK')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "NO-TF-OK" in r.stdout and "data contract" in r.stdout


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "f.csv"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with B.atomic_write(target) as fh:
            fh.write(b"partial")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.csv"]
    with B.atomic_write(tmp_path / "g.csv") as fh:
        fh.write(b"x")
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "g.csv").stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would, not mkstemp's 0600
