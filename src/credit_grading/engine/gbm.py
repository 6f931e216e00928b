"""The GBM in the scoring core: the feature encoding, raw margins and TreeSHAP values.

Encoding is vectorised: numeric columns as float64 (NaN missing), categorical columns as
the index of the level in the spec's level list, mapped once per distinct level; a missing
value and a level never seen in training become NaN, which LightGBM treats as missing. The
matrix is column-major, which LightGBM reads without a copy. Margins and TreeSHAP values
come from our own compiled evaluator (:mod:`credit_grading.engine.fast_gbm`: binned
scoring, exact TreeSHAP by per-tree cell tables), which gives LightGBM's numbers; with
``backend="lightgbm"`` they come from LightGBM's own predictor instead.
"""

from __future__ import annotations

import os

import numpy as np

from credit_grading.columns import Columns, Tabular
from credit_grading.engine.reasons import top_k_contributions
from credit_grading.engine.slots import categorical_codes
from credit_grading.specs.gbm import GbmSpec

CONTRIB_CHUNK_ROWS = 100_000


def encode_matrix(spec_features, data: Tabular) -> tuple[np.ndarray, dict[str, int]]:
    """(rows, features) float64 column-major matrix, and rows on unseen levels per feature."""
    cols = Columns(data)
    cols.require([f.name for f in spec_features])
    x = np.empty((cols.n_rows, len(spec_features)), dtype=np.float64, order="F")
    unseen: dict[str, int] = {}
    for j, f in enumerate(spec_features):
        if f.kind == "categorical":
            codes, levels = categorical_codes(cols, f.name)
            position = {lv: i for i, lv in enumerate(f.levels)}
            lut = np.array([position.get(lv, np.nan) if lv is not None else np.nan for lv in levels] + [np.nan])
            new = [i for i, lv in enumerate(levels) if lv is not None and lv not in position]
            if new:
                unseen[f.name] = int(np.isin(codes, new).sum())
            np.take(lut, codes, out=x[:, j], mode="wrap")  # code -1 picks the trailing NaN
        else:
            x[:, j] = cols.numeric(f.name)
    return x, unseen


class CompiledGbm:
    """A :class:`~credit_grading.specs.gbm.GbmSpec` ready to score."""

    def __init__(self, spec: GbmSpec, backend: str = "fast") -> None:
        if backend not in ("fast", "lightgbm"):
            raise ValueError(f"backend must be 'fast' or 'lightgbm', got {backend!r}")
        self.spec = spec
        self.backend = backend
        self.feature_names = spec.feature_names
        self._booster = None
        self._fast = None

    @property
    def fast(self):
        if self._fast is None:
            from credit_grading.engine.fast_gbm import FastGbm

            self._fast = FastGbm(self.spec.model_text)
        return self._fast

    @property
    def booster(self):
        if self._booster is None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.spec.model_text)
        return self._booster

    def matrix(self, data: Tabular) -> np.ndarray:
        return encode_matrix(self.spec.features, data)[0]

    def margin(self, data: Tabular, threads: int | None = None) -> np.ndarray:
        """Raw log-odds of every row."""
        x = data if isinstance(data, np.ndarray) else self.matrix(data)
        if self.backend == "fast":
            return self.fast.margin(x, threads=threads)
        return self.booster.predict(x, raw_score=True, num_threads=threads or (os.cpu_count() or 1))

    def contributions(
        self, data: Tabular, threads: int | None = None, chunk_rows: int = CONTRIB_CHUNK_ROWS
    ) -> np.ndarray:
        """TreeSHAP values, shape (rows, features + 1); the last column is the expected value.

        With the LightGBM backend rows are explained in chunks (bounded memory) on all cores.
        """
        x = data if isinstance(data, np.ndarray) else self.matrix(data)
        if self.backend == "fast":
            return self.fast.contributions(x, threads=threads)
        n, nf = x.shape
        out = np.empty((n, nf + 1), dtype=np.float64)
        for s in range(0, n, chunk_rows):
            e = min(s + chunk_rows, n)
            out[s:e] = self.booster.predict(x[s:e], pred_contrib=True, num_threads=threads or (os.cpu_count() or 1))
        return out

    def reasons(self, contributions: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k features pushing risk up (index, SHAP value), as the scorecard's reasons."""
        return top_k_contributions(contributions[:, : len(self.feature_names)], k)
