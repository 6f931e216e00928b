"""The training pipeline: registry file → validated rows → models → grades → bundle → MLflow.

:func:`train_pipeline` runs binning → selection → scorecard → GBM → calibration → grade
cut-offs → evaluation on a registry file, writes the bundle (specs, points and binning
tables, evaluation and grade tables) and, unless ``track=False``, records the run and
registers the model in MLflow. ``progress`` is told each step as it starts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from credit_grading.bundle import Bundle, data_fingerprint, write_bundle
from credit_grading.config import Config
from credit_grading.config.policy import SupervisionPolicy, load_policy
from credit_grading.csvsafe import to_csv_text
from credit_grading.exceptions import DataError
from credit_grading.registry import load_registry, read_registry_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.training import TrainingResult, train_models

# The cross-validation step runs on small data only (evaluation.cv); a run without it announces it
# as skipped, so the step count is the same from the first line to the last.
CV_STEP = "cross-validation"
PIPELINE_STEPS = ("read and validate", "split", "binning", "selection", "scorecard", "gbm", "calibration", CV_STEP,
                  "grades", "evaluation", "bundle", "validation report", "tracking")  # fmt: skip


@dataclass
class PipelineResult:
    bundle: Bundle
    training: TrainingResult
    validation: dict
    tracked: object | None = None
    timings: dict = field(default_factory=dict)


def raw_sample(path: Path | str, schema: RegistrySchema, rows: int = 50) -> pd.DataFrame:
    """The first rows of a registry file as plain pandas (text, float and datetime columns): the
    input example of the MLflow model's signature."""
    table, _ = read_registry_table(path, schema)
    table = table.slice(0, rows)
    cols = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        t = col.type
        if pa.types.is_dictionary(t):
            col, t = col.cast(t.value_type), t.value_type
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            cols[name] = pd.to_datetime(col.to_pandas())
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            cols[name] = col.to_pandas().astype("float64")
        else:
            cols[name] = col.to_pandas().astype(object)
    return pd.DataFrame(cols)


def config_record(config: Config, result: TrainingResult) -> dict:
    """The config as the bundle's manifest records it: as given, with what training settled left
    unset filled in — the model's name and the GBM parameters chosen from the data's size (why
    they were chosen is in ``gbm.json``, ``meta.defaults``)."""
    d = config.model_dump(mode="json")
    d["model"]["name"] = result.model.name
    gbm = result.model.gbm
    if gbm is not None:
        for key in ("num_leaves", "learning_rate", "early_stopping_rounds", "min_data_in_leaf"):
            if d["gbm"].get(key) is None and key in gbm.params:
                d["gbm"][key] = gbm.params[key]
    return d


def bundle_reports(result: TrainingResult) -> dict[str, str]:
    """The human-readable reports stored in a bundle beside its specs."""
    from credit_grading.reports.tables import binning_frame, points_frame

    card = result.scorecard
    ev = result.evaluation
    return {
        "points.csv": to_csv_text(points_frame(card.spec_)),
        "binning_tables.csv": to_csv_text(binning_frame(card.binning_spec_)),
        "evaluation.json": json.dumps(ev, indent=1, ensure_ascii=False, default=str),
        "grade_table_development.csv": to_csv_text(pd.DataFrame(ev["grades"]["development"])),
        "grade_table_test.csv": to_csv_text(pd.DataFrame(ev["grades"]["test"])),
    }


def train_pipeline(
    config: Config,
    data_path: Path | str,
    out_dir: Path | str,
    *,
    policy: SupervisionPolicy | None = None,
    track: bool = True,
    verbose: bool = False,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    validation_bootstrap: int = 100,
) -> PipelineResult:
    """Train on a registry file and write (and track) the bundle.

    With ``track`` the MLflow run opens before the first step and closes after the model is
    registered (its duration is the training's); a training that fails leaves a FAILED run.
    """
    run = None
    if track:
        from credit_grading.tracking import begin_run

        run = begin_run(config.model_name, f"{config.model_name}-training", verbose=verbose)
    try:
        return _train_pipeline(config, data_path, out_dir, policy=policy, track=track, verbose=verbose,
                               overwrite=overwrite, progress=progress, validation_bootstrap=validation_bootstrap,
                               run=run)  # fmt: skip
    except BaseException as exc:
        if run is not None:
            from credit_grading.tracking import fail_run

            fail_run(run, exc, verbose=verbose)
        raise


def _train_pipeline(
    config: Config,
    data_path: Path | str,
    out_dir: Path | str,
    *,
    policy: SupervisionPolicy | None,
    track: bool,
    verbose: bool,
    overwrite: bool,
    progress: Callable[[str], None] | None,
    validation_bootstrap: int,
    run,
) -> PipelineResult:
    step = progress or (lambda _name: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    step("read and validate")
    loaded = load_registry(data_path, config)
    if loaded.rows_valid == 0:
        raise DataError(f"{data_path} has no valid rows to train on")
    timings["read_validate"] = time.perf_counter() - t0

    segments = None
    if config.segments is not None:  # sector models: the pooled ones, one per segment, one master scale
        from credit_grading.segments import train_segments

        seg = train_segments(loaded.data, config, progress=step)
        result, segments = seg.pooled, seg.spec
        result.model = segments.pooled
        result.evaluation["segments"] = seg.evaluation
        result.evaluation["grades"] = seg.evaluation["grades"]  # the master scale every segment grades on
    else:
        result = train_models(loaded.data, config, progress=step)
    timings.update(result.timings)

    t0 = time.perf_counter()
    step("bundle")
    ds = config.dataset
    fingerprint = data_fingerprint(loaded.data, target=ds.target_column, as_of=ds.as_of_column, source=str(data_path))
    fingerprint["rows_rejected"] = loaded.rows_rejected
    bundle = write_bundle(
        out_dir,
        result.model,
        policy=policy or load_policy(),
        catalogue=config.load_catalogue(),
        config=config_record(config, result),
        training_data=fingerprint,
        reports=bundle_reports(result),
        overwrite=overwrite,
        segments=segments,
    )
    timings["bundle"] = time.perf_counter() - t0

    # The validation report on the held-out test rows (out of time when the split is), written
    # into the bundle, with the training's evidence (champion choice, cross-validation).
    t0 = time.perf_counter()
    step("validation report")
    from credit_grading.reports import render_profiles_html, render_validation_html, validation_report

    rep = validation_report(bundle, result.splits.test, n_boot=validation_bootstrap, seed=config.split.seed,
                            training=result.evaluation)  # fmt: skip
    rep["model"]["bundle_sha256"] = None  # the report is part of the bundle it describes; the page says so
    reports = bundle_reports(result) | {
        "validation_report.json": json.dumps(rep, ensure_ascii=False, indent=1, default=str),
        "validation_report.html": render_validation_html(rep),
        "grade_profiles.html": render_profiles_html(rep["profiles"]),
    }  # fmt: skip
    bundle = write_bundle(out_dir, result.model, policy=bundle.policy, catalogue=bundle.catalogue,
                          config=bundle.config, training_data=fingerprint, reports=reports, overwrite=True,
                          segments=segments)  # fmt: skip
    timings["validation_report"] = time.perf_counter() - t0

    tracked = None
    if track:
        from credit_grading.tracking import track_training

        t0 = time.perf_counter()
        step("tracking")
        tracked = track_training(
            bundle,
            evaluation=result.evaluation,
            iv=result.scorecard.binning_spec_.iv(),
            data=loaded.data,
            data_source=str(data_path),
            target=ds.target_column,
            sample_input=raw_sample(data_path, RegistrySchema.from_config(config)),
            experiment=config.model_name,
            verbose=verbose,
            run=run,
            selection=result.scorecard.selection_,
        )
        timings["tracking"] = time.perf_counter() - t0
    return PipelineResult(bundle, result, loaded.summary(), tracked, timings)
