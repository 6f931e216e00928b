"""The ``credit-grading`` command line. Thin: it parses options and calls the library.

A :class:`~credit_grading.exceptions.CreditGradingError` becomes a one-paragraph message
on standard error and exit code 1, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from credit_grading import __version__
from credit_grading.exceptions import CreditGradingError

app = typer.Typer(
    name="credit-grading",
    help="Credit scoring and credit-classification supervision of enterprises.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration YAML (default: the built-in configs/default.yaml)."),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"credit-grading {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Credit scoring and credit-classification supervision of enterprises."""


def _parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CreditGradingError(f"{option} must be a date written YYYY-MM-DD, got {value!r}") from None


def _print_validation(summary: dict, source: str, seconds: float) -> None:
    table = Table(title=f"Registry validation: {source}", show_header=True, header_style="bold")
    table.add_column("", style="bold")
    table.add_column("rows", justify="right")
    table.add_row("read", f"{summary['rows_read']:,}")
    table.add_row("valid", f"{summary['rows_valid']:,}")
    table.add_row("rejected", f"{summary['rows_rejected']:,}")
    for reason, count in summary["rejected_by_reason"].items():
        table.add_row(f"  {reason}", f"{count:,}")
    out.print(table)
    if summary["ignored_columns"]:
        out.print(f"Ignored columns (not in the contract): {', '.join(summary['ignored_columns'])}")
    if summary["missing_optional_columns"]:
        out.print(f"Optional columns absent (read as missing): {', '.join(summary['missing_optional_columns'])}")
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
            catalogue=cfg.load_catalogue(),
        )
        side = write_registry(reg, out_path)
    seconds = time.perf_counter() - t0
    bad = reg.table.column("bad_12m").to_numpy()
    out.print(
        f"Wrote {reg.table.num_rows:,} rows as of {date} to {out_path} in {seconds:.2f} s (bad rate {bad.mean():.2%})."
    )
    if side is not None:
        out.print(f"{len(reg.injected):,} rows were given a defect on purpose; their list is in {side}.")


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
    from credit_grading.registry.io import write_table

    t0 = time.perf_counter()
    with err.status(f"Validating {input_path} ...", spinner="dots"):
        result = load_registry(input_path, load_config(config))
    seconds = time.perf_counter() - t0
    summary = result.summary()
    if rejects is not None:
        import pyarrow as pa

        write_table(pa.Table.from_pandas(result.rejects, preserve_index=False), rejects)
    if as_json:
        out.print_json(json.dumps({**summary, "input": str(input_path), "seconds": round(seconds, 3)}))
    else:
        _print_validation(summary, str(input_path), seconds)
        if rejects is not None:
            out.print(f"Rejects written to {rejects}.")
    if result.rows_valid == 0:
        raise CreditGradingError(f"{input_path} has no valid rows: nothing can be graded")


class CatalogueFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command()
def catalogue(
    fmt: Annotated[CatalogueFormat, typer.Option("--format", "-f", help="table, json or csv.")] = CatalogueFormat.table,
    config: ConfigOpt = None,
) -> None:
    """Show the public credit information catalogue (公共信用信息目录)."""
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
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(fields)
        writer.writerows(rows)
        return
    table = Table(title=f"{cat.name_zh} / {cat.name_en} (version {cat.version}, {len(cat.items)} items)")
    for f in fields:
        table.add_column(f)
    for r in rows:
        table.add_row(*r)
    out.print(table)


STEPS = 8
CARRY = ("district", "industry", "enterprise_name", "legal_rep_name", "serious_untrustworthy_flag",
         "dishonest_debtor_flag")  # fmt: skip


@app.command()
def demo(
    rows: Annotated[int, typer.Option("--rows", "-n", min=2000, help="Entities in each synthetic snapshot.")] = 100_000,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the demo writes.")] = Path(
        "out/demo"
    ),
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """The main job on built-in defaults: synthesise, train and track, rescore, explain, validate, monitor, plan, publish."""
    import os

    from credit_grading.config import load_config

    cfg = load_config()
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir = out_dir.resolve()
    own_store = "MLFLOW_TRACKING_URI" not in os.environ
    if own_store:  # the demo's runs go beside its other files
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{out_dir / 'mlflow.db'}"
    try:
        _demo(rows, out_dir, seed, cfg)
    finally:
        if own_store:
            os.environ.pop("MLFLOW_TRACKING_URI", None)


def _demo(rows: int, out_dir: Path, seed: int, cfg) -> None:
    import os
    import shutil

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from credit_grading.audit import append_run, run_record
    from credit_grading.batch import rescore as run_rescore
    from credit_grading.config.policy import load_policy
    from credit_grading.explain import decision_documents, explain_table, write_reports
    from credit_grading.grading.inspection import draw_inspection_plan
    from credit_grading.grading.publish import publication_list
    from credit_grading.pipeline import train_pipeline
    from credit_grading.registry import load_registry
    from credit_grading.registry.io import read_registry_table, write_frame
    from credit_grading.reports import monitor as run_monitor
    from credit_grading.reports import render_monitoring_html
    from credit_grading.service import bundle_schema
    from credit_grading.synth import generate_inspectors, generate_registry, write_registry
    from credit_grading.training import champion_challenger_table

    t0 = time.perf_counter()

    def stage(i: int, text: str) -> None:
        out.print(f"[bold]{i}/{STEPS}[/bold] {text} [dim](+{time.perf_counter() - t0:.1f} s)[/dim]")

    stage(1, f"Synthesising two registry snapshots a year apart, {rows:,} enterprises each "
             "(1% of the first made invalid on purpose, drift 0.3 in the second)")  # fmt: skip
    snapshots = (("2024-12-31", 0.0, 0.01), ("2025-12-31", 0.3, 0.0))
    paths = []
    for as_of, drift, invalid in snapshots:
        reg = generate_registry(rows, seed=seed, as_of=as_of, bad_rate=cfg.synth.bad_rate,
                                invalid_fraction=invalid, drift=drift)  # fmt: skip
        path = out_dir / f"registry_{as_of}.parquet"
        write_registry(reg, path)
        paths.append(path)
    training = out_dir / "training.parquet"
    pq.write_table(pa.concat_tables([pq.read_table(p) for p in paths], promote_options="permissive"), training)

    stage(
        2, "Training scorecard + GBM + calibration + grades (out-of-time test: the later snapshot), tracked in MLflow"
    )
    bundle_dir = out_dir / "model"
    res = train_pipeline(cfg, training, bundle_dir, overwrite=True)
    bundle = res.bundle
    table = Table(show_header=True, header_style="bold", title="Out-of-time test")
    for col in ("model", "AUC", "Gini", "KS", "Brier"):
        table.add_column(col, justify="left" if col == "model" else "right")
    aucs = {}
    for row in champion_challenger_table(res.training.evaluation).to_dict("records"):
        aucs[row["model"]] = row["auc"]
        cells = [row.get(k) for k in ("auc", "gini", "ks", "brier")]
        table.add_row(row["model"], *("" if v is None or v != v else f"{v:.4f}" for v in cells))
    out.print(table)
    _print_grade_table(
        pd.DataFrame(res.training.evaluation["grades"]["test"]), "Grades on the out-of-time test snapshot"
    )

    stage(3, "Rescoring both snapshots in batch (streamed, validated, graded, explained; migration between them)")
    grades = []
    for i, path in enumerate(paths):
        target = out_dir / f"grades_{snapshots[i][0]}.parquet"
        done = run_rescore(bundle, path, target, rejects_path=out_dir / f"rejects_{snapshots[i][0]}.csv",
                           previous_path=grades[-1] if grades else None, carry=CARRY)  # fmt: skip
        append_run(run_record(done, kind="rescore", bundle_path=str(bundle_dir), input_path=str(path)),
                   out_dir / "credit_grading_audit.db")  # fmt: skip
        grades.append(target)
    latest = pd.read_parquet(grades[-1])
    summary = json.loads(Path(f"{grades[-1]}.summary.json").read_text(encoding="utf-8"))

    stage(4, "Decision reports for a sample of every tier")
    sample = (latest.groupby(latest["tier"].astype(str), observed=True, group_keys=False)
              .apply(lambda g: g.head(4))["uscc"].astype(str).tolist())  # fmt: skip
    reg_table, _ = read_registry_table(paths[-1], bundle_schema(bundle))
    docs = decision_documents(explain_table(bundle, reg_table, uscc=sample), input_path=str(paths[-1]))
    write_reports(docs, out_dir / "decisions")

    stage(5, "Validation report (written into the bundle by training)")
    for name in ("validation_report.html", "validation_report.json", "grade_profiles.html"):
        shutil.copy(bundle_dir / name, out_dir / name)

    stage(6, "Monitoring report between the snapshots")
    mon = run_monitor(bundle, load_registry(paths[0], bundle_schema(bundle)).data,
                      load_registry(paths[1], bundle_schema(bundle)).data)  # fmt: skip
    (out_dir / "monitoring").mkdir(exist_ok=True)
    (out_dir / "monitoring" / "monitoring.json").write_text(json.dumps(mon, ensure_ascii=False, indent=1, default=str),
                                                           encoding="utf-8")  # fmt: skip
    (out_dir / "monitoring" / "monitoring.html").write_text(render_monitoring_html(mon), encoding="utf-8")

    stage(7, "Random-inspection plan and publication list")
    policy = load_policy()
    roster = generate_inspectors(60, seed)
    write_frame(roster, out_dir / "inspectors.csv")
    plan = draw_inspection_plan(latest, policy, roster, seed=seed, by=("district",),
                                plan_date=dt.date.fromisoformat(snapshots[-1][0]))  # fmt: skip
    write_frame(plan.plan, out_dir / "inspection_plan.csv")
    labels = {r.id: (r.label_zh or r.id, r.label_en or r.id) for r in cfg.grading.overrides}
    listed = publication_list(latest, policy, cfg.load_catalogue(), rule_labels=labels)
    write_frame(listed, out_dir / "publication_list.csv")

    stage(8, "Summary")
    tiers = summary["tier_counts"]
    out.print(f"Tiers of the {snapshots[-1][0]} snapshot: " + ", ".join(f"{t} {n:,}" for t, n in tiers.items())
              + f"; {summary['rows_rejected']:,} rows rejected.")  # fmt: skip
    out.print(
        "Out-of-time AUC: "
        + ", ".join(f"{k} {v:.4f}" for k, v in aucs.items())
        + f"; champion {bundle.model.champion}."
    )
    mig = json.loads(Path(f"{grades[-1]}.migration.json").read_text(encoding="utf-8"))
    out.print(f"Migration since {snapshots[0][0]}: {mig['downgrade_rate']:.1%} downgraded, {mig['upgrade_rate']:.1%} "
              f"upgraded; monitoring: grade PSI {mon['grade_psi']['psi']:.3f} ({mon['grade_psi']['flag']}).")  # fmt: skip
    files = Table(show_header=False, box=None)
    for what, where in (("model bundle", bundle_dir), ("grades", grades[-1]), ("decision reports", out_dir / "decisions"),
                        ("run log (audit)", out_dir / "credit_grading_audit.db"),
                        ("validation report", out_dir / "validation_report.html"),
                        ("monitoring report", out_dir / "monitoring" / "monitoring.html"),
                        ("inspection plan", out_dir / "inspection_plan.csv"),
                        ("publication list", out_dir / "publication_list.csv")):  # fmt: skip
        files.add_row(what, str(where))
    out.print(files)
    out.print(f"MLflow: mlflow ui --backend-store-uri {os.environ['MLFLOW_TRACKING_URI']}")
    out.print(f"Done in {time.perf_counter() - t0:.1f} s.")


def _print_grade_table(table_df, title: str) -> None:
    table = Table(title=title, header_style="bold")
    cols = ("grade", "tier", "pd_max", "count", "share", "bads", "bad_rate", "mean_pd", "jeffreys_p")
    for c in cols:
        table.add_column(c, justify="left" if c in ("grade", "tier") else "right")
    for r in table_df.to_dict("records"):
        table.add_row(r["grade"], r["tier"], f"{r['pd_max']:.4f}", f"{r['count']:,}", f"{r['share']:.1%}",
                      f"{r['bads']:,}", f"{r['bad_rate']:.4f}", f"{r['mean_pd']:.4f}", f"{r['jeffreys_p']:.3f}")  # fmt: skip
    out.print(table)


PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="Supervision policy YAML (default: the built-in configs/supervision.yaml)."),
]


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
    out.print(f"Wrote {count} inspectors to {out_path}.")


@app.command("inspection-plan")
def inspection_plan(
    grades: Annotated[Path, typer.Option("--grades", help="Graded entities (uscc, tier; .parquet or .csv).")],
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
    Path(f"{out_path}.summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    table = Table(title=f"Random-inspection plan, seed {seed}", header_style="bold")
    for col in ("tier", "entities", "eligible", "ratio", "target", "drawn"):
        table.add_column(col, justify="left" if col == "tier" else "right")
    for r in plan.summary.to_dict("records"):
        table.add_row(r["tier"], f"{r['entities']:,}", f"{r['eligible']:,}", f"{r['ratio']:.0%}", f"{r['target']:,}",
                      f"{r['drawn']:,}")  # fmt: skip
    out.print(table)
    out.print(f"{len(plan.plan):,} entities, {per_entity} inspectors each, written to {out_path}.")


@app.command()
def publish(
    grades: Annotated[Path, typer.Option("--grades", help="Graded entities (.parquet or .csv).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Publication list to write (.csv or .parquet).")],
    policy: PolicyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write the publication list: publishable entities, public items only, personal data masked."""
    from credit_grading.config import load_config
    from credit_grading.config.policy import load_policy
    from credit_grading.grading.publish import publication_list
    from credit_grading.registry.io import read_frame, write_frame

    cfg = load_config(config)
    labels = {r.id: (r.label_zh or r.id, r.label_en or r.id) for r in cfg.grading.overrides}
    frame = read_frame(grades, what="grades")
    listed = publication_list(frame, load_policy(policy), cfg.load_catalogue(), rule_labels=labels,
                              id_column=cfg.dataset.id_column)  # fmt: skip
    write_frame(listed, out_path)
    out.print(f"{len(listed):,} of {len(frame):,} entities listed, {listed.shape[1]} columns, written to {out_path}.")


@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", help="Registry file to train on (.parquet or .csv).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Bundle directory to write.")],
    config: ConfigOpt = None,
    policy: PolicyOpt = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Do not record the run in MLflow.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle directory.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages and warnings.")] = False,
) -> None:
    """Train scorecard, GBM, calibration and grades on a registry; write a bundle; track it in MLflow."""
    from credit_grading.config import load_config
    from credit_grading.config.policy import load_policy
    from credit_grading.pipeline import PIPELINE_STEPS, train_pipeline
    from credit_grading.training import champion_challenger_table

    cfg = load_config(config)
    steps = [s for s in PIPELINE_STEPS if not (no_track and s == "tracking")]
    t0 = time.perf_counter()

    def progress(step: str) -> None:
        out.print(f"[{steps.index(step) + 1:>2}/{len(steps)}] {step} [dim](+{time.perf_counter() - t0:.1f} s)[/dim]")

    res = train_pipeline(cfg, data, out_dir, policy=load_policy(policy), track=not no_track, verbose=verbose,
                         overwrite=overwrite, progress=progress)  # fmt: skip
    table = Table(show_header=True, header_style="bold", title="Out-of-time test")
    for col in ("model", "AUC", "Gini", "KS", "Brier"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in champion_challenger_table(res.training.evaluation).to_dict("records"):
        cells = [row.get(k) for k in ("auc", "gini", "ks", "brier")]
        table.add_row(row["model"], *("" if v is None or v != v else f"{v:.4f}" for v in cells))
    out.print(table)
    b = res.bundle
    out.print(f"Bundle {b.path} (model {b.name}, version {b.version}, sha256 {b.sha256[:12]}…), "
              f"{res.validation['rows_valid']:,} rows trained on, {time.perf_counter() - t0:.1f} s.")  # fmt: skip
    if res.tracked is not None:
        from credit_grading.tracking import tracking_uri

        tr = res.tracked
        reg = f", registered as models:/{b.name}/{tr.registered_version}" if tr.registered_version else ""
        out.print(f"MLflow run {tr.run_id}{reg} in {tracking_uri()}.")
        out.print(f"Browse it with: mlflow ui --backend-store-uri {tracking_uri()}")


models_app = typer.Typer(
    help="The model registry: list versions, promote champion and challenger.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
) -> None:
    """List registered model versions with their aliases."""
    from credit_grading.tracking import list_models, tracking_uri

    frame = list_models(verbose)
    if frame.empty:
        out.print(f"No registered models in {tracking_uri()}.")
        return
    table = Table(title=f"Registered models in {tracking_uri()}", header_style="bold")
    for col in frame.columns:
        table.add_column(col)
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    out.print(table)


class Alias(StrEnum):
    champion = "champion"
    challenger = "challenger"


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Model version to point the alias at.")],
    alias: Annotated[Alias, typer.Option("--alias", help="champion or challenger.")] = Alias.champion,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
) -> None:
    """Point the champion (or challenger) alias of a registered model at a version."""
    from credit_grading.tracking import promote

    promote(name, version, alias.value, verbose)
    out.print(f"models:/{name}@{alias.value} is now version {version}.")


AuditOpt = Annotated[
    Path | None,
    typer.Option("--audit-db", help="Audit database (default: $CREDIT_GRADING_AUDIT_DB or ./credit_grading_audit.db)."),
]

ModelOpt = Annotated[
    str,
    typer.Option("--model", "-m", help="A bundle directory, models:/NAME/VERSION or models:/NAME@alias."),
]


class Engine(StrEnum):
    local = "local"
    spark = "spark"


@app.command()
def rescore(
    model: ModelOpt,
    input_path: Annotated[Path, typer.Option("--input", "-i", help="Registry to grade (.parquet or .csv).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Result file (.parquet).")],
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Write rejected rows here (.csv/.parquet).")] = None,
    previous: Annotated[
        Path | None, typer.Option("--previous", help="The previous grading: migration, and hysteresis when set.")
    ] = None,
    reasons: Annotated[int, typer.Option("--reasons", min=0, max=20, help="Top reasons per row.")] = 3,
    reasons_for: Annotated[
        str, typer.Option("--reasons-for", help="Rows to explain: all, changed, or tiers:C,D.")
    ] = "all",
    chunk_rows: Annotated[
        int | None, typer.Option("--chunk-rows", min=1, help="Rows per chunk; memory grows with it [default: 250,000].")
    ] = None,
    engine: Annotated[
        Engine, typer.Option("--engine", help="local, or spark for registries beyond one machine.")
    ] = Engine.local,
    spark_master: Annotated[
        str, typer.Option("--spark-master", help="Spark master URL for --engine spark.")
    ] = "local[2]",
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
    audit_db: AuditOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
) -> None:
    """Regrade a whole registry in batch: streamed, validated, scored, graded, explained; atomic and resumable."""
    from credit_grading.batch import DEFAULT_CHUNK_ROWS
    from credit_grading.batch import rescore as run_rescore
    from credit_grading.batch.progress import Progress
    from credit_grading.tracking import resolve_model

    bundle = resolve_model(model, verbose=verbose)
    t0 = time.perf_counter()
    if engine is Engine.spark:
        from credit_grading.spark import rescore_file

        unsupported = [name for name, given in (("--rejects", rejects), ("--previous", previous),
                                                ("--reasons-for", reasons_for != "all"), ("--chunk-rows", chunk_rows),
                                                ("--carry", carry), ("--challenger", challenger)) if given]  # fmt: skip
        if unsupported:
            raise CreditGradingError(
                f"{', '.join(unsupported)} work with the local engine only; with --engine spark every row comes back "
                "in the output with status and reject_reasons"
            )

        summary = rescore_file(bundle, input_path, output, master=spark_master, reasons=reasons)
    else:
        bar: list[Progress] = []

        def started(total: int | None, done: int) -> None:
            if done:
                out.print(f"Resuming after {done:,} rows (checkpoint in {output}.work).")
            bar.append(Progress(total, label="rescoring", start=done))

        try:
            summary = run_rescore(bundle, input_path, output, rejects_path=rejects, previous_path=previous,
                                  reasons=reasons, reasons_for=reasons_for, chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
                                  restart=restart, compression=compression, challenger=challenger,
                                  carry=tuple(carry or ()),
                                  progress=lambda n: bar[0].update(n), start_callback=started)  # fmt: skip
        finally:
            if bar:
                bar[0].close()
        from credit_grading.audit import append_run, run_record

        rec = append_run(run_record(summary, kind="rescore", bundle_path=str(bundle.path), input_path=str(input_path)),
                         audit_db)  # fmt: skip
        summary["audit_seq"] = rec["seq"]
    _print_rescore_summary(summary, time.perf_counter() - t0)
    if "audit_seq" in summary:
        out.print(f"Run log record {summary['audit_seq']} appended.")


def _print_rescore_summary(summary: dict, seconds: float) -> None:
    table = Table(title=f"Rescored with {summary['model']['name']} {summary['model']['version']}", header_style="bold")
    table.add_column("")
    table.add_column("rows", justify="right")
    for k in ("rows_read", "rows_graded", "rows_rejected", "rows_explained"):
        if k in summary:
            table.add_row(k.removeprefix("rows_"), f"{summary[k]:,}")
    for t, n in summary["tier_counts"].items():
        table.add_row(f"tier {t}", f"{n:,}")
    out.print(table)
    rate = summary["rows_read"] / seconds if seconds > 0 else 0
    out.print(f"{summary['output']} written in {seconds:.1f} s ({rate:,.0f} rows/s); summary in "
              f"{summary['output']}.summary.json.")  # fmt: skip


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
    uscc: Annotated[list[str] | None, typer.Option("--uscc", help="Explain this entity (repeatable).")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="Explain every entity of this tier (A–D, M).")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Explain every entity.")] = False,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="html, json or both.")] = ReportFormat.both,
    reasons: Annotated[int, typer.Option("--reasons", min=1, max=20, help="Reasons per report.")] = 5,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
) -> None:
    """Write a decision report (HTML and/or JSON) for each selected entity."""
    from credit_grading.bundle import sha256_file
    from credit_grading.explain import decision_documents, explain_table, write_reports
    from credit_grading.registry.io import read_registry_table
    from credit_grading.service import bundle_schema
    from credit_grading.tracking import resolve_model

    if tier is not None and tier not in ("A", "B", "C", "D", "M"):
        raise CreditGradingError(f"--tier must be one of A, B, C, D, M; got {tier!r}")
    bundle = resolve_model(model, verbose=verbose)
    t0 = time.perf_counter()
    table, _ = read_registry_table(input_path, bundle_schema(bundle))
    res = explain_table(bundle, table, uscc=uscc or None, tier=tier, all_rows=all_rows, reasons=reasons)
    docs = decision_documents(res, reasons=reasons, input_path=str(input_path), input_sha256=sha256_file(input_path))
    written = write_reports(docs, out_dir, fmt.value)
    out.print(
        f"{len(docs):,} decision report(s), {len(written):,} file(s) in {out_dir} ({time.perf_counter() - t0:.1f} s)."
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
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
) -> None:
    """Write the validation report: discrimination, calibration per grade, stability, binning, profiles."""
    from credit_grading.registry.io import read_frame
    from credit_grading.reports import render_profiles_html, render_validation_html, validation_report
    from credit_grading.tracking import resolve_model

    bundle = resolve_model(model, verbose=verbose)
    loaded = _load_for(bundle, data)
    prev = read_frame(previous, what="previous grading") if previous else None
    rep = validation_report(bundle, loaded.data, previous=prev, n_boot=bootstrap, seed=seed)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_validation_html(rep), encoding="utf-8")
    json_path = out_path.with_suffix(".json")
    json_path.write_text(json.dumps(rep, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    prof = out_path.with_name(out_path.stem + "_profiles.html")
    prof.write_text(render_profiles_html(rep["profiles"]), encoding="utf-8")
    d = rep["discrimination"][bundle.model.champion]
    out.print(f"Validation report {out_path} (+ {json_path.name}, {prof.name}): champion AUC {d['auc']:.4f} "
              f"[{d['auc_ci'][0]:.4f}, {d['auc_ci'][1]:.4f}], HHI {rep['concentration']['hhi']:.3f}.")  # fmt: skip


@app.command()
def monitor(
    model: ModelOpt,
    reference: Annotated[Path, typer.Option("--reference", help="The reference registry (e.g. last month).")],
    current: Annotated[Path, typer.Option("--current", help="The current registry.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for monitoring.html and monitoring.json.")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
) -> None:
    """Monitor stability (PSI/CSI), grade shift, migration and a backtest; exit 3 on a breached threshold."""
    from credit_grading.reports import monitor as run_monitor
    from credit_grading.reports import render_monitoring_html
    from credit_grading.tracking import resolve_model

    bundle = resolve_model(model, verbose=verbose)
    rep = run_monitor(bundle, _load_for(bundle, reference).data, _load_for(bundle, current).data)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "monitoring.json").write_text(
        json.dumps(rep, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    (out_dir / "monitoring.html").write_text(render_monitoring_html(rep), encoding="utf-8")
    g = rep["grade_psi"]
    out.print(f"Grade PSI {g['psi']:.4f} ({g['flag']}); {len(rep['characteristics'])} characteristics checked; "
              f"report in {out_dir}.")  # fmt: skip
    if rep["breaches"]:
        err.print("Thresholds breached:\n  " + "\n  ".join(rep["breaches"]))
        raise typer.Exit(3)


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


def main() -> None:
    """Entry point of the ``credit-grading`` console script."""
    try:
        app()
    except CreditGradingError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
