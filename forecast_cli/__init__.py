"""forecast-cli: cross-validated LSTM forecasts for CSV time series.

The data flows CSV -> :mod:`~forecast_cli.reading` (raw columns) -> :mod:`~forecast_cli.data`
(validated frame, frequency from :mod:`~forecast_cli.calendar`) -> :mod:`~forecast_cli.windows`
-> :mod:`~forecast_cli.models` / :mod:`~forecast_cli.training` -> :mod:`~forecast_cli.metrics` and
:mod:`~forecast_cli.evaluation` -> :mod:`~forecast_cli.report` and :mod:`~forecast_cli.bundle` ->
:mod:`~forecast_cli.scoring`. The high-level functions are re-exported here lazily, so that
``import forecast_cli`` stays cheap (no pandas, no TensorFlow):

>>> import forecast_cli
>>> forecast_cli.evaluate  # doctest: +ELLIPSIS
<function evaluate at ...>
"""
__version__ = "0.1.0"

__all__ = ["Forecaster", "check", "evaluate", "train", "predict", "score", "__version__"]


def __getattr__(name: str):
    # PEP 562: resolve the public API on first use.
    if name == "Forecaster":
        from .forecaster import Forecaster

        return Forecaster
    if name in ("check", "evaluate", "train", "predict", "score"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'forecast_cli' has no attribute {name!r}")
