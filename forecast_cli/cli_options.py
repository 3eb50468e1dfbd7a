"""The commands' setting options, built from the table in :mod:`forecast_cli.settings_table`.

Typer reads a command's options from ``inspect.signature``; :func:`with_settings` gives the
command a signature with one option per setting (flags, environment variable, help and default
all from the table) and hands the command one checked :class:`~forecast_cli.config.Settings` in
their place. So ``evaluate`` and ``train`` declare none of their ~35 setting options themselves,
and a value is checked once, by the configs' ``check()`` (a bad one is a usage error, exit 2),
not again by Typer bounds.

Only the standard library, Typer and the table are imported here; :mod:`forecast_cli.config`
(the dataclasses) only when a command runs.
"""
from __future__ import annotations

import functools
import inspect
from typing import Annotated, Optional

import typer

from .settings_table import TABLE, cli_default, envvar, option_decls

__all__ = ["OUTPUT_PANEL", "PANELS", "complete_columns", "header_columns", "setting_option", "with_settings"]

# The help panel of each group's options ("settings" is the season, a field of Settings itself).
PANELS = {"data": "Data", "window": "Window and model", "settings": "Window and model",
          "model": "Window and model", "train": "Training"}
OUTPUT_PANEL = "Output"
# Settings shown apart from their group's panel: the linear path, and those of many series only.
_OWN_PANEL = {"linear_skip": "Linear path", "linear_fit": "Linear path", "linear_rank": "Linear path",
              "local": "Many series", "id_embedding": "Many series", "ensemble": "Many series",
              "balance": "Many series", "theta_weight": "Many series", "stat_baseline": "Evaluation"}

# How --help names a value, by the setting's type (a flag names none).
_METAVARS = {"int": "INT", "float": "FLOAT", "str": "TEXT", "str | None": "TEXT", "int | None": "INT",
             "tuple[str, ...]": "COLS", "int | str": "TEXT", "bool | str": "TEXT", "bool": "", "bool | None": ""}

# The option's type as Typer converts it, by the setting's type (its ``parse`` then turns that
# into the stored value).
_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "str | None": Optional[str],  # noqa: UP045
          "bool | None": Optional[bool], "int | None": Optional[int],  # noqa: UP045
          "tuple[str, ...]": Optional[list[str]], "int | str": str, "bool | str": str}  # noqa: UP045


_MADE: dict = {}

# Settings whose values are column names: the shell completes them from the DATA file's header.
_COLUMN_SETTINGS = ("target", "features", "date_col", "time_col", "id_col")


def header_columns(path: str, budget: int = 65536) -> list[str]:
    """The column names in the first line of a CSV file, delimiter sniffed; [] when it cannot be read.

    Cheap on purpose (the shell waits for it): the first ``budget`` bytes, the standard library only.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("Date;Close;Volume\\n2024-01-02;1,5;10\\n")
    >>> header_columns(f.name)
    ['Date', 'Close', 'Volume']
    >>> os.unlink(f.name)
    """
    import csv
    import os

    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            head = fh.read(budget)
    except OSError:
        return []
    first = head.splitlines()[0] if head else ""
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    return [c.strip() for c in next(csv.reader([first], dialect), []) if c.strip()]


def complete_columns(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of a column option: the names in the header of the first DATA file on the
    command line. DATA is not parsed yet while an option's value is being typed, so the words come
    from the shell's completion request (bash's ``COMP_WORDS``, Typer's ``_TYPER_COMPLETE_ARGS``)."""
    import os
    import shlex

    data = (ctx.params or {}).get("data")
    if not data:
        line = os.environ.get("COMP_WORDS") or os.environ.get("_TYPER_COMPLETE_ARGS") or ""
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        data = [w for w in words if not w.startswith("-") and os.path.isfile(w)]
    for path in ([data] if isinstance(data, str) else data):
        names = header_columns(str(path))
        if names:
            return [n for n in names if n.startswith(incomplete)]
    return []


def setting_option(name: str, *, help: str | None = None, panel: bool = True):
    """The ``Annotated`` type of a setting's Typer option (its default: the table's ``cli_default``).

    Args:
        name: the setting, e.g. ``"lookback"``.
        help: help text in place of the table's (``predict``'s date options: "overrides the
            bundle's"). Defaults to None.
        panel: put it in its group's help panel. Defaults to True.
    """
    if help is None and panel and name in _MADE:  # one per setting, shared by the commands (Typer copies it)
        return _MADE[name]
    s = TABLE[name]
    metavar = s.metavar or (f"[{'|'.join(s.rule.choices)}]" if s.rule is not None and s.rule.choices
                            else _METAVARS[s.type])
    if name in ("target", "features"):
        metavar = "COL,..."
    option = typer.Option(*option_decls(name), envvar=envvar(name), show_envvar=False, help=help or s.help,
                          metavar=metavar, show_default=cli_default(name) is not None and s.type != "bool",
                          autocompletion=complete_columns if name in _COLUMN_SETTINGS else None,
                          rich_help_panel=_OWN_PANEL.get(name, PANELS[s.group]) if panel else None)
    annotation = Annotated[_TYPES[s.type], option]
    if help is None and panel:
        _MADE[name] = annotation
    return annotation


def _own_parameters(fn) -> list[inspect.Parameter]:
    """The command's own parameters, annotations evaluated (``settings`` left out), keyword-only."""
    params = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == "settings":
            continue
        ann = p.annotation
        if isinstance(ann, str):
            ann = eval(ann, fn.__globals__)  # the command's own annotation, as Typer reads it
        params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=ann))
    return params


def with_settings(*groups: str):
    """Give a command one option per setting of ``groups`` and a checked ``settings`` argument.

    The command declares a parameter ``settings`` (a :class:`~forecast_cli.config.Settings`);
    the signature Typer sees has the settings' options in its place, after the command's own.
    Settings of the groups not named keep their defaults.

    Args:
        *groups: ``"data"``, ``"window"``, ``"settings"`` (the season), ``"model"``, ``"train"``.
    """
    names = [s.name for s in TABLE.values() if s.group in groups]

    def decorate(fn):
        own = _own_parameters(fn)
        clash = {p.name for p in own} & set(names)
        if clash:  # pragma: no cover - a programming error, caught at import
            raise TypeError(f"{fn.__name__}: options {sorted(clash)} are settings already")
        params = own + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=setting_option(name),
                                          default=cli_default(name)) for name in names]

        @functools.wraps(fn)
        def command(**kwargs):
            from .config import Settings

            values = {name: kwargs.pop(name) for name in names}
            return fn(settings=Settings.from_cli(**values).check(), **kwargs)

        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate
