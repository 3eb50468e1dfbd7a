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
import tempfile
import zipfile
import zlib
from pathlib import Path

from . import __version__
from .errors import BundleError
from .files import atomic_write

__all__ = ["FORMAT", "FORMAT_VERSION", "read_manifest", "save_bundle", "load_bundle", "sha256_bytes", "fingerprint",
           "verify"]

FORMAT = "forecast-cli-bundle"
FORMAT_VERSION = 1
MAX_MEMBER_BYTES = 512 * 1024 * 1024
_REQUIRED = {"format": str, "format_version": int, "model_sha256": str, "data": dict, "window": dict,
             "model": dict, "train": dict, "scaler": dict, "n_targets": int}


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
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=False))
        zf.writestr("model.keras", model_bytes)
    with atomic_write(path) as fh:
        fh.write(buf.getvalue())
    return manifest


def _open_zip(path) -> zipfile.ZipFile:
    p = Path(path)
    if not p.exists():
        raise BundleError("bundle not found; check the path", path=path)
    if p.is_dir():
        raise BundleError("is a directory, not a bundle file; give the .fcst file made by 'forecast train -o'",
                          path=path)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise BundleError("not a forecast bundle (not a zip file); make one with 'forecast train -o MODEL.fcst'",
                          path=path) from None
    for info in zf.infolist():
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
            zf.close()
            raise BundleError(f"refused: member name {name!r} escapes the bundle; the file is not trustworthy",
                              path=path)
        if info.file_size > MAX_MEMBER_BYTES:
            zf.close()
            raise BundleError(f"refused: member {name!r} is {info.file_size} bytes, over the limit", path=path)
    return zf


def _read_member(zf: zipfile.ZipFile, name: str, path) -> bytes:
    try:
        return zf.read(name)
    except KeyError:
        raise BundleError(f"not a forecast bundle: it has no {name}; make one with 'forecast train -o'",
                          path=path) from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise BundleError(f"damaged bundle: cannot read {name} ({e}); retrain or copy it again", path=path) from None


def _check_manifest(m, path) -> dict:
    if not isinstance(m, dict):
        raise BundleError("manifest.json is not a JSON object; the bundle is damaged", path=path)
    if m.get("format") != FORMAT:
        raise BundleError(f"not a forecast bundle (format {m.get('format')!r}, expected {FORMAT!r})", path=path)
    version = m.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BundleError(f"manifest field 'format_version' must be an integer, got {type(version).__name__}",
                          path=path)
    if version != FORMAT_VERSION:
        raise BundleError(f"unknown bundle format version {version} (this forecast-cli {__version__} reads "
                          f"version {FORMAT_VERSION}); use a matching forecast-cli or retrain", path=path)
    for key, typ in _REQUIRED.items():
        if key not in m:
            raise BundleError(f"manifest is missing field {key!r}; the bundle is damaged", path=path)
        if not isinstance(m[key], typ) or isinstance(m[key], bool):
            raise BundleError(f"manifest field {key!r} must be {typ.__name__}, got {type(m[key]).__name__}; "
                              "the bundle is damaged", path=path)
    return m


def read_manifest(path: str | os.PathLike) -> dict:
    """The checked manifest of a bundle. Needs no TensorFlow."""
    with _open_zip(path) as zf:
        raw = _read_member(zf, "manifest.json", path)
    try:
        m = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"manifest.json is not valid JSON ({e}); the bundle is damaged", path=path) from None
    return _check_manifest(m, path)


def load_bundle(path: str | os.PathLike):
    """Load, verify and return ``(forecaster, manifest)``.

    The SHA-256 of ``model.keras`` must match the manifest; Keras loads it with
    ``safe_mode=True`` so a bundle cannot run code (no Lambda layers).
    """
    from .config import ModelConfig, TrainConfig, WindowConfig, from_dict
    from .windows import Scaler

    manifest, model_bytes = _verified(path)
    try:
        window = from_dict(WindowConfig, manifest["window"]).check()
        model_cfg = from_dict(ModelConfig, manifest["model"]).check()
        train_cfg = from_dict(TrainConfig, manifest["train"])
        scaler = Scaler.from_dict(manifest["scaler"])
    except Exception as e:
        raise BundleError(f"manifest settings are invalid ({e}); the bundle is damaged", path=path) from None

    from . import runtime

    # a signal while TensorFlow imports or Keras loads is raised after it: inside, it could be
    # swallowed, or caught below and reported as a refused model
    with runtime.deferred_interrupts(), tempfile.TemporaryDirectory(prefix="forecast_load_") as td:
        keras = runtime.import_keras()
        from .models import CUSTOM_OBJECTS

        kpath = os.path.join(td, "model.keras")
        Path(kpath).write_bytes(model_bytes)
        try:
            model = keras.saving.load_model(kpath, custom_objects=CUSTOM_OBJECTS, compile=False, safe_mode=True)
        except Exception as e:  # Keras raises ValueError/TypeError for unsafe or broken models
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise BundleError(f"refused to load model.keras: {msg[:300]}", path=path) from None
    from .training import NeuralForecaster

    forecaster = NeuralForecaster.from_parts(window, model_cfg, train_cfg, manifest["n_targets"], model, scaler)
    return forecaster, manifest


def verify(path: str | os.PathLike) -> dict:
    """The manifest, after checking the SHA-256 of ``model.keras`` against it. Needs no TensorFlow.

    Used by ``forecast inspect``; :func:`load_bundle` makes the same check before loading.
    """
    return _verified(path)[0]


def _verified(path) -> tuple[dict, bytes]:
    """The checked manifest and the bytes of ``model.keras``, whose SHA-256 must match it."""
    manifest = read_manifest(path)
    with _open_zip(path) as zf:
        model_bytes = _read_member(zf, "model.keras", path)
    if sha256_bytes(model_bytes) != manifest["model_sha256"]:
        raise BundleError("refused: model.keras does not match the SHA-256 in manifest.json "
                          "(altered or damaged); retrain or copy the bundle again", path=path)
    return manifest, model_bytes
