"""Bundles of a global model: the panel section is checked against the network before Keras runs."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast_cli.cli import app

from conftest import one_line_error
from test_manifest_schema import variant

runner = CliRunner()


@pytest.fixture(scope="module")
def panel_bundle(tmp_path_factory):
    from forecast_cli import Forecaster

    t = np.arange(200)
    df = pd.concat([pd.DataFrame({"unique_id": f"s{k}", "ds": pd.date_range("2024-01-01", periods=200, freq="h"),
                                  "y": 10 * (k + 1) + np.sin(2 * np.pi * t / 24) + 0.01 * np.cos(t)})
                    for k in range(3)])
    fc = Forecaster(lookback=24, horizon=6, epochs=1, units=4, id_embedding=2, seed=0)
    fc.fit_holdout(df, holdout=24)
    path = tmp_path_factory.mktemp("pb") / "panel.fcst"
    fc.save(path)
    return path, df


def test_inspect_shows_the_series_not_every_window(panel_bundle):
    path, _ = panel_bundle
    r = runner.invoke(app, ["inspect", str(path), "--json"])
    assert r.exit_code == 0, r.output
    v = json.loads(r.stdout)
    assert v["panel"]["series"] == 3 and v["panel"]["stored_windows"] == 3 and "tails" not in v["panel"]
    assert v["panel"]["state"]["keys"] == ["s0", "s1", "s2"] and v["model"]["id_embedding"] == 2


def test_embedding_must_fit_the_ids(panel_bundle, tmp_path):
    path, _ = panel_bundle
    bad = variant(path, tmp_path / "bad.fcst", edit=lambda m: m["panel"]["state"]["keys"].pop())
    r = runner.invoke(app, ["inspect", str(bad)])
    one_line_error(r, 1, "inconsistent bundle", "embeds 4 series ids", "give 3")


def test_panel_state_kind_is_checked(panel_bundle, tmp_path):
    path, _ = panel_bundle
    bad = variant(path, tmp_path / "local.fcst", edit=lambda m: m["panel"]["state"].update(kind="local"))
    r = runner.invoke(app, ["inspect", str(bad)])
    one_line_error(r, 1, "damaged bundle", "panel.state.kind")


def test_a_global_bundle_scores_each_window_on_its_own_scale(panel_bundle, tmp_path):
    """Through the one-series path (score of a file), a global bundle must not use the manifest's
    identity scaler: a series 1000 times bigger gets a forecast 1000 times bigger."""
    path, df = panel_bundle
    one = df[df.unique_id == "s1"][["ds", "y"]]
    one.to_csv(tmp_path / "a.csv", index=False)
    one.assign(y=one.y * 1000).to_csv(tmp_path / "b.csv", index=False)
    r = runner.invoke(app, ["score", str(path), str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "-o",
                            str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "b.csv: its level is more than 10 times outside the training series'" in r.stderr
    assert "a.csv" not in r.stderr
    a = pd.read_csv(tmp_path / "out" / "a.forecast.csv")
    b = pd.read_csv(tmp_path / "out" / "b.forecast.csv")
    np.testing.assert_allclose(b.y.to_numpy(), 1000 * a.y.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(b.y_upper_95 - b.y, 1000 * (a.y_upper_95 - a.y), rtol=1e-4)


def test_a_flat_window_says_its_interval_has_zero_width(panel_bundle, tmp_path):
    path, df = panel_bundle
    flat = df[df.unique_id == "s1"][["ds", "y"]].assign(y=5.0)
    flat.to_csv(tmp_path / "flat.csv", index=False)
    r = runner.invoke(app, ["score", str(path), str(tmp_path / "flat.csv"), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "flat.csv: its last window is flat" in r.stderr and "zero width" in r.stderr
    f = pd.read_csv(tmp_path / "out" / "flat.forecast.csv")
    assert (f.y_upper_95 == f.y).all() and np.isfinite(f.y).all()
    r = runner.invoke(app, ["predict", str(path), str(tmp_path / "flat.csv")])
    assert r.exit_code == 0, r.output
    assert "flat window" in r.stderr and "zero width" in r.stderr
