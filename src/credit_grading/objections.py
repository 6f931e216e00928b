"""Objections (异议): an entity claims a catalogue item of its graded record is wrong.

Filing records the claim against the entity's latest rescoring. Resolving it with ``accept``
re-grades the entity on the corrected record, with the model bundle and the registry file that
run named — both verified against the hashes the run log holds, so the re-grade is reproducible
from the log — writes a before/after report ``objection_<id>.json`` / ``.html`` in the folder
asked for, and logs the new decision. Every change of an objection is chained into the run log
(:mod:`credit_grading.runlog`), and the check that an objection is still open is made inside the
write transaction, so exactly one of several simultaneous resolutions wins.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import operator
import os
import re
import socket
import sqlite3
from pathlib import Path

from credit_grading import runlog
from credit_grading.exceptions import AuditError, DataError
from credit_grading.storage import describe_os_error, fsync_file, sha256_bytes, sha256_file, transaction, write_atomic

_PENDING = re.compile(r"^\.{1,2}objection_(\d+)\.(\d+)\.pending\.(?:json|html)(?:\.\d+\.tmp)?$")


def _latest_run_with(uscc: str, con: sqlite3.Connection) -> dict:
    import pyarrow.parquet as pq

    for rec in reversed(runlog.select_runs(con, "WHERE kind = 'rescore'")):
        outp = Path(rec["output_path"] or "")
        if not outp.is_file():
            continue
        idc, _ = runlog.output_key_columns(outp)
        if pq.read_table(outp, columns=[idc], filters=[(idc, "==", uscc)]).num_rows:
            return rec
    raise DataError(f"unknown entity {uscc}: no rescoring in the run log graded it")


def _corrected(row, item: str, claimed: str):
    """The entity's registry row with ``item`` replaced by the claimed value (as text, like a CSV)."""
    import pyarrow as pa

    column = pa.array([claimed], type=pa.string())
    if item in row.column_names:
        return row.set_column(row.column_names.index(item), item, column)
    return row.append_column(item, column)


def _entity_row(input_path: str | Path, uscc: str, schema):
    import pyarrow.compute as pc

    from credit_grading.registry.io import read_registry_table

    table, _ = read_registry_table(input_path, schema)
    ids = table.column(schema.id_column)
    if hasattr(ids.type, "value_type"):
        ids = ids.cast(ids.type.value_type)
    rows = table.filter(pc.equal(ids, uscc))
    if rows.num_rows == 0:
        raise DataError(f"entity {uscc} is not in the registry file {input_path} any more")
    return rows.slice(0, 1)


def _check_value(bundle, run: dict, uscc: str, item: str, claimed: str) -> None:
    """The claimed value must pass the registry contract for that item, on the entity's own row."""
    from credit_grading.registry.validate import validate_table
    from credit_grading.service import bundle_schema

    cat = bundle.catalogue
    if item not in cat or cat.item(item).derived_from is not None:
        raise DataError(f"unknown catalogue item {item!r}; items that can be objected to: "
                        f"{', '.join(i.id for i in cat.items if i.derived_from is None)}")  # fmt: skip
    schema = bundle_schema(bundle)
    res = validate_table(_corrected(_entity_row(run["input_path"], uscc, schema), item, claimed), schema)
    bad = res.rejects[res.rejects["column"] == item]
    if len(bad):
        raise DataError(f"{claimed!r} is not a valid value of {item}: {bad['detail'].iloc[0]}")


def _objection(con: sqlite3.Connection, oid: int) -> dict:
    rows = runlog.list_rows(con, "WHERE id = ?", (oid,))
    if not rows:
        raise AuditError(f"no objection {oid}")
    return rows[0]


def file_objection(uscc: str, item: str, claimed: str, reason: str, path: Path | str | None = None) -> int:
    """Record an objection against the entity's latest graded record; returns its id.

    The objection and a run-log record of kind ``objection_filed`` holding its fields commit together.
    """
    from credit_grading.bundle import load_bundle

    if not reason.strip():
        raise DataError("an objection needs a reason")
    with runlog.connect(path, create=False) as con:
        run = _latest_run_with(uscc, con)
        _check_value(load_bundle(run["bundle_path"]), run, uscc, item, claimed)
        with transaction(con):
            cur = con.execute(
                "INSERT INTO objections (filed_at, uscc, item, claimed, reason, run_seq) VALUES (?, ?, ?, ?, ?, ?)",
                (dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), uscc, item, claimed, reason, run["seq"]),
            )
            oid = int(cur.lastrowid)
            runlog.append_record(con, runlog.objection_record("objection_filed", _objection(con, oid)))
        return oid


def list_objections(path: Path | str | None = None, status: str | None = None) -> list[dict]:
    """Objections, oldest first (optionally only those with ``status``); reads without creating a database."""
    with runlog.connect_readonly(path) as con:
        return runlog.list_rows(con, "WHERE status = ?" if status else "", (status,) if status else ())


def _operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()} (pid {os.getpid()})"


def _already(obj: dict) -> AuditError:
    return AuditError(f"objection {obj['id']} was already {obj['status']} at {obj['resolved_at'] or 'an unknown time'}"
                      f" by {obj['resolved_by'] or 'an unrecorded operator'}")  # fmt: skip


def _source(run: dict, input_path: Path | str | None) -> Path:
    """The registry file the run graded, verified against the hash the run log holds."""
    recorded = run["input_sha256"]
    src = Path(input_path) if input_path is not None else Path(run["input_path"] or "")
    how = f"pass the original file with --input PATH (Python: input_path=...); its sha256 must be {recorded}"
    if recorded is None:
        raise AuditError(f"run {run['seq']} recorded no hash of its input {run['input_path']}, so the data it graded "
                         "cannot be verified; resolve the objection by re-running rescore on the corrected data")  # fmt: skip
    if not src.is_file():
        if input_path is not None:
            raise AuditError(f"--input {src} is not a file")
        raise AuditError(f"the registry file {src} that run {run['seq']} graded is gone; {how}")
    actual = sha256_file(src)
    if actual != recorded:
        if input_path is not None:
            raise AuditError(f"--input {src} is not the file run {run['seq']} graded: its sha256 is {actual}, the run "
                             f"recorded {recorded}")  # fmt: skip
        raise AuditError(f"the registry file {src} has changed since run {run['seq']} graded it: its sha256 is now "
                         f"{actual}, the run recorded {recorded}; accepting would re-grade on data the run never saw. "
                         f"{how[0].upper()}{how[1:]}")  # fmt: skip
    return src


def _regrade(run: dict, obj: dict, input_path: Path | str | None) -> tuple[dict, dict, object, Path]:
    from credit_grading.bundle import load_bundle
    from credit_grading.explain import decision_documents, explain_table
    from credit_grading.service import bundle_schema

    bundle = load_bundle(run["bundle_path"])
    if bundle.sha256 != run["bundle_sha256"]:
        raise AuditError(f"the model bundle at {run['bundle_path']} is not the one run {run['seq']} used: its sha256 is"
                         f" {bundle.sha256}, the run recorded {run['bundle_sha256']}")  # fmt: skip
    src = _source(run, input_path)
    stat = os.stat(src)
    schema = bundle_schema(bundle)
    before_t = _entity_row(src, obj["uscc"], schema)
    after = os.stat(src)
    if (stat.st_size, stat.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise AuditError(f"the registry file {src} changed while it was being read; try again")
    after_t = _corrected(before_t, obj["item"], obj["claimed"])
    before = decision_documents(explain_table(bundle, before_t, all_rows=True))[0]
    after_doc = decision_documents(explain_table(bundle, after_t, all_rows=True))[0]
    item = obj["item"]
    old = before_t.column(item)[0].as_py() if item in before_t.column_names else None
    before["old_value"] = None if old is None else str(old)
    return before, after_doc, bundle, src


def _report_paths(out_dir: Path, oid: int) -> tuple[Path, Path]:
    """``objection_<id>.json/.html`` in ``out_dir``: the name comes from the numeric id only."""
    oid = operator.index(oid)
    folder = out_dir.resolve()
    paths = (folder / f"objection_{oid}.json", folder / f"objection_{oid}.html")
    if any(p.parent != folder for p in paths):  # cannot happen with an int; kept as the guarantee
        raise AuditError(f"the report of objection {oid} would leave {folder}")
    return paths


def _check_overwrite(report_json: Path, obj: dict) -> None:
    """A report already there may only be a leftover of an interrupted resolution of this same objection."""
    if not report_json.exists():
        return
    try:
        doc = json.loads(report_json.read_text(encoding="utf-8"))
        ours = (doc.get("objection"), doc.get("run_seq"), doc.get("item"), doc.get("claimed"),
                runlog.entity_id(doc["before"])) == (obj["id"], obj["run_seq"], obj["item"], obj["claimed"],
                                                     obj["uscc"])  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        ours = False
    if not ours:
        raise AuditError(f"{report_json} already exists and is not a report of this objection {obj['id']}; choose "
                         "another --out folder (nothing was overwritten)")  # fmt: skip


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_leftovers(folder: Path, oid: int) -> None:
    """Remove pending report files of this objection left by resolutions that were killed."""
    if not folder.is_dir():
        return
    for p in folder.iterdir():
        m = _PENDING.match(p.name)
        if m and int(m[1]) == oid and int(m[2]) != os.getpid() and not _pid_alive(int(m[2])):
            with contextlib.suppress(OSError):
                p.unlink()


def resolve_objection(objection_id: int, decision: str, note: str, *, out_dir: Path | str = "objections",
                      path: Path | str | None = None, input_path: Path | str | None = None) -> dict:  # fmt: skip
    """Accept (re-grade on the corrected record, before/after report, log) or reject an objection.

    ``input_path`` supplies the registry file the objection's run graded when the file at the
    recorded path has changed or gone; it must have the sha256 the run log recorded. Exactly one
    of several simultaneous resolutions of one objection succeeds; the others raise
    :class:`~credit_grading.exceptions.AuditError` naming when and by whom it was resolved.
    """
    if decision not in ("accept", "reject"):
        raise DataError(f"--decision must be accept or reject, got {decision!r}")
    oid = operator.index(objection_id)
    out_dir = Path(out_dir)
    result: dict = {"objection": oid, "decision": decision}
    pending: list[tuple[Path, Path]] = []
    with runlog.connect(path, create=False) as con:
        obj = _objection(con, oid)
        if obj["status"] != "open":
            raise _already(obj)
        record = None
        if decision == "accept":
            run = runlog.get_run(con, obj["run_seq"])
            before, after, bundle, src = _regrade(run, obj, input_path)
            report = _before_after(oid, obj["item"], obj["claimed"], note, before, after)
            report.update(old_value=before.get("old_value"), reason=obj["reason"], filed_at=obj["filed_at"],
                          decided_at=runlog.now(), resolved_by=_operator())  # fmt: skip
            report.update(run_seq=run["seq"], source={"bundle_path": run["bundle_path"], "bundle_sha256": bundle.sha256,
                                                      "input_path": str(src.resolve()),
                                                      "input_sha256": run["input_sha256"]})  # fmt: skip
            report_json, report_html = _report_paths(out_dir, oid)
            text = json.dumps(report, ensure_ascii=False, indent=1)
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
                _check_overwrite(report_json, obj)
                pid = os.getpid()
                for final, body in ((report_html, _before_after_html(report)), (report_json, text)):
                    tmp = final.parent / f".objection_{oid}.{pid}.pending{final.suffix}"
                    pending.append((tmp, final))
                    write_atomic(tmp, body)
            except OSError as exc:
                for tmp, _ in pending:
                    tmp.unlink(missing_ok=True)
                raise DataError(describe_os_error(exc, f"writing the report of objection {oid}")) from None
            summary = {"model": {"name": bundle.name, "version": bundle.version, "bundle_sha256": bundle.sha256},
                       "output": str(report_json), "output_sha256": sha256_bytes(text.encode("utf-8")),
                       "input_sha256": run["input_sha256"], "rows_read": 1, "rows_graded": 1, "rows_rejected": 0,
                       "tier_counts": {after["decision"]["tier"]: 1}}  # fmt: skip
            record = runlog.run_record(summary, kind="objection", bundle_path=run["bundle_path"], input_path=str(src),
                                       objection_id=oid)  # fmt: skip
            result.update(before=before["decision"], after=after["decision"], report=str(report_json),
                          changed=report["changed"])  # fmt: skip
        try:
            with transaction(con):
                obj = _objection(con, oid)  # the check that decides the write, under the write lock
                if obj["status"] != "open":
                    raise _already(obj)
                if record is not None:
                    _clean_leftovers(report_json.parent, oid)
                    for tmp, final in pending:  # the .html first: a .json report always has its page
                        os.replace(tmp, final)
                    fsync_file(report_json.parent)
                    result["run_seq"] = runlog.append_record(con, record)["seq"]
                when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                con.execute("UPDATE objections SET status = ?, decision_note = ?, resolved_at = ?, report_path = ?, "
                            "resolved_by = ? WHERE id = ?",
                            ("accepted" if decision == "accept" else "rejected", note, when,
                             result.get("report"), _operator(), oid))  # fmt: skip
                runlog.append_record(con, _resolved_record(con, oid))
        finally:
            for tmp, _ in pending:
                tmp.unlink(missing_ok=True)
    return result


def _resolved_record(con: sqlite3.Connection, oid: int) -> dict:
    return runlog.objection_record("objection_resolved", _objection(con, oid))


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


def _day(stamp: str | None) -> str:
    return (stamp or "—")[:10]


def _before_after_html(report: dict) -> str:
    """The before/after page: the enterprise, the item corrected, what changed, and both decisions
    with their rules, measures and waterfalls (an outcome of M explained by its rule)."""
    from credit_grading.explain.decision import id_label, waterfall_svg
    from credit_grading.explain.readable import pct
    from credit_grading.reports.html import render, table

    before, after = report["before"], report["after"]
    ent = before["entity"]
    item = report["item"]
    label = next((f"{r['name_zh']} · {r['name_en']}" for d in (before, after) for r in d["reasons"] if r["item"] == item),
                 item)  # fmt: skip
    named = {r["item"]: f"{r['name_zh']} · {r['name_en']}" for d in (before, after) for r in d["reasons"]}
    show = lambda k, v: pct(v) if k == "pd" else "; ".join(named.get(i, i) for i in v) if isinstance(v, list) else v  # noqa: E731
    names = {"grade": "信用等级 grade", "tier": "监管类别 tier", "model_grade": "模型等级 model grade",
             "pd": "违约概率 PD", "score": "分数 score", "reasons": "主要原因 reasons"}  # fmt: skip
    rows = [{"": names.get(k, k), "更正前 before": show(k, v["before"]), "更正后 after": show(k, v["after"])}
            for k, v in report["changed"].items()]  # fmt: skip
    old = report.get("old_value")
    key = runlog.entity_id(before)
    head = [f"{ent.get('enterprise_name') or ''} · {id_label(ent)} {key}",
            f"异议事项 Item objected to: {label} — 原值 recorded value {'—' if old is None else repr(old)}, "
            f"更正为 corrected to {report['claimed']!r}.",
            f"企业陈述的理由 The enterprise's reason: {report.get('reason') or '—'}",
            f"提出日期 Filed: {_day(report.get('filed_at'))} · 决定日期 Decided: {_day(report.get('decided_at'))}"
            f" · 审核人 Reviewer: {(report.get('resolved_by') or '—').split(' (pid')[0]}",
            f"处理意见 Reviewer's note: {report['note'] or '—'}"]  # fmt: skip
    sections = [{"title": "异议 · Objection", "paragraphs": head},
                {"title": "变化 · What changed", "tables": [table(rows)] if rows else [],
                 "paragraphs": [] if rows else ["决定没有变化 · Nothing in the decision changed."]}]  # fmt: skip
    for side, doc in (("更正前 · Before", before), ("更正后 · After", after)):
        d = doc["decision"]
        page = getattr(doc, "page", None) or {}
        paras = [
            f"{d['tier']} {d.get('tier_label_zh', '')} · {d.get('tier_label_en', '')}; "
            + ("暂不分类 · not graded" if d["tier"] == "M" else f"grade {d['grade']}, PD {pct(d['pd'])}")
            + "."
        ]
        for r in page.get("rules", []):
            data = "; ".join(f"{i['name_zh']} {i['name_en']}: {i['value']}" for i in r["items"])
            paras.append(f"规则 Rule: {r['label_zh']} · {r['label_en']} ({data})"
                         + (" — 决定了结果 decided the result" if r["decided"] else ""))  # fmt: skip
        if not page.get("rules") and d.get("rules_matched"):
            paras.append("规则 Rules: " + ", ".join(d["rules_matched"]))
        paras.append("监管措施 Measures: " + "; ".join(f"{m['zh']} · {m['en']}" for m in doc["measures"]))
        reasons = [{"#": r["rank"], "item": f"{r['name_zh']} · {r['name_en']}",
                    "value": (page.get("reasons") or [{}] * 99)[i].get("value", r["value"]),
                    "effect": r["contribution"]} for i, r in enumerate(doc["reasons"])]  # fmt: skip
        sections.append({"title": side, "paragraphs": paras, "svgs": [waterfall_svg(doc)],
                         "tables": [table(reasons, title="主要原因 · Main reasons")]})  # fmt: skip
    return render(f"异议处理结果 · Objection {report['objection']}: {ent.get('enterprise_name') or key}",
                  f"{id_label(ent)} {key} · data as of {before.get('as_of') or '—'}", sections)  # fmt: skip
