"""One series under :class:`~forecast_cli.forecaster.Forecaster`: the network of
:mod:`forecast_cli.training` on the windows of a single series (one or more targets).

A Forecaster given one series (``id_col=None``, or a :class:`~forecast_cli.data.Dataset`) uses
the steps here: the checks a series must pass before a model sees it, cross-validation by
forecast origins (:func:`forecast_cli.evaluation.cross_validate`) as a long frame, a fit with a
holdout tail whose absolute residuals give the conformal intervals (their level adapted at predict
time to the misses seen after training, :mod:`forecast_cli.intervals`), the manifest of a one-series
bundle, and the forecast table. The network is scaled with the training rows' statistics (the
bundle stores them); a model of many series normalises each window instead
(:mod:`forecast_cli.global_model`).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from .config import DataConfig, ModelConfig, TrainConfig, WindowConfig, to_dict
from .errors import ConfigError, DataError

__all__ = ["MAX_STORED_RESIDUALS", "check_for_model", "cross_validate", "dataset_info", "fit_holdout",
           "manifest", "predictions_frame", "refuse_panel_settings", "serve_baseline", "servable", "series_dataset",
           "to_long"]

MAX_STORED_RESIDUALS = 2000


def series_dataset(df, *, time_col: str, target, features: Sequence[str], data: DataConfig):
    """A validated :class:`~forecast_cli.data.Dataset` from one series' DataFrame (or a Dataset as it is).

    The same checks as a file's (:func:`forecast_cli.panel.panel_from_frame` with ``id_col=None``); a
    series that cannot be used is an error, never left out."""
    from .data import Dataset
    from .panel import panel_from_frame

    if isinstance(df, Dataset):
        return df
    if not isinstance(df, pd.DataFrame):
        raise ConfigError(f"df must be a pandas DataFrame. Got {type(df).__name__}.")
    panel = panel_from_frame(df, id_col=None, time_col=time_col, target=target, features=tuple(features),
                             strict=True, max_gap=data.max_gap, gaps=data.gaps)
    return panel.series[0]


def refuse_panel_settings(model: ModelConfig, train: TrainConfig) -> None:
    """Refuse the settings of the many-series network on one series (they would be ignored)."""
    for flag, on in (("--local", model.local), ("--id-embedding", model.id_embedding),
                     ("--ensemble", model.ensemble > 1), ("--balance", train.balance > 0),
                     ("--theta-weight", model.theta_weight > 0)):
        if on:
            raise ConfigError(f"{flag} applies to many series (a long file with --id-col, a folder or a glob); "
                              "drop it for one series")


def check_for_model(ds, window: WindowConfig, *, length: bool = True) -> None:
    """Refuse values the network cannot compute with, and (``length``) a series too short for one window."""
    need = window.lookback + window.horizon
    if length and len(ds.frame) < need:
        raise DataError(f"series has {len(ds.frame)} rows, fewer than --lookback + --horizon = {need}; "
                        "use a longer series or a smaller --lookback/--horizon", path=ds.source)
    from .forecasting import check_value_range

    check_value_range(ds)


def dataset_info(ds) -> dict:
    """The ``data`` block of a one-series result."""
    return {"file": ds.source, "rows": int(len(ds.frame)), "start": str(ds.frame.index[0]),
            "end": str(ds.frame.index[-1]), "freq": ds.freq, "freq_label": ds.freq_label,
            "target": list(ds.target), "features": list(ds.features)}


# ----------------------------------------------------------------------------- evaluation
def cross_validate(ds, window: WindowConfig, model: ModelConfig, train: TrainConfig, *, season: int, folds: int,
                   cv: str = "expanding", test_size: int | None = None, by_step: bool = False,
                   predictions: bool = True, on_fold=None, on_epoch=None,
                   on_fold_done=None, map_folds=None) -> tuple[pd.DataFrame, dict]:
    """Cross-validate the network and the baselines on one series; ``(frame, result)``.

    ``frame`` is :func:`predictions_frame` (empty without ``predictions``); ``result`` the JSON-ready
    folds, summary and verdict of :func:`forecast_cli.evaluation.cross_validate`.
    """
    from .evaluation import cross_validate as _cross_validate

    result = _cross_validate(ds.values, n_targets=len(ds.target), window=window, model=model, train=train,
                             season=season, n_folds=folds, cv=cv, test_size=test_size, by_step=by_step,
                             index=ds.frame.index, target_names=list(ds.target), keep_predictions=predictions,
                             on_fold=on_fold, on_epoch=on_epoch, on_fold_done=on_fold_done, map_folds=map_folds)
    kept = result.pop("predictions", [])
    return predictions_frame(kept, _stamped_index(ds), ds.target), result


def _stamped_index(ds) -> pd.DatetimeIndex:
    """The series' timestamps with the input's UTC offset, as they were written."""
    return ds.frame.index.tz_localize(ds.tz) if ds.tz else ds.frame.index


def predictions_frame(folds: list[dict], index: pd.DatetimeIndex, targets: Sequence[str]) -> pd.DataFrame:
    """Every test forecast of a cross-validation, long: ``fold``, ``cutoff`` (the forecast origin's
    timestamp), ``ds``, ``step``, ``target``, ``y`` (the actual) and one column per forecaster."""
    frames = []
    for f in folds:
        origins = np.asarray(f["origins"])
        n, H, T = f["y_true"].shape
        o = np.repeat(origins, H * T)
        step = np.tile(np.repeat(np.arange(1, H + 1), T), n)
        cols = {"fold": f["fold"], "cutoff": index[o], "ds": index[o + step], "step": step,
                "target": np.tile(np.asarray(targets, dtype=object), n * H), "y": f["y_true"].reshape(-1)}
        for name, arr in f.items():
            if name not in ("fold", "origins", "y_true"):
                cols[name] = np.asarray(arr).reshape(-1)
        frames.append(pd.DataFrame(cols))
    if not frames:
        return pd.DataFrame(columns=["fold", "cutoff", "ds", "step", "target", "y"])
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- training
def fit_holdout(ds, window: WindowConfig, model: ModelConfig, train: TrainConfig, *, season: int,
                holdout: float | int, on_epoch=None):
    """Fit on all rows but a holdout tail, score it beside the baselines; ``(net, info, residuals)``
    with the most recent :data:`MAX_STORED_RESIDUALS` held-out windows' residuals ``(n, H, T)``."""
    from .evaluation import fit_holdout as _fit_holdout

    net, info = _fit_holdout(ds.values, n_targets=len(ds.target), window=window, model=model, train=train,
                             season=season, holdout=holdout, index=ds.frame.index, on_epoch=on_epoch,
                             target_names=list(ds.target))
    residuals = np.asarray(info.pop("residuals"))[-MAX_STORED_RESIDUALS:]
    return net, info, residuals


def servable(name: str, window: WindowConfig, season: int) -> bool:
    """Whether a baseline can be served as a network reading ``lookback`` rows (``train --fallback
    best``): naive and linear always, seasonal naive when its season fits in the window; AutoETS never
    (it is not a linear map of the window)."""
    return name in ("naive", "linear") or (name == "seasonal_naive" and season <= window.lookback)


def serve_baseline(ds, name: str, net, *, season: int, holdout_start: int, refit: bool = False):
    """The baseline ``name``, fitted on the rows before ``holdout_start`` (or on every row with
    ``refit``), as a network (:func:`forecast_cli.fallback.baseline_network`, scaled like ``net``),
    and its held-out residuals ``(n, H, T)`` for the intervals: ``(served_net, residuals)``."""
    from .baselines import make_baselines
    from .evaluation import _split_origins
    from .fallback import baseline_network
    from .windows import gather, valid_origins

    values, (L, H), T = ds.values, (net.window.lookback, net.window.horizon), len(ds.target)
    train, test = _split_origins(values, L, H, 0, holdout_start, holdout_start, len(values))
    baseline = {b.name: b for b in make_baselines(L, H, T, season)}[name].fit(values, train)
    _, truth = gather(values, test, L, H, T, dtype=np.float64)
    residuals = (truth - baseline.predict(values, test))[-MAX_STORED_RESIDUALS:]
    if refit:
        baseline.fit(values, valid_origins(values, L, H))
    return baseline_network(baseline, net), residuals


def fit_all(ds, window: WindowConfig, model: ModelConfig, train: TrainConfig, on_epoch=None, *,
            season: int | None = None):
    """Fit on every complete window of the series (early stopping on its chronological tail); the
    target transform (``model.transform``) is fitted on the rows those windows cover. ``season``
    defaults to the series' inferred one."""
    from .transforms import make_forecaster
    from .windows import valid_origins

    origins = valid_origins(ds.values, window.lookback, window.horizon)
    if not len(origins):
        raise DataError("no complete window (gaps cover the series); fill the gaps or raise --max-gap",
                        path=ds.source)
    season = int(season or ds.season or 1)
    net = make_forecaster(window, model, train, len(ds.target), season, list(ds.target))
    return net.fit(ds.values, origins, on_epoch=on_epoch)


def manifest(net, ds, data: DataConfig, season: int, *, info: dict | None = None,
             residuals: np.ndarray | None = None) -> dict:
    """The manifest of a one-series model (as :func:`forecast_cli.bundle.save_bundle` completes it with
    versions and hashes): settings, scaler, the fitted target transform (``transform``), data contract,
    training fingerprint, holdout metrics and
    the held-out residuals ``(horizon, n_targets, n_windows)`` for conformal intervals, with the
    settings of their adaptive level (``conformal.adaptive``)."""
    from .bundle import fingerprint
    from .transforms import transform_section

    out = {
        "window": to_dict(net.window), "model": to_dict(net.model_cfg), "train": to_dict(net.train_cfg),
        "n_targets": int(net.n_targets), "scaler": net.scaler_.to_dict(),
        "data": {
            **to_dict(data.check()),
            # how the training data's day/month dates were read, so new files are read the same way
            "dayfirst": data.dayfirst if data.dayfirst is not None else ds.dayfirst,
            "target": list(ds.target), "features": list(ds.features), "columns": list(ds.frame.columns),
            "date_col": ds.date_col, "freq": ds.freq, "freq_label": ds.freq_label,
            "trading_days": bool(ds.trading_days), "season": int(season),
            "last_timestamp": str(ds.frame.index[-1]),
        },
        "training_data": {"file": os.path.basename(str(ds.source)), **fingerprint(ds.frame)},
        "transform": transform_section(net, ds.target),
    }
    if info is not None:
        out["holdout"] = {k: v for k, v in info.items() if k != "by_step"}
    if residuals is not None:
        from .intervals import adaptive_section

        out["conformal"] = {"method": "split conformal, absolute holdout residuals per step; the level adapted by "
                                      "ACI to the misses on the input's windows after training",
                            "residuals": np.transpose(residuals, (1, 2, 0)).round(10).tolist(),
                            "adaptive": adaptive_section()}
    return out


# ----------------------------------------------------------------------------- forecasting
def to_long(table: pd.DataFrame, targets: Sequence[str]) -> pd.DataFrame:
    """The command line's forecast table (``timestamp``, then per target its value and
    ``_lower_``/``_upper_`` bounds, ``step``) in Nixtla's columns: ``ds``, ``model``,
    ``model-lo-<level>``, ``model-hi-<level>``; with several targets, a ``target`` column first and
    one row per target and step.

    >>> t = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=2), "y": [1.0, 2.0],
    ...                   "y_lower_80": [0.5, 1.5], "y_upper_80": [1.5, 2.5], "step": [1, 2]})
    >>> list(to_long(t, ["y"]).columns)
    ['ds', 'model', 'model-lo-80', 'model-hi-80']
    """
    frames = []
    for t in targets:
        cols = {"target": t, "ds": table["timestamp"].to_numpy(), "model": table[t].to_numpy()}
        for c in table.columns:
            if c.startswith(f"{t}_lower_"):
                lv = c[len(f"{t}_lower_"):]
                cols[f"model-lo-{lv}"] = table[c].to_numpy()
                cols[f"model-hi-{lv}"] = table[f"{t}_upper_{lv}"].to_numpy()
        frames.append(pd.DataFrame(cols))
    out = pd.concat(frames, ignore_index=True)
    return out.drop(columns="target") if len(targets) == 1 else out


def cli_columns(part: pd.DataFrame, target: str) -> dict:
    """Nixtla's ``model``, ``model-lo-<level>``, ``model-hi-<level>`` as the command line names them:
    ``<target>``, ``<target>_lower_<level>``, ``<target>_upper_<level>`` (arrays, in that order)."""
    cols = {target: part["model"].to_numpy()}
    for c in part.columns:
        if c.startswith("model-lo-"):
            lv = c[len("model-lo-"):]
            cols[f"{target}_lower_{lv}"] = part[c].to_numpy()
            cols[f"{target}_upper_{lv}"] = part[f"model-hi-{lv}"].to_numpy()
    return cols


def from_long(frame: pd.DataFrame, targets: Sequence[str]) -> pd.DataFrame:
    """:func:`to_long`'s inverse: the command line's table from Nixtla's columns."""
    steps = len(frame) // len(targets)
    cols: dict = {"timestamp": frame["ds"].to_numpy()[:steps]}
    for j, t in enumerate(targets):
        cols.update(cli_columns(frame.iloc[j * steps:(j + 1) * steps], t))
    cols["step"] = np.arange(1, steps + 1)
    return pd.DataFrame(cols)
