"""The engine on Spark (local[2]) gives the local engine's results row for row."""

import warnings
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from credit_grading.bundle import load_bundle
from credit_grading.cli import app
from credit_grading.grading.result_schema import schema_of_model
from credit_grading.registry.io import read_registry_table
from credit_grading.service import BundleGrader
from credit_grading.synth import generate_registry

pytest.importorskip("pyspark", reason="the spark extra is not installed")  # CI installs it: these tests run there
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def spark():
    from credit_grading.spark import session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = session("local[2]")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry with invalid rows of every kind but repeated keys (one Spark task cannot see
    another's keys; the local rescoring finds them in a pass of its own)."""
    reg = generate_registry(30_000, seed=71, as_of="2026-06-30", invalid_fraction=0.03)
    dup_rows = reg.injected.loc[reg.injected["reason"] == "duplicate_id", "row_number"].to_numpy() - 1
    keep = sorted(set(range(reg.table.num_rows)) - set(dup_rows.tolist()))
    path = tmp_path_factory.mktemp("spark") / "registry.parquet"
    pq.write_table(reg.table.take(keep), path, row_group_size=7_000)  # several partitions and batches
    return path


def test_spark_equals_the_local_engine_row_for_row(spark, registry):
    from credit_grading.spark import rescore

    bundle = load_bundle(DATA / "bundle_v1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = rescore(spark.read.parquet(str(registry)), bundle).toPandas()
    grader = BundleGrader(bundle)
    table, _ = read_registry_table(registry, grader.schema)
    local = grader.predict(table)
    assert len(got) == len(local) == table.num_rows
    assert tuple(got.columns) == schema_of_model(bundle.model, reasons=3, status=True).names  # the declared schema
    assert (got["status"] == "rejected").sum() == (local["status"] == "rejected").sum() > 300
    key = ["uscc", "status"]
    got = got.sort_values(key, kind="mergesort").reset_index(drop=True)
    local = local.sort_values(key, kind="mergesort").reset_index(drop=True)
    for col in got.columns:
        a, b = got[col], local[col]
        if pd.api.types.is_float_dtype(a.dtype):
            pd.testing.assert_series_equal(a, b.astype(float), check_names=False, check_exact=True)
        elif col == "as_of":
            pd.testing.assert_series_equal(pd.to_datetime(a).astype("datetime64[ns]"),
                                           pd.to_datetime(b).astype("datetime64[ns]"), check_names=False)  # fmt: skip
        else:
            assert (a.astype(object).where(a.notna(), "").astype(str).to_numpy()
                    == b.astype(object).where(b.notna(), "").astype(str).to_numpy()).all(), col  # fmt: skip


def test_rescore_command_on_spark(spark, registry, tmp_path):
    out = tmp_path / "spark_out.parquet"
    res = CliRunner().invoke(app, ["rescore", "--model", str(DATA / "bundle_v1"), "--input", str(registry),
                                   "--output", str(out), "--engine", "spark", "--spark-master", "local[2]"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Rescored with" in res.output and "tier A" in res.output
    written = pq.read_table(out)
    assert written.num_rows == pq.read_metadata(registry).num_rows
