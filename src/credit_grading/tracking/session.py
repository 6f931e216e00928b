"""Where runs go and how MLflow is entered: the tracking store, quiet unless asked, and a run's address."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

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


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
