//! MSP panel lists: the patients the provincial Medical Services Plan holds on one
//! provider's panel, as the CSV file a BC clinic downloads, read for reconciliation with
//! the panel in Attach ([`attach_domain::reconcile`]).
//!
//! # File format
//!
//! As a panel CSV file (see [`crate::csv`]): UTF-8 text (a UTF-8 byte-order mark is
//! allowed), comma-separated with RFC 4180 quoting, CRLF or LF line ends, the first line
//! naming the columns in any order, one patient per following line, lines that are
//! entirely empty skipped, at most [`MAX_IMPORT_ROWS`] rows. A file separated by
//! semicolons or tabs is refused with an explanation.
//!
//! Unlike a panel file, a column Attach does not read (`payee_number`,
//! `practitioner_number`, `registration_date`, anything else, or a column with no name)
//! is ignored: MSP's lists carry columns Attach has no use for. A missing required column, or a column named
//! twice (also under two of its names, such as `surname` and `family_name`), is an
//! error, and every such problem is listed. Names are case-insensitive, surrounding
//! spaces are ignored, and a space or dash inside a name reads as `_` (`Date of Birth`
//! is `date_of_birth`).
//!
//! All or nothing: either every row is valid, or the error lists every problem with its
//! row, line and column (as the file names it). A PHN on two rows is an error on the
//! second. Messages never quote a patient's data.
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
//! | `deceased_date` | no | `YYYY-MM-DD`, not after today; empty when the patient is alive | `2025-01-31` |
//!
//! The same table is [`MSP_COLUMNS`].
//!
//! # Other names accepted
//!
//! | column | also accepted as |
//! |---|---|
//! | `phn` | `health_number`, `personal_health_number` |
//! | `family_name` | `last_name`, `surname`, `lastname` |
//! | `given_names` | `first_name`, `firstname`, `given_name` |
//! | `date_of_birth` | `dob`, `birth_date`, `birthdate` |
//! | `sex` | `gender` |
//! | `deceased_date` | `date_of_death`, `deceased` |
//!
//! These are the names the panel importer suggests for its columns (`csv::ALIASES`),
//! which a panel file may not use, plus MSP's names for the date of death.

use time::Date;

use super::csv::{self, CSV_COLUMNS, Cells, ColumnDoc, Header, UnknownColumns, col, read_rows};
use super::validate::{RowCheck, SeenPhns};
use super::{ImportErrors, MAX_IMPORT_ROWS, RowError};
use attach_domain::{MspPatient, fields};

/// The columns of an MSP panel list that Attach reads.
pub const MSP_COLUMNS: &[ColumnDoc] = &[
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
        "deceased_date",
        false,
        "YYYY-MM-DD, not after today; empty when the patient is alive",
        "2025-01-31",
    ),
];

// Indexes into MSP_COLUMNS.
const PHN: usize = 0;
const FAMILY_NAME: usize = 1;
const GIVEN_NAMES: usize = 2;
const DATE_OF_BIRTH: usize = 3;
const SEX: usize = 4;
const DECEASED: usize = 5;

/// MSP's own names, beside those the panel importer knows ([`aliases`]).
const MSP_ALIASES: &[(&str, usize)] = &[("date_of_death", DECEASED), ("deceased", DECEASED)];

/// Every other name accepted for a column: the panel importer's aliases of the columns
/// read here (matched by column name, so the two tables cannot drift apart), then MSP's.
fn aliases() -> Vec<(&'static str, usize)> {
    csv::ALIASES
        .iter()
        .filter_map(|(alias, c)| {
            let name = CSV_COLUMNS.get(*c)?.name;
            Some((*alias, MSP_COLUMNS.iter().position(|m| m.name == name)?))
        })
        .chain(MSP_ALIASES.iter().copied())
        .collect()
}

/// Reads an MSP panel list (see the module documentation for the format).
///
/// `today` bounds the dates (no birth or death in the future). All or nothing: either
/// every row is valid and one [`MspPatient`] per row comes back in file order, or the
/// error lists every problem found.
pub fn parse_msp_csv(bytes: &[u8], today: Date) -> Result<Vec<MspPatient>, ImportErrors> {
    let aliases = aliases();
    let header = Header {
        columns: MSP_COLUMNS,
        aliases: &aliases,
        loose_names: true,
        unknown: UnknownColumns::Ignore,
    };
    let mut seen = SeenPhns::with_capacity((bytes.len() / 48).min(MAX_IMPORT_ROWS));
    read_rows(bytes, &header, |cells, row, line, errors| {
        parse_row(cells, row, line, today, &mut seen, errors)
    })
}

fn parse_row(
    cells: &Cells<'_>,
    row: usize,
    line: usize,
    today: Date,
    seen: &mut SeenPhns,
    errors: &mut Vec<RowError>,
) -> Option<MspPatient> {
    let mut c = RowCheck::new(errors, row, Some(line));
    let phn = c.phn_once(cells.name(PHN), cells.get(PHN), seen);
    let family_name = c.check(
        cells.name(FAMILY_NAME),
        fields::name(cells.get(FAMILY_NAME), "the family name"),
    );
    let given_names = c.check(
        cells.name(GIVEN_NAMES),
        fields::name(cells.get(GIVEN_NAMES), "the given names"),
    );
    let date_of_birth = c.check(
        cells.name(DATE_OF_BIRTH),
        fields::date_of_birth(cells.get(DATE_OF_BIRTH), today),
    );
    let sex = c.check(cells.name(SEX), fields::sex_code(cells.get(SEX)));
    let deceased = c.check(
        cells.name(DECEASED),
        date_of_death(cells.get(DECEASED), today, date_of_birth),
    );
    if c.failed() {
        return None;
    }
    Some(MspPatient {
        phn: phn?,
        family_name: family_name?,
        given_names: given_names?,
        date_of_birth: date_of_birth?,
        sex: sex?,
        deceased: deceased?,
    })
}

/// An optional date of death: `YYYY-MM-DD`, not after `today`, not before the birth.
///
/// These are the rules of the last-visit date, so its check serves (one date reader for
/// every import), with the messages naming this date.
fn date_of_death(s: &str, today: Date, born: Option<Date>) -> Result<Option<Date>, String> {
    fields::last_visit(s, today, born)
        .map_err(|m| m.replace("the last visit date", "the date of death"))
}

#[cfg(test)]
#[path = "msp_tests.rs"]
mod tests;
