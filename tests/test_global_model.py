"""The global model across series (forecast_cli/global_model.py) and the across-series baselines."""
from __future__ import annotations

import json

import numpy as np
import pytest
from dataclasses import replace

from forecast_cli.baselines import (
    Naive,
    PanelBaseline,
    SeasonalNaive,
    make_panel_baselines,
)
from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
from forecast_cli.errors import ConfigError, DataError
from forecast_cli.global_model import GlobalForecaster
from forecast_cli.windows import gather, normalise_windows, pad_windows, valid_origins

L, H, M = 24, 6, 12
N, CUT = 360, 300  # rows per series; training windows end before CUT, test origins from CUT
KEYS = ["flat", "trend", "big"]
FAST = {"window": WindowConfig(L, H), "train": TrainConfig(epochs=2, batch_size=64, patience=1)}


def _series(seed=0):
    """Three series with known patterns: a daily-like cycle (period 12) at three levels/amplitudes,
    one with a trend, one 1,000 times larger."""
    rng = np.random.default_rng(seed)
    t = np.arange(N, dtype=float)
    cyc = np.sin(2 * np.pi * t / M)
    return [(20 + 5 * cyc + 0.3 * rng.standard_normal(N))[:, None],
            (50 + 0.05 * t + 8 * cyc + 0.3 * rng.standard_normal(N))[:, None],
            (2e4 + 4e3 * cyc + 100 * rng.standard_normal(N))[:, None]]


def _train_origins(series):
    return [valid_origins(s, L, H, stop=CUT) for s in series]


def _test_origins(series):
    return [np.arange(CUT, N - H) for _ in series]


def _mae(pred, s, origins):
    _, Y = gather(s, origins, L, H, 1, dtype=np.float64)
    return float(np.mean(np.abs(pred - Y)))


def _model(**kw):
    return ModelConfig(units=8, patch=6, linear_fit="lstsq", dropout=0.0, **kw)


@pytest.fixture(scope="module")
def fitted():
    series = _series()
    g = GlobalForecaster(FAST["window"], _model(), FAST["train"], n_targets=1, season=M)
    return series, g.fit(series, _train_origins(series), keys=KEYS)


def test_global_model_beats_naive_on_each_series(fitted):
    series, g = fitted
    test = _test_origins(series)
    preds = g.predict(series, test, keys=KEYS)
    naive = PanelBaseline(lambda: Naive(H, 1)).fit(series, _train_origins(series)).predict(series, test)
    for k, s, o, p, n in zip(KEYS, series, test, preds, naive):
        assert p.shape == (len(o), H, 1)
        assert _mae(p, s, o) < 0.5 * _mae(n, s, o), k
    lo, hi = g.level_range_
    assert 15 < lo < 25 and 1.5e4 < hi < 2.5e4
    assert g.out_of_range([series[0] * 1e4, series[1]], keys=["huge", "ok"]) == ["huge"]


def test_windows_never_cross_series(fitted):
    series, g = fitted
    Z, tr, va, tr_id, va_id = g._layout(series, _train_origins(series))
    origins = np.concatenate([tr, va])
    assert len(origins) == sum(len(o) for o in _train_origins(series))
    X, Y = gather(Z, origins, L, H, 1, dtype=np.float64)
    assert np.isfinite(X).all() and np.isfinite(Y).all()   # a NaN row separates the series
    ids = np.concatenate([tr_id, va_id])
    level = np.exp(np.concatenate([X[:, :, 0], Y[:, :, 0]], axis=1))  # Z holds logs of positive series
    for i, s in enumerate(series):
        rows = level[ids == i + 1]
        assert rows.min() >= s[:CUT].min() * (1 - 1e-5) and rows.max() <= s[:CUT].max() * (1 + 1e-5)
    # the early-stopping windows are each series' last ones
    for i in range(3):
        assert tr[tr_id == i + 1].max() < va[va_id == i + 1].min()


def test_tf_pipeline_scales_like_numpy(fitted):
    series, g = fitted
    Z, tr, _, tr_id, _ = g._layout(series, _train_origins(series))
    xb, yb = next(iter(g._window_dataset(Z, tr[:50], tr_id[:50], 50)))
    Xn, Yn, _ = g._normalised(Z, tr[:50])
    np.testing.assert_allclose(np.asarray(xb), Xn, atol=1e-4)
    np.testing.assert_allclose(np.asarray(yb), Yn, atol=1e-4)
    g.balance = 5.0  # loss weights: 1 + 5 x the window's scale of log values, the same in both
    try:
        g._layout(series, _train_origins(series))  # the weights in use are settled there
        _, _, wb = next(iter(g._window_dataset(Z, tr[:50], tr_id[:50], 50)))
        _, _, w = g._normalised(Z, tr[:50], tr_id[:50])
    finally:
        g.balance = 0.0
        g._layout(series, _train_origins(series))
    assert w.min() > 1.0
    np.testing.assert_allclose(np.asarray(wb), np.repeat(w[:, None], H, axis=1), rtol=1e-5)


def test_short_history_padding_changes_no_full_window(fitted):
    series, g = fitted
    full = np.stack([s[CUT - L + 1:CUT + 1] for s in series])
    ref = g.predict_windows(full, keys=KEYS)
    short = full[1].copy()
    short[:10] = 0.0                                           # 14 real rows, padding of zeros
    other = full[1].copy()
    other[:10] = 1e6                                           # different padding, same real rows
    mixed = g.predict_windows(np.stack([full[0], short, full[2], other]), keys=KEYS + ["trend"],
                              lengths=[L, 14, L, 14])
    np.testing.assert_array_equal(mixed[[0, 2]], ref[[0, 2]])
    np.testing.assert_allclose(mixed[1], mixed[3])             # the padding itself is ignored
    assert np.isfinite(mixed).all()
    assert np.abs(mixed[1] - series[1][CUT + 1:CUT + 1 + H]).mean() < 3.0
    # padding repeats the real rows with the season's period
    padded = pad_windows(short[None], np.array([14]), M)[0, :, 0]
    np.testing.assert_array_equal(padded[:10], padded[12:22])


def test_unseen_key_and_state_round_trip(fitted, tmp_path):
    series, g = fitted
    win = np.stack([s[CUT - L + 1:CUT + 1] for s in series])
    np.testing.assert_allclose(g.predict_windows(win, keys=["new1", "new2", "new3"]),
                               g.predict_windows(win, keys=KEYS))  # no per-series state
    np.testing.assert_allclose(g.predict_windows(win), g.predict_windows(win, keys=KEYS))
    state = json.loads(json.dumps(g.get_state()))
    assert state["keys"] == KEYS and state["kind"] == "global"
    from forecast_cli.models import CUSTOM_OBJECTS
    from forecast_cli.runtime import import_keras

    keras = import_keras()
    path = tmp_path / "m.keras"
    g.keras_models()[0].save(path)
    loaded = keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True)
    g2 = GlobalForecaster.from_state(state, [loaded], FAST["window"], _model(), FAST["train"])
    np.testing.assert_allclose(g2.predict_windows(win, keys=KEYS), g.predict_windows(win, keys=KEYS), rtol=1e-5)


def test_id_embedding_known_and_unknown_ids():
    series = _series(1)
    g = GlobalForecaster(FAST["window"], _model(id_embedding=2), FAST["train"], n_targets=1, season=M)
    g.fit(series, _train_origins(series), keys=KEYS)
    assert [i.name for i in g.model_.inputs] == ["window", "series_id"]
    win = np.stack([s[CUT - L + 1:CUT + 1] for s in series])
    known, unknown = g.predict_windows(win, keys=KEYS), g.predict_windows(win, keys=["x", "y", "z"])
    assert known.shape == unknown.shape == (3, H, 1) and np.isfinite(unknown).all()
    g2 = GlobalForecaster.from_state(json.loads(json.dumps(g.get_state())), g.keras_models(),
                                     FAST["window"], _model(id_embedding=2), FAST["train"])
    np.testing.assert_allclose(g2.predict_windows(win, keys=KEYS), known, rtol=1e-6)


def test_local_mode_fits_one_network_per_series():
    series = _series(2)
    g = GlobalForecaster(FAST["window"], _model(local=True), TrainConfig(epochs=1, batch_size=64),
                         n_targets=1, season=M)
    g.fit(series, _train_origins(series), keys=KEYS)
    assert g.local and list(g.members_) == KEYS
    assert len({id(m.model_) for m in g.members_.values()}) == 3 and len(g.keras_models()) == 3
    test = _test_origins(series)
    for s, o, p in zip(series, test, g.predict(series, test, keys=KEYS)):
        assert _mae(p, s, o) < _mae(Naive(H, 1).predict(s, o), s, o)
    win = series[0][CUT - L + 1:CUT + 1][None]
    sn = SeasonalNaive(H, 1, M).predict(win[0], [L - 1])
    np.testing.assert_allclose(g.predict_windows(win, keys=["unseen"]), sn)  # fallback, reported
    assert g.fallback_keys_ == {"unseen"}
    state = json.loads(json.dumps(g.get_state()))
    g2 = GlobalForecaster.from_state(state, g.keras_models(), FAST["window"], _model(local=True), FAST["train"])
    np.testing.assert_allclose(g2.predict(series, test, keys=KEYS)[1], g.predict(series, test, keys=KEYS)[1])


def test_non_positive_series_are_scaled_in_their_units():
    t = np.arange(N, dtype=float)
    series = [(3 * np.sin(2 * np.pi * t / M))[:, None], (10 + 3 * np.sin(2 * np.pi * t / M))[:, None]]
    g = GlobalForecaster(FAST["window"], _model(), TrainConfig(epochs=1), n_targets=1, season=M)
    g.fit(series, _train_origins(series))
    assert g.logged_ == [[False], [True]]
    test = _test_origins(series)
    for s, o, p in zip(series, test, g.predict(series, test)):
        assert np.isfinite(p).all() and _mae(p, s, o) < 0.5


def test_global_linear_and_panel_baselines():
    series = _series(3)
    tr, test = _train_origins(series), _test_origins(series)
    naive, snaive, lin = make_panel_baselines(L, H, 1, M)
    assert [b.name for b in (naive, snaive, lin)] == ["naive", "seasonal_naive", "linear"]
    preds = {b.name: b.fit(series, tr).predict(series, test) for b in (naive, snaive, lin)}
    for i, s in enumerate(series):
        assert _mae(preds["linear"][i], s, test[i]) < _mae(preds["naive"][i], s, test[i])
        np.testing.assert_allclose(preds["seasonal_naive"][i], SeasonalNaive(H, 1, M).predict(s, test[i]))


def test_normalised_windows_are_scale_free():
    X = np.stack([_series()[0][:L], _series()[0][:L] * 1000])
    Xn, _ = normalise_windows(X, M)
    np.testing.assert_allclose(Xn[0], Xn[1], atol=1e-5)


def test_refusals():
    series = _series()
    g = GlobalForecaster(FAST["window"], _model(), FAST["train"], n_targets=1, season=M)
    with pytest.raises(ConfigError, match="not fitted"):
        g.predict_windows(np.zeros((1, L, 1)))
    with pytest.raises(ConfigError, match="unique"):
        g.fit(series[:2], _train_origins(series)[:2], keys=["a", "a"])
    with pytest.raises(DataError, match="only 4 training windows"):
        g.fit(series[:1], [np.arange(L - 1, L + 3)])


def test_ensemble_over_lookbacks_is_one_keras_model(tmp_path):
    series = _series(4)
    g = GlobalForecaster(FAST["window"], _model(), TrainConfig(epochs=1), n_targets=1, season=M, ensemble=2)
    assert g.member_reads() == [24, 12]
    g.fit(series, _train_origins(series), keys=KEYS)
    assert len(g.keras_models()) == 1 and [m["reads"] for m in g.get_state()["ensemble_members"]] == [24, 12]
    test = _test_origins(series)
    for s, o, p in zip(series, test, g.predict(series, test, keys=KEYS)):
        assert _mae(p, s, o) < 0.5 * _mae(Naive(H, 1).predict(s, o), s, o)
    from forecast_cli.models import CUSTOM_OBJECTS
    from forecast_cli.runtime import import_keras

    keras = import_keras()
    g.keras_models()[0].save(tmp_path / "e.keras")
    loaded = keras.saving.load_model(tmp_path / "e.keras", custom_objects=CUSTOM_OBJECTS, compile=False,
                                     safe_mode=True)
    g2 = GlobalForecaster.from_state(json.loads(json.dumps(g.get_state())), [loaded], FAST["window"], _model(),
                                     TrainConfig(epochs=1))
    win = np.stack([s[CUT - L + 1:CUT + 1] for s in series])
    np.testing.assert_allclose(g2.predict_windows(win, keys=KEYS), g.predict_windows(win, keys=KEYS), rtol=1e-5)


def test_trend_cap_bounds_steep_logged_trends_and_keeps_the_season():
    from forecast_cli.global_model import cap_trend

    t = np.arange(8.0)
    season = np.tile([0.02, -0.02, 0.03, -0.03], 2)
    X = np.exp(np.stack([0.1 * t + season, 0.001 * t + season]))[:, :, None]  # steep, gentle
    Xn, stats = normalise_windows(X, 4)
    scale = stats[1][:, 0, 0]
    h = np.arange(1, 9.0)
    # paths in log units: level 0.05, the window's trend continued, the seasonal profile
    logs = np.stack([0.05 + 0.1 * h + season, 0.05 + 0.001 * h + season])
    Yn = (logs / scale[:, None])[:, :, None]
    out, capped = cap_trend(Yn, stats, 0.01, season=4)
    assert capped[:, 0].tolist() == [True, False]
    got = out[:, :, 0] * scale[:, None]
    np.testing.assert_allclose(got[0], 0.05 + 0.01 * h + season, atol=1e-9)  # trend cut to 0.01 a step
    np.testing.assert_allclose(got[1], logs[1], atol=1e-12)                   # gentle: unchanged
    falling = cap_trend(-Yn, stats, 0.01, season=4)[0][0, :, 0] * scale[0]
    np.testing.assert_allclose(falling, -0.05 - 0.01 * h - season, atol=1e-9)  # down as well as up
    # windows in their own units (not logged) are never capped
    _, raw_stats = normalise_windows(X, 4, log=False)
    out_raw, capped_raw = cap_trend(Yn, raw_stats, 0.01, season=4)
    assert not capped_raw.any() and np.array_equal(out_raw, Yn)


def test_trend_cap_defaults_by_season_and_survives_the_state(fitted):
    def make(season, **kw):
        return GlobalForecaster(WindowConfig(8, 8), ModelConfig(), TrainConfig(), 1, season, **kw)

    assert [make(4).trend_cap, make(12).trend_cap, make(24).trend_cap, make(7).trend_cap] == [0.04, 0.0, 0.0, 0.0]
    assert make(4, trend_cap=0).trend_cap == 0.0 and make(24, trend_cap=0.1).trend_cap == 0.1
    series, g = fitted  # season 12 (months: not measured): no cap by default; even with one, 6 steps hold no two seasons
    assert g.trend_cap == 0.0 and g.get_state()["trend_cap"] == 0.0
    g.trend_cap = 0.04
    win = np.exp(0.2 * np.arange(L, dtype=float))[None, :, None]  # rising 20 % a step
    g.predict_windows(win)
    assert g.trend_capped_ == 0
    state = {k: v for k, v in g.get_state().items() if k != "trend_cap"}  # a state saved before the cap
    old = GlobalForecaster.from_state(state, g.keras_models(), FAST["window"], _model(), FAST["train"])
    assert old.trend_cap == 0.0
    # the same network as a season-3 model (6 steps: two seasons): capped at 0.04 / 3 in logs a step
    capped = GlobalForecaster.from_state({**state, "season": 3, "trend_cap": 0.04}, g.keras_models(),
                                         FAST["window"], _model(), FAST["train"])
    free = GlobalForecaster.from_state({**state, "season": 3}, g.keras_models(), FAST["window"], _model(),
                                       FAST["train"])
    steep, loose = (np.log(m.predict_windows(win)[0, :, 0]) for m in (capped, free))
    assert capped.trend_capped_ == 1

    def slope(path):  # the trend beside a season-3 profile, as cap_trend measures it
        d = np.column_stack([np.ones(H), np.arange(1, H + 1), np.tile([1.0, 0, -1], 2), np.tile([0, 1.0, -1], 2)])
        return np.linalg.lstsq(d, path, rcond=None)[0][1]

    assert abs(slope(steep)) == pytest.approx(0.04 / 3, abs=1e-6) and abs(slope(loose)) > 0.04 / 3


def test_epochs_and_patience_left_to_the_model_are_30_and_5():
    g = GlobalForecaster(WindowConfig(8, 8), ModelConfig(), TrainConfig(epochs=None, patience=None), 1, 4)
    assert g.budget() == (30, 5)
    assert GlobalForecaster(WindowConfig(8, 8), ModelConfig(), TrainConfig(epochs=7, patience=2), 1, 4).budget() == (7, 2)


def test_balance_weights_positive_series_and_is_refused_beside_one_that_is_not():
    series = _series()
    tc = TrainConfig(epochs=1, batch_size=64, patience=1, balance=1000.0)
    g = GlobalForecaster(FAST["window"], _model(), tc, n_targets=1, season=M)
    Z, tr, va, tr_id, va_id = g._layout(series, _train_origins(series))
    assert g.balance_used_ == 1000.0
    w = g._normalised(Z, tr[:5], tr_id[:5])[2]
    assert w is not None and (w > 1.0).all()
    negative = [series[0] - 100.0, *series[1:]]  # one series below zero: scaled in its own units
    g = GlobalForecaster(FAST["window"], _model(), tc, n_targets=1, season=M)
    with pytest.raises(ConfigError, match=r"--balance .* 1 series trained on have values <= 0; drop --balance"):
        g._layout(negative, _train_origins(negative))
    g = GlobalForecaster(FAST["window"], _model(), replace(tc, balance=0.0), n_targets=1, season=M)
    g._layout(negative, _train_origins(negative))  # without --balance the same series are fine
    assert g.balance_used_ == 0.0


def test_linear_fit_auto_means_adam_across_series():
    g = GlobalForecaster(WindowConfig(8, 8), ModelConfig(linear_fit="auto"), TrainConfig(), 1, 4)
    assert g.model_cfg.linear_fit == "adam"
    assert GlobalForecaster(WindowConfig(8, 8), ModelConfig(linear_fit="lstsq"), TrainConfig(), 1, 4) \
        .model_cfg.linear_fit == "lstsq"



def test_history_trend_is_the_deseasonalised_log_slope():
    from forecast_cli.global_model import history_trend

    t = np.arange(20.0)
    y = np.exp(3 - 0.03 * t + np.tile([0.2, -0.1, 0.05, -0.15], 5))
    assert history_trend(y, 4) == pytest.approx(-0.03, abs=1e-12)
    y_gap = y.copy()
    y_gap[7] = np.nan  # a missing row is left out
    assert history_trend(y_gap, 4) == pytest.approx(-0.03, abs=1e-12)
    assert np.isnan(history_trend(y - y.max(), 4))  # not positive: no log trend
    assert np.isnan(history_trend(y[:7], 4))        # under two seasons


def test_trend_band_follows_the_series_own_history():
    from forecast_cli.global_model import cap_trend

    h = np.arange(1, 9.0)
    season = np.tile([0.02, -0.02, 0.03, -0.03], 2)
    X = np.exp(np.tile(0.001 * np.arange(8.0) + season, (3, 1)))[:, :, None]
    Xn, stats = normalise_windows(X, 4)
    scale = stats[1][:, 0, 0]
    logs = np.stack([0.05 + b * h + season for b in (-0.02, 0.02, -0.02)])  # falling, rising, falling
    Yn = (logs / scale[:, None])[:, :, None]
    centre = np.array([[-0.015], [-0.015], [np.nan]])  # two series whose history fell, one unknown
    out, capped = cap_trend(Yn, stats, 0.01, season=4, centre=centre, band=0.0035)
    got = out[:, :, 0] * scale[:, None]
    # falling history: a fall is kept down to centre - band; a rise is cut to +band; unknown: +-cap
    np.testing.assert_allclose(got[0], 0.05 - 0.0185 * h + season, atol=1e-9)
    np.testing.assert_allclose(got[1], 0.05 + 0.0035 * h + season, atol=1e-9)
    np.testing.assert_allclose(got[2], 0.05 - 0.01 * h + season, atol=1e-9)
    assert capped[:, 0].tolist() == [True, True, True]
    gentle = (np.stack([0.05 - 0.01 * h + season]) / scale[:1, None])[:, :, None]
    assert not cap_trend(gentle, (stats[0][:1], stats[1][:1], stats[2][:1]), 0.01, 4, centre=centre[:1],
                         band=0.0035)[1].any()  # inside [-0.0185, 0.0035]: unchanged


def test_trend_band_is_recorded_at_fit_and_used_by_key(fitted):
    from forecast_cli.global_model import HISTORY_TREND_SHARE

    t = np.arange(40.0)
    data = [np.exp(4 + b * t + np.tile([0.1, -0.1, 0.05, -0.05], 10))[:, None] for b in (-0.02, 0.01)]
    g = GlobalForecaster(WindowConfig(8, 8), ModelConfig(), TrainConfig(), 1, 4)
    g._record_trends(data, [np.arange(7, 32)] * 2, ["down", "up"])
    assert g.history_trend_["down"][0] == pytest.approx(HISTORY_TREND_SHARE * -0.02, abs=1e-9)
    assert g.history_trend_["up"][0] == pytest.approx(HISTORY_TREND_SHARE * 0.01, abs=1e-9)
    g12 = GlobalForecaster(WindowConfig(8, 8), ModelConfig(), TrainConfig(), 1, 12)
    g12._record_trends(data, [np.arange(7, 32)] * 2, ["down", "up"])
    assert g12.history_trend_ == {}  # no cap (season 12): no band
    # the fitted network as a capped season-3 model: a known key's band, an unknown key the plain cap
    series, fg = fitted
    state = {**fg.get_state(), "season": 3, "trend_cap": 0.04, "history_trend": {"flat": [-0.03]}}
    m = GlobalForecaster.from_state(json.loads(json.dumps(state)), fg.keras_models(), FAST["window"], _model(),
                                    FAST["train"])
    assert m.history_trend_ == {"flat": [-0.03]} and fg.get_state()["history_trend"] == {}  # season 12: none
    win = np.exp(-0.2 * np.arange(L, dtype=float))[None, :, None]  # falling 20 % a step

    def slope(path):
        d = np.column_stack([np.ones(H), np.arange(1, H + 1), np.tile([1.0, 0, -1], 2), np.tile([0, 1.0, -1], 2)])
        return np.linalg.lstsq(d, np.log(path), rcond=None)[0][1]

    from forecast_cli.global_model import TREND_BAND
    known, unknown = (m.predict_windows(win, keys=[k])[0, :, 0] for k in ("flat", "other"))
    assert slope(known) == pytest.approx(-0.03 - TREND_BAND / 3, abs=1e-6)
    assert slope(unknown) == pytest.approx(-0.04 / 3, abs=1e-6)
    old = {k: v for k, v in state.items() if k != "history_trend"}  # saved before the band
    assert GlobalForecaster.from_state(old, fg.keras_models(), FAST["window"], _model(),
                                       FAST["train"]).history_trend_ == {}
