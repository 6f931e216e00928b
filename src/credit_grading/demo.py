"""The main job on built-in defaults, as a library function (``credit-grading demo`` prints it).

:func:`run_demo` synthesises two registry snapshots a year apart, trains and tracks the models,
rescores both snapshots in batch (with migration and the run log), writes decision reports for
a sample of every tier, the validation and monitoring reports, an inspection plan and the
publication list — everything inside one folder — and returns what a caller needs to report on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STEPS = 9
# The sector models of the demo: industry (GB/T 4754 sections) grouped as the plan's supervision sectors.
SECTORS = {"production": ["B", "C", "D", "E"], "trade": ["F", "G"], "food_drug": ["H", "Q", "R"],
           "finance": ["J", "K", "L"]}  # fmt: skip
SNAPSHOTS = (("2024-12-31", 0.0, 0.01), ("2025-12-31", 0.3, 0.0))  # as-of, drift, invalid fraction
CARRY = ("district", "industry", "enterprise_name", "legal_rep_name", "serious_untrustworthy_flag",
         "dishonest_debtor_flag")  # fmt: skip


@dataclass
class DemoResult:
    """What the demo produced: paths, and the figures its summary shows."""

    out_dir: Path
    bundle_dir: Path
    registries: list[Path]
    grades: list[Path]
    evaluation: dict
    champion: str
    summary: dict  # the last rescoring's summary
    migration: dict
    monitoring: dict
    files: dict[str, Path] = field(default_factory=dict)
    tracking_uri: str = ""
    sectors: dict = field(default_factory=dict)  # the sector models' evaluation against the pooled model


def run_demo(
    rows: int = 100_000,
    out_dir: Path | str = "out/demo",
    seed: int = 0,
    *,
    stage: Callable[[int, str], None] | None = None,
    on_trained: Callable[[dict], None] | None = None,
    training_progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the main job on the built-in defaults into ``out_dir``.

    ``stage(i, text)`` is called as each of the :data:`STEPS` steps starts; ``training_progress``
    gets the name of each training step as it starts; ``on_trained`` gets the training evaluation
    as soon as it exists. Tracking goes to ``$MLFLOW_TRACKING_URI``, or to
    ``out_dir/mlflow.db`` when that is not set.
    """
    from credit_grading.config import load_config

    cfg = load_config()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir = out_dir.resolve()
    own_store = "MLFLOW_TRACKING_URI" not in os.environ
    if own_store:  # the demo's runs go beside its other files
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{out_dir / 'mlflow.db'}"
    try:
        return _run(rows, out_dir, seed, cfg, stage or (lambda _i, _t: None), on_trained, training_progress)
    finally:
        if own_store:
            os.environ.pop("MLFLOW_TRACKING_URI", None)


def _run(rows: int, out_dir: Path, seed: int, cfg, stage, on_trained, training_progress) -> DemoResult:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from credit_grading.batch import rescore
    from credit_grading.config.policy import load_policy
    from credit_grading.explain import decision_documents, explain_table, write_reports
    from credit_grading.grading.inspection import draw_inspection_plan
    from credit_grading.grading.publish import publication_list
    from credit_grading.pipeline import train_pipeline
    from credit_grading.registry import load_registry
    from credit_grading.registry.io import read_registry_table, write_frame
    from credit_grading.reports import monitor, render_monitoring_html
    from credit_grading.runlog import append_run, run_record
    from credit_grading.service import bundle_schema
    from credit_grading.storage import write_atomic
    from credit_grading.synth import generate_inspectors, generate_registry, write_registry

    stage(1, f"Synthesising two registry snapshots a year apart, {rows:,} enterprises each "
             "(1% of the first made invalid on purpose, drift 0.3 in the second)")  # fmt: skip
    paths = []
    for as_of, drift, invalid in SNAPSHOTS:
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
    res = train_pipeline(cfg, training, bundle_dir, overwrite=True, progress=training_progress)
    bundle = res.bundle
    if on_trained is not None:
        on_trained(res.training.evaluation)

    stage(3, "Rescoring both snapshots in batch (streamed, validated, graded, explained; migration between them)")
    audit_db = out_dir / "credit_grading_audit.db"
    grades: list[Path] = []
    for (as_of, _, _), path in zip(SNAPSHOTS, paths, strict=True):
        target = out_dir / f"grades_{as_of}.parquet"

        def record(summary: dict, path: Path = path) -> dict:
            rec = run_record(summary, kind="rescore", bundle_path=str(bundle_dir), input_path=str(path))
            return {"audit_seq": append_run(rec, audit_db)["seq"]}

        rescore(bundle, path, target, rejects_path=out_dir / f"rejects_{as_of}.csv", overwrite=True,
                previous_path=grades[-1] if grades else None, carry=CARRY, on_complete=record)  # fmt: skip
        grades.append(target)
    latest = pd.read_parquet(grades[-1])
    summary = json.loads(Path(f"{grades[-1]}.summary.json").read_text(encoding="utf-8"))

    stage(4, "Decision reports for a sample of every tier")
    id_column = bundle_schema(bundle).id_column
    sample = latest.groupby(latest["tier"].astype(str), observed=True).head(4)[id_column].astype(str).tolist()
    reg_table, _ = read_registry_table(paths[-1], bundle_schema(bundle))
    docs = decision_documents(explain_table(bundle, reg_table, uscc=sample), input_path=str(paths[-1]))
    write_reports(docs, out_dir / "decisions")

    stage(5, "Validation report (written into the bundle by training)")
    for name in ("validation_report.html", "validation_report.json", "grade_profiles.html"):
        shutil.copy(bundle_dir / name, out_dir / name)

    stage(6, "Monitoring report between the snapshots")
    schema = bundle_schema(bundle)
    mon = monitor(bundle, load_registry(paths[0], schema).data, load_registry(paths[1], schema).data)
    (out_dir / "monitoring").mkdir(exist_ok=True)
    write_atomic(out_dir / "monitoring" / "monitoring.json", json.dumps(mon, ensure_ascii=False, indent=1, default=str))
    write_atomic(out_dir / "monitoring" / "monitoring.html", render_monitoring_html(mon))

    stage(7, "Random-inspection plan, publication list and a regional exchange package")
    policy = load_policy()
    roster = generate_inspectors(60, seed)
    write_frame(roster, out_dir / "inspectors.csv")
    plan = draw_inspection_plan(latest, policy, roster, seed=seed, by=("district",),
                                plan_date=dt.date.fromisoformat(SNAPSHOTS[-1][0]))  # fmt: skip
    write_frame(plan.plan, out_dir / "inspection_plan.csv")
    labels = {r.id: (r.label_zh or r.id, r.label_en or r.id) for r in cfg.grading.overrides}
    listed = publication_list(latest, policy, cfg.load_catalogue(), rule_labels=labels)
    write_frame(listed, out_dir / "publication_list.csv")
    exchange = _exchange_round_trip(latest, out_dir / "exchange", id_column, schema.as_of_column)

    stage(8, "Sector models: a scorecard and a GBM per industry group, pooled fallback, one master scale")
    from credit_grading.config.segments import SegmentsConfig

    sector_cfg = cfg.model_copy(update={"segments": SegmentsConfig(column="industry", groups=SECTORS,
                                                                   min_rows=max(2_000, rows // 10))})  # fmt: skip
    sector = train_pipeline(sector_cfg, training, out_dir / "sector_model", track=False, overwrite=True)
    sectors = sector.training.evaluation.get("segments", {})

    stage(9, "Summary")
    migration = json.loads(Path(f"{grades[-1]}.migration.json").read_text(encoding="utf-8"))
    files = {
        "model bundle": bundle_dir,
        "grades": grades[-1],
        "decision reports": out_dir / "decisions",
        "run log (audit)": audit_db,
        "validation report": out_dir / "validation_report.html",
        "monitoring report": out_dir / "monitoring" / "monitoring.html",
        "inspection plan": out_dir / "inspection_plan.csv",
        "publication list": out_dir / "publication_list.csv",
        "sector models (bundle)": out_dir / "sector_model",
        "exchange package (signed)": exchange["package"],
        "partner lists (imported)": exchange["partner"],
    }
    return DemoResult(out_dir=out_dir, bundle_dir=bundle_dir, registries=paths, grades=grades,
                      evaluation=res.training.evaluation, champion=bundle.model.champion, summary=summary,
                      migration=migration, monitoring=mon, files=files, sectors=sectors,
                      tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", ""))  # fmt: skip


def _exchange_round_trip(latest, folder: Path, id_column: str, as_of_column: str | None) -> dict:
    """This region's grades and serious-untrustworthiness listings as a signed interchange package
    (region 110000), then imported as a partner region would: verified and turned into partner lists."""
    import pandas as pd

    from credit_grading.exchange import export_package, import_package
    from credit_grading.lists import read_memberships
    from credit_grading.signing import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, generate_keys

    keys = folder / "keys"
    if not (keys / PRIVATE_KEY_FILE).exists():
        generate_keys(keys)
    flagged = latest[latest["serious_untrustworthy_flag"] == 1]
    start = pd.to_datetime(flagged[as_of_column]).dt.strftime("%Y-%m-%d") if as_of_column else "2025-12-31"
    listings = read_memberships(pd.DataFrame({"id": flagged[id_column].astype(str), "list": "serious_untrustworthy",
                                              "source": "市场监督管理部门 market regulation", "start": start,
                                              "end": None}))  # fmt: skip
    package, partner = folder / "package_110000", folder / "partner"
    for old in (package, partner):  # the demo's folder is rewritten on every run
        shutil.rmtree(old, ignore_errors=True)
    export_package(latest, listings, package, region="110000", key_path=keys / PRIVATE_KEY_FILE,
                   id_column=id_column, as_of_column=as_of_column)  # fmt: skip
    import_package(package, partner, trusted_keys=(str(keys / PUBLIC_KEY_FILE),), prefix="beijing")
    return {"package": package, "partner": partner}
