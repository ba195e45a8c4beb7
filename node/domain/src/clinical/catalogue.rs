//! The definitions Attach ships: what a British Columbia family practice starts with before
//! its physician lead edits the coding protocol. Every code list, rule and default names the
//! public source it is taken from; `docs/clinical-catalogue.md` is the same content as a
//! table for the clinic.
//!
//! Three choices run through it:
//! - **Registries code by diagnosis.** ICD-9 is matched by prefix as MSP claims carry it (3
//!   digits, sometimes 4–5: `250`, `2500`, `25000` all count for `250`), ICD-10-CA by category
//!   prefix, SNOMED CT by exact concept id (Attach has no SNOMED hierarchy, so the common
//!   children are listed one by one).
//! - **A result is compared only in the unit its threshold is written in** (HbA1c in `%`,
//!   eGFR in mL/min/1.73 m², ACR in mg/mmol, LDL in mmol/L). A result in another unit (an IFCC
//!   HbA1c in mmol/mol) still counts as done for a recall, but never against a target.
//! - **Uncoded rules suggest, they do not code.** Each says in its description what else the
//!   evidence can mean, so the person reviewing the suggestion knows what to check.

use super::rules::{
    Catalogue, Comparison, Concept, Evidence, GapRule, Population, RegistryDef, Source, Target,
    UncodedRule,
};
use super::{CodeMatch, CodeSystem, RecordKind};
use crate::types::Sex;

/// The catalogue a clinic starts with.
pub fn shipped() -> Catalogue {
    Catalogue {
        concepts: concepts(),
        registries: registries(),
        gaps: gaps(),
        ..Catalogue::default()
    }
}

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

const CCDSS_METHODS: &str = "https://health-infobase.canada.ca/ccdss/Methods";
const CCDSS_DIABETES: &str = "https://www.canada.ca/en/public-health/services/reports-publications/health-promotion-chronic-disease-prevention-canada-research-policy-practice/vol-39-no-11-2019/twenty-years-diabetes-surveillance.html";
const CCDSS_HEART: &str = "https://www.canada.ca/en/public-health/services/publications/diseases-conditions/report-heart-disease-Canada-2018.html";
const CCDSS_RESPIRATORY: &str = "https://www.canada.ca/en/public-health/services/publications/diseases-conditions/asthma-chronic-obstructive-pulmonary-disease-canada-2018.html";
const WHO_ICD10: &str = "https://icd.who.int/browse10/2019/en";
const LOINC: &str = "https://loinc.org/";
const CVX_TABLE: &str = "https://www2a.cdc.gov/vaccines/iis/iisstandards/vaccines.asp?rpt=cvx";
const VSAC: &str = "https://vsac.nlm.nih.gov/";
const SNOMED_BROWSER: &str = "https://browser.ihtsdotools.org/";
const BC_DIABETES: &str = "https://www2.gov.bc.ca/gov/content/health/practitioner-professional-resources/bc-guidelines/diabetes";
const DC_ABCDES: &str = "https://diabetes.ca/managing-my-diabetes/tools---resources/abcdes-of-diabetes-care-quick-reference-guide";
const DC_CKD: &str = "http://guidelines.diabetes.ca/cpg/chapter29";
const DC_DIAGNOSIS: &str = "http://guidelines.diabetes.ca/cpg/chapter3";
const HYPERTENSION_CANADA: &str = "https://guidelines.hypertension.ca/";
const CKD_PATHWAY: &str = "https://ckdpathway.ca/aboutckd";
const BC_CERVIX: &str = "https://www2.gov.bc.ca/gov/content/health/practitioner-professional-resources/bc-guidelines/cervical-cancer-prevention-and-screening";
const BC_BREAST: &str = "http://www.bccancer.bc.ca/screening/health-professionals/breast";
const BC_COLON: &str = "http://www.bccancer.bc.ca/screening/health-professionals/colon";
const IMMUNIZEBC_FLU: &str = "https://immunizebc.ca/vaccines-by-disease/influenza";
const CIG_PNEUMO: &str = "https://www.canada.ca/en/public-health/services/publications/healthy-living/canadian-immunization-guide-part-4-active-vaccines/page-16-pneumococcal-vaccine.html";

fn source(citation: &str, url: &str) -> Option<Source> {
    Some(Source {
        citation: citation.to_owned(),
        url: url.to_owned(),
    })
}

fn atc_source(group: &str) -> Option<Source> {
    source(
        &format!(
            "WHO Collaborating Centre for Drug Statistics Methodology, ATC/DDD Index, group {group}"
        ),
        &format!("https://www.whocc.no/atc_ddd_index/?code={group}"),
    )
}

// ---------------------------------------------------------------------------
// Code lists
// ---------------------------------------------------------------------------

fn prefixes(system: CodeSystem, codes: &[&str]) -> Vec<CodeMatch> {
    codes
        .iter()
        .map(|c| CodeMatch::prefix(system.clone(), c))
        .collect()
}

fn exact(system: CodeSystem, codes: &[&str]) -> Vec<CodeMatch> {
    codes
        .iter()
        .map(|c| CodeMatch::exact(system.clone(), c))
        .collect()
}

/// A registry's codes: ICD-9 and ICD-10-CA prefixes, SNOMED CT exact ids.
fn diagnosis_codes(icd9: &[&str], icd10: &[&str], snomed: &[&str]) -> Vec<CodeMatch> {
    let mut codes = prefixes(CodeSystem::Icd9, icd9);
    codes.extend(prefixes(CodeSystem::Icd10Ca, icd10));
    codes.extend(exact(CodeSystem::SnomedCt, snomed));
    codes
}

fn owned(units: &[&str]) -> Vec<String> {
    units.iter().map(|u| (*u).to_owned()).collect()
}

// ---------------------------------------------------------------------------
// Concepts
// ---------------------------------------------------------------------------

fn concept(
    key: &str,
    name: &str,
    kind: RecordKind,
    codes: Vec<CodeMatch>,
    units: &[&str],
    source: Option<Source>,
) -> Concept {
    Concept {
        key: key.to_owned(),
        name: name.to_owned(),
        kind,
        codes,
        units: owned(units),
        source,
    }
}

fn concepts() -> Vec<Concept> {
    use RecordKind::{Immunization, Medication, Observation, Procedure};
    let loinc = |codes: &[&str]| exact(CodeSystem::Loinc, codes);
    vec![
        concept(
            "hba1c",
            "HbA1c",
            Observation,
            // 4548-4 HbA1c/Hb.total in Blood; 17856-6 by HPLC; 4549-2 by electrophoresis;
            // 59261-8 by IFCC protocol (reported in mmol/mol, so counted as done only).
            loinc(&["4548-4", "17856-6", "4549-2", "59261-8"]),
            &["%"],
            source(
                "LOINC (Regenstrief Institute): 4548-4, 17856-6, 4549-2 (HbA1c as % of total \
                 haemoglobin) and 59261-8 (IFCC, mmol/mol). Thresholds are in %, as BC labs \
                 report and Diabetes Canada writes them; an IFCC result in mmol/mol counts as \
                 done but is not compared",
                "https://loinc.org/4548-4/",
            ),
        ),
        concept(
            "bp",
            "Blood pressure",
            Observation,
            // 85354-9 Blood pressure panel with all children optional; 55284-4 Blood pressure
            // systolic and diastolic. Values arrive as a systolic/diastolic pair.
            loinc(&["85354-9", "55284-4"]),
            &[],
            source(
                "LOINC (Regenstrief Institute): 85354-9 blood pressure panel, 55284-4 blood \
                 pressure systolic and diastolic (the pair of 8480-6 and 8462-4)",
                "https://loinc.org/85354-9/",
            ),
        ),
        concept(
            "systolic_bp",
            "Systolic blood pressure",
            Observation,
            loinc(&["8480-6"]),
            &["mm[Hg]", "mmHg"],
            source(
                "LOINC (Regenstrief Institute): 8480-6 systolic blood pressure",
                "https://loinc.org/8480-6/",
            ),
        ),
        concept(
            "diastolic_bp",
            "Diastolic blood pressure",
            Observation,
            loinc(&["8462-4"]),
            &["mm[Hg]", "mmHg"],
            source(
                "LOINC (Regenstrief Institute): 8462-4 diastolic blood pressure",
                "https://loinc.org/8462-4/",
            ),
        ),
        concept(
            "egfr",
            "eGFR",
            Observation,
            // MDRD (33914-3, and the race-specific 48642-3, 48643-1 some labs still send),
            // CKD-EPI (62238-1) and CKD-EPI 2021 (98979-8).
            loinc(&["33914-3", "48642-3", "48643-1", "62238-1", "98979-8"]),
            &["mL/min/1.73m2", "mL/min/{1.73_m2}", "mL/min/1.73m²"],
            source(
                "LOINC (Regenstrief Institute): estimated GFR per 1.73 m² by creatinine-based \
                 formula — MDRD 33914-3, 48642-3, 48643-1; CKD-EPI 62238-1; CKD-EPI 2021 \
                 98979-8. Thresholds are in mL/min/1.73 m²",
                "https://loinc.org/98979-8/",
            ),
        ),
        concept(
            "acr",
            "Urine albumin-to-creatinine ratio",
            Observation,
            // 9318-7 Albumin/Creatinine in Urine; 14959-1 Microalbumin/Creatinine in Urine.
            loinc(&["9318-7", "14959-1"]),
            &["mg/mmol"],
            source(
                "LOINC (Regenstrief Institute): 9318-7 albumin/creatinine and 14959-1 \
                 microalbumin/creatinine in urine. Thresholds are in mg/mmol as Canadian labs \
                 report; a result in mg/g counts as done but is not compared",
                "https://loinc.org/9318-7/",
            ),
        ),
        concept(
            "ldl",
            "LDL cholesterol",
            Observation,
            // Mass/volume: 13457-7 (calculated), 18262-6 (direct), 2089-1; moles/volume:
            // 39469-2 (calculated), 69419-0 (direct), 22748-8.
            loinc(&[
                "13457-7", "18262-6", "2089-1", "39469-2", "69419-0", "22748-8",
            ]),
            &["mmol/L"],
            source(
                "LOINC (Regenstrief Institute): cholesterol in LDL in serum or plasma — \
                 13457-7, 18262-6, 2089-1 (mass) and 39469-2, 69419-0, 22748-8 (moles). \
                 Compared in mmol/L, the unit Canadian labs report",
                "https://loinc.org/39469-2/",
            ),
        ),
        concept(
            "bmi",
            "Body mass index",
            Observation,
            loinc(&["39156-5"]),
            &["kg/m2", "kg/m²"],
            source(
                "LOINC (Regenstrief Institute): 39156-5 body mass index",
                "https://loinc.org/39156-5/",
            ),
        ),
        concept(
            "weight",
            "Body weight",
            Observation,
            loinc(&["29463-7"]),
            &["kg"],
            source(
                "LOINC (Regenstrief Institute): 29463-7 body weight",
                "https://loinc.org/29463-7/",
            ),
        ),
        concept(
            "smoking_status",
            "Smoking status",
            Observation,
            loinc(&["72166-2"]),
            &[],
            source(
                "LOINC (Regenstrief Institute): 72166-2 tobacco smoking status",
                "https://loinc.org/72166-2/",
            ),
        ),
        concept(
            "fit",
            "Fecal immunochemical test (FIT)",
            Observation,
            // 29771-3 Hemoglobin.gastrointestinal [Presence] in Stool by Immunoassay;
            // 58453-2 Hemoglobin.gastrointestinal [Mass/volume] in Stool by Immunoassay.
            loinc(&["29771-3", "58453-2"]),
            &[],
            source(
                "LOINC (Regenstrief Institute): 29771-3 and 58453-2, haemoglobin in stool by \
                 immunoassay (qualitative and quantitative FIT); guaiac tests are not FIT and \
                 are left out",
                "https://loinc.org/29771-3/",
            ),
        ),
        concept(
            "colonoscopy",
            "Colonoscopy",
            Procedure,
            exact(CodeSystem::SnomedCt, &["73761001"]),
            &[],
            source(
                "SNOMED CT International Edition: 73761001 colonoscopy (procedure)",
                SNOMED_BROWSER,
            ),
        ),
        concept(
            "pap_test",
            "Cervical cytology (Pap test)",
            Observation,
            loinc(&[
                "10524-7", "18500-9", "19762-4", "19764-0", "19765-7", "19766-5", "19774-9",
                "33717-0", "47527-7", "47528-5",
            ]),
            &[],
            source(
                "LOINC codes of cervical or vaginal cytology, as grouped in the CMS eCQM value \
                 set \"Pap Test\" (VSAC 2.16.840.1.113883.3.464.1003.108.12.1017)",
                VSAC,
            ),
        ),
        concept(
            "hpv_test",
            "Cervical HPV test",
            Observation,
            // High-risk HPV tests of the eCQM "HPV Test" value set; 38372-9 (low-risk types
            // 6+11+42+43+44) is left out, as it is not a screening test.
            loinc(&[
                "21440-3", "30167-1", "59263-4", "59264-2", "59420-0", "69002-4", "71431-1",
                "75694-0", "77379-6", "77399-4", "77400-0", "82354-2", "82456-5", "82675-0",
                "95539-3",
            ]),
            &[],
            source(
                "LOINC codes of cervical high-risk HPV tests, as grouped in the CMS eCQM value \
                 set \"HPV Test\" (VSAC 2.16.840.1.113883.3.464.1003.110.12.1059), without the \
                 low-risk-type test 38372-9",
                VSAC,
            ),
        ),
        concept(
            "mammogram",
            "Mammogram",
            Procedure,
            exact(CodeSystem::SnomedCt, &["71651007", "24623002"]),
            &[],
            source(
                "SNOMED CT International Edition: 71651007 mammography, 24623002 screening \
                 mammography (procedures)",
                SNOMED_BROWSER,
            ),
        ),
        concept(
            "mammogram_report",
            "Mammogram report",
            Observation,
            loinc(&[
                "24604-1", "24605-8", "24606-6", "24610-8", "26175-0", "26176-8", "26177-6",
                "26287-3", "26289-9", "26291-5", "26346-7", "26347-5", "26348-3", "26349-1",
                "26350-9", "26351-7",
            ]),
            &[],
            source(
                "LOINC codes of mammography reports (MG Breast), as grouped in the CMS eCQM \
                 value set \"Mammography\" and the pan-Canadian LOINC Observation Code Database \
                 mammogram group",
                LOINC,
            ),
        ),
        concept(
            "influenza_vaccine",
            "Influenza vaccine",
            Immunization,
            exact(
                CodeSystem::Cvx,
                &[
                    "88", "111", "135", "140", "141", "144", "149", "150", "153", "155", "158",
                    "161", "166", "168", "171", "185", "186", "197", "205",
                ],
            ),
            &[],
            source(
                "CDC CVX code set: influenza vaccines, as grouped in the CMS eCQM value sets \
                 \"Influenza Vaccine\" (2.16.840.1.113883.3.526.3.1254) and \"Influenza Virus \
                 LAIV\"",
                CVX_TABLE,
            ),
        ),
        concept(
            "pneumococcal_vaccine",
            "Pneumococcal vaccine",
            Immunization,
            // 33 PPSV23, 109 unspecified formulation, 133 PCV13, 152 conjugate unspecified,
            // 215 PCV15, 216 PCV20.
            exact(CodeSystem::Cvx, &["33", "109", "133", "152", "215", "216"]),
            &[],
            source(
                "CDC CVX code set: pneumococcal vaccines, as grouped in the CMS eCQM value sets \
                 \"Pneumococcal Conjugate Vaccine\" (2025) and \"Pneumococcal Polysaccharide 23 \
                 Vaccine\"",
                CVX_TABLE,
            ),
        ),
        concept(
            "diabetes_drugs",
            "Drugs used in diabetes",
            Medication,
            prefixes(CodeSystem::Atc, &["A10"]),
            &[],
            atc_source("A10"),
        ),
        concept(
            "antihypertensives",
            "Blood pressure medications",
            Medication,
            // C02 antihypertensives, C03 diuretics, C07 beta blockers, C08 calcium channel
            // blockers, C09 renin-angiotensin agents. Shown on the patient's page; no rule
            // reads them, as most have other uses (heart failure, rate control, migraine).
            prefixes(CodeSystem::Atc, &["C02", "C03", "C07", "C08", "C09"]),
            &[],
            source(
                "WHO Collaborating Centre for Drug Statistics Methodology, ATC/DDD Index, \
                 groups C02, C03, C07, C08 and C09",
                "https://www.whocc.no/atc_ddd_index/?code=C",
            ),
        ),
        concept(
            "airway_drugs",
            "Drugs for obstructive airway diseases",
            Medication,
            prefixes(CodeSystem::Atc, &["R03"]),
            &[],
            atc_source("R03"),
        ),
        concept(
            "antidepressants",
            "Antidepressants",
            Medication,
            prefixes(CodeSystem::Atc, &["N06A"]),
            &[],
            atc_source("N06A"),
        ),
    ]
}

// ---------------------------------------------------------------------------
// Registries
// ---------------------------------------------------------------------------

fn registry(
    key: &str,
    name: &str,
    codes: Vec<CodeMatch>,
    source: Option<Source>,
    uncoded: Vec<UncodedRule>,
) -> RegistryDef {
    RegistryDef {
        key: key.to_owned(),
        name: name.to_owned(),
        codes,
        source,
        uncoded,
    }
}

fn rule(key: &str, description: &str, evidence: Evidence, source: Option<Source>) -> UncodedRule {
    UncodedRule {
        key: key.to_owned(),
        description: description.to_owned(),
        evidence,
        source,
    }
}

/// A rule on a medication concept, citing the ATC group the concept is.
fn medication_rule(key: &str, concept: &str, atc_group: &str, description: &str) -> UncodedRule {
    rule(
        key,
        description,
        Evidence::Medication {
            concept: concept.to_owned(),
        },
        atc_source(atc_group),
    )
}

fn registries() -> Vec<RegistryDef> {
    vec![
        registry(
            "diabetes",
            "Diabetes",
            diagnosis_codes(
                &["250"],
                &["E10", "E11", "E12", "E13", "E14"],
                // Diabetes mellitus; type 2; type 1.
                &["73211009", "44054006", "46635009"],
            ),
            source(
                "Public Health Agency of Canada, Canadian Chronic Disease Surveillance System \
                 (CCDSS) case definition of diabetes: ICD-9 250, ICD-10-CA E10–E14, gestational \
                 diabetes excluded (LeBlanc et al., At-a-glance — Twenty years of diabetes \
                 surveillance using the CCDSS, HPCDP 2019;39(11)); ICD-9 as billed to MSP; \
                 SNOMED CT diabetes mellitus, type 1 and type 2",
                CCDSS_DIABETES,
            ),
            vec![
                rule(
                    "two_hba1c",
                    "HbA1c ≥ 6.5 % on two days. Diabetes Canada diagnoses diabetes at \
                     HbA1c ≥ 6.5 % confirmed by a repeat test; haemoglobinopathies, anaemia \
                     and recent transfusion make HbA1c unreliable, so check before coding",
                    Evidence::Results {
                        concept: "hba1c".to_owned(),
                        comparison: Comparison::AtLeast,
                        value: 6.5,
                        times: 2,
                        min_days_apart: 1,
                    },
                    source(
                        "Diabetes Canada 2018 Clinical Practice Guidelines, chapter 3, \
                         Definition, Classification and Diagnosis of Diabetes (A1C ≥ 6.5 %, \
                         confirmed by a repeat test on another day)",
                        DC_DIAGNOSIS,
                    ),
                ),
                medication_rule(
                    "diabetes_drug",
                    "diabetes_drugs",
                    "A10",
                    "A drug used in diabetes (ATC A10) is recorded. Metformin is also \
                     prescribed for prediabetes and polycystic ovary syndrome, SGLT2 \
                     inhibitors for heart failure and chronic kidney disease, and GLP-1 \
                     agonists for weight management — check the indication before coding",
                ),
            ],
        ),
        registry(
            "hypertension",
            "Hypertension",
            diagnosis_codes(
                &["401", "402", "403", "404", "405"],
                &["I10", "I11", "I12", "I13", "I15"],
                // Hypertensive disorder, systemic arterial; essential hypertension.
                &["38341003", "59621000"],
            ),
            source(
                "Public Health Agency of Canada, CCDSS case definition of hypertension \
                 (excluding gestational hypertension): ICD-9 401–405, ICD-10-CA I10–I13, I15; \
                 ICD-9 as billed to MSP; SNOMED CT hypertensive disorder and essential \
                 hypertension",
                CCDSS_METHODS,
            ),
            vec![rule(
                "three_high_bp",
                "Blood pressure ≥ 140 systolic or ≥ 90 diastolic on at least 3 readings, the \
                 first and last at least 4 weeks apart. Hypertension Canada diagnoses \
                 hypertension on office readings ≥ 140/90 over several visits when home or \
                 ambulatory readings are not available; white-coat readings, pain and \
                 pregnancy raise blood pressure too",
                Evidence::BloodPressure {
                    concept: "bp".to_owned(),
                    systolic: 140.0,
                    diastolic: 90.0,
                    times: 3,
                    min_days_apart: 28,
                },
                source(
                    "Hypertension Canada, Guidelines for the Diagnosis, Risk Assessment, \
                     Prevention and Treatment of Hypertension in Adults (Rabi et al., Can J \
                     Cardiol 2020;36(5):596–624): non-automated office blood pressure \
                     ≥ 140/90 mmHg over repeated visits",
                    HYPERTENSION_CANADA,
                ),
            )],
        ),
        registry(
            "copd",
            "COPD",
            diagnosis_codes(
                &["491", "492", "496"],
                &["J41", "J42", "J43", "J44"],
                // Chronic obstructive lung disease.
                &["13645005"],
            ),
            source(
                "Public Health Agency of Canada, CCDSS case definition of chronic obstructive \
                 pulmonary disease (age 35 and older): ICD-9 491, 492, 496, ICD-10-CA J41–J44 \
                 (Asthma and COPD in Canada, 2018); SNOMED CT chronic obstructive lung disease",
                CCDSS_RESPIRATORY,
            ),
            vec![medication_rule(
                "airway_drug",
                "airway_drugs",
                "R03",
                "A drug for obstructive airway disease (ATC R03: inhalers, montelukast, \
                 theophylline) is recorded. The same drugs treat asthma, and a salbutamol \
                 inhaler is often prescribed for a passing bronchitis — confirm COPD by \
                 spirometry before coding",
            )],
        ),
        registry(
            "asthma",
            "Asthma",
            diagnosis_codes(&["493"], &["J45", "J46"], &["195967001"]),
            source(
                "Public Health Agency of Canada, CCDSS case definition of asthma: ICD-9 493, \
                 ICD-10-CA J45–J46 (Asthma and COPD in Canada, 2018); SNOMED CT asthma",
                CCDSS_RESPIRATORY,
            ),
            vec![medication_rule(
                "airway_drug",
                "airway_drugs",
                "R03",
                "A drug for obstructive airway disease (ATC R03) is recorded. The same drugs \
                 treat COPD, and a salbutamol inhaler is often prescribed for a passing \
                 bronchitis — confirm asthma before coding",
            )],
        ),
        registry(
            "heart_failure",
            "Heart failure",
            // Heart failure; congestive heart failure.
            diagnosis_codes(&["428"], &["I50"], &["84114007", "42343007"]),
            source(
                "Public Health Agency of Canada, CCDSS case definition of heart failure: ICD-9 428, ICD-10-CA I50 (Heart Disease in Canada, 2018, \
                 appendix B); SNOMED CT heart failure and congestive heart failure",
                CCDSS_HEART,
            ),
            Vec::new(),
        ),
        registry(
            "ckd",
            "Chronic kidney disease",
            diagnosis_codes(
                &["585"],
                &["N18"],
                // Chronic kidney disease; stages 1–4; end-stage renal disease.
                &[
                    "709044004",
                    "431855005",
                    "431856006",
                    "433144002",
                    "431857002",
                    "46177005",
                ],
            ),
            source(
                "WHO ICD-10 (kept in ICD-10-CA) N18 chronic kidney disease; ICD-9 585 chronic \
                 kidney disease as billed to MSP; SNOMED CT chronic kidney disease, stages 1–4 \
                 and end-stage renal disease. The CCDSS has no CKD case definition",
                WHO_ICD10,
            ),
            vec![
                rule(
                    "two_low_egfr",
                    "eGFR below 60 on two results at least 90 days apart. KDIGO defines \
                     chronic kidney disease as eGFR < 60 for more than 3 months; an acute \
                     kidney injury, dehydration or a new ACE inhibitor can lower one result",
                    Evidence::Results {
                        concept: "egfr".to_owned(),
                        comparison: Comparison::Below,
                        value: 60.0,
                        times: 2,
                        min_days_apart: 90,
                    },
                    source(
                        "KDIGO 2024 Clinical Practice Guideline for the Evaluation and \
                         Management of Chronic Kidney Disease: eGFR < 60 mL/min/1.73 m² for \
                         ≥ 3 months (as summarised by the Canadian CKD Pathway)",
                        CKD_PATHWAY,
                    ),
                ),
                rule(
                    "two_high_acr",
                    "Urine albumin-to-creatinine ratio ≥ 3 mg/mmol on two results at least \
                     90 days apart. KDIGO counts persistent albuminuria ≥ 3 mg/mmol as kidney \
                     damage; a urinary infection, menstruation, fever or hard exercise can \
                     raise one result",
                    Evidence::Results {
                        concept: "acr".to_owned(),
                        comparison: Comparison::AtLeast,
                        value: 3.0,
                        times: 2,
                        min_days_apart: 90,
                    },
                    source(
                        "KDIGO 2024 Clinical Practice Guideline for the Evaluation and \
                         Management of Chronic Kidney Disease: albuminuria ACR ≥ 3 mg/mmol \
                         (30 mg/g) for ≥ 3 months (as summarised by the Canadian CKD Pathway). \
                         Diabetes Canada uses ≥ 2.0 mg/mmol in people with diabetes",
                        CKD_PATHWAY,
                    ),
                ),
            ],
        ),
        registry(
            "depression",
            "Depression",
            diagnosis_codes(
                &["2962", "2963", "311"],
                &["F32", "F33"],
                // Depressive disorder; major depressive disorder.
                &["35489007", "370143000"],
            ),
            source(
                "ICD-9 296.2 and 296.3 (major depressive disorder, single and recurrent \
                 episode) and 311 (depressive disorder, not elsewhere classified), as billed \
                 to MSP; WHO ICD-10 (kept in ICD-10-CA) F32 depressive episode and F33 \
                 recurrent depressive disorder; SNOMED CT depressive disorder and major \
                 depressive disorder. Narrower than the CCDSS mood and anxiety disorders \
                 definition, which also counts anxiety and bipolar disorders",
                WHO_ICD10,
            ),
            vec![medication_rule(
                "antidepressant",
                "antidepressants",
                "N06A",
                "An antidepressant (ATC N06A) is recorded. Antidepressants are also \
                 prescribed for anxiety disorders, chronic pain, migraine prevention, \
                 insomnia, hot flushes and smoking cessation (bupropion) — check the \
                 indication before coding",
            )],
        ),
        registry(
            "dementia",
            "Dementia",
            diagnosis_codes(
                &["290", "2941", "3310"],
                &["F00", "F01", "F02", "F03", "G30"],
                // Dementia; Alzheimer's disease.
                &["52448006", "26929004"],
            ),
            source(
                "Public Health Agency of Canada, CCDSS case definition of dementia including \
                 Alzheimer's disease (age 65 and older), diagnostic codes: ICD-9 290, 294.1, \
                 331.0, ICD-10-CA F00–F03, G30; ICD-9 as billed to MSP; SNOMED CT dementia and \
                 Alzheimer's disease",
                CCDSS_METHODS,
            ),
            Vec::new(),
        ),
        registry(
            "coronary_artery_disease",
            "Coronary artery disease",
            diagnosis_codes(
                &["410", "411", "412", "413", "414"],
                &["I20", "I21", "I22", "I23", "I24", "I25"],
                // Coronary arteriosclerosis; ischemic heart disease; myocardial infarction;
                // angina.
                &["53741008", "414545008", "22298006", "194828000"],
            ),
            source(
                "Public Health Agency of Canada, CCDSS case definition of ischemic heart \
                 disease: ICD-9 410–414, ICD-10-CA I20–I25 (Heart Disease \
                 in Canada, 2018, appendix B); SNOMED CT coronary arteriosclerosis, ischemic \
                 heart disease, myocardial infarction and angina",
                CCDSS_HEART,
            ),
            Vec::new(),
        ),
        registry(
            "atrial_fibrillation",
            "Atrial fibrillation",
            diagnosis_codes(&["4273"], &["I48"], &["49436004"]),
            source(
                "ICD-9 427.3 atrial fibrillation and flutter (427.31, 427.32), as billed to \
                 MSP; WHO ICD-10 (kept in ICD-10-CA) I48 atrial fibrillation and flutter; \
                 SNOMED CT atrial fibrillation. Both ICD categories include atrial flutter",
                WHO_ICD10,
            ),
            Vec::new(),
        ),
        registry(
            "osteoporosis",
            "Osteoporosis",
            diagnosis_codes(&["7330"], &["M80", "M81"], &["64859006"]),
            source(
                "ICD-9 733.0 osteoporosis, as billed to MSP; WHO ICD-10 (kept in ICD-10-CA) \
                 M80 osteoporosis with pathological fracture and M81 osteoporosis without \
                 pathological fracture; SNOMED CT osteoporosis",
                WHO_ICD10,
            ),
            Vec::new(),
        ),
        registry(
            "hypothyroidism",
            "Hypothyroidism",
            diagnosis_codes(&["244"], &["E03", "E890"], &["40930008"]),
            source(
                "ICD-9 244 acquired hypothyroidism, as billed to MSP; WHO ICD-10 (kept in \
                 ICD-10-CA) E03 other hypothyroidism and E89.0 postprocedural hypothyroidism; \
                 SNOMED CT hypothyroidism",
                WHO_ICD10,
            ),
            Vec::new(),
        ),
        registry(
            "breast_cancer",
            "Breast cancer (history of)",
            diagnosis_codes(&["174", "175"], &["C50"], &["254837009"]),
            source(
                "ICD-9 174–175 malignant neoplasm of the breast, as billed to MSP; WHO ICD-10 \
                 (kept in ICD-10-CA) C50; SNOMED CT malignant neoplasm of breast. Kept so \
                 breast screening leaves these patients out: BC Cancer's screening program is \
                 not for people who have had breast cancer",
                BC_BREAST,
            ),
            Vec::new(),
        ),
        registry(
            "colorectal_cancer",
            "Colorectal cancer (history of)",
            diagnosis_codes(&["153", "1540", "1541"], &["C18", "C19", "C20"], &[]),
            source(
                "ICD-9 153 (colon), 154.0 and 154.1 (rectosigmoid junction, rectum), as billed \
                 to MSP; WHO ICD-10 (kept in ICD-10-CA) C18–C20. Kept so colorectal screening \
                 leaves these patients out: BC Cancer's Colon Screening Program is not for \
                 people with a personal history of colon cancer",
                BC_COLON,
            ),
            Vec::new(),
        ),
        registry(
            "inflammatory_bowel_disease",
            "Inflammatory bowel disease",
            diagnosis_codes(&["555", "556"], &["K50", "K51"], &["34000006", "64766004"]),
            source(
                "ICD-9 555 regional enteritis and 556 ulcerative colitis, as billed to MSP; \
                 WHO ICD-10 (kept in ICD-10-CA) K50 Crohn's disease and K51 ulcerative \
                 colitis; SNOMED CT Crohn's disease and ulcerative colitis. Kept so colorectal \
                 screening leaves these patients out: BC Cancer's Colon Screening Program is \
                 not for people with ulcerative colitis or Crohn's disease",
                BC_COLON,
            ),
            Vec::new(),
        ),
    ]
}

// ---------------------------------------------------------------------------
// Care gaps
// ---------------------------------------------------------------------------

fn on(registry: &str) -> Population {
    Population {
        registry: Some(registry.to_owned()),
        min_age: None,
        max_age: None,
        sex: None,
        excluding: Vec::new(),
    }
}

fn ages(min: u32, max: Option<u32>, sex: Option<Sex>, excluding: &[&str]) -> Population {
    Population {
        registry: None,
        min_age: Some(min),
        max_age: max,
        sex,
        excluding: excluding.iter().map(|r| (*r).to_owned()).collect(),
    }
}

#[allow(clippy::too_many_arguments)] // Each argument is one field of the rule, in order.
fn gap(
    key: &str,
    name: &str,
    population: Population,
    concept: &str,
    every_months: Option<u32>,
    target: Option<Target>,
    alternatives: &[(&str, Option<u32>)],
    source: Option<Source>,
) -> GapRule {
    GapRule {
        key: key.to_owned(),
        name: name.to_owned(),
        population,
        concept: concept.to_owned(),
        every_months,
        target,
        alternatives: alternatives
            .iter()
            .map(|(c, every)| ((*c).to_owned(), *every))
            .collect(),
        source,
    }
}

fn gaps() -> Vec<GapRule> {
    vec![
        gap(
            "diabetes_hba1c",
            "Diabetes: HbA1c",
            on("diabetes"),
            "hba1c",
            Some(6),
            Some(Target::Number {
                comparison: Comparison::AtMost,
                value: 7.0,
            }),
            &[],
            source(
                "BC Guidelines, Diabetes Care (2021): measure A1C every 3 months, every 6 \
                 months when targets are met and treatment is stable — Attach recalls at 6 \
                 months; target A1C ≤ 7.0 % for most adults (Diabetes Canada ABCDEs). Targets \
                 are individualised (7.1–8.5 % for frail older people)",
                BC_DIABETES,
            ),
        ),
        gap(
            "diabetes_bp",
            "Diabetes: blood pressure",
            on("diabetes"),
            "bp",
            Some(6),
            Some(Target::BloodPressureBelow {
                systolic: 130.0,
                diastolic: 80.0,
            }),
            &[],
            source(
                "Diabetes Canada, ABCDEs of diabetes care (2018 Clinical Practice Guidelines): \
                 blood pressure target < 130/80 mmHg, measured at every diabetes visit — \
                 Attach recalls at 6 months, with the HbA1c",
                DC_ABCDES,
            ),
        ),
        gap(
            "diabetes_egfr",
            "Diabetes: eGFR",
            on("diabetes"),
            "egfr",
            Some(12),
            None,
            &[],
            source(
                "Diabetes Canada 2018 Clinical Practice Guidelines, chapter 29, Chronic Kidney \
                 Disease in Diabetes: screen with eGFR and urine ACR yearly",
                DC_CKD,
            ),
        ),
        gap(
            "diabetes_acr",
            "Diabetes: urine ACR",
            on("diabetes"),
            "acr",
            Some(12),
            None,
            &[],
            source(
                "Diabetes Canada 2018 Clinical Practice Guidelines, chapter 29, Chronic Kidney \
                 Disease in Diabetes: screen with eGFR and urine ACR yearly",
                DC_CKD,
            ),
        ),
        gap(
            "diabetes_ldl",
            "Diabetes: LDL cholesterol",
            on("diabetes"),
            "ldl",
            Some(12),
            None,
            &[],
            source(
                "Diabetes Canada, ABCDEs of diabetes care: LDL-C target < 2.0 mmol/L for those \
                 treated. The testing interval is left to clinical judgement (the 2008 Canadian \
                 Diabetes Association guideline: a lipid profile at diagnosis, then every 1–3 \
                 years); Attach recalls yearly, the short end of that range, and sets no \
                 target, as the target applies only to people on treatment",
                DC_ABCDES,
            ),
        ),
        gap(
            "hypertension_bp",
            "Hypertension: blood pressure",
            on("hypertension"),
            "bp",
            Some(6),
            Some(Target::BloodPressureBelow {
                systolic: 140.0,
                diastolic: 90.0,
            }),
            &[],
            source(
                "Hypertension Canada Guidelines (2020): treatment target < 140/90 mmHg for \
                 most adults (< 130/80 with diabetes, which the diabetes rule checks). Attach \
                 recalls at 6 months, a clinic choice the guideline leaves open (12 months suits \
                 stable patients)",
                HYPERTENSION_CANADA,
            ),
        ),
        gap(
            "ckd_egfr",
            "Chronic kidney disease: eGFR",
            on("ckd"),
            "egfr",
            Some(12),
            None,
            &[],
            source(
                "KDIGO 2024 CKD guideline: eGFR and ACR at least yearly in chronic kidney \
                 disease, more often at higher risk (Canadian CKD Pathway risk table) — Attach \
                 recalls yearly",
                CKD_PATHWAY,
            ),
        ),
        gap(
            "ckd_acr",
            "Chronic kidney disease: urine ACR",
            on("ckd"),
            "acr",
            Some(12),
            None,
            &[],
            source(
                "KDIGO 2024 CKD guideline: eGFR and ACR at least yearly in chronic kidney \
                 disease, more often at higher risk (Canadian CKD Pathway risk table) — Attach \
                 recalls yearly",
                CKD_PATHWAY,
            ),
        ),
        gap(
            "cervical_screening",
            "Cervical cancer screening",
            ages(25, Some(69), Some(Sex::Female), &[]),
            "pap_test",
            Some(36),
            None,
            &[("hpv_test", Some(60))],
            source(
                "BC Guidelines, Cervical Cancer Prevention and Screening (2025), with BC \
                 Cancer's Cervix Screening Program: people with a cervix aged 25–69 screen \
                 every 3 years by cytology (Pap test) or every 5 years by HPV test \
                 (provider-collected or self-collected)",
                BC_CERVIX,
            ),
        ),
        gap(
            "breast_screening",
            "Breast cancer screening",
            ages(50, Some(74), Some(Sex::Female), &["breast_cancer"]),
            "mammogram",
            Some(24),
            None,
            &[("mammogram_report", Some(24))],
            source(
                "BC Cancer Breast Screening Program: routine screening mammogram every two \
                 years for asymptomatic women aged 50–74 at average risk (40–49 and 75+ by \
                 discussion; yearly with a first-degree relative with breast cancer)",
                BC_BREAST,
            ),
        ),
        gap(
            "colorectal_screening",
            "Colorectal cancer screening",
            ages(
                50,
                Some(74),
                None,
                &["colorectal_cancer", "inflammatory_bowel_disease"],
            ),
            "fit",
            Some(24),
            None,
            &[("colonoscopy", Some(120))],
            source(
                "BC Cancer Colon Screening Program: FIT every 2 years for asymptomatic people \
                 aged 50–74 at average risk; up to date after a colonoscopy in the preceding \
                 10 years (average risk); not for people with colon cancer, ulcerative colitis \
                 or Crohn's disease",
                BC_COLON,
            ),
        ),
        gap(
            "influenza_vaccine",
            "Influenza vaccine",
            ages(65, None, None, &[]),
            "influenza_vaccine",
            Some(12),
            None,
            &[],
            source(
                "ImmunizeBC, Influenza: everyone 6 months and older needs an influenza vaccine \
                 every year; seniors 65 and older are at high risk — Attach recalls people 65 \
                 and older yearly",
                IMMUNIZEBC_FLU,
            ),
        ),
        gap(
            "pneumococcal_vaccine",
            "Pneumococcal vaccine",
            ages(65, None, None, &[]),
            "pneumococcal_vaccine",
            None,
            None,
            &[],
            source(
                "Canadian Immunization Guide (NACI), pneumococcal vaccines: adults 65 and older \
                 receive one dose of a pneumococcal vaccine (Pneu-C-20 or Pneu-C-21 in the current \
                 chapter; Pneu-P-23 was the earlier program vaccine for BC seniors) — Attach \
                 counts any recorded dose as done",
                CIG_PNEUMO,
            ),
        ),
    ]
}
