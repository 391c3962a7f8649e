"""Line charts: trends over periods, one line (with its own marker) per series."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .style import (
    _NICE_STEPS,
    LINE_STYLES,
    MARKERS,
    PALETTE,
    RC,
    ChartError,
    _figure,
    _finish,
    _legend_below,
    _need,
    _thousands,
    _title,
    label_text,
)


def line_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    *,
    title: str,
    y_label: str,
    x_label: str | None = None,
    y_from_zero: bool = True,
) -> Figure:
    """A trend: ``df[y]`` against ``df[x]``, one line per ``hue`` value (each with its own
    colour and marker, named in the legend). Text ``x`` values (period labels such as
    "2020-09") are spaced evenly in the order they first appear; dates and numbers are
    placed by value. A NaN (suppressed) value leaves a gap in its line. The y axis starts
    at zero unless ``y_from_zero=False``.
    """
    _need(df, x, y, hue)
    data = df.copy()
    categorical = not (pd.api.types.is_numeric_dtype(data[x]) or pd.api.types.is_datetime64_any_dtype(data[x]))
    if categorical:
        order = list(dict.fromkeys(data[x].astype(str)))
        data["_x"] = data[x].astype(str).map({label: i for i, label in enumerate(order)})
    else:
        data["_x"] = data[x]
    groups = list(dict.fromkeys(data[hue])) if hue else [None]
    if len(groups) > len(PALETTE):
        raise ChartError(f"at most {len(PALETTE)} lines can be told apart; {hue} has {len(groups)}")
    fig = _figure(4.2 + (0.3 * int(np.ceil(len(groups) / 2)) if hue else 0.0))
    with matplotlib.rc_context(RC):
        ax = fig.subplots()
        for colour, marker, style, group in zip(PALETTE, MARKERS, LINE_STYLES, groups):
            rows = data if group is None else data[data[hue] == group]
            rows = rows.sort_values("_x", kind="mergesort")
            ax.plot(rows["_x"], pd.to_numeric(rows[y], errors="coerce"), color=colour, marker=marker,
                    linestyle=style, markersize=6, linewidth=2.2,
                    label=None if group is None else label_text(group, 26))
        if categorical:
            # at most 7 tick labels (every other month of 13, say), so they stay large and apart
            step = max(1, int(np.ceil(len(order) / 7)))
            ticks = list(range(len(order) - 1, -1, -step))[::-1]  # always label the latest period
            names = [label_text(order[i], 12, 1) for i in ticks]
            slanted = len(ticks) > 4 or max(map(len, names), default=0) > 8
            ax.set_xticks(ticks, names, rotation=45 if slanted else 0, ha="right" if slanted else "center",
                          rotation_mode="anchor" if slanted else "default")
            ax.set_xlim(-0.3, len(order) - 0.7)
        ax.set_ylabel(y_label)
        if x_label:
            ax.set_xlabel(x_label)
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=_NICE_STEPS))
        if y_from_zero:
            ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.05)
        ax.grid(axis="x", visible=False)
        if hue:
            _legend_below(fig, ax, ncols=2)
        _title(fig, title)
    return _finish(fig)
