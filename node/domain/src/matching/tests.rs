//! Prioritisation, capacity accounting (month boundaries, time zones), every outcome and
//! clash rule, and the matching round.

use std::collections::BTreeSet;

use proptest::prelude::*;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

use super::*;
use crate::ids::{ClinicId, OfferId, PersonId, UserId};
use crate::phn::Phn;
use crate::types::{Contact, PatientDetails};

const NOW: OffsetDateTime = datetime!(2026-11-23 18:00 UTC);

fn phn(n: u64) -> Phn {
    (n as u32..)
        .find_map(|b| Phn::from_body(b * 7 + 1_000))
        .expect("a valid PHN")
}

fn person(n: u64, registered: OffsetDateTime, factors: &[PriorityFactor]) -> WaitingPerson {
    WaitingPerson {
        id: PersonId::new(),
        details: PatientDetails {
            phn: phn(n),
            family_name: format!("Family{n}"),
            given_names: format!("Given{n}"),
            date_of_birth: date!(1980 - 01 - 01),
            sex: crate::Sex::Unknown,
            contact: Contact::default(),
            community: "Smithers".into(),
            last_visit: None,
        },
        languages: BTreeSet::new(),
        need: ProviderNeed::PhysicianOrNp,
        factors: factors.iter().copied().collect(),
        registered_at: registered,
        household: None,
        registration: Registration::Waiting,
        declined_by: BTreeSet::new(),
        returned_at: None,
    }
}

fn slot(places: u32, requests: u32) -> ProviderSlot {
    let c = ClinicId::new();
    ProviderSlot {
        provider: UserId::new(),
        kind: ProviderKind::Physician,
        catchment: vec![("Smithers".into(), 0, c), ("Telkwa".into(), 1, c)],
        languages: BTreeSet::new(),
        places_left: places,
        requests_left: requests,
    }
}

fn ranked<'a>(rules: &PriorityRules, people: &'a [WaitingPerson]) -> Vec<Candidate<'a>> {
    people
        .iter()
        .map(|p| Candidate {
            person: p,
            rank: rules.rank(p, NOW),
        })
        .collect()
}

// ---- prioritisation ----

#[test]
fn the_order_is_tier_then_time_waiting_then_id() {
    let rules = PriorityRules {
        promote_after_days: 0,
        ..PriorityRules::default()
    };
    let old_plain = person(1, NOW - Duration::days(300), &[]);
    let new_pregnant = person(2, NOW - Duration::days(3), &[PriorityFactor::Pregnancy]);
    let older_complex = person(3, NOW - Duration::days(90), &[PriorityFactor::ComplexCare]);
    let newer_complex = person(4, NOW - Duration::days(30), &[PriorityFactor::ComplexCare]);
    let mut ranks: Vec<Rank> = [&old_plain, &new_pregnant, &older_complex, &newer_complex]
        .iter()
        .map(|p| rules.rank(p, NOW))
        .collect();
    ranks.sort_by_key(Rank::key);
    let order: Vec<PersonId> = ranks.iter().map(|r| r.person).collect();
    assert_eq!(
        order,
        vec![
            new_pregnant.id,
            older_complex.id,
            newer_complex.id,
            old_plain.id
        ]
    );
    // The highest tier any factor reaches decides.
    let both = person(
        5,
        NOW,
        &[PriorityFactor::ComplexCare, PriorityFactor::Pregnancy],
    );
    assert_eq!(rules.rank(&both, NOW).tier, 0);
    assert_eq!(
        rules.rank(&old_plain, NOW).tier,
        2,
        "no factor: the last tier"
    );
}

#[test]
fn a_long_wait_moves_a_person_up_and_the_reason_says_so() {
    let rules = PriorityRules::default();
    assert_eq!(rules.promote_after_days, 365);
    let p = person(1, NOW - Duration::days(400), &[]);
    let r = rules.rank(&p, NOW);
    assert_eq!((r.base_tier, r.tier), (2, 1));
    let why = r.explain(&rules);
    assert!(
        why.starts_with("Tier 2: complex or vulnerable (moved up from Tier 3"),
        "{why}"
    );
    assert!(why.contains("waiting 400 days (since 2025-10-19)"), "{why}");
    let p2 = person(2, NOW - Duration::days(800), &[]);
    assert_eq!(
        rules.rank(&p2, NOW).tier,
        0,
        "twice the days: two tiers, never past the top"
    );
    let q = person(3, NOW - Duration::days(1), &[PriorityFactor::Pregnancy]);
    let why = rules.rank(&q, NOW).explain(&rules);
    assert_eq!(
        why,
        "Tier 1: urgent clinical need (pregnancy); waiting 1 day (since 2026-11-22)"
    );
}

#[test]
fn rules_are_configuration_and_bad_rules_are_refused_with_the_reason() {
    let toml_text = r#"
        promote_after_days = 0
        [[tiers]]
        name = "Urgent"
        factors = ["palliative", "complex_care"]
        [[tiers]]
        name = "Everyone"
    "#;
    let rules: PriorityRules = toml::from_str(toml_text).expect("parses");
    rules.validate().expect("valid");
    let p = person(1, NOW, &[PriorityFactor::ComplexCare]);
    assert_eq!(rules.tier_name(rules.rank(&p, NOW).tier), "Urgent");
    let preg = person(2, NOW, &[PriorityFactor::Pregnancy]);
    assert_eq!(rules.tier_name(rules.rank(&preg, NOW).tier), "Everyone");

    assert_eq!(
        PriorityRules {
            tiers: vec![],
            promote_after_days: 0
        }
        .validate(),
        Err(RulesError::NoTiers)
    );
    let twice = PriorityRules {
        tiers: vec![
            Tier {
                name: "A".into(),
                factors: [PriorityFactor::Pregnancy].into(),
            },
            Tier {
                name: "B".into(),
                factors: [PriorityFactor::Pregnancy].into(),
            },
        ],
        promote_after_days: 0,
    };
    let e = twice.validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "matching rules: the factor pregnancy is listed in tier \"A\" and tier \"B\""
    );
    let unnamed = PriorityRules {
        tiers: vec![Tier {
            name: " ".into(),
            factors: BTreeSet::new(),
        }],
        promote_after_days: 0,
    };
    assert_eq!(unnamed.validate(), Err(RulesError::Unnamed { index: 1 }));
    assert!(
        toml::from_str::<PriorityRules>("tiers = []\nweights = 3").is_err(),
        "unknown keys are refused"
    );
    PriorityRules::default()
        .validate()
        .expect("the defaults are valid");
}

#[test]
fn factors_read_from_files_in_several_spellings() {
    assert_eq!(
        PriorityFactor::from_key("Complex care"),
        Some(PriorityFactor::ComplexCare)
    );
    assert_eq!(
        PriorityFactor::from_key("recent-discharge"),
        Some(PriorityFactor::RecentDischarge)
    );
    assert_eq!(PriorityFactor::from_key("flu"), None);
    for f in PriorityFactor::ALL {
        assert_eq!(PriorityFactor::from_key(f.key()), Some(f));
    }
}

// ---- capacity: months in the province's zone ----

#[test]
fn months_are_counted_in_the_province_s_time_zone() {
    let van = ProvinceClock::named("America/Vancouver").expect("zone");
    // 23:30 on 31 January in Vancouver is 07:30 on 1 February UTC.
    assert_eq!(
        van.month_of(datetime!(2026-02-01 07:30 UTC)),
        Month {
            year: 2026,
            month: 1
        }
    );
    assert_eq!(
        van.month_of(datetime!(2026-02-01 08:00 UTC)),
        Month {
            year: 2026,
            month: 2
        }
    );
    // In summer (PDT, UTC-7) the boundary moves by an hour.
    assert_eq!(
        van.month_of(datetime!(2026-08-01 06:59 UTC)),
        Month {
            year: 2026,
            month: 7
        }
    );
    assert_eq!(
        van.month_of(datetime!(2026-08-01 07:00 UTC)),
        Month {
            year: 2026,
            month: 8
        }
    );
    // New Year. British Columbia keeps daylight time all year from November 2026 (UTC-7, as
    // the time-zone database built into the binary says), so midnight is 07:00 UTC.
    assert_eq!(
        van.month_of(datetime!(2027-01-01 06:59 UTC)),
        Month {
            year: 2026,
            month: 12
        }
    );
    assert_eq!(
        van.month_of(datetime!(2027-01-01 07:00 UTC)),
        Month {
            year: 2027,
            month: 1
        }
    );
    let halifax = ProvinceClock::named("America/Halifax").expect("zone");
    assert_eq!(
        halifax.month_of(datetime!(2026-02-01 03:30 UTC)),
        Month {
            year: 2026,
            month: 1
        }
    );
    assert_eq!(
        van.local_date(datetime!(2026-02-01 07:30 UTC)),
        date!(2026 - 01 - 31)
    );
    assert_eq!(
        Month {
            year: 2026,
            month: 3
        }
        .to_string(),
        "2026-03"
    );
    let e = ProvinceClock::named("Pacific/Nowhere").unwrap_err();
    assert!(e.to_string().contains("\"Pacific/Nowhere\""), "{e}");
}

#[test]
fn monthly_use_counts_attachments_and_open_offers() {
    let u = MonthlyUse {
        attached: 3,
        offered: 2,
        open_requests: 1,
    };
    assert_eq!(u.used(), 5);
    assert_eq!(u.left(8), 3);
    assert_eq!(u.left(4), 0, "never negative");
}

// ---- offers: outcomes and clashes ----

fn offered(p: &WaitingPerson) -> OfferedPerson {
    OfferedPerson {
        person: p.id,
        details: p.details.clone(),
        why: "test".into(),
        answer: None,
    }
}

fn offer(people: &[&WaitingPerson], created: OffsetDateTime) -> Offer {
    Offer {
        id: OfferId::new(),
        clinic: ClinicId::new(),
        provider: UserId::new(),
        persons: people.iter().map(|p| offered(p)).collect(),
        created_at: created,
        expires_at: created + Duration::days(14),
        decision: None,
        withdrawn: None,
    }
}

fn accept(o: &mut Offer, at: OffsetDateTime) {
    o.decision = Some(ProviderDecision {
        decision: Decision::Accept,
        at,
        by: UserId::new(),
    });
}

fn answer(o: &mut Offer, i: usize, confirmed: bool, at: OffsetDateTime) {
    o.persons[i].answer = Some(Answer {
        confirmed,
        at,
        by: UserId::new(),
        note: String::new(),
    });
}

#[test]
fn every_outcome_of_the_decisions_on_an_offer() {
    let p = person(1, NOW, &[]);
    let t0 = datetime!(2026-11-01 12:00 UTC);
    let mut o = offer(&[&p], t0);
    let out = |o: &Offer, now| o.persons[0].outcome(o, now);
    assert_eq!(out(&o, t0 + Duration::days(1)), PersonOutcome::Open);
    assert_eq!(out(&o, t0 + Duration::days(15)), PersonOutcome::Expired);

    accept(&mut o, t0 + Duration::days(2));
    assert_eq!(
        out(&o, t0 + Duration::days(3)),
        PersonOutcome::Open,
        "one yes is not enough"
    );
    answer(&mut o, 0, true, t0 + Duration::days(4));
    assert_eq!(
        out(&o, t0 + Duration::days(30)),
        PersonOutcome::Attached {
            at: t0 + Duration::days(4)
        },
        "an attachment does not expire"
    );

    // The second yes after expiry: a conflict, not an attachment.
    answer(&mut o, 0, true, t0 + Duration::days(15));
    let late = out(&o, t0 + Duration::days(16));
    assert_eq!(
        late,
        PersonOutcome::LateAcceptance {
            at: t0 + Duration::days(15)
        }
    );
    assert!(late.is_conflict() && late.returns_to_waitlist());

    // A withdrawal before the second yes wins over it; after it, the attachment stands.
    answer(&mut o, 0, true, t0 + Duration::days(4));
    o.withdrawn = Some(Withdrawal {
        at: t0 + Duration::days(3),
        reason: "stopped".into(),
    });
    assert_eq!(
        out(&o, t0 + Duration::days(5)),
        PersonOutcome::AcceptedAfterWithdrawal {
            at: t0 + Duration::days(4)
        }
    );
    o.withdrawn = Some(Withdrawal {
        at: t0 + Duration::days(5),
        reason: "stopped".into(),
    });
    assert!(matches!(
        out(&o, t0 + Duration::days(6)),
        PersonOutcome::Attached { .. }
    ));
    o.persons[0].answer = None;
    assert_eq!(out(&o, t0 + Duration::days(6)), PersonOutcome::Withdrawn);

    // Declines are final, on either side, whatever else happened.
    answer(&mut o, 0, false, t0 + Duration::days(1));
    assert_eq!(
        out(&o, t0 + Duration::days(2)),
        PersonOutcome::DeclinedByPatient
    );
    o.decision = Some(ProviderDecision {
        decision: Decision::Decline {
            reason: DeclineReason::TooFar,
            note: "2 h drive".into(),
        },
        at: t0,
        by: UserId::new(),
    });
    assert_eq!(
        out(&o, t0 + Duration::days(2)),
        PersonOutcome::DeclinedByProvider
    );
    assert!(PersonOutcome::DeclinedByProvider.returns_to_waitlist());
    assert!(!PersonOutcome::Open.returns_to_waitlist());
}

#[test]
fn each_person_of_a_household_answers_for_themselves() {
    let (a, b) = (person(1, NOW, &[]), person(2, NOW, &[]));
    let t0 = datetime!(2026-11-01 12:00 UTC);
    let mut o = offer(&[&a, &b], t0);
    accept(&mut o, t0);
    answer(&mut o, 0, true, t0 + Duration::hours(1));
    assert_eq!(o.open_people(t0 + Duration::hours(2)), 1);
    assert_eq!(o.state(t0 + Duration::hours(2)), OfferOutcome::Open);
    answer(&mut o, 1, false, t0 + Duration::hours(2));
    let outs = o.outcomes(t0 + Duration::hours(3));
    assert!(matches!(outs[0].1, PersonOutcome::Attached { .. }));
    assert_eq!(outs[1].1, PersonOutcome::DeclinedByPatient);
    assert_eq!(o.state(t0 + Duration::hours(3)), OfferOutcome::Closed);
}

#[test]
fn a_person_attached_at_two_clinics_stays_with_the_first_second_yes() {
    let p = person(1, NOW, &[]);
    let t0 = datetime!(2026-11-01 12:00 UTC);
    let mut at_a = offer(&[&p], t0);
    let mut at_b = offer(&[&p], t0 + Duration::days(1));
    accept(&mut at_a, t0 + Duration::days(3));
    answer(&mut at_a, 0, true, t0 + Duration::days(3));
    accept(&mut at_b, t0 + Duration::days(2));
    answer(&mut at_b, 0, true, t0 + Duration::days(2));
    let (w, lost) = attachment_winners([&at_a, &at_b], NOW);
    assert_eq!(w.get(&p.id), Some(&at_b.id), "B's second yes came first");
    assert_eq!(lost, vec![(at_a.id, p.id)]);
    let (w2, lost2) = attachment_winners([&at_b, &at_a], NOW);
    assert_eq!(
        (w, lost),
        (w2, lost2),
        "the order the offers are seen in does not matter"
    );

    // The same instant: the lower offer id keeps the person.
    answer(&mut at_a, 0, true, t0 + Duration::days(2));
    accept(&mut at_a, t0 + Duration::days(2));
    let (w, _) = attachment_winners([&at_a, &at_b], NOW);
    assert_eq!(w.get(&p.id), Some(&at_a.id.min(at_b.id)));
}

#[test]
fn attachments_beyond_the_monthly_capacity_are_listed_per_local_month() {
    let van = ProvinceClock::named("America/Vancouver").expect("zone");
    let o = OfferId::new();
    let a = |at: OffsetDateTime| (at, o, PersonId::new());
    let jan_31_evening = datetime!(2026-02-01 07:00 UTC); // 23:00 on 31 January in Vancouver
    let list = vec![
        a(datetime!(2026-01-10 18:00 UTC)),
        a(jan_31_evening),
        a(datetime!(2026-02-02 18:00 UTC)),
        a(datetime!(2026-01-20 18:00 UTC)),
    ];
    let over = over_capacity(&list, 2, &van);
    assert_eq!(
        over.len(),
        1,
        "three in January (local), one in February: {over:?}"
    );
    assert_eq!(
        over[0].0,
        Month {
            year: 2026,
            month: 1
        }
    );
    assert_eq!(over[0].2, list[1].2, "the last of January's is over");
    assert!(over_capacity(&list, 3, &van).is_empty());
}

// ---- the round ----

#[test]
fn a_round_offers_in_order_within_capacity_and_requests() {
    let rules = PriorityRules::default();
    let people: Vec<WaitingPerson> = (0..10)
        .map(|i| person(i, NOW - Duration::days(100 - i as i64), &[]))
        .collect();
    let a = slot(3, 10);
    let b = slot(5, 2);
    let round = run_round(&rules, &ranked(&rules, &people), &[a.clone(), b.clone()]);
    let to = |s: &ProviderSlot| {
        round
            .offers
            .iter()
            .filter(|o| o.provider == s.provider)
            .count()
    };
    assert_eq!(to(&a), 3, "all of A's places");
    assert_eq!(to(&b), 2, "B's open-request limit, not its places");
    assert_eq!(round.offered, 5);
    assert_eq!(round.considered, 10);
    // The five longest-waiting people, in order.
    let offered: Vec<PersonId> = round.offers.iter().map(|o| o.persons[0].0).collect();
    assert_eq!(
        offered,
        people[..5].iter().map(|p| p.id).collect::<Vec<_>>()
    );
    // The first goes to the provider with the most places left (B: 5 > 3).
    assert_eq!(round.offers[0].provider, b.provider);
    let why = &round.offers[0].persons[0].1;
    assert!(
        why.contains("waiting 100 days")
            && why.contains("lives in Smithers, the clinic's community")
            && why.contains("5 places left"),
        "{why}"
    );
    // Deterministic.
    assert_eq!(run_round(&rules, &ranked(&rules, &people), &[b, a]), round);
}

#[test]
fn a_household_is_offered_together_to_one_provider_and_counts_together() {
    let rules = PriorityRules::default();
    let mut people: Vec<WaitingPerson> = (0..3)
        .map(|i| person(i, NOW - Duration::days(10), &[]))
        .collect();
    for p in &mut people {
        p.household = Some("hh-1".into());
    }
    people[2].factors.insert(PriorityFactor::Pregnancy);
    let early = person(9, NOW - Duration::days(50), &[]);
    people.push(early.clone());
    let small = slot(2, 5);
    let big = slot(3, 5);
    let round = run_round(
        &rules,
        &ranked(&rules, &people),
        &[small.clone(), big.clone()],
    );
    // The household ranks at its pregnant member's place (tier 1), before the long wait.
    let first = &round.offers[0];
    assert_eq!(first.persons.len(), 3);
    assert_eq!(first.provider, big.provider, "only B has three places");
    assert!(
        first
            .persons
            .iter()
            .all(|(_, why)| why.contains("household of 3"))
    );
    assert_eq!(round.offers[1].persons[0].0, early.id);
    assert_eq!(round.offers[1].provider, small.provider, "B is full");
    assert_eq!(round.offered, 4);
}

#[test]
fn a_round_respects_need_language_community_and_earlier_declines() {
    let rules = PriorityRules::default();
    let mut np = slot(5, 5);
    np.kind = ProviderKind::NursePractitioner;
    let mut phys_fr = slot(5, 5);
    phys_fr.languages = ["French".to_owned(), "English".to_owned()].into();
    let c = phys_fr.catchment[0].2;
    phys_fr.catchment = vec![("Telkwa".into(), 0, c), ("Smithers".into(), 1, c)];

    let mut needs_phys = person(1, NOW - Duration::days(9), &[]);
    needs_phys.need = ProviderNeed::Physician;
    let mut french = person(2, NOW - Duration::days(8), &[]);
    french.languages = ["french".to_owned()].into();
    let mut far = person(3, NOW - Duration::days(7), &[]);
    far.details.community = "Prince Rupert".into();
    let mut declined = person(4, NOW - Duration::days(6), &[]);
    declined.need = ProviderNeed::Physician;
    declined.declined_by.insert(phys_fr.provider);
    let mut punjabi = person(5, NOW - Duration::days(5), &[]);
    punjabi.languages = ["Punjabi".to_owned()].into();
    let anyone = person(6, NOW - Duration::days(4), &[]);
    let people = vec![
        needs_phys.clone(),
        french.clone(),
        far,
        declined,
        punjabi,
        anyone.clone(),
    ];
    let round = run_round(
        &rules,
        &ranked(&rules, &people),
        &[np.clone(), phys_fr.clone()],
    );
    let got: Vec<(PersonId, UserId)> = round
        .offers
        .iter()
        .map(|o| (o.persons[0].0, o.provider))
        .collect();
    assert_eq!(
        got,
        vec![
            (needs_phys.id, phys_fr.provider),
            (french.id, phys_fr.provider),
            (anyone.id, np.provider),
        ],
        "the NP serves Smithers as its own community, so it is the better fit for anyone"
    );
    let why = &round.offers[0].persons[0].1;
    assert!(why.contains("in the clinic's catchment"), "{why}");
}

#[test]
fn nobody_is_offered_when_no_provider_has_places() {
    let rules = PriorityRules::default();
    let people = vec![person(1, NOW, &[])];
    let round = run_round(&rules, &ranked(&rules, &people), &[slot(0, 5), slot(5, 0)]);
    assert!(round.offers.is_empty());
    assert_eq!(round.places_left, 0);
}

// ---- properties ----

proptest! {
    /// Whatever decisions the replicas made and in whatever order the hub sees the offers,
    /// each person is attached by at most one offer, the same one; and every attachment
    /// beyond a provider's capacity in a month is listed.
    #[test]
    fn clashes_are_decided_alike_and_capacity_overruns_are_always_listed(
        decisions in proptest::collection::vec((0usize..4, 0usize..3, 0i64..20, 0i64..20, any::<bool>(), any::<bool>()), 1..30),
        capacity in 0u32..4,
        rotate in 0usize..30,
    ) {
        let people: Vec<WaitingPerson> = (0..4).map(|i| person(i, NOW, &[])).collect();
        let providers: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
        let t0 = datetime!(2026-11-01 12:00 UTC);
        let offers: Vec<Offer> = decisions.iter().map(|&(who, prov, d1, d2, yes1, yes2)| {
            let mut o = offer(&[&people[who]], t0);
            o.provider = providers[prov];
            o.decision = Some(ProviderDecision {
                decision: if yes1 { Decision::Accept } else { Decision::Decline { reason: DeclineReason::Other, note: String::new() } },
                at: t0 + Duration::days(d1),
                by: UserId::new(),
            });
            answer(&mut o, 0, yes2, t0 + Duration::days(d2));
            o
        }).collect();
        let (w1, l1) = attachment_winners(&offers, NOW);
        let mut rotated = offers.clone();
        rotated.rotate_left(rotate % offers.len());
        rotated.reverse();
        let (w2, l2) = attachment_winners(&rotated, NOW);
        prop_assert_eq!(&w1, &w2);
        prop_assert_eq!(&l1, &l2);
        // At most one winner per person, and every attached (offer, person) is a winner or superseded.
        let attached: usize = offers.iter().flat_map(|o| o.outcomes(NOW)).filter(|(_, out)| matches!(out, PersonOutcome::Attached { .. })).count();
        prop_assert_eq!(attached, w1.len() + l1.len());

        let van = ProvinceClock::named("America/Vancouver").expect("zone");
        for prov in &providers {
            let list: Vec<_> = offers.iter().filter(|o| o.provider == *prov && w1.values().any(|id| *id == o.id))
                .flat_map(|o| o.outcomes(NOW).into_iter().filter_map(move |(p, out)| match out {
                    PersonOutcome::Attached { at } => Some((at, o.id, p)),
                    _ => None,
                }))
                .collect();
            let over = over_capacity(&list, capacity, &van);
            let mut months: std::collections::BTreeMap<Month, u32> = Default::default();
            for (at, _, _) in &list { *months.entry(van.month_of(*at)).or_default() += 1; }
            for (m, n) in months {
                let listed = over.iter().filter(|(om, _, _)| *om == m).count() as u32;
                prop_assert_eq!(n.saturating_sub(capacity), listed);
            }
        }
    }

    /// A round never gives a provider more people than places or more offers than
    /// requests, never offers anyone twice, and offers households whole.
    #[test]
    fn a_round_never_exceeds_capacity(
        sizes in proptest::collection::vec(1usize..4, 1..40),
        caps in proptest::collection::vec((0u32..6, 0u32..4), 1..6),
    ) {
        let rules = PriorityRules::default();
        let mut people = Vec::new();
        for (h, size) in sizes.iter().enumerate() {
            for k in 0..*size {
                let mut p = person((h * 10 + k) as u64, NOW - Duration::days(h as i64), &[]);
                p.household = (*size > 1).then(|| format!("h{h}"));
                people.push(p);
            }
        }
        let slots: Vec<ProviderSlot> = caps.iter().map(|&(p, r)| slot(p, r)).collect();
        let round = run_round(&rules, &ranked(&rules, &people), &slots);
        let mut seen = BTreeSet::new();
        for s in &slots {
            let mine: Vec<&ProposedOffer> = round.offers.iter().filter(|o| o.provider == s.provider).collect();
            prop_assert!(mine.len() as u32 <= s.requests_left);
            prop_assert!(mine.iter().map(|o| o.persons.len() as u32).sum::<u32>() <= s.places_left);
        }
        for o in &round.offers {
            let hh: BTreeSet<_> = o.persons.iter().map(|(id, _)| people.iter().find(|p| p.id == *id).and_then(|p| p.household.clone())).collect();
            prop_assert_eq!(hh.len(), 1, "one household per offer");
            if let Some(Some(h)) = hh.iter().next() {
                let members = people.iter().filter(|p| p.household.as_ref() == Some(h)).count();
                prop_assert_eq!(o.persons.len(), members, "whole households");
            }
            for (id, _) in &o.persons { prop_assert!(seen.insert(*id), "offered twice"); }
        }
    }
}
