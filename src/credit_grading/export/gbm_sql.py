"""The GBM champion in SQL: its margin and exact TreeSHAP values, from the engine's cell tables.

The engine (:class:`~credit_grading.engine.fast_gbm.FastGbm`) groups the trees that use the same
features and tabulates, per group, every cell of the grid their splits cut: the cell's output and
each feature's SHAP value. A row's cell is a sum of per-feature offsets, each a function of the
feature's bin. Here each offset becomes one ``CASE`` on the raw value (intervals ``(t_i, t_j]``
of LightGBM's ``x <= threshold`` rule, NULL where LightGBM's missing goes; a categorical level by
its position in the spec's level list), each output and SHAP value one ``CASE`` on the cell, and
the margin and SHAP values are summed group after group in the engine's order, so SQL and engine
add the same numbers in the same order.
"""

from __future__ import annotations

import numpy as np

from credit_grading.exceptions import BundleError
from credit_grading.export._sqlbase import Dialect, case, ident
from credit_grading.specs.gbm import GbmSpec


def tree_depth(spec: GbmSpec) -> int:
    from credit_grading.engine.trees import parse_model

    trees = parse_model(spec.model_text)
    return int(trees.max_depth.max()) if trees.n_trees else 0


class GbmSql:
    """The pieces of SQL for a GBM: cell columns, then margin and per-feature SHAP sums."""

    def __init__(self, spec: GbmSpec, d: Dialect, inputs: dict[str, str], max_depth: int) -> None:
        from credit_grading.engine.fast_gbm import FastGbm

        depth = tree_depth(spec)
        if depth > max_depth:
            raise BundleError(
                f"the GBM's trees are {depth} levels deep; SQL export handles trees of depth at most {max_depth} "
                "(one CASE per tree group); export the scorecard as champion, or train shallower trees "
                "(gbm max_depth)"
            )
        self.spec, self.d, self.inputs = spec, d, inputs
        fast = FastGbm(spec.model_text)
        fast.table_summary()  # builds the engine's tables
        tables = fast._tables
        if tables.leafwise is not None or tables.direct.size:
            raise BundleError(
                "some of the GBM's trees are too large for the engine's cell tables; SQL export needs every tree "
                f"tabulated (depth at most {max_depth}, at most {fast.max_cells} cells per tree group)"
            )
        self.fast, self.cells = fast, tables.cells

    def _offset_expr(self, f: int, lut: np.ndarray) -> str:
        """The cell offset of feature ``f`` given its per-bin offsets ``lut`` (global bins)."""
        b, feat, d = self.fast.bins, self.spec.features[f], self.d
        col = self.inputs[feat.name]
        if b.categorical[f]:
            rest = int(b.n_cats[f])
            by_offset: dict[int, list[str]] = {}
            for pos, level in enumerate(feat.levels):
                off = int(lut[pos]) if pos < rest else int(lut[rest])
                by_offset.setdefault(off, []).append(level)
            default = int(lut[rest])
            branches = [
                (f"{col} IN ({', '.join(d.str_(lv) for lv in levels)})", str(off))
                for off, levels in by_offset.items()
                if off != default
            ]
            return case(branches, str(default))
        if feat.kind == "categorical":
            raise BundleError(f"the GBM splits categorical feature {feat.name!r} as a number; it cannot be exported")
        bp = b.breakpoints[f]
        nan_off = int(lut[int(b.nan_bin[f])])
        branches = [(f"{col} IS NULL", str(nan_off))]
        # bin i holds bp[i-1] < x <= bp[i]; runs of bins with one offset are one interval.
        n = len(bp)
        i = 0
        while i <= n:
            j = i
            while j + 1 <= n and lut[j + 1] == lut[i]:
                j += 1
            if j == n:
                return case(branches, str(int(lut[i])))
            branches.append((f"{col} <= {d.num(bp[j])}", str(int(lut[i]))))
            i = j + 1
        return case(branches, "0")  # pragma: no cover - the loop always returns

    def _bin_expr(self, f: int) -> str:
        """The engine's global bin of feature ``f`` (``trees.bin_matrix``): for a number the count
        of breakpoints below it (NULL: after them all, ``nan_bin``); for a category its position
        among the listed categories, else the "rest" bin."""
        b, feat, d = self.fast.bins, self.spec.features[f], self.d
        col = self.inputs[feat.name]
        if b.categorical[f]:
            rest = int(b.n_cats[f])
            branches = [(f"{col} = {d.str_(lv)}", str(pos)) for pos, lv in enumerate(feat.levels) if pos < rest]
            return case(branches, str(rest))
        if feat.kind == "categorical":
            raise BundleError(f"the GBM splits categorical feature {feat.name!r} as a number; it cannot be exported")
        bp = b.breakpoints[f]
        branches = [(f"{col} IS NULL", str(int(b.nan_bin[f])))]
        branches += [(f"{col} <= {d.num(t)}", str(i)) for i, t in enumerate(bp)]
        return case(branches, str(len(bp)))

    def bin_columns(self) -> list[tuple[str, str]]:
        """With array lookups: each used feature's bin, once (``_cg_bin<f>``); else nothing."""
        if not self.d.arrays:
            return []
        return [(f"_cg_bin{f}", self._bin_expr(f)) for f in self.used_features()]

    def cell_columns(self) -> list[tuple[str, str]]:
        c = self.cells
        out = []
        for g in range(len(c.groups)):
            a, b = int(c.used_start[g]), int(c.used_start[g + 1])
            terms = []
            for u in range(a, b):
                f = int(c.used_feat[u])
                size = self.fast.bins.n_bins(f)
                lut = c.lut[int(c.lut_start[u]) : int(c.lut_start[u]) + size]
                if self.d.arrays:
                    terms.append(self.d.lookup([str(int(v)) for v in lut], ident(f"_cg_bin{f}")))
                else:
                    terms.append(self._offset_expr(f, lut))
            out.append((f"_cg_cell{g}", " + ".join(f"({t})" for t in terms) if terms else "0"))
        return out

    def _group_sizes(self) -> list[int]:
        c = self.cells
        starts = [*c.value_start.tolist(), len(c.values)]
        return [int(starts[g + 1] - starts[g]) for g in range(len(c.groups))]

    def sum_columns(self) -> tuple[list[tuple[str, str]], list[str]]:
        """``_cg_margin`` and ``_cg_phi<f>`` for every feature some tree uses; and the names of
        the features whose SHAP column exists (the others' values are always 0)."""
        c, d = self.cells, self.d
        sizes = self._group_sizes()
        values, per_feature = [], {}
        for g, n_cells in enumerate(sizes):
            cell = ident(f"_cg_cell{g}")
            vs = int(c.value_start[g])
            vals = c.values[vs : vs + n_cells]
            values.append(self._by_cell(cell, vals) if n_cells > 1 else d.num(vals[0]))
            a, b = int(c.used_start[g]), int(c.used_start[g + 1])
            k, ps = b - a, int(c.phi_start[g])
            for u in range(k):
                f = int(c.used_feat[a + u])
                phis = c.phis[ps + u : ps + n_cells * k : k] if k else np.zeros(0)
                per_feature.setdefault(f, []).append(self._by_cell(cell, phis))
        cols = [("_cg_margin", " + ".join(f"({v})" for v in values) if values else d.num(0.0))]
        names = []
        for f in sorted(per_feature):
            cols.append((f"_cg_phi{f}", " + ".join(f"({t})" for t in per_feature[f])))
            names.append(self.spec.features[f].name)
        return cols, names

    def used_features(self) -> list[int]:
        return sorted({int(f) for f in self.cells.used_feat})

    def _by_cell(self, cell: str, vals: np.ndarray) -> str:
        d = self.d
        uniq = {}
        for i, v in enumerate(vals):
            uniq.setdefault(float(v), []).append(i)
        if len(uniq) == 1:
            return d.num(float(vals[0]))
        if d.arrays:
            return d.lookup([d.num(float(v)) for v in vals], cell)
        # The most common value is the default; the others list their cells.
        default = max(uniq, key=lambda v: len(uniq[v]))
        branches = [
            (f"{cell} IN ({', '.join(str(i) for i in cells)})" if len(cells) > 1 else f"{cell} = {cells[0]}", d.num(v))
            for v, cells in uniq.items()
            if v != default
        ]
        return case(branches, d.num(default))
