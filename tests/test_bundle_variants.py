"""Every model the tool builds passes the bundle checks it is loaded through (manifest schema, the
network's config.json against the manifest, the loaded shapes), and forecasts, the same twice.

The checks in ``forecast_cli.manifest`` know the layer classes and head names that ``models.py``
builds; a new layer or a renamed head that they do not know would make every such bundle
unloadable, so each family is trained (tiny, one epoch) and loaded here.
"""
import numpy as np
import pytest

from forecast_cli import api
from forecast_cli.bundle import verify
from forecast_cli.config import DataConfig, ModelConfig, TrainConfig, WindowConfig
from forecast_cli.forecasting import predict

from conftest import write_series

VARIANTS = {
    "gru": dict(model="gru"),
    "attention": dict(model="attention"),
    "peephole, 2 layers": dict(model="peephole", layers=2),
    "patches, recurrent dropout": dict(patch=4, recurrent_dropout=0.1),
    "closed-form linear path, auto rank": dict(linear_fit="lstsq", linear_rank="auto"),
    "channel-independent, 2 targets": dict(channel_independent=True),
    "no linear skip, levels": dict(linear_skip=False, norm="none"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_model_family_passes_the_bundle_checks_and_forecasts(tmp_path, name):
    t = np.arange(160)
    extra = {"b": np.cos(t / 5) + 0.01 * t} if name.startswith("channel") else {"x": np.cos(t / 3)}
    data = write_series(tmp_path / "s.csv", np.sin(t / 4) + 0.02 * t, extra=extra)
    cfg = DataConfig(target=("y", "b") if "b" in extra else "y", features=() if "b" in extra else ("x",))
    out = tmp_path / "m.fcst"
    api.train(data, out, cfg, WindowConfig(16, 3), ModelConfig(units=4, dropout=0.0, **VARIANTS[name]),
              TrainConfig(epochs=1, batch_size=64, patience=1))
    manifest = verify(out)
    assert manifest["n_targets"] == len(cfg.target)
    fc = predict(out, data)
    assert len(fc.frame) == 3 and np.isfinite(fc.frame[list(cfg.target)].to_numpy()).all()
    again = predict(out, data)
    np.testing.assert_array_equal(fc.frame[list(cfg.target)].to_numpy(), again.frame[list(cfg.target)].to_numpy())
