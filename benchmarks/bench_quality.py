"""Quality figures: scorecard and GBM against the oracle on an out-of-time test.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_quality.py

Two snapshots of the same synthetic registry a year apart (2024-12-31 and 2025-12-31,
``--rows`` entities each). The earlier one is split into training (80%, 200,000 rows by
default) and validation (20%: early stopping and calibration); the later one is the
out-of-time test. Prints the champion/challenger table with the oracle (the true PD's
Gini on the same rows), each model's Gini as a share of the oracle's, Brier scores and
the time of each step.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from credit_grading.config import load_config
from credit_grading.registry import validate_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.synth import generate_registry
from credit_grading.training import champion_challenger_table, train_models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=250_000, help="entities per snapshot")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drift", type=float, default=0.0, help="drift of the test snapshot")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    config = load_config()
    schema = RegistrySchema.from_config(config)
    parts = []
    for as_of, drift in (("2024-12-31", 0.0), ("2025-12-31", args.drift)):
        reg = generate_registry(args.rows, seed=args.seed, as_of=as_of, drift=drift)
        parts.append(validate_table(reg.table, schema, passthrough=["true_pd"]).data)
    data = pd.concat(parts, ignore_index=True)
    t0 = time.perf_counter()
    res = train_models(data, config)
    total = time.perf_counter() - t0
    ev = res.evaluation
    print(f"split: {ev['split']['description']}; rows {ev['split']['rows']}")
    cols = ["model", "auc", "gini", "gini_vs_oracle", "ks", "brier", "log_loss", "calibration_in_the_large"]
    table = champion_challenger_table(ev)
    print(table[[c for c in cols if c in table.columns]].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("times (s):", {k: round(v, 1) for k, v in res.timings.items()}, f"total {total:.1f}")
    print(f"GBM: {res.gbm.spec_.best_iteration} trees; scorecard: {len(res.scorecard.spec_.features)} features")


if __name__ == "__main__":
    main()
