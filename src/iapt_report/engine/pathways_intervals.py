"""Derived fields of a pathway's treatment sessions beyond engine/pathways.py's: the days
between its first and last session and the number of gaps between sessions, for the mean
interval between treatment sessions (M351: sum of days first to last / sum of gaps)."""

from __future__ import annotations

import ibis


def with_session_intervals(p: ibis.Table) -> ibis.Table:
    """``TherapySession_FirstToLast_Days`` (empty without a session) and ``TreatmentSessionGaps_Count``
    (sessions minus one; 0 without a session) added to the pathways."""
    return p.mutate(
        TherapySession_FirstToLast_Days=p.TherapySession_LastDate.delta(p.TherapySession_FirstDate, unit="day"),
        TreatmentSessionGaps_Count=ibis.greatest(p.TreatmentCareContact_Count - 1, 0),
    )
