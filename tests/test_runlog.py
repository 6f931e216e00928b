"""The run log: the input hash taken at the start, anchors against truncation and rewrites, objections
covered by the chain, and reading never creating or misreading a database."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credit_grading.cli import app
from credit_grading.exceptions import AuditError
from credit_grading.runlog import (
    GENESIS,
    anchor,
    append_run,
    history,
    load_anchor,
    objection_record,
    record_hash,
    run_record,
    runs,
    verify,
)
from credit_grading.storage import sha256_file, transaction

runner = CliRunner()
MAIN = "import sys; from credit_grading.cli import main; sys.argv[0] = 'credit-grading'; main()"


def _fake(i: int) -> dict:
    return {"time": f"2026-01-01T00:00:{i:02d}", "kind": "rescore", "model_name": "m", "model_version": "v",
            "bundle_sha256": "b" * 64, "input_path": f"/in/{i}", "input_sha256": "i" * 64, "output_path": f"/out/{i}",
            "output_sha256": "o" * 64, "chunk_sha256": "[]", "rows_read": i, "rows_graded": i, "rows_rejected": 0,
            "tier_counts": "{}", "command": "test"}  # fmt: skip


def _log(path: Path, n: int) -> Path:
    for i in range(1, n + 1):
        append_run(_fake(i), path)
    return path


def _summary(tmp_path: Path, **extra) -> dict:
    return {"model": {"name": "m", "version": "1", "bundle_sha256": "b" * 64}, "output": str(tmp_path / "g.parquet"),
            "rows_read": 3, **extra}  # fmt: skip


# ------------------------------------------------------------------ item 2: the input hash from the run's start


def test_run_record_takes_the_input_hash_the_run_took_at_its_start(tmp_path):
    reg = tmp_path / "r.csv"
    reg.write_text("uscc\n1\n")
    at_start = sha256_file(reg)
    reg.write_text("uscc\n2\n")  # the file changed while the run was going
    rec = run_record(_summary(tmp_path, input_sha256=at_start), kind="rescore", bundle_path=None, input_path=str(reg))
    assert rec["input_sha256"] == at_start != sha256_file(reg)
    # Without one in the summary, the file is hashed as it is now; a missing file has no hash.
    rec = run_record(_summary(tmp_path), kind="rescore", bundle_path=None, input_path=str(reg))
    assert rec["input_sha256"] == sha256_file(reg)
    assert (
        run_record(_summary(tmp_path), kind="rescore", bundle_path=None, input_path=str(tmp_path / "gone.csv"))[
            "input_sha256"
        ]
        is None
    )


# ------------------------------------------------------------------ item 5: anchors


def test_an_anchor_detects_removed_last_records_and_a_rewritten_log(tmp_path):
    db = _log(tmp_path / "a.db", 5)
    head = anchor(db)
    assert (head["seq"], head["records"], head["hash"]) == (5, 5, runs(db)[-1]["hash"])
    assert verify(db, anchor=head).ok
    append_run(_fake(6), db)  # the log may grow after the anchor
    assert verify(db, anchor=head).ok
    # Removing the newest records (or all of them) leaves a consistent chain: only the anchor sees it.
    con = sqlite3.connect(db)
    con.execute("DELETE FROM runs WHERE seq >= 5")
    con.commit()
    assert verify(db).ok
    v = verify(db, anchor=head)
    assert not v.ok and "4 record(s) but the anchor" in v.problem and "truncated" in v.problem
    con.execute("DELETE FROM runs")
    con.commit()
    assert verify(db).ok and not verify(db, anchor=head).ok
    con.close()
    # A log rebuilt with every hash recomputed (record 3 changed) chains, but not to the anchor.
    db2 = _log(tmp_path / "b.db", 5)
    head2 = anchor(db2)
    con = sqlite3.connect(db2)
    rows = [dict(zip([d[0] for d in con.execute("SELECT * FROM runs").description], r, strict=True))
            for r in con.execute("SELECT * FROM runs ORDER BY seq")]  # fmt: skip
    prev = GENESIS
    for rec in rows:
        if rec["seq"] == 3:
            rec["rows_read"] = 999
        rec["prev_hash"] = prev
        rec["hash"] = prev = record_hash(rec)
        con.execute("UPDATE runs SET rows_read = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                    (rec["rows_read"], rec["prev_hash"], rec["hash"], rec["seq"]))  # fmt: skip
    con.commit()
    con.close()
    assert verify(db2).ok
    v = verify(db2, anchor=head2)
    assert not v.ok and v.first_bad_seq == 5 and "rewritten" in v.problem


def test_cli_anchor_and_verify_with_it(tmp_path):
    db = _log(tmp_path / "a.db", 3)
    args = ["--audit-db", str(db)]
    res = runner.invoke(app, ["audit", "anchor", *args, "--out", str(tmp_path / "head.json")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "head.json").read_text())
    assert json.loads(res.output) == doc and (doc["seq"], doc["records"]) == (3, 3)
    assert load_anchor(tmp_path / "head.json") == doc
    res = runner.invoke(app, ["audit", "anchor", *args, "--out", str(tmp_path / "head.json")])
    assert res.exit_code != 0 and "already exists" in str(res.exception)  # never overwritten by accident
    res = runner.invoke(app, ["audit", "verify", *args, "--anchor", str(tmp_path / "head.json")])
    assert res.exit_code == 0 and "(record 3) is in the chain" in " ".join(res.output.split())
    con = sqlite3.connect(db)
    con.execute("DELETE FROM runs WHERE seq = 3")
    con.commit()
    con.close()
    assert runner.invoke(app, ["audit", "verify", *args]).exit_code == 0
    res = runner.invoke(app, ["audit", "verify", *args, "--anchor", str(tmp_path / "head.json")])
    assert res.exit_code != 0 and "truncated" in str(res.exception)
    (tmp_path / "bad.json").write_text('{"seq": 1}')
    with pytest.raises(AuditError, match="is not a run-log anchor"):
        load_anchor(tmp_path / "bad.json")


# ------------------------------------------------------------------ item 5: objections are in the chain


def _objection_db(tmp_path: Path) -> Path:
    """A log with one rescore and two objections filed and chained like ``file_objection`` does."""
    from credit_grading.runlog import append_record, connect

    db = _log(tmp_path / "o.db", 1)
    with connect(db) as con:
        for i, item in enumerate(("admin_penalties_24m", "env_penalties_24m"), start=1):
            with transaction(con):
                con.execute("INSERT INTO objections (id, filed_at, uscc, item, claimed, reason, run_seq) VALUES "
                            "(?, '2026-01-02T00:00:00+00:00', '91110000MA0000000X', ?, '0', 'revoked', 1)",
                            (i, item))  # fmt: skip
                row = dict(zip([d[0] for d in con.execute("SELECT * FROM objections").description],
                               con.execute("SELECT * FROM objections WHERE id = ?", (i,)).fetchone(), strict=True))  # fmt: skip
                append_record(con, objection_record("objection_filed", row))
    return db


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UPDATE objections SET status = 'accepted' WHERE id = 2", "objection 2 was edited outside credit-grading: status"),
        ("UPDATE objections SET claimed = '5' WHERE id = 1", "objection 1 was edited outside credit-grading: claimed"),
        ("DELETE FROM objections WHERE id = 1", "objection 1 was removed from the objections table"),
        ("INSERT INTO objections (id, filed_at, uscc, item, claimed, reason, run_seq) VALUES "
         "(3, 'x', '91110000MA0000000X', 'x', '0', 'r', 1)", "objection 3 is in the objections table but no run-log"),
    ],
)  # fmt: skip
def test_editing_the_objections_table_breaks_verify(tmp_path, sql, message):
    db = _objection_db(tmp_path)
    assert verify(db).ok and [r["kind"] for r in runs(db)] == ["rescore", "objection_filed", "objection_filed"]
    con = sqlite3.connect(db)
    con.execute(sql)
    con.commit()
    con.close()
    v = verify(db)
    assert not v.ok and message in v.problem
    res = runner.invoke(app, ["audit", "verify", "--audit-db", str(db)])
    assert res.exit_code != 0 and message in str(res.exception)


def test_a_log_written_before_objections_were_chained_still_verifies(tmp_path):
    """Records of the first schema (no ``detail`` column) keep their hashes; a writer adds the column."""
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE runs (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, kind TEXT NOT NULL, model_name TEXT, "
                "model_version TEXT, bundle_sha256 TEXT, bundle_path TEXT, input_path TEXT, input_sha256 TEXT, "
                "output_path TEXT, output_sha256 TEXT, chunk_sha256 TEXT, rows_read INTEGER, rows_graded INTEGER, "
                "rows_rejected INTEGER, tier_counts TEXT, command TEXT, objection_id INTEGER, prev_hash TEXT NOT NULL, "
                "hash TEXT NOT NULL)")  # fmt: skip
    rec = {**_fake(1), "seq": 1, "prev_hash": GENESIS, "objection_id": None, "bundle_path": None}
    rec["hash"] = record_hash(rec)
    cols = list(rec)
    con.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", [rec[c] for c in cols])
    con.commit()
    con.close()
    assert verify(db).ok and verify(db).records == 1
    append_run(_fake(2), db)
    assert verify(db).ok and verify(db).records == 2


# ------------------------------------------------------------------ item 5: reading never creates a database


@pytest.mark.parametrize(
    "command",
    [["audit", "verify"], ["audit", "anchor"], ["audit", "history", "--uscc", "91110000MA0000000X"],
     ["objection", "list"]],
)  # fmt: skip
def test_reading_a_missing_database_refuses_and_creates_nothing(tmp_path, command):
    typo = tmp_path / "typo.db"
    res = runner.invoke(app, [*command, "--audit-db", str(typo)])
    assert res.exit_code != 0 and isinstance(res.exception, AuditError)
    assert f"no audit database at {typo}" in str(res.exception)
    assert list(tmp_path.iterdir()) == []


def test_python_readers_refuse_a_missing_database(tmp_path):
    from credit_grading.objections import list_objections

    for read in (verify, anchor, runs, list_objections, lambda p: history("x", p)):
        with pytest.raises(AuditError, match="no audit database"):
            read(tmp_path / "none.db")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_database_is_one_message_not_a_traceback(tmp_path):
    junk = tmp_path / "notes.db"
    junk.write_text("these are my notes, not a database\n" * 200)
    before = junk.read_bytes()
    proc = subprocess.run([sys.executable, "-c", MAIN, "audit", "verify", "--audit-db", str(junk)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{junk} is not a SQLite database" in " ".join(proc.stderr.split())
    assert junk.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]
    # Writers refuse it too, leaving it alone.
    with pytest.raises(AuditError, match="is not a SQLite database"):
        append_run(_fake(1), junk)
    assert junk.read_bytes() == before
    # A SQLite file of something else is named as such.
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(AuditError, match="not a credit-grading audit database"):
        verify(other)
