"""M3 Quarterly (756 series, 8-quarter horizon): the tool's global model beside statsforecast's peers.

    python benchmarks/m3.py [--data FILE] [--seed 0]      # the preset: lookback 8, balance 1000, theta_weight 0.35
    python benchmarks/m3.py --set balance=0              # the library's defaults (lookback 8)
    python benchmarks/m3.py --validation                 # settings choice: the last 8 quarters of each history
    python benchmarks/m3.py --validation --set lookback=12 --set linear_fit=lstsq

``FILE`` (default ``../shared/data/m3/M3_quarterly.csv`` beside the repository) is long format:
``series_id, category, value, timestamp`` (``1984-Q1``), each series' history followed by the 8
quarters the competition forecast (``../shared/data/SOURCES.md``). The script turns the histories
into the library's long table (``unique_id, ds, y``; ``ds`` the first day of each quarter), fits
``Forecaster(**settings).fit(long)`` (one global network across the series, season 4), forecasts
(``.predict(df=long)``) the next 8 quarters of every series, and in the same run fits
statsforecast's AutoETS, AutoTheta and SeasonalNaive (season 4) on the same histories. With the
preset's ``theta_weight`` the tool's forecast is 0.65 x the network + 0.35 x AutoTheta fitted on
each history (:mod:`forecast_cli.theta_blend`); the table shows the network alone beside it
(``network alone``: the same fitted network, its own forecast).

Series shorter than ``lookback + horizon + 1`` rows hold no complete training window: the
Forecaster leaves them out of the fit (``skipped_``, counted in the output) and still forecasts
them, since a global model forecasts any series from its last window (left-padded when shorter
than the lookback).

Measures, per series then averaged over the series (as M4's, ``../shared/data/SOURCES.md``):
sMAPE = mean of 200 |y - f| / (|y| + |f|) over the 8 steps; MASE = mean |y - f| over the mean
absolute seasonal difference (m = 4) of that series' whole history. The best peer is the one with
the lowest mean of its sMAPE and MASE relative to SeasonalNaive's (an OWA-style rank).

``--validation`` carves a validation split from the histories (each loses its last 8 quarters,
which become the targets; the test quarters are dropped unread): settings are chosen there only
(docs/m3.md) and set in :data:`PRESET`; the global model's trend cap and trend band (season 4)
are the library's own defaults (``forecast_cli.global_model.TREND_CAP``, ``TREND_BAND``). ``--series N`` keeps the
first N series (quick checks only). ``--no-peers`` skips statsforecast (validation sweeps; the
peers' figures do not depend on the settings).

Last stdout line: ``{"smape", "mase", "best_peer", "peer_smape", "peer_mase", "ratio_smape",
"ratio_mase", "seconds", ...}`` (ratio = the tool's figure / the best peer's; ``seconds`` the
tool's fit and forecast).
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
# Python puts this script's folder first on sys.path, where benchmarks/coverage.py would shadow the
# ``coverage`` package that numba (statsforecast's dependency) imports: drop the folder, add the repo.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from benchmarks._common import typed_value  # noqa: E402

HORIZON, SEASON = 8, 4
CATEGORIES = ("MICRO", "MACRO", "INDUSTRY", "FINANCE", "DEMOGRAPHIC")
PEERS = ("AutoETS", "AutoTheta", "SeasonalNaive")

# Besides horizon 8 and season 4, the tool's defaults (forecast_cli/settings_table.py) except the
# lookback, which the short histories need (two seasons), and ``balance`` (loss weights towards log,
# i.e. relative, errors), chosen on the validation split (docs/m3.md). Defaults the library changes
# are followed here: only what is named below is set.
PRESET = {"lookback": 8, "balance": 1000.0, "theta_weight": 0.35}
# The settings printed in the JSON line (their library defaults unless set).
SHOWN = ("lookback", "model", "units", "layers", "dropout", "patch", "linear_fit", "epochs", "patience",
         "batch_size", "learning_rate", "val_fraction", "id_embedding", "ensemble", "balance", "theta_weight")


# -- data --------------------------------------------------------------------------------------
def read_m3(path: Path) -> tuple[dict, dict, dict]:
    """``(series, categories, starts)`` of the M3 long file: ``{id: values}`` (history and test in
    time order), ``{id: category}`` and ``{id: first quarter as a Timestamp}``."""
    df = pd.read_csv(path, dtype={"series_id": str, "category": str, "timestamp": str})
    need = {"series_id", "category", "value", "timestamp"}
    if not need <= set(df.columns):
        raise SystemExit(f"{path}: needs columns {sorted(need)}; has {list(df.columns)}")
    df["period"] = pd.PeriodIndex(df["timestamp"].str.replace("-", ""), freq="Q")
    df = df.sort_values(["series_id", "period"], kind="stable")
    series, cats, starts = {}, {}, {}
    for k, g in df.groupby("series_id", sort=False):
        p = g["period"].to_numpy()
        if len(g) > 1 and not all((b - a).n == 1 for a, b in zip(p[:-1], p[1:])):
            raise SystemExit(f"{path}: series {k} skips or repeats a quarter; fix the file")
        series[k] = g["value"].to_numpy(dtype=np.float64)
        cats[k] = str(g["category"].iloc[0])
        starts[k] = p[0].to_timestamp()
    return series, cats, starts


def to_long(series: dict, starts: dict) -> pd.DataFrame:
    """The long table ``unique_id, ds, y`` (quarter-start stamps) of ``{id: values}``."""
    frames = [pd.DataFrame({"unique_id": k, "ds": pd.date_range(starts[k], periods=len(v), freq="QS"), "y": v})
              for k, v in series.items()]
    return pd.concat(frames, ignore_index=True)


# -- measures ----------------------------------------------------------------------------------
def smape(y, f) -> float:
    return float(np.mean(200.0 * np.abs(y - f) / (np.abs(y) + np.abs(f))))


def mase_scale(history, m=SEASON) -> float:
    """Mean absolute seasonal difference of the history (M4's in-sample MASE scale)."""
    return float(np.mean(np.abs(history[m:] - history[:-m])))


def per_series(histories: dict, actuals: dict, forecasts: dict) -> pd.DataFrame:
    """One row per series: ``smape`` and ``mase`` of its forecast."""
    rows = []
    for k, y in actuals.items():
        f = np.asarray(forecasts[k], dtype=np.float64)
        if f.shape != y.shape or not np.isfinite(f).all():
            raise SystemExit(f"series {k}: forecast {f.tolist()} is not 8 finite values")
        rows.append((k, smape(y, f), float(np.mean(np.abs(y - f))) / mase_scale(histories[k])))
    return pd.DataFrame(rows, columns=["id", "smape", "mase"]).set_index("id")


# -- the tool and its peers --------------------------------------------------------------------
def forecast_tool(long: pd.DataFrame, settings: dict, seed: int) -> tuple[dict, object]:
    """Fit the library's :class:`~forecast_cli.forecaster.Forecaster` (one global network) on the
    long table and forecast the next 8 quarters of every series: ``({id: values}, forecaster)``."""
    from forecast_cli import Forecaster

    fc = Forecaster(horizon=HORIZON, season=SEASON, seed=seed, **settings)
    fc.fit(long, id_col="unique_id", time_col="ds", target="y")
    pred = fc.predict(df=long, id_col="unique_id", time_col="ds", target="y")
    return {k: g["model"].to_numpy() for k, g in pred.groupby("unique_id", sort=False)}, fc


def network_alone(fc, histories: dict) -> dict:
    """The fitted network's own forecast of every series from its last window (what the tool gives
    without ``theta_weight``): ``{id: values}``; every history holds a whole window (>= 8 rows)."""
    keys = list(histories)
    series = [np.asarray(histories[k], dtype=np.float64)[:, None] for k in keys]
    pred = fc.net_.predict(series, [np.array([len(s) - 1]) for s in series], keys=keys)
    return {k: p[0, :, 0] for k, p in zip(keys, pred)}


def forecast_peers(long: pd.DataFrame, histories: dict) -> tuple[dict, dict]:
    """statsforecast's AutoETS, AutoTheta and SeasonalNaive (season 4) on the same histories:
    ``({peer: {id: values}}, {peer: seconds})``, each timed on its own."""
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive
    except ImportError:
        raise SystemExit("statsforecast is missing: .venv/bin/python -m pip install statsforecast "
                         "(or run with --no-peers)") from None
    makers = {"AutoETS": lambda: AutoETS(season_length=SEASON), "AutoTheta": lambda: AutoTheta(season_length=SEASON),
              "SeasonalNaive": lambda: SeasonalNaive(season_length=SEASON)}
    out, secs = {}, {}
    for name in PEERS:
        t0 = time.perf_counter()
        sf = StatsForecast(models=[makers[name]()], freq="QS", n_jobs=1)
        f = sf.forecast(df=long, h=HORIZON)
        if "unique_id" not in f.columns:
            f = f.reset_index()
        secs[name] = time.perf_counter() - t0
        out[name] = {k: g[name].to_numpy() for k, g in f.groupby("unique_id", sort=False)}
    sn = {k: np.tile(v[-SEASON:], HORIZON // SEASON) for k, v in histories.items()}
    if any(not np.allclose(out["SeasonalNaive"][k], sn[k]) for k in sn):  # ids or order mixed up
        raise SystemExit("statsforecast's SeasonalNaive differs from the last 4 quarters repeated: check the ids")
    return out, secs


def best_peer(table: dict) -> str:
    """The peer with the lowest mean of sMAPE and MASE relative to SeasonalNaive's."""
    sn = table["SeasonalNaive"]

    def rel(name):
        r = table[name]
        return 0.5 * (r["smape"] / sn["smape"] + r["mase"] / sn["mase"])

    return min(PEERS, key=rel)


# -- output ------------------------------------------------------------------------------------
def parse_set(items) -> dict:
    """The settings passed to ``Forecaster``: :data:`PRESET`, then each
    ``KEY=VALUE`` read as the type of that setting's library default."""
    from forecast_cli.settings_table import TABLE

    out = dict(PRESET)
    for item in items or []:
        key, _, raw = item.partition("=")
        if key not in TABLE or key in ("horizon", "season", "seed"):
            raise SystemExit(f"--set {key}: not a setting this benchmark takes (see forecast_cli/settings_table.py)")
        out[key] = typed_value(TABLE[key].default, raw)
    return out


def shown(settings: dict) -> dict:
    """The :data:`SHOWN` settings in effect (library defaults unless set)."""
    from forecast_cli.settings_table import TABLE

    return {k: settings.get(k, TABLE[k].default) for k in SHOWN if k in TABLE}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def print_tables(scores: dict, cats: dict, title: str) -> None:
    """The overall table (sMAPE, MASE per method) and the per-category table."""
    print(title)
    print(f"{'method':16s} {'sMAPE':>8s} {'MASE':>8s}")
    for name, s in scores.items():
        print(f"{name:16s} {s['smape'].mean():8.3f} {s['mase'].mean():8.3f}")
    cat = pd.Series(cats)
    present = [c for c in CATEGORIES if (cat == c).any()]
    print("\nper category: sMAPE / MASE (series)")
    print(f"{'method':16s} " + " ".join(f"{c + ' (' + str(int((cat == c).sum())) + ')':>18s}" for c in present))
    for name, s in scores.items():
        cells = []
        for c in present:
            ids = cat.index[cat == c]
            sub = s.loc[s.index.intersection(ids)]
            cells.append(f"{sub['smape'].mean():8.2f} / {sub['mase'].mean():5.3f}".rjust(18))
        print(f"{name:16s} " + " ".join(cells))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "m3" / "M3_quarterly.csv")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--validation", "--val", action="store_true",
                    help="validation split: the last 8 quarters of each history (the test quarters are not used)")
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", help="set a Forecaster setting")
    ap.add_argument("--series", type=int, default=0, help="only the first N series (quick checks; 0 = all)")
    ap.add_argument("--no-peers", action="store_true", help="skip statsforecast's peers (validation sweeps)")
    ap.add_argument("--save", type=Path, help="write every method's forecasts (long CSV) here")
    args = ap.parse_args(argv)
    data = args.data if args.data.is_absolute() else (ROOT / args.data)
    if not data.is_file():
        raise SystemExit(f"{data}: no such file; pass --data FILE (the M3 quarterly long CSV)")
    settings = parse_set(args.set)
    t0 = time.perf_counter()
    full, cats, starts = read_m3(data)
    if args.series:
        full = dict(list(full.items())[:args.series])
    short = [k for k, v in full.items() if len(v) < 2 * HORIZON + SEASON + 1]
    if short:
        raise SystemExit(f"series {short[0]}: {len(full[short[0]])} rows; M3 quarterly series hold at least 24")
    hist = {k: v[:-HORIZON] for k, v in full.items()}
    actual = {k: v[-HORIZON:] for k, v in full.items()}
    if args.validation:  # the test quarters are dropped here and never read again
        actual = {k: v[-HORIZON:] for k, v in hist.items()}
        hist = {k: v[:-HORIZON] for k, v in hist.items()}
    cats = {k: cats[k] for k in hist}
    long = to_long(hist, starts)

    t1 = time.perf_counter()
    tool, fc = forecast_tool(long, settings, args.seed)
    seconds = time.perf_counter() - t1
    forecasts = {"tool (global)": tool}
    if settings.get("theta_weight"):
        forecasts["network alone"] = network_alone(fc, hist)
    peer_secs = {}
    if not args.no_peers:
        peers, peer_secs = forecast_peers(long, hist)
        forecasts.update(peers)
    scores = {name: per_series(hist, actual, f) for name, f in forecasts.items()}
    table = {name: {"smape": float(s["smape"].mean()), "mase": float(s["mase"].mean())} for name, s in scores.items()}

    split = "validation (last 8 quarters of each history)" if args.validation else "test"
    lengths = np.array([len(v) for v in hist.values()])
    print_tables(scores, cats, f"M3 Quarterly, {len(hist)} series (histories of {lengths.min()}-{lengths.max()} "
                               f"quarters), horizon {HORIZON}, {split}, seed {args.seed}")
    from forecast_cli import global_model as gm

    skipped = list(getattr(fc, "skipped_", []))
    g = fc.net_
    info = {"best_epoch": getattr(g, "best_epoch_", None), "epochs_run": getattr(g, "epochs_run_", None),
            "trend_cap": getattr(g, "trend_cap", None),
            "trend_band": gm.TREND_BAND if getattr(g, "trend_cap", 0) else None,
            "trend_capped": getattr(g, "trend_capped_", None)}
    print(f"\ntool: fit+forecast {seconds:.1f} s; {len(skipped)} series left out of the fit (fewer than "
          f"lookback + horizon + 1 = {settings['lookback'] + HORIZON + 1} rows), forecast from padded/short "
          f"windows; peers: {', '.join(f'{k} {v:.1f} s' for k, v in peer_secs.items()) or 'skipped'}; "
          f"total {time.perf_counter() - t0:.1f} s, peak RSS {peak_rss_mb():.0f} MB; {json.dumps(info)}")
    if args.save:
        rows = [pd.DataFrame({"unique_id": k, "step": np.arange(1, HORIZON + 1), "method": name, "forecast": v,
                              "actual": actual[k]}) for name, f in forecasts.items() for k, v in f.items()]
        pd.concat(rows, ignore_index=True).to_csv(args.save, index=False)

    res = table["tool (global)"]
    out = {"smape": round(res["smape"], 4), "mase": round(res["mase"], 4)}
    if args.no_peers:
        out.update({"best_peer": None, "peer_smape": None, "peer_mase": None, "ratio_smape": None, "ratio_mase": None})
    else:
        bp = best_peer(table)
        out.update({"best_peer": bp, "peer_smape": round(table[bp]["smape"], 4),
                    "peer_mase": round(table[bp]["mase"], 4),
                    "ratio_smape": round(res["smape"] / table[bp]["smape"], 4),
                    "ratio_mase": round(res["mase"] / table[bp]["mase"], 4)})
    out.update({"seconds": round(seconds, 1), "total_seconds": round(time.perf_counter() - t0, 1),
                "series": len(hist), "skipped_at_fit": len(skipped),
                "split": "val" if args.validation else "test", "seed": args.seed,
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "peers": {k: {m: round(v, 4) for m, v in table[k].items()} for k in table if k in PEERS},
                "peer_seconds": {k: round(v, 1) for k, v in peer_secs.items()},
                "categories": {c: {m: round(float(scores["tool (global)"].loc[[k for k in hist if cats[k] == c], m]
                                                  .mean()), 4) for m in ("smape", "mase")}
                               for c in CATEGORIES if c in cats.values()},
                "settings": shown(settings), **info})
    if "network alone" in table:
        out["network_alone"] = {m: round(v, 4) for m, v in table["network alone"].items()}
    print(json.dumps(out, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
