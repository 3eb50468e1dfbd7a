"""Scale-out on Dask: score many small files and cross-validate many series on 1 and 2 local workers.

    python benchmarks/scale.py [--files 5000] [--rows 40] [--series 30] [--series-rows 100]
                               [--folds 1] [--workers 1,2] [--seed 0] [--workdir DIR]
    python benchmarks/scale.py --files 20000 --series 200      # the issue's sizes (about 40 min here)

The defaults run in under 10 minutes on the 2-core machine; ``--files 0`` or ``--series 0`` leaves
that part out. Generates FILES small CSV files (random walks of ROWS daily rows) and SERIES series files, trains
one tiny bundle (not timed), then times:

* score: ``forecast_cli.scoring.score`` over every file in this process (``plain``), then on a
  local cluster of N workers (``cluster=``, what ``forecast score --workers N`` runs), after a
  warm-up that loads TensorFlow and the bundle on every worker (not timed; the cluster's start
  is timed on its own);
* cross-validation: ``api.evaluate`` of the SERIES files with one network per series
  (``--local``), FOLDS folds: ``FOLDS x (SERIES + 1)`` independent tasks (each series' network
  per fold, and each fold's baselines), on N workers;
* the per-task overhead Dask adds: 2,000 empty tasks through the same mapping
  (:func:`forecast_cli.cluster.map_tasks`) on the 2-worker cluster, and, for score, the 1-worker
  run less the plain run per batch.

Then a projection to a 16-worker cluster from the measured per-task cost (stated as a projection,
not a measurement): ``driver + max(tasks x cost / 16, tasks x overhead)``. Prints a table, then
as the last line one JSON object with every figure. Other processes on the machine slow every
figure; the JSON says how loaded it was (the 1-minute load average before and after).
"""
from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, machine  # noqa: E402


def _walks(d: Path, n: int, rows: int, seed: int, prefix: str) -> None:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-01", periods=rows, freq="D").strftime("%Y-%m-%d").to_numpy()
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        y = 100 + np.cumsum(rng.normal(0, 1, rows))
        with open(d / f"{prefix}_{i:05d}.csv", "w") as fh:
            fh.write("date,y\n" + "\n".join(f"{a},{b:.4f}" for a, b in zip(dates, y)) + "\n")


def _noop(x):
    return x


def _warm():
    from forecast_cli.runtime import configure

    configure(1)  # TensorFlow imported and configured on this worker
    return os.getpid()


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--series", type=int, default=30)
    ap.add_argument("--series-rows", type=int, default=100)
    ap.add_argument("--folds", type=int, default=1)
    ap.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args(argv)

    from forecast_cli import api, scoring
    from forecast_cli.cluster import map_tasks, open_cluster
    from forecast_cli.config import DataConfig, ModelConfig, TrainConfig, WindowConfig

    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    load_before = os.getloadavg()[0]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="forecast-scale-"))
    files, series = work / "files", work / "series"
    _walks(files, args.files, args.rows, args.seed, "f")
    _walks(series, args.series, args.series_rows, args.seed + 1, "s")
    window = WindowConfig(14, 3)
    model = ModelConfig(units=4, layers=1, dropout=0.0)
    train = TrainConfig(epochs=1, batch_size=64, patience=1, stat_baseline=False)
    bundle = work / "m.fcst"
    _walks(work / "train", 1, 300, args.seed + 2, "t")
    api.train(work / "train" / "t_00000.csv", bundle, DataConfig(), window, model, train)

    def outdir(name):
        shutil.rmtree(work / name, ignore_errors=True)
        return work / name

    res = {"files": args.files, "rows": args.rows, "series": args.series, "series_rows": args.series_rows,
           "folds": args.folds, "workers": counts, "machine": machine(), "load_avg_before": load_before,
           "score_s": {}, "score_files_per_s": {}, "cv_s": {}, "cluster_start_s": {}, "score_batches": {}}
    if args.files:
        res["score_plain_s"], s = _timed(lambda: scoring.score(bundle, [str(files)], outdir("plain")))
        assert s["n_ok"] == args.files, s["n_failed"]
        res["score_plain_files_per_s"] = args.files / res["score_plain_s"]
    local = ModelConfig(units=4, layers=1, dropout=0.0, local=True)
    cv_tasks = args.folds * (args.series + 1)
    for n in counts:
        t_start = time.perf_counter()
        with open_cluster(workers=n) as cluster:
            res["cluster_start_s"][str(n)] = time.perf_counter() - t_start
            cluster.client.run(_warm)
            if args.files:
                warm = sorted(files.glob("f_0000*.csv"))[: 4 * n]
                scoring.score(bundle, [str(p) for p in warm], outdir(f"warm{n}"), cluster=cluster)  # bundle loaded
                t, s = _timed(lambda: scoring.score(bundle, [str(files)], outdir(f"w{n}"), cluster=cluster))
                assert s["n_ok"] == args.files, s["n_failed"]
                from forecast_cli.dask_score import batches

                res["score_s"][str(n)] = t
                res["score_files_per_s"][str(n)] = args.files / t
                res["score_batches"][str(n)] = len(batches(args.files, n, 4096))
                shutil.rmtree(work / f"w{n}", ignore_errors=True)
            if args.series:
                t, r = _timed(lambda: api.evaluate(str(series), DataConfig(), window, local, train,
                                                   folds=args.folds, map_folds=cluster.map))
                res["cv_s"][str(n)] = t
            if n == max(counts):
                k = 2000
                t_noop, out = _timed(lambda: list(map_tasks(cluster.client, functools.partial(_noop), range(k))))
                assert out == list(range(k))
                res["noop_task_ms"] = 1000 * t_noop / k
    n1, n2 = str(min(counts)), str(max(counts))
    proj_workers = 16
    noop = res["noop_task_ms"] / 1000
    # Projection (not a measurement): 16 workers each as fast as one worker here, the per-task cost
    # measured on one worker, the scheduler's per-task overhead measured with empty tasks.
    res["projection_16"] = {
        "kind": "projection from the per-task cost measured here, not a measurement",
        "assumes": "16 workers as fast as one here, one thread each; a shared file system that keeps up; "
                   "cluster start not included",
    }
    if args.files:
        res["score_speedup"] = res["score_s"][n1] / res["score_s"][n2]
        res["score_speedup_vs_plain"] = res["score_plain_s"] / res["score_s"][n2]
        b1 = res["score_batches"][n1]
        res["score_overhead_per_batch_ms"] = 1000 * (res["score_s"][n1] - res["score_plain_s"]) / b1
        file_cost = res["score_s"][n1] * int(n1) / args.files  # worker-seconds per file
        score_tasks = max(4 * proj_workers, -(-args.files // 4096))
        res["projection_16"]["score_s"] = args.files * file_cost / proj_workers + score_tasks * noop
    if args.series:
        res["cv_speedup"] = res["cv_s"][n1] / res["cv_s"][n2]
        res["cv_tasks"] = cv_tasks
        res["cv_task_s"] = res["cv_s"][n1] * int(n1) / cv_tasks  # one worker-second per task
        res["projection_16"]["cv_s"] = max(cv_tasks * res["cv_task_s"] / proj_workers, cv_tasks * noop)
    res["load_avg_after"] = os.getloadavg()[0]
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)

    print(f"scale-out on a local Dask cluster ({res['machine']['cores']} cores; load average "
          f"{load_before:.1f} before, {res['load_avg_after']:.1f} after: other processes share the machine)")
    print(f"{'run':<40}{'seconds':>10}{'per second':>12}")
    if args.files:
        print(f"{'score ' + str(args.files) + ' files, one process':<40}{res['score_plain_s']:>10.1f}"
              f"{res['score_plain_files_per_s']:>12.0f}")
        for n in counts:
            print(f"{'score, ' + str(n) + ' worker(s)':<40}{res['score_s'][str(n)]:>10.1f}"
                  f"{res['score_files_per_s'][str(n)]:>12.0f}")
    if args.series:
        for n in counts:
            print(f"{'cv ' + str(args.series) + ' series --local (tasks/s), ' + str(n) + ' worker(s)':<40}"
                  f"{res['cv_s'][str(n)]:>10.1f}{cv_tasks / res['cv_s'][str(n)]:>12.2f}")
    p = res["projection_16"]
    if args.files:
        print(f"score: {n2} vs {n1} workers {res['score_speedup']:.2f}x, {n2} workers vs one process "
              f"{res['score_speedup_vs_plain']:.2f}x; {res['score_overhead_per_batch_ms']:.0f} ms per batch "
              f"({b1} batches) over one process; 16 workers (projection, not measured): {p['score_s']:.1f} s")
    if args.series:
        print(f"cv: {n2} vs {n1} workers {res['cv_speedup']:.2f}x; {res['cv_task_s']:.2f} worker-s per task "
              f"({cv_tasks} tasks); 16 workers (projection, not measured): {p['cv_s']:.1f} s")
    print(f"Dask's per-task overhead: {res['noop_task_ms']:.2f} ms per empty task (2,000 through map_tasks)")
    emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
