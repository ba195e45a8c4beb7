//! Clinical imports against the sample files in `tests/fixtures/clinical/`, and small
//! files built here for each rule and each error.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::Date;
use time::macros::{date, datetime};

use super::*;
use crate::fhir::{PHN_OID_SYSTEM, PHN_SYSTEM};
use crate::{ColumnProblem, FileError, ImportErrors};
use attach_domain::Phn;
use attach_domain::clinical::{
    ClinicalFact, ClinicalRecord, Code, CodeSystem, ConditionStatus, MedicationStatus,
    ObservationValue, Origin,
};

const P1: &str = "9123456780";
const P2: &str = "9234567897";
const P3: &str = "9345678900";

/// The NDJSON fixture set, in the order a Bulk Data manifest lists it (Patient first).
const NDJSON_FIXTURES: &[&str] = &[
    "Patient.ndjson",
    "Condition.ndjson",
    "Observation.000.ndjson",
    "1.Observation.001.ndjson",
    "Immunization.ndjson",
    "Medication.ndjson",
    "MedicationRequest.ndjson",
    "MedicationStatement.ndjson",
    "Procedure.ndjson",
    "Encounter.ndjson",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/clinical/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ndjson_fixture() -> Vec<(String, Vec<u8>)> {
    NDJSON_FIXTURES
        .iter()
        .map(|n| (n.to_string(), fixture(&format!("ndjson/{n}"))))
        .collect()
}

fn phn(s: &str) -> Phn {
    Phn::parse(s).expect("test PHN is valid")
}

fn code(system: CodeSystem, c: &str) -> Code {
    Code::new(system, c).expect("test code is not empty")
}

fn nd(files: &[(String, Vec<u8>)]) -> Result<ClinicalImport, ImportErrors> {
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    parse_clinical_ndjson(&borrowed)
}

fn ok<T>(r: Result<T, ImportErrors>) -> T {
    r.unwrap_or_else(|e| panic!("unexpected refusal:\n{e}"))
}

fn refused<T: std::fmt::Debug>(r: Result<T, ImportErrors>) -> ImportErrors {
    r.expect_err("the file must be refused")
}

/// The record with this source id, and its patient.
fn record<'a>(imp: &'a ClinicalImport, id: &str) -> (&'a Phn, &'a ClinicalRecord) {
    imp.records
        .iter()
        .find(|(_, r)| r.source_id == id)
        .map(|(p, r)| (p, r))
        .unwrap_or_else(|| panic!("no record {id}"))
}

fn fact<'a>(imp: &'a ClinicalImport, id: &str) -> &'a ClinicalFact {
    &record(imp, id).1.fact
}

/// (row, line, field) of every row error.
fn places(e: &ImportErrors) -> Vec<(usize, Option<usize>, &str)> {
    e.rows()
        .iter()
        .map(|r| (r.row, r.line, r.field.as_str()))
        .collect()
}

fn message<'a>(e: &'a ImportErrors, field: &str) -> &'a str {
    e.rows()
        .iter()
        .find(|r| r.field == field)
        .map(|r| r.message.as_str())
        .unwrap_or_else(|| panic!("no error at {field}: {e}"))
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// No error message repeats a health number or a name from the file.
fn assert_no_patient_data(e: &ImportErrors) {
    let text = e.to_string();
    for secret in [P1, P2, P3, "9123", "Testpatient", "Alex"] {
        assert!(!text.contains(secret), "{secret} in:\n{text}");
    }
}

// ---------------------------------------------------------------------------
// Small bundles built in the tests
// ---------------------------------------------------------------------------

fn bundle(resources: &[Value]) -> Vec<u8> {
    let entry: Vec<Value> = resources.iter().map(|r| json!({ "resource": r })).collect();
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entry })
        .to_string()
        .into_bytes()
}

fn patient(id: &str, phn: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [{ "system": PHN_SYSTEM, "value": phn }],
        "name": [{ "family": "Testpatient", "given": ["Alex"] }]
    })
}

/// `base` with the elements of `extra` set (a `null` removes one).
fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(x)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            if v.is_null() {
                b.remove(k);
            } else {
                b.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

fn loinc(c: &str) -> Value {
    json!({ "coding": [{ "system": "http://loinc.org", "code": c }] })
}

fn observation(id: &str, extra: Value) -> Value {
    with(
        json!({
            "resourceType": "Observation",
            "id": id,
            "status": "final",
            "code": loinc("4548-4"),
            "subject": { "reference": "Patient/p1" },
            "effectiveDateTime": "2024-10-15",
            "valueQuantity": { "value": 7.2, "unit": "%" }
        }),
        extra,
    )
}

fn condition(id: &str, extra: Value) -> Value {
    with(
        json!({
            "resourceType": "Condition",
            "id": id,
            "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "44054006" }] },
            "subject": { "reference": "Patient/p1" }
        }),
        extra,
    )
}

fn medication_statement(id: &str, extra: Value) -> Value {
    with(
        json!({
            "resourceType": "MedicationStatement",
            "id": id,
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [{ "system": "http://www.whocc.no/atc", "code": "A10BA02" }]
            },
            "subject": { "reference": "Patient/p1" }
        }),
        extra,
    )
}

/// Reads a bundle of patient p1 and `resources`.
fn read(resources: &[Value]) -> Result<ClinicalImport, ImportErrors> {
    let mut all = vec![patient("p1", P1)];
    all.extend_from_slice(resources);
    parse_clinical_bundle(&bundle(&all))
}

fn one(resource: Value) -> ClinicalRecord {
    let imp = ok(read(&[resource]));
    assert_eq!(imp.records.len(), 1, "{imp:?}");
    imp.records[0].1.clone()
}

fn one_fact(resource: Value) -> ClinicalFact {
    one(resource).fact
}

fn value_of(resource: Value) -> ObservationValue {
    match one_fact(resource) {
        ClinicalFact::Observation { value, .. } => value,
        other => panic!("not an observation: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

#[test]
fn bundle_fixture_reads_every_resource_type() {
    let imp = ok(parse_clinical_bundle(&fixture("bundle.json")));
    let ids: Vec<&str> = imp
        .records
        .iter()
        .map(|(_, r)| r.source_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "Condition/cond-dm2",
            "Condition/cond-htn",
            "Condition/cond-asthma",
            "Observation/obs-a1c",
            "Observation/obs-bp",
            "Observation/obs-egfr",
            "Observation/obs-smoking",
            "Immunization/imm-flu",
            "MedicationStatement/med-metformin",
            "MedicationRequest/rx-atorva",
            "Procedure/proc-colonoscopy",
        ],
        "file order, skipped resources left out"
    );
    assert_eq!(imp.patients, 3);
    assert_eq!(
        imp.skipped_status,
        counts(&[("Immunization", 1), ("Observation", 1), ("Procedure", 1)])
    );
    assert_eq!(
        imp.skipped_types,
        counts(&[("Encounter", 1), ("Organization", 1), ("Practitioner", 1)])
    );
    assert_eq!(imp.skipped(), 6);
    assert_eq!(imp.repeated, 0);

    // A urn:uuid reference to the bundle's fullUrl; ICD-9 normalised; partial onset.
    let (p, dm) = record(&imp, "Condition/cond-dm2");
    assert_eq!(*p, phn(P1));
    assert_eq!(
        dm.fact,
        ClinicalFact::Condition {
            codes: vec![
                code(CodeSystem::SnomedCt, "44054006"),
                code(CodeSystem::Icd9, "250.00"),
            ],
            onset: Some(date!(2015 - 06 - 01)),
            abated: None,
            status: ConditionStatus::Active,
        }
    );
    assert_eq!(dm.display.as_deref(), Some("Type 2 diabetes mellitus"));
    assert_eq!(
        dm.origin,
        Origin::Emr {
            updated: Some(datetime!(2024-11-02 18:04:12 UTC))
        }
    );

    // `Patient/<id>` to a Patient named by the OID system, a PHN with spaces.
    let (p, htn) = record(&imp, "Condition/cond-htn");
    assert_eq!(*p, phn(P2));
    assert_eq!(
        htn.fact,
        ClinicalFact::Condition {
            codes: vec![code(CodeSystem::Icd10Ca, "I10")],
            onset: Some(date!(2019 - 03 - 10)),
            abated: Some(date!(2023 - 02 - 14)),
            status: ConditionStatus::Resolved,
        }
    );
    assert_eq!(
        htn.display.as_deref(),
        Some("Essential (primary) hypertension"),
        "no text: the coding's display"
    );
    assert_eq!(htn.origin, Origin::Emr { updated: None });

    // The PHN as subject.identifier; refuted.
    let (p, asthma) = record(&imp, "Condition/cond-asthma");
    assert_eq!(*p, phn(P3));
    assert!(matches!(
        asthma.fact,
        ClinicalFact::Condition {
            status: ConditionStatus::EnteredInError,
            ..
        }
    ));

    assert_eq!(
        *fact(&imp, "Observation/obs-a1c"),
        ClinicalFact::Observation {
            codes: vec![code(CodeSystem::Loinc, "4548-4")],
            date: date!(2024 - 10 - 15),
            value: ObservationValue::Number {
                value: 7.2,
                unit: Some("%".into())
            },
        },
        "the date as written, not moved to UTC"
    );
    let (p, bp) = record(&imp, "Observation/obs-bp");
    assert_eq!(*p, phn(P2));
    assert_eq!(bp.display.as_deref(), Some("Blood pressure"));
    assert_eq!(
        bp.fact,
        ClinicalFact::Observation {
            codes: vec![code(CodeSystem::Loinc, "85354-9")],
            date: date!(2024 - 09 - 03),
            value: ObservationValue::BloodPressure {
                systolic: 138.0,
                diastolic: 86.0
            },
        }
    );
    assert_eq!(
        *fact(&imp, "Observation/obs-egfr"),
        ClinicalFact::Observation {
            codes: vec![code(CodeSystem::Loinc, "62238-1")],
            date: date!(2024 - 10 - 15),
            value: ObservationValue::Number {
                value: 58.0,
                unit: Some("mL/min/{1.73_m2}".into())
            },
        },
        "effectivePeriod.start; no unit, so the UCUM code"
    );
    // An absolute reference matching the Patient's fullUrl, which comes later in the file.
    let (p, smoking) = record(&imp, "Observation/obs-smoking");
    assert_eq!(*p, phn(P3));
    assert_eq!(
        smoking.fact,
        ClinicalFact::Observation {
            codes: vec![code(CodeSystem::Loinc, "72166-2")],
            date: date!(2023 - 12 - 01),
            value: ObservationValue::Coded {
                code: code(CodeSystem::SnomedCt, "8517006")
            },
        },
        "only `issued`"
    );
    let (p, flu) = record(&imp, "Immunization/imm-flu");
    assert_eq!(*p, phn(P1));
    assert_eq!(
        flu.fact,
        ClinicalFact::Immunization {
            codes: vec![code(CodeSystem::Cvx, "140")],
            date: date!(2024 - 10 - 20),
        }
    );
    let metformin = record(&imp, "MedicationStatement/med-metformin").1;
    assert_eq!(
        metformin.fact,
        ClinicalFact::Medication {
            codes: vec![
                code(CodeSystem::Din, "02242974"),
                code(CodeSystem::Atc, "A10BA02"),
            ],
            start: Some(date!(2015 - 07 - 01)),
            end: None,
            status: MedicationStatus::Active,
        }
    );
    assert_eq!(
        metformin.display.as_deref(),
        Some("Metformin 500 mg tablet")
    );
    // A contained Medication.
    let (p, atorva) = record(&imp, "MedicationRequest/rx-atorva");
    assert_eq!(*p, phn(P3));
    assert_eq!(
        atorva.fact,
        ClinicalFact::Medication {
            codes: vec![code(CodeSystem::Atc, "C10AA05")],
            start: Some(date!(2021 - 02 - 03)),
            end: Some(date!(2022 - 02 - 03)),
            status: MedicationStatus::Stopped,
        }
    );
    assert_eq!(atorva.display.as_deref(), Some("Atorvastatin 20 mg tablet"));
    assert_eq!(
        *fact(&imp, "Procedure/proc-colonoscopy"),
        ClinicalFact::Procedure {
            codes: vec![code(CodeSystem::SnomedCt, "73761001")],
            date: date!(2022 - 05 - 01),
        }
    );
}

#[test]
fn ndjson_fixture_reads_every_file() {
    let imp = ok(nd(&ndjson_fixture()));
    let ids: Vec<&str> = imp
        .records
        .iter()
        .map(|(_, r)| r.source_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "Condition/c1",
            "Condition/c2",
            "Condition/c3",
            "Observation/o1",
            "Observation/o2",
            "Observation/o4",
            "Observation/o5",
            "Observation/o6",
            "Immunization/i1",
            "MedicationRequest/mr1",
            "MedicationStatement/ms1",
            "Procedure/pr1",
        ]
    );
    assert_eq!(
        imp.patients, 4,
        "pat-4 has no PHN, but no record refers to it"
    );
    assert_eq!(imp.medications, 1);
    assert_eq!(
        imp.skipped_status,
        counts(&[
            ("Immunization", 1),
            ("MedicationRequest", 1),
            ("Observation", 1)
        ])
    );
    assert_eq!(imp.skipped_types, counts(&[("Encounter", 2)]));
    assert_eq!(imp.skipped_files, 0);

    let (p, c1) = record(&imp, "Condition/c1");
    assert_eq!(*p, phn(P1));
    assert_eq!(
        c1.fact,
        ClinicalFact::Condition {
            codes: vec![code(CodeSystem::Icd9, "250")],
            onset: Some(date!(2015 - 01 - 01)),
            abated: None,
            status: ConditionStatus::Active,
        },
        "recurrence is active; a year is its first day"
    );
    assert_eq!(
        c1.origin,
        Origin::Emr {
            updated: Some(datetime!(2024-11-02 18:04:12 UTC))
        }
    );
    assert_eq!(
        *fact(&imp, "Condition/c2"),
        ClinicalFact::Condition {
            codes: vec![code(CodeSystem::SnomedCt, "35489007")],
            onset: Some(date!(2018 - 04 - 01)),
            abated: None,
            status: ConditionStatus::Resolved,
        },
        "remission is resolved; onsetPeriod.start"
    );
    assert_eq!(
        fact(&imp, "Condition/c3").codes(),
        [code(
            CodeSystem::Other("https://emr.example.ca/codes/problem".into()),
            "DM-FOLLOWUP"
        )],
        "an unknown system is kept"
    );
    assert!(matches!(
        fact(&imp, "Condition/c3"),
        ClinicalFact::Condition {
            status: ConditionStatus::Active,
            onset: None,
            ..
        }
    ));
    let (p, o2) = record(&imp, "Observation/o2");
    assert_eq!(*p, phn(P2));
    assert_eq!(
        o2.fact,
        ClinicalFact::Observation {
            codes: vec![code(CodeSystem::Loinc, "85354-9")],
            date: date!(2024 - 05 - 02),
            value: ObservationValue::BloodPressure {
                systolic: 122.0,
                diastolic: 78.0
            },
        },
        "effectiveInstant"
    );
    assert!(matches!(
        fact(&imp, "Observation/o4"),
        ClinicalFact::Observation { date, .. } if *date == date!(2023 - 08 - 01)
    ));
    assert!(matches!(
        fact(&imp, "Observation/o5"),
        ClinicalFact::Observation { value: ObservationValue::Text { text }, .. } if text == "Feeling well"
    ));
    assert!(matches!(
        fact(&imp, "Observation/o6"),
        ClinicalFact::Observation {
            value: ObservationValue::None,
            ..
        }
    ));
    // Coded by the Medication in Medication.ndjson.
    let (p, mr1) = record(&imp, "MedicationRequest/mr1");
    assert_eq!(*p, phn(P2));
    assert_eq!(
        mr1.fact,
        ClinicalFact::Medication {
            codes: vec![
                code(CodeSystem::Din, "02221829"),
                code(CodeSystem::Atc, "C09AA05"),
            ],
            start: Some(date!(2024 - 01 - 15)),
            end: None,
            status: MedicationStatus::Active,
        }
    );
    assert_eq!(mr1.display.as_deref(), Some("Ramipril 5 mg capsule"));
    assert_eq!(
        *fact(&imp, "MedicationStatement/ms1"),
        ClinicalFact::Medication {
            codes: vec![code(CodeSystem::Atc, "A10BA02")],
            start: Some(date!(2015 - 07 - 01)),
            end: Some(date!(2019 - 12 - 31)),
            status: MedicationStatus::Stopped,
        }
    );
    assert_eq!(
        *fact(&imp, "Procedure/pr1"),
        ClinicalFact::Procedure {
            codes: vec![code(CodeSystem::SnomedCt, "73761001")],
            date: date!(2021 - 09 - 14),
        }
    );
}

#[test]
fn ndjson_files_may_come_in_any_order_and_with_any_case() {
    let mut files = ndjson_fixture();
    let expected = ok(nd(&files));
    // Patients last: references resolve once everything is read.
    files.rotate_left(1);
    for (name, _) in &mut files {
        *name = name.to_uppercase().replace(".NDJSON", ".NdJson");
    }
    let imp = ok(nd(&files));
    let mut a: Vec<&str> = imp
        .records
        .iter()
        .map(|(_, r)| r.source_id.as_str())
        .collect();
    let mut b: Vec<&str> = expected
        .records
        .iter()
        .map(|(_, r)| r.source_id.as_str())
        .collect();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
    assert_eq!(imp.skipped_status, expected.skipped_status);
}

#[test]
fn csv_fixture_reads_every_kind() {
    let imp = ok(parse_clinical_csv(&fixture("clinical.csv")));
    assert_eq!(imp.records.len(), 11);
    let (p, dm) = record(&imp, "prob-17");
    assert_eq!(*p, phn(P1));
    assert_eq!(
        dm.fact,
        ClinicalFact::Condition {
            codes: vec![code(CodeSystem::Icd9, "25000")],
            onset: Some(date!(2015 - 06 - 01)),
            abated: None,
            status: ConditionStatus::Active,
        }
    );
    assert_eq!(dm.display.as_deref(), Some("Type 2 diabetes"));
    assert_eq!(
        dm.origin,
        Origin::Emr {
            updated: Some(datetime!(2024-11-02 18:04:12 UTC))
        }
    );
    let (p, a1c) = record(&imp, "lab-hba1c-2024-10-15");
    assert_eq!(*p, phn(P1), "spaces in the PHN");
    assert_eq!(
        a1c.fact,
        ClinicalFact::Observation {
            codes: vec![code(CodeSystem::Loinc, "4548-4")],
            date: date!(2024 - 10 - 15),
            value: ObservationValue::Number {
                value: 7.2,
                unit: Some("%".into())
            },
        }
    );
    assert_eq!(
        a1c.origin,
        Origin::Emr {
            updated: Some(datetime!(2024-10-16 00:00 UTC))
        },
        "a date alone is midnight UTC"
    );
    let bp = record(&imp, "vital-bp-88").1;
    assert_eq!(bp.display.as_deref(), Some("Blood pressure, sitting"));
    assert!(matches!(
        bp.fact,
        ClinicalFact::Observation {
            value: ObservationValue::BloodPressure {
                systolic: 138.0,
                diastolic: 86.0
            },
            ..
        }
    ));
    assert_eq!(
        *fact(&imp, "prob-22"),
        ClinicalFact::Condition {
            codes: vec![code(CodeSystem::Icd10Ca, "I10")],
            onset: Some(date!(2019 - 03 - 10)),
            abated: Some(date!(2023 - 02 - 14)),
            status: ConditionStatus::Resolved,
        }
    );
    assert_eq!(
        *fact(&imp, "proc-5"),
        ClinicalFact::Procedure {
            codes: vec![code(CodeSystem::SnomedCt, "73761001")],
            date: date!(2022 - 05 - 01),
        }
    );
    assert_eq!(
        *fact(&imp, "imm-9"),
        ClinicalFact::Immunization {
            codes: vec![code(CodeSystem::Cvx, "140")],
            date: date!(2024 - 10 - 20),
        }
    );
    assert_eq!(
        *fact(&imp, "rx-301"),
        ClinicalFact::Medication {
            codes: vec![code(CodeSystem::Atc, "C10AA05")],
            start: Some(date!(2021 - 02 - 03)),
            end: Some(date!(2022 - 02 - 03)),
            status: MedicationStatus::Stopped,
        }
    );
    assert!(matches!(
        fact(&imp, "rx-302"),
        ClinicalFact::Medication {
            status: MedicationStatus::Active,
            end: None,
            ..
        }
    ));
    assert!(matches!(
        fact(&imp, "lab-egfr-1"),
        ClinicalFact::Observation { codes, date, .. }
            if codes == &[code(CodeSystem::Loinc, "62238-1")] && *date == date!(2024 - 01 - 01)
    ));
    let dm_followup = record(&imp, "prob-30").1;
    assert_eq!(dm_followup.display, None);
    assert!(matches!(
        &dm_followup.fact,
        ClinicalFact::Condition { codes, status: ConditionStatus::EnteredInError, onset: None, .. }
            if codes[0].system == CodeSystem::Other("https://emr.example.ca/codes/problem".into())
    ));
    assert!(matches!(
        fact(&imp, "obs-smoke"),
        ClinicalFact::Observation {
            value: ObservationValue::None,
            ..
        }
    ));
}

#[test]
fn parsing_the_same_file_twice_gives_the_same_records() {
    let bundle = fixture("bundle.json");
    assert_eq!(
        ok(parse_clinical_bundle(&bundle)),
        ok(parse_clinical_bundle(&bundle))
    );
    let files = ndjson_fixture();
    assert_eq!(ok(nd(&files)), ok(nd(&files)));
    let csv = fixture("clinical.csv");
    assert_eq!(ok(parse_clinical_csv(&csv)), ok(parse_clinical_csv(&csv)));
    // And the same errors, in the same order.
    let bad = bundle_with_errors();
    assert_eq!(
        refused(parse_clinical_bundle(&bad)),
        refused(parse_clinical_bundle(&bad))
    );
}

#[test]
fn csv_columns_are_documented_and_in_the_fixture() {
    let header = String::from_utf8(fixture("clinical.csv")).expect("UTF-8");
    let first = header.lines().next().unwrap_or("");
    let names: Vec<&str> = CLINICAL_CSV_COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(first, names.join(","));
    let docs = include_str!("clinical.rs");
    for c in CLINICAL_CSV_COLUMNS {
        assert!(
            docs.contains(&format!("//! | `{}` | ", c.name)),
            "{} is not in the module's table",
            c.name
        );
    }
}

// ---------------------------------------------------------------------------
// The rules, one by one
// ---------------------------------------------------------------------------

#[test]
fn partial_dates_take_the_first_day() {
    let good: &[(&str, Date)] = &[
        ("2024", date!(2024 - 01 - 01)),
        ("2024-02", date!(2024 - 02 - 01)),
        ("2024-02-29", date!(2024 - 02 - 29)),
        ("2024-02-29T23:59:59-08:00", date!(2024 - 02 - 29)),
        ("2024-03-01T00:10:00Z", date!(2024 - 03 - 01)),
        ("2024-03-01T00:10:00.123+05:30", date!(2024 - 03 - 01)),
    ];
    for (s, d) in good {
        assert_eq!(fhir_date(s), Some(*d), "{s}");
    }
    for s in [
        "",
        "24",
        "0000",
        "2023-02-29",
        "2024-13",
        "2024-00-10",
        "2024-1-5",
        "2024/01/05",
        "2024-01-01T",
        "2024-01-01 10:00",
        "2024-01-01Tnoon",
        "20240105",
        "2024-01-32",
        "２０２４",
    ] {
        assert_eq!(fhir_date(s), None, "{s}");
    }
    // The same forms in each resource's date elements.
    assert!(matches!(
        one_fact(condition("c", json!({ "onsetDateTime": "2010" }))),
        ClinicalFact::Condition { onset: Some(d), .. } if d == date!(2010 - 01 - 01)
    ));
    assert!(matches!(
        one_fact(observation("o", json!({ "effectiveDateTime": "2020-07" }))),
        ClinicalFact::Observation { date, .. } if date == date!(2020 - 07 - 01)
    ));
}

#[test]
fn condition_statuses() {
    let cases: &[(Value, ConditionStatus)] = &[
        (json!(null), ConditionStatus::Active),
        (
            json!({ "clinicalStatus": concept("active") }),
            ConditionStatus::Active,
        ),
        (
            json!({ "clinicalStatus": concept("recurrence") }),
            ConditionStatus::Active,
        ),
        (
            json!({ "clinicalStatus": concept("relapse") }),
            ConditionStatus::Active,
        ),
        (
            json!({ "clinicalStatus": concept("inactive") }),
            ConditionStatus::Resolved,
        ),
        (
            json!({ "clinicalStatus": concept("remission") }),
            ConditionStatus::Resolved,
        ),
        (
            json!({ "clinicalStatus": concept("resolved") }),
            ConditionStatus::Resolved,
        ),
        // STU3 exports write a plain code.
        (
            json!({ "clinicalStatus": "resolved" }),
            ConditionStatus::Resolved,
        ),
        (
            json!({ "clinicalStatus": concept("active"), "verificationStatus": concept("refuted") }),
            ConditionStatus::EnteredInError,
        ),
        (
            json!({ "verificationStatus": concept("entered-in-error") }),
            ConditionStatus::EnteredInError,
        ),
        (
            json!({ "clinicalStatus": concept("resolved"), "verificationStatus": concept("unconfirmed") }),
            ConditionStatus::Resolved,
        ),
    ];
    for (extra, expected) in cases {
        let extra = if extra.is_null() {
            json!({})
        } else {
            extra.clone()
        };
        match one_fact(condition("c", extra.clone())) {
            ClinicalFact::Condition { status, .. } => assert_eq!(status, *expected, "{extra}"),
            other => panic!("{other:?}"),
        }
    }
    let e = refused(read(&[condition(
        "c",
        json!({ "clinicalStatus": concept("unknown") }),
    )]));
    assert_eq!(places(&e), [(2, None, "entry[1].resource.clinicalStatus")]);
}

fn concept(code: &str) -> Value {
    json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": code }] })
}

#[test]
fn medication_statuses_and_dates() {
    for (status, expected) in [
        ("active", MedicationStatus::Active),
        ("intended", MedicationStatus::Active),
        ("on-hold", MedicationStatus::Active),
        ("unknown", MedicationStatus::Active),
        ("completed", MedicationStatus::Stopped),
        ("stopped", MedicationStatus::Stopped),
        ("cancelled", MedicationStatus::Stopped),
        ("entered-in-error", MedicationStatus::EnteredInError),
    ] {
        match one_fact(medication_statement("m", json!({ "status": status }))) {
            ClinicalFact::Medication { status: s, .. } => assert_eq!(s, expected, "{status}"),
            other => panic!("{other:?}"),
        }
    }
    let e = refused(read(&[medication_statement(
        "m",
        json!({ "status": "paused" }),
    )]));
    assert_eq!(places(&e), [(2, None, "entry[1].resource.status")]);

    // MedicationRequest: authoredOn, else the validity period; its end.
    let request = json!({
        "resourceType": "MedicationRequest",
        "id": "r",
        "status": "active",
        "medicationCodeableConcept": { "coding": [{ "system": "din", "code": "02242974" }] },
        "subject": { "reference": "Patient/p1" },
        "dispenseRequest": { "validityPeriod": { "start": "2024-02-01", "end": "2024-08-01" } }
    });
    assert_eq!(
        one_fact(request.clone()),
        ClinicalFact::Medication {
            codes: vec![code(CodeSystem::Din, "02242974")],
            start: Some(date!(2024 - 02 - 01)),
            end: Some(date!(2024 - 08 - 01)),
            status: MedicationStatus::Active,
        }
    );
    assert!(matches!(
        one_fact(with(request, json!({ "authoredOn": "2024-01-20T10:00:00-08:00" }))),
        ClinicalFact::Medication { start: Some(d), .. } if d == date!(2024 - 01 - 20)
    ));
    // MedicationStatement.effectiveDateTime is a start.
    assert!(matches!(
        one_fact(medication_statement("m", json!({ "effectiveDateTime": "2019-05" }))),
        ClinicalFact::Medication { start: Some(d), end: None, .. } if d == date!(2019 - 05 - 01)
    ));
}

#[test]
fn observation_value_forms() {
    assert_eq!(
        value_of(observation(
            "o",
            json!({ "valueQuantity": { "value": 5.4, "code": "mmol/L" } })
        )),
        ObservationValue::Number {
            value: 5.4,
            unit: Some("mmol/L".into())
        },
        "no unit: the code"
    );
    assert_eq!(
        value_of(observation(
            "o",
            json!({ "valueQuantity": { "value": 90 } })
        )),
        ObservationValue::Number {
            value: 90.0,
            unit: None
        }
    );
    assert_eq!(
        value_of(observation(
            "o",
            json!({ "valueQuantity": null, "valueCodeableConcept": {
                "coding": [
                    { "code": "no-system" },
                    { "system": "http://snomed.info/sct", "code": "260385009", "display": "Negative" }
                ]
            } })
        )),
        ObservationValue::Coded {
            code: code(CodeSystem::SnomedCt, "260385009")
        },
        "the first coding with a system"
    );
    assert_eq!(
        value_of(observation(
            "o",
            json!({ "valueQuantity": null, "valueCodeableConcept": { "text": "Negative" } })
        )),
        ObservationValue::Text {
            text: "Negative".into()
        }
    );
    assert_eq!(
        value_of(observation(
            "o",
            json!({ "valueQuantity": null, "valueString": "  see   report " })
        )),
        ObservationValue::Text {
            text: "see report".into()
        }
    );
    assert_eq!(
        value_of(observation(
            "o",
            json!({ "valueQuantity": null, "valueInteger": 3 })
        )),
        ObservationValue::Number {
            value: 3.0,
            unit: None
        }
    );
    assert_eq!(
        value_of(observation(
            "o",
            json!({ "valueQuantity": null, "valueBoolean": true })
        )),
        ObservationValue::Text {
            text: "true".into()
        }
    );
    assert_eq!(
        value_of(observation("o", json!({ "valueQuantity": null }))),
        ObservationValue::None
    );
    let long = "x".repeat(10_000);
    assert!(matches!(
        value_of(observation("o", json!({ "valueQuantity": null, "valueString": long }))),
        ObservationValue::Text { text } if text.chars().count() == 4_000
    ));
    // Blood pressure needs both components; one alone is no value.
    let component = |c: &str, v: f64| json!({ "code": loinc(c), "valueQuantity": { "value": v, "unit": "mmHg" } });
    assert_eq!(
        value_of(observation(
            "o",
            json!({ "valueQuantity": null, "code": loinc("55284-4"),
                    "component": [component("8462-4", 80.0), component("8480-6", 120.0)] })
        )),
        ObservationValue::BloodPressure {
            systolic: 120.0,
            diastolic: 80.0
        },
        "in any order"
    );
    assert_eq!(
        value_of(observation(
            "o",
            json!({ "valueQuantity": null, "component": [component("8480-6", 120.0)] })
        )),
        ObservationValue::None
    );
    // A quantity without its value is an error, not a silent "no value".
    let e = refused(read(&[observation(
        "o",
        json!({ "valueQuantity": { "unit": "%" } }),
    )]));
    assert_eq!(
        places(&e),
        [(2, None, "entry[1].resource.valueQuantity.value")]
    );
}

#[test]
fn codes_and_display() {
    let r = one(condition(
        "c",
        json!({ "code": { "coding": [
            { "system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "401.9" },
            { "display": "no system or code" },
            { "system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "4019" },
            { "system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension" },
            { "system": "http://snomed.info/sct", "code": "x".repeat(300) }
        ] } }),
    ));
    assert_eq!(
        r.fact.codes(),
        [
            code(CodeSystem::Icd9, "4019"),
            code(CodeSystem::SnomedCt, "38341003")
        ],
        "codings without both parts, repeats and overlong codes are left out"
    );
    assert_eq!(r.display.as_deref(), Some("Hypertension"));
    let r = one(condition(
        "c",
        json!({ "code": { "text": "  Essential   hypertension ", "coding": [
            { "system": "http://snomed.info/sct", "code": "59621000", "display": "Essential hypertension (disorder)" }
        ] } }),
    ));
    assert_eq!(r.display.as_deref(), Some("Essential hypertension"));
}

#[test]
fn skipped_statuses_are_counted_not_checked() {
    // (resource type, status, skipped). A skipped resource is not checked further, so
    // these have no id, no code and no patient.
    let cases: &[(&str, &str, bool)] = &[
        ("Observation", "entered-in-error", true),
        ("Observation", "cancelled", true),
        ("Observation", "preliminary", false),
        ("Procedure", "entered-in-error", true),
        ("Procedure", "not-done", true),
        ("Procedure", "completed", false),
        ("Immunization", "not-done", true),
        ("Immunization", "entered-in-error", true),
        ("Immunization", "completed", false),
        ("MedicationStatement", "not-taken", true),
        ("MedicationRequest", "draft", true),
        ("MedicationRequest", "entered-in-error", false),
    ];
    for (ty, status, skipped) in cases {
        let bare = json!({ "resourceType": ty, "status": status });
        let kept = json!({ "resourceType": "Condition", "id": "c", "code": loinc("1-8"),
                           "subject": { "reference": "Patient/p1" } });
        let r = read(&[bare, kept]);
        if *skipped {
            let imp = ok(r);
            assert_eq!(imp.skipped_status, counts(&[(ty, 1)]), "{ty} {status}");
            assert_eq!(imp.records.len(), 1);
        } else {
            let e = refused(r);
            assert!(
                e.rows().iter().any(|r| r.field == "entry[1].resource.id"),
                "{ty} {status} is read: {e}"
            );
        }
    }
    // A file of nothing but skipped records is not "no records".
    let only = ok(read(&[observation(
        "o",
        json!({ "status": "entered-in-error" }),
    )]));
    assert!(only.records.is_empty());
    assert_eq!(only.skipped(), 1);
}

#[test]
fn other_resource_types_are_counted_by_type() {
    let imp = ok(read(&[
        json!({ "resourceType": "Encounter", "id": "e1", "subject": 5 }),
        json!({ "resourceType": "Encounter" }),
        json!({ "resourceType": "AllergyIntolerance", "code": "not even a concept" }),
        observation("o", json!({})),
    ]));
    assert_eq!(
        imp.skipped_types,
        counts(&[("AllergyIntolerance", 1), ("Encounter", 2)])
    );
    assert_eq!(imp.records.len(), 1);
    // A file with no clinical resource at all is refused.
    let e = refused(read(&[json!({ "resourceType": "Encounter" })]));
    assert_eq!(e.file(), Some(&FileError::NoRecords));
}

#[test]
fn patients_link_by_every_reference_form() {
    let p = |id: &str, phn: &str| patient(id, phn);
    let obs = |id: &str, subject: Value| observation(id, json!({ "subject": subject }));
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            { "fullUrl": "urn:uuid:6d1c0d2e-0b3a-4f8e-9d2c-1a2b3c4d5e6f", "resource": p("6d1c0d2e-0b3a-4f8e-9d2c-1a2b3c4d5e6f", P1) },
            { "fullUrl": "https://emr.example.ca/fhir/Patient/p2", "resource": p("p2", P2), "search": { "mode": "include" } },
            { "resource": with(p("p3", "ignored"), json!({ "identifier": [
                { "system": "https://emr.example.ca/mrn", "value": "123" },
                { "system": PHN_OID_SYSTEM, "value": P3 },
                { "system": PHN_SYSTEM, "value": "9345-678-900" }
            ] })) },
            { "resource": obs("a", json!({ "reference": "urn:uuid:6d1c0d2e-0b3a-4f8e-9d2c-1a2b3c4d5e6f" })) },
            { "resource": obs("b", json!({ "reference": "Patient/p2/_history/4" })) },
            { "resource": obs("c", json!({ "reference": "https://emr.example.ca/fhir/Patient/p2" })) },
            { "resource": obs("d", json!({ "reference": "https://other.example/fhir/Patient/p3" })) },
            { "resource": obs("e", json!({ "reference": "Patient/p3", "display": "Sam" })) },
            { "resource": obs("f", json!({ "identifier": { "system": PHN_SYSTEM, "value": P2 } })) },
            { "resource": obs("g", json!({ "reference": "Patient/nowhere", "identifier": { "system": PHN_OID_SYSTEM, "value": P1 } })) }
        ]
    });
    let imp = ok(parse_clinical_bundle(bundle.to_string().as_bytes()));
    let links: Vec<(&str, Phn)> = imp
        .records
        .iter()
        .map(|(p, r)| (r.source_id.as_str(), *p))
        .collect();
    assert_eq!(
        links,
        [
            ("Observation/a", phn(P1)),
            ("Observation/b", phn(P2)),
            ("Observation/c", phn(P2)),
            ("Observation/d", phn(P3)),
            ("Observation/e", phn(P3)),
            ("Observation/f", phn(P2)),
            ("Observation/g", phn(P1)),
        ]
    );
    // NDJSON: urn:uuid references as older Synthea versions write them.
    let files = vec![
        (
            "Patient.ndjson".to_string(),
            patient("u-1", P1).to_string().into_bytes(),
        ),
        (
            "Observation.ndjson".to_string(),
            obs("a", json!({ "reference": "urn:uuid:u-1" }))
                .to_string()
                .into_bytes(),
        ),
    ];
    assert_eq!(ok(nd(&files)).records[0].0, phn(P1));
}

#[test]
fn immunization_uses_patient_not_subject() {
    let imm = json!({
        "resourceType": "Immunization",
        "id": "i",
        "status": "completed",
        "vaccineCode": { "coding": [{ "system": "http://hl7.org/fhir/sid/cvx", "code": "08" }] },
        "patient": { "reference": "Patient/p1" },
        "occurrenceDateTime": "1990-02-03"
    });
    assert_eq!(
        one_fact(imm.clone()),
        ClinicalFact::Immunization {
            codes: vec![code(CodeSystem::Cvx, "08")],
            date: date!(1990 - 02 - 03),
        }
    );
    let e = refused(read(&[with(
        imm,
        json!({ "patient": null, "subject": { "reference": "Patient/p1" } }),
    )]));
    assert_eq!(places(&e), [(2, None, "entry[1].resource.patient")]);
}

#[test]
fn a_record_repeated_exactly_is_kept_once() {
    let o = observation("o", json!({}));
    let imp = ok(read(&[o.clone(), o.clone()]));
    assert_eq!(imp.records.len(), 1);
    assert_eq!(imp.repeated, 1);
    // The same NDJSON line in two files of the export.
    let line = o.to_string().into_bytes();
    let files = vec![
        (
            "Patient.ndjson".to_string(),
            patient("p1", P1).to_string().into_bytes(),
        ),
        ("Observation.000.ndjson".to_string(), line.clone()),
        ("Observation.001.ndjson".to_string(), line),
    ];
    let imp = ok(nd(&files));
    assert_eq!((imp.records.len(), imp.repeated), (1, 1));
}

// ---------------------------------------------------------------------------
// Errors name their place
// ---------------------------------------------------------------------------

fn bundle_with_errors() -> Vec<u8> {
    let resources = [
        patient("p1", P1),
        // entry[1]: no id.
        observation("x", json!({ "id": null })),
        // entry[2]: a code with no system.
        condition(
            "c2",
            json!({ "code": { "coding": [{ "code": "44054006" }], "text": "Diabetes" } }),
        ),
        // entry[3]: no code at all, and a bad onset.
        condition("c3", json!({ "code": null, "onsetDateTime": "June 2015" })),
        // entry[4]: a Patient nobody in the file is.
        observation("o4", json!({ "subject": { "reference": "Patient/p9" } })),
        // entry[5]: not a patient.
        observation("o5", json!({ "subject": { "reference": "Group/g1" } })),
        // entry[6]: no subject.
        observation("o6", json!({ "subject": null })),
        // entry[7]: no date.
        observation("o7", json!({ "effectiveDateTime": null })),
        // entry[8]: a bad lastUpdated.
        observation("o8", json!({ "meta": { "lastUpdated": "yesterday" } })),
        // entry[9]: the code as a string.
        observation("o9", json!({ "code": "4548-4" })),
        // entry[10]: a component of the wrong form.
        observation(
            "o10",
            json!({ "component": [{ "code": loinc("8480-6") }, { "valueQuantity": "120" }] }),
        ),
        // entry[11]: no resource (below).
        json!(null),
        // entry[12]: a resourceType that is not one.
        json!({ "resourceType": "Testpatient Alex 9123456780" }),
        // entry[13]: the id of entry[4], with other content.
        observation("o4", json!({ "effectiveDateTime": "2020-01-01" })),
        // entry[14]: a Patient with a wrong PHN.
        patient("p14", "9123456781"),
        // entry[15]: a Patient with no PHN, that two records refer to.
        with(
            patient("p15", P1),
            json!({ "identifier": [{ "system": "https://emr.example.ca/mrn", "value": "1" }] }),
        ),
        observation("o16", json!({ "subject": { "reference": "Patient/p15" } })),
        observation("o17", json!({ "subject": { "reference": "Patient/p15" } })),
        // entry[18]: a record of the Patient with the wrong PHN: no second error.
        observation("o18", json!({ "subject": { "reference": "Patient/p14" } })),
        // entry[19]: a medication whose Medication is not in the file.
        medication_statement(
            "m19",
            json!({ "medicationCodeableConcept": null,
            "medicationReference": { "reference": "Medication/absent" } }),
        ),
        // entry[20]: the PHN as an identifier, mistyped.
        observation(
            "o20",
            json!({ "subject": { "identifier": { "system": PHN_SYSTEM, "value": "9123456781" } } }),
        ),
    ];
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            if r.is_null() {
                json!({ "fullUrl": "urn:uuid:empty" })
            } else {
                json!({ "resource": r })
            }
        })
        .collect();
    json!({ "resourceType": "Bundle", "type": "collection", "entry": entry })
        .to_string()
        .into_bytes()
}

#[test]
fn bundle_errors_name_the_entry_and_path() {
    let e = refused(parse_clinical_bundle(&bundle_with_errors()));
    assert!(e.file().is_none());
    assert_eq!(
        places(&e),
        [
            (2, None, "entry[1].resource.id"),
            (3, None, "entry[2].resource.code.coding"),
            (4, None, "entry[3].resource.code"),
            (4, None, "entry[3].resource.onsetDateTime"),
            (5, None, "entry[4].resource.subject.reference"),
            (6, None, "entry[5].resource.subject.reference"),
            (7, None, "entry[6].resource.subject"),
            (8, None, "entry[7].resource.effectiveDateTime"),
            (9, None, "entry[8].resource.meta.lastUpdated"),
            (10, None, "entry[9].resource.code"),
            (11, None, "entry[10].resource.component[1]"),
            (12, None, "entry[11].resource"),
            (13, None, "entry[12].resource.resourceType"),
            (14, None, "entry[13].resource.id"),
            (15, None, "entry[14].resource.identifier[0].value"),
            (16, None, "entry[15].resource.identifier"),
            (20, None, "entry[19].resource.medicationReference.reference"),
            (21, None, "entry[20].resource.subject.identifier.value"),
        ]
    );
    assert!(message(&e, "entry[1].resource.id").contains("is missing"));
    assert!(message(&e, "entry[4].resource.subject.reference").contains("not in the file"));
    assert!(message(&e, "entry[5].resource.subject.reference").contains("must refer to a Patient"));
    assert!(message(&e, "entry[13].resource.id").contains("entry[4]"));
    assert!(message(&e, "entry[14].resource.identifier[0].value").contains("check digit"));
    assert!(
        message(&e, "entry[15].resource.identifier").contains("2 records refer"),
        "one error for the patient, however many records"
    );
    assert!(message(&e, "entry[7].resource.effectiveDateTime").contains("effectivePeriod.start"));
    assert_no_patient_data(&e);
    assert!(
        e.to_string()
            .starts_with("Nothing was imported: 18 problems")
    );
}

#[test]
fn more_patient_link_errors() {
    // Two Patients with one id and different PHNs.
    let e = refused(read(&[patient("p1", P2), observation("o", json!({}))]));
    assert_eq!(places(&e), [(2, None, "entry[1].resource.id")]);
    assert!(message(&e, "entry[1].resource.id").contains("entry[0]"));
    // Two different PHNs on one Patient.
    let e = refused(parse_clinical_bundle(&bundle(&[
        with(
            patient("p1", P1),
            json!({ "identifier": [
                { "system": PHN_SYSTEM, "value": P1 },
                { "system": PHN_OID_SYSTEM, "value": P2 }
            ] }),
        ),
        observation("o", json!({})),
    ])));
    assert_eq!(
        places(&e),
        [(1, None, "entry[0].resource.identifier[1].value")]
    );
    // A contained patient cannot be read.
    let e = refused(read(&[observation(
        "o",
        json!({ "subject": { "reference": "#p" } }),
    )]));
    assert_eq!(
        places(&e),
        [(2, None, "entry[1].resource.subject.reference")]
    );
    // A reference to a contained Medication that is not there.
    let e = refused(read(&[medication_statement(
        "m",
        json!({ "medicationCodeableConcept": null, "medicationReference": { "reference": "#med" } }),
    )]));
    assert_eq!(
        places(&e),
        [(2, None, "entry[1].resource.medicationReference.reference")]
    );
    // A Medication with no usable code, referred to by a record.
    let e = refused(read(&[
        json!({ "resourceType": "Medication", "id": "m", "code": { "text": "Metformin" } }),
        medication_statement(
            "s",
            json!({ "medicationCodeableConcept": null, "medicationReference": { "reference": "Medication/m" } }),
        ),
    ]));
    assert_eq!(
        places(&e),
        [(3, None, "entry[2].resource.medicationReference.reference")]
    );
    assert!(message(&e, "entry[2].resource.medicationReference.reference").contains("entry[1]"));
}

#[test]
fn ndjson_errors_name_the_file_and_line() {
    let lines = |ls: &[String]| ls.join("\n").into_bytes();
    let files = vec![
        (
            "Observation.ndjson".to_string(),
            lines(&[
                observation("o1", json!({})).to_string(),
                String::new(),
                observation("o3", json!({ "subject": { "reference": "Patient/p9" } })).to_string(),
                "{\"resourceType\":\"Observation\",\"id\":".to_string(),
                "[1, 2]".to_string(),
                observation("o6", json!({ "effectiveDateTime": "2024-13-01" })).to_string(),
                "{\"id\":\"x\"}".to_string(),
                "{\"id\":\"x\",\"resourceType\":\"Observation\",\"code\":[]}".to_string(),
            ]),
        ),
        // Patients after the records that refer to them.
        (
            "Patient.ndjson".to_string(),
            lines(&[
                patient("p1", P1).to_string(),
                with(patient("p2", P1), json!({ "identifier": [] })).to_string(),
            ]),
        ),
        (
            "Condition.ndjson".to_string(),
            [
                condition("c1", json!({ "subject": { "reference": "Patient/p2" } }))
                    .to_string()
                    .into_bytes(),
                b"\n\xff\xfe not text\n".to_vec(),
            ]
            .concat(),
        ),
        ("Procedure.ndjson.gz".to_string(), vec![0x1f, 0x8b, 8, 0]),
        (
            "manifest.json".to_string(),
            b"{\"transactionTime\":\"2024-11-02T18:10:00Z\",\"output\":[]}".to_vec(),
        ),
    ];
    let e = refused(nd(&files));
    assert_eq!(
        places(&e),
        [
            (3, Some(3), "Observation.ndjson: subject.reference"),
            (4, Some(4), "Observation.ndjson"),
            (5, Some(5), "Observation.ndjson"),
            (6, Some(6), "Observation.ndjson: effectiveDateTime"),
            (7, Some(7), "Observation.ndjson: resourceType"),
            (8, Some(8), "Observation.ndjson: code"),
            (2, Some(2), "Patient.ndjson: identifier"),
            (2, Some(2), "Condition.ndjson"),
            (1, Some(1), "Procedure.ndjson.gz"),
        ],
        "file by file, line by line, references resolved at the end"
    );
    assert!(message(&e, "Observation.ndjson").contains("cut off"));
    assert!(message(&e, "Condition.ndjson").contains("UTF-8"));
    assert!(message(&e, "Procedure.ndjson.gz").contains("unpack"));
    assert_eq!(
        e.rows()[0].to_string(),
        "Row 3 (line 3), Observation.ndjson: subject.reference: refers to a Patient that is \
         not in the file; include that Patient (with its BC PHN), or name the patient by an \
         identifier with the BC PHN system instead"
    );
    assert_no_patient_data(&e);
}

#[test]
fn ndjson_line_ends_byte_order_marks_and_other_files() {
    let body = format!(
        "\u{feff}{}\r\n\r\n   \r\n{}\r\n",
        patient("p1", P1),
        observation("o1", json!({}))
    );
    let files = vec![
        ("Mixed.ndjson".to_string(), body.into_bytes()),
        ("manifest.json".to_string(), b"{\"output\":[]}".to_vec()),
        ("README".to_string(), b"hello".to_vec()),
    ];
    let imp = ok(nd(&files));
    assert_eq!(imp.records.len(), 1);
    assert_eq!(imp.patients, 1);
    assert_eq!(imp.skipped_files, 2);
    // A line is read by its own resourceType, whatever the file is called.
    let files = vec![(
        "Condition.ndjson".to_string(),
        format!("{}\n{}", observation("o1", json!({})), patient("p1", P1)).into_bytes(),
    )];
    assert_eq!(ok(nd(&files)).records[0].1.source_id, "Observation/o1");
    // resourceType need not come first.
    let late = r#"{"id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},"subject":{"identifier":{"system":"https://fhir.infoway-inforoute.ca/NamingSystem/ca-bc-patient-healthcare-id","value":"9123456780"}},"effectiveDateTime":"2024-01-02","resourceType":"Observation"}"#;
    let files = vec![("Observation.ndjson".to_string(), late.as_bytes().to_vec())];
    assert_eq!(ok(nd(&files)).records.len(), 1);
}

// ---------------------------------------------------------------------------
// Hostile and wrong files
// ---------------------------------------------------------------------------

#[test]
fn hostile_files_give_errors_never_panics() {
    let deep = format!(
        "{{\"resourceType\":\"Observation\",\"code\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = refused(parse_clinical_bundle(
        format!("{{\"resourceType\":\"Bundle\",\"entry\":[{{\"resource\":{deep}}}]}}").as_bytes(),
    ));
    assert!(matches!(e.file(), Some(FileError::Json { .. })), "{e}");
    let e = refused(nd(&[(
        "Observation.ndjson".to_string(),
        deep.clone().into_bytes(),
    )]));
    assert_eq!(places(&e), [(1, Some(1), "Observation.ndjson")]);
    assert!(
        message(&e, "Observation.ndjson").contains("recursion"),
        "{e}"
    );
    // Deep nesting in a type that is skipped, and inside a known element.
    let deep_skipped = deep.replace("Observation", "Encounter");
    // (A skipped line is only checked to be JSON, by a reader that does not recurse.)
    assert_eq!(
        refused(nd(&[(
            "Encounter.ndjson".to_string(),
            deep_skipped.into_bytes()
        )]))
        .file(),
        Some(&FileError::NoRecords)
    );

    // A megabyte of garbage on one line, and as a bundle.
    let garbage: Vec<u8> = (0..1_000_000u32)
        .map(|i| b"{x\"]:,9 a"[(i as usize * 7) % 9])
        .collect();
    let e = refused(nd(&[("Observation.ndjson".to_string(), garbage.clone())]));
    assert_eq!(e.rows().len(), 1, "{e}");
    assert!(matches!(
        refused(parse_clinical_bundle(&garbage)).file(),
        Some(FileError::Json { .. })
    ));
    let binary: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    assert!(matches!(
        refused(parse_clinical_bundle(&binary)).file(),
        Some(FileError::NotUtf8 { .. })
    ));
    assert!(
        !refused(nd(&[("Observation.ndjson".to_string(), binary.clone())]))
            .rows()
            .is_empty()
    );
    assert!(refused(parse_clinical_csv(&binary)).file().is_some());

    // The wrong kind of file.
    assert_eq!(
        refused(parse_clinical_bundle(
            patient("p1", P1).to_string().as_bytes()
        ))
        .file(),
        Some(&FileError::NotClinicalBundle {
            found: Some("Patient".into())
        })
    );
    assert_eq!(
        refused(parse_clinical_bundle(
            br#"{"resourceType":"Alex Testpatient 9123456780"}"#
        ))
        .file(),
        Some(&FileError::NotClinicalBundle { found: None }),
        "a resourceType that is not one is not repeated"
    );
    assert_eq!(
        refused(parse_clinical_bundle(b"[1,2,3]")).file(),
        Some(&FileError::NotClinicalBundle { found: None })
    );
    assert_eq!(
        refused(parse_clinical_bundle(
            br#"{"resourceType":"Bundle","entry":{}}"#
        ))
        .file(),
        Some(&FileError::EntryNotList)
    );
    assert_eq!(
        refused(parse_clinical_bundle(br#"{"resourceType":"Bundle"}"#)).file(),
        Some(&FileError::NoRecords)
    );
    assert_eq!(
        refused(parse_clinical_bundle(b"  \n")).file(),
        Some(&FileError::Empty)
    );
    assert_eq!(refused(nd(&[])).file(), Some(&FileError::Empty));
    assert_eq!(
        refused(nd(&[("Observation.ndjson".to_string(), b"\n\n".to_vec())])).file(),
        Some(&FileError::Empty)
    );
    // A whole Bundle given as NDJSON (pretty-printed): every line is an error, no panic.
    let e = refused(nd(&[(
        "Observation.ndjson".to_string(),
        fixture("bundle.json"),
    )]));
    assert!(e.rows().len() > 100);
    assert_no_patient_data(&e);
    // A number too big for a float; an integer too big for FHIR.
    for value in ["1e999", "99999999999"] {
        let line = observation("o", json!({}))
            .to_string()
            .replace("7.2", value)
            .replace("\"valueQuantity\"", "\"valueInteger\":1,\"x\"");
        let line = if value == "1e999" {
            line.replace("\"valueInteger\":1", "\"valueInteger\":1e999")
        } else {
            line.replace("\"valueInteger\":1", &format!("\"valueInteger\":{value}"))
        };
        let e = refused(nd(&[("Observation.ndjson".to_string(), line.into_bytes())]));
        assert_eq!(places(&e).len(), 1, "{value}: {e}");
    }
}

// ---------------------------------------------------------------------------
// CSV errors
// ---------------------------------------------------------------------------

const CSV_HEADER: &str = "phn,kind,id,system,code,display,date,end_date,status,value,unit,updated";

fn csv(rows: &[&str]) -> Vec<u8> {
    let mut s = String::from(CSV_HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s.into_bytes()
}

#[test]
fn csv_errors_name_row_line_and_column() {
    let bytes = csv(&[
        "9123456780,observation,a1,loinc,4548-4,HbA1c,2024-01-05,,,7.2,%,",
        "9123456781,observation,a2,loinc,4548-4,,2024-01-05,,,7.2,%,",
        "9123456780,lab,a3,loinc,4548-4,,2024-01-05,,,,,",
        "9123456780,observation,a 4,loinc,4548-4,,2024-01-05,,,,,",
        "9123456780,observation,a5,icd11,4548-4,,2024-01-05,,,,,",
        "9123456780,observation,a6,loinc,,,2024-01-05,,,,,",
        "9123456780,observation,a7,loinc,4548-4,,05/01/2024,,,,,",
        "9123456780,condition,a8,icd9,250,,2024-01-05,2023-01-05,,,,",
        "9123456780,observation,a9,loinc,4548-4,,2024-01-05,2024-02-01,final,,,",
        "9123456780,condition,a10,icd9,250,,,,,7.2,%,",
        "9123456780,observation,a11,loinc,4548-4,,2024-01-05,,,\"7,2\",%,",
        "9123456780,observation,a12,loinc,4548-4,,2024-01-05,,,,%,",
        "9123456780,observation,a13,loinc,85354-9,,2024-01-05,,,120/80,%,",
        "9123456780,procedure,a14,snomed,73761001,,,,,,,",
        "9123456780,observation,a15,loinc,4548-4,,2024-01-05,,,,,last tuesday",
        "9123456780,medication,a16,atc,A10BA02,,,,paused,,,",
        "9123456780,observation,a1,loinc,4548-4,HbA1c,2024-01-06,,,7.2,%,",
        "9123456780,observation,a1,loinc,4548-4,HbA1c,2024-01-05,,,7.2,%,",
        "9123456780,condition,a19,icd9,250,,,,maybe,,,",
        "9123456780,observation,a20,loinc,85354-9,,2024-01-05,,,120/,,",
        "9123456780,immunization,a21,cvx,140,,2024-01-05,,,5,,",
    ]);
    let e = refused(parse_clinical_csv(&bytes));
    assert!(e.file().is_none());
    assert_eq!(
        places(&e),
        [
            (2, Some(3), "phn"),
            (3, Some(4), "kind"),
            (4, Some(5), "id"),
            (5, Some(6), "system"),
            (6, Some(7), "code"),
            (7, Some(8), "date"),
            (8, Some(9), "end_date"),
            (9, Some(10), "status"),
            (9, Some(10), "end_date"),
            (10, Some(11), "value"),
            (10, Some(11), "unit"),
            (11, Some(12), "value"),
            (12, Some(13), "unit"),
            (13, Some(14), "unit"),
            (14, Some(15), "date"),
            (15, Some(16), "updated"),
            (16, Some(17), "status"),
            (17, Some(18), "id"),
            (19, Some(20), "status"),
            (20, Some(21), "value"),
            (21, Some(22), "value"),
        ],
        "row 18 repeats row 1 exactly, which is not an error"
    );
    let m = |row: usize, field: &str| {
        e.rows()
            .iter()
            .find(|r| r.row == row && r.field == field)
            .map(|r| r.message.clone())
            .unwrap_or_else(|| panic!("no error at row {row} {field}"))
    };
    assert!(m(3, "kind").contains("condition, observation, procedure, immunization or medication"));
    assert!(m(5, "system").contains("icd9, icd10ca, snomed, loinc, atc, din or cvx"));
    assert!(m(7, "date").contains("YYYY-MM-DD"));
    assert!(m(8, "end_date").contains("before"));
    assert!(m(9, "status").contains("leave it empty for a result"));
    assert!(m(10, "value").contains("only observations"));
    assert!(m(11, "value").contains("dot for decimals"));
    assert!(m(12, "unit").contains("needs a value"));
    assert!(m(13, "unit").contains("mmHg"));
    assert!(m(14, "date").contains("a procedure or screening needs its date"));
    assert!(m(17, "id").contains("row 1 (line 2)"));
    assert!(m(19, "status").contains("active, resolved or entered-in-error"));
    assert!(m(20, "value").contains("systolic/diastolic"));
    assert_no_patient_data(&e);

    // The good rows alone import; the repeat is counted.
    let good = csv(&[
        "9123456780,observation,a1,loinc,4548-4,HbA1c,2024-01-05,,,7.2,%,",
        "9123456780,observation,a1,loinc,4548-4,HbA1c,2024-01-05,,,7.2,%,",
    ]);
    let imp = ok(parse_clinical_csv(&good));
    assert_eq!((imp.records.len(), imp.repeated), (1, 1));
}

#[test]
fn csv_header_and_file_problems() {
    let e = refused(parse_clinical_csv(
        b"phn,type,id,code system,code,dat,colour\n9123456780,condition,a,icd9,250,,red\n",
    ));
    assert_eq!(
        e.file(),
        Some(&FileError::Columns(vec![
            ColumnProblem::Unknown {
                name: "type".into(),
                suggestion: Some("kind")
            },
            ColumnProblem::Unknown {
                name: "code system".into(),
                suggestion: Some("system")
            },
            ColumnProblem::Unknown {
                name: "dat".into(),
                suggestion: Some("date")
            },
            ColumnProblem::Unknown {
                name: "colour".into(),
                suggestion: None
            },
            ColumnProblem::Missing("kind"),
            ColumnProblem::Missing("system"),
        ]))
    );
    // No header: the required columns are named, not the panel's.
    let e = refused(parse_clinical_csv(
        b"9123456780,condition,a,icd9,250\n9123456780,condition,b,icd9,401\n",
    ));
    assert_eq!(
        e.file(),
        Some(&FileError::Columns(
            ["phn", "kind", "id", "system", "code"]
                .into_iter()
                .map(ColumnProblem::Missing)
                .collect()
        ))
    );
    assert_eq!(
        refused(parse_clinical_csv(CSV_HEADER.as_bytes())).file(),
        Some(&FileError::NoRecords)
    );
    assert_eq!(
        refused(parse_clinical_csv(b"")).file(),
        Some(&FileError::Empty)
    );
    assert!(matches!(
        refused(parse_clinical_csv(&csv(&[
            "9123456780,condition,a,icd9,250"
        ])))
        .file(),
        Some(FileError::FieldCount {
            row: 1,
            line: 2,
            ..
        })
    ));
    // Only the required columns, any order, any case, a byte-order mark.
    let imp = ok(parse_clinical_csv(
        "\u{feff}Code,PHN,Kind,System,Id\r\n250,9123456780,Condition,ICD9,p-1\r\n".as_bytes(),
    ));
    assert_eq!(
        imp.records[0].1.fact,
        ClinicalFact::Condition {
            codes: vec![code(CodeSystem::Icd9, "250")],
            onset: None,
            abated: None,
            status: ConditionStatus::Active,
        }
    );
}

#[test]
fn error_messages_read_as_sentences() {
    let e = refused(parse_clinical_csv(&csv(&[
        "9123456780,observation,a1,loinc,4548-4,,2024-01-05,,,high,,",
    ])));
    assert_eq!(
        e.to_string(),
        "Nothing was imported: 1 problem to fix in the file.\nRow 1 (line 2), value: must be a \
         number (such as 7.2, with a dot for decimals) or a blood pressure as systolic/diastolic \
         (such as 120/80)"
    );
    assert_eq!(
        FileError::NotClinicalBundle {
            found: Some("Patient".into())
        }
        .to_string(),
        "The file is a FHIR Patient resource, not a Bundle. Export the clinical records as a \
         FHIR Bundle, or as FHIR Bulk Data NDJSON files (one file per resource type)."
    );
    assert_eq!(
        FileError::TooManyRecords {
            limit: MAX_CLINICAL_RECORDS
        }
        .to_string(),
        "The file has more than 2000000 clinical records. Split it into several files of at \
         most 2000000 records each."
    );
}
