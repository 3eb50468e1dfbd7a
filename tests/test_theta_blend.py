"""--theta-weight: the network of many series blended with statsforecast's AutoTheta (issue 15).

The blend is ``(1 - w) * network + w * theta``, Theta fitted on each series' rows up to the forecast
origin and no further; the tests check that arithmetic against statsforecast itself, that a row
after the origin changes nothing, and where a blended model is refused (one series, batch scoring
of windows, a bundle without the histories).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.errors import ConfigError

from conftest import one_line_error

pytest.importorskip("statsforecast")
from statsforecast.models import AutoTheta  # noqa: E402

from forecast_cli.theta_blend import MIN_ROWS, ThetaBlend, blend_forecasts, theta_forecast  # noqa: E402

FAST = dict(lookback=48, horizon=12, epochs=2, units=8, seed=0, linear_fit="lstsq", patch=12, dropout=0.0)


def _theta(y, h, season):
    return AutoTheta(season_length=season).forecast(np.asarray(y, dtype=np.float64), h)["mean"]


def _quarterly(n=40, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (200 + 3 * t + 15 * np.tile([1.0, -1.0, 2.0, -2.0], n // 4 + 1)[:n] + rng.normal(0, 2, n))[:, None]


class _Zero:
    """A stand-in network that forecasts 0 everywhere: the blend is then ``w * theta`` alone."""

    def fit(self, series, origins, keys=None):
        self.fitted_ = True
        return self

    def predict(self, series, origins, keys=None):
        return [np.zeros((len(o), 4, np.asarray(s).shape[1])) for s, o in zip(series, origins)]


# ----------------------------------------------------------------------------- the blend itself
def test_each_forecast_reads_the_rows_up_to_its_origin_only():
    s = _quarterly()
    b = ThetaBlend(_Zero(), 0.25, season=4).fit([s], [np.arange(8, 19)])
    assert b.net.fitted_ and b.fitted_  # fit trains the network; its attributes show through
    p = b.predict([s], [np.array([19, 29])])[0]
    for j, o in enumerate((19, 29)):
        np.testing.assert_allclose(p[j, :, 0], 0.25 * _theta(s[:o + 1, 0], 4, 4), rtol=1e-12)
    planted = s.copy()
    planted[20:] *= 10  # a spike after the first origin moves the second forecast, never the first
    q = ThetaBlend(_Zero(), 0.25, season=4).predict([planted], [np.array([19, 29])])[0]
    np.testing.assert_array_equal(q[0], p[0])
    assert not np.allclose(q[1], p[1])


def test_the_blend_is_the_weighted_mean_and_short_histories_keep_the_networks_forecast():
    point = np.full((3, 4), 100.0)
    long, short = _quarterly()[:, 0], np.array([5.0, 6.0, 7.0])
    gap = np.concatenate([long[:30], [np.nan], long[31:34]])  # 3 rows after the gap: too few
    out, skipped = blend_forecasts(point, [long, short, gap], 0.35, season=4)
    np.testing.assert_allclose(out[0], 0.65 * 100 + 0.35 * _theta(long, 4, 4), rtol=1e-12)
    assert skipped == 2 and (out[1:] == 100.0).all()
    assert theta_forecast(short, 4, season=4) is None and MIN_ROWS == 4


# ----------------------------------------------------------------------------- through the Forecaster
@pytest.fixture(scope="module")
def three():
    from test_forecaster import _three_series

    return _three_series()


@pytest.fixture(scope="module")
def pair(three):
    """The same network fitted with and without the blend (same seed, so the same weights)."""
    from forecast_cli import Forecaster

    return Forecaster(**FAST).fit(three), Forecaster(**FAST, theta_weight=0.4).fit(three)


def test_predict_blends_theta_from_each_whole_history(pair, three):
    plain, blended = pair
    a, b = plain.predict(), blended.predict()
    assert list(a.unique_id) == list(b.unique_id) and list(a.ds) == list(b.ds)
    for sid, g in three.groupby("unique_id"):
        expected = 0.6 * a.loc[a.unique_id == sid, "model"].to_numpy() + 0.4 * _theta(g["y"].to_numpy(), 12, 24)
        np.testing.assert_allclose(b.loc[b.unique_id == sid, "model"].to_numpy(), expected, rtol=1e-6)
    # new data: the history given, not the one trained on
    shorter = three.groupby("unique_id").head(300)
    c = blended.predict(df=shorter)
    y = shorter.loc[shorter.unique_id == "trend", "y"].to_numpy()
    net = plain.predict(df=shorter)
    np.testing.assert_allclose(c.loc[c.unique_id == "trend", "model"].to_numpy(),
                               0.6 * net.loc[net.unique_id == "trend", "model"].to_numpy() + 0.4 * _theta(y, 12, 24),
                               rtol=1e-6)


def test_cross_validation_blends_theta_fitted_before_each_cutoff(three):
    from forecast_cli import Forecaster

    a = Forecaster(**FAST).cross_validate(three, folds=2)
    b = Forecaster(**FAST, theta_weight=0.4).cross_validate(three, folds=2)
    pd.testing.assert_frame_equal(a.drop(columns="model"), b.drop(columns="model"))  # baselines untouched
    for (sid, cutoff), g in b.groupby(["unique_id", "cutoff"], sort=False):
        y = three.loc[(three.unique_id == sid) & (three.ds <= cutoff), "y"].to_numpy()
        plain = a.loc[(a.unique_id == sid) & (a.cutoff == cutoff), "model"].to_numpy()
        np.testing.assert_allclose(g["model"].to_numpy(), 0.6 * plain + 0.4 * _theta(y, 12, 24), rtol=1e-6)
    notes = b.attrs["metrics"]["notes"]
    assert any("0.6 x the network + 0.4 x AutoTheta" in n for n in notes), notes


def test_a_bundle_keeps_the_weight_and_scores_whole_histories(pair, three, tmp_path):
    from forecast_cli import Forecaster
    from forecast_cli.bundle import read_manifest
    from forecast_cli.cli import app

    _, blended = pair
    path = tmp_path / "blend.fcst"
    blended.save(path)
    assert read_manifest(path)["model"]["theta_weight"] == 0.4
    again = Forecaster.load(path)
    pd.testing.assert_frame_equal(again.predict(df=three), blended.predict(), rtol=1e-7)
    with pytest.raises(ConfigError, match="pass the histories as df"):
        again.predict()
    with pytest.raises(ConfigError, match="input windows alone do not hold"):
        again.predict_windows(np.zeros((1, 48, 1)), keys=["flat"], lengths=[48])
    # batch scoring reads each input's whole history too: the same forecasts as predict, a long file and
    # a file of one series alike; a history too short for Theta keeps the network's, with a warning
    csv, one, short = tmp_path / "in.csv", tmp_path / "trend.csv", tmp_path / "tiny.csv"
    three.to_csv(csv, index=False)
    three[three.unique_id == "trend"].drop(columns="unique_id").to_csv(one, index=False)
    three[three.unique_id == "big"].drop(columns="unique_id").tail(3).to_csv(short, index=False)
    r = CliRunner().invoke(app, ["score", str(path), str(csv), str(one), str(short), "-o", str(tmp_path / "out"),
                                 "--id-col", "unique_id"])
    assert r.exit_code == 0, r.output
    want = blended.predict()
    got = pd.read_csv(tmp_path / "out" / "in.forecast.csv")
    for sid in ("big", "flat", "trend"):
        np.testing.assert_allclose(got.loc[got.unique_id == sid, "y"].to_numpy(),
                                   want.loc[want.unique_id == sid, "model"].to_numpy(), rtol=1e-6)
    alone = pd.read_csv(tmp_path / "out" / "trend.forecast.csv")["y"].to_numpy()
    np.testing.assert_allclose(alone, want.loc[want.unique_id == "trend", "model"].to_numpy(), rtol=1e-6)
    assert "1 series forecast by the network alone: AutoTheta could not be fitted" in r.stderr
    net = pair[0].predict(df=three[three.unique_id == "big"].tail(3).assign(unique_id="tiny"))["model"].to_numpy()
    tiny = pd.read_csv(tmp_path / "out" / "tiny.forecast.csv")["y"].to_numpy()
    np.testing.assert_allclose(tiny, net, rtol=1e-6)  # the network alone (the plain fit has the same weights)


def test_refusals(pair, three, monkeypatch, tmp_path):
    from forecast_cli import Forecaster
    from forecast_cli.cli import app

    one = three[three.unique_id == "flat"].drop(columns="unique_id")
    with pytest.raises(ConfigError, match="--theta-weight applies to many series"):
        Forecaster(**FAST, theta_weight=0.3).fit(one, id_col=None)
    with pytest.raises(ConfigError, match=r"--theta-weight must be a float in \[0, 1\)"):
        Forecaster(**FAST, theta_weight=1.0).fit(three)
    path = tmp_path / "blend.fcst"
    pair[1].save(path)
    monkeypatch.setattr("forecast_cli.stat_baselines.stats_missing", lambda: True)
    with pytest.raises(ConfigError, match=r"pip install 'forecast-cli\[stats\]'"):
        Forecaster(**FAST, theta_weight=0.3).fit(three)
    csv = tmp_path / "in.csv"
    three.to_csv(csv, index=False)  # score says so before any file is read or written
    r = CliRunner().invoke(app, ["score", str(path), str(csv), "-o", str(tmp_path / "out"), "--id-col", "unique_id"])
    one_line_error(r, 2, "--theta-weight", "pip install 'forecast-cli[stats]'")
    assert not (tmp_path / "out").exists()
