"""Fitting the binning with optbinning (each feature as its ``BinningProcess`` fits it), configured from the catalogue.

Each numeric feature's monotonic trend follows its catalogue risk direction (risk
increasing → ascending event rate, decreasing → descending, none → ``auto``); flags may
use a smaller minimum bin size (their adverse value is rare and the most telling);
categorical features merge levels rarer than ``cat_cutoff`` into one group. The result is
a :class:`~credit_grading.binning.spec.BinningSpec`; optbinning objects are not kept.

An analyst's own bins replace the optimiser's choice: ``binning.features.<id>.splits`` (cut
points of a numeric feature, bins ``[lower, upper)``) or ``groups`` (level groups of a
categorical feature; each level not listed is a bin of its own) are passed to optbinning as
fixed user splits (``user_splits`` with ``user_splits_fixed``), so optbinning still computes
the table (counts, WoE, IV) but keeps every cut point. Such a feature's spec is marked
``user_set``; a monotonic trend is then enforced only if the analyst set one as well.
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
from credit_grading.exceptions import ConfigError, DataError
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
    if over is not None and (over.splits is not None or over.groups is not None):
        _user_bins(item, over, params)
    return params


def _user_bins(item: CatalogueItem, over, params: dict) -> None:
    """Fixed user splits in ``params`` from the analyst's ``splits`` or ``groups`` (the groups are
    completed with the observed levels by :func:`_complete_groups` once the data is known)."""
    where = f"binning.features.{item.id}"
    is_cat = item.type is ItemType.CATEGORICAL
    if over.splits is not None and over.groups is not None:
        raise ConfigError(f"{where} sets both splits and groups; a feature takes cut points or level groups")
    if over.splits is not None and is_cat:
        raise ConfigError(f"{where}.splits: {item.id!r} is categorical; give its level groups (groups) instead")
    if over.groups is not None and not is_cat:
        raise ConfigError(f"{where}.groups: {item.id!r} is {item.type.value}; give its cut points (splits) instead")
    if is_cat:
        known = set(item.level_codes)
        unknown = [lv for g in over.groups for lv in g if lv not in known]
        if unknown:
            raise ConfigError(
                f"{where}.groups names level(s) {unknown} that the catalogue does not list for {item.id!r}; "
                f"its levels are {list(item.level_codes)}"
            )
        params["user_splits"] = [list(g) for g in over.groups]
        params.pop("cat_cutoff", None)  # the analyst's groups are the grouping
    else:
        params["user_splits"] = [float(s) for s in over.splits]
    params["user_splits_fixed"] = [True] * len(params["user_splits"])
    # The analyst's bins are kept as given: no size or count limit merges them away, and a
    # trend is enforced only when the analyst asked for one too.
    params["min_bin_size"] = None
    params["max_n_bins"] = None
    if over.monotonic_trend is None:
        params.pop("monotonic_trend", None)


def _complete_groups(name: str, column: np.ndarray, params: dict) -> dict:
    """The analyst's groups of observed levels, with each observed level not listed as a group of
    its own (optbinning needs every level placed); a group with no observed level is refused."""
    observed = pd.unique(pd.Series(column[pd.notna(column)], dtype=object))
    seen = {str(v) for v in observed}
    groups = []
    for g in params["user_splits"]:
        present = [lv for lv in g if lv in seen]
        if not present:
            raise DataError(
                f"binning.features.{name}.groups: no training row has any level of the group {g}; "
                "merge it with another group or drop it"
            )
        groups.append(present)
    listed = {lv for g in groups for lv in g}
    groups += [[str(v)] for v in observed if str(v) not in listed]
    return {**params, "user_splits": groups, "user_splits_fixed": [True] * len(groups)}


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


def _feature_binning(
    name: str, optb, item: CatalogueItem, params: dict, item_groups: Sequence[Sequence[str]] | None = None
) -> FeatureBinning:
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
    user_set = "user_splits" in params
    if item.type is ItemType.CATEGORICAL:
        groups = [[str(v) for v in table["Bin"].iloc[i]] for i in range(n_total - 2)]
        for g in item_groups or ():  # levels the analyst grouped but training never saw score with their group
            home = next((x for x in groups if set(x) & set(g)), None)
            if home is not None:
                home += [lv for lv in g if lv not in home]
        return FeatureBinning(name, "categorical", tuple(bins), groups=tuple(tuple(g) for g in groups),
                              monotonic_trend=params.get("monotonic_trend"), status=str(optb.status),
                              user_set=user_set)  # fmt: skip
    return FeatureBinning(
        name,
        "numerical",
        tuple(bins),
        splits=tuple(float(s) for s in optb.splits),
        special_codes=tuple(float(s) for s in params.get("special_codes", ())),
        monotonic_trend=params.get("monotonic_trend"),
        status=str(optb.status),
        user_set=user_set,
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
    from optbinning import OptimalBinning

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
        for f in features:  # one feature at a time, so that progress can be shown
            p = params[f.id]
            user_groups = None
            if "user_splits" in p and f.type is ItemType.CATEGORICAL:
                user_groups = p["user_splits"]
                p = _complete_groups(f.id, frame[f.id].to_numpy(), p)
            # What optbinning's BinningProcess fits for one variable (its defaults, then the
            # variable's parameters), without the process's selection statistics, unused here.
            optb = OptimalBinning(
                name=f.id,
                dtype="categorical" if f.type is ItemType.CATEGORICAL else "numerical",
                max_n_prebins=cfg.max_n_prebins,
                min_prebin_size=0.05,
                max_n_bins=cfg.max_n_bins,
                min_bin_size=cfg.min_bin_size,
            )
            optb.set_params(**p)
            try:
                optb.fit(frame[f.id], y_int)
            except ValueError as exc:
                if "user_splits" not in p:
                    raise
                raise DataError(
                    f"binning.features.{f.id}: the analyst's bins cannot be used on these rows: {exc} "
                    "(a bin with only goods or only bads has no finite WoE; merge it with a neighbour)"
                ) from None
            out.append(_feature_binning(f.id, optb, f, p, user_groups))
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
