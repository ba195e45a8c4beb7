//! Patient Panel Registry: a provider's panel at one clinic.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::clinics::{AddressBody, HistoryBody, history_body};
use super::snake;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query, RawBody, User};
use attach_app::{
    App, AppError, EntryUpdate, ImportReport, PanelQuery, PanelRow, PanelSort, PanelSummary,
};
use attach_domain::{
    ClinicId, Contact, Disposition, EntryId, PanelPreferences, PatientDetails, PatientInput,
    PatientStatus, StatusId, UserId,
};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_panel, add_patient))
        .routes(routes!(get_entry, update_entry))
        .routes(routes!(remove_patient))
        .routes(routes!(entry_history))
        .routes(routes!(get_preferences, set_preferences))
        .routes(routes!(summary))
        .routes(routes!(import_panel))
        .routes(routes!(export_panel))
}

type PanelPath = (ClinicId, UserId);
type EntryPath = (ClinicId, UserId, EntryId);

// ---------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------

/// A patient's details as typed or sent by a client.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientBody {
    /// BC personal health number: 10 digits starting with 9.
    pub phn: String,
    pub family_name: String,
    pub given_names: String,
    /// YYYY-MM-DD
    pub date_of_birth: String,
    /// female, male, x or unknown
    pub sex: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub address: AddressBody,
    #[serde(default)]
    pub community: String,
    /// YYYY-MM-DD
    #[serde(default)]
    pub last_visit: Option<String>,
}

impl PatientBody {
    fn validate(self, today: Date) -> Result<PatientDetails, AppError> {
        let input = PatientInput {
            phn: self.phn,
            family_name: self.family_name,
            given_names: self.given_names,
            date_of_birth: self.date_of_birth,
            sex: self.sex,
            phone: self.phone,
            email: self.email,
            street: self.address.street,
            city: self.address.city,
            province: self.address.province,
            postal_code: self.address.postal_code,
            community: self.community,
            last_visit: self.last_visit.unwrap_or_default(),
        };
        input.validate(today).map_err(AppError::from)
    }
}

fn patient_body(d: PatientDetails) -> PatientBody {
    let Contact {
        phone,
        email,
        address,
    } = d.contact;
    PatientBody {
        phn: d.phn.to_string(),
        family_name: d.family_name,
        given_names: d.given_names,
        date_of_birth: d.date_of_birth.to_string(),
        sex: snake(&d.sex),
        phone,
        email,
        address: address.into(),
        community: d.community,
        last_visit: d.last_visit.map(|v| v.to_string()),
    }
}

/// A status on the wire: "active", "inactive", or a clinic-defined status id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRef {
    /// active, inactive or custom
    pub kind: String,
    /// The clinic-defined status's id, for kind = custom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
}

impl From<PatientStatus> for StatusRef {
    fn from(s: PatientStatus) -> Self {
        match s {
            PatientStatus::Active => Self {
                kind: "active".into(),
                id: None,
            },
            PatientStatus::Inactive => Self {
                kind: "inactive".into(),
                id: None,
            },
            PatientStatus::Custom(id) => Self {
                kind: "custom".into(),
                id: Some(id.0),
            },
        }
    }
}

impl TryFrom<StatusRef> for PatientStatus {
    type Error = AppError;
    fn try_from(s: StatusRef) -> Result<Self, AppError> {
        match (s.kind.as_str(), s.id) {
            ("active", _) => Ok(Self::Active),
            ("inactive", _) => Ok(Self::Inactive),
            ("custom", Some(id)) => Ok(Self::Custom(StatusId(id))),
            ("custom", None) => Err(AppError::invalid(
                "status.id",
                "a custom status needs its id",
            )),
            (other, _) => Err(AppError::invalid(
                "status.kind",
                format!("{other:?} is not active, inactive or custom"),
            )),
        }
    }
}

/// Parses the `status` query parameter: active, inactive, or a custom status id.
fn status_param(raw: &str) -> Result<PatientStatus, AppError> {
    PatientStatus::from_key(raw)
        .ok_or_else(|| AppError::invalid("status", "use active, inactive, or a clinic status id"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryBody {
    pub id: Uuid,
    pub provider: Uuid,
    pub clinic: Uuid,
    pub patient: PatientBody,
    pub status: StatusRef,
    #[serde(with = "time::serde::rfc3339::option")]
    pub mrp_confirmed_at: Option<OffsetDateTime>,
    pub mrp_confirmed_by: Option<Uuid>,
    /// How the provider's side was confirmed: in_person, phone, portal or letter (null when
    /// not recorded).
    pub mrp_confirmed_how: Option<String>,
    /// The patient's side of the MRP confirmation: when it was recorded, by whom, how.
    #[serde(with = "time::serde::rfc3339::option")]
    pub patient_mrp_confirmed_at: Option<OffsetDateTime>,
    pub patient_mrp_confirmed_by: Option<Uuid>,
    pub patient_mrp_confirmed_how: Option<String>,
    /// When the contact details were last checked with the patient, and by whom.
    #[serde(with = "time::serde::rfc3339::option")]
    pub contact_verified_at: Option<OffsetDateTime>,
    pub contact_verified_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
    pub added_by: Uuid,
    /// manual, csv_upload, fhir_upload, match or transfer
    pub how_added: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub removed_at: Option<OffsetDateTime>,
    pub removed_by: Option<Uuid>,
    pub removed_reason: Option<String>,
    /// Where a removed patient went: left, transferred (see `transferred_to`) or
    /// return_to_waitlist.
    pub removed_to: Option<String>,
    /// The provider a transferred patient went to.
    pub transferred_to: Option<Uuid>,
    /// The patient is also on another panel at this clinic and this entry is not the one
    /// kept; an account manager should settle it.
    pub clash: bool,
    /// Fields that two people changed at the same time while offline.
    pub conflicting_fields: Vec<String>,
}

pub(crate) fn entry_body(row: PanelRow) -> EntryBody {
    let e = row.entry;
    EntryBody {
        id: e.id.0,
        provider: e.provider.0,
        clinic: e.clinic.0,
        patient: patient_body(e.details),
        status: e.status.into(),
        mrp_confirmed_at: e.mrp.map(|m| m.at),
        mrp_confirmed_by: e.mrp.map(|m| m.by.0),
        mrp_confirmed_how: e.mrp.and_then(|m| m.how).map(|h| h.key().to_owned()),
        patient_mrp_confirmed_at: e.review.patient_mrp.map(|m| m.at),
        patient_mrp_confirmed_by: e.review.patient_mrp.map(|m| m.by.0),
        patient_mrp_confirmed_how: e
            .review
            .patient_mrp
            .and_then(|m| m.how)
            .map(|h| h.key().to_owned()),
        contact_verified_at: e.review.contact_verified.map(|s| s.at),
        contact_verified_by: e.review.contact_verified.map(|s| s.by.0),
        added_at: e.added_at,
        added_by: e.added_by.0,
        how_added: snake(&e.how_added),
        removed_at: e.removed.as_ref().map(|r| r.at),
        removed_by: e.removed.as_ref().map(|r| r.by.0),
        removed_to: e.removed.as_ref().map(|r| {
            match r.disposition {
                Disposition::Left => "left",
                Disposition::Transferred { .. } => "transferred",
                Disposition::ReturnToWaitlist => "return_to_waitlist",
            }
            .to_owned()
        }),
        transferred_to: e.removed.as_ref().and_then(|r| match r.disposition {
            Disposition::Transferred { to } => Some(to.0),
            _ => None,
        }),
        removed_reason: e.removed.map(|r| r.reason),
        clash: row.clash,
        conflicting_fields: row.conflicting_fields,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PanelParams {
    /// active, inactive, or a clinic-defined status id.
    status: Option<String>,
    /// Name prefix ("smi", "smith, jo") or the first digits of a PHN.
    q: Option<String>,
    /// name (default), added, last_visit
    sort: Option<PanelSort>,
    /// Include removed entries.
    #[serde(default)]
    include_removed: bool,
    #[serde(default)]
    offset: usize,
    /// 1–500, default 50.
    limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PanelPageBody {
    pub total: usize,
    pub offset: usize,
    pub rows: Vec<EntryBody>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPatientRequest {
    pub patient: PatientBody,
    /// Defaults to active.
    #[serde(default)]
    pub status: Option<StatusRef>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEntryRequest {
    #[serde(default)]
    pub patient: Option<PatientBody>,
    #[serde(default)]
    pub status: Option<StatusRef>,
    /// Record that this provider is confirmed as most responsible provider (now, by you).
    #[serde(default)]
    pub confirm_mrp: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveRequest {
    /// Why the patient leaves the panel (kept in the history).
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesBody {
    pub accepting_new_patients: bool,
    /// New patients a month the provider will take.
    pub monthly_capacity: u32,
    pub desired_panel_size: u32,
    /// Match requests that may be open at once.
    pub max_open_requests: u32,
    /// Languages the provider sees patients in; an empty list means English only. On PUT,
    /// leaving it out keeps the stored list.
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// The MSP practitioner number (5 letters or digits), or null when not set. On PUT,
    /// leaving it out (or null) keeps the stored number; `""` clears it.
    #[serde(default)]
    pub practitioner_number: Option<String>,
}

impl From<PanelPreferences> for PreferencesBody {
    fn from(p: PanelPreferences) -> Self {
        Self {
            accepting_new_patients: p.accepting_new_patients,
            monthly_capacity: p.monthly_capacity,
            desired_panel_size: p.desired_panel_size,
            max_open_requests: p.max_open_requests,
            languages: Some(p.languages.into_iter().collect()),
            practitioner_number: p.practitioner_number,
        }
    }
}

impl PreferencesBody {
    /// The preferences this body sets over `current` (what it leaves out stays).
    fn over(self, current: PanelPreferences) -> PanelPreferences {
        PanelPreferences {
            accepting_new_patients: self.accepting_new_patients,
            monthly_capacity: self.monthly_capacity,
            desired_panel_size: self.desired_panel_size,
            max_open_requests: self.max_open_requests,
            languages: self
                .languages
                .map_or(current.languages, |l| l.into_iter().collect()),
            practitioner_number: match self.practitioner_number {
                None => current.practitioner_number,
                Some(n) if n.trim().is_empty() => None,
                Some(n) => Some(n),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusCount {
    pub status: StatusRef,
    pub count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryBody {
    /// Patients on the panel (removed entries and unsettled clashes not counted).
    pub size: usize,
    pub by_status: Vec<StatusCount>,
    pub preferences: PreferencesBody,
    /// Desired size minus size: how many more patients the provider wants.
    pub room: i64,
}

impl From<PanelSummary> for SummaryBody {
    fn from(s: PanelSummary) -> Self {
        Self {
            size: s.size,
            by_status: s
                .by_status
                .into_iter()
                .map(|(status, count)| StatusCount {
                    status: status.into(),
                    count,
                })
                .collect(),
            preferences: s.preferences.into(),
            room: s.room,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReportBody {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl From<ImportReport> for ImportReportBody {
    fn from(r: ImportReport) -> Self {
        Self {
            added: r.added,
            updated: r.updated,
            unchanged: r.unchanged,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct FormatParams {
    /// csv (default) or fhir
    format: Option<Format>,
}

#[derive(Debug, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Fhir,
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// One page of a provider's panel, filtered and sorted.
#[utoipa::path(get, path = "/clinics/{clinic}/providers/{provider}/panel", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), PanelParams),
    responses((status = 200, body = PanelPageBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_panel(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
    Query(p): Query<PanelParams>,
) -> Result<Json<PanelPageBody>, ApiError> {
    let query = PanelQuery {
        status: p.status.as_deref().map(status_param).transpose()?,
        search: p.q,
        include_removed: p.include_removed,
        sort: p.sort.unwrap_or_default(),
        offset: p.offset,
        limit: p.limit.unwrap_or(50),
    };
    let offset = query.offset;
    let page = app
        .run(move |app| app.panel_page(who.user, clinic, provider, &query))
        .await?;
    Ok(Json(PanelPageBody {
        total: page.total,
        offset,
        rows: page.rows.into_iter().map(entry_body).collect(),
    }))
}

/// Add a patient to the panel (the provider or an endorsed delegate).
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/panel", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)), request_body = AddPatientRequest,
    responses((status = 201, body = EntryBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_patient(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
    Json(req): Json<AddPatientRequest>,
) -> Result<(StatusCode, Json<EntryBody>), ApiError> {
    let status = req
        .status
        .map(PatientStatus::try_from)
        .transpose()?
        .unwrap_or(PatientStatus::Active);
    let row = app
        .run(move |app| {
            let details = req.patient.validate(app.today())?;
            let entry = app.add_patient(who.user, clinic, provider, details, status)?;
            app.entry(who.user, clinic, provider, entry.id)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(entry_body(row))))
}

/// One patient entry.
#[utoipa::path(get, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path)),
    responses((status = 200, body = EntryBody), (status = 404, body = ErrorBody)))]
async fn get_entry(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry)): Path<EntryPath>,
) -> Result<Json<EntryBody>, ApiError> {
    let row = app
        .run(move |app| app.entry(who.user, clinic, provider, entry))
        .await?;
    Ok(Json(entry_body(row)))
}

/// Change a patient's details or status, or confirm most responsible provider.
#[utoipa::path(patch, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path)), request_body = UpdateEntryRequest,
    responses((status = 200, body = EntryBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_entry(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry)): Path<EntryPath>,
    Json(req): Json<UpdateEntryRequest>,
) -> Result<Json<EntryBody>, ApiError> {
    let status = req.status.map(PatientStatus::try_from).transpose()?;
    let row = app
        .run(move |app| {
            let details = req.patient.map(|p| p.validate(app.today())).transpose()?;
            let update = EntryUpdate {
                details,
                status,
                confirm_mrp: req.confirm_mrp,
            };
            app.update_entry(who.user, clinic, provider, entry, update)?;
            app.entry(who.user, clinic, provider, entry)
        })
        .await?;
    Ok(Json(entry_body(row)))
}

/// Take a patient off the panel, with a reason. The entry and its history are kept.
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}/removal", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path)), request_body = RemoveRequest,
    responses((status = 200, body = EntryBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn remove_patient(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry)): Path<EntryPath>,
    Json(req): Json<RemoveRequest>,
) -> Result<Json<EntryBody>, ApiError> {
    let row = app
        .run(move |app| {
            app.remove_patient(who.user, clinic, provider, entry, &req.reason)?;
            app.entry(who.user, clinic, provider, entry)
        })
        .await?;
    Ok(Json(entry_body(row)))
}

/// Who changed this patient entry, and when.
#[utoipa::path(get, path = "/clinics/{clinic}/providers/{provider}/panel/{entry}/history", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), ("entry" = Uuid, Path)),
    responses((status = 200, body = [HistoryBody]), (status = 404, body = ErrorBody)))]
async fn entry_history(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider, entry)): Path<EntryPath>,
) -> Result<Json<Vec<HistoryBody>>, ApiError> {
    let items = app
        .run(move |app| app.entry_history(who.user, clinic, provider, entry))
        .await?;
    Ok(Json(items.into_iter().map(history_body).collect()))
}

/// The provider's panel preferences.
#[utoipa::path(get, path = "/clinics/{clinic}/providers/{provider}/preferences", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)),
    responses((status = 200, body = PreferencesBody), (status = 404, body = ErrorBody)))]
async fn get_preferences(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
) -> Result<Json<PreferencesBody>, ApiError> {
    let p = app
        .run(move |app| app.preferences(who.user, clinic, provider))
        .await?;
    Ok(Json(p.into()))
}

/// Set accepting new patients, monthly capacity, desired panel size, max open requests,
/// languages and the practitioner number. Setting accepting to false withdraws the open
/// match offers to this provider at this clinic at once.
#[utoipa::path(put, path = "/clinics/{clinic}/providers/{provider}/preferences", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)), request_body = PreferencesBody,
    responses((status = 200, body = PreferencesBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_preferences(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
    Json(body): Json<PreferencesBody>,
) -> Result<Json<PreferencesBody>, ApiError> {
    let p = app
        .run(move |app| {
            let current = app.preferences(who.user, clinic, provider)?;
            app.set_preferences(who.user, clinic, provider, body.over(current))
        })
        .await?;
    Ok(Json(p.into()))
}

/// Panel size, counts by status, and distance from the desired size.
#[utoipa::path(get, path = "/clinics/{clinic}/providers/{provider}/summary", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)),
    responses((status = 200, body = SummaryBody), (status = 404, body = ErrorBody)))]
async fn summary(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
) -> Result<Json<SummaryBody>, ApiError> {
    let s = app
        .run(move |app| app.panel_summary(who.user, clinic, provider))
        .await?;
    Ok(Json(s.into()))
}

/// Upload a CSV file or a FHIR R4 Bundle of Patients (the raw file is the body). All or
/// nothing: any bad row rejects the file with a problem per row and field.
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/import", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), FormatParams),
    request_body(content = String, content_type = "text/csv", description = "CSV with a header row, or a FHIR Bundle (application/fhir+json) with format=fhir"),
    responses((status = 200, body = ImportReportBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_panel(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
    Query(f): Query<FormatParams>,
    RawBody(body): RawBody,
) -> Result<Json<ImportReportBody>, ApiError> {
    let fhir = f.format == Some(Format::Fhir);
    let report = app
        .run(move |app| app.import_panel(who.user, clinic, provider, fhir, &body))
        .await?;
    Ok(Json(report.into()))
}

/// Download the panel as CSV or as a FHIR R4 Bundle (Group, Patients, Practitioner,
/// PractitionerRole, Organization, Locations).
#[utoipa::path(get, path = "/clinics/{clinic}/providers/{provider}/export", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path), FormatParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody)))]
async fn export_panel(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<PanelPath>,
    Query(f): Query<FormatParams>,
) -> Result<impl IntoResponse, ApiError> {
    let fhir = f.format == Some(Format::Fhir);
    let bytes = app
        .run(move |app| app.export_panel(who.user, clinic, provider, fhir))
        .await?;
    let (kind, name) = if fhir {
        ("application/fhir+json", "panel.json")
    } else {
        ("text/csv; charset=utf-8", "panel.csv")
    };
    Ok(super::attachment(bytes, kind, name))
}
