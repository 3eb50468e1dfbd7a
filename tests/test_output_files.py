"""Output files: special files are written into, never replaced; bad -o paths are refused up front."""
import os
import stat
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app
from forecast_cli.errors import ConfigError
from forecast_cli.files import atomic_write, check_output

import shutil

import numpy as np

from conftest import AAPL, write_series

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_atomic_write_writes_into_a_fifo_and_leaves_it_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    with atomic_write(fifo, "wb") as fh:
        fh.write(b"a,b\n1,2\n")
    reader.join(timeout=10)
    assert got == [b"a,b\n1,2\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary left beside it


def test_atomic_write_through_a_symlink_to_a_device_keeps_the_link(tmp_path):
    link = tmp_path / "null.csv"
    link.symlink_to("/dev/null")
    with atomic_write(link, "wb") as fh:
        fh.write(b"x\n")
    assert os.readlink(link) == "/dev/null" and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_atomic_write_through_a_symlink_to_a_file_replaces_the_file_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real.name)
    with atomic_write(link, "w") as fh:
        fh.write("new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv"]


def test_an_existing_regular_output_is_replaced(tmp_path):
    out = tmp_path / "f.csv"
    out.write_text("old contents that are longer\n")
    with atomic_write(out, "w") as fh:
        fh.write("new\n")
    assert out.read_text() == "new\n"


@pytest.mark.parametrize("name, message", [
    ("missing_dir/model.fcst", "--output missing_dir/model.fcst: the folder missing_dir does not exist; create it first"),
    ("missing_dir/", "--output missing_dir/: the folder does not exist, and --output takes a file name such as model.fcst"),
    ("adir", "--output adir is a directory; give a file name such as model.fcst"),
    ("series.csv", "--output series.csv is the input file series.csv; write the output to another file"),
])
def test_train_refuses_a_bad_output_before_training(tmp_path, monkeypatch, name, message):
    monkeypatch.chdir(tmp_path)
    write_series(tmp_path / "series.csv", np.arange(60.0))
    (tmp_path / "adir").mkdir()
    before = (tmp_path / "series.csv").read_bytes()
    r = invoke("train", "series.csv", "-o", name, "--epochs", "1")
    assert r.exit_code == 2, r.output
    assert r.stderr == f"error: {message}\n"
    assert (tmp_path / "series.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "series.csv"]


def test_predict_and_evaluate_refuse_to_overwrite_their_input(tmp_path, aapl_bundle):
    data = Path(shutil.copy(AAPL, tmp_path / "AAPL.csv"))
    before = data.read_bytes()
    r = invoke("predict", aapl_bundle, data, "-o", data)
    assert r.exit_code == 2 and "is the input file" in r.stderr
    r = invoke("evaluate", data, "-t", "Close", "--predictions", data, "--epochs", "1")
    assert r.exit_code == 2 and "--predictions" in r.stderr and "is the input file" in r.stderr
    assert data.read_bytes() == before


def test_predict_into_a_fifo_leaves_the_fifo(tmp_path, aapl_bundle):
    data = AAPL
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    r = invoke("-q", "predict", aapl_bundle, data, "-o", fifo)
    reader.join(timeout=30)
    assert r.exit_code == 0, r.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert got and got[0].startswith("timestamp,") and len(got[0].splitlines()) > 1


def test_check_output_accepts_a_new_file_in_an_existing_folder(tmp_path):
    check_output(tmp_path / "new.csv", inputs=("-", None))
    with pytest.raises(ConfigError, match="--predictions"):
        check_output(tmp_path, option="--predictions")
