"""Metrics against hand-worked numbers and scikit-learn; baselines on known series."""
import math

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_absolute_percentage_error, mean_squared_error, r2_score

from forecast_cli.baselines import LinearLags, Naive, SeasonalNaive
from forecast_cli.errors import DataError
from forecast_cli.metrics import aggregate, compute_metrics, mase_scale, metrics_by_step


def test_hand_checked_metrics():
    y = np.array([1.0, 2.0, 3.0, 4.0]).reshape(2, 2, 1)
    p = np.array([1.0, 2.0, 3.0, 6.0]).reshape(2, 2, 1)
    m = compute_metrics(y, p, scale=[1.0])
    assert m["mse"] == pytest.approx(1.0)  # (0+0+0+4)/4
    assert m["rmse"] == pytest.approx(1.0)
    assert m["mae"] == pytest.approx(0.5)
    assert m["r2"] == pytest.approx(1 - 4 / 5)  # SS_tot = 2.25+0.25+0.25+2.25
    assert m["mape"] == pytest.approx(100 * 0.5 / 4)  # only the last point is off, by 2/4
    assert m["mase"] == pytest.approx(0.5)


def test_against_sklearn_two_targets():
    rng = np.random.default_rng(1)
    y = rng.normal(5, 1, size=(30, 4, 2))
    p = y + rng.normal(0, 0.3, size=y.shape)
    m = compute_metrics(y, p)
    yt, yp = y.reshape(-1, 2), p.reshape(-1, 2)
    assert m["mse"] == pytest.approx(mean_squared_error(yt, yp))
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(yt, yp)))
    assert m["mae"] == pytest.approx(mean_absolute_error(yt, yp))
    assert m["r2"] == pytest.approx(r2_score(yt, yp))
    assert m["mape"] == pytest.approx(100 * mean_absolute_percentage_error(yt, yp))


def test_undefined_metrics_are_none_not_nan():
    y = np.zeros((3, 2, 1))
    m = compute_metrics(y, y + 1)
    assert m["r2"] is None and m["mape"] is None and m["mase"] is None
    assert m["mae"] == 1.0


def test_non_finite_predictions_are_reported_not_averaged():
    y = np.ones((3, 2, 1))
    p = y.copy()
    p[1, 1, 0] = np.nan
    with pytest.raises(DataError, match="window 1, step 2"):
        compute_metrics(y, p)


def test_mase_scale_and_by_step():
    assert mase_scale(np.array([[1.0], [3.0], [2.0]])).tolist() == [1.5]
    y = np.array([[[1.0], [2.0]], [[2.0], [3.0]]])
    p = np.array([[[1.0], [4.0]], [[2.0], [3.0]]])
    steps = metrics_by_step(y, p)
    assert steps[0]["mae"] == 0.0 and steps[1]["mae"] == 1.0


def test_aggregate_mean_and_sample_std():
    a = aggregate([{"mse": 1.0, "rmse": 1, "mae": 1, "r2": 0.5, "mape": None, "mase": 1},
                   {"mse": 3.0, "rmse": 1, "mae": 1, "r2": 0.7, "mape": 1.0, "mase": 1}])
    assert a["mse"] == {"mean": 2.0, "std": pytest.approx(math.sqrt(2))}
    assert a["mape"] == {"mean": None, "std": None}


def test_baselines_on_known_series():
    v = np.arange(20.0).reshape(-1, 1)
    o = np.array([5, 9])
    assert Naive(3, 1).predict(v, o)[:, :, 0].tolist() == [[5, 5, 5], [9, 9, 9]]
    # season 2: y[o+1] = y[o-1], y[o+2] = y[o], y[o+3] = y[o+1-2] = y[o-1]
    assert SeasonalNaive(3, 1, 2).predict(v, o)[:, :, 0].tolist() == [[4, 5, 4], [8, 9, 8]]
    lin = LinearLags(4, 3, 1).fit(v, np.arange(3, 16))
    np.testing.assert_allclose(lin.predict(v, o)[:, :, 0], [[6, 7, 8], [10, 11, 12]], atol=1e-4)
