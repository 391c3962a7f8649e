"""Key facts: the headline figures of the period, in a table and in words."""

from __future__ import annotations

import pandas as pd

from iapt_report.engine.disclosure import round_half_up
from iapt_report.report import narrative
from iapt_report.report.report_data import ReportData

from .activity import waits_from_breakdown
from .common import comparison, derived_percentage, number_from_text, period_name

# --- key facts --------------------------------------------------------------------------------

KEY_FACT_MEASURES = {
    "referrals_received": "M001",
    "entered_treatment": "M031",
    "ended_referrals": "M056",
    "finished_course": "M076",
    "mean_sessions": "M141",
    "waited_6_weeks_count": "M052",
    "waited_6_weeks_rate": "M053",
    "waited_18_weeks_rate": "M055",
    "recovery_rate": "M192",
    "reliable_improvement_rate": "M186",
    "reliable_recovery_rate": "M195",
    "deterioration_rate": "M1010",
    "internet_therapy_sessions": "M343",
    "first_integrated_contacts": "M271",
}

KEY_FACT_LABELS = {
    "M001": "referrals received", "M031": "referrals entering treatment", "M056": "ended referrals",
    "M076": "referrals finishing a course", "M141": "treatment sessions", "M053": "waits to enter treatment",
    "M192": "recovery", "M186": "reliable improvement", "M195": "reliable recovery",
    "M1010": "reliable deterioration", "M343": "internet-enabled therapy sessions", "M271": "integrated care contacts",
}

#: what the key-facts comparisons describe, in order: (measure, sentence template)
KEY_FACT_COMPARISONS = [
    ("M001", "{figure} referrals were received in {period}"),
    ("M031", "{figure} referrals entered treatment in {period}"),
    ("M076", "{figure} referrals finished a course of treatment in {period}"),
    ("M192", "The recovery rate was {figure} in {period}"),
]


def key_facts(data: ReportData) -> dict[str, str]:
    """The headline figures, as text, by name (for ``{{< var key_facts.NAME >}}``).

    Every name of :data:`KEY_FACT_MEASURES` is set: to the figure as written, or to "" when the
    measure is absent, suppressed or missing, so that the report leaves its line out (a
    suppressed value never sits in a sentence). ``not_in_source`` says in one line which
    figures the source does not hold ("" when none).
    """
    facts = {name: data.figure(mid) or "" for name, mid in KEY_FACT_MEASURES.items()}
    facts["period"] = period_name(data)
    bullets = any(facts[name] for name in KEY_FACT_MEASURES)
    facts["lead_in"] = f"In {facts['period']}:" if bullets else ""
    facts["none_published"] = "" if bullets else (
        f"No headline figure for {data.org_name} in {facts['period']} can be published: each rests on too few "
        "referrals to publish without risk of identifying people.")
    facts["organisation"] = data.org_name if data.national else f"{data.org_name} ({data.org})"
    facts["referrals_received_phrase"] = in_words(data, "M001") or ""
    entered_share = (derived_percentage(data, data.value("M031"), data.value("M001"))
                     if data.shown("M031") and data.shown("M001") else None)
    facts["entered_treatment_share_of_referrals"] = entered_share or ""
    held = {mid for mid in KEY_FACT_LABELS if data.has(mid)}
    if "M053" not in held:  # the annual tables give waits as a breakdown of finished courses
        waits = waits_from_breakdown(data)
        if waits is not None:
            facts["waited_6_weeks_rate"] = waits["within_6_weeks"] or ""
            facts["waited_18_weeks_rate"] = waits["within_18_weeks"] or ""
            held.add("M053")
    missing = list(dict.fromkeys(label for mid, label in KEY_FACT_LABELS.items() if mid not in held))
    facts["not_in_source"] = (f"The source for this report does not hold figures for {narrative.and_list(missing)}, "
                              "so they are left out." if missing and data.from_published_file else "")
    # only worth saying when there is an earlier period to compare with
    sentences = [comparison(data, mid, template, only_if_compared=True) for mid, template in KEY_FACT_COMPARISONS]
    facts["comparison_sentences"] = " ".join(s for s in sentences if s)
    return facts


def in_words(data: ReportData, measure_id: str) -> str | None:
    """A count as published, with millions in words: "1,439,957 (1.44 million)"; None when not published."""
    text = data.figure(measure_id)
    if text is None:
        return None
    value = number_from_text(data.published(measure_id))
    if value >= 1_000_000:
        return f"{text} ({round_half_up(value / 1_000_000, 2):.2f} million)"
    return text


def outcomes_sentence(data: ReportData, when: str) -> str | None:
    """"58,421 referrals finished a course of treatment in June 2021. Of those that started at
    caseness, 51.5% moved to recovery ..." from the published measures only; None if none is."""
    sentences = []
    finished = data.figure("M076")
    if finished:
        sentences.append(f"{finished} referrals finished a course of treatment in {when}.")
    recovery, reliable_recovery = data.figure("M192"), data.figure("M195")
    if recovery and reliable_recovery:
        sentences.append(f"Of those that started treatment at caseness, {recovery} moved to recovery and "
                         f"{reliable_recovery} reliably recovered.")
    elif recovery or reliable_recovery:
        sentences.append("Of those that started treatment at caseness, "
                         + (f"{recovery} moved to recovery." if recovery else f"{reliable_recovery} reliably recovered."))
    changes = [(data.figure(mid), words) for mid, words in (("M186", "showed reliable improvement"),
                                                            ("M1010", "showed reliable deterioration"))]
    changes = [f"{figure} {words}" for figure, words in changes if figure]
    if changes:
        sentences.append(f"Of all referrals that finished a course, {narrative.and_list(changes)}.")
    return " ".join(sentences) or None


def key_facts_table(data: ReportData) -> pd.DataFrame:
    labels = {
        "M001": "Referrals received",
        "M031": "Referrals that entered treatment",
        "M056": "Referrals that ended",
        "M076": "Referrals that finished a course of treatment",
        "M141": "Mean number of treatment sessions (finished a course)",
        "M053": "Finished a course: waited 6 weeks or less to enter treatment",
        "M055": "Finished a course: waited 18 weeks or less to enter treatment",
        "M192": "Recovery rate",
        "M186": "Reliable improvement rate",
        "M195": "Reliable recovery rate",
        "M1010": "Reliable deterioration rate",
        "M343": "Internet-enabled therapy sessions",
        "M271": "Referrals with a first integrated care contact",
    }
    rows = [(label, data.cell(mid)) for mid, label in labels.items() if data.has(mid)]
    # a figure that could not be calculated at all (e.g. a mean of no referrals) has no row
    return pd.DataFrame([r for r in rows if r[1] != ""], columns=["Measure", period_name(data)])
