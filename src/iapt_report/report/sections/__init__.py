"""The content of each report section, computed from ``ReportData``.

Each function returns plain values and tidy tables: the published figures as text (disclosure
control already applied by ``ReportData``), and the numbers a chart may plot. The section
notebooks call these, draw the charts and hand everything to the report; the wording of
sentences is in :mod:`iapt_report.report.narrative`.

Conventions every section keeps:

* a sentence holds only published figures (``ReportData.figure`` is None for a suppressed or
  missing one, and the sentence is rewritten or left out);
* a table cell shows ``*`` for a suppressed figure (explained under the table by
  :data:`SUPPRESSED_LEGEND`) and is empty where a figure is not published at all;
* a percentage derived here is computed from unrounded counts, or not at all.

One module a section (:mod:`.key_facts`, :mod:`.activity`, :mod:`.outcomes`, :mod:`.variation`,
:mod:`.demographics` for demographics and ethnicity, :mod:`.about`), and :mod:`.common` for what
they share. Notebooks use the names below: ``from iapt_report.report import sections``, then
``sections.key_facts(data)``.
"""

from .about import COVID_MONTHS, DATASET_VERSIONS, about_statements
from .activity import (
    WAIT_BANDS,
    WAIT_BREAKDOWN,
    WAIT_BREAKDOWN_BANDS,
    ended_by_reason,
    referral_sources,
    waits_from_breakdown,
    waits_to_treatment,
)
from .common import (
    SUPPRESSED_LEGEND,
    UNKNOWN_ORG_CODES,
    caption,
    comparison,
    derived_count,
    derived_count_cell,
    derived_percentage,
    derived_percentage_cell,
    describe_series,
    number_from_text,
    period_name,
    rate_as_text,
    series,
    trend,
)
from .demographics import (
    CENSUS_NOTE,
    DEPRIVATION,
    ETHNICITY_ACTIVITIES,
    BreakdownActivity,
    breakdown_activity,
    breakdown_counts,
    census_rates,
    deprivation_table,
    in_age_order,
    shares,
)
from .key_facts import (
    KEY_FACT_COMPARISONS,
    KEY_FACT_LABELS,
    KEY_FACT_MEASURES,
    in_words,
    key_facts,
    key_facts_table,
    outcomes_sentence,
)
from .outcomes import (
    GROUP_ROW_LABELS,
    OUTCOME_COLUMNS,
    OUTCOME_MEASURES,
    format_for_text_or_empty,
    outcome_categories,
    outcomes_by,
    outcomes_table,
)
from .variation import VARIATION_COLUMNS, recovery_by_organisation, spread_sentence, unassigned_finished

__all__ = [
    "BreakdownActivity", "CENSUS_NOTE", "COVID_MONTHS", "DATASET_VERSIONS", "DEPRIVATION",
    "ETHNICITY_ACTIVITIES", "GROUP_ROW_LABELS", "KEY_FACT_COMPARISONS", "KEY_FACT_LABELS", "KEY_FACT_MEASURES",
    "OUTCOME_COLUMNS", "OUTCOME_MEASURES", "SUPPRESSED_LEGEND", "UNKNOWN_ORG_CODES", "VARIATION_COLUMNS",
    "WAIT_BANDS", "WAIT_BREAKDOWN", "WAIT_BREAKDOWN_BANDS", "about_statements", "breakdown_activity",
    "breakdown_counts", "caption", "census_rates", "comparison", "deprivation_table", "derived_count",
    "derived_count_cell", "derived_percentage", "derived_percentage_cell", "describe_series", "ended_by_reason",
    "format_for_text_or_empty", "in_age_order", "in_words", "key_facts", "key_facts_table", "number_from_text",
    "outcome_categories", "outcomes_by", "outcomes_sentence", "outcomes_table", "period_name", "rate_as_text",
    "recovery_by_organisation", "referral_sources", "series", "shares", "spread_sentence", "trend",
    "unassigned_finished", "waits_from_breakdown", "waits_to_treatment",
]
