"""Rich tables for people: rendering only, no computation. JSON output is printed by the CLI."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .metrics import METRICS

__all__ = ["render_check", "render_evaluation", "render_train", "NAMES", "fmt"]

NAMES = {"model": None, "naive": "naive", "seasonal_naive": "seasonal naive", "linear": "linear (lags)"}
HEADERS = {"mse": "MSE", "rmse": "RMSE", "mae": "MAE", "r2": "R²", "mape": "MAPE %", "mase": "MASE"}


def fmt(v, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; 'n/a' for an undefined metric (never 'nan')."""
    if v is None:
        return "n/a"
    a = abs(v)
    if a != 0 and (a >= 1e7 or a < 1e-4):
        return f"{v:.{digits - 1}e}"
    s = f"{v:#.{digits}g}"
    return s.rstrip(".") if "e" not in s else f"{v:.{digits - 1}e}"


def _name(key: str, model_label: str) -> str:
    return model_label if key == "model" else NAMES.get(key, key)


def _metric_table(title: str, metrics: dict, model_label: str, spread: bool = False) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("forecaster")
    for m in METRICS:
        t.add_column(HEADERS[m], justify="right")
    best = {}
    for m in METRICS:
        vals = {k: (v[m]["mean"] if spread else v[m]) for k, v in metrics.items()}
        vals = {k: v for k, v in vals.items() if v is not None}
        if vals:
            best[m] = (max if m == "r2" else min)(vals, key=lambda k: abs(vals[k]) if m == "mase" else vals[k])
    for key, ms in metrics.items():
        cells = []
        for m in METRICS:
            if spread:
                mean, std = ms[m]["mean"], ms[m]["std"]
                cell = "n/a" if mean is None else f"{fmt(mean)} ±{fmt(std, 2)}"
            else:
                cell = fmt(ms[m])
            cells.append(f"[bold]{cell}[/bold]" if best.get(m) == key else cell)
        t.add_row(_name(key, model_label), *cells)
    return t


def _summary_table(title: str, summary: dict, model_label: str) -> Table:
    """Metrics as rows and forecasters as columns, so mean ± std fits an 80-column terminal."""
    t = Table(title=title, title_justify="left")
    t.add_column("metric", no_wrap=True)
    for key in summary:
        t.add_column(_name(key, model_label), justify="right", no_wrap=True)
    for m in METRICS:
        means = {k: v[m]["mean"] for k, v in summary.items() if v[m]["mean"] is not None}
        best = None
        if means:
            best = (max if m == "r2" else min)(means, key=means.get)
        cells = []
        for key, v in summary.items():
            mean, std = v[m]["mean"], v[m]["std"]
            cell = "n/a" if mean is None else f"{fmt(mean)} ±{fmt(std, 2)}"
            cells.append(f"[bold]{cell}[/bold]" if key == best else cell)
        t.add_row(HEADERS[m], *cells)
    return t


def _model_label(settings: dict) -> str:
    return settings["model"]["model"].upper()


def render_check(console: Console, s: dict) -> None:
    t = Table(title=f"{s['file']}", title_justify="left", show_header=False)
    t.add_column("", style="bold")
    t.add_column("")
    t.add_row("rows", f"{s['rows']:,}")
    t.add_row("time range", f"{s['start']} .. {s['end']}")
    t.add_row("frequency", f"{s['freq_label']}" + (f" ({s['freq']})" if s.get("freq") else ""))
    t.add_row("season", str(s.get("season")))
    long_gaps = [g for g in s["gaps"] if not g["filled"]]
    t.add_row("gaps", f"{len(s['gaps'])} ({len(s['gaps']) - len(long_gaps)} interpolated, {len(long_gaps)} longer "
                      "than --max-gap)")
    console.print(t)
    c = Table(title="columns", title_justify="left")
    for h in ("column", "missing", "interpolated", "min", "mean", "max"):
        c.add_column(h, justify="left" if h == "column" else "right")
    for col in s["columns"]:
        c.add_row(col["name"], str(col["missing"]), str(col["interpolated"]), fmt(col["min"]), fmt(col["mean"]),
                  fmt(col["max"]))
    console.print(c)
    if long_gaps:
        g = Table(title="gaps longer than --max-gap (first 10)", title_justify="left")
        for h in ("start", "end", "steps", "columns"):
            g.add_column(h)
        for gap in long_gaps[:10]:
            g.add_row(str(gap["start"]), str(gap["end"]), str(gap["steps"]), ", ".join(gap["columns"]))
        console.print(g)


def _day(ts: str) -> str:
    """Drop a midnight time from a timestamp string."""
    return ts[:-9] if ts.endswith(" 00:00:00") else ts


def _verdict_line(v: dict, label: str) -> str:
    word = "beat" if v["beat_naive"] else "did NOT beat"
    colour = "green" if v["beat_naive"] else "red"
    return (f"[{colour}]{label} {word} the naive baseline[/{colour}]: mean {v['metric'].upper()} "
            f"{fmt(v['model'])} vs {fmt(v['naive'])} (best: {_name(v['best'], label)})")


def render_evaluation(console: Console, r: dict, by_step: bool = False) -> None:
    label = _model_label(r["settings"])
    d = r["data"]
    s = r["settings"]
    m = s["model"]
    console.print(f"[bold]{d['file']}[/bold]: {d['rows']:,} rows {d['start']} .. {d['end']} ({d['freq_label']}), "
                  f"target {', '.join(d['target'])}")
    console.print(f"{label}: {m['layers']} layer(s) x {m['units']} units, dropout {m['dropout']}, norm {m['norm']}, "
                  f"linear skip {'on' if m['linear_skip'] else 'off'}; lookback {s['window']['lookback']}, horizon "
                  f"{s['window']['horizon']}; {len(r['folds'])} {s['cv']} folds; seasonal naive m={s['season']}")
    for f in r["folds"]:
        period = f" test {_day(f['test_period'][0])} .. {_day(f['test_period'][1])}" if "test_period" in f else ""
        title = (f"fold {f['fold']}:{period}; {f['n_train_windows']} train / {f['n_test_windows']} test windows; "
                 f"{f['epochs']} epochs (best {f['best_epoch']})")
        console.print(_metric_table(title, f["metrics"], label))
    console.print(_summary_table(f"mean ± std over {len(r['folds'])} folds (data units)", r["summary"], label))
    if by_step and "summary_by_step" in r:
        t = Table(title="RMSE per horizon step (mean over folds)", title_justify="left")
        t.add_column("forecaster")
        H = len(next(iter(r["summary_by_step"].values())))
        for h in range(H):
            t.add_column(f"h={h + 1}", justify="right")
        for key, steps in r["summary_by_step"].items():
            t.add_row(_name(key, label), *[fmt(st["rmse"]["mean"]) for st in steps])
        console.print(t)
    console.print(_verdict_line(r["verdict"], label))


def render_train(console: Console, r: dict) -> None:
    label = _model_label(r["settings"])
    h = r["holdout"]
    period = f" {_day(h['holdout_period'][0])} .. {_day(h['holdout_period'][1])}" if "holdout_period" in h else ""
    title = (f"holdout{period}: {h['n_holdout_windows']} windows; trained on {h['n_train_windows']} windows, "
             f"{h['epochs']} epochs (best {h['best_epoch']})")
    console.print(_metric_table(title, h["metrics"], label))
    m, n = h["metrics"]["model"]["rmse"], h["metrics"]["naive"]["rmse"]
    word = "beat" if m < n else "did NOT beat"
    console.print(f"{label} {word} the naive baseline on the holdout: RMSE {fmt(m)} vs {fmt(n)}")
    if "bundle" in r:
        console.print(f"saved {r['bundle']['path']} (sha256 {r['bundle']['model_sha256'][:12]}…)")
