"""What runs on a Dask worker: the thread cap set when a worker starts, and the generic task call.

Imported on the workers (and by :mod:`forecast_cli.cluster` on the driver) only when a command runs
with ``--scheduler`` or ``--workers``. The worker's share of its machine's cores is set once, when
the worker starts (:class:`ThreadCap`), before any task imports TensorFlow.
"""
from __future__ import annotations

import os

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # the [dask] extra is missing: cluster.import_distributed says so before this is used
    WorkerPlugin = object

__all__ = ["ThreadCap", "call", "usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one).

    >>> usable_cores() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ThreadCap(WorkerPlugin):
    """Give each worker's TensorFlow ``cores // (workers on its host)`` threads (at least 1).

    Args:
        hosts: worker processes per host, as the scheduler listed them when the run connected.
            A worker on a host missing from it (one that joined later) gets 1 thread.
    """

    idempotent = True

    def __init__(self, hosts: dict):
        self.hosts = {str(k): int(v) for k, v in hosts.items()}

    def setup(self, worker) -> None:
        from .runtime import cap_threads

        host = getattr(worker.state, "address", None) or worker.address
        host = host.split("://", 1)[-1].rsplit(":", 1)[0]
        n = self.hosts.get(host)
        cap_threads(max(1, usable_cores() // n) if n else 1)


def call(fn, item):
    """``fn(item)``: the task :func:`forecast_cli.cluster.map_tasks` runs (``fn`` is scattered once)."""
    return fn(item)
