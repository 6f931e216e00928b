"""Master scale, fitted cut-offs, override rules, manual overrides and hysteresis."""

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_grading.config import config_from_dict
from credit_grading.config.grading import Action, Condition, GradingConfig, OverrideRule
from credit_grading.exceptions import BundleError, ConfigError, DataError
from credit_grading.grading import Grader, decide, fit_scale, grade_table, manual_overrides_from_frame
from credit_grading.grading.fit import _loglik, _search
from credit_grading.specs.grading import GradeScaleSpec
from credit_grading.stats import two_proportion_pvalue

SCALE = GradeScaleSpec(("G1", "G2", "G3", "G4"), ("A", "B", "C", "D"), (0.01, 0.05, 0.2))


@pytest.fixture(scope="module")
def graded(trained):
    return decide(trained.model, trained.splits.test, reasons=2)


# ---------------------------------------------------------------- the master scale


def test_grade_bands_are_closed_above():
    got = SCALE.grade_index([0.0, 0.01, 0.010001, 0.05, 0.2, 0.2000001, 0.999])
    assert got.tolist() == [0, 0, 1, 1, 2, 3, 3]
    assert SCALE.bands()[1] == (0.01, 0.05)


@given(st.lists(st.floats(1e-6, 1 - 1e-6), min_size=2, max_size=50))
def test_grade_never_improves_as_pd_rises(pds):
    p = np.sort(np.asarray(pds))
    assert np.all(np.diff(SCALE.grade_index(p)) >= 0)


def test_scale_checks_its_parts_and_round_trips():
    with pytest.raises(BundleError, match="increase strictly"):
        GradeScaleSpec(("a", "b", "c"), ("A", "B", "C"), (0.2, 0.1))
    with pytest.raises(BundleError, match="must not improve"):
        GradeScaleSpec(("a", "b"), ("B", "A"), (0.1,))
    assert GradeScaleSpec.from_json(SCALE.to_json()) == SCALE


def test_grading_config_is_validated():
    with pytest.raises(ConfigError, match="tier A to tier D in order"):
        config_from_dict(
            {"dataset": {}, "grading": {"grades": [{"name": "x", "tier": "B"}, {"name": "y", "tier": "A"}]}}
        )
    with pytest.raises(ConfigError, match="pd_max on every grade"):
        config_from_dict(
            {
                "dataset": {},
                "grading": {"cutoffs": "fixed", "grades": [{"name": "x", "tier": "A"}, {"name": "y", "tier": "D"}]},
            }
        )
    with pytest.raises(ConfigError, match="exactly one of eq"):
        config_from_dict(
            {
                "dataset": {},
                "grading": {
                    "overrides": [{"id": "r", "when": {"item": "x", "eq": 1, "gt": 0}, "then": {"status": "M"}}]
                },
            }
        )
    with pytest.raises(ConfigError, match="names tier 'D', which no grade"):
        config_from_dict(
            {"dataset": {}, "grading": {"grades": [{"name": "x", "tier": "A"}, {"name": "y", "tier": "B"}]}}
        )


def test_fixed_cutoffs_come_from_the_config():
    cfg = GradingConfig(cutoffs="fixed")
    scale = fit_scale(None, None, cfg)
    assert scale.cutoffs == (0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32)
    assert scale.tiers == ("A", "A", "A", "B", "B", "C", "C", "D", "D")


# ---------------------------------------------------------------- fitted cut-offs


def test_fitted_grades_meet_every_constraint_on_the_development_sample(trained):
    scale = trained.model.scale
    t = pd.DataFrame(scale.table)
    fit = GradingConfig().fit
    assert scale.method == "fitted" and len(t) == 9
    assert (t["count"] >= fit.min_count).all()
    assert (t["share"] <= fit.max_share + 1e-12).all()
    assert np.all(np.diff(t["bad_rate"]) > 0)
    assert (t["p_vs_better"].iloc[1:] < fit.alpha).all()
    assert scale.meta["hhi"] == pytest.approx((t["share"] ** 2).sum())


def test_out_of_time_bad_rates_rise_strictly_and_no_grade_holds_over_35_percent(trained):
    t = pd.DataFrame(trained.evaluation["grades"]["test"])
    assert t["count"].sum() == len(trained.splits.test)
    assert np.all(np.diff(t["bad_rate"].to_numpy()) > 0), t[["grade", "bad_rate"]]
    assert t["share"].max() <= 0.35
    # The grade table is recomputed the same way from the scale and the test PDs.
    again = grade_table(trained.model.scale, decide(trained.model, trained.splits.test)[0]["pd"],
                        trained.splits.test["bad_12m"])  # fmt: skip
    pd.testing.assert_frame_equal(again, t, check_dtype=False)


def _brute_force(counts, bads, k, min_count, max_count, alpha):
    m = len(counts)
    best, best_starts = -np.inf, None
    for cuts in itertools.combinations(range(1, m), k - 1):
        edges = (0, *cuts, m)
        n = np.array([counts[a:b].sum() for a, b in itertools.pairwise(edges)], dtype=float)
        d = np.array([bads[a:b].sum() for a, b in itertools.pairwise(edges)], dtype=float)
        if (n < min_count).any() or (n > max_count).any():
            continue
        rate = d / n
        if not np.all(np.diff(rate) > 0):
            continue
        if not np.all(two_proportion_pvalue(d[:-1], n[:-1], d[1:], n[1:]) < alpha):
            continue
        ll = _loglik(d, n).sum()
        if ll > best + 1e-9:
            best, best_starts = ll, list(edges[:-1])
    return best, best_starts


@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_cutoff_search_finds_the_exhaustive_optimum(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(40, 120, 12)
    rates = np.sort(rng.uniform(0.005, 0.4, 12))
    bads = rng.binomial(counts, rates)
    best, starts = _brute_force(counts, bads, 4, 60, 0.4 * counts.sum(), 0.05)
    got = _search(counts, bads, 4, 60, 0.4 * counts.sum(), 0.05)
    assert got == starts
    assert got is not None  # the seeds are chosen so that a solution exists
    edges = [*got, 12]
    ll = sum(
        _loglik(np.array([bads[a:b].sum()]), np.array([counts[a:b].sum()]))[0] for a, b in itertools.pairwise(edges)
    )
    assert ll == pytest.approx(best)


def test_infeasible_grades_give_a_clear_error():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.2, 300)
    y = (rng.random(300) < p).astype(float)
    with pytest.raises(DataError, match=r"cannot fit 9 grades \(nor any number down to 4, one grade per tier\) on 300"):
        fit_scale(p, y, GradingConfig())
    with pytest.raises(DataError, match="cannot fit 9 grades on 300 rows"):
        fit_scale(p, y, GradingConfig(fit={"grades": "all"}))


def test_auto_grades_fit_the_most_the_data_supports_and_say_which_constraint_bound():
    rng = np.random.default_rng(1)
    p = np.exp(rng.normal(np.log(0.05), 1.0, 2500)).clip(1e-4, 0.9)
    y = (rng.random(2500) < p).astype(float)
    cfg = GradingConfig()
    with pytest.raises(DataError, match="cannot fit 9 grades on 2,500 rows"):
        fit_scale(p, y, GradingConfig(fit={"grades": "all"}))
    scale = fit_scale(p, y, cfg)
    k = scale.n_grades
    info = scale.meta["grades"]
    assert 4 <= k < 9 and info == {**info, "mode": "auto", "configured": 9, "fitted": k}
    assert set(scale.tiers) == {"A", "B", "C", "D"} and list(scale.grades) == info["kept"]
    assert list(scale.grades) == [n for n in cfg.grade_names if n in scale.grades]  # the configured order
    # The fitted table meets every constraint; one grade more is infeasible, and relaxing the
    # constraint named as binding (alone) makes it feasible.
    t = pd.DataFrame(scale.table)
    assert (t["count"] >= 50).all() and (t["share"] <= 0.35 + 1e-12).all() and (t["p_vs_better"].iloc[1:] < 0.05).all()
    from credit_grading.grading.fit import _prebins

    ps, ys = np.sort(p), y[np.argsort(p, kind="mergesort")]
    bounds = _prebins(ps, 100)
    g = np.searchsorted(bounds, ps, side="left")
    counts, bads = np.bincount(g, minlength=len(bounds) + 1), np.bincount(g, weights=ys, minlength=len(bounds) + 1)
    assert _search(counts, bads, k + 1, 50, 0.35 * 2500, 0.05) is None
    assert info["binding"] and info["reason"].startswith(f"{k + 1} grades cannot be fitted on 2,500 rows")
    relax = {"min_count": (1, 0.35 * 2500, 0.05), "max_share": (50, 2500.0, 0.05), "alpha": (50, 0.35 * 2500, 1.0)}
    for b in info["binding"]:
        key = b.split(" ")[0]
        assert _search(counts, bads, k + 1, *relax[key]) is not None, b
    # A scale that fits in full says so and keeps every grade.
    four = [{"name": f"G{i}", "tier": t} for i, t in enumerate("ABCD")]
    full = fit_scale(p, y, GradingConfig(grades=four, overrides=[]))
    assert full.meta["grades"] == {"mode": "auto", "configured": 4, "fitted": 4} and full.n_grades == 4


def test_a_smaller_scale_keeps_every_tier_and_every_grade_a_rule_names():
    from credit_grading.grading.fit import min_grades, scale_subset

    cfg = GradingConfig()
    names = cfg.grade_names
    picks = {k: [names[i] for i in scale_subset(cfg, k)] for k in range(4, 10)}
    assert picks[9] == list(names) and picks[8] == ["AAA", "A", "BBB", "BB", "B", "CCC", "CC", "C"]
    assert picks[4] == ["A", "BB", "CCC", "C"] and min_grades(cfg) == 4
    for k, p in picks.items():
        assert len(p) == k and {cfg.grades[names.index(n)].tier for n in p} == {"A", "B", "C", "D"}
    rule = OverrideRule(id="cap", when=Condition(item="x", eq=1), then=Action(no_better_than_grade="AA"))
    named = GradingConfig(overrides=[rule])
    assert "AA" in [names[i] for i in scale_subset(named, 4)] and len(scale_subset(named, 4)) == 4


# ---------------------------------------------------------------- override rules


def test_every_rule_acts_as_written_and_the_counts_add_up(graded, trained):
    out, res = graded
    data = trained.splits.test
    model_tier, tier, grade = out["model_tier"].astype(str), out["tier"].astype(str), out["grade"].astype(str)
    serious = data["serious_untrustworthy_flag"].to_numpy() == 1
    debtor = data["dishonest_debtor_flag"].to_numpy() == 1
    abnormal = data["abnormal_operations_flag"].to_numpy() == 1
    new = (data["firm_age_years"].to_numpy() < 1) & data["tax_credit_rating"].isna().to_numpy()
    assert serious.sum() > 10 and debtor.sum() > 50 and abnormal.sum() > 200 and new.sum() > 500

    assert (tier[serious | debtor] == "D").all()
    assert (tier[abnormal & ~serious & ~debtor & ~new] != "A").all()
    assert (tier[new & ~serious & ~debtor] == "M").all()
    # Rows no rule matched keep the model's decision; the rest only ever get worse (or M).
    none = ~(serious | debtor | abnormal | new)
    assert (grade[none] == out["model_grade"].astype(str)[none]).all()
    assert out["override"][none].isna().all()
    # The rule named is the one that made the change; abnormal operations only moves tier A.
    changed_by_abnormal = out["override"].astype(str) == "abnormal_operations"
    assert (model_tier[changed_by_abnormal] == "A").all() and (grade[changed_by_abnormal] == "BBB").all()

    report = res.override_report().set_index("rule")
    assert report.loc["serious_untrustworthy", "matched"] == serious.sum()
    assert report.loc["dishonest_debtor", "matched"] == debtor.sum()
    assert report.loc["abnormal_operations", "matched"] == abnormal.sum()
    assert report.loc["new_entity_no_tax_history", "matched"] == new.sum()
    assert report["changed"].sum() == out["override"].notna().sum()
    moved = (out["grade"].astype(str) != out["model_grade"].astype(str)).to_numpy()
    assert out["override"][moved].notna().all()  # (a rule may also move a row away and back: M, then D)
    summary = res.summary()
    assert sum(summary["tier_counts"].values()) == len(out)
    assert summary["overridden"] == report["changed"].sum()
    # Every matched rule is listed on the row.
    listed = out["rules_matched"].astype(str)
    assert listed[serious].str.contains("serious_untrustworthy").all()
    assert not listed[~serious].str.contains("serious_untrustworthy").any()


def test_a_later_rule_wins_over_status_m(trained):
    data = trained.splits.test.head(50).copy()
    data["firm_age_years"] = 0.5
    data["tax_credit_rating"] = pd.Categorical([None] * 50, categories=data["tax_credit_rating"].cat.categories)
    data["serious_untrustworthy_flag"] = [1.0] * 10 + [0.0] * 40
    data["dishonest_debtor_flag"] = 0.0
    out, _ = decide(trained.model, data)
    assert (out["tier"].astype(str)[:10] == "D").all() and (out["grade"].astype(str)[:10] == "CC").all()
    assert (out["override"].astype(str)[:10] == "serious_untrustworthy").all()
    assert (out["tier"].astype(str)[10:] == "M").all()


def test_rule_conditions_on_categories_and_missing_counts(trained):
    data = trained.splits.test
    rules = (
        OverrideRule(id="tax_d", when=Condition(item="tax_credit_rating", **{"in": ("D",)}), then=Action(no_better_than_grade="CCC")),
        OverrideRule(id="thin", when=Condition(missing_at_least=6), then=Action(status="M")),
    )  # fmt: skip
    g = Grader(trained.model.scale, rules, features=trained.model.gbm.feature_names)
    res = g.grade(data, np.full(len(data), 0.001))
    frame = res.frame()
    tax_d = (data["tax_credit_rating"] == "D").to_numpy()
    thin = data[list(trained.model.gbm.feature_names)].isna().sum(axis=1).to_numpy() >= 6
    assert tax_d.sum() > 0 and thin.sum() > 0
    assert (frame["grade"].astype(str)[tax_d & ~thin] == "CCC").all()
    assert (frame["grade"].astype(str)[thin] == "M").all()
    assert (frame["grade"].astype(str)[~tax_d & ~thin] == "AAA").all()


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        (Condition(item="no_such_item", eq=1), "tests item 'no_such_item'"),
        (Condition(item="tax_credit_rating", eq="Z"), "has no level 'Z'"),
        (Condition(item="tax_credit_rating", gt=1), "cannot be compared with gt"),
        (Condition(item="firm_age_years", eq="old"), "needs a number"),
    ],
)
def test_bad_rules_name_the_rule_and_the_problem(trained, cond, message):
    g = Grader(trained.model.scale, (OverrideRule(id="r1", when=cond, then=Action(status="M")),))
    with pytest.raises(ConfigError, match=message) as info:
        g.grade(trained.splits.test.head(5), np.full(5, 0.01))
    assert "'r1'" in str(info.value)


# ---------------------------------------------------------------- manual overrides


def test_manual_overrides_apply_expire_and_report(trained, graded):
    data = trained.splits.test
    out, _ = graded
    ids = data["uscc"].to_numpy()
    # Pick rows no rule touched, in tier A.
    plain = np.flatnonzero((out["override"].isna() & (out["tier"].astype(str) == "A")).to_numpy())
    a, b, c, d = ids[plain[:4]]
    table = pd.DataFrame(
        {
            "uscc": [a, b, c, "91110000MA00000000", d],
            "grade": ["CC", None, "C", "B", None],
            "tier": [None, "C", None, None, "M"],
            "reason": ["court ruling pending", "inspection found fraud", "old decision", "unknown firm", "files lost"],
            "approver": ["wang", "li", "zhang", "zhao", "qian"],
            "valid_until": ["2026-06-30", "2026-12-31", "2025-06-30", "2026-12-31", "2026-01-31"],
        }
    )
    manual = manual_overrides_from_frame(table, trained.model.scale.grades)
    res, g = decide(trained.model, data, manual=manual)
    by_id = res.set_index("uscc")
    assert by_id.loc[a, "grade"] == "CC" and by_id.loc[a, "tier"] == "D" and by_id.loc[a, "override"] == "manual"
    assert by_id.loc[a, "override_reason"] == "court ruling pending" and by_id.loc[a, "override_approver"] == "wang"
    assert by_id.loc[b, "grade"] == "B" and by_id.loc[b, "tier"] == "C"  # best grade of tier C from tier A
    assert by_id.loc[c, "override"] != "manual" and by_id.loc[c, "grade"] == by_id.loc[c, "model_grade"]  # expired
    assert by_id.loc[d, "grade"] == "M" and by_id.loc[d, "tier"] == "M"
    rep = g.summary()["manual"]
    assert rep["in_file"] == 5 and rep["applied"] == 3 and rep["changed"] == 3
    assert rep["expired"] == 1 and rep["expired_uscc"] == [c]
    assert rep["not_in_registry"] == 1
    report = g.override_report().set_index("rule")
    assert report.loc["manual", "changed"] == 3
    assert (res["override"] == "manual").sum() == 3


def test_a_bad_manual_override_file_names_line_column_and_value():
    table = pd.DataFrame(
        {
            "uscc": ["X1", "X2", "X2", ""],
            "grade": ["ZZ", "AA", "AA", "AA"],
            "tier": [None, "B", None, None],
            "reason": ["r", "r", "r", "r"],
            "approver": ["a", "a", "a", "a"],
            "valid_until": ["2026-01-01", "soon", "2026-01-01", "2026-01-01"],
        }
    )
    with pytest.raises(DataError) as info:
        manual_overrides_from_frame(table, (*SCALE.grades, "AA"), source="m.csv")
    msg = str(info.value)
    assert "line 2, grade = 'ZZ': not one of" in msg
    assert "line 3, grade = 'AA': give a grade or a tier, not both" in msg
    assert "line 3, valid_until = 'soon': not a date" in msg
    assert "line 4, uscc = 'X2': appears more than once" in msg
    assert "line 5, uscc = '': must not be empty" in msg
    with pytest.raises(DataError, match=r"missing column\(s\) \['approver'"):
        manual_overrides_from_frame(table.drop(columns="approver"), SCALE.grades)


# ---------------------------------------------------------------- hysteresis


def _flaps(grader, pd_months, data):
    prev = None
    moves = 0
    for p in pd_months:
        res = grader.grade(data, p, previous_grade=prev)
        g = res.frame()["model_grade"].astype(str).to_numpy()
        if prev is not None:
            moves += int((g != prev).sum())
        prev = g
    return moves, res


def test_hysteresis_is_off_by_default_and_damps_flapping_when_on(trained):
    data = trained.splits.test.head(4000)
    rng = np.random.default_rng(5)
    base = rng.uniform(-6, 0, len(data))  # log-odds
    months = [1 / (1 + np.exp(-(base + rng.normal(0, 0.15, len(data))))) for _ in range(6)]
    scale = trained.model.scale
    off_moves, off = _flaps(Grader(scale), months, data)
    assert off.held is None and "grade_held" not in off.frame().columns
    on_moves, _on = _flaps(Grader(scale, hysteresis_margin=0.3), months, data)
    assert on_moves < 0.5 * off_moves
    # A held grade is always within the margin of its band; a big move still moves.
    lo, hi = np.r_[0.0, scale.cutoffs], np.r_[scale.cutoffs, 1.0]
    prev = np.array(["AAA"] * 3)
    far = np.array([hi[0] * 20, hi[0] * 1.05, lo[0] + 1e-9])
    res = Grader(scale, hysteresis_margin=0.3).grade(data.head(3), far, previous_grade=prev)
    got = res.frame()["model_grade"].astype(str).tolist()
    assert got[0] != "AAA" and got[1] == "AAA" and got[2] == "AAA"
    assert res.held.tolist() == [False, True, False]


def test_hysteresis_travels_with_the_model(trained):
    from dataclasses import replace

    data = trained.splits.test.head(2000)
    first, _ = decide(trained.model, data)
    model = replace(trained.model, hysteresis_margin=0.5)
    # Same data again: previous grades equal the new ones, so nothing is held and nothing moves.
    again, _ = decide(model, data, previous=first)
    assert (again["grade"].astype(str) == first["grade"].astype(str)).all()
    assert (again["previous_grade"].astype(str) == first["grade"].astype(str)).all()
    assert not again["grade_held"].any()


def test_decide_carries_columns_and_names_the_model(trained):
    out, _ = decide(trained.model, trained.splits.test.head(20), carry=("district",), as_of=dt.date(2025, 12, 31))
    assert {"uscc", "as_of", "score", "pd", "grade", "tier", "override", "reason_1", "model_name", "model_version",
            "district"} <= set(out.columns)  # fmt: skip
    with pytest.raises(DataError, match="cannot carry"):
        decide(trained.model, trained.splits.test.head(5), carry=("nope",))


# ---------------------------------------------------------------- rules that push down never improve a grade

NINE = GradeScaleSpec(("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"), ("A", "A", "A", "B", "B", "C", "C", "D", "D"),
                      (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5))  # fmt: skip
_PUSH_DOWN = [Action(tier="D"), Action(status="M"), *(Action(no_better_than_tier=t) for t in "ABCD"),
              *(Action(no_better_than_grade=g) for g in NINE.grades), Action(grade="C")]  # fmt: skip


@settings(max_examples=300)
@given(
    pds=st.lists(st.floats(1e-5, 0.999), min_size=1, max_size=40),
    actions=st.lists(st.sampled_from(range(len(_PUSH_DOWN))), min_size=1, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_a_rule_that_pushes_down_never_gives_a_better_grade_than_the_model(pds, actions, seed):
    rng = np.random.default_rng(seed)
    n = len(pds)
    data = pd.DataFrame({f"f{i}": (rng.random(n) < 0.75).astype(float) for i in range(len(actions))})
    rules = tuple(OverrideRule(id=f"r{i}", when=Condition(item=f"f{i}", eq=1), then=_PUSH_DOWN[a])
                  for i, a in enumerate(actions))  # fmt: skip
    res = Grader(NINE, rules).grade(data, np.array(pds))
    k = NINE.n_grades
    graded = res.final_grade != k
    assert (res.final_grade[graded] >= res.model_grade[graded]).all()
    # Every rule that matched a row is listed on it, whether or not it changed the decision.
    listed = res.frame()["rules_matched"].astype(str)
    for i in range(len(rules)):
        hit = data[f"f{i}"].to_numpy() == 1
        assert listed[hit].str.split(";").map(lambda ids, r=f"r{i}": r in ids).all()


def test_a_blacklist_rule_after_status_m_keeps_the_model_grade_when_it_is_worse():
    """The demo's case: model grade C, new entity (M), then dishonest debtor → tier D must stay C, not CC."""
    data = pd.DataFrame({"new": [1.0, 1.0, 0.0], "debtor": [1.0, 1.0, 1.0]})
    rules = (OverrideRule(id="new", when=Condition(item="new", eq=1), then=Action(status="M")),
             OverrideRule(id="debtor", when=Condition(item="debtor", eq=1), then=Action(tier="D")))  # fmt: skip
    out = Grader(NINE, rules).grade(data, np.array([0.9, 0.001, 0.9])).frame()
    assert out["model_grade"].astype(str).tolist() == ["C", "AAA", "C"]
    assert out["grade"].astype(str).tolist() == ["C", "CC", "C"]
    assert out["rules_matched"].astype(str).tolist() == ["new;debtor", "new;debtor", "debtor"]


# ---------------------------------------------------------------- the outcome the models learn from


@pytest.mark.parametrize("estimator", ["scorecard", "gbm"])
def test_both_models_refuse_a_target_that_is_not_0_or_1_with_the_column_and_value(config, train_frame, estimator):
    from credit_grading.gbm import GbmModel
    from credit_grading.scorecard import Scorecard

    fit = (Scorecard if estimator == "scorecard" else GbmModel)(config).fit
    rows = train_frame.iloc[:400].copy()
    rows["bad_12m"] = rows["bad_12m"].astype(float)
    two = rows.copy()
    two.iloc[[7, 9], two.columns.get_loc("bad_12m")] = 2.0
    with pytest.raises(DataError, match=r"target must be 0 or 1 .*'bad_12m' is 2 on row 8 .*\(2 such row"):
        fit(two)
    missing = rows.copy()
    missing.iloc[3, missing.columns.get_loc("bad_12m")] = np.nan
    with pytest.raises(DataError, match=r"target must be 0 or 1 .*'bad_12m' is missing on row 4 "):
        fit(missing)
    single = rows.assign(bad_12m=0.0)
    with pytest.raises(DataError, match=r"'bad_12m' holds only 0 on all 400 row\(s\): .*both 0 and 1"):
        fit(single)
