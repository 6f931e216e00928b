import datetime as dt
import textwrap

import pytest

from credit_grading.config import IdFormat, config_from_dict, load_config
from credit_grading.exceptions import ConfigError


def write(tmp_path, text, name="cfg.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def test_default_config(config, catalogue):
    assert config.dataset.id_column == "uscc"
    assert config.dataset.id_format is IdFormat.USCC
    assert config.synth.as_of == dt.date(2025, 12, 31)
    assert 0.05 <= config.synth.bad_rate <= 0.10
    assert "tax_credit_rating" in catalogue


def test_bad_value_names_file_key_value_and_allowed(tmp_path):
    p = write(
        tmp_path,
        """
        dataset:
          catalogue: builtin
          id_format: ssn
        synth:
          rows: -5
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert str(p) in msg
    assert "2 problem(s)" in msg
    assert "dataset.id_format" in msg and "'ssn'" in msg and "'uscc'" in msg and "'any'" in msg
    assert "synth.rows" in msg and "-5" in msg and "greater than or equal to 1" in msg


def test_unknown_and_missing_keys(tmp_path):
    p = write(tmp_path, "datset: {}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert "datset: unexpected key" in msg
    assert "dataset: required key is missing" in msg


def test_yaml_syntax_error_gives_line(tmp_path):
    p = write(tmp_path, "dataset:\n  catalogue: [builtin\n")
    with pytest.raises(ConfigError, match=r"invalid YAML in .*cfg.yaml at line \d+"):
        load_config(p)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.yaml")


def test_top_level_must_be_mapping(tmp_path):
    p = write(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(p)


def test_catalogue_path_is_relative_to_the_config(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "items:\n  - {id: score_a, type: numeric, min: 0}\n", name="mycat.yaml")
    p = write(tmp_path, "dataset:\n  catalogue: sub/mycat.yaml\n  id_format: any\n")
    cat = load_config(p).load_catalogue()
    assert [it.id for it in cat.items] == ["score_a"]


def test_exactly_one_feature_source():
    with pytest.raises(ConfigError, match="exactly one of 'catalogue'"):
        config_from_dict({"dataset": {}})
    with pytest.raises(ConfigError, match="exactly one of 'catalogue'"):
        config_from_dict({"dataset": {"catalogue": "builtin", "features": [{"id": "a", "type": "flag"}]}})


def test_inline_features_describe_any_dataset():
    cfg = config_from_dict(
        {
            "dataset": {
                "name": "consumer_loans",
                "id_column": "loan_id",
                "id_format": "any",
                "as_of_column": None,
                "target_column": "default",
                "features": [
                    {"id": "income", "type": "numeric", "min": 0, "direction": "decreasing"},
                    {"id": "grade", "type": "categorical", "levels": [{"code": "A"}, {"code": "B"}]},
                ],
            }
        }
    )
    cat = cfg.load_catalogue()
    assert cat.feature_names == ("income", "grade")


def test_include_narrows_and_checks_names(tmp_path):
    cfg = config_from_dict({"dataset": {"catalogue": "builtin", "include": ["industry", "firm_age_years"]}})
    assert set(cfg.load_catalogue().feature_names) == {"industry", "firm_age_years"}
    bad = config_from_dict({"dataset": {"catalogue": "builtin", "include": ["industri"]}})
    with pytest.raises(ConfigError, match=r"include names item\(s\) \['industri'\]"):
        bad.load_catalogue()


def test_inline_feature_errors_name_the_path():
    with pytest.raises(ConfigError, match=r"dataset.features\[0\].type"):
        config_from_dict({"dataset": {"features": [{"id": "a", "type": "number"}]}}, source="x.yaml")


def test_the_supervision_policy_loads_and_is_checked(tmp_path):
    from credit_grading.config.policy import load_policy

    policy = load_policy()
    assert [policy.tier(t).inspection_ratio for t in "ABCD"] == [0.02, 0.05, 0.2, 0.6]
    assert {m["code"] for m in policy.measures_of("D")} >= {"joint_punishment", "public_disclosure"}
    assert all(m["zh"] and m["en"] for t in "ABCDM" for m in policy.measures_of(t))
    assert policy.publication.rules == ("serious_untrustworthy", "dishonest_debtor")
    bad = tmp_path / "p.yaml"
    text = builtin_text("supervision.yaml").replace("inspection_ratio: 0.60", "inspection_ratio: 0.01")
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="must not fall from tier A to tier D"):
        load_policy(bad)
    bad.write_text(builtin_text("supervision.yaml").replace("[green_channel, ", "[golden_channel, "), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tier A names measure\(s\) \['golden_channel'\]"):
        load_policy(bad)


def builtin_text(name):
    from credit_grading._resources import builtin_config

    return builtin_config(name).read_text(encoding="utf-8")


def test_small_data_settings_default_to_automatic_and_are_checked(config, tmp_path):
    g = config.gbm
    assert (g.num_leaves, g.learning_rate, g.early_stopping_rounds, g.min_data_in_leaf) == (None,) * 4
    assert str(config.model.champion) == "auto" and config.model_name == "credit_grading"
    cv = config.evaluation.cv
    assert (str(cv.mode), cv.folds, cv.repeats, cv.max_rows) == ("auto", 5, 3, 5_000)
    assert str(config.grading.fit.grades) == "auto" and str(config.grading.fit.sample) == "auto"
    p = write(
        tmp_path,
        """
        dataset: {catalogue: builtin}
        model: {champion: best}
        evaluation: {cv: {folds: 1, mode: sometimes}}
        grading: {fit: {grades: many, sample: train}}
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert "5 problem(s)" in msg
    for key in ("model.champion", "evaluation.cv.folds", "evaluation.cv.mode", "grading.fit.grades",
                "grading.fit.sample"):  # fmt: skip
        assert key in msg
    assert "'auto'" in msg and "'oof'" in msg
