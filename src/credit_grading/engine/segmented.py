"""Sector (segment) models in the scoring core: rows routed to their segment's compiled model.

A :class:`SegmentedSpec` holds one :class:`~credit_grading.specs.model.ModelSpec` per trained
segment and the pooled model, which scores the segments trained without enough rows and every
level no segment names (or never seen). :class:`CompiledSegmentedModel` scores a table as
:class:`~credit_grading.engine.model.CompiledModel` does and returns the same
:class:`~credit_grading.engine.model.ModelResult`: the segment column is read once as codes into
its distinct levels, each level mapped to a segment once, the rows grouped by segment with one
stable argsort, each group scored by its segment's compiled model in one call and the results
scattered back. No Python runs per row.

Reasons of every segment index one list of feature names (the union, pooled model's first), so a
result row names its features as the pooled model's would. Each segment model's explanations stay
exact: :meth:`CompiledSegmentedModel.contributions` gives per row the champion's TreeSHAP values
(summing to its margin) or scorecard points (summing to its score).

>>> engine = CompiledSegmentedModel(spec)          # doctest: +SKIP
>>> result = engine.score(table, reasons=3)        # doctest: +SKIP
>>> engine.segment_names[engine.route(table)]      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from credit_grading.columns import Columns, Tabular
from credit_grading.engine.model import CompiledModel, ModelResult
from credit_grading.engine.slots import categorical_codes
from credit_grading.exceptions import BundleError
from credit_grading.specs.model import ModelSpec

POOLED = "pooled"


@dataclass(frozen=True)
class SegmentedSpec:
    """Segment models, the pooled fallback and how levels of ``column`` map to segments.

    ``levels`` maps every level a configured group names to its segment, also for segments
    that fell back to the pooled model (they are absent from ``models``); ``meta`` records per
    segment its rows and, for a fallback, why.
    """

    column: str
    levels: dict[str, str]
    models: dict[str, ModelSpec]
    pooled: ModelSpec
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if POOLED in self.models:
            raise BundleError(f"a segment may not be named {POOLED!r}")
        for name, m in self.models.items():
            if m.champion != self.pooled.champion:
                raise BundleError(
                    f"segment {name!r} is decided by its {m.champion}, the pooled model by its "
                    f"{self.pooled.champion}: every segment must share the champion"
                )

    @property
    def segment_names(self) -> tuple[str, ...]:
        """``pooled`` first, then the trained segments: the codes :meth:`CompiledSegmentedModel.route` gives."""
        return (POOLED, *self.models)

    def model_of(self, segment: str) -> ModelSpec:
        return self.pooled if segment == POOLED else self.models[segment]

    def segment_of_level(self, level: object) -> str:
        """The segment whose model scores ``level`` (``pooled`` for a fallback or an unknown level)."""
        seg = self.levels.get(level) if isinstance(level, str) else None
        return seg if seg in self.models else POOLED

    def describe(self, level: object) -> dict:
        """What a decision report says of the model that graded an entity with ``level`` in :attr:`column`:
        ``{"column", "level", "segment", "model", "fallback"}`` — ``segment`` the configured group (None
        when no group names the level), ``model`` the segment model that scored it or ``pooled``, and
        ``fallback`` why the pooled model scored it (None when its segment's own model did)."""
        lv = level if isinstance(level, str) else None
        group = self.levels.get(lv) if lv is not None else None
        model = self.segment_of_level(lv)
        if model != POOLED:
            why = None
        elif group is not None:
            why = self.meta.get("segments", {}).get(group, {}).get("fallback") or "no model of its own"
        elif lv is None:
            why = f"{self.column} is missing"
        else:
            why = f"no segment holds {self.column} {lv!r}"
        return {"column": self.column, "level": lv, "segment": group, "model": model, "fallback": why}

    def to_dict(self) -> dict:
        """Everything but the model specs (saved one folder per segment by the bundle)."""
        return {"column": self.column, "levels": dict(self.levels), "segments": list(self.models), "meta": self.meta}


def _take(data: Tabular, rows: np.ndarray, columns: tuple[str, ...]) -> Tabular:
    """``rows`` of ``data``, only the ``columns`` a model reads (one gather per column, never per row)."""
    if isinstance(data, pd.DataFrame):
        have = [c for c in columns if c in data.columns]
        return data.iloc[rows, data.columns.get_indexer(have)] if have else data.iloc[rows]
    if isinstance(data, pa.Table | pa.RecordBatch):
        have = [c for c in columns if c in data.schema.names]
        return data.select(have).take(pa.array(rows))
    if isinstance(data, Mapping):
        return {k: (v.take(pa.array(rows)) if isinstance(v, pa.Array | pa.ChunkedArray) else np.asarray(v)[rows])
                for k, v in data.items() if k in columns}  # fmt: skip
    raise TypeError(f"cannot take rows of a {type(data).__name__}")


class CompiledSegmentedModel:
    """A :class:`SegmentedSpec` compiled: one :class:`CompiledModel` per segment and the pooled one."""

    def __init__(self, spec: SegmentedSpec) -> None:
        self.spec = spec
        self.segment_names = np.array(spec.segment_names, dtype=object)
        self.engines = [CompiledModel(spec.model_of(s)) for s in spec.segment_names]
        # The columns each segment's models read (only these are gathered for its rows).
        self._columns = []
        for s in spec.segment_names:
            m = spec.model_of(s)
            cols = [f.name for part in (m.scorecard, m.gbm) if part is not None for f in part.features]
            self._columns.append(tuple(dict.fromkeys(cols)))
        # The pooled model's own fields, so code that reads them from a CompiledModel keeps working.
        pooled = self.engines[0]
        self.scorecard, self.gbm = pooled.scorecard, pooled.gbm
        # One list of reason names for every segment: the pooled decider's features, then the others'.
        names: list[str] = []
        labels: list[tuple[str, str]] = []
        self._remap: list[np.ndarray] = []
        for s in spec.segment_names:
            feats = spec.model_of(s).decider.features
            for f in feats:
                if f.name not in names:
                    names.append(f.name)
                    labels.append((f.name_zh or f.name, f.name_en or f.name))
            self._remap.append(np.array([names.index(f.name) for f in feats] + [-1], dtype=np.int16))
        self.reason_names = tuple(names)
        self.reason_labels = tuple(labels)

    def route(self, data: Tabular) -> np.ndarray:
        """Each row's segment code (index into :attr:`segment_names`; 0 is the pooled model),
        mapped once per distinct level of the segment column."""
        cols = Columns(data)
        cols.require([self.spec.column])
        codes, levels = categorical_codes(cols, self.spec.column)
        names = list(self.spec.segment_names)
        lut = np.array([names.index(self.spec.segment_of_level(lv)) for lv in levels] + [0], dtype=np.int64)
        return lut[np.asarray(codes, dtype=np.int64)]  # code -1 (missing) picks the trailing pooled

    def groups(self, segment: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(segment code, row positions) per segment present, rows in input order within each."""
        order = np.argsort(segment, kind="stable")
        codes, starts = np.unique(segment[order], return_index=True)
        ends = [*starts[1:], len(order)]
        return [(int(c), order[s:e]) for c, s, e in zip(codes, starts, ends, strict=True)]

    def score(
        self,
        data: Tabular,
        *,
        reasons: int = 0,
        threads: int | None = None,
        explain: np.ndarray | None = None,
        challenger: bool = True,
    ) -> ModelResult:
        """As :meth:`CompiledModel.score`, every row scored by its segment's model."""
        segment = self.route(data)
        n = len(segment)
        parts = self.groups(segment)
        want = None
        if explain is not None:
            want = np.zeros(n, dtype=bool)
            want[np.asarray(explain, dtype=np.int64)] = True

        def run(code: int, rows: np.ndarray | None) -> ModelResult:
            sub = data if rows is None else _take(data, rows, self._columns[code])
            sub_explain = None if want is None else np.flatnonzero(want if rows is None else want[rows])
            return self.engines[code].score(sub, reasons=reasons, threads=threads, explain=sub_explain,
                                            challenger=challenger)  # fmt: skip

        champion = self.spec.pooled.champion
        if len(parts) == 1:  # one segment: no grouping, no scatter
            code = parts[0][0]
            res = run(code, None)
            out = self._remapped(res, code)
            out.segment, out.segment_names = segment, self.spec.segment_names
            return out
        fields = ("score", "margin", "pd_scorecard", "pd_gbm", "pd")
        out_arrays: dict[str, np.ndarray | None] = {}
        r_idx = r_val = None
        results = [(code, rows, run(code, rows)) for code, rows in parts]
        widths = [res.reason_index.shape[1] for _, _, res in results if res.reason_index is not None]
        if widths:  # as wide as the widest segment's reasons (a model with fewer features gives fewer)
            r_idx = np.full((n, max(widths)), -1, dtype=np.int16)
            r_val = np.zeros((n, max(widths)))
        for code, rows, res in results:
            for name in fields:
                v = getattr(res, name)
                if v is None:
                    continue
                if name not in out_arrays:
                    out_arrays[name] = np.full(n, np.nan)
                out_arrays[name][rows] = v
            if res.reason_index is not None:
                k = res.reason_index.shape[1]
                r_idx[rows, :k] = self._remap[code][res.reason_index]
                r_val[rows, :k] = res.reason_value
        out = ModelResult(
            out_arrays.get("score"), out_arrays.get("margin"), out_arrays.get("pd_scorecard"),
            out_arrays.get("pd_gbm"), out_arrays["pd"], champion,
            self.reason_names if r_idx is not None else (), r_idx, r_val,
            self.reason_labels if r_idx is not None else (),
        )  # fmt: skip
        out.segment, out.segment_names = segment, self.spec.segment_names
        return out

    def _remapped(self, res: ModelResult, code: int) -> ModelResult:
        if res.reason_index is not None:
            res.reason_index = self._remap[code][res.reason_index]
            res.reason_names, res.reason_labels = self.reason_names, self.reason_labels
        return res

    def contributions(self, data: Tabular, *, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The champion's exact per-feature contributions of every row, over :attr:`reason_names`.

        Returns ``(contrib, base)``: ``contrib`` (rows, features) is each feature's TreeSHAP value
        (GBM champion) or points (scorecard champion), 0 for a feature the row's segment model does
        not use, and ``base`` (rows,) the expected value (GBM; 0 for the scorecard). Per row,
        ``contrib.sum(1) + base`` is the row's margin or score.
        """
        segment = self.route(data)
        n, nf = len(segment), len(self.reason_names)
        contrib = np.zeros((n, nf))
        base = np.zeros(n)
        for code, rows in self.groups(segment):
            sub = _take(data, rows, self._columns[code])
            eng = self.engines[code]
            cols = self._remap[code][:-1].astype(np.int64)
            if self.spec.pooled.champion == "gbm":
                c = eng.gbm.contributions(eng.gbm.matrix(sub), threads=threads)
                contrib[np.ix_(rows, cols)] = c[:, :-1]
                base[rows] = c[:, -1]
            else:
                res = eng.scorecard.score(sub, points=True, threads=threads)
                contrib[np.ix_(rows, cols)] = res.points
        return contrib, base

    def explain(
        self, data: Tabular, *, threads: int | None = None
    ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, str]:
        """Explanations in the conventions of :func:`credit_grading.explain.core.explain_table`:
        ``(features, contributions, base, kind)`` over :attr:`reason_names`, each row by its segment's model.

        GBM champion: ``kind = "shap"``, contributions the TreeSHAP values, ``base`` the expected value
        (``base + contributions.sum(1)`` is the row's margin). Scorecard champion: ``kind =
        "points_shortfall"``, contributions the points short of the segment scorecard's best bin of each
        feature, ``base`` the segment scorecard's best possible score (``base - contributions.sum(1)`` is
        the row's score). A feature the row's segment model does not read contributes 0.
        """
        contrib, base = self.contributions(data, threads=threads)
        if self.spec.pooled.champion == "gbm":
            return self.reason_names, contrib, base, "shap"
        segment = self.route(data)
        best_total = np.zeros(len(self.engines))
        best = np.zeros((len(self.engines), len(self.reason_names)))
        for code, s in enumerate(self.spec.segment_names):
            feats = self.spec.model_of(s).scorecard.features
            cols = self._remap[code][:-1].astype(np.int64)
            best[code, cols] = [max(f.points) for f in feats]
            best_total[code] = best[code, cols].sum()
        used = np.zeros_like(best, dtype=bool)
        for code in range(len(self.engines)):
            used[code, self._remap[code][:-1].astype(np.int64)] = True
        shortfall = np.where(used[segment], best[segment] - contrib, 0.0)
        return self.reason_names, shortfall, best_total[segment], "points_shortfall"


def compile_model(model: ModelSpec, segments: SegmentedSpec | None = None) -> CompiledModel | CompiledSegmentedModel:
    """The compiled scorer of a bundle's model: segmented when the bundle holds segments."""
    return CompiledModel(model) if segments is None else CompiledSegmentedModel(segments)


__all__ = ["POOLED", "CompiledSegmentedModel", "SegmentedSpec", "compile_model"]
