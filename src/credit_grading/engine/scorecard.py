"""The compiled scorecard: a spec turned into lookup arrays once, then scored in blocks.

Each feature becomes a small points table over its slots (regular bins, missing, special,
unseen; see :mod:`credit_grading.engine.slots`). Scoring reads each input column once
(Arrow dictionaries and pandas categoricals are mapped per distinct level), then works
through row blocks: each numeric feature's points in one compiled pass (bin and lookup
together), each categorical feature's by one gather of its level table, the total by
adding the features in order, and optionally the top-k reasons. Blocks run on a small
thread pool (the kernels and numpy release the GIL). No Python runs per row.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_grading.columns import Columns, Tabular
from credit_grading.engine.kernels import level_points_add, numeric_points_add, numeric_points_into
from credit_grading.engine.reasons import top_k_points
from credit_grading.engine.slots import categorical_codes, level_lookup
from credit_grading.specs.binning import UNSEEN
from credit_grading.specs.scorecard import ScorecardSpec

BLOCK_ROWS = 1 << 16


def default_threads() -> int:
    env = os.environ.get("CREDIT_GRADING_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass
class ScoreResult:
    """Scores of a table: total, per-feature points and optional reasons."""

    feature_names: tuple[str, ...]
    score: np.ndarray  # (rows,)
    points: np.ndarray | None  # (rows, features), a transposed view of feature-major storage
    reason_index: np.ndarray | None  # (rows, k) int16, -1 for none
    reason_value: np.ndarray | None  # (rows, k) shortfall in points
    unseen: dict[str, int]  # rows with a level never seen in training, per feature

    def reason_names(self) -> np.ndarray:
        """Reasons as feature names (an object array; ``None`` where there is none)."""
        if self.reason_index is None:
            raise ValueError("no reasons were computed: score with reasons=k")
        names = np.array([*self.feature_names, None], dtype=object)
        return names[self.reason_index]  # -1 picks the trailing None


class CompiledScorecard:
    """A :class:`~credit_grading.specs.scorecard.ScorecardSpec` compiled for scoring.

    Examples
    --------
    >>> engine = CompiledScorecard(spec)          # doctest: +SKIP
    >>> result = engine.score(table, reasons=3)   # doctest: +SKIP
    >>> result.score[:3], result.reason_names()[:3]  # doctest: +SKIP
    """

    def __init__(self, spec: ScorecardSpec) -> None:
        self.spec = spec
        self.feature_names = spec.feature_names
        self._features = []
        for f in spec.features:
            b = f.binning
            self._features.append(
                {
                    "name": f.name,
                    "categorical": b.kind == "categorical",
                    "splits": np.asarray(b.splits, dtype=np.float64),
                    "special": np.asarray(b.special_codes, dtype=np.float64),
                    "level_slots": b.level_slots,
                    "n_regular": b.n_regular,
                    "lut": f.slot_points(),
                }
            )
        self.max_points = np.array([f.max_points for f in spec.features], dtype=np.float64)

    def _inputs(self, cols: Columns, pool: ThreadPoolExecutor | None = None) -> tuple[list[tuple], dict[str, int]]:
        """Per feature: ``("num", values, missing mask)`` or ``("cat", codes, level→points)``;
        plus the rows on levels never seen in training, per feature. Columns are read on the
        pool's threads when one is given (encoding text and widening numbers release the GIL)."""

        def read(f: dict) -> tuple:
            if f["categorical"]:
                codes, levels = categorical_codes(cols, f["name"])
                slot = level_lookup(levels, f["level_slots"], f["n_regular"])
                new = np.flatnonzero(slot[:-1] == f["n_regular"] + UNSEEN)
                n_unseen = int(np.isin(codes, new).sum()) if new.size else 0
                return ("cat", codes, f["lut"][slot]), n_unseen  # code -1 picks the last entry: missing
            values, missing = cols.numeric_raw(f["name"])
            return ("num", values, missing), 0

        # Categorical features first: encoding their text is the longest work.
        order = sorted(range(len(self._features)), key=lambda j: not self._features[j]["categorical"])
        done = dict(zip(order, (pool.map if pool is not None else map)(read, [self._features[j] for j in order]),
                        strict=True))  # fmt: skip
        out = [done[j][0] for j in range(len(self._features))]
        unseen = {f["name"]: done[j][1] for j, f in enumerate(self._features) if done[j][1]}
        return out, unseen

    def score(
        self,
        data: Tabular,
        *,
        reasons: int = 0,
        points: bool = True,
        threads: int | None = None,
        block_rows: int = BLOCK_ROWS,
    ) -> ScoreResult:
        """Score every row of ``data``.

        Parameters
        ----------
        data : DataFrame, pyarrow Table or RecordBatch, or mapping of numpy arrays
            Must hold every feature of the scorecard (other columns are ignored).
        reasons : int
            Number of adverse reasons per row (0 for none).
        points : bool
            Also return the per-feature points matrix.
        threads : int, optional
            Worker threads (default: the machine's cores, or ``CREDIT_GRADING_THREADS``).
        block_rows : int
            Rows per block of work.
        """
        cols = Columns(data)
        cols.require(self.feature_names)
        n, nf = cols.n_rows, len(self._features)
        score = np.empty(n, dtype=np.float64)
        pts = np.empty((nf, n), dtype=np.float64) if points else None  # feature-major
        k = min(reasons, nf)
        r_idx = np.empty((n, k), dtype=np.int16) if k else None
        r_val = np.empty((n, k), dtype=np.float64) if k else None

        def run(start: int) -> None:
            stop = min(start + block_rows, n)
            if pts is None and not k:  # the total only: each feature's points added as they come
                total = score[start:stop]
                for j, (f, (kind, values, extra)) in enumerate(zip(self._features, inputs, strict=True)):
                    if kind == "cat":
                        level_points_add(values[start:stop], extra, total, j == 0)
                    else:
                        miss = extra[start:stop] if extra is not None else None
                        numeric_points_add(values[start:stop], miss, f["splits"], f["special"], f["lut"], total, j == 0)
                return
            block = pts[:, start:stop] if pts is not None else np.empty((nf, stop - start), dtype=np.float64)
            for j, (f, (kind, values, extra)) in enumerate(zip(self._features, inputs, strict=True)):
                if kind == "cat":
                    np.take(extra, values[start:stop], out=block[j], mode="wrap")
                else:
                    miss = extra[start:stop] if extra is not None else None
                    numeric_points_into(values[start:stop], miss, f["splits"], f["special"], f["lut"], block[j])
            # Add features one after another (never pairwise), so a row's total does not depend
            # on the block it falls in, and matches optbinning's order of summation.
            total = score[start:stop]
            total[:] = block[0]
            for j in range(1, nf):
                total += block[j]
            if k:
                top_k_points(block, self.max_points, k, r_idx[start:stop], r_val[start:stop])

        starts = range(0, n, block_rows)
        workers = threads or default_threads()
        if workers > 1 and n > block_rows:
            with ThreadPoolExecutor(workers) as pool:
                inputs, unseen = self._inputs(cols, pool)
                list(pool.map(run, starts))
        else:
            inputs, unseen = self._inputs(cols)
            for s in starts:
                run(s)
        return ScoreResult(self.feature_names, score, pts.T if pts is not None else None, r_idx, r_val, unseen)


def reasons_frame(result: ScoreResult, spec: ScorecardSpec, *, names: bool = True) -> pd.DataFrame:
    """Reason codes as columns: ``reason_j`` (catalogue id), ``reason_j_points`` (shortfall)
    and, with ``names``, ``reason_j_zh`` / ``reason_j_en`` (catalogue names), for j = 1..k.

    Built by array lookups on the reason indices (index -1 gives ``None``).
    """
    if result.reason_index is None:
        raise ValueError("no reasons were computed: score with reasons=k")
    k = result.reason_index.shape[1]
    ids = np.array([*result.feature_names, None], dtype=object)
    zh = np.array([*(f.name_zh or f.name for f in spec.features), None], dtype=object)
    en = np.array([*(f.name_en or f.name for f in spec.features), None], dtype=object)
    out: dict[str, object] = {}
    for j in range(k):
        idx = result.reason_index[:, j]
        out[f"reason_{j + 1}"] = ids[idx]
        out[f"reason_{j + 1}_points"] = result.reason_value[:, j]
        if names:
            out[f"reason_{j + 1}_zh"] = zh[idx]
            out[f"reason_{j + 1}_en"] = en[idx]
    return pd.DataFrame(out)
