//! The rule evaluator against a small catalogue written here (the shipped definitions have
//! their own tests in `clinical::tests`), and its properties.

use proptest::prelude::*;
use time::{Date, Month};

use super::*;
use crate::clinical::{ClinicalFact, ClinicalRecord, Code, CodeSystem, Origin};

fn d(y: i32, m: u8, day: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).expect("month"), day).expect("date")
}

fn catalogue() -> Catalogue {
    let concept = |key: &str, kind, codes: Vec<CodeMatch>, units: &[&str]| Concept {
        key: key.to_owned(),
        name: key.to_owned(),
        kind,
        codes,
        units: units.iter().map(|u| (*u).to_owned()).collect(),
        source: None,
    };
    Catalogue {
        concepts: vec![
            concept(
                "a1c",
                RecordKind::Observation,
                vec![CodeMatch::exact(CodeSystem::Loinc, "4548-4")],
                &["%"],
            ),
            concept(
                "bp",
                RecordKind::Observation,
                vec![CodeMatch::exact(CodeSystem::Loinc, "85354-9")],
                &[],
            ),
            concept(
                "metformin",
                RecordKind::Medication,
                vec![CodeMatch::prefix(CodeSystem::Atc, "A10")],
                &[],
            ),
            concept(
                "fit",
                RecordKind::Observation,
                vec![CodeMatch::exact(CodeSystem::Loinc, "29771-3")],
                &[],
            ),
            concept(
                "scope",
                RecordKind::Procedure,
                vec![CodeMatch::exact(CodeSystem::SnomedCt, "73761001")],
                &[],
            ),
            concept(
                "pneumo",
                RecordKind::Immunization,
                vec![CodeMatch::exact(CodeSystem::Cvx, "33")],
                &[],
            ),
        ],
        registries: vec![
            RegistryDef {
                key: "dm".to_owned(),
                name: "Diabetes".to_owned(),
                codes: vec![
                    CodeMatch::prefix(CodeSystem::Icd9, "250"),
                    CodeMatch::prefix(CodeSystem::Icd10Ca, "E11"),
                ],
                source: None,
                uncoded: vec![
                    UncodedRule {
                        key: "two_a1c".to_owned(),
                        description: "HbA1c ≥ 6.5 % twice".to_owned(),
                        evidence: Evidence::Results {
                            concept: "a1c".to_owned(),
                            comparison: Comparison::AtLeast,
                            value: 6.5,
                            times: 2,
                            min_days_apart: 0,
                        },
                        source: None,
                    },
                    UncodedRule {
                        key: "drug".to_owned(),
                        description: "a diabetes medication".to_owned(),
                        evidence: Evidence::Medication {
                            concept: "metformin".to_owned(),
                        },
                        source: None,
                    },
                ],
            },
            RegistryDef {
                key: "htn".to_owned(),
                name: "Hypertension".to_owned(),
                codes: vec![CodeMatch::prefix(CodeSystem::Icd9, "401")],
                source: None,
                uncoded: vec![UncodedRule {
                    key: "three_high".to_owned(),
                    description: "three high readings a month apart".to_owned(),
                    evidence: Evidence::BloodPressure {
                        concept: "bp".to_owned(),
                        systolic: 140.0,
                        diastolic: 90.0,
                        times: 3,
                        min_days_apart: 28,
                    },
                    source: None,
                }],
            },
        ],
        gaps: vec![
            GapRule {
                key: "dm_a1c".to_owned(),
                name: "HbA1c every 6 months".to_owned(),
                population: Population {
                    registry: Some("dm".to_owned()),
                    min_age: None,
                    max_age: None,
                    sex: None,
                    excluding: vec![],
                },
                concept: "a1c".to_owned(),
                every_months: Some(6),
                target: Some(Target::Number {
                    comparison: Comparison::AtMost,
                    value: 7.0,
                }),
                alternatives: vec![],
                source: None,
            },
            GapRule {
                key: "crc".to_owned(),
                name: "Colorectal screening".to_owned(),
                population: Population {
                    registry: None,
                    min_age: Some(50),
                    max_age: Some(74),
                    sex: None,
                    excluding: vec![],
                },
                concept: "fit".to_owned(),
                every_months: Some(24),
                target: None,
                alternatives: vec![("scope".to_owned(), Some(120))],
                source: None,
            },
            GapRule {
                key: "pneumo".to_owned(),
                name: "Pneumococcal vaccine".to_owned(),
                population: Population {
                    registry: None,
                    min_age: Some(65),
                    max_age: None,
                    sex: None,
                    excluding: vec![],
                },
                concept: "pneumo".to_owned(),
                every_months: None,
                target: None,
                alternatives: vec![],
                source: None,
            },
        ],
        ..Catalogue::default()
    }
}

fn rec(id: &str, fact: ClinicalFact) -> ClinicalRecord {
    ClinicalRecord {
        source_id: id.to_owned(),
        fact,
        display: None,
        origin: Origin::Emr { updated: None },
    }
}

fn code(system: CodeSystem, c: &str) -> Vec<Code> {
    vec![Code::new(system, c).expect("code")]
}

fn a1c(id: &str, date: Date, value: f64, unit: &str) -> ClinicalRecord {
    rec(
        id,
        ClinicalFact::Observation {
            codes: code(CodeSystem::Loinc, "4548-4"),
            date,
            value: ObservationValue::Number {
                value,
                unit: Some(unit.to_owned()),
            },
        },
    )
}

fn dx(id: &str, system: CodeSystem, c: &str, status: ConditionStatus) -> ClinicalRecord {
    rec(
        id,
        ClinicalFact::Condition {
            codes: code(system, c),
            onset: None,
            abated: None,
            status,
        },
    )
}

fn bp(id: &str, date: Date, s: f64, di: f64) -> ClinicalRecord {
    rec(
        id,
        ClinicalFact::Observation {
            codes: code(CodeSystem::Loinc, "85354-9"),
            date,
            value: ObservationValue::BloodPressure {
                systolic: s,
                diastolic: di,
            },
        },
    )
}

const TODAY: (i32, u8, u8) = (2026, 12, 1);

fn today() -> Date {
    d(TODAY.0, TODAY.1, TODAY.2)
}

fn person(age: i32) -> Demographics {
    Demographics {
        sex: Sex::Female,
        date_of_birth: d(2026 - age, 6, 1),
    }
}

fn care(records: &[ClinicalRecord], who: Demographics) -> (Compiled, PatientCare) {
    let c = catalogue().compile().expect("compiles");
    let s = c.summarise(records);
    let care = c.evaluate(&s, who, today());
    (c, care)
}

fn gap<'a>(c: &Compiled, care: &'a PatientCare, key: &str) -> Option<&'a GapState> {
    care.gaps.iter().find(|g| c.gap(g.rule).key == key)
}

#[test]
fn codes_compare_as_clinics_write_them() {
    let m = CodeMatch::prefix(CodeSystem::Icd9, "250");
    for yes in ["250", "250.00", "2500", " 250.9"] {
        assert!(
            m.matches(&Code::new(CodeSystem::Icd9, yes).expect("code")),
            "{yes}"
        );
    }
    for no in ["249", "25", "251.0"] {
        assert!(
            !m.matches(&Code::new(CodeSystem::Icd9, no).expect("code")),
            "{no}"
        );
    }
    // Another system with the same digits is another code.
    assert!(!m.matches(&Code::new(CodeSystem::Icd10Ca, "250").expect("code")));
    let e11 = CodeMatch::prefix(CodeSystem::Icd10Ca, "e11");
    assert!(e11.matches(&Code::new(CodeSystem::Icd10Ca, "E11.9").expect("code")));
    assert_eq!(e11.to_line(), "icd10ca E11*");
    assert_eq!(CodeMatch::parse_line("icd10ca E11*"), Ok(e11));
    assert!(CodeMatch::parse_line("icd10ca").is_err());
    assert!(CodeMatch::parse_line("rxnorm 123").is_err());
    assert!(CodeMatch::parse_line("icd9 25$").is_err());
}

#[test]
fn an_active_code_puts_a_patient_on_the_registry_and_a_resolved_one_does_not() {
    let (c, on) = care(
        &[dx(
            "c1",
            CodeSystem::Icd9,
            "250.00",
            ConditionStatus::Active,
        )],
        person(60),
    );
    assert_eq!(on.registries, vec![c.registry_index("dm").expect("dm")]);
    for status in [ConditionStatus::Resolved, ConditionStatus::EnteredInError] {
        let (_, off) = care(&[dx("c1", CodeSystem::Icd9, "250", status)], person(60));
        assert!(off.registries.is_empty(), "{status:?}");
    }
}

#[test]
fn two_high_results_suggest_the_uncoded_condition_and_one_does_not() {
    let one = [a1c("o1", d(2026, 3, 1), 6.8, "%")];
    let (_, c1) = care(&one, person(60));
    assert!(c1.uncoded.is_empty());
    let two = [one[0].clone(), a1c("o2", d(2026, 6, 1), 6.5, "%")];
    let (c, c2) = care(&two, person(60));
    assert_eq!(
        c2.uncoded,
        vec![Uncoded {
            registry: c.registry_index("dm").expect("dm"),
            rule: 0
        }]
    );
    // A value in a unit the rule is not written in is not compared.
    let mmol = [one[0].clone(), a1c("o2", d(2026, 6, 1), 53.0, "mmol/mol")];
    assert!(care(&mmol, person(60)).1.uncoded.is_empty());
    // Once coded, no suggestion.
    let mut coded = two.to_vec();
    coded.push(dx(
        "c1",
        CodeSystem::Icd10Ca,
        "E11.9",
        ConditionStatus::Active,
    ));
    assert!(care(&coded, person(60)).1.uncoded.is_empty());
}

#[test]
fn a_registry_or_rule_the_clinic_does_not_use_lists_nothing_but_its_codes_still_exclude() {
    let records = [
        dx("c1", CodeSystem::Icd9, "250", ConditionStatus::Active),
        a1c("o1", d(2026, 3, 1), 8.1, "%"),
    ];
    let mut cat = catalogue();
    // Colorectal screening leaves out people on the diabetes registry, for this test.
    let crc = cat.gaps.iter_mut().find(|g| g.key == "crc").expect("crc");
    crc.population.excluding = vec!["dm".to_owned()];
    cat.registries_off.insert("dm".to_owned());
    let c = cat.clone().compile().expect("compiles");
    let dm = c.registry_index("dm").expect("dm");
    assert!(!c.registry_in_use(dm));
    assert!(c.registry_in_use(c.registry_index("htn").expect("htn")));
    let on = c.evaluate(&c.summarise(&records), person(60), today());
    assert!(
        on.registries.is_empty(),
        "not listed on a registry not kept"
    );
    assert!(
        gap(&c, &on, "dm_a1c").is_none(),
        "its care gap does not apply"
    );
    assert!(!c.gap_in_use(c.gap_index("dm_a1c").expect("rule")));
    assert!(
        gap(&c, &on, "crc").is_none(),
        "still excluded by the diabetes code"
    );
    // An uncoded patient gets no suggestion for a registry not kept.
    let uncoded = [
        a1c("o1", d(2026, 3, 1), 6.8, "%"),
        a1c("o2", d(2026, 6, 1), 6.9, "%"),
    ];
    assert!(
        c.evaluate(&c.summarise(&uncoded), person(60), today())
            .uncoded
            .is_empty()
    );
    // A rule turned off on its own.
    let mut cat = catalogue();
    cat.gaps_off.insert("crc".to_owned());
    let c = cat.compile().expect("compiles");
    let care = c.evaluate(&c.summarise(&[]), person(70), today());
    assert!(gap(&c, &care, "crc").is_none());
    assert!(
        gap(&c, &care, "pneumo").is_some(),
        "the other rules still apply"
    );
}

#[test]
fn blood_pressure_evidence_needs_its_readings_spread_out() {
    let close = [
        bp("b1", d(2026, 5, 1), 150.0, 85.0),
        bp("b2", d(2026, 5, 10), 145.0, 80.0),
        bp("b3", d(2026, 5, 20), 130.0, 95.0),
    ];
    assert!(
        care(&close, person(50)).1.uncoded.is_empty(),
        "19 days apart"
    );
    let spread = [
        close[0].clone(),
        close[1].clone(),
        bp("b3", d(2026, 6, 20), 130.0, 95.0),
    ];
    assert_eq!(care(&spread, person(50)).1.uncoded.len(), 1);
    let normal = [
        bp("b1", d(2026, 1, 1), 120.0, 80.0),
        bp("b2", d(2026, 3, 1), 125.0, 82.0),
        bp("b3", d(2026, 6, 1), 139.0, 89.0),
    ];
    assert!(care(&normal, person(50)).1.uncoded.is_empty());
}

#[test]
fn care_gaps_say_overdue_due_soon_up_to_date_and_out_of_target() {
    let dm = dx("c1", CodeSystem::Icd9, "250", ConditionStatus::Active);
    // Last HbA1c 8 months ago: overdue, and 7.4 % is out of target.
    let (c, cr) = care(
        &[dm.clone(), a1c("o1", d(2026, 4, 1), 7.4, "%")],
        person(60),
    );
    let g = gap(&c, &cr, "dm_a1c").expect("eligible");
    assert_eq!(g.timing, GapTiming::Overdue);
    assert_eq!(g.due, Some(d(2026, 10, 1)));
    assert_eq!(g.in_target, Some(false));
    assert!(g.is_open());
    // Five months and a half ago, in target: due within 30 days.
    let (c, cr) = care(
        &[dm.clone(), a1c("o1", d(2026, 6, 15), 6.9, "%")],
        person(60),
    );
    let g = gap(&c, &cr, "dm_a1c").expect("eligible");
    assert_eq!((g.timing, g.in_target), (GapTiming::DueSoon, Some(true)));
    // Two months ago, in target: nothing to do.
    let (c, cr) = care(
        &[dm.clone(), a1c("o1", d(2026, 10, 1), 6.2, "%")],
        person(60),
    );
    let g = gap(&c, &cr, "dm_a1c").expect("eligible");
    assert_eq!(g.timing, GapTiming::UpToDate);
    assert!(!g.is_open());
    // Never: open.
    let (c, cr) = care(std::slice::from_ref(&dm), person(60));
    assert_eq!(
        gap(&c, &cr, "dm_a1c").map(|g| g.timing),
        Some(GapTiming::Never)
    );
    // Not on the registry: the rule does not apply.
    let (c, cr) = care(&[], person(60));
    assert!(gap(&c, &cr, "dm_a1c").is_none());
}

#[test]
fn an_alternative_closes_a_gap_on_its_own_interval_and_a_once_rule_stays_done() {
    let fit = rec(
        "f1",
        ClinicalFact::Observation {
            codes: code(CodeSystem::Loinc, "29771-3"),
            date: d(2024, 6, 1),
            value: ObservationValue::None,
        },
    );
    let (c, cr) = care(std::slice::from_ref(&fit), person(55));
    assert_eq!(
        gap(&c, &cr, "crc").map(|g| g.timing),
        Some(GapTiming::Overdue)
    );
    let scope = rec(
        "p1",
        ClinicalFact::Procedure {
            codes: code(CodeSystem::SnomedCt, "73761001"),
            date: d(2023, 12, 1),
        },
    );
    let (c, cr) = care(&[fit, scope], person(55));
    let g = gap(&c, &cr, "crc").expect("eligible");
    assert_eq!(g.timing, GapTiming::UpToDate);
    assert_eq!(g.due, Some(d(2033, 12, 1)));
    // Ages outside the rule: not eligible.
    assert!(gap(&c, &care(&[], person(49)).1, "crc").is_none());
    assert!(gap(&c, &care(&[], person(75)).1, "crc").is_none());
    let dose = rec(
        "i1",
        ClinicalFact::Immunization {
            codes: code(CodeSystem::Cvx, "33"),
            date: d(2021, 10, 1),
        },
    );
    let (c, cr) = care(&[dose], person(70));
    let g = gap(&c, &cr, "pneumo").expect("eligible");
    assert_eq!((g.timing, g.due), (GapTiming::UpToDate, None));
}

#[test]
fn a_catalogue_that_refers_to_nothing_is_refused_by_name() {
    let mut c = catalogue();
    c.gaps[0].concept = "hba1c".to_owned();
    assert_eq!(
        c.compile().map(|_| ()),
        Err(CatalogueError::Unknown {
            whose: "care-gap rule \"dm_a1c\"".to_owned(),
            what: "concept",
            key: "hba1c".to_owned()
        })
    );
    let mut c = catalogue();
    c.registries.push(c.registries[0].clone());
    assert!(matches!(
        c.compile(),
        Err(CatalogueError::Duplicate {
            what: "registry",
            ..
        })
    ));
    let mut c = catalogue();
    c.registries[0].uncoded[1].evidence = Evidence::Medication {
        concept: "a1c".to_owned(),
    };
    assert!(matches!(c.compile(), Err(CatalogueError::Invalid { .. })));
    let mut c = catalogue();
    c.gaps[1].population.min_age = Some(80);
    assert!(matches!(c.compile(), Err(CatalogueError::Invalid { .. })));
}

#[test]
fn months_are_added_on_the_calendar() {
    assert_eq!(add_months(d(2026, 1, 31), 1), d(2026, 2, 28));
    assert_eq!(add_months(d(2024, 1, 31), 1), d(2024, 2, 29));
    assert_eq!(add_months(d(2026, 11, 15), 6), d(2027, 5, 15));
    assert_eq!(add_months(d(2026, 3, 1), 120), d(2036, 3, 1));
}

fn arb_date() -> impl Strategy<Value = Date> {
    (2015i32..2027, 1u8..=12, 1u8..=28).prop_map(|(y, m, day)| d(y, m, day))
}

fn arb_record() -> impl Strategy<Value = ClinicalRecord> {
    let a1c_rec = (arb_date(), 4.0f64..12.0).prop_map(|(date, v)| a1c("x", date, v, "%"));
    let bp_rec = (arb_date(), 100.0f64..190.0, 60.0f64..110.0)
        .prop_map(|(date, s, di)| bp("x", date, s, di));
    let dx_rec = prop_oneof![Just("250"), Just("401"), Just("493")]
        .prop_map(|c| dx("x", CodeSystem::Icd9, c, ConditionStatus::Active));
    prop_oneof![a1c_rec, bp_rec, dx_rec]
}

fn arb_records() -> impl Strategy<Value = Vec<ClinicalRecord>> {
    prop::collection::vec(arb_record(), 0..20).prop_map(|mut v| {
        for (i, r) in v.iter_mut().enumerate() {
            r.source_id = format!("r{i}");
        }
        v
    })
}

proptest! {
    #[test]
    fn the_order_records_come_in_does_not_matter(records in arb_records(), age in 0i32..100) {
        let c = catalogue().compile().expect("compiles");
        let mut reversed = records.clone();
        reversed.reverse();
        let a = c.evaluate(&c.summarise(&records), person(age), today());
        let b = c.evaluate(&c.summarise(&reversed), person(age), today());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn more_records_never_take_a_patient_off_a_registry_or_make_a_gap_later(
        records in arb_records(),
        extra in arb_record(),
        age in 0i32..100,
    ) {
        let c = catalogue().compile().expect("compiles");
        let before = c.evaluate(&c.summarise(&records), person(age), today());
        let mut more = records.clone();
        let mut extra = extra;
        extra.source_id = "extra".to_owned();
        more.push(extra);
        let after = c.evaluate(&c.summarise(&more), person(age), today());
        for r in &before.registries {
            prop_assert!(after.registries.contains(r));
        }
        for g in &before.gaps {
            // A registry the extra record codes may add rules; the ones already there
            // can only be done as late or later.
            let same = after.gaps.iter().find(|a| a.rule == g.rule);
            prop_assert!(same.is_some());
            let same = same.expect("found");
            prop_assert!(same.timing >= g.timing, "{:?} then {:?}", g.timing, same.timing);
        }
    }

    #[test]
    fn a_suggestion_is_never_made_for_a_coded_registry(records in arb_records()) {
        let c = catalogue().compile().expect("compiles");
        let care = c.evaluate(&c.summarise(&records), person(60), today());
        for u in &care.uncoded {
            prop_assert!(!care.registries.contains(&u.registry));
        }
    }

    #[test]
    fn adding_months_lands_later_in_the_right_month(date in arb_date(), months in 0u32..240) {
        let later = add_months(date, months);
        prop_assert!(later >= date);
        let index = |d: Date| d.year() * 12 + i32::from(d.month() as u8);
        prop_assert_eq!(index(later) - index(date), months as i32);
        prop_assert!(later.day() <= date.day());
    }
}

#[test]
fn a_change_of_rules_names_or_choices_summarises_alike_and_a_change_of_codes_does_not() {
    let records = [
        dx("c1", CodeSystem::Icd9, "250", ConditionStatus::Active),
        dx("c2", CodeSystem::Icd9, "401", ConditionStatus::Active),
        a1c("o1", d(2026, 3, 1), 8.1, "%"),
        bp("o2", d(2026, 4, 1), 150.0, 95.0),
    ];
    let base = catalogue();
    let summary = |cat: &Catalogue| cat.clone().compile().expect("compiles").summarise(&records);
    let before = summary(&base);
    let alike: Vec<(&str, Catalogue)> = vec![
        ("a rule's interval", {
            let mut c = base.clone();
            c.gaps[0].every_months = Some(1);
            c
        }),
        ("a registry's name", {
            let mut c = base.clone();
            c.registries[0].name = "Another name".to_owned();
            c
        }),
        ("a registry not kept", {
            let mut c = base.clone();
            c.registries_off.insert(c.registries[0].key.clone());
            c
        }),
        ("a rule not used", {
            let mut c = base.clone();
            c.gaps_off.insert(c.gaps[0].key.clone());
            c
        }),
        ("a rule removed", {
            let mut c = base.clone();
            c.gaps.pop();
            c
        }),
    ];
    for (what, cat) in &alike {
        assert!(base.summarises_like(cat), "{what}");
        assert_eq!(summary(cat), before, "{what}");
    }
    let different: Vec<(&str, Catalogue)> = vec![
        ("a registry's codes", {
            let mut c = base.clone();
            c.registries[0].codes.pop();
            c
        }),
        ("a registry added", {
            let mut c = base.clone();
            let mut r = c.registries[0].clone();
            r.key = "another".to_owned();
            c.registries.push(r);
            c
        }),
        ("registries reordered", {
            let mut c = base.clone();
            c.registries.reverse();
            c
        }),
        ("a concept's units", {
            let mut c = base.clone();
            c.concepts[0].units.push("mmol/mol".to_owned());
            c
        }),
    ];
    for (what, cat) in &different {
        assert!(!base.summarises_like(cat), "{what}");
    }
}
