"""Pathway fields derived from the optional IAPT v2.1 tables, for the measures that require them.

Each summary is keyed by PathwayID and joined to the pathways by :func:`pathways.derive_pathways`;
a table the dataset lacks gives no summary (its measures are not computable: registry ``requires``).

Employment status (``IDS004EmpStatus``) describes the patient: a referral's records are the
patient's (joined on RecordNumber, as NHS Digital's constructions link the tables "on
Person_ID") recorded from the referral's receipt to its discharge (to any date while it is
open), first and last ordered by EmployStatusRecDate, then UniqueID_IDS004, as EA276's
construction orders them. NHS Digital does not publish the derivation of
SickpayIndicator_First/_Last (I101D17/18); here they are the statutory sick pay indicator
(SSPInd) of the first and last of those records.
"""

from __future__ import annotations

import ibis

PATHWAY_KEY = "PathwayID"


def v21_summaries(tables: dict[str, ibis.Table]) -> list[ibis.Table]:
    """The summaries of the v2.1 tables present in ``tables`` (one row per pathway that has records)."""
    summaries = []
    if "IDS004EmpStatus" in tables:
        summaries.append(employment_first_and_last(tables["IDS004EmpStatus"], tables["IDS101Referral"]))
    return summaries


def employment_first_and_last(status: ibis.Table, referrals: ibis.Table) -> ibis.Table:
    """EmploymentStatus_First/_Last, SickAbsenceInd_First/_Last and SickpayIndicator_First/_Last of each pathway."""
    spans = referrals.select(PATHWAY_KEY, "RecordNumber", "ReferralRequestReceivedDate", "ServDischDate")
    records = status.select(
        "RecordNumber", "UniqueID_IDS004", "EmployStatusRecDate",
        EmployStatus=status.EmployStatus.strip(),
        SickAbsenceInd=status.SickAbsenceInd.strip().upper(),
        SSPInd=status.SSPInd.strip().upper(),
    )
    joined = spans.join(records, "RecordNumber")
    joined = joined.filter(
        joined.EmployStatusRecDate >= joined.ReferralRequestReceivedDate,
        joined.ServDischDate.isnull() | (joined.EmployStatusRecDate <= joined.ServDischDate),
    )
    first = ibis.window(group_by=PATHWAY_KEY, order_by=[joined.EmployStatusRecDate, joined.UniqueID_IDS004])
    last = ibis.window(group_by=PATHWAY_KEY,
                       order_by=[ibis.desc(joined.EmployStatusRecDate), ibis.desc(joined.UniqueID_IDS004)])
    ranked = joined.mutate(_first=ibis.row_number().over(first), _last=ibis.row_number().over(last))
    fields = {"EmploymentStatus": ranked.EmployStatus, "SickAbsenceInd": ranked.SickAbsenceInd,
              "SickpayIndicator": ranked.SSPInd}
    aggregates = {}
    for name, value in fields.items():
        aggregates[f"{name}_First"] = value.max(where=ranked._first == 0)
        aggregates[f"{name}_Last"] = value.max(where=ranked._last == 0)
    return ranked.group_by(PATHWAY_KEY).aggregate(**aggregates)
