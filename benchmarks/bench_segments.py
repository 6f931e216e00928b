"""Sector models against the pooled model: out-of-time Gini gain and rescoring throughput.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_segments.py [--rows 50000] [--score-rows 400000]

Three snapshots of one synthetic registry with the sector risk drivers on
(``generate_registry(..., sector_drivers=True)``; 2023-12-31, 2024-12-31 with drift 0.2,
2025-12-31 with drift 0.4; ``--rows`` entities each): trained on the first, validated on the
second, tested out of time on the third. Four segments of ``industry`` (production, trade,
food_drug, finance, as the synthetic ground truth defines them; the other sections fall back to
the pooled model). Cross-validation is off (``cv=False``) to keep the run short.

Prints:

* the out-of-time Gini of the segmented champion and of the pooled champion on the same rows,
  the gain (target: at least +0.01) and the figures per segment;
* the throughput of grading a validated table (``--score-rows`` rows: score, PD, 3 reasons,
  grade, tier, overrides — :func:`credit_grading.grading.decide.decide`) with the segmented
  engine and with the pooled one, interleaved, best of ``--repeat``, and their ratio (target:
  the segmented engine within 15% of the pooled one, ratio ≥ 0.85);
* the same ratio for the engine's scoring alone;
* with ``--rescore-rows N`` (0: skipped), end-to-end ``rescore`` of a fresh N-row snapshot (read, validate,
  score, grade, 3 reasons per row, write Parquet) with the segmented bundle and with the pooled model,
  interleaved, best of 3. ``BundleGrader`` compiles a bundle's segments when ``service.py`` routes through
  :func:`credit_grading.engine.segmented.compile_model`; until it does, this run routes it so itself.
  Each run compiles every segment's TreeSHAP tables once, a fixed cost per run: compare at a million rows.

Seeded throughout: the same arguments give the same models and figures.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from credit_grading.config import load_config
from credit_grading.config.segments import SegmentsConfig
from credit_grading.engine.model import CompiledModel
from credit_grading.engine.segmented import CompiledSegmentedModel
from credit_grading.grading.decide import decide
from credit_grading.registry import validate_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.segments import train_segments
from credit_grading.synth import generate_registry
from credit_grading.synth.risk import SECTORS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000, help="entities per snapshot")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--min-rows", type=int, default=5_000)
    ap.add_argument("--score-rows", type=int, default=400_000, help="rows graded in the throughput test")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rescore-rows", type=int, default=0, help="rows of the end-to-end rescore test (0: skip)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    config = load_config()
    schema = RegistrySchema.from_config(config)
    parts = []
    for as_of, drift in (("2023-12-31", 0.0), ("2024-12-31", 0.2), ("2025-12-31", 0.4)):
        reg = generate_registry(args.rows, seed=args.seed, as_of=as_of, drift=drift, sector_drivers=True)
        parts.append(validate_table(reg.table, schema, passthrough=["true_pd"]).data)
    data = pd.concat(parts, ignore_index=True)
    seg = SegmentsConfig(column="industry", groups={k: list(v) for k, v in SECTORS.items()}, min_rows=args.min_rows)
    t0 = time.perf_counter()
    res = train_segments(data, config, seg, cv=False)
    seconds = time.perf_counter() - t0
    ev = res.evaluation["test"]
    print(f"trained in {seconds:.0f} s: pooled + {len(res.spec.models)} segment(s) {list(res.spec.models)}; "
          f"champion {res.spec.pooled.champion}")  # fmt: skip
    print(f"out-of-time test rows: {ev['segmented']['rows']:,} ({ev['segmented']['bads']:,} bads)")
    print(f"Gini  segmented {ev['segmented']['gini']:.4f}   pooled {ev['pooled']['gini']:.4f}   "
          f"gain {ev['gini_gain']:+.4f}  (target >= +0.0100: {'met' if ev['gini_gain'] >= 0.01 else 'NOT met'})")  # fmt: skip
    for name, figs in ev["per_segment"].items():
        s, p = figs["segmented"], figs["pooled"]
        if "gini" in s:
            print(f"  {name:16s} model {figs['model']:12s} rows {s['rows']:7,}  Gini segmented {s['gini']:.4f}  "
                  f"pooled {p['gini']:.4f}  gain {s['gini'] - p['gini']:+.4f}")  # fmt: skip

    # Throughput: the last snapshot's rows repeated to --score-rows, graded by each engine.
    test = data[data["as_of"] == data["as_of"].max()]
    reps = -(-args.score_rows // len(test))
    table = pd.concat([test] * reps, ignore_index=True).iloc[: args.score_rows]
    pooled = CompiledModel(res.spec.pooled)
    segmented = CompiledSegmentedModel(res.spec)
    for eng in (pooled, segmented):  # warm: numba kernels loaded, compiled trees built
        decide(res.spec.pooled, table.iloc[:1000], reasons=3, compiled=eng)
    best = {"pooled": float("inf"), "segmented": float("inf")}
    best_score = dict(best)
    for _ in range(args.repeat):  # interleaved: the machine's noise hits both alike
        for name, eng in (("pooled", pooled), ("segmented", segmented)):
            t0 = time.perf_counter()
            decide(res.spec.pooled, table, reasons=3, compiled=eng)
            best[name] = min(best[name], time.perf_counter() - t0)
            t0 = time.perf_counter()
            eng.score(table, reasons=3)
            best_score[name] = min(best_score[name], time.perf_counter() - t0)
    n = len(table)
    for label, b in (("grade (decide)", best), ("engine score", best_score)):
        ratio = b["pooled"] / b["segmented"]
        print(f"{label:15s} rows/s pooled {n / b['pooled']:,.0f}   segmented {n / b['segmented']:,.0f}   "
              f"throughput ratio segmented/pooled {ratio:.3f}  (target >= 0.85: {'met' if ratio >= 0.85 else 'NOT met'})")  # fmt: skip

    if args.rescore_rows:
        rescore_ratio(res, config, args)


def rescore_ratio(res, config, args) -> None:
    """End-to-end rescoring with the segmented bundle against the pooled model (see the module docstring)."""
    import shutil
    import tempfile
    from pathlib import Path

    import credit_grading.service as service
    from credit_grading.batch import RescoreOptions, rescore
    from credit_grading.bundle import write_bundle
    from credit_grading.config.policy import load_policy
    from credit_grading.engine.segmented import compile_model
    from credit_grading.synth import write_registry

    work = Path(tempfile.mkdtemp(prefix="bench_segments_"))
    try:
        spec = res.spec
        bundle = write_bundle(work / "bundle", spec.pooled, policy=load_policy(), catalogue=config.load_catalogue(),
                              config=config.model_dump(mode="json"), training_data={}, segments=spec)  # fmt: skip
        reg = generate_registry(args.rescore_rows, seed=args.seed + 1, as_of="2026-12-31", drift=0.5,
                                sector_drivers=True)  # fmt: skip
        write_registry(reg, work / "in.parquet")
        pooled_compile = service.CompiledModel
        best = {"pooled": float("inf"), "segmented": float("inf")}
        for _ in range(3):
            for name in best:
                service.CompiledModel = (
                    (lambda m: compile_model(m, bundle.segments)) if name == "segmented" else pooled_compile
                )
                t0 = time.perf_counter()
                rescore(
                    bundle, work / "in.parquet", work / f"{name}.parquet", RescoreOptions(reasons=3, overwrite=True)
                )
                best[name] = min(best[name], time.perf_counter() - t0)
        service.CompiledModel = pooled_compile
        ratio = best["pooled"] / best["segmented"]
        n = args.rescore_rows
        print(f"rescore         rows/s pooled {n / best['pooled']:,.0f}   segmented {n / best['segmented']:,.0f}   "
              f"throughput ratio segmented/pooled {ratio:.3f}  (target >= 0.85: {'met' if ratio >= 0.85 else 'NOT met'})")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
