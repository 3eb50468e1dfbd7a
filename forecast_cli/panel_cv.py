"""Cross-validation of many series by time cutoffs common to all of them.

A fold is a cutoff timestamp: every forecaster is trained on the windows whose targets end at
or before it, in every series, and forecasts the span that follows it (as Nixtla's
``cross_validation`` does, but with one cutoff date for all series, so that no series' future
can teach the model about another's test span). With ``test_size`` equal to the horizon (the
default) each fold forecasts once per series, from the cutoff; a longer span adds rolling
origins inside it, each still trained only on rows up to the fold's cutoff.

The result is a long frame (``unique_id``, ``fold``, ``cutoff``, ``ds``, ``y`` and one column
per forecaster) and the metrics per series (:func:`forecast_cli.metrics.series_metrics`, each
fold scaled by its own training rows, averaged over folds) with their means over series.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError
from .metrics import HEADLINE, SERIES_METRICS, seasonal_scales, series_metrics
from .significance import (ALPHA, BEAT, LOSS_OF_METRIC, TEST_NAME, TIE, TOO_FEW, WORSE, compare, dm_test, overlap_lag,
                           window_losses)
from .windows import valid_origins

__all__ = ["Cutoff", "make_cutoffs", "fold_origins", "cross_validate_panel", "summarise", "MODEL_KEY"]

MODEL_KEY = "model"
BASELINE_ORDER = ("naive", "seasonal_naive", "linear", "ets")
VERDICT_METRIC = "mase"


@dataclass(frozen=True)
class Cutoff:
    """Fold ``index``: train on rows at or before ``cutoff``; test origins in ``[cutoff, last_origin]``,
    their targets up to ``end``."""

    index: int
    cutoff: pd.Timestamp
    last_origin: pd.Timestamp
    end: pd.Timestamp


def make_cutoffs(indexes: Sequence[pd.DatetimeIndex], horizon: int, folds: int = 5,
                 test_size: int | None = None, step: int | None = None) -> list[Cutoff]:
    """The common cutoffs: on the union of the series' timestamps, the last fold's span ends at the
    last timestamp, and each earlier fold's cutoff is ``step`` timestamps before the next one's.

    Args:
        indexes: each series' timestamps (sorted, same frequency).
        horizon: forecast length.
        folds: number of cutoffs. Defaults to 5.
        test_size: timestamps in each fold's test span (>= horizon). Defaults to the horizon
            (one forecast per series per fold).
        step: timestamps between cutoffs. Defaults to ``test_size`` (consecutive spans).

    >>> idx = pd.date_range("2024-01-01", periods=10, freq="D")
    >>> [str(c.cutoff.date()) for c in make_cutoffs([idx], horizon=2, folds=2)]
    ['2024-01-06', '2024-01-08']
    """
    if folds < 1:
        raise ConfigError(f"--folds must be an int >= 1. Got {folds}.")
    span = int(test_size or horizon)
    if span < horizon:
        raise ConfigError(f"--test-size ({span}) must be >= --horizon ({horizon}).")
    step = int(step or span)
    grid = indexes[0]
    for idx in indexes[1:]:
        grid = grid.union(idx)
    last = len(grid) - 1
    first_cut = last - span - (folds - 1) * step
    if first_cut < 1:
        raise DataError(f"{len(grid)} timestamps are too few for {folds} folds of {span} steps; "
                        "use fewer --folds or a smaller --test-size")
    out = []
    for k in range(folds):
        c = first_cut + k * step
        out.append(Cutoff(k + 1, grid[c], grid[c + span - horizon], grid[c + span]))
    return out


def fold_origins(index: pd.DatetimeIndex, values: np.ndarray, cut: Cutoff, lookback: int,
                 horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """One series' training and test origins for a fold.

    Training windows end (their last target) at or before the cutoff; test windows start at an
    origin in ``[cutoff, last_origin]`` and are complete (inputs may reach back before the cutoff:
    the past is known at forecast time).
    """
    stop = int(index.searchsorted(cut.cutoff, side="right"))  # rows <= cutoff
    train = valid_origins(values, lookback, horizon, stop=stop)
    first = int(index.searchsorted(cut.cutoff, side="left"))
    last = int(index.searchsorted(cut.last_origin, side="right")) - 1
    test = valid_origins(values, lookback, horizon, start=max(0, first - lookback + 1))
    test = test[(test >= first) & (test <= last)]
    return train, test


def _targets(values, origins, horizon):
    rows = np.asarray(origins)[:, None] + np.arange(1, horizon + 1)[None, :]
    return np.asarray(values, dtype=np.float64)[rows, 0]


def cross_validate_panel(ids: Sequence[str], indexes: Sequence[pd.DatetimeIndex], values: Sequence[np.ndarray], *,
                         lookback: int, horizon: int, season: int, make_model: Callable[[], object],
                         make_baselines: Callable[[], list], folds: int = 5, test_size: int | None = None,
                         step: int | None = None, on_fold: Callable[[int, int], None] | None = None,
                         id_col: str = "unique_id",
                         on_fold_done: Callable[[dict], None] | None = None,
                         map_folds: Callable | None = None) -> tuple[pd.DataFrame, dict]:
    """Cross-validate a many-series model and the baselines by common cutoffs.

    ``make_model()`` and each of ``make_baselines()`` return fresh forecasters with the
    many-series contract ``fit(values, origins, keys=ids)`` / ``predict(values, origins, keys=ids)``
    (lists, one entry per series; forecasts ``(n, horizon, n_targets)``); the first target is scored.

    Returns ``(frame, result)``: the long frame of every test forecast, and the JSON-ready result
    of :func:`summarise` plus ``folds`` (each fold's cutoff, windows and epochs).
    ``on_fold_done(entry)``, when given, receives each fold's entry of ``folds`` once it is scored,
    with ``mean``: each forecaster's metrics of that fold, averaged over the series it tested.
    ``map_folds(fn, items)``, when given, runs the fits elsewhere (a Dask cluster) and yields their
    results in order: one task per fold, or, with a model of one network per series (``local``),
    one per series and fold plus one for the fold's baselines (:func:`_tasks`). The numbers are
    the same as here: every fit is seeded on its own.
    """
    cuts = make_cutoffs(indexes, horizon, folds, test_size, step)
    grid = _test_grid(indexes, cuts[0].cutoff)
    frames, fold_info, per_series, losses = [], [], {}, {}
    splits = []
    for cut in cuts:
        split = [fold_origins(ix, v, cut, lookback, horizon) for ix, v in zip(indexes, values)]
        splits.append(([s[0] for s in split], [s[1] for s in split]))
    fits = _fits(ids, values, make_model, make_baselines, splits, cuts, map_folds)
    for cut, (train, test) in zip(cuts, splits):
        if on_fold:
            on_fold(cut.index, len(cuts))
        n_train = sum(len(t) for t in train)
        if not any(len(t) for t in test):
            raise DataError(f"fold {cut.index} (cutoff {cut.cutoff}) has no complete test window in any series; "
                            "use fewer --folds")
        fit = next(fits)  # in this process: the fold is fitted now, after on_fold
        names, preds = fit["names"], fit["preds"]
        fold_metrics = {}  # this fold's metrics of each series, for on_fold_done
        fold_info.append({"fold": cut.index, "cutoff": str(cut.cutoff), "test_end": str(cut.end),
                          "n_train_windows": int(n_train), "n_test_windows": int(sum(len(t) for t in test)),
                          "epochs": fit["epochs"]})
        for i, sid in enumerate(ids):
            o = test[i]
            if not len(o):
                continue
            ix, v = indexes[i], values[i]
            y = _targets(v, o, horizon)
            stop = int(ix.searchsorted(cut.cutoff, side="right"))
            scales = seasonal_scales(v[:stop, 0], season)
            cols = {id_col: sid, "fold": cut.index, "cutoff": np.repeat(ix[o], horizon),
                    "ds": ix[(o[:, None] + np.arange(1, horizon + 1)).reshape(-1)], "y": y.reshape(-1)}
            for name in names:
                p = np.asarray(preds[name][i])[:, :, 0]
                cols[name] = p.reshape(-1)
                m = series_metrics(y, p, scales)
                per_series.setdefault(sid, {}).setdefault(name, []).append(m)
                fold_metrics.setdefault(name, []).append(m)
            _keep_losses(losses, sid, grid.searchsorted(ix[o]), y,
                         {name: np.asarray(preds[name][i])[:, :, 0] for name in names}, scales)
            frames.append(pd.DataFrame(cols))
        if on_fold_done:
            on_fold_done({**fold_info[-1], "mean": _fold_means(fold_metrics)})
    fits.close()
    frame = pd.concat(frames, ignore_index=True)
    names = [MODEL_KEY] + [b for b in BASELINE_ORDER if b in frame.columns]
    result = summarise(per_series, names, losses=losses, horizon=horizon)
    result["folds"] = fold_info
    # Series whose span holds no test window of any fold (one that ended before the first cutoff):
    # trained on, never scored. Named, so that "N of M series" is never read as all of them.
    result["untested"] = [{"id": sid, "end": str(ix[-1])} for sid, ix in zip(ids, indexes) if sid not in per_series]
    return frame, result


def _fit_fold(ids, values, make_model, make_baselines, split) -> dict:
    """One fold's fits on every series: the model and the baselines fitted on the training origins,
    each forecasting the test origins. ``{"names", "preds": {name: [forecasts per series]}, "epochs"}``."""
    train, test = split
    model = make_model().fit(values, train, keys=list(ids))
    forecasters = [(MODEL_KEY, model)] + [(b.name, b.fit(values, train, keys=list(ids))) for b in make_baselines()]
    return {"names": [name for name, _ in forecasters],
            "preds": {name: f.predict(values, test, keys=list(ids)) for name, f in forecasters},
            "epochs": getattr(model, "epochs_run_", None)}


def _fit_task(ids, values, make_model, make_baselines, item) -> dict:
    """One task of :func:`_tasks`: ``("fold", split)`` as :func:`_fit_fold`; ``("baselines", split)`` the
    baselines only; ``("series", i, train_i, test_i)`` series ``i``'s own network (a ``local`` model)."""
    if item[0] == "fold":
        return _fit_fold(ids, values, make_model, make_baselines, item[1])
    if item[0] == "baselines":
        train, test = item[1]
        fitted = [(b.name, b.fit(values, train, keys=list(ids))) for b in make_baselines()]
        return {"names": [name for name, _ in fitted],
                "preds": {name: f.predict(values, test, keys=list(ids)) for name, f in fitted}}
    _, i, train_i, test_i = item
    key = [ids[i]]
    model = make_model().fit([values[i]], [train_i], keys=key)
    return {"pred": model.predict([values[i]], [test_i], keys=key)[0]}


def _tasks(ids, make_model, splits, local: bool) -> list:
    """The independent fits of a cross-validation, in order: one per fold, or with ``local`` per fold
    its baselines and then each series' network (a network per series does not see the others)."""
    if not local:
        return [("fold", split) for split in splits]
    items = []
    for train, test in splits:
        items.append(("baselines", (train, test)))
        items += [("series", i, train[i], test[i]) for i in range(len(ids))]
    return items


def _fits(ids, values, make_model, make_baselines, splits, cuts, map_folds):
    """Each fold's fits (:func:`_fit_fold`'s dict), in fold order: here, one fold at a time as they are
    taken, or from ``map_folds`` (see :func:`cross_validate_panel`)."""
    import functools

    if map_folds is None:
        for split in splits:
            yield _fit_fold(ids, values, make_model, make_baselines, split)
        return
    make_baselines()  # here too: the baselines' notes (a left-out statistical baseline) are this process's
    local = bool(getattr(make_model(), "local", False))
    task = functools.partial(_fit_task, list(ids), list(values), make_model, make_baselines)
    results = iter(map_folds(task, _tasks(ids, make_model, splits, local)))
    try:
        for train, test in splits:
            fit = next(results)
            if local:
                names = [MODEL_KEY] + fit["names"]
                own = [next(results)["pred"] for _ in ids]
                fit = {"names": names, "preds": {MODEL_KEY: own, **fit["preds"]}, "epochs": None}
            yield fit
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()


def _fold_means(fold_metrics: dict) -> dict:
    """Each forecaster's metrics of one fold (``{name: [metrics of each series]}``), averaged over series."""
    return {n: {k: _mean([m[k] for m in ms]) for k in SERIES_METRICS} for n, ms in fold_metrics.items()}


def _mean(vals):
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else None


def _test_grid(indexes: Sequence[pd.DatetimeIndex], first: pd.Timestamp) -> pd.DatetimeIndex:
    """The timestamps of every series from ``first`` on: the time axis on which test windows are
    placed (and found to overlap) for the Diebold-Mariano tests."""
    tails = [ix[ix.searchsorted(first, side="left"):].asi8 for ix in indexes]
    return pd.DatetimeIndex(np.unique(np.concatenate(tails)) if tails else np.array([], dtype="int64"))


def _keep_losses(losses: dict, sid, pos, y, preds: dict, scales, metric: str = VERDICT_METRIC) -> None:
    """Add one series' per-window losses of one fold (the verdict metric's loss, scaled like it) to
    ``losses[sid]``; nothing when that metric is undefined for the fold (a zero or unknown scale)."""
    s_abs, s_sq = scales
    scale = {"mase": s_abs, "rmsse": math.sqrt(s_sq) if s_sq is not None and s_sq >= 0 else s_sq}.get(metric, 1.0)
    if scale is None or not math.isfinite(scale) or scale <= 0:
        return
    entry = losses.setdefault(sid, {"pos": []})
    entry["pos"].append(np.asarray(pos, dtype=np.int64))
    for name, p in preds.items():
        entry.setdefault(name, []).append(window_losses(y, p, LOSS_OF_METRIC[metric], scale=[scale]))


def _series_counts(series: dict, b: str, metric: str, losses: dict | None, horizon: int, alpha: float) -> dict:
    """Series where the model beats baseline ``b`` (significantly, over that series' test windows),
    shows no significant difference, is worse, or has too few windows; ``point`` compares the
    means only (ties within 1e-9 relative), as the counts did before the test."""
    counts = {"wins": 0, "ties": 0, "losses": 0, "too_few": 0}
    point = {"wins": 0, "ties": 0, "losses": 0}
    key = {BEAT: "wins", TIE: "ties", WORSE: "losses", TOO_FEW: "too_few"}
    for s in series:
        m, n = series[s][MODEL_KEY][metric], series[s][b][metric]
        if m is None or n is None:
            continue
        point["ties" if abs(m - n) <= 1e-9 * max(abs(m), abs(n), 1e-300) else "wins" if m < n else "losses"] += 1
        if losses is not None:
            ls = losses.get(s)
            res = TOO_FEW if ls is None else compare(np.concatenate(ls[MODEL_KEY]), np.concatenate(ls[b]),
                                                     np.concatenate(ls["pos"]), horizon, alpha)["result"]
            counts[key[res]] += 1
    return {**counts, "point": point} if losses is not None else dict(point)


def _pooled_test(losses: dict, series: dict, b: str, metric: str, horizon: int, alpha: float) -> dict:
    """The model against baseline ``b`` over all series at once: at each test origin, the mean over
    series of their (scaled) window losses, tested over time (the origins are common to the series,
    so this mean is what a test across series can use without treating series as independent)."""
    keep = [s for s in series if s in losses and series[s][MODEL_KEY][metric] is not None
            and series[s][b][metric] is not None]
    if not keep:
        return dm_test([], [], alpha=alpha)
    pos = np.concatenate([p for s in keep for p in losses[s]["pos"]])
    u, inv = np.unique(pos, return_inverse=True)
    cnt = np.bincount(inv).astype(np.float64)
    mean = {k: np.bincount(inv, weights=np.concatenate([a for s in keep for a in losses[s][k]])) / cnt
            for k in (MODEL_KEY, b)}
    return dm_test(mean[MODEL_KEY], mean[b], h=overlap_lag(u, horizon), alpha=alpha)


def _verdict(series: dict, mean: dict, names: Sequence[str], metric: str, losses: dict | None, horizon: int,
             alpha: float) -> dict:
    verdict = {"metric": metric, "series": len(series), "beats": {}}
    baselines = [b for b in names if b != MODEL_KEY]
    for b in baselines:
        verdict["beats"][b] = _series_counts(series, b, metric, losses, horizon, alpha)
    means = {n: mean[n][metric] for n in names if mean[n][metric] is not None}
    if not means:
        return verdict
    close = lambda a, c: abs(a - c) <= 1e-9 * max(abs(a), abs(c), 1e-300)  # noqa: E731
    lowest = min(means.values())
    order = [b for b in BASELINE_ORDER if b in means] + [b for b in baselines if b in means and b not in BASELINE_ORDER]
    verdict["best"] = next(n for n in order + [MODEL_KEY] if n in means and close(means[n], lowest))
    verdict["model_wins"] = verdict["best"] == MODEL_KEY
    if losses is None or not order or MODEL_KEY not in means:
        return verdict
    low_b = min(means[b] for b in order)
    base = next(b for b in order if close(means[b], low_b))
    pooled = {b: _pooled_test(losses, series, b, metric, horizon, alpha) for b in order}
    head = pooled[base]
    verdict.update({
        "model": means[MODEL_KEY], "baseline": base, "baseline_value": means[base], "result": head["result"],
        "p_value": head["p_value"], "statistic": head["statistic"],
        "test": {"name": TEST_NAME, "loss": f"{LOSS_OF_METRIC[metric]} error per window over the series' scale "
                                            f"(as {metric.upper()}); per origin the mean over series", "alpha": alpha,
                 **{k: head[k] for k in ("n", "h", "mean_difference", "note") if k in head}},
        "pooled": {b: {"value": means[b], **{k: r[k] for k in ("result", "p_value", "statistic", "n", "h")}}
                   for b, r in pooled.items()},
        "model_wins": head["result"] == BEAT,
    })
    return verdict


def summarise(per_series: dict, names: Sequence[str], metric: str = VERDICT_METRIC, worst: int = 5,
              losses: dict | None = None, horizon: int = 1, alpha: float = ALPHA) -> dict:
    """Per-series metrics (averaged over folds), their means over series, and the verdict.

    The verdict counts, per baseline, the series where the model wins, ties or loses on
    ``metric``: with ``losses``, a win or a loss is a significant difference (the Diebold-Mariano
    test of :mod:`forecast_cli.significance` over that series' test windows of every fold, ties
    are no significant difference, ``too_few`` the series with too few windows to test; ``point``
    keeps the plain comparison of the means); without, the means are compared (ties within 1e-9
    relative). ``best`` is the forecaster with the lowest mean ``metric`` (on a tie, the simplest:
    baselines before the model). With ``losses``, the model is also tested against the best
    baseline (``baseline``) over all series at once (``result``, ``p_value``, ``statistic``,
    ``test``; every baseline in ``pooled``), and ``model_wins`` means a significant win.

    Args:
        per_series: ``{series: {forecaster: [metrics of each fold]}}``.
        names: the forecasters, the model first.
        metric: the verdict's measure. Defaults to ``"mase"``.
        worst: how many best and worst series to name. Defaults to 5.
        losses: ``{series: {"pos": [origins on the common time axis, per fold], forecaster:
            [per-window losses, per fold]}}``. Defaults to None (no test).
        horizon: steps per window. Defaults to 1.
        alpha: the test's level. Defaults to 0.05.
    """
    series = {}
    for sid, by_name in per_series.items():
        series[sid] = {n: {k: _mean([m[k] for m in by_name[n]]) for k in SERIES_METRICS} for n in names}
    mean = {n: {k: _mean([series[s][n][k] for s in series]) for k in SERIES_METRICS} for n in names}
    verdict = _verdict(series, mean, names, metric, losses, horizon, alpha)
    ranked = sorted((s for s in series if series[s][MODEL_KEY][metric] is not None),
                    key=lambda s: series[s][MODEL_KEY][metric])
    return {"headline": list(HEADLINE), "mean": mean, "series": series, "verdict": verdict,
            "best_series": ranked[:worst], "worst_series": ranked[::-1][:worst]}
