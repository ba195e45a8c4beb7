//! Round trips, idempotence and concurrent-edit merges of every document kind.

use std::collections::{BTreeMap, BTreeSet};

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{Automerge, ROOT, ReadDoc};
use proptest::prelude::*;
use time::{Date, Month, OffsetDateTime, Time};

use super::*;
use attach_domain::*;
use attach_store::{NodeId, actor_for, author_of};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// An instant with millisecond precision (what the documents keep).
fn at(secs: i64, ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(secs * 1_000 + ms) * 1_000_000)
        .expect("valid instant")
}

fn date(y: i32, m: Month, d: u8) -> Date {
    Date::from_calendar_date(y, m, d).expect("valid date")
}

fn hm(h: u8, m: u8) -> Time {
    Time::from_hms(h, m, 0).expect("valid time")
}

fn address(street: &str) -> Address {
    Address {
        street: street.into(),
        city: "Prince George".into(),
        province: "BC".into(),
        postal_code: "V2L 1A1".into(),
    }
}

fn sample_clinic() -> Clinic {
    let primary = UserId::new();
    let secondary = UserId::new();
    let staff = UserId::new();
    let mut hours = BTreeMap::new();
    hours.insert(
        1,
        DayHours {
            opens: hm(8, 30),
            closes: hm(17, 0),
        },
    );
    hours.insert(
        3,
        DayHours {
            opens: hm(9, 0),
            closes: hm(12, 15),
        },
    );
    let location = Location {
        id: LocationId::new(),
        name: "Downtown".into(),
        address: address("1 Main St"),
        phone: "250-555-0101".into(),
        retired: false,
    };
    let member = |user, role, state| Membership {
        user,
        role,
        state,
        since: at(1_700_000_000, 1),
        changed_at: at(1_700_000_100, 2),
        changed_by: primary,
    };
    let status = StatusDefinition {
        id: StatusId::new(),
        name: "Deceased".into(),
        definition: "Confirmed deceased".into(),
        retired: false,
    };
    let delegation = Delegation {
        id: DelegationId::new(),
        provider: primary,
        delegate: staff,
        started_by: Side::Provider,
        state: DelegationState::Revoked,
        created_at: at(1_700_000_200, 3),
        confirmed_at: Some(at(1_700_000_300, 4)),
        revoked_at: Some(at(1_700_000_400, 5)),
        revoked_by: Some(primary),
    };
    let pending = Delegation {
        id: DelegationId::new(),
        started_by: Side::Delegate,
        state: DelegationState::Pending,
        confirmed_at: None,
        revoked_at: None,
        revoked_by: None,
        ..delegation.clone()
    };
    Clinic {
        id: ClinicId::new(),
        profile: ClinicProfile {
            name: "Northside Family Practice".into(),
            facility_number: "F1234".into(),
            address: address("10 Clinic Rd"),
            phone: "250-555-0100".into(),
            fax: "250-555-0199".into(),
            hours,
        },
        locations: BTreeMap::from([(location.id, location)]),
        members: BTreeMap::from([
            (
                primary,
                member(primary, Role::Physician, MemberState::Active),
            ),
            (
                secondary,
                member(secondary, Role::Director, MemberState::Active),
            ),
            (
                staff,
                member(staff, Role::MedicalOfficeAssistant, MemberState::Requested),
            ),
        ]),
        primary,
        secondary: Some(secondary),
        statuses: BTreeMap::from([(status.id, status)]),
        status_rules: Default::default(),
        delegations: BTreeMap::from([(delegation.id, delegation), (pending.id, pending)]),
    }
}

fn sample_entry() -> PanelEntry {
    let provider = UserId::new();
    PanelEntry {
        id: EntryId::new(),
        provider,
        clinic: ClinicId::new(),
        details: PatientDetails {
            phn: Phn::parse("9123456780").expect("valid PHN"),
            family_name: "Nguyen".into(),
            given_names: "Anh Thi".into(),
            date_of_birth: date(1987, Month::March, 9),
            sex: Sex::Female,
            contact: Contact {
                phone: "250-555-0142".into(),
                email: "anh@example.org".into(),
                address: address("22 Birch Ave"),
            },
            community: "Prince George".into(),
            last_visit: Some(date(2024, Month::November, 2)),
        },
        status: PatientStatus::Custom(StatusId::new()),
        mrp: Some(MrpConfirmation {
            at: at(1_710_000_000, 7),
            by: provider,
            how: None,
        }),
        added_at: at(1_700_000_000, 9),
        added_by: provider,
        how_added: HowAdded::CsvUpload,
        review: Default::default(),
        removed: None,
    }
}

/// An entry with every review record set: both MRP sides with their methods, a contact
/// check and a dismissed suggestion.
fn reviewed_entry() -> PanelEntry {
    let mut e = sample_entry();
    let staff = UserId::new();
    e.mrp = Some(MrpConfirmation {
        at: at(1_710_000_000, 7),
        by: e.provider,
        how: Some(attach_domain::ConfirmMethod::InPerson),
    });
    e.review = attach_domain::EntryReview {
        patient_mrp: Some(MrpConfirmation {
            at: at(1_711_000_000, 3),
            by: staff,
            how: Some(attach_domain::ConfirmMethod::Phone),
        }),
        contact_verified: Some(attach_domain::Stamp {
            at: at(1_712_000_000, 1),
            by: staff,
        }),
        dismissed: Some(attach_domain::Dismissal {
            status: PatientStatus::Inactive,
            at: at(1_713_000_000, 5),
            by: staff,
        }),
    };
    e
}

#[test]
fn review_records_round_trip_batched_and_field_by_field() {
    let e = reviewed_entry();
    let mut fresh = Automerge::new();
    let mut tx = fresh.transaction();
    write_entry(&mut tx, &e).unwrap();
    tx.commit();
    assert_eq!(read_entry(&fresh).unwrap(), e);
    // An old entry (no review groups) gains them field by field, and loses them again.
    let plain = sample_entry();
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    write_entry(&mut tx, &plain).unwrap();
    tx.commit();
    let mut later = e.clone();
    later.id = plain.id;
    later.provider = plain.provider;
    later.clinic = plain.clinic;
    let mut tx = doc.transaction();
    write_entry(&mut tx, &later).unwrap();
    tx.commit();
    assert_eq!(read_entry(&doc).unwrap(), later);
    let mut tx = doc.transaction();
    write_entry(&mut tx, &plain).unwrap();
    tx.commit();
    assert_eq!(read_entry(&doc).unwrap(), plain);
}

fn sample_account() -> AccountRecord {
    AccountRecord {
        id: UserId::new(),
        username: "dr.lee".into(),
        display_name: "Dr. Jordan Lee".into(),
        email: "jlee@example.org".into(),
        practitioner_number: Some("12345".into()),
        created_at: at(1_690_000_000, 11),
        credentials: StoredCredentials {
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            temporary: true,
            expires_at: Some(at(1_690_086_400, 0)),
            must_change: true,
            changed_at: at(1_690_000_000, 11),
        },
    }
}

/// A fresh document written by `user` on a fresh node.
fn replica(user: UserId) -> Automerge {
    Automerge::new().with_actor(actor_for(NodeId::random(), user.0))
}

/// A copy of `doc` that `user` edits on another node.
fn fork_for(doc: &Automerge, user: UserId) -> Automerge {
    doc.fork().with_actor(actor_for(NodeId::random(), user.0))
}

/// Runs `f` in one transaction, commits, and returns how many operations it made.
fn edit(
    doc: &mut Automerge,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<(), SchemaError>,
) -> usize {
    let mut tx = doc.transaction();
    f(&mut tx).expect("write succeeds");
    let ops = tx.pending_ops();
    tx.commit();
    ops
}

/// Merges each replica into the other.
fn sync(a: &mut Automerge, b: &mut Automerge) {
    a.merge(b).expect("merge b into a");
    b.merge(a).expect("merge a into b");
    assert_eq!(a.get_heads(), b.get_heads());
}

fn values(c: &[Candidate]) -> BTreeSet<String> {
    c.iter().map(|c| c.value.clone()).collect()
}

fn authors(c: &[Candidate]) -> BTreeSet<Option<UserId>> {
    c.iter().map(|c| c.by).collect()
}

// ---------------------------------------------------------------------------
// Clinic
// ---------------------------------------------------------------------------

#[test]
fn clinic_round_trips() {
    let clinic = sample_clinic();
    let mut doc = replica(clinic.primary);
    edit(&mut doc, |tx| write_clinic_new(tx, &clinic));
    assert_eq!(read_clinic(&doc).expect("readable"), clinic);

    // Survives save and load (what the store does).
    let loaded = Automerge::load(&doc.save()).expect("loads");
    assert_eq!(read_clinic(&loaded).expect("readable"), clinic);
}

#[test]
fn clinic_without_secondary_or_hours_round_trips() {
    let mut clinic = sample_clinic();
    clinic.secondary = None;
    clinic.profile.hours.clear();
    clinic.locations.clear();
    let mut doc = replica(clinic.primary);
    edit(&mut doc, |tx| write_clinic_new(tx, &clinic));
    assert_eq!(read_clinic(&doc).expect("readable"), clinic);
}

#[test]
fn rewriting_a_clinic_makes_no_operations() {
    let clinic = sample_clinic();
    let mut doc = replica(clinic.primary);
    assert!(edit(&mut doc, |tx| write_clinic_new(tx, &clinic)) > 0);
    assert_eq!(edit(&mut doc, |tx| write_clinic_new(tx, &clinic)), 0);
    assert_eq!(edit(&mut doc, |tx| write_profile(tx, &clinic.profile)), 0);
    assert_eq!(edit(&mut doc, |tx| write_primary(tx, clinic.primary)), 0);
    assert_eq!(
        edit(&mut doc, |tx| write_secondary(tx, clinic.secondary)),
        0
    );
    for m in clinic.members.values() {
        assert_eq!(edit(&mut doc, |tx| write_membership(tx, m)), 0);
    }
    for l in clinic.locations.values() {
        assert_eq!(edit(&mut doc, |tx| write_location(tx, l)), 0);
    }
    for s in clinic.statuses.values() {
        assert_eq!(edit(&mut doc, |tx| write_status(tx, s)), 0);
    }
    for d in clinic.delegations.values() {
        assert_eq!(edit(&mut doc, |tx| write_delegation(tx, d)), 0);
    }
}

#[test]
fn a_profile_edit_writes_only_the_changed_fields() {
    let clinic = sample_clinic();
    let mut doc = replica(clinic.primary);
    edit(&mut doc, |tx| write_clinic_new(tx, &clinic));

    let mut profile = clinic.profile.clone();
    profile.phone = "250-555-0111".into();
    assert_eq!(edit(&mut doc, |tx| write_profile(tx, &profile)), 1);

    // Closing Wednesday deletes one key; opening Friday adds one.
    profile.hours.remove(&3);
    profile.hours.insert(
        5,
        DayHours {
            opens: hm(7, 0),
            closes: hm(19, 45),
        },
    );
    assert_eq!(edit(&mut doc, |tx| write_profile(tx, &profile)), 2);
    assert_eq!(read_clinic(&doc).expect("readable").profile, profile);
}

#[test]
fn clearing_the_secondary_stores_null_once() {
    let clinic = sample_clinic();
    let mut doc = replica(clinic.primary);
    edit(&mut doc, |tx| write_clinic_new(tx, &clinic));
    assert_eq!(edit(&mut doc, |tx| write_secondary(tx, None)), 1);
    assert_eq!(read_clinic(&doc).expect("readable").secondary, None);
    assert_eq!(edit(&mut doc, |tx| write_secondary(tx, None)), 0);
}

#[test]
fn a_broken_member_field_is_named_in_the_error() {
    let clinic = sample_clinic();
    let user = clinic.primary;
    let mut doc = replica(user);
    edit(&mut doc, |tx| write_clinic_new(tx, &clinic));
    let mut tx = doc.transaction();
    let (_, members) = tx.get(ROOT, "members").expect("get").expect("members map");
    let (_, m) = tx
        .get(&members, user.to_string())
        .expect("get")
        .expect("member map");
    tx.put(&m, "role", "wizard").expect("put");
    tx.commit();
    let err = read_clinic(&doc).expect_err("role is not a known role");
    assert_eq!(
        err.to_string(),
        format!("`members/{user}/role` in the clinic document is not a known role")
    );
}

#[test]
fn readers_refuse_the_wrong_kind_of_document() {
    let entry = sample_entry();
    let mut doc = replica(entry.provider);
    edit(&mut doc, |tx| write_entry(tx, &entry));
    assert!(matches!(
        read_clinic(&doc),
        Err(SchemaError::WrongKind {
            expected: "clinic",
            ..
        })
    ));
    assert!(matches!(
        read_entry(&Automerge::new()),
        Err(SchemaError::Missing { .. })
    ));
}

// (a) Two account managers hand the primary role over at the same time.
#[test]
fn concurrent_primary_handover_converges_and_shows_both() {
    let clinic = sample_clinic();
    let old = clinic.primary;
    let other_manager = clinic.secondary.expect("has a secondary");
    let (to_a, to_b) = (UserId::new(), UserId::new());
    let mut base = replica(old);
    edit(&mut base, |tx| write_clinic_new(tx, &clinic));

    let mut a = fork_for(&base, old);
    let mut b = fork_for(&base, other_manager);
    // Node A records its commit time; node B does not.
    let mut tx = a.transaction();
    write_primary(&mut tx, to_a).expect("write");
    tx.commit_with(CommitOptions::default().with_time(1_720_000_000));
    edit(&mut b, |tx| write_primary(tx, to_b));
    sync(&mut a, &mut b);

    let on_a = read_clinic(&a).expect("readable");
    let on_b = read_clinic(&b).expect("readable");
    assert_eq!(on_a, on_b);
    assert!(on_a.primary == to_a || on_a.primary == to_b);

    let cands = register_candidates(&a, PRIMARY).expect("candidates");
    assert_eq!(cands.len(), 2);
    assert_eq!(
        values(&cands),
        BTreeSet::from([to_a.to_string(), to_b.to_string()])
    );
    assert_eq!(
        authors(&cands),
        BTreeSet::from([Some(old), Some(other_manager)])
    );
    // The last candidate is what readers see.
    assert_eq!(
        cands.last().map(|c| c.value.clone()),
        Some(on_a.primary.to_string())
    );
    let by_a = cands
        .iter()
        .find(|c| c.by == Some(old))
        .expect("A's candidate");
    assert_eq!(by_a.at, Some(at(1_720_000_000, 0)));
    let by_b = cands
        .iter()
        .find(|c| c.by == Some(other_manager))
        .expect("B's");
    assert_eq!(by_b.at, None);
    assert_eq!(register_candidates(&b, PRIMARY).expect("candidates"), cands);

    // A person picks the value that lost; both replicas agree afterwards.
    let loser = cands.first().expect("two candidates").clone();
    edit(&mut b, |tx| resolve_register(tx, PRIMARY, &loser));
    sync(&mut a, &mut b);
    assert_eq!(
        register_candidates(&a, PRIMARY).expect("candidates").len(),
        1
    );
    assert_eq!(
        read_clinic(&a).expect("readable").primary.to_string(),
        loser.value
    );
}

// (b) One edits the clinic phone while the other approves a member.
#[test]
fn phone_edit_and_member_approval_both_survive() {
    let clinic = sample_clinic();
    let staff = clinic
        .members
        .values()
        .find(|m| m.state == MemberState::Requested)
        .expect("a pending member")
        .clone();
    let mut base = replica(clinic.primary);
    edit(&mut base, |tx| write_clinic_new(tx, &clinic));
    let mut a = fork_for(&base, clinic.primary);
    let mut b = fork_for(&base, clinic.secondary.expect("secondary"));

    let mut profile = clinic.profile.clone();
    profile.phone = "250-555-0177".into();
    assert_eq!(edit(&mut a, |tx| write_profile(tx, &profile)), 1);
    let approved = Membership {
        state: MemberState::Approved,
        changed_at: at(1_720_000_000, 0),
        changed_by: clinic.secondary.expect("secondary"),
        ..staff.clone()
    };
    assert_eq!(edit(&mut b, |tx| write_membership(tx, &approved)), 3);
    sync(&mut a, &mut b);

    let merged = read_clinic(&a).expect("readable");
    assert_eq!(merged, read_clinic(&b).expect("readable"));
    assert_eq!(merged.profile.phone, "250-555-0177");
    assert_eq!(merged.members[&staff.user], approved);
    assert!(member_field_conflicts(&a).expect("conflicts").is_empty());
}

// (e) Two managers add the same person at the same time (each creating the member map).
#[test]
fn concurrent_adds_of_one_member_stay_readable() {
    let clinic = sample_clinic();
    let newcomer = UserId::new();
    let mut base = replica(clinic.primary);
    edit(&mut base, |tx| write_clinic_new(tx, &clinic));
    let mut a = fork_for(&base, clinic.primary);
    let mut b = fork_for(&base, clinic.secondary.expect("secondary"));
    let as_physician = Membership {
        user: newcomer,
        role: Role::Physician,
        state: MemberState::Active,
        since: at(1_720_000_000, 0),
        changed_at: at(1_720_000_000, 0),
        changed_by: clinic.primary,
    };
    let as_np = Membership {
        role: Role::NursePractitioner,
        changed_by: clinic.secondary.expect("secondary"),
        ..as_physician.clone()
    };
    edit(&mut a, |tx| write_membership(tx, &as_physician));
    edit(&mut b, |tx| write_membership(tx, &as_np));
    sync(&mut a, &mut b);

    let merged = read_clinic(&a).expect("readable");
    assert_eq!(merged, read_clinic(&b).expect("readable"));
    let m = &merged.members[&newcomer];
    assert!(*m == as_physician || *m == as_np, "one whole record wins");
    assert_eq!(merged.members.len(), clinic.members.len() + 1);
    // The hidden record is not dropped silently: it is shown for review.
    let conflicts = member_field_conflicts(&a).expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].member, newcomer);
    assert_eq!(conflicts[0].conflict.field, MEMBER_RECORD);
    let cands = &conflicts[0].conflict.candidates;
    assert!(
        cands
            .iter()
            .any(|c| c.value.contains("role=nurse_practitioner"))
    );
    assert!(cands.iter().any(|c| c.value.contains("role=physician")));
    // Later edits land in the winning record and are read back.
    let mut later = m.clone();
    later.state = MemberState::Deactivated;
    assert_eq!(edit(&mut b, |tx| write_membership(tx, &later)), 1);
    sync(&mut a, &mut b);
    assert_eq!(read_clinic(&a).expect("readable").members[&newcomer], later);

    // Settling on the record that lost makes it the member, on both replicas.
    let losing = cands
        .iter()
        .find(|c| c.value != cands[1].value)
        .expect("other")
        .clone();
    let lost = if losing.value.contains("role=physician") {
        &as_physician
    } else {
        &as_np
    };
    edit(&mut a, |tx| {
        resolve_member_field(tx, newcomer, MEMBER_RECORD, &losing)
    });
    sync(&mut a, &mut b);
    assert!(member_field_conflicts(&b).expect("conflicts").is_empty());
    assert_eq!(read_clinic(&b).expect("readable").members[&newcomer], *lost);
}

#[test]
fn concurrent_role_changes_are_reported_as_a_member_conflict() {
    let clinic = sample_clinic();
    let staff = clinic.members[&clinic.primary].clone();
    let mut base = replica(clinic.primary);
    edit(&mut base, |tx| write_clinic_new(tx, &clinic));
    let second = clinic.secondary.expect("secondary");
    let mut a = fork_for(&base, clinic.primary);
    let mut b = fork_for(&base, second);
    edit(&mut a, |tx| {
        write_membership(
            tx,
            &Membership {
                role: Role::Director,
                ..staff.clone()
            },
        )
    });
    edit(&mut b, |tx| {
        write_membership(
            tx,
            &Membership {
                role: Role::OtherStaff,
                ..staff.clone()
            },
        )
    });
    sync(&mut a, &mut b);

    let conflicts = member_field_conflicts(&a).expect("conflicts");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].member, staff.user);
    assert_eq!(conflicts[0].conflict.field, "role");
    let cands = &conflicts[0].conflict.candidates;
    assert_eq!(
        values(cands),
        BTreeSet::from(["director".into(), "other_staff".into()])
    );
    assert_eq!(
        authors(cands),
        BTreeSet::from([Some(clinic.primary), Some(second)])
    );

    let chosen = cands
        .iter()
        .find(|c| c.value == "other_staff")
        .expect("B's value")
        .clone();
    edit(&mut a, |tx| {
        resolve_member_field(tx, staff.user, "role", &chosen)
    });
    sync(&mut a, &mut b);
    assert!(member_field_conflicts(&b).expect("conflicts").is_empty());
    assert_eq!(
        read_clinic(&b).expect("readable").members[&staff.user].role,
        Role::OtherStaff
    );
}

// ---------------------------------------------------------------------------
// Panel entries
// ---------------------------------------------------------------------------

/// A new entry is written in one batch (a bulk import makes thousands); it must be the
/// document the field-by-field writers make, with and without the optional parts.
#[test]
fn a_new_entry_written_in_one_batch_matches_field_by_field_writes() {
    let full = sample_entry();
    let mut bare = sample_entry();
    bare.mrp = None;
    bare.details.last_visit = None;
    let mut transferred = sample_entry();
    transferred.removed = Some(Removal {
        at: at(1_730_000_000, 5),
        by: transferred.provider,
        reason: "Moved to a colleague".into(),
        disposition: Disposition::Transferred { to: UserId::new() },
    });
    for entry in [&full, &bare, &transferred] {
        common::assert_batch_write_matches_puts(KIND_ENTRY, |doc| {
            write_entry(doc, entry).expect("writes");
        });
    }
}

#[test]
fn entry_round_trips_and_rewrites_make_no_operations() {
    let entry = sample_entry();
    let mut doc = replica(entry.provider);
    assert!(edit(&mut doc, |tx| write_entry(tx, &entry)) > 0);
    assert_eq!(read_entry(&doc).expect("readable"), entry);
    assert_eq!(edit(&mut doc, |tx| write_entry(tx, &entry)), 0);

    let mut removed = entry.clone();
    removed.mrp = None;
    removed.details.last_visit = None;
    removed.status = PatientStatus::Inactive;
    removed.removed = Some(Removal {
        at: at(1_730_000_000, 5),
        by: entry.provider,
        reason: "Moved out of province".into(),
        disposition: Default::default(),
    });
    // status, last_visit, both mrp fields, three removal fields.
    assert_eq!(edit(&mut doc, |tx| write_entry(tx, &removed)), 7);
    assert_eq!(read_entry(&doc).expect("readable"), removed);
    assert_eq!(edit(&mut doc, |tx| write_entry(tx, &removed)), 0);
}

#[test]
fn a_malformed_phn_is_named_without_showing_it() {
    let entry = sample_entry();
    let mut doc = replica(entry.provider);
    edit(&mut doc, |tx| write_entry(tx, &entry));
    edit(&mut doc, |tx| {
        tx.put(ROOT, "phn", "9123456789")?;
        Ok(())
    });
    let err = read_entry(&doc).expect_err("bad check digit");
    let msg = err.to_string();
    assert_eq!(msg, "`phn` in the panel-entry document is not a valid PHN");
    assert!(!format!("{err:?}").contains("912345"));
}

// (c) Two people edit different fields of one patient offline.
#[test]
fn edits_to_different_entry_fields_both_survive() {
    let entry = sample_entry();
    let (ua, ub) = (UserId::new(), UserId::new());
    let mut base = replica(entry.provider);
    edit(&mut base, |tx| write_entry(tx, &entry));
    let mut a = fork_for(&base, ua);
    let mut b = fork_for(&base, ub);

    let mut on_a = entry.clone();
    on_a.details.contact.phone = "250-555-0999".into();
    let mut on_b = entry.clone();
    on_b.details.family_name = "Nguyen-Tran".into();
    on_b.details.contact.address.street = "5 Spruce St".into();
    assert_eq!(edit(&mut a, |tx| write_entry(tx, &on_a)), 1);
    assert_eq!(edit(&mut b, |tx| write_entry(tx, &on_b)), 2);
    sync(&mut a, &mut b);

    let merged = read_entry(&a).expect("readable");
    assert_eq!(merged, read_entry(&b).expect("readable"));
    assert_eq!(merged.details.contact.phone, "250-555-0999");
    assert_eq!(merged.details.family_name, "Nguyen-Tran");
    assert_eq!(merged.details.contact.address.street, "5 Spruce St");
    assert!(entry_field_conflicts(&a).expect("conflicts").is_empty());
}

// (d) Two people change the same field differently.
#[test]
fn edits_to_one_entry_field_converge_and_show_the_conflict() {
    let entry = sample_entry();
    let (ua, ub) = (UserId::new(), UserId::new());
    let mut base = replica(entry.provider);
    edit(&mut base, |tx| write_entry(tx, &entry));
    let mut a = fork_for(&base, ua);
    let mut b = fork_for(&base, ub);

    let mut on_a = entry.clone();
    on_a.details.contact.phone = "250-555-1111".into();
    let mut on_b = entry.clone();
    on_b.details.contact.phone = "250-555-2222".into();
    edit(&mut a, |tx| write_entry(tx, &on_a));
    edit(&mut b, |tx| write_entry(tx, &on_b));
    sync(&mut a, &mut b);

    let merged = read_entry(&a).expect("readable");
    assert_eq!(merged, read_entry(&b).expect("readable"));
    assert!(merged == on_a || merged == on_b);

    let conflicts = entry_field_conflicts(&a).expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "phone");
    let cands = &conflicts[0].candidates;
    assert_eq!(
        values(cands),
        BTreeSet::from(["250-555-1111".into(), "250-555-2222".into()])
    );
    assert_eq!(authors(cands), BTreeSet::from([Some(ua), Some(ub)]));
    assert_eq!(entry_field_conflicts(&b).expect("conflicts"), conflicts);

    // Rewriting the merged entry does not settle the conflict behind a person's back.
    assert_eq!(edit(&mut a, |tx| write_entry(tx, &merged)), 0);
    assert_eq!(entry_field_conflicts(&a).expect("conflicts").len(), 1);

    let chosen = cands.first().expect("candidate").clone();
    edit(&mut b, |tx| resolve_entry_field(tx, "phone", &chosen));
    sync(&mut a, &mut b);
    assert!(entry_field_conflicts(&a).expect("conflicts").is_empty());
    assert_eq!(
        read_entry(&a).expect("readable").details.contact.phone,
        chosen.value
    );
}

/// Concurrent MRP changes: side A re-confirms (only the time changes) or clears the
/// confirmation; side B hands MRP to another provider (time and author change). What is
/// read back is one side's whole confirmation, whatever order the actors sort in and
/// whatever else each side changed first, and the clash is shown as one `mrp` conflict.
#[test]
fn concurrent_group_writes_never_mix_sides() {
    for round in 0..32 {
        let entry = sample_entry();
        let (ua, ub) = (UserId::new(), UserId::new());
        let mut base = replica(entry.provider);
        edit(&mut base, |tx| write_entry(tx, &entry));
        let mut a = fork_for(&base, ua);
        let mut b = fork_for(&base, ub);

        let mut on_a = entry.clone();
        on_a.mrp = if round % 3 == 0 {
            None
        } else {
            Some(MrpConfirmation {
                at: at(1_720_000_000, 1),
                by: entry.provider,
                how: None,
            })
        };
        let mut on_b = entry.clone();
        on_b.mrp = Some(MrpConfirmation {
            at: at(1_720_000_500, 2),
            by: ub,
            how: None,
        });
        // Vary the op counters: one side first makes unrelated edits.
        let (side, extra) = if round % 2 == 0 {
            (&mut a, &mut on_a)
        } else {
            (&mut b, &mut on_b)
        };
        for i in 0..(round / 2 % 4) {
            let mut prior = entry.clone();
            prior.details.community = format!("Community {i}");
            edit(side, |tx| write_entry(tx, &prior));
            extra.details.community = prior.details.community.clone();
        }
        edit(&mut a, |tx| write_entry(tx, &on_a));
        edit(&mut b, |tx| write_entry(tx, &on_b));
        sync(&mut a, &mut b);

        let mrp = read_entry(&a).expect("readable").mrp;
        assert!(
            mrp == on_a.mrp || mrp == on_b.mrp,
            "round {round}: sides mixed"
        );
        assert_eq!(read_entry(&b).expect("readable").mrp, mrp);

        let conflicts = entry_field_conflicts(&a).expect("conflicts");
        let c = conflicts
            .iter()
            .find(|c| c.field == "mrp")
            .expect("an mrp conflict");
        assert_eq!(c.candidates.len(), 2);
        assert_eq!(authors(&c.candidates), BTreeSet::from([Some(ua), Some(ub)]));
    }
}

#[test]
fn a_group_conflict_can_be_settled_on_either_side() {
    let entry = sample_entry();
    let (ua, ub) = (UserId::new(), UserId::new());
    let mut base = replica(entry.provider);
    edit(&mut base, |tx| write_entry(tx, &entry));
    let mut a = fork_for(&base, ua);
    let mut b = fork_for(&base, ub);
    let removal = Removal {
        at: at(1_730_000_000, 0),
        by: ua,
        reason: "Deceased".into(),
        disposition: Default::default(),
    };
    let on_a = PanelEntry {
        review: Default::default(),
        removed: Some(removal.clone()),
        ..entry.clone()
    };
    let on_b = PanelEntry {
        review: Default::default(),
        removed: Some(Removal {
            at: at(1_730_000_900, 0),
            by: ub,
            reason: "Moved".into(),
            disposition: Default::default(),
        }),
        ..entry.clone()
    };
    edit(&mut a, |tx| write_entry(tx, &on_a));
    edit(&mut b, |tx| write_entry(tx, &on_b));
    sync(&mut a, &mut b);

    let conflicts = entry_field_conflicts(&a).expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "removal");
    let by_a = conflicts[0]
        .candidates
        .iter()
        .find(|c| c.by == Some(ua))
        .expect("A's removal")
        .clone();
    assert!(by_a.value.contains("reason=Deceased"), "shown whole");
    edit(&mut b, |tx| resolve_entry_field(tx, "removal", &by_a));
    sync(&mut a, &mut b);
    assert!(entry_field_conflicts(&a).expect("conflicts").is_empty());
    assert_eq!(read_entry(&a).expect("readable").removed, Some(removal));
}

/// Two concurrent password changes: one side's hash and flags, never a mix.
#[test]
fn concurrent_password_changes_never_mix() {
    for _ in 0..16 {
        let account = sample_account();
        let mut base = replica(account.id);
        edit(&mut base, |tx| write_account(tx, &account));
        let mut a = fork_for(&base, account.id);
        let mut b = fork_for(&base, UserId::new());
        // The user picks a password (flags cleared); a manager issues a temporary one
        // (only the hash and time change).
        let chosen = StoredCredentials {
            password_hash: "chosen".into(),
            temporary: false,
            expires_at: None,
            must_change: false,
            changed_at: at(1_700_000_100, 0),
        };
        let reset = StoredCredentials {
            password_hash: "reset".into(),
            changed_at: at(1_700_000_200, 0),
            ..account.credentials.clone()
        };
        edit(&mut a, |tx| write_credentials(tx, &chosen));
        edit(&mut b, |tx| write_credentials(tx, &reset));
        sync(&mut a, &mut b);
        let merged = read_account(&a).expect("readable").credentials;
        assert!(merged == chosen || merged == reset, "credentials mixed");
    }
}

fn text_field() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_entry_round_trips(
        family in text_field(),
        given in text_field(),
        phone in text_field(),
        reason in text_field(),
        body in 0u32..99_999_999,
        days in 0i64..40_000,
        ms in 0i64..4_000_000_000_000,
        removed in any::<bool>(),
    ) {
        let mut entry = sample_entry();
        if let Some(phn) = Phn::from_body(body) {
            entry.details.phn = phn;
        }
        entry.details.family_name = family;
        entry.details.given_names = given;
        entry.details.contact.phone = phone;
        entry.details.date_of_birth =
            date(1900, Month::January, 1) + time::Duration::days(days);
        entry.added_at = at(0, ms);
        entry.removed = removed.then(|| Removal { at: at(0, ms), by: entry.provider, reason, disposition: Disposition::Left });
        let mut doc = replica(entry.provider);
        edit(&mut doc, |tx| write_entry(tx, &entry));
        prop_assert_eq!(read_entry(&doc).expect("readable"), entry.clone());
        prop_assert_eq!(edit(&mut doc, |tx| write_entry(tx, &entry)), 0);
    }
}

// ---------------------------------------------------------------------------
// Panel preferences
// ---------------------------------------------------------------------------

#[test]
fn preferences_round_trip_and_default_when_unset() {
    let provider = UserId::new();
    let prefs = PanelPreferences {
        accepting_new_patients: true,
        monthly_capacity: 12,
        desired_panel_size: 1_400,
        max_open_requests: 3,
        languages: ["English", "Punjabi"].map(String::from).into(),
        practitioner_number: Some("A1234".into()),
    };
    let mut doc = replica(provider);
    edit(&mut doc, |tx| write_preferences(tx, provider, &prefs));
    assert_eq!(read_preferences(&doc).expect("readable"), prefs);
    assert_eq!(read_panel_provider(&doc).expect("readable"), provider);
    assert_eq!(
        edit(&mut doc, |tx| write_preferences(tx, provider, &prefs)),
        0
    );
    let fewer = PanelPreferences {
        monthly_capacity: 4,
        ..prefs.clone()
    };
    assert_eq!(
        edit(&mut doc, |tx| write_preferences(tx, provider, &fewer)),
        1
    );

    let mut bare = replica(provider);
    edit(&mut bare, |tx| {
        tx.put(ROOT, "kind", KIND_PANEL)?;
        Ok(())
    });
    assert_eq!(
        read_preferences(&bare).expect("readable"),
        PanelPreferences::default()
    );

    // A document written before languages and practitioner numbers existed still reads:
    // English only, no number.
    let mut older = replica(provider);
    edit(&mut older, |tx| {
        tx.put(ROOT, "kind", KIND_PANEL)?;
        tx.put(ROOT, "accepting_new_patients", true)?;
        tx.put(ROOT, "monthly_capacity", 7_i64)?;
        Ok(())
    });
    let read = read_preferences(&older).expect("readable");
    assert_eq!(
        (
            read.monthly_capacity,
            read.languages.len(),
            read.practitioner_number
        ),
        (7, 0, None)
    );
    // Clearing both writes them back to absent-equivalent values.
    let cleared = PanelPreferences {
        languages: BTreeSet::new(),
        practitioner_number: None,
        ..fewer
    };
    edit(&mut doc, |tx| write_preferences(tx, provider, &cleared));
    assert_eq!(read_preferences(&doc).expect("readable"), cleared);
}

#[test]
fn concurrent_preference_edits_merge_per_field() {
    let provider = UserId::new();
    let delegate = UserId::new();
    let prefs = PanelPreferences::default();
    let mut base = replica(provider);
    edit(&mut base, |tx| write_preferences(tx, provider, &prefs));
    let mut a = fork_for(&base, provider);
    let mut b = fork_for(&base, delegate);
    edit(&mut a, |tx| {
        write_preferences(
            tx,
            provider,
            &PanelPreferences {
                accepting_new_patients: true,
                ..prefs.clone()
            },
        )
    });
    edit(&mut b, |tx| {
        write_preferences(
            tx,
            provider,
            &PanelPreferences {
                monthly_capacity: 20,
                ..prefs.clone()
            },
        )
    });
    sync(&mut a, &mut b);
    let merged = read_preferences(&a).expect("readable");
    assert!(merged.accepting_new_patients);
    assert_eq!(merged.monthly_capacity, 20);
}

// ---------------------------------------------------------------------------
// Accounts
// ---------------------------------------------------------------------------

#[test]
fn account_round_trips_and_rewrites_make_no_operations() {
    let account = sample_account();
    let mut doc = replica(account.id);
    edit(&mut doc, |tx| write_account(tx, &account));
    assert_eq!(read_account(&doc).expect("readable"), account);
    assert_eq!(edit(&mut doc, |tx| write_account(tx, &account)), 0);
    assert_eq!(
        edit(&mut doc, |tx| write_credentials(tx, &account.credentials)),
        0
    );

    let no_number = AccountRecord {
        practitioner_number: None,
        ..account.clone()
    };
    assert_eq!(edit(&mut doc, |tx| write_account(tx, &no_number)), 1);
    assert_eq!(read_account(&doc).expect("readable"), no_number);
}

#[test]
fn a_password_change_writes_the_whole_credential_group() {
    let account = sample_account();
    let mut doc = replica(account.id);
    edit(&mut doc, |tx| write_account(tx, &account));
    let chosen = StoredCredentials {
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3aGFzaA".into(),
        temporary: false,
        expires_at: None,
        must_change: false,
        changed_at: at(1_700_000_000, 0),
    };
    assert_eq!(edit(&mut doc, |tx| write_credentials(tx, &chosen)), 5);
    assert_eq!(read_account(&doc).expect("readable").credentials, chosen);
    assert!(!format!("{chosen:?}").contains("argon2"));
}

#[test]
fn authors_come_from_the_actor() {
    let user = UserId::new();
    let doc = replica(user);
    assert_eq!(
        author_of(&doc.get_actor().clone()).map(|(_, u)| UserId(u)),
        Some(user)
    );
}

#[test]
fn where_a_removed_patient_went_round_trips_and_older_removals_read_as_left() {
    let mut entry = sample_entry();
    for disposition in [
        Disposition::Left,
        Disposition::Transferred { to: UserId::new() },
        Disposition::ReturnToWaitlist,
    ] {
        entry.removed = Some(Removal {
            at: at(1_730_000_000, 0),
            by: entry.provider,
            reason: "provider retired".into(),
            disposition,
        });
        let mut doc = replica(entry.provider);
        edit(&mut doc, |tx| write_entry(tx, &entry));
        assert_eq!(read_entry(&doc).expect("readable"), entry);
        entry.removed = None;
        edit(&mut doc, |tx| write_entry(tx, &entry));
        assert_eq!(read_entry(&doc).expect("readable").removed, None);
    }
    entry.how_added = HowAdded::Transfer;
    let mut doc = replica(entry.provider);
    edit(&mut doc, |tx| write_entry(tx, &entry));
    assert_eq!(
        read_entry(&doc).expect("readable").how_added,
        HowAdded::Transfer
    );
}

#[test]
fn status_rules_round_trip_and_concurrent_edits_are_listed() {
    let mut clinic = sample_clinic();
    let custom = *clinic
        .statuses
        .keys()
        .next()
        .expect("the sample has a status");
    clinic.status_rules = StatusRules {
        active: BuiltinStatus {
            definition: "Seen in the last 3 years".into(),
            rule: Some(StatusRule {
                last_visit: Some(VisitRule::SeenWithin { months: 36 }),
                ..StatusRule::default()
            }),
        },
        inactive: BuiltinStatus {
            definition: "Not seen in 3 years".into(),
            rule: Some(StatusRule {
                last_visit: Some(VisitRule::NotSeenFor { months: 36 }),
                min_age: Some(18),
                max_age: None,
            }),
        },
        custom: [(
            custom,
            StatusRule {
                max_age: Some(17),
                ..StatusRule::default()
            },
        )]
        .into(),
    };
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    write_clinic_new(&mut tx, &clinic).unwrap();
    tx.commit();
    assert_eq!(read_clinic(&doc).unwrap(), clinic);
    // Clearing the custom rule and the inactive rule reads back as no rule.
    let mut cleared = clinic.status_rules.clone();
    cleared.custom.clear();
    cleared.inactive.rule = None;
    let mut tx = doc.transaction();
    write_status_rules(&mut tx, &cleared).unwrap();
    tx.commit();
    assert_eq!(read_clinic(&doc).unwrap().status_rules, cleared);
    // Two replicas change the active rule's months apart: one value wins, both are listed.
    let mut a = doc
        .fork()
        .with_actor(actor_for(NodeId([1; 16]), uuid::Uuid::from_u128(1)));
    let mut b = doc
        .fork()
        .with_actor(actor_for(NodeId([2; 16]), uuid::Uuid::from_u128(2)));
    for (replica, months) in [(&mut a, 24), (&mut b, 30)] {
        let mut r = cleared.clone();
        r.active.rule = Some(StatusRule {
            last_visit: Some(VisitRule::SeenWithin { months }),
            ..StatusRule::default()
        });
        let mut tx = replica.transaction();
        write_status_rules(&mut tx, &r).unwrap();
        tx.commit();
    }
    a.merge(&mut b).unwrap();
    let conflicts = status_rule_conflicts(&a).unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "status rule active months");
    assert_eq!(conflicts[0].candidates.len(), 2);
}
