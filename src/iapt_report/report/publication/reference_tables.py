"""The reference tables: the figures the report shows, as an accessible spreadsheet.

The workbook follows the Analysis Function's guidance on releasing statistics in spreadsheets,
as ``gptables`` implements it: a cover sheet, a contents sheet, a notes sheet, one table per
sheet starting in the first column, no merged cells, no blank rows or columns inside a table,
and shorthand in place of a value explained on the notes sheet (``[c]`` suppressed by
disclosure control, ``[x]`` not available).

Every value is read from the publication table (``measures.csv`` of the release, disclosure
control already applied): the workbook never holds a count the CSV rounds or suppresses.
Tables are those the report shows: key facts; recovery and activity by region, ICB, sub-ICB
and provider; and, for the annual report, England by gender, age group, ethnic group,
presenting complaint (problem descriptor) and deprivation decile.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from iapt_report.engine.disclosure import SUPPRESSED
from iapt_report.outputs.exports import neutralise_formula
from iapt_report.report import safe_text

#: Shorthand written in place of a value (the Analysis Function's standard symbols).
SUPPRESSED_MARK = "[c]"
MISSING_MARK = "[x]"

#: Key facts, as the report's key facts table lists them.
KEY_FACTS = {
    "M001": "Referrals received",
    "M031": "Referrals that entered treatment",
    "M056": "Referrals that ended",
    "M076": "Referrals that finished a course of treatment",
    "M141": "Mean number of treatment sessions (finished a course)",
    "M053": "Finished a course: waited 6 weeks or less to enter treatment (%)",
    "M055": "Finished a course: waited 18 weeks or less to enter treatment (%)",
    "M192": "Recovery rate (%)",
    "M186": "Reliable improvement rate (%)",
    "M195": "Reliable recovery rate (%)",
    "M1010": "Reliable deterioration rate (%)",
    "M343": "Internet-enabled therapy sessions",
    "M271": "Referrals with a first integrated care contact",
}
#: The columns of the organisation and breakdown tables: what the report's variation,
#: demographics and outcomes sections show.
COLUMN_MEASURES = {
    "M001": "Referrals received",
    "M031": "Referrals that entered treatment",
    "M076": "Finished a course of treatment",
    "M192": "Recovery rate (%)",
    "M186": "Reliable improvement rate (%)",
    "M195": "Reliable recovery rate (%)",
}
LEVELS = [("CommissioningRegion", "region", "NHS England commissioning region"),
          ("ICB", "icb", "integrated care board (ICB)"),
          ("SubICB", "sub_icb", "sub-ICB location"),
          ("Provider", "provider", "provider")]
BREAKDOWNS = [("Gender", "gender", "gender"),
              ("Age Group", "age_group", "age group"),
              ("Ethnic Group", "ethnic_group", "ethnic group"),
              ("Presenting Complaint", "problem_descriptor", "presenting complaint (problem descriptor)"),
              ("Indices of Deprivation Decile", "deprivation", "deprivation decile (Indices of Deprivation)")]
_UNKNOWN = {"UNKNOWN", "NONE", ""}


@dataclass
class ReleaseDescription:
    """What the cover sheet says about the release."""

    kind: str  # "monthly" or "annual"
    period_words: str  # "September 2020", "2020-21"
    release_date: date
    synthetic: bool
    source: str  # one sentence: where the figures come from
    disclosure_rule: str


def cell_value(published: str):
    """A published cell as the workbook holds it: a number, or the shorthand for a value not shown."""
    text = str(published).strip()
    if text == SUPPRESSED:
        return SUPPRESSED_MARK
    if text == "" or text.lower() == "nan":
        return MISSING_MARK
    try:
        number = float(text)
    except ValueError:
        return neutralise_formula(safe_text.plain(text))
    return int(number) if number.is_integer() and "." not in text else number


def _text(value) -> str:
    """A name or label read from a file: one plain line, never a formula."""
    return neutralise_formula(safe_text.plain(value))


def reference_tables(table: pd.DataFrame) -> dict[str, tuple[str, str, pd.DataFrame]]:
    """The tables of the workbook from a publication table (text columns, disclosure applied):
    sheet name -> (table name, title, table). Tables with no rows are left out."""
    tables: dict[str, tuple[str, str, pd.DataFrame]] = {}
    period_rows = table
    if "VARIABLE_TYPE" not in period_rows.columns:
        period_rows = period_rows.assign(VARIABLE_TYPE="Total", VARIABLE_A="", VARIABLE_B="")
    totals = period_rows[period_rows["VARIABLE_TYPE"] == "Total"]
    england = totals[totals["GROUP_TYPE"] == "England"]
    cells = dict(zip(england["MEASURE_ID"], england["MEASURE_VALUE_SUPPRESSED"]))
    facts = [(mid, label, cell_value(cells[mid])) for mid, label in KEY_FACTS.items() if mid in cells]
    found: list[tuple[str, str, pd.DataFrame]] = []
    if facts:
        found.append(("key_facts", "Key facts, England",
                      pd.DataFrame(facts, columns=["Measure ID", "Measure", "England"])))
    for group_type, name, words in LEVELS:
        frame = _organisation_table(totals[totals["GROUP_TYPE"] == group_type], group_type)
        if len(frame):
            found.append((f"by_{name}", f"Activity and outcomes by {words}", frame))
    breakdowns = period_rows[(period_rows["GROUP_TYPE"] == "England") & (period_rows["VARIABLE_TYPE"] != "Total")]
    for variable_type, name, words in BREAKDOWNS:
        frame = _breakdown_table(breakdowns[breakdowns["VARIABLE_TYPE"] == variable_type])
        if len(frame):
            found.append((f"england_by_{name}", f"Activity and outcomes by {words}, England", frame))
    for number, (name, title, frame) in enumerate(found, start=1):
        tables[f"Table_{number}"] = (name, title, frame)
    return tables


def _wide(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per key, one column per measure of :data:`COLUMN_MEASURES` held."""
    rows = rows[rows["MEASURE_ID"].isin(list(COLUMN_MEASURES))]
    if rows.empty:
        return pd.DataFrame()
    rows = rows.drop_duplicates([*keys, "MEASURE_ID"])  # the first row of a key, as the report takes it
    wide = rows.pivot(index=keys, columns="MEASURE_ID", values="MEASURE_VALUE_SUPPRESSED")
    held = [mid for mid in COLUMN_MEASURES if mid in wide.columns]
    wide = wide[held].reset_index()
    for mid in held:
        wide[mid] = [cell_value(v) if isinstance(v, str) else MISSING_MARK for v in wide[mid]]
    return wide.rename(columns=COLUMN_MEASURES)


def _organisation_table(rows: pd.DataFrame, group_type: str) -> pd.DataFrame:
    code, name = ("ORG_CODE2", "ORG_NAME2") if group_type == "Provider" else ("ORG_CODE1", "ORG_NAME1")
    if rows.empty:
        return pd.DataFrame()
    known = [str(c).strip().upper() not in _UNKNOWN and str(n).strip().upper() != "UNKNOWN"
             for c, n in zip(rows[code], rows[name])]
    rows = rows[known]
    if group_type == "Provider" and (rows["ORG_CODE1"].str.lower() == "all").any():
        rows = rows[rows["ORG_CODE1"].str.lower() == "all"]  # each provider as a whole, not by sub-ICB
    wide = _wide(rows, [code, name])
    if wide.empty:
        return wide
    wide = wide.rename(columns={code: "Organisation code", name: "Organisation name"})
    wide["Organisation code"] = wide["Organisation code"].map(_text)
    wide["Organisation name"] = wide["Organisation name"].map(_text)
    return wide.sort_values("Organisation code", kind="mergesort").reset_index(drop=True)


def _breakdown_table(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return pd.DataFrame()
    two_levels = (rows["VARIABLE_B"].fillna("").str.strip() != "").any()
    keys = ["VARIABLE_A", "VARIABLE_B"] if two_levels else ["VARIABLE_A"]
    wide = _wide(rows.fillna({"VARIABLE_B": ""}), keys)
    if wide.empty:
        return wide
    wide = wide.rename(columns={"VARIABLE_A": "Group", "VARIABLE_B": "Category"})
    for column in ("Group", "Category"):
        if column in wide:
            wide[column] = wide[column].map(_text)
    if "Category" in wide:  # the group's own row ("All") first, then its categories
        wide = wide.assign(_all=wide["Category"] != "All").sort_values(["Group", "_all", "Category"],
                                                                      kind="mergesort").drop(columns="_all")
    else:
        wide = wide.sort_values("Group", kind="mergesort")
    return wide.reset_index(drop=True)


def notes_table(description: ReleaseDescription) -> pd.DataFrame:
    """The notes sheet: what the shorthand means and how the figures were made safe to publish."""
    notes = [
        ("note1", f"{SUPPRESSED_MARK} means the value is suppressed by disclosure control: a count under 5, or "
                  f"a figure based on fewer than 5 referrals. {description.disclosure_rule}"),
        ("note2", f"{MISSING_MARK} means the value is not available: it cannot be calculated (for example a "
                  "rate with no one in its denominator) or the source does not hold it."),
        ("note3", "Percentages are calculated from unrounded counts. Below England, counts are rounded to the "
                  "nearest 5 and percentages shown to a whole percent; England figures are shown in full, "
                  "percentages, means and medians to one decimal place."),
        ("note4", "Organisations recorded as UNKNOWN (referrals with no organisation of that level recorded) are "
                  "not listed in the tables by organisation."),
    ]
    if description.synthetic:
        notes.append(("note5", "These tables are built from synthetic data: every figure and organisation name is "
                               "fictional. They are not official statistics."))
    return pd.DataFrame(notes, columns=["Note number", "Note text"])


def write_reference_tables(table: pd.DataFrame, path: Path, description: ReleaseDescription) -> list[str]:
    """Write the workbook to ``path``; return the sheet names of its tables.

    The file is byte-identical for the same table and description: its created date is the
    release date, and XlsxWriter writes its zip members with a fixed timestamp.
    """
    from datetime import datetime

    import gptables as gpt

    tables = reference_tables(table)
    kind = "Monthly" if description.kind == "monthly" else "Annual"
    synthetic = " (synthetic data: not official statistics)" if description.synthetic else ""
    sheets = {}
    for sheet, (name, title, frame) in tables.items():
        notes = " $$note1$$" if (frame == SUPPRESSED_MARK).any().any() else ""
        sheets[sheet] = gpt.GPTable(
            table=frame, table_name=name, title=f"{title}, {description.period_words}{synthetic}",
            subtitles=[f"Values marked {SUPPRESSED_MARK} are suppressed and {MISSING_MARK} not available: see the "
                       f"notes sheet{notes}"],
            scope="NHS Talking Therapies for anxiety and depression, England",
            source=description.source, instructions="This worksheet contains one table.",
        )
    cover = gpt.Cover(
        title=f"NHS Talking Therapies, {kind} statistics, {description.period_words}: reference tables{synthetic}",
        intro=[f"Released {description.release_date:%d %B %Y}.",
               "The figures in these tables are those shown in the report, with NHS Digital's disclosure control "
               "applied. Each table is on its own worksheet; the contents sheet lists them and the notes sheet "
               "explains the shorthand used in place of values."],
        about=[description.source,
               "Statistics status: " + ("not official statistics: built from synthetic data, every figure is "
                                        "fictional." if description.synthetic else "official statistics."),
               "Shorthand: [c] suppressed by disclosure control; [x] not available."],
        contact=["NHS England: Talking Therapies statistics team"],
    )
    created = datetime(description.release_date.year, description.release_date.month, description.release_date.day)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gptables' advice about optional elements left out
        workbook = gpt.produce_workbook(
            filename=str(path), sheets=sheets, cover=cover, notes_table=notes_table(description),
            contentsheet_label="Contents", workbook_options={"strings_to_numbers": False},
        )
        workbook.set_properties({"title": f"NHS Talking Therapies reference tables, {description.period_words}",
                                 "author": "iapt-report", "created": created})
        workbook.close()
    return list(tables)
