"""Hostile and malformed registry files, end to end through ``validate`` and ``rescore``.

Every file here is small and generated under ``tmp_path``. For each one: the job either accounts
for every row (rows in = graded + rejected, each reject with a reason) or stops with exit code 1
and one message naming the problem — never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from credit_grading.cli import app
from credit_grading.exceptions import CreditGradingError
from credit_grading.synth import generate_registry

runner = CliRunner()


# ---------------------------------------------------------------------------- helpers


def clean_table(rows: int = 30, seed: int = 3) -> pa.Table:
    return generate_registry(rows, seed=seed, as_of="2025-12-31").table.drop_columns(["true_pd"])


def csv_lines(table: pa.Table) -> list[str]:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes().decode("utf-8").splitlines()


def set_cell(lines: list[str], header: list[str], row: int, column: str, text: str) -> None:
    """Set a cell of data row ``row`` (1-based) in CSV lines made by ``csv_lines`` (no commas inside cells)."""
    cells = lines[row].split(",")
    cells[header.index(f'"{column}"')] = text
    lines[row] = ",".join(cells)


def write_lines(path, lines: list[str], encoding: str = "utf-8") -> None:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def with_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def corrupt_utf8(arr: pa.Array, row: int, byte: int, value: int) -> pa.Array:
    """The same strings with one byte of string ``row`` overwritten (written as-is to Parquet)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    _, offsets, data = arr.buffers()
    start = int(np.frombuffer(offsets, dtype=np.int32)[arr.offset + row])
    raw = bytearray(data.to_pybytes())
    raw[start + byte] = value
    return pa.Array.from_buffers(pa.string(), len(arr), [None, offsets, pa.py_buffer(bytes(raw))], offset=arr.offset)


def rescore(bundle, path, tmp_path, chunk_rows: int = 10):
    """Run ``credit-grading rescore --validate all`` (every item checked, as ``validate`` does);
    returns (exit code, summary or None, rejects or None, error)."""
    tmp_path = tmp_path / f"rescore_{chunk_rows}"
    tmp_path.mkdir(exist_ok=True)
    out, rej = tmp_path / "graded.parquet", tmp_path / "rejects.parquet"
    res = runner.invoke(app, ["rescore", "--model", str(bundle.path), "--input", str(path), "--output", str(out),
                              "--rejects", str(rej), "--chunk-rows", str(chunk_rows), "--validate", "all",
                              "--audit-db", str(tmp_path / "audit.db")])  # fmt: skip
    if res.exit_code != 0:
        return res.exit_code, None, None, _error(res)
    summary = json.loads((tmp_path / "graded.parquet.summary.json").read_text(encoding="utf-8"))
    assert pq.read_metadata(out).num_rows == summary["rows_graded"]
    return 0, summary, pq.read_table(rej).to_pandas(), None


def validate(path, tmp_path):
    """Run ``credit-grading validate --json``; returns (exit code, summary or None, rejects or None, error)."""
    rej = tmp_path / "validate_rejects.parquet"
    res = runner.invoke(app, ["validate", "--input", str(path), "--rejects", str(rej), "--json"])
    if res.exit_code != 0:
        return res.exit_code, None, None, _error(res)
    return 0, json.loads(res.stdout), pq.read_table(rej).to_pandas(), None


def _error(res) -> str:
    """The one-paragraph message ``main()`` prints for a CreditGradingError; anything else is a traceback."""
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, CreditGradingError), f"a traceback: {res.exception!r}"
    msg = str(res.exception)
    assert "\n" not in msg.strip() and "Traceback" not in msg
    return msg


def accounted(summary: dict, rejects: pd.DataFrame, rows: int) -> None:
    graded = summary.get("rows_graded", summary.get("rows_valid"))
    assert summary["rows_read"] == rows == graded + summary["rows_rejected"]
    assert rejects["row_number"].nunique() == summary["rows_rejected"]
    assert rejects["reason"].notna().all() and (rejects["reason"] != "").all()


def reasons(rejects: pd.DataFrame) -> set[tuple[int, str, str]]:
    return {(int(r), c, why) for r, c, why in rejects[["row_number", "column", "reason"]].to_numpy()}


# ---------------------------------------------------------------------------- 5: one key normal form


def test_csv_duplicates_differing_only_in_as_of_spacing_are_found_across_chunks(bundle, tmp_path):
    table = clean_table()
    lines = csv_lines(table)
    header = lines[0].split(",")
    ids = table.column("uscc").to_pylist()
    set_cell(lines, header, 25, "uscc", f'"{ids[2]}"')  # row 25 repeats row 3, its date with a trailing space
    set_cell(lines, header, 25, "as_of", "2025-12-31 ")
    set_cell(lines, header, 14, "uscc", f'"{ids[27]}"')  # row 14 is repeated by row 28, date with a leading space
    set_cell(lines, header, 28, "as_of", " 2025-12-31")
    path = tmp_path / "dup.csv"
    write_lines(path, lines)

    code, summary, rejects, _ = rescore(bundle, path, tmp_path, chunk_rows=10)
    assert code == 0
    accounted(summary, rejects, 30)
    assert reasons(rejects) == {(25, "uscc", "duplicate_id"), (28, "uscc", "duplicate_id")}
    code, vsummary, vrejects, _ = validate(path, tmp_path)
    assert code == 0
    assert reasons(vrejects) == reasons(rejects)
    assert vsummary["rows_rejected"] == summary["rows_rejected"] == 2


def test_parquet_duplicates_differing_only_in_time_of_day_are_found_across_chunks(bundle, tmp_path):
    table = clean_table()
    hours = [0] * 30
    hours[25] = 10
    stamps = pa.array([dt.datetime(2025, 12, 31, h) for h in hours], type=pa.timestamp("us"))
    ids = table.column("uscc").to_pylist()
    ids[25] = ids[1]  # row 26 repeats row 2 at 10:00 the same day
    table = with_column(with_column(table, "as_of", stamps), "uscc", pa.array(ids))
    path = tmp_path / "dup.parquet"
    pq.write_table(table, path)

    code, summary, rejects, _ = rescore(bundle, path, tmp_path, chunk_rows=10)
    assert code == 0
    accounted(summary, rejects, 30)
    assert reasons(rejects) == {(26, "uscc", "duplicate_id")}
    _, _, vrejects, _ = validate(path, tmp_path)
    assert reasons(vrejects) == reasons(rejects)


# ---------------------------------------------------------------------------- 6: column kinds once per file


def test_a_chunk_whose_only_value_is_bad_rejects_that_row(bundle, tmp_path):
    table = clean_table(21, seed=4)
    lines = csv_lines(table)
    set_cell(lines, lines[0].split(","), 21, "registered_capital", "abc")
    path = tmp_path / "r21.csv"
    write_lines(path, lines)

    code, summary, rejects, err = rescore(bundle, path, tmp_path, chunk_rows=10)
    assert code == 0, err
    accounted(summary, rejects, 21)
    assert reasons(rejects) == {(21, "registered_capital", "not_numeric")}
    assert rejects["value"].tolist() == ["abc"]
    _, vsummary, vrejects, _ = validate(path, tmp_path)
    assert reasons(vrejects) == reasons(rejects) and vsummary["rows_valid"] == 20


# ---------------------------------------------------------------------------- 12: broken files


def test_invalid_utf8_in_parquet_text_rejects_the_row_naming_the_column(bundle, tmp_path):
    table = clean_table()
    table = with_column(table, "enterprise_name", corrupt_utf8(table.column("enterprise_name"), 4, 0, 0xFF))
    table = with_column(table, "uscc", corrupt_utf8(table.column("uscc"), 6, 3, 0xC3))
    path = tmp_path / "utf8.parquet"
    pq.write_table(table, path)

    code, summary, rejects, err = rescore(bundle, path, tmp_path, chunk_rows=10)
    assert code == 0, err
    accounted(summary, rejects, 30)
    assert reasons(rejects) == {(5, "enterprise_name", "invalid_text"), (7, "uscc", "invalid_text")}
    values = rejects.set_index("row_number")["value"]
    assert values[5].startswith("\\xff") and "\\xc3" in values[7]
    _, _, vrejects, _ = validate(path, tmp_path)
    assert reasons(vrejects) == reasons(rejects)


def test_binary_parquet_columns_are_read_as_text(bundle, tmp_path):
    table = clean_table()
    names = pa.array([s.encode() for s in table.column("enterprise_name").to_pylist()], pa.binary())
    path = tmp_path / "binary.parquet"
    pq.write_table(with_column(table, "enterprise_name", names), path)
    code, summary, rejects, err = rescore(bundle, path, tmp_path)
    assert code == 0, err
    accounted(summary, rejects, 30)
    assert summary["rows_rejected"] == 0


def test_an_integer_beyond_2_to_the_53_is_out_of_range(bundle, tmp_path):
    table = clean_table()
    values = np.nan_to_num(table.column("employees_insured").to_numpy(zero_copy_only=False)).astype(np.int64)
    values[3] = 2**53 + 1
    big = pa.array(values)
    path = tmp_path / "big.parquet"
    pq.write_table(with_column(table, "employees_insured", big), path)

    code, summary, rejects, err = rescore(bundle, path, tmp_path)
    assert code == 0, err
    accounted(summary, rejects, 30)
    assert reasons(rejects) == {(4, "employees_insured", "out_of_range")}
    assert rejects["value"].tolist() == [str(2**53 + 1)]
    _, _, vrejects, _ = validate(path, tmp_path)
    assert reasons(vrejects) == reasons(rejects)


def test_uscc_stored_as_int64_is_one_message(bundle, tmp_path):
    table = clean_table()
    path = tmp_path / "intid.parquet"
    pq.write_table(with_column(table, "uscc", pa.array(np.arange(30, dtype=np.int64) + 913501001234567890)), path)
    for run in (rescore(bundle, path, tmp_path), validate(path, tmp_path)):
        code, _, _, err = run
        assert code == 1
        assert "intid.parquet" in err and "'uscc'" in err and "int64" in err and "text" in err
    assert not list(tmp_path.rglob("graded.parquet"))


def test_ragged_csv_rows_are_rejected_as_malformed(bundle, tmp_path):
    table = clean_table()
    lines = csv_lines(table)
    lines[5] += ",surplus"  # data row 5: one field too many
    lines[10] = ",".join(lines[10].split(",")[:12])  # data row 10 (last of chunk 1): too few
    lines[11] += ",x,y"  # data row 11 (first of chunk 2)
    lines[30] = lines[30].split(",")[0]  # the last row: the id alone
    path = tmp_path / "ragged.csv"
    write_lines(path, lines)
    malformed = {(r, "*", "malformed_row") for r in (5, 10, 11, 30)}

    for chunk in (10, 7):
        code, summary, rejects, err = rescore(bundle, path, tmp_path, chunk_rows=chunk)
        assert code == 0, err
        accounted(summary, rejects, 30)
        assert reasons(rejects) == malformed
        detail = rejects.set_index("row_number")["detail"]
        assert "line 6" in detail[5] and "40 fields" in detail[5] and "39" in detail[5]
        assert "line 31" in detail[30] and "1 field" in detail[30]
    code, vsummary, vrejects, err = validate(path, tmp_path)
    assert code == 0, err
    accounted(vsummary, vrejects, 30)
    assert reasons(vrejects) == malformed


def test_ragged_rows_after_a_value_that_does_not_convert(bundle, tmp_path):
    """The reader's two fallbacks (text columns, tolerant parsing) together still count every row."""
    table = clean_table()
    lines = csv_lines(table)
    set_cell(lines, lines[0].split(","), 3, "registered_capital", "lots")
    lines[20] += ",surplus"
    path = tmp_path / "both.csv"
    write_lines(path, lines)
    code, summary, rejects, err = rescore(bundle, path, tmp_path, chunk_rows=8)
    assert code == 0, err
    accounted(summary, rejects, 30)
    assert reasons(rejects) == {(3, "registered_capital", "not_numeric"), (20, "*", "malformed_row")}


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("gb18030", "GB18030"), ("utf-16", "UTF-16"), ("utf-16-le", "UTF-16")],
)
def test_a_csv_in_another_encoding_is_one_message_naming_it(bundle, tmp_path, encoding, expected):
    path = tmp_path / "enc.csv"
    write_lines(path, csv_lines(clean_table()), encoding)
    for run in (rescore(bundle, path, tmp_path), validate(path, tmp_path)):
        code, _, _, err = run
        assert code == 1
        assert "enc.csv" in err and "UTF-8" in err and expected in err
        if encoding == "gb18030":
            assert "line 2" in err  # the header is ASCII; the first Chinese name is on line 2


def test_an_encoding_problem_far_into_the_file_names_its_line(bundle, tmp_path):
    table = clean_table(8000, seed=9)
    lines = csv_lines(table)
    head = ("\n".join(lines[:7000]) + "\n").encode("utf-8")
    assert len(head) > 1 << 20  # beyond the first block the reader sniffs
    tail = ("\n".join(lines[7000:]) + "\n").encode("gb18030")
    path = tmp_path / "late.csv"
    path.write_bytes(head + tail)
    for run in (rescore(bundle, path, tmp_path, chunk_rows=2000), validate(path, tmp_path)):
        code, _, _, err = run
        assert code == 1
        assert "line 7001" in err and "UTF-8" in err
    assert not list(tmp_path.rglob("graded.parquet"))


def test_a_utf8_bom_is_read(bundle, tmp_path):
    lines = csv_lines(clean_table())
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode("utf-8"))
    code, summary, rejects, err = rescore(bundle, path, tmp_path)
    assert code == 0, err
    accounted(summary, rejects, 30)
    assert summary["rows_rejected"] == 0


def test_the_real_entry_point_prints_one_paragraph(bundle, tmp_path):
    path = tmp_path / "enc.csv"
    write_lines(path, csv_lines(clean_table()), "gb18030")
    proc = subprocess.run([sys.executable, "-c", "from credit_grading.cli import main; main()", "validate",
                           "--input", str(path)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "UTF-8" in proc.stderr and "line 2" in proc.stderr


# ---------------------------------------------------------------------------- 13 and hostile values


def test_null_words_in_text_items_keep_their_value_as_given(bundle, tmp_path):
    table = clean_table()
    lines = csv_lines(table)
    header = lines[0].split(",")
    for row, word in ((4, "NA"), (5, "NULL"), (6, "N/A"), (7, "nan")):
        set_cell(lines, header, row, "enterprise_name", word)
    set_cell(lines, header, 9, "admin_penalties_24m", "abc")  # required and not a number: one reason
    path = tmp_path / "na.csv"
    write_lines(path, lines)
    code, summary, rejects, err = rescore(bundle, path, tmp_path)
    assert code == 0, err
    accounted(summary, rejects, 30)
    assert reasons(rejects) == {
        (4, "enterprise_name", "missing_value"),
        (5, "enterprise_name", "missing_value"),
        (6, "enterprise_name", "missing_value"),
        (7, "enterprise_name", "missing_value"),
        (9, "admin_penalties_24m", "not_numeric"),
    }
    assert rejects["value"].tolist() == ["NA", "NULL", "N/A", "nan", "abc"]
    _, _, vrejects, _ = validate(path, tmp_path)
    assert vrejects["value"].tolist() == rejects["value"].tolist()


HOSTILE = {
    "formula": "=1+1",
    "markup": "<script>alert(1)</script>",
    "rich": "[red]x[/red]",
    "control": "a\x07b\x1bc",
    "long": "长" * 500,
}


def test_hostile_values_reach_the_rejects_intact(bundle, tmp_path):
    table = clean_table()
    ids = table.column("uscc").to_pylist()
    ids[3] = "../../x"
    ids[4] = '=HYPERLINK("http://x")'
    industry = table.column("industry").to_pylist()
    for i, value in enumerate(HOSTILE.values()):
        industry[10 + i] = value
    table = with_column(with_column(table, "uscc", pa.array(ids)), "industry", pa.array(industry))
    path = tmp_path / "hostile.parquet"
    pq.write_table(table, path)

    code, summary, rejects, err = rescore(bundle, path, tmp_path)
    assert code == 0, err
    accounted(summary, rejects, 30)
    got = rejects.set_index("row_number")["value"]
    assert got[4] == "../../x" and got[5] == '=HYPERLINK("http://x")'
    for i, value in enumerate(list(HOSTILE.values())[:-1]):
        assert got[11 + i] == value
    long = got[11 + len(HOSTILE) - 1]
    assert len(long) == 201 and long == "长" * 200 + "…"
    _, _, vrejects, _ = validate(path, tmp_path)
    assert vrejects["value"].tolist() == rejects["value"].tolist()


def test_a_resumed_reader_cuts_a_ragged_file_as_the_first_run_did(schema, tmp_path):
    """Chunk k read from the start of the file or by a resumed run: the same rows, placeholders included."""
    from credit_grading.batch.reader import ChunkReader
    from credit_grading.registry.io import MALFORMED_DETAIL

    lines = csv_lines(clean_table(40, seed=5))
    set_cell(lines, lines[0].split(","), 9, "registered_capital", "lots")  # the reader turns to text here
    for row in (1, 6, 7, 18, 40):
        lines[row] += ",surplus"
    path = tmp_path / "ragged.csv"
    write_lines(path, lines)
    reader = ChunkReader(path, schema, 6)
    first = list(reader.chunks())
    assert [o for o, _ in first] == list(range(0, 40, 6)) and sum(t.num_rows for _, t in first) == 40
    marked = [o + i + 1 for o, t in first if MALFORMED_DETAIL in t.column_names
              for i, v in enumerate(t.column(MALFORMED_DETAIL).to_pylist()) if v]  # fmt: skip
    assert marked == [1, 6, 7, 18, 40]
    keys = pa.Table.from_batches(list(reader.key_batches()))
    assert keys.num_rows == 40 and keys.column("uscc").null_count == 5
    for k in range(1, len(first)):
        resumed = list(ChunkReader(path, schema, 6).chunks(start_chunk=k))
        assert [o for o, _ in resumed] == [o for o, _ in first[k:]]
        for (_, a), (_, b) in zip(resumed, first[k:], strict=True):
            assert a.column("uscc").to_pylist() == b.column("uscc").to_pylist()
            assert a.column("registered_capital").cast(pa.string()).to_pylist() == (
                b.column("registered_capital").cast(pa.string()).to_pylist()
            )
