"""Every kind of page rendered in a real browser (headless Chromium): printed to PDF at A4 and read
back with pdftotext for the facts its reader needs; a PNG screenshot of each is kept in the test's
tmp dir as an artefact. Skipped, saying why, where Chromium or pdftotext is not installed
(`.ci/run` installs Debian's chromium, fonts-noto-cjk and poppler-utils)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from credit_grading.explain import decision_documents, explain_table, write_reports
from credit_grading.registry import validate_table
from credit_grading.reports import (
    monitor,
    render_monitoring_html,
    render_profiles_html,
    render_validation_html,
    validation_report,
)
from credit_grading.service import bundle_schema
from credit_grading.synth import generate_registry

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
PDFTOTEXT, PDFINFO = shutil.which("pdftotext"), shutil.which("pdfinfo")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and PDFTOTEXT and PDFINFO),
    reason="needs chromium and poppler-utils (pdftotext, pdfinfo): apt-get install -y chromium fonts-noto-cjk "
    "poppler-utils",
)
A4 = (595.0, 842.0)  # points


def _chromium(args: list[str], profile: Path) -> None:
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars"]  # fmt: skip
    subprocess.run(base + args, capture_output=True, timeout=120, check=True)


def render(page: Path, tmp: Path) -> tuple[str, list[tuple[float, float]], Path]:
    """Print ``page`` to PDF and screenshot it; the PDF's text and every page's size in points."""
    pdf, png = tmp / f"{page.stem}.pdf", tmp / f"{page.stem}.png"
    _chromium([f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri()], tmp / "profile")
    _chromium([f"--screenshot={png}", "--window-size=1000,2400", page.as_uri()], tmp / "profile")
    text = subprocess.run([PDFTOTEXT, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    info = subprocess.run(
        [PDFINFO, "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    sizes = [(float(w), float(h)) for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)]
    assert png.stat().st_size > 10_000  # a screenshot with something drawn on it, kept as an artefact
    return re.sub(r"[ \t]+", " ", text), sizes, png


def assert_a4(sizes: list[tuple[float, float]]) -> None:
    assert sizes and all(abs(w - A4[0]) < 2 and abs(h - A4[1]) < 2 for w, h in sizes), sizes


@pytest.fixture(scope="module")
def pages(bundle, tmp_path_factory):
    """A decision letter for an entity of status M, a D and an ordinary one, their index, a validation
    report, grade profiles and a monitoring report, all from the frozen test bundle."""
    root = tmp_path_factory.mktemp("pages")
    t = generate_registry(3_000, seed=93, as_of="2025-12-31").table.to_pandas()
    import datetime as dt

    t.loc[0, "established_on"] = dt.date(2025, 6, 1)
    t.loc[0, "tax_credit_rating"] = None
    t.loc[1, "dishonest_debtor_flag"] = 1
    ids = list(t["uscc"][:3])
    res = explain_table(bundle, pa.Table.from_pandas(t, preserve_index=False), uscc=ids)
    docs = decision_documents(res, input_path="registry.parquet", input_sha256="cd" * 32)
    write_reports(docs, root / "decisions", "html")
    schema = bundle_schema(bundle)
    ref = validate_table(generate_registry(6_000, seed=94, as_of="2024-12-31").table, schema).data
    cur = validate_table(generate_registry(6_000, seed=94, as_of="2025-12-31", drift=1.0).table, schema).data
    rep = validation_report(bundle, cur, n_boot=20)
    (root / "validation.html").write_text(render_validation_html(rep), encoding="utf-8")
    (root / "profiles.html").write_text(render_profiles_html(rep["profiles"]), encoding="utf-8")
    (root / "monitoring.html").write_text(render_monitoring_html(monitor(bundle, ref, cur)), encoding="utf-8")
    # An accepted objection: the dishonest-debtor flag of the second entity corrected to 0.
    from credit_grading.objections import _before_after, _before_after_html

    fixed = t.iloc[[1]].copy()
    fixed["dishonest_debtor_flag"] = 0
    before = decision_documents(explain_table(bundle, pa.Table.from_pandas(t.iloc[[1]], preserve_index=False),
                                              all_rows=True))[0]  # fmt: skip
    after = decision_documents(explain_table(bundle, pa.Table.from_pandas(fixed, preserve_index=False), all_rows=True))[
        0
    ]
    report = _before_after(7, "dishonest_debtor_flag", "0", "court record shows the debt was paid", before, after)
    (root / "objection.html").write_text(_before_after_html(report), encoding="utf-8")
    return root, {d["entity"]["id"]: d for d in docs}, ids


def test_decision_letters_print_on_a4_with_grade_tier_and_reasons_in_both_languages(pages, tmp_path):
    root, docs, ids = pages
    for uscc in ids:
        doc = docs[uscc]
        text, sizes, _ = render(root / "decisions" / f"{uscc}.html", tmp_path)
        assert_a4(sizes)
        d = doc["decision"]
        assert uscc in text and "信用风险分类决定书" in text and "Credit-risk classification decision" in text
        assert d["tier_label_zh"] in text and d["tier_label_en"] in text
        assert "Right to object" in text and doc.page["letter"]["reference"] in text
        if d["tier"] == "M":
            assert "暂不分类" in text and "not graded" in text and "established under one year" in text
        else:
            assert re.search(rf"\b{d['grade']}\b", text) and doc.page["pd"] in text
        # Table cells wrap (and a wrapped hyphen is dropped): compare without white space or hyphens, the
        # Chinese name by its first six characters (a wrapped last character may be read out of order).
        flat = re.sub(r"[\s-]+", "", text)
        for r in doc["reasons"][:3]:  # reasons in both languages
            assert r["name_zh"][:6] in flat and re.sub(r"[\s-]+", "", r["name_en"]) in flat, r


def test_the_index_of_letters_prints_and_lists_every_entity(pages, tmp_path):
    root, _, ids = pages
    text, sizes, _ = render(root / "decisions" / "index.html", tmp_path)
    assert all(u in text for u in ids) and "Decision letters" in text
    assert sizes and all(abs(max(w, h) - A4[1]) < 2 and abs(min(w, h) - A4[0]) < 2 for w, h in sizes)


def test_the_validation_report_prints_on_a4_with_its_conclusions(pages, tmp_path):
    root, _, _ = pages
    text, sizes, _ = render(root / "validation.html", tmp_path)
    assert_a4(sizes)
    for fact in ("Executive summary", "Sample", "AUC", "Calibration per grade", "Jeffreys", "Sign-off",
                 "Credit committee", "纳税信用等级"):  # fmt: skip
        assert fact in text, fact
    assert "None" not in text and "dtype" not in text


def test_grade_profiles_and_monitoring_print_on_a4(pages, tmp_path):
    root, _, _ = pages
    text, sizes, _ = render(root / "profiles.html", tmp_path)
    assert_a4(sizes)
    assert "Grade profile" in text
    text, sizes, _ = render(root / "monitoring.html", tmp_path)
    assert_a4(sizes)
    for fact in ("Verdict", "Backtest", "Snapshots", "2024-12-31", "2025-12-31", "Migration"):
        assert fact in text, fact


def test_the_objection_page_prints_on_a4_with_both_decisions(pages, tmp_path):
    root, _, ids = pages
    text, sizes, _ = render(root / "objection.html", tmp_path)
    assert_a4(sizes)
    flat = re.sub(r"\s+", " ", text)
    for fact in ("Objection 7", "What changed", "Before", "After", "失信被执行人", "court record shows the debt was paid",
                 ids[1]):  # fmt: skip
        assert fact in flat, fact
    assert flat.count("合计 · total") >= 2  # both waterfalls
