//! Merges of concurrent offline edits, through the app: two replicas of one clinic edit
//! apart, exchange documents, and must agree on the outcome and list every clash.

use std::path::PathBuf;
use std::sync::Arc;

use time::macros::datetime;

use super::*;
use crate::demo_data;
use attach_domain::{PatientStatus, Role, UserId};

pub(crate) struct Replica {
    pub(crate) app: App,
    dir: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn replica(clock: &ManualClock) -> Replica {
    let dir = std::env::temp_dir().join(format!("attach-app-test-{}", uuid::Uuid::new_v4()));
    let app = App::open_at(&dir, 8, 30, Arc::new(clock.clone())).expect("opens");
    Replica { app, dir }
}

fn setup_with(patients: usize) -> DemoSetup {
    let member = |u: &str, role| DemoMember {
        username: u.to_owned(),
        password: format!("{u}-password-123"),
        display_name: u.to_owned(),
        role,
    };
    DemoSetup {
        clinic_name: "Merge Test Clinic".into(),
        facility_number: "MT1".into(),
        members: vec![
            member("director", Role::Director),
            member("drpatel", Role::Physician),
            member("drnguyen", Role::Physician),
            member("moa.chen", Role::MedicalOfficeAssistant),
        ],
        patients: demo_data::patients(3, patients, demo_data::fixture_today()),
        seed: 3,
        clinical_records: true,
    }
}

/// One replica of a seeded clinic, and the ids the tests need.
pub(crate) fn seeded(clock: &ManualClock) -> (Replica, ClinicIds) {
    seeded_with(clock, 20)
}

/// [`seeded`] with `patients` patients spread over the two physicians' panels.
pub(crate) fn seeded_with(clock: &ManualClock, patients: usize) -> (Replica, ClinicIds) {
    let a = replica(clock);
    assert!(a.app.seed_demo(&setup_with(patients)).expect("seeds"));
    let ids = {
        let m = a.app.model();
        let id = |u: &str| m.user_by_name(u).expect(u).id;
        ClinicIds {
            clinic: *m.clinics.keys().next().expect("one clinic"),
            director: id("director"),
            patel: id("drpatel"),
            nguyen: id("drnguyen"),
            moa: id("moa.chen"),
        }
    };
    (a, ids)
}

/// Two replicas of one seeded clinic, and the ids the tests need.
pub(crate) fn two_replicas() -> (ManualClock, Replica, Replica, ClinicIds) {
    let clock = ManualClock::new(datetime!(2026-11-02 09:00 UTC));
    let (a, ids) = seeded(&clock);
    let b = replica(&clock);
    b.app.merge_all_from(&a.app).expect("copies");
    assert_eq!(b.app.model().clinics.len(), 1, "replica b has the clinic");
    (clock, a, b, ids)
}

pub(crate) struct ClinicIds {
    pub(crate) clinic: attach_domain::ClinicId,
    pub(crate) director: UserId,
    pub(crate) patel: UserId,
    pub(crate) nguyen: UserId,
    pub(crate) moa: UserId,
}

pub(crate) fn sync(a: &Replica, b: &Replica) {
    a.app.merge_all_from(&b.app).expect("b → a");
    b.app.merge_all_from(&a.app).expect("a → b");
}

/// The director hands the primary role to Dr. Patel on `a` and to Dr. Nguyen on `b`,
/// apart; then the replicas sync.
fn handovers_apart(a: &Replica, b: &Replica, ids: &ClinicIds) {
    a.app
        .handover_primary(ids.director, ids.clinic, ids.patel)
        .expect("a");
    b.app
        .handover_primary(ids.director, ids.clinic, ids.nguyen)
        .expect("b");
    sync(a, b);
}

#[test]
fn concurrent_handovers_leave_one_primary_and_a_conflict_to_review() {
    let (_clock, a, b, ids) = two_replicas();
    handovers_apart(&a, &b, &ids);
    let pa = a.app.clinic(ids.director, ids.clinic).expect("a").primary;
    let pb = b.app.clinic(ids.director, ids.clinic).expect("b").primary;
    assert_eq!(pa, pb, "both replicas settle on one primary");
    assert!(pa == ids.patel || pa == ids.nguyen);
    for r in [&a, &b] {
        let conflicts = r
            .app
            .conflicts(pa, ids.clinic)
            .expect("the primary may review");
        let c = conflicts
            .iter()
            .find(|c| c.kind == "primary_manager")
            .expect("the clash is listed");
        let mut values: Vec<_> = c.values.iter().map(|v| v.value.clone()).collect();
        values.sort();
        let mut want = vec![ids.patel.to_string(), ids.nguyen.to_string()];
        want.sort();
        assert_eq!(values, want, "both sides' values are shown");
        assert_eq!(c.values.iter().filter(|v| v.kept).count(), 1);
        assert!(
            c.values.iter().all(|v| v.by == Some(ids.director)),
            "and who set them"
        );
    }
    // The one who lost is an ordinary member; a non-manager cannot see the list.
    let loser = if pa == ids.patel {
        ids.nguyen
    } else {
        ids.patel
    };
    assert!(matches!(
        a.app.conflicts(loser, ids.clinic),
        Err(AppError::Forbidden(_))
    ));
}

/// One new patient (from `seed`) added to Dr. Patel's panel on replica `a` and, five
/// minutes later and apart, to Dr. Nguyen's on replica `b`; not yet synced.
fn one_patient_on_two_panels(
    clock: &ManualClock,
    a: &Replica,
    b: &Replica,
    ids: &ClinicIds,
    seed: u64,
) -> (attach_domain::PanelEntry, attach_domain::PanelEntry) {
    let person = demo_data::patients(seed, 1, demo_data::fixture_today()).remove(0);
    let on_a = a
        .app
        .add_patient(
            ids.patel,
            ids.clinic,
            ids.patel,
            person.clone(),
            PatientStatus::Active,
        )
        .expect("a adds");
    clock.advance(time::Duration::minutes(5));
    let on_b = b
        .app
        .add_patient(
            ids.nguyen,
            ids.clinic,
            ids.nguyen,
            person,
            PatientStatus::Active,
        )
        .expect("b adds: it cannot know");
    (on_a, on_b)
}

#[test]
fn one_patient_added_to_two_panels_apart_is_kept_once_and_reported() {
    let (clock, a, b, ids) = two_replicas();
    let (on_a, on_b) = one_patient_on_two_panels(&clock, &a, &b, &ids, 99);
    let sizes_before = (
        a.app
            .panel_summary(ids.patel, ids.clinic, ids.patel)
            .expect("s")
            .size,
        a.app
            .panel_summary(ids.nguyen, ids.clinic, ids.nguyen)
            .expect("s")
            .size,
    );
    sync(&a, &b);
    for r in [&a, &b] {
        // The earlier entry stays on its panel; the later one is flagged and not counted.
        let kept = r
            .app
            .entry(ids.patel, ids.clinic, ids.patel, on_a.id)
            .expect("kept");
        assert!(!kept.clash);
        let lost = r
            .app
            .entry(ids.nguyen, ids.clinic, ids.nguyen, on_b.id)
            .expect("lost");
        assert!(lost.clash);
        assert_eq!(
            r.app
                .panel_summary(ids.nguyen, ids.clinic, ids.nguyen)
                .expect("s")
                .size,
            sizes_before.1,
            "the clashing entry is not counted on the second panel"
        );
        let conflicts = r.app.conflicts(ids.director, ids.clinic).expect("list");
        let c = conflicts
            .iter()
            .find(|c| c.kind == "panel_membership")
            .expect("reported");
        assert_eq!(c.values.len(), 2);
        assert!(c.values.iter().any(|v| v.kept && v.by == Some(ids.patel)));
        assert!(c.values.iter().any(|v| !v.kept && v.by == Some(ids.nguyen)));
    }
    // An account manager settles it by removing the extra entry; the clash is gone everywhere.
    b.app
        .remove_patient(
            ids.director,
            ids.clinic,
            ids.nguyen,
            on_b.id,
            "duplicate after merge",
        )
        .expect("settle");
    sync(&a, &b);
    for r in [&a, &b] {
        let conflicts = r.app.conflicts(ids.director, ids.clinic).expect("list");
        assert!(
            conflicts.iter().all(|c| c.kind != "panel_membership"),
            "{conflicts:?}"
        );
    }
}

/// The first patient on Dr. Patel's panel, whose phone Dr. Patel changes on replica `a`
/// and the endorsed MOA on replica `b`, apart (not yet synced).
fn phone_edited_apart(a: &Replica, b: &Replica, ids: &ClinicIds) -> attach_domain::PanelEntry {
    let query = PanelQuery {
        limit: 1,
        ..Default::default()
    };
    let page = a
        .app
        .panel_page(ids.patel, ids.clinic, ids.patel, &query)
        .expect("page");
    let entry = page.rows[0].entry.clone();
    for (r, who, phone) in [(a, ids.patel, "250-555-0001"), (b, ids.moa, "250-555-0002")] {
        let mut details = entry.details.clone();
        details.contact.phone = phone.to_owned();
        let update = EntryUpdate {
            details: Some(details),
            ..Default::default()
        };
        r.app
            .update_entry(who, ids.clinic, ids.patel, entry.id, update)
            .expect("edit");
    }
    entry
}

#[test]
fn concurrent_edits_of_one_field_converge_and_are_listed() {
    let (_clock, a, b, ids) = two_replicas();
    let entry = phone_edited_apart(&a, &b, &ids);
    // A different field edited apart merges without a clash.
    b.app
        .update_entry(
            ids.moa,
            ids.clinic,
            ids.patel,
            entry.id,
            EntryUpdate {
                status: Some(PatientStatus::Inactive),
                ..Default::default()
            },
        )
        .expect("status");
    sync(&a, &b);
    let ra = a
        .app
        .entry(ids.patel, ids.clinic, ids.patel, entry.id)
        .expect("a");
    let rb = b
        .app
        .entry(ids.patel, ids.clinic, ids.patel, entry.id)
        .expect("b");
    assert_eq!(ra.entry, rb.entry, "replicas converge");
    assert_eq!(
        ra.entry.status,
        PatientStatus::Inactive,
        "the other field's edit survives"
    );
    assert!(["250-555-0001", "250-555-0002"].contains(&ra.entry.details.contact.phone.as_str()));
    assert_eq!(ra.conflicting_fields, vec!["phone".to_owned()]);
    let conflicts = a.app.conflicts(ids.director, ids.clinic).expect("list");
    let c = conflicts
        .iter()
        .find(|c| c.kind == "concurrent_edit")
        .expect("listed");
    let authors: Vec<_> = c.values.iter().map(|v| v.by).collect();
    assert!(authors.contains(&Some(ids.patel)) && authors.contains(&Some(ids.moa)));
    // History says who changed what.
    let history = a
        .app
        .entry_history(ids.patel, ids.clinic, ids.patel, entry.id)
        .expect("h");
    assert!(history.iter().any(
        |h| h.user == Some(ids.moa) && h.change.changed_fields().contains(&"status".to_owned())
    ));
    assert!(
        history.iter().any(|h| h.user == Some(ids.patel)
            && h.change.changed_fields().contains(&"phone".to_owned()))
    );
}

/// The one listed clash of `kind` on replica `r`, as the director sees it.
fn listed(r: &Replica, who: UserId, ids: &ClinicIds, kind: &str) -> Option<ConflictView> {
    r.app
        .conflicts(who, ids.clinic)
        .expect("list")
        .into_iter()
        .find(|c| c.kind == kind)
}

#[test]
fn a_settled_field_clash_is_gone_on_both_replicas_with_the_chosen_value() {
    let (_clock, a, b, ids) = two_replicas();
    let entry = phone_edited_apart(&a, &b, &ids);
    sync(&a, &b);
    let c = listed(&a, ids.director, &ids, "concurrent_edit").expect("listed");
    assert_eq!(
        c.key,
        ConflictKey::Entry {
            entry: entry.id,
            field: "phone".into()
        }
    );
    // Choose the side readers do not see now, so the settlement visibly changes something.
    let chosen = c
        .values
        .iter()
        .position(|v| !v.kept)
        .expect("a losing side");
    let want = c.values[chosen].value.clone();
    // Only account managers settle, and only what they saw.
    assert!(matches!(
        a.app
            .settle_conflict(ids.patel, ids.clinic, &c.key, &c.version, chosen),
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        a.app
            .settle_conflict(ids.director, ids.clinic, &c.key, "stale", chosen),
        Err(AppError::Conflict { .. })
    ));
    // Settled on replica b from the list replica a showed: both derive the same clash.
    b.app
        .settle_conflict(ids.director, ids.clinic, &c.key, &c.version, chosen)
        .expect("settles");
    assert!(
        matches!(
            b.app
                .settle_conflict(ids.director, ids.clinic, &c.key, &c.version, chosen),
            Err(AppError::Conflict { .. })
        ),
        "a second settle of the same clash is refused"
    );
    sync(&a, &b);
    for r in [&a, &b] {
        assert!(listed(r, ids.director, &ids, "concurrent_edit").is_none());
        let now = r
            .app
            .entry(ids.patel, ids.clinic, ids.patel, entry.id)
            .expect("entry");
        assert_eq!(now.entry.details.contact.phone, want);
        assert!(now.conflicting_fields.is_empty());
    }
}

#[test]
fn concurrent_handovers_are_settled_by_the_primary_choosing_one() {
    let (_clock, a, b, ids) = two_replicas();
    handovers_apart(&a, &b, &ids);
    let primary = a.app.clinic(ids.director, ids.clinic).expect("a").primary;
    let other = if primary == ids.patel {
        ids.nguyen
    } else {
        ids.patel
    };
    let c = listed(&a, primary, &ids, "primary_manager").expect("listed");
    assert_eq!(c.key, ConflictKey::Primary);
    let chosen = c
        .values
        .iter()
        .position(|v| v.value == other.to_string())
        .expect("the other side");
    assert!(
        c.values[chosen]
            .shown
            .starts_with(other_name(&a, other).as_str())
    );
    // The secondary manages the clinic too, but who manages it is the primary's to settle.
    assert!(matches!(
        a.app
            .settle_conflict(ids.moa, ids.clinic, &c.key, &c.version, chosen),
        Err(AppError::Forbidden(_))
    ));
    a.app
        .settle_conflict(primary, ids.clinic, &c.key, &c.version, chosen)
        .expect("the primary hands over by choosing");
    sync(&a, &b);
    for r in [&a, &b] {
        assert_eq!(r.app.clinic(other, ids.clinic).expect("c").primary, other);
        assert!(listed(r, other, &ids, "primary_manager").is_none());
    }
}

fn other_name(r: &Replica, user: UserId) -> String {
    r.app.model().accounts[&user].display_name.clone()
}

#[test]
fn a_patient_on_two_panels_is_settled_by_keeping_the_chosen_entry() {
    let (clock, a, b, ids) = two_replicas();
    let (on_a, on_b) = one_patient_on_two_panels(&clock, &a, &b, &ids, 98);
    sync(&a, &b);
    let c = listed(&a, ids.director, &ids, "panel_membership").expect("listed");
    let mut entries = vec![on_a.id, on_b.id];
    entries.sort();
    assert_eq!(c.key, ConflictKey::Panel { entries });
    // Keep the later entry (Dr. Nguyen's), which the automatic rule did not keep.
    let chosen = c.values.iter().position(|v| !v.kept).expect("later");
    assert_eq!(c.values[chosen].by, Some(ids.nguyen));
    assert!(
        c.values[chosen].shown.contains("nguyen"),
        "{}",
        c.values[chosen].shown
    );
    a.app
        .settle_conflict(ids.director, ids.clinic, &c.key, &c.version, chosen)
        .expect("settles");
    sync(&a, &b);
    for r in [&a, &b] {
        assert!(listed(r, ids.director, &ids, "panel_membership").is_none());
        let kept = r
            .app
            .entry(ids.nguyen, ids.clinic, ids.nguyen, on_b.id)
            .expect("kept");
        assert!(kept.entry.removed.is_none() && !kept.clash);
        let removed = r
            .app
            .entry(ids.patel, ids.clinic, ids.patel, on_a.id)
            .expect("removed, still there");
        assert!(removed.entry.removed.is_some());
    }
}

#[test]
fn a_member_changed_twice_apart_is_settled_on_one_record() {
    let (clock, a, b, ids) = two_replicas();
    clock.advance(time::Duration::minutes(1));
    a.app
        .member_action(ids.director, ids.clinic, ids.moa, MemberAction::Deactivate)
        .expect("a");
    clock.advance(time::Duration::minutes(3));
    b.app
        .member_action(ids.director, ids.clinic, ids.moa, MemberAction::Deactivate)
        .expect("b");
    sync(&a, &b);
    let c = listed(&a, ids.director, &ids, "concurrent_edit").expect("listed");
    assert!(
        matches!(&c.key, ConflictKey::Member { member, field } if *member == ids.moa && field == "changed_at"),
        "{:?}",
        c.key
    );
    b.app
        .settle_conflict(ids.director, ids.clinic, &c.key, &c.version, 0)
        .expect("settles");
    sync(&a, &b);
    for r in [&a, &b] {
        assert!(listed(r, ids.director, &ids, "concurrent_edit").is_none());
    }
    let history = a
        .app
        .member_history(ids.director, ids.clinic, ids.moa)
        .expect("history");
    assert!(
        history
            .iter()
            .any(|h| matches!(&h.change, ChangeKind::SettleConflict(ConflictKey::Member { member, .. }) if *member == ids.moa))
    );
}

// ---------------------------------------------------------------------------
// Panel reads and previews the web pages rely on (one replica).
// ---------------------------------------------------------------------------

fn csv_of(people: &[attach_domain::PatientDetails]) -> Vec<u8> {
    let mut csv = String::from("phn,family_name,given_names,date_of_birth,sex\n");
    for p in people {
        csv.push_str(&format!(
            "{},{},{},{},u\n",
            p.phn, p.family_name, p.given_names, p.date_of_birth
        ));
    }
    csv.into_bytes()
}

#[test]
fn an_import_preview_reports_what_the_import_then_does_and_stores_nothing() {
    let clock = ManualClock::new(datetime!(2026-11-02 09:00 UTC));
    let (r, ids) = seeded(&clock);
    let size = |app: &App| {
        app.panel_summary(ids.patel, ids.clinic, ids.patel)
            .expect("size")
            .size
    };
    let before = size(&r.app);
    let people = demo_data::patients(77, 3, demo_data::fixture_today());
    let file = csv_of(&people);
    let preview = r
        .app
        .preview_import(ids.moa, ids.clinic, ids.patel, false, &file)
        .expect("a good file");
    assert_eq!(preview.added, 3);
    assert_eq!(size(&r.app), before, "a preview stores nothing");

    // Row problems are the import's own, with rows, and still nothing is stored.
    let mut bad = file.clone();
    bad.extend_from_slice(b"9123456781,Doe,Jo,1980-01-01,f\n");
    match r
        .app
        .preview_import(ids.moa, ids.clinic, ids.patel, false, &bad)
    {
        Err(AppError::Invalid { problems, .. }) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(
                (problems[0].row, problems[0].field.as_str()),
                (Some(4), "phn")
            );
        }
        other => panic!("expected row problems, got {other:?}"),
    }
    // A patient on another panel is refused by the preview as by the import.
    let elsewhere = r
        .app
        .panel_page(
            ids.nguyen,
            ids.clinic,
            ids.nguyen,
            &PanelQuery {
                limit: 1,
                ..PanelQuery::default()
            },
        )
        .expect("nguyen's panel")
        .rows
        .remove(0)
        .entry
        .details;
    let clash = csv_of(&[elsewhere]);
    assert!(matches!(
        r.app
            .preview_import(ids.moa, ids.clinic, ids.patel, false, &clash),
        Err(AppError::Invalid { .. })
    ));
    // Only those who may change the panel may preview an upload to it.
    assert!(matches!(
        r.app
            .preview_import(ids.moa, ids.clinic, ids.nguyen, false, &file),
        Err(AppError::Forbidden(_))
    ));
    assert_eq!(size(&r.app), before);

    let stored = r
        .app
        .import_panel(ids.moa, ids.clinic, ids.patel, false, &file)
        .expect("stores");
    assert_eq!(stored, preview);
    assert_eq!(size(&r.app), before + 3);
}

#[test]
fn panel_access_says_who_may_edit_and_who_may_only_remove() {
    let clock = ManualClock::new(datetime!(2026-11-02 09:00 UTC));
    let (r, ids) = seeded(&clock);
    let access = |who, provider| r.app.panel_access(who, ids.clinic, provider);
    let both = PanelAccess {
        edit: true,
        remove: true,
    };
    assert_eq!(access(ids.patel, ids.patel).expect("own"), both);
    // moa.chen: endorsed by Dr. Patel, and the secondary account manager.
    assert_eq!(access(ids.moa, ids.patel).expect("delegate"), both);
    assert_eq!(
        access(ids.moa, ids.nguyen).expect("manager reads"),
        PanelAccess {
            edit: false,
            remove: true
        }
    );
    assert_eq!(
        access(ids.director, ids.patel).expect("manager reads"),
        PanelAccess {
            edit: false,
            remove: true
        }
    );
    assert!(matches!(
        access(ids.nguyen, ids.patel),
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        access(ids.patel, ids.director),
        Err(AppError::NotFound(_))
    ));
}

#[test]
fn the_clinic_dashboard_counts_every_panel_for_every_member() {
    let clock = ManualClock::new(datetime!(2026-11-02 09:00 UTC));
    let (r, ids) = seeded(&clock);
    // Dr. Nguyen may not open Dr. Patel's panel, but sees the clinic's counts.
    let d = r
        .app
        .clinic_dashboard(ids.nguyen, ids.clinic)
        .expect("a member");
    assert_eq!(d.providers.len(), 2);
    assert_eq!(d.size, 20, "every seeded patient");
    let by_status: usize = d.by_status.iter().map(|(_, n)| n).sum();
    assert_eq!(by_status, d.size);
    let patel = d
        .providers
        .iter()
        .find(|p| p.provider == ids.patel)
        .expect("patel");
    assert!(!patel.can_open);
    assert!(
        d.providers
            .iter()
            .find(|p| p.provider == ids.nguyen)
            .expect("own")
            .can_open
    );
    let this_month = d.activity.last().expect("12 months");
    assert_eq!(
        (this_month.year, this_month.month),
        (2026, time::Month::November)
    );
    assert_eq!(this_month.added, 20);

    // A removal shows in its month, on the clinic's and the provider's charts.
    let patel_size = patel.size;
    clock.advance(time::Duration::days(31));
    let entry = r
        .app
        .panel_page(
            ids.patel,
            ids.clinic,
            ids.patel,
            &PanelQuery {
                limit: 1,
                ..PanelQuery::default()
            },
        )
        .expect("page")
        .rows
        .remove(0)
        .entry
        .id;
    r.app
        .remove_patient(ids.patel, ids.clinic, ids.patel, entry, "moved away")
        .expect("removes");
    let d = r
        .app
        .clinic_dashboard(ids.director, ids.clinic)
        .expect("director");
    assert_eq!(d.size, 19);
    let last = d.activity.last().expect("months");
    assert_eq!(
        (last.month, last.added, last.removed),
        (time::Month::December, 0, 1)
    );
    let mine = r
        .app
        .panel_activity(ids.patel, ids.clinic, ids.patel)
        .expect("own");
    assert_eq!(mine.last().map(|m| m.removed), Some(1));
    assert_eq!(mine[10].added, patel_size, "November's additions stay");
    assert!(matches!(
        r.app.panel_activity(ids.nguyen, ids.clinic, ids.patel),
        Err(AppError::Forbidden(_))
    ));
}

/// A clinic's round of sync lists, from the family feed, exactly the documents a walk of
/// the whole change feed filtered by the clinic's scope lists — on a replica that also holds
/// another clinic, from the start and from a midpoint.
#[test]
fn a_clinic_s_changes_from_the_family_feed_are_those_of_the_filtered_whole_feed() {
    let clock = ManualClock::new(datetime!(2026-11-02 09:00 UTC));
    let (a, ids) = seeded(&clock);
    let (other, other_ids) = seeded(&clock);
    a.app
        .merge_all_from(&other.app)
        .expect("holds both clinics");
    let store = a.app.doc_store();
    let walk = |clinic, after| -> Vec<(u64, String)> {
        store
            .changed_since(after, usize::MAX)
            .expect("feed")
            .into_iter()
            .filter(|(_, d)| a.app.in_clinic_scope(clinic, d.as_str()))
            .map(|(s, d)| (s, d.as_str().to_owned()))
            .collect()
    };
    let family = |clinic, after| -> Vec<(u64, String)> {
        a.app
            .clinic_changed_since(clinic, after, u64::MAX)
            .expect("family feed")
            .into_iter()
            .map(|(s, d)| (s, d.as_str().to_owned()))
            .collect()
    };
    let all = walk(ids.clinic, 0);
    assert!(all.len() > 20, "the clinic's documents are listed");
    assert_eq!(family(ids.clinic, 0), all);
    assert_eq!(family(other_ids.clinic, 0), walk(other_ids.clinic, 0));
    let mid = all[all.len() / 2].0;
    assert_eq!(family(ids.clinic, mid), walk(ids.clinic, mid));
    // A later edit moves the doc to the end of both.
    a.app
        .handover_primary(ids.director, ids.clinic, ids.patel)
        .expect("edit");
    let last = store.feed_position();
    assert_eq!(
        family(ids.clinic, last - 1),
        vec![(last, format!("clinic/{}", ids.clinic.as_uuid()))]
    );
    assert!(family(other_ids.clinic, last - 1).is_empty());
}

// ---- matching ----

/// Copies the documents under `prefix` from one replica to another, as sync would.
fn copy_docs(from: &Replica, to: &Replica, prefix: &str) {
    let src = from.app.doc_store();
    for id in src.ids_with_prefix(prefix).expect("ids") {
        let doc = src
            .read(&id, |d| d.clone())
            .expect("reads")
            .expect("exists");
        to.app.doc_store().merge_from(&id, &doc).expect("merges");
    }
}

fn waiting_input(
    phn: attach_domain::Phn,
    name: &str,
    factors: &str,
    household: &str,
) -> WaitingInput {
    WaitingInput {
        patient: attach_domain::PatientInput {
            phn: phn.to_string(),
            family_name: name.into(),
            given_names: "Test".into(),
            date_of_birth: "1985-04-02".into(),
            sex: "F".into(),
            phone: "250-555-0199".into(),
            community: "Smithers".into(),
            ..Default::default()
        },
        factors: factors.into(),
        household: household.into(),
        ..WaitingInput::default()
    }
}

/// The whole flow through the app: people registered at the hub (a duplicate merged, a
/// person already on a panel flagged), a round offers them to the one provider taking
/// patients, the clinic accepts one and declines one (with a reason), the patient confirms,
/// the person joins the panel; the declined person is not offered to that provider again,
/// and an unanswered household offer expires and is offered again, keeping its place.
#[test]
fn people_are_registered_offered_decided_and_attached() {
    use attach_domain::matching::{Decision, DeclineReason, PersonOutcome};
    let clock = ManualClock::new(datetime!(2026-11-02 17:00 UTC));
    let (clinic, ids) = seeded(&clock);
    let hub = replica(&clock);
    hub.app
        .merge_all_from(&clinic.app)
        .expect("the hub has the clinic");
    let phn = |n: u32| {
        attach_domain::Phn::from_body(50_000_000 + n * 13)
            .or_else(|| attach_domain::Phn::from_body(50_000_001 + n * 13))
            .expect("phn")
    };
    let on_panel = hub
        .app
        .model()
        .entries
        .values()
        .next()
        .expect("an entry")
        .entry
        .details
        .phn;

    let coordinator = crate::COORDINATOR;
    let pregnant = hub
        .app
        .register_waiting(
            coordinator,
            &waiting_input(phn(1), "Pregnant", "pregnancy", ""),
        )
        .expect("registers");
    let plain = hub
        .app
        .register_waiting(
            coordinator,
            &WaitingInput {
                registered_on: "2026-01-05".into(),
                ..waiting_input(phn(2), "Plain", "", "")
            },
        )
        .expect("registers");
    let again = hub
        .app
        .register_waiting(
            coordinator,
            &waiting_input(phn(2), "Plain", "complex care", ""),
        )
        .expect("merges");
    assert!(
        again.merged && again.person == plain.person,
        "one person per PHN"
    );
    let (p, n) = hub
        .app
        .model()
        .waiting
        .get(&plain.person)
        .cloned()
        .expect("waiting");
    assert_eq!(n, 2);
    assert_eq!(
        p.registered_at.date(),
        time::macros::date!(2026 - 01 - 05),
        "the earliest place is kept"
    );
    let h1 = hub
        .app
        .register_waiting(coordinator, &waiting_input(phn(3), "House", "", "house-7"))
        .expect("registers");
    let h2 = hub
        .app
        .register_waiting(coordinator, &waiting_input(phn(4), "House", "", "house-7"))
        .expect("registers");
    let flagged = hub
        .app
        .register_waiting(coordinator, &waiting_input(on_panel, "Onpanel", "", ""))
        .expect("registers");
    assert!(flagged.on_a_panel);
    let mut bad = waiting_input(phn(5), "Bad", "flu", "");
    bad.patient.community.clear();
    let bad = hub.app.register_waiting(coordinator, &bad);
    match bad {
        Err(AppError::Invalid { problems, .. }) => {
            let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
            assert!(
                fields.contains(&"factors") && fields.contains(&"community"),
                "{fields:?}"
            );
        }
        other => panic!("{other:?}"),
    }

    let round = hub.app.run_matching(coordinator).expect("round");
    assert_eq!(round.flagged, 1);
    assert_eq!((round.offers, round.offered), (3, 4), "{round:?}");
    copy_docs(&hub, &clinic, "inbox/");
    assert!(
        clinic
            .app
            .doc_store()
            .ids_with_prefix("waiting/")
            .expect("ids")
            .is_empty()
    );

    // At the clinic: Dr. Patel (the provider taking patients) sees three offers.
    let inbox = clinic.app.inbox(ids.patel, ids.clinic).expect("inbox");
    assert_eq!(inbox.len(), 3);
    assert!(
        inbox
            .iter()
            .all(|o| o.may_decide && o.offer.provider == ids.patel)
    );
    let offer_of = |person| {
        inbox
            .iter()
            .find(|o| o.offer.persons.iter().any(|p| p.person == person))
            .expect("offered")
            .offer
            .id
    };
    assert!(
        clinic
            .app
            .inbox(ids.nguyen, ids.clinic)
            .expect("inbox")
            .is_empty(),
        "not Dr. Nguyen's"
    );
    let (o1, o2, oh) = (
        offer_of(pregnant.person),
        offer_of(plain.person),
        offer_of(h1.person),
    );
    assert_eq!(offer_of(h2.person), oh, "the household is offered together");
    let why = &inbox
        .iter()
        .find(|o| o.offer.id == o1)
        .expect("o1")
        .offer
        .persons[0]
        .why;
    assert!(
        why.starts_with("Tier 1: urgent clinical need (pregnancy)"),
        "{why}"
    );

    assert!(matches!(
        clinic
            .app
            .decide_offer(ids.nguyen, ids.clinic, o1, Decision::Accept),
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        clinic.app.decide_offer(
            ids.patel,
            ids.clinic,
            o2,
            Decision::Decline {
                reason: DeclineReason::Other,
                note: " ".into()
            }
        ),
        Err(AppError::Invalid { .. })
    ));
    clinic
        .app
        .decide_offer(
            ids.patel,
            ids.clinic,
            o2,
            Decision::Decline {
                reason: DeclineReason::TooFar,
                note: "lives 2 h away".into(),
            },
        )
        .expect("declines");
    clinic
        .app
        .decide_offer(ids.patel, ids.clinic, o1, Decision::Accept)
        .expect("accepts");
    clock.advance(time::Duration::hours(3));
    assert!(
        matches!(
            clinic
                .app
                .record_answer(ids.nguyen, ids.clinic, o1, pregnant.person, true, ""),
            Err(AppError::Forbidden(_))
        ),
        "another provider of the clinic"
    );
    let o = clinic
        .app
        .record_answer(
            ids.director,
            ids.clinic,
            o1,
            pregnant.person,
            true,
            "called back",
        )
        .expect("the patient says yes, as the director records");
    assert!(matches!(
        o.persons[0].outcome(&o, clinic.app.now()),
        PersonOutcome::Attached { .. }
    ));
    let entry_id = crate::attachment_entry(o1, pregnant.person);
    let entry = clinic
        .app
        .model()
        .entries
        .get(&entry_id)
        .cloned()
        .expect("on the panel")
        .entry;
    assert_eq!(
        (entry.provider, entry.how_added, entry.status),
        (
            ids.patel,
            attach_domain::HowAdded::Match,
            attach_domain::PatientStatus::Active
        )
    );
    assert_eq!(entry.details.phn, phn(1));

    // Back at the hub after sync: the attached person and the declined one are not offered
    // to Dr. Patel again; the household's offer is still open.
    copy_docs(&clinic, &hub, "inbox/");
    copy_docs(&clinic, &hub, "panel/");
    let round = hub.app.run_matching(coordinator).expect("round 2");
    assert_eq!(round.offers, 0, "{round:?}");
    assert_eq!(
        round.flagged, 1,
        "the attached person left the waitlist; not flagged"
    );

    // Fifteen days on, the household's offer has expired: offered again.
    clock.advance(time::Duration::days(15));
    let round = hub.app.run_matching(coordinator).expect("round 3");
    assert_eq!((round.offers, round.offered), (1, 2), "{round:?}");
}

/// A clinic and a hub holding the clinic's documents, on one clock.
fn clinic_and_hub(clock: &ManualClock) -> (Replica, Replica, ClinicIds) {
    let (clinic, ids) = seeded(clock);
    let hub = replica(clock);
    hub.app
        .merge_all_from(&clinic.app)
        .expect("the hub has the clinic");
    (clinic, hub, ids)
}

fn waiting_phn(n: u32) -> attach_domain::Phn {
    attach_domain::Phn::from_body(60_000_000 + n * 17)
        .or_else(|| attach_domain::Phn::from_body(60_000_001 + n * 17))
        .expect("phn")
}

fn prefs_of(r: &Replica, provider: UserId) -> attach_domain::PanelPreferences {
    r.app
        .model()
        .preferences
        .get(&provider)
        .cloned()
        .unwrap_or_default()
}

/// People who named languages are offered only to providers speaking one of them; a
/// provider who names none speaks English only; the practitioner number is checked.
#[test]
fn languages_decide_which_provider_is_offered_whom() {
    let clock = ManualClock::new(datetime!(2026-11-02 17:00 UTC));
    let (clinic, hub, ids) = clinic_and_hub(&clock);
    let mut nguyen = prefs_of(&clinic, ids.nguyen);
    nguyen.accepting_new_patients = true;
    nguyen.monthly_capacity = 5;
    nguyen.max_open_requests = 5;
    nguyen.languages = ["Punjabi".to_owned()].into();
    nguyen.practitioner_number = Some("12 34".into());
    match clinic
        .app
        .set_preferences(ids.nguyen, ids.clinic, ids.nguyen, nguyen.clone())
    {
        Err(AppError::Invalid { problems, .. }) => {
            assert_eq!(problems[0].field, "practitioner_number", "{problems:?}");
        }
        other => panic!("a 4-character number with a space is refused: {other:?}"),
    }
    nguyen.practitioner_number = Some("b7k2q".into());
    let saved = clinic
        .app
        .set_preferences(ids.nguyen, ids.clinic, ids.nguyen, nguyen)
        .expect("saves");
    assert_eq!(saved.practitioner_number.as_deref(), Some("B7K2Q"));
    let mut patel = prefs_of(&clinic, ids.patel);
    patel.languages.clear();
    clinic
        .app
        .set_preferences(ids.patel, ids.clinic, ids.patel, patel)
        .expect("saves");
    hub.app.merge_all_from(&clinic.app).expect("syncs");

    let coordinator = crate::COORDINATOR;
    let register = |n, name: &str, languages: &str| {
        hub.app
            .register_waiting(
                coordinator,
                &WaitingInput {
                    languages: languages.into(),
                    ..waiting_input(waiting_phn(n), name, "", "")
                },
            )
            .expect("registers")
            .person
    };
    let punjabi = register(1, "Punjabi", "punjabi");
    let english = register(2, "English", "English; French");
    let igbo = register(3, "Igbo", "Igbo");
    let round = hub.app.run_matching(coordinator).expect("round");
    assert_eq!(round.offered, 2, "{round:?}");
    let provider_of = |person| {
        hub.app
            .model()
            .offers
            .values()
            .find(|(o, _)| o.persons.iter().any(|p| p.person == person))
            .map(|(o, _)| o.provider)
    };
    assert_eq!(provider_of(punjabi), Some(ids.nguyen));
    assert_eq!(
        provider_of(english),
        Some(ids.patel),
        "no languages named: English only"
    );
    assert_eq!(provider_of(igbo), None, "nobody speaks Igbo here");
}

/// A tampered clinic node writes an offer of its own into its inbox, claiming an earlier
/// attachment of a person the hub really offered to the clinic: the hub neither counts it
/// (the real attachment is not undone) nor lets a coordinator answer it.
#[test]
fn the_hub_ignores_offers_it_did_not_make() {
    use attach_domain::matching::{Answer, Decision, Offer, ProviderDecision};
    let clock = ManualClock::new(datetime!(2026-11-02 17:00 UTC));
    let (clinic, hub, ids) = clinic_and_hub(&clock);
    let coordinator = crate::COORDINATOR;
    let person = hub
        .app
        .register_waiting(coordinator, &waiting_input(waiting_phn(7), "Real", "", ""))
        .expect("registers")
        .person;
    hub.app.run_matching(coordinator).expect("round");
    copy_docs(&hub, &clinic, "inbox/");
    let real = clinic.app.inbox(ids.patel, ids.clinic).expect("inbox")[0]
        .offer
        .clone();
    clock.advance(time::Duration::hours(2));
    clinic
        .app
        .decide_offer(ids.patel, ids.clinic, real.id, Decision::Accept)
        .expect("accepts");
    clinic
        .app
        .record_answer(ids.patel, ids.clinic, real.id, person, true, "")
        .expect("yes");

    // The forgery: the same person, attached an hour before the real attachment.
    let early = clock.now() - time::Duration::hours(1);
    let forged = Offer {
        id: attach_domain::OfferId::new(),
        provider: ids.nguyen,
        created_at: early - time::Duration::hours(1),
        expires_at: early + time::Duration::days(14),
        decision: Some(ProviderDecision {
            decision: Decision::Accept,
            at: early,
            by: ids.nguyen,
        }),
        withdrawn: None,
        persons: real
            .persons
            .iter()
            .map(|p| attach_domain::matching::OfferedPerson {
                answer: Some(Answer {
                    confirmed: true,
                    at: early,
                    by: ids.nguyen,
                    note: String::new(),
                }),
                ..p.clone()
            })
            .collect(),
        ..real.clone()
    };
    let doc = attach_schema::offer_doc_id(ids.clinic, forged.id);
    clinic
        .app
        .doc_store()
        .change(&doc, ids.nguyen.0, "offer", |tx| {
            attach_schema::matching::write_offer(tx, &forged)
        })
        .expect("a clinic node can write in its inbox family");
    copy_docs(&clinic, &hub, "inbox/");
    copy_docs(&clinic, &hub, "panel/");
    assert_eq!(
        hub.app.model().offers.len(),
        2,
        "the hub holds both documents"
    );

    let round = hub.app.run_matching(coordinator).expect("round");
    assert_eq!(round.untrusted, 1, "{round:?}");
    assert_eq!(round.superseded, 0, "the real attachment stands: {round:?}");
    let entry = crate::attachment_entry(real.id, person);
    assert!(
        hub.app.model().entries[&entry].entry.removed.is_none(),
        "still on Dr. Patel's panel"
    );
    assert!(matches!(
        hub.app
            .coordinator_record_answer(crate::COORDINATOR, forged.id, person, false, ""),
        Err(AppError::NotFound(_))
    ));
    // The billing export at the hub counts the real attachment only.
    let export = hub
        .app
        .attachment_records(
            BillingScope::Province { clinic: None },
            "2026-11-01",
            "2026-11-30",
        )
        .expect("export");
    assert_eq!(export.records.len(), 1, "{export:?}");
    assert_eq!(export.records[0].provider, ids.patel);
}

/// A provider leaves: their open offer is withdrawn at once at the clinic; one patient is
/// transferred to a colleague, the rest (one attached through a match among them) go back
/// to the waitlist; the hub registers them at its next round, once; the person attached
/// through a match keeps their place and is offered again, not to the provider who left;
/// the billing export lists the attachments and says who has no practitioner number.
#[test]
fn a_leaving_provider_s_patients_are_transferred_or_returned_to_the_waitlist() {
    use attach_domain::matching::{Decision, PersonOutcome};
    use attach_domain::{Disposition, HowAdded, MemberState};
    let clock = ManualClock::new(datetime!(2026-11-02 17:00 UTC));
    let (clinic, hub, ids) = clinic_and_hub(&clock);
    let coordinator = crate::COORDINATOR;
    let attached = hub
        .app
        .register_waiting(
            coordinator,
            &WaitingInput {
                registered_on: "2026-02-01".into(),
                ..waiting_input(waiting_phn(11), "Attached", "", "")
            },
        )
        .expect("registers")
        .person;
    let open = hub
        .app
        .register_waiting(coordinator, &waiting_input(waiting_phn(12), "Open", "", ""))
        .expect("registers")
        .person;
    let round = hub.app.run_matching(coordinator).expect("round");
    assert_eq!(round.offered, 2, "{round:?}");
    copy_docs(&hub, &clinic, "inbox/");
    let inbox = clinic.app.inbox(ids.patel, ids.clinic).expect("inbox");
    let offer_of = |person| {
        inbox
            .iter()
            .find(|v| v.offer.persons[0].person == person)
            .expect("offered")
            .offer
            .id
    };
    let (o_attached, o_open) = (offer_of(attached), offer_of(open));
    clinic
        .app
        .decide_offer(ids.patel, ids.clinic, o_attached, Decision::Accept)
        .expect("accepts");
    clinic
        .app
        .record_answer(ids.patel, ids.clinic, o_attached, attached, true, "")
        .expect("yes");

    // Dr. Patel leaves the clinic: the open offer is withdrawn here and now.
    clock.advance(time::Duration::days(1));
    clinic
        .app
        .member_action(
            ids.director,
            ids.clinic,
            ids.patel,
            MemberAction::Deactivate,
        )
        .expect("deactivates");
    let view = clinic
        .app
        .inbox(ids.director, ids.clinic)
        .expect("inbox")
        .into_iter()
        .find(|v| v.offer.id == o_open)
        .expect("listed");
    assert_eq!(view.outcomes[0].1, PersonOutcome::Withdrawn);
    assert!(matches!(
        clinic
            .app
            .decide_offer(ids.moa, ids.clinic, o_open, Decision::Accept),
        Err(AppError::Forbidden(_) | AppError::Conflict { .. })
    ));

    let live: Vec<attach_domain::PanelEntry> = clinic
        .app
        .model()
        .entries
        .values()
        .map(|s| s.entry.clone())
        .filter(|e| e.provider == ids.patel && e.removed.is_none())
        .collect();
    assert!(live.len() >= 3, "{}", live.len());
    let first = live
        .iter()
        .find(|e| e.how_added != HowAdded::Match)
        .expect("a patient from before")
        .clone();
    let one = Selection::Entries(vec![first.id]);
    let to_nguyen = Destination::Provider(ids.nguyen);
    // Who may, and what is refused, storing nothing.
    assert!(matches!(
        clinic
            .app
            .move_patients(ids.nguyen, ids.clinic, ids.patel, &one, to_nguyen, "left"),
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        clinic
            .app
            .move_patients(ids.director, ids.clinic, ids.patel, &one, to_nguyen, " "),
        Err(AppError::Invalid { .. })
    ));
    assert!(matches!(
        clinic.app.move_patients(
            ids.director,
            ids.clinic,
            ids.patel,
            &one,
            Destination::Provider(ids.moa),
            "left"
        ),
        Err(AppError::Invalid { .. })
    ));
    match clinic.app.move_patients(
        ids.director,
        ids.clinic,
        ids.patel,
        &Selection::Entries(vec![first.id, attach_domain::EntryId::new()]),
        to_nguyen,
        "Dr. Patel left",
    ) {
        Err(AppError::Invalid { problems, .. }) => {
            assert_eq!(
                (problems.len(), problems[0].row),
                (1, Some(2)),
                "{problems:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        clinic.app.model().entries[&first.id]
            .entry
            .removed
            .is_none(),
        "nothing stored"
    );

    // One patient to Dr. Nguyen.
    let done = clinic
        .app
        .move_patients(
            ids.director,
            ids.clinic,
            ids.patel,
            &one,
            to_nguyen,
            "Dr. Patel left",
        )
        .expect("transfers");
    assert_eq!(done.moved, 1);
    {
        let m = clinic.app.model();
        let old = &m.entries[&first.id].entry;
        assert_eq!(
            old.removed.as_ref().map(|r| r.disposition),
            Some(Disposition::Transferred { to: ids.nguyen })
        );
        let now_live: Vec<&attach_domain::PanelEntry> = m
            .entries_for((ids.clinic, first.details.phn))
            .filter(|e| e.removed.is_none())
            .collect();
        assert_eq!(now_live.len(), 1, "on one panel only");
        assert_eq!(
            (now_live[0].provider, now_live[0].how_added),
            (ids.nguyen, HowAdded::Transfer)
        );
        assert_eq!(now_live[0].details, first.details);
    }

    // Everyone else back to the waitlist.
    let done = clinic
        .app
        .move_patients(
            ids.director,
            ids.clinic,
            ids.patel,
            &Selection::All,
            Destination::Waitlist,
            "Dr. Patel left; no one can take them",
        )
        .expect("returns");
    assert_eq!(done.moved, live.len() - 1);
    assert_eq!(clinic.app.model().panel_counts(ids.clinic, ids.patel).0, 0);

    // Dr. Nguyen takes new patients now; the hub hears of all of it at the next sync.
    let mut p = prefs_of(&clinic, ids.nguyen);
    p.accepting_new_patients = true;
    p.monthly_capacity = 50;
    p.max_open_requests = 50;
    clinic
        .app
        .set_preferences(ids.nguyen, ids.clinic, ids.nguyen, p)
        .expect("saves");
    hub.app.merge_all_from(&clinic.app).expect("syncs");
    assert_eq!(
        hub.app.model().clinics[&ids.clinic].clinic.members[&ids.patel].state,
        MemberState::Deactivated
    );
    let before = hub.app.model().waiting.len();
    let round = hub.app.run_matching(coordinator).expect("round");
    assert_eq!(round.returned, live.len() - 1, "{round:?}");
    assert_eq!(
        hub.app.model().waiting.len(),
        before + live.len() - 2,
        "the person attached through a match was registered already"
    );
    let (again, _) = hub.app.model().waiting[&attached].clone();
    assert_eq!(
        again.registered_at.date(),
        time::macros::date!(2026 - 02 - 01),
        "their place is kept"
    );
    assert!(again.declined_by.contains(&ids.patel));
    let offered_to = |person| {
        hub.app
            .model()
            .offers
            .values()
            .filter(|(o, _)| o.id != o_attached && o.id != o_open)
            .find(|(o, _)| o.persons.iter().any(|p| p.person == person))
            .map(|(o, _)| o.provider)
    };
    assert_eq!(offered_to(attached), Some(ids.nguyen), "offered again");
    assert_eq!(
        offered_to(open),
        Some(ids.nguyen),
        "the withdrawn offer's person too"
    );
    let round = hub.app.run_matching(coordinator).expect("round again");
    assert_eq!(round.returned, 0, "a return is acted on once: {round:?}");

    // Billing at the clinic: the match and the transfer; Dr. Nguyen has no number yet.
    let export = clinic
        .app
        .attachment_records(
            BillingScope::Member {
                who: ids.director,
                clinic: ids.clinic,
            },
            "2026-11-01",
            "2026-11-30",
        )
        .expect("export");
    let hows: Vec<(&str, UserId)> = export
        .records
        .iter()
        .map(|r| (r.how.as_str(), r.provider))
        .collect();
    assert_eq!(
        hows,
        [("match", ids.patel), ("transfer", ids.nguyen)],
        "{export:?}"
    );
    assert_eq!(export.missing.len(), 1);
    assert_eq!(export.missing[0].provider, ids.nguyen);
    let csv = String::from_utf8(export.to_csv()).expect("utf-8");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "phn,practitioner_number,attachment_date,fee_code,provider,facility_number,clinic,how_attached"
        )
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with(&format!(
            "{},{},2026-11-02,98990,",
            waiting_phn(11),
            prefs_of(&clinic, ids.patel)
                .practitioner_number
                .expect("the demo gives Dr. Patel one")
        ))),
        "{csv}"
    );
    assert!(matches!(
        clinic.app.attachment_records(
            BillingScope::Member {
                who: ids.director,
                clinic: ids.clinic
            },
            "2026-11-30",
            "2026-11-01"
        ),
        Err(AppError::Invalid { .. })
    ));
    assert!(matches!(
        clinic.app.attachment_records(
            BillingScope::Member {
                who: ids.director,
                clinic: ids.clinic
            },
            "2026-11-01",
            ""
        ),
        Err(AppError::Invalid { .. })
    ));
}

#[test]
fn a_protocol_section_and_a_status_rule_written_apart_are_listed_and_settled() {
    use attach_domain::{BuiltinStatus, StatusRule, StatusRules, VisitRule};
    let (_clock, a, b, ids) = two_replicas();
    a.app
        .set_protocol_section(ids.director, ids.clinic, "team", "Written on a")
        .expect("a");
    b.app
        .set_protocol_section(ids.moa, ids.clinic, "team", "Written on b")
        .expect("b");
    let rules = |months| StatusRules {
        inactive: BuiltinStatus {
            definition: "Not seen for a while".into(),
            rule: Some(StatusRule {
                last_visit: Some(VisitRule::NotSeenFor { months }),
                ..StatusRule::default()
            }),
        },
        ..StatusRules::default()
    };
    // Rules saved once and synced, then changed apart: the same field clashes.
    a.app
        .set_status_rules(ids.director, ids.clinic, rules(12))
        .expect("first rules");
    sync(&a, &b);
    a.app
        .set_status_rules(ids.director, ids.clinic, rules(24))
        .expect("a");
    b.app
        .set_status_rules(ids.moa, ids.clinic, rules(36))
        .expect("b");
    sync(&a, &b);
    let list = a.app.conflicts(ids.director, ids.clinic).expect("list");
    let work = list
        .iter()
        .find(|c| matches!(&c.key, ConflictKey::Work { item, .. } if item == "team"))
        .expect("the protocol section is listed");
    assert_eq!(work.about, "The protocol's section \"team\"");
    assert!(work.values.iter().any(|v| v.shown.contains("Written on b")));
    let rule = list
        .iter()
        .find(|c| matches!(&c.key, ConflictKey::StatusRule { status, .. } if status == "inactive"))
        .expect("the rule is listed");
    assert!(
        rule.about.starts_with("The status rule of inactive"),
        "{}",
        rule.about
    );
    // The keys survive the settle form's text.
    for c in [work, rule] {
        assert_eq!(
            c.key.to_string().parse::<ConflictKey>().expect("reads"),
            c.key
        );
    }

    let pick = |c: &ConflictView, text: &str| {
        c.values
            .iter()
            .position(|v| v.shown.contains(text) || v.value.contains(text))
            .expect("a side")
    };
    a.app
        .settle_conflict(
            ids.director,
            ids.clinic,
            &work.key,
            &work.version,
            pick(work, "Written on b"),
        )
        .expect("settles the section");
    a.app
        .settle_conflict(
            ids.director,
            ids.clinic,
            &rule.key,
            &rule.version,
            pick(rule, "36"),
        )
        .expect("settles the rule");
    sync(&a, &b);
    for r in [&a, &b] {
        let section = r
            .app
            .protocol(ids.director, ids.clinic)
            .expect("reads")
            .into_iter()
            .find(|s| s.key == "team")
            .and_then(|s| s.saved)
            .expect("saved");
        assert_eq!(section.text, "Written on b");
        let stored = r.app.status_rules(ids.director, ids.clinic).expect("rules");
        assert_eq!(
            stored.inactive.rule.and_then(|r| r.last_visit),
            Some(VisitRule::NotSeenFor { months: 36 })
        );
        let left = r.app.conflicts(ids.director, ids.clinic).expect("list");
        assert!(
            !left.iter().any(|c| matches!(
                c.key,
                ConflictKey::Work { .. } | ConflictKey::StatusRule { .. }
            )),
            "{left:?}"
        );
    }
}
