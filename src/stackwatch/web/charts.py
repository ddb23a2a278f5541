"""Line charts drawn as SVG on the server: no script library, readable without script.

A chart is a :class:`ChartLine` per series over ``[start, end]``; the y axis starts at
zero (rates and counts read wrongly otherwise) and gets "nice" ticks; the x axis shows
clock times, or dates over two days. Each line carries a ``<title>`` with its label and
last value, and the legend under the chart repeats them with the maximum.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from stackwatch.web.format import human_bytes, human_number, human_percent, human_seconds

#: the line colours, chosen to stay apart for the colour-blind (Okabe-Ito)
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442",
           "#000000")
_FORMAT: dict[str, Callable[[float | None], str]] = {
    "bytes": human_bytes, "seconds": human_seconds, "percent": human_percent,
    "": human_number}
W, H, LEFT, BOTTOM, TOP = 640, 180, 52, 22, 8


@dataclass(frozen=True)
class ChartLine:
    """One series of a chart: its label and ``(t, v)`` points in time order."""

    label: str
    points: Sequence[tuple[float, float | None]]


def lines(view: Any, label: str = "") -> list[ChartLine]:
    """The chart lines of a :class:`~stackwatch.query.samples.RangeView`, each labelled by
    its ``label`` label (or all its labels)."""
    out = []
    for series in view.series:
        name = (series.labels.get(label, "") if label else
                ", ".join(f"{k}={v}" for k, v in sorted(series.labels.items())))
        out.append(ChartLine(name or view.name, [(p.t, p.v) for p in series.points]))
    return out


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and round steps up to at least ``top``: ``nice_ticks(87)`` -> 0, 25, 50, 75, 100."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _time_ticks(start: float, end: float) -> list[tuple[float, str]]:
    span = end - start
    steps = (60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800)
    step = next((s for s in steps if span / s <= 6), steps[-1])
    fmt = "%H:%M" if span <= 2 * 86400 else "%m-%d"
    first = math.ceil(start / step) * step
    return [(t, time.strftime(fmt, time.gmtime(t)))
            for t in range(int(first), int(end) + 1, step)]


def line_chart(lines: Sequence[ChartLine], start: float, end: float, unit: str = "",
               title: str = "", empty: str = "no data in this range") -> Markup:
    """An SVG line chart with axes and a legend; ``unit``: bytes, seconds, percent or ''."""
    fmt = _FORMAT.get(unit, human_number)
    values = [v for line in lines for _, v in line.points if v is not None]
    label = escape(title)
    if not values:
        return Markup(f'<figure class="chart chart-empty" aria-label="{label}">'
                      f'<figcaption>{label}</figcaption><p class="muted">{escape(empty)}'
                      "</p></figure>")
    ticks = nice_ticks(max(max(values), 0.0))
    top = ticks[-1] or 1.0
    span = max(end - start, 1.0)
    plot_w, plot_h = W - LEFT - 8, H - BOTTOM - TOP

    def x(t: float) -> float:
        return LEFT + (t - start) / span * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / top * plot_h

    parts = [f'<svg viewBox="0 0 {W} {H}" role="img" aria-label="{label}" '
             'preserveAspectRatio="none" class="chart-svg">']
    for tick in ticks:
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{W - 8}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}"/><text class="tick" x="{LEFT - 4}" '
                     f'y="{y(tick) + 4:.1f}" text-anchor="end">{escape(fmt(tick))}</text>')
    for t, text in _time_ticks(start, end):
        parts.append(f'<text class="tick" x="{x(t):.1f}" y="{H - 6}" '
                     f'text-anchor="middle">{text}</text>')
    legend = []
    for index, line in enumerate(lines):
        colour = PALETTE[index % len(PALETTE)]
        known = [(t, v) for t, v in line.points if v is not None]
        if not known:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}"
                        for i, (t, v) in enumerate(known))
        last, peak = known[-1][1], max(v for _, v in known)
        name = escape(line.label)
        parts.append(f'<path d="{path}" stroke="{colour}" class="line">'
                     f"<title>{name}: {escape(fmt(last))}</title></path>")
        legend.append(f'<li><span class="swatch" style="background:{colour}"></span>{name}'
                      f' <b>{escape(fmt(last))}</b> <span class="muted">max '
                      f"{escape(fmt(peak))}</span></li>")
    parts.append("</svg>")
    return Markup(f'<figure class="chart" aria-label="{label}"><figcaption>{label}'
                  f'</figcaption>{"".join(parts)}<ul class="legend">{"".join(legend)}</ul>'
                  "</figure>")
