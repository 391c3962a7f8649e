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
