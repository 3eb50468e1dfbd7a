"""Batch scoring: forecast past the end of many CSV files with one bundle, for cron.

The bundle is loaded once. Files are read one by one; the last window of every good file is
stacked, and each chunk of up to ``batch_size`` windows is predicted by ONE call into the
network (never one call per file). Each forecast is written to ``OUTDIR/<stem>.forecast.csv``
under a temporary name and renamed into place, or, with ``combined=True``, all of them to one
file, ``OUTDIR/combined.forecast.csv``, with the input in a first column; ``summary.json``
lists every input with its status, rows read, output and error.

OUTDIR's own files (the lock that stops a second run, the records behind ``skip_existing``,
temporaries left by a killed run) are handled by :mod:`forecast_cli.outdir`.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import glob as _glob
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import DataError, ForecastError
from .outdir import (OUTPUT_SUFFIXES, SUMMARY_NAME, Records, ScoreLock, clean_temporaries, is_own_file, sha256_file,
                     source_record)

__all__ = ["expand_inputs", "output_names", "score", "exit_code", "Scorer", "Recorder", "SUMMARY_NAME", "COMBINED_STEM"]

COMBINED_STEM = "combined"
GLOB_CHARS = set("*?[")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def expand_inputs(patterns: Sequence[str], outdir=None) -> tuple[list[Path], list[dict]]:
    """Files, directories (their ``*.csv``, sorted, not recursive) and globs -> input paths.

    Returns ``(paths, settled)``: ``settled`` holds a summary entry for each pattern that names
    nothing (missing file, empty directory, glob without matches: status ``failed``), so it is
    reported, not raised, and for each file named explicitly that is one of this tool's own files
    in ``outdir`` (status ``skipped``, with a ``reason``). Earlier forecasts (``*.forecast.csv``)
    found in directories and globs are not inputs, nor is any of the tool's own files in
    ``outdir`` (see :func:`is_own_file`), so ``score 'DIR/*' -o DIR`` can run every day.
    Duplicates are dropped, keeping the first occurrence.
    """
    paths: list[Path] = []
    settled: list[dict] = []
    seen: set = set()
    out_real = os.path.realpath(outdir) if outdir is not None else None
    in_outdir: dict = {}

    def own(p) -> bool:
        """An own file of OUTDIR (its folder is OUTDIR and its name is one the tool writes)."""
        if out_real is None or not is_own_file(os.path.basename(p)):
            return False
        folder = os.path.dirname(os.path.abspath(p))
        if folder not in in_outdir:
            in_outdir[folder] = os.path.realpath(folder) == out_real
        return in_outdir[folder]

    def add(p: Path, key: str | None = None):
        key = key or os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            paths.append(p)

    for pat in patterns:
        pat = os.fspath(pat)
        p = Path(pat)
        if p.is_dir():
            with os.scandir(p) as it:  # file types from the listing: no stat per plain file
                found = sorted((e.name, e.is_symlink()) for e in it
                               if os.path.splitext(e.name)[1].lower() == ".csv" and e.is_file()
                               and not e.name.endswith(OUTPUT_SUFFIXES) and not own(os.path.join(pat, e.name)))
            if not found:
                settled.append(_entry(pat, error=f"{pat}: directory has no .csv files"))
            real = os.path.realpath(p)
            for name, link in found:
                add(p / name, None if link else os.path.join(real, name))
        elif p.exists():
            if own(p):
                settled.append(_entry(pat, status="skipped", reason=f"{pat} is a file forecast score writes in "
                                                                    f"{outdir}, not an input"))
            else:
                add(p)
        elif GLOB_CHARS & set(pat):
            found = sorted(Path(q) for q in _glob.glob(pat) if Path(q).is_file()
                           and not q.endswith(OUTPUT_SUFFIXES) and not own(q))
            if not found:
                settled.append(_entry(pat, error=f"{pat}: no files match this pattern"))
            for q in found:
                add(q)
        else:
            settled.append(_entry(pat, error=f"{pat}: file not found; check the path"))
    return paths, settled


def output_names(paths: Sequence[Path], suffix: str = ".forecast.csv") -> list[str]:
    """One output file name per input: ``<stem><suffix>``; clashing stems get a short hash of the full path."""
    stems = [p.stem for p in paths]
    counts: dict = {}
    for s in stems:
        counts[s.lower()] = counts.get(s.lower(), 0) + 1
    out = []
    for p, s in zip(paths, stems):
        if counts[s.lower()] > 1:
            h = hashlib.sha1(os.path.abspath(p).encode("utf-8", "surrogateescape")).hexdigest()[:8]
            s = f"{s}-{h}"
        out.append(s + suffix)
    return out


def _entry(inp, status="failed", rows=None, output=None, error=None, reason=None) -> dict:
    e = {"input": str(inp), "status": status, "rows": rows, "output": output, "error": error}
    if reason is not None:
        e["reason"] = reason
    return e


def _summary_json(summary: dict) -> str:
    """``summary.json``'s text: indented, one line per input (json's C encoder; indent=2 is pure Python)."""
    head = json.dumps({k: v for k, v in summary.items() if k != "files"}, indent=2, default=str)
    files = ",\n    ".join(json.dumps(f, default=str) for f in summary["files"])
    return f'{head[:-2]},\n  "files": [' + (f"\n    {files}\n  ]" if files else "]") + "\n}\n"


def exit_code(summary: dict) -> int:
    """0 when nothing failed (skipped files count as done), 1 when nothing was scored, else 3."""
    from .errors import EXIT_FAILURE, EXIT_OK, EXIT_PARTIAL

    if summary["n_failed"] == 0:
        return EXIT_OK
    if summary["n_ok"] + summary["n_skipped"] == 0:
        return EXIT_FAILURE
    return EXIT_PARTIAL


# --------------------------------------------------------------------------- scoring
def _message(e: BaseException, path) -> str:
    if isinstance(e, ForecastError):
        return e.message
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{path}: unexpected {type(e).__name__}: {first}"


def _young(st: os.stat_result | None, min_age: float, now: float) -> str | None:
    """The ``reason`` for leaving an input modified less than ``min_age`` seconds ago alone, or None."""
    if st is None or min_age <= 0:
        return None
    age = now - st.st_mtime
    if age >= min_age:
        return None
    if age < 0:
        return f"modified {-age:.0f} s in the future (clock skew?), not --min-age {min_age:g} s ago"
    return f"modified {age:.0f} s ago, less than --min-age {min_age:g}"


class Recorder:
    """What a Dask worker did to OUTDIR's records, replayed by the run that holds them (and the lock).

    It has the two methods of :class:`~forecast_cli.outdir.Records` that writing a forecast uses;
    ``ops`` lists the calls in order: ``("forget", name)`` and ``("add", name, source, digest)``.
    """

    def __init__(self):
        self.ops: list = []

    def forget(self, name: str) -> None:
        self.ops.append(("forget", name))

    def add(self, name: str, source: dict, settings: dict, out_path: Path, digest: str) -> None:
        self.ops.append(("add", name, source, digest))


class Scorer:
    """Read inputs, forecast their stacked last windows with one network call per chunk, check and
    write each forecast atomically: the work of :func:`score`, in one process or on a Dask worker
    (:mod:`forecast_cli.dask_score`, where ``records`` is a :class:`Recorder` and ``warn`` collects).

    Args:
        forecaster: the loaded, verified :class:`~forecast_cli.forecaster.Forecaster`.
        cfg: how inputs are read (the bundle's data contract, with the run's date and id options).
        bounds: the conformal bounds of the bundle's residuals at ``levels``.
        settings: what :class:`~forecast_cli.outdir.Records` stores beside each forecast.
        records: the records (or a :class:`Recorder`); None with ``combined``.
        warn: receives every warning line.
    """

    def __init__(self, forecaster, *, cfg, steps: int, levels, bounds, fmt: str, combined: bool, combined_path,
                 settings: dict, records, warn: Callable[[str], None]):
        self.forecaster, self.cfg, self.steps, self.levels = forecaster, cfg, steps, levels
        self.bounds, self.fmt, self.combined, self.combined_path = bounds, fmt, combined, combined_path
        self.settings, self.records, self.warn = settings, records, warn
        manifest = self.manifest = forecaster.manifest_
        self.L = int(manifest["window"]["lookback"])
        self.targets = list(manifest["data"]["target"])
        # A model of many series (a global network) forecasts any series: each input's window is scaled on
        # its own, a short history is padded, and a long file (its id column) holds many series.
        self.many = isinstance(manifest.get("panel"), dict)
        # A model of many series trained with --theta-weight: each forecast blends in AutoTheta's, fitted
        # on the input's whole history (forecast_cli.theta_blend), as `forecast predict` does.
        self.theta = float((manifest.get("model") or {}).get("theta_weight") or 0.0) if self.many else 0.0
        # A one-series bundle with adaptive intervals: an input that runs past the training data gets the
        # level adapted to the misses on those rows (forecasting.adaptive_bounds), as `forecast predict` does.
        self.adaptive = bool(levels and (manifest.get("conformal") or {}).get("adaptive") and forecaster.one_series_)
        self.own_bounds: dict = {}
        self.parts: list = []  # the combined file's pieces: CSV bytes, or frames for Parquet

    def read(self, entry: dict, path: Path, out_path: Path, source: dict | None):
        """Read one input (its SHA-256 first, when recorded); the item :meth:`flush` takes, or None
        with the entry ``failed``."""
        from .forecasting import adaptive_bounds, input_series, input_tail, runs_past_training

        manifest, cfg, L, steps = self.manifest, self.cfg, self.L, self.steps
        file_warnings: list = []
        try:
            if source is not None and source["sha256"] is None:
                source["sha256"] = sha256_file(path)  # before reading: a later change is seen next run
            if self.many:
                histories: dict = {}
                got = input_series(str(path), manifest, cfg, L, steps, file_warnings,
                                   on_dataset=(lambda sid, ds: histories.__setitem__(sid, ds.values[:, 0]))
                                   if self.theta else None)
            else:
                read = []
                got = [(None, *input_tail(str(path), manifest, cfg, L, steps, file_warnings,
                                          on_dataset=read.append))]
                if self.adaptive and runs_past_training(read[0], manifest):  # as predict: the level adapts to
                    self.own_bounds[entry["input"]] = adaptive_bounds(self.forecaster.net_, manifest, read[0],
                                                                      self.levels)
        except (ForecastError, OSError, ValueError, UnicodeError) as e:
            entry.update(status="failed", error=_message(e, path))
            return None
        entry["rows"] = int(sum(rows for _, rows, _, _ in got))
        if cfg.id_col:
            entry["series"] = len(got)
        if self.many:  # a global model forecasts any series; say so when one's level is far from the training's
            one = got[0][0] is None  # a file of one series (no id column)
            net = self.forecaster.net_
            far = net.out_of_range([w for _, _, w, _ in got], [str(sid) for sid, _, _, _ in got])
            if far:
                lo, hi = net.level_range_
                what = "its level is" if one else f"series {', '.join(far[:5])} have levels"
                file_warnings.append(f"{entry['input']}: {what} more than 10 times outside the training series' "
                                     f"({lo:.4g} .. {hi:.4g}); check the forecast")
        short = [sid if sid is not None else entry["input"] for sid, _, w, _ in got if len(w) < L]
        if short:
            entry["short_history"] = short
            file_warnings.append(f"{entry['input']}: {len(short)} series shorter than the lookback ({L}) padded "
                                 "(a global model's forecast from a short history)")
        partners = self._partners(entry, got, histories, file_warnings) if self.theta else [None] * len(got)
        if file_warnings:
            entry["warnings"] = file_warnings
            for w in file_warnings:
                self.warn(w)
        return entry, out_path, [(sid, w, ts, p) for (sid, _, w, ts), p in zip(got, partners)], source

    def _partners(self, entry: dict, got: list, histories: dict, file_warnings: list) -> list:
        """AutoTheta's forecast from each series' whole history (None where it cannot be fitted, said in
        ``file_warnings``), for a bundle trained with ``--theta-weight``."""
        from .theta_blend import theta_forecast

        H, season = int(self.manifest["window"]["horizon"]), int(self.manifest["panel"]["state"]["season"])
        out = [theta_forecast(histories[sid], H, season) for sid, _, _, _ in got]
        alone = [entry["input"] if sid is None else str(sid) for (sid, _, _, _), f in zip(got, out) if f is None]
        if alone:
            file_warnings.append(f"{entry['input']}: {len(alone)} series forecast by the network alone: AutoTheta "
                                 f"could not be fitted to their histories ({', '.join(alone[:5])})")
        return out

    def write_one(self, entry: dict, out_path: Path, parts_in: list, source: dict | None) -> None:
        """Check one input's forecasts (one, or one per series of a long file) and write them (or keep
        them for the combined file), and record it. ``parts_in``: ``[(id, window, point, ts)]``."""
        from .files import atomic_write, write_atomic
        from .forecasting import check_forecast, forecast_csv, forecast_frame, window_bounds, write_frame
        from .runtime import deferred_interrupts

        manifest, steps, targets, fmt, cfg = self.manifest, self.steps, self.targets, self.fmt, self.cfg
        checked = []
        for sid, window, point, ts in parts_in:
            label = entry["input"] if sid is None else f"{entry['input']} (series '{sid}')"
            flat: list = []
            b = window_bounds(self.own_bounds.pop(entry["input"], self.bounds), window, manifest, flat, label)
            for w in flat:
                entry.setdefault("warnings", []).append(w)
                self.warn(w)
            check_forecast(point[:steps], window, b, manifest, label)
            checked.append((sid, point, ts, b))
        if self.combined:  # kept until every input is done; the entries stay "ok" only if the file is written
            (_, point, ts, b), = checked
            if fmt == "csv":
                self.parts.append(forecast_csv(point, ts, targets, b, steps, series=entry["input"],
                                               with_header=not self.parts))
            else:
                frame = forecast_frame(point, ts, targets, b, steps)
                frame.insert(0, "input", entry["input"])
                self.parts.append(frame)
            entry.update(status="ok", output=str(self.combined_path))
            return
        if checked[0][0] is None:  # one series: the one-series format
            (_, point, ts, b), = checked
            data = forecast_csv(point, ts, targets, b, steps) if fmt == "csv" else None
            frame_fn = lambda: forecast_frame(point, ts, targets, b, steps)  # noqa: E731
        else:  # a long file: one long forecast, the id column first
            data = b"".join(forecast_csv(point, ts, targets, b, steps, series=str(sid), with_header=k == 0,
                                         series_col=cfg.id_col) for k, (sid, point, ts, b) in enumerate(checked)) \
                if fmt == "csv" else None

            def frame_fn():
                import pandas as pd

                frames = []
                for sid, point, ts, b in checked:
                    f = forecast_frame(point, ts, targets, b, steps)
                    f.insert(0, cfg.id_col, str(sid))
                    frames.append(f)
                return pd.concat(frames, ignore_index=True)
        records = self.records
        with deferred_interrupts():  # SIGTERM/Ctrl-C: the output, its record and its status go together
            records.forget(out_path.name)
            if data is not None:
                write_atomic(out_path, data)
                digest = hashlib.sha256(data).hexdigest()
            else:
                with atomic_write(out_path, "wb", durable=False) as fh:
                    write_frame(frame_fn(), out_path, fh)
                digest = sha256_file(out_path)
            if source is not None:
                records.add(out_path.name, source, self.settings, out_path, digest)
            entry.update(status="ok", output=str(out_path))

    def flush(self, pending: list, settle: Callable[[dict], None]) -> None:
        """Predict the stacked last windows of ``pending`` with one network call; write their outputs."""
        if not pending:
            return
        L = self.L
        wins = [(sid, w) for _, _, series, _ in pending for sid, w, _, _ in series]
        # (n, L, C); a short history (global models only) is left-padded, its length passed on
        X = np.stack([w if len(w) == L else np.concatenate([np.repeat(w[:1], L - len(w), axis=0), w])
                      for _, w in wins])
        if self.many:
            stems = [Path(entry["input"]).stem for entry, _, series, _ in pending for _ in series]
            keys = [stems[k] if sid is None else str(sid) for k, (sid, _) in enumerate(wins)]
            # the network itself: the Forecaster refuses windows alone for a blended model, blended below
            net = self.forecaster.net_ if self.theta else self.forecaster
            point = net.predict_windows(X, keys=keys, lengths=[len(w) for _, w in wins])
        else:
            point = self.forecaster.predict_windows(X)  # raw values
        k = 0
        for entry, out_path, series, source in pending:
            got = []
            for sid, window, ts, partner in series:
                p = point[k]
                if partner is not None:  # (1 - w) x network + w x AutoTheta, the first (only) target
                    from .theta_blend import mix

                    p = np.array(p, dtype=np.float64, copy=True)
                    p[:, 0] = mix(p[:, 0], partner, self.theta)
                got.append((sid, window, p, ts))
                k += 1
            try:
                self.write_one(entry, out_path, got, source)
            except (ForecastError, OSError, ValueError) as e:
                entry.update(status="failed", error=_message(e, entry["input"]))
            settle(entry)
        pending.clear()

    def run(self, items, batch_size: int, settle: Callable[[dict], None], between: Callable[[], None] = lambda: None):
        """Read and score ``items`` (``(entry, path, out_path, source)``), ``batch_size`` windows of
        files per network call; ``settle(entry)`` once each is done; ``between()`` after each call."""
        pending: list = []
        for entry, path, out_path, source in items:
            item = self.read(entry, path, out_path, source)
            if item is None:
                settle(entry)
                continue
            pending.append(item)
            if len(pending) >= batch_size:
                self.flush(pending, settle)
                between()
        self.flush(pending, settle)


def score(bundle_path, inputs: Sequence[str], outdir, *, steps: int | None = None,
          levels: Sequence[float] = (80.0, 95.0), skip_existing: bool = False, batch_size: int = 4096,
          fmt: str = "csv", combined: bool = False, min_age: float = 0.0, date_format: str | None = None,
          dayfirst: bool | None = None, id_col: str | None = None,
          on_file: Callable[[dict, int, int], None] | None = None,
          on_start: Callable[[int], None] | None = None,
          on_warning: Callable[[str], None] | None = None, cluster=None) -> dict:
    """Score every input with one bundle; write one forecast per input and ``summary.json`` to ``outdir``.

    Args:
        bundle_path: the ``.fcst`` file (loaded and verified once).
        inputs: files, directories and globs (the tool's own files in ``outdir`` are left out).
        outdir: output directory (created if needed).
        steps: rows per forecast (default: the trained horizon; more is refused).
        levels: interval levels in percent.
        skip_existing: leave an input alone (status ``skipped``) when its forecast's record says
            it was made from the same input content, bundle and settings; otherwise score it again.
        batch_size: windows per network call.
        fmt: ``csv`` or ``parquet``.
        combined: one output file, ``OUTDIR/combined.forecast.<fmt>``, with every input's forecast
            and a first column ``input``, written once at the end (not with ``skip_existing``).
        min_age: leave inputs modified less than this many seconds ago alone (status ``skipped``,
            with a ``reason``): a file still being written is not scored. 0: off.
        date_format, dayfirst: when given, override how the bundle reads dates.
        id_col: with a bundle of many series, the column naming the series of long-format inputs
            (default: the bundle's, when it was trained on a long file); each such input gets one
            long forecast with that column first.
        on_file: called as ``on_file(entry, done, total)`` after each input is settled.
        on_start: called with the number of inputs once they are known.
        on_warning: receives warnings (frequency mismatch, few residuals, temporaries removed).
        cluster: a :class:`forecast_cli.cluster.Cluster`: the inputs are read, forecast and written
            in batches on its workers (:mod:`forecast_cli.dask_score`; OUTDIR and the inputs must be
            on a file system they share); the lock, the records and ``summary.json`` stay here.
            Defaults to None (this process does it all).

    Returns:
        The summary (also written to ``outdir/summary.json``, including after an interruption).

    Raises:
        BundleError: the bundle is bad (nothing is written).
        DataError: OUTDIR is locked by another run, cannot be created or written to, or holds
            something else than a regular file at the lock's name.
        KeyboardInterrupt (or its subclass Interrupted, for SIGTERM): after writing the summary so
            far and releasing the lock.
    """
    from .bundle import read_manifest
    from .forecaster import Forecaster
    from .files import atomic_write, write_atomic
    from .errors import ConfigError
    from .forecasting import check_levels, check_steps, conformal_bounds, data_config, write_frame, _residuals

    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"--format must be 'csv' or 'parquet'. Got {fmt!r}.")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be an int >= 1. Got {batch_size}.")
    if not min_age >= 0:
        raise ConfigError(f"--min-age must be a number of seconds >= 0. Got {min_age}.")
    if combined and skip_existing:
        raise ConfigError("--skip-existing resumes one-file-per-input runs; --combined rewrites its one file "
                          "every run, so give one of them")
    suffix = f".forecast.{fmt}"
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError("Parquet output needs pyarrow, which is not installed; pip install pyarrow, "
                              "or use --format csv") from None
    warnings: list[str] = []

    def warn(msg: str):
        warnings.append(msg)
        if on_warning:
            on_warning(msg)

    manifest = read_manifest(bundle_path)
    if (manifest.get("model") or {}).get("theta_weight"):  # statsforecast is needed: said before any file
        from .theta_blend import require_stats

        require_stats()
    H = int(manifest["window"]["horizon"])
    steps = check_steps(steps, H)
    levels = check_levels(levels)
    bounds_warn: list = []
    bounds = conformal_bounds(_residuals(manifest), levels, bounds_warn)
    for w in bounds_warn:
        warn(w)
    forecaster = Forecaster.load(bundle_path)  # one load per run, verified; its network forecasts every window
    manifest = forecaster.manifest_
    cfg = data_config(manifest).with_dates(date_format, dayfirst)  # as predict reads dates
    if id_col is not None:
        if not isinstance(manifest.get("panel"), dict):
            raise ConfigError("--id-col needs a model of many series; this bundle was trained on one series")
        from dataclasses import replace

        cfg = replace(cfg, id_col=id_col).check()
    many = isinstance(manifest.get("panel"), dict)
    if many and cfg.id_col and combined:
        raise ConfigError("--combined writes one series per input; long-format inputs get one long output each, "
                          "with the id column: drop --combined")
    # Everything that changes an output: a forecast made otherwise is not "existing" for --skip-existing.
    settings = {"bundle_sha256": None if combined else sha256_file(bundle_path),
                "model_sha256": manifest["model_sha256"], "steps": steps, "levels": list(levels), "format": fmt,
                "date_format": date_format, "dayfirst": dayfirst, "id_col": cfg.id_col}

    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise DataError(f"-o {outdir} exists and is not a directory; give a directory for the forecasts")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the output directory {outdir} ({e.strerror or e})") from None

    paths, entries_settled = expand_inputs(inputs, outdir)
    names = output_names(paths, suffix)
    combined_path = outdir / f"{COMBINED_STEM}{suffix}" if combined else None
    entries: list[dict] = [_entry(p, status="pending") for p in paths]
    total = len(entries) + len(entries_settled)
    summary = {
        "bundle": str(bundle_path),
        "model_sha256": manifest["model_sha256"],
        "outdir": str(outdir),
        "started": _now(),
        "finished": None,
        "interrupted": False,
        "steps": steps,
        "levels": list(levels),
        "n_inputs": total,
        "n_ok": 0,
        "n_failed": 0,
        "n_skipped": 0,
        "warnings": warnings,
        "files": entries_settled + entries,
    }
    done = 0

    def settle(entry: dict):
        nonlocal done
        done += 1
        if on_file:
            on_file(entry, done, total)

    def write_summary():
        if records is not None:
            try:
                records.save()
            except OSError as e:
                raise DataError(f"cannot write {records.path} ({e.strerror or e}); free space or fix the "
                                "permissions and rerun") from None
        files = summary["files"]
        summary["n_ok"] = sum(f["status"] == "ok" for f in files)
        summary["n_failed"] = sum(f["status"] == "failed" for f in files)
        summary["n_skipped"] = sum(f["status"] == "skipped" for f in files)
        summary["finished"] = _now()
        if hasattr(os, "sync"):
            os.sync()  # the forecasts were renamed into place without a per-file fsync: flush them once
        try:
            with atomic_write(outdir / SUMMARY_NAME, "wb") as fh:
                fh.write(_summary_json(summary).encode("utf-8"))
        except OSError as e:
            raise DataError(f"cannot write {outdir / SUMMARY_NAME} ({e.strerror or e}); free space or fix the "
                            "permissions and rerun") from None

    def gate(entry: dict, path: Path, out_path: Path):
        """``(True, source)`` for an input to score; ``(False, None)`` with the entry settled when it is too
        young or its forecast is up to date."""
        try:
            st = os.stat(path)
        except OSError:
            st = None  # input_tail gives the one-line error
        reason = _young(st, min_age, time.time())
        if reason:
            entry.update(status="skipped", reason=reason)
            return False, None
        source = None if combined or st is None else source_record(path, st)
        if skip_existing and source is not None and records.up_to_date(out_path.name, path, out_path, source,
                                                                        settings):
            entry.update(status="skipped", output=str(out_path),
                         reason="its forecast was made from the same input, bundle and settings")
            return False, None
        return True, source

    def gated():
        for entry, path, name in zip(entries, paths, names):
            go, source = gate(entry, path, outdir / name)
            if not go:
                settle(entry)
                continue
            yield entry, path, outdir / name, source

    if on_start:
        on_start(total)
    with ScoreLock(outdir):
        records = None if combined else Records(outdir)
        scorer = Scorer(forecaster, cfg=cfg, steps=steps, levels=levels, bounds=bounds, fmt=fmt, combined=combined,
                        combined_path=combined_path, settings=settings, records=records, warn=warn)
        parts = scorer.parts
        try:
            removed = clean_temporaries(outdir)
            if removed:
                warn(f"removed {len(removed)} temporary file(s) left in {outdir} by a run that did not finish "
                     f"(killed or crashed), e.g. {removed[0]}")
            for entry in entries_settled:
                settle(entry)
            if cluster is None:
                scorer.run(gated(), batch_size, settle,
                           between=lambda: records.save(when_due=True) if records is not None else None)
            else:
                from .dask_score import score_on_cluster

                score_on_cluster(cluster, bundle_path, list(gated()), scorer, batch_size=batch_size,
                                 settle=settle, warn=warn, log=warnings)
            if combined and parts:
                try:
                    if fmt == "csv":
                        write_atomic(combined_path, b"".join(parts))
                    else:
                        import pandas as pd

                        with atomic_write(combined_path, "wb", durable=False) as fh:
                            write_frame(pd.concat(parts, ignore_index=True), combined_path, fh)
                except OSError as e:
                    raise DataError(f"cannot write {combined_path} ({e.strerror or e}); nothing was written, "
                                    "free space or fix the permissions and rerun") from None
        except BaseException as e:
            if combined:  # nothing of the combined file was written
                for entry in entries:
                    if entry["status"] == "ok":
                        entry.update(status="pending", output=None)
            summary["interrupted"] = isinstance(e, KeyboardInterrupt)  # Ctrl-C, or SIGTERM as Interrupted
            summary["error"] = _message(e, bundle_path) if not summary["interrupted"] else "interrupted"
            with contextlib.suppress(BaseException):
                write_summary()
            raise
        write_summary()
    return summary
