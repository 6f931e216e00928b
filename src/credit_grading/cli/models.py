"""Training and the model registry: train, models list, promote, keygen, sign and verify."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from credit_grading.cli import ConfigOpt, PolicyOpt, app, esc, out
from credit_grading.exceptions import CreditGradingError

ModelArg = Annotated[str, typer.Argument(help="A bundle directory, models:/NAME/VERSION or models:/NAME@alias.")]


@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", help="Registry file to train on (.parquet or .csv).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Bundle directory to write.")],
    config: ConfigOpt = None,
    catalogue: Annotated[
        Path | None,
        typer.Option(
            "--catalogue",
            help="Catalogue file describing the columns (e.g. drafted by catalogue infer); "
            "replaces the config's dataset.catalogue / features.",
        ),
    ] = None,
    policy: PolicyOpt = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Do not record the run in MLflow.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle directory.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages and warnings.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No step lines or progress bars; only the result.")
    ] = False,
    promote_if_better: Annotated[
        bool,
        typer.Option(
            "--promote-if-better",
            help="Point the champion alias at the new version if it beats the current champion on the "
            "out-of-time AUC of its deciding model (or if there is no champion yet).",
        ),
    ] = False,
) -> None:
    """Train scorecard, GBM, calibration and grades on a registry; write a bundle; track it in MLflow."""
    from credit_grading.config import load_config
    from credit_grading.config.policy import load_policy
    from credit_grading.pipeline import CV_STEP, PIPELINE_STEPS, train_pipeline
    from credit_grading.training import champion_challenger_table

    cfg = load_config(config)
    if catalogue is not None:
        from credit_grading.config import with_catalogue

        cfg = with_catalogue(cfg, catalogue)
    from credit_grading.progress import TrainingProgress

    if promote_if_better and no_track:
        raise CreditGradingError("--promote-if-better needs the run tracked in MLflow: drop --no-track")
    steps = [s for s in PIPELINE_STEPS if not (no_track and s == "tracking")]
    t0 = time.perf_counter()
    with TrainingProgress(steps, console=out, quiet=quiet, optional=(CV_STEP,)) as progress:
        res = train_pipeline(cfg, data, out_dir, policy=load_policy(policy), track=not no_track, verbose=verbose,
                             overwrite=overwrite, progress=progress.step)  # fmt: skip
    split = res.training.splits
    ev = res.training.evaluation
    title = (
        f"Out-of-time test ({split.description})" if split.method == "time" else f"Held-out test ({split.description})"
    )
    level = next((m.get("ci_level") for m in ev["test"].values() if m.get("ci_level")), 0.95)
    table = Table(show_header=True, header_style="bold", title=title)
    for col in ("model", f"AUC ({level:.0%} CI)", f"Gini ({level:.0%} CI)", f"KS ({level:.0%} CI)", "Brier"):
        table.add_column(col, justify="left" if col == "model" else "right")

    def cell(row: dict, key: str) -> str:
        v, ci = row.get(key), row.get(f"{key}_ci")
        if v is None or v != v:
            return ""
        return f"{v:.4f}" + (f" ({ci[0]:.3f}–{ci[1]:.3f})" if isinstance(ci, list) and ci[0] == ci[0] else "")

    for row in champion_challenger_table(ev).to_dict("records"):
        table.add_row(row["model"], cell(row, "auc"), cell(row, "gini"), cell(row, "ks"), cell(row, "brier"))
    out.print(table)
    cv = ev.get("cv") or {}
    if cv.get("ran"):
        cvt = Table(show_header=True, header_style="bold",
                    title=f"Cross-validated, {cv['folds']} folds × {cv['repeats']} repeats on {cv['rows']:,} development "
                          "rows (mean ± sd, fold min–max)")  # fmt: skip
        for col in ("model", "AUC", "AUC min–max", "Gini", "KS"):
            cvt.add_column(col, justify="left" if col == "model" else "right")
        for name, figs in cv["models"].items():
            a, g, k = figs["auc"], figs["gini"], figs["ks"]
            cvt.add_row(name, f"{a['mean']:.4f} ± {a['sd']:.4f}", f"{a['min']:.3f}–{a['max']:.3f}",
                        f"{g['mean']:.4f} ± {g['sd']:.4f}", f"{k['mean']:.4f} ± {k['sd']:.4f}")  # fmt: skip
        out.print(cvt)
    choice = ev.get("champion_choice")
    if choice:
        out.print(f"Champion: {esc(choice['reason'])}.", soft_wrap=True)
    seg = ev.get("segments")
    if seg:
        t = seg["test"]
        own = [n for n, m in seg["segments_trained"].items() if isinstance(m, dict) and "fallback" not in m]
        fallback = [n for n, m in seg["segments_trained"].items() if isinstance(m, dict) and "fallback" in m]
        out.print(f"Sector models of {esc(res.bundle.segments.column)}: {esc(', '.join(own) or 'none')}"
                  + (f" (pooled model for {esc(', '.join(fallback))})" if fallback else "")
                  + f"; Gini segmented {t['segmented'].get('gini', float('nan')):.4f}, pooled "
                  f"{t['pooled'].get('gini', float('nan')):.4f} on the same {t['segmented']['rows']:,} test rows.",
                  soft_wrap=True)  # fmt: skip
    grades = ev.get("grades") or {}
    count = grades.get("count") or {}
    if grades.get("sample"):
        n = len(grades.get("cutoffs") or []) + 1
        why = f" ({esc(count['reason'])})" if count.get("reason") else ""
        out.print(f"{n} grades, cut-offs fitted on {esc(grades['sample'])}{why}.", soft_wrap=True)
    b = res.bundle
    out.print(f"Bundle {esc(b.path)} (model {esc(b.name)}, version {b.version}, sha256 {b.sha256[:12]}…), "
              f"{res.validation['rows_valid']:,} rows trained on, {time.perf_counter() - t0:.1f} s.")  # fmt: skip
    if res.tracked is not None:
        from credit_grading.tracking import run_url, tracking_uri

        tr = res.tracked
        reg = f", registered as models:/{b.name}/{tr.registered_version}" if tr.registered_version else ""
        out.print(f"MLflow run {tr.run_id}{reg} in {tracking_uri()}.")
        if promote_if_better and tr.registered_version:
            from credit_grading.tracking import promote_if_better as promote

            out.print(promote(b.name, tr.registered_version, verbose=verbose).message, soft_wrap=True)
        out.print(f"Browse it with: mlflow ui --backend-store-uri {tracking_uri()}", soft_wrap=True)
        out.print(f"and open {run_url(tr.run_id, tr.experiment_id)}", soft_wrap=True)


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


@models_app.command("keygen")
def models_keygen(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for signing_key.pem and signing_key.pub.pem.")],
) -> None:
    """Make an Ed25519 key pair for signing bundles (the private key file is readable by you only)."""
    from credit_grading.signing import generate_keys, short

    pair = generate_keys(out_dir)
    out.print(
        f"Private key {esc(pair.private_path)} (mode 0600: keep it secret, never put it in a bundle or a repository).",
        soft_wrap=True,
    )
    out.print(f"Public key  {esc(pair.public_path)}", soft_wrap=True)
    out.print(f"Fingerprint {short(pair.fingerprint)}  ({pair.fingerprint})", soft_wrap=True)
    out.print("Trust it with security.trusted_keys in the config or $CREDIT_GRADING_TRUSTED_KEYS.", soft_wrap=True)


@models_app.command("sign")
def models_sign(
    model: Annotated[Path, typer.Argument(help="Bundle directory to sign.")],
    key: Annotated[Path, typer.Option("--key", "-k", help="Private key file (signing_key.pem from models keygen).")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a signature made with another key.")] = False,
) -> None:
    """Sign a bundle: verify every hash, then write signature.json over the bundle hash (atomically)."""
    from credit_grading.bundle import sign_bundle
    from credit_grading.signing import SIGNATURE, short

    bundle = sign_bundle(model, key, overwrite=overwrite)
    out.print(f"Signed {esc(bundle.path)} (model {esc(bundle.name)}, version {bundle.version}, sha256 {bundle.sha256[:12]}…) "
              f"with key {short(bundle.signed_by)}; wrote {esc(bundle.path / SIGNATURE)}.", soft_wrap=True)  # fmt: skip


@models_app.command("verify")
def models_verify(
    model: ModelArg,
    trusted_key: Annotated[
        list[str] | None,
        typer.Option("--trusted-key", help="Public-key file or fingerprint the bundle must be signed by (repeatable)."),
    ] = None,
    config: ConfigOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show MLflow's own messages.")] = False,
) -> None:
    """Check a bundle's hashes, model version and signature, and print them; exit 1 if anything fails."""
    from credit_grading.config import load_config
    from credit_grading.signing import ENV_TRUSTED_KEYS, config_trusted_keys, env_trusted_fingerprints, short
    from credit_grading.tracking import resolve_model

    keys = [*config_trusted_keys(load_config(config)), *(trusted_key or [])]
    bundle = resolve_model(model, verbose=verbose, trusted_keys=keys)
    files = bundle.manifest["files"]
    out.print(f"Bundle {esc(bundle.path)}: sha256 of each file (as sha256sum prints them)", soft_wrap=True)
    for name, digest in files.items():
        out.print(f"{digest}  {name}", soft_wrap=True, markup=False)
    fmt = bundle.manifest["format_version"]
    covers = "spec files, model.json and the manifest's config" if fmt >= 2 else "spec files only (format 1)"
    out.print(f"All {len(files)} file hashes match. Model {esc(bundle.name)}, version {bundle.version} (covers {covers}).",
              soft_wrap=True)  # fmt: skip
    out.print(f"Bundle sha256 {bundle.sha256}", soft_wrap=True)
    trusted = bool(keys) or bool(env_trusted_fingerprints())
    if bundle.signed_by is None:
        out.print(f"Unsigned. No trusted keys are configured (--trusted-key, --config security.trusted_keys, "
                  f"${ENV_TRUSTED_KEYS}), so it loads.", soft_wrap=True)  # fmt: skip
    else:
        status = "a trusted key" if trusted else "no trusted keys configured: the signature is valid, the key unchecked"
        out.print(f"Signature valid, key {short(bundle.signed_by)} ({bundle.signed_by}); {status}.", soft_wrap=True)
