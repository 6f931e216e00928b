"""A training run: opened before the first step, failed or filled (params, metrics, artefacts, figures,
dataset, model) and described with its registered version."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from credit_grading import __version__
from credit_grading.bundle import Bundle
from credit_grading.csvsafe import to_csv_text
from credit_grading.tracking.figures import _log_figures
from credit_grading.tracking.model_registry import PROMOTION_METRIC
from credit_grading.tracking.params import run_params, selection_table, training_metrics
from credit_grading.tracking.pyfunc import input_columns, log_model
from credit_grading.tracking.session import mlflow_session, tracking_uri


def git_commit() -> str:
    """The commit of the source tree this package runs from, or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return res.stdout.strip() if res.returncode == 0 else "unknown"


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    experiment_id: str
    model_uri: str | None
    registered_version: str | None


EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


@dataclass(frozen=True)
class RunHandle:
    """A training run opened before the first step (see :func:`begin_run`)."""

    run_id: str
    experiment_id: str


def _experiment(mlflow, name: str) -> str:
    """The experiment's id, created beside the embedded store if new, marked as model training."""
    uri = tracking_uri()
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        location = None
        if uri.startswith("sqlite:///"):  # keep the artefacts beside the embedded store, wherever the process runs
            location = (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()
        exp_id = mlflow.create_experiment(name, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    if exp is None or exp.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        mlflow.MlflowClient().set_experiment_tag(exp_id, *EXPERIMENT_KIND)
    return exp_id


def begin_run(experiment: str, run_name: str, *, verbose: bool = False) -> RunHandle:
    """Open a training run now (status RUNNING), so that its duration covers the whole training."""
    with mlflow_session(verbose) as mlflow:
        exp_id = _experiment(mlflow, experiment)
        run = mlflow.MlflowClient().create_run(exp_id, run_name=run_name, tags={"credit_grading.version": __version__})
        return RunHandle(run.info.run_id, exp_id)


def fail_run(run: RunHandle, error: BaseException, *, verbose: bool = False) -> None:
    """Close a run whose training failed: status FAILED (KILLED when interrupted), the error as a tag."""
    status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
    with mlflow_session(verbose) as mlflow:
        client = mlflow.MlflowClient()
        client.set_tag(run.run_id, "error", f"{type(error).__name__}: {error}"[:5000])
        client.set_terminated(run.run_id, status=status)


def track_training(
    bundle: Bundle,
    *,
    evaluation: dict,
    iv: dict[str, float],
    data: pd.DataFrame,
    data_source: str,
    target: str | None,
    sample_input: pd.DataFrame,
    experiment: str | None = None,
    register: bool = True,
    verbose: bool = False,
    run: RunHandle | None = None,
    selection=None,
) -> TrackedRun:
    """Record a training run, its bundle and its model in MLflow (into ``run`` when given)."""
    if run is None:
        run = begin_run(experiment or bundle.name, f"{bundle.name}-{bundle.version}", verbose=verbose)
    with mlflow_session(verbose) as mlflow:
        selected = list(selection.selected) if selection is not None else None
        with mlflow.start_run(run_id=run.run_id) as active:
            mlflow.set_tags({"mlflow.runName": f"{bundle.name}-{bundle.version}", "git_commit": git_commit(),
                             "model_name": bundle.name, "model_version": bundle.version,
                             "bundle_sha256": bundle.sha256, "champion": str(evaluation.get("champion"))})  # fmt: skip
            items = list(run_params(bundle, evaluation, selected).items())
            for i in range(0, len(items), 100):
                mlflow.log_params(dict(items[i : i + 100]))
            metrics = training_metrics(evaluation, iv, selected)
            mlflow.log_metrics(metrics)
            mlflow.log_input(_dataset(mlflow, data, data_source, target, bundle), context="training")
            mlflow.log_dict(bundle.config, "config.json")
            mlflow.log_dict({"overrides": bundle.config.get("grading", {}).get("overrides", [])}, "overrides.json")
            mlflow.log_text(to_csv_text(selection_table(iv, selection)), "selection.csv")
            from credit_grading.service import bundle_schema

            mlflow.log_dict(input_columns(bundle_schema(bundle)), "input_columns.json")
            _log_figures(mlflow, bundle, evaluation, iv, selected)
            mlflow.log_artifacts(str(bundle.path), artifact_path="bundle")
            model_uri, version = log_model(mlflow, bundle, sample_input, register=register)
            if version is not None:
                text = _describe(mlflow, bundle, version, evaluation, metrics, active.info.run_id)
                mlflow.set_tag("mlflow.note.content", text)  # the run page's description
            return TrackedRun(active.info.run_id, active.info.experiment_id, model_uri, version)


def _describe(mlflow, bundle: Bundle, version: str, evaluation: dict, metrics: dict, run_id: str) -> str:
    """Description and tags of the registered model and of the new version; returns the version's description."""
    client = mlflow.MlflowClient()
    td = bundle.manifest.get("training_data", {})
    champion = str(evaluation.get("champion"))
    period = f"{td.get('as_of_min')} to {td.get('as_of_max')}" if td.get("as_of_min") else "no as-of dates"
    figures = ", ".join(
        f"{m} AUC {metrics[f'oot.{m}.auc']:.4f}" for m in ("scorecard", "gbm") if f"oot.{m}.auc" in metrics
    )
    client.update_registered_model(
        bundle.name,
        description=(f"credit_grading model {bundle.name}: grades registry rows (scorecard and monotone LightGBM, "
                     "calibrated to a 12-month PD, master scale and supervision tiers A–D, override rules). "
                     "Input: raw registry rows (see the version's signature); output: one row per input row with "
                     "score, pd, grade, tier, reasons, or status 'rejected' with its reasons."),
    )  # fmt: skip
    client.set_registered_model_tag(bundle.name, "task", "credit risk grading")
    client.set_registered_model_tag(bundle.name, "framework", f"credit_grading {__version__}")
    text = (f"Trained on {td.get('source', '?')} ({td.get('rows', '?'):,} rows, bad rate "
            f"{td.get('bad_rate', float('nan')):.2%}, as of {period}). Champion: {champion}. Out-of-time test: "
            f"{figures}. Bundle version {bundle.version}, sha256 {bundle.sha256[:12]}; run {run_id}.")  # fmt: skip
    client.update_model_version(bundle.name, version, description=text)
    tags = {"bundle_version": bundle.version, "bundle_sha256": bundle.sha256, "champion": champion,
            "training_rows": str(td.get("rows", "")), "training_period": period,
            "data_sha256": str(td.get("sha256", ""))[:16], "validation_metric": PROMOTION_METRIC}  # fmt: skip
    if PROMOTION_METRIC in metrics:
        tags[PROMOTION_METRIC] = f"{metrics[PROMOTION_METRIC]:.6f}"
    for k, v in tags.items():
        client.set_model_version_tag(bundle.name, version, k, v)
    return text


def _dataset(mlflow, data: pd.DataFrame, source: str, target: str | None, bundle: Bundle):
    """The training table as an MLflow dataset: our digest (sha256 of the content), the full
    profile, and a schema inferred from the first rows (MLflow's own inference walks every
    value of every text column in Python, seconds per 100k rows)."""
    from functools import cached_property

    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.models import infer_signature

    class RegistryDataset(PandasDataset):
        @cached_property
        def schema(self):
            head = self.df.head(2000)
            text = {c: "string" for c in head.columns if not pd.api.types.is_numeric_dtype(head[c].dtype)
                    and not pd.api.types.is_datetime64_any_dtype(head[c].dtype)}  # fmt: skip
            return infer_signature(head.astype(text)).inputs

    resolved = mlflow.data.from_pandas(data.head(1), source=source).source
    digest = bundle.manifest["training_data"]["sha256"][:16]
    return RegistryDataset(df=data, source=resolved, targets=target, name=Path(source).name, digest=digest)
