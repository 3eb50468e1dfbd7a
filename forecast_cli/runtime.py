"""Process-wide set-up: quiet, lazily imported TensorFlow/Keras, thread counts and seeds.

Nothing here imports TensorFlow at module import time; ``import_keras()`` does, once.
"""
from __future__ import annotations

import contextlib
import os
import random
import sys

__all__ = ["import_keras", "configure", "cap_threads", "thread_cap", "devices", "seed_everything",
           "deferred_interrupts", "interrupt", "raise_pending", "VERBOSE"]

VERBOSE = False
_configured = False
_thread_cap: int | None = None  # set on a Dask worker that shares its machine's cores (forecast_cli.cluster)


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


def cap_threads(n: int) -> None:
    """Let TensorFlow use at most ``n`` threads per pool in this process (before it runs any op).

    A Dask worker calls it (:mod:`forecast_cli.cluster`) with its share of the machine's cores, so
    that N workers on one machine do not start N thread pools of every core each. It also sets
    ``TF_NUM_INTRAOP_THREADS``/``TF_NUM_INTEROP_THREADS`` and the BLAS variables, read when TensorFlow
    starts. :func:`configure` then uses ``min(threads, n)`` (``threads=0``: ``n``), so ``--threads 1``
    (the default) is unchanged and the numbers are the same as in one process.
    """
    global _thread_cap
    _thread_cap = max(1, int(n))
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(_thread_cap)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(_thread_cap))


def thread_cap() -> int | None:
    """The cap :func:`cap_threads` set in this process, or None (no cap: one process, the default).

    >>> thread_cap() is None  # a Dask worker of forecast_cli.cluster has one
    True
    """
    return _thread_cap


def configure(threads: int = 1) -> None:
    """Set TensorFlow's thread pools once per process (before it runs any op).

    Measured on a 2-core machine: intra_op=1, inter_op=1 gave steadier and faster epochs
    than TensorFlow's default. ``threads=0`` keeps TensorFlow's choice (on a Dask worker with a
    :func:`cap_threads` cap: the cap, and any ``threads`` above it is lowered to it).
    """
    global _configured
    if _configured:
        return
    import_keras()
    import tensorflow as tf

    if _thread_cap is not None:
        threads = _thread_cap if threads <= 0 else min(threads, _thread_cap)
    if threads > 0:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised by the caller: keep its settings
            pass
    _configured = True


def devices() -> dict:
    """What TensorFlow sees: ``{"tensorflow": version, "devices": ["CPU:0", "GPU:0 (NVIDIA H200)"], "gpu": bool,
    "notes": [...]}``. Imports TensorFlow (seconds): ``forecast --version --verbose`` asks for it, never
    ``--version`` alone. ``notes`` says when the CPU-only build (``tensorflow-cpu``, the default pin on
    Linux x86_64) is what runs, or when it is installed beside the CUDA build of the ``[gpu]`` extra."""
    from importlib import metadata

    import_keras()
    import tensorflow as tf

    out, notes, gpu = [], [], False
    for d in tf.config.list_physical_devices():
        name = d.name.replace("/physical_device:", "")
        if d.device_type == "GPU":
            gpu = True
            try:
                detail = tf.config.experimental.get_device_details(d).get("device_name")
            except (ValueError, RuntimeError):  # pragma: no cover - details are optional
                detail = None
            name += f" ({detail})" if detail else ""
        out.append(name)
    installed = set()
    for dist in ("tensorflow", "tensorflow-cpu"):
        try:
            metadata.version(dist)
            installed.add(dist)
        except metadata.PackageNotFoundError:
            pass
    if installed == {"tensorflow", "tensorflow-cpu"}:
        notes.append("both tensorflow and tensorflow-cpu are installed and share one package folder; keep one: "
                     "pip uninstall -y tensorflow-cpu, then pip install --force-reinstall 'forecast-cli[gpu]'")
    if not gpu:
        notes.append("no GPU visible: training runs on the CPU" + (
            " (tensorflow-cpu is installed; on a machine with an NVIDIA GPU: pip install 'forecast-cli[gpu]')"
            if "tensorflow-cpu" in installed else ""))
    return {"tensorflow": tf.__version__, "devices": out, "gpu": gpu, "notes": notes}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow so the same seed gives the same numbers.

    Keras draws the seeds of its initialisers and of its global seed generator from Python's
    module-level ``random``, which every thread of the process shares. A Dask worker's other
    threads draw from it too (timer jitter), at moments that vary from run to run, so the same
    seed gave other weights on a worker than in one process. Keras' seed module is therefore given
    its own ``random.Random(seed)``: the same sequence that ``random.seed(seed)`` starts, drawn by
    Keras alone (the numbers of one process are unchanged).
    """
    keras = import_keras()
    random.seed(seed)
    keras.utils.set_random_seed(int(seed))
    try:
        from keras.src.random import seed_generator
    except ImportError:  # pragma: no cover - another Keras layout: its global random is used
        return
    if hasattr(seed_generator, "python_random"):
        seed_generator.python_random = random.Random(int(seed))


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
