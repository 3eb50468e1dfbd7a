"""Start-up cost: `forecast --help` and `forecast check` against a bare Typer app's --help.

    python benchmarks/startup.py [--runs 7]

Each command runs RUNS times in a fresh process, the three interleaved (after one warm-up run
each that fills the page cache); the median wall time is reported. The bare Typer app has one command and imports
nothing else: it is the floor for any Typer CLI on this machine. Also times
`python -c "import tensorflow"` once, to show what lazy imports save.
Prints a table, then one JSON line: {"help_s", "check_s", "bare_typer_help_s", ...}.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, emit, machine, median, run_timed  # noqa: E402

BARE = '''
import typer
app = typer.Typer()

@app.command()
def hello(name: str = "world"):
    """Say hello."""
    print(name)

@app.command()
def bye():
    """Say bye."""

if __name__ == "__main__":
    app()
'''


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as td:
        bare = Path(td) / "bare.py"
        bare.write_text(BARE)
        cases = {
            "help_s": [py, "-m", "forecast_cli", "--help"],
            "check_s": [py, "-m", "forecast_cli", "check", str(ROOT / "sample_data" / "AAPL.csv")],
            "bare_typer_help_s": [py, str(bare), "--help"],
        }
        res = {name: [] for name in cases}
        for cmd in cases.values():
            run_timed(cmd)  # warm-up: page cache, .pyc files
        for _ in range(args.runs):  # interleaved, so that drift in the machine's load hits all alike
            for name, cmd in cases.items():
                t, p = run_timed(cmd, env={"COLUMNS": "100"})
                if p.returncode != 0:
                    raise SystemExit(f"{cmd} failed: {p.stderr}")
                res[name].append(t)
        res = {name: median(times) for name, times in res.items()}
        t, _ = run_timed([py, "-c", "import tensorflow"], env={"TF_CPP_MIN_LOG_LEVEL": "3"})
        res["import_tensorflow_s"] = t
    res["help_over_bare"] = res["help_s"] / res["bare_typer_help_s"]
    res["check_over_bare"] = res["check_s"] / res["bare_typer_help_s"]
    print(f"{'command':32} {'median s':>9} {'x bare --help':>14}")
    for key, label in (("bare_typer_help_s", "bare Typer app --help"), ("help_s", "forecast --help"),
                       ("check_s", "forecast check AAPL.csv"), ("import_tensorflow_s", "python -c 'import tensorflow'")):
        print(f"{label:32} {res[key]:9.3f} {res[key] / res['bare_typer_help_s']:14.2f}")
    res["runs"] = args.runs
    res["machine"] = machine()
    emit(res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
