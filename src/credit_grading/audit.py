"""The decision audit trail: a hash-chained run log and objections (异议), in one SQLite file.

Every grading run (``rescore``, the demo, an accepted objection) appends a record: time, kind,
model name/version and bundle hash, input file hash, output file hash and per-chunk hashes, row
and tier counts, the command line. Each record stores the hash of the previous one and its own
hash over all its fields, so :func:`verify` finds the first record that was altered, removed or
reordered. Appends run in ``BEGIN IMMEDIATE`` transactions: two processes writing at once queue
up and never break the chain.

Objections record a claim that a catalogue item of an entity is wrong. Resolving one with
``accept`` re-grades the entity on the corrected record with the same model, writes a
before/after report, and logs the new decision linked to the objection — the status change and
the log record commit in one transaction.

The database is ``credit_grading_audit.db`` in the working directory unless
``CREDIT_GRADING_AUDIT_DB`` or an explicit path says otherwise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from credit_grading.exceptions import CreditGradingError, DataError

GENESIS = "0" * 64
FIELDS = ("seq", "time", "kind", "model_name", "model_version", "bundle_sha256", "bundle_path", "input_path",
          "input_sha256", "output_path", "output_sha256", "chunk_sha256", "rows_read", "rows_graded", "rows_rejected",
          "tier_counts", "command", "objection_id", "prev_hash")  # fmt: skip

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, model_name TEXT, model_version TEXT,
  bundle_sha256 TEXT, bundle_path TEXT, input_path TEXT, input_sha256 TEXT, output_path TEXT, output_sha256 TEXT,
  chunk_sha256 TEXT, rows_read INTEGER, rows_graded INTEGER, rows_rejected INTEGER, tier_counts TEXT, command TEXT,
  objection_id INTEGER, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objections (
  id INTEGER PRIMARY KEY, filed_at TEXT NOT NULL, uscc TEXT NOT NULL, item TEXT NOT NULL, claimed TEXT NOT NULL,
  reason TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open', run_seq INTEGER NOT NULL, decision_note TEXT,
  resolved_at TEXT, report_path TEXT);
"""


class AuditError(CreditGradingError):
    """The audit database refuses an operation (unknown objection, tampered log, …)."""


def default_path() -> Path:
    return Path(os.environ.get("CREDIT_GRADING_AUDIT_DB") or "credit_grading_audit.db")


@contextmanager
def connect(path: Path | str | None = None):
    """A connection with the schema in place (autocommit; transactions are explicit)."""
    con = sqlite3.connect(str(path or default_path()), timeout=60, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_SCHEMA)
        yield con
    finally:
        con.close()


def record_hash(rec: dict) -> str:
    """sha256 of a record's fields (canonical JSON, previous hash included)."""
    body = json.dumps({k: rec.get(k) for k in FIELDS}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _append(con: sqlite3.Connection, rec: dict) -> dict:
    """Append inside an open write transaction; returns the stored record."""
    last = con.execute("SELECT seq, hash FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
    rec = dict(rec)
    rec["seq"] = 1 if last is None else last[0] + 1
    rec["prev_hash"] = GENESIS if last is None else last[1]
    rec["hash"] = record_hash(rec)
    cols = [*FIELDS, "hash"]
    con.execute(
        f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", [rec.get(c) for c in cols]
    )
    return rec


def _sha256_file(path: Path | str) -> str | None:
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def run_record(summary: dict, *, kind: str, bundle_path: str | None, input_path: str, command: str | None = None,
               objection_id: int | None = None) -> dict:  # fmt: skip
    """A run-log record from a rescoring summary (the input file is hashed here)."""
    return {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "kind": kind,
        "model_name": summary["model"]["name"],
        "model_version": summary["model"]["version"],
        "bundle_sha256": summary["model"]["bundle_sha256"],
        "bundle_path": str(Path(bundle_path).resolve()) if bundle_path else None,
        "input_path": str(Path(input_path).resolve()),
        "input_sha256": _sha256_file(input_path),
        "output_path": str(Path(summary["output"]).resolve()),
        "output_sha256": summary.get("output_sha256"),
        "chunk_sha256": json.dumps(summary.get("chunk_sha256", [])),
        "rows_read": summary.get("rows_read"),
        "rows_graded": summary.get("rows_graded"),
        "rows_rejected": summary.get("rows_rejected"),
        "tier_counts": json.dumps(summary.get("tier_counts", {}), sort_keys=True),
        "command": command if command is not None else " ".join(sys.argv),
        "objection_id": objection_id,
    }


def append_run(record: dict, path: Path | str | None = None) -> dict:
    """Append one record to the run log (serialised against other writers)."""
    with connect(path) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            rec = _append(con, record)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return rec


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    problem: str | None = None
    first_bad_seq: int | None = None


def verify(path: Path | str | None = None) -> Verification:
    """Check the chain: every record's hash, its link to the previous one, and no gaps."""
    with connect(path) as con:
        cols = [*FIELDS, "hash"]
        rows = con.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY seq").fetchall()
    prev_hash, expected_seq = GENESIS, 1
    for row in rows:
        rec = dict(zip(cols, row, strict=True))
        if rec["seq"] != expected_seq:
            return Verification(False, len(rows), f"record {expected_seq} is missing (the next record is "
                                f"{rec['seq']}): removed", expected_seq)  # fmt: skip
        if rec["prev_hash"] != prev_hash:
            return Verification(False, len(rows), f"record {rec['seq']} does not follow the record before it "
                                "(removed or reordered records)", rec["seq"])  # fmt: skip
        if record_hash(rec) != rec["hash"]:
            return Verification(False, len(rows), f"record {rec['seq']} was altered: its content does not match its "
                                "hash", rec["seq"])  # fmt: skip
        prev_hash, expected_seq = rec["hash"], expected_seq + 1
    return Verification(True, len(rows))


def runs(path: Path | str | None = None) -> list[dict]:
    with connect(path) as con:
        cols = [*FIELDS, "hash"]
        return [
            dict(zip(cols, r, strict=True)) for r in con.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY seq")
        ]


def history(uscc: str, path: Path | str | None = None) -> list[dict]:
    """Every grade and tier the entity received, run by run (each output's hash checked first)."""
    import pyarrow.parquet as pq

    out = []
    for rec in runs(path):
        entry = {"seq": rec["seq"], "time": rec["time"], "kind": rec["kind"], "model_version": rec["model_version"],
                 "objection_id": rec["objection_id"]}  # fmt: skip
        outp = Path(rec["output_path"] or "")
        if not outp.is_file():
            out.append({**entry, "status": "output missing", "output": str(outp)})
            continue
        if _sha256_file(outp) != rec["output_sha256"]:
            out.append({**entry, "status": "output changed since the run (hash mismatch)", "output": str(outp)})
            continue
        if outp.suffix == ".json":  # an objection's after-report
            doc = json.loads(outp.read_text(encoding="utf-8"))
            if doc["after"]["entity"]["uscc"] != uscc:
                continue
            d = doc["after"]["decision"]
            reasons = [r["item"] for r in doc["after"]["reasons"]]
            out.append(
                {**entry, "status": "ok", "grade": d["grade"], "tier": d["tier"], "pd": d["pd"], "reasons": reasons}
            )
            continue
        table = pq.read_table(outp, filters=[("uscc", "==", uscc)])
        if table.num_rows == 0:
            continue
        row = table.slice(0, 1).to_pylist()[0]
        reasons = [row[k] for k in sorted(row) if k.startswith("reason_") and not k.endswith("_value") and row[k]]
        out.append({**entry, "status": "ok", "grade": row["grade"], "tier": row["tier"], "pd": row["pd"],
                    "as_of": str(row.get("as_of")), "reasons": reasons})  # fmt: skip
    return out


# ---------------------------------------------------------------- objections


def _latest_run_with(uscc: str, con: sqlite3.Connection) -> dict:
    import pyarrow.parquet as pq

    cols = [*FIELDS, "hash"]
    for row in con.execute(f"SELECT {', '.join(cols)} FROM runs WHERE kind = 'rescore' ORDER BY seq DESC"):
        rec = dict(zip(cols, row, strict=True))
        outp = Path(rec["output_path"] or "")
        if outp.is_file() and pq.read_table(outp, columns=["uscc"], filters=[("uscc", "==", uscc)]).num_rows:
            return rec
    raise DataError(f"unknown entity {uscc}: no rescoring in the run log graded it")


def _corrected(row, item: str, claimed: str):
    """The entity's registry row with ``item`` replaced by the claimed value (as text, like a CSV)."""
    import pyarrow as pa

    column = pa.array([claimed], type=pa.string())
    if item in row.column_names:
        return row.set_column(row.column_names.index(item), item, column)
    return row.append_column(item, column)


def _check_value(bundle, run: dict, uscc: str, item: str, claimed: str) -> None:
    """The claimed value must pass the registry contract for that item, on the entity's own row."""
    from credit_grading.registry.validate import validate_table
    from credit_grading.service import bundle_schema

    cat = bundle.catalogue
    if item not in cat or cat.item(item).derived_from is not None:
        raise DataError(f"unknown catalogue item {item!r}; items that can be objected to: "
                        f"{', '.join(i.id for i in cat.items if i.derived_from is None)}")  # fmt: skip
    schema = bundle_schema(bundle)
    res = validate_table(_corrected(_entity_row(run, uscc, schema), item, claimed), schema)
    bad = res.rejects[res.rejects["column"] == item]
    if len(bad):
        raise DataError(f"{claimed!r} is not a valid value of {item}: {bad['detail'].iloc[0]}")


def file_objection(uscc: str, item: str, claimed: str, reason: str, path: Path | str | None = None) -> int:
    """Record an objection against the entity's latest graded record; returns its id."""
    from credit_grading.bundle import load_bundle

    if not reason.strip():
        raise DataError("an objection needs a reason")
    with connect(path) as con:
        run = _latest_run_with(uscc, con)
        _check_value(load_bundle(run["bundle_path"]), run, uscc, item, claimed)
        con.execute("BEGIN IMMEDIATE")
        try:
            cur = con.execute(
                "INSERT INTO objections (filed_at, uscc, item, claimed, reason, run_seq) VALUES (?, ?, ?, ?, ?, ?)",
                (dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), uscc, item, claimed, reason, run["seq"]),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return int(cur.lastrowid)


def list_objections(path: Path | str | None = None, status: str | None = None) -> list[dict]:
    with connect(path) as con:
        cur = con.execute("SELECT * FROM objections" + (" WHERE status = ?" if status else "") + " ORDER BY id",
                          (status,) if status else ())  # fmt: skip
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _entity_row(run: dict, uscc: str, schema):
    import pyarrow.compute as pc

    from credit_grading.registry.io import read_registry_table

    table, _ = read_registry_table(run["input_path"], schema)
    ids = table.column(schema.id_column)
    if hasattr(ids.type, "value_type"):
        ids = ids.cast(ids.type.value_type)
    rows = table.filter(pc.equal(ids, uscc))
    if rows.num_rows == 0:
        raise DataError(f"entity {uscc} is not in the registry file {run['input_path']} any more")
    return rows.slice(0, 1)


def resolve_objection(objection_id: int, decision: str, note: str, *, out_dir: Path | str = "objections",
                      path: Path | str | None = None, _fail_before_commit: bool = False) -> dict:  # fmt: skip
    """Accept (re-grade on the corrected record, before/after report, log) or reject an objection."""
    from credit_grading.bundle import load_bundle
    from credit_grading.explain import decision_documents, explain_table
    from credit_grading.service import bundle_schema

    if decision not in ("accept", "reject"):
        raise DataError(f"--decision must be accept or reject, got {decision!r}")
    with connect(path) as con:
        row = con.execute("SELECT id, uscc, item, claimed, status, run_seq FROM objections WHERE id = ?",
                          (objection_id,)).fetchone()  # fmt: skip
        if row is None:
            raise AuditError(f"no objection {objection_id}")
        _, uscc, item, claimed, status, run_seq = row
        if status != "open":
            raise AuditError(f"objection {objection_id} is already {status}")
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        result: dict = {"objection": objection_id, "decision": decision}
        record = None
        report_path = None
        if decision == "accept":
            cols = [*FIELDS, "hash"]
            run = dict(zip(cols, con.execute(f"SELECT {', '.join(cols)} FROM runs WHERE seq = ?", (run_seq,)).fetchone(),
                           strict=True))  # fmt: skip
            bundle = load_bundle(run["bundle_path"])
            if bundle.sha256 != run["bundle_sha256"]:
                raise AuditError(f"the model bundle at {run['bundle_path']} is not the one run {run_seq} used")
            schema = bundle_schema(bundle)
            before_t = _entity_row(run, uscc, schema)
            after_t = _corrected(before_t, item, claimed)
            before = decision_documents(explain_table(bundle, before_t, all_rows=True))[0]
            after = decision_documents(explain_table(bundle, after_t, all_rows=True))[0]
            report_path = Path(out_dir) / f"objection_{objection_id}_{uscc}.json"
            report = _before_after(objection_id, item, claimed, note, before, after)
            report_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = report_path.with_name(f".{report_path.name}.tmp")
            tmp.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
            html_tmp = report_path.with_suffix(".html.tmp")
            html_tmp.write_text(_before_after_html(report), encoding="utf-8")
            tmp.replace(report_path)
            html_tmp.replace(report_path.with_suffix(".html"))
            summary = {"model": {"name": bundle.name, "version": bundle.version, "bundle_sha256": bundle.sha256},
                       "output": str(report_path), "output_sha256": _sha256_file(report_path), "rows_read": 1,
                       "rows_graded": 1, "rows_rejected": 0, "tier_counts": {after["decision"]["tier"]: 1}}  # fmt: skip
            record = run_record(summary, kind="objection", bundle_path=run["bundle_path"], input_path=run["input_path"],
                                objection_id=objection_id)  # fmt: skip
            record["input_sha256"] = run["input_sha256"]
            result.update(before=before["decision"], after=after["decision"], report=str(report_path),
                          changed=report["changed"])  # fmt: skip
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("UPDATE objections SET status = ?, decision_note = ?, resolved_at = ?, report_path = ? WHERE id = ?",
                        ("accepted" if decision == "accept" else "rejected", note, now,
                         str(report_path) if report_path else None, objection_id))  # fmt: skip
            if record is not None:
                result["run_seq"] = _append(con, record)["seq"]
            if _fail_before_commit:
                raise RuntimeError("simulated crash before commit")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return result


def _before_after(oid: int, item: str, claimed: str, note: str, before: dict, after: dict) -> dict:
    keys = ("grade", "tier", "model_grade", "pd", "score")
    changed = {k: {"before": before["decision"].get(k), "after": after["decision"].get(k)}
               for k in keys if before["decision"].get(k) != after["decision"].get(k)}  # fmt: skip
    rb = [r["item"] for r in before["reasons"]]
    ra = [r["item"] for r in after["reasons"]]
    if rb != ra:
        changed["reasons"] = {"before": rb, "after": ra}
    return {"format": "credit_grading.objection_report", "format_version": 1, "objection": oid, "item": item,
            "claimed": claimed, "note": note, "changed": changed, "before": before, "after": after}  # fmt: skip


def _before_after_html(report: dict) -> str:
    from credit_grading.reports.html import render, table

    rows = [{"": k, "before": v["before"] if not isinstance(v["before"], list) else ", ".join(v["before"]),
             "after": v["after"] if not isinstance(v["after"], list) else ", ".join(v["after"])}
            for k, v in report["changed"].items()]  # fmt: skip
    sections = [{"title": "异议 · Objection", "paragraphs": [f"{report['item']} corrected to {report['claimed']!r}. "
                                                           f"{report['note']}"]},
                {"title": "变化 · What changed", "tables": [table(rows)] if rows else [],
                 "paragraphs": [] if rows else ["Nothing in the decision changed."]}]  # fmt: skip
    for side in ("before", "after"):
        doc = report[side]
        reasons = [{"#": r["rank"], "item": f"{r['name_zh']} · {r['name_en']}", "value": r["value"],
                    "contribution": r["contribution"]} for r in doc["reasons"]]  # fmt: skip
        d = doc["decision"]
        sections.append({"title": f"{'更正前 · Before' if side == 'before' else '更正后 · After'}",
                         "paragraphs": [f"Grade {d['grade']}, tier {d['tier']}, PD {d['pd']:.4f}."],
                         "tables": [table(reasons)]})  # fmt: skip
    return render(f"异议处理 · Objection {report['objection']}", report["before"]["entity"]["uscc"], sections)
