//! Clinical records as EMRs export them — problem-list conditions, results (labs and
//! vitals), procedures and screenings, immunizations and medications — each linked to its
//! patient by BC PHN, read into [`attach_domain::clinical`] records.
//!
//! Three formats, each all-or-nothing like the panel imports: a file either yields every
//! record, or [`ImportErrors`] listing every problem (row or entry, and the column or FHIR
//! path). Messages never quote a patient's data.
//!
//! | format | reader | errors name |
//! |---|---|---|
//! | a FHIR R4 `Bundle` (JSON) | [`parse_clinical_bundle`] | the entry and path: `entry[3].resource.subject.reference` |
//! | FHIR Bulk Data: NDJSON files, one resource per line | [`parse_clinical_ndjson`] | the file and path, with the line as row and line: `Observation.ndjson: subject.reference` |
//! | CSV, one record per row | [`parse_clinical_csv`] | the row, line and column |
//!
//! # FHIR resources
//!
//! | resource | codes | dates | value / status |
//! |---|---|---|---|
//! | `Condition` | `code.coding[]` | onset: `onsetDateTime`, else `onsetPeriod.start`; abated: `abatementDateTime` | `clinicalStatus` active, recurrence, relapse → active; inactive, remission, resolved → resolved; none → active. `verificationStatus` refuted or entered-in-error → entered in error |
//! | `Observation` | `code.coding[]` | `effectiveDateTime`, else `effectivePeriod.start`, `effectiveInstant`, `issued`; required | components LOINC 8480-6 and 8462-4 → blood pressure; else `valueQuantity` (`value`, `unit` or else `code`) → number; `valueCodeableConcept` → coded (first coding with a system and a code; text only → text); `valueString` → text; `valueInteger` → number; `valueBoolean` → text; none of these → no value |
//! | `Procedure` | `code.coding[]` | `performedDateTime`, else `performedPeriod.start`; required | |
//! | `Immunization` | `vaccineCode.coding[]` | `occurrenceDateTime`; required | |
//! | `MedicationStatement`, `MedicationRequest` | `medicationCodeableConcept.coding[]`, or `medicationReference` to a `Medication` (contained, in the same bundle, or in the same set of NDJSON files) and its `code.coding[]` | start: `effectiveDateTime`, else `effectivePeriod.start`, `authoredOn`, `dispenseRequest.validityPeriod.start`; end: `effectivePeriod.end`, else `dispenseRequest.validityPeriod.end` | `status` active, intended, on-hold, unknown (or none) → active; completed, stopped, cancelled → stopped; entered-in-error → entered in error |
//!
//! For every record:
//!
//! * **Source id** `<ResourceType>/<id>` (`Observation/hba1c-1`): the resource must have an
//!   `id`, and the whole must be a [`valid_source_id`]. The same source id twice is an error
//!   on the second, naming the first, unless the two are the same resource exactly (the
//!   same NDJSON line, the same JSON value in a bundle): then it is kept once and counted
//!   in [`ClinicalImport::repeated`].
//! * **Codes**: every coding with both a `system` and a `code` (a system Attach does not
//!   name is kept as [`CodeSystem::Other`]); a resource with none is an error.
//! * **Display**: the concept's `text`, else the `display` of the first coding kept (else
//!   of any coding).
//! * **Dates**: `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or a dateTime; a dateTime gives its date as
//!   written, a partial date its first day (`2019-03` is 1 March 2019).
//! * **Origin**: [`Origin::Emr`], `updated` from `meta.lastUpdated` (an instant).
//! * **Patient**: `subject` (`patient` for Immunization): an `identifier` with the PHN
//!   system ([`PHN_SYSTEM`] or [`PHN_OID_SYSTEM`]) names the patient directly; else the
//!   `reference` must resolve to a `Patient` of the same bundle (by `fullUrl`, or
//!   `Patient/<id>`) or of the same NDJSON files (`Patient/<id>`; `urn:uuid:<id>` and
//!   absolute URLs ending `Patient/<id>` too), and that Patient must carry a valid PHN
//!   identifier. A reference nothing resolves is an error at the record; a Patient without
//!   a PHN is an error at the Patient (once, however many records refer to it), a Patient
//!   with an invalid PHN always.
//!
//! Skipped, never errors, and counted in [`ClinicalImport`]:
//!
//! * by status ([`ClinicalImport::skipped_status`], by resource type): Observation
//!   entered-in-error or cancelled; Procedure entered-in-error or not-done; Immunization
//!   not-done or entered-in-error; MedicationStatement not-taken; MedicationRequest draft.
//!   A skipped resource is not checked further.
//! * by type ([`ClinicalImport::skipped_types`]): every resource type other than the six
//!   above and `Patient` and `Medication`, which only link (`Encounter`, `Practitioner`,
//!   `Organization`, `Claim`, …).
//!
//! A file with no clinical resource at all is refused ([`FileError::NoRecords`]).
//!
//! # NDJSON files
//!
//! Each file given by name: a `.ndjson` file is read line by line (UTF-8, a byte-order mark
//! allowed, LF or CRLF, blank lines skipped, at most [`MAX_CLINICAL_RECORDS`] resources
//! per file). Bulk Data servers name them by resource type (`Observation.ndjson`,
//! `Observation.000.ndjson`, `1.Observation.ndjson`), but every line is read by its own
//! `resourceType`, whatever the name says. References resolve across all the files given.
//! A compressed file (`.gz`, `.zip`, …) is an error (unpack it first); any other file
//! (`manifest.json`, `parameters.json`, …) is left out and counted in
//! [`ClinicalImport::skipped_files`]. A line that is not JSON is an error for that line;
//! the other lines are still checked.
//!
//! # CSV
//!
//! As a panel CSV file (see [`crate::csv`]: UTF-8, RFC 4180 quoting, any column order,
//! case-insensitive names, unknown columns refused, empty lines skipped), one record per
//! row, at most [`MAX_CLINICAL_RECORDS`] rows. Each record has one code.
//!
//! | column | required | format | example |
//! |---|---|---|---|
//! | `phn` | yes | the patient's BC personal health number: 10 digits starting with 9; spaces and dashes allowed | `9123 456 780` |
//! | `kind` | yes | condition, observation (a lab result or vital sign), procedure (also screenings), immunization or medication | `observation` |
//! | `id` | yes | the record's id in the EMR, unique in the file: 1–128 letters, digits and `-._:/`; importing the same id again updates the record | `obs-20240105-77` |
//! | `system` | yes | the code system: icd9, icd10ca, snomed, loinc, atc, din, cvx, or the system's URI | `loinc` |
//! | `code` | yes | the code in that system | `4548-4` |
//! | `display` | no | the text the EMR shows for the record | `Hemoglobin A1c` |
//! | `date` | for observations, procedures, immunizations | `YYYY-MM-DD` (`YYYY-MM` or `YYYY` when only that is known): the onset of a condition, the date of a result, procedure or dose, the start of a medication | `2024-01-05` |
//! | `end_date` | no | as `date`: when a condition resolved or a medication stopped; conditions and medications only | `2024-06-30` |
//! | `status` | no | conditions: active (the default), resolved or entered-in-error; medications: active (the default), stopped or entered-in-error; empty for other kinds | `resolved` |
//! | `value` | no | observations only: a number (a dot for decimals), or systolic/diastolic for a blood pressure | `7.2` |
//! | `unit` | no | the unit of a number value (a blood pressure is in mmHg) | `%` |
//! | `updated` | no | when the EMR last changed the record: an RFC 3339 date and time, or `YYYY-MM-DD` | `2024-01-06T09:15:00Z` |
//!
//! The same table is [`CLINICAL_CSV_COLUMNS`]. The same id on two rows is an error on the
//! second unless the two rows are identical.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use ::csv::{ReaderBuilder, StringRecord};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use super::csv::{
    Cells, ColumnDoc, Header, Lines, UnknownColumns, col, decode, edit_distance, header_positions,
    read_error,
};
use super::fhir::{PHN_OID_SYSTEM, PHN_SYSTEM};
use super::validate::RowCheck;
use super::{ColumnProblem, FileError, ImportErrors, RowError};
use attach_domain::Phn;
use attach_domain::clinical::{
    ClinicalFact, ClinicalRecord, Code, CodeSystem, ConditionStatus, MedicationStatus,
    ObservationValue, Origin, RecordKind, valid_source_id,
};
use attach_domain::fields;

/// The largest number of records (CSV rows, bundle entries, lines of one NDJSON file) one
/// file may carry.
pub const MAX_CLINICAL_RECORDS: usize = 2_000_000;

/// A display text is cut to this many characters.
const MAX_DISPLAY_CHARS: usize = 500;
/// A text result is cut to this many characters.
const MAX_TEXT_CHARS: usize = 4_000;
/// A coding whose code or system is longer than this is not a code (it is ignored).
const MAX_CODE_LEN: usize = 256;
const MAX_SYSTEM_LEN: usize = 512;

const LOINC_SYSTOLIC: &str = "8480-6";
const LOINC_DIASTOLIC: &str = "8462-4";

/// What a clinical import read: the records, and counts the caller can report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClinicalImport {
    /// Every record, with its patient, in file order.
    pub records: Vec<(Phn, ClinicalRecord)>,
    /// `Patient` resources read (they link records to PHNs; they are not records).
    pub patients: usize,
    /// `Medication` resources read (they give coded medications their codes).
    pub medications: usize,
    /// Resources left out because of their status (entered-in-error, not-done, …), by
    /// resource type.
    pub skipped_status: BTreeMap<String, usize>,
    /// Resources of types Attach does not import (Encounter, Practitioner, …), by type.
    pub skipped_types: BTreeMap<String, usize>,
    /// Records that appeared again exactly as before, kept once.
    pub repeated: usize,
    /// NDJSON only: files given that are not `.ndjson` files (a Bulk Data manifest, …).
    pub skipped_files: usize,
}

impl ClinicalImport {
    /// Every resource left out, by status or by type.
    pub fn skipped(&self) -> usize {
        self.skipped_status.values().sum::<usize>() + self.skipped_types.values().sum::<usize>()
    }
}

// ---------------------------------------------------------------------------
// Where a record is, for errors
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Place<'n> {
    /// A bundle entry (0-based, as `entry[i]`).
    Entry(usize),
    /// A line (1-based) of an NDJSON file, the `file`-th given.
    Line {
        file: usize,
        name: &'n str,
        line: usize,
    },
    /// A CSV row and the line it starts on.
    Row { row: usize, line: usize },
}

impl Place<'_> {
    /// Errors are listed in file order.
    fn order(&self) -> (usize, usize) {
        match *self {
            Self::Entry(i) => (0, i),
            Self::Line { file, line, .. } => (file, line),
            Self::Row { row, .. } => (0, row),
        }
    }

    /// An error at `path` (a FHIR path inside the resource, or a CSV column name).
    fn error(&self, path: &str, message: String) -> RowError {
        match *self {
            Self::Entry(i) => RowError {
                row: i + 1,
                line: None,
                field: if path.is_empty() {
                    format!("entry[{i}].resource")
                } else {
                    format!("entry[{i}].resource.{path}")
                },
                message,
            },
            Self::Line { name, line, .. } => RowError {
                row: line,
                line: Some(line),
                field: if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}: {path}")
                },
                message,
            },
            Self::Row { row, line } => RowError {
                row,
                line: Some(line),
                field: path.to_string(),
                message,
            },
        }
    }

    fn describe(&self) -> String {
        match *self {
            Self::Entry(i) => format!("entry[{i}]"),
            Self::Line { name, line, .. } => format!("{name} line {line}"),
            Self::Row { row, line } => format!("row {row} (line {line})"),
        }
    }
}

/// Errors as found (a reference is resolved after the whole file is read), listed in file
/// order at the end.
#[derive(Default)]
struct Errors(Vec<((usize, usize), RowError)>);

impl Errors {
    fn push(&mut self, at: Place<'_>, path: &str, message: impl Into<String>) {
        self.0.push((at.order(), at.error(path, message.into())));
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn into_sorted(mut self) -> Vec<RowError> {
        self.0.sort_by_key(|(k, _)| *k);
        self.0.into_iter().map(|(_, e)| e).collect()
    }
}

/// The errors of one FHIR resource.
struct Check<'e, 'n> {
    errors: &'e mut Errors,
    at: Place<'n>,
    failed: bool,
}

impl<'e, 'n> Check<'e, 'n> {
    fn new(errors: &'e mut Errors, at: Place<'n>) -> Self {
        Self {
            errors,
            at,
            failed: false,
        }
    }

    fn fail(&mut self, path: &str, message: impl Into<String>) {
        self.failed = true;
        self.errors.push(self.at, path, message);
    }

    fn check<T>(&mut self, path: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(m) => {
                self.fail(path, m);
                None
            }
        }
    }
}

/// What a record is, exactly, to tell a repeat from a second record with the same id.
#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    /// An NDJSON line.
    Text(&'a str),
    /// A bundle entry's resource.
    Json(&'a Value),
    /// A hash of a CSV row's cells.
    Hash(u64),
}

impl PartialEq for Raw<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Text(a), Self::Text(b)) => a == b,
            (Self::Json(a), Self::Json(b)) => a == b,
            (Self::Hash(a), Self::Hash(b)) => a == b,
            _ => false,
        }
    }
}

/// The source ids seen in a file, each with where it was first seen.
#[derive(Default)]
struct SourceIds<'a> {
    first: HashMap<String, (Place<'a>, Raw<'a>)>,
}

enum Claim<'a> {
    New,
    /// The same record again.
    Repeat,
    /// Another record with the same id, first seen there.
    Clash(Place<'a>),
}

impl<'a> SourceIds<'a> {
    fn claim(&mut self, id: &str, at: Place<'a>, raw: Raw<'a>) -> Claim<'a> {
        match self.first.get(id) {
            Some((_, r)) if *r == raw => Claim::Repeat,
            Some((first, _)) => Claim::Clash(*first),
            None => {
                self.first.insert(id.to_string(), (at, raw));
                Claim::New
            }
        }
    }
}

fn clash_message(first: Place<'_>) -> String {
    format!(
        "this id is already used by {}; each record needs its own id (the same record may \
         appear twice only if both copies are identical)",
        first.describe()
    )
}

// ---------------------------------------------------------------------------
// FHIR wire types. Unknown elements are ignored: real exports carry many.
// ---------------------------------------------------------------------------

/// The elements read from any of the resource types read. (Each is read only from the
/// types that have it; the types read share no element name with different shapes.)
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ResourceIn {
    id: Option<String>,
    meta: Option<MetaIn>,
    status: Option<String>,
    #[serde(default)]
    identifier: Vec<IdentifierIn>,
    code: Option<ConceptIn>,
    subject: Option<ReferenceIn>,
    patient: Option<ReferenceIn>,
    // Condition
    clinical_status: Option<StatusIn>,
    verification_status: Option<StatusIn>,
    onset_date_time: Option<String>,
    onset_period: Option<PeriodIn>,
    abatement_date_time: Option<String>,
    // Observation, MedicationStatement
    effective_date_time: Option<String>,
    effective_period: Option<PeriodIn>,
    effective_instant: Option<String>,
    issued: Option<String>,
    value_quantity: Option<QuantityIn>,
    value_codeable_concept: Option<ConceptIn>,
    value_string: Option<String>,
    value_integer: Option<i32>,
    value_boolean: Option<bool>,
    #[serde(default)]
    component: Vec<ComponentIn>,
    // Procedure
    performed_date_time: Option<String>,
    performed_period: Option<PeriodIn>,
    // Immunization
    vaccine_code: Option<ConceptIn>,
    occurrence_date_time: Option<String>,
    // MedicationStatement, MedicationRequest
    medication_codeable_concept: Option<ConceptIn>,
    medication_reference: Option<ReferenceIn>,
    authored_on: Option<String>,
    dispense_request: Option<DispenseRequestIn>,
    #[serde(default)]
    contained: Vec<Value>,
}

/// Only the resource type, for a line whose first element is not `resourceType`.
#[derive(Deserialize)]
struct HeadIn {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaIn {
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct IdentifierIn {
    system: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default)]
struct ConceptIn {
    #[serde(default)]
    coding: Vec<CodingIn>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct CodingIn {
    system: Option<String>,
    code: Option<String>,
    display: Option<String>,
}

/// `clinicalStatus` / `verificationStatus`: a CodeableConcept in R4, a plain code in
/// older exports.
#[derive(Deserialize)]
#[serde(untagged)]
enum StatusIn {
    Concept(ConceptIn),
    Code(String),
}

impl StatusIn {
    fn code(&self) -> Option<&str> {
        match self {
            Self::Code(c) => Some(c.as_str()),
            Self::Concept(cc) => cc
                .coding
                .iter()
                .find_map(|k| k.code.as_deref())
                .or(cc.text.as_deref()),
        }
    }
}

#[derive(Deserialize)]
struct ReferenceIn {
    reference: Option<String>,
    identifier: Option<IdentifierIn>,
    display: Option<String>,
}

#[derive(Deserialize)]
struct PeriodIn {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
struct QuantityIn {
    value: Option<f64>,
    unit: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComponentIn {
    code: Option<ConceptIn>,
    value_quantity: Option<QuantityIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DispenseRequestIn {
    validity_period: Option<PeriodIn>,
}

/// The resource types that make records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Condition,
    Observation,
    Procedure,
    Immunization,
    MedicationStatement,
    MedicationRequest,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Condition => "Condition",
            Self::Observation => "Observation",
            Self::Procedure => "Procedure",
            Self::Immunization => "Immunization",
            Self::MedicationStatement => "MedicationStatement",
            Self::MedicationRequest => "MedicationRequest",
        }
    }

    /// Whether a resource of this type with this status is left out.
    fn skipped(self, status: Option<&str>) -> bool {
        let Some(s) = status else {
            return false;
        };
        match self {
            Self::Condition => false,
            Self::Observation => matches!(s, "entered-in-error" | "cancelled"),
            Self::Procedure | Self::Immunization => matches!(s, "entered-in-error" | "not-done"),
            Self::MedicationStatement => s == "not-taken",
            Self::MedicationRequest => s == "draft",
        }
    }
}

/// What a resource is to the import.
#[derive(Debug, Clone, Copy)]
enum Role {
    Patient,
    Medication,
    Record(Kind),
    Other,
}

fn role(resource_type: &str) -> Role {
    match resource_type {
        "Patient" => Role::Patient,
        "Medication" => Role::Medication,
        "Condition" => Role::Record(Kind::Condition),
        "Observation" => Role::Record(Kind::Observation),
        "Procedure" => Role::Record(Kind::Procedure),
        "Immunization" => Role::Record(Kind::Immunization),
        "MedicationStatement" => Role::Record(Kind::MedicationStatement),
        "MedicationRequest" => Role::Record(Kind::MedicationRequest),
        _ => Role::Other,
    }
}

/// A FHIR resource type's name: a capital letter, then letters; at most 64.
fn valid_type_name(t: &str) -> bool {
    t.len() <= 64
        && t.as_bytes().first().is_some_and(u8::is_ascii_uppercase)
        && t.bytes().all(|b| b.is_ascii_alphabetic())
}

// ---------------------------------------------------------------------------
// Reading FHIR: shared by bundles and NDJSON
// ---------------------------------------------------------------------------

/// How a record names its patient, until the whole file is read.
enum Subject {
    Phn(Phn),
    Reference { key: String, path: &'static str },
}

/// A record whose references are resolved once the whole file is read.
struct Pending<'a> {
    at: Place<'a>,
    subject: Subject,
    /// The reference to the Medication that codes it.
    medication: Option<String>,
    record: ClinicalRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatientPhn {
    Phn(Phn),
    /// No identifier with a PHN system.
    Missing,
    /// A PHN identifier that is wrong (already an error).
    Invalid,
}

struct PatientInfo<'a> {
    at: Place<'a>,
    phn: PatientPhn,
    /// Records that refer to it (to report a patient without a PHN only when it matters).
    referenced: usize,
}

struct MedicationInfo<'a> {
    at: Place<'a>,
    codes: Vec<Code>,
    display: Option<String>,
}

#[derive(Default)]
struct FhirRead<'a> {
    out: ClinicalImport,
    pending: Vec<Pending<'a>>,
    patients: Vec<PatientInfo<'a>>,
    patient_keys: HashMap<String, usize>,
    medications: Vec<MedicationInfo<'a>>,
    medication_keys: HashMap<String, usize>,
    ids: SourceIds<'a>,
    errors: Errors,
    /// Whether any clinical resource (kept or skipped by status) was seen.
    clinical: bool,
}

impl<'a> FhirRead<'a> {
    fn skip_type(&mut self, resource_type: &str) {
        *self
            .out
            .skipped_types
            .entry(resource_type.to_string())
            .or_default() += 1;
    }

    /// One resource of a type that is read (not [`Role::Other`]).
    fn resource(
        &mut self,
        role: Role,
        at: Place<'a>,
        raw: Raw<'a>,
        r: &ResourceIn,
        full_url: Option<&str>,
    ) {
        match role {
            Role::Patient => self.patient(at, r, full_url),
            Role::Medication => self.medication(at, r, full_url),
            Role::Record(kind) => self.record(kind, at, raw, r),
            Role::Other => {}
        }
    }

    fn patient(&mut self, at: Place<'a>, r: &ResourceIn, full_url: Option<&str>) {
        self.out.patients += 1;
        let phn = patient_phn(&mut Check::new(&mut self.errors, at), &r.identifier);
        let index = self.patients.len();
        self.patients.push(PatientInfo {
            at,
            phn,
            referenced: 0,
        });
        let keys = [
            full_url.map(str::to_string),
            r.id.as_deref().map(|id| format!("Patient/{id}")),
        ];
        for key in keys.into_iter().flatten() {
            match self.patient_keys.entry(key) {
                Entry::Vacant(v) => {
                    v.insert(index);
                }
                Entry::Occupied(o) => {
                    let Some(first) = self.patients.get(*o.get()) else {
                        continue;
                    };
                    if *o.get() != index && first.phn != phn {
                        let message = format!(
                            "{} is a Patient with the same id but another PHN; a patient may \
                             appear more than once only with the same PHN",
                            first.at.describe()
                        );
                        self.errors.push(at, "id", message);
                    }
                }
            }
        }
    }

    fn medication(&mut self, at: Place<'a>, r: &ResourceIn, full_url: Option<&str>) {
        self.out.medications += 1;
        let (codes, display) = concept_codes(r.code.as_ref());
        let index = self.medications.len();
        let keys = [
            full_url.map(str::to_string),
            r.id.as_deref().map(|id| format!("Medication/{id}")),
        ];
        for key in keys.into_iter().flatten() {
            match self.medication_keys.entry(key) {
                Entry::Vacant(v) => {
                    v.insert(index);
                }
                Entry::Occupied(o) => {
                    if let Some(first) = self.medications.get(*o.get())
                        && first.codes != codes
                    {
                        let message = format!(
                            "{} is a Medication with the same id but other codes; each \
                             Medication needs its own id",
                            first.at.describe()
                        );
                        self.errors.push(at, "id", message);
                    }
                }
            }
        }
        self.medications.push(MedicationInfo { at, codes, display });
    }

    fn record(&mut self, kind: Kind, at: Place<'a>, raw: Raw<'a>, r: &ResourceIn) {
        self.clinical = true;
        if kind.skipped(r.status.as_deref()) {
            *self
                .out
                .skipped_status
                .entry(kind.name().to_string())
                .or_default() += 1;
            return;
        }
        let mut c = Check::new(&mut self.errors, at);
        let source_id = source_id(&mut c, kind, r.id.as_deref());
        let subject = subject(&mut c, kind, r);
        let updated = last_updated(&mut c, r.meta.as_ref());
        // (fact and its concept's display, the medication reference's display, the
        // medication reference)
        let (fact, reference_display, medication) = match kind {
            Kind::Condition => (condition(&mut c, r), None, None),
            Kind::Observation => (observation(&mut c, r), None, None),
            Kind::Procedure => (procedure(&mut c, r), None, None),
            Kind::Immunization => (immunization(&mut c, r), None, None),
            Kind::MedicationStatement | Kind::MedicationRequest => medication_record(&mut c, r),
        };
        if c.failed {
            return;
        }
        let (Some(source_id), Some(subject), Some((fact, concept_display))) =
            (source_id, subject, fact)
        else {
            return;
        };
        match self.ids.claim(&source_id, at, raw) {
            Claim::New => {}
            Claim::Repeat => {
                self.out.repeated += 1;
                return;
            }
            Claim::Clash(first) => {
                self.errors.push(at, "id", clash_message(first));
                return;
            }
        }
        self.pending.push(Pending {
            at,
            subject,
            medication,
            record: ClinicalRecord {
                source_id,
                fact,
                display: concept_display.or(reference_display),
                origin: Origin::Emr { updated },
            },
        });
    }

    /// Resolves the references and gives the records, or every problem found.
    fn finish(mut self) -> Result<ClinicalImport, ImportErrors> {
        let pending = std::mem::take(&mut self.pending);
        let mut records = Vec::with_capacity(pending.len());
        for mut p in pending {
            let phn = match &p.subject {
                Subject::Phn(phn) => Some(*phn),
                Subject::Reference { key, path } => {
                    match lookup(&self.patient_keys, key, "Patient")
                        .and_then(|i| self.patients.get_mut(i))
                    {
                        None => {
                            self.errors.push(
                                p.at,
                                path,
                                "refers to a Patient that is not in the file; include that \
                                 Patient (with its BC PHN), or name the patient by an \
                                 identifier with the BC PHN system instead",
                            );
                            None
                        }
                        Some(info) => match info.phn {
                            PatientPhn::Phn(phn) => Some(phn),
                            PatientPhn::Missing => {
                                info.referenced += 1;
                                None
                            }
                            PatientPhn::Invalid => None,
                        },
                    }
                }
            };
            let coded = match &p.medication {
                None => true,
                Some(key) => match lookup(&self.medication_keys, key, "Medication")
                    .and_then(|i| self.medications.get(i))
                {
                    None => {
                        self.errors.push(
                            p.at,
                            "medicationReference.reference",
                            "refers to a Medication that is not in the file; include that \
                             Medication, or code the medication in medicationCodeableConcept",
                        );
                        false
                    }
                    Some(m) if m.codes.is_empty() => {
                        self.errors.push(
                            p.at,
                            "medicationReference.reference",
                            format!(
                                "refers to a Medication ({}) with no coding that has both a \
                                 system and a code",
                                m.at.describe()
                            ),
                        );
                        false
                    }
                    Some(m) => {
                        if let ClinicalFact::Medication { codes, .. } = &mut p.record.fact {
                            codes.clone_from(&m.codes);
                        }
                        if m.display.is_some() {
                            p.record.display.clone_from(&m.display);
                        }
                        true
                    }
                },
            };
            if let (Some(phn), true) = (phn, coded) {
                records.push((phn, p.record));
            }
        }
        for info in &self.patients {
            if info.phn == PatientPhn::Missing && info.referenced > 0 {
                let n = info.referenced;
                self.errors.push(
                    info.at,
                    "identifier",
                    format!(
                        "the patient has no BC PHN, but {n} record{} refer{} to them; add an \
                         identifier with system {PHN_SYSTEM}",
                        if n == 1 { "" } else { "s" },
                        if n == 1 { "s" } else { "" },
                    ),
                );
            }
        }
        if !self.errors.is_empty() {
            return Err(ImportErrors::Rows(self.errors.into_sorted()));
        }
        if !self.clinical {
            return Err(FileError::NoRecords.into());
        }
        self.out.records = records;
        Ok(self.out)
    }
}

/// The index a reference resolves to: the reference as written (a bundle's `fullUrl`, or
/// `Type/id`), without a `/_history/…` version, or as `Type/id` from `urn:uuid:id` or an
/// absolute URL ending `Type/id`.
fn lookup(keys: &HashMap<String, usize>, reference: &str, ty: &str) -> Option<usize> {
    if let Some(i) = keys.get(reference) {
        return Some(*i);
    }
    let r = reference
        .split_once("/_history/")
        .map_or(reference, |(r, _)| r);
    if let Some(i) = keys.get(r) {
        return Some(*i);
    }
    let id = match r.strip_prefix("urn:uuid:") {
        Some(id) => id,
        None => r.rsplit_once('/').map_or(r, |(_, id)| id),
    };
    keys.get(&format!("{ty}/{id}")).copied()
}

/// Whether a reference names a resource of another type than `ty` (`Group/1` for a
/// patient). `urn:` references and bare ids are taken to be of the right type.
fn refers_elsewhere(reference: &str, ty: &str) -> bool {
    if reference.starts_with("urn:") {
        return false;
    }
    let r = reference
        .split_once("/_history/")
        .map_or(reference, |(r, _)| r);
    match r.rsplit_once('/') {
        Some((before, _)) => before.rsplit('/').next() != Some(ty),
        None => false,
    }
}

fn is_phn_system(system: Option<&str>) -> bool {
    matches!(system, Some(PHN_SYSTEM | PHN_OID_SYSTEM))
}

/// The PHN of a Patient; several PHN identifiers must agree.
fn patient_phn(c: &mut Check<'_, '_>, identifiers: &[IdentifierIn]) -> PatientPhn {
    let mut found = None;
    let mut bad = false;
    for (k, id) in identifiers.iter().enumerate() {
        if !is_phn_system(id.system.as_deref()) {
            continue;
        }
        let at = format!("identifier[{k}].value");
        match c.check(&at, fields::phn(id.value.as_deref().unwrap_or(""))) {
            Some(phn) => match found {
                Some(prev) if prev != phn => {
                    c.fail(
                        &at,
                        "the patient has two different PHNs; keep only the right one",
                    );
                    bad = true;
                }
                _ => found = Some(phn),
            },
            None => bad = true,
        }
    }
    match (bad, found) {
        (true, _) => PatientPhn::Invalid,
        (false, Some(phn)) => PatientPhn::Phn(phn),
        (false, None) => PatientPhn::Missing,
    }
}

fn source_id(c: &mut Check<'_, '_>, kind: Kind, id: Option<&str>) -> Option<String> {
    let Some(id) = id.filter(|id| !id.is_empty()) else {
        c.fail(
            "id",
            "is missing; Attach needs the record's id to recognise it when the file is \
             imported again",
        );
        return None;
    };
    let source = format!("{}/{id}", kind.name());
    if !valid_source_id(&source) {
        c.fail(
            "id",
            "is not an id Attach can keep: use letters, digits, - and . (with the resource \
             type, at most 128 characters)",
        );
        return None;
    }
    Some(source)
}

fn subject(c: &mut Check<'_, '_>, kind: Kind, r: &ResourceIn) -> Option<Subject> {
    let (field, path, reference) = match kind {
        Kind::Immunization => ("patient", "patient.reference", r.patient.as_ref()),
        _ => ("subject", "subject.reference", r.subject.as_ref()),
    };
    let Some(reference) = reference else {
        c.fail(
            field,
            "is missing; the record must name its patient, by a reference to a Patient or by \
             an identifier with the BC PHN system",
        );
        return None;
    };
    if let Some(id) = &reference.identifier
        && is_phn_system(id.system.as_deref())
    {
        let phn = fields::phn(id.value.as_deref().unwrap_or(""));
        return c
            .check(&format!("{field}.identifier.value"), phn)
            .map(Subject::Phn);
    }
    match reference.reference.as_deref().map(str::trim) {
        Some(t) if t.starts_with('#') => {
            c.fail(
                path,
                "refers to a contained resource; refer to a Patient in the file, or name the \
                 patient by an identifier with the BC PHN system",
            );
            None
        }
        Some(t) if refers_elsewhere(t, "Patient") => {
            c.fail(path, "must refer to a Patient");
            None
        }
        Some(t) if !t.is_empty() => Some(Subject::Reference {
            key: t.to_string(),
            path,
        }),
        _ => {
            c.fail(
                field,
                "has neither a reference to a Patient nor an identifier with the BC PHN system",
            );
            None
        }
    }
}

fn last_updated(c: &mut Check<'_, '_>, meta: Option<&MetaIn>) -> Option<OffsetDateTime> {
    let s = meta?.last_updated.as_deref()?;
    c.check(
        "meta.lastUpdated",
        OffsetDateTime::parse(s.trim(), &Rfc3339).map_err(|_| {
            "must be a FHIR instant, a date and time with a time zone such as \
             2024-05-01T10:30:00Z"
                .to_string()
        }),
    )
}

/// The codes of a concept, and its display text.
fn concept_codes(concept: Option<&ConceptIn>) -> (Vec<Code>, Option<String>) {
    let Some(cc) = concept else {
        return (Vec::new(), None);
    };
    let mut codes: Vec<Code> = Vec::with_capacity(cc.coding.len());
    for k in &cc.coding {
        if let Some(code) = coding_code(k)
            && !codes.contains(&code)
        {
            codes.push(code);
        }
    }
    // The text, else the display of the first coding kept, else of any coding.
    let coding_display = |usable: bool| {
        cc.coding
            .iter()
            .filter(|k| !usable || coding_code(k).is_some())
            .find_map(|k| k.display.as_deref().and_then(display_text))
    };
    let display = cc
        .text
        .as_deref()
        .and_then(display_text)
        .or_else(|| coding_display(true))
        .or_else(|| coding_display(false));
    (codes, display)
}

fn coding_code(k: &CodingIn) -> Option<Code> {
    let system = k.system.as_deref()?;
    let code = k.code.as_deref()?;
    if system.len() > MAX_SYSTEM_LEN || code.len() > MAX_CODE_LEN {
        return None;
    }
    Code::new(CodeSystem::parse(system)?, code)
}

/// The codes of a record's concept at `path`; none is an error.
fn record_codes(
    c: &mut Check<'_, '_>,
    concept: Option<&ConceptIn>,
    path: &str,
) -> (Vec<Code>, Option<String>) {
    let Some(cc) = concept else {
        c.fail(
            path,
            "is missing; the record needs a coding with both a system and a code",
        );
        return (Vec::new(), None);
    };
    let (codes, display) = concept_codes(Some(cc));
    if codes.is_empty() {
        c.fail(
            &format!("{path}.coding"),
            "has no coding with both a system and a code (such as system http://loinc.org \
             and code 4548-4)",
        );
    }
    (codes, display)
}

fn display_text(s: &str) -> Option<String> {
    bounded_text(s, MAX_DISPLAY_CHARS)
}

/// `s` with runs of white space made one space, cut to `max` characters; `None` if empty.
fn bounded_text(s: &str, max: usize) -> Option<String> {
    let mut t = fields::clean(s);
    if let Some((cut, _)) = t.char_indices().nth(max) {
        t.truncate(cut);
    }
    (!t.is_empty()).then_some(t)
}

const FHIR_DATE_FORMS: &str = "must be a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD) or dateTime \
                               (YYYY-MM-DDThh:mm:ss with a time zone)";

/// The date of the first of `candidates` (path, value) that is present.
fn first_date(c: &mut Check<'_, '_>, candidates: &[(&str, Option<&String>)]) -> Option<Date> {
    let (path, v) = candidates
        .iter()
        .find_map(|(p, v)| v.map(|v| (*p, v.as_str())))?;
    c.check(
        path,
        fhir_date(v).ok_or_else(|| FHIR_DATE_FORMS.to_string()),
    )
}

/// As [`first_date`], but a missing date is an error (at the first candidate's path).
fn required_date(
    c: &mut Check<'_, '_>,
    candidates: &[(&str, Option<&String>)],
    what: &str,
) -> Option<Date> {
    if candidates.iter().all(|(_, v)| v.is_none()) {
        let names: Vec<&str> = candidates.iter().map(|(p, _)| *p).collect();
        let first = names.first().copied().unwrap_or("");
        c.fail(
            first,
            format!(
                "is missing; {what} needs its date in {}",
                names.join(" or ")
            ),
        );
        return None;
    }
    first_date(c, candidates)
}

/// A FHIR date or dateTime's date: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or a full date followed
/// by `T` and a time (whose zone is not applied: the date is the one written). A partial
/// date is its first day.
fn fhir_date(s: &str) -> Option<Date> {
    let b = s.trim().as_bytes();
    let num = |from: usize, to: usize| -> Option<u16> {
        let d = b.get(from..to)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(d.iter().fold(0u16, |n, c| n * 10 + u16::from(c - b'0')))
    };
    let year = num(0, 4)?;
    let (month, day) = match b.len() {
        4 => (1, 1),
        7 if b.get(4) == Some(&b'-') => (num(5, 7)?, 1),
        n if n >= 10 && b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') => {
            if n > 10 {
                // A dateTime: the time must at least start hh:mm.
                let time_ok = b.get(10) == Some(&b'T')
                    && num(11, 13).is_some()
                    && b.get(13) == Some(&b':')
                    && num(14, 16).is_some();
                if !time_ok {
                    return None;
                }
            }
            (num(5, 7)?, num(8, 10)?)
        }
        _ => return None,
    };
    if year == 0 {
        return None;
    }
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(i32::from(year), month, u8::try_from(day).ok()?).ok()
}

/// A record's fact and its concept's display text; `None` when it has problems (already
/// reported).
type FactRead = Option<(ClinicalFact, Option<String>)>;

fn condition(c: &mut Check<'_, '_>, r: &ResourceIn) -> FactRead {
    let (codes, display) = record_codes(c, r.code.as_ref(), "code");
    let clinical = match r.clinical_status.as_ref().map(StatusIn::code) {
        None => Some(ConditionStatus::Active),
        Some(code) => c.check(
            "clinicalStatus",
            match code.map(str::trim) {
                Some("active" | "recurrence" | "relapse") => Ok(ConditionStatus::Active),
                Some("inactive" | "remission" | "resolved") => Ok(ConditionStatus::Resolved),
                _ => Err(
                    "must be active, recurrence, relapse, inactive, remission or resolved"
                        .to_string(),
                ),
            },
        ),
    };
    let refuted = r
        .verification_status
        .as_ref()
        .and_then(StatusIn::code)
        .is_some_and(|v| matches!(v.trim(), "refuted" | "entered-in-error"));
    let onset = first_date(
        c,
        &[
            ("onsetDateTime", r.onset_date_time.as_ref()),
            (
                "onsetPeriod.start",
                r.onset_period.as_ref().and_then(|p| p.start.as_ref()),
            ),
        ],
    );
    let abated = first_date(c, &[("abatementDateTime", r.abatement_date_time.as_ref())]);
    let status = if refuted {
        ConditionStatus::EnteredInError
    } else {
        clinical?
    };
    Some((
        ClinicalFact::Condition {
            codes,
            onset,
            abated,
            status,
        },
        display,
    ))
}

fn observation(c: &mut Check<'_, '_>, r: &ResourceIn) -> FactRead {
    let (codes, display) = record_codes(c, r.code.as_ref(), "code");
    let date = required_date(
        c,
        &[
            ("effectiveDateTime", r.effective_date_time.as_ref()),
            (
                "effectivePeriod.start",
                r.effective_period.as_ref().and_then(|p| p.start.as_ref()),
            ),
            ("effectiveInstant", r.effective_instant.as_ref()),
            ("issued", r.issued.as_ref()),
        ],
        "a result",
    );
    let value = observation_value(c, r);
    Some((
        ClinicalFact::Observation {
            codes,
            date: date?,
            value: value?,
        },
        display,
    ))
}

fn observation_value(c: &mut Check<'_, '_>, r: &ResourceIn) -> Option<ObservationValue> {
    if let Some(bp) = blood_pressure(&r.component) {
        return Some(bp);
    }
    if let Some(q) = &r.value_quantity {
        let Some(value) = q.value else {
            c.fail(
                "valueQuantity.value",
                "is missing; leave valueQuantity out when the result has no value",
            );
            return None;
        };
        let unit = q
            .unit
            .as_deref()
            .and_then(display_text)
            .or_else(|| q.code.as_deref().and_then(display_text));
        return Some(ObservationValue::Number { value, unit });
    }
    if let Some(cc) = &r.value_codeable_concept {
        if let Some(code) = cc.coding.iter().find_map(coding_code) {
            return Some(ObservationValue::Coded { code });
        }
        if let Some(text) = cc.text.as_deref().and_then(display_text) {
            return Some(ObservationValue::Text { text });
        }
        c.fail(
            "valueCodeableConcept",
            "has no coding with both a system and a code, and no text",
        );
        return None;
    }
    if let Some(s) = &r.value_string {
        return Some(match bounded_text(s, MAX_TEXT_CHARS) {
            Some(text) => ObservationValue::Text { text },
            None => ObservationValue::None,
        });
    }
    if let Some(n) = r.value_integer {
        return Some(ObservationValue::Number {
            value: f64::from(n),
            unit: None,
        });
    }
    if let Some(b) = r.value_boolean {
        return Some(ObservationValue::Text {
            text: if b { "true" } else { "false" }.to_string(),
        });
    }
    Some(ObservationValue::None)
}

/// Systolic and diastolic components (LOINC 8480-6 and 8462-4), when both have a value.
fn blood_pressure(components: &[ComponentIn]) -> Option<ObservationValue> {
    let find = |loinc: &str| {
        components.iter().find_map(|k| {
            let is = k.code.as_ref()?.coding.iter().any(|cd| {
                cd.code.as_deref().map(str::trim) == Some(loinc)
                    && cd.system.as_deref().and_then(CodeSystem::parse) == Some(CodeSystem::Loinc)
            });
            if is {
                k.value_quantity.as_ref()?.value
            } else {
                None
            }
        })
    };
    Some(ObservationValue::BloodPressure {
        systolic: find(LOINC_SYSTOLIC)?,
        diastolic: find(LOINC_DIASTOLIC)?,
    })
}

fn procedure(c: &mut Check<'_, '_>, r: &ResourceIn) -> FactRead {
    let (codes, display) = record_codes(c, r.code.as_ref(), "code");
    let date = required_date(
        c,
        &[
            ("performedDateTime", r.performed_date_time.as_ref()),
            (
                "performedPeriod.start",
                r.performed_period.as_ref().and_then(|p| p.start.as_ref()),
            ),
        ],
        "a procedure",
    );
    Some((ClinicalFact::Procedure { codes, date: date? }, display))
}

fn immunization(c: &mut Check<'_, '_>, r: &ResourceIn) -> FactRead {
    let (codes, display) = record_codes(c, r.vaccine_code.as_ref(), "vaccineCode");
    let date = required_date(
        c,
        &[("occurrenceDateTime", r.occurrence_date_time.as_ref())],
        "an immunization",
    );
    Some((ClinicalFact::Immunization { codes, date: date? }, display))
}

/// A MedicationStatement or MedicationRequest: the fact (with its codes, or none yet when
/// they come from a Medication elsewhere in the file), the medication reference's display,
/// and that reference.
fn medication_record(
    c: &mut Check<'_, '_>,
    r: &ResourceIn,
) -> (FactRead, Option<String>, Option<String>) {
    let mut reference_display = None;
    let mut reference = None;
    let (codes, display) = if let Some(cc) = &r.medication_codeable_concept {
        record_codes(c, Some(cc), "medicationCodeableConcept")
    } else if let Some(m) = &r.medication_reference {
        reference_display = m.display.as_deref().and_then(display_text);
        let path = "medicationReference.reference";
        match m.reference.as_deref().map(str::trim) {
            Some(t) if t.starts_with('#') => match contained_medication(r, &t[1..]) {
                None => {
                    c.fail(
                        path,
                        "refers to a contained Medication that is not in the record's \
                         contained resources",
                    );
                    (Vec::new(), None)
                }
                Some((codes, display)) => {
                    if codes.is_empty() {
                        c.fail(
                            path,
                            "refers to a contained Medication with no coding that has both a \
                             system and a code",
                        );
                    }
                    (codes, display)
                }
            },
            Some(t) if refers_elsewhere(t, "Medication") => {
                c.fail(path, "must refer to a Medication");
                (Vec::new(), None)
            }
            Some(t) if !t.is_empty() => {
                reference = Some(t.to_string());
                (Vec::new(), None)
            }
            _ => {
                c.fail(path, "is missing");
                (Vec::new(), None)
            }
        }
    } else {
        c.fail(
            "medicationCodeableConcept",
            "is missing; a medication needs medicationCodeableConcept (or medicationReference \
             to a Medication) with a coding that has both a system and a code",
        );
        (Vec::new(), None)
    };
    let status = c.check(
        "status",
        match r.status.as_deref() {
            None | Some("active" | "intended" | "on-hold" | "unknown") => {
                Ok(MedicationStatus::Active)
            }
            Some("completed" | "stopped" | "cancelled") => Ok(MedicationStatus::Stopped),
            Some("entered-in-error") => Ok(MedicationStatus::EnteredInError),
            Some(_) => Err(
                "must be active, intended, on-hold, unknown, completed, stopped, \
                            cancelled, entered-in-error, not-taken or draft"
                    .to_string(),
            ),
        },
    );
    let validity = r
        .dispense_request
        .as_ref()
        .and_then(|d| d.validity_period.as_ref());
    let start = first_date(
        c,
        &[
            ("effectiveDateTime", r.effective_date_time.as_ref()),
            (
                "effectivePeriod.start",
                r.effective_period.as_ref().and_then(|p| p.start.as_ref()),
            ),
            ("authoredOn", r.authored_on.as_ref()),
            (
                "dispenseRequest.validityPeriod.start",
                validity.and_then(|p| p.start.as_ref()),
            ),
        ],
    );
    let end = first_date(
        c,
        &[
            (
                "effectivePeriod.end",
                r.effective_period.as_ref().and_then(|p| p.end.as_ref()),
            ),
            (
                "dispenseRequest.validityPeriod.end",
                validity.and_then(|p| p.end.as_ref()),
            ),
        ],
    );
    let fact = status.map(|status| {
        (
            ClinicalFact::Medication {
                codes,
                start,
                end,
                status,
            },
            display,
        )
    });
    (fact, reference_display, reference)
}

/// The codes and display of the contained Medication with id `id`.
fn contained_medication(r: &ResourceIn, id: &str) -> Option<(Vec<Code>, Option<String>)> {
    let m = r.contained.iter().find(|v| {
        v.get("resourceType").and_then(Value::as_str) == Some("Medication")
            && v.get("id").and_then(Value::as_str) == Some(id)
    })?;
    let concept = m
        .get("code")
        .and_then(|v| ConceptIn::deserialize(v).ok())
        .unwrap_or_default();
    Some(concept_codes(Some(&concept)))
}

/// The path of the first element of `resource` that does not have the form the reader
/// expects (a list where one value belongs, text where a number belongs, …): only known
/// element names can fail, so the path never echoes anything else of the file.
fn locate_shape_error(resource: &Value) -> String {
    let Some(obj) = resource.as_object() else {
        return String::new();
    };
    for (key, value) in obj {
        let fits = |v: &Value| {
            let mut one = serde_json::Map::new();
            one.insert(key.clone(), v.clone());
            ResourceIn::deserialize(Value::Object(one)).is_ok()
        };
        if fits(value) {
            continue;
        }
        if let Value::Array(items) = value
            && let Some(k) = items
                .iter()
                .position(|item| !fits(&Value::Array(vec![item.clone()])))
        {
            return format!("{key}[{k}]");
        }
        return key.clone();
    }
    String::new()
}

fn shape_message(path: &str) -> &'static str {
    if path.is_empty() {
        "is not a valid FHIR resource"
    } else {
        "does not have the form FHIR R4 gives this element (for example a list where one \
         value belongs, or text where a number belongs)"
    }
}

/// A JSON syntax error's message without its position (given separately). Syntax
/// messages never quote the text.
fn syntax_message(e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "the JSON ends too early; it may have been cut off".to_string();
    }
    if e.is_data() {
        return "does not have the form of a FHIR resource".to_string();
    }
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

// ---------------------------------------------------------------------------
// FHIR Bundle
// ---------------------------------------------------------------------------

/// Reads a FHIR R4 Bundle (JSON) of clinical resources and the Patients they refer to (see
/// the module documentation). Any bundle type is read; every entry must hold a resource.
/// All or nothing.
pub fn parse_clinical_bundle(bytes: &[u8]) -> Result<ClinicalImport, ImportErrors> {
    let text = decode(bytes)?;
    if text.trim().is_empty() {
        return Err(FileError::Empty.into());
    }
    let bundle: Value = serde_json::from_str(text).map_err(|e| FileError::Json {
        line: e.line(),
        column: e.column(),
        message: syntax_message(&e),
    })?;
    match bundle.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => {}
        found => {
            return Err(FileError::NotClinicalBundle {
                found: found.filter(|t| valid_type_name(t)).map(str::to_string),
            }
            .into());
        }
    }
    let entries: &[Value] = match bundle.get("entry") {
        None => &[],
        Some(Value::Array(a)) => a,
        Some(_) => return Err(FileError::EntryNotList.into()),
    };
    if entries.len() > MAX_CLINICAL_RECORDS {
        return Err(FileError::TooManyRecords {
            limit: MAX_CLINICAL_RECORDS,
        }
        .into());
    }
    let mut read = FhirRead::default();
    for (i, entry) in entries.iter().enumerate() {
        let at = Place::Entry(i);
        let Some(resource) = entry.get("resource") else {
            read.errors
                .push(at, "", "is missing: every entry must hold a resource");
            continue;
        };
        let full_url = entry.get("fullUrl").and_then(Value::as_str);
        let Some(rtype) = resource.get("resourceType").and_then(Value::as_str) else {
            read.errors.push(
                at,
                "resourceType",
                "is missing, so the resource's kind is unknown",
            );
            continue;
        };
        if !valid_type_name(rtype) {
            read.errors
                .push(at, "resourceType", "is not a FHIR resource type");
            continue;
        }
        let role = role(rtype);
        if let Role::Other = role {
            read.skip_type(rtype);
            continue;
        }
        match ResourceIn::deserialize(resource) {
            Ok(r) => read.resource(role, at, Raw::Json(resource), &r, full_url),
            Err(_) => {
                let path = locate_shape_error(resource);
                read.errors.push(at, &path, shape_message(&path));
            }
        }
    }
    read.finish()
}

// ---------------------------------------------------------------------------
// FHIR Bulk Data NDJSON
// ---------------------------------------------------------------------------

/// Reads FHIR Bulk Data NDJSON files, each given as (file name, bytes): one resource per
/// line (see the module documentation). References resolve across all the files. All or
/// nothing: every problem of every file is listed, by file and line.
pub fn parse_clinical_ndjson(files: &[(&str, &[u8])]) -> Result<ClinicalImport, ImportErrors> {
    if files
        .iter()
        .all(|(_, b)| b.iter().all(|c| c.is_ascii_whitespace()))
    {
        return Err(FileError::Empty.into());
    }
    let mut read = FhirRead::default();
    for (file, &(name, bytes)) in files.iter().enumerate() {
        let lower = name.to_ascii_lowercase();
        if !lower.ends_with(".ndjson") {
            if [".gz", ".zip", ".bz2", ".xz", ".zst", ".7z"]
                .iter()
                .any(|s| lower.ends_with(s))
            {
                read.errors.push(
                    Place::Line {
                        file,
                        name,
                        line: 1,
                    },
                    "",
                    "is compressed; unpack it and give the .ndjson files inside",
                );
            } else {
                read.out.skipped_files += 1;
            }
            continue;
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut count = 0usize;
        for (k, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            count += 1;
            if count > MAX_CLINICAL_RECORDS {
                return Err(FileError::TooManyRecords {
                    limit: MAX_CLINICAL_RECORDS,
                }
                .into());
            }
            let at = Place::Line {
                file,
                name,
                line: k + 1,
            };
            match std::str::from_utf8(line) {
                Ok(text) => read.line(at, text),
                Err(_) => read.errors.push(
                    at,
                    "",
                    "is not UTF-8 text; export the file as UTF-8 (as FHIR requires)",
                ),
            }
        }
    }
    read.finish()
}

impl<'a> FhirRead<'a> {
    /// One NDJSON line, parsed straight into the wire type of its resource (no JSON tree,
    /// except to locate a problem).
    fn line(&mut self, at: Place<'a>, text: &'a str) {
        let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if !text.starts_with('{') {
            self.errors.push(
                at,
                "",
                "is not a JSON object; each line of an NDJSON file must be one FHIR resource",
            );
            return;
        }
        let head;
        let rtype = match sniff_type(text) {
            Some(t) => t,
            None => {
                head = match serde_json::from_str::<HeadIn>(text) {
                    Ok(h) => h.resource_type,
                    Err(e) if e.is_data() => {
                        self.errors.push(
                            at,
                            "resourceType",
                            "must be the name of a FHIR resource type",
                        );
                        return;
                    }
                    Err(e) => {
                        self.json_error(at, &e);
                        return;
                    }
                };
                match head.as_deref() {
                    Some(t) => t,
                    None => {
                        self.errors.push(
                            at,
                            "resourceType",
                            "is missing, so the resource's kind is unknown; each line must \
                             be one FHIR resource",
                        );
                        return;
                    }
                }
            }
        };
        if !valid_type_name(rtype) {
            self.errors
                .push(at, "resourceType", "is not a FHIR resource type");
            return;
        }
        let role = role(rtype);
        if let Role::Other = role {
            match serde_json::from_str::<IgnoredAny>(text) {
                Ok(_) => self.skip_type(rtype),
                Err(e) => self.json_error(at, &e),
            }
            return;
        }
        match serde_json::from_str::<ResourceIn>(text) {
            Ok(r) => self.resource(role, at, Raw::Text(text), &r, None),
            // A line deep enough to pass the reader's depth limit only by failing first
            // on its shape fails here on the depth, which is then what is wrong with it.
            Err(e) if e.is_data() => match serde_json::from_str::<Value>(text) {
                Ok(v) => {
                    let path = locate_shape_error(&v);
                    self.errors.push(at, &path, shape_message(&path));
                }
                Err(e) => self.json_error(at, &e),
            },
            Err(e) => self.json_error(at, &e),
        }
    }

    fn json_error(&mut self, at: Place<'a>, e: &serde_json::Error) {
        let message = format!(
            "is not valid JSON (column {}): {}",
            e.column(),
            syntax_message(e)
        );
        self.errors.push(at, "", message);
    }
}

/// The resource type when it is the line's first element (as Bulk Data servers write
/// it), without parsing the line.
fn sniff_type(text: &str) -> Option<&str> {
    let ws = |s: &str| -> usize { s.len() - s.trim_start_matches([' ', '\t', '\r', '\n']).len() };
    let mut s = text.strip_prefix('{')?;
    s = s.get(ws(s)..)?.strip_prefix("\"resourceType\"")?;
    s = s.get(ws(s)..)?.strip_prefix(':')?;
    s = s.get(ws(s)..)?.strip_prefix('"')?;
    let end = s.find('"')?;
    let t = s.get(..end)?;
    valid_type_name(t).then_some(t)
}

// ---------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------

/// The CSV columns (name, whether required, what it holds, an example), in the order
/// exports write them.
pub const CLINICAL_CSV_COLUMNS: &[ColumnDoc] = &[
    col(
        "phn",
        true,
        "the patient's BC personal health number: 10 digits starting with 9; spaces and \
         dashes allowed",
        "9123 456 780",
    ),
    col(
        "kind",
        true,
        "condition, observation (a lab result or vital sign), procedure (also screenings), \
         immunization or medication",
        "observation",
    ),
    col(
        "id",
        true,
        "the record's id in the EMR, unique in the file: 1–128 letters, digits and - . _ : /; \
         importing the same id again updates the record",
        "obs-20240105-77",
    ),
    col(
        "system",
        true,
        "the code system: icd9, icd10ca, snomed, loinc, atc, din, cvx, or the system's URI",
        "loinc",
    ),
    col("code", true, "the code in that system", "4548-4"),
    col(
        "display",
        false,
        "the text the EMR shows for the record",
        "Hemoglobin A1c",
    ),
    col(
        "date",
        false,
        "YYYY-MM-DD (YYYY-MM or YYYY when only that is known): the onset of a condition, the \
         date of a result, procedure or dose, the start of a medication; required for \
         observations, procedures and immunizations",
        "2024-01-05",
    ),
    col(
        "end_date",
        false,
        "as date: when a condition resolved or a medication stopped; conditions and \
         medications only",
        "2024-06-30",
    ),
    col(
        "status",
        false,
        "conditions: active (the default), resolved or entered-in-error; medications: active \
         (the default), stopped or entered-in-error; empty for other kinds",
        "resolved",
    ),
    col(
        "value",
        false,
        "observations only: a number (a dot for decimals), or systolic/diastolic for a blood \
         pressure",
        "7.2",
    ),
    col(
        "unit",
        false,
        "the unit of a number value (a blood pressure is in mmHg)",
        "%",
    ),
    col(
        "updated",
        false,
        "when the EMR last changed the record: an RFC 3339 date and time, or YYYY-MM-DD",
        "2024-01-06T09:15:00Z",
    ),
];

// Indexes into CLINICAL_CSV_COLUMNS.
const PHN: usize = 0;
const KIND: usize = 1;
const ID: usize = 2;
const SYSTEM: usize = 3;
const CODE: usize = 4;
const DISPLAY: usize = 5;
const DATE: usize = 6;
const END_DATE: usize = 7;
const STATUS: usize = 8;
const VALUE: usize = 9;
const UNIT: usize = 10;
const UPDATED: usize = 11;
const NCOLS: usize = 12;

const CLINICAL_HEADER: Header<'static> = Header {
    columns: CLINICAL_CSV_COLUMNS,
    aliases: &[],
    loose_names: false,
    unknown: UnknownColumns::Refuse(suggest),
};

/// Names people use for a column, to suggest the documented one.
const SUGGESTIONS: &[(&str, usize)] = &[
    ("health_number", PHN),
    ("personal_health_number", PHN),
    ("type", KIND),
    ("record_type", KIND),
    ("source_id", ID),
    ("record_id", ID),
    ("code_system", SYSTEM),
    ("coding_system", SYSTEM),
    ("description", DISPLAY),
    ("text", DISPLAY),
    ("name", DISPLAY),
    ("start_date", DATE),
    ("onset_date", DATE),
    ("effective_date", DATE),
    ("date_of_service", DATE),
    ("stop_date", END_DATE),
    ("abatement_date", END_DATE),
    ("end", END_DATE),
    ("result", VALUE),
    ("units", UNIT),
    ("last_updated", UPDATED),
    ("updated_at", UPDATED),
];

/// The documented column an unknown (lower-case) header name most likely means.
fn suggest(name: &str) -> Option<&'static str> {
    let norm: String = name
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    let column = |i: usize| CLINICAL_CSV_COLUMNS.get(i).map(|c| c.name);
    if let Some(c) = CLINICAL_CSV_COLUMNS.iter().find(|c| c.name == norm) {
        return Some(c.name);
    }
    if let Some((_, i)) = SUGGESTIONS.iter().find(|(a, _)| *a == norm) {
        return column(*i);
    }
    CLINICAL_CSV_COLUMNS
        .iter()
        .map(|c| (edit_distance(&norm, c.name), c.name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Reads a clinical CSV file (see the module documentation for the columns). All or
/// nothing: every record in file order, or every problem with its row, line and column.
pub fn parse_clinical_csv(bytes: &[u8]) -> Result<ClinicalImport, ImportErrors> {
    // The loop of `csv::read_rows`, with the clinical row limit and messages.
    let text = decode(bytes)?;
    if text.trim().is_empty() {
        return Err(FileError::Empty.into());
    }
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err(FileError::Empty.into()),
        Err(e) => return Err(read_error(&e).into()),
    }
    let positions = header_positions(&record, &CLINICAL_HEADER).map_err(|e| match e {
        // `NoHeader` names the panel columns; say which are missing here instead.
        FileError::NoHeader => FileError::Columns(
            CLINICAL_CSV_COLUMNS
                .iter()
                .filter(|c| c.required)
                .map(|c| ColumnProblem::Missing(c.name))
                .collect(),
        ),
        other => other,
    })?;
    let names: Vec<String> = CLINICAL_CSV_COLUMNS
        .iter()
        .zip(&positions)
        .map(|(doc, at)| {
            at.and_then(|i| record.get(i))
                .map_or(doc.name, str::trim)
                .to_string()
        })
        .collect();
    let width = record.len();

    let mut out = ClinicalImport::default();
    let mut ids = SourceIds::default();
    let mut errors = Vec::new();
    let mut field_count: Option<FileError> = None;
    let mut lines = Lines::new(text);
    let mut row = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(read_error(&e).into()),
        }
        row += 1;
        if row > MAX_CLINICAL_RECORDS {
            return Err(FileError::TooManyRecords {
                limit: MAX_CLINICAL_RECORDS,
            }
            .into());
        }
        if fields::trim(record.as_slice()).is_empty() {
            continue;
        }
        let line = lines.of(&record);
        if record.len() != width {
            match &mut field_count {
                Some(FileError::FieldCount { rows_affected, .. }) => *rows_affected += 1,
                _ => {
                    field_count = Some(FileError::FieldCount {
                        row,
                        line,
                        expected: width,
                        found: record.len(),
                        rows_affected: 1,
                    });
                }
            }
            continue;
        }
        if field_count.is_some() {
            continue;
        }
        let cells = Cells {
            record: &record,
            positions: &positions,
            names: &names,
        };
        if let Some(r) = csv_row(&cells, row, line, &mut ids, &mut out, &mut errors) {
            out.records.push(r);
        }
    }
    if let Some(e) = field_count {
        return Err(e.into());
    }
    if !errors.is_empty() {
        return Err(ImportErrors::Rows(errors));
    }
    if out.records.is_empty() {
        return Err(FileError::NoRecords.into());
    }
    Ok(out)
}

fn csv_row(
    cells: &Cells<'_>,
    row: usize,
    line: usize,
    ids: &mut SourceIds<'static>,
    out: &mut ClinicalImport,
    errors: &mut Vec<RowError>,
) -> Option<(Phn, ClinicalRecord)> {
    let mut c = RowCheck::new(errors, row, Some(line));
    let phn = c.check(cells.name(PHN), fields::phn(cells.get(PHN)));
    let kind = c.check(cells.name(KIND), csv_kind(cells.get(KIND)));
    let id = c.check(cells.name(ID), csv_id(cells.get(ID)));
    let system = c.check(cells.name(SYSTEM), csv_system(cells.get(SYSTEM)));
    let code = c.check(cells.name(CODE), csv_code(system, cells.get(CODE)));
    let display = display_text(cells.get(DISPLAY));
    let date = c.check(cells.name(DATE), csv_date(cells.get(DATE)));
    let end = c.check(cells.name(END_DATE), csv_date(cells.get(END_DATE)));
    let updated = c.check(cells.name(UPDATED), csv_updated(cells.get(UPDATED)));
    let fact = match kind {
        Some(kind) => csv_fact(&mut c, cells, kind, date.flatten(), end.flatten()),
        None => None,
    };
    if c.failed() {
        return None;
    }
    let (Some(phn), Some(id), Some(Some(code)), Some(mut fact), Some(updated)) =
        (phn, id, code, fact, updated)
    else {
        return None;
    };
    match &mut fact {
        ClinicalFact::Condition { codes, .. }
        | ClinicalFact::Observation { codes, .. }
        | ClinicalFact::Procedure { codes, .. }
        | ClinicalFact::Immunization { codes, .. }
        | ClinicalFact::Medication { codes, .. } => codes.push(code),
    }
    let mut h = DefaultHasher::new();
    for col in 0..NCOLS {
        cells.get(col).hash(&mut h);
    }
    match ids.claim(&id, Place::Row { row, line }, Raw::Hash(h.finish())) {
        Claim::New => {}
        Claim::Repeat => {
            out.repeated += 1;
            return None;
        }
        Claim::Clash(first) => {
            c.fail(cells.name(ID), clash_message(first));
            return None;
        }
    }
    Some((
        phn,
        ClinicalRecord {
            source_id: id,
            fact,
            display,
            origin: Origin::Emr { updated },
        },
    ))
}

/// The fact of a row of `kind`, with no code yet; checks the cells that depend on the
/// kind.
fn csv_fact(
    c: &mut RowCheck<'_>,
    cells: &Cells<'_>,
    kind: RecordKind,
    date: Option<Date>,
    end: Option<Date>,
) -> Option<ClinicalFact> {
    let label = kind.label();
    let only = |c: &mut RowCheck<'_>, col: usize, what: &str| {
        if !fields::trim(cells.get(col)).is_empty() {
            c.fail(
                cells.name(col),
                format!("{what}; leave it empty for a {label}"),
            );
        }
    };
    let needs_date = |c: &mut RowCheck<'_>| {
        if date.is_none() && fields::trim(cells.get(DATE)).is_empty() {
            c.fail(
                cells.name(DATE),
                format!("is missing; a {label} needs its date (YYYY-MM-DD)"),
            );
        }
        date
    };
    let end_after_start = |c: &mut RowCheck<'_>| {
        if let (Some(start), Some(e)) = (date, end)
            && e < start
        {
            c.fail(cells.name(END_DATE), "is before the date".to_string());
        }
    };
    const STATUS_ONLY: &str = "only conditions and medications have a status";
    const END_ONLY: &str = "only conditions and medications have an end date";
    const VALUE_ONLY: &str = "only observations have a value";
    const UNIT_ONLY: &str = "only observations have a unit";
    match kind {
        RecordKind::Condition => {
            only(c, VALUE, VALUE_ONLY);
            only(c, UNIT, UNIT_ONLY);
            end_after_start(c);
            let status = c.check(cells.name(STATUS), csv_condition_status(cells.get(STATUS)));
            Some(ClinicalFact::Condition {
                codes: Vec::new(),
                onset: date,
                abated: end,
                status: status?,
            })
        }
        RecordKind::Observation => {
            only(c, STATUS, STATUS_ONLY);
            only(c, END_DATE, END_ONLY);
            let date = needs_date(c);
            let value = match csv_value(cells.get(VALUE), cells.get(UNIT)) {
                Ok(v) => Some(v),
                Err((col, message)) => {
                    c.fail(cells.name(col), message);
                    None
                }
            };
            Some(ClinicalFact::Observation {
                codes: Vec::new(),
                date: date?,
                value: value?,
            })
        }
        RecordKind::Procedure | RecordKind::Immunization => {
            only(c, STATUS, STATUS_ONLY);
            only(c, END_DATE, END_ONLY);
            only(c, VALUE, VALUE_ONLY);
            only(c, UNIT, UNIT_ONLY);
            let date = needs_date(c)?;
            Some(if kind == RecordKind::Procedure {
                ClinicalFact::Procedure {
                    codes: Vec::new(),
                    date,
                }
            } else {
                ClinicalFact::Immunization {
                    codes: Vec::new(),
                    date,
                }
            })
        }
        RecordKind::Medication => {
            only(c, VALUE, VALUE_ONLY);
            only(c, UNIT, UNIT_ONLY);
            end_after_start(c);
            let status = c.check(cells.name(STATUS), csv_medication_status(cells.get(STATUS)));
            Some(ClinicalFact::Medication {
                codes: Vec::new(),
                start: date,
                end,
                status: status?,
            })
        }
    }
}

fn csv_kind(s: &str) -> Result<RecordKind, String> {
    let s = fields::trim(s).to_ascii_lowercase();
    if s.is_empty() {
        return Err(
            "the kind is missing; use condition, observation, procedure, immunization or \
             medication"
                .into(),
        );
    }
    RecordKind::from_key(&s).ok_or_else(|| {
        "must be condition, observation, procedure, immunization or medication".into()
    })
}

fn csv_id(s: &str) -> Result<String, String> {
    let s = fields::trim(s);
    if s.is_empty() {
        return Err(
            "the id is missing; give each record the EMR's id for it, so that importing the \
             file again updates the record instead of adding it twice"
                .into(),
        );
    }
    if !valid_source_id(s) {
        return Err("must be 1–128 letters, digits, - . _ : or /".into());
    }
    Ok(s.to_string())
}

fn csv_system(s: &str) -> Result<CodeSystem, String> {
    const KNOWN: &str = "icd9, icd10ca, snomed, loinc, atc, din or cvx";
    match CodeSystem::parse(s) {
        None => Err(format!(
            "the code system is missing; use {KNOWN}, or the system's URI"
        )),
        Some(CodeSystem::Other(uri)) if !uri.contains(':') || uri.len() > MAX_SYSTEM_LEN => {
            Err(format!(
                "is not a code system Attach knows; use {KNOWN}, or the system's full URI \
                 (such as http://…)"
            ))
        }
        Some(system) => Ok(system),
    }
}

/// The code, or `None` when the system is already wrong (the code is then only checked
/// for being there).
fn csv_code(system: Option<CodeSystem>, s: &str) -> Result<Option<Code>, String> {
    if fields::trim(s).is_empty() {
        return Err("the code is missing".into());
    }
    if s.len() > MAX_CODE_LEN {
        return Err(format!("is longer than {MAX_CODE_LEN} characters"));
    }
    match system {
        None => Ok(None),
        Some(system) => Code::new(system, s)
            .map(Some)
            .ok_or_else(|| "the code has no letters or digits".into()),
    }
}

fn csv_date(s: &str) -> Result<Option<Date>, String> {
    let s = fields::trim(s);
    if s.is_empty() {
        return Ok(None);
    }
    match fhir_date(s) {
        Some(d) if !s.contains('T') => Ok(Some(d)),
        _ => Err(
            "must be a date: YYYY-MM-DD (or YYYY-MM, or YYYY, when only that much is known)".into(),
        ),
    }
}

fn csv_updated(s: &str) -> Result<Option<OffsetDateTime>, String> {
    let s = fields::trim(s);
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(Some(t));
    }
    match fhir_date(s) {
        Some(d) if s.len() == 10 => Ok(Some(d.midnight().assume_utc())),
        _ => Err(
            "must be a date and time with a time zone, such as 2024-05-01T10:30:00Z (RFC \
             3339), or a date YYYY-MM-DD"
                .into(),
        ),
    }
}

fn csv_condition_status(s: &str) -> Result<ConditionStatus, String> {
    match fields::trim(s).to_ascii_lowercase().as_str() {
        "" | "active" | "recurrence" | "relapse" => Ok(ConditionStatus::Active),
        "resolved" | "inactive" | "remission" => Ok(ConditionStatus::Resolved),
        "entered-in-error" | "refuted" => Ok(ConditionStatus::EnteredInError),
        _ => Err(
            "must be active, resolved or entered-in-error (or empty, which means active)".into(),
        ),
    }
}

fn csv_medication_status(s: &str) -> Result<MedicationStatus, String> {
    match fields::trim(s).to_ascii_lowercase().as_str() {
        "" | "active" | "on-hold" | "intended" => Ok(MedicationStatus::Active),
        "stopped" | "completed" | "cancelled" => Ok(MedicationStatus::Stopped),
        "entered-in-error" => Ok(MedicationStatus::EnteredInError),
        _ => {
            Err("must be active, stopped or entered-in-error (or empty, which means active)".into())
        }
    }
}

/// An observation's value from its value and unit cells; a problem names its column.
fn csv_value(value: &str, unit: &str) -> Result<ObservationValue, (usize, String)> {
    let value = fields::trim(value);
    let unit = fields::trim(unit);
    if value.is_empty() {
        if !unit.is_empty() {
            return Err((UNIT, "a unit needs a value; leave it empty".into()));
        }
        return Ok(ObservationValue::None);
    }
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|n| n.is_finite());
    if let Some((sys, dia)) = value.split_once('/') {
        let (Some(systolic), Some(diastolic)) = (number(sys), number(dia)) else {
            return Err((
                VALUE,
                "a blood pressure is two numbers, systolic/diastolic, such as 120/80".into(),
            ));
        };
        if !unit.is_empty() && !unit.eq_ignore_ascii_case("mmhg") && unit != "mm[Hg]" {
            return Err((
                UNIT,
                "a blood pressure is in mmHg; write mmHg or leave the unit empty".into(),
            ));
        }
        return Ok(ObservationValue::BloodPressure {
            systolic,
            diastolic,
        });
    }
    let Some(n) = number(value) else {
        return Err((
            VALUE,
            "must be a number (such as 7.2, with a dot for decimals) or a blood pressure as \
             systolic/diastolic (such as 120/80)"
                .into(),
        ));
    };
    Ok(ObservationValue::Number {
        value: n,
        unit: display_text(unit),
    })
}

#[cfg(test)]
#[path = "clinical_tests.rs"]
mod tests;
