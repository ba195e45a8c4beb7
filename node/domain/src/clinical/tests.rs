//! The shipped catalogue (`catalogue::shipped`): it compiles, its code lists take the codes
//! EMRs and MSP claims carry and refuse their near neighbours, every definition cites a
//! source, and worked patients come out as a clinic would expect.

use time::{Date, Month};

use super::catalogue::shipped;
use super::rules::{Comparison, Compiled, Demographics, GapState, GapTiming, PatientCare, Target};
use super::*;
use crate::types::Sex;

fn d(y: i32, m: u8, day: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).expect("month"), day).expect("date")
}

const TODAY: (i32, u8, u8) = (2026, 6, 15);

fn today() -> Date {
    d(TODAY.0, TODAY.1, TODAY.2)
}

fn compiled() -> Compiled {
    shipped().compile().expect("the shipped catalogue compiles")
}

fn code(system: CodeSystem, c: &str) -> Code {
    Code::new(system, c).expect("a code")
}

fn record(id: &str, fact: ClinicalFact) -> ClinicalRecord {
    ClinicalRecord {
        source_id: id.to_owned(),
        fact,
        display: None,
        origin: Origin::Emr { updated: None },
    }
}

fn condition(id: &str, system: CodeSystem, c: &str, status: ConditionStatus) -> ClinicalRecord {
    record(
        id,
        ClinicalFact::Condition {
            codes: vec![code(system, c)],
            onset: None,
            abated: None,
            status,
        },
    )
}

fn number(id: &str, loinc: &str, date: Date, value: f64, unit: &str) -> ClinicalRecord {
    record(
        id,
        ClinicalFact::Observation {
            codes: vec![code(CodeSystem::Loinc, loinc)],
            date,
            value: ObservationValue::Number {
                value,
                unit: Some(unit.to_owned()),
            },
        },
    )
}

fn bp(id: &str, date: Date, systolic: f64, diastolic: f64) -> ClinicalRecord {
    record(
        id,
        ClinicalFact::Observation {
            codes: vec![code(CodeSystem::Loinc, "85354-9")],
            date,
            value: ObservationValue::BloodPressure {
                systolic,
                diastolic,
            },
        },
    )
}

fn done(id: &str, loinc: &str, date: Date) -> ClinicalRecord {
    record(
        id,
        ClinicalFact::Observation {
            codes: vec![code(CodeSystem::Loinc, loinc)],
            date,
            value: ObservationValue::None,
        },
    )
}

fn procedure(id: &str, snomed: &str, date: Date) -> ClinicalRecord {
    record(
        id,
        ClinicalFact::Procedure {
            codes: vec![code(CodeSystem::SnomedCt, snomed)],
            date,
        },
    )
}

fn immunization(id: &str, cvx: &str, date: Date) -> ClinicalRecord {
    record(
        id,
        ClinicalFact::Immunization {
            codes: vec![code(CodeSystem::Cvx, cvx)],
            date,
        },
    )
}

fn medication(id: &str, atc: &str) -> ClinicalRecord {
    record(
        id,
        ClinicalFact::Medication {
            codes: vec![code(CodeSystem::Atc, atc)],
            start: Some(d(2025, 1, 10)),
            end: None,
            status: MedicationStatus::Active,
        },
    )
}

fn diabetic() -> ClinicalRecord {
    condition("dm", CodeSystem::Icd9, "250", ConditionStatus::Active)
}

/// What the shipped rules say of a patient born on `dob`.
fn care(c: &Compiled, records: &[ClinicalRecord], sex: Sex, dob: Date) -> PatientCare {
    let summary = c.summarise(records);
    c.evaluate(
        &summary,
        Demographics {
            sex,
            date_of_birth: dob,
        },
        today(),
    )
}

/// Born so as to be `age` today.
fn aged(age: i32) -> Date {
    d(TODAY.0 - age, 1, 1)
}

fn gap(c: &Compiled, care: &PatientCare, key: &str) -> Option<GapState> {
    care.gaps.iter().find(|g| c.gap(g.rule).key == key).copied()
}

fn uncoded(c: &Compiled, care: &PatientCare) -> Vec<(String, String)> {
    care.uncoded
        .iter()
        .map(|u| {
            let reg = c.registry(u.registry);
            (
                reg.key.clone(),
                reg.uncoded[usize::from(u.rule)].key.clone(),
            )
        })
        .collect()
}

fn coded(c: &Compiled, care: &PatientCare) -> Vec<String> {
    care.registries
        .iter()
        .map(|r| c.registry(*r).key.clone())
        .collect()
}

/// Today less `months` calendar months (on the 15th, like today).
fn months_ago(months: u32) -> Date {
    let total = TODAY.0 * 12 + i32::from(TODAY.1) - 1 - i32::try_from(months).expect("months");
    let month = u8::try_from(total.rem_euclid(12) + 1).expect("month");
    d(total.div_euclid(12), month, TODAY.2)
}

// ---------------------------------------------------------------------------
// The catalogue itself
// ---------------------------------------------------------------------------

#[test]
fn the_shipped_catalogue_compiles() {
    let c = compiled();
    assert!(c.catalogue().registries.len() >= 12);
    assert!(c.catalogue().gaps.len() >= 13);
}

#[test]
fn every_definition_cites_a_public_source() {
    let cat = shipped();
    let mut checked = 0;
    let mut check = |whose: String, s: &Option<rules::Source>| {
        let s = s
            .as_ref()
            .unwrap_or_else(|| panic!("{whose} has no source"));
        assert!(
            s.url.starts_with("https://") || s.url.starts_with("http://"),
            "{whose}: {} is not a web address",
            s.url
        );
        assert!(
            s.citation.len() > 20,
            "{whose}: the citation \"{}\" says too little",
            s.citation
        );
        checked += 1;
    };
    for c in &cat.concepts {
        check(format!("concept {}", c.key), &c.source);
    }
    for r in &cat.registries {
        check(format!("registry {}", r.key), &r.source);
        for u in &r.uncoded {
            check(format!("registry {} rule {}", r.key, u.key), &u.source);
        }
    }
    for g in &cat.gaps {
        check(format!("care-gap rule {}", g.key), &g.source);
    }
    assert!(checked > 40);
}

#[test]
fn keys_are_stable_snake_case_words_and_names_are_written() {
    let cat = shipped();
    let snake = |k: &str| {
        !k.is_empty()
            && k.starts_with(|c: char| c.is_ascii_lowercase())
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let keys = cat
        .concepts
        .iter()
        .map(|c| (&c.key, &c.name))
        .chain(cat.registries.iter().map(|r| (&r.key, &r.name)))
        .chain(cat.gaps.iter().map(|g| (&g.key, &g.name)));
    for (key, name) in keys {
        assert!(snake(key), "\"{key}\" is not a snake_case key");
        assert!(!name.trim().is_empty(), "\"{key}\" has no name");
    }
    for r in &cat.registries {
        for u in &r.uncoded {
            assert!(snake(&u.key), "\"{}\" is not a snake_case key", u.key);
            assert!(u.description.len() > 40, "rule {} says too little", u.key);
        }
    }
}

fn shipped_matches() -> Vec<CodeMatch> {
    let cat = shipped();
    cat.concepts
        .iter()
        .flat_map(|c| c.codes.clone())
        .chain(cat.registries.iter().flat_map(|r| r.codes.clone()))
        .collect()
}

fn assert_reads_back(matches: impl Iterator<Item = CodeMatch>) {
    let mut n = 0;
    for m in matches {
        let line = m.to_line();
        assert_eq!(
            CodeMatch::parse_line(&line),
            Ok(m),
            "{line} does not read back"
        );
        n += 1;
    }
    assert!(n > 0);
}

#[test]
fn every_shipped_diagnosis_drug_and_vaccine_code_reads_back_as_a_protocol_line() {
    // The clinic edits the codes as lines (`icd9 250*`); each shipped code must survive that.
    assert_reads_back(
        shipped_matches()
            .into_iter()
            .filter(|m| m.system != CodeSystem::Loinc),
    );
}

#[test]
fn every_shipped_loinc_code_reads_back_as_a_protocol_line() {
    assert_reads_back(
        shipped_matches()
            .into_iter()
            .filter(|m| m.system == CodeSystem::Loinc),
    );
}

#[test]
fn numeric_concepts_name_one_unit_family_each() {
    // Thresholds are written in one unit; the concept takes only that unit's spellings.
    let cat = shipped();
    let units = |key: &str| {
        cat.concepts
            .iter()
            .find(|c| c.key == key)
            .map(|c| c.units.clone())
            .unwrap_or_default()
    };
    assert_eq!(units("hba1c"), vec!["%".to_owned()]);
    assert_eq!(units("acr"), vec!["mg/mmol".to_owned()]);
    assert_eq!(units("ldl"), vec!["mmol/L".to_owned()]);
    assert!(units("egfr").iter().all(|u| u.starts_with("mL/min/")));
}

// ---------------------------------------------------------------------------
// Registries: real codes in, near misses out
// ---------------------------------------------------------------------------

#[test]
fn registries_take_real_codes_and_refuse_near_misses() {
    use CodeSystem::{Icd9, Icd10Ca, SnomedCt};
    let c = compiled();
    #[rustfmt::skip]
    let table: &[(&str, CodeSystem, &str, bool)] = &[
        ("diabetes", Icd9, "250.00", true),
        ("diabetes", Icd9, "250", true),
        ("diabetes", Icd9, "2500", true),
        ("diabetes", Icd9, "249", false),
        ("diabetes", Icd9, "251", false),
        ("diabetes", Icd10Ca, "E11.9", true),
        ("diabetes", Icd10Ca, "E10.65", true),
        ("diabetes", Icd10Ca, "E14", true),
        ("diabetes", Icd10Ca, "E15", false),
        ("diabetes", Icd10Ca, "E09", false),
        ("diabetes", Icd10Ca, "O24.4", false),
        ("diabetes", Icd9, "E11.9", false),
        ("diabetes", SnomedCt, "44054006", true),
        ("diabetes", SnomedCt, "46635009", true),
        ("diabetes", SnomedCt, "73211009", true),
        ("diabetes", SnomedCt, "4405400", false),
        ("diabetes", SnomedCt, "440540061", false),
        ("hypertension", Icd9, "401", true),
        ("hypertension", Icd9, "401.9", true),
        ("hypertension", Icd9, "405.01", true),
        ("hypertension", Icd9, "400", false),
        ("hypertension", Icd9, "406", false),
        ("hypertension", Icd10Ca, "I10", true),
        ("hypertension", Icd10Ca, "I13.0", true),
        ("hypertension", Icd10Ca, "I15.0", true),
        ("hypertension", Icd10Ca, "I14", false),
        ("hypertension", Icd10Ca, "I16", false),
        ("hypertension", Icd10Ca, "O13", false),
        ("hypertension", SnomedCt, "38341003", true),
        ("hypertension", SnomedCt, "59621000", true),
        ("copd", Icd9, "491.21", true),
        ("copd", Icd9, "492", true),
        ("copd", Icd9, "496", true),
        ("copd", Icd9, "490", false),
        ("copd", Icd9, "493", false),
        ("copd", Icd10Ca, "J44.9", true),
        ("copd", Icd10Ca, "J43.9", true),
        ("copd", Icd10Ca, "J40", false),
        ("copd", Icd10Ca, "J45", false),
        ("copd", SnomedCt, "13645005", true),
        ("asthma", Icd9, "493.90", true),
        ("asthma", Icd9, "494", false),
        ("asthma", Icd10Ca, "J45.9", true),
        ("asthma", Icd10Ca, "J46", true),
        ("asthma", Icd10Ca, "J44", false),
        ("asthma", SnomedCt, "195967001", true),
        ("heart_failure", Icd9, "428.0", true),
        ("heart_failure", Icd9, "427", false),
        ("heart_failure", Icd9, "429", false),
        ("heart_failure", Icd10Ca, "I50.9", true),
        ("heart_failure", Icd10Ca, "I51", false),
        ("heart_failure", SnomedCt, "84114007", true),
        ("heart_failure", SnomedCt, "42343007", true),
        ("ckd", Icd9, "585", true),
        ("ckd", Icd9, "585.3", true),
        ("ckd", Icd9, "584", false),
        ("ckd", Icd9, "586", false),
        ("ckd", Icd10Ca, "N18.3", true),
        ("ckd", Icd10Ca, "N17.9", false),
        ("ckd", Icd10Ca, "N19", false),
        ("ckd", SnomedCt, "709044004", true),
        ("ckd", SnomedCt, "433144002", true),
        ("depression", Icd9, "311", true),
        ("depression", Icd9, "296.2", true),
        ("depression", Icd9, "296.32", true),
        ("depression", Icd9, "296.4", false),
        ("depression", Icd9, "300.4", false),
        ("depression", Icd10Ca, "F32.9", true),
        ("depression", Icd10Ca, "F33.1", true),
        ("depression", Icd10Ca, "F31", false),
        ("depression", Icd10Ca, "F34.1", false),
        ("depression", SnomedCt, "35489007", true),
        ("depression", SnomedCt, "370143000", true),
        ("dementia", Icd9, "290", true),
        ("dementia", Icd9, "290.0", true),
        ("dementia", Icd9, "294.1", true),
        ("dementia", Icd9, "294.10", true),
        ("dementia", Icd9, "294.0", false),
        ("dementia", Icd9, "331.0", true),
        ("dementia", Icd9, "331.1", false),
        ("dementia", Icd10Ca, "F03", true),
        ("dementia", Icd10Ca, "F00.1", true),
        ("dementia", Icd10Ca, "G30.9", true),
        ("dementia", Icd10Ca, "F04", false),
        ("dementia", Icd10Ca, "G31", false),
        ("dementia", SnomedCt, "52448006", true),
        ("dementia", SnomedCt, "26929004", true),
        ("coronary_artery_disease", Icd9, "410", true),
        ("coronary_artery_disease", Icd9, "414.01", true),
        ("coronary_artery_disease", Icd9, "409", false),
        ("coronary_artery_disease", Icd9, "415", false),
        ("coronary_artery_disease", Icd10Ca, "I20.9", true),
        ("coronary_artery_disease", Icd10Ca, "I25.10", true),
        ("coronary_artery_disease", Icd10Ca, "I26", false),
        ("coronary_artery_disease", Icd10Ca, "I19", false),
        ("coronary_artery_disease", SnomedCt, "53741008", true),
        ("coronary_artery_disease", SnomedCt, "414545008", true),
        ("atrial_fibrillation", Icd9, "427.31", true),
        ("atrial_fibrillation", Icd9, "427.4", false),
        ("atrial_fibrillation", Icd10Ca, "I48.0", true),
        ("atrial_fibrillation", Icd10Ca, "I47", false),
        ("atrial_fibrillation", SnomedCt, "49436004", true),
        ("osteoporosis", Icd9, "733.00", true),
        ("osteoporosis", Icd9, "733.1", false),
        ("osteoporosis", Icd10Ca, "M81.0", true),
        ("osteoporosis", Icd10Ca, "M80", true),
        ("osteoporosis", Icd10Ca, "M83", false),
        ("osteoporosis", SnomedCt, "64859006", true),
        ("hypothyroidism", Icd9, "244.9", true),
        ("hypothyroidism", Icd9, "243", false),
        ("hypothyroidism", Icd9, "245", false),
        ("hypothyroidism", Icd10Ca, "E03.9", true),
        ("hypothyroidism", Icd10Ca, "E89.0", true),
        ("hypothyroidism", Icd10Ca, "E89.1", false),
        ("hypothyroidism", Icd10Ca, "E05", false),
        ("hypothyroidism", SnomedCt, "40930008", true),
        ("colorectal_cancer", Icd9, "153.9", true),
        ("colorectal_cancer", Icd9, "154.1", true),
        ("colorectal_cancer", Icd9, "154.2", false),
        ("colorectal_cancer", Icd10Ca, "C18.7", true),
        ("colorectal_cancer", Icd10Ca, "C21", false),
        ("inflammatory_bowel_disease", Icd10Ca, "K50.9", true),
        ("inflammatory_bowel_disease", Icd10Ca, "K52", false),
        ("breast_cancer", Icd10Ca, "C50.9", true),
        ("breast_cancer", Icd9, "174.9", true),
    ];
    for (key, system, raw, expected) in table {
        let i = c
            .registry_index(key)
            .unwrap_or_else(|| panic!("no registry {key}"));
        let got = c.registry(i).matches(&[code(system.clone(), raw)]);
        assert_eq!(got, *expected, "{key} with {} {raw}", system.key());
    }
}

#[test]
fn every_clinical_registry_has_icd9_icd10ca_and_snomed_codes() {
    let c = compiled();
    for r in &c.catalogue().registries {
        if r.key == "colorectal_cancer" {
            continue; // An exclusion list; no SNOMED id for it is shipped.
        }
        for system in [CodeSystem::Icd9, CodeSystem::Icd10Ca, CodeSystem::SnomedCt] {
            assert!(
                r.codes.iter().any(|m| m.system == system),
                "{} has no {} code",
                r.key,
                system.label()
            );
        }
        let icd = r.codes.iter().filter(|m| m.system != CodeSystem::SnomedCt);
        for m in icd {
            assert!(m.prefix, "{}: {} should be a prefix", r.key, m.to_line());
        }
    }
}

// ---------------------------------------------------------------------------
// Worked examples
// ---------------------------------------------------------------------------

#[test]
fn two_high_hba1c_without_a_code_suggest_diabetes_and_one_does_not() {
    let c = compiled();
    let one = [number("a", "4548-4", d(2026, 1, 10), 6.8, "%")];
    let two = [
        number("a", "4548-4", d(2026, 1, 10), 6.8, "%"),
        number("b", "4548-4", d(2026, 4, 12), 6.8, "%"),
    ];
    let suggestion = ("diabetes".to_owned(), "two_hba1c".to_owned());
    let p = care(&c, &two, Sex::Male, aged(58));
    assert!(coded(&c, &p).is_empty());
    assert_eq!(uncoded(&c, &p), vec![suggestion.clone()]);
    let p = care(&c, &one, Sex::Male, aged(58));
    assert!(uncoded(&c, &p).is_empty());
    // Coded already: no suggestion.
    let mut coded_too = two.to_vec();
    coded_too.push(diabetic());
    let p = care(&c, &coded_too, Sex::Male, aged(58));
    assert!(!uncoded(&c, &p).contains(&suggestion));
    // Two normal results do not suggest either.
    let normal = [
        number("a", "4548-4", d(2026, 1, 10), 6.1, "%"),
        number("b", "4548-4", d(2026, 4, 12), 6.4, "%"),
    ];
    assert!(uncoded(&c, &care(&c, &normal, Sex::Male, aged(58))).is_empty());
}

#[test]
fn hba1c_in_mmol_per_mol_is_not_compared_with_a_percent_threshold() {
    let c = compiled();
    // 53 mmol/mol is 7.0 %; compared as a percentage it would be far above 6.5.
    let ifcc = [
        number("a", "59261-8", d(2026, 1, 10), 53.0, "mmol/mol"),
        number("b", "59261-8", d(2026, 4, 12), 53.0, "mmol/mol"),
        diabetic(),
    ];
    let p = care(&c, &ifcc[..2], Sex::Female, aged(61));
    assert!(uncoded(&c, &p).is_empty());
    // For a coded diabetic it still counts as done, with no verdict on the target.
    let p = care(&c, &ifcc, Sex::Female, aged(61));
    let g = gap(&c, &p, "diabetes_hba1c").expect("diabetics have the HbA1c rule");
    assert_eq!(g.timing, GapTiming::UpToDate);
    assert_eq!(g.in_target, None);
}

#[test]
fn a_coded_diabetic_with_an_hba1c_eight_months_ago_is_overdue() {
    let c = compiled();
    let records = [diabetic(), number("a", "4548-4", months_ago(8), 6.9, "%")];
    let p = care(&c, &records, Sex::Female, aged(64));
    assert_eq!(coded(&c, &p), vec!["diabetes".to_owned()]);
    let g = gap(&c, &p, "diabetes_hba1c").expect("diabetics have the HbA1c rule");
    assert_eq!(g.timing, GapTiming::Overdue);
    assert_eq!(g.in_target, Some(true));
    assert!(g.is_open());
}

#[test]
fn a_coded_diabetic_at_hba1c_7_4_is_out_of_target() {
    let c = compiled();
    let records = [diabetic(), number("a", "4548-4", months_ago(2), 7.4, "%")];
    let p = care(&c, &records, Sex::Male, aged(52));
    let g = gap(&c, &p, "diabetes_hba1c").expect("diabetics have the HbA1c rule");
    assert_eq!(g.timing, GapTiming::UpToDate);
    assert_eq!(g.in_target, Some(false));
    assert!(g.is_open());
    // 7.0 exactly meets "≤ 7.0".
    let at = [diabetic(), number("a", "4548-4", months_ago(2), 7.0, "%")];
    let p = care(&c, &at, Sex::Male, aged(52));
    let g = gap(&c, &p, "diabetes_hba1c").expect("rule");
    assert_eq!(g.in_target, Some(true));
    assert!(!g.is_open());
}

#[test]
fn a_diabetic_is_held_to_130_80_and_a_hypertensive_to_140_90() {
    let c = compiled();
    let htn = condition("htn", CodeSystem::Icd10Ca, "I10", ConditionStatus::Active);
    let records = [diabetic(), htn, bp("b", months_ago(1), 134.0, 78.0)];
    let p = care(&c, &records, Sex::Male, aged(70));
    let dm = gap(&c, &p, "diabetes_bp").expect("diabetics have the BP rule");
    assert_eq!(dm.in_target, Some(false));
    let ht = gap(&c, &p, "hypertension_bp").expect("hypertensives have the BP rule");
    assert_eq!(ht.in_target, Some(true));
    assert_eq!(ht.timing, GapTiming::UpToDate);
}

#[test]
fn a_diabetic_without_kidney_tests_or_lipids_has_those_gaps_never_recorded() {
    let c = compiled();
    let p = care(&c, &[diabetic()], Sex::Female, aged(45));
    for key in [
        "diabetes_hba1c",
        "diabetes_bp",
        "diabetes_egfr",
        "diabetes_acr",
        "diabetes_ldl",
    ] {
        let g = gap(&c, &p, key).unwrap_or_else(|| panic!("{key} applies"));
        assert_eq!(g.timing, GapTiming::Never, "{key}");
    }
    // An eGFR 11 months ago is due soon or up to date; 13 months ago, overdue.
    let recent = [
        diabetic(),
        number("e", "98979-8", months_ago(11), 72.0, "mL/min/1.73m2"),
    ];
    let g = gap(
        &c,
        &care(&c, &recent, Sex::Female, aged(45)),
        "diabetes_egfr",
    )
    .expect("rule")
    .timing;
    assert!(
        matches!(g, GapTiming::DueSoon | GapTiming::UpToDate),
        "{g:?}"
    );
    let old = [
        diabetic(),
        number("e", "98979-8", months_ago(13), 72.0, "mL/min/1.73 m2"),
    ];
    let g = gap(&c, &care(&c, &old, Sex::Female, aged(45)), "diabetes_egfr").expect("rule");
    assert_eq!(g.timing, GapTiming::Overdue);
}

#[test]
fn a_resolved_diabetes_condition_does_not_code() {
    let c = compiled();
    let records = [condition(
        "dm",
        CodeSystem::SnomedCt,
        "44054006",
        ConditionStatus::Resolved,
    )];
    let p = care(&c, &records, Sex::Male, aged(60));
    assert!(coded(&c, &p).is_empty());
    assert!(gap(&c, &p, "diabetes_hba1c").is_none());
    let error = [condition(
        "dm",
        CodeSystem::SnomedCt,
        "44054006",
        ConditionStatus::EnteredInError,
    )];
    assert!(coded(&c, &care(&c, &error, Sex::Male, aged(60))).is_empty());
    let active = [condition(
        "dm",
        CodeSystem::SnomedCt,
        "44054006",
        ConditionStatus::Active,
    )];
    assert_eq!(
        coded(&c, &care(&c, &active, Sex::Male, aged(60))),
        vec!["diabetes".to_owned()]
    );
}

#[test]
fn a_woman_of_55_with_a_fit_30_months_ago_is_overdue_and_a_colonoscopy_covers_her() {
    let c = compiled();
    let fit = number("f", "58453-2", months_ago(30), 12.0, "ug/g");
    let p = care(&c, std::slice::from_ref(&fit), Sex::Female, aged(55));
    let g = gap(&c, &p, "colorectal_screening").expect("50–74 are eligible");
    assert_eq!(g.timing, GapTiming::Overdue);
    let scope = procedure("s", "73761001", months_ago(36));
    let p = care(&c, &[fit, scope], Sex::Female, aged(55));
    let g = gap(&c, &p, "colorectal_screening").expect("eligible");
    assert_eq!(g.timing, GapTiming::UpToDate);
    assert!(!g.is_open());
}

#[test]
fn colorectal_screening_leaves_out_colorectal_cancer_and_ibd_and_the_young() {
    let c = compiled();
    let cancer = [condition(
        "c",
        CodeSystem::Icd10Ca,
        "C18.7",
        ConditionStatus::Active,
    )];
    let ibd = [condition(
        "u",
        CodeSystem::Icd9,
        "556",
        ConditionStatus::Active,
    )];
    for records in [&cancer[..], &ibd[..]] {
        let p = care(&c, records, Sex::Male, aged(60));
        assert!(gap(&c, &p, "colorectal_screening").is_none());
    }
    assert!(
        gap(
            &c,
            &care(&c, &[], Sex::Male, aged(49)),
            "colorectal_screening"
        )
        .is_none()
    );
    assert!(
        gap(
            &c,
            &care(&c, &[], Sex::Male, aged(75)),
            "colorectal_screening"
        )
        .is_none()
    );
    let g = gap(
        &c,
        &care(&c, &[], Sex::Male, aged(74)),
        "colorectal_screening",
    )
    .expect("74 is eligible");
    assert_eq!(g.timing, GapTiming::Never);
}

#[test]
fn a_man_is_not_eligible_for_cervical_screening() {
    let c = compiled();
    assert!(
        gap(
            &c,
            &care(&c, &[], Sex::Male, aged(40)),
            "cervical_screening"
        )
        .is_none()
    );
    assert!(gap(&c, &care(&c, &[], Sex::Male, aged(55)), "breast_screening").is_none());
    let g = gap(
        &c,
        &care(&c, &[], Sex::Female, aged(40)),
        "cervical_screening",
    )
    .expect("a woman of 40 is eligible");
    assert_eq!(g.timing, GapTiming::Never);
    assert!(
        gap(
            &c,
            &care(&c, &[], Sex::Female, aged(24)),
            "cervical_screening"
        )
        .is_none()
    );
    assert!(
        gap(
            &c,
            &care(&c, &[], Sex::Female, aged(70)),
            "cervical_screening"
        )
        .is_none()
    );
}

#[test]
fn an_hpv_test_four_years_ago_is_up_to_date_and_a_pap_four_years_ago_is_not() {
    let c = compiled();
    let hpv = [done("h", "77379-6", months_ago(48))];
    let g = gap(
        &c,
        &care(&c, &hpv, Sex::Female, aged(38)),
        "cervical_screening",
    )
    .expect("eligible");
    assert_eq!(g.timing, GapTiming::UpToDate);
    let pap = [done("p", "19762-4", months_ago(48))];
    let g = gap(
        &c,
        &care(&c, &pap, Sex::Female, aged(38)),
        "cervical_screening",
    )
    .expect("eligible");
    assert_eq!(g.timing, GapTiming::Overdue);
}

#[test]
fn a_mammogram_counts_as_a_procedure_or_as_a_report() {
    let c = compiled();
    let procedure = [procedure("m", "24623002", months_ago(12))];
    let report = [done("m", "24606-6", months_ago(12))];
    for records in [&procedure[..], &report[..]] {
        let g = gap(
            &c,
            &care(&c, records, Sex::Female, aged(62)),
            "breast_screening",
        )
        .expect("eligible");
        assert_eq!(g.timing, GapTiming::UpToDate);
    }
    let old = [done("m", "24606-6", months_ago(26))];
    let g = gap(
        &c,
        &care(&c, &old, Sex::Female, aged(62)),
        "breast_screening",
    )
    .expect("eligible");
    assert_eq!(g.timing, GapTiming::Overdue);
    let survivor = [condition(
        "b",
        CodeSystem::Icd10Ca,
        "C50.9",
        ConditionStatus::Active,
    )];
    assert!(
        gap(
            &c,
            &care(&c, &survivor, Sex::Female, aged(62)),
            "breast_screening"
        )
        .is_none()
    );
}

#[test]
fn a_70_year_old_with_one_pneumococcal_dose_five_years_ago_is_up_to_date() {
    let c = compiled();
    let records = [immunization("v", "33", months_ago(60))];
    let p = care(&c, &records, Sex::Female, aged(70));
    let g = gap(&c, &p, "pneumococcal_vaccine").expect("65+ are eligible");
    assert_eq!(g.timing, GapTiming::UpToDate);
    assert_eq!(g.due, None);
    let never = care(&c, &[], Sex::Female, aged(70));
    let g = gap(&c, &never, "pneumococcal_vaccine").expect("eligible");
    assert_eq!(g.timing, GapTiming::Never);
    assert!(
        gap(
            &c,
            &care(&c, &[], Sex::Female, aged(64)),
            "pneumococcal_vaccine"
        )
        .is_none()
    );
}

#[test]
fn an_influenza_vaccine_is_yearly_from_65() {
    let c = compiled();
    let last_fall = [immunization("f", "197", months_ago(8))];
    let g = gap(
        &c,
        &care(&c, &last_fall, Sex::Male, aged(66)),
        "influenza_vaccine",
    )
    .expect("65+ are eligible");
    assert_eq!(g.timing, GapTiming::UpToDate);
    let two_falls_ago = [immunization("f", "205", months_ago(20))];
    let g = gap(
        &c,
        &care(&c, &two_falls_ago, Sex::Male, aged(66)),
        "influenza_vaccine",
    )
    .expect("eligible");
    assert_eq!(g.timing, GapTiming::Overdue);
}

#[test]
fn kidney_results_suggest_ckd_only_when_persistent() {
    let c = compiled();
    let egfr = |id: &str, date: Date, v: f64| number(id, "33914-3", date, v, "mL/min/1.73m2");
    let acr = |id: &str, date: Date, v: f64| number(id, "9318-7", date, v, "mg/mmol");
    let suggestions =
        |records: &[ClinicalRecord]| uncoded(&c, &care(&c, records, Sex::Female, aged(72)));
    let low = ("ckd".to_owned(), "two_low_egfr".to_owned());
    let high = ("ckd".to_owned(), "two_high_acr".to_owned());
    // 89 days apart: not yet chronic.
    assert!(
        suggestions(&[
            egfr("a", d(2026, 1, 1), 52.0),
            egfr("b", d(2026, 3, 31), 55.0)
        ])
        .is_empty()
    );
    // 90 days apart.
    assert_eq!(
        suggestions(&[
            egfr("a", d(2026, 1, 1), 52.0),
            egfr("b", d(2026, 4, 1), 55.0)
        ]),
        vec![low]
    );
    // 60 is not below 60.
    assert!(
        suggestions(&[
            egfr("a", d(2025, 1, 1), 60.0),
            egfr("b", d(2026, 1, 1), 60.0)
        ])
        .is_empty()
    );
    assert_eq!(
        suggestions(&[acr("a", d(2025, 6, 1), 3.0), acr("b", d(2026, 1, 1), 4.5)]),
        vec![high]
    );
    // An ACR in mg/g is not compared with a mg/mmol threshold.
    let mg_per_g = [
        number("a", "9318-7", d(2025, 6, 1), 45.0, "mg/g"),
        number("b", "9318-7", d(2026, 1, 1), 45.0, "mg/g"),
    ];
    assert!(suggestions(&mg_per_g).is_empty());
}

#[test]
fn three_high_readings_over_four_weeks_suggest_hypertension() {
    let c = compiled();
    let suggestions =
        |records: &[ClinicalRecord]| uncoded(&c, &care(&c, records, Sex::Male, aged(50)));
    let three = [
        bp("a", d(2026, 3, 1), 146.0, 84.0),
        bp("b", d(2026, 3, 15), 138.0, 92.0),
        bp("c", d(2026, 3, 29), 150.0, 88.0),
    ];
    assert_eq!(
        suggestions(&three),
        vec![("hypertension".to_owned(), "three_high_bp".to_owned())]
    );
    // Only 27 days from first to last.
    let quick = [
        bp("a", d(2026, 3, 2), 146.0, 84.0),
        bp("b", d(2026, 3, 15), 138.0, 92.0),
        bp("c", d(2026, 3, 29), 150.0, 88.0),
    ];
    assert!(suggestions(&quick).is_empty());
    // Two high readings and a normal one.
    let two = [
        bp("a", d(2026, 3, 1), 146.0, 84.0),
        bp("b", d(2026, 3, 15), 128.0, 82.0),
        bp("c", d(2026, 3, 29), 150.0, 88.0),
    ];
    assert!(suggestions(&two).is_empty());
}

#[test]
fn medications_suggest_their_registries() {
    let c = compiled();
    let suggestions = |records: &[ClinicalRecord]| {
        let mut s = uncoded(&c, &care(&c, records, Sex::Female, aged(48)));
        s.sort();
        s
    };
    assert_eq!(
        suggestions(&[medication("m", "A10BA02")]),
        vec![("diabetes".to_owned(), "diabetes_drug".to_owned())]
    );
    assert_eq!(
        suggestions(&[medication("m", "R03AC02")]),
        vec![
            ("asthma".to_owned(), "airway_drug".to_owned()),
            ("copd".to_owned(), "airway_drug".to_owned()),
        ]
    );
    assert_eq!(
        suggestions(&[medication("m", "N06AB06")]),
        vec![("depression".to_owned(), "antidepressant".to_owned())]
    );
    // A blood pressure drug suggests nothing: it has too many other uses.
    assert!(suggestions(&[medication("m", "C07AB02")]).is_empty());
    // Nor does an antipsychotic next to N06A.
    assert!(suggestions(&[medication("m", "N05AH04")]).is_empty());
}

#[test]
fn a_result_equal_to_a_clinic_edited_threshold_is_judged_on_the_threshold() {
    // A clinic that sets its own target, e.g. LDL < 1.8 mmol/L after a coronary event, or
    // HbA1c ≤ 6.3 %, gets a verdict for a result exactly at the threshold that its own
    // words contradict.
    let mut cat = shipped();
    let rule = cat
        .gaps
        .iter_mut()
        .find(|g| g.key == "diabetes_hba1c")
        .expect("the HbA1c rule");
    rule.target = Some(Target::Number {
        comparison: Comparison::AtMost,
        value: 6.3,
    });
    let c = cat.compile().expect("compiles");
    let records = [diabetic(), number("a", "4548-4", months_ago(1), 6.3, "%")];
    let p = care(&c, &records, Sex::Male, aged(50));
    let g = gap(&c, &p, "diabetes_hba1c").expect("rule");
    // 6.3 ≤ 6.3 holds; rules.rs says Some(false) because 6.3f32 as f64 is 6.300000190734863.
    assert_eq!(g.in_target, Some(true));
}
