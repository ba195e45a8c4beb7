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

    /// Records that `peer` also has these heads, per document. Implementations merge them
    /// into what is already recorded with [`merge_heads`], atomically: a session records
    /// both what the peer acknowledged and what it sent us, concurrently, and neither may
    /// overwrite the other (a lost record makes the next round send the peer its own
    /// changes back).
    fn add_shared_heads(
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
    /// The documents the peer may read that changed after feed position `after` and at or
    /// before `upto`, as `(position, doc)` ascending, when the policy can list them without a
    /// walk of the replica's whole change feed (a hub serving one clinic of many). `None`
    /// (the default): the session walks [`Replica::changed_since`] and filters it by
    /// [`Policy::may_read`].
    fn changed_in_scope(
        &self,
        _after: u64,
        _upto: u64,
    ) -> Result<Option<Vec<(u64, String)>>, ReplicaError> {
        Ok(None)
    }
    /// Order in which documents are sent and applied, lowest first: documents that grant
    /// rights over others (a clinic's member list) go before the documents they grant.
    fn priority(&self, _doc: &str) -> u8 {
        1
    }
}

/// How many heads are kept per peer and document before older records are dropped.
pub const MAX_SHARED_HEADS: usize = 16;

/// `old` and `add` together (sorted, without duplicates). Every hash in either is a change
/// the peer has, so the union is still true; superseded ancestors are not pruned (that
/// needs the document), so past [`MAX_SHARED_HEADS`] only `add` is kept — a smaller set
/// that is still true, at worst costing a few resent changes.
pub fn merge_heads(old: &[Hash], add: &[Hash]) -> Vec<Hash> {
    let mut out: Vec<Hash> = old.iter().chain(add).copied().collect();
    out.sort_unstable();
    out.dedup();
    if out.len() > MAX_SHARED_HEADS {
        out = add.to_vec();
        out.sort_unstable();
        out.dedup();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_heads_keep_both_records_and_stay_bounded() {
        assert_eq!(merge_heads(&[[1; 32]], &[[2; 32]]), vec![[1; 32], [2; 32]]);
        assert_eq!(merge_heads(&[[2; 32]], &[[2; 32]]), vec![[2; 32]]);
        let many: Vec<Hash> = (0..MAX_SHARED_HEADS as u8).map(|i| [i; 32]).collect();
        assert_eq!(merge_heads(&many, &[[200; 32]]), vec![[200; 32]]);
    }
}
