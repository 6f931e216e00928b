"""Benchmark: a registry scored inside DuckDB with the exported SQL, against our ``rescore``.

Run by hand (not a test); every figure comes from this one run:

    .venv/bin/python benchmarks/bench_export_sql.py                  # 5M rows, best of 2
    .venv/bin/python benchmarks/bench_export_sql.py --rows 1000000 --repeat 3

The model is the frozen bundle of ``tests/data/bundle_v1`` (the default depth-2 GBM deciding) and
a copy with the scorecard deciding. On one synthetic ``--rows``-row Parquet registry, for each
deciding model, interleaved, best of ``--repeat``:

* **duckdb**: ``COPY (<exported SQL over read_parquet(registry)>) TO result.parquet`` — points,
  PDs, grade, tier, override rules, top-3 reasons, written as Parquet (DuckDB's own threads);
* **rescore**: ``credit_grading.batch.rescore`` on the same file — it also validates every row
  (USCC check digits, ranges, levels; rejects with reasons), streams in chunks and writes an
  atomic, resumable Parquet result with the full result schema.

Printed: seconds and rows/s of each, the ratio rescore / duckdb, and the share of rows whose
``grade`` (and ``reason_1``) agree between the two (1.0 expected on this clean registry).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]


def _duckdb(sql: str, registry: Path, out: Path, threads: int | None) -> float:
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads TO {int(threads)}")
    con.execute(f"CREATE VIEW registry AS SELECT * FROM read_parquet('{registry}')")
    body = sql.rstrip().rstrip(";")
    t0 = time.perf_counter()
    con.execute(f"COPY ({body}) TO '{out}' (FORMAT parquet)")
    seconds = time.perf_counter() - t0
    con.close()
    return seconds


def _rescore(bundle, registry: Path, out: Path) -> float:
    from credit_grading.batch import rescore

    t0 = time.perf_counter()
    rescore(bundle, registry, out, reasons=3, overwrite=True)
    return time.perf_counter() - t0


def _agreement(a: Path, b: Path) -> dict:
    import pyarrow.parquet as pq

    x = pq.read_table(a, columns=["uscc", "grade", "reason_1"]).to_pandas()
    y = pq.read_table(b, columns=["uscc", "grade", "reason_1"]).to_pandas().set_index("uscc")
    y = y.loc[x["uscc"]]

    def same(c: str) -> float:
        return float((x[c].astype(object).fillna("").to_numpy() == y[c].astype(object).fillna("").to_numpy()).mean())

    return {"rows": len(x), "rows_other": len(y), "grade": same("grade"), "reason_1": same("reason_1")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: DuckDB's own choice)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from credit_grading.bundle import load_bundle
    from credit_grading.export import sql_text
    from credit_grading.synth import generate_registry, write_registry

    gbm = load_bundle(ROOT / "tests" / "data" / "bundle_v1")
    card = replace(gbm, model=replace(gbm.model, champion="scorecard"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reg = tmp / "registry.parquet"
        t0 = time.perf_counter()
        write_registry(generate_registry(args.rows, seed=2, as_of="2026-06-30"), reg)
        print(
            f"registry: {args.rows:,} rows written in {time.perf_counter() - t0:.1f} s ({reg.stat().st_size / 1e6:.0f} MB)"
        )
        for label, bundle in (("GBM champion", gbm), ("scorecard champion", card)):
            sql = sql_text(bundle, dialect_name="duckdb")
            best = {"duckdb": float("inf"), "rescore": float("inf")}
            for _ in range(args.repeat):  # interleaved: both see the same machine load
                best["duckdb"] = min(best["duckdb"], _duckdb(sql, reg, tmp / "duck.parquet", args.threads))
                best["rescore"] = min(best["rescore"], _rescore(bundle, reg, tmp / "ours.parquet"))
            agree = _agreement(tmp / "duck.parquet", tmp / "ours.parquet")
            print(f"{label}: SQL of {len(sql) / 1e3:.0f} kB")
            for k in ("duckdb", "rescore"):
                print(f"  {k:8s} {best[k]:8.2f} s  {args.rows / best[k]:>12,.0f} rows/s")
            print(f"  rescore / duckdb = {best['rescore'] / best['duckdb']:.2f}  "
                  f"(grade agrees on {agree['grade']:.6f} of rows, reason_1 on {agree['reason_1']:.6f})")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
