"""Plots: image files of the expected size and format, terminal text with the expected series,
bad targets refused, the missing extra named, files written atomically. No pixel comparisons;
frames are built by hand (no TensorFlow)."""
from __future__ import annotations

import builtins
import importlib.util
import io

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("plotext")

from forecast_cli import plots  # noqa: E402
from forecast_cli.config import DataConfig  # noqa: E402
from forecast_cli.data import validate  # noqa: E402
from forecast_cli.errors import ConfigError  # noqa: E402
from forecast_cli.panel import panel_from_frame  # noqa: E402
from forecast_cli.plots.picture import check_picture, evaluation_picture, forecast_picture  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _terminal(monkeypatch):
    """A known terminal size, and no NO_COLOR from the environment the tests run in."""
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("LINES", "30")
    monkeypatch.delenv("NO_COLOR", raising=False)


def _forecast(steps: int = 5, start: str = "2024-03-01") -> pd.DataFrame:
    fc = pd.DataFrame({"timestamp": pd.date_range(start, periods=steps, freq="D"),
                       "Close": np.linspace(50.0, 52.0, steps)})
    for lv, w in (("80", 1.0), ("95", 2.0)):
        fc[f"Close_lower_{lv}"] = fc["Close"] - w
        fc[f"Close_upper_{lv}"] = fc["Close"] + w
    fc["step"] = np.arange(1, steps + 1)
    return fc


def _history(n: int = 60, end: str = "2024-02-29") -> pd.DataFrame:
    idx = pd.date_range(end=end, periods=n, freq="D")
    return pd.DataFrame({"Close": 50 + 5 * np.sin(np.arange(n) / 5)}, index=idx)


def _gappy():
    """40 daily rows: 2 missing (interpolated with max_gap 3) and 6 missing (a gap left as NaN)."""
    idx = pd.date_range("2024-01-01", periods=40, freq="D")
    keep = np.ones(40, dtype=bool)
    keep[[10, 11]] = False
    keep[20:26] = False
    df = pd.DataFrame({"date": idx[keep].strftime("%Y-%m-%d"), "y": np.arange(40.0)[keep]})
    return validate(df, DataConfig(target=("y",)), "gappy.csv", require_target=False)


def _cv_one(targets=("a", "b"), folds: int = 2, windows: int = 4, horizon: int = 2) -> pd.DataFrame:
    """The layout of ``forecast evaluate --predictions``: naive is off by 1, linear by 3."""
    index = pd.date_range("2024-01-01", periods=100, freq="D")
    rows = []
    for f in range(folds):
        for w in range(windows):
            o = 40 + f * windows + w
            for s in range(1, horizon + 1):
                for j, t in enumerate(targets):
                    y = float(o + s + 100 * j)
                    rows.append({"fold": f, "origin": index[o], "timestamp": index[o + s], "step": s, "target": t,
                                 "actual": y, "model": y + 0.5, "naive": y + 1.0, "linear": y + 3.0})
    return pd.DataFrame(rows)


def _cv_many(n_series: int = 10, folds: int = 2, horizon: int = 3) -> pd.DataFrame:
    """The layout of ``Forecaster.cross_validate``: series s0..s9, with metrics naming best and worst."""
    index = pd.date_range("2024-01-01", periods=60, freq="D")
    rows = []
    for i in range(n_series):
        for f in range(folds):
            o = 30 + f * horizon
            for s in range(1, horizon + 1):
                y = float(i * 10 + o + s)
                rows.append({"unique_id": f"s{i}", "fold": f, "cutoff": index[o], "ds": index[o + s], "y": y,
                             "model": y + i * 0.1, "naive": y + 1.0, "seasonal_naive": y + 2.0})
    frame = pd.DataFrame(rows)
    ranked = [f"s{i}" for i in range(n_series)]
    frame.attrs["metrics"] = {"best_series": ranked[:5], "worst_series": ranked[::-1][:5],
                              "series": {s: {"model": {"mase": 0.1 * k}} for k, s in enumerate(ranked)}}
    return frame


# --------------------------------------------------------------------------- files


def test_png_has_the_expected_pixel_size(tmp_path):
    import matplotlib.image as mpimg

    out = tmp_path / "forecast.png"
    assert plots.plot_forecast(_forecast(), out, history=_history()) is None
    assert out.read_bytes()[:8] == PNG_MAGIC
    width, height = plots.image_size(1)
    assert mpimg.imread(out).shape == (height, width, 4)
    two = tmp_path / "cv.png"
    plots.plot_evaluation(_cv_one(), two)
    width, height = plots.image_size(2)
    assert mpimg.imread(two).shape == (height, width, 4)
    assert (height, width) == (610, 1000)


@pytest.mark.parametrize("ext, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF-"), (".PNG", PNG_MAGIC)])
def test_svg_and_pdf_by_extension(tmp_path, ext, magic):
    out = tmp_path / f"check{ext}"
    plots.plot_check(_gappy(), out)
    data = out.read_bytes()
    assert data.startswith(magic)
    if ext == ".svg":
        assert b"<svg" in data[:1000]


@pytest.mark.parametrize("name", ["forecast.jpg", "forecast", "forecast.png.txt"])
def test_other_extensions_are_refused(tmp_path, name):
    out = tmp_path / name
    with pytest.raises(ConfigError, match=r"--plot .*: a plot is written as \.png, \.svg or \.pdf"):
        plots.plot_forecast(_forecast(), out, history=_history())
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_output_paths_are_refused_before_any_work(tmp_path):
    folder = tmp_path / "d.png"
    folder.mkdir()
    with pytest.raises(ConfigError, match="--plot .*d.png is a directory"):
        plots.check_plot_target(folder)
    with pytest.raises(ConfigError, match="does not exist; create it first"):
        plots.check_plot_target(tmp_path / "missing" / "f.png")
    src = tmp_path / "in.png"
    src.write_bytes(b"x")
    with pytest.raises(ConfigError, match="is the input file"):
        plots.check_plot_target(src, inputs=(src,))
    plots.check_plot_target("-")
    plots.check_plot_target(tmp_path / "ok.svg")


def test_an_existing_file_is_replaced_whole_and_no_temporary_is_left(tmp_path):
    out = tmp_path / "plot.png"
    out.write_bytes(b"old" * 200_000)
    plots.plot_forecast(_forecast(), out, history=_history())
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and b"oldold" not in data and data.endswith(b"IEND\xaeB`\x82")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def test_a_failed_drawing_leaves_the_old_file(tmp_path, monkeypatch):
    from forecast_cli.plots import render

    out = tmp_path / "plot.png"
    out.write_bytes(b"old")

    def broken(picture, fmt):
        raise RuntimeError("boom")

    monkeypatch.setattr(render, "image_bytes", broken)
    with pytest.raises(RuntimeError):
        plots.plot_forecast(_forecast(), out, history=_history())
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


# --------------------------------------------------------------------------- missing extra


def _no_module(monkeypatch, prefix: str):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == prefix or name.startswith(prefix + "."):
            raise ImportError(f"No module named '{name}'")
        return real(name, *args, **kwargs)

    real_spec = importlib.util.find_spec
    monkeypatch.setattr(builtins, "__import__", fake)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == prefix else real_spec(name, *a))


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    _no_module(monkeypatch, "matplotlib")
    with pytest.raises(ConfigError) as e:
        plots.check_plot_target(tmp_path / "f.png")
    assert str(e.value) == "plots need matplotlib: pip install 'forecast-cli[plot]'"
    from forecast_cli.plots.render import image_bytes

    with pytest.raises(ConfigError, match=r"^plots need matplotlib: pip install 'forecast-cli\[plot\]'$"):
        image_bytes(forecast_picture(_forecast()), "png")
    # the terminal does not need matplotlib
    assert "forecast" in plots.plot_forecast(_forecast(), "-", stream=io.StringIO())


def test_missing_plotext_names_the_extra(monkeypatch):
    _no_module(monkeypatch, "plotext")
    with pytest.raises(ConfigError, match=r"^terminal plots need plotext: pip install 'forecast-cli\[plot\]'$"):
        plots.check_plot_target("-")
    stream = io.StringIO()
    with pytest.raises(ConfigError, match="terminal plots need plotext"):
        plots.plot_forecast(_forecast(), "-", stream=stream)
    assert stream.getvalue() == ""


# --------------------------------------------------------------------------- terminal


def test_terminal_forecast_has_its_series_and_no_colours_off_a_terminal():
    stream = io.StringIO()
    text = plots.plot_forecast(_forecast(), "-", history=_history(), stream=stream)
    assert stream.getvalue() == text
    for label in ("history", "forecast", "80 % interval", "95 % interval", "Close", "2024-03-0"):
        assert label in text
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 100


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_terminal_colours_follow_the_stream_and_no_color(monkeypatch):
    assert "\x1b[" in plots.plot_forecast(_forecast(), "-", stream=_Tty())
    assert "\x1b[" not in plots.plot_forecast(_forecast(), "-", stream=_Tty(), color=False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in plots.plot_forecast(_forecast(), "-", stream=_Tty())


def test_terminal_width_follows_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    text = plots.plot_forecast(_forecast(), "-", history=_history(), stream=io.StringIO())
    assert max(len(line) for line in text.splitlines()) == 60


def test_terminal_check_marks_interpolated_points_and_gaps():
    text = plots.plot_check(_gappy(), "-", stream=io.StringIO())
    assert "interpolated (2)" in text and "gap (1)" in text and "gappy.csv" in text


def test_terminal_evaluation_names_model_and_best_baseline():
    text = plots.plot_evaluation(_cv_one(), "-", stream=io.StringIO())
    assert "actual" in text and "model" in text and "naive (best baseline)" in text
    assert "linear" not in text


# --------------------------------------------------------------------------- what is drawn


def test_check_picture_places_interpolated_points_and_gap_spans():
    pic = check_picture(_gappy())
    (panel,) = pic.panels
    kinds = {layer.kind: layer for layer in panel.layers}
    assert list(pd.DatetimeIndex(kinds["points"].x).day) == [11, 12]
    assert list(kinds["points"].y) == [10.0, 11.0]  # interpolated values
    span = pd.DatetimeIndex(kinds["span"].x)
    assert (span[0].day, span[1].day) == (20, 27)  # from the step before the gap to the step after
    assert np.isnan(kinds["line"].y[20:26]).all()


def test_check_picture_of_many_series_says_how_many_are_not_shown():
    df = pd.DataFrame({"unique_id": np.repeat([f"s{i}" for i in range(8)], 5),
                       "ds": list(pd.date_range("2024-01-01", periods=5, freq="D")) * 8, "y": np.arange(40.0)})
    pic = check_picture(panel_from_frame(df), max_panels=6)
    assert [p.title for p in pic.panels] == [f"s{i}: y" for i in range(6)]
    assert pic.note == "2 more series not shown"


def test_forecast_picture_shows_a_tail_of_history_and_the_bands_widest_first():
    pic = forecast_picture(_forecast(steps=5), _history(n=60), tail=12)
    layers = pic.panels[0].layers
    assert [(la.kind, la.label) for la in layers] == [("band", "95 % interval"), ("band", "80 % interval"),
                                                      ("line", "history"), ("line", "forecast")]
    assert len(layers[2].x) == 12
    assert len(layers[3].x) == 6 and layers[3].x[0] == layers[2].x[-1]  # starts from the last observation
    assert list(layers[0].y2 - layers[0].y) == [4.0] * 5
    default = forecast_picture(_forecast(steps=5), _history(n=60))
    assert len(default.panels[0].layers[2].x) == 30  # max(4 x steps, 30)


def test_forecast_picture_takes_a_forecast_with_its_history_and_lookback():
    from forecast_cli.forecasting import Forecast

    fc = Forecast(_forecast(), {"file": "prices.csv", "lookback": 7})
    fc.history = _history(n=60)  # what predict would attach (see the report to the lead)
    pic = forecast_picture(fc)
    assert pic.title == "forecast of prices.csv"
    assert len(pic.panels[0].layers[2].x) == 21  # three lookbacks


def test_forecast_picture_of_many_series_uses_the_long_frames():
    fc = pd.concat([_forecast().assign(ticker=t) for t in ("AAA", "BBB")], ignore_index=True)
    fc = fc[["ticker", *[c for c in fc.columns if c != "ticker"]]]
    hist = pd.concat([_history().rename_axis("timestamp").reset_index().assign(ticker=t, Close=k)
                      for k, t in enumerate(("AAA", "BBB"))], ignore_index=True)
    pic = forecast_picture(fc, hist, max_panels=1)
    assert [p.title for p in pic.panels] == ["AAA"] and pic.note == "1 more series not shown"
    assert set(pic.panels[0].layers[2].y) == {0.0}  # AAA's own history
    long = hist.rename(columns={"ticker": "unique_id", "timestamp": "ds", "Close": "y"})
    panel = panel_from_frame(long[["unique_id", "ds", "y"]])
    fc_panel = fc.rename(columns={"ticker": "unique_id", "Close": "y"})
    fc_panel.columns = [c.replace("Close_", "y_") for c in fc_panel.columns]
    by_panel = forecast_picture(fc_panel, panel)
    assert [p.title for p in by_panel.panels] == ["AAA", "BBB"]
    assert set(by_panel.panels[1].layers[2].y) == {1.0} and len(by_panel.panels[1].layers[0].x) == 5


def test_evaluation_picture_one_series_draws_non_overlapping_windows():
    pic = evaluation_picture(_cv_one(targets=("a", "b"), folds=2, windows=4, horizon=2))
    assert [p.title for p in pic.panels] == ["a", "b"] and pic.note == ""
    layers = pic.panels[0].layers
    assert [la.kind for la in layers] == ["shade", "shade", "line", "line", "line"]
    model = layers[-1]
    # every 2nd of 4 windows per fold, 2 steps each plus a NaN break: 2 folds x 2 windows x 3 points
    assert len(model.x) == 12 and int(np.isnan(model.y).sum()) == 4
    assert pd.DatetimeIndex(model.x).is_monotonic_increasing
    named = evaluation_picture(_cv_one(), baseline="linear")
    assert named.panels[0].layers[3].label == "linear (lags)"  # named by the caller: not called the best
    verdict = evaluation_picture(_cv_one(), metrics={"verdict": {"baseline": "linear"}})
    assert verdict.panels[0].layers[3].label == "linear (lags) (best baseline)"
    with pytest.raises(ConfigError, match="no baseline 'theta'"):
        evaluation_picture(_cv_one(), baseline="theta")


def test_evaluation_picture_many_series_draws_the_best_and_worst():
    frame = _cv_many(n_series=10)
    pic = evaluation_picture(frame, per_side=2)
    assert [p.title.split(" ")[0] for p in pic.panels] == ["s0", "s1", "s9", "s8"]
    assert pic.panels[2].title == "s9 (model MASE 0.9)"
    assert pic.note == "the best and worst 2 series by the model's MASE; 6 more not shown"
    assert pic.panels[0].layers[-2].label == "naive (best baseline)"
    chosen = evaluation_picture(frame, series=["s4"])
    assert [p.title.split(" ")[0] for p in chosen.panels] == ["s4"] and chosen.note == "9 more series not shown"
    frame.attrs.pop("metrics")
    first = evaluation_picture(frame, per_side=2)
    assert [p.title for p in first.panels] == ["s0", "s1", "s2", "s3"] and first.note == "6 more series not shown"


def test_unknown_layouts_are_refused():
    with pytest.raises(ConfigError, match="cannot plot these cross-validation forecasts"):
        evaluation_picture(pd.DataFrame({"a": [1.0]}))


def test_long_lines_are_thinned_for_the_terminal_keeping_their_extremes():
    from forecast_cli.plots.render import _thin

    x = np.arange(10_000)
    y = np.zeros(10_000)
    y[1234], y[8765] = 5.0, -7.0
    tx, ty = _thin(x, y, 400)
    assert len(tx) <= 400 and 1234 in tx and 8765 in tx and 5.0 in ty and -7.0 in ty
    assert np.all(np.diff(tx) > 0)
    assert _thin(x[:10], y[:10], 400)[0].size == 10
