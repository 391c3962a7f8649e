"""Snapshots: the pathways open at the end of a period, as they stood on its last day.

A cohort ``at: period_end`` (reference/measures.yaml) counts the referrals open at the end of
the period: received (its ``event``) on or before the last day, and not discharged (its
``until``, ``ServDischDate``) by then: empty, or after the last day. A referral discharged on
the last day is closed at the end of the period; one received on the last day is open.

Everything dated after the period end has not happened yet at the snapshot. So the fields a
pathway's contacts, treatment sessions and internet therapy logs give (:data:`AS_AT_END`: first
assessment, first, second and last treatment session, the counts of contacts and sessions) are
derived again from the events dated on or before the end, and the ``until`` date is emptied: a
referral whose first treatment came after the period end was still waiting at the end of it,
and its last session at the end is the last one on or before it. Other fields (demographics,
geography, the presenting complaint) are as recorded; fields that rest on the whole referral
(waits, outcome flags, scores) are not recomputed, so snapshot measures' conditions use the
fields above and days before the period end (``days_to_period_end``).
"""

from __future__ import annotations

from datetime import date

import ibis

from iapt_report.reference import code_lists

from .pathways import (
    PATHWAY_KEY,
    _contact_summary,
    _left_join,
    _session_summary,
    attended_contacts_in_span,
    treatment_sessions,
)
from .registry import Cohort

#: The column of a snapshot's rows that holds its period end (what ``days_to_period_end`` counts to).
PERIOD_END = "__period_end"

#: The pathway fields a snapshot reads as they stood at the period end (counts are 0 without events).
AS_AT_END = {
    "Assessment_FirstDate": None,
    "IntegratedContact_FirstDate": None,
    "IntegratedTreatment_FirstDate": None,
    "CareContact_Count": 0,
    "TherapySession_FirstDate": None,
    "TherapySession_SecondDate": None,
    "TherapySession_LastDate": None,
    "TreatmentCareContact_Count": 0,
}


def open_at_end(pathways: ibis.Table, cohort: Cohort, end: date) -> ibis.Table:
    """The pathways of ``pathways`` open at ``end`` (see the module docstring); a filter only."""
    end_day = ibis.literal(end)
    started = pathways[cohort.event] <= end_day
    not_ended = pathways[cohort.until].isnull() | (pathways[cohort.until] > end_day)
    return pathways.filter(started.fill_null(False), not_ended.fill_null(False))


def snapshot_rows(pathways: ibis.Table, tables: dict[str, ibis.Table], cohort: Cohort, end: date) -> ibis.Table:
    """The pathways open at ``end`` with the :data:`AS_AT_END` fields they have as at ``end``, ``until``
    empty and ``end`` in :data:`PERIOD_END`.

    ``pathways``: the engine's pathways (any of their columns, with or without breakdown
    labels); the fields of :data:`AS_AT_END` it holds are replaced, the others kept.
    """
    rows = open_at_end(pathways, cohort, end)
    replaced = [c for c in AS_AT_END if c in rows.columns]
    if replaced:
        at_end = _events_as_at(tables, rows.select(PATHWAY_KEY), end).select(PATHWAY_KEY, *replaced)
        rows = _left_join(rows.drop(*replaced), at_end)
        fills = {c: rows[c].fill_null(AS_AT_END[c]) for c in replaced if AS_AT_END[c] is not None}
        if fills:
            rows = rows.mutate(**fills)
    until = str(cohort.until)  # a snapshot cohort has one (registry)
    return rows.mutate(**{until: ibis.null(rows[until].type()),
                          PERIOD_END: ibis.literal(end).cast(rows[cohort.event].type())})


def _events_as_at(tables: dict[str, ibis.Table], open_pathways: ibis.Table, end: date) -> ibis.Table:
    """The contact and session summaries of the open pathways from their events dated on or before ``end``."""
    end_day = ibis.literal(end)
    referrals = tables["IDS101Referral"]
    spans = referrals.select(PATHWAY_KEY, "ReferralRequestReceivedDate", "ServDischDate").semi_join(
        open_pathways, PATHWAY_KEY
    )
    contacts = tables["IDS201CareContact"]
    contacts = attended_contacts_in_span(contacts.filter(contacts.CareContDate <= end_day), spans)
    logs = tables["IDS205InternetTherLog"]
    logs = logs.filter(logs.EndDateIntEnabledTherLog <= end_day)
    sessions = treatment_sessions(contacts, logs, spans)
    joined = _left_join(spans.select(PATHWAY_KEY), _contact_summary(contacts, code_lists()))
    return _left_join(joined, _session_summary(sessions))
