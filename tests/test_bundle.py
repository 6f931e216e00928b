"""Bundles: pickle-free, hash-checked, reproducible, and the frozen version-1 bundle keeps loading."""

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credit_grading.bundle import SPEC_FILES, load_bundle, write_bundle
from credit_grading.config.policy import load_policy
from credit_grading.exceptions import BundleError
from credit_grading.grading import decide
from credit_grading.pipeline import train_pipeline
from credit_grading.registry.io import read_registry_table
from credit_grading.service import BundleGrader
from credit_grading.synth import generate_registry

DATA = __import__("pathlib").Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def written(tmp_path_factory, trained, config, catalogue):
    path = tmp_path_factory.mktemp("b") / "bundle"
    return write_bundle(path, trained.model, policy=load_policy(), catalogue=catalogue,
                        config=config.model_dump(mode="json"), training_data={"rows": 1, "sha256": "0" * 64},
                        reports={"evaluation.json": json.dumps({"x": 1})})  # fmt: skip


def test_round_trip_gives_the_same_model_and_the_same_grades(written, trained):
    loaded = load_bundle(written.path)
    assert loaded.version == written.version and len(loaded.version) == 12
    assert loaded.model.gbm == trained.model.gbm and loaded.model.scorecard == trained.model.scorecard
    assert loaded.model.scale == trained.model.scale and loaded.model.overrides == trained.model.overrides
    assert loaded.model.calibration == trained.model.calibration
    a, _ = decide(trained.model, trained.splits.test)
    b, _ = decide(loaded.model, trained.splits.test)
    pd.testing.assert_frame_equal(a.drop(columns="model_version"), b.drop(columns="model_version"))
    assert (b["model_version"] == loaded.version).all()
    # LightGBM's model is stored as its own text, and nothing in the bundle is a pickle.
    assert (written.path / "gbm.txt").read_text().startswith("tree")
    for p in written.path.iterdir():
        assert not p.read_bytes().startswith(b"\x80"), p.name
    manifest = json.loads((written.path / "manifest.json").read_text())
    assert set(SPEC_FILES) <= set(manifest["files"]) and "evaluation.json" in manifest["files"]
    assert manifest["format_version"] == 1 and manifest["package_version"]
    assert {f["name"] for f in manifest["features"]} >= set(trained.model.gbm.feature_names)


@pytest.mark.parametrize("name", ["gbm.txt", "grade_scale.json", "overrides.json", "evaluation.json"])
def test_a_changed_byte_is_refused_naming_the_file(written, tmp_path, name):
    copy = tmp_path / "b"
    shutil.copytree(written.path, copy)
    raw = bytearray((copy / name).read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (copy / name).write_bytes(bytes(raw))
    with pytest.raises(BundleError, match=rf"bundle file {name} has sha256 .* was changed after it was written"):
        load_bundle(copy)


def test_missing_files_and_other_versions_are_refused(written, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(written.path, copy)
    (copy / "policy.json").unlink()
    with pytest.raises(BundleError, match="policy.json is listed in the manifest but missing"):
        load_bundle(copy)
    shutil.rmtree(copy)
    shutil.copytree(written.path, copy)
    m = json.loads((copy / "manifest.json").read_text())
    m["format_version"] = 2
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="has format version 2; this package .* reads version 1"):
        load_bundle(copy)
    with pytest.raises(BundleError, match="no model bundle at"):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load_bundle(tmp_path / "empty")


def test_an_existing_bundle_is_not_overwritten_by_accident(written, trained, config, catalogue):
    with pytest.raises(BundleError, match="already exists"):
        write_bundle(written.path, trained.model, policy=load_policy(), catalogue=catalogue,
                     config=config.model_dump(mode="json"), training_data={})  # fmt: skip


def test_the_frozen_version_1_bundle_still_loads_and_grades_the_same():
    bundle = load_bundle(DATA / "bundle_v1")
    assert bundle.manifest["format_version"] == 1
    grader = BundleGrader(bundle)
    table, _ = read_registry_table(DATA / "bundle_v1_input.csv", grader.schema)
    got = grader.predict(table)
    expected = pd.read_csv(DATA / "bundle_v1_expected.csv", dtype={"model_version": str})
    assert list(got.columns) == list(expected.columns)
    assert (got["status"] == "rejected").sum() == 10
    for col in expected.columns:
        e = expected[col]
        g = got[col]
        if pd.api.types.is_float_dtype(e.dtype):
            np.testing.assert_allclose(g.to_numpy(dtype=float), e.to_numpy(dtype=float), rtol=1e-12, atol=1e-15,
                                       err_msg=col)  # fmt: skip
        else:
            assert (g.astype(str).where(g.notna(), "") == e.astype(str).where(e.notna(), "")).all(), col


def test_same_config_data_and_seed_give_identical_specs_and_grades(tmp_path, config):
    snaps = [generate_registry(5000, seed=41, as_of=d) for d in ("2024-12-31", "2025-12-31")]
    data = tmp_path / "train.parquet"
    pq.write_table(pa.concat_tables([s.table for s in snaps]), data)
    a = train_pipeline(config, data, tmp_path / "a", track=False)
    b = train_pipeline(config, data, tmp_path / "b", track=False)
    ma = json.loads((tmp_path / "a" / "manifest.json").read_text())
    mb = json.loads((tmp_path / "b" / "manifest.json").read_text())
    # Every spec and report byte for byte, except the step timings inside evaluation.json and the
    # generation time printed at the foot of the HTML pages.
    differ = {k for k in ma["files"] if ma["files"][k] != mb["files"][k]}
    assert differ <= {"evaluation.json", "validation_report.html", "grade_profiles.html"}
    assert "validation_report.json" in ma["files"] and "validation_report.json" not in differ
    ea, eb = (json.loads((tmp_path / x / "evaluation.json").read_text()) for x in "ab")
    assert {k: v for k, v in ea.items() if k != "timings"} == {k: v for k, v in eb.items() if k != "timings"}
    assert {k for k in ma if ma[k] != mb[k]} <= {"created_at", "files"}
    assert a.bundle.version == b.bundle.version
    ga, _ = decide(a.bundle.model, a.training.splits.test)
    gb, _ = decide(b.bundle.model, b.training.splits.test)
    pd.testing.assert_frame_equal(ga, gb)
    # The training-data fingerprint describes the file and its rows.
    fp = ma["training_data"]
    assert fp["rows"] == 10_000 and fp["as_of_min"] == "2024-12-31" and fp["as_of_max"] == "2025-12-31"
    assert len(fp["sha256"]) == 64 and len(fp["source_sha256"]) == 64 and 0.02 < fp["bad_rate"] < 0.2
