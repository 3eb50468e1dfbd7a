"""The ``forecast`` command: options -> settings -> library -> rendering; errors -> exit codes.

Only the standard library, Typer and rich are imported here at start-up; the library modules
that need pandas or TensorFlow are imported inside the commands that use them. Annotations are
evaluated where they stand (no ``from __future__ import annotations``): Typer would evaluate every
one of them again at start-up.
"""
import functools
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from . import __version__
from .cli_options import OUTPUT_PANEL, setting_option, with_settings
from .errors import EXIT_FAILURE, EXIT_INTERRUPTED, ForecastError, Interrupted

if TYPE_CHECKING:
    from .config import Settings  # built from the options by with_settings when a command runs

__all__ = ["app", "main"]

app = typer.Typer(
    name="forecast",
    help="Honest, cross-validated LSTM forecasts for CSV time series.",
    epilog="Exit codes: 0 success; 1 failed (bad data or bundle); 2 usage error; "
           "3 some files failed (score); 130 interrupted.",
    invoke_without_command=True,  # a bare `forecast` prints the help and exits 0
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class State:
    """Flags that every command shares (a plain class: dataclasses would cost start-up time)."""

    quiet = verbose = debug = no_color = False


STATE = State()


# ----------------------------------------------------------------------------- consoles
def _stdout_console():
    from rich.console import Console

    class _Stdout(Console):
        def on_broken_pipe(self) -> None:
            """The reader went away (``| head``): not an error, so exit 0 quietly (rich exits 1)."""
            self.quiet = True
            _quiet_stdout()
            raise typer.Exit(0)

    # Off a terminal (a pipe, a file, cron's mail) with no COLUMNS, rich would assume 80 columns and cut
    # the names of a table with five forecasters: write 120 columns there.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
    return _Stdout(no_color=STATE.no_color or None, highlight=False, soft_wrap=False, width=width)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True, no_color=STATE.no_color or None, highlight=False)


def _echo_err(msg: str) -> None:
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.stderr.flush()


def _print_json(obj) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------------- errors & signals
def _on_sigterm(signum, frame):
    from .runtime import interrupt  # no TensorFlow: runtime imports it only when asked

    interrupt(Interrupted("interrupted by SIGTERM; nothing half-written was left behind"))


def _on_sigint(signum, frame):
    from .runtime import interrupt

    interrupt(KeyboardInterrupt())  # as Python's own handler, but held until a network call ends


def _traceback() -> None:
    import traceback

    traceback.print_exc()


def _quiet_stdout() -> None:
    """Point stdout at /dev/null after its reader went away, so that the flush at exit cannot fail again
    (the recipe of Python's signal documentation for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _handle_errors(fn):
    """Turn library errors into one line on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        previous_int = signal.signal(signal.SIGINT, _on_sigint)
        try:
            result = fn(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here, inside the handlers below, not at exit
            return result
        except typer.Exit:
            raise
        except ForecastError as e:
            if STATE.debug:
                _traceback()
            _echo_err(f"error: {e.message}")
            raise typer.Exit(e.exit_code) from None
        except BrokenPipeError:  # `forecast check FILE | head -1`: the reader has all it wanted
            _quiet_stdout()
            raise typer.Exit(0) from None
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM as Interrupted
            _echo_err(f"error: {e.message if isinstance(e, Interrupted) else Interrupted().message}")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as e:  # a bug, not a user's mistake: still one line unless --debug
            if STATE.debug:
                _traceback()
            first = str(e).splitlines()[0] if str(e) else ""
            _echo_err(f"error: internal error: {type(e).__name__}: {first} (rerun with --debug for a traceback)")
            raise typer.Exit(EXIT_FAILURE) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)

    return wrapper


# ----------------------------------------------------------------------------- shared options
def _env(name: str) -> str:
    return f"FORECAST_{name.upper()}"


_OUT = {"rich_help_panel": OUTPUT_PANEL, "metavar": ""}
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.", **_OUT)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but results and errors.", **_OUT)]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show TensorFlow's logs and more progress.", **_OUT)]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.", **_OUT)]
NoColorOpt = Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR is respected too).", **_OUT)]

DataArg = Annotated[list[str], typer.Argument(
    metavar="DATA", show_default=False,
    help="CSV or Parquet file(s), a folder or a glob (one series per file), or - for stdin; with --id-col, "
         "a long file of many series.")]


def _source(data: list[str]):
    """The DATA argument as the library takes it: one path (or glob, folder, -), or a list of files."""
    return data[0] if len(data) == 1 else list(data)


EVAL_PANEL = "Evaluation"
StrictOpt = Annotated[bool, typer.Option(
    "--strict", envvar=_env("strict"), show_envvar=False, metavar="", rich_help_panel=EVAL_PANEL,
    help="Many series: fail if any is left out (not warn).")]
ENV_NOTE = ("Every option can also come from a FORECAST_<OPTION> variable (FORECAST_MAX_GAP=5) or a "
            "--config TOML file.")


def _examples(*lines: str) -> str:
    """A command's epilog: its examples, one per line, and where else options come from."""
    return "\n".join(["[b]Examples[/b]", *(f"  $ {line}" for line in lines)]) + "\n\n" + ENV_NOTE


PlotOpt = Annotated[Optional[str], typer.Option(
    "--plot", metavar="FILE|-", show_default=False, rich_help_panel=OUTPUT_PANEL,
    help="Also draw it: FILE.png, .svg, .pdf, or - (the terminal, on stderr).")]


CLUSTER_PANEL = "Cluster (Dask)"
SchedulerOpt = Annotated[Optional[str], typer.Option(
    "--scheduler", envvar=_env("scheduler"), show_envvar=False, metavar="ADDRESS", show_default=False,
    rich_help_panel=CLUSTER_PANEL,
    help="Run on a running Dask cluster: its scheduler's address (tcp://host:8786). Needs forecast-cli\\[dask].")]
WorkersOpt = Annotated[Optional[int], typer.Option(
    "--workers", min=1, envvar=_env("workers"), show_envvar=False, metavar="N", show_default=False,
    rich_help_panel=CLUSTER_PANEL,
    help="Run on a local Dask cluster of N worker processes, started and stopped here. Needs forecast-cli\\[dask].")]


def _cluster(scheduler: Optional[str], workers: Optional[int]):
    """The Dask cluster of ``--scheduler``/``--workers`` as a context (yields a
    :class:`~forecast_cli.cluster.Cluster`), or a context yielding None: then Dask is never imported."""
    if scheduler is None and workers is None:
        return _nullcontext()
    from .cluster import open_cluster

    return open_cluster(scheduler, workers, on_info=_echo_err if STATE.verbose and not STATE.quiet else None)


def _cluster_checked(scheduler: Optional[str], workers: Optional[int]) -> None:
    """Refuse both options at once, or a bad address, before any work (imports no Dask)."""
    if scheduler is not None or workers is not None:
        from .cluster import check_options

        check_options(scheduler, workers)


def _plot_checked(plot: Optional[str], inputs) -> None:
    """Refuse a bad --plot target before any work (training can take minutes)."""
    if plot is not None:
        from .plots import check_plot_target

        check_plot_target(plot, inputs=tuple(inputs))


def _plot(draw, *args, **kwargs) -> None:
    """Draw with a function of :mod:`forecast_cli.plots`: a file, or the terminal on stderr."""
    draw(*args, stream=sys.stderr, color=False if STATE.no_color else None, **kwargs)
    target = args[1]
    if target != "-" and not STATE.quiet:
        _echo_err(f"wrote plot {target}")


def _setup(quiet=False, verbose=False, debug=False, no_color=False) -> None:
    STATE.quiet |= quiet
    STATE.verbose |= verbose
    STATE.debug |= debug
    STATE.no_color |= no_color
    from . import runtime

    runtime.VERBOSE = STATE.verbose
    if not STATE.verbose:
        import warnings

        warnings.filterwarnings("ignore")


class _Progress:
    """Fold and epoch progress on stderr through rich; silent when stderr is not a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.progress = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                     console=_stderr_console(), transient=True)
            self.progress.__enter__()
            self.fold_task = None
            self.epoch_task = None
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def on_fold(self, k: int, n: int) -> None:
        if self.progress is None:
            return
        if self.fold_task is None:
            self.fold_task = self.progress.add_task("folds", total=n, info="")
        self.progress.update(self.fold_task, completed=k - 1, info=f"fitting fold {k}")
        if self.epoch_task is not None:  # a new fold: no epoch yet, so no val_loss of the last fold
            self.progress.reset(self.epoch_task, info="")

    def on_epoch(self, epoch: int, epochs: int, logs: dict) -> None:
        if self.progress is None:
            return
        if self.epoch_task is None:
            self.epoch_task = self.progress.add_task("epochs", total=epochs, info="")
        loss = logs.get("val_loss")
        self.progress.update(self.epoch_task, completed=epoch, total=epochs,
                             info=f"val_loss {loss:.4g}" if loss is not None else "")


def _progress_enabled() -> bool:
    return not STATE.quiet and sys.stderr.isatty()


# ----------------------------------------------------------------------------- callback
def _version(ctx: typer.Context, value: bool):
    """``--version``: noted here, printed by the root callback once ``--verbose`` is known too."""
    if value:
        ctx.meta["forecast_version"] = True


def _print_version(verbose: bool) -> None:
    """The version; with ``--verbose`` also what TensorFlow sees (it imports TensorFlow: seconds) and
    whether the Dask extra is installed. ``--version`` alone stays cheap."""
    typer.echo(f"forecast-cli {__version__}")
    if not verbose:
        return
    from importlib import metadata

    from .runtime import devices

    seen = devices()
    typer.echo(f"tensorflow {seen['tensorflow']}: {', '.join(seen['devices']) or 'no device'}"
               + (" (GPU)" if seen["gpu"] else ""))
    for note in seen["notes"]:
        typer.echo(f"note: {note}")
    try:
        typer.echo(f"dask {metadata.version('distributed')}: --workers and --scheduler available")
    except metadata.PackageNotFoundError:
        typer.echo("dask: not installed (--workers and --scheduler need: pip install 'forecast-cli[dask]')")


def _load_config(ctx: typer.Context, path: Optional[Path]) -> dict:
    """``--config`` (or ``FORECAST_CONFIG``): the commands' option defaults, each key and value checked.

    A bad file is a usage error (exit 2) on one line that names the file and the key.
    """
    if path is None:
        env = os.environ.get("FORECAST_CONFIG")
        path = Path(env) if env else None
    if path is None:
        return {}
    from .config_file import ConfigFileError, default_map, read_config

    try:
        return default_map(ctx, read_config(path), path)
    except ConfigFileError as e:
        _echo_err(f"error: {e}")
        raise typer.Exit(2) from None


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit; with --verbose, also the devices "
                                               "TensorFlow sees (loads it).")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML file of option defaults "
                                                   "(flags > FORECAST_* variables > file > built-in).",
                                                   show_default=False)] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
):
    """Honest, cross-validated LSTM forecasts for CSV time series.

    Exit codes: 0 success, 1 failed (bad data or bundle), 2 usage error, 3 some files failed
    in 'score', 130 interrupted.
    """
    STATE.quiet, STATE.verbose, STATE.debug, STATE.no_color = quiet, verbose, debug, no_color
    if ctx.meta.get("forecast_version"):
        _print_version(verbose)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    defaults = _load_config(ctx, config)
    if defaults:
        ctx.default_map = {**(ctx.default_map or {}), **defaults}


# ----------------------------------------------------------------------------- commands
@app.command(epilog=_examples("forecast check sample_data/AAPL.csv",
                              "forecast check stocks.csv --id-col ticker --json",
                              "forecast check sensor.csv --na-values -200 --plot gaps.png"))
@_handle_errors
@with_settings("data")
def check(
    data: DataArg,
    settings: "Settings",
    plot: PlotOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
):
    """Describe and validate a CSV: rows, time range, frequency, gaps, missing values. No TensorFlow."""
    _setup(quiet, verbose, debug, no_color)
    from . import api
    from .report import render_check

    cfg = settings.data
    _plot_checked(plot, data)
    checked = api.check(_source(data), cfg)
    summary = checked.summary()
    if json_out:
        _print_json(summary)
    elif "series" in summary:  # many series: a folder, glob, or --id-col
        from .report_check import render_check_panel

        render_check_panel(_stdout_console(), summary)
    else:
        render_check(_stdout_console(), summary)
    if plot is not None:
        from .plots import plot_check

        _plot(plot_check, checked, plot)


@app.command(epilog=_examples("forecast evaluate sample_data/AAPL.csv --target Close",
                              "forecast evaluate stocks.csv --id-col ticker --horizon 10 --folds 3 --json",
                              "forecast evaluate sensors/ --lookback 48 --horizon 24 --predictions cv.csv"))
@_handle_errors
@with_settings("data", "window", "settings", "model", "train")
def evaluate(
    data: DataArg,
    settings: "Settings",
    folds: Annotated[int, typer.Option("--folds", "-k", min=1, envvar=_env("folds"), show_envvar=False,
                                       metavar="INT", rich_help_panel=EVAL_PANEL, help="Number of folds.")] = 5,
    cv: Annotated[str, typer.Option("--cv", envvar=_env("cv"), show_envvar=False, metavar="KIND",
                                    rich_help_panel=EVAL_PANEL,
                                    help="expanding: train on all the past; sliding: a fixed-size past.")] = "expanding",
    test_size: Annotated[Optional[int], typer.Option(
        "--test-size", min=1, envvar=_env("test_size"), show_envvar=False, metavar="INT", rich_help_panel=EVAL_PANEL,
        help="Rows per test span; many series: steps after each cutoff.")] = None,
    by_step: Annotated[bool, typer.Option("--by-step", metavar="", rich_help_panel=EVAL_PANEL,
                                          help="Also report metrics per horizon step.")] = False,
    predictions: Annotated[Optional[str], typer.Option(
        "--predictions", show_default=False, metavar="FILE", rich_help_panel=OUTPUT_PANEL,
        help="Also write every test forecast of every forecaster to this CSV.")] = None,
    plot: PlotOpt = None,
    strict: StrictOpt = False,
    json_out: JsonOpt = False,
    json_lines: Annotated[bool, typer.Option(
        "--json-lines", metavar="", rich_help_panel=OUTPUT_PANEL,
        help="One JSON object per fold, then the result.")] = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
):
    """Cross-validate the model against naive, seasonal-naive and linear baselines (time-ordered folds)."""
    # --json-lines: each fold is written (and flushed) as soon as it is scored, {"type": "fold", "of": n, ...},
    # and the whole result last, {"type": "result", ...}: a run stopped by Ctrl-C keeps its finished folds.
    _setup(quiet, verbose, debug, no_color)
    from . import api
    from .report import render_evaluation

    if json_lines and json_out:
        from .errors import ConfigError

        raise ConfigError("--json and --json-lines both write JSON to stdout; choose one")
    _plot_checked(plot, data)
    _cluster_checked(scheduler, workers)
    kept, n_folds = [], [folds]

    def json_line(obj: dict) -> None:
        import json

        sys.stdout.write(json.dumps(obj, default=str, allow_nan=False) + "\n")
        sys.stdout.flush()

    def on_fold(k: int, n: int) -> None:
        n_folds[0] = n
        prog.on_fold(k, n)

    with _cluster(scheduler, workers) as cluster, _Progress(_progress_enabled()) as prog:
        result = api.evaluate(_source(data), *settings, folds=folds, cv=cv, season=settings.season, test_size=test_size,
                              by_step=by_step, predictions_path=predictions, on_fold=on_fold,
                              on_epoch=prog.on_epoch, strict=strict,
                              on_forecasts=kept.append if plot is not None else None,
                              on_fold_done=(lambda e: json_line({"type": "fold", "of": n_folds[0], **e}))
                              if json_lines else None,
                              **({"map_folds": cluster.map} if cluster is not None else {}))
    _warn_skipped(result)
    if json_lines:
        json_line({"type": "result", **result})
    elif json_out:
        _print_json(result)
    else:
        render_evaluation(_stdout_console(), result, by_step=by_step)
    if plot is not None:
        from .plots import plot_evaluation

        _plot(plot_evaluation, kept[0], plot, metrics=result)


def _warn_skipped(result: dict) -> None:
    """One warning line per series left out of a many-series run (too short, another frequency, gaps)."""
    for s in result.get("data", {}).get("skipped", []):
        _warn(s.get("message") or f"series '{s['id']}' left out: {s['reason']}")
    for note in result.get("notes", []) + result.get("holdout", {}).get("notes", []):  # a baseline left out
        _warn(note)


@app.command(epilog=_examples("forecast train sample_data/AAPL.csv --target Close -o aapl.fcst",
                              "forecast train stocks.csv --id-col ticker --horizon 10 -o stocks.fcst --json"))
@_handle_errors
@with_settings("data", "window", "settings", "model", "train")
def train(
    data: DataArg,
    settings: "Settings",
    output: Annotated[str, typer.Option("--output", "-o", help="Bundle file to write (.fcst).", metavar="FILE",
                                        show_default=False, rich_help_panel=OUTPUT_PANEL)],
    holdout: Annotated[float, typer.Option("--holdout", min=0.0, envvar=_env("holdout"), show_envvar=False,
                                           metavar="FLOAT", rich_help_panel=EVAL_PANEL,
                                           help="Holdout tail: a fraction of the rows (<1) or a row count.")] = 0.1,
    refit: Annotated[bool, typer.Option("--refit", envvar=_env("refit"), show_envvar=False, metavar="",
                                        rich_help_panel=EVAL_PANEL,
                                        help="Once the holdout is scored, fit again on every row (the intervals "
                                             "still come from the holdout).")] = False,
    fallback: Annotated[str, typer.Option("--fallback", envvar=_env("fallback"), show_envvar=False,
                                          metavar="[model|best]", rich_help_panel=EVAL_PANEL,
                                          help="best: save the forecaster with the lowest holdout RMSE, a "
                                               "baseline when one wins.")] = "model",
    strict: StrictOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
):
    """Fit on all but a holdout tail, report holdout metrics beside the baselines, save a bundle."""
    _setup(quiet, verbose, debug, no_color)
    from . import api
    from .report import render_train

    with _Progress(_progress_enabled()) as prog:
        result = api.train(_source(data), output, *settings, holdout=holdout, season=settings.season,
                           on_epoch=prog.on_epoch, strict=strict, refit=refit, fallback=fallback)
    _warn_skipped(result)
    if json_out:
        _print_json(result)
    else:
        render_train(_stdout_console(), result)


# ----------------------------------------------------------------------------- predict, score, inspect
BundleArg = Annotated[Path, typer.Argument(help="Model bundle (.fcst) made by 'forecast train -o'.",
                                           metavar="BUNDLE", show_default=False)]
BundleDateFormatOpt = setting_option(
    "date_format", panel=False,
    help="strftime format of the dates, e.g. '%d/%m/%Y'; overrides the one stored in the bundle.")
BundleDayfirstOpt = setting_option(
    "dayfirst", panel=False,
    help="Read numeric dates like 01/02/2021 day-first (or month-first); overrides the bundle's reading.")
BundleIdColOpt = setting_option(
    "id_col", panel=False,
    help="Column naming the series in a long-format file; overrides the one stored in the bundle.")
StepsOpt = Annotated[Optional[int], typer.Option(
    "--steps", "-n", min=1, envvar=_env("steps"), show_envvar=False, show_default=False,
    help="Future steps to forecast; default and most: the horizon the model was trained for.")]
LevelOpt = Annotated[Optional[list[float]], typer.Option(
    "--level", show_default=False,
    help="Prediction-interval level in percent; repeat for several. Default: 80 and 95.")]


def _warn(msg: str) -> None:
    if not STATE.quiet:
        _echo_err(f"warning: {msg}")


@app.command(epilog=_examples("forecast predict aapl.fcst sample_data/AAPL.csv",
                              "forecast predict aapl.fcst sample_data/AAPL.csv --steps 3 --level 90 -o next.csv",
                              "forecast predict stocks.fcst stocks.csv --plot -"))
@_handle_errors
def predict(
    bundle: BundleArg,
    data: DataArg,
    steps: StepsOpt = None,
    level: LevelOpt = None,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", show_default=False, metavar="FILE|-", rich_help_panel=OUTPUT_PANEL,
        help="Write the forecast to this file (.csv, or .parquet) or - for CSV on stdout.")] = None,
    plot: PlotOpt = None,
    date_format: BundleDateFormatOpt = None,
    dayfirst: BundleDayfirstOpt = None,
    id_col: BundleIdColOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
):
    """Forecast past the end of DATA with a saved model: one row per future timestamp, with intervals.

    Intervals are split-conformal, from the residuals held out at training time, per horizon step. --steps beyond the trained horizon is refused (retrain with a longer --horizon).
    """
    _setup(quiet, verbose, debug, no_color)
    from .errors import ConfigError
    from .forecasting import check_levels, predict as _predict, write_frame

    levels = check_levels(level)
    if output == "-" and json_out:
        raise ConfigError("--json and -o - both write to stdout; choose one")
    if output not in (None, "-"):
        from .files import check_output

        check_output(output, example="forecast.csv", inputs=tuple(data))
    _plot_checked(plot, data)
    fc = _predict(bundle, _source(data), steps=steps, levels=levels, date_format=date_format, dayfirst=dayfirst,
                  id_col=id_col)
    for w in fc.info["warnings"]:
        _warn(w)
    if plot is not None:
        from .plots import plot_forecast

        _plot(plot_forecast, fc, plot)
    if output == "-":
        sys.stdout.write(fc.frame.to_csv(index=False, float_format="%.10g"))
        sys.stdout.flush()
        return
    if output is not None:
        write_frame(fc.frame, output)
        if not STATE.quiet and not json_out:
            _echo_err(f"wrote {len(fc.frame)} rows to {output}")
    if json_out:
        _print_json(fc.to_json())
    elif output is None:
        from .report import render_predict

        render_predict(_stdout_console(), fc.to_json())


@app.command(epilog=_examples("forecast score aapl.fcst incoming/ -o forecasts/",
                              "forecast score model.fcst 'data/*.csv' -o out/ --skip-existing --min-age 60 -q",
                              "forecast score stocks.fcst stocks.csv -o out/ --format parquet"))
@_handle_errors
def score(
    bundle: BundleArg,
    inputs: Annotated[list[str], typer.Argument(help="CSV files, directories (their *.csv) and globs.",
                                                metavar="INPUT", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the forecasts and summary.json.",
                                         show_default=False)],
    steps: StepsOpt = None,
    level: LevelOpt = None,
    skip_existing: Annotated[bool, typer.Option(
        "--skip-existing", help="Leave an input alone when its forecast in OUTDIR was made from the same input "
                                "content, model and settings (resume a run); score the others.")] = False,
    min_age: Annotated[float, typer.Option(
        "--min-age", min=0, metavar="SECONDS",
        help="Leave inputs modified less than SECONDS ago alone (status skipped): files still being written. "
             "0: off.")] = 0.0,
    date_format: BundleDateFormatOpt = None,
    dayfirst: BundleDayfirstOpt = None,
    id_col: BundleIdColOpt = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, envvar=_env("score_batch_size"), show_envvar=False,
                                            help="Windows per network call.")] = 4096,
    fmt: Annotated[str, typer.Option("--format", envvar=_env("format"), show_envvar=False,
                                     help="Output files: csv or parquet (needs pyarrow).")] = "csv",
    combined: Annotated[bool, typer.Option(
        "--combined", help="One file, OUTDIR/combined.forecast.csv, with every forecast and a first column 'input', "
                           "instead of one file per input.")] = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
):
    """Forecast past the end of many files with one model; for cron.

    Writes OUTDIR/<name>.forecast.csv per input (or all to OUTDIR/combined.forecast.csv with --combined; atomically) and OUTDIR/summary.json. A bad file is recorded and skipped. Exit 0: all scored (or skipped); 3: some failed; 1: none scored, bad bundle, or OUTDIR locked or unwritable; 130: interrupted (nothing half-written). A lock stops a second run on the same OUTDIR; the tool's own files in OUTDIR are never inputs.
    """
    _setup(quiet, verbose, debug, no_color)
    from . import scoring

    _cluster_checked(scheduler, workers)
    bar = _progress_enabled()
    state = {"progress": None, "task": None}

    def on_start(total: int):
        if state["progress"] is not None:
            state["task"] = state["progress"].add_task("scoring", total=total, info="")

    def on_file(entry: dict, done: int, total: int):
        prog = state["progress"]
        if entry["status"] == "failed":
            line = f"error: {entry['error']}"
            if prog is not None:
                prog.console.print(line, markup=False, highlight=False)
            else:
                _echo_err(line)
        elif STATE.verbose and not STATE.quiet:
            line = f"{entry['status']}: {entry['input']} -> {entry['output']}" + (
                f" ({entry['rows']} rows)" if entry.get("rows") is not None else "") + (
                f" ({entry['reason']})" if entry.get("reason") else "")
            if prog is not None:
                prog.console.print(line, markup=False, highlight=False)
            else:
                _echo_err(line)
        if prog is not None and state["task"] is not None:
            prog.update(state["task"], completed=done, info=Path(entry["input"]).name)

    def on_warning(msg: str):
        prog = state["progress"]
        if STATE.quiet:
            return
        if prog is not None:
            prog.console.print(f"warning: {msg}", markup=False, highlight=False)
        else:
            _echo_err(f"warning: {msg}")

    if bar:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        state["progress"] = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                     console=_stderr_console(), transient=True)
    ctx = state["progress"] if state["progress"] is not None else _nullcontext()
    with _cluster(scheduler, workers) as cluster, ctx:
        summary = scoring.score(bundle, inputs, output, steps=steps, levels=level or (80.0, 95.0),
                                skip_existing=skip_existing, batch_size=batch_size, fmt=fmt, combined=combined,
                                min_age=min_age, date_format=date_format, dayfirst=dayfirst,
                                id_col=id_col, on_file=on_file, on_start=on_start, on_warning=on_warning,
                                **({"cluster": cluster} if cluster is not None else {}))
    code = scoring.exit_code(summary)
    if json_out:
        _print_json(summary)
    elif not STATE.quiet:
        sys.stdout.write(f"scored {summary['n_ok']}, failed {summary['n_failed']}, skipped {summary['n_skipped']} "
                         f"of {summary['n_inputs']} inputs; summary: {Path(output) / scoring.SUMMARY_NAME}\n")
        sys.stdout.flush()
    if code == EXIT_FAILURE:
        _echo_err(f"error: no input could be scored; see {Path(output) / scoring.SUMMARY_NAME}")
    if code:
        raise typer.Exit(code)


TUNE_PANEL = "Search"


def _tune_opt(*decls, **kw):
    """An option of ``tune``'s search panel (environment variable FORECAST_<NAME>, as every option)."""
    return typer.Option(*decls, envvar=_env(decls[0].split("/")[0][2:].replace("-", "_")), show_envvar=False,
                        rich_help_panel=TUNE_PANEL, **kw)


@app.command(epilog=_examples("forecast tune sample_data/AAPL.csv --target Close --trials 30 -o best.toml",
                              "forecast tune sensor.csv -t T --timeout 20m --study sensor --space space.toml --json",
                              "forecast --config best.toml evaluate sample_data/AAPL.csv"))
@_handle_errors
@with_settings("data", "window", "settings", "model", "train")
def tune(
    data: DataArg,
    settings: "Settings",
    trials: Annotated[int, _tune_opt("--trials", "-n", min=1, metavar="INT",
                                     help="Finished trials the study should hold; a rerun continues to this many.")] = 20,
    timeout: Annotated[Optional[str], _tune_opt("--timeout", metavar="DURATION", show_default=False,
                                                help="Start no new trial after this long: 90s, 30m, 2h.")] = None,
    storage: Annotated[str, _tune_opt("--storage", metavar="URL",
                                      help="The study's database (any URL Optuna takes); shared by reruns and "
                                           "by several tune processes.")] = "sqlite:///tune.db",
    study: Annotated[Optional[str], _tune_opt("--study", metavar="NAME", show_default=False,
                                              help="Study name (default: FILE-TARGET-hHORIZON); the same name "
                                                   "continues it.")] = None,
    space: Annotated[Optional[Path], _tune_opt("--space", metavar="FILE.toml", show_default=False,
                                               help="Ranges to search, over the defaults: lookback = {low = 16, "
                                                    "high = 96}, model = [\"lstm\", \"gru\"], dropout = 0.1.")] = None,
    folds: Annotated[int, _tune_opt("--folds", "-k", min=1, metavar="INT",
                                    help="Cross-validation folds of each trial.")] = 3,
    test_size: Annotated[Optional[int], _tune_opt("--test-size", min=1, metavar="INT", show_default=False,
                                                  help="Rows per fold's test span (many series: steps per "
                                                       "cutoff).")] = None,
    holdout: Annotated[Optional[float], _tune_opt("--holdout", metavar="ROWS|FRACTION", show_default=False,
                                                  help="The final test span no trial sees (default: one fold's "
                                                       "size; many series: --test-size).")] = None,
    cv: Annotated[str, _tune_opt("--cv", metavar="KIND",
                                 help="expanding: train on all the past; sliding: a fixed-size past.")] = "expanding",
    prune: Annotated[bool, _tune_opt("--prune/--no-prune",
                                     help="Stop a trial after a fold clearly worse than the median.")] = True,
    output: Annotated[Optional[str], typer.Option("--output", "-o", show_default=False, metavar="FILE.toml",
                                                  rich_help_panel=OUTPUT_PANEL,
                                                  help="Write the best settings as a --config file.")] = None,
    plot: Annotated[Optional[str], typer.Option(
        "--plot", metavar="FILE", show_default=False, rich_help_panel=OUTPUT_PANEL,
        help="Draw the optimisation history and importances: FILE.png, .svg or .pdf. Needs forecast-cli\\[plot].")] = None,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    strict: StrictOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
):
    """Search the network and window settings by time-ordered cross-validation (Optuna), resumable.

    The last rows are a final test span that no trial sees: the best settings are scored there once,
    beside the defaults and the baselines. Needs forecast-cli\\[tune]. Exit 130 on Ctrl-C: the study
    keeps its finished trials, and the same command continues it.
    """
    _setup(quiet, verbose, debug, no_color)
    from .errors import ConfigError

    if plot is not None:
        if plot == "-":
            raise ConfigError("tune --plot takes a file (.png, .svg or .pdf), not the terminal")
        _plot_checked(plot, data)
    if output is not None:
        from .files import check_output

        check_output(output, example="best.toml", inputs=tuple(data))
    _cluster_checked(scheduler, workers)
    from .tune import tune as run_tune
    from .tune import write_best_toml
    from .tune_report import LiveTrials, render_tune

    live = LiveTrials(_stderr_console()) if _progress_enabled() else None
    with _cluster(scheduler, workers) as cluster, live if live is not None else _nullcontext():
        result = run_tune(_source(data), settings, trials=trials, timeout=timeout, storage=storage, study=study,
                          space_path=space, folds=folds, test_size=test_size,
                          holdout=holdout, cv=cv,
                          strict=strict, prune=prune, verbose=STATE.verbose, warn=_warn,
                          on_fold=live.on_fold if live is not None else None,
                          on_trial=live.on_trial if live is not None else None,
                          **({"cluster": cluster} if cluster is not None else {}))
    if output is not None:
        write_best_toml(output, result)
        result["output"] = output
        if not STATE.quiet:
            _echo_err(f"wrote the best settings to {output} (use: forecast --config {output} evaluate ...)")
    if json_out:
        _print_json(result)
    else:
        render_tune(_stdout_console(), result)
    if plot is not None:
        from .tune_report import plot_study

        plot_study(result, plot)
        if not STATE.quiet:
            _echo_err(f"wrote plot {plot}")


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()


def inspect_view(path, manifest: dict) -> dict:
    """The manifest for ``inspect --json``: conformal residuals replaced by their shape."""
    view = {"bundle": str(path), "size_bytes": os.path.getsize(path), "model_sha256_verified": True,
            **{k: v for k, v in manifest.items()}}
    conf = manifest.get("conformal")
    if isinstance(conf, dict):
        res = conf.get("residuals")
        shape = []
        node = res
        while isinstance(node, list):
            shape.append(len(node))
            node = node[0] if node else None
        view["conformal"] = {**{k: v for k, v in conf.items() if k != "residuals"},
                             "residuals_shape": shape, "residuals_dims": ["horizon", "n_targets", "n_windows"]}
    panel = manifest.get("panel")
    if isinstance(panel, dict):  # a model of many series: its ids, not every stored window
        tails = panel.get("tails") or {}
        view["panel"] = {**{k: v for k, v in panel.items() if k not in ("tails", "tail_ends")},
                         "series": len((panel.get("state") or {}).get("keys") or []),
                         "stored_windows": len(tails)}
    return view


@app.command(epilog=_examples("forecast inspect aapl.fcst", "forecast inspect aapl.fcst --json"))
@_handle_errors
def inspect(
    bundle: BundleArg,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    debug: DebugOpt = False,
    no_color: NoColorOpt = False,
):
    """Show what a bundle holds: settings, data contract, metrics, versions, training data. No TensorFlow."""
    _setup(quiet, verbose, debug, no_color)
    from .forecaster import Forecaster

    view = inspect_view(bundle, Forecaster.inspect(bundle))
    if json_out:
        _print_json(view)
    else:
        from .report import render_inspect

        render_inspect(_stdout_console(), view)


def _stdout_is_devnull() -> bool:
    try:
        a, b = os.fstat(sys.stdout.fileno()), os.stat(os.devnull)
    except (OSError, ValueError):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _click_exception():
    """The command-line parser's exception class (Typer's own copy of Click, or Click itself)."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # Typer before it vendored Click
        from click.exceptions import ClickException
    return ClickException


def main() -> None:
    """Console-script entry point.

    A usage error (an unknown option, a bad value) is Typer's framed message on a terminal, and one
    line, ``error: ...``, when stderr is not a terminal (cron mails it), with exit code 2.
    """
    from typer.main import get_command

    command = get_command(app)
    was_null = _stdout_is_devnull()
    try:
        code = command.main(prog_name="forecast", standalone_mode=False)
    except SystemExit as e:
        # rich answers a closed pipe (`forecast --help | head`) by pointing stdout at /dev/null and
        # exiting 1; a reader that stops early is not an error
        if e.code == 1 and not was_null and _stdout_is_devnull():
            sys.exit(0)
        raise
    except _click_exception() as e:
        if sys.stderr.isatty():
            from typer import rich_utils

            rich_utils.rich_format_error(e)
        else:
            ctx = getattr(e, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            _echo_err(f"error: {e.format_message()}{hint}")
        sys.exit(e.exit_code)
    except BrokenPipeError:
        _quiet_stdout()
        code = 0
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
