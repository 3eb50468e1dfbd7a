"""The ETT-preset options of the trainer: nested validation (``decision_fraction``), shrinking the
network's part (``shrink_residual``), averaging residual networks (``ensemble``), training the
network on cross-fitted residuals of the closed-form linear path (``crossfit``), ``benchmarks/ett.py``'s
backtest selection, and the scale-free network branch (``ModelConfig.net_scale``)."""
from __future__ import annotations

import numpy as np
import pytest

from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
from forecast_cli.errors import ConfigError
from forecast_cli.training import NeuralForecaster, _nested_split
from forecast_cli.windows import gather

L, H = 16, 4
LSTSQ = ModelConfig(units=4, layers=1, dropout=0.0, patch=4, linear_fit="lstsq")
FAST = dict(epochs=2, batch_size=64, patience=1)


def _series(n=420, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (np.sin(2 * np.pi * t / 24) + 0.3 * rng.standard_normal(n))[:, None]


def _origins(n):
    tr = np.arange(L - 1, 300 - H)
    va = np.arange(300 - H, n - H)  # inputs reach back into the train rows
    return tr, va


def test_nested_split_purges_overlapping_targets():
    va = np.arange(100, 200)
    stop, dec = _nested_split(va, 0.3, horizon=5)
    assert dec.tolist() == list(range(170, 200))
    assert stop.tolist() == list(range(100, 166))  # 166..169 share target rows with origin 170
    assert stop[-1] + 5 < dec[0] + 1                   # last early-stopping target row < first decision target row
    assert _nested_split(va, 0.001, horizon=5)[1] is None   # rounds to 0 decision windows
    assert _nested_split(np.arange(10), 0.5, horizon=8)[1] is None  # nothing left for early stopping


def test_config_checks():
    with pytest.raises(ConfigError, match="shrink_residual needs decision_fraction"):
        TrainConfig(shrink_residual=True).check()
    with pytest.raises(ConfigError, match="decision_fraction"):
        TrainConfig(decision_fraction=1.0).check()
    with pytest.raises(ConfigError, match="ensemble"):
        TrainConfig(ensemble=0).check()
    TrainConfig(decision_fraction=0.5, shrink_residual=True, ensemble=2).check()


def test_default_keeps_single_validation_set():
    v = _series()
    tr, va = _origins(len(v))
    fc = NeuralForecaster(WindowConfig(L, H), LSTSQ, TrainConfig(**FAST), 1).fit(v, tr, val_origins=va)
    assert fc.decision_windows_ == 0 and not hasattr(fc, "decision_")
    assert fc.residual_scale_ in (0.0, 1.0)


def test_decision_windows_shrink_the_network():
    v = _series()
    tr, va = _origins(len(v))
    tc = TrainConfig(**FAST, learning_rate=1e-2, decision_fraction=0.5, shrink_residual=True)
    fc = NeuralForecaster(WindowConfig(L, H), LSTSQ, tc, 1).fit(v, tr, val_origins=va)
    d = fc.decision_
    assert d["windows"] == fc.decision_windows_ == round(len(va) * 0.5) == 60
    assert 0.0 <= d["scale"] <= 1.0 and d["scale"] == fc.residual_scale_
    # the least-squares factor never does worse than either end on the decision windows
    assert d["final_mse"] <= min(d["linear_mse"], d["network_mse"]) + 1e-9
    # the fitted model really is linear + scale * network: its error on those windows is final_mse
    dec = va[-d["windows"]:]
    scaled = fc.scaler_.transform(v)
    X, Y = gather(scaled, dec, L, H, 1, dtype=np.float32)
    mse = float(np.mean((fc.model_.predict(X, verbose=0) - Y) ** 2))
    assert mse == pytest.approx(d["final_mse"], rel=1e-4)


def test_shrink_factor_scales_the_heads():
    """Overshoot a trained network (its head times 3): the fitted factor lands inside (0, 1) and the
    model then predicts linear + factor * network, with the error the decision reports."""
    from forecast_cli.training import _heads

    v = _series() + 0.5 * np.sin(np.arange(420) / 7.0)[:, None] ** 3
    tr, va = _origins(len(v))
    tc = TrainConfig(epochs=4, batch_size=32, patience=2, learning_rate=1e-2, decision_fraction=0.5,
                     shrink_residual=True)
    fc = NeuralForecaster(WindowConfig(L, H), LSTSQ, tc, 1).fit(v, tr, val_origins=va)
    assert fc.decision_["scale"] == 1.0  # this network helps on the decision windows
    (head,) = _heads(fc.model_)
    trained = [w.copy() for w in head.get_weights()]
    head.set_weights([np.zeros_like(w) for w in trained])
    linear_only = fc.model_.get_weights()
    head.set_weights([3 * w for w in trained])
    dec = va[-fc.decision_windows_:]
    scaled = fc.scaler_.transform(v)
    fc._decide(scaled, dec, linear_only)
    d = fc.decision_
    assert 0.2 < d["scale"] < 0.5
    assert d["final_mse"] < min(d["linear_mse"], d["network_mse"])
    np.testing.assert_allclose(head.get_weights()[0], 3 * d["scale"] * trained[0], rtol=1e-5, atol=1e-7)
    X, Y = gather(scaled, dec, L, H, 1, dtype=np.float32)
    mse = float(np.mean((fc.model_.predict(X, verbose=0) - Y) ** 2))
    assert mse == pytest.approx(d["final_mse"], rel=1e-4)


def test_decision_without_shrink_is_all_or_nothing():
    v = _series(seed=1)
    tr, va = _origins(len(v))
    tc = TrainConfig(**FAST, learning_rate=1e-2, decision_fraction=0.5)
    fc = NeuralForecaster(WindowConfig(L, H), LSTSQ, tc, 1).fit(v, tr, val_origins=va)
    d = fc.decision_
    assert d["scale"] == (1.0 if d["network_mse"] < d["linear_mse"] else 0.0)
    assert d["final_mse"] == min(d["network_mse"], d["linear_mse"])


def test_ensemble_shares_the_linear_path_and_round_trips(tmp_path):
    import keras

    from forecast_cli.models import CUSTOM_OBJECTS

    v = _series(seed=2)
    tr, va = _origins(len(v))
    tc = TrainConfig(**FAST, learning_rate=1e-2, ensemble=2, decision_fraction=0.5, shrink_residual=True)
    fc = NeuralForecaster(WindowConfig(L, H), LSTSQ, tc, 1).fit(v, tr, val_origins=va)
    members = [layer for layer in fc.model_.layers if hasattr(layer, "layers")]
    assert len(members) == 2 and len(fc.histories_) == 2
    from forecast_cli.training import _heads
    assert [h.name for h in _heads(fc.model_)] == ["head", "head"]
    w0, w1 = (m.get_layer("linear").get_weights() for m in members)
    np.testing.assert_array_equal(w0[0], w1[0])
    # the average of the members: linear path + mean of the (scaled) residual networks
    X = gather(fc.scaler_.transform(v), va[:10], L, H, 1, dtype=np.float32)[0]
    mean = np.mean([m.predict(X, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(fc.model_.predict(X, verbose=0), mean, rtol=1e-5, atol=1e-6)
    # saved and loaded the way bundles do it (safe mode, registered layers only)
    path = tmp_path / "m.keras"
    fc.model_.save(path)
    back = keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True)
    np.testing.assert_allclose(back.predict(X, verbose=0), fc.model_.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


# -- cross-fitted residuals (crossfit) ---------------------------------------------------------

def _ridge(A, B, rel):
    """Ridge with an unpenalised intercept, penalty ``rel`` per row, by the normal equations."""
    mx, my = A.mean(axis=0), B.mean(axis=0)
    Ac = A - mx
    W = np.linalg.solve(Ac.T @ Ac + rel * len(A) * np.eye(A.shape[1]), Ac.T @ (B - my))
    return W, my - mx @ W


def _expected_targets(scaled, tr, rel, folds, ci, T):
    """Y + lin_full(x) - lin_oof(x), written out independently of the library."""
    X, Y = gather(scaled, tr, L, H, T, dtype=np.float64)
    last = X[:, -1:, :]
    dX, dY = X - last, Y - last[:, :, :T]
    n = len(tr)

    def design(rows):  # per window in ``rows``: its design rows, and the forecasts back as (n, H, T)
        if ci:
            return (np.concatenate([dX[rows, :, c] for c in range(T)]),
                    np.concatenate([dY[rows, :, c] for c in range(T)]))
        return dX[rows].reshape(len(rows), -1), dY[rows].reshape(len(rows), -1)

    def back(P, m):
        return np.stack(np.split(P, T), axis=-1) if ci else P.reshape(m, H, T)

    allw = np.arange(n)
    W, b = _ridge(*design(allw), rel)
    full = back(design(allw)[0] @ W + b, n)
    oof = np.full_like(full, np.nan)
    sizes = [n // folds + (k < n % folds) for k in range(folds)]  # contiguous, the bigger blocks first
    start = 0
    for size in sizes:
        held = allw[start:start + size]
        start += size
        lo, hi = tr[held[0]], tr[held[-1]]
        keep = np.array([i for i in allw if tr[i] + H <= lo or tr[i] >= hi + H])  # no shared target rows
        Wk, bk = _ridge(*design(keep), rel)
        oof[held] = back(design(held)[0] @ Wk + bk, len(held))
    assert not np.isnan(oof).any()
    return Y + full - oof, full + last[:, :, :T]


def test_crossfit_config_checks():
    for bad in (1, -1, True, 2.5, "5"):
        with pytest.raises(ConfigError, match="crossfit"):
            TrainConfig(crossfit=bad).check()
    TrainConfig(crossfit=0).check()
    TrainConfig(crossfit=5).check()
    v = _series()
    tr, va = _origins(len(v))
    adam = ModelConfig(units=4, layers=1, dropout=0.0, patch=4, linear_fit="adam")
    with pytest.raises(ConfigError, match="crossfit needs the closed-form linear path"):
        NeuralForecaster(WindowConfig(L, H), adam, TrainConfig(**FAST, crossfit=5), 1).fit(v, tr, val_origins=va)


def test_crossfit_blocks_leave_a_gap_of_horizon_origins():
    from forecast_cli.models import crossfit_blocks

    o = np.arange(10, 110)
    blocks = crossfit_blocks(o, 5, gap=4)
    assert [o[h].tolist() for h, _ in blocks] == [list(range(10 + 20 * k, 30 + 20 * k)) for k in range(5)]
    held, fit = blocks[2]                     # origins 50..69
    assert o[fit].tolist() == list(range(10, 47)) + list(range(73, 110))
    held, fit = blocks[0]
    assert o[fit].tolist() == list(range(33, 110))
    # origins with a hole (a skipped gap in the data): blocks by position, the gap by origin value
    o2 = np.r_[np.arange(0, 50), np.arange(60, 110)]
    held, fit = crossfit_blocks(o2, 2, gap=5)[0]
    assert o2[held].tolist() == list(range(50)) and o2[fit].tolist() == list(range(60, 110))
    with pytest.raises(Exception, match="too few training windows"):
        from forecast_cli.models import crossfit_offsets
        crossfit_offsets(WindowConfig(L, H), LSTSQ, _series(), np.arange(L - 1, L + 2), 1, 0.1, 5)


@pytest.mark.parametrize("ci", [False, True])
def test_crossfit_trains_on_out_of_fold_residuals(monkeypatch, ci):
    """The network's training targets are Y - lin_oof + lin_full (checked against an independent
    ridge on a seeded 2-column series), the full linear path is the model's frozen one, and the
    validation windows still carry the series' own targets."""
    from forecast_cli import training

    seen = []
    real = training._window_dataset

    def spy(*args, **kwargs):
        seen.append((np.asarray(args[1]).copy(), kwargs.get("shuffle", False), kwargs.get("targets")))
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "_window_dataset", spy)
    v = np.c_[_series(seed=3), 0.5 * _series(seed=4) + 0.2 * _series(seed=3)]
    tr, va = _origins(len(v))
    mc = ModelConfig(units=4, layers=1, dropout=0.0, patch=4, linear_fit="lstsq", channel_independent=ci)
    fc = NeuralForecaster(WindowConfig(L, H), mc, TrainConfig(**FAST, crossfit=5), 2).fit(v, tr, val_origins=va)
    train_calls = [s for s in seen if s[1]]
    assert len(train_calls) == 1 and all(s[2] is None for s in seen if not s[1])  # validation untouched
    origins, _, targets = train_calls[0]
    np.testing.assert_array_equal(origins, tr)
    scaled = fc.scaler_.transform(v).astype(np.float32)
    want, lin_full = _expected_targets(scaled, tr, fc.linear_fit_["alpha"], 5, ci, 2)
    _, Y = gather(scaled, tr, L, H, 2, dtype=np.float64)
    assert targets.shape == (len(tr), H, 2) and targets.dtype == np.float32
    assert np.abs(want - Y).max() > 1e-2                 # the adjustment is not negligible here
    np.testing.assert_allclose(targets, want, rtol=0, atol=2e-5)
    # lin_full is the linear path the model holds: the model with its head zeroed predicts it
    from forecast_cli.training import _heads

    for head in _heads(fc.model_):
        head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    X = gather(scaled, tr, L, H, 2, dtype=np.float32)[0]
    np.testing.assert_allclose(fc.model_.predict(X, verbose=0), lin_full, rtol=0, atol=2e-5)
    info = fc.crossfit_
    assert info["folds"] == 5 and info["gap"] == H and len(info["fit_windows"]) == 5
    assert info["oof_mse"] > info["in_sample_mse"]       # out-of-fold residuals are the larger ones


def test_crossfit_off_is_the_previous_behaviour(monkeypatch):
    """crossfit=0 (the default) trains on the series' own targets through the origin pipeline, with
    the figures the trainer gave before the option existed; crossfit=5 changes them."""
    from forecast_cli import training

    seen = []
    real = training._window_dataset

    def spy(*args, **kwargs):
        seen.append(kwargs.get("targets"))
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "_window_dataset", spy)
    v = _series()
    tr, va = _origins(len(v))
    tc = dict(epochs=3, batch_size=64, patience=2, learning_rate=1e-2)
    fc0 = NeuralForecaster(WindowConfig(L, H), LSTSQ, TrainConfig(**tc), 1).fit(v, tr, val_origins=va)
    assert all(t is None for t in seen) and not hasattr(fc0, "crossfit_")
    # recorded with the trainer before crossfit was added (same seed, same settings)
    assert fc0.history_["loss"] == pytest.approx([0.23220038414001465, 0.23099678754806519, 0.23077736794948578],
                                                 rel=1e-5)
    assert fc0.history_["val_loss"] == pytest.approx([0.19855092465877533, 0.19843578338623047,
                                                      0.1984129101037979], rel=1e-5)
    fc5 = NeuralForecaster(WindowConfig(L, H), LSTSQ, TrainConfig(**tc, crossfit=5), 1).fit(v, tr, val_origins=va)
    assert fc5.history_["loss"][0] > fc0.history_["loss"][0]  # out-of-fold residuals are larger
    assert not np.array_equal(fc5.predict(v, va), fc0.predict(v, va))


# -- benchmarks/ett.py --select backtest: fold arithmetic and the decision -----------------------

def _ett():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ett.py"
    spec = importlib.util.spec_from_file_location("ett_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_backtest_folds_stay_before_the_test_rows():
    ett = _ett()
    folds = ett.backtest_folds()
    assert [f["anchor"] for f in folds] == [5760, 7200, 8640]
    assert folds[-1]["decide"] == (10080, 11520)
    values = np.zeros((ett.TEST_END, 1))
    for H in (96, 192, 336, 720):
        for f in folds:
            a = f["anchor"]
            assert f["train"] == (0, a) and f["val"] == (a, a + 1440) and f["decide"] == (a + 1440, a + 2880)
            tr, va, de = ett.fold_origins(values, ett.LOOKBACK, H, f)
            # every target row of a block stays inside it, and no window touches the test rows
            assert tr[0] - ett.LOOKBACK + 1 == 0 and tr[-1] + H == a - 1
            assert va[0] + 1 == a and va[-1] + H == a + 1439
            assert de[0] + 1 == a + 1440 and de[-1] + H == a + 2879 < ett.VAL_END
            assert len(de) == 1440 - H + 1
    with pytest.raises(ValueError, match="test rows"):
        ett.backtest_folds(anchors=(8641,))


def test_backtest_decision_compares_fold_means():
    ett = _ett()
    assert ett.backtest_decision([0.10, 0.10, 0.10], [0.09, 0.11, 0.095]) == "network"  # mean 0.0983
    assert ett.backtest_decision([0.10, 0.10, 0.10], [0.08, 0.13, 0.10]) == "linear"   # mean 0.1033
    assert ett.backtest_decision([0.1, 0.2], [0.1, 0.2]) == "linear"                    # a tie keeps linear
    with pytest.raises(ValueError):
        ett.backtest_decision([0.1], [0.1, 0.2])


def test_linear_only_zeroes_the_network():
    """The helper behind 'the linear path alone': zeroing the heads of a fitted preset-style model
    gives the frozen closed-form path, the same forecasts as the fallback's starting point."""
    ett = _ett()
    v = _series()
    tr, va = _origins(len(v))
    tc = TrainConfig(**FAST, learning_rate=1e-2)
    fc = NeuralForecaster(WindowConfig(L, H), LSTSQ, tc, 1).fit(v, tr, val_origins=va)
    fc0 = NeuralForecaster(WindowConfig(L, H), LSTSQ, _network_off(tc), 1).fit(v, tr, val_origins=va)
    ett._linear_only(fc)
    np.testing.assert_allclose(fc.predict(v, va), fc0.predict(v, va), rtol=0, atol=1e-5)


def _network_off(tc):
    """The same fit with the network forced off: the linear path alone, the fallback's start."""
    from dataclasses import replace

    return replace(tc, epochs=1, learning_rate=1e-12)


# -- scale-free residual network (ModelConfig.net_scale) ---------------------------------------

def _scale_model(net_scale, F=1, T=1, ci=False, seed=0, head=True):
    """A preset-style model (last-value norm, closed-form-style linear path, patches) with random
    linear weights and, if ``head``, a random network head (so the network contributes)."""
    from forecast_cli import runtime
    from forecast_cli.models import build_model

    runtime.seed_everything(seed)
    cfg = ModelConfig(units=6, layers=1, dropout=0.1, patch=4, linear_fit="lstsq", channel_independent=ci,
                      net_scale=net_scale).check()
    m = build_model(WindowConfig(L, H), cfg, n_features=F, n_targets=T)
    rng = np.random.default_rng(seed + 100)
    lin = m.get_layer("linear")
    lin.set_weights([0.1 * rng.standard_normal(w.shape).astype(np.float32) for w in lin.get_weights()])
    if head:
        hd = m.get_layer("head")
        hd.set_weights([0.5 * rng.standard_normal(w.shape).astype(np.float32) for w in hd.get_weights()])
    return m


def _linear_plus_last(m, X, T, ci):
    """The frozen linear path on ``X - last`` plus the last value, in numpy (float64)."""
    W, b = (w.astype(np.float64) for w in m.get_layer("linear").get_weights())
    last = X[:, -1:, :]
    D = X - last
    if ci:
        out = np.einsum("nlc,lh->nhc", D, W) + b[None, :, None]
        return (out + last)[:, :, :T]
    return (D.reshape(len(X), -1) @ W + b).reshape(len(X), H, T) + last[:, :, :T]


def _windows(n, F, seed=1):
    rng = np.random.default_rng(seed)
    # channels of very different spread, like ETT's columns or months of different volatility
    return (np.cumsum(rng.standard_normal((n, L, F)), axis=1) * np.array([0.2, 1.0, 3.0][:F])).astype(np.float32)


def test_net_scale_config_checks():
    from forecast_cli.models import build_model

    assert ModelConfig().net_scale == "none"
    ModelConfig(net_scale="std").check()
    with pytest.raises(ConfigError, match="--net-scale must be one of none, std"):
        ModelConfig(net_scale="revin").check()
    with pytest.raises(ConfigError, match="net-scale"):  # also when the config was never checked
        build_model(WindowConfig(L, H), ModelConfig(units=4, net_scale="Std"), n_features=1, n_targets=1)


@pytest.mark.parametrize("F,T,ci", [(1, 1, False), (3, 3, True), (3, 2, False)])
def test_net_scale_untrained_model_is_linear_path_plus_last(F, T, ci):
    """The head starts at zero, so with net_scale='std' an untrained model is still exactly the linear
    path on the last-value-normalised window plus the last value: the std scaling never reaches it."""
    m = _scale_model("std", F, T, ci, head=False)
    assert not np.any(m.get_layer("head").get_weights()[0])
    X = _windows(7, F)
    np.testing.assert_allclose(m.predict(X, verbose=0), _linear_plus_last(m, X.astype(np.float64), T, ci),
                               rtol=1e-5, atol=1e-5)


def test_divide_by_window_std_numbers():
    from forecast_cli.models import DivideByWindowStd

    X = _windows(4, 3)
    got = np.asarray(DivideByWindowStd(1e-5)(X))
    np.testing.assert_allclose(got, X / (X.std(axis=1, keepdims=True) + 1e-5), rtol=1e-5, atol=1e-6)
    assert np.allclose(got.std(axis=1), 1.0, atol=1e-4)


def _contribution(m, X, T, ci):
    return np.asarray(m.predict(X, verbose=0), dtype=np.float64) - _linear_plus_last(m, X.astype(np.float64), T, ci)


@pytest.mark.parametrize("F,T,ci", [(1, 1, False), (3, 3, True)])
def test_net_scale_std_network_part_is_scale_equivariant(F, T, ci):
    """Scaling a window's deviation from its last value by c scales the network's contribution by c
    (and only that column's, channel-independent); without net_scale it does not."""
    X = _windows(6, F)
    last = X[:, -1:, :]
    m = _scale_model("std", F, T, ci)
    r = _contribution(m, X, T, ci)
    assert np.abs(r).max() > 0.05  # the head is random: the network contributes
    for c in (4.0, 0.25):
        Xc = last + c * (X - last)
        np.testing.assert_allclose(_contribution(m, Xc, T, ci), c * r, rtol=2e-3, atol=1e-4)
        # a different last value (level) changes nothing in the network's part either
        np.testing.assert_allclose(_contribution(m, Xc + 5.0, T, ci), c * r, rtol=2e-3, atol=1e-3)
    if ci:  # one channel scaled: its contribution scales, the others' stay
        Xc = X.copy()
        Xc[:, :, 1] = last[:, :, 1] + 3.0 * (X[:, :, 1] - last[:, :, 1])
        rc = _contribution(m, Xc, T, ci)
        np.testing.assert_allclose(rc[:, :, 1], 3.0 * r[:, :, 1], rtol=2e-3, atol=1e-4)
        np.testing.assert_allclose(rc[:, :, [0, 2]], r[:, :, [0, 2]], rtol=1e-4, atol=1e-5)
    m0 = _scale_model("none", F, T, ci)  # the check can fail: the LSTM is not scale-equivariant
    r0 = _contribution(m0, X, T, ci)
    r0c = _contribution(m0, last + 4.0 * (X - last), T, ci)
    assert np.abs(r0c - 4.0 * r0).max() > 0.05 * np.abs(4.0 * r0).max()


def test_net_scale_std_output_layout_in_multivariate_model():
    """Not channel-independent, 3 columns, 2 targets: each target's outputs are multiplied by its
    own column's std (row-major (horizon, targets) layout of the head)."""
    F, T = 3, 2
    X = _windows(5, F)
    last = X[:, -1:, :]
    m = _scale_model("std", F, T, ci=False)
    r = _contribution(m, X, T, False)
    Xc = X.copy()
    Xc[:, :, 1] = last[:, :, 1] + 3.0 * (X[:, :, 1] - last[:, :, 1])
    rc = _contribution(m, Xc, T, False)  # the network's (scaled) input is unchanged
    np.testing.assert_allclose(rc[:, :, 1], 3.0 * r[:, :, 1], rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(rc[:, :, 0], r[:, :, 0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ci", [False, True])
def test_net_scale_std_fits_saves_and_loads_in_safe_mode(tmp_path, ci):
    import keras

    from forecast_cli.models import CUSTOM_OBJECTS

    v = _series(seed=3)
    T = 1
    if ci:
        v = np.hstack([v, 2.0 * _series(seed=4)])
        T = 2
    tr, va = _origins(len(v))
    mc = ModelConfig(units=4, layers=1, dropout=0.0, patch=4, linear_fit="lstsq", channel_independent=ci,
                     net_scale="std")
    fc = NeuralForecaster(WindowConfig(L, H), mc, TrainConfig(**FAST, learning_rate=1e-2), T).fit(v, tr, val_origins=va)
    names = [layer.name for layer in fc.model_.layers]
    assert "net_input_std" in names and "net_output_std" in names
    X = gather(fc.scaler_.transform(v), va[:10], L, H, T, dtype=np.float32)[0]
    path = tmp_path / "m.keras"
    fc.model_.save(path)
    back = keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True)
    assert [layer.name for layer in back.layers] == names
    np.testing.assert_allclose(back.predict(X, verbose=0), fc.model_.predict(X, verbose=0), rtol=1e-6, atol=1e-6)
    # and without custom_objects: the layers are registered
    back2 = keras.saving.load_model(path, compile=False, safe_mode=True)
    np.testing.assert_allclose(back2.predict(X, verbose=0), fc.model_.predict(X, verbose=0), rtol=1e-6, atol=1e-6)


# the layers of the preset-style model before net_scale existed (S: 1 column; M: channel-independent)
_LAYERS_BEFORE = {
    False: ["window", "subtract_last", "patches", "lstm_1", "dropout", "flat_window", "head", "linear",
            "rnn_plus_linear", "forecast_delta", "add_last"],
    True: ["window", "subtract_last", "channels_to_batch", "patches", "lstm_1", "dropout", "flat_window", "head",
           "linear", "rnn_plus_linear", "batch_to_channels", "add_last"],
}


@pytest.mark.parametrize("ci", [False, True])
def test_net_scale_none_builds_the_same_model(ci):
    from dataclasses import replace

    from forecast_cli import runtime
    from forecast_cli.models import build_model

    F = 3 if ci else 1
    cfg = ModelConfig(units=6, patch=4, linear_fit="lstsq", channel_independent=ci)
    models = []
    for c in (cfg, replace(cfg, net_scale="none"), replace(cfg, net_scale="std")):
        runtime.seed_everything(0)
        models.append(build_model(WindowConfig(L, H), c, n_features=F, n_targets=F))
    default, none, std = models
    assert [layer.name for layer in none.layers] == [layer.name for layer in default.layers] == _LAYERS_BEFORE[ci]
    for a, b in zip(default.get_weights(), none.get_weights()):
        np.testing.assert_array_equal(a, b)
    X = _windows(4, F)
    np.testing.assert_array_equal(default.predict(X, verbose=0), none.predict(X, verbose=0))
    # 'std' only adds two weightless layers: the same weights (same seed), other layers
    assert [layer.name for layer in std.layers] != _LAYERS_BEFORE[ci]
    assert [w.shape for w in std.get_weights()] == [w.shape for w in none.get_weights()]
    for a, b in zip(std.get_weights(), none.get_weights()):
        np.testing.assert_array_equal(a, b)


def ett_recording_configs(monkeypatch):
    """``benchmarks/ett.py`` with ``run_one`` replaced: ``(ett, seen)``, ``seen`` the ModelConfig of
    every run ``ett.main`` asks for."""
    ett = _ett()
    seen = []

    def fake_run_one(path, mode, horizon, seed, mcfg, tcfg, *a, **k):
        seen.append(mcfg)
        return {"mode": mode, "horizon": horizon, "seed": seed, "mse": 0.1, "mae": 0.2, "naive_mse": 0.3,
                "naive_mae": 0.4, "seconds": 1.0}

    monkeypatch.setattr(ett, "run_one", fake_run_one)
    return ett, seen


def test_ett_net_scale_option(monkeypatch, capsys):
    ett, seen = ett_recording_configs(monkeypatch)
    ett.main(["--mode", "S", "--horizon", "336"])
    ett.main(["--mode", "M", "--horizon", "96", "--net-scale", "std"])
    assert seen[0] == ett.PRESET_MODEL and seen[0].net_scale == "none"
    assert seen[1].net_scale == "std" and seen[1].channel_independent
    with pytest.raises(SystemExit):
        ett.main(["--net-scale", "revin"])
    capsys.readouterr()
