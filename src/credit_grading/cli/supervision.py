"""Supervision commands: inspection plans, publication lists, inspector rosters."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from credit_grading.cli import ConfigOpt, PolicyOpt, _parse_date, app, esc, out


@app.command("synth-roster")
def synth_roster(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Roster file to write (.csv or .parquet).")],
    count: Annotated[int, typer.Option("--count", "-n", min=2, help="Number of inspectors.")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Write a synthetic inspector roster (inspector_id, name, district) for inspection plans."""
    from credit_grading.registry.io import write_frame
    from credit_grading.synth import generate_inspectors

    write_frame(generate_inspectors(count, seed), out_path)
    out.print(f"Wrote {count} inspectors to {esc(out_path)}.")


@app.command("inspection-plan")
def inspection_plan(
    grades: Annotated[Path, typer.Option("--grades", help="Graded entities (the id column, tier; .parquet or .csv).")],
    inspectors: Annotated[Path, typer.Option("--inspectors", help="Inspector roster with an inspector_id column.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same plan.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Plan file to write (.csv or .parquet).")],
    policy: PolicyOpt = None,
    previous: Annotated[
        Path | None, typer.Option("--previous", help="The previous plan: its inspector-entity pairs are not repeated.")
    ] = None,
    by: Annotated[
        list[str] | None, typer.Option("--by", help="Also stratify by this column (e.g. district); repeatable.")
    ] = None,
    per_entity: Annotated[int, typer.Option("--per-entity", min=2, help="Inspectors per entity.")] = 2,
    plan_date: Annotated[str | None, typer.Option("--date", help="Plan date YYYY-MM-DD (default: today).")] = None,
) -> None:
    """Draw a random-inspection plan (双随机): entities per tier at the policy's ratios, inspectors at random."""
    from credit_grading.config.policy import load_policy
    from credit_grading.grading.inspection import draw_inspection_plan
    from credit_grading.registry.io import read_frame, write_frame
    from credit_grading.storage import write_atomic

    date = _parse_date(plan_date, "--date") if plan_date else None
    prev = read_frame(previous, what="previous plan", text=True) if previous else None
    plan = draw_inspection_plan(
        read_frame(grades, what="grades"),
        load_policy(policy),
        read_frame(inspectors, what="inspector roster", text=True),
        seed=seed,
        by=tuple(by or ()),
        previous=prev,
        inspectors_per_entity=per_entity,
        plan_date=date,
    )
    write_frame(plan.plan, out_path)
    summary = {"seed": seed, "entities_drawn": len(plan.plan), "tiers": plan.summary.to_dict("records"),
               "inspectors": len(plan.workload), "max_workload": int(plan.workload["entities"].max())}  # fmt: skip
    write_atomic(Path(f"{out_path}.summary.json"), json.dumps(summary, indent=2, ensure_ascii=False))
    table = Table(title=f"Random-inspection plan, seed {seed}", header_style="bold")
    for col in ("tier", "entities", "eligible", "ratio", "target", "drawn"):
        table.add_column(col, justify="left" if col == "tier" else "right")
    for r in plan.summary.to_dict("records"):
        table.add_row(esc(r["tier"]), f"{r['entities']:,}", f"{r['eligible']:,}", f"{r['ratio']:.0%}", f"{r['target']:,}",
                      f"{r['drawn']:,}")  # fmt: skip
    out.print(table)
    out.print(f"{len(plan.plan):,} entities, {per_entity} inspectors each, written to {esc(out_path)}.")


class ListKind(StrEnum):
    punishment = "punishment"
    honour = "honour"


ListsOpt = Annotated[
    list[Path] | None,
    typer.Option("--lists", help="List memberships (id, list, source, start, end[, listed_by]; .csv or .parquet); "
                 "repeatable."),
]  # fmt: skip


def read_lists(paths: list[Path] | None, id_column: str):
    """The memberships of every ``--lists`` file as one (None when none is given)."""
    from credit_grading.lists import combine, read_memberships

    return combine(*(read_memberships(p, id_column=id_column) for p in paths or ()))


@app.command()
def publish(
    grades: Annotated[Path, typer.Option("--grades", help="Graded entities (.parquet or .csv).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Publication list to write (.csv or .parquet).")],
    policy: PolicyOpt = None,
    config: ConfigOpt = None,
    kind: Annotated[
        ListKind,
        typer.Option(
            "--list",
            help="punishment: the policy's publication list; honour: trustworthy "
            "entities eligible for the honour list's incentives.",
        ),
    ] = ListKind.punishment,
    lists: ListsOpt = None,
) -> None:
    """Write a publication list (punishment or honour): listed entities, public items only, personal data masked."""
    from credit_grading.config import load_config
    from credit_grading.config.policy import load_policy
    from credit_grading.grading.publish import honour_list, publication_list
    from credit_grading.registry.io import read_frame, write_frame
    from credit_grading.storage import check_distinct

    for option, given in [("--grades", grades), *(("--lists", p) for p in lists or ())]:
        check_distinct({option: given, "--out": out_path})
    cfg = load_config(config)
    ds = cfg.dataset
    frame = read_frame(grades, what="grades")
    pol = load_policy(policy)
    if kind is ListKind.honour:
        listed = honour_list(frame, pol, cfg.load_catalogue(), memberships=read_lists(lists, ds.id_name),
                             id_column=ds.id_name, as_of_column=ds.as_of_column or "")  # fmt: skip
    else:
        labels = {r.id: (r.label_zh or r.id, r.label_en or r.id) for r in cfg.grading.overrides}
        listed = publication_list(frame, pol, cfg.load_catalogue(), rule_labels=labels, id_column=ds.id_name)
    write_frame(listed, out_path)
    out.print(
        f"{len(listed):,} of {len(frame):,} entities listed ({kind.value}), {listed.shape[1]} columns, written to "
        f"{esc(out_path)}."
    )
