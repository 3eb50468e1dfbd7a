"""Do the prediction intervals cover what they say? Train on the first 80 % of a series, forecast
from every later origin, and count how often the truth falls inside the 80 % and 95 % bands.

    python benchmarks/coverage.py [--epochs 10] [--units 16] [--lookback 30] [--horizon 5] [--series aapl,air,nino]

The protocol of issue 14: for each series, ``Forecaster.fit_holdout`` on the first 80 % of its rows
(as ``forecast train`` fits a file: a holdout tail of 10 % gives the conformal residuals), then the
network forecasts from every origin after the training rows whose targets are in the series (each
forecast sees only the rows up to its origin). Coverage is the share of (origin, step) cells inside
the band; width the mean band width, in the series' units.

Rows: ``split`` is the split-conformal band of bundles written before issue 14 (per step, the
quantile of the absolute held-out residuals); ``aci`` the band of bundles written now: the same
quantile, over the held-out errors and those observed since, at the level that adaptive conformal
inference (:mod:`forecast_cli.intervals`) reaches after the misses observed on the windows between
the training data's end and the origin. Default settings: lookback 30, horizon 5, 10 epochs, 16
units, seed 0; 45-85 s on 2 cores.

Series (``sample_data/``, see SOURCES.md): ``aapl`` AAPL.csv's Close (daily, trading days),
``air`` air_quality_uci.csv's T (hourly, ``-200`` missing; windows across long gaps are skipped),
``nino`` nino12_sst.csv's SST (monthly sea surface temperature). Prints a table, then one JSON line:
``{"settings": {...}, "rows": [{"series", "method", "coverage_80", "coverage_95", "width_80",
"width_95", "n_windows"}], "seconds": ...}``. The attempts not adopted and their figures are in
docs/intervals.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Python puts this script's folder first on sys.path, where this file (coverage.py, the name the issue
# gives it) would shadow the ``coverage`` package that numba imports: drop the folder, add the repo.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from benchmarks._common import emit  # noqa: E402

SERIES = {
    "aapl": ("AAPL.csv", {"target": ("Close",)}),
    "air": ("air_quality_uci.csv", {"target": ("T",), "na_values": ("-200",)}),
    "nino": ("nino12_sst.csv", {"target": ("SST",)}),
}
LEVELS = (80.0, 95.0)
TRAIN_SHARE = 0.8


def load(name: str):
    from forecast_cli import data as _data
    from forecast_cli.config import DataConfig

    file, kw = SERIES[name]
    return _data.load(str(ROOT / "sample_data" / file), DataConfig(gaps="skip", **kw).check())


def measure(name: str, args) -> list[dict]:
    """Train on the first 80 % of one series and score every later origin's bands."""
    from forecast_cli.forecaster import Forecaster
    from forecast_cli.forecasting import adaptive_bounds
    from forecast_cli.intervals import aci_walk, conformal_quantile
    from forecast_cli.windows import valid_origins

    ds = load(name)
    n = len(ds.values)
    cut = int(n * TRAIN_SHARE)
    train = dataclasses.replace(ds, stamps=ds.stamps[:cut], values=ds.values[:cut])
    L, H = args.lookback, args.horizon
    t0 = time.perf_counter()
    fc = Forecaster(lookback=L, horizon=H, epochs=args.epochs, units=args.units, seed=args.seed)
    fc.fit_holdout(train, id_col=None, holdout=0.1)
    fit_s = time.perf_counter() - t0
    # Every origin after the training rows with a complete input (its first target after them): ACI
    # observes each step's miss once that step's truth is known; coverage counts complete windows.
    origins = valid_origins(ds.values, L, 1)
    origins = origins[origins >= cut - 1]
    rows = origins[:, None] + np.arange(1, H + 1)
    y = np.where(rows < n, ds.values[np.minimum(rows, n - 1), 0], np.nan)
    err = np.abs(y - fc.net_.predict(ds.values, origins)[:, :, 0])  # (n, H), NaN where unknown
    scored = np.isfinite(err).all(axis=1)
    calib = np.abs(np.asarray(fc.residuals_))[:, 0, :].T  # (m, H) held-out; residuals_ is (H, T, m)
    out = []
    for method in ("split", "aci"):
        row = {"series": name, "method": method, "n_windows": int(scored.sum()), "fit_seconds": round(fit_s, 1)}
        for lv in LEVELS:
            half = np.empty_like(err)
            for h in range(H):
                if method == "split":
                    half[:, h] = conformal_quantile(calib[:, h], lv)
                else:
                    half[:, h] = aci_walk(err[:, h], origins, calib[:, h], lv, gamma=args.gamma, step=h + 1).quantiles
            if method == "aci":  # the library's path (predict) from the last origin gives the same band
                i = int(np.nonzero(scored)[0][-1])
                o = int(origins[i])
                upto = dataclasses.replace(ds, stamps=ds.stamps[:o + 1], values=ds.values[:o + 1])
                lib = adaptive_bounds(fc.net_, fc.manifest_, upto, [lv])[lv][1][:, 0]
                if not np.allclose(lib, half[i]):
                    raise SystemExit(f"{name}: predict's {lv:g}% band {lib} differs from the walk's {half[i]}")
            row[f"coverage_{lv:g}"] = round(float(100 * np.mean(err[scored] <= half[scored])), 1)
            row[f"width_{lv:g}"] = round(float(np.mean(2 * half[scored])), 4)
        out.append(row)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", default="aapl,air,nino")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--units", type=int, default=16)
    ap.add_argument("--lookback", type=int, default=30)
    ap.add_argument("--horizon", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gamma", type=float, default=None, help="ACI's step (default: the library's)")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from forecast_cli.intervals import ACI_GAMMA

    args.gamma = ACI_GAMMA if args.gamma is None else args.gamma
    t0 = time.perf_counter()
    rows = [r for name in args.series.split(",") for r in measure(name.strip(), args)]
    print(f"{'series':8s} {'method':8s} {'cover 80':>9s} {'cover 95':>9s} {'width 80':>10s} {'width 95':>10s} "
          f"{'windows':>8s}")
    for r in rows:
        print(f"{r['series']:8s} {r['method']:8s} {r['coverage_80']:9.1f} {r['coverage_95']:9.1f} "
              f"{r['width_80']:10.4g} {r['width_95']:10.4g} {r['n_windows']:8d}")
    settings = {k: getattr(args, k) for k in ("epochs", "units", "lookback", "horizon", "seed", "gamma")}
    emit({"settings": {**settings, "train_share": TRAIN_SHARE, "holdout": 0.1}, "rows": rows,
          "seconds": round(time.perf_counter() - t0, 1)})


if __name__ == "__main__":
    main()
