"""Publication lists: only publishable entities, only public items, personal data masked."""

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from credit_grading.catalogue import Disclosure
from credit_grading.cli import app
from credit_grading.config.policy import load_policy
from credit_grading.grading import decide
from credit_grading.grading.publish import mask_text, publication_list

runner = CliRunner()
BASE = {"uscc", "as_of", "listed_for_zh", "listed_for_en"}


@pytest.fixture(scope="module")
def full_grades(trained, catalogue):
    """Grades carrying every registry column, personal and internal ones included."""
    data = trained.splits.test
    carry = tuple(c for c in data.columns if c in catalogue and c not in ("uscc", "as_of"))
    return decide(trained.model, data, carry=carry)[0], data


def _check(listed, grades, catalogue, policy):
    allowed = BASE | {it.id for it in catalogue.items if it.disclosure is Disclosure.PUBLIC}
    assert set(listed.columns) <= allowed
    for it in catalogue.items:
        if it.id not in listed.columns:
            continue
        assert it.disclosure is Disclosure.PUBLIC
        if it.personal_data:
            original = grades.set_index("uscc").loc[listed["uscc"], it.id].to_numpy(dtype=object)
            got = listed[it.id].to_numpy(dtype=object)
            for o, v in zip(original, got, strict=True):
                if o is None or o != o:
                    assert v is None or v != v  # missing stays missing
                    continue
                assert v != o and re.fullmatch(r".\*+", v) and v[0] == o[0] and len(v) == max(len(o), 2)
    # Only publishable rows.
    g = grades.set_index("uscc").loc[listed["uscc"]]
    on_list = g["rules_matched"].astype(str).str.split(";").map(lambda r: bool(set(r) & set(policy.publication.rules)))
    assert (on_list | g["tier"].astype(str).isin(policy.publication.tiers)).all()


def test_only_public_items_and_masked_personal_data_leave(full_grades, catalogue):
    grades, data = full_grades
    policy = load_policy()
    listed = publication_list(grades, policy, catalogue)
    assert "legal_rep_id_number" in grades.columns and "bank_loan_overdue_12m" in grades.columns
    for forbidden in ("legal_rep_id_number", "bank_loan_overdue_12m", "tax_credit_rating", "pd", "score", "grade",
                      "tier", "model_grade", "reason_1", "override_approver"):  # fmt: skip
        assert forbidden not in listed.columns
    assert "legal_rep_name" in listed.columns and "enterprise_name" in listed.columns
    on_lists = (data["serious_untrustworthy_flag"] == 1) | (data["dishonest_debtor_flag"] == 1)
    assert len(listed) == int(on_lists.sum()) > 0
    _check(listed, grades, catalogue, policy)
    serious = data.loc[data["serious_untrustworthy_flag"] == 1, "uscc"]
    by_id = listed.set_index("uscc")
    assert (by_id.loc[serious, "listed_for_en"] == "serious_untrustworthy").all()  # no labels given: the rule id


@settings(max_examples=25)
@given(
    public=st.sets(
        st.sampled_from(
            [
                "legal_rep_name",
                "legal_rep_id_number",
                "bank_loan_overdue_12m",
                "tax_credit_rating",
                "employees_insured",
                "size_class",
            ]
        )
    ),
    tiers=st.sets(st.sampled_from(["A", "B", "C", "D", "M"])),
)
def test_whatever_the_catalogue_and_policy_say_nothing_else_leaves(full_grades, catalogue, public, tiers):
    """Any item may be declared public; personal data still never leaves unmasked."""
    grades, _ = full_grades
    items = tuple(
        it.model_copy(update={"disclosure": Disclosure.PUBLIC}) if it.id in public else it for it in catalogue.items
    )
    cat = catalogue.model_copy(update={"items": items})
    policy = load_policy()
    policy = policy.model_copy(
        update={"publication": policy.publication.model_copy(update={"tiers": tuple(sorted(tiers))})}
    )
    listed = publication_list(grades.head(3000), policy, cat)
    _check(listed, grades.head(3000), cat, policy)
    assert (
        "legal_rep_id_number" not in listed.columns
        or listed["legal_rep_id_number"].dropna().str.fullmatch(r"1\*{17}").all()
    )


def test_mask_text():
    got = mask_text(pd.Series(["张三", "欧阳娜娜", "A", None, "110105199906082158"]))
    assert got.tolist() == ["张*", "欧***", "A*", None, "1" + "*" * 17]


def test_publish_command(tmp_path, full_grades):
    grades, data = full_grades
    path = tmp_path / "grades.parquet"
    grades.to_parquet(path)
    res = runner.invoke(app, ["publish", "--grades", str(path), "--out", str(tmp_path / "list.csv")])
    assert res.exit_code == 0, res.output
    listed = pd.read_csv(tmp_path / "list.csv", dtype=str)
    assert "entities listed" in res.output
    assert "legal_rep_id_number" not in listed.columns
    assert listed["legal_rep_name"].dropna().str.fullmatch(r".\*+").all()
    assert set(listed["listed_for_zh"]) <= {"列入严重失信主体名单", "失信被执行人"}
    assert np.isin(listed["uscc"], data["uscc"]).all()


# ---------------------------------------------------------------- the honour list (rewards)


@pytest.fixture(scope="module")
def bundle_grades(bundle):
    from credit_grading.registry import validate_table
    from credit_grading.service import bundle_schema
    from credit_grading.synth import generate_registry

    data = validate_table(generate_registry(4_000, seed=93, as_of="2025-12-31").table, bundle_schema(bundle)).data
    carry = tuple(c for c in data.columns if c in bundle.catalogue and c not in ("uscc", "as_of"))
    return decide(bundle.model, data, carry=carry)[0]


def _honour_memberships(grades):
    from credit_grading.lists import read_memberships

    a = grades.loc[grades["tier"].astype(str) == "A", "uscc"].tolist()
    rows = [
        [a[0], "r120000_serious_untrustworthy", "120000", "2025-11-02", None],  # active now
        [a[1], "abnormal_operations", "samr", "2023-06-01", "2024-03-01"],  # ended within 3 years
        [a[2], "abnormal_operations", "samr", "2020-01-01", "2022-06-01"],
    ]  # ended over 3 years ago
    return read_memberships(pd.DataFrame(rows, columns=["id", "list", "source", "start", "end"])), a[:3]


def test_the_honour_list_names_eligible_entities_with_public_items_masked(bundle_grades, bundle):
    from credit_grading.grading.publish import honour_list

    grades, catalogue, policy = bundle_grades, bundle.catalogue, load_policy()
    m, (active, recent, old) = _honour_memberships(grades)
    listed = honour_list(grades, policy, catalogue, memberships=m, id_column="uscc", as_of_column="as_of")
    tier_a = set(grades.loc[grades["tier"].astype(str) == "A", "uscc"])
    assert set(listed["uscc"]) == tier_a - {active, recent} and old in set(listed["uscc"])
    assert len(listed) == len(tier_a) - 2 > 100
    allowed = BASE | {"incentives"} | {it.id for it in catalogue.items if it.disclosure is Disclosure.PUBLIC}
    assert set(listed.columns) <= allowed and "legal_rep_id_number" not in listed.columns
    assert "pd" not in listed.columns and "tier" not in listed.columns and "grade" not in listed.columns
    assert listed["legal_rep_name"].dropna().str.fullmatch(r".\*+").all() and listed["legal_rep_name"].notna().any()
    assert (listed["listed_for_zh"] == "守信激励对象名单").all()
    assert (listed["incentives"] == "priority_handling;simplified_procedures;fewer_inspections").all()
    # Nobody a punishment list would publish is ever on the honour list, whatever the policy says.
    lenient = policy.model_copy(update={"publication": policy.publication.model_copy(update={"tiers": ("A",)})})
    assert len(honour_list(grades, lenient, catalogue, id_column="uscc", as_of_column="as_of")) == 0
    # Without the memberships file only today's flags are seen: the two listed entities come back.
    plain = honour_list(grades, policy, catalogue, id_column="uscc", as_of_column="as_of")
    assert set(plain["uscc"]) == tier_a


def test_publish_honour_command(tmp_path, bundle_grades):
    grades = bundle_grades
    m, (active, recent, _) = _honour_memberships(grades)
    grades.to_parquet(tmp_path / "grades.parquet")
    m.table.assign(start=m.table["start"].dt.strftime("%Y-%m-%d"), end=m.table["end"].dt.strftime("%Y-%m-%d")).drop(
        columns="listed_by").to_csv(tmp_path / "lists.csv", index=False)  # fmt: skip
    res = runner.invoke(app, ["publish", "--grades", str(tmp_path / "grades.parquet"), "--list", "honour",
                              "--lists", str(tmp_path / "lists.csv"), "--out", str(tmp_path / "honour.csv")])  # fmt: skip
    assert res.exit_code == 0, res.output
    listed = pd.read_csv(tmp_path / "honour.csv", dtype=str)
    n_a = int((grades["tier"].astype(str) == "A").sum())
    assert len(listed) == n_a - 2 and not {active, recent} & set(listed["uscc"])
    assert f"{n_a - 2:,} of {len(grades):,} entities listed (honour)" in " ".join(res.output.split())
    assert listed["legal_rep_name"].dropna().str.fullmatch(r".\*+").all()
    bad = runner.invoke(app, ["publish", "--grades", str(tmp_path / "grades.parquet"), "--list", "honour",
                              "--lists", str(tmp_path / "lists.csv"), "--out", str(tmp_path / "lists.csv")])  # fmt: skip
    assert bad.exit_code == 1 and "--lists and --out name the same file" in str(bad.exception)
    assert (tmp_path / "lists.csv").read_text().startswith("id,list,source,start,end")
