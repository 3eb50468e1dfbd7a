"""Forecast past the end of a series with a saved bundle, with conformal prediction intervals.

The network forecasts ``horizon`` steps at once from the last ``lookback`` rows of the input
(direct multi-step). Intervals are split-conformal: for each horizon step and target, the
half-width at level ``a`` is the ``ceil((n + 1) * a / 100)``-th smallest absolute residual
(truth - forecast) of the ``n`` held-out windows saved in the bundle at training time. A bundle
with ``conformal.adaptive`` (written since issue 14) takes that quantile at the level adaptive
conformal inference reaches over the input's windows after the training data
(:func:`adaptive_bounds`, :mod:`forecast_cli.intervals`), so that the bands follow drift.

``--steps`` beyond the trained horizon is refused (no recursive forecasting): feeding forecasts
back as inputs compounds their errors, and the saved residuals say nothing about how wide the
intervals of such steps would be. Retrain with a longer ``--horizon`` instead.

>>> import numpy as np
>>> bounds = conformal_bounds(np.arange(1.0, 20.0).reshape(1, 1, 19), [80])
>>> bounds[80][1].tolist()  # rank ceil(20 * 0.8) = 16 -> the 16th smallest |residual|
[[16.0]]
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NoReturn, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError, DataError

__all__ = ["DEFAULT_LEVELS", "check_levels", "check_steps", "conformal_bounds", "data_config", "load_input",
           "last_window", "future_timestamps", "forecast_frame", "predict_frame", "predict", "Forecast",
           "write_frame", "level_name", "INTERVAL_METHOD", "check_forecast", "check_value_range",
           "frequency_warning", "FLOAT32_MAX", "predict_many", "window_bounds", "long_forecast_frame",
           "input_series", "adaptive_bounds", "ADAPTIVE_METHOD"]

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the network computes in float32

DEFAULT_LEVELS = (80.0, 95.0)
INTERVAL_METHOD = "split conformal: per step and target, quantile of |holdout residual| at rank ceil((n+1)*level/100)"
ADAPTIVE_METHOD = (INTERVAL_METHOD + "; the level adapted by ACI (Gibbs and Candes 2021) to the misses on the input's "
                   "windows after the training data")


def level_name(level: float) -> str:
    """``80.0 -> '80'``, ``97.5 -> '97.5'`` (used in column names)."""
    return f"{float(level):g}"


def check_levels(levels: Sequence[float] | None) -> tuple[float, ...]:
    """Sorted unique interval levels, each strictly between 0 and 100 (percent)."""
    if levels is None or len(levels) == 0:
        return DEFAULT_LEVELS
    out = []
    for lv in levels:
        try:
            v = float(lv)
        except (TypeError, ValueError):
            raise ConfigError(f"--level must be a number between 0 and 100 (a percentage). Got {lv!r}.") from None
        if not 0.0 < v < 100.0 or not math.isfinite(v):
            raise ConfigError(f"--level must be between 0 and 100 (exclusive), a percentage such as 80 or 95. "
                              f"Got {lv}.")
        out.append(v)
    return tuple(sorted(set(out)))


def check_steps(steps: int | None, horizon: int) -> int:
    """``steps`` (default: the horizon); more than the trained horizon is refused."""
    if steps is None:
        return horizon
    if steps < 1:
        raise ConfigError(f"--steps must be an int >= 1. Got {steps}.")
    if steps > horizon:
        raise ConfigError(f"--steps {steps} exceeds the horizon {horizon} the model was trained for; "
                          f"retrain with --horizon {steps} (forecasts are not extended recursively)")
    return int(steps)


def conformal_bounds(residuals, levels: Sequence[float], warnings: list | None = None) -> dict:
    """Split-conformal interval offsets per horizon step and target.

    Args:
        residuals: array-like ``(horizon, n_targets, n)`` of held-out residuals (truth - forecast).
        levels: coverage levels in percent, each in (0, 100).
        warnings: a list that receives a message when ``n`` is too small for a level (then the
            largest residual is used and the interval may cover less than asked).

    Returns:
        ``{level: (lower_offset, upper_offset)}``, each ``(horizon, n_targets)``; add them to the
        point forecast. ``lower_offset <= 0 <= upper_offset``; wider for higher levels.
    """
    r = np.abs(np.asarray(residuals, dtype=np.float64))
    if r.ndim != 3:
        raise ValueError(f"residuals must be 3-D (horizon, n_targets, n). Received shape {r.shape}.")
    H, T, n_all = r.shape
    levels = check_levels(levels)
    # Non-finite residuals (never expected) sort last and are not counted.
    r = np.sort(np.where(np.isfinite(r), r, np.inf), axis=2)
    n = np.isfinite(r).sum(axis=2)  # (H, T)
    out = {}
    short = []
    for lv in levels:
        k = np.ceil((n + 1) * lv / 100.0).astype(np.int64)  # 1-based rank
        too_small = k > n
        if too_small.any():
            short.append(level_name(lv))
        k = np.clip(k, 1, np.maximum(n, 1)) - 1
        q = np.take_along_axis(r, k[..., None], axis=2)[..., 0] if n_all else np.full((H, T), np.nan)
        q = np.where(n > 0, q, np.nan)
        out[lv] = (-q, q)
    if short and warnings is not None:
        warnings.append(f"only {int(n.min())} held-out residuals per step: too few for the {', '.join(short)}% "
                        "interval(s), which use the largest residual and may cover less than stated; "
                        "train on a longer series or with a larger --holdout")
    if (n == 0).any() and warnings is not None:
        warnings.append("the bundle holds no held-out residuals for some steps; their intervals are empty (NaN)")
    return out


def data_config(manifest: dict):
    """The DataConfig to read new input for a bundle: its columns, date column, separators, markers.

    Long gaps do not stop a forecast: only the last window has to be complete
    (``gaps="skip"``; see :func:`last_window`).
    """
    from .config import DataConfig, from_dict

    d = dict(manifest["data"])
    d["target"] = list(manifest["data"].get("target") or [])
    d["features"] = list(manifest["data"].get("features") or [])
    d["gaps"] = "skip"
    return from_dict(DataConfig, d).check()


def load_input(source, manifest: dict, cfg=None):
    """Read an input for a bundle; a missing model column is an error that names it.

    ``cfg``: the bundle's :func:`data_config`, when the caller reads many inputs.
    """
    from . import data as _data
    from . import reading as _reading

    cfg = cfg or data_config(manifest)
    md = manifest["data"]
    # The one reader: a clean file takes its fast path (the bundle's frequency is known), anything
    # unusual the full reading and its diagnosis.
    try:
        return _data.load(source, cfg, require_target=True, expect=(md.get("freq"), bool(md.get("trading_days"))))
    except DataError as e:
        if "not found" not in e.message or (isinstance(source, str) and source == "-"):
            raise
        needed = list(cfg.target) + list(cfg.features)
        if cfg.date_col:
            needed.insert(0, cfg.date_col)
        try:
            have = list(_reading.read_table(source, cfg).columns)
        except DataError:
            raise e from None
        missing = [c for c in needed if c not in have]
        if not missing:
            raise
        name = "column" if len(missing) == 1 else "columns"
        raise DataError(f"{name} {', '.join(repr(c) for c in missing)} not found: the model needs "
                        f"{', '.join(repr(c) for c in needed)}; the file has {', '.join(have) or '(none)'}",
                        path=e.path or _reading._source_name(source)) from None


def last_window(ds, lookback: int, allow_short: bool = False) -> np.ndarray:
    """The last ``lookback`` rows of a dataset as ``(lookback, n_columns)`` float64; complete or an error.

    ``allow_short``: a dataset shorter than ``lookback`` gives all its rows (a global model pads them)."""
    n = len(ds.values)
    if n < lookback and not allow_short:
        _too_short(n, ds.rows_read, lookback, ds.source)
    lookback = min(lookback, n)
    win = ds.values[n - lookback:]
    if not np.isfinite(win).all():
        bad = ~np.isfinite(win)
        rows, cols = np.nonzero(bad)
        col = ds.frame.columns[cols[0]]
        ts = ds.frame.index[n - lookback + rows[0]]
        raise DataError(f"the last {lookback} rows (the window the forecast starts from, from "
                        f"{ds.frame.index[n - lookback]} to {ds.frame.index[-1]}) have {int(bad.sum())} missing "
                        f"value(s), the first in column '{col}' at {ts}; fill them or raise --max-gap when "
                        "training", path=ds.source)
    return np.asarray(win, dtype=np.float64)


def _too_short(n: int, rows_read: int, lookback: int, source: str) -> NoReturn:
    read = f" ({rows_read} read, gaps filled)" if rows_read and rows_read != n else ""
    raise DataError(f"too short: {n} rows{read}, fewer than the {lookback} rows (lookback) the model "
                    "needs to forecast from; give a longer series", path=source)


def input_tail(source, manifest: dict, cfg, lookback: int, steps: int,
               warnings: list | None = None, allow_short: bool = False,
               on_dataset=None) -> tuple[int, np.ndarray, np.ndarray]:
    """``(rows_read, last_window, future_timestamps)`` of one input: all that scoring needs of a file.

    Read by :func:`load_input` (the one reader: a clean file takes its fast path, and its Dataset
    builds no DataFrame here), then :func:`last_window`. The future timestamps of a tz-naive input
    come as datetime64[ns] values (:func:`forecast_cli.calendar.future_stamps`), of an input with a
    UTC offset as :func:`future_timestamps`' DatetimeIndex. ``warnings`` receives
    :func:`frequency_warning`'s message; ``on_dataset``, when given, the Dataset read.
    """
    from . import calendar as _calendar

    ds = load_input(source, manifest, cfg)
    if on_dataset is not None:
        on_dataset(ds)
    win = last_window(ds, lookback, allow_short)
    _warn_frequency(warnings, ds.source, ds.freq, ds.freq_label, ds.trading_days, manifest)
    if ds.tz:
        return ds.rows_read, win, future_timestamps(ds, manifest, steps, None)
    md = manifest["data"]
    trading = bool(ds.trading_days or md.get("trading_days"))
    try:
        ts = _calendar.future_stamps(ds.stamps[-1], ds.freq or md.get("freq"), steps, trading)
    except DataError as e:
        raise DataError(e.message, path=ds.source) from None
    return ds.rows_read, win, ts


def load_by_id(source, cfg):
    """The series of a long file by ``cfg.id_col`` (a :class:`~forecast_cli.panel.Panel`), or None when
    the file has no such column: a file without the bundle's id column is one series, named by its
    stem (the README's rule), as a folder of one file per series is."""
    from .panel import load_panel

    try:
        return load_panel(source, cfg, require_target=True, min_rows=1)
    except DataError as e:
        if f"column '{cfg.id_col}' not found" not in e.message:
            raise
    if isinstance(source, str) and source == "-":
        raise DataError(f"stdin has no column '{cfg.id_col}'; give --id-col NAME", path="-")
    return None


def input_series(source, manifest: dict, cfg, lookback: int, steps: int,
                 warnings: list | None = None, on_dataset=None) -> list[tuple[str | None, int, np.ndarray, object]]:
    """What scoring needs of one input for a bundle of many series: ``[(id, rows_read, window, future
    timestamps)]``. A long file (``cfg.id_col``) gives one entry per series; any other file one entry,
    id None. A window holds at most ``lookback`` rows: a shorter one is a short history, padded by
    the model. ``on_dataset``, when given, is called with each entry's id and its whole Dataset."""
    panel = load_by_id(source, cfg) if cfg.id_col else None
    if panel is None:
        rows, win, ts = input_tail(source, manifest, cfg, lookback, steps, warnings, allow_short=True,
                                   on_dataset=None if on_dataset is None else lambda ds: on_dataset(None, ds))
        return [(None, rows, win, ts)]
    out = []
    for s in panel.skipped:
        if warnings is not None:
            warnings.append(s["message"])
    for sid, ds in panel:
        try:
            win = last_window(ds, lookback, allow_short=True)
        except DataError as e:
            raise DataError(f"series '{sid}': {e.message}", path=e.path) from None
        if on_dataset is not None:
            on_dataset(sid, ds)
        out.append((sid, int(len(ds.frame)), win, future_timestamps(ds, manifest, steps, None)))
    return out


def frequency_warning(source, freq: str | None, freq_label: str | None, trading: bool,
                      manifest: dict) -> str | None:
    """The warning for an input whose frequency differs from the training data's, or None.

    ``predict`` and ``score`` give the same line (a daily model forecasting an hourly file
    gives numbers, but their timestamps and meaning are wrong).
    """
    md = manifest["data"]
    if freq and md.get("freq") and not (trading or md.get("trading_days")) and freq != md.get("freq"):
        return (f"{source}: the input's frequency ({freq_label or freq}) differs from the training data's "
                f"({md.get('freq_label', md.get('freq'))}); the forecast may be meaningless")
    return None


def _warn_frequency(warnings: list | None, source, freq, freq_label, trading, manifest) -> None:
    if warnings is not None:
        w = frequency_warning(source, freq, freq_label, trading, manifest)
        if w:
            warnings.append(w)


def future_timestamps(ds, manifest: dict, steps: int, warnings: list | None = None) -> pd.DatetimeIndex:
    """Timestamps after the input's last one: business days for trading data, else the frequency."""
    from . import calendar as _calendar

    md = manifest["data"]
    trading = bool(ds.trading_days or md.get("trading_days"))
    freq = ds.freq or md.get("freq")
    _warn_frequency(warnings, ds.source, ds.freq, ds.freq_label, ds.trading_days, manifest)
    try:
        index = _calendar.future_index(pd.Timestamp(ds.stamps[-1]), freq, steps, trading)
    except DataError as e:
        raise DataError(e.message, path=ds.source) from None
    tz = getattr(ds, "tz", None)  # the input's UTC offset: its wall times are kept, so the forecast's are too
    return index.tz_localize(tz) if tz and index.tz is None else index


def forecast_frame(point: np.ndarray, timestamps: pd.DatetimeIndex, targets: Sequence[str], bounds: dict,
                   steps: int) -> pd.DataFrame:
    """The output table: ``timestamp``, then per target the point forecast and its bounds per level, ``step``."""
    cols: dict = {"timestamp": timestamps[:steps]}
    for j, t in enumerate(targets):
        p = point[:steps, j]
        cols[t] = p
        for lv, (lo, hi) in bounds.items():
            cols[f"{t}_lower_{level_name(lv)}"] = p + lo[:steps, j]
            cols[f"{t}_upper_{level_name(lv)}"] = p + hi[:steps, j]
    cols["step"] = np.arange(1, steps + 1)
    return pd.DataFrame(cols)


def forecast_csv(point: np.ndarray, timestamps: pd.DatetimeIndex | np.ndarray, targets: Sequence[str],
                 bounds: dict, steps: int, series: str | None = None, with_header: bool = True,
                 series_col: str = "input") -> bytes:
    """The CSV bytes of :func:`forecast_frame` without building a DataFrame (batch scoring's hot path).

    Byte-identical to ``forecast_frame(...).to_csv(index=False, float_format="%.10g")``.
    ``timestamps``: a DatetimeIndex (with a UTC offset, written with it), or tz-naive datetime64 values. ``series``: a first column
    ``input`` holding this value in every row (batch scoring's combined file); ``with_header=False``
    leaves out the header line.
    """
    ts = timestamps[:steps]
    if isinstance(ts, np.ndarray) or ts.tz is None:
        ns = np.asarray(ts, dtype="datetime64[ns]")
        midnight = not (ns.view(np.int64) % (86_400 * 10**9)).any()
        text = np.datetime_as_string(ns, unit="D" if midnight else "s")
        stamps = text if midnight else np.char.replace(text, "T", " ")
    else:  # with a UTC offset, as pandas writes it: 2024-01-01 11:00:00+01:00 (midnight too)
        stamps = [t.isoformat(sep=" ") for t in ts]
    header = ["timestamp"]
    cols = []
    for j, t in enumerate(targets):
        p = point[:steps, j]
        header.append(t)
        cols.append(p)
        for lv, (lo, hi) in bounds.items():
            header += [f"{t}_lower_{level_name(lv)}", f"{t}_upper_{level_name(lv)}"]
            cols += [p + lo[:steps, j], p + hi[:steps, j]]
    header.append("step")
    lines = [",".join(_csv_field(h) for h in header)]
    table = np.column_stack(cols)
    if np.isfinite(table).all():  # one formatting operation per row
        row = ",".join(["%s", *["%.10g"] * table.shape[1], "%d"])
        lines += [row % (stamp, *vals, i) for i, (stamp, vals) in enumerate(zip(stamps, table.tolist()), 1)]
    else:
        for i in range(len(stamps)):
            lines.append(",".join([stamps[i], *("%.10g" % c[i] if np.isfinite(c[i]) else "" for c in cols),
                                   str(i + 1)]))
    if series is not None:
        first = _csv_field(series) + ","
        lines = [_csv_field(series_col) + "," + lines[0]] + [first + line for line in lines[1:]]
    if not with_header:
        lines = lines[1:]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _csv_field(name: str) -> str:
    return '"' + name.replace('"', '""') + '"' if any(ch in name for ch in ',"\n\r') else name


def _residuals(manifest: dict) -> np.ndarray:
    H, T = int(manifest["window"]["horizon"]), int(manifest["n_targets"])
    raw = (manifest.get("conformal") or {}).get("residuals")
    if raw is None:
        return np.empty((H, T, 0))
    r = np.asarray(raw, dtype=np.float64)
    if r.ndim != 3 or r.shape[:2] != (H, T):
        from .errors import BundleError

        raise BundleError(f"conformal residuals have shape {r.shape}, expected ({H}, {T}, n); the bundle is damaged")
    return r


def check_forecast(point: np.ndarray, window: np.ndarray, bounds: dict, manifest: dict, source) -> None:
    """Refuse a forecast that holds a NaN or an infinity, naming the target column and why.

    ``point`` is ``(steps, n_targets)`` in the data's units, ``window`` the ``(lookback,
    n_columns)`` values it was made from, ``bounds`` :func:`conformal_bounds`' offsets. A bound is
    checked where its offset is finite (a bundle without residuals has empty intervals, see
    :func:`conformal_bounds`). No output may hold an empty forecast cell, so ``predict`` and
    ``score`` raise (``score`` records the input as failed) instead of writing one.

    Raises:
        DataError: e.g. ``data.csv: column 'y': the forecast is not finite: the last 30 values reach
            1e+300, beyond float32 (3.4e+38), far outside the training data (mean 59.3, std 8.75);
            check the data``.
    """
    point = np.asarray(point, dtype=np.float64)
    steps = len(point)
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(point)
        for lo, hi in bounds.values():
            for off in (lo[:steps], hi[:steps]):
                bad |= np.isfinite(off) & ~np.isfinite(point + off)
    if not bad.any():
        return
    targets = list(manifest["data"]["target"])
    t = targets[int(np.nonzero(bad.any(axis=0))[0][0])]
    raise DataError(f"column '{t}': the forecast is not finite: {_window_reason(window, manifest, t)}; "
                    "check the data", path=source)


def _window_reason(window: np.ndarray, manifest: dict, target: str) -> str:
    """Why a window gives a non-finite forecast: its most extreme value against the training data's scaling."""
    cols = list(manifest["data"].get("columns") or manifest["data"]["target"])
    w = np.asarray(window, dtype=np.float64)
    low = _transform_reason(w, manifest, target)
    if low:
        return low
    scaler = manifest.get("scaler") or {}
    mean = np.asarray(scaler.get("mean") or np.zeros(w.shape[1]), dtype=np.float64)
    scale = np.asarray(scaler.get("scale") or np.ones(w.shape[1]), dtype=np.float64)
    if mean.shape != (w.shape[1],) or scale.shape != (w.shape[1],) or len(cols) != w.shape[1]:
        return "the model gave NaN or infinity; the bundle may be damaged, retrain it"
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z = np.abs((w - mean) / scale)
    row, c = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(z), z, np.inf))), z.shape)
    if z[row, c] < 50:  # an ordinary window: the model itself misbehaves
        return "the model gave NaN or infinity from ordinary values; the bundle may be damaged, retrain it"
    col = "" if cols[c] == target else f" of column '{cols[c]}'"
    beyond = ", beyond float32 (3.4e+38)" if abs(w[row, c]) > FLOAT32_MAX or z[row, c] > FLOAT32_MAX else ""
    return (f"the last {len(w)} values{col} reach {w[row, c]:.4g}{beyond}, far outside the training data "
            f"(mean {mean[c]:.4g}, std {scale[c]:.4g})")


def _transform_reason(w: np.ndarray, manifest: dict, target: str) -> str | None:
    """Why a window of a bundle with a log/Box-Cox transform (:mod:`forecast_cli.transforms`) has no
    forecast: a value <= 0 in the column; None when that is not the reason."""
    targets = list(manifest["data"]["target"])
    entries = (manifest.get("transform") or {}).get("targets") or []
    j = targets.index(target)
    if j >= len(entries) or entries[j].get("kind", "none") == "none" or j >= w.shape[1]:
        return None
    col = w[:, j]
    with np.errstate(invalid="ignore"):
        low = col[col <= 0]
    if not len(low):
        return None
    kind = "log" if entries[j]["kind"] == "log" else f"Box-Cox (lambda {float(entries[j]['lambda']):.3g})"
    return (f"its last {len(w)} values hold {low.min():.4g}, and the model's {kind} transform, fitted on positive "
            "training rows, needs values > 0: train with --transform none for data that can be <= 0")


def check_value_range(ds) -> None:
    """Refuse values the network cannot compute with (beyond float32), naming the column and timestamp.

    Training and cross-validation scale the data and compute in float32, and the baselines and
    metrics square it: a value such as ``1e308`` would end in an infinity deep inside a library.
    """
    values = np.asarray(ds.values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        big = np.abs(values) > FLOAT32_MAX
    if not big.any():
        return
    rows, cols = np.nonzero(big)
    col = ds.frame.columns[cols[0]]
    raise DataError(f"column '{col}' at {ds.frame.index[rows[0]]}: {values[rows[0], cols[0]]:.4g} is beyond what "
                    f"the model can compute with (float32, up to 3.4e+38; {int(big.sum())} such value(s)); "
                    "rescale the column or fix the value", path=ds.source)


def predict_frame(forecaster, manifest: dict, dataset, steps: int | None = None,
                  levels: Sequence[float] = DEFAULT_LEVELS, warnings: list | None = None) -> pd.DataFrame:
    """Forecast past the end of ``dataset`` with a loaded bundle; one row per future timestamp.
    ``levels=()``: no intervals."""
    H, L = int(manifest["window"]["horizon"]), int(manifest["window"]["lookback"])
    steps = check_steps(steps, H)
    bounds = conformal_bounds(_residuals(manifest), check_levels(levels), warnings) if len(levels) else {}
    window = last_window(dataset, L)
    point = forecaster.predict_windows(window[None])[0]
    if bounds and (manifest.get("conformal") or {}).get("adaptive"):
        bounds = adaptive_bounds(forecaster, manifest, dataset, check_levels(levels))
    bounds = window_bounds(bounds, window, manifest)
    check_forecast(point[:steps], window, bounds, manifest, dataset.source)
    ts = future_timestamps(dataset, manifest, steps, warnings)
    return forecast_frame(point, ts, manifest["data"]["target"], bounds, steps)


def runs_past_training(dataset, manifest: dict) -> bool:
    """Whether an input holds rows after the training data's last timestamp (whose misses adaptive
    conformal inference can observe)."""
    last = manifest["data"].get("last_timestamp")
    if not last or not len(dataset.stamps):
        return False
    stamp = pd.Timestamp(last)
    stamp = stamp.tz_localize(None) if stamp.tz is not None else stamp
    return bool(dataset.stamps[-1] > stamp.to_datetime64())


def adaptive_bounds(forecaster, manifest: dict, dataset, levels: Sequence[float]) -> dict:
    """The interval offsets of a bundle with ``conformal.adaptive``: split conformal at the level that
    adaptive conformal inference reaches over the input's windows after the training data (their
    misses are known; :func:`forecast_cli.intervals.aci_bounds`). An input that ends where the
    training data did has no such window: the nominal level, as a bundle without the section."""
    from .intervals import aci_bounds, observed_windows

    ada = manifest["conformal"]["adaptive"]
    H, L = int(manifest["window"]["horizon"]), int(manifest["window"]["lookback"])
    T = int(manifest["n_targets"])
    last = manifest["data"].get("last_timestamp")
    values = np.asarray(dataset.values, dtype=np.float64)
    origins, residuals = np.empty(0, dtype=np.int64), np.empty((0, H, T))
    if last:
        stamp = pd.Timestamp(last)
        stamp = stamp.tz_localize(None) if stamp.tz is not None else stamp
        # the walk is a Python loop per step, target and level: long horizons walk fewer windows
        limit = min(int(ada.get("max_windows", 2000)), max(200, 100_000 // (H * T * max(1, len(levels)))))
        origins, rows = observed_windows(dataset.stamps, values, L, H, stamp.to_datetime64(), limit)
    if len(origins):  # the network's forecasts from windows after training, against what followed
        truth = np.where((rows >= 0)[..., None], values[np.maximum(rows, 0), :T], np.nan)
        residuals = truth - np.asarray(forecaster.predict(values, origins))
    return aci_bounds(_residuals(manifest), levels, residuals, origins, gamma=float(ada["gamma"]),
                      until=len(values) - 1)


@dataclass
class Forecast:
    """A forecast table and what it was made from (``info`` is JSON-ready)."""

    frame: pd.DataFrame
    info: dict = field(default_factory=dict)
    history: object = field(default=None, repr=False)  # the recent input (a frame, or the Panel), for plots

    def to_json(self) -> dict:
        rows = []
        for rec in self.frame.to_dict(orient="records"):
            rec["timestamp"] = pd.Timestamp(rec["timestamp"]).isoformat()
            rec["step"] = int(rec["step"])
            rows.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in rec.items()})
        return {**self.info, "forecast": rows}


def window_bounds(bounds: dict, window: np.ndarray, manifest: dict, warnings: list | None = None,
                  source=None) -> dict:
    """The interval offsets for one input window: ``bounds`` as they are, or, for a model of many
    series (its residuals stored over each window's scale), times this window's
    :func:`~forecast_cli.metrics.interval_scale`, so that each series' interval is in its own units.
    A flat window (scale 0) gets a zero-width interval, and ``warnings`` a line that says so."""
    if (manifest.get("panel") or {}).get("residual_units") != "scaled" or not bounds:
        return bounds
    from .metrics import interval_scale

    season = int(manifest["panel"]["state"]["season"])
    w = np.asarray(window, dtype=np.float64)
    w = w[np.isfinite(w[:, 0])]
    s = np.array([interval_scale(w[:, j], season) for j in range(int(manifest["n_targets"]))])
    if (s == 0).any() and warnings is not None:
        warnings.append(f"{source or 'the input'}: its last window is flat (no change to scale the held-out "
                        "residuals by), so its prediction interval has zero width")
    return {lv: (lo * s, hi * s) for lv, (lo, hi) in bounds.items()}


def long_forecast_frame(frame: pd.DataFrame, id_col: str, target: str) -> pd.DataFrame:
    """A :class:`~forecast_cli.forecaster.Forecaster` forecast (Nixtla's columns) in the command line's
    columns: the id, ``timestamp``, the target and its ``_lower_``/``_upper_`` bounds, ``step`` and
    ``short_history``."""
    from .series_model import cli_columns

    out = pd.DataFrame({id_col: frame[frame.columns[0]].to_numpy(), "timestamp": frame["ds"].to_numpy(),
                        **cli_columns(frame, target)})
    out["step"] = frame.groupby(frame.columns[0], sort=False).cumcount().to_numpy() + 1
    out["short_history"] = frame["short_history"].to_numpy()
    return out


def predict_many(bundle_path, source, steps: int | None = None, levels: Sequence[float] = DEFAULT_LEVELS, *,
                 date_format: str | None = None, dayfirst: bool | None = None, id_col: str | None = None,
                 manifest: dict | None = None) -> Forecast:
    """Forecast every series of ``source`` with a bundle of many series: a long file (the bundle's id
    column, or ``id_col``), a folder or glob of files (one series each), or one file. Series unseen in
    training are forecast too; one shorter than the lookback is padded and marked ``short_history``.
    """
    from dataclasses import replace

    from .bundle import read_manifest
    from .forecaster import Forecaster
    from .panel import load_panel

    manifest = manifest or read_manifest(bundle_path)  # the caller's, when it has read it
    H = int(manifest["window"]["horizon"])
    steps = check_steps(steps, H)
    levels = check_levels(levels)
    cfg = data_config(manifest).with_dates(date_format, dayfirst)
    if id_col is not None:
        cfg = replace(cfg, id_col=id_col).check()
    panel = load_by_id(source, cfg) if cfg.id_col else None
    if panel is None:  # one series per file
        panel = load_panel(source, replace(cfg, id_col=None), require_target=True, min_rows=1)
    fc = Forecaster.load(bundle_path)
    warnings = [f"series '{s['id']}' left out: {s['reason']}" for s in panel.skipped]
    if levels and getattr(fc, "residuals_", None) is None:
        warnings.append("the bundle holds no held-out residuals; forecasts have no intervals")
        levels = ()
    import warnings as _warnings

    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always", UserWarning)
        frame = fc.predict(h=steps, df=panel, level=levels)
    warnings.extend(str(w.message) for w in caught if issubclass(w.category, UserWarning))
    out = long_forecast_frame(frame, panel.id_col, manifest["data"]["target"][0])
    short = sorted(set(out.loc[out.short_history, panel.id_col]))
    if short:
        warnings.append(f"{len(short)} series shorter than the lookback ({fc.window_.lookback}) were padded: "
                        f"{', '.join(map(str, short[:5]))}{' ...' if len(short) > 5 else ''} (column short_history)")
    far = fc.net_.out_of_range([ds.values for ds in panel.series], list(panel.ids))
    if far:
        warnings.append(f"{len(far)} series have levels far outside the training series' "
                        f"({', '.join(map(str, far[:5]))}{' ...' if len(far) > 5 else ''}); check their forecasts")
    info = {"command": "predict", "bundle": str(bundle_path), "model_sha256": manifest["model_sha256"],
            "file": panel.source, "id_col": panel.id_col, "series": len(panel.ids),
            "freq": panel.freq, "freq_label": panel.freq_label, "target": list(manifest["data"]["target"]),
            "horizon": H, "steps": steps, "levels": list(levels), "warnings": warnings,
            "skipped": list(panel.skipped), "lookback": int(fc.window_.lookback),
            "trend_bounded": int(getattr(fc, "trend_bounded_", 0))}
    return Forecast(out, info, history=panel)


def predict(bundle_path, source, steps: int | None = None, levels: Sequence[float] = DEFAULT_LEVELS, *,
            date_format: str | None = None, dayfirst: bool | None = None, id_col: str | None = None) -> Forecast:
    """Load a bundle and forecast past the end of ``source`` (a CSV path or ``-``).

    ``date_format``/``dayfirst``, when given, override how the bundle reads dates (see
    :meth:`forecast_cli.config.DataConfig.with_dates`).

    Raises:
        BundleError: the bundle is missing, not a bundle, altered, or of an unknown format.
        DataError: the input lacks the model's columns, is too short, or its last window is incomplete.
        ConfigError: ``steps`` beyond the trained horizon, or a level outside (0, 100).
    """
    from .bundle import read_manifest

    manifest = read_manifest(bundle_path)  # cheap checks before TensorFlow is imported
    if isinstance(manifest.get("panel"), dict):
        return predict_many(bundle_path, source, steps, levels, date_format=date_format, dayfirst=dayfirst,
                            id_col=id_col, manifest=manifest)
    if id_col is not None:
        raise ConfigError("--id-col needs a model of many series; this bundle was trained on one series "
                          "(train on a long file or a folder of files)")
    from .panel import is_many

    if is_many(source):
        raise ConfigError("this bundle forecasts one series: give predict one file, or score a folder of files "
                          "with forecast score")
    H = int(manifest["window"]["horizon"])
    steps = check_steps(steps, H)
    levels = check_levels(levels)
    ds = load_input(source, manifest, data_config(manifest).with_dates(date_format, dayfirst))
    last_window(ds, int(manifest["window"]["lookback"]))  # checked before TensorFlow is imported
    from .forecaster import Forecaster
    from .series_model import from_long

    fc = Forecaster.load(bundle_path)
    manifest = fc.manifest_
    warnings: list = []
    if levels and fc.residuals_ is None:  # a bundle written without a holdout: no intervals, never NaN ones
        warnings.append("the bundle holds no held-out residuals; forecasts have no intervals")
        levels = ()
    import warnings as _warnings

    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always", UserWarning)
        frame = from_long(fc.predict(h=steps, df=ds, level=levels), manifest["data"]["target"])
    warnings.extend(str(w.message) for w in caught if issubclass(w.category, UserWarning))
    info = {
        "command": "predict",
        "bundle": str(bundle_path),
        "model_sha256": manifest["model_sha256"],
        "file": ds.source,
        "rows_read": int(ds.rows_read),
        "last_timestamp": ds.stamp(ds.frame.index[-1]).isoformat(),
        "freq": "B" if ds.trading_days else ds.freq,
        "freq_label": ds.freq_label,
        "trading_days": bool(ds.trading_days or manifest["data"].get("trading_days")),
        "target": list(manifest["data"]["target"]),
        "horizon": H,
        "steps": steps,
        "levels": list(levels),
        "interval": {"method": ADAPTIVE_METHOD if (manifest.get("conformal") or {}).get("adaptive")
                     else INTERVAL_METHOD, "n_residuals": int(_residuals(manifest).shape[2])},
        "lookback": int(fc.window_.lookback),
        "served": (manifest.get("served") or {}).get("forecaster", "model"),
        "warnings": warnings,
    }
    return Forecast(frame, info, history=ds.frame[list(ds.target)].iloc[-3 * fc.window_.lookback:])


def write_frame(frame: pd.DataFrame, path, fh=None) -> None:
    """Write a forecast table: Parquet when ``path`` ends in ``.parquet``, else CSV.

    With ``fh`` (an open binary file, e.g. from :func:`~forecast_cli.files.atomic_write`) the
    bytes go there; otherwise to ``path`` atomically.
    """
    parquet = str(path).lower().endswith(".parquet")
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError(f"{path}: Parquet output needs pyarrow, which is not installed; "
                              "pip install pyarrow, or write a .csv file") from None
    if fh is None:
        from .files import atomic_write

        with atomic_write(path, "wb") as out:
            write_frame(frame, path, out)
        return
    if parquet:
        frame.to_parquet(fh, index=False)
    else:
        fh.write(frame.to_csv(index=False, float_format="%.10g").encode("utf-8"))
