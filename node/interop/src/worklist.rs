//! A review worklist or filtered panel list as CSV, for a clinic meeting or a recall phone
//! list: one line per patient with what the review needs (contact details, status and the
//! suggested one, last visit, both sides of the MRP confirmation, contact check). UTF-8 with a
//! byte-order mark, CRLF line ends, text cells escaped like panel exports (no formula runs on
//! opening). Dates are `YYYY-MM-DD`; a confirmation's date is the day in UTC.
//!
//! Columns, in order: [`WORKLIST_COLUMNS`].

use attach_domain::{PanelEntry, PatientStatus, age_on, how_added_key, sex_key};
use time::Date;

use super::format_date;
use super::province::line;

/// The header line's columns.
pub const WORKLIST_COLUMNS: [&str; 22] = [
    "provider",
    "family_name",
    "given_names",
    "phn",
    "date_of_birth",
    "age",
    "sex",
    "phone",
    "email",
    "community",
    "status",
    "suggested_status",
    "last_visit",
    "mrp_provider_confirmed",
    "mrp_provider_how",
    "mrp_patient_confirmed",
    "mrp_patient_how",
    "contact_verified",
    "how_added",
    "added",
    "on_two_panels",
    "entry_id",
];

/// One line of the file: the entry, its open suggestion, whether it is on two panels.
#[derive(Debug, Clone, Copy)]
pub struct WorklistLine<'a> {
    pub entry: &'a PanelEntry,
    pub suggestion: Option<PatientStatus>,
    pub on_two_panels: bool,
}

/// Writes the lines; `provider_name` and `status_name` give the words people use.
pub fn write_worklist_csv(
    lines: &[WorklistLine<'_>],
    today: Date,
    provider_name: &dyn Fn(&PanelEntry) -> String,
    status_name: &dyn Fn(&PatientStatus) -> String,
) -> Vec<u8> {
    let mut out = String::with_capacity(256 + lines.len() * 220);
    out.push('\u{FEFF}');
    line(&mut out, &WORKLIST_COLUMNS);
    let day = |t: time::OffsetDateTime| format_date(t.to_offset(time::UtcOffset::UTC).date());
    for l in lines {
        let e = l.entry;
        let d = &e.details;
        let (mrp_at, mrp_how) = confirmation(e.mrp.as_ref(), day);
        let (patient_at, patient_how) = confirmation(e.review.patient_mrp.as_ref(), day);
        let cells: [String; 22] = [
            provider_name(e),
            d.family_name.clone(),
            d.given_names.clone(),
            d.phn.to_string(),
            format_date(d.date_of_birth),
            age_on(d.date_of_birth, today).to_string(),
            sex_key(d.sex).to_owned(),
            d.contact.phone.clone(),
            d.contact.email.clone(),
            d.community.clone(),
            status_name(&e.status),
            l.suggestion.map(|s| status_name(&s)).unwrap_or_default(),
            d.last_visit.map(format_date).unwrap_or_default(),
            mrp_at,
            mrp_how,
            patient_at,
            patient_how,
            e.review
                .contact_verified
                .map(|s| day(s.at))
                .unwrap_or_default(),
            how_added_key(e.how_added).to_owned(),
            day(e.added_at),
            if l.on_two_panels { "yes" } else { "no" }.to_owned(),
            e.id.to_string(),
        ];
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        line(&mut out, &cells);
    }
    out.into_bytes()
}

fn confirmation(
    c: Option<&attach_domain::MrpConfirmation>,
    day: impl Fn(time::OffsetDateTime) -> String,
) -> (String, String) {
    match c {
        None => (String::new(), String::new()),
        Some(c) => (
            day(c.at),
            c.how.map(|h| h.key().to_owned()).unwrap_or_default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attach_domain::{
        Address, ConfirmMethod, Contact, EntryId, EntryReview, HowAdded, MrpConfirmation,
        PatientDetails, Sex, UserId,
    };
    use time::macros::{date, datetime};

    fn entry() -> PanelEntry {
        PanelEntry {
            id: EntryId(uuid::Uuid::from_u128(7)),
            clinic: attach_domain::ClinicId(uuid::Uuid::from_u128(1)),
            provider: UserId(uuid::Uuid::from_u128(2)),
            details: PatientDetails {
                phn: "9123456780".parse().expect("a valid PHN"),
                family_name: "Nguyen".into(),
                given_names: "Mary Ann".into(),
                date_of_birth: date!(1985 - 07 - 31),
                sex: Sex::Female,
                contact: Contact {
                    phone: "604-555-0123".into(),
                    email: String::new(),
                    address: Address::default(),
                },
                community: "Smithers, BC".into(),
                last_visit: Some(date!(2024 - 11 - 02)),
            },
            status: PatientStatus::Active,
            added_at: datetime!(2026-01-05 23:30 -8),
            added_by: UserId(uuid::Uuid::from_u128(3)),
            how_added: HowAdded::Manual,
            mrp: Some(MrpConfirmation {
                at: datetime!(2026-02-01 10:00 UTC),
                by: UserId(uuid::Uuid::from_u128(2)),
                how: Some(ConfirmMethod::InPerson),
            }),
            review: EntryReview::default(),
            removed: None,
        }
    }

    #[test]
    fn one_line_per_patient_with_the_review_columns() {
        let e = entry();
        let mut formula = entry();
        formula.details.family_name = "=HYPERLINK(1)".into();
        let lines = [
            WorklistLine {
                entry: &e,
                suggestion: Some(PatientStatus::Inactive),
                on_two_panels: false,
            },
            WorklistLine {
                entry: &formula,
                suggestion: None,
                on_two_panels: true,
            },
        ];
        let bytes = write_worklist_csv(
            &lines,
            date!(2026 - 12 - 03),
            &|_| "Dr. Patel".into(),
            &|s| s.key(),
        );
        let text = String::from_utf8(bytes).expect("UTF-8");
        let text = text.strip_prefix('\u{FEFF}').expect("a byte-order mark");
        let rows: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(rows[0], WORKLIST_COLUMNS.join(","));
        assert_eq!(
            rows[1],
            "Dr. Patel,Nguyen,Mary Ann,9123456780,1985-07-31,41,female,604-555-0123,,\
             \"Smithers, BC\",active,inactive,2024-11-02,2026-02-01,in_person,,,,manual,\
             2026-01-06,no,00000000-0000-0000-0000-000000000007"
        );
        assert!(rows[2].contains(",'=HYPERLINK(1),"), "{}", rows[2]);
        assert!(rows[2].contains(",yes,"));
        assert_eq!(rows[3], "");
        assert_eq!(rows.len(), 4);
    }
}
