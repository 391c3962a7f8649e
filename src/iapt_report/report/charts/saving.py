"""Charts honest about disclosure control and saved reproducibly: the values a chart may show
below England level, and each chart written as PNG with its data as CSV, returned as a
:class:`ChartRef` the report's markdown shows.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from iapt_report.engine.disclosure import SUPPRESSED, publish_cell
from iapt_report.outputs.exports import spreadsheet_safe

from .. import safe_text
from .style import _NAME, _NO_METADATA, DPI, RC, ChartError

# --- disclosure -----------------------------------------------------------------------------


def publishable_values(
    values: pd.Series,
    statistic: str,
    *,
    national: bool,
    base_counts: pd.Series | None = None,
) -> pd.Series:
    """The values a chart may show: each published by the disclosure rule
    (:func:`iapt_report.engine.disclosure.publish_cell`) and read back as a number, NaN where the
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

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """How a notebook shows the chart (``display(chart)``): the image as the report shows
        it, with its title and alt text beneath, so the executed notebook is a record of it."""
        png = base64.b64encode(self.png_path.read_bytes()).decode("ascii")
        title, alt = html.escape(self.title), html.escape(self.alt_text)
        page = (f'<figure><img src="data:image/png;base64,{png}" alt="{alt}" style="max-width:100%">'
                f"<figcaption><strong>{title}</strong><br><em>Alt text:</em> {alt}<br><em>Files:</em> "
                f"figures/{html.escape(self.name)}.png, figures/{html.escape(self.name)}.csv</figcaption></figure>")
        return {"text/html": page, "image/png": png,
                "text/plain": f"Chart {self.name}: {self.title}"}


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
