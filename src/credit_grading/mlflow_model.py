"""The MLflow model of a bundle, logged as "models from code": this file *is* the model.

MLflow stores this file beside the bundle (an artifact called ``bundle``) and runs it when the
model is loaded: the model is never pickled (no cloudpickle). ``load_context`` loads the bundle (every
hash checked) and compiles it; ``predict`` grades raw registry rows and returns one row per
input row — graded rows with their results, rejected rows with ``status = rejected`` and their
reasons.

What it takes: any pandas DataFrame an analyst has at hand — from ``pd.read_parquet``
(categoricals, ``datetime.date`` objects, nullable integers, Arrow-backed columns with
``dtype_backend="pyarrow"``), from ``pd.read_csv`` (text, floats for integers with gaps) or
built by hand. The signature names every column and says which are required; it leaves their
types to the model, whose registry validation checks each value and returns a row it cannot
grade as ``rejected`` with its reason rather than failing the whole call. MLflow's wrapper
accepts only pandas (and dict/list) input, so an Arrow table goes in as ``table.to_pandas()``
or straight to ``model.unwrap_python_model().predict(None, table)``.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class CreditGradingModel(PythonModel):
    def load_context(self, context) -> None:
        from credit_grading.bundle import load_bundle
        from credit_grading.service import BundleGrader

        self.grader = BundleGrader(load_bundle(context.artifacts["bundle"]))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Grade ``model_input`` (a pandas DataFrame, or a pyarrow Table when called unwrapped)."""
        return self.grader.predict(model_input)


mlflow.models.set_model(CreditGradingModel())
