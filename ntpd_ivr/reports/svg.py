"""Charts drawn on the server as SVG text: a bar chart and a line chart over labelled
groups. Small on purpose (no charting library to vendor, audit and serve): a report has
a few dozen groups at most, and the page must work without scripts and offline.

Every bar is a `<rect class="chart-bar">` and every point a `<circle class="chart-point">`,
each with `data-group` and `data-value`, so tests and screen readers find the data; a group
without a value (None: nothing offered) gets no bar or point. Text is XML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH = 720
HEIGHT = 280
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 64


def _nice_max(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten at or above value (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    return f"{value:g}"


def _frame(title: str, top: float, unit: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
             f'aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<text class="chart-title" x="{LEFT}" y="18">{escape(title)}</text>']
    # Round ticks: an axis of 1, 5, 10, 50, ... in fifths; of 2, 20, ... in quarters.
    steps = 5 if f"{top:g}"[0] in "15" else 4
    for i in range(steps + 1):
        value = top * i / steps
        y = TOP + plot_h - plot_h * i / steps
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{_number(value)}{escape(unit)}</text>')
    return parts


def _slots(count: int) -> tuple[float, list[float]]:
    """Width of one group's slot, and the x of each slot's middle."""
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / max(count, 1)
    return slot, [LEFT + slot * (i + 0.5) for i in range(count)]


def _labels(labels: Sequence[str], centers: Sequence[float]) -> list[str]:
    y = HEIGHT - BOTTOM + 14
    return [f'<text class="label" x="{x:.1f}" y="{y}" text-anchor="end" '
            f'transform="rotate(-35 {x:.1f} {y})">{escape(label)}</text>'
            for label, x in zip(labels, centers, strict=True)]


def _mark(tag: str, kind: str, label: str, value: float, unit: str, geometry: str) -> str:
    """One bar or point, with its data and a tooltip."""
    return (f'<{tag} class="{kind}" data-group="{escape(label)}" data-value="{_number(value)}" '
            f'{geometry} fill="#1f6f8b"><title>{escape(label)}: {_number(value)}'
            f'{escape(unit)}</title></{tag}>')


def _empty(parts: list[str]) -> str:
    parts.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" '
                 'text-anchor="middle">-</text></svg>')
    return "\n".join(parts)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None],
              unit: str = "") -> str:
    if len(labels) != len(values):
        raise ValueError("one value per label")
    top = _nice_max(max((v for v in values if v is not None), default=0.0))
    parts = _frame(title, top, unit)
    if not labels:
        return _empty(parts)
    plot_h = HEIGHT - TOP - BOTTOM
    slot, centers = _slots(len(labels))
    bar_w = max(2.0, slot * 0.6)
    for label, value, x in zip(labels, values, centers, strict=True):
        if value is None:
            continue
        h = plot_h * max(0.0, value) / top
        parts.append(_mark("rect", "chart-bar", label, value, unit,
                           f'x="{x - bar_w / 2:.1f}" y="{TOP + plot_h - h:.1f}" '
                           f'width="{bar_w:.1f}" height="{h:.1f}"'))
    parts += _labels(labels, centers)
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(title: str, labels: Sequence[str], values: Sequence[float | None],
               unit: str = "", top: float | None = None,
               target: float | None = None) -> str:
    """Points joined by a line; `top` fixes the axis (100 for a percentage), `target`
    draws a dashed line (a standard's threshold, e.g. 90 %)."""
    if len(labels) != len(values):
        raise ValueError("one value per label")
    axis = top if top is not None else _nice_max(
        max((v for v in values if v is not None), default=0.0))
    parts = _frame(title, axis, unit)
    if not labels:
        return _empty(parts)
    plot_h = HEIGHT - TOP - BOTTOM
    _, centers = _slots(len(labels))

    def y_of(value: float) -> float:
        return TOP + plot_h - plot_h * min(max(value, 0.0), axis) / axis

    if target is not None:
        y = y_of(target)
        parts.append(f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="#c0392b" stroke-dasharray="6 4"/>')
    points = [(x, y_of(v), label, v) for label, v, x in zip(labels, values, centers,
                                                             strict=True) if v is not None]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(f'<polyline class="line" points="{path}" fill="none" '
                     'stroke="#1f6f8b" stroke-width="2"/>')
    for x, y, label, value in points:
        parts.append(_mark("circle", "chart-point", label, value, unit,
                           f'cx="{x:.1f}" cy="{y:.1f}" r="4"'))
    parts += _labels(labels, centers)
    parts.append("</svg>")
    return "\n".join(parts)
