"""The funnel plot: each organisation's rate against its denominator, with the 95% and 99.8%
control limits around England's rate (:mod:`iapt_report.report.funnel`), outliers marked and
labelled where the labels fit.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from ..funnel import FunnelComparison
from .saving import publishable_values
from .style import (
    _NICE_STEPS,
    _TEXT_BOX,
    ABOVE_COLOUR,
    BELOW_COLOUR,
    LIMIT_COLOUR,
    MAIN_COLOUR,
    OWN_COLOUR,
    RC,
    REFERENCE_COLOUR,
    ChartError,
    _figure,
    _finish,
    _legend_below,
    _thousands,
    _title,
    label_text,
)

# where a label may go around its point: offsets in points, tried in order, with alignment
_LABEL_SPOTS = [
    (dx * scale, dy * scale, ha, va)
    for scale in (1.0, 2.2, 3.6, 5.5, 8.0)
    for dx, dy, ha, va in ((7, 0, "left", "center"), (-7, 0, "right", "center"), (0, 7, "center", "bottom"),
                           (0, -7, "center", "top"), (6, 6, "left", "bottom"), (-6, 6, "right", "bottom"),
                           (6, -6, "left", "top"), (-6, -6, "right", "top"))
]


def _overlap(box: np.ndarray, boxes: np.ndarray) -> float:
    """Total area of ``box`` (x0, y0, x1, y1) covered by each of ``boxes``."""
    if len(boxes) == 0:
        return 0.0
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    return float((width * height).sum())


def _place_labels(fig: Figure, ax, labels: list[tuple[float, float, str, dict]], points: np.ndarray) -> list:
    """Annotate each (x, y, text, style) next to its point where it covers no other label, no
    point, stays inside the axes and is nearer its own point than any other labelled one; the
    first such spot of :data:`_LABEL_SPOTS` wins, otherwise the one with the least overlap.
    Labels set apart from their point get a leader line. Deterministic: labels are placed in
    order."""
    fig.draw_without_rendering()  # fixes the layout, so display positions hold
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    radius = 5.0 * fig.dpi / 72.0
    centres = ax.transData.transform(points) if len(points) else np.empty((0, 2))
    obstacles = np.column_stack([centres - radius, centres + radius]) if len(centres) else np.empty((0, 4))
    anchors = ax.transData.transform(np.array([(x, y) for x, y, _, _ in labels], dtype=float).reshape(-1, 2))
    placed, annotations = np.empty((0, 4)), []
    for (x, y, text, style), anchor in zip(labels, anchors):
        best = None
        for dx, dy, ha, va in _LABEL_SPOTS:
            # a label set apart from its point gets a leader line to it
            leader = ({"arrowprops": {"arrowstyle": "-", "color": "#444444", "linewidth": 1.0, "shrinkA": 0,
                                      "shrinkB": 5}} if abs(dx) + abs(dy) > 14 else {})
            note = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                               annotation_clip=False, zorder=6, **leader, **style)
            note.update_positions(renderer)
            extent = Text.get_window_extent(note, renderer)  # the text alone, not its leader line
            box = np.array([extent.x0, extent.y0, extent.x1, extent.y1])
            outside = (max(0.0, frame.x0 - box[0]) + max(0.0, box[2] - frame.x1)
                       + max(0.0, frame.y0 - box[1]) + max(0.0, box[3] - frame.y1)) * 1e6
            cost = outside + 10.0 * _overlap(box, placed) + _overlap(box, obstacles)
            # a label nearer another labelled point than its own would be read as that point's
            middle = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
            distances = np.hypot(*(anchors - middle).T)
            if (distances < np.hypot(*(anchor - middle))).any():
                cost += 4.0 * radius ** 2
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, note, box)
            else:
                note.remove()
            if cost == 0:
                break
        best[1].set_in_layout(False)
        placed = np.vstack([placed, best[2]])
        annotations.append(best[1])
    return annotations


def _fit(text: str, fig: Figure, width_px: float, **style) -> str:
    """``text`` on one line, shortened with an ellipsis until it is at most ``width_px`` wide."""
    renderer = fig.canvas.get_renderer()
    probe = fig.text(0, 0, text, **style)
    try:
        while probe.get_window_extent(renderer).width > width_px and len(text) > 4:
            text = text[:-2].rstrip() + "\u2026"
            probe.set_text(text)
        return text
    finally:
        probe.remove()


def funnel_plot(
    comparison: FunnelComparison,
    *,
    title: str,
    own: str | None = None,
    unit: str = "provider",
    x_label: str = "Referrals in the denominator",
    y_label: str = "Recovery rate (%)",
    disclose: bool = True,
) -> Figure:
    """Units' rates against their denominators, with the national rate and smooth 95% and
    99.8% control limits, overdispersion included (:mod:`iapt_report.report.funnel`).

    Units outside the 99.8% limits get a different marker (a triangle up or down) and the
    furthest out (at most ``funnel.MAX_LABELS``) a number, placed where it covers no other
    label or point; a key under the chart names them, and the report's table lists every
    flagged unit. The unit whose code is ``own`` (the report's own organisation) gets a
    black star, its name beside it and a legend entry, when it is among the units shown.
    No counts appear on the chart.

    With ``disclose`` (default) the chart shows only what the published tables show: each
    point sits at the published denominator (nearest 5) and published rate (whole
    percent), and units whose rate is suppressed are left out.
    """
    if not isinstance(comparison, FunnelComparison):
        raise ChartError("funnel_plot draws a funnel.compare(...) result; pass that, not a DataFrame")
    units = comparison.units
    points = units[units["compared"]].copy()
    if disclose:
        points["_x"] = publishable_values(points["denominator"], "count", national=False)
        points["_y"] = points["published_rate"]
    else:
        points["_x"], points["_y"] = points["denominator"], points["rate"]
    points = points.dropna(subset=["_x", "_y"])
    if points.empty:
        raise ChartError(f"no {unit} has enough referrals to show in a funnel plot "
                         f"(denominator of at least {comparison.min_denominator}, published rate)")
    own_rows = points[points["code"] == str(own)] if own else points.iloc[:0]
    numbers = comparison.numbers[comparison.numbers.index.isin(points.index)]
    plural = f"{unit}s" if not unit.endswith("s") else unit

    key_lines = len(numbers) + (1 if len(numbers) else 0)
    kinds = 4 + int(points["above_998"].any()) + int(points["below_998"].any()) + int(len(own_rows) > 0)
    legend_rows = int(np.ceil(kinds / 2))
    key_height = 0.27 * key_lines + (0.1 if key_lines else 0.0)
    height = 3.7 + 0.55 + 0.3 * legend_rows + key_height
    fig = _figure(height)
    with matplotlib.rc_context(RC):
        # the chart and its legend above, the key to the numbers below
        chart, key = (fig.subfigures(2, 1, height_ratios=[height - key_height, key_height]) if key_lines
                      else (fig, None))
        ax = chart.subplots()
        # denominators run from tens to tens of thousands: a log scale keeps the small units apart
        low_n = max(float(points["_x"].min()) / 1.4, float(comparison.min_denominator) * 0.8)
        top_n = float(points["_x"].max()) * 1.4
        grid = np.geomspace(low_n, top_n, 400)
        limits = comparison.limits(grid)
        centre = limits["centre"]
        ax.axhline(centre, color=REFERENCE_COLOUR, linewidth=1.6, label=f"National rate ({centre:.1f}%)", zorder=2)
        ax.plot(grid, limits["upper_95"], color=LIMIT_COLOUR, linestyle="--", linewidth=1.4, label="95% limits")
        ax.plot(grid, limits["lower_95"], color=LIMIT_COLOUR, linestyle="--", linewidth=1.4)
        ax.plot(grid, limits["upper_998"], color=LIMIT_COLOUR, linestyle=":", linewidth=2.0, label="99.8% limits")
        ax.plot(grid, limits["lower_998"], color=LIMIT_COLOUR, linestyle=":", linewidth=2.0)

        above, below = points["above_998"], points["below_998"]
        inside = ~(above | below)
        for mask, colour, marker, size, name in (
                (inside, MAIN_COLOUR, "o", 36, "Within the 99.8% limits"),
                (above, ABOVE_COLOUR, "^", 90, "Above the 99.8% limit"),
                (below, BELOW_COLOUR, "v", 90, "Below the 99.8% limit")):
            if mask.any():
                ax.scatter(points.loc[mask, "_x"], points.loc[mask, "_y"], s=size, color=colour, marker=marker,
                           edgecolor="white", linewidth=0.6, label=name, zorder=3)
        if len(own_rows):
            ax.scatter(own_rows["_x"], own_rows["_y"], s=300, color=OWN_COLOUR, marker="*", edgecolor="white",
                       linewidth=0.8, label=f"This report's {unit}", zorder=5)

        at_smallest = comparison.limits(float(points["_x"].min()))
        ys = np.concatenate([points["_y"].to_numpy(), [centre]])
        ax.set_ylim(max(0.0, min(float(ys.min()), at_smallest["lower_998"]) - 4),
                    min(100.0, max(float(ys.max()), at_smallest["upper_998"]) + 4))
        ax.set_xscale("log")
        ax.set_xlim(low_n, top_n)
        ax.set_xlabel(f"{x_label} (log scale)")
        ax.set_ylabel(y_label)
        ax.xaxis.set_major_locator(FixedLocator(_log_ticks(low_n, top_n)))
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=_NICE_STEPS))
        _legend_below(chart, ax, ncols=2)
        _title(fig, title)

        labels = [(points.at[i, "_x"], points.at[i, "_y"], str(n), {"fontweight": "bold", "bbox": _TEXT_BOX})
                  for i, n in numbers.items()]
        for i in own_rows.index[:1]:
            labels.append((points.at[i, "_x"], points.at[i, "_y"], label_text(points.at[i, "label"], 28, 1),
                           {"fontweight": "bold", "bbox": _TEXT_BOX}))
        _place_labels(fig, ax, labels, points[["_x", "_y"]].to_numpy(dtype=float))

        if key is not None:
            line = 1.0 / (key_lines + 0.4)
            width_px = fig.bbox.width * 0.96
            key.text(0.01, 1.0 - 0.3 * line, f"Numbered {plural} (outside the 99.8% limits):",
                     ha="left", va="top", fontweight="bold")
            for row, (i, n) in enumerate(numbers.items(), start=1):
                side = "above" if points.at[i, "above_998"] else "below"
                name = label_text(points.at[i, "label"], 200, 1)
                text = _fit(f"{n}  {name} ({side})", fig, width_px)
                if not text.endswith(f"({side})"):  # shortened: keep the side readable
                    text = _fit(f"{n}  {name}", fig, width_px - _text_width(fig, f" ({side})")) + f" ({side})"
                key.text(0.01, 1.0 - (row + 0.3) * line, text, ha="left", va="top")
    return _finish(fig)


def _log_ticks(low: float, high: float) -> list[float]:
    """Round numbers for a log axis from ``low`` to ``high``: 1, 3, 10, 30 ... (1, 10, 100 ...
    when that would give more than six)."""
    decades = range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
    for steps in ((1, 3), (1,)):
        ticks = [m * 10.0 ** d for d in decades for m in steps if low <= m * 10.0 ** d <= high]
        if len(ticks) <= 6:
            return ticks
    return ticks


def _text_width(fig: Figure, text: str) -> float:
    probe = fig.text(0, 0, text)
    try:
        return probe.get_window_extent(fig.canvas.get_renderer()).width
    finally:
        probe.remove()
