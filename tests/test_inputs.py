"""Issue 12: inputs still being written, files that are not regular files, and very wide headers."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app
from forecast_cli.config import DataConfig
from forecast_cli.data import _load_clean, load
from forecast_cli.errors import DataError

from conftest import AAPL, one_line_error

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
STILL = "the file may still be being written; rerun when it is complete"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def aapl_head(path: Path, cut: str) -> Path:
    """The first 100 rows of AAPL.csv, then ``cut`` with no final newline (a writer still appending)."""
    lines = AAPL.read_text().splitlines(keepends=True)[:101]
    path.write_text("".join(lines) + cut)
    return path


# --------------------------------------------------------------------------- case 4: inputs still being written


@pytest.mark.parametrize("cut, what", [
    ("2005-0", "1 of 7 fields"),  # a cut date
    ("2005-01-14,2.3", "2 of 7 fields"),  # a row missing its value fields
    ("2005-01-14,2.3,2.4,2.2,2.35,2.1,", "its last field is empty"),  # cut right after a delimiter
])
def test_a_cut_last_row_is_refused_by_check_predict_and_score(tmp_path, aapl_bundle, cut, what):
    # Before: the cut date was read as 2005-01-01 (or a duplicate), a cut row scored as whole.
    f = aapl_head(tmp_path / "live.csv", cut)
    parts = ("live.csv", "line 102", "the last row is incomplete (no final newline", what, STILL)
    one_line_error(invoke("check", f), 1, *parts)
    one_line_error(invoke("predict", aapl_bundle, f), 1, *parts)
    assert _load_clean(f, DataConfig(target="Close", date_col="Date").check(), ("B", True)) is None
    r = invoke("score", aapl_bundle, f, "-o", tmp_path / "out", "-q")
    assert r.exit_code == 1, r.output
    entry = json.loads((tmp_path / "out" / "summary.json").read_text())["files"][0]
    assert entry["status"] == "failed" and STILL in entry["error"] and "line 102" in entry["error"]
    assert not (tmp_path / "out" / "live.forecast.csv").exists()


def test_a_cut_date_in_the_last_column_and_whole_files_without_final_newline(tmp_path):
    f = tmp_path / "last_col.csv"
    f.write_text("y,date\n1.5,2011-01-30\n2.5,2011-01-31\n3.5,2011-0")
    with pytest.raises(DataError, match=r"line 4: the last row is incomplete .*'2011-0', unlike the other dates"):
        load(f, DataConfig())
    f.write_text("y,date\n1.5,2011-01-30\n2.5,2011-01-31\n3.5,2011-02-01")  # complete, no newline: read
    assert len(load(f, DataConfig()).frame) == 3
    # With a final newline a date of another layout is a mixed-format error, never 2011-01-01.
    f.write_text("date,y\n2011-01-02,1\n2011-01-03,2\n2011-1,3\n2011-01-05,4\n")
    with pytest.raises(DataError, match=r"line 4: cannot parse '2011-1' as a date; use one date format"):
        load(f, DataConfig())


# --------------------------------------------------------------------------- case 9: not regular files


def _run(*args) -> subprocess.CompletedProcess:
    """``forecast ARGS`` in a child with a time and memory limit, so a regression fails, not hangs."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    return subprocess.run([sys.executable, "-m", "forecast_cli", *map(str, args)], capture_output=True,
                          text=True, timeout=60, preexec_fn=limit, cwd=ROOT)


def _run_check(path) -> subprocess.CompletedProcess:
    return _run("check", path)


def test_devices_and_fifos_are_refused_at_once_and_symlinks_work(tmp_path):
    # Before: /dev/zero was read until memory ran out; a FIFO with no writer hung.
    r = _run_check("/dev/zero")
    assert r.returncode == 1 and r.stderr.strip() == \
        "error: /dev/zero: is not a regular file (a character device); give a CSV file"
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    r = _run_check(fifo)
    assert r.returncode == 1 and r.stderr.strip() == f"error: {fifo}: is not a regular file (a FIFO); give a CSV file"
    link = tmp_path / "link.csv"
    link.symlink_to(AAPL)
    r = invoke("check", link, "--target", "Close", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["rows_read"] > 1000


def test_bundles_and_config_files_that_are_devices_or_fifos_are_refused_at_once(tmp_path):
    # Before: 'inspect /dev/zero' and 'predict /dev/zero ...' ran out of memory; a FIFO as the bundle or
    # as --config hung.
    fifo = tmp_path / "model.fcst"
    os.mkfifo(fifo)
    for bundle, kind in (("/dev/zero", "a character device"), (fifo, "a FIFO")):
        for args in (["inspect", bundle], ["predict", bundle, AAPL]):
            r = _run(*args)
            assert r.returncode == 1 and r.stderr.strip() == \
                f"error: {bundle}: is not a regular file ({kind}); give the .fcst file made by 'forecast train -o'"
        r = _run("--config", bundle, "check", AAPL)
        assert r.returncode == 2 and r.stderr.strip() == f"error: config file {bundle} is not a regular file ({kind})"


# --------------------------------------------------------------------------- case 12: wide headers


def test_a_header_wider_than_64k_is_read_whole(tmp_path):
    # Before: "no data rows, only a header on line 1" (the sniffer read 64 KiB, less than the header).
    n = 12_000
    f = tmp_path / "wide.csv"
    header = "date," + ",".join(f"column_{i}" for i in range(n))
    assert len(header) > 65536
    rows = [f"2024-01-{d:02d}," + ",".join([str(d)] * n) for d in range(1, 21)]
    f.write_text(header + "\n" + "\n".join(rows) + "\n")
    r = invoke("check", f, "--target", "column_11999", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert (s["rows"], s["freq"], s["columns"][0]["max"]) == (20, "D", 20.0)
    assert np.isclose(s["columns"][0]["mean"], 10.5)
