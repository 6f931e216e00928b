"""Small self-contained SVG charts (no external assets; the HTML reports inline them).

Charts are text built from the numbers: a waterfall of contributions, horizontal bars, and a
line chart (ROC curves). Labels are XML-escaped; Chinese labels render in any browser.
"""

from __future__ import annotations

from html import escape

_FONT = "font-family:'Noto Sans CJK SC','Microsoft YaHei','PingFang SC',sans-serif;font-size:12px"


def _svg(width: int, height: int, body: list[str], title: str = "") -> str:
    t = f"<title>{escape(title)}</title>" if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" style="{_FONT}">{t}{"".join(body)}</svg>')  # fmt: skip


def waterfall(base: float, steps: list[tuple[str, float]], *, title: str = "", unit: str = "") -> str:
    """Bars from ``base`` through each (label, change) to the total; rises red, falls green."""
    width, row, left = 640, 24, 260
    height = row * (len(steps) + 2) + 20
    running = [base]
    for _, v in steps:
        running.append(running[-1] + v)
    lo, hi = min(running), max(running)
    span = (hi - lo) or 1.0
    scale = (width - left - 70) / span

    def x(v: float) -> float:
        return left + (v - lo) * scale

    body = []
    items = [("start", base), *steps, ("total", running[-1])]
    for i, (label, v) in enumerate(items):
        y = 10 + i * row
        if i == 0 or i == len(items) - 1:  # start and total: from the axis to the value
            x0, x1, colour = x(lo), x(v), "#555"
        else:
            a, b = running[i - 1], running[i]
            x0, x1 = x(min(a, b)), x(max(a, b))
            colour = "#c0392b" if v > 0 else "#27ae60"
        w = max(abs(x1 - x0), 1.0)
        body.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        body.append(f'<rect x="{min(x0, x1):.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>')
        sign = "" if i == 0 or i == len(items) - 1 or v < 0 else "+"
        body.append(f'<text x="{max(x0, x1) + 4:.1f}" y="{y + 15}">{sign}{v:.3f}{escape(unit)}</text>')
    return _svg(width, height, body, title)


def bars(values: list[tuple[str, float]], *, title: str = "", unit: str = "") -> str:
    """Horizontal bars, positive to the right (red) and negative to the left (green)."""
    width, row, left = 640, 22, 260
    height = row * len(values) + 20
    m = max((abs(v) for _, v in values), default=1.0) or 1.0
    half = (width - left - 70) / 2
    zero = left + half
    body = [f'<line x1="{zero}" y1="5" x2="{zero}" y2="{height - 5}" stroke="#999"/>']
    for i, (label, v) in enumerate(values):
        y = 8 + i * row
        w = abs(v) / m * half
        x0 = zero if v >= 0 else zero - w
        colour = "#c0392b" if v > 0 else "#27ae60"
        body.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        body.append(f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(w, 0.5):.1f}" height="{row - 7}" fill="{colour}"/>')
        body.append(f'<text x="{zero + (w if v >= 0 else -w) + (4 if v >= 0 else -4):.1f}" y="{y + 13}" '
                    f'text-anchor="{"start" if v >= 0 else "end"}">{v:.3f}{escape(unit)}</text>')  # fmt: skip
    return _svg(width, height, body, title)


def lines(series: list[tuple[str, list[float], list[float]]], *, title: str = "", diagonal: bool = True) -> str:
    """Line chart on [0, 1] × [0, 1] (ROC curves), one polyline per series."""
    size, pad = 360, 36
    colours = ["#2c3e50", "#e67e22", "#8e44ad", "#16a085"]

    def px(v: float) -> float:
        return pad + v * (size - 2 * pad)

    def py(v: float) -> float:
        return size - pad - v * (size - 2 * pad)

    body = [f'<rect x="{pad}" y="{pad}" width="{size - 2 * pad}" height="{size - 2 * pad}" fill="none" stroke="#999"/>']
    if diagonal:
        body.append(f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#bbb" stroke-dasharray="4"/>')
    for i, (name, xs, ys) in enumerate(series):
        pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs, ys, strict=True))
        c = colours[i % len(colours)]
        body.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        body.append(f'<text x="{pad + 8}" y="{pad + 16 + 16 * i}" fill="{c}">{escape(name)}</text>')
    return _svg(size, size, body, title)
