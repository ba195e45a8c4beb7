//! Patient panels as CSV spreadsheets.
//!
//! # File format
//!
//! * UTF-8 text (a UTF-8 byte-order mark is allowed; Excel's "CSV UTF-8" writes one).
//! * Comma-separated, values quoted with double quotes when they contain a comma, a quote
//!   or a line break, quotes inside quoted values doubled (RFC 4180).
//! * The first line names the columns, in any order. Names are case-insensitive and
//!   surrounding spaces are ignored. A column Attach does not know is an error, so a
//!   misspelt column cannot silently lose data; so is a missing required column and a
//!   column named twice.
//! * Every following line is one patient. Lines that are entirely empty are skipped.
//!   At most [`MAX_IMPORT_ROWS`] rows per file.
//! * A value that starts with `'` followed by `=`, `+`, `-` or `@` is read without the
//!   `'` (exports add it so spreadsheets do not run such values as formulas).
//!
//! # Columns
//!
//! | column | required | format | example |
//! |---|---|---|---|
//! | `phn` | yes | BC personal health number: 10 digits starting with 9; spaces and dashes allowed | `9123 456 780` |
//! | `family_name` | yes | text | `Nguyen` |
//! | `given_names` | yes | text, several names separated by spaces | `Mary Ann` |
//! | `date_of_birth` | yes | `YYYY-MM-DD` | `1985-07-31` |
//! | `sex` | yes | `female`, `male`, `x` or `unknown` (or `F`, `M`, `X`, `U`), any case | `F` |
//! | `phone` | no | 10-digit phone number, optional extension | `604-555-0123` |
//! | `email` | no | email address | `mary@example.ca` |
//! | `street` | no | text | `123 Main St` |
//! | `city` | no | text | `Prince George` |
//! | `province` | no | text | `BC` |
//! | `postal_code` | no | Canadian postal code (or US ZIP) | `V2L 1A1` |
//! | `community` | no | text: the community the patient lives in | `Prince George` |
//! | `status` | no | `active` (the default when empty), `inactive`, or a status your clinic defined | `active` |
//! | `last_visit` | no | `YYYY-MM-DD` | `2024-11-02` |
//! | `mrp_confirmed` | no | `yes`/`no` or `true`/`false` (empty means no) | `yes` |
//!
//! The same table is [`CSV_COLUMNS`], for the README and the upload page.

use ::csv::{ReaderBuilder, StringRecord};
use time::Date;

use super::validate::{self, RowCheck, SeenPhns};
use super::{
    ColumnProblem, FileError, ImportErrors, ImportRow, MAX_IMPORT_ROWS, RowError, format_date,
};
use attach_domain::fields;
use attach_domain::{PanelEntry, PatientStatus, Sex};

/// One documented CSV column (of a panel file, or of an MSP panel list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnDoc {
    pub name: &'static str,
    pub required: bool,
    pub format: &'static str,
    pub example: &'static str,
}

pub(crate) const fn col(
    name: &'static str,
    required: bool,
    format: &'static str,
    example: &'static str,
) -> ColumnDoc {
    ColumnDoc {
        name,
        required,
        format,
        example,
    }
}

/// The CSV columns, in the order exports write them.
pub const CSV_COLUMNS: &[ColumnDoc] = &[
    col(
        "phn",
        true,
        "BC personal health number: 10 digits starting with 9; spaces and dashes allowed",
        "9123 456 780",
    ),
    col("family_name", true, "text", "Nguyen"),
    col(
        "given_names",
        true,
        "text, several names separated by spaces",
        "Mary Ann",
    ),
    col("date_of_birth", true, "YYYY-MM-DD", "1985-07-31"),
    col(
        "sex",
        true,
        "female, male, x or unknown (or F, M, X, U), any case",
        "F",
    ),
    col(
        "phone",
        false,
        "10-digit phone number, optional extension",
        "604-555-0123",
    ),
    col("email", false, "email address", "mary@example.ca"),
    col("street", false, "text", "123 Main St"),
    col("city", false, "text", "Prince George"),
    col("province", false, "text", "BC"),
    col(
        "postal_code",
        false,
        "Canadian postal code (or US ZIP)",
        "V2L 1A1",
    ),
    col(
        "community",
        false,
        "text: the community the patient lives in",
        "Prince George",
    ),
    col(
        "status",
        false,
        "active (the default when empty), inactive, or a status your clinic defined",
        "active",
    ),
    col("last_visit", false, "YYYY-MM-DD", "2024-11-02"),
    col(
        "mrp_confirmed",
        false,
        "yes/no or true/false (empty means no)",
        "yes",
    ),
];

// Indexes into CSV_COLUMNS.
const PHN: usize = 0;
const FAMILY_NAME: usize = 1;
const GIVEN_NAMES: usize = 2;
const DATE_OF_BIRTH: usize = 3;
const SEX: usize = 4;
const PHONE: usize = 5;
const EMAIL: usize = 6;
const STREET: usize = 7;
const CITY: usize = 8;
const PROVINCE: usize = 9;
const POSTAL_CODE: usize = 10;
const COMMUNITY: usize = 11;
const STATUS: usize = 12;
const LAST_VISIT: usize = 13;
const MRP_CONFIRMED: usize = 14;
const NCOLS: usize = 15;

/// Names people often use for a column, mapped to the column they mean. Only used to
/// suggest a fix; the file must still use the documented name. (MSP lists accept these
/// names: see `msp.rs`.)
pub(crate) const ALIASES: &[(&str, usize)] = &[
    ("health_number", PHN),
    ("personal_health_number", PHN),
    ("last_name", FAMILY_NAME),
    ("surname", FAMILY_NAME),
    ("lastname", FAMILY_NAME),
    ("first_name", GIVEN_NAMES),
    ("firstname", GIVEN_NAMES),
    ("given_name", GIVEN_NAMES),
    ("dob", DATE_OF_BIRTH),
    ("birth_date", DATE_OF_BIRTH),
    ("birthdate", DATE_OF_BIRTH),
    ("gender", SEX),
    ("address", STREET),
    ("postal", POSTAL_CODE),
    ("postcode", POSTAL_CODE),
    ("zip", POSTAL_CODE),
    ("mrp", MRP_CONFIRMED),
];

/// Reads a panel CSV file (see the module documentation for the format).
///
/// `today` bounds dates (no birth or visit in the future); `status` resolves a
/// clinic-defined status name to its id (the built-in `active` and `inactive` are
/// resolved here and never reach it).
///
/// All or nothing: either every row is valid and one [`ImportRow`] per patient comes
/// back in file order, or the error lists every problem found.
pub fn parse_panel_csv(
    bytes: &[u8],
    today: Date,
    status: &dyn Fn(&str) -> Option<PatientStatus>,
) -> Result<Vec<ImportRow>, ImportErrors> {
    let mut seen = SeenPhns::with_capacity((bytes.len() / 64).min(MAX_IMPORT_ROWS));
    read_rows(bytes, &PANEL_HEADER, |cells, row, line, errors| {
        parse_row(cells, row, line, today, status, &mut seen, errors)
    })
}

/// A panel file's header: the columns of [`CSV_COLUMNS`] and no others.
const PANEL_HEADER: Header<'static> = Header {
    columns: CSV_COLUMNS,
    aliases: &[],
    loose_names: false,
    unknown: UnknownColumns::Refuse(suggest),
};

/// How one kind of CSV file names its columns.
pub(crate) struct Header<'a> {
    /// The columns read, required and optional; a row's cells are asked for by index
    /// into this table.
    pub(crate) columns: &'a [ColumnDoc],
    /// Other names accepted for a column (lower case, with the index into `columns`).
    pub(crate) aliases: &'a [(&'a str, usize)],
    /// A space or dash inside a name reads as `_` (`Date of Birth` is `date_of_birth`),
    /// for files whose headers another system wrote.
    pub(crate) loose_names: bool,
    pub(crate) unknown: UnknownColumns,
}

/// What a column name that is neither a column nor an alias means.
pub(crate) enum UnknownColumns {
    /// An error (a misspelt column would otherwise lose its data), with the column the
    /// (lower-case) name most likely means.
    Refuse(fn(&str) -> Option<&'static str>),
    /// Left out, as are columns with no name: the file carries columns Attach has no
    /// use for.
    Ignore,
}

/// Reads a CSV file row by row: decodes it, maps the header, skips empty lines, counts
/// rows against [`MAX_IMPORT_ROWS`] and refuses misaligned rows; `parse_row` checks one
/// row (its cells, 1-based row number and file line), pushing every problem it finds.
///
/// All or nothing: the parsed rows in file order, or every problem found.
pub(crate) fn read_rows<T>(
    bytes: &[u8],
    header: &Header<'_>,
    mut parse_row: impl FnMut(&Cells<'_>, usize, usize, &mut Vec<RowError>) -> Option<T>,
) -> Result<Vec<T>, ImportErrors> {
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
    let positions = header_positions(&record, header)?;
    let names: Vec<String> = header
        .columns
        .iter()
        .zip(&positions)
        .map(|(doc, at)| {
            at.and_then(|i| record.get(i))
                .map_or(doc.name, str::trim)
                .to_string()
        })
        .collect();
    let width = record.len();

    let mut rows = Vec::new();
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
        if row > MAX_IMPORT_ROWS {
            return Err(FileError::TooManyRows {
                limit: MAX_IMPORT_ROWS,
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
                    })
                }
            }
            continue;
        }
        if field_count.is_some() {
            // The columns are not trustworthy; only keep counting misaligned rows.
            continue;
        }
        let cells = Cells {
            record: &record,
            positions: &positions,
            names: &names,
        };
        if let Some(r) = parse_row(&cells, row, line, &mut errors) {
            rows.push(r);
        }
    }
    if let Some(e) = field_count {
        return Err(e.into());
    }
    if !errors.is_empty() {
        return Err(ImportErrors::Rows(errors));
    }
    if rows.is_empty() {
        return Err(FileError::NoRows.into());
    }
    Ok(rows)
}

pub(crate) fn decode(bytes: &[u8]) -> Result<&str, FileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        FileError::NotUtf8 { line }
    })
}

/// The line each record starts on, counted from its byte offset in the text. (The
/// reader's own line count is taken before it reads the line break ending the previous
/// record, so after a CRLF or an empty line it names the line before.) Records come in
/// file order, so the count goes on from the previous record: one pass over the text.
pub(crate) struct Lines<'t> {
    text: &'t [u8],
    at: usize,
    line: usize,
}

impl<'t> Lines<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Self {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    pub(crate) fn of(&mut self, record: &StringRecord) -> usize {
        let Some(p) = record.position() else {
            return 0;
        };
        let len = self.text.len();
        let mut start = usize::try_from(p.byte()).map_or(len, |b| b.min(len));
        while start < len && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start < self.at {
            (self.at, self.line) = (0, 1);
        }
        self.line += self.text[self.at..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.at = start;
        self.line
    }
}

/// The reader works on text already checked to be UTF-8 in memory, so it cannot fail;
/// should it anyway, the position is all that is useful.
pub(crate) fn read_error(e: &::csv::Error) -> FileError {
    let line = e
        .position()
        .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
    FileError::NotUtf8 { line }
}

/// Maps each column of `spec` to its position in the file (`None`: not in the file), or
/// lists every header problem.
pub(crate) fn header_positions(
    header: &StringRecord,
    spec: &Header<'_>,
) -> Result<Vec<Option<usize>>, FileError> {
    if header.len() == 1 {
        let only = header.get(0).unwrap_or("");
        if only.contains(';') {
            return Err(FileError::WrongSeparator {
                found: "semicolons",
            });
        }
        if only.contains('\t') {
            return Err(FileError::WrongSeparator { found: "tabs" });
        }
    }
    let mut positions = vec![None; spec.columns.len()];
    let mut problems = Vec::new();
    let mut known = 0;
    for (i, raw) in header.iter().enumerate() {
        let mut name = raw.trim().to_ascii_lowercase();
        if name.is_empty() {
            if let UnknownColumns::Refuse(_) = spec.unknown {
                problems.push(ColumnProblem::Unnamed(i + 1));
            }
            continue;
        }
        if spec.loose_names {
            name = underscored(&name);
        }
        let column = spec
            .columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| {
                spec.aliases
                    .iter()
                    .find(|(a, _)| *a == name)
                    .map(|(_, c)| *c)
            });
        match column.and_then(|c| Some((positions.get_mut(c)?, spec.columns.get(c)?))) {
            Some((slot, doc)) => {
                known += 1;
                match *slot {
                    Some(first) => problems.push(ColumnProblem::Duplicate {
                        name: doc.name,
                        first: first + 1,
                        second: i + 1,
                    }),
                    None => *slot = Some(i),
                }
            }
            None => match spec.unknown {
                UnknownColumns::Refuse(suggest) => problems.push(ColumnProblem::Unknown {
                    name: raw.trim().to_string(),
                    suggestion: suggest(&name),
                }),
                UnknownColumns::Ignore => {}
            },
        }
    }
    if known == 0 && header.iter().any(|h| h.chars().any(|c| c.is_ascii_digit())) {
        return Err(FileError::NoHeader);
    }
    for (doc, at) in spec.columns.iter().zip(&positions) {
        if doc.required && at.is_none() {
            problems.push(ColumnProblem::Missing(doc.name));
        }
    }
    if problems.is_empty() {
        Ok(positions)
    } else {
        Err(FileError::Columns(problems))
    }
}

/// The documented column an unknown header name most likely means.
fn suggest(name: &str) -> Option<&'static str> {
    let norm = underscored(name);
    if let Some(c) = CSV_COLUMNS.iter().find(|c| c.name == norm) {
        return Some(c.name);
    }
    if let Some((_, c)) = ALIASES.iter().find(|(a, _)| *a == norm) {
        return Some(CSV_COLUMNS[*c].name);
    }
    CSV_COLUMNS
        .iter()
        .map(|c| (edit_distance(&norm, c.name), c.name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// `name` with every space and dash made `_`.
fn underscored(name: &str) -> String {
    name.chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect()
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// One row's values, asked for by column (an index into the [`Header`]'s columns).
pub(crate) struct Cells<'a> {
    pub(crate) record: &'a StringRecord,
    pub(crate) positions: &'a [Option<usize>],
    /// Each column's name as the file's header writes it (the documented name for a
    /// column the file does not have).
    pub(crate) names: &'a [String],
}

impl Cells<'_> {
    /// The column's name as the file writes it, for error messages: the person fixing
    /// the file looks for the header they see.
    pub(crate) fn name(&self, col: usize) -> &str {
        self.names.get(col).map_or("", String::as_str)
    }

    /// The column's value as written (without the formula guard `'`); empty when the
    /// file has no such column.
    pub(crate) fn get(&self, col: usize) -> &str {
        let raw = self
            .positions
            .get(col)
            .copied()
            .flatten()
            .and_then(|i| self.record.get(i))
            .unwrap_or("");
        unescape_formula(raw)
    }
}

fn unescape_formula(s: &str) -> &str {
    let b = s.as_bytes();
    if b.first() == Some(&b'\'') && matches!(b.get(1), Some(b'=' | b'+' | b'-' | b'@')) {
        &s[1..]
    } else {
        s
    }
}

fn parse_row(
    cells: &Cells<'_>,
    row: usize,
    line: usize,
    today: Date,
    status: &dyn Fn(&str) -> Option<PatientStatus>,
    seen: &mut SeenPhns,
    errors: &mut Vec<RowError>,
) -> Option<ImportRow> {
    let mut c = RowCheck::new(errors, row, Some(line));
    let name = |i: usize| CSV_COLUMNS[i].name;

    let phn = c.phn_once(name(PHN), cells.get(PHN), seen);
    let family_name = c.check(
        name(FAMILY_NAME),
        fields::name(cells.get(FAMILY_NAME), "the family name"),
    );
    let given_names = c.check(
        name(GIVEN_NAMES),
        fields::name(cells.get(GIVEN_NAMES), "the given names"),
    );
    let dob = c.check(
        name(DATE_OF_BIRTH),
        fields::date_of_birth(cells.get(DATE_OF_BIRTH), today),
    );
    let sex = c.check(name(SEX), fields::sex_code(cells.get(SEX)));
    let phone = c.check(name(PHONE), fields::phone(cells.get(PHONE)));
    let email = c.check(name(EMAIL), fields::email(cells.get(EMAIL)));
    let street = c.check(name(STREET), fields::text(cells.get(STREET), "the street"));
    let city = c.check(name(CITY), fields::text(cells.get(CITY), "the city"));
    let province = c.check(
        name(PROVINCE),
        fields::text(cells.get(PROVINCE), "the province"),
    );
    let postal_code = c.check(
        name(POSTAL_CODE),
        fields::postal_code(cells.get(POSTAL_CODE)),
    );
    let community = c.check(
        name(COMMUNITY),
        fields::text(cells.get(COMMUNITY), "the community"),
    );
    let patient_status = c.check(name(STATUS), validate::status(cells.get(STATUS), status));
    let last_visit = c.check(
        name(LAST_VISIT),
        fields::last_visit(cells.get(LAST_VISIT), today, dob),
    );
    let mrp_confirmed = c.check(
        name(MRP_CONFIRMED),
        validate::yes_no(cells.get(MRP_CONFIRMED)).map_err(|m| format!("mrp_confirmed {m}")),
    );
    if c.failed() {
        return None;
    }
    Some(ImportRow {
        details: fields::DetailParts {
            phn,
            family_name,
            given_names,
            date_of_birth: dob,
            sex,
            phone,
            email,
            street,
            city,
            province,
            postal_code,
            community,
            last_visit,
        }
        .assemble()?,
        status: patient_status?,
        mrp_confirmed: mrp_confirmed?,
    })
}

/// Writes a panel as CSV in the import format: a UTF-8 byte-order mark (so Excel reads
/// accents correctly), the header line, then one line per patient, CRLF line ends.
///
/// Patients taken off the panel (`removed`) are left out, so the file re-imports as the
/// current panel. `status_name` names clinic-defined statuses; the built-in ones are
/// written `active` and `inactive`. Values a spreadsheet would run as a formula get a
/// leading `'`, which the importer removes.
pub fn write_panel_csv(
    entries: &[PanelEntry],
    status_name: &dyn Fn(&PatientStatus) -> String,
) -> Vec<u8> {
    let mut out = String::with_capacity(64 + entries.len() * 160);
    out.push('\u{FEFF}');
    for (i, c) in CSV_COLUMNS.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(c.name);
    }
    out.push_str("\r\n");
    for e in entries.iter().filter(|e| e.removed.is_none()) {
        let d = &e.details;
        let a = &d.contact.address;
        let status = match e.status {
            PatientStatus::Active => "active".to_string(),
            PatientStatus::Inactive => "inactive".to_string(),
            PatientStatus::Custom(_) => status_name(&e.status),
        };
        let cells: [&str; NCOLS] = [
            &d.phn.to_string(),
            &d.family_name,
            &d.given_names,
            &format_date(d.date_of_birth),
            sex_code(d.sex),
            &d.contact.phone,
            &d.contact.email,
            &a.street,
            &a.city,
            &a.province,
            &a.postal_code,
            &d.community,
            &status,
            &d.last_visit.map(format_date).unwrap_or_default(),
            if e.mrp.is_some() { "yes" } else { "no" },
        ];
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_cell(&mut out, cell);
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

pub(crate) fn sex_code(s: Sex) -> &'static str {
    match s {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::X => "x",
        Sex::Unknown => "unknown",
    }
}

pub(crate) fn push_cell(out: &mut String, cell: &str) {
    let b = cell.as_bytes();
    let guard = matches!(b.first(), Some(b'=' | b'+' | b'-' | b'@'));
    let mut quote = matches!(b.first(), Some(b' ')) || matches!(b.last(), Some(b' '));
    let mut i = 0;
    while !quote && i < b.len() {
        quote = matches!(b[i], b',' | b'"' | b'\r' | b'\n');
        i += 1;
    }
    if quote {
        out.push('"');
    }
    if guard {
        out.push('\'');
    }
    if quote {
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(cell);
    }
}
