"""Time-series cross-validation and holdout evaluation of the model beside the baselines.

Folds follow time order (scikit-learn's ``TimeSeriesSplit`` over rows). In each fold the
target transform (``--transform``, :mod:`forecast_cli.transforms`), scaler and network are refitted
on the training rows only, and every forecast and metric is on the data's scale; a training window's targets end
before the test span begins, so no test target is ever seen in training. Test windows may
take their *inputs* from before the test span (the past is known at forecast time).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .baselines import make_baselines
from .config import ModelConfig, TrainConfig, WindowConfig
from .errors import ConfigError, DataError
from .intervals import coverage_summary
from .metrics import aggregate, check_finite, compute_metrics, mase_scale, metrics_by_step
from .significance import ALPHA, BEAT, LOSS_OF_METRIC, TEST_NAME, TIE, compare, window_losses
from .training import MIN_TRAIN_WINDOWS, NeuralForecaster
from .transforms import make_forecaster
from .windows import valid_origins

__all__ = ["Fold", "make_folds", "cross_validate", "holdout_split", "holdout_note", "fit_holdout", "verdict",
           "MODEL_KEY"]

MODEL_KEY = "model"
INTERVALS_METHOD = ("the model's conformal bands as predict draws them (ACI over the test windows), from each fold's "
                    "early-stopping validation windows; coverage and mean width on the test windows")
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


def _transform_info(net) -> dict:
    """``{"transform": {column: {"kind", "lambda"}}}`` for a forecaster with ``--transform`` other than
    none (what its training rows chose, :mod:`forecast_cli.transforms`), else ``{}``."""
    tf = getattr(net, "transform_", None)
    if tf is None:
        return {}
    return {"transform": {t["column"]: {"kind": t["kind"], "lambda": t["lambda"]} for t in tf.to_dict()["targets"]}}

def _split_origins(values, lookback, horizon, train_start, train_stop, test_start, test_stop):
    train = valid_origins(values, lookback, horizon, start=train_start, stop=train_stop)
    test = valid_origins(values, lookback, horizon, start=max(0, test_start - lookback), stop=test_stop)
    test = test[test >= test_start - 1]  # first forecast step is the first test row
    return train, test


def make_folds(values: np.ndarray, lookback: int, horizon: int, n_folds: int = 5, cv: str = "expanding",
               test_size: int | None = None, *, min_train_windows: int = 1) -> list[Fold]:
    """Chronological folds over the rows of ``values``.

    ``expanding``: every fold trains on all rows before its test span. ``sliding``: every fold
    trains on the same number of rows, the ones just before its test span.
    Test spans are consecutive, of ``test_size`` rows (default ``n_rows // (n_folds + 1)``).
    When the rows cannot hold the folds with ``min_train_windows`` complete training windows in
    each, the error names settings that fit (:func:`forecast_cli.fit_advice.fold_settings`).

    Args:
        min_train_windows: complete training windows each fold needs (the network needs
            :data:`~forecast_cli.training.MIN_TRAIN_WINDOWS`). Defaults to 1.

    >>> [(f.train_stop, f.test_start, f.test_stop) for f in make_folds(np.arange(100.0)[:, None], 10, 2, 2)]
    [(34, 34, 67), (67, 67, 100)]
    >>> make_folds(np.arange(60.0)[:, None], 30, 5, 5, min_train_windows=20)
    Traceback (most recent call last):
    ...
    forecast_cli.errors.DataError: 60 rows leave 10 training rows before the first of 5 test spans of 10 rows, fewer than lookback + horizon + 19 = 54 (20 training windows of lookback 30 and horizon 5); settings that fit: --folds 2 --test-size 11 --lookback 13 --horizon 5
    """
    from sklearn.model_selection import TimeSeriesSplit

    n_rows = len(values)
    if cv not in ("expanding", "sliding"):
        raise ConfigError(f"--cv must be 'expanding' or 'sliding'. Got {cv!r}.")
    if n_folds < 1:
        raise ConfigError(f"--folds must be an int >= 1. Got {n_folds}.")
    asked = test_size
    test_size = test_size or n_rows // (n_folds + 1)
    first_train = n_rows - n_folds * test_size
    need = lookback + horizon + min_train_windows - 1
    if test_size < horizon or first_train < need:
        _refuse_folds(n_rows, lookback, horizon, n_folds, test_size, asked, first_train, min_train_windows)
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
    short = next((f for f in folds if len(f.train_origins) < min_train_windows), None)
    if short is not None:  # enough rows, but gaps (--gaps skip) leave too few complete windows
        raise DataError(f"gaps leave fold {short.index} {len(short.train_origins)} complete training windows of "
                        f"lookback {lookback} and horizon {horizon}, fewer than the {min_train_windows} it needs; "
                        f"fill the gaps (a larger --max-gap), or use fewer --folds or a smaller --lookback")
    return folds


def _refuse_folds(n_rows, lookback, horizon, n_folds, test_size, asked, first_train, min_train_windows) -> None:
    """Raise the one-line error for folds that do not fit, with settings that do."""
    from .fit_advice import as_flags, cv_rows_needed, fold_settings

    fit = fold_settings(n_rows, lookback, horizon, n_folds, asked, min_train_windows=min_train_windows)
    if fit is None:  # not even lookback 1 and horizon 1
        advice = (f"no settings fit {n_rows} rows: use a series of at least "
                  f"{cv_rows_needed(1, horizon, 1, horizon, min_train_windows)} rows (with lookback 1 and one fold; "
                  f"{cv_rows_needed(1, 1, 1, 1, min_train_windows)} with horizon 1)")
    else:
        advice = "settings that fit: " + as_flags(fit)
    spans = f"{n_folds} test span{'s' if n_folds > 1 else ''} of {test_size} rows"
    if test_size < horizon:
        raise DataError(f"{n_rows} rows give {spans}, shorter than the horizon {horizon}; {advice}")
    windows = (f" ({min_train_windows} training windows of lookback {lookback} and horizon {horizon})"
               if min_train_windows > 1 else "")
    extra = f" + {min_train_windows - 1}" if min_train_windows > 1 else ""
    raise DataError(f"{n_rows} rows leave {max(first_train, 0)} training rows before the first of {spans}, "
                    f"fewer than lookback + horizon{extra} = {lookback + horizon + min_train_windows - 1}"
                    f"{windows}; {advice}")


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


def _fold_bands(net, values, fold: Fold, train: TrainConfig, y_true, y_pred, n_targets: int) -> dict:
    """How the model's prediction intervals cover one fold's test windows (:func:`forecast_cli.intervals.band_counts`).

    The bands come from the fold's own validation windows, the chronological tail of its training
    windows that early stopping held out (``train.val_fraction``): their residuals are the
    held-out residuals a bundle stores, and the level adapts over the fold's earlier test windows
    as predict adapts it over an input's windows after training."""
    from .forecasting import DEFAULT_LEVELS
    from .intervals import band_counts

    H = net.window.horizon
    n_val = max(1, int(round(len(fold.train_origins) * train.val_fraction)))
    val = np.asarray(fold.train_origins)[-n_val:]
    calib = _targets(values, val, H, n_targets) - net.predict(values, val)  # (n_val, H, T)
    return band_counts(np.transpose(calib, (1, 2, 0)), y_true, y_pred, fold.test_origins, DEFAULT_LEVELS)


def _add_counts(total: dict, counts: dict) -> None:
    for lv, c in counts.items():
        t = total.setdefault(lv, {k: np.zeros_like(v) for k, v in c.items()})
        for k, v in c.items():
            t[k] = t[k] + v


def run_fold(values: np.ndarray, fold: Fold, *, n_targets: int, window: WindowConfig, model: ModelConfig,
             train: TrainConfig, season: int = 1, by_step: bool = False, index=None, target_names=None,
             on_epoch: Callable[[int, int, dict], None] | None = None) -> dict:
    """Fit the network and the baselines on one fold's training rows and score them on its test windows.

    The unit of work of :func:`cross_validate` (one task per fold when the folds run elsewhere).
    Returns a dict: ``entry`` (the fold's JSON entry), ``y_true`` and ``preds`` (each forecaster's
    ``(n, horizon, n_targets)`` forecasts of the test windows), ``counts`` (interval hits, see
    :func:`_fold_bands`) and ``notes`` (why a baseline was left out).
    """
    H = window.horizon
    if len(fold.test_origins) == 0:
        raise DataError(f"fold {fold.index} has no complete test window (gaps cover its test span); "
                        "use fewer --folds or a smaller --max-gap")
    notes: list = []
    net = make_forecaster(window, model, train, n_targets, season, target_names)
    net.fit(values, fold.train_origins, on_epoch=on_epoch)
    baselines = make_baselines(window.lookback, H, n_targets, season, stat=train.stat_baseline, n_rows=len(values),
                               notes=notes)
    forecasters = [(MODEL_KEY, net)] + [(b.name, b.fit(values, fold.train_origins)) for b in baselines]
    y_true, preds, metrics, steps = _score_all(forecasters, values, (fold.train_start, fold.train_stop),
                                               fold.test_origins, H, n_targets, by_step, index)
    by_target = steps.pop("__by_target__", None)
    counts = _fold_bands(net, values, fold, train, y_true, preds[MODEL_KEY], n_targets)
    entry = {
        "fold": fold.index,
        "train_rows": [fold.train_start, fold.train_stop],
        "test_rows": [fold.test_start, fold.test_stop],
        "n_train_windows": int(len(fold.train_origins)),
        "n_test_windows": int(len(fold.test_origins)),
        **net.fit_info(),  # epochs, best_epoch, steps, max_epochs, patience, sized
        "metrics": metrics,
        "intervals": coverage_summary(counts, by_step),
    }
    entry.update(_linear_path_info(net))
    entry.update(_transform_info(net))
    if index is not None:
        entry["train_period"] = [str(index[fold.train_start]), str(index[fold.train_stop - 1])]
        entry["test_period"] = [str(index[fold.test_start]), str(index[fold.test_stop - 1])]
    if by_step:
        entry["by_step"] = steps
    if by_target:
        names = list(target_names or range(n_targets))
        entry["by_target"] = {k: {str(names[j]): m for j, m in enumerate(v)} for k, v in by_target.items()}
    return {"entry": entry, "y_true": y_true, "preds": preds, "counts": counts, "notes": notes}


def cross_validate(values: np.ndarray, *, n_targets: int, window: WindowConfig, model: ModelConfig,
                   train: TrainConfig, season: int = 1, n_folds: int = 5, cv: str = "expanding",
                   test_size: int | None = None, by_step: bool = False, index=None, target_names=None,
                   keep_predictions: bool = False,
                   on_fold: Callable[[int, int], None] | None = None,
                   on_epoch: Callable[[int, int, dict], None] | None = None,
                   on_fold_done: Callable[[dict], None] | None = None,
                   map_folds: Callable | None = None) -> dict:
    """Cross-validate the network and the baselines; return a JSON-ready result.

    Returns a dict with ``folds`` (per fold: rows, dates, window counts, epochs,
    ``metrics[name][metric]`` and ``intervals``), ``summary[name][metric] = {"mean", "std"}``,
    ``verdict`` (:func:`verdict`: mean RMSE against the best baseline's, tested over every fold's
    test windows) and ``intervals``: each level's coverage (percent) and mean width of the model's
    80 % and 95 % bands on the test windows of all folds (per step with ``by_step``; see
    :func:`_fold_bands`).
    With ``keep_predictions``, also ``predictions``: per fold a dict of ``origins``, ``y_true``
    and each forecaster's ``(n, horizon, n_targets)`` forecasts. ``on_fold(k, n)`` is called
    before fold ``k`` of ``n``; ``on_fold_done(entry)`` with each fold's entry of ``folds`` once it
    is scored (to stream finished work). ``map_folds(fn, folds)`` runs :func:`run_fold` over the folds
    and yields their results in order (default: the built-in ``map``, one fold after another here).
    """
    L, H = window.lookback, window.horizon
    values = np.asarray(values, dtype=np.float64)
    folds = make_folds(values, L, H, n_folds, cv, test_size, min_train_windows=MIN_TRAIN_WINDOWS)
    fold_out, per_name, kept, pooled, bands = [], {}, [], {}, {}
    notes: list = []  # why a baseline was left out (the AutoETS baseline: forecast_cli.stat_baselines)
    # Folds mapped elsewhere (a Dask cluster) run there: no epoch callback (it draws this process's progress bar).
    run = functools.partial(run_fold, values, n_targets=n_targets, window=window, model=model, train=train,
                            season=season, by_step=by_step, index=index, target_names=target_names,
                            on_epoch=on_epoch if map_folds is None else None)
    results = iter((map_folds or map)(run, folds))
    for fold in folds:
        if on_fold:
            on_fold(fold.index, len(folds))
        out = next(results)  # the built-in map runs the fold now, after on_fold
        entry = out["entry"]
        notes.extend(n for n in out["notes"] if n not in notes)
        _add_counts(bands, out["counts"])
        for name, loss in _window_losses(out["y_true"], out["preds"]).items():
            pooled.setdefault(name, []).append(loss)
        if keep_predictions:
            kept.append({"fold": fold.index, "origins": fold.test_origins, "y_true": out["y_true"], **out["preds"]})
        fold_out.append(entry)
        if on_fold_done:
            on_fold_done(entry)
        for name, m in entry["metrics"].items():
            per_name.setdefault(name, []).append(m)
    summary = {name: aggregate(ms) for name, ms in per_name.items()}
    means = {name: s[VERDICT_METRIC]["mean"] for name, s in summary.items()}
    result = {"folds": fold_out, "summary": summary,
              "verdict": verdict(means, {k: np.concatenate(v) for k, v in pooled.items()},
                                 np.concatenate([f.test_origins for f in folds]), H),
              "intervals": {"method": INTERVALS_METHOD, "levels": coverage_summary(bands, by_step)}}
    if n_targets > 1:
        tn = list(fold_out[0]["by_target"][MODEL_KEY])
        result["summary_by_target"] = {
            name: {t: aggregate([f["by_target"][name][t] for f in fold_out]) for t in tn} for name in per_name
        }
    if notes:
        result["notes"] = notes
    if keep_predictions:
        result["predictions"] = kept
    if by_step:
        result["summary_by_step"] = {
            name: [aggregate([f["by_step"][name][h] for f in fold_out]) for h in range(H)]
            for name in per_name
        }
    return result


def holdout_split(n_rows: int, lookback: int, horizon: int, holdout: float | int, *,
                  min_windows: int | None = None, min_train_windows: int = MIN_TRAIN_WINDOWS) -> int:
    """First row of the holdout tail: ``holdout`` rows, or that fraction of the rows if < 1.

    The tail holds the errors that the split-conformal intervals are made of, and the 80 % and
    95 % ones need ``min_windows`` = 19 windows at least
    (:func:`forecast_cli.fit_advice.min_windows_for_levels`): a fraction that holds fewer grows to
    that many (:func:`holdout_note` says so); a row count that holds fewer, and ``0``, are
    refused. The rows before the tail must hold ``min_train_windows`` training windows. A refusal
    names settings that fit (:func:`forecast_cli.fit_advice.holdout_settings`).

    Args:
        min_windows: held-out windows needed. Defaults to ``min_windows_for_levels()`` (19).
        min_train_windows: training windows needed. Defaults to 20.

    >>> holdout_split(300, 30, 5, 0.1), holdout_split(300, 30, 5, 0.05)  # 30 rows; 15 rows grow to 23
    (270, 277)
    >>> holdout_split(300, 30, 5, 0)
    Traceback (most recent call last):
    ...
    forecast_cli.errors.DataError: --holdout 0 holds out no rows; the 80 % and 95 % intervals need 19 held-out windows, 23 rows with horizon 5 (split conformal: the 95 % bound is the ceil((n+1)*0.95)-th smallest of n held-out errors); settings that fit: --holdout 23 --lookback 30 --horizon 5
    """
    from .fit_advice import as_flags, holdout_rows_needed, holdout_settings, levels_text, min_windows_for_levels

    need = min_windows_for_levels() if min_windows is None else int(min_windows)
    least = horizon + need - 1  # rows that hold `need` windows
    asked = int(round(n_rows * holdout)) if holdout < 1 else int(holdout)
    n_hold = max(asked, least) if 0 < holdout < 1 else asked
    start = n_rows - n_hold
    fit = holdout_settings(n_rows, lookback, horizon, asked, min_windows=need, min_train_windows=min_train_windows)
    advice = ("settings that fit: " + as_flags(fit) if fit is not None else
              f"no settings fit {n_rows} rows: use a series of at least "
              f"{holdout_rows_needed(1, horizon, least, min_train_windows)} rows (with lookback 1; "
              f"{holdout_rows_needed(1, 1, need, min_train_windows)} with horizon 1)")
    if n_hold < least:
        n_windows = max(0, n_hold - horizon + 1)
        held = ("holds out no rows" if n_hold <= 0 else
                f"holds out {n_hold} rows: {n_windows} window{'s' if n_windows != 1 else ''} of horizon {horizon}")
        raise DataError(f"--holdout {holdout:g} {held}; the {levels_text()} intervals need {need} held-out windows, "
                        f"{least} rows with horizon {horizon} (split conformal: the 95 % bound is the "
                        f"ceil((n+1)*0.95)-th smallest of n held-out errors); {advice}")
    if start - lookback - horizon + 1 < min_train_windows:
        grown = (f" (--holdout {holdout:g} is {asked} rows, grown to the {need} windows that the {levels_text()} "
                 "intervals need)" if n_hold > asked else "")
        raise DataError(f"{n_rows} rows leave {max(start, 0)} training rows before a holdout of {n_hold} rows{grown}, "
                        f"fewer than lookback + horizon + {min_train_windows - 1} = "
                        f"{lookback + horizon + min_train_windows - 1} ({min_train_windows} training windows of "
                        f"lookback {lookback} and horizon {horizon}); {advice}")
    return start


def holdout_note(n_rows: int, horizon: int, holdout: float | int, start: int) -> str | None:
    """What :func:`holdout_split` did to a fraction too small for the intervals, in a sentence; None
    when the tail is what ``holdout`` asked for.

    >>> holdout_note(300, 5, 0.05, holdout_split(300, 30, 5, 0.05))
    '--holdout 0.05 is 15 rows (11 windows); 23 rows were held out: the 80 % and 95 % intervals need 19 windows'
    >>> holdout_note(300, 5, 0.1, 270) is None
    True
    """
    from .fit_advice import levels_text

    asked = int(round(n_rows * holdout)) if holdout < 1 else int(holdout)
    n_hold = n_rows - start
    if n_hold == asked:
        return None
    return (f"--holdout {holdout:g} is {asked} rows ({max(0, asked - horizon + 1)} windows); {n_hold} rows were "
            f"held out: the {levels_text()} intervals need {n_hold - horizon + 1} windows")


def fit_holdout(values: np.ndarray, *, n_targets: int, window: WindowConfig, model: ModelConfig,
                train: TrainConfig, season: int = 1, holdout: float | int = 0.1, index=None,
                on_epoch=None, target_names=None) -> tuple[NeuralForecaster, dict]:
    """Fit on all rows but a holdout tail; score the network and baselines on the tail.

    Returns the fitted forecaster and a dict with ``metrics``, per-step absolute residuals
    quantiles support (``residuals``: ``(n_windows, horizon, n_targets)`` list), row ranges and
    the ``verdict`` on the holdout windows (:func:`verdict`); with ``--transform`` other than none,
    ``transform`` (each column's fitted kind and lambda, from the rows before the tail). ``target_names``
    name the columns in that entry and in messages (default ``target 1``, ...).
    """
    L, H = window.lookback, window.horizon
    values = np.asarray(values, dtype=np.float64)
    start = holdout_split(len(values), L, H, holdout)
    tr, te = _split_origins(values, L, H, 0, start, start, len(values))
    if len(te) == 0:
        raise DataError("the holdout tail has no complete window (gaps cover it); use a larger --holdout")
    net = make_forecaster(window, model, train, n_targets, season, target_names).fit(values, tr, on_epoch=on_epoch)
    notes: list = []
    baselines = make_baselines(L, H, n_targets, season, stat=train.stat_baseline, n_rows=len(values), notes=notes)
    forecasters = [(MODEL_KEY, net)] + [(b.name, b.fit(values, tr)) for b in baselines]
    y_true, preds, metrics, steps = _score_all(forecasters, values, (0, start), te, H, n_targets, True, index)
    by_target = steps.pop("__by_target__", None)
    info = {
        "train_rows": [0, start],
        "holdout_rows": [start, len(values)],
        "n_train_windows": int(len(tr)),
        "n_holdout_windows": int(len(te)),
        **net.fit_info(),  # epochs, best_epoch, steps, max_epochs, patience, sized
        "metrics": metrics,
        "by_step": steps,
        "residuals": (y_true - preds[MODEL_KEY]),
        "verdict": verdict({k: m[VERDICT_METRIC] for k, m in metrics.items()}, _window_losses(y_true, preds), te, H),
    }
    info.update(_linear_path_info(net))
    info.update(_transform_info(net))
    if notes:
        info["notes"] = notes
    if by_target:
        info["by_target"] = by_target
    if index is not None:
        info["train_period"] = [str(index[0]), str(index[start - 1])]
        info["holdout_period"] = [str(index[start]), str(index[len(values) - 1])]
    note = holdout_note(len(values), H, holdout, start)
    if note:  # a fraction too small for the intervals was grown
        info["holdout_note"] = note
    return net, info
