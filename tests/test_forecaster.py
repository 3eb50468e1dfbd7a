"""The library API: Forecaster on many series, cross-validation by common cutoffs, bundles."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast_cli.errors import ConfigError
from forecast_cli.panel_cv import cross_validate_panel, fold_origins, make_cutoffs

FAST = dict(lookback=48, horizon=12, epochs=4, units=8, seed=0, linear_fit="lstsq", patch=12)


def _three_series(n=360, seed=0) -> pd.DataFrame:
    """Three hourly series with known patterns: a daily cycle, a bigger one on a higher level, a
    cycle on a trend; a little noise so that no scale is zero."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    day = np.sin(2 * np.pi * t / 24)
    ys = {"flat": 10 + day, "big": 500 + 40 * day, "trend": 50 + 0.05 * t + 3 * day}
    ds = pd.date_range("2024-01-01", periods=n, freq="h")
    return pd.concat([pd.DataFrame({"unique_id": k, "ds": ds, "y": v + rng.normal(0, 0.02 * np.std(v), n)})
                      for k, v in ys.items()], ignore_index=True)


@pytest.fixture(scope="module")
def three():
    return _three_series()


@pytest.fixture(scope="module")
def fitted(three):
    from forecast_cli import Forecaster

    fc = Forecaster(**FAST)
    result = fc.fit_holdout(three, holdout=48)
    return fc, result


def test_global_model_beats_naive_on_each_series(three):
    from forecast_cli import Forecaster

    fc = Forecaster(**FAST)
    cv = fc.cross_validate(three, folds=2)
    m = cv.attrs["metrics"]
    assert list(cv.columns) == ["unique_id", "fold", "cutoff", "ds", "y", "model", "naive", "seasonal_naive",
                                "linear", "ets"]
    assert len(cv) == 3 * 2 * 12 and not cv.isna().any().any()
    b = m["verdict"]["beats"]["naive"]
    assert b["point"] == {"wins": 3, "ties": 0, "losses": 0}  # every series' mean MASE below naive's
    # 2 folds x 1 window a series: a t test with 1 df; 2 wins are significant, 1 is not
    assert (b["wins"], b["ties"], b["losses"], b["too_few"]) == (2, 1, 0, 0)
    for sid in ("flat", "big", "trend"):
        assert m["series"][sid]["model"]["mase"] < 0.5 * m["series"][sid]["naive"]["mase"]
    # the headline is the mean over series of the scale-free measures
    assert m["mean"]["model"]["mase"] == pytest.approx(np.mean([m["series"][s]["model"]["mase"] for s in m["series"]]))


def test_cutoffs_are_common_and_ordered():
    idx = pd.date_range("2024-01-01", periods=100, freq="D")
    cuts = make_cutoffs([idx, idx[10:90]], horizon=5, folds=3)
    assert [c.cutoff for c in cuts] == [idx[84], idx[89], idx[94]]
    assert all(c.end == c.cutoff + pd.Timedelta(days=5) for c in cuts)
    with pytest.raises(ConfigError, match="--test-size"):
        make_cutoffs([idx], horizon=5, test_size=3)


class _Spy:
    """A many-series forecaster that records what it was trained on and forecasts the last value."""

    name = "model"
    seen: list = []

    def fit(self, series, origins, keys=None):
        _Spy.seen.append([np.asarray(o) for o in origins])
        return self

    def predict(self, series, origins, keys=None):
        return [np.repeat(np.asarray(s)[np.asarray(o), None, :1], 6, axis=1) for s, o in zip(series, origins)]


def test_no_training_target_reaches_a_test_row_in_any_series():
    """Series of different spans; with rolling origins in each span, every training window's last
    target is at or before its fold's cutoff, and every test target after it, in every series."""
    L, H = 10, 6
    full = pd.date_range("2024-01-01", periods=200, freq="D")
    indexes = [full, full[30:], full[:170]]
    values = [np.arange(len(ix), dtype=float)[:, None] for ix in indexes]
    _Spy.seen = []
    frame, result = cross_validate_panel(["a", "b", "c"], indexes, values, lookback=L, horizon=H, season=7,
                                         make_model=_Spy, make_baselines=lambda: [], folds=3, test_size=12)
    cuts = make_cutoffs(indexes, H, 3, 12)
    assert len(_Spy.seen) == 3
    for cut, origins in zip(cuts, _Spy.seen):
        for ix, o in zip(indexes, origins):
            if len(o):
                assert ix[o.max() + H] <= cut.cutoff
        got = frame[frame.fold == cut.index]
        assert (got.ds > cut.cutoff).all() and (got.ds <= cut.end).all()
        assert (pd.to_datetime(got.cutoff) >= cut.cutoff).all()
    # the series that ends before the last span has no test rows there, and is not invented
    assert not ((frame.unique_id == "c") & (frame.fold == 3)).any()
    # origins straddling a cutoff are never in both sets
    for ix, v in zip(indexes, values):
        tr, te = fold_origins(ix, v, cuts[0], L, H)
        assert not set(tr) & set(te)


def test_fit_holdout_predict_with_intervals(fitted, three):
    fc, result = fitted
    assert result["holdout_steps"] == 48 and result["verdict"]["series"] == 3
    p = fc.predict(level=[80, 95])
    assert list(p.columns) == ["unique_id", "ds", "model", "model-lo-80", "model-hi-80", "model-lo-95", "model-hi-95",
                               "short_history"]
    assert len(p) == 36 and np.isfinite(p.select_dtypes(float).to_numpy()).all()
    assert (p["model-lo-95"] <= p["model-lo-80"]).all() and (p["model-lo-80"] <= p["model"]).all()
    assert (p["model"] <= p["model-hi-80"]).all() and (p["model-hi-80"] <= p["model-hi-95"]).all()
    last = three.groupby("unique_id").ds.max()
    first = p.groupby("unique_id").ds.min()
    assert (first == last + pd.Timedelta(hours=1)).all()
    assert not p.short_history.any()
    assert len(fc.predict(h=3)) == 9
    with pytest.raises(ConfigError, match=r"h must be an int in \[1, 12\]"):
        fc.predict(h=13)


def test_unseen_and_short_series_get_forecasts(fitted, three):
    fc, _ = fitted
    big = three[three.unique_id == "big"]
    new = pd.concat([big.assign(unique_id="listed_last_month").iloc[-20:], big.assign(unique_id="other")])
    p = fc.predict(df=new)
    short = p[p.unique_id == "listed_last_month"]
    assert short.short_history.all() and not p[p.unique_id == "other"].short_history.any()
    assert np.isfinite(p.model).all()
    # an unseen series with the history of a training one gets that one's forecast: no state per id
    np.testing.assert_allclose(p[p.unique_id == "other"].model.to_numpy(),
                               fc.predict().query("unique_id == 'big'").model.to_numpy(), rtol=1e-6)


def test_save_load_round_trip(fitted, tmp_path):
    from forecast_cli import Forecaster
    from forecast_cli.bundle import read_manifest

    fc, _ = fitted
    path = tmp_path / "many.fcst"
    fc.save(path)
    m = read_manifest(path)
    assert m["panel"]["state"]["keys"] == ["big", "flat", "trend"] and m["panel"]["id_col"] == "unique_id"
    again = Forecaster.load(path)
    a, b = fc.predict(level=[80]), again.predict(level=[80])
    pd.testing.assert_frame_equal(a, b, rtol=1e-7)


def test_settings_checked_at_fit_not_before(three):
    from forecast_cli import Forecaster

    fc = Forecaster(lookbak=48)  # stored as given, as scikit-learn does
    assert fc.get_params() == {"lookbak": 48}
    with pytest.raises(ConfigError, match="did you mean 'lookback'"):
        fc.fit(three)
    with pytest.raises(ConfigError, match="not fitted"):
        Forecaster().predict()
    with pytest.raises(ConfigError, match="must be a pandas DataFrame"):
        Forecaster(**FAST).fit([1, 2, 3])


def test_every_setting_is_checked_at_fit(three):
    from forecast_cli import Forecaster

    for bad, msg in (({"max_gap": -1}, "--max-gap"), ({"season": 0}, "--season"), ({"units": 0}, "--units")):
        with pytest.raises(ConfigError, match=msg):
            Forecaster(**{**FAST, **bad}).fit(three)


# ----------------------------------------------------------------------------- one series
ONE = dict(lookback=24, horizon=6, epochs=2, units=4, seed=0, patience=2)


def _one_series(n=300) -> pd.DataFrame:
    t = np.arange(n)
    y = 20 + 3 * np.sin(2 * np.pi * t / 24) + 0.02 * t + 0.1 * np.cos(7 * t)
    return pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y, "x": np.cos(t / 5.0)})


def test_one_series_cross_validation_is_the_commands(tmp_path):
    """A DataFrame of one series (id_col=None) and the same data as a file through `forecast evaluate`
    give the same numbers: the command is a shell over the Forecaster."""
    from forecast_cli import Forecaster, api
    from forecast_cli.config import split_settings

    df = _one_series()
    path = tmp_path / "one.csv"
    df.to_csv(path, index=False)
    frame = Forecaster(**ONE).cross_validate(df, id_col=None, folds=2)
    lib = frame.attrs["metrics"]
    data, window, model, train = split_settings(**ONE, target="y", date_col="ds")
    cli = api.evaluate(str(path), data, window, model, train, folds=2, predictions_path=tmp_path / "p.csv")
    assert lib["summary"]["model"]["rmse"]["mean"] == pytest.approx(cli["summary"]["model"]["rmse"]["mean"], rel=1e-9)
    assert lib["summary"]["naive"]["mae"]["mean"] == pytest.approx(cli["summary"]["naive"]["mae"]["mean"], rel=1e-12)
    assert lib["season"] == 24 and cli["settings"]["season"] == 24
    # the frame: every test forecast, Nixtla's names; the file: the same rows under the command's names
    assert list(frame.columns[:6]) == ["fold", "cutoff", "ds", "step", "target", "y"]
    assert {"model", "naive", "seasonal_naive", "linear"} <= set(frame.columns)
    assert (frame["ds"] > frame["cutoff"]).all() and frame["step"].between(1, 6).all()
    written = pd.read_csv(tmp_path / "p.csv")
    assert list(written.columns[:6]) == ["fold", "origin", "timestamp", "step", "target", "actual"]
    assert len(written) == len(frame)
    np.testing.assert_allclose(written["actual"], frame["y"])
    np.testing.assert_allclose(written["model"], frame["model"], rtol=1e-6)


def test_one_series_fit_holdout_save_load_predict(tmp_path):
    from forecast_cli import Forecaster
    from forecast_cli.forecasting import predict as cli_predict

    df = _one_series()
    fc = Forecaster(**ONE)
    info = fc.fit_holdout(df, id_col=None, holdout=48)
    assert info["holdout_rows"] == [252, 300] and set(info["metrics"]) >= {"model", "naive"}
    out = fc.predict(level=[80])
    assert list(out.columns) == ["ds", "model", "model-lo-80", "model-hi-80"]
    assert len(out) == 6 and out["ds"].iloc[0] == pd.Timestamp("2024-01-13 12:00")
    assert (out["model-lo-80"] < out["model"]).all() and (out["model"] < out["model-hi-80"]).all()
    fc.save(tmp_path / "one.fcst")
    back = Forecaster.load(tmp_path / "one.fcst")
    with pytest.raises(ConfigError, match="pass its history as df"):
        back.predict()
    again = back.predict(df=df, level=[80])
    np.testing.assert_allclose(again["model"], out["model"], rtol=1e-5)
    np.testing.assert_allclose(again["model-hi-80"], out["model-hi-80"], rtol=1e-5)
    # `forecast predict` on the same history as a file: the same numbers under the command's columns
    df.to_csv(tmp_path / "one.csv", index=False)
    table = cli_predict(tmp_path / "one.fcst", str(tmp_path / "one.csv"), levels=(80,)).frame
    assert list(table.columns) == ["timestamp", "y", "y_lower_80", "y_upper_80", "step"]
    np.testing.assert_allclose(table["y"], out["model"], rtol=1e-5)


def test_one_series_refusals():
    from forecast_cli import Forecaster

    df = _one_series()
    fc = Forecaster(**ONE).fit(df, id_col=None)
    with pytest.raises(ConfigError, match="need held-out residuals"):
        fc.predict(level=[80])  # fit() holds nothing out: no intervals, never NaN ones
    assert fc.predict(h=2)["model"].notna().all()
    with pytest.raises(ConfigError, match="--local applies to many series"):
        Forecaster(**ONE, local=True).fit(df, id_col=None)
    with pytest.raises(ConfigError, match="--cv sliding applies to one series"):
        Forecaster(**ONE).cross_validate(df.assign(unique_id="a"), cv="sliding")


def test_one_series_with_two_targets_is_long_by_target():
    from forecast_cli import Forecaster

    fc = Forecaster(**ONE).fit(_one_series(), id_col=None, target=["y", "x"])
    out = fc.predict(h=3)
    assert list(out.columns) == ["target", "ds", "model"]
    assert out["target"].tolist() == ["y"] * 3 + ["x"] * 3


def test_refit_keeps_the_holdout_residuals_and_says_which_rows_the_weights_saw(tmp_path):
    from forecast_cli import Forecaster
    from forecast_cli.bundle import read_manifest

    df = _one_series()
    # the network trained with Adam: the closed-form ridge (linear_fit auto's choice from 100 windows) on a clean
    # periodic series gives forecasts equal to 1e-6 from 252 or 300 rows, too close to tell the weights apart
    once, again = Forecaster(**ONE, linear_fit="adam"), Forecaster(**ONE, linear_fit="adam")
    info = once.fit_holdout(df, id_col=None, holdout=48)
    info_refit = again.fit_holdout(df, id_col=None, holdout=48, refit=True)
    assert info["weights"] == {"rows": [0, 252], "period": ["2024-01-01 00:00:00", "2024-01-11 11:00:00"],
                               "refit": False}
    assert info_refit["weights"]["rows"] == [0, 300] and info_refit["weights"]["refit"] is True
    # the intervals come from the same holdout either way; the point forecasts from different weights
    np.testing.assert_array_equal(once.residuals_, again.residuals_)
    assert info["metrics"]["model"] == info_refit["metrics"]["model"]
    assert not np.allclose(once.predict()["model"], again.predict()["model"])
    again.save(tmp_path / "r.fcst")
    assert read_manifest(tmp_path / "r.fcst")["weights"]["rows"] == [0, 300]


def test_refit_on_many_series_fits_up_to_the_last_row(three):
    from forecast_cli import Forecaster

    fc = Forecaster(**FAST)
    result = fc.fit_holdout(three, holdout=48, refit=True)
    assert result["weights"] == {"period": ["2024-01-01 00:00:00", "2024-01-15 23:00:00"], "refit": True}
    assert fc.residuals_.shape[0] == 12 and fc.residuals_.shape[2] > 0


def test_one_series_predict_takes_a_history_with_an_early_long_gap():
    """As `forecast predict` reads new input: a long gap far from the end does not stop a forecast."""
    from forecast_cli import Forecaster

    df = _one_series()
    fc = Forecaster(**ONE).fit(df, id_col=None)
    gappy = df.copy()
    gappy.loc[50:60, "y"] = np.nan  # 11 missing steps, more than --max-gap, long before the last window
    np.testing.assert_allclose(fc.predict(df=gappy)["model"], fc.predict(df=df)["model"], rtol=1e-6)
