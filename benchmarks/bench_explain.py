"""Benchmark: our GBM scoring and exact TreeSHAP against LightGBM and shap, same rows.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_explain.py
    .venv/bin/python benchmarks/bench_explain.py --rows 1000000 --reference-rows 20000

Two models trained on the synthetic registry (200k rows, early stopping on 50k):
- the default configuration (shallow trees, chosen to be cheap to explain);
- a 400-tree × 31-leaf reference model (no early stopping), like the one in the issue.
For each, on the same rows and all cores: our scoring (binning included) against
``booster.predict(raw_score=True)`` and our SHAP against LightGBM ``pred_contrib``, timed
interleaved (best of ``--repeat``), and ``shap.TreeExplainer`` (path-dependent, one run).
Prints rows/s, ratios and the largest differences, and how many trees are explained by table
lookup; for the reference model, the ratios against issue #18's targets (scoring ≥ ×2,
SHAP ≥ ×5 ``pred_contrib``).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

from _timing import interleaved, reference_config, timed, verdict
from credit_grading.config import load_config
from credit_grading.engine.gbm import CompiledGbm
from credit_grading.gbm import GbmModel
from credit_grading.registry import validate_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.synth import generate_registry


def compare(
    name: str, engine: CompiledGbm, x: np.ndarray, n_score: int, n_explain: int, n_shap: int, repeat: int,
    targets: bool = False,
) -> None:  # fmt: skip
    """Scoring and SHAP of one model, ours against LightGBM (interleaved, best of ``repeat``)
    and shap.TreeExplainer (one run); with ``targets``, the ratios against issue #18's targets."""
    import shap

    threads = os.cpu_count() or 1
    booster = engine.booster
    fast = engine.fast
    xs = x[:n_score]
    fast.margin(xs[:1000])  # compile the kernels before timing
    leaves = max(t["num_leaves"] for t in booster.dump_model()["tree_info"])
    print(f"\n== {name}: {booster.num_trees()} trees, up to {leaves} leaves")
    from credit_grading.engine.fast_gbm import FastGbm

    t0 = time.perf_counter()
    summary = FastGbm(engine.spec.model_text).table_summary()  # a fresh build, timed
    t_tables = time.perf_counter() - t0
    xe = x[:n_explain]
    n_pc = min(n_explain, n_shap * 4)
    fast.contributions(xe[:1000])
    best = interleaved(
        repeat,
        {
            "ours score": lambda: fast.margin(xs, threads=threads),
            "booster.predict": lambda: booster.predict(xs, raw_score=True, num_threads=threads),
            "ours SHAP": lambda: fast.contributions(xe, threads=threads),
            "pred_contrib": lambda: booster.predict(xe[:n_pc], pred_contrib=True, num_threads=threads),
        },
    )
    ours, ref = fast.margin(xs, threads=threads), booster.predict(xs, raw_score=True, num_threads=threads)
    t_ours, t_ref = best["ours score"], best["booster.predict"]
    score_ratio = t_ref / t_ours
    print(f"scoring {n_score:,} rows: ours {t_ours:.2f} s ({n_score / t_ours:,.0f} rows/s), "
          f"booster.predict {t_ref:.2f} s ({n_score / t_ref:,.0f} rows/s): x{score_ratio:.2f} "
          f"{verdict(score_ratio, 2, at_least=True) if targets else ''}; "
          f"max |diff| {np.max(np.abs(ours - ref)):.1e}")  # fmt: skip
    phi = fast.contributions(xe, threads=threads)
    pc = booster.predict(xe[:n_pc], pred_contrib=True, num_threads=threads)
    xs2 = xe[:n_shap]
    explainer = shap.TreeExplainer(booster)
    sv, t_sv = timed(explainer.shap_values, xs2)
    sv = sv[1] if isinstance(sv, list) else sv
    r_ours, r_pc, r_sv = n_explain / best["ours SHAP"], n_pc / best["pred_contrib"], n_shap / t_sv
    print(f"trees explained by cell tables: {summary['tabulated']}/{summary['trees']} ({summary['tables']} tables, "
          f"{summary['table_values']:,} values), by leaf tables: {summary['leafwise']}, by recursion: "
          f"{summary['direct']}; built in {t_tables:.1f} s (once per model)")  # fmt: skip
    print(f"SHAP ours:               {n_explain:>9,} rows {best['ours SHAP']:7.2f} s  {r_ours:>10,.0f} rows/s")
    shap_ratio = r_ours / r_pc
    print(f"LightGBM pred_contrib:   {n_pc:>9,} rows {best['pred_contrib']:7.2f} s  {r_pc:>10,.0f} rows/s  "
          f"-> ours x{shap_ratio:.1f} {verdict(shap_ratio, 5, at_least=True) if targets else ''}")  # fmt: skip
    print(f"shap.TreeExplainer:      {n_shap:>9,} rows {t_sv:7.2f} s  {r_sv:>10,.0f} rows/s  -> ours x{r_ours / r_sv:.1f} "
          "(one run)")  # fmt: skip
    print(f"max |diff| vs pred_contrib {np.max(np.abs(phi[:n_pc] - pc)):.1e}, "
          f"vs TreeExplainer {np.max(np.abs(phi[:n_shap, :-1] - sv)):.1e}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows scored and explained (default model)")
    ap.add_argument("--reference-rows", type=int, default=20_000, help="rows explained (reference model)")
    ap.add_argument("--shap-rows", type=int, default=5_000)
    ap.add_argument("--train-rows", type=int, default=250_000)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats; the best of each is printed")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    config = load_config()
    schema = RegistrySchema.from_config(config)
    data = validate_table(generate_registry(args.train_rows, seed=1).table, schema).data
    rng = np.random.default_rng(0)
    valid = rng.random(len(data)) < 0.2
    train, val = data[~valid], data[valid]
    score_rows = validate_table(generate_registry(args.rows, seed=2).table, schema).data

    t0 = time.perf_counter()
    default = GbmModel(config).fit(train, val)
    print(
        f"default model trained in {time.perf_counter() - t0:.1f} s: max_depth={default.spec_.params['max_depth']} "
        f"num_leaves={default.spec_.params['num_leaves']}"
    )
    engine = CompiledGbm(default.spec_)
    x = engine.matrix(score_rows)
    compare("default model", engine, x, args.rows, args.rows, args.shap_rows, args.repeat)

    ref_cfg = reference_config(config)
    t0 = time.perf_counter()
    reference = GbmModel(ref_cfg).fit(train, val)
    print(f"\nreference model trained in {time.perf_counter() - t0:.1f} s")
    engine = CompiledGbm(reference.spec_)
    compare("400 x 31 reference model", engine, engine.matrix(score_rows), args.rows, args.reference_rows,
            min(args.shap_rows, args.reference_rows), args.repeat, targets=True)  # fmt: skip


if __name__ == "__main__":
    main()
