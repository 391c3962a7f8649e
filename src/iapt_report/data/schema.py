"""The input dataset's tables as ``reference/dataset_schema.yaml`` describes them: table and column
names, the pandas type of each schema type, the window of plausible event dates, the order the
tables are loaded in, and the marker of a synthetic dataset.
"""

from __future__ import annotations

from datetime import date

from iapt_report.reference import dataset_schema

SCHEMA: dict = dataset_schema()
TABLES: dict[str, dict] = SCHEMA["tables"]
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
FILE_FORMATS: tuple[str, ...] = ("parquet", "csv")

#: Tables whose file may be absent (``optional: true``: IAPT v2.1 tables an older extract lacks).
OPTIONAL_TABLES: frozenset[str] = frozenset(t for t, spec in TABLES.items() if spec.get("optional"))
#: Columns that may be absent from their table's file (``optional: true``), as (table, column).
OPTIONAL_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    (t, c) for t, spec in TABLES.items() for c, column_spec in spec["columns"].items() if column_spec.get("optional"))

#: pandas dtype of each schema type, as returned by read_tables / normalise.
PANDAS_DTYPES = {"string": "str", "date": "datetime64[ms]", "integer": "Int64", "number": "float64"}


#: The plausible window of event dates (schema columns with ``event_date: true``): see
#: :func:`event_date_window`.
EVENT_DATES: dict = SCHEMA["event_dates"]
EVENT_DATE_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (table, column) for table, spec in TABLES.items() for column, column_spec in spec["columns"].items()
    if column_spec.get("event_date"))


def event_date_window(today: date | None = None) -> tuple[date, date]:
    """The first and last day (inclusive) an event date may fall on: ``event_dates.earliest`` of
    the schema (the first IAPT services) to ``latest_years_after_today`` years after today
    (an extract may hold appointments booked ahead)."""
    today = today or date.today()
    years = int(EVENT_DATES["latest_years_after_today"])
    try:
        latest = today.replace(year=today.year + years)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + years, day=28)
    return EVENT_DATES["earliest"], latest


def _load_order() -> tuple[str, ...]:
    """The tables in schema order, except that a table comes after every table it refers to."""
    refers_to = {
        table: {spec["references"].split(".")[0] for spec in TABLES[table]["columns"].values()
                if spec.get("references")} - {table}
        for table in TABLE_NAMES
    }
    order: list[str] = []
    while len(order) < len(TABLE_NAMES):
        ready = [t for t in TABLE_NAMES if t not in order and refers_to[t] <= set(order)]
        if not ready:
            raise ValueError(f"dataset_schema.yaml: the references between {set(TABLE_NAMES) - set(order)} form a cycle")
        order.append(ready[0])
    return tuple(order)


#: The order load_dataset reads the tables in: each table after the tables it refers to, so the
#: referenced keys are at hand when it is checked and nothing else need stay in pandas.
LOAD_ORDER: tuple[str, ...] = _load_order()


#: A file the synthetic generator's command leaves in a dataset folder: reports built from a
#: folder holding it say on every page that the data are synthetic.
SYNTHETIC_MARKER = "_synthetic.json"
