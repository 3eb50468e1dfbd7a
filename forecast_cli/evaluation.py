"""Time-series cross-validation and holdout evaluation of the model beside the baselines.

Folds follow time order (scikit-learn's ``TimeSeriesSplit`` over rows). In each fold the
scaler and network are refitted on the training rows only; a training window's targets end
before the test span begins, so no test target is ever seen in training. Test windows may
take their *inputs* from before the test span (the past is known at forecast time).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .baselines import make_baselines
from .config import ModelConfig, TrainConfig, WindowConfig
from .errors import ConfigError, DataError
from .metrics import aggregate, check_finite, compute_metrics, mase_scale, metrics_by_step
from .significance import ALPHA, BEAT, LOSS_OF_METRIC, TEST_NAME, TIE, compare, window_losses
from .training import NeuralForecaster
from .windows import valid_origins

__all__ = ["Fold", "make_folds", "cross_validate", "holdout_split", "fit_holdout", "verdict", "MODEL_KEY"]

MODEL_KEY = "model"
VERDICT_METRIC = "rmse"  # the verdict's metric; its test uses the matching per-window loss (squared error)


@dataclass(frozen=True)
class Fold:
    """One split: training rows ``[train_start, train_stop)``, test rows ``[test_start, test_stop)``."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int
    train_origins: np.ndarray
    test_origins: np.ndarray



def _linear_path_info(net) -> dict:
    """``{"linear_path": {"alpha", "rank", "val_mse"}}`` for a closed-form linear path (what
    validation chose), else ``{}``."""
    lin = getattr(net, "linear_fit_", None)
    if lin is None:
        return {}
    return {"linear_path": {k: lin[k] for k in ("alpha", "rank", "val_mse")}}

def _split_origins(values, lookback, horizon, train_start, train_stop, test_start, test_stop):
    train = valid_origins(values, lookback, horizon, start=train_start, stop=train_stop)
    test = valid_origins(values, lookback, horizon, start=max(0, test_start - lookback), stop=test_stop)
    test = test[test >= test_start - 1]  # first forecast step is the first test row
    return train, test


def make_folds(values: np.ndarray, lookback: int, horizon: int, n_folds: int = 5, cv: str = "expanding",
               test_size: int | None = None) -> list[Fold]:
    """Chronological folds over the rows of ``values``.

    ``expanding``: every fold trains on all rows before its test span. ``sliding``: every fold
    trains on the same number of rows, the ones just before its test span.
    Test spans are consecutive, of ``test_size`` rows (default ``n_rows // (n_folds + 1)``).
    """
    from sklearn.model_selection import TimeSeriesSplit

    n_rows = len(values)
    if cv not in ("expanding", "sliding"):
        raise ConfigError(f"--cv must be 'expanding' or 'sliding'. Got {cv!r}.")
    if n_folds < 1:
        raise ConfigError(f"--folds must be an int >= 1. Got {n_folds}.")
    test_size = test_size or n_rows // (n_folds + 1)
    if test_size < horizon:
        raise DataError(
            f"{n_rows} rows give test spans of {test_size} rows with {n_folds} folds, shorter than the "
            f"horizon {horizon}; use fewer --folds, a smaller --horizon, or a longer series"
        )
    first_train = n_rows - n_folds * test_size
    if first_train < lookback + horizon:
        raise DataError(
            f"{n_rows} rows leave {first_train} training rows for the first of {n_folds} folds, fewer than "
            f"lookback + horizon = {lookback + horizon}; use fewer --folds or a smaller --lookback"
        )
    if n_folds == 1:  # TimeSeriesSplit needs 2 or more; one fold is the last test_size rows
        spans = [(0, first_train, first_train, n_rows)]
    else:
        splitter = TimeSeriesSplit(n_splits=n_folds, test_size=test_size,
                                   max_train_size=first_train if cv == "sliding" else None)
        spans = [(int(tr[0]), int(tr[-1]) + 1, int(te[0]), int(te[-1]) + 1)
                 for tr, te in splitter.split(np.zeros((n_rows, 1)))]
    folds = []
    for k, (a, b, c, d) in enumerate(spans):
        train, test = _split_origins(values, lookback, horizon, a, b, c, d)
        folds.append(Fold(k + 1, a, b, c, d, train, test))
    return folds


def _targets(values, origins, horizon, n_targets):
    rows = np.asarray(origins)[:, None] + np.arange(1, horizon + 1)[None, :]
    return np.asarray(values, dtype=np.float64)[rows, :n_targets]


def _score_all(forecasters, values, fold_train_rows, test_origins, horizon, n_targets, by_step, index=None):
    y_true = _targets(values, test_origins, horizon, n_targets)
    scale = mase_scale(values[fold_train_rows[0]:fold_train_rows[1], :n_targets])
    metrics, steps, preds, per_target = {}, {}, {}, {}
    for name, f in forecasters:
        y_pred = f.predict(values, test_origins)
        preds[name] = y_pred
        # Say which forecaster and which window hold a NaN/inf, rather than report a number.
        if not (np.isfinite(y_true).all() and np.isfinite(y_pred).all()):
            where = [str(index[o]) if index is not None else f"row {o}" for o in test_origins]
            check_finite(y_true, y_pred, what=f"'{name}' forecasts", where=where)
        metrics[name] = compute_metrics(y_true, y_pred, scale)
        if by_step:
            steps[name] = metrics_by_step(y_true, y_pred, scale)
        if n_targets > 1:  # each target in its own units, beside the average over targets
            per_target[name] = [compute_metrics(y_true[..., j:j + 1], y_pred[..., j:j + 1], scale[j:j + 1])
                                for j in range(n_targets)]
    if per_target:
        steps["__by_target__"] = per_target
    return y_true, preds, metrics, steps


def verdict(means: dict, losses: dict, origins, horizon: int, metric: str = "rmse", alpha: float = ALPHA) -> dict:
    """The model against the best baseline: lowest mean ``metric``, and whether the difference is more than noise.

    The best baseline is the one with the lowest mean ``metric`` (on a tie, the simplest: naive,
    seasonal naive, linear). The model is tested against it, and against each baseline, with the
    Diebold-Mariano test (:mod:`forecast_cli.significance`) on the per-window losses of the test
    windows of every fold, pooled in time order.

    Args:
        means: each forecaster's mean ``metric`` (``"model"`` and the baselines).
        losses: each forecaster's per-window loss (:func:`forecast_cli.significance.window_losses`),
            the windows in the order of ``origins``.
        origins: each test window's origin row.
        horizon: steps per window.
        metric: the metric that ``means`` holds. Defaults to ``"rmse"``.
        alpha: the test's level. Defaults to 0.05.

    Returns:
        ``result`` (``"beat"``, ``"no significant difference"``, ``"worse"`` or ``"too few windows to
        test"``) against ``baseline`` (its mean in ``baseline_value``), with ``p_value``,
        ``statistic`` and the test's ``n``, ``h`` in ``test``; ``vs`` the same against every
        baseline; ``best`` the lowest mean of all (model included). ``beat_naive`` and ``tie``
        read the test against the naive baseline (a win is significant; ``tie``: no significant
        difference); ``model`` and ``naive`` are the means.

    >>> rng = np.random.default_rng(0)
    >>> base = rng.normal(4.0, 1.0, 200) ** 2
    >>> v = verdict({"model": 2.0, "naive": 2.1}, {"model": 0.25 * base, "naive": base}, range(200), 1)
    >>> v["result"], v["baseline"], v["p_value"] < 1e-9
    ('beat', 'naive', True)
    """
    baselines = [k for k in ("naive", "seasonal_naive", "linear") if means.get(k) is not None]
    baselines += [k for k in means if k not in baselines and k != MODEL_KEY and means[k] is not None]
    if not baselines:
        raise ConfigError("the verdict needs at least one baseline with a mean metric")
    close = lambda a, b: abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)  # noqa: E731
    low = min(means[k] for k in baselines)
    base = next(k for k in baselines if close(means[k], low))
    order = baselines + [MODEL_KEY]
    lowest = min(means[k] for k in order if means.get(k) is not None)
    best = next(k for k in order if means.get(k) is not None and close(means[k], lowest))
    tests = {b: compare(losses[MODEL_KEY], losses[b], origins, horizon, alpha) for b in baselines}
    vs = {b: {"value": means[b], **{k: r[k] for k in ("result", "p_value", "statistic")}} for b, r in tests.items()}
    head = tests[base]
    test = {"name": TEST_NAME, "loss": f"{LOSS_OF_METRIC.get(metric, 'squared')} error per window, mean over its "
                                      "steps and targets", "alpha": alpha,
            **{k: head[k] for k in ("n", "h", "mean_difference", "note") if k in head}}
    naive = vs.get("naive", {})
    return {"metric": metric, "model": means[MODEL_KEY], "baseline": base, "baseline_value": means[base],
            "result": head["result"], "p_value": head["p_value"], "statistic": head["statistic"], "test": test,
            "vs": vs, "best": best, "naive": means.get("naive"), "beat_naive": naive.get("result") == BEAT,
            "tie": naive.get("result") == TIE}


def _window_losses(y_true, preds: dict, metric: str = VERDICT_METRIC) -> dict:
    """Each forecaster's per-window loss for the verdict's ``metric`` (squared error for RMSE)."""
    return {name: window_losses(y_true, p, LOSS_OF_METRIC[metric]) for name, p in preds.items()}


def cross_validate(values: np.ndarray, *, n_targets: int, window: WindowConfig, model: ModelConfig,
                   train: TrainConfig, season: int = 1, n_folds: int = 5, cv: str = "expanding",
                   test_size: int | None = None, by_step: bool = False, index=None, target_names=None,
                   keep_predictions: bool = False,
                   on_fold: Callable[[int, int], None] | None = None,
                   on_epoch: Callable[[int, int, dict], None] | None = None) -> dict:
    """Cross-validate the network and the baselines; return a JSON-ready result.

    Returns a dict with ``folds`` (per fold: rows, dates, window counts, epochs and
    ``metrics[name][metric]``), ``summary[name][metric] = {"mean", "std"}`` and ``verdict``
    (:func:`verdict`: mean RMSE against the best baseline's, tested over every fold's test windows).
    With ``keep_predictions``, also ``predictions``: per fold a dict of ``origins``, ``y_true``
    and each forecaster's ``(n, horizon, n_targets)`` forecasts.
    """
    L, H = window.lookback, window.horizon
    values = np.asarray(values, dtype=np.float64)
    folds = make_folds(values, L, H, n_folds, cv, test_size)
    fold_out, per_name, kept, pooled = [], {}, [], {}
    for fold in folds:
        if on_fold:
            on_fold(fold.index, len(folds))
        if len(fold.test_origins) == 0:
            raise DataError(f"fold {fold.index} has no complete test window (gaps cover its test span); "
                            "use fewer --folds or a smaller --max-gap")
        net = NeuralForecaster(window, model, train, n_targets).fit(values, fold.train_origins, on_epoch=on_epoch)
        forecasters = [(MODEL_KEY, net)] + [(b.name, b.fit(values, fold.train_origins))
                                             for b in make_baselines(L, H, n_targets, season)]
        y_true, preds, metrics, steps = _score_all(forecasters, values, (fold.train_start, fold.train_stop),
                                                   fold.test_origins, H, n_targets, by_step, index)
        by_target = steps.pop("__by_target__", None)
        for name, loss in _window_losses(y_true, preds).items():
            pooled.setdefault(name, []).append(loss)
        if keep_predictions:
            kept.append({"fold": fold.index, "origins": fold.test_origins, "y_true": y_true, **preds})
        entry = {
            "fold": fold.index,
            "train_rows": [fold.train_start, fold.train_stop],
            "test_rows": [fold.test_start, fold.test_stop],
            "n_train_windows": int(len(fold.train_origins)),
            "n_test_windows": int(len(fold.test_origins)),
            "epochs": net.epochs_run_,
            "best_epoch": net.best_epoch_,
            "metrics": metrics,
        }
        entry.update(_linear_path_info(net))
        if index is not None:
            entry["train_period"] = [str(index[fold.train_start]), str(index[fold.train_stop - 1])]
            entry["test_period"] = [str(index[fold.test_start]), str(index[fold.test_stop - 1])]
        if by_step:
            entry["by_step"] = steps
        if by_target:
            names = list(target_names or range(n_targets))
            entry["by_target"] = {k: {str(names[j]): m for j, m in enumerate(v)} for k, v in by_target.items()}
        fold_out.append(entry)
        for name, m in metrics.items():
            per_name.setdefault(name, []).append(m)
    summary = {name: aggregate(ms) for name, ms in per_name.items()}
    means = {name: s[VERDICT_METRIC]["mean"] for name, s in summary.items()}
    result = {"folds": fold_out, "summary": summary,
              "verdict": verdict(means, {k: np.concatenate(v) for k, v in pooled.items()},
                                 np.concatenate([f.test_origins for f in folds]), H)}
    if n_targets > 1:
        tn = list(fold_out[0]["by_target"][MODEL_KEY])
        result["summary_by_target"] = {
            name: {t: aggregate([f["by_target"][name][t] for f in fold_out]) for t in tn} for name in per_name
        }
    if keep_predictions:
        result["predictions"] = kept
    if by_step:
        result["summary_by_step"] = {
            name: [aggregate([f["by_step"][name][h] for f in fold_out]) for h in range(H)]
            for name in per_name
        }
    return result


def holdout_split(n_rows: int, lookback: int, horizon: int, holdout: float | int) -> int:
    """First row of the holdout tail: ``holdout`` rows, or that fraction of the rows if < 1."""
    n_hold = int(round(n_rows * holdout)) if holdout < 1 else int(holdout)
    n_hold = max(n_hold, horizon)
    start = n_rows - n_hold
    if start < lookback + horizon + 1:
        raise DataError(f"{n_rows} rows are too few for a holdout of {n_hold} rows with lookback {lookback} "
                        f"and horizon {horizon}; use a longer series or a smaller --holdout")
    return start


def fit_holdout(values: np.ndarray, *, n_targets: int, window: WindowConfig, model: ModelConfig,
                train: TrainConfig, season: int = 1, holdout: float | int = 0.1, index=None,
                on_epoch=None) -> tuple[NeuralForecaster, dict]:
    """Fit on all rows but a holdout tail; score the network and baselines on the tail.

    Returns the fitted forecaster and a dict with ``metrics``, per-step absolute residuals
    quantiles support (``residuals``: ``(n_windows, horizon, n_targets)`` list), row ranges and
    the ``verdict`` on the holdout windows (:func:`verdict`).
    """
    L, H = window.lookback, window.horizon
    values = np.asarray(values, dtype=np.float64)
    start = holdout_split(len(values), L, H, holdout)
    tr, te = _split_origins(values, L, H, 0, start, start, len(values))
    if len(te) == 0:
        raise DataError("the holdout tail has no complete window (gaps cover it); use a larger --holdout")
    net = NeuralForecaster(window, model, train, n_targets).fit(values, tr, on_epoch=on_epoch)
    forecasters = [(MODEL_KEY, net)] + [(b.name, b.fit(values, tr))
                                         for b in make_baselines(L, H, n_targets, season)]
    y_true, preds, metrics, steps = _score_all(forecasters, values, (0, start), te, H, n_targets, True, index)
    by_target = steps.pop("__by_target__", None)
    info = {
        "train_rows": [0, start],
        "holdout_rows": [start, len(values)],
        "n_train_windows": int(len(tr)),
        "n_holdout_windows": int(len(te)),
        "epochs": net.epochs_run_,
        "best_epoch": net.best_epoch_,
        "metrics": metrics,
        "by_step": steps,
        "residuals": (y_true - preds[MODEL_KEY]),
        "verdict": verdict({k: m[VERDICT_METRIC] for k, m in metrics.items()}, _window_losses(y_true, preds), te, H),
    }
    info.update(_linear_path_info(net))
    if by_target:
        info["by_target"] = by_target
    if index is not None:
        info["train_period"] = [str(index[0]), str(index[start - 1])]
        info["holdout_period"] = [str(index[start]), str(index[len(values) - 1])]
    return net, info
