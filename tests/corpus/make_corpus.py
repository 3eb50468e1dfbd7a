"""Write the malformed-input corpus used by tests/test_robustness.py.

Run ``python tests/corpus/make_corpus.py`` from the repository root to regenerate the files;
the outputs are committed so the tests never depend on this script having run. Every file
is written byte for byte (encodings, BOMs and line ends are part of what is tested).

The clean series behind most cases: 90 daily rows from 2024-01-01, ``y = 10 + t/10 + sin(2πt/7)``
rounded to 3 decimals (``clean_values``); the tests compare what each readable variant loads
(and ``check --json``'s rows, min, max and mean) with it.
"""
from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
N = 90


def clean_values(n: int = N) -> list[float]:
    return [round(10 + t / 10 + math.sin(2 * math.pi * t / 7), 3) for t in range(n)]


def days(n: int = N, start: date = date(2024, 1, 1)) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def csv_text(header: str, rows: list[str], nl: str = "\n") -> str:
    return nl.join([header, *rows]) + nl


def clean_rows(sep: str = ",", fmt=lambda v: f"{v}") -> list[str]:
    return [f"{d}{sep}{fmt(v)}" for d, v in zip(days(), clean_values())]


def build() -> dict[str, bytes]:
    v = clean_values()
    d = days()
    files: dict[str, str | bytes] = {}

    # --- the clean reference file (also trains the score bundle in the tests)
    files["clean.csv"] = csv_text("date,y", clean_rows())

    # --- files that cannot be read at all
    files["empty.csv"] = b""
    files["blank_lines_only.csv"] = "\n\n  \n\n"
    files["header_only.csv"] = "date,y\n"
    files["binary_xlsx.csv"] = b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4
    files["gzip.csv"] = b"\x1f\x8b\x08\x00" + bytes(range(200))
    files["nul_bytes.csv"] = b"date,y\n2024-01-01,1\x00\x00\x00\n"

    # --- the time index
    files["no_date_column.csv"] = csv_text("a,b", [f"{i},{x}" for i, x in enumerate(v)])
    files["unparseable_dates.csv"] = csv_text("date,y", [f"day {i},{x}" for i, x in enumerate(v)])
    mixed = list(d)
    for i in range(40, N):  # from line 42 on: US month/day/year with words
        dt = date(2024, 1, 1) + timedelta(days=i)
        mixed[i] = dt.strftime("%B %d %Y") if i % 2 else dt.strftime("%Y-%m-%d")
    mixed[41] = "sometime in February"
    files["mixed_date_formats.csv"] = csv_text("date,y", [f"{a},{x}" for a, x in zip(mixed, v)])
    dup = list(d)
    dup[30] = dup[29]  # line 32 repeats line 31's date
    files["duplicate_timestamps.csv"] = csv_text("date,y", [f"{a},{x}" for a, x in zip(dup, v)])
    empty_date = clean_rows()
    empty_date[20] = f",{v[20]}"
    files["empty_date_cell.csv"] = csv_text("date,y", empty_date)
    order = list(range(N))
    order[10:20] = order[10:20][::-1]
    order[50], order[70] = order[70], order[50]
    files["unsorted_rows.csv"] = csv_text("date,y", [clean_rows()[i] for i in order])
    files["timezone_offsets.csv"] = csv_text("timestamp,y", [f"{a}T00:00:00+00:00,{x}" for a, x in zip(d, v)])

    # --- the target's values
    bad = clean_rows()
    bad[8] = f"{d[8]},abc"
    files["non_numeric_target.csv"] = csv_text("date,y", bad)
    files["thousands_separators.csv"] = csv_text("date,y", [f'{a},"{1000 + x:,.2f}"' for a, x in zip(d, v)])
    files["unit_suffix.csv"] = csv_text("date,y", [f"{a},{x} kg" for a, x in zip(d, v)])
    files["decimal_comma_in_quotes.csv"] = csv_text(
        "date,y", [f'{a},"{str(x).replace(".", ",")}"' for a, x in zip(d, v)])
    files["all_missing_target.csv"] = csv_text("date,y,x", [f"{a},,{x}" for a, x in zip(d, v)])
    files["constant_series.csv"] = csv_text("date,y", [f"{a},5.0" for a in d])
    files["too_short.csv"] = csv_text("date,y", clean_rows()[:6])
    files["single_row.csv"] = csv_text("date,y", clean_rows()[:1])
    inf = clean_rows()
    inf[12] = f"{d[12]},inf"
    files["infinite_values.csv"] = csv_text("date,y", inf)
    ninf = clean_rows()
    ninf[33] = f"{d[33]},-Infinity"
    files["negative_infinity.csv"] = csv_text("date,y", ninf)
    big = clean_rows()
    big[5] = f"{d[5]},1e999"
    files["overflow_number.csv"] = csv_text("date,y", big)
    gap = clean_rows()
    for i in range(40, 50):
        gap[i] = f"{d[i]},"
    files["long_gap.csv"] = csv_text("date,y", gap)
    short_gap = clean_rows()
    short_gap[40] = f"{d[40]},"
    short_gap[41] = f"{d[41]},NaN"
    files["short_gap_interpolated.csv"] = csv_text("date,y", short_gap)
    files["bool_column.csv"] = csv_text("date,flag", [f"{a},{'true' if i % 2 else 'false'}" for i, a in enumerate(d)])
    files["dates_only.csv"] = csv_text("date", d)

    # --- columns
    files["two_numeric_no_target.csv"] = csv_text("date,a,b", [f"{a},{x},{x * 2}" for a, x in zip(d, v)])
    files["case_differs.csv"] = csv_text("date,Y", clean_rows())
    files["extra_text_columns.csv"] = csv_text(
        "date,y,comment,station", [f"{a},{x},note {i} ok,North-{i % 3}" for i, (a, x) in enumerate(zip(d, v))])
    files["ragged_row.csv"] = csv_text("date,y", clean_rows()[:25] + [f"{d[25]},{v[25]},extra,fields"]
                                       + clean_rows()[26:])
    files["header_whitespace.csv"] = csv_text(" date , y ", clean_rows())
    files["duplicate_column_names.csv"] = csv_text("date,y,y", [f"{a},{x},{x}" for a, x in zip(d, v)])

    # --- encodings, delimiters, line ends: a sensible reading exists, so they are read
    files["semicolon_decimal_comma.csv"] = csv_text(
        "date;y", clean_rows(";", lambda x: str(x).replace(".", ",")))
    files["tab_delimited.csv"] = csv_text("date\ty", clean_rows("\t"))
    files["utf8_bom.csv"] = "\ufeff" + csv_text("date,y", clean_rows())
    files["utf16_bom.csv"] = csv_text("date,y", clean_rows()).encode("utf-16")
    files["latin1.csv"] = csv_text(
        "date,température,remarque", [f"{a},{x},é{i}" for i, (a, x) in enumerate(zip(d, v))]).encode("latin-1")
    files["crlf.csv"] = csv_text("date,y", clean_rows(), nl="\r\n")
    files["cr_only.csv"] = csv_text("date,y", clean_rows(), nl="\r")
    files["trailing_blank_lines.csv"] = csv_text("date,y", clean_rows()) + "\n\n   \n\n"
    files["leading_blank_lines.csv"] = "\n\n" + csv_text("date,y", clean_rows())
    files["trailing_delimiters.csv"] = csv_text("date,y,", [f"{r}," for r in clean_rows()])
    files["no_final_newline.csv"] = csv_text("date,y", clean_rows()).rstrip("\n")
    files["quoted_values.csv"] = csv_text('"date","y"', [f'"{a}","{x}"' for a, x in zip(d, v)])

    return {k: (s.encode("utf-8") if isinstance(s, str) else s) for k, s in files.items()}


def main() -> None:
    for name, data in build().items():
        (HERE / name).write_bytes(data)
    folder = HERE / "directory.csv"  # a directory with a .csv name, given where a file is expected
    folder.mkdir(exist_ok=True)
    (folder / "README.txt").write_text("A directory named like a CSV file; the tool must refuse it.\n")
    print(f"wrote {len(build())} files and directory.csv/ to {HERE}")


if __name__ == "__main__":
    main()
