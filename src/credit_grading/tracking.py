"""MLflow tracking and the model registry, embedded by default.

Runs go to ``MLFLOW_TRACKING_URI`` when it is set, else to an SQLite store ``mlflow.db`` in the
working directory with artefacts beside it (``mlruns/``): no server needed. Output stays
clean — MLflow's INFO lines and library warnings are silenced unless ``verbose``.

What a tracked training run holds: the flattened config as params; AUC, Gini, KS and Brier per
model and split, IV per feature and the grade-table figures as metrics; the bundle, points and
binning tables as artefacts; the training data as a dataset input with its digest; the package
version and git commit as tags; and the model itself as a pyfunc logged from code, registered
under the model's name.
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
from credit_grading.exceptions import BundleError, CreditGradingError
from credit_grading.registry.schema import RegistrySchema

MODEL_PREFIX = "models:/"
ALIASES = ("champion", "challenger")
_QUIET = ("mlflow", "alembic", "urllib3", "git", "py4j", "sqlalchemy")


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


def training_metrics(evaluation: dict, iv: dict[str, float]) -> dict[str, float]:
    """Metrics of a training run: per split and model, IV per feature, grade-table figures."""
    out: dict[str, float] = {}
    for split in ("train", "valid", "test"):
        for model, m in evaluation.get(split, {}).items():
            for k in ("auc", "gini", "ks", "brier", "log_loss", "gini_vs_oracle"):
                if isinstance(m.get(k), int | float) and m[k] == m[k]:
                    out[f"{split}.{model}.{k}"] = float(m[k])
    for name, value in iv.items():
        out[f"iv.{name}"] = float(value)
    grades = evaluation.get("grades", {})
    for part in ("development", "test"):
        for row in grades.get(part, []):
            for k in ("count", "share", "bad_rate", "mean_pd", "jeffreys_p"):
                v = row.get(k)
                if isinstance(v, int | float) and v == v:
                    out[f"grades.{part}.{row['grade']}.{k}"] = float(v)
        hhi = grades.get(f"{part}_hhi")
        if isinstance(hhi, int | float):
            out[f"grades.{part}.hhi"] = float(hhi)
    return out


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
) -> TrackedRun:
    """Record a training run, its bundle and its model in MLflow."""
    with mlflow_session(verbose) as mlflow:
        name = experiment or bundle.name
        uri = tracking_uri()
        if uri.startswith("sqlite:///") and mlflow.get_experiment_by_name(name) is None:
            # Keep the artefacts beside the embedded store, wherever the process runs.
            store_dir = Path(uri.removeprefix("sqlite:///")).resolve().parent
            mlflow.create_experiment(name, artifact_location=(store_dir / "mlruns").as_uri())
        mlflow.set_experiment(name)
        with mlflow.start_run(run_name=f"{bundle.name}-{bundle.version}") as run:
            mlflow.set_tags({"credit_grading.version": __version__, "git_commit": git_commit(),
                             "model_name": bundle.name, "model_version": bundle.version,
                             "bundle_sha256": bundle.sha256})  # fmt: skip
            params = flatten_params(bundle.config)
            items = list(params.items())
            for i in range(0, len(items), 100):
                mlflow.log_params(dict(items[i : i + 100]))
            mlflow.log_metrics(training_metrics(evaluation, iv))
            mlflow.log_input(_dataset(mlflow, data, data_source, target, bundle), context="training")
            mlflow.log_artifacts(str(bundle.path), artifact_path="bundle")
            model_uri, version = log_model(mlflow, bundle, sample_input, register=register)
            return TrackedRun(run.info.run_id, run.info.experiment_id, model_uri, version)


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
