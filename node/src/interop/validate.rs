//! Field checks shared by the CSV and FHIR readers. Each returns the cleaned value or a
//! message for the person who prepared the file; the message never repeats the value
//! (it may be a patient's name, number or birth date).

use std::collections::HashMap;

use time::{Date, Month};

use super::RowError;
use crate::domain::{PatientStatus, Phn, Sex};

const NAME_MAX: usize = 100;
const TEXT_MAX: usize = 200;
/// Nobody on a panel was born more than this many years before the import.
const OLDEST_AGE_YEARS: i32 = 130;

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

/// Trims and turns every run of whitespace (including line breaks inside a quoted CSV
/// value) into one space.
pub(crate) fn clean(s: &str) -> String {
    if is_clean(s.as_bytes()) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// True when `clean` would not change `b`: no leading, trailing or doubled space and
/// no other whitespace. A plain byte loop, because imports run through it for every
/// cell and iterator chains are slow in debug builds.
fn is_clean(b: &[u8]) -> bool {
    let mut prev_space = true;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' if prev_space => return false,
            b' ' => prev_space = true,
            b'\t' | b'\n' | 0x0B | 0x0C | b'\r' => return false,
            // Lead bytes of the non-ASCII whitespace (U+0085, U+00A0, U+1680, U+2000…,
            // U+3000): leave those to the careful path.
            0xC2 if matches!(b.get(i + 1), Some(0x85 | 0xA0)) => return false,
            0xE1..=0xE3 => return false,
            _ => prev_space = false,
        }
        i += 1;
    }
    !prev_space || b.is_empty()
}

/// `str::trim`, with a byte loop for the usual ASCII case (imports call it for every
/// cell; the generic version is slow in debug builds).
pub(crate) fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let (mut start, mut end) = (0, b.len());
    while start < end && b[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && b[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let t = &s[start..end];
    let edge_non_ascii = t.as_bytes().first().is_some_and(|c| *c >= 0x80)
        || t.as_bytes().last().is_some_and(|c| *c >= 0x80);
    if edge_non_ascii { t.trim() } else { t }
}

/// Any C0/C1 control character (line breaks and tabs are already gone after `clean`).
fn has_control(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x20 || c == 0x7F || (c == 0xC2 && matches!(b.get(i + 1), Some(0x80..=0x9F))) {
            return true;
        }
        i += 1;
    }
    false
}

fn char_count_over(s: &str, max: usize) -> bool {
    s.len() > max && s.chars().count() > max
}

fn has_letter(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() {
            return true;
        }
        if b[i] >= 0x80 {
            return s.chars().any(char::is_alphabetic);
        }
        i += 1;
    }
    false
}

fn count_digits(s: &str) -> usize {
    let b = s.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        n += usize::from(b[i].is_ascii_digit());
        i += 1;
    }
    n
}

fn only_bytes(s: &str, ok: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !ok(b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

pub(crate) fn phn(s: &str) -> Result<Phn, String> {
    if trim(s).is_empty() {
        return Err("the PHN (personal health number) is missing".into());
    }
    Phn::parse(s).map_err(|e| e.to_string())
}

/// A required name (`label` is "the family name", "the given names").
pub(crate) fn name(s: &str, label: &str) -> Result<String, String> {
    let v = clean(s);
    if v.is_empty() {
        return Err(format!("{label} is missing"));
    }
    if has_control(&v) {
        return Err(format!("{label} contains an invisible control character"));
    }
    if char_count_over(&v, NAME_MAX) {
        return Err(format!("{label} is longer than {NAME_MAX} characters"));
    }
    if !has_letter(&v) {
        return Err(format!(
            "{label} has no letters; check that the columns are in the right order"
        ));
    }
    Ok(v)
}

/// Optional free text (street, city, province, community).
pub(crate) fn text(s: &str, label: &str) -> Result<String, String> {
    let v = clean(s);
    if has_control(&v) {
        return Err(format!("{label} contains an invisible control character"));
    }
    if char_count_over(&v, TEXT_MAX) {
        return Err(format!("{label} is longer than {TEXT_MAX} characters"));
    }
    Ok(v)
}

/// A `YYYY-MM-DD` date.
fn date(s: &str, label: &str) -> Result<Date, String> {
    let s = trim(s);
    let b = s.as_bytes();
    let mut shaped = b.len() == 10;
    let mut i = 0;
    while shaped && i < 10 {
        shaped = if i == 4 || i == 7 {
            b[i] == b'-'
        } else {
            b[i].is_ascii_digit()
        };
        i += 1;
    }
    if !shaped {
        let hint = if s.contains('/') {
            ", not with slashes"
        } else {
            ""
        };
        return Err(format!(
            "{label} must be written YYYY-MM-DD (for example 1985-07-31){hint}"
        ));
    }
    let digit = |i: usize| u32::from(b[i] - b'0');
    let year = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3);
    let month = digit(5) * 10 + digit(6);
    let day = digit(8) * 10 + digit(9);
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(|| format!("{label} has a month that is not 01 to 12"))?;
    let year = i32::try_from(year).map_err(|_| format!("{label} has an impossible year"))?;
    let day = u8::try_from(day).map_err(|_| format!("{label} has a day that does not exist"))?;
    Date::from_calendar_date(year, month, day).map_err(|_| {
        format!("{label} has a day that does not exist in that month (check day and month order)")
    })
}

pub(crate) fn date_of_birth(s: &str, today: Date) -> Result<Date, String> {
    if trim(s).is_empty() {
        return Err("the date of birth is missing".into());
    }
    let d = date(s, "the date of birth")?;
    if d > today {
        return Err("the date of birth is in the future".into());
    }
    if today.year() - d.year() > OLDEST_AGE_YEARS {
        return Err(format!(
            "the date of birth is more than {OLDEST_AGE_YEARS} years ago; check the year"
        ));
    }
    Ok(d)
}

pub(crate) fn last_visit(s: &str, today: Date, born: Option<Date>) -> Result<Option<Date>, String> {
    if trim(s).is_empty() {
        return Ok(None);
    }
    let d = date(s, "the last visit date")?;
    if d > today {
        return Err("the last visit date is in the future".into());
    }
    if born.is_some_and(|b| d < b) {
        return Err("the last visit date is before the date of birth".into());
    }
    Ok(Some(d))
}

/// The CSV sex codes: female/male/x/unknown or F/M/X/U, any case.
pub(crate) fn sex_code(s: &str) -> Result<Sex, String> {
    let s = trim(s);
    let is = |a: &str| s.eq_ignore_ascii_case(a);
    if is("female") || is("f") {
        Ok(Sex::Female)
    } else if is("male") || is("m") {
        Ok(Sex::Male)
    } else if is("x") {
        Ok(Sex::X)
    } else if is("unknown") || is("u") {
        Ok(Sex::Unknown)
    } else if s.is_empty() {
        Err("sex is missing; use female, male, x or unknown (or F, M, X, U)".into())
    } else {
        Err("sex must be female, male, x or unknown (or F, M, X, U)".into())
    }
}

/// Optional phone number: 10 to 15 digits with the usual separators, and an optional
/// extension ("604-555-0123 ext 45"). Kept as written.
pub(crate) fn phone(s: &str) -> Result<String, String> {
    let v = clean(s);
    if v.is_empty() {
        return Ok(v);
    }
    let b = v.as_bytes();
    let mut split = 0;
    while split < b.len() && !matches!(b[split], b'x' | b'X' | b'e' | b'E') {
        split += 1;
    }
    let (main, ext) = if split < b.len() {
        (&v[..split], Some(&v[split..]))
    } else {
        (v.as_str(), None)
    };
    let main_ok = only_bytes(main, |b| {
        matches!(b, b'0'..=b'9' | b' ' | b'-' | b'.' | b'(' | b')' | b'+')
    }) && (10..=15).contains(&count_digits(main));
    let ext_ok = ext.is_none_or(|e| {
        let e = e.to_ascii_lowercase();
        let digits = e
            .trim_start_matches("extension")
            .trim_start_matches("ext")
            .trim_start_matches('x')
            .trim_start_matches(['.', ':', ' ']);
        !digits.is_empty() && only_bytes(digits, |b| b.is_ascii_digit())
    });
    if main_ok && ext_ok {
        Ok(v)
    } else {
        Err("the phone number should have 10 digits, for example 604-555-0123".into())
    }
}

const EMAIL_SHAPE: &str = "the email address should look like name@example.com";

/// Optional email address; only its shape is checked.
pub(crate) fn email(s: &str) -> Result<String, String> {
    let v = trim(s);
    if v.is_empty() {
        return Ok(String::new());
    }
    let b = v.as_bytes();
    let (mut at, mut ats, mut last_dot, mut i) = (0, 0, 0, 0);
    while i < b.len() {
        match b[i] {
            b'@' => {
                at = i;
                ats += 1;
            }
            b'.' => last_dot = i,
            c if c <= b' ' || c == 0x7F => return Err(EMAIL_SHAPE.into()),
            _ => {}
        }
        i += 1;
    }
    // One @ with something before it, and a dot in the domain neither first nor last.
    let ok = b.len() <= 254 && ats == 1 && at > 0 && last_dot > at + 1 && last_dot + 1 < b.len();
    if ok {
        Ok(v.to_string())
    } else {
        Err(EMAIL_SHAPE.into())
    }
}

/// Optional postal code: a Canadian one (written back as "V6B 1A1") or a US ZIP code.
pub(crate) fn postal_code(s: &str) -> Result<String, String> {
    let mut compact = String::with_capacity(7);
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_whitespace() {
            if !b[i].is_ascii() {
                return Err("the postal code should look like V6B 1A1".into());
            }
            compact.push(char::from(b[i].to_ascii_uppercase()));
        }
        i += 1;
    }
    if compact.is_empty() {
        return Ok(compact);
    }
    let b = compact.as_bytes();
    let canadian = b.len() == 6
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_uppercase()
        && b[3].is_ascii_digit()
        && b[4].is_ascii_uppercase()
        && b[5].is_ascii_digit();
    if canadian {
        return Ok(format!("{} {}", &compact[..3], &compact[3..]));
    }
    let zip = (b.len() == 5 && only_bytes(&compact, |c| c.is_ascii_digit()))
        || (b.len() == 10
            && b[5] == b'-'
            && only_bytes(&compact[..5], |c| c.is_ascii_digit())
            && only_bytes(&compact[6..], |c| c.is_ascii_digit()));
    if zip {
        return Ok(compact);
    }
    Err("the postal code should look like V6B 1A1".into())
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
    use time::macros::date;

    const TODAY: Date = date!(2025 - 03 - 15);

    #[test]
    fn dates_need_iso_form_and_real_days() {
        assert_eq!(
            date_of_birth("1985-07-31", TODAY),
            Ok(date!(1985 - 07 - 31))
        );
        assert_eq!(
            date_of_birth(" 2000-02-29 ", TODAY),
            Ok(date!(2000 - 02 - 29))
        );
        let slashes = date_of_birth("31/07/1985", TODAY).unwrap_err();
        assert!(
            slashes.contains("YYYY-MM-DD") && slashes.contains("slashes"),
            "{slashes}"
        );
        assert!(
            date_of_birth("1985-13-01", TODAY)
                .unwrap_err()
                .contains("month")
        );
        assert!(
            date_of_birth("2001-02-29", TODAY)
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(
            date_of_birth("2025-03-16", TODAY)
                .unwrap_err()
                .contains("future")
        );
        assert!(
            date_of_birth("1890-01-01", TODAY)
                .unwrap_err()
                .contains("130 years")
        );
        assert!(date_of_birth("", TODAY).unwrap_err().contains("missing"));
        assert!(date_of_birth("1985-7-31", TODAY).is_err());
    }

    #[test]
    fn last_visit_is_optional_but_sane() {
        assert_eq!(last_visit("", TODAY, None), Ok(None));
        assert!(
            last_visit("2025-04-01", TODAY, None)
                .unwrap_err()
                .contains("future")
        );
        assert!(
            last_visit("1999-01-01", TODAY, Some(date!(2000 - 01 - 01)))
                .unwrap_err()
                .contains("before the date of birth")
        );
    }

    #[test]
    fn sex_codes() {
        for (s, want) in [
            ("F", Sex::Female),
            ("female", Sex::Female),
            ("MALE", Sex::Male),
            ("m", Sex::Male),
            ("x", Sex::X),
            ("X", Sex::X),
            ("u", Sex::Unknown),
            ("Unknown", Sex::Unknown),
        ] {
            assert_eq!(sex_code(s), Ok(want), "{s}");
        }
        assert!(sex_code("woman").is_err());
        assert!(sex_code("").unwrap_err().contains("missing"));
    }

    #[test]
    fn names_are_cleaned_and_required() {
        assert_eq!(
            name("  Mary   Ann ", "the given names"),
            Ok("Mary Ann".into())
        );
        assert_eq!(name("Nguyễn", "the family name"), Ok("Nguyễn".into()));
        assert_eq!(
            name("Mary\u{A0}Ann\t", "the given names"),
            Ok("Mary Ann".into())
        );
        assert_eq!(
            name("Jean\u{3000} Luc", "the given names"),
            Ok("Jean Luc".into())
        );
        assert!(
            name("Ann\u{7}", "the given names")
                .unwrap_err()
                .contains("control")
        );
        assert!(
            name("Ann\u{85}", "the given names").is_ok(),
            "U+0085 is a line break"
        );
        assert_eq!(
            name(" ", "the family name"),
            Err("the family name is missing".into())
        );
        assert!(
            name("12345", "the family name")
                .unwrap_err()
                .contains("no letters")
        );
        assert!(name(&"a".repeat(101), "the family name").is_err());
    }

    #[test]
    fn phones_emails_postal_codes() {
        assert!(phone("604-555-0123").is_ok());
        assert!(phone("(604) 555 0123 ext. 12").is_ok());
        assert!(phone("+1 604 555 0123").is_ok());
        assert!(phone("555-0123").is_err());
        assert!(phone("call me").is_err());
        assert!(email("a.b@example.ca").is_ok());
        assert!(email("a.b@example").is_err());
        assert!(email("a b@example.ca").is_err());
        assert!(email("@example.ca").is_err());
        assert!(email("a@b@example.ca").is_err());
        assert!(email("a@.ca").is_err());
        assert!(email("a@example.").is_err());
        assert!(email("a@mail.example.ca").is_ok());
        assert_eq!(postal_code("v6b1a1"), Ok("V6B 1A1".into()));
        assert_eq!(postal_code("98101"), Ok("98101".into()));
        assert!(postal_code("V6B 1A").is_err());
    }

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

    #[test]
    fn messages_never_repeat_the_value() {
        let errs = [
            phn("9123456789").unwrap_err(),
            date_of_birth("1977/07/31", TODAY).unwrap_err(),
            email("jane.doe@nowhere").unwrap_err(),
            phone("Jane 604").unwrap_err(),
            postal_code("ZZZ").unwrap_err(),
        ];
        for e in errs {
            for secret in ["912345678", "1977", "jane", "Jane", "ZZZ"] {
                assert!(!e.contains(secret), "{e}");
            }
        }
    }
}
