"""OUTDIR's own files for ``forecast score``: the lock, the records behind ``--skip-existing``, temporaries.

``OUTDIR/.forecast-score.lock`` is held with ``flock(2)`` (through :mod:`filelock`) while a run
writes, so a second run cannot write beside it; the kernel releases it when the process ends,
however it ends. ``OUTDIR/.forecast-score.records.json`` says what each forecast was made from
(the input's path, size, mtime and SHA-256, the bundle's and model's SHA-256, the settings that
change the output, and the forecast's own size, mtime and SHA-256), so ``--skip-existing`` skips
an input only when its record matches (:class:`Records`). The tool's own files are never inputs
(:func:`is_own_file`), and the temporaries a killed run left are removed (:func:`clean_temporaries`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import time
from pathlib import Path
from typing import Callable

from .errors import DataError

__all__ = ["LOCK_NAME", "SUMMARY_NAME", "RECORDS_NAME", "OUTPUT_SUFFIXES", "ScoreLock", "Records", "is_own_file",
           "clean_temporaries", "sha256_file", "source_record"]

LOCK_NAME = ".forecast-score.lock"
SUMMARY_NAME = "summary.json"
RECORDS_NAME = ".forecast-score.records.json"
OUTPUT_SUFFIXES = (".forecast.csv", ".forecast.parquet")
# The temporaries of forecast_cli.files: write_atomic's ".{name}.{pid}-{thread}.tmp" and atomic_write's
# (tempfile.mkstemp) ".{name}.XXXXXXXX.tmp"; and the pid-named lock temporary of earlier versions.
_TEMP = re.compile(r"\.(?P<name>.+)\.(?:\d+-\d+|[a-z0-9_]{8})\.tmp")
_OLD_LOCK_TEMP = re.compile(r"\.forecast-score\.lock\.\d+\.tmp")


def is_own_file(name: str) -> bool:
    """Whether a file name in OUTDIR is one that ``forecast score`` writes there.

    The forecasts (``*.forecast.csv``, ``*.forecast.parquet``, ``combined.forecast.*``),
    ``summary.json``, the lock, the records (``.forecast-score.records.json``) and the
    temporaries of all of them. Such files in OUTDIR are never inputs.
    """
    if name in (SUMMARY_NAME, LOCK_NAME, RECORDS_NAME) or name.endswith(OUTPUT_SUFFIXES):
        return True
    return _is_own_temp(name)


def _is_own_temp(name: str) -> bool:
    """Whether ``name`` is the temporary of one of this tool's files in OUTDIR (see :func:`is_own_file`)."""
    if _OLD_LOCK_TEMP.fullmatch(name):
        return True
    m = _TEMP.fullmatch(name)
    return bool(m) and is_own_file(m.group("name"))


def clean_temporaries(outdir) -> list[str]:
    """Remove this tool's temporaries from OUTDIR; call it holding the lock.

    A run ended by ``kill -9`` or a crash leaves the temporary it was writing (a signal or an
    error removes it). Only names of :func:`is_own_file`'s temporaries are removed, never a
    directory. Returns the names removed.
    """
    removed = []
    with os.scandir(outdir) as it:
        for e in it:
            if e.name.endswith(".tmp") and _is_own_temp(e.name) and not e.is_dir(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(e.path)
                    removed.append(e.name)
    return sorted(removed)


# --------------------------------------------------------------------------- records (--skip-existing)
def sha256_file(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def source_record(path, st: os.stat_result) -> dict:
    """What a forecast is made from, as far as the input goes; ``sha256`` is filled in when needed."""
    return {"input": os.path.realpath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": None}


class Records:
    """What each forecast in OUTDIR was made from: ``OUTDIR/.forecast-score.records.json``.

    One record per output name: the input (real path, size, mtime_ns, SHA-256), the settings
    that change a forecast (bundle and model SHA-256, steps, levels, format, date reading) and
    the forecast file itself (size, mtime_ns, SHA-256). ``--skip-existing`` skips an input only
    when all of it matches (:meth:`up_to_date`); a missing, unreadable or different record means
    "score it again".

    The file is written atomically with ``summary.json`` (at the end of a run and after an
    interruption) and every 30 s during a long run, never once per forecast (that would double the
    files created). After ``kill -9`` it is older than the forecasts: a forecast rewritten since
    no longer matches the size, mtime and SHA-256 its old record holds, so it is scored again,
    never skipped stale.
    """

    SAVE_EVERY_S = 30.0

    def __init__(self, outdir):
        self.path = Path(outdir) / RECORDS_NAME
        try:
            data = json.loads(self.path.read_bytes())
            recs = data.get("records") if isinstance(data, dict) and data.get("version") == 1 else None
        except (OSError, ValueError):
            recs = None
        self.records: dict = recs if isinstance(recs, dict) else {}
        self.dirty = False
        self.saved_at = time.monotonic()

    def up_to_date(self, name: str, path, out_path: Path, source: dict, settings: dict) -> bool:
        """Whether ``out_path`` was made from this very input content with these settings.

        Cheap checks first (from the stat already made): the input's path, size and mtime_ns,
        the settings, the forecast's size and mtime_ns. Only if they all match are the forecast and
        the input read to compare their SHA-256 with the record's, so content changed with its
        size and mtime kept (``cp -p``, coarse file-system clocks) is rescored too.
        """
        rec = self.records.get(name)
        if not isinstance(rec, dict) or rec.get("settings") != settings:
            return False
        if any(rec.get(k) != source[k] for k in ("input", "size", "mtime_ns")):
            return False
        out = rec.get("output") if isinstance(rec.get("output"), dict) else {}
        try:
            ost = os.stat(out_path)
            if (out.get("size"), out.get("mtime_ns")) != (ost.st_size, ost.st_mtime_ns):
                return False
            if sha256_file(out_path) != out.get("sha256"):
                return False
            source["sha256"] = sha256_file(path)
        except OSError:
            return False
        return rec.get("sha256") == source["sha256"]

    def forget(self, name: str) -> None:
        if self.records.pop(name, None) is not None:
            self.dirty = True

    def add(self, name: str, source: dict, settings: dict, out_path: Path, digest: str) -> None:
        """Record a forecast just renamed into place (``digest``: the SHA-256 of its bytes)."""
        ost = os.stat(out_path)
        self.records[name] = {**source, "settings": settings,
                              "output": {"size": ost.st_size, "mtime_ns": ost.st_mtime_ns, "sha256": digest}}
        self.dirty = True

    def save(self, when_due: bool = False) -> None:
        """Write the records (of forecasts that still exist) atomically; with ``when_due``, only every 30 s."""
        from .files import write_atomic

        if not self.dirty or (when_due and time.monotonic() - self.saved_at < self.SAVE_EVERY_S):
            return
        present = set(os.listdir(self.path.parent))
        self.records = {k: v for k, v in self.records.items() if k in present}
        write_atomic(self.path, json.dumps({"version": 1, "records": self.records}).encode("utf-8"))
        self.dirty = False
        self.saved_at = time.monotonic()


# --------------------------------------------------------------------------- lock
class ScoreLock:
    """``OUTDIR/.forecast-score.lock``, held with ``flock(2)`` (through :mod:`filelock`) while a run writes.

    The kernel releases the lock when its process ends, however it ends (``kill -9``, a crash,
    a power cut), so a lock file left behind never blocks a later run and what it holds is never
    read. A symbolic link at the lock path is refused, never followed (its target is not
    touched), as is anything else that is not a regular file; an OUTDIR where the lock cannot be
    created is a one-line :class:`DataError` that names it. The lock file is removed, while still
    held, when the run ends.
    """

    def __init__(self, outdir: Path, on_warning: Callable[[str], None] | None = None):
        self.path = Path(outdir) / LOCK_NAME
        self._lock = None
        self._id: tuple | None = None

    def _open_check(self) -> None:
        """Create the lock file if missing (never through a symlink) and check that it is a regular file."""
        outdir = self.path.parent
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as e:
            if os.path.islink(self.path):
                raise DataError(f"{self.path} is a symbolic link; forecast score keeps its lock file there and "
                                "never follows a link at that name: remove the link") from None
            if os.path.isdir(self.path):
                raise DataError(f"{self.path} is a directory; forecast score keeps its lock file at that name: "
                                "remove the directory") from None
            raise DataError(f"cannot write to the output directory {outdir}: cannot create {LOCK_NAME} there "
                            f"({e.strerror or e}); give -o a directory this user can write to") from None
        try:
            mode = os.fstat(fd).st_mode
        finally:
            os.close(fd)
        if not stat.S_ISREG(mode):
            raise DataError(f"{self.path} is not a regular file; forecast score keeps its lock file at that name: "
                            "remove it")

    def acquire(self) -> "ScoreLock":
        from filelock import Timeout, UnixFileLock

        self._open_check()
        lock = UnixFileLock(os.fspath(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise DataError(f"another forecast score run is writing to {self.path.parent}; wait for it to finish "
                            "(its lock is released when it ends, however it ends)") from None
        except OSError as e:
            raise DataError(f"cannot lock {self.path} ({e.strerror or e}); give -o a directory this user can "
                            "write to, on a local file system") from None
        self._lock = lock
        with contextlib.suppress(OSError):
            st = os.lstat(self.path)
            self._id = (st.st_dev, st.st_ino)
        return self

    def release(self) -> None:
        if self._lock is None:
            return
        try:  # removed while still held: a run that opened it meanwhile finds it unlinked and tries again
            with contextlib.suppress(OSError):
                st = os.lstat(self.path)
                if (st.st_dev, st.st_ino) == self._id:
                    os.unlink(self.path)
        finally:
            self._lock.release()
            self._lock = None

    @property
    def held(self) -> bool:
        return self._lock is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
