"""Census 2011 populations, the NHS-to-Census ethnicity mapping, and rates per 100,000."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from iapt_report import reference
from iapt_report.reference import code_lists
from iapt_report.report import census, census_files
from iapt_report.report.census import CensusError, census_population, rate_summary, rates_per_100k, representation

SHARED_REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "reference"
PACKAGE_REFERENCE = Path(reference.__file__).parent

# published 2011 Census totals for England (ONS; ../shared/data/README.md and the summary file)
ALL_PERSONS = 53_012_456
AGED_18_PLUS = 41_675_496
AGED_16_PLUS = 42_989_620
NHS_CODES = list("ABCDEFGHJKLMNPRS")


def _shared(name: str) -> Path:
    path = SHARED_REFERENCE / name
    if not path.exists():
        pytest.skip(f"ONS source file not available at {path} (shared data folder absent)")
    return path


# --- totals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("by", ["ethnic_group", "ethnic_category", "census_group", "sex", "age_group"])
@pytest.mark.parametrize("base, total", [("16+", AGED_16_PLUS), ("18+", AGED_18_PLUS)])
def test_every_breakdown_adds_up_to_the_census_total(by, base, total):
    assert census_population(by, base)["population"].sum() == total
    assert census.total_population(base) == total


@pytest.mark.parametrize("by", ["age_group", "sex"])
def test_all_ages_add_up_to_all_persons(by):
    assert census_population(by, "all")["population"].sum() == ALL_PERSONS


def test_ethnicity_by_all_ages_is_not_shipped_and_says_so():
    with pytest.raises(CensusError, match="16\\+ and 18\\+"):
        census_population("ethnic_group", "all")


def test_shipped_16_plus_figures_match_the_ons_summary():
    summary = pd.read_csv(_shared("census2011_england_ethnic_group_summary.csv"))
    shipped = census._ethnicity_table()
    persons = shipped[shipped["sex"] == "Persons"].set_index("census_ethnic_group")
    source = summary.set_index("ethnic_group")
    assert persons.index.tolist() == source.index.tolist()
    assert (persons["aged_16_plus"] == source["persons_16plus"]).all()
    assert (persons["aged_18_plus"] == source["persons_18plus"]).all()
    assert census_population("census_group")["population"].sum() == source.at[
        "All categories: Ethnic group", "persons_16plus"]
    for sex, prefix in (("Male", "males"), ("Female", "females")):
        rows = shipped[shipped["sex"] == sex].set_index("census_ethnic_group")
        assert (rows["aged_16_plus"] == source[f"{prefix}_16plus"]).all()
        assert (rows["aged_18_plus"] == source[f"{prefix}_18plus"]).all()


def test_shipped_files_are_exactly_what_the_ons_table_gives(tmp_path):
    _shared(census_files.DC2101EW_FILE)
    written = census_files.build_reference_files(SHARED_REFERENCE, tmp_path)
    for path in written:
        assert path.read_bytes() == (PACKAGE_REFERENCE / path.name).read_bytes(), path.name


def test_shipped_age_groups_match_the_ons_sex_by_age_table():
    ages = pd.read_csv(_shared("census2011_england_sex_by_age.csv")).set_index("age_band")
    shipped = census._age_table()
    persons = shipped[shipped["sex"] == "Persons"].set_index("age_group")["population"]
    assert persons["Under 16"] == ages.loc[["Age 0 to 4", "Age 5 to 7", "Age 8 to 9", "Age 10 to 14", "Age 15"],
                                           "persons"].sum()
    assert persons["16 to 17"] == ages.at["Age 16 to 17", "persons"]
    assert persons["65 and over"] == ages.loc[["Age 65 to 69", "Age 70 to 74", "Age 75 to 79", "Age 80 to 84",
                                               "Age 85 and over"], "persons"].sum()
    middle = ages.loc["Age 18 to 19":"Age 60 to 64", "persons"].sum()
    assert persons["18 to 35"] + persons["36 to 64"] == middle


def test_groups_add_up_to_their_census_totals_for_each_sex_and_base():
    table = census._ethnicity_table()
    for sex in ("Persons", "Male", "Female"):
        rows = table[table["sex"] == sex]
        groups = rows[rows["level"] == "group"]
        total = rows[rows["level"] == "all"]
        assert len(groups) == 18
        for column in ("aged_16_plus", "aged_18_plus"):
            assert groups[column].sum() == total[column].iloc[0]
            for _, high in rows[rows["level"] == "high_level"].iterrows():
                prefix = high["census_ethnic_group"].removesuffix(": Total")
                members = groups[groups["census_ethnic_group"].str.startswith(prefix + ":")]
                assert members[column].sum() == high[column]
    persons = table[(table["sex"] == "Persons") & (table["level"] == "all")].iloc[0]
    males = table[(table["sex"] == "Male") & (table["level"] == "all")].iloc[0]
    females = table[(table["sex"] == "Female") & (table["level"] == "all")].iloc[0]
    assert males["aged_16_plus"] + females["aged_16_plus"] == persons["aged_16_plus"]


def test_every_shipped_row_names_its_ons_table():
    for table in (census._ethnicity_table(), census._age_table()):
        assert table["source"].str.contains("DC2101EW").all()


# --- age groups -----------------------------------------------------------------------------

def test_age_groups_follow_the_annual_report_bands_and_flag_the_approximation():
    frame = census_population("age_group", "all")
    assert frame["age_group"].tolist() == [label for label, *_ in code_lists()["age_groups"]]
    approximate = dict(zip(frame["age_group"], frame["approximate"]))
    assert approximate == {"Under 16": False, "16 to 17": False, "18 to 35": True, "36 to 64": True,
                           "65 and over": False}
    assert census_population("age_group", "16+")["age_group"].tolist()[0] == "16 to 17"
    assert census_population("age_group", "18+")["age_group"].tolist()[0] == "18 to 35"


def test_age_35_is_a_fifth_of_the_35_to_39_band_per_sex():
    ages = census._age_table().set_index(["age_group", "sex"])["population"]
    # males 35-39: 1,765,582 / 5 = 353,116.4 -> 353,116; females 1,783,534 / 5 = 356,706.8 -> 356,707
    males_18_34 = 696_745 + 1_810_404 + 1_820_536 + 1_754_903
    females_18_34 = 678_570 + 1_784_917 + 1_830_345 + 1_754_318
    assert ages[("18 to 35", "Male")] == males_18_34 + 353_116
    assert ages[("18 to 35", "Female")] == females_18_34 + 356_707
    assert ages[("18 to 35", "Persons")] == ages[("18 to 35", "Male")] + ages[("18 to 35", "Female")]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 1_765_582, 1_783_534, 3_549_116])
def test_pro_rata_parts_add_back_to_the_band(n):
    lower = census_files._pro_rata(n, 1, 5, upper_part=False)
    upper = census_files._pro_rata(n, 4, 5, upper_part=True)
    assert lower + upper == n
    assert abs(lower - n / 5) <= 0.5


# --- ethnicity mapping ----------------------------------------------------------------------

def test_mapping_covers_all_16_nhs_codes_with_the_code_list_labels():
    mapping = census.ethnicity_mapping()
    coded = mapping[mapping["nhs_code"] != ""]
    assert sorted(coded["nhs_code"].unique()) == NHS_CODES
    for code, (group, category) in code_lists()["ethnic_category"].items():
        rows = coded[coded["nhs_code"] == code]
        assert (rows["nhs_group"] == group).all() and (rows["nhs_category"] == category).all()
        assert (rows["label_2013_14"].str.casefold() == category.casefold()).all()


def test_every_census_group_is_used_exactly_once():
    mapping = census.ethnicity_mapping()
    used = mapping.loc[mapping["census_ethnic_group"] != "", "census_ethnic_group"]
    assert sorted(used) == sorted(census_population("census_group")["census_group"])
    assert used.is_unique


def test_the_census_only_groups_are_folded_into_the_nhs_other_categories():
    mapping = census.ethnicity_mapping()
    def census_for(code):
        return set(mapping.loc[mapping["nhs_code"] == code, "census_ethnic_group"])
    assert census_for("C") == {"White: Gypsy or Irish Traveller", "White: Other White"}
    assert census_for("S") == {"Other ethnic group: Arab", "Other ethnic group: Any other ethnic group"}
    assert census_for("R") == {"Asian/Asian British: Chinese"}
    assert census_for("L") == {"Asian/Asian British: Other Asian"}


def test_not_stated_has_its_own_row_and_no_census_group():
    mapping = census.ethnicity_mapping()
    row = mapping[mapping["nhs_code"] == ""].iloc[0]
    assert row["nhs_category"] == "Not stated/Not known/Invalid"
    assert row["census_ethnic_group"] == ""
    assert row["label_2013_14"] == "Unknown Ethnic Groups"


def test_chinese_is_counted_in_other_for_the_five_groups():
    groups = census_population("ethnic_group").set_index("ethnic_group")["population"]
    raw = census_population("census_group").set_index("census_group")["population"]
    chinese = raw["Asian/Asian British: Chinese"]
    assert groups["Other Ethnic Groups"] == (raw["Other ethnic group: Arab"]
                                             + raw["Other ethnic group: Any other ethnic group"] + chinese)
    assert groups["Asian or Asian British"] == 3_123_249 - chinese  # Census Asian total, 16+
    assert groups["White"] == 37_452_110
    assert list(groups.index) == ["White", "Mixed", "Asian or Asian British", "Black or Black British",
                                  "Other Ethnic Groups"]


def test_ethnic_categories_are_in_nhs_order_with_codes():
    frame = census_population("ethnic_category")
    assert frame["code"].tolist() == NHS_CODES
    assert frame.set_index("code").at["C", "population"] == 37_425 + 2_057_588


# --- rates by hand --------------------------------------------------------------------------

HAND_POPULATION = pd.DataFrame({"group": ["Group A", "Group B"], "population": [1_000_000, 2_000_000]})
HAND_COUNTS = pd.DataFrame({"group": ["Group A", "Group B", "Not stated/Not known/Invalid"],
                            "count": [500, 3_000, 500]})


def test_rates_per_100k_by_hand():
    rates = rates_per_100k(HAND_COUNTS, "group", population=HAND_POPULATION).set_index("group")
    # 500 referrals in 1,000,000 people = 50.0 per 100,000; 3,000 in 2,000,000 = 150.0
    assert rates.at["Group A", "rate_per_100k"] == pytest.approx(50.0)
    assert rates.at["Group B", "rate_per_100k"] == pytest.approx(150.0)
    # overall: stated referrals (3,500) over the whole population (3,000,000) = 116.67 per 100,000
    overall = 3_500 / 3_000_000 * 100_000
    assert rates["overall_rate_per_100k"].tolist() == pytest.approx([overall] * 3)
    assert rates.at["Group A", "relative_rate"] == pytest.approx(50.0 / overall)  # 0.43
    assert rates.at["Group B", "relative_rate"] == pytest.approx(150.0 / overall)  # 1.29
    # not stated stays as its own line, with no population or rate, and its share shown
    assert math.isnan(rates.at["Not stated/Not known/Invalid", "population"])
    assert math.isnan(rates.at["Not stated/Not known/Invalid", "rate_per_100k"])
    assert rates.at["Not stated/Not known/Invalid", "share_of_count"] == pytest.approx(12.5)
    assert rates.at["Not stated/Not known/Invalid", "census_note"] == census.NO_CENSUS_EQUIVALENT
    assert rates["share_of_count"].sum() == pytest.approx(100.0)


def test_rate_summary_by_hand():
    summary = rate_summary(HAND_COUNTS, "group", population=HAND_POPULATION)
    assert summary == pytest.approx({"stated_count": 3_500, "not_stated_count": 500, "total_count": 4_000,
                                     "not_stated_share": 12.5, "population": 3_000_000,
                                     "overall_rate_per_100k": 3_500 / 30})


def test_rates_against_the_census():
    counts = pd.DataFrame({"ethnic_group": ["White", "Mixed", "Asian or Asian British", "Black or Black British",
                                            "Other Ethnic Groups", "Not stated/Not known/Invalid"],
                           "referrals": [374_521.1, 6_541.29, 10_000, 20_000, 5_000, 40_000]})
    rates = rates_per_100k(counts, "ethnic_group", value_col="referrals").set_index("ethnic_group")
    assert rates.at["White", "rate_per_100k"] == pytest.approx(1_000.0)  # 374,521.1 / 37,452,110
    assert rates.at["Mixed", "rate_per_100k"] == pytest.approx(1_000.0)  # 6,541.29 / 654,129
    stated = counts["referrals"].iloc[:5].sum()
    assert rates.at["White", "overall_rate_per_100k"] == pytest.approx(stated / AGED_16_PLUS * 100_000)


def test_labels_match_regardless_of_case_era_or_code():
    counts = pd.DataFrame({"ethnic_category": ["Any Other White Background", "  irish ", "A",
                                               "Unknown Ethnic Groups"], "count": [10, 20, 30, 40]})
    rates = rates_per_100k(counts, "ethnic_category")
    assert rates["population"].tolist()[:3] == [2_095_013, 487_373, 34_869_724]
    assert rates["census_note"].tolist()[3] == census.NO_CENSUS_EQUIVALENT


def test_age_groups_outside_the_base_keep_their_line():
    counts = pd.DataFrame({"age_group": ["Under 16", "16 to 17", "18 to 35", "36 to 64", "65 and over"],
                           "count": [100, 200, 300, 400, 500]})
    rates = rates_per_100k(counts, "age_group", base="16+").set_index("age_group")
    assert math.isnan(rates.at["Under 16", "rate_per_100k"])
    assert "outside the population base" in rates.at["Under 16", "census_note"]
    assert rates.at["16 to 17", "rate_per_100k"] == pytest.approx(200 / 1_314_124 * 100_000)
    everyone = rates_per_100k(counts, "age_group", base="all").set_index("age_group")
    assert everyone.at["Under 16", "population"] == 10_022_836


@pytest.mark.parametrize("label, message", [
    ("Asian", "not a Census group"),
    ("Total", "total row"),
])
def test_unknown_labels_fail_with_a_clear_message(label, message):
    counts = pd.DataFrame({"ethnic_group": ["White", label], "count": [1, 2]})
    with pytest.raises(CensusError, match=message):
        rates_per_100k(counts, "ethnic_group")


def test_suppressed_or_duplicated_counts_are_refused():
    with pytest.raises(CensusError, match="suppressed"):
        rates_per_100k(pd.DataFrame({"ethnic_group": ["White", "Mixed"], "count": [10, None]}), "ethnic_group")
    with pytest.raises(CensusError, match="more than one row"):
        rates_per_100k(pd.DataFrame({"ethnic_group": ["White", "white"], "count": [10, 5]}), "ethnic_group")
    with pytest.raises(CensusError, match="no column"):
        rates_per_100k(pd.DataFrame({"group": ["White"], "count": [10]}), "ethnic_group")


# --- representation -------------------------------------------------------------------------

def test_representation_labels_and_thresholds():
    rates = pd.DataFrame({"group": ["low", "edge low", "mid", "edge high", "high", "none"],
                          "relative_rate": [0.5, 0.9, 1.0, 1.1, 1.5, float("nan")]})
    labelled = representation(rates)["representation"].tolist()
    assert labelled == ["under-represented", "similar", "similar", "similar", "over-represented",
                        "no Census comparison"]
    strict = representation(rates, over_threshold=1.05, under_threshold=0.95)["representation"].tolist()
    assert strict[1] == "under-represented" and strict[3] == "over-represented"


def test_representation_of_the_hand_example():
    labelled = representation(rates_per_100k(HAND_COUNTS, "group", population=HAND_POPULATION))
    assert labelled["representation"].tolist() == ["under-represented", "over-represented",
                                                   "no Census comparison"]


def test_representation_needs_rates_and_sensible_thresholds():
    with pytest.raises(CensusError, match="rates_per_100k"):
        representation(HAND_COUNTS)
    with pytest.raises(CensusError, match="thresholds"):
        representation(pd.DataFrame({"relative_rate": [1.0]}), over_threshold=0.8)
