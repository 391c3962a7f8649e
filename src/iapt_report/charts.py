"""Charts for the reports: accessible, honest about disclosure control, byte-for-byte reproducible.

Each chart function takes a tidy DataFrame and returns a matplotlib ``Figure`` (8 inches wide);
the caller saves it with :func:`save_chart`, which writes the PNG and the chart's data as CSV
and returns a :class:`ChartRef` whose ``markdown()`` shows the chart with its alt text and a
link to the data. The title passed in should state the finding ("Referrals rose from ... to
..."), not just the topic.

Style: the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies),
and never colour alone: highlighted bars also get a bold label, funnel-plot outliers a
different marker. Text is at least 10 pt at 8 inches wide. No 3-D, no shading, light grid.

Disclosure control: a chart shows no more than the published tables. Below England level,
pass values that have been through the rule (:func:`publishable_values` turns unrounded
values into the published numbers, with suppressed cells as NaN, which charts leave out
and label "not shown"). :func:`funnel_plot` is the exception: it takes unrounded counts,
because outliers must be judged on them, and applies the rule itself to what it draws.

Reproducibility: figures are drawn without pyplot (no global state), saved with the Agg
renderer, a fixed ``svg.hashsalt`` and no software or date metadata, so the same data give
the same bytes.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # never switch a backend someone is already using
    matplotlib.use("Agg")

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from .disclosure import SUPPRESSED, publish_cell
from .exports import spreadsheet_safe

# --- style ----------------------------------------------------------------------------------

OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
# order for series: yellow last (weak contrast on white), black for reference lines only
PALETTE = [OKABE_ITO[c] for c in ("blue", "orange", "sky_blue", "green", "vermillion", "purple", "yellow")]
MAIN_COLOUR = OKABE_ITO["blue"]
HIGHLIGHT_COLOUR = OKABE_ITO["vermillion"]
REFERENCE_COLOUR = "#333333"
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]

WIDTH_INCHES = 8.0
DPI = 150
FONT_SIZE = 11
TITLE_WIDTH_CHARS = 66
SVG_HASH_SALT = "iapt-report"

#: matplotlib settings for every chart (seaborn's white grid, larger text, no top/right spines)
RC = {
    **sns.axes_style("whitegrid"),
    "font.family": "DejaVu Sans",
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 2,
    "axes.titleweight": "bold",
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "legend.fontsize": FONT_SIZE - 1,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#888888",
    "grid.color": "#e3e3e3",
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "svg.hashsalt": SVG_HASH_SALT,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
}

Z_95 = 1.959964
Z_998 = 3.090232
MIN_DENOMINATOR = 5
NOT_SHOWN = "not shown"

# metadata that would differ between runs (software version, creation date)
_NO_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}
# a white box behind value labels, so reference lines never run through the text
_TEXT_BOX = {"facecolor": "white", "edgecolor": "none", "pad": 1.0, "alpha": 0.85}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")


class ChartError(ValueError):
    """A chart cannot be drawn or saved from what was passed; the message says what to change."""


def _figure(height: float) -> Figure:
    with matplotlib.rc_context(RC):
        return Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")


def _title(fig: Figure, title: str) -> None:
    """The title at the top left of the figure (not of the axes, which long labels push right)."""
    if not str(title).strip():
        raise ChartError("a chart needs a title that states its finding")
    fig.suptitle("\n".join(textwrap.wrap(str(title), TITLE_WIDTH_CHARS)), x=0.01, ha="left",
                 fontsize=FONT_SIZE + 2, fontweight="bold")


def _legend_below(fig: Figure, ax, ncols: int = 3) -> None:
    """The legend under the plot, left-aligned, so it never covers data or the title."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower left", ncols=max(1, min(ncols, len(handles))))


def _finish(fig: Figure) -> Figure:
    """Lay the figure out now, under the chart style (ticks are created lazily)."""
    fig.draw_without_rendering()
    return fig


def _need(df: pd.DataFrame, *columns: str | None) -> None:
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        raise ChartError(f"the chart data have no column(s) {missing}; columns are {list(df.columns)}")


def _thousands(value: float, _pos=None) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:,.1f}"


# --- disclosure -----------------------------------------------------------------------------

def publishable_values(
    values: pd.Series,
    statistic: str,
    *,
    national: bool,
    base_counts: pd.Series | None = None,
) -> pd.Series:
    """The values a chart may show: each published by the disclosure rule
    (:func:`iapt_report.disclosure.publish_cell`) and read back as a number, NaN where the
    cell is suppressed (``*``) or missing.

    Below England, counts come back rounded to the nearest 5 (under 5: NaN) and percentages
    to whole numbers, NaN when ``base_counts`` (the numerators) is under 5 or not given.
    Nationally, counts are unchanged and rates are rounded to one decimal place.
    """
    values = pd.Series(values)
    if base_counts is None:
        bases = [None] * len(values)
    else:
        bases = list(base_counts)
        if len(bases) != len(values):
            raise ChartError(f"publishable_values: {len(bases)} base counts for {len(values)} values")
    out = []
    for value, base in zip(values, bases):
        base = None if base is None or pd.isna(base) else base
        text = publish_cell(None if pd.isna(value) else value, statistic, national=national, base_count=base)
        out.append(float("nan") if text in (SUPPRESSED, "") else float(text))
    return pd.Series(out, index=values.index, name=values.name, dtype=float)


# --- saving ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChartRef:
    """A saved chart: where its files are and how the report shows it."""

    name: str
    title: str
    alt_text: str
    png_path: Path
    csv_path: Path
    other_paths: dict = field(default_factory=dict)

    def markdown(self) -> str:
        """The chart as a Quarto/pandoc figure with alt text, then a link to its data.

        Paths are relative to the report source (``figures/<name>.png``).
        """
        title = _escape_brackets(_one_line(self.title))
        alt = _one_line(self.alt_text).replace("\\", "\\\\").replace('"', '\\"')
        return (f'![{title}](figures/{self.name}.png){{fig-alt="{alt}"}}\n\n'
                f"[Download the data for this chart (CSV)](figures/{self.name}.csv)")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _escape_brackets(text: str) -> str:
    return re.sub(r"([\[\]\\])", r"\\\1", text)


def _write_atomically(path: Path, write) -> None:
    """Write through a temporary file in the same folder, so no half-written file is left."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_chart(
    fig: Figure,
    name: str,
    *,
    title: str,
    alt_text: str,
    data: pd.DataFrame,
    out_dir: str | Path,
    float_format: str = "%.1f",
    formats: tuple[str, ...] = (),
) -> ChartRef:
    """Write ``out_dir/figures/<name>.png`` (150 dpi) and ``<name>.csv`` (the chart's data:
    UTF-8, LF line ends, floats as ``float_format``, no index), plus any of ``formats``
    ("svg", "pdf"), and return a :class:`ChartRef`.

    ``data`` is what a reader may download: below England level it must hold published
    values only (the text of the tables, or :func:`publishable_values`). The same figure and
    data always give the same bytes.
    """
    if not _NAME.fullmatch(str(name)):
        raise ChartError(f"chart name {name!r} must be letters, digits, '_' or '-' (it names files)")
    if not _one_line(alt_text):
        raise ChartError(f"chart {name!r} needs alt text describing what it shows")
    if not _one_line(title):
        raise ChartError(f"chart {name!r} needs a title that states its finding")
    if not isinstance(data, pd.DataFrame):
        raise ChartError(f"chart {name!r}: data must be a DataFrame of what the chart shows")
    unknown = set(formats) - {"svg", "pdf"}
    if unknown:
        raise ChartError(f"chart {name!r}: formats may be 'svg' and 'pdf', not {sorted(unknown)}")

    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    png_path, csv_path = folder / f"{name}.png", folder / f"{name}.csv"
    others = {}
    with matplotlib.rc_context(RC):
        _write_atomically(png_path, lambda p: fig.savefig(p, format="png", dpi=DPI, metadata=_NO_METADATA["png"]))
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            _write_atomically(path, lambda p, fmt=fmt: fig.savefig(p, format=fmt, metadata=_NO_METADATA[fmt]))
            others[fmt] = path
    _write_atomically(csv_path, lambda p: spreadsheet_safe(data).to_csv(p, index=False, float_format=float_format,
                                                                        lineterminator="\n", encoding="utf-8"))
    return ChartRef(str(name), _one_line(title), _one_line(alt_text), png_path, csv_path, others)


# --- bar charts -----------------------------------------------------------------------------

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
    categories = [str(c) for c in df[category]]
    values = pd.to_numeric(df[value], errors="coerce").to_numpy(dtype=float)
    if (values < 0).any():
        raise ChartError(f"bar charts start at zero; {value} has negative values")
    picked = {highlight} if isinstance(highlight, str) else set(highlight or [])
    unknown = picked - set(categories)
    if unknown:
        raise ChartError(f"highlight {sorted(unknown)} is not a {category} in the data")
    colours = [HIGHLIGHT_COLOUR if c in picked else MAIN_COLOUR for c in categories]
    n = len(categories)
    height = max(3.0, 0.45 * n + 1.8) if horizontal else 5.0
    fig = _figure(height)
    with matplotlib.rc_context(RC):
        ax = fig.subplots()
        positions = np.arange(n)
        drawn = np.nan_to_num(values, nan=0.0)
        if horizontal:
            ax.barh(positions, drawn, color=colours, height=0.7)
            ax.set_yticks(positions, categories)
            ax.invert_yaxis()
            ax.set_xlabel(value_label)
            ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
            ax.grid(axis="y", visible=False)
            tick_labels = ax.get_yticklabels()
        else:
            ax.bar(positions, drawn, color=colours, width=0.7)
            ax.set_xticks(positions, categories, rotation=30 if max(map(len, categories), default=0) > 10 else 0,
                          ha="right" if max(map(len, categories), default=0) > 10 else "center")
            ax.set_ylabel(value_label)
            ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
            ax.grid(axis="x", visible=False)
            tick_labels = ax.get_xticklabels()
        for tick in tick_labels:
            if tick.get_text() in picked:
                tick.set_fontweight("bold")
        texts = list(df[labels].astype(str)) if labels else [None] * n
        top = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
        top = top if top > 0 else 1.0
        for i, (v, text) in enumerate(zip(values, texts)):
            note = missing_label if np.isnan(v) else text
            if note is None:
                continue
            offset = 0.01 * top
            kwargs = {"fontsize": FONT_SIZE - 1, "color": "#333333", "zorder": 5, "bbox": _TEXT_BOX,
                      "fontstyle": "italic" if np.isnan(v) else "normal"}
            if horizontal:
                ax.text((0 if np.isnan(v) else v) + offset, i, note, va="center", ha="left", **kwargs)
            else:
                ax.text(i, (0 if np.isnan(v) else v) + offset, note, va="bottom", ha="center", **kwargs)
        if horizontal:
            ax.set_xlim(0, top * (1.15 if labels else 1.05))
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
                                   label=f"{reference_label}: {reference_rate:,.1f}")],
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
    fig = _figure(max(2.8, 0.55 * n + 2.4))
    with matplotlib.rc_context(RC):
        ax = fig.subplots()
        positions = np.arange(n)
        left = np.zeros(n)
        for colour, name in zip(PALETTE, parts):
            widths = np.nan_to_num(wide[name].to_numpy(), nan=0.0)
            ax.barh(positions, widths, left=left, color=colour, height=0.65, label=str(name),
                    edgecolor="white", linewidth=0.8)
            if label_format:
                dark = colour in (OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["green"])
                for y, (x0, w) in enumerate(zip(left, widths)):
                    if w >= 6:
                        ax.text(x0 + w / 2, y, label_format.format(w), ha="center", va="center",
                                fontsize=FONT_SIZE - 1, color="white" if dark else "black")
            left = left + widths
        ax.set_yticks(positions, [str(c) for c in wide.index])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel(value_label)
        ax.grid(axis="y", visible=False)
        _legend_below(fig, ax, ncols=3)
        _title(fig, title)
    return _finish(fig)


# --- trends ---------------------------------------------------------------------------------

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
    fig = _figure(4.8)
    with matplotlib.rc_context(RC):
        ax = fig.subplots()
        for colour, marker, group in zip(PALETTE, MARKERS, groups):
            rows = data if group is None else data[data[hue] == group]
            rows = rows.sort_values("_x", kind="mergesort")
            ax.plot(rows["_x"], pd.to_numeric(rows[y], errors="coerce"), color=colour, marker=marker,
                    markersize=5, linewidth=2, label=None if group is None else str(group))
        if categorical:
            step = max(1, int(np.ceil(len(order) / 13)))
            ticks = list(range(0, len(order), step))
            ax.set_xticks(ticks, [order[i] for i in ticks],
                          rotation=45 if len(ticks) > 7 or max(map(len, order), default=0) > 8 else 0,
                          ha="right" if len(ticks) > 7 else "center")
            ax.set_xlim(-0.3, len(order) - 0.7)
        ax.set_ylabel(y_label)
        if x_label:
            ax.set_xlabel(x_label)
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
        if y_from_zero:
            ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.05)
        ax.grid(axis="x", visible=False)
        if hue:
            _legend_below(fig, ax, ncols=3)
        _title(fig, title)
    return _finish(fig)


# --- funnel plot ----------------------------------------------------------------------------

def funnel_limits(p: float, n) -> dict:
    """Control limits for a proportion ``p`` (0 to 1, e.g. the national recovery rate 0.504)
    at denominator(s) ``n``: p +/- z * sqrt(p (1 - p) / n), the binomial normal approximation,
    with z = 1.959964 (95%) and 3.090232 (99.8%), clipped to 0..100.

    Returns percentages: ``{"centre", "lower_95", "upper_95", "lower_998", "upper_998"}``,
    floats for a single ``n`` and arrays for an array of them. ``funnel_limits(0.5, 100)``
    gives 95% limits 40.2 to 59.8 and 99.8% limits 34.5 to 65.5.
    """
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ChartError(f"funnel_limits: p={p} must be a proportion from 0 to 1 (divide a percentage by 100)")
    n_array = np.asarray(n, dtype=float)
    if (n_array <= 0).any():
        raise ChartError("funnel_limits: denominators must be positive")
    spread = np.sqrt(p * (1.0 - p) / n_array)
    out = {"centre": 100.0 * p}
    for name, z in (("95", Z_95), ("998", Z_998)):
        out[f"lower_{name}"] = np.clip(100.0 * (p - z * spread), 0.0, 100.0)
        out[f"upper_{name}"] = np.clip(100.0 * (p + z * spread), 0.0, 100.0)
    if n_array.ndim == 0:
        out = {key: float(value) for key, value in out.items()}
    return out


def _national_proportion(national_rate: float) -> float:
    rate = float(national_rate)
    if not 0.0 <= rate <= 100.0 or np.isnan(rate):
        raise ChartError(f"national_rate={national_rate} must be a percentage from 0 to 100")
    return rate / 100.0


def outside_limits(
    df: pd.DataFrame,
    *,
    numerator: str,
    denominator: str,
    national_rate: float,
    label: str | None = None,
    min_denominator: int = MIN_DENOMINATOR,
) -> pd.DataFrame:
    """Each row's rate (100 x numerator / denominator, from unrounded counts) against the
    funnel limits around ``national_rate`` (a percentage) at its denominator.

    Returns a frame with ``df``'s index and columns [label], rate, lower_998, lower_95,
    upper_95, upper_998, above_95, below_95, above_998, below_998 (True when the rate is
    strictly beyond that limit) and ``compared`` (False for rows whose denominator is under
    ``min_denominator`` or missing: they get no limits and no flags). Not for publication
    as it stands: it holds unrounded rates.
    """
    _need(df, numerator, denominator, label)
    p = _national_proportion(national_rate)
    num = pd.to_numeric(df[numerator], errors="coerce").astype(float)
    den = pd.to_numeric(df[denominator], errors="coerce").astype(float)
    compared = den.notna() & num.notna() & (den >= min_denominator) & (den > 0)
    out = pd.DataFrame(index=df.index)
    if label:
        out[label] = df[label]
    out["rate"] = np.where(compared, 100.0 * num / den.where(compared, 1.0), np.nan)
    limits = funnel_limits(p, den.where(compared, 1.0).to_numpy())
    for key in ("lower_998", "lower_95", "upper_95", "upper_998"):
        out[key] = np.where(compared, limits[key], np.nan)
    for level in ("95", "998"):
        out[f"above_{level}"] = compared & (out["rate"] > out[f"upper_{level}"])
        out[f"below_{level}"] = compared & (out["rate"] < out[f"lower_{level}"])
    out["compared"] = compared
    return out


def funnel_plot(
    df: pd.DataFrame,
    *,
    numerator: str,
    denominator: str,
    label: str,
    national_rate: float,
    title: str,
    x_label: str = "Referrals in the denominator",
    y_label: str = "Recovery rate (%)",
    min_denominator: int = MIN_DENOMINATOR,
    disclose: bool = True,
) -> Figure:
    """Providers' rates (100 x numerator / denominator) against their denominators, with the
    national rate and smooth 95% and 99.8% control limits (see :func:`funnel_limits`).
    Points outside the 99.8% limits get a different marker and are labelled with
    ``df[label]`` only: no counts appear on the chart.

    ``numerator`` and ``denominator`` are *unrounded* counts: outliers are judged on them,
    as NHS Digital computes rates from unrounded counts. Rows whose denominator is under
    ``min_denominator`` (5) are left out. With ``disclose`` (default) the chart shows only
    what the published tables show: each point sits at the published denominator (nearest
    5) and published rate (whole percent), and providers whose rate is suppressed
    (numerator under 5) are left out. ``national_rate`` is a percentage (e.g. 50.4).
    """
    _need(df, numerator, denominator, label)
    flags = outside_limits(df, numerator=numerator, denominator=denominator, national_rate=national_rate,
                           label=label, min_denominator=min_denominator)
    points = flags[flags["compared"]].copy()
    points["_x"] = pd.to_numeric(df.loc[points.index, denominator]).astype(float)
    points["_y"] = points["rate"]
    if disclose:
        numerators = pd.to_numeric(df.loc[points.index, numerator]).astype(float)
        points["_x"] = publishable_values(points["_x"], "count", national=False)
        points["_y"] = publishable_values(points["_y"], "percentage", national=False, base_counts=numerators)
        points = points.dropna(subset=["_x", "_y"])
    if points.empty:
        raise ChartError("no provider has enough referrals to show in a funnel plot "
                         f"(denominator of at least {min_denominator}, published rate)")
    p = _national_proportion(national_rate)
    fig = _figure(5.6)
    with matplotlib.rc_context(RC):
        ax = fig.subplots()
        top_n = float(points["_x"].max()) * 1.08
        low_n = max(float(min_denominator), 1.0)
        grid = np.unique(np.concatenate([np.geomspace(low_n, top_n, 200), np.linspace(low_n, top_n, 200)]))
        limits = funnel_limits(p, grid)
        ax.axhline(100 * p, color=REFERENCE_COLOUR, linewidth=1.5, label=f"National rate ({100 * p:.1f}%)")
        ax.plot(grid, limits["upper_95"], color="#777777", linestyle="--", linewidth=1.2, label="95% limits")
        ax.plot(grid, limits["lower_95"], color="#777777", linestyle="--", linewidth=1.2)
        ax.plot(grid, limits["upper_998"], color="#777777", linestyle=":", linewidth=1.6, label="99.8% limits")
        ax.plot(grid, limits["lower_998"], color="#777777", linestyle=":", linewidth=1.6)

        above, below = points["above_998"], points["below_998"]
        inside = ~(above | below)
        kinds = [(inside, MAIN_COLOUR, "o", "Provider"),
                 (above, OKABE_ITO["green"], "^", "Above the 99.8% limit"),
                 (below, OKABE_ITO["vermillion"], "v", "Below the 99.8% limit")]
        for mask, colour, marker, name in kinds:
            if mask.any():
                ax.scatter(points.loc[mask, "_x"], points.loc[mask, "_y"], s=36 if marker == "o" else 60,
                           color=colour, marker=marker, edgecolor="white", linewidth=0.5, label=name, zorder=3)
        for i, (_, row) in enumerate(points[above | below].sort_values("_x", kind="mergesort").iterrows()):
            ax.annotate(str(row[label]), (row["_x"], row["_y"]), xytext=(6, 8 if i % 2 == 0 else -12),
                        textcoords="offset points", fontsize=FONT_SIZE - 2, color="#222222", zorder=5,
                        bbox=_TEXT_BOX)

        ys = np.concatenate([points["_y"].to_numpy(), [100 * p]])
        low = max(0.0, min(float(ys.min()), float(funnel_limits(p, max(points["_x"].min(), low_n))["lower_998"])) - 5)
        high = min(100.0, max(float(ys.max()), float(funnel_limits(p, max(points["_x"].min(), low_n))["upper_998"])) + 5)
        ax.set_ylim(low, high)
        ax.set_xlim(0, top_n)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        _legend_below(fig, ax, ncols=3)
        _title(fig, title)
    return _finish(fig)
