"""Do calendar inputs help the global network? Fits it with and without them on a validation split.

    python benchmarks/calendar_probe.py air [--calendar] [--seed 0] [--back WEEKS]
    python benchmarks/calendar_probe.py m4 [--calendar] [--seed 0]

``air``: the UCI air-quality file (``../shared/data/sensors/air_quality_uci.csv``, hourly, real
stamps): its 12 usable columns (NMHC(GT) is mostly missing) as 12 series, -200 read as missing,
gaps of up to 3 hours filled linearly (the tool's default). Training windows end before the last
8 weeks (``--back``: 8 weeks ending that many weeks before the file's end); the forecast of every
origin whose 24 target hours lie in those 8 weeks is scored by MASE (m = 24, scale over the rows
before them), averaged over the series. Lookback 168, horizon 24.

``m4``: M4 Hourly's validation split (the last 48 hours of each history; the test file is not
read), the reduced configuration of docs/m4.md (lookback 168, one network, ``balance=5``). The
files carry no dates: every series is stamped hourly from 2000-01-01 00:00, as ``m4.py`` does,
so the "calendar" is each row's position in the day and week counted from the series' start.

The network is :class:`~forecast_cli.global_model.GlobalForecaster` called directly (its
``calendar`` option is not yet a ``Forecaster`` setting). Last stdout line: JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = ROOT.parent / "shared" / "data"


def air_quality(back: int):
    """``(keys, values, times, cut)`` of the air-quality columns, cut ``back`` weeks before the end."""
    df = pd.read_csv(DATA / "sensors" / "air_quality_uci.csv")
    df.index = pd.to_datetime(df["Date"] + " " + df["Time"])
    df = df.drop(columns=["Date", "Time", "NMHC(GT)"]).replace(-200, np.nan).asfreq("h")
    df = df.interpolate(limit=3, limit_area="inside").iloc[:len(df) - back * 168]
    stamps = df.index.to_numpy().astype("datetime64[s]")
    keys = list(df.columns)
    return keys, [df[k].to_numpy(np.float64)[:, None] for k in keys], [stamps] * len(keys), len(df) - 8 * 168


def run_air(calendar: bool, seed: int, back: int) -> dict:
    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
    from forecast_cli.global_model import GlobalForecaster
    from forecast_cli.windows import gather, valid_origins

    L, H, M = 168, 24, 24
    keys, values, times, cut = air_quality(back)
    tr = [valid_origins(v, L, H, stop=cut) for v in values]
    te = [valid_origins(v, L, H, start=cut - L) for v in values]  # targets in the last 8 weeks
    g = GlobalForecaster(WindowConfig(L, H), ModelConfig(units=64, dropout=0.1, patch=24, linear_fit="lstsq"),
                         TrainConfig(epochs=30, patience=3, batch_size=256, learning_rate=1e-3, val_fraction=0.1,
                                     seed=seed), n_targets=1, season=M, calendar=calendar)
    t0 = time.perf_counter()
    pred = g.fit(values, tr, keys=keys, times=times).predict(values, te, keys=keys, times=times)
    per = {}
    for k, v, o, p in zip(keys, values, te, pred):
        if len(o):
            hv = v[:cut, 0]
            per[k] = round(float(np.mean(np.abs(p - gather(v, o, L, H, 1)[1])) / np.nanmean(np.abs(hv[M:] - hv[:-M]))), 4)
    return {"mase": round(float(np.mean(list(per.values()))), 4), "seconds": round(time.perf_counter() - t0, 1),
            "best_epoch": g.best_epoch_, "per_series": per}


def run_m4(calendar: bool, seed: int) -> dict:
    import m4
    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
    from forecast_cli.global_model import GlobalForecaster
    from forecast_cli.windows import valid_origins

    L, H = 168, m4.HORIZON
    hist = m4.read_wide(DATA / "m4" / "Hourly-train.csv")
    actual = {k: v[-H:] for k, v in hist.items()}
    hist = {k: v[:-H] for k, v in hist.items()}
    keys = list(hist)
    values = [hist[k][:, None] for k in keys]
    start = np.datetime64("2000-01-01T00", "s")
    times = [start + np.arange(len(v)) * np.timedelta64(3600, "s") for v in values]
    g = GlobalForecaster(WindowConfig(L, H), ModelConfig(units=64, dropout=0.1, patch=24, linear_fit="lstsq"),
                         TrainConfig(epochs=30, patience=3, batch_size=256, learning_rate=1e-3, val_fraction=0.1,
                                     balance=5.0, seed=seed), n_targets=1, season=m4.SEASON, calendar=calendar)
    t0 = time.perf_counter()
    g.fit(values, [valid_origins(v, L, H) for v in values], keys=keys, times=times)
    pred = g.predict(values, [np.array([len(v) - 1]) for v in values], keys=keys, times=times)
    res = m4.score(hist, actual, {k: p[0, :, 0] for k, p in zip(keys, pred)})
    return {**{k: round(v, 4) for k, v in res.items()}, "seconds": round(time.perf_counter() - t0, 1),
            "best_epoch": g.best_epoch_}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", choices=["air", "m4"])
    ap.add_argument("--calendar", action="store_true", help="append the calendar inputs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--back", type=int, default=0, help="air: end the 8 validation weeks this many weeks early")
    args = ap.parse_args(argv)
    res = run_air(args.calendar, args.seed, args.back) if args.data == "air" else run_m4(args.calendar, args.seed)
    print(json.dumps({"data": args.data, "calendar": args.calendar, "seed": args.seed, "back": args.back, **res}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
