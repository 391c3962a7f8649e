"""Writing CSVs (iapt_report.outputs.exports.write_csv): the same bytes whichever writer is used."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iapt_report.outputs import exports

# text that needs quoting (commas, quotes, line breaks), spaces at the ends, non-ASCII, empty, missing
cell = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list('ab ,"\n\r\té£*0.5')), max_size=6))


def pandas_bytes(frame: pd.DataFrame, path) -> bytes:
    exports._write_csv_with_pandas(frame, path)
    return path.read_bytes()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(cell, cell), min_size=1, max_size=20))
def test_text_tables_are_written_by_duckdb_as_pandas_writes_them(tmp_path, rows):
    frame = pd.DataFrame(rows, columns=["ORG_NAME1", "MEASURE_VALUE_SUPPRESSED"], dtype="str")

    exports._write_text_csv(frame, tmp_path / "duckdb.csv")

    assert (tmp_path / "duckdb.csv").read_bytes() == pandas_bytes(frame, tmp_path / "pandas.csv")


def test_write_csv_hands_large_text_tables_to_duckdb_and_the_rest_to_pandas(tmp_path, monkeypatch):
    written_by_duckdb = []
    monkeypatch.setattr(exports, "_write_text_csv", lambda frame, path: written_by_duckdb.append(path))
    monkeypatch.setattr(exports, "LARGE_TEXT_TABLE_ROWS", 3)
    text = pd.DataFrame({"MEASURE_ID": ["M001", "M002", "M003"], "VALUE": ["1", "*", None]}, dtype="str")
    numbers = pd.DataFrame({"MEASURE_ID": ["M001", "M002", "M003"], "VALUE": [1.0, 2.5, None]}).astype(
        {"MEASURE_ID": "str"})

    exports.write_csv(text, tmp_path / "text.csv")
    exports.write_csv(text.head(2), tmp_path / "small.csv")
    exports.write_csv(numbers, tmp_path / "numbers.csv")

    assert written_by_duckdb == [tmp_path / "text.csv"]
    assert (tmp_path / "numbers.csv").read_text() == "MEASURE_ID,VALUE\nM001,1\nM002,2.5\nM003,\n"


# --- publication files too big for a spreadsheet ----------------------------------------------

def test_a_table_too_big_for_a_spreadsheet_is_split_by_level_and_zipped(tmp_path, monkeypatch):
    import zipfile

    from iapt_report.outputs import exports

    levels = ["Provider", "England", "SubICB", "CommissioningRegion"]
    table = pd.DataFrame({"GROUP_TYPE": [levels[i % 4] for i in range(23)], "ORG_CODE1": [f"X{i:02d}" for i in range(23)],
                          "MEASURE_VALUE_SUPPRESSED": [str(i) for i in range(23)]})
    assert exports.write_publication_files(table, tmp_path) == "measures.csv"  # small: one CSV
    monkeypatch.setattr(exports, "SPREADSHEET_ROWS", 4)
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        assert exports.write_publication_files(table, folder) == "measures.zip"
        assert sorted(p.name for p in folder.iterdir()) == ["measures.zip"]  # no scratch left
    assert (first / "measures.zip").read_bytes() == (second / "measures.zip").read_bytes()
    with zipfile.ZipFile(first / "measures.zip") as archive:
        # England first, then regions, sub-ICBs, providers; a level over 4 rows in parts of 4
        assert archive.namelist() == ["measures_england.csv", "measures_england_part2.csv",
                                      "measures_commissioningregion.csv", "measures_commissioningregion_part2.csv",
                                      "measures_subicb.csv", "measures_subicb_part2.csv",
                                      "measures_provider.csv", "measures_provider_part2.csv"]
        assert all(len(archive.read(name).decode().splitlines()) <= 5 for name in archive.namelist())
    read_back = exports.read_publication_files(first)
    expected = table.sort_values("GROUP_TYPE", key=lambda s: s.map(
        {"England": 0, "CommissioningRegion": 1, "SubICB": 3, "Provider": 4}), kind="stable")
    pd.testing.assert_frame_equal(read_back, expected.reset_index(drop=True))
