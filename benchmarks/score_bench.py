"""Batch scoring speed: `forecast score` against a per-file `model.predict` loop and pandas alone.

    python benchmarks/score_bench.py [--files 2000] [--rows 500] [--workdir DIR] [--seed 0]

Generates FILES CSV files of ROWS daily rows (random walks), trains one tiny bundle on one of
them (not timed), then times, on the same files:

* tool: ``forecast_cli.scoring.score`` over the whole directory: one bundle load, every file read
  and validated, the last windows predicted in large batches, one forecast file written per input
  (atomically) and summary.json;
* predict loop: the bundle loaded once, then per file ``pd.read_csv`` and ONE
  ``model.predict`` call on its last window (nothing written);
* tool, combined: the same with ``combined=True`` (``--combined``): one output file for all;
* pandas: ``pd.read_csv`` of every file, nothing else (a floor for any tool that reads them);
* writing: the tool's forecast files written again atomically into an empty directory, nothing
  else (a floor for any tool that writes one file per input; file creation is kernel time).

The pandas pass runs first, so every timing sees the files in the page cache. Prints a table,
then as the last line one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def generate(d: Path, files: int, rows: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2020-01-01", periods=rows, freq="D").strftime("%Y-%m-%d").to_numpy()
    out = []
    for i in range(files):
        y = 100 + np.cumsum(rng.normal(0, 1, rows))
        p = d / f"series_{i:05d}.csv"
        with open(p, "w") as fh:
            fh.write("date,y\n")
            fh.write("\n".join(f"{a},{b:.4f}" for a, b in zip(dates, y)))
            fh.write("\n")
        out.append(p)
    return out


class _SkipLoop(Exception):
    pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--lookback", type=int, default=30)
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-loop", action="store_true", help="Skip the slow per-file predict loop (~2 min).")
    ap.add_argument("--workdir", type=Path, default=None, help="Keep the files here (default: a temp dir).")
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from forecast_cli import api, scoring
    from forecast_cli.bundle import load_bundle
    from forecast_cli.config import DataConfig, ModelConfig, TrainConfig, WindowConfig

    tmp = None
    if args.workdir is None:
        tmp = tempfile.mkdtemp(prefix="score_bench_")
        work = Path(tmp)
    else:
        work = args.workdir
    try:
        inp, out = work / "in", work / "out"
        shutil.rmtree(inp, ignore_errors=True), shutil.rmtree(out, ignore_errors=True)
        inp.mkdir(parents=True)
        t = time.perf_counter()
        paths = generate(inp, args.files, args.rows, args.seed)
        gen_s = time.perf_counter() - t
        bundle = work / "bench.fcst"
        api.train(paths[0], bundle, DataConfig(target="y"), WindowConfig(args.lookback, args.horizon),
                  ModelConfig(units=16, dropout=0.0), TrainConfig(epochs=2, batch_size=64, patience=1))

        if hasattr(os, "sync"):
            os.sync()  # write back the generated files now, not during a timing
        # pandas alone (also warms the page cache for the two timings after it)
        t = time.perf_counter()
        for p in paths:
            pd.read_csv(p)
        pandas_s = time.perf_counter() - t

        # the tool
        t = time.perf_counter()
        summary = scoring.score(bundle, [str(inp)], out)
        tool_s = time.perf_counter() - t
        assert summary["n_ok"] == args.files, summary["n_failed"]

        t = time.perf_counter()
        summary = scoring.score(bundle, [str(inp)], work / "out_combined", combined=True)
        combined_s = time.perf_counter() - t
        assert summary["n_ok"] == args.files, summary["n_failed"]

        # the file-system floor: the tool's forecast files written again, atomically, nothing else
        from forecast_cli.files import write_atomic

        payloads = [(q.name, q.read_bytes()) for q in sorted(out.glob("*.forecast.csv"))]
        floor_dir = work / "floor"
        shutil.rmtree(floor_dir, ignore_errors=True)
        floor_dir.mkdir()
        os.sync()
        t = time.perf_counter()
        for name, data in payloads:
            write_atomic(floor_dir / name, data)
        write_s = time.perf_counter() - t

        # a loop with one model.predict call per file
        if args.no_loop:
            raise _SkipLoop
        t = time.perf_counter()
        forecaster, manifest = load_bundle(bundle)
        L = args.lookback
        mean, scale = forecaster.scaler_.mean_, forecaster.scaler_.scale_
        for p in paths:
            v = pd.read_csv(p)["y"].to_numpy(dtype=np.float64)[-L:, None]
            x = ((v - mean) / scale).astype(np.float32)[None]
            forecaster.scaler_.inverse_targets(forecaster.model_.predict(x, verbose=0))
        loop_s = time.perf_counter() - t
    except _SkipLoop:
        pass
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    n = args.files
    if args.no_loop:
        loop_s = None
    res = {
        "files": n, "rows": args.rows, "lookback": args.lookback, "horizon": args.horizon,
        "tool_s": round(tool_s, 3), "tool_combined_s": round(combined_s, 3),
        "predict_loop_s": loop_s and round(loop_s, 3), "pandas_read_s": round(pandas_s, 3),
        "tool_files_per_s": round(n / tool_s, 1), "predict_loop_files_per_s": loop_s and round(n / loop_s, 1),
        "pandas_files_per_s": round(n / pandas_s, 1),
        "speedup_vs_predict_loop": loop_s and round(loop_s / tool_s, 2), "tool_over_pandas": round(tool_s / pandas_s, 2),
        "tool_combined_over_pandas": round(combined_s / pandas_s, 2),
        "write_files_s": round(write_s, 3), "tool_over_pandas_plus_writes": round(tool_s / (pandas_s + write_s), 2),
        "generate_s": round(gen_s, 3), "cpus": os.cpu_count(),
    }
    print(f"{n} files x {args.rows} rows, lookback {args.lookback}, horizon {args.horizon}, {os.cpu_count()} CPUs")
    print(f"{'':34}{'seconds':>10}{'files/s':>10}")
    print(f"{'forecast score (tool)':34}{tool_s:>10.2f}{n / tool_s:>10.1f}")
    print(f"{'forecast score --combined':34}{combined_s:>10.2f}{n / combined_s:>10.1f}")
    if loop_s:
        print(f"{'read + model.predict per file':34}{loop_s:>10.2f}{n / loop_s:>10.1f}")
    print(f"{'pd.read_csv only':34}{pandas_s:>10.2f}{n / pandas_s:>10.1f}")
    print(f"{'writing the forecast files only':34}{write_s:>10.2f}{n / write_s:>10.1f}")
    print(f"predict loop / tool: {loop_s / tool_s if loop_s else float('nan'):.2f}x   tool / pandas: {tool_s / pandas_s:.2f}x   "
          f"tool / (pandas + writing): {tool_s / (pandas_s + write_s):.2f}x   "
          f"--combined / pandas: {combined_s / pandas_s:.2f}x")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
