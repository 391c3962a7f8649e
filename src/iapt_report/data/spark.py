"""The dataset read by Spark: the tables as Ibis tables of a PySpark backend, typed and tidied in Spark.

:func:`spark_tables` reads each table's file (Parquet or CSV) with Spark's own readers, or takes
the named tables (or DataFrames) of a Spark catalogue, and types and tidies every schema column
as :func:`reading.normalise_table` does (text stripped, empty text missing, codes tidied, dates
at midnight, whole numbers, numbers without NaN), as Ibis expressions that Spark runs. Nothing
passes through pandas on the way in: pandas turned missing text into the string 'NaN' and lost
whole columns of integers with missing values when frames were handed to Spark.

Only temporary views are made (one a table, under a name of its own, so several datasets can
share a session); nothing is written to a warehouse, and a second run in the same folder or
session works as the first. :func:`spark_session` gives the running session, or a local one
whose warehouse folder is a temporary one.

PySpark is an optional dependency (``pip install iapt-report[spark]``): it is imported only here,
and only when Spark is asked for.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis

from .reading import CSV_MISSING_MARKERS
from .schema import OPTIONAL_TABLES, TABLE_NAMES, TABLES


class SparkUnavailable(RuntimeError):
    """Spark was asked for and cannot run here (PySpark not installed, or no Java): the message says what to do."""


#: Settings of a local session started by :func:`spark_session` (a cluster's session keeps its own).
LOCAL_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # the default 200 shuffle partitions cost more than they give on one machine
    "spark.sql.shuffle.partitions": str(max(2, 2 * (os.cpu_count() or 1))),
    "spark.driver.memory": os.environ.get("IAPT_SPARK_DRIVER_MEMORY", "2g"),
}


def spark_session() -> Any:
    """The active Spark session, or else a new local one (all the machine's cores).

    A session started here keeps Spark's warehouse in a temporary folder (never
    ``./spark-warehouse``), shows no progress bars and logs errors only. Under ``spark-submit``
    (or in a notebook of a Spark platform) the platform's session is used as it is.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable("--backend spark needs PySpark: pip install 'iapt-report[spark]' "
                               "(and Java 17 or later)") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("iapt-report")
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # launched by spark-submit: its master and settings
        return builder.getOrCreate()
    builder = builder.master(os.environ.get("IAPT_SPARK_MASTER", "local[*]"))
    scratch = Path(tempfile.mkdtemp(prefix="iapt-report-spark-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # after Spark has stopped (last in, first out)
    (scratch / "log4j2.properties").write_text(_QUIET_LOGGING, encoding="utf-8")
    settings = {**LOCAL_SETTINGS, "spark.sql.warehouse.dir": str(scratch / "warehouse"),
                # errors only, from the start: not Spark's notes on its own start-up
                "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={(scratch / 'log4j2.properties').as_uri()}"}
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:  # no Java, or a JVM that would not start
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SparkUnavailable(f"Spark could not start ({reason}); --backend spark needs Java 17 or later "
                               "on PATH or JAVA_HOME") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


_QUIET_LOGGING = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


def spark_backend(session: Any = None) -> ibis.BaseBackend:
    """An Ibis PySpark backend on ``session`` (default :func:`spark_session`) whose ``cache()`` is a
    local checkpoint: the table is computed once, kept by the executors, and read by later queries
    as a plain relation.

    With Ibis's own ``cache()`` (Spark's ``DataFrame.cache``) every later query still carries the
    whole plan that made the table (the engine caches the derived pathways), which Spark analyses
    again each time before it finds the cached copy: seconds a query, whatever the size of the data.
    """
    backend = ibis.pyspark.connect(session if session is not None else spark_session())

    def create_cached_table(name, expr):
        frame = backend._session.sql(backend.compile(expr)).localCheckpoint(eager=True)
        frame.createTempView(name)
        backend._cached_dataframes[name] = frame
        return backend.table(name)

    def drop_cached_table(name):
        backend._session.catalog.dropTempView(name)
        backend._cached_dataframes.pop(name).unpersist()

    backend._create_cached_table = create_cached_table
    backend._drop_cached_table = drop_cached_table
    return backend


def spark_tables(source: str | Path | Mapping[str, Any], session: Any = None) -> dict[str, ibis.Table]:
    """Every table of the dataset as an Ibis table that Spark reads, typed and tidied as the schema says.

    ``source`` is one of:

    * a dataset folder on this machine (or a mount every Spark worker shares): one
      ``<TABLE>.parquet`` or ``<TABLE>.csv`` a table (a folder of Parquet parts so named works too);
    * the URI of a folder Spark reads (``hdfs://...``, ``s3a://...``, ``abfss://...``, ``dbfs:/...``)
      holding ``<TABLE>.parquet`` for every table;
    * a mapping of each table to a table of the session's catalogue (``"iapt.ids101_referral"``)
      or to a Spark DataFrame.

    The tables are not validated here: :func:`backends.open_tables` validates a folder first; a
    catalogue's tables and a URI's files are taken as their owners loaded them. An optional
    table (``optional: true`` in the schema) absent from a folder or a mapping is left out; a
    URI's folder must hold every table.
    """
    backend = spark_backend(session)
    prefix = f"iapt_{uuid.uuid4().hex[:12]}_"
    if isinstance(source, Path) or (isinstance(source, str) and not _is_uri(source)):
        folder = Path(source)
        paths = {table: _table_path(folder, table) for table in TABLE_NAMES
                 if table not in OPTIONAL_TABLES or any((folder / f"{table}.{fmt}").exists() for fmt in ("parquet", "csv"))}
        raw = {table: _read_file(backend, path.suffix, path.resolve().as_uri(), prefix + table)
               for table, path in paths.items()}
    elif isinstance(source, str):
        raw = {table: _read_file(backend, ".parquet", f"{source.rstrip('/')}/{table}.parquet", prefix + table)
               for table in TABLE_NAMES}
    else:
        missing = [table for table in TABLE_NAMES if table not in source and table not in OPTIONAL_TABLES]
        if missing:
            raise ValueError(f"no table given for {', '.join(missing)}")
        raw = {table: _as_view(backend, _catalogue_table(backend, source[table]), prefix + table)
               for table in TABLE_NAMES if table in source}
    return {table: typed_table(table, raw[table]) for table in TABLE_NAMES if table in raw}


def _is_uri(text: str) -> bool:
    scheme, colon, _rest = text.partition(":")
    return bool(colon) and len(scheme) > 1 and scheme.replace("+", "").isalnum()  # not C:\...


def _table_path(folder: Path, table: str) -> Path:
    for fmt in ("parquet", "csv"):
        if (folder / f"{table}.{fmt}").exists():
            return folder / f"{table}.{fmt}"
    raise FileNotFoundError(f"{folder / table}: table file not found (looked for {table}.parquet or {table}.csv)")


def _read_file(backend: Any, suffix: str, uri: str, view: str) -> ibis.Table:
    """A file read by Spark's own reader (the URI as given: Ibis would drop a ``file://`` scheme)."""
    read = backend._session.read
    if suffix == ".parquet":
        return _as_view(backend, read.parquet(uri), view)
    # every cell as text, as the pandas path reads a CSV: the typing below converts it; quotes
    # are escaped by doubling them, and a quoted cell may hold line breaks
    frame = read.csv(uri, header=True, inferSchema=False, encoding="UTF-8", escape='"', multiLine=True,
                     emptyValue="")
    table = _as_view(backend, frame, view)
    names = {column: column.lstrip("\ufeff").strip() for column in table.columns}  # a UTF-8 BOM, spaces
    table = table.rename({new: old for old, new in names.items() if new != old})
    # the cells pandas reads as missing (an empty cell too); any other text is a value
    return table.mutate(**{column: ibis.ifelse(table[column].isin(list(CSV_MISSING_MARKERS)),
                                               ibis.null("string"), table[column])
                           for column in table.columns})


def _catalogue_table(backend: Any, table: Any) -> Any:
    return backend._session.table(table) if isinstance(table, str) else table


def _as_view(backend: Any, frame: Any, view: str) -> ibis.Table:
    frame.createOrReplaceTempView(view)
    return backend.table(view)


# --- typing and tidying, as reading.normalise_table does ------------------------------------

#: Every character Python's ``str.strip()`` removes, as a regular expression class that both
#: Java (Spark) and RE2 (DuckDB) read.
_WHITESPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(sys.maxunicode + 1))
                                  if c.isspace()) + "]"
_DIGITS = "^[0-9]+$"
_WHOLE_NUMBER = r"^([+-]?[0-9]{1,18})(\.0*)?$"
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?$"


def typed_table(table: str, raw: ibis.Table) -> ibis.Table:
    """``raw`` with its schema columns first, in schema order, typed and tidied as the schema says.

    The same values :func:`reading.normalise_table` gives a valid table (a table that fails
    validation is never computed on, so a value that does not convert is simply missing);
    columns the schema does not know are kept at the end as they are.
    """
    schema = TABLES[table]["columns"]
    typed = {name: _typed(raw[name], name, spec["type"]) for name, spec in schema.items()
             if name in raw.columns or not spec.get("optional")}  # an optional column may be absent
    extra = [name for name in raw.columns if name not in schema]
    return raw.select(**typed, **{name: raw[name] for name in extra})


def _typed(column: ibis.Value, name: str, kind: str) -> ibis.Value:
    if kind == "string":
        return _tidy_code(_text(column), name)
    if kind == "date":
        if column.type().is_string():
            text = _text(column)
            return ibis.ifelse(text.re_search(_ISO_DATE), text.substr(0, 10), ibis.null("string")).cast("date")
        return column.cast("date")
    if kind == "integer":
        if column.type().is_string():
            return _text(column).re_extract(_WHOLE_NUMBER, 1).nullif("").cast("int64")
        if column.type().is_floating():
            return ibis.ifelse(column == column.floor(), column, ibis.null("float64")).cast("int64")
        return column.cast("int64")
    # a number; NaN is missing, as pandas reads it
    number = column.cast("float64") if not column.type().is_string() else _text(column).cast("float64")
    return ibis.ifelse(number.isnan(), ibis.null("float64"), number)


def _text(column: ibis.Value) -> ibis.StringValue:
    """Text stripped of what ``str.strip()`` removes; empty text is missing. A whole float is its integer's text."""
    if column.type().is_floating():
        column = ibis.ifelse(column == column.floor(), column.cast("int64").cast("string"), column.cast("string"))
    text = column.cast("string") if not column.type().is_string() else column
    stripped = text.re_replace(f"^{_WHITESPACE_CLASS}+|{_WHITESPACE_CLASS}+$", "")
    return stripped.nullif("")


def _tidy_code(text: ibis.StringValue, name: str) -> ibis.StringValue:
    """The code tidy-ups of :data:`reading.CODE_FORMATS`: '05' -> '5' (AttendOrDNACode), '2' -> '02' (AppType ...)."""
    from .reading import CODE_FORMATS, _two_digits, _unpadded

    tidy = CODE_FORMATS.get(name)
    if tidy is None:
        return text
    unpadded = text.re_replace("^0+", "").nullif("").fill_null("0")
    if tidy is _unpadded:
        tidied = unpadded
    elif tidy is _two_digits:
        tidied = ibis.ifelse(unpadded.length() < 2, unpadded.lpad(2, "0"), unpadded)
    else:  # a tidy-up added to reading.CODE_FORMATS must be written here too
        raise NotImplementedError(f"no Spark tidy-up for {name}")
    return ibis.ifelse(text.re_search(_DIGITS), tidied, text)
