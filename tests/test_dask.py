"""score, evaluate and tune on a Dask cluster (issue 17): the same numbers and files as one process.

One local cluster of 2 worker processes serves the whole module (starting one costs seconds). The
plain path (no --workers, no --scheduler) never imports Dask: a subprocess proves it.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli import api, scoring
from forecast_cli.cli import app
from forecast_cli.config import DataConfig, ModelConfig, TrainConfig, WindowConfig
from forecast_cli.errors import ConfigError, ForecastError

from conftest import AAPL, FAST_MODEL, ROOT, one_line_error, write_series

runner = CliRunner()
needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="dask[distributed] missing")
TINY_TRAIN = dict(epochs=1, batch_size=64, patience=1, stat_baseline=False)


@pytest.fixture(scope="module")
def cluster():
    """A local cluster of 2 worker processes for the module, closed at its end."""
    pytest.importorskip("distributed")
    from forecast_cli.cluster import open_cluster

    with open_cluster(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """8 AAPL histories of different lengths and one unreadable file."""
    d = tmp_path_factory.mktemp("dask_inputs")
    df = pd.read_csv(AAPL)
    for k in range(8):
        df.iloc[: len(df) - 7 * k].to_csv(d / f"a{k:02d}.csv", index=False)
    (d / "bad.csv").write_text("Date,Close\nnot a date,1\n")
    return d


def _forecasts(outdir: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(outdir.glob("*.forecast.csv"))}


def _entries(summary: dict, outdir) -> list:
    return [{**e, "output": e["output"] and Path(e["output"]).name} for e in summary["files"]]


# ----------------------------------------------------------------------------- options, no Dask
@pytest.mark.parametrize("scheduler, workers, message", [
    ("tcp://h:8786", 2, "not both"),
    ("http://h:8787/status", None, "not a scheduler address"),
    (None, 0, "--workers must be an int >= 1"),
])
def test_cluster_options_are_checked(scheduler, workers, message):
    from forecast_cli.cluster import check_options

    with pytest.raises(ConfigError, match=message):
        check_options(scheduler, workers)


def test_both_options_are_a_usage_error_before_any_work(tmp_path):
    r = runner.invoke(app, ["score", str(tmp_path / "missing.fcst"), str(tmp_path), "-o", str(tmp_path / "o"),
                            "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"])
    one_line_error(r, 2, "--scheduler", "--workers", "not both")
    r = runner.invoke(app, ["evaluate", str(AAPL), "--workers", "0"])
    assert r.exit_code == 2


def test_missing_extra_says_how_to_install_it(monkeypatch, sine_csv):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    r = runner.invoke(app, ["evaluate", str(sine_csv), "--workers", "2"])
    one_line_error(r, 1, "pip install 'forecast-cli[dask]'")


def test_plain_path_and_help_never_import_dask(aapl_bundle, tmp_path):
    """--help, --version, check and a plain score run with Dask made unimportable, and say what they loaded."""
    code = f"""
import sys
sys.modules["dask"] = sys.modules["distributed"] = None  # any import of them fails
from forecast_cli.cli import main
loaded = {{}}
for args in (["--help"], ["score", "--help"], ["evaluate", "--help"], ["tune", "--help"], ["--version"],
             ["check", {str(AAPL)!r}, "-q"],
             ["score", {str(aapl_bundle)!r}, {str(AAPL)!r}, "-o", {str(tmp_path / "out")!r}, "-q"]):
    sys.argv = ["forecast", *args]
    try:
        main()
    except SystemExit as e:
        loaded[args[0] if args[0] != "score" or len(args) == 2 else "score-run"] = (
            e.code, "tensorflow" in sys.modules)
print(loaded, file=sys.stderr)
print("DASK" if any(m.split(".")[0] in ("dask", "distributed") for m, v in sys.modules.items() if v) else "NO DASK")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert r.stdout.strip().endswith("NO DASK"), r.stdout + r.stderr
    assert "'--version': (0, False)" in r.stderr and "'score-run': (0, True)" in r.stderr, r.stderr
    assert (tmp_path / "out" / "AAPL.forecast.csv").is_file()


def test_version_verbose_lists_the_devices():
    r = runner.invoke(app, ["--version", "--verbose"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("forecast-cli ") and lines[1].startswith("tensorflow ") and "CPU:0" in lines[1]
    from forecast_cli.runtime import devices

    seen = devices()
    assert ("GPU" in lines[1]) == seen["gpu"]
    assert any(line.startswith("dask ") for line in lines)


def test_gpu_is_listed_when_tensorflow_sees_one():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        pytest.skip("no GPU on this machine")
    from forecast_cli.runtime import devices

    seen = devices()
    assert seen["gpu"] and any(d.startswith("GPU:0") for d in seen["devices"])


# ----------------------------------------------------------------------------- score
@needs_dask
def test_score_on_two_workers_writes_the_same_files(cluster, aapl_bundle, inputs, tmp_path):
    plain = scoring.score(aapl_bundle, [str(inputs)], tmp_path / "plain")
    dist = scoring.score(aapl_bundle, [str(inputs)], tmp_path / "dask", cluster=cluster)
    assert scoring.exit_code(plain) == scoring.exit_code(dist) == 3  # the bad file
    assert dist["n_ok"] == 8 and dist["n_failed"] == 1
    a, b = _forecasts(tmp_path / "plain"), _forecasts(tmp_path / "dask")
    assert len(a) == 8 and a == b  # byte for byte
    assert _entries(plain, "plain") == _entries(dist, "dask") and plain["warnings"] == dist["warnings"]
    on_disk = json.loads((tmp_path / "dask" / scoring.SUMMARY_NAME).read_text())
    assert on_disk["n_ok"] == 8 and on_disk["files"] == json.loads(json.dumps(dist["files"]))
    # the records the driver kept from the workers' reports make --skip-existing skip every scored input
    again = scoring.score(aapl_bundle, [str(inputs)], tmp_path / "dask", cluster=cluster, skip_existing=True)
    assert again["n_skipped"] == 8 and again["n_failed"] == 1
    # one combined file: the same bytes
    scoring.score(aapl_bundle, [str(inputs)], tmp_path / "pc", combined=True)
    scoring.score(aapl_bundle, [str(inputs)], tmp_path / "dc", combined=True, cluster=cluster)
    assert (tmp_path / "pc" / "combined.forecast.csv").read_bytes() == \
        (tmp_path / "dc" / "combined.forecast.csv").read_bytes()


@needs_dask
def test_score_command_runs_on_the_cluster(cluster, aapl_bundle, inputs, tmp_path, monkeypatch):
    from forecast_cli import cluster as cluster_mod

    opened = []

    @contextlib.contextmanager
    def shared(scheduler=None, workers=None, **kw):
        opened.append((scheduler, workers))
        yield cluster

    monkeypatch.setattr(cluster_mod, "open_cluster", shared)
    r = runner.invoke(app, ["score", str(aapl_bundle), str(inputs / "a0*.csv"), "-o", str(tmp_path / "o"),
                            "--workers", "2", "--json"])
    assert r.exit_code == 0, r.output
    assert opened == [(None, 2)] and json.loads(r.stdout)["n_ok"] == 8


@needs_dask
def test_a_worker_killed_mid_run_loses_no_output(cluster, aapl_bundle, inputs, tmp_path):
    """kill -9 of a worker while it writes: its batch runs again elsewhere; every forecast is whole."""
    client = cluster.client

    def slow_writes():  # on each worker: every forecast takes 0.3 s longer, so the run lasts
        import time as _time

        from forecast_cli import scoring as s

        orig = getattr(s.Scorer, "_orig_write_one", s.Scorer.write_one)
        s.Scorer._orig_write_one = orig

        def write_one(self, *a, **k):
            _time.sleep(0.3)
            return orig(self, *a, **k)

        s.Scorer.write_one = write_one

    def restore():
        from forecast_cli import scoring as s

        if hasattr(s.Scorer, "_orig_write_one"):
            s.Scorer.write_one = s.Scorer._orig_write_one

    plain = scoring.score(aapl_bundle, [str(inputs)], tmp_path / "plain")
    client.run(slow_writes)
    out = tmp_path / "killed"
    box = {}
    t = threading.Thread(target=lambda: box.update(s=scoring.score(aapl_bundle, [str(inputs)], out, cluster=cluster)))
    try:
        t.start()
        deadline = time.monotonic() + 120
        while not list(out.glob("*.forecast.csv")) and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        t.join(240)
    finally:
        with contextlib.suppress(Exception):
            client.run(restore)
    assert not t.is_alive()
    summary = box["s"]
    assert summary["n_ok"] == 8 and summary["n_failed"] == 1 and scoring.exit_code(summary) == 3, summary["files"]
    assert _forecasts(out) == _forecasts(tmp_path / "plain") and plain["n_ok"] == 8
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # no temporaries left
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker


# ----------------------------------------------------------------------------- evaluate
@needs_dask
def test_evaluate_on_two_workers_gives_the_same_metrics(cluster, sine_csv):
    args = (sine_csv, DataConfig(), WindowConfig(14, 3), ModelConfig(**FAST_MODEL), TrainConfig(**TINY_TRAIN))
    plain = api.evaluate(*args, folds=2)
    dist = api.evaluate(*args, folds=2, map_folds=cluster.map)
    assert [f["metrics"] for f in dist["folds"]] == [f["metrics"] for f in plain["folds"]]
    assert dist["summary"] == plain["summary"] and dist["verdict"] == plain["verdict"]
    assert dist["intervals"] == plain["intervals"]


@needs_dask
def test_evaluate_many_series_on_two_workers_gives_the_same_metrics(cluster, tmp_path):
    """One network per series (--local): each series of each fold, and each fold's baselines, is a task."""
    t = np.arange(120)
    for k in range(2):
        write_series(tmp_path / f"s{k}.csv", np.sin(2 * np.pi * t / 7 + k) + 0.02 * k * t + 5)
    args = (str(tmp_path / "s*.csv"), DataConfig(), WindowConfig(14, 3), ModelConfig(**FAST_MODEL, local=True),
            TrainConfig(**TINY_TRAIN))
    plain = api.evaluate(*args, folds=1)
    dist = api.evaluate(*args, folds=1, map_folds=cluster.map)
    assert dist["series"] == plain["series"] and dist["mean"] == plain["mean"]
    assert dist["verdict"] == plain["verdict"] and dist["folds"] == plain["folds"]


@needs_dask
def test_a_task_error_is_raised_as_in_one_process(cluster):
    from forecast_cli.errors import DataError

    def task(x):
        from forecast_cli.errors import DataError

        if x == 2:
            raise DataError(f"item {x} is bad")
        return x * 10

    results = cluster.map(task, [1, 2, 3])
    assert next(results) == 10
    with pytest.raises(DataError, match="item 2 is bad"):
        next(results)
    assert list(cluster.map(task, [3, 1])) == [30, 10]


def test_a_worker_that_died_on_every_try_is_one_line():
    from forecast_cli.cluster import task_error

    err = task_error(type("KilledWorker", (Exception,), {})("gone"), "fold 2")
    assert isinstance(err, ForecastError) and err.message.startswith("fold 2: the Dask worker running it died 3 times")
    plain = ValueError("x")
    assert task_error(plain, "fold 1") is plain


# ----------------------------------------------------------------------------- tune
@needs_dask
def test_tune_runs_trials_on_the_workers(cluster, tmp_path, monkeypatch):
    """Each worker runs its share of the trials on the shared study (an objective that only records which
    process ran it: the cross-validation inside a trial is evaluate's, tested above)."""
    pytest.importorskip("optuna")
    from forecast_cli import tune as tune_mod
    from forecast_cli.config import split_settings

    def quick_objective():  # on each worker: a trial sleeps a little and scores its lookback
        import os as _os
        import time as _time

        from forecast_cli import tune as t

        def _objective(search, base, space, folds, test_size, cv, metric, on_fold):
            def objective(trial):
                params = {name: p.suggest(trial) for name, p in space.items()}
                trial.set_user_attr("pid", _os.getpid())
                trial.set_user_attr("fold_scores", [float(params["lookback"])])
                _time.sleep(0.2)
                return float(params["lookback"])
            return objective

        t._orig_objective = getattr(t, "_orig_objective", t._objective)
        t._objective = _objective

    def restore():
        from forecast_cli import tune as t

        if hasattr(t, "_orig_objective"):
            t._objective = t._orig_objective

    monkeypatch.setattr(tune_mod, "_final", lambda search, base, best, d_cv, b_cv, metric: {"metric": metric})
    t = np.arange(200)
    write_series(tmp_path / "s.csv", np.sin(2 * np.pi * t / 7) + 0.01 * t)
    (tmp_path / "space.toml").write_text("lookback = {low = 7, high = 14}\n")
    rows = []
    cluster.client.run(quick_objective)
    try:
        res = tune_mod.tune(tmp_path / "s.csv", split_settings(lookback=14), trials=4,
                            storage=f"sqlite:///{tmp_path / 't.db'}", space_path=tmp_path / "space.toml", folds=1,
                            holdout=40, cluster=cluster, on_trial=lambda row, best: rows.append(row["trial"]))
    finally:
        cluster.client.run(restore)
    assert res["study"]["trials"]["complete"] == 4 and sorted(rows) == [0, 1, 2, 3]
    assert res["best"]["value"] == min(r["value"] for r in res["leaderboard"])
    import optuna

    study = optuna.load_study(study_name=res["study"]["name"], storage=res["study"]["storage"])
    assert len({tr.user_attrs["pid"] for tr in study.trials}) == 2  # both workers ran trials
    assert res["study"]["storage"] == f"sqlite:///{tmp_path / 't.db'}"  # absolute already: kept
