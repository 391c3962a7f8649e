"""Where and how files are written: safe output paths, folders replaced all or nothing,
formula-safe CSV files and the manifest.

Used by every stage that writes (the measures job, the synthetic generator, report builds);
reads nothing of the pipeline above :mod:`iapt_report.data`.
"""
