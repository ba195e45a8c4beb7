//! Reading and writing patient panels in the file formats clinics exchange: CSV
//! spreadsheets (`csv`) and FHIR R4 JSON bundles (`fhir`).
//!
//! Everything here is a pure function of the bytes or values it is given: no files,
//! no network, no storage, no clock (callers pass `today` / `now`).
//!
//! Imports are all-or-nothing: a file either yields one [`ImportRow`] per patient, or
//! [`ImportErrors`] listing every problem found, so that the person uploading it can fix
//! the file in one pass. Error messages never quote a patient's data (names, health
//! numbers, dates); they name the row and the column or FHIR path instead.

pub mod clinical;
pub mod clinical_export;
pub mod csv;
pub mod fhir;
pub mod msp;
pub mod province;
pub mod qi;
mod validate;
pub mod worklist;

#[cfg(test)]
mod tests;

use std::fmt;

use attach_domain::{PatientDetails, PatientStatus};

/// The largest number of patients one file may carry. Bigger panels are split into
/// several files.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// One patient read from an import file, checked and ready to add to a panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub details: PatientDetails,
    pub status: PatientStatus,
    /// The file says this provider is confirmed as the patient's most responsible provider.
    pub mrp_confirmed: bool,
}

/// Why an import file was refused. Nothing from a refused file is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportErrors {
    /// The file as a whole cannot be read (wrong encoding, no column names, not a
    /// FHIR bundle, …); its rows were not checked.
    #[error("{0}")]
    File(FileError),
    /// The file could be read, but some rows are wrong. Every problem found is listed,
    /// in file order.
    #[error("{}", RowList(.0))]
    Rows(Vec<RowError>),
}

impl ImportErrors {
    /// The row problems, or an empty slice for a file-level error.
    pub fn rows(&self) -> &[RowError] {
        match self {
            Self::File(_) => &[],
            Self::Rows(r) => r,
        }
    }

    /// The file-level problem, if that is what this is.
    pub fn file(&self) -> Option<&FileError> {
        match self {
            Self::File(f) => Some(f),
            Self::Rows(_) => None,
        }
    }
}

impl From<FileError> for ImportErrors {
    fn from(e: FileError) -> Self {
        Self::File(e)
    }
}

struct RowList<'a>(&'a [RowError]);

impl fmt::Display for RowList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "Nothing was imported: {n} problem{} to fix in the file.",
            if n == 1 { "" } else { "s" }
        )?;
        for e in self.0 {
            write!(f, "\n{e}")?;
        }
        Ok(())
    }
}

/// A problem with the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error(
        "The file is not saved as UTF-8 text (first problem on line {line}). In Excel use \
         \"Save As\" and choose \"CSV UTF-8\"."
    )]
    NotUtf8 { line: usize },
    #[error("The file is empty.")]
    Empty,
    #[error(
        "The file's values are separated by {found} instead of commas. Save it as \
         \"CSV UTF-8\" or \"CSV (comma delimited)\"."
    )]
    WrongSeparator { found: &'static str },
    #[error(
        "The first line must hold the column names (phn, family_name, given_names, \
         date_of_birth, sex, …), but it looks like patient data. Add a header line."
    )]
    NoHeader,
    /// Unknown, missing, duplicated or unnamed columns; every one is listed.
    #[error("{}", ColumnList(.0))]
    Columns(Vec<ColumnProblem>),
    #[error(
        "Row {row} (line {line}) has {found} values but the header names {expected} columns. \
         This usually means a comma inside a value that is not in double quotes{}.",
        rows_affected_text(*.rows_affected)
    )]
    FieldCount {
        row: usize,
        line: usize,
        expected: usize,
        found: usize,
        rows_affected: usize,
    },
    #[error("The file holds no patients.")]
    NoRows,
    #[error(
        "The file has more than {limit} patients. Split it into several files of at most \
         {limit} patients each."
    )]
    TooManyRows { limit: usize },
    #[error("The file is not valid JSON (line {line}, column {column}): {message}.")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "The file is a FHIR {found} resource, not a Bundle. Export the patients as a FHIR \
         Bundle of Patient resources."
    )]
    NotABundle { found: String },
    #[error(
        "The file is JSON but not a FHIR resource (it has no resourceType). Export the \
         patients as a FHIR Bundle of Patient resources."
    )]
    NotFhir,
    #[error(
        "The FHIR Bundle is of type \"{found}\"; only collection, transaction, batch and \
         searchset bundles of patients can be imported."
    )]
    BundleType { found: String },
    #[error("The FHIR Bundle's \"entry\" must be a list.")]
    EntryNotList,
    /// A clinical-data file ([`clinical`]) with more records than it may hold.
    #[error(
        "The file has more than {limit} clinical records. Split it into several files of at \
         most {limit} records each."
    )]
    TooManyRecords { limit: usize },
    /// A clinical-data file ([`clinical`]) with no condition, result, procedure,
    /// immunization or medication in it.
    #[error(
        "The file holds no clinical records (conditions, results, procedures, immunizations \
         or medications)."
    )]
    NoRecords,
    /// A clinical-data JSON file that is not a FHIR Bundle: `found` is its resourceType,
    /// `None` when it has none.
    #[error("{}", not_clinical_bundle_text(.found))]
    NotClinicalBundle { found: Option<String> },
}

/// A problem with the header row of a CSV file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnProblem {
    #[error("column \"{name}\" is not one Attach knows{}", suggestion_text(.suggestion))]
    Unknown {
        name: String,
        /// The known column whose name is closest, when one is close.
        suggestion: Option<&'static str>,
    },
    #[error("required column \"{0}\" is missing")]
    Missing(&'static str),
    #[error("column \"{name}\" appears twice (columns {first} and {second})")]
    Duplicate {
        name: &'static str,
        first: usize,
        second: usize,
    },
    #[error("column {0} has no name; name it or delete it")]
    Unnamed(usize),
}

fn rows_affected_text(n: usize) -> String {
    if n > 1 {
        format!("; {n} rows have this problem")
    } else {
        String::new()
    }
}

fn not_clinical_bundle_text(found: &Option<String>) -> String {
    let what = match found {
        Some(t) => format!("The file is a FHIR {t} resource, not a Bundle."),
        None => "The file is JSON but not a FHIR resource (it has no resourceType).".to_string(),
    };
    format!(
        "{what} Export the clinical records as a FHIR Bundle, or as FHIR Bulk Data NDJSON files \
         (one file per resource type)."
    )
}

fn suggestion_text(s: &Option<&'static str>) -> String {
    match s {
        Some(s) => format!(" (did you mean \"{s}\"?)"),
        None => String::new(),
    }
}

struct ColumnList<'a>(&'a [ColumnProblem]);

impl fmt::Display for ColumnList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("The column names on the first line need fixing: ")?;
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        f.write_str(".")
    }
}

/// One problem in one row (CSV) or one bundle entry (FHIR).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct RowError {
    /// 1-based: the n-th data row after the header (CSV), or the n-th bundle entry (FHIR,
    /// so `entry[3]` is row 4).
    pub row: usize,
    /// The line of the file where the row starts (CSV only; a quoted value may span
    /// several lines).
    pub line: Option<usize>,
    /// The CSV column name, or the FHIR path such as `entry[3].resource.birthDate`.
    pub field: String,
    /// What is wrong and how to fix it, for the person who prepared the file. Never
    /// contains the patient's data.
    pub message: String,
}

impl RowError {
    fn describe(&self) -> String {
        match self.line {
            Some(line) => format!(
                "Row {} (line {line}), {}: {}",
                self.row, self.field, self.message
            ),
            None => format!("Entry {} ({}): {}", self.row, self.field, self.message),
        }
    }
}

/// `Date` as `YYYY-MM-DD`, the only date form the import files use.
pub(crate) fn format_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}
