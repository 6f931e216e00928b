"""Files the project writes and reads back: atomic writes, content hashes, locks, transactions.

One place for the few primitives every writer needs, so each is done one way:

- :func:`sha256_file` / :func:`sha256_bytes` — content hashes (bundles, run log, rescoring).
- :func:`write_atomic` / :func:`atomic_path` — a file appears complete or not at all: it is
  written to a hidden temporary file in the same directory, fsync'ed and renamed into place.
- :func:`same_file` — two paths naming one file (the same path, another spelling, a symlink or
  a hard link), so an output never overwrites an input.
- :class:`DirectoryLock` — an exclusive OS lock (``flock``) on a directory's lock file, released
  by the kernel when the holder dies; a second holder is refused at once, naming the first.
- :func:`transaction` — ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error) on SQLite.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from credit_grading.exceptions import CreditGradingError, DataError

_BLOCK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """sha256 of bytes, as hex.

    >>> sha256_bytes(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str) -> str:
    """sha256 of a file's contents, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def dataset_sha256(path: Path, hashes: dict[Path, str] | None = None) -> str:
    """sha256 of a folder of files: over each file's path (relative, ``/``-separated) and sha256
    (taken from ``hashes`` where given)."""
    hashes = hashes or {}
    h = hashlib.sha256()
    for p in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{p.relative_to(path).as_posix()}\t{hashes.get(p) or sha256_file(p)}\n".encode())
    return h.hexdigest()


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def fsync_file(path: Path | str) -> None:
    """Flush a written file to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems refuse fsync on directories
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsync'ed and renamed onto ``path``.

    On an error the temporary file is removed and ``path`` is left as it was.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('done', ['a.txt'])
    """
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_atomic(path: Path | str, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(raw)


def same_file(a: Path | str, b: Path | str) -> bool:
    """True when ``a`` and ``b`` name one file: the same path, another spelling, a symlink or a hard link.

    >>> same_file("x/../README.md", "README.md")
    True
    """
    a, b = Path(a), Path(b)
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def check_distinct(paths: dict[str, Path | str | None]) -> None:
    """Refuse when two of the named paths are one file (``{"--input": …, "--output": …}``)."""
    given = [(k, Path(v)) for k, v in paths.items() if v is not None]
    for i, (ka, a) in enumerate(given):
        for kb, b in given[i + 1 :]:
            if same_file(a, b):
                raise DataError(f"{ka} and {kb} name the same file ({a} and {b}): writing one would destroy the other")


def describe_os_error(exc: OSError, what: str) -> str:
    """One sentence for an operating-system error while doing ``what``."""
    name = exc.filename or ""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full while {what} ({name}); free some space and run the same command again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write while {what}: {name} is read-only or its folder is not writable"
    return f"{exc.strerror or exc} while {what} ({name})"


def check_writable(path: Path | str, what: str) -> None:
    """Refuse now, before any work, when ``path`` could not be written (created or replaced) later.

    Creates the missing parent folders and a probe file beside ``path`` (removed at once): the
    only test that tells a read-only file system, a full disk's neighbour or a missing permission
    apart from a folder one can write, whoever runs the job.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = _tmp_name(path).with_suffix(".probe")
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, "read-only file", str(path))
    except OSError as exc:
        why = {errno.ENOSPC: "the disk is full", errno.ENOTDIR: f"{exc.filename} is not a folder",
               errno.EEXIST: f"{exc.filename} is a file, not a folder",
               errno.EROFS: "it is on a read-only file system"}.get(exc.errno)  # fmt: skip
        if why is None and exc.errno in (errno.EACCES, errno.EPERM):
            why = "it or its folder is not writable by this user"
        raise DataError(f"cannot write {what} {path}: {why or exc.strerror or exc}") from None


class LockedError(CreditGradingError, RuntimeError):
    """Another process holds the lock."""


class DirectoryLock:
    """An exclusive, non-blocking OS lock on ``<directory>/lock``.

    The kernel releases it when the process exits, killed or not, so a crash never leaves a
    stale lock. The lock file holds the holder's pid, host, start time and command for the
    message a second process gets. ``wait`` seconds (``None``: forever) retries before refusing.
    """

    def __init__(self, directory: Path | str, what: str = "this job") -> None:
        self.directory = Path(directory)
        self.path = self.directory / "lock"
        self.what = what
        self._fd: int | None = None

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self, wait: float | None = 0.0) -> DirectoryLock:
        import fcntl
        import sys

        deadline = None if wait is None else time.monotonic() + wait
        while True:
            self.directory.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:  # the directory went away between the two calls
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # The holder before us may have removed the directory (a finished job does): a lock
                # on a file no longer at this path protects nothing, so take the new one.
                try:
                    if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                        break
                except FileNotFoundError:
                    pass
                os.close(fd)
                continue
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    h = self.holder()
                    who = (f"process {h.get('pid')} on {h.get('host')} since {h.get('started')} ({h.get('command')})"
                           if h else "another process")  # fmt: skip
                    raise LockedError(
                        f"{self.what} is already running: {who} holds {self.path}. Wait for it to finish "
                        "(or pass --wait to queue behind it); a killed run releases the lock by itself"
                    ) from None
                os.close(fd)
                time.sleep(0.2)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]}  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (take the write lock now) … ``COMMIT``; ``ROLLBACK`` on any error.

    The connection must be in autocommit mode (``isolation_level=None``). Checks that decide a
    write (e.g. "is this objection still open?") belong inside the block: another process cannot
    change the database between the check and the write.
    """
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
