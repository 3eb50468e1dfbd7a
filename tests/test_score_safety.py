"""forecast score never silently wrong: stale outputs, files still being written, frequency,
the lock and temporaries, and its own files as inputs (issue 12, cases 3, 4, 6, 10, 11)."""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli import outdir, scoring
from forecast_cli.cli import app

from conftest import FAST_MODEL, FAST_TRAIN

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def series(path: Path, n: int, freq: str = "D", start: str = "2021-01-01", shift: float = 0.0) -> Path:
    t = np.arange(n)
    fmt = "%Y-%m-%d" if freq == "D" else "%Y-%m-%d %H:%M:%S"
    pd.DataFrame({"date": pd.date_range(start, periods=n, freq=freq).strftime(fmt),
                  "y": np.round(10 + np.sin(2 * np.pi * t / 7) + 0.01 * t + shift, 4)}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Two tiny daily bundles (lookback 5, horizon 3) that differ only in their seed."""
    from forecast_cli import api
    from forecast_cli.config import DataConfig, ModelConfig, TrainConfig, WindowConfig

    d = tmp_path_factory.mktemp("safety")
    data = series(d / "train.csv", 120)
    out = []
    for seed in (0, 1):
        b = d / f"m{seed}.fcst"
        api.train(data, b, DataConfig(target="y"), WindowConfig(5, 3), ModelConfig(**FAST_MODEL),
                  TrainConfig(**{**FAST_TRAIN, "seed": seed}))
        out.append(b)
    return out


def files_by_name(summary: dict) -> dict:
    return {Path(f["input"]).name: f for f in summary["files"]}


# ---------------------------------------------------------------------------- case 3: --skip-existing
def test_skip_existing_rescores_what_changed(bundles, tmp_path):
    bundle, other = bundles
    d = tmp_path / "in"
    d.mkdir()
    a = series(d / "a.csv", 40)
    series(d / "b.csv", 40, shift=1)
    out = tmp_path / "out"
    assert invoke("score", bundle, d, "-o", out, "-q").exit_code == 0
    fa = out / "a.forecast.csv"
    records = out / outdir.RECORDS_NAME
    assert set(json.loads(records.read_text())["records"]) == {"a.forecast.csv", "b.forecast.csv"}

    def rerun(*extra):
        r = invoke("score", bundle, d, "-o", out, "--skip-existing", "--json", *extra)
        assert r.exit_code == 0, r.output
        return {k: v["status"] for k, v in files_by_name(json.loads(r.stdout)).items()}

    # Unchanged: skipped, with a reason, and the forecast is not rewritten.
    before = fa.stat().st_mtime_ns
    r = invoke("score", bundle, d, "-o", out, "--skip-existing", "--json")
    s = files_by_name(json.loads(r.stdout))
    assert s["a.csv"]["status"] == "skipped" and s["b.csv"]["status"] == "skipped"
    assert s["a.csv"]["reason"] == "its forecast was made from the same input, bundle and settings"
    assert fa.stat().st_mtime_ns == before

    # A row appended: rescored, and the forecast starts after the new last row.
    with open(a, "a") as fh:
        fh.write("2021-02-10,99.5\n")
    assert rerun() == {"a.csv": "ok", "b.csv": "skipped"}
    assert pd.read_csv(fa)["timestamp"].iloc[0] == "2021-02-11"

    # Same size and mtime, other content (cp -p, a coarse clock): the SHA-256 says rescore.
    st = a.stat()
    text = a.read_text()
    a.write_text(text.replace("99.5\n", "11.5\n"))
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert a.stat().st_size == st.st_size
    old = fa.read_text()
    assert rerun() == {"a.csv": "ok", "b.csv": "skipped"}
    assert fa.read_text() != old

    # Other settings, another bundle: rescored; a forecast without its record: rescored.
    assert rerun("--steps", "2") == {"a.csv": "ok", "b.csv": "ok"}
    assert len(pd.read_csv(fa)) == 2
    assert rerun("--steps", "2") == {"a.csv": "skipped", "b.csv": "skipped"}
    r = invoke("score", other, d, "-o", out, "--skip-existing", "--json", "--steps", "2")
    assert {f["status"] for f in json.loads(r.stdout)["files"]} == {"ok"}
    kept = json.loads(records.read_text())
    del kept["records"]["b.forecast.csv"]
    records.write_text(json.dumps(kept))
    r = invoke("score", other, d, "-o", out, "--skip-existing", "--json", "--steps", "2")
    assert {k: v["status"] for k, v in files_by_name(json.loads(r.stdout)).items()} == {"a.csv": "skipped",
                                                                                          "b.csv": "ok"}


def test_records_older_than_the_forecasts_never_skip_a_stale_one(bundles, tmp_path):
    """kill -9 after a forecast was rewritten leaves the records of the run before: the rewritten
    forecast no longer matches its old record, even when the input is put back as it was."""
    d = tmp_path / "in"
    d.mkdir()
    a = series(d / "a.csv", 40)
    out = tmp_path / "out"
    assert invoke("score", bundles[0], d, "-o", out, "-q").exit_code == 0
    records = out / outdir.RECORDS_NAME
    old_records, old_text, st = records.read_bytes(), a.read_text(), a.stat()
    a.write_text(old_text.replace(old_text.splitlines()[-1].split(",")[1], "55.5555"))
    assert invoke("score", bundles[0], d, "-o", out, "-q").exit_code == 0
    changed = (out / "a.forecast.csv").read_text()
    records.write_bytes(old_records)  # as if that run had been killed before saving its records
    a.write_text(old_text)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # the input is exactly as the old record says
    r = invoke("score", bundles[0], d, "-o", out, "--skip-existing", "--json")
    assert json.loads(r.stdout)["files"][0]["status"] == "ok"
    assert (out / "a.forecast.csv").read_text() != changed


# ---------------------------------------------------------------------------- case 4: --min-age
def test_min_age_leaves_files_still_being_written_alone(bundles, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    old, new = series(d / "old.csv", 40), series(d / "new.csv", 40)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    os.utime(new, (time.time() - 3, time.time() - 3))
    out = tmp_path / "out"
    r = invoke("score", bundles[0], d, "-o", out, "--min-age", "60", "--json")
    assert r.exit_code == 0, r.output
    s = files_by_name(json.loads(r.stdout))
    assert s["old.csv"]["status"] == "ok"
    assert s["new.csv"]["status"] == "skipped" and s["new.csv"]["output"] is None
    m = re.fullmatch(r"modified (\d+) s ago, less than --min-age 60", s["new.csv"]["reason"])
    assert m and 3 <= int(m.group(1)) < 60, s["new.csv"]["reason"]
    assert not (out / "new.forecast.csv").exists()
    assert json.loads((out / "summary.json").read_text())["n_skipped"] == 1


# ---------------------------------------------------------------------------- case 6: frequency
def test_frequency_mismatch_is_a_warning_in_summary_and_stderr(bundles, tmp_path):
    hourly = series(tmp_path / "hourly.csv", 40, freq="h")
    out = tmp_path / "out"
    r = invoke("score", bundles[0], hourly, "-o", out)
    assert r.exit_code == 0, r.output
    msg = (f"{hourly}: the input's frequency (hourly) differs from the training data's (daily); "
           "the forecast may be meaningless")
    assert f"warning: {msg}" in r.stderr.splitlines()
    s = json.loads((out / "summary.json").read_text())
    assert msg in s["warnings"] and s["files"][0]["warnings"] == [msg] and s["files"][0]["status"] == "ok"
    daily = series(tmp_path / "daily.csv", 40)  # the same frequency: no such warning
    r = invoke("score", bundles[0], daily, "-o", tmp_path / "out2", "--json")
    assert "frequency" not in r.stderr and "warnings" not in json.loads(r.stdout)["files"][0]


# ---------------------------------------------------------------------------- case 10: lock, temporaries
def test_lock_is_never_followed_nor_blocked_by_a_pid(bundles, tmp_path):
    data = series(tmp_path / "a.csv", 40)
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    lock = out / outdir.LOCK_NAME
    # A symlink at the lock's name (or at the old lock's temporary name) is never written through.
    os.symlink(target, out / f"{outdir.LOCK_NAME}.{os.getpid()}.tmp")
    os.symlink(target, lock)
    r = invoke("score", bundles[0], data, "-o", out, "-q")
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [(f"error: {lock} is a symbolic link; forecast score keeps its lock file there "
                                      "and never follows a link at that name: remove the link")]
    assert target.read_text() == "keep me\n"
    # A lock file naming a live process that holds no lock (here: our parent) does not stop a run.
    lock.unlink()
    lock.write_text(f"{os.getppid()}\n")
    s = scoring.score(bundles[0], [str(data)], out)
    assert s["n_ok"] == 1 and not lock.exists()
    assert target.read_text() == "keep me\n" and not os.path.lexists(out / f"{outdir.LOCK_NAME}.{os.getpid()}.tmp")


def test_lock_path_directory_and_unwritable_outdir_are_one_line(bundles, tmp_path):
    data = series(tmp_path / "a.csv", 40)
    out = tmp_path / "out"
    (out / outdir.LOCK_NAME).mkdir(parents=True)
    r = invoke("score", bundles[0], data, "-o", out, "-q")
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [(f"error: {out / outdir.LOCK_NAME} is a directory; forecast score keeps its "
                                      "lock file at that name: remove the directory")]
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
    elif Path("/proc/self").is_dir():  # root ignores file modes; nobody can create files in /proc/self
        ro = Path("/proc/self")
    else:
        pytest.skip("running as root without /proc: no directory is unwritable")
    r = invoke("score", bundles[0], data, "-o", ro, "-q")
    assert r.exit_code == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot write to the output directory {ro}: cannot "
                                                   f"create {outdir.LOCK_NAME} there (")
    assert lines[0].endswith("); give -o a directory this user can write to") and "internal" not in lines[0]


def test_stale_temporaries_are_removed_and_a_held_lock_stops_a_run(bundles, tmp_path):
    from filelock import UnixFileLock

    data = series(tmp_path / "a.csv", 40)
    out = tmp_path / "out"
    out.mkdir()
    stale = [".a.forecast.csv.123-456.tmp", ".summary.json.k3j_x9q2.tmp", "..forecast-score.records.json.1-2.tmp"]
    foreign = [".notes.txt.123-456.tmp", "mine.tmp"]
    for name in stale + foreign:
        (out / name).write_text("x")
    r = invoke("score", bundles[0], data, "-o", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".tmp")) == sorted(foreign)
    assert "warning: removed 3 temporary file(s) left in" in r.stderr
    # A second run while the first holds the lock (held here with filelock): exit 1, one line, nothing written.
    (out / "a.forecast.csv").unlink()
    (out / stale[0]).write_text("x")
    with UnixFileLock(str(out / outdir.LOCK_NAME), timeout=0):
        r = invoke("score", bundles[0], data, "-o", out)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[-1].startswith(f"error: another forecast score run is writing to {out}; wait")
    assert not (out / "a.forecast.csv").exists() and (out / stale[0]).exists()  # the holder's files are left alone


# ---------------------------------------------------------------------------- case 11: own files
def test_own_files_in_outdir_are_not_inputs(bundles, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    series(d / "a.csv", 40)
    for _ in range(2):
        r = invoke("score", bundles[0], str(d / "*"), "-o", d, "--json")
        assert r.exit_code == 0, r.output
        s = json.loads(r.stdout)
        assert s["n_inputs"] == 1 and [Path(f["input"]).name for f in s["files"]] == ["a.csv"]
    assert r.exit_code == 0 and invoke("score", bundles[0], d, "-o", d, "--skip-existing").exit_code == 0
    # Named explicitly, an output in OUTDIR is skipped with a reason, not read as data.
    r = invoke("score", bundles[0], d / "summary.json", d / "a.forecast.csv", d / "a.csv", "-o", d, "--json")
    assert r.exit_code == 0, r.output
    s = files_by_name(json.loads(r.stdout))
    assert s["summary.json"]["status"] == "skipped" and s["a.forecast.csv"]["status"] == "skipped"
    assert s["summary.json"]["reason"] == f"{d / 'summary.json'} is a file forecast score writes in {d}, not an input"
    assert s["a.csv"]["status"] == "ok"
    assert outdir.is_own_file(".x.forecast.parquet.abcd_123.tmp") and not outdir.is_own_file("x.csv")


def test_date_format_and_dayfirst_override_the_bundle(bundles, tmp_path):
    """Day-first dates that are all ambiguous (days <= 12): the flags say how to read them."""
    t = np.arange(12)
    path = tmp_path / "dmy.csv"
    pd.DataFrame({"date": pd.date_range("2021-03-01", periods=12, freq="D").strftime("%d/%m/%Y"),
                  "y": 10 + np.sin(t)}).to_csv(path, index=False)
    for flags in (["--date-format", "%d/%m/%Y"], ["--dayfirst"]):
        out = tmp_path / flags[0].strip("-")
        r = invoke("score", bundles[0], path, "-o", out, "-q", *flags)
        assert r.exit_code == 0, r.output
        assert list(pd.read_csv(out / "dmy.forecast.csv")["timestamp"]) == ["2021-03-13", "2021-03-14", "2021-03-15"]
    # A forecast read with other date settings is not "existing" for --skip-existing.
    r = invoke("score", bundles[0], path, "-o", tmp_path / "dayfirst", "--skip-existing", "--json",
               "--date-format", "%d/%m/%Y")
    assert json.loads(r.stdout)["files"][0]["status"] == "ok"
