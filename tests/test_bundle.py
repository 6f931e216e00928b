"""Bundles: pickle-free, hash-checked, reproducible, and the frozen version-1 bundle keeps loading."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credit_grading import bundle as bundle_module
from credit_grading.bundle import SPEC_FILES, load_bundle, write_bundle
from credit_grading.config.policy import load_policy
from credit_grading.exceptions import BundleError
from credit_grading.grading import decide
from credit_grading.pipeline import train_pipeline
from credit_grading.registry.io import read_registry_table
from credit_grading.service import BundleGrader
from credit_grading.synth import generate_registry

DATA = Path(__file__).parent / "data"
SHIPPED = Path(__file__).resolve().parents[1] / "models" / "credit_grading_default"


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
    assert manifest["format_version"] == 2 and manifest["package_version"]
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
    m["format_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="has format version 99; this package .* reads versions 1, 2, 3"):
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


# --- integrity gaps: links, names, the manifest's own fields, nesting ---------------------------


@pytest.fixture()
def shipped(tmp_path):
    """A copy of the shipped default model (never the shipped files themselves)."""
    copy = tmp_path / "model"
    shutil.copytree(SHIPPED, copy)
    return copy


def _edit_manifest(path, change):
    m = json.loads((path / "manifest.json").read_text())
    change(m)
    (path / "manifest.json").write_text(json.dumps(m, ensure_ascii=False, indent=1))


def test_a_listed_file_replaced_by_a_link_to_a_file_outside_is_refused(shipped, tmp_path):
    outside = tmp_path / "elsewhere" / "policy.json"
    outside.parent.mkdir()
    shutil.copy(shipped / "policy.json", outside)  # the same bytes: its hash alone would let it pass
    (shipped / "policy.json").unlink()
    (shipped / "policy.json").symlink_to(outside)
    with pytest.raises(BundleError, match=r"bundle file policy.json in .* is a symbolic link; .*refusing to load it"):
        load_bundle(shipped)


def test_any_link_inside_the_bundle_is_refused_but_the_bundle_folder_may_be_a_link(shipped, tmp_path):
    (shipped / "notes").symlink_to(shipped / "points.csv")  # unlisted, pointing inside
    with pytest.raises(BundleError, match=r"bundle file notes in .* is a symbolic link"):
        load_bundle(shipped)
    (shipped / "notes").unlink()
    real = shipped / "manifest.json"
    (tmp_path / "manifest.json").write_bytes(real.read_bytes())
    real.unlink()
    real.symlink_to(tmp_path / "manifest.json")
    with pytest.raises(BundleError, match=r"bundle file manifest.json in .* is a symbolic link"):
        load_bundle(shipped)
    real.unlink()
    real.write_bytes((tmp_path / "manifest.json").read_bytes())
    (tmp_path / "current").symlink_to(shipped, target_is_directory=True)  # models/current -> models/v3
    assert load_bundle(tmp_path / "current").version == load_bundle(SHIPPED).version


@pytest.mark.parametrize("name", ["../policy.json", "/etc/hostname", "sub/policy.json", ".hidden", ".."])
def test_names_in_the_manifest_that_leave_the_bundle_are_refused(shipped, tmp_path, name):
    target = tmp_path / "policy.json"
    target.write_bytes((shipped / "policy.json").read_bytes())
    digest = bundle_module.sha256_bytes(target.read_bytes())
    _edit_manifest(shipped, lambda m: m["files"].update({name: digest}))
    with pytest.raises(BundleError, match=rf"lists '{name}', which is not a plain file name inside the bundle"):
        load_bundle(shipped)


def test_an_edited_manifest_config_no_longer_matches_the_model_version(shipped, tmp_path):
    before = load_bundle(shipped)
    assert before.manifest["format_version"] == 2 and before.config["dataset"]["id_format"] == "uscc"
    _edit_manifest(shipped, lambda m: m["config"]["dataset"].update(id_format="any"))
    with pytest.raises(BundleError, match=rf"the model version of bundle .* does not match its content: manifest.json "
                                          rf"says '{before.version}'.*the bundle was changed after it was written"):  # fmt: skip
        load_bundle(shipped)
    # So is any other field that changes behaviour: a new field, the champion, a feature's type.
    for change in (lambda m: m.update(extra={"x": 1}), lambda m: m["model"].update(champion="scorecard"),
                   lambda m: m["features"][0].update(type="categorical")):  # fmt: skip
        shutil.rmtree(shipped)
        shutil.copytree(SHIPPED, shipped)
        _edit_manifest(shipped, change)
        with pytest.raises(BundleError, match="does not match its content"):
            load_bundle(shipped)


def test_model_json_edited_with_its_hash_updated_no_longer_matches_the_version(shipped):
    doc = json.loads((shipped / "model.json").read_text())
    doc["hysteresis_margin"] = 0.5
    raw = json.dumps(doc).encode()
    (shipped / "model.json").write_bytes(raw)
    _edit_manifest(shipped, lambda m: m["files"].update({"model.json": bundle_module.sha256_bytes(raw)}))
    with pytest.raises(BundleError, match="does not match its content"):
        load_bundle(shipped)


def test_provenance_fields_change_the_bundle_hash_but_not_the_version(shipped):
    before = load_bundle(shipped)
    _edit_manifest(shipped, lambda m: m.update(created_at="2020-01-01T00:00:00+00:00"))
    after = load_bundle(shipped)
    assert after.version == before.version and after.sha256 != before.sha256


def test_a_version_1_manifest_edit_loads_with_the_same_version_but_another_bundle_hash(tmp_path):
    """Format 1 did not cover the manifest's config: such an edit is visible only in the bundle hash
    (which the run log records) — or refused when the bundle is signed (tests/test_signing.py)."""
    copy = tmp_path / "v1"
    shutil.copytree(DATA / "bundle_v1", copy)
    original = load_bundle(copy)
    _edit_manifest(copy, lambda m: m["config"]["dataset"].update(id_format="any"))
    edited = load_bundle(copy)
    assert edited.manifest["format_version"] == 1 and edited.config["dataset"]["id_format"] == "any"
    assert edited.version == original.version == "3c1c81c027a4"
    assert edited.sha256 != original.sha256
    # A v1 spec file edited with its hash updated no longer matches the v1 version.
    raw = (copy / "policy.json").read_bytes().replace(b"{", b"{ ", 1)
    (copy / "policy.json").write_bytes(raw)
    _edit_manifest(copy, lambda m: m["files"].update({"policy.json": bundle_module.sha256_bytes(raw)}))
    with pytest.raises(BundleError, match="its spec files give"):
        load_bundle(copy)


def test_a_deeply_nested_manifest_is_refused_with_one_message(shipped):
    text = (shipped / "manifest.json").read_text()
    nested = "[" * 10_000 + "]" * 10_000
    (shipped / "manifest.json").write_text(text.replace('"config": {', f'"deep": {nested}, "config": {{', 1))
    with pytest.raises(BundleError, match=r"manifest.json of .* nests deeper than 200 levels; refusing to load it"):
        load_bundle(shipped)


def test_deep_json_in_a_listed_file_or_a_huge_manifest_is_refused(shipped, monkeypatch):
    deep = ("[" * 10_000 + "]" * 10_000).encode()
    (shipped / "overrides.json").write_bytes(deep)
    _edit_manifest(shipped, lambda m: m["files"].update({"overrides.json": bundle_module.sha256_bytes(deep)}))
    with pytest.raises(BundleError, match="bundle file overrides.json nests its JSON too deeply"):
        load_bundle(shipped)
    monkeypatch.setattr(bundle_module, "MAX_MANIFEST_BYTES", 1000)
    with pytest.raises(BundleError, match=r"manifest.json of .* is [\d,]+ bytes, more than the 1,000"):
        load_bundle(shipped)


def test_a_listed_name_that_is_a_folder_or_a_fifo_is_refused(shipped):
    (shipped / "points.csv").unlink()
    os.mkfifo(shipped / "points.csv")  # opening it for reading would block without O_NONBLOCK
    with pytest.raises(BundleError, match="points.csv in .* is not a regular file"):
        load_bundle(shipped)
