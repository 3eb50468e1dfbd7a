"""Keras model builders (LSTM, GRU, LSTM with attention): the only module that imports Keras.

Import this module only from code that trains or predicts: importing it loads TensorFlow.
The custom layers are registered with Keras so that bundles load with ``safe_mode=True``
(no Lambda layers, no pickled code).
"""
from __future__ import annotations

from .runtime import import_keras

keras = import_keras()
from keras import layers, ops  # noqa: E402

from .config import ModelConfig, WindowConfig  # noqa: E402

__all__ = ["build_model", "SubtractLast", "AddLast", "LastStep", "CUSTOM_OBJECTS"]


@keras.saving.register_keras_serializable(package="forecast_cli")
class SubtractLast(layers.Layer):
    """Subtract each window's last row from the whole window: ``x - x[:, -1:, :]``.

    The network then sees changes relative to the forecast origin, which keeps it in range
    when the level drifts outside what the training folds saw.
    """

    def call(self, x):
        return x - x[:, -1:, :]


@keras.saving.register_keras_serializable(package="forecast_cli")
class AddLast(layers.Layer):
    """Add the last input value of each target back to a ``(batch, horizon, n_targets)`` forecast."""

    def __init__(self, n_targets: int, **kwargs):
        super().__init__(**kwargs)
        self.n_targets = int(n_targets)

    def call(self, inputs):
        delta, x = inputs
        return delta + x[:, -1:, : self.n_targets]

    def get_config(self):
        return {**super().get_config(), "n_targets": self.n_targets}


@keras.saving.register_keras_serializable(package="forecast_cli")
class LastStep(layers.Layer):
    """The last time step of a sequence: ``(batch, time, units) -> (batch, 1, units)``."""

    def call(self, x):
        return x[:, -1:, :]


CUSTOM_OBJECTS = {"SubtractLast": SubtractLast, "AddLast": AddLast, "LastStep": LastStep}


def build_model(window: WindowConfig, cfg: ModelConfig, n_features: int, n_targets: int,
                learning_rate: float = 1e-3, jit_compile: bool = False) -> "keras.Model":
    """A compiled direct multi-step forecaster ``(batch, lookback, n_features) -> (batch, horizon, n_targets)``.

    Layout: [SubtractLast] -> recurrent stack (``layers`` x LSTM/GRU, ``recurrent_dropout`` on the
    state) -> [attention over the top layer's outputs] -> Dropout(``dropout``) -> Dense(horizon *
    n_targets), plus an optional linear path from the flattened window, -> [AddLast].
    ``dropout`` acts on the recurrent stack's output, not on the input features.

    >>> m = build_model(WindowConfig(30, 5), ModelConfig(units=8), n_features=1, n_targets=1)
    >>> m.output_shape
    (None, 5, 1)
    """
    H, T = window.horizon, n_targets
    inp = keras.Input((window.lookback, n_features), name="window")
    x = SubtractLast(name="subtract_last")(inp) if cfg.norm == "last" else inp
    rnn_cls = layers.GRU if cfg.model == "gru" else layers.LSTM
    h = x
    for i in range(cfg.layers):
        last_layer = i == cfg.layers - 1
        h = rnn_cls(cfg.units, return_sequences=(not last_layer) or cfg.model == "attention",
                    recurrent_dropout=cfg.recurrent_dropout, name=f"{rnn_cls.__name__.lower()}_{i + 1}")(h)
    if cfg.model == "attention":
        query = LastStep(name="last_state")(h)
        context = layers.Attention(name="attention")([query, h])
        h = layers.Flatten(name="attended")(layers.Concatenate(axis=-1)([query, context]))
    if cfg.dropout > 0:
        h = layers.Dropout(cfg.dropout, name="dropout")(h)
    # Zero-initialised heads: with norm="last" an untrained model is exactly the naive
    # forecast, and training moves it only where the data supports a change.
    zeros = "zeros" if cfg.norm == "last" else "glorot_uniform"
    out = layers.Reshape((H, T), name="rnn_head")(layers.Dense(H * T, kernel_initializer=zeros, name="head")(h))
    if cfg.linear_skip:
        lin = layers.Dense(H * T, kernel_initializer=zeros, name="linear")(layers.Flatten(name="flat_window")(x))
        out = layers.Add(name="rnn_plus_linear")([out, layers.Reshape((H, T), name="linear_head")(lin)])
    if cfg.norm == "last":
        out = AddLast(T, name="add_last")([out, inp])
    model = keras.Model(inp, out, name=f"forecast_{cfg.model}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", jit_compile=jit_compile)
    return model
