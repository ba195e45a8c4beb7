//! Recalls, dismissals and hand-entered records: the rounds a recall is kept for, the
//! checks on what people type, and every wrong field named.

use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

use super::*;
use crate::ids::UserId;
use crate::types::ConfirmMethod;

const TODAY: Date = date!(2026 - 06 - 15);
const NOW: OffsetDateTime = datetime!(2026-06-15 10:00 UTC);

fn moa() -> UserId {
    UserId(uuid::Uuid::from_u128(7))
}

fn phone(note: &str) -> RecallAction {
    RecallAction::Contacted {
        how: ConfirmMethod::Phone,
        note: note.to_owned(),
    }
}

fn fields(e: DomainError) -> Vec<String> {
    match e {
        DomainError::Validation(list) => list.into_iter().map(|f| f.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn a_gap_nobody_worked_on_is_to_contact() {
    assert_eq!(
        Recall::status_now(None, Some(date!(2025 - 01 - 10))),
        RecallStatus::ToContact
    );
    assert_eq!(Recall::status_now(None, None), RecallStatus::ToContact);
}

#[test]
fn contacts_accumulate_within_a_round() {
    let since = Some(date!(2025 - 11 - 02));
    let r1 = Recall::apply(
        None,
        "diabetes_hba1c",
        since,
        &phone(" no answer "),
        moa(),
        NOW,
    );
    assert_eq!(r1.status, RecallStatus::Contacted);
    assert_eq!(r1.contacts.len(), 1);
    assert_eq!(r1.contacts[0].note, "no answer");
    let later = NOW + time::Duration::days(2);
    let r2 = Recall::apply(
        Some(&r1),
        "diabetes_hba1c",
        since,
        &phone("will call back"),
        moa(),
        later,
    );
    assert_eq!(r2.contacts.len(), 2);
    assert_eq!(r2.at, later);
    assert_eq!(
        Recall::status_now(Some(&r2), since),
        RecallStatus::Contacted
    );
}

#[test]
fn a_new_result_starts_a_new_round() {
    let old = Some(date!(2025 - 11 - 02));
    let booked = Recall::apply(
        None,
        "diabetes_hba1c",
        old,
        &RecallAction::Booked {
            on: date!(2026 - 06 - 20),
            note: String::new(),
        },
        moa(),
        NOW,
    );
    assert_eq!(Recall::status_now(Some(&booked), old), RecallStatus::Booked);
    // The patient came in; the new HbA1c is out of target again.
    let new = Some(date!(2026 - 06 - 20));
    assert_eq!(
        Recall::status_now(Some(&booked), new),
        RecallStatus::ToContact
    );
    let fresh = Recall::apply(Some(&booked), "diabetes_hba1c", new, &phone(""), moa(), NOW);
    assert_eq!(fresh.since, new);
    assert_eq!(fresh.booked_for, None);
    assert_eq!(
        fresh.contacts.len(),
        1,
        "the old round's attempts are not carried"
    );
}

#[test]
fn a_call_about_a_booking_keeps_it_booked() {
    let since = None;
    let booked = Recall::apply(
        None,
        "colorectal_screening",
        since,
        &RecallAction::Booked {
            on: date!(2026 - 07 - 01),
            note: "FIT kit mailed".to_owned(),
        },
        moa(),
        NOW,
    );
    let called = Recall::apply(
        Some(&booked),
        "colorectal_screening",
        since,
        &phone("reminded"),
        moa(),
        NOW,
    );
    assert_eq!(called.status, RecallStatus::Booked);
    assert_eq!(called.booked_for, Some(date!(2026 - 07 - 01)));
}

#[test]
fn declined_done_and_reopen() {
    let declined = Recall::apply(
        None,
        "influenza",
        None,
        &RecallAction::Declined {
            reason: " does not want it ".to_owned(),
        },
        moa(),
        NOW,
    );
    assert_eq!(declined.status, RecallStatus::Declined);
    assert_eq!(declined.note, "does not want it");
    let reopened = Recall::apply(
        Some(&declined),
        "influenza",
        None,
        &RecallAction::Reopen,
        moa(),
        NOW,
    );
    assert_eq!(reopened.status, RecallStatus::ToContact);
    assert_eq!(reopened.note, "");
    let done = Recall::apply(
        Some(&reopened),
        "influenza",
        None,
        &RecallAction::Done {
            note: "given at the pharmacy".to_owned(),
        },
        moa(),
        NOW,
    );
    assert_eq!(done.status, RecallStatus::Done);
}

#[test]
fn contact_attempts_are_bounded() {
    let mut r = None;
    for i in 0..(MAX_CONTACTS + 5) {
        let next = Recall::apply(
            r.as_ref(),
            "diabetes_bp",
            None,
            &phone(&format!("try {i}")),
            moa(),
            NOW,
        );
        r = Some(next);
    }
    let r = r.expect("a recall");
    assert_eq!(r.contacts.len(), MAX_CONTACTS);
    assert_eq!(r.contacts[0].note, "try 5", "the oldest attempts go first");
}

#[test]
fn recall_actions_are_checked() {
    let past = RecallAction::Booked {
        on: date!(2026 - 06 - 14),
        note: String::new(),
    };
    assert_eq!(fields(past.check(TODAY).unwrap_err()), ["booked_for"]);
    let far = RecallAction::Booked {
        on: date!(2029 - 01 - 01),
        note: String::new(),
    };
    assert_eq!(fields(far.check(TODAY).unwrap_err()), ["booked_for"]);
    let today = RecallAction::Booked {
        on: TODAY,
        note: String::new(),
    };
    assert!(today.check(TODAY).is_ok());
    let no_reason = RecallAction::Declined {
        reason: "  ".to_owned(),
    };
    assert_eq!(fields(no_reason.check(TODAY).unwrap_err()), ["reason"]);
    let long = phone(&"x".repeat(MAX_NOTE + 1));
    assert_eq!(fields(long.check(TODAY).unwrap_err()), ["note"]);
    assert!(RecallAction::Reopen.check(TODAY).is_ok());
}

#[test]
fn status_keys_round_trip() {
    for s in RecallStatus::ALL {
        assert_eq!(RecallStatus::from_key(s.key()), Some(s));
    }
    assert_eq!(RecallStatus::from_key("open"), None);
}

#[test]
fn a_dismissal_needs_a_reason() {
    let e = Dismissal::new("diabetes", "two_hba1c", " ", moa(), NOW).unwrap_err();
    assert_eq!(fields(e), ["reason"]);
    let d = Dismissal::new("diabetes", "two_hba1c", " steroid-induced ", moa(), NOW)
        .expect("a dismissal");
    assert_eq!(d.reason, "steroid-induced");
}

fn form(kind: &str, code: &str, date: &str, value: &str) -> ManualRecord {
    ManualRecord {
        kind: kind.to_owned(),
        code: code.to_owned(),
        date: date.to_owned(),
        value: value.to_owned(),
        ..ManualRecord::default()
    }
}

fn entered(f: &ManualRecord) -> Result<ClinicalRecord, DomainError> {
    f.record("attach:test-1".to_owned(), TODAY, moa(), NOW)
}

#[test]
fn a_result_typed_by_hand() {
    let mut f = form("observation", "loinc 4548-4", "2026-06-01", "7,4");
    f.unit = "%".to_owned();
    f.display = "HbA1c".to_owned();
    let r = entered(&f).expect("a record");
    assert_eq!(r.origin, Origin::Attach { by: moa(), at: NOW });
    assert_eq!(r.display.as_deref(), Some("HbA1c"));
    match &r.fact {
        ClinicalFact::Observation { codes, date, value } => {
            assert_eq!(codes[0].system, CodeSystem::Loinc);
            assert_eq!(*date, date!(2026 - 06 - 01));
            assert_eq!(
                *value,
                ObservationValue::Number {
                    value: 7.4,
                    unit: Some("%".to_owned())
                }
            );
        }
        other => panic!("not a result: {other:?}"),
    }
    f.value = "7.4".to_owned();
    assert_eq!(
        ManualRecord::of(&r),
        f,
        "the form shows what was typed, the decimal comma as a point"
    );
}

#[test]
fn a_blood_pressure_typed_by_hand() {
    let r = entered(&form(
        "observation",
        "loinc 85354-9",
        "2026-06-01",
        "142/91",
    ))
    .expect("a record");
    assert!(matches!(
        r.fact,
        ClinicalFact::Observation {
            value: ObservationValue::BloodPressure {
                systolic: 142.0,
                diastolic: 91.0
            },
            ..
        }
    ));
    let bad = entered(&form("observation", "loinc 85354-9", "2026-06-01", "142/"));
    assert_eq!(fields(bad.unwrap_err()), ["value"]);
}

#[test]
fn a_condition_coded_by_hand() {
    let mut f = form("condition", "icd9 250.00", "", "");
    f.status = "active".to_owned();
    let r = entered(&f).expect("a record");
    match &r.fact {
        ClinicalFact::Condition {
            codes,
            onset,
            status,
            ..
        } => {
            assert_eq!(codes[0].code, "25000");
            assert_eq!(*onset, None);
            assert_eq!(*status, ConditionStatus::Active);
        }
        other => panic!("not a condition: {other:?}"),
    }
    f.status = "remission".to_owned();
    assert_eq!(fields(entered(&f).unwrap_err()), ["status"]);
}

#[test]
fn every_wrong_field_is_named() {
    let f = ManualRecord {
        kind: "procedure".to_owned(),
        code: "icd9 250*".to_owned(),
        date: "2027-01-01".to_owned(),
        value: "5".to_owned(),
        status: "active".to_owned(),
        ..ManualRecord::default()
    };
    let mut got = fields(entered(&f).unwrap_err());
    got.sort();
    assert_eq!(got, ["code", "date", "status", "value"]);
    let f = form("x-ray", "xyz 1", "15/06/2026", "");
    let mut got = fields(entered(&f).unwrap_err());
    got.sort();
    assert_eq!(got, ["code", "date", "kind"]);
    let f = form("immunization", "cvx 88", "", "");
    assert_eq!(fields(entered(&f).unwrap_err()), ["date"]);
}

#[test]
fn a_bad_id_is_refused() {
    let f = form("immunization", "cvx 88", "2026-01-05", "");
    let e = f
        .record("has space".to_owned(), TODAY, moa(), NOW)
        .unwrap_err();
    assert_eq!(fields(e), ["id"]);
}

#[test]
fn a_form_names_the_recall_action_and_its_missing_field() {
    assert_eq!(
        RecallAction::from_fields("contacted", "phone", "", " left a message "),
        Ok(RecallAction::Contacted {
            how: ConfirmMethod::Phone,
            note: "left a message".to_owned()
        })
    );
    assert_eq!(
        RecallAction::from_fields("booked", "", "2027-01-05", ""),
        Ok(RecallAction::Booked {
            on: date!(2027 - 01 - 05),
            note: String::new()
        })
    );
    assert_eq!(
        RecallAction::from_fields("declined", "", "", "moving away"),
        Ok(RecallAction::Declined {
            reason: "moving away".to_owned()
        })
    );
    assert_eq!(
        RecallAction::from_fields("reopen", "", "", ""),
        Ok(RecallAction::Reopen)
    );
    let field = |r: Result<RecallAction, DomainError>| fields(r.unwrap_err());
    assert_eq!(
        field(RecallAction::from_fields("contacted", "fax", "", "")),
        ["how"]
    );
    assert_eq!(
        field(RecallAction::from_fields("booked", "", "", "")),
        ["booked_for"]
    );
    assert_eq!(
        field(RecallAction::from_fields("booked", "", "05/01/2027", "")),
        ["booked_for"]
    );
    assert_eq!(
        field(RecallAction::from_fields("shred", "", "", "")),
        ["action"]
    );
}

#[test]
fn a_value_reads_as_written() {
    let n = ObservationValue::Number {
        value: 6.8,
        unit: Some("%".to_owned()),
    };
    assert_eq!(n.text().as_deref(), Some("6.8 %"));
    assert_eq!(n.value_and_unit(), Some(("6.8".to_owned(), "%".to_owned())));
    let bare = ObservationValue::Number {
        value: 41.0,
        unit: None,
    };
    assert_eq!(bare.text().as_deref(), Some("41"));
    let bp = ObservationValue::BloodPressure {
        systolic: 128.0,
        diastolic: 82.0,
    };
    assert_eq!(bp.text().as_deref(), Some("128/82 mmHg"));
    assert_eq!(ObservationValue::None.text(), None);
    assert_eq!(
        ObservationValue::Text {
            text: "negative".to_owned()
        }
        .value_and_unit(),
        None
    );
}
