"""MLflow tracking and the model registry, embedded by default.

Runs go to ``MLFLOW_TRACKING_URI`` when it is set, else to an SQLite store ``mlflow.db`` in the
working directory with artefacts beside it (``mlruns/``): no server needed. Output stays
clean — MLflow's INFO lines and library warnings are silenced unless ``verbose``.

A training run is opened (:func:`begin_run`) before the first step and closed when the model is
registered, so its duration is the training's; a failed training leaves a ``FAILED`` run. What it
holds (:func:`track_training`):

- params: the config sections that apply (``synth.*`` only for synthetic data; the override
  rules and other long values in ``config.json`` instead of cut-off params), the chosen
  champion, the fitted grade cut-offs (``grades.cutoff.AAA`` …) and the selected features;
- metrics, named so the key ones lead: ``oot.champion.auc``, ``oot.gbm.auc`` … (out-of-time test
  rows), then ``scale.*`` (grade tables), ``selection.iv.*``, ``train.*`` and ``valid.*``;
- artefacts: the bundle, ``config.json``, ``overrides.json``, ``selection.csv`` (every binned
  feature with its IV, kept or dropped and why), ``input_columns.json``, and figures logged with
  ``mlflow.log_figure`` (ROC, calibration, grade distribution, IV) when matplotlib is installed;
- the training data as a dataset input with its digest; package version and git commit as tags;
- the model as a pyfunc logged from code, registered under the model's name with a description
  (data, period, metrics) and tags on the model and the version.

The experiment is tagged ``mlflow.experimentKind = custom_model_development``, the value
MLflow 3's UI reads to open an experiment on its runs rather than on GenAI traces. MLflow 3.17's
UI lets its own GenAI / Model training switch (default GenAI, kept in the browser) override the
tag; ``?workflowType=machine_learning`` in the address sets the switch, as :func:`run_url` does.
"""

from credit_grading.tracking.model_registry import (
    ALIASES,
    MODEL_PREFIX,
    PROMOTION_METRIC,
    Promotion,
    list_models,
    promote,
    promote_if_better,
    resolve_model,
)
from credit_grading.tracking.params import flatten_params, run_params, selection_table, training_metrics
from credit_grading.tracking.pyfunc import input_columns, input_schema, log_model
from credit_grading.tracking.runs import (
    EXPERIMENT_KIND,
    RunHandle,
    TrackedRun,
    begin_run,
    fail_run,
    git_commit,
    track_training,
)
from credit_grading.tracking.session import mlflow_session, run_url, tracking_uri

__all__ = ["ALIASES", "EXPERIMENT_KIND", "MODEL_PREFIX", "PROMOTION_METRIC", "Promotion", "RunHandle", "TrackedRun",
           "begin_run", "fail_run", "flatten_params", "git_commit", "input_columns", "input_schema", "list_models",
           "log_model", "mlflow_session", "promote", "promote_if_better", "resolve_model", "run_params", "run_url",
           "selection_table", "track_training", "tracking_uri", "training_metrics"]  # fmt: skip
