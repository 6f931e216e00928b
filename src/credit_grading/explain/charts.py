"""Small self-contained SVG charts (no external assets; the HTML reports inline them).

Charts are text built from the numbers: a waterfall of contributions, horizontal bars, and a
line chart (ROC curves). Labels are XML-escaped; Chinese labels render in any browser.
"""

from __future__ import annotations

import math
from html import escape

_FONT = "font-family:'Noto Sans CJK SC','Microsoft YaHei','PingFang SC',sans-serif;font-size:12px"


def _svg(width: int, height: int, body: list[str], title: str = "") -> str:
    t = f"<title>{escape(title)}</title>" if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" style="{_FONT}">{t}{"".join(body)}</svg>')  # fmt: skip


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    """Round tick values covering [lo, hi]."""
    span = (hi - lo) or 1.0
    raw = span / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    out, v = [], first
    while v <= hi + 1e-9 * step:
        out.append(round(v, 10))
        v += step
    return out


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}".rstrip("0").rstrip(".") if v else "0"


def waterfall(base: float, steps: list[tuple[str, float]], *, title: str = "", unit: str = "",
              start_label: str = "起点 · start", total_label: str = "合计 · total", total_note: str = "") -> str:  # fmt: skip
    """Bars from zero to ``base``, through each (label, change), to the total; rises red, falls
    green. The value axis (with ticks and ``unit``) includes zero; ``total_note`` follows the total."""
    width, row, left, right = 700, 24, 230, 150
    height = row * (len(steps) + 2) + (76 if total_note else 56)
    running = [base]
    for _, v in steps:
        running.append(running[-1] + v)
    lo, hi = min(0.0, *running), max(0.0, *running)
    ticks = _ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    scale = (width - left - right) / ((hi - lo) or 1.0)

    def x(v: float) -> float:
        return left + (v - lo) * scale

    body = []
    items = [(start_label, base), *steps, (total_label, running[-1])]
    bottom = 10 + len(items) * row
    for t in ticks:  # grid and axis labels
        body.append(f'<line x1="{x(t):.1f}" y1="8" x2="{x(t):.1f}" y2="{bottom}" stroke="#e5e5e5"/>')
        body.append(f'<text x="{x(t):.1f}" y="{bottom + 16}" text-anchor="middle" fill="#555">{_num(t)}</text>')
    body.append(f'<line x1="{x(0):.1f}" y1="8" x2="{x(0):.1f}" y2="{bottom}" stroke="#333"/>')
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{width - right}" y2="{bottom}" stroke="#333"/>')
    if unit:
        body.append(f'<text x="{(left + width - right) / 2:.0f}" y="{bottom + 34}" text-anchor="middle" '
                    f'fill="#555">{escape(unit)}</text>')  # fmt: skip
    for i, (label, v) in enumerate(items):
        y = 10 + i * row
        ends = i == 0 or i == len(items) - 1
        if ends:  # start and total: from zero to the value
            x0, x1, colour = x(0.0), x(v), "#555"
        else:
            a, b = running[i - 1], running[i]
            x0, x1 = x(min(a, b)), x(max(a, b))
            colour = "#c0392b" if v > 0 else "#27ae60"
        w = max(abs(x1 - x0), 1.0)
        weight = ' font-weight="bold"' if ends else ""
        body.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end"{weight}>{escape(label)}</text>')
        body.append(f'<rect x="{min(x0, x1):.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>')
        sign = "" if ends or v < 0 else "+"
        body.append(f'<text x="{max(x0, x1) + 4:.1f}" y="{y + 15}"{weight}>{sign}{v:.3f}</text>')
    if total_note:
        body.append(f'<text x="{left}" y="{bottom + 56}" font-weight="bold">{escape(total_label)}: '
                    f"{running[-1]:.3f} {escape(total_note)}</text>")  # fmt: skip
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
        # The value sits beside the bar's end, or just right of zero for a negative bar (never over a label).
        tx = zero + w + 4 if v >= 0 else zero + 4
        body.append(f'<text x="{tx:.1f}" y="{y + 13}" text-anchor="start">{v:.3f}{escape(unit)}</text>')
    return _svg(width, height, body, title)


def lines(series: list[tuple[str, list[float], list[float]]], *, title: str = "", diagonal: bool = True,
          x_label: str = "假正率 · false positive rate", y_label: str = "真正率 · true positive rate") -> str:  # fmt: skip
    """Line chart on [0, 1] × [0, 1] (ROC curves) with axes, ticks and a legend, one polyline per series."""
    size, left, bottom, top, right = 400, 56, 48, 14, 14
    w, h = size - left - right, size - top - bottom
    colours = ["#2c3e50", "#e67e22", "#8e44ad", "#16a085"]

    def px(v: float) -> float:
        return left + v * w

    def py(v: float) -> float:
        return top + (1 - v) * h

    body = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#333"/>']
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        body.append(f'<line x1="{px(t):.1f}" y1="{top}" x2="{px(t):.1f}" y2="{top + h}" stroke="#eee"/>')
        body.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + w}" y2="{py(t):.1f}" stroke="#eee"/>')
        body.append(f'<text x="{px(t):.1f}" y="{top + h + 16}" text-anchor="middle" fill="#555">{t:.1f}</text>')
        body.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" fill="#555">{t:.1f}</text>')
    body.append(f'<text x="{left + w / 2:.0f}" y="{size - 8}" text-anchor="middle">{escape(x_label)}</text>')
    body.append(f'<text x="14" y="{top + h / 2:.0f}" text-anchor="middle" transform="rotate(-90 14 {top + h / 2:.0f})">'
                f"{escape(y_label)}</text>")  # fmt: skip
    if diagonal:
        body.append(f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#bbb" stroke-dasharray="4"/>')
    for i, (name, xs, ys) in enumerate(series):
        pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs, ys, strict=True))
        c = colours[i % len(colours)]
        body.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        ly = top + h - 14 - 18 * (len(series) - 1 - i)
        body.append(f'<line x1="{px(0.45):.1f}" y1="{ly - 4}" x2="{px(0.52):.1f}" y2="{ly - 4}" stroke="{c}" '
                    f'stroke-width="2"/><text x="{px(0.54):.1f}" y="{ly}" fill="{c}">{escape(name)}</text>')  # fmt: skip
    return _svg(size, size, body, title)


def calibration(rows: list[tuple[str, float, float, float, float]], *, title: str = "") -> str:
    """Predicted PD (diamond) against the observed bad rate (dot) with its interval (whisker) per
    grade, on a logarithmic percentage axis. ``rows``: (grade, predicted, observed, low, high)."""
    width, height, left, bottom, top, right = 660, 320, 64, 54, 14, 180
    vals = [v for r in rows for v in r[1:] if v is not None and v == v and v > 0]
    lo = 10 ** math.floor(math.log10(min(vals))) if vals else 1e-3
    hi = 10 ** math.ceil(math.log10(min(max(vals), 1.0))) if vals else 1.0
    w, h = width - left - right, height - top - bottom
    n = max(len(rows), 1)

    def px(i: int) -> float:
        return left + (i + 0.5) * w / n

    def py(v: float) -> float:
        v = min(max(v, lo), hi)
        return top + h * (1 - (math.log10(v) - math.log10(lo)) / ((math.log10(hi) - math.log10(lo)) or 1.0))

    body = [f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#333"/>']
    t = lo
    while t <= hi * 1.0001:
        for m in (1, 2, 5):
            v = t * m
            if v > hi * 1.0001:
                break
            body.append(f'<line x1="{left}" y1="{py(v):.1f}" x2="{left + w}" y2="{py(v):.1f}" stroke="#eee"/>')
            text = f"{100 * v:g}%"
            body.append(f'<text x="{left - 6}" y="{py(v) + 4:.1f}" text-anchor="end" fill="#555">{text}</text>')
        t *= 10
    for i, (grade, pred, obs, low, high) in enumerate(rows):
        x = px(i)
        body.append(f'<text x="{x:.1f}" y="{top + h + 16}" text-anchor="middle">{escape(grade)}</text>')
        if low is not None and high is not None:
            body.append(f'<line x1="{x:.1f}" y1="{py(max(low, lo)):.1f}" x2="{x:.1f}" y2="{py(high):.1f}" '
                        f'stroke="#2c3e50" stroke-width="1.5"/>')  # fmt: skip
            for v in (max(low, lo), high):
                body.append(
                    f'<line x1="{x - 5:.1f}" y1="{py(v):.1f}" x2="{x + 5:.1f}" y2="{py(v):.1f}" stroke="#2c3e50"/>'
                )
        if obs is not None and obs == obs:
            body.append(f'<circle cx="{x:.1f}" cy="{py(max(obs, lo)):.1f}" r="4" fill="#2c3e50"/>')
        if pred is not None and pred == pred:
            y = py(pred)
            body.append(f'<path d="M {x + 9:.1f} {y - 5:.1f} l 5 5 l -5 5 l -5 -5 z" fill="#e67e22"/>')
    body.append(f'<text x="{left + w / 2:.0f}" y="{height - 18}" text-anchor="middle">等级 · grade</text>')
    body.append(f'<text x="14" y="{top + h / 2:.0f}" text-anchor="middle" transform="rotate(-90 14 {top + h / 2:.0f})">'
                "违约率（对数） · default rate (log)</text>")  # fmt: skip
    lx = left + w + 14
    body.append(f'<circle cx="{lx + 4}" cy="{top + 12}" r="4" fill="#2c3e50"/><text x="{lx + 14}" y="{top + 16}">'
                "观察违约率 · observed</text>")  # fmt: skip
    body.append(f'<line x1="{lx + 4}" y1="{top + 26}" x2="{lx + 4}" y2="{top + 42}" stroke="#2c3e50"/>'
                f'<text x="{lx + 14}" y="{top + 38}">95% Jeffreys</text>')  # fmt: skip
    body.append(f'<path d="M {lx + 4} {top + 50} l 5 5 l -5 5 l -5 -5 z" fill="#e67e22"/><text x="{lx + 14}" '
                f'y="{top + 60}">预测 PD · predicted</text>')  # fmt: skip
    return _svg(width, height, body, title)


def rate_bars(values: list[tuple[str, float]], *, title: str = "") -> str:
    """Horizontal bars of rates in [0, 1] (event rate per bin), labelled as percentages."""
    width, row, left = 640, 20, 260
    height = row * len(values) + 12
    m = max((v for _, v in values if v == v), default=1.0) or 1.0
    span = width - left - 80
    body = [f'<line x1="{left}" y1="4" x2="{left}" y2="{height - 4}" stroke="#333"/>']
    for i, (label, v) in enumerate(values):
        y = 6 + i * row
        w = 0.0 if v != v else v / m * span
        body.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(label)}</text>')
        body.append(f'<rect x="{left}" y="{y + 2}" width="{max(w, 0.5):.1f}" height="{row - 6}" fill="#c0392b"/>')
        body.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}">{100 * v:.2f}%</text>')
    return _svg(width, height, body, title)
