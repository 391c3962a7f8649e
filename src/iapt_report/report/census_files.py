"""Re-deriving the Census files the package ships (``reference/census2011_*.csv``) from the ONS
downloads, so that each shipped figure can be checked against its source table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from iapt_report.reference import code_lists

from .census import _SEX_LABELS, AGE_FILE, CENSUS_SOURCE, ETHNICITY_FILE

DC2101EW_FILE = "census2011_england_ethnic_group_by_sex_by_age_DC2101EW.csv"
_PRO_RATA_BAND = "Age 35 to 39"


def _band_bounds(label: str) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", label)]
    if "and over" in label:
        return numbers[0], 200
    return numbers[0], numbers[-1]


def build_reference_files(source_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the shipped Census files from ONS table DC2101EW (as downloaded, tidy form:
    sex, age, ethnic_group, count). Used to create ``reference/census2011_*.csv``; the tests
    check the shipped files equal what this derives when the source is available.

    Age groups whose limits fall inside a Census band (only 35 to 39, split between 18 to 35
    and 36 to 64) take a fifth of that band per year of age, rounded half-up to whole people
    for males and females separately; persons are the sum of the two.
    """
    source = pd.read_csv(Path(source_dir) / DC2101EW_FILE)
    source = source[source["geography_code"] == "E92000001"]
    source = source.assign(sex=source["sex"].map(_SEX_LABELS))
    bands = [a for a in dict.fromkeys(source["age"]) if a != "All categories: Age"]
    bounds = {band: _band_bounds(band) for band in bands}

    # ethnic group x sex, aged 16+ and 18+
    by_age = source[source["age"] != "All categories: Age"]
    rows = []
    for (sex, group), cell in by_age.groupby(["sex", "ethnic_group"], sort=False):
        counts = dict(zip(cell["age"], cell["count"]))
        level = "all" if group.startswith("All categories") else "high_level" if group.endswith(": Total") else "group"
        rows.append({
            "census_ethnic_group": group, "level": level, "sex": sex,
            "aged_16_plus": sum(n for b, n in counts.items() if bounds[b][0] >= 16),
            "aged_18_plus": sum(n for b, n in counts.items() if bounds[b][0] >= 18),
            "source": CENSUS_SOURCE,
        })
    ethnicity = pd.DataFrame(rows)

    # annual report age groups x sex (all ethnic groups)
    everyone = by_age[by_age["ethnic_group"] == "All categories: Ethnic group"]
    age_rows = []
    for label, low, high in code_lists()["age_groups"]:
        per_sex = {}
        used, approximate = [], False
        for band in bands:
            b_low, b_high = bounds[band]
            overlap = min(high, b_high) - max(low, b_low) + 1
            if overlap <= 0:
                continue
            width = b_high - b_low + 1
            if overlap == width:
                used.append(band.removeprefix("Age "))
            else:
                approximate = True
                used.append(f"{overlap}/{width} of {band.removeprefix('Age ')}")
            for sex in ("Male", "Female"):
                n = int(everyone.loc[(everyone["sex"] == sex) & (everyone["age"] == band), "count"].iloc[0])
                share = n if overlap == width else _pro_rata(n, overlap, width, upper_part=b_low < low)
                per_sex[sex] = per_sex.get(sex, 0) + share
        per_sex["Persons"] = per_sex["Male"] + per_sex["Female"]
        method = ("pro rata: ages in a Census band assumed equally common; "
                  "males and females rounded half-up to whole people" if approximate else "exact")
        for sex in ("Persons", "Male", "Female"):
            age_rows.append({"age_group": label, "sex": sex, "population": per_sex[sex],
                             "census_age_bands": " + ".join(used), "approximate": approximate,
                             "method": method, "source": CENSUS_SOURCE})
    ages = pd.DataFrame(age_rows)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for frame, name in ((ethnicity, ETHNICITY_FILE), (ages, AGE_FILE)):
        path = out_dir / name
        frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
        written.append(path)
    return written


def _pro_rata(n: int, years: int, width: int, *, upper_part: bool) -> int:
    """The share of a Census band's ``n`` people for ``years`` of its ``width`` years.

    The lower part is rounded half-up and the upper part is the remainder, so the two parts
    always add back to ``n``.
    """
    lower_years = width - years if upper_part else years
    lower = (2 * n * lower_years + width) // (2 * width)  # n * lower_years / width, half-up
    return n - lower if upper_part else lower
