"""The search space of ``forecast tune``: each setting's range or choices, the defaults and a ``--space`` file.

A space maps setting names (those of :mod:`forecast_cli.settings_table`) to a :class:`Param`: an
int or float range (``low``, ``high``, optionally ``log`` or ``step``) or a list of choices. The
defaults (:func:`default_space`) cover the network and window settings; a ``--space FILE.toml``
narrows or widens them, one key per setting::

    lookback = {low = 16, high = 168}          # a range (ints for an int setting)
    learning_rate = {low = 1e-4, high = 3e-2, log = true}
    model = ["lstm", "gru"]                    # choices
    dropout = 0.1                              # fixed: not searched

Settings the file does not name keep their default range. Every key and value is checked against
the settings table's rules, and a bad one is refused in one line that names the file and the key.
Only the standard library and the table are imported here (no Optuna): the file is checked before
any work.

>>> space = default_space(horizon=5)
>>> space["lookback"]
Param('lookback', 'int', low=8, high=120)
>>> sorted(space)[:3]
['batch_size', 'dropout', 'layers']
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError
from .settings_table import TABLE, check_value, from_cli, unknown_setting

__all__ = ["Param", "default_space", "read_space", "merge_space", "PANEL_ONLY", "describe"]

# Settings that a search may not vary: the task itself (the horizon), the data, the seed (a search over
# seeds picks a lucky initialisation, not settings) and how the machine runs (threads, XLA).
NOT_SEARCHED = {"horizon": "the horizon is the task, not a setting to search: give --horizon",
                "seed": "a search over seeds finds a lucky initialisation, not better settings: give --seed",
                "threads": "threads change speed, not forecasts: give --threads",
                "jit_compile": "XLA changes speed, not forecasts: give --jit",
                "stat_baseline": "the statistical baseline is not part of the model: give --no-stat-baseline"}
PANEL_ONLY = ("local", "id_embedding", "ensemble", "balance")


@dataclass(frozen=True)
class Param:
    """One searched setting: ``kind`` ``int`` or ``float`` (``low``..``high``, ``log`` scale or a ``step``),
    ``categorical`` (``choices``) or ``fixed`` (``choices[0]``, not searched)."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def __repr__(self) -> str:
        if self.kind in ("int", "float"):
            extra = ", log=True" if self.log else f", step={self.step}" if self.step else ""
            return f"Param({self.name!r}, {self.kind!r}, low={self.low}, high={self.high}{extra})"
        return f"Param({self.name!r}, {self.kind!r}, choices={self.choices!r})"

    def contains(self, value) -> bool:
        """Whether ``value`` lies in this range or among these choices.

        >>> Param("units", "int", low=8, high=64).contains(32), Param("norm", "categorical", choices=("last",)).contains("none")
        (True, False)
        """
        if self.kind in ("int", "float"):
            return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high
        return value in self.choices

    def suggest(self, trial):
        """This setting's value for an Optuna ``trial``."""
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        return self.choices[0]

    def to_dict(self) -> dict:
        """JSON-ready: ``{"low", "high", "log"}``, ``{"choices"}`` or ``{"fixed"}``."""
        if self.kind in ("int", "float"):
            out = {"type": self.kind, "low": self.low, "high": self.high, "log": self.log}
            if self.step:
                out["step"] = self.step
            return out
        if self.kind == "fixed":
            return {"fixed": self.choices[0]}
        return {"choices": list(self.choices)}


def default_space(horizon: int, *, many: bool = False) -> dict[str, Param]:
    """The network and window settings searched when no ``--space`` file says otherwise.

    The ranges hold the command line's defaults (so the defaults are a point of the space and
    can be scored as the first trial). The lookback's upper end is cut, by the caller, to what
    the rows allow. With ``many`` series, the series-id embedding is searched too.

    Args:
        horizon: the forecast horizon (the lookback starts at 8, or 4 horizons when that is less).
        many: many series (one global network). Defaults to False.
    """
    space = {
        "model": Param("model", "categorical", choices=("lstm", "gru", "attention")),
        "lookback": Param("lookback", "int", low=min(8, max(2, 4 * horizon)), high=120),
        "units": Param("units", "int", low=8, high=128, log=True),
        "layers": Param("layers", "int", low=1, high=3),
        "dropout": Param("dropout", "float", low=0.0, high=0.5),
        "recurrent_dropout": Param("recurrent_dropout", "float", low=0.0, high=0.3),
        "learning_rate": Param("learning_rate", "float", low=1e-4, high=1e-2, log=True),
        "batch_size": Param("batch_size", "categorical", choices=(16, 32, 64, 128)),
        "norm": Param("norm", "categorical", choices=("last", "none")),
        "linear_skip": Param("linear_skip", "categorical", choices=(True, False)),
    }
    if many:
        space["id_embedding"] = Param("id_embedding", "categorical", choices=(0, 4, 16))
    return space


def _where(path, key: str) -> str:
    return f"--space {os.fspath(path)}: key '{key}'"


def _checked(path, key: str, value, what: str = ""):
    """``value`` as the setting stores it, checked against its rule (one line naming the file and key)."""
    try:
        value = from_cli(key, value)
        check_value(key, value)
    except ConfigError as e:
        raise ConfigError(f"{_where(path, key)}{what}: {e.message}") from None
    return value


def _range(path, key: str, spec: dict) -> Param:
    setting = TABLE[key]
    kind = setting.type.split(" ")[0]
    if kind not in ("int", "float"):
        raise ConfigError(f"{_where(path, key)}: a range (low, high) needs a numeric setting; "
                          f"give a list of choices, e.g. {key} = [...]")
    extra = set(spec) - {"low", "high", "log", "step"}
    if extra:
        raise ConfigError(f"{_where(path, key)}: unknown field '{sorted(extra)[0]}'; a range has low, high and "
                          "optionally log or step")
    if "low" not in spec or "high" not in spec:
        raise ConfigError(f"{_where(path, key)}: a range needs both low and high, e.g. {key} = "
                          f"{{low = {setting.default}, high = {setting.default}}}")
    low, high = spec["low"], spec["high"]
    for name, v in (("low", low), ("high", high)):
        if kind == "int" and (not isinstance(v, int) or isinstance(v, bool)):
            raise ConfigError(f"{_where(path, key)}: {name} must be an int for an int setting. Got {v!r}.")
        _checked(path, key, v, f" ({name})")
    if low > high:
        raise ConfigError(f"{_where(path, key)}: low ({low}) is above high ({high})")
    log, step = spec.get("log", False), spec.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{_where(path, key)}: log must be true or false. Got {log!r}.")
    if log and low <= 0:
        raise ConfigError(f"{_where(path, key)}: a log scale needs low > 0. Got low = {low}.")
    if step is not None:
        if log:
            raise ConfigError(f"{_where(path, key)}: give log or step, not both")
        if not isinstance(step, (int, float)) or isinstance(step, bool) or step <= 0 or \
                (kind == "int" and not isinstance(step, int)):
            raise ConfigError(f"{_where(path, key)}: step must be a positive {kind}. Got {step!r}.")
    return Param(key, kind, low=low, high=high, log=log, step=step)


def _param(path, key: str, spec) -> Param:
    if key not in TABLE:
        raise ConfigError(f"--space {os.fspath(path)}: {unknown_setting(key)}")
    if key in NOT_SEARCHED:
        raise ConfigError(f"{_where(path, key)}: {NOT_SEARCHED[key]}")
    if TABLE[key].group not in ("window", "model", "train"):
        raise ConfigError(f"{_where(path, key)}: {TABLE[key].flag} describes the data, not the model; "
                          "give it on the command line")
    if isinstance(spec, dict):
        return _range(path, key, spec)
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{_where(path, key)}: an empty list of choices; give at least one value")
        values = tuple(_checked(path, key, v, f" (choice {v!r})") for v in spec)
        if len(set(map(repr, values))) < len(values):
            raise ConfigError(f"{_where(path, key)}: a choice is listed twice")
        return Param(key, "categorical", choices=values)
    return Param(key, "fixed", choices=(_checked(path, key, spec),))


def read_space(path) -> dict[str, Param]:
    """The :class:`Param` of each key of a ``--space`` TOML file, every key and value checked.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
    ...     _ = f.write('lookback = {low = 16, high = 64}\\nmodel = ["lstm", "gru"]\\ndropout = 1.5\\n')
    >>> read_space(f.name)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    forecast_cli.errors.ConfigError: --space ...: key 'dropout': --dropout must be a float in [0, 1). Got 1.5.
    >>> os.unlink(f.name)
    """
    import tomllib

    from .files import not_regular

    kind = not_regular(path)
    if kind:
        raise ConfigError(f"--space {os.fspath(path)} is not a regular file ({kind})")
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"--space {os.fspath(path)}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError, PermissionError) as e:
        raise ConfigError(f"--space {os.fspath(path)}: {e}") from None
    if not raw:
        raise ConfigError(f"--space {os.fspath(path)} names no setting; e.g. lookback = {{low = 16, high = 96}}")
    return {key.replace("-", "_"): _param(path, key.replace("-", "_"), spec) for key, spec in raw.items()}


def merge_space(default: dict[str, Param], given: dict[str, Param], *, many: bool = False, path=None) -> dict:
    """The default space with the file's entries over it; refuses a many-series setting on one series.

    >>> merged = merge_space(default_space(5), {"units": Param("units", "fixed", choices=(16,))})
    >>> merged["units"].kind, merged["model"].kind
    ('fixed', 'categorical')
    """
    if not many:
        for key, p in given.items():
            if key in PANEL_ONLY and not (p.kind == "fixed" and p.choices[0] in (False, 0, 1, 0.0) and
                                          p.choices[0] == TABLE[key].default):
                raise ConfigError(f"{_where(path, key)}: {TABLE[key].flag} applies to many series (a long file "
                                  "with --id-col, a folder or a glob); drop it for one series")
    return {**default, **given}


def describe(space: dict[str, Param]) -> dict:
    """The space, JSON-ready: ``{name: Param.to_dict()}``."""
    return {name: p.to_dict() for name, p in space.items()}
