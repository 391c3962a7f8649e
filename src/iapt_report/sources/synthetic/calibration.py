"""The calibration figures recomputed from the synthetic tables in plain pandas, so the generator
can be checked against NHS Digital's published figures without the measure engine.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from iapt_report.reference import code_lists, instruments

from .draws import _as_date
from .referrals import _adsm_instruments


def calibration_figures(tables: dict[str, pd.DataFrame], start: date, end: date) -> dict[str, float]:
    """The calibration figures for the period ``start``..``end`` (inclusive), in plain pandas.

    Definitions (NHS Digital's, as in the domain reference section 2, simplified where noted):

    * attended contact: AttendOrDNACode 5 or 6 after removing spaces and leading zeros, or
      PlannedCareContIndicator 'N' (unplanned);
    * treatment session: an attended contact with AppType 02, 03 or 05, or an IDS205 log dated
      by EndDateIntEnabledTherLog; only sessions from the referral date to the discharge date
      (inclusive; open referrals: no upper bound) belong to the pathway;
    * ``referrals_received``: ReferralRequestReceivedDate in the period (M001);
    * ``entered_treatment``: first treatment session in the period (M031);
    * ``finished_course``: ServDischDate in the period and at least two treatment sessions (M076);
    * ``mean_sessions_finished``: mean treatment sessions of those finishing (M141);
    * ``pct_finished_waited_6_weeks``: % of those finishing whose first treatment was at most
      42 days after referral (M053);
    * ``recovery_rate``: recovered / (finished - not at caseness) x 100 (M192), where the
      scores are those dated within the pathway; an instrument is paired when recorded at
      least twice (first and last by date, then by UniqueID_IDS606, whose text order is its
      record order here: docs/definitions.md); the anxiety measure is
      the ADSM of the chosen problem descriptor when it is paired, else GAD-7; a finisher is
      *not at caseness* when PHQ-9 and anxiety are both paired and neither first score is at
      caseness, and *recovered* when both are paired, a first score is at caseness and neither
      last score is; unpaired finishers stay in the denominator;
    * ``internet_therapy_sessions``: IDS205 logs with EndDateIntEnabledTherLog in the period (M343);
    * ``referrals_with_integrated_contact``: distinct referrals with at least one attended
      contact with IAPTLTCServiceInd 'Y' dated in the period (any AppType). This is our
      reading of the published figure: counting only referrals whose *first* integrated
      contact falls in the period (M271) gives under half of it;
    * also, not calibrated but reported: ``pct_reliable_improvement`` and
      ``pct_reliable_deterioration`` (of finished, M186/M1010), ``pct_not_at_caseness`` (of
      finished, M180), ``pct_dna`` (appointments in the period with code 3, M084/M082) and
      ``pct_first_to_second_over_28_days`` (second sessions in the period, M046/M184).
    """
    start, end = pd.Timestamp(_as_date(start)), pd.Timestamp(_as_date(end))

    def in_period(dates: pd.Series) -> pd.Series:
        return (dates >= start) & (dates <= end)

    referrals = tables["IDS101Referral"]
    ids = pd.Index(referrals["PathwayID"])
    received = referrals["ReferralRequestReceivedDate"].to_numpy()
    discharged = referrals["ServDischDate"].to_numpy()

    def within_pathway(pathway: pd.Series, dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Each row's referral position, and whether its date falls within that referral."""
        index = ids.get_indexer(pathway)
        safe = np.maximum(index, 0)
        when = dates.to_numpy()
        limit = discharged[safe]
        ok = (index >= 0) & (when >= received[safe]) & (np.isnat(limit) | (when <= limit))
        return index, ok

    contacts = tables["IDS201CareContact"]
    code = contacts["AttendOrDNACode"].str.strip().str.lstrip("0")
    attended = (code.isin(["5", "6"]) | (contacts["PlannedCareContIndicator"] == "N")).fillna(False).to_numpy(bool)
    treatment = contacts["AppType"].isin(["02", "03", "05"]).to_numpy(bool)
    session_contacts = contacts[attended & treatment]
    logs = tables["IDS205InternetTherLog"]
    c_index, c_ok = within_pathway(session_contacts["PathwayID"], session_contacts["CareContDate"])
    l_index, l_ok = within_pathway(logs["PathwayID"], logs["EndDateIntEnabledTherLog"])
    sessions = pd.DataFrame({
        "index": np.concatenate([c_index[c_ok], l_index[l_ok]]),
        "when": np.concatenate([session_contacts["CareContDate"].to_numpy()[c_ok],
                                logs["EndDateIntEnabledTherLog"].to_numpy()[l_ok]]),
    }).sort_values(["index", "when"])
    per_pathway = sessions.groupby("index")["when"]
    n_sessions = np.zeros(len(referrals), dtype=np.int64)
    counts = per_pathway.size()
    n_sessions[counts.index.to_numpy()] = counts.to_numpy()
    first_session = pd.Series(pd.NaT, index=range(len(referrals)), dtype="datetime64[ms]")
    first_session.iloc[counts.index.to_numpy()] = per_pathway.min().to_numpy()
    second = sessions.groupby("index").nth(1)
    second_session = pd.Series(pd.NaT, index=range(len(referrals)), dtype="datetime64[ms]")
    second_session.iloc[second["index"].to_numpy()] = second["when"].to_numpy()

    finished = (in_period(referrals["ServDischDate"]) & (n_sessions >= 2)).to_numpy(bool)
    wait = (first_session.to_numpy() - received) / np.timedelta64(1, "D")
    outcomes = _outcomes(tables, ids, within_pathway)
    n_finished = finished.sum()
    not_caseness = (outcomes["not_at_caseness"] & finished).sum()
    entered_second = in_period(second_session).to_numpy(bool)
    first_to_second = (second_session - first_session).dt.days.to_numpy()

    appointments = contacts[in_period(contacts["CareContDate"]).to_numpy(bool)]
    integrated = (attended & (contacts["IAPTLTCServiceInd"] == "Y").fillna(False).to_numpy(bool)
                  & in_period(contacts["CareContDate"]).to_numpy(bool))

    def pct(numerator, denominator) -> float:
        return float(100 * numerator / denominator) if denominator else float("nan")

    return {
        "referrals_received": float(in_period(referrals["ReferralRequestReceivedDate"]).sum()),
        "entered_treatment": float(in_period(first_session).sum()),
        "finished_course": float(n_finished),
        "mean_sessions_finished": float(n_sessions[finished].mean()) if n_finished else float("nan"),
        "pct_finished_waited_6_weeks": pct((wait[finished] <= 42).sum(), n_finished),
        "recovery_rate": pct((outcomes["recovered"] & finished).sum(), n_finished - not_caseness),
        "internet_therapy_sessions": float(in_period(logs["EndDateIntEnabledTherLog"]).sum()),
        "referrals_with_integrated_contact": float(contacts.loc[integrated, "PathwayID"].nunique()),
        "pct_reliable_improvement": pct((outcomes["improved"] & finished).sum(), n_finished),
        "pct_reliable_deterioration": pct((outcomes["deteriorated"] & finished).sum(), n_finished),
        "pct_not_at_caseness": pct(not_caseness, n_finished),
        "pct_dna": pct((appointments["AttendOrDNACode"].str.strip().str.lstrip("0") == "3").sum(), len(appointments)),
        "pct_first_to_second_over_28_days": pct((first_to_second[entered_second] > 28).sum(), entered_second.sum()),
    }


def _outcomes(tables: dict, ids: pd.Index, within_pathway) -> dict[str, np.ndarray]:
    """Per referral: not at caseness, recovered, reliably improved, reliably deteriorated."""
    known = instruments()
    by_code = {row["snomed_code"]: name for name, row in known.items()}
    scores = tables["IDS606CodedScoreAssessmentRefer"]
    instrument = scores["CodedAssToolType"].str.strip().map(by_code)
    scores = scores[instrument.notna().to_numpy(bool)].assign(instrument=instrument.dropna())
    index, ok = within_pathway(scores["PathwayID"], scores["AssToolCompDate"])
    kept = scores[ok]
    frame = pd.DataFrame({"index": index[ok], "when": kept["AssToolCompDate"].to_numpy(),
                          "id": kept["UniqueID_IDS606"].to_numpy(),
                          "instrument": kept["instrument"].to_numpy(), "score": kept["PersScore"].to_numpy()})
    frame = frame.sort_values(["index", "instrument", "when", "id"])
    grouped = frame.groupby(["index", "instrument"], sort=False)["score"]
    summary = pd.DataFrame({"first": grouped.first(), "last": grouped.last(), "n": grouped.size()})
    summary.loc[summary["n"] < 2, "last"] = np.nan
    first = summary["first"].unstack()
    last = summary["last"].unstack()
    n = len(ids)

    def column(table: pd.DataFrame, name: str) -> np.ndarray:
        out = np.full(n, np.nan)
        if name in table.columns:
            out[table.index.to_numpy()] = table[name].to_numpy()
        return out

    adsm = _chosen_adsm(tables["IDS603PresentingComplaints"], ids)
    phq_first, phq_last = column(first, "PHQ9"), column(last, "PHQ9")
    anx_first, anx_last = column(first, "GAD7"), column(last, "GAD7")
    threshold = np.full(n, known["GAD7"]["caseness_threshold"])
    strict = np.zeros(n, dtype=bool)
    change = np.full(n, known["GAD7"]["reliable_change"])
    for name in _adsm_instruments():
        a_first, a_last = column(first, name), column(last, name)
        use = (adsm == name) & ~np.isnan(a_first) & ~np.isnan(a_last)
        anx_first[use], anx_last[use] = a_first[use], a_last[use]
        threshold[use] = known[name]["caseness_threshold"]
        strict[use] = known[name]["caseness_operator"] == "gt"
        change[use] = known[name]["reliable_change"]

    def anxious(score):
        return np.where(strict, score > threshold, score >= threshold)

    phq = known["PHQ9"]
    paired = ~np.isnan(phq_first) & ~np.isnan(phq_last) & ~np.isnan(anx_first) & ~np.isnan(anx_last)
    first_case = (phq_first >= phq["caseness_threshold"]) | anxious(anx_first)
    last_case = (phq_last >= phq["caseness_threshold"]) | anxious(anx_last)
    improved = ((phq_first - phq_last) >= phq["reliable_change"]) | ((anx_first - anx_last) >= change)
    worsened = ((phq_last - phq_first) >= phq["reliable_change"]) | ((anx_last - anx_first) >= change)
    return {
        "not_at_caseness": paired & ~first_case,
        "recovered": paired & first_case & ~last_case,
        "improved": paired & improved & ~worsened,
        "deteriorated": paired & worsened,
    }


def _chosen_adsm(complaints: pd.DataFrame, ids: pd.Index) -> np.ndarray:
    """The ADSM named by each referral's chosen problem descriptor (NHS Digital's M203 order:
    a valid code first, primary before secondary, latest date, highest UniqueID_IDS603)."""
    code = complaints["PresComp"].str.strip()
    valid = (code.notna() & (code != "") & (code != "-3")).to_numpy(bool)
    frame = pd.DataFrame({
        "index": ids.get_indexer(complaints["PathwayID"]),
        "invalid": ~valid,
        "significance": complaints["PresCompCodSig"].fillna("Z").to_numpy(),
        "date": complaints["PresCompDate"].to_numpy(),
        "id": complaints["UniqueID_IDS603"].to_numpy(),
        "code": code.fillna("").to_numpy(),
    })
    frame = frame[frame["index"] >= 0].sort_values(
        ["index", "invalid", "significance", "date", "id"], ascending=[True, True, True, False, False])
    chosen = frame.drop_duplicates("index")
    out = np.full(len(ids), None, dtype=object)
    rules = code_lists()["adsm_for_problem_descriptor"]
    names = np.full(len(chosen), None, dtype=object)
    codes = chosen["code"].to_numpy(dtype=object)
    for prefix, name in reversed(rules):
        names[np.char.startswith(codes.astype(str), str(prefix))] = name
    names[chosen["invalid"].to_numpy(bool)] = None
    out[chosen["index"].to_numpy()] = names
    return out
