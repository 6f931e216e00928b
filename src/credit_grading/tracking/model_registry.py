"""The model registry: a model from a directory or ``models:/`` reference, its versions and aliases, and
promotion of a better version to champion."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from credit_grading.bundle import Bundle, load_bundle
from credit_grading.exceptions import BundleError, CreditGradingError
from credit_grading.tracking.session import _first_line, mlflow_session, tracking_uri

MODEL_PREFIX = "models:/"
ALIASES = ("champion", "challenger")


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
