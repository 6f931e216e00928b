"""Text columns reach the scoring core through their Arrow buffers, with the same results as
categoricals: pandas ``str`` (what ``read_csv`` / ``read_parquet`` give with pandas 3),
Arrow strings, object columns and categoricals all score alike — missing values (None,
NaN, pd.NA), empty strings, whitespace and levels never seen in training included."""

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_grading.columns import Columns
from credit_grading.engine.kernels import MAX_TEXT_LEVELS, encode_text
from credit_grading.engine.slots import categorical_codes

TRICKY = [
    "",
    " ",
    "A",
    " A",
    "A ",
    "a",
    "abcdefgh",
    "abcdefghi",
    "abcdefghXijklmnop",  # 17 bytes: head and tail words equal, byte 8 differs
    "abcdefghYijklmnop",
    "abcdefghijklmnopXqrstuvwx",  # 25 bytes: a middle word differs
    "abcdefghijklmnopYqrstuvwx",
    "x" * 40,
    "x" * 39 + "y",
    "批发和零售业",
    "批发和零售業",
    "\x00",
    "\x00\x00",
]


def _reference(array: pa.Array) -> tuple[np.ndarray, list]:
    d = pc.dictionary_encode(array)
    return pc.fill_null(d.indices, -1).to_numpy(zero_copy_only=False), d.dictionary.to_pylist()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(TRICKY), st.text(max_size=30)), min_size=0, max_size=300),
    st.booleans(),
    st.integers(0, 5),
)
def test_encode_text_equals_dictionary_encode(values, large, cut):
    array = pa.array(values, type=pa.large_string() if large else pa.string())
    for part in (array, array.slice(min(cut, len(array)))):  # sliced arrays: offsets and bitmap shifted
        got = encode_text(part)
        assert got is not None
        codes, levels = got
        ref_codes, ref_levels = _reference(part)
        assert levels == ref_levels
        np.testing.assert_array_equal(codes, ref_codes)
    # Chunks (as read_parquet gives them): the levels carry from chunk to chunk, a level first
    # seen in a later chunk is compared against the copies of the earlier chunks' levels.
    edges = sorted({0, len(array), *(min(len(array), c * (cut + 1) * 7) for c in range(1, 6))})
    chunks = [array.slice(a, b - a) for a, b in itertools.pairwise(edges)]
    codes, levels = encode_text(chunks)
    ref_codes, ref_levels = _reference(array)
    assert levels == ref_levels
    np.testing.assert_array_equal(codes, ref_codes)


def test_encode_text_on_a_million_rows_and_too_many_levels():
    rng = np.random.default_rng(3)
    pool = np.array([*TRICKY, None], dtype=object)
    array = pa.array(pool[rng.integers(0, len(pool), 1_000_000)])
    codes, levels = encode_text(array)
    ref_codes, ref_levels = _reference(array)
    assert levels == ref_levels
    np.testing.assert_array_equal(codes, ref_codes)
    many = pa.array([f"level {i}" for i in range(MAX_TEXT_LEVELS + 1)])
    assert encode_text(many) is None  # too many levels: the caller encodes with pyarrow
    assert encode_text(pa.array([None, None], type=pa.string()))[1] == []


def _with_text_levels(frame: pd.DataFrame, column: str, levels: list) -> pd.DataFrame:
    out = frame.copy()
    rng = np.random.default_rng(5)
    values = np.array(out[column].astype(object).to_numpy(), dtype=object, copy=True)
    values[rng.integers(0, len(values), 600)] = np.array(levels, dtype=object)[rng.integers(0, len(levels), 600)]
    out[column] = values
    return out


ODD = [None, np.nan, pd.NA, "", " ", "A ", " A", "a", "AA", "unseen level"]


def _kinds(frame: pd.DataFrame, names: list[str]) -> dict:
    text = [c for c in names if frame[c].dtype == object or isinstance(frame[c].dtype, pd.CategoricalDtype)]
    as_obj = frame.astype({c: object for c in text})
    as_str = frame.astype({c: "str" for c in text})
    as_arrow_str = frame.astype({c: pd.ArrowDtype(pa.large_string()) for c in text})
    as_cat = frame.astype({c: "category" for c in text})
    table = pa.Table.from_pandas(as_str, preserve_index=False)
    return {
        "object": as_obj,
        "str": as_str,
        "arrow dtype": as_arrow_str,
        "category": as_cat,
        "arrow string": table,
        "arrow dictionary": pa.Table.from_pandas(as_cat, preserve_index=False),
        "chunked": pa.concat_tables([table.slice(0, 777), table.slice(777)]),
        "sliced str": as_str.iloc[1:],
    }


def test_scorecard_scores_every_text_input_alike(fitted_scorecard, train_frame):
    engine = fitted_scorecard.compiled()
    spec = fitted_scorecard.spec_
    cats = [f.name for f in spec.features if f.binning.kind == "categorical"]
    assert cats, "the default scorecard has categorical features"
    frame = train_frame.iloc[:5000].reset_index(drop=True)
    for c in cats:
        frame = _with_text_levels(frame, c, ODD)
    kinds = _kinds(frame, cats)
    base = engine.score(kinds["object"], reasons=3)
    assert base.unseen and all(v > 0 for v in base.unseen.values())
    for name, data in kinds.items():
        r = engine.score(data, reasons=3)
        rows = slice(1, None) if name == "sliced str" else slice(None)
        np.testing.assert_array_equal(r.score, base.score[rows], err_msg=name)
        np.testing.assert_array_equal(r.points, base.points[rows], err_msg=name)
        np.testing.assert_array_equal(r.reason_index, base.reason_index[rows], err_msg=name)
        if name != "sliced str":
            assert r.unseen == base.unseen, name
    # Whitespace is kept and an empty string is a level of its own (never taken for missing).
    f = spec.by_name[cats[0]]
    col = list(spec.feature_names).index(cats[0])
    values = kinds["object"][cats[0]].to_numpy()
    missing_points = f.points[f.binning.n_regular]
    for odd in ("", " ", "A ", "unseen level"):
        rows = np.array([isinstance(v, str) and v == odd for v in values])
        assert rows.any()
        np.testing.assert_array_equal(base.points[rows, col], f.unseen_points)
    nulls = np.array([v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) for v in values])
    np.testing.assert_array_equal(base.points[nulls, col], missing_points)


def test_gbm_encoding_of_every_text_input_alike(config, train_frame):
    from credit_grading.engine.gbm import encode_matrix
    from credit_grading.gbm import GbmModel

    cfg = config.model_copy(update={"gbm": config.gbm.model_copy(update={"n_estimators": 5})})
    rows = train_frame.iloc[:6000]
    spec = GbmModel(cfg).fit(rows.iloc[:4000], rows.iloc[4000:]).spec_
    cats = [f.name for f in spec.features if f.kind == "categorical"]
    assert cats
    frame = train_frame.iloc[6000:9000].reset_index(drop=True)
    for c in cats:
        frame = _with_text_levels(frame, c, ODD)
    kinds = _kinds(frame, cats)
    base, unseen = encode_matrix(spec.features, kinds["object"])
    assert unseen
    for name, data in kinds.items():
        x, u = encode_matrix(spec.features, data)
        if name == "sliced str":
            np.testing.assert_array_equal(x, base[1:], err_msg=name)
        else:
            np.testing.assert_array_equal(x, base, err_msg=name)
            assert u == unseen, name


def test_pandas_text_is_never_copied_into_python_objects(fitted_scorecard, train_frame, monkeypatch):
    """A pandas ``str`` column is read through its Arrow array: no ``to_numpy`` into objects."""
    engine = fitted_scorecard.compiled()
    cats = [f.name for f in fitted_scorecard.spec_.features if f.binning.kind == "categorical"]
    frame = train_frame.iloc[:3000].astype({c: "str" for c in cats})
    expected = engine.score(frame.astype({c: "category" for c in cats})).score
    real = pd.Series.to_numpy

    def guarded(self, *args, **kwargs):
        if self.name in cats:
            raise AssertionError(f"{self.name} converted with to_numpy")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.Series, "to_numpy", guarded)
    np.testing.assert_array_equal(engine.score(frame).score, expected)
    for c in cats:
        codes, levels = categorical_codes(Columns(frame), c)
        assert Columns(frame).text(c) is not None
        assert len(codes) == len(frame)
        # Columns.categorical (used by training and reports) reads the same way.
        codes2, levels2 = Columns(frame).categorical(c)
        np.testing.assert_array_equal(np.array([*levels, None], dtype=object)[codes],
                                      np.array([*levels2, None], dtype=object)[codes2])  # fmt: skip


def test_text_view_of_columns():
    frame = pd.DataFrame(
        {
            "s": pd.Series(["a", None, ""], dtype="str"),
            "o": pd.Series(["a", None, ""], dtype=object),
            "p": pd.Series(["a", None, ""], dtype=pd.StringDtype("python")),
            "c": pd.Series(["a", None, ""], dtype="category"),
            "x": [1.0, 2.0, 3.0],
        }
    )
    cols = Columns(frame)
    assert cols.text("s").to_pylist() == ["a", None, ""]
    assert cols.text("o") is None and cols.text("p") is None and cols.text("c") is None and cols.text("x") is None
    for c in "sopc":
        codes, levels = categorical_codes(cols, c)
        assert [None if i < 0 else levels[i] for i in codes] == ["a", None, ""], c
    table = pa.table({"s": pa.array(["a", None, ""]), "d": pa.array(["a", None, ""]).dictionary_encode()})
    assert Columns(table).text("s").to_pylist() == ["a", None, ""]
    assert Columns(table).text("d") is None


@pytest.mark.parametrize("n_chunks", [1, 3])
def test_chunked_pandas_text(n_chunks, tmp_path):
    """A frame read from Parquet with several row groups holds chunked Arrow strings."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    pool = np.array(["A", "B", None, "", " B"], dtype=object)
    values = pool[rng.integers(0, len(pool), 3000)]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"s": pa.array(values, type=pa.string())}), path, row_group_size=3000 // n_chunks)
    frame = pd.read_parquet(path)
    assert frame["s"].dtype == "str"
    codes, levels = categorical_codes(Columns(frame), "s")
    assert [None if i < 0 else levels[i] for i in codes] == list(values)
