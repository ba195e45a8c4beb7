//! What only imports need on top of the patient-field checks of
//! [`attach_domain::fields`] (which the JSON API applies too): collecting the errors of
//! a row, spotting a PHN seen twice in one file, the status and yes/no columns. Messages
//! never repeat the value (it may be a patient's name, number or birth date).

use std::collections::HashMap;

use super::RowError;
use attach_domain::fields::{self, clean, trim};
use attach_domain::{PatientStatus, Phn};

/// Collects the errors of one row; `check` keeps going after a failure so every
/// problem of the row is reported.
pub(crate) struct RowCheck<'e> {
    errors: &'e mut Vec<RowError>,
    row: usize,
    line: Option<usize>,
    failed: bool,
}

impl<'e> RowCheck<'e> {
    pub(crate) fn new(errors: &'e mut Vec<RowError>, row: usize, line: Option<usize>) -> Self {
        Self {
            errors,
            row,
            line,
            failed: false,
        }
    }

    pub(crate) fn check<T>(&mut self, field: &str, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    pub(crate) fn fail(&mut self, field: &str, message: String) {
        self.failed = true;
        self.errors.push(RowError {
            row: self.row,
            line: self.line,
            field: field.to_string(),
            message,
        });
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed
    }

    /// A CSV file's PHN column: a valid PHN that no earlier row of the file holds (a
    /// second row for one patient names the first, by row and line).
    pub(crate) fn phn_once(&mut self, field: &str, raw: &str, seen: &mut SeenPhns) -> Option<Phn> {
        let phn = self.check(field, fields::phn(raw))?;
        if let Err((r, l)) = seen.record(phn, (self.row, self.line)) {
            let l = l.unwrap_or(0);
            self.fail(
                field,
                format!(
                    "this PHN is already on row {r} (line {l}); each patient may appear only \
                     once in a file"
                ),
            );
        }
        Some(phn)
    }
}

/// Remembers where each PHN was first seen so a second occurrence names the first.
#[derive(Default)]
pub(crate) struct SeenPhns {
    first: HashMap<Phn, (usize, Option<usize>)>,
}

impl SeenPhns {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            first: HashMap::with_capacity(n),
        }
    }

    /// Records `phn` at `at`; if it was seen before, returns where.
    pub(crate) fn record(
        &mut self,
        phn: Phn,
        at: (usize, Option<usize>),
    ) -> Result<(), (usize, Option<usize>)> {
        match self.first.get(&phn) {
            Some(first) => Err(*first),
            None => {
                self.first.insert(phn, at);
                Ok(())
            }
        }
    }
}

/// The status column: empty or "active" → active, "inactive", or a clinic-defined
/// status name resolved by `resolve`.
pub(crate) fn status(
    s: &str,
    resolve: &dyn Fn(&str) -> Option<PatientStatus>,
) -> Result<PatientStatus, String> {
    let v = clean(s);
    if v.is_empty() || v.eq_ignore_ascii_case("active") {
        return Ok(PatientStatus::Active);
    }
    if v.eq_ignore_ascii_case("inactive") {
        return Ok(PatientStatus::Inactive);
    }
    resolve(&v).ok_or_else(|| {
        format!(
            "\"{v}\" is not a patient status at this clinic; use active, inactive or a status \
             your clinic has defined"
        )
    })
}

/// yes/no/true/false (also y/n/1/0), any case; empty is no.
pub(crate) fn yes_no(s: &str) -> Result<bool, String> {
    let s = trim(s);
    let any = |words: &[&str]| words.iter().any(|w| s.eq_ignore_ascii_case(w));
    if any(&["", "no", "n", "false", "0"]) {
        Ok(false)
    } else if any(&["yes", "y", "true", "1"]) {
        Ok(true)
    } else {
        Err("must be yes or no".into())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_yes_no() {
        let none = |_: &str| None;
        assert_eq!(status("", &none), Ok(PatientStatus::Active));
        assert_eq!(status("Inactive", &none), Ok(PatientStatus::Inactive));
        assert!(
            status("Deceased", &none)
                .unwrap_err()
                .contains("\"Deceased\"")
        );
        assert_eq!(yes_no("Yes"), Ok(true));
        assert_eq!(yes_no(""), Ok(false));
        assert!(yes_no("maybe").is_err());
    }
}
