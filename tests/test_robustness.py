"""Every malformed input in tests/corpus gets one clear line and exit 1, or is read correctly.

Each case of CASES runs through ``check`` and ``evaluate`` (CLI, in-process) and, in one batch,
through ``score`` with a tiny bundle trained on tests/corpus/clean.csv. An error case must end
with exit 1 and exactly one stderr line ``error: <file>: ...`` that names the column or line and
says how to fix it; no traceback. Where a sensible reading exists the file is read to the same
numbers as clean.csv.

Expected outcomes per command: ``OK`` (exit 0), or ``err(substring, ...)`` (exit 1, one line
holding every substring). ``check`` only describes a file: it needs no target and reports gaps
instead of failing, so some cases are errors for ``evaluate`` and fine for ``check``.
"""
from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app
from forecast_cli.config import DataConfig
from forecast_cli.data import load
from forecast_cli.errors import DataError

from conftest import FAST_CLI, FAST_MODEL, FAST_TRAIN

CORPUS = Path(__file__).resolve().parent / "corpus"
sys.path.insert(0, str(CORPUS))
from make_corpus import clean_values  # noqa: E402

runner = CliRunner()
OK = "ok"
EVAL_ARGS = ["--lookback", "5", "--horizon", "2", "--folds", "2", *FAST_CLI, "--epochs", "1"]
CLEAN = np.asarray(clean_values(), dtype=np.float64)


def err(*parts: str):
    return ("error", list(parts))


@dataclass(frozen=True)
class Case:
    file: str
    args: tuple = ()  # extra data options given to check and evaluate
    check: object = OK
    evaluate: object = OK
    score: object = OK  # OK, or err(...) for the file's summary.json entry
    same_as_clean: bool = False  # read to exactly clean.csv's values (sensible reading)


# The corpus table. Each error names the file (checked for every case), the column/line, and a fix.
CASES = [
    # --- files that cannot be read
    Case("empty.csv", check=err("the file is empty", "give a CSV with a header"),
         evaluate=err("the file is empty"), score=err("the file is empty")),
    Case("blank_lines_only.csv", check=err("the file is empty", "give a CSV"),
         evaluate=err("the file is empty"), score=err("the file is empty")),
    Case("header_only.csv", check=err("no data rows", "line 1", "at least one data row"),
         evaluate=err("no data rows", "line 1"), score=err("no data rows")),
    Case("binary_xlsx.csv", check=err("not a text CSV file", "export it as CSV"),
         evaluate=err("not a text CSV file"), score=err("not a text CSV file")),
    Case("gzip.csv", check=err("not a text CSV file", "export it as CSV"),
         evaluate=err("not a text CSV file"), score=err("not a text CSV file")),
    Case("nul_bytes.csv", check=err("not a text CSV file", "export it as CSV"),
         evaluate=err("not a text CSV file"), score=err("not a text CSV file")),
    Case("does_not_exist.csv", check=err("file not found", "check the path"),
         evaluate=err("file not found", "check the path"), score=err("file not found")),
    Case("directory.csv", check=err("is a directory", "give the path of a .csv file"),
         evaluate=err("is a directory", "give the path of a .csv file"),
         score=err("directory has no .csv files")),  # score takes directories: it looks inside
    Case("ragged_row.csv", check=err("line 27", "Expected 2 fields", "check the delimiter"),
         evaluate=err("line 27", "check the delimiter"), score=err("line 27")),
    Case("duplicate_column_names.csv", check=err("line 1", "column 'y' appears twice", "rename or remove"),
         evaluate=err("column 'y' appears twice", "rename"), score=err("column 'y' appears twice")),
    # --- the time index
    Case("no_date_column.csv", check=err("no date column found", "columns are: a, b", "--date-col"),
         evaluate=err("no date column found", "--date-col"), score=err("'date'", "not found")),
    Case("unparseable_dates.csv", check=err("column 'date' line 2", "cannot parse 'day 0'", "--date-col"),
         evaluate=err("column 'date' line 2", "cannot parse"), score=err("column 'date' line 2")),
    Case("mixed_date_formats.csv",
         check=err("column 'date' line 43", "sometime in February", "use one date format"),
         evaluate=err("column 'date' line 43", "use one date format"), score=err("line 43")),
    Case("duplicate_timestamps.csv", check=err("duplicate timestamp", "2024-01-30", "lines 31, 32",
                                               "remove or aggregate"),
         evaluate=err("duplicate timestamp", "lines 31, 32"), score=err("duplicate timestamp")),
    Case("empty_date_cell.csv", check=err("column 'date' line 22", "the date is empty", "fill it in"),
         evaluate=err("column 'date' line 22", "the date is empty"), score=err("line 22")),
    Case("unsorted_rows.csv", same_as_clean=True),
    Case("timezone_offsets.csv", same_as_clean=True,
         score=err("column 'date' not found")),  # the model was trained on a column named 'date'
    Case("dates_only.csv", check=err("no columns of values", "'date'", "add a numeric column"),
         evaluate=err("no columns of values", "add a numeric column"), score=err("'y' not found")),
    # --- the values
    Case("non_numeric_target.csv", check=err("column 'y' line 10", "'abc' is not a number", "--na-values"),
         evaluate=err("column 'y' line 10", "'abc' is not a number"), score=err("line 10", "'abc'")),
    Case("thousands_separators.csv", check=err("column 'y' line 2", "thousands separators", "remove them"),
         evaluate=err("column 'y' line 2", "thousands separators"), score=err("thousands separators")),
    Case("unit_suffix.csv", check=err("column 'y' line 2", "'10.0 kg'", "remove the unit"),
         evaluate=err("column 'y' line 2", "remove the unit"), score=err("remove the unit")),
    Case("bool_column.csv", check=err("column 'flag'", "true/false", "numeric column"),
         evaluate=err("column 'flag'", "true/false"), score=err("'y' not found")),
    Case("all_missing_target.csv", args=("--target", "y"),
         check=err("column 'y' has no values", "all 90 are missing", "choose another --target"),
         evaluate=err("column 'y' has no values", "choose another --target"), score=err("column 'y' has no values")),
    Case("infinite_values.csv", check=err("column 'y' line 14", "infinite value", "--na-values"),
         evaluate=err("column 'y' line 14", "infinite"), score=err("line 14", "infinite")),
    Case("negative_infinity.csv", check=err("column 'y' line 35", "infinite value", "replace it"),
         evaluate=err("column 'y' line 35", "infinite"), score=err("line 35", "infinite")),
    Case("overflow_number.csv", check=err("column 'y' line 7", "infinite value", "replace it"),
         evaluate=err("column 'y' line 7", "infinite"), score=err("line 7", "infinite")),
    Case("constant_series.csv"),  # evaluate runs; R² is reported as n/a (see the test below)
    Case("too_short.csv", evaluate=err("6 rows", "no settings fit 6 rows", "use a series of at least 24 rows")),
    Case("single_row.csv", evaluate=err("1 rows", "no settings fit 1 rows", "use a series of at least 24 rows"),
         score=err("too short", "1 rows")),
    Case("long_gap.csv", evaluate=err("column 'y'", "gap longer than --max-gap 3", "2024-02-10 to 2024-02-19",
                                      "--gaps skip")),  # check reports the gap; score's last window is clean
    Case("short_gap_interpolated.csv"),
    # --- columns
    Case("two_numeric_no_target.csv", evaluate=err("no --target given", "a, b", "use --target NAME"),
         score=err("'y' not found")),
    Case("case_differs.csv", args=("--target", "y"),
         check=err("column 'y' not found", "did you mean 'Y'?", "--target"),
         evaluate=err("column 'y' not found", "did you mean 'Y'?"), score=err("'y' not found")),
    Case("extra_text_columns.csv", same_as_clean=True),
    Case("header_whitespace.csv", same_as_clean=True),
    Case("trailing_delimiters.csv", same_as_clean=True),
    Case("quoted_values.csv", same_as_clean=True),
    # --- encodings, delimiters, decimal marks, line ends: read correctly
    Case("clean.csv", same_as_clean=True),
    Case("semicolon_decimal_comma.csv", same_as_clean=True),
    Case("decimal_comma_in_quotes.csv", same_as_clean=True),
    Case("tab_delimited.csv", same_as_clean=True),
    Case("utf8_bom.csv", same_as_clean=True),
    Case("utf16_bom.csv", same_as_clean=True),
    Case("latin1.csv", same_as_clean=True, score=err("'y' not found")),
    Case("crlf.csv", same_as_clean=True),
    Case("cr_only.csv", same_as_clean=True),
    Case("trailing_blank_lines.csv", same_as_clean=True),
    Case("leading_blank_lines.csv", same_as_clean=True),
    Case("no_final_newline.csv", same_as_clean=True),
]
IDS = [c.file for c in CASES]
# evaluate trains a (tiny) network on valid files: run it for real on these; the other valid
# cases are shown to load to exactly the frame of clean.csv, which evaluate is run on here.
EVALUATE_FULL = {"clean.csv", "semicolon_decimal_comma.csv"}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, case: Case, parts: list[str]):
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert case.file in line, line
    for p in parts:
        assert p in line, (p, line)
    assert "Traceback" not in result.output and "internal error" not in line


def test_corpus_is_complete_and_committed():
    on_disk = {p.name for p in CORPUS.iterdir() if p.name not in ("make_corpus.py", "__pycache__")}
    listed = {c.file for c in CASES}
    assert on_disk - listed == set(), "corpus files without a case"
    assert listed - on_disk == {"does_not_exist.csv"}
    assert len(CASES) >= 30
    # the committed files are what the generator writes
    from make_corpus import build

    for name, data in build().items():
        assert (CORPUS / name).read_bytes() == data, f"{name} differs from make_corpus.py; rerun it"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_check(case: Case):
    r = invoke("check", CORPUS / case.file, *case.args, "--json")
    if case.check == OK:
        assert r.exit_code == 0, r.output
        s = json.loads(r.stdout)
        assert s["rows"] >= 1 and "Traceback" not in r.output
        if case.same_as_clean:
            assert s["rows"] == len(CLEAN) and s["start"].startswith("2024-01-01") and s["freq"] == "D"
            col = s["columns"][0]
            assert col["min"] == pytest.approx(CLEAN.min()) and col["max"] == pytest.approx(CLEAN.max())
            assert col["mean"] == pytest.approx(CLEAN.mean())
    else:
        assert_one_line_error(r, case, case.check[1])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_evaluate(case: Case):
    if case.evaluate == OK:
        if case.same_as_clean:
            ds = load(CORPUS / case.file, DataConfig(target=case.args[1:2] or ()))
            np.testing.assert_array_equal(ds.values[:, 0], CLEAN)
            assert ds.frame.index.equals(pd.date_range("2024-01-01", periods=len(CLEAN), freq="D"))
            if case.file not in EVALUATE_FULL:
                return
        elif case.file == "constant_series.csv":
            return  # test_constant_series_r2_is_na
        r = invoke("evaluate", CORPUS / case.file, *case.args, *EVAL_ARGS, "--json")
        assert r.exit_code == 0, r.output
        res = json.loads(r.stdout)
        assert res["data"]["rows"] >= 7 and len(res["folds"]) == 2
    else:
        r = invoke("evaluate", CORPUS / case.file, *case.args, *EVAL_ARGS)
        assert_one_line_error(r, case, case.evaluate[1])


def test_constant_series_r2_is_na():
    from rich.console import Console

    from forecast_cli.report import render_evaluation

    r = invoke("evaluate", CORPUS / "constant_series.csv", *EVAL_ARGS, "--json")
    assert r.exit_code == 0, r.output
    assert "NaN" not in r.stdout and "nan" not in r.stdout.lower().replace("naive", "")
    res = json.loads(r.stdout)
    for name, summary in res["summary"].items():
        assert summary["r2"] == {"mean": None, "std": None}, name
        assert summary["mse"]["mean"] is not None
    for fold in res["folds"]:
        assert all(m["r2"] is None for m in fold["metrics"].values())
    console = Console(file=io.StringIO(), width=120, no_color=True)
    render_evaluation(console, res)
    text = console.file.getvalue()
    assert "n/a" in text and "nan" not in text.lower().replace("naive", "")


# ---------------------------------------------------------------------------- score, one batch
@pytest.fixture(scope="module")
def corpus_scored(tmp_path_factory):
    """One tiny bundle (date,y; lookback 5, horizon 2) and one score run over the whole corpus."""
    from forecast_cli import api
    from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig

    d = tmp_path_factory.mktemp("corpus_score")
    bundle = d / "clean.fcst"
    api.train(CORPUS / "clean.csv", bundle, DataConfig(target="y"), WindowConfig(5, 2), ModelConfig(**FAST_MODEL),
              TrainConfig(**FAST_TRAIN))
    out = d / "out"
    r = invoke("score", bundle, *[CORPUS / c.file for c in CASES], "-o", out, "--quiet")
    summary = json.loads((out / "summary.json").read_text())
    by_name = {Path(f["input"]).name: f for f in summary["files"]}
    return r, summary, by_name, out


def test_score_exit_code_and_totals(corpus_scored):
    r, summary, by_name, out = corpus_scored
    n_bad = sum(c.score != OK for c in CASES)
    assert r.exit_code == 3, r.output  # some files failed, the others were scored
    assert summary["n_failed"] == n_bad and summary["n_ok"] == len(CASES) - n_bad
    assert "Traceback" not in r.output
    # one stderr line per failed file, nothing else (--quiet)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == n_bad and all(ln.startswith("error: ") for ln in lines)
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_score(case: Case, corpus_scored):
    _, _, by_name, out = corpus_scored
    entry = by_name[case.file]
    stem = case.file[:-4]
    if case.score == OK:
        assert entry["status"] == "ok", entry
        assert entry["error"] is None
        fc = pd.read_csv(out / f"{stem}.forecast.csv")
        assert len(fc) == 2 and fc.notna().all().all()
    else:
        assert entry["status"] == "failed", entry
        msg = entry["error"]
        assert "\n" not in msg and case.file in msg and "Traceback" not in msg
        for p in case.score[1]:
            assert p in msg, (p, msg)
        assert entry["output"] is None
        assert not (out / f"{stem}.forecast.csv").exists()


# ---------------------------------------------------------------------------- metrics never hide NaN
def test_nan_prediction_is_reported_with_where(monkeypatch):
    """A model that outputs NaN: evaluate names the forecaster, window origin and step; no numbers."""

    class NaNModel:
        epochs_run_, best_epoch_ = 1, 1

        def __init__(self, window, *a, **k):
            self.L, self.H = window.lookback, window.horizon

        def fit(self, values, origins, on_epoch=None):
            return self

        def predict(self, values, origins):
            out = np.repeat(values[np.asarray(origins), :1][:, None, :], self.H, axis=1)
            out[3, 1, 0] = np.nan
            return out

        def fit_info(self):
            return {"epochs": 1, "best_epoch": 1}

    import forecast_cli.training as tr

    monkeypatch.setattr(tr, "NeuralForecaster", NaNModel)  # the class evaluation builds (through transforms)
    r = invoke("evaluate", CORPUS / "clean.csv", *EVAL_ARGS, "--json")
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    line = lines[0]
    assert "'model' forecasts" in line and "not finite (NaN)" in line and "step 2" in line
    # fold 1's test span starts 2024-01-31; its 4th window has its origin three days later
    assert "window origin 2024-02-02" in line and "none are reported" in line
    assert r.stdout == ""


def test_nan_target_is_reported():
    from forecast_cli.metrics import compute_metrics

    y = np.ones((4, 2, 1))
    y[2, 0, 0] = np.nan
    with pytest.raises(DataError, match=r"1 targets are missing or not finite \(NaN\).*window 2, step 1"):
        compute_metrics(y, np.ones_like(y))
    p = np.ones_like(y)
    y[2, 0, 0] = 1.0
    p[0, 1, 0] = np.inf
    with pytest.raises(DataError, match=r"predictions are missing or not finite \(infinite\)"):
        compute_metrics(y, p)


def test_overflowing_metric_is_an_error_not_inf():
    from forecast_cli.metrics import compute_metrics

    y = np.full((3, 1, 1), 1e200)
    with pytest.raises(DataError, match="MSE overflowed.*rescale the data"):
        compute_metrics(y, -y)


def test_gaps_skip_never_scores_a_nan_target(tmp_path):
    """With --gaps skip, windows across a long gap are left out, so every scored target is real."""
    r = invoke("evaluate", CORPUS / "long_gap.csv", *EVAL_ARGS, "--gaps", "skip", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert all(isinstance(f["metrics"]["model"]["rmse"], float) for f in res["folds"])
