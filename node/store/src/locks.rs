//! Per-document locks of the [`DocStore`](super::DocStore).
//!
//! A write holds the locks of its documents from loading them until their projections are
//! committed, through the durability wait: so nobody loads a document state that a crash
//! could still take back (a sync delta, a history, another write), and the projector sees
//! each document's projections in order. The locks are per document, not per hash shard: a
//! write never waits for a write of other documents, so batches from many sync sessions are
//! merged side by side and share one group commit. (Shard locks held through the fsync made
//! every 300-document batch at a hub wait for the batch before it: 300 documents hash into
//! most of 256 shards.)

use std::collections::HashSet;

use parking_lot::{Condvar, Mutex};

use super::DocId;

#[derive(Debug, Default)]
pub(crate) struct DocLocks {
    held: Mutex<HashSet<DocId>>,
    released: Condvar,
}

/// Holds the locks of some documents; releases them when dropped.
#[must_use = "the documents are unlocked when the guard is dropped"]
pub(crate) struct DocGuard<'a> {
    locks: &'a DocLocks,
    ids: Vec<DocId>,
}

impl DocLocks {
    /// Locks one document, waiting while another call holds it.
    pub(crate) fn lock(&self, id: &DocId) -> DocGuard<'_> {
        self.lock_all([id])
    }

    /// Locks every document of `ids` (duplicates allowed) at once: the call waits until none of
    /// them is held and then takes them all, so two calls locking overlapping sets can never
    /// each hold a part the other waits for.
    pub(crate) fn lock_all<'i>(&self, ids: impl IntoIterator<Item = &'i DocId>) -> DocGuard<'_> {
        let mut ids: Vec<DocId> = ids.into_iter().cloned().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut held = self.held.lock();
        while ids.iter().any(|id| held.contains(id)) {
            self.released.wait(&mut held);
        }
        held.extend(ids.iter().cloned());
        DocGuard { locks: self, ids }
    }
}

impl Drop for DocGuard<'_> {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        let mut held = self.locks.held.lock();
        for id in &self.ids {
            held.remove(id);
        }
        drop(held);
        self.locks.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn id(s: &str) -> DocId {
        DocId::parse(s).unwrap()
    }

    #[test]
    fn other_documents_never_wait_and_the_same_one_waits_for_release() {
        let locks = DocLocks::default();
        let a = id("clinic/a");
        let b = id("clinic/b");
        let held = locks.lock_all([&a, &a]);
        // Not the same document: taken at once, whatever its hash.
        drop(locks.lock(&b));
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let _g = locks.lock_all([&b, &a]);
                tx.send(()).unwrap();
            });
            assert!(
                rx.recv_timeout(Duration::from_millis(200)).is_err(),
                "a held document was locked twice"
            );
            drop(held);
            rx.recv_timeout(Duration::from_secs(10))
                .expect("released document was not handed over");
        });
        assert!(locks.held.lock().is_empty());
    }
}
