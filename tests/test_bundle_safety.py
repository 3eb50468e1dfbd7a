"""Tampered, damaged and hostile bundles are refused with exit 1 and one clear line; none runs code.

Variants of one real bundle (conftest's ``aapl_bundle``) are crafted with zipfile and run
through ``inspect`` (no TensorFlow), ``predict`` and ``score``.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app

from conftest import AAPL

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def with_manifest(bundle: Path, path: Path, **changes) -> Path:
    files = members(bundle)
    m = json.loads(files["manifest.json"])
    m.update(changes)
    files["manifest.json"] = json.dumps(m).encode()
    return write_zip(path, files)


MARKER_ENV = "FORECAST_TEST_LAMBDA_MARKER"


def lambda_model_bytes(tmp_path: Path) -> bytes:
    """A tiny Keras model with a Lambda layer whose function would write a marker file if called."""
    from forecast_cli import runtime

    keras = runtime.import_keras()
    fn = lambda x: (open(__import__("os").environ["FORECAST_TEST_LAMBDA_MARKER"], "w").close()  # noqa: E731
                    if "FORECAST_TEST_LAMBDA_MARKER" in __import__("os").environ else None, x)[1]
    inp = keras.Input(shape=(20, 1))
    out = keras.layers.Dense(5)(keras.layers.Flatten()(keras.layers.Lambda(fn)(inp)))
    model = keras.Model(inp, keras.layers.Reshape((5, 1))(out))
    path = tmp_path / "lambda.keras"
    model.save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def variants(aapl_bundle, tmp_path_factory) -> dict[str, tuple[Path, list[str]]]:
    """name -> (bundle file, substrings the one error line must hold)."""
    d = tmp_path_factory.mktemp("bad_bundles")
    files = members(aapl_bundle)
    out: dict[str, tuple[Path, list[str]]] = {}

    altered = dict(files)
    raw = bytearray(altered["model.keras"])
    raw[len(raw) // 2] ^= 0xFF
    altered["model.keras"] = bytes(raw)
    out["hash_mismatch"] = (write_zip(d / "hash_mismatch.fcst", altered),
                            ["does not match the SHA-256", "retrain or copy the bundle again"])

    out["format_99"] = (with_manifest(aapl_bundle, d / "format_99.fcst", format_version=99),
                        ["unknown bundle format version 99", "use a matching forecast-cli or retrain"])

    escape = dict(files)
    escape["../evil.txt"] = b"should never be written"
    out["path_escape"] = (write_zip(d / "path_escape.fcst", escape), ["'../evil.txt'", "escapes the bundle"])

    absolute = dict(files)
    absolute["/tmp/evil_abs.txt"] = b"no"
    out["absolute_member"] = (write_zip(d / "absolute_member.fcst", absolute), ["escapes the bundle"])

    whole = aapl_bundle.read_bytes()
    (d / "truncated.fcst").write_bytes(whole[: len(whole) // 2])
    out["truncated"] = (d / "truncated.fcst", ["not a zip file", "forecast train -o"])

    out["window_str"] = (with_manifest(aapl_bundle, d / "window_str.fcst", window="30"),
                         ["manifest field 'window' must be dict, got str", "damaged"])
    out["version_str"] = (with_manifest(aapl_bundle, d / "version_str.fcst", format_version="1"),
                          ["'format_version' must be an integer, got str"])
    out["n_targets_float"] = (with_manifest(aapl_bundle, d / "n_targets_float.fcst", n_targets=1.5),
                              ["'n_targets' must be int, got float"])
    out["sha_missing"] = (with_manifest(aapl_bundle, d / "sha_missing.fcst", model_sha256=None),
                          ["'model_sha256' must be str"])

    not_json = dict(files)
    not_json["manifest.json"] = b"{not json"
    out["manifest_not_json"] = (write_zip(d / "manifest_not_json.fcst", not_json),
                                ["manifest.json is not valid JSON", "damaged"])
    no_model = {"manifest.json": files["manifest.json"]}
    out["no_model"] = (write_zip(d / "no_model.fcst", no_model), ["it has no model.keras"])

    (d / "csv_renamed.fcst").write_bytes(AAPL.read_bytes()[:2000])
    out["not_a_zip"] = (d / "csv_renamed.fcst", ["not a forecast bundle (not a zip file)"])
    (d / "folder.fcst").mkdir()
    out["directory"] = (d / "folder.fcst", ["is a directory, not a bundle file"])
    out["missing"] = (d / "nothing_here.fcst", ["bundle not found", "check the path"])
    return out


NEEDS_TF = {"lambda_layer"}  # only refused when Keras loads the model (the hash is right)
INSPECT_CASES = ["hash_mismatch", "format_99", "path_escape", "absolute_member", "truncated", "window_str",
                 "version_str", "n_targets_float", "sha_missing", "manifest_not_json", "no_model", "not_a_zip",
                 "directory", "missing"]


def assert_refused(result, bundle: Path, parts: list[str]):
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ") and str(bundle) in line, line
    for p in parts:
        assert p in line, (p, line)
    assert "Traceback" not in result.output and "internal error" not in line


@pytest.mark.parametrize("name", INSPECT_CASES)
def test_inspect_refuses(name, variants):
    bundle, parts = variants[name]
    r = invoke("inspect", bundle)
    assert_refused(r, bundle, parts)
    assert r.stdout == ""


@pytest.mark.parametrize("name", INSPECT_CASES)
def test_predict_refuses(name, variants):
    bundle, parts = variants[name]
    assert_refused(invoke("predict", bundle, AAPL), bundle, parts)


@pytest.mark.parametrize("name", ["hash_mismatch", "format_99", "path_escape", "truncated", "window_str",
                                  "not_a_zip", "directory"])
def test_score_refuses_and_writes_nothing(name, variants, tmp_path):
    bundle, parts = variants[name]
    out = tmp_path / "out"
    assert_refused(invoke("score", bundle, AAPL, "-o", out), bundle, parts)
    assert not out.exists() or not any(out.iterdir())


def test_escaping_member_is_never_extracted(variants, tmp_path):
    bundle, _ = variants["path_escape"]
    assert not (bundle.parent.parent / "evil.txt").exists()
    assert not (bundle.parent / "evil.txt").exists()
    assert not Path("/tmp/evil_abs.txt").exists()


def test_lambda_layer_is_refused_and_never_runs(aapl_bundle, tmp_path, monkeypatch):
    files = members(aapl_bundle)
    model = lambda_model_bytes(tmp_path)
    files["model.keras"] = model
    m = json.loads(files["manifest.json"])
    m["model_sha256"] = hashlib.sha256(model).hexdigest()  # the hash matches: only safe_mode stops it
    files["manifest.json"] = json.dumps(m).encode()
    bundle = write_zip(tmp_path / "lambda.fcst", files)
    marker = tmp_path / "lambda_ran.txt"
    monkeypatch.setenv(MARKER_ENV, str(marker))

    # the hash is fine, but config.json names a layer class forecast-cli never builds: refused before
    # Keras sees it, by inspect too (safe_mode=True remains behind this check)
    words = ["layer of class 'Lambda'", "never builds"]
    assert_refused(invoke("inspect", bundle), bundle, words)
    assert_refused(invoke("predict", bundle, AAPL), bundle, words)
    out = tmp_path / "out"
    assert_refused(invoke("score", bundle, AAPL, "-o", out), bundle, words)
    assert not marker.exists(), "the Lambda layer's function was executed"
    assert not out.exists() or not any(out.iterdir())


def test_intact_bundle_still_loads(aapl_bundle, tmp_path):
    """The checks do not refuse the real thing."""
    assert invoke("inspect", aapl_bundle).exit_code == 0
    r = invoke("predict", aapl_bundle, AAPL, "--json")
    assert r.exit_code == 0, r.output
