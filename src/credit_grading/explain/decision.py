"""Decision reports: one JSON document (and one self-contained HTML page) per entity.

A report carries the entity (personal data masked, internal items left out), the as-of date,
the final grade and tier beside the model's, the PD and score, the override and its rule, the
top reasons with catalogue names in Chinese and English, the entity's value, the typical value
among tier-A entities and the contribution, a waterfall chart, the supervision measures of the
tier and the incentives the entity is eligible for (``measures`` entries with ``kind:
"incentive"``), its list memberships with their source, dates and status at the as-of date — a
lapsed one shown as ended on its date, a partner's with the region that listed it — (``data.lists``),
and the model (name, version, bundle hash) and data (input file hash, row) behind it.
The JSON follows ``credit_grading/schemas/decision_report.schema.json``.

Everything up to :func:`decision_documents` is vectorised; building the documents and
rendering the pages loops over entities (the rendering step).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from credit_grading import __version__
from credit_grading.catalogue import Disclosure, ItemType
from credit_grading.config.policy import incentive_records
from credit_grading.exceptions import DataError
from credit_grading.explain import charts
from credit_grading.explain.core import ExplainResult
from credit_grading.explain.readable import item_name, item_value, pct
from credit_grading.grading.publish import mask_text
from credit_grading.grading.rules import incentive_codes, incentive_eligibility
from credit_grading.lists import LIST_OF_FLAG, LIST_PREFIX, Memberships, entity_memberships
from credit_grading.runlog import entity_id
from credit_grading.storage import write_atomic

FORMAT = "credit_grading.decision_report"
# 2: the entity is keyed ``id`` (its configured column in ``id_column``, ``id_format``), not ``uscc``.
FORMAT_VERSION = 2
ENTITY_ITEMS = ("enterprise_name", "legal_rep_name", "district", "industry", "enterprise_type", "established_on")


def schema() -> dict:
    """The JSON Schema of a decision report."""
    text = resources.files("credit_grading").joinpath("schemas/decision_report.schema.json").read_text("utf-8")
    return json.loads(text)


def _plain(v):
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, pd.Timestamp | dt.date):
        return str(pd.Timestamp(v).date()) if not pd.isna(v) else None
    if isinstance(v, float) and v != v:
        return None
    return v


class DecisionDocument(dict):
    """A decision report (the JSON document, schema-valid) that also carries ``page``: the facts
    its letter shows in people's words — catalogue labels, formatted values, every matched rule
    with the entity's data, the issuing authority, validity and objection reference. ``page`` is
    not written to the JSON: it follows from the document, the bundle's catalogue and its policy."""

    page: dict

    def __init__(self, *args, page: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.page = page or {}


def _condition_items(cond) -> list[str]:
    """The catalogue items a rule's condition tests, in order."""
    if cond.all is not None or cond.any is not None:
        return list(dict.fromkeys(i for c in (cond.all or cond.any) for i in _condition_items(c)))
    named = getattr(cond, "list_", None)  # the {list: name} form, where the config defines it
    if named is not None:
        return [f"{LIST_PREFIX}{named}"]
    return [cond.item] if cond.item else []


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    last = (dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def _letter(policy, entity: str, as_of: str | None, decided: dt.date) -> dict:
    d = policy.decision
    o = d.objection
    data_day = dt.date.fromisoformat(as_of) if as_of else decided
    ref = o.reference(id=entity, uscc=entity, as_of=data_day.isoformat(), year=data_day.year, month=data_day.month,
                      day=data_day.day, decided=decided.isoformat())  # fmt: skip
    return {"authority_zh": d.authority_zh, "authority_en": d.authority_en, "decided": decided.isoformat(),
            "valid_until": _add_months(decided, d.validity_months).isoformat(), "validity_months": d.validity_months,
            "objection_days": o.days, "objection_deadline": (decided + dt.timedelta(days=o.days)).isoformat(),
            "contact_zh": o.contact_zh, "contact_en": o.contact_en, "reference": ref}  # fmt: skip


def id_label(entity: dict) -> str:
    """How a page heads the entity's key: the USCC where ids are checked as such, else the configured column."""
    if entity.get("id_format", "uscc" if "uscc" in entity else None) == "uscc":  # the id format (not a column name)
        return "统一社会信用代码 USCC"
    return f"编号 ID · {entity.get('id_column') or 'id'}"


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x)) if x > -700 else 0.0


def _entity_block(res: ExplainResult, rows: np.ndarray) -> list[dict]:
    """Public entity items per explained row; personal data masked, nothing internal."""
    cat = res.bundle.catalogue
    from credit_grading.service import bundle_schema

    schema = bundle_schema(res.bundle)
    idc = schema.id_column
    n = len(rows)
    cols = {"id": res.graded[idc].iloc[rows].astype(str).to_numpy(), "id_column": np.full(n, idc, dtype=object),
            "id_format": np.full(n, str(schema.id_format), dtype=object)}  # fmt: skip
    for item in ENTITY_ITEMS:
        if item not in res.data.columns or item not in cat:
            continue
        it = cat.item(item)
        if it.disclosure is not Disclosure.PUBLIC:
            continue
        col = res.data[item].iloc[rows].reset_index(drop=True)
        if it.personal_data:
            if it.type is not ItemType.TEXT:
                continue
            col = mask_text(col)
        cols[item] = col.astype(object).to_numpy()
    return [{k: _plain(v[i]) for k, v in cols.items()} for i in range(len(rows))]


def list_fact(rec: dict, labels: dict[str, tuple[str, str]] | None = None) -> dict:
    """A membership in people's words (Chinese and English): what, who listed it, since and until when.
    ``labels`` names lists the statutory ones do not cover (e.g. by the rule that reads a partner's list)."""
    by = f"region {rec['listed_by']}" if rec.get("listed_by") else (rec.get("source") or "")
    by_zh = f"区域 {rec['listed_by']} " if rec.get("listed_by") else (rec.get("source") or "")
    zh, en = f"由{by_zh}于 {rec['start']} 列入", f"listed by {by} on {rec['start']}"
    if labels and rec["list"] in labels and rec["label_zh"] == rec["list"]:
        rec = {**rec, "label_zh": labels[rec["list"]][0], "label_en": labels[rec["list"]][1]}
    if rec["status"] == "ended":
        zh, en = f"{zh}，已于 {rec['end']} 移出（信用修复）", f"{en}; ended on {rec['end']} (credit repair)"
    elif rec["status"] == "upcoming":
        zh, en = f"{zh}（评级日尚未生效）", f"{en} (not yet in force at the as-of date)"
    elif rec.get("end"):
        zh, en = f"{zh}，至 {rec['end']}", f"{en}, until {rec['end']}"
    return {**rec, "text_zh": zh, "text_en": en}


def _rule_item(cat, item: str, data: pd.DataFrame, i: int, facts: list[dict]) -> dict:
    """An item a matched rule tests, in people's words; a list (or a statutory list's flag) names the
    active listing behind it — who listed the entity and when."""
    listed = item.removeprefix(LIST_PREFIX) if item.startswith(LIST_PREFIX) else LIST_OF_FLAG.get(item)
    active = [f for f in facts if f["list"] == listed and f["status"] == "active"]
    if item.startswith(LIST_PREFIX):
        name = (active[0]["label_zh"], active[0]["label_en"]) if active else (listed, listed)
        value = "; ".join(f"{f['text_zh']} · {f['text_en']}" for f in active) or "—"
        return {"name_zh": name[0], "name_en": name[1], "value": value}
    value = item_value(cat, item, _plain(data[item].iloc[i]) if item in data.columns else None)
    if active:
        value = f"{value}; " + "; ".join(f"{f['text_zh']} · {f['text_en']}" for f in active)
    return {"name_zh": item_name(cat, item)[0], "name_en": item_name(cat, item)[1], "value": value}


def decision_documents(res: ExplainResult, *, reasons: int = 5, input_path: str | None = None,
                       input_sha256: str | None = None, lists: Memberships | None = None) -> list[DecisionDocument]:  # fmt: skip
    """One JSON-ready report per explained row (each a :class:`DecisionDocument` with its page facts).

    ``input_path`` is recorded by its file name only: a page names its data by name and hash,
    never by a place in someone's file system. ``lists`` are the list memberships the grading used:
    each entity's are shown with their status at its as-of date, and count for its incentives."""
    b = res.bundle
    cat = b.catalogue
    policy = b.policy
    g = res.graded.iloc[res.rows].reset_index(drop=True)
    data = res.data.iloc[res.rows].reset_index(drop=True)
    k = min(reasons, len(res.features))
    # Top-k risk-raising contributions per row (vectorised), then the waterfall's biggest movers.
    order = np.argsort(-res.contributions, axis=1, kind="stable")
    top = order[:, :k]
    absorder = np.argsort(-np.abs(res.contributions), axis=1, kind="stable")[:, :8]
    labels = {f: item_name(cat, f) for f in res.features}
    entities = _entity_block(res, res.rows)
    from credit_grading.service import bundle_schema

    keys = bundle_schema(b)
    as_of_column = keys.as_of_column
    has_as_of = bool(as_of_column) and as_of_column in g.columns
    ids = g[keys.id_column].astype(str).to_numpy(dtype=object)
    when = g[as_of_column].to_numpy() if has_as_of else dt.date.today()
    member_of = entity_memberships(lists, ids, when) if lists is not None else [[] for _ in range(len(g))]
    eligible = incentive_eligibility(policy, g, items=data, memberships=lists, id_column=keys.id_column,
                                     as_of_column=as_of_column if has_as_of else None, as_of=when)  # fmt: skip
    granted = incentive_codes(eligible)
    rules = {r.id: r for r in b.model.overrides}
    rule_labels = {r.id: (r.label_zh or r.id, r.label_en or r.id) for r in b.model.overrides}
    list_labels = {it.removeprefix(LIST_PREFIX): rule_labels[r.id] for r in b.model.overrides
                   for it in _condition_items(r.when) if it.startswith(LIST_PREFIX)}  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    generated = now.isoformat(timespec="seconds")
    input_name = os.path.basename(str(input_path)) if input_path else None
    docs = []
    for i in range(len(g)):
        row = g.iloc[i]
        tier = str(row["tier"])
        tp = policy.tier(tier)
        override = None
        if not pd.isna(row["override"]):
            rid = str(row["override"])
            zh, en = rule_labels.get(rid, (str(row.get("override_reason") or rid),) * 2)
            override = {"rule": rid, "label_zh": zh, "label_en": en}
        reason_list, reason_text = [], []
        for rank, j in enumerate(top[i], start=1):
            c = float(res.contributions[i, j])
            if c <= 0:
                break
            f = res.features[j]
            value = _plain(data[f].iloc[i]) if f in data.columns else None
            typical = _plain(res.typical.get(f))
            reason_list.append({
                "rank": rank, "item": f, "name_zh": labels[f][0], "name_en": labels[f][1],
                "value": value, "typical_value": typical, "contribution": c,
            })  # fmt: skip
            reason_text.append({"value": item_value(cat, f, value), "typical": item_value(cat, f, typical)})
        sign = 1.0 if res.kind == "shap" else -1.0
        steps = [(labels[res.features[j]][0], sign * float(res.contributions[i, j])) for j in absorder[i]]
        rest = sign * float(res.contributions[i].sum()) - sum(v for _, v in steps)
        if abs(rest) > 1e-12:
            steps.append(("其他 (others)", rest))
        matched = [r for r in str(row.get("rules_matched") or "").split(";") if r]
        entity = entities[i]
        as_of = _plain(row.get(as_of_column)) if as_of_column else None
        doc = DecisionDocument({
            "format": FORMAT, "format_version": FORMAT_VERSION, "generated_at": generated,
            "entity": entity,
            "as_of": as_of,  # the document's field (not a column name): the row's as-of date
            "decision": {
                "grade": str(row["grade"]), "tier": tier, "tier_label_zh": tp.label_zh, "tier_label_en": tp.label_en,
                "model_grade": str(row["model_grade"]), "model_tier": str(row["model_tier"]),
                "pd": float(row["pd"]), "score": _plain(row.get("score")),
                "override": override,
                "rules_matched": matched,
            },
            "reasons": reason_list,
            "contribution_kind": res.kind,
            "waterfall": {"base": float(res.base[i]), "unit": "log-odds" if res.kind == "shap" else "points",
                          "steps": [{"label": lab, "value": v} for lab, v in steps]},
            "measures": policy.measures_of(tier) + incentive_records(policy, granted[i].split(";")),
            "model": {"name": b.name, "version": b.version, "bundle_sha256": b.sha256, "champion": b.model.champion,
                      **({"segment": b.segments.describe(_plain(data[b.segments.column].iloc[i]))}
                         if b.segments is not None and b.segments.column in data.columns else {})},
            "data": {"input": input_name, "input_sha256": input_sha256,
                     "training_data_sha256": b.manifest.get("training_data", {}).get("sha256"),
                     "lists": member_of[i]},
            "package_version": __version__,
        })  # fmt: skip
        facts = [list_fact(r, list_labels) for r in member_of[i]]
        rule_facts = []
        for rid in matched:
            rule = rules.get(rid)
            zh, en = rule_labels.get(rid, (rid, rid))
            items = _condition_items(rule.when) if rule is not None else []
            rule_facts.append({
                "rule": rid, "label_zh": zh, "label_en": en, "decided": override is not None and override["rule"] == rid,
                "status_m": rule is not None and rule.then.status is not None,
                "items": [_rule_item(cat, it, data, i, facts) for it in items],
            })  # fmt: skip
        doc.page = {
            "entity": {f: item_value(cat, f, entity.get(f)) for f in ("district", "industry", "enterprise_type")
                       if entity.get(f) is not None},
            "reasons": reason_text,
            "rules": rule_facts,
            "lists": facts,
            "pd": pct(float(row["pd"])),
            "letter": _letter(policy, entity["id"], as_of, now.date()),
            "catalogue_name": getattr(cat, "name_en", "") or "",
        }  # fmt: skip
        docs.append(doc)
    return docs


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment

    text = resources.files("credit_grading").joinpath("templates/decision.html.j2").read_text("utf-8")
    return Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(text)


def waterfall_svg(doc: dict) -> str:
    """The waterfall of a report, drawn from zero with an axis; its total also shown as a PD."""
    wf = doc["waterfall"]
    steps = [(s["label"], s["value"]) for s in wf["steps"]]
    total = wf["base"] + sum(v for _, v in steps)
    pd_text = pct(doc["decision"]["pd"])
    if wf["unit"] == "log-odds":
        note = f"→ PD {pct(_logistic(total))}；校准后 calibrated PD {pd_text}"
        unit = "对数几率 · log-odds of default"
        start = "起点（平均） · start (average)"
    else:
        note = f"分 points → PD {pd_text}"
        unit = "分数 · score points"
        start = "起点（最高分） · start (best score)"
    return charts.waterfall(wf["base"], steps, title="贡献分解 · contributions", unit=unit, start_label=start,
                            total_label="合计 · total", total_note=note)  # fmt: skip


def render_html(doc: dict) -> str:
    """A decision report as one self-contained HTML page (inline SVG, no external assets)."""
    return _template().render(
        doc=doc,
        page=getattr(doc, "page", None) or {},
        waterfall_svg=waterfall_svg(doc),
        id_label=id_label(doc["entity"]),
        entity_key=entity_id(doc),
    )


_KEEP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))})
STEM_MAX = 120  # characters of a report's file name before its suffix


def report_file_stem(entity_id: object) -> str:
    """A file name (without suffix) for the report of ``entity_id``: safe on every file system.

    Letters, digits, ``_`` and ``-`` are kept; every other character is percent-encoded (its
    UTF-8 bytes). When anything had to change — an encoded character, a lower-case letter
    (two ids may differ only in case, and some file systems ignore case), a name Windows
    reserves, an empty id or one longer than ``STEM_MAX`` (cut) — ``~`` and 12 hex digits of the
    id's sha256 follow, so two different ids never share a file. ``~`` is never kept from an id,
    so a name left as it was cannot equal a changed one.

    >>> report_file_stem("91110000MA01ABCD3X"), report_file_stem("../x")
    ('91110000MA01ABCD3X', '%2E%2E%2Fx~d6b96a97d147')
    """
    text = str(entity_id)
    enc = "".join(c if c in _KEEP else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass")) for c in text)
    changed = (enc != text or not text or any(c.islower() for c in text) or text.upper() in _RESERVED
               or len(enc) > STEM_MAX)  # fmt: skip
    if not changed:
        return enc
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    head = enc[: STEM_MAX - 13]
    if "%" in head[-2:]:  # never cut an escape in half
        head = head[: head.rindex("%")]
    return f"{head}~{digest}"


def write_reports(docs: list[dict], out_dir: Path | str, fmt: str = "both") -> list[Path]:
    """Write each report as ``<name>.json`` and/or ``<name>.html`` in ``out_dir``, the name being
    :func:`report_file_stem` of the entity's id. Each file is written atomically and always
    inside ``out_dir``: a file name never comes from the data unencoded, and a symbolic link
    already standing at a report's name is replaced, never followed. With HTML, ``index.html``
    lists every report written (a sortable table: entity, grade, tier, override)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = out.resolve()
    written = []
    for doc in docs:
        stem = report_file_stem(entity_id(doc))
        for suffix, wanted in ((".json", ("json", "both")), (".html", ("html", "both"))):
            if fmt not in wanted:
                continue
            target = root / f"{stem}{suffix}"
            if Path(os.path.normpath(target)).parent != root:  # by construction never; checked all the same
                raise DataError(f"the report of {entity_id(doc)!r} would be written outside {out}")
            text = json.dumps(doc, ensure_ascii=False, indent=1) if suffix == ".json" else render_html(doc)
            write_atomic(target, text)  # replaces a link standing at the name; never writes through it
            written.append(out / target.name)
    if fmt in ("html", "both") and docs:
        write_atomic(root / INDEX, render_index(docs))
        written.append(out / INDEX)
    return written


INDEX = "index.html"


def render_index(docs: list[dict]) -> str:
    """A page listing every report written: entity, name, grade, tier, override; sortable by any column."""
    from jinja2 import Environment

    rows = []
    for doc in docs:
        d = doc["decision"]
        ov = d.get("override")
        rows.append({"file": report_file_stem(entity_id(doc)) + ".html", "id": entity_id(doc),
                     "name": doc["entity"].get("enterprise_name") or "", "grade": d["grade"], "tier": d["tier"],
                     "model_grade": d["model_grade"], "pd": d["pd"], "pd_text": pct(d["pd"]),
                     "override": f"{ov['label_zh']} · {ov['label_en']}" if ov else "",
                     "rules": ", ".join(d.get("rules_matched") or [])})  # fmt: skip
    text = resources.files("credit_grading").joinpath("templates/decision_index.html.j2").read_text("utf-8")
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    generated = docs[0].get("generated_at", "")
    return env.from_string(text).render(
        rows=rows, generated=generated, page=getattr(docs[0], "page", {}) or {}, id_label=id_label(docs[0]["entity"])
    )
