"""Configuration of sector (segment) models: the ``segments`` section.

::

    segments:
      column: industry           # the categorical item whose levels are grouped into segments
      groups:                    # segment name -> the column's levels it holds
        production: [B, C, D]
        construction: [E]
        trade: [F, G]
      min_rows: 5000             # a segment with fewer labelled rows is scored by the pooled model

One scorecard and one GBM are trained per segment; the pooled models (trained on every row) score
the segments below ``min_rows`` and the levels no group names (or never seen). All segments share
one master scale, so a grade means the same PD band in every sector.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# A segment's name names its folder in a bundle: letters, digits, ``_`` and ``-`` only.
SEGMENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
POOLED = "pooled"


class SegmentsConfig(BaseModel):
    """Sector models: ``column``, ``groups`` (segment -> levels) and ``min_rows``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(min_length=1)
    groups: dict[str, list[str]] = Field(min_length=1)
    min_rows: int = Field(default=5000, ge=1)

    @model_validator(mode="after")
    def _check(self) -> SegmentsConfig:
        import re

        seen: dict[str, str] = {}
        for name, levels in self.groups.items():
            if not re.match(SEGMENT_NAME, name) or name == POOLED:
                raise ValueError(
                    f"segments.groups: segment name {name!r} must be letters, digits, '_' or '-' (at most 64, "
                    f"not {POOLED!r})"
                )
            if not levels:
                raise ValueError(f"segments.groups.{name} lists no level of {self.column!r}")
            for level in levels:
                if level in seen and seen[level] != name:
                    raise ValueError(f"segments.groups: level {level!r} is in both {seen[level]!r} and {name!r}")
                seen[level] = name
        return self

    def segment_of_level(self) -> dict[str, str]:
        """Level -> segment name, for every level a group names."""
        return {level: name for name, levels in self.groups.items() for level in levels}


__all__ = ["POOLED", "SegmentsConfig"]
