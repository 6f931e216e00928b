"""The main job on built-in defaults: ``credit-grading demo`` (the work is :func:`credit_grading.demo.run_demo`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from credit_grading.cli import app, esc, out


@app.command()
def demo(
    rows: Annotated[int, typer.Option("--rows", "-n", min=2000, help="Entities in each synthetic snapshot.")] = 100_000,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the demo writes.")] = Path(
        "out/demo"
    ),
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """The main job on built-in defaults: synthesise, train and track, rescore, explain, validate, monitor, plan, publish."""
    from credit_grading.demo import STEPS, run_demo
    from credit_grading.pipeline import CV_STEP, PIPELINE_STEPS
    from credit_grading.progress import TrainingProgress

    t0 = time.perf_counter()

    def stage(i: int, text: str) -> None:
        out.print(f"[bold]{i}/{STEPS}[/bold] {esc(text)} [dim](+{time.perf_counter() - t0:.1f} s)[/dim]")

    steps = list(PIPELINE_STEPS)
    with TrainingProgress(
        steps, console=out, optional=(CV_STEP,)
    ) as progress:  # step lines, and live bars on a terminal
        res = run_demo(rows, out_dir, seed, stage=stage, on_trained=_print_training, training_progress=progress.step)
    summary, mig, mon = res.summary, res.migration, res.monitoring
    as_of = res.registries[-1].stem.removeprefix("registry_")
    out.print(f"Tiers of the {as_of} snapshot: " + ", ".join(f"{t} {n:,}" for t, n in summary["tier_counts"].items())
              + f"; {summary['rows_rejected']:,} rows rejected.")  # fmt: skip
    aucs = {r["model"]: r["auc"] for r in _results(res.evaluation)}
    out.print("Out-of-time AUC: " + ", ".join(f"{k} {v:.4f}" for k, v in aucs.items()) + f"; champion {res.champion}.")
    first = res.registries[0].stem.removeprefix("registry_")
    out.print(f"Migration since {first}: {mig['downgrade_rate']:.1%} downgraded, {mig['upgrade_rate']:.1%} "
              f"upgraded; monitoring: grade PSI {mon['grade_psi']['psi']:.3f} ({mon['grade_psi']['flag']}).")  # fmt: skip
    if res.sectors:
        t, trained = res.sectors["test"], res.sectors["segments_trained"]
        own = [n for n, m in trained.items() if isinstance(m, dict) and "fallback" not in m]
        out.print(f"Sector models ({esc(', '.join(own) or 'none')} own; the pooled model for the rest): out-of-time "
                  f"Gini {t['segmented'].get('gini', float('nan')):.4f} against the pooled "
                  f"{t['pooled'].get('gini', float('nan')):.4f}, one master scale.")  # fmt: skip
    files = Table(show_header=False, box=None)
    for what, where in res.files.items():
        files.add_row(what, esc(where))
    out.print(files)
    out.print(f"MLflow: mlflow ui --backend-store-uri {esc(res.tracking_uri)}")
    out.print(f"Done in {time.perf_counter() - t0:.1f} s.")


def _results(evaluation: dict) -> list[dict]:
    from credit_grading.training import champion_challenger_table

    return champion_challenger_table(evaluation).to_dict("records")


def _print_training(evaluation: dict) -> None:
    import pandas as pd

    table = Table(show_header=True, header_style="bold", title="Out-of-time test")
    for col in ("model", "AUC", "Gini", "KS", "Brier"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in _results(evaluation):
        cells = [row.get(k) for k in ("auc", "gini", "ks", "brier")]
        table.add_row(esc(row["model"]), *("" if v is None or v != v else f"{v:.4f}" for v in cells))
    out.print(table)
    _print_grade_table(pd.DataFrame(evaluation["grades"]["test"]), "Grades on the out-of-time test snapshot")


def _print_grade_table(table_df, title: str) -> None:
    table = Table(title=title, header_style="bold")
    cols = ("grade", "tier", "pd_max", "count", "share", "bads", "bad_rate", "mean_pd", "jeffreys_p")
    for c in cols:
        table.add_column(c, justify="left" if c in ("grade", "tier") else "right")
    for r in table_df.to_dict("records"):
        table.add_row(r["grade"], r["tier"], f"{r['pd_max']:.4f}", f"{r['count']:,}", f"{r['share']:.1%}",
                      f"{r['bads']:,}", f"{r['bad_rate']:.4f}", f"{r['mean_pd']:.4f}", f"{r['jeffreys_p']:.3f}")  # fmt: skip
    out.print(table)
