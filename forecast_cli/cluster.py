"""A Dask cluster for ``score``, ``evaluate`` and ``tune``: connect to one, or start and stop a local one.

``--scheduler tcp://host:8786`` connects to a running cluster (``dask scheduler`` and ``dask worker``
processes, see ``docs/scale.md``); ``--workers N`` starts a local cluster of N worker processes
(one thread each) for the run and stops it afterwards, however the run ends (Ctrl-C included).
Without either option nothing here is imported and Dask is never loaded: the commands run in one
process as before.

Each worker runs TensorFlow with its share of its machine's cores (:class:`ThreadCap`, through
:func:`forecast_cli.runtime.cap_threads`), so that N workers on one machine do not oversubscribe
it. The worker-side functions live in :mod:`forecast_cli.dask_tasks`; nothing is pickled by this
tool itself (Dask serialises the tasks' plain arguments: arrays, dataclass configs, bytes).

Dask is an optional extra (``pip install 'forecast-cli[dask]'``), imported only inside these
functions.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from .errors import ConfigError, ForecastError

__all__ = ["INSTALL", "RETRIES", "Cluster", "check_options", "import_distributed", "open_cluster", "map_tasks",
           "task_error"]

INSTALL = "pip install 'forecast-cli[dask]'"
RETRIES = 2  # a task whose worker dies is run again elsewhere, this many times
CONNECT_TIMEOUT_S = 20
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|inproc|ws|wss)://)?[^\s/:]+(?::\d{1,5})?/?|(?:tcp|tls)://\[[0-9a-fA-F:]+\]:\d+")


def check_options(scheduler: str | None, workers: int | None) -> None:
    """Refuse ``--scheduler`` with ``--workers``, a worker count below 1 and an address that is not one.

    Imports nothing (the options are checked before any work).

    >>> check_options(None, None); check_options("tcp://10.0.0.5:8786", None); check_options(None, 2)
    >>> check_options("tcp://h:8786", 2)
    Traceback (most recent call last):
    ...
    forecast_cli.errors.ConfigError: give --scheduler ADDRESS (a running Dask cluster) or --workers N (a local one), not both
    >>> check_options("http://h:8787/status", None)
    Traceback (most recent call last):
    ...
    forecast_cli.errors.ConfigError: --scheduler 'http://h:8787/status' is not a scheduler address; give the one 'dask scheduler' prints, e.g. tcp://10.0.0.5:8786
    """
    if scheduler is not None and workers is not None:
        raise ConfigError("give --scheduler ADDRESS (a running Dask cluster) or --workers N (a local one), not both")
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise ConfigError(f"--workers must be an int >= 1. Got {workers}.")
    if scheduler is not None and not _ADDRESS.fullmatch(scheduler.strip()):
        raise ConfigError(f"--scheduler {scheduler!r} is not a scheduler address; give the one 'dask scheduler' "
                          "prints, e.g. tcp://10.0.0.5:8786")


def import_distributed():
    """``distributed``, or a one-line error (exit 1) saying how to install the extra."""
    try:
        import distributed
    except ImportError:
        raise ForecastError(f"--scheduler and --workers run on Dask, an optional extra: {INSTALL}") from None
    return distributed


@dataclass
class Cluster:
    """A connected client: ``n_workers`` when connected, ``local`` when this run started it."""

    client: object
    address: str
    n_workers: int
    local: bool

    @property
    def dashboard(self) -> str | None:
        return getattr(self.client, "dashboard_link", None)

    def map(self, fn: Callable, items: Iterable, *, label: str = "task") -> Iterator:
        """:func:`map_tasks` on this cluster."""
        return map_tasks(self.client, fn, items, label=label)


def _workers(client) -> dict:
    """Every worker the scheduler knows (``scheduler_info`` lists only 5 by default in some versions)."""
    try:
        return client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # a version before n_workers=
        return client.scheduler_info()["workers"]


def _hosts(client) -> dict:
    """Worker processes per host (from the scheduler), for :class:`~forecast_cli.dask_tasks.ThreadCap`."""
    counts: dict = {}
    for info in _workers(client).values():
        host = info.get("host")
        counts[host] = counts.get(host, 0) + 1
    return counts


@contextlib.contextmanager
def open_cluster(scheduler: str | None = None, workers: int | None = None, *,
                 on_info: Callable[[str], None] | None = None) -> Iterator[Cluster]:
    """Connect to ``scheduler``, or start a local cluster of ``workers`` processes; close it on the way out.

    Args:
        scheduler: a running scheduler's address (``tcp://host:8786``). Defaults to None.
        workers: worker processes of a local cluster (``threads_per_worker=1``). Defaults to None.
        on_info: receives a line naming the cluster and its dashboard. Defaults to None.

    Yields:
        A :class:`Cluster`. The client (and a local cluster) is closed when the block ends, also on
        an error or Ctrl-C; a local cluster's worker processes end with it.

    Raises:
        ForecastError: the extra is missing, or the scheduler cannot be reached (exit 1).
    """
    check_options(scheduler, workers)
    if scheduler is None and workers is None:
        raise ConfigError("open_cluster needs a scheduler address or a number of workers")
    distributed = import_distributed()
    import logging

    from .dask_tasks import ThreadCap

    cluster = client = None
    try:
        if scheduler is not None:
            try:
                client = distributed.Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
            except (OSError, TimeoutError) as e:
                raise ForecastError(f"cannot reach the Dask scheduler at {scheduler} ({type(e).__name__}: "
                                    f"{str(e).splitlines()[0] if str(e) else 'no answer'}); start it with "
                                    f"'dask scheduler' and check the address and port") from None
            n = len(_workers(client))
            if n == 0:
                try:
                    client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
                except TimeoutError:
                    raise ForecastError(f"no Dask worker joined the scheduler at {scheduler} within "
                                        f"{CONNECT_TIMEOUT_S} s; start workers with 'dask worker {scheduler}'") from None
                n = len(_workers(client))
        else:
            cluster = distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
            n = int(workers)
        client.register_plugin(ThreadCap(_hosts(client)), name="forecast-cli-thread-cap")
        info = Cluster(client, client.scheduler.address, n, cluster is not None)
        if on_info is not None:
            where = f"a local Dask cluster of {n} worker processes" if cluster is not None else \
                f"the Dask cluster at {info.address} ({n} workers)"
            on_info(f"running on {where}" + (f"; dashboard: {info.dashboard}" if info.dashboard else ""))
        yield info
    finally:
        with contextlib.suppress(BaseException):
            if client is not None:
                client.close()
        with contextlib.suppress(BaseException):
            if cluster is not None:
                cluster.close()


def task_error(e: BaseException, what: str) -> BaseException:
    """The error to raise for a task that failed: its own :class:`ForecastError` (and any error the
    task raised) as it is; a worker that died on every try, or a lost scheduler, as one line."""
    name = type(e).__name__
    if name == "KilledWorker":
        return ForecastError(f"{what}: the Dask worker running it died {RETRIES + 1} times (killed, or out of "
                             "memory?); see the workers' logs")
    if name in ("CommClosedError", "CancelledError", "FutureCancelledError") or isinstance(e, OSError) and \
            type(e).__module__.startswith("distributed"):
        return ForecastError(f"{what}: lost the Dask scheduler or its workers ({name}); check the cluster and rerun")
    return e


def map_tasks(client, fn: Callable, items: Iterable, *, label: str = "task") -> Iterator:
    """Run ``fn(item)`` for each item on the cluster; yield the results in the order of ``items``.

    ``fn`` (often a :func:`functools.partial` holding the data: a series' values, the configs) is
    sent to the cluster once (``scatter``), not once per task. A task whose worker dies is retried
    on another (:data:`RETRIES`); an error a task raises is raised here, when its result is
    reached, as in one process. Results not yet taken are cancelled when the iterator is closed.
    """
    from .dask_tasks import call

    items = list(items)
    if not items:
        return
    fn_future = client.scatter(fn, hash=False, broadcast=False)
    futures = client.map(call, [fn_future] * len(items), items, pure=False, retries=RETRIES)
    try:
        for k, f in enumerate(futures):
            try:
                result = f.result()
            except Exception as e:
                raise task_error(e, f"{label} {k + 1}") from None
            f.release()
            yield result
    finally:
        with contextlib.suppress(BaseException):
            client.cancel(futures + [fn_future])
