import numpy as np
import pandas as pd
import pytest

from credit_grading.binning import BinningSpec, binning_table, fit_binning, training_frame, woe_matrix
from credit_grading.binning.fit import _fit_params
from credit_grading.catalogue import CatalogueItem, Direction, ItemType
from credit_grading.config import BinningConfig
from credit_grading.engine.slots import numeric_slots
from credit_grading.exceptions import DataError


@pytest.fixture(scope="module")
def spec(catalogue, train_frame):
    y = train_frame["bad_12m"].to_numpy().astype(int)
    return fit_binning(train_frame, y, list(catalogue.features), BinningConfig())


def test_monotone_trend_follows_the_catalogue(spec, catalogue):
    checked = 0
    for item in catalogue.features:
        if item.type is not ItemType.NUMERIC or item.direction is Direction.NONE:
            continue
        f = spec[item.id]
        rates = [b.event_rate for b in f.bins if b.kind == "regular"]
        if len(rates) < 2:
            continue
        diffs = np.diff(rates)
        if item.direction is Direction.INCREASING:
            assert (diffs >= -1e-12).all(), (item.id, rates)
        else:
            assert (diffs <= 1e-12).all(), (item.id, rates)
        checked += 1
    assert checked >= 10


def test_bins_respect_min_size_and_have_special_and_missing(spec, train_frame):
    n = len(train_frame)
    f = spec["employees_insured"]
    regular = [b for b in f.bins if b.kind == "regular"]
    assert all(b.count >= 0.05 * n - 1 for b in regular)
    assert [b.kind for b in f.bins[-2:]] == ["special", "missing"]
    # The special code -1 (headcount withheld) and missing values have bins of their own.
    assert f.bins[-2].count == int((train_frame["employees_insured"] == -1).sum())
    assert f.bins[-1].count == int(train_frame["employees_insured"].isna().sum())
    assert f.special_codes == (-1.0,)
    assert sum(b.count for b in f.bins) == n


def test_rare_flags_keep_their_adverse_bin(spec):
    f = spec["dishonest_debtor_flag"]
    assert f.n_regular == 2
    assert f.bins[1].event_rate > 4 * f.bins[0].event_rate


def test_categorical_rare_levels_are_merged(catalogue, train_frame):
    y = train_frame["bad_12m"].to_numpy().astype(int)
    item = catalogue.item("industry")
    spec = fit_binning(train_frame, y, [item], BinningConfig(cat_cutoff=0.02))
    f = spec["industry"]
    levels = [lv for g in f.groups for lv in g]
    assert sorted(levels) == sorted(train_frame["industry"].dropna().unique().tolist())
    rare = train_frame["industry"].value_counts(normalize=True)
    rare = set(rare[rare < 0.02].index)
    assert rare, "the synthetic registry has rare industries"
    assert any(rare <= set(g) for g in f.groups)  # all rare levels share one group


def test_woe_equals_optbinning_transform(spec, catalogue, train_frame):
    from optbinning import BinningProcess

    items = list(catalogue.features)
    frame = training_frame(train_frame, items)
    cfg = BinningConfig()
    process = BinningProcess(
        [i.id for i in items],
        categorical_variables=[i.id for i in items if i.type is ItemType.CATEGORICAL],
        max_n_prebins=cfg.max_n_prebins,
        max_n_bins=cfg.max_n_bins,
        min_bin_size=cfg.min_bin_size,
        binning_fit_params={i.id: _fit_params(i, cfg) for i in items},
    )
    process.fit(frame, train_frame["bad_12m"].to_numpy().astype(int))
    ref = process.transform(frame, metric="woe", metric_special="empirical", metric_missing="empirical")
    ours = woe_matrix(spec, train_frame)
    np.testing.assert_array_equal(ours, ref[list(spec.names)].to_numpy())


def test_json_round_trip(spec, train_frame, tmp_path):
    path = tmp_path / "binning.json"
    spec.to_json(path)
    again = BinningSpec.from_json(path)
    assert again == spec
    np.testing.assert_array_equal(woe_matrix(again, train_frame), woe_matrix(spec, train_frame))


def test_binning_table(spec):
    t = binning_table(spec, ["tax_credit_rating"])
    assert list(t.columns) == ["feature", "bin", "kind", "label", "count", "count_event", "event_rate", "woe", "iv"]
    assert t["iv"].sum() == pytest.approx(spec["tax_credit_rating"].iv)
    assert "A" in t["label"].iloc[0]


def test_numeric_slots_follow_optbinning_rules():
    splits = np.array([0.0, 10.0])
    x = np.array([-np.inf, -1.0, 0.0, 5.0, 10.0, np.inf, np.nan, -9.0])
    # [.., 0) -> 0, [0, 10) -> 1, [10, ..) -> 2, NaN -> 3 (missing), special -> 4
    assert numeric_slots(x, splits, np.array([-9.0])).tolist() == [0, 0, 1, 1, 2, 2, 3, 4]
    assert np.digitize(x[:6], splits, right=False).tolist() == numeric_slots(x[:6], splits).tolist()


def test_bad_target_is_refused(catalogue, train_frame):
    item = catalogue.item("firm_age_years")
    with pytest.raises(DataError, match="one-dimensional array of 0 and 1"):
        fit_binning(train_frame, np.full(len(train_frame), 2), [item])
    with pytest.raises(DataError, match="single class"):
        fit_binning(train_frame, np.zeros(len(train_frame), int), [item])


def test_config_overrides_trend_and_specials():
    item = CatalogueItem(id="x", type="numeric", direction="increasing", special_codes=[-1])
    cfg = BinningConfig(features={"x": {"monotonic_trend": "peak", "special_codes": [-7, -8], "max_n_bins": 3}})
    params = _fit_params(item, cfg)
    assert params["monotonic_trend"] == "peak"
    assert params["special_codes"] == [-7, -8]
    assert params["max_n_bins"] == 3
    assert _fit_params(item, BinningConfig())["monotonic_trend"] == "ascending"
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert training_frame(frame, [item])["x"].dtype == np.float64
