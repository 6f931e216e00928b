"""Rescoring on Spark gives the local command's answers, row for row, with its guarantees.

One Spark session (``local[2]``) serves the module; the registry is small but has what matters:
invalid rows of every kind, duplicate keys far apart (copies of early rows appended at the
end, one key three times), several row groups, several chunks. A second test starts a loopback
standalone cluster (master and worker through pyspark's ``sbin/spark-daemon.sh``) and is
skipped, saying why, when it cannot start.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from credit_grading.batch import rescore
from credit_grading.bundle import load_bundle
from credit_grading.cli import app
from credit_grading.config import DuplicatePolicy
from credit_grading.exceptions import CreditGradingError
from credit_grading.synth import generate_registry

pyspark = pytest.importorskip("pyspark", reason="the spark extra is not installed")  # CI installs it
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java: no java on PATH and no JAVA_HOME", allow_module_level=True)

DATA = Path(__file__).parent / "data"
BUNDLE = DATA / "bundle_v1"
CHUNK = 2_000


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from credit_grading.spark import session

    warehouse = tmp_path_factory.mktemp("warehouse")
    s = session("local[2]", conf={"spark.sql.shuffle.partitions": "2", "spark.sql.warehouse.dir": str(warehouse)})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(BUNDLE)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """6,000 generated rows (3% invalid, some repeated keys) + early rows repeated at the end."""
    table = generate_registry(6_000, seed=71, as_of="2026-06-30", invalid_fraction=0.03).table
    again = [table.slice(3, 25), table.slice(40, 1), table.slice(40, 1), table.slice(4_500, 5)]
    path = tmp_path_factory.mktemp("spark_registry") / "registry.parquet"
    pq.write_table(pa.concat_tables([table, *again]), path, row_group_size=1_300)  # several row groups
    return path


def _local(bundle, registry, folder: Path, **options):
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "local.parquet"
    summary = rescore(bundle, registry, out, rejects_path=folder / "local_rejects.parquet", chunk_rows=CHUNK, **options)
    return out, summary


def _dataset_rows(folder: Path) -> pa.Table:
    """A dataset's rows in path order (= row order), labels as text, the as-of date from the folder name."""
    parts = []
    for f in sorted(p for p in folder.rglob("*.parquet")):
        t = _plain(pq.read_table(f))
        day = f.parent.name.partition("=")[2]
        parts.append(t.append_column("as_of", pa.array([day] * t.num_rows)))
    return pa.concat_tables(parts)


def _plain(t: pa.Table) -> pa.Table:
    return pa.table({n: (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c)
                     for n, c in zip(t.column_names, t.columns, strict=True)})  # fmt: skip


def _same_rows(spark_rows: pa.Table, local: pa.Table) -> None:
    local = _plain(local)
    assert sorted(spark_rows.column_names) == sorted(local.column_names)
    assert spark_rows.num_rows == local.num_rows
    for name in local.column_names:
        want = local.column(name).to_pylist()
        if name == "as_of":
            want = [d.isoformat() for d in want]
        assert spark_rows.column(name).to_pylist() == want, name  # bit-identical floats, same order


COUNTS = ("rows_read", "rows_graded", "rows_rejected", "rows_explained", "tier_counts", "reject_reasons")


@pytest.mark.parametrize("variant", ["defaults", "previous_carry_challenger_reasons_for"])
def test_output_and_rejects_equal_to_the_local_command_row_for_row(spark, bundle, registry, tmp_path, variant):
    from credit_grading.spark import rescore_file

    options = {}
    if variant != "defaults":
        prev, _ = _local(bundle, registry, tmp_path / "prev", reasons=1)
        options = {"previous_path": prev, "carry": ("district",), "challenger": True, "reasons_for": "tiers:C,D"}
    local, want = _local(bundle, registry, tmp_path / "l", **options)
    out = tmp_path / "spark.parquet"
    got = rescore_file(bundle, registry, out, spark=spark, rejects_path=tmp_path / "spark_rejects.parquet",
                       chunk_rows=CHUNK, **options)  # fmt: skip
    assert want["rows_rejected"] > 150 and want["reject_reasons"]["duplicate_id"] >= 30
    assert {k: got[k] for k in COUNTS} == {k: want[k] for k in COUNTS}
    assert got["chunks"] == want["chunks"] == 4 and got["spark"]["tasks"] == 2  # local[2]: two tasks of two chunks
    assert sorted(p.name for p in out.iterdir()) == ["as_of=2026-06-30"]
    _same_rows(_dataset_rows(out), pq.read_table(local))
    assert pq.read_table(tmp_path / "spark_rejects.parquet").equals(pq.read_table(tmp_path / "l/local_rejects.parquet"))
    saved = json.loads((tmp_path / "spark.parquet.summary.json").read_text())
    assert saved["output_sha256"] == got["output_sha256"] and saved["rows_graded"] == want["rows_graded"]
    assert not (tmp_path / "spark.parquet.work").exists()
    if variant != "defaults":
        for side in ("migration.json", "migration.csv"):
            assert (tmp_path / f"spark.parquet.{side}").read_bytes() == (
                tmp_path / f"l/local.parquet.{side}"
            ).read_bytes()


def test_duplicates_are_the_rows_the_local_pre_pass_finds_under_both_policies(spark, bundle, registry):
    from credit_grading.batch.chunks import ChunkGrader
    from credit_grading.batch.keys import duplicate_rows as local_duplicates
    from credit_grading.batch.options import RescoreOptions
    from credit_grading.batch.reader import ChunkReader
    from credit_grading.spark.source import check_source, duplicate_rows, numbered

    schema = ChunkGrader(bundle, RescoreOptions(), None, "r").schema
    df = spark.read.parquet(str(registry))
    rows = numbered(df, check_source(df, schema, "r"))
    for policy in (DuplicatePolicy.KEEP_FIRST, DuplicatePolicy.REJECT_ALL):
        s = replace(schema, duplicates=policy)
        want = local_duplicates(ChunkReader(registry, s, 1_000).key_batches(), s.id_column, s.as_of_column, policy)
        got = duplicate_rows(rows, s)
        assert len(want) >= 30 and got.tolist() == want.tolist(), policy
        assert want.max() >= 6_000 and (policy == DuplicatePolicy.KEEP_FIRST or want.min() < 100)  # far apart
    keep, every = (duplicate_rows(rows, replace(schema, duplicates=p)) for p in DuplicatePolicy)
    assert 40 not in keep and 40 in every and 6_025 in keep and 6_026 in keep  # a key three times


def test_single_file_output_has_the_local_schema_and_rows(spark, bundle, registry, tmp_path):
    from credit_grading.spark import SparkOptions, rescore_file

    local, _ = _local(bundle, registry, tmp_path / "l")
    out = tmp_path / "one.parquet"
    rescore_file(bundle, registry, out, None, SparkOptions(single_file=True), spark=spark, chunk_rows=CHUNK)
    assert out.is_file() and pq.read_schema(out) == pq.read_schema(local)
    _same_rows(_plain(pq.read_table(out)).set_column(1, "as_of", pa.array(
        [d.isoformat() for d in pq.read_table(out).column("as_of").to_pylist()])), pq.read_table(local))  # fmt: skip


def test_a_table_read_by_spark_and_spread_over_tasks_gives_the_same_rows(spark, bundle, registry, tmp_path):
    from credit_grading.spark import SparkOptions, rescore_file

    local, want = _local(bundle, registry, tmp_path / "l")
    spark.read.parquet(str(registry)).createOrReplaceTempView("registry_view")
    out = tmp_path / "from_table.parquet"
    got = rescore_file(bundle, None, out, None, SparkOptions(partitions=3, batch_rows=700), table="registry_view",
                       spark=spark, chunk_rows=CHUNK, rejects_path=tmp_path / "rej.parquet")  # fmt: skip
    assert {k: got[k] for k in COUNTS} == {k: want[k] for k in COUNTS} and got["input"] == "table:registry_view"
    assert got["spark"]["tasks"] == 3
    _same_rows(_dataset_rows(out), pq.read_table(local))
    assert pq.read_table(tmp_path / "rej.parquet").equals(pq.read_table(tmp_path / "l/local_rejects.parquet"))


def test_a_failed_run_leaves_the_previous_output_and_says_one_thing(spark, bundle, registry, tmp_path):
    """The command line, in process (the module's session serves it and stays up): a run whose
    tasks cannot read the file fails with one message; the output from before is untouched."""
    from credit_grading.storage import dataset_sha256

    out = tmp_path / "out.parquet"
    audit = tmp_path / "audit.db"
    args = ["rescore", "--model", str(BUNDLE), "--output", str(out), "--engine", "spark", "--chunk-rows", str(CHUNK),
            "--audit-db", str(audit)]  # fmt: skip
    ok = CliRunner().invoke(app, [*args, "--input", str(registry)])
    assert ok.exit_code == 0, ok.output
    summary = json.loads((tmp_path / "out.parquet.summary.json").read_text())
    from credit_grading.runlog import runs

    rec = runs(audit)[-1]
    assert rec["kind"] == "rescore" and rec["output_sha256"] == summary["output_sha256"] == dataset_sha256(out)
    assert rec["rows_rejected"] == summary["rows_rejected"] > 150 and rec["input_sha256"] == summary["input_sha256"]
    before = dataset_sha256(out)

    broken = tmp_path / "broken.parquet"
    shutil.copy(registry, broken)
    col = pq.ParquetFile(broken).metadata.row_group(2).column(5)
    with open(broken, "r+b") as fh:  # a data page of the third row group overwritten: the footer still reads
        fh.seek(col.data_page_offset + 8)
        fh.write(b"\xff" * 64)
    bad = CliRunner().invoke(app, [*args, "--input", str(broken), "--overwrite"])
    assert bad.exit_code == 1 and isinstance(bad.exception, CreditGradingError)  # main() prints it as one paragraph
    text = str(bad.exception)
    assert text.startswith(f"cannot read {broken} as parquet") and "\n" not in text and len(text) < 400
    assert dataset_sha256(out) == before and len(runs(audit)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["audit.db", "broken.parquet", "out.parquet", "out.parquet.summary.json"]
        + [p.name for p in tmp_path.iterdir() if p.name.startswith("audit.db-")]
    )
    again = CliRunner().invoke(app, [*args, "--input", str(registry)])
    assert again.exit_code == 1 and "already exists" in str(again.exception) and dataset_sha256(out) == before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def standalone(tmp_path):
    """A master and a worker on 127.0.0.1, started with pyspark's spark-daemon.sh; stopped after."""
    home = Path(pyspark.__file__).parent
    daemon = home / "sbin" / "spark-daemon.sh"
    if not daemon.is_file() or shutil.which("bash") is None:
        pytest.skip(f"no {daemon} (or no bash) to start a standalone cluster with")
    logs = tmp_path / "cluster"
    logs.mkdir()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOG_DIR": str(logs), "SPARK_PID_DIR": str(logs),
           "SPARK_IDENT_STRING": f"cg{os.getpid()}", "SPARK_LOCAL_IP": "127.0.0.1"}  # fmt: skip
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    started = []

    def daemon_cmd(action: str, cls: str, *args: str) -> None:
        subprocess.run(["bash", str(daemon), action, cls, "1", *args], env=env, capture_output=True, timeout=120)

    master, worker = "org.apache.spark.deploy.master.Master", "org.apache.spark.deploy.worker.Worker"
    try:
        daemon_cmd("start", master, "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port()))
        started.append(master)
        daemon_cmd("start", worker, url, "--host", "127.0.0.1", "--cores", "2", "--memory", "2g",
                   "--webui-port", str(_free_port()), "--work-dir", str(logs / "work"))  # fmt: skip
        started.append(worker)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            text = "".join(p.read_text(errors="replace") for p in logs.glob("*Worker*.out"))
            if "Successfully registered with master" in text:
                break
            time.sleep(1)
        else:
            pytest.skip(f"the standalone cluster did not start within 3 minutes (logs in {logs})")
        yield url
    finally:
        for cls in reversed(started):
            daemon_cmd("stop", cls)


@pytest.mark.slow  # two command lines, each with its own driver JVM, on a cluster started for the test
def test_on_a_loopback_standalone_cluster_the_command_gives_the_local_rows(standalone, bundle, registry, tmp_path):
    local, want = _local(bundle, registry, tmp_path / "l")
    out = tmp_path / "cluster.parquet"
    env = {**os.environ, "CREDIT_GRADING_AUDIT_DB": str(tmp_path / "audit.db")}
    cmd = [sys.executable, "-m", "credit_grading.cli", "rescore", "--input", str(registry), "--model", str(BUNDLE),
           "--output", str(out), "--engine", "spark", "--spark-master", standalone, "--chunk-rows", str(CHUNK),
           "--rejects", str(tmp_path / "rej.parquet"), "--spark-conf", "spark.executor.memory=1g"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stderr.strip() == ""  # no Spark log on the console
    _same_rows(_dataset_rows(out), pq.read_table(local))
    assert pq.read_table(tmp_path / "rej.parquet").equals(pq.read_table(tmp_path / "l/local_rejects.parquet"))
    assert json.loads((tmp_path / "cluster.parquet.summary.json").read_text())["rows_graded"] == want["rows_graded"]
    before = sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file())

    broken = tmp_path / "broken.parquet"  # a data page overwritten: tasks fail, the footer still reads
    shutil.copy(registry, broken)
    col = pq.ParquetFile(broken).metadata.row_group(2).column(5)
    with open(broken, "r+b") as fh:
        fh.seek(col.data_page_offset + 8)
        fh.write(b"\xff" * 64)
    res = subprocess.run([*cmd[:5], str(broken), *cmd[6:], "--overwrite"], capture_output=True, text=True,
                         timeout=900, env=env, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 1 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot read {broken} as parquet"), res.stderr
    assert sorted((p.relative_to(out), p.read_bytes()) for p in out.rglob("*") if p.is_file()) == before


def test_spark_options_are_checked_before_any_work(tmp_path):
    from credit_grading.spark import SparkOptions

    with pytest.raises(Exception, match="key=value"):
        SparkOptions.parse_conf(["spark.executor.memory"])
    assert SparkOptions.parse_conf(["a.b = 1", "c=x=y"]) == {"a.b": "1", "c": "x=y"}
    runner = CliRunner()
    res = runner.invoke(app, ["rescore", "--model", str(BUNDLE), "--input", "x.parquet", "--output",
                              str(tmp_path / "o.parquet"), "--spark-partitions", "4"])  # fmt: skip
    assert res.exit_code == 1 and "--spark-partitions work with --engine spark only" in str(res.exception)
    res = runner.invoke(app, ["rescore", "--model", str(BUNDLE), "--output", str(tmp_path / "o.parquet")])
    assert res.exit_code == 1 and "--input FILE" in str(res.exception)
