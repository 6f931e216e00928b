"""Rewards: incentive measures with eligibility rules, and the entities each applies to."""

import numpy as np
import pandas as pd
import pytest
import yaml

from credit_grading.config.grading import Condition
from credit_grading.config.policy import load_policy
from credit_grading.exceptions import ConfigError
from credit_grading.grading.rules import incentive_codes, incentive_eligibility
from credit_grading.lists import read_memberships

KEYS = {"id_column": "uscc", "as_of_column": "as_of"}


def _grades() -> pd.DataFrame:
    return pd.DataFrame({
        "uscc": ["E1", "E2", "E3", "E4", "E5", "E6"],
        "as_of": pd.to_datetime(["2025-12-31"] * 6).date,
        "tier": ["A", "A", "A", "B", "A", "A"],
        "serious_untrustworthy_flag": [0, 0, 0, 0, 1, 0],
        "severe_penalties_24m": [0, 0, 0, 0, 0, 2],
    })  # fmt: skip


def _memberships():
    return read_memberships(pd.DataFrame([
        ["E2", "abnormal_operations", "samr", "2023-03-01", "2024-02-01"],  # ended 23 months ago
        ["E3", "r120000_serious_untrustworthy", "120000", "2025-11-02", None],  # active, a partner's list
        ["E4", "dishonest_debtor", "court", "2019-01-01", "2019-06-01"],
        ["E6", "abnormal_operations", "samr", "2026-02-01", None],  # not yet
    ], columns=["id", "list", "source", "start", "end"]))  # fmt: skip


def test_the_builtin_policy_offers_incentives_to_tier_a_with_a_clean_record():
    policy = load_policy()
    assert list(policy.incentives) == ["priority_handling", "simplified_procedures", "fewer_inspections"]
    assert policy.incentives["priority_handling"].eligibility.clean_years == 3
    assert policy.honour.incentives == ("priority_handling", "simplified_procedures")


def test_eligibility_follows_tier_clean_years_and_active_lists():
    policy = load_policy()
    got = incentive_eligibility(policy, _grades(), memberships=_memberships(), **KEYS)
    assert got.to_dict("list") == {
        # E1 clean; E2 listed until 23 months ago (clean for 1 year, not 3); E3 on a partner's list now;
        # E4 tier B; E5 flagged serious at the as-of date; E6 listed only after the as-of date.
        "priority_handling": [True, False, False, False, False, True],
        "simplified_procedures": [True, False, False, False, False, True],
        "fewer_inspections": [True, True, False, False, False, True],
    }
    assert incentive_codes(got).tolist() == ["priority_handling;simplified_procedures;fewer_inspections",
                                             "fewer_inspections", "", "", "",
                                             "priority_handling;simplified_procedures;fewer_inspections"]  # fmt: skip
    # Without the memberships only the as-of date's flags are seen.
    plain = incentive_eligibility(policy, _grades(), **KEYS)
    assert plain["priority_handling"].tolist() == [True, True, True, False, False, True]


def test_an_eligibility_condition_reads_registry_items():
    policy = load_policy()
    inc = policy.incentives["priority_handling"]
    strict = inc.model_copy(update={"eligibility": inc.eligibility.model_copy(
        update={"when": Condition(item="severe_penalties_24m", eq=0)})})  # fmt: skip
    policy = policy.model_copy(update={"incentives": {**policy.incentives, "priority_handling": strict}})
    got = incentive_eligibility(policy, _grades(), memberships=_memberships(), **KEYS)
    assert got["priority_handling"].tolist() == [True, False, False, False, False, False]  # E6: 2 severe penalties
    bad = strict.model_copy(update={"eligibility": strict.eligibility.model_copy(
        update={"when": Condition(item="no_such_item", eq=0)})})  # fmt: skip
    policy = policy.model_copy(update={"incentives": {"priority_handling": bad}})
    with pytest.raises(ConfigError, match="incentive 'priority_handling' tests item 'no_such_item'"):
        incentive_eligibility(policy, _grades(), **KEYS)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"honour": {"incentives": ["no_such"]}}, r"honour.incentives names unknown incentive\(s\) \['no_such'\]"),
        ({"incentives": {"green_channel": {"zh": "a", "en": "b"}}}, r"\['green_channel'\] are both a measure and"),
        ({"incentives": {"x": {"zh": "a", "en": "b", "eligibility": {"tiers": ["Q"]}}}}, r"incentive 'x': eligib"),
    ],
)
def test_a_policy_with_bad_incentives_is_refused(tmp_path, patch, message):
    from credit_grading._resources import builtin_config

    doc = yaml.safe_load(builtin_config("supervision.yaml").read_text(encoding="utf-8"))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc | patch, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_policy(tmp_path / "p.yaml")


def test_eligibility_is_vectorised_over_many_rows():
    policy = load_policy()
    n = 200_000
    rng = np.random.default_rng(3)
    grades = pd.DataFrame({"uscc": [f"E{i}" for i in range(n)], "as_of": pd.Timestamp("2025-12-31"),
                           "tier": rng.choice(list("ABCD"), n)})  # fmt: skip
    m = read_memberships(pd.DataFrame({"id": grades["uscc"].to_numpy()[:20_000:2], "list": "x", "source": "s",
                                       "start": "2024-01-01", "end": "2024-06-01"}))  # fmt: skip
    got = incentive_eligibility(policy, grades, memberships=m, **KEYS)
    tier_a = grades["tier"].to_numpy() == "A"
    listed = np.zeros(n, dtype=bool)
    listed[:20_000:2] = True
    assert (got["fewer_inspections"].to_numpy() == tier_a).all()  # ended 19 months ago: clean for 1 year, not 3
    assert (got["priority_handling"].to_numpy() == (tier_a & ~listed)).all()


def test_decision_reports_show_the_incentives_that_apply(bundle):
    from dataclasses import replace

    import jsonschema

    from credit_grading.explain import decision_documents, explain_table, render_html, schema
    from credit_grading.synth import generate_registry

    b = replace(bundle, policy=load_policy())
    table = generate_registry(400, seed=95, as_of="2025-12-31").table
    res = explain_table(b, table, tier="A")
    a_ids = res.graded["uscc"].iloc[res.rows].tolist()
    m = read_memberships(pd.DataFrame([[a_ids[1], "abnormal_operations", "samr", "2023-06-01", "2025-03-01"]],
                                      columns=["id", "list", "source", "start", "end"]))  # fmt: skip
    docs = {d["entity"]["id"]: d for d in decision_documents(res, lists=m)}
    for d in docs.values():
        jsonschema.validate(d, schema())
    kinds = {i: [x["code"] for x in d["measures"] if x.get("kind") == "incentive"] for i, d in docs.items()}
    assert kinds[a_ids[0]] == ["priority_handling", "simplified_procedures", "fewer_inspections"]
    assert kinds[a_ids[1]] == []  # listed until nine months before the as-of date
    assert [x["code"] for x in docs[a_ids[0]]["measures"]][:2] == ["green_channel", "reduced_inspection"]
    page = render_html(docs[a_ids[0]])
    assert "Incentives that apply" in page and "容缺受理" in page
    assert "Incentives that apply" not in render_html(docs[a_ids[1]])
