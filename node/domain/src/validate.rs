//! Checking and normalising what people type: clinic profiles, locations, panel
//! preferences and patient details. Every check reports all problems at once.

use time::Date;

use super::error::{DomainError, Problems};
use super::fields;
use super::types::{Address, ClinicProfile, Location, PanelPreferences, PatientDetails};

/// A clinic's or location's address: a Canadian postal code and province code.
fn check_address(p: &mut Problems, prefix: &str, a: &Address) -> Address {
    let postal_code = fields::canadian_postal_code(&a.postal_code).unwrap_or_else(|m| {
        p.add(format!("{prefix}postal_code"), m);
        a.postal_code.clone()
    });
    let province = fields::province_code(&a.province).unwrap_or_else(|m| {
        p.add(format!("{prefix}province"), m);
        a.province.clone()
    });
    Address {
        street: fields::trim(&a.street).to_owned(),
        city: fields::trim(&a.city).to_owned(),
        province,
        postal_code,
    }
}

/// A clinic's or location's phone or fax number, written "250-555-0100".
fn check_phone(p: &mut Problems, field: &str, raw: &str) -> String {
    fields::north_american_phone(raw).unwrap_or_else(|m| {
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

/// At most this many languages per provider; each at most this many characters.
pub const MAX_LANGUAGES: usize = 20;
pub const MAX_LANGUAGE_CHARS: usize = 40;

/// Languages as typed in one box: separated by `;` or `,`, spaces tidied.
pub fn split_languages(raw: &str) -> std::collections::BTreeSet<String> {
    raw.split([';', ','])
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// A BC MSP practitioner number as stored: five letters or digits, upper case.
pub fn practitioner_number(raw: &str) -> Result<Option<String>, &'static str> {
    let n: String = raw.trim().to_ascii_uppercase();
    if n.is_empty() {
        return Ok(None);
    }
    if n.len() == 5 && n.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(Some(n))
    } else {
        Err("an MSP practitioner number is 5 letters or digits, e.g. 12345 or A1234")
    }
}

impl PanelPreferences {
    pub fn validated(self) -> Result<Self, DomainError> {
        let mut p = Problems::default();
        let practitioner_number =
            match practitioner_number(self.practitioner_number.as_deref().unwrap_or("")) {
                Ok(n) => n,
                Err(message) => {
                    p.add("practitioner_number", message);
                    None
                }
            };
        let mut languages = std::collections::BTreeSet::new();
        let mut folded = std::collections::BTreeSet::new();
        for raw in &self.languages {
            let l = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            if l.is_empty() {
                continue;
            }
            if l.chars().count() > MAX_LANGUAGE_CHARS {
                p.add(
                    "languages",
                    format!("{l:?} is longer than {MAX_LANGUAGE_CHARS} characters; write one language at a time"),
                );
            } else if !l
                .chars()
                .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '(' | ')'))
            {
                p.add(
                    "languages",
                    format!("{l:?} is not a language name (letters, spaces and hyphens; separate languages with ;)"),
                );
            } else if folded.insert(super::matching::fold_name(&l)) {
                languages.insert(l);
            }
        }
        if languages.len() > MAX_LANGUAGES {
            p.add("languages", format!("at most {MAX_LANGUAGES} languages"));
        }
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
        p.finish(Self {
            languages,
            practitioner_number,
            ..self
        })
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

/// The value, or `None` with the message recorded against `field`.
fn take<T>(p: &mut Problems, field: &str, r: Result<T, String>) -> Option<T> {
    r.map_err(|m| p.add(field, m)).ok()
}

impl PatientInput {
    /// Checks every field against `today` and returns the details, or all problems.
    /// The rules and messages are those of [`fields`], the same a CSV or FHIR import
    /// applies; a North American phone number is then written "250-555-0100".
    pub fn validate(&self, today: Date) -> Result<PatientDetails, DomainError> {
        let mut p = Problems::default();
        let phn = take(&mut p, "phn", fields::phn(&self.phn));
        let family_name = take(
            &mut p,
            "family_name",
            fields::name(&self.family_name, "the family name"),
        );
        let given_names = take(
            &mut p,
            "given_names",
            fields::name(&self.given_names, "the given names"),
        );
        let date_of_birth = take(
            &mut p,
            "date_of_birth",
            fields::date_of_birth(&self.date_of_birth, today),
        );
        let sex = take(&mut p, "sex", fields::sex_code(&self.sex));
        let phone = take(&mut p, "phone", fields::phone(&self.phone))
            .map(|v| fields::north_american_phone(&v).unwrap_or(v));
        let email = take(&mut p, "email", fields::email(&self.email));
        let street = take(&mut p, "street", fields::text(&self.street, "the street"));
        let city = take(&mut p, "city", fields::text(&self.city, "the city"));
        let province = take(
            &mut p,
            "province",
            fields::text(&self.province, "the province"),
        );
        let postal_code = take(
            &mut p,
            "postal_code",
            fields::postal_code(&self.postal_code),
        );
        let community = take(
            &mut p,
            "community",
            fields::text(&self.community, "the community"),
        );
        let last_visit = take(
            &mut p,
            "last_visit",
            fields::last_visit(&self.last_visit, today, date_of_birth),
        );
        // Every `None` above recorded its problem, so `None` here means `p` lists them.
        let details = || {
            fields::DetailParts {
                phn,
                family_name,
                given_names,
                date_of_birth,
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
            .assemble()
        };
        match details() {
            Some(d) if p.0.is_empty() => Ok(d),
            _ => Err(DomainError::Validation(p.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, time};

    use super::*;
    use crate::types::{DayHours, Sex};

    fn fields(e: DomainError) -> Vec<String> {
        match e {
            DomainError::Validation(v) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("not a validation error: {other:?}"),
        }
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
            ..PanelPreferences::default()
        };
        assert!(ok.clone().validated().is_ok());
        let bad = PanelPreferences {
            accepting_new_patients: true,
            monthly_capacity: 0,
            desired_panel_size: 0,
            max_open_requests: 5_000,
            ..PanelPreferences::default()
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

    #[test]
    fn practitioner_numbers_are_five_letters_or_digits() {
        assert_eq!(practitioner_number(" a1b2c "), Ok(Some("A1B2C".to_owned())));
        assert_eq!(practitioner_number("12345"), Ok(Some("12345".to_owned())));
        assert_eq!(practitioner_number("  "), Ok(None));
        for bad in ["1234", "123456", "12 45", "1234é", "12-45"] {
            assert!(practitioner_number(bad).is_err(), "{bad}");
        }
        let p = PanelPreferences {
            practitioner_number: Some("1234".into()),
            ..PanelPreferences::default()
        };
        assert_eq!(fields(p.validated().unwrap_err()), ["practitioner_number"]);
    }

    #[test]
    fn languages_are_tidied_deduplicated_and_checked() {
        assert_eq!(
            split_languages(" Punjabi ;french,  ,Cantonese  (Yue)"),
            ["Cantonese (Yue)", "Punjabi", "french"]
                .map(String::from)
                .into()
        );
        let p = PanelPreferences {
            languages: ["French", "french", "  Punjabi  "].map(String::from).into(),
            ..PanelPreferences::default()
        };
        let v = p.validated().expect("valid");
        assert_eq!(v.languages.len(), 2, "{:?}", v.languages);
        assert!(v.languages.contains("Punjabi"));
        let bad = PanelPreferences {
            languages: ["French 2"].map(String::from).into(),
            ..PanelPreferences::default()
        };
        assert_eq!(fields(bad.validated().unwrap_err()), ["languages"]);
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
        // More than 130 years back is a typing mistake in the year.
        i.date_of_birth = "1895-12-31".into();
        assert_eq!(fields(i.validate(today).unwrap_err()), ["date_of_birth"]);
        i.date_of_birth = "2026-02-30".into();
        assert!(
            i.validate(today)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        i.date_of_birth = "2026-11-23".into();
        assert_eq!(
            fields(i.validate(today).unwrap_err()),
            ["last_visit"],
            "a visit before birth is a typing mistake"
        );
        i.last_visit = "2026-11-23".into();
        assert!(i.validate(today).is_ok(), "born today is fine");
    }
}
