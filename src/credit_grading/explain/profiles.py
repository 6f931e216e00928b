"""SHAP profiles of the grades: what the model sees in the entities of each grade.

Per model grade: the number of entities, the mean SHAP value of every feature (GBM, log-odds)
and the mean points shortfall (scorecard), the typical values (median or most frequent level),
and the features that most distinguish the grade from the next better one (the largest rise
in mean contribution). Group means are computed for all grades at once from one-hot products.

>>> profiles = grade_profiles(bundle, data, graded)        # doctest: +SKIP
>>> profiles["grades"][3]["distinguishing"][0]["feature"]  # doctest: +SKIP
'overdue_tax_filings_24m'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit_grading.bundle import Bundle
from credit_grading.engine.model import CompiledModel


def _group_means(codes: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    onehot = np.zeros((len(codes), k))
    onehot[np.arange(len(codes)), codes] = 1.0
    counts = onehot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (onehot.T @ values) / counts[:, None]
    return means, counts


def _typical(col: pd.Series):
    if isinstance(col.dtype, pd.CategoricalDtype):
        vc = col.value_counts()
        return str(vc.index[0]) if len(vc) and vc.iloc[0] > 0 else None
    v = col.median()
    return None if pd.isna(v) else float(v)


def grade_profiles(bundle: Bundle, data: pd.DataFrame, graded: pd.DataFrame, *, top: int = 5,
                   compiled: CompiledModel | None = None) -> dict:  # fmt: skip
    """Profiles of every model grade of ``graded`` (rows aligned with ``data``)."""
    model = bundle.model
    compiled = compiled or CompiledModel(model)
    grades = list(model.scale.grades)
    codes = pd.Categorical(graded["model_grade"].astype(str), categories=grades).codes.astype(np.int64)
    ok = codes >= 0
    k = len(grades)
    out_grades = [{"grade": g, "tier": t, "count": 0} for g, t in zip(grades, model.scale.tiers, strict=True)]
    shap_means = shortfall_means = None
    gbm_names = card_names = ()
    if model.gbm is not None:
        gbm_names = tuple(f.name for f in model.gbm.features)
        phi = compiled.gbm.contributions(compiled.gbm.matrix(data))[:, :-1]
        shap_means, counts = _group_means(codes[ok], phi[ok], k)
    if model.scorecard is not None:
        card_names = tuple(f.name for f in model.scorecard.features)
        pts = compiled.scorecard.score(data, points=True).points
        best = np.array([max(f.points) for f in model.scorecard.features])
        shortfall_means, counts = _group_means(codes[ok], best[None, :] - pts[ok], k)
    features = list(dict.fromkeys([*gbm_names, *card_names]))
    driver, names = (shap_means, gbm_names) if model.champion == "gbm" else (shortfall_means, card_names)
    for g in range(k):
        entry = out_grades[g]
        entry["count"] = int(counts[g])
        if shap_means is not None:
            entry["mean_shap"] = {n: _num(shap_means[g, j]) for j, n in enumerate(gbm_names)}
        if shortfall_means is not None:
            entry["mean_shortfall"] = {n: _num(shortfall_means[g, j]) for j, n in enumerate(card_names)}
        rows = ok & (codes == g)
        entry["typical"] = {f: _typical(data.loc[rows, f]) for f in features} if rows.any() else {}
        if g > 0 and counts[g] and counts[g - 1]:
            diff = driver[g] - driver[g - 1]
            order = np.argsort(-diff)[:top]
            entry["distinguishing"] = [{"feature": names[j], "difference": float(diff[j]), "vs_grade": grades[g - 1]}
                                       for j in order if diff[j] > 0]  # fmt: skip
        else:
            entry["distinguishing"] = []
    from credit_grading.explain.readable import item_name

    names = {f: " · ".join(dict.fromkeys(item_name(bundle.catalogue, f))) for f in features}
    return {"kind": "shap" if model.champion == "gbm" else "points_shortfall", "features": features,
            "grades": out_grades, "names": names}  # fmt: skip


def _num(v: float) -> float | None:
    return None if v != v else float(v)
