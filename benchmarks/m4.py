"""M4 Hourly (414 series, 48-hour horizon) through the project's global model.

    python benchmarks/m4.py [--data DIR] [--seed 0] [--local]
    python benchmarks/m4.py --val            # settings choice: the last 48 hours of each history
    python benchmarks/m4.py --val --set lookback=336 --set units=32

``DIR`` (default ``../shared/data/m4`` beside the repository) holds ``Hourly-train.csv`` and
``Hourly-test.csv`` (one series a row: ``"V1"`` the id, then the values). The script turns the
histories into a long table (``unique_id, ds, y``; hourly stamps from 2000-01-01 00:00), trains
the global model on every series' history, forecasts the next 48 hours of each and scores them
against the test file with the competition's measures (``../shared/data/SOURCES.md``):
sMAPE and MASE (m = 24, scale over each series' whole history) averaged over the 48 steps, then
over the series, and OWA = (sMAPE / 18.383 + MASE / 2.395) / 2. Seasonal naive and naive are
scored beside it and checked against the published 13.912 / 1.193 / 0.627 and 43.003 / 11.608 /
3.593 (the run stops if they differ: the measures would be wrong).

``--val`` carves a validation split from the histories (each loses its last 48 hours, which
become the targets) and never reads the test file: every setting in :data:`PRESET` was chosen
that way (docs/m4.md lists the attempts). ``--local`` fits one network per series instead.

Last stdout line: ``{"smape", "mase", "owa", "seconds", "series", "peak_rss_mb", ...}``.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HORIZON, SEASON = 48, 24
NAIVE2 = {"smape": 18.383, "mase": 2.395}
PUBLISHED = [  # (name, sMAPE, MASE, OWA) from SOURCES.md
    ("best entry (Doornik et al.)", 8.913, 0.801, 0.410),
    ("ES-RNN (Smyl, M4 winner)", 9.328, 0.893, 0.440),
    ("seasonal naive (published)", 13.912, 1.193, 0.627),
    ("plain RNN (organisers)", 14.698, 3.048, 1.036),
]
EXPECTED = {"seasonal_naive": (13.912, 1.193, 0.627), "naive": (43.003, 11.608, 3.593)}

# The settings, chosen on the validation split (--val); see docs/m4.md.
PRESET = {
    "lookback": 168, "patch": 24, "units": 64, "layers": 1, "dropout": 0.1, "model": "lstm",
    "linear_fit": "lstsq", "epochs": 30, "patience": 3, "batch_size": 256, "learning_rate": 1e-3,
    "val_fraction": 0.1, "loss": "mae", "log": True, "id_embedding": 0, "ensemble": 1,
    "balance": 0.0,
}


# -- data --------------------------------------------------------------------------------------
def read_wide(path: Path) -> dict[str, np.ndarray]:
    """``{id: values}`` from an M4 file (one series a row, ``V1`` the id, rows of unequal length)."""
    df = pd.read_csv(path)
    ids = df.iloc[:, 0].astype(str).tolist()
    vals = df.iloc[:, 1:].to_numpy(dtype=np.float64)
    return {k: v[np.isfinite(v)] for k, v in zip(ids, vals)}


def to_long(series: dict[str, np.ndarray], start="2000-01-01 00:00") -> pd.DataFrame:
    """The long table ``unique_id, ds, y`` (hourly stamps from ``start``) of ``{id: values}``."""
    frames = [pd.DataFrame({"unique_id": k, "ds": pd.date_range(start, periods=len(v), freq="h"), "y": v})
              for k, v in series.items()]
    return pd.concat(frames, ignore_index=True)


# -- measures (SOURCES.md) ---------------------------------------------------------------------
def smape(y, f) -> float:
    return float(np.mean(200.0 * np.abs(y - f) / (np.abs(y) + np.abs(f))))


def mase(history, y, f, m=SEASON) -> float:
    scale = np.mean(np.abs(history[m:] - history[:-m]))
    return float(np.mean(np.abs(y - f)) / scale)


def score(histories: dict, actuals: dict, forecasts: dict) -> dict:
    s = [smape(actuals[k], forecasts[k]) for k in actuals]
    m = [mase(histories[k], actuals[k], forecasts[k]) for k in actuals]
    sm, ms = float(np.mean(s)), float(np.mean(m))
    return {"smape": sm, "mase": ms, "owa": 0.5 * (sm / NAIVE2["smape"] + ms / NAIVE2["mase"])}


def baselines(histories: dict) -> dict:
    sn = {k: np.tile(v[-SEASON:], HORIZON // SEASON) for k, v in histories.items()}
    nv = {k: np.repeat(v[-1], HORIZON) for k, v in histories.items()}
    return {"seasonal_naive": sn, "naive": nv}


# -- the model ---------------------------------------------------------------------------------
def forecast(train_long: pd.DataFrame, settings: dict, seed: int, local: bool) -> pd.DataFrame:
    """Fit on the long table and forecast the next 48 hours of every series: a long table
    ``unique_id, ds, model``. (The one place that calls the library.)"""
    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
    from forecast_cli.global_model import GlobalForecaster
    from forecast_cli.windows import valid_origins

    s = settings
    window = WindowConfig(s["lookback"], HORIZON)
    model = ModelConfig(model=s["model"], units=s["units"], layers=s["layers"], dropout=s["dropout"],
                        patch=s["patch"], linear_fit=s["linear_fit"], local=local,
                        id_embedding=0 if local else s["id_embedding"])
    train = TrainConfig(epochs=s["epochs"], patience=s["patience"], batch_size=s["batch_size"],
                        learning_rate=s["learning_rate"], val_fraction=s["val_fraction"], seed=seed)
    keys, series, origins = [], [], []
    for k, g in train_long.groupby("unique_id", sort=False):
        v = g["y"].to_numpy(dtype=np.float64)[:, None]
        keys.append(str(k))
        series.append(v)
        origins.append(valid_origins(v, s["lookback"], HORIZON))
    g = GlobalForecaster(window, model, train, n_targets=1, season=SEASON, log=s["log"], loss=s["loss"],
                         ensemble=s["ensemble"], balance=s["balance"])
    g.fit(series, origins, keys=keys)
    L = s["lookback"]
    X = np.zeros((len(series), L, 1))
    lengths = np.array([min(len(v), L) for v in series])
    for i, v in enumerate(series):
        X[i, L - lengths[i]:] = v[-lengths[i]:]
    out = g.predict_windows(X, keys=keys, lengths=lengths)[:, :, 0]
    rows = []
    last = train_long.groupby("unique_id", sort=False)["ds"].max()
    for k, f in zip(keys, out):
        rows.append(pd.DataFrame({"unique_id": k, "ds": pd.date_range(last[k], periods=HORIZON + 1, freq="h")[1:],
                                  "model": f}))
    forecast.fitted = g
    return pd.concat(rows, ignore_index=True)


def parse_set(items) -> dict:
    out = dict(PRESET)
    for item in items or []:
        key, _, raw = item.partition("=")
        if key not in PRESET:
            raise SystemExit(f"--set {key}: unknown; one of {', '.join(PRESET)}")
        cur = PRESET[key]
        if isinstance(cur, bool):
            val = raw.lower() in ("1", "true", "yes", "on")
        elif isinstance(cur, int):
            val = int(raw)
        elif isinstance(cur, float):
            val = float(raw)
        else:
            val = raw
        out[key] = val
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "m4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--local", action="store_true", help="one network per series")
    ap.add_argument("--val", action="store_true",
                    help="validation split: the last 48 hours of each history (the test file is not read)")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a preset setting")
    ap.add_argument("--save", type=Path, help="write the forecasts (long CSV) here")
    ap.add_argument("--series", type=int, default=0, help="only the first N series (quick checks; 0 = all)")
    args = ap.parse_args(argv)
    data = args.data if args.data.is_absolute() else (ROOT / args.data)
    settings = parse_set(args.set)
    t0 = time.perf_counter()
    hist = read_wide(data / "Hourly-train.csv")
    if args.series:
        hist = dict(list(hist.items())[:args.series])
    if args.val:
        actual = {k: v[-HORIZON:] for k, v in hist.items()}
        hist = {k: v[:-HORIZON] for k, v in hist.items()}
    else:
        test = read_wide(data / "Hourly-test.csv")
        actual = {k: test[k] for k in hist}
    if any(len(a) != HORIZON for a in actual.values()):
        raise SystemExit("every test row must hold 48 values")
    rows = {name: score(hist, actual, f) for name, f in baselines(hist).items()}
    if not args.val and not args.series:
        for name, exp in EXPECTED.items():
            got = tuple(round(rows[name][k], 3) for k in ("smape", "mase", "owa"))
            if got != exp:
                raise SystemExit(f"{name} scores {got}, published {exp}: the measures are wrong")
    long = to_long(hist)
    t1 = time.perf_counter()
    fc = forecast(long, settings, args.seed, args.local)
    seconds = time.perf_counter() - t1
    pred = {k: g["model"].to_numpy() for k, g in fc.groupby("unique_id", sort=False)}
    res = score(hist, actual, pred)
    name = "global LSTM" + (" (--local)" if args.local else "")
    split = "validation (last 48 h of each history)" if args.val else "test"
    print(f"M4 Hourly, {len(hist)} series, horizon {HORIZON}, {split}, seed {args.seed}")
    print(f"{'method':34s} {'sMAPE':>8s} {'MASE':>8s} {'OWA':>7s}")
    print(f"{name:34s} {res['smape']:8.3f} {res['mase']:8.3f} {res['owa']:7.3f}")
    for k in ("seasonal_naive", "naive"):
        r = rows[k]
        print(f"{k.replace('_', ' ') + ' (this run)':34s} {r['smape']:8.3f} {r['mase']:8.3f} {r['owa']:7.3f}")
    if not args.val:
        for n, a, b, c in PUBLISHED:
            print(f"{n:34s} {a:8.3f} {b:8.3f} {c:7.3f}")
    g = forecast.fitted
    info = {}
    if not g.local:
        info = {"best_epoch": g.best_epoch_, "epochs_run": g.epochs_run_, "residual_scale": g.residual_scale_,
                "ridge_alpha": (g.linear_fit_ or {}).get("alpha")}
    print(f"fit+forecast {seconds:.1f} s, total {time.perf_counter() - t0:.1f} s, peak RSS {peak_rss_mb():.0f} MB, "
          f"{json.dumps(info)}")
    if args.save:
        fc.to_csv(args.save, index=False)
    out = {"smape": round(res["smape"], 4), "mase": round(res["mase"], 4), "owa": round(res["owa"], 4),
           "seconds": round(seconds, 1), "series": len(hist), "peak_rss_mb": round(peak_rss_mb(), 1),
           "seed": args.seed, "local": args.local, "split": "val" if args.val else "test",
           "settings": settings, **info}
    print(json.dumps(out, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
