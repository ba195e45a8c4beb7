//! The store layer's errors.

use super::DocId;

/// Why a store operation failed. Messages name document ids only, never document contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid document id: {reason}")]
    InvalidDocId { reason: &'static str },
    /// The stored bytes of this document could not be loaded. Other documents are unaffected.
    #[error("document {doc} is damaged and cannot be loaded")]
    Corrupt { doc: DocId },
    /// A change received from another replica could not be applied; nothing was written.
    #[error("a change received for document {doc} is invalid: {reason}")]
    BadChange { doc: DocId, reason: String },
    /// Changes whose dependencies this replica lacks; the others were stored.
    #[error("{count} change(s) for document {doc} depend on changes this node does not have")]
    MissingDependencies { doc: DocId, count: usize },
    #[error(
        "the data directory was written by an unsupported store format {found} (expected {expected})"
    )]
    FormatVersion { found: u32, expected: u32 },
    #[error("the store's metadata is damaged: {0}")]
    CorruptMeta(&'static str),
    #[error("storage engine error: {0}")]
    Engine(#[from] EngineError),
    #[error("disk error: {0}")]
    Io(#[from] std::io::Error),
}

/// Why [`DocStore::change`](super::DocStore::change) or `change_many` did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError<E> {
    /// The caller's closure refused the change; nothing was written.
    #[error("{0}")]
    Rejected(E),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A failure of the storage engine underneath the store, as its own message. Opaque, so
/// that no crate outside the store depends on the engine.
#[derive(Debug)]
pub struct EngineError(sled::Error);

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(EngineError(e))
    }
}
