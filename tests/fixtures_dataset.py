"""A tiny, valid input dataset built by hand: three to five rows a table.

:func:`tiny_dataset` is an older extract (none of the optional IAPT v2.1 tables or MPI fields);
:func:`v21_dataset` adds them, so it holds every table and column of the schema.

Four referrals (P0001-P0004) from two providers and two sub-ICBs; P0001 and P0002 are
discharged, P0003 and P0004 are open. Tests break one thing at a time and check the message.
"""

from __future__ import annotations

import pandas as pd

PHQ9 = "720433000"
GAD7 = "445455005"


def _dates(*values: str | None) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype=object), format="%Y-%m-%d").astype("datetime64[ms]")


def _text(*values: str | None) -> pd.Series:
    return pd.Series(values, dtype="str")


def _integers(*values: int | None) -> pd.Series:
    return pd.Series(values, dtype="Int64")


def tiny_dataset() -> dict[str, pd.DataFrame]:
    """The nine tables every extract has, typed as reading.read_tables returns them, and valid."""
    return {
        "IDS001MPI": pd.DataFrame({
            "RecordNumber": _text("R001", "R002", "R003", "R004"),
            "PersonBirthDate": _dates("1980-05-15", "1991-11-02", None, "1957-01-30"),
            "Gender": _text("2", "1", "2", "9"),
            "GenderIdentity": _text("2", "1", None, "X"),
            "EthnicCategory": _text("A", "H", "N", "99"),
            "IndicesOfDeprivationDecile": _integers(3, 10, None, 1),
        }),
        "IDS101Referral": pd.DataFrame({
            "PathwayID": _text("P0001", "P0002", "P0003", "P0004"),
            "ServiceRequestId": _text("SR01", "SR02", "SR03", "SR04"),
            "RecordNumber": _text("R001", "R002", "R003", "R004"),
            "OrgID_Provider": _text("PRV01", "PRV01", "PRV02", "PRV02"),
            "OrgIDComm": _text("SUB01", "SUB02", "SUB01", "SUB02"),
            "ReferralRequestReceivedDate": _dates("2020-06-01", "2020-07-15", "2020-08-20", "2020-09-03"),
            "SourceOfReferralIAPT": _text("B1", "A1", "B1", None),
            "ServDischDate": _dates("2020-09-10", "2020-09-25", None, None),
            "EndCode": _text("46", "12", None, None),
        }),
        "IDS201CareContact": pd.DataFrame({
            "CareContactId": _text("C001", "C002", "C003", "C004", "C005"),
            "PathwayID": _text("P0001", "P0001", "P0001", "P0002", "P0003"),
            "CareContDate": _dates("2020-06-10", "2020-07-01", "2020-08-05", "2020-07-20", "2020-09-01"),
            "AppType": _text("01", "02", "02", "01", "03"),
            "AttendOrDNACode": _text("5", "5", "6", "3", "5"),
            "PlannedCareContIndicator": _text("Y", "Y", "Y", "Y", None),
            "ConsMechanism": _text("01", "02", "01", "01", "98"),
            "IAPTLTCServiceInd": _text("N", "N", "Y", None, "N"),
            "ClinContDurOfCareCont": _integers(45, 60, 60, None, 30),
        }),
        "IDS202CareActivity": pd.DataFrame({
            "CareActId": _text("A001", "A002", "A003"),
            "CareContactId": _text("C002", "C003", "C005"),
            "PathwayID": _text("P0001", "P0001", "P0003"),
            "CodeProcAndProcStatus": _text("304891004", "304891004", "748051000000105"),
            "ClinContactDurOfCareAct": _integers(60, 60, 30),
        }),
        "IDS205InternetTherLog": pd.DataFrame({
            "UniqueID_IDS205": _text("L001", "L002", "L003"),
            "PathwayID": _text("P0003", "P0003", "P0004"),
            "StartDateIntEnabledTherLog": _dates("2020-08-24", "2020-08-31", "2020-09-07"),
            "EndDateIntEnabledTherLog": _dates("2020-08-30", "2020-09-06", "2020-09-13"),
            "DurationIntEnabledTher": _integers(40, 35, None),
            "IntEnabledTherProg": _text("SilverCloud", "SilverCloud", None),
        }),
        "IDS603PresentingComplaints": pd.DataFrame({
            "UniqueID_IDS603": _integers(1, 2, 3),
            "PathwayID": _text("P0001", "P0002", "P0003"),
            "PresComp": _text("F411", "F32", "F431"),
            "PresCompCodSig": _text("P", "P", None),
            "PresCompDate": _dates("2020-06-10", "2020-07-20", None),
        }),
        "IDS606CodedScoreAssessmentRefer": pd.DataFrame({
            "UniqueID_IDS606": _text("S001", "S002", "S003", "S004"),
            "PathwayID": _text("P0001", "P0001", "P0001", "P0001"),
            "CodedAssToolType": _text(PHQ9, GAD7, PHQ9, GAD7),
            "PersScore": pd.Series([15.0, 12.0, 6.0, 5.0], dtype="float64"),
            "AssToolCompDate": _dates("2020-06-10", "2020-06-10", "2020-08-05", "2020-08-05"),
        }),
        "OrgProvider": pd.DataFrame({
            "OrgID_Provider": _text("PRV01", "PRV02", "PRV03"),
            "Provider_Name": _text("Provider One", "Provider Two", "Provider Three"),
        }),
        "OrgSubICB": pd.DataFrame({
            "OrgIDComm": _text("SUB01", "SUB02", "SUB03"),
            "SubICB_Name": _text("Sub-ICB One", "Sub-ICB Two", "Sub-ICB Three"),
            "ICB_Code": _text("ICB01", "ICB01", "ICB02"),
            "ICB_Name": _text("ICB One", "ICB One", "ICB Two"),
            "Region_Code": _text("REG01", "REG01", "REG02"),
            "Region_Name": _text("Region One", "Region One", "Region Two"),
        }),
    }


#: The IAPT v2.1 fields of IDS001MPI (optional columns: an older extract lacks them), by RecordNumber R001-R004.
V21_MPI_COLUMNS = {
    "EduEstabTypeIAPT": _text("3", None, "2", "9"),
    "ExBAFIndicator": _text("03", "02", None, "05"),
    "GenderIdentitySameAtBirth": _text("Y", "Y", None, "N"),
}


def v21_tables() -> dict[str, pd.DataFrame]:
    """The optional IAPT v2.1 tables for the tiny dataset's patients and referrals, valid.

    Employment status: R001 (P0001) employed and off sick on statutory sick pay at referral,
    back at work without it at the end; R002 unemployed, with employment support ended
    2020-09-20. Disabilities, circumstances (Christian, heterosexual; Muslim), long-term
    conditions (P0001 diabetes and asthma, P0003 none) and one assessment in a care activity.
    """
    return {
        "IDS004EmpStatus": pd.DataFrame({
            "UniqueID_IDS004": _text("E001", "E002", "E003"),
            "RecordNumber": _text("R001", "R001", "R002"),
            "EmployStatus": _text("01", "01", "02"),
            "EmployStatusRecDate": _dates("2020-06-10", "2020-08-05", "2020-07-20"),
            "WeekHoursWorked": _text("01", "01", None),
            "SelfEmployInd": _text("N", "N", None),
            "SickAbsenceInd": _text("Y", "N", "8"),
            "SSPInd": _text("Y", "N", None),
            "BenefitRecInd": _text("N", "N", "Y"),
            "JSAInd": _text("N", "N", "N"),
            "ESAInd": _text("N", "N", "N"),
            "UCInd": _text("N", "N", "Y"),
            "PIPInd": _text("N", "N", "N"),
            "OtherBenefitInd": _text("N", "N", "N"),
            "EmpSupportInd": _text("N", "N", "Y"),
            "EmpSupportDischargeDate": _dates(None, None, "2020-09-20"),
        }),
        "IDS007DisabilityType": pd.DataFrame({
            "UniqueID_IDS007": _text("D001", "D002", "D003"),
            "RecordNumber": _text("R001", "R002", "R004"),
            "DisabCode": _text("NN", "05", "ZZ"),
        }),
        "IDS011SocPerCircumstances": pd.DataFrame({
            "UniqueID_IDS011": _text("K001", "K002", "K003"),
            "RecordNumber": _text("R001", "R001", "R002"),
            "SocPerCircumstance": _text("160549006", "20430005", "309884000"),
            "SocPerCircumstanceRecDate": _dates("2020-06-10", "2020-06-10", None),
        }),
        "IDS602LongTermCondition": pd.DataFrame({
            "UniqueID_IDS602": _text("T001", "T002", "T003"),
            "PathwayID": _text("P0001", "P0001", "P0003"),
            "LongTermCondition": _text("73211009", "195967001", "748031000000103"),
        }),
        "IDS607CodedScoreAssessmentAct": pd.DataFrame({
            "UniqueID_IDS607": _text("Q001"),
            "PathwayID": _text("P0001"),
            "CareActId": _text("A002"),
            "CodedAssToolType": _text(PHQ9),
            "PersScore": pd.Series([9.0], dtype="float64"),
        }),
    }


def v21_dataset() -> dict[str, pd.DataFrame]:
    """The tiny dataset as an IAPT v2.1 extract: every table of the schema and every MPI field."""
    tables = tiny_dataset()
    tables["IDS001MPI"] = tables["IDS001MPI"].assign(**V21_MPI_COLUMNS)
    return {**tables, **v21_tables()}


def write_dataset(tables: dict[str, pd.DataFrame], folder, fmt: str = "parquet") -> None:
    """Write each table as ``<TABLE>.<fmt>`` (parquet or csv) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False, date_format="%Y-%m-%d")
        else:
            frame.to_parquet(path, index=False)
