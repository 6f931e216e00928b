"""Lists with dates: memberships with a source, a start and an end; rules apply only while active."""

import numpy as np
import pandas as pd
import pytest

from credit_grading.config.grading import Action, Condition, OverrideRule
from credit_grading.exceptions import ConfigError, DataError
from credit_grading.grading import decide
from credit_grading.grading.grader import Grader
from credit_grading.lists import active_lists, apply_memberships, entity_memberships, read_memberships
from credit_grading.registry import validate_table
from credit_grading.service import bundle_schema
from credit_grading.synth import generate_registry


@pytest.fixture(scope="module")
def data(bundle):
    return validate_table(generate_registry(3_000, seed=91, as_of="2025-12-31").table, bundle_schema(bundle)).data


KEYS = {"id_column": "uscc", "as_of_column": "as_of"}


def _at(data: pd.DataFrame, day: str) -> pd.DataFrame:
    out = data.copy()
    out["as_of"] = pd.Timestamp(day).date()
    return out


def _mem(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "list", "source", "start", "end"])


def test_a_memberships_file_is_checked_whole_and_refused_in_one_message(tmp_path):
    path = tmp_path / "m.csv"
    _mem([["91110000MA01ABCD3X", "dishonest_debtor", "court", "2025-01-01", ""],
          ["", "bad list!", "court", "2025-13-01", "2024-01-01"],
          ["91110000MA01ABCD3X", "serious_untrustworthy", "samr", "2025-05-01", "2025-04-01"]]).to_csv(path, index=False)  # fmt: skip
    with pytest.raises(DataError) as info:
        read_memberships(path)
    msg = str(info.value)
    assert "m.csv" in msg and "id is empty: row 2" in msg and "list is not a name" in msg
    assert "start is not a date YYYY-MM-DD: row 2 ('2025-13-01')" in msg and "end is before start: row 3" in msg
    with pytest.raises(DataError, match=r"missing \['end'\], unexpected \['until'\]"):
        read_memberships(pd.DataFrame({"id": ["x"], "list": ["a"], "source": ["s"], "start": ["2025-01-01"],
                                       "until": [""]}))  # fmt: skip
    # The configured id column's own name is read as the key.
    m = read_memberships(_mem([["X", "a", "s", "2025-01-01", None]]).rename(columns={"id": "uscc"}), id_column="uscc")
    assert m.table["id"].tolist() == ["X"] and pd.isna(m.table["end"].iloc[0])


def test_a_membership_is_active_from_its_start_until_the_day_before_its_end():
    m = read_memberships(_mem([["E1", "dishonest_debtor", "court", "2025-01-01", "2025-09-30"],
                               ["E1", "dishonest_debtor", "court", "2026-03-01", None],
                               ["E2", "abnormal_operations", "samr", "2024-06-01", None]]))  # fmt: skip
    ids = np.array(["E1", "E1", "E1", "E1", "E1", "E2", "E2", "E3"], dtype=object)
    days = np.array(["2024-12-31", "2025-01-01", "2025-09-29", "2025-09-30", "2026-03-01", "2024-05-31",
                     "2030-01-01", "2025-06-01"], dtype="datetime64[D]")  # fmt: skip
    got = active_lists(m, ids, days)
    assert got["dishonest_debtor"].tolist() == [False, True, True, False, True, False, False, False]
    assert got["abnormal_operations"].tolist() == [False] * 6 + [True, False]
    recs = entity_memberships(m, ids[[3, 5]], days[[3, 5]])
    assert [(r["start"], r["status"]) for r in recs[0]] == [("2026-03-01", "upcoming"), ("2025-01-01", "ended")]
    assert recs[0][1]["end"] == "2025-09-30" and recs[1][0]["status"] == "upcoming"


def test_a_rule_applies_only_while_the_membership_is_active_and_lapsing_restores_the_model_decision(bundle, data):
    base, _ = decide(bundle.model, _at(data, "2025-06-30"))
    good = base.index[(base["model_tier"].astype(str) == "A") & base["override"].isna()][:3]
    ids = base.loc[good, "uscc"].tolist()
    m = read_memberships(_mem([[i, "dishonest_debtor", "某市中级人民法院", "2025-01-01", "2025-09-30"] for i in ids]))
    during, _ = decide(bundle.model, apply_memberships(_at(data, "2025-06-30"), m, **KEYS))
    assert during.loc[good, "tier"].astype(str).tolist() == ["D"] * 3
    assert during.loc[good, "override"].astype(str).tolist() == ["dishonest_debtor"] * 3
    others = ~base.index.isin(good)
    pd.testing.assert_frame_equal(during[others], base[others])  # nobody else moves
    # Credit repair: the listing ended on 2025-09-30; the next rescoring gives the model's decision back.
    after, _ = decide(bundle.model, apply_memberships(_at(data, "2025-12-31"), m, **KEYS))
    plain, _ = decide(bundle.model, _at(data, "2025-12-31"))
    pd.testing.assert_frame_equal(after, plain)
    assert after.loc[good, "tier"].astype(str).tolist() == after.loc[good, "model_tier"].astype(str).tolist()
    assert after.loc[good, "override"].isna().all()


def test_todays_flag_columns_keep_working_beside_memberships(bundle, data):
    d = _at(data, "2025-12-31")
    plain, _ = decide(bundle.model, d)
    flagged = plain.index[d["serious_untrustworthy_flag"].to_numpy() == 1]
    assert len(flagged) > 0 and (plain.loc[flagged, "tier"].astype(str) == "D").all()
    # A memberships file that does not name them leaves the flags in force, and nothing else changes.
    m = read_memberships(_mem([["91110000MA01ABCD3X", "abnormal_operations", "samr", "2025-01-01", None]]))
    with_lists, _ = decide(bundle.model, apply_memberships(d, m, **KEYS))
    pd.testing.assert_frame_equal(with_lists, plain)
    # The model's features are never changed by a membership: only the list:* columns are added.
    added = apply_memberships(d, m, **KEYS)
    assert set(added.columns) - set(d.columns) == {"list:dishonest_debtor", "list:serious_untrustworthy",
                                                   "list:abnormal_operations"}  # fmt: skip
    pd.testing.assert_frame_equal(added[d.columns], d)


def test_override_rules_name_partner_lists(bundle, data):
    d = _at(data, "2025-12-31").iloc[:500].reset_index(drop=True)
    ids = d["uscc"].tolist()
    rule = OverrideRule(id="tianjin_serious", label_zh="天津市严重失信主体名单", label_en="Tianjin serious list",
                        when=Condition(item="list:tianjin_serious", eq=1), then=Action(tier="D"))  # fmt: skip
    m = read_memberships(_mem([[ids[0], "tianjin_serious", "120000", "2025-11-02", None],
                               [ids[1], "tianjin_serious", "120000", "2024-01-01", "2025-01-01"],
                               [ids[2], "tianjin_serious", "120000", "2026-01-05", None]]))  # fmt: skip
    grader = Grader(bundle.model.scale, (rule,))
    pdv = np.full(len(d), 0.001)  # every row would be tier A on its own
    res = grader.grade(apply_memberships(d, m, **KEYS), pdv)
    assert res.tiers()[:4].tolist() == ["D", "A", "A", "A"] and (res.tiers()[4:] == "A").all()
    with pytest.raises(ConfigError, match="names list 'tianjin_serious', which no memberships file given has"):
        grader.grade(d, pdv)


def test_memberships_join_many_snapshots_by_key_and_date():
    # 4 snapshots of 50,000 entities, 5,000 memberships: one hash join, checked against a plain loop on a sample.
    rng = np.random.default_rng(5)
    n = 50_000
    ids = np.array([f"E{i:06d}" for i in range(n)], dtype=object)
    rows = np.tile(ids, 4)
    days = np.repeat(np.array(["2024-12-31", "2025-03-31", "2025-06-30", "2025-09-30"], dtype="datetime64[D]"), n)
    who = rng.choice(n, 5_000, replace=False)
    start = np.datetime64("2024-06-01") + rng.integers(0, 500, 5_000).astype("timedelta64[D]")
    end = start + rng.integers(1, 300, 5_000).astype("timedelta64[D]")
    m = read_memberships(pd.DataFrame({"id": ids[who], "list": "x", "source": "s", "start": start.astype(str),
                                       "end": np.where(rng.random(5_000) < 0.3, "", end.astype(str))}))  # fmt: skip
    got = active_lists(m, rows, days)["x"]
    sample = rng.choice(len(rows), 2_000, replace=False)
    t = m.table.set_index("id")
    for r in sample:
        want = False
        if rows[r] in t.index:
            s, e = t.loc[rows[r], "start"], t.loc[rows[r], "end"]
            want = bool(s <= pd.Timestamp(days[r]) and (pd.isna(e) or pd.Timestamp(days[r]) < e))
        assert got[r] == want
    assert 0 < got.sum() < len(rows)


def test_reports_show_a_lapsed_listing_as_ended_and_a_partners_listing_with_its_region(bundle, data):
    from dataclasses import replace

    import jsonschema

    from credit_grading.explain import decision_documents, explain_table, render_html, schema

    d = _at(data, "2025-12-31").iloc[:400].reset_index(drop=True)
    base, _ = decide(bundle.model, d)
    free = base.loc[base["override"].isna() & (base["tier"].astype(str) != "D"), "uscc"].tolist()
    repaired, partner = free[0], free[1]
    m = read_memberships(pd.DataFrame([
        {"id": repaired, "list": "dishonest_debtor", "source": "某市中级人民法院", "start": "2025-01-01",
         "end": "2025-09-30", "listed_by": None},
        {"id": partner, "list": "tianjin_serious", "source": "天津市信用办", "start": "2025-11-02", "end": None,
         "listed_by": "120000"},
    ]))  # fmt: skip
    rule = OverrideRule(id="tianjin_serious", label_zh="天津市严重失信主体名单", label_en="Tianjin serious list",
                        when=Condition(item="list:tianjin_serious", eq=1), then=Action(tier="D"))  # fmt: skip
    partnered = replace(bundle, model=replace(bundle.model, overrides=(*bundle.model.overrides, rule)))
    res = explain_table(bundle, d, ids=[repaired, partner])
    # Graded with the memberships, as explain does when given --lists.
    graded, _ = decide(partnered.model, apply_memberships(res.data, m, **KEYS))
    res = replace(res, bundle=partnered, graded=graded)
    docs = {doc["entity"]["id"]: doc for doc in decision_documents(res, lists=m)}
    for doc in docs.values():
        jsonschema.validate(doc, schema())
    ended = docs[repaired]
    assert ended["decision"]["override"] is None and ended["decision"]["tier"] == ended["decision"]["model_tier"]
    assert [(x["list"], x["status"], x["start"], x["end"]) for x in ended["data"]["lists"]] == [
        ("dishonest_debtor", "ended", "2025-01-01", "2025-09-30")]  # fmt: skip
    page = render_html(ended)
    assert "ended on 2025-09-30 (credit repair)" in page and "已于 2025-09-30 移出" in page
    listed = docs[partner]
    assert listed["decision"]["tier"] == "D" and listed["decision"]["override"]["rule"] == "tianjin_serious"
    assert listed["data"]["lists"][0] | {"status": "active", "listed_by": "120000"} == listed["data"]["lists"][0]
    page = render_html(listed)
    assert "listed by region 120000 on 2025-11-02" in page and "由区域 120000 于 2025-11-02 列入" in page
    assert "天津市严重失信主体名单" in page.split("List memberships")[1]
    # The rule that decided names the listing behind it.
    rule_row = page.split("Rules that apply")[1].split("</table>")[0]
    assert "listed by region 120000 on 2025-11-02" in rule_row and "decided this result" in rule_row


def test_the_list_form_of_a_condition_reads_the_lists_column(bundle, data):
    # {list: name} (Condition.list_, alias "list", once the config defines it) is list:<name> == 1.
    from types import SimpleNamespace

    from credit_grading.grading.rules import condition_mask

    d = _at(data, "2025-12-31").iloc[:50].reset_index(drop=True)
    m = read_memberships(_mem([[d["uscc"].iloc[3], "tianjin_serious", "120000", "2025-11-02", None]]))
    cond = SimpleNamespace(all=None, any=None, missing_at_least=None, list_="tianjin_serious")
    assert np.flatnonzero(condition_mask(cond, apply_memberships(d, m, **KEYS), rule="r")).tolist() == [3]
    # The config's own form: {list: name} parses, reads list:<name>, and round-trips as written.
    rule = OverrideRule.model_validate({"id": "tj", "when": {"list": "tianjin_serious"}, "then": {"tier": "D"}})
    assert rule.when.items() == {"list:tianjin_serious"}
    assert rule.model_dump(mode="json", by_alias=True, exclude_none=True)["when"] == {"list": "tianjin_serious"}
    assert np.flatnonzero(condition_mask(rule.when, apply_memberships(d, m, **KEYS), rule="tj")).tolist() == [3]
    with pytest.raises(ValueError, match="exactly one of: an item test, missing_at_least, list, all, any"):
        Condition.model_validate({"list": "a", "item": "x", "eq": 1})
    with pytest.raises(ConfigError, match="override rule 'r' names list 'tianjin_serious'"):
        condition_mask(cond, d, rule="r")


def test_explain_takes_a_memberships_file_and_the_report_shows_the_listing(bundle, tmp_path):
    import json
    import subprocess
    import sys

    reg = generate_registry(300, seed=92, as_of="2025-12-31").table.to_pandas()
    reg.to_csv(tmp_path / "reg.csv", index=False)
    base, _ = decide(bundle.model, validate_table(reg, bundle_schema(bundle)).data)
    code = base.loc[(base["tier"].astype(str) == "A") & base["override"].isna(), "uscc"].iloc[0]
    _mem([[code, "dishonest_debtor", "某市中级人民法院", "2025-03-01", None]]).to_csv(tmp_path / "m.csv", index=False)
    args = [sys.executable, "-m", "credit_grading.cli", "explain", "--model", str(bundle.path), "--input",
            str(tmp_path / "reg.csv"), "--id", code, "--out", str(tmp_path / "out"), "--lists", str(tmp_path / "m.csv")]  # fmt: skip
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads((tmp_path / "out" / f"{code}.json").read_text(encoding="utf-8"))
    assert doc["decision"]["tier"] == "D" and doc["decision"]["override"]["rule"] == "dishonest_debtor"
    assert [(m["list"], m["start"], m["status"]) for m in doc["data"]["lists"]] == [
        ("dishonest_debtor", "2025-03-01", "active")
    ]
    assert "某市中级人民法院" in (tmp_path / "out" / f"{code}.html").read_text(encoding="utf-8")


def test_a_validation_report_reads_a_rule_on_a_list_as_empty(bundle):
    """Lists come from memberships files when grading; the labelled data of a validation report has
    none, so a rule naming a list changes nobody there instead of stopping the report."""
    from dataclasses import replace

    from credit_grading.reports import validation_report

    reg = generate_registry(3_000, seed=93, as_of="2025-12-31")
    labelled = validate_table(reg.table, bundle_schema(bundle)).data
    rule = OverrideRule.model_validate({"id": "tj", "when": {"list": "tianjin_serious"}, "then": {"tier": "D"}})
    listed = replace(bundle, model=replace(bundle.model, overrides=(*bundle.model.overrides, rule)))
    rep = validation_report(listed, labelled, n_boot=20, seed=1)
    plain = validation_report(bundle, labelled, n_boot=20, seed=1)
    tj = next(r for r in rep["overrides"] if r["rule"] == "tj")
    assert tj["changed"] == 0
    assert [r for r in rep["overrides"] if r["rule"] != "tj"] == plain["overrides"]


def test_rescore_takes_memberships_and_records_them(bundle, tmp_path):
    """``rescore --lists``: a listing active at the row's as-of date puts the entity in tier D by its rule;
    one that lapsed before it changes nothing; the summary names each memberships file with its hash."""
    import json
    import subprocess
    import sys

    from credit_grading.storage import sha256_file

    reg = generate_registry(400, seed=94, as_of="2025-12-31").table.to_pandas()
    reg.to_csv(tmp_path / "reg.csv", index=False)
    base, _ = decide(bundle.model, validate_table(reg, bundle_schema(bundle)).data)
    clean = base.loc[(base["tier"].astype(str) == "A") & base["override"].isna(), "uscc"].tolist()
    listed, lapsed = clean[0], clean[1]
    _mem([[listed, "dishonest_debtor", "court", "2025-03-01", None],
          [lapsed, "dishonest_debtor", "court", "2024-01-01", "2025-06-30"]]).to_csv(tmp_path / "m.csv", index=False)  # fmt: skip
    args = [sys.executable, "-m", "credit_grading.cli", "rescore", "--model", str(bundle.path), "--input",
            str(tmp_path / "reg.csv"), "--output", str(tmp_path / "g.parquet"), "--lists", str(tmp_path / "m.csv"),
            "--audit-db", str(tmp_path / "audit.db")]  # fmt: skip
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    graded = pd.read_parquet(tmp_path / "g.parquet").set_index("uscc")
    assert graded.loc[listed, "tier"] == "D" and graded.loc[listed, "override"] == "dishonest_debtor"
    assert graded.loc[lapsed, "tier"] == "A" and pd.isna(graded.loc[lapsed, "override"])
    plain = base.set_index("uscc")
    others = graded.index.difference([listed])
    assert (graded.loc[others, "grade"].astype(str) == plain.loc[others, "grade"].astype(str)).all()
    summary = json.loads((tmp_path / "g.parquet.summary.json").read_text())
    assert summary["lists"] == [{"path": str(tmp_path / "m.csv"), "sha256": sha256_file(tmp_path / "m.csv")}]
