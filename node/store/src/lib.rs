//! DocStore: Automerge documents persisted in sled.
//!
//! One small document per clinic, account, provider panel and patient entry, loaded on demand.
//! Layout of the `docs-v1` tree, by key prefix:
//! - `s/<doc>`: snapshot (`Automerge::save`);
//! - `c/<doc>\0<u64 BE>`: change chunks written since the snapshot (`save_after`), in order;
//! - `p/<doc>`: the [`Projector`]'s bytes for the doc's current state;
//! - `f/<u64 BE>` → doc and `v/<doc>` → seq: the change feed, one entry per doc (its latest);
//! - `o/<family>\0<u64 BE>` → doc: the same feed entries by [`DocId::family`], so a peer whose
//!   scope is a few families reads only theirs (built at open for directories written before it);
//! - `h/<doc>`: the doc's heads (32-byte hashes, concatenated), so a sync peer that already has
//!   them is answered without loading the doc (absent for docs not written since it exists).
//!
//! **Invariant:** a doc exists iff its `s/` key exists; every write of a doc (snapshot or chunk,
//! projection, feed) is one sled batch, durable (fsynced) before the call returns.
//!
//! Node-local state that is never replicated lives in trees of its own next to these
//! ([`LocalTree`], from [`DocStore::local_tree`]); [`dump`] copies and restores every tree.
//! No crate outside this one uses sled.

pub mod actor;
mod doc_store;
pub mod dump;
mod durability;
mod engine;
mod error;
pub mod format;
mod id;
mod local;
mod locks;
#[cfg(test)]
mod tests;

pub use actor::{NodeId, actor_for, author_of};
pub use doc_store::{DocStore, FORMAT_VERSION, HistoryItem, Projector, StoreOptions};
pub use dump::{StoppedStore, TreeRecord, TreeRestore};
pub use error::{ChangeError, EngineError, StoreError};
pub use id::{DocId, MAX_DOC_ID_LEN};
pub use local::{LocalBatch, LocalEntry, LocalIter, LocalTree};
