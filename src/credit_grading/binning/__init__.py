"""Optimal binning (optbinning) from the catalogue, as plain data, and WoE transforms."""

from credit_grading.binning.fit import binning_table, feature_slots, fit_binning, training_frame, woe_matrix
from credit_grading.specs.binning import BinningSpec, BinStats, FeatureBinning

__all__ = [
    "BinStats",
    "BinningSpec",
    "FeatureBinning",
    "binning_table",
    "feature_slots",
    "fit_binning",
    "training_frame",
    "woe_matrix",
]
