"""List memberships with dates: who is on which list, from whom, from when, until when.

A **memberships file** (CSV or Parquet) has one row per listing of an entity:

==============  ==================================================================================
``id``          the entity's key (the configured id column; a column named after it, e.g. ``uscc``,
                is read as ``id`` too)
``list``        the list: ``dishonest_debtor`` (失信被执行人), ``serious_untrustworthy``
                (严重失信主体名单), ``abnormal_operations`` (经营异常名录) or any other name made of
                letters, digits and ``_`` (a partner list such as ``r120000_serious_untrustworthy``)
``source``      who listed the entity (e.g. 最高人民法院, 市场监管总局, a partner region)
``start``       the date the listing took effect, ``YYYY-MM-DD``
``end``         the date it ended (removed, credit repair 信用修复), or empty while it stands
``listed_by``   optional: the region code of the issuing region (partner lists from an exchange)
==============  ==================================================================================

A membership is **active** on day ``d`` when ``start <= d < end`` (an empty ``end`` never comes):
on its end date the entity is no longer listed. Each graded row is judged at its own as-of date.

:func:`apply_memberships` joins the memberships to a validated registry table by key (one hash
join, vectorised) and adds a column ``list:<name>`` (0/1) per list. Override rules name them as
``{item: "list:<name>", eq: 1}``; a rule on one of today's flag columns
(``dishonest_debtor_flag``, ``serious_untrustworthy_flag``, ``abnormal_operations_flag``) reads the
flag *or* the active membership of its list, so the registry's flag columns keep working and the
model's own features are never changed by a memberships file.

>>> m = read_memberships(pd.DataFrame({"id": ["91110000MA01ABCD3X"], "list": ["dishonest_debtor"],
...     "source": ["court"], "start": ["2025-01-01"], "end": ["2025-09-30"]}))
>>> active_lists(m, np.array(["91110000MA01ABCD3X"] * 2), np.array(["2025-06-30", "2025-12-31"],
...     dtype="datetime64[D]"))["dishonest_debtor"].tolist()
[True, False]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from credit_grading.exceptions import DataError

LIST_PREFIX = "list:"
COLUMNS = ("id", "list", "source", "start", "end")
OPTIONAL = ("listed_by",)
# The statutory lists and the registry flag columns that already record them.
FLAG_OF_LIST = {
    "dishonest_debtor": "dishonest_debtor_flag",
    "serious_untrustworthy": "serious_untrustworthy_flag",
    "abnormal_operations": "abnormal_operations_flag",
}
LIST_OF_FLAG = {v: k for k, v in FLAG_OF_LIST.items()}
LIST_LABELS = {
    "dishonest_debtor": ("失信被执行人", "dishonest judgment debtor"),
    "serious_untrustworthy": ("严重失信主体名单", "serious untrustworthiness list"),
    "abnormal_operations": ("经营异常名录", "abnormal operations list"),
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHOW = 5


def list_column(name: str) -> str:
    """The column a list's activity is read from by override rules: ``list:<name>``."""
    return f"{LIST_PREFIX}{name}"


@dataclass(frozen=True)
class Memberships:
    """Validated memberships: ``id`` (text), ``list``, ``source``, ``start``/``end`` (datetime64, end NaT when
    open), ``listed_by`` (text or None)."""

    table: pd.DataFrame
    source: str = "memberships"

    @property
    def lists(self) -> tuple[str, ...]:
        return tuple(sorted(self.table["list"].unique()))

    def __len__(self) -> int:
        return len(self.table)


def _dates(col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.astype("datetime64[ns]")
    text = col.astype("string").str.strip()
    text = text.where(text != "", None)
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")


def read_memberships(source: Path | str | pd.DataFrame, *, id_column: str | None = None) -> Memberships:
    """Read and check a memberships file (or frame); every problem of the whole table in one message."""
    if isinstance(source, pd.DataFrame):
        frame, where = source.copy(), "memberships table"
    else:
        from credit_grading.registry.io import read_frame

        frame, where = read_frame(source, what="memberships", text=True), f"memberships file {source}"
    if "id" not in frame.columns and id_column and id_column in frame.columns:
        frame = frame.rename(columns={id_column: "id"})
    missing = [c for c in COLUMNS if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in COLUMNS + OPTIONAL]
    if missing or unexpected:
        raise DataError(f"{where}: columns must be {list(COLUMNS)} (optional {list(OPTIONAL)}); "
                        f"missing {missing}, unexpected {unexpected}")  # fmt: skip
    ids = frame["id"].astype("string").str.strip()
    names = frame["list"].astype("string").str.strip()
    start, end = _dates(frame["start"]), _dates(frame["end"])
    given_end = frame["end"].notna() & (frame["end"].astype("string").str.strip() != "").fillna(False)
    problems = {
        "id is empty": ids.isna() | (ids == ""),
        "list is not a name of letters, digits and _": ~names.fillna("").str.match(_NAME.pattern),
        "start is not a date YYYY-MM-DD": start.isna(),
        "end is not a date YYYY-MM-DD": end.isna() & given_end,
        "end is before start": (end < start).fillna(False),
    }
    found = []
    for reason, bad in problems.items():
        rows = np.flatnonzero(bad.to_numpy(dtype=bool))
        if len(rows):
            col = reason.split()[0]
            shown = ", ".join(f"row {r + 1} ({frame[col].iloc[r]!r})" for r in rows[:_SHOW])
            found.append(f"{len(rows)} row(s) where {reason}: {shown}{' …' if len(rows) > _SHOW else ''}")
    if found:
        raise DataError(f"{where} has bad rows: " + "; ".join(found))
    listed_by = (frame["listed_by"].astype("string").str.strip() if "listed_by" in frame.columns
                 else pd.Series(pd.NA, index=frame.index, dtype="string"))  # fmt: skip
    table = pd.DataFrame({
        "id": ids.astype(object).to_numpy(), "list": names.astype(object).to_numpy(),
        "source": frame["source"].astype("string").astype(object).where(frame["source"].notna(), None).to_numpy(),
        "start": start.to_numpy(), "end": end.to_numpy(),
        "listed_by": listed_by.astype(object).where(listed_by.notna(), None).to_numpy(),
    })  # fmt: skip
    return Memberships(table, where)


def combine(*parts: Memberships | None) -> Memberships | None:
    """Several memberships files read as one (e.g. the region's own lists and imported partner lists)."""
    given = [p for p in parts if p is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]
    return Memberships(pd.concat([p.table for p in given], ignore_index=True), " + ".join(p.source for p in given))


def _as_days(as_of, n: int) -> np.ndarray:
    if as_of is None:
        raise DataError("list memberships need an as-of date: the table has no as-of column and none was given")
    arr = np.asarray(as_of)
    if arr.ndim == 0:
        return np.full(n, pd.Timestamp(arr.item()).to_datetime64().astype("datetime64[D]"))
    return pd.to_datetime(pd.Series(arr)).to_numpy().astype("datetime64[D]")


def _strings(values) -> pa.Array:
    """Keys as an Arrow string array (zero-copy from an Arrow-backed column)."""
    if isinstance(values, pd.Series | pd.Index):
        try:
            arr = pa.array(values)
        except (pa.ArrowException, TypeError, ValueError):
            arr = pa.array(values.astype(str).to_numpy(dtype=object), type=pa.string())
    else:
        arr = pa.array(np.asarray(values, dtype=object), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else pc.cast(arr, pa.string())


def _joined(m: Memberships, ids, days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions, membership positions and whether each pair is active at the row's day: one hash
    join, the hash table built over the memberships' keys (few) and probed by the rows' (many)."""
    mem_code, uniques = pd.factorize(m.table["id"].to_numpy(dtype=object))
    row_code = pc.index_in(_strings(ids), value_set=pa.array(uniques.astype(object), type=pa.string()))
    row_code = row_code.fill_null(-1).to_numpy(zero_copy_only=False)
    hit = np.flatnonzero(row_code >= 0)
    rows = pd.DataFrame({"code": row_code[hit], "row": hit.astype(np.int64)})
    mems = pd.DataFrame({"code": mem_code, "mem": np.arange(len(mem_code), dtype=np.int64)})
    pairs = rows.merge(mems, on="code", how="inner")
    row, mem = pairs["row"].to_numpy(), pairs["mem"].to_numpy()
    start = m.table["start"].to_numpy().astype("datetime64[D]")[mem]
    end = m.table["end"].to_numpy().astype("datetime64[D]")[mem]
    day = days[row]
    active = (start <= day) & (np.isnat(end) | (day < end))
    return row, mem, active


def negative_records(m: Memberships, ids, as_of, years=()) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Per row: on any list at its as-of date, and per number of ``years``, on any list at some day of
    that many years before it — from one join."""
    n = len(ids)
    days = _as_days(as_of, n)
    row, mem, active = _joined(m, ids, days)
    now = np.zeros(n, dtype=bool)
    now[row[active]] = True
    start = m.table["start"].to_numpy().astype("datetime64[D]")[mem]
    end = m.table["end"].to_numpy().astype("datetime64[D]")[mem]
    day = days[row]
    recent = {}
    for y in years:
        since = day - np.timedelta64(round(y * 365.25), "D")
        out = np.zeros(n, dtype=bool)
        out[row[(start <= day) & (np.isnat(end) | (end > since))]] = True
        recent[y] = out
    return now, recent


def active_lists(m: Memberships, ids, as_of) -> dict[str, np.ndarray]:
    """Per list of ``m``: whether each row (``ids`` with its ``as_of`` date, one or per row) is on it."""
    n = len(ids)
    days = _as_days(as_of, n)
    out = {name: np.zeros(n, dtype=bool) for name in m.lists}
    row, mem, active = _joined(m, ids, days)
    lists = m.table["list"].to_numpy(dtype=object)[mem]
    for name in out:
        out[name][row[active & (lists == name)]] = True
    return out


def apply_memberships(
    data: pd.DataFrame,
    memberships: Memberships | None,
    *,
    id_column: str,
    as_of_column: str | None,
    as_of=None,
) -> pd.DataFrame:
    """``data`` with a ``list:<name>`` column (int8, 1 while active at the row's as-of date) per list.

    The statutory lists always get their column (0 when no membership names them), so rules on the
    flag columns read the same way with or without a memberships file. ``as_of`` (a date) is used
    when the table has no as-of column."""
    if memberships is None:
        return data
    if id_column not in data.columns:
        raise DataError(f"list memberships are joined by the id column {id_column!r}, which the table lacks")
    when = data[as_of_column].to_numpy() if as_of_column and as_of_column in data.columns else as_of
    flags = active_lists(memberships, data[id_column], when)
    cols = {list_column(k): np.zeros(len(data), dtype=np.int8) for k in FLAG_OF_LIST}
    cols |= {list_column(k): v.astype(np.int8) for k, v in flags.items()}
    return data.assign(**cols)


def entity_memberships(m: Memberships | None, ids, as_of) -> list[list[dict]]:
    """Per row, its memberships (active, ended or not yet started at the row's as-of date) as plain
    records for reports, most recent start first; for the few rows a report is written for."""
    ids = np.asarray(ids, dtype=object)
    out: list[list[dict]] = [[] for _ in range(len(ids))]
    if m is None or not len(ids):
        return out
    days = _as_days(as_of, len(ids))
    row, mem, active = _joined(m, ids, days)
    t = m.table
    for r, j, a in sorted(zip(row.tolist(), mem.tolist(), active.tolist(), strict=True), key=lambda x: (x[0], -x[1])):
        start, end = t["start"].iloc[j], t["end"].iloc[j]
        day = pd.Timestamp(days[r])
        status = "active" if a else ("upcoming" if start > day else "ended")
        name = t["list"].iloc[j]
        zh, en = LIST_LABELS.get(name, (name, name))
        out[r].append({
            "list": name, "label_zh": zh, "label_en": en, "source": t["source"].iloc[j],
            "start": str(start.date()), "end": None if pd.isna(end) else str(end.date()),
            "listed_by": t["listed_by"].iloc[j], "status": status,
        })  # fmt: skip
    for recs in out:
        recs.sort(key=lambda d: d["start"], reverse=True)
    return out


def recent_memberships(m: Memberships, ids, as_of, years: float) -> np.ndarray:
    """Whether each row had any membership active at some day in the ``years`` before its as-of date
    (a negative record within the period), vectorised."""
    return negative_records(m, ids, as_of, (years,))[1][years]
