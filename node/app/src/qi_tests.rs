//! QI cycles through the app: points taken for ended months and then kept, hand-entered
//! points and their corrections, change ideas, access, and edits on two nodes apart.

use super::*;
use crate::clinical::tests::{clinic, patel_patient};
use crate::tests::{ClinicIds, Replica, sync, two_replicas};
use crate::{ClinicalFile, ClinicalFormat};
use attach_domain::qi::cycle::PointSource;

fn import(r: &Replica, ids: &ClinicIds, rows: &str) {
    let file = ClinicalFile {
        name: "clinical.csv".to_owned(),
        bytes: format!("phn,kind,id,system,code,display,date,value,unit,updated\n{rows}")
            .into_bytes(),
    };
    r.app
        .import_clinical(ids.moa, ids.clinic, ClinicalFormat::Csv, &[file])
        .expect("imports");
}

/// A diabetic patient of Dr. Patel's with an HbA1c of `a1c` on `date`.
fn diabetic(r: &Replica, ids: &ClinicIds, a1c: &str, date: &str) -> attach_domain::PanelEntry {
    let e = patel_patient(r, ids);
    let phn = e.details.phn;
    import(
        r,
        ids,
        &format!(
            "{phn},condition,c1,icd9,250,Diabetes,2018-01-01,,,2026-10-01\n\
             {phn},observation,o1,loinc,4548-4,HbA1c,{date},{a1c},%,2026-10-01\n"
        ),
    );
    e
}

fn form(ids: &ClinicIds, first_month: &str) -> CycleForm {
    CycleForm {
        title: "Diabetes control".to_owned(),
        improve: "HbA1c in target".to_owned(),
        from: "40".to_owned(),
        to: "60".to_owned(),
        unit: "%".to_owned(),
        by: "2027-06-30".to_owned(),
        first_month: first_month.to_owned(),
        provider: ids.patel.to_string(),
        registry: "diabetes".to_owned(),
        ..CycleForm::default()
    }
}

fn in_target() -> MeasureForm {
    MeasureForm {
        name: "HbA1c in target".to_owned(),
        kind: "outcome".to_owned(),
        direction: "up".to_owned(),
        definition: "gap_in_target:diabetes_hba1c".to_owned(),
        ..MeasureForm::default()
    }
}

fn fields(e: AppError) -> Vec<String> {
    match e {
        AppError::Invalid { problems, .. } => {
            let mut f: Vec<String> = problems.into_iter().map(|p| p.field).collect();
            f.sort();
            f
        }
        other => panic!("not a validation error: {other:?}"),
    }
}

#[test]
fn points_are_taken_for_ended_months_from_the_records_of_then_and_kept() {
    let (_clock, r, ids) = clinic();
    let out = diabetic(&r, &ids, "7.9", "2026-10-01");
    let good = diabetic(&r, &ids, "6.4", "2026-09-15");
    let app = &r.app;
    let id = app
        .create_qi_cycle(ids.patel, ids.clinic, &form(&ids, "2026-08"))
        .expect("started");
    app.save_qi_measure(ids.patel, ids.clinic, id, None, &in_target())
        .expect("measure");
    let v = app.qi_cycle(ids.moa, ids.clinic, id).expect("reads");
    assert_eq!(v.taken, 3, "August to October; November has not ended");
    assert!(
        v.statement
            .starts_with("By 2027-06-30, we will improve HbA1c in target for")
    );
    assert!(
        v.statement
            .ends_with("diabetes patients from 40 % to 60 %."),
        "{}",
        v.statement
    );
    let points = &v.measures[0].points;
    let at = |m: &str| {
        points
            .iter()
            .find(|p| p.month.to_string() == m)
            .expect("a point")
    };
    // In August neither result existed yet; the September one is in target; the October
    // one is not.
    assert_eq!(at("2026-08").value, 0.0);
    assert_eq!(at("2026-09").value, 50.0);
    assert_eq!(at("2026-10").value, 50.0);
    let count = at("2026-10").count.expect("counts");
    assert_eq!((count.numerator, count.denominator), (1, 2));
    assert_eq!(at("2026-08").source, PointSource::Computed { late: true });
    assert_eq!(at("2026-10").source, PointSource::Computed { late: false });
    assert!(v.measures[0].chart.is_some());

    // A newer export corrects the October result: the October point does not move.
    let phn = out.details.phn;
    import(
        &r,
        &ids,
        &format!("{phn},observation,o1,loinc,4548-4,HbA1c,2026-10-01,6.8,%,2026-11-01\n"),
    );
    let again = app.qi_cycle(ids.moa, ids.clinic, id).expect("reads");
    assert_eq!(again.taken, 0);
    assert_eq!(again.measures[0].points, v.measures[0].points);
    let _ = good;

    // The CSV has one line a month.
    let csv = String::from_utf8(
        app.export_qi_measure(ids.moa, ids.clinic, id, "m1")
            .expect("exports"),
    )
    .expect("text");
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains("2026-08,0.00,%,0,2,computed late"), "{csv}");
}

#[test]
fn hand_entered_points_are_corrected_with_a_reason_and_changes_recorded() {
    let (_clock, r, ids) = clinic();
    let app = &r.app;
    // The fixture clinic is the demo's, which comes with a cycle of its own.
    let before = app
        .qi_cycles(ids.director, ids.clinic)
        .expect("lists")
        .len();
    let id = app
        .create_qi_cycle(ids.moa, ids.clinic, &form(&ids, "2026-06"))
        .expect("started");
    let m = app
        .save_qi_measure(
            ids.moa,
            ids.clinic,
            id,
            None,
            &MeasureForm {
                name: "Days to third next available appointment".to_owned(),
                kind: "balancing".to_owned(),
                direction: "down".to_owned(),
                definition: "manual".to_owned(),
                unit: "days".to_owned(),
                ..MeasureForm::default()
            },
        )
        .expect("measure");
    app.record_qi_point(ids.moa, ids.clinic, id, &m, "2026-09", "12", "")
        .expect("entered");
    let e = app
        .record_qi_point(ids.moa, ids.clinic, id, &m, "2026-09", "9", "")
        .unwrap_err();
    assert_eq!(fields(e), ["note"]);
    let p = app
        .record_qi_point(
            ids.moa,
            ids.clinic,
            id,
            &m,
            "2026-09",
            "9",
            "counted a holiday week",
        )
        .expect("corrected");
    assert_eq!(p.corrections[0].value, 12.0);
    let e = app
        .record_qi_point(ids.moa, ids.clinic, id, &m, "2027-01", "x", "")
        .unwrap_err();
    assert_eq!(fields(e), ["value"]);

    app.save_qi_change(
        ids.moa,
        ids.clinic,
        id,
        None,
        &ChangeForm {
            title: "Standing orders for HbA1c".to_owned(),
            started: "2026-09-01".to_owned(),
            plan: "MOAs order it at check-in".to_owned(),
            ..ChangeForm::default()
        },
    )
    .expect("change");
    let e = app
        .save_qi_change(ids.moa, ids.clinic, id, None, &ChangeForm::default())
        .unwrap_err();
    assert_eq!(fields(e), ["started", "title"]);
    let v = app.qi_cycle(ids.moa, ids.clinic, id).expect("reads");
    assert_eq!(v.taken, 0, "a hand-entered measure takes no points itself");
    assert_eq!(v.changes.len(), 1);
    assert_eq!(v.measures[0].points.len(), 1);

    // Bad cycle forms name each field.
    let mut bad = form(&ids, "2031-01");
    bad.title = String::new();
    bad.to = "lots".to_owned();
    bad.registry = "no_such".to_owned();
    let e = app.create_qi_cycle(ids.moa, ids.clinic, &bad).unwrap_err();
    assert_eq!(fields(e), ["by", "first_month", "registry", "title", "to"]);
    // Someone of no clinic sees nothing.
    assert!(app.qi_cycles(UserId::new(), ids.clinic).is_err());
    assert_eq!(
        app.qi_cycles(ids.director, ids.clinic)
            .expect("lists")
            .len(),
        before + 1
    );
}

#[test]
fn edits_made_on_two_nodes_apart_merge_and_a_clash_is_listed() {
    let (_clock, a, b, ids) = two_replicas();
    let id = a
        .app
        .create_qi_cycle(ids.patel, ids.clinic, &form(&ids, "2026-09"))
        .expect("started");
    sync(&a, &b);
    let mut on_a = form(&ids, "2026-09");
    on_a.title = "Diabetes control (A)".to_owned();
    a.app
        .update_qi_cycle(ids.patel, ids.clinic, id, &on_a)
        .expect("a");
    let mut on_b = form(&ids, "2026-09");
    on_b.title = "Diabetes control (B)".to_owned();
    b.app
        .update_qi_cycle(ids.moa, ids.clinic, id, &on_b)
        .expect("b");
    b.app
        .save_qi_change(
            ids.moa,
            ids.clinic,
            id,
            None,
            &ChangeForm {
                title: "Recall calls on Tuesdays".to_owned(),
                started: "2026-10-01".to_owned(),
                ..ChangeForm::default()
            },
        )
        .expect("b's change");
    sync(&a, &b);
    let va = a.app.qi_cycle(ids.patel, ids.clinic, id).expect("a reads");
    let vb = b.app.qi_cycle(ids.patel, ids.clinic, id).expect("b reads");
    assert_eq!(va.cycle.title, vb.cycle.title, "one title on both");
    assert_eq!(va.changes.len(), 1, "b's change reached a");
    assert_eq!(va.conflicts, ["cycle"]);
    // Only the clinic's nodes hold it: the id is in the LAN scope, not the hub's.
    let doc = attach_schema::ids::qi_cycle_doc_id(ids.clinic, id);
    assert!(a.app.in_lan_scope(ids.clinic, doc.as_str()));
    assert!(!a.app.in_clinic_scope(ids.clinic, doc.as_str()));
}
