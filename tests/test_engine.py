import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_grading.binning.fit import training_frame
from credit_grading.catalogue import ItemType
from credit_grading.engine import CompiledScorecard, reasons_frame, top_k_shortfall
from credit_grading.engine.reasons import top_k_points
from credit_grading.exceptions import DataError
from credit_grading.scorecard import Scorecard


@pytest.fixture(scope="module")
def engine(fitted_scorecard):
    return fitted_scorecard.compiled()


@pytest.fixture(scope="module")
def optbinning_scorecard(config, fitted_scorecard, train_frame):
    """optbinning's own Scorecard fitted on the same features, data and settings."""
    from credit_grading.scorecard import reference_scorecard

    names = list(fitted_scorecard.spec_.feature_names)
    return reference_scorecard(config, names, train_frame, train_frame["bad_12m"].to_numpy())


@pytest.fixture(scope="module")
def holdout(schema):
    from credit_grading.registry import validate_table
    from credit_grading.synth import generate_registry

    return validate_table(generate_registry(20_000, seed=99, drift=0.5).table, schema).data


def test_parity_with_optbinning_on_the_synthetic_registry(engine, optbinning_scorecard, holdout):
    ob, items = optbinning_scorecard
    frame = training_frame(holdout, items)
    # The registry has missing values and the special code -1 in employees_insured.
    assert frame["employees_insured"].isna().any() and (frame["employees_insured"] == -1).any()
    assert frame["tax_credit_rating"].isna().any()
    ours = engine.score(holdout).score
    np.testing.assert_allclose(ours, ob.score(frame), rtol=0, atol=1e-9)
    # optbinning's per-feature points equal ours too.
    np.testing.assert_allclose(engine.score(holdout).points, ob.transform(frame).to_numpy(), rtol=0, atol=1e-9)


def test_parity_with_infinities_and_specials(engine, optbinning_scorecard, holdout):
    ob, items = optbinning_scorecard
    frame = training_frame(holdout, items).iloc[:500].copy()
    numeric = [i.id for i in items if i.type is not ItemType.CATEGORICAL]
    frame.loc[0:49, numeric[0]] = np.inf
    frame.loc[50:99, numeric[0]] = -np.inf
    frame.loc[100:149, "employees_insured"] = -1.0
    frame.loc[150:199, numeric] = np.nan
    np.testing.assert_allclose(engine.score(frame).score, ob.score(frame), rtol=0, atol=1e-9)


def test_unseen_levels(config, fitted_scorecard, optbinning_scorecard, holdout, train_frame):
    """optbinning scores a level it never saw with the missing bin's points (its index -1
    picks the last table row); ours is configurable and defaults to the neutral WoE."""
    ob, items = optbinning_scorecard
    frame = training_frame(holdout, items).iloc[:300].copy()
    frame.loc[:99, "tax_credit_rating"] = "AA"  # not a level of the rating
    spec = fitted_scorecard.spec_
    f = spec.by_name["tax_credit_rating"]
    missing_points = f.points[-1]
    assert f.binning.bins[-1].count > 0  # the missing bin carries evidence (no tax history)
    neutral = CompiledScorecard(spec).score(frame)
    col = list(spec.feature_names).index("tax_credit_rating")
    np.testing.assert_allclose(neutral.points[:100, col], f.unseen_points)
    assert neutral.unseen == {"tax_credit_rating": 100}
    assert not np.isclose(f.unseen_points, missing_points)
    # With unseen_level: missing, ours equals optbinning.
    cfg = config.model_copy(update={"binning": config.binning.model_copy(update={"unseen_level": "missing"})})
    as_missing = Scorecard(cfg).fit(train_frame)
    np.testing.assert_allclose(as_missing.score(frame), ob.score(frame), rtol=0, atol=1e-9)
    # worst: the lowest points seen in training for that feature.
    cfg = config.model_copy(update={"binning": config.binning.model_copy(update={"unseen_level": "worst"})})
    worst = Scorecard(cfg, features=["tax_credit_rating", "firm_age_years"]).fit(train_frame).spec_
    wf = worst.by_name["tax_credit_rating"]
    assert wf.unseen_points == min(p for p, b in zip(wf.points, wf.binning.bins, strict=True) if b.count > 0)


def test_every_input_kind_gives_the_same_scores(engine, holdout):
    base = engine.score(holdout, reasons=3)
    table = pa.Table.from_pandas(holdout, preserve_index=False)
    assert pa.types.is_dictionary(table.schema.field("tax_credit_rating").type)
    plain = holdout.astype({c: object for c in holdout.columns if isinstance(holdout[c].dtype, pd.CategoricalDtype)})
    as_dict = {c: holdout[c].to_numpy() for c in holdout.columns}
    chunked = pa.concat_tables([table.slice(0, 7000), table.slice(7000)])
    for data in (table, table.to_batches()[0] if table.num_rows == len(table.to_batches()[0]) else table,
                 plain, as_dict, chunked):  # fmt: skip
        r = engine.score(data, reasons=3)
        np.testing.assert_array_equal(r.score, base.score)
        np.testing.assert_array_equal(r.points, base.points)
        np.testing.assert_array_equal(r.reason_index, base.reason_index)
    nullable = holdout.astype({"admin_penalties_24m": "Int64", "employees_insured": "Float64"})
    np.testing.assert_array_equal(engine.score(nullable).score, base.score)
    batch = pa.RecordBatch.from_pandas(holdout, preserve_index=False)
    np.testing.assert_array_equal(engine.score(batch).score, base.score)


def test_points_sum_to_score_and_threads_agree(engine, holdout):
    one = engine.score(holdout, reasons=3, threads=1, block_rows=4096)
    two = engine.score(holdout, reasons=3, threads=2, block_rows=4096)
    np.testing.assert_array_equal(one.score, two.score)
    np.testing.assert_array_equal(one.reason_index, two.reason_index)
    np.testing.assert_allclose(one.points.sum(axis=1), one.score, rtol=0, atol=1e-9)


@settings(max_examples=25)
@given(st.lists(st.integers(0, 19_999), min_size=1, max_size=40))
def test_batch_equals_single_rows(engine, holdout, rows):
    whole = engine.score(holdout).score
    for r in rows[:5]:
        single = engine.score(holdout.iloc[[r]]).score
        assert single[0] == whole[r]
    subset = engine.score(holdout.iloc[rows]).score
    np.testing.assert_array_equal(subset, whole[rows])


def test_reasons_are_the_largest_shortfalls(engine, fitted_scorecard, holdout):
    res = engine.score(holdout.iloc[:2000], reasons=3)
    short = engine.max_points - res.points
    for i in range(0, 2000, 97):
        s = short[i]
        order = sorted(range(len(s)), key=lambda j: (-s[j], j))
        expected = [j if s[j] > 0 else -1 for j in order[:3]]
        assert res.reason_index[i].tolist() == expected
    frame = reasons_frame(res, fitted_scorecard.spec_)
    assert list(frame.columns[:4]) == ["reason_1", "reason_1_points", "reason_1_zh", "reason_1_en"]
    first = frame.iloc[0]
    assert first["reason_1"] in fitted_scorecard.spec_.feature_names
    f = fitted_scorecard.spec_.by_name[first["reason_1"]]
    assert first["reason_1_zh"] == f.name_zh and first["reason_1_en"] == f.name_en


def test_top_k_breaks_ties_by_feature_order_and_skips_no_shortfall():
    short = np.array([[1.0, 3.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    idx, val = top_k_shortfall(short, 3)
    assert idx.tolist() == [[1, 2, 0], [-1, -1, -1], [0, 1, 2]]
    assert val.tolist() == [[3.0, 3.0, 1.0], [0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]


def test_wrong_kind_and_missing_columns_are_named(engine, holdout):
    bad = holdout.iloc[:10].copy()
    bad["tax_arrears_amount"] = bad["tax_arrears_amount"].astype(object)
    bad.loc[bad.index[3], "tax_arrears_amount"] = "lots"
    with pytest.raises(DataError, match=r"column 'tax_arrears_amount' must hold numbers: row 4 has 'lots'"):
        engine.score(bad)
    with pytest.raises(DataError, match="lacks the column.*tax_credit_rating"):
        engine.score(holdout.drop(columns=["tax_credit_rating"]))
    table = pa.table({c: pa.array(["x"] * 3) if c == "firm_age_years" else pa.nulls(3) for c in engine.feature_names})
    with pytest.raises(DataError, match="column 'firm_age_years' must hold numbers: row 0 has 'x'"):
        engine.score(table)


@settings(max_examples=60)
@given(
    st.integers(1, 12),
    st.integers(1, 40),
    st.integers(1, 5),
    st.integers(0, 2**32 - 1),
)
def test_compiled_top_k_equals_the_reference(n_features, n_rows, k, seed):
    rng = np.random.default_rng(seed)
    # Few distinct values, so ties are common.
    points = rng.integers(0, 4, size=(n_features, n_rows)).astype(np.float64)
    max_points = rng.integers(0, 4, size=n_features).astype(np.float64)
    kk = min(k, n_features)
    idx = np.empty((n_rows, kk), dtype=np.int16)
    val = np.empty((n_rows, kk))
    top_k_points(points, max_points, k, idx, val)
    ref_idx, ref_val = top_k_shortfall((max_points[:, None] - points).T, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(val, ref_val)


# Every module of compiled kernels, inside the engine or not, caches them in the private directory.
_SRC = Path(__file__).resolve().parents[1] / "src"
_COMPILED = sorted(
    ".".join(p.relative_to(_SRC).with_suffix("").parts) for p in (_SRC / "credit_grading").rglob("_*_nb.py")
)
_PENDING: set[str] = set()  # modules that do not call configure_numba_cache yet


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize(
    "module", [pytest.param(m, marks=pytest.mark.xfail(strict=True)) if m in _PENDING else m for m in _COMPILED]
)
def test_compiled_modules_cache_kernels_in_the_private_directory(module, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    code = f"import os, {module}, numba.core.config as c; print(os.environ.get('NUMBA_CACHE_DIR'), c.CACHE_DIR)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    want = str(tmp_path / "xdg" / "credit_grading" / "numba")
    assert proc.stdout.split() == [want, want]


def test_total_only_equals_the_sum_of_the_points(engine, holdout):
    """Scoring the total alone adds each feature's points as they come, in feature order: the
    same total, bit for bit, as summing the points matrix (any block size, any input kind)."""
    with_points = engine.score(holdout, points=True)
    table = pa.Table.from_pandas(holdout, preserve_index=False)
    for data in (holdout, table):
        for block_rows in (1000, 1 << 16):
            alone = engine.score(data, points=False, block_rows=block_rows)
            np.testing.assert_array_equal(alone.score, with_points.score)
            np.testing.assert_array_equal(np.signbit(alone.score), np.signbit(with_points.score))
