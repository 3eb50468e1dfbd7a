"""What ``forecast tune`` shows: the live table of trials (stderr), the leaderboard (stdout) and the plot.

Rendering only; the numbers come from :func:`forecast_cli.tune.tune`. rich is imported here (the
CLI has it loaded already); matplotlib only inside :func:`plot_study`.
"""
from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table

from .report import NAMES, fmt

__all__ = ["settings_text", "LiveTrials", "render_tune", "plot_study"]

# How each searched setting is written in one cell: short, in a fixed order.
_SHORT = (("model", "{}"), ("lookback", "L{}"), ("units", "u{}"), ("layers", "x{}"), ("dropout", "d{:.2f}"),
          ("recurrent_dropout", "rd{:.2f}"), ("learning_rate", "lr{:.1e}"), ("batch_size", "b{}"),
          ("norm", "norm={}"), ("linear_skip", "skip={}"), ("id_embedding", "emb{}"))


def settings_text(params: dict) -> str:
    """A trial's settings in one short cell.

    >>> settings_text({"model": "gru", "lookback": 48, "units": 16, "learning_rate": 0.003, "linear_skip": False})
    'gru L48 u16 lr3.0e-03 skip=off'
    """
    out = []
    for key, form in _SHORT:
        if key in params:
            v = params[key]
            out.append(form.format("on" if v is True else "off" if v is False else v))
    out += [f"{k}={v}" for k, v in params.items() if k not in dict(_SHORT)]
    return " ".join(out)


class LiveTrials:
    """A live table of the trials on a (stderr) console: trial, settings, fold scores, score, best so far.

    Args:
        console: where to draw (a terminal).
        metric: the score's name. Defaults to ``"rmse"``.
        rows: trials shown (the latest). Defaults to 12.
    """

    def __init__(self, console: Console, metric: str = "rmse", rows: int = 12):
        self.console, self.metric, self.rows = console, metric, rows
        self.trials: dict = {}
        self.best = None
        self.live = None

    def __enter__(self):
        from rich.live import Live

        self.live = Live(self._table(), console=self.console, transient=True, auto_refresh=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def _table(self) -> Table:
        t = Table(title=f"forecast tune: {self.metric.upper()} by trial", title_justify="left")
        for name, just in (("trial", "right"), ("state", "left"), ("settings", "left"), ("folds", "left"),
                           ("score", "right"), ("best", "right")):
            t.add_column(name, justify=just)
        for row in list(self.trials.values())[-self.rows:]:
            t.add_row(str(row["trial"]), row["state"], settings_text(row.get("params", {})),
                      " ".join(fmt(s, 3) for s in row.get("fold_scores", [])),
                      fmt(row.get("value")), fmt(row.get("best")))
        return t

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._table(), refresh=True)

    def on_fold(self, trial: int, fold: int, score: float, params: dict | None = None) -> None:
        row = self.trials.setdefault(trial, {"trial": trial, "state": "running", "fold_scores": []})
        row["params"] = params or row.get("params", {})
        row["fold_scores"] = row["fold_scores"] + [score]
        self._refresh()

    def on_trial(self, row: dict, best) -> None:
        self.trials[row["trial"]] = {**row, "best": best}
        self._refresh()


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:+.1f} %"


def render_tune(console: Console, r: dict) -> None:
    """The leaderboard (top 10 complete trials), then the best settings on the untouched final span."""
    s, rows, final, metric = r["study"], r["rows"], r["final"], r["final"]["metric"].upper()
    n = s["trials"]
    console.print(f"study [bold]{s['name']}[/bold] ({s['storage']}): {n['complete']} complete, {n['pruned']} pruned, "
                  f"{n['failed']} failed; {s['run_now']} run now")
    console.print(f"searched rows {rows['searched_rows'][0]}-{rows['searched_rows'][1]} "
                  f"({rows['searched_period'][0]} to {rows['searched_period'][1]}); the final span, rows "
                  f"{rows['final_rows'][0]}-{rows['final_rows'][1]}, was seen by no trial")
    t = Table(title=f"Leaderboard: mean {metric} over {r['cv']['folds']} folds", title_justify="left")
    for name, just in (("#", "right"), ("trial", "right"), ("settings", "left"), ("folds", "left"),
                       (metric, "right")):
        t.add_column(name, justify=just)
    for k, row in enumerate(r["leaderboard"], 1):
        label = settings_text(row["params"]) + (" (defaults)" if row["trial"] == r["defaults"]["trial"] else "")
        t.add_row(str(k), str(row["trial"]), label, " ".join(fmt(x, 3) for x in row["fold_scores"]),
                  fmt(row["value"]))
    console.print(t)
    f = Table(title=f"The untouched final span: {metric}", title_justify="left")
    f.add_column("forecaster")
    f.add_column(metric, justify="right")
    f.add_row(f"tuned (trial {r['best']['trial']})", fmt(final["tuned"]))
    f.add_row("defaults (as given)", fmt(final["defaults"]))
    for name, v in sorted(final["baselines"].items(), key=lambda kv: kv[1]):
        f.add_row(NAMES.get(name) or name, fmt(v))
    console.print(f)
    console.print(_gain_line(r))


def _gain_line(r: dict) -> str:
    final = r["final"]
    cv = ("the defaults were not a trial (outside the space), so the cross-validated gain is unknown"
          if final["gain_cv"] is None else f"cross-validated gain over the defaults {_pct(final['gain_cv'])}")
    line = f"{cv}; on the final span {_pct(final['gain_final'])}"
    if final["gain_survived"] is not None:
        line += f" ({100 * final['gain_survived']:.0f} % of the gain survived)"
    if final["best_baseline"] is not None:
        word = "beats" if final["tuned_beats_best_baseline"] else "does not beat"
        line += f"; tuned {word} the best baseline ({NAMES.get(final['best_baseline']) or final['best_baseline']})"
    return line + "."


def plot_study(result: dict, target) -> None:
    """Draw the optimisation history (each trial's score, the best so far) and the settings'
    importances to ``target`` (``.png``, ``.svg`` or ``.pdf``), atomically."""
    from pathlib import Path

    from .files import atomic_write
    from .plots import check_plot_target
    from .plots.render import DPI, _matplotlib

    check_plot_target(target)
    Figure, Canvas = _matplotlib()
    fig = Figure(figsize=(10, 4), dpi=DPI)
    Canvas(fig)
    ax, bx = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    metric = result["final"]["metric"].upper()
    hist = [h for h in result["history"] if h["value"] is not None]
    done = [h for h in hist if h["state"] == "complete"]
    pruned = [h for h in hist if h["state"] == "pruned"]
    ax.plot([h["trial"] for h in done], [h["value"] for h in done], "o", color="#1f77b4", label="complete")
    if pruned:
        ax.plot([h["trial"] for h in pruned], [h["value"] for h in pruned], "x", color="#7f7f7f",
                label="pruned (score when stopped)")
    best, xs, ys = float("inf"), [], []
    for h in done:
        best = min(best, h["value"])
        xs.append(h["trial"])
        ys.append(best)
    ax.step(xs, ys, where="post", color="#d62728", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"mean {metric} over the folds")
    ax.set_title("Optimisation history")
    ax.legend(loc="best", fontsize=8)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    imp = result.get("importances") or {}
    if imp:
        names = list(imp)[::-1]
        bx.barh(names, [imp[k] for k in names], color="#1f77b4")
        bx.set_xlabel("share of the score's variance (fANOVA)")
    else:
        bx.text(0.5, 0.5, "importances need 3 complete trials", ha="center", va="center", transform=bx.transAxes)
        bx.set_axis_off()
    bx.set_title("Setting importances")
    fig.tight_layout()
    fmt_ = Path(os.fspath(target)).suffix.lower()[1:]
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt_)
    with atomic_write(target, "wb") as fh:
        fh.write(buf.getvalue())
