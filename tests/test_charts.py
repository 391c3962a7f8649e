"""Charts: funnel limits by hand, outlier flags, disclosure on charts, files, alt text, reproducibility."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from iapt_report import charts
from iapt_report.charts import ChartError, ChartRef, funnel_limits, outside_limits, publishable_values, save_chart


# --- funnel limits by hand ------------------------------------------------------------------

def test_funnel_limits_by_hand():
    # p = 0.5, n = 100: standard error sqrt(0.25 / 100) = 0.05
    limits = funnel_limits(0.5, 100)
    assert limits["centre"] == pytest.approx(50.0)
    assert limits["lower_95"] == pytest.approx(40.2, abs=0.1)   # 50 - 1.959964 x 5
    assert limits["upper_95"] == pytest.approx(59.8, abs=0.1)
    assert limits["lower_998"] == pytest.approx(34.5, abs=0.1)  # 50 - 3.090232 x 5
    assert limits["upper_998"] == pytest.approx(65.5, abs=0.1)
    assert limits["lower_95"] == pytest.approx(100 * (0.5 - 1.959964 * 0.05))


def test_funnel_limits_narrow_with_n_and_are_clipped_to_0_100():
    limits = funnel_limits(0.5, np.array([25, 100, 400]))
    widths = limits["upper_95"] - limits["lower_95"]
    assert list(widths) == sorted(widths, reverse=True)
    assert widths[0] == pytest.approx(2 * widths[1])  # a quarter of the n, twice the width
    small = funnel_limits(0.95, 5)
    assert small["upper_998"] == 100.0 and small["lower_998"] < 95
    assert funnel_limits(0.02, 5)["lower_95"] == 0.0


def test_funnel_limits_want_a_proportion():
    with pytest.raises(ChartError, match="proportion"):
        funnel_limits(50.4, 100)


# --- outliers -------------------------------------------------------------------------------

def _providers() -> pd.DataFrame:
    """Ten providers at the national 50%, one high, one low, and one too small to compare."""
    rows = [{"name": f"Provider {i}", "recovered": 500.0, "denominator": 1000.0} for i in range(10)]
    rows.append({"name": "High provider", "recovered": 650.0, "denominator": 1000.0})   # 65% > 54.9%
    rows.append({"name": "Low provider", "recovered": 430.0, "denominator": 1000.0})    # 43% < 45.1%
    rows.append({"name": "Tiny provider", "recovered": 3.0, "denominator": 3.0})        # 100%, but n = 3
    return pd.DataFrame(rows, index=[f"R{i:02d}" for i in range(13)])


def test_outside_limits_flags_a_hand_made_outlier():
    flagged = outside_limits(_providers(), numerator="recovered", denominator="denominator",
                             label="name", national_rate=50.0)
    assert list(flagged.index) == list(_providers().index)
    high, low, tiny = flagged.loc["R10"], flagged.loc["R11"], flagged.loc["R12"]
    # n = 1000: 95% limits 50 +/- 3.10, 99.8% limits 50 +/- 4.89
    assert high["rate"] == pytest.approx(65.0)
    assert high["above_95"] and high["above_998"] and not high["below_998"]
    assert low["below_95"] and low["below_998"] and not low["above_95"]
    assert high["upper_998"] == pytest.approx(50 + 100 * 3.090232 * np.sqrt(0.25 / 1000))
    assert not tiny["compared"] and not tiny["above_998"] and np.isnan(tiny["rate"])
    ordinary = flagged.iloc[:10]
    assert not ordinary[["above_95", "below_95", "above_998", "below_998"]].any().any()
    assert flagged["compared"].sum() == 12


def test_outside_limits_flags_only_the_95_limit_when_between_them():
    frame = pd.DataFrame({"recovered": [535.0], "denominator": [1000.0]})  # 53.5%: above 53.1, below 54.9
    flagged = outside_limits(frame, numerator="recovered", denominator="denominator", national_rate=50.0)
    assert flagged["above_95"].iloc[0] and not flagged["above_998"].iloc[0]


def test_national_rate_is_a_percentage():
    with pytest.raises(ChartError, match="percentage"):
        outside_limits(_providers(), numerator="recovered", denominator="denominator", national_rate=150)


# --- funnel plot and disclosure -------------------------------------------------------------

def _plotted_points(fig: Figure) -> np.ndarray:
    ax = fig.axes[0]
    offsets = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
    return np.concatenate(offsets) if offsets else np.empty((0, 2))


def _funnel(frame: pd.DataFrame, **kwargs) -> Figure:
    return charts.funnel_plot(frame, numerator="recovered", denominator="denominator", label="name",
                              national_rate=50.0, title="One provider was above and one below the 99.8% limits",
                              **kwargs)


def test_a_provider_with_denominator_3_is_left_out_of_the_funnel_plot():
    points = _plotted_points(_funnel(_providers()))
    assert len(points) == 12
    assert 3.0 not in points[:, 0]
    assert 100.0 not in points[:, 1]


def test_funnel_labels_name_outliers_and_reveal_no_counts():
    frame = _providers()
    frame.loc["R10", ["recovered", "denominator"]] = [652.0, 1003.0]  # unrounded counts
    fig = _funnel(frame)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == ["High provider", "Low provider"]
    for text in texts:
        assert not any(ch.isdigit() for ch in text)
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
    shown_unrounded = _plotted_points(_funnel(frame, disclose=False))
    assert len(shown_unrounded) == 12


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
    frame = _providers()
    return _funnel(frame), frame[["name"]]


CHARTS = {"bar": _bar, "vertical_bar": _vertical_bar, "line": _line, "stacked": _stacked, "rates": _rates,
          "funnel": _funnel_chart}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_each_chart_function_gives_a_png_and_csv(tmp_path, name):
    fig, data = CHARTS[name]()
    assert isinstance(fig, Figure)
    assert fig.get_size_inches()[0] == pytest.approx(8.0)
    ref = save_chart(fig, name, title=f"Finding for {name}", alt_text=f"Chart of {name}", data=data,
                     out_dir=tmp_path)
    assert isinstance(ref, ChartRef)
    assert ref.png_path == tmp_path / "figures" / f"{name}.png"
    assert ref.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ref.csv_path == tmp_path / "figures" / f"{name}.csv"
    written = ref.csv_path.read_bytes()
    assert b"\r\n" not in written
    assert pd.read_csv(ref.csv_path).shape == data.shape
    assert not list((tmp_path / "figures").glob(".*.tmp"))  # nothing half-written left behind


def test_png_is_about_8_inches_at_150_dpi(tmp_path):
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
        from iapt_report import charts
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
