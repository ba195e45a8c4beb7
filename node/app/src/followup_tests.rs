//! Recalls worked through, suggestions dismissed or coded, and records entered by hand,
//! through the app: who may, all or nothing, and what the lists show afterwards.

use time::macros::date;

use super::*;
use crate::clinical::tests::{clinic, patel_patient};
use crate::tests::{ClinicIds, Replica, sync, two_replicas};
use crate::{AppError, ClinicalFile, ClinicalFormat};
use attach_domain::types::ConfirmMethod;

fn file(rows: &str) -> ClinicalFile {
    ClinicalFile {
        name: "clinical.csv".to_owned(),
        bytes: format!("phn,kind,id,system,code,display,date,value,unit,updated\n{rows}")
            .into_bytes(),
    }
}

fn import(r: &Replica, ids: &ClinicIds, rows: &str) {
    r.app
        .import_clinical(ids.moa, ids.clinic, ClinicalFormat::Csv, &[file(rows)])
        .expect("imports");
}

/// A diabetic patient whose HbA1c is out of target.
fn diabetic(r: &Replica, ids: &ClinicIds) -> PanelEntry {
    let e = patel_patient(r, ids);
    let phn = e.details.phn;
    import(
        r,
        ids,
        &format!(
            "{phn},condition,c1,icd9,250,Diabetes,2018-01-01,,,2026-10-01\n\
             {phn},observation,o1,loinc,4548-4,HbA1c,2026-10-01,7.9,%,2026-10-01\n"
        ),
    );
    e
}

const HBA1C: &str = "diabetes_hba1c";

fn phone(note: &str) -> RecallAction {
    RecallAction::Contacted {
        how: ConfirmMethod::Phone,
        note: note.to_owned(),
    }
}

fn on_list(
    r: &Replica,
    ids: &ClinicIds,
    e: &PanelEntry,
    rule: Option<&str>,
    statuses: &[RecallStatus],
) -> bool {
    r.app
        .recall_list(ids.patel, ids.clinic, ReviewScope::Clinic, rule, statuses)
        .expect("list")
        .rows
        .iter()
        .any(|row| row.entry.id == e.id)
}

#[test]
fn a_recall_goes_from_to_contact_to_declined_and_a_new_result_starts_again() {
    let (clock, r, ids) = clinic();
    let e = diabetic(&r, &ids);
    assert!(on_list(
        &r,
        &ids,
        &e,
        Some(HBA1C),
        &[RecallStatus::ToContact]
    ));

    let out = r
        .app
        .record_recalls(
            ids.moa,
            ids.clinic,
            &[(ids.patel, e.id)],
            Some(HBA1C),
            &phone("left a message"),
        )
        .expect("records");
    assert_eq!((out.patients, out.recalls, out.closed), (1, 1, 0));
    assert!(!on_list(
        &r,
        &ids,
        &e,
        Some(HBA1C),
        &[RecallStatus::ToContact]
    ));
    assert!(on_list(
        &r,
        &ids,
        &e,
        Some(HBA1C),
        &[RecallStatus::Contacted]
    ));

    // A booking in the past is refused, naming the field; nothing changes.
    let past = RecallAction::Booked {
        on: date!(2026 - 10 - 30),
        note: String::new(),
    };
    match r.app.record_recalls(
        ids.moa,
        ids.clinic,
        &[(ids.patel, e.id)],
        Some(HBA1C),
        &past,
    ) {
        Err(AppError::Invalid { problems, .. }) => assert_eq!(problems[0].field, "booked_for"),
        other => panic!("expected the booking refused, got {other:?}"),
    }
    assert!(on_list(
        &r,
        &ids,
        &e,
        Some(HBA1C),
        &[RecallStatus::Contacted]
    ));

    r.app
        .record_recalls(
            ids.moa,
            ids.clinic,
            &[(ids.patel, e.id)],
            Some(HBA1C),
            &RecallAction::Declined {
                reason: "sees an endocrinologist".to_owned(),
            },
        )
        .expect("declined");
    assert!(!on_list(&r, &ids, &e, Some(HBA1C), &RecallStatus::WORKING));
    assert!(on_list(
        &r,
        &ids,
        &e,
        Some(HBA1C),
        &[RecallStatus::Declined]
    ));
    let view = r
        .app
        .patient_clinical(ids.moa, ids.clinic, ids.patel, e.id)
        .expect("view");
    let kept = &view.recalls[HBA1C];
    assert_eq!(kept.status, RecallStatus::Declined);
    assert_eq!(kept.contacts.len(), 1);
    assert_eq!(kept.by, ids.moa);

    // Months later a new HbA1c arrives, still out of target: a new round, to contact.
    clock.advance(time::Duration::days(30));
    let phn = e.details.phn;
    import(
        &r,
        &ids,
        &format!("{phn},observation,o2,loinc,4548-4,HbA1c,2026-11-20,8.4,%,2026-11-21\n"),
    );
    assert!(on_list(
        &r,
        &ids,
        &e,
        Some(HBA1C),
        &[RecallStatus::ToContact]
    ));
}

#[test]
fn recalls_are_worked_by_the_panel_and_a_selection_is_all_or_nothing() {
    let (_clock, r, ids) = clinic();
    let e = diabetic(&r, &ids);
    for other in [ids.nguyen, ids.director] {
        assert!(matches!(
            r.app
                .record_recalls(other, ids.clinic, &[(ids.patel, e.id)], None, &phone("")),
            Err(AppError::Forbidden(_))
        ));
    }
    let missing = attach_domain::EntryId::new();
    assert!(matches!(
        r.app.record_recalls(
            ids.moa,
            ids.clinic,
            &[(ids.patel, e.id), (ids.patel, missing)],
            None,
            &phone("")
        ),
        Err(AppError::NotFound(_))
    ));
    assert!(
        on_list(&r, &ids, &e, None, &[RecallStatus::ToContact]),
        "the selection was refused whole"
    );
    assert!(matches!(
        r.app
            .record_recalls(ids.moa, ids.clinic, &[], None, &phone("")),
        Err(AppError::Invalid { .. })
    ));
}

#[test]
fn every_open_gap_of_a_patient_is_worked_at_once_and_exported() {
    let (_clock, r, ids) = clinic();
    let e = diabetic(&r, &ids);
    let out = r
        .app
        .record_recalls(
            ids.moa,
            ids.clinic,
            &[(ids.patel, e.id)],
            None,
            &phone("booked a lab visit"),
        )
        .expect("records");
    assert!(
        out.recalls >= 2,
        "HbA1c and the other diabetes gaps: {out:?}"
    );
    let csv = r
        .app
        .export_recalls(
            ids.patel,
            ids.clinic,
            ReviewScope::Provider(ids.patel),
            None,
            &[RecallStatus::Contacted],
        )
        .expect("exports");
    let text = String::from_utf8(csv).expect("UTF-8");
    let mine: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&e.details.phn.to_string()))
        .collect();
    assert_eq!(mine.len(), out.recalls, "one line per gap");
    assert!(
        mine.iter()
            .all(|l| l.contains("contacted") && l.contains("phone"))
    );
    assert!(mine.iter().any(|l| l.contains("7.9")));
}

/// A patient whose two HbA1c results suggest diabetes, with no diabetes code.
fn probably_diabetic(r: &Replica, ids: &ClinicIds) -> PanelEntry {
    let e = patel_patient(r, ids);
    let phn = e.details.phn;
    import(
        r,
        ids,
        &format!(
            "{phn},observation,a1,loinc,4548-4,HbA1c,2026-03-01,6.8,%,2026-03-02\n\
             {phn},observation,a2,loinc,4548-4,HbA1c,2026-09-01,7.0,%,2026-09-02\n"
        ),
    );
    e
}

fn suggested(r: &Replica, ids: &ClinicIds, e: &PanelEntry) -> bool {
    r.app
        .clinical_list(
            ids.patel,
            ids.clinic,
            ReviewScope::Clinic,
            &ClinicalList::Uncoded("diabetes".to_owned()),
        )
        .expect("list")
        .rows
        .iter()
        .any(|row| row.entry.id == e.id)
}

#[test]
fn a_dismissed_suggestion_does_not_come_back_until_restored() {
    let (_clock, r, ids) = clinic();
    let e = probably_diabetic(&r, &ids);
    assert!(suggested(&r, &ids, &e));
    assert!(matches!(
        r.app.dismiss_suggestion(
            ids.moa,
            ids.clinic,
            ids.patel,
            e.id,
            "diabetes",
            "two_hba1c",
            " "
        ),
        Err(AppError::Invalid { .. })
    ));
    assert!(matches!(
        r.app.dismiss_suggestion(
            ids.moa,
            ids.clinic,
            ids.patel,
            e.id,
            "diabetes",
            "no_such_rule",
            "x"
        ),
        Err(AppError::NotFound(_))
    ));
    assert!(matches!(
        r.app.dismiss_suggestion(
            ids.director,
            ids.clinic,
            ids.patel,
            e.id,
            "diabetes",
            "two_hba1c",
            "x"
        ),
        Err(AppError::Forbidden(_))
    ));
    r.app
        .dismiss_suggestion(
            ids.moa,
            ids.clinic,
            ids.patel,
            e.id,
            "diabetes",
            "two_hba1c",
            "haemoglobinopathy: HbA1c unreliable",
        )
        .expect("dismisses");
    assert!(!suggested(&r, &ids, &e));
    // A third high result does not bring it back.
    let phn = e.details.phn;
    import(
        &r,
        &ids,
        &format!("{phn},observation,a3,loinc,4548-4,HbA1c,2026-10-20,7.1,%,2026-10-21\n"),
    );
    assert!(!suggested(&r, &ids, &e));
    let view = r
        .app
        .patient_clinical(ids.patel, ids.clinic, ids.patel, e.id)
        .expect("view");
    assert!(view.care.uncoded.is_empty());
    assert_eq!(view.dismissed.len(), 1);
    assert_eq!(
        view.dismissed[0].reason,
        "haemoglobinopathy: HbA1c unreliable"
    );

    r.app
        .restore_suggestion(
            ids.moa,
            ids.clinic,
            ids.patel,
            e.id,
            "diabetes",
            "two_hba1c",
        )
        .expect("restores");
    assert!(suggested(&r, &ids, &e));
}

#[test]
fn a_suggestion_coded_in_attach_puts_the_patient_on_the_registry_and_the_export() {
    let (_clock, r, ids) = clinic();
    let e = probably_diabetic(&r, &ids);
    assert!(matches!(
        r.app.code_in_attach(
            ids.moa,
            ids.clinic,
            ids.patel,
            e.id,
            "diabetes",
            Some("icd9 401")
        ),
        Err(AppError::Invalid { .. })
    ));
    let rec = r
        .app
        .code_in_attach(ids.moa, ids.clinic, ids.patel, e.id, "diabetes", None)
        .expect("codes");
    assert_eq!(
        rec.fact.codes()[0].system,
        attach_domain::clinical::CodeSystem::Icd9
    );
    assert!(!suggested(&r, &ids, &e));
    let on_registry = r
        .app
        .clinical_list(
            ids.patel,
            ids.clinic,
            ReviewScope::Clinic,
            &ClinicalList::Registry("diabetes".to_owned()),
        )
        .expect("list")
        .rows
        .iter()
        .any(|row| row.entry.id == e.id);
    assert!(on_registry);

    let listed = r
        .app
        .entered_in_attach(ids.director, ids.clinic, ReviewScope::Clinic)
        .expect("list");
    assert!(listed.iter().any(|a| a.entry.id == e.id && a.record == rec));
    let csv = r
        .app
        .export_entered_in_attach(ids.director, ids.clinic, ReviewScope::Clinic)
        .expect("exports");
    let back = attach_interop::clinical::parse_clinical_csv(&csv).expect("the export imports");
    assert!(
        back.records.iter().any(|(p, x)| *p == e.details.phn
            && x.source_id == rec.source_id
            && x.fact == rec.fact)
    );
}

#[test]
fn a_result_entered_by_hand_and_a_correction_kept_over_an_older_export() {
    let (_clock, r, ids) = clinic();
    let e = diabetic(&r, &ids);
    let form = ManualRecord {
        kind: "observation".to_owned(),
        code: "loinc 4548-4".to_owned(),
        date: "2026-11-01".to_owned(),
        value: "6.6".to_owned(),
        unit: "%".to_owned(),
        display: "HbA1c (point of care)".to_owned(),
        ..ManualRecord::default()
    };
    let bad = ManualRecord {
        date: "01/11/2026".to_owned(),
        ..form.clone()
    };
    match r
        .app
        .save_clinical_record(ids.moa, ids.clinic, ids.patel, e.id, None, &bad)
    {
        Err(AppError::Invalid { problems, .. }) => assert_eq!(problems[0].field, "date"),
        other => panic!("expected the date refused, got {other:?}"),
    }
    let added = r
        .app
        .save_clinical_record(ids.moa, ids.clinic, ids.patel, e.id, None, &form)
        .expect("saves");
    assert!(added.source_id.starts_with("attach:"));
    let view = r
        .app
        .patient_clinical(ids.patel, ids.clinic, ids.patel, e.id)
        .expect("view");
    let gap = view
        .care
        .gaps
        .iter()
        .find(|g| view.compiled.gap(g.rule).key == HBA1C)
        .expect("the HbA1c rule applies");
    assert_eq!(gap.in_target, Some(true), "the new result is in target");

    // The EMR's HbA1c of 2026-10-01 corrected in Attach; the same export again keeps it.
    let correction = ManualRecord {
        date: "2026-10-01".to_owned(),
        value: "7.6".to_owned(),
        display: "HbA1c".to_owned(),
        ..form.clone()
    };
    r.app
        .save_clinical_record(
            ids.moa,
            ids.clinic,
            ids.patel,
            e.id,
            Some("o1"),
            &correction,
        )
        .expect("corrects");
    let phn = e.details.phn;
    import(
        &r,
        &ids,
        &format!("{phn},observation,o1,loinc,4548-4,HbA1c,2026-10-01,7.9,%,2026-10-01\n"),
    );
    let view = r
        .app
        .patient_clinical(ids.patel, ids.clinic, ids.patel, e.id)
        .expect("view");
    let o1 = view
        .records
        .iter()
        .find(|x| x.source_id == "o1")
        .expect("o1");
    assert!(matches!(o1.origin, Origin::Attach { by, .. } if by == ids.moa));
    assert!(matches!(
        r.app
            .save_clinical_record(ids.moa, ids.clinic, ids.patel, e.id, Some("nope"), &form),
        Err(AppError::NotFound(_))
    ));

    // The EMR's condition cannot be deleted here; the hand-entered result can.
    assert!(matches!(
        r.app
            .delete_attach_record(ids.moa, ids.clinic, ids.patel, e.id, "c1"),
        Err(AppError::Invalid { .. })
    ));
    assert!(matches!(
        r.app
            .delete_attach_record(ids.moa, ids.clinic, ids.patel, e.id, "o1"),
        Err(AppError::Invalid { .. })
    ));
    r.app
        .delete_attach_record(ids.moa, ids.clinic, ids.patel, e.id, &added.source_id)
        .expect("deletes");
    assert!(
        r.app
            .patient_clinical(ids.patel, ids.clinic, ids.patel, e.id)
            .expect("view")
            .records
            .iter()
            .all(|x| x.source_id != added.source_id)
    );
}

#[test]
fn recalls_and_dismissals_reach_the_clinics_other_node() {
    let (_clock, a, b, ids) = two_replicas();
    let e = diabetic(&a, &ids);
    a.app
        .record_recalls(
            ids.moa,
            ids.clinic,
            &[(ids.patel, e.id)],
            Some(HBA1C),
            &phone(""),
        )
        .expect("records");
    sync(&a, &b);
    assert!(on_list(
        &b,
        &ids,
        &e,
        Some(HBA1C),
        &[RecallStatus::Contacted]
    ));
    // Booked on b while a records another call, apart: one recall wins on both.
    b.app
        .record_recalls(
            ids.moa,
            ids.clinic,
            &[(ids.patel, e.id)],
            Some(HBA1C),
            &RecallAction::Booked {
                on: date!(2026 - 11 - 10),
                note: String::new(),
            },
        )
        .expect("b");
    a.app
        .record_recalls(
            ids.moa,
            ids.clinic,
            &[(ids.patel, e.id)],
            Some(HBA1C),
            &phone("again"),
        )
        .expect("a");
    sync(&a, &b);
    let get = |r: &Replica| {
        r.app
            .patient_clinical(ids.moa, ids.clinic, ids.patel, e.id)
            .expect("view")
            .recalls[HBA1C]
            .clone()
    };
    assert_eq!(get(&a), get(&b), "both nodes settle on the same recall");
}
