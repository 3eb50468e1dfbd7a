"""Limits on what a bundle holds, inside ``model.keras`` too, checked before anything is decompressed whole,
extracted or handed to Keras (issue 12, case 13).

Each hostile bundle is a variant of conftest's ``aapl_bundle`` whose manifest carries the right SHA-256 of
the crafted ``model.keras`` (an attacker can set it), so what stops it is the limit under test, not the hash.
"""
from __future__ import annotations

import hashlib
import io
import json
import struct
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from conftest import AAPL, one_line_error, zip_bytes, zip_members
from typer.testing import CliRunner

from forecast_cli import bundle as B
from forecast_cli.cli import app
from forecast_cli.errors import BundleError

runner = CliRunner()
MiB = 1024 * 1024




def lie_about_size(zbytes: bytes, name: str, declared: int) -> bytes:
    """``zbytes`` with the uncompressed size of ``name`` set to ``declared`` in its local and central headers
    (a zip bomb: the data holds more than the header says)."""
    b = bytearray(zbytes)
    info = zipfile.ZipFile(io.BytesIO(zbytes)).getinfo(name)
    struct.pack_into("<I", b, info.header_offset + 22, declared)
    central = b.find(b"PK\x01\x02")
    while central >= 0:
        n = struct.unpack_from("<H", b, central + 28)[0]
        if bytes(b[central + 46:central + 46 + n]) == name.encode():
            struct.pack_into("<I", b, central + 24, declared)
            break
        central = b.find(b"PK\x01\x02", central + 4)
    return bytes(b)


def with_model(bundle: Path, out: Path, model: bytes, compression=zipfile.ZIP_DEFLATED) -> Path:
    """A copy of ``bundle`` holding ``model`` as model.keras, with its SHA-256 in the manifest."""
    files = zip_members(bundle.read_bytes())
    m = json.loads(files["manifest.json"])
    m["model_sha256"] = hashlib.sha256(model).hexdigest()
    out.write_bytes(zip_bytes({"manifest.json": json.dumps(m).encode(), "model.keras": model}, compression))
    return out


def keras_members(bundle: Path) -> dict[str, bytes]:
    return zip_members(zip_members(bundle.read_bytes())["model.keras"])


def assert_refused_everywhere(bundle: Path, *words: str):
    """inspect and predict: exit 1, one line naming the bundle, 'damaged or unsafe bundle', the words."""
    for args in (["inspect", bundle], ["predict", bundle, AAPL]):
        r = runner.invoke(app, [str(a) for a in args])
        line = one_line_error(r, 1, *words)
        assert line.startswith(f"error: {bundle}: damaged or unsafe bundle: ") and r.stdout == "", line


def test_keras_members_are_the_ones_allowed(aapl_bundle):
    """What Keras 3 writes is what the check allows (if Keras changes this, the limits need a look)."""
    assert set(keras_members(aapl_bundle)) == set(B.KERAS_LIMITS)


def test_extra_member_in_model_keras_is_refused_and_never_extracted(aapl_bundle, tmp_path, monkeypatch):
    inner = keras_members(aapl_bundle)
    inner["extra.bin"] = b"anything: only the members Keras writes are accepted"
    bad = with_model(aapl_bundle, tmp_path / "extra.fcst", zip_bytes(inner, zipfile.ZIP_STORED))
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    assert_refused_everywhere(bad, "model.keras holds 4 members (limit 3)")
    assert list(private.iterdir()) == []


def test_unknown_member_name_in_model_keras_is_refused(aapl_bundle, tmp_path):
    inner = keras_members(aapl_bundle)
    inner["assets/extra.bin"] = inner.pop("metadata.json")  # still 3 members
    bad = with_model(aapl_bundle, tmp_path / "renamed.fcst", zip_bytes(inner, zipfile.ZIP_STORED))
    assert_refused_everywhere(bad, "model.keras member 'assets/extra.bin' is not one Keras writes")


def test_oversized_config_json_is_refused(aapl_bundle, tmp_path):
    """A config.json padded to 3 MiB (valid JSON) is over its 1 MiB cap; refused from its declared size."""
    inner = keras_members(aapl_bundle)
    inner["config.json"] = inner["config.json"][:-1] + b" " * (3 * MiB) + b"}"
    # stored, not deflated, at both levels: the outer ratio limit would stop it first
    bad = with_model(aapl_bundle, tmp_path / "bigcfg.fcst", zip_bytes(inner, zipfile.ZIP_STORED), zipfile.ZIP_STORED)
    assert_refused_everywhere(bad, f"model.keras member 'config.json' is {len(inner['config.json']):,} bytes",
                              "(limit 1,048,576)")


def test_zip_bomb_member_that_lies_about_its_size_is_refused_with_bounded_memory(aapl_bundle, tmp_path):
    """model.weights.h5 declares its real size but its deflate stream inflates to 64 MiB more: refused as
    soon as the declared size is read, not the whole bomb."""
    inner = keras_members(aapl_bundle)
    real = len(inner["model.weights.h5"])
    inner["model.weights.h5"] += bytes(64 * MiB)
    model = lie_about_size(zip_bytes(inner), "model.weights.h5", real)
    bad = with_model(aapl_bundle, tmp_path / "bomb.fcst", model)
    words = "model.keras member 'model.weights.h5' is damaged: its data does not match its header (Bad CRC-32"
    assert_refused_everywhere(bad, words)
    tracemalloc.start()
    try:
        with pytest.raises(BundleError, match="its data does not match its header"):
            B.verify(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB, peak


def test_outer_model_keras_that_lies_about_its_size_is_refused(aapl_bundle, tmp_path):
    files = zip_members(aapl_bundle.read_bytes())
    real = len(files["model.keras"])
    files["model.keras"] += bytes(64 * MiB)
    bad = tmp_path / "outer_bomb.fcst"
    bad.write_bytes(lie_about_size(zip_bytes(files), "model.keras", real))
    assert_refused_everywhere(bad, "member 'model.keras' is damaged: its data does not match its header (Bad CRC-32")


def test_member_that_expands_like_a_zip_bomb_is_refused(aapl_bundle, tmp_path):
    """An honest header, but 8 MiB of zeros deflated ~1000 times: over the ratio limit."""
    inner = keras_members(aapl_bundle)
    inner["model.weights.h5"] += bytes(8 * MiB)
    bad = with_model(aapl_bundle, tmp_path / "ratio.fcst", zip_bytes(inner))
    assert_refused_everywhere(bad, "model.keras member 'model.weights.h5' expands", "times (limit 200)")


def test_bundle_with_too_many_members_is_refused(aapl_bundle, tmp_path):
    files = zip_members(aapl_bundle.read_bytes())
    files.update({f"junk{i}.txt": b"x" for i in range(B.MAX_OUTER_MEMBERS)})
    bad = tmp_path / "many.fcst"
    bad.write_bytes(zip_bytes(files))
    assert_refused_everywhere(bad, f"it holds {B.MAX_OUTER_MEMBERS + 2} members (limit {B.MAX_OUTER_MEMBERS})")


def test_manifest_over_its_cap_is_refused(aapl_bundle, tmp_path, monkeypatch):
    monkeypatch.setitem(B.OUTER_LIMITS, "manifest.json", 10_000)
    size = zipfile.ZipFile(aapl_bundle).getinfo("manifest.json").file_size
    assert_refused_everywhere(aapl_bundle, f"member 'manifest.json' is {size:,} bytes (limit 10,000)")


def test_save_bundle_keeps_the_most_recent_residuals_under_the_cap(monkeypatch):
    """Residuals past MAX_STORED_RESIDUAL_VALUES (horizon x targets x windows) keep the latest windows, so
    train never writes a manifest over the cap that every reader applies."""
    monkeypatch.setattr(B, "MAX_STORED_RESIDUAL_VALUES", 6)
    m = {"conformal": {"residuals": [[[1.0, 2.0, 3.0, 4.0, 5.0]], [[6.0, 7.0, 8.0, 9.0, 10.0]]]}}
    B._thin_residuals(m)
    assert m["conformal"]["residuals"] == [[[3.0, 4.0, 5.0]], [[8.0, 9.0, 10.0]]]
