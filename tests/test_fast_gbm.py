"""Our compiled GBM evaluator and TreeSHAP equal LightGBM and shap on many random models."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_grading.engine.fast_gbm import FastGbm


def _train(seed, num_leaves, max_depth, trees, nan_frac, zero_as_missing, use_missing, categorical, min_leaf):
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    n = 600
    x = rng.normal(size=(n, 5))
    x[:, 1] = np.round(x[:, 1])  # many exact zeros
    x[:, 3] = rng.integers(0, 9, n)
    x[rng.random((n, 5)) < nan_frac] = np.nan
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) + (x[:, 3] % 3 == 0) + rng.normal(size=n) > 0.5).astype(int)
    params = {
        "objective": "binary",
        "verbose": -1,
        "num_leaves": num_leaves,
        "max_depth": max_depth,
        "min_data_in_leaf": min_leaf,
        "min_data_per_group": 5,
        "cat_smooth": 1,
        "zero_as_missing": zero_as_missing,
        "use_missing": use_missing,
        "deterministic": True,
        "num_threads": 1,
        "seed": seed,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        booster = lgb.train(params, lgb.Dataset(x, y, categorical_feature=[3] if categorical else []), trees)
    # Rows to score: the training rows plus edge cases.
    edge = np.array(
        [
            [np.nan] * 5,
            [0.0, 0.0, 0.0, -1.0, 0.0],
            [np.inf, -np.inf, 1e300, 99.0, -0.0],
            [1e-40, -1e-40, 0.5, 2.7, np.nan],
            [-3.0, 3.0, np.nan, 1e9, 7.0],
        ]
    )
    return booster, np.vstack([x, edge])


model_params = st.tuples(
    st.integers(0, 10_000),
    st.sampled_from([2, 3, 7, 15, 31, 63]),
    st.sampled_from([-1, 1, 2, 4, 8]),
    st.integers(1, 25),
    st.sampled_from([0.0, 0.1, 0.4]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from([1, 5, 20, 1000]),
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(model_params)
def test_margins_and_shap_equal_lightgbm_on_random_models(p):
    booster, x = _train(*p)
    fast = FastGbm(booster.model_to_string())
    np.testing.assert_allclose(fast.margin(x), booster.predict(x, raw_score=True), rtol=0, atol=1e-12)
    ref = booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(fast.contributions(x), ref, rtol=0, atol=1e-9)
    # Leaf-by-leaf tables (no cell tables), and the recursion for every row (no tables at
    # all), give the same values.
    leafwise = FastGbm(booster.model_to_string(), max_cells=0)
    np.testing.assert_allclose(leafwise.contributions(x), ref, rtol=0, atol=1e-9)
    direct = FastGbm(booster.model_to_string(), max_cells=0, max_path_features=0)
    np.testing.assert_allclose(direct.contributions(x), ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(direct.margin(x), booster.predict(x, raw_score=True), rtol=0, atol=1e-12)


def test_single_leaf_trees_and_all_missing_rows():
    booster, x = _train(1, 7, -1, 5, 0.0, False, True, False, 10_000)  # no split possible
    assert booster.dump_model()["tree_info"][0]["num_leaves"] == 1
    fast = FastGbm(booster.model_to_string())
    np.testing.assert_allclose(fast.margin(x), booster.predict(x, raw_score=True), atol=1e-12)
    np.testing.assert_allclose(fast.contributions(x), booster.predict(x, pred_contrib=True), atol=1e-12)


def test_shap_tree_explainer_agrees():
    import shap

    booster, x = _train(7, 15, -1, 20, 0.1, False, True, True, 5)
    fast = FastGbm(booster.model_to_string())
    ours = fast.contributions(x[:300])
    explainer = shap.TreeExplainer(booster)
    theirs = explainer.shap_values(x[:300])
    theirs = theirs[1] if isinstance(theirs, list) else theirs
    np.testing.assert_allclose(ours[:, :-1], theirs, rtol=0, atol=1e-9)
    assert ours[0, -1] == pytest.approx(float(np.ravel(explainer.expected_value)[-1]), abs=1e-9)


def test_default_model_equals_lightgbm_and_shap(trained):
    import shap

    from credit_grading.engine.gbm import CompiledGbm

    spec = trained.gbm.spec_
    fast, ref = CompiledGbm(spec), CompiledGbm(spec, backend="lightgbm")
    rows = trained.splits.test.iloc[:4000]
    x = fast.matrix(rows)
    np.testing.assert_allclose(fast.margin(x), ref.margin(x), rtol=0, atol=1e-12)
    ours = fast.contributions(x)
    np.testing.assert_allclose(ours, ref.contributions(x), rtol=0, atol=1e-9)
    theirs = shap.TreeExplainer(ref.booster).shap_values(x[:300])
    theirs = theirs[1] if isinstance(theirs, list) else theirs
    np.testing.assert_allclose(ours[:300, :-1], theirs, rtol=0, atol=1e-9)
    summary = fast.fast.table_summary()
    assert summary["tabulated"] == summary["trees"]  # the default model is explained by lookup only


def test_wrong_width_is_refused(trained):
    from credit_grading.engine.fast_gbm import FastGbm

    fast = FastGbm(trained.gbm.spec_.model_text)
    with pytest.raises(ValueError, match="features"):
        fast.margin(np.zeros((3, 2)))


def test_leaf_table_budget_sends_trees_to_the_recursion():
    booster, x = _train(3, 31, -1, 6, 0.1, False, True, True, 5)
    text = booster.model_to_string()
    ref = booster.predict(x, pred_contrib=True)
    roomy = FastGbm(text, max_cells=0)
    assert roomy.table_summary()["leafwise"] == 6
    tight = FastGbm(text, max_cells=0, max_leaf_table_values=0)
    assert tight.table_summary()["direct"] == 6 and tight.table_summary()["leafwise"] == 0
    for fast in (roomy, tight):
        np.testing.assert_allclose(fast.contributions(x), ref, rtol=0, atol=1e-9)


def test_a_second_process_loads_the_kernels_from_the_disk_cache(tmp_path):
    # The kernels take named tuples of arrays (here BinEdges and BinnedNodes); numba must still
    # cache them on disk, so a second process loads them instead of compiling them again.
    import os
    import subprocess
    import sys

    booster, x = _train(2, 7, -1, 3, 0.1, False, True, True, 5)
    (tmp_path / "model.txt").write_text(booster.model_to_string())
    np.save(tmp_path / "x.npy", x)
    code = (
        "import numpy as np\n"
        "from credit_grading.engine.fast_gbm import FastGbm\n"
        "from credit_grading.engine.tree_kernels import compiled\n"
        f"fast = FastGbm(open({str(tmp_path / 'model.txt')!r}).read())\n"
        f"xb = fast.binned(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "out = np.empty(xb.shape[1])\n"
        "compiled().predict_bins(xb, np.arange(fast.trees.n_trees), fast.binned_nodes, out)\n"
        "print(repr(out.sum()))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_DEBUG_CACHE": "1"}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[-1].stderr
    first, second = (r.stdout for r in runs)
    assert "data saved" in first and first.splitlines()[-1] == second.splitlines()[-1]
    assert "data loaded" in second and "saved" not in second, second


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(model_params)
def test_leaf_masks_find_the_exit_leaf_of_every_tree(p):
    """Scoring feature by feature with leaf bitmasks (QuickScorer on bins) reaches the same
    leaf as walking the tree, for every split kind: numerical, NaN or zero as missing,
    categorical; the sum in tree order is LightGBM's to the last bit."""
    from credit_grading.engine.fast_gbm import _subset
    from credit_grading.engine.tree_kernels import compiled

    booster, x = _train(*p)
    fast = FastGbm(booster.model_to_string())
    masks, walk = fast.leaf_masks
    assert walk.size == 0 and len(masks.trees) == fast.trees.n_trees
    xb = fast.binned(x)
    k = compiled()
    for t in range(fast.trees.n_trees):
        one = np.zeros(x.shape[0])
        k.mask_predict(xb, 0, x.shape[0], _subset(masks, np.array([t])), fast.trees.leaf_value, one,
                       np.empty(x.shape[0], np.uint64))  # fmt: skip
        walked = np.empty(x.shape[0])
        k.predict_bins(xb, np.array([t]), fast.binned_nodes, walked)
        np.testing.assert_array_equal(one, walked)
    total = np.zeros(x.shape[0])
    k.mask_predict(xb, 0, x.shape[0], masks, fast.trees.leaf_value, total, np.empty(x.shape[0], np.uint64))
    np.testing.assert_array_equal(total, booster.predict(x, raw_score=True))


def test_deep_trees_score_and_explain_as_lightgbm():
    """31-leaf trees: margins by leaf masks equal LightGBM's bit for bit; SHAP values read
    through the masks equal the node-by-node decisions and ``pred_contrib``."""
    booster, x = _train(11, 31, -1, 30, 0.1, False, True, True, 5)
    fast = FastGbm(booster.model_to_string())
    assert int(np.diff(fast.trees.leaf_start).max()) > 8  # scored by leaf masks
    np.testing.assert_array_equal(fast.margin(x), booster.predict(x, raw_score=True))
    ref = booster.predict(x, pred_contrib=True)
    margin, phi = fast.margin_and_contributions(x)
    assert fast._tables.pairs is not None and fast.table_summary()["leafwise"] > 0
    np.testing.assert_allclose(phi, ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(margin, booster.predict(x, raw_score=True), rtol=0, atol=1e-12)
    # The same values as deciding node by node (leaf_eval), bit for bit.
    fast._tables = fast._tables.__class__(**{**fast._tables.__dict__, "pairs": None})
    np.testing.assert_array_equal(fast.contributions(x), phi)


def test_trees_of_more_than_64_leaves_are_walked():
    booster, x = _train(5, 100, -1, 4, 0.1, False, True, True, 2)
    leaves = np.diff(FastGbm(booster.model_to_string()).trees.leaf_start)
    assert leaves.max() > 64
    fast = FastGbm(booster.model_to_string())
    assert fast.leaf_masks[1].size == int((leaves > 64).sum())
    np.testing.assert_allclose(fast.margin(x), booster.predict(x, raw_score=True), rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.contributions(x), booster.predict(x, pred_contrib=True), rtol=0, atol=1e-9)
    assert fast._tables.pairs is None or fast.table_summary()["leafwise"] == 0
