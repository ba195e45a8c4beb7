//! The node's sync with the provincial hub: its status for the clinic's members, and
//! enrolment and "try now" for its account managers.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Path, User};
use attach_app::App;
use attach_domain::ClinicId;
use attach_replication::SyncHandle;
use attach_replication::actions::{self as sync_actions, SyncActionError};
use attach_replication::node::{Enrolled, SyncStatus};

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(get_status))
        .routes(routes!(enrol))
        .routes(routes!(retry))
}

// ---------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------

/// How this node syncs with the provincial hub.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStatusBody {
    /// Whether the node holds a certificate from the hub.
    pub enrolled: bool,
    /// The hub's address (`host:port`), once enrolled.
    pub hub: Option<String>,
    /// The clinic the node's certificate names.
    pub clinic: Option<Uuid>,
    /// Whether a session with the hub is open now.
    pub connected: bool,
    /// When both sides last finished a round of sync.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_success: Option<OffsetDateTime>,
    /// The last problem, in words a clinic can act on.
    pub last_error: Option<String>,
    pub sets: Vec<SetStatusBody>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The `.local` name browsers on the LAN can use, once announced.
    pub lan_host: Option<String>,
    pub lan_peers: Vec<LanPeerBody>,
}

/// One set of documents (clinic, accounts, panels).
#[derive(Debug, Serialize, ToSchema)]
pub struct SetStatusBody {
    pub set: String,
    /// Documents changed here that the hub has not confirmed yet.
    pub waiting: usize,
    /// The hub's latest refusal of a document in this set, in words.
    pub refused: Option<String>,
}

/// A node of the same clinic found on the LAN.
#[derive(Debug, Serialize, ToSchema)]
pub struct LanPeerBody {
    pub node: Uuid,
    pub connected: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sync: Option<OffsetDateTime>,
}

impl From<SyncStatus> for SyncStatusBody {
    fn from(s: SyncStatus) -> Self {
        Self {
            enrolled: s.enrolled,
            hub: s.hub,
            clinic: s.clinic,
            connected: s.connected,
            last_success: s.last_success,
            last_error: s.last_error,
            sets: s
                .sets
                .into_iter()
                .map(|x| SetStatusBody {
                    set: x.set,
                    waiting: x.waiting,
                    refused: x.refused,
                })
                .collect(),
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            lan_host: s.lan_host,
            lan_peers: s
                .lan_peers
                .into_iter()
                .map(|p| LanPeerBody {
                    node: p.node,
                    connected: p.connected,
                    last_sync: p.last_sync,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The hub's address, `host:port`.
    pub hub: String,
    /// The one-time enrolment code from the hub administrator (32 characters; dashes and
    /// spaces are ignored).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolledBody {
    pub clinic: Uuid,
    /// This node's id, as the hub's certificate names it.
    pub node: Uuid,
    pub hub: String,
}

impl From<Enrolled> for EnrolledBody {
    fn from(e: Enrolled) -> Self {
        Self {
            clinic: e.clinic,
            node: e.node,
            hub: e.hub,
        }
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// How this node syncs with the provincial hub (members of the clinic).
#[utoipa::path(get, path = "/clinics/{clinic}/sync", tag = "sync", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 200, body = SyncStatusBody), (status = 404, body = ErrorBody),
        (status = 503, description = "The node runs without sync (`sync_unavailable`).", body = ErrorBody)))]
async fn get_status(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Extension(handle): Extension<SyncHandle>,
) -> Result<Json<SyncStatusBody>, ApiError> {
    let status = sync_actions::status(&app, &handle, who.user, clinic).await?;
    let status = status.ok_or(SyncActionError::NotRunning)?;
    Ok(Json(status.into()))
}

/// Enrol this node with the hub using a one-time code (account managers). The node then
/// starts syncing in the background.
#[utoipa::path(post, path = "/clinics/{clinic}/sync/enrol", tag = "sync", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)), request_body = EnrolRequest,
    responses((status = 200, body = EnrolledBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The node syncs another clinic it holds.", body = ErrorBody),
        (status = 422, description = "A malformed code or address, or a code the hub refused.", body = ErrorBody),
        (status = 502, description = "The hub cannot be reached (`hub_unreachable`).", body = ErrorBody),
        (status = 503, description = "The node runs without sync (`sync_unavailable`).", body = ErrorBody)))]
async fn enrol(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Extension(handle): Extension<SyncHandle>,
    Json(req): Json<EnrolRequest>,
) -> Result<Json<EnrolledBody>, ApiError> {
    let enrolled =
        sync_actions::enrol(&app, &handle, who.user, clinic, &req.hub, &req.code).await?;
    Ok(Json(enrolled.into()))
}

/// Try the hub now instead of waiting out the pause after a failure (account managers).
#[utoipa::path(post, path = "/clinics/{clinic}/sync/retry", tag = "sync", security(("bearer" = [])),
    params(("clinic" = Uuid, Path)),
    responses((status = 202, description = "The sync will try the hub now."), (status = 403, body = ErrorBody),
        (status = 503, description = "The node runs without sync (`sync_unavailable`).", body = ErrorBody)))]
async fn retry(
    State(app): State<App>,
    User(who): User,
    Path(clinic): Path<ClinicId>,
    Extension(handle): Extension<SyncHandle>,
) -> Result<StatusCode, ApiError> {
    sync_actions::retry(&app, &handle, who.user, clinic).await?;
    Ok(StatusCode::ACCEPTED)
}
