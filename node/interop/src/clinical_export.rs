//! Clinical lists as CSV: the records entered or corrected in Attach (to take back to the
//! EMR), and the recall phone list. UTF-8 with a byte-order mark, CRLF line ends, text
//! cells escaped like panel exports (no formula runs on opening), dates `YYYY-MM-DD`.
//!
//! The records file has exactly the columns an import reads ([`CLINICAL_CSV_COLUMNS`]), so
//! the EMR's import (or another Attach node's) takes it as is: one row per record, its first
//! code, `updated` the time the record was entered in Attach.
//!
//! The recall list has one row per patient and open care gap: [`RECALL_COLUMNS`].

use time::format_description::well_known::Rfc3339;

use super::clinical::CLINICAL_CSV_COLUMNS;
use super::format_date;
use super::province::line;
use attach_domain::Phn;
use attach_domain::clinical::{
    ClinicalFact, ClinicalRecord, ConditionStatus, MedicationStatus, ObservationValue, Origin,
};

/// The records as an import file.
pub fn write_clinical_csv(records: &[(Phn, &ClinicalRecord)]) -> Vec<u8> {
    let mut out = String::with_capacity(256 + records.len() * 120);
    out.push('\u{FEFF}');
    let header: Vec<&str> = CLINICAL_CSV_COLUMNS.iter().map(|c| c.name).collect();
    line(&mut out, &header);
    let date = |d: Option<time::Date>| d.map(format_date).unwrap_or_default();
    for (phn, r) in records {
        let (system, code) = r
            .fact
            .codes()
            .first()
            .map(|c| (c.system.key().to_owned(), c.code.clone()))
            .unwrap_or_default();
        let (end, status) = match &r.fact {
            ClinicalFact::Condition { abated, status, .. } => (
                date(*abated),
                match status {
                    ConditionStatus::Active => "active",
                    ConditionStatus::Resolved => "resolved",
                    ConditionStatus::EnteredInError => "entered-in-error",
                },
            ),
            ClinicalFact::Medication { end, status, .. } => (
                date(*end),
                match status {
                    MedicationStatus::Active => "active",
                    MedicationStatus::Stopped => "stopped",
                    MedicationStatus::EnteredInError => "entered-in-error",
                },
            ),
            _ => (String::new(), ""),
        };
        // Coded and text results have no column of their own in the import file.
        let (value, unit) = r
            .fact
            .value()
            .and_then(ObservationValue::value_and_unit)
            .unwrap_or_default();
        let updated = match &r.origin {
            Origin::Attach { at, .. } => at.format(&Rfc3339).unwrap_or_default(),
            Origin::Emr { updated } => updated
                .and_then(|t| t.format(&Rfc3339).ok())
                .unwrap_or_default(),
        };
        let cells: [&str; 12] = [
            &phn.to_string(),
            r.fact.kind().key(),
            &r.source_id,
            &system,
            &code,
            r.display.as_deref().unwrap_or_default(),
            &date(r.fact.date()),
            &end,
            status,
            &value,
            &unit,
            &updated,
        ];
        line(&mut out, &cells);
    }
    out.into_bytes()
}

/// The recall list's columns.
pub const RECALL_COLUMNS: [&str; 22] = [
    "provider",
    "family_name",
    "given_names",
    "phn",
    "date_of_birth",
    "age",
    "sex",
    "phone",
    "email",
    "community",
    "care_gap",
    "timing",
    "due",
    "last_done",
    "last_value",
    "out_of_target",
    "recall_status",
    "booked_for",
    "last_contact",
    "last_contact_how",
    "last_contact_note",
    "note",
];

/// One row of the recall list, in the words the page uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecallLine {
    pub provider: String,
    pub family_name: String,
    pub given_names: String,
    pub phn: String,
    pub date_of_birth: String,
    pub age: String,
    pub sex: String,
    pub phone: String,
    pub email: String,
    pub community: String,
    pub care_gap: String,
    pub timing: String,
    pub due: String,
    pub last_done: String,
    pub last_value: String,
    pub out_of_target: String,
    pub recall_status: String,
    pub booked_for: String,
    pub last_contact: String,
    pub last_contact_how: String,
    /// What came of the last contact ("left a message").
    pub last_contact_note: String,
    /// The reason a patient declined, or the note on a booking or completion.
    pub note: String,
}

pub fn write_recall_csv(lines: &[RecallLine]) -> Vec<u8> {
    let mut out = String::with_capacity(256 + lines.len() * 200);
    out.push('\u{FEFF}');
    line(&mut out, &RECALL_COLUMNS);
    for l in lines {
        line(
            &mut out,
            &[
                &l.provider,
                &l.family_name,
                &l.given_names,
                &l.phn,
                &l.date_of_birth,
                &l.age,
                &l.sex,
                &l.phone,
                &l.email,
                &l.community,
                &l.care_gap,
                &l.timing,
                &l.due,
                &l.last_done,
                &l.last_value,
                &l.out_of_target,
                &l.recall_status,
                &l.booked_for,
                &l.last_contact,
                &l.last_contact_how,
                &l.last_contact_note,
                &l.note,
            ],
        );
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::clinical::parse_clinical_csv;
    use attach_domain::UserId;
    use attach_domain::clinical::{Code, CodeSystem};

    fn phn() -> Phn {
        "9123456780".parse().expect("a PHN")
    }

    fn attach(id: &str, fact: ClinicalFact) -> ClinicalRecord {
        ClinicalRecord {
            source_id: id.to_owned(),
            fact,
            display: Some("typed, by hand".to_owned()),
            origin: Origin::Attach {
                by: UserId(uuid::Uuid::from_u128(3)),
                at: datetime!(2026-06-15 10:00 UTC),
            },
        }
    }

    #[test]
    fn records_entered_in_attach_import_again_as_they_are() {
        let records = [
            attach(
                "attach:code:diabetes",
                ClinicalFact::Condition {
                    codes: vec![Code::new(CodeSystem::Icd9, "250").expect("a code")],
                    onset: Some(date!(2026 - 06 - 01)),
                    abated: None,
                    status: ConditionStatus::Active,
                },
            ),
            attach(
                "attach:bp-1",
                ClinicalFact::Observation {
                    codes: vec![Code::new(CodeSystem::Loinc, "85354-9").expect("a code")],
                    date: date!(2026 - 06 - 10),
                    value: ObservationValue::BloodPressure {
                        systolic: 142.0,
                        diastolic: 91.0,
                    },
                },
            ),
            attach(
                "attach:a1c-1",
                ClinicalFact::Observation {
                    codes: vec![Code::new(CodeSystem::Loinc, "4548-4").expect("a code")],
                    date: date!(2026 - 06 - 10),
                    value: ObservationValue::Number {
                        value: 7.4,
                        unit: Some("%".to_owned()),
                    },
                },
            ),
        ];
        let refs: Vec<(Phn, &ClinicalRecord)> = records.iter().map(|r| (phn(), r)).collect();
        let bytes = write_clinical_csv(&refs);
        let read = parse_clinical_csv(&bytes).expect("the export reads as an import");
        assert_eq!(read.records.len(), records.len());
        for ((p, got), want) in read.records.iter().zip(&records) {
            assert_eq!(*p, phn());
            assert_eq!(got.source_id, want.source_id);
            assert_eq!(got.fact, want.fact);
            assert_eq!(got.display, want.display);
            assert_eq!(
                got.origin,
                Origin::Emr {
                    updated: Some(datetime!(2026-06-15 10:00 UTC))
                }
            );
        }
    }

    #[test]
    fn the_recall_list_has_its_header_and_escapes_cells() {
        let bytes = write_recall_csv(&[RecallLine {
            family_name: "=cmd".to_owned(),
            care_gap: "HbA1c, every 6 months".to_owned(),
            ..RecallLine::default()
        }]);
        let text = String::from_utf8(bytes).expect("UTF-8");
        let mut lines = text.trim_start_matches('\u{FEFF}').split("\r\n");
        assert_eq!(lines.next(), Some(RECALL_COLUMNS.join(",").as_str()));
        let row = lines.next().expect("a row");
        assert!(row.contains("\"HbA1c, every 6 months\""), "{row}");
        assert!(
            !row.contains(",=cmd"),
            "a formula is not left to run: {row}"
        );
    }
}
