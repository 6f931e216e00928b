"""One declared result schema: the pandas grader, the batch Parquet file and Spark's schema agree with it."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credit_grading.batch import rescore
from credit_grading.grading import decide, manual_overrides_from_frame
from credit_grading.grading.result_schema import (
    MANUAL,
    TIER_CODES,
    matched_rules,
    result_schema,
    schema_of_model,
    tier_of_grade,
)
from credit_grading.registry import validate_table
from credit_grading.service import BundleGrader
from credit_grading.synth import generate_registry, write_registry

DATA = Path(__file__).parent / "data"


def _pandas_kind(dtype) -> str:
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "date"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "text"
    return str(dtype)


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "r.parquet"
    write_registry(generate_registry(3_000, seed=93, as_of="2026-06-30", invalid_fraction=0.02), path)
    return path


@pytest.fixture(scope="module")
def data(bundle):
    return validate_table(generate_registry(1_500, seed=94, as_of="2026-06-30").table, BundleGrader(bundle).schema).data


def test_the_pandas_grader_gives_the_declared_columns_in_order_with_their_kinds(bundle, registry_file):
    grader = BundleGrader(bundle)
    graded = grader.grade(pq.read_table(registry_file)).graded
    declared = schema_of_model(bundle.model, reasons=3, row_number=True)
    assert tuple(graded.columns) == declared.names
    assert {c.name: _pandas_kind(graded[c.name].dtype) for c in declared} == {c.name: c.pandas for c in declared}
    required = [c.name for c in declared if not c.nullable]
    assert len(graded) > 2_900 and graded[required].notna().all().all()
    assert graded["model_name"].iloc[0] == bundle.name and graded["pd"].between(0, 1).all()


def test_previous_grades_hysteresis_manual_overrides_and_carried_columns_take_their_declared_places(bundle, data):
    first, _ = decide(bundle.model, data)
    ids = data["uscc"].to_numpy()
    manual = manual_overrides_from_frame(
        pd.DataFrame(
            {
                "uscc": ids[:2],
                "grade": [None, None],
                "tier": ["D", "M"],
                "reason": ["court", "lost"],
                "approver": ["wang", "li"],
                "valid_until": ["2027-01-01", "2027-01-01"],
            }
        ),
        bundle.model.scale.grades,
    )
    model = replace(bundle.model, hysteresis_margin=0.3)
    out, _ = decide(model, data, previous=first, manual=manual, reasons=2, carry=("district", "uscc"))
    declared = schema_of_model(model, reasons=2, held=True, previous=True, carried=("district", "uscc"))
    assert tuple(out.columns) == declared.names
    assert declared.names[-1] == "district" and declared.names.count("uscc") == 1
    typed = [c for c in declared if c.pandas is not None]
    assert {c.name: _pandas_kind(out[c.name].dtype) for c in typed} == {c.name: c.pandas for c in typed}
    assert out["override"].iloc[:2].tolist() == [MANUAL, MANUAL]
    assert out["override_approver"].iloc[:2].tolist() == ["wang", "li"]
    assert out["tier"].iloc[:2].astype(str).tolist() == ["D", "M"]


def test_the_batch_file_has_the_declared_columns_and_arrow_types(bundle, registry_file, tmp_path):
    first = tmp_path / "first.parquet"
    rescore(bundle, registry_file, first, chunk_rows=1_000)
    written = pq.read_schema(first)
    declared = schema_of_model(bundle.model, reasons=3, reason_texts=False)
    assert written.names == list(declared.names)
    assert [f.type for f in written] == [f.type for f in declared.arrow()]
    table = pq.read_table(first)
    assert table.column("override_approver").null_count == table.num_rows == 3_000 - 60
    for c in declared:
        if not c.nullable:
            assert table.column(c.name).null_count == 0, c.name
    # With a previous grading and a carried item: those columns in their declared places.
    second = tmp_path / "second.parquet"
    rescore(bundle, registry_file, second, chunk_rows=1_000, previous_path=first, carry=("district",))
    written = pq.read_schema(second)
    declared = schema_of_model(bundle.model, reasons=3, reason_texts=False, previous=True, carried=("district",))
    assert written.names == list(declared.names)
    assert [written.field(c.name).type for c in declared if c.type is not None] == [
        c.type for c in declared if c.type is not None
    ]


def test_the_scorecard_deciding_batch_declares_only_the_pds_it_computes(card_bundle, registry_file, tmp_path):
    out = tmp_path / "card.parquet"
    rescore(card_bundle, registry_file, out, chunk_rows=1_000, reasons=1)
    declared = result_schema(pds=("scorecard",), reasons=1, reason_texts=False)
    assert pq.read_schema(out) == declared.arrow()


def test_spark_schema_is_the_declared_schema_with_plain_labels_and_matches_predict(bundle):
    from credit_grading.spark import output_schema

    declared = schema_of_model(bundle.model, reasons=3, status=True)
    got = output_schema(bundle, 3)
    assert got == declared.plain()
    assert got.field("grade").type == pa.string() and got.field("override_approver").type == pa.string()
    # The local one-row-per-input path Spark runs in each task gives exactly these columns.
    predicted = BundleGrader(bundle).predict(generate_registry(200, seed=95, invalid_fraction=0.05).table)
    assert tuple(predicted.columns) == declared.names


def test_the_shared_labels():
    from credit_grading.config.grading import OverrideRule

    assert tier_of_grade(("A", "A", "B", "C", "D")).tolist() == [0, 0, 1, 2, 3, 4]
    assert TIER_CODES[4] == "M"
    rules = tuple(
        OverrideRule.model_validate({"id": rid, "when": {"item": "x", "eq": 1}, "then": {"tier": "D"}})
        for rid in ("dishonest", "abnormal", "thin")
    )
    codes, names = matched_rules(np.array([0, 5, 1, 5, 6], dtype=np.uint32), rules)
    assert [names[c] for c in codes] == ["", "dishonest;thin", "dishonest", "dishonest;thin", "abnormal;thin"]
