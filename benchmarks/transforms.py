"""The target transform (``--transform``) on validation only: cross-validation folds on the rows
before a final span that is never read (issue 15, "Level and scale"); see docs/transforms.md.

One run is one series: each fold fits the one-series network once per transform (``none``, ``log``,
``boxcox``; scipy's maximum-likelihood lambda, measured as ``mle`` and not adopted, was removed
after its figures went into docs/transforms.md)
on the fold's training rows, and scores every forecast on the data's scale beside the baselines.
``auto`` needs no network of its own: on each fold it is the ``boxcox`` network where the block
test of :mod:`forecast_cli.transforms` picks Box-Cox (the same lambda, the same seed) and the
``none`` network elsewhere. The last line is JSON.

    python benchmarks/transforms.py sample_data/nino12_sst.csv --target SST
    python benchmarks/transforms.py --m3 Q671 --lookback 8 --horizon 4 --test-size 8
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import load_one_series  # noqa: E402


def _rmse(pred, y):
    return float(np.sqrt(np.nanmean((pred - y) ** 2)))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?")
    p.add_argument("--target", default=None)
    p.add_argument("--na-values", action="append")
    p.add_argument("--gaps", default="error")
    p.add_argument("--m4")
    p.add_argument("--m3")
    p.add_argument("--final", type=float, default=0.2, help="final span never read: rows, or a fraction if < 1")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--test-size", type=int, default=None)
    p.add_argument("--horizon", type=int, default=5)
    p.add_argument("--lookback", type=int, default=30)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--modes", default="none,log,boxcox")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from forecast_cli.baselines import make_baselines
    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig
    from forecast_cli.evaluation import make_folds
    from forecast_cli.metrics import mase_scale
    from forecast_cli.training import MIN_TRAIN_WINDOWS
    from forecast_cli.transforms import TargetTransform, make_forecaster

    values, season, name = load_one_series(args, gaps=args.gaps)
    n_final = int(round(len(values) * args.final)) if args.final < 1 else int(args.final)
    values = values[: len(values) - n_final]  # the final span is gone before anything is chosen
    L, H = args.lookback, args.horizon
    window = WindowConfig(L, H)
    train = TrainConfig(epochs=args.epochs, seed=args.seed)
    modes = args.modes.split(",")
    folds = make_folds(values, L, H, args.folds, test_size=args.test_size, min_train_windows=MIN_TRAIN_WINDOWS)
    t0 = time.perf_counter()
    rmse: dict[str, list] = {}
    mase: dict[str, list] = {}
    lam: dict[str, list] = {}
    seconds: dict[str, float] = {}
    tests: list = []  # the block test of auto on each fold's training rows
    for fold in folds:
        rows = fold.test_origins[:, None] + np.arange(1, H + 1)[None, :]
        y = values[rows, :1]
        scale = float(mase_scale(values[fold.train_start:fold.train_stop, :1])[0])  # the tool's MASE (m = 1)
        preds = {}
        for mode in modes:
            t1 = time.perf_counter()
            net = make_forecaster(window, ModelConfig(transform=mode), train, 1, season).fit(values, fold.train_origins)
            seconds[mode] = seconds.get(mode, 0.0) + time.perf_counter() - t1
            tf = getattr(net, "transform_", None)
            lam.setdefault(mode, []).append(None if tf is None else tf.params_[0].get("lambda"))
            preds[mode] = net.predict(values, fold.test_origins)
        # auto: the boxcox network where the block test picks Box-Cox on this fold's training rows
        o = fold.train_origins
        auto = TargetTransform("auto", season).fit(values[o[0] - L + 1:o[-1] + H + 1, :1])
        picked = auto.params_[0]["kind"] == "boxcox"
        tests.append({k: auto.params_[0].get(k) for k in ("slope", "p_value")})
        if "boxcox" in preds and "none" in preds:
            preds["auto"] = preds["boxcox"] if picked else preds["none"]
            lam.setdefault("auto", []).append(auto.params_[0]["lambda"] if picked else None)
        for b in make_baselines(L, H, 1, season, stat=False):
            preds[b.name] = b.fit(values, fold.train_origins).predict(values, fold.test_origins)
        for k, pr in preds.items():
            assert np.isfinite(pr).all(), (k, "non-finite forecast")
            rmse.setdefault(k, []).append(_rmse(pr, y))
            mase.setdefault(k, []).append(float(np.mean(np.abs(pr - y))) / scale)
    out = {"series": name, "rows": len(values), "final_rows_unread": n_final, "season": season, "lookback": L,
           "horizon": H, "folds": len(folds), "seed": args.seed, "epochs": args.epochs,
           "rmse": {k: round(float(np.mean(v)), 5) for k, v in rmse.items()},
           "mase": {k: round(float(np.mean(v)), 4) for k, v in mase.items()},
           "rmse_folds": {k: [round(x, 5) for x in v] for k, v in rmse.items()},
           "auto_test": tests,
           "lambda": {k: [None if v is None else round(float(v), 3) for v in vs] for k, vs in lam.items()},
           "fit_seconds": {k: round(v, 1) for k, v in seconds.items()},
           "seconds": round(time.perf_counter() - t0, 1),
           "model": {k: v for k, v in dataclasses.asdict(ModelConfig()).items() if k in ("deseason", "linear_fit")}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
