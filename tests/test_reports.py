"""Decision reports, grade profiles, the validation report, monitoring and their statistics."""

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from typer.testing import CliRunner

from credit_grading.cli import app
from credit_grading.evaluation import auc
from credit_grading.explain import decision_documents, explain_table, grade_profiles, render_html, schema
from credit_grading.grading import grade_table
from credit_grading.registry import validate_table
from credit_grading.reports import monitor, render_monitoring_html, render_validation_html, validation_report
from credit_grading.service import BundleGrader, bundle_schema
from credit_grading.stats import bootstrap_ci, ks_statistic, psi, stability_flag, traffic_light
from credit_grading.synth import generate_registry, write_registry

DATA = Path(__file__).parent / "data"
runner = CliRunner()


@pytest.fixture(scope="module")
def table():
    return generate_registry(6_000, seed=81, as_of="2026-06-30").table


@pytest.fixture(scope="module")
def labelled(bundle):
    return validate_table(generate_registry(20_000, seed=82, as_of="2025-12-31").table, bundle_schema(bundle)).data


# ---------------------------------------------------------------- statistics


def test_psi_ks_bootstrap_and_lights():
    e, a = np.array([50, 30, 20]), np.array([40, 30, 30])
    expected = sum((x - y) * math.log(x / y) for x, y in zip(a / 100, e / 100, strict=True))
    assert psi(e, a) == pytest.approx(expected)
    assert psi(e, e) == 0.0 and psi([1, 0], [0, 1]) > 10  # empty bins floored, not infinite
    assert [stability_flag(v) for v in (0.05, 0.1, 0.3)] == ["stable", "watch", "shifted"]
    rng = np.random.default_rng(0)
    y = rng.random(3000) < 0.2
    s = rng.normal(size=3000) + y
    assert ks_statistic(y, s) == pytest.approx(st.ks_2samp(s[y], s[~y]).statistic)
    lo, hi = bootstrap_ci(y, s, auc, n=100, seed=3)
    assert lo < auc(y, s) < hi and hi - lo < 0.1
    assert bootstrap_ci(y, s, auc, n=100, seed=3) == (lo, hi)  # seeded
    assert [traffic_light(p) for p in (0.2, 0.03, 0.001, float("nan"))] == ["green", "yellow", "red", "grey"]


# ---------------------------------------------------------------- decision reports

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source", "track", "embed"}


def well_formed(page: str) -> bool:
    """Every non-void element closed, in order (SVG children may close themselves)."""
    from html.parser import HTMLParser

    class Check(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.ok = [], True

        def handle_starttag(self, tag, attrs):
            if tag not in VOID:
                self.stack.append(tag)

        def handle_startendtag(self, tag, attrs):
            pass

        def handle_endtag(self, tag):
            if not self.stack or self.stack.pop() != tag:
                self.ok = False

    c = Check()
    c.feed(page)
    c.close()
    return c.ok and not c.stack and page.lstrip().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("which", ["gbm", "scorecard"])
def test_decision_reports_follow_the_schema_and_add_up(bundle, card_bundle, table, which):
    b = bundle if which == "gbm" else card_bundle
    res = explain_table(b, table, tier="C", reasons=5)
    docs = decision_documents(res, reasons=5, input_path="x.parquet", input_sha256="0" * 64)
    assert len(docs) == (res.graded["tier"].astype(str) == "C").sum() > 20
    sch = schema()
    for doc in docs:
        jsonschema.validate(doc, sch)
        contribs = [r["contribution"] for r in doc["reasons"]]
        assert contribs == sorted(contribs, reverse=True) and len(contribs) <= 5
        assert doc["decision"]["tier"] == "C" and doc["measures"]
    # The waterfall ends where the model ends: log-odds for the GBM, the score for the scorecard.
    g = res.graded.iloc[res.rows]
    for doc, (_, row) in zip(docs[:20], g.head(20).iterrows(), strict=False):
        total = doc["waterfall"]["base"] + sum(s["value"] for s in doc["waterfall"]["steps"])
        if which == "gbm":
            expected = np.log(row["pd_gbm"] / (1 - row["pd_gbm"]))
            cal = b.model.calibration["gbm"]
            assert (cal.a * total + cal.b) == pytest.approx(expected, abs=1e-6)
        else:
            assert total == pytest.approx(row["score"], abs=1e-6)


def test_reports_mask_personal_data_and_are_self_contained(bundle, table, tmp_path):
    res = explain_table(bundle, table, tier="D")
    docs = decision_documents(res)
    ids = set(table.column("legal_rep_id_number").to_pylist())
    names = dict(zip(table.column("uscc").to_pylist(), table.column("legal_rep_name").to_pylist(), strict=True))
    for doc in docs[:50]:
        text = json.dumps(doc, ensure_ascii=False)
        page = render_html(doc)
        assert not any((i and i in text) or (i and i in page) for i in ids)
        full = names[doc["entity"]["id"]]
        if full:
            assert doc["entity"]["legal_rep_name"] == full[0] + "*" * (len(full) - 1) and full not in page
        assert "<script" not in page and " src=" not in page and "href=" not in page and "@import" not in page
        assert '<meta charset="utf-8">' in page and "信用风险分类决定书" in page and "<svg" in page
        assert well_formed(page)
        for r in doc["reasons"]:  # the reasons in both languages
            assert r["name_zh"] in page and r["name_en"] in page


def test_explain_command_for_one_entity_and_for_a_tier(bundle, table, tmp_path):
    path = tmp_path / "r.parquet"
    import pyarrow.parquet as pq

    pq.write_table(table, path)
    code = table.column("uscc")[10].as_py()
    res = runner.invoke(app, ["explain", "--model", str(DATA / "bundle_v1"), "--input", str(path), "--uscc", code,
                              "--out", str(tmp_path / "one")])  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "one" / f"{code}.json").read_text())
    assert doc["entity"]["id"] == code and (tmp_path / "one" / f"{code}.html").exists()
    res = runner.invoke(app, ["explain", "--model", str(DATA / "bundle_v1"), "--input", str(path), "--tier", "A",
                              "--format", "json", "--out", str(tmp_path / "a")])  # fmt: skip
    assert res.exit_code == 0, res.output
    n = len(list((tmp_path / "a").glob("*.json")))
    assert n > 1000 and not list((tmp_path / "a").glob("*.html"))
    bad = runner.invoke(app, ["explain", "--model", str(DATA / "bundle_v1"), "--input", str(path), "--uscc",
                              "91110000MA0000000X", "--out", str(tmp_path / "x")])  # fmt: skip
    assert bad.exit_code != 0


# ---------------------------------------------------------------- profiles and validation report


def test_grade_profiles_are_group_means_of_the_contributions(bundle, labelled):
    grader = BundleGrader(bundle)
    graded = grader.grade(labelled.reset_index(drop=True)).graded.reset_index(drop=True)
    data = labelled.reset_index(drop=True)
    prof = grade_profiles(bundle, data, graded)
    assert sum(g["count"] for g in prof["grades"]) == len(graded)
    phi = grader.compiled.gbm.contributions(grader.compiled.gbm.matrix(data))[:, :-1]
    names = [f.name for f in bundle.model.gbm.features]
    for g in prof["grades"]:
        rows = (graded["model_grade"].astype(str) == g["grade"]).to_numpy()
        if rows.sum() == 0:
            continue
        for j in (0, 5, 11):
            assert g["mean_shap"][names[j]] == pytest.approx(phi[rows, j].mean(), abs=1e-9)
        assert all(d["difference"] > 0 for d in g["distinguishing"])
    worse = [g for g in prof["grades"] if g["count"]]
    assert sum(worse[-1]["mean_shap"].values()) > sum(worse[0]["mean_shap"].values())


def test_validation_report(bundle, labelled, tmp_path):
    rep = validation_report(bundle, labelled, n_boot=50, seed=1)
    y = labelled["bad_12m"].to_numpy(dtype=float)
    grader = BundleGrader(bundle)
    res = grader.compiled.score(labelled)
    d = rep["discrimination"]["gbm"]
    assert d["auc"] == pytest.approx(auc(y, res.margin)) and d["auc_ci"][0] < d["auc"] < d["auc_ci"][1]
    assert d["gini"] == pytest.approx(2 * d["auc"] - 1)
    cal = pd.DataFrame(rep["calibration"])
    ref = grade_table(bundle.model.scale, res.pd, y)
    np.testing.assert_allclose(cal["bad_rate"].fillna(-1), ref["bad_rate"].fillna(-1))
    assert set(cal["jeffreys_light"]) <= {"green", "yellow", "red", "grey"}
    assert rep["concentration"]["hhi"] == pytest.approx((cal["share"] ** 2).sum())
    # Same population as development: characteristics are stable.
    assert all(c["flag"] == "stable" for c in rep["stability"]["characteristics"])
    assert {"binning", "points", "gbm_importance", "overrides", "profiles", "champion_challenger"} <= set(rep)
    page = render_validation_html(rep)
    assert "Validation report" in page and page.count("<svg") >= 3 and well_formed(page)
    json.dumps(rep, default=str)


# ---------------------------------------------------------------- monitoring


def test_monitoring_flags_drift_and_backtests(bundle, labelled, tmp_path):
    schema_ = bundle_schema(bundle)
    same = validate_table(generate_registry(20_000, seed=82, as_of="2026-12-31").table, schema_).data
    drifted = validate_table(generate_registry(20_000, seed=82, as_of="2026-12-31", drift=2.5).table, schema_).data
    calm = monitor(bundle, labelled, same)
    assert calm["grade_psi"]["flag"] == "stable" and not calm["breaches_by_section"]["stability"]
    # The verdict covers every section: a red backtest (either direction) is a breach, never "no threshold breached".
    reds = [g for g in calm["backtest"]["grades"] if g["jeffreys_light"] == "red"]
    assert len(calm["breaches_by_section"]["backtest"]) == len(reds) and set(calm["breaches"]) >= set(
        calm["breaches_by_section"]["backtest"]
    )
    verdict = {v["section"].split(" · ")[1]: v["status"] for v in calm["verdict"]}
    assert (
        verdict["Backtest"] == ("breached" if reds else verdict["Backtest"]) and verdict["Grade distribution"] == "ok"
    )
    if reds:
        assert "No threshold breached" not in render_monitoring_html(calm)
    for g in calm["backtest"]["grades"]:  # two-sided: fewer defaults than the PD said is flagged too
        if g["count"] and g["jeffreys_p"] > 0.995:
            assert g["jeffreys_light"] == "red" and g["direction"] == "over"
    assert calm["migration"]["matched"] == 20_000 and calm["backtest"]["rows"] == 20_000
    hot = monitor(bundle, labelled, drifted)
    assert hot["breaches"] and hot["grade_psi"]["psi"] > calm["grade_psi"]["psi"]
    assert hot["migration"]["downgrade_rate"] > hot["migration"]["upgrade_rate"]
    assert "Monitoring" in render_monitoring_html(hot) and well_formed(render_monitoring_html(hot))
    ref, cur, cur2 = tmp_path / "ref.parquet", tmp_path / "cur.parquet", tmp_path / "cur2.parquet"
    write_registry(generate_registry(8_000, seed=83, as_of="2025-12-31"), ref)
    write_registry(generate_registry(8_000, seed=83, as_of="2026-12-31"), cur)
    write_registry(generate_registry(8_000, seed=83, as_of="2026-12-31", drift=2.5), cur2)
    args = ["monitor", "--model", str(DATA / "bundle_v1"), "--reference", str(ref)]
    ok = runner.invoke(app, [*args, "--current", str(cur), "--out", str(tmp_path / "m1")])
    assert ok.exit_code == 0, ok.output
    alarm = runner.invoke(app, [*args, "--current", str(cur2), "--out", str(tmp_path / "m2")])
    assert alarm.exit_code == 3
    quiet = runner.invoke(app, [*args, "--current", str(cur2), "--out", str(tmp_path / "m3"), "--fail-on", "none"])
    assert quiet.exit_code == 0, quiet.output
    rep = json.loads((tmp_path / "m1" / "monitoring.json").read_text())
    strict = runner.invoke(app, [*args, "--current", str(cur), "--out", str(tmp_path / "m4"), "--fail-on", "backtest"])
    assert strict.exit_code == (3 if rep["breaches_by_section"]["backtest"] else 0), strict.output
    anyone = runner.invoke(app, [*args, "--current", str(cur), "--out", str(tmp_path / "m5"), "--fail-on", "any"])
    assert anyone.exit_code == (3 if rep["breaches"] else 0)
    assert json.loads((tmp_path / "m2" / "monitoring.json").read_text())["breaches"]
    assert (tmp_path / "m2" / "monitoring.html").exists()


def test_report_command(tmp_path):
    data = tmp_path / "d.parquet"
    write_registry(generate_registry(10_000, seed=84, as_of="2025-12-31"), data)
    out = tmp_path / "rep" / "validation.html"
    res = runner.invoke(app, ["report", "--model", str(DATA / "bundle_v1"), "--data", str(data), "--out", str(out),
                              "--bootstrap", "30"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (
        out.exists() and out.with_suffix(".json").exists() and (tmp_path / "rep" / "validation_profiles.html").exists()
    )
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["discrimination"]["gbm"]["bootstrap"] == 30


def test_the_backtest_tests_a_snapshot_against_its_own_outcomes(bundle, labelled):
    """PDs given at the reference date meet the defaults of the 12 months after it, not those after
    the current date: replacing the current snapshot's outcomes changes nothing."""
    schema_ = bundle_schema(bundle)
    current = validate_table(generate_registry(20_000, seed=84, as_of="2026-12-31").table, schema_).data
    target = schema_.target_column
    a = monitor(bundle, labelled, current)
    b = monitor(bundle, labelled, current.assign(**{target: 0}))
    assert a["backtest"]["snapshot"] == b["backtest"]["snapshot"] == "reference"
    assert a["backtest"]["dates"] == ["2025-12-31"] and a["backtest"]["rows"] == len(labelled)
    assert a["backtest"]["grades"] == b["backtest"]["grades"]
    bads = sum(g["bads"] for g in a["backtest"]["grades"])
    assert bads == int(labelled[target].sum())
    # Without the reference's outcomes, the current snapshot is tested against its own.
    c = monitor(bundle, labelled.drop(columns=[target]), current)
    assert c["backtest"]["snapshot"] == "current" and sum(g["bads"] for g in c["backtest"]["grades"]) == int(
        current[target].sum()
    )
