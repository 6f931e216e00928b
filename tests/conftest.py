"""Shared fixtures. Everything random is seeded.

Every test writes inside a temporary directory: the session runs in a temporary working
directory with its own audit database and MLflow store (a test that needs a store of its own sets
``MLFLOW_TRACKING_URI`` itself), and the session fails if the repository tree gains a file —
untracked or ignored, outside ``.venv`` and the caches (see ``tests/test_tree_clean.py``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

from credit_grading.config import load_config
from credit_grading.registry.schema import RegistrySchema
from credit_grading.synth import generate_registry

# Property tests draw the same examples on every run.
settings.register_profile("seeded", derandomize=True, deadline=None)
settings.load_profile("seeded")

ROOT = Path(__file__).resolve().parents[1]
# Paths a test run may leave in the tree: the environment, caches and build metadata.
TREE_ALLOWED = (".venv/", "__pycache__/", ".pytest_cache/", ".ruff_cache/", ".hypothesis/", ".ipynb_checkpoints/",
                "src/credit_grading.egg-info/", "build/", "dist/")  # fmt: skip


def tree_files(root: Path = ROOT) -> set[str] | None:
    """Untracked and ignored files of the git work tree at ``root`` (None outside a git checkout)."""
    try:
        res = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--ignored", "-z"], cwd=root,
                             capture_output=True, timeout=60)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    out = set()
    for entry in res.stdout.decode("utf-8", "replace").split("\0"):
        if entry[:2] in ("??", "!!"):
            path = entry[3:]
            if not any(path.startswith(a) or f"/{a}" in f"/{path}" for a in TREE_ALLOWED):
                out.add(path)
    return out


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller (or the only process) takes the snapshot
        session.config._tree_before = tree_files()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_tree_before", None)
    if before is None:
        return
    added = sorted((tree_files() or set()) - before)
    if added:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        text = "the test suite wrote into the repository tree: " + ", ".join(added[:20])
        if reporter is not None:
            reporter.write_line(f"FAILED (tree not clean) {text}", red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def _writes_stay_in_a_temporary_directory(tmp_path_factory):
    """The session's working directory, audit database and MLflow store are temporary."""
    work = tmp_path_factory.mktemp("cwd")
    mp = pytest.MonkeyPatch()
    mp.chdir(work)
    mp.setenv("CREDIT_GRADING_AUDIT_DB", str(work / "credit_grading_audit.db"))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    yield work
    mp.undo()


@pytest.fixture(scope="session")
def config():
    return load_config()


@pytest.fixture(scope="session")
def catalogue(config):
    return config.load_catalogue()


@pytest.fixture(scope="session")
def schema(config):
    return RegistrySchema.from_config(config)


@pytest.fixture(scope="session")
def registry():
    """A clean synthetic snapshot of 20,000 entities (seed 7)."""
    return generate_registry(20_000, seed=7, as_of="2025-12-31")


@pytest.fixture(scope="session")
def big_registry():
    """A larger clean snapshot for statistical checks (seed 11)."""
    return generate_registry(200_000, seed=11, as_of="2025-12-31")


@pytest.fixture()
def frame(registry):
    """A fresh pandas copy of the first 200 rows of the clean registry."""
    return registry.table.slice(0, 200).to_pandas()


@pytest.fixture(scope="session")
def train_frame(schema):
    """Validated training rows (30,000, seed 21)."""
    from credit_grading.registry import validate_table

    return validate_table(generate_registry(30_000, seed=21).table, schema).data


@pytest.fixture(scope="session")
def fitted_scorecard(config, train_frame):
    from credit_grading.scorecard import Scorecard

    return Scorecard(config).fit(train_frame)


@pytest.fixture(scope="session")
def oot_data(schema):
    """Two snapshots of the same 16,000 entities a year apart, with the true PD carried."""
    import pandas as pd

    from credit_grading.registry import validate_table

    parts = [
        validate_table(generate_registry(16_000, seed=31, as_of=d).table, schema, passthrough=["true_pd"]).data
        for d in ("2024-12-31", "2025-12-31")
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="session")
def trained(config, oot_data):
    from credit_grading.training import train_models

    return train_models(oot_data, config)


@pytest.fixture(scope="session")
def bundle():
    """The frozen version-1 bundle of ``tests/data`` (a GBM champion trained on 12k rows)."""
    from pathlib import Path

    from credit_grading.bundle import load_bundle

    return load_bundle(Path(__file__).parent / "data" / "bundle_v1")


@pytest.fixture(scope="session")
def card_bundle(bundle, tmp_path_factory):
    """The same model with the scorecard deciding."""
    from dataclasses import replace

    from credit_grading.bundle import write_bundle

    b = bundle
    return write_bundle(tmp_path_factory.mktemp("card") / "b", replace(b.model, champion="scorecard"), policy=b.policy,
                        catalogue=b.catalogue, config=b.config, training_data={})  # fmt: skip


@pytest.fixture(scope="session")
def registered_model(tmp_path_factory):
    """A model trained on two 5,000-row snapshots, tracked, registered (version 1) and promoted to
    ``champion`` in an MLflow store of its own: ``(root, tracking uri, pipeline result)``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from credit_grading.pipeline import train_pipeline
    from credit_grading.tracking import promote

    root = tmp_path_factory.mktemp("registered")
    snaps = [generate_registry(5000, seed=61, as_of=d, drift=x) for d, x in (("2024-12-31", 0.0), ("2025-12-31", 0.3))]
    pq.write_table(pa.concat_tables([s.table for s in snaps]), root / "registry.parquet")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        res = train_pipeline(load_config(), root / "registry.parquet", root / "bundle", validation_bootstrap=5)
        promote("credit_grading", res.tracked.registered_version, "champion")
    return root, uri, res
