//! `/c/{clinic}/sync`: how this node syncs with the provincial hub — enrolment, the
//! connection, what is waiting to go up, the nodes of the clinic on the LAN — and, for
//! account managers, enrolling with a code and "Try now".

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::error::{WebError, render};
use super::frame::{Frame, Layout};
use super::registry::{Done, Input, done, unprocessable, when};
use super::{FieldErrors, Web};
use crate::Query;
use crate::frame::CsrfForm;
use attach_app::AppError;
use attach_replication::SyncHandle;
use attach_replication::SyncStatus;
use attach_replication::actions::{self as sync_actions, NOT_RUNNING, SyncActionError};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{clinic}/sync", get(page))
        .route("/c/{clinic}/sync/enrol", post(enrol))
        .route("/c/{clinic}/sync/retry", post(retry))
}

const NOTICES: &[(&str, &str)] = &[
    (
        "enrolled",
        "The node is enrolled with the hub and starts syncing now.",
    ),
    ("retrying", "The node is trying the hub now."),
];

#[derive(Debug, Default, Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    hub: String,
    #[serde(default)]
    code: String,
}

/// One document set, ready to show.
#[derive(Debug, Clone)]
pub struct SetRow {
    pub set: String,
    pub waiting: usize,
    pub refused: String,
}

/// A node of the clinic on the LAN, ready to show.
#[derive(Debug, Clone)]
pub struct PeerRow {
    pub node: String,
    pub connected: bool,
    pub last_sync: String,
}

/// The sync status as the page shows it (texts, never store types).
#[derive(Debug, Clone)]
pub struct StatusView {
    pub enrolled: bool,
    pub hub: String,
    pub connected: bool,
    pub last_success: String,
    pub last_error: String,
    pub sets: Vec<SetRow>,
    pub traffic: String,
    pub lan_host: String,
    pub peers: Vec<PeerRow>,
}

impl From<SyncStatus> for StatusView {
    fn from(s: SyncStatus) -> Self {
        Self {
            enrolled: s.enrolled,
            hub: s.hub.unwrap_or_default(),
            connected: s.connected,
            last_success: s.last_success.map_or_else(|| "never".to_owned(), when),
            last_error: s.last_error.unwrap_or_default(),
            sets: s
                .sets
                .into_iter()
                .map(|x| SetRow {
                    set: x.set,
                    waiting: x.waiting,
                    refused: x.refused.unwrap_or_default(),
                })
                .collect(),
            traffic: format!(
                "{} sent, {} received since the node started",
                size(s.bytes_sent),
                size(s.bytes_received)
            ),
            lan_host: s.lan_host.unwrap_or_default(),
            peers: s
                .lan_peers
                .into_iter()
                .map(|p| PeerRow {
                    node: p.node.to_string(),
                    connected: p.connected,
                    last_sync: p.last_sync.map_or_else(|| "not yet".to_owned(), when),
                })
                .collect(),
        }
    }
}

/// A byte count for people: "512 B", "3.4 kB", "12.0 MB".
fn size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // Shown to one decimal: precision is not needed.
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

#[derive(Template)]
#[template(path = "sync.html")]
struct SyncPage {
    layout: Layout,
    base: String,
    manager: bool,
    /// `None`: the node runs without sync.
    status: Option<StatusView>,
    not_running: &'static str,
    fields: Vec<Input>,
    errors: FieldErrors,
}

/// Draws the page (`form`: what was typed, with its problems, when shown again).
async fn draw(
    web: &Web,
    handle: &SyncHandle,
    frame: Frame,
    form: EnrolForm,
    errors: FieldErrors,
) -> Result<Response, WebError> {
    let status = sync_actions::status(&web.app, handle, frame.who.user, frame.clinic).await?;
    let fields = vec![
        Input::new("enrol-", "hub", "Hub address", &form.hub)
            .required()
            .hint("host:port, as the hub administrator gave it, e.g. hub.example.ca:7443")
            .errors(&errors),
        Input::new("enrol-", "code", "Enrolment code", &form.code)
            .required()
            .hint("The one-time code from the hub administrator: 32 letters and digits.")
            .errors(&errors),
    ];
    Ok(render(&SyncPage {
        base: frame.base(),
        manager: frame.layout.is_manager(),
        status: status.map(StatusView::from),
        not_running: NOT_RUNNING,
        fields,
        errors,
        layout: frame.layout.with_section("sync"),
    }))
}

/// `/c/{clinic}/sync`
pub async fn page(
    State(web): State<Web>,
    Extension(handle): Extension<SyncHandle>,
    frame: Frame,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let mut frame = frame;
    frame.layout = frame.layout.with_notice(q.notice(NOTICES));
    draw(
        &web,
        &handle,
        frame,
        EnrolForm::default(),
        FieldErrors::default(),
    )
    .await
}

/// `POST /c/{clinic}/sync/enrol`: enrol with the hub. A problem with the address or the
/// code, or a hub that cannot be reached, shows the form again with what was typed.
pub async fn enrol(
    State(web): State<Web>,
    Extension(handle): Extension<SyncHandle>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<EnrolForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let errors =
        match sync_actions::enrol(&web.app, &handle, who, clinic, &form.hub, &form.code).await {
            Ok(_) => return Ok(done(&frame, "sync", "enrolled")),
            Err(SyncActionError::App(AppError::Invalid { problems, .. })) => {
                FieldErrors::from_problems(&problems)
            }
            Err(SyncActionError::Hub(message)) => {
                let mut errors = FieldErrors::default();
                errors.add("hub", &message);
                errors
            }
            Err(e) => return Err(e.into()),
        };
    Ok(unprocessable(
        draw(&web, &handle, frame, form, errors).await?,
    ))
}

/// `POST /c/{clinic}/sync/retry`: "Try now".
pub async fn retry(
    State(web): State<Web>,
    Extension(handle): Extension<SyncHandle>,
    frame: Frame,
    CsrfForm { .. }: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    sync_actions::retry(&web.app, &handle, frame.who.user, frame.clinic).await?;
    Ok(done(&frame, "sync", "retrying"))
}

impl From<SyncActionError> for WebError {
    fn from(e: SyncActionError) -> Self {
        match e {
            SyncActionError::NotRunning => AppError::Unavailable(NOT_RUNNING.to_owned()).into(),
            SyncActionError::Hub(message) => AppError::Unavailable(message).into(),
            SyncActionError::App(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(3_400), "3.4 kB");
        assert_eq!(size(12_000_000), "12.0 MB");
        assert_eq!(size(2_500_000_000), "2.5 GB");
    }
}
