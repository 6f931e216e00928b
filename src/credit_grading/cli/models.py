"""Training and the model registry: train, models list, models promote."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from credit_grading.cli import ConfigOpt, PolicyOpt, app, out


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
    for row in frame.astype(str).to_numpy().tolist():  # a handful of model versions
        table.add_row(*row)
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
