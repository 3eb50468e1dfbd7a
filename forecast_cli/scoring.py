"""Batch scoring: forecast past the end of many CSV files with one bundle, for cron.

The bundle is loaded once. Files are read one by one; the last window of every good file is
stacked, and each chunk of up to ``batch_size`` windows is predicted by ONE call into the
network (never one call per file). Each forecast is written to ``OUTDIR/<stem>.forecast.csv``
under a temporary name and renamed into place, or, with ``combined=True``, all of them to one
file, ``OUTDIR/combined.forecast.csv``, with the input in a first column; ``summary.json``
lists every input with its status, rows read, output and error. A lock file
(``OUTDIR/.forecast-score.lock``) keeps a second run from writing beside the first.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import glob as _glob
import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import DataError, ForecastError

__all__ = ["expand_inputs", "output_names", "score", "LOCK_NAME", "SUMMARY_NAME", "COMBINED_STEM", "exit_code",
           "ScoreLock"]

LOCK_NAME = ".forecast-score.lock"
SUMMARY_NAME = "summary.json"
COMBINED_STEM = "combined"
OUTPUT_SUFFIXES = (".forecast.csv", ".forecast.parquet")
GLOB_CHARS = set("*?[")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def expand_inputs(patterns: Sequence[str]) -> tuple[list[Path], list[dict]]:
    """Files, directories (their ``*.csv``, sorted, not recursive) and globs -> input paths.

    Returns ``(paths, failed)``: ``failed`` holds a summary entry for each pattern that names
    nothing (missing file, empty directory, glob without matches), so it is reported, not raised.
    Earlier forecasts (``*.forecast.csv``) found in directories are not inputs. Duplicates are
    dropped, keeping the first occurrence.
    """
    paths: list[Path] = []
    failed: list[dict] = []
    seen: set = set()

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
                               and not e.name.endswith(OUTPUT_SUFFIXES))
            if not found:
                failed.append(_entry(pat, error=f"{pat}: directory has no .csv files"))
            real = os.path.realpath(p)
            for name, link in found:
                add(p / name, None if link else os.path.join(real, name))
        elif p.exists():
            add(p)
        elif GLOB_CHARS & set(pat):
            found = sorted(Path(q) for q in _glob.glob(pat) if Path(q).is_file()
                           and not q.endswith(OUTPUT_SUFFIXES))
            if not found:
                failed.append(_entry(pat, error=f"{pat}: no files match this pattern"))
            for q in found:
                add(q)
        else:
            failed.append(_entry(pat, error=f"{pat}: file not found; check the path"))
    return paths, failed


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


def _entry(inp, status="failed", rows=None, output=None, error=None) -> dict:
    return {"input": str(inp), "status": status, "rows": rows, "output": output, "error": error}


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


# --------------------------------------------------------------------------- lock
def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


class ScoreLock:
    """``OUTDIR/.forecast-score.lock`` holding the owner's pid, created atomically (link of a full file).

    A lock whose pid is alive stops the run with a DataError; a stale one (its process is gone)
    is taken over and reported through ``on_warning``.
    """

    def __init__(self, outdir: Path, on_warning: Callable[[str], None] | None = None):
        self.path = Path(outdir) / LOCK_NAME
        self.on_warning = on_warning
        self.held = False

    def _try_create(self) -> bool:
        tmp = self.path.with_name(f"{LOCK_NAME}.{os.getpid()}.tmp")
        tmp.write_text(f"{os.getpid()}\n", encoding="ascii")
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError:  # file systems without hard links
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as fh:
                fh.write(f"{os.getpid()}\n")
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def acquire(self) -> "ScoreLock":
        for _ in range(3):
            if self._try_create():
                self.held = True
                return self
            try:
                text = self.path.read_text(encoding="ascii", errors="replace").strip()
            except FileNotFoundError:
                continue  # released meanwhile: try again
            pid = int(text) if text.isdigit() else -1
            outdir = self.path.parent
            if _pid_alive(pid):
                raise DataError(f"another forecast score run (pid {pid}) is writing to {outdir}; wait for it "
                                f"or remove {self.path} if it is stale")
            if self.on_warning:
                self.on_warning(f"taking over a stale lock {self.path} (its process {text or '?'} is gone)")
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        raise DataError(f"cannot take the lock {self.path}; remove it if no forecast score run is writing "
                        f"to {self.path.parent}")

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# --------------------------------------------------------------------------- scoring
def _message(e: BaseException, path) -> str:
    if isinstance(e, ForecastError):
        return e.message
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{path}: unexpected {type(e).__name__}: {first}"


def score(bundle_path, inputs: Sequence[str], outdir, *, steps: int | None = None,
          levels: Sequence[float] = (80.0, 95.0), skip_existing: bool = False, batch_size: int = 4096,
          fmt: str = "csv", combined: bool = False, on_file: Callable[[dict, int, int], None] | None = None,
          on_start: Callable[[int], None] | None = None,
          on_warning: Callable[[str], None] | None = None) -> dict:
    """Score every input with one bundle; write one forecast per input and ``summary.json`` to ``outdir``.

    Args:
        bundle_path: the ``.fcst`` file (loaded and verified once).
        inputs: files, directories and globs.
        outdir: output directory (created if needed).
        steps: rows per forecast (default: the trained horizon; more is refused).
        levels: interval levels in percent.
        skip_existing: leave inputs whose output already exists alone (status ``skipped``).
        batch_size: windows per network call.
        fmt: ``csv`` or ``parquet``.
        combined: one output file, ``OUTDIR/combined.forecast.<fmt>``, with every input's forecast
            and a first column ``input``, written once at the end (not with ``skip_existing``).
        on_file: called as ``on_file(entry, done, total)`` after each input is settled.
        on_start: called with the number of inputs once they are known.
        on_warning: receives warnings (stale lock, frequency mismatch, few residuals).

    Returns:
        The summary (also written to ``outdir/summary.json``, including after an interruption).

    Raises:
        BundleError: the bundle is bad (nothing is written).
        DataError: OUTDIR is locked by another run, or cannot be created.
        KeyboardInterrupt (or its subclass Interrupted, for SIGTERM): after writing the summary so
            far and releasing the lock.
    """
    from .bundle import load_bundle, read_manifest
    from .files import atomic_write, write_atomic
    from .errors import ConfigError
    from .forecasting import (check_levels, check_steps, conformal_bounds, data_config, forecast_csv,
                              forecast_frame, input_tail, write_frame, _residuals)

    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"--format must be 'csv' or 'parquet'. Got {fmt!r}.")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be an int >= 1. Got {batch_size}.")
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
    H, L = int(manifest["window"]["horizon"]), int(manifest["window"]["lookback"])
    steps = check_steps(steps, H)
    levels = check_levels(levels)
    bounds_warn: list = []
    bounds = conformal_bounds(_residuals(manifest), levels, bounds_warn)
    for w in bounds_warn:
        warn(w)
    forecaster, manifest = load_bundle(bundle_path)
    targets = list(manifest["data"]["target"])
    cfg = data_config(manifest)

    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise DataError(f"-o {outdir} exists and is not a directory; give a directory for the forecasts")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the output directory {outdir} ({e.strerror or e})") from None

    paths, entries_failed = expand_inputs(inputs)
    names = output_names(paths, suffix)
    combined_path = outdir / f"{COMBINED_STEM}{suffix}" if combined else None
    parts: list = []  # the combined file's pieces: CSV bytes, or frames for Parquet
    entries: list[dict] = [_entry(p, status="pending") for p in paths]
    total = len(entries) + len(entries_failed)
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
        "files": entries_failed + entries,
    }
    done = 0

    def settle(entry: dict):
        nonlocal done
        done += 1
        if on_file:
            on_file(entry, done, total)

    def write_summary():
        files = summary["files"]
        summary["n_ok"] = sum(f["status"] == "ok" for f in files)
        summary["n_failed"] = sum(f["status"] == "failed" for f in files)
        summary["n_skipped"] = sum(f["status"] == "skipped" for f in files)
        summary["finished"] = _now()
        if hasattr(os, "sync"):
            os.sync()  # the forecasts were renamed into place without a per-file fsync: flush them once
        with atomic_write(outdir / SUMMARY_NAME, "wb") as fh:
            fh.write(_summary_json(summary).encode("utf-8"))

    def flush(pending: list):
        """Predict the stacked last windows of ``pending`` with one network call; write their outputs."""
        if not pending:
            return
        point = forecaster.predict_windows(np.stack([w for _, _, w, _ in pending]))  # (n, L, C) raw values
        for k, (entry, out_path, _, ts) in enumerate(pending):
            try:
                if combined:  # kept until every input is done; the entries stay "ok" only if the file is written
                    if fmt == "csv":
                        parts.append(forecast_csv(point[k], ts, targets, bounds, steps, series=entry["input"],
                                                  with_header=not parts))
                    else:
                        frame = forecast_frame(point[k], ts, targets, bounds, steps)
                        frame.insert(0, "input", entry["input"])
                        parts.append(frame)
                    out_path = combined_path
                elif fmt == "csv":
                    write_atomic(out_path, forecast_csv(point[k], ts, targets, bounds, steps))
                else:
                    with atomic_write(out_path, "wb", durable=False) as fh:
                        write_frame(forecast_frame(point[k], ts, targets, bounds, steps), out_path, fh)
                entry.update(status="ok", output=str(out_path))
            except (ForecastError, OSError, ValueError) as e:
                entry.update(status="failed", error=_message(e, entry["input"]))
            settle(entry)
        pending.clear()

    if on_start:
        on_start(total)
    with ScoreLock(outdir, on_warning=warn):
        try:
            for entry in entries_failed:
                settle(entry)
            pending: list = []
            for entry, path, name in zip(entries, paths, names):
                out_path = outdir / name
                if skip_existing and out_path.exists():
                    entry.update(status="skipped", output=str(out_path))
                    settle(entry)
                    continue
                try:
                    entry["rows"], win, ts = input_tail(str(path), manifest, cfg, L, steps)
                except (ForecastError, OSError, ValueError, UnicodeError) as e:
                    entry.update(status="failed", error=_message(e, path))
                    settle(entry)
                    continue
                pending.append((entry, out_path, win, ts))
                if len(pending) >= batch_size:
                    flush(pending)
            flush(pending)
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
