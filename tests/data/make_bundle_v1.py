"""How the frozen bundle of format version 1 in ``tests/data/bundle_v1`` was made.

Run once, by hand, when the format version 1 was introduced; never again. The bundle, its
input rows and the results it gave are kept as they were, and ``tests/test_bundle.py``
checks that this package still loads the bundle and grades the rows the same way. A new
bundle format gets its own frozen directory beside this one.

    python tests/data/make_bundle_v1.py
"""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from credit_grading.config import load_config
from credit_grading.pipeline import train_pipeline
from credit_grading.registry.io import read_registry_table
from credit_grading.service import BundleGrader
from credit_grading.synth import generate_registry, write_registry

HERE = Path(__file__).parent


def main() -> None:
    cfg = load_config()
    snaps = [generate_registry(6000, seed=101, as_of=d, drift=x) for d, x in (("2024-12-31", 0.0), ("2025-12-31", 0.3))]
    train_file = HERE / "_train_v1.parquet"
    pq.write_table(pa.concat_tables([s.table for s in snaps]), train_file)
    res = train_pipeline(cfg, train_file, HERE / "bundle_v1", track=False, overwrite=True)
    train_file.unlink()
    rows = generate_registry(200, seed=102, as_of="2026-06-30", invalid_fraction=0.05)
    write_registry(rows, HERE / "bundle_v1_input.csv")
    (HERE / "bundle_v1_input.csv.injected.csv").unlink(missing_ok=True)
    grader = BundleGrader(res.bundle)
    table, _ = read_registry_table(HERE / "bundle_v1_input.csv", grader.schema)
    grader.predict(table).to_csv(HERE / "bundle_v1_expected.csv", index=False, float_format="%.17g")


if __name__ == "__main__":
    main()
