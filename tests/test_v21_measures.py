"""Measures that need the optional IAPT v2.1 tables: computed when the dataset has them, reported
as not computable, by name, when it does not (an older extract), never as zero.

Hand-worked on small datasets. Period: September 2020. The engine tests run on each backend
(the ``backend`` fixture, tests/conftest.py).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from builders import DatasetBuilder
from fixtures_dataset import tiny_dataset, v21_dataset, write_dataset
from iapt_report.cli import main
from iapt_report.data.periods import Period
from iapt_report.engine.measures import MeasureEngine
from iapt_report.engine.registry import Measure, RegistryError, _check, load_registry, measure_metadata, not_computable

SEPTEMBER = Period.parse("2020-09")


def finished_course(b: DatasetBuilder, pathway: str, discharged: str = "2020-09-20") -> DatasetBuilder:
    """Referred 1 July, two attended treatment sessions, discharged in September: a finished course."""
    b.referral(pathway, "2020-07-01", discharged=discharged, end_code="46")
    return b.sessions(pathway, "2020-07-10", "2020-08-10")


def england(b: DatasetBuilder) -> tuple[dict[str, float], MeasureEngine]:
    engine = MeasureEngine(b.ibis_tables())
    table = engine.compute(SEPTEMBER, levels=["England"], breakdowns=False)
    return dict(zip(table.MEASURE_ID, table.MEASURE_VALUE)), engine


@pytest.mark.usefixtures("backend")
def test_off_sick_pay_counts_finished_courses_whose_first_record_is_on_sick_pay_and_last_is_not():
    b = DatasetBuilder()
    # P1: on statutory sick pay at referral, off it by the end: counted
    finished_course(b, "P1").employment_status("P1", "2020-07-01", sick_absence="Y", sick_pay="Y")
    b.employment_status("P1", "2020-09-15", sick_absence="N", sick_pay="N")
    # P2: the record that says N is after the discharge, so the last record in the referral says Y
    finished_course(b, "P2").employment_status("P2", "2020-07-02", sick_pay="Y")
    b.employment_status("P2", "2020-09-25", sick_pay="N")
    # P3: N then Y (moved on to sick pay): not counted
    finished_course(b, "P3").employment_status("P3", "2020-07-02", sick_pay="N")
    b.employment_status("P3", "2020-09-01", sick_pay="Y")
    # P4: Y then N on the same day: ordered by UniqueID_IDS004, so first Y (A...), last N (B...)
    finished_course(b, "P4").employment_status("P4", "2020-07-03", sick_pay="Y", unique_id="A4")
    b.employment_status("P4", "2020-07-03", sick_pay="n ", unique_id="B4")
    # P5: Y then N but only one treatment session: not a finished course
    b.referral("P5", "2020-07-01", discharged="2020-09-20").sessions("P5", "2020-07-10")
    b.employment_status("P5", "2020-07-01", sick_pay="Y").employment_status("P5", "2020-09-01", sick_pay="N")
    # P6: Y then N, a finished course discharged in October: not in September
    finished_course(b, "P6", discharged="2020-10-02").employment_status("P6", "2020-07-01", sick_pay="Y")
    b.employment_status("P6", "2020-09-01", sick_pay="N")
    # P7: a record before the referral was received is not the referral's: only N within it
    finished_course(b, "P7").employment_status("P7", "2020-06-01", sick_pay="Y")
    b.employment_status("P7", "2020-08-01", sick_pay="N")

    m, engine = england(b)

    assert m["M076"] == 5  # finished courses in September: P1-P4, P7
    assert m["M237"] == 2  # P1 and P4
    assert engine.not_computed == {}


@pytest.mark.usefixtures("backend")
def test_an_older_extract_reports_the_measure_as_not_computable_not_as_zero():
    b = DatasetBuilder().older_extract()
    finished_course(b, "P1")

    m, engine = england(b)

    assert "M237" not in m and m["M076"] == 1
    assert engine.not_computed == {"M237": "the dataset has no IDS004EmpStatus"}
    metadata = measure_metadata(engine.not_computed).set_index("MEASURE_ID")
    assert metadata.loc["M237", ["COMPUTED", "NOT_COMPUTED_REASON", "REQUIRES"]].tolist() == [
        "no", "the dataset has no IDS004EmpStatus", "IDS004EmpStatus"]
    assert set(metadata.COMPUTED) == {"yes", "no"} and (metadata.COMPUTED == "no").sum() == 1


def measure(id_, statistic="count", requires=(), numerator=None, denominator=()):
    cohort = load_registry()[0].cohort
    return Measure(id=id_, name=f"Name_{id_}", statistic=statistic, cohort=None if numerator else cohort,
                   requires=tuple(requires), numerator=numerator, denominator=tuple(denominator))


def test_a_percentage_of_a_measure_that_is_not_computable_is_not_computable_either():
    measures = [measure("P1", "percentage", numerator="C1", denominator=["C2"]),
                measure("C1", requires=["IDS602LongTermCondition"]), measure("C2"),
                measure("C3", requires=["IDS001MPI.ExBAFIndicator"]), measure("C4", requires=["IDS001MPI.ExBAFIndicator"])]
    available = {"IDS001MPI": ["RecordNumber", "EduEstabTypeIAPT"], "IDS101Referral": ["PathwayID"]}
    assert not_computable(measures, available) == {
        "P1": "C1 not computable", "C1": "the dataset has no IDS602LongTermCondition",
        "C3": "the dataset has no IDS001MPI.ExBAFIndicator", "C4": "the dataset has no IDS001MPI.ExBAFIndicator"}
    available["IDS001MPI"].append("ExBAFIndicator")
    available["IDS602LongTermCondition"] = ["PathwayID"]
    assert not_computable(measures, available) == {}


@pytest.mark.parametrize("requires", [["IDS101Referral"], ["IDS999Nothing"], ["IDS001MPI.Gender"], ["IDS001MPI.Nothing"]])
def test_requires_names_only_optional_tables_and_fields(requires):
    with pytest.raises(RegistryError, match="requires"):
        _check([measure("C1", requires=requires)])


def test_the_measures_command_names_what_it_could_not_compute(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    write_dataset(tiny_dataset(), old)
    write_dataset(v21_dataset(), new)

    assert main(["measures", "--period", "2020-09", "--data", str(old), "--out", str(tmp_path / "out-old"),
                 "--no-breakdowns"]) == 0
    printed = capsys.readouterr().out
    assert "not computed (1 measures; the dataset lacks what they need): M237 Count_OffSickPay " \
           "(the dataset has no IDS004EmpStatus)" in printed
    manifest = json.loads((tmp_path / "out-old" / "manifest.json").read_text())
    assert manifest["not_computed"] == {"M237": {"name": "Count_OffSickPay",
                                                 "reason": "the dataset has no IDS004EmpStatus"}}
    published = pd.read_csv(tmp_path / "out-old" / "measures.csv", dtype=str)
    assert "M237" not in set(published.MEASURE_ID)
    metadata = pd.read_csv(tmp_path / "out-old" / "metadata.csv", dtype=str, keep_default_na=False)
    assert metadata.set_index("MEASURE_ID").loc["M237", "COMPUTED"] == "no"

    assert main(["measures", "--period", "2020-09", "--data", str(new), "--out", str(tmp_path / "out-new"),
                 "--no-breakdowns"]) == 0
    assert "not computed" not in capsys.readouterr().out
    assert json.loads((tmp_path / "out-new" / "manifest.json").read_text())["not_computed"] == {}
    published = pd.read_csv(tmp_path / "out-new" / "measures.csv", dtype=str)
    # the tiny v2.1 dataset: P0001 (R001) finished in September, sick pay Y on 10 June, N on 5 August
    england = published[(published.GROUP_TYPE == "England") & (published.MEASURE_ID == "M237")]
    assert england.MEASURE_VALUE_SUPPRESSED.tolist() == ["1"]
