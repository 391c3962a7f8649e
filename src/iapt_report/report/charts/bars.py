"""Bar charts: values by category, a rate against England's, shares stacked in one bar."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .style import (
    _NICE_STEPS,
    _TEXT_BOX,
    HIGHLIGHT_COLOUR,
    MAIN_COLOUR,
    NOT_SHOWN,
    PALETTE,
    RC,
    REFERENCE_COLOUR,
    ChartError,
    _figure,
    _finish,
    _legend_below,
    _need,
    _thousands,
    _title,
    label_text,
    text_colour_on,
)


def bar_chart(
    df: pd.DataFrame,
    category: str,
    value: str,
    *,
    title: str,
    value_label: str,
    highlight: str | list[str] | None = None,
    horizontal: bool = True,
    labels: str | None = None,
    missing_label: str = NOT_SHOWN,
) -> Figure:
    """One bar per row of ``df`` (in its order, first at the top), length ``df[value]``.

    ``highlight`` names the category (or categories) to pick out: a different colour and a
    bold label. ``labels`` names a column of text to print at the end of each bar (the
    published figure, e.g. "52%"). A NaN value (suppressed) draws no bar and says
    ``missing_label`` ("not shown").
    """
    _need(df, category, value, labels)
    categories = ["" if pd.isna(c) else str(c) for c in df[category]]
    values = pd.to_numeric(df[value], errors="coerce").to_numpy(dtype=float)
    if (values < 0).any():
        raise ChartError(f"bar charts start at zero; {value} has negative values")
    picked = {highlight} if isinstance(highlight, str) else set(highlight or [])
    unknown = picked - set(categories)
    if unknown:
        raise ChartError(f"highlight {sorted(unknown)} is not a {category} in the data")
    is_picked = [c in picked for c in categories]
    colours = [HIGHLIGHT_COLOUR if p else MAIN_COLOUR for p in is_picked]
    n = len(categories)
    if horizontal:
        names = [label_text(c) for c in categories]
        lines = sum(max(1, name.count("\n") + 1) for name in names)
        height = max(2.4, 0.3 * lines + 0.25 * n + 0.9)
    else:
        names = [label_text(c, width=12, max_lines=3) for c in categories]
        height = 4.2
    fig = _figure(height)
    with matplotlib.rc_context(RC):
        ax = fig.subplots()
        positions = np.arange(n)
        drawn = np.nan_to_num(values, nan=0.0)
        if horizontal:
            ax.barh(positions, drawn, color=colours, height=0.7)
            ax.set_yticks(positions, names)
            ax.invert_yaxis()
            ax.set_xlabel(value_label)
            ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=_NICE_STEPS))
            ax.grid(axis="y", visible=False)
            tick_labels = ax.get_yticklabels()
        else:
            ax.bar(positions, drawn, color=colours, width=0.7)
            ax.set_xticks(positions, names)
            ax.set_ylabel(value_label)
            ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
            ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=_NICE_STEPS))
            ax.grid(axis="x", visible=False)
            tick_labels = ax.get_xticklabels()
        for tick, bold in zip(tick_labels, is_picked):
            if bold:
                tick.set_fontweight("bold")
        texts = [label_text(t, width=20, max_lines=1) for t in df[labels]] if labels else [None] * n
        top = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
        top = top if top > 0 else 1.0
        for i, (v, text) in enumerate(zip(values, texts)):
            note = missing_label if np.isnan(v) else text
            if note is None:
                continue
            offset = 0.01 * top
            kwargs = {"color": "#222222", "zorder": 5, "bbox": _TEXT_BOX,
                      "fontstyle": "italic" if np.isnan(v) else "normal"}
            if horizontal:
                ax.text((0 if np.isnan(v) else v) + offset, i, note, va="center", ha="left", **kwargs)
            else:
                ax.text(i, (0 if np.isnan(v) else v) + offset, note, va="bottom", ha="center", **kwargs)
        room = 1.25 if labels or np.isnan(values).any() else 1.05
        if horizontal:
            ax.set_xlim(0, top * room)
        else:
            ax.set_ylim(0, top * (1.12 if labels else 1.05))
        _title(fig, title)
    return _finish(fig)


def rate_comparison_chart(
    df: pd.DataFrame,
    group: str,
    rate: str,
    reference_rate: float | str,
    *,
    title: str,
    rate_label: str = "Rate per 100,000 population",
    reference_label: str = "Overall rate",
    highlight: str | list[str] | None = None,
    labels: str | None = None,
    missing_label: str = "no Census population",
) -> Figure:
    """Horizontal bars of ``df[rate]`` per ``df[group]`` (e.g. referrals per 100,000 people
    of each ethnic group) with a dashed line at ``reference_rate`` (a number, or the name of
    a column holding it, such as ``overall_rate_per_100k`` from ``census.rates_per_100k``).

    Rows with no rate (such as "Not stated", which has no Census population) keep their line,
    with ``missing_label`` instead of a bar; say in the alt text and table how many
    referrals they hold. ``labels`` names a column of text for the bar ends.
    """
    _need(df, group, rate)
    if isinstance(reference_rate, str):
        _need(df, reference_rate)
        levels = pd.to_numeric(df[reference_rate], errors="coerce").dropna().unique()
        if len(levels) != 1:
            raise ChartError(f"column {reference_rate!r} must hold one reference rate, found {list(levels)}")
        reference_rate = float(levels[0])
    reference_rate = float(reference_rate)
    fig = bar_chart(df, group, rate, title=title, value_label=rate_label, highlight=highlight, horizontal=True,
                    labels=labels, missing_label=missing_label)
    ax = fig.axes[0]
    with matplotlib.rc_context(RC):
        ax.axvline(reference_rate, color=REFERENCE_COLOUR, linestyle="--", linewidth=1.5, zorder=3)
        values = pd.to_numeric(df[rate], errors="coerce")
        right = max(float(values.max()) if values.notna().any() else 0.0, reference_rate) * (1.15 if labels else 1.08)
        ax.set_xlim(0, right)
        fig.legend(handles=[Line2D([], [], color=REFERENCE_COLOUR, linestyle="--", linewidth=1.5,
                                   label=label_text(f"{reference_label}: {reference_rate:,.1f}", 44))],
                   loc="outside lower left")
    return _finish(fig)


def stacked_share_chart(
    df: pd.DataFrame,
    category: str,
    part: str,
    value: str,
    *,
    title: str,
    value_label: str = "Share (%)",
    part_order: list[str] | None = None,
    normalise: bool = True,
    label_format: str | None = "{:.0f}%",
) -> Figure:
    """One horizontal 100% bar per ``category``, split into ``part`` (e.g. ended referrals by
    reason per period, or waits by band). ``df`` is long: one row per (category, part).

    With ``normalise`` (default) ``value`` holds counts and each bar is scaled to 100; pass
    shares computed from unrounded counts with ``normalise=False`` when the published
    counts are rounded or suppressed. Segments of 6% or more are labelled with
    ``label_format`` (None for no labels); the legend follows ``part_order``.
    """
    _need(df, category, part, value)
    wide = df.pivot_table(index=category, columns=part, values=value, aggfunc="sum", sort=False, dropna=False)
    wide = wide.reindex(list(dict.fromkeys(df[category])))
    parts = part_order or list(dict.fromkeys(df[part]))
    unknown = set(parts) - set(wide.columns)
    if unknown:
        raise ChartError(f"part_order names {sorted(unknown)}, which are not {part} values in the data")
    wide = wide.reindex(columns=parts).astype(float)
    if normalise:
        if wide.isna().any().any():
            missing = wide.index[wide.isna().any(axis=1)].tolist()
            raise ChartError(
                f"{category} {missing} have missing (suppressed?) values; pass shares computed from "
                "unrounded counts with normalise=False"
            )
        totals = wide.sum(axis=1)
        if (totals <= 0).any():
            raise ChartError(f"{category} {wide.index[totals <= 0].tolist()} have no total to share out")
        wide = wide.div(totals, axis=0) * 100.0
    if len(parts) > len(PALETTE):
        raise ChartError(f"at most {len(PALETTE)} parts can be told apart; group the rest as 'Other'")
    n = len(wide)
    names = [label_text(c) for c in wide.index]
    lines = sum(max(1, name.count("\n") + 1) for name in names)
    legend_rows = int(np.ceil(len(parts) / 2))
    fig = _figure(max(2.6, 0.3 * lines + 0.3 * n + 0.6 + 0.3 * legend_rows))
    with matplotlib.rc_context(RC):
        ax = fig.subplots()
        positions = np.arange(n)
        left = np.zeros(n)
        for colour, name in zip(PALETTE, parts):
            widths = np.nan_to_num(wide[name].to_numpy(), nan=0.0)
            ax.barh(positions, widths, left=left, color=colour, height=0.65, label=label_text(name, 26),
                    edgecolor="white", linewidth=0.8)
            if label_format:
                for y, (x0, w) in enumerate(zip(left, widths)):
                    if w >= 6:
                        ax.text(x0 + w / 2, y, label_format.format(w), ha="center", va="center",
                                color=text_colour_on(colour))
            left = left + widths
        ax.set_yticks(positions, names)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel(value_label)
        ax.grid(axis="y", visible=False)
        _legend_below(fig, ax, ncols=2)
        _title(fig, title)
    return _finish(fig)
