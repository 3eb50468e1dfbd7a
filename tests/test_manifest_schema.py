"""A manifest that breaks its schema or disagrees with the network is refused as damaged or inconsistent,
with one line, by ``inspect`` and ``predict``, before Keras builds anything (issue 12, case 14).

Variants of conftest's ``aapl_bundle`` (lookback 20, horizon 5, target Close). Where the model changes,
the manifest gets its SHA-256, so what stops the bundle is the check under test.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from conftest import AAPL, one_line_error, zip_bytes, zip_members
from typer.testing import CliRunner

from forecast_cli import runtime
from forecast_cli.cli import app

runner = CliRunner()




def variant(bundle: Path, out: Path, edit=None, raw_manifest: bytes | None = None, edit_config=None) -> Path:
    """A copy of ``bundle``: ``edit(manifest)`` changes the manifest in place, ``raw_manifest`` replaces it,
    ``edit_config(config)`` changes model.keras' config.json (and the manifest's SHA-256 follows it)."""
    files = zip_members(bundle.read_bytes())
    m = json.loads(files["manifest.json"])
    if edit_config is not None:
        inner = zip_members(files["model.keras"])
        cfg = json.loads(inner["config.json"])
        edit_config(cfg)
        inner["config.json"] = json.dumps(cfg).encode()
        files["model.keras"] = zip_bytes(inner, zipfile.ZIP_STORED)
        m["model_sha256"] = hashlib.sha256(files["model.keras"]).hexdigest()
    if edit is not None:
        edit(m)
    files["manifest.json"] = raw_manifest if raw_manifest is not None else json.dumps(m).encode()
    out.write_bytes(zip_bytes(files))
    return out


def layers(cfg: dict) -> dict[str, dict]:
    return {layer["config"]["name"]: layer for layer in cfg["config"]["layers"]}


@pytest.fixture
def no_keras(monkeypatch):
    """Fail loudly if a refusal reaches Keras (it must come before any layer is built)."""
    def refuse():
        raise AssertionError("Keras was reached")
    monkeypatch.setattr(runtime, "import_keras", refuse)


def assert_refused(bundle: Path, *words: str, kind: str = "damaged bundle: "):
    """inspect and predict: exit 1, one line naming the bundle, ``kind``, the words; never 'internal error'."""
    for args in (["inspect", bundle], ["predict", bundle, AAPL]):
        r = runner.invoke(app, [str(a) for a in args])
        line = one_line_error(r, 1, *words)
        assert line.startswith(f"error: {bundle}: {kind}") and "--" not in line and r.stdout == "", line


def test_lookback_mismatch(aapl_bundle, tmp_path, no_keras):
    bad = variant(aapl_bundle, tmp_path / "lookback.fcst", lambda m: m["window"].update(lookback=30))
    assert_refused(bad, "model.keras takes input of shape [None, 20, 1] but the manifest says [None, 30, 1]",
                   kind="inconsistent bundle: ")


def test_horizon_mismatch(aapl_bundle, tmp_path, no_keras):
    def edit(m):
        m["window"]["horizon"] = 7
        res = m["conformal"]["residuals"]
        m["conformal"]["residuals"] = res + res[:2]  # consistent with the manifest's horizon, not the model's
    bad = variant(aapl_bundle, tmp_path / "horizon.fcst", edit)
    assert_refused(bad, "model.keras forecasts 5 values per window (layer 'head') but the manifest says 7",
                   kind="inconsistent bundle: ")


def test_n_targets_mismatch(aapl_bundle, tmp_path, no_keras):
    def edit(m):  # two targets, consistent within the manifest; the network takes and forecasts one
        m["n_targets"] = 2
        m["data"].update(target=["Close", "Open"], columns=["Close", "Open"])
        m["scaler"] = {"mean": m["scaler"]["mean"] * 2, "scale": m["scaler"]["scale"] * 2}
        m["conformal"]["residuals"] = [row * 2 for row in m["conformal"]["residuals"]]
        m["transform"]["targets"].append({"column": "Open", "kind": "none", "lambda": None})
    bad = variant(aapl_bundle, tmp_path / "targets.fcst", edit)
    assert_refused(bad, "model.keras takes input of shape [None, 20, 1] but the manifest says [None, 20, 2]",
                   kind="inconsistent bundle: ")


def test_n_targets_disagrees_with_target_list(aapl_bundle, tmp_path, no_keras):
    bad = variant(aapl_bundle, tmp_path / "n_targets.fcst", lambda m: m.update(n_targets=2))
    assert_refused(bad, "manifest field 'n_targets' must be the number of columns in data.target (1), got 2")


def test_huge_dense_layer_is_refused_without_building(aapl_bundle, tmp_path, no_keras):
    bad = variant(aapl_bundle, tmp_path / "dense8m.fcst",
                  edit_config=lambda c: layers(c)["head"]["config"].update(units=8_000_000))
    assert_refused(bad, "model.keras config.json has a layer of 8000000 units (limit 65536)")


def test_layer_bigger_than_its_weights_file_is_refused_without_building(aapl_bundle, tmp_path, no_keras):
    """Under the units cap, but the weights it would allocate are not in model.weights.h5."""
    def edit(c):
        layers(c)["lstm_1"]["config"]["units"] = 60_000
        layers(c)["head"]["build_config"]["input_shape"] = [None, 60_000]
    bad = variant(aapl_bundle, tmp_path / "dense60k.fcst", edit_config=edit)
    assert_refused(bad, "model.keras config.json describes", "but model.weights.h5 holds",
                   "refused before building the model", kind="inconsistent bundle: ")


def test_window_empty(aapl_bundle, tmp_path, no_keras):
    bad = variant(aapl_bundle, tmp_path / "window.fcst", lambda m: m.update(window={}))
    assert_refused(bad, "manifest is missing field 'window.lookback'")


def test_deeply_nested_manifest(aapl_bundle, tmp_path, no_keras):
    raw = json.dumps(json.loads(zip_members(aapl_bundle.read_bytes())["manifest.json"])).encode()
    deep = raw[:-1] + b', "extra": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    bad = variant(aapl_bundle, tmp_path / "deep.fcst", raw_manifest=deep)
    assert_refused(bad, "manifest.json nests JSON more than 32 levels deep")


def test_versions_not_an_object(aapl_bundle, tmp_path, no_keras):
    bad = variant(aapl_bundle, tmp_path / "versions.fcst", lambda m: m.update(versions="x"))
    assert_refused(bad, "manifest field 'versions' must be dict, got str")


def test_negative_max_gap_blames_the_bundle_not_a_flag(aapl_bundle, tmp_path, no_keras):
    bad = variant(aapl_bundle, tmp_path / "max_gap.fcst", lambda m: m["data"].update(max_gap=-1))
    assert_refused(bad, "manifest field 'data.max_gap' must be an int >= 0, got -1")


def test_target_as_a_string(aapl_bundle, tmp_path, no_keras):
    bad = variant(aapl_bundle, tmp_path / "target.fcst", lambda m: m["data"].update(target="Close"))
    assert_refused(bad, "manifest field 'data.target' must be list, got str")


def test_non_finite_residual(aapl_bundle, tmp_path, no_keras):
    bad = variant(aapl_bundle, tmp_path / "nan.fcst", lambda m: m["conformal"]["residuals"][2][0].__setitem__(3, None))
    assert_refused(bad, "manifest field 'conformal.residuals[2][0]' must be a list of finite numbers, got an item None")


def test_scaler_of_the_wrong_length(aapl_bundle, tmp_path, no_keras):
    bad = variant(aapl_bundle, tmp_path / "scaler.fcst", lambda m: m["scaler"].update(mean=[1.0, 2.0]))
    assert_refused(bad, "manifest field 'scaler.mean' must be a list of 1 numbers (one per column), got 2 numbers")


def test_intact_manifest_passes_the_schema(aapl_bundle):
    from forecast_cli.bundle import read_manifest

    assert read_manifest(aapl_bundle)["window"] == {"lookback": 20, "horizon": 5}


def test_loaded_model_shapes_are_checked_against_the_manifest(aapl_bundle):
    """After Keras loads the model (sizes already bounded), its input and output shapes must fit the manifest."""
    from types import SimpleNamespace

    from forecast_cli import manifest as M
    from forecast_cli.bundle import read_manifest
    from forecast_cli.errors import BundleError

    m = read_manifest(aapl_bundle)
    M.check_model_shapes(SimpleNamespace(input_shape=(None, 20, 1), output_shape=(None, 5, 1)), m)
    with pytest.raises(BundleError, match=r"inconsistent bundle: model.keras maps windows of shape \(20, 1\) to "
                                          r"forecasts of shape \(1, 5\) but the manifest says \(20, 1\) -> \(5, 1\)"):
        M.check_model_shapes(SimpleNamespace(input_shape=(None, 20, 1), output_shape=(None, 1, 5)), m)


# --- settings this version no longer has (the accuracy work's attempts not adopted; issue 13) --------------
REMOVED_OFF = {"model": {"net_scale": "none"},
               "train": {"decision_fraction": 0.0, "shrink_residual": False, "ensemble": 1, "crossfit": 0}}


def with_removed(m, section=None, key=None, value=None):
    """What an earlier version wrote: every removed setting at its old default, then ``key`` set to ``value``."""
    for sec, kv in REMOVED_OFF.items():
        m[sec].update(kv)
    if section is not None:
        m[section][key] = value


def test_old_bundle_with_removed_settings_at_their_defaults_loads_and_predicts(aapl_bundle, tmp_path):
    old = variant(aapl_bundle, tmp_path / "old.fcst", with_removed)
    stored = json.loads(zip_members(old.read_bytes())["manifest.json"])
    assert stored["model"]["net_scale"] == "none" and stored["train"]["ensemble"] == 1
    r = runner.invoke(app, ["inspect", str(old)])
    assert r.exit_code == 0, r.output
    got, want = (runner.invoke(app, ["predict", str(b), str(AAPL), "--json"]) for b in (old, aapl_bundle))
    assert got.exit_code == 0 and want.exit_code == 0, (got.output, want.output)
    assert json.loads(got.stdout)["forecast"] == json.loads(want.stdout)["forecast"]


@pytest.mark.parametrize("section,key,value,shown", [
    ("train", "ensemble", 3, "3"),
    ("train", "decision_fraction", 0.5, "0.5"),
    ("train", "shrink_residual", True, "true"),
    ("train", "shrink_residual", 0, "0"),  # not the old default false: a number
    ("train", "crossfit", 5, "5"),
    ("model", "net_scale", "std", '"std"'),
])
def test_old_bundle_with_a_removed_setting_on_is_refused(aapl_bundle, tmp_path, no_keras, section, key, value, shown):
    bad = variant(aapl_bundle, tmp_path / "on.fcst", lambda m: with_removed(m, section, key, value))
    assert_refused(bad, f"this bundle was trained with {section}.{key}={shown}, which this version of forecast-cli "
                        "no longer has (see docs/accuracy.md); retrain it", kind="this bundle was trained with")


@pytest.mark.parametrize("edit,message", [
    (lambda t: t["targets"][0].update(column="Open"),
     "manifest field 'transform.targets' must be one entry per column of data.target (['Close']), got ['Open']"),
    (lambda t: t["targets"][0].update(kind="boxcox", **{"lambda": None}),
     "manifest field 'transform.targets[0].lambda' must be a number in [0, 1] for kind 'boxcox', got None"),
    (lambda t: t["targets"][0].update(kind="boxcox", **{"lambda": 2.0}),
     "manifest field 'transform.targets[0].lambda' must be a finite number in [0.0, 1.0], got 2.0"),
    (lambda t: t["targets"][0].update(kind="sqrt"), "manifest field 'transform.targets[0].kind' must be one of"),
])
def test_transform_section_is_checked(aapl_bundle, tmp_path, no_keras, edit, message):
    bad = variant(aapl_bundle, tmp_path / "tf.fcst", lambda m: edit(m["transform"]))
    assert_refused(bad, message)
