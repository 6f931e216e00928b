"""The audit trail: a tamper-evident run log, entity history, objections and their re-grading."""

import json
import multiprocessing as mp
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from credit_grading import objections
from credit_grading.batch import rescore
from credit_grading.bundle import load_bundle
from credit_grading.cli import app
from credit_grading.exceptions import AuditError, DataError
from credit_grading.objections import file_objection, list_objections, resolve_objection
from credit_grading.runlog import append_run, history, run_record, runs, verify
from credit_grading.synth import generate_registry, write_registry

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def _fake(i: int) -> dict:
    return {"time": f"2026-01-01T00:00:{i:02d}", "kind": "rescore", "model_name": "m", "model_version": "v",
            "bundle_sha256": "b" * 64, "input_path": f"/in/{i}", "input_sha256": "i" * 64, "output_path": f"/out/{i}",
            "output_sha256": "o" * 64, "chunk_sha256": "[]", "rows_read": i, "rows_graded": i, "rows_rejected": 0,
            "tier_counts": "{}", "command": "test"}  # fmt: skip


def test_the_chain_detects_altered_removed_and_reordered_records(tmp_path):
    db = tmp_path / "a.db"
    for i in range(1, 6):
        append_run(_fake(i), db)
    assert verify(db).ok and verify(db).records == 5
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET rows_read = 999 WHERE seq = 3")
    con.commit()
    v = verify(db)
    assert not v.ok and v.first_bad_seq == 3 and "altered" in v.problem
    con.execute("UPDATE runs SET rows_read = 3 WHERE seq = 3")
    con.commit()
    assert verify(db).ok
    con.execute("DELETE FROM runs WHERE seq = 2")
    con.commit()
    v = verify(db)
    assert not v.ok and v.first_bad_seq == 2 and "missing" in v.problem
    # Reordering: swap the contents of two records (renumbered to look continuous).
    db2 = tmp_path / "b.db"
    for i in range(1, 5):
        append_run(_fake(i), db2)
    con = sqlite3.connect(db2)
    r2 = con.execute("SELECT * FROM runs WHERE seq = 2").fetchone()
    r3 = con.execute("SELECT * FROM runs WHERE seq = 3").fetchone()
    con.execute("DELETE FROM runs WHERE seq IN (2, 3)")
    con.execute(f"INSERT INTO runs VALUES ({','.join('?' * len(r2))})", (2, *r3[1:]))
    con.execute(f"INSERT INTO runs VALUES ({','.join('?' * len(r3))})", (3, *r2[1:]))
    con.commit()
    v = verify(db2)
    assert not v.ok and v.first_bad_seq == 2
    res = runner.invoke(app, ["audit", "verify", "--audit-db", str(db2)])
    assert res.exit_code != 0


def _writer(db: str, start: int, n: int) -> None:
    for i in range(start, start + n):
        append_run(_fake(i % 60), db)


def test_two_processes_appending_at_once_keep_the_chain(tmp_path):
    db = str(tmp_path / "c.db")
    append_run(_fake(0), db)  # the schema exists before the race
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db, k * 100, 25)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    v = verify(db)
    assert v.ok and v.records == 51


@pytest.fixture(scope="module")
def graded_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    db = root / "audit.db"
    bundle = load_bundle(DATA / "bundle_v1")
    reg = root / "r.parquet"
    write_registry(generate_registry(3_000, seed=91, as_of="2026-06-30"), reg)
    out = root / "g.parquet"
    s = rescore(bundle, reg, out)
    append_run(run_record(s, kind="rescore", bundle_path=str(bundle.path), input_path=str(reg)), db)
    return root, db, reg, out


def test_history_and_objections(graded_run, tmp_path, monkeypatch):
    _root, db, _reg, out = graded_run
    g = pq.read_table(out).to_pandas()
    # An entity in tier D because of enforcement cases: object to the court record.
    row = g[(g["tier"].astype(str) == "C")].iloc[0]
    uscc = row["uscc"]
    h = history(uscc, db)
    assert len(h) == 1 and h[0]["grade"] == str(row["grade"]) and h[0]["status"] == "ok"
    with pytest.raises(DataError, match="unknown entity"):
        file_objection("91110000MA0000000X", "enforcement_cases_36m", "0", "no such case", db)
    with pytest.raises(DataError, match="unknown catalogue item 'nope'"):
        file_objection(uscc, "nope", "0", "r", db)
    with pytest.raises(DataError, match="is not a valid value of tax_credit_rating"):
        file_objection(uscc, "tax_credit_rating", "Z", "r", db)
    with pytest.raises(DataError, match="is not a valid value of enforcement_cases_36m"):
        file_objection(uscc, "enforcement_cases_36m", "-3", "r", db)
    oid = file_objection(uscc, "overdue_tax_filings_24m", "0", "the filings were on time", db)
    other = file_objection(uscc, "admin_penalties_24m", "0", "penalty revoked", db)
    assert [o["status"] for o in list_objections(db)] == ["open", "open"]

    # A crash before the commit leaves everything as it was.
    n_runs = len(runs(db))

    def crash(con, oid):
        raise RuntimeError("simulated crash before commit")

    with monkeypatch.context() as m:
        m.setattr(objections, "_resolved_record", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            resolve_objection(oid, "accept", "checked", out_dir=tmp_path / "obj", path=db)
    assert len(runs(db)) == n_runs and list_objections(db)[0]["status"] == "open" and verify(db).ok

    res = resolve_objection(oid, "accept", "checked with the tax office", out_dir=tmp_path / "obj", path=db)
    report = json.loads(Path(res["report"]).read_text())
    assert report["before"]["entity"]["id"] == uscc == report["after"]["entity"]["id"]
    assert report["after"]["decision"]["pd"] <= report["before"]["decision"]["pd"]  # fewer overdue filings, less risk
    assert Path(res["report"]).with_suffix(".html").exists()
    # The re-grade, then the objection's new state, both chained.
    assert [(r["kind"], r["objection_id"]) for r in runs(db)[-2:]] == [("objection", oid), ("objection_resolved", oid)]
    assert verify(db).ok
    with pytest.raises(AuditError, match="already accepted"):
        resolve_objection(oid, "reject", "again", path=db)
    rej = resolve_objection(other, "reject", "penalty stands", path=db)
    assert rej["decision"] == "reject" and len(runs(db)) == n_runs + 3
    assert [r["kind"] for r in runs(db)[n_runs:]] == ["objection", "objection_resolved", "objection_resolved"]
    h = history(uscc, db)
    assert [x["kind"] for x in h] == ["rescore", "objection"] and h[1]["grade"] == report["after"]["decision"]["grade"]


def test_cli_objections_and_audit(graded_run, tmp_path):
    _root, db, _reg, out = graded_run
    uscc = pq.read_table(out, columns=["uscc"]).column(0)[5].as_py()
    args = ["--audit-db", str(db)]
    res = runner.invoke(app, ["objection", "file", "--uscc", uscc, "--item", "env_penalties_24m", "--claimed", "0",
                              "--reason", "appeal won", *args])  # fmt: skip
    assert res.exit_code == 0, res.output
    oid = int(res.output.split()[1])
    assert uscc in runner.invoke(app, ["objection", "list", *args], terminal_width=200).output
    res = runner.invoke(app, ["objection", "resolve", str(oid), "--decision", "accept", "--note", "ok",
                              "--out", str(tmp_path / "o"), *args])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["audit", "history", "--uscc", uscc, *args], terminal_width=200)
    assert res.exit_code == 0 and f"History of {uscc}" in res.output
    assert runner.invoke(app, ["audit", "verify", *args]).exit_code == 0
    bad = runner.invoke(app, ["objection", "file", "--uscc", uscc, "--item", "tax_credit_rating", "--claimed", "Q",
                              "--reason", "r", *args])  # fmt: skip
    assert bad.exit_code != 0


def test_history_reads_an_output_written_as_a_dataset_by_as_of_date(tmp_path):
    """``rescore --engine spark`` writes a folder partitioned by as-of date; history hashes the folder
    the way the run recorded it and reads the entity's row from it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from credit_grading.storage import dataset_sha256

    out = tmp_path / "graded"
    table = pa.table({"uscc": ["A1", "B2", "C3"], "as_of": ["2025-12-31"] * 3, "grade": ["AA", "B", "C"],
                      "tier": ["A", "C", "D"], "pd": [0.01, 0.1, 0.3], "reason_1": ["x", "y", None]})  # fmt: skip
    pq.write_to_dataset(table, out, partition_cols=["as_of"])
    db = tmp_path / "audit.db"
    append_run({**_fake(1), "output_path": str(out), "output_sha256": dataset_sha256(out)}, db)
    rows = history("B2", db)
    assert [(r["status"], r["grade"], r["tier"], r["as_of"], r["reasons"]) for r in rows] == [
        ("ok", "B", "C", "2025-12-31", ["y"])
    ]
    (next(out.rglob("*.parquet"))).write_bytes(b"changed")
    assert history("B2", db)[0]["status"] == "output changed since the run (hash mismatch)"
