"""A small hand-written DuckDB SQL reference: the headline measures of one period, at all five
levels, straight from the dataset's Parquet files (codes written with spaces or zeros, as the synthetic data
write some, read as the engine reads them), by the same pathway rules as the engine
(docs/definitions.md): spans, attended contacts, sessions and IET logs, the chosen problem
descriptor and its ADSM, first and last scores with the same-day tie rule, caseness, recovery
and reliable change.

It computes M001, M031, M076, M141, M179, M185, M187, M189, M191, M192 and M193: what it takes
the engine's whole `measures` run to be compared with (the engine computes about a hundred
measures more). It checks nothing: it assumes a clean dataset (synthetic data are), so its time
is that of the arithmetic alone.

    python benchmarks/reference_sql.py DATA_FOLDER 2020-09   # prints seconds and the values
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

from iapt_report.data.periods import Period
from iapt_report.reference import code_lists, instruments

MEASURES = ["M001", "M031", "M076", "M141", "M179", "M185", "M187", "M189", "M191", "M192", "M193"]
LEVELS = {"England": None, "CommissioningRegion": "Region_Code", "ICB": "ICB_Code", "SubICB": "OrgIDComm",
          "Provider": "OrgID_Provider"}


def _list(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _cases(instrument: str, score: str, what: str) -> str:
    """CASE over the instrument's name: caseness of ``score`` or its reliable change."""
    branches = []
    for name, row in instruments().items():
        if what == "caseness":
            op = ">" if row["caseness_operator"] == "gt" else ">="
            branches.append(f"WHEN '{name}' THEN {score} {op} {row['caseness_threshold']}")
        else:
            branches.append(f"WHEN '{name}' THEN {row['reliable_change']}")
    return f"(CASE {instrument} {' '.join(branches)} END)"


def reference_sql(data: Path, period: Period) -> str:
    rules = code_lists()
    f = {name: f"read_parquet('{(data / (name + '.parquet')).resolve()}')" for name in [
        "IDS101Referral", "IDS201CareContact", "IDS205InternetTherLog", "IDS603PresentingComplaints",
        "IDS606CodedScoreAssessmentRefer", "OrgSubICB"]}
    start, end = f"DATE '{period.start}'", f"DATE '{period.end}'"
    in_span = "{d} >= r.rec AND (r.dis IS NULL OR {d} <= r.dis)"
    tools = " ".join(f"WHEN '{row['snomed_code']}' THEN '{name}'" for name, row in instruments().items())
    adsm = " ".join(f"WHEN starts_with(code, '{prefix}') THEN '{name}'"
                    for prefix, name in rules["adsm_for_problem_descriptor"])
    order = "struct_pack(d := d, n := length(num), num := num, s := score, id := id)"
    sc = "pf", "pl", "xf", "xl"
    names = list(instruments())
    wide = ", ".join(f"max({end}) FILTER (WHERE inst = '{n}') AS \"{n} {end}\"" for n in names for end in ("first", "last"))
    adsm_first = " ".join(f"WHEN '{n}' THEN w.\"{n} first\"" for n in names if n not in ("PHQ9", "GAD7"))
    adsm_last = " ".join(f"WHEN '{n}' THEN w.\"{n} last\"" for n in names if n not in ("PHQ9", "GAD7"))
    return f"""
WITH ref AS (
  SELECT PathwayID, OrgID_Provider, OrgIDComm, CAST(ReferralRequestReceivedDate AS DATE) AS rec,
         CAST(ServDischDate AS DATE) AS dis FROM {f['IDS101Referral']}),
att AS (
  SELECT c.PathwayID, CAST(c.CareContDate AS DATE) AS d, lpad(ltrim(trim(c.AppType), '0'), 2, '0') AS AppType
  FROM {f['IDS201CareContact']} c JOIN ref r USING (PathwayID)
  WHERE (ltrim(trim(c.AttendOrDNACode), '0') IN ({_list(rules['attended_codes'])}) OR trim(c.PlannedCareContIndicator) = 'N')
    AND {in_span.format(d='CAST(c.CareContDate AS DATE)')}),
sess AS (
  SELECT PathwayID, d FROM att WHERE AppType IN ({_list(rules['treatment_app_types'])})
  UNION ALL
  SELECT l.PathwayID, CAST(l.EndDateIntEnabledTherLog AS DATE) FROM {f['IDS205InternetTherLog']} l JOIN ref r USING (PathwayID)
  WHERE {in_span.format(d='CAST(l.EndDateIntEnabledTherLog AS DATE)')}),
sess_sum AS (SELECT PathwayID, min(d) AS first_session, count(*) AS sessions FROM sess GROUP BY PathwayID),
complaint AS (
  SELECT PathwayID, code, valid FROM (
    SELECT PathwayID, trim(PresComp) AS code, coalesce(trim(PresComp) NOT IN ('', '-3'), false) AS valid,
           row_number() OVER (PARTITION BY PathwayID ORDER BY valid DESC, PresCompCodSig ASC NULLS LAST,
                              PresCompDate DESC NULLS LAST, UniqueID_IDS603 DESC) AS rn
    FROM {f['IDS603PresentingComplaints']}) WHERE rn = 1),
chosen AS (SELECT PathwayID, CASE WHEN valid THEN (CASE {adsm} END) END AS adsm FROM complaint),
sc AS (
  SELECT s.PathwayID, (CASE trim(CodedAssToolType) {tools} END) AS inst, PersScore AS score,
         CAST(AssToolCompDate AS DATE) AS d, UniqueID_IDS606 AS id,
         regexp_replace(regexp_extract(UniqueID_IDS606, '([0-9]+)$', 1), '^0+', '') AS num
  FROM {f['IDS606CodedScoreAssessmentRefer']} s JOIN ref r USING (PathwayID)
  WHERE {in_span.format(d='CAST(AssToolCompDate AS DATE)')}),
fl AS (
  SELECT PathwayID, inst, arg_min(score, {order}) AS first,
         CASE WHEN count(*) >= 2 THEN arg_max(score, {order}) END AS last
  FROM sc WHERE inst IS NOT NULL GROUP BY PathwayID, inst),
wide AS (
  SELECT PathwayID, {wide} FROM fl GROUP BY PathwayID),
p AS (
  SELECT r.*, ss.first_session, coalesce(ss.sessions, 0) AS sessions, c.adsm,
         w."PHQ9 first" AS pf, w."PHQ9 last" AS pl, w."GAD7 first" AS gf, w."GAD7 last" AS gl,
         (CASE c.adsm {adsm_first} END) AS af, (CASE c.adsm {adsm_last} END) AS al
  FROM ref r LEFT JOIN sess_sum ss USING (PathwayID) LEFT JOIN chosen c USING (PathwayID)
  LEFT JOIN wide w USING (PathwayID)),
o AS (
  SELECT *, CASE WHEN af IS NOT NULL AND al IS NOT NULL THEN adsm ELSE 'GAD7' END AS am,
         CASE WHEN af IS NOT NULL AND al IS NOT NULL THEN af ELSE gf END AS xf,
         CASE WHEN af IS NOT NULL AND al IS NOT NULL THEN al ELSE gl END AS xl
  FROM p),
flags AS (
  SELECT *,
    ({' AND '.join(f'{c} IS NOT NULL' for c in sc)}) AS paired,
    (pf >= 10 OR {_cases('am', 'xf', 'caseness')}) AS first_case,
    (pl >= 10 OR {_cases('am', 'xl', 'caseness')}) AS last_case,
    (pf - pl >= 6 OR xf - xl >= {_cases('am', '', 'change')}) AS improved,
    (pl - pf >= 6 OR xl - xf >= {_cases('am', '', 'change')}) AS worsened,
    (dis BETWEEN {start} AND {end} AND sessions >= 2) AS finished
  FROM o),
geo AS (SELECT f.*, g.ICB_Code, g.Region_Code FROM flags f JOIN {f['OrgSubICB']} g USING (OrgIDComm))
SELECT Region_Code, ICB_Code, OrgIDComm, OrgID_Provider, GROUPING(Region_Code, ICB_Code, OrgIDComm, OrgID_Provider) AS g,
  count(*) FILTER (WHERE rec BETWEEN {start} AND {end}) AS M001,
  count(*) FILTER (WHERE first_session BETWEEN {start} AND {end}) AS M031,
  count(*) FILTER (WHERE finished) AS M076,
  avg(sessions) FILTER (WHERE finished) AS M141,
  count(*) FILTER (WHERE finished AND paired AND NOT first_case) AS M179,
  count(*) FILTER (WHERE finished AND paired AND improved AND NOT worsened) AS M185,
  count(*) FILTER (WHERE finished AND paired AND NOT improved AND NOT worsened) AS M187,
  count(*) FILTER (WHERE finished AND paired AND worsened) AS M189,
  count(*) FILTER (WHERE finished AND paired AND first_case AND NOT last_case) AS M191,
  100.0 * M191 / NULLIF(M076 - M179, 0) AS M192,
  count(*) FILTER (WHERE finished AND paired AND first_case AND NOT last_case AND improved AND NOT worsened) AS M193
FROM geo
GROUP BY GROUPING SETS ((), (Region_Code), (ICB_Code), (OrgIDComm), (OrgID_Provider))
"""


def run(data: Path, period: Period, memory_limit: str = "3GB") -> tuple[float, dict]:
    """Seconds the query took, and {(level, code, measure): value}."""
    con = duckdb.connect(config={"memory_limit": memory_limit})
    started = time.perf_counter()
    rows = con.execute(reference_sql(data, period)).fetchall()
    seconds = time.perf_counter() - started
    names = [d[0] for d in con.description]
    values = {}
    for row in rows:
        record = dict(zip(names, row))
        level = next(name for name, column in LEVELS.items() if column is None and record["g"] == 15
                     or column is not None and record["g"] != 15 and record[column] is not None)
        code = record[LEVELS[level]] if LEVELS[level] else "England"
        for measure in MEASURES:
            values[level, code, measure] = record[measure]
    con.close()
    return seconds, values


if __name__ == "__main__":
    seconds, values = run(Path(sys.argv[1]), Period.parse(sys.argv[2]))
    print(f"{seconds:.2f} s, {len(values)} values")
    for key in sorted(values)[:12]:
        print(key, values[key])
