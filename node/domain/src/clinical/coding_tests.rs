use time::macros::datetime;
use uuid::Uuid;

use super::*;
use crate::clinical::catalogue::shipped;
use crate::clinical::rules::{Comparison, Population, Target};
use crate::clinical::{CodeMatch, CodeSystem};

fn by() -> UserId {
    UserId::from(Uuid::from_u128(7))
}

fn registry_choice(in_use: bool, def: Option<RegistryDef>) -> RegistryChoice {
    RegistryChoice {
        in_use,
        def,
        at: datetime!(2026-11-02 09:00 UTC),
        by: by(),
    }
}

fn gap_choice(in_use: bool, rule: Option<GapRule>) -> GapChoice {
    GapChoice {
        in_use,
        def: rule,
        at: datetime!(2026-11-02 09:00 UTC),
        by: by(),
    }
}

fn own_registry(key: &str) -> RegistryDef {
    RegistryDef {
        key: key.to_owned(),
        name: "Chronic pain".to_owned(),
        codes: vec![CodeMatch::prefix(CodeSystem::Icd9, "338")],
        source: None,
        uncoded: vec![],
    }
}

fn own_rule(key: &str, registry: &str) -> GapRule {
    GapRule {
        key: key.to_owned(),
        name: "Blood pressure yearly".to_owned(),
        population: Population {
            registry: Some(registry.to_owned()),
            min_age: None,
            max_age: None,
            sex: None,
            excluding: vec![],
        },
        concept: "bp".to_owned(),
        every_months: Some(12),
        target: None,
        alternatives: vec![],
        source: None,
    }
}

#[test]
fn an_empty_protocol_is_the_shipped_catalogue() {
    let (c, left_out) = CodingProtocol::default().catalogue(shipped());
    assert!(left_out.is_empty());
    assert_eq!(c.catalogue(), &shipped());
}

#[test]
fn choices_turn_off_edit_and_add_definitions() {
    let mut p = CodingProtocol::default();
    p.registries
        .insert("ckd".to_owned(), registry_choice(false, None));
    let mut diabetes = shipped()
        .registries
        .into_iter()
        .find(|r| r.key == "diabetes")
        .expect("shipped");
    diabetes.codes = vec![CodeMatch::prefix(CodeSystem::Icd9, "250")];
    // The key inside a definition is the item's, whatever the stored copy says.
    diabetes.key = "something_else".to_owned();
    p.registries
        .insert("diabetes".to_owned(), registry_choice(true, Some(diabetes)));
    p.registries.insert(
        "chronic_pain".to_owned(),
        registry_choice(true, Some(own_registry("chronic_pain"))),
    );
    let mut hba1c = shipped()
        .gaps
        .into_iter()
        .find(|g| g.key == "diabetes_hba1c")
        .expect("shipped");
    hba1c.every_months = Some(3);
    hba1c.target = Some(Target::Number {
        comparison: Comparison::AtMost,
        value: 8.0,
    });
    p.gaps
        .insert("diabetes_hba1c".to_owned(), gap_choice(true, Some(hba1c)));
    p.gaps.insert(
        "pain_bp".to_owned(),
        gap_choice(true, Some(own_rule("pain_bp", "chronic_pain"))),
    );
    p.gaps
        .insert("diabetes_ldl".to_owned(), gap_choice(false, None));
    let (c, left_out) = p.catalogue(shipped());
    assert!(left_out.is_empty(), "{left_out:?}");
    let cat = c.catalogue();
    let ckd = c.registry_index("ckd").expect("still defined");
    assert!(!c.registry_in_use(ckd));
    let dm = c.registry(c.registry_index("diabetes").expect("diabetes"));
    assert_eq!(dm.codes, vec![CodeMatch::prefix(CodeSystem::Icd9, "250")]);
    assert!(cat.registries.iter().all(|r| r.key != "something_else"));
    let pain = c.registry_index("chronic_pain").expect("added");
    assert!(c.registry_in_use(pain));
    let g = c.gap(c.gap_index("diabetes_hba1c").expect("rule"));
    assert_eq!(g.every_months, Some(3));
    assert!(c.gap_in_use(c.gap_index("pain_bp").expect("added")));
    assert!(!c.gap_in_use(c.gap_index("diabetes_ldl").expect("rule")));
    // A shipped rule of a registry turned off does not apply either.
    let ckd_rules: Vec<u16> = (0..cat.gaps.len() as u16)
        .filter(|i| c.gap(*i).population.registry.as_deref() == Some("ckd"))
        .collect();
    assert!(!ckd_rules.is_empty(), "the shipped catalogue has CKD rules");
    assert!(ckd_rules.iter().all(|i| !c.gap_in_use(*i)));
    assert_eq!(
        cat.registries.len(),
        shipped().registries.len() + 1,
        "edits replace in place; an own registry is added"
    );
}

#[test]
fn a_rule_for_a_registry_removed_meanwhile_is_left_out_and_the_rest_applies() {
    // Node A removed its own registry while node B added a rule for it: after the merge
    // the rule refers to nothing.
    let mut p = CodingProtocol::default();
    p.gaps.insert(
        "pain_bp".to_owned(),
        gap_choice(true, Some(own_rule("pain_bp", "chronic_pain"))),
    );
    p.registries
        .insert("copd".to_owned(), registry_choice(false, None));
    let (c, left_out) = p.catalogue(shipped());
    assert_eq!(left_out.len(), 1);
    assert_eq!(left_out[0].item, "gap:pain_bp");
    assert!(left_out[0].reason.contains("chronic_pain"), "{left_out:?}");
    assert!(c.gap_index("pain_bp").is_none());
    assert!(!c.registry_in_use(c.registry_index("copd").expect("copd")));
    let err = p.check(&shipped()).expect_err("refused as an edit");
    assert!(err.to_string().contains("care-gap rule pain_bp"), "{err}");
}

#[test]
fn an_uncompilable_protocol_leaves_the_shipped_catalogue_in_force() {
    let mut p = CodingProtocol::default();
    let mut rule = own_rule("pain_bp", "diabetes");
    rule.every_months = Some(0);
    p.gaps
        .insert("pain_bp".to_owned(), gap_choice(true, Some(rule)));
    let (c, left_out) = p.catalogue(shipped());
    assert_eq!(c.catalogue(), &shipped());
    assert_eq!(left_out.len(), 1);
    assert!(
        left_out[0].reason.contains("every 0 months"),
        "{left_out:?}"
    );
}

#[test]
fn a_choice_about_a_definition_no_longer_shipped_is_ignored() {
    let mut p = CodingProtocol::default();
    p.registries
        .insert("retired_registry".to_owned(), registry_choice(false, None));
    p.gaps
        .insert("retired_rule".to_owned(), gap_choice(false, None));
    let (c, left_out) = p.catalogue(shipped());
    assert!(left_out.is_empty());
    assert!(c.catalogue().registries_off.is_empty());
    assert!(c.catalogue().gaps_off.is_empty());
}

#[test]
fn keys_are_made_from_names() {
    assert_eq!(
        key_from_name("Chronic pain").as_deref(),
        Some("chronic_pain")
    );
    assert_eq!(
        key_from_name("  Heart failure (HFrEF) ").as_deref(),
        Some("heart_failure_hfref")
    );
    assert_eq!(key_from_name("Dépression").as_deref(), Some("dépression"));
    assert_eq!(key_from_name("—").as_deref(), None);
    let long = key_from_name(&"a".repeat(100)).expect("key");
    assert_eq!(long.chars().count(), MAX_KEY);
}
