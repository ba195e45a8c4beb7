//! Checking and normalising what people type: clinic profiles, locations, panel
//! preferences and patient details. Every check reports all problems at once.

use time::{Date, Month};

use super::error::{DomainError, Problems};
use super::phn::Phn;
use super::types::{
    Address, ClinicProfile, Contact, Location, PanelPreferences, PatientDetails, Sex,
};

/// North American phone number, normalised to "250-555-0100" (an extension is kept as
/// " x123"). Empty stays empty.
pub fn normalise_phone(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(String::new());
    }
    let (number, extension) = match raw.to_ascii_lowercase().split_once(['x', '#']) {
        Some((n, e)) => (n.to_owned(), Some(e.trim().to_owned())),
        None => (raw.to_owned(), None),
    };
    let mut digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let others = number
        .chars()
        .any(|c| !(c.is_ascii_digit() || " ()-.+".contains(c)));
    if digits.len() == 11 && digits.starts_with('1') {
        digits.remove(0);
    }
    if others || digits.len() != 10 {
        return Err("use a 10-digit phone number, e.g. 250-555-0100".to_owned());
    }
    let mut out = format!("{}-{}-{}", &digits[..3], &digits[3..6], &digits[6..]);
    if let Some(ext) = extension {
        if ext.is_empty() || !ext.chars().all(|c| c.is_ascii_digit()) {
            return Err("an extension is digits after 'x', e.g. 250-555-0100 x12".to_owned());
        }
        out.push_str(" x");
        out.push_str(&ext);
    }
    Ok(out)
}

/// Canadian postal code, normalised to "V0J 2N0". Empty stays empty.
pub fn normalise_postal_code(raw: &str) -> Result<String, String> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if compact.is_empty() {
        return Ok(compact);
    }
    let b = compact.as_bytes();
    let shape = b.len() == 6
        && b[0].is_ascii_alphabetic()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_alphabetic()
        && b[3].is_ascii_digit()
        && b[4].is_ascii_alphabetic()
        && b[5].is_ascii_digit();
    if !shape {
        return Err("use a Canadian postal code like V0J 2N0".to_owned());
    }
    Ok(format!("{} {}", &compact[..3], &compact[3..]))
}

fn check_address(p: &mut Problems, prefix: &str, a: &Address) -> Address {
    let postal_code = match normalise_postal_code(&a.postal_code) {
        Ok(v) => v,
        Err(m) => {
            p.add(format!("{prefix}postal_code"), m);
            a.postal_code.clone()
        }
    };
    let province = a.province.trim().to_uppercase();
    const PROVINCES: &[&str] = &[
        "AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT",
    ];
    if !province.is_empty() && !PROVINCES.contains(&province.as_str()) {
        p.add(
            format!("{prefix}province"),
            "use the two-letter province code, e.g. BC",
        );
    }
    Address {
        street: a.street.trim().to_owned(),
        city: a.city.trim().to_owned(),
        province,
        postal_code,
    }
}

fn check_phone(p: &mut Problems, field: &str, raw: &str) -> String {
    normalise_phone(raw).unwrap_or_else(|m| {
        p.add(field, m);
        raw.to_owned()
    })
}

impl ClinicProfile {
    /// The profile with phone numbers and postal code normalised, or every problem.
    /// Facility numbers are 1–12 letters and digits (as issued by the health authority).
    pub fn validated(self) -> Result<Self, DomainError> {
        let mut p = Problems::default();
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            p.add("name", "the clinic needs a name");
        } else if name.chars().count() > 200 {
            p.add("name", "at most 200 characters");
        }
        let facility_number = self.facility_number.trim().to_uppercase();
        if facility_number.is_empty()
            || facility_number.len() > 12
            || !facility_number.chars().all(|c| c.is_ascii_alphanumeric())
        {
            p.add(
                "facility_number",
                "use the facility number issued by the health authority: 1 to 12 letters and digits",
            );
        }
        let address = check_address(&mut p, "address.", &self.address);
        let phone = check_phone(&mut p, "phone", &self.phone);
        let fax = check_phone(&mut p, "fax", &self.fax);
        for (day, hours) in &self.hours {
            if !(1..=7).contains(day) {
                p.add(
                    format!("hours.{day}"),
                    "weekday must be 1 (Monday) to 7 (Sunday)",
                );
            } else if hours.opens >= hours.closes {
                p.add(
                    format!("hours.{day}"),
                    "the clinic must open before it closes",
                );
            }
        }
        p.finish(Self {
            name,
            facility_number,
            address,
            phone,
            fax,
            hours: self.hours,
        })
    }
}

impl Location {
    pub fn validated(self) -> Result<Self, DomainError> {
        let mut p = Problems::default();
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            p.add("name", "a location needs a name");
        }
        let address = check_address(&mut p, "address.", &self.address);
        let phone = check_phone(&mut p, "phone", &self.phone);
        p.finish(Self {
            name,
            address,
            phone,
            ..self
        })
    }
}

/// Upper bounds on panel preferences; beyond them a number is a typing mistake.
pub const MAX_MONTHLY_CAPACITY: u32 = 500;
pub const MAX_DESIRED_PANEL_SIZE: u32 = 5_000;
pub const MAX_OPEN_REQUESTS: u32 = 1_000;

impl PanelPreferences {
    pub fn validated(self) -> Result<Self, DomainError> {
        let mut p = Problems::default();
        if self.monthly_capacity > MAX_MONTHLY_CAPACITY {
            p.add(
                "monthly_capacity",
                format!("at most {MAX_MONTHLY_CAPACITY} new patients a month"),
            );
        }
        if !(1..=MAX_DESIRED_PANEL_SIZE).contains(&self.desired_panel_size) {
            p.add(
                "desired_panel_size",
                format!("between 1 and {MAX_DESIRED_PANEL_SIZE} patients"),
            );
        }
        if self.max_open_requests > MAX_OPEN_REQUESTS {
            p.add(
                "max_open_requests",
                format!("at most {MAX_OPEN_REQUESTS} open requests"),
            );
        }
        if self.accepting_new_patients && self.monthly_capacity == 0 {
            p.add(
                "monthly_capacity",
                "a provider accepting new patients needs a monthly capacity above 0",
            );
        }
        p.finish(self)
    }
}

/// Patient details as typed: every field a string, checked by [`PatientInput::validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientInput {
    pub phn: String,
    pub family_name: String,
    pub given_names: String,
    /// YYYY-MM-DD
    pub date_of_birth: String,
    /// female, male, x, unknown (or F, M, X, U)
    pub sex: String,
    pub phone: String,
    pub email: String,
    pub street: String,
    pub city: String,
    pub province: String,
    pub postal_code: String,
    pub community: String,
    /// YYYY-MM-DD or empty
    pub last_visit: String,
}

/// "YYYY-MM-DD".
pub fn parse_date(raw: &str) -> Result<Date, String> {
    let bad = || format!("{raw:?} is not a date; use YYYY-MM-DD, e.g. 1984-03-21");
    let mut parts = raw.trim().splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let y: i32 = y.parse().map_err(|_| bad())?;
    let m: u8 = m.parse().map_err(|_| bad())?;
    let d: u8 = d.parse().map_err(|_| bad())?;
    let month = Month::try_from(m).map_err(|_| bad())?;
    Date::from_calendar_date(y, month, d)
        .map_err(|_| format!("{raw:?} is not a day of the calendar"))
}

pub fn parse_sex(raw: &str) -> Result<Sex, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "female" | "f" => Ok(Sex::Female),
        "male" | "m" => Ok(Sex::Male),
        "x" | "intersex" | "other" => Ok(Sex::X),
        "unknown" | "u" => Ok(Sex::Unknown),
        _ => Err("use female, male, x or unknown".to_owned()),
    }
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

impl PatientInput {
    /// Checks every field against `today` and returns the details, or all problems.
    pub fn validate(&self, today: Date) -> Result<PatientDetails, DomainError> {
        let mut p = Problems::default();
        let phn = match Phn::parse(&self.phn) {
            Ok(phn) => Some(phn),
            Err(e) => {
                p.add("phn", e.to_string());
                None
            }
        };
        let family_name = self.family_name.trim().to_owned();
        if family_name.is_empty() {
            p.add("family_name", "the family name is required");
        }
        let given_names = self.given_names.trim().to_owned();
        if given_names.is_empty() {
            p.add("given_names", "at least one given name is required");
        }
        for (field, value) in [("family_name", &family_name), ("given_names", &given_names)] {
            if value.chars().count() > 100 {
                p.add(field, "at most 100 characters");
            }
        }
        let earliest = Date::from_calendar_date(1900, Month::January, 1).unwrap_or(Date::MIN);
        let date_of_birth = match parse_date(&self.date_of_birth) {
            Ok(d) if d > today => {
                p.add("date_of_birth", "the date of birth is in the future");
                None
            }
            Ok(d) if d < earliest => {
                p.add("date_of_birth", "the date of birth is before 1900");
                None
            }
            Ok(d) => Some(d),
            Err(m) => {
                p.add("date_of_birth", m);
                None
            }
        };
        let sex = match parse_sex(&self.sex) {
            Ok(s) => Some(s),
            Err(m) => {
                p.add("sex", m);
                None
            }
        };
        let phone = check_phone(&mut p, "phone", &self.phone);
        let email = self.email.trim().to_owned();
        if !email.is_empty() && !valid_email(&email) {
            p.add("email", "this does not look like an email address");
        }
        let address = check_address(
            &mut p,
            "",
            &Address {
                street: self.street.clone(),
                city: self.city.clone(),
                province: self.province.clone(),
                postal_code: self.postal_code.clone(),
            },
        );
        let last_visit = match self.last_visit.trim() {
            "" => None,
            raw => match parse_date(raw) {
                Ok(d) if d > today => {
                    p.add("last_visit", "the last visit is in the future");
                    None
                }
                Ok(d) => Some(d),
                Err(m) => {
                    p.add("last_visit", m);
                    None
                }
            },
        };
        match (phn, date_of_birth, sex) {
            (Some(phn), Some(date_of_birth), Some(sex)) if p.0.is_empty() => Ok(PatientDetails {
                phn,
                family_name,
                given_names,
                date_of_birth,
                sex,
                contact: Contact {
                    phone,
                    email,
                    address,
                },
                community: self.community.trim().to_owned(),
                last_visit,
            }),
            _ => Err(DomainError::Validation(p.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, time};

    use super::*;
    use crate::domain::types::DayHours;

    fn fields(e: DomainError) -> Vec<String> {
        match e {
            DomainError::Validation(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn phones_normalise_or_explain() {
        for (raw, want) in [
            ("2505550100", "250-555-0100"),
            ("(250) 555-0100", "250-555-0100"),
            ("+1 250 555 0100", "250-555-0100"),
            ("250.555.0100 x12", "250-555-0100 x12"),
            ("", ""),
        ] {
            assert_eq!(normalise_phone(raw).as_deref(), Ok(want), "{raw}");
        }
        for raw in [
            "555-0100",
            "250-555-01000",
            "250-555-CALL",
            "250-555-0100 x",
        ] {
            assert!(normalise_phone(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn postal_codes_normalise_or_explain() {
        assert_eq!(normalise_postal_code("v0j2n0").as_deref(), Ok("V0J 2N0"));
        assert_eq!(normalise_postal_code(" V0J 2N0 ").as_deref(), Ok("V0J 2N0"));
        assert!(normalise_postal_code("90210").is_err());
        assert!(normalise_postal_code("V0J 2NN").is_err());
    }

    fn profile() -> ClinicProfile {
        ClinicProfile {
            name: " Bulkley Valley Family Practice ".into(),
            facility_number: "v0j2n0".into(),
            address: Address {
                street: "3950 Alfred Ave".into(),
                city: "Smithers".into(),
                province: "bc".into(),
                postal_code: "v0j2n0".into(),
            },
            phone: "2508470100".into(),
            fax: "250 847 0101".into(),
            hours: [(
                1,
                DayHours {
                    opens: time!(8:30),
                    closes: time!(17:00),
                },
            )]
            .into(),
        }
    }

    #[test]
    fn clinic_profile_normalises() {
        let p = profile().validated().expect("valid");
        assert_eq!(p.name, "Bulkley Valley Family Practice");
        assert_eq!(p.facility_number, "V0J2N0");
        assert_eq!(p.address.province, "BC");
        assert_eq!(p.address.postal_code, "V0J 2N0");
        assert_eq!(p.phone, "250-847-0100");
        assert_eq!(p.fax, "250-847-0101");
    }

    #[test]
    fn clinic_profile_lists_every_problem() {
        let mut p = profile();
        p.name = " ".into();
        p.facility_number = "no spaces allowed".into();
        p.phone = "12".into();
        p.address.postal_code = "12345".into();
        p.hours.insert(
            2,
            DayHours {
                opens: time!(17:00),
                closes: time!(8:00),
            },
        );
        p.hours.insert(
            9,
            DayHours {
                opens: time!(8:00),
                closes: time!(9:00),
            },
        );
        let got = fields(p.validated().unwrap_err());
        assert_eq!(
            got,
            [
                "name",
                "facility_number",
                "address.postal_code",
                "phone",
                "hours.2",
                "hours.9"
            ]
        );
    }

    #[test]
    fn preferences_bounds() {
        let ok = PanelPreferences {
            accepting_new_patients: true,
            monthly_capacity: 10,
            desired_panel_size: 1_200,
            max_open_requests: 5,
        };
        assert!(ok.validated().is_ok());
        let bad = PanelPreferences {
            accepting_new_patients: true,
            monthly_capacity: 0,
            desired_panel_size: 0,
            max_open_requests: 5_000,
        };
        assert_eq!(
            fields(bad.validated().unwrap_err()),
            [
                "desired_panel_size",
                "max_open_requests",
                "monthly_capacity"
            ]
        );
        let too_many = PanelPreferences {
            monthly_capacity: 501,
            ..ok
        };
        assert_eq!(
            fields(too_many.validated().unwrap_err()),
            ["monthly_capacity"]
        );
    }

    fn input() -> PatientInput {
        PatientInput {
            phn: "9123456780".into(),
            family_name: "Tremblay".into(),
            given_names: "Marie Claire".into(),
            date_of_birth: "1984-03-21".into(),
            sex: "F".into(),
            phone: "250 555 0199".into(),
            email: "marie@example.org".into(),
            street: "12 Main St".into(),
            city: "Smithers".into(),
            province: "BC".into(),
            postal_code: "V0J 2N0".into(),
            community: "Smithers".into(),
            last_visit: "2026-10-01".into(),
        }
    }

    #[test]
    fn patient_input_validates_and_normalises() {
        let d = input().validate(date!(2026 - 11 - 23)).expect("valid");
        assert_eq!(d.sex, Sex::Female);
        assert_eq!(d.contact.phone, "250-555-0199");
        assert_eq!(d.date_of_birth, date!(1984 - 03 - 21));
        assert_eq!(d.last_visit, Some(date!(2026 - 10 - 01)));
    }

    #[test]
    fn patient_input_reports_all_problems_with_field_names() {
        let mut i = input();
        i.phn = "9123456789".into();
        i.family_name = "".into();
        i.date_of_birth = "21/03/1984".into();
        i.sex = "woman".into();
        i.email = "not-an-email".into();
        i.last_visit = "2030-01-01".into();
        let err = i.validate(date!(2026 - 11 - 23)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("check digit"), "{text}");
        assert_eq!(
            fields(err),
            [
                "phn",
                "family_name",
                "date_of_birth",
                "sex",
                "email",
                "last_visit"
            ]
        );
    }

    #[test]
    fn dates_out_of_range() {
        let today = date!(2026 - 11 - 23);
        let mut i = input();
        i.date_of_birth = "2026-11-24".into();
        assert_eq!(fields(i.validate(today).unwrap_err()), ["date_of_birth"]);
        i.date_of_birth = "1899-12-31".into();
        assert_eq!(fields(i.validate(today).unwrap_err()), ["date_of_birth"]);
        i.date_of_birth = "2026-02-30".into();
        assert!(
            i.validate(today)
                .unwrap_err()
                .to_string()
                .contains("not a day")
        );
        i.date_of_birth = "2026-11-23".into();
        assert!(i.validate(today).is_ok(), "born today is fine");
    }
}
