"""The main job on built-in defaults: ``credit-grading demo``."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from credit_grading.cli import app, esc, out

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
    from credit_grading.runlog import append_run, run_record
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
        done = run_rescore(bundle, path, target, rejects_path=out_dir / f"rejects_{snapshots[i][0]}.csv", overwrite=True,
                           previous_path=grades[-1] if grades else None, carry=CARRY)  # fmt: skip
        append_run(run_record(done, kind="rescore", bundle_path=str(bundle_dir), input_path=str(path)),
                   out_dir / "credit_grading_audit.db")  # fmt: skip
        grades.append(target)
    latest = pd.read_parquet(grades[-1])
    summary = json.loads(Path(f"{grades[-1]}.summary.json").read_text(encoding="utf-8"))

    stage(4, "Decision reports for a sample of every tier")
    sample = latest.groupby(latest["tier"].astype(str), observed=True).head(4)["uscc"].astype(str).tolist()
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
        files.add_row(what, esc(where))
    out.print(files)
    out.print(f"MLflow: mlflow ui --backend-store-uri {esc(os.environ['MLFLOW_TRACKING_URI'])}")
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
