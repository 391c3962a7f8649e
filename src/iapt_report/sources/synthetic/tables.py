"""The schema's tables assembled from the months' snapshots: one builder per record type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from iapt_report.reference import dataset_schema, instruments

from .columns import (
    _PATHWAY_DIGITS,
    _dates,
    _digits,
    _frame,
    _id_strings,
    _label_strings,
    _nullable_integers,
    _series,
    _text_array,
)
from .contacts import APP_TYPES, _attend_code_labels, _mechanism_tables, _therapy_codes
from .draws import _mix_of
from .organisations import Organisations
from .people import _patient_table
from .referrals import _adsm_instruments, _end_code_tables, _problem_labels
from .v21 import _v21_tables

_TABLE_BUILDERS: dict = {}  # record type -> (table name, builder); filled below


def _assemble(parts: list[dict], orgs: Organisations, seed: int) -> dict[str, pd.DataFrame]:
    """The schema's tables (columns, order and types) from the months' snapshots.

    Each record type's arrays are dropped from ``parts`` once its table is built, so the peak
    memory is little more than the finished tables.
    """
    sizes = [part["referrals"]["number"].size for part in parts]
    offsets = np.cumsum([0] + sizes[:-1])  # first row of each month's referrals
    referrals = _concatenate(parts, "referrals", offsets)
    numbers = referrals["number"]
    pathway_digits = _digits(numbers, _PATHWAY_DIGITS)
    pathway_ids = _text_array("P", pathway_digits)
    tables = {
        "IDS001MPI": _patient_table(referrals, orgs, seed),
        "IDS101Referral": _referral_table(referrals, pathway_digits, pathway_ids, orgs),
    }
    v21_keys = {key: referrals[key] for key in ("number", "patient", "day", "discharge_day")}
    del referrals
    for record, (name, build) in _TABLE_BUILDERS.items():
        columns = _concatenate(parts, record, offsets)
        owner = columns.pop("owner")
        columns["number"] = numbers[owner]
        columns["digits"] = pathway_digits[owner]
        columns["pathway_id"] = _series(pathway_ids.take(pa.array(owner)))
        del owner
        tables[name] = build(columns)
        del columns
    tables.update(_v21_tables(tables, v21_keys, seed))
    tables["OrgProvider"] = orgs.providers.copy()
    tables["OrgSubICB"] = orgs.sub_icbs.copy()
    return {name: _in_schema_order(name, tables[name]) for name in dataset_schema()["tables"] if name in tables}


def _concatenate(parts: list[dict], record: str, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """One record type's arrays over all months, removed from ``parts``; ``owner`` (a row of
    the month's referrals) becomes a row of all the referrals."""
    pieces = [part.pop(record) for part in parts]
    out = {}
    for key in pieces[0]:
        if key == "owner":
            out[key] = np.concatenate([piece[key].astype(np.int64) + offset for piece, offset in zip(pieces, offsets)])
        else:
            out[key] = np.concatenate([piece[key] for piece in pieces])
    return out


def _in_schema_order(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c, spec in dataset_schema()["tables"][name]["columns"].items()
               if c in frame.columns or not spec.get("optional")]
    return frame[columns]


def _referral_table(r: dict, pathway_digits: np.ndarray, pathway_ids: pa.Array, orgs: Organisations) -> pd.DataFrame:
    return _frame({
        "PathwayID": _series(pathway_ids),
        "ServiceRequestId": _series(_text_array("SR", pathway_digits)),
        "RecordNumber": _id_strings("", r["patient"], _PATHWAY_DIGITS),
        "OrgID_Provider": _label_strings(r["provider"], tuple(orgs.providers["OrgID_Provider"])),
        "OrgIDComm": _label_strings(r["subicb"], tuple(orgs.sub_icbs["OrgIDComm"])),
        "ReferralRequestReceivedDate": _dates(r["day"]),
        "SourceOfReferralIAPT": _label_strings(r["source"], _mix_of("source_of_referral").labels),
        "ServDischDate": _dates(r["discharge_day"], missing=r["discharge_day"] < 0),
        "EndCode": _label_strings(r["end_code"], _end_code_tables()[0]),
    })


def _contact_table(c: dict) -> pd.DataFrame:
    return _frame({
        "CareContactId": _series(_text_array("C", c["digits"], _digits(c["sequence"], 3))),
        "PathwayID": c["pathway_id"],
        "CareContDate": _dates(c["day"]),
        "AppType": _label_strings(c["app_type"], APP_TYPES),
        "AttendOrDNACode": _label_strings(c["attend_code"], _attend_code_labels()),
        "PlannedCareContIndicator": _label_strings(c["planned"], ("Y", "N")),
        "ConsMechanism": _label_strings(c["mechanism"], _mechanism_tables()[0]),
        "IAPTLTCServiceInd": _label_strings(c["integrated"], ("Y", "N")),
        "ClinContDurOfCareCont": _nullable_integers(c["minutes"]),
    })


def _activity_table(a: dict) -> pd.DataFrame:
    sequence = _digits(a["sequence"], 3)
    return _frame({
        "CareActId": _series(_text_array("A", a["digits"], sequence, _digits(a["item"], 1))),
        "CareContactId": _series(_text_array("C", a["digits"], sequence)),
        "PathwayID": a["pathway_id"],
        "CodeProcAndProcStatus": _label_strings(a["therapy"], _therapy_codes()),
        "ClinContactDurOfCareAct": _nullable_integers(a["minutes"]),
    })


def _log_table(g: dict) -> pd.DataFrame:
    return _frame({
        "UniqueID_IDS205": _series(_text_array("L", g["digits"], _digits(g["sequence"], 3))),
        "PathwayID": g["pathway_id"],
        "StartDateIntEnabledTherLog": _dates(g["start"]),
        "EndDateIntEnabledTherLog": _dates(g["end"]),
        "DurationIntEnabledTher": _nullable_integers(g["minutes"]),
        "IntEnabledTherProg": _label_strings(g["programme"], _mix_of("internet_therapy", "programmes").labels),
    })


def _complaint_table(p: dict) -> pd.DataFrame:
    return _frame({
        "UniqueID_IDS603": _nullable_integers(p["number"] * 10 + p["item"]),
        "PathwayID": p["pathway_id"],
        "PresComp": _label_strings(p["problem"], _problem_labels()),
        "PresCompCodSig": _label_strings(p["significance"], ("P", "S")),
        "PresCompDate": _dates(p["day"]),
    })


def _score_table(s: dict) -> pd.DataFrame:
    tools = ("PHQ9", "GAD7") + _adsm_instruments()
    snomed = tuple(instruments()[name]["snomed_code"] for name in tools)
    return _frame({
        "UniqueID_IDS606": _series(_text_array("S", s["digits"], _digits(s["sequence"], 4))),
        "PathwayID": s["pathway_id"],
        "CodedAssToolType": _label_strings(s["tool"], snomed),
        "PersScore": s["score"].astype(np.float64),
        "AssToolCompDate": _dates(s["day"]),
    })


_TABLE_BUILDERS.update({
    "appointments": ("IDS201CareContact", _contact_table),
    "activities": ("IDS202CareActivity", _activity_table),
    "logs": ("IDS205InternetTherLog", _log_table),
    "complaints": ("IDS603PresentingComplaints", _complaint_table),
    "scores": ("IDS606CodedScoreAssessmentRefer", _score_table),
})
