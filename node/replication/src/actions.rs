//! The node's sync as people reach it, shared by the JSON API and the web pages: the
//! status, enrolment with the hub and "try now", each behind the app's authorization
//! check, and enrolment failures turned into words a clinic can act on.

use crate::ReplicationError;
use crate::node::SyncHandle;
use crate::node::{Enrolled, SyncStatus};
use attach_app::{App, AppError};
use attach_domain::{ClinicId, UserId};

/// What a page or the API says when the node runs without sync.
pub const NOT_RUNNING: &str = "This node runs without sync (it was started without its \
    background sync, e.g. as a demo), so nothing is sent to the provincial hub. Start it \
    with `attach node` to sync.";

/// Why a sync action was not done.
#[derive(Debug, thiserror::Error)]
pub enum SyncActionError {
    /// The node was started without its sync.
    #[error("{NOT_RUNNING}")]
    NotRunning,
    /// The hub could not be reached, or the connection to it failed.
    #[error("{0}")]
    Hub(String),
    #[error(transparent)]
    App(#[from] AppError),
}

/// The status of the node's sync, for a member of `clinic`; `None` when the node runs
/// without sync.
pub async fn status(
    app: &App,
    sync: &SyncHandle,
    who: UserId,
    clinic: ClinicId,
) -> Result<Option<SyncStatus>, AppError> {
    let sync = sync.0.clone();
    app.run(move |app| {
        app.may_view_sync(who, clinic)?;
        // Counting the changes waiting to go up reads the store: off the async workers.
        Ok(sync.map(|s| s.status()))
    })
    .await
}

/// An account manager enrols the node with the hub at `hub` using a one-time `code`.
pub async fn enrol(
    app: &App,
    sync: &SyncHandle,
    who: UserId,
    clinic: ClinicId,
    hub: &str,
    code: &str,
) -> Result<Enrolled, SyncActionError> {
    let hub = hub.to_owned();
    let hub = app
        .run(move |app| {
            app.may_manage_sync(who, clinic)?;
            attach_app::hub_address(&hub)
        })
        .await?;
    let sync = sync.0.clone().ok_or(SyncActionError::NotRunning)?;
    sync.enrol(&hub, code)
        .await
        .map_err(|e| enrol_error(e, &hub))
}

/// An account manager asks the sync to try the hub now instead of waiting.
pub async fn retry(
    app: &App,
    sync: &SyncHandle,
    who: UserId,
    clinic: ClinicId,
) -> Result<(), SyncActionError> {
    app.run(move |app| app.may_manage_sync(who, clinic)).await?;
    sync.0
        .as_ref()
        .ok_or(SyncActionError::NotRunning)?
        .retry_now();
    Ok(())
}

/// An enrolment failure: a problem with what was typed (the code or the hub address)
/// names the field; a hub that cannot be reached is a gateway failure.
fn enrol_error(e: ReplicationError, hub: &str) -> SyncActionError {
    use attach_sync::pki::PkiError;
    match e {
        ReplicationError::Pki(
            p @ (PkiError::CodeLength { .. } | PkiError::CodeCharacter { .. }),
        ) => AppError::invalid("code", p.to_string()).into(),
        ReplicationError::Refused(text) => AppError::invalid(
            "code",
            format!("the hub refused this code: {text}; ask the hub administrator for a new one"),
        )
        .into(),
        ReplicationError::Invalid(text) => AppError::invalid("hub", text).into(),
        ReplicationError::Unreachable(_) | ReplicationError::Timeout(_) => {
            SyncActionError::Hub(format!(
                "The hub at {hub} cannot be reached ({e}). Check the address, and that this \
                 node can reach the internet, then try again."
            ))
        }
        ReplicationError::Sync(_) | ReplicationError::Handshake(_) => SyncActionError::Hub(
            format!("The connection to the hub at {hub} failed during enrolment ({e}). Try again."),
        ),
        other => AppError::internal("enrolment", other).into(),
    }
}
