//! Rules of the registries, table by table. Every test builds its clinic by hand so the
//! state under test is visible in the test.

use std::collections::BTreeMap;

use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::{date, datetime};

use super::*;

const T0: OffsetDateTime = datetime!(2026-11-01 09:00 UTC);

fn uid(n: u128) -> UserId {
    UserId(uuid::Uuid::from_u128(n))
}

const DIRECTOR: u128 = 1;
const SECONDARY: u128 = 2;
const DOCTOR: u128 = 3;
const NP: u128 = 4;
const MOA: u128 = 5;
const MOA2: u128 = 6;
const REQUESTED: u128 = 7;
const APPROVED: u128 = 8;
const GONE: u128 = 9;
const STRANGER: u128 = 99;

fn m(user: u128, role: Role, state: MemberState) -> (UserId, Membership) {
    (
        uid(user),
        Membership {
            user: uid(user),
            role,
            state,
            since: T0,
            changed_at: T0,
            changed_by: uid(DIRECTOR),
        },
    )
}

/// A clinic with one member in every interesting state.
fn clinic() -> Clinic {
    let mut c = Clinic::new(
        ClinicId(uuid::Uuid::from_u128(1000)),
        ClinicProfile::default(),
        uid(DIRECTOR),
        Role::Director,
        T0,
    );
    c.members.extend([
        m(SECONDARY, Role::MedicalOfficeAssistant, MemberState::Active),
        m(DOCTOR, Role::Physician, MemberState::Active),
        m(NP, Role::NursePractitioner, MemberState::Active),
        m(MOA, Role::MedicalOfficeAssistant, MemberState::Active),
        m(MOA2, Role::OtherStaff, MemberState::Active),
        m(REQUESTED, Role::Physician, MemberState::Requested),
        m(
            APPROVED,
            Role::MedicalOfficeAssistant,
            MemberState::Approved,
        ),
        m(GONE, Role::Physician, MemberState::Deactivated),
    ]);
    c.secondary = Some(uid(SECONDARY));
    c
}

fn with_delegation(
    mut c: Clinic,
    provider: u128,
    delegate: u128,
    state: DelegationState,
) -> Clinic {
    let id = DelegationId(uuid::Uuid::from_u128(5000 + provider * 100 + delegate));
    c.delegations.insert(
        id,
        Delegation {
            id,
            provider: uid(provider),
            delegate: uid(delegate),
            started_by: Side::Provider,
            state,
            created_at: T0,
            confirmed_at: None,
            revoked_at: None,
            revoked_by: None,
        },
    );
    c
}

// ---------------------------------------------------------------------------
// Who is who
// ---------------------------------------------------------------------------

#[test]
fn account_managers_are_the_primary_and_an_active_secondary() {
    let c = clinic();
    for (user, want) in [
        (DIRECTOR, true),
        (SECONDARY, true),
        (DOCTOR, false),
        (MOA, false),
        (STRANGER, false),
    ] {
        assert_eq!(c.is_account_manager(uid(user)), want, "user {user}");
    }
    // A secondary who is deactivated, or equal to the primary, is no secondary.
    let mut c2 = clinic();
    c2.members.get_mut(&uid(SECONDARY)).unwrap().state = MemberState::Deactivated;
    assert_eq!(c2.effective_secondary(), None);
    assert!(!c2.is_account_manager(uid(SECONDARY)));
    let mut c3 = clinic();
    c3.secondary = Some(uid(DIRECTOR));
    assert_eq!(c3.effective_secondary(), None);
}

#[test]
fn only_physicians_and_nps_are_licensed() {
    for (role, licensed) in [
        (Role::Physician, true),
        (Role::NursePractitioner, true),
        (Role::Director, false),
        (Role::MedicalOfficeAssistant, false),
        (Role::OtherStaff, false),
    ] {
        assert_eq!(role.is_licensed(), licensed, "{role:?}");
    }
    let c = clinic();
    let providers: Vec<_> = c.providers().map(|m| m.user).collect();
    assert_eq!(providers, [uid(DOCTOR), uid(NP)]);
}

#[test]
fn who_may_manage_a_panel() {
    let c = with_delegation(clinic(), DOCTOR, MOA, DelegationState::Active);
    let c = with_delegation(c, NP, MOA2, DelegationState::Pending);
    for (actor, provider, want) in [
        (DOCTOR, DOCTOR, true),    // their own panel
        (MOA, DOCTOR, true),       // endorsed
        (MOA, NP, false),          // endorsed by someone else
        (MOA2, NP, false),         // endorsement not confirmed
        (NP, DOCTOR, false),       // another provider
        (DIRECTOR, DOCTOR, false), // managing the clinic is not managing a panel
        (STRANGER, DOCTOR, false),
        (MOA, MOA, false),   // staff have no panel
        (GONE, GONE, false), // deactivated provider
    ] {
        assert_eq!(
            c.can_manage_panel(uid(actor), uid(provider)),
            want,
            "{actor} on {provider}"
        );
    }
    // A revoked endorsement, or a deactivated delegate, gives nothing.
    let revoked = with_delegation(clinic(), DOCTOR, MOA, DelegationState::Revoked);
    assert!(!revoked.can_manage_panel(uid(MOA), uid(DOCTOR)));
    let mut gone = with_delegation(clinic(), DOCTOR, MOA, DelegationState::Active);
    gone.members.get_mut(&uid(MOA)).unwrap().state = MemberState::Deactivated;
    assert!(!gone.can_manage_panel(uid(MOA), uid(DOCTOR)));
}

#[test]
fn password_resets_stay_inside_the_clinic() {
    let c = clinic();
    assert!(c.can_reset_password(uid(DIRECTOR), uid(DOCTOR)));
    assert!(c.can_reset_password(uid(SECONDARY), uid(GONE)));
    assert!(
        !c.can_reset_password(uid(DIRECTOR), uid(STRANGER)),
        "not a member here"
    );
    assert!(
        !c.can_reset_password(uid(DOCTOR), uid(MOA)),
        "not a manager"
    );
}

// ---------------------------------------------------------------------------
// Membership transitions
// ---------------------------------------------------------------------------

type Transition = fn(&Clinic, UserId, UserId, OffsetDateTime) -> Result<Membership, DomainError>;

#[test]
fn membership_transition_table() {
    let t1 = datetime!(2026-11-02 10:00 UTC);
    let cases: &[(&str, Transition, u128, Result<MemberState, &str>)] = &[
        ("approve", approve, REQUESTED, Ok(MemberState::Approved)),
        ("approve", approve, APPROVED, Err("invalid_transition")),
        ("approve", approve, DOCTOR, Err("invalid_transition")),
        ("decline", decline, REQUESTED, Ok(MemberState::Declined)),
        ("decline", decline, DOCTOR, Err("invalid_transition")),
        ("activate", activate, APPROVED, Ok(MemberState::Active)),
        ("activate", activate, GONE, Ok(MemberState::Active)),
        ("activate", activate, REQUESTED, Err("invalid_transition")),
        ("activate", activate, DOCTOR, Err("invalid_transition")),
        (
            "deactivate",
            deactivate,
            DOCTOR,
            Ok(MemberState::Deactivated),
        ),
        (
            "deactivate",
            deactivate,
            APPROVED,
            Ok(MemberState::Deactivated),
        ),
        ("deactivate", deactivate, GONE, Err("invalid_transition")),
        ("deactivate", deactivate, DIRECTOR, Err("conflict")),
        ("approve", approve, STRANGER, Err("not_found")),
    ];
    let c = clinic();
    for (name, f, target, want) in cases {
        for manager in [DIRECTOR, SECONDARY] {
            let got = f(&c, uid(manager), uid(*target), t1);
            match (want, got) {
                (Ok(state), Ok(m)) => {
                    assert_eq!(m.state, *state, "{name} {target}");
                    assert_eq!((m.changed_at, m.changed_by), (t1, uid(manager)));
                    assert_eq!(m.since, T0, "since is kept");
                    assert_eq!(m.role, c.members[&uid(*target)].role, "role is kept");
                }
                (Err(code), Err(e)) => assert_eq!(e.code(), *code, "{name} {target}: {e}"),
                (want, got) => panic!("{name} {target} by {manager}: want {want:?}, got {got:?}"),
            }
        }
        // Nobody else may do any of it.
        for actor in [DOCTOR, MOA, REQUESTED, GONE, STRANGER] {
            let err = f(&c, uid(actor), uid(*target), t1).unwrap_err();
            assert_eq!(err.code(), "forbidden", "{name} by {actor}");
        }
    }
}

#[test]
fn join_requests() {
    let c = clinic();
    let m = request_join(&c, uid(STRANGER), Role::Physician, T0).unwrap();
    assert_eq!(
        (m.state, m.changed_by),
        (MemberState::Requested, uid(STRANGER))
    );
    // Already a member (any live state): refused; declined or deactivated may ask again.
    for user in [DOCTOR, REQUESTED, APPROVED] {
        assert_eq!(
            request_join(&c, uid(user), Role::Physician, T0)
                .unwrap_err()
                .code(),
            "conflict"
        );
    }
    assert!(request_join(&c, uid(GONE), Role::Physician, T0).is_ok());
    // Managers add people directly, as approved.
    let added = add_member(&c, uid(DIRECTOR), uid(STRANGER), Role::OtherStaff, T0).unwrap();
    assert_eq!(added.state, MemberState::Approved);
    assert_eq!(
        add_member(&c, uid(DOCTOR), uid(STRANGER), Role::OtherStaff, T0)
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        add_member(&c, uid(DIRECTOR), uid(MOA), Role::OtherStaff, T0)
            .unwrap_err()
            .code(),
        "conflict"
    );
}

#[test]
fn deactivation_touches_only_one_clinic() {
    // The same person at two clinics: rules take one clinic and return one membership.
    let a = clinic();
    let mut b = clinic();
    b.id = ClinicId(uuid::Uuid::from_u128(2000));
    let changed = deactivate(&a, uid(DIRECTOR), uid(DOCTOR), T0).unwrap();
    assert_eq!(changed.state, MemberState::Deactivated);
    assert!(b.is_active_member(uid(DOCTOR)));
    // A manager of clinic A is nobody at a clinic where they are not a member.
    let mut c = clinic();
    c.members.remove(&uid(SECONDARY));
    c.secondary = None;
    assert_eq!(
        deactivate(&c, uid(SECONDARY), uid(DOCTOR), T0)
            .unwrap_err()
            .code(),
        "forbidden"
    );
}

// ---------------------------------------------------------------------------
// Primary and secondary account managers
// ---------------------------------------------------------------------------

#[test]
fn handover_of_the_primary_role() {
    let c = clinic();
    let to_doctor = handover_primary(&c, uid(DIRECTOR), uid(DOCTOR)).unwrap();
    assert_eq!(
        to_doctor,
        ManagerChange {
            primary: uid(DOCTOR),
            secondary: Some(uid(SECONDARY))
        }
    );
    // Handing to the secondary leaves the clinic without one (never primary = secondary).
    let to_secondary = handover_primary(&c, uid(DIRECTOR), uid(SECONDARY)).unwrap();
    assert_eq!(
        to_secondary,
        ManagerChange {
            primary: uid(SECONDARY),
            secondary: None
        }
    );
    for (actor, to, code) in [
        (SECONDARY, DOCTOR, "forbidden"),
        (DOCTOR, DOCTOR, "forbidden"),
        (DIRECTOR, DIRECTOR, "invalid_transition"),
        (DIRECTOR, APPROVED, "conflict"),
        (DIRECTOR, GONE, "conflict"),
        (DIRECTOR, STRANGER, "conflict"),
    ] {
        assert_eq!(
            handover_primary(&c, uid(actor), uid(to))
                .unwrap_err()
                .code(),
            code,
            "{actor}→{to}"
        );
    }
}

#[test]
fn assigning_the_secondary() {
    let c = clinic();
    assert_eq!(
        set_secondary(&c, uid(DIRECTOR), Some(uid(DOCTOR))).unwrap(),
        Some(uid(DOCTOR))
    );
    assert_eq!(set_secondary(&c, uid(DIRECTOR), None).unwrap(), None);
    for (actor, to, code) in [
        (SECONDARY, Some(DOCTOR), "forbidden"),
        (DOCTOR, Some(DOCTOR), "forbidden"),
        (DIRECTOR, Some(DIRECTOR), "conflict"),
        (DIRECTOR, Some(GONE), "conflict"),
        (DIRECTOR, Some(STRANGER), "conflict"),
    ] {
        let got = set_secondary(&c, uid(actor), to.map(uid)).unwrap_err();
        assert_eq!(got.code(), code, "{actor} sets {to:?}");
    }
}

// ---------------------------------------------------------------------------
// Clinic-defined statuses
// ---------------------------------------------------------------------------

#[test]
fn clinic_statuses() {
    let mut c = clinic();
    let id = StatusId(uuid::Uuid::from_u128(77));
    let s = create_status(&c, uid(DIRECTOR), id, " Moved away ", "Left the community").unwrap();
    assert_eq!((s.name.as_str(), s.retired), ("Moved away", false));
    c.statuses.insert(id, s);
    for (name, definition, field) in [
        ("moved AWAY", "dup", "name"),
        ("Active", "built in", "name"),
        ("inactive", "built in", "name"),
        ("", "empty", "name"),
        ("Palliative", " ", "definition"),
    ] {
        match create_status(&c, uid(DIRECTOR), StatusId::new(), name, definition) {
            Err(DomainError::Validation(v)) => assert_eq!(v[0].field, field, "{name:?}"),
            other => panic!("{name:?}: {other:?}"),
        }
    }
    assert_eq!(
        create_status(&c, uid(DOCTOR), StatusId::new(), "X", "y")
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert!(check_status_assignable(&c, PatientStatus::Custom(id)).is_ok());
    let retired = retire_status(&c, uid(SECONDARY), id).unwrap();
    assert!(retired.retired);
    c.statuses.insert(id, retired);
    assert_eq!(
        check_status_assignable(&c, PatientStatus::Custom(id))
            .unwrap_err()
            .code(),
        "validation"
    );
    // The name is free again once retired.
    assert!(create_status(&c, uid(DIRECTOR), StatusId::new(), "Moved away", "again").is_ok());
    assert_eq!(
        edit_status(&c, uid(DIRECTOR), id, "Moved out of BC")
            .unwrap()
            .definition,
        "Moved out of BC"
    );
    assert_eq!(
        edit_status(&c, uid(DIRECTOR), StatusId::new(), "x")
            .unwrap_err()
            .code(),
        "not_found"
    );
    let unknown = PatientStatus::Custom(StatusId::new());
    assert_eq!(
        check_status_assignable(&c, unknown).unwrap_err().code(),
        "validation"
    );
    assert!(check_status_assignable(&c, PatientStatus::Inactive).is_ok());
}

// ---------------------------------------------------------------------------
// Delegation
// ---------------------------------------------------------------------------

#[test]
fn either_side_starts_and_the_other_confirms() {
    let c = clinic();
    let id = DelegationId::new();
    for (starter, side, confirmer) in [(DOCTOR, Side::Provider, MOA), (MOA, Side::Delegate, DOCTOR)]
    {
        let d = start_delegation(&c, id, uid(starter), uid(DOCTOR), uid(MOA), T0).unwrap();
        assert_eq!((d.state, d.started_by), (DelegationState::Pending, side));
        let mut c2 = c.clone();
        c2.delegations.insert(id, d);
        assert!(
            !c2.can_manage_panel(uid(MOA), uid(DOCTOR)),
            "pending gives nothing"
        );
        assert_eq!(
            confirm_delegation(&c2, id, uid(starter), T0)
                .unwrap_err()
                .code(),
            "forbidden"
        );
        assert_eq!(
            confirm_delegation(&c2, id, uid(DIRECTOR), T0)
                .unwrap_err()
                .code(),
            "forbidden"
        );
        let confirmed = confirm_delegation(&c2, id, uid(confirmer), T0).unwrap();
        assert_eq!(confirmed.state, DelegationState::Active);
        c2.delegations.insert(id, confirmed);
        assert!(c2.can_manage_panel(uid(MOA), uid(DOCTOR)));
        assert_eq!(
            confirm_delegation(&c2, id, uid(confirmer), T0)
                .unwrap_err()
                .code(),
            "invalid_transition"
        );
        // Either side, or a manager, revokes; then access is gone.
        for revoker in [DOCTOR, MOA, SECONDARY] {
            let r = revoke_delegation(&c2, id, uid(revoker), T0).unwrap();
            assert_eq!(
                (r.state, r.revoked_by),
                (DelegationState::Revoked, Some(uid(revoker)))
            );
            let mut c3 = c2.clone();
            c3.delegations.insert(id, r);
            assert!(!c3.can_manage_panel(uid(MOA), uid(DOCTOR)));
            assert_eq!(
                revoke_delegation(&c3, id, uid(revoker), T0)
                    .unwrap_err()
                    .code(),
                "invalid_transition"
            );
        }
        assert_eq!(
            revoke_delegation(&c2, id, uid(NP), T0).unwrap_err().code(),
            "forbidden"
        );
    }
}

#[test]
fn who_can_endorse_whom() {
    let c = with_delegation(clinic(), DOCTOR, MOA2, DelegationState::Pending);
    let id = DelegationId::new();
    for (actor, provider, delegate, code) in [
        (NP, DOCTOR, MOA, "forbidden"),         // a third person
        (MOA, MOA, MOA2, "conflict"),           // staff cannot endorse
        (DOCTOR, DOCTOR, NP, "conflict"),       // a licensed delegate is not staff
        (DOCTOR, DOCTOR, APPROVED, "conflict"), // not yet active
        (GONE, GONE, MOA, "conflict"),          // deactivated provider
        (DOCTOR, DOCTOR, MOA2, "conflict"),     // already pending
        (DOCTOR, DOCTOR, STRANGER, "conflict"),
    ] {
        let err =
            start_delegation(&c, id, uid(actor), uid(provider), uid(delegate), T0).unwrap_err();
        assert_eq!(err.code(), code, "{actor}: {provider}→{delegate}");
    }
    // A director without a licence is staff and may be endorsed.
    assert!(start_delegation(&c, id, uid(DOCTOR), uid(DOCTOR), uid(DIRECTOR), T0).is_ok());
}

// ---------------------------------------------------------------------------
// Panels
// ---------------------------------------------------------------------------

fn details(phn_body: u32) -> PatientDetails {
    PatientDetails {
        // The next body with a valid check digit (about one in eleven has none).
        phn: (phn_body * 10..).find_map(Phn::from_body).unwrap(),
        family_name: "Tremblay".into(),
        given_names: "Marie".into(),
        date_of_birth: date!(1980 - 01 - 01),
        sex: Sex::Female,
        contact: Contact::default(),
        community: "Smithers".into(),
        last_visit: None,
    }
}

#[test]
fn a_patient_is_on_at_most_one_panel_per_clinic() {
    let c = with_delegation(clinic(), DOCTOR, MOA, DelegationState::Active);
    let e = add_to_panel(
        &c,
        uid(MOA),
        uid(DOCTOR),
        details(1),
        PatientStatus::Active,
        HowAdded::Manual,
        &[],
        T0,
    )
    .unwrap();
    assert_eq!(
        (e.provider, e.added_by, e.clinic),
        (uid(DOCTOR), uid(MOA), c.id)
    );
    // Same panel again: duplicate. Another provider at this clinic: refused, naming them.
    let dup = add_to_panel(
        &c,
        uid(DOCTOR),
        uid(DOCTOR),
        details(1),
        PatientStatus::Active,
        HowAdded::Manual,
        std::slice::from_ref(&e),
        T0,
    )
    .unwrap_err();
    assert!(dup.to_string().contains("already on this panel"), "{dup}");
    let other = add_to_panel(
        &c,
        uid(NP),
        uid(NP),
        details(1),
        PatientStatus::Active,
        HowAdded::Manual,
        std::slice::from_ref(&e),
        T0,
    )
    .unwrap_err();
    assert!(
        other.to_string().contains(&uid(DOCTOR).to_string()),
        "{other}"
    );
    // Once removed there, the NP may add them; the removed entry of the same panel is revived.
    let removed = remove_from_panel(e.clone(), uid(DOCTOR), "moved to Terrace", T0).unwrap();
    assert!(
        add_to_panel(
            &c,
            uid(NP),
            uid(NP),
            details(1),
            PatientStatus::Active,
            HowAdded::Manual,
            std::slice::from_ref(&removed),
            T0
        )
        .is_ok()
    );
    let back = add_to_panel(
        &c,
        uid(DOCTOR),
        uid(DOCTOR),
        details(1),
        PatientStatus::Inactive,
        HowAdded::CsvUpload,
        &[removed],
        T0,
    )
    .unwrap();
    assert_eq!(back.id, e.id);
    assert_eq!(
        (back.removed.clone(), back.status),
        (None, PatientStatus::Inactive)
    );
    // An entry at another clinic does not count.
    let mut elsewhere = e.clone();
    elsewhere.clinic = ClinicId::new();
    assert!(
        add_to_panel(
            &c,
            uid(NP),
            uid(NP),
            details(1),
            PatientStatus::Active,
            HowAdded::Manual,
            &[elsewhere],
            T0
        )
        .is_ok()
    );
}

#[test]
fn panel_changes_need_the_provider_or_a_delegate() {
    let c = clinic();
    for actor in [MOA, DIRECTOR, NP, STRANGER] {
        let err = add_to_panel(
            &c,
            uid(actor),
            uid(DOCTOR),
            details(2),
            PatientStatus::Active,
            HowAdded::Manual,
            &[],
            T0,
        )
        .unwrap_err();
        assert_eq!(err.code(), "forbidden", "{actor}");
    }
    let retired_id = StatusId::new();
    let mut c2 = clinic();
    c2.statuses.insert(
        retired_id,
        StatusDefinition {
            id: retired_id,
            name: "Old".into(),
            definition: "x".into(),
            retired: true,
        },
    );
    let err = add_to_panel(
        &c2,
        uid(DOCTOR),
        uid(DOCTOR),
        details(2),
        PatientStatus::Custom(retired_id),
        HowAdded::Manual,
        &[],
        T0,
    )
    .unwrap_err();
    assert_eq!(err.code(), "validation");
}

#[test]
fn removal_needs_a_reason_and_happens_once() {
    let c = clinic();
    let e = add_to_panel(
        &c,
        uid(DOCTOR),
        uid(DOCTOR),
        details(3),
        PatientStatus::Active,
        HowAdded::Manual,
        &[],
        T0,
    )
    .unwrap();
    assert_eq!(
        remove_from_panel(e.clone(), uid(DOCTOR), "  ", T0)
            .unwrap_err()
            .code(),
        "validation"
    );
    let r = remove_from_panel(e, uid(DOCTOR), " deceased ", T0).unwrap();
    assert_eq!(
        r.removed.as_ref().map(|r| r.reason.as_str()),
        Some("deceased")
    );
    assert_eq!(
        remove_from_panel(r, uid(DOCTOR), "again", T0)
            .unwrap_err()
            .code(),
        "invalid_transition"
    );
}

// ---------------------------------------------------------------------------
// Merge resolution
// ---------------------------------------------------------------------------

fn cv(user: u128, by: u128) -> ConflictValue {
    ConflictValue {
        value: uid(user).to_string(),
        by: Some(uid(by)),
        at: Some(T0),
        kept: false,
    }
}

#[test]
fn concurrent_handovers_are_reported_with_the_kept_value() {
    let mut c = clinic();
    c.primary = uid(DOCTOR); // the value Automerge picked on every replica
    let out = manager_conflicts(
        &c,
        &[cv(NP, DIRECTOR), cv(DOCTOR, DIRECTOR)],
        &[cv(SECONDARY, DIRECTOR)],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, ConflictKind::PrimaryManager);
    let kept: Vec<bool> = out[0].values.iter().map(|v| v.kept).collect();
    assert_eq!(kept, [false, true]);
    assert!(
        manager_conflicts(
            &clinic(),
            &[cv(DIRECTOR, DIRECTOR)],
            &[cv(SECONDARY, DIRECTOR)]
        )
        .is_empty()
    );
}

#[test]
fn the_same_register_value_set_apart_is_no_conflict() {
    // Two replicas both handed over to the same person, or both cleared the secondary.
    let mut c = clinic();
    c.primary = uid(DOCTOR);
    c.secondary = None;
    let cleared = ConflictValue {
        value: String::new(),
        ..cv(SECONDARY, DIRECTOR)
    };
    assert!(
        manager_conflicts(
            &c,
            &[cv(DOCTOR, DIRECTOR), cv(DOCTOR, NP)],
            &[cleared.clone(), cleared]
        )
        .is_empty()
    );
}

#[test]
fn an_invalid_secondary_after_a_merge_is_reported() {
    // One replica handed primary to the secondary while another kept them as secondary.
    let mut c = clinic();
    c.primary = uid(SECONDARY);
    let out = manager_conflicts(&c, &[cv(SECONDARY, DIRECTOR)], &[cv(SECONDARY, DIRECTOR)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, ConflictKind::SecondaryManager);
    assert!(out[0].values.iter().all(|v| !v.kept));
    assert_eq!(c.effective_secondary(), None);
    assert!(c.is_account_manager(uid(SECONDARY)), "still the primary");
}

fn entry(n: u128, provider: u128, phn_body: u32, added_minute: i64, removed: bool) -> PanelEntry {
    PanelEntry {
        id: EntryId(uuid::Uuid::from_u128(n)),
        provider: uid(provider),
        clinic: ClinicId(uuid::Uuid::from_u128(1000)),
        details: details(phn_body),
        status: PatientStatus::Active,
        mrp: None,
        added_at: T0 + time::Duration::minutes(added_minute),
        added_by: uid(provider),
        how_added: HowAdded::Manual,
        review: Default::default(),
        removed: removed.then(|| Removal {
            at: T0,
            by: uid(provider),
            reason: "r".into(),
            disposition: Default::default(),
        }),
    }
}

#[test]
fn panel_clash_keeps_the_earliest_entry() {
    let entries = vec![
        entry(10, DOCTOR, 5, 3, false),
        entry(11, NP, 5, 1, false),  // earliest: kept
        entry(12, GONE, 5, 0, true), // removed: not in the clash
        entry(13, NP, 6, 0, false),  // alone: no clash
    ];
    let out = panel_clashes(&entries);
    assert_eq!(out.len(), 1);
    let kept: Vec<(bool, Option<UserId>)> = out[0].values.iter().map(|v| (v.kept, v.by)).collect();
    assert_eq!(kept, [(true, Some(uid(NP))), (false, Some(uid(DOCTOR)))]);
    assert_eq!(kept_entry(&entries[..3]).map(|e| e.id), Some(entries[1].id));
    // Same time: the lower entry id wins.
    let tie = vec![entry(21, DOCTOR, 7, 0, false), entry(20, NP, 7, 0, false)];
    assert_eq!(kept_entry(&tie).map(|e| e.id), Some(tie[1].id));
    assert!(
        !out[0].subject.contains(&entries[0].details.phn.to_string()),
        "no PHN in the subject"
    );
}

proptest! {
    #[test]
    fn clash_resolution_ignores_input_order(
        specs in prop::collection::vec((0u128..6, 0u32..8, 0i64..5, any::<bool>()), 1..40),
        seed in any::<u64>(),
    ) {
        let entries: Vec<PanelEntry> = specs
            .iter()
            .enumerate()
            .map(|(i, (p, phn, t, removed))| entry(i as u128 + 100, *p + 1, *phn, *t, *removed))
            .collect();
        let mut shuffled = entries.clone();
        // Deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        prop_assert_eq!(panel_clashes(&entries), panel_clashes(&shuffled));
        // Exactly one kept value per clash, and clashes are exactly the PHNs with 2+ live entries.
        let mut live: BTreeMap<Phn, usize> = BTreeMap::new();
        for e in entries.iter().filter(|e| e.removed.is_none()) {
            *live.entry(e.details.phn).or_default() += 1;
        }
        let out = panel_clashes(&entries);
        prop_assert_eq!(out.len(), live.values().filter(|n| **n > 1).count());
        for c in &out {
            prop_assert_eq!(c.values.iter().filter(|v| v.kept).count(), 1);
        }
    }
}

#[test]
fn status_keys_round_trip_and_refuse_unknown_words() {
    let custom = PatientStatus::Custom(crate::StatusId::new());
    for s in [PatientStatus::Active, PatientStatus::Inactive, custom] {
        assert_eq!(PatientStatus::from_key(&s.key()), Some(s));
    }
    assert_eq!(PatientStatus::from_key("deceased"), None);
    assert_eq!(PatientStatus::from_key(""), None);
}
