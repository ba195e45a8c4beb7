//! The clinic's details: name, facility number, address, phone, fax, opening hours and
//! locations. Every active member reads them; account managers edit them.

use std::collections::{BTreeMap, HashMap};

use crate::Query;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use time::Time;

use super::{Done, HistoryRow, Input, clinic_page, done, history_rows};
use crate::error::WebError;
use crate::frame::CsrfForm;
use crate::frame::{Frame, Layout};
use crate::{FieldErrors, Web};
use attach_app::{AppError, ChangeKind, HistoryView};
use attach_domain::{Address, Clinic, ClinicProfile, DayHours, DomainError, Location, LocationId};

const NOTICES: &[(&str, &str)] = &[
    ("profile", "The clinic details were saved."),
    ("location", "The location was saved."),
];

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// One weekday's opening hours as shown (and typed) in the form.
#[derive(Debug, Clone)]
pub struct HoursRow {
    pub day: u8,
    pub label: &'static str,
    pub opens: String,
    pub closes: String,
    pub error: String,
}

/// One location: its facts and its edit form.
#[derive(Debug, Clone)]
pub struct LocationBlock {
    /// The location id, empty for the "add a location" form.
    pub id: String,
    pub name: String,
    pub address: String,
    pub phone: String,
    pub retired: bool,
    pub fields: Vec<Input>,
    /// The form was sent with problems: open it.
    pub open: bool,
}

/// A form as typed: field name → value.
type Typed = HashMap<String, String>;

fn typed_of(pairs: Vec<(String, String)>) -> Typed {
    pairs.into_iter().collect()
}

fn value<'a>(typed: &'a Typed, key: &str) -> &'a str {
    typed.get(key).map_or("", String::as_str)
}

fn address_line(a: &Address) -> String {
    [
        a.street.as_str(),
        a.city.as_str(),
        a.province.as_str(),
        a.postal_code.as_str(),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(", ")
}

fn hhmm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// "08:30" (or "08:30:00", as some browsers send a time field).
fn parse_hhmm(s: &str) -> Option<Time> {
    let mut parts = s.trim().split(':');
    let h: u8 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.parse().ok()?;
    Time::from_hms(h, m, 0).ok()
}

fn profile_typed(p: &ClinicProfile) -> Typed {
    let mut t = Typed::new();
    for (k, v) in [
        ("name", &p.name),
        ("facility_number", &p.facility_number),
        ("address.street", &p.address.street),
        ("address.city", &p.address.city),
        ("address.province", &p.address.province),
        ("address.postal_code", &p.address.postal_code),
        ("phone", &p.phone),
        ("fax", &p.fax),
    ] {
        t.insert(k.to_owned(), v.clone());
    }
    for (day, h) in &p.hours {
        t.insert(format!("hours.{day}.opens"), hhmm(h.opens));
        t.insert(format!("hours.{day}.closes"), hhmm(h.closes));
    }
    t
}

fn location_typed(l: &Location) -> Typed {
    let mut t = Typed::new();
    for (k, v) in [
        ("name", &l.name),
        ("address.street", &l.address.street),
        ("address.city", &l.address.city),
        ("address.province", &l.address.province),
        ("address.postal_code", &l.address.postal_code),
        ("phone", &l.phone),
    ] {
        t.insert(k.to_owned(), v.clone());
    }
    if l.retired {
        t.insert("retired".to_owned(), "yes".to_owned());
    }
    t
}

fn address_inputs(prefix: &str, typed: &Typed, errors: &FieldErrors) -> Vec<Input> {
    vec![
        Input::new(
            prefix,
            "address.street",
            "Street",
            value(typed, "address.street"),
        )
        .errors(errors),
        Input::new(prefix, "address.city", "City", value(typed, "address.city")).errors(errors),
        Input::new(
            prefix,
            "address.province",
            "Province",
            value(typed, "address.province"),
        )
        .hint("Two letters, e.g. BC")
        .errors(errors),
        Input::new(
            prefix,
            "address.postal_code",
            "Postal code",
            value(typed, "address.postal_code"),
        )
        .hint("e.g. V0J 2N0")
        .errors(errors),
    ]
}

fn profile_inputs(typed: &Typed, errors: &FieldErrors) -> Vec<Input> {
    let mut out = vec![
        Input::new("profile-", "name", "Clinic name", value(typed, "name"))
            .required()
            .errors(errors),
        Input::new(
            "profile-",
            "facility_number",
            "Facility number",
            value(typed, "facility_number"),
        )
        .required()
        .hint("As issued by the health authority: 1 to 12 letters and digits.")
        .errors(errors),
    ];
    out.extend(address_inputs("profile-", typed, errors));
    out.push(
        Input::new("profile-", "phone", "Phone", value(typed, "phone"))
            .kind("tel")
            .hint("e.g. 250-555-0100")
            .errors(errors),
    );
    out.push(
        Input::new("profile-", "fax", "Fax", value(typed, "fax"))
            .kind("tel")
            .hint("e.g. 250-555-0101")
            .errors(errors),
    );
    out
}

fn location_inputs(prefix: &str, typed: &Typed, errors: &FieldErrors) -> Vec<Input> {
    let mut out = vec![
        Input::new(prefix, "name", "Location name", value(typed, "name"))
            .required()
            .errors(errors),
    ];
    out.extend(address_inputs(prefix, typed, errors));
    out.push(
        Input::new(prefix, "phone", "Phone", value(typed, "phone"))
            .kind("tel")
            .hint("e.g. 250-555-0100")
            .errors(errors),
    );
    out
}

fn hours_rows(typed: &Typed, errors: &FieldErrors) -> Vec<HoursRow> {
    (1u8..=7)
        .zip(WEEKDAYS)
        .map(|(day, label)| HoursRow {
            day,
            label,
            opens: value(typed, &format!("hours.{day}.opens")).to_owned(),
            closes: value(typed, &format!("hours.{day}.closes")).to_owned(),
            error: errors.get(&format!("hours.{day}")).to_owned(),
        })
        .collect()
}

/// The profile a form describes, and the problems only the form can see (times that are
/// not times, a day with one time of two).
fn profile_of(typed: &Typed) -> (ClinicProfile, FieldErrors) {
    let mut errors = FieldErrors::default();
    let mut hours = BTreeMap::new();
    for day in 1u8..=7 {
        let opens = value(typed, &format!("hours.{day}.opens")).trim();
        let closes = value(typed, &format!("hours.{day}.closes")).trim();
        let field = format!("hours.{day}");
        match (opens.is_empty(), closes.is_empty()) {
            (true, true) => {}
            (false, false) => match (parse_hhmm(opens), parse_hhmm(closes)) {
                (Some(opens), Some(closes)) => {
                    hours.insert(day, DayHours { opens, closes });
                }
                _ => errors.add(&field, "write times as HH:MM, e.g. 08:30"),
            },
            _ => errors.add(&field, "give both times, or neither for a closed day"),
        }
    }
    let profile = ClinicProfile {
        name: value(typed, "name").to_owned(),
        facility_number: value(typed, "facility_number").to_owned(),
        address: address_of(typed),
        phone: value(typed, "phone").to_owned(),
        fax: value(typed, "fax").to_owned(),
        hours,
    };
    (profile, errors)
}

fn address_of(typed: &Typed) -> Address {
    Address {
        street: value(typed, "address.street").to_owned(),
        city: value(typed, "address.city").to_owned(),
        province: value(typed, "address.province").to_owned(),
        postal_code: value(typed, "address.postal_code").to_owned(),
    }
}

#[derive(Template)]
#[template(path = "registry/clinic.html")]
struct ClinicPage {
    layout: Layout,
    base: String,
    manager: bool,
    name: String,
    facility_number: String,
    address: String,
    phone: String,
    fax: String,
    profile_fields: Vec<Input>,
    hours: Vec<HoursRow>,
    errors: FieldErrors,
    locations: Vec<LocationBlock>,
    new_location: LocationBlock,
    history: Vec<HistoryRow>,
}

/// What the form the page is drawn after was about, with what was typed and the problems.
enum Retry {
    None,
    Profile(Typed, FieldErrors),
    /// A location form: the location's id (`None` for a new one).
    Location(Option<LocationId>, Typed, FieldErrors),
}

impl ClinicPage {
    fn new(frame: Frame, clinic: &Clinic, history: Vec<HistoryView>, retry: Retry) -> Self {
        let p = &clinic.profile;
        let (profile_typed, errors) = match &retry {
            Retry::Profile(typed, errors) => (typed.clone(), errors.clone()),
            _ => (profile_typed(p), FieldErrors::default()),
        };
        let block = |id: Option<LocationId>, l: Option<&Location>| {
            let prefix = match id {
                Some(id) => format!("loc-{id}-"),
                None => "loc-new-".to_owned(),
            };
            let (typed, errors, open) = match &retry {
                Retry::Location(which, typed, errors) if *which == id => {
                    (typed.clone(), errors.clone(), true)
                }
                _ => (
                    l.map(location_typed).unwrap_or_default(),
                    FieldErrors::default(),
                    false,
                ),
            };
            LocationBlock {
                id: id.map(|i| i.to_string()).unwrap_or_default(),
                name: l.map(|l| l.name.clone()).unwrap_or_default(),
                address: l.map(|l| address_line(&l.address)).unwrap_or_default(),
                phone: l.map(|l| l.phone.clone()).unwrap_or_default(),
                retired: typed.contains_key("retired"),
                fields: location_inputs(&prefix, &typed, &errors),
                open,
            }
        };
        let names: HashMap<String, String> = clinic
            .locations
            .values()
            .map(|l| (l.id.to_string(), l.name.clone()))
            .collect();
        let history = history
            .into_iter()
            // The changes this page is about: the clinic's details and locations.
            .filter(|h| {
                matches!(
                    h.change,
                    ChangeKind::CreateClinic
                        | ChangeKind::UpdateClinicProfile
                        | ChangeKind::SaveLocation(_)
                )
            })
            .collect();
        Self {
            base: frame.base(),
            manager: frame.layout.is_manager(),
            name: p.name.clone(),
            facility_number: p.facility_number.clone(),
            address: address_line(&p.address),
            phone: p.phone.clone(),
            fax: p.fax.clone(),
            profile_fields: profile_inputs(&profile_typed, &errors),
            hours: hours_rows(&profile_typed, &errors),
            errors,
            locations: clinic
                .locations
                .values()
                .map(|l| block(Some(l.id), Some(l)))
                .collect(),
            new_location: block(None, None),
            history: history_rows(history, &names),
            layout: frame.layout.with_section("clinic"),
        }
    }
}

async fn retry(web: &Web, frame: Frame, retry: Retry) -> Result<Response, WebError> {
    clinic_page(web, frame, StatusCode::UNPROCESSABLE_ENTITY, |f, c, h| {
        ClinicPage::new(f, c, h, retry)
    })
    .await
}

/// `/c/{clinic}/clinic`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let mut frame = frame;
    frame.layout = frame.layout.with_notice(q.notice(NOTICES));
    clinic_page(&web, frame, StatusCode::OK, |f, c, h| {
        ClinicPage::new(f, c, h, Retry::None)
    })
    .await
}

/// `POST /c/{clinic}/clinic`: save the profile and opening hours.
pub async fn save_profile(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let typed = typed_of(form);
    let (profile, mut errors) = profile_of(&typed);
    if !errors.is_empty() {
        // Show every problem at once: the rules' too, not only the form's.
        if let Err(DomainError::Validation(problems)) = profile.validated() {
            for p in problems {
                errors.add(&p.field, &p.message);
            }
        }
        return retry(&web, frame, Retry::Profile(typed, errors)).await;
    }
    let (who, clinic) = (frame.who.user, frame.clinic);
    match web
        .app
        .run(move |app| app.update_profile(who, clinic, profile))
        .await
    {
        Ok(_) => Ok(done(&frame, "clinic", "profile")),
        Err(AppError::Invalid { problems, .. }) => {
            let errors = FieldErrors::from_problems(&problems);
            retry(&web, frame, Retry::Profile(typed, errors)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /c/{clinic}/clinic/locations`: add a location (no `location` field) or change one.
pub async fn save_location(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let typed = typed_of(form);
    let id = match value(&typed, "location") {
        "" => None,
        raw => Some(
            raw.parse::<LocationId>()
                .map_err(|_| WebError::BadRequest("not a location of this clinic".to_owned()))?,
        ),
    };
    let location = Location {
        id: id.unwrap_or_default(),
        name: value(&typed, "name").to_owned(),
        address: address_of(&typed),
        phone: value(&typed, "phone").to_owned(),
        retired: typed.contains_key("retired"),
    };
    let (who, clinic) = (frame.who.user, frame.clinic);
    let result = web
        .app
        .run(move |app| {
            // Changing a location: it must be one of this clinic's.
            if let Some(id) = id
                && !app.clinic(who, clinic)?.locations.contains_key(&id)
            {
                return Err(AppError::not_found("location"));
            }
            app.save_location(who, clinic, location)
        })
        .await;
    match result {
        Ok(_) => Ok(done(&frame, "clinic", "location")),
        Err(AppError::Invalid { problems, .. }) => {
            let errors = FieldErrors::from_problems(&problems);
            retry(&web, frame, Retry::Location(id, typed, errors)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_need_both_times_in_hh_mm() {
        let typed: Typed = [
            ("hours.1.opens", "08:30"),
            ("hours.1.closes", "17:00:00"),
            ("hours.2.opens", "9"),
            ("hours.2.closes", "17:00"),
            ("hours.3.opens", "09:00"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (profile, errors) = profile_of(&typed);
        assert_eq!(profile.hours.len(), 1);
        assert_eq!(hhmm(profile.hours[&1].closes), "17:00");
        assert!(errors.has("hours.2") && errors.has("hours.3"));
        assert!(!errors.has("hours.4"), "an empty day is closed");
    }
}
