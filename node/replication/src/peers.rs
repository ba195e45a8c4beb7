//! Per-peer sync state, node-local (never replicated): where to resume each peer's change
//! feed, the heads each peer is known to have per document, and where the peer stands in
//! ours. Lives in its own node-local tree next to the documents.
//!
//! Losing any of it costs only bandwidth (changes are resent and applying them again is a
//! no-op); it never moves ahead of a durable apply, so it never causes a change to be skipped.

use attach_store::{DocStore, LocalTree, StoreError};
use attach_sync::wire::Hash;
use attach_sync::{NodeId, ReplicaError};

const TREE: &str = "sync-peers-v1";

/// Handle to the per-peer state tree.
#[derive(Clone, Debug)]
pub struct PeerStore {
    tree: LocalTree,
}

fn key(tag: u8, peer: NodeId, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(17 + rest.len());
    k.push(tag);
    k.extend_from_slice(&peer);
    k.extend_from_slice(rest);
    k
}

fn storage(e: StoreError) -> ReplicaError {
    ReplicaError::Storage(e.to_string())
}

fn be_u64(v: &[u8]) -> u64 {
    v.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

impl PeerStore {
    pub fn open(store: &DocStore) -> Result<Self, StoreError> {
        Ok(Self {
            tree: store.local_tree(TREE)?,
        })
    }

    /// Where to resume receiving `peer`'s feed.
    pub fn resume_point(&self, peer: NodeId) -> Result<u64, ReplicaError> {
        Ok(self
            .tree
            .get(key(b'r', peer, &[]))
            .map_err(storage)?
            .map(|v| be_u64(&v))
            .unwrap_or(0))
    }

    /// Records (and flushes) that `peer`'s feed is applied up to `upto`.
    pub fn set_resume_point(&self, peer: NodeId, upto: u64) -> Result<(), ReplicaError> {
        self.tree
            .insert(key(b'r', peer, &[]), upto.to_be_bytes())
            .map_err(storage)?;
        self.tree.flush().map_err(storage)?;
        Ok(())
    }

    /// How far `peer` has applied our feed, as it last told us.
    pub fn peer_has(&self, peer: NodeId) -> Result<Option<u64>, ReplicaError> {
        Ok(self
            .tree
            .get(key(b'u', peer, &[]))
            .map_err(storage)?
            .map(|v| be_u64(&v)))
    }

    pub fn set_peer_has(&self, peer: NodeId, upto: u64) -> Result<(), ReplicaError> {
        self.tree
            .insert(key(b'u', peer, &[]), upto.to_be_bytes())
            .map_err(storage)?;
        Ok(())
    }

    /// The hub's node id, once a session has told it.
    pub fn hub_node(&self) -> Result<Option<NodeId>, ReplicaError> {
        Ok(self
            .tree
            .get(b"hub")
            .map_err(storage)?
            .and_then(|v| NodeId::try_from(v.as_slice()).ok()))
    }

    pub fn set_hub_node(&self, hub: NodeId) -> Result<(), ReplicaError> {
        self.tree.insert(b"hub", hub).map_err(storage)?;
        Ok(())
    }

    pub fn shared_heads(
        &self,
        peer: NodeId,
        docs: &[String],
    ) -> Result<Vec<Vec<Hash>>, ReplicaError> {
        docs.iter()
            .map(|d| {
                let v = self
                    .tree
                    .get(key(b'h', peer, d.as_bytes()))
                    .map_err(storage)?;
                Ok(v.map(|v| {
                    v.chunks_exact(32)
                        .filter_map(|c| <Hash>::try_from(c).ok())
                        .collect()
                })
                .unwrap_or_default())
            })
            .collect()
    }

    /// Adds heads `peer` has, merged atomically per document with what is recorded.
    pub fn add_shared_heads(
        &self,
        peer: NodeId,
        heads: &[(String, Vec<Hash>)],
    ) -> Result<(), ReplicaError> {
        for (doc, add) in heads {
            self.tree
                .update(key(b'h', peer, doc.as_bytes()), |old| {
                    let old: Vec<Hash> = old
                        .unwrap_or_default()
                        .chunks_exact(32)
                        .filter_map(|c| <Hash>::try_from(c).ok())
                        .collect();
                    Some(attach_sync::merge_heads(&old, add).concat())
                })
                .map_err(storage)?;
        }
        Ok(())
    }
}
