"""Explanations and reports: explain, report, monitor."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from credit_grading.cli import ConfigOpt, ModelOpt, app, err, esc, load_model, out
from credit_grading.cli.supervision import ListsOpt, read_lists
from credit_grading.exceptions import CreditGradingError


class FailOn(StrEnum):
    stability = "stability"
    backtest = "backtest"
    any = "any"
    none = "none"


class ReportFormat(StrEnum):
    html = "html"
    json = "json"
    both = "both"


def _load_for(bundle, path: Path):
    """A registry file validated under the bundle's contract; its valid rows and the result."""
    from credit_grading.registry import load_registry
    from credit_grading.service import bundle_schema

    res = load_registry(path, bundle_schema(bundle))
    if res.rows_valid == 0:
        raise CreditGradingError(f"{path} has no valid rows")
    return res


@app.command()
def explain(
    model: ModelOpt,
    input_path: Annotated[Path, typer.Option("--input", "-i", help="Registry rows to explain (.parquet or .csv).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the reports.")],
    ids: Annotated[
        list[str] | None,
        typer.Option("--id", "--uscc", help="Explain the entity with this id (repeatable); --uscc is the same."),
    ] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="Explain every entity of this tier (A–D, M).")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Explain every entity.")] = False,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="html, json or both.")] = ReportFormat.both,
    reasons: Annotated[int, typer.Option("--reasons", min=1, max=20, help="Reasons per report.")] = 5,
    config: ConfigOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
    lists: ListsOpt = None,
) -> None:
    """Write a decision report (HTML and/or JSON) for each selected entity."""
    from credit_grading.bundle import sha256_file
    from credit_grading.explain import decision_documents, explain_table, write_reports
    from credit_grading.registry.io import read_registry_table
    from credit_grading.service import bundle_schema

    if tier is not None and tier not in ("A", "B", "C", "D", "M"):
        raise CreditGradingError(f"--tier must be one of A, B, C, D, M; got {tier!r}")
    bundle = load_model(model, config, verbose=verbose)
    t0 = time.perf_counter()
    schema = bundle_schema(bundle)
    table, _ = read_registry_table(input_path, schema)
    memberships = read_lists(lists, schema.id_column)
    res = explain_table(
        bundle, table, ids=ids or None, tier=tier, all_rows=all_rows, reasons=reasons, lists=memberships
    )
    docs = decision_documents(res, reasons=reasons, input_path=str(input_path), input_sha256=sha256_file(input_path),
                              lists=memberships)  # fmt: skip
    written = write_reports(docs, out_dir, fmt.value)
    out.print(
        f"{len(docs):,} decision report(s), {len(written):,} file(s) in {esc(out_dir)} "
        f"({time.perf_counter() - t0:.1f} s)."
    )


@app.command()
def report(
    model: ModelOpt,
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled registry rows (.parquet or .csv).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="HTML report; JSON and grade profiles beside it.")],
    previous: Annotated[
        Path | None, typer.Option("--previous", help="A previous grading, for the migration matrix.")
    ] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=10, help="Bootstrap resamples for the intervals.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    config: ConfigOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
) -> None:
    """Write the validation report: discrimination, calibration per grade, stability, binning, profiles."""
    from credit_grading.registry.io import read_frame
    from credit_grading.reports import render_profiles_html, render_validation_html, validation_report
    from credit_grading.storage import check_distinct, write_atomic

    json_path = out_path.with_suffix(".json")
    prof = out_path.with_name(out_path.stem + "_profiles.html")
    check_distinct({"--data": data, "--previous": previous, "--out": out_path, "the JSON beside --out": json_path,
                    "the profiles page beside --out": prof})  # fmt: skip
    bundle = load_model(model, config, verbose=verbose)
    loaded = _load_for(bundle, data)
    prev = read_frame(previous, what="previous grading") if previous else None
    rep = validation_report(bundle, loaded.data, previous=prev, n_boot=bootstrap, seed=seed)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out_path, render_validation_html(rep))
    write_atomic(json_path, json.dumps(rep, ensure_ascii=False, indent=1, default=str))
    write_atomic(prof, render_profiles_html(rep["profiles"]))
    d = rep["discrimination"][bundle.model.champion]
    out.print(f"Validation report {esc(out_path)} (+ {esc(json_path.name)}, {esc(prof.name)}): champion AUC {d['auc']:.4f} "
              f"[{d['auc_ci'][0]:.4f}, {d['auc_ci'][1]:.4f}], HHI {rep['concentration']['hhi']:.3f}.")  # fmt: skip


@app.command()
def monitor(
    model: ModelOpt,
    reference: Annotated[Path, typer.Option("--reference", help="The reference registry (e.g. last month).")],
    current: Annotated[Path, typer.Option("--current", help="The current registry.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for monitoring.html and monitoring.json.")],
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Which breaches exit with code 3: stability, backtest, any or none.")
    ] = FailOn.stability,
    config: ConfigOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
) -> None:
    """Monitor stability (PSI/CSI), grade shift, migration and a two-sided backtest; exit 3 on a breach
    of the kind named by --fail-on (stability by default)."""
    from credit_grading.reports import monitor as run_monitor
    from credit_grading.reports import render_monitoring_html
    from credit_grading.reports.monitor import breached
    from credit_grading.storage import write_atomic

    bundle = load_model(model, config, verbose=verbose)
    rep = run_monitor(bundle, _load_for(bundle, reference).data, _load_for(bundle, current).data)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "monitoring.json", json.dumps(rep, ensure_ascii=False, indent=1, default=str))
    write_atomic(out_dir / "monitoring.html", render_monitoring_html(rep))
    g = rep["grade_psi"]
    out.print(f"Grade PSI {g['psi']:.4f} ({g['flag']}); {len(rep['characteristics'])} characteristics checked; "
              f"report in {esc(out_dir)}.")  # fmt: skip
    for v in rep["verdict"]:
        out.print(f"  {esc(v['section'])}: {esc(v['status'])} — {esc(v['text'])}")
    failing = breached(rep, fail_on.value)
    if failing:
        err.print(f"Thresholds breached (--fail-on {fail_on.value}):\n  " + "\n  ".join(esc(b) for b in failing))
        raise typer.Exit(3)
