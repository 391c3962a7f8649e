# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
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
# Referrals received by gender, age group and deprivation of the area people live in: counts,
# shares and (England) rates per 100,000 population of the 2011 Census. Annual report only.
#
# `iapt-report build` runs it for every report and sets every parameter. Run by hand (JupyterLab:
# `make lab`) it reads the report built for `kind`, `period` and `org` and writes to a scratch
# folder: see docs/editing.md.

# %% tags=["parameters"]
kind: str = "annual"  # report kind: "monthly" or "annual"
period: str = "2020-21"  # reporting period: YYYY-MM (a month) for monthly, YYYY-YY (a financial year) for annual
org: str = "England"  # England, or the code of a region, ICB, sub-ICB or provider (e.g. ZP007)
output: str = "_output"  # the folder the report was built into by `iapt-report build` (relative: to the repository)
measures_path: str = ""  # unrounded measures to read; empty: those of the report built for kind, period and org in output
build_dir: str = ""  # where this section writes its variables, tables and charts; empty: a scratch folder outside the repository

# %%
import pandas as pd

from iapt_report.report import charts, narrative, sections
from iapt_report.report.build.notebook_inputs import open_section

data, out, when = open_section("demographics", kind, period, org, output, measures_path, build_dir)
people = data.counts_people("Gender") or data.counts_people("Age Group")
counted = "People referred" if people else "Referrals received"
noun = "people referred" if people else "referrals"
out.variable("counts_statement",
             f"In the {when} annual tables NHS Digital counted people, not referrals, by gender and age group: "
             "a person referred more than once in the year is counted once." if people else "")
gender = sections.breakdown_counts(data, "Gender")
age = sections.in_age_order(sections.breakdown_counts(data, "Age Group"))
deprivation = sections.deprivation_table(data)
if gender.empty and age.empty and deprivation.empty:
    out.leave_out(f"The source for this report does not hold referrals by gender, age group or deprivation for "
                  f"{when}, so this section is left out.")
rates_shown = data.national  # the Census populations are for England
out.variable("census_note", sections.CENSUS_NOTE if rates_shown else
             "Rates per 100,000 population are given in England reports only: the Census populations used are for "
             "England as a whole.")

# %% [markdown]
# ## Gender (rates per 100,000 people aged 16 and over)

# %%
for name in ("gender_sentence", "gender_rate_sentence"):
    out.variable(name, "")
if gender.empty:
    out.note("referrals_by_gender", f"Referrals by gender are not in the source for {when}." if not age.empty else "")
else:
    gender_shares = sections.shares(gender, data)
    rate_text, rate = sections.census_rates(gender, "sex", "16+", rates_shown)
    table = pd.DataFrame({"Gender": gender["label"], counted: gender["published"]})
    if gender_shares.ne("").any():
        table[f"Share of {noun} (gender stated)"] = gender_shares.values
    if rate_text.ne("").any():
        table["Rate per 100,000 aged 16+"] = rate_text.values
    out.table("referrals_by_gender", table, caption=sections.caption(f"{counted} by gender, {when}", table))
    share = dict(zip(gender["label"], gender_shares))
    count = dict(zip(gender["label"], gender["published"]))
    if share.get("Female") not in (None, "", "*") and share.get("Male") not in (None, "", "*"):
        out.variable("gender_sentence", f"Of {noun} in {when} whose gender was stated, {share['Female']} were women "
                                        f"and {share['Male']} men.")
    elif count.get("Female") not in (None, "", "*") and count.get("Male") not in (None, "", "*"):
        out.variable("gender_sentence", f"In {when}, {count['Female']} of the {noun} were women and {count['Male']} "
                                        "men.")
    rates_by = dict(zip(gender["label"], rate_text))
    if rates_by.get("Female") and rates_by.get("Male"):
        out.variable("gender_rate_sentence",
                     f"There were {rates_by['Female']} {noun} per 100,000 women aged 16 and over and "
                     f"{rates_by['Male']} per 100,000 men. The counts include the few people under 16 referred.")
    display(table)

# %% [markdown]
# ## Age group (rates per 100,000 people of that age)

# %%
if age.empty:
    out.variable("age_sentence", "")
    out.variable("age_share_sentence", "")
    out.note("referrals_by_age", f"Referrals by age group are not in the source for {when}." if not gender.empty else "")
    out.note("referrals_by_age", "", folder="figures")
else:
    age_shares = sections.shares(age, data)
    rate_text, rate = sections.census_rates(age, "age_group", "all", rates_shown)
    table = pd.DataFrame({"Age group": age["label"], counted: age["published"]})
    if age_shares.ne("").any():
        table[f"Share of {noun} (age stated)"] = age_shares.values
    if rate_text.ne("").any():
        table["Rate per 100,000 of that age"] = rate_text.values
    out.table("referrals_by_age", table, caption=sections.caption(f"{counted} by age group, {when}", table))
    stated = {label: s for label, s in zip(age["label"], age_shares) if s not in ("", "*")}
    share_sentence = ""
    if stated:
        top = max(stated, key=lambda label: sections.number_from_text(stated[label]))
        share_sentence = (f"{narrative.capitalise(narrative.age_group_people(top))} made up the largest share of "
                          f"{noun} whose age was stated ({stated[top]}).")
    out.variable("age_share_sentence", share_sentence)
    if rate.notna().sum() >= 2:  # England, age groups the Census can form: chart the rates
        categories = [narrative.Category(label, value, f"{text} per 100,000" if text else "")
                      for label, value, text in zip(age["label"], rate, rate_text)]
        finding = narrative.extremes_sentence(categories, what="The rate of referral", thing="age group",
                                              base_noun="", name=narrative.age_group_people, small_base=0) or ""
        unmatched = [label for label, r in zip(age["label"], rate) if r != r and not narrative.is_not_stated(label)]
        out.variable("age_sentence", finding
                     + (" Census ages are grouped to match the report's age groups; the 18 to 35 and 36 to 64 "
                        "populations are estimated by splitting the Census 35 to 39 band." if finding else "")
                     + (f" The Census table has no population for {narrative.and_list(unmatched)}, so no rate is "
                        "given there." if unmatched else ""))
        chart_values, axis, chart_title = rate, f"{counted} per 100,000 population", finding
    else:
        no_rates = ("Rates per 100,000 are not given for these age groups: the 2011 Census table held by this "
                    "project cannot form them." if rates_shown else "")
        if share_sentence:  # the shares say what the counts say, more plainly
            chart_values, axis, chart_title = age_shares.map(sections.number_from_text), f"Share of {noun} (%)", \
                share_sentence
        else:
            chart_values = age["published"].map(sections.number_from_text)
            categories = [narrative.Category(label, value, text)
                          for label, value, text in zip(age["label"], chart_values, age["published"])]
            chart_title = narrative.extremes_sentence(categories, what=f"The number of {noun}", thing="age group",
                                                      base_noun="", name=narrative.age_group_people, small_base=0,
                                                      counts=True) or ""
            axis = counted
        out.variable("age_sentence", " ".join(s for s in (no_rates, "" if share_sentence else chart_title) if s))
    chart_data = pd.DataFrame({"Age group": age["label"], "value": list(chart_values)})
    chart_data = chart_data[[not narrative.is_not_stated(label) for label in chart_data["Age group"]]]
    if chart_title and chart_data["value"].notna().sum() >= 2:
        title = chart_title.split(". ")[0].rstrip(".")
        figure = charts.bar_chart(chart_data, "Age group", "value", title=title, value_label=axis, horizontal=True)
        chart = charts.save_chart(
            figure, "referrals_by_age", title=title,
            alt_text=f"Bar chart of {axis[0].lower() + axis[1:]} by age group, {when}: "
                     + "; ".join(f"{r['Age group']} {r[table.columns[-1]] or r[counted] or 'not published'}"
                                 for _, r in table.iterrows()
                                 if not narrative.is_not_stated(r['Age group'])) + ".",
            data=table, out_dir=out.build_dir)
        out.chart(chart)
        display(chart)
    else:
        out.note("referrals_by_age", "", folder="figures")
    display(table)

# %% [markdown]
# ## Deprivation (Index of Multiple Deprivation decile of the area people live in)

# %%
for name in ("deprivation_sentence", "deprivation_recovery_sentence"):
    out.variable(name, "")
if deprivation.empty:
    out.note("referrals_by_deprivation", "")
    out.note("referrals_by_deprivation", "", folder="figures")
else:
    table = deprivation.drop(columns=["recovery_rate", "finished"])
    out.table("referrals_by_deprivation", table,
              caption=sections.caption(f"Referrals and outcomes by deprivation decile of the area of residence "
                                       f"(1 = least deprived), {when}", table))
    if "Referrals received" in deprivation.columns and data.values_unrounded:
        counts = sections.breakdown_counts(data, sections.DEPRIVATION)
        decile_shares = dict(zip(counts["label"], sections.shares(counts, data)))
        most = next((label for label in decile_shares if "most deprived" in label.lower()), None)
        least = next((label for label in decile_shares if "least deprived" in label.lower()), None)
        if most and least and decile_shares[most] and decile_shares[least]:
            out.variable("deprivation_sentence",
                         f"{decile_shares[most]} of referrals with a recorded area of residence came from the most "
                         f"deprived tenth of areas and {decile_shares[least]} from the least deprived tenth (each tenth "
                         "holds about a tenth of England's population).")
    categories = [narrative.Category(label, value, sections.format_for_text_or_empty(text), base,
                                     sections.format_for_text_or_empty(base_text))
                  for label, value, text, base, base_text in zip(
                      deprivation["Decile"], deprivation["recovery_rate"], deprivation.get("Recovery rate", ""),
                      deprivation["finished"], deprivation.get("Finished a course", ""))]
    finding = narrative.extremes_sentence(categories, what="Recovery", thing="deprivation decile",
                                          base_noun="referrals that finished a course", name=narrative.deprivation_decile)
    out.variable("deprivation_recovery_sentence", finding or "")
    chart_data = deprivation[[not narrative.is_not_stated(d) for d in deprivation["Decile"]]]
    if finding and chart_data["recovery_rate"].notna().sum() >= 2:
        title = narrative.extremes_sentence(categories, what="Recovery", thing="deprivation decile", base_noun="",
                                            name=narrative.deprivation_decile, small_base=0).split(". ")[0].rstrip(".")
        figure = charts.bar_chart(chart_data, "Decile", "recovery_rate", title=title, value_label="Recovery rate (%)",
                                  horizontal=True)
        chart = charts.save_chart(
            figure, "referrals_by_deprivation", title=title,
            alt_text=f"Bar chart of the recovery rate by deprivation decile, {when}: "
                     + "; ".join(f"{r['Decile']} {r['Recovery rate'] or 'not published'}"
                                 for _, r in chart_data.iterrows()) + ".",
            data=table, out_dir=out.build_dir)
        out.chart(chart)
        display(chart)
    else:
        out.note("referrals_by_deprivation", "", folder="figures")
    display(table)

# %%
out.save();
