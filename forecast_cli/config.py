"""Frozen settings for data, windows, model and training, with their defaults in one table.

Each field takes its default, help, flags and rule from :mod:`forecast_cli.settings_table`, where
every setting is declared once; the command line builds its options from that table, the
``--config`` file is checked against it, and :func:`split_settings` turns the library's flat
keyword arguments into the four config objects.

Each dataclass only stores values; ``check()`` validates them (the one place where a value is
validated) and raises :class:`~forecast_cli.errors.ConfigError` naming the option and what was
received. ``to_dict``/``from_dict`` round-trip through JSON (the bundle manifest stores them).

>>> ModelConfig(units=0).check()
Traceback (most recent call last):
...
forecast_cli.errors.ConfigError: --units must be an int >= 1. Got 0.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError
from .settings_table import TABLE, check_value, cli_default, envvar, from_cli, option_decls, unknown_setting

__all__ = ["DataConfig", "ModelConfig", "Settings", "TrainConfig", "WindowConfig", "check_setting", "cli_default",
           "envvar", "from_cli", "from_dict", "option_decls", "settings_table", "split_settings", "to_dict"]


def _setting(name: str):
    """The dataclass field of a setting: its default from the table (and the table's row as metadata)."""
    return field(default=TABLE[name].default, metadata={"setting": TABLE[name]})


def _tuple(v: Any) -> tuple:
    if v is None:
        return ()
    if isinstance(v, str):
        return tuple(s.strip() for s in v.split(",") if s.strip())
    try:
        return tuple(v)
    except TypeError:
        return (v,)


def _normalise(obj) -> None:
    """Store numbers as Python's own: NumPy integers as int, integers in float fields as float."""
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            continue
        if f.type in ("int", "int | None") and isinstance(v, numbers.Integral) and type(v) is not int:
            object.__setattr__(obj, f.name, int(v))
        elif f.type == "float" and type(v) is not float:
            object.__setattr__(obj, f.name, float(v))


def _check_fields(obj) -> None:
    """Each field against its setting's rule; the first that fails raises ConfigError naming its flag."""
    for f in fields(obj):
        if "setting" in f.metadata:
            check_value(f.name, getattr(obj, f.name))


# ----------------------------------------------------------------------------- the configs
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

    target: tuple[str, ...] = _setting("target")
    features: tuple[str, ...] = _setting("features")
    date_col: str | None = _setting("date_col")
    time_col: str | None = _setting("time_col")
    na_values: tuple[str, ...] = _setting("na_values")
    max_gap: int = _setting("max_gap")
    gaps: str = _setting("gaps")
    sep: str | None = _setting("sep")
    decimal: str | None = _setting("decimal")
    date_format: str | None = _setting("date_format")
    dayfirst: bool | None = _setting("dayfirst")
    id_col: str | None = _setting("id_col")

    def __post_init__(self):
        object.__setattr__(self, "target", _tuple(self.target))
        object.__setattr__(self, "features", _tuple(self.features))
        object.__setattr__(self, "na_values", tuple(str(v) for v in _tuple(self.na_values)))
        _normalise(self)

    def check(self) -> DataConfig:
        """These settings, each value checked; ConfigError names the first bad one."""
        _check_fields(self)
        if self.date_format is not None:
            from .dates import check_format

            why = check_format(self.date_format)
            if why:
                raise ConfigError(f"--date-format must be a strftime format such as '%d/%m/%Y'; {why}. "
                                  f"Got {self.date_format!r}.")
        overlap = set(self.target) & set(self.features)
        if overlap:
            raise ConfigError(
                f"column(s) {sorted(overlap)} given both as --target and --features; "
                "targets are inputs already, drop them from --features."
            )
        if self.id_col is not None and self.id_col in (*self.target, *self.features):
            raise ConfigError(f"--id-col {self.id_col!r} names the series, it cannot also be a --target or "
                              "--features column.")
        return self

    def with_dates(self, date_format: str | None = None, dayfirst: bool | None = None) -> DataConfig:
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
        lookback: number of past steps the model sees; None (the default) is decided from the
            data where it is read (:func:`forecast_cli.fit_advice.resolve_lookback`): for one
            series whole seasons, at least 30 (monthly 36, hourly 48), fewer where the rows cannot
            hold them; for many series 30.
        horizon: number of future steps predicted at once (direct multi-step). Defaults to 5.
    """

    lookback: int | None = _setting("lookback")
    horizon: int = _setting("horizon")

    def __post_init__(self):
        _normalise(self)

    def check(self) -> WindowConfig:
        """These settings, each value checked; ConfigError names the first bad one."""
        _check_fields(self)
        return self


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
        transform: one series' target transform (:mod:`forecast_cli.transforms`): ``auto``
            (Box-Cox, lambda fitted on the training rows, for a positive column whose seasonal
            swing grows with its level; else none), ``log``, ``boxcox`` or ``none``. Forecasts,
            intervals and metrics are always on the data's scale. Defaults to ``none``.
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
            validation windows), freezes it and trains the network on what it leaves, keeping
            the path alone when no epoch beats it on validation; ``auto``: ``lstsq`` for one
            series of 100 training windows or more
            (:data:`forecast_cli.training.LSTSQ_MIN_WINDOWS`, measured in ``docs/short_series.md``),
            else ``adam``, and ``adam`` for the network of many series. Defaults to ``auto``.
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
        ensemble: with several series, train this many networks, the ``j``-th of ``k`` reading
            the last ``lookback * (k - j) / k`` rows of each window, and average their forecasts
            (one Keras model). Defaults to 1.
        theta_weight: with several series, blend each forecast with statsforecast's AutoTheta
            fitted on that series' whole history up to the forecast origin:
            ``(1 - w) * network + w * theta`` (:mod:`forecast_cli.theta_blend`; the ``stats``
            extra). 0 = the network alone. Defaults to 0.
    """

    model: str = _setting("model")
    units: int = _setting("units")
    layers: int = _setting("layers")
    dropout: float = _setting("dropout")
    recurrent_dropout: float = _setting("recurrent_dropout")
    norm: str = _setting("norm")
    transform: str = _setting("transform")
    linear_skip: bool = _setting("linear_skip")
    patch: int = _setting("patch")
    channel_independent: bool = _setting("channel_independent")
    linear_fit: str = _setting("linear_fit")
    linear_rank: int | str = _setting("linear_rank")
    local: bool = _setting("local")
    id_embedding: int = _setting("id_embedding")
    ensemble: int = _setting("ensemble")
    theta_weight: float = _setting("theta_weight")

    def __post_init__(self):
        _normalise(self)

    def check(self) -> ModelConfig:
        """These settings, each value checked; ConfigError names the first bad one."""
        _check_fields(self)
        if self.linear_rank != "full" and self.linear_fit != "lstsq":  # auto may fall to adam: never ignore it
            raise ConfigError("--linear-rank applies to the closed-form linear path: add --linear-fit lstsq.")
        if self.linear_fit == "lstsq" and not self.linear_skip:
            raise ConfigError("--linear-fit lstsq needs the linear path: drop --no-linear-skip.")
        if self.local and self.id_embedding:
            raise ConfigError("--id-embedding applies to the global network: drop it or drop --local.")
        return self

    def check_window(self, window: WindowConfig) -> ModelConfig:
        """Checks that depend on the window lengths."""
        if window.lookback is not None and self.patch > window.lookback:
            raise ConfigError(f"--patch ({self.patch}) must be <= --lookback ({window.lookback}).")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """How the network is fitted.

    Args:
        epochs: most passes over the training windows, used as given; None sizes them by
            ``steps`` (:func:`forecast_cli.training.train_budget`: a budget of optimisation steps,
            so a short series trains as many steps as a long one; an epoch is then one pass or 25
            steps when a pass is shorter). Defaults to None.
        steps: the optimisation steps (batches) that size ``epochs`` and ``patience`` when they
            are None. Defaults to 1000.
        batch_size: windows per gradient step. Defaults to 64.
        patience: epochs without improvement of the validation loss before stopping early
            (best weights restored); None: a tenth of ``steps`` in epochs, at least 5 (5 when
            ``epochs`` is given). Defaults to None.
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
        balance: with several series, weight each training window of a positive series by
            ``1 + balance * s``, ``s`` its window's scale of log values (see
            :class:`~forecast_cli.global_model.GlobalForecaster`). 0 = off. Defaults to 0.
        stat_baseline: score statsforecast's AutoETS beside the baselines in ``evaluate`` and
            ``train`` (:mod:`forecast_cli.stat_baselines`; skipped with a note when the ``stats``
            extra is missing or the series is too large for it). Defaults to True.
    """

    epochs: int | None = _setting("epochs")
    steps: int = _setting("steps")
    batch_size: int = _setting("batch_size")
    patience: int | None = _setting("patience")
    val_fraction: float = _setting("val_fraction")
    learning_rate: float = _setting("learning_rate")
    seed: int = _setting("seed")
    threads: int = _setting("threads")
    jit_compile: bool | str = _setting("jit_compile")
    balance: float = _setting("balance")
    stat_baseline: bool = _setting("stat_baseline")

    def __post_init__(self):
        _normalise(self)

    def check(self) -> TrainConfig:
        """These settings, each value checked; ConfigError names the first bad one."""
        _check_fields(self)
        return self


# ----------------------------------------------------------------------------- all settings together
_CONFIGS = {"data": DataConfig, "window": WindowConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass(frozen=True)
class Settings:
    """Every setting of a run: the four configs, and the season length of the baselines.

    Iterating gives the four configs, so ``data, window, model, train = settings`` works.

    Args:
        data: how the input is read. Defaults to ``DataConfig()``.
        window: lookback and horizon. Defaults to ``WindowConfig()``.
        model: the network. Defaults to ``ModelConfig()``.
        train: how it is fitted. Defaults to ``TrainConfig()``.
        season: season length of the seasonal-naive baseline and of the seasonal scales;
            inferred from the data's frequency when None. Defaults to None.
    """

    data: DataConfig = field(default_factory=DataConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    season: int | None = _setting("season")

    def __post_init__(self):
        _normalise(self)

    def __iter__(self):
        return iter((self.data, self.window, self.model, self.train))

    @classmethod
    def from_kwargs(cls, **kwargs) -> Settings:
        """Settings from flat keyword arguments named as the fields (``lookback=``, ``units=``...).

        Values are stored as given (call :meth:`check` to validate them); an unknown name is a
        :class:`ConfigError` that names the nearest valid one.
        """
        unknown = [k for k in kwargs if k not in TABLE]
        if unknown:
            raise ConfigError("; ".join(unknown_setting(k) for k in unknown))
        parts: dict = {group: {} for group in _CONFIGS}
        own = {}
        for k, v in kwargs.items():
            group = TABLE[k].group
            (own if group == "settings" else parts[group])[k] = v
        return cls(**{group: c(**parts[group]) for group, c in _CONFIGS.items()}, **own)

    @classmethod
    def from_cli(cls, **values) -> Settings:
        """Settings from the command line's option values (each read by its setting's ``parse``)."""
        return cls.from_kwargs(**{k: from_cli(k, v) for k, v in values.items()})

    def check(self) -> Settings:
        """Every value checked (each config's ``check()``, then the window-dependent checks)."""
        self.data.check()
        self.window.check()
        self.model.check().check_window(self.window)
        self.train.check()
        _check_fields(self)
        return self

    def to_kwargs(self) -> dict:
        """The flat keyword arguments that :meth:`from_kwargs` takes back (lists as tuples)."""
        out = {}
        for config in self:
            out.update({f.name: getattr(config, f.name) for f in fields(config)})
        out["season"] = self.season
        return out


def _same_as_table() -> None:
    """Each config's fields are its group's rows of the table, in order and with the same type (and
    Settings' own fields beside the configs are the group ``settings``)."""
    for group, cls in (*_CONFIGS.items(), ("settings", Settings)):
        own = [(f.name, f.type) for f in fields(cls) if group != "settings" or f.name not in _CONFIGS]
        rows = [(s.name, s.type) for s in TABLE.values() if s.group == group]
        if own != rows:  # pragma: no cover - a programming error, stops every command at once
            raise AssertionError(f"{cls.__name__} fields {own} differ from the settings table {rows}")


_same_as_table()


def split_settings(**kwargs) -> Settings:
    """Flat keyword settings -> :class:`Settings` (data, window, model, train configs and season).

    The values are stored as given, as scikit-learn does; :meth:`Settings.check` validates them.

    >>> data, window, model, train = split_settings(lookback=60, horizon=12, units=16, epochs=5, id_col="ticker")
    >>> window
    WindowConfig(lookback=60, horizon=12)
    >>> model.units, model.model, train.epochs, train.seed, data.id_col
    (16, 'lstm', 5, 0, 'ticker')
    >>> split_settings(horizon=0).check()
    Traceback (most recent call last):
    ...
    forecast_cli.errors.ConfigError: --horizon must be an int >= 1. Got 0.
    >>> split_settings(lookbak=60)
    Traceback (most recent call last):
    ...
    forecast_cli.errors.ConfigError: unknown setting 'lookbak'; did you mean 'lookback'?
    >>> split_settings(**split_settings(units=8, season=24).to_kwargs()) == split_settings(units=8, season=24)
    True
    """
    return Settings.from_kwargs(**kwargs)


def check_setting(name: str, value) -> None:
    """Check one value against its setting's rule (as ``check()`` does); ConfigError if it breaks it.

    >>> check_setting("jit_compile", "sometimes")
    Traceback (most recent call last):
    ...
    forecast_cli.errors.ConfigError: --jit must be auto, on or off. Got 'sometimes'.
    """
    check_value(name, value)


def settings_table() -> list[dict]:
    """Every setting: name, group, default, command-line flags, environment variable and help.

    For documentation (the Forecaster's docstring, ``--help``) and ``get_params``.

    >>> rows = settings_table()
    >>> [r["name"] for r in rows if r["group"] == "window"]
    ['lookback', 'horizon']
    >>> next(r for r in rows if r["name"] == "jit_compile")  # doctest: +NORMALIZE_WHITESPACE
    {'name': 'jit_compile', 'group': 'train', 'default': False, 'flags': ('--jit',), 'envvar': 'FORECAST_JIT',
     'help': 'XLA-compile training: off, on, or auto (large data).'}
    """
    return [{"name": s.name, "group": s.group, "default": s.default, "flags": option_decls(s.name),
             "envvar": envvar(s.name), "help": s.help} for s in TABLE.values()]


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
