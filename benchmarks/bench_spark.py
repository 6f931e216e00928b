"""Benchmark: ``rescore --engine spark`` against the local ``rescore`` on the same registry.

Run by hand (not a test); every figure comes from this one run:

    .venv/bin/python benchmarks/bench_spark.py                    # 1M rows, local[2], best of 2
    .venv/bin/python benchmarks/bench_spark.py --rows 200000 --repeats 3

A synthetic registry (3% invalid rows, and copies of early rows appended at the end: duplicate
keys far apart) is written as Parquet with several row groups; the model is the test bundle
(``tests/data/bundle_v1``). One Spark session is started (its start is timed and reported
apart); a first Spark run warms the Python workers (reported as "first"). Then the local
command and the Spark job run interleaved, ``--repeats`` times each, both with rejects written
to Parquet; the best of each is compared. Printed: seconds, rows/s, Spark's phases (key
pre-pass, grading), the ratio Spark / local, and whether the results are identical — every
output row (in row order, floats bit for bit) and every reject.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve()
BUNDLE = HERE.parents[1] / "tests" / "data" / "bundle_v1"


def make_registry(path: Path, rows: int) -> None:
    from credit_grading.synth import generate_registry

    table = generate_registry(rows, seed=71, as_of="2026-06-30", invalid_fraction=0.03).table
    again = [table.slice(5, 200), table.slice(rows // 2, 50)]
    pq.write_table(pa.concat_tables([table, *again]), path, row_group_size=max(rows // 8, 1_000))


def plain(t: pa.Table) -> pa.Table:
    return pa.table({n: (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c)
                     for n, c in zip(t.column_names, t.columns, strict=True)})  # fmt: skip


def dataset_rows(folder: Path, as_of: str) -> pa.Table:
    """A dataset's rows in path order (= row order), the as-of date from each folder's name."""
    parts = []
    for f in sorted(folder.rglob("*.parquet")):
        t = plain(pq.read_table(f))
        parts.append(t.append_column(as_of, pa.array([f.parent.name.partition("=")[2]] * t.num_rows)))
    return pa.concat_tables(parts)


def identical(local_out: Path, spark_out: Path, local_rej: Path, spark_rej: Path) -> bool:
    local = plain(pq.read_table(local_out))
    got = dataset_rows(spark_out, "as_of")
    if got.num_rows != local.num_rows:
        return False
    for name in local.column_names:
        want = local.column(name).to_pylist()
        if name == "as_of":
            want = [d.isoformat() for d in want]
        if got.column(name).to_pylist() != want:
            print(f"  column {name} differs")
            return False
    return pq.read_table(local_rej).equals(pq.read_table(spark_rej))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--partitions", type=int, default=None)
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    from credit_grading.batch import rescore
    from credit_grading.bundle import load_bundle
    from credit_grading.spark import SparkOptions, rescore_file, session

    work = Path(tempfile.mkdtemp(prefix="bench_spark_"))
    try:
        reg = work / "registry.parquet"
        t = time.perf_counter()
        make_registry(reg, args.rows)
        n = pq.read_metadata(reg).num_rows
        print(f"registry: {n:,} rows, {pq.read_metadata(reg).num_row_groups} row groups "
              f"({time.perf_counter() - t:.1f} s to generate)")  # fmt: skip
        bundle = load_bundle(BUNDLE)
        t = time.perf_counter()
        spark = session(args.master)
        print(f"Spark session start ({args.master}): {time.perf_counter() - t:.1f} s (excluded below)")
        so = SparkOptions(master=args.master, partitions=args.partitions)

        def run_spark() -> tuple[float, dict]:
            t0 = time.perf_counter()
            s = rescore_file(bundle, reg, work / "spark.parquet", None, so, spark=spark, overwrite=True,
                             rejects_path=work / "spark_rejects.parquet")  # fmt: skip
            return time.perf_counter() - t0, s

        def run_local() -> tuple[float, dict]:
            t0 = time.perf_counter()
            s = rescore(
                bundle, reg, work / "local.parquet", overwrite=True, rejects_path=work / "local_rejects.parquet"
            )
            return time.perf_counter() - t0, s

        first, s = run_spark()
        print(f"first Spark run (Python workers start, engine compiled): {first:.1f} s, phases {s['spark']['seconds']}")
        best = {"local": float("inf"), "spark": float("inf")}
        phases = {}
        for i in range(args.repeats):
            for name, fn in (("local", run_local), ("spark", run_spark)):
                sec, s = fn()
                print(f"  repeat {i + 1} {name:5s}: {sec:6.2f} s ({n / sec:,.0f} rows/s)"
                      + (f"  phases {s['spark']['seconds']}" if name == "spark" else ""))  # fmt: skip
                if sec < best[name]:
                    best[name] = sec
                    if name == "spark":
                        phases = s["spark"]["seconds"]
        same = identical(work / "local.parquet", work / "spark.parquet", work / "local_rejects.parquet",
                         work / "spark_rejects.parquet")  # fmt: skip
        spark.stop()
        print()
        print(f"local rescore : {best['local']:6.2f} s  ({n / best['local']:,.0f} rows/s)")
        print(f"spark job     : {best['spark']:6.2f} s  ({n / best['spark']:,.0f} rows/s)  phases {phases}")
        print(f"spark / local : x{best['spark'] / best['local']:.2f}   (target: within x2, session start excluded)")
        print(f"identical results (every row, every reject): {same}")
        if not same:
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
