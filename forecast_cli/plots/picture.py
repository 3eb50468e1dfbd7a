"""What a plot shows, apart from how it is drawn: panels of lines, points, bands and spans.

A :class:`Picture` is built from the library's own results (a checked :class:`~forecast_cli.data.Dataset`
or :class:`~forecast_cli.panel.Panel`, a forecast table, the long frame of cross-validation forecasts)
with pandas and NumPy only; :mod:`forecast_cli.plots.render` draws the same picture into an image
file (matplotlib) or a terminal (plotext). Nothing here computes a forecast or a metric: the
builders only choose what to draw (which series, which windows, which baseline).

>>> import pandas as pd
>>> fc = pd.DataFrame({"timestamp": pd.date_range("2024-01-04", periods=2, freq="D"), "y": [3.0, 4.0],
...                    "y_lower_80": [2.0, 3.0], "y_upper_80": [4.0, 5.0], "step": [1, 2]})
>>> hist = pd.DataFrame({"y": [1.0, 2.0, 2.5]}, index=pd.date_range("2024-01-01", periods=3, freq="D"))
>>> pic = forecast_picture(fc, hist)
>>> [(layer.kind, layer.label) for layer in pic.panels[0].layers]
[('band', '80 % interval'), ('line', 'history'), ('line', 'forecast')]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError

__all__ = ["Layer", "Panel", "Picture", "check_picture", "forecast_picture", "evaluation_picture"]

MODEL = "model"  # the network's column in forecast and cross-validation frames
NAMES = {"naive": "naive", "seasonal_naive": "seasonal naive", "linear": "linear (lags)"}


@dataclass
class Layer:
    """One thing drawn in a panel.

    ``kind``: ``"line"`` (NaN in ``y`` breaks it), ``"points"``, ``"band"`` (between ``y`` and
    ``y2``), ``"span"`` (a shaded stretch of time from ``x[0]`` to ``x[1]``, labelled: a gap) or
    ``"shade"`` (the same, unlabelled background: a fold's test span; not drawn in a terminal).
    ``role`` names the colour (``"actual"``, ``"model"``, ``"baseline"``, ``"band"``, ``"mark"``,
    ``"gap"``); ``alpha`` is the band's opacity.
    """

    kind: str
    x: np.ndarray
    y: np.ndarray | None = None
    y2: np.ndarray | None = None
    label: str | None = None
    role: str = "actual"
    alpha: float = 1.0


@dataclass
class Panel:
    """One set of axes: a title and its layers, drawn in order (the first underneath)."""

    title: str
    layers: list[Layer] = field(default_factory=list)


@dataclass
class Picture:
    """Panels stacked top to bottom under a title; ``note`` says what was left out."""

    title: str
    panels: list[Panel]
    note: str = ""


def _times(index) -> np.ndarray:
    """Wall-clock datetime64 values (a UTC offset dropped: the axis shows the times as written)."""
    ix = pd.DatetimeIndex(index)
    if ix.tz is not None:
        ix = ix.tz_localize(None)
    return ix.to_numpy(dtype="datetime64[ns]")


def _left_out(shown: int, total: int, what: str) -> str:
    return f"{total - shown} more {what} not shown" if total > shown else ""


# --------------------------------------------------------------------------- check


def _gap_layers(ds, col: str) -> list[Layer]:
    """The interpolated points of ``col`` and its gaps left as NaN (each from the step before to the step after)."""
    frame, out = ds.frame, []
    idx = frame.index
    filled = [g for g in ds.gaps if g.filled and col in g.columns]
    if filled:
        mask = np.zeros(len(idx), dtype=bool)
        for g in filled:
            mask[idx.get_loc(g.start):idx.get_loc(g.end) + 1] = True
        n = int(mask.sum())
        out.append(Layer("points", _times(idx[mask]), frame[col].to_numpy()[mask],
                         label=f"interpolated ({n})", role="mark"))
    left = [g for g in ds.gaps if not g.filled and col in g.columns]
    for k, g in enumerate(left):
        lo = max(idx.get_loc(g.start) - 1, 0)
        hi = min(idx.get_loc(g.end) + 1, len(idx) - 1)
        out.append(Layer("span", _times(idx[[lo, hi]]), label=None if k else f"gap ({len(left)})", role="gap",
                         alpha=0.25))
    return out


def check_picture(data, max_panels: int = 6, title: str | None = None) -> Picture:
    """The series of a checked input: each column (or, for many series, each series' first column),
    its interpolated points and its gaps. At most ``max_panels`` panels; the note counts the rest.

    Args:
        data: a :class:`~forecast_cli.data.Dataset` (one file) or a :class:`~forecast_cli.panel.Panel`
            (many series), as :func:`forecast_cli.api.check` returns.
        max_panels: most panels drawn. Defaults to 6.
        title: the picture's title. Defaults to the file's name (and the number of series).
    """
    if hasattr(data, "frame"):  # one series: a panel per column (targets first)
        pairs = [(col, data, col) for col in data.frame.columns]
        default, what = data.source, "columns"
    else:
        pairs = [(f"{sid}: {ds.frame.columns[0]}", ds, ds.frame.columns[0]) for sid, ds in data]
        default, what = f"{data.source} ({len(pairs)} series)", "series"
    panels = []
    for name, ds, col in pairs[:max_panels]:
        layers = [Layer("line", _times(ds.frame.index), ds.frame[col].to_numpy(dtype=np.float64), label=col)]
        panels.append(Panel(name, layers + _gap_layers(ds, col)))
    return Picture(title or default, panels, _left_out(len(panels), len(pairs), what))


# --------------------------------------------------------------------------- predict


def _forecast_targets(frame: pd.DataFrame, id_col: str | None) -> list[str]:
    skip = {"timestamp", "step", "short_history", id_col}
    return [c for c in frame.columns if c not in skip and "_lower_" not in c and "_upper_" not in c]


def _levels(frame: pd.DataFrame, target: str) -> list[str]:
    """The interval levels present for ``target`` (column ``{target}_lower_{level}``), widest first."""
    prefix = f"{target}_lower_"
    found = [c[len(prefix):] for c in frame.columns
             if c.startswith(prefix) and f"{target}_upper_{c[len(prefix):]}" in frame.columns]
    return sorted(found, key=float, reverse=True)


def _history_of(history, key, target: str, id_col: str | None) -> pd.Series:
    """The observed values of ``target`` for series ``key`` (None: the only series) as a Series by
    time; empty when ``history`` does not hold them (the forecast is drawn alone)."""
    empty = pd.Series(dtype=np.float64, index=pd.DatetimeIndex([]))
    if history is None:
        return empty
    if hasattr(history, "ids") and hasattr(history, "series"):  # a Panel
        history = dict(zip(history.ids, history.series)).get(key) if key is not None else history.series[0]
    if hasattr(history, "frame"):  # a Dataset
        return history.frame[target] if target in history.frame else empty
    if history is None or target not in history.columns:
        return empty
    frame = history
    if id_col is not None and id_col in frame.columns:
        frame = frame[frame[id_col] == key]
    for time_col in ("timestamp", "ds"):
        if time_col in frame.columns:
            return pd.Series(frame[target].to_numpy(dtype=np.float64), index=pd.DatetimeIndex(frame[time_col]))
    return frame[target]


def _forecast_panel(title: str, rows: pd.DataFrame, target: str, past: pd.Series, tail: int) -> Panel:
    past = past.iloc[-tail:] if tail else past.iloc[:0]
    x = _times(rows["timestamp"])
    point = rows[target].to_numpy(dtype=np.float64)
    layers = []
    for k, lv in enumerate(_levels(rows, target)):
        layers.append(Layer("band", x, rows[f"{target}_lower_{lv}"].to_numpy(dtype=np.float64),
                            rows[f"{target}_upper_{lv}"].to_numpy(dtype=np.float64), label=f"{lv} % interval",
                            role="band", alpha=0.18 + 0.17 * k))
    if len(past):
        layers.append(Layer("line", _times(past.index), past.to_numpy(dtype=np.float64), label="history"))
        x = np.concatenate([_times(past.index[-1:]), x])  # the forecast starts from the last observation
        point = np.concatenate([past.to_numpy(dtype=np.float64)[-1:], point])
    layers.append(Layer("line", x, point, label="forecast", role="model"))
    return Panel(title, layers)


def forecast_picture(forecast, history=None, *, tail: int | None = None, max_panels: int = 6,
                     title: str | None = None) -> Picture:
    """The recent history, the forecast and its interval bands: a panel per target (one series) or
    per series (many series, the first ``max_panels``).

    Args:
        forecast: a forecast table as :func:`forecast_cli.forecasting.predict` makes it (its
            ``frame``, or the :class:`~forecast_cli.forecasting.Forecast` itself): ``timestamp``,
            per target the point forecast and ``{target}_lower_{level}``/``{target}_upper_{level}``,
            ``step``; for many series, the id column first (and ``short_history``).
        history: the observed series: a :class:`~forecast_cli.data.Dataset`, a
            :class:`~forecast_cli.panel.Panel`, a frame indexed by time with the target columns, or
            a long frame (the id column, ``timestamp`` or ``ds``, the target). None: only the
            forecast, or ``forecast.history`` when a Forecast carries one. Defaults to None.
        tail: rows of history shown. Defaults to three lookbacks when the Forecast's ``info``
            has ``lookback``, else four times the forecast's steps, at least 30.
        max_panels: most panels drawn. Defaults to 6.
        title: the picture's title. Defaults to "forecast of FILE" (the Forecast's file), else "forecast".
    """
    frame, info = forecast, {}
    if not isinstance(forecast, pd.DataFrame):  # a Forecast
        frame, info = forecast.frame, dict(getattr(forecast, "info", None) or {})
        history = getattr(forecast, "history", None) if history is None else history
    id_col = frame.columns[0] if frame.columns[0] != "timestamp" else None
    targets = _forecast_targets(frame, id_col)
    steps = int(frame["step"].max()) if "step" in frame and len(frame) else len(frame)
    if tail is None:
        tail = 3 * int(info["lookback"]) if info.get("lookback") else max(4 * steps, 30)
    tail = int(tail)
    if id_col is None:
        keys = [(t, None, t, frame) for t in targets]
        what = "targets"
    else:
        keys = [(str(sid), sid, targets[0], rows) for sid, rows in frame.groupby(id_col, sort=False)]
        what = "series"
    panels = [_forecast_panel(name, rows, target, _history_of(history, key, target, id_col), tail)
              for name, key, target, rows in keys[:max_panels]]
    title = title or (f"forecast of {info['file']}" if info.get("file") else "forecast")
    return Picture(title, panels, _left_out(len(panels), len(keys), what))


# --------------------------------------------------------------------------- evaluate


def _cv_layout(frame: pd.DataFrame) -> tuple[str, str, str, str, list[str]]:
    """(key, time, origin, actual, forecaster columns) of either long layout of cross-validation forecasts."""
    if {"target", "timestamp", "origin", "actual"} <= set(frame.columns):  # one series (api.write_predictions)
        key, time, origin, actual = "target", "timestamp", "origin", "actual"
        fixed = {"fold", "origin", "timestamp", "step", "target", "actual"}
    elif {"ds", "cutoff", "y"} <= set(frame.columns):  # many series (Forecaster.cross_validate)
        key, time, origin, actual = frame.columns[0], "ds", "cutoff", "y"
        fixed = {key, "fold", "cutoff", "ds", "y"}
    else:
        raise ConfigError("cannot plot these cross-validation forecasts: expected the columns of forecast evaluate "
                          "--predictions (fold, origin, timestamp, target, actual, ...) or of "
                          "Forecaster.cross_validate (id, fold, cutoff, ds, y, ...)")
    names = [c for c in frame.columns if c not in fixed and pd.api.types.is_numeric_dtype(frame[c])]
    if MODEL not in names:
        raise ConfigError(f"cannot plot these cross-validation forecasts: no '{MODEL}' column")
    return key, time, origin, actual, names


def _best_baseline(frame: pd.DataFrame, actual: str, names: Sequence[str]) -> str | None:
    """The baseline with the lowest mean squared error over every forecast in ``frame`` (a choice of
    what to draw when the caller names none, not a verdict)."""
    truth = frame[actual].to_numpy(dtype=np.float64)
    errs = {}
    for n in names:
        d = frame[n].to_numpy(dtype=np.float64) - truth
        d = d[np.isfinite(d)]
        if n != MODEL and d.size:
            errs[n] = float(np.mean(d * d))
    return min(errs, key=errs.get) if errs else None


def _window_paths(rows: pd.DataFrame, time: str, origin: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One line through the forecasts of non-overlapping windows (every horizon-th origin of each
    fold), a NaN after each window so that each is drawn on its own. Vectorised: a long test span
    holds tens of thousands of windows."""
    xs, ys = [], []
    for _, fold in rows.groupby("fold", sort=True):
        pos = fold[origin].rank(method="dense").to_numpy(dtype=np.int64) - 1  # each row's origin, counted
        horizon = max(1, len(fold) // (int(pos.max()) + 1))
        w = fold[pos % horizon == 0].sort_values([origin, time], kind="stable")
        x, y = _times(w[time]), w[name].to_numpy(dtype=np.float64)
        o = w[origin].to_numpy()
        ends = np.append(np.flatnonzero(o[1:] != o[:-1]) + 1, len(o))
        xs.append(np.insert(x, ends, x[ends - 1]))
        ys.append(np.insert(y, ends, np.nan))
    if not xs:
        return np.array([], dtype="datetime64[ns]"), np.array([])
    return np.concatenate(xs), np.concatenate(ys)


def _evaluation_panel(title: str, rows: pd.DataFrame, layout, baseline: str | None, baseline_label: str) -> Panel:
    _, time, origin, actual, _ = layout
    layers = []
    for k, (_, fold) in enumerate(rows.groupby("fold", sort=True)):
        span = _times(pd.DatetimeIndex(fold[time]).sort_values()[[0, -1]])
        layers.append(Layer("shade", span, role="gap", alpha=0.06 if k % 2 else 0.12))
    truth = rows.drop_duplicates(time).sort_values(time)
    layers.append(Layer("line", _times(truth[time]), truth[actual].to_numpy(dtype=np.float64), label="actual"))
    if baseline:
        x, y = _window_paths(rows, time, origin, baseline)
        layers.append(Layer("line", x, y, label=baseline_label, role="baseline"))
    x, y = _window_paths(rows, time, origin, MODEL)
    layers.append(Layer("line", x, y, label="model", role="model"))
    return Panel(title, layers)


def _chosen_series(ids: list, metrics: dict, series, per_side: int) -> tuple[list, str]:
    """Which series to draw, and the note on the rest: ``series`` as given, else the best and worst
    ``per_side`` of ``metrics`` (``best_series``/``worst_series``), else the first ones."""
    known = set(ids)
    if series is not None:
        chosen = [s for s in series if s in known]
        return chosen, _left_out(len(chosen), len(ids), "series")
    best = list(metrics.get("best_series") or [])[:per_side]
    worst = list(metrics.get("worst_series") or [])[:per_side]
    if best or worst:
        chosen = [s for s in dict.fromkeys([*best, *worst]) if s in known]
        metric = str((metrics.get("verdict") or {}).get("metric") or "mase").upper()
        rest = len(ids) - len(chosen)
        return chosen, (f"the best and worst {per_side} series by the model's {metric}; {rest} more not shown"
                        if rest > 0 else "")
    chosen = ids[:2 * per_side]
    return chosen, _left_out(len(chosen), len(ids), "series")


def _choose_baseline(frame: pd.DataFrame, baseline: str | None, metrics: dict, actual: str,
                     names: list[str]) -> tuple[str | None, str]:
    """(the baseline column to draw, its legend label)."""
    if baseline is not None:
        if baseline not in names or baseline == MODEL:
                raise ConfigError(f"no baseline '{baseline}' among the forecasts; choose one of "
                              f"{', '.join(n for n in names if n != MODEL)}")
        return baseline, NAMES.get(baseline, baseline)
    named = (metrics.get("verdict") or {}).get("baseline")
    chosen = named if named in names and named != MODEL else _best_baseline(frame, actual, names)
    return chosen, f"{NAMES.get(chosen, chosen)} (best baseline)"


def evaluation_picture(frame: pd.DataFrame, *, baseline: str | None = None, metrics: dict | None = None,
                       series: Sequence | None = None, per_side: int = 3, title: str | None = None) -> Picture:
    """Actual values against each fold's forecasts of the model and of the best baseline.

    One series: a panel per target. Many series: a panel per series, the best and worst
    ``per_side`` of them. Each fold's test span is shaded; of each fold's test windows, every
    horizon-th one is drawn, so that the windows do not overlap.

    Args:
        frame: the long frame of cross-validation forecasts, in either layout: one series, the
            columns of ``forecast evaluate --predictions`` (``fold, origin, timestamp, step,
            target, actual, model, naive, ...``); many series, the frame of
            :meth:`~forecast_cli.forecaster.Forecaster.cross_validate` (``id, fold, cutoff, ds, y,
            model, naive, ...``).
        baseline: the baseline drawn beside the model (a column of ``frame``). Defaults to the
            verdict's (``metrics["verdict"]["baseline"]``), else the one with the lowest mean
            squared error over the frame.
        metrics: the evaluate result, or ``frame.attrs["metrics"]``: its verdict's baseline and,
            for many series, ``best_series``/``worst_series`` and the per-series MASE in the
            titles. Defaults to ``frame.attrs.get("metrics")``.
        series: many series: the ids to draw, overriding the choice by ``metrics``. Defaults to None.
        per_side: many series: how many of the best and of the worst series. Defaults to 3.
        title: the picture's title. Defaults to "cross-validation".
    """
    layout = _cv_layout(frame)
    key, _, _, actual, names = layout
    metrics = (metrics if metrics is not None else frame.attrs.get("metrics")) or {}
    baseline, label = _choose_baseline(frame, baseline, metrics, actual, names)
    ids = list(dict.fromkeys(frame[key]))
    if key == "target":
        chosen, note, per_series = ids, "", {}
    else:
        (chosen, note), per_series = _chosen_series(ids, metrics, series, per_side), metrics.get("series") or {}
    panels = []
    for sid in chosen:
        name = str(sid)
        mase = ((per_series.get(sid) or {}).get(MODEL) or {}).get("mase")
        if mase is not None:
            name += f" (model MASE {mase:.3g})"
        panels.append(_evaluation_panel(name, frame[frame[key] == sid], layout, baseline, label))
    return Picture(title or "cross-validation", panels, note)
