"""Does tuning help where it counts? ``forecast tune`` on two series, scored on a span no trial saw.

    python benchmarks/tune_gain.py [--trials 30] [--timeout 17m] [--epochs 10] [--folds 3] [--series air,aapl]
                                   [--storage sqlite:///bench.db] [--space FILE.toml] [--stat-baseline]

The protocol of issue 16: for each series, :func:`forecast_cli.tune.tune` (TPE seeded with 0,
median pruning after each fold) searches the default space (:func:`forecast_cli.tune_space.default_space`)
by 3-fold expanding cross-validation on the rows before a final test span (the last
``rows // (folds + 2)`` rows), in a fresh SQLite study (the space: ``tune_gain_space.toml``, the default space with recurrent
dropout fixed at 0, batch 32-128, up to 64 units, 2 layers and lookback 96, so that 30 trials fit), until ``--trials`` trials have finished
or ``--timeout`` has passed (no trial starts after it; the running one finishes). Then the best
settings and the defaults (the command line's: lookback 30, horizon 5, 32 LSTM units...) are each
fitted once on the searched rows and scored on the untouched span, beside the baselines. The
default timeout, 17 minutes, leaves room for those two fits so that a series stays under 20
minutes. The baselines are naive, seasonal naive and linear on lags; ``--stat-baseline`` adds
AutoETS (the ``stats`` extra; slow on 7,000 hourly rows).

Series (``sample_data/``, see SOURCES.md): ``air`` air_quality_uci.csv's T (hourly, ``-200``
missing; windows across long gaps are skipped), ``aapl`` AAPL.csv's Close (daily, trading days).

Prints a table, then one JSON line: ``{"settings": {...}, "rows": [{"series", "trials",
"seconds", "searched_rows", "final_rows", "rmse_defaults", "rmse_tuned", "best_baseline",
"rmse_best_baseline", "gain_cv", "gain_final", "gain_survived", "best_params"}]}``. README
reports it as measured, including when tuning does not help.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not this folder: its coverage.py would shadow the coverage package that numba (statsforecast) imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from benchmarks._common import emit, machine  # noqa: E402

SERIES = {
    "air": ("air_quality_uci.csv", {"target": ("T",), "na_values": ("-200",), "gaps": "skip"}),
    "aapl": ("AAPL.csv", {"target": ("Close",)}),
}


def measure(name: str, args, storage: str) -> dict:
    """Tune one series in a fresh study; its final-span figures."""
    from forecast_cli.config import split_settings
    from forecast_cli.tune import tune

    file, data = SERIES[name]
    extra = {} if args.stat_baseline else {"stat_baseline": False}
    settings = split_settings(**data, **extra, epochs=args.epochs, seed=args.seed)
    t0 = time.perf_counter()
    r = tune(str(ROOT / "sample_data" / file), settings, trials=args.trials, timeout=args.timeout, storage=storage,
             study=f"bench-{name}", folds=args.folds, space_path=args.space,
             on_trial=lambda row, best: print(f"  {name} trial {row['trial']}: {row['state']} "
                                              f"{row['value'] if row['value'] is not None else '-'} (best {best})",
                                              file=sys.stderr, flush=True))
    final = r["final"]
    return {"series": name, "trials": r["study"]["trials"], "seconds": round(time.perf_counter() - t0, 1),
            "searched_rows": r["rows"]["searched_rows"], "final_rows": r["rows"]["final_rows"],
            "rmse_defaults": final["defaults"], "rmse_tuned": final["tuned"], "best_baseline": final["best_baseline"],
            "rmse_best_baseline": final["best_baseline_value"], "cv_rmse_defaults": r["defaults"]["value"],
            "cv_rmse_best": r["best"]["value"], "gain_cv": final["gain_cv"], "gain_final": final["gain_final"],
            "gain_survived": final["gain_survived"], "best_trial": r["best"]["trial"], "best_params": r["best"]["params"]}


def _f(v, spec=".4g") -> str:
    return "n/a" if v is None else format(v, spec)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", default="air,aapl")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--timeout", default="17m", help="no new trial after this long, per series")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--storage", default=None, help="a database URL (default: a fresh SQLite file per run); "
                    "a rerun with the same URL continues the studies")
    ap.add_argument("--space", default=str(Path(__file__).with_name("tune_gain_space.toml")),
                    help="a --space TOML file (default: tune_gain_space.toml beside this script)")
    ap.add_argument("--stat-baseline", action="store_true", help="score AutoETS beside the baselines too (slow)")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    names = [s.strip() for s in args.series.split(",") if s.strip()]
    unknown = [s for s in names if s not in SERIES]
    if unknown:
        raise SystemExit(f"unknown series {unknown[0]!r}; choose from {', '.join(SERIES)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = args.storage or f"sqlite:///{Path(tmp) / 'tune_gain.db'}"
        for name in names:
            rows.append(measure(name, args, storage))
    print(f"{'series':<6} {'trials':>14} {'seconds':>8} {'defaults':>9} {'tuned':>9} {'best baseline':>22} "
          f"{'cv gain':>8} {'final gain':>10}")
    for r in rows:
        n = r["trials"]
        print(f"{r['series']:<6} {n['complete']:>4} + {n['pruned']:>2} pruned {r['seconds']:>8} "
              f"{_f(r['rmse_defaults']):>9} {_f(r['rmse_tuned']):>9} "
              f"{(r['best_baseline'] or '') + ' ' + _f(r['rmse_best_baseline']):>22} "
              f"{_f(r['gain_cv'], '+.1%'):>8} {_f(r['gain_final'], '+.1%'):>10}")
    emit({"settings": {"trials": args.trials, "timeout": args.timeout, "epochs": args.epochs, "folds": args.folds,
                       "seed": args.seed, "space": Path(args.space).name, "stat_baseline": args.stat_baseline, "metric": "rmse on the final span (data units)"},
          "machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
