"""Build small record-level datasets by hand, one referral at a time, for measure tests.

Every test states its referrals, contacts and scores explicitly; defaults fill the fields a
test does not care about. Tables come out typed as the dataset schema says.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile

import ibis
import pandas as pd
import pyarrow
import pyarrow.parquet

from iapt_report.reference import dataset_schema, instruments, wsas_items

#: The backend ``DatasetBuilder.ibis_tables()`` gives tables of: set by the ``backend`` fixture (conftest.py).
BACKEND = "duckdb"

PANDAS_TYPES = {"string": "str", "date": "datetime64[ms]", "integer": "Int64", "number": "float64"}


def typed_frame(table: str, rows: list[dict]) -> pd.DataFrame:
    columns = dataset_schema()["tables"][table]["columns"]
    data = {name: [row.get(name) for row in rows] for name in columns}
    frame = pd.DataFrame(data, columns=list(columns))
    for name, spec in columns.items():
        kind = PANDAS_TYPES[spec["type"]]
        if spec["type"] == "date":
            frame[name] = pd.to_datetime(frame[name]).astype(kind)
        elif spec["type"] == "string":
            frame[name] = frame[name].astype(kind).where(frame[name].notna(), None)
        else:
            frame[name] = frame[name].astype(kind)
    return frame


class DatasetBuilder:
    """Collects hand-written rows; ``tables()`` gives pandas frames, ``ibis_tables()`` DuckDB tables."""

    def __init__(self):
        self.rows: dict[str, list[dict]] = {name: [] for name in dataset_schema()["tables"]}
        self._ids = itertools.count(1)
        self.provider("PRV01", "Provider One")
        self.provider("PRV02", "Provider Two")
        self.sub_icb("SUB01", "Sub-ICB One", "ICB01", "ICB One", "REG01", "Region One")
        self.sub_icb("SUB02", "Sub-ICB Two", "ICB01", "ICB One", "REG01", "Region One")

    def provider(self, code, name):
        self.rows["OrgProvider"].append({"OrgID_Provider": code, "Provider_Name": name})

    def sub_icb(self, code, name, icb, icb_name, region, region_name):
        self.rows["OrgSubICB"].append(
            {"OrgIDComm": code, "SubICB_Name": name, "ICB_Code": icb, "ICB_Name": icb_name,
             "Region_Code": region, "Region_Name": region_name}
        )

    def referral(self, pathway, received, discharged=None, end_code=None, source="B1",
                 provider="PRV01", sub_icb="SUB01", gender="2", ethnic="A", birth="1980-05-15", imd=5):
        record = f"R-{pathway}"
        self.rows["IDS001MPI"].append(
            {"RecordNumber": record, "PersonBirthDate": birth, "Gender": gender, "GenderIdentity": None,
             "EthnicCategory": ethnic, "IndicesOfDeprivationDecile": imd}
        )
        self.rows["IDS101Referral"].append(
            {"PathwayID": pathway, "ServiceRequestId": f"S-{pathway}", "RecordNumber": record,
             "OrgID_Provider": provider, "OrgIDComm": sub_icb, "ReferralRequestReceivedDate": received,
             "SourceOfReferralIAPT": source, "ServDischDate": discharged, "EndCode": end_code}
        )
        return self

    def contact(self, pathway, date, app_type="02", attend="5", planned="Y", mechanism="01", integrated="N"):
        self.rows["IDS201CareContact"].append(
            {"CareContactId": f"CC{next(self._ids)}", "PathwayID": pathway, "CareContDate": date,
             "AppType": app_type, "AttendOrDNACode": attend, "PlannedCareContIndicator": planned,
             "ConsMechanism": mechanism, "IAPTLTCServiceInd": integrated, "ClinContDurOfCareCont": 50}
        )
        return self

    def sessions(self, pathway, *dates, **contact_fields):
        for date in dates:
            self.contact(pathway, date, **contact_fields)
        return self

    def score(self, pathway, instrument, date, score, unique_id=None):
        unique_id = f"AS{next(self._ids)}" if unique_id is None else unique_id
        self.rows["IDS606CodedScoreAssessmentRefer"].append(
            {"UniqueID_IDS606": unique_id, "PathwayID": pathway,
             "CodedAssToolType": {**instruments(), **wsas_items()}[instrument]["snomed_code"], "PersScore": score,
             "AssToolCompDate": date}
        )
        return self

    def scores(self, pathway, instrument, first, last, first_date="2020-07-01", last_date="2020-09-01"):
        """A first and a last score (a pair) for one instrument."""
        self.score(pathway, instrument, first_date, first)
        return self.score(pathway, instrument, last_date, last)

    def complaint(self, pathway, code, significance="P", date="2020-07-01"):
        self.rows["IDS603PresentingComplaints"].append(
            {"UniqueID_IDS603": next(self._ids), "PathwayID": pathway, "PresComp": code,
             "PresCompCodSig": significance, "PresCompDate": date}
        )
        return self

    def internet_log(self, pathway, start, end, minutes=60, programme="SilverCloud"):
        self.rows["IDS205InternetTherLog"].append(
            {"UniqueID_IDS205": f"IET{next(self._ids)}", "PathwayID": pathway,
             "StartDateIntEnabledTherLog": start, "EndDateIntEnabledTherLog": end,
             "DurationIntEnabledTher": minutes, "IntEnabledTherProg": programme}
        )
        return self

    def employment_status(self, pathway, date, status="01", sick_absence=None, sick_pay=None, unique_id=None):
        """An IDS004EmpStatus record of the patient of ``pathway`` (its RecordNumber R-<pathway>)."""
        self.rows["IDS004EmpStatus"].append(
            {"UniqueID_IDS004": unique_id or f"ES{next(self._ids)}", "RecordNumber": f"R-{pathway}",
             "EmployStatus": status, "EmployStatusRecDate": date, "SickAbsenceInd": sick_absence,
             "SSPInd": sick_pay}
        )
        return self

    def older_extract(self):
        """Leave out the optional IAPT v2.1 tables and fields, as an extract made before them."""
        self.older = True
        return self

    def tables(self) -> dict[str, pd.DataFrame]:
        schema = dataset_schema()["tables"]
        if not getattr(self, "older", False):
            return {name: typed_frame(name, rows) for name, rows in self.rows.items()}
        return {name: typed_frame(name, rows)[[c for c, spec in schema[name]["columns"].items() if not spec.get("optional")]]
                for name, rows in self.rows.items() if not schema[name].get("optional")}

    def ibis_tables(self, backend: str | None = None) -> dict[str, ibis.Table]:
        """The tables on ``backend`` (default :data:`BACKEND`): copied into a new DuckDB, or
        written as Parquet files that Spark reads and types (:func:`iapt_report.data.spark.spark_tables`)."""
        if (backend or BACKEND) == "spark":
            from iapt_report.data.spark import spark_tables

            return spark_tables(self.write_parquet(_scratch_folder()))
        con = ibis.duckdb.connect()
        return {name: con.create_table(name, frame) for name, frame in self.tables().items()}

    def write_parquet(self, folder) -> str:
        """Every table as ``<folder>/<TABLE>.parquet`` (a dataset folder); returns the folder."""
        for name, frame in self.tables().items():
            pyarrow.parquet.write_table(pyarrow.Table.from_pandas(frame, preserve_index=False), f"{folder}/{name}.parquet")
        return str(folder)


def _scratch_folder() -> str:
    """A new temporary folder, removed when the test run ends (Spark reads the files lazily)."""
    folder = tempfile.mkdtemp(prefix="iapt-test-dataset-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
