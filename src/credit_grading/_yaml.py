"""Loading YAML into pydantic models with one readable error per bad file.

A bad file fails with a single :class:`~credit_grading.exceptions.ConfigError` whose
message names the file, every offending key path, the value given and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from credit_grading.exceptions import ConfigError

M = TypeVar("M", bound=BaseModel)

_MAX_VALUE_CHARS = 80


def format_loc(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location as a key path: ``dataset.features[2].type``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def format_validation_error(err: ValidationError, source: str) -> str:
    """One message for all problems of a pydantic ``ValidationError``."""
    lines = [f"invalid configuration in {source} ({err.error_count()} problem(s)):"]
    for e in err.errors(include_url=False):
        path = format_loc(tuple(e["loc"]))
        kind = e["type"]
        if kind == "extra_forbidden":
            lines.append(f"  - {path}: unexpected key (got {_short(e['input'])}); check the spelling")
        elif kind == "missing":
            lines.append(f"  - {path}: required key is missing")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"  - {path}: {msg} (got {_short(e['input'])})")
    return "\n".join(lines)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file, turning I/O and syntax problems into :class:`ConfigError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML in {path}{where}: {problem}") from None


def validate_model(model: type[M], data: Any, source: str, context: dict | None = None) -> M:
    """Validate ``data`` into ``model``; errors become one :class:`ConfigError`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"invalid configuration in {source}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_model(model: type[M], path: Path | str, context: dict | None = None) -> M:
    """Read ``path`` (YAML) and validate it into ``model``."""
    path = Path(path)
    return validate_model(model, read_yaml(path), str(path), context=context)
