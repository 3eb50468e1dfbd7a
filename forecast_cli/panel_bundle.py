"""A fitted :class:`~forecast_cli.forecaster.Forecaster` of many series as a bundle, and back.

The bundle is the one-series format of :mod:`forecast_cli.bundle` (``manifest.json`` and a
``model.keras`` loaded with ``safe_mode=True``, hashes, limits, the schema of
:mod:`forecast_cli.manifest`) with a ``panel`` section: the global model's state (its ids, season,
normalisation, the training series' level range), the id column and, when they fit in
:data:`MAX_TAIL_VALUES` numbers, each training series' last window, so that
``Forecaster.load(path).predict()`` needs no data. Every window is normalised on its own, so the
manifest's ``scaler`` is the identity.
"""
from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np

from .errors import BundleError, ConfigError

__all__ = ["save_forecaster", "load_forecaster", "MAX_TAIL_VALUES", "is_panel_manifest"]

MAX_TAIL_VALUES = 2_000_000


def is_panel_manifest(manifest: dict) -> bool:
    """Whether a bundle holds a model of many series."""
    return isinstance(manifest.get("panel"), dict)


def _data_section(fc) -> dict:
    from .config import to_dict

    data = to_dict(fc.data_cfg_)
    # data.id_col stays as trained: a long file's id column, or None for a folder of files (one series each)
    data.update(target=list(fc.target_), features=list(fc.features_),
                columns=list(fc.target_) + list(fc.features_), id_col=fc.id_col_ if fc.long_ else None, freq=fc.freq_,
                freq_label=fc.freq_label_, trading_days=bool(fc.trading_days_), season=int(fc.season_),
                date_col=fc.time_col_)
    return data


def save_forecaster(fc, path: str | os.PathLike, extra: dict | None = None) -> dict:
    """Write a fitted many-series Forecaster to ``path`` atomically; return the manifest.

    ``extra``: more manifest sections (``holdout`` metrics, ``conformal`` residuals ...).
    """
    from .bundle import save_bundle
    from .windows import Scaler

    net = fc.net_
    if net.local:
        raise ConfigError("a --local model (one network per series) cannot be saved as one bundle; "
                          "train the global model, or train each series' file on its own")
    columns = len(fc.target_) + len(fc.features_)
    shim = SimpleNamespace(model_=net.keras_models()[0], window=fc.window_, model_cfg=fc.model_cfg_,
                           train_cfg=fc.train_cfg_, n_targets=len(fc.target_),
                           scaler_=Scaler(np.zeros(columns), np.ones(columns)))
    panel = {"id_col": fc.id_col_, "state": net.get_state()}
    n_values = sum(np.asarray(v).size for v, _ in fc.tails_.values())
    if n_values <= MAX_TAIL_VALUES:
        panel["tails"] = {sid: np.asarray(v).round(12).tolist() for sid, (v, _) in fc.tails_.items()}
        panel["tail_ends"] = {sid: str(ix[-1]) for sid, (_, ix) in fc.tails_.items()}
    if extra and "conformal" in extra:
        panel["residual_units"] = "scaled"
    manifest_extra = {"data": _data_section(fc), "panel": panel, **(extra or {})}
    return save_bundle(path, shim, manifest_extra)


def load_forecaster(cls, path: str | os.PathLike):
    """A fitted ``cls`` (Forecaster) from a many-series bundle, verified as :func:`bundle.load_bundle` does."""
    import pandas as pd

    from .bundle import load_bundle, read_manifest
    from .config import DataConfig, from_dict, to_dict
    manifest = read_manifest(path)
    if not is_panel_manifest(manifest):
        raise BundleError("this bundle holds a model of one series (forecast train on one file); "
                          "use forecast_cli.predict or `forecast predict` with it", path=path)
    net, manifest = load_bundle(path)
    panel = manifest["panel"]
    d = manifest["data"]
    data = from_dict(DataConfig, {k: v for k, v in d.items() if k in DataConfig.__dataclass_fields__})
    fc = cls(**{**to_dict(data), **to_dict(net.window), **to_dict(net.model_cfg), **to_dict(net.train_cfg)})
    fc.net_, fc.window_, fc.model_cfg_, fc.train_cfg_, fc.data_cfg_ = net, net.window, net.model_cfg, net.train_cfg, data
    fc.ids_, fc.skipped_ = list(net.keys_), []
    fc.target_, fc.features_ = list(d["target"]), list(d.get("features") or [])
    fc.id_col_, fc.time_col_ = panel["id_col"], d.get("date_col") or "ds"
    fc.freq_, fc.freq_label_ = d.get("freq"), d.get("freq_label") or ""
    fc.trading_days_, fc.season_ = bool(d.get("trading_days")), int(d.get("season") or net.season)
    fc.manifest_ = manifest
    fc.long_ = d.get("id_col") is not None
    res = (manifest.get("conformal") or {}).get("residuals")
    if res is not None and panel.get("residual_units") == "scaled":
        fc.residuals_ = np.asarray(res, dtype=np.float64).reshape(net.window.horizon, len(fc.target_), -1)
    tails, ends = panel.get("tails") or {}, panel.get("tail_ends") or {}
    fc.tails_ = {}
    for sid, rows in tails.items():
        v = np.asarray(rows, dtype=np.float64)
        end = pd.Timestamp(ends[sid]) if sid in ends else None
        if end is None or v.ndim != 2 or not len(v):
            continue
        fc.tails_[sid] = (v, pd.DatetimeIndex([end]))  # predict needs the last timestamp only
    return fc
