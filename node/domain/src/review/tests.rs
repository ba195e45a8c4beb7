//! Status rules, suggestions, worklists and filters, case by case and by property.

use proptest::prelude::*;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

use super::*;
use crate::ids::{ClinicId, EntryId, UserId};
use crate::phn::Phn;
use crate::types::{
    ClinicProfile, Contact, Dismissal, MrpConfirmation, Role, Stamp, StatusDefinition,
};

const TODAY: Date = date!(2026 - 12 - 02);
const T0: OffsetDateTime = datetime!(2026-01-01 09:00 UTC);

fn clinic() -> Clinic {
    Clinic::new(
        ClinicId(uuid::Uuid::from_u128(1)),
        ClinicProfile::default(),
        UserId(uuid::Uuid::from_u128(2)),
        Role::Director,
        T0,
    )
}

fn entry(dob: Date, last_visit: Option<Date>, status: PatientStatus) -> PanelEntry {
    PanelEntry {
        id: EntryId(uuid::Uuid::from_u128(10)),
        provider: UserId(uuid::Uuid::from_u128(3)),
        clinic: ClinicId(uuid::Uuid::from_u128(1)),
        details: PatientDetails {
            phn: Phn::parse("9123456780").unwrap(),
            family_name: "Alexander".into(),
            given_names: "Charles Édouard".into(),
            date_of_birth: dob,
            sex: Sex::Male,
            contact: Contact {
                phone: "250-555-0100".into(),
                ..Contact::default()
            },
            community: "Prince George".into(),
            last_visit,
        },
        status,
        mrp: None,
        added_at: T0,
        added_by: UserId(uuid::Uuid::from_u128(3)),
        how_added: HowAdded::Manual,
        review: Default::default(),
        removed: None,
    }
}

fn three_year_rules() -> StatusRules {
    StatusRules {
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
                ..StatusRule::default()
            }),
        },
        custom: Default::default(),
    }
}

#[test]
fn ages_and_months_count_whole_units() {
    assert_eq!(age_on(date!(2000 - 12 - 02), TODAY), 26);
    assert_eq!(age_on(date!(2000 - 12 - 03), TODAY), 25);
    assert_eq!(age_on(date!(2030 - 01 - 01), TODAY), 0);
    assert_eq!(age_on(date!(2004 - 02 - 29), date!(2025 - 02 - 28)), 20);
    assert_eq!(age_on(date!(2004 - 02 - 29), date!(2025 - 03 - 01)), 21);
    assert_eq!(months_between(date!(2023 - 12 - 02), TODAY), 36);
    assert_eq!(months_between(date!(2023 - 12 - 03), TODAY), 35);
    assert_eq!(months_between(TODAY, date!(2020 - 01 - 01)), 0);
    // The 31st is a month after on the last day of a shorter month.
    assert_eq!(
        months_between(date!(2026 - 01 - 31), date!(2026 - 02 - 28)),
        1
    );
    assert_eq!(
        months_between(date!(2026 - 01 - 31), date!(2026 - 02 - 27)),
        0
    );
}

#[test]
fn an_active_patient_not_seen_for_three_years_is_suggested_inactive() {
    let mut c = clinic();
    c.status_rules = three_year_rules();
    let old = entry(
        date!(1970 - 05 - 01),
        Some(date!(2023 - 06 - 01)),
        PatientStatus::Active,
    );
    assert_eq!(
        suggested_status(&c, &old, TODAY),
        Some(PatientStatus::Inactive)
    );
    let recent = entry(
        date!(1970 - 05 - 01),
        Some(date!(2025 - 06 - 01)),
        PatientStatus::Active,
    );
    assert_eq!(suggested_status(&c, &recent, TODAY), None);
    let back = entry(
        date!(1970 - 05 - 01),
        Some(date!(2026 - 11 - 01)),
        PatientStatus::Inactive,
    );
    assert_eq!(
        suggested_status(&c, &back, TODAY),
        Some(PatientStatus::Active)
    );
    // No visit recorded: neither rule holds, nothing is suggested.
    let never = entry(date!(1970 - 05 - 01), None, PatientStatus::Active);
    assert_eq!(suggested_status(&c, &never, TODAY), None);
    // A removed entry gets no suggestion.
    let mut gone = old.clone();
    gone.removed = Some(crate::types::Removal {
        at: T0,
        by: gone.provider,
        reason: "moved".into(),
        disposition: Default::default(),
    });
    assert_eq!(suggested_status(&c, &gone, TODAY), None);
}

#[test]
fn an_inactive_rule_alone_still_suggests_for_active_patients() {
    let mut c = clinic();
    c.status_rules.inactive = three_year_rules().inactive;
    let old = entry(
        date!(1970 - 05 - 01),
        Some(date!(2020 - 06 - 01)),
        PatientStatus::Active,
    );
    assert_eq!(
        suggested_status(&c, &old, TODAY),
        Some(PatientStatus::Inactive)
    );
    let recent = entry(
        date!(1970 - 05 - 01),
        Some(date!(2026 - 06 - 01)),
        PatientStatus::Inactive,
    );
    // Inactive's own rule fails and no other rule holds: nothing to suggest.
    assert_eq!(suggested_status(&c, &recent, TODAY), None);
}

#[test]
fn manual_statuses_stand_and_age_rules_come_first() {
    let mut c = clinic();
    c.status_rules = three_year_rules();
    let maternity = StatusId(uuid::Uuid::from_u128(70));
    let pediatric = StatusId(uuid::Uuid::from_u128(71));
    for (id, name) in [(maternity, "Maternity"), (pediatric, "Pediatric")] {
        c.statuses.insert(
            id,
            StatusDefinition {
                id,
                name: name.into(),
                definition: String::new(),
                retired: false,
            },
        );
    }
    c.status_rules.custom.insert(
        pediatric,
        StatusRule {
            max_age: Some(17),
            ..StatusRule::default()
        },
    );
    // A maternity patient (no rule) is left alone even when not seen for years.
    let m = entry(
        date!(1990 - 01 - 01),
        Some(date!(2020 - 01 - 01)),
        PatientStatus::Custom(maternity),
    );
    assert_eq!(suggested_status(&c, &m, TODAY), None);
    // A child is suggested Pediatric ahead of Active.
    let child = entry(
        date!(2015 - 01 - 01),
        Some(date!(2026 - 01 - 01)),
        PatientStatus::Active,
    );
    assert_eq!(
        suggested_status(&c, &child, TODAY),
        Some(PatientStatus::Custom(pediatric))
    );
    // Turning 18 makes the pediatric rule fail: the next rule that holds is suggested.
    let grown = entry(
        date!(2008 - 01 - 01),
        Some(date!(2026 - 01 - 01)),
        PatientStatus::Custom(pediatric),
    );
    assert_eq!(
        suggested_status(&c, &grown, TODAY),
        Some(PatientStatus::Active)
    );
    // A retired status's rule is not tried.
    c.statuses.get_mut(&pediatric).unwrap().retired = true;
    assert_eq!(suggested_status(&c, &child, TODAY), None);
}

#[test]
fn a_dismissed_suggestion_stays_hidden_until_the_rules_say_something_else() {
    let mut c = clinic();
    c.status_rules = three_year_rules();
    let mut e = entry(
        date!(1970 - 05 - 01),
        Some(date!(2020 - 06 - 01)),
        PatientStatus::Active,
    );
    e.review.dismissed = Some(Dismissal {
        status: PatientStatus::Inactive,
        at: T0,
        by: e.provider,
    });
    assert_eq!(open_suggestion(&c, &e, TODAY), None);
    e.review.dismissed.as_mut().unwrap().status = PatientStatus::Active;
    assert_eq!(
        open_suggestion(&c, &e, TODAY),
        Some(PatientStatus::Inactive)
    );
}

#[test]
fn impossible_rules_are_refused_with_the_field_named() {
    let c = clinic();
    let fields = |r: &StatusRules| -> Vec<String> {
        match r.check(&c) {
            Err(DomainError::Validation(v)) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    };
    assert!(three_year_rules().check(&c).is_ok());
    let mut r = three_year_rules();
    r.inactive.rule = Some(StatusRule {
        last_visit: Some(VisitRule::NotSeenFor { months: 24 }),
        ..StatusRule::default()
    });
    assert_eq!(fields(&r), ["inactive.months"]);
    let mut r = StatusRules::default();
    r.active.rule = Some(StatusRule::default());
    assert_eq!(fields(&r), ["active"]);
    r.active.rule = Some(StatusRule {
        last_visit: Some(VisitRule::SeenWithin { months: 0 }),
        min_age: Some(40),
        max_age: Some(20),
    });
    assert_eq!(fields(&r), ["active.months", "active.max_age"]);
    let mut r = StatusRules::default();
    r.custom.insert(
        StatusId(uuid::Uuid::from_u128(5)),
        StatusRule {
            min_age: Some(200),
            ..StatusRule::default()
        },
    );
    assert_eq!(fields(&r).len(), 1);
}

#[test]
fn worklists_hold_what_their_names_say() {
    let facts = EntryFacts {
        today: TODAY,
        suggestion: None,
        on_two_panels: false,
    };
    let mut e = entry(date!(1970 - 05 - 01), None, PatientStatus::Active);
    let holds = |w: Worklist, e: &PanelEntry| w.holds(e, &facts);
    assert!(holds(Worklist::MrpUnconfirmed, &e));
    assert!(!holds(Worklist::MrpOneSide, &e));
    assert!(holds(Worklist::NoVisit, &e));
    assert!(holds(
        Worklist::NotSeenSince {
            date: date!(2024 - 01 - 01)
        },
        &e
    ));
    assert!(holds(Worklist::Contact, &e), "never verified");
    e.mrp = Some(MrpConfirmation {
        at: datetime!(2025-06-01 10:00 UTC),
        by: e.provider,
        how: None,
    });
    assert!(holds(Worklist::MrpOneSide, &e));
    assert!(!holds(Worklist::MrpUnconfirmed, &e));
    e.review.patient_mrp = Some(MrpConfirmation {
        at: datetime!(2026-06-01 10:00 UTC),
        by: e.provider,
        how: Some(crate::types::ConfirmMethod::Phone),
    });
    assert!(!holds(Worklist::MrpOneSide, &e));
    assert!(
        holds(Worklist::MrpStale { months: 12 }, &e),
        "the older side counts"
    );
    assert!(!holds(Worklist::MrpStale { months: 19 }, &e));
    e.details.last_visit = Some(date!(2025 - 01 - 01));
    assert!(!holds(Worklist::NoVisit, &e));
    assert!(!holds(
        Worklist::NotSeenSince {
            date: date!(2024 - 01 - 01)
        },
        &e
    ));
    e.review.contact_verified = Some(Stamp {
        at: T0,
        by: e.provider,
    });
    assert!(!holds(Worklist::Contact, &e));
    e.details.contact.phone.clear();
    assert!(holds(Worklist::Contact, &e), "no phone and no email");
    assert!(!holds(Worklist::TwoPanels, &e));
    let two = EntryFacts {
        on_two_panels: true,
        suggestion: Some(PatientStatus::Inactive),
        ..facts
    };
    assert!(Worklist::TwoPanels.holds(&e, &two));
    assert!(Worklist::SuggestedStatus.holds(&e, &two));
}

#[test]
fn the_front_desk_finds_people_by_birth_date_given_name_and_given_family() {
    let e = entry(date!(2003 - 04 - 14), None, PatientStatus::Active);
    let finds = |q: &str| TextQuery::parse(q).unwrap().matches(&e.details);
    assert!(finds("2003-04-14"));
    assert!(!finds("2003-04-15"));
    assert!(finds("Charles"));
    assert!(finds("édouard"));
    assert!(finds("Charles Alexander"));
    assert!(finds("alex char"));
    assert!(finds("Alexander, Ch"));
    assert!(!finds("Alexander, Ed") || finds("Alexander, Éd"));
    assert!(finds("Alexander, Éd"));
    assert!(!finds("Charles Smith"));
    assert!(finds("9123"));
    assert!(finds("9123 456 780"));
    assert!(!finds("9124"));
    assert_eq!(TextQuery::parse("   "), None);
}

#[test]
fn queries_round_trip_through_url_pairs_and_bad_values_name_their_field() {
    let q = ReviewQuery {
        worklist: Some(Worklist::NotSeenSince {
            date: date!(2023 - 01 - 01),
        }),
        filter: PanelFilter {
            statuses: vec![PatientStatus::Active, PatientStatus::Inactive],
            last_visit_from: Some(date!(2020 - 01 - 01)),
            last_visit_to: Some(date!(2022 - 12 - 31)),
            min_age: Some(50),
            max_age: Some(74),
            sex: Some(Sex::Female),
            mrp: Some(MrpState::ProviderOnly),
            community: Some("Vanderhoof".into()),
            how_added: Some(HowAdded::CsvUpload),
            text: TextQuery::parse("smith, j"),
        },
        search: "smith, j".into(),
    };
    let pairs = q.to_pairs();
    let back = ReviewQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())), TODAY).unwrap();
    assert_eq!(back, q);
    let err = ReviewQuery::from_pairs(
        [
            ("min_age", "old"),
            ("visit_from", "2020-13-01"),
            ("worklist", "nope"),
            ("page", "2"),
        ],
        TODAY,
    )
    .unwrap_err();
    let DomainError::Validation(v) = err else {
        panic!()
    };
    let fields: Vec<&str> = v.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["min_age", "visit_from", "worklist"]);
    assert!(q.describe(|s| s.key()).contains("aged 50 to 74"));
}

fn arb_entry() -> impl Strategy<Value = PanelEntry> {
    (
        0i64..36_000,
        proptest::option::of(0i64..7_000),
        0u8..3,
        0u8..4,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(dob_days, visit_days, status, sex, mrp, pmrp)| {
            let mut e = entry(
                TODAY - time::Duration::days(dob_days),
                visit_days.map(|d| TODAY - time::Duration::days(d)),
                [
                    PatientStatus::Active,
                    PatientStatus::Inactive,
                    PatientStatus::Active,
                ][status as usize],
            );
            e.details.sex = [Sex::Female, Sex::Male, Sex::X, Sex::Unknown][sex as usize];
            e.mrp = mrp.then_some(MrpConfirmation {
                at: T0,
                by: e.provider,
                how: None,
            });
            e.review.patient_mrp = pmrp.then_some(MrpConfirmation {
                at: T0,
                by: e.provider,
                how: None,
            });
            e
        })
}

fn arb_filter() -> impl Strategy<Value = PanelFilter> {
    (
        proptest::option::of(0u32..100),
        proptest::option::of(0u32..100),
        proptest::option::of(0u8..4),
        proptest::option::of(0u8..4),
        proptest::option::of(0i64..7_000),
    )
        .prop_map(|(min_age, max_age, sex, mrp, from)| PanelFilter {
            min_age,
            max_age,
            sex: sex.map(|s| [Sex::Female, Sex::Male, Sex::X, Sex::Unknown][s as usize]),
            mrp: mrp.map(|m| MrpState::ALL[m as usize]),
            last_visit_from: from.map(|d| TODAY - time::Duration::days(d)),
            ..PanelFilter::default()
        })
}

proptest! {
    /// Filters combine as "and": an entry passes two filters' union of conditions exactly
    /// when it passes each alone; the empty filter passes everything.
    #[test]
    fn filters_combine_as_and(e in arb_entry(), a in arb_filter(), b in arb_filter()) {
        prop_assert!(PanelFilter::default().matches(&e, TODAY));
        let both = PanelFilter {
            min_age: a.min_age,
            max_age: a.max_age,
            sex: a.sex,
            mrp: b.mrp,
            last_visit_from: b.last_visit_from,
            ..PanelFilter::default()
        };
        let left = PanelFilter { min_age: a.min_age, max_age: a.max_age, sex: a.sex, ..PanelFilter::default() };
        let right = PanelFilter { mrp: b.mrp, last_visit_from: b.last_visit_from, ..PanelFilter::default() };
        prop_assert_eq!(both.matches(&e, TODAY), left.matches(&e, TODAY) && right.matches(&e, TODAY));
    }

    /// The MRP filter partitions a panel: every entry is in exactly one state, and the
    /// one-side and unconfirmed worklists are exactly their states.
    #[test]
    fn mrp_states_partition(e in arb_entry()) {
        let states: Vec<MrpState> = MrpState::ALL
            .into_iter()
            .filter(|m| PanelFilter { mrp: Some(*m), ..PanelFilter::default() }.matches(&e, TODAY))
            .collect();
        prop_assert_eq!(states.len(), 1);
        let facts = EntryFacts { today: TODAY, suggestion: None, on_two_panels: false };
        prop_assert_eq!(Worklist::MrpUnconfirmed.holds(&e, &facts), states[0] == MrpState::Neither);
        prop_assert_eq!(
            Worklist::MrpOneSide.holds(&e, &facts),
            matches!(states[0], MrpState::ProviderOnly | MrpState::PatientOnly)
        );
    }

    /// With non-overlapping active/inactive visit rules, a suggestion always names a status
    /// whose rule holds, never the stored one, and applying it leaves nothing to suggest.
    #[test]
    fn suggestions_are_stable(e in arb_entry(), within in 1u32..120, gap in 0u32..60) {
        let mut c = clinic();
        c.status_rules.active.rule = Some(StatusRule { last_visit: Some(VisitRule::SeenWithin { months: within }), ..StatusRule::default() });
        c.status_rules.inactive.rule = Some(StatusRule { last_visit: Some(VisitRule::NotSeenFor { months: within + gap }), ..StatusRule::default() });
        prop_assert!(c.status_rules.check(&c).is_ok());
        if let Some(s) = suggested_status(&c, &e, TODAY) {
            prop_assert_ne!(s, e.status);
            prop_assert!(c.status_rules.rule_of(s).unwrap().matches(&e.details, TODAY));
            let mut applied = e.clone();
            applied.status = s;
            prop_assert_eq!(suggested_status(&c, &applied, TODAY), None);
        }
    }

    /// The search (which compares without allocating) finds exactly what a plain reading of
    /// its rules finds: lower-case both sides, split the names into words, compare prefixes.
    #[test]
    fn name_search_agrees_with_a_plain_reading(
        given in "[A-Za-zÉéÖöΣσ' -]{0,14}",
        family in "[A-Za-zÉéÖöΣσ' -]{0,14}",
        query in "[A-Za-zÉéÖöΣσ ,-]{1,10}",
        community in "[A-Za-zÉé ]{0,6}",
        asked in "[A-Za-zÉé ]{0,6}",
    ) {
        let mut e = entry(date!(1980 - 01 - 01), None, PatientStatus::Active);
        e.details.given_names = given.clone();
        e.details.family_name = family.clone();
        e.details.community = community.clone();
        let low = |s: &str| s.trim().chars().flat_map(char::to_lowercase).collect::<String>();
        let words = |s: &str| -> Vec<String> {
            s.split(|c: char| c.is_whitespace() || c == '-' || c == '\'' || c == ',')
                .filter(|w| !w.is_empty())
                .map(low)
                .collect()
        };
        if let Some(q) = TextQuery::parse(&query) {
            let expected = match &q {
                TextQuery::FamilyGiven { family: f, given: g } => {
                    low(&family).starts_with(f.as_str())
                        && (g.is_empty()
                            || low(&given).starts_with(g.as_str())
                            || words(&given).iter().any(|w| w.starts_with(g.as_str())))
                }
                TextQuery::Words(ws) => {
                    let names: Vec<String> = words(&given).into_iter().chain(words(&family)).collect();
                    ws.iter().all(|w| names.iter().any(|n| n.starts_with(w.as_str())))
                }
                TextQuery::Phn(_) | TextQuery::Birth(_) => q.matches(&e.details),
            };
            prop_assert_eq!(q.matches(&e.details), expected, "{:?} on {:?} / {:?}", q, given, family);
        }
        let f = PanelFilter { community: Some(asked.clone()), ..PanelFilter::default() };
        prop_assert_eq!(f.matches(&e, TODAY), low(&community) == low(&asked));
    }

    /// A query survives its URL form whatever filters it holds.
    #[test]
    fn query_pairs_round_trip(f in arb_filter()) {
        prop_assume!(f.min_age.zip(f.max_age).is_none_or(|(a, b)| a <= b));
        let q = ReviewQuery { worklist: Some(Worklist::MrpStale { months: 18 }), filter: f, search: String::new() };
        let pairs = q.to_pairs();
        let back = ReviewQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())), TODAY).unwrap();
        prop_assert_eq!(back, q);
    }
}

#[test]
fn a_rule_reads_as_words() {
    let r = StatusRule {
        last_visit: Some(VisitRule::NotSeenFor { months: 36 }),
        min_age: Some(0),
        max_age: Some(17),
    };
    assert_eq!(
        r.to_string(),
        "not seen for 36 months or more; aged 0 to 17"
    );
    let r = StatusRule {
        last_visit: Some(VisitRule::SeenWithin { months: 24 }),
        ..StatusRule::default()
    };
    assert_eq!(r.to_string(), "seen in the last 24 months");
    let r = StatusRule {
        min_age: Some(65),
        ..StatusRule::default()
    };
    assert_eq!(r.to_string(), "aged 65 or older");
}
