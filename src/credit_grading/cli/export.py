"""Exporting a bundle for scoring outside Python: ``export sql`` and ``export pmml``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from credit_grading.cli import ConfigOpt, ModelOpt, app, esc, load_model, out

export_app = typer.Typer(
    help="Export a model for scoring outside Python: SQL for in-database scoring, or PMML 4.4.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="File to write (never replaced without --overwrite).")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")]


class SqlDialect(StrEnum):
    sqlite = "sqlite"
    duckdb = "duckdb"
    postgres = "postgres"
    ansi = "ansi"


@export_app.command("sql")
def export_sql_cmd(
    model: ModelOpt,
    out_file: OutOpt,
    dialect: Annotated[SqlDialect, typer.Option("--dialect", help="SQL dialect of the query.")] = SqlDialect.sqlite,
    table: Annotated[str, typer.Option("--table", help="The registry table the query reads.")] = "registry",
    view: Annotated[
        str | None, typer.Option("--view", help="Write CREATE VIEW <name> AS … instead of a bare SELECT.")
    ] = None,
    reasons: Annotated[int, typer.Option("--reasons", min=0, max=10, help="Reason codes per row.")] = 3,
    config: ConfigOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write one SQL SELECT that scores and grades a registry table exactly as the engine does."""
    from credit_grading.export import check_output, export_sql

    check_output(out_file, overwrite=overwrite)  # before the model is loaded: fail fast
    bundle = load_model(model, config)
    path = export_sql(bundle, out_file, dialect_name=dialect.value, table=table, view=view, reasons=reasons,
                      overwrite=overwrite)  # fmt: skip
    out.print(f"Wrote {esc(path)}: {dialect.value} SQL of model {esc(bundle.name)} version {esc(bundle.version)} "
              f"(bundle sha256 {bundle.sha256[:12]}…), reading table {esc(table)}.")  # fmt: skip


@export_app.command("pmml")
def export_pmml_cmd(
    model: ModelOpt,
    out_file: OutOpt,
    config: ConfigOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write the scorecard as a PMML 4.4 Scorecard (with its calibration and grades where PMML can say them)."""
    from credit_grading.export import check_output, export_pmml

    check_output(out_file, overwrite=overwrite)  # before the model is loaded: fail fast
    bundle = load_model(model, config)
    path = export_pmml(bundle, out_file, overwrite=overwrite)
    out.print(f"Wrote {esc(path)}: PMML 4.4 scorecard of model {esc(bundle.name)} version {esc(bundle.version)} "
              f"(bundle sha256 {bundle.sha256[:12]}…).")  # fmt: skip
