"""The training budget (issue 15): epochs and patience sized to the training windows by a budget of
optimisation steps when --epochs is not given; a given --epochs (or --patience) used exactly; what
was used recorded for the fold JSON."""
from __future__ import annotations

import numpy as np
import pytest

from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig, split_settings
from forecast_cli.errors import ConfigError
from forecast_cli.training import MAX_EPOCHS, MIN_EPOCHS, NeuralForecaster, train_budget


def test_budget_sizes_epochs_to_the_windows():
    small, large = train_budget(TrainConfig(), 200), train_budget(TrainConfig(), 20_000)
    # 1000 steps: 200 windows are 4 batches of 64, so an epoch is 25 steps (passes cycled) -> 40 epochs
    assert (small.epochs, small.steps_per_epoch, small.repeat, small.patience, small.sized) == (40, 25, True, 5, True)
    assert small.epochs * small.steps_per_epoch == 1000
    # 20,000 windows are 313 batches: one pass an epoch, 4 passes raised to the floor of 10
    assert (large.epochs, large.steps_per_epoch, large.repeat, large.patience) == (MIN_EPOCHS, 313, False, 5)
    # the patience is a tenth of the steps: 5,000 steps of one 100-step pass -> 50 epochs, patience 5
    mid = train_budget(TrainConfig(steps=5000), 6400)
    assert (mid.epochs, mid.steps_per_epoch, mid.patience) == (50, 100, 5)
    assert train_budget(TrainConfig(steps=20_000), 6400).patience == 20
    assert train_budget(TrainConfig(steps=10**6), 200).epochs == MAX_EPOCHS


def test_explicit_epochs_and_patience_are_honoured():
    for n, one_pass in ((200, 4), (20_000, 313)):
        b = train_budget(TrainConfig(epochs=30), n)
        assert (b.epochs, b.patience, b.steps_per_epoch, b.repeat, b.sized) == (30, 5, one_pass, False, False)
    assert train_budget(TrainConfig(epochs=3, patience=1), 200).patience == 1
    assert train_budget(TrainConfig(patience=2), 200).patience == 2  # sized epochs, given patience
    assert train_budget(TrainConfig(epochs=7, batch_size=8), 200).epochs == 7


def test_budget_settings_are_declared_and_checked():
    _, _, _, train = split_settings()
    assert (train.epochs, train.steps, train.patience) == (None, 1000, None)
    with pytest.raises(ConfigError, match=r"--steps must be an int >= 1\. Got 0\."):
        split_settings(steps=0).check()
    with pytest.raises(ConfigError, match=r"--epochs must be an int >= 1"):
        split_settings(epochs=0).check()


def _series(n=200, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (np.sin(2 * np.pi * t / 12) + 0.2 * rng.standard_normal(n))[:, None]


TINY = ModelConfig(units=4, dropout=0.0)


def test_fit_runs_the_given_epochs_and_records_them():
    v = _series()
    origins = np.arange(11, 150)
    net = NeuralForecaster(WindowConfig(12, 3), TINY, TrainConfig(epochs=2, patience=5), 1).fit(v, origins)
    info = net.fit_info()
    # 139 windows: 14 for early stopping, 125 trained = 2 batches of 64 per epoch
    assert info == {"epochs": 2, "best_epoch": info["best_epoch"], "steps": 4, "max_epochs": 2, "patience": 5,
                    "sized": False}
    assert info["best_epoch"] in (0, 1, 2)  # 0: the closed-form linear path alone was kept


def test_fit_sizes_epochs_from_steps():
    v = _series()
    origins = np.arange(11, 150)
    tc = TrainConfig(steps=250, patience=0, batch_size=64)  # 2 batches a pass: 25-step epochs -> 10 epochs
    net = NeuralForecaster(WindowConfig(12, 3), TINY, tc, 1).fit(v, origins)
    info = net.fit_info()
    assert (info["max_epochs"], info["patience"], info["sized"]) == (10, 0, True)
    assert 1 <= info["epochs"] <= 10 and info["steps"] == 25 * info["epochs"]
    assert len(net.history_["loss"]) == info["epochs"]


def test_one_series_default_fits_the_linear_path_in_closed_form_from_100_windows():
    """linear_fit="auto" (the default): from LSTSQ_MIN_WINDOWS training windows the ridge path is the
    base and the network trains on its residual; below, the path is trained with the network (adam);
    the network of many series reads "auto" as adam (a trainable path)."""
    from forecast_cli.models import build_model
    from forecast_cli.training import LSTSQ_MIN_WINDOWS

    assert ModelConfig().linear_fit == "auto" and LSTSQ_MIN_WINDOWS == 100
    v = _series()
    fit = lambda origins, **kw: NeuralForecaster(WindowConfig(12, 3), ModelConfig(units=4, **kw),  # noqa: E731
                                                 TrainConfig(epochs=1), 1).fit(v, origins)
    many, few = fit(np.arange(11, 111)), fit(np.arange(11, 110))  # 100 and 99 training windows
    assert set(many.linear_fit_) >= {"alpha", "rank", "val_mse"} and many.linear_val_ is not None
    assert not many.model_.get_layer("linear").trainable
    assert few.linear_val_ is None and few.model_.get_layer("linear").trainable
    shared = build_model(WindowConfig(12, 3), ModelConfig(units=4), n_features=1, n_targets=1)
    assert shared.get_layer("linear").trainable
