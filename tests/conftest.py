"""Shared fixtures: sample files, tiny fast-training settings, and a session-wide trained bundle."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
AAPL = SAMPLE / "AAPL.csv"
AIR = SAMPLE / "air_quality_uci.csv"

# Tiny models and few epochs: the suite must stay well under 10 minutes on 2 cores.
FAST_MODEL = dict(units=4, layers=1, dropout=0.0)
# AutoETS (the [stats] baseline) is off here: tests/test_stat_baselines.py runs it; elsewhere it would add
# about a second per fold to every evaluate.
FAST_TRAIN = dict(epochs=2, batch_size=128, patience=1, stat_baseline=False)
FAST_CLI = ["--units", "4", "--epochs", "2", "--batch-size", "128", "--patience", "1", "--dropout", "0",
            "--no-stat-baseline"]


@pytest.fixture(scope="session")
def aapl_path() -> Path:
    return AAPL


@pytest.fixture(scope="session")
def air_path() -> Path:
    return AIR


def write_series(path: Path, values, start="2020-01-01", freq="D", name="y", extra: dict | None = None) -> Path:
    """Write a small CSV with a date column and one or more value columns."""
    idx = pd.date_range(start, periods=len(values), freq=freq)
    df = pd.DataFrame({"date": idx.strftime("%Y-%m-%d %H:%M:%S"), name: values})
    for k, v in (extra or {}).items():
        df[k] = v
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def sine_csv(tmp_path) -> Path:
    """300 daily points of a noiseless sine of period 7 plus a trend (known, learnable)."""
    t = np.arange(300)
    return write_series(tmp_path / "sine.csv", np.sin(2 * np.pi * t / 7) + 0.01 * t)


@pytest.fixture(scope="session")
def aapl_bundle(tmp_path_factory) -> Path:
    """A bundle trained once per session on AAPL (tiny model, 2 epochs)."""
    from forecast_cli import api
    from forecast_cli.config import DataConfig, ModelConfig, TrainConfig, WindowConfig

    out = tmp_path_factory.mktemp("bundle") / "aapl.fcst"
    api.train(AAPL, out, DataConfig(target="Close"), WindowConfig(20, 5), ModelConfig(**FAST_MODEL),
              TrainConfig(**FAST_TRAIN))
    return out


def one_line_error(r, code: int, *parts: str) -> str:
    """Assert a CLI result failed with ``code`` and one ``error:`` line holding every part; return it."""
    assert r.exit_code == code, (r.exit_code, r.output)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.output and "internal error" not in lines[0]
    for p in parts:
        assert p in lines[0], (p, lines[0])
    return lines[0]


def zip_members(zbytes: bytes) -> dict[str, bytes]:
    """Name -> bytes of every member of a zip held in memory."""
    with zipfile.ZipFile(io.BytesIO(zbytes)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def zip_bytes(files: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``files`` (name -> bytes), in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
