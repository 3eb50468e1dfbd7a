"""The file-level functions behind the commands: paths in, JSON-ready results (dicts) and bundles out.

Each one reads its input, hands it to :class:`~forecast_cli.forecaster.Forecaster` (which does the
work on DataFrames, one series or many) and shapes what it returns for the command line.

>>> from forecast_cli import api
>>> from forecast_cli.config import DataConfig, WindowConfig
>>> result = api.evaluate("sample_data/AAPL.csv", DataConfig(target="Close"), WindowConfig(30, 5))  # doctest: +SKIP
>>> result["verdict"]["beat_naive"]  # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Callable

from .config import DataConfig, ModelConfig, TrainConfig, WindowConfig, to_dict
from .errors import ConfigError
from .files import check_output

__all__ = ["check", "evaluate", "evaluate_many", "load_many", "train", "train_many", "predict", "score"]


def check(source, data: DataConfig | None = None):
    """Read and validate a CSV (a :class:`~forecast_cli.data.Dataset`), or many series (a
    :class:`~forecast_cli.panel.Panel`: a folder, glob or list of files, or ``data.id_col`` set), as
    :meth:`Forecaster.check <forecast_cli.forecaster.Forecaster.check>` does; never imports TensorFlow.
    Both have ``summary()``."""
    from .forecaster import Forecaster

    return Forecaster(**to_dict(data or DataConfig())).check(source)


def _load_one(source, data: DataConfig):
    """One series read from a file, for a model (every target present)."""
    from . import data as _data

    return _data.load(source, data.check(), require_target=True)


def _inputs(source) -> tuple:
    return tuple(source) if isinstance(source, (list, tuple)) else (source,)


def evaluate(source, data: DataConfig, window: WindowConfig = WindowConfig(), model: ModelConfig = ModelConfig(),
             train: TrainConfig = TrainConfig(), *, folds: int = 5, cv: str = "expanding", season: int | None = None,
             test_size: int | None = None, by_step: bool = False, predictions_path=None,
             on_fold: Callable[[int, int], None] | None = None,
             on_epoch: Callable[[int, int, dict], None] | None = None, strict: bool = False,
             on_forecasts: Callable | None = None, on_fold_done: Callable[[dict], None] | None = None,
             map_folds: Callable | None = None) -> dict:
    """Cross-validate the network against the baselines on a CSV through
    :meth:`Forecaster.cross_validate <forecast_cli.forecaster.Forecaster.cross_validate>`; return the
    JSON-ready result.

    Many series (a long file with ``data.id_col``, a folder, a glob or a list of files) go to
    :func:`evaluate_many`: cross-validation by cutoffs common to all series.

    With ``predictions_path``, every test forecast is also written there as a long CSV
    (fold, origin, timestamp, step, target, actual, one column per forecaster). ``on_forecasts``,
    when given, receives that long frame (Nixtla's names: ``cutoff``, ``ds``, ``y``; for a plot).
    ``on_fold_done``, when given, receives each fold's JSON-ready result as soon as it is scored.
    """
    from .forecaster import Forecaster
    from .panel import is_many
    from .series_model import dataset_info

    if is_many(source, data):
        if cv != "expanding":
            raise ConfigError("--cv sliding applies to one series; with many series every fold trains on all the "
                              "past before its cutoff")
        if by_step:
            raise ConfigError("--by-step applies to one series; with many series the metrics are per series")
        return evaluate_many(source, data, window, model, train, folds=folds, season=season, test_size=test_size,
                             predictions_path=predictions_path, strict=strict, on_fold=on_fold,
                             on_forecasts=on_forecasts, on_fold_done=on_fold_done, map_folds=map_folds)
    if strict:
        raise ConfigError("--strict applies to many series (a long file with --id-col, a folder or a glob)")
    fc = Forecaster(**_flat_settings(data, window, model, train, season))
    fc._configs()  # every setting checked before the file is read
    if predictions_path is not None:
        check_output(predictions_path, option="--predictions", example="predictions.csv", inputs=(source,))
    ds = _load_one(source, data)
    frame = fc.cross_validate(ds, id_col=None, folds=folds, cv=cv, test_size=test_size, by_step=by_step,
                              predictions=predictions_path is not None or on_forecasts is not None,
                              on_fold=on_fold, on_epoch=on_epoch, on_fold_done=on_fold_done, map_folds=map_folds)
    result = dict(frame.attrs.pop("metrics"))
    m = result.pop("season")
    window = replace(window, lookback=result.pop("lookback"))  # as decided from the data when not given
    if on_forecasts is not None:
        on_forecasts(frame)
    if predictions_path is not None:
        from .files import atomic_write

        with atomic_write(predictions_path, "w") as fh:
            frame.rename(columns={"cutoff": "origin", "ds": "timestamp", "y": "actual"}).to_csv(fh, index=False)
        result["predictions_file"] = str(predictions_path)
    return {
        "command": "evaluate",
        "data": dataset_info(ds),
        "settings": {"window": to_dict(window), "model": to_dict(model), "train": to_dict(train),
                     "folds": folds, "cv": cv, "season": m, "units": "data"},
        **result,
    }


def _flat_settings(data: DataConfig, window: WindowConfig, model: ModelConfig, train: TrainConfig,
                   season: int | None = None) -> dict:
    """The configs as the flat keyword settings of :class:`~forecast_cli.forecaster.Forecaster`."""
    flat = {**to_dict(data), **to_dict(window), **to_dict(model), **to_dict(train)}
    if season:
        flat["season"] = season
    return flat


def _panel_info(panel) -> dict:
    return {"source": panel.source, "id_col": panel.id_col, "series": len(panel.ids),
            "rows": int(sum(len(ds.frame) for ds in panel.series)), "freq": panel.freq,
            "freq_label": panel.freq_label, "target": list(panel.target), "features": list(panel.features),
            "skipped": list(panel.skipped)}


def load_many(source, data: DataConfig, window: WindowConfig, *, strict: bool = False, warn=None):
    """Read many series (a long file with ``data.id_col``, a folder, a glob or a list of files) for a
    model: every series needs ``lookback + horizon + 1`` rows; those left out are passed to ``warn``."""
    from .fit_advice import resolve_lookback
    from .panel import load_panel

    window.check()
    panel = load_panel(source, data.check(), require_target=True,
                       min_rows=resolve_lookback(window, many=True).lookback + window.horizon + 1, strict=strict)
    if len(panel.target) != 1:
        raise ConfigError(f"with many series, give exactly one --target; got {', '.join(panel.target)}")
    for s in panel.skipped:
        if warn is not None:
            warn(f"series '{s['id']}' left out: {s['reason']}")
    return panel


def evaluate_many(source, data: DataConfig, window: WindowConfig = WindowConfig(), model: ModelConfig = ModelConfig(),
                  train: TrainConfig = TrainConfig(), *, folds: int = 5, season: int | None = None,
                  test_size: int | None = None, step: int | None = None, predictions_path=None, strict: bool = False,
                  warn=None, on_fold=None, on_forecasts=None, on_fold_done=None, map_folds=None) -> dict:
    """Cross-validate on many series by common cutoffs (:meth:`Forecaster.cross_validate`); JSON-ready.

    With ``predictions_path``, every test forecast goes there as a long CSV (id, fold, cutoff, ds,
    y and one column per forecaster).
    """
    from .forecaster import Forecaster

    model.check(), train.check()
    if predictions_path is not None:
        check_output(predictions_path, option="--predictions", example="predictions.csv",
                     inputs=_inputs(source))
    panel = load_many(source, data, window, strict=strict, warn=warn)
    fc = Forecaster(**_flat_settings(data, window, model, train, season))
    frame = fc.cross_validate(panel, folds=folds, test_size=test_size, step=step, on_fold=on_fold,
                              on_fold_done=on_fold_done, map_folds=map_folds)
    result = dict(frame.attrs.pop("metrics"))
    if on_forecasts is not None:
        on_forecasts(frame)
    result.pop("skipped", None)  # in data.skipped
    season = result.pop("season")  # in settings.season
    window = replace(window, lookback=result.pop("lookback"))
    if predictions_path is not None:
        from .files import atomic_write

        with atomic_write(predictions_path, "w") as fh:
            frame.to_csv(fh, index=False, float_format="%.10g")
        result["predictions_file"] = str(predictions_path)
    return {"command": "evaluate", "data": _panel_info(panel),
            "settings": {"window": to_dict(window), "model": to_dict(model), "train": to_dict(train),
                         "folds": folds, "test_size": test_size or window.horizon, "season": season,
                         "cutoffs": "common to all series"},
            **result}


def train_many(source, output, data: DataConfig, window: WindowConfig = WindowConfig(),
               model: ModelConfig = ModelConfig(), train: TrainConfig = TrainConfig(), *, holdout: float = 0.1,
               season: int | None = None, strict: bool = False, refit: bool = False, on_epoch=None) -> dict:
    """Fit one network across many series up to a common cutoff, score the span after it beside the
    baselines (per series), and save a bundle that forecasts any series, seen or not."""
    from .forecaster import Forecaster

    model.check(), train.check()
    if model.local and output is not None:
        raise ConfigError("a --local model (one network per series) cannot be saved as one bundle; drop --local "
                          "to train the global model, or compare the two with forecast evaluate")
    if output is not None:
        check_output(output, example="model.fcst",
                     inputs=_inputs(source))
    panel = load_many(source, data, window, strict=strict)
    fc = Forecaster(**_flat_settings(data, window, model, train, season))
    result = fc.fit_holdout(panel, holdout=holdout, refit=refit, on_epoch=on_epoch)
    out = {"command": "train", "data": _panel_info(panel),
           "settings": {"window": to_dict(fc.window_), "model": to_dict(model), "train": to_dict(train),
                        "holdout": holdout, "season": fc.season_, "units": "data"},
           "holdout": result}
    if output is not None:
        manifest = fc.save(output)
        out["bundle"] = {"path": str(output), "model_sha256": manifest["model_sha256"],
                         "format_version": manifest["format_version"], "series": len(fc.ids_)}
    return out


def train(source, output: str | os.PathLike | None, data: DataConfig, window: WindowConfig = WindowConfig(),
          model: ModelConfig = ModelConfig(), train: TrainConfig = TrainConfig(), *, holdout: float = 0.1,
          season: int | None = None, on_epoch=None, strict: bool = False, refit: bool = False,
          fallback: str = "model") -> dict:
    """Fit on all but a holdout tail, score it beside the baselines, and save a bundle to ``output``
    (:meth:`Forecaster.fit_holdout <forecast_cli.forecaster.Forecaster.fit_holdout>`, then ``save``).
    With ``refit``, the network is fitted again on every row once the holdout is scored; with
    ``fallback="best"``, a baseline that wins the holdout is saved instead (one series).

    Many series go to :func:`train_many` (one global network, or ``model.local``).

    Returns the JSON-ready result (holdout metrics, bundle path and manifest summary).
    """
    from .forecaster import Forecaster
    from .panel import is_many
    from .series_model import dataset_info

    if is_many(source, data):
        if fallback != "model":
            raise ConfigError("--fallback best applies to one series; with many series the global network is "
                              "what a bundle serves (the verdict says how it did against each baseline)")
        return train_many(source, output, data, window, model, train, holdout=holdout, season=season,
                          strict=strict, refit=refit, on_epoch=on_epoch)
    if strict:
        raise ConfigError("--strict applies to many series (a long file with --id-col, a folder or a glob)")
    fc = Forecaster(**_flat_settings(data, window, model, train, season))
    fc._configs()  # every setting checked before the file is read
    if output is not None:
        check_output(output, example="model.fcst", inputs=(source,))
    ds = _load_one(source, data)
    info = fc.fit_holdout(ds, id_col=None, holdout=holdout, refit=refit, fallback=fallback, on_epoch=on_epoch)
    result = {"command": "train", "data": dataset_info(ds),
              "settings": {"window": to_dict(fc.window_), "model": to_dict(model), "train": to_dict(train),
                           "holdout": holdout, "season": fc.season_, "units": "data"},
              "holdout": info}
    if output is not None:
        manifest = fc.save(output)
        result["bundle"] = {"path": str(output), "model_sha256": manifest["model_sha256"],
                            "format_version": manifest["format_version"]}
    return result


def predict(bundle_path, source, steps: int | None = None, levels=(80, 95), *, date_format: str | None = None,
            dayfirst: bool | None = None):
    """Forecast past the end of ``source`` with a bundle; see :func:`forecast_cli.forecasting.predict`."""
    from .forecasting import predict as _predict

    return _predict(bundle_path, source, steps=steps, levels=levels, date_format=date_format, dayfirst=dayfirst)


def score(bundle_path, inputs, outdir, **kwargs) -> dict:
    """Batch-score many files with one bundle; see :func:`forecast_cli.scoring.score`."""
    from .scoring import score as _score

    return _score(bundle_path, inputs, outdir, **kwargs)
