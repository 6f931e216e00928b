"""A catalogue drafted from the data: ``credit-grading catalogue infer``.

An analyst who brings a dataset has no catalogue. :func:`infer_catalogue` reads the table and
proposes one item per column: its type (numeric, integer count, flag, categorical with its
observed levels and counts, date; free text is left out), the observed range, whether values
are missing, and a risk direction proposed from the trend of the event rate over quantile bins,
with its evidence (information value, the bins' event rates, Spearman's rank correlation with
its p-value). :func:`catalogue_yaml` writes the draft as YAML with the evidence in comments and
every item marked ``REVIEW``: the draft is a proposal for an analyst, not a decision.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=2000)
>>> frame = pd.DataFrame({"debt": x, "y": (rng.random(2000) < 1 / (1 + np.exp(2 - x))).astype(int)})
>>> draft = infer_catalogue(frame, target="y")
>>> item = draft.items[0]
>>> item.item.type.value, item.item.direction.value, item.evidence["p_value"] < 0.001
('numeric', 'increasing', True)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from credit_grading.catalogue import Catalogue, CatalogueItem, Direction, ItemType, Level, Missing
from credit_grading.exceptions import DataError

# Text values read as the bad class when the target is not 0/1 and no bad value is named.
BAD_WORDS = ("bad", "default", "defaulted", "yes", "true", "y", "1")
MAX_LEVELS = 50  # a text column with more distinct values than this is free text
ALPHA = 0.05  # a trend is proposed as a risk direction only below this p-value
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class InferredItem:
    """A drafted item with the evidence behind it (shown as YAML comments)."""

    item: CatalogueItem
    notes: list[str] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)


@dataclass
class CatalogueDraft:
    """The draft: items, columns left out (with the reason) and the target's reading."""

    items: list[InferredItem]
    left_out: dict[str, str]
    target: str
    bad_values: tuple
    bad_rate: float
    rows: int

    @property
    def catalogue(self) -> Catalogue:
        return Catalogue(name_en="drafted by credit-grading catalogue infer", items=[i.item for i in self.items])


def read_table(path: Path | str) -> pd.DataFrame:
    """A raw dataset (CSV or Parquet) as pandas, columns typed as pandas reads them."""
    from credit_grading.registry.io import read_frame

    return read_frame(path, what="data")


def target_events(values: pd.Series, bad_values: tuple = ()) -> tuple[np.ndarray, tuple]:
    """The target as 1 (bad) / 0 (good) / NaN and the values read as bad.

    0/1 stays as given; otherwise ``bad_values``, else a value among :data:`BAD_WORDS`, else the
    rarer of two values is the bad class.
    """
    given = values.dropna()
    if given.empty:
        raise DataError(f"the target column {values.name!r} has no values")
    text = given.astype(str).str.strip()
    levels = sorted(text.unique())
    if not bad_values:
        numeric = pd.to_numeric(given, errors="coerce")
        if numeric.notna().all() and set(numeric.unique()) <= {0, 1}:
            y = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            return y, ()
        if len(levels) != 2:
            raise DataError(
                f"the target column {values.name!r} has {len(levels)} distinct values ({', '.join(levels[:6])}…); "
                "a target has two: name the bad one(s) with --bad"
            )
        named = [v for v in levels if v.lower() in BAD_WORDS]
        bad_values = (named[0],) if len(named) == 1 else (text.value_counts().sort_values(kind="stable").index[0],)
    bad = {str(v) for v in bad_values}
    unknown = bad - set(levels)
    if unknown:
        raise DataError(f"the target column {values.name!r} has no value {sorted(unknown)}; it holds {levels[:10]}")
    y = np.where(values.isna(), np.nan, values.astype(str).str.strip().isin(bad).astype(np.float64))
    return y, tuple(sorted(bad))


def _numeric_kind(x: pd.Series) -> str:
    v = x.dropna().to_numpy(dtype=np.float64)
    if v.size and np.isin(v, (0.0, 1.0)).all():
        return "flag"
    if v.size and (v == np.round(v)).all():
        return "count"
    return "numeric"


def _is_date(x: pd.Series) -> bool:
    sample = x.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}").mean() > 0.9:
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() > 0.95)


def _bins(x: np.ndarray, y: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Event counts per quantile bin of a numeric ``x`` (missing values in a bin of their own)."""
    frame = pd.DataFrame({"x": x, "y": y})
    ok = frame["x"].notna()
    edges = np.unique(np.quantile(frame.loc[ok, "x"], np.linspace(0, 1, n_bins + 1)))
    if edges.size < 2:
        codes = pd.Series(0, index=frame.index[ok])
    else:
        codes = pd.Series(np.searchsorted(edges[1:-1], frame.loc[ok, "x"].to_numpy(), side="right"),
                          index=frame.index[ok])  # fmt: skip
    frame["bin"] = -1
    frame.loc[ok, "bin"] = codes
    return frame.groupby("bin")["y"].agg(["count", "sum"]).rename(columns={"sum": "events"})


def information_value(table: pd.DataFrame) -> float:
    """IV of bins given their ``count`` and ``events`` (as optbinning computes it; a half count is
    added to every cell only when a bin has no events or no non-events)."""
    bad = table["events"].to_numpy(dtype=np.float64)
    good = table["count"].to_numpy(dtype=np.float64) - bad
    eps = 0.5 if (bad == 0).any() or (good == 0).any() else 0.0
    pb = (bad + eps) / (bad.sum() + eps * len(bad))
    pg = (good + eps) / (good.sum() + eps * len(good))
    return float(np.sum((pb - pg) * np.log(pb / pg)))


def _trend(rates: np.ndarray) -> str:
    d = np.diff(rates)
    if d.size == 0:
        return "flat"
    if (d >= 0).all():
        return "ascending"
    if (d <= 0).all():
        return "descending"
    return "not monotonic"


def _numeric_evidence(x: pd.Series, y: np.ndarray) -> dict:
    from scipy import stats

    v = x.to_numpy(dtype=np.float64)
    table = _bins(v, y)
    present = table[table.index >= 0]
    rates = (present["events"] / present["count"]).to_numpy()
    ok = ~np.isnan(v)
    rho, p = stats.spearmanr(v[ok], y[ok]) if ok.sum() > 2 and np.ptp(v[ok]) > 0 else (0.0, 1.0)
    rho, p = (0.0, 1.0) if rho != rho else (float(rho), float(p))
    return {"iv": information_value(table), "trend": _trend(rates), "event_rates": [round(float(r), 4) for r in rates],
            "spearman": rho, "p_value": p}  # fmt: skip


def _categorical_evidence(x: pd.Series, y: np.ndarray) -> dict:
    from scipy import stats

    frame = pd.DataFrame({"x": x.astype(object).where(x.notna(), "(missing)"), "y": y})
    table = frame.groupby("x")["y"].agg(["count", "sum"]).rename(columns={"sum": "events"})
    counts = np.column_stack([table["events"], table["count"] - table["events"]])
    p = float(stats.chi2_contingency(counts)[1]) if len(table) > 1 and (counts.sum(axis=0) > 0).all() else 1.0
    rates = {str(k): round(float(e / c), 4) for k, e, c in zip(table.index, table["events"], table["count"],
                                                               strict=True)}  # fmt: skip
    return {"iv": information_value(table), "event_rates": rates, "p_value": p}


def _direction(ev: dict) -> Direction:
    if ev["p_value"] >= ALPHA:
        return Direction.NONE
    return Direction.INCREASING if ev["spearman"] > 0 else Direction.DECREASING


def infer_catalogue(
    data: pd.DataFrame,
    *,
    target: str,
    id_column: str | None = None,
    as_of_column: str | None = None,
    bad_values: tuple = (),
) -> CatalogueDraft:
    """Draft a catalogue of ``data``'s columns (other than the target, id and as-of columns)."""
    for role, col in (("target", target), ("id", id_column), ("as-of", as_of_column)):
        if col is not None and col not in data.columns:
            raise DataError(f"the {role} column {col!r} is not in the data; its columns are {list(data.columns)[:20]}")
    if len(data) < 2:
        raise DataError("the data has fewer than two rows: nothing to infer")
    y, bad = target_events(data[target], tuple(bad_values))
    known = ~np.isnan(y)
    items, left_out = [], {}
    for name in data.columns:
        if name in (target, id_column, as_of_column):
            continue
        x = data[name]
        if not _ID.match(str(name)):
            left_out[str(name)] = "its name is not letters, digits and underscores (rename the column to use it)"
            continue
        n_missing = int(x.isna().sum())
        notes = [f"missing: {n_missing:,} of {len(x):,} rows" if n_missing else "missing: none observed"]
        missing = Missing(allowed=True)
        if pd.api.types.is_bool_dtype(x):
            x = x.astype("float64")
        if pd.api.types.is_numeric_dtype(x):
            kind = _numeric_kind(x)
            ev = _numeric_evidence(x[known], y[known])
            lo, hi = float(x.min()), float(x.max())
            notes.append(f"observed range {lo:g} to {hi:g}; {x.nunique():,} distinct values")
            direction = _direction(ev)
            if kind == "flag":
                item = CatalogueItem(id=name, type=ItemType.FLAG, direction=direction, missing=missing)
            else:
                item = CatalogueItem(id=name, type=ItemType.NUMERIC, integer=kind == "count",
                                     min=0.0 if lo >= 0 else None, direction=direction, missing=missing)  # fmt: skip
            kind_text = {"flag": "flag (0/1)", "count": "integer count", "numeric": "numeric"}[kind]
        elif pd.api.types.is_datetime64_any_dtype(x) or _is_date(x):
            items.append(InferredItem(CatalogueItem(id=name, type=ItemType.DATE, missing=missing), [*notes, "date"]))
            continue
        else:
            text = x.dropna().astype(str).str.strip()
            counts = text.value_counts()
            if len(counts) > MAX_LEVELS or len(counts) > 0.5 * max(len(text), 1):
                left_out[str(name)] = f"free text ({len(counts):,} distinct values): not a model feature"
                continue
            ev = _categorical_evidence(x.where(x.isna(), x.astype(str).str.strip())[known], y[known])
            levels = tuple(Level(code=str(c)) for c in sorted(counts.index))
            item = CatalogueItem(id=name, type=ItemType.CATEGORICAL, levels=levels, missing=missing)
            notes.append("levels and counts: " + "; ".join(f"{c!r}: {n:,}" for c, n in counts.sort_index().items()))
            kind_text = f"categorical, {len(levels)} levels"
        ev["kind"] = kind_text
        items.append(InferredItem(item, notes, ev))
    if not items:
        raise DataError("no column of the data can be a catalogue item")
    return CatalogueDraft(items, left_out, target, bad, float(np.nanmean(y)), len(data))


def _yaml_value(v) -> str:
    return json.dumps(v, ensure_ascii=False)


def catalogue_yaml(draft: CatalogueDraft, source: str = "") -> str:
    """The draft as a catalogue YAML file: every item with its evidence as comments, marked REVIEW."""
    lines = [
        f"# Catalogue drafted by `credit-grading catalogue infer` from {source or 'the data'}",
        f"# ({draft.rows:,} rows; target {draft.target!r}, bad rate {draft.bad_rate:.4f}).",
        "# Every item is a proposal: check its type, range, missing values and risk direction",
        "# (items marked REVIEW), then delete these REVIEW marks. A direction is proposed when the",
        f"# event rate's rank correlation with the value has p < {ALPHA} (Spearman); IV over quantile",
        "# bins (numeric) or levels (categorical).",
        "# The config that trains on it (dataset section):",
        "#   dataset:",
        f"#     target_column: {draft.target}",
    ]
    if draft.bad_values:
        lines.append(f"#     bad_values: {_yaml_value(list(draft.bad_values))}")
    lines += ["#     catalogue: <this file>", ""]
    for name, why in draft.left_out.items():
        lines.append(f"# left out: {name}: {why}")
    lines += ['version: "draft"', f"name_en: {_yaml_value('drafted from ' + (source or 'the data'))}", "items:"]
    for inferred in draft.items:
        it, ev = inferred.item, inferred.evidence
        lines.append(f"  # REVIEW {it.id}: {ev.get('kind', it.type.value)}")
        for note in inferred.notes:
            lines.append(f"  #   {note}")
        if "iv" in ev:
            trend = f", binned event rate {ev['trend']} {ev['event_rates']}" if "trend" in ev else ""
            rho = f", Spearman {ev['spearman']:+.3f}" if "spearman" in ev else ""
            lines.append(f"  #   evidence: IV {ev['iv']:.4f}{trend}{rho}, p-value {ev['p_value']:.3g}")
        if isinstance(ev.get("event_rates"), dict):
            lines.append(f"  #   event rate by level: {_yaml_value(ev['event_rates'])}")
        lines.append(f"  - id: {it.id}")
        lines.append(f"    type: {it.type.value}")
        if it.type is ItemType.NUMERIC:
            if it.integer:
                lines.append("    integer: true")
            if it.min is not None:
                lines.append(f"    min: {it.min:g}")
        if it.levels:
            lines.append("    levels:")
            lines += [f"      - {{code: {_yaml_value(lv.code)}}}" for lv in it.levels]
        if it.type in (ItemType.NUMERIC, ItemType.FLAG):
            lines.append(f"    direction: {it.direction.value}")
        lines.append(f"    missing: {{allowed: {str(it.missing.allowed).lower()}}}")
        lines.append("    required: false")
    return "\n".join(lines) + "\n"


def write_catalogue_draft(
    draft: CatalogueDraft, path: Path | str, *, source: str = "", overwrite: bool = False
) -> None:
    """Write :func:`catalogue_yaml` to ``path`` atomically, after checking it loads as a catalogue."""
    from credit_grading.catalogue import load_catalogue
    from credit_grading.exceptions import CreditGradingError
    from credit_grading.storage import write_atomic

    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError(f"{path} exists; pass --overwrite to replace it")
    text = catalogue_yaml(draft, source)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # the draft must load as it will be read
        probe = Path(tmp) / "catalogue.yaml"
        probe.write_text(text, encoding="utf-8")
        try:
            load_catalogue(probe)
        except CreditGradingError as exc:  # pragma: no cover - a bug of the writer, not of the data
            raise DataError(f"the drafted catalogue does not load: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
