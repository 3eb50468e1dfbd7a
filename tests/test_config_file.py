"""The --config TOML file: unknown keys and tables, wrong types and lone strings for lists."""
import json

import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app

from conftest import AAPL

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _config(tmp_path, text: str):
    path = tmp_path / "forecast.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, expected", [
    ("lokback = 10\n", "unknown key 'lokback' (did you mean 'lookback'?)"),
    ("[evalute]\nfolds = 2\n", "unknown table '[evalute]' (did you mean '[evaluate]'?)"),
    ("[evaluate]\nfold = 2\n", "unknown key 'fold' in [evaluate] (did you mean 'folds'?)"),
    ("[check]\nlookback = 5\n", "unknown key 'lookback' in [check]"),
])
def test_unknown_keys_and_tables_are_usage_errors(tmp_path, text, expected):
    r = invoke("--config", _config(tmp_path, text), "check", AAPL)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "forecast.toml" in r.stderr and expected in r.stderr
    assert r.stdout == ""


def test_misspellings_are_all_named_in_one_line(tmp_path):
    r = invoke("--config", _config(tmp_path, "lokback = 10\nhorizn = 2\n[evalute]\nepochs = 1\n"), "check", AAPL)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert all(name in r.stderr for name in ("'lokback'", "'horizn'", "'[evalute]'"))


@pytest.mark.parametrize("text", ['[evaluate]\nlookback = "abc"\n', "lookback = [3]\n", "max-gap = -1.5\n"])
def test_a_value_of_the_wrong_type_names_the_file_and_key(tmp_path, text):
    r = invoke("--config", _config(tmp_path, text), "check", AAPL)
    assert r.exit_code == 2, r.output
    key = text.split("=")[0].split("\n")[-1].strip()
    assert f"forecast.toml: key '{key}'" in r.stderr and r.stderr.count("\n") == 1
    assert "env var" not in r.stderr and "FORECAST_" not in r.stderr


def test_a_string_where_a_list_is_expected_is_a_one_item_list(tmp_path):
    r = invoke("--config", _config(tmp_path, 'target = "Close"\nna-values = "-200"\n'), "check", AAPL, "--json")
    assert r.exit_code == 0, r.output
    assert [c["name"] for c in json.loads(r.stdout)["columns"]] == ["Close"]


def test_dashes_and_underscores_and_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECAST_CONFIG", str(_config(tmp_path, "max-gap = 2\n[check]\nmax_gap = 1\n")))
    assert invoke("check", AAPL).exit_code == 0
    monkeypatch.setenv("FORECAST_CONFIG", str(_config(tmp_path, "max-gaps = 2\n")))
    r = invoke("check", AAPL)
    assert r.exit_code == 2 and "did you mean 'max_gap'" in r.stderr
