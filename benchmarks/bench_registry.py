"""Benchmark: synthetic registry generation and whole-table validation.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_registry.py --rows 1000000

Prints the time to synthesise and write N rows (target: 1M rows in at most 20 s), the
time to read and validate them from Parquet and CSV, and, when pandera is installed
(``pip install pandera``), the same checks expressed as a lazy pandera schema on the same
rows, with the ratio. The USCC check-character rule is given to pandera as a vectorised
pandas check so both sides check the same things.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _timing import timed
from credit_grading.catalogue import ItemType
from credit_grading.config import load_config
from credit_grading.registry import load_registry
from credit_grading.registry.io import write_table
from credit_grading.registry.schema import RegistrySchema
from credit_grading.registry.uscc import ALPHABET, WEIGHTS
from credit_grading.synth import generate_registry, write_registry


def pandera_schema(schema: RegistrySchema):
    import pandera.pandas as pa

    value = {c: i for i, c in enumerate(ALPHABET)}

    def uscc_ok(s: pd.Series) -> pd.Series:
        s = s.astype(str)
        ok = s.str.len().eq(18) & s.str.fullmatch(f"[{ALPHABET}]{{18}}")
        chars = s.where(ok, "0" * 18)
        total = sum(chars.str[i].map(value).astype(np.int64) * int(WEIGHTS[i]) for i in range(17))
        check = chars.str[17].map(value)
        return ok & ((31 - total % 31) % 31).eq(check)

    cols = {
        schema.id_column: pa.Column(str, [pa.Check(uscc_ok)], unique=True, nullable=False),
        schema.as_of_column: pa.Column("datetime64[ns]", nullable=False, coerce=True),
    }
    for it in schema.input_items:
        nullable = it.missing.allowed
        if it.type is ItemType.NUMERIC:
            checks = []
            if it.min is not None:
                checks.append(pa.Check.ge(it.min))
            if it.max is not None:
                checks.append(pa.Check.le(it.max))
            cols[it.id] = pa.Column(float, checks, nullable=nullable, coerce=True)
        elif it.type is ItemType.FLAG:
            cols[it.id] = pa.Column(float, pa.Check.isin([0, 1]), nullable=nullable, coerce=True)
        elif it.type is ItemType.CATEGORICAL:
            cols[it.id] = pa.Column(str, pa.Check.isin(list(it.level_codes)), nullable=nullable, coerce=True)
        elif it.type is ItemType.DATE:
            cols[it.id] = pa.Column("datetime64[ns]", nullable=nullable, coerce=True)
        else:
            cols[it.id] = pa.Column(str, nullable=nullable, coerce=True)
    return pa.DataFrameSchema(cols, strict=False)


def run_pandera(path: Path, schema: RegistrySchema) -> tuple[int, float]:
    import pandera.errors

    ps = pandera_schema(schema)
    t0 = time.perf_counter()
    df = pd.read_parquet(path)
    try:
        ps.validate(df, lazy=True)
        failures = 0
    except pandera.errors.SchemaErrors as exc:
        failures = len(exc.failure_cases)
    return failures, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--invalid-fraction", type=float, default=0.02)
    ap.add_argument("--skip-pandera", action="store_true")
    args = ap.parse_args()
    schema = RegistrySchema.from_config(load_config())
    n = args.rows
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clean = tmp / "clean.parquet"
        reg, t_gen = timed(generate_registry, n, seed=args.seed, as_of="2025-12-31")
        _, t_write = timed(write_registry, reg, clean)
        print(f"rows: {n:,}")
        print(f"synth, clean: generate {t_gen:.2f} s + write Parquet {t_write:.2f} s = {t_gen + t_write:.2f} s")
        res, t_val = timed(load_registry, clean, schema)
        print(
            f"validate Parquet, clean: {t_val:.2f} s ({n / t_val:,.0f} rows/s); "
            f"valid {res.rows_valid:,}, rejected {res.rows_rejected:,}"
        )
        csv = tmp / "clean.csv"
        timed(write_table, reg.table, csv)
        res_csv, t_csv = timed(load_registry, csv, schema)
        print(f"validate CSV, clean: {t_csv:.2f} s ({n / t_csv:,.0f} rows/s); valid {res_csv.rows_valid:,}")
        del reg, res, res_csv

        dirty = tmp / "dirty.parquet"
        reg, t_gen2 = timed(generate_registry, n, seed=args.seed, as_of="2025-12-31",
                            invalid_fraction=args.invalid_fraction)  # fmt: skip
        _, t_write2 = timed(write_registry, reg, dirty)
        injected = reg.injected
        print(
            f"synth, {args.invalid_fraction:.0%} invalid: {t_gen2 + t_write2:.2f} s, "
            f"{len(injected):,} rows given a defect"
        )
        res, t_val2 = timed(load_registry, dirty, schema)
        got = set(zip(res.rejects["row_number"], res.rejects["reason"], strict=True))
        missed = sum((r, c) not in got for r, c in zip(injected["row_number"], injected["reason"], strict=True))
        extra = len(set(res.rejects["row_number"]) - set(injected["row_number"]))
        print(
            f"validate Parquet, dirty: {t_val2:.2f} s; rejected {res.rows_rejected:,} "
            f"(injected {len(injected):,}, missed {missed}, clean rows rejected {extra}); "
            f"read = valid + rejected: {res.rows_read == res.rows_valid + res.rows_rejected}"
        )
        print("  by reason:", res.reason_counts())

        if not args.skip_pandera:
            try:
                import pandera  # noqa: F401
            except ImportError:
                print("pandera not installed: skipping the reference comparison (pip install pandera)")
                return
            for label, path, ours in (("clean", clean, t_val), ("dirty", dirty, t_val2)):
                failures, t_pa = run_pandera(path, schema)
                print(
                    f"pandera (read_parquet + lazy validate), {label}: {t_pa:.2f} s, {failures:,} failure cases; "
                    f"ours {ours:.2f} s; speed-up x{t_pa / ours:.1f}"
                )


if __name__ == "__main__":
    main()
