"""Cross-validation: folds follow time order and never leak; scalers see training rows only;
the same seed gives the same numbers."""
import json

import numpy as np
import pytest
from rich.console import Console

from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
from forecast_cli.errors import DataError
from forecast_cli.evaluation import cross_validate, fit_holdout, make_folds, verdict
from forecast_cli.panel_cv import summarise
from forecast_cli.report import _series_counts_line, _verdict_line, render_train
from forecast_cli.significance import window_losses
from forecast_cli import training

from conftest import FAST_MODEL, FAST_TRAIN


def _series(n=400, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (np.sin(2 * np.pi * t / 12) + 0.05 * rng.normal(size=n) + 0.01 * t)[:, None]


@pytest.mark.parametrize("cv", ["expanding", "sliding"])
def test_folds_never_leak(cv):
    v = _series(120)
    L, H = 10, 3
    folds = make_folds(v, L, H, n_folds=4, cv=cv)
    assert [f.test_start for f in folds] == [24, 48, 72, 96]  # test_size = 120 // 5 = 24
    for prev, f in zip(folds, folds[1:]):
        assert f.test_start == prev.test_stop  # consecutive, in time order
    for f in folds:
        # every training window's targets end before the test span starts
        assert (f.train_origins + H < f.test_start).all()
        assert (f.train_origins - L + 1 >= f.train_start).all()
        # every test window forecasts rows inside the test span, starting with its first row
        assert f.test_origins.min() == f.test_start - 1
        assert (f.test_origins + H < f.test_stop).all()
        assert len(f.test_origins) == f.test_stop - f.test_start - H + 1
    if cv == "sliding":
        assert len({f.train_stop - f.train_start for f in folds}) == 1
    else:
        assert all(f.train_start == 0 for f in folds)


def test_too_many_folds_for_the_data_is_a_clear_error():
    with pytest.raises(DataError, match="fewer than lookback \\+ horizon"):
        make_folds(_series(60), 30, 5, n_folds=5)


def test_scaler_sees_training_rows_only(monkeypatch):
    """Put a huge spike in the test span: no fold's scaler may see it."""
    v = _series(300)
    seen = []
    real_fit = training.Scaler.fit

    def spy(self, rows):
        seen.append(np.asarray(rows).copy())
        return real_fit(self, rows)

    monkeypatch.setattr(training.Scaler, "fit", spy)
    folds = make_folds(v, 10, 2, n_folds=2)
    spiked = v.copy()
    spiked[folds[0].test_start:, 0] += 1e6  # every row from the first test span on
    cross_validate(spiked, n_targets=1, window=WindowConfig(10, 2), model=ModelConfig(**FAST_MODEL),
                   train=TrainConfig(**{**FAST_TRAIN, "epochs": 1}), n_folds=2)
    assert len(seen) == 2
    assert seen[0].max() < 1e5  # fold 1 saw only rows before its test span
    assert len(seen[0]) == folds[0].test_start
    assert len(seen[1]) == folds[1].test_start  # fold 2 may see fold 1's test rows, nothing later


def test_same_seed_same_metrics_and_other_seed_differs():
    v = _series(300)
    kw = dict(n_targets=1, window=WindowConfig(12, 3), model=ModelConfig(units=4, dropout=0.1, norm="none"),
              n_folds=2)
    a = cross_validate(v, train=TrainConfig(**FAST_TRAIN, seed=7), **kw)
    b = cross_validate(v, train=TrainConfig(**FAST_TRAIN, seed=7), **kw)
    c = cross_validate(v, train=TrainConfig(**FAST_TRAIN, seed=8), **kw)
    assert a["summary"]["model"] == b["summary"]["model"]
    assert a["summary"]["model"]["mse"] != c["summary"]["model"]["mse"]


def test_model_learns_a_clean_seasonal_series_better_than_naive():
    t = np.arange(500)
    v = np.sin(2 * np.pi * t / 10)[:, None]
    r = cross_validate(v, n_targets=1, window=WindowConfig(20, 5), model=ModelConfig(units=8),
                       train=TrainConfig(epochs=15, batch_size=32, patience=3, stat_baseline=False), n_folds=2, season=10)
    s = r["summary"]
    assert s["model"]["rmse"]["mean"] < 0.5 * s["naive"]["rmse"]["mean"]
    assert s["seasonal_naive"]["rmse"]["mean"] < 1e-9  # exact for a noiseless period-10 sine
    v = r["verdict"]
    assert v["beat_naive"] is True and v["vs"]["naive"]["result"] == "beat" and v["vs"]["naive"]["p_value"] < 0.05
    # ... but the best baseline is the exact seasonal naive, and the verdict says so
    assert (v["baseline"], v["result"], v["best"]) == ("seasonal_naive", "worse", "seasonal_naive")
    assert v["test"]["n"] == sum(f["n_test_windows"] for f in r["folds"]) and v["test"]["h"] == 5
    json.dumps(v, allow_nan=False)


def test_holdout_fit_reports_baselines_and_residuals():
    v = _series(300)
    net, info = fit_holdout(v, n_targets=1, window=WindowConfig(10, 3), model=ModelConfig(**FAST_MODEL),
                            train=TrainConfig(**FAST_TRAIN), holdout=0.2)
    assert info["holdout_rows"] == [240, 300]
    assert info["n_holdout_windows"] == 60 - 3 + 1
    assert set(info["metrics"]) == {"model", "naive", "seasonal_naive", "linear"}  # FAST_TRAIN: no AutoETS
    assert info["residuals"].shape == (58, 3, 1)
    v = info["verdict"]  # the holdout windows are consecutive: h is the horizon
    assert (v["test"]["n"], v["test"]["h"], v["metric"]) == (58, 3, "rmse")
    assert v["baseline_value"] == min(info["metrics"][b]["rmse"] for b in ("naive", "seasonal_naive", "linear"))
    assert v["result"] in ("beat", "no significant difference", "worse")
    json.dumps(v, allow_nan=False)


def test_two_targets_get_metrics_each_in_their_own_units():
    rng = np.random.default_rng(3)
    t = np.arange(300)
    v = np.column_stack([np.sin(2 * np.pi * t / 12), 100 + 50 * np.cos(2 * np.pi * t / 12)]) + rng.normal(
        0, 0.05, (300, 2))
    r = cross_validate(v, n_targets=2, window=WindowConfig(12, 3), model=ModelConfig(**FAST_MODEL),
                       train=TrainConfig(**FAST_TRAIN), n_folds=2, target_names=["a", "b"])
    for f in r["folds"]:
        per = f["by_target"]["naive"]
        assert set(per) == {"a", "b"}
        # the overall metric is the plain average over targets
        assert f["metrics"]["naive"]["mse"] == pytest.approx((per["a"]["mse"] + per["b"]["mse"]) / 2)
        assert per["b"]["rmse"] > 10 * per["a"]["rmse"]  # b is on a 50x larger scale
    assert set(r["summary_by_target"]["model"]) == {"a", "b"}


# ---------------------------------------------------------------------------- the verdict, on arrays (no training)
def _walk(n=400, H=3, seed=0):
    """A random walk's test windows: truth ``(n, H, 1)``, the naive forecast, and origins 0..n-1."""
    rng = np.random.default_rng(seed)
    y = np.cumsum(rng.normal(size=n + H + 1))
    truth = np.stack([y[o + 1:o + H + 1] for o in range(n)])[:, :, None]
    naive = np.repeat(y[:n, None], H, axis=1)[:, :, None]
    return rng, truth, naive, np.arange(n)


def _verdict_of(truth, preds, origins, H):
    losses = {k: window_losses(truth, p) for k, p in preds.items()}
    means = {k: float(np.sqrt(v.mean())) for k, v in losses.items()}
    return verdict(means, losses, origins, H)


def test_a_model_only_noise_different_from_the_best_baseline_is_no_significant_difference():
    rng, truth, naive, o = _walk()
    model = naive + rng.normal(0, 0.02, naive.shape)  # the naive forecast give or take a hair
    v = _verdict_of(truth, {"model": model, "naive": naive, "linear": naive + 0.5}, o, 3)
    assert abs(v["model"] - v["baseline_value"]) < 0.01 * v["baseline_value"]  # e.g. 2.247 vs 2.248
    assert (v["baseline"], v["result"]) == ("naive", "no significant difference")
    assert v["p_value"] > 0.05 and v["tie"] is True and v["beat_naive"] is False
    assert v["test"]["h"] == 3 and v["test"]["n"] == 400
    assert v["vs"]["linear"]["result"] == "beat"  # a worse baseline is still beaten, but it is not the best
    line = _verdict_line(v, "LSTM")
    assert line.startswith("[yellow]The LSTM showed no significant difference from the best baseline (naive)[/yellow] "
                           "on mean RMSE: ")
    assert f"Diebold-Mariano p = {v['p_value']:.2g}" in line


def test_a_clearly_better_model_beats_the_best_baseline_and_a_worse_one_is_worse():
    rng, truth, naive, o = _walk(seed=1)
    good = naive + 0.6 * (truth - naive)  # closes 60 % of the naive error in every window
    v = _verdict_of(truth, {"model": good, "naive": naive, "seasonal_naive": naive + 1.0}, o, 3)
    assert (v["baseline"], v["result"], v["best"]) == ("naive", "beat", "model")
    assert v["p_value"] < 1e-6 and v["statistic"] < 0 and v["beat_naive"] is True and v["tie"] is False
    assert _verdict_line(v, "GRU").startswith("[green]The GRU beat the best baseline (naive)[/green] on mean RMSE")
    bad = naive + rng.normal(0, 1.0, naive.shape)
    w = _verdict_of(truth, {"model": bad, "naive": naive}, o, 3)
    assert w["result"] == "worse" and w["p_value"] < 0.05 and w["beat_naive"] is False and w["tie"] is False
    assert "was worse than the best baseline (naive)" in _verdict_line(w, "LSTM")


def test_the_best_baseline_is_the_lowest_and_on_a_tie_the_simplest():
    rng, truth, naive, o = _walk(seed=2)
    v = _verdict_of(truth, {"model": naive + 0.3, "naive": naive, "seasonal_naive": naive.copy(),
                            "linear": naive + 0.1}, o, 3)
    assert v["baseline"] == "naive" and v["best"] == "naive"  # naive and seasonal naive tie: the simpler
    assert set(v["vs"]) == {"naive", "seasonal_naive", "linear"}


def test_too_few_windows_are_said_not_tested():
    rng, truth, naive, o = _walk(n=5, H=3)
    v = _verdict_of(truth, {"model": naive * 0.5, "naive": naive}, o, 3)  # 5 windows < 2h = 6
    assert v["result"] == "too few windows to test" and v["p_value"] is None and v["statistic"] is None
    assert v["beat_naive"] is False and v["tie"] is False
    assert "too few test windows to test the difference (5 windows, h = 3" in _verdict_line(v, "LSTM")


def test_train_renders_the_holdout_verdict():
    rng, truth, naive, o = _walk(seed=3)
    preds = {"model": naive + 0.6 * (truth - naive), "naive": naive}
    v = _verdict_of(truth, preds, o, 3)
    metrics = {k: {"mse": 1.0, "rmse": v["model"] if k == "model" else v["baseline_value"], "mae": 1.0, "r2": 0.5,
                   "mape": 1.0, "mase": 1.0} for k in preds}
    r = {"settings": {"model": {"model": "lstm"}}, "data": {},
         "holdout": {"n_holdout_windows": 400, "n_train_windows": 900, "epochs": 3, "best_epoch": 2,
                     "metrics": metrics, "verdict": v}}
    console = Console(record=True, width=200)
    render_train(console, r)
    out = console.export_text()
    assert "The LSTM beat the best baseline (naive) on the holdout's RMSE" in out
    assert "Diebold-Mariano p < 0.0001" in out


def _panel(gain: dict, n=30, H=2, seed=0):
    """``summarise``'s inputs for series whose model closes ``gain[sid]`` of the naive error (0: the
    naive forecast give or take noise), ``n`` consecutive windows each."""
    rng = np.random.default_rng(seed)
    per_series, losses = {}, {}
    for sid, g in gain.items():
        err = rng.normal(size=(n, H))
        model = err * (1 - g) + (rng.normal(0, 0.01, (n, H)) if g == 0 else 0)
        m = {"naive": np.abs(err), "model": np.abs(model)}
        per_series[sid] = {k: [{"smape": 1.0, "mase": float(v.mean()), "rmsse": 1.0, "mse": 1.0, "rmse": 1.0,
                                "mae": 1.0, "r2": None}] for k, v in m.items()}
        losses[sid] = {"pos": [np.arange(n)], **{k: [v.mean(axis=1)] for k, v in m.items()}}
    return per_series, losses


def test_panel_verdict_counts_only_significant_wins():
    per_series, losses = _panel({"a": 0.5, "b": 0.5, "c": 0.0})
    r = summarise(per_series, ["model", "naive"], losses=losses, horizon=2)
    v = r["verdict"]
    b = v["beats"]["naive"]
    assert (b["wins"], b["ties"], b["losses"], b["too_few"]) == (2, 1, 0, 0)
    assert b["point"]["wins"] + b["point"]["losses"] + b["point"]["ties"] == 3  # the means compared, as before
    # over all series: the mean scaled loss per origin, tested over time
    assert (v["baseline"], v["result"], v["model_wins"]) == ("naive", "beat", True)
    assert v["test"]["n"] == 30 and v["test"]["h"] == 2 and v["pooled"]["naive"]["p_value"] < 0.05
    line = _series_counts_line(v, "LSTM")
    assert "of 3: vs naive 2 beat, 1 no significant difference, 0 worse" in line
    json.dumps(v, allow_nan=False)


def test_panel_verdict_with_too_few_windows_per_series():
    per_series, losses = _panel({"a": 0.5, "b": 0.5}, n=3, H=2)  # 3 consecutive windows < 2h = 4
    v = summarise(per_series, ["model", "naive"], losses=losses, horizon=2)["verdict"]
    assert v["beats"]["naive"]["too_few"] == 2 and v["beats"]["naive"]["wins"] == 0
    assert v["result"] == "too few windows to test" and v["model_wins"] is False
    assert v["best"] == "model"  # the lowest mean, tested or not
    assert "2 too few windows to test" in _series_counts_line(v, "LSTM")
    # without losses (no test) the counts compare the means, as before
    old = summarise(per_series, ["model", "naive"])["verdict"]
    assert old["beats"]["naive"] == {"wins": 2, "ties": 0, "losses": 0} and "result" not in old
