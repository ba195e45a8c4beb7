//! Adding a patient, and one patient entry: details, status, most-responsible-provider
//! confirmation, removal, and the entry's history.

use crate::Query;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{
    Context, DoneParam, PanelAt, PanelLinks, StatusOption, assignable_statuses, when, with_status,
};
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::{FieldErrors, Frame, Layout, Web};
use attach_app::{AppError, BulkAction, EntryUpdate, MrpSide, PanelAccess, PanelRow, status_label};
use attach_domain::{ConfirmMethod, PatientDetails, PatientInput, PatientStatus, Sex};

/// A patient's details as a form sends them (every field text, checked by the app's
/// `PatientInput`), plus the status when adding.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PatientForm {
    pub(crate) phn: String,
    pub(crate) family_name: String,
    pub(crate) given_names: String,
    pub(crate) date_of_birth: String,
    pub(crate) sex: String,
    pub(crate) phone: String,
    pub(crate) email: String,
    pub(crate) street: String,
    pub(crate) city: String,
    pub(crate) province: String,
    pub(crate) postal_code: String,
    pub(crate) community: String,
    pub(crate) last_visit: String,
    pub(crate) status: String,
}

impl PatientForm {
    pub(crate) fn input(&self) -> PatientInput {
        PatientInput {
            phn: self.phn.clone(),
            family_name: self.family_name.clone(),
            given_names: self.given_names.clone(),
            date_of_birth: self.date_of_birth.clone(),
            sex: self.sex.clone(),
            phone: self.phone.clone(),
            email: self.email.clone(),
            street: self.street.clone(),
            city: self.city.clone(),
            province: self.province.clone(),
            postal_code: self.postal_code.clone(),
            community: self.community.clone(),
            last_visit: self.last_visit.clone(),
        }
    }

    fn of(d: &PatientDetails) -> Self {
        Self {
            phn: d.phn.to_string(),
            family_name: d.family_name.clone(),
            given_names: d.given_names.clone(),
            date_of_birth: d.date_of_birth.to_string(),
            sex: sex_key(d.sex).to_owned(),
            phone: d.contact.phone.clone(),
            email: d.contact.email.clone(),
            street: d.contact.address.street.clone(),
            city: d.contact.address.city.clone(),
            province: d.contact.address.province.clone(),
            postal_code: d.contact.address.postal_code.clone(),
            community: d.community.clone(),
            last_visit: d.last_visit.map(|v| v.to_string()).unwrap_or_default(),
            status: String::new(),
        }
    }

    /// The form's fields, with what was typed and the error for each.
    pub(crate) fn fields(&self, errors: &FieldErrors, phn_editable: bool) -> Vec<InputField> {
        let f = |name: &'static str, label, kind, value: &str, hint, required| InputField {
            name,
            label,
            kind,
            value: value.to_owned(),
            error: errors.get(name).to_owned(),
            hint,
            required,
            readonly: false,
            options: Vec::new(),
        };
        let mut phn = f(
            "phn",
            "Personal health number (PHN)",
            "text",
            &self.phn,
            "10 digits starting with 9",
            true,
        );
        phn.readonly = !phn_editable;
        if !phn_editable {
            phn.hint = "A PHN cannot be changed: remove the entry and add the right PHN.";
        }
        let mut sex = f("sex", "Sex", "select", &self.sex, "", true);
        sex.options = [
            ("", "Choose…"),
            ("female", "Female"),
            ("male", "Male"),
            ("x", "X"),
            ("unknown", "Unknown"),
        ]
        .into_iter()
        .map(|(value, label)| SelectOption {
            value,
            label,
            selected: self.sex.eq_ignore_ascii_case(value),
        })
        .collect();
        vec![
            phn,
            f(
                "family_name",
                "Family name",
                "text",
                &self.family_name,
                "",
                true,
            ),
            f(
                "given_names",
                "Given names",
                "text",
                &self.given_names,
                "",
                true,
            ),
            f(
                "date_of_birth",
                "Date of birth",
                "date",
                &self.date_of_birth,
                "YYYY-MM-DD",
                true,
            ),
            sex,
            f("phone", "Phone", "tel", &self.phone, "", false),
            f("email", "Email", "email", &self.email, "", false),
            f("street", "Street", "text", &self.street, "", false),
            f("city", "City", "text", &self.city, "", false),
            f("province", "Province", "text", &self.province, "", false),
            f(
                "postal_code",
                "Postal code",
                "text",
                &self.postal_code,
                "",
                false,
            ),
            f(
                "community",
                "Community",
                "text",
                &self.community,
                "The community the patient lives in",
                false,
            ),
            f(
                "last_visit",
                "Last visit",
                "date",
                &self.last_visit,
                "YYYY-MM-DD, or empty",
                false,
            ),
        ]
    }
}

fn sex_key(s: Sex) -> &'static str {
    match s {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::X => "x",
        Sex::Unknown => "unknown",
    }
}

/// One form field to draw (see `panel/fields.html`).
#[derive(Debug, Clone)]
pub struct InputField {
    pub name: &'static str,
    pub label: &'static str,
    /// An `<input type>`, or `select` (then `options`).
    pub kind: &'static str,
    pub value: String,
    pub error: String,
    pub hint: &'static str,
    pub required: bool,
    pub readonly: bool,
    pub options: Vec<SelectOption>,
}

#[derive(Debug, Clone)]
pub struct SelectOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// Field problems of an app error, or the error itself for anything else.
fn problems(e: AppError) -> Result<FieldErrors, WebError> {
    match e {
        AppError::Invalid { problems, .. } => Ok(FieldErrors::from_problems(&problems)),
        other => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------
// Adding a patient
// ---------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "panel/new.html")]
struct NewPage {
    layout: Layout,
    links: PanelLinks,
    fields: Vec<InputField>,
    statuses: Vec<StatusOption>,
    errors: FieldErrors,
}

fn new_page(
    frame: &Frame,
    at: PanelAt,
    ctx: &Context,
    form: &PatientForm,
    errors: FieldErrors,
) -> Response {
    let status = PatientStatus::from_key(&form.status).unwrap_or(PatientStatus::Active);
    render(&NewPage {
        layout: frame.layout.clone().with_section("panel"),
        links: PanelLinks::new(frame, at.provider, ctx.name(at.provider)),
        fields: form.fields(&errors, true),
        statuses: assignable_statuses(&ctx.clinic, Some(status)),
        errors,
    })
}

pub async fn new_form(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
) -> Result<Response, WebError> {
    let ctx = Context::of(&web, &frame, at.provider, true).await?;
    Ok(new_page(
        &frame,
        at,
        &ctx,
        &PatientForm::default(),
        FieldErrors::default(),
    ))
}

pub async fn add(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<PatientForm>,
) -> Result<Response, WebError> {
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let input = form.input();
    let status_key = form.status.clone();
    let (ctx, result) = web
        .app
        .run(move |app| {
            let ctx = Context::load_for_edit(app, who, clinic, provider)?;
            let result = (|| {
                let status = PatientStatus::from_key(&status_key)
                    .ok_or_else(|| AppError::invalid("status", "choose a status"))?;
                let details = input.validate(app.today())?;
                app.add_patient(who, clinic, provider, details, status)
            })();
            Ok((ctx, result))
        })
        .await?;
    match result {
        Ok(entry) => Ok(Redirect::to(&format!(
            "{}/panels/{provider}/entries/{}?done=added",
            frame.base(),
            entry.id
        ))
        .into_response()),
        // "Already on this panel / on another panel": about the PHN.
        Err(AppError::Conflict { message, .. }) => {
            let mut errors = FieldErrors::default();
            errors.add("phn", &message);
            Ok(with_status(
                new_page(&frame, at, &ctx, &form, errors),
                StatusCode::CONFLICT,
            ))
        }
        Err(e) => {
            let errors = problems(e)?;
            Ok(with_status(
                new_page(&frame, at, &ctx, &form, errors),
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// One entry
// ---------------------------------------------------------------------------

/// One line of the entry's history.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub at: String,
    pub who: String,
    pub what: String,
}

/// The entry as the page shows it.
#[derive(Debug, Clone)]
pub struct EntryView {
    pub id: String,
    pub name: String,
    pub phn: String,
    pub date_of_birth: String,
    pub sex: &'static str,
    pub phone: String,
    pub email: String,
    pub address: String,
    pub community: String,
    pub last_visit: String,
    pub status: String,
    pub added: String,
    pub mrp: Option<String>,
    /// The patient's side of the MRP confirmation.
    pub patient_mrp: Option<String>,
    pub contact_verified: Option<String>,
    pub removed: Option<String>,
    pub clash: bool,
    pub conflicting_fields: String,
}

/// What the forms of the entry page show after a refused change.
#[derive(Debug, Default)]
struct Refused {
    details: Option<(PatientForm, FieldErrors)>,
    status: Option<String>,
    reason: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "panel/entry.html")]
struct EntryPage {
    layout: Layout,
    links: PanelLinks,
    access: PanelAccess,
    entry: EntryView,
    statuses: Vec<StatusOption>,
    fields: Vec<InputField>,
    details_errors: FieldErrors,
    status_error: String,
    reason: String,
    reason_error: String,
    history: Vec<HistoryRow>,
}

/// "2026-11-02 09:00 UTC by Grace Chen, in person".
fn confirmed(ctx: &Context, m: &attach_domain::MrpConfirmation) -> String {
    let how = m
        .how
        .map(|h| format!(", {}", h.label()))
        .unwrap_or_default();
    format!("{} by {}{how}", when(m.at), ctx.name(m.by))
}

fn entry_view(ctx: &Context, row: &PanelRow) -> EntryView {
    let e = &row.entry;
    let d = &e.details;
    let a = &d.contact.address;
    let address = [&a.street, &a.city, &a.province, &a.postal_code]
        .into_iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    EntryView {
        id: e.id.to_string(),
        name: format!("{}, {}", d.family_name, d.given_names),
        phn: d.phn.to_string(),
        date_of_birth: d.date_of_birth.to_string(),
        sex: match d.sex {
            Sex::Female => "Female",
            Sex::Male => "Male",
            Sex::X => "X",
            Sex::Unknown => "Unknown",
        },
        phone: d.contact.phone.clone(),
        email: d.contact.email.clone(),
        address,
        community: d.community.clone(),
        last_visit: d
            .last_visit
            .map_or_else(|| "never".to_owned(), |v| v.to_string()),
        status: status_label(&ctx.clinic, &e.status),
        added: format!(
            "{} by {} ({})",
            when(e.added_at),
            ctx.name(e.added_by),
            match e.how_added {
                attach_domain::HowAdded::Manual => "added by hand",
                attach_domain::HowAdded::CsvUpload => "from a CSV file",
                attach_domain::HowAdded::FhirUpload => "from a FHIR file",
                attach_domain::HowAdded::Match => "through a provincial match",
                attach_domain::HowAdded::Transfer => "transferred from another provider's panel",
            }
        ),
        mrp: e.mrp.map(|m| confirmed(ctx, &m)),
        patient_mrp: e.review.patient_mrp.map(|m| confirmed(ctx, &m)),
        contact_verified: e
            .review
            .contact_verified
            .map(|s| format!("{} by {}", when(s.at), ctx.name(s.by))),
        removed: e.removed.as_ref().map(|r| {
            let went = match r.disposition {
                attach_domain::Disposition::Left => String::new(),
                attach_domain::Disposition::Transferred { to } => {
                    format!(" (transferred to the panel of {})", ctx.name(to))
                }
                attach_domain::Disposition::ReturnToWaitlist => {
                    " (returned to the provincial waitlist)".to_owned()
                }
            };
            format!(
                "{} by {}. Reason: {}{went}",
                when(r.at),
                ctx.name(r.by),
                r.reason
            )
        }),
        clash: row.clash,
        conflicting_fields: row.conflicting_fields.join(", "),
    }
}

/// Draws the entry page (after a refused change, with the messages by the fields).
async fn entry_page(
    web: &Web,
    frame: &Frame,
    at: PanelAt,
    refused: Refused,
    status: StatusCode,
) -> Result<Response, WebError> {
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let entry = at.entry()?;
    let (ctx, row, history) = web
        .app
        .run(move |app| {
            let ctx = Context::load(app, who, clinic, provider)?;
            let row = app.entry(who, clinic, provider, entry)?;
            let history = app.entry_history(who, clinic, provider, entry)?;
            Ok((ctx, row, history))
        })
        .await?;
    let (form, details_errors) = refused
        .details
        .unwrap_or_else(|| (PatientForm::of(&row.entry.details), FieldErrors::default()));
    let (reason, reason_error) = refused.reason.unwrap_or_default();
    let history = history
        .into_iter()
        .rev()
        .map(|h| HistoryRow {
            at: h.at.map(when).unwrap_or_default(),
            who: h
                .user_name
                .unwrap_or_else(|| "someone outside this clinic".to_owned()),
            what: h.message,
        })
        .collect();
    let response = render(&EntryPage {
        layout: frame.layout.clone().with_section("panel"),
        links: PanelLinks::new(frame, provider, ctx.name(provider)),
        access: ctx.access,
        entry: entry_view(&ctx, &row),
        statuses: assignable_statuses(&ctx.clinic, Some(row.entry.status)),
        fields: form.fields(&details_errors, false),
        details_errors,
        status_error: refused.status.unwrap_or_default(),
        reason,
        reason_error,
        history,
    });
    Ok(with_status(response, status))
}

/// `/c/{clinic}/panels/{provider}/entries/{entry}`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    Query(q): Query<DoneParam>,
) -> Result<Response, WebError> {
    entry_page(
        &web,
        &q.notice_on(frame),
        at,
        Refused::default(),
        StatusCode::OK,
    )
    .await
}

/// Back to the entry page with a confirmation.
fn done(frame: &Frame, at: PanelAt, key: &str) -> Result<Response, WebError> {
    Ok(Redirect::to(&format!(
        "{}/panels/{}/entries/{}?done={key}",
        frame.base(),
        at.provider,
        at.entry()?
    ))
    .into_response())
}

pub async fn edit_details(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<PatientForm>,
) -> Result<Response, WebError> {
    let (who, clinic, provider, entry) = (frame.who.user, frame.clinic, at.provider, at.entry()?);
    let input = form.input();
    let result = web
        .app
        .run(move |app| {
            let details = input.validate(app.today())?;
            let update = EntryUpdate {
                details: Some(details),
                ..EntryUpdate::default()
            };
            app.update_entry(who, clinic, provider, entry, update)
        })
        .await;
    match result {
        Ok(_) => done(&frame, at, "details"),
        Err(e) => {
            let refused = Refused {
                details: Some((form, problems(e)?)),
                ..Refused::default()
            };
            entry_page(&web, &frame, at, refused, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

pub async fn change_status(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<StatusForm>,
) -> Result<Response, WebError> {
    let (who, clinic, provider, entry) = (frame.who.user, frame.clinic, at.provider, at.entry()?);
    let result = web
        .app
        .run(move |app| {
            let status = PatientStatus::from_key(&form.status)
                .ok_or_else(|| AppError::invalid("status", "choose one of the statuses"))?;
            let update = EntryUpdate {
                status: Some(status),
                ..EntryUpdate::default()
            };
            app.update_entry(who, clinic, provider, entry, update)
        })
        .await;
    match result {
        Ok(_) => done(&frame, at, "status"),
        Err(e) => {
            let errors = problems(e)?;
            let refused = Refused {
                status: Some(errors.get("status").to_owned()),
                ..Refused::default()
            };
            entry_page(&web, &frame, at, refused, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// The MRP form: which side confirmed, and how.
#[derive(Debug, Default, serde::Deserialize)]
pub struct MrpForm {
    /// `provider` (the default) or `patient`.
    #[serde(default)]
    side: String,
    /// `in_person`, `phone`, `portal` or `letter`; a form without it (older pages) records
    /// the provider's side without saying how.
    #[serde(default)]
    how: String,
}

pub async fn confirm_mrp(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<MrpForm>,
) -> Result<Response, WebError> {
    let (who, clinic, provider, entry) = (frame.who.user, frame.clinic, at.provider, at.entry()?);
    let side = match form.side.as_str() {
        "" => MrpSide::Provider,
        s => MrpSide::from_key(s).ok_or_else(|| {
            WebError::BadRequest("the side of the confirmation is unknown".into())
        })?,
    };
    let how = match form.how.as_str() {
        "" => None,
        h => Some(ConfirmMethod::from_key(h).ok_or_else(|| {
            WebError::BadRequest("how the confirmation was given is unknown".into())
        })?),
    };
    web.app
        .run(move |app| match (side, how) {
            (MrpSide::Provider, None) => {
                let update = EntryUpdate {
                    confirm_mrp: true,
                    ..EntryUpdate::default()
                };
                app.update_entry(who, clinic, provider, entry, update)
                    .map(|_| ())
            }
            (_, None) => Err(AppError::invalid("how", "say how the patient confirmed")),
            (side, Some(how)) => app
                .bulk_change(
                    who,
                    clinic,
                    &[(provider, entry)],
                    BulkAction::ConfirmMrp { side, how },
                )
                .map(|_| ()),
        })
        .await?;
    done(
        &frame,
        at,
        if side == MrpSide::Patient {
            "patient-mrp"
        } else {
            "mrp"
        },
    )
}

/// `POST …/entries/{entry}/contact`: the contact details were checked with the patient.
pub async fn contact_verified(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    _form: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    let (who, clinic, provider, entry) = (frame.who.user, frame.clinic, at.provider, at.entry()?);
    web.app
        .run(move |app| {
            app.bulk_change(who, clinic, &[(provider, entry)], BulkAction::VerifyContact)
        })
        .await?;
    done(&frame, at, "contact")
}

#[derive(Debug, Default, Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    reason: String,
}

pub async fn remove(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<RemoveForm>,
) -> Result<Response, WebError> {
    let (who, clinic, provider, entry) = (frame.who.user, frame.clinic, at.provider, at.entry()?);
    let reason = form.reason.clone();
    let result = web
        .app
        .run(move |app| app.remove_patient(who, clinic, provider, entry, &reason))
        .await;
    match result {
        Ok(_) => done(&frame, at, "removed"),
        Err(e) => {
            let errors = problems(e)?;
            let refused = Refused {
                reason: Some((form.reason, errors.get("reason").to_owned())),
                ..Refused::default()
            };
            entry_page(&web, &frame, at, refused, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}
