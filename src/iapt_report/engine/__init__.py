"""Stage 2, the measure engine: a validated dataset in, NHS Digital's measures out.

Pathways (one row per referral, derived fields), the measure registry, the measures computed
with Ibis on DuckDB, disclosure control, and the ``measures`` job that writes them.
"""
