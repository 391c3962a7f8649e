"""Charts: funnel limits by hand, outlier flags, disclosure on charts, files, alt text, reproducibility."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text

from iapt_report.report import charts, funnel
from iapt_report.report.charts import ChartError, ChartRef, publishable_values, save_chart

# --- funnel plot and disclosure -------------------------------------------------------------

def _providers() -> pd.DataFrame:
    """Ten providers near the national 50%, one high, one low, and one too small to compare."""
    rows = [{"name": f"Provider {i}", "code": f"P{i:02d}", "recovered": 495.0 + i, "denominator": 1000.0}
            for i in range(10)]
    rows.append({"name": "High provider", "code": "HIGH", "recovered": 650.0, "denominator": 1000.0})
    rows.append({"name": "Low provider", "code": "LOW", "recovered": 430.0, "denominator": 1000.0})
    rows.append({"name": "Tiny provider", "code": "TINY", "recovered": 3.0, "denominator": 3.0})
    return pd.DataFrame(rows, index=[f"R{i:02d}" for i in range(13)])


def _comparison(frame: pd.DataFrame, **kwargs) -> funnel.FunnelComparison:
    return funnel.compare(frame, numerator="recovered", denominator="denominator", label="name", code="code",
                          national_rate=50.0, **kwargs)


def _plotted_points(fig: Figure) -> np.ndarray:
    ax = fig.axes[0]
    offsets = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
    return np.concatenate(offsets) if offsets else np.empty((0, 2))


def _funnel(frame: pd.DataFrame, own=None, disclose=True, **kwargs) -> Figure:
    return charts.funnel_plot(_comparison(frame, **kwargs), title="One provider was above and one below the limits",
                              own=own, disclose=disclose)


def _legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for legend in fig.findobj(Legend) for t in legend.get_texts()]


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def test_a_provider_with_denominator_3_is_left_out_of_the_funnel_plot():
    points = _plotted_points(_funnel(_providers()))
    assert len(points) == 12
    assert 3.0 not in points[:, 0]
    assert 100.0 not in points[:, 1]


def test_funnel_numbers_the_outliers_names_them_in_a_key_and_reveals_no_counts():
    frame = _providers()
    frame.loc["R10", ["recovered", "denominator"]] = [652.0, 1003.0]  # unrounded counts
    fig = _funnel(frame)
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2"]  # only the two outliers, numbered
    key = [t for t in _texts(fig) if "provider (" in t]
    assert key == ["1  High provider (above)", "2  Low provider (below)"]
    assert "1003" not in "".join(_texts(fig)) and "652" not in "".join(_texts(fig))
    # the point sits at the published denominator (nearest 5) and published rate (whole percent)
    points = {tuple(p) for p in _plotted_points(fig)}
    assert (1005.0, 65.0) in points
    assert not any(x == 1003.0 for x, _ in points)


def test_funnel_leaves_out_providers_whose_rate_is_suppressed():
    frame = _providers()
    frame.loc["R09", ["recovered", "denominator"]] = [4.0, 400.0]  # 1%: far below, but numerator < 5
    points = _plotted_points(_funnel(frame))
    assert len(points) == 11
    assert (400.0, 1.0) not in {tuple(p) for p in points}
    assert len(_plotted_points(_funnel(frame, disclose=False))) == 12


def test_funnel_marks_the_reports_own_provider_with_a_star_label_and_legend_entry():
    fig = _funnel(_providers(), own="P03")
    ax = fig.axes[0]
    stars = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_label() == "This report's provider"]
    assert len(stars) == 1 and stars[0].get_offsets().tolist() == [[1000.0, 50.0]]  # 498 of 1000, published 50%
    assert "Provider 3" in [t.get_text() for t in ax.texts]
    assert "This report's provider" in _legend_texts(fig)
    # a report for an organisation that is not among the units (England) marks nothing
    assert "This report's provider" not in _legend_texts(_funnel(_providers(), own="England"))


def _overdispersed(n_units: int = 60, seed: int = 3) -> pd.DataFrame:
    """Providers of 50 to 3,000 referrals whose rates spread widely around 50%, so many are flagged."""
    rng = np.random.default_rng(seed)
    denominators = rng.integers(50, 3000, n_units).astype(float)
    rates = np.clip(0.5 + rng.normal(0, 0.12, n_units), 0.05, 0.95)
    return pd.DataFrame({"name": [f"A provider with a long name, number {i}" for i in range(n_units)],
                         "code": [f"C{i:02d}" for i in range(n_units)],
                         "recovered": np.round(rates * denominators), "denominator": denominators})


def test_funnel_labels_never_overlap_each_other_and_are_capped():
    frame = _overdispersed()
    comparison = _comparison(frame, adjust=False)  # unadjusted: dozens flagged, crowded
    assert len(comparison.flagged) > funnel.MAX_LABELS
    fig = charts.funnel_plot(comparison, title="Many providers were outside the limits", own="C05")
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    for note in ax.texts:
        note.update_positions(renderer)
    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]  # the text, not its leader line
    assert len(boxes) == funnel.MAX_LABELS + 1  # ten numbers and the report's own provider
    for i, first in enumerate(boxes):
        for second in boxes[i + 1:]:
            assert not first.overlaps(second)
    frame_box = ax.get_window_extent(renderer)
    assert all(frame_box.x0 <= b.x0 and b.x1 <= frame_box.x1 and frame_box.y0 <= b.y0 and b.y1 <= frame_box.y1
               for b in boxes)


def test_funnel_plot_wants_a_comparison():
    with pytest.raises(ChartError, match="funnel.compare"):
        charts.funnel_plot(_providers(), title="t")


def test_publishable_values_follow_the_disclosure_rule():
    counts = pd.Series([3, 7, 8, 1234, None])
    assert publishable_values(counts, "count", national=False).tolist()[:4] == [pytest.approx(np.nan, nan_ok=True),
                                                                             5.0, 10.0, 1235.0]
    assert np.isnan(publishable_values(counts, "count", national=False).iloc[4])
    assert publishable_values(counts.iloc[:4], "count", national=True).tolist() == [3, 7, 8, 1234]
    rates = pd.Series([52.5, 40.04, 12.0])
    shown = publishable_values(rates, "percentage", national=False, base_counts=[375, 100, 4])
    assert shown.tolist()[:2] == [53.0, 40.0] and np.isnan(shown.iloc[2])
    assert np.isnan(publishable_values(rates, "percentage", national=False).iloc[0])  # no base: not safe
    assert publishable_values(rates, "percentage", national=True).tolist() == [52.5, 40.0, 12.0]


# --- every chart function through save_chart --------------------------------------------------

def _bar():
    data = pd.DataFrame({"Wait": ["28 days or less", "29 to 56 days", "57 to 90 days", "Over 90 days"],
                         "share": [70.1, 15.2, np.nan, 6.6], "Share": ["70%", "15%", "*", "7%"]})
    fig = charts.bar_chart(data, "Wait", "share", title="Most referrals waited 28 days or less",
                           value_label="Share (%)", highlight="28 days or less", labels="Share")
    return fig, data[["Wait", "Share"]]


def _vertical_bar():
    data = pd.DataFrame({"group": ["A", "B"], "value": [1.0, 2.0]})
    return charts.bar_chart(data, "group", "value", title="B is twice A", value_label="Value",
                            horizontal=False), data


def _line():
    data = pd.DataFrame({"period": ["2020-07", "2020-08", "2020-09"] * 2,
                         "measure": ["Referrals received"] * 3 + ["Entered treatment"] * 3,
                         "value": [120_000.0, 125_000.0, 132_237.0, 90_000.0, np.nan, 95_578.0]})
    fig = charts.line_chart(data, "period", "value", hue="measure", title="Referrals rose to 132,237 in 2020-09",
                            y_label="Referrals")
    return fig, data


def _stacked():
    data = pd.DataFrame({"period": ["2020-08"] * 3 + ["2020-09"] * 3,
                         "reason": ["Completed", "Dropped out", "Other"] * 2,
                         "count": [600, 300, 100, 650, 250, 100]})
    fig = charts.stacked_share_chart(data, "period", "reason", "count",
                                     title="Two in three ended referrals completed treatment")
    return fig, data


def _rates():
    data = pd.DataFrame({"ethnic_group": ["White", "Mixed", "Not stated/Not known/Invalid"],
                         "rate_per_100k": [2_886.4, 6_930.9, np.nan], "overall_rate_per_100k": [3_009.3] * 3})
    fig = charts.rate_comparison_chart(data, "ethnic_group", "rate_per_100k", "overall_rate_per_100k",
                                       title="Referral rates were highest for people of Mixed ethnicity")
    return fig, data


def _funnel_chart():
    comparison = _comparison(_providers())
    fig = charts.funnel_plot(comparison, title="One provider was above and one below the limits", own="P02")
    return fig, funnel.published_table(comparison)


CHARTS = {"bar": _bar, "vertical_bar": _vertical_bar, "line": _line, "stacked": _stacked, "rates": _rates,
          "funnel": _funnel_chart}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_each_chart_function_gives_a_png_and_csv(tmp_path, name):
    fig, data = CHARTS[name]()
    assert isinstance(fig, Figure)
    assert fig.get_size_inches()[0] == pytest.approx(charts.WIDTH_INCHES)
    ref = save_chart(fig, name, title=f"Finding for {name}", alt_text=f"Chart of {name}", data=data,
                     out_dir=tmp_path)
    assert isinstance(ref, ChartRef)
    assert ref.png_path == tmp_path / "figures" / f"{name}.png"
    assert ref.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ref.csv_path == tmp_path / "figures" / f"{name}.csv"
    written = ref.csv_path.read_bytes()
    assert b"\r\n" not in written
    assert pd.read_csv(ref.csv_path).shape == charts.machine_readable(data).shape
    assert not list((tmp_path / "figures").glob(".*.tmp"))  # nothing half-written left behind


def test_png_is_6_inches_at_200_dpi(tmp_path):
    fig, data = _bar()
    ref = save_chart(fig, "bar", title="t", alt_text="a", data=data, out_dir=tmp_path)
    width = int.from_bytes(ref.png_path.read_bytes()[16:20], "big")
    assert width == 1200


def test_csv_uses_a_fixed_float_format(tmp_path):
    fig, _ = _bar()
    data = pd.DataFrame({"group": ["a", "b"], "rate": [1 / 3, 2.0], "count": [5, 10]})
    ref = save_chart(fig, "fmt", title="t", alt_text="a", data=data, out_dir=tmp_path)
    assert ref.csv_path.read_text(encoding="utf-8") == "group,rate,count\na,0.3,5\nb,2.0,10\n"


def test_markdown_has_the_image_alt_text_and_data_link(tmp_path):
    fig, data = _bar()
    ref = save_chart(fig, "waits", title="Most referrals waited [under] 28 days",
                     alt_text='Bar chart of waits: "28 days or less" 70%;\nover 90 days 7%.',
                     data=data, out_dir=tmp_path)
    markdown = ref.markdown()
    first, blank, link = markdown.split("\n")
    assert first == ('![Most referrals waited \\[under\\] 28 days](figures/waits.png)'
                     '{fig-alt="Bar chart of waits: \\"28 days or less\\" 70%; over 90 days 7%."}')
    assert blank == ""
    assert link == "[Download the data for this chart (CSV)](figures/waits.csv)"


def test_pandoc_reads_the_alt_text(tmp_path):
    pypandoc = pytest.importorskip("pypandoc")
    fig, data = _bar()
    ref = save_chart(fig, "waits", title="Waits", alt_text='Bar chart of "waits"', data=data, out_dir=tmp_path)
    html = pypandoc.convert_text(ref.markdown(), "html", format="markdown")
    assert 'data-fig-alt="Bar chart of &quot;waits&quot;"' in html
    assert 'href="figures/waits.csv"' in html


@pytest.mark.parametrize("kwargs, message", [
    ({"alt_text": "  "}, "alt text"),
    ({"title": ""}, "title"),
    ({"name": "../escape"}, "letters"),
    ({"formats": ("jpg",)}, "formats"),
])
def test_save_chart_refuses_what_would_make_an_inaccessible_or_unsafe_chart(tmp_path, kwargs, message):
    fig, data = _bar()
    arguments = {"name": "bar", "title": "t", "alt_text": "a", "data": data, "out_dir": tmp_path, **kwargs}
    name = arguments.pop("name")
    with pytest.raises(ChartError, match=message):
        save_chart(fig, name, **arguments)


def test_chart_functions_need_a_title_and_their_columns():
    data = pd.DataFrame({"group": ["A"], "value": [1.0]})
    with pytest.raises(ChartError, match="title"):
        charts.bar_chart(data, "group", "value", title=" ", value_label="v")
    with pytest.raises(ChartError, match="no column"):
        charts.bar_chart(data, "group", "missing", title="t", value_label="v")
    with pytest.raises(ChartError, match="highlight"):
        charts.bar_chart(data, "group", "value", title="t", value_label="v", highlight="B")


# --- reproducibility ------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CHARTS))
def test_same_data_gives_byte_identical_png(tmp_path, name):
    digests = []
    for run in ("first", "second"):
        fig, data = CHARTS[name]()
        ref = save_chart(fig, name, title="t", alt_text="a", data=data, out_dir=tmp_path / run,
                         formats=("svg", "pdf"))
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in (ref.png_path, ref.csv_path, *ref.other_paths.values())])
    assert digests[0] == digests[1]


def test_png_has_no_software_or_date_metadata(tmp_path):
    fig, data = _bar()
    ref = save_chart(fig, "bar", title="t", alt_text="a", data=data, out_dir=tmp_path, formats=("svg", "pdf"))
    png = ref.png_path.read_bytes()
    assert b"matplotlib" not in png.lower() and b"Software" not in png
    assert b"<dc:date>" not in ref.other_paths["svg"].read_bytes()
    assert b"/CreationDate" not in ref.other_paths["pdf"].read_bytes()


def test_separate_processes_give_byte_identical_png(tmp_path):
    script = textwrap.dedent("""
        import sys, pandas as pd
        from iapt_report.report import charts
        data = pd.DataFrame({"group": ["A", "B", "C"], "value": [3.0, 1.5, 2.25]})
        fig = charts.bar_chart(data, "group", "value", title="A is highest", value_label="Value")
        charts.save_chart(fig, "same", title="t", alt_text="a", data=data, out_dir=sys.argv[1])
    """)
    digests = []
    for run, seed in (("one", "1"), ("two", "2")):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / run)], check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        digests.append(hashlib.sha256((tmp_path / run / "figures" / "same.png").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


# --- colour: contrast and colour-vision deficiencies ------------------------------------------

def test_wcag_contrast_by_hand():
    assert charts.relative_luminance("#FFFFFF") == pytest.approx(1.0)
    assert charts.relative_luminance("#000000") == pytest.approx(0.0)
    assert charts.contrast_ratio("#000000") == pytest.approx(21.0)
    # #767676 is the classic lightest grey with 4.5:1 on white: luminance 0.1812, (1.05 / 0.2312) = 4.54
    assert charts.relative_luminance("#767676") == pytest.approx(0.1812, abs=1e-4)
    assert charts.contrast_ratio("#767676") == pytest.approx(4.54, abs=0.01)
    # the two colours the issue found wanting
    assert charts.contrast_ratio("#E69F00") < 3 and charts.contrast_ratio("#56B4E9") < 3


SERIES_COLOURS = {*charts.PALETTE, charts.MAIN_COLOUR, charts.HIGHLIGHT_COLOUR, charts.ABOVE_COLOUR,
                  charts.BELOW_COLOUR, charts.OWN_COLOUR, charts.REFERENCE_COLOUR, charts.LIMIT_COLOUR}


@pytest.mark.parametrize("colour", sorted(SERIES_COLOURS))
def test_every_chart_colour_has_3_to_1_contrast_against_white(colour):
    assert charts.contrast_ratio(colour, "#FFFFFF") >= 3.0, colour


@pytest.mark.parametrize("colour", charts.PALETTE)
def test_labels_on_coloured_bars_have_4_5_to_1_contrast(colour):
    assert charts.contrast_ratio(charts.text_colour_on(colour), colour) >= 4.5


# Machado, Oliveira & Fernandes (2009) simulation matrices (severity 1.0), applied to linear RGB
_CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def _lab(colour: str, vision: str | None) -> np.ndarray:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    if vision:
        linear = np.clip(np.array(_CVD[vision]) @ linear, 0, 1)
    xyz = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                    [0.0193339, 0.1191920, 0.9503041]]) @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("vision", [None, *_CVD])
def test_palette_colours_stay_apart_with_colour_vision_deficiencies(vision):
    # CIE76 colour difference of at least 15 between every pair (about 7 is "clearly different")
    for first, second in itertools.combinations(charts.PALETTE, 2):
        assert np.linalg.norm(_lab(first, vision) - _lab(second, vision)) >= 15, (vision, first, second)
    funnel_marks = [charts.MAIN_COLOUR, charts.ABOVE_COLOUR, charts.BELOW_COLOUR, charts.OWN_COLOUR]
    for first, second in itertools.combinations(funnel_marks, 2):
        assert np.linalg.norm(_lab(first, vision) - _lab(second, vision)) >= 15, (vision, first, second)


def test_series_differ_by_more_than_colour():
    fig, _ = _line()
    lines = [line for line in fig.axes[0].get_lines() if line.get_label() and not line.get_label().startswith("_")]
    assert len({line.get_marker() for line in lines}) == len(lines)
    assert len({str(line.get_linestyle()) for line in lines}) == len(lines)


# --- legibility on small screens, and text from data drawn as it is -----------------------------

@pytest.mark.parametrize("name", sorted(CHARTS))
def test_all_text_is_large_enough_for_a_390_pixel_screen(name):
    """A phone 390 px wide shows the image in a column of about 340 px. Text of at least 9 px
    there needs at least 9 x 1200 / 340 = 32 px in a 1,200-px PNG: 12 pt at 200 dpi is 33 px."""
    fig, _ = CHARTS[name]()
    width_px = fig.get_size_inches()[0] * charts.DPI
    assert width_px == 1200
    texts = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    assert texts
    for text in texts:
        shown_px = text.get_fontsize() * charts.DPI / 72 * 340 / width_px
        assert shown_px >= 9, (text.get_text(), text.get_fontsize())


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_the_title_is_not_drawn_in_the_image(name):
    fig, _ = CHARTS[name]()
    title = fig.get_label()
    assert title  # kept as the figure's label
    assert title not in [t.get_text().replace("\n", " ") for t in fig.findobj(Text)]


def test_data_text_is_never_read_as_mathtext(tmp_path):
    names = ["Trust $\\frac{1", "Cost $5 and $10", "Provider A"]  # the first is broken mathtext
    data = pd.DataFrame({"name": names, "value": [1.0, 2.0, 3.0]})
    fig = charts.bar_chart(data, "name", "value", title="A $x$ title", value_label="Value $y$", highlight=names[0])
    texts = [t for t in fig.findobj(Text) if t.get_text()]
    assert all(not t.get_parse_math() for t in texts)
    assert "Cost $5 and $10" in [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ref = save_chart(fig, "math", title="t", alt_text="a", data=data, out_dir=tmp_path, formats=("svg",))
    assert "Cost $5 and $10" in ref.other_paths["svg"].read_text(encoding="utf-8")


def test_line_breaks_and_long_names_are_wrapped_and_shortened():
    assert charts.label_text("Line one\nLine two\tend") == "Line one Line two end"
    long = "A very long provider name " * 10
    shown = charts.label_text(long)
    assert shown.count("\n") == 1 and shown.endswith("\u2026")
    assert all(len(line) <= charts.LABEL_WIDTH_CHARS for line in shown.split("\n"))
    data = pd.DataFrame({"name": ["Short", long, "Two\nlines\n\n\nof text"], "value": [1.0, 2.0, 3.0]})
    fig = charts.bar_chart(data, "name", "value", title="t", value_label="Value")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[2] == "Two lines of text"
    renderer = fig.canvas.get_renderer()
    # the long name did not squeeze the bars: the plot keeps most of the width
    assert ax.get_window_extent(renderer).width >= 0.5 * fig.bbox.width


# --- chart data files hold numbers ----------------------------------------------------------------

def test_machine_readable_turns_published_text_into_numbers_with_a_note():
    data = pd.DataFrame({
        "Age group": ["16-17", "18-35", "36-64", "65+"],
        "Referrals": ["3,544", "fewer than 5", "12,000", "*"],
        "Share": ["83%", "", "12.5%", "not available"],
        "Rate per 100,000": ["2,886.4", "no Census population", "10.0", "0.5"],
        "code": ["012", "00L", "RXX", "15N"],
        "value": [1.5, np.nan, 2.0, 3.0],
    })
    table = charts.machine_readable(data)
    assert list(table.columns) == ["Age group", "Referrals", "Referrals note", "Share (%)", "Share (%) note",
                                   "Rate per 100,000", "Rate per 100,000 note", "code", "value"]
    assert table["Referrals"].tolist()[0::2] == [3544, 12000] and table["Referrals"].isna().tolist()[1::2] == [True] * 2
    assert table["Referrals note"].tolist() == ["", "suppressed", "", "suppressed"]
    assert table["Share (%)"].tolist()[0] == 83.0 and table["Share (%)"].tolist()[2] == 12.5
    assert table["Share (%) note"].tolist() == ["", "not available", "", "not available"]
    assert table["Rate per 100,000 note"].tolist() == ["", "no Census population", "", ""]
    assert table["code"].tolist() == ["012", "00L", "RXX", "15N"]  # codes are not numbers
    assert table["Age group"].tolist() == data["Age group"].tolist()
    assert table["value"].equals(data["value"])


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_csv_holds_no_formatted_numbers(tmp_path, name):
    fig, data = CHARTS[name]()
    ref = save_chart(fig, name, title="t", alt_text="a", data=data, out_dir=tmp_path)
    assert_numbers_only(ref.csv_path)


def assert_numbers_only(path):
    """No thousands separators or % signs in any cell, and every column either all numbers
    (empty allowed) or text without digits-as-figures."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in table.columns:
        for cell in table[column]:
            assert not re.fullmatch(r"-?[\d,]+(\.\d+)?%", cell), (path.name, column, cell)
            assert not re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", cell), (path.name, column, cell)
            assert cell not in ("*", "fewer than 5") or column.endswith("note"), (path.name, column, cell)


def test_funnel_draws_hostile_names_literally_on_one_line(tmp_path):
    frame = _providers()
    frame.loc["R10", "name"] = "High $\\frac{1 provider\nwith a second line " + "and a very long tail " * 8
    frame.loc["R05", "name"] = "Our $x$ provider"
    comparison = _comparison(frame)
    fig = charts.funnel_plot(comparison, title="t", own="P05")
    texts = _texts(fig)
    assert all(not t.get_parse_math() for t in fig.findobj(Text) if t.get_text())
    assert "Our $x$ provider" in texts  # the report's own provider, named beside its star
    key = next(t for t in texts if t.startswith("1  High"))
    assert "\n" not in key and key.endswith("\u2026 (above)")  # shortened to one line, side kept
    assert _text_width_px(fig, key) <= fig.bbox.width
    save_chart(fig, "funnel", title="t", alt_text="a", data=funnel.published_table(comparison), out_dir=tmp_path)


def _text_width_px(fig: Figure, text: str) -> float:
    found = next(t for t in fig.findobj(Text) if t.get_text() == text)
    return found.get_window_extent(fig.canvas.get_renderer()).width
