"""Build the shipped default model, ``models/credit_grading_default``, exactly as it is in the repo.

    .venv/bin/python models/make_default_model.py            # rewrites models/credit_grading_default

The model is trained on the built-in synthetic registry (two snapshots of 50,000 enterprises a
year apart, seeds fixed) with the built-in configuration and policy, without tracking. Training
is deterministic, so running this again reproduces every spec file byte for byte
(``tests/test_default_model.py`` checks it); only ``created_at`` in the manifest, the step
timings in ``evaluation.json`` and the generation time at the foot of the HTML pages differ.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
NAME = "credit_grading_default"
ROWS = 50_000
SNAPSHOTS = (("2024-12-31", 0.0), ("2025-12-31", 0.3))


def build(out_dir: Path) -> Path:
    """Train the default model into ``out_dir`` (replaced if it exists); returns its path."""
    from credit_grading.config import load_config
    from credit_grading.pipeline import train_pipeline
    from credit_grading.synth import generate_registry

    out_dir = Path(out_dir).resolve()
    here = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # the manifest records the data file as given: "training.parquet", not a temp path
        try:
            tables = [generate_registry(ROWS, seed=2025, as_of=d, drift=x).table for d, x in SNAPSHOTS]
            pq.write_table(pa.concat_tables(tables), "training.parquet")
            train_pipeline(load_config(), "training.parquet", out_dir, track=False, overwrite=True)
        finally:
            os.chdir(here)
    return out_dir


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / NAME
    print(f"built {build(target)}")
