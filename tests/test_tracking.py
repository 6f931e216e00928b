"""MLflow: a tracked training run, the pyfunc model from code, the registry and models:/ references."""

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credit_grading.bundle import load_bundle
from credit_grading.synth import generate_registry


def _cli(*args, cwd, env):
    code = "from credit_grading.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A working directory with a registry file, two tracked training runs and their bundles."""
    root = tmp_path_factory.mktemp("mlflow")
    snaps = [generate_registry(6000, seed=51, as_of=d, drift=x) for d, x in (("2024-12-31", 0.0), ("2025-12-31", 0.3))]
    pq.write_table(pa.concat_tables([s.table for s in snaps]), root / "registry.parquet")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    first = _cli("train", "--data", "registry.parquet", "--out", "bundle1", cwd=root, env=env)
    second = _cli("train", "--data", "registry.parquet", "--out", "bundle2", cwd=root, env=env)
    return root, env, first, second


@pytest.fixture()
def mlflow_at(store, monkeypatch):
    _root, env, *_ = store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    return mlflow


def test_training_reports_each_step_and_stays_quiet(store):
    root, _, first, second = store
    assert first.returncode == 0, first.stderr
    for step in ("read and validate", "binning", "selection", "scorecard", "gbm", "calibration", "grades",
                 "evaluation", "bundle", "tracking"):  # fmt: skip
        assert f"] {step}" in first.stdout
    text = first.stdout + first.stderr
    for noise in ("INFO", "WARNING", "Warning", "Traceback", "Downloading artifacts", "Successfully registered"):
        assert noise not in text, noise
    assert "registered as models:/credit_grading/1" in first.stdout.replace("\n", "")
    assert "registered as models:/credit_grading/2" in second.stdout.replace("\n", "")
    assert (root / "mlflow.db").exists()


def test_the_run_holds_params_metrics_dataset_tags_and_artifacts(store, mlflow_at):
    root = store[0]
    bundle = load_bundle(root / "bundle1")
    run = mlflow_at.search_runs(experiment_names=["credit_grading"], output_format="list", order_by=["start_time ASC"])[
        0
    ]
    p, m, t = run.data.params, run.data.metrics, run.data.tags
    assert p["gbm.learning_rate"] == "0.1" and p["grading.fit.max_share"] == "0.35" and p["dataset.id_column"] == "uscc"
    for split in ("train", "valid", "test"):
        for model in ("scorecard", "gbm"):
            for k in ("auc", "gini", "ks", "brier"):
                assert f"{split}.{model}.{k}" in m
    assert 0.6 < m["test.gbm.auc"] < 1.0 and m["test.gbm.gini"] == pytest.approx(2 * m["test.gbm.auc"] - 1)
    assert m["iv.tax_credit_rating"] > 0.1
    assert "grades.test.AAA.bad_rate" in m and "grades.development.hhi" in m
    assert (t["credit_grading.version"] and len(t["git_commit"]) in (7, 40)) or t["git_commit"] == "unknown"
    assert t["model_version"] == bundle.version and t["bundle_sha256"] == bundle.sha256
    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.digest == bundle.manifest["training_data"]["sha256"][:16]
    assert ds.dataset.name == "registry.parquet" and '"num_rows": 12000' in ds.dataset.profile
    client = mlflow_at.MlflowClient()
    names = {a.path for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert {"bundle/manifest.json", "bundle/gbm.txt", "bundle/points.csv", "bundle/binning_tables.csv"} <= names


def test_pyfunc_loads_without_pickles_and_matches_the_local_engine(store, tmp_path):
    root, env, *_ = store
    script = textwrap.dedent(
        f"""
        import os
        os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"
        import mlflow, pandas as pd
        from credit_grading.pipeline import raw_sample
        from credit_grading.registry.schema import RegistrySchema
        from credit_grading.config import load_config
        sample = raw_sample("registry.parquet", RegistrySchema.from_config(load_config()), rows=400)
        sample.loc[5, "uscc"] = "NOT-A-CODE"
        model = mlflow.pyfunc.load_model("models:/credit_grading/1")
        model.predict(sample).to_parquet(r"{tmp_path / "mlflow_out.parquet"}")
        sample.to_parquet(r"{tmp_path / "sample.parquet"}")
        """
    )
    res = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    from credit_grading.service import BundleGrader

    got = pd.read_parquet(tmp_path / "mlflow_out.parquet")
    local = BundleGrader(load_bundle(root / "bundle1")).predict(pd.read_parquet(tmp_path / "sample.parquet"))
    pd.testing.assert_frame_equal(got, local.astype(got.dtypes.to_dict()), check_exact=True)
    assert got.loc[5, "status"] == "rejected" and got.loc[5, "reject_reasons"].startswith("uscc_")
    assert (got["status"] == "graded").sum() == 399


def test_models_list_promote_and_references(store, mlflow_at):
    root, env, *_ = store
    res = _cli("models", "promote", "credit_grading", "1", "--alias", "champion", cwd=root, env=env)
    assert res.returncode == 0 and "models:/credit_grading@champion is now version 1" in res.stdout, res.stderr
    res = _cli("models", "promote", "credit_grading", "2", "--alias", "challenger", cwd=root, env=env)
    assert res.returncode == 0, res.stderr
    res = _cli("models", "list", cwd=root, env=env)
    assert res.returncode == 0, res.stderr
    lines = [
        ln for ln in res.stdout.splitlines() if "credit_grading" in ln and ("champion" in ln or "challenger" in ln)
    ]
    assert len(lines) == 2
    from credit_grading.tracking import resolve_model

    local = load_bundle(root / "bundle1")
    for ref in ("models:/credit_grading/1", "models:/credit_grading@champion", str(root / "bundle1")):
        b = resolve_model(ref)
        assert b.version == local.version and b.sha256 == local.sha256
    # Same data, config and seed: the second run registered the very same model content.
    assert resolve_model("models:/credit_grading@challenger").version == local.version
    bad = _cli("models", "promote", "credit_grading", "9", cwd=root, env=env)
    assert (
        bad.returncode == 1 and "no version 9 of model 'credit_grading'" in bad.stderr and "Traceback" not in bad.stderr
    )
    with pytest.raises(Exception, match="cannot fetch models:/nope/1"):
        resolve_model("models:/nope/1")
