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
