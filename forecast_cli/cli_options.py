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

__all__ = ["PANELS", "setting_option", "with_settings"]

# The help panel of each group's options ("settings" is the season, a field of Settings itself).
PANELS = {"data": "Data options", "window": "Window options", "settings": "Window options",
          "model": "Model options", "train": "Training options"}

# The option's type as Typer converts it, by the setting's type (its ``parse`` then turns that
# into the stored value).
_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "str | None": Optional[str],  # noqa: UP045
          "bool | None": Optional[bool], "int | None": Optional[int],  # noqa: UP045
          "tuple[str, ...]": Optional[list[str]], "int | str": str, "bool | str": str}  # noqa: UP045


_MADE: dict = {}


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
    metavar = s.metavar or (f"[{'|'.join(s.rule.choices)}]" if s.rule is not None and s.rule.choices else None)
    option = typer.Option(*option_decls(name), envvar=envvar(name), help=help or s.help, metavar=metavar,
                          show_default=cli_default(name) is not None,
                          rich_help_panel=PANELS[s.group] if panel else None)
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
