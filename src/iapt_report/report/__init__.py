"""Stage 3, the reports: from the measures table to sections, narrative, charts and tables,
rendered to HTML and PDF, built in batches.

Reads the measures (from the engine or from published files) and reference data; nothing
below imports from here.
"""
