"""Defaults that fit the data's size: GBM parameters from the training rows, the champion chosen on
evidence, the model named after the dataset, and grade cut-offs fitted out of sample (a grade fitted
to hold at most 35% holds about that much of new data)."""

import json

import numpy as np
import pandas as pd
import pytest

from credit_grading.config import config_from_dict, load_config
from credit_grading.engine.model import CompiledModel
from credit_grading.gbm import GbmModel, resolved_params, size_defaults
from credit_grading.grading.fit import fit_scale, grade_table
from credit_grading.registry import validate_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.synth import generate_registry
from credit_grading.training import choose_champion, train_models

ITEMS = ["firm_age_years", "admin_penalties_24m", "tax_credit_rating", "enforcement_cases_36m",
         "social_insurance_arrears_months", "abnormal_operations_flag", "overdue_tax_filings_24m"]  # fmt: skip


def config_with(**sections):
    base = load_config()
    d = base.model_dump(mode="json", exclude={"base_dir"})
    for key, value in sections.items():
        d[key] = {**d.get(key, {}), **value} if isinstance(value, dict) else value
    return config_from_dict(d, base_dir=base.base_dir)


# ---------------------------------------------------------------- GBM parameters


def test_gbm_defaults_scale_with_the_training_rows():
    big, why = size_defaults(40_000)
    assert big == {"min_data_in_leaf": 200, "num_leaves": 4, "learning_rate": 0.1, "early_stopping_rounds": 50}
    assert "large-data defaults" in why and size_defaults(4_000) == (big, why.replace("40,000", "4,000"))
    assert size_defaults(600)[0] == {"min_data_in_leaf": 30, "num_leaves": 4, "learning_rate": 0.05,
                                     "early_stopping_rounds": 100}  # fmt: skip
    assert size_defaults(3_000)[0] == {"min_data_in_leaf": 150, "num_leaves": 4, "learning_rate": 0.1,
                                       "early_stopping_rounds": 50}  # fmt: skip
    assert size_defaults(60)[0]["num_leaves"] == 2  # 60 rows cannot fill 4 leaves of 20
    # Monotone in the rows: more rows never give smaller leaves or a faster-learning model's patience.
    leafs = [size_defaults(n)[0]["min_data_in_leaf"] for n in (100, 1_000, 5_000, 9_999, 10_000, 10**6)]
    assert leafs == sorted(leafs)


def test_a_value_the_user_sets_is_kept_and_the_bundle_says_what_was_chosen_and_why():
    cfg = config_with(gbm={"min_data_in_leaf": 35})
    used, record = resolved_params(cfg, 900)
    assert used == {"min_data_in_leaf": 35, "num_leaves": 4, "learning_rate": 0.05, "early_stopping_rounds": 100}
    assert record["chosen"] == {"num_leaves": 4, "learning_rate": 0.05, "early_stopping_rounds": 100}
    assert record["rows_train"] == 900 and "900 training rows: leaves of at least rows/20 = 45 rows" in record["reason"]
    all_set = config_with(
        gbm={"min_data_in_leaf": 35, "num_leaves": 8, "learning_rate": 0.2, "early_stopping_rounds": 7}
    )
    assert resolved_params(all_set, 900) == (
        {"min_data_in_leaf": 35, "num_leaves": 8, "learning_rate": 0.2, "early_stopping_rounds": 7}, {})  # fmt: skip

    cfg = config_with(dataset={"include": ITEMS})
    rows = validate_table(generate_registry(1_200, seed=2).table, RegistrySchema.from_config(cfg)).data
    gbm = GbmModel(cfg).fit(rows.iloc[:900], rows.iloc[900:])
    spec = gbm.spec_
    assert spec.params["min_data_in_leaf"] == 45 and spec.params["learning_rate"] == 0.05
    assert spec.params["early_stopping_rounds"] == 100 and spec.params["num_leaves"] == 4
    d = json.loads(spec.to_json())
    assert d["meta"]["defaults"]["chosen"]["min_data_in_leaf"] == 45
    assert "900 training rows" in d["meta"]["defaults"]["reason"]
    # The booster really was trained with them (LightGBM's own text says so).
    assert "[min_data_in_leaf: 45]" in spec.model_text and "[learning_rate: 0.05]" in spec.model_text


# ---------------------------------------------------------------- the champion


def _ev(card, gbm):
    return {"scorecard": {"auc": card}, "gbm": {"auc": gbm}}


def test_champion_auto_takes_the_better_auc_and_a_tie_goes_to_the_scorecard():
    auto = load_config()
    assert str(auto.model.champion) == "auto"
    gbm = choose_champion(auto, _ev(0.80, 0.81))
    assert gbm["chosen"] == "gbm" and gbm["reason"].startswith("gbm, the better validation AUC (scorecard 0.8000")
    assert choose_champion(auto, _ev(0.81, 0.80))["chosen"] == "scorecard"
    tie = choose_champion(auto, _ev(0.80001, 0.80004))
    assert tie["chosen"] == "scorecard" and "a tie on the validation AUC goes to the scorecard" in tie["reason"]
    cv = {"models": {"scorecard": {"auc": {"mean": 0.79}}, "gbm": {"auc": {"mean": 0.78}}}}
    by_cv = choose_champion(auto, _ev(0.70, 0.90), cv)  # the cross-validated mean outweighs one split
    assert by_cv["chosen"] == "scorecard" and by_cv["basis"] == "cross-validated mean AUC"
    assert by_cv["validation_auc"] == {"scorecard": 0.70, "gbm": 0.90}
    fixed = choose_champion(config_with(model={"champion": "gbm"}), _ev(0.81, 0.80))
    assert fixed["chosen"] == "gbm" and fixed["reason"].startswith("gbm, set by model.champion (validation AUC")


def test_on_the_built_in_registry_auto_still_picks_the_gbm_with_nine_grades(trained):
    ev = trained.evaluation
    assert ev["champion"] == "gbm" == trained.model.champion
    choice = ev["champion_choice"]
    assert choice["setting"] == "auto" and choice["basis"] == "validation AUC"
    assert choice["auc"]["gbm"] > choice["auc"]["scorecard"]
    assert trained.model.scale.n_grades == 9 and ev["grades"]["count"]["fitted"] == 9
    assert ev["cv"]["ran"] is False and ev["grades"]["sample"].startswith("the validation rows")
    assert trained.model.gbm.params["min_data_in_leaf"] == 200 and trained.model.name == "credit_grading"


# ---------------------------------------------------------------- the model's name


def test_the_model_is_named_after_the_dataset_unless_model_name_says_otherwise():
    feats = [{"id": "income", "type": "numeric"}]
    cfg = config_from_dict({"dataset": {"name": "german_credit", "features": feats, "target_column": "y"}})
    assert cfg.model.name is None and cfg.model_name == "german_credit"
    named = config_from_dict({"dataset": {"name": "german_credit", "features": feats, "target_column": "y"},
                              "model": {"name": "scorecard_2026"}})  # fmt: skip
    assert named.model_name == "scorecard_2026"
    assert load_config().model_name == "credit_grading"  # the built-in config names it as before
    with pytest.raises(Exception, match="model.name"):
        config_from_dict({"dataset": {"features": feats}, "model": {"name": ""}})


# ---------------------------------------------------------------- out-of-sample cut-offs


@pytest.mark.slow
def test_a_grade_fitted_to_hold_at_most_35_percent_holds_about_that_of_new_data():
    """Grades fitted on out-of-fold PDs (small data, cross-validation) and on validation rows (large
    data) hold on an independent 200,000-row holdout from the same population what they were fitted
    to hold: every grade's share within 1.5 points of its fitted share, none above 35% + 1.5 points
    (the fitting sample's own sampling noise at these sizes is about 0.6–0.8 points)."""
    base = load_config()
    schema = RegistrySchema.from_config(base)
    hold = validate_table(generate_registry(200_000, seed=11).table, schema).data
    y_hold = hold["bad_12m"].to_numpy(dtype=np.float64)
    found = {}
    for rows, seed, cv in ((4_000, 4, {"repeats": 1}), (30_000, 21, {})):
        data = validate_table(generate_registry(rows, seed=seed).table, schema).data
        res = train_models(data, config_with(evaluation={"cv": cv}))
        scale = res.model.scale
        fitted = pd.DataFrame(scale.table)["share"].to_numpy()
        held = grade_table(scale, CompiledModel(res.model).score(hold).pd, y_hold)["share"].to_numpy()
        found[rows] = (res.evaluation["grades"]["sample"], fitted.round(4).tolist(), held.round(4).tolist())
        assert fitted.max() <= 0.35 + 1e-12
        assert np.abs(held - fitted).max() < 0.015, found[rows]
        assert held.max() < 0.35 + 0.015, found[rows]
        if rows == 30_000:
            # In sample (the rows the models trained on): the same check, for comparison.
            dev = pd.concat([res.splits.train, res.splits.valid])
            dev_pd = CompiledModel(res.model).score(dev).pd
            ins = fit_scale(dev_pd, dev["bad_12m"].to_numpy(dtype=np.float64), base.grading)
            ins_held = grade_table(ins, CompiledModel(res.model).score(hold).pd, y_hold)["share"].to_numpy()
            found["in sample"] = (pd.DataFrame(ins.table)["share"].round(4).tolist(), ins_held.round(4).tolist())
    assert found[4_000][0].startswith("out-of-fold PDs") and found[30_000][0].startswith("the validation rows")
    print(json.dumps(found))
