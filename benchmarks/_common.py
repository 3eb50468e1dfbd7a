"""Helpers shared by the benchmark scripts: timing, medians, the last-line JSON."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "cpu": cpu, "cores": os.cpu_count(),
            "machine": platform.machine()}


def run_timed(cmd: list[str], env: dict | None = None, cwd=None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd)
    return time.perf_counter() - t0, p


def last_json(stdout: str) -> dict:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in output:\n" + stdout[-2000:])


def median(xs):
    return statistics.median(xs) if xs else None


def emit(result: dict) -> None:
    print(json.dumps(result, separators=(",", ":")), flush=True)


def python() -> str:
    return sys.executable


def typed_value(default, raw: str):
    """A ``--set KEY=VALUE`` text read as the type of the setting's ``default`` (bool, int, float or text)."""
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


DATA = ROOT.parent / "shared" / "data"


def load_one_series(args, gaps: str = "skip"):
    """``(values (n, 1), season, name)`` of the one series a validation benchmark asks for: ``args.m4``
    (an M4 Hourly id: its train part), ``args.m3`` (an M3 Quarterly id, without its 8 test quarters,
    which are never read) or ``args.data`` with ``args.target`` (and ``args.na_values``), read by the
    tool's own reader. Used by ``short_series.py`` and ``transforms.py``."""
    import numpy as np
    import pandas as pd

    if args.m4:
        df = pd.read_csv(DATA / "m4" / "Hourly-train.csv")
        row = df[df["V1"] == args.m4].iloc[0, 1:].dropna().to_numpy(dtype=float)
        return row[:, None], 24, f"m4:{args.m4}"
    if args.m3:
        df = pd.read_csv(DATA / "m3" / "M3_quarterly.csv")
        y = df[df["series_id"] == args.m3]["value"].to_numpy(dtype=float)[:-8]  # the M3 test quarters: never
        return y[:, None], 4, f"m3:{args.m3}"
    from forecast_cli import data
    from forecast_cli.config import DataConfig

    cfg = DataConfig(target=(args.target,), na_values=tuple(args.na_values or ()), gaps=gaps)
    ds = data.load(args.data, cfg)
    return np.asarray(ds.values, dtype=float)[:, :1], int(ds.season or 1), f"{Path(args.data).name}:{args.target}"
