"""Monitoring a model between two registry snapshots: stability, grade shift, migration, backtest.

:func:`monitor` grades a reference and a current registry with the same bundle and reports

* the PSI of the model-grade distribution and the CSI of every scorecard characteristic
  between the two, read with the usual thresholds (below 0.10 stable, up to 0.25 watch, above
  shifted);
* the grade distribution of each and its shift;
* the tier migration matrix of the entities present in both, with upgrade/downgrade rates;
* a backtest when the current data carries outcomes: the reference grades of the entities
  against the outcomes recorded for them in the current data, per grade with Jeffreys and
  binomial tests.

``breaches`` lists every stability index beyond the alert threshold (0.25); the CLI exits
with code 3 when there is one, so a scheduler can act on it. Backtest traffic lights are
reported beside them for the committee to read, without failing the job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_grading.bundle import Bundle
from credit_grading.engine.model import CompiledModel
from credit_grading.grading.decide import decide
from credit_grading.grading.fit import grade_table, records
from credit_grading.reports.html import render, table
from credit_grading.reports.validation import bin_counts, migration_matrix
from credit_grading.stats import PSI_ALERT, psi, stability_flag, traffic_light


def monitor(bundle: Bundle, reference: pd.DataFrame, current: pd.DataFrame, *, target: str = "bad_12m",
            id_column: str = "uscc") -> dict:  # fmt: skip
    """Compare two validated registry tables graded by ``bundle``."""
    model = bundle.model
    compiled = CompiledModel(model)
    ref, _ = decide(model, reference, reasons=0, compiled=compiled)
    cur, _ = decide(model, current, reasons=0, compiled=compiled)
    grades = list(model.scale.grades)
    rc = pd.Categorical(ref["model_grade"].astype(str), categories=grades).value_counts().to_numpy()
    cc = pd.Categorical(cur["model_grade"].astype(str), categories=grades).value_counts().to_numpy()
    grade_psi = psi(rc, cc)
    dist = [{"grade": g, "reference_share": float(a / max(rc.sum(), 1)), "current_share": float(b / max(cc.sum(), 1)),
             "change": float(b / max(cc.sum(), 1) - a / max(rc.sum(), 1))} for g, a, b in zip(grades, rc, cc, strict=True)]  # fmt: skip
    csi = []
    rb, cb = bin_counts(bundle, reference), bin_counts(bundle, current)
    for name, (counts, _) in rb.items():
        v = psi(counts, cb[name][0])
        csi.append({"feature": name, "csi": v, "flag": stability_flag(v)})
    out = {
        "format": "credit_grading.monitoring_report", "format_version": 1,
        "model": {"name": bundle.name, "version": bundle.version, "bundle_sha256": bundle.sha256},
        "rows": {"reference": len(reference), "current": len(current)},
        "grade_psi": {"psi": grade_psi, "flag": stability_flag(grade_psi)},
        "grade_distribution": dist,
        "characteristics": csi,
        "migration": migration_matrix(ref, cur, id_column),
        "backtest": None,
        "thresholds": {"watch": 0.10, "alert": PSI_ALERT},
    }  # fmt: skip
    if target in current.columns and current[target].notna().any():
        joined = ref[[id_column, "pd", "model_grade"]].merge(
            current[[id_column, target]].dropna(subset=[target]), on=id_column, how="inner")  # fmt: skip
        if len(joined):
            bt = grade_table(model.scale, joined["pd"].to_numpy(), joined[target].to_numpy(dtype=np.float64))
            bt["jeffreys_light"] = [traffic_light(p) for p in bt["jeffreys_p"]]
            out["backtest"] = {"rows": len(joined), "grades": list(records(bt))}
    breaches = []
    if grade_psi == grade_psi and grade_psi >= PSI_ALERT:
        breaches.append(f"grade distribution PSI {grade_psi:.3f} ≥ {PSI_ALERT}")
    breaches += [f"CSI of {c['feature']} {c['csi']:.3f} ≥ {PSI_ALERT}" for c in csi if c["csi"] >= PSI_ALERT]
    out["breaches"] = breaches
    if out["backtest"]:
        out["backtest"]["red_grades"] = [
            g["grade"] for g in out["backtest"]["grades"] if g.get("jeffreys_light") == "red"
        ]
    return out


def render_monitoring_html(report: dict) -> str:
    m = report["model"]
    g = report["grade_psi"]
    sections = [
        {"title": "结论 · Result", "paragraphs": (
            [f"{len(report['breaches'])} threshold(s) breached:"] + report["breaches"]
            if report["breaches"] else ["No threshold breached."])},
        {"title": "等级分布 · Grade distribution",
         "paragraphs": [f"Grade PSI {g['psi']:.4f} ({g['flag']}); thresholds 0.10 / 0.25."],
         "tables": [table(report["grade_distribution"])]},
        {"title": "特征稳定性 · Characteristic stability (CSI)",
         "tables": [table(report["characteristics"], ["feature", "csi", "flag"], classes="flag")]},
    ]  # fmt: skip
    mig = report["migration"]
    rows = [
        {"from \\ to": t, **dict(zip(mig["tiers"], r, strict=True))}
        for t, r in zip(mig["tiers"], mig["counts"], strict=True)
    ]
    rate = lambda v: "—" if v is None else f"{v:.2%}"  # noqa: E731
    sections.append({"title": "迁移 · Migration", "paragraphs": [
        f"{mig['matched']:,} entities in both; upgrade rate {rate(mig['upgrade_rate'])}, downgrade rate "
        f"{rate(mig['downgrade_rate'])}."], "tables": [table(rows)]})  # fmt: skip
    if report["backtest"]:
        bt = report["backtest"]
        sections.append({"title": "回溯检验 · Backtest", "paragraphs": [f"{bt['rows']:,} entities with outcomes."],
                         "tables": [table(bt["grades"], ["grade", "count", "bads", "bad_rate", "mean_pd", "jeffreys_p",
                                                         "binomial_p", "jeffreys_light"], classes="jeffreys_light")]})  # fmt: skip
    return render(
        f"模型监测 · Monitoring: {m['name']} {m['version']}",
        f"reference {report['rows']['reference']:,} rows · current {report['rows']['current']:,} rows",
        sections,
    )
