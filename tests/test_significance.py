"""The Diebold-Mariano test (HLN-corrected): hand-worked values, an independent reference,
ties, degenerate cases, and the horizon-aware variance."""
import math

import numpy as np
import pytest
from scipy import stats

from forecast_cli.errors import DataError
from forecast_cli.significance import (BEAT, TIE, TOO_FEW, WORSE, compare, dm_test, overlap_lag,
                                       window_losses)


def _reference(a, b, h):
    """DM + HLN written the long way, from the papers' formulas, with scipy.stats' t."""
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    gamma = [sum((d[t] - mean) * (d[t - k] - mean) for t in range(k, n)) / n for k in range(h)]
    v = gamma[0] + 2 * sum(gamma[1:])
    dm = mean / math.sqrt(v / n)
    stat = dm * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return stat, 2 * stats.t.sf(abs(stat), n - 1)


def test_hand_worked_value_h1():
    # d = [1, -1, 2, 0, 3]: mean 1, γ0 = 10/5 = 2, DM = 1 / sqrt(2/5); HLN sqrt(4/5) -> sqrt(2)
    r = dm_test([2.0, 0.0, 3.0, 1.0, 4.0], [1.0] * 5, h=1)
    assert r["statistic"] == pytest.approx(math.sqrt(2), rel=1e-12)
    assert r["p_value"] == pytest.approx(0.23019964108049884, rel=1e-9)  # 2 P(t_4 > sqrt 2)
    assert (r["n"], r["h"], r["mean_difference"], r["result"]) == (5, 1, 1.0, TIE)


def test_hand_worked_value_h2_uses_the_lag_one_autocovariance():
    # d = [3, 1, 2, 0, -1, 1]: γ0 = 10/6, γ1 = 1/6, V = 2, DM = √3; HLN √5/3 -> √15/3
    r = dm_test([3.0, 1.0, 2.0, 0.0, -1.0, 1.0], [0.0] * 6, h=2)
    assert r["statistic"] == pytest.approx(math.sqrt(15) / 3, rel=1e-12)
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(math.sqrt(15) / 3, 5), rel=1e-12)
    # h = 1 on the same numbers ignores γ1: V = 10/6, a different statistic
    assert dm_test([3.0, 1.0, 2.0, 0.0, -1.0, 1.0], [0.0] * 6, h=1)["statistic"] == pytest.approx(
        1 / math.sqrt(10 / 36) * math.sqrt(5 / 6), rel=1e-12)


@pytest.mark.parametrize("h", [1, 2, 3, 5])
def test_matches_the_reference_on_random_losses(h):
    rng = np.random.default_rng(h)
    a, b = rng.gamma(2.0, size=60), rng.gamma(2.1, size=60)
    stat, p = _reference(a.tolist(), b.tolist(), h)
    r = dm_test(a, b, h=h)
    if r["h"] == h:  # (a non-positive variance falls back to h = 1, tested below)
        assert r["statistic"] == pytest.approx(stat, rel=1e-10)
        assert r["p_value"] == pytest.approx(p, rel=1e-10)
    # swapping the forecasters flips the sign, not the p-value
    s = dm_test(b, a, h=h)
    assert s["statistic"] == pytest.approx(-r["statistic"]) and s["p_value"] == pytest.approx(r["p_value"])


def test_sign_and_words():
    rng = np.random.default_rng(1)
    base = rng.gamma(2.0, size=100)
    better = 0.5 * base
    assert dm_test(better, base)["result"] == BEAT
    assert dm_test(base, better)["result"] == WORSE
    r = dm_test(better, base)
    assert r["statistic"] < 0 and r["p_value"] < 1e-6


def test_a_hair_of_noise_is_a_tie_not_a_win():
    """2.247 vs 2.248: the mean losses differ in the fourth digit, the windows disagree both ways."""
    rng = np.random.default_rng(7)
    base = rng.gamma(4.0, 0.56, size=300)          # mean about 2
    model = base + rng.normal(0, 0.3, size=300)    # the same forecasts give or take noise
    model += (base.mean() - 0.001) - model.mean()  # 0.001 lower on average
    assert model.mean() < base.mean()
    r = dm_test(model, base, h=1)
    assert r["result"] == TIE and r["p_value"] > 0.5


def test_identical_forecasts_are_no_difference_with_p_one():
    a = np.array([1.0, 2.0, 0.5, 3.0])
    r = dm_test(a, a.copy(), h=2)
    assert (r["result"], r["p_value"], r["statistic"]) == (TIE, 1.0, 0.0)
    assert "identical" in r["note"]


def test_the_same_difference_in_every_window_is_decisive_without_a_statistic():
    a = np.array([1.0, 2.0, 0.5, 3.0])
    r = dm_test(a, a + 1.0)
    assert (r["result"], r["p_value"], r["statistic"]) == (BEAT, 0.0, None)
    assert dm_test(a + 1.0, a)["result"] == WORSE


@pytest.mark.parametrize("n,h", [(0, 1), (1, 1), (3, 2), (9, 5)])
def test_too_few_windows_gives_no_p_value(n, h):
    r = dm_test(np.arange(n, dtype=float), np.arange(n, dtype=float) + np.linspace(0, 1, n), h=h)
    assert r["result"] == TOO_FEW and r["p_value"] is None and r["statistic"] is None
    assert r["n"] == n
    assert dm_test(np.arange(2 * h, dtype=float), np.zeros(2 * h), h=h)["result"] != TOO_FEW  # n = 2h is enough


def test_a_non_positive_long_run_variance_falls_back_to_h1():
    # alternating differences: γ1 < 0 and V = γ0 + 2γ1 <= 0
    d = np.array([1.0, -1.0] * 6) + 0.1
    r = dm_test(d, np.zeros_like(d), h=2)
    assert r["h"] == 1 and "not positive" in r["note"]
    assert r["statistic"] == pytest.approx(dm_test(d, np.zeros_like(d), h=1)["statistic"])


def test_bad_input_is_refused():
    with pytest.raises(DataError, match="3 and 2 window losses"):
        dm_test([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(DataError, match="not finite"):
        dm_test([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])


def test_horizon_aware_variance_keeps_the_size_near_nominal():
    """Overlapping 5-step windows make the loss differences MA(4); a test that ignores it (h = 1)
    rejects a true null far too often, the horizon-aware one close to 5 %."""
    rng = np.random.default_rng(0)
    H, n, reps = 5, 200, 300
    rej = {1: 0, H: 0}
    for _ in range(reps):
        e = rng.normal(size=n + H - 1)
        d = np.convolve(e, np.ones(H), mode="valid")  # each window sums H shocks, shared with its neighbours
        for h in rej:
            rej[h] += dm_test(d, np.zeros(n), h=h)["p_value"] < 0.05
    assert rej[1] / reps > 0.3
    assert rej[H] / reps < 0.12


def test_overlap_lag_counts_windows_that_share_a_target_row():
    assert overlap_lag(range(100), 5) == 5
    assert overlap_lag(range(0, 100, 5), 5) == 1
    assert overlap_lag(range(0, 100, 2), 5) == 3   # origins 0, 2, 4 share row 5
    assert overlap_lag([10, 0, 5, 1], 3) == 2      # order does not matter
    # two folds of consecutive windows with a gap between them: the horizon still
    assert overlap_lag(list(range(10, 20)) + list(range(25, 35)), 4) == 4
    assert overlap_lag([], 3) == 1


def test_window_losses_average_steps_and_targets():
    y = np.zeros((2, 2, 2))
    p = np.array([[[1.0, 3.0], [1.0, 3.0]], [[2.0, 0.0], [0.0, 0.0]]])
    np.testing.assert_allclose(window_losses(y, p), [5.0, 1.0])                  # (1+9+1+9)/4, 4/4
    np.testing.assert_allclose(window_losses(y, p, "absolute"), [2.0, 0.5])
    np.testing.assert_allclose(window_losses(y, p, "absolute", scale=[1.0, 3.0]), [1.0, 0.5])
    # the mean of the per-window squared errors is the MSE over all windows, steps and targets
    assert window_losses(y, p).mean() == pytest.approx(np.mean((y - p) ** 2))


def test_compare_orders_windows_by_origin():
    rng = np.random.default_rng(3)
    a, b = rng.gamma(2.0, size=40), rng.gamma(2.0, size=40)
    perm = rng.permutation(40)
    sorted_r = compare(a, b, np.arange(40), horizon=3)
    shuffled = compare(a[perm], b[perm], np.arange(40)[perm], horizon=3)
    assert shuffled["statistic"] == pytest.approx(sorted_r["statistic"]) and shuffled["h"] == 3
