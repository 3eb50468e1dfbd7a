"""forecast score: batch scoring of many files, summary.json, exit codes, lock, resume, SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli import outdir, scoring
from forecast_cli.cli import app
from forecast_cli.errors import DataError
from forecast_cli.forecasting import predict

from conftest import AAPL, ROOT

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def make_good(d: Path, n: int, rows: int = 220) -> list[Path]:
    """``n`` slices of AAPL (Date, Close), ``rows`` rows each."""
    df = pd.read_csv(AAPL)[["Date", "Close"]]
    out = []
    for i in range(n):
        p = d / f"good_{i:03d}.csv"
        start = (i * 37) % (len(df) - rows)
        df.iloc[start:start + rows].to_csv(p, index=False)
        out.append(p)
    return out


def make_bad(d: Path) -> dict:
    df = pd.read_csv(AAPL)
    df[["Date", "Open"]].iloc[:200].to_csv(d / "bad_nocolumn.csv", index=False)
    df[["Date", "Close"]].iloc[:8].to_csv(d / "bad_short.csv", index=False)
    (d / "bad_binary.csv").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    return {"bad_nocolumn.csv": "'Close' not found", "bad_short.csv": "too short",
            "bad_binary.csv": "not a text CSV"}


@pytest.fixture
def batch_dir(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    good = make_good(d, 17)
    bad = make_bad(d)
    return d, good, bad


def test_directory_with_three_bad_files(aapl_bundle, batch_dir, tmp_path):
    d, good, bad = batch_dir
    out = tmp_path / "out"
    r = invoke("score", aapl_bundle, d, "-o", out)
    assert r.exit_code == 3, r.output
    assert r.stdout.strip() == f"scored 17, failed 3, skipped 0 of 20 inputs; summary: {out / 'summary.json'}"
    # Each bad file is one error line on stderr.
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errs) == 3
    outputs = sorted(out.glob("*.forecast.csv"))
    assert [p.name for p in outputs] == sorted(f"{p.stem}.forecast.csv" for p in good)
    for p in outputs:
        f = pd.read_csv(p)
        assert len(f) == 5 and list(f["step"]) == [1, 2, 3, 4, 5]
    s = json.loads((out / "summary.json").read_text())
    assert (s["n_inputs"], s["n_ok"], s["n_failed"], s["n_skipped"]) == (20, 17, 3, 0)
    assert s["model_sha256"] and s["started"] and s["finished"] and s["interrupted"] is False
    failed = {Path(f["input"]).name: f for f in s["files"] if f["status"] == "failed"}
    assert set(failed) == set(bad)
    for name, words in bad.items():
        assert words in failed[name]["error"] and failed[name]["output"] is None
    ok = [f for f in s["files"] if f["status"] == "ok"]
    assert all(f["rows"] == 220 and Path(f["output"]).exists() and f["error"] is None for f in ok)
    assert not (out / outdir.LOCK_NAME).exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    # Resume: --skip-existing rewrites nothing; the bad files fail again, so the exit code is 3 again.
    mtimes = {p: p.stat().st_mtime_ns for p in outputs}
    time.sleep(0.05)
    r = invoke("score", aapl_bundle, d, "-o", out, "--skip-existing", "--json")
    assert r.exit_code == 3, r.output
    s = json.loads(r.stdout)
    assert (s["n_ok"], s["n_failed"], s["n_skipped"]) == (0, 3, 17)
    assert {p: p.stat().st_mtime_ns for p in outputs} == mtimes


def test_score_output_equals_predict(aapl_bundle, tmp_path):
    out = tmp_path / "out"
    s = scoring.score(aapl_bundle, [str(AAPL)], out)
    assert scoring.exit_code(s) == 0
    scored = pd.read_csv(out / "AAPL.forecast.csv")
    single = predict(aapl_bundle, AAPL).frame
    np.testing.assert_allclose(scored["Close"], single["Close"], rtol=1e-5)
    np.testing.assert_allclose(scored["Close_upper_95"], single["Close_upper_95"], rtol=1e-5)
    assert list(scored["timestamp"]) == list(single["timestamp"].dt.strftime("%Y-%m-%d"))


def test_one_network_call_per_chunk(aapl_bundle, batch_dir, tmp_path, monkeypatch):
    import forecast_cli.bundle as bundle_mod

    calls = []
    real_load = bundle_mod.load_bundle

    def counting_load(path):
        f, m = real_load(path)
        real_infer = f._infer

        def infer(x):  # the one place the network runs
            calls.append(len(x))
            return real_infer(x)

        f._infer = infer
        return f, m

    monkeypatch.setattr(bundle_mod, "load_bundle", counting_load)
    d, good, _ = batch_dir
    scoring.score(aapl_bundle, [str(d)], tmp_path / "a")
    assert calls == [17]  # one call for all 17 good files
    calls.clear()
    scoring.score(aapl_bundle, [str(d)], tmp_path / "b", batch_size=8)
    assert calls == [8, 8, 1]


def test_combined_file_holds_every_forecast(aapl_bundle, batch_dir, tmp_path):
    d, good, bad = batch_dir
    sep = tmp_path / "out"
    assert invoke("score", aapl_bundle, d, "-o", sep).exit_code == 3
    out = tmp_path / "comb"
    r = invoke("score", aapl_bundle, d, "-o", out, "--combined", "--json")
    assert r.exit_code == 3, r.output
    assert sorted(p.name for p in out.iterdir()) == ["combined.forecast.csv", "summary.json"]
    comb = pd.read_csv(out / "combined.forecast.csv")
    assert list(comb.columns[:3]) == ["input", "timestamp", "Close"] and len(comb) == 17 * 5
    for p in good:  # the same rows as the one-file-per-input run, with the input in front
        one = pd.read_csv(sep / f"{p.stem}.forecast.csv")
        part = comb[comb["input"] == str(p)].drop(columns="input").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, one)
    s = json.loads(r.stdout)
    assert (s["n_ok"], s["n_failed"]) == (17, 3)
    assert {f["output"] for f in s["files"] if f["status"] == "ok"} == {str(out / "combined.forecast.csv")}
    # Resuming is for one file per input; with --combined it is refused with exit 2 and one line.
    r = invoke("score", aapl_bundle, d, "-o", out, "--combined", "--skip-existing")
    assert r.exit_code == 2 and "--skip-existing resumes one-file-per-input runs" in r.stderr


def test_combined_interrupted_marks_nothing_done(aapl_bundle, batch_dir, tmp_path, monkeypatch):
    from forecast_cli import files as files_mod
    from forecast_cli.errors import Interrupted

    real = files_mod.write_atomic

    def interrupted(path, data):
        if Path(path).name == "combined.forecast.csv":
            raise Interrupted("interrupted")
        return real(path, data)

    monkeypatch.setattr(files_mod, "write_atomic", interrupted)
    d, _, _ = batch_dir
    out = tmp_path / "comb"
    with pytest.raises(Interrupted):
        scoring.score(aapl_bundle, [str(d)], out, combined=True)
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"] is True and s["n_ok"] == 0
    assert {f["status"] for f in s["files"]} == {"pending", "failed"}
    assert not (out / "combined.forecast.csv").exists()


def test_inputs_files_dirs_globs_and_clashing_names(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for d in (a, b):
        (d / "x.csv").write_text("date,y\n")
    (a / "y.csv").write_text("date,y\n")
    (a / "x.forecast.csv").write_text("old output\n")  # an earlier forecast is not an input
    paths, failed = scoring.expand_inputs([str(a), str(b / "*.csv"), str(a / "y.csv"), str(tmp_path / "nope.csv"),
                                           str(tmp_path / "none*.csv")])
    assert paths == [a / "x.csv", a / "y.csv", b / "x.csv"]
    assert [f["error"].split(": ", 1)[1] for f in failed] == ["file not found; check the path",
                                                                "no files match this pattern"]
    names = scoring.output_names(paths)
    assert names[1] == "y.forecast.csv"
    assert names[0] != names[2] and names[0].startswith("x-") and names[0].endswith(".forecast.csv")
    assert names == scoring.output_names(paths)  # stable across runs (needed by --skip-existing)


def test_all_failed_exits_1(aapl_bundle, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    make_bad(d)
    r = invoke("score", aapl_bundle, d, "-o", tmp_path / "out", "--quiet")
    assert r.exit_code == 1
    assert r.stdout == ""
    assert all(ln.startswith("error:") for ln in r.stderr.splitlines())
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["n_failed"] == 3


def test_quiet_prints_nothing_on_success(aapl_bundle, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    make_good(d, 2)
    r = invoke("score", aapl_bundle, str(d / "*.csv"), "-o", tmp_path / "out", "-q")
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""
    r = invoke("score", aapl_bundle, d, "-o", tmp_path / "out", "-v")
    assert r.exit_code == 0
    lines = r.stderr.splitlines()
    assert sum(ln.startswith("ok: ") for ln in lines) == 2  # one line per file with --verbose, no escapes
    assert "\x1b[" not in r.stdout + r.stderr


def test_lock_held_by_another_run(aapl_bundle, tmp_path):
    """The lock is an flock(2) held by a live run: a second run on the same OUTDIR exits 1, one line."""
    from filelock import UnixFileLock

    d = tmp_path / "in"
    d.mkdir()
    make_good(d, 1)
    out = tmp_path / "out"
    out.mkdir()
    with UnixFileLock(str(out / outdir.LOCK_NAME), timeout=0):
        r = invoke("score", aapl_bundle, d, "-o", out)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[-1] == (f"error: another forecast score run is writing to {out}; wait for it to "
                                         "finish (its lock is released when it ends, however it ends)")
    assert not list(out.glob("*.forecast.csv"))
    with outdir.ScoreLock(out):
        with pytest.raises(DataError, match="another forecast score run"):
            outdir.ScoreLock(out).acquire()
    assert not (out / outdir.LOCK_NAME).exists()  # removed when the run ends


def test_lock_left_by_a_dead_run_is_no_obstacle(aapl_bundle, tmp_path):
    """A lock file left by a run that died (kill -9) holds no flock: the next run just takes it."""
    d = tmp_path / "in"
    d.mkdir()
    make_good(d, 1)
    out = tmp_path / "out"
    out.mkdir()
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    (out / outdir.LOCK_NAME).write_text(f"{p.pid}\n")
    r = invoke("score", aapl_bundle, d, "-o", out)
    assert r.exit_code == 0, r.output
    assert "lock" not in r.stderr
    assert not (out / outdir.LOCK_NAME).exists()


def test_sigterm_leaves_no_partial_output(aapl_bundle, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    n = 600  # scoring takes about 1 ms a file: enough of them that the signal lands mid-run
    make_good(d, n, rows=60)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "forecast_cli", "score", str(aapl_bundle), str(d), "-o", str(out), "-q",
           "--batch-size", "1"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and any(out.glob("*.forecast.csv")):
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    written = list(out.glob("*.forecast.csv"))
    assert 0 < len(written) < n
    for p in written:  # every output present is complete
        f = pd.read_csv(p)
        assert len(f) == 5 and f.notna().all().all()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert not (out / outdir.LOCK_NAME).exists()
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"] is True and s["n_ok"] == len(written)
    # A rerun with --skip-existing finishes the job.
    r = invoke("score", aapl_bundle, d, "-o", out, "--skip-existing", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["n_skipped"] == len(written) and s["n_ok"] == n - len(written) and s["n_failed"] == 0
    assert len(list(out.glob("*.forecast.csv"))) == n
