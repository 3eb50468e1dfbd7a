"""The target transform (--transform): fitted on training rows only, inverted exactly, stored in bundles."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app
from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
from forecast_cli.errors import DataError
from forecast_cli.evaluation import cross_validate, fit_holdout
from forecast_cli.training import NeuralForecaster
from forecast_cli.transforms import TargetTransform, TransformedForecaster, make_forecaster, swing_slope

from conftest import FAST_CLI, FAST_MODEL, FAST_TRAIN, one_line_error, write_series, zip_members

runner = CliRunner()
TINY = dict(window=WindowConfig(12, 3), train=TrainConfig(**{**FAST_TRAIN, "epochs": 1}))


def multiplicative(n=240, seed=0):
    """Monthly, positive, growing level, seasonal swing proportional to it."""
    t = np.arange(n)
    noise = np.random.default_rng(seed).normal(0, 0.02, n)
    return 100 * np.exp(0.01 * t) * (1 + 0.4 * np.sin(2 * np.pi * t / 12)) * (1 + noise)


def half_power(n=240, seed=0):
    """Monthly, positive, seasonal swing growing like the square root of the level (lambda about 0.5)."""
    t = np.arange(n)
    level = 100 * np.exp(0.015 * t)
    return level + 3 * np.sqrt(level) * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 0.5, n)


def additive(n=240, seed=0):
    """Monthly, positive, growing level, constant seasonal swing."""
    t = np.arange(n)
    return 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 1, n)


# ----------------------------------------------------------------------------- the transform
@pytest.mark.parametrize("mode", ["log", "boxcox"])
def test_round_trip_is_exact(mode):
    y = multiplicative()[:, None]
    tf = TargetTransform(mode, season=12).fit(y[:180])
    assert tf.params_[0]["kind"] == mode
    back = tf.inverse(tf.transform(y))
    np.testing.assert_allclose(back, y, rtol=0, atol=1e-9 * np.abs(y).max())
    assert np.abs(back - y).max() < 1e-9 * 1e3


@pytest.mark.parametrize("lam", [0.0, 0.37, 1.0])
def test_round_trip_every_lambda_and_features_untouched(lam):
    x = np.column_stack([np.linspace(0.5, 900.0, 50), np.linspace(-5, 5, 50)])  # a target and a feature
    tf = TargetTransform("boxcox").fit(x[:, :1])
    tf.params_ = [{"kind": "boxcox", "lambda": lam}]
    z = tf.transform(x)
    assert np.array_equal(z[:, 1], x[:, 1])
    assert np.abs(tf.inverse(z[:, :1]) - x[:, :1]).max() < 1e-9


def test_auto_picks_boxcox_only_for_a_growing_swing():
    m = TargetTransform("auto", season=12).fit(multiplicative()[:, None]).params_[0]
    assert m["kind"] == "boxcox" and 0.0 <= m["lambda"] < 0.3 and m["p_value"] < 0.05
    a = TargetTransform("auto", season=12).fit(additive()[:, None]).params_[0]
    assert a["kind"] == "none" and a["lambda"] is None
    shifted = multiplicative() - 150  # same swing, some values <= 0
    assert shifted.min() <= 0
    assert TargetTransform("auto", season=12).fit(shifted[:, None]).params_[0]["kind"] == "none"
    assert TargetTransform("boxcox", season=12).fit(additive()[:, None]).params_[0]["kind"] == "boxcox"
    b, p, n = swing_slope(additive(), 12)
    assert n == 20 and p > 0.05


@pytest.mark.parametrize("mode", ["log", "boxcox"])
def test_explicit_mode_refuses_non_positive_training_rows(mode):
    with pytest.raises(DataError, match=rf"--transform {mode} needs values > 0, and column 'y' holds -3 in its"):
        TargetTransform(mode, names=["y"]).fit(np.array([[1.0], [2.0], [-3.0], [4.0]]))


def test_later_values_at_or_below_zero_are_refused_and_inverse_is_never_nan():
    tf = TargetTransform("log", names=["sales"]).fit(multiplicative()[:, None])
    with pytest.raises(DataError, match="column 'sales' holds 0 in the rows a forecast reads; .* --transform none"):
        tf.check_positive(np.array([[3.0], [0.0]]))
    assert np.isnan(tf.transform(np.array([[0.0], [-1.0]]))).all()  # unread rows only; never an output
    tf.params_ = [{"kind": "boxcox", "lambda": 0.5}]
    wild = tf.inverse(np.array([[-1e30], [-3.0], [1e30], [np.inf], [-np.inf]]))
    assert np.isfinite(wild).all() and (wild >= 0).all() and wild[0, 0] == 0.0


# ----------------------------------------------------------------------------- fitted on training rows only
def _lambdas(result):
    return [f["transform"]["y"]["lambda"] for f in result["folds"]]


def test_planted_test_spike_changes_no_fitted_lambda_in_cross_validation():
    v = half_power(200)[:, None]
    kw = dict(n_targets=1, model=ModelConfig(**FAST_MODEL, transform="boxcox"), season=12, n_folds=2,
              target_names=["y"], keep_predictions=True, **TINY)
    clean = cross_validate(v, **kw)
    last = clean["folds"][-1]
    spiked = v.copy()
    spiked[last["test_rows"][0] + 5] *= 40.0  # in the last fold's test rows: no fold trains on it
    again = cross_validate(spiked, **kw)
    assert _lambdas(again) == _lambdas(clean) and all(0.2 < lam < 0.8 for lam in _lambdas(clean)), _lambdas(clean)
    assert again["folds"][-1]["metrics"]["model"]["rmse"] != last["metrics"]["model"]["rmse"]
    for f, lam in zip(clean["folds"], _lambdas(clean)):  # each fold's lambda: its training rows', no other
        rows = v[f["train_rows"][0]:f["train_rows"][1]]
        assert TargetTransform("boxcox", 12).fit(rows).params_[0]["lambda"] == lam
        early = rows.copy()
        early[-30] *= 40.0
        assert TargetTransform("boxcox", 12).fit(early).params_[0]["lambda"] != lam
    # forecasts and every metric on the data's scale
    y, p = clean["predictions"][-1]["y_true"], clean["predictions"][-1]["model"]
    assert np.isclose(last["metrics"]["model"]["rmse"], np.sqrt(np.mean((y - p) ** 2)))
    assert p.min() > 0.5 * y.min() and p.max() < 2 * y.max()
    widths = [lv["width"] for lv in clean["intervals"]["levels"].values()]
    assert len(widths) == 2 and all(np.isfinite(w) and w > 0 for w in widths)


def test_planted_holdout_spike_changes_no_fitted_lambda():
    v = multiplicative(200)[:, None]
    kw = dict(n_targets=1, model=ModelConfig(**FAST_MODEL, transform="auto"), season=12, holdout=40, **TINY)
    net, info = fit_holdout(v, **kw)
    spiked = v.copy()
    spiked[-10] *= 40.0
    net2, info2 = fit_holdout(spiked, **kw)
    assert info["transform"] == info2["transform"] and info["transform"]["target 1"]["kind"] == "boxcox"
    assert net.transform_.params_ == net2.transform_.params_
    assert np.isfinite(info2["residuals"]).all()


def test_none_is_the_plain_network_and_auto_none_gives_the_same_numbers():
    assert type(make_forecaster(WindowConfig(12, 3), ModelConfig(transform="none"), TrainConfig(), 1)) \
        is NeuralForecaster
    assert isinstance(make_forecaster(WindowConfig(12, 3), ModelConfig(transform="auto"), TrainConfig(), 1),
                      TransformedForecaster)
    v = additive(160)[:, None]
    kw = dict(n_targets=1, season=12, n_folds=2, target_names=["y"], **TINY)
    plain = cross_validate(v, model=ModelConfig(**FAST_MODEL, transform="none"), **kw)
    auto = cross_validate(v, model=ModelConfig(**FAST_MODEL, transform="auto"), **kw)
    assert "transform" not in plain["folds"][0]
    assert [f["transform"]["y"]["kind"] for f in auto["folds"]] == ["none", "none"]
    assert auto["summary"] == plain["summary"]


# ----------------------------------------------------------------------------- bundle, predict, score, CLI
@pytest.fixture(scope="module")
def log_bundle(tmp_path_factory):
    d = tmp_path_factory.mktemp("tf")
    csv = write_series(d / "sales.csv", multiplicative(200), freq="MS", name="sales")
    out = d / "sales.fcst"
    r = runner.invoke(app, ["train", str(csv), "-t", "sales", "-o", str(out), "-l", "12", "-H", "3",
                            "--transform", "log", "--holdout", "40", *FAST_CLI])
    assert r.exit_code == 0, r.output
    return csv, out


def test_bundle_stores_the_transform_and_round_trips(log_bundle):
    from forecast_cli.forecaster import Forecaster

    csv, out = log_bundle
    manifest = json.loads(zip_members(out.read_bytes())["manifest.json"])
    assert manifest["transform"]["targets"] == [{"column": "sales", "kind": "log", "lambda": 0.0}]
    assert manifest["model"]["transform"] == "log"
    assert manifest["holdout"]["transform"] == {"sales": {"kind": "log", "lambda": 0.0}}
    df = pd.read_csv(csv).rename(columns={"date": "ds"})
    df["ds"] = pd.to_datetime(df["ds"])
    loaded = Forecaster.load(out)
    assert isinstance(loaded.net_, TransformedForecaster)
    a = loaded.predict(h=3, df=df, level=[80])
    b = Forecaster.load(out).predict(h=3, df=df, level=[80])
    pd.testing.assert_frame_equal(a, b)
    X = df["sales"].to_numpy()[-12:].reshape(1, 12, 1)
    inner = loaded.net_.net.predict_windows(np.log(X))  # the network alone, on the log scale
    np.testing.assert_allclose(a["model"].to_numpy(), np.exp(inner[0, :, 0]), rtol=1e-9)
    r = runner.invoke(app, ["inspect", str(out), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["transform"]["targets"][0]["kind"] == "log"


def test_old_bundle_without_transform_loads_as_none(log_bundle, tmp_path):
    from forecast_cli.bundle import load_bundle

    _, out = log_bundle
    members = zip_members(out.read_bytes())
    m = json.loads(members["manifest.json"])
    del m["transform"], m["model"]["transform"]
    members["manifest.json"] = json.dumps(m).encode()
    old = tmp_path / "old.fcst"
    with zipfile.ZipFile(old, "w") as zf:
        for k, v in members.items():
            zf.writestr(k, v)
    net, manifest = load_bundle(old)
    assert type(net) is NeuralForecaster and net.model_cfg.transform == "none"


def test_damaged_transform_section_is_refused(log_bundle, tmp_path):
    from forecast_cli.bundle import read_manifest
    from forecast_cli.errors import BundleError

    _, out = log_bundle
    members = zip_members(out.read_bytes())
    m = json.loads(members["manifest.json"])
    m["transform"]["targets"][0]["lambda"] = 0.5  # a log transform with another lambda
    bad = tmp_path / "bad.fcst"
    with zipfile.ZipFile(bad, "w") as zf:
        for k, v in {**members, "manifest.json": json.dumps(m).encode()}.items():
            zf.writestr(k, v)
    with pytest.raises(BundleError, match=r"transform.targets\[0\].lambda' must be 0 for kind 'log'"):
        read_manifest(bad)


def test_predict_and_score_apply_it_and_refuse_values_at_or_below_zero(log_bundle, tmp_path):
    csv, out = log_bundle
    r = runner.invoke(app, ["predict", str(out), str(csv), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)
    frame = pd.read_csv(csv)
    frame.loc[len(frame) - 2, "sales"] = 0.0
    zero = write_series(tmp_path / "zero.csv", frame["sales"].to_numpy(), freq="MS", name="sales")
    r = runner.invoke(app, ["predict", str(out), str(zero)])
    one_line_error(r, 1, "column 'sales': the forecast is not finite: its last 12 values hold 0, and the model's "
                         "log transform", "--transform none")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text(csv.read_text())
    (inbox / "b.csv").write_text(zero.read_text())
    r = runner.invoke(app, ["score", str(out), str(inbox), "-o", str(tmp_path / "scored")])
    assert r.exit_code == 3, r.output
    summary = json.loads((tmp_path / "scored" / "summary.json").read_text())
    status = {Path(e["input"]).name: e for e in summary["files"]}
    assert status["a.csv"]["status"] == "ok" and status["b.csv"]["status"] == "failed"
    assert "needs values > 0" in status["b.csv"]["error"]
    scored = pd.read_csv(status["a.csv"]["output"])
    assert runner.invoke(app, ["predict", str(out), str(csv), "-o", str(tmp_path / "p.csv")]).exit_code == 0
    expected = pd.read_csv(tmp_path / "p.csv")
    assert np.isfinite(scored.select_dtypes("number").to_numpy()).all()
    np.testing.assert_allclose(scored["sales"], expected["sales"], rtol=1e-6)


def test_cli_option_and_bad_value(tmp_path):
    r = runner.invoke(app, ["evaluate", "--help"])
    assert r.exit_code == 0 and "--transform" in r.stdout
    csv = write_series(tmp_path / "s.csv", multiplicative(120), freq="MS")
    r = runner.invoke(app, ["evaluate", str(csv), "--transform", "sqrt"])
    one_line_error(r, 2, "--transform must be one of auto, log, boxcox, none. Got 'sqrt'.")
    neg = write_series(tmp_path / "neg.csv", multiplicative(240) - 150, freq="MS")
    r = runner.invoke(app, ["evaluate", str(neg), "--transform", "log", "-l", "12", "-H", "3", "--folds", "2",
                            *FAST_CLI])
    one_line_error(r, 1, "--transform log needs values > 0", "column 'y'")
