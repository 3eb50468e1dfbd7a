"""Process-wide set-up: quiet, lazily imported TensorFlow/Keras, thread counts and seeds.

Nothing here imports TensorFlow at module import time; ``import_keras()`` does, once.
"""
from __future__ import annotations

import contextlib
import os
import random
import sys

__all__ = ["import_keras", "configure", "seed_everything", "deferred_interrupts", "interrupt",
           "raise_pending", "VERBOSE"]

VERBOSE = False
_configured = False


@contextlib.contextmanager
def _quiet_fd2(active: bool):
    """Send file descriptor 2 to /dev/null inside the block.

    TensorFlow's C++ start-up messages (oneDNN notices) ignore TF_CPP_MIN_LOG_LEVEL; Python
    exceptions still propagate, so a failed import is still reported.
    """
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras():
    """Import and return ``keras`` with TensorFlow's C++ and Python log noise silenced.

    Set ``forecast_cli.runtime.VERBOSE = True`` (the CLI's ``--verbose``) to keep the logs.
    """
    if not VERBOSE:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _quiet_fd2(not VERBOSE):
        import tensorflow as tf  # noqa: F401
        import keras

    if not VERBOSE:
        import logging

        tf.get_logger().setLevel(logging.ERROR)
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # pragma: no cover
            pass
    return keras


def configure(threads: int = 1) -> None:
    """Set TensorFlow's thread pools once per process (before it runs any op).

    Measured on a 2-core machine: intra_op=1, inter_op=1 gave steadier and faster epochs
    than TensorFlow's default. ``threads=0`` keeps TensorFlow's choice.
    """
    global _configured
    if _configured:
        return
    import_keras()
    import tensorflow as tf

    if threads > 0:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised by the caller: keep its settings
            pass
    _configured = True


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow so the same seed gives the same numbers."""
    keras = import_keras()
    random.seed(seed)
    keras.utils.set_random_seed(int(seed))


# Signal handlers that raise (the CLI's SIGTERM handler) must not raise inside TensorFlow or
# Keras: their tracing and layer-call wrappers catch, rewrap or half-handle exceptions, and one
# raised in a ``__del__`` is only printed. Network calls run inside ``deferred_interrupts()``; an
# interruption arriving there is raised at the next ``raise_pending()`` (training calls it at
# every batch start) or when the block ends.
_defer_depth = 0
_pending: BaseException | None = None


@contextlib.contextmanager
def deferred_interrupts():
    """Hold an interruption raised through :func:`interrupt` until the block has finished (or
    until a :func:`raise_pending` inside it)."""
    global _defer_depth, _pending
    _defer_depth += 1
    try:
        yield
    finally:
        _defer_depth -= 1
        if not _defer_depth and _pending is not None:  # the interruption wins over any other error
            exc, _pending = _pending, None
            raise exc


def interrupt(exc: BaseException) -> None:
    """Raise ``exc`` now, or, inside a :func:`deferred_interrupts` block, at the next
    :func:`raise_pending` or when the block ends (for signal handlers)."""
    global _pending
    if _defer_depth:
        _pending = exc
        return
    raise exc


def raise_pending() -> None:
    """Raise the interruption :func:`interrupt` holds, if any (a safe point, such as a batch start)."""
    global _pending
    if _pending is not None:
        exc, _pending = _pending, None
        raise exc
