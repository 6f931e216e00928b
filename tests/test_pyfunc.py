"""The registered MLflow model takes what analysts pass: DataFrames from read_parquet and read_csv,
Arrow-backed frames and Arrow tables, loaded in a fresh process, with the results of BundleGrader."""

import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from credit_grading.service import BundleGrader

KINDS = ("read_parquet", "read_parquet_nullable", "read_parquet_arrow", "read_csv", "arrow_to_pandas", "arrow_table")


@pytest.fixture(scope="module")
def registered(registered_model):
    """A registry file and a model trained on it, tracked and registered in a store of its own."""
    root, uri, res = registered_model
    assert res.tracked.registered_version == "1"
    return root, uri, res.bundle


def _inputs(root):
    """Each kind of input an analyst passes, written to files a fresh process reads the same way."""
    table = pq.read_table(root / "registry.parquet").slice(9900, 100)  # the 2025 snapshot's last rows
    pq.write_table(table, root / "input.parquet")
    frame = pd.read_parquet(root / "input.parquet")
    frame["admin_penalties_24m"] = frame["admin_penalties_24m"].astype("Int64")  # a nullable integer column
    frame.loc[7, "admin_penalties_24m"] = pd.NA  # a required item missing: that row is rejected, not the call
    frame.loc[11, "uscc"] = "NOT-A-CODE"
    frame.loc[13, "registered_capital"] = np.nan
    frame.to_parquet(root / "input_nullable.parquet")
    (root / "input.csv").write_text(frame.to_csv(index=False))
    return frame


SCRIPT = """
import json, os, sys
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
import mlflow, pandas as pd, pyarrow.parquet as pq
root = sys.argv[1]
model = mlflow.pyfunc.load_model("models:/credit_grading/1")
inputs = {
    "read_parquet": lambda: pd.read_parquet(f"{root}/input.parquet"),
    "read_parquet_nullable": lambda: pd.read_parquet(f"{root}/input_nullable.parquet"),
    "read_parquet_arrow": lambda: pd.read_parquet(f"{root}/input.parquet", dtype_backend="pyarrow"),
    "read_csv": lambda: pd.read_csv(f"{root}/input.csv"),
    "arrow_to_pandas": lambda: pq.read_table(f"{root}/input.parquet").to_pandas(),
}
for kind, make in inputs.items():
    model.predict(make()).to_parquet(f"{root}/out_{kind}.parquet")
model.unwrap_python_model().predict(None, pq.read_table(f"{root}/input.parquet")).to_parquet(
    f"{root}/out_arrow_table.parquet")
print(json.dumps(model.metadata.get_input_schema().to_dict()))
"""


def test_the_registered_model_grades_what_analysts_pass_in_a_fresh_process(registered):
    root, uri, bundle = registered
    frame = _inputs(root)
    assert isinstance(frame["enterprise_type"].dtype, pd.CategoricalDtype)
    assert type(frame["as_of"].iloc[0]).__name__ == "date"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = uri
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(root)], cwd=root, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]

    grader = BundleGrader(bundle)
    local = {
        "read_parquet": pd.read_parquet(root / "input.parquet"),
        "read_parquet_nullable": frame,
        "read_parquet_arrow": pd.read_parquet(root / "input.parquet", dtype_backend="pyarrow"),
        "read_csv": pd.read_csv(root / "input.csv"),
        "arrow_to_pandas": pq.read_table(root / "input.parquet").to_pandas(),
        "arrow_table": pq.read_table(root / "input.parquet"),
    }
    for kind in KINDS:
        got = pd.read_parquet(root / f"out_{kind}.parquet")
        want = grader.predict(local[kind])
        assert len(got) == 100, kind
        for col in ("grade", "tier", "status", "reason_1", "reject_reasons", "uscc"):
            assert (
                got[col].astype(object).where(got[col].notna(), None).tolist()
                == want[col].astype(object).where(want[col].notna(), None).tolist()
            ), (kind, col)
        np.testing.assert_array_equal(got["pd"].to_numpy(dtype=float), want["pd"].to_numpy(dtype=float), err_msg=kind)
        np.testing.assert_array_equal(got["score"].to_numpy(dtype=float), want["score"].to_numpy(dtype=float))
    # the clean inputs grade every row; the edited one rejects exactly the two broken rows (a missing capital is allowed)
    assert (pd.read_parquet(root / "out_read_parquet.parquet")["status"] == "graded").all()
    for kind in ("read_parquet_nullable", "read_csv"):
        got = pd.read_parquet(root / f"out_{kind}.parquet")
        assert got.index[got["status"] == "rejected"].tolist() == [7, 11], kind
        assert got.loc[11, "reject_reasons"].startswith("uscc_") and got.loc[7, "reject_reasons"]

    cols = {c["name"]: c for c in json.loads(res.stdout.strip().splitlines()[-1])}
    assert cols["uscc"]["required"] and cols["admin_penalties_24m"]["required"]
    assert not cols["bad_12m"]["required"]


def test_the_signature_names_required_and_optional_columns(registered):
    from credit_grading.registry.schema import RegistrySchema
    from credit_grading.service import bundle_schema
    from credit_grading.tracking import input_columns, input_schema

    _root, _uri, bundle = registered
    schema: RegistrySchema = bundle_schema(bundle)
    sig = input_schema(schema)
    assert set(sig.required_input_names()) == set(schema.required_columns)
    assert "bad_12m" in sig.optional_input_names()
    described = {c["column"]: c for c in input_columns(schema)}
    assert described["as_of"]["kind"] == "date" and described["registered_capital"]["kind"] == "number"
    assert [c["column"] for c in input_columns(schema)] == sig.input_names()


def test_a_csv_typed_frame_is_graded_like_the_parquet_one(registered):
    root, _uri, bundle = registered
    grader = BundleGrader(bundle)
    table = pq.read_table(root / "registry.parquet").slice(0, 60)
    a = grader.predict(table.to_pandas())
    b = grader.predict(pd.read_csv(io.StringIO(table.to_pandas().to_csv(index=False))))
    assert a["grade"].tolist() == b["grade"].tolist()
    np.testing.assert_allclose(a["pd"].to_numpy(dtype=float), b["pd"].to_numpy(dtype=float), rtol=0, atol=0)
