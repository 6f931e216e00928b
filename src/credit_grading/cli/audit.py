"""The audit trail and objections: audit verify/history, objection file/list/resolve."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from credit_grading.cli import AuditOpt, app, out
from credit_grading.exceptions import CreditGradingError

audit_app = typer.Typer(
    help="The decision audit trail: verify the run log, show an entity's history.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")
objection_app = typer.Typer(help="Objections (异议) to credit records: file, list, resolve.", no_args_is_help=True)
app.add_typer(objection_app, name="objection")


@audit_app.command("verify")
def audit_verify(db: AuditOpt = None) -> None:
    """Check the hash chain of the run log; exit 1 naming the first altered, removed or reordered record."""
    from credit_grading.audit import verify

    v = verify(db)
    if not v.ok:
        raise CreditGradingError(f"the run log is broken: {v.problem}")
    out.print(f"Run log intact: {v.records} record(s), every hash and link checks.")


@audit_app.command("history")
def audit_history(
    uscc: Annotated[str, typer.Option("--uscc", help="The entity's unified social credit code.")],
    db: AuditOpt = None,
) -> None:
    """Every grade and tier an entity received across runs, with model version and reasons."""
    from credit_grading.audit import history

    rows = history(uscc, db)
    if not rows:
        raise CreditGradingError(f"no run in the log graded {uscc}")
    table = Table(title=f"History of {uscc}", header_style="bold")
    for col in ("run", "time", "kind", "model", "grade", "tier", "pd", "reasons", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["seq"]), r["time"][:19], r["kind"] + (f" #{r['objection_id']}" if r["objection_id"] else ""),
                      r["model_version"] or "", str(r.get("grade", "")), str(r.get("tier", "")),
                      f"{r['pd']:.4f}" if r.get("pd") is not None else "", ", ".join(r.get("reasons", [])[:3]),
                      r["status"])  # fmt: skip
    out.print(table)


@objection_app.command("file")
def objection_file(
    uscc: Annotated[str, typer.Option("--uscc", help="The entity objecting.")],
    item: Annotated[str, typer.Option("--item", help="The catalogue item said to be wrong.")],
    claimed: Annotated[str, typer.Option("--claimed", help="The value the entity claims is right.")],
    reason: Annotated[str, typer.Option("--reason", help="Why.")],
    db: AuditOpt = None,
) -> None:
    """Record an objection to one credit record of an entity."""
    from credit_grading.audit import file_objection

    oid = file_objection(uscc, item, claimed, reason, db)
    out.print(f"Objection {oid} filed: {uscc} {item} → {claimed!r}.")


@objection_app.command("list")
def objection_list(
    status: Annotated[str | None, typer.Option("--status", help="open, accepted or rejected.")] = None,
    db: AuditOpt = None,
) -> None:
    """List objections."""
    from credit_grading.audit import list_objections

    rows = list_objections(db, status)
    table = Table(title="Objections", header_style="bold")
    for col in ("id", "filed", "uscc", "item", "claimed", "status", "reason"):
        table.add_column(col, no_wrap=col in ("uscc", "filed"))
    for r in rows:
        table.add_row(str(r["id"]), r["filed_at"][:19], r["uscc"], r["item"], r["claimed"], r["status"], r["reason"])
    out.print(table if rows else "No objections.")


class Decision(StrEnum):
    accept = "accept"
    reject = "reject"


@objection_app.command("resolve")
def objection_resolve(
    objection_id: Annotated[int, typer.Argument(help="The objection's id.")],
    decision: Annotated[Decision, typer.Option("--decision", help="accept or reject.")],
    note: Annotated[str, typer.Option("--note", help="The reviewer's note.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the before/after report.")] = Path("objections"),
    db: AuditOpt = None,
) -> None:
    """Resolve an objection; on accept the entity is re-graded and a before/after report written."""
    from credit_grading.audit import resolve_objection

    res = resolve_objection(objection_id, decision.value, note, out_dir=out_dir, path=db)
    if decision is Decision.accept:
        b, a = res["before"], res["after"]
        out.print(f"Objection {objection_id} accepted: grade {b['grade']} → {a['grade']}, tier {b['tier']} → {a['tier']}; "
                  f"report {res['report']} (+ .html); run log record {res['run_seq']}.")  # fmt: skip
    else:
        out.print(f"Objection {objection_id} rejected.")
