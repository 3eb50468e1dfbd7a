"""Windows over tiny hand-checkable arrays, and the scaler."""
import numpy as np
import pytest

from forecast_cli.errors import DataError
from forecast_cli.windows import Scaler, gather, valid_origins, window_views


def test_window_views_are_views_with_hand_checked_values():
    values = np.arange(10.0).reshape(-1, 1)  # 0..9
    X, Y = window_views(values, lookback=3, horizon=2, n_targets=1)
    assert X.shape == (6, 3, 1) and Y.shape == (6, 2, 1)
    assert X[0, :, 0].tolist() == [0, 1, 2] and Y[0, :, 0].tolist() == [3, 4]
    assert X[5, :, 0].tolist() == [5, 6, 7] and Y[5, :, 0].tolist() == [8, 9]
    assert np.shares_memory(X, values) and np.shares_memory(Y, values)  # no copy of the series


def test_window_views_multi_column_targets_first():
    values = np.column_stack([np.arange(6.0), 10 + np.arange(6.0)])
    X, Y = window_views(values, lookback=2, horizon=1, n_targets=1)
    assert X[1].tolist() == [[1, 11], [2, 12]]
    assert Y[1].tolist() == [[3]]


def test_too_short_series_says_so():
    with pytest.raises(DataError, match="fewer than lookback \\+ horizon = 6"):
        window_views(np.zeros((5, 1)), lookback=4, horizon=2, n_targets=1)


def test_valid_origins_span_and_nan_exclusion():
    v = np.arange(12.0).reshape(-1, 1)
    assert valid_origins(v, 3, 2).tolist() == list(range(2, 10))
    assert valid_origins(v, 3, 2, start=4, stop=10).tolist() == [6, 7]
    v[6] = np.nan
    # windows [o-2, o+2] must not contain row 6: o <= 3 or o >= 9
    assert valid_origins(v, 3, 2).tolist() == [2, 3, 9]


def test_gather_matches_views():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 3))
    X, Y = window_views(v, 7, 4, 2)
    origins = np.array([6, 10, 45])
    Xg, Yg = gather(v, origins, 7, 4, 2, dtype=np.float64)
    np.testing.assert_array_equal(Xg, X[origins - 6])
    np.testing.assert_array_equal(Yg, Y[origins - 6])
    _, Ynone = gather(v, np.array([49]), 7, 4, 2)
    assert Ynone is None  # forecasting past the end has no targets


def test_scaler_fits_given_rows_only_and_round_trips():
    rows = np.array([[1.0, 10.0], [3.0, 10.0]])
    s = Scaler().fit(rows)
    assert s.mean_.tolist() == [2.0, 10.0]
    assert s.scale_.tolist() == [1.0, 1.0]  # constant column gets scale 1, not 0
    z = s.transform(np.array([[5.0, 12.0]]))
    assert z.tolist() == [[3.0, 2.0]]
    assert s.inverse_targets(np.array([[[3.0]]])).tolist() == [[[5.0]]]
    s2 = Scaler.from_dict(s.to_dict())
    assert s2.transform(rows).tolist() == s.transform(rows).tolist()
