"""Assembling a synthetic registry snapshot as an Arrow table and writing it."""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from credit_grading.catalogue import Catalogue, ItemType, load_catalogue
from credit_grading.csvsafe import write_csv
from credit_grading.exceptions import ConfigError
from credit_grading.registry.io import write_table
from credit_grading.synth.corrupt import inject_defects
from credit_grading.synth.population import (
    DISTRICTS,
    ENTERPRISE_TYPES,
    INDUSTRIES,
    SIZE_CLASSES,
    draw_population,
)
from credit_grading.synth.records import CUSTOMS_LEVELS, TAX_LEVELS, draw_records
from credit_grading.synth.risk import risk_logit, sector_logit, solve_intercept, true_pd

_EPOCH = dt.date(1970, 1, 1)
# How much a drifted snapshot's bad rate rises per unit of drift.
DRIFT_BAD_RATE_FACTOR = 0.4


@dataclass(frozen=True)
class SyntheticRegistry:
    """A synthetic snapshot: the table as written, and the rows made invalid on purpose."""

    table: pa.Table
    injected: pd.DataFrame  # row_number (1-based), column, reason, defect

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()


def _levels_of(catalogue: Catalogue, item_id: str, fallback: tuple[str, ...]) -> list[str]:
    return list(catalogue.item(item_id).level_codes) if item_id in catalogue else list(fallback)


def _dictionary(codes: np.ndarray, levels: list[str]) -> pa.DictionaryArray:
    codes = np.asarray(codes, dtype=np.int32)
    indices = pa.array(codes, mask=codes < 0, type=pa.int32())
    return pa.DictionaryArray.from_arrays(indices, pa.array(levels, type=pa.string()))


def generate_registry(
    rows: int,
    seed: int = 0,
    as_of: dt.date | str = dt.date(2025, 12, 31),
    *,
    bad_rate: float = 0.07,
    invalid_fraction: float = 0.0,
    drift: float = 0.0,
    catalogue: Catalogue | None = None,
    sector_drivers: bool = False,
) -> SyntheticRegistry:
    """Make a synthetic enterprise registry snapshot.

    Parameters
    ----------
    rows : int
        Number of entities.
    seed : int
        Seeds everything. The same seed gives the same entities in every snapshot and, with
        the same other arguments, a byte-identical file.
    as_of : date or ``YYYY-MM-DD``
        Snapshot date.
    bad_rate : float
        Target share of ``bad_12m`` (before drift).
    invalid_fraction : float
        Share of rows given one realistic defect each (see
        :mod:`credit_grading.synth.corrupt`).
    drift : float
        0 for a base snapshot; larger values make a later snapshot whose record
        distributions and bad rate have moved (bad rate × (1 + 0.4 · drift)).
    catalogue : Catalogue, optional
        The catalogue the columns follow (default: the built-in one).
    sector_drivers : bool
        Add the sector-specific risk drivers of :mod:`credit_grading.synth.risk` (items that
        weigh differently in production, construction, trade, food and finance) to the ground
        truth, so sector models have something to gain. Off by default: the default registry
        does not change. The records are drawn the same either way; only ``true_pd`` and
        ``bad_12m`` differ.

    Examples
    --------
    >>> reg = generate_registry(1000, seed=1)
    >>> reg.table.num_rows
    1000
    >>> 0.03 < float(reg.table.column("bad_12m").to_numpy().mean()) < 0.12
    True
    """
    if rows < 1:
        raise ConfigError(f"rows must be at least 1, got {rows}")
    if not 0.0 <= invalid_fraction <= 0.5:
        raise ConfigError(f"invalid_fraction must be between 0 and 0.5, got {invalid_fraction}")
    if not 0.0 < bad_rate < 0.5:
        raise ConfigError(f"bad_rate must be between 0 and 0.5, got {bad_rate}")
    if drift < 0:
        raise ConfigError(f"drift must be 0 or more, got {drift}")
    if isinstance(as_of, str):
        try:
            as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            raise ConfigError(f"as_of must be a date written YYYY-MM-DD, got {as_of!r}") from None
    catalogue = catalogue or load_catalogue()
    as_of_days = (as_of - _EPOCH).days

    pop = draw_population(rows, seed)
    snap_key = [seed, as_of_days, round(drift * 1000), zlib.crc32(b"snapshot")]
    rng = np.random.default_rng(snap_key)
    rec = draw_records(pop, rng, drift)
    eta = risk_logit(pop, rec)
    if sector_drivers:
        eta = eta + sector_logit(pop, rec)
    target = min(bad_rate * (1.0 + DRIFT_BAD_RATE_FACTOR * drift), 0.45)
    pd_true = true_pd(eta, solve_intercept(eta, target))
    bad = (rng.random(rows) < pd_true).astype(np.int8)

    cols: dict[str, object] = {"uscc": pop.uscc}
    established = as_of_days - np.rint(pop.age_years * 365.25).astype(np.int64)
    numeric = {k: v for k, v in rec.items() if v.dtype.kind == "f"}
    numeric["established_on"] = established.astype(np.float64)
    cols.update(numeric)
    level_items = {
        "district": ([d[0] for d in DISTRICTS], pop.district),
        "industry": ([i[0] for i in INDUSTRIES], pop.industry),
        "enterprise_type": ([t[0] for t in ENTERPRISE_TYPES], pop.enterprise_type),
        "size_class": (list(SIZE_CLASSES), rec["size_class"]),
        "tax_credit_rating": (list(TAX_LEVELS), rec["tax_credit_rating"]),
        "customs_credit_rating": (list(CUSTOMS_LEVELS), rec["customs_credit_rating"]),
    }
    for name, (levels, codes) in level_items.items():
        cols[name] = np.array(codes, dtype=np.int32)
        cols[f"{name}__levels"] = levels
    injected = inject_defects(cols, rows, invalid_fraction, rng, as_of_days)

    out: dict[str, pa.Array] = {
        "uscc": cols["uscc"],
        "as_of": pa.array(np.full(rows, as_of_days, dtype=np.int32), type=pa.int32()).cast(pa.date32()),
        "enterprise_name": pop.enterprise_name,
        "legal_rep_name": pop.legal_rep_name,
        "legal_rep_id_number": pop.legal_rep_id_number,
    }
    for item in catalogue.items:
        if item.id in out or item.derived_from is not None:
            continue
        if item.type is ItemType.DATE:
            out[item.id] = pa.array(np.asarray(cols[item.id], dtype=np.int64).astype(np.int32)).cast(pa.date32())
        elif item.type is ItemType.CATEGORICAL:
            out[item.id] = _dictionary(cols[item.id], cols[f"{item.id}__levels"])
        elif item.type is ItemType.FLAG:
            v = cols[item.id]
            out[item.id] = pa.array(np.nan_to_num(v).astype(np.int8), mask=np.isnan(v), type=pa.int8())
        elif item.type is ItemType.NUMERIC:
            v = cols[item.id]
            if item.integer:
                out[item.id] = pa.array(np.nan_to_num(v).astype(np.int32), mask=np.isnan(v), type=pa.int32())
            else:
                out[item.id] = pa.array(v, type=pa.float64(), from_pandas=True)
    out["true_pd"] = pa.array(pd_true)
    out["bad_12m"] = pa.array(bad, type=pa.int8())
    return SyntheticRegistry(table=pa.table(out), injected=injected)


def write_registry(reg: SyntheticRegistry, path: Path | str) -> Path | None:
    """Write the table (Parquet or CSV by extension); if rows were corrupted on purpose,
    write their list beside it as ``<path>.injected.csv`` and return that path."""
    path = Path(path)
    write_table(reg.table, path)
    if len(reg.injected):
        side = path.with_name(path.name + ".injected.csv")
        write_csv(reg.injected, side)
        return side
    return None


def generate_inspectors(count: int = 60, seed: int = 0) -> pd.DataFrame:
    """A synthetic roster of law-enforcement inspectors (执法检查人员名录) for inspection plans."""
    if count < 2:
        raise ConfigError("an inspector roster needs at least two inspectors")
    rng = np.random.default_rng(seed)
    surnames = np.array(list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"))
    given = np.array(list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"))
    name = np.char.add(surnames[rng.integers(0, len(surnames), count)], given[rng.integers(0, len(given), count)])
    districts = np.asarray([d[0] for d in DISTRICTS], dtype=object)
    return pd.DataFrame(
        {
            "inspector_id": [f"INS{i:05d}" for i in range(1, count + 1)],
            "name": name,
            "district": districts[rng.integers(0, len(districts), count)],
        }
    )
