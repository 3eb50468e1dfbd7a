"""ETTh1 under the standard long-horizon protocol, through the project's own library.

    python benchmarks/ett.py [--data PATH] [--mode S|M] [--horizon 96] [--seed 0]
    python benchmarks/ett.py --all [--seeds 0,1,2]
    python benchmarks/ett.py --mode S --horizon 336 --seeds 0,1,2 --linear-rank auto

Protocol (Informer / LTSF-Linear / PatchTST, class Dataset_ETT_hour): rows [0, 8640) train,
[8640, 11520) validation, [11520, 14400) test; windows may reach back ``lookback`` rows into the
previous split for their inputs; every column is z-normalised with the train rows' mean and std
(ddof=0); lookback 336; every stride-1 test window; MSE and MAE on the normalised scale averaged
over windows x horizon steps x columns. ``S`` = OT alone, ``M`` = the 7 columns.

The model is :class:`forecast_cli.training.NeuralForecaster` with the ETT preset below (override
any part with the options); early stopping watches the protocol's validation windows.
Prints a table beside the naive forecast and the published rows, then, as the last stdout line,
one JSON object: ``{"mode", "horizon", "seed", "mse", "mae", "naive_mse", "seconds", ...}``
(with ``--all``: ``{"rows": [...], "summary": [...]}``).

``--linear-rank full|auto|N``: the closed-form linear path's rank (``ModelConfig.linear_rank``,
reduced-rank ridge); the preset uses ``auto`` in M and ``full`` in S (:data:`PRESET_RANK`).

The attempts that were not adopted (nested validation, shrinking or averaging the residual
network, cross-fitted residuals, the ``--select backtest`` rolling-origin selection, the
scale-free network branch) and their figures are in docs/accuracy.md; their code, this script's
options for them included, is in git history at commit 3ae3ae5.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig  # noqa: E402
from forecast_cli.windows import gather, valid_origins  # noqa: E402

TRAIN_END = 12 * 30 * 24           # 8640
VAL_END = TRAIN_END + 4 * 30 * 24  # 11520
TEST_END = VAL_END + 4 * 30 * 24   # 14400
COLS = ["OT", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]  # targets first (all of them in M)
LOOKBACK = 336
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ett" / "ETTh1.csv"

# Published rows (MSE, MAE): LTSF-Linear (Zeng et al., AAAI 2023) and PatchTST (Nie et al., ICLR 2023).
PUBLISHED = {
    ("S", 96): {"NLinear": (0.053, 0.177)},
    ("S", 192): {"NLinear": (0.069, 0.204)},
    ("S", 336): {"NLinear": (0.081, 0.226)},
    ("S", 720): {"NLinear": (0.080, 0.226)},
    ("M", 96): {"PatchTST": (0.370, 0.400), "NLinear": (0.374, 0.394)},
}
TABLE = [("S", 96), ("S", 192), ("S", 336), ("S", 720), ("M", 96)]

# The ETT preset: a closed-form (ridge) NLinear path with an LSTM over 16-step patches trained on
# its residual; channel-independent in M mode.
PRESET_MODEL = ModelConfig(model="lstm", units=64, layers=1, dropout=0.1, norm="last", linear_skip=True,
                           patch=16, channel_independent=False, linear_fit="lstsq")
# per mode: in M the closed-form path's rank is chosen with its penalty on validation (reduced-rank
# ridge); in S it stays full rank (docs/accuracy.md, "Reduced-rank linear path": the adoption rule)
PRESET_RANK = {"S": "full", "M": "auto"}
PRESET_TRAIN = {  # per mode: on OT alone (8k windows) the residual network needs a small step size
    "S": TrainConfig(epochs=8, batch_size=128, patience=3, learning_rate=1e-4, threads=0, jit_compile=True),
    "M": TrainConfig(epochs=12, batch_size=128, patience=3, learning_rate=1e-3, threads=0, jit_compile=True),
}


def load(path, mode):
    """The protocol's normalised ``(rows, columns)`` array, targets first."""
    df = pd.read_csv(path)
    cols = COLS if mode == "M" else ["OT"]
    data = df[cols].to_numpy(dtype=np.float64)[:TEST_END]
    mean, std = data[:TRAIN_END].mean(axis=0), data[:TRAIN_END].std(axis=0)
    return (data - mean) / std


def splits(values, L, H):
    tr = valid_origins(values, L, H, start=0, stop=TRAIN_END)
    va = valid_origins(values, L, H, start=TRAIN_END - L, stop=VAL_END)
    te = valid_origins(values, L, H, start=VAL_END - L, stop=TEST_END)
    return tr, va, te


def run_one(path, mode, horizon, seed, mcfg: ModelConfig, tcfg: TrainConfig, max_train=0, verbose=True,
            train_on="target"):
    """One fit and test. ``train_on="all"`` in S mode trains a channel-independent model on the
    train rows of all 7 columns and scores its OT forecasts (each made from OT's history alone)."""
    from forecast_cli.training import NeuralForecaster

    t0 = time.perf_counter()
    glob = mode == "S" and train_on == "all"
    values = load(path, "M" if glob else mode)
    if glob:
        mcfg = replace(mcfg, channel_independent=True)
    L, H = LOOKBACK, horizon
    T = values.shape[1]
    n_scored = 1 if mode == "S" else T
    tr, va, te = splits(values, L, H)
    assert len(te) == (TEST_END - VAL_END) - H + 1, len(te)
    if max_train and len(tr) > max_train:  # exploring: an evenly spaced subsample
        tr = tr[np.linspace(0, len(tr) - 1, max_train).round().astype(int)]
    fc = NeuralForecaster(WindowConfig(L, H), mcfg, replace(tcfg, seed=seed), n_targets=T)
    fc.fit(values, tr, val_origins=va)
    pred = fc.predict(values, te)
    _, Y = gather(values, te, L, H, T, dtype=np.float64)
    err = (pred - Y)[..., :n_scored]
    last = values[te, :T][:, None, :]
    naive = (last - Y)[..., :n_scored]
    out = {"mode": mode, "horizon": H, "seed": seed, "train_on": "all" if glob or mode == "M" else "target",
           "mse": float(np.mean(err ** 2)),
           "mae": float(np.mean(np.abs(err))), "naive_mse": float(np.mean(naive ** 2)),
           "naive_mae": float(np.mean(np.abs(naive))), "seconds": round(time.perf_counter() - t0, 1),
           "test_windows": int(len(te)), "train_windows": int(len(tr)),
           "epochs_run": getattr(fc, "epochs_run_", None), "best_epoch": getattr(fc, "best_epoch_", None),
           "val_loss": min(fc.history_.get("val_loss", [float("nan")])),
           "linear_fit": getattr(fc, "linear_fit_", None),
           "linear_val": getattr(fc, "linear_val_", None), "kept": "linear" if fc.residual_scale_ == 0 else "network"}
    if pred.shape[-1] > 1:  # OT is column 0: its share of the error, comparable with the S rows
        out["ot_mse"], out["ot_mae"] = float(np.mean(err[..., 0] ** 2)), float(np.mean(np.abs(err[..., 0])))
    if verbose:
        print(f"# {mode} H={H} seed={seed}: mse={out['mse']:.4f} mae={out['mae']:.4f} "
              f"naive={out['naive_mse']:.4f} epochs={out['epochs_run']} best={out['best_epoch']} "
              f"ot={out.get('ot_mse')} lin={out['linear_fit']} "
              f"kept={out['kept']} linear_val={out['linear_val']} {out['seconds']}s val={[round(v, 5) for v in fc.history_.get('val_loss', [])]}", file=sys.stderr, flush=True)
    return out


def fmt(vals):
    vals = np.asarray(vals, dtype=float)
    if len(vals) == 1:
        return f"{vals[0]:.4f}"
    return f"{vals.mean():.4f} ± {vals.std(ddof=1):.4f}"


def print_table(rows):
    lines = [f"{'mode':<4} {'H':>4}  {'model MSE':>17} {'model MAE':>17}  {'naive MSE/MAE':>13}  "
             f"{'published MSE/MAE':<36} {'s/run':>6} seeds"]
    for key in [k for k in TABLE if any((r['mode'], r['horizon']) == k for r in rows)]:
        rs = [r for r in rows if (r["mode"], r["horizon"]) == key]
        pub = ", ".join(f"{k} {a:.3f}/{b:.3f}" for k, (a, b) in PUBLISHED.get(key, {}).items())
        lines.append(f"{key[0]:<4} {key[1]:>4}  {fmt([r['mse'] for r in rs]):>17} {fmt([r['mae'] for r in rs]):>17}  "
                     f"{rs[0]['naive_mse']:.3f}/{rs[0]['naive_mae']:.3f}  {pub:<36} "
                     f"{np.mean([r['seconds'] for r in rs]):>6.0f} {len(rs)}")
    print("\n".join(lines))


def summarise(rows):
    out = []
    for key in TABLE:
        rs = [r for r in rows if (r["mode"], r["horizon"]) == key]
        if not rs:
            continue
        mse, mae = np.array([r["mse"] for r in rs]), np.array([r["mae"] for r in rs])
        out.append({"mode": key[0], "horizon": key[1], "seeds": [r["seed"] for r in rs],
                    "mse_mean": float(mse.mean()), "mse_std": float(mse.std(ddof=1)) if len(rs) > 1 else 0.0,
                    "mae_mean": float(mae.mean()), "mae_std": float(mae.std(ddof=1)) if len(rs) > 1 else 0.0,
                    "naive_mse": rs[0]["naive_mse"], "seconds_mean": float(np.mean([r["seconds"] for r in rs]))})
    return out


def _rank(text):
    if text in ("full", "auto"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"full, auto or an int, not {text!r}") from None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="path to ETTh1.csv")
    ap.add_argument("--mode", choices=["S", "M"], default="S", help="S = OT alone, M = 7 columns")
    ap.add_argument("--horizon", type=int, default=96)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all", action="store_true", help="the whole table: S at 96/192/336/720, M at 96")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (e.g. 0,1,2): mean ± std")
    g = ap.add_argument_group("model overrides (defaults: the ETT preset)")
    g.add_argument("--model", choices=["lstm", "gru", "attention", "peephole"])
    g.add_argument("--units", type=int)
    g.add_argument("--layers", type=int)
    g.add_argument("--dropout", type=float)
    g.add_argument("--norm", choices=["last", "none"])
    g.add_argument("--no-linear-skip", action="store_true")
    g.add_argument("--patch", type=int)
    g.add_argument("--linear-fit", choices=["adam", "lstsq"])
    g.add_argument("--linear-rank", type=_rank,
                   help="closed-form linear path: full (ridge), auto (rank from models.RANK_GRID and full, "
                        "chosen with the penalty on the validation windows) or an int (reduced-rank ridge)")
    g.add_argument("--no-channel-independent", action="store_true",
                   help="M mode: one network over the 7 columns together")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--patience", type=int)
    g.add_argument("--learning-rate", type=float)
    g.add_argument("--threads", type=int, help="TensorFlow intra-op threads (0 = TensorFlow's choice)")
    g.add_argument("--train-on", choices=["target", "all"], default="target",
                   help="S mode: 'all' trains one channel-independent model on the train rows of all 7 "
                        "columns; it still forecasts OT from OT's history alone (not the S protocol)")
    g.add_argument("--max-train-windows", type=int, default=0, help="exploring: subsample training windows")
    a = ap.parse_args(argv)

    mover = {k: getattr(a, k) for k in ("model", "units", "layers", "dropout", "norm", "patch", "linear_fit",
                                        "linear_rank")
             if getattr(a, k) is not None}
    if a.no_linear_skip:
        mover["linear_skip"] = False
    tover = {k: getattr(a, k) for k in ("epochs", "batch_size", "patience", "learning_rate", "threads")
             if getattr(a, k) is not None}
    def tcfg_for(mode):  # S trained on all 7 columns has M's amount of data: M's settings
        return replace(PRESET_TRAIN["M" if a.train_on == "all" else mode], **tover).check()

    def mcfg_for(mode):
        ci = mode == "M" and not a.no_channel_independent
        return replace(PRESET_MODEL, **{"channel_independent": ci, "linear_rank": PRESET_RANK[mode], **mover}).check()

    seeds = [int(s) for s in a.seeds.split(",")] if a.seeds else [a.seed]
    jobs = TABLE if a.all else [(a.mode, a.horizon)]
    print(f"# ETTh1 {a.data}  lookback={LOOKBACK}  train=[0,{TRAIN_END}) val=[{TRAIN_END},{VAL_END}) "
          f"test=[{VAL_END},{TEST_END})", flush=True)
    for m in sorted({j[0] for j in jobs}):
        print(f"# model {m}: {mcfg_for(m)}", flush=True)
    for m in sorted({j[0] for j in jobs}):
        print(f"# train {m}: {tcfg_for(m)}", flush=True)
    rows = []
    for mode, H in jobs:
        for s in seeds:
            rows.append(run_one(a.data, mode, H, s, mcfg_for(mode), tcfg_for(mode), a.max_train_windows,
                                train_on=a.train_on))
    print_table(rows)
    if len(rows) == 1:
        print(json.dumps(rows[0]))
    else:
        print(json.dumps({"rows": rows, "summary": summarise(rows)}))


if __name__ == "__main__":
    main(sys.argv[1:])
