"""The charts' look: the Okabe-Ito palette (every colour 3:1 against white), sizes, fonts and
matplotlib settings, contrast checks, and the figure, title and legend every chart shares
(see the package docstring and docs/charts.md).
"""

from __future__ import annotations

import re
import sys
import textwrap

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # never switch a backend someone is already using
    matplotlib.use("Agg")

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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
