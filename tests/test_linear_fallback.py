"""The trainer around the closed-form linear path (``linear_fit="lstsq"``, the ETT preset's): the
network is trained on what the frozen path leaves, and dropped again (the fallback) when no epoch
beats the path alone on the validation windows. Recorded figures guard against any change in what
it computes (they date from before the accuracy work's attempts that were not adopted were removed).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
from forecast_cli.training import NeuralForecaster

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


def _fit(tc, v=None):
    v = _series() if v is None else v
    tr, va = _origins(len(v))
    return NeuralForecaster(WindowConfig(L, H), LSTSQ, tc, 1).fit(v, tr, val_origins=va), v, va


def test_trainer_figures_are_unchanged():
    """Recorded with the trainer before the attempts' options were added (same seed, same settings)."""
    fc, _, _ = _fit(TrainConfig(epochs=3, batch_size=64, patience=2, learning_rate=1e-2))
    assert fc.history_["loss"] == pytest.approx([0.23220038414001465, 0.23099678754806519, 0.23077736794948578],
                                                rel=1e-5)
    assert fc.history_["val_loss"] == pytest.approx([0.19855092465877533, 0.19843578338623047,
                                                     0.1984129101037979], rel=1e-5)
    assert fc.residual_scale_ == 1.0 and fc.best_epoch_ == 3 and fc.epochs_run_ == 3
    assert fc.linear_val_ > min(fc.history_["val_loss"])


def test_fallback_keeps_the_linear_path_alone_when_no_epoch_beats_it():
    """A network that cannot learn (a step size of 1e-12) never beats the closed-form path on the
    validation windows: the model is the path alone, with its head at zero."""
    fc, v, va = _fit(TrainConfig(**FAST, learning_rate=1e-12))
    assert fc.residual_scale_ == 0.0 and fc.best_epoch_ == 0
    assert fc.linear_val_ <= min(fc.history_["val_loss"])
    assert not np.any(fc.model_.get_layer("head").get_weights()[0])


def test_linear_path_stays_frozen_beside_the_network():
    """Zeroing the trained network's head leaves the closed-form path: the forecasts of the fallback."""
    tc = TrainConfig(**FAST, learning_rate=1e-2)
    fc, v, va = _fit(tc)
    assert fc.residual_scale_ == 1.0
    fc0, _, _ = _fit(replace(tc, learning_rate=1e-12))
    np.testing.assert_array_equal(fc.model_.get_layer("linear").get_weights()[0],
                                  fc0.model_.get_layer("linear").get_weights()[0])
    head = fc.model_.get_layer("head")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    np.testing.assert_allclose(fc.predict(v, va), fc0.predict(v, va), rtol=0, atol=1e-5)


# the layers of the preset-style model (S: 1 column; M: channel-independent)
PRESET_LAYERS = {
    False: ["window", "subtract_last", "patches", "lstm_1", "dropout", "flat_window", "head", "linear",
            "rnn_plus_linear", "forecast_delta", "add_last"],
    True: ["window", "subtract_last", "channels_to_batch", "patches", "lstm_1", "dropout", "flat_window", "head",
           "linear", "rnn_plus_linear", "batch_to_channels", "add_last"],
}


@pytest.mark.parametrize("ci", [False, True])
def test_preset_style_model_layers(ci):
    from forecast_cli.models import build_model

    F = 3 if ci else 1
    cfg = ModelConfig(units=6, patch=4, linear_fit="lstsq", channel_independent=ci)
    m = build_model(WindowConfig(L, H), cfg, n_features=F, n_targets=F)
    assert [layer.name for layer in m.layers] == PRESET_LAYERS[ci]
