"""``forecast tune``: a hyperparameter search over time-ordered cross-validation, honest and resumable.

The search (Optuna: a TPE sampler seeded with ``--seed``, a median pruner) scores each trial's
settings with the cross-validation of ``forecast evaluate``
(:meth:`Forecaster.cross_validate <forecast_cli.forecaster.Forecaster.cross_validate>`), on the same
folds for every trial. Three things keep it honest and durable:

- **A final test span no trial sees.** The last rows (``holdout``; many series: the last
  timestamps) are cut off before the search: every trial cross-validates on the rows before them.
  At the end the best settings, and the settings as given (the defaults), are each fitted once on
  the searched rows and scored on that span beside the baselines; the result says how much of the
  cross-validated gain survived there, and which rows the search saw.
- **Pruning by fold.** After each fold the trial reports the mean of its fold scores so far; a
  trial whose mean after fold k is worse than the median of earlier trials' after fold k
  (Optuna's ``MedianPruner``, once 5 trials have finished) is stopped there. The fold's score comes
  from ``cross_validate``'s ``on_fold_done`` (each fold's metrics as soon as it is scored), so no
  second fold loop is written here.
- **A study in a database.** SQLite by default (``sqlite:///tune.db``), or any URL Optuna
  accepts; ``--trials N`` is the study's total of finished trials, so rerunning the same command
  continues where it stopped, and several processes on one storage share the study. A study
  remembers the data and fixed settings it was made with and refuses a rerun with others.
  Ctrl-C or SIGTERM stops the running trial at its next batch; Optuna records it as failed, and
  what was finished stays.
- **Trials in parallel on a Dask cluster** (``cluster=``, the CLI's ``--workers N`` or
  ``--scheduler``): each worker runs its share of the trials on the same study through the
  storage (:func:`_optimize_on_cluster`). SQLite serves the processes of one machine (a local
  cluster); workers on several machines need a database server they all reach
  (``postgresql://...``, ``mysql://...``). Parallel trials are not the serial sequence: the
  sampler of each worker sees the trials finished so far, so the same seed gives another (equally
  valid) search.

Optuna is an optional extra (``pip install 'forecast-cli[tune]'``), imported only here, inside the
functions that search.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .errors import ConfigError, DataError, ForecastError
from .settings_table import TABLE
from .tune_space import default_space, describe, merge_space, read_space

__all__ = ["tune", "parse_duration", "study_name", "import_optuna", "split_search", "write_best_toml",
           "best_toml", "make_pruner", "FoldReporter", "INSTALL", "LEADERBOARD", "PRUNE_AFTER"]

INSTALL = "pip install 'forecast-cli[tune]'"
LEADERBOARD = 10  # trials shown and kept in the result
PRUNE_AFTER = 5  # finished trials before the pruner judges (Optuna's default)
STOP_AFTER_FAILURES = 3  # trials failed in a row that end a run
# Settings that change how fast a run is, never its forecasts: not part of a study's identity.
_SPEED = ("threads", "jit_compile")
# Trials score the model only: the statistical baseline (seconds per fold) is left out of them.
_TRIAL_ONLY = {k: v for k, v in {"stat_baseline": False}.items() if k in TABLE}


def import_optuna(verbose: bool = False):
    """Import Optuna, quiet unless ``verbose``; a one-line error saying how to install it when it is missing."""
    try:
        import optuna
    except ImportError:
        raise ForecastError(f"forecast tune needs Optuna, an optional extra: {INSTALL}") from None
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.ERROR)
    return optuna


def parse_duration(text) -> float | None:
    """Seconds in a duration: ``90``, ``90s``, ``30m``, ``2h``, ``1h30m``; None for None.

    >>> parse_duration("1h30m"), parse_duration("45s"), parse_duration(120), parse_duration(None)
    (5400.0, 45.0, 120.0, None)
    >>> parse_duration("soon")
    Traceback (most recent call last):
    ...
    forecast_cli.errors.ConfigError: --timeout must be a duration such as 90s, 30m, 2h or 1h30m. Got 'soon'.
    """
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        s = str(text).strip().lower()
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", s)
        if not s or parts is None:
            raise ConfigError(f"--timeout must be a duration such as 90s, 30m, 2h or 1h30m. Got {text!r}.")
        h, m, sec = (float(p) if p else 0.0 for p in parts.groups())
        seconds = 3600 * h + 60 * m + sec
    if not seconds > 0:
        raise ConfigError(f"--timeout must be a duration above zero. Got {text!r}.")
    return seconds


# ----------------------------------------------------------------------------- the rows searched
@dataclass
class Search:
    """The data a search sees (``data``: the rows before the final span) and the whole of it (``full``)."""

    data: object
    full: object
    many: bool
    n_rows: int  # rows (many series: timestamps of the union) in all
    search_rows: int  # the first search_rows of them are searched; the rest is the final span
    info: dict


def _slice_dataset(ds, stop: int):
    """The first ``stop`` rows of a :class:`~forecast_cli.data.Dataset` (the frame is rebuilt on use)."""
    return replace(ds, stamps=ds.stamps[:stop], values=ds.values[:stop])


def _holdout_rows(n: int, holdout, default: int, horizon: int) -> int:
    if holdout is None:
        rows = default
    elif isinstance(holdout, float) and 0 < holdout < 1:
        rows = int(round(n * holdout))
    elif float(holdout) >= 1 and float(holdout).is_integer():
        rows = int(holdout)
    else:
        raise ConfigError(f"--holdout must be a number of rows (>= 1) or a fraction in (0, 1). Got {holdout!r}.")
    if rows < horizon:
        raise ConfigError(f"--holdout {holdout:g} is {rows} rows, fewer than the horizon {horizon}: the final test "
                          f"span needs at least one whole forecast; give --holdout {horizon} or more")
    return rows


def split_search(full, *, many: bool, horizon: int, folds: int, holdout=None, test_size: int | None = None) -> Search:
    """Cut the final test span off: the search sees only the rows before it.

    One series: the last ``holdout`` rows (default: as many as each fold's test span would be,
    ``n // (folds + 2)``). Many series: the last ``holdout`` timestamps of all series together
    (default: ``test_size``, else the horizon), cut at one common timestamp.

    Args:
        full: a :class:`~forecast_cli.data.Dataset` or a :class:`~forecast_cli.panel.Panel`.
        holdout: rows (an int >= the horizon) or a fraction of the rows (a float < 1). Defaults
            to None (see above).
    """
    if not many:
        n = len(full.stamps)
        rows = _holdout_rows(n, holdout, max(horizon, n // (folds + 2)), horizon)
        stop = n - rows
        if stop < 2:
            raise DataError(f"--holdout {rows} leaves {stop} rows to search; give a smaller --holdout",
                            path=full.source)
        idx = full.frame.index
        info = {"searched_rows": [0, stop], "searched_period": [str(idx[0]), str(idx[stop - 1])],
                "final_rows": [stop, n], "final_period": [str(idx[stop]), str(idx[n - 1])]}
        return Search(_slice_dataset(full, stop), full, False, n, stop, info)
    from .panel import Panel

    grid = np.unique(np.concatenate([ds.stamps for ds in full.series]))
    n = len(grid)
    rows = _holdout_rows(n, holdout, int(test_size or horizon), horizon)
    stop = n - rows
    if stop < 2:
        raise DataError(f"--holdout {rows} leaves {stop} timestamps to search; give a smaller --holdout")
    cut = grid[stop]  # the first timestamp of the final span
    ids, series = [], []
    for sid, ds in zip(full.ids, full.series):
        k = int(np.searchsorted(ds.stamps, cut, side="left"))
        if k:
            ids.append(sid)
            series.append(_slice_dataset(ds, k))
    if not ids:
        raise DataError(f"no series has a row before the final span ({grid[stop]}); give a smaller --holdout")
    import pandas as pd

    ts = lambda i: str(pd.Timestamp(grid[i]))  # noqa: E731
    info = {"searched_rows": [0, stop], "searched_period": [ts(0), ts(stop - 1)],
            "final_rows": [stop, n], "final_period": [ts(stop), ts(n - 1)],
            "rows": "timestamps of all series together", "searched_series": len(ids)}
    return Search(Panel(ids, series, full.source, full.id_col, list(full.skipped)), full, True, n, stop, info)


def _max_lookback(search: Search, horizon: int, folds: int, test_size: int | None) -> int:
    """The longest lookback whose folds fit the searched rows (one series: each fold keeps the
    network's :data:`~forecast_cli.training.MIN_TRAIN_WINDOWS` training windows)."""
    from .training import MIN_TRAIN_WINDOWS

    if not search.many:
        s = search.search_rows
        first_train = s - folds * (test_size or s // (folds + 1))
        return first_train - horizon - MIN_TRAIN_WINDOWS + 1
    longest = max(len(ds.stamps) for ds in search.data.series)
    return longest - folds * int(test_size or horizon) - horizon - 1


def _fit_space(space: dict, given: dict, most: int, path) -> dict:
    """The lookback range cut to ``most`` (a range from ``--space`` that does not fit is refused)."""
    p = space.get("lookback")
    if p is None or p.kind in ("categorical", "fixed"):
        values = p.choices if p is not None else ()
        if any(v > most for v in values):
            raise DataError(f"--space {path}: lookback {max(values)} does not fit the searched rows with these folds "
                            f"(at most {most}); use smaller values, fewer --folds or a smaller --holdout")
        return space
    if p.low > most:
        raise DataError(f"the searched rows and folds leave room for a lookback of at most {most}, below the range's "
                        f"low end {p.low}; use fewer --folds, a smaller --holdout or a lower lookback in --space")
    if p.high > most:
        if "lookback" in given:
            raise DataError(f"--space {path}: lookback up to {p.high} does not fit the searched rows with these folds "
                            f"(at most {most}); lower its high end, use fewer --folds or a smaller --holdout")
        space = {**space, "lookback": replace(p, high=most)}
    return space


# ----------------------------------------------------------------------------- the study
def study_name(source, settings) -> str:
    """The default study name: the data file's name, its targets and the horizon.

    >>> from forecast_cli.config import split_settings
    >>> study_name("sample_data/AAPL.csv", split_settings(target="Close")), study_name(["a.csv", "b.csv"], split_settings())
    ('AAPL-Close-h5', 'a+1-y-h5')
    """
    import os

    first = source[0] if isinstance(source, (list, tuple)) and source else source
    stem = os.path.splitext(os.path.basename(str(first).rstrip("/")))[0] or "data"
    if isinstance(source, (list, tuple)) and len(source) > 1:
        stem += f"+{len(source) - 1}"
    target = "+".join(settings.data.target) or "y"
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", f"{stem}-{target}-h{settings.window.horizon}")


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    return v


def _identity(search: Search, base: dict, space: dict, folds: int, test_size, cv: str, metric: str) -> dict:
    """What a study was made with: the searched values' hash, the folds and every setting not searched."""
    values = [search.data.values] if not search.many else [ds.values for ds in search.data.series]
    h = hashlib.sha256()
    for v in values:
        h.update(np.ascontiguousarray(v, dtype=np.float64).tobytes())
    fixed = {k: _jsonable(v) for k, v in sorted(base.items())
             if k not in space and k not in _SPEED and k not in _TRIAL_ONLY}
    return {"searched_sha256": h.hexdigest(), "searched_rows": search.search_rows, "rows": search.n_rows,
            "folds": folds, "test_size": test_size, "cv": cv, "metric": metric, "fixed": fixed}


def _check_identity(study, ident: dict, name: str, storage: str) -> None:
    old = study.user_attrs.get("forecast_tune")
    if old is None:
        if study.trials:
            raise ConfigError(f"study '{name}' in {storage} was not made by forecast tune; give another --study")
        study.set_user_attr("forecast_tune", ident)
        return
    diffs = []
    for key in ("folds", "test_size", "cv", "metric", "rows", "searched_rows"):
        if old.get(key) != ident[key]:
            diffs.append(f"{key} {old.get(key)} (now {ident[key]})")
    if old.get("searched_sha256") != ident["searched_sha256"] and not diffs:
        diffs.append("other data in the searched rows")
    fo, fn = old.get("fixed", {}), ident["fixed"]
    for k in sorted(set(fo) | set(fn)):
        if k not in fo:
            diffs.append(f"{k} searched (now fixed at {fn[k]!r})")
        elif k not in fn:
            diffs.append(f"{k} fixed at {fo[k]!r} (now searched)")
        elif fo[k] != fn[k]:
            diffs.append(f"{k} {fo[k]!r} (now {fn[k]!r})")
    if diffs:
        raise ConfigError(f"study '{name}' in {storage} was made with {'; '.join(diffs[:3])}; rerun with the same data "
                          "and settings to continue it, or give another --study")


def make_pruner(optuna, prune: bool = True):
    """Optuna's ``MedianPruner``: once :data:`PRUNE_AFTER` trials have finished, a trial whose mean
    fold score after fold k is worse than the median of the earlier trials' after fold k stops
    there (from the first fold on); ``NopPruner`` when ``prune`` is False."""
    if not prune:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER, n_warmup_steps=0)


def _open_study(optuna, name: str, storage: str, seed: int, prune: bool):
    from optuna.samplers import TPESampler

    pruner = make_pruner(optuna, prune)
    try:
        store = optuna.storages.RDBStorage(storage)  # opened once (its schema check takes a second)
        try:
            existing = len(optuna.load_study(study_name=name, storage=store).trials)
        except KeyError:  # no such study yet
            existing = 0
        # A resumed study gets the seed moved on by its trial count, so that the sampler does not
        # draw the first run's random start again.
        return optuna.create_study(study_name=name, storage=store, direction="minimize", pruner=pruner,
                                   sampler=TPESampler(seed=(seed + existing) % 2**32), load_if_exists=True)
    except (ValueError, ImportError, OSError) as e:  # a bad URL, a missing driver
        raise ConfigError(f"--storage {storage}: {_first_line(e)}") from None
    except Exception as e:  # SQLAlchemy's errors (an unreadable file, a locked or foreign database)
        if type(e).__module__.startswith("sqlalchemy"):  # a URL it cannot parse is a usage error
            kind = ConfigError if any(c.__name__ == "ArgumentError" for c in type(e).__mro__) else DataError
            raise kind(f"--storage {storage}: {_first_line(e)}") from None
        raise


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


# ----------------------------------------------------------------------------- one trial
class FoldReporter:
    """``on_fold_done`` of one trial: reports the running mean of the fold scores to Optuna and
    stops the trial (``TrialPruned``) when the pruner says it is clearly behind.

    Args:
        trial: the Optuna trial.
        metric: the score read from each fold (``rmse``; many series: ``mase``).
        many: folds of many series (their ``mean`` holds the metrics).
        on_fold: called with ``(trial number, fold, score, the trial's settings)``. Defaults to None.
    """

    def __init__(self, trial, metric: str, many: bool, on_fold: Callable | None = None):
        self.trial, self.metric, self.many, self.on_fold = trial, metric, many, on_fold
        self.scores: list[float] = []

    def __call__(self, entry: dict) -> None:
        import optuna

        from .runtime import raise_pending

        metrics = entry["mean"] if self.many else entry["metrics"]
        score = metrics["model"][self.metric]
        if score is None or not math.isfinite(score):
            raise DataError(f"fold {len(self.scores) + 1}: the model's {self.metric} is not finite")
        self.scores.append(float(score))
        self.trial.set_user_attr("fold_scores", self.scores)
        running = float(np.mean(self.scores))
        self.trial.report(running, step=len(self.scores))
        if self.on_fold is not None:
            self.on_fold(self.trial.number, len(self.scores), float(score), dict(self.trial.params))
        raise_pending()  # a Ctrl-C held during the fold ends the trial here
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"mean {self.metric} {running:.6g} after fold {len(self.scores)} is worse than "
                                     "the median of earlier trials there")


def _run_cv(search_data, many: bool, kwargs: dict, folds: int, test_size, cv: str, on_fold_done):
    from .forecaster import Forecaster

    fc = Forecaster(**kwargs)
    if many:
        return fc.cross_validate(search_data, folds=folds, test_size=test_size, on_fold_done=on_fold_done)
    return fc.cross_validate(search_data, id_col=None, folds=folds, test_size=test_size, cv=cv, predictions=False,
                             on_fold_done=on_fold_done)


def _objective(search: Search, base: dict, space: dict, folds: int, test_size, cv: str, metric: str, on_fold):
    def objective(trial) -> float:
        from .runtime import raise_pending

        raise_pending()
        params = {name: p.suggest(trial) for name, p in space.items()}
        reporter = FoldReporter(trial, metric, search.many, on_fold)
        _run_cv(search.data, search.many, {**base, **params, **_TRIAL_ONLY}, folds, test_size, cv, reporter)
        return float(np.mean(reporter.scores))

    return objective


# ----------------------------------------------------------------------------- the final span
def _final_scores(search: Search, kwargs: dict, metric: str) -> dict:
    """Fit once on the searched rows and score the final span: ``{forecaster: metric}``."""
    from .forecaster import Forecaster

    fc = Forecaster(**kwargs)
    if search.many:
        span = search.n_rows - search.search_rows
        result = fc.cross_validate(search.full, folds=1, test_size=span).attrs["metrics"]
        return {name: m[metric] for name, m in result["mean"].items()}
    span = search.n_rows - search.search_rows
    result = fc.cross_validate(search.full, id_col=None, folds=1, test_size=span, predictions=False).attrs["metrics"]
    fold = result["folds"][0]
    if fold["train_rows"][1] != search.search_rows:  # the final fit must see exactly the searched rows
        raise AssertionError(f"the final fit saw rows {fold['train_rows']}, not the {search.search_rows} searched")
    return {name: m[metric] for name, m in fold["metrics"].items()}


def _gain(before, after) -> float | None:
    if before is None or after is None or not before:
        return None
    return (before - after) / abs(before)


def _final(search: Search, base: dict, best_params: dict, defaults_cv, best_cv, metric: str) -> dict:
    tuned = _final_scores(search, {**base, **best_params}, metric)
    same = all(base.get(k) == v for k, v in best_params.items())  # the defaults won: one fit says both
    given = tuned if same else _final_scores(search, base, metric)
    baselines = {k: v for k, v in given.items() if k != "model" and v is not None}
    lookback = {**base, **best_params}.get("lookback")
    for k, v in tuned.items():  # a baseline that reads the lookback (linear) differs with the tuned one
        if k != "model" and v is not None and k in baselines and not math.isclose(v, baselines[k], rel_tol=1e-12):
            baselines[f"{k} (lookback {lookback})"] = v
    best_b = min(baselines, key=baselines.get) if baselines else None
    cv_gain, final_gain = _gain(defaults_cv, best_cv), _gain(given["model"], tuned["model"])
    survived = final_gain / cv_gain if cv_gain and final_gain is not None and cv_gain > 0 else None
    return {"metric": metric, "tuned": tuned["model"], "defaults": given["model"], "baselines": baselines,
            "best_baseline": best_b, "best_baseline_value": baselines.get(best_b),
            "gain_cv": cv_gain, "gain_final": final_gain, "gain_survived": survived,
            "tuned_beats_best_baseline": (tuned["model"] < baselines[best_b]) if best_b else None}


# ----------------------------------------------------------------------------- the result
def _trial_row(t) -> dict:
    return {"trial": t.number, "state": t.state.name.lower(), "value": t.value, "params": dict(t.params),
            "fold_scores": t.user_attrs.get("fold_scores", [])}


def _importances(optuna, study) -> dict | None:
    """Each searched setting's share of the score's variance over finished trials (Optuna's fANOVA);
    None with fewer than 3 finished trials."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(done) < 3:
        return None
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (ValueError, RuntimeError):
        return None


def _counts(optuna, study) -> dict:
    states = [t.state for t in study.trials]
    S = optuna.trial.TrialState
    return {"complete": states.count(S.COMPLETE), "pruned": states.count(S.PRUNED), "failed": states.count(S.FAIL),
            "running": states.count(S.RUNNING), "total": len(states)}


def tune(source, settings, *, trials: int = 20, timeout=None, storage: str = "sqlite:///tune.db",
         study: str | None = None, space_path=None, folds: int = 3, test_size: int | None = None, holdout=None,
         cv: str = "expanding", strict: bool = False, prune: bool = True, verbose: bool = False,
         on_fold: Callable | None = None, on_trial: Callable | None = None, warn: Callable | None = None,
         cluster=None) -> dict:
    """Search the network and window settings by cross-validation; score the best once on an untouched span.

    Args:
        source: a CSV (one series) or many series, as ``forecast evaluate`` takes them.
        settings: the :class:`~forecast_cli.config.Settings` given (the defaults: what is not
            searched stays as given; the searched ones are the first trial of a new study).
        trials: the study's total of finished (complete or pruned) trials to reach. Defaults to 20.
        timeout: no new trial after this long (seconds, or ``"30m"``). Defaults to None.
        storage: the study's database URL. Defaults to ``"sqlite:///tune.db"``.
        study: the study's name. Defaults to :func:`study_name`.
        space_path: a ``--space`` TOML file (:mod:`forecast_cli.tune_space`). Defaults to None.
        folds: cross-validation folds of each trial. Defaults to 3.
        test_size: rows per fold's test span (many series: steps per cutoff). Defaults to None.
        holdout: the final test span (see :func:`split_search`). Defaults to None.
        cv: ``expanding`` or ``sliding`` (one series). Defaults to ``"expanding"``.
        prune: stop trials clearly behind after a fold. Defaults to True.
        on_fold: called with ``(trial, fold, score, settings)`` after each fold. Defaults to None.
        on_trial: called with each finished trial's row and the best value so far. Defaults to None.
        warn: called with a line to show on an interruption. Defaults to None.
        cluster: a :class:`forecast_cli.cluster.Cluster`: its workers run the trials in parallel on
            the same study (``on_fold`` is not called; ``on_trial`` as trials finish). Defaults to None.

    Returns:
        The JSON-ready study summary: ``study`` (name, storage, trial counts), ``rows`` (which rows
        the search saw and which form the final span), ``best``, ``leaderboard`` (top 10),
        ``final`` (the untouched span's scores: tuned, defaults, baselines, how much gain survived),
        ``importances`` and ``space``.
    """
    search, searched, base, metric = _prepare(source, settings, space_path=space_path, folds=folds,
                                              test_size=test_size, holdout=holdout, cv=cv, strict=strict, warn=warn)
    seconds = parse_duration(timeout)
    if trials < 1:
        raise ConfigError(f"--trials must be an int >= 1. Got {trials}.")
    optuna = import_optuna(verbose)
    name = study or study_name(source, settings)
    if cluster is not None:
        storage = _shared_storage(storage, cluster, warn)
    st = _open_study(optuna, name, storage, settings.train.seed, prune)
    _check_identity(st, _identity(search, base, searched, folds, test_size, cv, metric), name, storage)
    defaults = {k: base[k] for k in searched}
    S = optuna.trial.TrialState
    kept = [t for t in st.trials if t.user_attrs.get("defaults") and t.state in (S.COMPLETE, S.PRUNED, S.WAITING)]
    if not kept and all(p.contains(defaults[k]) for k, p in searched.items()):
        st.enqueue_trial(defaults, user_attrs={"defaults": True})  # the settings as given: a trial of their own
    counts = _counts(optuna, st)
    todo = max(0, trials - counts["complete"] - counts["pruned"])
    if todo and cluster is not None:
        job = {"name": name, "storage": storage, "seed": settings.train.seed, "prune": prune, "verbose": verbose,
               "search": search, "base": base, "space": searched, "folds": folds, "test_size": test_size, "cv": cv,
               "metric": metric, "trials": trials}
        _optimize_on_cluster(cluster, optuna, st, job, todo, seconds, on_trial, warn, f"study '{name}' in {storage}")
    elif todo:
        objective = _objective(search, base, searched, folds, test_size, cv, metric, on_fold)
        _optimize(optuna, st, objective, trials, todo, seconds, on_trial, warn, f"study '{name}' in {storage}")
    return _summary(optuna, st, search, base, searched, name, storage, folds, test_size, cv, metric, todo)


def _prepare(source, settings, *, space_path, folds, test_size, holdout, cv, strict, warn):
    """Settings checked, the data read and split, and the space cut to fit: ``(search, searched, base, metric)``
    (``base``: the settings as given with the space's fixed values)."""
    from . import api
    from .panel import is_many

    settings = settings.check()
    data, window = settings.data, settings.window
    if folds < 1:
        raise ConfigError(f"--folds must be an int >= 1. Got {folds}.")
    many = is_many(source, data)
    if cv not in ("expanding", "sliding"):
        raise ConfigError(f"--cv must be 'expanding' or 'sliding'. Got {cv!r}.")
    if many and cv != "expanding":
        raise ConfigError("--cv sliding applies to one series; with many series every fold trains on all the "
                          "past before its cutoff")
    given = read_space(space_path) if space_path is not None else {}
    space = merge_space(default_space(window.horizon, many=many), given, many=many, path=space_path)
    import_optuna()  # before the data is read: a missing extra is said at once
    full = api.load_many(source, data, window, strict=strict, warn=warn) if many else api._load_one(source, data)
    search = split_search(full, many=many, horizon=window.horizon, folds=folds, holdout=holdout, test_size=test_size)
    search.info["data"] = api._panel_info(full) if many else _series_info(full)
    if window.lookback is None:  # the defaults' trial reads the lookback the commands decide on the searched rows
        from .fit_advice import resolve_lookback

        window = resolve_lookback(window, season=int(settings.season or full.season or 1), n_rows=search.search_rows,
                                  folds=folds, many=many)
        settings = replace(settings, window=window)
    space = _fit_space(space, given, _max_lookback(search, window.horizon, folds, test_size), space_path)
    base = {k: v for k, v in settings.to_kwargs().items() if v is not None}
    base.update({k: p.choices[0] for k, p in space.items() if p.kind == "fixed"})
    searched = {k: p for k, p in space.items() if p.kind != "fixed"}
    return search, searched, base, "mase" if many else "rmse"


def _optimize(optuna, st, objective, trials: int, todo: int, seconds, on_trial, warn, where: str,
              callbacks: list = ()) -> None:
    """Run up to ``todo`` trials (the study stops at ``trials`` finished ones, whichever process runs them);
    signals wait for a safe point; three failures in a row end the run."""
    from optuna.study import MaxTrialsCallback

    from .runtime import deferred_interrupts, raise_pending

    S = optuna.trial.TrialState
    failed_in_a_row = [0]

    def after_trial(study_, trial) -> None:
        if trial.state == S.FAIL:
            if warn is not None:
                warn(f"trial {trial.number} failed: {trial.user_attrs.get('error') or 'see --verbose'}")
            failed_in_a_row[0] += 1
            if failed_in_a_row[0] >= STOP_AFTER_FAILURES:  # the settings or data, not a trial, are wrong
                study_.stop()
        else:
            failed_in_a_row[0] = 0
        if on_trial is not None:
            try:
                best = study_.best_value
            except ValueError:  # no complete trial yet
                best = None
            on_trial(_trial_row(trial), best)
        raise_pending()  # a Ctrl-C that came while the trial was stored ends the run here

    def guarded(trial):
        try:
            return objective(trial)
        except ForecastError as e:  # this trial's settings failed on the data: the study goes on
            trial.set_user_attr("error", e.message)
            raise

    try:
        with deferred_interrupts():  # a signal during a database write waits for a safe point
            st.optimize(guarded, n_trials=todo, timeout=seconds, catch=(ForecastError,), gc_after_trial=True,
                        callbacks=[MaxTrialsCallback(trials, states=(S.COMPLETE, S.PRUNED)), after_trial, *callbacks])
    except KeyboardInterrupt:
        if warn is not None:
            n = _counts(optuna, st)
            warn(f"{where} keeps its {n['complete']} complete and {n['pruned']} pruned trials; rerun the same "
                 "command to continue it")
        raise


def _shared_storage(storage: str, cluster, warn) -> str:
    """The storage URL as the workers must read it: a relative SQLite path made absolute (the workers'
    folder may differ); a warning when SQLite is used by workers of a cluster that may span machines."""
    import os

    prefix = "sqlite:///"
    if storage.startswith(prefix) and not storage.startswith(prefix + "/") and storage != prefix + ":memory:":
        storage = prefix + os.path.abspath(storage[len(prefix):])
    if storage.startswith("sqlite:") and not cluster.local and warn is not None:
        warn(f"--storage {storage}: SQLite serves the workers of one machine only; workers on other machines need a "
             "database server they all reach (postgresql://..., mysql://...)")
    return storage


def _trials_on_worker(job: dict) -> int:
    """A Dask task: run ``job["n_trials"]`` trials (at most) of the shared study on this worker; the
    study stops at ``job["trials"]`` finished ones, whichever worker finishes them, and when the run
    sets its stop event (Ctrl-C). Returns the trials this worker ran."""
    optuna = import_optuna(job["verbose"])
    st = _open_study(optuna, job["name"], job["storage"], job["seed"], job["prune"])
    objective = _objective(job["search"], job["base"], job["space"], job["folds"], job["test_size"], job["cv"],
                           job["metric"], None)
    before = len(st.trials)
    stop = None
    if job.get("stop_event"):
        from distributed import Event

        stop = Event(job["stop_event"])

    def stopped(study_, trial) -> None:
        if stop is not None and stop.is_set():
            study_.stop()

    _optimize(optuna, st, objective, job["trials"], job["n_trials"], job["timeout"], None, None, "",
              callbacks=[stopped])
    return len(st.trials) - before


def _optimize_on_cluster(cluster, optuna, st, job: dict, todo: int, seconds, on_trial, warn, where: str) -> None:
    """Share ``todo`` trials among the cluster's workers (each a :func:`_trials_on_worker` task with its
    own sampler seed); report each trial as it finishes (read from the storage); Ctrl-C sets the stop
    event, so the workers start no new trial, and keeps what finished."""
    import time
    import uuid

    from distributed import Event

    from .cluster import RETRIES, task_error

    S = optuna.trial.TrialState
    n = max(1, min(cluster.n_workers, todo))
    seen = {t.number for t in st.trials if t.state.is_finished()}
    event = f"forecast-tune-stop-{uuid.uuid4().hex}"
    stop = Event(event, client=cluster.client)
    started = time.monotonic()
    futures = []
    for k in range(n):
        share = todo // n + (k < todo % n)
        futures.append(cluster.client.submit(
            _trials_on_worker, {**job, "n_trials": share, "timeout": seconds, "stop_event": event,
                                "seed": (job["seed"] + 7919 * (k + 1)) % 2**31},
            pure=False, retries=RETRIES))

    def report() -> None:
        trials = st.get_trials(deepcopy=False)
        done = [t for t in trials if t.state.is_finished() and t.number not in seen]
        for t in sorted(done, key=lambda t: t.number):
            seen.add(t.number)
            if t.state == S.FAIL and warn is not None:
                warn(f"trial {t.number} failed: {t.user_attrs.get('error') or 'see --verbose'}")
            if on_trial is not None:
                best = [x.value for x in trials if x.state == S.COMPLETE]
                on_trial(_trial_row(t), min(best) if best else None)

    try:
        while not all(f.done() for f in futures):
            time.sleep(1.0)
            report()
        report()
        for k, f in enumerate(futures):
            try:
                f.result()
            except Exception as e:
                raise task_error(e, f"the trials of worker task {k + 1}") from None
    except KeyboardInterrupt:
        stop.set()
        if warn is not None:
            n_ = _counts(optuna, st)
            warn(f"{where} keeps its {n_['complete']} complete and {n_['pruned']} pruned trials (the workers start no "
                 f"new trial; {time.monotonic() - started:.0f} s in); rerun the same command to continue it")
        raise
    finally:
        cluster.client.cancel(futures)


def _series_info(ds) -> dict:
    from .series_model import dataset_info

    return dataset_info(ds)


def _summary(optuna, st, search, base, searched, name, storage, folds, test_size, cv, metric, todo) -> dict:
    S = optuna.trial.TrialState
    done = sorted((t for t in st.trials if t.state == S.COMPLETE), key=lambda t: t.value)
    if not done:
        failed = [t.user_attrs.get("error") for t in st.trials if t.state == S.FAIL and t.user_attrs.get("error")]
        why = f": {failed[-1]}" if failed else ""
        raise DataError(f"study '{name}' has no complete trial yet{why}")
    best = done[0]
    default_trial = next((t for t in st.trials if t.user_attrs.get("defaults")), None)
    defaults_cv = default_trial.value if default_trial is not None and default_trial.state == S.COMPLETE else None
    best_params = {k: v for k, v in best.params.items() if k in searched}
    info = dict(search.info)
    data_info = info.pop("data")
    final = _final(search, base, best_params, defaults_cv, best.value, metric)
    return {
        "command": "tune",
        "study": {"name": name, "storage": storage, "trials": _counts(optuna, st), "run_now": todo,
                  "sampler": "TPE", "pruner": "median after each fold"},
        "data": data_info,
        "rows": {**info, "note": "no trial saw a row of the final span"},
        "cv": {"folds": folds, "test_size": test_size, "cv": cv if not search.many else "expanding", "metric": metric,
               "score": f"mean {metric} of the model over the folds"},
        "space": describe(searched),
        "best": {"trial": best.number, "value": best.value, "params": best_params,
                 "fold_scores": best.user_attrs.get("fold_scores", []),
                 "settings": {**{k: _jsonable(v) for k, v in base.items()}, **best_params}},
        "defaults": {"trial": default_trial.number if default_trial is not None else None, "value": defaults_cv,
                     "params": {k: _jsonable(base[k]) for k in searched}},
        "leaderboard": [_trial_row(t) for t in done[:LEADERBOARD]],
        "history": [{"trial": t.number, "state": t.state.name.lower(),
                     "value": t.value if t.value is not None else
                     (list(t.intermediate_values.values())[-1] if t.intermediate_values else None)}
                    for t in st.trials],
        "final": final,
        "importances": _importances(optuna, st),
    }


# ----------------------------------------------------------------------------- the TOML
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise ConfigError(f"cannot write {v!r} to TOML")


def best_toml(result: dict) -> str:
    """The best settings as a ``--config`` file: the searched ones, and every other one not at its default.

    Top-level keys, so that ``forecast --config best.toml evaluate DATA`` and ``... train DATA``
    take them as they are.
    """
    best, final, rows = result["best"], result["final"], result["rows"]
    lines = [f"# forecast tune: the best settings of study '{result['study']['name']}' "
             f"({result['study']['storage']}), trial {best['trial']}",
             f"# cross-validated {final['metric']} {best['value']:.6g} over {result['cv']['folds']} folds of rows "
             f"{rows['searched_rows'][0]}-{rows['searched_rows'][1]} ({rows['searched_period'][0]} to "
             f"{rows['searched_period'][1]})",
             f"# the untouched final span (rows {rows['final_rows'][0]}-{rows['final_rows'][1]}): "
             f"{final['metric']} {final['tuned']:.6g} tuned, {final['defaults']:.6g} with the defaults"
             + (f", {final['best_baseline_value']:.6g} {final['best_baseline']}" if final['best_baseline'] else ""),
             "# use: forecast --config best.toml evaluate DATA   (or: forecast --config best.toml train DATA -o model.fcst)"]
    for key, value in best["settings"].items():
        s = TABLE.get(key)
        if s is None or key in _SPEED or value is None or value == ():
            continue
        default = list(s.default) if isinstance(s.default, tuple) else s.default
        if key not in best["params"] and value == default:
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_best_toml(path, result: dict) -> None:
    """Write :func:`best_toml` to ``path`` atomically."""
    from .files import atomic_write

    text = best_toml(result)
    with atomic_write(path, "w") as fh:
        fh.write(text)
