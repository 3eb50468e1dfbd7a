"""The command line as a shell sees it: a bare command, usage errors, pipes, completion and plots."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import AAPL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, env=None, **kwargs):
    """``python -m forecast_cli ARGS`` as cron runs it: stderr is a pipe, not a terminal."""
    return subprocess.run([sys.executable, "-m", "forecast_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "100", **(env or {})}, **kwargs)


def test_bare_forecast_prints_the_help_and_exits_0():
    p = run()
    assert p.returncode == 0 and "Usage: forecast" in p.stdout and "evaluate" in p.stdout


@pytest.mark.parametrize("args, message", [
    (("evaluate", "--foo", "x.csv"), "error: No such option: --foo (Possible options: --folds) "
                                     "(see forecast evaluate --help)"),
    (("evaluate", AAPL, "--lookback", "abc"), "error: Invalid value for '--lookback' / '-l': "),
    (("predict",), "error: Missing argument 'BUNDLE'."),
])
def test_usage_errors_are_one_line_when_stderr_is_not_a_terminal(args, message):
    p = run(*args)
    assert p.returncode == 2 and p.stdout == ""
    assert len(p.stderr.splitlines()) == 1 and p.stderr.startswith(message), p.stderr
    assert "╭" not in p.stderr


@pytest.mark.parametrize("args", [("check", AAPL), ("--help",), ("check", "--help")])
def test_a_reader_that_stops_early_is_not_an_error(args):
    """`forecast check FILE | head -1`: the pipe closes before the output ends; exit 0, nothing on stderr."""
    line = " ".join(map(str, args))
    p = subprocess.run(["/bin/bash", "-c", f"{sys.executable} -m forecast_cli {line} | head -1; "
                        "echo status=${PIPESTATUS[0]} >&2"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env={**os.environ, "COLUMNS": "100"})
    assert len(p.stdout.splitlines()) == 1
    assert p.stderr == "status=0\n", p.stderr


def test_shell_completion_offers_the_files_columns():
    env = {"_FORECAST_COMPLETE": "complete_bash", "COMP_WORDS": f"forecast evaluate {AAPL} --target C",
           "COMP_CWORD": "4"}
    p = subprocess.run([sys.executable, "-c", "from forecast_cli.cli import main; main()"], capture_output=True,
                       text=True, timeout=120, cwd=ROOT, env={**os.environ, **env})
    assert p.stdout.split() == ["Close"], p.stderr
    p = run("--show-completion", "bash")
    assert p.returncode == 0 and "_forecast_completion" in p.stdout


def test_header_columns_sniffs_the_delimiter(tmp_path):
    from forecast_cli.cli_options import header_columns

    (tmp_path / "t.csv").write_text("ts\tsensor\tvalue\n2024-01-01\ta\t1\n")
    assert header_columns(str(tmp_path / "t.csv")) == ["ts", "sensor", "value"]
    assert header_columns(str(tmp_path / "missing.csv")) == []


def test_check_plot_to_a_file_and_a_bad_extension(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "check.png"
    p = run("check", AAPL, "--plot", out)
    assert p.returncode == 0 and f"wrote plot {out}" in p.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = run("check", AAPL, "--plot", tmp_path / "check.jpg")
    assert p.returncode == 2 and "a plot is written as .png, .svg or .pdf" in p.stderr
    assert not (tmp_path / "check.jpg").exists()


def test_train_refit_and_inspect_say_which_rows_the_weights_saw(tmp_path):
    from typer.testing import CliRunner

    from conftest import FAST_CLI
    from forecast_cli.cli import app

    runner = CliRunner()
    out = tmp_path / "m.fcst"
    r = runner.invoke(app, ["train", str(AAPL), "--target", "Close", "--lookback", "10", "--horizon", "2", *FAST_CLI,
                            "-o", str(out), "--refit"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "weights fitted on rows 0..3378 (2004-08-19 .. 2018-01-19), every row: refitted" in r.stdout
    r = runner.invoke(app, ["inspect", str(out)], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "every row: refitted after the holdout was scored" in r.stdout
    assert "data up to" in r.stdout
