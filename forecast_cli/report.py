"""Rich tables for people: rendering only, no computation. JSON output is printed by the CLI."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .metrics import METRICS

__all__ = ["render_check", "render_evaluation", "render_panel_evaluation", "render_train", "render_predict",
           "render_inspect", "NAMES", "fmt"]

NAMES = {"model": None, "naive": "naive", "seasonal_naive": "seasonal naive", "linear": "linear (lags)",
         "ets": "AutoETS"}
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
    first = next(iter(metrics.values()), {})
    keys = METRICS if all(m in first for m in METRICS) else [m for m in SERIES_HEADERS if m in first]
    t = Table(title=title, title_justify="left")
    t.add_column("forecaster")
    for m in keys:
        t.add_column(HEADERS.get(m) or SERIES_HEADERS[m], justify="right")
    best = {}
    for m in keys:
        vals = {k: (v[m]["mean"] if spread else v[m]) for k, v in metrics.items()}
        vals = {k: v for k, v in vals.items() if v is not None}
        if vals:
            best[m] = (max if m == "r2" else min)(vals, key=lambda k: abs(vals[k]) if m == "mase" else vals[k])
    for key, ms in metrics.items():
        cells = []
        for m in keys:
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


RESULT_COLOUR = {"beat": "green", "no significant difference": "yellow", "worse": "red"}


def _p(p) -> str:
    """A p-value as people read it: two significant digits, ``< 0.0001`` when smaller."""
    return "n/a" if p is None else ("< 0.0001" if p < 1e-4 else f"= {p:.2g}")


def _test_words(r: dict) -> str:
    """``beat (p = 0.003)``-like words for one Diebold-Mariano result."""
    if r["result"] == "too few windows to test":
        return "too few windows to test"
    return f"{r['result']} (p {_p(r['p_value'])})"


def _verdict_line(v: dict, label: str, where: str = "mean ", what: str = "") -> str:
    """The verdict in one line: the model against the best baseline, with the Diebold-Mariano p-value.

    >>> v = {"metric": "rmse", "model": 2.1, "baseline": "naive", "baseline_value": 2.31, "result": "beat",
    ...      "p_value": 0.003, "test": {"n": 100, "h": 5}}
    >>> _verdict_line(v, "LSTM")
    '[green]The LSTM beat the best baseline (naive)[/green] on mean RMSE: 2.100 vs 2.310, Diebold-Mariano p = 0.003'
    """
    base = _name(v["baseline"], label)
    nums = f"on {where}{HEADERS.get(v['metric']) or SERIES_HEADERS.get(v['metric'], v['metric'])}{what}: " \
           f"{fmt(v['model'])} vs {fmt(v['baseline_value'])}"
    res = v["result"]
    if res == "too few windows to test":
        t = v.get("test", {})
        return (f"[yellow]The {label} against the best baseline ({base})[/yellow] {nums}: too few test windows to "
                f"test the difference ({t.get('n')} windows, h = {t.get('h')}; the test needs 2h)")
    head = {"beat": f"The {label} beat the best baseline ({base})",
            "worse": f"The {label} was worse than the best baseline ({base})"}.get(
        res, f"The {label} showed no significant difference from the best baseline ({base})")
    c = RESULT_COLOUR.get(res, "yellow")
    return f"[{c}]{head}[/{c}] {nums}, Diebold-Mariano p {_p(v['p_value'])}"


def _vs_line(tests: dict, label: str) -> str:
    """Every baseline's test in one dim line: ``vs naive: beat (p = 0.01); linear (lags): ...``."""
    return "[dim]" + f"{label} vs " + "; ".join(f"{_name(k, label)}: {_test_words(r)}" for k, r in tests.items()) \
        + "[/dim]"


def _linear_path_note(entry: dict) -> str:
    """``; linear path rank R, penalty A`` for a closed-form linear path (chosen on validation)."""
    lp = entry.get("linear_path")
    return "" if lp is None else f"; linear path rank {lp['rank']}, penalty {lp['alpha']:g}"


def _fold_title(f: dict) -> list[str]:
    """A fold's title as phrases: ``fold 1: test 2009-02-10 .. 2013-07-31``, ``1093 train / 1122 test
    windows``, ``1 epochs (best 1)``, and the linear path's rank and penalty when it has one."""
    period = f" test {_day(f['test_period'][0])} .. {_day(f['test_period'][1])}" if "test_period" in f else ""
    from .transforms import transform_text

    lp = f.get("linear_path")
    tt = transform_text(f.get("transform"))
    return [f"fold {f['fold']}:{period}", f"{f['n_train_windows']} train / {f['n_test_windows']} test windows",
            f"{f['epochs']} epochs (best {f['best_epoch']})",
            *([f"linear path rank {lp['rank']}, penalty {lp['alpha']:g}"] if lp is not None else []),
            *([tt] if tt else [])]


def _phrase_lines(phrases: list[str], width: int) -> str:
    """Phrases joined by ``; ``, lines broken between phrases (never inside one) to fit ``width``.

    Hand-written: rich and textwrap break at any space, which split "1122 test" from "windows" at 80 columns.

    >>> print(_phrase_lines(["fold 1: test 2009-02-10 .. 2013-07-31", "1093 train / 1122 test windows",
    ...                      "1 epochs (best 1)"], 80))
    fold 1: test 2009-02-10 .. 2013-07-31; 1093 train / 1122 test windows;
      1 epochs (best 1)
    """
    lines = [phrases[0]]
    for p in phrases[1:]:
        if len(lines[-1]) + 2 + len(p) + 1 <= width:  # "; " before it, ";" after it if another follows
            lines[-1] += "; " + p
        else:
            lines[-1] += ";"
            lines.append("  " + p)
    return "\n".join(lines)


def render_evaluation(console: Console, r: dict, by_step: bool = False) -> None:
    if "series" in r["data"]:  # many series: per-series measures and their means
        render_panel_evaluation(console, r)
        return
    label = _model_label(r["settings"])
    d = r["data"]
    s = r["settings"]
    m = s["model"]
    console.print(f"[bold]{d['file']}[/bold]: {d['rows']:,} rows, {_day(d['start'])} .. {_day(d['end'])}, "
                  f"{d['freq_label']}; target {', '.join(d['target'])}", soft_wrap=True)
    console.print(f"{label}: {m['layers']} layer(s) x {m['units']} units, dropout {m['dropout']}, norm {m['norm']}, "
                  f"linear skip {'on' if m['linear_skip'] else 'off'}; lookback {s['window']['lookback']}, horizon "
                  f"{s['window']['horizon']}; {len(r['folds'])} {s['cv']} folds; seasonal naive m={s['season']}",
                  soft_wrap=True)
    for f in r["folds"]:
        console.print(_phrase_lines(_fold_title(f), console.width), style="table.title", markup=False, highlight=False)
        console.print(_metric_table(None, f["metrics"], label))
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
    if "summary_by_target" in r:
        t = Table(title="RMSE per target, mean over folds (each in its own units)", title_justify="left")
        t.add_column("forecaster")
        names = list(next(iter(r["summary_by_target"].values())))
        for n in names:
            t.add_column(n, justify="right")
        for key, per in r["summary_by_target"].items():
            t.add_row(_name(key, label), *[fmt(per[n]["rmse"]["mean"]) for n in names])
        console.print(t)
    if r.get("intervals"):
        console.print(_coverage_table(r["intervals"]["levels"], by_step))
    console.print(_verdict_line(r["verdict"], label), soft_wrap=True)
    if len(r["verdict"].get("vs", {})) > 1:
        console.print(_vs_line(r["verdict"]["vs"], label), soft_wrap=True)


def _coverage_table(levels: dict, by_step: bool = False) -> Table:
    """Each level's empirical coverage and mean width on the test windows, one row for all steps
    (then one per step with ``by_step``)."""
    t = Table(title="prediction intervals on the test windows", title_justify="left",
              caption="bands from each fold's validation windows", caption_justify="left")
    t.add_column("steps")
    for lv in levels:
        t.add_column(f"{lv}% covers", justify="right")
        t.add_column(f"{lv}% width", justify="right")
    t.add_row("all", *[c for e in levels.values() for c in (f"{e['coverage']:.1f}%", fmt(e["width"]))])
    if by_step and all("by_step" in e for e in levels.values()):
        for h in range(len(next(iter(levels.values()))["by_step"])):
            t.add_row(f"h={h + 1}", *[c for e in levels.values()
                                      for c in (f"{e['by_step'][h]['coverage']:.1f}%", fmt(e["by_step"][h]["width"]))])
    return t


def render_train(console: Console, r: dict) -> None:
    if "series" in r["data"]:
        _render_panel_train(console, r)
        return
    label = _model_label(r["settings"])
    h = r["holdout"]
    period = f" {_day(h['holdout_period'][0])} .. {_day(h['holdout_period'][1])}" if "holdout_period" in h else ""
    phrases = [f"holdout{period}: {h['n_holdout_windows']} windows", f"trained on {h['n_train_windows']} windows",
               f"{h['epochs']} epochs (best {h['best_epoch']}){_linear_path_note(h)}"]
    console.print(_phrase_lines(phrases, console.width), style="table.title", markup=False, highlight=False)
    console.print(_metric_table(None, h["metrics"], label))
    if h.get("holdout_note"):
        console.print(f"note: {h['holdout_note']}", markup=False, highlight=False)
    console.print(_verdict_line(h["verdict"], label, where="the holdout's "), soft_wrap=True)
    if h.get("weights"):
        console.print(f"weights fitted on {weights_text(h['weights'])}")
    served = h.get("served") or {}
    if served.get("forecaster", "model") != "model":
        console.print(f"serving {_name(served['forecaster'], label)}: {served['why']}", markup=False, highlight=False)
    if "bundle" in r:
        console.print(f"saved {r['bundle']['path']} (sha256 {r['bundle']['model_sha256'][:12]}…)")


# ----------------------------------------------------------------------------- predict, inspect
def render_predict(console: Console, r: dict) -> None:
    """The forecast of ``forecast predict`` (its JSON form) as a table: point and interval per level."""
    levels = r["levels"]
    from .forecasting import level_name

    if "series" in r:
        _render_long_forecast(console, r)
        return

    console.print(f"[bold]{r['file']}[/bold]: last timestamp {_day(r['last_timestamp'].replace('T', ' '))} "
                  f"({r['freq_label']}); {r['steps']} step(s) of horizon {r['horizon']}")
    if r.get("served", "model") != "model":
        console.print(f"served by the bundle's fallback: {_name(r['served'], 'LSTM')} (it won the holdout)",
                      markup=False, highlight=False)
    t = Table(title=f"forecast with {', '.join(level_name(lv) + '%' for lv in levels)} conformal intervals",
              title_justify="left")
    t.add_column("step", justify="right")
    t.add_column("timestamp")
    for tgt in r["target"]:
        t.add_column(tgt, justify="right")
        for lv in levels:
            t.add_column(f"{level_name(lv)}% interval", justify="right")
    for row in r["forecast"]:
        cells = [str(row["step"]), _day(row["timestamp"].replace("T", " "))]
        for tgt in r["target"]:
            cells.append(fmt(row[tgt]))
            for lv in levels:
                lo, hi = row[f"{tgt}_lower_{level_name(lv)}"], row[f"{tgt}_upper_{level_name(lv)}"]
                cells.append(f"{fmt(lo)} .. {fmt(hi)}")
        t.add_row(*cells)
    console.print(t)
    n = r.get("interval", {}).get("n_residuals")
    if n is not None:
        console.print(f"intervals from {n} held-out residuals per step (split conformal)")


MAX_FORECAST_ROWS = 60


def _render_long_forecast(console: Console, r: dict) -> None:
    """A forecast of many series: one row per series and step (the first MAX_FORECAST_ROWS)."""
    from .forecasting import level_name

    levels, target, id_col = r["levels"], r["target"][0], r["id_col"]
    console.print(f"[bold]{r['file']}[/bold]: {r['series']} series ({r['freq_label']}); {r['steps']} step(s) of "
                  f"horizon {r['horizon']}")
    title = "forecast" + (f" with {', '.join(level_name(lv) + '%' for lv in levels)} conformal intervals"
                          if levels else "")
    t = Table(title=title, title_justify="left")
    rows = r["forecast"]
    short = any(row.get("short_history") for row in rows)
    for h in (id_col, "step", "timestamp", target):
        t.add_column(h, justify="right" if h in ("step", target) else "left")
    for lv in levels:
        t.add_column(f"{level_name(lv)}% interval", justify="right")
    if short:
        t.add_column("history")
    for row in rows[:MAX_FORECAST_ROWS]:
        cells = [str(row[id_col]), str(row["step"]), _day(row["timestamp"].replace("T", " ")), fmt(row[target])]
        for lv in levels:
            cells.append(f"{fmt(row[f'{target}_lower_{level_name(lv)}'])} .. "
                         f"{fmt(row[f'{target}_upper_{level_name(lv)}'])}")
        if short:
            cells.append("short (padded)" if row.get("short_history") else "")
        t.add_row(*cells)
    console.print(t)
    if len(rows) > MAX_FORECAST_ROWS:
        console.print(f"... {len(rows) - MAX_FORECAST_ROWS} more rows: write them all with -o FILE or --json")


def _kv_table(title: str, rows) -> Table:
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("", style="bold", no_wrap=True)
    t.add_column("")
    for k, v in rows:
        if v is None or v == [] or v == "":
            v = "-"
        elif isinstance(v, (list, tuple)):
            v = ", ".join(str(x) for x in v)
        t.add_row(str(k), str(v))
    return t


def weights_text(weights: dict) -> str:
    """Which rows a saved network saw: ``rows 0..3045 (2004-08-19 .. 2016-09-15), not the holdout``."""
    period = weights.get("period") or [None, None]
    rows = weights.get("rows")
    where = (f"rows {rows[0]}..{rows[1] - 1} " if rows else "") + f"({_day(period[0])} .. {_day(period[1])})"
    return where + (", every row: refitted after the holdout was scored" if weights.get("refit")
                    else ", not the holdout")


def render_inspect(console: Console, v: dict) -> None:
    """What a bundle holds (the view made by ``forecast inspect``)."""
    from .transforms import transform_text

    console.print(_kv_table(f"bundle {v['bundle']}", [
        ("format", f"{v.get('format')} version {v.get('format_version')}"),
        ("created", v.get("created")),
        ("size", f"{v.get('size_bytes', 0):,} bytes"),
        ("model.keras sha256", f"{v.get('model_sha256')} (verified)" if v.get("model_sha256_verified")
         else v.get("model_sha256")),
    ]))
    w, m, tr = v.get("window", {}), v.get("model", {}), v.get("train", {})
    console.print(_kv_table("settings", [
        ("window", f"lookback {w.get('lookback')}, horizon {w.get('horizon')}"),
        ("model", ", ".join(f"{k} {val}" for k, val in m.items())),
        ("training", ", ".join(f"{k} {val}" for k, val in tr.items())),
        ("transform", (transform_text(v.get("transform")) or "transform: none").removeprefix("transform: ")),
    ]))
    panel = v.get("panel")
    if isinstance(panel, dict):
        keys = (panel.get("state") or {}).get("keys") or []
        shown = ", ".join(map(str, keys[:8])) + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "")
        console.print(_kv_table("many series", [
            ("model", "one global network, every window scaled on its own (any series can be forecast)"),
            ("trained on", f"{len(keys)} series: {shown}"),
            ("id column", panel.get("id_col")),
            ("season of the scaling", (panel.get("state") or {}).get("season")),
        ]))
    d = v.get("data", {})
    console.print(_kv_table("data contract (columns a file must carry to be scored)", [
        ("id column", d.get("id_col") or "-"),
        ("date column", d.get("date_col")),
        ("time column", d.get("time_col")),
        ("target", d.get("target")),
        ("features", d.get("features")),
        ("frequency", f"{d.get('freq_label')}" + (f" ({d['freq']})" if d.get("freq") else "")),
        ("season", d.get("season")),
        ("missing markers", d.get("na_values")),
        ("max gap", d.get("max_gap")),
        ("delimiter / decimal", f"{d.get('sep') or 'sniffed'} / {d.get('decimal') or 'sniffed'}"),
        ("data up to", d.get("last_timestamp")),
    ]))
    served = v.get("served") or {}
    if served.get("forecaster", "model") != "model":
        console.print(f"serves {_name(served['forecaster'], 'LSTM')}: {served['why']}", markup=False, highlight=False)
    weights = v.get("weights")
    hold = v.get("holdout") or {}
    if isinstance(weights, dict):
        console.print(f"weights fitted on {weights_text(weights)}")
    elif hold.get("train_period"):  # a bundle from before the manifest said so: its holdout's training span
        console.print(f"weights fitted on {weights_text({'period': hold['train_period'], 'rows': hold.get('train_rows')})}")
    h = v.get("holdout") or {}
    if h.get("metrics"):
        label = str(m.get("model", "model")).upper()
        period = f" {_day(h['holdout_period'][0])} .. {_day(h['holdout_period'][1])}" if "holdout_period" in h else ""
        console.print(_metric_table(f"holdout{period}: {h.get('n_holdout_windows')} windows", h["metrics"], label))
    conf = v.get("conformal") or {}
    if conf:
        console.print(f"intervals: {conf.get('method')}; residuals {conf.get('residuals_shape')} "
                      "(horizon, targets, windows)")
    td = v.get("training_data") or {}
    console.print(_kv_table("training data", [
        ("file", td.get("file")), ("rows", td.get("rows")), ("columns", td.get("columns")),
        ("period", f"{td.get('start')} .. {td.get('end')}"), ("sha256", td.get("sha256")),
    ]))
    console.print(_kv_table("versions", sorted((v.get("versions") or {}).items())))


# ----------------------------------------------------------------------------- many series
SERIES_HEADERS = {"smape": "sMAPE %", "mase": "MASE", "rmsse": "RMSSE", "mse": "MSE", "rmse": "RMSE", "mae": "MAE",
                  "r2": "R²"}


def _panel_means_table(title: str, mean: dict, keys: tuple, model_label: str) -> Table:
    """Mean over series of each measure: metrics as rows, forecasters as columns, the best in bold."""
    t = Table(title=title, title_justify="left")
    t.add_column("mean over series", no_wrap=True)
    for key in mean:
        t.add_column(_name(key, model_label), justify="right", no_wrap=True)
    for m in keys:
        vals = {k: v[m] for k, v in mean.items() if v[m] is not None}
        best = (max if m == "r2" else min)(vals, key=vals.get) if vals else None
        cells = [f"[bold]{fmt(v[m])}[/bold]" if k == best else fmt(v[m]) for k, v in mean.items()]
        t.add_row(SERIES_HEADERS[m], *cells)
    return t


def _series_table(title: str, series: dict, ids: list, metric: str, model_label: str, id_col: str) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column(id_col, no_wrap=True)
    names = list(next(iter(series.values())))
    for key in names:
        t.add_column(f"{_name(key, model_label)} {SERIES_HEADERS[metric]}", justify="right", no_wrap=True)
    for sid in ids:
        t.add_row(str(sid), *[fmt(series[sid][k][metric]) for k in names])
    return t


def _render_panel_train(console: Console, r: dict) -> None:
    """``train`` on many series: the holdout span's means and verdict, and the bundle written."""
    h = dict(r["holdout"])
    fold = h["folds"][0]
    console.print(f"holdout after {_day(fold['cutoff'])} (common to all series, {h['holdout_steps']} steps): "
                  f"{fold['n_test_windows']} windows; trained on {fold['n_train_windows']} windows, "
                  f"{fold['epochs']} epochs")
    render_panel_evaluation(console, {**h, "data": r["data"], "settings": r["settings"]}, heading=False)
    if h.get("weights"):
        console.print(f"weights fitted on {weights_text(h['weights'])}")
    if "bundle" in r:
        b = r["bundle"]
        console.print(f"saved [bold]{b['path']}[/bold] (one model of {b['series']} series; sha256 "
                      f"{b['model_sha256'][:12]}...)")


def _series_counts_line(v: dict, label: str) -> str:
    """Per baseline, the series where the model beat it, showed no significant difference, or was worse.

    >>> print(_series_counts_line({"series": 3, "beats": {"naive": {"wins": 2, "ties": 1, "losses": 0,
    ...                                                              "too_few": 0}}}, "LSTM"))
    per series (Diebold-Mariano over each series' test windows, 5 %), of 3: vs naive 2 beat, 1 no significant difference, 0 worse
    """
    parts = []
    for k, b in v["beats"].items():
        part = f"vs {_name(k, label)} {b['wins']} beat, {b['ties']} no significant difference, {b['losses']} worse"
        if "too_few" not in b:  # counted without the test: the means compared
            part = f"vs {_name(k, label)} {b['wins']} lower, {b['ties']} tied, {b['losses']} higher"
        elif b["too_few"]:
            part += f", {b['too_few']} too few windows to test"
        parts.append(part)
    how = "Diebold-Mariano over each series' test windows, 5 %" if any("too_few" in b for b in v["beats"].values()) \
        else "mean of each series"
    return f"per series ({how}), of {v['series']}: " + "; ".join(parts)


def render_panel_evaluation(console: Console, r: dict, heading: bool = True) -> None:
    """``evaluate`` on many series: the headline means, the data-unit means, the best and worst
    series, and the verdict (series where the model beats each baseline)."""
    label = _model_label(r["settings"])
    d = r["data"]
    local = " (one network per series)" if r["settings"]["model"].get("local") else " (one global network)"
    if heading:
        console.print(f"[bold]{d['source']}[/bold]: {d['series']} series, {d['rows']:,} rows, {d['freq_label']}; "
                      f"{len(r['folds'])} cutoffs common to all series; {label}{local}")
    console.print(_panel_means_table("scale-free measures (the headline)", r["mean"], ("smape", "mase", "rmsse"),
                                     label))
    console.print(_panel_means_table("in the data's units", r["mean"], ("rmse", "mae", "mse", "r2"), label))
    metric = r["verdict"]["metric"]
    if len(r["series"]) <= 2 * len(r["best_series"]):
        console.print(_series_table(f"each series by the model's {SERIES_HEADERS[metric]}", r["series"],
                                    r["best_series"] + [s for s in r["worst_series"][::-1] if s not in r["best_series"]],
                                    metric, label, d["id_col"]))
    else:
        console.print(_series_table(f"best series by the model's {SERIES_HEADERS[metric]}", r["series"],
                                    r["best_series"], metric, label, d["id_col"]))
        console.print(_series_table(f"worst series by the model's {SERIES_HEADERS[metric]}", r["series"],
                                    r["worst_series"], metric, label, d["id_col"]))
    v = r["verdict"]
    if "result" in v:
        console.print(_verdict_line(v, label, what=" over series"), soft_wrap=True)
    else:  # no baseline or no defined mean: the lowest mean only
        colour = "green" if v.get("model_wins") else "red"
        best = _name(v.get("best", "model"), label)
        console.print(f"[{colour}]" + (f"{label} has the lowest mean {SERIES_HEADERS[metric]}" if v.get("model_wins")
                      else f"{label} did NOT win: the lowest mean {SERIES_HEADERS[metric]} is {best}'s") + f"[/{colour}]")
    console.print(_series_counts_line(v, label), soft_wrap=True)
    if r.get("untested"):
        names = ", ".join(f"{u['id']} (ends {_day(u['end'])})" for u in r["untested"][:5])
        console.print(f"[yellow]{len(r['untested'])} series have no test window after the first cutoff "
                      f"{_day(r['folds'][0]['cutoff'])} and are not scored[/yellow]: {names}")
    if r.get("skipped"):
        console.print(f"[yellow]{len(r['skipped'])} series left out[/yellow] (see the warnings above)")
