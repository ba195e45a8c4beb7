//! The node's document store as a sync replica, and the per-peer policies.

use std::sync::Arc;

use attach_sync::wire::Hash;
use attach_sync::{ApplyError, Delta, NodeId, Policy, Replica, ReplicaError};
use automerge::{Change, ChangeHash};

use super::peers::PeerStore;
use attach_app::{App, DocSet};
use attach_domain::ClinicId;
use attach_store::{DocId, StoreError};

/// The store of an [`App`] (a clinic node or the hub) as seen by the sync engine.
#[derive(Clone, Debug)]
pub struct StoreReplica {
    app: App,
    peers: PeerStore,
}

impl StoreReplica {
    pub fn new(app: App) -> Result<Self, StoreError> {
        let peers = PeerStore::open(app.doc_store())?;
        Ok(Self { app, peers })
    }

    pub fn peers(&self) -> &PeerStore {
        &self.peers
    }

    pub fn app(&self) -> &App {
        &self.app
    }
}

fn replica_error(e: StoreError) -> ReplicaError {
    match e {
        StoreError::Corrupt { doc } => ReplicaError::Damaged(doc.as_str().to_owned()),
        other => ReplicaError::Storage(other.to_string()),
    }
}

fn doc_id(doc: &str) -> Result<DocId, ReplicaError> {
    DocId::parse(doc).map_err(|_| ReplicaError::Damaged(doc.to_owned()))
}

impl Replica for StoreReplica {
    fn node_id(&self) -> NodeId {
        self.app.doc_store().node_id().0
    }

    fn feed_position(&self) -> Result<u64, ReplicaError> {
        Ok(self.app.doc_store().feed_position())
    }

    fn changed_since(&self, after: u64, limit: usize) -> Result<Vec<(u64, String)>, ReplicaError> {
        Ok(self
            .app
            .doc_store()
            .changed_since(after, limit)
            .map_err(replica_error)?
            .into_iter()
            .map(|(s, d)| (s, d.as_str().to_owned()))
            .collect())
    }

    fn delta(&self, doc: &str, have: &[Hash]) -> Result<Option<Delta>, ReplicaError> {
        let id = doc_id(doc)?;
        let have: Vec<ChangeHash> = have.iter().map(|h| ChangeHash(*h)).collect();
        Ok(self
            .app
            .doc_store()
            .delta(&id, &have)
            .map_err(replica_error)?
            .map(|(changes, heads)| Delta {
                changes,
                heads: heads.iter().map(|h| h.0).collect(),
            }))
    }

    fn heads(&self, doc: &str) -> Result<Vec<Hash>, ReplicaError> {
        let id = doc_id(doc)?;
        Ok(self
            .app
            .doc_store()
            .heads(&id)
            .map_err(replica_error)?
            .iter()
            .map(|h| h.0)
            .collect())
    }

    fn apply(&self, docs: Vec<(String, Vec<Change>)>) -> Vec<Result<(), ApplyError>> {
        let mut results: Vec<Option<Result<(), ApplyError>>> = Vec::with_capacity(docs.len());
        let mut valid = Vec::new();
        let mut slots = Vec::new();
        for (doc, changes) in docs {
            match DocId::parse(&doc) {
                Ok(id) => {
                    slots.push(results.len());
                    results.push(None);
                    valid.push((id, changes));
                }
                Err(e) => results.push(Some(Err(ApplyError::BadChange(e.to_string())))),
            }
        }
        for (slot, r) in slots
            .into_iter()
            .zip(self.app.doc_store().apply_changes_many(valid))
        {
            results[slot] = Some(r.map_err(|e| match e {
                StoreError::MissingDependencies { count, .. } => {
                    ApplyError::MissingDependencies(count)
                }
                StoreError::BadChange { reason, .. } => ApplyError::BadChange(reason),
                other => ApplyError::Replica(replica_error(other)),
            }));
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(ApplyError::BadChange("not applied".into()))))
            .collect()
    }

    fn resume_point(&self, peer: NodeId) -> Result<u64, ReplicaError> {
        self.peers.resume_point(peer)
    }

    fn set_resume_point(&self, peer: NodeId, upto: u64) -> Result<(), ReplicaError> {
        self.peers.set_resume_point(peer, upto)
    }

    fn shared_heads(&self, peer: NodeId, docs: &[String]) -> Result<Vec<Vec<Hash>>, ReplicaError> {
        self.peers.shared_heads(peer, docs)
    }

    fn add_shared_heads(
        &self,
        peer: NodeId,
        heads: &[(String, Vec<Hash>)],
    ) -> Result<(), ReplicaError> {
        self.peers.add_shared_heads(peer, heads)
    }
}

/// Clinic documents first: they carry the member lists that grant access to the rest.
fn priority(doc: &str) -> u8 {
    match DocSet::of(doc) {
        DocSet::Clinic if doc.matches('/').count() == 1 => 0,
        DocSet::Accounts => 1,
        _ => 2,
    }
}

/// A peer that is one clinic's node, as seen by the hub or by a LAN peer of that clinic:
/// it may read and write exactly that clinic's scope, and a LAN peer also the clinic's
/// clinical documents (`lan`), which never go to or come from the hub.
#[derive(Debug, Clone)]
pub struct ClinicPolicy {
    pub app: App,
    pub clinic: ClinicId,
    /// The peer is another node of the clinic (on the LAN), not seen by the hub.
    pub lan: bool,
}

impl ClinicPolicy {
    fn in_scope(&self, doc: &str) -> bool {
        if self.lan {
            self.app.in_lan_scope(self.clinic, doc)
        } else {
            self.app.in_clinic_scope(self.clinic, doc)
        }
    }
}

impl Policy for ClinicPolicy {
    fn may_read(&self, doc: &str) -> bool {
        self.in_scope(doc)
    }
    fn may_write(&self, doc: &str) -> bool {
        self.in_scope(doc)
    }
    fn readable(&self) -> Result<Vec<String>, ReplicaError> {
        if self.lan {
            self.app.lan_scope(self.clinic)
        } else {
            self.app.clinic_scope(self.clinic)
        }
        .map_err(replica_error)
    }
    fn changed_in_scope(
        &self,
        after: u64,
        upto: u64,
    ) -> Result<Option<Vec<(u64, String)>>, ReplicaError> {
        let changed = if self.lan {
            self.app.lan_changed_since(self.clinic, after, upto)
        } else {
            self.app.clinic_changed_since(self.clinic, after, upto)
        }
        .map_err(replica_error)?;
        Ok(Some(
            changed
                .into_iter()
                .map(|(seq, doc)| (seq, doc.as_str().to_owned()))
                .collect(),
        ))
    }
    fn priority(&self, doc: &str) -> u8 {
        priority(doc)
    }
}

/// The hub, as seen by a clinic node: it may have everything the node holds but patients'
/// clinical records, and send anything else (it only sends what the clinic may read, and
/// the node trusts it).
#[derive(Debug, Clone)]
pub struct HubPolicy {
    pub app: App,
}

impl Policy for HubPolicy {
    fn may_read(&self, doc: &str) -> bool {
        !doc.starts_with(attach_schema::ids::CLINICAL)
    }
    fn may_write(&self, doc: &str) -> bool {
        !doc.starts_with(attach_schema::ids::CLINICAL) && DocId::parse(doc).is_ok()
    }
    fn readable(&self) -> Result<Vec<String>, ReplicaError> {
        let store = self.app.doc_store();
        let mut out = Vec::new();
        for prefix in attach_schema::ids::SHARED {
            out.extend(
                store
                    .ids_with_prefix(prefix)
                    .map_err(replica_error)?
                    .into_iter()
                    .map(|d| d.as_str().to_owned()),
            );
        }
        Ok(out)
    }
    fn priority(&self, doc: &str) -> u8 {
        priority(doc)
    }
}

/// Shares a replica as the trait object sessions take.
pub fn shared(replica: &StoreReplica) -> Arc<dyn Replica> {
    Arc::new(replica.clone())
}
