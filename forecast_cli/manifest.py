"""The bundle manifest's schema, and the checks that a bundle's model fits it. No TensorFlow.

A manifest is read from a file anyone may have written, so before any field is used it is
checked here, in one place: its size and nesting (:func:`parse`), the type and range of every
field the tool reads (:data:`SCHEMA`), fields that must agree with each other (``n_targets``
and ``data.target``, the scaler and ``data.columns``, the residuals' shape and the window), and
the Keras ``config.json`` against the window and columns (:func:`check_model_config`) before
Keras builds a layer. Any failure is a :class:`~forecast_cli.errors.BundleError` that names the
field and says the bundle is damaged or inconsistent, never a message about a command-line flag.
Unknown fields are allowed (a newer tool may add some); fields the tool reads are not optional
unless a default exists for them.

The small schema classes below are hand-written rather than jsonschema because of start-up
cost: measured on the 2-core machine, ``import jsonschema`` (with its four dependencies, one of
them compiled) takes 85-122 ms, against 0.35 ms for checking a real manifest here, and
``inspect`` takes about 0.48 s in all (see docs/robustness.md).
"""
from __future__ import annotations

import json
import math
import re

from .errors import BundleError

__all__ = [
    "MAX_MANIFEST_BYTES",
    "MAX_MANIFEST_CONTAINERS",
    "MAX_MANIFEST_DEPTH",
    "MAX_STORED_RESIDUAL_VALUES",
    "MAX_UNITS",
    "SCHEMA",
    "check",
    "check_model_config",
    "check_model_shapes",
    "parse",
]

# The biggest manifest a bundle may carry. Conformal residuals dominate it: about 25 bytes per
# number as saved (indent 2). ``save_bundle`` keeps at most MAX_STORED_RESIDUAL_VALUES of them
# (the most recent windows), so every manifest the tool writes is well under this.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_STORED_RESIDUAL_VALUES = 1_500_000
# JSON arrays and objects ('[' and '{' bytes, counted before parsing: each costs ~60 bytes of
# memory once parsed, whatever its size in the file), and how deeply they may nest.
MAX_MANIFEST_CONTAINERS = 1_000_000
MAX_MANIFEST_DEPTH = 32
MAX_LOOKBACK = 100_000
MAX_HORIZON = 10_000
MAX_COLUMNS = 10_000
MAX_UNITS = 65_536
MAX_LAYERS = 64
MAX_SERIES = 1_000_000

DAMAGED = "damaged bundle: "
INCONSISTENT = "inconsistent bundle: "
_FIX = "; retrain or copy the bundle again"


class _Bad(Exception):
    """One field is wrong: ``what`` it must be, and what it is."""

    def __init__(self, field: str, what: str, got):
        super().__init__(f"manifest field '{field}' must be {what}, got {got}")


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


# --- the declarative schema: each spec checks one value (and what it holds) -------------------
class Spec:
    """Checks one JSON value; ``what`` describes what it must be (used in the message)."""

    what = "valid"

    def check(self, v, field: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class Opt(Spec):
    """``None`` or what ``inner`` accepts."""

    def __init__(self, inner: Spec):
        self.inner = inner

    def check(self, v, field):
        if v is not None:
            self.inner.check(v, field)


class Str(Spec):
    def __init__(self, pattern: str | None = None, what: str = "str"):
        self.pattern, self.what = (re.compile(pattern) if pattern else None), what

    def check(self, v, field):
        if not isinstance(v, str):
            raise _Bad(field, "str", type(v).__name__)
        if self.pattern and not self.pattern.fullmatch(v):
            raise _Bad(field, self.what, _short(v))


class Choice(Spec):
    def __init__(self, *values):
        self.values = values

    def check(self, v, field):
        if not any(type(v) is type(c) and v == c for c in self.values):
            raise _Bad(field, "one of " + ", ".join(map(repr, self.values)), _short(v))


class Bool(Spec):
    def check(self, v, field):
        if not isinstance(v, bool):
            raise _Bad(field, "bool", type(v).__name__)


class Int(Spec):
    def __init__(self, lo: int, hi: int | None = None):
        self.lo, self.hi = lo, hi

    def check(self, v, field):
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(field, "int", type(v).__name__)
        if v < self.lo or (self.hi is not None and v > self.hi):
            rng = f">= {self.lo}" if self.hi is None else f"in [{self.lo}, {self.hi}]"
            raise _Bad(field, f"an int {rng}", _short(v))


class Num(Spec):
    """A finite number in ``[lo, hi]`` (``hi_open``: ``[lo, hi)``; ``lo_open``: ``(lo, ...``)."""

    def __init__(self, lo=-math.inf, hi=math.inf, lo_open=False, hi_open=False, nullable=False):
        self.lo, self.hi, self.lo_open, self.hi_open, self.nullable = lo, hi, lo_open, hi_open, nullable

    def check(self, v, field):
        if v is None and self.nullable:
            return
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Bad(field, "a number", type(v).__name__)
        if self.nullable and isinstance(v, float) and math.isnan(v):
            return  # a metric that could not be computed
        ok = math.isfinite(v) and (v > self.lo if self.lo_open else v >= self.lo) and \
            (v < self.hi if self.hi_open else v <= self.hi)
        if not ok:
            lo = "(" if self.lo_open else "["
            hi = ")" if self.hi_open else "]"
            raise _Bad(field, f"a finite number in {lo}{self.lo}, {self.hi}{hi}", _short(v))


class List(Spec):
    def __init__(self, item: Spec, min_len: int = 0, max_len: int | None = None, unique: bool = False):
        self.item, self.min_len, self.max_len, self.unique = item, min_len, max_len, unique

    def check(self, v, field):
        if not isinstance(v, list):
            raise _Bad(field, "list", type(v).__name__)
        if len(v) < self.min_len or (self.max_len is not None and len(v) > self.max_len):
            hi = "" if self.max_len is None else f" and at most {self.max_len}"
            raise _Bad(field, f"a list of at least {self.min_len}{hi} items", f"{len(v)} items")
        for i, x in enumerate(v):
            self.item.check(x, f"{field}[{i}]")
        if self.unique and len(set(v)) != len(v):
            raise _Bad(field, "a list without repeats", _short(v))


class Map(Spec):
    """A JSON object whose values all match ``value``."""

    def __init__(self, value: Spec):
        self.value = value

    def check(self, v, field):
        if not isinstance(v, dict):
            raise _Bad(field, "dict", type(v).__name__)
        for k, x in v.items():
            self.value.check(x, f"{field}.{k}")


class Obj(Spec):
    """A JSON object with known fields; ``required`` must be there, the others may be; unknown keys pass."""

    def __init__(self, fields: dict[str, Spec], required: tuple[str, ...] = ()):
        self.fields, self.required = fields, required

    def check(self, v, field):
        if not isinstance(v, dict):
            raise _Bad(field, "dict", type(v).__name__)
        for k in self.required:
            if k not in v:
                raise BundleError(f"{DAMAGED}manifest is missing field '{_join(field, k)}'{_FIX}")
        for k, spec in self.fields.items():
            if k in v:
                spec.check(v[k], _join(field, k))


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


class Residuals(Spec):
    """Conformal residuals: ``[horizon][n_targets][n]`` finite numbers, the same ``n`` everywhere."""

    def check(self, v, field):
        if not isinstance(v, list):
            raise _Bad(field, "list", type(v).__name__)
        n = None
        for h, row in enumerate(v):
            if not isinstance(row, list):
                raise _Bad(f"{field}[{h}]", "list", type(row).__name__)
            for t, cell in enumerate(row):
                where = f"{field}[{h}][{t}]"
                if not isinstance(cell, list):
                    raise _Bad(where, "list", type(cell).__name__)
                n = len(cell) if n is None else n
                if len(cell) != n:
                    raise _Bad(where, f"a list of {n} residuals like the others", f"{len(cell)}")
                if not all(type(x) in (float, int) and math.isfinite(x) for x in cell):
                    bad = next(x for x in cell if not (type(x) in (float, int) and math.isfinite(x)))
                    raise _Bad(where, "a list of finite numbers", f"an item {_short(bad)}")


class LinearRank(Spec):
    """``"full"``, ``"auto"`` or an int >= 1."""

    def check(self, v, field):
        if v not in ("full", "auto") and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise _Bad(field, "'full', 'auto' or an int >= 1", _short(v))


_FRACTION = Num(0.0, 1.0, hi_open=True)
_METRICS = Map(Num(nullable=True))

SCHEMA = Obj({
    "format": Str(),
    "format_version": Int(0),
    "created": Opt(Str()),
    "versions": Map(Opt(Str())),
    "model_sha256": Str(r"[0-9a-f]{64}", "64 lowercase hex digits"),
    "window": Obj({"lookback": Int(1, MAX_LOOKBACK), "horizon": Int(1, MAX_HORIZON)},
                  required=("lookback", "horizon")),
    "model": Obj({
        "model": Choice("lstm", "gru", "attention", "peephole"),
        "units": Int(1, MAX_UNITS),
        "layers": Int(1, MAX_LAYERS),
        "dropout": _FRACTION,
        "recurrent_dropout": _FRACTION,
        "norm": Choice("last", "none"),
        "transform": Choice("auto", "log", "boxcox", "none"),
        "linear_skip": Bool(),
        "patch": Int(0, MAX_LOOKBACK),
        "channel_independent": Bool(),
        "linear_fit": Choice("auto", "adam", "lstsq"),  # auto: lstsq on one series with a linear path
        "linear_rank": LinearRank(),
        "local": Bool(),
        "id_embedding": Int(0, MAX_UNITS),
        "ensemble": Int(1, 16),
        "theta_weight": _FRACTION,  # AutoTheta's share of each forecast (forecast_cli.theta_blend)
    }),
    "train": Obj({
        "epochs": Opt(Int(1)), "steps": Opt(Int(1)), "batch_size": Int(1), "patience": Opt(Int(0)),
        "val_fraction": Num(0.0, 0.5, lo_open=True, hi_open=True), "learning_rate": Num(0.0, lo_open=True),
        "seed": Int(-2**63), "threads": Int(0), "jit_compile": Choice(True, False, "auto"),
        "balance": Num(0.0),
    }),
    "n_targets": Int(1, MAX_COLUMNS),
    "scaler": Obj({"mean": List(Num(), 1, MAX_COLUMNS), "scale": List(Num(0.0, lo_open=True), 1, MAX_COLUMNS)},
                  required=("mean", "scale")),
    "data": Obj({
        "target": List(Str(), 1, MAX_COLUMNS, unique=True),
        "features": List(Str(), 0, MAX_COLUMNS, unique=True),
        "columns": List(Str(), 1, 2 * MAX_COLUMNS, unique=True),
        "date_col": Opt(Str()), "time_col": Opt(Str()),
        "na_values": List(Str()),
        "max_gap": Int(0),
        "gaps": Choice("error", "skip"),
        "sep": Opt(Str()), "decimal": Opt(Str()),
        "freq": Opt(Str()), "freq_label": Opt(Str()),
        "trading_days": Bool(),
        "season": Opt(Int(0)),
        "last_timestamp": Opt(Str()),
    }, required=("target",)),
    "training_data": Opt(Obj({"file": Opt(Str()), "rows": Opt(Int(0)), "columns": Opt(List(Str())),
                              "start": Opt(Str()), "end": Opt(Str()), "sha256": Opt(Str())})),
    "holdout": Opt(Obj({"metrics": Map(_METRICS), "n_holdout_windows": Opt(Int(0)),
                        "holdout_period": List(Opt(Str()), 2, 2)})),
    # the target transform fitted on the training rows (forecast_cli.transforms; issue 15), one entry per
    # target in data.target's order; a bundle without it was trained without one
    "transform": Opt(Obj({
        "setting": Choice("auto", "log", "boxcox", "none"), "season": Opt(Int(1, MAX_LOOKBACK)),
        "targets": List(Obj({"column": Str(), "kind": Choice("none", "log", "boxcox"),
                             "lambda": Num(0.0, 1.0, nullable=True)}, required=("column", "kind", "lambda")),
                        1, MAX_COLUMNS),
    }, required=("targets",))),
    # adaptive (issue 14): predict adapts the level by ACI over the input's windows after training
    # (forecast_cli.intervals); a bundle without it keeps the nominal level (plain split conformal).
    "conformal": Opt(Obj({"method": Opt(Str()), "residuals": Opt(Residuals()),
                          "adaptive": Opt(Obj({"method": Choice("aci"), "gamma": Num(0.0, 1.0, lo_open=True),
                                               "max_windows": Int(1, 100_000)},
                                              required=("method", "gamma", "max_windows")))})),
    # A model of many series (forecast_cli.global_model): its state, the ids it was trained on and,
    # when small enough, the last window of each (Forecaster.predict with no new data).
    "panel": Opt(Obj({
        "id_col": Str(),
        "state": Obj({"version": Int(1, 1), "kind": Choice("global"), "n_targets": Int(1, MAX_COLUMNS),
                      "n_features": Int(0, MAX_COLUMNS), "season": Int(1, MAX_LOOKBACK), "log": Bool(),
                      "loss": Str(), "keys": List(Str(), 1, MAX_SERIES, unique=True),
                      "level_range": List(Num(), 2, 2), "id_embedding": Bool()},
                     required=("version", "kind", "n_targets", "n_features", "season", "log", "loss", "keys",
                               "level_range")),
        "residual_units": Opt(Choice("scaled")),
        "tails": Opt(Map(List(List(Num(nullable=True)), 0, MAX_LOOKBACK))),
        "tail_ends": Opt(Map(Str())),
    }, required=("id_col", "state"))),
}, required=("format", "format_version", "model_sha256", "data", "window", "model", "train", "scaler",
             "n_targets"))

# Settings that earlier versions wrote into the manifest and this one no longer has (attempts of the
# accuracy work that were not adopted; docs/accuracy.md), with the value that meant "off". A bundle
# that carries one at that value was trained as this version trains, and loads (config.from_dict
# ignores the key); at any other value its model is one this version cannot rebuild, and is refused.
REMOVED_SETTINGS = {
    ("model", "net_scale"): "none",
    ("train", "decision_fraction"): 0.0,
    ("train", "shrink_residual"): False,
    ("train", "ensemble"): 1,
    ("train", "crossfit"): 0,
}


# --- reading and checking ------------------------------------------------------------------
def parse(raw: bytes, path) -> dict:
    """The manifest's JSON object, read from at most MAX_MANIFEST_BYTES bytes.

    Arrays and objects are counted before parsing (they cost memory out of proportion to their
    size in the file), and nesting is checked without recursion: a manifest 10,000 levels deep is
    refused as damaged (Python's parser stops at about 1,000 levels; what it parses is walked
    iteratively and refused past MAX_MANIFEST_DEPTH).
    """
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{DAMAGED}manifest.json is {len(raw):,} bytes (limit {MAX_MANIFEST_BYTES:,}){_FIX}",
                          path=path)
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > MAX_MANIFEST_CONTAINERS:
        raise BundleError(f"{DAMAGED}manifest.json holds {containers:,} JSON arrays and objects "
                          f"(limit {MAX_MANIFEST_CONTAINERS:,}){_FIX}", path=path)
    try:
        m = json.loads(raw.decode("utf-8"))
    except RecursionError:  # Python's parser gives up at about 1,000 levels, cheaply
        raise _too_deep(path) from None
    except (UnicodeDecodeError, ValueError) as e:  # ValueError: JSON syntax, huge int literals
        msg = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise BundleError(f"manifest.json is not valid JSON ({msg}); the bundle is damaged", path=path) from None
    if isinstance(m, (dict, list)) and _depth(m) > MAX_MANIFEST_DEPTH:
        raise _too_deep(path)
    if not isinstance(m, dict):
        raise BundleError("manifest.json is not a JSON object; the bundle is damaged", path=path)
    return m


def _too_deep(path) -> BundleError:
    return BundleError(f"{DAMAGED}manifest.json nests JSON more than {MAX_MANIFEST_DEPTH} levels deep{_FIX}",
                       path=path)


def _depth(obj) -> int:
    """How deeply JSON arrays and objects nest in ``obj`` (1 for a flat object), walked without recursion;
    stops counting once past MAX_MANIFEST_DEPTH."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > MAX_MANIFEST_DEPTH:
                break
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def check(m: dict, path) -> dict:
    """``m`` after checking every field against :data:`SCHEMA` and the fields that must agree.

    The format and its version are checked first, with their own messages (a bundle from a newer
    tool says so rather than failing on a field it has changed).
    """
    from . import __version__
    from .bundle import FORMAT, FORMAT_VERSION

    if m.get("format") != FORMAT:
        raise BundleError(f"not a forecast bundle (format {_short(m.get('format'))}, expected {FORMAT!r})",
                          path=path)
    version = m.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BundleError(f"manifest field 'format_version' must be an integer, got {type(version).__name__}",
                          path=path)
    if version != FORMAT_VERSION:
        raise BundleError(f"unknown bundle format version {version} (this forecast-cli {__version__} reads "
                          f"version {FORMAT_VERSION}); use a matching forecast-cli or retrain", path=path)
    try:
        SCHEMA.check(m, "")
        _check_agreement(m)
    except _Bad as e:
        raise BundleError(f"{DAMAGED}{e}{_FIX}", path=path) from None
    except BundleError as e:
        raise BundleError(e.message, path=path) from None
    _check_removed(m, path)
    return m


def _is_off(v, off) -> bool:
    """``v`` is the value ``off`` (a bool only equals a bool, a number only a number)."""
    return isinstance(v, bool) == isinstance(off, bool) and isinstance(v, (bool, int, float, str)) and v == off


def _check_removed(m: dict, path) -> None:
    """Refuse a bundle trained with a setting this version no longer has (:data:`REMOVED_SETTINGS`)
    at a value other than its "off" one."""
    for (section, key), off in REMOVED_SETTINGS.items():
        settings = m[section]
        if key in settings and not _is_off(settings[key], off):
            try:
                shown = json.dumps(settings[key], allow_nan=False)
            except (TypeError, ValueError):
                shown = repr(settings[key])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise BundleError(f"this bundle was trained with {section}.{key}={shown}, which this version of "
                              "forecast-cli no longer has (see docs/accuracy.md); retrain it", path=path)


def _check_agreement(m: dict) -> None:
    """Fields that must agree with each other (what ModelConfig.check and the loaders assume)."""
    d, w, mo = m["data"], m["window"], m["model"]
    target, features = d["target"], d.get("features", [])
    if m["n_targets"] != len(target):
        raise _Bad("n_targets", f"the number of columns in data.target ({len(target)})", m["n_targets"])
    if set(target) & set(features):
        raise _Bad("data.features", "columns not in data.target", _short(sorted(set(target) & set(features))))
    columns = target + features
    if "columns" in d and d["columns"] != columns:
        raise _Bad("data.columns", f"data.target then data.features ({_short(columns)})", _short(d["columns"]))
    for key in ("mean", "scale"):
        if len(m["scaler"][key]) != len(columns):
            raise _Bad(f"scaler.{key}", f"a list of {len(columns)} numbers (one per column)",
                       f"{len(m['scaler'][key])} numbers")
    if mo.get("patch", 0) > w["lookback"]:
        raise _Bad("model.patch", f"<= window.lookback ({w['lookback']})", mo["patch"])
    fit = mo.get("linear_fit", "adam")
    if mo.get("linear_rank", "full") != "full" and fit != "lstsq":
        raise _Bad("model.linear_rank", "'full' unless model.linear_fit is 'lstsq'", _short(mo["linear_rank"]))
    if fit == "lstsq" and not mo.get("linear_skip", True):
        raise _Bad("model.linear_skip", "true when model.linear_fit is 'lstsq'", False)
    _check_transform(m)
    res = (m.get("conformal") or {}).get("residuals")
    if res is not None and (len(res) != w["horizon"] or any(len(row) != len(target) for row in res)):
        shape = [len(res), len(res[0]) if res else 0]
        raise _Bad("conformal.residuals", f"of shape [horizon {w['horizon']}][n_targets {len(target)}][n]",
                   f"shape {shape}[n]")


def _check_transform(m: dict) -> None:
    """The transform section names data.target's columns in order, and a lambda fits each kind."""
    tf = m.get("transform")
    if not tf:
        return
    cols = [t["column"] for t in tf["targets"]]
    if cols != m["data"]["target"]:
        raise _Bad("transform.targets", f"one entry per column of data.target ({_short(m['data']['target'])})",
                   _short(cols))
    for j, t in enumerate(tf["targets"]):
        want = {"none": None, "log": 0.0}.get(t["kind"], t["lambda"])
        if t["lambda"] != want or (t["kind"] == "boxcox" and t["lambda"] is None):
            what = {"none": "null", "log": "0"}.get(t["kind"], "a number in [0, 1]")
            raise _Bad(f"transform.targets[{j}].lambda", f"{what} for kind {t['kind']!r}", _short(t["lambda"]))


def n_inputs(m: dict) -> int:
    """Columns the network reads per time step: targets, then features."""
    return len(m["data"]["target"]) + len(m["data"].get("features", []))


# --- the model against the manifest -----------------------------------------------------------
# Layer classes the tool builds (models.build_model). Any other
# class in config.json (Embedding, Lambda, a wrapper...) is refused before Keras sees it.
ALLOWED_LAYERS = frozenset({
    "Functional", "InputLayer", "SubtractLast", "AddLast", "LastStep", "ChannelsToBatch", "BatchToChannels",
    "FusedLSTM", "LSTM", "GRU", "RNN", "PeepholeLSTMCell",
    "Attention", "Concatenate", "Flatten", "Dropout", "Dense", "Add", "Reshape", "Cropping1D",
    "Embedding", "RepeatRows",  # the series id of a global model (model.id_embedding)
    "Average",  # the mean of a global model's ensemble (model.ensemble)
})
# Weights a layer of ``u`` units on ``d`` inputs holds at least (kernels, recurrent kernels, biases).
_PARAMS = {"Dense": lambda d, u: u * (d + 1), "GRU": lambda d, u: 3 * u * (d + u),
           "LSTM": lambda d, u: 4 * u * (d + u), "FusedLSTM": lambda d, u: 4 * u * (d + u),
           "RNN": lambda d, u: 4 * u * (d + u)}


def _n_ids(m: dict) -> int:
    """Ids a global model's embedding holds (its keys, plus the unknown id 0); 0 without one."""
    panel = m.get("panel") or {}
    state = panel.get("state") or {}
    return len(state["keys"]) + 1 if state.get("id_embedding") else 0


def check_model_config(cfg, m: dict, weights_bytes: int) -> None:
    """Refuse a Keras ``config.json`` that does not fit the manifest, before Keras builds anything.

    Checks: every layer is of a class the tool builds; every ``units`` is an int in
    [1, MAX_UNITS]; every input takes ``(lookback, n_inputs)`` windows as the manifest says; and
    the weights the layers would allocate (at 4 bytes each, from their units and the input size
    in their ``build_config``, which Keras builds them from) fit in ``model.weights.h5``, whose size
    is capped: no layer bigger than the file that should hold its weights is ever built.
    Raises BundleError (no path: the caller adds it). The walk is iterative.
    """
    L, F, H = m["window"]["lookback"], n_inputs(m), m["window"]["horizon"]
    n_out = H if m["model"].get("channel_independent") else H * m["n_targets"]
    if not isinstance(cfg, dict) or cfg.get("class_name") != "Functional":
        raise BundleError(f"{DAMAGED}model.keras config.json is not a Keras functional model{_FIX}")
    total, stack = 0, [cfg]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        if "units" in node:
            _check_units(node["units"])
        for layer in node.get("layers", []) if isinstance(node.get("layers"), list) else []:
            total += _layer_weights(layer, L, F, n_out, _n_ids(m))
    if 4 * total > weights_bytes:
        raise BundleError(f"{INCONSISTENT}model.keras config.json describes {total:,} weights "
                          f"({4 * total:,} bytes) but model.weights.h5 holds {weights_bytes:,} bytes; "
                          "refused before building the model; retrain")


def _check_units(units) -> None:
    if isinstance(units, bool) or not isinstance(units, int) or not 1 <= units <= MAX_UNITS:
        raise BundleError(f"{DAMAGED}model.keras config.json has a layer of {_short(units)} units "
                          f"(limit {MAX_UNITS}){_FIX}")


def _layer_weights(layer, L: int, F: int, n_out: int, n_ids: int = 0) -> int:
    """The least number of weights ``layer`` (an entry of a config's ``layers``) allocates; checks its class,
    an input's shape, and the size of the output layers (Dense ``head`` and ``linear``: ``n_out`` units,
    horizon x n_targets, or horizon alone for a channel-independent network)."""
    cls = layer.get("class_name") if isinstance(layer, dict) else None
    conf = layer.get("config") if isinstance(layer, dict) else None
    if cls not in ALLOWED_LAYERS or not isinstance(conf, dict):
        raise BundleError(f"{DAMAGED}model.keras has a layer of class {_short(cls)}, which forecast-cli never "
                          f"builds{_FIX}")
    if cls == "Embedding":
        dim, size = conf.get("output_dim"), conf.get("input_dim")
        _check_units(dim)
        if size != n_ids:
            raise BundleError(f"{INCONSISTENT}model.keras embeds {_short(size)} series ids but the manifest's "
                              f"panel.state.keys give {n_ids} (with the unknown id); retrain")
        return int(size) * int(dim)
    if cls == "InputLayer":
        shape = conf.get("batch_shape")
        if n_ids and conf.get("name") == "series_id" and shape == [None]:
            return 0
        if shape != [None, L, F]:
            raise BundleError(f"{INCONSISTENT}model.keras takes input of shape {_short(shape)} but the manifest "
                              f"says [None, {L}, {F}] (window.lookback, data columns); retrain")
        return 0
    cell = conf.get("cell") if cls == "RNN" else None
    units = (cell.get("config") or {}).get("units") if isinstance(cell, dict) else conf.get("units")
    if units is None:
        return 0
    _check_units(units)
    if cls == "Dense" and conf.get("name") in ("head", "linear") and units != n_out:
        raise BundleError(f"{INCONSISTENT}model.keras forecasts {units} values per window (layer "
                          f"'{conf['name']}') but the manifest says {n_out} (window.horizon x n_targets); retrain")
    shape = (layer.get("build_config") or {}).get("input_shape") if isinstance(layer.get("build_config"),
                                                                               dict) else None
    while isinstance(shape, list) and shape and isinstance(shape[0], list):
        shape = shape[0]
    d = shape[-1] if isinstance(shape, list) and shape else None
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise BundleError(f"{DAMAGED}model.keras layer {_short(conf.get('name'))} has no valid input shape in its "
                          f"build_config{_FIX}")
    return _PARAMS.get(cls, _PARAMS["Dense"])(d, int(units))


def check_model_shapes(model, m: dict) -> None:
    """Refuse a loaded Keras model whose input or output shape does not fit the manifest."""
    L, H, F, T = m["window"]["lookback"], m["window"]["horizon"], n_inputs(m), m["n_targets"]
    want_in, want_out = (None, L, F), (None, H, T)
    got_in, got_out = model.input_shape, tuple(model.output_shape)
    if _n_ids(m) and isinstance(got_in, list) and len(got_in) == 2 and tuple(got_in[1]) == (None,):
        got_in = got_in[0]  # a global model's second input: the series id
    got_in = tuple(got_in)
    if got_in != want_in or got_out != want_out:
        raise BundleError(f"{INCONSISTENT}model.keras maps windows of shape {got_in[1:]} to forecasts of shape "
                          f"{got_out[1:]} but the manifest says {want_in[1:]} -> {want_out[1:]} "
                          "(window.lookback, data columns -> window.horizon, n_targets); retrain")
