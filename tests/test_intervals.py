"""Intervals that follow drift (issue 14): adaptive conformal inference over observed windows, the
bundle's ``conformal.adaptive`` section, old bundles without it, and coverage in ``evaluate``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast_cli.errors import BundleError
from forecast_cli.intervals import (aci_bounds, aci_walk, adaptive_levels, adaptive_section, band_counts,
                                    conformal_quantile, coverage, coverage_summary, observed_windows)

from conftest import AAPL, FAST_MODEL, FAST_TRAIN, zip_bytes, zip_members


# ----------------------------------------------------------------------------- the functions (no TensorFlow)
def test_conformal_quantile_ranks_and_clips():
    s = np.arange(1.0, 20.0)  # 19 scores
    assert conformal_quantile(s, 80) == 16.0  # ceil(20 * .8) = 16
    assert conformal_quantile(s, 95) == 19.0  # ceil(20 * .95) = 19
    assert conformal_quantile(s, 120) == 19.0 and conformal_quantile(s, -5) == 1.0
    assert np.isnan(conformal_quantile([], 80))
    assert conformal_quantile([np.nan, 2.0, 1.0], 30) == 1.0  # n = 2 finite scores: rank ceil(3 * .3) = 1


def test_aci_walk_moves_the_level_by_gamma_per_observed_window():
    calib = np.arange(1.0, 20.0)
    hits = aci_walk(np.zeros(10), np.arange(10), calib, 80.0, gamma=0.02, step=1)
    assert hits.misses == 0 and hits.observed == 10
    assert hits.level == pytest.approx(80.0 - 10 * 100 * 0.02 * 0.2)  # 76.0
    assert hits.quantiles[0] == 16.0  # nothing observed yet: the split-conformal quantile
    miss = aci_walk(np.full(5, 100.0), np.arange(5), calib, 80.0, gamma=0.02, step=1)
    assert miss.quantiles[0] == 16.0 and miss.quantiles[1] == 18.0  # level 81.6 of 20: rank ceil(21 * .816)
    assert miss.misses >= 1 and miss.level > 80.0
    assert miss.calib.max() == 100.0  # observed errors join the scores: the band can grow past the holdout's


def test_aci_walk_counts_a_miss_only_once_its_truth_is_known():
    calib = np.arange(1.0, 20.0)
    # step 3: window j's truth is known at row j + 3, so windows 0..2 see no observation at all
    w = aci_walk(np.full(6, 100.0), np.arange(6), calib, 80.0, gamma=0.05, step=3, until=5)
    assert w.quantiles[:3].tolist() == [16.0, 16.0, 16.0]
    assert w.observed == 3  # windows 0, 1, 2 (known by rows 3, 4, 5); 3, 4, 5 not yet
    nan = aci_walk(np.array([np.nan, np.nan]), np.arange(2), calib, 80.0, step=1)
    assert nan.observed == 0 and nan.level == 80.0  # an unknown truth (a gap) is never observed


def test_aci_bounds_without_observed_windows_equal_split_conformal():
    from forecast_cli.forecasting import conformal_bounds

    rng = np.random.default_rng(0)
    calib = rng.normal(size=(3, 2, 40))
    split = conformal_bounds(calib, [80, 95])
    ada = aci_bounds(calib, [80, 95], np.empty((0, 3, 2)), [])
    for lv in (80, 95):
        np.testing.assert_allclose(ada[lv][0], split[lv][0])
        np.testing.assert_allclose(ada[lv][1], split[lv][1])


def test_adaptive_levels_widen_after_a_level_shift_and_cover_it():
    """Errors three times the held-out ones after training: the walk's bands catch up and cover ~80 %."""
    rng = np.random.default_rng(1)
    calib = np.abs(rng.normal(size=(1, 1, 200)))
    err = 3 * rng.normal(size=(600, 1, 1))
    walk = aci_walk(np.abs(err[:, 0, 0]), np.arange(600), calib[0, 0], 80.0, step=1)
    late = np.abs(err[300:, 0, 0]) <= walk.quantiles[300:]
    assert 0.75 <= late.mean() <= 0.85
    split = conformal_quantile(calib[0, 0], 80)
    assert (np.abs(err[:, 0, 0]) <= split).mean() < 0.45  # what today's bands covered
    level, half = adaptive_levels(err, calib, np.arange(600), [80])[80]
    assert half[0, 0] > 2.5 * split


def test_observed_windows_after_training_with_a_gap():
    st = pd.date_range("2024-01-01", periods=12, freq="D").to_numpy()
    v = np.arange(12.0)[:, None]
    v[9] = np.nan  # a gap: windows whose input holds it, or whose first target is it, are left out
    org, rows = observed_windows(st, v, 3, 2, st[4])  # the training data ended at row 4
    assert org.tolist() == [4, 5, 6, 7]
    assert rows.tolist() == [[5, 6], [6, 7], [7, 8], [8, 9]]
    org, rows = observed_windows(st, np.zeros((12, 1)), 3, 2, st[4], limit=2)
    assert org.tolist() == [9, 10] and rows[-1].tolist() == [11, -1]


def test_coverage_and_band_counts_by_step():
    assert coverage([0.0, 2.0], [-1.0, -1.0], [1.0, 1.0]) == (50.0, 2.0)
    calib = np.ones((2, 1, 9))  # half-width 1 at both levels
    y = np.array([[[0.5], [5.0]], [[0.0], [0.2]]])  # step 2 misses once
    counts = band_counts(calib, y, np.zeros_like(y), [0, 1], [80, 95], gamma=0)
    s = coverage_summary(counts, by_step=True)
    assert s["80"]["coverage"] == 75.0 and s["80"]["width"] == 2.0
    assert [st["coverage"] for st in s["95"]["by_step"]] == [100.0, 50.0]
    assert "by_step" not in coverage_summary(counts)["80"]


# ----------------------------------------------------------------------------- bundles
def _frame(n: int) -> pd.DataFrame:
    t = np.arange(n)
    y = 10 + np.sin(2 * np.pi * t / 7) + np.random.default_rng(0).normal(0, 0.1, n)
    return pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="D"), "y": y})


@pytest.fixture(scope="module")
def later_aapl(tmp_path_factory):
    """AAPL.csv's Date and Close, then 60 business days after it on which the price climbs and swings
    more than it did: the drift the session bundle (trained on AAPL.csv) never saw."""
    df = pd.read_csv(AAPL, usecols=["Date", "Close"])
    rng = np.random.default_rng(3)
    days = pd.bdate_range(pd.Timestamp(df["Date"].iloc[-1]) + pd.offsets.BDay(1), periods=60)
    close = df["Close"].iloc[-1] * np.exp(np.cumsum(0.01 + 0.04 * rng.normal(size=60)))
    more = pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "Close": close.round(4)})
    path = tmp_path_factory.mktemp("iv") / "aapl_later.csv"
    pd.concat([df, more], ignore_index=True).to_csv(path, index=False)
    return path


def _half(frame: pd.DataFrame, lv: str = "80") -> np.ndarray:
    return (frame[f"Close_upper_{lv}"] - frame["Close"]).to_numpy()


def test_bundle_round_trip_keeps_the_adaptive_section(aapl_bundle, later_aapl):
    from forecast_cli import Forecaster
    from forecast_cli.forecasting import _residuals, adaptive_bounds, conformal_bounds, load_input, predict

    m = Forecaster.inspect(aapl_bundle)
    assert m["conformal"]["adaptive"] == adaptive_section()
    split = conformal_bounds(_residuals(m), [80])[80][1][:, 0]
    same = predict(aapl_bundle, AAPL, levels=[80])  # no window after training: the split-conformal band
    np.testing.assert_allclose(_half(same.frame), split, rtol=1e-9)
    later = predict(aapl_bundle, later_aapl, levels=[80])
    assert "ACI" in later.info["interval"]["method"]
    fc = Forecaster.load(aapl_bundle)
    expect = adaptive_bounds(fc.net_, fc.manifest_, load_input(str(later_aapl), fc.manifest_), [80])[80][1][:, 0]
    np.testing.assert_allclose(_half(later.frame), expect, rtol=1e-9)
    assert (expect > split).all()  # larger errors after training: wider bands


def test_old_manifest_without_adaptive_keeps_split_conformal(aapl_bundle, later_aapl, tmp_path):
    from forecast_cli.forecasting import INTERVAL_METHOD, _residuals, conformal_bounds, predict

    files = zip_members(aapl_bundle.read_bytes())
    m = json.loads(files["manifest.json"])
    del m["conformal"]["adaptive"]
    old = tmp_path / "old.fcst"
    old.write_bytes(zip_bytes({**files, "manifest.json": json.dumps(m).encode()}))
    a, b = predict(old, later_aapl, levels=[80]), predict(aapl_bundle, later_aapl, levels=[80])
    np.testing.assert_allclose(a.frame["Close"], b.frame["Close"])
    np.testing.assert_allclose(_half(a.frame), conformal_bounds(_residuals(m), [80])[80][1][:, 0], rtol=1e-9)
    assert a.info["interval"]["method"] == INTERVAL_METHOD  # as before issue 14
    assert not np.allclose(_half(a.frame), _half(b.frame))


@pytest.mark.parametrize("bad, field", [({"method": "aci", "gamma": 2.0, "max_windows": 10}, "gamma"),
                                        ({"method": "other", "gamma": 0.1, "max_windows": 10}, "method"),
                                        ({"method": "aci", "gamma": 0.1}, "max_windows")])
def test_schema_checks_the_adaptive_section(aapl_bundle, tmp_path, bad, field):
    from forecast_cli.bundle import verify

    files = zip_members(aapl_bundle.read_bytes())
    m = json.loads(files["manifest.json"])
    m["conformal"]["adaptive"] = bad
    p = tmp_path / "bad.fcst"
    p.write_bytes(zip_bytes({**files, "manifest.json": json.dumps(m).encode()}))
    with pytest.raises(BundleError, match=f"conformal.adaptive.{field}"):
        verify(p)


# ----------------------------------------------------------------------------- evaluate
def test_evaluate_reports_coverage_per_level_and_step():
    from forecast_cli import Forecaster

    fc = Forecaster(lookback=14, horizon=3, seed=0, **{**FAST_MODEL, **FAST_TRAIN, "epochs": 1})
    r = fc.cross_validate(_frame(160), id_col=None, folds=2, by_step=True).attrs["metrics"]
    levels = r["intervals"]["levels"]
    assert set(levels) == {"80", "95"}
    for lv in ("80", "95"):
        assert 0.0 <= levels[lv]["coverage"] <= 100.0 and levels[lv]["width"] > 0
        assert len(levels[lv]["by_step"]) == 3
    assert levels["95"]["width"] >= levels["80"]["width"]
    assert all(set(f["intervals"]) == {"80", "95"} for f in r["folds"])
    n_cells = sum(f["n_test_windows"] for f in r["folds"]) * 3
    hits = sum(f["intervals"]["80"]["coverage"] * f["n_test_windows"] * 3 / 100 for f in r["folds"])
    assert levels["80"]["coverage"] == pytest.approx(100 * hits / n_cells, abs=0.01)  # pooled over folds
    from rich.console import Console

    from forecast_cli.report import _coverage_table

    con = Console(record=True, width=140)
    con.print(_coverage_table(levels, by_step=True))
    text = con.export_text()
    assert "80% covers" in text and "95% width" in text and "h=3" in text
    row = next(line for line in text.splitlines() if line.startswith("│ all"))
    assert f"{levels['80']['coverage']:.1f}%" in row and f"{levels['95']['coverage']:.1f}%" in row



def test_score_adapts_the_level_as_predict_does(aapl_bundle, later_aapl, tmp_path):
    """An input that runs past the training data: score's bands are predict's (ACI over its later
    rows); the training file itself keeps the split-conformal bands in both."""
    from forecast_cli.forecasting import predict
    from forecast_cli.scoring import score

    summary = score(aapl_bundle, [str(later_aapl), AAPL], tmp_path / "out", levels=(80, 95))
    assert summary["n_ok"] == 2
    for src in (later_aapl, AAPL):
        scored = pd.read_csv(tmp_path / "out" / f"{Path(src).stem}.forecast.csv")
        want = predict(aapl_bundle, str(src), levels=[80, 95]).frame
        for lv in ("80", "95"):
            np.testing.assert_allclose(_half(scored, lv), _half(want, lv), rtol=1e-6)
