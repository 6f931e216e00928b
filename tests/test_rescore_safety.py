"""Rescoring under concurrency, faults and hostile paths: nothing lost, nothing wrong logged, nothing
written where it must not be. Concurrency and kills use real processes."""

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from credit_grading.batch import RescoreOptions, rescore
from credit_grading.exceptions import DataError
from credit_grading.runlog import runs, verify
from credit_grading.storage import LockedError, sha256_file
from credit_grading.synth import generate_registry, write_registry

DATA = Path(__file__).parent / "data"
MODEL = str(DATA / "bundle_v1")


def _registry(tmp_path_factory, name: str, rows: int, seed: int, invalid: float) -> Path:
    path = tmp_path_factory.mktemp(name) / f"{name}.parquet"
    write_registry(generate_registry(rows, seed=seed, as_of="2026-06-30", invalid_fraction=invalid), path)
    return path


@pytest.fixture(scope="module")
def reg(tmp_path_factory) -> Path:
    return _registry(tmp_path_factory, "registry", 60_000, 71, 0.01)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return _registry(tmp_path_factory, "small", 2_000, 72, 0.02)


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from credit_grading.cli import main; main()", "rescore", "--model", MODEL, *args]


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=600, env=env)


def _one_message(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return " ".join(proc.stderr.split())


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


# ---------------------------------------------------------------------- item 1: one job per output
def test_a_second_run_on_the_same_output_refuses_at_once_naming_the_first(reg, tmp_path):
    out, db = tmp_path / "g.parquet", tmp_path / "audit.db"
    # Small chunks: the first job must still hold its lock while the second starts (300 fsync'ed chunks).
    args = ["--input", str(reg), "--output", str(out), "--chunk-rows", "200", "--audit-db", str(db)]
    first = subprocess.Popen(_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(Path(f"{out}.work") / "checkpoint.json", first)
    t0 = time.monotonic()
    second = _run(*args)
    message = _one_message(second)
    assert time.monotonic() - t0 < 60
    assert "already running" in message and f"process {first.pid}" in message and "--wait" in message
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    summary = json.loads(Path(f"{out}.summary.json").read_text())
    assert summary["rows_read"] == 60_000 == summary["rows_graded"] + summary["rows_rejected"]
    assert pq.read_metadata(out).num_rows == summary["rows_graded"]
    assert sha256_file(out) == summary["output_sha256"]
    log = runs(db)
    assert len(log) == 1 and log[0]["output_sha256"] == summary["output_sha256"]
    assert verify(db).ok
    assert not Path(f"{out}.work").exists()


def test_with_wait_the_second_run_queues_behind_the_first(reg, tmp_path):
    out, db = tmp_path / "g.parquet", tmp_path / "audit.db"
    args = ["--input", str(reg), "--output", str(out), "--chunk-rows", "1000", "--audit-db", str(db), "--overwrite"]
    first = subprocess.Popen(_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(Path(f"{out}.work") / "checkpoint.json", first)
    second = subprocess.Popen(_cmd(*args, "--wait"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for proc in (first, second):
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    log = runs(db)
    assert len(log) == 2 and log[0]["output_sha256"] == log[1]["output_sha256"] == sha256_file(out)
    assert verify(db).ok and not Path(f"{out}.work").exists()


def test_a_killed_holder_releases_the_lock(small, tmp_path):
    """The lock is the kernel's: a SIGKILLed job leaves none behind."""
    work = tmp_path / "g.parquet.work"
    code = (
        "import sys, time; from credit_grading.storage import DirectoryLock\n"
        "DirectoryLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(work)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    from credit_grading.storage import DirectoryLock

    with pytest.raises(LockedError, match=f"process {holder.pid}"):
        DirectoryLock(work).acquire()
    holder.kill()
    holder.wait()
    DirectoryLock(work).acquire().release()


# ---------------------------------------------------------------------- item 2: outputs never overwrite inputs
def _aliases(path: Path, tmp_path: Path) -> dict[str, Path]:
    link = tmp_path / "link.parquet"
    link.symlink_to(path)
    hard = tmp_path / "hard.parquet"
    os.link(path, hard)
    return {
        "same path": path,
        "another spelling": path.parent / "." / ".." / path.parent.name / path.name,
        "a symlink": link,
        "a hard link": hard,
    }


@pytest.mark.parametrize("role", ["output", "rejects", "previous"])
def test_an_output_naming_an_input_is_refused_before_reading(bundle, small, tmp_path, role):
    reg = tmp_path / "in.parquet"
    shutil.copy(small, reg)
    guarded = reg
    if role == "previous":  # the previous grading is read while the output is written
        guarded = tmp_path / "prev.parquet"
        rescore(bundle, small, guarded)
    before = sha256_file(guarded)
    for how, alias in _aliases(guarded, tmp_path).items():
        kwargs = {"rejects_path": alias} if role == "rejects" else {}
        out = alias if role in ("output", "previous") else tmp_path / "out.parquet"
        if role == "previous":
            kwargs["previous_path"] = guarded
        with pytest.raises(DataError, match="name the same file"):
            rescore(bundle, reg, out, **kwargs)
        assert sha256_file(guarded) == before, how
    assert not list(tmp_path.glob("*.work")) and not (tmp_path / "out.parquet").exists()


def test_the_cli_refuses_output_equal_to_input_with_one_message(small, tmp_path):
    reg = tmp_path / "in.parquet"
    shutil.copy(small, reg)
    before = sha256_file(reg)
    message = _one_message(_run("--input", str(reg), "--output", str(tmp_path / "." / "in.parquet")))
    assert "name the same file" in message
    assert sha256_file(reg) == before


def test_the_run_log_records_the_input_hash_taken_at_the_start(bundle, small, tmp_path):
    reg = tmp_path / "in.parquet"
    shutil.copy(small, reg)
    before = sha256_file(reg)

    def change_input_midway(_rows: int) -> None:  # another system rewrites the registry during the run
        with open(reg, "ab") as fh:
            fh.write(b"more")

    with pytest.raises(DataError, match="changed while it was being graded"):
        rescore(bundle, reg, tmp_path / "g.parquet", chunk_rows=500, progress=change_input_midway)
    assert not (tmp_path / "g.parquet").exists() and not (tmp_path / "g.parquet.work").exists()
    shutil.copy(small, reg)
    s = rescore(bundle, reg, tmp_path / "g.parquet", chunk_rows=500)
    assert s["input_sha256"] == before


# ---------------------------------------------------------------------- item 12/13: checked before work, no leftovers
@pytest.mark.parametrize("name", ["rejects.txt", "rejects.xlsx", "rejects.csv.gz", "rejects"])
def test_an_unsupported_rejects_file_is_refused_before_any_work(small, tmp_path, name):
    out = tmp_path / "g.parquet"
    message = _one_message(_run("--input", str(small), "--output", str(out), "--rejects", str(tmp_path / name)))
    assert "*.csv or *.parquet" in message and name in message
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_existing_output_is_replaced_only_when_asked(bundle, small, tmp_path):
    out = tmp_path / "g.parquet"
    out.write_bytes(b"last month's grading")
    with pytest.raises(DataError, match="already exists"):
        rescore(bundle, small, out)
    assert out.read_bytes() == b"last month's grading"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.parquet"]
    s = rescore(bundle, small, out, overwrite=True)
    assert sha256_file(out) == s["output_sha256"]


def test_a_file_without_rows_fails_and_leaves_no_work_directory(bundle, small, tmp_path):
    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(small).slice(0, 0), empty)
    with pytest.raises(DataError, match="no rows"):
        rescore(bundle, empty, tmp_path / "g.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.parquet"]


def test_a_run_that_grades_no_row_exits_non_zero(small, tmp_path):
    table = pq.read_table(small)
    bad = table.set_column(table.schema.get_field_index("uscc"), "uscc", [["not-a-code"] * table.num_rows])
    path = tmp_path / "bad.parquet"
    pq.write_table(bad, path)
    rej = tmp_path / "rejects.csv"
    proc = _run("--input", str(path), "--output", str(tmp_path / "g.parquet"), "--rejects", str(rej),
                "--audit-db", str(tmp_path / "a.db"))  # fmt: skip
    message = _one_message(proc)
    assert f"all {table.num_rows:,} rows were rejected" in message and str(rej) in message
    assert rej.exists() and len(rej.read_text().splitlines()) > table.num_rows  # the reasons are there


def test_unknown_options_and_bad_values_are_named(bundle, small, tmp_path):
    with pytest.raises(DataError, match="unknown rescoring option"):
        rescore(bundle, small, tmp_path / "g.parquet", chunk_row=5)
    for bad in ({"chunk_rows": 0}, {"reasons": 50}, {"compression": "brotli"}, {"reasons_for": "changed"}):
        with pytest.raises(DataError):
            RescoreOptions(**bad)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- item 12: read-only locations, full disk
@contextlib.contextmanager
def _tmpfs(path: Path, *options: str):
    path.mkdir(parents=True, exist_ok=True)
    opts = ",".join(options)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to make a read-only or full file system ({done.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.parametrize("where", ["output", "rejects", "audit-db"])
def test_a_read_only_location_is_refused_before_any_work(small, tmp_path, where):
    paths = {"output": tmp_path / "g.parquet", "rejects": tmp_path / "rejects.csv", "audit-db": tmp_path / "a.db"}
    with _tmpfs(tmp_path / "ro", "size=1m", "ro") as ro:
        paths[where] = ro / paths[where].name
        args = ["--input", str(small), "--output", str(paths["output"]), "--rejects", str(paths["rejects"])]
        message = _one_message(_run(*args, "--audit-db", str(paths["audit-db"])))
        assert "read-only file system" in message and str(paths[where]) in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ro"]  # nothing else was written


def test_a_location_under_a_file_is_refused(small, tmp_path):
    (tmp_path / "afile").write_text("x")
    message = _one_message(_run("--input", str(small), "--output", str(tmp_path / "afile" / "g.parquet")))
    assert "not a folder" in message


def test_a_full_disk_fails_with_one_message_and_resumes_once_space_is_freed(reg, tmp_path):
    ref = tmp_path / "ref.parquet"
    done = _run("--input", str(reg), "--output", str(ref), "--chunk-rows", "5000", "--audit-db", str(tmp_path / "a.db"))
    assert done.returncode == 0, done.stderr
    with _tmpfs(tmp_path / "disk", "size=3m") as disk:
        out = disk / "g.parquet"
        args = ["--input", str(reg), "--output", str(out), "--chunk-rows", "5000", "--audit-db", str(tmp_path / "b.db")]
        message = _one_message(_run(*args))
        assert "disk is full" in message and "resumes" in message
        assert not out.exists()
        cp = json.loads((disk / "g.parquet.work" / "checkpoint.json").read_text())
        assert 0 < cp["chunks_done"] < 12
        grown = subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], capture_output=True, text=True)
        assert grown.returncode == 0, grown.stderr
        again = _run(*args)
        assert again.returncode == 0, again.stderr
        assert "Resuming after" in again.stdout
        assert out.read_bytes() == ref.read_bytes()
        assert not (disk / "g.parquet.work").exists()


# ---------------------------------------------------------------------- fault injection
def test_killed_at_twenty_random_moments_the_output_is_byte_identical_and_the_log_verifies(tmp_path):
    """SIGKILL at 20 seeded moments, each run resuming the last; then the job runs to its end."""
    (tmp_path / "in").mkdir()
    reg = tmp_path / "in" / "registry.parquet"
    write_registry(generate_registry(24_000, seed=73, as_of="2026-06-30", invalid_fraction=0.01), reg)
    db = tmp_path / "audit.db"
    ref_dir, out_dir = tmp_path / "ref", tmp_path / "out"
    ref_dir.mkdir()
    out_dir.mkdir()
    common = ["--input", str(reg), "--chunk-rows", "1200", "--rejects"]
    t0 = time.monotonic()
    done = _run(*common, str(ref_dir / "rejects.csv"), "--output", str(ref_dir / "g.parquet"),
                "--audit-db", str(tmp_path / "ref.db"))  # fmt: skip
    full = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    args = [*common, str(out_dir / "rejects.csv"), "--output", str(out_dir / "g.parquet"), "--audit-db", str(db)]
    rng = random.Random(20261130)
    killed = trials = completed = 0
    while killed < 20 and trials < 60:
        trials += 1
        proc = subprocess.Popen(_cmd(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.1, full))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        _, err = proc.communicate()
        assert proc.returncode in (0, -signal.SIGKILL), err
        if (out_dir / "g.parquet").exists():  # a job got to its end: check it, then start the next trial over
            assert (out_dir / "g.parquet").read_bytes() == (ref_dir / "g.parquet").read_bytes()
            if (out_dir / "g.parquet.work").exists():  # killed after the output moved into place
                again = subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=600)
                if (out_dir / "g.parquet.work").exists() or again.returncode != 0:
                    # killed while its work directory was being removed: nothing left to resume, the
                    # finished output stands and is not replaced without --overwrite
                    assert again.returncode == 1 and "already exists" in again.stderr, again.stderr
                assert (out_dir / "g.parquet").read_bytes() == (ref_dir / "g.parquet").read_bytes()
            assert not (out_dir / "g.parquet.work").exists()
            completed += 1
            assert len(runs(db)) == completed  # recorded once per completed job, however often it was killed
            shutil.rmtree(out_dir)
            out_dir.mkdir()
    assert killed == 20
    final = subprocess.run(_cmd(*args), capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    assert (out_dir / "g.parquet").read_bytes() == (ref_dir / "g.parquet").read_bytes()
    assert (out_dir / "rejects.csv").read_bytes() == (ref_dir / "rejects.csv").read_bytes()
    check = verify(db)
    assert check.ok, check.problem
    assert len(runs(db)) == completed + 1
    for rec in runs(db):  # every record names the output's one true content
        assert rec["output_sha256"] == sha256_file(ref_dir / "g.parquet")
    left = sorted(p.name for p in out_dir.iterdir())
    assert left == ["g.parquet", "g.parquet.summary.json", "rejects.csv"], left
    stray = [
        p.name
        for p in tmp_path.iterdir()
        if p.name not in ("in", "out", "ref") and not p.name.startswith(("audit.db", "ref.db"))
    ]
    assert stray == []


def test_lock_files_do_not_collide_between_outputs(bundle, small, tmp_path):
    """Two jobs writing different outputs in one folder run side by side."""
    names = [f"{uuid.uuid4().hex[:6]}.parquet" for _ in range(2)]
    procs = [subprocess.Popen(_cmd("--input", str(small), "--output", str(tmp_path / n), "--audit-db",
                                   str(tmp_path / "a.db")), stderr=subprocess.PIPE, text=True) for n in names]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    assert (tmp_path / names[0]).read_bytes() == (tmp_path / names[1]).read_bytes()
    assert len(runs(tmp_path / "a.db")) == 2
