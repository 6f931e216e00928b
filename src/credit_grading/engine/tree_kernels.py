"""Compiled kernels for tree ensembles (numba; compiled on first use, cached on disk), and
the named structures of arrays they are given.

- ``predict_bins``: raw margins from binned rows (small-integer compares at every node);
- ``tree_shap_rows``: exact path-dependent TreeSHAP of given trees for float rows — the
  algorithm of Lundberg et al. (the one LightGBM's ``pred_contrib`` and
  ``shap.TreeExplainer`` run), node weights being training row counts;
- ``cells_eval`` and ``leaf_eval``: SHAP values looked up per row in cell and leaf tables
  (built with ``tree_shap_rows`` and ``leaf_table``); ``bin_columns`` bins the rows.

The kernels take their arrays grouped in the named tuples below (numba passes a named tuple
of arrays as cheaply as the arrays themselves, and reads its fields by name), so a caller
cannot pass them in the wrong order. :func:`compiled` gives the kernels' module, imported
(and numba with it) on first use only.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np


@functools.cache
def compiled():
    """The kernels' module, ``_tree_kernels_nb`` (importing it imports numba: first use only)."""
    from credit_grading.engine import _tree_kernels_nb

    return _tree_kernels_nb


class BinnedNodes(NamedTuple):
    """Every tree's nodes, each split a compare on bins (``predict_bins``, ``leaf_eval``).

    Children are global node indices, or ``-(global leaf) - 1`` for leaves.
    """

    node_start: np.ndarray  # (trees + 1,) first node of each tree
    leaf_start: np.ndarray  # (trees + 1,) first leaf of each tree
    feature: np.ndarray  # (nodes,) split feature
    kind: np.ndarray  # (nodes,) int8: 0 numerical, 1 categorical, 2 NaN is missing, 3 zero is missing
    node_bin: np.ndarray  # (nodes,) numerical: left when bin <= node_bin
    left: np.ndarray  # (nodes,)
    right: np.ndarray  # (nodes,)
    nan_bin: np.ndarray  # (nodes,) the bin of NaN for the node's feature
    zero_bin: np.ndarray  # (nodes,) the bin of 0.0
    zero_lo: np.ndarray  # (nodes,) LightGBM's zero range is bins zero_lo..zero_hi
    zero_hi: np.ndarray  # (nodes,)
    default_left: np.ndarray  # (nodes,) bool: where a missing value goes
    cat_start: np.ndarray  # (nodes,) first bitset word of a categorical split
    cat_words: np.ndarray  # (nodes,) its number of words
    bits: np.ndarray  # (words,) uint32 category bitsets
    n_cats: np.ndarray  # (features,) categories listed; the "rest" bin is n_cats
    leaf_value: np.ndarray  # (leaves,)


class FloatNodes(NamedTuple):
    """Every tree's nodes as LightGBM writes them, for TreeSHAP on float rows (``tree_shap_rows``)."""

    node_start: np.ndarray  # (trees + 1,)
    leaf_start: np.ndarray  # (trees + 1,)
    max_depth: np.ndarray  # (trees,)
    feature: np.ndarray  # (nodes,)
    threshold: np.ndarray  # (nodes,)
    decision: np.ndarray  # (nodes,) bit 0 categorical, bit 1 default left, bits 2-3 missing type
    left: np.ndarray  # (nodes,)
    right: np.ndarray  # (nodes,)
    cat_start: np.ndarray  # (nodes,)
    cat_words: np.ndarray  # (nodes,)
    bits: np.ndarray  # (words,)
    node_count: np.ndarray  # (nodes,) training rows through the node
    leaf_value: np.ndarray  # (leaves,)
    leaf_count: np.ndarray  # (leaves,) training rows in the leaf


class BinEdges(NamedTuple):
    """How ``bin_columns`` bins each feature."""

    categorical: np.ndarray  # (features,) bool
    n_cats: np.ndarray  # (features,) int64
    start: np.ndarray  # (features + 1,) int64: feature f's breakpoints are breakpoints[start[f]:start[f + 1]]
    breakpoints: np.ndarray  # float64, numerical features' sorted breakpoints end to end


class CellTables(NamedTuple):
    """Groups of trees explained by cell tables (``cells_eval``): group j uses the features
    ``used_feat[used_start[j]:used_start[j + 1]]``; a row's cell is the sum, over them, of
    ``lut[lut_start[u] + bin]``; the cell's output is ``values[value_start[j] + cell]`` and its
    SHAP values ``phis[phi_start[j] + cell * k :][:k]`` (k features)."""

    groups: np.ndarray  # (groups,) int64: 0..groups-1
    used_start: np.ndarray
    used_feat: np.ndarray
    lut_start: np.ndarray
    lut: np.ndarray
    value_start: np.ndarray
    values: np.ndarray
    phi_start: np.ndarray
    phis: np.ndarray


class LeafTables(NamedTuple):
    """Trees explained leaf by leaf (``leaf_eval``): leaves ``leaf_first[j]..leaf_first[j + 1]``
    of tree ``trees[j]``; leaf i's path is the splits ``pnode[leaf_plen[i]:leaf_plen[i + 1]]``
    (direction ``pdir``, path feature ``pslot``); its ``leaf_k[i]`` features are
    ``leaf_feat[leaf_feat_start[i]:]`` and its table (one row of SHAP values per pattern of
    followed path features) starts at ``leaf_tab[leaf_tab_start[i]]``."""

    trees: np.ndarray
    leaf_first: np.ndarray
    leaf_plen: np.ndarray
    pnode: np.ndarray
    pdir: np.ndarray
    pslot: np.ndarray
    leaf_k: np.ndarray
    leaf_feat_start: np.ndarray
    leaf_feat: np.ndarray
    leaf_tab_start: np.ndarray
    leaf_tab: np.ndarray
    max_nodes: int  # nodes of the largest tree: the size of leaf_eval's scratch array


class LeafMasks(NamedTuple):
    """Trees of at most 64 leaves scored feature by feature (``mask_predict``): tree
    ``trees[j]`` splits on the features ``pair_feat[pair_start[j]:pair_start[j + 1]]``; for
    pair p, ``tab[tab_start[p] + bin]`` has bit l set when every split of the tree on that
    feature lets a row of that bin reach the tree's leaf l (``leaf_value[leaf_base[j] + l]``)."""

    trees: np.ndarray  # (trees,) int64
    pair_start: np.ndarray  # (trees + 1,) int64
    pair_feat: np.ndarray  # (pairs,) int64
    tab_start: np.ndarray  # (pairs,) int64
    tab: np.ndarray  # uint64
    leaf_base: np.ndarray  # (trees,) int64: the tree's first global leaf


class LeafPairs(NamedTuple):
    """How ``leaf_eval_masks`` finds, in the ``LeafMasks``, the decisions of the trees of the
    ``LeafTables``: tree j of the leaf tables is tree ``mask_tree[j]`` of the masks; leaf i is
    bit ``leaf_bit[i]`` of the masks; the path feature in slot s (``leaf_feat[s]``) has its
    masks at pair ``slot_pair[s]``."""

    mask_tree: np.ndarray  # (leaf-table trees,) int64
    leaf_bit: np.ndarray  # (leaves,) int64
    slot_pair: np.ndarray  # (slots,) int64


def expected_values(trees) -> np.ndarray:
    """Each tree's expected output: leaf values weighted by their training counts."""
    out = np.empty(trees.n_trees)
    for t in range(trees.n_trees):
        a, b = trees.leaf_start[t], trees.leaf_start[t + 1]
        vals, cnt = trees.leaf_value[a:b], trees.leaf_count[a:b]
        if b - a == 1:
            out[t] = vals[0]
        else:
            total = trees.node_count[trees.node_start[t]]
            acc = 0.0
            for i in range(b - a):
                acc += (cnt[i] / total) * vals[i]
            out[t] = acc
    return out


__all__ = [
    "BinEdges",
    "BinnedNodes",
    "CellTables",
    "FloatNodes",
    "LeafMasks",
    "LeafPairs",
    "LeafTables",
    "compiled",
    "expected_values",
]
