import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from credit_grading.calibration import fit_calibration
from credit_grading.config import config_from_dict
from credit_grading.engine.model import CompiledModel
from credit_grading.evaluation import auc, decile_table, ks, metrics
from credit_grading.exceptions import DataError
from credit_grading.specs.calibration import CalibrationSpec
from credit_grading.specs.model import ModelSpec
from credit_grading.splits import split_frame
from credit_grading.training import champion_challenger_table


def test_auc_ks_brier_logloss_match_references():
    rng = np.random.default_rng(3)
    y = rng.random(5000) < 0.1
    risk = np.round(rng.normal(size=5000) + y, 1)  # rounded: many ties
    assert auc(y, risk) == pytest.approx(roc_auc_score(y, risk), abs=1e-12)
    ref = stats.ks_2samp(risk[y], risk[~y]).statistic
    assert ks(y, risk) == pytest.approx(ref, abs=1e-12)
    pd_ = 1 / (1 + np.exp(-(risk - 2)))
    m = metrics(y, pd_)
    assert m["brier"] == pytest.approx(brier_score_loss(y, pd_))
    assert m["log_loss"] == pytest.approx(log_loss(y, pd_))
    assert m["gini"] == pytest.approx(2 * m["auc"] - 1)
    assert m["calibration_in_the_large"] == pytest.approx(pd_.mean() - y.mean())
    table = decile_table(y, pd_)
    assert len(table) == 10 and sum(r["rows"] for r in table) == 5000
    assert all(a["mean_pd"] <= b["mean_pd"] for a, b in itertools.pairwise(table))


def test_time_split_uses_the_latest_snapshot_as_test(config, oot_data):
    s = split_frame(oot_data, config)
    assert s.method == "time"
    assert (s.test["as_of"] == oot_data["as_of"].max()).all()
    assert (s.train["as_of"] < oot_data["as_of"].max()).all()
    assert (s.valid["as_of"] < oot_data["as_of"].max()).all()
    assert len(s.train) + len(s.valid) + len(s.test) == len(oot_data)
    assert len(s.valid) == pytest.approx(0.2 * (len(s.train) + len(s.valid)), abs=2)
    assert not set(s.train.index) & set(s.valid.index)
    # Stratified: the bad rate is the same in train and valid.
    assert s.valid["bad_12m"].mean() == pytest.approx(s.train["bad_12m"].mean(), abs=0.002)


def test_three_snapshots_give_a_validation_snapshot(config, oot_data):
    third = oot_data.iloc[:5000].copy()
    third["as_of"] = pd.Timestamp("2023-12-31")
    s = split_frame(pd.concat([third, oot_data], ignore_index=True), config)
    assert set(s.valid["as_of"]) == {pd.Timestamp("2024-12-31")}
    assert set(s.train["as_of"]) == {pd.Timestamp("2023-12-31")}


def test_stratified_split_of_one_snapshot(config, oot_data):
    one = oot_data[oot_data["as_of"] == oot_data["as_of"].min()]
    s = split_frame(one, config)
    assert s.method == "stratified"
    assert len(s.test) == pytest.approx(0.2 * len(one), abs=2)
    # The results table is titled by the split: never "out of time" on a random split.
    assert s.test_label == "Held-out test (stratified: valid 20%, test 20%)"
    assert split_frame(oot_data, config).test_label.startswith("Out-of-time test (out of time: train and valid")
    forced = config.model_copy(update={"split": config.split.model_copy(update={"method": "time"})})
    with pytest.raises(DataError, match="at least two snapshots"):
        split_frame(one, forced)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_is_monotone_and_inside_0_1(method):
    rng = np.random.default_rng(5)
    score = rng.normal(600, 40, 20000)
    true = 1 / (1 + np.exp((score - 520) / 25))
    y = (rng.random(20000) < true).astype(float)
    spec = fit_calibration(score, y, method=method, input="score", direction=-1.0)
    grid = np.linspace(300, 900, 2001)
    p = spec.apply(grid)
    assert (p > 0).all() and (p < 1).all()
    assert (np.diff(p) <= 1e-15).all()  # more points, never more risk
    assert spec.apply(np.array([-1e9, 1e9])).tolist() == [1 - spec.min_pd, spec.min_pd]
    assert CalibrationSpec.from_json(spec.to_json()) == spec
    if method == "isotonic":
        ref = IsotonicRegression(out_of_bounds="clip", y_min=spec.min_pd, y_max=1 - spec.min_pd).fit(-score, y)
        np.testing.assert_allclose(spec.apply(score), ref.predict(-score), atol=1e-12)
    assert abs(spec.apply(score).mean() - y.mean()) < 0.003


def test_calibration_refuses_an_unrelated_output():
    with pytest.raises(DataError, match="does not rise with risk"):
        fit_calibration(np.linspace(0, 1, 2000), np.r_[np.ones(1000), np.zeros(1000)], method="platt")


def test_trained_models_report_champion_and_challenger(trained):
    ev = trained.evaluation
    test = ev["test"]
    assert set(test) == {"scorecard", "gbm", "oracle"}
    for name in ("scorecard", "gbm"):
        m = test[name]
        assert 0.7 < m["auc"] < 0.95
        assert abs(m["calibration_in_the_large"]) < 0.02
        assert 0.8 < m["gini_vs_oracle"] <= 1.05
    json.dumps(ev)  # the evaluation is plain JSON
    table = champion_challenger_table(ev)
    assert list(table["model"]) == ["scorecard", "gbm", "oracle"]
    # Calibrations were fitted on the validation rows only.
    for c in trained.model.calibration.values():
        assert c.meta["rows"] == len(trained.splits.valid)


def test_engine_returns_the_champions_pd(trained):
    test = trained.splits.test.iloc[:2000]
    res = CompiledModel(trained.model).score(test, reasons=3)
    np.testing.assert_array_equal(res.pd, res.pd_gbm)
    assert res.reason_index.shape == (2000, 3)
    assert (res.pd > 0).all() and (res.pd < 1).all()
    frame = res.frame()
    assert {"score", "margin", "pd_scorecard", "pd_gbm", "pd", "reason_1", "reason_1_zh"} <= set(frame.columns)
    sc = ModelSpec(trained.model.scorecard, trained.model.gbm, trained.model.calibration, champion="scorecard")
    res2 = CompiledModel(sc).score(test, reasons=2)
    np.testing.assert_array_equal(res2.pd, res2.pd_scorecard)
    assert set(res2.frame()["reason_1"].dropna()) <= set(trained.model.scorecard.feature_names)


def test_model_spec_checks_its_parts(trained):
    m = trained.model
    with pytest.raises(ValueError, match="champion model 'gbm' is not in this model"):
        ModelSpec(m.scorecard, None, {"scorecard": m.calibration["scorecard"]}, champion="gbm")
    with pytest.raises(ValueError, match="has no calibration"):
        ModelSpec(m.scorecard, m.gbm, {"scorecard": m.calibration["scorecard"]}, champion="gbm")


def test_split_config_is_validated():
    with pytest.raises(ValueError, match="split.method"):
        config_from_dict({"dataset": {"catalogue": "builtin"}, "split": {"method": "random"}})
