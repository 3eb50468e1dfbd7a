"""Issue 16, ``forecast tune``: a resumable Optuna search over time-ordered cross-validation, with a
final test span that no trial sees.

Tiny trials (1 epoch, 4 units, lookback 7-14, 1 fold) on a 240-day series; one study is made
once per module and then resumed, interrupted and resumed again.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app
from forecast_cli.errors import ConfigError
from forecast_cli.tune_space import Param, default_space, merge_space, read_space

from conftest import ROOT

runner = CliRunner()
needs_optuna = pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="optuna not installed")

N, HOLDOUT = 240, 60
SPACE = """units = 4
layers = 1
dropout = 0.0
recurrent_dropout = 0.0
batch_size = 128
norm = "last"
lookback = {low = 7, high = 14}
model = ["lstm", "gru"]
learning_rate = {low = 1e-3, high = 1e-2, log = true}
linear_skip = [true, false]
"""
TINY = ["--lookback", "14", "--epochs", "1", "--patience", "0", "--folds", "1", "--holdout", str(HOLDOUT)]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _series(spike: bool = False) -> pd.DataFrame:
    t = np.arange(N)
    y = np.sin(2 * np.pi * t / 7) + 0.01 * t + 0.1 * np.random.default_rng(0).normal(size=N)
    if spike:
        y[N - HOLDOUT + 10] += 500.0  # inside the final span only
    return pd.DataFrame({"date": pd.date_range("2020-01-01", periods=N, freq="D").strftime("%Y-%m-%d"), "y": y})


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A study of 2 trials made by the command line: its folder, storage, JSON and best.toml."""
    pytest.importorskip("optuna")
    d = tmp_path_factory.mktemp("tune")
    _series().to_csv(d / "s.csv", index=False)
    (d / "space.toml").write_text(SPACE)
    storage = f"sqlite:///{d / 'tune.db'}"
    r = invoke("tune", d / "s.csv", *TINY, "--space", d / "space.toml", "--storage", storage, "--trials", 2,
               "-o", d / "best.toml", "--json")
    assert r.exit_code == 0, r.output
    return {"dir": d, "storage": storage, "result": json.loads(r.stdout)}


@needs_optuna
def test_study_rows_and_leaderboard(made):
    res = made["result"]
    assert res["study"]["trials"]["complete"] + res["study"]["trials"]["pruned"] == 2
    assert res["study"]["name"] == "s-y-h5"
    # the search saw rows 0..180; the final span 180..240 was seen by no trial
    assert res["rows"]["searched_rows"] == [0, N - HOLDOUT] and res["rows"]["final_rows"] == [N - HOLDOUT, N]
    assert res["rows"]["searched_period"][1].startswith("2020-06-28")
    assert res["rows"]["final_period"][0].startswith("2020-06-29")
    # trial 0 is the settings as given (the defaults), so the gain over them is measured
    assert res["defaults"]["trial"] == 0 and res["defaults"]["params"]["lookback"] == 14
    board = res["leaderboard"]
    assert [row["value"] for row in board] == sorted(row["value"] for row in board)
    assert all(len(row["fold_scores"]) == 1 for row in board)
    assert board[0]["value"] == pytest.approx(np.mean(board[0]["fold_scores"]))
    final = res["final"]
    assert final["metric"] == "rmse" and final["tuned"] > 0 and final["defaults"] > 0
    assert {"naive", "seasonal_naive", "linear"} <= set(final["baselines"])


@needs_optuna
def test_best_toml_is_taken_by_evaluate_config(made):
    best = made["dir"] / "best.toml"
    cfg = tomllib.loads(best.read_text())
    params = made["result"]["best"]["params"]
    assert cfg["lookback"] == params["lookback"] and cfg["model"] == params["model"]
    assert cfg["units"] == 4 and cfg["epochs"] == 1
    r = invoke("--config", best, "evaluate", made["dir"] / "s.csv", "--folds", 1, "--json")
    assert r.exit_code == 0, r.output
    used = json.loads(r.stdout)["settings"]
    assert used["window"]["lookback"] == params["lookback"]
    assert used["model"]["model"] == params["model"] and used["model"]["units"] == 4
    assert used["train"]["learning_rate"] == pytest.approx(params["learning_rate"])


@needs_optuna
def test_interrupted_run_leaves_a_usable_study_and_a_rerun_continues(made, monkeypatch):
    import optuna

    from forecast_cli import tune as tune_mod

    d, storage = made["dir"], made["storage"]
    real = tune_mod.FoldReporter.__call__

    def interrupt_third_trial(self, entry):
        if self.trial.number == 2:
            raise KeyboardInterrupt  # Ctrl-C during trial 2's first fold
        return real(self, entry)

    args = ["tune", d / "s.csv", *TINY, "--space", d / "space.toml", "--storage", storage, "--trials", 3]
    with monkeypatch.context() as m:
        m.setattr(tune_mod.FoldReporter, "__call__", interrupt_third_trial)
        r = invoke(*args)
    assert r.exit_code == 130, r.output
    assert "rerun the same command to continue" in r.stderr and "keeps its 2 complete" in r.stderr
    study = optuna.load_study(study_name="s-y-h5", storage=storage)
    states = [t.state.name for t in study.trials]
    assert states[:2] == ["COMPLETE", "COMPLETE"] and states[2] == "FAIL"  # recorded, never left RUNNING
    r = invoke(*args, "--json")  # the same command again: continues to 3 finished trials
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["study"]["run_now"] == 1
    counts = res["study"]["trials"]
    assert counts["complete"] + counts["pruned"] == 3 and counts["failed"] == 1 and counts["total"] == 4


@needs_optuna
def test_a_spike_in_the_final_span_changes_no_trial_score(made, tmp_path):
    from forecast_cli.config import split_settings
    from forecast_cli.tune import tune

    _series(spike=True).to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "space.toml").write_text(SPACE)
    settings = split_settings(lookback=14, epochs=1, patience=0)
    res = tune(tmp_path / "s.csv", settings, trials=1, storage=f"sqlite:///{tmp_path / 't.db'}",
               space_path=tmp_path / "space.toml", folds=1, holdout=HOLDOUT)
    clean = {row["trial"]: row for row in made["result"]["leaderboard"]}
    spiked = {row["trial"]: row for row in res["leaderboard"]}
    assert set(spiked) == {0} and set(clean) == {0, 1}
    for k in spiked:  # same settings, same folds, same score: the spike was never seen
        assert spiked[k]["params"] == clean[k]["params"]
        assert spiked[k]["fold_scores"] == pytest.approx(clean[k]["fold_scores"], rel=1e-6)
    # ...and it is there: the final span's scores (the baselines' too) see it
    assert res["final"]["baselines"]["naive"] > 5 * made["result"]["final"]["baselines"]["naive"]


@needs_optuna
def test_pruner_stops_a_trial_clearly_behind_the_median():
    import optuna

    from forecast_cli.tune import PRUNE_AFTER, FoldReporter, make_pruner

    study = optuna.create_study(direction="minimize", pruner=make_pruner(optuna, True))
    for _ in range(PRUNE_AFTER):  # finished trials whose folds score about 1
        t = study.ask()
        rep = FoldReporter(t, "rmse", many=False)
        rep({"metrics": {"model": {"rmse": 1.0}}})
        rep({"metrics": {"model": {"rmse": 1.2}}})
        study.tell(t, float(np.mean(rep.scores)))
    good = FoldReporter(study.ask(), "rmse", many=False)
    good({"metrics": {"model": {"rmse": 0.9}}})  # better than the median: goes on
    bad = FoldReporter(study.ask(), "rmse", many=False)
    with pytest.raises(optuna.TrialPruned, match="after fold 1"):
        bad({"metrics": {"model": {"rmse": 5.0}}})
    assert bad.scores == [5.0]
    # without --prune nothing is stopped
    study = optuna.create_study(pruner=make_pruner(optuna, False))
    t = study.ask()
    FoldReporter(t, "rmse", many=False)({"metrics": {"model": {"rmse": 1e9}}})


@pytest.mark.parametrize("text, message", [
    ("lookbak = {low = 8, high = 16}", "unknown setting 'lookbak'; did you mean 'lookback'?"),
    ("horizon = [5, 10]", "key 'horizon': the horizon is the task"),
    ("units = {low = 64, high = 8}", "key 'units': low (64) is above high (8)"),
    ("units = {low = 8.5, high = 16}", "key 'units': low must be an int"),
    ("learning_rate = {low = 0.0, high = 0.1, log = true}", "key 'learning_rate' (low): --learning-rate must be"),
    ("model = [\"lstm\", \"transformer\"]", "key 'model' (choice 'transformer'): --model must be one of"),
    ("norm = {low = 1, high = 2}", "key 'norm': a range (low, high) needs a numeric setting"),
    ("target = \"y\"", "key 'target': --target describes the data"),
    ("units = [", "--space"),
])
def test_space_file_is_checked_in_one_line(tmp_path, text, message):
    path = tmp_path / "space.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as e:
        read_space(path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_space_file_narrows_the_defaults(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text('lookback = {low = 16, high = 96, step = 8}\nmodel = ["gru"]\ndropout = 0.2\n')
    space = merge_space(default_space(5), read_space(path))
    assert space["lookback"] == Param("lookback", "int", low=16, high=96, step=8)
    assert space["model"].choices == ("gru",) and space["dropout"].kind == "fixed"
    assert space["units"] == default_space(5)["units"]
    path.write_text("id_embedding = [0, 8]\n")
    with pytest.raises(ConfigError, match="applies to many series"):
        merge_space(default_space(5), read_space(path), many=False, path=path)


def test_help_and_other_commands_never_import_optuna(tmp_path):
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom forecast_cli.cli import app\n"
            "r = CliRunner()\nfor args in (['--help'], ['tune', '--help'], ['check', sys.argv[1]]):\n"
            "    assert r.invoke(app, args).exit_code == 0, args\n"
            "print('optuna' in sys.modules)\n")
    path = tmp_path / "s.csv"
    _series().to_csv(path, index=False)
    p = subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_without_optuna_tune_says_how_to_install_it(tmp_path):
    path = tmp_path / "s.csv"
    _series().to_csv(path, index=False)
    code = ("import sys\nsys.modules['optuna'] = None\nfrom forecast_cli.cli import main\n"
            "sys.argv = ['forecast', 'tune', sys.argv[1], '--storage', 'sqlite:///' + sys.argv[2]]\nmain()\n")
    p = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "t.db")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr
    assert p.stderr.strip() == "error: forecast tune needs Optuna, an optional extra: pip install 'forecast-cli[tune]'"
    assert not (tmp_path / "t.db").exists()


@needs_optuna
def test_a_study_refuses_a_rerun_with_other_settings(made):
    d = made["dir"]
    r = invoke("tune", d / "s.csv", *TINY[:3], "2", *TINY[4:], "--space", d / "space.toml",
               "--storage", made["storage"], "--trials", 3)
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == (f"error: study 's-y-h5' in {made['storage']} was made with epochs 1 (now 2); rerun "
                                "with the same data and settings to continue it, or give another --study")


@needs_optuna
def test_trials_that_keep_failing_end_the_run_in_one_line(tmp_path, monkeypatch):
    from forecast_cli import tune as tune_mod
    from forecast_cli.config import split_settings
    from forecast_cli.errors import DataError

    def broken(*args, **kwargs):
        raise DataError("fold 1: the model's rmse is not finite")

    monkeypatch.setattr(tune_mod, "_run_cv", broken)
    _series().to_csv(tmp_path / "s.csv", index=False)
    warned = []
    with pytest.raises(DataError, match=r"^study 's-y-h5' has no complete trial yet: fold 1: the model's rmse"):
        tune_mod.tune(tmp_path / "s.csv", split_settings(), trials=10, storage=f"sqlite:///{tmp_path / 't.db'}",
                      folds=1, warn=warned.append)
    assert warned == [f"trial {k} failed: fold 1: the model's rmse is not finite" for k in range(3)]


@needs_optuna
def test_without_a_lookback_the_defaults_trial_reads_the_whole_seasons_rule(tmp_path):
    """No --lookback: trial 0 (the defaults) gets the lookback evaluate would use on the searched rows."""
    from forecast_cli.fit_advice import default_lookback

    _series().to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "space.toml").write_text(SPACE.replace("lookback = {low = 7, high = 14}", "lookback = {low = 7, high = 40}"))
    r = invoke("tune", tmp_path / "s.csv", *TINY[2:], "--space", tmp_path / "space.toml", "--storage",
               f"sqlite:///{tmp_path / 'tune.db'}", "--trials", 1, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    want = default_lookback(N - HOLDOUT, 7, 5, folds=1)
    assert want == 35 and res["defaults"]["trial"] == 0 and res["defaults"]["params"]["lookback"] == want
