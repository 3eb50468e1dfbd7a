"""The table of settings: each one's default, help, flags, command-line reading and rule, once.

The config dataclasses (:mod:`forecast_cli.config`) take their fields' defaults and rules from
here, the command line builds its options from here (:mod:`forecast_cli.cli_options`) and the
``--config`` file is checked against it. It is a module of its own, apart from the dataclasses,
because ``forecast --help`` builds every option from it: a plain table costs that start-up
less than the dataclasses would (``config.py`` is imported only by the commands that run).

>>> TABLE["horizon"].default, option_decls("lookback"), envvar("jit_compile"), cli_default("jit_compile")
(5, ('--lookback', '-l'), 'FORECAST_JIT', 'off')
>>> check_value("units", 0)
Traceback (most recent call last):
...
forecast_cli.errors.ConfigError: --units must be an int >= 1. Got 0.
"""
from __future__ import annotations

import math

from .errors import ConfigError

__all__ = ["GROUPS", "TABLE", "Rule", "Setting", "check_value", "cli_default", "envvar", "from_cli",
           "option_decls", "unknown_setting"]


# ----------------------------------------------------------------------------- rules
class Rule:
    """What a value must be: a test, and the words that say so in a message ("an int >= 1")."""

    __slots__ = ("choices", "expect", "ok")

    def __init__(self, ok, expect: str, choices: tuple = ()):
        self.ok, self.expect, self.choices = ok, expect, choices


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(lo: int, hi: int | None = None, *, none: bool = False) -> Rule:
    expect = f"an int >= {lo}" if hi is None else f"an int in [{lo}, {hi}]"
    return Rule(lambda v: (none and v is None) or (_is_int(v) and v >= lo and (hi is None or v <= hi)), expect)


def _float(lo: float, hi: float | None = None, *, lo_open: bool = False) -> Rule:
    """A float above ``lo`` (``>`` when ``lo_open``), and below ``hi`` (always open) when given."""
    cmp = ">" if lo_open else ">="
    expect = f"a float {cmp} {lo:g}" if hi is None else f"a float in {'(' if lo_open else '['}{lo:g}, {hi:g})"

    def ok(v) -> bool:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
            return False
        return (v > lo if lo_open else v >= lo) and (hi is None or v < hi)

    return Rule(ok, expect)


def _one_of(*choices: str) -> Rule:
    return Rule(lambda v: isinstance(v, str) and v in choices, f"one of {', '.join(choices)}", choices)


_BOOL = Rule(lambda v: v is True or v is False, "true or false")
_BOOL_OR_NONE = Rule(lambda v: v is None or v is True or v is False, "true or false")
_TEXT_OR_NONE = Rule(lambda v: v is None or (isinstance(v, str) and v != ""), "a non-empty string")
_NAMES = Rule(lambda v: isinstance(v, tuple) and all(isinstance(s, str) and s for s in v),
              "a column name or a list of column names")
_RANK = Rule(lambda r: r in ("full", "auto") if isinstance(r, str) else (_is_int(r) and r >= 1),
             "full, auto or an int >= 1")
_JIT = Rule(lambda v: v is True or v is False or v == "auto", "auto, on or off")


# ----------------------------------------------------------------------------- command-line strings
def _items(v) -> tuple:
    """A list option: each item split at commas (``-t a,b -t c`` -> ``('a', 'b', 'c')``)."""
    out = []
    for item in () if v is None else ([v] if isinstance(v, str) else v):
        out.extend(s.strip() for s in str(item).split(",") if s.strip())
    return tuple(out)


def _switch(v):
    """``--jit``: ``on``/``off``/``auto`` (or true/false) -> True/False/"auto"; anything else as it is."""
    if isinstance(v, str):
        return {"auto": "auto", "on": True, "true": True, "off": False, "false": False}.get(v.strip().lower(), v)
    return v


def _show_switch(v):
    return "on" if v is True else "off" if v is False else v


def _rank(v):
    """``--linear-rank``: ``full``, ``auto`` or an int (the rule names a bad value)."""
    if isinstance(v, str):
        text = v.strip().lower()
        return int(text) if text.lstrip("+-").isdigit() else text
    return v


# ----------------------------------------------------------------------------- the table
class Setting:
    """One setting: where it lives, its type, default, help, flags, and how its value is read and checked.

    Args:
        group: ``data``, ``window``, ``model``, ``train`` (the config that holds it) or
            ``settings`` (a field of :class:`~forecast_cli.config.Settings` itself).
        name: the field's name (and the keyword argument's).
        type: the field's annotation as written in the dataclass (``"int"``, ``"str | None"``).
        default: the default value, the library's and the command line's.
        help: one line for ``--help``; the config's docstring has the long form.
        *aliases: short flags, e.g. ``"-l"``.
        flag: the long flag when it is not ``--`` + the name with dashes. Defaults to None.
            A bool setting on by default (or None) gets ``--x/--no-x``; one off by default ``--x``.
        rule: what a value must be (checked by the config's ``check()``). Defaults to None.
        parse: the command line's value (a string, or a tuple for a list option) -> the
            setting's value; None keeps it as Typer converted it. Defaults to None.
        show: the default as the command line writes it (``off`` for False). Defaults to None.
        metavar: how ``--help`` names the value; a rule's choices when None. Defaults to None.
    """

    __slots__ = ("aliases", "default", "flag", "group", "help", "metavar", "name", "parse", "rule", "show", "type")

    def __init__(self, group: str, name: str, type: str, default, help: str, *aliases: str, flag: str | None = None,
                 rule: Rule | None = None, parse=None, show=None, metavar: str | None = None):
        self.group, self.name, self.type, self.default = group, name, type, default
        self.help, self.aliases = help, aliases
        self.flag = flag or "--" + name.replace("_", "-")
        self.rule, self.parse, self.show, self.metavar = rule, parse, show, metavar

    def __repr__(self) -> str:
        return f"Setting({self.group!r}, {self.name!r}, default={self.default!r})"


GROUPS = ("data", "window", "settings", "model", "train")

_D, _W, _S, _M, _T = GROUPS
_ROWS = (
    # DataConfig
    Setting(_D, "target", "tuple[str, ...]", (), "Column(s) to forecast, comma-separated.", "-t", rule=_NAMES, parse=_items),
    Setting(_D, "features", "tuple[str, ...]", (), "Extra numeric input columns, comma-separated.",
            "-f", rule=_NAMES, parse=_items),
    Setting(_D, "date_col", "str | None", None, "Date column (found if omitted).",
            rule=_TEXT_OR_NONE),
    Setting(_D, "time_col", "str | None", None, "Time-of-day column to join to the date.",
            rule=_TEXT_OR_NONE),
    Setting(_D, "na_values", "tuple[str, ...]", (), "Extra missing-value markers, e.g. -200.", parse=_items),
    Setting(_D, "max_gap", "int", 3, "Interpolate gaps of up to N missing steps.", rule=_int(0)),
    Setting(_D, "gaps", "str", "error", "Longer gaps: error, or skip their windows.",
            rule=_one_of("error", "skip")),
    Setting(_D, "sep", "str | None", None, "Field delimiter (sniffed if omitted).", rule=_TEXT_OR_NONE),
    Setting(_D, "decimal", "str | None", None, "Decimal mark (sniffed if omitted).", rule=_TEXT_OR_NONE),
    Setting(_D, "date_format", "str | None", None,
            "strftime format of the dates, e.g. '%d/%m/%Y'.", rule=_TEXT_OR_NONE),
    Setting(_D, "dayfirst", "bool | None", None, "Read 01/02/2021 day-first (or month-first); default: from the data.", rule=_BOOL_OR_NONE),
    Setting(_D, "id_col", "str | None", None, "Column naming the series in a long file.", rule=_TEXT_OR_NONE),
    # WindowConfig, and Settings.season
    Setting(_W, "lookback", "int | None", None, "Input window length (default: whole seasons, >= 30).", "-l",
            rule=_int(1, none=True)),
    Setting(_W, "horizon", "int", 5, "Steps predicted at once.", "-H", rule=_int(1)),
    Setting(_S, "season", "int | None", None, "Season length (default: from the frequency).",
            rule=_int(1, none=True)),
    # ModelConfig
    Setting(_M, "model", "str", "lstm", "lstm, gru, attention or peephole.", "-m",
            rule=_one_of("lstm", "gru", "attention", "peephole"), metavar="NAME"),
    Setting(_M, "units", "int", 32, "Units per recurrent layer.", rule=_int(1)),
    Setting(_M, "layers", "int", 1, "Stacked recurrent layers.", rule=_int(1)),
    Setting(_M, "dropout", "float", 0.1, "Dropout after the recurrent layers.",
            rule=_float(0, 1)),
    Setting(_M, "recurrent_dropout", "float", 0.0, "Dropout on the recurrent state.", rule=_float(0, 1)),
    Setting(_M, "norm", "str", "last", "last: model changes from the last value; none: levels.",
            rule=_one_of("last", "none")),
    Setting(_M, "transform", "str", "none", "none, log, boxcox or auto.",
            rule=_one_of("auto", "log", "boxcox", "none"), metavar="KIND"),
    Setting(_M, "linear_skip", "bool", True, "A linear path beside the recurrent one (default on).",
            rule=_BOOL),
    Setting(_M, "patch", "int", 0, "Recurrent layers over patches of N steps; 0: off.", rule=_int(0)),
    Setting(_M, "channel_independent", "bool", False, "Each column from its own history, shared weights.", rule=_BOOL),
    Setting(_M, "linear_fit", "str", "auto", "Linear path's fit.",
            rule=_one_of("auto", "adam", "lstsq")),
    Setting(_M, "linear_rank", "int | str", "full", "With lstsq: full, a rank r, or auto.",
            rule=_RANK, parse=_rank, metavar="RANK"),
    Setting(_M, "local", "bool", False, "One network per series, not one global network.", rule=_BOOL),
    Setting(_M, "id_embedding", "int", 0, "Each series' id as a learned embedding of N dimensions; 0: off.", rule=_int(0)),
    Setting(_M, "ensemble", "int", 1, "Average N networks reading ever shorter windows.", rule=_int(1, 16)),
    Setting(_M, "theta_weight", "float", 0.0, "Blend in AutoTheta at this weight; 0: off.", rule=_float(0, 1)),
    # TrainConfig
    Setting(_T, "epochs", "int | None", None, "Most epochs (default: from --steps).", rule=_int(1, none=True)),
    Setting(_T, "steps", "int", 1000, "Steps that size the epochs.", rule=_int(1)),
    Setting(_T, "batch_size", "int", 64, "Windows per step.", rule=_int(1)),
    Setting(_T, "patience", "int | None", None, "Early-stopping patience (epochs).", rule=_int(0, none=True)),
    Setting(_T, "val_fraction", "float", 0.1, "Tail of training windows for early stopping.",
            rule=_float(0, 0.5, lo_open=True)),
    Setting(_T, "learning_rate", "float", 1e-3, "Adam step size.", rule=_float(0, lo_open=True)),
    Setting(_T, "seed", "int", 0, "Random seed: same seed, same numbers.", rule=_int(0, 2**32 - 1)),
    Setting(_T, "threads", "int", 1, "TensorFlow threads (0: its choice).", rule=_int(0)),
    Setting(_T, "jit_compile", "bool | str", False, "XLA-compile training: off, on, or auto (large data).", flag="--jit", rule=_JIT, parse=_switch, show=_show_switch,
            metavar="[off|on|auto]"),
    Setting(_T, "balance", "float", 0.0, "Weight windows towards relative errors (sMAPE); 0: off.",
            rule=_float(0)),
    Setting(_T, "stat_baseline", "bool", True, "AutoETS baseline (stats extra).",
            rule=_BOOL),
)

# name -> Setting, in the order of the configs' fields (and of the options in --help).
TABLE = {s.name: s for s in _ROWS}


# ----------------------------------------------------------------------------- helpers
def unknown_setting(name: str) -> str:
    """The message for a name that is no setting, with the nearest valid one."""
    import difflib

    close = difflib.get_close_matches(name, list(TABLE), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else "see forecast_cli.config.settings_table() for the names"
    return f"unknown setting {name!r}; {hint}"


def _get(name: str) -> Setting:
    try:
        return TABLE[name]
    except KeyError:
        raise ConfigError(unknown_setting(name)) from None


def option_decls(name: str) -> tuple[str, ...]:
    """The command-line flags of a setting: ``("--lookback", "-l")``, ``("--local",)``,
    ``("--linear-skip/--no-linear-skip",)``."""
    s = _get(name)
    # A switch that is off by default is one flag; one that is on (or decided from the data) can be turned off.
    negatable = s.type == "bool | None" or (s.type == "bool" and s.default is True)
    return (f"{s.flag}/--no-{s.flag[2:]}" if negatable else s.flag, *s.aliases)


def envvar(name: str) -> str:
    """The environment variable of a setting: ``FORECAST_`` + its long flag (``FORECAST_JIT``)."""
    return "FORECAST_" + _get(name).flag[2:].replace("-", "_").upper()


def cli_default(name: str):
    """A setting's default as the command line writes it (``off`` for ``jit_compile=False``; None for ``()``)."""
    s = _get(name)
    if s.show is not None:
        return s.show(s.default)
    return None if s.default == () else s.default


def from_cli(name: str, value):
    """A command-line (or config-file) value of a setting, as the config stores it.

    >>> from_cli("jit_compile", "on"), from_cli("linear_rank", "3"), from_cli("target", ["Close,Open", "High"])
    (True, 3, ('Close', 'Open', 'High'))
    """
    parse = _get(name).parse
    return value if parse is None else parse(value)


def check_value(name: str, value) -> None:
    """Check one value against its setting's rule; ConfigError naming the flag when it breaks it.

    >>> check_value("dropout", 1.5)
    Traceback (most recent call last):
    ...
    forecast_cli.errors.ConfigError: --dropout must be a float in [0, 1). Got 1.5.
    """
    s = _get(name)
    if s.rule is not None and not s.rule.ok(value):
        raise ConfigError(f"{s.flag} must be {s.rule.expect}. Got {value!r}.")
