//! The hub administrator's API: JSON over HTTP on a loopback address, with a bearer token
//! kept in the hub's data directory (readable only by the hub's user). The `attach hub …`
//! commands use it, so they work while the hub runs.
//!
//! - `POST /admin/enrolments` `{clinic?, facility?, valid_hours?}` → a one-time code
//! - `GET /admin/clinics` → enrolled clinics and their nodes
//! - `POST /admin/clinics/{id}/revoke` → refuse that clinic's nodes from now on
//! - `GET /admin/status` → documents, feed position, connected nodes
//! - `POST /admin/waitlist` (one person, JSON: the columns of a waitlist file) → who was
//!   registered, or merged into the registration of the same PHN
//! - `POST /admin/waitlist/import` (a CSV body) → people registered, merged, flagged
//! - `POST /admin/matching/round` → what a matching round did
//! - `GET /admin/attachments?from=YYYY-MM-DD&to=YYYY-MM-DD[&clinic=ID]` → attachment records
//!   for billing, every clinic's or one's, and the providers without a practitioner number
//! - `GET /admin/report` → the provincial view as JSON; `GET /admin/report.csv` as CSV
//! - `GET /admin/measures?measure=registry:diabetes&month=YYYY-MM` → one clinic measure
//!   by clinic, community, health authority and the province, small cells suppressed
//! - `POST /admin/coordinators` `{username, name}` → a coordinator login and its one-time
//!   temporary password; `GET /admin/coordinators` → every coordinator

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ReplicationError;
use super::hub::{ClinicSummary, Hub, LiveNode, NewCode};
use attach_app::{CoordinatorSummary, NewCoordinator};
use attach_domain::matching::ProvinceReport;

#[derive(Clone)]
struct AdminState {
    hub: Arc<Hub>,
    token: Arc<String>,
}

/// The admin router for a running hub.
pub fn router(hub: Arc<Hub>) -> Result<Router, ReplicationError> {
    let token = std::fs::read_to_string(hub.files.admin_token())?
        .trim()
        .to_owned();
    Ok(Router::new()
        .route("/admin/enrolments", post(create_code))
        .route("/admin/clinics", get(clinics))
        .route("/admin/clinics/{id}/revoke", post(revoke))
        .route("/admin/status", get(status))
        .route("/admin/waitlist", post(register_person))
        .route("/admin/waitlist/import", post(import_waitlist))
        .route("/admin/matching/round", post(matching_round))
        .route("/admin/attachments", get(attachments))
        .route("/admin/report", get(report))
        .route("/admin/report.csv", get(report_csv))
        .route("/admin/measures", get(measures))
        .route(
            "/admin/coordinators",
            get(coordinators).post(add_coordinator),
        )
        .with_state(AdminState {
            hub,
            token: Arc::new(token),
        }))
}

/// A JSON error `{code, message}` like the node's API.
struct AdminError(StatusCode, &'static str, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(serde_json::json!({"code": self.1, "message": self.2})),
        )
            .into_response()
    }
}

impl From<ReplicationError> for AdminError {
    fn from(e: ReplicationError) -> Self {
        match e {
            ReplicationError::Invalid(m) => {
                AdminError(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
            }
            other => {
                tracing::error!(error = %other, "hub admin request failed");
                AdminError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the hub could not do that; see its log".into(),
                )
            }
        }
    }
}

fn authorize(state: &AdminState, headers: &HeaderMap) -> Result<(), AdminError> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant-time comparison of the hashes: no timing hint about the token.
    use sha2::{Digest, Sha256};
    if Sha256::digest(given.as_bytes()) == Sha256::digest(state.token.as_bytes()) {
        Ok(())
    } else {
        Err(AdminError(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid admin token is required (see the hub's data directory, hub/admin-token)"
                .into(),
        ))
    }
}

/// Body of `POST /admin/enrolments`.
#[derive(Debug, Deserialize, Serialize, Default)]
pub struct CodeRequest {
    pub clinic: Option<Uuid>,
    pub facility: Option<String>,
    pub valid_hours: Option<u32>,
}

async fn create_code(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Json(req): Json<CodeRequest>,
) -> Result<Json<NewCode>, AdminError> {
    authorize(&state, &headers)?;
    let hub = state.hub.clone();
    let hours = i64::from(req.valid_hours.unwrap_or(72));
    let code = tokio::task::spawn_blocking(move || {
        hub.create_code(req.clinic, req.facility, time::Duration::hours(hours))
    })
    .await
    .map_err(|e| ReplicationError::Invalid(e.to_string()))??;
    Ok(Json(code))
}

async fn clinics(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<Vec<ClinicSummary>>, AdminError> {
    authorize(&state, &headers)?;
    let hub = state.hub.clone();
    Ok(Json(
        tokio::task::spawn_blocking(move || hub.clinics())
            .await
            .map_err(|e| ReplicationError::Invalid(e.to_string()))?,
    ))
}

async fn revoke(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AdminError> {
    authorize(&state, &headers)?;
    let hub = state.hub.clone();
    let found = tokio::task::spawn_blocking(move || hub.revoke(id))
        .await
        .map_err(|e| ReplicationError::Invalid(e.to_string()))??;
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AdminError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("clinic {id} is not enrolled at this hub"),
        ))
    }
}

/// `GET /admin/status`.
#[derive(Debug, Serialize, Deserialize)]
pub struct HubStatus {
    pub feed_position: u64,
    pub clinics: usize,
    pub connected: Vec<LiveNodeJson>,
}

/// A connected node, as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct LiveNodeJson {
    pub clinic: Uuid,
    pub node: Uuid,
    pub peer: String,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub docs_sent: u64,
    pub docs_received: u64,
}

impl From<LiveNode> for LiveNodeJson {
    fn from(l: LiveNode) -> Self {
        Self {
            clinic: l.clinic,
            node: l.node,
            peer: l.peer,
            bytes_sent: l.bytes_sent,
            bytes_received: l.bytes_received,
            docs_sent: l.docs_sent,
            docs_received: l.docs_received,
        }
    }
}

async fn status(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<HubStatus>, AdminError> {
    authorize(&state, &headers)?;
    let hub = &state.hub;
    Ok(Json(HubStatus {
        feed_position: hub.app.doc_store().feed_position(),
        clinics: hub.state.clinics().len(),
        connected: hub.live().into_iter().map(Into::into).collect(),
    }))
}

/// `POST /admin/waitlist/import`: what the import did.
#[derive(Debug, Serialize, Deserialize)]
pub struct WaitlistImport {
    pub registered: usize,
    pub merged: usize,
    pub on_a_panel: usize,
}

fn app_error(e: attach_app::AppError) -> AdminError {
    use attach_app::AppError as A;
    match e {
        A::Invalid { message, problems } => {
            let detail: Vec<String> = problems
                .iter()
                .take(20)
                .map(|p| match p.row {
                    Some(r) => format!("row {r}, {}: {}", p.field, p.message),
                    None => format!("{}: {}", p.field, p.message),
                })
                .collect();
            AdminError(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                format!("{message} {}", detail.join("; ")),
            )
        }
        A::NotFound(m) => AdminError(StatusCode::NOT_FOUND, "not_found", format!("{m} not found")),
        A::Conflict { message: m, .. } => AdminError(StatusCode::CONFLICT, "conflict", m),
        other => {
            tracing::error!(error = %other.log_cause(), "hub admin request failed");
            AdminError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the hub could not do that; see its log".into(),
            )
        }
    }
}

/// Body of `POST /admin/waitlist`: one person, with the fields of a waitlist file's columns
/// (`phn` … `community` required; lists separated by `;`).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersonRequest {
    pub phn: String,
    pub family_name: String,
    pub given_names: String,
    pub date_of_birth: String,
    pub sex: String,
    pub phone: String,
    pub email: String,
    pub street: String,
    pub city: String,
    pub province: String,
    pub postal_code: String,
    pub community: String,
    pub languages: String,
    pub need: String,
    pub factors: String,
    pub registered_on: String,
    pub household: String,
}

impl From<PersonRequest> for attach_app::WaitingInput {
    fn from(r: PersonRequest) -> Self {
        Self {
            patient: attach_domain::PatientInput {
                phn: r.phn,
                family_name: r.family_name,
                given_names: r.given_names,
                date_of_birth: r.date_of_birth,
                sex: r.sex,
                phone: r.phone,
                email: r.email,
                street: r.street,
                city: r.city,
                province: r.province,
                postal_code: r.postal_code,
                community: r.community,
                last_visit: String::new(),
            },
            languages: r.languages,
            need: r.need,
            factors: r.factors,
            registered_on: r.registered_on,
            household: r.household,
        }
    }
}

async fn register_person(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Json(body): Json<PersonRequest>,
) -> Result<Json<attach_app::Registered>, AdminError> {
    authorize(&state, &headers)?;
    let app = state.hub.app.clone();
    let input = attach_app::WaitingInput::from(body);
    Ok(Json(
        app.run(move |app| app.register_waiting(attach_app::COORDINATOR, &input))
            .await
            .map_err(app_error)?,
    ))
}

async fn import_waitlist(
    State(state): State<AdminState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<WaitlistImport>, AdminError> {
    authorize(&state, &headers)?;
    let app = state.hub.app.clone();
    let done = app
        .run(move |app| {
            let rows = attach_app::parse_waitlist_csv(&body)?;
            app.register_waiting_many(attach_app::COORDINATOR, &rows)
        })
        .await
        .map_err(app_error)?;
    Ok(Json(WaitlistImport {
        registered: done.iter().filter(|r| !r.merged).count(),
        merged: done.iter().filter(|r| r.merged).count(),
        on_a_panel: done.iter().filter(|r| r.on_a_panel).count(),
    }))
}

async fn matching_round(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<attach_app::RoundReport>, AdminError> {
    authorize(&state, &headers)?;
    let app = state.hub.app.clone();
    Ok(Json(
        app.run(|app| app.run_matching(attach_app::COORDINATOR))
            .await
            .map_err(app_error)?,
    ))
}

/// Query of `GET /admin/attachments`.
#[derive(Debug, Deserialize, Serialize, Default)]
pub struct AttachmentsQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub clinic: Option<Uuid>,
}

async fn attachments(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(q): Query<AttachmentsQuery>,
) -> Result<Json<attach_app::AttachmentExport>, AdminError> {
    authorize(&state, &headers)?;
    let app = state.hub.app.clone();
    let scope = attach_app::BillingScope::Province {
        clinic: q.clinic.map(attach_domain::ClinicId),
    };
    Ok(Json(
        app.run(move |app| app.attachment_records(scope, &q.from, &q.to))
            .await
            .map_err(app_error)?,
    ))
}

/// `GET /admin/report`: the provincial view (see `domain::matching::report` for what each
/// figure counts).
#[derive(Debug, Serialize, Deserialize)]
pub struct ProvinceReportJson {
    pub computed_at: String,
    pub people_waiting: usize,
    pub median_wait_days: Option<i64>,
    pub p90_wait_days: Option<i64>,
    /// Registrations by status (`waiting`, `offered`, `attached`, `on_a_panel`, `withdrawn`).
    pub by_status: Vec<CountJson>,
    /// People waiting by priority tier, highest first.
    pub by_tier: Vec<CountJson>,
    pub offers_open: usize,
    pub people_in_open_offers: usize,
    pub offers_made: usize,
    pub provider_side: RateJson,
    pub patient_side: RateJson,
    /// Providers' decline reasons, most frequent first.
    pub decline_reasons: Vec<CountJson>,
    pub monthly_capacity: u64,
    pub accepting_providers: usize,
    pub communities: Vec<CommunityJson>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CountJson {
    pub key: String,
    pub count: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RateJson {
    pub yes: usize,
    pub no: usize,
    pub yes_percent: Option<f64>,
    pub no_percent: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CommunityJson {
    pub community: String,
    /// People waiting by tier, in `by_tier`'s order.
    pub waiting_by_tier: Vec<usize>,
    pub waiting: usize,
    pub offered: usize,
    pub monthly_capacity: u64,
    pub accepting_providers: usize,
    pub months_to_clear: Option<f64>,
}

impl From<&ProvinceReport> for ProvinceReportJson {
    fn from(r: &ProvinceReport) -> Self {
        let rate = |r: attach_domain::matching::Rate| RateJson {
            yes: r.yes,
            no: r.no,
            yes_percent: r.yes_percent(),
            no_percent: r.no_percent(),
        };
        Self {
            computed_at: r
                .at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            people_waiting: r.waiting,
            median_wait_days: r.median_wait_days,
            p90_wait_days: r.p90_wait_days,
            by_status: r
                .by_status
                .iter()
                .map(|(s, n)| CountJson {
                    key: s.key().to_owned(),
                    count: *n,
                })
                .collect(),
            by_tier: r
                .tiers
                .iter()
                .zip(&r.waiting_by_tier)
                .map(|(t, n)| CountJson {
                    key: t.clone(),
                    count: *n,
                })
                .collect(),
            offers_open: r.offers_open,
            people_in_open_offers: r.people_in_open_offers,
            offers_made: r.offers_total,
            provider_side: rate(r.provider_side),
            patient_side: rate(r.patient_side),
            decline_reasons: r
                .decline_reasons
                .iter()
                .map(|(k, n)| CountJson {
                    key: k.key().to_owned(),
                    count: *n,
                })
                .collect(),
            monthly_capacity: r.capacity,
            accepting_providers: r.accepting_providers,
            communities: r
                .communities
                .iter()
                .map(|c| CommunityJson {
                    community: c.community.clone(),
                    waiting_by_tier: c.waiting_by_tier.clone(),
                    waiting: c.waiting,
                    offered: c.offered,
                    monthly_capacity: c.capacity,
                    accepting_providers: c.accepting_providers,
                    months_to_clear: c.months_to_clear(),
                })
                .collect(),
        }
    }
}

async fn report(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<ProvinceReportJson>, AdminError> {
    authorize(&state, &headers)?;
    let app = state.hub.app.clone();
    let r = app
        .run(|app| Ok(app.province_report()))
        .await
        .map_err(app_error)?;
    Ok(Json(ProvinceReportJson::from(&r)))
}

async fn report_csv(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Response, AdminError> {
    authorize(&state, &headers)?;
    let app = state.hub.app.clone();
    let bytes = app
        .run(|app| {
            Ok(attach_interop::province::write_province_csv(
                &app.province_report(),
            ))
        })
        .await
        .map_err(app_error)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        bytes,
    )
        .into_response())
}

/// Query of `GET /admin/measures`: a measure's key (the first measure when empty) and a
/// month (`YYYY-MM`; the current month when empty).
#[derive(Debug, Deserialize, Serialize, Default)]
pub struct MeasuresQuery {
    #[serde(default)]
    pub measure: String,
    #[serde(default)]
    pub month: String,
}

/// What may be shown of one count: `state` is `shown` (with the counts and the share),
/// `suppressed` (fewer than 5 patients somewhere in it) or `empty` (nothing counted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellJson {
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// The cell in words, as the hub's page shows it.
    pub label: String,
}

impl From<attach_domain::clinical::comparison::Cell> for CellJson {
    fn from(c: attach_domain::clinical::comparison::Cell) -> Self {
        use attach_domain::clinical::comparison::Cell;
        let label = c.label();
        match c {
            Cell::Empty => Self {
                state: "empty".into(),
                numerator: None,
                denominator: None,
                percent: None,
                label,
            },
            Cell::Suppressed => Self {
                state: "suppressed".into(),
                numerator: None,
                denominator: None,
                percent: None,
                label,
            },
            Cell::Shown(n) => Self {
                state: "shown".into(),
                numerator: Some(n.numerator),
                denominator: Some(n.denominator),
                percent: n.percent(),
                label,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasureClinicJson {
    pub clinic: Uuid,
    pub name: String,
    pub value: CellJson,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasureCommunityJson {
    pub name: String,
    pub value: CellJson,
    pub clinics: Vec<MeasureClinicJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasureAuthorityJson {
    pub name: String,
    pub value: CellJson,
    pub communities: Vec<MeasureCommunityJson>,
}

/// Body of `GET /admin/measures`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComparisonJson {
    pub measure: String,
    pub name: String,
    /// `YYYY-MM`
    pub month: String,
    pub clinics_sent: usize,
    pub clinics: usize,
    pub province: CellJson,
    pub authorities: Vec<MeasureAuthorityJson>,
}

impl From<&attach_app::Comparison> for ComparisonJson {
    fn from(c: &attach_app::Comparison) -> Self {
        Self {
            measure: c.measure.key.clone(),
            name: c.measure.name.clone(),
            month: format!("{:04}-{:02}", c.year, c.month),
            clinics_sent: c.clinics_sent,
            clinics: c.clinics,
            province: c.province.into(),
            authorities: c
                .authorities
                .iter()
                .map(|a| MeasureAuthorityJson {
                    name: a.name.clone(),
                    value: a.cell.into(),
                    communities: a
                        .communities
                        .iter()
                        .map(|m| MeasureCommunityJson {
                            name: m.name.clone(),
                            value: m.cell.into(),
                            clinics: m
                                .clinics
                                .iter()
                                .map(|k| MeasureClinicJson {
                                    clinic: k.clinic.0,
                                    name: k.name.clone(),
                                    value: k.cell.into(),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

async fn measures(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(q): Query<MeasuresQuery>,
) -> Result<Json<ComparisonJson>, AdminError> {
    authorize(&state, &headers)?;
    let app = state.hub.app.clone();
    let c = app
        .run(move |app| {
            let day = attach_app::parse_month(&q.month)?.unwrap_or_else(|| app.clinic_today());
            app.province_comparison(&q.measure, day)
        })
        .await
        .map_err(app_error)?;
    Ok(Json(ComparisonJson::from(&c)))
}

/// Body of `POST /admin/coordinators`.
#[derive(Debug, Deserialize, Serialize)]
pub struct CoordinatorRequest {
    pub username: String,
    pub name: String,
}

async fn add_coordinator(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Json(req): Json<CoordinatorRequest>,
) -> Result<(StatusCode, Json<NewCoordinator>), AdminError> {
    authorize(&state, &headers)?;
    let app = state.hub.app.clone();
    let made = app
        .run(move |app| app.add_coordinator(&req.username, &req.name))
        .await
        .map_err(app_error)?;
    Ok((StatusCode::CREATED, Json(made)))
}

async fn coordinators(
    State(state): State<AdminState>,
    headers: HeaderMap,
) -> Result<Json<Vec<CoordinatorSummary>>, AdminError> {
    authorize(&state, &headers)?;
    let app = state.hub.app.clone();
    Ok(Json(
        app.run(|app| Ok(app.coordinators()))
            .await
            .map_err(app_error)?,
    ))
}
