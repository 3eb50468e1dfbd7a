"""Training speed: the tool's epoch time against the bare Keras and plain PyTorch references.

    python benchmarks/train_speed.py [--rounds 2] [--epochs 3] [--torch-python PATH] [--threads 1]

Same data and model size as ../shared/bench (ts_common.py: 50,000-point synthetic series,
lookback 64, horizon 1, LSTM(64) -> Dropout(0.2) -> Dense(1), Adam 1e-3, batch 256):

* tool: forecast_cli's NeuralForecaster with ``--norm none --no-linear-skip --units 64
  --dropout 0.2`` (the same network), its tf.data window pipeline, XLA as chosen by
  ``--jit`` (off by default), and its thread setting (1 intra-op thread by default). It trains on 39,936 windows (as the references)
  and also scores 4,437 validation windows per epoch for early stopping, which the
  references do not do: the "train part" (each epoch up to its validation pass, timed by a
  Keras callback) is the references' work, the whole epoch adds the validation pass;
* keras: ../shared/bench/keras_reference.py --train-only (TensorFlow's default threads);
* torch: ../shared/bench/torch_reference.py --train-only --threads 2 in a Python that has
  torch (``--torch-python``, default ``.venv-torch/bin/python``; ``make bench-torch`` makes it).
  Skipped (null) when torch is not installed.

Every run is a fresh process; the three alternate for ``--rounds`` rounds (the machine is
shared and noisy) and the medians of the steady epochs (epochs 2..N) are compared.
Prints a table, then one JSON line: {"epoch_s", "train_part_s", "keras_reference_epoch_s", "torch_reference_epoch_s", ...}.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED_BENCH, emit, last_json, machine, median, run_timed  # noqa: E402


def tool_run(epochs: int, threads: int, jit: str) -> dict:
    """Train the tool's network on the reference data in this process; print one JSON line."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(SHARED_BENCH))
    import numpy as np
    import ts_common as C

    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
    from forecast_cli.training import NeuralForecaster

    d = C.prepare()
    series = d["series"][:, None].astype(np.float64)
    n_train = 39_936
    n_total = int(round(n_train / 0.9))  # the last 10 % of windows are the validation tail
    origins = np.arange(C.LOOKBACK - 1, C.LOOKBACK - 1 + n_total)
    jit_v = {"auto": "auto", "on": True, "off": False}[jit]
    net = NeuralForecaster(WindowConfig(C.LOOKBACK, 1),
                           ModelConfig(units=C.HIDDEN, dropout=C.DROPOUT, norm="none", linear_skip=False),
                           TrainConfig(epochs=epochs, batch_size=C.BATCH, patience=epochs, threads=threads,
                                       jit_compile=jit_v, learning_rate=C.LR), n_targets=1)
    from forecast_cli.runtime import import_keras

    keras = import_keras()
    stamps = [time.perf_counter()]
    train_s = []  # per epoch: from its start to the start of its validation pass

    class TrainPart(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_test_begin(self, logs=None):
            if hasattr(self, "t"):
                train_s.append(time.perf_counter() - self.t)
                del self.t

    def on_epoch(e, n, logs):
        stamps.append(time.perf_counter())

    t0 = time.perf_counter()
    net.fit(series, origins, on_epoch=on_epoch, callbacks=[TrainPart()])
    fit_s = time.perf_counter() - t0
    epochs_s = [b - a for a, b in zip(stamps, stamps[1:])]
    # the first epoch also builds the model and traces/compiles: report it apart
    steady = epochs_s[1:] or epochs_s
    steady_train = train_s[1:] or train_s
    return {"framework": "forecast_cli", "epoch_s": epochs_s, "steady_epoch_s": sum(steady) / len(steady),
            "train_part_s": train_s, "steady_train_part_s": sum(steady_train) / len(steady_train),
            "fit_total_s": fit_s, "n_train_windows": n_train, "jit_compile": net.jit_compile_,
            "loss_per_epoch": net.history_["loss"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="the tool's --threads")
    ap.add_argument("--jit", choices=["auto", "on", "off"], default="off")
    ap.add_argument("--torch-python", default=str(ROOT / ".venv-torch" / "bin" / "python"))
    ap.add_argument("--torch-threads", type=int, default=2)
    ap.add_argument("--tool-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.tool_only:
        emit(tool_run(args.epochs, args.threads, args.jit))
        return 0

    py = sys.executable
    env = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = {
        "tool": [py, __file__, "--tool-only", "--epochs", str(args.epochs), "--threads", str(args.threads),
                 "--jit", args.jit],
        "keras": [py, str(SHARED_BENCH / "keras_reference.py"), "--train-only", "--epochs", str(args.epochs)],
    }
    if Path(args.torch_python).exists():
        runs["torch"] = [args.torch_python, str(SHARED_BENCH / "torch_reference.py"), "--train-only",
                         "--epochs", str(args.epochs), "--threads", str(args.torch_threads)]
    steady = {k: [] for k in runs}
    tool_train = []  # the tool's epochs without its validation pass: the references' work
    losses = {}
    for r in range(args.rounds):
        for name, cmd in runs.items():
            _, p = run_timed(cmd, env=env)
            if p.returncode != 0:
                raise SystemExit(f"{name} failed:\n{p.stderr[-3000:]}")
            res = last_json(p.stdout)
            steady[name].append(res["steady_epoch_s"])
            if name == "tool":
                tool_train.append(res["steady_train_part_s"])
            losses[name] = (res.get("loss_per_epoch") or [None])[-1]
            print(f"round {r + 1} {name:6} steady epoch {res['steady_epoch_s']:.2f} s", file=sys.stderr, flush=True)
    med = {k: median(v) for k, v in steady.items()}
    med_train = median(tool_train)
    out = {
        "epoch_s": med["tool"],
        "train_part_s": med_train,
        "train_part_over_torch": med_train / med["torch"] if med.get("torch") else None,
        "all_train_part_s": tool_train,
        "keras_reference_epoch_s": med["keras"],
        "torch_reference_epoch_s": med.get("torch"),
        "tool_over_keras": med["tool"] / med["keras"],
        "tool_over_torch": med["tool"] / med["torch"] if med.get("torch") else None,
        "all_steady_epoch_s": steady,
        "last_loss": losses,
        "rounds": args.rounds, "epochs": args.epochs, "tool_threads": args.threads, "jit": args.jit,
        "torch_threads": args.torch_threads if "torch" in runs else None,
        "machine": machine(),
    }
    print(f"{'trainer':34} {'steady epoch s':>15} {'tool / this':>12} {'tool train part / this':>23}")
    print(f"{'forecast_cli, whole epoch':34} {med['tool']:15.2f} {1.0:12.2f}")
    print(f"{'forecast_cli, train part':34} {med_train:15.2f}")
    print(f"{'bare Keras reference':34} {med['keras']:15.2f} {med['tool'] / med['keras']:12.2f} "
          f"{med_train / med['keras']:23.2f}")
    if med.get("torch"):
        print(f"{'plain PyTorch reference':34} {med['torch']:15.2f} {med['tool'] / med['torch']:12.2f} "
              f"{med_train / med['torch']:23.2f}")
    else:
        print("plain PyTorch reference: torch not installed (make bench-torch)")
    emit(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
