//! What the sync engine needs from the replica it runs on: documents by id, a change feed,
//! durable batched application of remote changes, and per-peer state. The node crate
//! implements it over its document store; tests implement it in memory.
//!
//! Documents are named by opaque string ids; the engine never looks inside them.

use automerge::Change;
use thiserror::Error;

use crate::wire::Hash;

/// The 16-byte id of a replica (the store's node id).
pub type NodeId = [u8; 16];

/// A replica's failure, in words for a status page.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReplicaError {
    /// Storage failed (disk full, I/O error); the session ends and is retried later.
    #[error("storage failed: {0}")]
    Storage(String),
    /// One document cannot be loaded; the others are unaffected.
    #[error("document {0} is damaged")]
    Damaged(String),
}

/// Why one document's changes were not applied.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// Some changes depend on changes this replica lacks; what could be applied was.
    #[error("{0} changes wait for earlier changes")]
    MissingDependencies(usize),
    /// The changes do not apply to the document (or it is damaged here).
    #[error("bad change: {0}")]
    BadChange(String),
    /// Storage failed.
    #[error(transparent)]
    Replica(#[from] ReplicaError),
}

/// The changes of one document a peer lacks, and the heads they lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// Raw Automerge changes in dependency order.
    pub changes: Vec<Vec<u8>>,
    /// The document's heads when the delta was taken: once the peer has applied the delta,
    /// it has everything these heads cover.
    pub heads: Vec<Hash>,
}

/// The storage side of sync. Every method may block (the engine calls them off the async
/// worker threads).
pub trait Replica: Send + Sync + 'static {
    /// This replica's id.
    fn node_id(&self) -> NodeId;

    /// The position of the last durable entry of the change feed.
    fn feed_position(&self) -> Result<u64, ReplicaError>;

    /// `(position, doc)` of the documents changed after `after`, ascending, at most `limit`.
    fn changed_since(&self, after: u64, limit: usize) -> Result<Vec<(u64, String)>, ReplicaError>;

    /// The changes of `doc` not covered by `have` (hashes this replica does not know are
    /// ignored), or `None` when the document does not exist here.
    fn delta(&self, doc: &str, have: &[Hash]) -> Result<Option<Delta>, ReplicaError>;

    /// The document's heads (empty if it does not exist).
    fn heads(&self, doc: &str) -> Result<Vec<Hash>, ReplicaError>;

    /// Applies the changes of many documents durably (one write for all), one result per
    /// document in the order given. Changes already present are no-ops.
    fn apply(&self, docs: Vec<(String, Vec<Change>)>) -> Vec<Result<(), ApplyError>>;

    /// Where to resume receiving `peer`'s change feed (0: from the beginning).
    fn resume_point(&self, peer: NodeId) -> Result<u64, ReplicaError>;

    /// Durably records that `peer`'s change feed is applied up to `upto`.
    fn set_resume_point(&self, peer: NodeId, upto: u64) -> Result<(), ReplicaError>;

    /// The heads `peer` is known to have for each of `docs` (empty where unknown).
    fn shared_heads(&self, peer: NodeId, docs: &[String]) -> Result<Vec<Vec<Hash>>, ReplicaError>;

    /// Records heads `peer` is known to have.
    fn set_shared_heads(
        &self,
        peer: NodeId,
        heads: &[(String, Vec<Hash>)],
    ) -> Result<(), ReplicaError>;
}

/// What one peer may see and change, decided by the layer that knows what documents mean.
pub trait Policy: Send + Sync + 'static {
    /// May the peer receive this document?
    fn may_read(&self, doc: &str) -> bool;
    /// May the peer change this document?
    fn may_write(&self, doc: &str) -> bool;
    /// Every document the peer may read, for a first full sync.
    fn readable(&self) -> Result<Vec<String>, ReplicaError>;
    /// Order in which documents are sent and applied, lowest first: documents that grant
    /// rights over others (a clinic's member list) go before the documents they grant.
    fn priority(&self, _doc: &str) -> u8 {
        1
    }
}
