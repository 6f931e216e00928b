"""What the reports say: no Python reprs anywhere, a decision letter a person can read, an M report
that says why, grade profiles ranked by size, a validation report that never says 'None'."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from credit_grading.explain import decision_documents, explain_table, render_html, write_reports
from credit_grading.reports.validation import profile_sections
from credit_grading.synth import generate_registry

# A Python or pandas object printed where a value belongs.
REPR = re.compile(r"Length:|dtype|<Arrow|&lt;Arrow|array\(|\bNone\b|\bnan\b|\bNaN\b")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Everything `demo` writes (it trains a bundle with `train`'s pipeline), on 8,000 entities."""
    out = tmp_path_factory.mktemp("demo") / "tour"
    res = subprocess.run([sys.executable, "-m", "credit_grading.cli", "demo", "--rows", "8000", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def _written(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".csv", ".json", ".html") and p.is_file())


def _reprs(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    return [text[max(m.start() - 40, 0) : m.end() + 40] for m in REPR.finditer(text)][:3]


def test_no_python_repr_in_any_csv_json_or_html_the_demo_and_train_write(demo):
    files = _written(demo)
    assert len(files) > 30 and any(p.name == "binning_tables.csv" for p in files)
    found = {str(p.relative_to(demo)): r for p in files if (r := _reprs(p))}
    assert not found, found


def test_the_fitted_scorecard_spec_labels_categorical_bins_by_their_levels(demo):
    assert not _reprs(demo / "model" / "scorecard.json")


def test_bundle_tables_label_categorical_bins_by_their_levels(demo):
    text = (demo / "model" / "binning_tables.csv").read_text(encoding="utf-8-sig")
    assert re.search(r"enterprise_type,\d+,regular,\"?[a-z_]+(, [a-z_]+)*\"?,", text), text[:400]
    points = (demo / "model" / "points.csv").read_text(encoding="utf-8-sig")
    assert "tax_credit_rating" in points and "<Arrow" not in points


def test_the_validation_report_never_says_none_and_has_what_a_committee_signs(demo):
    page = (demo / "model" / "validation_report.html").read_text(encoding="utf-8")
    assert "sha256 None" not in page and "part of the model bundle it describes" in page
    for heading in ("Executive summary", "Sample", "Calibration per grade", "Sign-off", "Jeffreys", "AUC"):
        assert heading in page, heading
    assert "@page { size: A4" in page and "thead" in page
    # Catalogue names, not ids, in the stability table; shares as percentages.
    assert "纳税信用等级 · Tax credit rating" in page and re.search(r"<td>\d{1,2}\.\d%</td>", page)


def test_the_demo_writes_an_index_of_its_decision_letters(demo):
    index = (demo / "decisions" / "index.html").read_text(encoding="utf-8")
    letters = sorted((demo / "decisions").glob("*.json"))
    assert letters and all(f'href="{p.stem}.html"' in index for p in letters)
    assert "aria-sort" in index and '<th data-type="num"' in index  # sortable by clicking a heading


# ---------------------------------------------------------------- the decision letter


@pytest.fixture(scope="module")
def letters(bundle):
    """Reports for an entity of status M, one changed by a blacklist rule and an ordinary one."""
    t = generate_registry(600, seed=91, as_of="2025-12-31").table.to_pandas()
    t.loc[0, "established_on"] = dt.date(2025, 6, 1)
    t.loc[0, "tax_credit_rating"] = None
    t.loc[1, "dishonest_debtor_flag"] = 1
    t.loc[2, ["dishonest_debtor_flag", "serious_untrustworthy_flag", "abnormal_operations_flag"]] = 0
    res = explain_table(bundle, pa.Table.from_pandas(t, preserve_index=False), uscc=list(t["uscc"][:3]))
    docs = decision_documents(res, input_path="/very/secret/place/registry.parquet", input_sha256="ab" * 32)
    return {d["entity"]["id"]: d for d in docs}, list(t["uscc"][:3])


def test_an_m_report_says_why_the_entity_is_not_graded(letters):
    docs, ids = letters
    doc = docs[ids[0]]
    assert doc["decision"]["tier"] == "M"
    page = render_html(doc)
    assert "暂不分类" in page and "not graded" in page
    assert "成立不满一年且无纳税记录" in page and "established under one year with no tax history" in page
    assert "Years since establishment" in page and "not yet rated (no tax history)" in page  # the rule's data
    assert "for reference only" in page and "Main reasons" not in page and "How the result adds up" not in page


def test_a_letter_lists_every_matched_rule_and_reads_like_a_letter(letters):
    docs, ids = letters
    doc = docs[ids[1]]
    page = render_html(doc)
    assert doc["decision"]["tier"] == "D" and "dishonest_debtor" in doc["decision"]["rules_matched"]
    for rule in doc["decision"]["rules_matched"]:
        assert doc.page["rules"] and any(r["rule"] == rule for r in doc.page["rules"])
    assert "失信被执行人" in page and "是 · yes" in page
    letter = doc.page["letter"]
    for fact in (letter["reference"], letter["decided"], letter["valid_until"], letter["objection_deadline"],
                 "Right to object", "异议"):  # fmt: skip
        assert fact in page
    # PD as a percentage; no file-system path, the data named by file name and hash.
    assert re.search(r"\d+\.\d+%", page) and f"{100 * doc['decision']['pd']:.1f}"[:3] in page
    assert "/very/secret" not in page and "registry.parquet" in page and "ab" * 32 in page
    # The waterfall starts from zero with an axis and names its ends in both languages.
    assert "起点" in page and "start" in page and "合计 · total" in page and "log-odds of default" in page


def test_values_read_as_people_read_them(bundle):
    from credit_grading.explain.readable import item_value, pct

    cat = bundle.catalogue
    assert pct(0.0124) == "1.24%" and pct(0.00066) == "0.066%" and pct(0.286) == "28.6%"
    assert item_value(cat, "dishonest_debtor_flag", 1.0) == "是 · yes"
    assert item_value(cat, "abnormal_operations_flag", 0.0) == "否 · no"
    assert item_value(cat, "district", "dongcheng") == "东城区 · Dongcheng"
    assert item_value(cat, "firm_age_years", 7.456).startswith("7.5 ")
    assert item_value(cat, "court_judgments_defendant_36m", 2.0).startswith("2 ")
    assert "missing" in item_value(cat, "tax_credit_rating", None)


def test_explain_writes_an_index_of_every_report(letters, tmp_path):
    docs, ids = letters
    written = write_reports(list(docs.values()), tmp_path, "html")
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert tmp_path / "index.html" in written and all(u in index for u in ids)
    assert write_reports(list(docs.values()), tmp_path / "j", "json") and not (tmp_path / "j" / "index.html").exists()


# ---------------------------------------------------------------- grade profiles


def test_grade_profiles_chart_the_largest_contributions_of_either_sign():
    means = {f"tiny_{i}": 0.001 * i for i in range(20)} | {"big_negative": -2.0, "big_positive": 1.5}
    profiles = {"kind": "shap", "grades": [{"grade": "AAA", "tier": "A", "count": 10, "mean_shap": means,
                                            "typical": {}, "distinguishing": []}]}  # fmt: skip
    (section,) = profile_sections(profiles)
    svg = section["svgs"][0]
    assert "big_negative" in svg and "big_positive" in svg
    charted = re.findall(r">(tiny_\d+)<", svg)
    assert len(charted) == 10 and set(charted) == {f"tiny_{i}" for i in range(10, 20)}
    assert np.isfinite(len(charted))
