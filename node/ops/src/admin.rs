//! The admin listener: loopback only, every route behind a bearer token kept in the data
//! directory (0600, the service user's). On a node it is its own listener
//! (`admin_listen`, default `127.0.0.1:0`); on the hub these routes join the hub's existing
//! loopback admin API and its token (`hub/admin-token`).
//!
//! - `GET /metrics` → Prometheus text
//! - `GET /admin/backup` → a backup file of the running process (`ops::backup`)
//! - `GET /admin/overview` → [`Overview`] as JSON, for `attach status`
//!
//! The listener writes its address next to the token so the CLI finds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::OpsError;
use super::metrics::{Metrics, Sample};
use attach_app::{App, OpsCounts};
use attach_replication::{Hub, HubFiles, NodeSync};

/// What is running behind the listener.
#[derive(Clone)]
pub enum Live {
    /// A clinic node, with its sync loop if it has one.
    Node(Option<NodeSync>),
    /// The provincial hub.
    Hub(Arc<Hub>),
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Live::Node(_) => "Live::Node",
            Live::Hub(_) => "Live::Hub",
        })
    }
}

/// Everything the admin routes read.
#[derive(Clone, Debug)]
pub struct AdminState {
    pub app: App,
    pub data_dir: PathBuf,
    pub metrics: Arc<Metrics>,
    pub live: Live,
    token: Arc<String>,
    started: OffsetDateTime,
}

impl AdminState {
    /// State for the admin routes; reads (or, on a node, creates) the token file.
    pub fn new(
        app: App,
        data_dir: &Path,
        metrics: Arc<Metrics>,
        live: Live,
    ) -> Result<Self, OpsError> {
        let files = AdminFiles::for_dir(data_dir);
        if !files.token.exists() {
            super::create_private_dir(files.token.parent().unwrap_or(data_dir))?;
            let token = hex::encode(rand::random::<[u8; 32]>());
            attach_replication::hub::write_private(&files.token, token.as_bytes())?;
        }
        let token = std::fs::read_to_string(&files.token)?.trim().to_owned();
        Ok(Self {
            app,
            data_dir: data_dir.to_owned(),
            metrics,
            live,
            token: Arc::new(token),
            started: OffsetDateTime::now_utc(),
        })
    }
}

/// Where a data directory's running process publishes its admin address and token.
#[derive(Debug, Clone)]
pub struct AdminFiles {
    pub address: PathBuf,
    pub token: PathBuf,
}

impl AdminFiles {
    /// The hub's files for a hub directory, `admin/address` and `admin/token` otherwise.
    pub fn for_dir(data_dir: &Path) -> Self {
        if super::role(data_dir) == "hub" {
            let hub = HubFiles::new(data_dir);
            Self {
                address: hub.admin_address(),
                token: hub.admin_token(),
            }
        } else {
            let dir = data_dir.join("admin");
            Self {
                address: dir.join("address"),
                token: dir.join("token"),
            }
        }
    }
}

/// The admin routes (merge into the hub's admin router, or serve alone on a node).
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/admin/backup", get(backup))
        .route("/admin/overview", get(overview))
        .with_state(state)
}

/// True when `headers` carry `Authorization: Bearer <token>`. Compares hashes, so the
/// time taken says nothing about the token.
pub fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    use sha2::{Digest, Sha256};
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    Sha256::digest(given.as_bytes()) == Sha256::digest(token.as_bytes())
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({
            "code": "unauthorized",
            "message": "a valid admin token is required (the token file is in the data directory: admin/token, or hub/admin-token on the hub)",
        })),
    )
        .into_response()
}

fn internal(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "{what} failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({
            "code": "internal",
            "message": format!("{what} failed; see the log"),
        })),
    )
        .into_response()
}

async fn metrics(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if !bearer_matches(&headers, &state.token) {
        return unauthorized();
    }
    match tokio::task::spawn_blocking(move || sample(&state)).await {
        Ok((sample, metrics)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            super::metrics::render(&metrics, &sample),
        )
            .into_response(),
        Err(e) => internal("metrics", e),
    }
}

async fn backup(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if !bearer_matches(&headers, &state.token) {
        return unauthorized();
    }
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        let header = super::header_for(&state.data_dir);
        let (bytes, summary) = super::backup::write_backup(
            state.app.doc_store(),
            &state.data_dir,
            &header,
            Vec::new(),
        )?;
        state.metrics.count_backup();
        Ok::<_, OpsError>((bytes, summary))
    })
    .await;
    match result {
        Ok(Ok((bytes, summary))) => {
            tracing::info!(
                bytes = bytes.len(),
                entries = summary.entries,
                files = summary.files,
                millis = started.elapsed().as_millis() as u64,
                "backup served"
            );
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(Err(e)) => internal("backup", e),
        Err(e) => internal("backup", e),
    }
}

/// What `attach status` shows of a running node or hub (ids and numbers only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overview {
    pub role: String,
    pub version: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    pub store_bytes: u64,
    pub counts: OpsCounts,
    pub sync_sessions: u64,
    /// Nodes only: sync with the hub.
    pub enrolled: Option<bool>,
    pub hub_connected: Option<bool>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sync: Option<OffsetDateTime>,
    pub last_sync_error: Option<String>,
    pub waiting_changes: Option<u64>,
    /// Hub only: enrolled clinics.
    pub enrolled_clinics: Option<u64>,
}

async fn overview(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if !bearer_matches(&headers, &state.token) {
        return unauthorized();
    }
    let started = state.started;
    let live = state.live.clone();
    match tokio::task::spawn_blocking(move || sample(&state)).await {
        Ok((s, _)) => {
            let mut o = Overview {
                role: s.role.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                started,
                store_bytes: s.store_bytes,
                counts: s.counts,
                sync_sessions: s.sync_sessions,
                enrolled: None,
                hub_connected: None,
                last_sync: None,
                last_sync_error: None,
                waiting_changes: None,
                enrolled_clinics: None,
            };
            match live {
                Live::Node(Some(sync)) => {
                    let st = sync.status();
                    o.enrolled = Some(st.enrolled);
                    o.hub_connected = Some(st.connected);
                    o.last_sync = st.last_success;
                    o.last_sync_error = st.last_error;
                    o.waiting_changes = Some(s.sync_waiting);
                }
                Live::Node(None) => o.enrolled = Some(false),
                Live::Hub(hub) => o.enrolled_clinics = Some(hub.clinics().len() as u64),
            }
            Json(o).into_response()
        }
        Err(e) => internal("status", e),
    }
}

/// Reads every number `/metrics` and the overview report (blocking: it asks the store).
fn sample(state: &AdminState) -> (Sample, Arc<Metrics>) {
    let store = state.app.doc_store();
    let mut s = Sample {
        role: "node",
        store_bytes: store.size_on_disk().unwrap_or(0),
        feed_position: store.feed_position(),
        counts: state.app.ops_counts(),
        ..Sample::default()
    };
    match &state.live {
        Live::Node(Some(sync)) => {
            let st = sync.status();
            s.sync_sessions = u64::from(st.connected)
                + st.lan_peers.iter().filter(|p| p.connected).count() as u64;
            s.sync_bytes_sent = st.bytes_sent;
            s.sync_bytes_received = st.bytes_received;
            s.sync_waiting = st.sets.iter().map(|set| set.waiting as u64).sum();
            s.last_sync_unix = st.last_success.map(OffsetDateTime::unix_timestamp);
        }
        Live::Node(None) => {}
        Live::Hub(hub) => {
            s.role = "hub";
            let live = hub.live();
            s.sync_sessions = live.len() as u64;
            s.sync_bytes_sent = live.iter().map(|l| l.bytes_sent).sum();
            s.sync_bytes_received = live.iter().map(|l| l.bytes_received).sum();
        }
    }
    (s, state.metrics.clone())
}

/// Serves the admin routes on `listener` (a node's own admin listener) until `shutdown`,
/// after publishing its address for the CLI.
pub async fn serve(
    state: AdminState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), OpsError> {
    let files = AdminFiles::for_dir(&state.data_dir);
    attach_replication::hub::write_private(
        &files.address,
        listener.local_addr()?.to_string().as_bytes(),
    )?;
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    let _ = std::fs::remove_file(&files.address);
    Ok(())
}

/// The CLI side: finds the running process of `data_dir` and gets `path` from its admin
/// listener. `Ok(None)` when no process is running there (no address file, or nobody
/// answers at it).
pub async fn fetch(data_dir: &Path, path: &str) -> Result<Option<Vec<u8>>, OpsError> {
    let files = AdminFiles::for_dir(data_dir);
    let address = match std::fs::read_to_string(&files.address) {
        Ok(a) => a,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(OpsError::NotRunning(
                data_dir.to_owned(),
                format!(
                    "cannot read {}: {e} (run this as root or as the service's user, e.g. `sudo attach …`)",
                    files.address.display()
                ),
            ));
        }
    };
    let token = std::fs::read_to_string(&files.token).map_err(|e| {
        OpsError::NotRunning(
            data_dir.to_owned(),
            format!(
                "cannot read the admin token {}: {e} (run this as root or as the service's user, e.g. `sudo attach …`)",
                files.token.display()
            ),
        )
    })?;
    let url = format!("http://{}{path}", address.trim());
    let response = match reqwest::Client::new()
        .get(&url)
        .bearer_auth(token.trim())
        .send()
        .await
    {
        Ok(r) => r,
        // A stale address file: the process is gone.
        Err(e) if e.is_connect() => return Ok(None),
        Err(e) => return Err(OpsError::NotRunning(data_dir.to_owned(), e.to_string())),
    };
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| OpsError::Refused(format!("the answer was cut off: {e}")))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| status.to_string());
        return Err(OpsError::Refused(message));
    }
    Ok(Some(body.to_vec()))
}
