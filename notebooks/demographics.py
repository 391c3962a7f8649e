# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Demographics
#
# Referrals received by gender and age group, as counts and as rates per 100,000 population
# (2011 Census, England). Annual report only. Run only through papermill.

# %% tags=["parameters"]
kind = "annual"
period = "2020-21"
org = "England"
measures_path = "measures_unrounded.parquet"
build_dir = "."

# %%
import pandas as pd

from iapt_report import census, charts, sections
from iapt_report.report_data import ReportData
from iapt_report.section_output import SectionOutput

data = ReportData.open(measures_path, period, org)
out = SectionOutput(build_dir, "demographics")
when = sections.period_name(data)
people = data.counts_people("Gender") or data.counts_people("Age Group")
counted = "People referred" if people else "Referrals received"
noun = "people referred" if people else "referrals"
no_population = "no Census population" if data.national else "England reports only"
out.variable("counts_statement",
             f"In the {when} annual tables NHS Digital counted people, not referrals, by gender and age group: "
             "a person referred more than once in the year is counted once." if people else "")
if sections.breakdown_counts(data, "Gender").empty and sections.breakdown_counts(data, "Age Group").empty:
    out.leave_out(f"The source for this report does not hold referrals by gender or age group for {when}, so "
                  "this section is left out.")


def with_rates(counts, by, base):
    """Rates per 100,000 from unrounded counts; shown only where the count is published."""
    known = counts[counts["label"].isin(census.census_population(by, base)[by]) & counts["count"].notna()]
    if known.empty or not data.national:  # Census populations are for England; some age groups cannot be formed
        return pd.DataFrame(columns=[by, "rate_per_100k", "Rate per 100,000"])
    rates = census.rates_per_100k(known.rename(columns={"label": by}), by, base=base, value_col="count")
    rates["Rate per 100,000"] = [
        sections.rate_as_text(rate, data.national) if published not in ("fewer than 5", "not available") else "not shown"
        for rate, published in zip(rates["rate_per_100k"], known["published"])]
    return rates


# %% [markdown]
# ## Gender (rates per 100,000 people aged 16 and over)

# %%
gender = sections.breakdown_counts(data, "Gender")
if gender.empty:
    out.variable("gender_sentence", "Referrals by gender are not in the measures for this report.")
    out.note("referrals_by_gender", "")
else:
    rates = with_rates(gender, "sex", "16+")
    table = gender[["label", "published"]].merge(rates[["sex", "Rate per 100,000"]], left_on="label", right_on="sex",
                                                 how="left").drop(columns="sex").fillna({"Rate per 100,000": no_population})
    table.columns = ["Gender", counted, "Rate per 100,000 aged 16+"]
    out.table("referrals_by_gender", table)
    female = rates[rates.sex == "Female"]["Rate per 100,000"]
    male = rates[rates.sex == "Male"]["Rate per 100,000"]
    if len(female) and len(male):
        out.variable("gender_sentence",
                     f"In {when} there were {female.iloc[0]} {noun} per 100,000 women aged 16 and over and "
                     f"{male.iloc[0]} per 100,000 men.")
    else:
        out.variable("gender_sentence", f"Referrals by gender in {when}." + ("" if data.national else
                     " Rates per 100,000 population are in England reports: the Census populations are for England."))
gender

# %% [markdown]
# ## Age group (rates per 100,000 people of that age)

# %%
age = sections.breakdown_counts(data, "Age Group")
if age.empty:
    out.variable("age_sentence", "Referrals by age group are not in the measures for this report.")
    out.note("referrals_by_age", "")
    out.note("referrals_by_age", "", folder="figures")
else:
    rates = with_rates(age, "age_group", "all")
    table = age[["label", "published"]].merge(rates[["age_group", "Rate per 100,000"]], left_on="label",
                                              right_on="age_group", how="left").drop(columns="age_group")
    table = table.fillna({"Rate per 100,000": no_population})
    table.columns = ["Age group", counted, "Rate per 100,000 of that age"]
    out.table("referrals_by_age", table)
    shown = rates[rates["Rate per 100,000"] != "not shown"].copy()
    shown["rate"] = shown["Rate per 100,000"].map(sections.number_from_text)
    if len(shown) >= 2:
        top = shown.sort_values("rate", ascending=False).iloc[0]
        title = f"People aged {top.age_group.lower()} were referred at the highest rate ({top['Rate per 100,000']} per 100,000)"
        figure = charts.bar_chart(shown, "age_group", "rate", title=title,
                                  value_label="Referrals per 100,000 population", horizontal=True)
        out.chart(charts.save_chart(
            figure, "referrals_by_age", title=title,
            alt_text="Bar chart of referrals received per 100,000 population by age group: "
                     + "; ".join(f"{r.age_group} {r['Rate per 100,000']}" for _, r in shown.iterrows()),
            data=table, out_dir=build_dir))
        out.variable("age_sentence", f"{title} in {when}. Census ages are grouped to match the report's age "
                                     "groups; the 18 to 35 and 36 to 64 populations are estimated by splitting the "
                                     "Census 35 to 39 band.")
    else:
        out.note("referrals_by_age", "Too few age groups to chart.", folder="figures")
        out.variable("age_sentence", f"Referrals by age group in {when}.")
age

# %%
out.save()
