import sys
from pathlib import Path

import pytest

# tests import their shared builders (tests/builders.py) as plain modules
sys.path.insert(0, str(Path(__file__).parent))


def spark_available() -> str | None:
    """Why the Spark tests cannot run here (PySpark or Java missing), or None when they can."""
    import importlib.util
    import os
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "PySpark is not installed (it comes with the test extra: pip install -e '.[test]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "java is not on PATH and JAVA_HOME is not set (Spark needs Java 17)"
    return None


def pytest_sessionstart(session):
    """In CI the tests that render with Quarto, read PDFs, check pages in Chromium and run on Spark
    must run: a missing tool fails the run instead of skipping those tests (they skip on other machines)."""
    import os
    import shutil

    if not os.environ.get("CI"):
        return
    from browser import page_check_available

    missing = [tool for tool in ("quarto", "pdftotext", "pdftoppm", "chromium", "node") if shutil.which(tool) is None]
    if not page_check_available():
        missing.append("tests/page_check's npm packages (.tools/page_check)")
    if spark_available():
        missing.append(f"Spark ({spark_available()})")
    if missing:
        raise pytest.UsageError(f"CI is set but {', '.join(missing)} not on PATH: the tests that need them would "
                                "skip. .ci/run installs them; outside CI, unset CI to let those tests skip.")


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test run (each xdist worker has its own), set for tiny data.

    Its warehouse is a temporary folder; the measure code only makes temporary views, so nothing
    is left behind. Skips when PySpark or Java is missing (fails in CI: see pytest_sessionstart).
    """
    import shutil
    import tempfile

    reason = spark_available()
    if reason:
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    warehouse = tempfile.mkdtemp(prefix="iapt-test-spark-warehouse-")
    settings = {
        "spark.sql.warehouse.dir": warehouse,
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # tiny tables: one partition a shuffle, no re-planning, no generated code to compile
        "spark.sql.shuffle.partitions": "1",
        "spark.default.parallelism": "1",
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.driver.memory": "1g",
    }
    builder = SparkSession.builder.master("local[1]").appName("iapt-report-tests")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    shutil.rmtree(warehouse, ignore_errors=True)


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def backend(request):
    """Each backend the measures are computed on, in turn: the DatasetBuilder's ``ibis_tables()``
    give that backend's tables while the test runs (Spark reads them from Parquet files, as
    ``--backend spark`` reads a dataset folder)."""
    import builders

    if request.param == "spark":
        request.getfixturevalue("spark")
    previous, builders.BACKEND = builders.BACKEND, request.param
    yield request.param
    builders.BACKEND = previous
