//! Clinical import, registries, care gaps and who sees them, through the app.

use time::macros::datetime;

use super::*;
use crate::ManualClock;
use crate::tests::{ClinicIds, Replica, seeded_with};

pub(crate) fn clinic() -> (ManualClock, Replica, ClinicIds) {
    let clock = ManualClock::new(datetime!(2026-11-02 09:00 UTC));
    let (r, ids) = seeded_with(&clock, 40);
    (clock, r, ids)
}

/// A live patient of Dr. Patel's panel with no clinical records yet (the demo seeds some
/// patients with them).
pub(crate) fn patel_patient(r: &Replica, ids: &ClinicIds) -> PanelEntry {
    let model = r.app.model();
    model
        .panel_members(ids.clinic, ids.patel)
        .find(|e| {
            !r.app
                .store()
                .exists(&attach_schema::ids::clinical_doc_id(
                    ids.clinic,
                    e.details.phn,
                ))
                .expect("reads")
        })
        .expect("a patient without records")
        .clone()
}

fn csv(phn: Phn, a1c: &str, updated: &str) -> ClinicalFile {
    let text = format!(
        "phn,kind,id,system,code,display,date,end_date,status,value,unit,updated\n\
         {phn},condition,c1,icd9,250,Diabetes,2018-01-01,,active,,,{updated}\n\
         {phn},observation,o1,loinc,4548-4,HbA1c,2026-03-01,,,{a1c},%,{updated}\n"
    );
    ClinicalFile {
        name: "clinical.csv".to_owned(),
        bytes: text.into_bytes(),
    }
}

fn registry_count(o: &ClinicalOverview, key: &str) -> usize {
    o.registries
        .iter()
        .find(|r| r.key == key)
        .map(|r| r.patients)
        .expect("registry")
}

fn gap_count<'a>(o: &'a ClinicalOverview, key: &str) -> &'a GapCount {
    o.gaps.iter().find(|g| g.key == key).expect("rule")
}

#[test]
fn an_import_puts_a_patient_on_the_registry_and_the_recall_list_and_again_changes_nothing() {
    let (_clock, r, ids) = clinic();
    let e = patel_patient(&r, &ids);
    let before = r
        .app
        .clinical_overview(ids.patel, ids.clinic, ReviewScope::Provider(ids.patel))
        .expect("overview");

    let file = csv(e.details.phn, "7.9", "2026-10-01T00:00:00Z");
    let report = r
        .app
        .import_clinical(
            ids.moa,
            ids.clinic,
            ClinicalFormat::Csv,
            std::slice::from_ref(&file),
        )
        .expect("imports");
    assert_eq!((report.added, report.updated, report.unchanged), (2, 0, 0));
    assert_eq!((report.patients, report.not_on_panel), (1, 0));

    let o = r
        .app
        .clinical_overview(ids.patel, ids.clinic, ReviewScope::Provider(ids.patel))
        .expect("overview");
    assert_eq!(o.with_data, before.with_data + 1);
    assert_eq!(
        registry_count(&o, "diabetes"),
        registry_count(&before, "diabetes") + 1
    );
    let (hba1c, was) = (
        gap_count(&o, "diabetes_hba1c"),
        gap_count(&before, "diabetes_hba1c"),
    );
    assert_eq!(
        (hba1c.eligible, hba1c.open, hba1c.out_of_target),
        (was.eligible + 1, was.open + 1, was.out_of_target + 1),
        "overdue and out of target"
    );

    let list = r
        .app
        .clinical_list(
            ids.patel,
            ids.clinic,
            ReviewScope::Clinic,
            &ClinicalList::Registry("diabetes".to_owned()),
        )
        .expect("list");
    assert!(list.rows.iter().any(|row| row.entry.id == e.id));
    let recalls = r
        .app
        .clinical_list(
            ids.patel,
            ids.clinic,
            ReviewScope::Clinic,
            &ClinicalList::Recalls,
        )
        .expect("recalls");
    assert!(recalls.rows.iter().any(|row| row.entry.id == e.id));

    // The same export again: nothing changes.
    let again = r
        .app
        .import_clinical(
            ids.patel,
            ids.clinic,
            ClinicalFormat::Csv,
            std::slice::from_ref(&file),
        )
        .expect("imports");
    assert_eq!((again.added, again.updated, again.unchanged), (0, 0, 2));
    // A newer export with a new value replaces that record only.
    let newer = csv(e.details.phn, "6.8", "2026-10-20T00:00:00Z");
    let newer_report = r
        .app
        .import_clinical(ids.patel, ids.clinic, ClinicalFormat::Csv, &[newer])
        .expect("imports");
    assert_eq!(newer_report.updated, 2, "both rows carry the newer time");
    let v = r
        .app
        .patient_clinical(ids.patel, ids.clinic, ids.patel, e.id)
        .expect("reads");
    assert_eq!(v.records.len(), 2);
    let g = v
        .care
        .gaps
        .iter()
        .find(|g| v.compiled.gap(g.rule).key == "diabetes_hba1c")
        .expect("eligible");
    assert_eq!(g.in_target, Some(true), "6.8 % meets ≤ 7.0 %");
    // An older export does not undo it.
    let older = csv(e.details.phn, "9.9", "2026-01-01T00:00:00Z");
    let older_report = r
        .app
        .import_clinical(ids.patel, ids.clinic, ClinicalFormat::Csv, &[older])
        .expect("imports");
    assert_eq!((older_report.updated, older_report.unchanged), (0, 2));
}

#[test]
fn a_bad_file_stores_nothing_and_names_the_row() {
    let (_clock, r, ids) = clinic();
    let e = patel_patient(&r, &ids);
    let mut bad = csv(e.details.phn, "7.9", "2026-10-01T00:00:00Z");
    bad.bytes.extend_from_slice(
        format!(
            "{},observation,o2,loinc,4548-4,HbA1c,not-a-date,,,7.0,%,\n",
            e.details.phn
        )
        .as_bytes(),
    );
    let err = r
        .app
        .import_clinical(ids.patel, ids.clinic, ClinicalFormat::Csv, &[bad])
        .expect_err("refused");
    let AppError::Invalid { problems, .. } = err else {
        panic!("not a validation error: {err:?}");
    };
    assert!(
        problems
            .iter()
            .any(|p| p.field == "date" && p.row == Some(3)),
        "{problems:?}"
    );
    let v = r
        .app
        .patient_clinical(ids.patel, ids.clinic, ids.patel, e.id)
        .expect("reads");
    assert!(v.records.is_empty(), "nothing stored");
}

#[test]
fn records_are_for_the_panels_provider_and_endorsed_staff_and_stay_off_the_hub() {
    let (_clock, r, ids) = clinic();
    let e = patel_patient(&r, &ids);
    r.app
        .import_clinical(
            ids.patel,
            ids.clinic,
            ClinicalFormat::Csv,
            &[csv(e.details.phn, "7.9", "2026-10-01T00:00:00Z")],
        )
        .expect("imports");
    assert!(
        r.app
            .patient_clinical(ids.moa, ids.clinic, ids.patel, e.id)
            .is_ok()
    );
    for other in [ids.nguyen, ids.director] {
        assert!(matches!(
            r.app.patient_clinical(other, ids.clinic, ids.patel, e.id),
            Err(AppError::Forbidden(_))
        ));
    }
    let doc = attach_schema::ids::clinical_doc_id(ids.clinic, e.details.phn);
    assert!(r.app.store().exists(&doc).expect("reads"));
    assert!(
        !r.app.in_clinic_scope(ids.clinic, doc.as_str()),
        "not for the hub"
    );
    assert!(
        r.app.in_lan_scope(ids.clinic, doc.as_str()),
        "for the clinic's nodes"
    );
    assert!(!r.app.in_lan_scope(ClinicId::new(), doc.as_str()));
    assert!(
        r.app
            .lan_scope(ids.clinic)
            .expect("scope")
            .contains(&doc.as_str().to_owned())
    );
    assert!(
        !r.app
            .clinic_scope(ids.clinic)
            .expect("scope")
            .contains(&doc.as_str().to_owned())
    );
}
