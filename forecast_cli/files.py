"""Files on disk: inputs that are safe to open, and outputs written under a temporary name and renamed into place.

A reader never sees half a file, and an interrupted write leaves the target as it was and no
temporary behind. An existing regular file is replaced; a symlink to one keeps its link (the
file it points to is replaced); what is not a regular file (a FIFO, ``/dev/null``,
``/dev/stdout``) is written straight into, never replaced by a file. :func:`check_output`
refuses, before any work, an output that is a directory, lies in a folder that does not exist,
or is the input itself.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path

from .errors import ConfigError, DataError

__all__ = ["atomic_write", "write_atomic", "check_output", "not_regular"]


def check_output(path: str | os.PathLike, *, option: str = "--output", example: str = "out.csv",
                 inputs: tuple = ()) -> None:
    """Refuse an output path before any work is done: one line that names ``option``.

    A directory (or a name ending in ``/``), a file in a folder that does not exist, and the
    same file as one of ``inputs`` are refused (:class:`ConfigError`, exit 2).
    """
    text = os.fspath(path)
    p = Path(text)
    if p.is_dir():
        raise ConfigError(f"{option} {text} is a directory; give a file name such as {example}")
    if text.endswith(("/", os.sep)):
        raise ConfigError(f"{option} {text}: the folder does not exist, and {option} takes a file name "
                          f"such as {example}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{option} {text}: the folder {parent} does not exist; create it first")
    for source in inputs:
        if source is None or os.fspath(source) == "-":
            continue
        with contextlib.suppress(OSError):
            if os.path.samefile(source, p):
                raise ConfigError(f"{option} {text} is the input file {os.fspath(source)}; "
                                  "write the output to another file")


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def not_regular(path) -> str | None:
    """What ``path`` is when it is not a regular file (after symlinks), else None.

    Reading a device (``/dev/zero``) never ends and opening a FIFO with no writer blocks, so
    every input (CSV, bundle, config file) that is not a regular file is refused before it is
    opened.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # open() reports it
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _KINDS if test(mode)), "not a file")


def _special(path: str | os.PathLike) -> bool:
    """Whether ``path`` exists and is not a regular file or folder (a FIFO, a device, a socket)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", durable: bool = True):
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds.

    An exception (or a signal turned into one) leaves ``path`` untouched and no temporary behind.
    ``durable`` also fsyncs the file before the rename (survives a power cut, not just a crash);
    batch scoring turns it off per file and syncs once at the end of the run.

    A path that is not a regular file (a FIFO, a character device) is written straight into, not
    replaced; a symlink to a regular file keeps its link and its target is replaced.
    """
    if _special(path):
        with open(path, mode) as fh:
            yield fh
        return
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except FileNotFoundError:
        raise DataError(f"cannot write {path}: the folder {directory} does not exist") from None
    except PermissionError:
        raise DataError(f"cannot write {path}: no permission to create files in {directory}") from None
    try:
        # mkstemp makes the file 0600; give it the permissions an ordinary open() would (umask).
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place (not fsynced).

    :func:`atomic_write` in four system calls (open, write, close, rename), for batch scoring's
    thousands of small files. The temporary's name holds the process and thread, and a symlink
    planted there is refused (``O_NOFOLLOW``); the kernel applies the umask.
    """
    path = os.fspath(path)
    tmp = f"{os.path.dirname(path) or '.'}/.{os.path.basename(path)}.{os.getpid()}-{threading.get_ident()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:  # the open inside: a signal turned into an exception right after it still removes the file
        fd = os.open(tmp, flags, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
