//! Clinical data a clinic brings in from its EMR (phase 2 and 3 of the panel-management
//! workbook): problem-list conditions, results (labs and vitals), procedures and screenings,
//! immunizations and medications, each coded in a named code system; and the rules built on
//! them — registries, probably-uncoded suggestions and care gaps ([`rules`]), with the
//! definitions Attach ships ([`catalogue`]).
//!
//! Attach is not the EMR: a record here is what the EMR exported (or what a person entered
//! or corrected on the patient's page), kept so the clinic can find, count and recall.

pub mod catalogue;
pub mod coding;
pub mod comparison;
pub mod followup;
pub mod rules;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::ids::UserId;

// ---------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------

/// A code system Attach knows by name. Codes in any other system are kept (as
/// [`CodeSystem::Other`], with the system's URI) but no shipped definition refers to them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeSystem {
    /// ICD-9 as MSP uses it for diagnostic codes on claims (3 digits, sometimes 4–5).
    Icd9,
    /// ICD-10-CA, CIHI's Canadian modification of ICD-10.
    Icd10Ca,
    SnomedCt,
    /// LOINC, for results.
    Loinc,
    /// WHO Anatomical Therapeutic Chemical classification, for medications.
    Atc,
    /// Health Canada Drug Identification Number.
    Din,
    /// CDC vaccine codes (CVX), for immunizations.
    Cvx,
    /// Canadian Vaccine Catalogue / a clinic's own codes, or any other system, by URI or name.
    Other(String),
}

impl CodeSystem {
    /// Every named system, in the order forms list them.
    pub const NAMED: [CodeSystem; 7] = [
        Self::Icd9,
        Self::Icd10Ca,
        Self::SnomedCt,
        Self::Loinc,
        Self::Atc,
        Self::Din,
        Self::Cvx,
    ];

    /// The system's short name in CSV files and forms: `icd9`, `icd10ca`, `snomed`, `loinc`,
    /// `atc`, `din`, `cvx`; another system's own URI or name.
    pub fn key(&self) -> &str {
        match self {
            Self::Icd9 => "icd9",
            Self::Icd10Ca => "icd10ca",
            Self::SnomedCt => "snomed",
            Self::Loinc => "loinc",
            Self::Atc => "atc",
            Self::Din => "din",
            Self::Cvx => "cvx",
            Self::Other(s) => s,
        }
    }

    /// The canonical FHIR `system` URI of a named system.
    pub fn uri(&self) -> &str {
        match self {
            Self::Icd9 => "http://hl7.org/fhir/sid/icd-9-cm",
            Self::Icd10Ca => "http://hl7.org/fhir/sid/icd-10-ca",
            Self::SnomedCt => "http://snomed.info/sct",
            Self::Loinc => "http://loinc.org",
            Self::Atc => "http://www.whocc.no/atc",
            Self::Din => "http://hl7.org/fhir/NamingSystem/ca-hc-din",
            Self::Cvx => "http://hl7.org/fhir/sid/cvx",
            Self::Other(s) => s,
        }
    }

    /// A human name for pages.
    pub fn label(&self) -> &str {
        match self {
            Self::Icd9 => "ICD-9 (MSP)",
            Self::Icd10Ca => "ICD-10-CA",
            Self::SnomedCt => "SNOMED CT",
            Self::Loinc => "LOINC",
            Self::Atc => "ATC",
            Self::Din => "DIN",
            Self::Cvx => "CVX",
            Self::Other(s) => s,
        }
    }

    /// The system named by a CSV key or a FHIR URI (several URIs are in use for the same
    /// system; case and a trailing slash do not matter). Anything else is
    /// [`CodeSystem::Other`]; an empty name is `None`.
    pub fn parse(name: &str) -> Option<Self> {
        let n = name.trim().trim_end_matches('/');
        if n.is_empty() {
            return None;
        }
        let lower = n.to_ascii_lowercase();
        let named = match lower.as_str() {
            "icd9"
            | "icd-9"
            | "icd9cm"
            | "icd-9-cm"
            | "http://hl7.org/fhir/sid/icd-9-cm"
            | "http://hl7.org/fhir/sid/icd-9"
            | "https://fhir.infoway-inforoute.ca/codesystem/icd9" => Self::Icd9,
            "icd10ca"
            | "icd-10-ca"
            | "icd10"
            | "icd-10"
            | "http://hl7.org/fhir/sid/icd-10-ca"
            | "http://hl7.org/fhir/sid/icd-10"
            | "https://fhir.infoway-inforoute.ca/codesystem/icd10ca" => Self::Icd10Ca,
            "snomed" | "snomedct" | "snomed-ct" | "sct" | "http://snomed.info/sct" => {
                Self::SnomedCt
            }
            "loinc" | "http://loinc.org" => Self::Loinc,
            "atc" | "http://www.whocc.no/atc" => Self::Atc,
            "din"
            | "http://hl7.org/fhir/namingsystem/ca-hc-din"
            | "https://fhir.infoway-inforoute.ca/namingsystem/ca-hc-din"
            | "http://health-products.canada.ca/dpd-bdpp" => Self::Din,
            "cvx" | "http://hl7.org/fhir/sid/cvx" => Self::Cvx,
            _ => Self::Other(n.to_owned()),
        };
        Some(named)
    }
}

impl fmt::Display for CodeSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One coding: a code in a system. Codes are kept as the form compares them: ICD, ATC and
/// DIN codes upper-cased with dots and spaces removed (`250.00` is `25000`, `e11.9` is
/// `E119`), other systems trimmed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Code {
    pub system: CodeSystem,
    pub code: String,
}

impl Code {
    /// `None` when the code is empty once normalised.
    pub fn new(system: CodeSystem, code: &str) -> Option<Self> {
        let code = normalise_code(&system, code);
        if code.is_empty() {
            return None;
        }
        Some(Self { system, code })
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.system.label(), self.code)
    }
}

fn normalise_code(system: &CodeSystem, code: &str) -> String {
    match system {
        CodeSystem::Icd9 | CodeSystem::Icd10Ca | CodeSystem::Atc | CodeSystem::Din => code
            .chars()
            .filter(|c| !matches!(c, '.' | ' ' | '-'))
            .flat_map(char::to_uppercase)
            .collect(),
        _ => code.trim().to_owned(),
    }
}

/// A code or a code prefix that a definition (registry, result kind, medication class)
/// counts: `ICD-9 250*` is every code starting `250`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CodeMatch {
    pub system: CodeSystem,
    pub code: String,
    /// Every code that starts with `code` counts, not only `code` itself.
    pub prefix: bool,
}

impl CodeMatch {
    pub fn exact(system: CodeSystem, code: &str) -> Self {
        let code = normalise_code(&system, code);
        Self {
            system,
            code,
            prefix: false,
        }
    }

    pub fn prefix(system: CodeSystem, code: &str) -> Self {
        Self {
            prefix: true,
            ..Self::exact(system, code)
        }
    }

    pub fn matches(&self, c: &Code) -> bool {
        self.system == c.system
            && if self.prefix {
                c.code.starts_with(&self.code)
            } else {
                c.code == self.code
            }
    }

    /// The match as one line of a coding protocol: `icd9 250*`, `snomed 44054006`.
    pub fn to_line(&self) -> String {
        format!(
            "{} {}{}",
            self.system.key(),
            self.code,
            if self.prefix { "*" } else { "" }
        )
    }

    /// Reads [`to_line`](Self::to_line)'s form (`system code`, a trailing `*` for a prefix).
    pub fn parse_line(line: &str) -> Result<Self, String> {
        let mut words = line.split_whitespace();
        let (Some(system), Some(code), None) = (words.next(), words.next(), words.next()) else {
            return Err("write a code system and one code, e.g. \"icd9 250*\"".to_owned());
        };
        let Some(system) = CodeSystem::parse(system) else {
            return Err("the code system is missing".to_owned());
        };
        if let CodeSystem::Other(name) = &system {
            return Err(format!(
                "\"{name}\" is not a code system Attach knows (icd9, icd10ca, snomed, loinc, atc, din, cvx)"
            ));
        }
        let (code, prefix) = match code.strip_suffix('*') {
            Some(c) => (c, true),
            None => (code, false),
        };
        let m = if prefix {
            Self::prefix(system, code)
        } else {
            Self::exact(system, code)
        };
        if m.code.is_empty() {
            return Err("the code is empty".to_owned());
        }
        if !m
            .code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!(
                "\"{code}\" is not a code (letters, digits and dashes, as 4548-4; dots allowed in ICD)"
            ));
        }
        Ok(m)
    }
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/// Which kind of clinical record, as FHIR names the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Condition,
    Observation,
    Procedure,
    Immunization,
    Medication,
}

impl RecordKind {
    pub const ALL: [RecordKind; 5] = [
        Self::Condition,
        Self::Observation,
        Self::Procedure,
        Self::Immunization,
        Self::Medication,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Self::Condition => "condition",
            Self::Observation => "observation",
            Self::Procedure => "procedure",
            Self::Immunization => "immunization",
            Self::Medication => "medication",
        }
    }

    pub fn from_key(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Condition => "condition",
            Self::Observation => "result",
            Self::Procedure => "procedure or screening",
            Self::Immunization => "immunization",
            Self::Medication => "medication",
        }
    }
}

/// Where a clinical record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum Origin {
    /// An EMR export (FHIR or CSV); `updated` is the source's own last-updated time when the
    /// file gave one, so a newer export replaces an older one and never the other way round.
    Emr {
        #[serde(default, with = "time::serde::rfc3339::option")]
        updated: Option<OffsetDateTime>,
    },
    /// Entered or corrected in Attach by a person: to take back to the EMR.
    Attach {
        by: UserId,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

/// A problem-list entry's clinical status, as far as registries care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionStatus {
    /// Active, recurrence, relapse; also a condition with no status given.
    Active,
    /// Inactive, remission or resolved: kept, but the patient is not on the registry for it.
    Resolved,
    /// Refuted or entered in error: ignored everywhere.
    EnteredInError,
}

/// A medication's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MedicationStatus {
    Active,
    Stopped,
    EnteredInError,
}

/// A result's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ObservationValue {
    /// A number with its unit as the lab wrote it (`%`, `mmol/L`, `mL/min/1.73m2`).
    Number {
        value: f64,
        unit: Option<String>,
    },
    /// A blood pressure, in mmHg.
    BloodPressure {
        systolic: f64,
        diastolic: f64,
    },
    /// A coded answer (smoking status, a screening result).
    Coded {
        code: Code,
    },
    Text {
        text: String,
    },
    /// A result recorded with no value (done, value not sent).
    None,
}

impl ObservationValue {
    /// A number or blood pressure as the import file's `value` and `unit` columns write
    /// it (`6.8` `%`, `128/82` `mmHg`); `None` for coded, text and empty results.
    pub fn value_and_unit(&self) -> Option<(String, String)> {
        match self {
            Self::Number { value, unit } => {
                Some((value.to_string(), unit.clone().unwrap_or_default()))
            }
            Self::BloodPressure {
                systolic,
                diastolic,
            } => Some((format!("{systolic}/{diastolic}"), "mmHg".to_owned())),
            Self::Coded { .. } | Self::Text { .. } | Self::None => None,
        }
    }

    /// The value as a person reads it (`6.8 %`, `128/82 mmHg`, a code, the text);
    /// `None` for a result recorded with no value.
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Coded { code } => Some(code.to_string()),
            Self::Text { text } => Some(text.clone()),
            Self::None => None,
            Self::Number { .. } | Self::BloodPressure { .. } => {
                let (value, unit) = self.value_and_unit()?;
                Some(format!("{value} {unit}").trim_end().to_owned())
            }
        }
    }
}

/// What a clinical record says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ClinicalFact {
    Condition {
        codes: Vec<Code>,
        #[serde(default)]
        onset: Option<Date>,
        #[serde(default)]
        abated: Option<Date>,
        status: ConditionStatus,
    },
    Observation {
        codes: Vec<Code>,
        date: Date,
        value: ObservationValue,
    },
    Procedure {
        codes: Vec<Code>,
        date: Date,
    },
    Immunization {
        codes: Vec<Code>,
        date: Date,
    },
    Medication {
        codes: Vec<Code>,
        #[serde(default)]
        start: Option<Date>,
        #[serde(default)]
        end: Option<Date>,
        status: MedicationStatus,
    },
}

impl ClinicalFact {
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::Condition { .. } => RecordKind::Condition,
            Self::Observation { .. } => RecordKind::Observation,
            Self::Procedure { .. } => RecordKind::Procedure,
            Self::Immunization { .. } => RecordKind::Immunization,
            Self::Medication { .. } => RecordKind::Medication,
        }
    }

    pub fn codes(&self) -> &[Code] {
        match self {
            Self::Condition { codes, .. }
            | Self::Observation { codes, .. }
            | Self::Procedure { codes, .. }
            | Self::Immunization { codes, .. }
            | Self::Medication { codes, .. } => codes,
        }
    }

    /// A result's value (`None` for the other kinds).
    pub fn value(&self) -> Option<&ObservationValue> {
        match self {
            Self::Observation { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The date the record is about (onset, result, procedure, dose, start), if any.
    pub fn date(&self) -> Option<Date> {
        match self {
            Self::Condition { onset, .. } => *onset,
            Self::Observation { date, .. }
            | Self::Procedure { date, .. }
            | Self::Immunization { date, .. } => Some(*date),
            Self::Medication { start, .. } => *start,
        }
    }
}

/// The largest length of a record's source id.
pub const MAX_SOURCE_ID: usize = 128;

/// One clinical record of one patient. `source_id` is the record's id in the EMR export
/// (the FHIR resource id, the CSV `id` column) or one Attach made for a record entered by
/// hand: importing the same export again finds the same ids and changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClinicalRecord {
    pub source_id: String,
    pub fact: ClinicalFact,
    /// The text the EMR shows for it ("Type 2 diabetes mellitus", "HbA1c").
    #[serde(default)]
    pub display: Option<String>,
    pub origin: Origin,
}

impl ClinicalRecord {
    /// Whether this record should replace `stored`, the record of the same id already kept:
    /// an export replaces an older export (or one with no time) unless it is older than what
    /// is kept, and never replaces a correction made in Attach that is newer than the export.
    pub fn replaces(&self, stored: &ClinicalRecord) -> bool {
        if self == stored {
            return false;
        }
        match (&self.origin, &stored.origin) {
            (Origin::Emr { updated: Some(new) }, Origin::Emr { updated: Some(old) }) => new > old,
            (Origin::Emr { updated: Some(new) }, Origin::Attach { at, .. }) => new > at,
            (Origin::Emr { updated: None }, Origin::Attach { .. }) => false,
            (Origin::Emr { .. }, Origin::Emr { .. }) => true,
            (Origin::Attach { .. }, _) => true,
        }
    }
}

/// A well-formed source id: 1–128 characters, letters, digits and `-._:/`.
pub fn valid_source_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SOURCE_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '/'))
}
