"""Commands on registries and the catalogue: synth, validate, catalogue."""

from __future__ import annotations

import json
import sys
import time
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from credit_grading.cli import ConfigOpt, _parse_date, app, err, esc, out
from credit_grading.exceptions import CreditGradingError


def _print_validation(summary: dict, source: str, seconds: float) -> None:
    table = Table(title=f"Registry validation: {esc(source)}", show_header=True, header_style="bold")
    table.add_column("", style="bold")
    table.add_column("rows", justify="right")
    table.add_row("read", f"{summary['rows_read']:,}")
    table.add_row("valid", f"{summary['rows_valid']:,}")
    table.add_row("rejected", f"{summary['rows_rejected']:,}")
    for reason, count in summary["rejected_by_reason"].items():
        table.add_row(f"  {esc(reason)}", f"{count:,}")
    out.print(table)
    if summary["ignored_columns"]:
        out.print(f"Ignored columns (not in the contract): {esc(', '.join(summary['ignored_columns']))}")
    if summary["missing_optional_columns"]:
        out.print(f"Optional columns absent (read as missing): {esc(', '.join(summary['missing_optional_columns']))}")
    out.print(f"Validated in {seconds:.2f} s.")


@app.command()
def synth(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output file: .parquet or .csv.")],
    rows: Annotated[int | None, typer.Option("--rows", "-n", help="Number of entities.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed; the same seed gives the same file.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Snapshot date, YYYY-MM-DD.")] = None,
    invalid_fraction: Annotated[
        float | None, typer.Option("--invalid-fraction", help="Share of rows given one realistic defect each.")
    ] = None,
    drift: Annotated[
        float | None, typer.Option("--drift", help="0 for a base snapshot; more for a later, drifted one.")
    ] = None,
    bad_rate: Annotated[float | None, typer.Option("--bad-rate", help="Target bad rate before drift.")] = None,
    sector_drivers: Annotated[
        bool | None,
        typer.Option("--sector-drivers/--no-sector-drivers", help="Sector-specific risk drivers (for sector models)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Write a synthetic enterprise registry (Parquet or CSV by extension)."""
    from credit_grading.config import load_config
    from credit_grading.synth import generate_registry, write_registry

    cfg = load_config(config)
    s = cfg.synth
    date = _parse_date(as_of, "--as-of") if as_of else s.as_of
    n = rows if rows is not None else s.rows
    t0 = time.perf_counter()
    with err.status(f"Synthesising {n:,} entities ...", spinner="dots"):
        reg = generate_registry(
            n,
            seed=s.seed if seed is None else seed,
            as_of=date,
            bad_rate=s.bad_rate if bad_rate is None else bad_rate,
            invalid_fraction=s.invalid_fraction if invalid_fraction is None else invalid_fraction,
            drift=s.drift if drift is None else drift,
            sector_drivers=s.sector_drivers if sector_drivers is None else sector_drivers,
            catalogue=cfg.load_catalogue(),
        )
        side = write_registry(reg, out_path)
    seconds = time.perf_counter() - t0
    target = cfg.dataset.target_column
    rate = f" (bad rate {reg.table.column(target).to_numpy().mean():.2%})" if target in reg.table.column_names else ""
    out.print(f"Wrote {reg.table.num_rows:,} rows as of {date} to {esc(out_path)} in {seconds:.2f} s{rate}.")
    if side is not None:
        out.print(f"{len(reg.injected):,} rows were given a defect on purpose; their list is in {esc(side)}.")


@app.command()
def validate(
    input_path: Annotated[Path, typer.Option("--input", "-i", help="Registry file: .parquet or .csv.")],
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Write rejected rows with reasons here (.csv or .parquet).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Validate a registry file against the data contract and report rows by outcome.

    Exits 0 when the table is usable (some rows valid), 1 otherwise.
    """
    from credit_grading.config import load_config
    from credit_grading.registry import load_registry
    from credit_grading.registry.io import write_frame

    if rejects is not None:  # checked before the work: the rejects may not replace the input
        from credit_grading.registry.io import file_format
        from credit_grading.storage import check_distinct, check_writable

        file_format(rejects)
        check_distinct({"--input": input_path, "--rejects": rejects})
        check_writable(rejects, "the rejects file")
    t0 = time.perf_counter()
    with err.status(f"Validating {esc(input_path)} ...", spinner="dots"):
        result = load_registry(input_path, load_config(config))
    seconds = time.perf_counter() - t0
    summary = result.summary()
    if rejects is not None:
        write_frame(result.rejects, rejects)
    if as_json:
        out.print_json(json.dumps({**summary, "input": str(input_path), "seconds": round(seconds, 3)}))
    else:
        _print_validation(summary, str(input_path), seconds)
        if rejects is not None:
            out.print(f"Rejects written to {esc(rejects)}.")
    if result.rows_valid == 0:
        raise CreditGradingError(f"{input_path} has no valid rows: nothing can be graded")


class CatalogueFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


catalogue_app = typer.Typer(help="Show the catalogue (公共信用信息目录) or draft one from data (catalogue infer).")
app.add_typer(catalogue_app, name="catalogue")


@catalogue_app.callback(invoke_without_command=True)
def catalogue(
    ctx: typer.Context,
    fmt: Annotated[CatalogueFormat, typer.Option("--format", "-f", help="table, json or csv.")] = CatalogueFormat.table,
    config: ConfigOpt = None,
) -> None:
    """Show the public credit information catalogue (公共信用信息目录); `catalogue infer` drafts one from data."""
    if ctx.invoked_subcommand is not None:
        return
    from credit_grading.config import load_config

    cat = load_config(config).load_catalogue()
    if fmt is CatalogueFormat.json:
        out.print_json(cat.model_dump_json())
        return
    fields = ("id", "name_zh", "name_en", "source", "type", "unit", "direction", "disclosure", "personal_data")
    rows = [
        [str(getattr(it, f).value if isinstance(getattr(it, f), Enum) else getattr(it, f) or "") for f in fields]
        for it in cat.items
    ]
    if fmt is CatalogueFormat.csv:
        import pandas as pd

        from credit_grading.csvsafe import to_csv_text

        sys.stdout.write(to_csv_text(pd.DataFrame(rows, columns=list(fields))))
        return
    table = Table(title=esc(f"{cat.name_zh} / {cat.name_en} (version {cat.version}, {len(cat.items)} items)"))
    for f in fields:
        table.add_column(f)
    for r in rows:
        table.add_row(*map(esc, r))
    out.print(table)


@catalogue_app.command("infer")
def catalogue_infer(
    data: Annotated[Path, typer.Option("--data", help="The dataset (.csv or .parquet).")],
    target: Annotated[str, typer.Option("--target", help="The outcome column.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Catalogue YAML file to write.")],
    id_column: Annotated[str | None, typer.Option("--id", help="The id column (left out of the items).")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The snapshot-date column (left out).")] = None,
    bad: Annotated[
        list[str] | None,
        typer.Option(
            "--bad",
            help="A target value meaning bad (repeatable); default: 1, a "
            "value such as 'bad' or 'default', else the rarer of two values.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
) -> None:
    """Draft a catalogue from a dataset: type, range, missing values, levels and a proposed risk direction
    per column, with the evidence as comments and every item marked REVIEW."""
    from credit_grading.infer import infer_catalogue, read_table, write_catalogue_draft
    from credit_grading.storage import check_distinct

    check_distinct({"--data": data, "--out": out_path})
    draft = infer_catalogue(read_table(data), target=target, id_column=id_column, as_of_column=as_of,
                            bad_values=tuple(bad or ()))  # fmt: skip
    write_catalogue_draft(draft, out_path, source=data.name, overwrite=overwrite)
    kinds = {}
    for it in draft.items:
        kinds[it.item.type.value] = kinds.get(it.item.type.value, 0) + 1
    out.print(f"{len(draft.items)} items drafted ({', '.join(f'{n} {k}' for k, n in kinds.items())}), "
              f"{len(draft.left_out)} column(s) left out; bad rate {draft.bad_rate:.4f}"
              + (f" (bad: {', '.join(map(str, draft.bad_values))})" if draft.bad_values else "") + ".")  # fmt: skip
    out.print(f"Written to {esc(out_path)}: review every item marked REVIEW.")
