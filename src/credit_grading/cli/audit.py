"""The audit trail and objections: audit verify/anchor/history, objection file/list/resolve.

Values that come from users or files (codes, claimed values, reasons, notes, paths) are printed
as :class:`rich.text.Text`, never parsed as console markup.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from credit_grading.cli import AuditOpt, app, out
from credit_grading.exceptions import CreditGradingError

audit_app = typer.Typer(
    help="The decision audit trail: verify the run log, anchor its head, show an entity's history.",
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
objection_app = typer.Typer(help="Objections (异议) to credit records: file, list, resolve.", no_args_is_help=True)
app.add_typer(objection_app, name="objection")


def _t(value: object) -> Text:
    """A cell or message part printed literally."""
    return Text("" if value is None else str(value))


@audit_app.command("verify")
def audit_verify(
    db: AuditOpt = None,
    anchor: Annotated[
        Path | None,
        typer.Option("--anchor", help="An anchor written by `audit anchor`: also detect removed or rewritten records."),
    ] = None,
) -> None:
    """Check the hash chain of the run log and the objections; exit 1 naming the first problem."""
    from credit_grading.runlog import load_anchor, verify

    head = load_anchor(anchor) if anchor is not None else None
    v = verify(db, anchor=head)
    if not v.ok:
        raise CreditGradingError(f"the run log is broken: {v.problem}")
    msg = f"Run log intact: {v.records} record(s), every hash and link checks, every objection matches the log."
    if head is not None:
        msg += (f" The anchor of {head['time']} (record {head['seq']}) is in the chain; "
                f"{v.records - head['seq']} record(s) since.")  # fmt: skip
    out.print(_t(msg))


@audit_app.command("anchor")
def audit_anchor(
    db: AuditOpt = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the anchor to this (new) file, e.g. on another system.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file.")] = False,
) -> None:
    """Print the head of the run log (seq, hash, record count, time) to keep outside the database.

    `audit verify --anchor FILE` later detects records removed from the end and rewritten records.
    """
    from credit_grading.runlog import anchor
    from credit_grading.storage import describe_os_error, write_atomic

    head = anchor(db)
    text = json.dumps(head, indent=1, ensure_ascii=False) + "\n"
    if out_file is not None:
        if out_file.exists() and not force:
            raise CreditGradingError(f"{out_file} already exists; choose another --out or pass --force to replace it")
        try:
            write_atomic(out_file, text)
        except OSError as exc:
            raise CreditGradingError(describe_os_error(exc, "writing the anchor")) from None
    out.print(_t(text.rstrip("\n")), soft_wrap=True)  # JSON: never wrapped


@audit_app.command("history")
def audit_history(
    uscc: Annotated[str, typer.Option("--uscc", help="The entity's unified social credit code.")],
    db: AuditOpt = None,
) -> None:
    """Every grade and tier an entity received across runs, with model version and reasons."""
    from credit_grading.runlog import history

    rows = history(uscc, db)
    if not rows:
        raise CreditGradingError(f"no run in the log graded {uscc}")
    table = Table(title=_t(f"History of {uscc}"), header_style="bold")
    for col in ("run", "time", "kind", "model", "grade", "tier", "pd", "reasons", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        cells = (r["seq"], r["time"][:19], r["kind"] + (f" #{r['objection_id']}" if r["objection_id"] else ""),
                 r["model_version"], r.get("grade"), r.get("tier"),
                 f"{r['pd']:.4f}" if r.get("pd") is not None else "", ", ".join(r.get("reasons", [])[:3]),
                 r["status"])  # fmt: skip
        table.add_row(*(_t(c) for c in cells))
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
    from credit_grading.objections import file_objection

    oid = file_objection(uscc, item, claimed, reason, db)
    out.print(_t(f"Objection {oid} filed: {uscc} {item} → {claimed!r}."))


@objection_app.command("list")
def objection_list(
    status: Annotated[str | None, typer.Option("--status", help="open, accepted or rejected.")] = None,
    db: AuditOpt = None,
) -> None:
    """List objections."""
    from credit_grading.objections import list_objections

    rows = list_objections(db, status)
    table = Table(title="Objections", header_style="bold")
    for col in ("id", "filed", "uscc", "item", "claimed", "status", "reason"):
        table.add_column(col, no_wrap=col in ("uscc", "filed"))
    for r in rows:
        cells = (r["id"], r["filed_at"][:19], r["uscc"], r["item"], r["claimed"], r["status"], r["reason"])
        table.add_row(*(_t(c) for c in cells))
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
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="The registry file the objection's run graded, when it has moved or changed "
            "since (must have the sha256 the run log recorded).",
        ),
    ] = None,
    db: AuditOpt = None,
) -> None:
    """Resolve an objection; on accept the entity is re-graded and a before/after report written."""
    from credit_grading.objections import resolve_objection

    res = resolve_objection(objection_id, decision.value, note, out_dir=out_dir, path=db, input_path=input_path)
    if decision is Decision.accept:
        b, a = res["before"], res["after"]
        out.print(_t(f"Objection {objection_id} accepted: grade {b['grade']} → {a['grade']}, tier {b['tier']} → "
                     f"{a['tier']}; report {res['report']} (+ .html); run log record {res['run_seq']}."))  # fmt: skip
    else:
        out.print(_t(f"Objection {objection_id} rejected."))
