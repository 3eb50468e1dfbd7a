"""Plots of checked series, forecasts and cross-validation: image files or the terminal.

Each public function takes what the library already returns, and a target: a file name ending in
``.png``, ``.svg`` or ``.pdf`` (written atomically, :func:`forecast_cli.files.atomic_write`), or
``"-"`` for a text plot written to ``stream`` (stderr by default; the caller decides). Image files
need matplotlib, terminal plots plotext: ``pip install 'forecast-cli[plot]'``. Both are imported
only when a plot is drawn.

- :func:`plot_check`: the series, interpolated points and gaps (``forecast check``).
- :func:`plot_forecast`: the recent history, the forecast and its interval bands (``forecast predict``).
- :func:`plot_evaluation`: actual values against each fold's forecasts of the model and the best
  baseline (``forecast evaluate``).

Call :func:`check_plot_target` before the work (training can take minutes), so that a bad name is
refused at once:

>>> try:
...     check_plot_target("forecast.jpg")
... except ConfigError as e:
...     print(e)
--plot forecast.jpg: a plot is written as .png, .svg or .pdf (by its extension), or '-' for the terminal
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError
from .picture import Picture, check_picture, evaluation_picture, forecast_picture
from .render import FORMATS, INSTALL, image_size

__all__ = ["check_plot_target", "plot_check", "plot_forecast", "plot_evaluation", "draw", "image_size", "FORMATS"]


def check_plot_target(target, *, inputs: Sequence = (), option: str = "--plot") -> None:
    """Refuse a plot target before any work: one line that names ``option``.

    ``"-"`` (the terminal) needs plotext; a file needs matplotlib and the extension ``.png``,
    ``.svg`` or ``.pdf``, and is checked like every output (not a directory, its folder exists,
    not one of ``inputs``).

    Raises:
        ConfigError: another extension, a bad output path, or the extra is not installed.
    """
    text = os.fspath(target)
    if text == "-":
        if importlib.util.find_spec("plotext") is None:
            raise ConfigError(f"terminal plots need plotext: {INSTALL}")
        return
    if Path(text).suffix.lower() not in FORMATS:
        raise ConfigError(f"{option} {text}: a plot is written as .png, .svg or .pdf (by its extension), "
                          "or '-' for the terminal")
    from ..files import check_output

    check_output(text, option=option, example="forecast.png", inputs=tuple(inputs))
    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError(f"plots need matplotlib: {INSTALL}")


def _use_color(stream, color: bool | None) -> bool:
    if color is not None:
        return bool(color)
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def draw(picture: Picture, target, *, stream=None, color: bool | None = None) -> str | None:
    """Write ``picture`` to ``target``: a ``.png``/``.svg``/``.pdf`` file, or ``"-"`` for text on
    ``stream``.

    Args:
        picture: what to draw (:mod:`forecast_cli.plots.picture`).
        target: a file name, or ``"-"``.
        stream: where a terminal plot goes. Defaults to ``sys.stderr``.
        color: ANSI colours in a terminal plot. Defaults to None: when ``stream`` is a terminal
            and ``NO_COLOR`` is not set.

    Returns:
        The text written for ``"-"``; None for a file.
    """
    text = os.fspath(target)
    if text == "-":
        from .render import terminal_size, terminal_text

        stream = sys.stderr if stream is None else stream
        columns, rows = terminal_size(stream, len(picture.panels))
        out = terminal_text(picture, columns, rows, _use_color(stream, color))
        stream.write(out)
        stream.flush()
        return out
    check_plot_target(text)
    from ..files import atomic_write
    from .render import image_bytes

    data = image_bytes(picture, Path(text).suffix.lower()[1:])
    with atomic_write(text, "wb") as fh:
        fh.write(data)
    return None


def plot_check(data, target, *, max_panels: int = 6, title: str | None = None, stream=None,
               color: bool | None = None) -> str | None:
    """Plot a checked input (:func:`forecast_cli.api.check`'s Dataset or Panel): each column, or
    each series, with its interpolated points and its gaps; see
    :func:`~forecast_cli.plots.picture.check_picture` and :func:`draw`."""
    return draw(check_picture(data, max_panels, title), target, stream=stream, color=color)


def plot_forecast(forecast, target, *, history=None, tail: int | None = None, max_panels: int = 6,
                  title: str | None = None, stream=None, color: bool | None = None) -> str | None:
    """Plot a forecast (a :class:`~forecast_cli.forecasting.Forecast` or its frame) after the recent
    ``history``, with its interval bands; see :func:`~forecast_cli.plots.picture.forecast_picture`
    and :func:`draw`."""
    picture = forecast_picture(forecast, history, tail=tail, max_panels=max_panels, title=title)
    return draw(picture, target, stream=stream, color=color)


def plot_evaluation(frame, target, *, baseline: str | None = None, metrics: dict | None = None,
                    series: Sequence | None = None, per_side: int = 3, title: str | None = None, stream=None,
                    color: bool | None = None) -> str | None:
    """Plot cross-validation forecasts (the long frame of ``evaluate --predictions`` or of
    :meth:`~forecast_cli.forecaster.Forecaster.cross_validate`) against the actual values; see
    :func:`~forecast_cli.plots.picture.evaluation_picture` and :func:`draw`."""
    picture = evaluation_picture(frame, baseline=baseline, metrics=metrics, series=series, per_side=per_side,
                                 title=title)
    return draw(picture, target, stream=stream, color=color)
