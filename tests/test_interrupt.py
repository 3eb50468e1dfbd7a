"""No loss under interruption: SIGINT/SIGTERM during ``train -o`` and SIGINT during ``score``.

The command exits 130 with one line, leaves no partial file at any output path and no
temporary file behind, and a rerun completes. (SIGTERM during ``score`` is in test_score.py.)
"""
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

from forecast_cli.cli import app

from conftest import FAST_MODEL, FAST_TRAIN, ROOT

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to see TF start")

runner = CliRunner()
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


def series_csv(path: Path, n: int, start="2000-01-01") -> Path:
    t = np.arange(n)
    pd.DataFrame({"date": pd.date_range(start, periods=n, freq="D").strftime("%Y-%m-%d"),
                  "y": np.round(np.sin(2 * np.pi * t / 7) + 0.001 * t, 6)}).to_csv(path, index=False)
    return path


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "forecast_cli", *map(str, args)], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(cond, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not cond():
        assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() - t0 < timeout, "never got going"
        time.sleep(0.1)


def tf_running(proc: subprocess.Popen):
    """TensorFlow has started its thread pools (it is importing or training)."""
    return lambda: len(os.listdir(f"/proc/{proc.pid}/task")) > 8


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def assert_interrupted(proc: subprocess.Popen):
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted"), err
    assert "Traceback" not in err


TRAIN_ARGS = ["--lookback", "5", "--horizon", "2", "--units", "4", "--batch-size", "64", "--dropout", "0"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_train_interrupted_leaves_no_bundle(sig, tmp_path):
    data = series_csv(tmp_path / "s.csv", 600)
    out = tmp_path / "model.fcst"
    proc = start(["train", data, "-o", out, *TRAIN_ARGS, "--epochs", "1000", "--patience", "1000"])
    wait_for(tf_running(proc), proc)
    time.sleep(2.5)  # into fit()
    proc.send_signal(sig)
    assert_interrupted(proc)
    assert not out.exists()
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv"]

    # the rerun (same data and settings, few epochs) completes and writes a valid bundle...
    rerun = ["train", str(data), *TRAIN_ARGS, "--epochs", "2", "--patience", "2"]
    r = runner.invoke(app, [*rerun, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert runner.invoke(app, ["inspect", str(out), "--json"]).exit_code == 0
    assert leftovers(tmp_path) == []
    # ...with the same outputs as a run that was never interrupted
    fresh = tmp_path / "fresh.fcst"
    assert runner.invoke(app, [*rerun, "-o", str(fresh)]).exit_code == 0
    a, b = (json.loads(runner.invoke(app, ["inspect", str(p), "--json"]).stdout) for p in (out, fresh))
    assert a["holdout"]["metrics"] == b["holdout"]["metrics"]
    assert a["scaler"] == b["scaler"] and a["training_data"]["sha256"] == b["training_data"]["sha256"]


def test_keyboard_interrupt_in_process_is_exit_130(monkeypatch, tmp_path):
    """A KeyboardInterrupt anywhere in a command is exit 130 with one line (no traceback)."""
    import forecast_cli.api as api

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "check", boom)
    r = runner.invoke(app, ["check", str(series_csv(tmp_path / "s.csv", 20))])
    assert r.exit_code == 130
    assert r.stderr.strip().splitlines() == ["error: interrupted; nothing half-written was left behind"]


# ---------------------------------------------------------------------------- score
N_FILES = 600


@pytest.fixture(scope="module")
def score_setup(tmp_path_factory):
    from forecast_cli import api
    from forecast_cli.config import DataConfig, ModelConfig, TrainConfig, WindowConfig

    d = tmp_path_factory.mktemp("score_intr")
    bundle = d / "m.fcst"
    api.train(series_csv(d / "train.csv", 120), bundle, DataConfig(target="y"), WindowConfig(5, 2),
              ModelConfig(**FAST_MODEL), TrainConfig(**FAST_TRAIN))
    inputs = d / "inputs"
    inputs.mkdir()
    text = series_csv(d / "one.csv", 40).read_text()
    lines = text.splitlines()
    for i in range(N_FILES):  # same dates, different values, cheap to write
        body = "\n".join(f"{ln.split(',')[0]},{float(ln.split(',')[1]) + i}" for ln in lines[1:])
        (inputs / f"f{i:04d}.csv").write_text(lines[0] + "\n" + body + "\n")
    return bundle, inputs


def test_score_sigint_then_rerun(score_setup, tmp_path):
    bundle, inputs = score_setup
    out = tmp_path / "out"
    proc = start(["score", bundle, inputs, "-o", out, "--batch-size", "32", "--quiet"])
    lock = out / ".forecast-score.lock"
    wait_for(lambda: lock.exists(), proc)  # the bundle is loaded; files are being scored
    wait_for(lambda: len(list(out.glob("*.forecast.csv"))) >= 32, proc)
    proc.send_signal(signal.SIGINT)
    assert_interrupted(proc)

    assert leftovers(out) == [] and not lock.exists()
    done = sorted(out.glob("*.forecast.csv"))
    assert 0 < len(done) < N_FILES, "the run was not interrupted midway"
    before = {}
    for p in done:  # every file present is complete
        df = pd.read_csv(p)
        assert len(df) == 2 and df.notna().all().all(), p
        before[p.name] = p.read_bytes()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True

    # rerun: completes, and every file written before the interruption is unchanged
    r = runner.invoke(app, ["score", str(bundle), str(inputs), "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_ok"] == N_FILES and summary["interrupted"] is False
    assert len(list(out.glob("*.forecast.csv"))) == N_FILES
    for name, data in before.items():
        assert (out / name).read_bytes() == data, name
    assert leftovers(out) == []


def test_interruption_inside_a_network_call_is_raised_when_it_ends():
    """A SIGTERM handler must not raise inside Keras (it rewraps exceptions): the raise waits."""
    from forecast_cli import runtime
    from forecast_cli.errors import Interrupted

    done = []
    with pytest.raises(Interrupted, match="stop"):
        with runtime.deferred_interrupts():
            runtime.interrupt(Interrupted("stop"))
            done.append("rest of the call")
    assert done == ["rest of the call"]
    with pytest.raises(Interrupted):  # outside a network call: at once
        runtime.interrupt(Interrupted("now"))
    with runtime.deferred_interrupts():  # nothing pending: nothing raised
        pass
    with pytest.raises(Interrupted):  # the interruption wins over an error of the call itself
        with runtime.deferred_interrupts():
            runtime.interrupt(Interrupted("stop"))
            raise ValueError("the call failed too")


def test_raise_pending_raises_a_held_interruption_once():
    from forecast_cli import runtime
    from forecast_cli.errors import Interrupted

    runtime.raise_pending()  # nothing held: nothing raised
    with pytest.raises(Interrupted, match="held"):
        with runtime.deferred_interrupts():
            runtime.interrupt(Interrupted("held"))
            runtime.raise_pending()  # the safe point raises it ...
            pytest.fail("not reached")
    runtime.raise_pending()  # ... and it is gone
    with runtime.deferred_interrupts():
        pass


def test_interruption_during_training_is_raised_at_the_next_batch():
    """A signal arriving mid-training is held (an exception raised inside TensorFlow or Keras code
    can be swallowed) and stops fit() at the start of the next batch, not after 50 epochs."""
    import keras

    from forecast_cli import runtime
    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
    from forecast_cli.errors import Interrupted
    from forecast_cli.training import NeuralForecaster

    begun = []

    class SignalAtBatch2(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            begun.append(batch)

        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:  # the CLI's handler, run by a signal arriving in code that swallows errors
                try:
                    runtime.interrupt(Interrupted("stop"))
                except Interrupted:
                    pass  # as Python does with an exception raised in a __del__

    t = np.arange(3000)
    v = (np.sin(2 * np.pi * t / 24) + 0.01 * t)[:, None]
    fc = NeuralForecaster(WindowConfig(24, 4), ModelConfig(**FAST_MODEL),
                          TrainConfig(epochs=50, batch_size=32, patience=50), 1)
    with pytest.raises(Interrupted, match="stop"):
        fc.fit(v, np.arange(23, 2996), callbacks=[SignalAtBatch2()])
    assert begun == [0, 1, 2]  # batch 3 never started
    assert not hasattr(fc, "history_")
    runtime.raise_pending()  # nothing left held


def test_interruption_while_keras_loads_a_bundle_is_an_interruption(monkeypatch, aapl_bundle):
    """load_bundle turns Keras' errors into "refused to load"; a signal arriving inside Keras'
    loader must still end the command as interrupted (exit 130), not as a refused model."""
    import keras

    from forecast_cli import runtime
    from forecast_cli.bundle import load_bundle
    from forecast_cli.errors import Interrupted

    real = keras.saving.load_model

    def load_with_a_signal(*a, **k):
        runtime.interrupt(Interrupted("stop"))  # what the CLI's SIGTERM handler does
        return real(*a, **k)

    monkeypatch.setattr(keras.saving, "load_model", load_with_a_signal)
    with pytest.raises(Interrupted, match="stop"):
        load_bundle(aapl_bundle)
    monkeypatch.setattr(keras.saving, "load_model", real)
    assert load_bundle(aapl_bundle)[0].model_ is not None  # nothing left held


def test_sigterm_gets_through_except_exception():
    """The SIGTERM error is a KeyboardInterrupt, as Ctrl-C's is: no ``except Exception`` on its way
    out (here, or in pandas, TensorFlow or Keras) can swallow it or report it as another error."""
    from forecast_cli.errors import ForecastError, Interrupted

    assert issubclass(Interrupted, KeyboardInterrupt) and not issubclass(Interrupted, Exception)
    assert not issubclass(Interrupted, ForecastError) and Interrupted.exit_code == 130
    with pytest.raises(Interrupted, match="by SIGTERM"):
        try:
            raise Interrupted("interrupted by SIGTERM")
        except Exception:
            pytest.fail("swallowed")
    assert Interrupted().message == "interrupted; nothing half-written was left behind"
