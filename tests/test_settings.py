"""Settings declared once: the table, the configs, the options of every command, env vars, TOML."""
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from forecast_cli import config
from forecast_cli.cli import app
from forecast_cli.config import DataConfig, ModelConfig, Settings, TrainConfig, WindowConfig, split_settings
from forecast_cli.errors import ConfigError
from forecast_cli.settings_table import TABLE, cli_default, envvar, from_cli

from conftest import AAPL

runner = CliRunner()
CONFIGS = {"data": DataConfig, "window": WindowConfig, "model": ModelConfig, "train": TrainConfig}
COMMANDS = typer.main.get_command(app).commands


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def _options(command: str) -> dict:
    return {p.name: p for p in COMMANDS[command].params if p.param_type_name == "option"}


# ---------------------------------------------------------------------------- the table and the configs
def test_every_config_field_is_one_row_of_the_table_with_its_default():
    fields = [(group, f) for group, cls in CONFIGS.items() for f in dataclasses.fields(cls)]
    fields += [("settings", f) for f in dataclasses.fields(Settings) if f.name == "season"]
    assert sorted(f.name for _, f in fields) == sorted(TABLE)
    for group, f in fields:
        row = TABLE[f.name]
        assert row.group == group and row.type == f.type and f.default == row.default, f.name
        assert row.help.endswith((".", ")")) and "\n" not in row.help, f.name


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_every_setting_is_exactly_one_option_of_evaluate_and_train(command):
    options = _options(command)
    flags = [opt for p in options.values() for opt in (*p.opts, *p.secondary_opts)]
    assert len(flags) == len(set(flags))  # no flag declared twice
    for name, row in TABLE.items():
        p = options[name]
        assert p.help == row.help
        assert p.envvar == envvar(name)
        assert from_cli(name, p.default) == row.default, name  # the option's default is the field's
        # a switch shows no "[default: ...]" (its help says when it is on); a value shows its default
        assert p.default == cli_default(name) and p.show_default == (p.default is not None and row.type != "bool")
        assert not p.show_envvar  # the epilog says FORECAST_<OPTION> once
        # the value is checked by the config, not by a Typer range as well
        assert p.min is None and p.max is None, name


def test_flags_aliases_and_envvars_kept_from_before():
    opts = _options("evaluate")
    assert opts["lookback"].opts == ["--lookback", "-l"] and opts["horizon"].opts == ["--horizon", "-H"]
    assert opts["target"].opts == ["--target", "-t"] and opts["model"].opts == ["--model", "-m"]
    assert opts["jit_compile"].opts == ["--jit"] and opts["jit_compile"].envvar == "FORECAST_JIT"
    assert opts["dayfirst"].secondary_opts == ["--no-dayfirst"] and opts["dayfirst"].default is None
    assert opts["local"].secondary_opts == [] and opts["local"].opts == ["--local"]  # off by default: one flag
    assert opts["linear_skip"].secondary_opts == ["--no-linear-skip"] and opts["linear_skip"].default is True
    assert opts["target"].multiple and opts["na_values"].multiple


def test_data_options_on_every_command_that_reads_data():
    data = {n for n, row in TABLE.items() if row.group == "data"}
    assert set(_options("check")) >= data and not set(_options("check")) & {"lookback", "units", "epochs"}
    for command in ("predict", "score"):  # the bundle's settings, overridable
        assert {"date_format", "dayfirst", "id_col"} <= set(_options(command))
        assert _options(command)["id_col"].envvar == "FORECAST_ID_COL"
    for command in ("evaluate", "train"):
        assert {"id_col", "local", "id_embedding", "strict"} <= set(_options(command))


def test_help_groups_the_settings_in_panels():
    r = invoke("evaluate", "--help", env={"COLUMNS": "160"})
    assert r.exit_code == 0
    for panel in ("Data", "Window and model", "Linear path", "Many series", "Training", "Evaluation", "Output"):
        assert f"─ {panel} ─" in r.stdout, panel
    assert "--id-embedding" in r.stdout and "--strict" in r.stdout and "[off|on|auto]" in r.stdout
    assert "Examples" in r.stdout and "$ forecast evaluate sample_data/AAPL.csv --target Close" in r.stdout
    assert "FORECAST_<OPTION>" in r.stdout and "[env var:" not in r.stdout


@pytest.mark.parametrize("columns, most", [(80, 165), (100, 120)])
def test_evaluate_help_is_short_and_cuts_no_option_name(columns, most):
    """About half its former length (293 lines at 80 columns, 221 at 100), and no name cut to '…'."""
    r = invoke("evaluate", "--help", env={"COLUMNS": str(columns)})
    lines = r.stdout.splitlines()
    assert r.exit_code == 0 and len(lines) <= most, len(lines)
    assert "…" not in r.stdout
    for flag in ("--recurrent-dropout", "--channel-independent", "--no-linear-skip", "--no-dayfirst"):
        assert flag in r.stdout


def test_help_never_loads_pandas_numpy_or_the_dataclasses():
    code = ("import sys\nfrom forecast_cli.cli import app\nsys.argv = ['forecast', 'evaluate', '--help']\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print('LOADED=' + ','.join(m for m in ('pandas', 'numpy', 'tensorflow', 'forecast_cli.config') "
            "if m in sys.modules), file=sys.stderr)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "LOADED=\n" in p.stderr and "--lookback" in p.stdout, p.stderr


# ---------------------------------------------------------------------------- one check, one message
BAD = [("units", "0", "--units must be an int >= 1. Got 0."),
       ("lookback", "0", "--lookback must be an int >= 1. Got 0."),
       ("dropout", "1.0", "--dropout must be a float in [0, 1). Got 1.0."),
       ("val_fraction", "0.5", "--val-fraction must be a float in (0, 0.5). Got 0.5."),
       ("learning_rate", "0", "--learning-rate must be a float > 0. Got 0.0."),
       ("seed", "-1", "--seed must be an int in [0, 4294967295]. Got -1."),
       ("threads", "-1", "--threads must be an int >= 0. Got -1."),
       ("max_gap", "-1", "--max-gap must be an int >= 0. Got -1."),
       ("gaps", "drop", "--gaps must be one of error, skip. Got 'drop'."),
       ("jit_compile", "sometimes", "--jit must be auto, on or off. Got 'sometimes'."),
       ("linear_rank", "0", "--linear-rank must be full, auto or an int >= 1. Got 0."),
       ("id_embedding", "-2", "--id-embedding must be an int >= 0. Got -2."),
       ("season", "0", "--season must be an int >= 1. Got 0.")]


@pytest.mark.parametrize("name, text, message", BAD)
def test_a_bad_value_is_refused_once_with_the_configs_message(name, text, message):
    flag = TABLE[name].flag
    r = invoke("evaluate", AAPL, "-t", "Close", f"{flag}={text}")
    assert r.exit_code == 2, r.output
    assert r.stderr == f"error: {message}\n"
    with pytest.raises(ConfigError) as e:  # the library says the same
        split_settings(**{name: from_cli(name, TABLE[name].rule and _typed(name, text))}).check()
    assert e.value.message == message


def _typed(name: str, text: str):
    """The value as Typer hands it over (before the setting's own parse)."""
    kind = TABLE[name].type
    return int(text) if kind in ("int", "int | None") else float(text) if kind == "float" else text


def test_cross_field_checks_stay_in_the_config():
    r = invoke("train", AAPL, "-o", "m.fcst", "--local", "--id-embedding", "4")
    assert r.exit_code == 2 and r.stderr == "error: --id-embedding applies to the global network: drop it or drop --local.\n"
    r = invoke("evaluate", AAPL, "--patch", "40", "--lookback", "30")
    assert r.exit_code == 2 and "--patch (40) must be <= --lookback (30)" in r.stderr
    r = invoke("check", AAPL, "--id-col", "Close", "--target", "Close")
    assert r.exit_code == 2 and "--id-col 'Close' names the series" in r.stderr


# ---------------------------------------------------------------------------- values reach the library
@pytest.fixture
def captured(monkeypatch):
    calls = {}

    def fake(name):
        def run(*args, **kwargs):
            calls[name] = (args, kwargs)
            return {"ok": True}
        return run

    monkeypatch.setattr("forecast_cli.api.evaluate", fake("evaluate"))
    monkeypatch.setattr("forecast_cli.api.train", fake("train"))
    return calls


def test_command_line_strings_become_the_configs_values(captured):
    r = invoke("evaluate", AAPL, "-t", "Close,Open", "-t", "High", "-l", "12", "-H", "3", "--season", "7",
               "--jit", "on", "--linear-fit", "lstsq", "--linear-rank", "3", "--no-dayfirst", "--id-col", "ticker",
               "--id-embedding", "4", "--val-fraction", "0.2", "--json")
    assert r.exit_code == 0, r.output
    (_, data, window, model, train), kw = captured["evaluate"]
    assert data.target == ("Close", "Open", "High") and data.dayfirst is False and data.id_col == "ticker"
    assert window == WindowConfig(12, 3) and kw["season"] == 7
    assert model.linear_rank == 3 and model.id_embedding == 4 and model.local is False
    assert train.jit_compile is True and train.val_fraction == 0.2
    assert kw.get("strict", False) is False


def test_local_and_strict_reach_train(captured):
    r = invoke("train", AAPL, "-o", "m.fcst", "--local", "--strict", "--jit", "auto", "--json")
    assert r.exit_code == 0, r.output
    (_, output, data, window, model, train), kw = captured["train"]
    assert output == "m.fcst" and model.local is True and kw["strict"] is True and train.jit_compile == "auto"
    assert (data, window) == (DataConfig(), WindowConfig())


@pytest.mark.parametrize("command, target", [("predict", "forecast_cli.forecasting.predict"),
                                             ("score", "forecast_cli.scoring.score")])
def test_id_col_reaches_predict_and_score(monkeypatch, tmp_path, command, target):
    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        raise ConfigError("stopped here")

    monkeypatch.setattr(target, fake)
    extra = ["-o", tmp_path / "out"] if command == "score" else []
    r = invoke(command, tmp_path / "m.fcst", AAPL, *extra, "--id-col", "ticker", "--no-dayfirst")
    assert r.exit_code == 2 and r.stderr == "error: stopped here\n", r.output
    assert seen["id_col"] == "ticker" and seen["dayfirst"] is False


def test_environment_variables_feed_the_settings(captured, monkeypatch):
    monkeypatch.setenv("FORECAST_JIT", "on")
    monkeypatch.setenv("FORECAST_LOCAL", "1")
    monkeypatch.setenv("FORECAST_ID_COL", "sensor")
    monkeypatch.setenv("FORECAST_LOOKBACK", "9")
    r = invoke("evaluate", AAPL, "--json")
    assert r.exit_code == 0, r.output
    (_, data, window, model, train), _ = captured["evaluate"]
    assert train.jit_compile is True and model.local is True and data.id_col == "sensor" and window.lookback == 9
    monkeypatch.setenv("FORECAST_UNITS", "0")
    r = invoke("evaluate", AAPL, "--json")
    assert r.exit_code == 2 and r.stderr == "error: --units must be an int >= 1. Got 0.\n"


def _toml(tmp_path, text):
    path = tmp_path / "forecast.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_file_takes_the_new_keys(captured, tmp_path):
    cfg = _toml(tmp_path, 'id-col = "ticker"\nlocal = true\nstrict = true\njit = "auto"\nval_fraction = 0.25\n'
                          '[evaluate]\nid_embedding = 0\nlinear-fit = "lstsq"\nlinear-rank = "auto"\n')
    r = invoke("--config", cfg, "evaluate", AAPL, "--json")
    assert r.exit_code == 0, r.output
    (_, data, _, model, train), kw = captured["evaluate"]
    assert data.id_col == "ticker" and model.local is True and model.linear_rank == "auto"
    assert train.jit_compile == "auto" and train.val_fraction == 0.25 and kw["strict"] is True


@pytest.mark.parametrize("text, expected", [
    ("units = 0\n", "forecast.toml: key 'units': --units must be an int >= 1. Got 0."),
    ('[train]\njit = "maybe"\n', "forecast.toml: key 'jit': --jit must be auto, on or off. Got 'maybe'."),
    ("id_cols = 'x'\n", "unknown key 'id_cols' (did you mean 'id_col'?)"),
    ("[check]\nlocal = true\n", "unknown key 'local' in [check]"),
])
def test_config_file_values_are_checked_against_the_table(tmp_path, text, expected):
    r = invoke("--config", _toml(tmp_path, text), "check", AAPL)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and expected in r.stderr, r.stderr


# ---------------------------------------------------------------------------- split_settings
def test_split_settings_round_trip_and_defaults():
    kwargs = {"lookback": 48, "horizon": 24, "units": 8, "epochs": 2, "seed": 3, "local": True, "id_col": "id",
              "target": "y", "linear_fit": "lstsq", "linear_rank": 2, "jit_compile": "auto", "season": 24}
    s = split_settings(**kwargs).check()
    data, window, model, train = s
    assert (window.lookback, model.units, train.seed, data.target, s.season) == (48, 8, 3, ("y",), 24)
    flat = s.to_kwargs()
    assert set(flat) == set(TABLE) and split_settings(**flat) == s
    assert split_settings() == Settings() and tuple(Settings()) == (DataConfig(), WindowConfig(), ModelConfig(),
                                                                     TrainConfig())
    assert json.dumps({g: config.to_dict(c) for g, c in zip(CONFIGS, s)})  # JSON-ready


def test_split_settings_stores_numpy_numbers_as_python_ones():
    s = split_settings(units=np.int64(8), dropout=np.float32(0.25), lookback=np.int32(10), learning_rate=1)
    assert type(s.model.units) is int and type(s.window.lookback) is int
    assert type(s.model.dropout) is float and type(s.train.learning_rate) is float
    s.check()


@pytest.mark.parametrize("kwargs, message", [
    ({"lookbak": 3}, "unknown setting 'lookbak'; did you mean 'lookback'?"),
    ({"epoch": 3}, "unknown setting 'epoch'; did you mean 'epochs'?"),
    ({"zzz": 1}, "unknown setting 'zzz'; see forecast_cli.config.settings_table() for the names"),
    ({"units": "32"}, None),
    ({"local": "yes"}, None),
])
def test_split_settings_refuses_unknown_names_and_check_refuses_bad_types(kwargs, message):
    if message is not None:
        with pytest.raises(ConfigError) as e:
            split_settings(**kwargs)
        assert e.value.message == message
    else:  # stored as given, refused by check
        s = split_settings(**kwargs)
        with pytest.raises(ConfigError, match=rf"--{next(iter(kwargs))} must be"):
            s.check()


def test_settings_table_lists_every_setting():
    rows = config.settings_table()
    assert [r["name"] for r in rows] == list(TABLE)
    assert all(set(r) == {"name", "group", "default", "flags", "envvar", "help"} for r in rows)
    assert next(r for r in rows if r["name"] == "local")["flags"] == ("--local",)
