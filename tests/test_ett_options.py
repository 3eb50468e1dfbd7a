"""The ETT-preset options of the trainer: nested validation (``decision_fraction``), shrinking the
network's part (``shrink_residual``) and averaging residual networks (``ensemble``)."""
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
