//! The clinic's coding protocol (phase 2 of the panel-management workbook): which registries
//! it keeps, the codes each counts, the interval, ages and target of each care-gap rule, and
//! the registries and rules it adds of its own. Kept in `clinic/<c>/catalogue` as one choice
//! per definition over the shipped catalogue (`attach_domain::clinical::coding`); every
//! version is the document's history (who changed which definition, when, and how).
//!
//! Any active member reads the protocol (it holds no patient's data); the clinic's account
//! managers change it. Every change is checked against the whole catalogue before it is
//! written, so a rule cannot be left pointing at a registry that is gone.

use std::collections::BTreeSet;

use time::OffsetDateTime;
use tracing::info;

use attach_domain::clinical::catalogue::shipped;
use attach_domain::clinical::coding::{Choice, CodingProtocol, Definable, LeftOut, key_from_name};
use attach_domain::clinical::rules::{Concept, GapRule, Population, RegistryDef, Target};
use attach_domain::clinical::{CodeMatch, RecordKind};
use attach_domain::{ClinicId, Sex, UserId};
use attach_schema::clinical::{read_coding_protocol, write_coding_choice};

use super::history::ChangeKind;
use super::registry::HistoryView;
use super::{App, AppError};

/// Longest name of a registry or rule.
pub const MAX_DEFINITION_NAME: usize = 120;
/// Most codes one registry lists.
pub const MAX_REGISTRY_CODES: usize = 1000;
/// Longest interval a care-gap rule may have, in months (ten years).
pub const MAX_EVERY_MONTHS: u32 = 120;

/// Where a definition in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionOrigin {
    /// As Attach ships it.
    Shipped,
    /// Shipped, and changed by the clinic.
    Edited,
    /// Added by the clinic.
    Own,
}

impl DefinitionOrigin {
    pub fn label(self) -> &'static str {
        match self {
            Self::Shipped => "as shipped",
            Self::Edited => "changed by the clinic",
            Self::Own => "the clinic's own",
        }
    }
}

/// One registry of the protocol, as in force.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryLine {
    pub def: RegistryDef,
    pub in_use: bool,
    pub origin: DefinitionOrigin,
    /// When and by whom the clinic last chose something for it.
    pub changed: Option<(OffsetDateTime, UserId)>,
    /// Care-gap rules (key, name) that refer to it.
    pub rules: Vec<(String, String)>,
}

/// One care-gap rule of the protocol, as in force.
#[derive(Debug, Clone, PartialEq)]
pub struct GapLine {
    pub rule: GapRule,
    pub in_use: bool,
    /// In use, and its registry kept: the rule applies.
    pub applies: bool,
    pub origin: DefinitionOrigin,
    pub changed: Option<(OffsetDateTime, UserId)>,
}

/// The whole protocol, for its page.
#[derive(Debug, Clone, PartialEq)]
pub struct CodingView {
    pub registries: Vec<RegistryLine>,
    pub gaps: Vec<GapLine>,
    /// The result kinds, procedures and immunizations a rule can ask for.
    pub concepts: Vec<Concept>,
    /// Definitions that could not be applied (written apart on two nodes), and why.
    pub left_out: Vec<LeftOut>,
}

/// A registry as a person writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryEdit {
    pub name: String,
    /// One code per line as `system code`, `*` at the end for a prefix (`icd9 250*`).
    pub codes: Vec<String>,
    pub in_use: bool,
}

/// A care-gap rule as a person writes it. What the form does not show (alternatives,
/// exclusions, the source) is kept from the rule as it was.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GapEdit {
    pub name: String,
    /// The registry whose patients it is for (`None`: everyone of the ages and sex).
    pub registry: Option<String>,
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    pub sex: Option<Sex>,
    /// The result, procedure or immunization that closes the gap.
    pub concept: String,
    /// `None`: once, ever.
    pub every_months: Option<u32>,
    pub target: Option<Target>,
    pub in_use: bool,
}

/// Which kind of definition an action is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Definition {
    Registry,
    Gap,
}

/// Whether Attach ships a registry or rule with this key (a reset puts it back; a clinic's
/// own is removed instead).
pub fn is_shipped_definition(what: Definition, key: &str) -> bool {
    let ship = shipped();
    match what {
        Definition::Registry => ship.registries.iter().any(|r| r.key == key),
        Definition::Gap => ship.gaps.iter().any(|g| g.key == key),
    }
}

impl App {
    /// The clinic's coding protocol as in force.
    pub fn coding_protocol(&self, who: UserId, clinic: ClinicId) -> Result<CodingView, AppError> {
        self.member_clinic(who, clinic)?;
        let protocol = self.read_protocol(clinic)?;
        let ship = shipped();
        let (compiled, left_out) = protocol.catalogue(ship.clone());
        let cat = compiled.catalogue();
        let origin = |own: Option<bool>, shipped: bool| match (own, shipped) {
            (Some(true), true) => DefinitionOrigin::Edited,
            (Some(true), false) => DefinitionOrigin::Own,
            _ => DefinitionOrigin::Shipped,
        };
        let registries = cat
            .registries
            .iter()
            .zip(0u16..)
            .map(|(r, i)| {
                let choice = protocol.registries.get(&r.key);
                RegistryLine {
                    def: r.clone(),
                    in_use: compiled.registry_in_use(i),
                    origin: origin(
                        choice.map(|c| c.def.is_some()),
                        ship.registries.iter().any(|s| s.key == r.key),
                    ),
                    changed: choice.map(|c| (c.at, c.by)),
                    rules: cat
                        .gaps
                        .iter()
                        .filter(|g| g.population.registry.as_deref() == Some(r.key.as_str()))
                        .map(|g| (g.key.clone(), g.name.clone()))
                        .collect(),
                }
            })
            .collect();
        let gaps = cat
            .gaps
            .iter()
            .zip(0u16..)
            .map(|(g, i)| {
                let choice = protocol.gaps.get(&g.key);
                GapLine {
                    rule: g.clone(),
                    in_use: !cat.gaps_off.contains(&g.key),
                    applies: compiled.gap_in_use(i),
                    origin: origin(
                        choice.map(|c| c.def.is_some()),
                        ship.gaps.iter().any(|s| s.key == g.key),
                    ),
                    changed: choice.map(|c| (c.at, c.by)),
                }
            })
            .collect();
        Ok(CodingView {
            registries,
            gaps,
            concepts: cat
                .concepts
                .iter()
                .filter(|c| c.kind != RecordKind::Medication && c.kind != RecordKind::Condition)
                .cloned()
                .collect(),
            left_out,
        })
    }

    /// Saves a registry (account managers): `key` names the one changed, `None` adds one
    /// of the clinic's own (its key made from its name). The key it is saved under.
    pub fn save_registry(
        &self,
        who: UserId,
        clinic: ClinicId,
        key: Option<&str>,
        edit: &RegistryEdit,
    ) -> Result<String, AppError> {
        self.coding_manager(who, clinic)?;
        let name = definition_name(&edit.name)?;
        let codes = parse_codes(&edit.codes)?;
        let protocol = self.read_protocol(clinic)?;
        let ship = shipped();
        let (compiled, _) = protocol.catalogue(ship.clone());
        let (key, current) = match key {
            Some(k) => {
                let i = compiled
                    .registry_index(k)
                    .ok_or_else(|| AppError::not_found("registry"))?;
                (k.to_owned(), Some(compiled.registry(i).clone()))
            }
            None => {
                let k = new_key(&name)?;
                if compiled.registry_index(&k).is_some()
                    || compiled
                        .catalogue()
                        .registries
                        .iter()
                        .any(|r| r.name.to_lowercase() == name.to_lowercase())
                {
                    return Err(AppError::invalid(
                        "name",
                        format!(
                            "there is a registry called \"{name}\" (key \"{k}\") already; change it, or choose another name"
                        ),
                    ));
                }
                (k, None)
            }
        };
        let shipped_def = ship.registries.iter().find(|r| r.key == key);
        let def = RegistryDef {
            key: key.clone(),
            name,
            codes,
            // An edited shipped registry keeps its uncoded rules and cites its source.
            source: current.as_ref().and_then(|c| c.source.clone()),
            uncoded: current
                .as_ref()
                .map(|c| c.uncoded.clone())
                .unwrap_or_default(),
        };
        let message = registry_message(
            &key,
            current.as_ref(),
            &def,
            compiled
                .registry_index(&key)
                .map(|i| compiled.registry_in_use(i)),
            edit.in_use,
        );
        let choice = Choice {
            in_use: edit.in_use,
            // The shipped definition as it is is kept as "shipped", to follow new versions.
            def: (shipped_def != Some(&def)).then_some(def),
            at: self.now(),
            by: who,
        };
        self.write_choice(clinic, who, &protocol, &key, Some(choice), message)?;
        Ok(key)
    }

    /// Saves a care-gap rule (account managers): `key` names the one changed, `None` adds
    /// one of the clinic's own. The key it is saved under.
    pub fn save_gap_rule(
        &self,
        who: UserId,
        clinic: ClinicId,
        key: Option<&str>,
        edit: &GapEdit,
    ) -> Result<String, AppError> {
        self.coding_manager(who, clinic)?;
        let name = definition_name(&edit.name)?;
        check_gap_edit(edit)?;
        let protocol = self.read_protocol(clinic)?;
        let ship = shipped();
        let (compiled, _) = protocol.catalogue(ship.clone());
        let (key, current) = match key {
            Some(k) => {
                let i = compiled
                    .gap_index(k)
                    .ok_or_else(|| AppError::not_found("care-gap rule"))?;
                (k.to_owned(), Some(compiled.gap(i).clone()))
            }
            None => {
                let k = new_key(&name)?;
                if compiled.gap_index(&k).is_some() {
                    return Err(AppError::invalid(
                        "name",
                        format!(
                            "there is a care-gap rule with the key \"{k}\" already; choose another name"
                        ),
                    ));
                }
                (k, None)
            }
        };
        if let Some(r) = &edit.registry
            && compiled.registry_index(r).is_none()
        {
            return Err(AppError::invalid(
                "registry",
                format!("no registry \"{r}\""),
            ));
        }
        let Some(concept) = compiled
            .catalogue()
            .concepts
            .iter()
            .find(|c| c.key == edit.concept)
        else {
            return Err(AppError::invalid(
                "concept",
                format!("no result, procedure or immunization \"{}\"", edit.concept),
            ));
        };
        if let Some(t) = &edit.target {
            check_target(t, concept)?;
        }
        let kept = current.clone();
        let rule = GapRule {
            key: key.clone(),
            name,
            population: Population {
                registry: edit.registry.clone(),
                min_age: edit.min_age,
                max_age: edit.max_age,
                sex: edit.sex,
                excluding: kept
                    .as_ref()
                    .map(|g| g.population.excluding.clone())
                    .unwrap_or_default(),
            },
            concept: edit.concept.clone(),
            every_months: edit.every_months,
            target: edit.target.clone(),
            // Another way of closing the gap is kept while the rule asks for the same thing.
            alternatives: kept
                .as_ref()
                .filter(|g| g.concept == edit.concept)
                .map(|g| g.alternatives.clone())
                .unwrap_or_default(),
            source: kept.as_ref().and_then(|g| g.source.clone()),
        };
        let was_in_use = current
            .as_ref()
            .map(|_| !compiled.catalogue().gaps_off.contains(&key));
        let message = gap_message(&key, current.as_ref(), &rule, was_in_use, edit.in_use);
        let shipped_rule = ship.gaps.iter().find(|g| g.key == key);
        let choice = Choice {
            in_use: edit.in_use,
            def: (shipped_rule != Some(&rule)).then_some(rule),
            at: self.now(),
            by: who,
        };
        self.write_choice(clinic, who, &protocol, &key, Some(choice), message)?;
        Ok(key)
    }

    /// Keeps or stops keeping a registry, or uses or stops using a care-gap rule, without
    /// changing its definition (account managers).
    pub fn set_definition_in_use(
        &self,
        who: UserId,
        clinic: ClinicId,
        what: Definition,
        key: &str,
        in_use: bool,
    ) -> Result<(), AppError> {
        match what {
            Definition::Registry => self.set_in_use::<RegistryDef>(who, clinic, key, in_use),
            Definition::Gap => self.set_in_use::<GapRule>(who, clinic, key, in_use),
        }
    }

    fn set_in_use<T: Definable + serde::Serialize>(
        &self,
        who: UserId,
        clinic: ClinicId,
        key: &str,
        in_use: bool,
    ) -> Result<(), AppError> {
        self.coding_manager(who, clinic)?;
        let protocol = self.read_protocol(clinic)?;
        let (compiled, _) = protocol.catalogue(shipped());
        if !T::shipped_in(compiled.catalogue())
            .iter()
            .any(|d| d.key() == key)
        {
            return Err(AppError::not_found(T::WORD));
        }
        let choice = Choice {
            in_use,
            def: T::choices(&protocol).get(key).and_then(|c| c.def.clone()),
            at: self.now(),
            by: who,
        };
        let verb = if in_use { "turn on" } else { "turn off" };
        let message = format!("coding protocol: {verb} {} {key}", T::WORD);
        self.write_choice(clinic, who, &protocol, key, Some(choice), message)
    }

    /// Puts a shipped definition back as Attach ships it (kept or not, as it was), or
    /// removes one of the clinic's own (account managers). A registry a rule still refers
    /// to cannot be removed.
    pub fn reset_definition(
        &self,
        who: UserId,
        clinic: ClinicId,
        what: Definition,
        key: &str,
    ) -> Result<(), AppError> {
        match what {
            Definition::Registry => self.reset::<RegistryDef>(who, clinic, key),
            Definition::Gap => self.reset::<GapRule>(who, clinic, key),
        }
    }

    fn reset<T: Definable + serde::Serialize>(
        &self,
        who: UserId,
        clinic: ClinicId,
        key: &str,
    ) -> Result<(), AppError> {
        self.coding_manager(who, clinic)?;
        let protocol = self.read_protocol(clinic)?;
        let is_shipped = T::shipped_in(&shipped()).iter().any(|d| d.key() == key);
        let Some(current) = T::choices(&protocol).get(key) else {
            return if is_shipped {
                Ok(())
            } else {
                Err(AppError::not_found(T::WORD))
            };
        };
        let (choice, message) = if is_shipped {
            if current.def.is_none() {
                return Ok(());
            }
            // Kept as shipped; a choice is left only to say it is not in use.
            let back = (!current.in_use).then(|| Choice::<T> {
                in_use: false,
                def: None,
                at: self.now(),
                by: who,
            });
            let message = format!(
                "coding protocol: reset {} {key} to the shipped definition",
                T::WORD
            );
            (back, message)
        } else {
            (None, format!("coding protocol: remove {} {key}", T::WORD))
        };
        self.write_choice(clinic, who, &protocol, key, choice, message)
    }

    /// Every version of the coding protocol: who changed which definition, how, when;
    /// newest last.
    pub fn coding_history(
        &self,
        who: UserId,
        clinic: ClinicId,
    ) -> Result<Vec<HistoryView>, AppError> {
        self.member_clinic(who, clinic)?;
        let id = attach_schema::ids::catalogue_doc_id(clinic);
        Ok(self.history_views(self.store().history(&id)?.into_iter()))
    }

    fn coding_manager(&self, who: UserId, clinic: ClinicId) -> Result<(), AppError> {
        let c = self.member_clinic(who, clinic)?;
        super::registry::require_manager(&c, who)
    }

    fn read_protocol(&self, clinic: ClinicId) -> Result<CodingProtocol, AppError> {
        let id = attach_schema::ids::catalogue_doc_id(clinic);
        Ok(self
            .store()
            .read(&id, read_coding_protocol)?
            .transpose()?
            .unwrap_or_default())
    }

    /// Writes the clinic's choice for one registry or rule, once the catalogue it makes is
    /// checked; nothing when that choice is already stored.
    fn write_choice<T: Definable + serde::Serialize>(
        &self,
        clinic: ClinicId,
        who: UserId,
        protocol: &CodingProtocol,
        key: &str,
        choice: Option<Choice<T>>,
        message: String,
    ) -> Result<(), AppError> {
        let unchanged = match (T::choices(protocol).get(key), &choice) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_as(b),
            _ => false,
        };
        if unchanged {
            return Ok(());
        }
        let mut next = protocol.clone();
        match &choice {
            Some(c) => T::choices_mut(&mut next).insert(key.to_owned(), c.clone()),
            None => T::choices_mut(&mut next).remove(key),
        };
        next.check(&shipped())
            .map_err(|e| AppError::invalid(T::ITEM, e.to_string()))?;
        let id = attach_schema::ids::catalogue_doc_id(clinic);
        let message = ChangeKind::Other(message).to_string();
        self.store().change(&id, who.0, &message, |tx| {
            write_coding_choice(tx, key, choice.as_ref()).map_err(AppError::from)
        })?;
        info!(clinic = %clinic, definition = T::WORD, key, "coding protocol changed");
        Ok(())
    }
}

fn definition_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "write a name"));
    }
    if name.chars().count() > MAX_DEFINITION_NAME {
        return Err(AppError::invalid(
            "name",
            format!("at most {MAX_DEFINITION_NAME} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn new_key(name: &str) -> Result<String, AppError> {
    key_from_name(name)
        .ok_or_else(|| AppError::invalid("name", "the name needs at least one letter or digit"))
}

/// The codes typed one per line; blank lines are skipped, a code written twice counts
/// once, and a bad line is named by its number.
fn parse_codes(lines: &[String]) -> Result<Vec<CodeMatch>, AppError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (n, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let m = CodeMatch::parse_line(line)
            .map_err(|e| AppError::invalid("codes", format!("line {}: {e}", n + 1)))?;
        if m.system == attach_domain::clinical::CodeSystem::Loinc
            || m.system == attach_domain::clinical::CodeSystem::Cvx
        {
            return Err(AppError::invalid(
                "codes",
                format!(
                    "line {}: {} codes results or vaccines, not diagnoses; a registry is coded in icd9, icd10ca or snomed",
                    n + 1,
                    m.system.label()
                ),
            ));
        }
        if seen.insert(m.to_line()) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err(AppError::invalid(
            "codes",
            "list at least one code, e.g. \"icd9 250*\"",
        ));
    }
    if out.len() > MAX_REGISTRY_CODES {
        return Err(AppError::invalid(
            "codes",
            format!("at most {MAX_REGISTRY_CODES} codes"),
        ));
    }
    Ok(out)
}

fn check_gap_edit(edit: &GapEdit) -> Result<(), AppError> {
    if let Some(m) = edit.every_months
        && !(1..=MAX_EVERY_MONTHS).contains(&m)
    {
        return Err(AppError::invalid(
            "every_months",
            format!("between 1 and {MAX_EVERY_MONTHS} months, or empty for once"),
        ));
    }
    for (field, age) in [("min_age", edit.min_age), ("max_age", edit.max_age)] {
        if age.is_some_and(|a| a > 130) {
            return Err(AppError::invalid(field, "an age up to 130"));
        }
    }
    if let (Some(a), Some(b)) = (edit.min_age, edit.max_age)
        && a > b
    {
        return Err(AppError::invalid(
            "max_age",
            format!("the oldest age {b} is below the youngest {a}"),
        ));
    }
    if edit.registry.is_none()
        && edit.min_age.is_none()
        && edit.max_age.is_none()
        && edit.sex.is_none()
    {
        return Err(AppError::invalid(
            "registry",
            "say whom the rule is for: a registry, an age range or a sex",
        ));
    }
    Ok(())
}

fn check_target(t: &Target, concept: &Concept) -> Result<(), AppError> {
    let ok = |v: f64| v.is_finite() && v >= 0.0;
    match t {
        Target::Number { value, .. } => {
            if !ok(*value) {
                return Err(AppError::invalid(
                    "target",
                    "a target is a number of 0 or more",
                ));
            }
        }
        Target::BloodPressureBelow {
            systolic,
            diastolic,
        } => {
            if !ok(*systolic) || !ok(*diastolic) || systolic <= diastolic {
                return Err(AppError::invalid(
                    "target",
                    "a blood-pressure target is systolic over diastolic, the first the higher",
                ));
            }
        }
    }
    if concept.kind != RecordKind::Observation {
        return Err(AppError::invalid(
            "target",
            format!(
                "\"{}\" is a {}, which has no value to meet a target",
                concept.name,
                concept.kind.label()
            ),
        ));
    }
    Ok(())
}

/// The version's words: what changed in a registry.
fn registry_message(
    key: &str,
    before: Option<&RegistryDef>,
    after: &RegistryDef,
    was_in_use: Option<bool>,
    in_use: bool,
) -> String {
    let Some(before) = before else {
        return format!(
            "coding protocol: add registry {key} ({} codes){}",
            after.codes.len(),
            if in_use { "" } else { ", not in use" }
        );
    };
    let mut what = Vec::new();
    if before.name != after.name {
        what.push(format!("renamed to \"{}\"", after.name));
    }
    let lines =
        |d: &RegistryDef| -> BTreeSet<String> { d.codes.iter().map(CodeMatch::to_line).collect() };
    let (old, new) = (lines(before), lines(after));
    let added: Vec<&String> = new.difference(&old).collect();
    let removed: Vec<&String> = old.difference(&new).collect();
    if !added.is_empty() {
        what.push(format!("codes added: {}", join(&added)));
    }
    if !removed.is_empty() {
        what.push(format!("codes removed: {}", join(&removed)));
    }
    if was_in_use != Some(in_use) {
        what.push(if in_use { "turned on" } else { "turned off" }.to_owned());
    }
    if what.is_empty() {
        what.push("saved".to_owned());
    }
    format!("coding protocol: registry {key}: {}", what.join("; "))
}

fn join(items: &[&String]) -> String {
    const SHOWN: usize = 10;
    let mut s = items
        .iter()
        .take(SHOWN)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

/// The version's words: what changed in a care-gap rule.
fn gap_message(
    key: &str,
    before: Option<&GapRule>,
    after: &GapRule,
    was_in_use: Option<bool>,
    in_use: bool,
) -> String {
    let every =
        |m: Option<u32>| m.map_or_else(|| "once".to_owned(), |m| format!("every {m} months"));
    let target = |t: Option<&Target>| t.map_or_else(|| "no target".to_owned(), Target::describe);
    let Some(before) = before else {
        return format!(
            "coding protocol: add care-gap rule {key} ({}, {}, {})",
            after.population.describe(),
            every(after.every_months),
            target(after.target.as_ref())
        );
    };
    let mut what = Vec::new();
    if before.name != after.name {
        what.push(format!("renamed to \"{}\"", after.name));
    }
    if before.population != after.population {
        what.push(format!("for {}", after.population.describe()));
    }
    if before.concept != after.concept {
        what.push(format!("closed by {}", after.concept));
    }
    if before.every_months != after.every_months {
        what.push(format!(
            "{} (was {})",
            every(after.every_months),
            every(before.every_months)
        ));
    }
    if before.target != after.target {
        what.push(format!(
            "target {} (was {})",
            target(after.target.as_ref()),
            target(before.target.as_ref())
        ));
    }
    if was_in_use != Some(in_use) {
        what.push(if in_use { "turned on" } else { "turned off" }.to_owned());
    }
    if what.is_empty() {
        what.push("saved".to_owned());
    }
    format!("coding protocol: care-gap rule {key}: {}", what.join("; "))
}

#[cfg(test)]
#[path = "coding_tests.rs"]
pub(crate) mod tests;
