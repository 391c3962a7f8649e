"""Synthetic record-level IAPT data: the tables of ``reference/dataset_schema.yaml``, made up.

Real record-level IAPT data are confidential, so the pipeline's embedded default is this
deterministic generator. It writes every input table with national volumes, realistic mixes
and outcomes, calibrated to NHS Digital's published national figures for September 2020
(:data:`PUBLISHED_SEPTEMBER_2020`). Nothing in it describes a real person or organisation:
organisation names and codes are fictional (``reference/synthetic_names.yaml``).

* :func:`generate` returns one pandas DataFrame per table, typed as ``dataset.read_tables`` does.
* :func:`write_dataset` writes them as ``<TABLE>.parquet`` (or ``.csv``), all or nothing.
* :func:`calibration_figures` recomputes the calibration targets from the tables in plain
  pandas, so the generator can be checked without the measure engine.

The modules, in the order a month is simulated: :mod:`.assumptions` (every number drawn from),
:mod:`.organisations`, :mod:`.draws` (volumes, dates, randomness), :mod:`.referrals` (pathways),
:mod:`.contacts` (care contacts, activities, internet-enabled therapy), :mod:`.scores`
(presenting complaints, outcome scores), :mod:`.generator` (the months and the snapshot),
:mod:`.tables`, :mod:`.people` and :mod:`.columns` (the schema's tables), :mod:`.calibration`.

How the synthetic world is made
-------------------------------
Referrals are simulated one calendar month at a time, each month from its own random stream
(seeded by ``seed`` and the month). A referral's whole pathway is drawn when it is received:
the wait to assessment, whether it is treated, its sessions, missed appointments, scores and
discharge. :func:`generate` then takes the *snapshot as at* ``end``: anything dated after
``end`` is unknown (referrals open at ``end`` have no discharge date or end code), and
referrals that ended before ``start`` are left out, as they would be from every monthly
submission of the period. Referrals are simulated from :data:`RUN_IN_MONTHS` months before
``start`` so that the first reported month has a realistic stock of open referrals.

Because each month's referrals depend only on the seed, the month and the scale, a pathway
looks the same whatever window is asked for, and a month's figures do not change when the
snapshot is taken later. Windows with different starts differ only by the few pathways that
began more than :data:`RUN_IN_MONTHS` before the earlier start (September 2020 alone and
within 2020-21 differ by under 0.5% on every calibration figure but the integrated care count,
1.3%). Patients' characteristics come from a hash of their patient key, so a patient referred
twice keeps them.

All the assumptions (volumes, mixes, waits, attendance, outcomes) are in :data:`ASSUMPTIONS`,
with where each target comes from.
"""

from .assumptions import ASSUMPTIONS, DEFAULT_SEED, PUBLISHED_SEPTEMBER_2020, RUN_IN_MONTHS
from .calibration import calibration_figures
from .draws import expected_referrals
from .generator import generate, write_dataset
from .organisations import Organisations, organisations

__all__ = ["ASSUMPTIONS", "DEFAULT_SEED", "PUBLISHED_SEPTEMBER_2020", "RUN_IN_MONTHS", "Organisations",
           "calibration_figures", "expected_referrals", "generate", "organisations", "write_dataset"]
