"""Frozen settings for data, windows, model and training, with one table of defaults.

Each dataclass only stores values; ``check()`` validates them and raises
:class:`~forecast_cli.errors.ConfigError` naming the option and what was received.
``to_dict``/``from_dict`` round-trip through JSON (the bundle manifest stores them).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigError

__all__ = ["DataConfig", "WindowConfig", "ModelConfig", "TrainConfig", "to_dict", "from_dict"]


def _tuple(v: Any) -> tuple:
    if v is None:
        return ()
    if isinstance(v, str):
        return tuple(s.strip() for s in v.split(",") if s.strip())
    return tuple(v)


@dataclass(frozen=True)
class DataConfig:
    """How to read a CSV into a regular, numeric, time-indexed frame.

    Args:
        target: column(s) to forecast. Required unless the file has one numeric column.
        features: extra numeric input columns. Defaults to none.
        date_col: name of the date column; found by name or by parsing when None.
        time_col: a separate time-of-day column combined with the date; found by name when None.
        na_values: extra strings that mark a missing value (e.g. ``-200``).
        max_gap: longest run of missing steps filled by linear interpolation. Defaults to 3.
        gaps: what to do with longer gaps: ``error`` or ``skip`` (windows that cross them are
            left out). Defaults to ``error``.
        sep: field delimiter; sniffed when None.
        decimal: decimal mark; sniffed when None.
        date_format: strftime format of the dates (``%d/%m/%Y``); inferred when None. When
            given, ``dayfirst`` is not used.
        dayfirst: read numeric dates with the year last (``01/02/2021``) day-first (True) or
            month-first (False); None decides by the rule in :mod:`forecast_cli.dates` (a field
            over 12, then the reading that gives a regular series, dots day-first) and refuses
            dates that stay ambiguous.
        id_col: the column that names the series in a long-format file (one row per series
            and timestamp: ``date,ticker,close``). None: the file holds one series (or, for a
            folder or glob of files, each file is one series named by its stem). Defaults to None.
    """

    target: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    date_col: str | None = None
    time_col: str | None = None
    na_values: tuple[str, ...] = ()
    max_gap: int = 3
    gaps: str = "error"
    sep: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    dayfirst: bool | None = None
    id_col: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "target", _tuple(self.target))
        object.__setattr__(self, "features", _tuple(self.features))
        object.__setattr__(self, "na_values", tuple(str(v) for v in _tuple(self.na_values)))

    def check(self) -> "DataConfig":
        if self.max_gap < 0:
            raise ConfigError(f"--max-gap must be >= 0. Got {self.max_gap}.")
        if self.gaps not in ("error", "skip"):
            raise ConfigError(f"--gaps must be 'error' or 'skip'. Got {self.gaps!r}.")
        if self.date_format is not None:
            from .dates import check_format

            why = check_format(self.date_format)
            if why:
                raise ConfigError(f"--date-format must be a strftime format such as '%d/%m/%Y'; {why}. "
                                  f"Got {self.date_format!r}.")
        if self.dayfirst not in (None, True, False):
            raise ConfigError(f"--dayfirst must be true or false. Got {self.dayfirst!r}.")
        overlap = set(self.target) & set(self.features)
        if overlap:
            raise ConfigError(
                f"column(s) {sorted(overlap)} given both as --target and --features; "
                "targets are inputs already, drop them from --features."
            )
        return self

    def with_dates(self, date_format: str | None = None, dayfirst: bool | None = None) -> "DataConfig":
        """These settings with the date options given on the command line (None: not given) in place of
        stored ones (a bundle's), checked. A new ``date_format`` wins over any ``dayfirst``; a new
        ``dayfirst`` alone drops a stored ``date_format``, which would otherwise win over it."""
        from dataclasses import replace

        if date_format is not None:
            return replace(self, date_format=date_format, dayfirst=dayfirst).check()
        if dayfirst is not None:
            return replace(self, date_format=None, dayfirst=dayfirst).check()
        return self.check()


@dataclass(frozen=True)
class WindowConfig:
    """Input and output window lengths.

    Args:
        lookback: number of past steps the model sees. Defaults to 30.
        horizon: number of future steps predicted at once (direct multi-step). Defaults to 5.
    """

    lookback: int = 30
    horizon: int = 5

    def check(self) -> "WindowConfig":
        if self.lookback < 1:
            raise ConfigError(f"--lookback must be an int >= 1. Got {self.lookback}.")
        if self.horizon < 1:
            raise ConfigError(f"--horizon must be an int >= 1. Got {self.horizon}.")
        return self


MODEL_FAMILIES = ("lstm", "gru", "attention", "peephole")
NORMS = ("last", "none")
LINEAR_FITS = ("adam", "lstsq")
LINEAR_RANKS = ("full", "auto")


@dataclass(frozen=True)
class ModelConfig:
    """The recurrent network.

    Args:
        model: ``lstm``, ``gru``, ``attention`` (an LSTM with attention over its outputs) or
            ``peephole`` (an LSTM whose gates also see the cell state; ``recurrent_dropout`` does
            not apply to it). Defaults to ``lstm``.
        units: hidden units per recurrent layer. Defaults to 32.
        layers: stacked recurrent layers. Defaults to 1.
        dropout: dropout on the recurrent stack's output, before the dense head (not on the
            input features: on a single series that would blank time steps). Defaults to 0.1.
        recurrent_dropout: Keras' dropout on the recurrent state. Defaults to 0.
        norm: ``last`` subtracts each window's last value before the network and adds it back
            to the forecast (the network learns changes); ``none`` feeds scaled levels.
            Defaults to ``last``.
        linear_skip: add a linear map of the (normalised) window to the output, beside the
            recurrent path. Defaults to True.
        patch: run the recurrent stack over patches of this many steps (the window's last
            ``lookback // patch * patch`` steps, reshaped into ``lookback // patch`` patches)
            instead of step by step: fewer, richer recurrent steps, much faster on long
            lookbacks. 0 or 1 = one step per row. Defaults to 0.
        channel_independent: treat each input column as its own univariate series with shared
            weights (the network sees one column at a time and forecasts it; columns do not see
            each other). Forecasts the targets only; extra feature columns then only add
            training signal to nothing, so use it with targets alone. Defaults to False.
        linear_fit: how the linear path is fitted: ``adam`` trains it with the network;
            ``lstsq`` fits it first in closed form (ridge least squares, penalty chosen on the
            validation windows), freezes it and trains the network on what it leaves.
            Defaults to ``adam``.
        linear_rank: with ``linear_fit="lstsq"``: ``full`` fits the ridge map as it is;
            an int ``r`` keeps only its ``r`` leading output directions (reduced-rank ridge
            regression: the map is projected onto the top right singular vectors of its fitted
            values on the training windows, so every forecast is a mix of ``r`` horizon
            profiles); ``auto`` chooses the rank from :data:`forecast_cli.models.RANK_GRID`
            and full, jointly with the penalty, on the validation windows. Defaults to ``full``.
        local: with several series, fit one network per series instead of one global network
            trained on the windows of all of them. Defaults to False.
        id_embedding: with several series, give the global network each series' id as a learned
            embedding of this many dimensions (a static covariate; series unseen in training get
            the embedding of an unknown id). 0 = no embedding. Defaults to 0.
    """

    model: str = "lstm"
    units: int = 32
    layers: int = 1
    dropout: float = 0.1
    recurrent_dropout: float = 0.0
    norm: str = "last"
    linear_skip: bool = True
    patch: int = 0
    channel_independent: bool = False
    linear_fit: str = "adam"
    linear_rank: int | str = "full"
    local: bool = False
    id_embedding: int = 0

    def check(self) -> "ModelConfig":
        if self.model not in MODEL_FAMILIES:
            raise ConfigError(f"--model must be one of {', '.join(MODEL_FAMILIES)}. Got {self.model!r}.")
        if self.norm not in NORMS:
            raise ConfigError(f"--norm must be one of {', '.join(NORMS)}. Got {self.norm!r}.")
        if self.units < 1:
            raise ConfigError(f"--units must be an int >= 1. Got {self.units}.")
        if self.layers < 1:
            raise ConfigError(f"--layers must be an int >= 1. Got {self.layers}.")
        for name, v in (("--dropout", self.dropout), ("--recurrent-dropout", self.recurrent_dropout)):
            if not 0.0 <= v < 1.0:
                raise ConfigError(f"{name} must be a float in [0, 1). Got {v}.")
        if isinstance(self.patch, bool) or not isinstance(self.patch, int) or self.patch < 0:
            raise ConfigError(f"--patch must be an int >= 0. Got {self.patch!r}.")
        if self.linear_fit not in LINEAR_FITS:
            raise ConfigError(f"--linear-fit must be one of {', '.join(LINEAR_FITS)}. Got {self.linear_fit!r}.")
        r = self.linear_rank
        if r not in LINEAR_RANKS and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise ConfigError(f"--linear-rank must be full, auto or an int >= 1. Got {r!r}.")
        if r != "full" and self.linear_fit != "lstsq":
            raise ConfigError("--linear-rank applies to the closed-form linear path: add --linear-fit lstsq.")
        if self.linear_fit == "lstsq" and not self.linear_skip:
            raise ConfigError("--linear-fit lstsq needs the linear path: drop --no-linear-skip.")
        if isinstance(self.id_embedding, bool) or not isinstance(self.id_embedding, int) or self.id_embedding < 0:
            raise ConfigError(f"--id-embedding must be an int >= 0. Got {self.id_embedding!r}.")
        if self.local and self.id_embedding:
            raise ConfigError("--id-embedding applies to the global network: drop it or drop --local.")
        return self

    def check_window(self, window: "WindowConfig") -> "ModelConfig":
        """Checks that depend on the window lengths."""
        if self.patch > window.lookback:
            raise ConfigError(f"--patch ({self.patch}) must be <= --lookback ({window.lookback}).")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """How the network is fitted.

    Args:
        epochs: most passes over the training windows. Defaults to 30.
        batch_size: windows per gradient step. Defaults to 64.
        patience: epochs without improvement of the validation loss before stopping early
            (best weights restored). Defaults to 5.
        val_fraction: chronological tail of the training windows used for early stopping.
            Defaults to 0.1.
        learning_rate: Adam's step size. Defaults to 1e-3.
        seed: seeds Python, NumPy and TensorFlow; same seed, same numbers. Defaults to 0.
        threads: TensorFlow intra-op threads (inter-op is 1). 0 lets TensorFlow decide.
            Defaults to 1, the steadiest on a 2-core machine.
        jit_compile: compile the training step with XLA: ``True``, ``False`` or ``"auto"``
            (XLA when training windows x lookback >= 1,000,000). On a quiet 2-core CPU, XLA
            made an LSTM(64) epoch slower (10.4 s against 7.8 s without), so it is off by
            default; it can pay off on other hardware. Defaults to False.
    """

    epochs: int = 30
    batch_size: int = 64
    patience: int = 5
    val_fraction: float = 0.1
    learning_rate: float = 1e-3
    seed: int = 0
    threads: int = 1
    jit_compile: bool | str = False

    def check(self) -> "TrainConfig":
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be an int >= 1. Got {self.epochs}.")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be an int >= 1. Got {self.batch_size}.")
        if self.patience < 0:
            raise ConfigError(f"--patience must be an int >= 0. Got {self.patience}.")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"--val-fraction must be a float in (0, 0.5). Got {self.val_fraction}.")
        if self.jit_compile not in (True, False, "auto"):
            raise ConfigError(f"--jit must be auto, on or off. Got {self.jit_compile!r}.")
        if self.learning_rate <= 0:
            raise ConfigError(f"--learning-rate must be > 0. Got {self.learning_rate}.")
        return self


def to_dict(obj) -> dict:
    """A JSON-ready dict of a settings dataclass (tuples become lists)."""
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def from_dict(cls, d: dict):
    """Build ``cls`` from a dict, ignoring unknown keys (forward compatible) and checking types."""
    if not isinstance(d, dict):
        raise ConfigError(f"{cls.__name__} settings must be a JSON object. Got {type(d).__name__}.")
    known = {f.name: f for f in fields(cls)}
    kwargs = {k: v for k, v in d.items() if k in known}
    try:
        return cls(**kwargs)
    except TypeError as e:  # pragma: no cover - defensive
        raise ConfigError(f"invalid {cls.__name__} settings: {e}") from None
