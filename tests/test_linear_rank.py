"""The closed-form linear path's rank (``ModelConfig.linear_rank``): reduced-rank ridge regression,
its choice on the validation windows, the settings checks, the CLI option and the ETT preset."""
from __future__ import annotations

import numpy as np
import pytest

from forecast_cli.config import ModelConfig, TrainConfig, WindowConfig, from_dict, to_dict
from forecast_cli.errors import ConfigError
from forecast_cli.models import RANK_GRID, RIDGE_GRID, _linear_design, _rank_candidates, _ridge_fits, _ridge_path

L, H = 16, 8


def _series(n=460, seed=0, cols=1):
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    phase = rng.uniform(0, 2 * np.pi, cols)
    return np.sin(2 * np.pi * t / 24 + phase) + 0.3 * rng.standard_normal((n, cols))


def _origins(n):
    return np.arange(L - 1, 320 - H), np.arange(320 - H, n - H)


@pytest.mark.parametrize("bad", [0, -2, "x", "Auto", 2.5, True])
def test_config_refuses_bad_ranks(bad):
    with pytest.raises(ConfigError, match="--linear-rank must be full, auto or an int >= 1"):
        ModelConfig(linear_fit="lstsq", linear_rank=bad).check()


def test_config_rank_needs_the_closed_form_path():
    with pytest.raises(ConfigError, match="add --linear-fit lstsq"):
        ModelConfig(linear_rank=3).check()
    with pytest.raises(ConfigError, match="add --linear-fit lstsq"):
        ModelConfig(linear_rank="auto").check()
    ModelConfig().check()                                  # the default: full, with adam
    for ok in ("full", "auto", 1, 64):
        ModelConfig(linear_fit="lstsq", linear_rank=ok).check()


def test_settings_round_trip_and_old_bundles_read_full():
    for r in ("auto", 3):
        cfg = ModelConfig(linear_fit="lstsq", linear_rank=r)
        assert from_dict(ModelConfig, to_dict(cfg)) == cfg
    old = to_dict(ModelConfig(linear_fit="lstsq"))
    del old["linear_rank"]                                 # a bundle written before the option
    assert from_dict(ModelConfig, old).linear_rank == "full"


def test_rank_candidates():
    assert _rank_candidates("full", 336) == (None,)
    assert _rank_candidates("auto", 8) == (1, 2, 3, 4, 6, None)
    assert _rank_candidates("auto", 336) == RANK_GRID + (None,)
    assert _rank_candidates(3, 8) == (3,)
    assert _rank_candidates(8, 8) == (None,) and _rank_candidates(20, 8) == (None,)  # >= outputs: full


def test_reduced_rank_recovers_a_low_rank_map():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((2000, 12)) + 3.0             # off-centre inputs: the intercept matters
    W_true = rng.standard_normal((12, 2)) @ rng.standard_normal((2, 10))   # rank 2
    B = A @ W_true + 5.0 + 0.05 * rng.standard_normal((2000, 10))
    fits = {rank: (W, b) for _, rank, W, b in _ridge_fits(A, B, (0.0,), (None, 1, 2, 4))}
    ((_, W_ridge, b_ridge),) = _ridge_path(A, B, (0.0,))
    np.testing.assert_array_equal(fits[None][0], W_ridge)  # full rank is the ridge map itself
    np.testing.assert_array_equal(fits[None][1], b_ridge)
    s = np.linalg.svd(W_true, compute_uv=False)
    for rank in (1, 2, 4):
        W, b = fits[rank]
        assert np.linalg.matrix_rank(W, tol=1e-8 * s[0]) == rank
        np.testing.assert_allclose((A @ W + b).mean(axis=0), B.mean(axis=0), atol=1e-9)  # intercept unpenalised
    np.testing.assert_allclose(fits[2][0], W_true, atol=0.01)
    np.testing.assert_allclose(fits[2][1], np.full(10, 5.0), atol=0.05)
    err = {rank: np.mean((A @ W + b - B) ** 2) for rank, (W, b) in fits.items()}
    assert err[1] > 10 * err[2]                           # rank 1 cannot hold a rank-2 map
    assert err[2] == pytest.approx(err[None], rel=0.02)


def _fit(mcfg, v, T=1):
    from forecast_cli.training import NeuralForecaster

    tr, va = _origins(len(v))
    tcfg = TrainConfig(epochs=1, batch_size=64, patience=1)
    return NeuralForecaster(WindowConfig(L, H), mcfg, tcfg, T).fit(v, tr, val_origins=va), tr, va


@pytest.mark.parametrize("ci", [False, True])
def test_auto_rank_is_the_validation_argmin(ci):
    T = 2 if ci else 1
    v = _series(cols=T)
    mcfg = ModelConfig(units=4, dropout=0.0, patch=4, linear_fit="lstsq", linear_rank="auto", channel_independent=ci)
    fc, tr, va = _fit(mcfg, v, T)
    scaled = fc.scaler_.transform(v).astype(np.float32)   # what fit() windows
    A, B = _linear_design(scaled, tr, L, H, T, mcfg, T)
    Av, Bv = _linear_design(scaled, va, L, H, T, mcfg, T)
    ranks = _rank_candidates("auto", B.shape[1])
    grid = {(rel, rank): (float(np.mean((Av @ W + b - Bv) ** 2)), W)
            for rel, rank, W, b in _ridge_fits(A, B, RIDGE_GRID, ranks)}
    assert len(grid) == len(RIDGE_GRID) * len(ranks)
    (rel, rank), (mse, W) = min(grid.items(), key=lambda kv: kv[1][0])
    info = fc.linear_fit_
    assert (info["alpha"], info["rank"]) == (rel, "full" if rank is None else rank)
    assert info["val_mse"] == pytest.approx(mse, rel=1e-12)
    assert info["val_mse"] <= min(m for (_, r), (m, _) in grid.items() if r is None)  # never worse than ridge
    kernel = fc.model_.get_layer("linear").get_weights()[0]
    np.testing.assert_allclose(kernel, W.astype(np.float32), rtol=1e-5, atol=1e-6)


def test_fixed_rank_sets_a_low_rank_kernel():
    v = _series(seed=2)
    mcfg = ModelConfig(units=4, dropout=0.0, patch=4, linear_fit="lstsq", linear_rank=2)
    fc, tr, _ = _fit(mcfg, v)
    assert fc.linear_fit_["rank"] == 2
    kernel = fc.model_.get_layer("linear").get_weights()[0]
    s = np.linalg.svd(kernel, compute_uv=False)
    assert s[2] < 1e-5 * s[0]                              # rank 2 (float32 kernel)
    # the kernel is the rank-2 ridge fit at the chosen penalty
    scaled = fc.scaler_.transform(v).astype(np.float32)   # what fit() windows
    A, B = _linear_design(scaled, tr, L, H, 1, mcfg, 1)
    ((_, _, W, _),) = _ridge_fits(A, B, (fc.linear_fit_["alpha"],), (2,))
    np.testing.assert_allclose(kernel, W.astype(np.float32), rtol=1e-5, atol=1e-6)


def test_cli_linear_rank_errors_are_one_line_exit_2():
    from typer.testing import CliRunner

    from conftest import AAPL
    from forecast_cli.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["evaluate", str(AAPL), "--target", "Close", "--linear-rank", "3"])
    assert r.exit_code == 2 and "--linear-rank applies to the closed-form linear path" in r.stderr
    assert "Traceback" not in r.output
    r = runner.invoke(app, ["evaluate", str(AAPL), "--target", "Close", "--linear-fit", "lstsq", "--linear-rank", "three"])
    assert r.exit_code == 2 and "--linear-rank must be full, auto or an int >= 1. Got 'three'." in r.stderr


def test_cli_linear_rank_reaches_the_bundle(tmp_path):
    import json
    import zipfile

    from typer.testing import CliRunner

    from conftest import AAPL, FAST_CLI
    from forecast_cli.cli import app

    out = tmp_path / "m.fcst"
    r = CliRunner().invoke(app, ["train", str(AAPL), "--target", "Close", "-o", str(out), "--lookback", "10",
                                 "--horizon", "3", "--linear-fit", "lstsq", "--linear-rank", "AUTO", "--json",
                                 *FAST_CLI])
    assert r.exit_code == 0, r.output
    lp = json.loads(r.stdout)["holdout"]["linear_path"]
    assert lp["rank"] in (1, 2, "full") and lp["alpha"] in RIDGE_GRID
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["model"]["linear_rank"] == "auto" and manifest["model"]["linear_fit"] == "lstsq"
    r = CliRunner().invoke(app, ["inspect", str(out), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["model"]["linear_rank"] == "auto"


def ett_recording_configs(monkeypatch):
    """``benchmarks/ett.py`` with ``run_one`` replaced: ``(ett, seen)``, ``seen`` the ModelConfig of
    every run ``ett.main`` asks for."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ett.py"
    spec = importlib.util.spec_from_file_location("ett_bench", path)
    ett = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ett)
    seen = []

    def fake_run_one(path, mode, horizon, seed, mcfg, tcfg, *a, **k):
        seen.append(mcfg)
        return {"mode": mode, "horizon": horizon, "seed": seed, "mse": 0.1, "mae": 0.2, "naive_mse": 0.3,
                "naive_mae": 0.4, "seconds": 1.0}

    monkeypatch.setattr(ett, "run_one", fake_run_one)
    return ett, seen


def test_ett_preset_ranks(monkeypatch, capsys):
    ett, seen = ett_recording_configs(monkeypatch)
    ett.main(["--mode", "S", "--horizon", "336"])
    ett.main(["--mode", "M", "--horizon", "96"])
    ett.main(["--mode", "S", "--horizon", "336", "--linear-rank", "3"])
    ett.main(["--mode", "M", "--horizon", "96", "--linear-rank", "full"])
    assert [m.linear_rank for m in seen] == ["full", "auto", 3, "full"]
    assert seen[1].channel_independent and not seen[0].channel_independent
    with pytest.raises(SystemExit):
        ett.main(["--linear-rank", "most"])
    capsys.readouterr()


def test_evaluate_reports_each_folds_linear_path():
    import json

    from typer.testing import CliRunner

    from conftest import AAPL, FAST_CLI
    from forecast_cli.cli import app

    args = ["evaluate", str(AAPL), "--target", "Close", "--lookback", "10", "--horizon", "3", "--folds", "2",
            "--linear-fit", "lstsq", "--linear-rank", "auto", *FAST_CLI]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    folds = json.loads(r.stdout)["folds"]
    assert len(folds) == 2
    for f in folds:
        lp = f["linear_path"]
        assert set(lp) == {"alpha", "rank", "val_mse"}
        assert lp["alpha"] in RIDGE_GRID and lp["rank"] in (1, 2, "full") and lp["val_mse"] > 0
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0
    for f in folds:
        assert f"linear path rank {f['linear_path']['rank']}, penalty {f['linear_path']['alpha']:g}" in r.stdout
    # the adam-trained linear path has nothing to report; the default (auto) is the closed form from 100 windows
    r = CliRunner().invoke(app, ["evaluate", str(AAPL), "--target", "Close", "--lookback", "10", "--horizon", "3",
                                 "--folds", "2", "--json", "--linear-fit", "adam", *FAST_CLI])
    assert all("linear_path" not in f for f in json.loads(r.stdout)["folds"])
    r = CliRunner().invoke(app, ["evaluate", str(AAPL), "--target", "Close", "--lookback", "10", "--horizon", "3",
                                 "--folds", "2", "--json", *FAST_CLI])
    assert all(f["linear_path"]["rank"] == "full" for f in json.loads(r.stdout)["folds"])
