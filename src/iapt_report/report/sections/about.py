"""About the statistics: what the data are, the publication's metadata and the notes that depend
on the source and period.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

from iapt_report.data.periods import Period
from iapt_report.reference import unverified_instruments
from iapt_report.report import narrative
from iapt_report.report.report_data import ReportData

from .common import period_name

# --- about the statistics ------------------------------------------------------------------------

COVID_MONTHS = (Period.parse("2020-03").start, Period.parse("2022-03").end)
#: when services began to submit a new version of the IAPT data set (a period that contains the
#: date says so)
DATASET_VERSIONS = [
    (Period.parse("2020-09").start, "services began to submit version 2.0 of the IAPT data set in September 2020"),
    (Period.parse("2022-04").start, "services began to submit version 2.1 of the IAPT data set in April 2022"),
]


def _release_date() -> str:
    """The date the report is produced: ``SOURCE_DATE_EPOCH`` when set (reproducible builds), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    day = datetime.fromtimestamp(int(epoch), tz=timezone.utc).date() if epoch.isdigit() else date.today()
    return f"{day.day} {narrative.month_name(day)}"


def instruments_note(unverified: list[dict]) -> str:
    """The note naming the outcome measures whose SNOMED CT code, range or thresholds could not be
    checked against a public source (rows of instruments.csv, see
    :func:`iapt_report.reference.unverified_instruments`); "" when there are none."""
    if not unverified:
        return ""
    names = narrative.and_list([row["description"] for row in unverified])
    return ("The SNOMED CT codes, score ranges or clinical thresholds of these outcome measures could not be "
            f"checked against a public source (the NHS Data Dictionary, NHS England's guidance or NHS Digital's "
            f"specifications): {names}. Caseness, recovery and reliable change for referrals measured on them "
            "may change when these are confirmed.")


def about_statements(data: ReportData, *, synthetic: bool, published_name: str | None) -> dict[str, str]:
    """What the report says about its data (``about.*`` variables): the source, the publication
    metadata (status, period, coverage, release, next release, contact) and the notes that
    depend on the source and period (COVID-19, data set versions, outcome measures not verified:
    figures computed here, not a published file's). A note that does not apply
    is "" (the report leaves its line out). Plain text: the report sources add any emphasis."""
    period = data.period
    when = period_name(data)
    start, end = period.start, period.end
    covered = (f"{start.day} {narrative.month_name(start)} to {end.day} {narrative.month_name(end)}")
    if data.national:
        coverage = "England: NHS-funded NHS Talking Therapies services for anxiety and depression"
    else:
        coverage = f"{data.org_name} ({data.org}), {narrative.level_name(data.group_type, period)}"
    following = narrative.period_name(narrative.next_period(period))
    if published_name is not None:
        headline = "Figures as published by NHS England (formerly NHS Digital)."
        statement = (f"Source: NHS Digital/NHS England published statistics, {published_name}. Figures are shown as "
                     "published, with NHS England's disclosure control; nothing is revised or re-estimated here.")
        status = "Official statistics published by NHS England, re-presented in this report"
        contact = ("NHS England (formerly NHS Digital), which publishes NHS Talking Therapies statistics, for "
                   "questions about the source figures")
    elif synthetic:
        headline = "These figures are built from synthetic data."
        statement = ("The records were generated to resemble NHS Talking Therapies activity; organisation names are "
                     "fictional. They are not official statistics and must not be quoted as such.")
        status = "Synthetic data: not official statistics"
        contact = "not applicable: a demonstration report built from synthetic data"
    else:
        headline = "Figures from the NHS Talking Therapies data set."
        statement = (f"Computed from record-level NHS Talking Therapies (IAPT) data for {when}, with NHS England's "
                     "measure definitions and disclosure control.")
        status = "Official statistics"
        contact = "The team that produced this report"
    covid = ""
    if period.start <= COVID_MONTHS[1] and period.end >= COVID_MONTHS[0]:
        covid = ("The COVID-19 pandemic affected NHS Talking Therapies from March 2020: referrals fell sharply in "
                 "the spring of 2020 and most appointments moved to telephone and video. Take care when comparing "
                 "figures for this period with earlier or later ones.")
        if synthetic:
            covid += " The synthetic data imitate the fall in referrals in spring 2020."
    versions = [words for day, words in DATASET_VERSIONS if period.start <= day <= period.end]
    dataset_note = ""
    if versions:
        dataset_note = (narrative.capitalise(narrative.and_list(versions)) + ": figures either side of a change of "
                        "version may not be fully comparable.")
    return {
        "data_headline": headline,
        "data_statement": statement,
        "status": status,
        "period_covered": covered,
        "coverage": coverage,
        "release_date": _release_date(),
        "next_release": f"Statistics for {following}",
        "contact": contact,
        "covid_note": covid,
        "dataset_note": dataset_note,
        "instruments_note": "" if published_name is not None else instruments_note(unverified_instruments()),
    }
