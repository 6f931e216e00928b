"""Binning and points tables as people read them: every bin labelled by its range or its levels.

The tables written into a bundle (``points.csv``, ``binning_tables.csv``) and shown in the
validation report take their labels from :func:`credit_grading.explain.readable.bin_label`,
never from the text of an array object.
"""

from __future__ import annotations

import pandas as pd

from credit_grading.explain.readable import bin_label


def relabel(frame: pd.DataFrame, binnings: dict, column: str) -> pd.DataFrame:
    """``frame`` (one row per feature and bin) with ``column`` replaced by the readable bin label."""
    out = frame.copy()
    if len(out):
        out[column] = [bin_label(binnings[f], int(i)) if f in binnings else lab
                       for f, i, lab in zip(out["feature"], out["bin"], out[column], strict=True)]  # fmt: skip
    return out


def binning_frame(spec, names=None) -> pd.DataFrame:
    """One row per bin of every feature of a binning spec (see :func:`binning.fit.binning_table`)."""
    from credit_grading.binning.fit import binning_table

    return relabel(binning_table(spec, names), {n: spec[n] for n in (names or spec.names)}, "label")


def points_frame(card_spec) -> pd.DataFrame:
    """The points table of a fitted scorecard spec with readable bin labels."""
    return relabel(card_spec.points_table(), {f.name: f.binning for f in card_spec.features}, "range_or_levels")
