"""The statistical peer beside the model: AutoETS (statsforecast) in evaluate and train."""
from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import FAST_CLI, write_series
from forecast_cli.baselines import make_baselines, make_panel_baselines
from forecast_cli.cli import app
from forecast_cli.stat_baselines import INSTALL, MAX_FIT_VALUES, AutoETSBaseline, stat_baselines, stats_missing

needs_stats = pytest.mark.skipif(stats_missing(), reason="the stats extra (statsforecast) is not installed")
runner = CliRunner()
L, H, M = 14, 3, 7


def _series(n=220, seed=0):
    """A positive series with a trend, a weekly season and noise."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return (50 + 0.1 * t + 4 * np.sin(2 * np.pi * t / M) + rng.normal(0, 0.5, n))[:, None]


def _no_statsforecast(monkeypatch):
    """statsforecast as if it were not installed."""
    for name in [m for m in sys.modules if m == "statsforecast" or m.startswith("statsforecast.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "statsforecast", None)


# ---------------------------------------------------------------------------- the baseline itself
@needs_stats
def test_it_never_sees_test_rows():
    y = _series()
    train_origins = np.arange(L - 1, 150 - H)  # training rows [0, 150)
    test_origins = np.arange(149, 220 - H)
    base = AutoETSBaseline(L, H, 1, M).fit(y, train_origins)
    before = base.predict(y, test_origins)
    spiked = y.copy()
    spiked[180:, 0] += 100.0  # the test rows from 180 on
    again = AutoETSBaseline(L, H, 1, M).fit(spiked, train_origins)
    assert again.methods_ == base.methods_
    np.testing.assert_array_equal(again.models_[0]["par"], base.models_[0]["par"])  # parameters: training rows only
    after = again.predict(spiked, test_origins)
    early = test_origins < 180  # forecasts from an origin before the spike read no spiked row
    np.testing.assert_array_equal(after[early], before[early])
    assert np.abs(after[~early] - before[~early]).min() > 1.0  # and the later ones are updated through it
    assert before.shape == (len(test_origins), H, 1) and np.isfinite(before).all()


@needs_stats
def test_forecasts_are_statsforecast_forward_from_each_origin_without_refitting():
    from statsforecast.models import AutoETS

    y = _series()
    base = AutoETSBaseline(L, H, 1, M).fit(y, np.arange(L - 1, 150 - H))
    ref = AutoETS(season_length=M).fit(y[:150, 0])
    origins = np.array([149, 160, 200, 216])
    got = base.predict(y, origins)[:, :, 0]
    want = np.array([ref.forward(y[:o + 1, 0], h=H)["mean"] for o in origins])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert base.methods_[0].startswith("ETS(") and base.methods_[0] == ref.model_["method"]


@needs_stats
def test_one_model_per_target_and_missing_rows_are_forecast_not_observed():
    y = np.hstack([_series(), _series(seed=1)[::-1] * 2])
    base = AutoETSBaseline(L, H, 2, M).fit(y, np.arange(L - 1, 150 - H))
    assert len(base.models_) == 2
    gap = y.copy()
    gap[170:176, :] = np.nan  # a long gap kept by --gaps skip, in the test span
    origins = np.array([160, 169, 180, 200])
    full, holed = base.predict(y, origins), base.predict(gap, origins)
    assert np.isfinite(holed).all()
    np.testing.assert_array_equal(holed[:2], full[:2])
    np.testing.assert_allclose(holed[:, :, 0], AutoETSBaseline(L, H, 1, M).fit(y[:, :1], np.arange(L - 1, 147))
                               .predict(gap[:, :1], origins)[:, :, 0])


@needs_stats
def test_panel_runs_it_on_each_series_even_one_without_training_windows():
    series = [_series(), _series(80, seed=2)]
    names = [b.name for b in make_panel_baselines(L, H, 1, M, stat=True, n_rows=[220, 80])]
    assert names == ["naive", "seasonal_naive", "linear", "ets"]
    ets = make_panel_baselines(L, H, 1, M, stat=True)[-1].fit(series, [np.arange(L - 1, 147), np.array([], int)])
    preds = ets.predict(series, [np.array([160, 200]), np.array([70])])
    assert [p.shape for p in preds] == [(2, H, 1), (1, H, 1)] and all(np.isfinite(p).all() for p in preds)


# ---------------------------------------------------------------------------- when it is left out
def test_missing_extra_is_skipped_with_one_note_saying_how_to_install(monkeypatch):
    _no_statsforecast(monkeypatch)
    assert stats_missing()
    notes: list = []
    for _ in range(3):  # once per fold: one note
        names = [b.name for b in make_baselines(L, H, 1, M, stat=True, n_rows=220, notes=notes)]
        assert names == ["naive", "seasonal_naive", "linear"]
    assert notes == [f"AutoETS baseline skipped: statsforecast is not installed; {INSTALL} (or --no-stat-baseline)"]
    assert [b.name for b in make_baselines(L, H, 1, M)] == ["naive", "seasonal_naive", "linear"]  # off by default


def test_too_many_rows_to_fit_is_skipped_with_a_note():
    notes: list = []
    assert stat_baselines(L, H, 11, M, n_rows=9357, notes=notes) == []  # 11 targets x 5,000 rows
    assert notes == [f"AutoETS baseline skipped: 55,000 rows to fit per fold (over targets, 5,000 at most each), "
                     f"more than {MAX_FIT_VALUES:,}, where its fits take longer than the network's"]
    assert stat_baselines(L, H, 1, M, n_rows=[9357] * 11) == []
    assert stat_baselines(L, H, 1, M, n_rows=[9357] * 10, notes=notes) != [] or stats_missing()


# ---------------------------------------------------------------------------- evaluate and train
FAST = [a for a in FAST_CLI if a != "--no-stat-baseline"]  # should the suite's fast settings turn it off
TINY = ["--lookback", str(L), "--horizon", str(H), "--folds", "1", "--test-size", "40", *FAST]


@pytest.fixture(scope="module")
def weekly_csv(tmp_path_factory):
    return write_series(tmp_path_factory.mktemp("stat") / "weekly.csv", _series()[:, 0])


@needs_stats
def test_evaluate_has_it_in_the_table_and_the_json(weekly_csv):
    from rich.console import Console

    from forecast_cli.report import render_evaluation

    r = runner.invoke(app, ["evaluate", str(weekly_csv), "--target", "y", *TINY, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["settings"]["train"]["stat_baseline"] is True and "notes" not in out
    assert list(out["summary"]) == ["model", "naive", "seasonal_naive", "linear", "ets"]
    assert all(np.isfinite(f["metrics"]["ets"]["rmse"]) for f in out["folds"])
    assert "ets" in out["verdict"]["vs"]
    # the best baseline is chosen among all of them, AutoETS included
    means = {k: v["rmse"]["mean"] for k, v in out["summary"].items() if k != "model"}
    assert out["verdict"]["baseline"] == min(means, key=means.get)
    console = Console(file=io.StringIO(), width=140, color_system=None)
    render_evaluation(console, out)
    assert "AutoETS" in console.file.getvalue()


def test_no_stat_baseline_removes_it(weekly_csv):
    r = runner.invoke(app, ["evaluate", str(weekly_csv), "--target", "y", *TINY, "--no-stat-baseline", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["settings"]["train"]["stat_baseline"] is False and "notes" not in out
    assert list(out["summary"]) == ["model", "naive", "seasonal_naive", "linear"] and "ets" not in out["verdict"]["vs"]


def test_train_without_the_extra_says_so_in_json_and_on_stderr(weekly_csv, tmp_path, monkeypatch):
    _no_statsforecast(monkeypatch)
    r = runner.invoke(app, ["train", str(weekly_csv), "--target", "y", "--lookback", str(L), "--horizon", str(H),
                            *FAST, "-o", str(tmp_path / "m.fcst"), "--json"])
    assert r.exit_code == 0, r.output
    hold = json.loads(r.stdout)["holdout"]
    assert "ets" not in hold["metrics"] and len(hold["notes"]) == 1 and INSTALL in hold["notes"][0]
    assert INSTALL in r.stderr
