"""The ``check`` table of many series: rendering only, no computation (see :meth:`forecast_cli.panel.Panel.summary`)."""
from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["render_check_panel", "MAX_ROWS"]

MAX_ROWS = 100  # series shown in the table; --json gives them all


def _when(ts: str | None) -> str:
    """An ISO timestamp as the table shows it: a date alone at midnight, no 'T'."""
    if ts is None:
        return ""
    ts = ts.replace("T", " ")
    return ts[:-9] if ts.endswith(" 00:00:00") else ts


def render_check_panel(console: Console, s: dict) -> None:
    """Print the per-series table (id, rows, start, end, frequency, gaps, missing), the totals and
    the series left out, from the dict of :meth:`forecast_cli.panel.Panel.summary`."""
    series = s["series"]
    t = Table(title=f"{escape(s['source'])}: {len(series)} series by '{escape(s['id_col'])}'", title_justify="left")
    for h in ("id", "rows", "start", "end", "frequency", "gaps", "missing"):
        t.add_column(h, justify="right" if h in ("rows", "gaps", "missing") else "left")
    for b in series[:MAX_ROWS]:
        long = b["long_gaps"]
        gaps = f"{b['n_gaps']}" + (f" ({long} long)" if long else "")
        t.add_row(escape(str(b["id"])), f"{b['rows']:,}", _when(b["start"]), _when(b["end"]), b["freq_label"], gaps,
                  f"{b['missing']:,}")
    console.print(t)
    if len(series) > MAX_ROWS:
        console.print(f"(the first {MAX_ROWS} of {len(series)} series; --json lists them all)")
    tot = s["totals"]
    cols = ", ".join(s["target"] + s["features"])
    console.print(f"[bold]totals[/bold]: {tot['series']:,} series, {tot['rows']:,} rows, "
                  f"{tot['left_out']:,} left out; columns {escape(cols)}; frequency {s['freq_label']}"
                  + (f", season {s['season']}" if s.get("season") else ""))
    if s["skipped"]:
        k = Table(title=f"left out ({len(s['skipped'])})", title_justify="left")
        k.add_column("id")
        k.add_column("rows", justify="right")
        k.add_column("reason")
        for e in s["skipped"][:MAX_ROWS]:
            k.add_row(escape(str(e["id"])), f"{e['rows']:,}", escape(e["reason"]))
        console.print(k)
