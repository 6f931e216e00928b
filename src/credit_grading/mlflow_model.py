"""The MLflow model of a bundle, logged as "models from code": this file *is* the model.

MLflow stores this file beside the bundle (an artifact called ``bundle``) and runs it when the
model is loaded: no cloudpickle, no pickle anywhere. ``load_context`` loads the bundle (every
hash checked) and compiles it; ``predict`` grades raw registry rows and returns one row per
input row — graded rows with their results, rejected rows with ``status = rejected`` and their
reasons.
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
        return self.grader.predict(model_input)


mlflow.models.set_model(CreditGradingModel())
