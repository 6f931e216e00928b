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
