"""One-series settings on validation only: cross-validation folds on the rows before a final span
that is never read (issue 15: training budget, seasonality, short series).

Each run is one configuration on one series; the last line is JSON. The final span (``--final``
rows, default 20 % of the series) is cut off before anything else, so choosing settings from these
figures never looks at it.

    python benchmarks/short_series.py sample_data/nino12_sst.csv --target SST
    python benchmarks/short_series.py sample_data/air_quality_uci.csv --target T --na-values -200
    python benchmarks/short_series.py --m4 H150 --lookback 0   # one hourly M4 series (its train part)
    python benchmarks/short_series.py --m3 Q253 --final 8 --folds 1   # one quarterly M3 history

``--epochs N`` fixes the epochs (the old default was 30 with patience 5); ``--lookback 0`` uses
:func:`forecast_cli.fit_advice.default_lookback`; ``--linear-fit adam|lstsq|auto`` sets the linear path.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import load_one_series  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?")
    p.add_argument("--target", default=None)
    p.add_argument("--na-values", action="append")
    p.add_argument("--m4")
    p.add_argument("--m3")
    p.add_argument("--final", type=float, default=0.2, help="final span never read: rows, or a fraction if < 1")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--horizon", type=int, default=5)
    p.add_argument("--lookback", type=int, default=30, help="0: default_lookback's rule")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--linear-fit", default="auto", choices=("auto", "adam", "lstsq"))
    p.add_argument("--units", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from forecast_cli.baselines import make_baselines
    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
    from forecast_cli.evaluation import make_folds
    from forecast_cli.fit_advice import default_lookback
    from forecast_cli.training import MIN_TRAIN_WINDOWS, NeuralForecaster

    values, season, name = load_one_series(args)
    n_final = int(round(len(values) * args.final)) if args.final < 1 else int(args.final)
    values = values[: len(values) - n_final]  # the final span is gone before anything is chosen
    H = args.horizon
    L = args.lookback or default_lookback(len(values), season, H, args.folds)
    window = WindowConfig(L, H)
    model = ModelConfig(units=args.units, linear_fit=args.linear_fit)
    train = TrainConfig(epochs=args.epochs, steps=args.steps, patience=args.patience, batch_size=args.batch_size,
                        learning_rate=args.lr, seed=args.seed)
    folds = make_folds(values, L, H, args.folds, min_train_windows=MIN_TRAIN_WINDOWS)
    t0 = time.perf_counter()
    rmse: dict[str, list] = {}
    fits = []
    for fold in folds:
        net = NeuralForecaster(window, model, train, 1, season=season).fit(values, fold.train_origins)
        fits.append({**net.fit_info(), "windows": int(len(fold.train_origins))})
        rows = fold.test_origins[:, None] + np.arange(1, H + 1)[None, :]
        y = values[rows, :1]
        named = [("model", net)] + [(b.name, b.fit(values, fold.train_origins))
                                    for b in make_baselines(L, H, 1, season, stat=False)]
        for k, f in named:
            rmse.setdefault(k, []).append(float(np.sqrt(np.mean((f.predict(values, fold.test_origins) - y) ** 2))))
    out = {"series": name, "rows": len(values), "final_rows_unread": n_final, "season": season, "lookback": L,
           "horizon": H, "epochs": args.epochs, "steps": args.steps, 
           "linear_fit": args.linear_fit, "seed": args.seed,
           "rmse": {k: round(float(np.mean(v)), 5) for k, v in rmse.items()},
           "ratio_to_best_baseline": round(float(np.mean(rmse["model"]) / min(np.mean(v) for k, v in rmse.items()
                                                                             if k != "model")), 4),
           "fold_rmse": {k: [round(x, 5) for x in v] for k, v in rmse.items()},
           "fits": fits, "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
