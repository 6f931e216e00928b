"""MLflow: a tracked training run, the pyfunc model from code, the registry and models:/ references."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credit_grading.bundle import load_bundle
from credit_grading.pipeline import PIPELINE_STEPS
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
    table = pa.concat_tables([s.table for s in snaps])
    pq.write_table(table.drop_columns(["true_pd"]), root / "registry.parquet")  # as real data: no oracle
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    first = _cli("train", "--data", "registry.parquet", "--out", "bundle1", "--promote-if-better", cwd=root, env=env)
    second = _cli("train", "--data", "registry.parquet", "--out", "bundle2", "--quiet", "--promote-if-better",
                  cwd=root, env=env)  # fmt: skip
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
    # Off a terminal: one line per step and no bars; --quiet: no step lines at all.
    lines = [ln for ln in first.stdout.splitlines() if ln.startswith("[")]
    names = [ln.split("] ")[1].split(" (+")[0].removesuffix(" — skipped") for ln in lines]
    assert len(lines) == 13 and names == list(PIPELINE_STEPS)
    assert "[ 8/13] cross-validation — skipped" in first.stdout  # enough rows: no cross-validation
    steps_part = first.stdout.split("Out-of-time test")[0]
    assert steps_part.strip().splitlines() == lines  # nothing else: no bars, no extra lines
    assert "\r" not in first.stdout and "\x1b" not in first.stdout
    assert second.returncode == 0, second.stderr
    assert not any(ln.startswith("[") for ln in second.stdout.splitlines())
    assert "Out-of-time test" in second.stdout


def test_promote_if_better_moves_the_champion_only_for_a_better_version(store, mlflow_at):
    _root, _env, first, second = store
    text1, text2 = (" ".join(r.stdout.split()) for r in (first, second))
    assert "models:/credit_grading@champion is now version 1 (there was no champion; oot.champion.auc 0." in text1
    # The same data and seed give the same model: version 2 does not beat version 1, and says so.
    assert "champion unchanged (version 1): version 2's oot.champion.auc" in text2 and "does not beat its" in text2
    from credit_grading.tracking import promote_if_better

    client = mlflow_at.MlflowClient()
    assert str(client.get_model_version_by_alias("credit_grading", "champion").version) == "1"
    v2 = client.get_model_version("credit_grading", "2")
    old = client.get_run(v2.run_id).data.metrics["oot.champion.auc"]
    try:
        client.log_metric(v2.run_id, "oot.champion.auc", old + 0.01)  # as if version 2 were better
        res = promote_if_better("credit_grading", 2)
        assert res.promoted and "now version 2" in res.message and f"{old + 0.01:.4f} beats version 1's" in res.message
        assert str(client.get_model_version_by_alias("credit_grading", "champion").version) == "2"
        res = promote_if_better("credit_grading", 1)
        assert not res.promoted and "champion unchanged (version 2)" in res.message
    finally:
        client.log_metric(v2.run_id, "oot.champion.auc", old)
        client.set_registered_model_alias("credit_grading", "champion", "1")


def test_the_run_holds_params_metrics_dataset_tags_and_artifacts(store, mlflow_at):
    root = store[0]
    bundle = load_bundle(root / "bundle1")
    run = mlflow_at.search_runs(experiment_names=["credit_grading"], output_format="list", order_by=["start_time ASC"])[
        0
    ]
    p, m, t = run.data.params, run.data.metrics, run.data.tags
    assert p["gbm.learning_rate"] == "0.1" and p["grading.fit.max_share"] == "0.35" and p["dataset.id_column"] == "uscc"
    # what training chose: the fitted cut-offs the model uses (not the configured ones), the champion, the features
    scale = bundle.model.scale
    assert scale.method == "fitted" and p["grades.method"] == "fitted"
    for name, cut in zip(scale.grades, scale.cutoffs, strict=False):
        assert float(p[f"grades.cutoff.{name}"]) == cut
    assert p["grades.cutoff.C"] == "none (last grade)" and p["grades.tier.AAA"] == "A"
    assert not any(k.startswith("grading.grades") for k in p)
    assert p["champion"] == bundle.model.champion == t["champion"]
    assert p["selection.selected"].split(",") == list(bundle.model.scorecard.feature_names)
    # only the sections that apply: no synth.* for real data, no truncated overrides
    assert p["data.synthetic"] == "false" and not any(k.startswith("synth.") for k in p)
    assert "grading.overrides" not in p and all(len(v) <= 500 and not v.endswith("...") for v in p.values())
    # key metrics lead
    assert sorted(m)[0].startswith("oot.champion.") and "oot.gbm.auc" in m and "oot.scorecard.auc" in m
    assert m["oot.champion.auc"] == m[f"oot.{bundle.model.champion}.auc"]
    for split in ("oot", "train", "valid"):
        for model in ("scorecard", "gbm"):
            for k in ("auc", "gini", "ks", "brier"):
                assert f"{split}.{model}.{k}" in m
    assert 0.6 < m["oot.gbm.auc"] < 1.0 and m["oot.gbm.gini"] == pytest.approx(2 * m["oot.gbm.auc"] - 1)
    assert m["selection.iv.tax_credit_rating"] > 0.1 and m["selection.n_selected"] == len(
        bundle.model.scorecard.features
    )
    assert "scale.oot.AAA.bad_rate" in m and "scale.development.hhi" in m
    assert (t["credit_grading.version"] and len(t["git_commit"]) in (7, 40)) or t["git_commit"] == "unknown"
    assert t["model_version"] == bundle.version and t["bundle_sha256"] == bundle.sha256
    assert t["mlflow.runName"] == f"credit_grading-{bundle.version}"
    # the run spans the whole training: at least the sum of the step timings the bundle recorded
    ev = json.loads((bundle.path / "evaluation.json").read_text())
    assert (run.info.end_time - run.info.start_time) / 1000 >= sum(ev["timings"].values())
    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.digest == bundle.manifest["training_data"]["sha256"][:16]
    assert ds.dataset.name == "registry.parquet" and '"num_rows": 12000' in ds.dataset.profile
    client = mlflow_at.MlflowClient()
    names = {a.path for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert {"bundle/manifest.json", "bundle/gbm.txt", "bundle/points.csv", "bundle/binning_tables.csv"} <= names
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "overrides.json", "selection.csv", "input_columns.json", "figures"} <= top
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert figures == {f"figures/{n}.png" for n in ("roc", "calibration", "grade_distribution", "iv")}
    local = mlflow_at.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="overrides.json")
    assert json.loads(Path(local).read_text())["overrides"] == bundle.config["grading"]["overrides"]
    sel = pd.read_csv(mlflow_at.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="selection.csv"))
    assert set(sel.loc[sel["selected"], "feature"]) == set(bundle.model.scorecard.feature_names)
    assert (sel.loc[~sel["selected"], "reason"].str.len() > 0).all()
    # the experiment opens on runs, and the registered model and version describe themselves
    exp = mlflow_at.get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    rm = client.get_registered_model("credit_grading")
    assert "registry rows" in rm.description and rm.tags["task"] == "credit risk grading"
    mv = client.get_model_version("credit_grading", "1")
    assert "12,000 rows" in mv.description and "2024-12-31 to 2025-12-31" in mv.description
    assert f"AUC {m['oot.gbm.auc']:.4f}" in mv.description
    assert mv.tags["bundle_version"] == bundle.version and mv.tags["oot.champion.auc"].startswith("0.")


def test_run_params_keep_synth_settings_for_synthetic_data(bundle):
    from credit_grading.tracking import run_params, training_metrics

    ev = {"champion": "gbm", "test": {"gbm": {"auc": 0.8}, "oracle": {"auc": 0.85}}}
    p = run_params(bundle, ev)
    assert p["data.synthetic"] == "true" and any(k.startswith("synth.") for k in p)
    assert "synth.rows" not in run_params(bundle, {"champion": "gbm", "test": {"gbm": {"auc": 0.8}}})
    assert training_metrics(ev, {"x": 0.2}) == {"oot.gbm.auc": 0.8, "oot.oracle.auc": 0.85, "oot.champion.auc": 0.8,
                                                "selection.iv.x": 0.2}  # fmt: skip


def test_a_failed_training_leaves_a_failed_run(tmp_path, monkeypatch):
    from credit_grading.config import load_config
    from credit_grading.exceptions import CreditGradingError
    from credit_grading.pipeline import train_pipeline

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(CreditGradingError):
        train_pipeline(load_config(), tmp_path / "missing.parquet", tmp_path / "b")
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = mlflow.search_runs(experiment_names=["credit_grading"], output_format="list")
    assert run.info.status == "FAILED" and "missing.parquet" in run.data.tags["error"]
    assert not (tmp_path / "b").exists()


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


def test_live_progress_shows_binning_per_feature_and_boosting_rounds_with_the_metric(config, train_frame, monkeypatch):
    import io

    from rich.console import Console
    from rich.progress import Progress as RichProgress

    from credit_grading.binning.fit import fit_binning
    from credit_grading.gbm import GbmModel
    from credit_grading.progress import TrainingProgress, task

    seen: list[tuple[str, str]] = []
    update = RichProgress.update

    def spy(self, task_id, **kw):
        seen.append((self._tasks[task_id].description.strip(), str(kw.get("info", ""))))
        return update(self, task_id, **kw)

    monkeypatch.setattr(RichProgress, "update", spy)
    items = list(config.load_catalogue().features)[:3]
    y = train_frame["bad_12m"].to_numpy()
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    with TrainingProgress(["binning", "gbm"], console=console, live=True) as progress:
        progress.step("binning")
        fit_binning(train_frame, y, items)
        progress.step("gbm")
        gbm = GbmModel(config).fit(train_frame.head(8000))
    binning = [info for name, info in seen if name == "binning"]
    assert binning == [f"item {it.id}" for it in items]
    rounds = [info for name, info in seen if name == "boosting rounds"]
    assert len(rounds) >= gbm.spec_.best_iteration and all(r.startswith("binary_logloss 0.") for r in rounds)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", console.file.getvalue())
    assert "[ 1/2] binning" in shown and "[ 2/2] gbm" in shown
    # Outside a live display the same code reports nothing and costs nothing.
    seen.clear()
    fit_binning(train_frame, y, items[:1])
    with task("anything", total=3) as t:
        t.advance()
    assert seen == []
