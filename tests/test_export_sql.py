"""The exported SQL gives the engine's numbers on every row (SQLite and DuckDB).

A synthetic registry is spoiled on purpose: NULL and NaN, ±inf, special codes, values exactly on
split points, category levels never seen in training and missing levels. The engine grades the
same rows (the pandas path of ``decide``); points and PDs agree to 1e-9, every label exactly.
"""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from credit_grading.bundle import load_bundle
from credit_grading.catalogue import ItemType
from credit_grading.engine.model import CompiledModel
from credit_grading.engine.scorecard import CompiledScorecard
from credit_grading.exceptions import BundleError, CreditGradingError
from credit_grading.export import export_sql, sql_text
from credit_grading.grading.decide import decide
from credit_grading.synth import generate_registry

DATA = Path(__file__).parent / "data"
REASONS = 3
UNSEEN = "ZZ_never_seen"
LABELS = ["model_grade", "model_tier", "grade", "tier", "override", "override_reason", "rules_matched"]


def _spoiled(bundle, n: int = 1500, seed: int = 5) -> tuple[pd.DataFrame, dict[str, list]]:
    """Registry rows with every awkward value the engine has a rule for; and where NaN (not NULL)
    is wanted (``nan_rows`` per numeric column, for the databases that have a NaN)."""
    rng = np.random.default_rng(seed)
    df = generate_registry(n, seed=seed, as_of="2026-06-30").table.to_pandas()
    cat = bundle.catalogue
    model = bundle.model
    splits = {f.name: list(f.binning.splits) for f in model.scorecard.features if f.binning.kind == "numerical"}
    specials = {f.name: list(f.binning.special_codes) for f in model.scorecard.features}
    nan_rows: dict[str, list] = {}
    est = pd.to_datetime(df["established_on"])
    est[rng.random(n) < 0.05] = pd.NaT  # a missing date: the derived firm age is missing
    df["established_on"] = est.dt.strftime("%Y-%m-%d").where(est.notna(), None)
    for item in cat.items:
        if item.id not in df.columns or not item.is_feature:
            continue
        c = item.id
        if item.type is ItemType.CATEGORICAL:
            col = df[c].astype(object).where(df[c].notna(), None).astype(object)
            pick = rng.random(n)
            col[pick < 0.05] = UNSEEN
            col[(pick >= 0.05) & (pick < 0.10)] = None
            df[c] = col
        elif item.type in (ItemType.NUMERIC, ItemType.FLAG):
            x = df[c].to_numpy(dtype=np.float64, na_value=np.nan).copy()
            pick = rng.random(n)
            x[pick < 0.04] = np.nan
            x[(pick >= 0.04) & (pick < 0.06)] = np.inf
            x[(pick >= 0.06) & (pick < 0.08)] = -np.inf
            on_split = (pick >= 0.08) & (pick < 0.16)
            cuts = splits.get(c) or [0.0]
            x[on_split] = rng.choice(cuts, on_split.sum())
            if specials.get(c):
                sp = (pick >= 0.16) & (pick < 0.22)
                x[sp] = rng.choice(specials[c], sp.sum())
            df[c] = x
            nan_rows[c] = list(np.flatnonzero((pick >= 0.02) & (pick < 0.04)))  # half the missing: NaN
    df["as_of"] = df["as_of"].astype(str)
    return df, nan_rows


def _engine(bundle, df: pd.DataFrame) -> pd.DataFrame:
    """The engine's grading of the rows (categories as the validated table holds them)."""
    data = df.copy()
    # The registry derives the firm's age from its date of establishment (validation does this).
    days = pd.to_datetime(data["as_of"]) - pd.to_datetime(data["established_on"])
    data["firm_age_years"] = days.dt.days.astype(float) / 365.25
    for item in bundle.catalogue.items:
        if item.type is ItemType.CATEGORICAL and item.id in data.columns:
            data[item.id] = pd.Categorical(data[item.id], categories=[*item.level_codes, UNSEEN])
    model = bundle.model
    out, _ = decide(model, data, id_column="uscc", as_of_column=None, reasons=REASONS, compiled=CompiledModel(model))
    if model.scorecard is not None:
        pts = CompiledScorecard(model.scorecard).score(data, points=True).points
        for j, f in enumerate(model.scorecard.features):
            out[f"points_{f.name}"] = pts[:, j]
    return out


def _run_sqlite(bundle, df: pd.DataFrame) -> pd.DataFrame:
    con = sqlite3.connect(":memory:")
    df.to_sql("registry", con, index=False)
    return pd.read_sql_query(sql_text(bundle, dialect_name="sqlite"), con)


def _run_duckdb(bundle, df: pd.DataFrame, nan_rows: dict[str, list]) -> pd.DataFrame:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install -e '.[dev]')")
    arrays = {}
    for c in df.columns:
        col = df[c]
        if col.dtype.kind == "f":
            x = col.to_numpy()
            null = np.isnan(x)
            null[nan_rows.get(c, [])] = False  # these stay NaN: DuckDB keeps NaN apart from NULL
            arrays[c] = pa.array(x, mask=null)
        else:
            arrays[c] = pa.array(col.to_numpy(dtype=object), from_pandas=True)
    registry = pa.table(arrays)
    assert any(pa.compute.is_nan(registry[c]).to_numpy(zero_copy_only=False).any() for c in nan_rows)
    con = duckdb.connect()
    con.register("registry", registry)
    return con.execute(sql_text(bundle, dialect_name="duckdb")).df()


def _compare(engine: pd.DataFrame, got: pd.DataFrame, bundle) -> None:
    assert len(got) == len(engine)
    got = got.set_index("uscc").loc[engine["uscc"]].reset_index()
    numbers = ["pd", "pd_scorecard", "pd_gbm", "score"] + [c for c in engine.columns if c.startswith("points_")]
    assert "pd" in got.columns and all(f"points_{f}" in got.columns for f in bundle.model.scorecard.feature_names)
    for c in numbers:
        if c in got.columns:  # the challenger GBM of a scorecard champion is not exported
            np.testing.assert_allclose(got[c].to_numpy(float), engine[c].to_numpy(float), rtol=0, atol=1e-9,
                                       err_msg=c)  # fmt: skip
    for c in LABELS + [f"reason_{j + 1}" for j in range(REASONS)]:
        want = engine[c].astype(object).where(engine[c].notna(), None).tolist()
        have = got[c].astype(object).where(got[c].notna(), None).tolist()
        if c == "rules_matched":
            have = [h or "" for h in have]
            want = [w or "" for w in want]
        bad = [i for i, (w, h) in enumerate(zip(want, have, strict=True)) if w != h]
        assert not bad, f"{c}: row {bad[0]} engine {want[bad[0]]!r}, SQL {have[bad[0]]!r} ({len(bad)} rows differ)"
    for j in range(REASONS):
        c = f"reason_{j + 1}_value"
        w = engine[c].to_numpy(float)
        h = got[c].to_numpy(float)
        assert np.array_equal(np.isnan(w), np.isnan(h)), c
        np.testing.assert_allclose(h[~np.isnan(h)], w[~np.isnan(w)], rtol=0, atol=1e-9, err_msg=c)


@pytest.fixture(scope="module")
def rows(bundle):
    return _spoiled(bundle)


@pytest.fixture(scope="module")
def isotonic_bundle(card_bundle, tmp_path_factory):
    """The scorecard champion calibrated by isotonic regression (a piecewise-linear PD)."""
    from credit_grading.bundle import write_bundle
    from credit_grading.calibration import fit_calibration

    rng = np.random.default_rng(3)
    score = rng.normal(600, 60, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp((score - 520) / 30))).astype(float)
    cal = fit_calibration(score, y, method="isotonic", input="score", direction=-1.0)
    assert len(cal.knots_x) > 10
    m = card_bundle.model
    model = replace(m, calibration={**m.calibration, "scorecard": cal})
    b = card_bundle
    return write_bundle(tmp_path_factory.mktemp("iso") / "b", model, policy=b.policy, catalogue=b.catalogue,
                        config=b.config, training_data={})  # fmt: skip


def test_rows_are_spoiled_as_intended(bundle, rows):
    df, _ = rows
    x = df["employees_insured"].to_numpy(float)
    assert np.isinf(x).any() and np.isnan(x).any() and (x == -1.0).any()
    assert (df["industry"] == UNSEEN).any() and df["industry"].isna().any()
    cut = bundle.model.scorecard.by_name["registered_capital"].binning.splits[0]
    assert (df["registered_capital"] == cut).any() and df["established_on"].isna().any()


def test_sqlite_gbm_champion_equals_engine(bundle, rows):
    df, _ = rows
    _compare(_engine(bundle, df), _run_sqlite(bundle, df), bundle)


def test_sqlite_scorecard_champion_equals_engine(card_bundle, rows):
    df, _ = rows
    engine = _engine(card_bundle, df)
    assert engine["reason_1"].notna().mean() > 0.5 and engine["override"].notna().any()
    _compare(engine, _run_sqlite(card_bundle, df), card_bundle)


def test_sqlite_isotonic_calibration_equals_engine(isotonic_bundle, rows):
    df, _ = rows
    engine = _engine(isotonic_bundle, df)
    assert engine["pd"].nunique() > 10
    _compare(engine, _run_sqlite(isotonic_bundle, df), isotonic_bundle)


def test_duckdb_gbm_champion_equals_engine_with_nan_and_null(bundle, rows):
    df, nan_rows = rows
    _compare(_engine(bundle, df), _run_duckdb(bundle, df, nan_rows), bundle)


def test_duckdb_scorecard_champion_equals_engine(card_bundle, rows):
    df, nan_rows = rows
    _compare(_engine(card_bundle, df), _run_duckdb(card_bundle, df, nan_rows), card_bundle)


def test_sqlite_reads_an_empty_text_as_missing_not_zero(card_bundle, rows):
    df, _ = rows
    part = df[~np.isinf(df["employees_insured"])].head(40).reset_index(drop=True)  # text has no ±inf
    engine = _engine(card_bundle, part)
    text = part.astype({"employees_insured": object})
    gone = text["employees_insured"].isna()
    text.loc[gone, "employees_insured"] = ""  # as a CSV loaded into SQLite holds a missing number
    assert gone.any()
    _compare(engine, _run_sqlite(card_bundle, text), card_bundle)


def test_header_names_bundle_version_and_sha256(bundle):
    text = sql_text(bundle, dialect_name="postgres")
    head = text.splitlines()[:3]
    assert bundle.version in head[0] and bundle.sha256 in head[1] and len(bundle.sha256) == 64
    assert "CAST('NaN' AS DOUBLE PRECISION)" in text  # PostgreSQL's NaN reads as missing


def test_deep_trees_are_refused_naming_the_limit(bundle):
    with pytest.raises(BundleError, match=r"2 levels deep; SQL export handles trees of depth at most 1"):
        sql_text(bundle, dialect_name="sqlite", max_depth=1)


def test_unknown_dialect_is_refused(bundle):
    with pytest.raises(CreditGradingError, match="unknown SQL dialect 'oracle'"):
        sql_text(bundle, dialect_name="oracle")


def test_export_writes_once_and_never_overwrites_by_accident(bundle, tmp_path):
    out = tmp_path / "model.sql"
    export_sql(bundle, out, dialect_name="ansi")
    first = out.read_text()
    assert first.startswith("-- SQL (ansi) scoring") and math.isfinite(len(first))
    with pytest.raises(CreditGradingError, match="already exists; pass --overwrite"):
        export_sql(bundle, out, dialect_name="sqlite")
    assert out.read_text() == first
    export_sql(bundle, out, dialect_name="sqlite", overwrite=True)
    assert out.read_text().startswith("-- SQL (sqlite)")


def test_cli_writes_a_view_and_errors_in_one_paragraph(tmp_path):
    out = tmp_path / "score.sql"
    bundle_dir = str(DATA / "bundle_v1")
    cmd = [sys.executable, "-m", "credit_grading.cli", "export", "sql", "--model", bundle_dir, "--dialect", "sqlite",
           "--view", "graded", "--out", str(out)]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    con = sqlite3.connect(":memory:")
    df, _ = _spoiled(load_bundle(bundle_dir), n=50)
    df.to_sql("registry", con, index=False)
    con.executescript(out.read_text())
    assert con.execute("SELECT COUNT(*), COUNT(grade) FROM graded").fetchone() == (50, 50)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "Traceback" not in again.stderr and "already exists" in again.stderr


@pytest.mark.parametrize("dialect", ["postgres", "ansi"])
def test_postgres_and_ansi_text_run_in_duckdb_equal_engine(dialect, bundle, card_bundle, rows):
    """No PostgreSQL server here: DuckDB runs the PostgreSQL and ANSI texts (typed literals, the
    OFFSET fences, ANSI's ranked reasons) as a stand-in; both must still give the engine's rows."""
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install -e '.[dev]')")
    df, _ = rows
    for b in (bundle, card_bundle):
        con = duckdb.connect()
        con.register("registry", df)
        text = sql_text(b, dialect_name=dialect)
        assert ("GREATEST(" in text) == (dialect == "postgres")
        _compare(_engine(b, df), con.execute(text).df(), b)


def test_rule_on_a_dated_list_is_refused_by_name(card_bundle):
    from credit_grading.config.grading import Action, Condition, OverrideRule

    rule = OverrideRule(id="listed", when=Condition(item="list:r120000_serious_untrustworthy", eq=1),
                        then=Action(tier="D"))  # fmt: skip
    b = replace(card_bundle, model=replace(card_bundle.model, overrides=(*card_bundle.model.overrides, rule)))
    with pytest.raises(CreditGradingError, match=r"rule 'listed' reads list 'r120000_serious_untrustworthy'"):
        sql_text(b, dialect_name="duckdb")


def test_every_kind_of_rule_equals_the_grader(card_bundle, rows):
    """Conditions of every form (any/all, in, ne, gt/ge/le, categorical eq/ne/in, missing,
    missing_at_least) and actions of every kind (grade, tier, caps, status M), in order."""
    from credit_grading.config.grading import Action, Condition, OverrideRule

    c = Condition
    extra = (
        OverrideRule(
            id="big_or_penalised",
            when=c(any=(c(item="registered_capital", ge=5000.0), c(item="admin_penalties_24m", in_=(2.0, 3.0)))),
            then=Action(no_better_than_grade="BBB"),
        ),
        OverrideRule(
            id="tax_not_a",
            when=c(all=(c(item="tax_credit_rating", ne="A"), c(item="consumer_complaints_12m", gt=0.5))),
            then=Action(grade="BB"),
        ),
        OverrideRule(
            id="size_rule", when=c(item="size_class", in_=("micro", "large")), then=Action(no_better_than_tier="B")
        ),
        OverrideRule(id="rated_m", when=c(item="tax_credit_rating", eq="M"), then=Action(tier="C")),
        OverrideRule(id="thin_file", when=c(missing_at_least=3), then=Action(status="M")),
        OverrideRule(
            id="recovered",
            when=c(all=(c(item="court_judgments_defendant_36m", le=0.0), c(item="employees_insured", missing=False))),
            then=Action(tier="A"),
        ),
    )
    model = card_bundle.model
    b = replace(card_bundle, model=replace(model, overrides=(*model.overrides, *extra)))
    df, nan_rows = rows
    engine = _engine(b, df)
    fired = engine["override"].astype(object).value_counts()
    assert {"big_or_penalised", "tax_not_a", "rated_m", "thin_file", "recovered"} <= set(fired.index), fired
    _compare(engine, _run_sqlite(b, df), b)
    _compare(engine, _run_duckdb(b, df, nan_rows), b)
