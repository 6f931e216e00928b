"""Values as people read them, in Chinese and English, for the pages an enterprise or a committee reads.

A PD is a percentage, a count an integer, years carry one decimal, a flag is 是/否 · yes/no, an
amount carries its catalogue unit and a categorical code its catalogue labels. A missing value
says what missing means for that item (the catalogue's ``missing.meaning_*``) when it says.

>>> pct(0.0124), pct(0.00066), pct(0.5)
('1.24%', '0.066%', '50.0%')
"""

from __future__ import annotations

import math

from credit_grading.catalogue import Catalogue, CatalogueItem, ItemType

MISSING = "缺失 · missing"


def pct(p: float | None, digits: int = 2) -> str:
    """A probability as a percentage: two decimals from 1%, one from 10%, ``digits`` significant figures below 1%."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "—"
    v = 100.0 * float(p)
    if v == 0:
        return "0%"
    if abs(v) >= 10:
        return f"{v:.1f}%"
    if abs(v) >= 1:
        return f"{v:.2f}%"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(v))))
    return f"{v:.{min(decimals, 4)}f}%"


def number(v: float, *, integer: bool = False, decimals: int = 2) -> str:
    """A number with thousands separators: integers without decimals, others to ``decimals`` places."""
    if integer or (float(v).is_integer() and abs(v) >= 1):
        return f"{round(v):,}"
    return f"{v:,.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{v:,.0f}"


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def value_text(item: CatalogueItem | None, v) -> str:
    """One value of ``item`` as the reader reads it (both languages where words are involved)."""
    if item is None:
        return MISSING if _is_missing(v) else (number(v) if isinstance(v, int | float) else str(v))
    if _is_missing(v):
        m = item.missing
        zh, en = getattr(m, "meaning_zh", "") or "", getattr(m, "meaning_en", "") or ""
        return f"缺失：{zh} · missing: {en}" if zh or en else MISSING
    if item.type is ItemType.FLAG:
        try:
            return "是 · yes" if float(v) >= 0.5 else "否 · no"
        except (TypeError, ValueError):
            return str(v)
    if item.type is ItemType.CATEGORICAL:
        code = str(v)
        for lv in item.levels or ():
            if lv.code == code:
                zh, en = lv.name_zh or code, lv.name_en or code
                return zh if zh == en else f"{zh} · {en}"
        return code
    if item.type is ItemType.NUMERIC:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return str(v)
        unit = item.unit or ""
        if item.integer or unit.endswith("(count)"):
            text = f"{round(x):,}"
        elif unit.startswith("年"):
            text = f"{x:,.1f}"
        else:
            text = number(x)
        return f"{text} {unit}".strip()
    return str(v)


def item_value(catalogue: Catalogue | None, item_id: str, v) -> str:
    """:func:`value_text` of ``item_id`` looked up in ``catalogue`` (plain text for an unknown item)."""
    item = catalogue.item(item_id) if catalogue is not None and item_id in catalogue else None
    return value_text(item, v)


def item_name(catalogue: Catalogue | None, item_id: str) -> tuple[str, str]:
    """The Chinese and English names of ``item_id`` (its id when the catalogue does not know it)."""
    if catalogue is None or item_id not in catalogue:
        return item_id, item_id
    it = catalogue.item(item_id)
    return it.name_zh or item_id, it.name_en or item_id


def bin_label(binning, i: int) -> str:
    """The label of bin ``i`` of a feature's binning: its range, or its levels joined by ", ".

    Categorical labels are rebuilt from the binning's level groups, so a label stored as the
    text of an array object (``<ArrowStringArray> ['A'] Length: 1, dtype: str``) never reaches a page.
    """
    b = binning.bins[i]
    if binning.kind == "categorical" and b.kind == "regular" and i < len(binning.groups):
        return ", ".join(str(v) for v in binning.groups[i])
    return str(b.label)
