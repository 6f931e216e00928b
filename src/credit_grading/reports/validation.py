"""The validation report a credit committee expects, from Python (a dict) or as HTML.

On labelled registry rows graded by a bundle: discrimination (ROC, AUC/Gini/KS with seeded
bootstrap confidence intervals) for the champion and the challenger; calibration per grade
(observed bad rate against PD, Jeffreys and binomial tests, traffic lights); concentration
(Herfindahl index); stability against the development sample (PSI of the grade distribution,
CSI of every scorecard characteristic); the binning tables with IV; the points table; GBM
importance (mean |SHAP|); override rates; the migration matrix when a previous grading is given;
and the SHAP profile of every grade.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_grading.binning.fit import binning_table, feature_slots
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
from credit_grading.stats import bootstrap_ci, hhi, psi, rank_moves, stability_flag, traffic_light


def _roc(y: np.ndarray, risk: np.ndarray, points: int = 101) -> tuple[list[float], list[float]]:
    order = np.argsort(-risk, kind="mergesort")
    ys = y[order]
    tpr = np.concatenate([[0.0], np.cumsum(ys) / max(ys.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(1 - ys) / max((1 - ys).sum(), 1)])
    idx = np.unique(np.linspace(0, len(tpr) - 1, points).astype(int))
    return fpr[idx].round(5).tolist(), tpr[idx].round(5).tolist()


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


def migration_matrix(previous: pd.DataFrame, current: pd.DataFrame, id_column: str = "uscc") -> dict:
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


def validation_report(bundle: Bundle, data: pd.DataFrame, *, previous: pd.DataFrame | None = None,
                      n_boot: int = 200, seed: int = 0, target: str = "bad_12m") -> dict:  # fmt: skip
    """Every section of the validation report, as plain data."""
    if target not in data.columns or data[target].isna().all():
        raise DataError(f"a validation report needs outcomes: the data has no {target!r} values")
    data = data[data[target].notna()]
    model = bundle.model
    compiled = CompiledModel(model)
    graded, grading = decide(model, data, reasons=0, compiled=compiled)
    y = data[target].to_numpy(dtype=np.float64)
    res = compiled.score(data)
    disc = {}
    if res.score is not None:
        disc["scorecard"] = discrimination(y, -res.score, n_boot=n_boot, seed=seed)
    if res.margin is not None:
        disc["gbm"] = discrimination(y, res.margin, n_boot=n_boot, seed=seed)
    cal = grade_table(model.scale, res.pd, y)
    cal["jeffreys_light"] = [traffic_light(p) for p in cal["jeffreys_p"]]
    cal["binomial_light"] = [traffic_light(p) for p in cal["binomial_p"]]
    out = {
        "format": "credit_grading.validation_report", "format_version": 1,
        "model": {"name": bundle.name, "version": bundle.version, "bundle_sha256": bundle.sha256,
                  "champion": model.champion},
        "data": {"rows": len(data), "bad_rate": float(y.mean()),
                 "as_of": sorted({str(pd.Timestamp(v).date()) for v in data["as_of"].unique()}) if "as_of" in data else None},
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
        out["binning_tables"] = list(records(binning_table(_binning_spec(model.scorecard))))
        out["points"] = list(records(model.scorecard.points_table()))
    if model.gbm is not None:
        phi = compiled.gbm.contributions(compiled.gbm.matrix(data))[:, :-1]
        imp = np.abs(phi).mean(axis=0)
        order = np.argsort(-imp)
        out["gbm_importance"] = [{"feature": model.gbm.features[j].name, "mean_abs_shap": float(imp[j])} for j in order]
    out["profiles"] = grade_profiles(bundle, data, graded, compiled=compiled)
    if previous is not None:
        out["migration"] = migration_matrix(previous, graded)
    return out


def _binning_spec(card):
    from credit_grading.specs.binning import BinningSpec

    return BinningSpec(tuple(f.binning for f in card.features))


def render_validation_html(report: dict, catalogue=None) -> str:
    """The validation report as one self-contained HTML page."""
    m = report["model"]
    sections = []
    disc = report["discrimination"]
    rows = [{"model": k, "AUC": v["auc"], "AUC 95% CI": f"{v['auc_ci'][0]:.4f} – {v['auc_ci'][1]:.4f}",
             "Gini": v["gini"], "Gini 95% CI": f"{v['gini_ci'][0]:.4f} – {v['gini_ci'][1]:.4f}", "KS": v["ks"],
             "KS 95% CI": f"{v['ks_ci'][0]:.4f} – {v['ks_ci'][1]:.4f}"} for k, v in disc.items()]  # fmt: skip
    roc = charts.lines([(k, v["roc"]["fpr"], v["roc"]["tpr"]) for k, v in disc.items()], title="ROC")
    sections.append({"title": "区分能力 · Discrimination", "svgs": [roc],
                     "paragraphs": [f"Bootstrap intervals from {next(iter(disc.values()))['bootstrap']} seeded resamples."],
                     "tables": [table(rows)]})  # fmt: skip
    cal_cols = ["grade", "tier", "pd_max", "count", "share", "bads", "bad_rate", "mean_pd", "jeffreys_p", "binomial_p"]
    sections.append({"title": "校准 · Calibration per grade",
                     "tables": [table(report["calibration"], [*cal_cols, "jeffreys_light"], classes="jeffreys_light")]})  # fmt: skip
    conc = report["concentration"]
    sections.append({"title": "集中度 · Concentration",
                     "paragraphs": [f"Herfindahl index {conc['hhi']:.4f}; the largest grade holds {conc['max_share']:.1%}."]})  # fmt: skip
    st = report["stability"]
    g = st["grades"]
    paras = [f"Grade distribution PSI against the development sample: {g['psi']:.4f} ({g['flag']})."
             if g["psi"] is not None else "No development grade distribution in this bundle."]  # fmt: skip
    sections.append({"title": "稳定性 · Stability", "paragraphs": paras,
                     "tables": [table(st["characteristics"], ["feature", "csi", "unseen", "flag"], classes="flag",
                                      title="Characteristic stability (CSI)")]})  # fmt: skip
    sections.append({"title": "冠军与挑战者 · Champion and challenger", "paragraphs": [f"Champion: {m['champion']}."],
                     "tables": [table(report["champion_challenger"])]})  # fmt: skip
    if "binning" in report:
        sections.append({"title": "分箱与IV · Binning and IV", "tables": [
            table(sorted(report["binning"], key=lambda r: -r["iv"])),
            table(report["binning_tables"], ["feature", "bin", "label", "count", "count_event", "event_rate", "woe", "iv"],
                  title="Binning tables")]})  # fmt: skip
        sections.append({"title": "评分表 · Points", "tables": [table(report["points"])]})
    if "gbm_importance" in report:
        imp = report["gbm_importance"]
        sections.append({"title": "GBM 重要性 · GBM importance (mean |SHAP|)",
                         "svgs": [charts.bars([(r["feature"], r["mean_abs_shap"]) for r in imp[:15]])],
                         "tables": [table(imp)]})  # fmt: skip
    sections.append({"title": "调整 · Overrides", "tables": [table(report["overrides"])]})
    if "migration" in report:
        mig = report["migration"]
        rows = [
            {"from \\ to": t, **dict(zip(mig["tiers"], r, strict=True))}
            for t, r in zip(mig["tiers"], mig["counts"], strict=True)
        ]
        sections.append({"title": "迁移 · Migration", "paragraphs": [
            f"{mig['matched']:,} entities in both gradings; upgrades {mig['upgrades']:,}, downgrades {mig['downgrades']:,}."],
            "tables": [table(rows)]})  # fmt: skip
    sections += profile_sections(report["profiles"])
    return render(f"模型验证报告 · Validation report: {m['name']} {m['version']}",
                  f"bundle sha256 {m['bundle_sha256']} · {report['data']['rows']:,} rows, bad rate "
                  f"{report['data']['bad_rate']:.4f}", sections)  # fmt: skip


def profile_sections(profiles: dict) -> list[dict]:
    """Sections for the SHAP profile of every grade (used by the validation report and alone)."""
    key = "mean_shap" if profiles["kind"] == "shap" else "mean_shortfall"
    out = []
    for g in profiles["grades"]:
        if not g["count"]:
            continue
        means = g.get(key, {})
        top = sorted(means.items(), key=lambda kv: -(kv[1] or 0))[:12]
        dist = g.get("distinguishing", [])
        paras = [f"{g['count']:,} entities, tier {g['tier']}."]
        if dist:
            paras.append("Compared with grade " + dist[0]["vs_grade"] + ": " + ", ".join(
                f"{d['feature']} (+{d['difference']:.3f})" for d in dist))  # fmt: skip
        typical = [{"feature": f, "typical": v} for f, v in g.get("typical", {}).items()]
        out.append({"title": f"等级画像 · Grade profile {g['grade']}", "paragraphs": paras,
                    "svgs": [charts.bars([(f, v or 0.0) for f, v in top], title=g["grade"])],
                    "tables": [table(typical, title="Typical values")]})  # fmt: skip
    return out


def render_profiles_html(profiles: dict, title: str = "等级画像 · Grade profiles") -> str:
    return render(title, f"contributions: {profiles['kind']}", profile_sections(profiles))
