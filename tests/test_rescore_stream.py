"""The streaming rescoring path (issue 18): duplicates found in the stream itself, the output
written once in place (no spool), resumed from the bytes a checkpoint names."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import credit_grading.batch.keys as batch_keys
from credit_grading.batch import rescore
from credit_grading.batch.chunks import ChunkGrader
from credit_grading.exceptions import DataError
from credit_grading.registry.validate import validate_table
from credit_grading.service import BundleGrader
from credit_grading.storage import sha256_file
from credit_grading.synth import generate_registry


def _with_duplicates(rows: int, seed: int) -> pa.Table:
    """A registry whose keys repeat near and far: within a chunk, across chunks, on another day
    (not a duplicate), and a repeat of a row that is rejected for another reason (still a duplicate)."""
    table = generate_registry(rows, seed=seed, as_of="2026-06-30", invalid_fraction=0.02).table
    ids = table.column("uscc").to_pylist()
    days = table.column("as_of").to_pylist()
    rng = np.random.default_rng(seed)
    for src, dst in zip(rng.choice(rows // 2, 40, replace=False), rng.choice(np.arange(rows // 2, rows), 40,
                                                                             replace=False), strict=True):  # fmt: skip
        ids[dst] = ids[src]
    ids[11] = ids[10]  # next row, same chunk
    ids[rows - 1] = ids[0]  # first and last row
    ids[rows - 2] = ids[1]
    days[rows - 2] = days[1].replace(year=days[1].year - 1)  # same id, another snapshot: not a duplicate
    table = table.set_column(table.schema.get_field_index("uscc"), "uscc", pa.array(ids, pa.string()))
    return table.set_column(table.schema.get_field_index("as_of"), "as_of", pa.array(days, pa.date32()))


@pytest.fixture(scope="module")
def dup_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dups") / "dups.parquet"
    pq.write_table(_with_duplicates(6_000, 181), path, row_group_size=1_700)
    return path


def _reject_set(path: Path) -> set[tuple[int, str, str]]:
    frame = pd.read_csv(path)
    return {(int(r), c, w) for r, c, w in frame[["row_number", "column", "reason"]].to_numpy()}


def test_keep_first_duplicates_are_found_in_the_stream_without_a_pre_pass(bundle, dup_file, tmp_path, monkeypatch):
    # The whole file validated at once is the reference for which rows are duplicates.
    whole = validate_table(pq.read_table(dup_file), BundleGrader(bundle).schema)
    expected = {(int(r), c, w) for r, c, w in whole.rejects[["row_number", "column", "reason"]].to_numpy()}
    assert sum(w == "duplicate_id" for _, _, w in expected) >= 42

    def no_pre_pass(*args, **kwargs):
        raise AssertionError("keep_first must not read the keys of the whole file before grading")

    monkeypatch.setattr(importlib.import_module("credit_grading.batch.rescore"), "duplicate_rows", no_pre_pass)
    s = rescore(bundle, dup_file, tmp_path / "g.parquet", rejects_path=tmp_path / "r.csv", chunk_rows=700)
    assert _reject_set(tmp_path / "r.csv") == expected
    assert s["rows_read"] == 6_000 == s["rows_graded"] + s["rows_rejected"]
    assert s["reject_reasons"]["duplicate_id"] == sum(w == "duplicate_id" for _, _, w in expected)


def test_reject_all_still_rejects_every_occurrence(bundle, dup_file, tmp_path):
    from dataclasses import replace

    from credit_grading.batch.chunks import ChunkGrader
    from credit_grading.batch.options import RescoreOptions
    from credit_grading.config import DuplicatePolicy

    opts = RescoreOptions(chunk_rows=700)
    schema = replace(ChunkGrader(bundle, opts, None, "x").schema, duplicates=DuplicatePolicy.REJECT_ALL)
    whole = validate_table(pq.read_table(dup_file), schema)
    from credit_grading.batch.reader import ChunkReader

    reader = ChunkReader(dup_file, schema, 700)
    rows = batch_keys.duplicate_rows(reader.key_batches(), "uscc", "as_of", DuplicatePolicy.REJECT_ALL)
    dup_rows = set(whole.rejects.loc[whole.rejects["reason"] == "duplicate_id", "row_number"])
    assert set((rows + 1).tolist()) == dup_rows and len(dup_rows) >= 84


def test_seen_keys_tell_keys_apart_by_their_bytes_and_day():
    from credit_grading.batch.keys import SeenKeys

    ids = pa.array(["a", "b", "a", "bb", "b", "a", "", "c"])
    days = np.array([1, 1, 1, 1, 1, 2, 1, 1], dtype=np.int32)
    ok = np.array([True] * 7 + [False])
    got = SeenKeys().repeated(ids, ok, days).tolist()
    assert got == [False, False, True, False, True, False, False, False]
    # Compare against a plain Python reference on many short random keys over several chunks
    # (many share their first bytes, lengths and days).
    rng = np.random.default_rng(5)
    keys = ["".join(rng.choice(list("ab"), size=rng.integers(0, 4))) for _ in range(5_000)]
    kdays = rng.integers(0, 3, 5_000).astype(np.int32)
    kok = rng.random(5_000) > 0.05
    seen = SeenKeys()
    got = np.concatenate([seen.repeated(pa.array(keys[i : i + 999]), kok[i : i + 999], kdays[i : i + 999])
                          for i in range(0, 5_000, 999)])  # fmt: skip
    first: set = set()
    ref = np.zeros(5_000, dtype=bool)
    for i, (k, d) in enumerate(zip(keys, kdays, strict=True)):
        if kok[i]:
            ref[i] = (k, int(d)) in first
            first.add((k, int(d)))
    assert (got == ref).all() and len(seen) == len(first)


def _interrupt_after(chunks: int):
    calls = []

    def progress(_rows: int) -> None:
        calls.append(1)
        if len(calls) == chunks:
            raise KeyboardInterrupt

    return progress


def test_the_output_is_written_once_in_place_and_a_checkpoint_names_its_bytes(bundle, dup_file, tmp_path):
    out = tmp_path / "g.parquet"
    with pytest.raises(KeyboardInterrupt):
        rescore(bundle, dup_file, out, chunk_rows=700, progress=_interrupt_after(4))
    work = Path(f"{out}.work")
    cp = json.loads((work / "checkpoint.json").read_text())
    names = sorted(p.name for p in work.iterdir())
    assert not [n for n in names if n.startswith("chunk_")]  # no spool of the results
    done = cp["chunks_done"]
    assert 1 <= done <= 4  # checkpointed after the first chunk, then at most once a second
    assert "chunks.log" in names and not [n for n in names if n.startswith(("rejects_", "rowgroup_"))]
    partial = work / "output.parquet.partial"
    assert partial.stat().st_size >= cp["output_bytes"]  # chunks after the checkpoint are redone on resume
    assert partial.read_bytes()[:4] == b"PAR1"


@pytest.mark.parametrize("tail", ["garbage", "short"])
def test_a_run_killed_while_writing_resumes_to_the_same_bytes(bundle, dup_file, tmp_path, tail):
    """What a kill in the middle of a row group leaves (bytes past the checkpoint) is cut off on
    resume; a partial file shorter than its checkpoint is refused."""
    ref = tmp_path / "ref.parquet"
    rescore(bundle, dup_file, ref, chunk_rows=700, rejects_path=tmp_path / "ref.csv")
    out = tmp_path / "g.parquet"
    with pytest.raises(KeyboardInterrupt):
        rescore(bundle, dup_file, out, chunk_rows=700, rejects_path=tmp_path / "g.csv", progress=_interrupt_after(5))
    partial = Path(f"{out}.work") / "output.parquet.partial"
    size = json.loads((Path(f"{out}.work") / "checkpoint.json").read_text())["output_bytes"]
    if tail == "garbage":
        with open(partial, "ab") as fh:  # half a row group, then a footer, as a killed writer leaves them
            fh.write(np.random.default_rng(3).bytes(50_000) + b"PAR1")
        rescore(bundle, dup_file, out, chunk_rows=700, rejects_path=tmp_path / "g.csv")
        assert out.read_bytes() == ref.read_bytes()
        assert (tmp_path / "g.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()
        assert pq.read_table(out).num_rows == pq.read_table(ref).num_rows
    else:
        with open(partial, "r+b") as fh:
            fh.truncate(size - 10)
        with pytest.raises(DataError, match="shorter than its checkpoint.*--restart"):
            rescore(bundle, dup_file, out, chunk_rows=700, rejects_path=tmp_path / "g.csv")
        rescore(bundle, dup_file, out, chunk_rows=700, rejects_path=tmp_path / "g.csv", restart=True)
        assert out.read_bytes() == ref.read_bytes()


def test_a_resumed_run_still_rejects_repeats_of_keys_graded_before_the_checkpoint(bundle, dup_file, tmp_path):
    ref = tmp_path / "ref.parquet"
    full = rescore(bundle, dup_file, ref, chunk_rows=700, rejects_path=tmp_path / "ref.csv")
    out = tmp_path / "g.parquet"
    with pytest.raises(KeyboardInterrupt):
        rescore(bundle, dup_file, out, chunk_rows=700, rejects_path=tmp_path / "g.csv", progress=_interrupt_after(3))
    again = rescore(bundle, dup_file, out, chunk_rows=700, rejects_path=tmp_path / "g.csv")
    assert again["reject_reasons"] == full["reject_reasons"]
    assert (tmp_path / "g.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert out.read_bytes() == ref.read_bytes()
    assert again["output_sha256"] == full["output_sha256"] == sha256_file(out)  # hashed as written, resumed too
    meta = pq.ParquetFile(out).metadata
    assert meta.num_row_groups == 9 and meta.num_rows == full["rows_graded"]


def test_a_run_killed_after_its_output_moved_into_place_finishes_without_regrading(bundle, dup_file, tmp_path,
                                                                                   monkeypatch):  # fmt: skip
    from credit_grading.batch.writer import OutputWriter

    ref = tmp_path / "ref.parquet"
    rescore(bundle, dup_file, ref, chunk_rows=700, rejects_path=tmp_path / "ref.csv")
    out = tmp_path / "g.parquet"
    publish = OutputWriter.publish

    def killed_after_the_move(self, chunks, in_place=False):
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self.partial.replace(self.output)  # the output is in place; the rejects and side files are not
        raise KeyboardInterrupt

    monkeypatch.setattr(OutputWriter, "publish", killed_after_the_move)
    with pytest.raises(KeyboardInterrupt):
        rescore(bundle, dup_file, out, chunk_rows=700, rejects_path=tmp_path / "g.csv")
    assert out.read_bytes() == ref.read_bytes() and not (tmp_path / "g.csv").exists()
    monkeypatch.setattr(OutputWriter, "publish", publish)
    monkeypatch.setattr(ChunkGrader, "decide", lambda *a: pytest.fail("the chunks were graded again"))
    again = rescore(bundle, dup_file, out, chunk_rows=700, rejects_path=tmp_path / "g.csv")
    assert out.read_bytes() == ref.read_bytes()
    assert (tmp_path / "g.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert again["output_sha256"] == sha256_file(ref) and not Path(f"{out}.work").exists()
