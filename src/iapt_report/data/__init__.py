"""Stage 1, the input: reporting periods and the record-level IAPT dataset (its schema, reading,
validation, and the DuckDB tables it is held in).

Reads only :mod:`iapt_report.reference`; every later stage reads from here.
"""
