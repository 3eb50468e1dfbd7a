"""``forecast score`` on a Dask cluster: the inputs in batches, each read, forecast and written by a worker.

The run that holds OUTDIR's lock (the driver) does what it does in one process: it expands the
inputs, decides which to score (``--min-age``, ``--skip-existing``), keeps the records and
``summary.json``, and sets the exit code. It sends the bundle's bytes once, with their SHA-256
(never a pickled model); each worker checks the hash, loads the bundle once
(:meth:`Forecaster.load <forecast_cli.forecaster.Forecaster.load>` verifies it again) and keeps it
for its next batches. A batch is a list of inputs: the worker reads them, forecasts their last
windows with one network call per ``--batch-size`` windows and writes each forecast atomically
(a temporary name renamed into place) into OUTDIR, which must be a file system the workers share
with the driver (NFS, a cluster file system; on a local cluster, any folder). It returns each
input's summary entry and what to record, which the driver applies.

A batch whose worker dies is run again on another (Dask's ``retries``); its outputs are rewritten
whole. A batch that fails on every try leaves its inputs ``failed`` with a message that says so
(exit 3). Temporaries a dead worker left are removed when the run ends.
"""
from __future__ import annotations

import hashlib
import math
import tempfile
from pathlib import Path
from typing import Callable

from .errors import BundleError
from .scoring import Recorder, Scorer, _message

__all__ = ["score_on_cluster", "score_batch", "batches", "TASKS_PER_WORKER"]

TASKS_PER_WORKER = 4  # batches per worker at least: a slow or dead worker holds back a quarter of its share
_LOADED: dict = {}  # this worker's bundle: {sha256 of its bytes: Forecaster}


def batches(n: int, n_workers: int, batch_size: int) -> list[range]:
    """Split ``n`` inputs into consecutive batches: at least :data:`TASKS_PER_WORKER` per worker (when
    there are enough inputs), at most ``batch_size`` inputs each.

    >>> [len(b) for b in batches(10, 2, 4096)]
    [2, 2, 2, 2, 2]
    >>> [len(b) for b in batches(20_000, 2, 4096)]
    [2500, 2500, 2500, 2500, 2500, 2500, 2500, 2500]
    >>> batches(0, 2, 10)
    []
    """
    if n <= 0:
        return []
    size = max(1, min(int(batch_size), math.ceil(n / (TASKS_PER_WORKER * max(1, n_workers)))))
    return [range(a, min(a + size, n)) for a in range(0, n, size)]


def _forecaster(bundle: bytes, sha: str, model_sha: str):
    """The bundle of these bytes, loaded once per worker process, after checking their hash."""
    from .forecaster import Forecaster

    fc = _LOADED.get(sha)
    if fc is not None:
        return fc
    if hashlib.sha256(bundle).hexdigest() != sha:
        raise BundleError("the bundle this Dask worker received does not match the SHA-256 the run sent; "
                          "rerun (the transfer was corrupted)")
    with tempfile.TemporaryDirectory(prefix="forecast-bundle-") as d:
        path = Path(d) / "bundle.fcst"
        path.write_bytes(bundle)
        fc = Forecaster.load(path)  # verifies the model's hash and loads Keras with safe_mode
    if fc.manifest_["model_sha256"] != model_sha:
        raise BundleError("the bundle this Dask worker loaded holds another model than the run's; rerun")
    _LOADED.clear()
    _LOADED[sha] = fc
    return fc


def score_batch(bundle: bytes, spec: dict, batch: list) -> dict:
    """Score one batch on a worker: ``batch`` holds ``(entry, input path, output path, source record)``.

    Returns ``entries`` (each input's summary entry, in order), ``ops`` (what to record, for the
    driver's records: :class:`~forecast_cli.scoring.Recorder`), ``warnings`` and ``parts`` (the
    combined file's pieces, with ``combined``).
    """
    fc = _forecaster(bundle, spec["sha256"], spec["model_sha256"])
    warnings: list = []
    recorder = None if spec["combined"] else Recorder()
    scorer = Scorer(fc, cfg=spec["cfg"], steps=spec["steps"], levels=spec["levels"], bounds=spec["bounds"],
                    fmt=spec["fmt"], combined=spec["combined"], combined_path=spec["combined_path"],
                    settings=spec["settings"], records=recorder, warn=warnings.append)
    items = [(entry, Path(path), Path(out), source) for entry, path, out, source in batch]
    scorer.run(items, spec["batch_size"], settle=lambda entry: None)
    return {"entries": [entry for entry, _, _, _ in items], "ops": recorder.ops if recorder is not None else [],
            "warnings": warnings, "parts": scorer.parts}


def _strip_header(part: bytes) -> bytes:
    """A combined CSV piece without its header line (each worker's first piece has one)."""
    return part[part.index(b"\n") + 1:] if b"\n" in part else part


def score_on_cluster(cluster, bundle_path, items: list, scorer: Scorer, *, batch_size: int,
                     settle: Callable[[dict], None], warn: Callable[[str], None], log: list) -> None:
    """Score ``items`` (``(entry, path, out_path, source)``, as :meth:`Scorer.run` takes them) on the
    cluster's workers; update each entry in place, apply the records, call ``settle`` per input.

    ``log`` is the run's list of warnings: the batches' warnings are put there in input order
    (as one process would), whatever order the batches finish in.
    """
    from distributed import as_completed

    from .cluster import RETRIES, task_error
    from .outdir import clean_temporaries

    if not items:
        return
    client = cluster.client
    data = Path(bundle_path).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    expected = scorer.settings.get("bundle_sha256")
    if expected is not None and sha != expected:
        raise BundleError(f"{bundle_path} changed while the run started; rerun", path=None)
    outdir = Path(items[0][2]).parent
    spec = {"sha256": sha, "model_sha256": scorer.manifest["model_sha256"], "cfg": scorer.cfg, "steps": scorer.steps,
            "levels": scorer.levels, "bounds": scorer.bounds, "fmt": scorer.fmt, "combined": scorer.combined,
            "combined_path": str(scorer.combined_path) if scorer.combined_path is not None else None,
            "settings": scorer.settings, "batch_size": batch_size}
    bundle_f = client.scatter(data, broadcast=True, hash=False)
    spec_f = client.scatter(spec, broadcast=True, hash=False)
    chunks = batches(len(items), cluster.n_workers, batch_size)
    futures, which = [], {}
    for k, rng in enumerate(chunks):
        batch = [({**items[i][0]}, str(items[i][1]), str(items[i][2]), items[i][3]) for i in rng]
        f = client.submit(score_batch, bundle_f, spec_f, batch, pure=False, retries=RETRIES)
        futures.append(f)
        which[f.key] = k
    start = len(log)
    got_warnings: dict = {}
    got_parts: dict = {}
    records = scorer.records
    try:
        for f in as_completed(futures):
            k = which[f.key]
            rng = chunks[k]
            try:
                res = f.result()
            except Exception as e:  # the batch failed on every try: its inputs fail, the run goes on
                err = task_error(e, f"batch {k + 1} of {len(chunks)}")
                if isinstance(err, BundleError):
                    raise err from None
                for i in rng:
                    entry = items[i][0]
                    entry.update(status="failed", error=_message(err, entry["input"]))
                    settle(entry)
                continue
            finally:
                f.release()
            for i, new in zip(rng, res["entries"]):
                entry = items[i][0]
                entry.clear()
                entry.update(new)
            if records is not None:
                for op in res["ops"]:
                    if op[0] == "forget":
                        records.forget(op[1])
                    else:
                        _, name, source, digest = op
                        try:
                            records.add(name, source, scorer.settings, outdir / name, digest)
                        except OSError:  # written by the worker, gone since: not recorded, rescored next run
                            records.forget(name)
            for i in rng:
                settle(items[i][0])
            for w in res["warnings"]:
                warn(w)
            got_warnings[k] = res["warnings"]
            got_parts[k] = res["parts"]
            if records is not None:
                records.save(when_due=True)
    finally:
        client.cancel(futures + [bundle_f, spec_f])
    log[start:] = [w for k in sorted(got_warnings) for w in got_warnings[k]]  # input order, as one process
    for k in sorted(got_parts):  # each batch's first CSV piece has a header: the file keeps the first one only
        for j, part in enumerate(got_parts[k]):
            scorer.parts.append(_strip_header(part) if j == 0 and scorer.parts and isinstance(part, bytes) else part)
    removed = clean_temporaries(outdir)
    if removed:
        warn(f"removed {len(removed)} temporary file(s) that a Dask worker left in {outdir} when it died, "
             f"e.g. {removed[0]}")
