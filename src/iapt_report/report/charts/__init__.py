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

The modules: :mod:`.style` (palette, sizes, the parts every chart shares), :mod:`.saving`
(disclosure, PNG and CSV), :mod:`.bars`, :mod:`.lines` and :mod:`.funnel_plot`. Notebooks use
the names below: ``from iapt_report.report import charts``, then ``charts.bar_chart(...)``.
"""

from .bars import bar_chart, rate_comparison_chart, stacked_share_chart
from .funnel_plot import funnel_plot
from .lines import line_chart
from .saving import NOT_AVAILABLE_NOTE, SUPPRESSED_NOTE, ChartRef, machine_readable, publishable_values, save_chart
from .style import (
    ABOVE_COLOUR,
    BACKGROUND,
    BELOW_COLOUR,
    DPI,
    FONT_SIZE,
    HIGHLIGHT_COLOUR,
    LABEL_MAX_LINES,
    LABEL_WIDTH_CHARS,
    LIMIT_COLOUR,
    MAIN_COLOUR,
    OKABE_ITO,
    OWN_COLOUR,
    PALETTE,
    REFERENCE_COLOUR,
    WIDTH_INCHES,
    ChartError,
    contrast_ratio,
    label_text,
    relative_luminance,
    text_colour_on,
)

__all__ = [
    "ABOVE_COLOUR", "BACKGROUND", "BELOW_COLOUR", "DPI", "FONT_SIZE", "HIGHLIGHT_COLOUR", "LABEL_MAX_LINES",
    "LABEL_WIDTH_CHARS", "LIMIT_COLOUR", "MAIN_COLOUR", "NOT_AVAILABLE_NOTE", "OKABE_ITO", "OWN_COLOUR", "PALETTE",
    "REFERENCE_COLOUR", "SUPPRESSED_NOTE", "WIDTH_INCHES", "ChartError", "ChartRef", "bar_chart", "contrast_ratio",
    "funnel_plot", "label_text", "line_chart", "machine_readable", "publishable_values", "rate_comparison_chart",
    "relative_luminance", "save_chart", "stacked_share_chart", "text_colour_on",
]
