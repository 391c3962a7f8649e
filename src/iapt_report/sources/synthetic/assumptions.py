"""Every assumption the synthetic generator draws from, in one place, with where each target comes
from: seeds, the published figures it is calibrated to, volumes, mixes, waits, attendance, outcomes.
"""

from __future__ import annotations

from datetime import date

DEFAULT_SEED = 20200901
#: The synthetic organisations are the same for every seed and scale (fixed seed of their own).
ORGANISATION_SEED = 1948
#: Months of referrals simulated before ``start``: pathways rarely stay open longer.
RUN_IN_MONTHS = 12

#: NHS Digital, Improving Access to Psychological Therapies (IAPT) monthly statistics,
#: September 2020 (England): the figures the generator is calibrated to at scale 1.0.
PUBLISHED_SEPTEMBER_2020 = {
    "referrals_received": 132_237,                # M001 Count_ReferralsReceived
    "entered_treatment": 95_578,                  # M031 Count_FirstTreatment
    "finished_course": 53_722,                    # M076 Count_FinishedCourseTreatment
    "mean_sessions_finished": 7.5,                # M141 Mean_ApptsFinishedCourseTreatment
    "pct_finished_waited_6_weeks": 90.4,          # M053 Percentage_FirstTreatment6WeeksFinishedCourseTreatment
    "recovery_rate": 50.4,                        # M192 Percentage_Recovery
    "internet_therapy_sessions": 5_145,           # M343 Count_InternetEnabledTherapySessions
    "referrals_with_integrated_contact": 19_886,  # integrated care (see calibration_figures)
}

# ---------------------------------------------------------------------------------------------
# Assumptions: every distribution and mix the generator draws from, in one place.
# Shares are relative weights (normalised where used). "Published" = NHS Digital IAPT
# monthly/annual statistics (2019-20 to 2021-22); "tuned" = set so that the September 2020
# calibration figures come out right at scale 1.0 (see tests/test_synthetic.py).
# ---------------------------------------------------------------------------------------------
ASSUMPTIONS: dict = {
    "volume": {
        # referrals received nationally: Sept 2020 = 132,237 (published M001)
        "anchor_month": (2020, 9),
        "anchor_referrals": 132_237,
        # calendar-month pattern (December and August low), around 2019-20 published months
        "seasonal": {1: 1.10, 2: 1.02, 3: 1.06, 4: 0.96, 5: 1.00, 6: 0.99,
                     7: 1.02, 8: 0.90, 9: 1.00, 10: 1.06, 11: 1.04, 12: 0.80},
        # COVID-19: referrals fell to under half in April 2020 and had not fully recovered by
        # September 2020 (published 2019-20 vs 2020-21 months); 1.0 elsewhere
        "covid": {"2020-03": 0.85, "2020-04": 0.45, "2020-05": 0.60, "2020-06": 0.76,
                  "2020-07": 0.85, "2020-08": 0.89, "2020-09": 0.92, "2020-10": 0.94,
                  "2020-11": 0.95, "2020-12": 0.96, "2021-01": 0.97},
        "annual_growth": 0.03,
        # Monday .. Sunday: self-referrals arrive every day, GP referrals on weekdays
        "weekday": [1.18, 1.12, 1.10, 1.06, 1.00, 0.30, 0.24],
    },
    "organisations": {
        # (region code) -> (ICBs, sub-ICBs, population in millions): 42 ICBs, 106 sub-ICBs
        "regions": {"Y90": (4, 15, 8.2), "Y91": (3, 14, 7.4), "Y92": (11, 24, 10.8),
                    "Y93": (6, 14, 6.3), "Y94": (5, 5, 9.0), "Y95": (6, 18, 9.2),
                    "Y96": (7, 16, 5.7)},
        "subicb_population_sd": 0.35,      # log-normal spread of sub-ICB sizes
        "second_trust_min_subicbs": 5,     # an ICB with this many sub-ICBs has two NHS trusts
        "small_providers_per_icb": 1.7,    # voluntary/independent providers (Poisson mean, +1)
        "small_provider_size_sd": 1.0,     # log-normal spread of their sizes
        "small_provider_share": 0.22,      # of a sub-ICB's referrals going to small providers
        "national_provider_share": 0.03,   # going to the national digital/independent providers
        # provider-level variation ("random effects") in performance
        "wait_sd": 0.30,                   # log-multiplier on waits
        "treatment_logit_sd": 0.30,        # logit shift on entering treatment
        "improvement_sd": 0.05,            # shift in the fraction of symptoms improved
        "missed_sd": 0.30,                 # log-multiplier on missed appointments
        "internet_therapy_sd": 1.0,        # log-multiplier on use of internet-enabled therapy
        "integrated_share": 0.75,          # providers with an integrated care (LTC) service
        "integrated_sd": 0.50,
    },
    "source_of_referral": {  # published 2020-21: self ~60%, GP ~30%
        "B1": 60.0, "A1": 30.0, "A3": 1.3, "A2": 0.1, "A4": 0.2, "B2": 0.3, "C1": 0.2,
        "C2": 0.05, "C3": 0.05, "D1": 0.1, "D2": 0.2, "E1": 0.03, "E3": 0.03, "E5": 0.04,
        "F1": 0.03, "F3": 0.02, "G3": 0.2, "G4": 0.5, "H1": 0.4, "H2": 0.4, "I2": 0.1,
        "M2": 0.3, "M3": 0.1, "M5": 0.1, "M6": 1.0, "M7": 0.4, "N1": 0.3, "N2": 0.1,
        "N4": 0.1, "P1": 0.8, "X9": 0.2, "99": 0.1, None: 0.4,  # X9, 99: invalid codes
    },
    "patients": {
        "repeat_referral": 0.12,           # referrals of a patient referred before
        "repeat_within_months": 24,
        # age at referral (published 2020-21: ~2% under 18, ~8% 65+): [from, to, share]
        "age_bands": [[14, 15, 0.2], [16, 17, 1.6], [18, 25, 18.0], [26, 35, 25.0],
                      [36, 64, 47.2], [65, 74, 5.3], [75, 89, 2.5], [90, 97, 0.2]],
        "gender": {"2": 62.2, "1": 36.5, "9": 0.2, "X": 0.6, None: 0.5},  # ~62% female
        # v2.1 gender identity, recorded for patients with a referral from April 2022
        "gender_identity_from": date(2022, 4, 1),
        "gender_identity_recorded": 0.85,
        "gender_identity_other": {"3": 0.5, "4": 0.2, "X": 0.8, "Z": 1.5},  # % of recorded
        # ethnicity: ~30% not stated/known; of those stated, ~80% White British nationally
        "ethnicity_not_stated": 0.30,
        "ethnicity_not_stated_codes": {"99": 40, "Z": 45, None: 10, "-1": 5},
        "white_british_of_stated": {"Y90": 0.89, "Y91": 0.86, "Y92": 0.80, "Y93": 0.85,
                                    "Y94": 0.45, "Y95": 0.86, "Y96": 0.92},
        "other_ethnic_groups": {"B": 0.9, "C": 5.5, "D": 0.7, "E": 0.3, "F": 0.6, "G": 0.7,
                                "H": 1.8, "J": 1.8, "K": 0.7, "L": 1.2, "M": 0.9, "N": 1.5,
                                "P": 0.5, "R": 0.3, "S": 1.4},
        # IMD 2019 decile 1 (most deprived) .. 10: referrals skew to deprived areas
        "imd_decile": [13.5, 12.3, 11.3, 10.4, 9.8, 9.2, 8.8, 8.3, 7.9, 7.1],
        "imd_missing": 0.015,
    },
    "pathway": {
        # what becomes of a referral (tuned: entered treatment, finished course)
        "treated": 0.785,                  # has at least one treatment session
        "course_if_treated": 0.645,        # of the treated: two or more sessions
        "not_seen_if_untreated": 0.55,     # of the untreated: never attended an assessment
        "assessment_is_treatment": 0.45,   # first appointment is "assessment and treatment" (03)
        # waits in days, log-normal (median, sigma) with a long tail (share, median, sigma)
        "wait_to_assessment": (5.5, 0.85, 0.05, 45.0, 0.6),
        "assessment_to_treatment": (7.0, 0.9, 0.06, 55.0, 0.6),
        "first_to_second": (9.0, 0.45, 0.30, 38.0, 0.6),
        "between_sessions_gamma": (4.0, 2.2),  # shape, scale: about weekly to fortnightly
        # sessions in a course: 2 + negative binomial (mean, dispersion) (published M141 7.5)
        "extra_sessions": (5.6, 1.8),
        "max_sessions": 40,
        # discharge after the last event: (median days, sigma); open for good: share
        "discharge_not_seen": (21.0, 0.7, 0.03),
        "discharge_assessed": (7.0, 1.0, 0.04),
        "discharge_treated_once": (28.0, 0.8, 0.03),
        "discharge_course": (4.0, 1.0, 0.015),
        "follow_up": (0.06, 30, 120),      # share of courses with a follow-up (06), day range
        "not_seen_appointments": [35, 40, 20, 5],  # 0, 1, 2, 3 missed appointments
        "internet_therapy": 0.0176,        # treated pathways using IET (tuned: M343)
        "internet_session_is_log": 0.85,   # IET pathway sessions that are weekly logs
        "integrated": 0.095,               # pathways in an integrated care service (tuned)
    },
    "end_codes": {  # published end-reason mix (M057-M072), by what happened
        "not_seen": {"50": 85, "14": 3, None: 8, "99": 2, "43": 2},
        "assessed": {"10": 15, "11": 20, "12": 25, "13": 15, "14": 12, "16": 8, "17": 0.2,
                     "95": 3, None: 1.8},
        "treated_once": {"46": 30, "47": 50, "48": 8, "96": 4, "12": 4, None: 4},
        "course": {"46": 70, "47": 20, "48": 4, "49": 0.2, "96": 3, None: 2, "43": 0.8},
    },
    "appointments": {
        # missed appointments before each attended one: Poisson mean x gamma(2, 1/2)
        # frailty; codes of missed ones. Published 2020-21: DNA ~10% of appointments.
        "missed_per_attended": 0.25,
        "missed_codes": {"3": 45, "2": 30, "4": 22, "7": 3},
        "attended_codes": {"5": 96, "6": 4},
        # padded variants as providers submit them (the loader normalises them)
        "code_formats": {"plain": 93, "space": 4, "zero": 2, "trailing": 1},
        "unplanned": 0.03,                 # attended unplanned contacts (indicator N)
        "unplanned_code_missing": 0.4,
        "planned_missing": 0.02,
        "other_treatment_apptype": 0.03,   # treatment sessions recorded as 05
        # consultation mechanism by date (v2.1 codes; published M1001-M1020)
        "mechanism_eras": [
            (date(1900, 1, 1), {"01": 55, "02": 36, "11": 4, "05": 1, "98": 2, "00": 1, None: 1}),
            (date(2020, 3, 16), {"01": 6, "02": 62, "11": 27, "05": 0.5, "09": 0.3, "10": 0.2,
                                 "98": 2, "00": 1, None: 1}),
            (date(2021, 7, 1), {"01": 22, "02": 48, "11": 25, "05": 0.5, "09": 0.5, "10": 0.5,
                                "12": 0.2, "13": 0.1, "98": 2, "00": 0.7, None: 0.5}),
        ],
        "integrated_flag_missing": 0.10,   # IAPTLTCServiceInd null on non-integrated contacts
        # clinical minutes: (mean, sd) by kind of appointment
        "minutes_assessment": (50, 12),
        "minutes_low_intensity": (35, 10),
        "minutes_high_intensity": (55, 8),
    },
    "therapies": {
        # published 2020-21 therapy types: low intensity (LI), high intensity (HI)
        "plan": {"LI": 52, "HI": 30, "LI_then_HI": 15, "HI_then_LI": 3},
        "LI": {"748051000000105": 25, "748041000000107": 20, "702545008": 15,
               "1026111000000108": 22, "748101000000105": 3, "748091000000102": 2,
               "748061000000108": 3, "975131000000104": 2},
        "HI": {"304891004": 55, "286711000000107": 20, "1026131000000100": 8,
               "449030000": 4, "443730003": 4, "314034001": 2, "1129471000000105": 2,
               "933221000000107": 2, "1127281000000100": 2, "842901000000108": 1},
        "internet_therapy_code": "748041000000107",  # guided self-help (computer)
        "employment_support": ("1098051000000103", 0.02),
        "activity_recorded": 0.96,
    },
    "internet_therapy": {
        # IntEnabledTherProg free text as submitted (published M343 programme groups)
        "programmes": {"SilverCloud": 55, "SILVERCLOUD": 8, "Silver Cloud": 4, "SLVRCLD": 2,
                       "Minddistrict": 7, "Beating the Blues": 4, "Daylight": 3,
                       "Sleepio": 4, "Deprexis": 1, "OCD-NET": 1, "Regul8": 1,
                       "Other online CBT": 6, None: 4},
        "minutes": (40.0, 0.6),            # log-normal median, sigma
    },
    "problems": {
        # problem descriptor (ICD-10 without the dot, SNOMED CT rarely); published 2020-21
        # finished-course shares: depression ~35%, mixed ~20%, GAD ~17%
        "primary": {"F320": 6, "F321": 9, "F322": 3, "F329": 8, "F330": 2, "F331": 4,
                    "F332": 1, "F339": 2, "F411": 17, "F412": 20, "F410": 2.5, "F400": 0.7,
                    "F401": 1.8, "F402": 0.8, "F420": 0.8, "F421": 0.3, "F422": 1.2,
                    "F429": 0.4, "F431": 3.5, "F452": 1.3, "F432": 2.5, "F438": 1.0,
                    "F419": 1.0, "F418": 0.5, "F500": 0.1, "F509": 0.2, "F102": 0.2,
                    "F99": 0.3, "35489007": 0.2, "83482000": 0.1, "723916001": 0.1,
                    "K580": 0.05, "G933": 0.05, "-3": 4.0},
        "recorded_if_assessed": 0.94,
        "recorded_if_not_seen": 0.05,
        "secondary": 0.12,                 # an extra 'S' row
        "significance_missing": 0.01,
        "adsm_recorded": 0.55,             # ADSM descriptors with the ADSM recorded
    },
    "scores": {
        # first PHQ-9 ~ N(16.5, 5.2), first GAD-7 ~ N(14.2, 4.4), correlation 0.65: ~7% of
        # finishers below caseness on both (published M179/M076)
        "phq9_first": (15.0, 5.2), "gad7_first": (12.8, 4.4), "correlation": 0.65,
        "depression_shift": 1.2, "anxiety_shift": 0.8,
        "noise": (1.2, 1.1),               # session-to-session noise, PHQ-9 and GAD-7
        # fraction of symptoms gone by the last session: Beta(a, b) by end (tuned: recovery)
        "improvement_completed": (3.0, 2.1),
        "improvement_ended_early": (1.8, 3.0),
        "deterioration": (0.095, -0.40, 0.20),  # share, mean, sd of (negative) improvement
        "progress_power": 0.8,
        "adsm_jitter": 0.15,
        # completeness: most pathways have scores at nearly every session
        "complete_pathways": 0.95, "recorded_complete": 0.96, "recorded_patchy": 0.30,
        "one_missing": 0.02,
    },
    # --- the optional IAPT v2.1 tables and MPI fields (v21.py) -------------------------------
    # Shares are assumptions of plausible orders of size, not calibrated: NHS Digital publishes
    # these breakdowns quarterly (V003-V014) and the EA measures monthly from 2022; the mixes
    # follow the categories the measure constructions name.
    "v21": {
        # IDS001MPI: education establishment type (V004: 2 college, 3 university, 4 not listed,
        # 1 and 8 other); mostly not recorded
        "education": {None: 78, "1": 2, "2": 4, "3": 6, "4": 2, "8": 5, "99": 3},
        # ex-British armed forces (V006: 02 ex-services, 05 dependant, 03 neither)
        "ex_armed_forces": {"03": 72, "02": 2.5, "05": 1.0, "ZZ": 4.5, None: 20},
        # gender identity same as at birth (V008), recorded with GenderIdentity (v2.1)
        "gender_same_at_birth": {"Y": 95, "N": 0.8, "X": 1.2, "Z": 3},
        # IDS007: disability codes (V003); most patients have one record
        "disability_recorded": 0.85,
        "disability": {"NN": 52, "ZZ": 18, "01": 6, "02": 1.2, "03": 0.8, "04": 2.0, "05": 5.0,
                       "06": 0.3, "07": 0.5, "08": 6.0, "09": 1.0, "10": 0.4, "XX": 3.0, "99": 0.3},
        "second_disability": 0.06,
        # IDS011: religion (V013) and sexual orientation (V014), SNOMED CT; shares of the
        # recorded roughly as the 2011 census for England, with "not stated" codes
        "religion_recorded": 0.70,
        "religion": {"160549006": 44, "160552003": 30, "309884000": 5.5, "160545000": 1.4,
                     "366740002": 0.7, "160543007": 0.4, "309687009": 0.5, "62458008": 1.2,
                     "160567004": 0.3, "205141000000101": 0.3, "429732005": 0.05, "429787006": 0.04,
                     "429790000": 0.01, "763896000": 11, "205081000000105": 4.6},
        "sexual_orientation_recorded": 0.75,
        "sexual_orientation": {"20430005": 84, "76102007": 1.8, "89217008": 1.4, "42035005": 3.2,
                               "1064711000000100": 5, "699042003": 2.6, "440583007": 2},
        # IDS004: employment status at referral and at discharge (01 employed, 02 unemployed,
        # 03 student, 04 long-term sick or disabled, 05 homemaker, 06 not seeking work,
        # 07 unpaid voluntary work, 08 retired, ZZ not stated)
        "status_recorded_at_referral": 0.82,
        "status_recorded_at_discharge": 0.60,
        "employment_status": {"01": 47, "02": 14, "03": 6, "04": 11, "05": 5, "06": 3, "07": 1,
                              "08": 8, "ZZ": 5},
        "status_changes_by_discharge": 0.12,
        "weekly_hours": {"01": 8, "02": 22, "03": 62, "04": 8},   # bands of hours worked
        "self_employed_if_employed": 0.10,
        "sick_absence_if_employed": 0.22,
        "sick_absence_ends_by_discharge": 0.55,
        "statutory_sick_pay_if_off_sick": 0.60,
        "benefits_if_out_of_work": 0.75, "benefits_if_employed": 0.10, "benefits_otherwise": 0.30,
        "benefit_types": {"JSA": 0.05, "ESA": 0.25, "UC": 0.60, "PIP": 0.20, "other": 0.10},
        "employment_support": 0.06,   # suitable for employment support (EmpSupportInd Y)
        # IDS602: long-term conditions (V010 SNOMED CT; 38341003 hypertension stands for a
        # code outside the V010 list); integrated care (LTC) pathways nearly always have one
        "ltc_recorded_if_integrated": 0.90, "ltc_recorded_otherwise": 0.10, "second_ltc": 0.25,
        "long_term_condition": {"73211009": 14, "13645005": 6, "195967001": 10, "50043002": 3,
                                "56265001": 9, "363346000": 5, "928000": 12, "373673007": 14,
                                "84757009": 2, "95320005": 2, "53619000": 6, "748031000000103": 12,
                                "38341003": 5},
        # IDS607: a PHQ-9 recorded within a care activity, for a few activities
        "activity_scores": 0.04,
    },
}
