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

pub mod actor;
mod doc_store;
mod durability;
mod error;
pub mod format;
mod id;
mod locks;
#[cfg(test)]
mod tests;

pub use actor::{NodeId, actor_for, author_of};
pub use doc_store::DOCS_TREE;
pub use doc_store::{DocStore, FORMAT_VERSION, HistoryItem, Projector, StoreOptions};
pub use error::{ChangeError, StoreError};
pub use id::{DocId, MAX_DOC_ID_LEN};
