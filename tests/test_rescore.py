"""Batch rescoring: accounting, equality with the engine, atomicity, crash/resume, determinism."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from credit_grading.batch import rescore
from credit_grading.cli import app
from credit_grading.exceptions import DataError
from credit_grading.registry.io import read_registry_table
from credit_grading.service import BundleGrader
from credit_grading.synth import generate_registry, write_registry

DATA = Path(__file__).parent / "data"
runner = CliRunner()


@pytest.fixture(scope="module")
def registry_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("reg")
    write_registry(generate_registry(12_000, seed=61, as_of="2026-06-30", invalid_fraction=0.03), root / "r.parquet")
    write_registry(generate_registry(12_000, seed=61, as_of="2026-06-30", invalid_fraction=0.03), root / "r.csv")
    write_registry(generate_registry(12_000, seed=61, as_of="2026-12-31", drift=0.3), root / "next.parquet")
    return root


def test_every_row_is_graded_or_rejected_and_results_equal_the_engine(bundle, registry_files, tmp_path):
    out, rej = tmp_path / "g.parquet", tmp_path / "rejects.csv"
    s = rescore(bundle, registry_files / "r.parquet", out, rejects_path=rej, chunk_rows=2_500)
    got = pq.read_table(out)
    rejects = pd.read_csv(rej)
    assert s["rows_read"] == 12_000 == s["rows_graded"] + s["rows_rejected"]
    assert got.num_rows == s["rows_graded"] and rejects["row_number"].nunique() == s["rows_rejected"]
    injected = pd.read_csv(registry_files / "r.parquet.injected.csv")
    assert s["rows_rejected"] == injected["row_number"].nunique() == 360
    assert set(rejects["row_number"]) == set(injected["row_number"])
    assert pq.ParquetFile(out).metadata.num_row_groups == 5  # one per chunk
    assert sum(s["tier_counts"].values()) == s["rows_graded"]
    saved = json.loads(Path(f"{out}.summary.json").read_text())
    assert saved["rows_read"] == 12_000 and saved["output_sha256"] and len(saved["chunk_sha256"]) == 5
    assert not Path(f"{out}.work").exists()
    # The same rows graded in one go by the engine give the same results, column by column.
    grader = BundleGrader(bundle)
    table, _ = read_registry_table(registry_files / "r.parquet", grader.schema)
    ref = grader.grade(table).graded.reset_index(drop=True)
    frame = got.to_pandas()
    assert (frame["uscc"].to_numpy() == ref["uscc"].to_numpy()).all()
    for col in ("score", "pd", "pd_gbm", "reason_1_value", "reason_3_value"):
        np.testing.assert_array_equal(frame[col].to_numpy(), ref[col].to_numpy(dtype=float), err_msg=col)
    for col in ("model_grade", "grade", "tier", "override", "reason_1", "reason_2", "reason_3", "rules_matched"):
        assert (_text(frame[col]).to_numpy() == _text(ref[col]).to_numpy()).all(), col
    assert (frame["model_version"] == bundle.version).all()


def test_csv_input_gives_the_same_results(bundle, registry_files, tmp_path):
    a = rescore(bundle, registry_files / "r.parquet", tmp_path / "a.parquet", chunk_rows=4_000)
    b = rescore(bundle, registry_files / "r.csv", tmp_path / "b.parquet", chunk_rows=4_000)
    assert a["rows_rejected"] == b["rows_rejected"]
    ta = pq.read_table(tmp_path / "a.parquet").to_pandas()
    tb = pq.read_table(tmp_path / "b.parquet").to_pandas()
    pd.testing.assert_frame_equal(_plain(ta), _plain(tb))


def test_same_model_and_input_give_byte_identical_output(bundle, registry_files, tmp_path):
    for name in ("a", "b"):
        rescore(bundle, registry_files / "r.parquet", tmp_path / f"{name}.parquet", chunk_rows=3_000)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_chunk_size_does_not_change_any_result(bundle, registry_files, tmp_path):
    rescore(bundle, registry_files / "r.parquet", tmp_path / "small.parquet", chunk_rows=1_000)
    rescore(bundle, registry_files / "r.parquet", tmp_path / "big.parquet", chunk_rows=50_000)
    pd.testing.assert_frame_equal(_plain(pq.read_table(tmp_path / "small.parquet").to_pandas()),
                                  _plain(pq.read_table(tmp_path / "big.parquet").to_pandas()))  # fmt: skip


def _text(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "").astype(str)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as text (dictionaries of different chunks come in different orders)."""
    return df.assign(**{c: _text(df[c]) for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)})


def _cli(*args):
    code = "from credit_grading.cli import main; main()"
    return [sys.executable, "-c", code, "rescore", *args]


def test_a_killed_run_leaves_no_output_and_resumes_to_the_same_bytes(bundle, tmp_path):
    reg = tmp_path / "big.parquet"
    write_registry(generate_registry(150_000, seed=62, as_of="2026-06-30", invalid_fraction=0.01), reg)
    args = ["--model", str(DATA / "bundle_v1"), "--input", str(reg), "--chunk-rows", "2000"]
    ref = tmp_path / "ref.parquet"
    done = subprocess.run(_cli(*args, "--output", str(ref)), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    out = tmp_path / "killed.parquet"
    checkpoint = Path(f"{out}.work") / "checkpoint.json"
    proc = subprocess.Popen(_cli(*args, "--output", str(out)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    chunks = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists():
            try:
                chunks = json.loads(checkpoint.read_text())["chunks_done"]
            except (json.JSONDecodeError, KeyError):
                chunks = 0
            if chunks >= 8:
                break
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # atomic: nothing at the output path
    assert checkpoint.exists() and 8 <= json.loads(checkpoint.read_text())["chunks_done"] < 75

    again = subprocess.run(_cli(*args, "--output", str(out)), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "Resuming after" in again.stdout
    assert out.read_bytes() == ref.read_bytes()
    s = json.loads(Path(f"{out}.summary.json").read_text())
    assert s["rows_read"] == 150_000 == s["rows_graded"] + s["rows_rejected"]


def test_a_checkpoint_of_another_run_is_not_reused(bundle, card_bundle, registry_files, tmp_path):
    out = tmp_path / "o.parquet"
    work = Path(f"{out}.work")
    work.mkdir()
    (work / "checkpoint.json").write_text(json.dumps({"key": {"other": 1}, "chunks_done": 1, "totals": {}}))
    with pytest.raises(DataError, match="checkpoint of a different run"):
        rescore(bundle, registry_files / "r.parquet", out, chunk_rows=4_000)
    s = rescore(bundle, registry_files / "r.parquet", out, chunk_rows=4_000, restart=True)
    assert s["rows_read"] == 12_000


def test_previous_grading_adds_migration(bundle, registry_files, tmp_path):
    first = tmp_path / "first.parquet"
    rescore(bundle, registry_files / "r.parquet", first, chunk_rows=5_000)
    second = tmp_path / "second.parquet"
    s = rescore(bundle, registry_files / "next.parquet", second, previous_path=first, chunk_rows=5_000)
    got = pq.read_table(second).to_pandas()
    prev = pq.read_table(first).to_pandas().set_index("uscc")
    known = got["uscc"].isin(prev.index)
    assert known.sum() > 11_000
    assert (
        got.loc[known, "previous_tier"].astype(str).to_numpy()
        == prev.loc[got.loc[known, "uscc"], "tier"].astype(str).to_numpy()
    ).all()
    assert got.loc[~known, "previous_tier"].isna().all()
    mig = json.loads(Path(f"{second}.migration.json").read_text())
    total = sum(sum(r.values()) for r in mig["counts"].values())
    assert total == s["rows_graded"]
    assert mig["new_entities"] == int((~known).sum())
    assert mig["exited_entities"] == len(prev) - int(known.sum())
    graded_both = sum(mig["counts"][r][c] for r in "ABCD" for c in "ABCD")
    assert mig["upgrades"] + mig["downgrades"] + mig["unchanged"] == graded_both
    assert mig["downgrades"] > mig["upgrades"]  # the later snapshot drifted towards risk
    moved = (got.loc[known, "previous_tier"].astype(str) != got.loc[known, "tier"].astype(str)).sum()
    assert moved == mig["upgrades"] + mig["downgrades"] + sum(
        mig["counts"][r]["M"] for r in "ABCD") + sum(mig["counts"]["M"][c] for c in "ABCD")  # fmt: skip
    assert Path(f"{second}.migration.csv").exists()


@pytest.mark.parametrize("which", ["gbm", "scorecard"])
def test_reasons_only_where_asked(bundle, card_bundle, registry_files, tmp_path, which):
    b = bundle if which == "gbm" else card_bundle
    full = tmp_path / "all.parquet"
    rescore(b, registry_files / "r.parquet", full, chunk_rows=5_000)
    part = tmp_path / "cd.parquet"
    s = rescore(b, registry_files / "r.parquet", part, chunk_rows=5_000, reasons_for="tiers:C,D")
    a = pq.read_table(full).to_pandas()
    c = pq.read_table(part).to_pandas()
    in_cd = c["tier"].astype(str).isin(["C", "D"]).to_numpy()
    assert s["rows_explained"] == in_cd.sum() > 100
    assert c.loc[~in_cd, "reason_1"].isna().all()
    for col in ("reason_1", "reason_2", "reason_3", "reason_1_value"):
        assert (_text(a.loc[in_cd, col]).to_numpy() == _text(c.loc[in_cd, col]).to_numpy()).all(), col
    prev = tmp_path / "prev.parquet"
    rescore(b, registry_files / "next.parquet", prev, chunk_rows=5_000)
    ch = tmp_path / "changed.parquet"
    s = rescore(b, registry_files / "r.parquet", ch, chunk_rows=5_000, reasons_for="changed", previous_path=prev)
    g = pq.read_table(ch).to_pandas()
    changed = (g["previous_tier"].astype(str) != g["tier"].astype(str)).to_numpy() | g[
        "previous_tier"
    ].isna().to_numpy()
    assert s["rows_explained"] == changed.sum() > 0
    assert g.loc[~changed, "reason_1"].isna().all()
    assert (_text(g.loc[changed, "reason_1"]).to_numpy() == _text(a.loc[changed, "reason_1"]).to_numpy()).all()
    assert g.loc[changed, "reason_1"].notna().mean() > 0.9
    with pytest.raises(DataError, match="need the previous grading"):
        rescore(b, registry_files / "r.parquet", tmp_path / "x.parquet", reasons_for="changed")
    with pytest.raises(DataError, match="reasons are given for all, changed or tiers"):
        rescore(b, registry_files / "r.parquet", tmp_path / "x.parquet", reasons_for="some")


def test_rescore_command(registry_files, tmp_path):
    out = tmp_path / "cli.parquet"
    res = runner.invoke(app, ["rescore", "--model", str(DATA / "bundle_v1"), "--input", str(registry_files / "r.parquet"),
                              "--output", str(out), "--rejects", str(tmp_path / "rej.parquet"), "--reasons", "2"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "rescoring: 12,000 of 12,000" in res.output and "rejected" in res.output and "tier A" in res.output
    cols = pq.read_schema(out).names
    assert "reason_2" in cols and "reason_3" not in cols
    assert pq.read_table(tmp_path / "rej.parquet").num_rows >= 360
    bad = runner.invoke(app, ["rescore", "--model", str(tmp_path), "--input", str(registry_files / "r.parquet"),
                              "--output", str(out)])  # fmt: skip
    assert bad.exit_code != 0


def test_options_of_the_other_engine_are_refused_with_one_message(registry_files, tmp_path):
    base = ["rescore", "--model", str(DATA / "bundle_v1"), "--input", str(registry_files / "r.parquet"),
            "--output", str(tmp_path / "o.parquet")]  # fmt: skip
    res = runner.invoke(app, [*base, "--spark-partitions", "4"])
    assert res.exit_code != 0
    assert "--spark-partitions work with --engine spark only" in str(res.exception) + res.output
    res = runner.invoke(app, [*base, "--engine", "spark", "--restart"])
    assert res.exit_code != 0
    assert "--restart is for the local engine's checkpoints" in str(res.exception) + res.output
    assert not (tmp_path / "o.parquet").exists()


def test_by_default_only_what_the_decision_reads_is_validated(card_bundle, tmp_path):
    """A defect in an item the model and the rules do not read leaves the entity graded (and the column
    unread); --validate all rejects it as the validate command does."""
    table = generate_registry(600, seed=63, as_of="2026-06-30").table
    read = {f.name for f in card_bundle.model.scorecard.features}
    unread = next(c for c in ("commendations_36m", "equity_pledges_active", "env_penalties_24m") if c not in read)
    col = table.column(unread).to_pylist()
    col[:5] = [-1] * 5  # out of range: every catalogue amount or count is at least 0
    table = table.set_column(
        table.column_names.index(unread), unread, pa.array(col, type=table.schema.field(unread).type)
    )
    src = tmp_path / "r.parquet"
    pq.write_table(table, src)
    s = rescore(card_bundle, src, tmp_path / "read.parquet")
    assert s["rows_graded"] == 600 and s["rows_rejected"] == 0 and s["validated"] == "read"
    assert unread not in pq.read_schema(tmp_path / "read.parquet").names
    full = rescore(card_bundle, src, tmp_path / "all.parquet", validate="all", rejects_path=tmp_path / "rej.csv")
    assert full["rows_rejected"] == 5 and full["reject_reasons"] == {"out_of_range": 5}
    assert set(pd.read_csv(tmp_path / "rej.csv")["column"]) == {unread}
    graded = pq.read_table(tmp_path / "read.parquet").to_pandas().iloc[5:].reset_index(drop=True)
    others = pq.read_table(tmp_path / "all.parquet").to_pandas()
    np.testing.assert_array_equal(graded["pd"].to_numpy(), others["pd"].to_numpy())
