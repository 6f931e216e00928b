"""The shipped default model: it loads, it grades, and its script rebuilds it (floats within tolerances)."""

import importlib.util
import json
import math
from pathlib import Path

import pyarrow.parquet as pq

from credit_grading.batch import rescore
from credit_grading.bundle import load_bundle
from credit_grading.synth import generate_registry, write_registry

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "credit_grading_default"
# Files whose bytes carry a time: step timings, and the generation time at the foot of the pages.
TIMED = {"evaluation.json", "validation_report.html", "grade_profiles.html"}


def test_the_shipped_model_is_small_loads_and_rescores(tmp_path):
    size = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert size < 5_000_000
    bundle = load_bundle(SHIPPED)
    reg = tmp_path / "r.parquet"
    write_registry(generate_registry(3_000, seed=5, as_of="2026-06-30"), reg)
    s = rescore(bundle, reg, tmp_path / "g.parquet")
    assert s["rows_graded"] == 3_000 and pq.read_metadata(tmp_path / "g.parquet").num_rows == 3_000


def _close(a, b, where: str = "") -> list[str]:
    """Differences between two JSON documents: numbers compared with a relative tolerance of 1e-9,
    everything else exactly; hashes, versions and times skipped."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a if k not in VOLATILE for d in _close(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _close(x, y, f"{where}[{i}]")]
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return (
            [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (a != a and b != b) else [f"{where}: {a} vs {b}"]
        )
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


# Content hashes and times are not compared: the model version and the file hashes are sha256 of
# printed floats, whose last digit may move between environments (another BLAS, numpy or LightGBM
# build), so the version of a rebuilt model may differ from the shipped one on another machine.
VOLATILE = {"version", "sha256", "bundle_sha256", "source_sha256", "created_at", "timings", "generated_at", "files"}


def test_the_script_reproduces_the_shipped_model_within_tolerances(tmp_path):
    import numpy as np
    import pandas as pd

    from credit_grading.engine.model import CompiledModel
    from credit_grading.registry import validate_table
    from credit_grading.service import bundle_schema

    spec = importlib.util.spec_from_file_location("make_default_model", ROOT / "models" / "make_default_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rebuilt = module.build(tmp_path / "rebuilt")
    a = json.loads((SHIPPED / "manifest.json").read_text())
    b = json.loads((rebuilt / "manifest.json").read_text())
    assert sorted(a["files"]) == sorted(b["files"])
    assert a["config"] == b["config"] and a["features"] == b["features"]
    assert _close(a["training_data"], b["training_data"]) == []
    for name in sorted(a["files"]):
        if name.endswith(".json") and name not in TIMED:
            diffs = _close(json.loads((SHIPPED / name).read_text()), json.loads((rebuilt / name).read_text()), name)
            assert diffs == [], diffs[:5]
        elif name.endswith(".csv"):
            x, y = pd.read_csv(SHIPPED / name), pd.read_csv(rebuilt / name)
            pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9, atol=1e-12, obj=name)
    ev_a, ev_b = (json.loads((d / "evaluation.json").read_text()) for d in (SHIPPED, rebuilt))
    assert _close(ev_a, ev_b, "evaluation.json") == []

    # The models themselves (the GBM's trees are text of printed floats): the same PDs and grades.
    old, new = load_bundle(SHIPPED), load_bundle(rebuilt)
    data = validate_table(generate_registry(3_000, seed=5, as_of="2026-06-30").table, bundle_schema(old)).data
    x, y = CompiledModel(old.model).score(data), CompiledModel(new.model).score(data)
    np.testing.assert_allclose(y.pd, x.pd, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(y.margin, x.margin, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(y.score, x.score, rtol=1e-9, atol=1e-9)
