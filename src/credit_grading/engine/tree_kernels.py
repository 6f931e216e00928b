"""Compiled kernels for tree ensembles (numba; compiled on first use, cached on disk).

- ``predict_bins``: raw margins from binned rows (small-integer compares at every node);
- ``tree_shap``: exact path-dependent TreeSHAP of one tree for one float row — the
  algorithm of Lundberg et al. (the one LightGBM's ``pred_contrib`` and
  ``shap.TreeExplainer`` run), node weights being training row counts;
- ``shap_tables``: SHAP values of whole cells of a tree at once, looked up per row.
"""

from __future__ import annotations

import math

import numpy as np

_K: dict[str, object] = {}


def build() -> dict[str, object]:
    if not _K:
        from credit_grading.engine import _tree_kernels_nb as nb

        _K.update({name: getattr(nb, name) for name in KERNELS})
    return _K


KERNELS = ("leaf_table", "leaf_eval", "bin_columns", "predict_bins", "tree_shap_rows", "cells_eval")


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


__all__ = ["build", "expected_values", "math"]
