//! When a provider leaves or stops: moving their patients to a colleague's panel, or back to
//! the provincial waitlist; and the clinic's attachment records for billing.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, Query, User};
use attach_app::{App, BillingScope, Destination, MoveReport, Selection};
use attach_domain::{ClinicId, EntryId, UserId};
use attach_http::csv_download;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(transfer))
        .routes(routes!(return_to_waitlist))
        .routes(routes!(attachments))
}

/// Which patients move, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// For a transfer: the receiving provider at the same clinic.
    #[serde(default)]
    pub to: Option<Uuid>,
    /// The entries to move; leave it out to move everyone on the panel.
    #[serde(default)]
    pub entries: Option<Vec<Uuid>>,
    /// Why (kept in each patient's history).
    pub reason: String,
}

impl MoveBody {
    fn selection(&self) -> Selection {
        match &self.entries {
            None => Selection::All,
            Some(ids) => Selection::Entries(ids.iter().map(|id| EntryId(*id)).collect()),
        }
    }
}

/// What a move did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MoveReportBody {
    /// Patients moved.
    pub moved: usize,
}

impl From<MoveReport> for MoveReportBody {
    fn from(r: MoveReport) -> Self {
        Self { moved: r.moved }
    }
}

/// Transfer patients to another provider's panel at the clinic (all, or the entries
/// listed): each old entry is removed with the reason, each patient gets a new entry (how
/// added "transfer") on the receiving panel. All or nothing.
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/transfers", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)), request_body = MoveBody,
    responses((status = 200, body = MoveReportBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn transfer(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<(ClinicId, UserId)>,
    Json(body): Json<MoveBody>,
) -> Result<Json<MoveReportBody>, ApiError> {
    let to = Destination::Provider(UserId(body.to.unwrap_or_default()));
    move_patients(app, who.user, clinic, provider, body, to).await
}

/// Both kinds of move: one app call, the report back.
async fn move_patients(
    app: App,
    who: UserId,
    clinic: ClinicId,
    provider: UserId,
    body: MoveBody,
    to: Destination,
) -> Result<Json<MoveReportBody>, ApiError> {
    let report = app
        .run(move |app| {
            app.move_patients(who, clinic, provider, &body.selection(), to, &body.reason)
        })
        .await?;
    Ok(Json(report.into()))
}

/// Return patients to the provincial waitlist (all, or the entries listed): each entry is
/// removed with the reason and marked for the waitlist; the hub registers them again at its
/// next round after the clinic's next sync. All or nothing.
#[utoipa::path(post, path = "/clinics/{clinic}/providers/{provider}/waitlist-returns", tag = "panels", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), ("provider" = Uuid, Path)), request_body = MoveBody,
    responses((status = 200, body = MoveReportBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn return_to_waitlist(
    State(app): State<App>,
    User(who): User,
    Path((clinic, provider)): Path<(ClinicId, UserId)>,
    Json(body): Json<MoveBody>,
) -> Result<Json<MoveReportBody>, ApiError> {
    move_patients(app, who.user, clinic, provider, body, Destination::Waitlist).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PeriodParams {
    /// First day, YYYY-MM-DD (the province's local date).
    #[serde(default)]
    pub from: String,
    /// Last day, YYYY-MM-DD, included.
    #[serde(default)]
    pub to: String,
    /// json (default) or csv
    #[serde(default)]
    pub format: Option<String>,
}

/// The clinic's attachment records in a period, for billing (PHN, practitioner number,
/// date, fee code 98990), as JSON or (format=csv) the billing file. Providers without a
/// practitioner number are listed in `missing` (JSON) or counted in the
/// `x-attach-missing-practitioner-numbers` header (CSV).
#[utoipa::path(get, path = "/clinics/{clinic}/attachments", tag = "matching", security(("bearer" = [])),
    params(("clinic" = Uuid, Path), PeriodParams),
    responses((status = 200, body = Object, description = "the records, and providers missing a practitioner number"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn attachments(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Query(q): Query<PeriodParams>,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref().map(str::trim) {
        None | Some("" | "json") => false,
        Some("csv") => true,
        Some(_) => return Err(attach_app::AppError::invalid("format", "json or csv").into()),
    };
    let scope = BillingScope::Member {
        who: who.user,
        clinic,
    };
    let export = app
        .run(move |app| app.attachment_records(scope, &q.from, &q.to))
        .await?;
    Ok(if csv {
        csv_download(&export).into_response()
    } else {
        Json(export).into_response()
    })
}
