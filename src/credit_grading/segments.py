"""Training sector (segment) models: one scorecard and one GBM per segment, the pooled ones as fallback.

:func:`train_segments` trains the pooled models on every row (:func:`~credit_grading.training.train_models`),
then the same steps on each segment's rows (the levels of ``segments.column`` its group names).
A segment with fewer than ``segments.min_rows`` labelled rows, or whose training fails for want
of data, falls back to the pooled models, as do levels no group names and levels never seen.

Every segment is decided by the pooled champion's kind (scorecard or GBM), each with its own
calibration to a 12-month PD; one **master scale** then grades every PD: its cut-offs are fitted
(``grading``) on the out-of-sample PDs of the validation rows (a trained segment's own validation
rows, the pooled ones elsewhere), each scored by its segment's model, so a grade means the same PD
band in every sector. Where those rows are too few for the fitted cut-offs, the pooled model's
scale is the master scale (recorded in the scale's ``sample``).

The evaluation compares the segmented champion with the pooled champion on the same test rows
(out of time when the data has snapshots): the rows in the pooled test split and, for a trained
segment, in that segment's test split too (with a time split both are the last snapshot), overall
and per segment.

>>> result = train_segments(data, config, SegmentsConfig(column="industry", groups={"trade": ["F", "G"]}))  # doctest: +SKIP
>>> result.evaluation["test"]["segmented"]["gini"] - result.evaluation["test"]["pooled"]["gini"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from credit_grading.config import Config, load_config
from credit_grading.config.grading import CutoffMethod
from credit_grading.config.segments import SegmentsConfig
from credit_grading.engine.model import CompiledModel
from credit_grading.engine.segmented import POOLED, CompiledSegmentedModel, SegmentedSpec
from credit_grading.evaluation import metrics
from credit_grading.exceptions import CreditGradingError, DataError
from credit_grading.grading.fit import fit_scale, grade_table, records
from credit_grading.training import TrainingResult, grades_evaluation, train_models


@dataclass
class SegmentedTrainingResult:
    """The segmented model, the training of the pooled and of every trained segment, and the evaluation."""

    spec: SegmentedSpec
    pooled: TrainingResult
    segments: dict[str, TrainingResult]
    evaluation: dict


def _levels(data: pd.DataFrame, column: str) -> np.ndarray:
    col = data[column]
    return col.astype(object).to_numpy() if isinstance(col.dtype, pd.CategoricalDtype) else col.to_numpy(dtype=object)


def _champion_figures(y: np.ndarray, pd_: np.ndarray) -> dict:
    if len(y) == 0 or y.min() == y.max():
        return {"rows": len(y), "bads": int(y.sum())}
    m = metrics(y, pd_)
    return {"rows": len(y), "bads": int(y.sum()), **{k: m[k] for k in ("auc", "gini", "ks") if k in m}}


def train_segments(
    data: pd.DataFrame,
    config: Config | None = None,
    segments: SegmentsConfig | None = None,
    *,
    oracle_column: str = "true_pd",
    progress: Callable[[str], None] | None = None,
    cv: bool | None = None,
    on_segment: Callable[[str], None] | None = None,
) -> SegmentedTrainingResult:
    """Train the pooled and the segment models on a validated registry table; grade on one master scale.

    ``segments`` defaults to ``config.segments``. ``progress`` is told the pooled training's steps
    (:data:`credit_grading.training.STEPS`, as :func:`~credit_grading.training.train_models` tells them);
    ``on_segment`` (optional) is called with each segment's name as its training starts.
    """
    cfg = config or load_config()
    seg_cfg = segments if segments is not None else getattr(cfg, "segments", None)
    if seg_cfg is None:
        raise DataError("training segment models needs a segments section (column, groups, min_rows)")
    column, target = seg_cfg.column, cfg.dataset.target_column
    if column not in data.columns:
        raise DataError(f"segments.column {column!r} is not a column of the training data")
    step = on_segment or (lambda _name: None)
    data = data.reset_index(drop=True)
    levels = _levels(data, column)
    present = set(levels[pd.notna(levels)])
    never = sorted(lv for lv in seg_cfg.segment_of_level() if lv not in present)

    pooled = train_models(data, cfg, oracle_column=oracle_column, cv=cv, progress=progress)
    champion = pooled.model.champion
    seg_cfg_train = _segment_config(cfg)
    trained: dict[str, TrainingResult] = {}
    meta: dict[str, dict] = {}
    for name, group in seg_cfg.groups.items():
        rows = np.isin(levels, group)
        n = int(rows.sum())
        meta[name] = {"levels": list(group), "rows": n}
        if n < seg_cfg.min_rows:
            meta[name]["fallback"] = (
                f"{n:,} rows, fewer than segments.min_rows ({seg_cfg.min_rows:,}): the pooled model"
            )
            continue
        step(name)
        try:
            res = train_models(data[rows], seg_cfg_train, oracle_column=oracle_column, cv=cv)
        except CreditGradingError as exc:  # e.g. a split without bads: the pooled model scores it
            meta[name]["fallback"] = f"training failed ({exc}): the pooled model"
            continue
        trained[name] = res
        meta[name]["champion_alone"] = res.model.champion
    if never:
        meta["_levels_never_seen"] = never

    # One master scale over the segmented champion's out-of-sample PDs (the validation rows).
    base = replace(pooled.model, scale=None)
    models = {name: replace(res.model, champion=champion, scale=None, name=base.name) for name, res in trained.items()}
    level_map = seg_cfg.segment_of_level()
    draft = CompiledSegmentedModel(SegmentedSpec(column, level_map, models, base))
    valid = _own_rows(pooled, trained, "valid")
    part = data.loc[valid]
    pd_valid = draft.score(part).pd
    try:
        scale = fit_scale(pd_valid, part[target].to_numpy(dtype=np.float64), cfg.grading)
        sample = f"the validation rows, each scored by its segment's model: {len(part):,} rows"
    except DataError as exc:  # too few rows for the fitted cut-offs: the pooled model's master scale
        scale = pooled.model.scale
        sample = (
            f"the pooled model's scale ({scale.meta.get('sample', '')}); fitting on the segments' PDs failed: {exc}"
        )
    scale = replace(scale, meta={**scale.meta, "sample": sample})
    rules = {"scale": scale, "overrides": pooled.model.overrides, "hysteresis_margin": pooled.model.hysteresis_margin}
    spec = SegmentedSpec(
        column,
        level_map,
        {name: replace(m, **rules, meta={**m.meta, "segment": name}) for name, m in models.items()},
        replace(pooled.model, **rules, meta={**pooled.model.meta, "segment": POOLED}),
        meta={"segments": meta, "min_rows": seg_cfg.min_rows, "champion": champion},
    )
    test_rows = _oos_rows(pooled, trained, "test")
    evaluation = evaluate_segments(spec, data, test_rows, target)
    evaluation["segments_trained"] = meta
    test = data.loc[test_rows]
    test_table = grade_table(
        scale, CompiledSegmentedModel(spec).score(test).pd, test[target].to_numpy(dtype=np.float64)
    )
    evaluation["grades"] = grades_evaluation(scale, sample, test_table)  # the master scale
    return SegmentedTrainingResult(spec, pooled, trained, evaluation)


def _segment_config(cfg: Config) -> Config:
    """The config a segment trains with: the same, but with fixed cut-offs when the grades give every bound,
    since a segment's own scale is not used (the master scale is fitted once) and fitting it may fail on few rows."""
    grading = cfg.grading
    if all(g.pd_max is not None for g in grading.grades[:-1]):
        grading = grading.model_copy(update={"cutoffs": CutoffMethod.FIXED})
    return cfg.model_copy(update={"grading": grading})


def _split_rows(pooled: TrainingResult, trained: dict[str, TrainingResult], split: str):
    """The pooled ``split``'s row labels, every row a trained segment holds, and the segments' own ``split``."""
    rows = getattr(pooled.splits, split).index.to_numpy()
    inside = np.concatenate([np.concatenate([r.splits.train.index, r.splits.valid.index, r.splits.test.index])
                             for r in trained.values()])  # fmt: skip
    own = np.concatenate([getattr(r.splits, split).index.to_numpy() for r in trained.values()])
    return rows, inside, own


def _own_rows(pooled: TrainingResult, trained: dict[str, TrainingResult], split: str) -> np.ndarray:
    """Row labels in ``split`` of the model that scores them: a trained segment's own split for its rows,
    the pooled split for every other row."""
    if not trained:
        return getattr(pooled.splits, split).index.to_numpy()
    rows, inside, own = _split_rows(pooled, trained, split)
    return np.sort(np.concatenate([rows[~np.isin(rows, inside)], own]))


def _oos_rows(pooled: TrainingResult, trained: dict[str, TrainingResult], split: str) -> np.ndarray:
    """Row labels in the pooled ``split`` and, where a trained segment holds them, in its ``split`` too."""
    if not trained:
        return getattr(pooled.splits, split).index.to_numpy()
    rows, inside, own = _split_rows(pooled, trained, split)
    return rows[~np.isin(rows, inside) | np.isin(rows, own)]


def evaluate_segments(spec: SegmentedSpec, data: pd.DataFrame, rows: np.ndarray, target: str) -> dict:
    """The segmented and the pooled champion on the same rows: overall and per segment (AUC, Gini, KS)."""
    part = data.loc[rows]
    y = part[target].to_numpy(dtype=np.float64)
    seg_engine = CompiledSegmentedModel(spec)
    seg = seg_engine.score(part)
    pooled_pd = CompiledModel(spec.pooled).score(part).pd
    out = {"rows": "the test rows (pooled test split, and the segment's own test split where it has a model)"}
    test = {"segmented": _champion_figures(y, seg.pd), "pooled": _champion_figures(y, pooled_pd)}
    per: dict[str, dict] = {}
    names = seg_engine.segment_names
    # Per configured segment (and the rest), whichever model scores it.
    group = pd.Series(_levels(part, spec.column)).map(spec.levels).fillna("(other levels)").to_numpy(dtype=object)
    for name in [*spec.levels.values(), "(other levels)"]:
        if name in per:
            continue
        m = group == name
        if not m.any():
            continue
        model = name if name in spec.models else POOLED
        per[name] = {"model": model, "segmented": _champion_figures(y[m], seg.pd[m]),
                     "pooled": _champion_figures(y[m], pooled_pd[m])}  # fmt: skip
    test["per_segment"] = per
    test["routed"] = {str(names[c]): int(k) for c, k in zip(*np.unique(seg.segment, return_counts=True), strict=True)}
    if "gini" in test["segmented"] and "gini" in test["pooled"]:
        test["gini_gain"] = test["segmented"]["gini"] - test["pooled"]["gini"]
    out["test"] = test
    return out


def segment_sections(spec: SegmentedSpec, data: pd.DataFrame, target: str) -> dict:
    """The validation report's sector view: per configured segment (and the other levels) the rows, bad
    rate, which model scores them, the segmented and the pooled champion's AUC, Gini and KS, and the
    grade table on the master scale (count, bads, bad rate, mean PD per grade); plus the pooled view
    (every row by the pooled model) and the segmented view (every row by its segment's model)."""
    y = data[target].to_numpy(dtype=np.float64)
    seg_pd = CompiledSegmentedModel(spec).score(data).pd
    pooled_pd = CompiledModel(spec.pooled).score(data).pd
    group = pd.Series(_levels(data, spec.column)).map(spec.levels).fillna("(other levels)").to_numpy(dtype=object)
    sections = []
    for name in dict.fromkeys([*spec.levels.values(), "(other levels)"]):
        m = group == name
        if not m.any():
            continue
        model = name if name in spec.models else POOLED
        sections.append({
            "segment": name, "model": model, "levels": sorted(k for k, v in spec.levels.items() if v == name),
            "fallback": spec.meta.get("segments", {}).get(name, {}).get("fallback"),
            "rows": int(m.sum()), "bad_rate": float(y[m].mean()),
            "segmented": _champion_figures(y[m], seg_pd[m]), "pooled": _champion_figures(y[m], pooled_pd[m]),
            "grades": list(records(grade_table(spec.pooled.scale, seg_pd[m], y[m]))),
        })  # fmt: skip
    return {
        "column": spec.column,
        "segments": sections,
        "segmented": _champion_figures(y, seg_pd),
        "pooled": _champion_figures(y, pooled_pd),
    }


__all__ = ["SegmentedTrainingResult", "evaluate_segments", "segment_sections", "train_segments"]
