//! The rules built on clinical records: which patients are on a registry (coded), which
//! probably have the condition but are not coded, and which are due, overdue or out of
//! target for the care a guideline asks for (care gaps).
//!
//! A [`Catalogue`] holds the definitions: *concepts* (a named set of codes: "HbA1c" is
//! these LOINC codes, "metformin and other diabetes medications" these ATC prefixes),
//! *registries* (a condition by its codes, with its uncoded rules) and *care-gap rules*.
//! [`Catalogue::compile`] turns it into a [`Compiled`] form whose indexes make the
//! per-patient evaluation cheap; a patient's records are reduced once to a
//! [`PatientSummary`] (what the rules read: coded registries, and dated points per
//! concept), and [`Compiled::evaluate`] says what applies to that patient on a day.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::Date;

use super::{
    ClinicalFact, ClinicalRecord, Code, CodeMatch, ConditionStatus, MedicationStatus,
    ObservationValue, RecordKind,
};
use crate::review::age_on;
use crate::types::Sex;

// ---------------------------------------------------------------------------
// Definitions
// ---------------------------------------------------------------------------

/// A published source a definition or default is taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The citation as a reader would look it up: author or body, title, year.
    pub citation: String,
    /// Where it is published.
    pub url: String,
}

/// A named set of codes that a rule refers to by key: a kind of result, procedure,
/// immunization or medication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concept {
    /// Stable key (`hba1c`, `bp`, `egfr`, `fit`, `influenza_vaccine`, `diabetes_drugs`).
    pub key: String,
    pub name: String,
    /// Which records it is about.
    pub kind: RecordKind,
    pub codes: Vec<CodeMatch>,
    /// For numeric results: the units the rules' thresholds are written in, as labs write
    /// them (compared without case or spaces). A value in another unit is shown but not
    /// compared. Empty: any unit (or none).
    #[serde(default)]
    pub units: Vec<String>,
    pub source: Option<Source>,
}

impl Concept {
    pub fn matches(&self, kind: RecordKind, codes: &[Code]) -> bool {
        kind == self.kind
            && codes
                .iter()
                .any(|c| self.codes.iter().any(|m| m.matches(c)))
    }

    /// Whether a numeric value in `unit` can be compared with this concept's thresholds.
    pub fn accepts_unit(&self, unit: Option<&str>) -> bool {
        if self.units.is_empty() {
            return true;
        }
        let Some(unit) = unit else { return false };
        let norm = |u: &str| -> String {
            u.chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let unit = norm(unit);
        self.units.iter().any(|u| norm(u) == unit)
    }
}

/// How a value compares with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// ≥
    AtLeast,
    /// >
    Above,
    /// ≤
    AtMost,
    /// <
    Below,
}

impl Comparison {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::AtLeast => value >= threshold,
            Self::Above => value > threshold,
            Self::AtMost => value <= threshold,
            Self::Below => value < threshold,
        }
    }

    /// The wire and form name: `at_least`, `above`, `at_most`, `below`.
    pub fn key(self) -> &'static str {
        match self {
            Self::AtLeast => "at_least",
            Self::Above => "above",
            Self::AtMost => "at_most",
            Self::Below => "below",
        }
    }

    /// The comparison [`Comparison::key`] names.
    pub fn from_key(key: &str) -> Option<Self> {
        [Self::AtLeast, Self::Above, Self::AtMost, Self::Below]
            .into_iter()
            .find(|c| c.key() == key)
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::AtLeast => "≥",
            Self::Above => ">",
            Self::AtMost => "≤",
            Self::Below => "<",
        }
    }
}

/// What in a patient's data suggests a condition that is not coded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Evidence {
    /// At least `times` results of `concept` meeting the threshold, the first and the last
    /// of them at least `min_days_apart` days apart (0: any dates).
    Results {
        concept: String,
        comparison: Comparison,
        value: f64,
        times: u32,
        min_days_apart: u32,
    },
    /// For blood pressure: at least `times` readings with systolic ≥ `systolic` or diastolic
    /// ≥ `diastolic`, first and last at least `min_days_apart` apart.
    BloodPressure {
        concept: String,
        systolic: f64,
        diastolic: f64,
        times: u32,
        min_days_apart: u32,
    },
    /// An active (or any recorded) medication of `concept`.
    Medication { concept: String },
}

impl Evidence {
    pub fn concept(&self) -> &str {
        match self {
            Self::Results { concept, .. }
            | Self::BloodPressure { concept, .. }
            | Self::Medication { concept } => concept,
        }
    }
}

/// One rule that suggests a patient has a registry's condition without its code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UncodedRule {
    /// Stable key within the registry (`two_hba1c`), the key dismissals are kept under.
    pub key: String,
    /// The rule in words, as the suggestion shows it ("HbA1c ≥ 6.5 % twice").
    pub description: String,
    pub evidence: Evidence,
    pub source: Option<Source>,
}

/// A disease registry: a condition defined by its codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryDef {
    /// Stable key (`diabetes`, `hypertension`, `copd`).
    pub key: String,
    pub name: String,
    /// Which codes count: the clinic's coding protocol for it.
    pub codes: Vec<CodeMatch>,
    /// Where the shipped codes come from (`None` for a registry the clinic wrote itself).
    pub source: Option<Source>,
    #[serde(default)]
    pub uncoded: Vec<UncodedRule>,
}

impl RegistryDef {
    pub fn matches(&self, codes: &[Code]) -> bool {
        codes
            .iter()
            .any(|c| self.codes.iter().any(|m| m.matches(c)))
    }
}

/// Who a care-gap rule is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Population {
    /// Patients on this registry only (`None`: everyone of the ages and sex below).
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub min_age: Option<u32>,
    /// Inclusive.
    #[serde(default)]
    pub max_age: Option<u32>,
    #[serde(default)]
    pub sex: Option<Sex>,
    /// Patients on any of these registries are not eligible (e.g. a colorectal screening
    /// rule excludes people followed for colorectal cancer).
    #[serde(default)]
    pub excluding: Vec<String>,
}

impl Population {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = &self.registry {
            parts.push(format!("on the {r} registry"));
        }
        match self.sex {
            Some(Sex::Female) => parts.push("women".to_owned()),
            Some(Sex::Male) => parts.push("men".to_owned()),
            Some(Sex::X | Sex::Unknown) | None => {}
        }
        match (self.min_age, self.max_age) {
            (Some(a), Some(b)) => parts.push(format!("aged {a}–{b}")),
            (Some(a), None) => parts.push(format!("aged {a} and over")),
            (None, Some(b)) => parts.push(format!("aged up to {b}")),
            (None, None) => {}
        }
        if parts.is_empty() {
            "everyone".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// What a result should meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Target {
    Number {
        comparison: Comparison,
        value: f64,
    },
    /// Systolic and diastolic both below these.
    BloodPressureBelow {
        systolic: f64,
        diastolic: f64,
    },
}

impl Target {
    /// Whether a point meets the target; `None` when the point has no comparable value.
    pub fn met_by(&self, p: &Point) -> Option<bool> {
        match (self, p.value) {
            (Self::Number { comparison, value }, PointValue::Number(v)) => {
                Some(comparison.holds(f64::from(v), as_kept(*value)))
            }
            (
                Self::BloodPressureBelow {
                    systolic,
                    diastolic,
                },
                PointValue::BloodPressure(s, d),
            ) => Some(f64::from(s) < as_kept(*systolic) && f64::from(d) < as_kept(*diastolic)),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Number { comparison, value } => format!("{} {value}", comparison.symbol()),
            Self::BloodPressureBelow {
                systolic,
                diastolic,
            } => format!("< {systolic}/{diastolic}"),
        }
    }
}

/// A care-gap (recall) rule: for the population, `concept` is due every `every_months`
/// months (`None`: once, ever), and its latest value should meet `target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapRule {
    /// Stable key (`diabetes_hba1c`, `colorectal_screening`), under which recalls are kept.
    pub key: String,
    pub name: String,
    pub population: Population,
    /// The result, procedure or immunization that closes the gap.
    pub concept: String,
    pub every_months: Option<u32>,
    #[serde(default)]
    pub target: Option<Target>,
    /// Other concepts that also close the gap (a colonoscopy for a FIT rule, an HPV test for
    /// a cervical one), each with its own interval in months (`None`: once, ever).
    #[serde(default)]
    pub alternatives: Vec<(String, Option<u32>)>,
    pub source: Option<Source>,
}

/// Every definition a clinic has, and which of them it uses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Catalogue {
    pub concepts: Vec<Concept>,
    pub registries: Vec<RegistryDef>,
    pub gaps: Vec<GapRule>,
    /// Registries (by key) the clinic does not keep: not listed, no suggestions, and their
    /// care-gap rules do not apply. Their codes still exclude (a colorectal screening rule
    /// still leaves out people coded for colorectal cancer).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub registries_off: BTreeSet<String>,
    /// Care-gap rules (by key) the clinic does not use.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub gaps_off: BTreeSet<String>,
}

/// A catalogue that refers to something it does not define, or defines a key twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("{what} \"{key}\" is defined twice")]
    Duplicate { what: &'static str, key: String },
    #[error("{whose} refers to {what} \"{key}\", which is not defined")]
    Unknown {
        whose: String,
        what: &'static str,
        key: String,
    },
    #[error("{whose}: {problem}")]
    Invalid { whose: String, problem: String },
}

// ---------------------------------------------------------------------------
// Patient summary
// ---------------------------------------------------------------------------

/// A point of a concept's series: a date and what was measured (values as `f32`: lab
/// results carry 2–3 significant digits, and a clinic holds hundreds of thousands).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub date: Date,
    pub value: PointValue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PointValue {
    /// A number in one of the concept's units.
    Number(f32),
    BloodPressure(f32, f32),
    /// Done, with no comparable value (a procedure, a dose, a value in another unit).
    Done,
}

impl PointValue {
    /// A total order (a result with no value first, then numbers, then blood pressures).
    fn order(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |v: &Self| match v {
            Self::Done => 0,
            Self::Number(_) => 1,
            Self::BloodPressure(..) => 2,
        };
        match (self, other) {
            (Self::Number(a), Self::Number(b)) => a.total_cmp(b),
            (Self::BloodPressure(a, b), Self::BloodPressure(c, d)) => {
                a.total_cmp(c).then_with(|| b.total_cmp(d))
            }
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

impl std::fmt::Display for PointValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(x) => write!(f, "{x}"),
            Self::BloodPressure(s, d) => write!(f, "{s}/{d}"),
            Self::Done => f.write_str("done"),
        }
    }
}

/// What the rules read of one patient: the registries their active conditions code for,
/// and per concept its points in date order. Built by [`Compiled::summarise`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientSummary {
    /// Indexes into the catalogue's registries, sorted.
    pub coded: Vec<u16>,
    /// (concept index, points sorted by date), sorted by concept.
    pub series: Vec<(u16, Vec<Point>)>,
    /// Concept indexes of medications recorded (active or stopped; not entered in error):
    /// a stopped diabetes drug is still evidence of diabetes.
    pub medications: Vec<u16>,
}

impl PatientSummary {
    /// The summary as it stood at the end of `day`: results, procedures and doses dated
    /// later left out (registries and medications have no reliable date, so they stay).
    pub fn as_of(&self, day: Date) -> Self {
        Self {
            coded: self.coded.clone(),
            series: self
                .series
                .iter()
                .map(|(c, points)| {
                    let kept = points.partition_point(|p| p.date <= day);
                    (*c, points[..kept].to_vec())
                })
                .filter(|(_, points)| !points.is_empty())
                .collect(),
            medications: self.medications.clone(),
        }
    }

    pub fn points(&self, concept: u16) -> &[Point] {
        match self.series.binary_search_by_key(&concept, |(c, _)| *c) {
            Ok(i) => &self.series[i].1,
            Err(_) => &[],
        }
    }

    pub fn is_coded(&self, registry: u16) -> bool {
        self.coded.binary_search(&registry).is_ok()
    }
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/// Where a patient stands on one care-gap rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapTiming {
    /// Never recorded.
    Never,
    /// Was due on `due` (before today).
    Overdue,
    /// Due within [`DUE_SOON_DAYS`] days.
    DueSoon,
    UpToDate,
}

impl GapTiming {
    pub fn label(self) -> &'static str {
        match self {
            Self::Never => "never recorded",
            Self::Overdue => "overdue",
            Self::DueSoon => "due soon",
            Self::UpToDate => "up to date",
        }
    }
}

/// How far ahead "due soon" looks.
pub const DUE_SOON_DAYS: i64 = 30;

/// One patient on one care-gap rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GapState {
    /// Index into the catalogue's gap rules.
    pub rule: u16,
    pub timing: GapTiming,
    /// The latest record that counts, if any.
    pub last: Option<Point>,
    /// When it is (or was) next due; `None` when done once and not repeated, or never done.
    pub due: Option<Date>,
    /// Whether the latest comparable value meets the target (`None`: no target or no value).
    pub in_target: Option<bool>,
}

impl GapState {
    /// A gap the recall list shows: not done in time, or out of target.
    pub fn is_open(&self) -> bool {
        self.timing != GapTiming::UpToDate || self.in_target == Some(false)
    }
}

/// One probably-uncoded suggestion: registry `registry`'s rule `rule` fits the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uncoded {
    pub registry: u16,
    pub rule: u16,
}

/// Everything the rules say of one patient on one day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientCare {
    /// Registries the patient is coded on.
    pub registries: Vec<u16>,
    pub uncoded: Vec<Uncoded>,
    /// Every rule the patient is eligible for, open or not.
    pub gaps: Vec<GapState>,
}

/// A patient's demographics, as the rules read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demographics {
    pub sex: Sex,
    pub date_of_birth: Date,
}

/// A catalogue checked and indexed for evaluation (the default: an empty one).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compiled {
    catalogue: Catalogue,
    /// Per registry, per uncoded rule: the evidence's concept index.
    uncoded_concepts: Vec<Vec<u16>>,
    /// Per gap rule: population registry, excluded registries, concept, alternatives.
    gap_index: Vec<GapIndex>,
    /// Per registry: whether the clinic keeps it.
    registry_on: Vec<bool>,
    /// Per gap rule: whether it applies (in use, and its registry in use).
    gap_on: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq)]
struct GapIndex {
    registry: Option<u16>,
    excluding: Vec<u16>,
    concept: u16,
    alternatives: Vec<(u16, Option<u32>)>,
}

impl Catalogue {
    /// Whether a patient's records summarise the same under `self` as under `other`
    /// (`Compiled::summarise` reads the concepts and each registry's codes, by position):
    /// then a change between the two (a rule, a name, a registry turned off) leaves every
    /// stored summary valid.
    pub fn summarises_like(&self, other: &Catalogue) -> bool {
        self.concepts == other.concepts
            && self.registries.len() == other.registries.len()
            && self
                .registries
                .iter()
                .zip(&other.registries)
                .all(|(a, b)| a.codes == b.codes)
    }

    /// Checks every reference and key, and indexes the catalogue.
    pub fn compile(self) -> Result<Compiled, CatalogueError> {
        let concepts = index_of("concept", self.concepts.iter().map(|c| c.key.as_str()))?;
        let registries = index_of("registry", self.registries.iter().map(|r| r.key.as_str()))?;
        index_of("care-gap rule", self.gaps.iter().map(|g| g.key.as_str()))?;
        if self.concepts.len() > usize::from(u16::MAX) || self.registries.len() > 1000 {
            return Err(CatalogueError::Invalid {
                whose: "the catalogue".to_owned(),
                problem: "has too many definitions".to_owned(),
            });
        }
        let find = |whose: &str, what: &'static str, key: &str, map: &BTreeMap<&str, u16>| {
            map.get(key)
                .copied()
                .ok_or_else(|| CatalogueError::Unknown {
                    whose: whose.to_owned(),
                    what,
                    key: key.to_owned(),
                })
        };
        let mut uncoded_concepts = Vec::with_capacity(self.registries.len());
        for r in &self.registries {
            let whose = format!("registry \"{}\"", r.key);
            index_of("uncoded rule", r.uncoded.iter().map(|u| u.key.as_str()))?;
            let mut per_rule = Vec::with_capacity(r.uncoded.len());
            for u in &r.uncoded {
                let c = find(&whose, "concept", u.evidence.concept(), &concepts)?;
                let concept = &self.concepts[usize::from(c)];
                let want = match u.evidence {
                    Evidence::Medication { .. } => RecordKind::Medication,
                    Evidence::Results { .. } | Evidence::BloodPressure { .. } => {
                        RecordKind::Observation
                    }
                };
                if concept.kind != want {
                    return Err(CatalogueError::Invalid {
                        whose: format!("{whose}, rule \"{}\"", u.key),
                        problem: format!(
                            "concept \"{}\" is a {} concept, not a {} one",
                            concept.key,
                            concept.kind.label(),
                            want.label()
                        ),
                    });
                }
                per_rule.push(c);
            }
            uncoded_concepts.push(per_rule);
        }
        let mut gap_index = Vec::with_capacity(self.gaps.len());
        for g in &self.gaps {
            let whose = format!("care-gap rule \"{}\"", g.key);
            let registry = match &g.population.registry {
                Some(r) => Some(find(&whose, "registry", r, &registries)?),
                None => None,
            };
            let excluding = g
                .population
                .excluding
                .iter()
                .map(|r| find(&whose, "registry", r, &registries))
                .collect::<Result<_, _>>()?;
            let concept = find(&whose, "concept", &g.concept, &concepts)?;
            let alternatives = g
                .alternatives
                .iter()
                .map(|(c, every)| Ok((find(&whose, "concept", c, &concepts)?, *every)))
                .collect::<Result<_, CatalogueError>>()?;
            if g.every_months == Some(0) {
                return Err(CatalogueError::Invalid {
                    whose,
                    problem: "is due every 0 months".to_owned(),
                });
            }
            if let (Some(a), Some(b)) = (g.population.min_age, g.population.max_age)
                && a > b
            {
                return Err(CatalogueError::Invalid {
                    whose,
                    problem: format!("its youngest age {a} is above its oldest {b}"),
                });
            }
            gap_index.push(GapIndex {
                registry,
                excluding,
                concept,
                alternatives,
            });
        }
        let registry_on: Vec<bool> = self
            .registries
            .iter()
            .map(|r| !self.registries_off.contains(&r.key))
            .collect();
        let gap_on = self
            .gaps
            .iter()
            .zip(&gap_index)
            .map(|(g, idx)| {
                !self.gaps_off.contains(&g.key)
                    && idx.registry.is_none_or(|r| registry_on[usize::from(r)])
            })
            .collect();
        Ok(Compiled {
            catalogue: self,
            uncoded_concepts,
            gap_index,
            registry_on,
            gap_on,
        })
    }
}

fn index_of<'a>(
    what: &'static str,
    keys: impl Iterator<Item = &'a str>,
) -> Result<BTreeMap<&'a str, u16>, CatalogueError> {
    let mut map = BTreeMap::new();
    for (i, k) in keys.enumerate() {
        let i = u16::try_from(i).map_err(|_| CatalogueError::Invalid {
            whose: "the catalogue".to_owned(),
            problem: format!("has more than {} {what} definitions", u16::MAX),
        })?;
        if map.insert(k, i).is_some() {
            return Err(CatalogueError::Duplicate {
                what,
                key: k.to_owned(),
            });
        }
    }
    Ok(map)
}

impl Compiled {
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    pub fn registry(&self, i: u16) -> &RegistryDef {
        &self.catalogue.registries[usize::from(i)]
    }

    pub fn registry_index(&self, key: &str) -> Option<u16> {
        self.catalogue
            .registries
            .iter()
            .position(|r| r.key == key)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Whether the clinic keeps registry `i` (listed, with suggestions and care gaps).
    pub fn registry_in_use(&self, i: u16) -> bool {
        self.registry_on
            .get(usize::from(i))
            .copied()
            .unwrap_or(false)
    }

    /// Whether care-gap rule `i` applies: the clinic uses it, and keeps its registry.
    pub fn gap_in_use(&self, i: u16) -> bool {
        self.gap_on.get(usize::from(i)).copied().unwrap_or(false)
    }

    /// The registries the clinic keeps, with their indexes, in catalogue order.
    pub fn registries_in_use(&self) -> impl Iterator<Item = (u16, &RegistryDef)> {
        self.catalogue
            .registries
            .iter()
            .zip(0u16..)
            .filter(|(_, i)| self.registry_in_use(*i))
            .map(|(r, i)| (i, r))
    }

    /// The care-gap rules that apply, with their indexes, in catalogue order.
    pub fn gaps_in_use(&self) -> impl Iterator<Item = (u16, &GapRule)> {
        self.catalogue
            .gaps
            .iter()
            .zip(0u16..)
            .filter(|(_, i)| self.gap_in_use(*i))
            .map(|(g, i)| (i, g))
    }

    /// The index of the care-gap rule `key`.
    pub fn gap_index(&self, key: &str) -> Option<u16> {
        self.catalogue
            .gaps
            .iter()
            .position(|g| g.key == key)
            .and_then(|i| u16::try_from(i).ok())
    }

    pub fn concept(&self, i: u16) -> &Concept {
        &self.catalogue.concepts[usize::from(i)]
    }

    pub fn gap(&self, i: u16) -> &GapRule {
        &self.catalogue.gaps[usize::from(i)]
    }

    /// Reduces a patient's records to what the rules read. Conditions entered in error or
    /// resolved do not code; results entered with a unit the concept does not take count as
    /// done, not as a value.
    pub fn summarise<'a>(
        &self,
        records: impl IntoIterator<Item = &'a ClinicalRecord>,
    ) -> PatientSummary {
        let mut coded = BTreeSet::new();
        let mut series: BTreeMap<u16, Vec<Point>> = BTreeMap::new();
        let mut medications = BTreeSet::new();
        for r in records {
            let codes = r.fact.codes();
            match &r.fact {
                ClinicalFact::Condition { status, .. } => {
                    if *status == ConditionStatus::Active {
                        for (i, reg) in self.catalogue.registries.iter().enumerate() {
                            if reg.matches(codes) {
                                coded.insert(i as u16);
                            }
                        }
                    }
                    continue;
                }
                ClinicalFact::Medication { status, .. } => {
                    if *status != MedicationStatus::EnteredInError {
                        for (i, c) in self.catalogue.concepts.iter().enumerate() {
                            if c.matches(RecordKind::Medication, codes) {
                                medications.insert(i as u16);
                            }
                        }
                    }
                    continue;
                }
                ClinicalFact::Observation { .. }
                | ClinicalFact::Procedure { .. }
                | ClinicalFact::Immunization { .. } => {}
            }
            let Some(date) = r.fact.date() else { continue };
            let kind = r.fact.kind();
            for (i, c) in self.catalogue.concepts.iter().enumerate() {
                if !c.matches(kind, codes) {
                    continue;
                }
                let value = match &r.fact {
                    ClinicalFact::Observation {
                        value: ObservationValue::Number { value, unit },
                        ..
                    } if value.is_finite() && c.accepts_unit(unit.as_deref()) => {
                        PointValue::Number(*value as f32)
                    }
                    ClinicalFact::Observation {
                        value:
                            ObservationValue::BloodPressure {
                                systolic,
                                diastolic,
                            },
                        ..
                    } if systolic.is_finite() && diastolic.is_finite() => {
                        PointValue::BloodPressure(*systolic as f32, *diastolic as f32)
                    }
                    _ => PointValue::Done,
                };
                series
                    .entry(i as u16)
                    .or_default()
                    .push(Point { date, value });
            }
        }
        let series = series
            .into_iter()
            .map(|(c, mut points)| {
                // Results of one day are ordered by value, so that which of them counts as
                // the latest does not depend on the order the export listed them in.
                points.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.value.order(&b.value)));
                (c, points)
            })
            .collect();
        PatientSummary {
            coded: coded.into_iter().collect(),
            series,
            medications: medications.into_iter().collect(),
        }
    }

    /// What the rules say of one patient on `today`: the registries the clinic keeps and
    /// the rules it uses only.
    pub fn evaluate(&self, p: &PatientSummary, who: Demographics, today: Date) -> PatientCare {
        let mut care = PatientCare {
            registries: p
                .coded
                .iter()
                .copied()
                .filter(|r| self.registry_in_use(*r))
                .collect(),
            ..PatientCare::default()
        };
        for (ri, reg) in self.catalogue.registries.iter().enumerate() {
            let ri = ri as u16;
            if p.is_coded(ri) || !self.registry_in_use(ri) {
                continue;
            }
            for (ui, rule) in reg.uncoded.iter().enumerate() {
                let concept = self.uncoded_concepts[usize::from(ri)][ui];
                if evidence_holds(&rule.evidence, concept, p) {
                    care.uncoded.push(Uncoded {
                        registry: ri,
                        rule: ui as u16,
                    });
                }
            }
        }
        let age = age_on(who.date_of_birth, today);
        for (gi, rule) in self.catalogue.gaps.iter().enumerate() {
            let idx = &self.gap_index[gi];
            if !self.gap_on[gi] || !eligible(&rule.population, idx, p, who.sex, age) {
                continue;
            }
            care.gaps.push(gap_state(gi as u16, rule, idx, p, today));
        }
        care
    }
}

fn eligible(pop: &Population, idx: &GapIndex, p: &PatientSummary, sex: Sex, age: u32) -> bool {
    if let Some(r) = idx.registry
        && !p.is_coded(r)
    {
        return false;
    }
    if idx.excluding.iter().any(|r| p.is_coded(*r)) {
        return false;
    }
    if pop.sex.is_some_and(|s| s != sex) {
        return false;
    }
    pop.min_age.is_none_or(|a| age >= a) && pop.max_age.is_none_or(|a| age <= a)
}

fn evidence_holds(e: &Evidence, concept: u16, p: &PatientSummary) -> bool {
    let dated = |pred: &dyn Fn(&PointValue) -> bool, times: u32, apart: u32| -> bool {
        let hits: Vec<Date> = p
            .points(concept)
            .iter()
            .filter(|pt| pred(&pt.value))
            .map(|pt| pt.date)
            .collect();
        if times == 0 {
            return true;
        }
        if hits.len() < times as usize {
            return false;
        }
        // Points are in date order: the widest span is first to last.
        match (hits.first(), hits.last()) {
            (Some(a), Some(b)) => (*b - *a).whole_days() >= i64::from(apart),
            _ => false,
        }
    };
    match e {
        Evidence::Results {
            comparison,
            value,
            times,
            min_days_apart,
            ..
        } => dated(
            &|v| matches!(v, PointValue::Number(x) if comparison.holds(f64::from(*x), as_kept(*value))),
            *times,
            *min_days_apart,
        ),
        Evidence::BloodPressure {
            systolic,
            diastolic,
            times,
            min_days_apart,
            ..
        } => dated(
            &|v| {
                matches!(v, PointValue::BloodPressure(s, d)
                    if f64::from(*s) >= as_kept(*systolic) || f64::from(*d) >= as_kept(*diastolic))
            },
            *times,
            *min_days_apart,
        ),
        Evidence::Medication { .. } => p.medications.binary_search(&concept).is_ok(),
    }
}

fn gap_state(i: u16, rule: &GapRule, idx: &GapIndex, p: &PatientSummary, today: Date) -> GapState {
    // The latest point of the concept itself is what the target is judged on.
    let last = p.points(idx.concept).last().copied();
    let in_target = match (&rule.target, last) {
        (Some(t), Some(pt)) => t.met_by(&pt),
        _ => None,
    };
    // The timing is the best of the concept and its alternatives: whichever is due last.
    let mut best: Option<(GapTiming, Option<Date>, Option<Point>)> = None;
    let candidates = std::iter::once((idx.concept, rule.every_months))
        .chain(idx.alternatives.iter().copied())
        .filter_map(|(c, every)| p.points(c).last().map(|pt| (*pt, every)));
    for (pt, every) in candidates {
        let (timing, due) = match every {
            None => (GapTiming::UpToDate, None),
            Some(m) => {
                let due = add_months(pt.date, m);
                let timing = if due < today {
                    GapTiming::Overdue
                } else if (due - today).whole_days() <= DUE_SOON_DAYS {
                    GapTiming::DueSoon
                } else {
                    GapTiming::UpToDate
                };
                (timing, Some(due))
            }
        };
        let better = match &best {
            None => true,
            // A later due date is better; done once and not repeated is best of all.
            Some((t, d, _)) => (timing, due.unwrap_or(Date::MAX)) > (*t, d.unwrap_or(Date::MAX)),
        };
        if better {
            best = Some((timing, due, Some(pt)));
        }
    }
    let (timing, due, shown) = best.unwrap_or((GapTiming::Never, None, None));
    GapState {
        rule: i,
        timing,
        last: shown.or(last),
        due,
        in_target,
    }
}

/// A threshold as the values it is compared with are kept (`f32`): a result of 6.3 % is
/// kept as the `f32` nearest 6.3, so it must meet a threshold of 6.3 written as `f64`.
fn as_kept(threshold: f64) -> f64 {
    f64::from(threshold as f32)
}

/// `date` plus `months` calendar months, on the same day or the month's last day.
pub fn add_months(date: Date, months: u32) -> Date {
    let total = date.year() * 12 + i32::from(date.month() as u8 - 1) + months as i32;
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let month = time::Month::try_from(month0 as u8 + 1).unwrap_or(time::Month::December);
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, date.day().min(last)).unwrap_or(date)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
