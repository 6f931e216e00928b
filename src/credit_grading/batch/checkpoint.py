"""The checkpoint of a rescoring job: how far it got, and the running totals.

The work directory beside the output (``<output>.work``) holds the lock of the job that owns
it, the checkpoint (``checkpoint.json``: the run's key, the chunks done and the bytes of the
partial output they fill) and what the output writer keeps (the partial output, each row
group's metadata, the rejects). A checkpoint is used only by a run with the same key — same
package, bundle, input (path, size, modification time), chunk size and options — and is written
atomically after each chunk's row group is on disk, so a job killed at any moment resumes after
its last chunk.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from credit_grading.exceptions import DataError
from credit_grading.storage import write_atomic

CHECKPOINT = "checkpoint.json"
LOCK = "lock"


@dataclass
class Totals:
    """Counts summed over the chunks done."""

    rows_read: int = 0
    rows_graded: int = 0
    rows_rejected: int = 0
    rows_explained: int = 0
    tiers: dict = field(default_factory=dict)
    reject_reasons: dict = field(default_factory=dict)
    migration: list | None = None  # [previous tier or "new"][tier] counts
    chunks: list = field(default_factory=list)  # per chunk: rows, graded, rejected, sha256

    def add(self, other: dict) -> None:
        self.rows_read += other["rows"]
        self.rows_graded += other["graded"]
        self.rows_rejected += other["rejected"]
        self.rows_explained += other["explained"]
        for k, v in other["tiers"].items():
            self.tiers[k] = self.tiers.get(k, 0) + v
        for k, v in other["reject_reasons"].items():
            self.reject_reasons[k] = self.reject_reasons.get(k, 0) + v
        if other.get("migration") is not None:
            m = np.asarray(other["migration"])
            self.migration = (m if self.migration is None else np.asarray(self.migration) + m).tolist()
        self.chunks.append({k: other[k] for k in ("rows", "graded", "rejected", "sha256")})


class CheckpointStore:
    """Reads and writes the checkpoint in ``work`` for a run identified by ``key``."""

    def __init__(self, work: Path, key: dict) -> None:
        self.work = Path(work)
        self.key = key

    @property
    def path(self) -> Path:
        return self.work / CHECKPOINT

    def exists(self) -> bool:
        return self.path.exists()

    def clear(self) -> None:
        """Remove everything the work directory holds but the lock (which this job holds)."""
        if not self.work.exists():
            return
        for entry in self.work.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def load(self, matched: np.ndarray | None = None) -> tuple[int, Totals, int]:
        """Chunks done, totals so far and bytes of the partial output done (0, empty totals and 0
        without a checkpoint).

        ``matched`` (the previous grading's seen-entities bitmap) is filled in place.
        """
        if not self.path.exists():
            return 0, Totals(), 0
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(
                f"the checkpoint {self.path} cannot be read ({exc}); pass --restart to start over"
            ) from None
        if state.get("key") != self.key:
            changed = sorted(k for k in self.key if state.get("key", {}).get(k) != self.key[k])
            raise DataError(
                f"{self.work} holds the checkpoint of a different run (it differs in: {', '.join(changed)}); "
                "pass --restart to start over, or run with the same model, input and options to resume"
            )
        seen = self.work / "previous_matched.npy"
        if matched is not None and seen.exists():
            matched[:] = np.load(seen, allow_pickle=False)
        return state["chunks_done"], Totals(**state["totals"]), state["output_bytes"]

    def load_done(self) -> int:
        """Chunks done according to the checkpoint on disk (0 without one)."""
        try:
            return int(json.loads(self.path.read_text(encoding="utf-8"))["chunks_done"])
        except (OSError, ValueError, KeyError):
            return 0

    def save(self, done: int, totals: Totals, matched: np.ndarray | None = None, output_bytes: int = 0) -> None:
        if matched is not None:  # which previous entities were seen so far (a bitmap, not JSON)
            buf = io.BytesIO()
            np.save(buf, matched, allow_pickle=False)
            write_atomic(self.work / "previous_matched.npy", buf.getvalue())
        state = {"key": self.key, "chunks_done": done, "output_bytes": output_bytes, "totals": totals.__dict__}
        write_atomic(self.path, json.dumps(state))

    def remove(self) -> None:
        """Remove the work directory (the lock goes with it; its holder still has it open).

        The checkpoint goes first: a process killed while the rest is removed leaves no
        checkpoint naming spools that are gone, only leftovers the next run clears.
        """
        self.path.unlink(missing_ok=True)
        shutil.rmtree(self.work, ignore_errors=True)
