"""Sector (segment) models: training per segment with the pooled fallback, one master scale, vectorised
routing in the engine with exact explanations, and segmented bundles (format 3) on disk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from credit_grading.bundle import load_bundle, write_bundle
from credit_grading.config.segments import SegmentsConfig
from credit_grading.engine.model import CompiledModel
from credit_grading.engine.segmented import POOLED, CompiledSegmentedModel
from credit_grading.exceptions import BundleError
from credit_grading.synth import generate_registry

GROUPS = {"production": ["B", "C", "D", "E"], "trade": ["F", "G"], "food_drug": ["H", "Q", "R"],
          "finance": ["J", "K", "L"]}  # fmt: skip


@pytest.fixture(scope="module")
def seg_data(schema):
    from credit_grading.registry import validate_table

    parts = [
        validate_table(
            generate_registry(5_000, seed=41, as_of=d, sector_drivers=True).table, schema, passthrough=["true_pd"]
        ).data
        for d in ("2023-12-31", "2024-12-31", "2025-12-31")
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def seg_result(config, seg_data):
    from credit_grading.segments import train_segments

    seg = SegmentsConfig(column="industry", groups=GROUPS, min_rows=2_500)
    return train_segments(seg_data, config, seg, cv=False)


def test_segments_config_refuses_a_level_in_two_groups_and_bad_names():
    with pytest.raises(ValueError, match="level 'F' is in both 'trade' and 'retail'"):
        SegmentsConfig(column="industry", groups={"trade": ["F"], "retail": ["F"]})
    with pytest.raises(ValueError, match="segment name 'pooled'"):
        SegmentsConfig(column="industry", groups={"pooled": ["F"]})
    with pytest.raises(ValueError, match="segment name '../x'"):
        SegmentsConfig(column="industry", groups={"../x": ["F"]})


def test_small_segments_fall_back_to_the_pooled_model(seg_result, seg_data):
    spec = seg_result.spec
    rows = {name: int(seg_data["industry"].isin(levels).sum()) for name, levels in GROUPS.items()}
    trained = {name for name, n in rows.items() if n >= 2_500}
    assert set(spec.models) == trained == {"trade", "finance"}  # of 15,000 rows: production and food_drug have fewer
    meta = spec.meta["segments"]
    assert "fewer than segments.min_rows (2,500)" in meta["production"]["fallback"]
    assert meta["trade"]["rows"] == rows["trade"]
    # One champion kind for every segment, one master scale, the same override rules.
    assert {m.champion for m in spec.models.values()} == {spec.pooled.champion}
    assert all(m.scale == spec.pooled.scale and m.overrides == spec.pooled.overrides for m in spec.models.values())


def test_routing_scores_each_row_with_its_segments_model_to_the_last_digit(seg_result, seg_data):
    spec = seg_result.spec
    engine = CompiledSegmentedModel(spec)
    data = seg_data.iloc[:3000].copy()
    data["industry"] = data["industry"].cat.add_categories(["ZZ"])
    data.iloc[5, data.columns.get_loc("industry")] = "ZZ"  # a level never seen: the pooled model
    data.iloc[6, data.columns.get_loc("industry")] = None  # missing: the pooled model
    res = engine.score(data, reasons=3)
    names = engine.segment_names[res.segment]
    level = data["industry"].astype(object).to_numpy()
    expected = np.where(np.isin(level, GROUPS["trade"]), "trade",
                        np.where(np.isin(level, GROUPS["finance"]), "finance", POOLED))  # fmt: skip
    assert (names == expected).all() and names[5] == POOLED and names[6] == POOLED
    for seg in (POOLED, "trade", "finance"):
        rows = np.flatnonzero(names == seg)
        alone = CompiledModel(spec.model_of(seg)).score(data.iloc[rows], reasons=3)
        np.testing.assert_array_equal(res.pd[rows], alone.pd)
        np.testing.assert_array_equal(res.score[rows], alone.score)
        got = np.array([*res.reason_names, None], dtype=object)[res.reason_index[rows]]
        want = np.array([*alone.reason_names, None], dtype=object)[alone.reason_index]
        assert (got == want).all()
        np.testing.assert_array_equal(res.reason_value[rows], alone.reason_value)
    # Rows of one segment only: scored without grouping, the same numbers.
    trade = np.flatnonzero(names == "trade")
    np.testing.assert_array_equal(engine.score(data.iloc[trade]).pd, res.pd[trade])
    # A subset explained: the others get no reasons, the explained ones the same as before.
    part = engine.score(data, reasons=3, explain=np.arange(0, 3000, 7))
    np.testing.assert_array_equal(part.reason_index[::7], res.reason_index[::7])
    assert (part.reason_index[1::7] == -1).all()


def test_explanations_stay_exact_per_segment(seg_result, seg_data):
    engine = CompiledSegmentedModel(seg_result.spec)
    data = seg_data.iloc[:2000]
    res = engine.score(data)
    contrib, base = engine.contributions(data)
    total = contrib.sum(axis=1) + base
    if seg_result.spec.pooled.champion == "gbm":
        np.testing.assert_allclose(total, res.margin, rtol=0, atol=1e-9)
    else:
        np.testing.assert_allclose(total, res.score, rtol=0, atol=1e-9)
    # A feature a row's segment model does not read contributes nothing to that row.
    seg = engine.segment_names[res.segment]
    trade = seg_result.spec.models["trade"].decider
    unused = [j for j, f in enumerate(engine.reason_names) if f not in {g.name for g in trade.features}]
    assert (contrib[np.ix_(seg == "trade", unused)] == 0).all()


def test_grades_come_from_one_master_scale(seg_result, seg_data):
    from credit_grading.grading.decide import decide

    spec = seg_result.spec
    engine = CompiledSegmentedModel(spec)
    out, _ = decide(spec.pooled, seg_data.iloc[:4000], reasons=2, compiled=engine)
    pd_ = engine.score(seg_data.iloc[:4000]).pd
    np.testing.assert_array_equal(out["pd"].to_numpy(), pd_)
    cut = np.searchsorted(np.asarray(spec.pooled.scale.cutoffs), pd_, side="left")
    assert (out["model_grade"].to_numpy() == np.asarray(spec.pooled.scale.grades, dtype=object)[cut]).all()


def test_evaluation_compares_segmented_and_pooled_on_the_same_out_of_time_rows(seg_result):
    ev = seg_result.evaluation["test"]
    assert ev["segmented"]["rows"] == ev["pooled"]["rows"] == seg_result.pooled.splits.test.shape[0]
    assert set(ev["per_segment"]) == {*GROUPS, "(other levels)"}
    assert ev["per_segment"]["production"]["model"] == POOLED
    assert ev["per_segment"]["production"]["segmented"] == ev["per_segment"]["production"]["pooled"]
    assert ev["gini_gain"] == pytest.approx(ev["segmented"]["gini"] - ev["pooled"]["gini"])


def _write(tmp_path, seg_result, bundle):
    spec = seg_result.spec
    return write_bundle(tmp_path / "seg", spec.pooled, policy=bundle.policy, catalogue=bundle.catalogue,
                        config={"segments": {"column": "industry"}}, training_data={"rows": 1},
                        segments=spec)  # fmt: skip


def test_segmented_bundle_round_trip_with_every_segment_hashed(tmp_path, seg_result, seg_data, bundle):
    written = _write(tmp_path, seg_result, bundle)
    manifest = json.loads((tmp_path / "seg" / "manifest.json").read_text())
    assert manifest["format_version"] == 3
    assert manifest["segments"] == {"column": "industry", "models": ["trade", "finance"]}
    for seg in ("trade", "finance"):
        assert f"segment_{seg}__gbm.txt" in manifest["files"]
        assert f"segment_{seg}__calibration_{seg_result.spec.pooled.champion}.json" in manifest["files"]
    assert "segments.json" in manifest["files"]
    loaded = load_bundle(tmp_path / "seg")
    assert loaded.segments is not None and loaded.version == written.version
    assert set(loaded.segments.models) == {"trade", "finance"} and loaded.reports == {}
    data = seg_data.iloc[:3000]
    a = CompiledSegmentedModel(seg_result.spec).score(data, reasons=3)
    b = CompiledSegmentedModel(loaded.segments).score(data, reasons=3)
    np.testing.assert_array_equal(a.pd, b.pd)
    np.testing.assert_array_equal(a.reason_index, b.reason_index)
    assert loaded.segments.pooled.scale == seg_result.spec.pooled.scale


def test_a_changed_segment_file_is_refused(tmp_path, seg_result, bundle):
    _write(tmp_path, seg_result, bundle)
    path = tmp_path / "seg" / "segment_trade__gbm.txt"
    path.write_text(path.read_text().replace("shrinkage", "shrinkage ", 1))
    with pytest.raises(BundleError, match="segment_trade__gbm.txt has sha256"):
        load_bundle(tmp_path / "seg")


def test_frozen_bundles_still_load_without_segments(bundle):
    assert bundle.segments is None and bundle.manifest["format_version"] == 1


def test_explain_conventions_and_what_a_decision_report_names(seg_result, seg_data):
    spec = seg_result.spec
    engine = CompiledSegmentedModel(spec)
    data = seg_data.iloc[:1500]
    res = engine.score(data)
    features, contrib, base, kind = engine.explain(data)
    assert features == engine.reason_names
    if kind == "shap":
        np.testing.assert_allclose(base + contrib.sum(axis=1), res.margin, rtol=0, atol=1e-9)
    else:
        np.testing.assert_allclose(base - contrib.sum(axis=1), res.score, rtol=0, atol=1e-9)
    assert spec.describe("F") == {"column": "industry", "level": "F", "segment": "trade", "model": "trade",
                                  "fallback": None}  # fmt: skip
    small = spec.describe("C")
    assert small["segment"] == "production" and small["model"] == POOLED and "min_rows" in small["fallback"]
    assert spec.describe("M")["fallback"] == "no segment holds industry 'M'"
    assert spec.describe(None)["fallback"] == "industry is missing"


def test_scorecard_champion_explanations_sum_to_the_points(seg_result, seg_data):
    from dataclasses import replace

    spec = seg_result.spec
    card = replace(spec, pooled=replace(spec.pooled, champion="scorecard"),
                   models={n: replace(m, champion="scorecard") for n, m in spec.models.items()})  # fmt: skip
    engine = CompiledSegmentedModel(card)
    data = seg_data.iloc[:1500]
    res = engine.score(data, reasons=3)
    contrib, base = engine.contributions(data)
    np.testing.assert_allclose(contrib.sum(axis=1) + base, res.score, rtol=0, atol=1e-9)
    _, shortfall, best, kind = engine.explain(data)
    assert kind == "points_shortfall" and (shortfall >= -1e-12).all()
    np.testing.assert_allclose(best - shortfall.sum(axis=1), res.score, rtol=0, atol=1e-9)
    trade = np.flatnonzero(engine.segment_names[res.segment] == "trade")
    alone = CompiledModel(card.models["trade"]).score(data.iloc[trade], reasons=3)
    np.testing.assert_array_equal(res.pd[trade], alone.pd)


def test_segment_sections_of_the_validation_report(seg_result, seg_data):
    from credit_grading.segments import segment_sections

    test = seg_data[seg_data["as_of"] == seg_data["as_of"].max()]
    out = segment_sections(seg_result.spec, test, "bad_12m")
    names = [s["segment"] for s in out["segments"]]
    assert names == [*GROUPS, "(other levels)"]
    assert sum(s["rows"] for s in out["segments"]) == len(test) == out["segmented"]["rows"]
    by = {s["segment"]: s for s in out["segments"]}
    assert by["trade"]["model"] == "trade" and by["production"]["model"] == POOLED
    assert by["production"]["segmented"] == by["production"]["pooled"] and by["production"]["fallback"]
    assert sum(g["count"] for g in by["trade"]["grades"]) == by["trade"]["rows"]
    ev = seg_result.evaluation["test"]
    assert out["segmented"]["gini"] == pytest.approx(ev["segmented"]["gini"])


def test_train_with_a_segments_config_writes_a_segmented_bundle_and_report(tmp_path):
    import os
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from credit_grading.config import load_config

    tables = [generate_registry(4_000, seed=43, as_of=d, sector_drivers=True).table
              for d in ("2023-12-31", "2024-12-31", "2025-12-31")]  # fmt: skip
    pq.write_table(pa.concat_tables(tables), tmp_path / "r.parquet")
    base = load_config()
    cfg = yaml.safe_load((base.base_dir / "default.yaml").read_text())
    cfg["dataset"]["catalogue"] = str(base.base_dir / "catalogue.yaml")
    cfg["evaluation"] = {"cv": {"mode": "off"}, "bootstrap": 20}
    cfg["segments"] = {"column": "industry", "groups": {"trade": ["F", "G"], "finance": ["J", "K", "L"]},
                       "min_rows": 3_000}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    res = subprocess.run([sys.executable, "-m", "credit_grading.cli", "train", "--data", "r.parquet", "--config",
                          "c.yaml", "--out", "b", "--no-track", "-q"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600, env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Sector models of industry: trade (pooled model for finance);" in res.stdout
    bundle = load_bundle(tmp_path / "b")
    assert bundle.manifest["format_version"] == 3 and set(bundle.segments.models) == {"trade"}
    assert bundle.manifest["config"]["segments"]["min_rows"] == 3_000
    rep = json.loads((tmp_path / "b" / "validation_report.json").read_text())
    assert [s["segment"] for s in rep["segments"]["segments"]] == ["trade", "finance", "(other levels)"]
    assert rep["segments"]["segments"][1]["model"] == POOLED
    assert "分行业模型 · Sector models" in (tmp_path / "b" / "validation_report.html").read_text()
    ev = json.loads((tmp_path / "b" / "evaluation.json").read_text())
    assert ev["grades"]["cutoffs"] == list(bundle.model.scale.cutoffs)  # the master scale is the one reported
    assert "gini_gain" in ev["segments"]["test"]


def test_grading_explaining_and_reports_use_each_rows_segment_model(tmp_path, seg_result, bundle):
    """The service (rescore, explain, the MLflow model) routes rows to their segment's model; the
    decision report names it; exports refuse a bundle they could only grade with the pooled model."""
    from credit_grading.explain import decision_documents, explain_table
    from credit_grading.export.pmml import pmml_text
    from credit_grading.export.sql import sql_text
    from credit_grading.service import BundleGrader

    _write(tmp_path, seg_result, bundle)
    loaded = load_bundle(tmp_path / "seg")
    raw = generate_registry(1_500, seed=43, as_of="2025-12-31", sector_drivers=True).table
    grader = BundleGrader(loaded)
    idc = grader.schema.id_column
    chunk = grader.grade(raw)
    data = chunk.validation.data
    seg = CompiledSegmentedModel(loaded.segments).score(data)
    pooled = CompiledModel(loaded.model).score(data)
    np.testing.assert_array_equal(chunk.graded["pd"].to_numpy(), seg.pd)
    assert not np.allclose(seg.pd, pooled.pd)  # the segment models, not the pooled one, graded
    ids = chunk.graded[idc].iloc[:40].tolist()
    res = explain_table(loaded, raw, ids=ids)
    margin = seg.margin if loaded.model.champion == "gbm" else seg.score
    rows = chunk.graded.index[chunk.graded[idc].isin(ids)].to_numpy()
    total = res.base + res.contributions.sum(axis=1) if res.kind == "shap" else res.base - res.contributions.sum(axis=1)
    np.testing.assert_allclose(total, margin[rows], rtol=0, atol=1e-9)
    docs = decision_documents(res)
    levels = data["industry"].astype(object).iloc[rows].tolist()
    for doc, level in zip(docs, levels, strict=True):
        assert doc["model"]["segment"] == loaded.segments.describe(level)
    assert len({d["model"]["segment"]["model"] for d in docs}) >= 2
    for text in (lambda: sql_text(loaded), lambda: pmml_text(loaded)):
        with pytest.raises(BundleError, match="holds sector models"):
            text()
