"""Charts for the reports: accessible, honest about disclosure control, byte-for-byte reproducible.

Each chart function takes a tidy DataFrame and returns a matplotlib ``Figure``; the caller
saves it with :func:`save_chart`, which writes the PNG and the chart's data as CSV and returns
a :class:`ChartRef` whose ``markdown()`` shows the chart with its title as the caption, its alt
text, and a link to the data. The title passed in should state the finding ("Referrals rose
from ... to ..."); it is the figure's caption in the HTML and PDF, so it is not drawn inside
the image as well (it would appear twice).

Legibility (docs/charts.md): figures are 6 inches wide at 200 dpi (1,200 pixels) with all text
at least 12 pt, so text is about 9 CSS pixels high when a phone (390 pixels wide) scales the
image to its ~340-pixel column, and about 22 pixels in an 800-pixel desktop column. Text from
data is drawn literally (never as mathtext), on one line or wrapped and shortened with an
ellipsis, so a long or odd name cannot break the layout.

Colour (WCAG 2.2 1.4.11, non-text contrast): every series colour has at least 3:1 contrast
against the white background, and the palette (the Okabe-Ito colours that pass, plus black)
stays distinguishable with the common colour-vision deficiencies. Colour is never the only
cue: lines have different markers, highlighted bars a bold label, funnel-plot outliers a
different marker. No 3-D, no shading, light grid.

Disclosure control: a chart shows no more than the published tables. Below England level,
pass values that have been through the rule (:func:`publishable_values` turns unrounded
values into the published numbers, with suppressed cells as NaN, which charts leave out
and label "not shown"). :func:`funnel_plot` is the exception: its
:class:`~iapt_report.report.funnel.FunnelComparison` holds unrounded counts, because outliers must
be judged on them, and it applies the rule itself to what it draws.

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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from . import safe_text
from iapt_report.engine.disclosure import SUPPRESSED, publish_cell
from iapt_report.outputs.exports import spreadsheet_safe
from .funnel import FunnelComparison

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
#: series colours, in order of use: the Okabe-Ito colours with at least 3:1 contrast against
#: white (orange, sky blue and yellow fall below it), then black
PALETTE = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "purple", "black")]
MAIN_COLOUR = OKABE_ITO["blue"]
HIGHLIGHT_COLOUR = OKABE_ITO["vermillion"]
ABOVE_COLOUR = OKABE_ITO["green"]
BELOW_COLOUR = OKABE_ITO["vermillion"]
OWN_COLOUR = OKABE_ITO["black"]
REFERENCE_COLOUR = "#333333"
LIMIT_COLOUR = "#6E6E6E"  # 5.1:1 against white
BACKGROUND = "#FFFFFF"
MARKERS = ["o", "s", "^", "D", "v"]
LINE_STYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1))]

WIDTH_INCHES = 6.0
DPI = 200
FONT_SIZE = 12
#: longest category or legend label on one line, and lines before it is shortened with an ellipsis
LABEL_WIDTH_CHARS = 24
LABEL_MAX_LINES = 2
SVG_HASH_SALT = "iapt-report"

#: matplotlib settings for every chart (seaborn's white grid, large text, no top/right spines,
#: data text never read as mathtext)
RC = {
    **sns.axes_style("whitegrid"),
    "font.family": "DejaVu Sans",
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE,
    "ytick.labelsize": FONT_SIZE,
    "legend.fontsize": FONT_SIZE,
    "legend.frameon": False,
    "legend.handlelength": 2.4,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#767676",  # 4.5:1 against white
    "axes.labelcolor": "#222222",
    "xtick.color": "#222222",
    "ytick.color": "#222222",
    "text.color": "#222222",
    "grid.color": "#e3e3e3",
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
    "text.parse_math": False,
    "svg.hashsalt": SVG_HASH_SALT,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
}

NOT_SHOWN = "not shown"
# tick steps a reader counts in easily (10, 20, 25, 50, not 15 or 60)
_NICE_STEPS = [1, 2, 2.5, 5, 10]

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


def relative_luminance(colour: str) -> float:
    """WCAG 2.2 relative luminance of a ``#RRGGBB`` colour (0 for black, 1 for white)."""
    channels = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(first: str, second: str = BACKGROUND) -> float:
    """WCAG 2.2 contrast ratio of two ``#RRGGBB`` colours, from 1 (none) to 21 (black on white)."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_colour_on(colour: str) -> str:
    """Black or white, whichever contrasts more with ``colour`` (for labels on bars)."""
    return "#000000" if contrast_ratio(colour, "#000000") >= contrast_ratio(colour, "#FFFFFF") else "#FFFFFF"


def label_text(text, width: int = LABEL_WIDTH_CHARS, max_lines: int = LABEL_MAX_LINES) -> str:
    """Text from data made safe to draw: line breaks and tabs become spaces, then it is
    wrapped at ``width`` characters on at most ``max_lines`` lines, the last shortened with
    an ellipsis if more was left."""
    one_line = re.sub(r"\s+", " ", "" if text is None else str(text)).strip()
    lines = textwrap.wrap(one_line, width, break_long_words=True, break_on_hyphens=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:max(1, width - 1)].rstrip() + "\u2026"
    return "\n".join(lines)


def _figure(height: float) -> Figure:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(WIDTH_INCHES, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # text extents are measured with Agg (funnel labels)
    return fig


def _title(fig: Figure, title: str) -> None:
    """Check the chart has a finding for a title. The report shows it as the caption (HTML
    and PDF), so it is not drawn in the image; it is kept as the figure's label."""
    if not str(title).strip():
        raise ChartError("a chart needs a title that states its finding")
    fig.set_label(re.sub(r"\s+", " ", str(title)).strip())


def _legend_below(fig: Figure, ax, ncols: int = 2) -> None:
    """The legend under the plot, left-aligned, so it never covers data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower left", ncols=max(1, min(ncols, len(handles))))


def _finish(fig: Figure) -> Figure:
    """Lay the figure out now, under the chart style (tick labels are created lazily)."""
    with matplotlib.rc_context(RC):
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

        Paths are relative to the report source (``figures/<name>.png``). The title and alt
        text are shown as text (:mod:`safe_text`), whatever names they hold.
        """
        title = safe_text.markdown(self.title)
        alt = safe_text.attribute(self.alt_text)
        return (f'![{title}](figures/{self.name}.png){{fig-alt="{alt}"}}\n\n'
                f"[Download the data for this chart (CSV)](figures/{self.name}.csv)")


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _write_atomically(path: Path, write) -> None:
    """Write through a temporary file in the same folder, so no half-written file is left."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


#: published figures as text: "3,544", "83%", "52.5", "0.75" (no leading zeros, so codes such as "012" stay text)
_FIGURE_TEXT = re.compile(r"-?(?:0|[1-9]\d{0,2}(?:,\d{3})+|[1-9]\d*)(?:\.\d+)?%?")
#: how a suppressed cell reads in tables and prose
_SUPPRESSED_TEXTS = {SUPPRESSED, "fewer than 5", "suppressed"}
SUPPRESSED_NOTE = "suppressed"
NOT_AVAILABLE_NOTE = "not available"


def machine_readable(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with every column of published figures as text ("3,544", "83%", "*", "fewer
    than 5", "not available") turned into numbers, for a chart's CSV.

    A column is turned when at least one cell is a figure and no other cell holds a digit
    (other cells are blank or say why there is no figure). Thousands separators and % signs
    go (the header gets " (%)" when the cells had them); whole numbers stay whole. The cells
    with no figure are left empty, and a column ``"<header> note"`` beside it says why:
    ``"suppressed"`` (disclosure control), ``"not available"`` (blank in the source), or the
    cell's own words (such as ``"no Census population"``). Other columns are left as they are.
    """
    out = {}
    for column in data.columns:
        values = data[column]
        if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
            out[column] = values
            continue
        texts = values.map(lambda v: "" if not isinstance(v, str) and pd.isna(v) else str(v).strip())
        is_figure = texts.map(lambda t: _FIGURE_TEXT.fullmatch(t) is not None)
        others = texts[~is_figure]
        other_figures = others.map(lambda t: t not in _SUPPRESSED_TEXTS and any(ch.isdigit() for ch in t))
        if not is_figure.any() or other_figures.any():  # not a column of published figures
            out[column] = values
            continue
        figures = texts[is_figure]
        numbers = pd.Series(np.nan, index=texts.index, dtype=float)
        numbers[is_figure] = figures.map(lambda t: float(t.replace(",", "").rstrip("%")))
        if not figures.str.contains(r"[.]").any():
            numbers = numbers.round().astype("Int64")
        header = f"{column} (%)" if figures.str.endswith("%").any() and "%" not in str(column) else column
        out[header] = numbers
        out[f"{header} note"] = texts.map(
            lambda t: "" if _FIGURE_TEXT.fullmatch(t) else SUPPRESSED_NOTE if t in _SUPPRESSED_TEXTS
            else NOT_AVAILABLE_NOTE if t in ("", NOT_AVAILABLE_NOTE) else t)
    return pd.DataFrame(out, index=data.index)


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
    """Write ``out_dir/figures/<name>.png`` (200 dpi) and ``<name>.csv`` (the chart's data:
    UTF-8, LF line ends, floats as ``float_format``, no index), plus any of ``formats``
    ("svg", "pdf"), and return a :class:`ChartRef`.

    ``data`` is what a reader may download: below England level it must hold published
    values only (the text of the tables, or :func:`publishable_values`). The CSV holds
    numbers: columns of published text are turned into numbers by :func:`machine_readable`
    (empty cells, with a ``note`` column saying why). The same figure and data always give
    the same bytes.
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
    table = machine_readable(data)

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
    _write_atomically(csv_path, lambda p: spreadsheet_safe(table).to_csv(p, index=False, float_format=float_format,
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


# --- funnel plot ----------------------------------------------------------------------------

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
