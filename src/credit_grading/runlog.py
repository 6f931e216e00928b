"""The run log: a hash-chained record of every grading run and objection change, in one SQLite file.

Every grading run (``rescore``, the demo, an accepted objection) appends a record: time, kind,
model name/version and bundle hash, input file hash, output file hash and per-chunk hashes, row
and tier counts, the command line. Filing and resolving an objection append a record too (kinds
``objection_filed`` and ``objection_resolved``) holding the objection's fields, so the
``objections`` table kept in the same file is covered by the chain. Each record stores the hash
of the previous one and its own hash over all its fields, so :func:`verify` finds the first
record that was altered, removed or reordered, and every objection whose row no longer matches
its last chained record. Removing the newest records leaves a shorter chain that is still
consistent: an :func:`anchor` (the head of the log, kept somewhere else) catches that.

Appends run in ``BEGIN IMMEDIATE`` transactions: two processes writing at once queue up and
never break the chain. Reading (verify, history, anchor, listing) opens the file read-only and
never creates a database.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from credit_grading.exceptions import AuditError
from credit_grading.storage import dataset_sha256, sha256_file, transaction

GENESIS = "0" * 64
FIELDS = ("seq", "time", "kind", "model_name", "model_version", "bundle_sha256", "bundle_path", "input_path",
          "input_sha256", "output_path", "output_sha256", "chunk_sha256", "rows_read", "rows_graded", "rows_rejected",
          "tier_counts", "command", "objection_id", "prev_hash")  # fmt: skip
#: Hashed only when set, so records written before the field existed keep their hash.
OPTIONAL_FIELDS = ("detail",)
COLUMNS = (*FIELDS, *OPTIONAL_FIELDS, "hash")
#: The fields of an objection, as chained by ``objection_filed`` / ``objection_resolved`` records.
OBJECTION_FIELDS = ("id", "filed_at", "uscc", "item", "claimed", "reason", "status", "run_seq", "decision_note",
                    "resolved_at", "report_path", "resolved_by")  # fmt: skip
OBJECTION_KINDS = ("objection_filed", "objection_resolved")
ANCHOR_FORMAT = "credit_grading.runlog_anchor"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  seq INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, model_name TEXT, model_version TEXT,
  bundle_sha256 TEXT, bundle_path TEXT, input_path TEXT, input_sha256 TEXT, output_path TEXT, output_sha256 TEXT,
  chunk_sha256 TEXT, rows_read INTEGER, rows_graded INTEGER, rows_rejected INTEGER, tier_counts TEXT, command TEXT,
  objection_id INTEGER, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS objections (
  id INTEGER PRIMARY KEY, filed_at TEXT NOT NULL, uscc TEXT NOT NULL, item TEXT NOT NULL, claimed TEXT NOT NULL,
  reason TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open', run_seq INTEGER NOT NULL, decision_note TEXT,
  resolved_at TEXT, report_path TEXT, resolved_by TEXT);
"""
# Columns added after the first release: (table, column, type).
_ADDED = (("runs", "detail", "TEXT"), ("objections", "resolved_by", "TEXT"))


def default_path() -> Path:
    """``$CREDIT_GRADING_AUDIT_DB`` or ``credit_grading_audit.db`` in the working directory."""
    return Path(os.environ.get("CREDIT_GRADING_AUDIT_DB") or "credit_grading_audit.db")


def _not_a_database(path: Path, exc: Exception) -> AuditError:
    if isinstance(exc, sqlite3.OperationalError):  # locked, unreadable, a folder that cannot be written, …
        return AuditError(f"cannot use the audit database {path}: {exc}")
    return AuditError(f"{path} is not a SQLite database ({exc}); --audit-db must name the audit database that "
                      "rescore and the objection commands write")  # fmt: skip


def _missing(path: Path) -> AuditError:
    return AuditError(f"no audit database at {path}: check --audit-db or $CREDIT_GRADING_AUDIT_DB (rescore creates "
                      "the database on its first run; nothing was created now)")  # fmt: skip


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in con.execute(f"PRAGMA table_info({table})")]


@contextmanager
def connect(path: Path | str | None = None, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    """A writing connection with the schema in place (autocommit; transactions are explicit).

    ``create=False`` refuses a missing file instead of creating an empty database.
    """
    p = Path(path or default_path())
    if not create and not p.is_file():
        raise _missing(p)
    try:
        con = sqlite3.connect(str(p), timeout=60, isolation_level=None)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot open the audit database {p}: {exc}") from None
    try:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
            if any(c not in _columns(con, t) for t, c, _ in _ADDED):
                with transaction(con):
                    for table, column, kind in _ADDED:
                        if column not in _columns(con, table):
                            con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        except sqlite3.DatabaseError as exc:
            raise _not_a_database(p, exc) from None
        yield con
    finally:
        con.close()


@contextmanager
def connect_readonly(path: Path | str | None = None) -> Iterator[sqlite3.Connection]:
    """A read-only connection to an existing audit database; never creates or changes a file."""
    p = Path(path or default_path())
    if not p.is_file():
        raise _missing(p)
    con = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True, timeout=60)
    try:
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise _not_a_database(p, exc) from None
        if "runs" not in tables:
            raise AuditError(f"{p} is a SQLite database but not a credit-grading audit database (it has no runs table)")
        yield con
    finally:
        con.close()


def select_runs(con: sqlite3.Connection, where: str = "", params: tuple = ()) -> list[dict]:
    """Records matching an SQL ``where`` clause (oldest first), on an open connection."""
    have = set(_columns(con, "runs"))
    cols = ", ".join(c if c in have else f"NULL AS {c}" for c in COLUMNS)
    rows = con.execute(f"SELECT {cols} FROM runs {where} ORDER BY seq", params).fetchall()
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows]


def record_hash(rec: dict) -> str:
    """sha256 of a record's fields (canonical JSON, previous hash included)."""
    body = {k: rec.get(k) for k in FIELDS}
    body.update({k: rec[k] for k in OPTIONAL_FIELDS if rec.get(k) is not None})
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def append_record(con: sqlite3.Connection, rec: dict) -> dict:
    """Append inside an open write transaction (:func:`credit_grading.storage.transaction`); returns it stored."""
    last = con.execute("SELECT seq, hash FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
    rec = dict(rec)
    rec["seq"] = 1 if last is None else last[0] + 1
    rec["prev_hash"] = GENESIS if last is None else last[1]
    rec["hash"] = record_hash(rec)
    con.execute(
        f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        [rec.get(c) for c in COLUMNS],
    )
    return rec


def now() -> str:
    """The time stamp of a record (UTC, microseconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def run_record(summary: dict, *, kind: str, bundle_path: str | None, input_path: str, command: str | None = None,
               objection_id: int | None = None) -> dict:  # fmt: skip
    """A run-log record from a rescoring summary.

    The input's sha256 is ``summary["input_sha256"]`` (taken when the run started reading it);
    only a summary without one makes this function hash the file as it is now.
    """
    input_sha = summary.get("input_sha256")
    if input_sha is None and Path(input_path).is_file():
        input_sha = sha256_file(input_path)
    return {
        "time": now(),
        "kind": kind,
        "model_name": summary["model"]["name"],
        "model_version": summary["model"]["version"],
        "bundle_sha256": summary["model"]["bundle_sha256"],
        "bundle_path": str(Path(bundle_path).resolve()) if bundle_path else None,
        "input_path": str(Path(input_path).resolve()),
        "input_sha256": input_sha,
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


def objection_state(row: dict) -> dict:
    """The chained fields of an objection row."""
    return {k: row.get(k) for k in OBJECTION_FIELDS}


def objection_record(kind: str, row: dict, command: str | None = None) -> dict:
    """A run-log record of an objection's new state (``objection_filed`` or ``objection_resolved``)."""
    if kind not in OBJECTION_KINDS:
        raise ValueError(f"kind must be one of {OBJECTION_KINDS}, got {kind!r}")
    state = objection_state(row)
    return {"time": now(), "kind": kind, "objection_id": state["id"],
            "detail": json.dumps(state, sort_keys=True, ensure_ascii=False),
            "command": command if command is not None else " ".join(sys.argv)}  # fmt: skip


def append_run(record: dict, path: Path | str | None = None) -> dict:
    """Append one record to the run log (serialised against other writers); creates the database if needed."""
    with connect(path) as con, transaction(con):
        return append_record(con, record)


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    problem: str | None = None
    first_bad_seq: int | None = None


def _check_chain(recs: list[dict]) -> Verification | None:
    prev_hash = GENESIS
    for expected_seq, rec in enumerate(recs, start=1):
        if rec["seq"] != expected_seq:
            return Verification(False, len(recs), f"record {expected_seq} is missing (the next record is "
                                f"{rec['seq']}): removed", expected_seq)  # fmt: skip
        if rec["prev_hash"] != prev_hash:
            return Verification(False, len(recs), f"record {rec['seq']} does not follow the record before it "
                                "(removed or reordered records)", rec["seq"])  # fmt: skip
        if record_hash(rec) != rec["hash"]:
            return Verification(False, len(recs), f"record {rec['seq']} was altered: its content does not match its "
                                "hash", rec["seq"])  # fmt: skip
        prev_hash = rec["hash"]
    return None


def _check_objections(recs: list[dict], rows: list[dict]) -> Verification | None:
    last: dict[int, dict] = {}
    for rec in recs:
        if rec["kind"] in OBJECTION_KINDS:
            try:
                last[rec["objection_id"]] = {"seq": rec["seq"], "state": json.loads(rec["detail"] or "null")}
            except ValueError:
                return Verification(False, len(recs), f"record {rec['seq']} holds no readable objection", rec["seq"])
    n = len(recs)
    for row in rows:
        state, chained = objection_state(row), last.pop(row["id"], None)
        if chained is None:
            return Verification(False, n, f"objection {row['id']} is in the objections table but no run-log record "
                                "holds it: it was added outside credit-grading")  # fmt: skip
        if chained["state"] != state:
            diff = [k for k in OBJECTION_FIELDS if (chained["state"] or {}).get(k) != state[k]]
            what = ", ".join(f"{k} is {state[k]!r} but record {chained['seq']} says "
                             f"{(chained['state'] or {}).get(k)!r}" for k in diff)  # fmt: skip
            return Verification(False, n, f"objection {row['id']} was edited outside credit-grading: {what}",
                                chained["seq"])  # fmt: skip
    if last:
        oid, chained = min(last.items())
        return Verification(False, n, f"objection {oid} was removed from the objections table (run-log record "
                            f"{chained['seq']} holds it)", chained["seq"])  # fmt: skip
    return None


def _check_anchor(recs: list[dict], anchor: dict) -> Verification | None:
    n, seq, when = len(recs), anchor["seq"], anchor["time"]
    if n < anchor["records"]:
        return Verification(False, n, f"the run log has {n} record(s) but the anchor of {when} recorded "
                            f"{anchor['records']}: records were removed (the log was truncated)", n + 1)  # fmt: skip
    if seq and recs[seq - 1]["hash"] != anchor["hash"]:
        return Verification(False, n, f"record {seq} is not the one the anchor of {when} recorded (hash "
                            f"{recs[seq - 1]['hash']} now, {anchor['hash']} in the anchor): the log was rewritten",
                            seq)  # fmt: skip
    return None


def verify(path: Path | str | None = None, anchor: dict | None = None) -> Verification:
    """Check the chain (every record's hash, its link to the previous one, no gaps), that each
    objection matches its last chained record, and, given an :func:`anchor`, that the log still
    reaches the anchored head with the same hash."""
    with connect_readonly(path) as con:
        recs = select_runs(con)
        rows = list_rows(con)
    for bad in (_check_chain(recs), _check_objections(recs, rows), anchor and _check_anchor(recs, anchor)):
        if bad:
            return bad
    return Verification(True, len(recs))


def list_rows(con: sqlite3.Connection, where: str = "", params: tuple = ()) -> list[dict]:
    """Objection rows (all their columns) as dicts."""
    if "objections" not in {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}:
        return []
    have = set(_columns(con, "objections"))
    cols = ", ".join(c if c in have else f"NULL AS {c}" for c in OBJECTION_FIELDS)
    rows = con.execute(f"SELECT {cols} FROM objections {where} ORDER BY id", params).fetchall()
    return [dict(zip(OBJECTION_FIELDS, r, strict=True)) for r in rows]


def anchor(path: Path | str | None = None) -> dict:
    """The head of the log — keep it somewhere else; ``verify(anchor=…)`` then detects truncation and rewrites."""
    with connect_readonly(path) as con:
        head = con.execute("SELECT seq, hash FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
        count = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    seq, h = head if head else (0, GENESIS)
    return {"format": ANCHOR_FORMAT, "format_version": 1, "database": str(Path(path or default_path()).resolve()),
            "seq": seq, "hash": h, "records": count, "time": now()}  # fmt: skip


def load_anchor(file: Path | str) -> dict:
    """Read an anchor written by :func:`anchor` (``credit-grading audit anchor --out FILE``)."""
    p = Path(file)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditError(f"no anchor file at {p}") from None
    except (OSError, ValueError) as exc:
        raise AuditError(f"{p} is not a run-log anchor (written by credit-grading audit anchor): {exc}") from None
    ok = (isinstance(doc, dict) and doc.get("format") == ANCHOR_FORMAT and isinstance(doc.get("seq"), int)
          and isinstance(doc.get("records"), int) and isinstance(doc.get("hash"), str) and doc["seq"] >= 0
          and doc["records"] == doc["seq"] and len(doc["hash"]) == 64)  # fmt: skip
    if not ok:
        raise AuditError(f"{p} is not a run-log anchor (written by credit-grading audit anchor): it needs format "
                         f"{ANCHOR_FORMAT!r}, seq = records >= 0 and a 64-character hash")  # fmt: skip
    return doc


def runs(path: Path | str | None = None) -> list[dict]:
    """Every record of the log, oldest first."""
    with connect_readonly(path) as con:
        return select_runs(con)


def get_run(con: sqlite3.Connection, seq: int) -> dict:
    """The record ``seq`` (an :class:`AuditError` if there is none)."""
    found = select_runs(con, "WHERE seq = ?", (seq,))
    if not found:
        raise AuditError(f"run-log record {seq} does not exist")
    return found[0]


def entity_id(doc: dict) -> str:
    """The entity key of a decision document (``entity.id``; ``entity.uscc`` in format 1)."""
    ent = doc["entity"]
    return ent["id"] if "id" in ent else ent["uscc"]


def output_dataset(path: Path | str):
    """A grading output as a pyarrow dataset: one Parquet file, or a folder of them partitioned by
    as-of date (``rescore --engine spark``)."""
    import pyarrow.dataset as ds

    return ds.dataset(path, format="parquet", partitioning="hive" if Path(path).is_dir() else None)


def output_sha256(path: Path | str) -> str:
    """The sha256 a run recorded for its output: of the file, or over a dataset folder's files."""
    return dataset_sha256(Path(path)) if Path(path).is_dir() else sha256_file(path)


def output_key_columns(path: Path | str) -> tuple[str, str | None]:
    """The entity-key column of a grading output and its as-of column (None without one): the result
    schema puts the key first and the as-of date, when there is one, right after it (in a dataset
    partitioned by as-of date, the partition column)."""
    import pyarrow as pa

    dataset = output_dataset(path)
    fields = [f for f in dataset.schema if f.name != "row_number"]
    as_of = fields[1].name if len(fields) > 1 and pa.types.is_date(fields[1].type) else None
    partitions = dataset.partitioning.schema.names if getattr(dataset, "partitioning", None) is not None else []
    return fields[0].name, as_of or (partitions[0] if partitions else None)


def history(uscc: str, path: Path | str | None = None) -> list[dict]:
    """Every grade and tier the entity received, run by run (each output's hash checked first)."""
    import pyarrow.compute as pc

    out = []
    for rec in runs(path):
        if not rec["output_path"]:  # objection filed / resolved: no grading output
            continue
        entry = {"seq": rec["seq"], "time": rec["time"], "kind": rec["kind"], "model_version": rec["model_version"],
                 "objection_id": rec["objection_id"]}  # fmt: skip
        outp = Path(rec["output_path"])
        if not outp.exists():
            out.append({**entry, "status": "output missing", "output": str(outp)})
            continue
        if output_sha256(outp) != rec["output_sha256"]:
            out.append({**entry, "status": "output changed since the run (hash mismatch)", "output": str(outp)})
            continue
        if outp.suffix == ".json":  # an objection's after-report
            doc = json.loads(outp.read_text(encoding="utf-8"))
            if entity_id(doc["after"]) != uscc:
                continue
            d = doc["after"]["decision"]
            reasons = [r["item"] for r in doc["after"]["reasons"]]
            out.append(
                {**entry, "status": "ok", "grade": d["grade"], "tier": d["tier"], "pd": d["pd"], "reasons": reasons}
            )
            continue
        idc, as_of_column = output_key_columns(outp)
        table = output_dataset(outp).to_table(filter=pc.field(idc) == uscc)
        if table.num_rows == 0:
            continue
        row = table.slice(0, 1).to_pylist()[0]
        reasons = [row[k] for k in sorted(row) if k.startswith("reason_") and not k.endswith("_value") and row[k]]
        out.append({**entry, "status": "ok", "grade": row["grade"], "tier": row["tier"], "pd": row["pd"],
                    "as_of": str(row[as_of_column]) if as_of_column else None, "reasons": reasons})  # fmt: skip
    return out
