"""Batch rescoring: ``credit-grading rescore``."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from credit_grading.cli import AuditOpt, ConfigOpt, ModelOpt, app, load_model, out
from credit_grading.cli.supervision import ListsOpt
from credit_grading.exceptions import CreditGradingError


class Engine(StrEnum):
    local = "local"
    spark = "spark"


@app.command()
def rescore(
    model: ModelOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Result file (.parquet).")],
    input_path: Annotated[
        Path | None, typer.Option("--input", "-i", help="Registry to grade (.parquet or .csv).")
    ] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Write rejected rows here (.csv/.parquet).")] = None,
    previous: Annotated[
        Path | None, typer.Option("--previous", help="The previous grading: migration, and hysteresis when set.")
    ] = None,
    reasons: Annotated[int, typer.Option("--reasons", min=0, max=20, help="Top reasons per row.")] = 3,
    reasons_for: Annotated[
        str, typer.Option("--reasons-for", help="Rows to explain: all, changed, or tiers:C,D.")
    ] = "all",
    chunk_rows: Annotated[
        int | None, typer.Option("--chunk-rows", min=1, help="Rows per chunk; memory grows with it [default: 100,000].")
    ] = None,
    engine: Annotated[
        Engine, typer.Option("--engine", help="local, or spark for registries beyond one machine.")
    ] = Engine.local,
    spark_master: Annotated[
        str, typer.Option("--spark-master", help="Spark master URL for --engine spark.")
    ] = "local[2]",
    input_table: Annotated[
        str | None,
        typer.Option("--input-table", help="With --engine spark: read this catalog table instead of --input."),
    ] = None,
    spark_partitions: Annotated[
        int | None, typer.Option("--spark-partitions", min=1, help="With --engine spark: spread the rows over N tasks.")
    ] = None,
    spark_batch_rows: Annotated[
        int | None,
        typer.Option(
            "--spark-batch-rows", min=1, help="With --engine spark: rows per Arrow batch (maxRecordsPerBatch)."
        ),
    ] = None,
    spark_conf: Annotated[
        list[str] | None,
        typer.Option("--spark-conf", help="With --engine spark: a Spark setting key=value (repeatable)."),
    ] = None,
    single_file: Annotated[
        bool,
        typer.Option("--single-file", help="With --engine spark: write one Parquet file, not a dataset by as-of date."),
    ] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Ignore a checkpoint left by an earlier run.")] = False,
    compression: Annotated[
        str, typer.Option("--compression", help="Parquet compression: lz4 (fast), zstd (small), snappy, gzip, none.")
    ] = "lz4",
    challenger: Annotated[
        bool, typer.Option("--challenger", help="Also score the GBM when the scorecard decides.")
    ] = False,
    carry: Annotated[
        list[str] | None, typer.Option("--carry", help="Copy this registry item to the output (repeatable).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an output file that already exists.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="If another job writes the same output, wait for it instead of refusing.")
    ] = False,
    validate: Annotated[
        str, typer.Option("--validate", help="read: check the items the decision reads; all: every catalogue item.")
    ] = "read",
    audit_db: AuditOpt = None,
    config: ConfigOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
    lists: ListsOpt = None,
) -> None:
    """Regrade a whole registry in batch: streamed, validated, scored, graded, explained; atomic and resumable."""
    from credit_grading.batch import DEFAULT_CHUNK_ROWS, RescoreOptions
    from credit_grading.batch import rescore as run_rescore
    from credit_grading.batch.progress import Progress
    from credit_grading.storage import check_writable

    spark_only = [name for name, given in (("--input-table", input_table), ("--spark-partitions", spark_partitions),
                                           ("--spark-batch-rows", spark_batch_rows), ("--spark-conf", spark_conf),
                                           ("--single-file", single_file)) if given]  # fmt: skip
    if engine is Engine.local and spark_only:
        raise CreditGradingError(f"{', '.join(spark_only)} work with --engine spark only")
    if engine is Engine.spark and restart:
        raise CreditGradingError("--restart is for the local engine's checkpoints: a Spark job has none (Spark "
                                 "retries failed tasks itself; a failed job leaves nothing behind)")  # fmt: skip
    if (input_path is None) == (input_table is None):
        raise CreditGradingError("give the registry to grade with --input FILE (or, with --engine spark, "
                                 "--input-table NAME): one of the two")  # fmt: skip
    bundle = load_model(model, config, verbose=verbose)
    t0 = time.perf_counter()
    from credit_grading.runlog import default_path

    check_writable(audit_db or default_path(), "the audit database")  # the run log is appended at the end
    source = str(input_path) if input_path is not None else f"table:{input_table}"

    def record(summary: dict) -> dict:  # the run log gets the run before its output appears
        from credit_grading.runlog import append_run, run_record

        rec = run_record(summary, kind="rescore", bundle_path=str(bundle.path), input_path=source)
        if input_path is None:
            rec["input_path"] = source  # a table's name, not a path
        return {"audit_seq": append_run(rec, audit_db)["seq"]}

    options = RescoreOptions(rejects_path=rejects, previous_path=previous, reasons=reasons,
                             reasons_for=reasons_for, chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
                             restart=restart, compression=compression, challenger=challenger,
                             carry=tuple(carry or ()), overwrite=overwrite, wait=None if wait else 0.0, validate=validate,
                             lists=tuple(lists or ()))  # fmt: skip
    if engine is Engine.spark:
        from credit_grading.spark import SparkOptions, rescore_file

        spark_options = SparkOptions(master=spark_master, partitions=spark_partitions,
                                     batch_rows=spark_batch_rows or options.chunk_rows,
                                     conf=SparkOptions.parse_conf(spark_conf or []), single_file=single_file,
                                     verbose=verbose)  # fmt: skip
        summary = rescore_file(bundle, input_path, output, options, spark_options, table=input_table,
                               on_complete=record)  # fmt: skip
    else:
        bar: list[Progress] = []

        def started(total: int | None, done: int) -> None:
            if done:
                out.print(f"Resuming after {done:,} rows (checkpoint in {escape(str(output))}.work).")
            bar.append(Progress(total, label="rescoring", start=done))

        try:
            summary = run_rescore(bundle, input_path, output, options, progress=lambda n: bar[0].update(n),
                                  start_callback=started, on_complete=record)  # fmt: skip
        finally:
            if bar:
                bar[0].close()
    _print_rescore_summary(summary, time.perf_counter() - t0)
    if "audit_seq" in summary:
        out.print(f"Run log record {summary['audit_seq']} appended.")
    if summary["rows_read"] and not summary["rows_graded"]:
        raise CreditGradingError(
            f"no row was graded: all {summary['rows_read']:,} rows were rejected"
            + (f" (the reasons are in {rejects})" if rejects else " (pass --rejects FILE to see why)")
        )


def _print_rescore_summary(summary: dict, seconds: float) -> None:
    model = escape(f"{summary['model']['name']} {summary['model']['version']}")
    table = Table(title=f"Rescored with {model}", header_style="bold")
    table.add_column("")
    table.add_column("rows", justify="right")
    for k in ("rows_read", "rows_graded", "rows_rejected", "rows_explained"):
        if k in summary:
            table.add_row(k.removeprefix("rows_"), f"{summary[k]:,}")
    for t, n in summary["tier_counts"].items():
        table.add_row(f"tier {t}", f"{n:,}")
    out.print(table)
    rate = summary["rows_read"] / seconds if seconds > 0 else 0
    name = escape(str(summary["output"]))
    out.print(f"{name} written in {seconds:.1f} s ({rate:,.0f} rows/s); summary in {name}.summary.json.")
