import numpy as np
import pandas as pd
import pytest

from credit_grading.catalogue import Direction, ItemType
from credit_grading.engine.gbm import CompiledGbm, encode_matrix
from credit_grading.engine.reasons import top_k_contributions
from credit_grading.gbm import GbmModel
from credit_grading.specs.gbm import GbmSpec


@pytest.fixture(scope="module")
def gbm(trained):
    return trained.gbm


@pytest.fixture(scope="module")
def sample(trained):
    return trained.splits.test.iloc[:3000]


def test_monotone_constraints_follow_the_catalogue(gbm, catalogue):
    spec = gbm.spec_
    for f in spec.features:
        item = catalogue.item(f.name)
        if item.type is ItemType.CATEGORICAL:
            assert f.monotone == 0 and f.levels == item.level_codes
        else:
            assert f.monotone == {Direction.INCREASING: 1, Direction.DECREASING: -1, Direction.NONE: 0}[item.direction]
    assert spec.params["monotone_constraints"] == [f.monotone for f in spec.features]
    assert spec.params["deterministic"] is True


def test_moving_one_feature_never_moves_risk_against_its_direction(gbm, sample):
    engine = gbm.compiled()
    rows = sample.iloc[:300]
    x = engine.matrix(rows)
    checked = 0
    for j, f in enumerate(gbm.spec_.features):
        if f.monotone == 0:
            continue
        col = x[:, j]
        finite = col[np.isfinite(col)]
        grid = np.unique(np.quantile(finite, np.linspace(0, 1, 15))) if finite.size else np.array([0.0])
        grid = np.unique(np.concatenate([grid, [grid.min() - 1, grid.max() * 2 + 1]]))
        margins = []
        for v in grid:
            xv = x.copy()
            xv[:, j] = v
            margins.append(engine.margin(xv))
        steps = np.diff(np.vstack(margins), axis=0) * f.monotone
        assert (steps >= -1e-12).all(), f.name
        checked += 1
    assert checked >= 20


def test_training_is_deterministic(config, trained):
    again = GbmModel(config).fit(trained.splits.train, trained.splits.valid)
    assert again.spec_.model_text == trained.gbm.spec_.model_text


def test_unseen_levels_score_as_missing(gbm, sample):
    engine = gbm.compiled()
    rows = sample.iloc[:50].copy()
    rows["industry"] = rows["industry"].astype(object)
    as_missing = rows.copy()
    as_missing["industry"] = None
    rows["industry"] = "Z"
    _x, unseen = encode_matrix(gbm.spec_.features, rows)
    assert unseen == {"industry": 50}
    np.testing.assert_array_equal(engine.margin(rows), engine.margin(as_missing))


def test_spec_round_trip_gives_identical_margins(gbm, sample, tmp_path):
    path = tmp_path / "gbm.json"
    gbm.spec_.to_json(path)
    again = GbmSpec.from_json(path)
    assert again == gbm.spec_
    np.testing.assert_array_equal(CompiledGbm(again).margin(sample), gbm.compiled().margin(sample))
    assert again.model_text.startswith("tree\n")


def test_contributions_add_up_to_the_margin(gbm, sample):
    engine = gbm.compiled()
    contrib = engine.contributions(sample, chunk_rows=700)
    assert contrib.shape == (len(sample), len(gbm.spec_.features) + 1)
    np.testing.assert_allclose(contrib.sum(axis=1), engine.margin(sample), rtol=0, atol=1e-6)


def test_contributions_match_shap_tree_explainer(gbm, sample):
    import shap

    engine = gbm.compiled()
    rows = sample.iloc[:200]
    x = engine.matrix(rows)
    ours = engine.contributions(x)
    explainer = shap.TreeExplainer(engine.booster)
    theirs = explainer.shap_values(x)
    theirs = theirs[1] if isinstance(theirs, list) else theirs
    np.testing.assert_allclose(ours[:, :-1], theirs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours[:, -1], np.ravel(explainer.expected_value)[-1], rtol=0, atol=1e-6)


def test_shap_reasons_are_the_largest_positive_contributions(gbm, sample):
    engine = gbm.compiled()
    contrib = engine.contributions(sample.iloc[:500])
    idx, val = engine.reasons(contrib, 3)
    assert idx.dtype == np.int16 and idx.shape == (500, 3)
    c = contrib[:, :-1]
    for i in range(0, 500, 37):
        order = sorted(range(c.shape[1]), key=lambda j: (-c[i, j], j))
        expected = [j if c[i, j] > 0 else -1 for j in order[:3]]
        assert idx[i].tolist() == expected
        assert val[i][idx[i] >= 0].tolist() == [c[i, j] for j in expected if j >= 0]
    ties = np.array([[0.5, 0.5, -1.0, 0.0]])
    assert top_k_contributions(ties, 3)[0].tolist() == [[0, 1, -1]]


def test_missing_target_is_refused(config, trained):
    bad = trained.splits.train.iloc[:100].copy()
    bad["bad_12m"] = pd.array([None] * 100, dtype="Int8")
    with pytest.raises(ValueError, match="target must be 0 or 1"):
        GbmModel(config).fit(bad)
