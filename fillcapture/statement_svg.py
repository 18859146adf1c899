"""A cumulative P&L line chart as inline SVG, drawn by hand for the statement.

No charting library: the chart is a polyline, a zero line and a few labels,
which a few lines of SVG say exactly. It needs no dependency, renders
offline under the statement's strict Content-Security-Policy (no script, no
external asset), and prints as vectors. Coordinates are floats (a drawing);
every label is the exact decimal text it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from html import escape

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 78, 12, 12, 26
LABEL_CHAR = 7
"""Width in px of a character of an 11 px axis label, at most (digits, signs)."""
_LINE = "#0a58ca"


@dataclass(frozen=True, slots=True)
class Series:
    """``points``: (trade date, cumulative amount) in date order."""

    label: str
    points: Sequence[tuple[date, Decimal]]


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def chart(series: Series, first: date, last: date, unit: str,
          text: Callable[[Decimal], str]) -> str:
    """The SVG of ``series`` over the dates ``first`` to ``last`` (the x axis
    spaced by calendar day), ``text`` writing each amount label in ``unit``."""
    values = [value for _, value in series.points]
    low, high = min([Decimal(0), *values]), max([Decimal(0), *values])
    span = float(high - low) or 1.0
    names = {value: f"{text(value)} {unit}" for value in (high, Decimal(0), low)}
    # The plot starts right of its widest amount label, so none is cut off.
    left = max(LEFT, 12 + LABEL_CHAR * max(len(name) for name in names.values()))
    width, height = WIDTH - left - RIGHT, HEIGHT - TOP - BOTTOM
    days = max((last - first).days, 1)

    def x(day: date) -> float:
        return left + (day - first).days / days * width

    def y(value: Decimal) -> float:
        return TOP + float(high - value) / span * height

    zero = y(Decimal(0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(series.label)}: cumulative net">',
        f'<rect x="{left}" y="{TOP}" width="{width}" height="{height}" fill="#fbfcfd" '
        'stroke="#d0d7de"/>',
        f'<line data-zero x1="{left}" x2="{left + width}" y1="{_fmt(zero)}" y2="{_fmt(zero)}" '
        'stroke="#57606a" stroke-dasharray="4 3"/>',
    ]
    for value, name in sorted(names.items()):
        parts.append(f'<text x="{left - 6}" y="{_fmt(y(value) + 4)}" text-anchor="end" '
                     f'font-size="11" fill="#1b1f24">{escape(name)}</text>')
    ticks = sorted({first, last, *(day for day, _ in series.points)})
    for day in ticks:
        parts.append(f'<text x="{_fmt(x(day))}" y="{HEIGHT - 8}" text-anchor="middle" '
                     f'font-size="10" fill="#57606a">{day.day}</text>')
    coordinates = " ".join(f"{_fmt(x(day))},{_fmt(y(value))}" for day, value in series.points)
    if coordinates:
        parts.append(f'<polyline points="{coordinates}" fill="none" stroke="{_LINE}" '
                     'stroke-width="2" stroke-linejoin="round"/>')
    for day, value in series.points:
        parts.append(f'<circle cx="{_fmt(x(day))}" cy="{_fmt(y(value))}" r="2.5" '
                     f'fill="{_LINE}"><title>{day.isoformat()}: {escape(text(value))} '
                     f"{escape(unit)}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)
