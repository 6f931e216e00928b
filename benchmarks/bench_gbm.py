"""Benchmark: the GBM in the scoring core against LightGBM and shap on the same rows.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_gbm.py                  # 200k training rows, 1M scored
    .venv/bin/python benchmarks/bench_gbm.py --rows 1000000 --explain-rows 50000

Trains the default GBM (early stopping on a validation split; the time is printed), then on
the same rows:
- scoring: ``CompiledGbm.margin`` (our evaluator) from the Arrow table as read from
  Parquet (encoding included) against ``booster.predict(raw_score=True)`` on the
  already-encoded matrix (the best case for LightGBM); the largest difference is printed
  (sums of ~400 leaf values in a different order: ~1e-14);
- explaining: LightGBM ``pred_contrib`` against ``shap.TreeExplainer`` (path-dependent
  TreeSHAP); rows/s of each and the ratio. ``bench_explain.py`` times our own SHAP.

Then (issue #18, decision 8; ``--no-reference`` skips it) a 400-tree × 31-leaf model trained
on the same rows without early stopping: our margins against ``booster.predict(raw_score=True)``
on the same encoded matrix, timed interleaved (best of ``--repeat``), the ratio printed with its
target (≥ ×2) and the largest difference (trees are summed in LightGBM's order: 0).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from _timing import best_of, interleaved, reference_config, verdict
from credit_grading.config import load_config
from credit_grading.gbm import GbmModel
from credit_grading.registry import validate_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.splits import split_frame
from credit_grading.synth import generate_registry, write_registry


def reference_scoring(config, parts, table, repeat: int, threads: int) -> None:
    """The 400 x 31 model: our margins against booster.predict on the same matrix, interleaved."""
    ref_cfg = reference_config(config)
    t0 = time.perf_counter()
    model = GbmModel(ref_cfg).fit(parts.train, parts.valid)
    engine = model.compiled()
    booster = engine.booster
    print(f"\n400 x 31 reference model trained in {time.perf_counter() - t0:.1f} s: {booster.num_trees()} trees")
    x = engine.matrix(table)
    n = x.shape[0]
    engine.margin(x[:1000], threads=threads)  # compile the kernels and build the masks first
    best = interleaved(
        repeat,
        {
            "engine margin (matrix)": lambda: engine.margin(x, threads=threads),
            "engine margin (Arrow table)": lambda: engine.margin(table, threads=threads),
            "booster.predict(raw_score)": lambda: booster.predict(x, raw_score=True, num_threads=threads),
        },
    )
    for name, t in best.items():
        print(f"  {name:30s} {t:6.2f} s  {n / t:>12,.0f} rows/s")
    diff = float(np.max(np.abs(engine.margin(x, threads=threads) - booster.predict(x, raw_score=True))))
    ratio = best["booster.predict(raw_score)"] / best["engine margin (matrix)"]
    print(f"  scoring: engine x{ratio:.2f} booster.predict on the same matrix {verdict(ratio, 2, at_least=True)}; "
          f"from the Arrow table (encoding included) x{best['booster.predict(raw_score)'] / best['engine margin (Arrow table)']:.2f}; "
          f"max |diff| {diff:.1e}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-rows", type=int, default=200_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--explain-rows", type=int, default=20_000)
    ap.add_argument("--shap-rows", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True,
                    help="also the 400-tree x 31-leaf reference model (scoring against booster.predict)")  # fmt: skip
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    threads = os.cpu_count() or 1
    config = load_config()
    schema = RegistrySchema.from_config(config)

    # One snapshot, split stratified: 60% train, 20% validation (early stopping), 20% test.
    data = validate_table(generate_registry(round(args.train_rows / 0.6), seed=1).table, schema).data
    parts = split_frame(data, config)
    t0 = time.perf_counter()
    model = GbmModel(config).fit(parts.train, parts.valid)
    t_fit = time.perf_counter() - t0
    spec = model.spec_
    print(
        f"GBM training on {len(parts.train):,} rows (+{len(parts.valid):,} for early stopping): {t_fit:.1f} s; "
        f"{spec.best_iteration} trees, {spec.params['num_leaves']} leaves max, {len(spec.features)} features; "
        f"{threads} threads"
    )
    engine = model.compiled()
    booster = engine.booster

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.parquet"
        write_registry(generate_registry(args.rows, seed=2), path)
        table = pq.read_table(path)
        days = pc.subtract(pc.cast(table["as_of"], pa.int32()), pc.cast(table["established_on"], pa.int32()))
        table = table.append_column("firm_age_years", pc.divide(pc.cast(days, pa.float64()), 365.25))

    x = engine.matrix(table)
    ours, t_ours = best_of(args.repeat, engine.margin, table, threads=threads)
    ref, t_ref = best_of(args.repeat, booster.predict, x, raw_score=True, num_threads=threads)
    _, t_enc = best_of(args.repeat, engine.matrix, table)
    diff = float(np.max(np.abs(ours - ref)))
    print(f"\nscoring {args.rows:,} rows")
    print(f"booster.predict(raw_score) on the encoded matrix: {t_ref:6.2f} s  {args.rows / t_ref:>12,.0f} rows/s")
    print(f"engine margin from the Arrow table:               {t_ours:6.2f} s  {args.rows / t_ours:>12,.0f} rows/s")
    print(
        f"  of which encoding: {t_enc:.3f} s; engine / booster = {t_ours / t_ref:.3f} "
        f"(x{t_ref / t_ours:.1f} faster); max |diff| {diff:.1e}"
    )

    xe = x[: args.explain_rows]
    contrib, t_pc = best_of(1, booster.predict, xe, pred_contrib=True, num_threads=threads)
    print("\nexplaining (all features, all rows)")
    print(
        f"LightGBM pred_contrib:   {args.explain_rows:,} rows in {t_pc:6.2f} s  {args.explain_rows / t_pc:>10,.0f} rows/s"
    )
    if args.reference:
        reference_scoring(config, parts, table, args.repeat, threads)

    import shap

    xs = x[: args.shap_rows]
    explainer = shap.TreeExplainer(booster)
    t0 = time.perf_counter()
    sv = explainer.shap_values(xs)
    t_shap = time.perf_counter() - t0
    sv = sv[1] if isinstance(sv, list) else sv
    diff = float(np.max(np.abs(sv - contrib[: args.shap_rows, :-1])))
    print(
        f"shap.TreeExplainer:      {args.shap_rows:,} rows in {t_shap:6.2f} s  {args.shap_rows / t_shap:>10,.0f} rows/s"
    )
    print(
        f"pred_contrib / TreeExplainer speed: x{(args.explain_rows / t_pc) / (args.shap_rows / t_shap):.2f}; max |diff| {diff:.2e}"
    )


if __name__ == "__main__":
    main()
