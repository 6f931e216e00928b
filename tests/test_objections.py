"""Objections: re-grading only on the data the run graded, one resolution of many, literal console output,
and no half-done resolution after a kill."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from credit_grading import objections
from credit_grading.batch import rescore
from credit_grading.cli import app
from credit_grading.exceptions import AuditError
from credit_grading.objections import file_objection, list_objections, resolve_objection
from credit_grading.runlog import append_run, run_record, runs, verify
from credit_grading.storage import sha256_file
from credit_grading.synth import generate_registry, write_registry

runner = CliRunner()
MAIN = "import sys; from credit_grading.cli import main; sys.argv[0] = 'credit-grading'; main()"


def _graded(root: Path, bundle, rows: int = 200, seed: int = 5) -> tuple[Path, Path, Path, list[str]]:
    """A registry, its rescoring and the run-log record; returns (db, registry, output, usccs)."""
    root.mkdir(parents=True, exist_ok=True)
    reg, out, db = root / "r.parquet", root / "g.parquet", root / "audit.db"
    write_registry(generate_registry(rows, seed=seed, as_of="2026-06-30"), reg)
    s = rescore(bundle, reg, out)
    append_run(run_record(s, kind="rescore", bundle_path=str(bundle.path), input_path=str(reg)), db)
    return db, reg, out, pq.read_table(out, columns=["uscc"]).column(0).to_pylist()


@pytest.fixture(scope="module")
def base(bundle, tmp_path_factory):
    return _graded(tmp_path_factory.mktemp("objections"), bundle)


@pytest.fixture()
def fresh(base, tmp_path):
    """A private copy of the base run log (the registry and grades it names are shared, read-only)."""
    db, reg, out, usccs = base
    mine = tmp_path / "audit.db"
    shutil.copy(db, mine)
    return mine, reg, out, usccs


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", MAIN, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


# ------------------------------------------------------------------ item 3: re-grade the data the run graded


def test_accept_refuses_a_changed_registry_and_takes_the_original_with_input(bundle, tmp_path):
    db, reg, _out, usccs = _graded(tmp_path / "run", bundle, seed=6)
    original = tmp_path / "original.parquet"
    shutil.copy(reg, original)
    recorded = sha256_file(reg)
    oid = file_objection(usccs[3], "overdue_tax_filings_24m", "0", "filed on time", db)
    reg.unlink()  # moved away after the run
    with pytest.raises(AuditError, match=f"is gone; pass the original file with --input PATH .*must be {recorded}"):
        resolve_objection(oid, "accept", "ok", out_dir=tmp_path / "o", path=db)
    # The registry file is replaced by a later snapshot after the run.
    write_registry(generate_registry(200, seed=6, as_of="2026-09-30"), reg)
    now = sha256_file(reg)
    assert now != recorded
    with pytest.raises(AuditError) as err:
        resolve_objection(oid, "accept", "ok", out_dir=tmp_path / "o", path=db)
    msg = str(err.value)
    assert recorded in msg and now in msg and "--input" in msg and "input_path=" in msg
    assert list_objections(db)[0]["status"] == "open" and not (tmp_path / "o").exists()
    # Another file with the wrong content is refused too, naming both hashes.
    with pytest.raises(AuditError, match=f"its sha256 is {now}, the run recorded {recorded}"):
        resolve_objection(oid, "accept", "ok", out_dir=tmp_path / "o", path=db, input_path=reg)
    # The original file, supplied through the CLI, is verified and used; the log names it with its hash.
    res = runner.invoke(app, ["objection", "resolve", str(oid), "--decision", "accept", "--note", "ok", "--out",
                              str(tmp_path / "o"), "--input", str(original), "--audit-db", str(db)])  # fmt: skip
    assert res.exit_code == 0, res.output
    regrade = next(r for r in runs(db) if r["kind"] == "objection")
    assert regrade["input_path"] == str(original.resolve()) and regrade["input_sha256"] == recorded
    assert regrade["bundle_path"] == str(bundle.path.resolve()) and regrade["bundle_sha256"] == bundle.sha256
    report = json.loads((tmp_path / "o" / f"objection_{oid}.json").read_text())
    assert report["source"] == {"bundle_path": str(bundle.path.resolve()), "bundle_sha256": bundle.sha256,
                                "input_path": str(original.resolve()), "input_sha256": recorded}  # fmt: skip
    assert regrade["output_sha256"] == sha256_file(tmp_path / "o" / f"objection_{oid}.json")
    # The before side is the entity as the run graded it: same grade as in the run's output.
    graded = pq.read_table(_out, filters=[("uscc", "==", usccs[3])]).to_pylist()[0]
    assert report["before"]["decision"]["grade"] == graded["grade"]
    assert abs(report["before"]["decision"]["pd"] - graded["pd"]) < 1e-12
    assert verify(db).ok


# ------------------------------------------------------------------ item 8: report names from the numeric id only


def test_report_names_come_from_the_id_only(fresh, tmp_path):
    db, _reg, _out, usccs = fresh
    oid = file_objection(usccs[1], "enterprise_name", "../../escaped", "renamed", db)
    out_dir = tmp_path / "reports"
    before = {p for p in tmp_path.rglob("*")}
    res = resolve_objection(oid, "accept", "ok", out_dir=out_dir, path=db)
    assert Path(res["report"]) == (out_dir / f"objection_{oid}.json").resolve()
    assert sorted(p.name for p in out_dir.iterdir()) == [f"objection_{oid}.html", f"objection_{oid}.json"]
    new = {p for p in tmp_path.rglob("*")} - before
    assert all(p == out_dir or p.parent == out_dir or p.name.startswith("audit.db") for p in new), new
    # A report of another objection in the folder is never overwritten.
    other = file_objection(usccs[2], "overdue_tax_filings_24m", "0", "r", db)
    foreign = out_dir / f"objection_{other}.json"
    foreign.write_text('{"objection": 999}')
    with pytest.raises(AuditError, match="already exists and is not a report of this objection"):
        resolve_objection(other, "accept", "ok", out_dir=out_dir, path=db)
    assert foreign.read_text() == '{"objection": 999}' and list_objections(db)[1]["status"] == "open"


# ------------------------------------------------------------------ item 4: exactly one resolution wins


@pytest.mark.parametrize(
    "decisions", [("accept", "reject", "accept"), pytest.param(("accept", "accept", "accept"), marks=pytest.mark.slow)]
)
def test_three_simultaneous_resolutions_exactly_one_wins(fresh, tmp_path, decisions):
    db, _reg, _out, usccs = fresh
    oid = file_objection(usccs[4], "overdue_tax_filings_24m", "0", "r", db)
    n = len(runs(db))

    def start(i: int, decision: str) -> subprocess.Popen:
        args = ["objection", "resolve", str(oid), "--decision", decision, "--note", f"operator {i}",
                "--out", str(tmp_path / f"o{i}"), "--audit-db", str(db)]  # fmt: skip
        cmd = [sys.executable, "-c", MAIN, *args]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)

    procs = [start(i, d) for i, d in enumerate(decisions)]
    outs = [(*p.communicate(timeout=180), p.returncode) for p in procs]
    outs = [(rc, o, e) for o, e, rc in outs]
    winners = [i for i, (rc, _, _) in enumerate(outs) if rc == 0]
    assert len(winners) == 1, outs
    w = winners[0]
    obj = list_objections(db)[0]
    assert obj["status"] == ("accepted" if decisions[w] == "accept" else "rejected")
    assert obj["decision_note"] == f"operator {w}" and obj["resolved_by"]
    for i, (rc, _stdout, stderr) in enumerate(outs):
        if i != w:
            assert rc == 1 and f"objection {oid} was already {obj['status']} at {obj['resolved_at']} by" in stderr
            assert "Traceback" not in stderr and not (tmp_path / f"o{i}" / f"objection_{oid}.json").exists()
    new = runs(db)[n:]
    assert [r["kind"] for r in new] == (["objection"] if decisions[w] == "accept" else []) + ["objection_resolved"]
    assert verify(db).ok


def test_a_resolution_made_while_re_grading_wins_over_the_slower_one(fresh, tmp_path, monkeypatch):
    """The status is checked again under the write lock: a reject committed by another process during
    this process's re-grade is neither overwritten nor logged twice."""
    db, _reg, _out, usccs = fresh
    oid = file_objection(usccs[5], "overdue_tax_filings_24m", "0", "r", db)
    real = objections._regrade

    def regrade_then_someone_else_rejects(*args, **kwargs):
        res = real(*args, **kwargs)
        other = subprocess.run([sys.executable, "-c", MAIN, "objection", "resolve", str(oid), "--decision", "reject",
                                "--note", "too late?", "--audit-db", str(db)], capture_output=True, text=True)  # fmt: skip
        assert other.returncode == 0, other.stderr
        return res

    monkeypatch.setattr(objections, "_regrade", regrade_then_someone_else_rejects)
    n = len(runs(db))
    with pytest.raises(AuditError, match=f"objection {oid} was already rejected at .* by .*pid"):
        resolve_objection(oid, "accept", "mine", out_dir=tmp_path / "o", path=db)
    obj = list_objections(db)[0]
    assert obj["status"] == "rejected" and obj["decision_note"] == "too late?"
    assert [r["kind"] for r in runs(db)[n:]] == ["objection_resolved"] and verify(db).ok
    assert list((tmp_path / "o").iterdir()) == []  # no report, no pending file left


# ------------------------------------------------------------------ item 6: user data is never console markup


@pytest.mark.parametrize("value", ["[/x]", "[red]x[/red]", "[bold]"])
def test_user_values_are_printed_literally(fresh, value, monkeypatch):
    from credit_grading import cli

    monkeypatch.setattr(cli.out, "_width", 250)  # a table that wraps a cell would split the value
    db, _reg, _out, usccs = fresh
    args = ["--audit-db", str(db)]
    res = runner.invoke(app, ["objection", "file", "--uscc", usccs[6], "--item", "enterprise_name", "--claimed", value,
                              "--reason", f"why {value}", *args])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert repr(value) in res.output
    oid = int(res.output.split()[1])
    assert list_objections(db)[-1]["claimed"] == value
    listing = runner.invoke(app, ["objection", "list", *args], env={"COLUMNS": "250"})
    assert listing.exit_code == 0, listing.output
    assert value in listing.output and f"why {value}" in listing.output
    res = runner.invoke(app, ["objection", "resolve", str(oid), "--decision", "reject", "--note", value, *args])
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["objection", "list", *args], env={"COLUMNS": "250"}).exit_code == 0
    assert runner.invoke(app, ["audit", "verify", *args]).exit_code == 0


def test_an_error_naming_a_user_value_is_printed_literally(fresh, tmp_path):
    db, _reg, _out, usccs = fresh
    proc = _cli("objection", "file", "--uscc", usccs[6], "--item", "tax_credit_rating", "--claimed", "[/x]",
                "--reason", "[bold]", "--audit-db", str(db), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "'[/x]' is not a valid value of tax_credit_rating" in " ".join(proc.stderr.split())


# ------------------------------------------------------------------ item 7: killed at any point


DRIVER = textwrap.dedent(
    """
    import contextlib, json, os, random, signal, sqlite3, sys, time
    from pathlib import Path

    args = json.loads(sys.argv[1])
    db, out_dir, root = args["db"], Path(args["out"]), Path(args["root"])
    # Loaded once here so that each forked resolution starts at once.
    import pyarrow.compute, pyarrow.parquet  # noqa
    import credit_grading.bundle, credit_grading.explain, credit_grading.registry.io  # noqa
    import credit_grading.registry.validate, credit_grading.reports.html, credit_grading.service  # noqa
    from credit_grading import objections, runlog
    from credit_grading.exceptions import AuditError
    from credit_grading.storage import sha256_file

    def child(oid, point):
        kind, k = point
        if kind == "replace":  # os._exit at the k-th rename (pending html, pending json, html, json): before/after it
            real, n = os.replace, [0]
            def replace(a, b):
                n[0] += 1
                if n[0] == abs(k) and k > 0:
                    os._exit(9)
                real(a, b)
                if n[0] == abs(k) and k < 0:
                    os._exit(9)
            os.replace = replace
        elif kind == "append":  # after the k-th run-log record, before the commit
            real_append, n = runlog.append_record, [0]
            def append(con, rec):
                out = real_append(con, rec)
                n[0] += 1
                if n[0] == k:
                    os._exit(9)
                return out
            runlog.append_record = append
        elif kind == "commit":  # right after the commit
            real_tx = objections.transaction
            @contextlib.contextmanager
            def tx(con):
                with real_tx(con) as c:
                    yield c
                os._exit(9)
            objections.transaction = tx
        try:
            objections.resolve_objection(oid, "accept", "checked", out_dir=out_dir, path=db)
        except AuditError as exc:
            os._exit(3 if "was already accepted" in str(exc) else 4)
        except BaseException:
            os._exit(5)
        os._exit(0)

    def run(oid, point, delay=None):
        pid = os.fork()
        if pid == 0:
            child(oid, point)
        if delay is not None:
            time.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def observe(oid):
        v = runlog.verify(db)
        with contextlib.closing(sqlite3.connect(db)) as con:
            status = con.execute("SELECT status FROM objections WHERE id = ?", (oid,)).fetchone()[0]
            recs = con.execute("SELECT kind, output_sha256 FROM runs WHERE objection_id = ?", (oid,)).fetchall()
        rep, page = out_dir / f"objection_{oid}.json", out_dir / f"objection_{oid}.html"
        report = None
        if rep.exists():
            try:
                doc = json.loads(rep.read_text(encoding="utf-8"))
                report = {"complete": doc["objection"] == oid and "after" in doc and page.exists()
                          and page.read_text(encoding="utf-8").rstrip().endswith("</html>"),
                          "sha256": sha256_file(rep)}
            except ValueError:
                report = {"complete": False, "sha256": None}
        outside = sorted(str(p) for p in root.rglob("*") if p.is_file() and out_dir not in p.parents
                         and not p.name.startswith("audit.db"))
        leftovers = sorted(p.name for p in out_dir.glob(f"*objection_{oid}.*pending*")) if out_dir.exists() else []
        return {"ok": v.ok, "problem": v.problem, "status": status, "kinds": [r[0] for r in recs],
                "regrade_sha256": [r[1] for r in recs if r[0] == "objection"], "report": report,
                "outside": outside, "leftovers": leftovers}

    rng = random.Random(args["seed"])
    ids = list(args["ids"])
    t0 = time.perf_counter()
    assert run(ids.pop(0), ("none", 0)) == 0  # a full resolution, to time one
    duration = time.perf_counter() - t0
    injected = [("replace", 1), ("replace", 2), ("replace", 3), ("replace", 4), ("replace", -4), ("append", 1),
                ("append", 2), ("commit", 0)]
    log, oid, tries, timed_kills = [], ids.pop(0), 0, 0
    # The injected points, then SIGKILLs at seeded random times until 20 of them interrupted a resolution.
    while injected or (timed_kills < args["timed_kills"] and len(log) < 60):
        point = injected.pop(0) if injected else ("time", round(rng.uniform(0.0, duration), 4))
        code = run(oid, point, delay=point[1] if point[0] == "time" else None)
        timed_kills += point[0] == "time" and code == -signal.SIGKILL
        log.append({"oid": oid, "point": point, "code": code, "after_kill": observe(oid)})
        tries += 1
        if tries == 3 or log[-1]["after_kill"]["status"] != "open":  # re-run to completion, then the next one
            code = run(oid, ("none", 0))
            log[-1].update(rerun_code=code, after_rerun=observe(oid))
            oid, tries = ids.pop(0), 0
    if tries:
        code = run(oid, ("none", 0))
        log[-1].update(rerun_code=code, after_rerun=observe(oid))
    print(json.dumps({"duration": duration, "log": log}))
    """
)


@pytest.mark.slow
def test_killed_resolutions_leave_a_consistent_log_and_rerunning_completes(fresh, tmp_path):
    db, _reg, _out, usccs = fresh
    root = tmp_path / "work"
    root.mkdir()
    shutil.move(db, root / "audit.db")
    db = root / "audit.db"
    ids = [file_objection(usccs[10 + i], "overdue_tax_filings_24m", "0", "on time", db) for i in range(62)]
    args = {"db": str(db), "out": str(root / "reports"), "root": str(root), "ids": ids, "seed": 20260630,
            "timed_kills": 20}  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(args)], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    log = result["log"]
    timed = [e for e in log if e["point"][0] == "time" and e["code"] == -9]
    assert len(timed) >= 20 and len({e["point"][1] for e in timed}) == len(timed)  # 20 distinct moments killed
    assert all(e["code"] == 9 for e in log if e["point"][0] in ("replace", "append", "commit"))
    assert {e["after_kill"]["status"] for e in log} == {"open", "accepted"}  # kills before and after the commit
    for e in log:
        for key in ("after_kill", "after_rerun"):
            if key not in e:
                continue
            s = e[key]
            assert s["ok"], (e["point"], s["problem"])
            assert s["outside"] == []
            resolved = s["kinds"].count("objection_resolved")
            assert s["kinds"].count("objection_filed") == 1 and resolved <= 1
            if s["status"] == "open":
                assert resolved == 0 and s["regrade_sha256"] == []
                assert s["report"] is None or s["report"]["complete"], e["point"]
            else:
                assert s["status"] == "accepted" and resolved == 1 and len(s["regrade_sha256"]) == 1
                assert s["report"]["complete"] and s["report"]["sha256"] == s["regrade_sha256"][0]
        if "after_rerun" in e:  # re-running after a kill completes the job (or finds it done)
            assert e["rerun_code"] in (0, 3) and e["after_rerun"]["status"] == "accepted"
            assert e["after_rerun"]["leftovers"] == []
    assert verify(db).ok


def test_the_before_after_page_names_the_old_value_the_reason_the_dates_and_the_reviewer(fresh, tmp_path):
    db, reg, _out, usccs = fresh
    item = "overdue_tax_filings_24m"
    recorded = pq.read_table(reg, filters=[("uscc", "==", usccs[4])]).column(item)[0].as_py()
    oid = file_objection(usccs[4], item, "0", "所有申报均按时 · all filings on time", db)
    res = resolve_objection(oid, "accept", "checked with the tax bureau", out_dir=tmp_path / "o", path=db)
    report = json.loads(Path(res["report"]).read_text(encoding="utf-8"))
    assert report["old_value"] == str(recorded) and report["reason"].startswith("所有申报均按时")
    assert report["filed_at"][:10] == report["decided_at"][:10] and "@" in report["resolved_by"]
    page = (tmp_path / "o" / f"objection_{oid}.html").read_text(encoding="utf-8")
    assert f"原值 recorded value {str(recorded)!r}" in page.replace("&#39;", "'")
    for text in ("所有申报均按时", "checked with the tax bureau", report["filed_at"][:10], "审核人 Reviewer"):
        assert text in page, text
