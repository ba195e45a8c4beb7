//! Node-local trees: state kept next to the documents that is never replicated (sessions,
//! per-peer sync state, the hub's records), behind a typed handle so that no crate outside
//! the store touches the storage engine.
//!
//! A [`LocalTree`] is a plain ordered map of bytes to bytes. Unlike document writes, its
//! writes are not flushed on their own: a caller that needs a write to survive a crash
//! calls [`LocalTree::flush`] after it.

use std::path::Path;

use super::StoreError;

/// Handle to one node-local tree. Cloning gives another handle to the same tree.
#[derive(Clone, Debug)]
pub struct LocalTree {
    tree: sled::Tree,
}

/// Writes to apply to a [`LocalTree`] atomically, with [`LocalTree::apply_batch`].
#[derive(Debug, Default)]
pub struct LocalBatch {
    batch: sled::Batch,
}

impl LocalBatch {
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.batch.insert(key.as_ref(), value.as_ref());
    }

    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.batch.remove(key.as_ref());
    }
}

/// The entries of a [`LocalTree`] (all, or those under a prefix), in key order.
pub struct LocalIter {
    iter: sled::Iter,
}

impl std::fmt::Debug for LocalIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIter").finish_non_exhaustive()
    }
}

/// A key and its value.
pub type LocalEntry = (Vec<u8>, Vec<u8>);

impl Iterator for LocalIter {
    type Item = Result<LocalEntry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.iter.next().map(|kv| {
            kv.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(Into::into)
        })
    }
}

impl LocalTree {
    pub(crate) fn open(db: &sled::Db, name: &'static str) -> Result<Self, StoreError> {
        Ok(Self {
            tree: db.open_tree(name)?,
        })
    }

    /// A tree in a database of its own that lives in memory and a temporary directory, and
    /// is gone once every handle to it is dropped (for tests).
    pub fn temporary(name: &'static str) -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Self::open(&db, name)
    }

    /// A tree in a database of its own in directory `dir` (created if need be), closed once
    /// every handle to it is dropped (for tests that reopen it or read its files).
    pub fn open_in(dir: &Path, name: &'static str) -> Result<Self, StoreError> {
        let db = crate::engine::open_db(dir, sled::Config::new())?;
        Self::open(&db, name)
    }

    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key)?.map(|v| v.to_vec()))
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), StoreError> {
        self.tree.insert(key, value.as_ref())?;
        Ok(())
    }

    /// Sets `key` to `new` (`None`: removes it) if its value is still `old` (`None`: absent).
    /// Returns whether it was.
    pub fn compare_and_swap(
        &self,
        key: impl AsRef<[u8]>,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        Ok(self.tree.compare_and_swap(key, old, new)?.is_ok())
    }

    /// Replaces the value of `key` with `f(current)` (`None`: removes it), atomically: `f`
    /// runs again if another writer changed the value meanwhile.
    pub fn update(
        &self,
        key: impl AsRef<[u8]>,
        f: impl FnMut(Option<&[u8]>) -> Option<Vec<u8>>,
    ) -> Result<(), StoreError> {
        self.tree.update_and_fetch(key, f)?;
        Ok(())
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> LocalIter {
        LocalIter {
            iter: self.tree.iter(),
        }
    }

    /// The entries whose key starts with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> LocalIter {
        LocalIter {
            iter: self.tree.scan_prefix(prefix),
        }
    }

    /// Applies every write of `batch`, or none.
    pub fn apply_batch(&self, batch: LocalBatch) -> Result<(), StoreError> {
        self.tree.apply_batch(batch.batch)?;
        Ok(())
    }

    /// Flushes everything written so far, to this and every other tree of the database, to
    /// the storage engine's log: it then survives the process being killed (this is not the
    /// fsync barrier that document writes wait for).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.tree.flush()?;
        Ok(())
    }
}
