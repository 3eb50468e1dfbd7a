"""The ETT-preset options of the trainer: nested validation (``decision_fraction``), shrinking the
network's part (``shrink_residual``), averaging residual networks (``ensemble``) and training the
network on cross-fitted residuals of the closed-form linear path (``crossfit``)."""
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
