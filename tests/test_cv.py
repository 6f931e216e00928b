"""Honest small-sample evaluation: intervals of single-split figures, repeated cross-validation of
both models, and what train's output and the validation report show of them."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from credit_grading.config import config_from_dict, load_config
from credit_grading.evaluation import auc, auc_ci, intervals, ks, spread
from credit_grading.registry import validate_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.synth import generate_registry, write_registry
from credit_grading.training import cross_validate, cv_table, cv_wanted, train_models

# A small registry with a handful of the built-in items: fast to fit many times.
ITEMS = ["firm_age_years", "admin_penalties_24m", "tax_credit_rating", "enforcement_cases_36m",
         "social_insurance_arrears_months", "abnormal_operations_flag"]  # fmt: skip


def small_config(**sections):
    base = load_config()
    d = base.model_dump(mode="json", exclude={"base_dir"})
    d["dataset"]["include"] = ITEMS
    d["grading"]["overrides"] = []
    for key, value in sections.items():
        d[key] = value
    return config_from_dict(d, base_dir=base.base_dir)


@pytest.fixture(scope="module")
def small_rows():
    cfg = small_config()
    return validate_table(generate_registry(2_000, seed=3).table, RegistrySchema.from_config(cfg)).data


def _delong_brute(y, risk):
    """DeLong's variance from its definition (every bad against every good): O(n0·n1)."""
    pos, neg = risk[y], risk[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)


def test_delong_interval_matches_its_definition_and_a_bootstrap():
    rng = np.random.default_rng(4)
    y = rng.random(600) < 0.25
    risk = np.round(rng.normal(size=600) + 0.9 * y, 1)  # ties
    a, var = _delong_brute(y, risk)
    lo, hi = auc_ci(y, risk)
    assert a == pytest.approx(roc_auc_score(y, risk)) and (lo + hi) / 2 == pytest.approx(a, abs=1e-12)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * np.sqrt(var), rel=1e-5)
    got = intervals(y, risk, n_boot=400, seed=1)
    from credit_grading.stats import bootstrap_ci

    boot = bootstrap_ci(y, risk, auc, n=400, seed=1)
    assert got["auc_ci"] == pytest.approx(list(boot), abs=0.01)
    assert got["gini_ci"] == pytest.approx([2 * lo - 1, 2 * hi - 1])
    assert got["ks_ci"][0] < ks(y, risk) < got["ks_ci"][1]
    assert intervals(y, risk, n_boot=400, seed=1) == got  # seeded
    assert np.isnan(auc_ci(np.array([True, False]), np.array([1.0, 0.0]))[0])


def test_spread_reports_mean_sd_and_fold_extremes():
    s = spread([0.7, 0.8, 0.9, float("nan")])
    assert s == pytest.approx({"mean": 0.8, "sd": 0.1, "min": 0.7, "max": 0.9, "folds": 3})
    assert spread([])["folds"] == 0


def test_cross_validation_is_automatic_below_the_row_threshold_and_can_be_forced():
    cfg = load_config()
    assert cv_wanted(cfg, 4_999)[0] and not cv_wanted(cfg, 5_000)[0]
    assert "fewer than evaluation.cv.max_rows" in cv_wanted(cfg, 1_000)[1]
    on = small_config(evaluation={"cv": {"mode": "on"}})
    off = small_config(evaluation={"cv": {"mode": "off"}})
    assert cv_wanted(on, 10**7) == (True, "evaluation.cv.mode: on") and not cv_wanted(off, 10)[0]
    with pytest.raises(Exception, match="evaluation.cv.folds"):
        small_config(evaluation={"cv": {"folds": 1}})


def test_repeated_folds_are_stratified_seeded_and_score_every_row_once(small_rows):
    cfg = small_config()
    res = cross_validate(small_rows, cfg, folds=3, repeats=2, seed=5)
    assert len(res.folds) == 6 and [f["repeat"] for f in res.folds] == [1, 1, 1, 2, 2, 2]
    y = small_rows["bad_12m"].to_numpy(dtype=float)
    for f in res.folds:  # stratified: every fold holds a third of the rows and of the bads
        assert f["rows"] == pytest.approx(len(y) / 3, abs=2) and f["bads"] == pytest.approx(y.sum() / 3, abs=1)
        for m in ("scorecard", "gbm"):
            assert 0.6 < f[m]["auc"] < 0.95 and f[m]["gini"] == pytest.approx(2 * f[m]["auc"] - 1)
    for k in ("scorecard", "gbm", "pd_scorecard", "pd_gbm"):
        assert not np.isnan(res.oof[k]).any()  # every row scored out of fold in the first repeat
    assert ((res.oof["pd_gbm"] > 0) & (res.oof["pd_gbm"] < 1)).all()
    # Out-of-fold scores rank as well as the folds' own figures say.
    assert auc(y, -res.oof["scorecard"]) == pytest.approx(np.mean([f["scorecard"]["auc"] for f in res.folds[:3]]),
                                                           abs=0.03)  # fmt: skip
    summary = res.summary()
    assert summary["models"]["gbm"]["auc"]["folds"] == 6 and summary["folds"] == 3 and summary["repeats"] == 2
    again = cross_validate(small_rows, cfg, folds=3, repeats=1, seed=5)
    assert again.folds == res.folds[:3]  # seeded: the same first repeat
    np.testing.assert_array_equal(again.oof["pd_gbm"], res.oof["pd_gbm"])
    assert res.folds[3]["scorecard"] != res.folds[0]["scorecard"]  # each repeat deals new folds


def test_training_reports_cv_beside_held_out_figures_with_intervals(small_rows):
    cfg = small_config(evaluation={"cv": {"folds": 3, "repeats": 1}})
    res = train_models(small_rows, cfg)
    ev = res.evaluation
    assert ev["cv"]["ran"] and "fewer than evaluation.cv.max_rows" in ev["cv"]["reason"]
    assert ev["cv"]["rows"] == len(res.splits.train) + len(res.splits.valid)  # the test rows stay out
    for m in ("scorecard", "gbm"):
        t = ev["test"][m]
        assert t["auc_ci"][0] < t["auc"] < t["auc_ci"][1] and t["ks_ci"][0] <= t["ks"] <= t["ks_ci"][1]
        assert t["ci_method"] == "delong" and "auc_ci" in ev["valid"][m]
        s = ev["cv"]["models"][m]["auc"]
        assert s["min"] <= s["mean"] <= s["max"] and s["sd"] > 0
    choice = ev["champion_choice"]
    assert choice["basis"] == "cross-validated mean AUC" and choice["chosen"] == ev["champion"] == res.model.champion
    better = max(("scorecard", "gbm"), key=lambda m: (round(choice["auc"][m], 4), m == "scorecard"))
    assert choice["chosen"] == better
    assert ev["grades"]["sample"].startswith("out-of-fold PDs of the")
    table = cv_table(ev)
    assert list(table["model"]) == ["scorecard", "gbm"] and {"auc_mean", "auc_sd", "auc_min", "auc_max"} <= set(table)
    json.dumps(ev)
    grading = load_config().grading.model_dump(mode="json") | {"overrides": [], "fit": {"min_count": 20}}
    off = train_models(small_rows, small_config(evaluation={"cv": {"mode": "off"}}, grading=grading))
    assert off.evaluation["cv"] == {"ran": False, "reason": "evaluation.cv.mode: off"}
    assert off.evaluation["champion_choice"]["basis"] == "validation AUC" and cv_table(off.evaluation).empty
    assert off.evaluation["grades"]["sample"] == f"the validation rows: {len(off.splits.valid):,} rows"


def test_train_prints_intervals_and_cv_and_the_report_carries_them(tmp_path):
    write_registry(generate_registry(1_500, seed=8), tmp_path / "r.parquet")
    cfg = {"dataset": {"name": "small_registry", "id_column": "uscc", "id_format": "uscc", "as_of_column": "as_of",
                       "target_column": "bad_12m", "catalogue": str(load_config().base_dir / "catalogue.yaml"),
                       "include": ITEMS},
           "grading": {"overrides": []}, "evaluation": {"cv": {"folds": 3, "repeats": 1}}}  # fmt: skip
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    res = subprocess.run([sys.executable, "-m", "credit_grading.cli", "train", "--data", "r.parquet", "--config",
                          "c.yaml", "--out", "b", "--no-track"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, env={**__import__("os").environ, "COLUMNS": "200"})  # fmt: skip
    assert res.returncode == 0, res.stderr
    text = res.stdout
    # Small data: the cross-validation step is announced between calibration and grades.
    steps = [ln.split("] ")[1].split(" (+")[0] for ln in text.splitlines() if ln.startswith("[")]
    assert steps[steps.index("calibration") + 1 :][:2] == ["cross-validation", "grades"] and len(steps) == 12
    assert "[ 8/12] cross-validation" in text
    assert "Held-out test (stratified" in text and "Out-of-time" not in text
    assert "AUC (95% CI)" in text and "Gini (95% CI)" in text and "KS (95% CI)" in text
    assert "Cross-validated, 3 folds × 1 repeats on 1,200 development rows" in text
    assert "Champion: " in text and "cross-validated mean AUC" in text and "cut-offs fitted on out-of-fold PDs" in text
    assert "(model small_registry," in text  # named after the dataset
    rep = json.loads((tmp_path / "b" / "validation_report.json").read_text())
    tr = rep["training"]
    assert tr["cv"]["ran"] and tr["champion_choice"]["chosen"] == rep["model"]["champion"]
    assert tr["grades"]["sample"].startswith("out-of-fold PDs")
    html = (tmp_path / "b" / "validation_report.html").read_text()
    assert "Cross-validated (development rows)" in html and "How the champion was chosen" in html
    assert "Grade cut-offs fitted on out-of-fold PDs" in html
    # The report command reads the same evidence from the bundle's evaluation.json.
    from credit_grading.bundle import load_bundle
    from credit_grading.reports.validation import training_evidence

    assert training_evidence(load_bundle(tmp_path / "b")) == tr
    gbm = json.loads((tmp_path / "b" / "gbm.json").read_text())
    assert gbm["meta"]["defaults"]["chosen"]["min_data_in_leaf"] == gbm["params"]["min_data_in_leaf"] == 45
    # The manifest's config records the values used (as MLflow's params do); null meant "from the rows".
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert (
        manifest["config"]["gbm"]["min_data_in_leaf"] == 45 and manifest["config"]["model"]["name"] == "small_registry"
    )


def test_validation_rows_too_few_for_the_scale_bring_in_out_of_fold_pds():
    """Above the cross-validation threshold, cut-offs are fitted on the validation rows; when those
    cannot carry the whole scale, one repeat of the cross-validation gives out-of-fold PDs of all the
    development rows, and they are used if they carry more grades (and said so)."""
    from credit_grading.engine.model import CompiledModel
    from credit_grading.exceptions import DataError
    from credit_grading.grading.fit import fit_scale

    cfg = small_config(evaluation={"cv": {"max_rows": 1_000, "folds": 3}})
    rows = validate_table(generate_registry(3_000, seed=9).table, RegistrySchema.from_config(cfg)).data
    res = train_models(rows, cfg)
    ev = res.evaluation
    valid = res.splits.valid
    try:
        on_valid = fit_scale(CompiledModel(res.model).score(valid).pd, valid["bad_12m"], cfg.grading).n_grades
    except DataError:
        on_valid = 0
    assert on_valid < 9 and res.model.scale.n_grades > on_valid
    assert ev["cv"]["ran"] and ev["cv"]["repeats"] == 1 and ev["cv"]["folds"] == 3
    assert ev["cv"]["reason"].startswith(f"the {len(valid):,} validation rows support ")
    assert ev["grades"]["sample"].startswith("out-of-fold PDs of the 2,400 development rows")
    assert ev["champion_choice"]["basis"] == "validation AUC"  # chosen before; the folds only serve the grades
