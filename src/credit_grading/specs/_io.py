"""Shared JSON helpers of the specs: format tags, versions and exact float round trips."""

from __future__ import annotations

import json
from pathlib import Path

from credit_grading.exceptions import BundleError


def check_format(d: dict, fmt: str, version: int) -> None:
    if not isinstance(d, dict) or d.get("format") != fmt:
        got = d.get("format") if isinstance(d, dict) else type(d).__name__
        raise BundleError(f"not a {fmt} document: format is {got!r}")
    if d.get("format_version") != version:
        raise BundleError(f"unsupported {fmt} version {d.get('format_version')!r}; this package reads {version}")


def dumps(d: dict) -> str:
    return json.dumps(d, ensure_ascii=False, indent=1, allow_nan=False)


def write_or_return(d: dict, path: Path | str | None) -> str:
    text = dumps(d)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def loads(text_or_path: str | Path) -> dict:
    text = Path(text_or_path).read_text(encoding="utf-8") if isinstance(text_or_path, Path) else text_or_path
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"invalid JSON: {exc}") from None


class JsonSpec:
    """``to_json`` / ``from_json`` for a spec that has ``to_dict`` / ``from_dict``."""

    def to_json(self, path: Path | str | None = None) -> str:
        return write_or_return(self.to_dict(), path)

    @classmethod
    def from_json(cls, text_or_path: str | Path):
        return cls.from_dict(loads(text_or_path))
