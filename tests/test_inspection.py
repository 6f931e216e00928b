"""Random-inspection plans: reproducible, stratified at the policy's ratios, fresh inspector pairs."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from credit_grading.cli import app
from credit_grading.config.policy import load_policy
from credit_grading.exceptions import DataError
from credit_grading.grading import decide
from credit_grading.grading.inspection import draw_inspection_plan
from credit_grading.synth import generate_inspectors

runner = CliRunner()
DATE = dt.date(2026, 1, 15)


@pytest.fixture(scope="module")
def grades(trained):
    return decide(trained.model, trained.splits.test, carry=("district", "industry"))[0]


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def roster():
    return generate_inspectors(40, seed=3)


def _draw(grades, policy, roster, **kw):
    kw.setdefault("seed", 11)
    kw.setdefault("plan_date", DATE)
    return draw_inspection_plan(grades, policy, roster, **kw)


def test_same_seed_same_plan_whatever_the_row_order(grades, policy, roster):
    a = _draw(grades, policy, roster)
    b = _draw(grades.sample(frac=1.0, random_state=4), policy, roster)
    pd.testing.assert_frame_equal(a.plan, b.plan)
    c = _draw(grades, policy, roster, seed=12)
    assert set(c.plan["uscc"]) != set(a.plan["uscc"])


def test_per_tier_sample_sizes_match_the_ratios(grades, policy, roster):
    res = _draw(grades, policy, roster)
    tiers = grades["tier"].astype(str).value_counts()
    drawn = res.plan["tier"].value_counts()
    for tier in ("A", "B", "C", "D", "M"):
        n = int(tiers.get(tier, 0))
        expected = int(np.floor(policy.tier(tier).inspection_ratio * n + 0.5))
        assert n > 0
        assert int(drawn.get(tier, 0)) == expected, tier
    s = res.summary.set_index("tier")
    assert (s["drawn"] == s["target"]).all()
    # Drawn entities really are in the tier the plan says.
    merged = res.plan.merge(grades[["uscc", "tier"]].astype({"tier": str}), on="uscc", suffixes=("", "_g"))
    assert (merged["tier"] == merged["tier_g"]).all() and len(merged) == len(res.plan)


def test_stratifying_by_district_keeps_tier_totals_and_shares(grades, policy, roster):
    res = _draw(grades, policy, roster, by=("district",))
    plain = _draw(grades, policy, roster)
    assert res.plan["tier"].value_counts().to_dict() == plain.plan["tier"].value_counts().to_dict()
    g = grades.astype({"tier": str, "district": str})
    for tier in ("A", "C"):
        pop = g[g["tier"] == tier]["district"].value_counts()
        got = res.plan[res.plan["tier"] == tier]["district"].astype(str).value_counts().reindex(pop.index, fill_value=0)
        target = pop * len(res.plan[res.plan["tier"] == tier]) / pop.sum()
        assert (np.abs(got - target) < 1.0 + 1e-9).all(), tier


def test_each_entity_gets_distinct_inspectors_from_the_roster(grades, policy, roster):
    res = _draw(grades, policy, roster, inspectors_per_entity=3)
    ins = res.plan[["inspector_1", "inspector_2", "inspector_3"]].to_numpy()
    assert all(len(set(r)) == 3 for r in ins.tolist())
    assert set(ins.ravel()) <= set(roster["inspector_id"])
    assert res.workload["entities"].sum() == 3 * len(res.plan)
    # Random assignment spreads the work: nobody gets more than twice the average.
    assert res.workload["entities"].max() < 2 * res.workload["entities"].mean()


def test_no_inspector_entity_pair_repeats_from_the_previous_plan(grades, policy):
    small = generate_inspectors(4, seed=1)  # few inspectors: repeats would be likely
    first = _draw(grades, policy, small, seed=1)
    second = _draw(grades, policy, small, seed=2, previous=first.plan, plan_date=dt.date(2027, 1, 15))
    pairs = lambda p: {(u, i) for c in ("inspector_1", "inspector_2") for u, i in zip(p["uscc"], p[c], strict=True)}  # noqa: E731
    assert pairs(first.plan) & pairs(second.plan) == set()
    again = set(first.plan["uscc"]) & set(second.plan["uscc"])
    assert len(again) > 50  # the check above really covered entities drawn twice


def test_entities_at_their_yearly_maximum_are_not_drawn(grades, policy, roster):
    first = _draw(grades, policy, roster, seed=1)
    # Tier A allows one inspection a year: those drawn in January are not drawn again this year.
    later = _draw(grades, policy, roster, seed=2, previous=first.plan, plan_date=dt.date(2026, 6, 1))
    a_first = set(first.plan.loc[first.plan["tier"] == "A", "uscc"])
    a_later = set(later.plan.loc[later.plan["tier"] == "A", "uscc"])
    assert a_first and a_later and not a_first & a_later
    s = later.summary.set_index("tier")
    assert s.loc["A", "eligible"] == s.loc["A", "entities"] - len(a_first)
    # Tier D allows four: its entities stay eligible.
    assert s.loc["D", "eligible"] == s.loc["D", "entities"]


def test_bad_inputs_give_clear_errors(grades, policy, roster):
    with pytest.raises(DataError, match="at least two inspectors"):
        _draw(grades, policy, roster, inspectors_per_entity=1)
    with pytest.raises(DataError, match="needs an 'inspector_id' column"):
        _draw(grades, policy, roster.rename(columns={"inspector_id": "id"}))
    with pytest.raises(DataError, match="has no column 'zone'"):
        _draw(grades, policy, roster, by=("zone",))
    bad = grades.head(10).astype({"tier": str})
    bad.loc[3, "tier"] = "Z"
    with pytest.raises(DataError, match="row 4 of the grades table has tier 'Z'"):
        _draw(bad, policy, roster)
    two = generate_inspectors(2, seed=0)
    first = _draw(grades, policy, two, seed=1)
    with pytest.raises(DataError, match="cannot get 2 inspectors who did not inspect it before"):
        _draw(grades, policy, two, seed=1, previous=first.plan, plan_date=dt.date(2027, 1, 1))


def test_inspection_plan_command(tmp_path, grades):
    g = tmp_path / "grades.parquet"
    grades.to_parquet(g)
    r = tmp_path / "inspectors.csv"
    assert runner.invoke(app, ["synth-roster", "--out", str(r), "--count", "30"]).exit_code == 0
    args = ["inspection-plan", "--grades", str(g), "--inspectors", str(r), "--seed", "5", "--date", "2026-02-01",
            "--by", "district"]  # fmt: skip
    res1 = runner.invoke(app, [*args, "--out", str(tmp_path / "p1.csv")])
    assert res1.exit_code == 0, res1.output
    res2 = runner.invoke(app, [*args, "--out", str(tmp_path / "p2.csv")])
    assert (tmp_path / "p1.csv").read_bytes() == (tmp_path / "p2.csv").read_bytes()
    assert "Random-inspection plan, seed 5" in res1.output and "tier" in res1.output
    plan = pd.read_csv(tmp_path / "p1.csv")
    assert f"{len(plan):,} entities, 2 inspectors each" in res2.output
    res3 = runner.invoke(app, [*args[:-2], "--previous", str(tmp_path / "p1.csv"), "--out", str(tmp_path / "p3.csv")])
    assert res3.exit_code == 0, res3.output
    p3 = pd.read_csv(tmp_path / "p3.csv")
    old = {(u, i) for c in ("inspector_1", "inspector_2") for u, i in zip(plan["uscc"], plan[c], strict=True)}
    new = {(u, i) for c in ("inspector_1", "inspector_2") for u, i in zip(p3["uscc"], p3[c], strict=True)}
    assert not old & new
