"""Fitting the binning with optbinning's ``BinningProcess``, configured from the catalogue.

Each numeric feature's monotonic trend follows its catalogue risk direction (risk
increasing → ascending event rate, decreasing → descending, none → ``auto``); flags may
use a smaller minimum bin size (their adverse value is rare and the most telling);
categorical features merge levels rarer than ``cat_cutoff`` into one group. The result is
a :class:`~credit_grading.binning.spec.BinningSpec`; optbinning objects are not kept.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from credit_grading.catalogue import CatalogueItem, Direction, ItemType
from credit_grading.columns import Columns, Tabular
from credit_grading.config import BinningConfig
from credit_grading.engine.slots import categorical_slots, numeric_slots
from credit_grading.exceptions import DataError
from credit_grading.progress import task
from credit_grading.specs.binning import BinningSpec, BinStats, FeatureBinning

_TREND = {Direction.INCREASING: "ascending", Direction.DECREASING: "descending", Direction.NONE: "auto"}


def _fit_params(item: CatalogueItem, cfg: BinningConfig) -> dict:
    over = cfg.features.get(item.id)
    is_cat = item.type is ItemType.CATEGORICAL
    size = cfg.flag_min_bin_size if item.type is ItemType.FLAG else cfg.min_bin_size
    params: dict = {
        "min_bin_size": size,
        "min_prebin_size": min(size, 0.05),
        "max_n_bins": cfg.max_n_bins,
        "max_n_prebins": cfg.max_n_prebins,
        "solver": cfg.solver,
    }
    if is_cat:
        if cfg.cat_cutoff is not None:
            params["cat_cutoff"] = cfg.cat_cutoff
    else:
        params["monotonic_trend"] = _TREND[item.direction]
    specials = tuple(item.special_codes)
    if over is not None:
        if over.monotonic_trend is not None:
            params["monotonic_trend"] = None if over.monotonic_trend == "none" else over.monotonic_trend
        if over.min_bin_size is not None:
            params["min_bin_size"] = over.min_bin_size
            params["min_prebin_size"] = min(over.min_bin_size, 0.05)
        if over.max_n_bins is not None:
            params["max_n_bins"] = over.max_n_bins
        if over.cat_cutoff is not None and is_cat:
            params["cat_cutoff"] = over.cat_cutoff
        if over.special_codes is not None:
            specials = tuple(over.special_codes)
    if specials:
        params["special_codes"] = list(specials)
    return params


def training_frame(data: Tabular, features: Sequence[CatalogueItem]) -> pd.DataFrame:
    """The features as optbinning expects them: float64 columns and object-dtype levels."""
    cols = Columns(data)
    cols.require([f.id for f in features])
    out = {}
    for f in features:
        if f.type is ItemType.CATEGORICAL:
            codes, levels = cols.categorical(f.id)
            lv = np.array([*levels, np.nan], dtype=object)
            out[f.id] = lv[codes]  # code -1 picks the trailing NaN
        else:
            out[f.id] = cols.numeric(f.id)
    return pd.DataFrame(out)


def _woe(n_event: np.ndarray, n_nonevent: np.ndarray) -> np.ndarray:
    """WoE as optbinning computes it for transforms (0 where a bin is empty or pure)."""
    n_records = n_event + n_nonevent
    t_event, t_nonevent = n_event.sum(), n_nonevent.sum()
    mask = (n_event > 0) & (n_nonevent > 0)
    woe = np.zeros(len(n_records))
    er = n_event[mask] / n_records[mask]
    woe[mask] = np.log((1.0 / er - 1) * t_event / t_nonevent)
    return woe


def _feature_binning(name: str, optb, item: CatalogueItem, params: dict) -> FeatureBinning:
    table = optb.binning_table.build(show_digits=4, add_totals=False)
    n_event = np.asarray(optb._n_event, dtype=np.float64)
    n_nonevent = np.asarray(optb._n_nonevent, dtype=np.float64)
    if len(n_event) != len(table):
        raise DataError(f"unexpected binning table for {name!r}: {len(table)} rows, {len(n_event)} counts")
    woe = _woe(n_event, n_nonevent)
    n_rec = n_event + n_nonevent
    t_event, t_nonevent = n_event.sum(), n_nonevent.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        iv = np.where(
            (n_event > 0) & (n_nonevent > 0),
            (n_nonevent / t_nonevent - n_event / t_event) * woe,
            0.0,
        )
        rate = np.where(n_rec > 0, n_event / np.where(n_rec > 0, n_rec, 1), 0.0)
    n_total = len(table)
    kinds = ["regular"] * (n_total - 2) + ["special", "missing"]
    bins = []
    for i in range(n_total):
        raw = table["Bin"].iloc[i]
        listed = isinstance(raw, list | tuple | np.ndarray | pd.api.extensions.ExtensionArray)  # levels of a group
        label = ", ".join(str(v) for v in raw) if listed else str(raw)
        if kinds[i] != "regular" and not listed:
            label = kinds[i].capitalize()
        bins.append(
            BinStats(
                kind=kinds[i],
                label=label,
                count=int(n_rec[i]),
                count_event=int(n_event[i]),
                event_rate=float(rate[i]),
                woe=float(woe[i]),
                iv=float(iv[i]),
            )
        )
    if item.type is ItemType.CATEGORICAL:
        groups = tuple(tuple(str(v) for v in table["Bin"].iloc[i]) for i in range(n_total - 2))
        return FeatureBinning(name, "categorical", tuple(bins), groups=groups,
                              monotonic_trend=params.get("monotonic_trend"), status=str(optb.status))  # fmt: skip
    return FeatureBinning(
        name,
        "numerical",
        tuple(bins),
        splits=tuple(float(s) for s in optb.splits),
        special_codes=tuple(float(s) for s in params.get("special_codes", ())),
        monotonic_trend=params.get("monotonic_trend"),
        status=str(optb.status),
    )


def fit_binning(
    data: Tabular, y: np.ndarray, features: Sequence[CatalogueItem], config: BinningConfig | None = None
) -> BinningSpec:
    """Fit the optimal binning of ``features`` against the binary target ``y``.

    Examples
    --------
    >>> from credit_grading.synth import generate_registry
    >>> from credit_grading.catalogue import load_catalogue
    >>> reg = generate_registry(5000, seed=1).table.to_pandas()
    >>> item = load_catalogue().item("tax_arrears_amount")
    >>> spec = fit_binning(reg, reg["bad_12m"].to_numpy(), [item])
    >>> spec["tax_arrears_amount"].iv > 0.1
    True
    """
    from optbinning import BinningProcess

    cfg = config or BinningConfig()
    y = np.asarray(y)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise DataError("the target must be a one-dimensional array of 0 and 1")
    if y.min() == y.max():
        raise DataError("the target has a single class; binning needs both 0 and 1")
    frame = training_frame(data, features)
    if len(frame) != len(y):
        raise DataError(f"the data has {len(frame)} rows but the target has {len(y)}")
    params = {f.id: _fit_params(f, cfg) for f in features}
    logging.getLogger("optbinning").setLevel(logging.WARNING)
    y_int = y.astype(np.int64)
    out = []
    with task("binning", total=len(features)) as bar, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in features:  # one process per feature (the same fit) so that progress can be shown
            process = BinningProcess(
                variable_names=[f.id],
                categorical_variables=[f.id] if f.type is ItemType.CATEGORICAL else [],
                max_n_prebins=cfg.max_n_prebins,
                max_n_bins=cfg.max_n_bins,
                min_bin_size=cfg.min_bin_size,
                binning_fit_params={f.id: params[f.id]},
            )
            process.fit(frame[[f.id]], y_int)
            out.append(_feature_binning(f.id, process.get_binned_variable(f.id), f, params[f.id]))
            bar.advance(item=f.id)
    return BinningSpec(
        features=tuple(out),
        missing_woe=cfg.missing_woe,
        unseen_level=str(cfg.unseen_level),
        meta={"rows": len(y), "events": int(y.sum())},
    )


def feature_slots(spec_feature: FeatureBinning, cols: Columns) -> np.ndarray:
    """Slots (see :mod:`credit_grading.binning.index`) of every row for one feature."""
    if spec_feature.kind == "categorical":
        codes, levels = cols.categorical(spec_feature.name)
        return categorical_slots(codes, levels, spec_feature.level_slots, spec_feature.n_regular)
    x = cols.numeric(spec_feature.name)
    specials = np.asarray(spec_feature.special_codes, dtype=np.float64)
    return numeric_slots(x, np.asarray(spec_feature.splits, dtype=np.float64), specials)


def woe_matrix(spec: BinningSpec, data: Tabular, names: Sequence[str] | None = None) -> np.ndarray:
    """WoE of every row for the named features (default: all), shape (rows, features).

    Special and missing values take their bin's WoE (``missing_woe="empirical"``) or 0;
    a level never seen in training takes 0, the neutral WoE.
    """
    cols = Columns(data)
    names = list(names or spec.names)
    cols.require(names)
    out = np.empty((cols.n_rows, len(names)), dtype=np.float64, order="F")
    for j, name in enumerate(names):
        f = spec[name]
        lut = f.slot_values(f.woe_by_bin(spec.missing_woe), unseen=0.0)
        out[:, j] = lut[feature_slots(f, cols)]
    return out


def binning_table(spec: BinningSpec, names: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per bin: feature, bin kind and label, count, events, event rate, WoE, IV."""
    rows = []
    for name in names or spec.names:
        f = spec[name]
        for i, b in enumerate(f.bins):
            rows.append(
                {"feature": name, "bin": i, "kind": b.kind, "label": b.label, "count": b.count,
                 "count_event": b.count_event, "event_rate": b.event_rate, "woe": b.woe, "iv": b.iv}
            )  # fmt: skip
    return pd.DataFrame(rows)
