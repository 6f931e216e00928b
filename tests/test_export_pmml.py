"""The PMML export: valid against the PMML 4.4 schema, and scored by a PMML evaluator to the
engine's points, score and PD (pypmml on a Java runtime; skipped, saying why, where there is none)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_grading.engine.scorecard import CompiledScorecard
from credit_grading.exceptions import CreditGradingError
from credit_grading.export import export_pmml, pmml_text

DATA = Path(__file__).parent / "data"
NS = {"p": "http://www.dmg.org/PMML-4_4"}


def _schema():
    xmlschema = pytest.importorskip("xmlschema", reason="xmlschema is not installed (pip install -e '.[dev]')")
    return xmlschema.XMLSchema(str(DATA / "pmml-4-4.xsd"))


def _rows(bundle, n: int, seed: int = 9) -> pd.DataFrame:
    """Feature rows with missing values, ±inf, special codes, split points and unseen levels."""
    rng = np.random.default_rng(seed)
    out = {}
    for f in bundle.model.scorecard.features:
        b = f.binning
        if b.kind == "categorical":
            levels = [lv for g in b.groups for lv in g] + ["ZZ_never_seen", None]
            out[f.name] = pd.Series(rng.choice(np.array(levels, dtype=object), n), dtype=object)
        else:
            cuts = np.asarray(b.splits or (0.0,))
            x = rng.normal(np.median(cuts), max(np.ptp(cuts), 1.0), n)
            pick = rng.random(n)
            x[pick < 0.1] = np.nan
            x[(pick >= 0.1) & (pick < 0.15)] = np.inf
            x[(pick >= 0.15) & (pick < 0.2)] = -np.inf
            on = (pick >= 0.2) & (pick < 0.4)
            x[on] = rng.choice(cuts, on.sum())
            if b.special_codes:
                sp = (pick >= 0.4) & (pick < 0.5)
                x[sp] = rng.choice(np.asarray(b.special_codes), sp.sum())
            out[f.name] = x
    return pd.DataFrame(out)


def test_pmml_is_valid_pmml_4_4(bundle, card_bundle):
    schema = _schema()
    for b in (bundle, card_bundle):
        text = pmml_text(b)
        schema.validate(text)
        root = ET.fromstring(text.encode("utf-8"))
        chars = root.findall(".//p:Characteristic", NS)
        assert [c.get("reasonCode") for c in chars] == list(b.model.scorecard.feature_names)
        assert root.find("p:Scorecard", NS).get("reasonCodeAlgorithm") == "pointsBelow"
    grades = ET.fromstring(pmml_text(card_bundle).encode()).findall(".//p:OutputField[@name='model_grade']", NS)
    assert len(grades) == 1  # grades only where the scorecard decides


def test_schema_rejects_a_broken_document(bundle):
    schema = _schema()
    text = pmml_text(bundle).replace('reasonCodeAlgorithm="pointsBelow"', 'reasonCodeAlgorithm="sideways"')
    assert not schema.is_valid(text)


def test_pmml_header_names_version_and_sha256(bundle, tmp_path):
    out = export_pmml(bundle, tmp_path / "m.pmml")
    text = out.read_text()
    assert bundle.version in text.splitlines()[2] and bundle.sha256 in text.splitlines()[3]
    with pytest.raises(CreditGradingError, match="already exists"):
        export_pmml(bundle, out)


def test_isotonic_calibration_is_a_normcontinuous(card_bundle):
    from credit_grading.calibration import fit_calibration

    rng = np.random.default_rng(3)
    score = rng.normal(600, 60, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp((score - 520) / 30))).astype(float)
    cal = fit_calibration(score, y, method="isotonic", input="score", direction=-1.0)
    m = card_bundle.model
    iso = replace(card_bundle, model=replace(m, calibration={**m.calibration, "scorecard": cal}))
    text = pmml_text(iso)
    _schema().validate(text)
    norms = ET.fromstring(text.encode()).findall(".//p:NormContinuous/p:LinearNorm", NS)
    assert len(norms) == len(set(cal.knots_x))
    if shutil.which("java") is None:
        return  # the evaluator half needs Java (see test_pmml_evaluator_gives_the_engine_points_and_pd)
    pypmml = pytest.importorskip("pypmml", reason="pypmml is not installed (pip install -e '.[dev]')")
    model = pypmml.Model.fromString(text)
    rows = _rows(iso, 60, seed=12)
    score = CompiledScorecard(m.scorecard).score(rows).score
    want = cal.apply(score)
    got = [model.predict({k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()})["pd_scorecard"]
           for r in rows.to_dict("records")]  # fmt: skip
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert len(np.unique(want)) > 5


def _evaluator():
    if shutil.which("java") is None:
        pytest.skip("no Java runtime: the PMML evaluator (pypmml) needs one (apt-get install default-jre-headless)")
    return pytest.importorskip("pypmml", reason="pypmml is not installed (pip install -e '.[dev]')")


def test_pmml_evaluator_gives_the_engine_points_and_pd(card_bundle):
    pypmml = _evaluator()
    model = pypmml.Model.fromString(pmml_text(card_bundle))
    rows = _rows(card_bundle, 120)
    engine = CompiledScorecard(card_bundle.model.scorecard).score(rows, points=True)
    pd_engine = card_bundle.model.calibration["scorecard"].apply(engine.score)
    scores, pds, grades = [], [], []
    # Row by row: pypmml's DataFrame path does not read NaN and ±inf as a row's own dict does.
    for rec in rows.to_dict("records"):
        rec = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in rec.items()}
        res = model.predict(rec)
        scores.append(res["score"])
        pds.append(res["pd_scorecard"])
        grades.append(res["model_grade"])
    np.testing.assert_allclose(scores, engine.score, rtol=0, atol=1e-9)
    np.testing.assert_allclose(pds, pd_engine, rtol=0, atol=1e-9)
    scale = card_bundle.model.scale
    assert grades == [scale.grades[i] for i in scale.grade_index(pd_engine)]
    assert np.isinf(rows.select_dtypes(float).to_numpy()).any() and rows["industry"].isna().any()


def test_pmml_evaluator_gives_each_features_points(card_bundle):
    """One feature at a time off a base row: each awkward value lands on the engine's bin."""
    pypmml = _evaluator()
    model = pypmml.Model.fromString(pmml_text(card_bundle))
    sc = card_bundle.model.scorecard
    rows = _rows(card_bundle, 40, seed=4)
    engine = CompiledScorecard(sc).score(rows, points=True).points
    base = {f.name: (0.0 if f.binning.kind == "numerical" else f.binning.groups[0][0]) for f in sc.features}
    base_points = CompiledScorecard(sc).score(pd.DataFrame([base]), points=True).points[0]
    for j, f in enumerate(sc.features[:8]):
        for i in range(0, 40, 5):
            v = rows[f.name].iloc[i]
            if f.binning.kind == "numerical":
                v = None if np.isnan(v) else float(v)
            rec = dict(base)
            rec[f.name] = v
            got = model.predict(rec)["score"]
            want = base_points.sum() - base_points[j] + engine[i, j]
            assert abs(got - want) < 1e-9, (f.name, v)


def test_cli_export_pmml(tmp_path):
    out = tmp_path / "model.pmml"
    cmd = [sys.executable, "-m", "credit_grading.cli", "export", "pmml", "--model", str(DATA / "bundle_v1"),
           "--out", str(out)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert out.read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>')
