"""Quality against explanation cost for a few GBM configurations.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_gbm_configs.py

The same out-of-time set-up as ``bench_quality.py`` (train 200k / valid 50k from the
2024-12-31 snapshot, test on the 2025-12-31 snapshot). For each configuration: trees kept
by early stopping, training time, test Gini and its share of the oracle's, and the cost of
scoring and of exact SHAP for 100,000 rows with our evaluator (how many trees are
explained by cell tables, leaf tables or the recursion).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from credit_grading.config import load_config
from credit_grading.engine.fast_gbm import FastGbm
from credit_grading.engine.gbm import CompiledGbm
from credit_grading.evaluation import auc
from credit_grading.gbm import GbmModel
from credit_grading.registry import validate_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.synth import generate_registry

CONFIGS = [  # max_depth, num_leaves, learning_rate
    (2, 4, 0.1),
    (2, 4, 0.2),
    (3, 8, 0.1),
    (4, 15, 0.05),
    (5, 15, 0.05),
]


def main() -> None:
    warnings.simplefilter("ignore")
    cfg = load_config()
    schema = RegistrySchema.from_config(cfg)
    a = validate_table(generate_registry(250_000, seed=1, as_of="2024-12-31").table, schema).data
    b = validate_table(
        generate_registry(250_000, seed=1, as_of="2025-12-31").table, schema, passthrough=["true_pd"]
    ).data
    valid = np.random.default_rng(0).random(len(a)) < 0.2
    y = b["bad_12m"].to_numpy(float)
    oracle = 2 * auc(y, b["true_pd"].to_numpy()) - 1
    n = 100_000
    print(f"oracle test Gini {oracle:.4f}; timings on {n:,} rows, 2 threads")
    for depth, leaves, lr in CONFIGS:
        c = cfg.model_copy(update={"gbm": cfg.gbm.model_copy(update={"max_depth": depth, "num_leaves": leaves,
                                                                      "learning_rate": lr})})  # fmt: skip
        t0 = time.perf_counter()
        model = GbmModel(c).fit(a[~valid], a[valid])
        t_fit = time.perf_counter() - t0
        engine = CompiledGbm(model.spec_)
        x = engine.matrix(b)
        gini = 2 * auc(y, engine.margin(x)) - 1
        t0 = time.perf_counter()
        fast = FastGbm(model.spec_.model_text)
        summary = fast.table_summary()
        t_build = time.perf_counter() - t0
        fast.contributions(x[:200])
        t0 = time.perf_counter()
        fast.margin(x[:n])
        t_score = time.perf_counter() - t0
        t0 = time.perf_counter()
        fast.contributions(x[:n])
        t_shap = time.perf_counter() - t0
        print(
            f"depth {depth} leaves {leaves:2d} lr {lr}: {model.spec_.best_iteration:4d} trees, fit {t_fit:5.1f} s, "
            f"Gini {gini:.4f} ({gini / oracle:.3f} of oracle); score {n / t_score:>10,.0f} rows/s, "
            f"SHAP {n / t_shap:>9,.0f} rows/s (cell tables {summary['tabulated']}, leaf tables "
            f"{summary['leafwise']}, recursion {summary['direct']}; built {t_build:.1f} s)"
        )


if __name__ == "__main__":
    main()
