"""The validation report a credit committee expects, from Python (a dict) or as HTML.

On labelled registry rows graded by a bundle: discrimination (ROC, AUC/Gini/KS with seeded
bootstrap confidence intervals) for the champion and the challenger; calibration per grade
(observed bad rate against PD, Jeffreys and binomial tests, traffic lights); concentration
(Herfindahl index); stability against the development sample (PSI of the grade distribution,
CSI of every scorecard characteristic); the binning tables with IV; the points table; GBM
importance (mean |SHAP|); override rates; the migration matrix when a previous grading is given;
and the SHAP profile of every grade. From the training (the bundle's ``evaluation.json``, or
``training=`` given): how the champion was chosen and on what evidence, the cross-validated
AUC/Gini/KS (mean ± sd, fold-level min and max) of both models beside the held-out figures,
and the rows the grade cut-offs were fitted on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from credit_grading.binning.fit import feature_slots
from credit_grading.bundle import Bundle
from credit_grading.columns import Columns
from credit_grading.engine.model import CompiledModel
from credit_grading.evaluation import auc, ks
from credit_grading.exceptions import DataError
from credit_grading.explain import charts
from credit_grading.explain.profiles import grade_profiles
from credit_grading.grading.decide import decide
from credit_grading.grading.fit import grade_table, records
from credit_grading.reports.html import render, table
from credit_grading.reports.tables import binning_frame, points_frame
from credit_grading.stats import bootstrap_ci, hhi, psi, rank_moves, stability_flag, traffic_light


def _roc(y: np.ndarray, risk: np.ndarray, points: int = 101) -> tuple[list[float], list[float]]:
    order = np.argsort(-risk, kind="mergesort")
    ys = y[order]
    tpr = np.concatenate([[0.0], np.cumsum(ys) / max(ys.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(1 - ys) / max((1 - ys).sum(), 1)])
    idx = np.unique(np.linspace(0, len(tpr) - 1, points).astype(int))
    return fpr[idx].round(5).tolist(), tpr[idx].round(5).tolist()


def feature_names(bundle: Bundle, features) -> dict[str, str]:
    """Catalogue names ("中文 · English") of ``features``; an item the catalogue lacks keeps its id."""
    from credit_grading.explain.readable import item_name

    out = {}
    for f in features:
        zh, en = item_name(bundle.catalogue, f)
        out[f] = f if zh == en == f else f"{zh} · {en}"
    return out


def calibration_tests(cal: pd.DataFrame) -> pd.DataFrame:
    """Two-sided calibration per grade: the Jeffreys posterior's two-sided p-value, its 95% interval
    of the default rate, the direction of a miss (``under``: more defaults than the PD said,
    ``over``: fewer) and the traffic light of the two-sided test."""
    from scipy import stats as st

    out = cal.copy()
    d = out["bads"].to_numpy(dtype=np.float64)
    n = out["count"].to_numpy(dtype=np.float64)
    p = out["jeffreys_p"].to_numpy(dtype=np.float64)
    two = np.minimum(1.0, 2 * np.minimum(p, 1 - p))
    out["jeffreys_p_two_sided"] = two
    with np.errstate(invalid="ignore"):
        out["observed_low"] = np.where(n > 0, st.beta.ppf(0.025, d + 0.5, n - d + 0.5), np.nan)
        out["observed_high"] = np.where(n > 0, st.beta.ppf(0.975, d + 0.5, n - d + 0.5), np.nan)
    out["direction"] = np.where(p < 0.5, "under", "over")
    out["jeffreys_light"] = [traffic_light(v) for v in two]
    return out


def light_summary(cal: list[dict]) -> dict:
    """Counts of the grades' lights and the grades that need action (red), with their direction."""
    lights = [c.get("jeffreys_light", "grey") for c in cal]
    red = [{"grade": c["grade"], "direction": c.get("direction"), "bad_rate": c.get("bad_rate"),
            "mean_pd": c.get("mean_pd")} for c in cal if c.get("jeffreys_light") == "red"]  # fmt: skip
    return {
        "green": lights.count("green"),
        "yellow": lights.count("yellow"),
        "red": lights.count("red"),
        "red_grades": red,
    }


def discrimination(y: np.ndarray, risk: np.ndarray, *, n_boot: int = 200, seed: int = 0) -> dict:
    """AUC, Gini and KS with percentile bootstrap intervals, and the ROC curve."""
    a = auc(y, risk)
    auc_ci = bootstrap_ci(y, risk, auc, n=n_boot, seed=seed)
    ks_ci = bootstrap_ci(y, risk, ks, n=n_boot, seed=seed + 1)
    fpr, tpr = _roc(y, risk)
    return {"auc": a, "auc_ci": list(auc_ci), "gini": 2 * a - 1, "gini_ci": [2 * auc_ci[0] - 1, 2 * auc_ci[1] - 1],
            "ks": ks(y, risk), "ks_ci": list(ks_ci), "roc": {"fpr": fpr, "tpr": tpr}, "bootstrap": n_boot}  # fmt: skip


def bin_counts(bundle: Bundle, data: pd.DataFrame) -> dict[str, tuple[np.ndarray, int]]:
    """Rows per bin of every scorecard characteristic, and the rows with a level never seen."""
    card = bundle.model.scorecard
    if card is None:
        return {}
    cols = Columns(data)
    out = {}
    for f in card.features:
        b = f.binning
        nb = len(b.bins)
        slot_to_bin = np.asarray(b.slot_values(np.arange(nb, dtype=np.float64), unseen=-1.0)).astype(np.int64)
        bins = slot_to_bin[feature_slots(b, cols)]
        out[f.name] = (np.bincount(bins[bins >= 0], minlength=nb), int((bins < 0).sum()))
    return out


def characteristic_stability(bundle: Bundle, data: pd.DataFrame) -> list[dict]:
    """CSI of every scorecard characteristic: development bin counts against this data's."""
    dev = {f.name: np.array([x.count for x in f.binning.bins], dtype=np.float64)
           for f in (bundle.model.scorecard.features if bundle.model.scorecard else ())}  # fmt: skip
    out = []
    for name, (current, unseen) in bin_counts(bundle, data).items():
        value = psi(dev[name], current)
        out.append({"feature": name, "csi": value, "flag": stability_flag(value), "unseen": unseen})
    return out


def grade_stability(bundle: Bundle, model_grades: pd.Series) -> dict:
    """PSI of the model-grade distribution against the development sample's."""
    scale = bundle.model.scale
    dev = np.array([r["count"] for r in scale.table], dtype=np.float64) if scale.table else None
    cur = pd.Categorical(model_grades.astype(str), categories=list(scale.grades)).value_counts().to_numpy()
    if dev is None:
        return {"psi": None, "flag": "unknown", "development": None, "current": cur.tolist()}
    value = psi(dev, cur)
    return {
        "psi": value,
        "flag": stability_flag(value),
        "development": dev.astype(int).tolist(),
        "current": cur.tolist(),
    }


def migration_matrix(previous: pd.DataFrame, current: pd.DataFrame, id_column: str) -> dict:
    """Tier migration between two gradings of the same entities (counts, rates, up/down)."""
    tiers = ["A", "B", "C", "D", "M"]
    p = previous[[id_column, "tier"]].drop_duplicates(id_column).rename(columns={"tier": "before"})
    m = current[[id_column, "tier"]].merge(p, on=id_column, how="inner")
    counts = pd.crosstab(pd.Categorical(m["before"].astype(str), categories=tiers),
                         pd.Categorical(m["tier"].astype(str), categories=tiers), dropna=False)  # fmt: skip
    c = counts.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = c / c.sum(axis=1, keepdims=True)
    return {
        "tiers": tiers,
        "counts": c.astype(int).tolist(),
        "rates": [[None if v != v else float(v) for v in row] for row in rates],
        "matched": len(m),
        **rank_moves(c[:4, :4]),  # A–D; moves into or out of status M are not up or down
    }  # fmt: skip


def training_evidence(bundle: Bundle, training: dict | None = None) -> dict | None:
    """What the training found that a validator needs: the champion's choice and evidence, the
    cross-validation, the split and the grade-fitting sample; from ``training`` (a training's
    evaluation) or the bundle's ``evaluation.json`` (checked against the manifest's sha256)."""
    import json

    from credit_grading.storage import sha256_bytes

    if training is None:
        path = bundle.reports.get("evaluation.json") if bundle.reports else None
        want = bundle.manifest.get("files", {}).get("evaluation.json")
        if path is None or want is None:
            return None
        try:
            raw = Path(path).read_bytes()
        except OSError:
            return None
        if sha256_bytes(raw) != want:
            return None
        training = json.loads(raw)
    grades = training.get("grades") or {}
    out = {k: training[k] for k in ("champion_choice", "cv", "split") if k in training}
    out["grades"] = {"sample": grades.get("sample"), "count": grades.get("count")}
    return out if len(out) > 1 else None


def validation_report(bundle: Bundle, data: pd.DataFrame, *, previous: pd.DataFrame | None = None,
                      n_boot: int = 200, seed: int = 0, target: str | None = None,
                      training: dict | None = None) -> dict:  # fmt: skip
    """Every section of the validation report, as plain data. Column roles (id, as-of, target)
    are the bundle's, from the config it was trained with; ``target`` overrides the outcome.
    ``training`` (a training's evaluation) gives the champion's choice and the cross-validation;
    by default they are read from the bundle's ``evaluation.json`` when it has one."""
    from credit_grading.service import bundle_schema

    roles = bundle_schema(bundle)
    target = target or roles.target_column
    if target is None or target not in data.columns or data[target].isna().all():
        raise DataError(f"a validation report needs outcomes: the data has no {target!r} values")
    data = data[data[target].notna()]
    model = bundle.model
    compiled = CompiledModel(model)
    if bundle.segments is not None:  # sector models: every row by its segment's model
        from credit_grading.engine.segmented import CompiledSegmentedModel

        compiled = CompiledSegmentedModel(bundle.segments)
    dates = roles.as_of_column if roles.as_of_column in data.columns else None
    # Lists come from memberships files when grading, not from the labelled data: a rule naming one
    # reads it as empty here (its effect is in each rescoring's override report).
    listed = sorted({i for r in model.overrides for i in r.when.items() if i.startswith("list:")} - set(data.columns))
    if listed:
        data = data.assign(**{c: np.zeros(len(data), dtype=np.int8) for c in listed})
    graded, grading = decide(model, data, id_column=roles.id_column, as_of_column=dates, reasons=0, compiled=compiled)
    y = data[target].to_numpy(dtype=np.float64)
    res = compiled.score(data)
    disc = {}
    if res.score is not None:
        disc["scorecard"] = discrimination(y, -res.score, n_boot=n_boot, seed=seed)
    if res.margin is not None:
        disc["gbm"] = discrimination(y, res.margin, n_boot=n_boot, seed=seed)
    cal = calibration_tests(grade_table(model.scale, res.pd, y))
    cal["binomial_light"] = [traffic_light(p) for p in cal["binomial_p"]]
    out = {
        "format": "credit_grading.validation_report", "format_version": 1,
        "model": {"name": bundle.name, "version": bundle.version, "bundle_sha256": bundle.sha256,
                  "champion": model.champion},
        "data": {"rows": len(data), "bad_rate": float(y.mean()),
                 # The report's key for the snapshot dates (a field of its format, not a column name):
                 "as_of": sorted({str(pd.Timestamp(v).date()) for v in data[dates].unique()}) if dates else None},  # not a column name
        "discrimination": disc,
        "calibration": list(records(cal)),
        "concentration": {"hhi": hhi(cal["count"].to_numpy()), "max_share": float(cal["share"].max())},
        "stability": {"grades": grade_stability(bundle, graded["model_grade"]),
                      "characteristics": characteristic_stability(bundle, data)},
        "overrides": list(records(grading.override_report())),
        "champion_challenger": [{"model": k, **{m: v[m] for m in ("auc", "gini", "ks")}} for k, v in disc.items()],
    }  # fmt: skip
    if model.scorecard is not None:
        out["binning"] = [{"feature": f.name, "iv": f.binning.iv} for f in model.scorecard.features]
        out["binning_tables"] = list(records(binning_frame(_binning_spec(model.scorecard))))
        points = {(f.name, i): p for f in model.scorecard.features for i, p in enumerate(f.points)}
        for r in out["binning_tables"]:
            r["points"] = points.get((r["feature"], r["bin"]))
        out["points"] = list(records(points_frame(model.scorecard)))
    if model.gbm is not None:
        phi = compiled.gbm.contributions(compiled.gbm.matrix(data))[:, :-1]
        imp = np.abs(phi).mean(axis=0)
        order = np.argsort(-imp)
        out["gbm_importance"] = [{"feature": model.gbm.features[j].name, "mean_abs_shap": float(imp[j])} for j in order]
    out["profiles"] = grade_profiles(bundle, data, graded, compiled=compiled)
    feats = [c["feature"] for c in out["stability"]["characteristics"]] + [
        r["feature"] for r in out.get("gbm_importance", [])
    ]
    out["names"] = feature_names(bundle, dict.fromkeys(feats))
    out["rule_labels"] = {r.id: f"{r.label_zh} · {r.label_en}" if r.label_zh else (r.label_en or r.id)
                          for r in model.overrides}  # fmt: skip
    if bundle.segments is not None:
        from credit_grading.segments import segment_sections

        out["segments"] = segment_sections(bundle.segments, data, target)
    if previous is not None:
        out["migration"] = migration_matrix(previous, graded, roles.id_column)
    evidence = training_evidence(bundle, training)
    if evidence is not None:
        out["training"] = evidence
    return out


def _binning_spec(card):
    from credit_grading.specs.binning import BinningSpec

    return BinningSpec(tuple(f.binning for f in card.features))


IV_SUSPICIOUS = 0.5


def _summary(report: dict) -> list[str]:
    """The conclusions a committee reads first: each a sentence, the ones to act on first."""
    from credit_grading.explain.readable import pct

    m = report["model"]
    d = report["discrimination"][m["champion"]]
    cal = report["calibration"]
    ls = light_summary(cal)
    st = report["stability"]
    out = []
    for r in ls["red_grades"]:
        out.append(f"ACT: grade {r['grade']} is red — observed default rate {pct(r['bad_rate'])} against PD "
                   f"{pct(r['mean_pd'])} ({'more' if r['direction'] == 'under' else 'fewer'} defaults than predicted); "
                   "review its calibration.")  # fmt: skip
    shifted = [report.get("names", {}).get(c["feature"], c["feature"]) for c in st["characteristics"]
               if c["flag"] == "shifted"]  # fmt: skip
    if shifted:
        out.append(f"ACT: characteristics shifted against development (CSI ≥ 0.25): {', '.join(shifted)}.")
    sus = [report.get("names", {}).get(b["feature"], b["feature"]) for b in report.get("binning", [])
           if b["iv"] > IV_SUSPICIOUS]  # fmt: skip
    if sus:
        out.append(f"CHECK: information value above {IV_SUSPICIOUS} (suspiciously strong; look for leakage): "
                   f"{', '.join(sus)}.")  # fmt: skip
    out.append(f"Discrimination: champion {m['champion']} AUC {d['auc']:.3f} (95% CI {d['auc_ci'][0]:.3f}–"
               f"{d['auc_ci'][1]:.3f}), Gini {d['gini']:.3f} ({d['gini_ci'][0]:.3f}–{d['gini_ci'][1]:.3f}), "
               f"KS {d['ks']:.3f} ({d['ks_ci'][0]:.3f}–{d['ks_ci'][1]:.3f}).")  # fmt: skip
    tr = report.get("training") or {}
    if tr.get("champion_choice"):
        out.append(f"Champion: {tr['champion_choice']['reason']}.")
    cv = tr.get("cv") or {}
    if cv.get("ran"):
        a = cv["models"][m["champion"]]["auc"]
        out.append(f"Cross-validated ({cv['folds']} folds × {cv['repeats']} repeats): champion AUC {a['mean']:.3f} ± "
                   f"{a['sd']:.3f} (folds {a['min']:.3f}–{a['max']:.3f}).")  # fmt: skip
    out.append(f"Calibration (two-sided Jeffreys test per grade): {ls['green']} green, {ls['yellow']} yellow, "
               f"{ls['red']} red of {len(cal)} grades.")  # fmt: skip
    g = st["grades"]
    if g["psi"] is not None:
        out.append(f"Stability: grade distribution PSI {g['psi']:.3f} ({g['flag']}) against the development sample; "
                   f"{sum(c['flag'] == 'watch' for c in st['characteristics'])} characteristic(s) to watch, "
                   f"{len(shifted)} shifted.")  # fmt: skip
    conc = report["concentration"]
    out.append(f"Concentration: Herfindahl index {conc['hhi']:.3f}; the largest grade holds {pct(conc['max_share'])}.")
    changed = sum(r["changed"] for r in report["overrides"])
    out.append(f"Overrides changed {changed:,} decisions ({pct(changed / max(report['data']['rows'], 1))} of rows).")
    return out


_BIN_KIND = {"special": "特殊值 · special", "missing": "缺失 · missing"}


def _bin_label(r: dict) -> str:
    return r["label"] if r["kind"] == "regular" else _BIN_KIND.get(r["kind"], r["kind"])


def _signoff() -> str:
    rows = [("验证人 Validated by", "姓名、日期 · name, date"), ("模型负责人 Model owner", "姓名、日期 · name, date"),
            ("信用委员会 Credit committee", "决议：批准 / 有条件批准 / 不批准 · approved / approved with conditions / "
             "not approved"), ("委员会主席 Chair", "签字、日期 · signature, date")]  # fmt: skip
    body = "".join(f"<tr><th>{a}</th><td><span class='small'>{b}</span></td></tr>" for a, b in rows)
    return f'<table class="signoff">{body}</table>'


def render_validation_html(report: dict, catalogue=None) -> str:
    """The validation report as one self-contained HTML page (prints on A4)."""
    from credit_grading.explain.readable import pct

    m = report["model"]
    names = report.get("names", {})
    name = lambda f: names.get(f, f)  # noqa: E731
    data = report["data"]
    sections = [{"title": "结论 · Executive summary", "items": _summary(report)}]
    dates = ", ".join(data.get("as_of") or []) or "—"  # the report's field, not a column name
    sections.append({"title": "样本 · Sample", "paragraphs": [
        f"Snapshot date(s): {dates}. {data['rows']:,} entities with a known outcome, "
        f"{round(data['rows'] * data['bad_rate']):,} of them defaulted within 12 months (bad rate {pct(data['bad_rate'])})."]})  # fmt: skip
    disc = report["discrimination"]
    rows = [{"model": k + (" (champion)" if k == m["champion"] else ""), "AUC": v["auc"],
             "AUC 95% CI": f"{v['auc_ci'][0]:.4f} – {v['auc_ci'][1]:.4f}", "Gini": v["gini"],
             "Gini 95% CI": f"{v['gini_ci'][0]:.4f} – {v['gini_ci'][1]:.4f}", "KS": v["ks"],
             "KS 95% CI": f"{v['ks_ci'][0]:.4f} – {v['ks_ci'][1]:.4f}"} for k, v in disc.items()]  # fmt: skip
    roc = charts.lines([(f"{k} AUC {v['auc']:.3f}", v["roc"]["fpr"], v["roc"]["tpr"]) for k, v in disc.items()],
                       title="ROC")  # fmt: skip
    tr = report.get("training") or {}
    paras = [f"Champion: {m['champion']}. Intervals from {next(iter(disc.values()))['bootstrap']} seeded bootstrap "
             "resamples of these rows."]  # fmt: skip
    if tr.get("champion_choice"):
        paras.append(f"How the champion was chosen: {tr['champion_choice']['reason']}.")
    tables = [table(rows, title="These rows (one split)")]
    cv = tr.get("cv") or {}
    if cv.get("ran"):
        paras.append(f"Cross-validation: {cv['folds']} stratified folds × {cv['repeats']} repeats (seed {cv['seed']}) "
                     f"on the {cv['rows']:,} {cv['sample']}; both models refitted on every fold. Mean ± standard "
                     "deviation over the folds, and the lowest and highest fold.")  # fmt: skip
        cv_rows = [{"model": k + (" (champion)" if k == m["champion"] else ""),
                    **{f"{lab} mean ± sd": f"{v[key]['mean']:.4f} ± {v[key]['sd']:.4f}" for key, lab in
                       (("auc", "AUC"), ("gini", "Gini"), ("ks", "KS"))},
                    "AUC fold min – max": f"{v['auc']['min']:.4f} – {v['auc']['max']:.4f}"}
                   for k, v in cv["models"].items()]  # fmt: skip
        tables.append(table(cv_rows, title="Cross-validated (development rows)"))
    elif cv:
        paras.append(f"No cross-validation: {cv.get('reason', 'not run')}.")
    sections.append({"title": "区分能力 · Discrimination (champion and challenger)", "svgs": [roc],
                     "paragraphs": paras, "tables": tables})  # fmt: skip
    if "segments" in report:
        sections.append(_segments_section(report["segments"]))
    cal = report["calibration"]
    chart = charts.calibration([(c["grade"], c["mean_pd"], c["bad_rate"], c.get("observed_low"), c.get("observed_high"))
                                for c in cal if c["count"]], title="calibration")  # fmt: skip
    cal_rows = [{"grade": c["grade"], "tier": c["tier"], "PD up to": pct(c["pd_max"]), "entities": c["count"],
                 "share": pct(c["share"]), "defaults": c["bads"], "observed": pct(c["bad_rate"]),
                 "predicted PD": pct(c["mean_pd"]),
                 "95% interval": f"{pct(c.get('observed_low'))} – {pct(c.get('observed_high'))}",
                 "p (two-sided)": f"{c.get('jeffreys_p_two_sided', float('nan')):.3g}",
                 "light": c["jeffreys_light"]} for c in cal]  # fmt: skip
    cal_paras = ["Per grade, the observed default rate with its 95% Jeffreys interval against the mean predicted PD. A "
                 "grade is red when the two-sided Jeffreys p-value is below 0.01, yellow below 0.05 (too many or too few "
                 "defaults)."]  # fmt: skip
    fitted = (tr.get("grades") or {}) if tr else {}
    if fitted.get("sample"):
        cal_paras.append(f"Grade cut-offs fitted on {fitted['sample']}.")
    count = fitted.get("count") or {}
    if count.get("reason"):
        cal_paras.append(f"{count['fitted']} of the {count['configured']} configured grades: {count['reason']}.")
    sections.append({"title": "校准 · Calibration per grade", "svgs": [chart], "paragraphs": cal_paras,
                     "tables": [table(cal_rows, classes="light")]})  # fmt: skip
    conc = report["concentration"]
    sections.append({"title": "集中度 · Concentration",
                     "paragraphs": [f"Herfindahl index {conc['hhi']:.4f}; the largest grade holds {pct(conc['max_share'])}."]})  # fmt: skip
    st = report["stability"]
    g = st["grades"]
    paras = [f"Grade distribution PSI against the development sample: {g['psi']:.4f} ({g['flag']})."
             if g["psi"] is not None else "No development grade distribution in this bundle."]  # fmt: skip
    csi = [{"characteristic": name(c["feature"]), "CSI": c["csi"], "unseen levels": c["unseen"], "flag": c["flag"]}
           for c in st["characteristics"]]  # fmt: skip
    sections.append({"title": "稳定性 · Stability", "paragraphs": paras,
                     "tables": [table(csi, classes="flag", title="Characteristic stability (CSI)")]})  # fmt: skip
    if "binning" in report:
        ivs = [{"characteristic": name(b["feature"]), "IV": b["iv"],
                "note": "suspicious (IV > 0.5)" if b["iv"] > IV_SUSPICIOUS else "",
                "_class": "suspicious" if b["iv"] > IV_SUSPICIOUS else ""}
               for b in sorted(report["binning"], key=lambda r: -r["iv"])]  # fmt: skip
        sections.append({"title": "分箱与IV · Binning and information value", "paragraphs": [
            "One table per characteristic of the scorecard: its bins, entities, event rate, WoE, IV and points. "
            "Special and missing bins that hold no entity are left out."],
            "tables": [table(ivs, ["characteristic", "IV", "note"], classes="_class")]})  # fmt: skip
        by_feature: dict[str, list[dict]] = {}
        for r in report["binning_tables"]:
            if r["kind"] != "regular" and not r["count"]:
                continue
            by_feature.setdefault(r["feature"], []).append(r)
        for f, bins in by_feature.items():
            rows = [{"bin": _bin_label(r), "entities": r["count"], "events": r["count_event"],
                     "event rate": pct(r["event_rate"]), "WoE": r["woe"], "IV": r["iv"], "points": r.get("points")}
                    for r in bins]  # fmt: skip
            sections.append({"title": name(f), "level": 3,
                             "svgs": [charts.rate_bars([(_bin_label(r), r["event_rate"]) for r in bins])],
                             "tables": [table(rows)]})  # fmt: skip
    if "gbm_importance" in report:
        imp = report["gbm_importance"]
        sections.append({"title": "GBM 重要性 · GBM importance (mean |SHAP|, log-odds)",
                         "svgs": [charts.bars([(name(r["feature"]).split(" · ")[0], r["mean_abs_shap"])
                                               for r in imp[:15]])]})  # fmt: skip
    labels = report.get("rule_labels", {})
    ov = [{"rule": labels.get(r["rule"], r["label"] or r["rule"]), "matched": r["matched"],
           "matched share": pct(r["matched_rate"]), "changed": r["changed"], "changed share": pct(r["changed_rate"])}
          for r in report["overrides"]]  # fmt: skip
    sections.append({"title": "调整 · Overrides", "tables": [table(ov)]})
    if "migration" in report:
        mig = report["migration"]
        rows = [{"from \\ to": t, **{t2: f"{c:,} ({pct(r)})" if r is not None else f"{c:,}"
                                       for t2, c, r in zip(mig["tiers"], cs, rs, strict=True)}}
                for t, cs, rs in zip(mig["tiers"], mig["counts"], mig["rates"], strict=True)]  # fmt: skip
        sections.append({"title": "迁移 · Migration", "paragraphs": [
            f"{mig['matched']:,} entities in both gradings; upgrades {mig['upgrades']:,}, downgrades {mig['downgrades']:,}."],
            "tables": [table(rows)]})  # fmt: skip
    sections.append({"title": "等级画像 · Grade profiles", "paragraphs": [
        "The SHAP profile of every grade is on its own page (grade_profiles.html / *_profiles.html beside this report)."]})  # fmt: skip
    sections.append({"title": "签署 · Sign-off", "html": _signoff()})
    if m.get("bundle_sha256"):
        basis = f"bundle sha256 {m['bundle_sha256']}"
    else:
        basis = "this report is part of the model bundle it describes: the bundle's manifest.json holds the sha256 of every file"
    return render(f"模型验证报告 · Validation report: {m['name']} {m['version']}",
                  f"champion {m['champion']} · {basis} · {data['rows']:,} rows ({dates}), bad rate "
                  f"{pct(data['bad_rate'])}", sections)  # fmt: skip


def _segments_section(seg: dict) -> dict:
    """Sector models: the segmented and the pooled champion overall, then one table row per segment, and
    each segment's grades on the master scale."""
    from credit_grading.explain.readable import pct

    def fig(d: dict, key: str) -> object:
        return d.get(key, "—")

    rows = [{"segment": s["segment"], "levels": " ".join(s["levels"]) or "(the rest)", "model": s["model"],
             "entities": s["rows"], "bad rate": pct(s["bad_rate"]),
             "Gini segmented": fig(s["segmented"], "gini"), "Gini pooled": fig(s["pooled"], "gini"),
             "KS segmented": fig(s["segmented"], "ks"), "KS pooled": fig(s["pooled"], "ks"),
             "note": s.get("fallback") or ""} for s in seg["segments"]]  # fmt: skip
    both, pooled = seg["segmented"], seg["pooled"]
    paras = [f"One model per segment of {seg['column']}; segments too small for models of their own, and levels no "
             "segment names, are scored by the pooled model. Every PD is graded on one master scale.",
             f"Overall, the segmented champion: Gini {fig(both, 'gini'):.4f}, KS {fig(both, 'ks'):.4f}; the pooled "
             f"champion on the same rows (the pooled view): Gini {fig(pooled, 'gini'):.4f}, KS {fig(pooled, 'ks'):.4f}."]  # fmt: skip
    tables = [table(rows, title="Per segment")]
    for s in seg["segments"]:
        grades = [{"grade": g["grade"], "entities": g["count"], "defaults": g["bads"], "observed": pct(g["bad_rate"]),
                   "predicted PD": pct(g["mean_pd"])} for g in s["grades"] if g["count"]]  # fmt: skip
        tables.append(table(grades, title=f"{s['segment']} ({s['model']} model): grades on the master scale"))
    return {"title": "分行业模型 · Sector models", "paragraphs": paras, "tables": tables}


def profile_sections(profiles: dict) -> list[dict]:
    """Sections for the SHAP profile of every grade (used by the validation report and alone)."""
    key = "mean_shap" if profiles["kind"] == "shap" else "mean_shortfall"
    out = []
    for g in profiles["grades"]:
        if not g["count"]:
            continue
        means = g.get(key, {})
        top = sorted(means.items(), key=lambda kv: -abs(kv[1] or 0))[:12]  # by size of contribution, either sign
        dist = g.get("distinguishing", [])
        paras = [f"{g['count']:,} entities, tier {g['tier']}."]
        if dist:
            paras.append("Compared with grade " + dist[0]["vs_grade"] + ": " + ", ".join(
                f"{profiles.get('names', {}).get(d['feature'], d['feature'])} (+{d['difference']:.3f})" for d in dist))  # fmt: skip
        names = profiles.get("names", {})
        typical = [{"feature": names.get(f, f), "typical": v} for f, v in g.get("typical", {}).items()]
        out.append({"title": f"等级画像 · Grade profile {g['grade']}", "paragraphs": paras,
                    "svgs": [charts.bars([(names.get(f, f).split(" · ")[0], v or 0.0) for f, v in top], title=g["grade"])],
                    "tables": [table(typical, title="Typical values")]})  # fmt: skip
    return out


def render_profiles_html(profiles: dict, title: str = "等级画像 · Grade profiles") -> str:
    return render(title, f"contributions: {profiles['kind']}", profile_sections(profiles))
