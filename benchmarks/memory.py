"""Peak memory training on a large CSV, against what importing TensorFlow alone costs.

    python benchmarks/memory.py [--rows 1000000] [--epochs 1] [--workdir DIR]

Writes a CSV of ROWS hourly rows (a noisy daily sine), then in fresh processes measures the
peak resident set size (max RSS, from the kernel's accounting of each child process) of:

* ``python -c "import tensorflow, keras"``: the floor for any run that trains;
* ``forecast train big.csv -o big.fcst --epochs EPOCHS --batch-size 1024``: load, validate,
  cross the holdout with the baselines, train, save.

Prints a table, then one JSON line: {"rows", "peak_rss_mb", "tf_import_rss_mb", ...}.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine  # noqa: E402


def child_peak_mb(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run ``cmd`` in a fresh child (via a tiny wrapper) and return its own max RSS in MiB."""
    wrapper = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "sys.exit(p.returncode)")
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    secs = time.perf_counter() - t0
    kb = int(p.stderr.strip().splitlines()[-1])
    return kb / 1024.0, secs, p


def write_csv(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    t = np.arange(rows)
    y = 10 + np.sin(2 * np.pi * t / 24) + 0.1 * rng.normal(size=rows)
    idx = pd.date_range("1900-01-01", periods=rows, freq="h")
    pd.DataFrame({"timestamp": idx, "y": y.round(5)}).to_csv(path, index=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)
    wd = args.workdir or Path(tempfile.mkdtemp(prefix="forecast_mem_"))
    wd.mkdir(parents=True, exist_ok=True)
    csv = wd / f"big_{args.rows}.csv"
    if not csv.exists():
        write_csv(csv, args.rows)
    tf_mb, tf_s, _ = child_peak_mb([sys.executable, "-c", "import tensorflow, keras"])
    cmd = [sys.executable, "-m", "forecast_cli", "train", str(csv), "--target", "y", "-o", str(wd / "big.fcst"),
           "--epochs", str(args.epochs), "--batch-size", "1024", "--json"]
    peak_mb, train_s, p = child_peak_mb(cmd)
    if p.returncode != 0:
        raise SystemExit(f"train failed:\n{p.stderr[-3000:]}")
    res = {"rows": args.rows, "peak_rss_mb": peak_mb, "tf_import_rss_mb": tf_mb,
           "above_tf_import_mb": peak_mb - tf_mb, "train_s": train_s, "epochs": args.epochs,
           "csv_mb": csv.stat().st_size / 2**20, "machine": machine()}
    print(f"{'process':44} {'peak RSS MiB':>13} {'seconds':>8}")
    print(f"{'import tensorflow, keras':44} {tf_mb:13.0f} {tf_s:8.1f}")
    print(f"{'forecast train (' + format(args.rows, ',') + ' rows, ' + str(args.epochs) + ' epoch)':44} "
          f"{peak_mb:13.0f} {train_s:8.1f}")
    print(f"above the TensorFlow import: {peak_mb - tf_mb:.0f} MiB")
    emit(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
