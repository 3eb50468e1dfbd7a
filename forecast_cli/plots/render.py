"""Draw a :class:`~forecast_cli.plots.picture.Picture`: an image file with matplotlib, or text with plotext.

Both libraries are optional (``pip install 'forecast-cli[plot]'``) and imported only here, inside
the functions that draw. matplotlib is used through its object API (``Figure`` and the Agg
canvas), which needs no display and sets no global backend, so a plot never opens a window or
changes the backend of a program that imports the library. plotext keeps one global figure: it is
cleared before each drawing.
"""
from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .picture import Picture

__all__ = ["FORMATS", "DPI", "image_size", "image_bytes", "terminal_text", "terminal_size", "INSTALL"]

FORMATS = (".png", ".svg", ".pdf")
DPI = 100
WIDTH_PX, HEADER_PX, PANEL_PX = 1000, 90, 260
INSTALL = "pip install 'forecast-cli[plot]'"

# Colours by role: matplotlib's tab10 blue and orange for the model and the baseline, near-black for
# what was observed, red for interpolated points, grey for gaps and fold spans.
COLORS = {"actual": "#333333", "model": "#1f77b4", "baseline": "#ff7f0e", "band": "#1f77b4", "mark": "#d62728",
          "gap": "#7f7f7f"}

# More separate pieces of line than this in one layer (cross-validation windows) are drawn as points.
MAX_RUNS = 40
# Text symbols by role, so that the lines differ without colours too (None: plotext's fine blocks).
SYMBOLS = {"actual": None, "model": "•", "baseline": "+", "band": ".", "mark": "o", "gap": "x"}


def image_size(panels: int) -> tuple[int, int]:
    """The (width, height) in pixels of a PNG with ``panels`` panels stacked (SVG and PDF: the same
    size in inches at :data:`DPI` dots per inch).

    >>> image_size(1), image_size(3)
    ((1000, 350), (1000, 870))
    """
    return WIDTH_PX, HEADER_PX + PANEL_PX * max(int(panels), 1)


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(f"plots need matplotlib: {INSTALL}") from None
    return Figure, FigureCanvasAgg


def _plotext():
    try:
        import plotext
    except ImportError:
        raise ConfigError(f"terminal plots need plotext: {INSTALL}") from None
    return plotext


# --------------------------------------------------------------------------- image files


def _draw_axes(ax, panel) -> None:
    import matplotlib.dates as mdates

    for layer in panel.layers:
        color = COLORS.get(layer.role, "#333333")
        if layer.kind == "line":
            # What was observed is drawn over the forecasts: where they are close, the errors still show.
            ax.plot(layer.x, layer.y, color=color, lw=1.0 if layer.role == "actual" else 1.4, label=layer.label,
                    zorder=3 if layer.role == "actual" else 2)
        elif layer.kind == "points":
            ax.scatter(layer.x, layer.y, s=18, color=color, zorder=3, label=layer.label)
        elif layer.kind == "band":
            ax.fill_between(layer.x, layer.y, layer.y2, color=color, alpha=layer.alpha, lw=0, label=layer.label)
        elif layer.kind in ("span", "shade"):
            ax.axvspan(layer.x[0], layer.x[-1], color=color, alpha=layer.alpha, lw=0, label=layer.label)
    ax.set_title(panel.title, loc="left", fontsize=10)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(True, alpha=0.3)
    if sum(1 for layer in panel.layers if layer.label) > 1:  # one line alone is named by the title
        ax.legend(loc="best", fontsize=8, framealpha=0.8)


def image_bytes(picture: Picture, fmt: str) -> bytes:
    """The picture as the bytes of a ``png``, ``svg`` or ``pdf`` file, :func:`image_size` pixels."""
    Figure, FigureCanvasAgg = _matplotlib()
    width, height = image_size(len(picture.panels))
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(max(len(picture.panels), 1), 1, squeeze=False)[:, 0]
    for ax, panel in zip(axes, picture.panels):
        _draw_axes(ax, panel)
    fig.suptitle(picture.title, fontsize=12)
    if picture.note:
        fig.supxlabel(picture.note, fontsize=9, color="#555555")
    buf = io.BytesIO()
    # No creation date in SVG/PDF, so that the same picture gives the same bytes.
    meta = {"Date": None} if fmt == "svg" else {"CreationDate": None} if fmt == "pdf" else {}
    fig.savefig(buf, format=fmt, dpi=DPI, metadata=meta)
    return buf.getvalue()


# --------------------------------------------------------------------------- terminal


def terminal_size(stream, panels: int) -> tuple[int, int]:
    """(columns, rows) for a terminal plot of ``panels`` panels on ``stream``: its terminal's width
    (``COLUMNS``, else 100 when it is not a terminal) and 12 to 25 rows per panel."""
    size = None
    if not os.environ.get("COLUMNS"):
        try:
            size = os.get_terminal_size(stream.fileno())
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            size = None
    size = size or shutil.get_terminal_size((100, 30))
    per_panel = max(12, min(25, (size.lines - 2) // max(panels, 1)))
    return max(size.columns, 40), per_panel * max(panels, 1)


def _date_form(layers) -> str:
    xs = [layer.x for layer in layers if len(layer.x)]
    ns = np.concatenate(xs).astype("datetime64[ns]").view(np.int64) if xs else np.array([0])
    return "%Y-%m-%d" if not (ns % (86_400 * 10**9)).any() else "%Y-%m-%d %H:%M"


def _segments(x: np.ndarray, y: np.ndarray):
    """Runs of finite ``y`` (a NaN breaks a line)."""
    ok = np.isfinite(np.asarray(y, dtype=np.float64))
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.view(np.int8), [0]))))
    return [(x[a:b], y[a:b]) for a, b in zip(edges[::2], edges[1::2])]


def _thin(x: np.ndarray, y: np.ndarray, limit: int):
    """At most ``limit`` points: in each of ``limit // 2`` equal runs, the lowest and the highest, in
    time order, so that spikes survive. A terminal cell shows two or four points across, and
    plotext reads every date as text (100,000 points take seconds)."""
    n = len(y)
    if n <= limit:
        return x, y
    edges = np.linspace(0, n, limit // 2 + 1).astype(np.int64)
    keep = []
    for a, b in zip(edges[:-1], edges[1:]):
        seg = y[a:b]
        keep += sorted({a + int(np.argmin(seg)), a + int(np.argmax(seg))})
    return x[keep], y[keep]


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


def _draw_text_panel(plt, sub, panel, columns: int) -> None:
    form = _date_form(panel.layers)
    sub.date().activate(form=form)
    lows = [np.nanmin(layer.y) for layer in panel.layers if layer.y is not None and np.isfinite(layer.y).any()]
    bottom = min(lows) if lows else 0.0
    for layer in panel.layers:
        if layer.kind == "shade":
            continue  # background shading does not read in text
        color = _rgb(COLORS.get(layer.role, "#333333"))
        stamps = np.asarray(pd.DatetimeIndex(layer.x).strftime(form))
        symbol = SYMBOLS.get(layer.role)
        if layer.kind == "span":  # a gap: a line along the bottom of the panel
            runs = [(stamps[[0, -1]], np.array([bottom, bottom]))]
        elif layer.kind == "band":  # its two edges, labelled once
            runs = _segments(stamps, layer.y) + _segments(stamps, layer.y2)
        else:
            runs = _segments(stamps, layer.y)
        joined = len(runs) > MAX_RUNS  # many short windows: points, since a cell holds several anyway
        if joined:
            runs = [(np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs]))]
        for k, (x, y) in enumerate(runs):
            x, y = _thin(x, y, 4 * columns)
            mark = plt.marker(symbol, pixel=color) if symbol else plt.marker(pixel=color)
            sig = sub.signal(list(x), [float(v) for v in y], marker=mark)
            if layer.kind != "points" and not joined:
                sig = sig.lines(True)
            if layer.label and k == 0:
                sig = sig.label(layer.label)
            sub.draw(sig)
    sub.title(panel.title)


def terminal_text(picture: Picture, columns: int, rows: int, color: bool) -> str:
    """The picture drawn with plotext in ``columns`` x ``rows`` cells (ANSI colours when ``color``)."""
    plt = _plotext()
    fig = plt.figure
    fig.clear()
    n = max(len(picture.panels), 1)
    fig.plot_size(columns, rows)
    if n > 1:
        fig.subplots(n, 1)
    for i, panel in enumerate(picture.panels):
        _draw_text_panel(plt, fig.subplot(i + 1, 1) if n > 1 else fig, panel, columns)
    text = fig.build().string(colorless=not color)
    fig.clear()
    lines = [picture.title, text.rstrip("\n")]
    if picture.note:
        lines.append(picture.note)
    return "\n".join(lines) + "\n"
