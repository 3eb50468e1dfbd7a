"""The ``--config FILE.toml`` file: option defaults for every command, checked against the options.

The file holds the options' long names (dashes or underscores) at the top level, for every
command that has them, and in ``[command]`` tables, for that command only. Every key must be an
option of some command (or of the table's command), every table a command, and every value of
the option's type; anything else is a usage error that names the file and the key, and suggests
the nearest valid name. A misspelt key would otherwise be ignored and the run would use the
built-in default without a word.

Only the standard library, Typer and :mod:`forecast_cli.settings_table` (which the CLI has
loaded already) are imported here.
"""
from __future__ import annotations

import difflib
from pathlib import Path

import typer

__all__ = ["ConfigFileError", "read_config", "default_map"]


class ConfigFileError(Exception):
    """The config file is missing, not TOML, or names an unknown key or a value of the wrong type."""


def read_config(path: Path) -> dict:
    """The parsed TOML file; :class:`ConfigFileError` names the file when it cannot be read."""
    import tomllib

    from .files import not_regular

    kind = not_regular(path)
    if kind:
        raise ConfigFileError(f"config file {path} is not a regular file ({kind})")
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"config file {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError, PermissionError) as e:
        raise ConfigFileError(f"{path}: {e}") from None


def _option_keys(command) -> dict:
    """Config keys (long option names with underscores, and parameter names) -> the option."""
    keys = {}
    for param in command.params:
        if getattr(param, "param_type_name", None) != "option":
            continue
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("--") and not opt.startswith("--no-"):
                keys[opt[2:].replace("-", "_")] = param
        keys[param.name] = param
    keys.pop("help", None)
    return keys


def _key(name: str) -> str:
    """Dashes and underscores are the same in a key."""
    return name.replace("-", "_")


def _unknown(kind: str, name: str, choices, where: str) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}'{where}{hint}"


def _is_setting(param) -> bool:
    """The option was made from a field of the settings table (same name, same environment variable)."""
    from .settings_table import TABLE, envvar

    return param.name in TABLE and param.envvar == envvar(param.name)


def _cast(ctx: typer.Context, param, value, path: Path, key: str):
    """The value as the option takes it; a lone string where a list is expected is a one-item list.

    A setting's value is also checked against its rule (the one its config's ``check()`` applies),
    so that a bad value names the file and the key rather than only the option.
    """
    if param.multiple and isinstance(value, str):
        value = [value]
    try:
        converted = param.process_value(ctx, value)
    except typer.BadParameter as e:
        raise ConfigFileError(f"{path}: key '{key}': {e.message}") from None
    except (TypeError, ValueError) as e:
        raise ConfigFileError(f"{path}: key '{key}': {e}") from None
    if _is_setting(param):
        from .errors import ConfigError
        from .settings_table import check_value, from_cli

        try:
            check_value(param.name, from_cli(param.name, converted))
        except ConfigError as e:
            raise ConfigFileError(f"{path}: key '{key}': {e.message}") from None
    return value


def default_map(ctx: typer.Context, raw: dict, path: Path) -> dict:
    """Click's ``default_map`` for every command, from the parsed file; each key and value checked.

    Keys at the top level apply to every command that has the option; a ``[command]`` table's keys
    override them for that command.
    """
    commands = getattr(ctx.command, "commands", {})
    options = {name: _option_keys(cmd) for name, cmd in commands.items()}
    every_key = set().union(*options.values()) if options else set()
    flat = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in raw.items() if isinstance(v, dict)}

    problems = [_unknown("key", k, every_key, "") for k in flat if _key(k) not in every_key]
    for name, table in tables.items():
        if name not in commands:
            problems.append(_unknown("table", f"[{name}]", [f"[{c}]" for c in commands], ""))
            continue
        problems += [_unknown("key", k, options[name], f" in [{name}]") for k in table if _key(k) not in options[name]]
    if problems:
        raise ConfigFileError(f"{path}: " + "; ".join(problems) + "; see 'forecast COMMAND --help' for the options")

    out = {}
    for name, keys in options.items():
        merged = {_key(k): (k, v) for k, v in flat.items() if _key(k) in keys}
        merged.update({_key(k): (k, v) for k, v in tables.get(name, {}).items()})
        out[name] = {keys[norm].name: _cast(ctx, keys[norm], v, path, k) for norm, (k, v) in merged.items()}
    return out
