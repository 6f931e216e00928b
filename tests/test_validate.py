import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from credit_grading.config import DuplicatePolicy
from credit_grading.exceptions import DataError, SchemaError
from credit_grading.registry import REASONS, load_registry, validate_table, write_table
from credit_grading.registry.schema import RegistrySchema


def put(df, row, column, value):
    """Set one cell, widening the column to object so any value fits."""
    df[column] = df[column].astype(object)
    df.loc[row, column] = value


def rejected(result):
    return {(int(r), c, reason) for r, c, reason in result.rejects[["row_number", "column", "reason"]].to_numpy()}


def test_clean_table_passes_typed(schema, registry):
    res = validate_table(registry.table, schema)
    assert res.rows_read == res.rows_valid == registry.table.num_rows
    assert res.rows_rejected == 0 and res.rejects.empty
    d = res.data
    assert list(d.columns) == list(schema.output_columns)
    assert d.index.name == "row_number" and d.index[0] == 1
    assert isinstance(d["industry"].dtype, pd.CategoricalDtype)
    assert list(d["tax_credit_rating"].cat.categories) == ["A", "B", "M", "C", "D"]
    assert d["registered_capital"].dtype == np.float64
    assert str(d["bad_12m"].dtype) == "Int8"
    # firm_age_years is derived from the establishment date and the snapshot date.
    age = (d["as_of"] - d["established_on"]).dt.days / 365.25
    np.testing.assert_allclose(d["firm_age_years"], age)
    assert res.ignored_columns == ("true_pd",)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("uscc", "91350100M000100Y44", "uscc_check_digit"),
        ("uscc", "91350100M000100Y4", "uscc_length"),
        ("uscc", "91350100M0001O0Y43", "uscc_charset"),
        ("uscc", None, "uscc_missing"),
        ("registered_capital", -3.0, "out_of_range"),
        ("social_insurance_arrears_months", 121.0, "out_of_range"),
        ("tax_arrears_amount", float("inf"), "out_of_range"),
        ("admin_penalties_24m", 1.5, "not_integer"),
        ("admin_penalties_24m", None, "missing_value"),
        ("industry", "Z", "unknown_level"),
        ("district", "Chaoyang", "unknown_level"),
        ("enterprise_type", None, "missing_value"),
        ("dishonest_debtor_flag", 2, "invalid_flag"),
        ("established_on", dt.date(2026, 3, 1), "future_date"),
        ("established_on", dt.date(1850, 1, 1), "invalid_date"),
        ("established_on", None, "missing_value"),
        ("as_of", None, "invalid_as_of"),
        ("bad_12m", 3, "invalid_target"),
        ("enterprise_name", "  ", "missing_value"),
    ],
)
def test_every_rejection_reason(schema, frame, column, value, reason):
    put(frame, 5, column, value)
    res = validate_table(frame, schema)
    assert res.rows_read == 200
    assert res.rows_valid == 199 and res.rows_rejected == 1
    assert (6, column, reason) in rejected(res)
    if column != "uscc":
        assert res.rejects.iloc[0]["uscc"] == frame.loc[5, "uscc"]
    assert reason in REASONS
    assert 6 not in res.data.index


def test_reject_rows_name_row_uscc_column_and_value(schema, frame):
    put(frame, 9, "registered_capital", -12.5)
    put(frame, 3, "industry", "Z")
    res = validate_table(frame, schema)
    r = res.rejects.set_index("row_number")
    assert r.loc[10, "column"] == "registered_capital"
    assert r.loc[10, "value"] == "-12.5"
    assert r.loc[10, "uscc"] == frame.loc[9, "uscc"]
    assert "valid range 0 to 1e+07" in r.loc[10, "detail"]
    assert r.loc[4, "value"] == "Z" and "expected one of A, B" in r.loc[4, "detail"]


def test_several_problems_on_one_row_count_the_row_once(schema, frame):
    put(frame, 0, "registered_capital", -1.0)
    put(frame, 0, "industry", "Z")
    put(frame, 0, "dishonest_debtor_flag", 5)
    res = validate_table(frame, schema)
    assert len(res.rejects) == 3
    assert res.rows_rejected == 1 and res.rows_valid == 199
    assert res.reason_counts() == {"invalid_flag": 1, "out_of_range": 1, "unknown_level": 1}


def test_duplicates_keep_first_or_reject_all(schema, frame):
    put(frame, 10, "uscc", frame.loc[2, "uscc"])
    put(frame, 20, "uscc", frame.loc[2, "uscc"])
    res = validate_table(frame, schema)
    assert {r for r, _, reason in rejected(res) if reason == "duplicate_id"} == {11, 21}
    assert 3 in res.data.index
    strict = RegistrySchema(schema.catalogue, duplicates=DuplicatePolicy.REJECT_ALL)
    res = validate_table(frame, strict)
    assert {r for r, _, reason in rejected(res) if reason == "duplicate_id"} == {3, 11, 21}
    assert res.rows_read == res.rows_valid + res.rows_rejected


def test_row_offset_numbers_rows_in_the_whole_file(schema, frame):
    put(frame, 0, "industry", "Z")
    res = validate_table(frame, schema, row_offset=1000)
    assert res.rejects["row_number"].tolist() == [1001]
    assert res.data.index[0] == 1002


def test_missing_required_columns_are_all_named(schema, frame):
    with pytest.raises(SchemaError) as exc:
        validate_table(frame.drop(columns=["industry", "tax_credit_rating"]), schema)
    assert "missing required column(s): industry, tax_credit_rating" in str(exc.value)


def test_optional_target_may_be_absent(schema, frame):
    res = validate_table(frame.drop(columns=["bad_12m"]), schema)
    assert res.rows_valid == 200
    assert res.data["bad_12m"].isna().all()


def test_wrong_kind_throughout_is_a_table_error(schema, frame):
    frame["employees_insured"] = "many"
    frame["established_on"] = "long ago"
    with pytest.raises(SchemaError) as exc:
        validate_table(frame, schema)
    msg = str(exc.value)
    assert "'employees_insured' should hold numbers but none of its values is one" in msg
    assert "'established_on' should hold dates" in msg


def test_text_numbers_are_parsed_and_bad_ones_named(schema, frame):
    frame["employees_insured"] = frame["employees_insured"].map(lambda v: "" if pd.isna(v) else f"{v:g}")
    frame.loc[7, "employees_insured"] = "twelve"
    res = validate_table(frame, schema)
    assert (8, "employees_insured", "not_numeric") in rejected(res)
    assert res.rows_valid == 199
    assert res.data["employees_insured"].dtype == np.float64


def test_csv_round_trip_and_bad_text_values(schema, registry, tmp_path):
    table = registry.table.slice(0, 500)
    p = tmp_path / "r.csv"
    write_table(table, p)
    res = load_registry(p, schema)
    assert res.rows_valid == 500
    expected = validate_table(table, schema).data
    pd.testing.assert_frame_equal(res.data, expected, check_exact=False, rtol=1e-12)
    # A value that does not convert sends the reader down the text path; it is named.
    lines = p.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index('"established_on"')] = "2025-02-30"
    lines[3] = ",".join(cells)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = load_registry(p, schema)
    assert (3, "established_on", "invalid_date") in rejected(res)
    assert res.rows_valid == 499


def test_unknown_columns_are_ignored_and_reported(schema, frame):
    frame["my_note"] = "x"
    res = validate_table(frame, schema)
    assert res.ignored_columns == ("true_pd", "my_note")
    assert res.rows_valid == 200


def test_parquet_dictionary_and_string_categoricals_agree(schema, frame):
    as_text = pa.Table.from_pandas(frame.astype({"industry": str}), preserve_index=False)
    as_dict = pa.Table.from_pandas(frame, preserve_index=False)
    assert pa.types.is_dictionary(as_dict.schema.field("industry").type)
    a = validate_table(as_text, schema).data["industry"]
    b = validate_table(as_dict, schema).data["industry"]
    pd.testing.assert_series_equal(a, b)


def test_file_errors(schema, tmp_path):
    with pytest.raises(DataError, match="input file not found"):
        load_registry(tmp_path / "none.parquet", schema)
    p = tmp_path / "r.xlsx"
    p.write_text("x")
    with pytest.raises(DataError, match="cannot tell the format"):
        load_registry(p, schema)
    p = tmp_path / "broken.parquet"
    p.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="cannot read .*broken.parquet as parquet"):
        load_registry(p, schema)


def test_any_id_format(catalogue):
    from credit_grading.catalogue import Catalogue, CatalogueItem

    cat = Catalogue(items=[CatalogueItem(id="income", type="numeric", min=0, missing={"allowed": False})])
    schema = RegistrySchema(cat, id_column="loan_id", id_format="any", as_of_column=None, target_column="default")
    df = pd.DataFrame({"loan_id": ["a", "", "c", "a"], "income": [1.0, 2.0, np.nan, 3.0], "default": [0, 1, 0, 1]})
    res = validate_table(df, schema)
    assert rejected(res) == {
        (2, "loan_id", "id_missing"),
        (3, "income", "missing_value"),
        (4, "loan_id", "duplicate_id"),
    }
    assert res.data["loan_id"].tolist() == ["a"]


def test_a_file_may_hold_several_snapshots_of_the_same_entities(schema):
    import pyarrow as pa

    from credit_grading.registry import validate_table
    from credit_grading.synth import generate_registry

    snaps = [generate_registry(300, seed=5, as_of=d).table for d in ("2024-12-31", "2025-12-31")]
    both = pa.concat_tables(snaps)
    res = validate_table(both, schema)
    assert res.rows_valid == 600 and res.rows_rejected == 0
    # The same entity twice in one snapshot is still a duplicate.
    again = pa.concat_tables([snaps[1], snaps[1].slice(0, 7)])
    res = validate_table(again, schema)
    assert res.rows_rejected == 7 and set(res.rejects["reason"]) == {"duplicate_id"}
    assert res.rejects["row_number"].min() == 301


# ---------------------------------------------------------------------------- hostile and odd values


def _strings(frame: pd.DataFrame) -> pa.Table:
    """Every column as text, as a CSV read as text gives it (missing values as empty strings)."""
    return pa.table({c: pa.array(["" if pd.isna(v) else str(v) for v in frame[c]], pa.string()) for c in frame})


def test_a_chunk_never_refuses_a_column_for_its_values(schema, frame):
    frame["employees_insured"] = "many"
    frame["established_on"] = "long ago"
    res = validate_table(frame, schema, row_offset=400, duplicate_rows=np.zeros(0, dtype=np.int64))
    assert res.rows_read == 200 == res.rows_rejected
    assert res.reason_counts() == {"invalid_date": 200, "not_numeric": 200}
    assert res.rejects["row_number"].min() == 401
    with pytest.raises(SchemaError, match="none of its values is one"):  # a whole table still is refused
        validate_table(frame, schema)
    res = validate_table(frame, schema, chunk=True)
    assert res.rows_rejected == 200


def test_null_words_are_missing_and_rejects_show_them_as_given(schema, frame):
    table = _strings(frame)
    words = {3: "NA", 4: "NULL", 5: "N/A", 6: "nan", 7: " n/a "}
    names = table.column("enterprise_name").to_pylist()
    kinds = table.column("enterprise_type").to_pylist()
    counts = table.column("employees_insured").to_pylist()
    for row, word in words.items():
        names[row] = word
    kinds[10] = "NA"
    counts[11] = "NULL"  # missing is allowed here: a valid row with a missing count
    table = table.set_column(table.column_names.index("enterprise_name"), "enterprise_name", pa.array(names))
    table = table.set_column(table.column_names.index("enterprise_type"), "enterprise_type", pa.array(kinds))
    table = table.set_column(table.column_names.index("employees_insured"), "employees_insured", pa.array(counts))
    res = validate_table(table, schema)
    assert rejected(res) == {(r + 1, "enterprise_name", "missing_value") for r in words} | {
        (11, "enterprise_type", "missing_value")
    }
    assert res.rejects["value"].tolist() == [*words.values(), "NA"]
    assert np.isnan(res.data.loc[12, "employees_insured"])


def test_a_value_that_is_not_a_number_is_reported_once(schema, frame):
    table = _strings(frame)
    values = table.column("admin_penalties_24m").to_pylist()
    values[8] = "abc"
    values[9] = ""
    table = table.set_column(table.column_names.index("admin_penalties_24m"), "admin_penalties_24m", pa.array(values))
    res = validate_table(table, schema)
    assert rejected(res) == {(9, "admin_penalties_24m", "not_numeric"), (10, "admin_penalties_24m", "missing_value")}


def test_whole_numbers_beyond_2_to_the_53_are_out_of_range_not_rounded():
    from credit_grading.catalogue import Catalogue, CatalogueItem

    cat = Catalogue(items=[CatalogueItem(id="count", type="numeric", min=-(2.0**60), integer=True)])
    schema = RegistrySchema(cat, id_column="id", id_format="any", as_of_column=None, target_column=None)
    big = [2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, 5]
    table = pa.table({"id": pa.array(["a", "b", "c", "d", "e"]), "count": pa.array(big, pa.int64())})
    res = validate_table(table, schema)
    assert rejected(res) == {(2, "count", "out_of_range"), (3, "count", "out_of_range"), (4, "count", "out_of_range")}
    assert res.rejects["value"].tolist() == [str(v) for v in big[1:4]]  # exactly as given
    assert "2^53" in res.rejects.loc[0, "detail"]
    assert res.data["count"].tolist() == [2.0**53, 5.0]


def test_integer_ids_are_text_where_the_id_format_allows_it(schema, frame):
    from credit_grading.catalogue import Catalogue, CatalogueItem

    cat = Catalogue(items=[CatalogueItem(id="income", type="numeric", min=0)])
    anyid = RegistrySchema(cat, id_column="loan_id", id_format="any", as_of_column=None, target_column=None)
    table = pa.table({"loan_id": pa.array([7, 8, 7, None], pa.int64()), "income": [1.0, 2.0, 3.0, 4.0]})
    res = validate_table(table, anyid)
    assert rejected(res) == {(3, "loan_id", "duplicate_id"), (4, "loan_id", "id_missing")}
    assert res.data["loan_id"].tolist() == ["7", "8"] and res.ids.to_pylist() == ["7", "8"]
    # A USCC stored as numbers is refused as a whole, in a chunk too.
    numbers = pa.Table.from_pandas(frame.assign(uscc=np.arange(200, dtype=np.int64)), preserve_index=False)
    for dups in (None, np.zeros(0, dtype=np.int64)):
        with pytest.raises(SchemaError, match="'uscc' should hold 18-character codes as text but is of type int64"):
            validate_table(numbers, schema, duplicate_rows=dups)


def _broken(values: list[str], row: int, at: int, byte: int) -> pa.Array:
    arr = pa.array(values, pa.string())
    _, offsets, data = arr.buffers()
    raw = bytearray(data.to_pybytes())
    raw[int(np.frombuffer(offsets, dtype=np.int32)[row]) + at] = byte
    return pa.Array.from_buffers(pa.string(), len(arr), [None, offsets, pa.py_buffer(bytes(raw))])


def test_values_that_are_not_utf8_are_rejected_with_their_bytes_escaped(schema, frame):
    table = pa.Table.from_pandas(frame, preserve_index=False)
    names = _broken(table.column("enterprise_name").to_pylist(), 2, 0, 0xFF)
    ids = _broken(table.column("uscc").to_pylist(), 5, 17, 0xC3)  # a truncated two-byte sequence
    district = pa.DictionaryArray.from_arrays(
        pa.array(np.where(np.arange(200) == 9, 1, 0).astype(np.int32)), _broken(["haidian", "xicheng"], 1, 0, 0xE9)
    )
    for name, arr in (("enterprise_name", names), ("uscc", ids), ("district", district)):
        table = table.set_column(table.column_names.index(name), name, arr)
    res = validate_table(table, schema)
    assert rejected(res) == {
        (3, "enterprise_name", "invalid_text"),
        (6, "uscc", "invalid_text"),
        (10, "district", "invalid_text"),
    }
    values = res.rejects.set_index("row_number")["value"]
    assert values[3].startswith("\\xff") and values[6].endswith("\\xc3") and values[10] == "\\xe9icheng"
    assert res.rows_valid == 197
    # Binary columns (Parquet without the UTF-8 annotation) are read as text.
    as_binary = pa.Table.from_pandas(frame, preserve_index=False)
    as_binary = as_binary.set_column(0, "uscc", as_binary.column("uscc").cast(pa.binary()))
    assert validate_table(as_binary, schema).rows_valid == 200


def test_a_malformed_csv_row_is_rejected_whole_once(schema, frame):
    from credit_grading.registry.io import MALFORMED_DETAIL, MALFORMED_TEXT

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = pa.Table.from_arrays([pc_null_row(c, 4) for c in table.columns], names=table.column_names)
    detail = pa.array([None, "line 3 has 2 fields where the header has 40", None, None])
    text = pa.array([None, "a,b", None, None])
    table = table.append_column(MALFORMED_DETAIL, detail).append_column(MALFORMED_TEXT, text)
    res = validate_table(table, schema, ignored_columns=None)
    got = res.rejects[res.rejects["row_number"] == 2]
    assert got[["column", "value", "reason"]].values.tolist() == [["*", "a,b", "malformed_row"]]
    assert got["detail"].tolist() == ["line 3 has 2 fields where the header has 40"]
    assert res.rows_valid == 3 and MALFORMED_DETAIL not in res.ignored_columns


def pc_null_row(column: pa.ChunkedArray, n: int) -> pa.Array:
    """The first ``n`` values of a column with the second one null."""
    values = column.slice(0, n).combine_chunks()
    mask = pa.array([False, True] + [False] * (n - 2))
    return pa.compute.if_else(mask, pa.scalar(None, values.type), values)


def test_hostile_values_stay_intact_and_long_ones_are_cut(schema, frame):
    hostile = ["=1+1", "<script>alert(1)</script>", "[red]x[/red]", "a\x00b\x07\x1bc", "../../etc/passwd", "长" * 300]
    for i, value in enumerate(hostile):
        put(frame, i, "industry", value)
    res = validate_table(frame, schema)
    got = res.rejects.set_index("row_number")["value"]
    assert [got[i + 1] for i in range(5)] == hostile[:5]
    assert got[6] == "长" * 200 + "…"
    assert res.rows_rejected == 6


def test_the_pre_pass_and_validation_find_the_same_duplicates():
    import datetime as dt

    from credit_grading.batch.keys import duplicate_rows
    from credit_grading.catalogue import Catalogue, CatalogueItem
    from credit_grading.registry.keys import normal_key_batch

    cat = Catalogue(items=[CatalogueItem(id="income", type="numeric", min=0)])
    rng = np.random.default_rng(17)
    n = 400
    ids = [f"{p}{v}{s}" for p, v, s in zip(rng.choice(["", " "], n), rng.integers(0, 60, n), rng.choice(["", "  "], n),
                                          strict=True)]  # fmt: skip
    days = rng.choice(["2025-12-31", " 2025-12-31", "2025-12-31 ", "2024-12-31", "2025-02-30", "NA"], n)
    stamps = [dt.datetime(2025, 12, 31, int(h)) if h < 24 else None for h in rng.integers(0, 30, n)]
    for id_format in ("any", "uscc"):
        for policy in DuplicatePolicy:
            schema = RegistrySchema(cat, id_column="id", id_format=id_format, as_of_column="as_of",
                                    target_column=None, duplicates=policy)  # fmt: skip
            for as_of in (pa.array(days), pa.array(stamps, pa.timestamp("us"))):
                table = pa.table({"id": pa.array(ids), "as_of": as_of, "income": np.ones(n)})
                whole = validate_table(table, schema)
                expected = {r for r, _, why in rejected(whole) if why == "duplicate_id"}
                batches = [normal_key_batch(b, "id", "as_of", schema.id_format) for b in table.to_batches(57)]
                dups = duplicate_rows(batches, "id", "as_of", policy)
                streamed = validate_table(table, schema, duplicate_rows=dups)
                assert {r for r, _, why in rejected(streamed) if why == "duplicate_id"} == expected
                assert rejected(streamed) == rejected(whole)
                if id_format == "any":
                    assert len(expected) > 50


def test_numbers_checked_in_one_compiled_pass_give_the_vectorised_checks_results(monkeypatch):
    """Integer and float columns go through one fused pass per column; every value, reason and
    detail is the one the vectorised checks give (which still read every other type)."""
    import credit_grading.registry.validate as v
    from credit_grading.catalogue import Catalogue, CatalogueItem

    rng = np.random.default_rng(18)
    n = 4_000
    items = [
        CatalogueItem(
            id="f64", type="numeric", min=0, max=100, integer=True, missing={"allowed": False}, special_codes=[-1, -9]
        ),
        CatalogueItem(id="f32", type="numeric", min=-5.5, unit="days"),
        CatalogueItem(id="i64", type="numeric", max=10**12, integer=True),
        CatalogueItem(id="i8", type="flag", missing={"allowed": False}),
        CatalogueItem(id="i32", type="flag"),
        CatalogueItem(id="u16", type="numeric", min=3, max=9, special_codes=[0]),
    ]
    floats = rng.choice([0.0, 1.0, 2.5, 50.0, 100.0, 101.0, -1.0, -9.0, -3.0, np.nan, np.inf, -np.inf], n)
    big = rng.choice([0, 7, 2**53, 2**53 + 1, -(2**60), 10**12 + 1, 10**12], n)
    nulls = rng.random(n) < 0.1
    table = pa.table(
        {
            "id": pa.array([f"e{i}" for i in range(n)]),
            "f64": pa.array(floats, mask=nulls),
            "f32": pa.array(floats.astype(np.float32) - 5, type=pa.float32()),
            "i64": pa.array(big, type=pa.int64(), mask=nulls[::-1]),
            "i8": pa.array(rng.choice([0, 1, 2, -1], n), type=pa.int8(), mask=nulls),
            "i32": pa.array(rng.choice([0, 1, 5], n), type=pa.int32()),
            "u16": pa.array(rng.choice([0, 3, 9, 10, 2], n), type=pa.uint16(), mask=rng.random(n) < 0.05),
        }
    ).slice(7)  # an offset into the buffers and their validity bitmaps
    schema = RegistrySchema(Catalogue(items=items), id_column="id", id_format="any", as_of_column=None,
                            target_column=None)  # fmt: skip
    fused = validate_table(table, schema)
    monkeypatch.setattr(v, "_plain_number_type", lambda t: False)
    plain = validate_table(table, schema)
    assert fused.rows_rejected > 1_000
    assert set(fused.rejects["reason"]) == {"missing_value", "out_of_range", "not_integer", "invalid_flag"}
    pd.testing.assert_frame_equal(fused.rejects, plain.rejects)
    pd.testing.assert_frame_equal(fused.data, plain.data)
