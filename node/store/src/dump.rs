//! Every tree of a store, entry by entry: what a backup copies ([`DocStore::dump_trees`] for
//! a running store, [`StoppedStore`] for the directory of a stopped one) and what a restore
//! writes back ([`TreeRestore`]).
//!
//! A dump visits the trees in the engine's order, except that the document tree comes last:
//! the node-local trees (sessions, sync peers, hub records) only ever record what the
//! documents already hold, so reading them first never makes a copy claim more than its
//! documents have. Within a tree, entries come in key order.
//!
//! [`DocStore::dump_trees`]: crate::DocStore::dump_trees

use std::path::Path;

use super::StoreError;
use super::doc_store::DOCS_TREE;

/// One step of a dump: the start of a tree (by name), or an entry of the tree started last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeRecord<'a> {
    Tree(&'a [u8]),
    Entry { key: &'a [u8], value: &'a [u8] },
}

/// Hands every tree of `db` and its entries to `visit`, the document tree last.
pub(crate) fn dump_db<E: From<StoreError>>(
    db: &sled::Db,
    mut visit: impl FnMut(TreeRecord<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let mut names = db.tree_names();
    names.sort_by_key(|n| n.as_ref() == DOCS_TREE.as_bytes());
    for name in names {
        let tree = db.open_tree(&name).map_err(StoreError::from)?;
        visit(TreeRecord::Tree(&name))?;
        for kv in tree.iter() {
            let (k, v) = kv.map_err(StoreError::from)?;
            visit(TreeRecord::Entry { key: &k, value: &v })?;
        }
    }
    Ok(())
}

/// The store of a stopped process, opened directly to be read (it holds the store's lock on
/// the directory meanwhile, so no process can open it).
#[derive(Debug)]
pub struct StoppedStore {
    db: sled::Db,
}

impl StoppedStore {
    /// Opens the store in `path`; `Ok(None)` if `path` holds no store (nothing is created
    /// then). Fails if a running process has it open.
    pub fn open(path: &Path) -> Result<Option<Self>, StoreError> {
        if !path.join("db").exists() {
            return Ok(None);
        }
        let db = crate::engine::open_db(path, sled::Config::new())?;
        Ok(Some(Self { db }))
    }

    /// Hands every entry of every tree to `visit` (see the [module docs](self)).
    pub fn dump_trees<E: From<StoreError>>(
        &self,
        visit: impl FnMut(TreeRecord<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        dump_db(&self.db, visit)
    }
}

/// Entries written per batch while restoring.
const RESTORE_BATCH: usize = 10_000;

/// Writes a dump back into a new store: [`TreeRecord`]s in the order a dump produced them,
/// then [`TreeRestore::finish`].
#[derive(Debug)]
pub struct TreeRestore {
    db: sled::Db,
    tree: Option<sled::Tree>,
    batch: sled::Batch,
    pending: usize,
}

impl TreeRestore {
    /// Creates (or opens) the store in `path`.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: crate::engine::open_db(path, sled::Config::new())?,
            tree: None,
            batch: sled::Batch::default(),
            pending: 0,
        })
    }

    /// Whether a tree was started, so that an entry has a tree to go into.
    pub fn in_tree(&self) -> bool {
        self.tree.is_some()
    }

    /// Starts a tree, or writes an entry of the tree started last (entries are written in
    /// batches; [`TreeRestore::finish`] writes the last one).
    pub fn write(&mut self, record: TreeRecord<'_>) -> Result<(), StoreError> {
        match record {
            TreeRecord::Tree(name) => {
                if let Some(t) = self.tree.take() {
                    t.apply_batch(std::mem::take(&mut self.batch))?;
                }
                self.pending = 0;
                self.tree = Some(self.db.open_tree(name)?);
            }
            TreeRecord::Entry { key, value } => {
                let Some(tree) = &self.tree else {
                    return Err(StoreError::CorruptMeta("a restored entry outside any tree"));
                };
                self.batch.insert(key, value);
                self.pending += 1;
                if self.pending >= RESTORE_BATCH {
                    tree.apply_batch(std::mem::take(&mut self.batch))?;
                    self.pending = 0;
                }
            }
        }
        Ok(())
    }

    /// Writes what is left and flushes the store, then closes it.
    pub fn finish(self) -> Result<(), StoreError> {
        if let Some(t) = self.tree {
            t.apply_batch(self.batch)?;
        }
        self.db.flush()?;
        drop(self.db);
        Ok(())
    }
}
