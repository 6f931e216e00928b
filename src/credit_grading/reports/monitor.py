"""Monitoring a model between two registry snapshots: stability, grade shift, migration, backtest.

:func:`monitor` grades a reference and a current registry with the same bundle and reports

* the PSI of the model-grade distribution and the CSI of every scorecard characteristic
  between the two, read with the usual thresholds (below 0.10 stable, up to 0.25 watch, above
  shifted);
* the grade distribution of each and its shift;
* the tier migration matrix of the entities present in both, with upgrade/downgrade rates;
* a backtest, per grade with Jeffreys and binomial tests, of the PDs of a snapshot against the
  outcomes recorded for that same snapshot (a default within 12 months of its date): the
  reference snapshot's once its outcomes are known, else the current one's where it has them.
  Testing last year's PDs against the outcomes that follow this year's date would mix horizons.

``verdict`` has one line per section (grade distribution, characteristics, backtest, migration).
``breaches`` lists every stability index beyond the alert threshold (0.25) and every grade whose
backtest is red on the two-sided Jeffreys test — too many defaults *or* too few against the PD;
``breaches_by_section`` splits them into ``stability`` and ``backtest``, and :func:`breached`
picks those that fail a run (``--fail-on stability|backtest|any|none``; the CLI exits with 3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_grading.bundle import Bundle
from credit_grading.engine.model import CompiledModel
from credit_grading.grading.decide import decide
from credit_grading.grading.fit import grade_table, records
from credit_grading.reports.html import render, table
from credit_grading.reports.validation import bin_counts, calibration_tests, feature_names, migration_matrix
from credit_grading.stats import PSI_ALERT, psi, stability_flag


def _dates(data: pd.DataFrame, column: str | None) -> list[str]:
    if column is None or column not in data.columns:
        return []
    return sorted({str(pd.Timestamp(v).date()) for v in data[column].dropna().unique()})


def monitor(bundle: Bundle, reference: pd.DataFrame, current: pd.DataFrame, *, target: str | None = None,
            id_column: str | None = None) -> dict:  # fmt: skip
    """Compare two validated registry tables graded by ``bundle`` (column roles: the bundle's)."""
    from credit_grading.service import bundle_schema

    roles = bundle_schema(bundle)
    target, id_column, dates = target or roles.target_column, id_column or roles.id_column, roles.as_of_column
    model = bundle.model
    compiled = CompiledModel(model)
    ref, _ = decide(model, reference, id_column=id_column, reasons=0, compiled=compiled,
                    as_of_column=dates if dates in reference.columns else None)  # fmt: skip
    cur, _ = decide(model, current, id_column=id_column, reasons=0, compiled=compiled,
                    as_of_column=dates if dates in current.columns else None)  # fmt: skip
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
        "snapshots": {"reference": _dates(reference, dates), "current": _dates(current, dates)},
        "grade_psi": {"psi": grade_psi, "flag": stability_flag(grade_psi)},
        "grade_distribution": dist,
        "characteristics": csi,
        "names": feature_names(bundle, [c["feature"] for c in csi]),
        "migration": migration_matrix(ref, cur, id_column),
        "backtest": None,
        "thresholds": {"watch": 0.10, "alert": PSI_ALERT},
    }  # fmt: skip
    # An outcome belongs to the snapshot it was recorded for (e.g. a default within 12 months of
    # that snapshot's date), so PDs are tested against the outcomes of the same snapshot: the
    # reference's once they are known, else the current one's where it carries them.
    for side, graded, table_ in (("reference", ref, reference), ("current", cur, current)):
        if target is None or target not in table_.columns or not table_[target].notna().any():
            continue
        y = table_[target].to_numpy(dtype=np.float64)
        known = ~np.isnan(y)
        pds = graded["pd"].to_numpy(dtype=np.float64)
        if len(pds) != len(y) or not known.any():
            continue
        bt = calibration_tests(grade_table(model.scale, pds[known], y[known]))
        out["backtest"] = {"rows": int(known.sum()), "snapshot": side,
                           "dates": out["snapshots"][side], "grades": list(records(bt))}  # fmt: skip
        break
    stability = []
    if grade_psi == grade_psi and grade_psi >= PSI_ALERT:
        stability.append(f"grade distribution PSI {grade_psi:.3f} ≥ {PSI_ALERT}")
    stability += [f"CSI of {c['feature']} {c['csi']:.3f} ≥ {PSI_ALERT}" for c in csi if c["csi"] >= PSI_ALERT]
    backtest = []
    if out["backtest"]:
        reds = [g for g in out["backtest"]["grades"] if g.get("jeffreys_light") == "red"]
        out["backtest"]["red_grades"] = [g["grade"] for g in reds]
        backtest = [f"backtest grade {g['grade']}: observed {100 * g['bad_rate']:.2f}% vs PD {100 * g['mean_pd']:.2f}% "
                    f"({'more' if g['direction'] == 'under' else 'fewer'} defaults than predicted; two-sided Jeffreys "
                    f"p {g['jeffreys_p_two_sided']:.2g})" for g in reds]  # fmt: skip
    out["breaches_by_section"] = {"stability": stability, "backtest": backtest}
    out["breaches"] = stability + backtest
    out["verdict"] = verdict(out)
    return out


FAIL_ON = ("stability", "backtest", "any", "none")


def breached(report: dict, fail_on: str = "stability") -> list[str]:
    """The breaches that fail a run under ``fail_on`` (stability, backtest, any, none)."""
    if fail_on not in FAIL_ON:
        raise ValueError(f"fail_on must be one of {FAIL_ON}, got {fail_on!r}")
    by = report.get("breaches_by_section", {"stability": report.get("breaches", []), "backtest": []})
    if fail_on == "none":
        return []
    return list(by["stability"]) + list(by["backtest"]) if fail_on == "any" else list(by[fail_on])


def verdict(report: dict) -> list[dict]:
    """One line per section: stability, characteristics, backtest and migration, each ok / watch / breached."""
    g = report["grade_psi"]
    csi = report["characteristics"]
    shifted = [c["feature"] for c in csi if c["flag"] == "shifted"]
    watch = [c["feature"] for c in csi if c["flag"] == "watch"]
    out = [{"section": "等级分布 · Grade distribution", "status": "breached" if g["flag"] == "shifted" else
            "watch" if g["flag"] == "watch" else "ok", "text": f"PSI {g['psi']:.3f} ({g['flag']})"},
           {"section": "特征稳定性 · Characteristics", "status": "breached" if shifted else "watch" if watch else "ok",
            "text": (f"shifted: {', '.join(shifted)}. " if shifted else "") + (f"watch: {', '.join(watch)}."
                     if watch else "") or f"all {len(csi)} stable (CSI < 0.10)"}]  # fmt: skip
    bt = report.get("backtest")
    if bt:
        grades = bt["grades"]
        reds = [x for x in grades if x.get("jeffreys_light") == "red"]
        yellows = [x["grade"] for x in grades if x.get("jeffreys_light") == "yellow"]
        text = "; ".join(f"{x['grade']} observed {100 * x['bad_rate']:.2f}% vs PD {100 * x['mean_pd']:.2f}% "
                         f"({'under' if x['direction'] == 'under' else 'over'}-predicted)" for x in reds)  # fmt: skip
        if yellows:
            text += ("; " if text else "") + f"yellow: {', '.join(yellows)}"
        out.append({"section": "回溯检验 · Backtest", "status": "breached" if reds else "watch" if yellows else "ok",
                    "text": text or f"all {len(grades)} grades within their 95% interval"})  # fmt: skip
    else:
        out.append(
            {"section": "回溯检验 · Backtest", "status": "not run", "text": "the current data carries no outcomes"}
        )
    mig = report["migration"]
    rate = lambda v: "—" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    out.append({"section": "迁移 · Migration", "status": "info", "text": f"{mig['matched']:,} entities in both; "
                f"{rate(mig['downgrade_rate'])} downgraded, {rate(mig['upgrade_rate'])} upgraded"})  # fmt: skip
    return out


def render_monitoring_html(report: dict) -> str:
    """The monitoring report as one self-contained HTML page."""
    from credit_grading.explain.readable import pct

    m = report["model"]
    g = report["grade_psi"]
    snaps = report.get("snapshots", {})
    ref_d = ", ".join(snaps.get("reference", [])) or "—"
    cur_d = ", ".join(snaps.get("current", [])) or "—"
    status_class = {"ok": "green", "watch": "yellow", "breached": "red", "not run": "grey", "info": ""}
    verdict = [{"部分 Section": v["section"], "结论 Status": v["status"], "说明 Detail": v["text"],
                "_class": status_class.get(v["status"], "")} for v in report.get("verdict", [])]  # fmt: skip
    n_breach = len(report["breaches"])
    by = report.get("breaches_by_section", {})
    head = (f"{n_breach} threshold(s) breached — stability {len(by.get('stability', []))}, backtest "
            f"{len(by.get('backtest', []))}; act on the red lines below." if n_breach
            else "No threshold breached: stability and backtest are within their limits.")  # fmt: skip
    sections = [
        {"title": "结论 · Verdict", "paragraphs": [head],
         "tables": [table(verdict, ["部分 Section", "结论 Status", "说明 Detail"], classes="_class")]},
        {"title": "样本 · Snapshots", "paragraphs": [
            f"Reference snapshot {ref_d}: {report['rows']['reference']:,} entities. "
            f"Current snapshot {cur_d}: {report['rows']['current']:,} entities."]},
        {"title": "等级分布 · Grade distribution",
         "paragraphs": [f"Grade PSI {g['psi']:.4f} ({g['flag']}); below 0.10 stable, 0.10–0.25 watch, above 0.25 shifted."],
         "tables": [table([{"grade": r["grade"], "reference": pct(r["reference_share"]),
                            "current": pct(r["current_share"]),
                            "change (points)": f"{100 * r['change']:+.2f}"} for r in report["grade_distribution"]])]},
        {"title": "特征稳定性 · Characteristic stability (CSI)",
         "tables": [table([{**c, "feature": report.get("names", {}).get(c["feature"], c["feature"])}
                           for c in report["characteristics"]], ["feature", "csi", "flag"], classes="flag")]},
    ]  # fmt: skip
    mig = report["migration"]
    rows = []
    for t, counts, rates in zip(mig["tiers"], mig["counts"], mig["rates"], strict=True):
        row = {"from \\ to": t}
        for t2, c, r in zip(mig["tiers"], counts, rates, strict=True):
            row[t2] = f"{c:,} ({pct(r)})" if r is not None else f"{c:,}"
        row["total"] = f"{sum(counts):,}"
        rows.append(row)
    rate = lambda v: "—" if v is None else pct(v)  # noqa: E731
    sections.append({"title": "迁移 · Migration between the snapshots", "paragraphs": [
        f"{mig['matched']:,} entities are in both snapshots; {mig.get('downgrades', 0):,} moved to a worse tier "
        f"({rate(mig['downgrade_rate'])}), {mig.get('upgrades', 0):,} to a better one ({rate(mig['upgrade_rate'])}). "
        "Rows: tier in the reference snapshot; columns: tier now; each cell: entities (share of the row)."],
        "tables": [table(rows)]})  # fmt: skip
    if report["backtest"]:
        bt = report["backtest"]
        rows = [{"grade": x["grade"], "entities": x["count"], "defaults": x["bads"], "observed": pct(x["bad_rate"]),
                 "predicted PD": pct(x["mean_pd"]),
                 "95% interval": f"{pct(x['observed_low'])} – {pct(x['observed_high'])}",
                 "p (two-sided)": f"{x['jeffreys_p_two_sided']:.3g}",
                 "miss": "" if x["jeffreys_light"] == "green" else
                 ("more defaults than PD" if x["direction"] == "under" else "fewer defaults than PD"),
                 "light": x["jeffreys_light"]} for x in bt["grades"] if x["count"]]  # fmt: skip
        sections.append({"title": "回溯检验 · Backtest", "paragraphs": [
            f"The {bt['rows']:,} entities of the {bt.get('snapshot', 'reference')} snapshot"
            f"{' (' + ', '.join(bt['dates']) + ')' if bt.get('dates') else ''} whose outcome is known: "
            "per grade, the share that defaulted within 12 months of that snapshot against the PD the model gave "
            "them. A grade is red "
            "when its PD lies outside the 99% Jeffreys interval of the observed rate (two-sided: too many or too few "
            "defaults), yellow outside the 95% interval."],
            "tables": [table(rows, classes="light")]})  # fmt: skip
    return render(
        f"模型监测 · Monitoring: {m['name']} {m['version']}",
        f"reference {ref_d} ({report['rows']['reference']:,} rows) · current {cur_d} "
        f"({report['rows']['current']:,} rows) · bundle sha256 {m['bundle_sha256']}",
        sections,
    )
