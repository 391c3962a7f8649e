"""Pathways: one row per referral with the derived fields NHS Digital's measures are built on.

The derivations follow the IAPT v2 warehouse fields (domain reference section 1.3); names are
NHS Digital's (``TherapySession_FirstDate``, ``CompletedTreatment_Flag`` ...) so each measure
reads like its published construction. The rules are written for statisticians, with the
reasons for each choice, in docs/definitions.md; keep the two in step. Everything is an Ibis expression, so the same code runs
on DuckDB (the default) or any other Ibis backend such as PySpark.

Rules taken from the code lists and instrument thresholds (reference/), not from constants here:

* attended contact: ``AttendOrDNACode`` in the attended codes, or an unplanned contact
  (``PlannedCareContIndicator = 'N'``);
* only contacts, logs and scores between the referral date and the discharge date (inclusive)
  belong to the pathway; follow-up appointments after discharge are therefore never sessions;
* a treatment session is an attended contact whose ``AppType`` is a treatment type, or a
  completed internet-enabled therapy log (dated by its end date);
* finished a course of treatment: the referral ended with at least two treatment sessions;
* outcomes use PHQ-9 and one anxiety measure: the anxiety disorder specific measure (ADSM)
  for the problem descriptor when it was recorded first and last, otherwise GAD-7;
* an instrument's last score exists only when it was recorded at least twice ("paired");
  same-day scores are ordered by record number, then score (:func:`score_order`);
* caseness, recovery and reliable change need both measures paired. Referrals without paired
  scores are neither at caseness nor not at caseness, so they stay in the recovery
  denominator (finished - not at caseness), as NHS Digital's published counts imply;
* reliable change categories are exclusive: improvement = a reliable fall on either measure
  and no reliable rise on the other; deterioration = a reliable rise on either measure
  (including a mixed picture); no reliable change otherwise.
"""

from __future__ import annotations

import ibis
from ibis import _

from iapt_report.reference import code_lists, instruments, wsas_items

from .pathways_intervals import with_session_intervals
from .pathways_v21 import v21_summaries

PATHWAY_KEY = "PathwayID"


def derive_pathways(tables: dict[str, ibis.Table]) -> ibis.Table:
    """One row per ``IDS101Referral`` pathway with its derived fields, demographics and geography."""
    rules = code_lists()
    referrals = tables["IDS101Referral"]
    spans = referrals.select(PATHWAY_KEY, "ReferralRequestReceivedDate", "ServDischDate")

    contacts = attended_contacts_in_span(tables["IDS201CareContact"], spans)
    sessions = treatment_sessions(contacts, tables["IDS205InternetTherLog"], spans)

    pathways = referrals.select(
        PATHWAY_KEY,
        "ServiceRequestId",
        "RecordNumber",
        "OrgID_Provider",
        "OrgIDComm",
        "ReferralRequestReceivedDate",
        SourceOfReferral=_.SourceOfReferralIAPT.strip().upper(),
        ServDischDate=_.ServDischDate,
        EndCode=_.EndCode.strip(),
    )
    pathways = _left_join(pathways, _contact_summary(contacts, rules))
    pathways = _left_join(pathways, _session_summary(sessions))
    pathways = _left_join(pathways, chosen_problem_descriptor(tables["IDS603PresentingComplaints"]))
    pathways = _left_join(pathways, first_and_last_scores(tables["IDS606CodedScoreAssessmentRefer"], spans))
    pathways = _left_join(pathways, first_and_last_scores(tables["IDS606CodedScoreAssessmentRefer"], spans, wsas_items()))
    pathways = pathways.mutate(
        CareContact_Count=_.CareContact_Count.fill_null(0),
        TreatmentCareContact_Count=_.TreatmentCareContact_Count.fill_null(0),
    )
    pathways = pathways.mutate(
        CompletedTreatment_Flag=_.ServDischDate.notnull() & (_.TreatmentCareContact_Count >= 2),
        WaitFirstAssessment_Days=_.Assessment_FirstDate.delta(_.ReferralRequestReceivedDate, unit="day"),
        WaitFirstTreatment_Days=_.TherapySession_FirstDate.delta(_.ReferralRequestReceivedDate, unit="day"),
        WaitFirstToSecondTreatment_Days=_.TherapySession_SecondDate.delta(
            _.TherapySession_FirstDate, unit="day"
        ),
    )
    pathways = with_session_intervals(_with_outcomes(pathways))
    for summary in v21_summaries(tables):  # fields from the optional v2.1 tables the dataset has
        pathways = _left_join(pathways, summary)
    pathways = _with_demographics(pathways, tables["IDS001MPI"])
    return _with_geography(pathways, tables["OrgSubICB"], tables["OrgProvider"])


# --- contacts and sessions ------------------------------------------------------------------

def _in_span(date_col, spans_row) -> ibis.expr.types.BooleanValue:
    return (date_col >= spans_row.ReferralRequestReceivedDate) & (
        spans_row.ServDischDate.isnull() | (date_col <= spans_row.ServDischDate)
    )


def is_attended(contacts: ibis.Table) -> ibis.expr.types.BooleanValue:
    """The attended rule used by every measure: attended codes, or an unplanned contact."""
    rules = code_lists()
    return (
        contacts.AttendOrDNACode.isin(rules["attended_codes"]).fill_null(False)
        | (contacts.PlannedCareContIndicator == "N").fill_null(False)
    )


def attended_contacts_in_span(contacts: ibis.Table, spans: ibis.Table) -> ibis.Table:
    """Attended care contacts dated within their referral's span."""
    joined = contacts.join(spans, PATHWAY_KEY)
    return joined.filter(is_attended(joined), _in_span(joined.CareContDate, joined)).select(
        PATHWAY_KEY, "CareContDate", "AppType", "IAPTLTCServiceInd"
    )


def treatment_sessions(contacts: ibis.Table, internet_logs: ibis.Table, spans: ibis.Table) -> ibis.Table:
    """Every treatment session of a pathway: attended treatment contacts and, by rule, IET logs."""
    rules = code_lists()
    sessions = contacts.filter(_.AppType.isin(rules["treatment_app_types"])).select(
        PATHWAY_KEY, SessionDate=_.CareContDate
    )
    if rules["internet_therapy_logs_are_treatment_sessions"]:
        logs = internet_logs.join(spans, PATHWAY_KEY)
        logs = logs.filter(_in_span(logs.EndDateIntEnabledTherLog, logs)).select(
            PATHWAY_KEY, SessionDate=_.EndDateIntEnabledTherLog
        )
        sessions = sessions.union(logs, distinct=False)
    return sessions


def _contact_summary(contacts: ibis.Table, rules: dict) -> ibis.Table:
    is_assessment = contacts.AppType.isin(rules["assessment_app_types"])
    is_treatment = contacts.AppType.isin(rules["treatment_app_types"])
    is_integrated = (contacts.IAPTLTCServiceInd == "Y").fill_null(False)
    return contacts.group_by(PATHWAY_KEY).aggregate(
        CareContact_Count=contacts.count(),
        Assessment_FirstDate=contacts.CareContDate.min(where=is_assessment),
        IntegratedContact_FirstDate=contacts.CareContDate.min(where=is_integrated),
        IntegratedTreatment_FirstDate=contacts.CareContDate.min(where=is_integrated & is_treatment),
    )


def _session_summary(sessions: ibis.Table) -> ibis.Table:
    order = ibis.row_number().over(group_by=PATHWAY_KEY, order_by=sessions.SessionDate)
    ranked = sessions.mutate(session_number=order)
    return ranked.group_by(PATHWAY_KEY).aggregate(
        TherapySession_FirstDate=ranked.SessionDate.min(),
        TherapySession_SecondDate=ranked.SessionDate.min(where=ranked.session_number == 1),
        TherapySession_LastDate=ranked.SessionDate.max(),
        TreatmentCareContact_Count=ranked.count(),
    )


# --- problem descriptor ---------------------------------------------------------------------

def _prefix_cases(code, mapping: list, value_index: int, default):
    branches = [(code.startswith(str(row[0])), row[value_index]) for row in mapping]
    return ibis.cases(*branches, else_=default)


def chosen_problem_descriptor(complaints: ibis.Table) -> ibis.Table:
    """One presenting complaint per pathway, chosen as NHS Digital does (metadata M203).

    Order: a valid code first, primary before secondary, latest date, highest UniqueID_IDS603.
    """
    rules = code_lists()
    code = complaints.PresComp.strip()
    valid = code.notnull() & (code != "") & (code != "-3")
    ranked = complaints.mutate(
        code=code,
        valid=valid.fill_null(False),
        rank=ibis.row_number().over(
            group_by=PATHWAY_KEY,
            order_by=[
                ibis.desc(valid.fill_null(False)),
                ibis.asc(complaints.PresCompCodSig, nulls_first=False),
                ibis.desc(complaints.PresCompDate, nulls_first=False),
                ibis.desc(complaints.UniqueID_IDS603),
            ],
        ),
    )
    chosen = ranked.filter(_.rank == 0)
    presenting = ibis.ifelse(chosen.valid, chosen.code, ibis.null(str))
    groups = rules["problem_descriptor_groups"]
    adsm_map = rules["adsm_for_problem_descriptor"]
    return chosen.select(
        PATHWAY_KEY,
        PresentingComplaint=presenting,
        ProblemDescriptor=ibis.ifelse(
            chosen.valid,
            _prefix_cases(chosen.code, groups, 1, rules["problem_descriptor_other_label"]),
            rules["problem_descriptor_not_stated_label"],
        ),
        ProblemDescriptorDetail=ibis.ifelse(
            chosen.valid, _prefix_cases(chosen.code, groups, 2, ""), rules["problem_descriptor_not_stated_label"]
        ),
        ADSM=ibis.ifelse(chosen.valid, _prefix_cases(chosen.code, adsm_map, 1, ibis.null(str)), ibis.null(str)),
    )


# --- scores and outcomes --------------------------------------------------------------------

def first_and_last_scores(scores: ibis.Table, spans: ibis.Table, known: dict | None = None) -> ibis.Table:
    """``<Instrument>_FirstScore`` and ``_LastScore`` per pathway; the last only when paired.

    ``known``: the instruments by name with their ``snomed_code`` (default: the outcome
    instruments of reference/instruments.csv; the WSAS items of wsas_items.csv are another set).

    Scores are put in order by :func:`score_order` (date, then the record number the ID ends
    with, then the score; docs/definitions.md says why). Each is one aggregate per pathway and
    instrument (the score of the row that sorts first, or last) rather than a ranking of every
    score, which over a national year's scores took most of the derivation's time.
    """
    known = instruments() if known is None else known
    instrument = ibis.cases(
        *[(scores.CodedAssToolType.strip() == row["snomed_code"], name) for name, row in known.items()],
        else_=ibis.null(str),
    )
    joined = scores.mutate(instrument=instrument).join(spans, PATHWAY_KEY)
    joined = joined.filter(joined.instrument.notnull(), _in_span(joined.AssToolCompDate, joined))
    recorded = score_order(joined)
    per_instrument = joined.group_by([PATHWAY_KEY, "instrument"]).aggregate(
        first_score=joined.PersScore.argmin(recorded),
        last_score=joined.PersScore.argmax(recorded),
        times_recorded=joined.count(),
    )
    aggregates = {}
    for name in known:
        column = _score_prefix(name)
        this = per_instrument.instrument == name
        aggregates[f"{column}_FirstScore"] = per_instrument.first_score.max(where=this)
        aggregates[f"{column}_LastScore"] = per_instrument.last_score.max(
            where=this & (per_instrument.times_recorded >= 2)
        )
    return per_instrument.group_by(PATHWAY_KEY).aggregate(**aggregates)


def score_order(scores: ibis.Table) -> ibis.expr.types.StructValue:
    """The order of a pathway's scores of one instrument: first sorts lowest, last highest.

    1. ``AssToolCompDate`` (recorded to the day; IDS606 carries no time and no care contact);
    2. the record number: the whole number the ``UniqueID_IDS606`` ends with (all of it when
       the ID is a number, as the warehouse's is), compared as a number, so record 9 comes
       before record 10 and ``S9`` before ``S10``; an ID with no digits counts as 0;
    3. the score, lower first: when two scores of a day cannot be told apart by their record
       numbers, the first score of a pathway is the lowest of its first day and the last score
       the highest of its last day, so a tie never makes an improvement or a recovery;
    4. the ID's text, only so that the pick is repeatable: rows equal on 1-3 have the same score,
       so the result does not depend on it.

    Only whole-number text functions are used (a regular expression and lengths), which DuckDB
    and Spark both run; numbers of any length are compared without conversion (leading zeros
    removed, shorter is smaller, then digit by digit).
    """
    digits = scores.UniqueID_IDS606.re_extract(r"([0-9]+)$", 1).fill_null("")
    number = digits.re_replace(r"^0+", "")
    return ibis.struct({
        "date": scores.AssToolCompDate,
        "number_length": number.length(),
        "number": number,
        "score": scores.PersScore,
        "id": scores.UniqueID_IDS606,
    })


def _score_prefix(instrument: str) -> str:
    # NHS Digital's field names: PHQ9_FirstScore, GAD_FirstScore, AgoraAlone_FirstScore ...
    return "GAD" if instrument == "GAD7" else instrument


def _at_caseness(score, instrument_name) -> ibis.expr.types.BooleanValue:
    """Whether a score (of the instrument named in ``instrument_name``) is at caseness."""
    branches = []
    for name, row in instruments().items():
        threshold = row["caseness_threshold"]
        above = score > threshold if row["caseness_operator"] == "gt" else score >= threshold
        branches.append((instrument_name == name, above))
    return ibis.cases(*branches, else_=ibis.null(bool))


def _reliable_change(instrument_name):
    return ibis.cases(
        *[(instrument_name == name, row["reliable_change"]) for name, row in instruments().items()],
        else_=ibis.null(float),
    )


def _with_outcomes(p: ibis.Table) -> ibis.Table:
    known = instruments()
    adsm_names = [name for name in known if name not in ("PHQ9", "GAD7")]
    adsm_first = ibis.cases(*[(p.ADSM == n, p[f"{n}_FirstScore"]) for n in adsm_names], else_=ibis.null(float))
    adsm_last = ibis.cases(*[(p.ADSM == n, p[f"{n}_LastScore"]) for n in adsm_names], else_=ibis.null(float))
    p = p.mutate(ADSM_FirstScore=adsm_first, ADSM_LastScore=adsm_last)
    use_adsm = p.ADSM_FirstScore.notnull() & p.ADSM_LastScore.notnull()
    p = p.mutate(
        AnxietyMeasure=ibis.ifelse(use_adsm, p.ADSM, "GAD7"),
        Anxiety_FirstScore=ibis.ifelse(use_adsm, p.ADSM_FirstScore, p.GAD_FirstScore),
        Anxiety_LastScore=ibis.ifelse(use_adsm, p.ADSM_LastScore, p.GAD_LastScore),
    )
    phq, phq_name = known["PHQ9"], ibis.literal("PHQ9")
    paired = (
        p.PHQ9_FirstScore.notnull()
        & p.PHQ9_LastScore.notnull()
        & p.Anxiety_FirstScore.notnull()
        & p.Anxiety_LastScore.notnull()
    )
    first_at_caseness = _at_caseness(p.PHQ9_FirstScore, phq_name) | _at_caseness(p.Anxiety_FirstScore, p.AnxietyMeasure)
    last_at_caseness = _at_caseness(p.PHQ9_LastScore, phq_name) | _at_caseness(p.Anxiety_LastScore, p.AnxietyMeasure)
    anxiety_change = _reliable_change(p.AnxietyMeasure)
    improved = ((p.PHQ9_FirstScore - p.PHQ9_LastScore) >= phq["reliable_change"]) | (
        (p.Anxiety_FirstScore - p.Anxiety_LastScore) >= anxiety_change
    )
    worsened = ((p.PHQ9_LastScore - p.PHQ9_FirstScore) >= phq["reliable_change"]) | (
        (p.Anxiety_LastScore - p.Anxiety_FirstScore) >= anxiety_change
    )
    p = p.mutate(
        PairedScores_Flag=paired.fill_null(False),
        Caseness_Flag=(paired & first_at_caseness).fill_null(False),
        NotCaseness_Flag=(paired & ~first_at_caseness).fill_null(False),
        _last_at_caseness=last_at_caseness,
        ReliableImprovement_Flag=(paired & improved & ~worsened).fill_null(False),
        ReliableDeterioration_Flag=(paired & worsened).fill_null(False),
        NoChange_Flag=(paired & ~improved & ~worsened).fill_null(False),
    )
    p = p.mutate(Recovery_Flag=(p.Caseness_Flag & ~p._last_at_caseness).fill_null(False))
    p = p.mutate(ReliableRecovery_Flag=p.Recovery_Flag & p.ReliableImprovement_Flag)
    return p.drop("_last_at_caseness")


# --- demographics and geography -------------------------------------------------------------

def _with_demographics(p: ibis.Table, patients: ibis.Table) -> ibis.Table:
    patients = patients.select(
        "RecordNumber", "PersonBirthDate", "Gender", "GenderIdentity", "EthnicCategory", "IndicesOfDeprivationDecile"
    )
    return _left_join(p, patients, key="RecordNumber")


def _with_geography(p: ibis.Table, sub_icbs: ibis.Table, providers: ibis.Table) -> ibis.Table:
    p = _left_join(p, sub_icbs, key="OrgIDComm")
    return _left_join(p, providers, key="OrgID_Provider")


def _left_join(left: ibis.Table, right: ibis.Table, key: str = PATHWAY_KEY) -> ibis.Table:
    """Left join on ``key`` keeping the left table's key column only."""
    right = right.rename({f"__{key}": key})
    joined = left.left_join(right, left[key] == right[f"__{key}"])
    return joined.drop(f"__{key}")
