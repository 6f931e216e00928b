"""LightGBM's text model as flat arrays, and every feature binned once against it.

Parsing: each tree's nodes (split feature, threshold, decision type, children), leaves
(value, count) and categorical bitsets are concatenated into flat numpy arrays with
per-tree offsets. Children are global node indices, or ``-(global leaf) - 1`` for leaves.

Binning (the idea that makes scoring and TreeSHAP cheap): for each feature, the sorted
thresholds of every numerical split on it across all trees — plus LightGBM's zero range
``(-kZero, kZero]`` where a split treats zero as missing — are its breakpoints. A value's
bin is the number of breakpoints below it (NaN has a bin of its own), so ``x <= t`` is
exactly ``bin <= index(t)`` at every node: each split becomes a small-integer compare.
For a categorical feature the bin is the category (``int(x)``, truncated as LightGBM
does) when it appears in some split's bitset, else one "rest" bin (negative, NaN and
unlisted categories all go right at every node).

Decision rules follow LightGBM's ``tree.h``: numerical — NaN counts as 0.0 unless the
split's missing type is NaN; a value that is missing for the split (NaN for type NaN, the
zero range for type Zero) takes the default direction; otherwise left when ``x <= t``.
Categorical — NaN or negative goes right, else left when the category's bit is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

K_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold, a float literal widened
MISSING_ZERO, MISSING_NAN = 1, 2


@dataclass
class TreeArrays:
    n_features: int
    n_trees: int
    node_start: np.ndarray  # (trees + 1,) int64
    leaf_start: np.ndarray  # (trees + 1,) int64
    feature: np.ndarray  # (nodes,) int32
    threshold: np.ndarray  # (nodes,) float64 (categorical: index into the tree's bitsets)
    decision: np.ndarray  # (nodes,) int8: bit 0 categorical, bit 1 default left, bits 2-3 missing
    left: np.ndarray  # (nodes,) int32
    right: np.ndarray  # (nodes,) int32
    node_count: np.ndarray  # (nodes,) float64, rows through the node in training
    cat_start: np.ndarray  # (nodes,) int32, bitset words of a categorical split
    cat_words: np.ndarray  # (nodes,) int32
    bits: np.ndarray  # (words,) uint32
    leaf_value: np.ndarray  # (leaves,) float64
    leaf_count: np.ndarray  # (leaves,) float64
    max_depth: np.ndarray  # (trees,) int32


def _floats(line: str) -> np.ndarray:
    return np.array(line.split(), dtype=np.float64) if line else np.zeros(0)


def _ints(line: str) -> np.ndarray:
    return np.array(line.split(), dtype=np.int64) if line else np.zeros(0, dtype=np.int64)


def parse_model(text: str) -> TreeArrays:
    """Parse LightGBM's text model (one class, constant leaves)."""
    header, _, rest = text.partition("\nTree=")
    fields = dict(line.split("=", 1) for line in header.splitlines() if "=" in line)
    if int(fields.get("num_class", "1")) != 1:
        raise ValueError("only single-output (binary or regression) LightGBM models are supported")
    n_features = int(fields["max_feature_idx"]) + 1
    blocks = ("Tree=" + rest).split("\nTree=") if rest else []
    feats, thrs, decs, lefts, rights, counts, cstart, cwords, bits = [], [], [], [], [], [], [], [], []
    lvals, lcounts, node_start, leaf_start, depths = [], [], [0], [0], []
    n_bits = 0
    for block in blocks:
        body = block.split("\n\n", 1)[0].split("end of trees", 1)[0]
        kv = dict(line.split("=", 1) for line in body.splitlines() if "=" in line)
        if kv.get("is_linear", "0") != "0":
            raise ValueError("linear-tree LightGBM models are not supported")
        n_leaves = int(kv["num_leaves"])
        n_nodes = n_leaves - 1
        base_node, base_leaf = node_start[-1], leaf_start[-1]
        lvals.append(_floats(kv["leaf_value"]))
        lcounts.append(_floats(kv.get("leaf_count", "")) if kv.get("leaf_count") else np.ones(n_leaves))
        if n_nodes:
            left, right = _ints(kv["left_child"]), _ints(kv["right_child"])
            dec = _ints(kv["decision_type"]).astype(np.int8)
            thr = _floats(kv["threshold"])
            feats.append(_ints(kv["split_feature"]).astype(np.int32))
            thrs.append(thr)
            decs.append(dec)
            lefts.append(np.where(left >= 0, left + base_node, -(~left + base_leaf) - 1).astype(np.int32))
            rights.append(np.where(right >= 0, right + base_node, -(~right + base_leaf) - 1).astype(np.int32))
            counts.append(_floats(kv.get("internal_count", "")) if kv.get("internal_count") else np.ones(n_nodes))
            cs, cw = np.zeros(n_nodes, np.int32), np.zeros(n_nodes, np.int32)
            if int(kv.get("num_cat", "0")) > 0:
                bounds = _ints(kv["cat_boundaries"])
                words = _ints(kv["cat_threshold"]).astype(np.uint32)
                for node in np.flatnonzero(dec & 1):
                    idx = int(thr[node])
                    cs[node] = n_bits + bounds[idx]
                    cw[node] = bounds[idx + 1] - bounds[idx]
                bits.append(words)
                n_bits += len(words)
            cstart.append(cs)
            cwords.append(cw)
            # depth of the tree (for TreeSHAP's path buffers)
            depth = np.zeros(n_nodes, np.int64)
            best = 0
            for node in range(n_nodes):
                for child in (left[node], right[node]):
                    if child >= 0:
                        depth[child] = depth[node] + 1
                    else:
                        best = max(best, depth[node] + 1)
            depths.append(best)
        else:
            depths.append(0)
        node_start.append(base_node + n_nodes)
        leaf_start.append(base_leaf + n_leaves)

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return TreeArrays(
        n_features=n_features,
        n_trees=len(blocks),
        node_start=np.array(node_start, np.int64),
        leaf_start=np.array(leaf_start, np.int64),
        feature=cat(feats, np.int32),
        threshold=cat(thrs, np.float64),
        decision=cat(decs, np.int8),
        left=cat(lefts, np.int32),
        right=cat(rights, np.int32),
        node_count=cat(counts, np.float64),
        cat_start=cat(cstart, np.int32),
        cat_words=cat(cwords, np.int32),
        bits=cat(bits, np.uint32),
        leaf_value=cat(lvals, np.float64),
        leaf_count=cat(lcounts, np.float64),
        max_depth=np.array(depths, np.int32),
    )


@dataclass
class FeatureBins:
    """How each feature is binned against the model, and every node in bin space."""

    breakpoints: list[np.ndarray]  # numeric features: sorted breakpoints
    categorical: np.ndarray  # (features,) bool
    n_cats: np.ndarray  # (features,) categorical: categories listed; their "rest" bin is n_cats
    nan_bin: np.ndarray  # (features,) numeric: len(breakpoints) + 1
    zero_bin: np.ndarray  # (features,) numeric: the bin of 0.0
    zero_lo: np.ndarray  # (features,) numeric: bins of LightGBM's zero range are zero_lo..zero_hi
    zero_hi: np.ndarray
    node_bin: np.ndarray  # (nodes,) numeric split: index of its threshold among the breakpoints

    def n_bins(self, f: int) -> int:
        return int(self.n_cats[f]) + 1 if self.categorical[f] else int(self.nan_bin[f]) + 1


def feature_bins(trees: TreeArrays) -> FeatureBins:
    nf = trees.n_features
    is_cat = np.zeros(nf, dtype=bool)
    n_cats = np.zeros(nf, dtype=np.int64)
    points: list[set] = [set() for _ in range(nf)]
    for node in range(len(trees.feature)):
        f = int(trees.feature[node])
        d = int(trees.decision[node])
        if d & 1:
            is_cat[f] = True
            words = trees.bits[trees.cat_start[node] : trees.cat_start[node] + trees.cat_words[node]]
            set_bits = np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little"))
            if set_bits.size:
                n_cats[f] = max(n_cats[f], int(set_bits.max()) + 1)
        else:
            points[f].add(float(trees.threshold[node]))
            if (d >> 2) & 3 == MISSING_ZERO:
                points[f].update((-K_ZERO, K_ZERO))
    breakpoints = [np.array(sorted(p), dtype=np.float64) for p in points]
    nan_bin = np.array([len(b) + 1 for b in breakpoints], dtype=np.int64)
    zero_bin = np.array([np.searchsorted(b, 0.0, side="left") for b in breakpoints], dtype=np.int64)
    # (-kZero, kZero] in bins; only used at splits that treat zero as missing, whose features
    # have both ends among their breakpoints.
    zero_lo = np.array([np.searchsorted(b, -K_ZERO, side="right") for b in breakpoints], dtype=np.int64)
    zero_hi = np.array([np.searchsorted(b, K_ZERO, side="left") for b in breakpoints], dtype=np.int64)
    node_bin = np.zeros(len(trees.feature), dtype=np.int32)
    for node in range(len(trees.feature)):
        if not trees.decision[node] & 1:
            b = breakpoints[trees.feature[node]]
            node_bin[node] = int(np.searchsorted(b, trees.threshold[node], side="left"))
    return FeatureBins(breakpoints, is_cat, n_cats, nan_bin, zero_bin, zero_lo, zero_hi, node_bin)


def bin_matrix(x: np.ndarray, bins: FeatureBins) -> np.ndarray:
    """(rows, features) uint16 bins, row-major (one row's bins share a cache line)."""
    n, nf = x.shape
    out = np.empty((n, nf), dtype=np.uint16)
    for f in range(nf):
        col = x[:, f]
        if bins.categorical[f]:
            rest = int(bins.n_cats[f])
            with np.errstate(invalid="ignore"):
                c = np.trunc(col)
                ok = (c >= 0) & (c < rest)  # False for NaN
            out[:, f] = np.where(ok, np.nan_to_num(c), rest).astype(np.uint16)
        else:
            b = np.searchsorted(bins.breakpoints[f], col, side="left")
            b[np.isnan(col)] = bins.nan_bin[f]
            out[:, f] = b
    return out


def bin_representatives(bins: FeatureBins, f: int) -> np.ndarray:
    """A value inside each bin of feature f (used to explain a whole bin at once)."""
    if bins.categorical[f]:
        return np.r_[np.arange(bins.n_cats[f], dtype=np.float64), -1.0]
    b = bins.breakpoints[f]
    top = np.nextafter(b[-1], np.inf) if b.size else 0.0
    return np.r_[b, top, np.nan]
