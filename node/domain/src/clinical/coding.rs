//! The clinic's coding protocol: which of the shipped registries and care-gap rules it uses,
//! the codes it counts for a registry, the interval and target it sets for a rule, and the
//! registries and rules it adds of its own.
//!
//! The protocol is kept as *choices* over the catalogue Attach ships, one per definition,
//! not as a copy of the whole catalogue: two nodes that change two different registries
//! apart both keep their change, and a clinic that changed nothing follows the shipped
//! definitions as new versions of Attach improve them. A choice either keeps the shipped
//! definition (`def`/`rule` empty) or replaces it with the clinic's own; an own definition
//! with a key Attach does not ship is a registry or rule the clinic added.
//!
//! [`CodingProtocol::catalogue`] makes the catalogue the rules use. A clinic definition that
//! no longer fits (a rule for a registry another node removed meanwhile) is left out with
//! its reason rather than stopping every other definition from applying.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::rules::{Catalogue, CatalogueError, Compiled, GapRule, RegistryDef};
use crate::UserId;

/// The longest key of a definition the clinic adds.
pub const MAX_KEY: usize = 40;

/// What the clinic chose for one definition (a [`RegistryDef`] or a [`GapRule`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: serde::de::DeserializeOwned"))]
pub struct Choice<T> {
    /// Whether the clinic keeps the registry, or uses the rule.
    pub in_use: bool,
    /// The clinic's definition; `None`: the shipped one.
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub def: Option<T>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: UserId,
}

fn none<T>() -> Option<T> {
    None
}

impl<T: PartialEq> Choice<T> {
    /// The same choice, whoever made it when.
    pub fn same_as(&self, other: &Self) -> bool {
        self.in_use == other.in_use && self.def == other.def
    }
}

pub type RegistryChoice = Choice<RegistryDef>;
pub type GapChoice = Choice<GapRule>;

/// What the protocol keeps choices for: registries and care-gap rules.
pub trait Definable: Clone + PartialEq + Sized {
    /// `registry` or `care-gap rule`, for messages.
    const WORD: &'static str;
    /// What names its item in the catalogue document: `registry` or `gap`
    /// (`registry:<key>`, `gap:<key>`); also how a left-out definition is named.
    const ITEM: &'static str;
    fn key(&self) -> &str;
    fn shipped_in(catalogue: &Catalogue) -> &[Self];
    fn choices(p: &CodingProtocol) -> &BTreeMap<String, Choice<Self>>;
    fn choices_mut(p: &mut CodingProtocol) -> &mut BTreeMap<String, Choice<Self>>;
}

impl Definable for RegistryDef {
    const WORD: &'static str = "registry";
    const ITEM: &'static str = "registry";
    fn key(&self) -> &str {
        &self.key
    }
    fn shipped_in(catalogue: &Catalogue) -> &[Self] {
        &catalogue.registries
    }
    fn choices(p: &CodingProtocol) -> &BTreeMap<String, Choice<Self>> {
        &p.registries
    }
    fn choices_mut(p: &mut CodingProtocol) -> &mut BTreeMap<String, Choice<Self>> {
        &mut p.registries
    }
}

impl Definable for GapRule {
    const WORD: &'static str = "care-gap rule";
    const ITEM: &'static str = "gap";
    fn key(&self) -> &str {
        &self.key
    }
    fn shipped_in(catalogue: &Catalogue) -> &[Self] {
        &catalogue.gaps
    }
    fn choices(p: &CodingProtocol) -> &BTreeMap<String, Choice<Self>> {
        &p.gaps
    }
    fn choices_mut(p: &mut CodingProtocol) -> &mut BTreeMap<String, Choice<Self>> {
        &mut p.gaps
    }
}

/// Every choice a clinic made, by definition key.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CodingProtocol {
    pub registries: BTreeMap<String, RegistryChoice>,
    pub gaps: BTreeMap<String, GapChoice>,
}

/// A definition of the clinic's that could not be applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// `registry:<key>` or `gap:<key>`.
    pub item: String,
    pub reason: String,
}

impl CodingProtocol {
    pub fn is_empty(&self) -> bool {
        self.registries.is_empty() && self.gaps.is_empty()
    }

    /// The catalogue the clinic's rules use: `shipped` with every choice applied, compiled,
    /// and the clinic definitions that had to be left out. A protocol that cannot be
    /// compiled at all (which the checks on every edit prevent) leaves the shipped
    /// catalogue in force, and says so.
    pub fn catalogue(&self, shipped: Catalogue) -> (Compiled, Vec<LeftOut>) {
        let mut left_out = Vec::new();
        let mut cat = shipped.clone();
        for (key, choice) in &self.registries {
            let at = cat.registries.iter().position(|r| r.key == *key);
            match (&choice.def, at) {
                (Some(def), at) => {
                    let mut def = def.clone();
                    def.key.clone_from(key);
                    match at {
                        Some(i) => cat.registries[i] = def,
                        None => cat.registries.push(def),
                    }
                }
                (None, Some(_)) => {}
                // A choice about a definition this version no longer ships.
                (None, None) => continue,
            }
            if !choice.in_use {
                cat.registries_off.insert(key.clone());
            }
        }
        let registries: BTreeSet<&str> = cat.registries.iter().map(|r| r.key.as_str()).collect();
        let concepts: BTreeSet<&str> = cat.concepts.iter().map(|c| c.key.as_str()).collect();
        let mut gaps = cat.gaps.clone();
        let mut gaps_off = BTreeSet::new();
        for (key, choice) in &self.gaps {
            let at = gaps.iter().position(|g| g.key == *key);
            match (&choice.def, at) {
                (Some(rule), at) => {
                    let mut rule = rule.clone();
                    rule.key.clone_from(key);
                    if let Some(reason) = missing_reference(&rule, &registries, &concepts) {
                        left_out.push(LeftOut {
                            item: format!("gap:{key}"),
                            reason,
                        });
                        continue;
                    }
                    match at {
                        Some(i) => gaps[i] = rule,
                        None => gaps.push(rule),
                    }
                }
                (None, Some(_)) => {}
                (None, None) => continue,
            }
            if !choice.in_use {
                gaps_off.insert(key.clone());
            }
        }
        cat.gaps = gaps;
        cat.gaps_off = gaps_off;
        match cat.compile() {
            Ok(c) => (c, left_out),
            Err(e) => {
                left_out.push(LeftOut {
                    item: "catalogue".to_owned(),
                    reason: format!("{e}; the shipped definitions apply until it is corrected"),
                });
                (shipped.compile().unwrap_or_default(), left_out)
            }
        }
    }

    /// The catalogue with one more choice, checked: the error an edit must be refused with.
    pub fn check(&self, shipped: &Catalogue) -> Result<(), CatalogueError> {
        let (_, left_out) = self.catalogue(shipped.clone());
        match left_out.into_iter().next() {
            None => Ok(()),
            Some(l) => Err(CatalogueError::Invalid {
                whose: l.item.replacen("gap:", "care-gap rule ", 1),
                problem: l.reason,
            }),
        }
    }
}

/// What a rule refers to that the catalogue does not define.
fn missing_reference(
    rule: &GapRule,
    registries: &BTreeSet<&str>,
    concepts: &BTreeSet<&str>,
) -> Option<String> {
    let p = &rule.population;
    if let Some(r) = p
        .registry
        .iter()
        .chain(&p.excluding)
        .find(|r| !registries.contains(r.as_str()))
    {
        return Some(format!(
            "it refers to registry \"{r}\", which is not defined"
        ));
    }
    std::iter::once(&rule.concept)
        .chain(rule.alternatives.iter().map(|(c, _)| c))
        .find(|c| !concepts.contains(c.as_str()))
        .map(|c| format!("it refers to result kind \"{c}\", which is not defined"))
}

/// A key for a definition the clinic adds, made from its name: lower-case letters, digits
/// and `_` (`"Chronic pain"` is `chronic_pain`), at most [`MAX_KEY`] characters. `None`
/// when the name has no letter or digit.
pub fn key_from_name(name: &str) -> Option<String> {
    let mut key = String::new();
    let mut n = 0;
    for c in name.chars() {
        if n >= MAX_KEY {
            break;
        }
        if c.is_alphanumeric() {
            key.extend(c.to_lowercase());
            n += 1;
        } else if !key.is_empty() && !key.ends_with('_') {
            key.push('_');
            n += 1;
        }
    }
    let key = key.trim_end_matches('_').to_owned();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
#[path = "coding_tests.rs"]
mod tests;
