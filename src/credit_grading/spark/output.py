"""The output of a Spark rescoring: finished in the work directory, then moved into place at once.

The tasks write the graded rows into ``<output>.work/spark/graded`` (beside the output, on the
same file system). :func:`finish_stage` keeps the files of the task attempts Spark accepted
(removing any other attempt's) and, for a single-file output, joins the parts in row order
into one Parquet file. :func:`publish` then puts the result at the output path with one
``rename`` — swapping it with the previous output when one is replaced (``renameat2`` with
``RENAME_EXCHANGE`` where the system has it), so the output path never names a partial or an
empty result — and removes the old one.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from credit_grading.csvsafe import write_csv
from credit_grading.storage import atomic_path, fsync_file

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def stat_of(path: Path) -> tuple:
    """What tells that a file (or every file of a folder) changed: device, inode, size, mtime."""
    paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    out = []
    for p in paths:
        st = p.stat()
        out.append((str(p), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def data_files(path: Path) -> list[Path]:
    """The Parquet files of an output (the file itself, or a dataset's files in path order)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def finish_stage(graded: Path, keep: set[str], schema: pa.Schema, *, single_file: bool, compression: str) -> Path:
    """The finished output in the work directory (a dataset folder, or one file); its path.

    ``keep``: the files (relative to ``graded``) written by the task attempts Spark accepted;
    any other file (a failed or duplicate attempt's) is removed. A single file joins the parts
    in row order.
    """
    graded.mkdir(parents=True, exist_ok=True)
    for p in sorted(graded.rglob("*"), reverse=True):
        if p.is_file() and p.relative_to(graded).as_posix() not in keep:
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    if not single_file:
        return graded
    target = graded.parent / "output.parquet"
    dict_cols = [f.name for f in schema if pa.types.is_dictionary(f.type) or pa.types.is_date(f.type)]
    with pq.ParquetWriter(
        target, schema, compression=compression, use_dictionary=dict_cols, write_statistics=True
    ) as w:
        wrote = False
        for p in data_files(graded):
            pf = pq.ParquetFile(p)
            for i in range(pf.metadata.num_row_groups):
                t = pf.read_row_group(i)
                if t.num_rows:
                    w.write_table(_unify(t, schema), row_group_size=t.num_rows)
                    wrote = True
        if not wrote:
            w.write_table(schema.empty_table())
    fsync_file(target)
    return target


def _unify(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A part in the output's schema (a label column's dictionary may differ from part to part)."""
    return table if table.schema == schema else table.cast(schema)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where the system cannot."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def publish(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` with one rename (swapped with what ``dst`` held, then that removed)."""
    if dst.exists() or dst.is_symlink():
        if _exchange(src, dst):
            _remove(src)
        else:  # two renames: a crash between them leaves the old output at <output>.old
            old = dst.with_name(dst.name + ".old")
            _remove(old)
            os.rename(dst, old)
            os.rename(src, dst)
            _remove(old)
    else:
        os.rename(src, dst)
    with contextlib.suppress(OSError):
        fd = os.open(dst.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_if_only_lock(work: Path) -> None:
    """Remove the work directory when nothing but the lock is left in it (a local job's
    checkpoint, if any, stays)."""
    with contextlib.suppress(OSError):
        if {p.name for p in work.iterdir()} <= {"lock"}:
            shutil.rmtree(work)


def write_rejects(rest: pa.Table, id_column: str, path: Path) -> None:
    """The rejects file, as the local command writes it (rows in file order, values as given)."""
    from credit_grading.spark.tasks import REJECT_PREFIX, ROW

    names = (id_column, "column", "value", "reason", "detail")
    rows = rest.column(ROW).to_numpy(zero_copy_only=False)
    order = pa.array(rows.argsort(kind="stable"))
    cols = {"row_number": pc.add(rest.column(ROW), 1).take(order)}
    for c in names:
        cols[c] = rest.column(REJECT_PREFIX + c).take(order)
    table = pa.Table.from_pandas(pa.table(cols).to_pandas(), preserve_index=False).replace_schema_metadata(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.lower().endswith(".csv"):
        write_csv(table.to_pandas(), path)  # neutralised: rejects hold values as given
    else:
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")


def write_migration(job, totals) -> None:
    """``<output>.migration.json`` and ``.csv``, as the local command writes them."""
    from credit_grading.batch.rescore import Rescorer

    Rescorer._write_migration(job, totals)  # reads job.previous.matched and job._side(...)
