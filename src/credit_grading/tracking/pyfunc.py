"""The model as MLflow logs it: a pyfunc from code, its input schema, input columns and pinned requirements."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from credit_grading import __version__
from credit_grading.bundle import Bundle
from credit_grading.catalogue import ItemType
from credit_grading.registry.schema import RegistrySchema


def input_schema(schema: RegistrySchema):
    """The MLflow input schema of raw registry rows: every column by name, required or optional.

    Column types are ``Any``: the model's own registry validation checks each value and returns
    a row it cannot grade as ``rejected`` with its reason. MLflow's type enforcement would refuse
    the whole call for what analysts pass every day (categoricals and ``datetime.date`` objects
    from ``read_parquet``, floats for integers with gaps from ``read_csv``). The expected type of
    each column is in the registered model's description and in ``input_columns.json``.
    """
    from mlflow.types.schema import AnyType, ColSpec, Schema

    required = set(schema.required_columns)
    cols = [ColSpec(AnyType(), schema.id_column)]
    if schema.as_of_column:
        cols.append(ColSpec(AnyType(), schema.as_of_column))
    for item in schema.input_items:
        cols.append(ColSpec(AnyType(), item.id, required=item.id in required))
    if schema.target_column:  # accepted (and ignored) so that labelled rows can be graded too
        cols.append(ColSpec(AnyType(), schema.target_column, required=False))
    return Schema(cols)


def input_columns(schema: RegistrySchema) -> list[dict]:
    """Each input column with its expected kind and whether it is required (logged beside the model)."""
    kinds = {ItemType.NUMERIC: "number", ItemType.FLAG: "0/1 flag", ItemType.CATEGORICAL: "text (a catalogue level)",
             ItemType.DATE: "date", ItemType.TEXT: "text"}  # fmt: skip
    required = set(schema.required_columns)
    features = {f.id for f in schema.catalogue.features}
    rows = [{"column": schema.id_column, "kind": f"text ({schema.id_format})", "required": True, "role": "id"}]
    if schema.as_of_column:
        rows.append({"column": schema.as_of_column, "kind": "date", "required": True, "role": "as of"})
    for item in schema.input_items:
        rows.append({"column": item.id, "kind": kinds[item.type], "required": item.id in required,
                     "role": "feature" if item.id in features else "input"})  # fmt: skip
    if schema.target_column:
        rows.append({"column": schema.target_column, "kind": "0/1", "required": False, "role": "target (ignored)"})
    return rows


def log_model(mlflow, bundle: Bundle, sample_input: pd.DataFrame, *, register: bool) -> tuple[str, str | None]:
    """Log the bundle as a pyfunc from code (with signature and pip requirements); register it."""
    from mlflow.models import ModelSignature, infer_signature

    from credit_grading.service import BundleGrader, bundle_schema

    sample_out = BundleGrader(bundle).predict(sample_input)
    sig = ModelSignature(inputs=input_schema(bundle_schema(bundle)),
                         outputs=infer_signature(None, sample_out).outputs)  # fmt: skip
    code = Path(__file__).parent.with_name("mlflow_model.py")  # credit_grading/mlflow_model.py
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(code),
        artifacts={"bundle": str(bundle.path)},
        signature=sig,
        pip_requirements=_requirements(),
        registered_model_name=bundle.name if register else None,
        await_registration_for=0,
    )
    version = getattr(info, "registered_model_version", None)
    return info.model_uri, None if version is None else str(version)


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = [f"credit_grading=={__version__}"]
    for pkg in ("mlflow", "numpy", "pandas", "pyarrow", "pydantic", "scikit-learn", "scipy", "numba", "lightgbm",
                "optbinning", "pyyaml"):  # fmt: skip
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            continue
    return out
