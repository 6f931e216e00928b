"""The options of a rescoring job, typed and checked before any work starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from credit_grading.exceptions import DataError
from credit_grading.grading.result_schema import TIER_CODES

DEFAULT_CHUNK_ROWS = 100_000  # 10M rows, GBM with reasons: peak RSS 1.0 GB (1.4 GB with 250k-row chunks), as fast
COMPRESSIONS = ("zstd", "lz4", "snappy", "gzip", "none")


@dataclass(frozen=True)
class ReasonsFor:
    """Which rows get reasons: ``all``, ``changed`` (tier differs from the previous grading, or
    new) or ``tiers:C,D``.

    >>> str(ReasonsFor.parse("tiers: C, D")), ReasonsFor.parse("changed").mode
    ('tiers:C,D', 'changed')
    """

    mode: str = "all"
    tiers: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ReasonsFor:
        t = text.strip()
        if t in ("all", "changed"):
            return cls(t)
        if t.startswith("tiers:"):
            tiers = tuple(x.strip() for x in t[6:].split(",") if x.strip())
            bad = [x for x in tiers if x not in TIER_CODES]
            if not tiers or bad:
                raise DataError(f"reasons for tiers:… needs tiers among {list(TIER_CODES)}, got {t!r}")
            return cls("tiers", tiers)
        raise DataError(f"reasons are given for all, changed or tiers:C,D (say), got {text!r}")

    def __str__(self) -> str:
        return f"tiers:{','.join(self.tiers)}" if self.mode == "tiers" else self.mode


@dataclass(frozen=True)
class RescoreOptions:
    """Everything a rescoring job can be asked for besides the model, the input and the output.

    Parameters
    ----------
    rejects_path
        Rejected rows go here (``.csv`` or ``.parquet``), each with row, column, value and reason.
    previous_path
        The previous grading (a rescoring output): migration counts, and hysteresis when the
        grading config sets a margin.
    reasons
        Top reasons per explained row (0–20).
    reasons_for
        Which rows are explained: ``all``, ``changed`` (needs ``previous_path``) or ``tiers:C,D``.
    chunk_rows
        Rows per chunk; memory grows with it.
    restart
        Ignore a checkpoint left by an earlier, interrupted run.
    challenger
        Also score the GBM when the scorecard decides.
    compression
        Parquet compression of the output: lz4, zstd, snappy, gzip or none.
    carry
        Registry items copied to the output beside the results.
    overwrite
        Replace an output file that already exists (otherwise the job refuses to start).
    validate
        ``read`` (default): the keys and every item the decision reads are validated (and only
        those columns are read); ``all``: every catalogue item, as ``credit-grading validate`` does.
    wait
        Seconds to wait for another job writing the same output to finish (``None``: as long as
        it takes); 0 refuses at once.
    """

    rejects_path: Path | None = None
    previous_path: Path | None = None
    reasons: int = 3
    reasons_for: ReasonsFor = field(default_factory=ReasonsFor)
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    restart: bool = False
    challenger: bool = False
    compression: str = "lz4"
    carry: tuple[str, ...] = ()
    overwrite: bool = False
    wait: float | None = 0.0
    validate: str = "read"
    lists: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once here
        if isinstance(self.reasons_for, str):
            set_(self, "reasons_for", ReasonsFor.parse(self.reasons_for))
        for name in ("rejects_path", "previous_path"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                set_(self, name, Path(value))
        set_(self, "carry", tuple(self.carry))
        set_(self, "lists", tuple(Path(p) for p in self.lists))
        if not isinstance(self.reasons, int) or not 0 <= self.reasons <= 20:
            raise DataError(f"reasons must be a whole number from 0 to 20, got {self.reasons!r}")
        if not isinstance(self.chunk_rows, int) or self.chunk_rows < 1:
            raise DataError(f"chunk_rows must be a positive whole number, got {self.chunk_rows!r}")
        if self.compression not in COMPRESSIONS:
            raise DataError(f"compression must be one of {', '.join(COMPRESSIONS)}; got {self.compression!r}")
        if self.reasons_for.mode == "changed" and self.previous_path is None:
            raise DataError("reasons for changed rows need the previous grading: a change is against it")
        if self.validate not in ("read", "all"):
            raise DataError(f"validate must be read (the items the decision reads) or all, got {self.validate!r}")
        if self.wait is not None and self.wait < 0:
            raise DataError(f"wait must be 0 or more seconds, got {self.wait!r}")
        if self.rejects_path is not None and not self.rejects_path.name.lower().endswith((".csv", ".parquet", ".pq")):
            raise DataError(
                f"the rejects file is written as CSV or Parquet: name it *.csv or *.parquet, not {self.rejects_path.name}"
            )

    @classmethod
    def from_keywords(cls, **options) -> RescoreOptions:
        """Options from keywords, naming any that do not exist."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise DataError(f"unknown rescoring option(s) {unknown}; the options are {sorted(known)}")
        return cls(**options)
