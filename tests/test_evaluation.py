"""Cross-validation: folds follow time order and never leak; scalers see training rows only;
the same seed gives the same numbers."""
import numpy as np
import pytest

from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
from forecast_cli.errors import DataError
from forecast_cli.evaluation import cross_validate, fit_holdout, make_folds
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
                       train=TrainConfig(epochs=15, batch_size=32, patience=3), n_folds=2, season=10)
    s = r["summary"]
    assert s["model"]["rmse"]["mean"] < 0.5 * s["naive"]["rmse"]["mean"]
    assert s["seasonal_naive"]["rmse"]["mean"] < 1e-9  # exact for a noiseless period-10 sine
    assert r["verdict"]["beat_naive"] is True


def test_holdout_fit_reports_baselines_and_residuals():
    v = _series(300)
    net, info = fit_holdout(v, n_targets=1, window=WindowConfig(10, 3), model=ModelConfig(**FAST_MODEL),
                            train=TrainConfig(**FAST_TRAIN), holdout=0.2)
    assert info["holdout_rows"] == [240, 300]
    assert info["n_holdout_windows"] == 60 - 3 + 1
    assert set(info["metrics"]) == {"model", "naive", "seasonal_naive", "linear"}
    assert info["residuals"].shape == (58, 3, 1)


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
