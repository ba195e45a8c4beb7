//! Checks of the patient-detail fields people type or import: one rule and one message
//! per field, whether the value comes from the JSON API or from a CSV or FHIR file.
//! Clinic profiles and locations reuse the phone and postal-code checks, in a stricter
//! form (North American numbers, Canadian postal codes, province codes).
//!
//! Each check is a pure function of a string (and `today` for dates). It returns the
//! cleaned value or a message for a clinic worker; the message never repeats the value
//! (it may be a patient's name, number or birth date).

use time::{Date, Month};

use super::phn::Phn;
use super::types::{Address, Contact, PatientDetails, Sex};

const NAME_MAX: usize = 100;
const TEXT_MAX: usize = 200;
/// Nobody on a panel was born more than this many years before today.
pub const OLDEST_AGE_YEARS: i32 = 130;

/// Trims and turns every run of whitespace (including line breaks inside a quoted CSV
/// value) into one space.
pub fn clean(s: &str) -> String {
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
pub fn trim(s: &str) -> &str {
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

pub fn phn(s: &str) -> Result<Phn, String> {
    if trim(s).is_empty() {
        return Err("the PHN (personal health number) is missing".into());
    }
    Phn::parse(s).map_err(|e| e.to_string())
}

/// A required name (`label` is "the family name", "the given names").
pub fn name(s: &str, label: &str) -> Result<String, String> {
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
pub fn text(s: &str, label: &str) -> Result<String, String> {
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

pub fn date_of_birth(s: &str, today: Date) -> Result<Date, String> {
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

pub fn last_visit(s: &str, today: Date, born: Option<Date>) -> Result<Option<Date>, String> {
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
pub fn sex_code(s: &str) -> Result<Sex, String> {
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

const PHONE_SHAPE: &str = "the phone number should have 10 digits, for example 604-555-0123";

/// The number part and the extension digits of a phone number written with the usual
/// separators: 10 to 15 digits, then optionally "x12", "ext 12", "ext. 12",
/// "extension 12". `None` when it is not one.
fn phone_parts(v: &str) -> Option<(&str, Option<&str>)> {
    let b = v.as_bytes();
    let mut split = 0;
    while split < b.len() && !matches!(b[split], b'x' | b'X' | b'e' | b'E') {
        split += 1;
    }
    let (main, ext) = if split < b.len() {
        (&v[..split], Some(&v[split..]))
    } else {
        (v, None)
    };
    let main_ok = only_bytes(main, |b| {
        matches!(b, b'0'..=b'9' | b' ' | b'-' | b'.' | b'(' | b')' | b'+')
    }) && (10..=15).contains(&count_digits(main));
    if !main_ok {
        return None;
    }
    let ext = match ext {
        None => None,
        Some(e) => {
            // Only ASCII letters are stripped, so byte offsets match the lowercase copy.
            let lower = e.to_ascii_lowercase();
            let digits = lower
                .trim_start_matches("extension")
                .trim_start_matches("ext")
                .trim_start_matches('x')
                .trim_start_matches(['.', ':', ' ']);
            if digits.is_empty() || !only_bytes(digits, |b| b.is_ascii_digit()) {
                return None;
            }
            Some(&e[e.len() - digits.len()..])
        }
    };
    Some((main, ext))
}

/// Optional phone number: 10 to 15 digits with the usual separators, and an optional
/// extension ("604-555-0123 ext 45"). Kept as written (whitespace cleaned).
pub fn phone(s: &str) -> Result<String, String> {
    let v = clean(s);
    if v.is_empty() || phone_parts(&v).is_some() {
        Ok(v)
    } else {
        Err(PHONE_SHAPE.into())
    }
}

/// A [`phone`] number that is North American (10 digits, or 11 starting with 1),
/// written the one way "250-555-0100", with an extension as " x12". Empty stays
/// empty. Clinics and locations use this; a patient's number that passes [`phone`] but
/// not this one (an overseas number) is kept as written.
pub fn north_american_phone(s: &str) -> Result<String, String> {
    let v = clean(s);
    if v.is_empty() {
        return Ok(v);
    }
    let (main, ext) = phone_parts(&v).ok_or(PHONE_SHAPE)?;
    let mut digits: String = main.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 11 && digits.starts_with('1') {
        digits.remove(0);
    }
    if digits.len() != 10 {
        return Err(PHONE_SHAPE.into());
    }
    let mut out = format!("{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..]);
    if let Some(ext) = ext {
        out.push_str(" x");
        out.push_str(ext);
    }
    Ok(out)
}

const EMAIL_SHAPE: &str = "the email address should look like name@example.com";

/// Optional email address; only its shape is checked.
pub fn email(s: &str) -> Result<String, String> {
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

const POSTAL_SHAPE: &str = "the postal code should look like V6B 1A1";

/// The postal code upper-cased with its spaces removed; non-ASCII is refused.
fn compact_postal_code(s: &str) -> Result<String, String> {
    let mut compact = String::with_capacity(7);
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_whitespace() {
            if !b[i].is_ascii() {
                return Err(POSTAL_SHAPE.into());
            }
            compact.push(char::from(b[i].to_ascii_uppercase()));
        }
        i += 1;
    }
    Ok(compact)
}

/// A compact Canadian postal code written back as "V6B 1A1".
fn canadian(compact: &str) -> Option<String> {
    let b = compact.as_bytes();
    let ok = b.len() == 6
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_uppercase()
        && b[3].is_ascii_digit()
        && b[4].is_ascii_uppercase()
        && b[5].is_ascii_digit();
    ok.then(|| format!("{} {}", &compact[..3], &compact[3..]))
}

/// Optional postal code: a Canadian one (written back as "V6B 1A1") or a US ZIP code.
pub fn postal_code(s: &str) -> Result<String, String> {
    let compact = compact_postal_code(s)?;
    if compact.is_empty() {
        return Ok(compact);
    }
    if let Some(c) = canadian(&compact) {
        return Ok(c);
    }
    let b = compact.as_bytes();
    let zip = (b.len() == 5 && only_bytes(&compact, |c| c.is_ascii_digit()))
        || (b.len() == 10
            && b[5] == b'-'
            && only_bytes(&compact[..5], |c| c.is_ascii_digit())
            && only_bytes(&compact[6..], |c| c.is_ascii_digit()));
    if zip {
        return Ok(compact);
    }
    Err(POSTAL_SHAPE.into())
}

/// Optional Canadian postal code only (a clinic's or location's address), written
/// back as "V6B 1A1".
pub fn canadian_postal_code(s: &str) -> Result<String, String> {
    let compact = compact_postal_code(s)?;
    if compact.is_empty() {
        return Ok(compact);
    }
    canadian(&compact).ok_or_else(|| POSTAL_SHAPE.into())
}

const PROVINCES: &[&str] = &[
    "AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT",
];

/// Optional two-letter Canadian province or territory code (a clinic's or location's
/// address), upper-cased.
pub fn province_code(s: &str) -> Result<String, String> {
    let v = trim(s).to_ascii_uppercase();
    if v.is_empty() || PROVINCES.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err("use the two-letter province code, for example BC".into())
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
    fn north_american_phones_normalise_or_explain() {
        for (raw, want) in [
            ("2505550100", "250-555-0100"),
            ("(250) 555-0100", "250-555-0100"),
            ("+1 250 555 0100", "250-555-0100"),
            ("250.555.0100 x12", "250-555-0100 x12"),
            ("250-555-0100 ext. 7", "250-555-0100 x7"),
            ("", ""),
        ] {
            assert_eq!(north_american_phone(raw).as_deref(), Ok(want), "{raw}");
        }
        for raw in [
            "555-0100",
            "250-555-01000",
            "+44 20 7946 0958",
            "250-555-CALL",
            "250-555-0100 x",
        ] {
            assert!(north_american_phone(raw).is_err(), "{raw}");
        }
        // An overseas number is a valid patient phone, kept as written.
        assert_eq!(phone("+44 20 7946 0958").as_deref(), Ok("+44 20 7946 0958"));
    }

    #[test]
    fn canadian_postal_codes_and_provinces() {
        assert_eq!(canadian_postal_code("v0j2n0").as_deref(), Ok("V0J 2N0"));
        assert_eq!(canadian_postal_code(" V0J 2N0 ").as_deref(), Ok("V0J 2N0"));
        assert_eq!(canadian_postal_code("").as_deref(), Ok(""));
        assert!(canadian_postal_code("90210").is_err());
        assert!(canadian_postal_code("V0J 2NN").is_err());
        assert_eq!(province_code(" bc ").as_deref(), Ok("BC"));
        assert_eq!(province_code("").as_deref(), Ok(""));
        assert!(province_code("British Columbia").is_err());
        assert!(province_code("WA").is_err());
    }

    #[test]
    fn messages_never_repeat_the_value() {
        let errs = [
            phn("9123456789").unwrap_err(),
            date_of_birth("1977/07/31", TODAY).unwrap_err(),
            email("jane.doe@nowhere").unwrap_err(),
            phone("Jane 604").unwrap_err(),
            postal_code("ZZZ").unwrap_err(),
            north_american_phone("Jane 604").unwrap_err(),
            canadian_postal_code("ZZZ").unwrap_err(),
            province_code("ZZZ").unwrap_err(),
            name("Jane\u{7}", "the given names").unwrap_err(),
            last_visit("1977-13-01", TODAY, None).unwrap_err(),
        ];
        for e in errs {
            for secret in ["912345678", "1977", "jane", "Jane", "ZZZ"] {
                assert!(!e.contains(secret), "{e}");
            }
        }
    }
}

/// The checked parts of a patient's details, each `None` where its check failed (and the
/// caller recorded why). The API and both file formats assemble details through this one
/// place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailParts {
    pub phn: Option<Phn>,
    pub family_name: Option<String>,
    pub given_names: Option<String>,
    pub date_of_birth: Option<Date>,
    pub sex: Option<Sex>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub postal_code: Option<String>,
    pub community: Option<String>,
    /// `Some(None)`: checked, and no visit recorded.
    pub last_visit: Option<Option<Date>>,
}

impl DetailParts {
    /// The details, if every part passed its check.
    pub fn assemble(self) -> Option<PatientDetails> {
        Some(PatientDetails {
            phn: self.phn?,
            family_name: self.family_name?,
            given_names: self.given_names?,
            date_of_birth: self.date_of_birth?,
            sex: self.sex?,
            contact: Contact {
                phone: self.phone?,
                email: self.email?,
                address: Address {
                    street: self.street?,
                    city: self.city?,
                    province: self.province?,
                    postal_code: self.postal_code?,
                },
            },
            community: self.community?,
            last_visit: self.last_visit?,
        })
    }
}
