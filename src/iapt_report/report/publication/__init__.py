"""The release kit (``iapt-report publish``): one folder holding what is uploaded on release day.

:mod:`.release` assembles it from builds; :mod:`.reference_tables` writes the accessible
workbook (gptables); :mod:`.landing_page` writes ``index.html`` and ``SHA256SUMS``.
"""
