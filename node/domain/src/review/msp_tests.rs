//! MSP reconciliation: each list, name comparison, removed and clashing entries, keys, and
//! by property that every PHN lands in exactly one place.

use std::collections::BTreeSet;
use std::time::Instant;

use proptest::prelude::*;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

use super::*;
use crate::ids::{ClinicId, UserId};
use crate::types::{Contact, HowAdded, PatientDetails, PatientStatus, Removal};

const T0: OffsetDateTime = datetime!(2026-01-01 09:00 UTC);
const DOB: Date = date!(1985 - 07 - 31);

fn phn(i: u32) -> Phn {
    // Bodies with no check digit are skipped by stepping on; every `i` gives a distinct PHN.
    (i * 11..)
        .find_map(Phn::from_body)
        .expect("some body nearby has a check digit")
}

fn patient(i: u32) -> MspPatient {
    MspPatient {
        phn: phn(i),
        family_name: "Nguyen".into(),
        given_names: "Mary Ann".into(),
        date_of_birth: DOB,
        sex: Sex::Female,
        deceased: None,
    }
}

fn entry_id(i: u32) -> EntryId {
    EntryId(uuid::Uuid::from_u128(1_000 + u128::from(i)))
}

fn entry(i: u32) -> PanelEntry {
    PanelEntry {
        id: entry_id(i),
        provider: UserId(uuid::Uuid::from_u128(3)),
        clinic: ClinicId(uuid::Uuid::from_u128(1)),
        details: PatientDetails {
            phn: phn(i),
            family_name: "Nguyen".into(),
            given_names: "Mary Ann".into(),
            date_of_birth: DOB,
            sex: Sex::Female,
            contact: Contact::default(),
            community: String::new(),
            last_visit: None,
        },
        status: PatientStatus::Active,
        mrp: None,
        added_at: T0,
        added_by: UserId(uuid::Uuid::from_u128(3)),
        how_added: HowAdded::Manual,
        review: Default::default(),
        removed: None,
    }
}

fn removed(mut e: PanelEntry) -> PanelEntry {
    e.removed = Some(Removal {
        at: T0,
        by: UserId(uuid::Uuid::from_u128(3)),
        reason: "moved away".into(),
        disposition: Default::default(),
    });
    e
}

fn phns<'a>(it: impl IntoIterator<Item = &'a Phn>) -> Vec<Phn> {
    it.into_iter().copied().collect()
}

#[test]
fn identical_lists_agree() {
    let msp: Vec<_> = (0..5).map(patient).collect();
    let panel: Vec<_> = (0..5).rev().map(entry).collect();
    let r = reconcile(&msp, &panel);
    assert!(r.is_empty(), "{r:?}");
    assert!(r.keys().is_empty());
}

#[test]
fn patients_on_one_list_only_are_listed_by_phn() {
    let msp = vec![patient(4), patient(1), patient(2)];
    let panel = vec![entry(3), entry(2), entry(5)];
    let r = reconcile(&msp, &panel);
    assert_eq!(
        phns(r.only_msp.iter().map(|p| &p.phn)),
        vec![phn(1), phn(4)]
    );
    assert_eq!(
        r.only_attach,
        vec![
            OnlyAttach {
                entry: entry_id(3),
                phn: phn(3)
            },
            OnlyAttach {
                entry: entry_id(5),
                phn: phn(5)
            },
        ]
    );
    assert!(r.differences.is_empty());
    // The MSP patient comes back whole, for the clinic to add.
    assert_eq!(r.only_msp[0], patient(1));
}

#[test]
fn every_field_can_differ_and_differences_come_in_field_order() {
    let mut p = patient(1);
    p.family_name = "  Tran ".into();
    p.given_names = "Mary   Beth".into();
    p.date_of_birth = date!(1985 - 07 - 13);
    p.sex = Sex::X;
    p.deceased = Some(date!(2026 - 11 - 30));
    let r = reconcile(&[p], &[entry(1)]);
    assert!(r.only_msp.is_empty() && r.only_attach.is_empty());
    let got: Vec<(DiffField, &str, &str)> = r
        .differences
        .iter()
        .map(|d| (d.field, d.attach.as_str(), d.msp.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (DiffField::FamilyName, "Nguyen", "Tran"),
            (DiffField::GivenNames, "Mary Ann", "Mary Beth"),
            (DiffField::DateOfBirth, "1985-07-31", "1985-07-13"),
            (DiffField::Sex, "female", "x"),
            (DiffField::Deceased, "", "2026-11-30"),
        ]
    );
    assert!(
        r.differences
            .iter()
            .all(|d| d.entry == entry_id(1) && d.phn == phn(1))
    );
    let keys = r.keys();
    assert_eq!(
        keys,
        vec![
            format!("diff:{}:family_name:tran", phn(1)),
            format!("diff:{}:given_names:mary beth", phn(1)),
            format!("diff:{}:date_of_birth:1985-07-13", phn(1)),
            format!("diff:{}:sex:x", phn(1)),
            format!("diff:{}:deceased:2026-11-30", phn(1)),
        ]
    );
}

#[test]
fn names_ignore_case_and_spacing_but_not_accents() {
    let same = [
        ("Nguyen", "NGUYEN"),
        ("Nguyen", "  nguyen\t"),
        ("Mary Ann", "mary  ann"),
        ("Mary Ann", "Mary\u{a0}Ann"),
        ("Élise", "ÉLISE"),
        ("Élise", "élise"),
    ];
    for (attach, msp) in same {
        let mut e = entry(1);
        e.details.family_name = attach.into();
        let mut p = patient(1);
        p.family_name = msp.into();
        assert!(
            reconcile(&[p], &[e]).differences.is_empty(),
            "{attach:?} vs {msp:?}"
        );
    }
    let different = [
        ("Élise", "Elise"),
        ("Mary Ann", "Mary-Ann"),
        ("Mary Ann", "MaryAnn"),
    ];
    for (attach, msp) in different {
        let mut e = entry(1);
        e.details.given_names = attach.into();
        let mut p = patient(1);
        p.given_names = msp.into();
        let r = reconcile(&[p], &[e]);
        assert_eq!(r.differences.len(), 1, "{attach:?} vs {msp:?}");
        assert_eq!(r.differences[0].field, DiffField::GivenNames);
    }
}

#[test]
fn removed_entries_are_not_on_the_panel() {
    // Removed and on MSP: MSP-only. Removed and not on MSP: nowhere.
    let panel = vec![removed(entry(1)), removed(entry(2)), entry(3)];
    let r = reconcile(&[patient(1), patient(3)], &panel);
    assert_eq!(phns(r.only_msp.iter().map(|p| &p.phn)), vec![phn(1)]);
    assert!(r.only_attach.is_empty());
    assert!(r.differences.is_empty());

    // A removed entry beside a live one for the same patient: the live one is compared.
    let mut old = removed(entry(4));
    old.id = entry_id(40);
    old.details.family_name = "Someone Else".into();
    let r = reconcile(&[patient(4)], &[old, entry(4)]);
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn a_clash_on_the_panel_compares_the_kept_entry_once() {
    let mut early = entry(1);
    early.id = entry_id(90);
    early.details.family_name = "Tran".into();
    let mut late = entry(1);
    late.added_at = T0 + time::Duration::days(1);
    late.details.family_name = "Le".into();
    for panel in [
        vec![early.clone(), late.clone()],
        vec![late.clone(), early.clone()],
    ] {
        let r = reconcile(&[patient(1)], &panel);
        assert_eq!(r.differences.len(), 1);
        assert_eq!(r.differences[0].entry, entry_id(90));
        assert_eq!(r.differences[0].attach, "Tran");
        let r = reconcile(&[], &panel);
        assert_eq!(
            r.only_attach,
            vec![OnlyAttach {
                entry: entry_id(90),
                phn: phn(1)
            }]
        );
    }
}

#[test]
fn a_phn_listed_twice_by_msp_counts_once() {
    let mut second = patient(1);
    second.family_name = "Tran".into();
    let r = reconcile(&[patient(1), second.clone(), patient(2)], &[entry(1)]);
    assert!(r.differences.is_empty(), "the first listing is compared");
    assert_eq!(r.only_msp, vec![patient(2)]);
    let r = reconcile(&[second, patient(1)], &[]);
    assert_eq!(r.only_msp.len(), 1);
    assert_eq!(r.only_msp[0].family_name, "Tran");
}

#[test]
fn keys_are_stable_and_follow_msp_values() {
    let mut p = patient(1);
    p.family_name = "Tran".into();
    let msp = vec![p.clone(), patient(2)];
    let panel = vec![entry(1), entry(3)];
    let first = reconcile(&msp, &panel).keys();
    assert_eq!(
        first,
        vec![
            format!("only_msp:{}", phn(2)),
            format!("only_attach:{}", phn(3)),
            format!("diff:{}:family_name:tran", phn(1)),
        ]
    );
    // Same inputs in another order: same keys.
    let again = reconcile(
        &msp.iter().rev().cloned().collect::<Vec<_>>(),
        &panel.iter().rev().cloned().collect::<Vec<_>>(),
    )
    .keys();
    assert_eq!(first, again);
    // MSP only changes the case or spacing of its value: the same question.
    let mut shouted = p.clone();
    shouted.family_name = " TRAN ".into();
    assert_eq!(reconcile(&[shouted], &panel).differences[0].key(), first[2]);
    // MSP changes the value: a new question.
    let mut changed = p.clone();
    changed.family_name = "Tranh".into();
    assert_ne!(reconcile(&[changed], &panel).differences[0].key(), first[2]);
    // Other MSP fields of an MSP-only patient do not change its key.
    let mut renamed = patient(2);
    renamed.given_names = "Other".into();
    assert_eq!(renamed.key(), patient(2).key());
    // Every key is distinct.
    let unique: BTreeSet<_> = first.iter().collect();
    assert_eq!(unique.len(), first.len());
}

#[test]
fn decided_questions_drop_out_of_a_second_upload() {
    let mut p = patient(1);
    p.sex = Sex::Male;
    p.deceased = Some(date!(2026 - 10 - 01));
    let msp = vec![p, patient(2)];
    let panel = vec![entry(1), entry(3)];
    let first = reconcile(&msp, &panel);
    let decided: BTreeSet<String> = [first.only_msp[0].key(), first.differences[0].key()]
        .into_iter()
        .collect();
    let mut second = reconcile(&msp, &panel);
    second.retain_open(|k| decided.contains(k));
    assert!(second.only_msp.is_empty());
    assert_eq!(second.only_attach, first.only_attach);
    assert_eq!(second.differences.len(), 1);
    assert_eq!(second.differences[0].field, DiffField::Deceased);
}

#[test]
fn diff_fields_round_trip_their_keys() {
    for f in DiffField::ALL {
        assert_eq!(DiffField::from_key(f.key()), Some(f));
        assert!(!f.label().is_empty());
    }
    assert_eq!(DiffField::from_key("phone"), None);
}

#[test]
fn debug_does_not_show_phns() {
    let r = reconcile(&[patient(1)], &[entry(2)]);
    let shown = format!("{r:?}");
    assert!(!shown.contains(&phn(1).to_string()));
    assert!(!shown.contains(&phn(2).to_string()));
}

#[test]
fn a_full_panel_reconciles_quickly() {
    // 2,500 on each side, 2,000 shared, a tenth of those with a different name.
    let msp: Vec<MspPatient> = (0..2_500)
        .map(|i| {
            let mut p = patient(i);
            if i % 10 == 0 {
                p.family_name = "Tran".into();
            }
            p
        })
        .collect();
    let panel: Vec<PanelEntry> = (500..3_000).map(entry).collect();
    let start = Instant::now();
    let r = reconcile(&msp, &panel);
    let took = start.elapsed();
    assert_eq!(r.only_msp.len(), 500);
    assert_eq!(r.only_attach.len(), 500);
    assert_eq!(r.differences.len(), 200);
    // Well under 100 ms even in a debug build.
    assert!(took.as_millis() < 100, "{took:?}");
}

fn arb_patient() -> impl Strategy<Value = MspPatient> {
    (
        0u32..40,
        prop::sample::select(vec!["Nguyen", "NGUYEN", "Tran", "Élise"]),
        prop::sample::select(vec!["Mary Ann", "mary  ann", "Bo"]),
        prop::sample::select(vec![DOB, date!(1990 - 01 - 01)]),
        prop::sample::select(vec![Sex::Female, Sex::Male, Sex::X, Sex::Unknown]),
        prop::option::of(Just(date!(2026 - 01 - 02))),
    )
        .prop_map(|(i, f, g, dob, sex, deceased)| MspPatient {
            phn: phn(i),
            family_name: f.into(),
            given_names: g.into(),
            date_of_birth: dob,
            sex,
            deceased,
        })
}

fn arb_entry() -> impl Strategy<Value = PanelEntry> {
    (arb_patient(), 0u128..1_000, any::<bool>(), 0i64..3).prop_map(|(p, id, gone, day)| {
        let mut e = entry(0);
        e.id = EntryId(uuid::Uuid::from_u128(id));
        e.details.phn = p.phn;
        e.details.family_name = p.family_name;
        e.details.given_names = p.given_names;
        e.details.date_of_birth = p.date_of_birth;
        e.details.sex = p.sex;
        e.added_at = T0 + time::Duration::days(day);
        if gone { removed(e) } else { e }
    })
}

proptest! {
    /// Every PHN of either input is in exactly one place: only MSP, only Attach, or on
    /// both (with zero or more differences); removed entries count as absent; every list
    /// is sorted, every key distinct, and input order changes nothing.
    #[test]
    fn every_phn_lands_in_exactly_one_place(
        msp in prop::collection::vec(arb_patient(), 0..30),
        panel in prop::collection::vec(arb_entry(), 0..30),
    ) {
        // Entry ids distinct but not in list order, so the clash tie-break is exercised.
        let panel: Vec<PanelEntry> = panel
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e.id = EntryId(uuid::Uuid::from_u128(e.id.0.as_u128() * 64 + i as u128));
                e
            })
            .collect();
        let r = reconcile(&msp, &panel);
        let in_msp: BTreeSet<Phn> = msp.iter().map(|p| p.phn).collect();
        let live: BTreeSet<Phn> = panel
            .iter()
            .filter(|e| e.removed.is_none())
            .map(|e| e.details.phn)
            .collect();
        let only_msp: Vec<Phn> = r.only_msp.iter().map(|p| p.phn).collect();
        let only_attach: Vec<Phn> = r.only_attach.iter().map(|a| a.phn).collect();
        prop_assert_eq!(&only_msp, &in_msp.difference(&live).copied().collect::<Vec<_>>());
        prop_assert_eq!(&only_attach, &live.difference(&in_msp).copied().collect::<Vec<_>>());
        let both: BTreeSet<Phn> = in_msp.intersection(&live).copied().collect();
        for d in &r.differences {
            prop_assert!(both.contains(&d.phn));
            let e = panel.iter().find(|e| e.id == d.entry);
            prop_assert!(e.is_some_and(|e| e.details.phn == d.phn && e.removed.is_none()));
        }
        let diff_order: Vec<(Phn, DiffField)> = r.differences.iter().map(|d| (d.phn, d.field)).collect();
        let mut sorted = diff_order.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(&diff_order, &sorted);
        let keys = r.keys();
        prop_assert_eq!(keys.iter().collect::<BTreeSet<_>>().len(), keys.len());

        let mut panel_rev = panel.clone();
        panel_rev.reverse();
        // Reversing MSP's list changes which of two listings of one PHN comes first, so
        // compare with the list of first listings made explicit.
        let mut seen = BTreeSet::new();
        let firsts: Vec<MspPatient> = msp.iter().filter(|p| seen.insert(p.phn)).cloned().collect();
        prop_assert_eq!(&reconcile(&firsts, &panel_rev), &r);
    }
}
