"""Save, load and verify a model bundle (``.fcst``); read its manifest without TensorFlow.

A bundle is one zip file holding ``manifest.json`` and ``model.keras``. The manifest carries
the format version, versions of the tools, the data contract, the settings, the scaler as
numbers, a fingerprint of the training data, holdout metrics and conformal residual
quantiles, and the SHA-256 of ``model.keras``. Nothing is pickled; Keras loads the model with
``safe_mode=True``. Every file is written to a temporary name and renamed into place.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import platform
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

from . import __version__
from . import manifest as manifest_schema
from .errors import BundleError
from .files import atomic_write, not_regular
from .manifest import MAX_MANIFEST_BYTES, MAX_STORED_RESIDUAL_VALUES

__all__ = ["FORMAT", "FORMAT_VERSION", "read_manifest", "save_bundle", "load_bundle", "sha256_bytes", "fingerprint",
           "verify"]

FORMAT = "forecast-cli-bundle"
FORMAT_VERSION = 1
# Limits on what a bundle may hold, checked before anything is decompressed or loaded. The biggest
# model.keras the tool accepts (its weights dominate it); the other members have their own caps.
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_OUTER_MEMBERS = 16
OUTER_LIMITS = {"manifest.json": MAX_MANIFEST_BYTES, "model.keras": MAX_MEMBER_BYTES}
# model.keras is a zip too: Keras 3 writes exactly these members (no assets/ for the layers this tool
# builds). Nothing else is accepted, and only these are handed to Keras, in a rebuilt archive.
KERAS_LIMITS = {"config.json": 1024 * 1024, "metadata.json": 64 * 1024, "model.weights.h5": MAX_MEMBER_BYTES}
KERAS_REQUIRED = ("config.json", "model.weights.h5")
# A member over RATIO_MIN_BYTES may expand at most MAX_RATIO times (zeros deflate ~1000 times;
# real weights and manifests 1.1 to 10 times).
MAX_RATIO = 200
RATIO_MIN_BYTES = 1024 * 1024
CHUNK = 1024 * 1024


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def fingerprint(frame) -> dict:
    """A fingerprint of a training frame: rows, columns, first/last timestamp, SHA-256 of the values."""
    import numpy as np

    vals = np.ascontiguousarray(frame.to_numpy(dtype="float64"))
    idx = frame.index.asi8 if hasattr(frame.index, "asi8") else np.arange(len(frame))
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(idx).tobytes())
    h.update(vals.tobytes())
    return {"rows": int(len(frame)), "columns": [str(c) for c in frame.columns],
            "start": str(frame.index[0]) if len(frame) else None,
            "end": str(frame.index[-1]) if len(frame) else None, "sha256": h.hexdigest()}


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"forecast_cli": __version__, "python": platform.python_version()}
    for pkg in ("tensorflow", "tensorflow-cpu", "keras", "numpy", "pandas", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def save_bundle(path: str | os.PathLike, forecaster, manifest_extra: dict) -> dict:
    """Write ``forecaster`` (a fitted NeuralForecaster) and its manifest to ``path`` atomically.

    ``manifest_extra`` holds the data contract (``data``), metrics, residual quantiles, the
    training fingerprint, and anything else to record. Returns the manifest written.
    """
    from .config import to_dict
    from .runtime import deferred_interrupts

    with tempfile.TemporaryDirectory(prefix="forecast_bundle_") as td:
        kpath = os.path.join(td, "model.keras")
        with deferred_interrupts():  # a signal during Keras' save is raised after it, not inside it
            forecaster.model_.save(kpath)
        model_bytes = Path(kpath).read_bytes()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "window": to_dict(forecaster.window),
        "model": to_dict(forecaster.model_cfg),
        "train": to_dict(forecaster.train_cfg),
        "n_targets": int(forecaster.n_targets),
        "scaler": forecaster.scaler_.to_dict(),
        **manifest_extra,
        "model_sha256": sha256_bytes(model_bytes),
    }
    if getattr(forecaster, "transform_", None) is not None:  # the fitted target transform (forecast_cli.transforms)
        from .transforms import transform_section

        manifest["transform"] = transform_section(forecaster, (manifest.get("data") or {}).get("target")
                                                  or [f"target {j + 1}" for j in range(forecaster.n_targets)])
    _thin_residuals(manifest)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=False))
        zf.writestr("model.keras", model_bytes)
    with atomic_write(path) as fh:
        fh.write(buf.getvalue())
    return manifest


def _thin_residuals(manifest: dict) -> None:
    """Keep at most MAX_STORED_RESIDUAL_VALUES conformal residuals (the most recent windows of each step and
    target), so that the manifest stays under the size every reader accepts (long horizons x many targets)."""
    res = (manifest.get("conformal") or {}).get("residuals")
    if not res or not res[0]:
        return
    per_window = len(res) * len(res[0])
    keep = max(1, MAX_STORED_RESIDUAL_VALUES // per_window)
    if len(res[0][0]) > keep:
        manifest["conformal"]["residuals"] = [[cell[-keep:] for cell in row] for row in res]


def _open_zip(path) -> zipfile.ZipFile:
    """The bundle as an open zip, after checking its directory: member count, names, declared sizes and
    compression ratios. Nothing is decompressed here."""
    p = Path(path)
    if not p.exists():
        raise BundleError("bundle not found; check the path", path=path)
    if p.is_dir():
        raise BundleError("is a directory, not a bundle file; give the .fcst file made by 'forecast train -o'",
                          path=path)
    kind = not_regular(p)
    if kind:
        raise BundleError(f"is not a regular file ({kind}); give the .fcst file made by 'forecast train -o'",
                          path=path)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise BundleError("not a forecast bundle (not a zip file); make one with 'forecast train -o MODEL.fcst'",
                          path=path) from None
    try:
        infos = zf.infolist()
        if len(infos) > MAX_OUTER_MEMBERS:
            raise _unsafe(path, f"it holds {len(infos)} members (limit {MAX_OUTER_MEMBERS})")
        for info in infos:
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
                raise BundleError(f"refused: member name {name!r} escapes the bundle; the file is not trustworthy",
                                  path=path)
            _check_declared(info, OUTER_LIMITS.get(name, MAX_MEMBER_BYTES), "member", path)
        if len({i.filename for i in infos}) != len(infos):
            raise _unsafe(path, "it holds two members of the same name")
    except BaseException:
        zf.close()
        raise
    return zf


def _unsafe(path, what: str) -> BundleError:
    """The one refusal for a bundle whose zip structure is damaged or hostile."""
    return BundleError(f"damaged or unsafe bundle: {what}; retrain or copy the bundle again", path=path)


def _check_declared(info: zipfile.ZipInfo, limit: int, label: str, path) -> None:
    """Refuse a member whose declared size is over ``limit``, whose compression ratio is that of a zip bomb,
    or that is stored in a way this tool never writes (encrypted, other compression methods)."""
    name, size = info.filename, info.file_size
    if size > limit:
        raise _unsafe(path, f"{label} {name!r} is {size:,} bytes (limit {limit:,})")
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _unsafe(path, f"{label} {name!r} is encrypted or compressed with an unknown method")
    if size > RATIO_MIN_BYTES and size > MAX_RATIO * info.compress_size:
        raise _unsafe(path, f"{label} {name!r} expands {size // max(info.compress_size, 1):,} times "
                            f"(limit {MAX_RATIO})")


def _member_chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, label: str, path):
    """The bytes of one member, in chunks of at most CHUNK bytes, never more than its declared size.

    The declared size must be within ``limit``. :mod:`zipfile` itself never returns more than
    the declared size and checks the CRC-32 at the end, so a member whose data holds more than
    its header declares (a zip bomb that lies), or is otherwise damaged, is refused there, with
    memory held to a few chunks (measured: a member declaring 38 KB and holding 200 MiB is
    refused at a peak of 2.4 MiB in 4 ms).
    """
    name, declared = info.filename, info.file_size
    if declared > limit:
        raise _unsafe(path, f"{label} {name!r} is {declared:,} bytes (limit {limit:,})")
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
    except (zipfile.BadZipFile, zlib.error) as e:
        raise _unsafe(path, f"{label} {name!r} is damaged: its data does not match its header ({e})") from None


def _read_member(zf: zipfile.ZipFile, name: str, path, limit: int, label: str = "member") -> bytes:
    """A whole member (at most ``limit`` bytes), read by :func:`_member_chunks`."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise BundleError(f"not a forecast bundle: it has no {name}; make one with 'forecast train -o'",
                          path=path) from None
    try:
        return b"".join(_member_chunks(zf, info, limit, label, path))
    except (OSError, EOFError, struct.error) as e:
        raise BundleError(f"damaged bundle: cannot read {name} ({e}); retrain or copy it again", path=path) from None


def read_manifest(path: str | os.PathLike) -> dict:
    """The checked manifest of a bundle (see :mod:`forecast_cli.manifest`). Needs no TensorFlow."""
    with _open_zip(path) as zf:
        raw = _read_member(zf, "manifest.json", path, MAX_MANIFEST_BYTES)
    return manifest_schema.check(manifest_schema.parse(raw, path), path)


def load_bundle(path: str | os.PathLike):
    """Load, verify and return ``(forecaster, manifest)``: a NeuralForecaster, or for a bundle of many
    series (a ``panel`` section) a :class:`~forecast_cli.global_model.GlobalForecaster`; both forecast
    stacked windows with ``predict_windows``.

    The SHA-256 of ``model.keras`` must match the manifest, its members must pass
    :func:`_checked_keras_archive` and its ``config.json`` must fit the manifest before Keras sees
    it; Keras then loads a rebuilt archive of the checked members only, with ``safe_mode=True``
    (no Lambda layers: a bundle cannot run code), and the loaded network's input and output shapes
    must match the manifest.
    """
    from .config import ModelConfig, TrainConfig, WindowConfig, from_dict
    from .windows import Scaler

    manifest = read_manifest(path)
    try:  # the schema has checked every value these read; this only builds them
        window = from_dict(WindowConfig, manifest["window"]).check()
        # a bundle from before --transform existed was trained without one
        model_cfg = from_dict(ModelConfig, {"transform": "none", **manifest["model"]}).check().check_window(window)
        train_cfg = from_dict(TrainConfig, manifest["train"])
        scaler = Scaler.from_dict(manifest["scaler"])
    except Exception as e:
        raise BundleError(f"damaged bundle: manifest settings are invalid ({e}); retrain or copy the bundle again",
                          path=path) from None

    from . import runtime

    with tempfile.TemporaryDirectory(prefix="forecast_load_") as td:
        kpath = os.path.join(td, "model.keras")
        with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024, dir=td) as original:
            _copy_verified_model(path, manifest, original)
            _checked_keras_archive(original, manifest, path, rebuild_to=kpath)
        # a signal while TensorFlow imports or Keras loads is raised after it: inside, it could be
        # swallowed, or caught below and reported as a refused model
        with runtime.deferred_interrupts():
            keras = runtime.import_keras()
            from .models import CUSTOM_OBJECTS

            try:
                model = keras.saving.load_model(kpath, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True)
            except Exception as e:  # Keras raises ValueError/TypeError for unsafe or broken models
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise BundleError(f"refused to load model.keras: {msg[:300]}", path=path) from None
    try:
        manifest_schema.check_model_shapes(model, manifest)
    except BundleError as e:
        raise BundleError(e.message, path=path) from None
    if isinstance(manifest.get("panel"), dict):
        # A model of many series: every window is normalised on its own by the GlobalForecaster, never by
        # the manifest's (identity) scaler, so it is the forecaster every caller gets.
        from .errors import ConfigError
        from .global_model import GlobalForecaster

        try:
            forecaster = GlobalForecaster.from_state(manifest["panel"]["state"], [model], window, model_cfg, train_cfg)
        except (ConfigError, KeyError, TypeError, ValueError) as e:
            raise BundleError(f"inconsistent bundle: the global model's state does not fit ({e}); retrain",
                              path=path) from None
        return forecaster, manifest
    from .training import NeuralForecaster

    forecaster = NeuralForecaster.from_parts(window, model_cfg, train_cfg, manifest["n_targets"], model, scaler)
    return _with_transform(forecaster, manifest), manifest


def _with_transform(net, manifest: dict):
    """``net`` wrapped in the bundle's fitted target transform (:mod:`forecast_cli.transforms`); as it
    is when the manifest has none (a bundle from before the transform, or ``--transform none``)."""
    section = manifest.get("transform")
    if not isinstance(section, dict):
        return net
    from .transforms import TargetTransform, TransformedForecaster

    tf = TargetTransform.from_dict(section)
    return net if tf.identity else TransformedForecaster(net, transform=tf)


def verify(path: str | os.PathLike) -> dict:
    """The manifest, after checking the SHA-256 of ``model.keras`` against it and its members against the
    limits and the manifest (as :func:`load_bundle` does before loading). Needs no TensorFlow.

    Used by ``forecast inspect``: ``model.keras`` is hashed in chunks and spooled to a private
    temporary file only past 16 MiB; nothing is extracted.
    """
    manifest = read_manifest(path)
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as original:
        _copy_verified_model(path, manifest, original)
        _checked_keras_archive(original, manifest, path)
    return manifest


def _copy_verified_model(path, manifest: dict, sink) -> None:
    """Copy ``model.keras`` into the file object ``sink`` in chunks, refusing it unless its SHA-256 is the
    manifest's."""
    h = hashlib.sha256()
    with _open_zip(path) as zf:
        try:
            info = zf.getinfo("model.keras")
        except KeyError:
            raise BundleError("not a forecast bundle: it has no model.keras; make one with 'forecast train -o'",
                              path=path) from None
        try:
            for chunk in _member_chunks(zf, info, MAX_MEMBER_BYTES, "member", path):
                h.update(chunk)
                sink.write(chunk)
        except (OSError, EOFError, struct.error) as e:
            raise BundleError(f"damaged bundle: cannot read model.keras ({e}); retrain or copy it again",
                              path=path) from None
    if h.hexdigest() != manifest["model_sha256"]:
        raise BundleError("refused: model.keras does not match the SHA-256 in manifest.json "
                          "(altered or damaged); retrain or copy the bundle again", path=path)
    sink.seek(0)


def _checked_keras_archive(fileobj, manifest: dict, path, rebuild_to: str | None = None) -> None:
    """Check the zip inside ``model.keras`` (``fileobj``) and, with ``rebuild_to``, write its checked members
    to a new archive there for Keras.

    Only the members Keras 3 writes (:data:`KERAS_LIMITS`) are accepted, each under its cap,
    with no zip-bomb ratio, read with :func:`_member_chunks` (never past its declared size), and
    ``config.json`` must fit the manifest (:func:`forecast_cli.manifest.check_model_config`)
    before the weights are read or any layer is built.
    """
    label = "model.keras member"
    try:
        inner = zipfile.ZipFile(fileobj)
        infos = inner.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _unsafe(path, "model.keras is not a Keras archive (not a zip file)") from None
    with inner:
        names = [i.filename for i in infos]
        if len(infos) > len(KERAS_LIMITS):
            raise _unsafe(path, f"model.keras holds {len(infos)} members (limit {len(KERAS_LIMITS)})")
        for info in infos:
            if info.filename not in KERAS_LIMITS:
                raise _unsafe(path, f"{label} {info.filename!r} is not one Keras writes (allowed: "
                                    f"{', '.join(KERAS_LIMITS)})")
            _check_declared(info, KERAS_LIMITS[info.filename], label, path)
        if len(set(names)) != len(names):
            raise _unsafe(path, "model.keras holds two members of the same name")
        missing = [n for n in KERAS_REQUIRED if n not in names]
        if missing:
            raise _unsafe(path, f"model.keras has no {missing[0]}")
        small = {n: b"".join(_member_chunks(inner, inner.getinfo(n), KERAS_LIMITS[n], label, path))
                 for n in names if n != "model.weights.h5"}
        weights = inner.getinfo("model.weights.h5")
        try:
            config = json.loads(small["config.json"].decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise _unsafe(path, f"{label} 'config.json' is not valid JSON") from None
        try:
            manifest_schema.check_model_config(config, manifest, weights.file_size)
        except BundleError as e:
            raise BundleError(e.message, path=path) from None
        chunks = _member_chunks(inner, weights, KERAS_LIMITS["model.weights.h5"], label, path)
        if rebuild_to is None:
            for _ in chunks:  # read to the end: sizes and CRC-32 checked, nothing kept
                pass
            return
        with zipfile.ZipFile(rebuild_to, "w", compression=zipfile.ZIP_STORED) as out:
            for n, data in small.items():
                out.writestr(n, data)
            with out.open("model.weights.h5", "w", force_zip64=True) as sink:
                for chunk in chunks:
                    sink.write(chunk)
