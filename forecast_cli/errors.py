"""Typed errors raised by the library; the CLI maps each kind to an exit code.

Every message is one line that names what is wrong (file, column, row, option)
and how to fix it. The CLI prints ``error: <message>`` on stderr and exits
with ``exit_code``; it shows a traceback only with ``--debug``.
"""
from __future__ import annotations

__all__ = [
    "ForecastError",
    "DataError",
    "ConfigError",
    "BundleError",
    "Interrupted",
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "EXIT_PARTIAL",
    "EXIT_INTERRUPTED",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_INTERRUPTED = 130


class ForecastError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, path: str | None = None):
        self.path = str(path) if path is not None else None
        if self.path and not message.startswith(self.path):
            message = f"{self.path}: {message}"
        super().__init__(message)

    @property
    def message(self) -> str:
        return self.args[0]


class DataError(ForecastError):
    """The input data cannot be used: unreadable file, missing column, too short, gaps..."""


class ConfigError(ForecastError):
    """Settings that contradict each other or the data (e.g. lookback longer than the series)."""

    exit_code = EXIT_USAGE


class BundleError(ForecastError):
    """A model bundle is missing, not a bundle, tampered with, or of an unknown format."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM arrived (Ctrl-C raises Python's own KeyboardInterrupt); nothing half-written was
    left behind.

    A ``KeyboardInterrupt``, not a :class:`ForecastError`: like Ctrl-C it must get through every
    ``except Exception`` on its way out, in this code and in the libraries a command runs (pandas,
    TensorFlow, Keras), which would otherwise swallow it or report it as another error.
    """

    exit_code = EXIT_INTERRUPTED

    @property
    def message(self) -> str:
        return self.args[0] if self.args else "interrupted; nothing half-written was left behind"
