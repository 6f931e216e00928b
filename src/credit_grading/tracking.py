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

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from credit_grading import __version__
from credit_grading.bundle import Bundle, load_bundle
from credit_grading.catalogue import ItemType
from credit_grading.csvsafe import to_csv_text
from credit_grading.exceptions import BundleError, CreditGradingError
from credit_grading.registry.schema import RegistrySchema

MODEL_PREFIX = "models:/"
ALIASES = ("champion", "challenger")
_QUIET = ("mlflow", "alembic", "urllib3", "git", "py4j", "sqlalchemy")


def run_url(run_id: str, experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The address of a run's page in the MLflow UI, opened in its model-training view."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` or the embedded SQLite store in the working directory."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


@contextlib.contextmanager
def mlflow_session(verbose: bool = False) -> Iterator[object]:
    """``mlflow`` pointed at :func:`tracking_uri`, quiet unless ``verbose``."""
    levels = {name: logging.getLogger(name).level for name in _QUIET}
    # MLflow exports the active store and experiment through environment variables; put them
    # back afterwards so that nothing leaks into later work or child processes.
    saved_env = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    if not verbose:
        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
        for name in _QUIET:
            logging.getLogger(name).setLevel(logging.ERROR)
    # MLflow also prints some notices straight to stderr/stdout ("Successfully registered ...").
    sink = io.StringIO()
    quiet = contextlib.ExitStack()
    if not verbose:
        quiet.enter_context(contextlib.redirect_stderr(sink))
        quiet.enter_context(contextlib.redirect_stdout(sink))
    with quiet, warnings.catch_warnings():
        if not verbose:
            warnings.simplefilter("ignore")
        import mlflow

        if not verbose:
            for name in _QUIET:  # importing mlflow may have reset its loggers
                logging.getLogger(name).setLevel(logging.ERROR)
        mlflow.set_tracking_uri(tracking_uri())
        try:
            yield mlflow
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
            for k in [k for k in os.environ if k.startswith("MLFLOW_") and k not in saved_env]:
                del os.environ[k]
            os.environ.update(saved_env)


def flatten_params(d: dict, prefix: str = "") -> dict[str, str]:
    """A nested config as ``a.b.c → value`` strings (lists as JSON, at most 500 characters)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten_params(v, f"{key}."))
        else:
            text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
            out[key] = text if len(text) <= 500 else text[:497] + "..."
    return out


def training_metrics(evaluation: dict, iv: dict[str, float], selected: list[str] | None = None) -> dict[str, float]:
    """Metrics of a training run, the key ones first in name order: ``oot.*`` (the out-of-time
    test rows: champion, each model, the oracle on synthetic data), ``scale.*`` (grade tables),
    ``selection.*`` (IV per feature), then ``train.*`` and ``valid.*``."""
    out: dict[str, float] = {}
    keys = ("auc", "gini", "ks", "brier", "log_loss", "gini_vs_oracle")
    for split, prefix in (("test", "oot"), ("train", "train"), ("valid", "valid")):
        for model, m in evaluation.get(split, {}).items():
            for k in keys:
                if isinstance(m.get(k), int | float) and m[k] == m[k]:
                    out[f"{prefix}.{model}.{k}"] = float(m[k])
    champion = evaluation.get("champion")
    lead = {f"oot.champion.{k}": out[f"oot.{champion}.{k}"] for k in keys if f"oot.{champion}.{k}" in out}
    out = lead | out  # logged first too: the run page lists metrics in logging order
    for name, value in iv.items():
        out[f"selection.iv.{name}"] = float(value)
    if selected is not None:
        out["selection.n_selected"] = float(len(selected))
    grades = evaluation.get("grades", {})
    for part, label in (("development", "development"), ("test", "oot")):
        for row in grades.get(part, []):
            for k in ("count", "share", "bad_rate", "mean_pd", "jeffreys_p"):
                v = row.get(k)
                if isinstance(v, int | float) and v == v:
                    out[f"scale.{label}.{row['grade']}.{k}"] = float(v)
        hhi = grades.get(f"{part}_hhi")
        if isinstance(hhi, int | float):
            out[f"scale.{label}.hhi"] = float(hhi)
    return out


def run_params(bundle: Bundle, evaluation: dict, selected: list[str] | None = None) -> dict[str, str]:
    """Params of a training run: the config sections that apply and what training chose."""
    config = json.loads(json.dumps(bundle.config, default=str))
    synthetic = "oracle" in evaluation.get("test", {})
    if not synthetic:
        config.pop("synth", None)  # the generator's settings say nothing about real data
    grading = config.get("grading", {})
    grading.pop("overrides", None)  # in overrides.json
    scale = bundle.model.scale
    if scale is not None and scale.method != "fixed":
        grading.pop("grades", None)  # the configured starting points, not the cut-offs the model uses
    params = {k: v for k, v in flatten_params(config).items() if len(v) <= 500}
    params["champion"] = str(evaluation.get("champion"))
    params["data.synthetic"] = str(synthetic).lower()
    if scale is not None:
        params["grades.method"] = scale.method
        params["grades.names"] = ",".join(scale.grades)
        for name, tier, cut in zip(scale.grades, scale.tiers, (*scale.cutoffs, None), strict=True):
            params[f"grades.cutoff.{name}"] = "none (last grade)" if cut is None else repr(float(cut))
            params[f"grades.tier.{name}"] = tier
    if selected is not None:
        text = ",".join(selected)
        params["selection.selected"] = text if len(text) <= 500 else f"{len(selected)} features: see selection.csv"
    return params


def selection_table(iv: dict[str, float], selection) -> pd.DataFrame:
    """Every binned feature: IV, whether the scorecard kept it, and why not."""
    dropped = {d.feature: d for d in getattr(selection, "dropped", [])}
    kept = set(getattr(selection, "selected", []))
    rows = [{"feature": f, "iv": float(v), "selected": f in kept,
             "reason": dropped[f].reason if f in dropped else "", "detail": dropped[f].detail if f in dropped else ""}
            for f, v in iv.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=["feature", "iv", "selected", "reason", "detail"]).sort_values(
        "iv", ascending=False, kind="mergesort"
    )


def git_commit() -> str:
    """The commit of the source tree this package runs from, or ``unknown``."""
    here = Path(__file__).resolve().parent
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return res.stdout.strip() if res.returncode == 0 else "unknown"


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


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    experiment_id: str
    model_uri: str | None
    registered_version: str | None


def log_model(mlflow, bundle: Bundle, sample_input: pd.DataFrame, *, register: bool) -> tuple[str, str | None]:
    """Log the bundle as a pyfunc from code (with signature and pip requirements); register it."""
    from mlflow.models import ModelSignature, infer_signature

    from credit_grading.service import BundleGrader, bundle_schema

    sample_out = BundleGrader(bundle).predict(sample_input)
    sig = ModelSignature(inputs=input_schema(bundle_schema(bundle)),
                         outputs=infer_signature(None, sample_out).outputs)  # fmt: skip
    code = Path(__file__).with_name("mlflow_model.py")
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


def _log_figures(mlflow, bundle: Bundle, evaluation: dict, iv: dict[str, float], selected) -> None:
    """ROC, calibration, grade distribution and IV charts (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        mlflow.set_tag("figures", "not drawn: matplotlib is not installed")
        return
    report_path = bundle.path / "validation_report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    champion = str(evaluation.get("champion"))

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for model, d in report.get("discrimination", {}).items():
        roc = d.get("roc") or {}
        if roc.get("fpr"):
            ax.plot(roc["fpr"], roc["tpr"], label=f"{model} (AUC {d['auc']:.3f})")
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="chance")
    ax.set(xlabel="false positive rate (goods flagged)", ylabel="true positive rate (bads caught)",
           title="ROC, out-of-time test rows")  # fmt: skip
    ax.legend(loc="lower right")
    mlflow.log_figure(fig, "figures/roc.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for model, m in evaluation.get("test", {}).items():
        dec = m.get("deciles") or []
        if dec:
            ax.plot([r["mean_pd"] for r in dec], [r["observed_rate"] for r in dec], "o-", label=f"{model} (deciles)")
    top = max(
        [0.01, *(r["observed_rate"] for m in evaluation.get("test", {}).values() for r in m.get("deciles") or [])]
    )
    ax.plot([0, top], [0, top], ls=":", color="grey", label="perfect calibration")
    ax.set(xlabel="mean predicted 12-month PD", ylabel="observed bad rate", title="Calibration, out-of-time test rows")
    ax.legend(loc="upper left")
    mlflow.log_figure(fig, "figures/calibration.png")
    plt.close(fig)

    grades = evaluation.get("grades", {})
    dev, oot = grades.get("development", []), grades.get("test", [])
    if dev:
        import numpy as np

        names = [r["grade"] for r in dev]
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.bar(x - 0.2, [100 * r["share"] for r in dev], 0.4, label="development")
        ax.bar(x + 0.2, [100 * r.get("share", 0) for r in oot] if len(oot) == len(dev) else 0, 0.4, label="out-of-time")
        ax.set_xticks(x, names)
        ax.set(xlabel="grade", ylabel="share of entities (%)", title=f"Grade distribution ({champion} champion)")
        ax.legend()
        mlflow.log_figure(fig, "figures/grade_distribution.png")
        plt.close(fig)

    if iv:
        order = sorted(iv, key=lambda f: iv[f])
        kept = set(selected or [])
        fig, ax = plt.subplots(figsize=(7, max(3.0, 0.25 * len(order) + 1)))
        ax.barh(order, [iv[f] for f in order], color=["tab:blue" if f in kept else "tab:grey" for f in order])
        ax.set(xlabel="information value (IV)", title="IV per feature (blue: in the scorecard, grey: dropped)")
        mlflow.log_figure(fig, "figures/iv.png")
        plt.close(fig)


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


def resolve_model(
    ref: str | Path, *, verbose: bool = False, trusted_keys: Iterable[str | Path] | None = None
) -> Bundle:
    """A bundle from a directory, ``models:/NAME/VERSION`` or ``models:/NAME@alias`` (hash-checked).

    ``trusted_keys`` (with ``$CREDIT_GRADING_TRUSTED_KEYS``) are the keys the bundle must be signed
    by, as in :func:`credit_grading.bundle.load_bundle`; a registered model keeps the
    ``signature.json`` of the bundle it was logged from.
    """
    text = str(ref)
    if not text.startswith(MODEL_PREFIX):
        return load_bundle(Path(text), trusted_keys=trusted_keys)
    from credit_grading.exceptions import DataError

    with mlflow_session(verbose) as mlflow:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=text))
        except Exception as exc:  # MLflow raises its own types for unknown names or versions
            raise DataError(
                f"cannot fetch {text} from the model registry at {tracking_uri()}: {_first_line(exc)}"
            ) from None
        try:
            flavor = mlflow.models.Model.load(str(local / "MLmodel")).flavors.get("python_function", {})
            rel = flavor["artifacts"]["bundle"]["path"]
        except (KeyError, TypeError, OSError) as exc:
            raise BundleError(f"{text} is not a credit_grading model: it names no bundle ({exc})") from None
    bundle_dir = (local / rel).resolve()
    if not bundle_dir.is_relative_to(local.resolve()) or not bundle_dir.is_dir():
        raise BundleError(f"{text} is not a credit_grading model: its bundle path {rel!r} is not inside the model")
    return load_bundle(bundle_dir, trusted_keys=trusted_keys)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def list_models(verbose: bool = False) -> pd.DataFrame:
    """Every registered model version with its aliases, run and bundle version."""
    with mlflow_session(verbose) as mlflow:
        client = mlflow.MlflowClient()
        rows = []
        for rm in client.search_registered_models():
            aliases: dict[str, list[str]] = {}
            for alias, v in (rm.aliases or {}).items():
                aliases.setdefault(str(v), []).append(alias)
            for mv in client.search_model_versions(f"name='{rm.name}'"):
                rows.append({"name": rm.name, "version": int(mv.version),
                             "aliases": ",".join(sorted(aliases.get(str(mv.version), []))),
                             "run_id": mv.run_id, "created": pd.Timestamp(mv.creation_timestamp, unit="ms")})  # fmt: skip
    cols = ["name", "version", "aliases", "run_id", "created"]
    return pd.DataFrame(rows, columns=cols).sort_values(["name", "version"]).reset_index(drop=True)


def promote(name: str, version: str | int, alias: str, verbose: bool = False) -> None:
    """Point ``alias`` (champion or challenger) of model ``name`` at ``version``."""
    if alias not in ALIASES:
        raise CreditGradingError(f"alias must be one of {ALIASES}, got {alias!r}")
    with mlflow_session(verbose) as mlflow:
        client = mlflow.MlflowClient()
        try:
            client.get_model_version(name, str(version))
        except Exception as exc:
            raise CreditGradingError(
                f"no version {version} of model {name!r} at {tracking_uri()}: {_first_line(exc)}"
            ) from None
        client.set_registered_model_alias(name, alias, str(version))


PROMOTION_METRIC = "oot.champion.auc"


@dataclass(frozen=True)
class Promotion:
    promoted: bool
    message: str


def promote_if_better(name: str, version: str | int, *, metric: str = PROMOTION_METRIC,
                      verbose: bool = False) -> Promotion:  # fmt: skip
    """Point ``champion`` at ``version`` if its run's ``metric`` beats the current champion's (or
    if there is no champion yet); otherwise leave it. Says which, with both figures."""
    with mlflow_session(verbose) as mlflow:
        client = mlflow.MlflowClient()
        new = client.get_model_version(name, str(version))
        new_value = client.get_run(new.run_id).data.metrics.get(metric)
        if new_value is None:
            return Promotion(False, f"champion unchanged: version {version} has no {metric} to compare")
        try:
            current = client.get_model_version_by_alias(name, "champion")
        except Exception:
            current = None
        if current is None:
            client.set_registered_model_alias(name, "champion", str(version))
            return Promotion(True, f"models:/{name}@champion is now version {version} (there was no champion; "
                                   f"{metric} {new_value:.4f})")  # fmt: skip
        if str(current.version) == str(version):
            return Promotion(False, f"version {version} is already the champion ({metric} {new_value:.4f})")
        old_value = client.get_run(current.run_id).data.metrics.get(metric) if current.run_id else None
        if old_value is None:
            return Promotion(False, f"champion unchanged (version {current.version}): it has no {metric} to compare "
                                    f"with version {version}'s {new_value:.4f}; promote by hand if you mean it")  # fmt: skip
        if new_value > old_value:
            client.set_registered_model_alias(name, "champion", str(version))
            return Promotion(True, f"models:/{name}@champion is now version {version}: {metric} {new_value:.4f} beats "
                                   f"version {current.version}'s {old_value:.4f}")  # fmt: skip
        return Promotion(False, f"champion unchanged (version {current.version}): version {version}'s {metric} "
                                f"{new_value:.4f} does not beat its {old_value:.4f}")  # fmt: skip
