"""Our own evaluator of LightGBM models: binned scoring and exact TreeSHAP by lookup.

``FastGbm(model_text)`` parses the model once (:mod:`credit_grading.engine.trees`), bins
every feature once against the model's thresholds, and then:

- ``margin``: models of small trees (at most ``SHALLOW_LEAVES`` leaves, the default model's)
  by the cell tables below; larger trees (up to 64 leaves) feature by feature, QuickScorer's
  idea on bins: for each feature a tree splits on, a row's bin picks a bitmask of the leaves
  the tree's splits on that feature allow; the AND over the features leaves the exit leaf
  (no branch on the data; trees added in LightGBM's order, so the sum is LightGBM's bit for
  bit); trees of more leaves are walked node by node. Compiled, all cores;
- ``contributions``: exact path-dependent TreeSHAP, three ways by tree size:

  * cell tables: a tree that uses k features, the i-th cut by its own splits into r_i
    cells, has Π r_i cells, and every row in a cell gets the same SHAP values (they depend
    only on the decisions along the paths). Trees using the same features are grouped; for
    each group with at most ``max_cells`` cells the SHAP values and output of every cell
    are computed once (the TreeSHAP recursion on one representative row per cell), and a
    row's values are a lookup as cheap as a prediction. Shallow trees always fit.
  * leaf tables, for larger trees: a leaf's contribution depends only on which of its
    path features the row follows, so each leaf keeps one row of SHAP values per pattern
    (2^k rows for k path features, ``max_path_features`` at most); a row needs every
    split's decision and one lookup per leaf.
  * the recursion itself (Lundberg et al.), for trees with longer paths.

  Leaf tables read their decisions from the same leaf bitmasks (bit l of the mask a row's
  bin picks for a path feature says whether the row follows leaf l's path there), tree by
  tree with the rows innermost.

Every way gives LightGBM's ``pred_contrib`` values (tests compare them on random models).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from credit_grading.engine.tree_kernels import (
    BinEdges,
    BinnedNodes,
    CellTables,
    FloatNodes,
    LeafMasks,
    LeafPairs,
    LeafTables,
    compiled,
    expected_values,
)
from credit_grading.engine.trees import K_ZERO, bin_matrix, bin_representatives, feature_bins, parse_model

BLOCK = 1 << 13  # rows per block: the block's cells and SHAP values stay in cache
SHALLOW_LEAVES = 8  # models of trees this small score fastest by cell tables (trees grouped), others by leaf masks


def _threads(threads: int | None) -> int:
    return max(1, threads or int(os.environ.get("CREDIT_GRADING_THREADS", 0)) or (os.cpu_count() or 1))


@dataclass
class Tables:
    """How each tree is explained: by cell tables (``cells``), leaf tables (``leafwise``,
    ``None`` when no tree is) or the recursion (``direct``, tree indices)."""

    cells: CellTables
    trees_tabulated: int  # trees in the cell tables
    leafwise: LeafTables | None
    direct: np.ndarray
    pairs: LeafPairs | None = None  # the leaf tables' decisions in the leaf masks (all trees of <= 64 leaves)


class FastGbm:
    def __init__(
        self,
        model_text: str,
        max_cells: int = 4096,
        max_path_features: int = 16,
        max_leaf_table_values: int = 50_000_000,
    ) -> None:
        self.trees = parse_model(model_text)
        self.bins = feature_bins(self.trees)
        self.expected_value = float(expected_values(self.trees).sum())
        self.max_cells = max_cells
        self.max_path_features = max_path_features
        self.max_leaf_table_values = max_leaf_table_values  # 8 bytes each: 400 MB by default
        self._tables: Tables | None = None
        self._binned_nodes: BinnedNodes | None = None
        self._masks: tuple[LeafMasks, np.ndarray] | None = None
        self._edges: BinEdges | None = None
        t = self.trees
        self.float_nodes = FloatNodes(
            node_start=t.node_start, leaf_start=t.leaf_start, max_depth=t.max_depth, feature=t.feature,
            threshold=t.threshold, decision=t.decision, left=t.left, right=t.right, cat_start=t.cat_start,
            cat_words=t.cat_words, bits=t.bits, node_count=t.node_count, leaf_value=t.leaf_value,
            leaf_count=t.leaf_count,
        )  # fmt: skip

    # ------------------------------------------------------------------ scoring
    @property
    def binned_nodes(self) -> BinnedNodes:
        """The trees' nodes with every split a compare on bins (built on first use)."""
        if self._binned_nodes is None:
            t, b = self.trees, self.bins
            f = t.feature
            mt = (t.decision.astype(np.int64) >> 2) & 3
            kind = np.where(t.decision & 1, 1, np.where(mt == 2, 2, np.where(mt == 1, 3, 0))).astype(np.int8)
            self._binned_nodes = BinnedNodes(
                node_start=t.node_start, leaf_start=t.leaf_start, feature=f, kind=kind, node_bin=b.node_bin,
                left=t.left, right=t.right, nan_bin=b.nan_bin[f], zero_bin=b.zero_bin[f], zero_lo=b.zero_lo[f],
                zero_hi=b.zero_hi[f], default_left=(t.decision & 2) > 0, cat_start=t.cat_start,
                cat_words=t.cat_words, bits=t.bits, n_cats=b.n_cats, leaf_value=t.leaf_value,
            )  # fmt: skip
        return self._binned_nodes

    def binned(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Feature-major (features, rows) uint16 bins of every value (compiled, all cores)."""
        if x.ndim != 2 or x.shape[1] != self.trees.n_features:
            raise ValueError(f"the model has {self.trees.n_features} features, the matrix {x.shape}")
        b = self.bins
        if self._edges is None:
            bp = [bp if not c else np.zeros(0) for bp, c in zip(b.breakpoints, b.categorical, strict=True)]
            start = np.r_[0, np.cumsum([len(p) for p in bp])].astype(np.int64)
            self._edges = BinEdges(categorical=b.categorical, n_cats=b.n_cats.astype(np.int64), start=start,
                                   breakpoints=np.concatenate(bp) if bp else np.zeros(0))  # fmt: skip
        out = np.empty((x.shape[1], x.shape[0]), dtype=np.uint16)
        kernel, edges = compiled().bin_columns, self._edges

        def run(s: int) -> None:
            kernel(x, s, min(s + BLOCK, x.shape[0]), edges, out)

        self._blocks(x.shape[0], run, threads)
        return out

    def _blocks(self, n: int, fn, threads: int | None) -> None:
        starts = list(range(0, n, BLOCK))
        workers = _threads(threads)
        if workers > 1 and len(starts) > 1:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(fn, starts))
        else:
            for s in starts:
                fn(s)

    def goes_left(self, node: int) -> np.ndarray:
        """For a split, whether a row of each bin of its feature goes left (bool, one per bin):
        the decision of ``predict_bins``, for every bin at once."""
        nodes, b = self.binned_nodes, self.bins
        f = int(nodes.feature[node])
        bins = np.arange(b.n_bins(f), dtype=np.int64)
        kind, nb = int(nodes.kind[node]), int(nodes.node_bin[node])
        nan = bins == int(nodes.nan_bin[node])
        if kind == 1:
            words = self.trees.bits[nodes.cat_start[node] : nodes.cat_start[node] + nodes.cat_words[node]]
            listed = np.zeros(bins.size, dtype=bool)
            set_bits = np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little"))
            set_bits = set_bits[set_bits < b.n_cats[f]]
            listed[set_bits] = True
            return listed
        if kind == 2:
            return np.where(nan, bool(nodes.default_left[node]), bins <= nb)
        read = np.where(nan, int(nodes.zero_bin[node]), bins)
        if kind == 0:
            return read <= nb
        zero = (int(nodes.zero_lo[node]) <= read) & (read <= int(nodes.zero_hi[node]))
        return np.where(zero, bool(nodes.default_left[node]), read <= nb)

    @property
    def leaf_masks(self) -> tuple[LeafMasks, np.ndarray]:
        """The trees of at most 64 leaves as leaf bitmasks per feature and bin (built on first
        use), and the other trees (walked node by node)."""
        if self._masks is None:
            tr = self.trees
            keep, walk = [], []
            pair_start, pair_feat, tab_start, tabs = [0], [], [], []
            n_tab = 0
            for t in range(tr.n_trees):
                a, b = int(tr.node_start[t]), int(tr.node_start[t + 1])
                n_leaves = int(tr.leaf_start[t + 1] - tr.leaf_start[t])
                if n_leaves > 64:
                    walk.append(t)
                    continue
                keep.append(t)
                # The leaves under each node, as bitmasks of the tree's own leaf numbers.
                under: dict[int, int] = {}
                for node in range(b - 1, a - 1, -1):  # children follow their parents
                    under[node] = 0
                    for child in (int(tr.left[node]), int(tr.right[node])):
                        under[node] |= (1 << (-child - 1 - int(tr.leaf_start[t]))) if child < 0 else under[child]
                per_feature: dict[int, np.ndarray] = {}
                full = (1 << 64) - 1
                for node in range(a, b):
                    f = int(tr.feature[node])
                    left = int(tr.left[node])
                    right = int(tr.right[node])
                    lmask = (1 << (-left - 1 - int(tr.leaf_start[t]))) if left < 0 else under[left]
                    rmask = (1 << (-right - 1 - int(tr.leaf_start[t]))) if right < 0 else under[right]
                    gl = self.goes_left(node)
                    m = np.where(gl, np.uint64(full ^ rmask), np.uint64(full ^ lmask))
                    per_feature[f] = per_feature[f] & m if f in per_feature else m
                for f in sorted(per_feature):
                    pair_feat.append(f)
                    tab_start.append(n_tab)
                    tabs.append(per_feature[f])
                    n_tab += per_feature[f].size
                pair_start.append(len(pair_feat))
            masks = LeafMasks(
                trees=np.array(keep, np.int64),
                pair_start=np.array(pair_start, np.int64),
                pair_feat=np.array(pair_feat, np.int64),
                tab_start=np.array(tab_start, np.int64),
                tab=np.concatenate(tabs).astype(np.uint64) if tabs else np.zeros(0, np.uint64),
                leaf_base=tr.leaf_start[keep].astype(np.int64) if keep else np.zeros(0, np.int64),
            )
            self._masks = masks, np.array(walk, np.int64)
        return self._masks

    def margin(self, x: np.ndarray, threads: int | None = None, xb: np.ndarray | None = None) -> np.ndarray:
        """Raw margins, equal to ``booster.predict(raw_score=True)``.

        Trees of at most 64 leaves are scored feature by feature with leaf bitmasks
        (:attr:`leaf_masks`), in tree order; larger trees are walked node by node.
        """
        if int(np.diff(self.trees.leaf_start).max(initial=1)) <= SHALLOW_LEAVES:
            return self._evaluate(x, threads, want_phi=False, xb=xb)[0]
        n = x.shape[0]
        xbt = self.binned(x, threads) if xb is None else xb
        masks, walk = self.leaf_masks
        kernels = compiled()
        out = np.zeros(n)
        leaf_value, nodes = self.trees.leaf_value, self.binned_nodes

        def run(s: int) -> None:
            e = min(s + BLOCK, n)
            acc = np.empty(e - s, dtype=np.uint64)
            kernels.mask_predict(xbt, s, e, masks, leaf_value, out, acc)
            if walk.size:
                part = np.empty(e - s)
                kernels.predict_bins(xbt[:, s:e], walk, nodes, part)
                out[s:e] += part

        self._blocks(n, run, threads)
        return out

    # ------------------------------------------------------------------ TreeSHAP
    def _local_cells(self, t: int, f: int) -> np.ndarray:
        """For tree t and feature f: the tree's own cell of each global bin of f."""
        tr, b = self.trees, self.bins
        nodes = np.arange(tr.node_start[t], tr.node_start[t + 1])
        nodes = nodes[tr.feature[nodes] == f]
        if b.categorical[f]:
            listed: list[int] = []
            for node in nodes:
                words = tr.bits[tr.cat_start[node] : tr.cat_start[node] + tr.cat_words[node]]
                listed.extend(np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little")).tolist())
            listed = sorted(set(listed))
            cell = np.full(b.n_cats[f] + 1, len(listed), dtype=np.int64)  # rest
            cell[listed] = np.arange(len(listed))
            return cell
        local = set(tr.threshold[nodes].tolist())
        types = {(int(tr.decision[n]) >> 2) & 3 for n in nodes}
        if 1 in types:
            local.update((-K_ZERO, K_ZERO))
        local = np.array(sorted(local))
        reps = bin_representatives(b, f)
        cell = np.searchsorted(local, reps, side="left").astype(np.int64)
        # NaN has a cell of its own only where a split sends it its own way (missing type
        # NaN); elsewhere LightGBM reads it as 0.0, so it shares 0.0's cell.
        nan = np.isnan(reps)
        cell[nan] = len(local) + 1 if 2 in types else np.searchsorted(local, 0.0, side="left")
        return np.unique(cell, return_inverse=True)[1].astype(np.int64)

    def _build_tables(self) -> None:
        """Group the trees that use the same features; tabulate each group's cells.

        Trees using the same set of features are merged into one table whose cells refine
        all of theirs (SHAP values and outputs add up across trees), so a row pays one
        lookup per group rather than per tree. A group whose table would pass ``max_cells``
        is split back into single trees; a single tree past it is walked and explained by
        the recursion for every row.
        """
        tr, b = self.trees, self.bins
        kernels = compiled()
        nf = tr.n_features
        reps = [bin_representatives(b, f) for f in range(nf)]
        per_tree = []
        for t in range(tr.n_trees):
            nodes = np.arange(tr.node_start[t], tr.node_start[t + 1])
            feats = tuple(sorted(set(tr.feature[nodes].tolist())))
            per_tree.append((feats, {f: self._local_cells(t, f) for f in feats}))
        units: list[tuple[tuple, list[int], list[np.ndarray]]] = []
        direct: list[int] = []
        groups: dict[tuple, list[int]] = {}
        for t, (feats, cells) in enumerate(per_tree):
            # A tree with more cells than max_cells on its own fits no table (a group's cells
            # refine each member's): it goes to the leaf tables without trying the groups.
            if feats and int(np.prod([len(np.unique(c)) for c in cells.values()])) > self.max_cells:
                direct.append(t)
            else:
                groups.setdefault(feats, []).append(t)

        def cells_of(feats, trees):
            out = []
            for f in feats:
                flat = np.zeros(b.n_bins(f), dtype=np.int64)  # a tree not using f: one cell
                stacked = np.stack([per_tree[t][1].get(f, flat) for t in trees], axis=1)
                out.append(np.unique(stacked, axis=0, return_inverse=True)[1].ravel().astype(np.int64))
            return out

        def size_of(feats, trees):
            return int(np.prod([c.max() + 1 for c in cells_of(feats, trees)])) if feats else 1

        # Fold a group into one using a superset of its features when the table stays small.
        for feats in sorted(groups, key=len):
            trees = groups[feats]
            hosts = [h for h in groups if h != feats and set(feats) <= set(h)]
            for host in sorted(hosts, key=len):
                if size_of(host, groups[host] + trees) <= self.max_cells:
                    groups[host] = sorted(groups[host] + trees)
                    del groups[feats]
                    break

        for feats, trees in groups.items():
            cells = cells_of(feats, trees)
            total = int(np.prod([c.max() + 1 for c in cells])) if feats else 1
            if total <= self.max_cells or not feats:  # single-leaf trees: one cell, always
                units.append((feats, trees, cells))
                continue
            for t in trees:
                cells = cells_of(feats, [t])
                total = int(np.prod([c.max() + 1 for c in cells])) if feats else 1
                if total <= self.max_cells:
                    units.append((feats, [t], cells))
                else:
                    direct.append(t)
        units.sort(key=lambda u: min(u[1]))  # roughly tree order

        used_start, used_feat, lut_start, luts = [0], [], [], []
        value_start, values, phi_start, phis = [], [], [], []
        n_values = n_phis = n_lut = 0
        for feats, trees, cells in units:
            sizes = [int(c.max()) + 1 for c in cells]
            total = int(np.prod(sizes)) if sizes else 1
            strides = np.cumprod([1, *sizes[::-1]])[:-1][::-1] if sizes else []
            grid = np.indices(sizes).reshape(len(feats), -1) if feats else np.zeros((0, 1), int)
            x_rep = np.full((total, nf), np.nan)
            for i, f in enumerate(feats):
                first_bin = np.full(sizes[i], -1)
                for g in range(len(cells[i]) - 1, -1, -1):
                    first_bin[cells[i][g]] = g
                x_rep[:, f] = reps[f][first_bin[grid[i]]]
            phi = np.zeros((total, nf))
            leaf = np.empty(total)
            kernels.tree_shap_rows(x_rep, np.arange(total), np.array(trees, np.int64), self.float_nodes, phi)
            kernels.predict_bins(np.ascontiguousarray(bin_matrix(x_rep, b).T), np.array(trees), self.binned_nodes, leaf)
            value_start.append(n_values)
            values.append(leaf)
            n_values += total
            phi_start.append(n_phis)
            phis.append(phi[:, list(feats)].ravel())
            n_phis += total * len(feats)
            for i, f in enumerate(feats):
                used_feat.append(f)
                lut_start.append(n_lut)
                luts.append(cells[i] * int(strides[i]))
                n_lut += len(cells[i])
            used_start.append(used_start[-1] + len(feats))
        leafwise, direct = self._leaf_tables(sorted(direct))
        cell_tables = CellTables(
            groups=np.arange(len(units), dtype=np.int64),
            used_start=np.array(used_start, np.int64),
            used_feat=np.array(used_feat, np.int64),
            lut_start=np.array(lut_start, np.int64),
            lut=np.concatenate(luts).astype(np.int64) if luts else np.zeros(0, np.int64),
            value_start=np.array(value_start, np.int64),
            values=np.concatenate(values) if values else np.zeros(0),
            phi_start=np.array(phi_start, np.int64),
            phis=np.concatenate(phis) if phis else np.zeros(0),
        )
        self._tables = Tables(cells=cell_tables, trees_tabulated=int(sum(len(u[1]) for u in units)),
                              leafwise=leafwise, direct=np.array(sorted(direct), np.int64),
                              pairs=self._leaf_pairs(leafwise))  # fmt: skip

    def _leaf_tables(self, trees: list[int]) -> tuple[LeafTables | None, list[int]]:
        """Per-leaf tables for trees with too many cells (each leaf: one row of SHAP values
        per pattern of path features the row follows). Trees with a leaf whose path uses
        more than ``max_path_features`` features stay with the recursion."""
        tr = self.trees
        kernel = compiled().leaf_table
        keep, rest = [], []
        leaf_first, leaf_plen, pnode, pdir, pslot = [0], [0], [], [], []
        leaf_k, leaf_feat_start, leaf_feat, leaf_tab_start, tabs = [], [0], [], [], []
        leaf_bit = []
        n_tab = 0

        def count(child: int) -> float:
            return float(tr.node_count[child] if child >= 0 else tr.leaf_count[-child - 1])

        planned = []
        for t in trees:
            leaves = []
            stack = [(int(tr.node_start[t]), [])]
            while stack:
                node, path = stack.pop()
                if node < 0:
                    leaves.append((node, path))
                    continue
                stack.append((int(tr.right[node]), [*path, (node, False)]))
                stack.append((int(tr.left[node]), [*path, (node, True)]))
            feats_of = [list(dict.fromkeys(int(tr.feature[n]) for n, _ in path)) for _, path in leaves]
            size = sum((1 << len(f)) * len(f) for f in feats_of)
            if max(len(f) for f in feats_of) > self.max_path_features:
                rest.append(t)
            else:
                planned.append((size, t, leaves, feats_of))
        # Within the memory budget, the trees with the smallest tables first.
        budget = self.max_leaf_table_values
        chosen = []
        for size, t, leaves, feats_of in sorted(planned, key=lambda p: p[0]):
            if size <= budget:
                budget -= size
                chosen.append((t, leaves, feats_of))
            else:
                rest.append(t)
        for t, leaves, feats_of in sorted(chosen, key=lambda c: c[0]):
            keep.append(t)
            for (leaf, path), feats in zip(leaves, feats_of, strict=True):
                z = np.ones(len(feats))
                for node, went_left in path:
                    child = int(tr.left[node] if went_left else tr.right[node])
                    z[feats.index(int(tr.feature[node]))] *= count(child) / count(node)
                    pnode.append(node)
                    pdir.append(went_left)
                    pslot.append(feats.index(int(tr.feature[node])))
                leaf_plen.append(len(pnode))
                table = np.empty((1 << len(feats), len(feats)))
                kernel(z, float(tr.leaf_value[-leaf - 1]), table)
                leaf_k.append(len(feats))
                leaf_bit.append(-leaf - 1 - int(tr.leaf_start[t]))
                leaf_feat.extend(feats)
                leaf_feat_start.append(len(leaf_feat))
                leaf_tab_start.append(n_tab)
                tabs.append(table.ravel())
                n_tab += table.size
            leaf_first.append(len(leaf_k))
        if not keep:
            return None, rest
        self._leaf_bit = np.array(leaf_bit, np.int64)
        return LeafTables(
            trees=np.array(keep, np.int64),
            leaf_first=np.array(leaf_first, np.int64),
            leaf_plen=np.array(leaf_plen, np.int64),
            pnode=np.array(pnode, np.int64),
            pdir=np.array(pdir, np.bool_),
            pslot=np.array(pslot, np.int64),
            leaf_k=np.array(leaf_k, np.int64),
            leaf_feat_start=np.array(leaf_feat_start, np.int64),
            leaf_feat=np.array(leaf_feat, np.int64),
            leaf_tab_start=np.array(leaf_tab_start, np.int64),
            leaf_tab=np.concatenate(tabs),
            max_nodes=int(max(tr.node_start[t + 1] - tr.node_start[t] for t in keep)),
        ), rest

    def _leaf_pairs(self, lw: LeafTables | None) -> LeafPairs | None:
        """Where the leaf tables' trees find their decisions in the leaf masks (``None`` when
        a tree of the leaf tables has more than 64 leaves: ``leaf_eval`` then decides)."""
        if lw is None:
            return None
        masks, _ = self.leaf_masks
        index = {int(t): i for i, t in enumerate(masks.trees)}
        if any(int(t) not in index for t in lw.trees):
            return None
        mask_tree = np.array([index[int(t)] for t in lw.trees], np.int64)
        slot_pair = np.empty(len(lw.leaf_feat), np.int64)
        for j, mt in enumerate(mask_tree):
            a, b = masks.pair_start[mt], masks.pair_start[mt + 1]
            where = {int(f): a + i for i, f in enumerate(masks.pair_feat[a:b])}
            s0, s1 = lw.leaf_feat_start[lw.leaf_first[j]], lw.leaf_feat_start[lw.leaf_first[j + 1]]
            slot_pair[s0:s1] = [where[int(f)] for f in lw.leaf_feat[s0:s1]]
        return LeafPairs(mask_tree=mask_tree, leaf_bit=self._leaf_bit, slot_pair=slot_pair)

    def table_summary(self) -> dict:
        if self._tables is None:
            self._build_tables()
        tb = self._tables
        return {
            "trees": self.trees.n_trees,
            "tabulated": tb.trees_tabulated,
            "tables": len(tb.cells.groups),
            "leafwise": 0 if tb.leafwise is None else len(tb.leafwise.trees),
            "direct": len(tb.direct),
            "table_values": len(tb.cells.phis),
        }

    def contributions(self, x: np.ndarray, threads: int | None = None) -> np.ndarray:
        """SHAP values (rows, features + 1), the last column the expected value; equal to
        LightGBM's ``pred_contrib`` and ``shap.TreeExplainer``."""
        return self._evaluate(x, threads, want_phi=True)[1]

    def margin_and_contributions(self, x: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Both in one pass over the rows."""
        return self._evaluate(x, threads, want_phi=True)

    def _evaluate(self, x, threads, want_phi, xb=None):
        if self._tables is None:
            self._build_tables()
        k = compiled()
        tb = self._tables
        n, nf = x.shape
        xbt = self.binned(x, threads) if xb is None else xb
        margin = np.zeros(n)
        # SHAP values are stored feature-major and returned as a transposed view.
        phit_all = np.zeros((nf + 1, n)) if want_phi else np.zeros((1, 1))
        if want_phi:
            phit_all[nf] = self.expected_value
        nodes, float_nodes = self.binned_nodes, self.float_nodes
        cells, lw, direct, pairs = tb.cells, tb.leafwise, tb.direct, tb.pairs
        masks = self.leaf_masks[0] if pairs is not None else None
        widest = int(np.diff(masks.pair_start).max()) if masks is not None and len(masks.trees) else 0
        lw_masks = _subset(masks, pairs.mask_tree) if pairs is not None else None

        def run(s: int) -> None:
            e = min(s + BLOCK, n)
            cell = np.empty(e - s, dtype=np.int64)
            phit = phit_all[:, s:e] if want_phi else phit_all
            k.cells_eval(xbt, s, e, cells, want_phi, margin, phit, cell)
            if lw is not None:
                if lw_masks is not None:
                    k.mask_predict(xbt, s, e, lw_masks, self.trees.leaf_value, margin, np.empty(e - s, dtype=np.uint64))
                else:
                    part = np.empty(e - s)
                    k.predict_bins(xbt[:, s:e], lw.trees, nodes, part)
                    margin[s:e] += part
                if want_phi and pairs is not None:
                    m = np.empty((widest, e - s), dtype=np.uint64)
                    k.leaf_eval_masks(xbt, s, e, masks, lw, pairs, phit, m, np.empty(e - s, dtype=np.int64))
                elif want_phi:
                    goes = np.empty(lw.max_nodes, dtype=np.bool_)
                    k.leaf_eval(xbt, s, e, nodes, lw, phit, goes)
            if direct.size:
                part = np.empty(e - s)
                k.predict_bins(xbt[:, s:e], direct, nodes, part)
                margin[s:e] += part
                if want_phi:
                    rows = np.arange(s, e)
                    acc = np.zeros((e - s, nf))
                    k.tree_shap_rows(x, rows, direct, float_nodes, acc)
                    phit[:nf] += acc.T

        self._blocks(n, run, threads)
        return margin, (phit_all.T if want_phi else None)


def _subset(masks: LeafMasks, which: np.ndarray) -> LeafMasks:
    """The leaf masks of some of the trees (``which``: their indices in ``masks``), in that order."""
    lo, hi = masks.pair_start[which], masks.pair_start[which + 1]
    pairs = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)]) if len(which) else np.zeros(0, int)
    return LeafMasks(
        trees=masks.trees[which],
        pair_start=np.r_[0, np.cumsum(hi - lo)].astype(np.int64),
        pair_feat=masks.pair_feat[pairs],
        tab_start=masks.tab_start[pairs],
        tab=masks.tab,
        leaf_base=masks.leaf_base[which],
    )
