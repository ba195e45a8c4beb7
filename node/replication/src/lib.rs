//! Replication: the node's and the hub's side of sync. The `attach-sync` crate knows
//! documents and peers; this module supplies what it cannot know — which documents a
//! clinic's node may read and write (from the merged clinic documents), the store as a
//! replica, the hub's enrolment records — and runs the hub listener, the node's background
//! sync and its status.
//!
//! Everything received is written through `DocStore::apply_changes_many`, the same store
//! API local edits use, so the read model, the merge rules and the conflict records are
//! recomputed after every merge on every replica.

pub mod actions;
pub mod admin;
pub mod hub;
pub mod hub_state;
pub mod lan;
pub mod node;
pub mod peers;
pub mod replica;

pub use hub::{Hub, HubFiles};
pub use node::{NodeFiles, NodeSync, SyncHandle, SyncStatus};
pub use replica::StoreReplica;

/// Why a replication step failed. Messages are for the operator and name no patient data.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("cannot connect: {0}")]
    Unreachable(String),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("TLS: {0}")]
    Handshake(std::io::Error),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Sync(#[from] attach_sync::SyncError),
    #[error(transparent)]
    Pki(#[from] attach_sync::pki::PkiError),
    #[error(transparent)]
    Tls(#[from] attach_sync::tls::TlsError),
    #[error("storage: {0}")]
    Store(#[from] attach_store::StoreError),
    #[error(transparent)]
    Replica(#[from] attach_sync::ReplicaError),
    #[error("hub records: {0}")]
    Enrol(#[from] hub_state::EnrolError),
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
}
