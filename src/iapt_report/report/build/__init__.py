"""Building reports: measures, section notebooks (papermill), rendering, in a batch.

One report is one (kind, period, organisation). Each is built in a staging folder and moved to
``<output>/<kind>/<period>/<org>/`` only when complete; a failing report does not stop the
batch, and every failure is listed at the end. ``<output>/index.html`` lists every report built.

The modules, in the order a build runs: :mod:`.config` (the settings), :mod:`.batch` (the
reports of a run, the output folder checked first), :mod:`.measure_sources` (measures from a
dataset, cached, or from a published file), :mod:`.report_folder` (one report, start to
finish), :mod:`.notebooks` (the section notebooks) and :mod:`.index`.
"""

from .batch import build_reports
from .config import REPOSITORY, SECTIONS, BuildConfig, BuildError
from .index import INDEX_GENERATOR, write_index
from .notebooks import BuildStopped
from .report_folder import BuiltReport, adapt_sources

__all__ = ["INDEX_GENERATOR", "REPOSITORY", "SECTIONS", "BuildConfig", "BuildError", "BuildStopped", "BuiltReport",
           "adapt_sources", "build_reports", "write_index"]
