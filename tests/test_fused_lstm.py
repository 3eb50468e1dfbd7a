"""The fused LSTM layer computes exactly what keras.layers.LSTM computes, forward and backward."""
import numpy as np
import pytest

from forecast_cli.config import ModelConfig, WindowConfig
from forecast_cli.models import CUSTOM_OBJECTS, FusedLSTM, build_model, keras


def _icfo_to_ifco(w: np.ndarray, u: int) -> np.ndarray:
    i, c, f, o = np.split(w, 4, axis=-1)
    return np.concatenate([i, f, c, o], axis=-1)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_fused_lstm_equals_keras_lstm(return_sequences):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    B, T, d, u = 3, 7, 2, 5
    x = tf.constant(rng.normal(size=(B, T, d)).astype("float32"))
    fused = FusedLSTM(u, return_sequences=return_sequences)
    fused.build((None, T, d))
    weights = [rng.normal(size=v.shape).astype("float32") * 0.5 for v in fused.weights]
    fused.set_weights(weights)
    ref = keras.layers.LSTM(u, return_sequences=return_sequences)
    ref.build((None, T, d))
    ref.set_weights([_icfo_to_ifco(w, u) for w in weights])

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        a, b = fused(x), ref(x)
        la, lb = tf.reduce_sum(a ** 2), tf.reduce_sum(b ** 2)
    assert a.shape == b.shape == ((B, T, u) if return_sequences else (B, u))
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    np.testing.assert_allclose(tape.gradient(la, x).numpy(), tape.gradient(lb, x).numpy(), atol=1e-5)
    for ga, gb in zip(tape.gradient(la, fused.weights), tape.gradient(lb, ref.weights)):
        np.testing.assert_allclose(_icfo_to_ifco(ga.numpy(), u), gb.numpy(), atol=1e-4)


def test_builder_uses_the_fused_layer_unless_recurrent_dropout_or_xla():
    from forecast_cli.models import _gpu_visible

    if _gpu_visible():
        pytest.skip("a GPU is visible: Keras' cuDNN LSTM is used instead (the next test)")
    win = WindowConfig(12, 2)
    m = build_model(win, ModelConfig(units=4, layers=2), n_features=1, n_targets=1)
    assert [type(l).__name__ for l in m.layers if "lstm" in l.name] == ["FusedLSTM", "FusedLSTM"]
    m = build_model(win, ModelConfig(units=4, recurrent_dropout=0.1), n_features=1, n_targets=1)
    assert [type(l).__name__ for l in m.layers if "lstm" in l.name] == ["LSTM"]
    m = build_model(win, ModelConfig(units=4), n_features=1, n_targets=1, jit_compile=True)  # no XLA kernel
    assert [type(l).__name__ for l in m.layers if "lstm" in l.name] == ["LSTM"]
    assert "FusedLSTM" in CUSTOM_OBJECTS


def test_fused_lstm_round_trips_in_safe_mode(tmp_path):
    m = build_model(WindowConfig(12, 2), ModelConfig(units=4, model="attention"), n_features=2, n_targets=1)
    x = np.random.default_rng(1).normal(size=(4, 12, 2)).astype("float32")
    path = tmp_path / "m.keras"
    m.save(path)
    back = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(m.predict(x, verbose=0), back.predict(x, verbose=0))


def test_builder_uses_keras_cudnn_lstm_on_a_gpu():
    """Where TensorFlow sees a GPU, Keras' LSTM (cuDNN's kernel) replaces the fused one, which is for the CPU."""
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("no GPU visible to TensorFlow")
    layer_types = {type(la) for la in build_model(WindowConfig(30, 5), ModelConfig(units=8), 1, 1).layers}
    assert keras.layers.LSTM in layer_types and FusedLSTM not in layer_types
