"""How a section notebook hands its results to the report: variables, tables and charts.

A section writes, inside the report's build folder:

* ``variables/<section>.yml`` - the figures the narrative inserts by name
  (``{{< var key_facts.referrals_received >}}`` in the report sources);
* ``tables/<name>.md`` - pipe tables, pulled in with ``{{< include tables/<name>.md >}}``;
* ``figures/<name>.png|.csv|.md`` - a chart, its data, and the markdown that shows it with
  its title and alt text (``{{< include figures/<name>.md >}}``).

The build merges every section's variables into ``_variables.yml`` for the renderer, and
``variables/<section>.outputs.txt`` lists the files the section wrote (one path a line,
relative to the build folder), so that a build re-running only some sections
(``iapt-report build --section``) can keep the others' files and drop the re-run ones' old files.

Everything handed over here is text, never markup: values, table cells, captions and notes are
escaped by :mod:`safe_text`, because names in them come from data files. Formatting (bold,
links, headings) belongs in the report sources around ``{{< var ... >}}``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from . import safe_text

#: ``variables/<section>.outputs.txt``: the files a section wrote (see :meth:`SectionOutput.save`)
OUTPUTS_SUFFIX = ".outputs.txt"


class SectionOutput:
    def __init__(self, build_dir: str | Path, section: str):
        self.build_dir = Path(build_dir)
        self.section = section
        self.variables: dict[str, str] = {}
        self.written: set[Path] = set()
        for folder in ("variables", "tables", "figures"):
            (self.build_dir / folder).mkdir(parents=True, exist_ok=True)

    def variable(self, name: str, value) -> None:
        """A figure or sentence for the narrative: shown as text exactly as it reads (one line)."""
        self.variables[name] = safe_text.markdown(value)

    def table(self, name: str, frame: pd.DataFrame, *, caption: str | None = None) -> Path:
        """A pipe table (all cells already formatted as published text)."""
        path = self.build_dir / "tables" / f"{name}.md"
        text = markdown_table(frame)
        if caption:
            text = f"{text}\n: {safe_text.markdown(caption)}\n"
        path.write_text(text, encoding="utf-8")
        self.written.add(path)
        return path

    def chart(self, chart_ref) -> Path:
        """The markdown for a chart saved with ``charts.save_chart`` (image, alt text, data link)."""
        path = self.build_dir / "figures" / f"{chart_ref.name}.md"
        path.write_text(chart_ref.markdown() + "\n", encoding="utf-8")
        self.written.update([path, chart_ref.png_path, chart_ref.csv_path, *chart_ref.other_paths.values()])
        return path

    def note(self, name: str, text: str, folder: str = "tables") -> Path:
        """A line of text in place of a table or chart (``folder="figures"``), saying why it is not shown."""
        path = self.build_dir / folder / f"{name}.md"
        path.write_text(safe_text.markdown(text) + "\n", encoding="utf-8")
        self.written.add(path)
        return path

    def leave_out(self, reason: str) -> None:
        """Leave the whole section out of the report: it shows its heading and ``reason`` (one line).

        For inputs that do not hold the section's measures, such as a published file; the build
        replaces the section's source with the reason.
        """
        self.variables["left_out"] = safe_text.markdown(reason)

    def save(self) -> Path:
        """``variables/<section>.yml`` (the figures for the narrative) and
        ``variables/<section>.outputs.txt`` (the files this section wrote)."""
        path = self.build_dir / "variables" / f"{self.section}.yml"
        path.write_text(yaml.safe_dump({self.section: self.variables}, sort_keys=True, allow_unicode=True),
                        encoding="utf-8")
        root = self.build_dir.resolve()
        listed = sorted({Path(p).resolve().relative_to(root).as_posix() for p in self.written
                         if Path(p).resolve().is_relative_to(root)})
        (self.build_dir / "variables" / f"{self.section}{OUTPUTS_SUFFIX}").write_text(
            "".join(f"{name}\n" for name in listed), encoding="utf-8")
        return path


def variable_value(variables: dict, key: str):
    """The value at a dotted key (``key_facts.recovery_rate``) of the report's variables, or None
    when it is not set."""
    value = variables
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def markdown_table(frame: pd.DataFrame) -> str:
    """A pandoc/Quarto pipe table of text cells; numbers right-aligned when a column looks numeric."""
    columns = [safe_text.markdown(c) for c in frame.columns]
    text = frame.astype(str)
    numeric = [text[c].str.fullmatch(r"[\d,.*%\-]*|fewer than 5|suppressed").all() for c in frame.columns]
    cells = text.map(safe_text.markdown)
    header = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"
    body = ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False, name=None)]
    return "\n".join([header, rule, *body]) + "\n"


def merge_variables(build_dir: str | Path) -> Path:
    """``_variables.yml`` from every section's variables file."""
    build_dir = Path(build_dir)
    merged: dict = {}
    for path in sorted((build_dir / "variables").glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    target = build_dir / "_variables.yml"
    target.write_text(yaml.safe_dump(merged, sort_keys=True, allow_unicode=True), encoding="utf-8")
    return target
