"""One HTML layout for every report: titled sections of paragraphs, tables and inline SVG charts."""

from __future__ import annotations

import datetime as dt
from importlib import resources

from credit_grading import __version__


def fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if v != v:
            return "—"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(rows: list[dict], columns: list[str] | None = None, *, title: str = "", classes: str | None = None) -> dict:
    """A table section part; ``classes`` names a row key whose value becomes the row's CSS class."""
    cols = columns or (list(rows[0].keys()) if rows else [])
    if classes in cols and classes.startswith("_"):
        cols = [c for c in cols if c != classes]
    elif classes in cols:
        cols = [c for c in cols if c != classes] + [classes]
    return {"title": title, "columns": cols, "rows": rows, "classes": classes}


def render(title: str, subtitle: str, sections: list[dict]) -> str:
    from jinja2 import Environment

    text = resources.files("credit_grading").joinpath("templates/report.html.j2").read_text("utf-8")
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(text).render(
        title=title, subtitle=subtitle, sections=sections, fmt=fmt, version=__version__,
        generated=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )  # fmt: skip
