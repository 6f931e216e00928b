"""The whole model in the scoring core: scorecard and GBM, calibrated PDs, the champion.

>>> result = CompiledModel(spec).score(table, reasons=3)   # doctest: +SKIP
>>> result.frame()[["score", "pd", "reason_1"]]            # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from credit_grading.columns import Tabular
from credit_grading.engine.gbm import CompiledGbm
from credit_grading.engine.scorecard import CompiledScorecard
from credit_grading.specs.model import ModelSpec


@dataclass
class ModelResult:
    """Scores of both models, their PDs, the champion's PD and reasons."""

    score: np.ndarray | None  # scorecard points
    margin: np.ndarray | None  # GBM raw log-odds
    pd_scorecard: np.ndarray | None
    pd_gbm: np.ndarray | None
    pd: np.ndarray  # the champion's calibrated PD
    champion: str
    reason_names: tuple[str, ...]
    reason_index: np.ndarray | None
    reason_value: np.ndarray | None
    reason_labels: tuple[tuple[str, str], ...] = ()
    gbm_matrix: np.ndarray | None = field(default=None, repr=False)  # kept for reasons_of_rows

    def frame(self) -> pd.DataFrame:
        cols: dict[str, object] = {}
        for name in ("score", "margin", "pd_scorecard", "pd_gbm", "pd"):
            v = getattr(self, name)
            if v is not None:
                cols[name] = v
        if self.reason_index is not None:
            ids = np.array([*self.reason_names, None], dtype=object)
            zh = np.array([*(lab[0] for lab in self.reason_labels), None], dtype=object)
            en = np.array([*(lab[1] for lab in self.reason_labels), None], dtype=object)
            for j in range(self.reason_index.shape[1]):
                idx = self.reason_index[:, j]
                cols[f"reason_{j + 1}"] = ids[idx]
                cols[f"reason_{j + 1}_value"] = np.where(idx >= 0, self.reason_value[:, j], np.nan)
                cols[f"reason_{j + 1}_zh"] = zh[idx]
                cols[f"reason_{j + 1}_en"] = en[idx]
        return pd.DataFrame(cols)


class CompiledModel:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.scorecard = CompiledScorecard(spec.scorecard) if spec.scorecard is not None else None
        self.gbm = CompiledGbm(spec.gbm) if spec.gbm is not None else None

    def score(
        self,
        data: Tabular,
        *,
        reasons: int = 0,
        threads: int | None = None,
        explain: np.ndarray | None = None,
        challenger: bool = True,
        keep_matrix: bool = False,
    ) -> ModelResult:
        """Score every row; with ``reasons`` > 0, the champion's top reasons of the rows in
        ``explain`` (row positions; default all rows; the others get no reasons).
        ``challenger=False`` skips the GBM when the scorecard decides (batch grading); the
        scorecard's points (the ``score`` every result carries) cost little and always come.
        ``keep_matrix`` keeps the GBM's feature matrix in the result, for :meth:`reasons_of_rows`."""
        spec = self.spec
        use_card = self.scorecard is not None
        use_gbm = self.gbm is not None and (challenger or spec.champion == "gbm")
        n_rows = len(data) if not hasattr(data, "num_rows") else data.num_rows
        subset = None if explain is None else np.asarray(explain, dtype=np.int64)
        if subset is not None and len(subset) == n_rows:
            subset = None
        score = margin = pd_sc = pd_gbm = None
        r_idx = r_val = None
        names: tuple[str, ...] = ()
        labels: tuple[tuple[str, str], ...] = ()
        if use_card:
            want = reasons if spec.champion == "scorecard" and subset is None else 0
            res = self.scorecard.score(data, reasons=want, points=False, threads=threads)
            score = res.score
            if "scorecard" in spec.calibration:
                pd_sc = spec.calibration["scorecard"].apply(score)
            if spec.champion == "scorecard" and reasons:
                if subset is not None:
                    r_idx, r_val = self._card_reasons(data, subset, n_rows, reasons, threads)
                    names = self.scorecard.feature_names
                else:
                    r_idx, r_val, names = res.reason_index, res.reason_value, res.feature_names
                labels = tuple((f.name_zh or f.name, f.name_en or f.name) for f in spec.scorecard.features)
        if use_gbm:
            x = self.gbm.matrix(data)
            explain_all = spec.champion == "gbm" and reasons and subset is None
            if explain_all and self.gbm.backend == "fast":
                margin, contrib = self.gbm.fast.margin_and_contributions(x, threads=threads)
            else:
                margin = self.gbm.margin(x, threads=threads)
                contrib = None
            if "gbm" in spec.calibration:
                pd_gbm = spec.calibration["gbm"].apply(margin)
            if spec.champion == "gbm" and reasons:
                if subset is not None:
                    r_idx, r_val = self._gbm_reasons(x[subset], subset, n_rows, reasons, threads)
                else:
                    if contrib is None:
                        contrib = self.gbm.contributions(x, threads=threads)
                    r_idx, r_val = self.gbm.reasons(contrib, reasons)
                names = self.gbm.feature_names
                labels = tuple((f.name_zh or f.name, f.name_en or f.name) for f in spec.gbm.features)
        champion_pd = pd_gbm if spec.champion == "gbm" else pd_sc
        kept = x if keep_matrix and use_gbm else None
        return ModelResult(score, margin, pd_sc, pd_gbm, champion_pd, spec.champion, names, r_idx, r_val, labels, kept)

    def reasons_of_rows(
        self, data: Tabular, rows: np.ndarray, reasons: int, result: ModelResult, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """The champion's top reasons of the rows at positions ``rows`` of ``data``, which ``result``
        scored (the other rows: none), once the rows to explain are known from the grades. A GBM
        champion explains them from the feature matrix ``result`` kept (``keep_matrix``), without
        taking the rows out of ``data`` or scoring them again. Returns (index, value, names)."""
        rows = np.asarray(rows, dtype=np.int64)
        n = len(result.pd)
        if self.spec.champion == "gbm" and self.gbm is not None:
            kept = result.gbm_matrix
            x = kept[rows] if kept is not None else self.gbm.matrix(_take(data, rows))
            return (*self._gbm_reasons(x, rows, n, reasons, threads), self.gbm.feature_names)
        return (*self._card_reasons(data, rows, n, reasons, threads), self.scorecard.feature_names)

    def _gbm_reasons(self, x_rows: np.ndarray, rows: np.ndarray, n: int, reasons: int, threads: int | None):
        """Reasons of ``rows`` (their feature matrix ``x_rows``) among ``n`` rows: SHAP values of those rows only."""
        if not len(rows):
            return np.full((n, reasons), -1, dtype=np.int16), np.zeros((n, reasons))
        part = self.gbm.contributions(np.ascontiguousarray(x_rows), threads=threads)
        return _spread(*self.gbm.reasons(part, reasons), rows, n)

    def _card_reasons(self, data: Tabular, rows: np.ndarray, n: int, reasons: int, threads: int | None):
        """Reasons of ``rows`` of ``data`` among ``n`` rows, by the scorecard."""
        if not len(rows):
            return np.full((n, reasons), -1, dtype=np.int16), np.zeros((n, reasons))
        part = self.scorecard.score(_take(data, rows), reasons=reasons, points=False, threads=threads)
        return _spread(part.reason_index, part.reason_value, rows, n)


def _take(data: Tabular, rows: np.ndarray) -> Tabular:
    if isinstance(data, pd.DataFrame):
        return data.iloc[rows]
    return data.take(rows)  # pyarrow.Table


def _spread(idx: np.ndarray, val: np.ndarray, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Reasons of some rows placed among all rows (the others: no reason)."""
    k = idx.shape[1]
    out_i = np.full((n, k), -1, dtype=idx.dtype)
    out_v = np.zeros((n, k), dtype=val.dtype)
    out_i[rows] = idx
    out_v[rows] = val
    return out_i, out_v
