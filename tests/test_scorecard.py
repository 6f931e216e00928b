import math

import numpy as np
import pandas as pd
import pytest

from credit_grading.catalogue import Direction
from credit_grading.config import config_from_dict
from credit_grading.exceptions import NotFittedError
from credit_grading.scorecard import Scorecard, ScorecardSpec
from credit_grading.selection import SelectionResult, select_features, vif


def test_points_run_in_the_risk_direction(fitted_scorecard, catalogue):
    spec = fitted_scorecard.spec_
    checked = 0
    for f in spec.features:
        item = catalogue.item(f.name)
        if item.direction is Direction.NONE:
            continue
        regular = [p for p, b in zip(f.points, f.binning.bins, strict=True) if b.kind == "regular"]
        if len(regular) < 2:
            continue
        diffs = np.diff(regular)
        if item.direction is Direction.INCREASING:  # more risk as the value grows: fewer points
            assert (diffs <= 1e-9).all(), (f.name, regular)
        else:
            assert (diffs >= -1e-9).all(), (f.name, regular)
        checked += 1
    assert checked >= 8


def test_every_coefficient_has_the_right_sign(fitted_scorecard):
    assert all(f.coefficient < 0 for f in fitted_scorecard.spec_.features)


def test_scaling_pdo_and_base_odds(fitted_scorecard):
    spec = fitted_scorecard.spec_
    assert spec.factor == pytest.approx(20 / math.log(2))
    # 600 points are odds of 50:1; 20 more points double them.
    assert spec.pd_from_score(600.0) == pytest.approx(1 / 51)
    assert spec.pd_from_score(620.0) == pytest.approx(1 / 101)


def test_pd_equals_the_logistic_regression(fitted_scorecard, train_frame):
    from credit_grading.binning import woe_matrix

    sc = fitted_scorecard
    woe = woe_matrix(sc.binning_spec_, train_frame, sc.spec_.feature_names)
    np.testing.assert_allclose(sc.predict_pd(train_frame), sc.model_.predict_proba(woe)[:, 1], rtol=1e-10)


def test_selection_lists_everything_dropped_with_a_reason(fitted_scorecard, catalogue):
    sel = fitted_scorecard.selection_
    dropped = {d.feature for d in sel.dropped}
    assert set(sel.selected) | dropped == set(catalogue.feature_names)
    assert not set(sel.selected) & dropped
    reasons = {d.reason for d in sel.dropped}
    assert "low_iv" in reasons
    assert all(d.detail for d in sel.dropped)
    assert SelectionResult.from_dict(sel.to_dict()).to_dict() == sel.to_dict()


def _suppressor_data(n=20_000, seed=5):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    x1 = z + 0.4 * rng.normal(size=n)
    x2 = z + 0.4 * rng.normal(size=n)
    noise = rng.normal(size=n)
    logit = -2.5 + 2.0 * x1 - 0.9 * x2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"id": np.arange(n).astype(str), "x1": x1, "x2": x2, "noise": noise, "y": y})


def _generic_config(**selection):
    return config_from_dict(
        {
            "dataset": {
                "id_column": "id",
                "id_format": "any",
                "as_of_column": None,
                "target_column": "y",
                "features": [
                    {"id": "x1", "type": "numeric", "direction": "increasing"},
                    {"id": "x2", "type": "numeric", "direction": "increasing"},
                    {"id": "noise", "type": "numeric"},
                ],
            },
            "selection": {"max_correlation": 0.99, "max_vif": 100, **selection},
        }
    )


def test_wrong_sign_features_are_dropped_or_flagged():
    data = _suppressor_data()
    sc = Scorecard(_generic_config()).fit(data)
    assert "x2" not in sc.spec_.feature_names
    wrong = [d for d in sc.selection_.dropped if d.reason == "wrong_sign"]
    assert [d.feature for d in wrong] == ["x2"]
    assert "should be negative" in wrong[0].detail
    cfg = _generic_config().model_copy(
        update={"scorecard": _generic_config().scorecard.model_copy(update={"wrong_sign": "flag"})}
    )
    flagged = Scorecard(cfg).fit(data)
    assert "x2" in flagged.spec_.feature_names
    assert flagged.spec_.meta["wrong_sign_flagged"] == ["x2"]


def test_correlation_vif_stepwise_and_cap():
    data = _suppressor_data()
    data["x1_copy"] = data["x1"] * 2 + 1e-3 * np.random.default_rng(1).normal(size=len(data))
    from credit_grading.binning import fit_binning, woe_matrix
    from credit_grading.catalogue import CatalogueItem
    from credit_grading.config import SelectionConfig

    items = [CatalogueItem(id=c, type="numeric", direction="increasing") for c in ("x1", "x2", "x1_copy")]
    items.append(CatalogueItem(id="noise", type="numeric"))
    y = data["y"].to_numpy()
    spec = fit_binning(data, y, items)
    woe = woe_matrix(spec, data)
    res = select_features(spec, woe, y, SelectionConfig(max_correlation=0.9, min_iv=0.01))
    by = {d.feature: d for d in res.dropped}
    assert by["noise"].reason == "low_iv"
    corr_drop = [d for d in res.dropped if d.reason == "correlated"]
    assert len(corr_drop) == 1 and corr_drop[0].feature in ("x1", "x1_copy")
    res = select_features(spec, woe, y, SelectionConfig(max_correlation=1.0, max_vif=3.0, min_iv=0.01))
    assert any(d.reason == "high_vif" for d in res.dropped)
    assert (vif(woe[:, [0, 2]]) > 10).all()
    res = select_features(
        spec, woe, y, SelectionConfig(max_correlation=1.0, max_vif=1e9, min_iv=0.0, stepwise="forward")
    )
    # The near-copy of x1 adds nothing once x1 is in: forward selection leaves one of them out.
    assert not {"x1", "x1_copy"} <= set(res.selected)
    assert any(d.reason == "stepwise" and "forward" in d.detail for d in res.dropped)
    res = select_features(
        spec, woe, y, SelectionConfig(max_correlation=1.0, max_vif=1e9, min_iv=0.0, stepwise="backward")
    )
    assert not {"x1", "x1_copy"} <= set(res.selected) and "x2" in res.selected
    res = select_features(spec, woe, y, SelectionConfig(min_iv=0.0, max_features=1, max_correlation=1.0, max_vif=1e9))
    assert len(res.selected) == 1
    assert sum(d.reason == "max_features" for d in res.dropped) == 3


def test_dataset_shaped_unlike_ours_trains_and_scores():
    rng = np.random.default_rng(8)
    n = 8000
    income = rng.lognormal(3, 1, n)
    grade = rng.choice(["A", "B", "C", "D"], n, p=[0.3, 0.3, 0.25, 0.15])
    late = rng.poisson(0.5, n).astype(float)
    logit = -2.0 - 0.5 * np.log(income) + np.select([grade == "C", grade == "D"], [0.8, 1.6], 0) + 0.6 * late
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame(
        {"loan_id": [f"L{i}" for i in range(n)], "income": income, "grade": grade, "late_payments": late, "default": y}
    )
    cfg = config_from_dict(
        {
            "dataset": {
                "id_column": "loan_id",
                "id_format": "any",
                "as_of_column": None,
                "target_column": "default",
                "features": [
                    {"id": "income", "type": "numeric", "min": 0, "direction": "decreasing"},
                    {"id": "grade", "type": "categorical", "levels": [{"code": c} for c in "ABCD"]},
                    {"id": "late_payments", "type": "numeric", "direction": "increasing"},
                ],
            }
        }
    )
    from sklearn.metrics import roc_auc_score

    sc = Scorecard(cfg).fit(df)
    assert set(sc.spec_.feature_names) == {"income", "grade", "late_payments"}
    assert roc_auc_score(y, -sc.score(df)) > 0.65
    # Scores from the pyarrow form of the same table agree.
    import pyarrow as pa

    np.testing.assert_array_equal(sc.score(pa.Table.from_pandas(df)), sc.score(df))


def test_rounding_gives_integer_points(config, train_frame):
    cfg = config.model_copy(update={"scorecard": config.scorecard.model_copy(update={"rounding": True})})
    sc = Scorecard(cfg, features=["tax_credit_rating", "firm_age_years", "tax_arrears_amount"]).fit(train_frame)
    pts = np.array([p for f in sc.spec_.features for p in f.points])
    assert (pts == np.rint(pts)).all()
    s = sc.score(train_frame)
    assert (s == np.rint(s)).all()


def test_points_table_and_export(fitted_scorecard, tmp_path):
    t = fitted_scorecard.points_table()
    assert list(t.columns[:4]) == ["feature", "name_zh", "name_en", "bin"]
    assert {"range_or_levels", "count", "event_rate", "woe", "iv", "points"} <= set(t.columns)
    assert t.loc[t.feature == "tax_credit_rating", "name_zh"].iloc[0] == "纳税信用等级"
    fitted_scorecard.save_points_table(tmp_path / "points.csv")
    fitted_scorecard.save_points_table(tmp_path / "points.json")
    back = pd.read_csv(tmp_path / "points.csv")
    np.testing.assert_allclose(back["points"], t["points"])
    assert len(pd.read_json(tmp_path / "points.json")) == len(t)


def test_spec_json_round_trip_gives_identical_scores(fitted_scorecard, train_frame, tmp_path):
    from credit_grading.engine import CompiledScorecard

    path = tmp_path / "scorecard.json"
    fitted_scorecard.spec_.to_json(path)
    again = ScorecardSpec.from_json(path)
    assert again == fitted_scorecard.spec_
    a = CompiledScorecard(again).score(train_frame).score
    np.testing.assert_array_equal(a, fitted_scorecard.score(train_frame))


def test_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted"):
        Scorecard().score(pd.DataFrame())
