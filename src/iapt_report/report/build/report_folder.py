"""One report's folder, built in a staging folder and swapped into place when complete: its
measures and metadata CSVs, the report sources fitted to the figures the sections produced,
the section notebooks run (or, for ``--section``/``--render-only``, some of them and the others'
outputs reused: :mod:`.section_reuse`), the report rendered and checked, and the manifest. The
unrounded measures the notebooks read are kept beside, not inside, the report folder:
``<output>/_unrounded/<kind>/<period>/<org>/``, staged and swapped with it.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from iapt_report.data.periods import Period
from iapt_report.engine.disclosure import apply_disclosure, disclosure_rule_text
from iapt_report.engine.pipeline import not_computed_names
from iapt_report.engine.registry import measure_metadata
from iapt_report.outputs.exports import (
    MEASURES_CSV,
    file_sha256,
    publication_table,
    staged_folder,
    write_csv,
    write_manifest,
    write_publication_files,
)
from iapt_report.outputs.paths import inside, org_folder_name
from iapt_report.report import safe_text
from iapt_report.report.render import render_report
from iapt_report.report.report_check import check_report
from iapt_report.report.report_data import ENGLAND, ReportData
from iapt_report.report.section_output import merge_variables, variable_value

from .config import SECTIONS, UNROUNDED_FILE, UNROUNDED_FOLDER, BuildConfig, unrounded_measures_path
from .notebooks import _record_final_paths, _run_notebooks
from .section_reuse import copy_section_outputs, plan_sections, reusable_sections

CACHE_FOLDER = "_cache"
FAILED_FOLDER = "_failed"


@dataclass
class BuiltReport:
    kind: str
    period: str
    org: str
    folder: Path | None = None
    error: str | None = None
    renderer: str | None = None
    seconds: dict = field(default_factory=dict)
    left_out: list = field(default_factory=list)  # report-source lines left out: their figures are absent
    measures_from_cache: bool = False  # every measure came from the cache: the dataset was not read again
    reader_checks: list = field(default_factory=list)  # what report_check found wrong in the built report
    measures_cache: str | None = None  # the cache the measures were read from or written to (<folder>/<key>-*)
    sections_run: list = field(default_factory=list)  # section notebooks run for this build
    sections_reused: list = field(default_factory=list)  # sections taken from the report built before


def _build_one(report: BuiltReport, measures: pd.DataFrame, period: Period, config: BuildConfig,
               synthetic: bool, hashes: dict[str, str], not_computed: dict[str, str] | None = None) -> None:
    """One report folder. ``not_computed``: the measures the dataset cannot give and why (None for
    a published file), for metadata.csv and the manifest."""
    data = ReportData(measures, period, report.org)
    org_rows = data.rows()  # fails early, with a clear message, for an unknown organisation
    # absolute: the notebooks run in the report's own folder, where a relative path means something else
    output = Path(config.output).absolute()
    where = Path(config.kind) / period.label / org_folder_name(report.org)  # a code becomes a name only if safe
    final = inside(output, where)
    # the unrounded measures are kept outside the (published) report folder, staged and swapped with it
    unrounded_final = unrounded_measures_path(output, config.kind, period.label, report.org).parent
    with staged_folder(unrounded_final, within=output, option="--output") as unrounded, \
            staged_folder(final, within=output, option="--output") as staging:
        started = time.perf_counter()
        measures_path = unrounded / UNROUNDED_FILE
        _report_measures(measures, data).to_parquet(measures_path, index=False)
        measures_sha256 = file_sha256(measures_path)
        _write_unrounded_notes(unrounded, hashes, config.kind, period, report.org, where)
        published = measures[(measures.REPORTING_PERIOD_START == period.start.isoformat())
                             & (measures.REPORTING_PERIOD_END == period.end.isoformat())]
        if not data.national:
            published = published.loc[published.index.intersection(_all_rows_of(published, data).index)]
        if "PUBLISHED_VALUE" in published.columns:  # as NHS Digital published it: nothing to apply
            published = published.assign(MEASURE_VALUE_SUPPRESSED=published["PUBLISHED_VALUE"])
        else:
            published = apply_disclosure(published)
        measures_file = write_publication_files(publication_table(published), staging)
        write_csv(measure_metadata(not_computed), staging / "metadata.csv")
        _copy_sources(config, staging)
        if measures_file != MEASURES_CSV:
            _link_sources_to(staging, measures_file)
        _write_about(staging, synthetic, data, period, config.published)
        report.seconds["prepare"] = round(time.perf_counter() - started, 3)

        started = time.perf_counter()
        parameters = {"kind": config.kind, "period": period.label, "org": report.org,
                      "measures_path": str(measures_path), "build_dir": str(staging)}
        sections = SECTIONS[config.kind]
        reusable = reusable_sections(final, sections, measures_sha256) if config.sections is not None else []
        report.sections_run = plan_sections(sections, config.sections, reusable)
        report.sections_reused = [section for section in sections if section not in report.sections_run]
        copy_section_outputs(final, staging, report.sections_reused)
        failed_dir = inside(output, FAILED_FOLDER / where)
        _run_notebooks([config.notebooks / f"{section}.ipynb" for section in report.sections_run],
                       staging / "notebooks", parameters, staging, failed_dir, config.notebook_workers)
        _record_final_paths([staging / "notebooks" / f"{section}.ipynb" for section in report.sections_run],
                            {staging: final, unrounded: unrounded_final})
        merge_variables(staging)
        report.left_out = adapt_sources(staging, [*sections, "about", "notes"],
                                        drop_unset=config.published is not None)
        report.seconds["notebooks"] = round(time.perf_counter() - started, 3)

        started = time.perf_counter()
        rendered = render_report(staging, "report.qmd", synthetic=synthetic, renderer=config.renderer)
        report.renderer = rendered.renderer
        report.seconds["render"] = round(time.perf_counter() - started, 3)
        report.reader_checks = check_report(staging)
        write_manifest(
            staging,
            inputs=hashes,
            parameters={**{k: v for k, v in parameters.items() if k not in ("measures_path", "build_dir")},
                        "data": str(config.published or config.data), "synthetic": synthetic,
                        "published_file": config.published is not None, "renderer": rendered.renderer,
                        "left_out": report.left_out, "measures_from_cache": report.measures_from_cache,
                        "measures_cache": report.measures_cache, "measures_sha256": measures_sha256,
                        "unrounded_measures": (Path(UNROUNDED_FOLDER) / where / UNROUNDED_FILE).as_posix(),
                        "sections_run": report.sections_run, "sections_reused": report.sections_reused,
                        "rows_for_org": int(len(org_rows)), "reader_checks": report.reader_checks,
                        "org_name": data.org_name, "period_name": period_label_in_words(period)},
            timings=report.seconds,
            not_computed=None if not_computed is None else not_computed_names(not_computed),
        )
    report.folder = final


def _write_unrounded_notes(folder: Path, hashes: dict[str, str], kind: str, period: Period, org: str,
                           report_folder: Path) -> None:
    """README.txt and manifest.json beside a report's unrounded measures: what they are, and that
    they are not for publication."""
    (folder / "README.txt").write_text(
        f"NOT FOR PUBLICATION. {UNROUNDED_FILE} holds the unrounded measures (before disclosure control) that "
        f"the sections of the report in {report_folder.as_posix()} read. Below England level they include small "
        "numbers that disclosure control hides: never publish, share or copy this folder with the reports.\n",
        encoding="utf-8")
    write_manifest(folder, inputs=hashes, parameters={"kind": kind, "period": period.label, "org": org,
                                                      "not_for_publication": True,
                                                      "report_folder": report_folder.as_posix()})


def _all_rows_of(table: pd.DataFrame, data: ReportData) -> pd.DataFrame:
    """Every row of one organisation (all breakdowns) in a measures table."""
    view = ReportData(table, data.period, data.org)
    return view._org_rows(table)


def _report_measures(measures: pd.DataFrame, data: ReportData) -> pd.DataFrame:
    """What a report's notebooks see: England, the report's organisation, and every level's
    Total rows (for variation); for an organisation report nothing of other organisations'
    breakdowns."""
    total = measures[measures.VARIABLE_TYPE == "Total"]
    own = measures if data.national else _all_rows_of(measures, data)
    england = measures[measures.GROUP_TYPE == ENGLAND]
    return pd.concat([total, own, england]).drop_duplicates().reset_index(drop=True)


def _copy_sources(config: BuildConfig, staging: Path) -> None:
    sources = Path(config.report_sources)
    shutil.copy(sources / f"{config.kind}.qmd", staging / "report.qmd")
    shutil.copytree(sources / "sections", staging / "sections")
    quarto_project = sources.parent / "_quarto.yml"
    if quarto_project.exists():
        shutil.copy(quarto_project, staging / "_quarto.yml")



def period_label_in_words(period: Period) -> str:
    """"September 2020" for a month, "2020-21" for a financial year."""
    if period.kind == "month":
        return f"{period.start:%B %Y}"
    return period.label


def _link_sources_to(staging: Path, measures_file: str) -> None:
    """Point the report sources' links to ``measures.csv`` at the file the build wrote instead
    (``measures.zip``, for a table too big for a spreadsheet)."""
    for path in [staging / "report.qmd", *sorted((staging / "sections").glob("*.qmd"))]:
        text = path.read_text(encoding="utf-8")
        linked = text.replace(f"[{MEASURES_CSV}]({MEASURES_CSV})", f"[{measures_file}]({measures_file})")
        if linked != text:
            path.write_text(linked, encoding="utf-8")

def _write_about(staging: Path, synthetic: bool, data: ReportData, period: Period,
                 published: Path | None = None) -> None:
    """``variables/about.yml``: what the data are, the publication metadata and the notes that
    depend on the source and period (see :func:`iapt_report.report.sections.about.about_statements`)."""
    import yaml

    from iapt_report.report.sections.about import about_statements

    about = about_statements(data, synthetic=synthetic, published_name=Path(published).name if published else None)
    rule = disclosure_rule_text()
    about["disclosure_statement"] = rule if not data.national else f"National figures are shown unrounded. {rule}"
    (staging / "variables").mkdir(exist_ok=True)
    about = {name: safe_text.markdown(text) for name, text in about.items()}  # names from data read as text
    (staging / "variables" / "about.yml").write_text(yaml.safe_dump({"about": about}, sort_keys=True,
                                                                    allow_unicode=True), encoding="utf-8")


_VAR = re.compile(r"\{\{<\s*var\s+([^\s>]+)\s*>\}\}")


def adapt_sources(staging: Path, sections: list[str] | None = None, *, drop_unset: bool = True) -> list[str]:
    """Fit the report sources in a build folder to the figures the sections produced.

    A section whose notebook left it out (variable ``<section>.left_out``) is replaced by its
    heading and that one-line reason. A line that inserts a figure set to "" (a figure the
    section has no true value for: suppressed, or not in the source) is dropped, so that a
    suppressed value never sits in a sentence; with ``drop_unset`` (builds from a published
    file) so is a line inserting a figure the sections did not set at all. Returns what was
    left out, for the manifest.
    """
    import yaml

    variables = yaml.safe_load((staging / "_variables.yml").read_text(encoding="utf-8")) or {}
    left_out = []
    for path in sorted((staging / "sections").glob("*.qmd")):
        section = path.stem.removesuffix("_annual")
        if sections is not None and section not in sections:
            continue
        reason = (variables.get(section) or {}).get("left_out")
        text = path.read_text(encoding="utf-8")
        if reason:
            heading = next((line for line in text.splitlines() if line.startswith("# ")), f"# {section}")
            path.write_text(f"{heading}\n\n{reason}\n", encoding="utf-8")
            left_out.append(f"{path.name}: {reason}")
            continue
        kept = []
        for line in text.splitlines():
            keys = _VAR.findall(line)
            empty = [key for key in keys if variable_value(variables, key) == ""]
            unset = [key for key in keys if variable_value(variables, key) is None] if drop_unset else []
            if empty or unset:
                left_out.append(f"{path.name}: line needing {', '.join(empty + unset)}")
            else:
                kept.append(line)
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return left_out

