"""The scikit-learn estimators: scikit-learn's own checks, text targets, cross-validation, grid
search, pipelines, and bundles that score as the estimators do."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from credit_grading.engine.model import CompiledModel
from credit_grading.estimators import GbmClassifier, ScorecardClassifier, migration_table
from credit_grading.exceptions import DataError


def credit_frame(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """An analyst's table: two numeric risk drivers, a categorical one, a flag and noise; the target
    as text (``bad`` / ``good``)."""
    rng = np.random.default_rng(seed)
    debt = rng.gamma(2.0, 1.0, n)
    age = rng.uniform(20, 70, n)
    sector = rng.choice(["farm", "shop", "tech", "trade", "build"], n, p=[0.2, 0.3, 0.2, 0.2, 0.1])
    late = (rng.random(n) < 0.1).astype(float)
    sector_risk = pd.Series(sector).map({"farm": 0.0, "shop": 0.3, "tech": -0.6, "trade": 0.2, "build": 0.9}).to_numpy()
    z = -1.6 + 0.6 * (debt - 2) - 0.03 * (age - 45) + sector_risk + 1.2 * late
    bad = rng.random(n) < 1 / (1 + np.exp(-z))
    X = pd.DataFrame({"debt": debt, "age": age, "sector": sector, "late_payment": late, "noise": rng.normal(size=n)})
    X.loc[rng.random(n) < 0.05, "debt"] = np.nan
    return X, np.where(bad, "bad", "good")


@pytest.fixture(scope="module")
def data():
    return credit_frame()


@pytest.fixture(scope="module")
def card(data):
    X, y = data
    return ScorecardClassifier().fit(X, y)


@pytest.fixture(scope="module")
def gbm(data):
    X, y = data
    return GbmClassifier(min_data_in_leaf=20, n_jobs=1).fit(X, y)


# scikit-learn's checks run on small random arrays. With the default selection.min_iv of 0.02 a
# scorecard refuses pure noise ("feature selection kept no feature"), which fails the checks that
# fit on noise; min_iv=0 lets every check run. Every check passes: none is expected to fail.
@parametrize_with_checks(
    [ScorecardClassifier(min_iv=0.0), GbmClassifier(min_data_in_leaf=2, n_estimators=30, n_jobs=1)]
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def test_the_default_scorecard_refuses_noise_with_one_message():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3000, 2))
    y = rng.integers(0, 2, 3000)
    with pytest.raises(DataError, match="feature selection kept no feature"):
        ScorecardClassifier().fit(X, y)


def test_text_target_classes_and_probabilities(card, data):
    X, y = data
    assert card.classes_.tolist() == ["bad", "good"] and card.bad_class_ == "bad"
    proba = card.predict_proba(X)
    points = card.points(X)
    # The bad column is the scorecard's PD of its points; columns sum to one.
    np.testing.assert_allclose(proba[:, 0], card.spec_.pd_from_score(points), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # decision_function is the log-odds of classes_[1] ("good"): it rises with the points.
    dec = card.decision_function(X)
    np.testing.assert_allclose(dec, (points - card.spec_.offset) / card.spec_.factor, rtol=1e-10)
    assert (card.predict(X) == np.where(dec > 0, "good", "bad")).all()
    auc = roc_auc_score(y == "bad", proba[:, 0])
    assert auc > 0.7, auc
    # The draft catalogue left nothing out and proposed the risk directions of the data.
    draft = card.catalogue_draft_
    assert draft.left_out == {}
    directions = {i.item.id: i.item.direction.value for i in draft.items}
    assert directions["debt"] == "increasing" and directions["age"] == "decreasing"


def test_zero_one_target_keeps_one_as_bad_and_bad_class_can_be_named(data):
    X, y = data
    y01 = (y == "bad").astype(int)
    a = ScorecardClassifier().fit(X, y01)
    assert a.classes_.tolist() == [0, 1] and a.bad_class_ == 1
    named = ScorecardClassifier(bad_class="bad").fit(X, y)
    np.testing.assert_allclose(a.points(X), named.points(X))
    np.testing.assert_allclose(a.predict_proba(X)[:, 1], named.predict_proba(X)[:, 0])
    with pytest.raises(DataError, match="bad_class 'worse' is not a class of y"):
        ScorecardClassifier(bad_class="worse").fit(X, y)


def test_gbm_margin_is_the_engines_and_the_bad_log_odds(gbm, data):
    X, _ = data
    margin = gbm.margin(X)
    np.testing.assert_array_equal(margin, gbm.gbm_.compiled().margin(X))
    np.testing.assert_allclose(gbm.decision_function(X), -margin)  # classes_[1] is "good"
    np.testing.assert_allclose(gbm.predict_proba(X)[:, 0], 1 / (1 + np.exp(-margin)), rtol=1e-12)
    assert gbm.spec_.meta["rows_train"] + gbm.spec_.meta["rows_valid"] == len(X)


def test_params_clone_and_fitted_attributes(card):
    params = card.get_params()
    assert params["min_iv"] is None and params["binning"] is None
    other = clone(card).set_params(max_n_bins=3, include=("noise",))
    assert other.get_params()["max_n_bins"] == 3 and not hasattr(other, "spec_")
    assert sorted(a for a in vars(card) if a.endswith("_") and not a.startswith("_"))[:4] == [
        "bad_class_", "binning_spec_", "catalogue_", "catalogue_draft_",
    ]  # fmt: skip
    assert card.n_features_in_ == 5 and card.feature_names_in_.tolist()[0] == "debt"


def test_cross_val_score_grid_search_and_pipeline(data):
    X, y = data
    X, y = X.iloc[:1200], y[:1200]
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    est = ScorecardClassifier()
    scores = cross_val_score(est, X, y, cv=cv, scoring="roc_auc")
    # roc_auc scoring takes classes_[1] ("good") as positive: the same as the bad PD's AUC.
    tr, te = next(cv.split(X, y))
    fold = clone(est).fit(X.iloc[tr], y[tr])
    assert scores[0] == pytest.approx(roc_auc_score(y[te] == "bad", fold.predict_proba(X.iloc[te])[:, 0]))
    assert scores.mean() > 0.7, scores
    g = cross_val_score(GbmClassifier(min_data_in_leaf=20, n_jobs=1), X, y, cv=cv, scoring="roc_auc")
    assert g.mean() > 0.65, g

    grid = GridSearchCV(ScorecardClassifier(), {"max_n_bins": [2, 5]}, cv=cv, scoring="roc_auc").fit(X, y)
    assert grid.best_params_["max_n_bins"] in (2, 5)
    two = grid.cv_results_["params"].index({"max_n_bins": 2})
    assert grid.cv_results_["mean_test_score"][two] < grid.cv_results_["mean_test_score"][1 - two]

    pick = FunctionTransformer(lambda frame: frame[["debt", "sector"]])
    pipe = Pipeline([("pick", pick), ("card", ScorecardClassifier())]).fit(X, y)
    assert pipe.named_steps["card"].feature_names_in_.tolist() == ["debt", "sector"]
    assert pipe.predict_proba(X).shape == (len(X), 2)


def test_numpy_input_names_columns_and_a_column_mismatch_is_named(data):
    X, y = data
    arr = X[["debt", "age", "late_payment"]].to_numpy()
    card = ScorecardClassifier().fit(arr, y)
    assert card.binning_spec_.names == ("x0", "x1", "x2")
    with pytest.raises(ValueError, match="X has 2 features, but ScorecardClassifier is expecting 3"):
        card.predict(arr[:, :2])


def test_the_bundle_scores_as_the_estimators_do(card, gbm, tmp_path):
    from credit_grading.bundle import load_bundle

    X_valid, y_valid = credit_frame(1500, seed=7)
    bundle = card.to_bundle(tmp_path / "bundle", X_valid, y_valid, challenger=gbm)
    loaded = load_bundle(tmp_path / "bundle")
    assert loaded.model.champion == "scorecard" and loaded.model.gbm is not None
    res = CompiledModel(loaded.model).score(X_valid)
    np.testing.assert_array_equal(res.score, card.points(X_valid))
    np.testing.assert_array_equal(res.margin, gbm.margin(X_valid))
    graded = card.grade(X_valid)
    np.testing.assert_array_equal(graded["pd"], res.pd)
    # Grade cut-offs were fitted on the held-out rows: the development table counts them.
    assert sum(r["count"] for r in loaded.model.scale.table) == len(X_valid)
    assert set(graded["grade"]) <= set(loaded.model.scale.grades)
    # On another scale (here: two grades), the same PDs graded by its cut-offs.
    from dataclasses import replace

    two = replace(loaded.model.scale, grades=("A", "D"), tiers=("A", "D"), cutoffs=(0.2,), table=())
    other = card.grade(X_valid, scale=two)
    assert (other["grade"] == np.where(res.pd <= 0.2, "A", "D")).all() and other["tier"].equals(other["grade"])
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["training_data"]["rows"] == 2000 and manifest["model"]["name"] == "model"
    assert {"points.csv", "binning_tables.csv", "selection.csv"} <= set(bundle.reports)


def test_out_of_fold_calibration_on_the_training_rows(data):
    X, y = data
    est = ScorecardClassifier(max_n_bins=4)
    fitted = est.fit(X, y)
    model = fitted.model_spec(X, y, cv=3)
    # Three folds refitted: the calibration saw every training row, each scored by a model
    # that had not seen it.
    assert model.calibration["scorecard"].meta["rows"] == len(X)
    assert model.scale is not None and fitted.model_spec_ is model


def test_migration_table_counts_moves():
    before = ["A", "B", "B", "C", "D"]
    after = ["A", "A", "C", "C", "D"]
    t = migration_table(before, after, order=["A", "B", "C", "D"])
    assert t.loc["B", "A"] == 1 and t.loc["B", "C"] == 1 and int(np.trace(t.to_numpy())) == 3
    assert list(t.index) == ["A", "B", "C", "D"] and t.index.name == "before"
    with pytest.raises(DataError, match="before has 5 grades but after has 2"):
        migration_table(before, after[:2])


def test_a_gbm_champion_bundle_rescores_from_the_command_line(card, gbm, tmp_path):
    import subprocess
    import sys

    X_valid, y_valid = credit_frame(1500, seed=8)
    gbm.to_bundle(tmp_path / "bundle", X_valid, y_valid, challenger=card)
    X_valid.to_csv(tmp_path / "applicants.csv", index=False)
    cmd = [sys.executable, "-m", "credit_grading.cli", "rescore", "--model", "bundle", "--input", "applicants.csv",
           "--output", "graded.parquet", "--rejects", "rejects.csv"]  # fmt: skip
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    graded = pd.read_parquet(tmp_path / "graded.parquet")
    assert len(graded) == len(X_valid) and graded.columns[0] == "row_id"
    mine = gbm.grade(X_valid)
    np.testing.assert_allclose(graded["pd"], mine["pd"], rtol=1e-12)
    np.testing.assert_allclose(graded["score"], card.points(X_valid), rtol=1e-12)
    assert (graded["model_grade"].astype(str).to_numpy() == mine["grade"].to_numpy()).all()


def test_a_catalogue_given_as_object_or_file_is_used_as_drafted(card, data, tmp_path):
    from credit_grading.infer import write_catalogue_draft

    X, y = data
    write_catalogue_draft(card.catalogue_draft_, tmp_path / "catalogue.yaml", source="test")
    from_file = ScorecardClassifier(catalogue=tmp_path / "catalogue.yaml").fit(X, y)
    given = ScorecardClassifier(catalogue=card.catalogue_).fit(X, y)
    assert from_file.catalogue_draft_ is None and given.catalogue_draft_ is None
    np.testing.assert_array_equal(from_file.points(X), card.points(X))
    np.testing.assert_array_equal(given.points(X), card.points(X))
    with pytest.raises(DataError, match=r"X lacks the catalogue's feature column\(s\) \['noise'\]"):
        ScorecardClassifier(catalogue=card.catalogue_).fit(X.drop(columns="noise"), y)


def test_fitted_on_an_array_a_named_frame_is_read_by_position_with_scikit_learns_warning():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 2))
    y = (rng.random(2000) < 1 / (1 + np.exp(-2 * X[:, 0]))).astype(int)
    card = ScorecardClassifier().fit(X, y)
    with pytest.warns(UserWarning, match="X has feature names, but ScorecardClassifier was fitted without"):
        proba = card.predict_proba(pd.DataFrame(X, columns=["a", "b"]))
    np.testing.assert_array_equal(proba, card.predict_proba(X))
