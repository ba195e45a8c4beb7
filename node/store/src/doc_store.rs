//! `DocStore`: small Automerge documents, loaded on demand, persisted durably in sled.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{Automerge, Change, ChangeHash, ReadDoc};
use parking_lot::Mutex;
use sled::IVec;
use tracing::{debug, instrument, warn};
use uuid::Uuid;

use super::dump::{self, TreeRecord};
use super::durability::{Durability, fsync_dir};
use super::local::LocalTree;
use super::locks::{DocGuard, DocLocks};
use super::{ChangeError, DocId, NodeId, StoreError, actor_for, author_of, id};

/// Version of the on-disk layout of `docs-v1` / `meta-v1`.
pub const FORMAT_VERSION: u32 = 1;
pub(crate) const DOCS_TREE: &str = "docs-v1";
const META_TREE: &str = "meta-v1";
const META_NODE_ID: &[u8] = b"node-id";
const META_FORMAT: &[u8] = b"format-version";
const META_PROJECTOR: &[u8] = b"projector-version";
/// Which derived indexes (`o/` family feed) have been built for the docs stored before them.
const META_INDEXES: &[u8] = b"indexes-version";
const INDEXES_VERSION: u32 = 1;

/// Turns a document's merged state into the bytes other layers read (e.g. an index row).
pub trait Projector: Send + Sync + 'static {
    /// Version of the projection format; when the stored version differs, open() re-projects every doc.
    fn version(&self) -> u32;
    /// Pure: the bytes to persist for this doc, computed from its merged state. Persisted atomically with each change.
    fn project(&self, id: &DocId, doc: &Automerge) -> Vec<u8>;
    /// Called after the doc's change is durable (and at open, once per stored projection, in key order), under the doc's lock.
    fn committed(&self, id: &DocId, projection: &[u8]);
}

/// Tuning of a [`DocStore`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Bytes of sled's page cache (sled's own default is 1 GiB).
    pub cache_capacity_bytes: u64,
    /// A document with more change chunks than this is rewritten as one snapshot.
    pub compact_after_chunks: usize,
    /// How often sled's background thread flushes, in ms. Durability does not depend on it.
    pub flush_every_ms: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 32 * 1024 * 1024,
            compact_after_chunks: 32,
            flush_every_ms: Some(500),
        }
    }
}

/// A document's changes beyond some heads (raw bytes, dependency order) and its heads.
pub type DocDelta = (Vec<Vec<u8>>, Vec<ChangeHash>);

/// One change in a document's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryItem {
    pub hash: ChangeHash,
    /// The user who made the change, `None` for an actor Attach did not make.
    pub user: Option<Uuid>,
    /// The node the change was made on.
    pub node: Option<NodeId>,
    /// When, in unix seconds (the author's clock).
    pub time: i64,
    pub message: Option<String>,
}

/// Cloneable handle to the document store.
#[derive(Clone)]
pub struct DocStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DocStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocStore")
            .field("node_id", &self.inner.node_id)
            .finish_non_exhaustive()
    }
}

struct Inner {
    db: sled::Db,
    docs: sled::Tree,
    node_id: NodeId,
    opts: StoreOptions,
    projector: Arc<dyn Projector>,
    /// Per-document locks, held by a write until its projections are committed.
    locks: DocLocks,
    /// Serialises feed-seq allocation with batch application, so feed entries become visible
    /// in seq order.
    apply: Mutex<()>,
    next_feed: AtomicU64,
    durability: Durability,
    /// Told the durable feed position after every durable write (sync waits on it).
    feed_watch: tokio::sync::watch::Sender<u64>,
}

/// A document as loaded from sled, with what is needed to write its next change.
struct Loaded {
    doc: Automerge,
    /// False for a document that does not exist yet.
    stored: bool,
    chunk_keys: Vec<IVec>,
    next_chunk: u64,
    feed_seq: Option<u64>,
}

/// Each committed document and its encoded projection, for `Projector::committed`.
type Projections = Vec<(DocId, Vec<u8>)>;

/// Writes staged for one sled batch; change-feed entries are added when it is applied.
#[derive(Default)]
struct Pending {
    batch: sled::Batch,
    /// Docs that get a new feed entry, with their previous feed seq.
    feed: Vec<(DocId, Option<u64>)>,
    /// Projections to pass to `Projector::committed` once durable.
    committed: Vec<(DocId, Vec<u8>)>,
}

impl Pending {
    fn stage(&mut self, w: DocWrite) {
        if let Some(snapshot) = w.snapshot {
            self.batch.insert(snapshot_key(&w.id), snapshot);
        }
        for k in w.remove_chunks {
            self.batch.remove(k);
        }
        if let Some((n, bytes)) = w.chunk {
            self.batch.insert(chunk_key(&w.id, n), bytes);
        }
        self.batch.insert(heads_key(&w.id), w.heads);
        self.batch
            .insert(projection_key(&w.id), w.projection.as_slice());
        if w.feed {
            self.feed.push((w.id.clone(), w.old_feed));
            self.committed.push((w.id, w.projection));
        }
    }
}

/// Everything one document's write puts into the batch.
struct DocWrite {
    id: DocId,
    snapshot: Option<Vec<u8>>,
    chunk: Option<(u64, Vec<u8>)>,
    remove_chunks: Vec<IVec>,
    projection: Vec<u8>,
    /// The doc's heads after the write, concatenated (the `h/` index).
    heads: Vec<u8>,
    /// Add a change-feed entry (replacing `old_feed`).
    feed: bool,
    old_feed: Option<u64>,
}

// Keys.
fn snapshot_key(id: &DocId) -> Vec<u8> {
    [b"s/", id.as_str().as_bytes()].concat()
}
fn chunk_prefix(id: &DocId) -> Vec<u8> {
    [b"c/", id.as_str().as_bytes(), b"\0"].concat()
}
fn chunk_key(id: &DocId, seq: u64) -> Vec<u8> {
    [chunk_prefix(id), seq.to_be_bytes().to_vec()].concat()
}
fn projection_key(id: &DocId) -> Vec<u8> {
    [b"p/", id.as_str().as_bytes()].concat()
}
fn feed_key(seq: u64) -> Vec<u8> {
    [b"f/".as_slice(), &seq.to_be_bytes()].concat()
}
fn version_key(id: &DocId) -> Vec<u8> {
    [b"v/", id.as_str().as_bytes()].concat()
}
fn heads_key(id: &DocId) -> Vec<u8> {
    [b"h/", id.as_str().as_bytes()].concat()
}
fn family_prefix(family: &str) -> Vec<u8> {
    [b"o/", family.as_bytes(), b"\0"].concat()
}
fn family_feed_key(id: &DocId, seq: u64) -> Vec<u8> {
    [family_prefix(id.family()), seq.to_be_bytes().to_vec()].concat()
}
fn encode_heads(heads: &[ChangeHash]) -> Vec<u8> {
    heads.iter().flat_map(|h| h.0).collect()
}
fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}
fn be_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}
fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Where the time of one `apply_changes_many` or `change_many` call went, for profiling a
/// busy hub or a large import (`ATTACH_LOG=attach::store=debug`). Counts only.
#[derive(Default)]
struct BatchTiming {
    docs: usize,
    /// Waiting for the documents' locks.
    lock: Duration,
    /// Loading, merging or changing, saving and projecting the documents.
    merge: Duration,
    /// Waiting for the apply lock and applying the sled batch.
    write: Duration,
    /// Waiting for the group commit (flush + fsync) that covers the batch.
    durable: Duration,
    /// Handing the projections to the read model.
    commit: Duration,
}

impl BatchTiming {
    fn report(&self, what: &'static str) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        debug!(
            docs = self.docs,
            lock_ms = ms(self.lock),
            merge_ms = ms(self.merge),
            write_ms = ms(self.write),
            durable_ms = ms(self.durable),
            commit_ms = ms(self.commit),
            "{what} a batch"
        );
    }
}

/// Split concatenated change chunks (`save_after` output) into changes, checking each one's
/// checksum. `None` if the bytes are not a sequence of valid changes.
fn split_changes(mut bytes: &[u8]) -> Option<Vec<Change>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut changes = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 9 || bytes[..4] != MAGIC {
            return None;
        }
        // Header: magic, 4-byte checksum, chunk type, ULEB128 body length.
        let mut len: u64 = 0;
        let mut pos = 9;
        let mut shift = 0;
        loop {
            let b = *bytes.get(pos)?;
            pos += 1;
            len |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        let end = pos.checked_add(usize::try_from(len).ok()?)?;
        let piece = bytes.get(..end)?;
        let change = catch_unwind(|| Change::from_bytes(piece.to_vec()))
            .ok()?
            .ok()?;
        if change.hash().0[..4] != piece[4..8] {
            return None;
        }
        changes.push(change);
        bytes = &bytes[end..];
    }
    Some(changes)
}

/// Apply changes one per call (the memory cliff in docs/building-blocks.md), guarding against panics.
fn apply_one_by_one(doc: &mut Automerge, changes: Vec<Change>) -> Result<(), String> {
    for change in changes {
        match catch_unwind(AssertUnwindSafe(|| doc.apply_changes([change]))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("automerge panicked while applying it".to_owned()),
        }
    }
    Ok(())
}

fn guarded<T>(id: &DocId, f: impl FnOnce() -> T) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        warn!(doc = %id, "automerge panicked");
        StoreError::Corrupt { doc: id.clone() }
    })
}

impl DocStore {
    /// Open (or create) the store in directory `path`.
    #[instrument(skip_all)]
    pub fn open(
        path: &Path,
        opts: StoreOptions,
        projector: Arc<dyn Projector>,
    ) -> Result<Self, StoreError> {
        if !path.exists() {
            std::fs::create_dir_all(path)?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
        }
        let db = crate::engine::open_db(
            path,
            sled::Config::new()
                .cache_capacity(opts.cache_capacity_bytes)
                .flush_every_ms(opts.flush_every_ms),
        )?;
        let docs = db.open_tree(DOCS_TREE)?;
        let meta = db.open_tree(META_TREE)?;

        let node_id = match meta.get(META_NODE_ID)? {
            Some(v) => NodeId(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StoreError::CorruptMeta("node id"))?,
            ),
            None => {
                let id = NodeId::random();
                meta.insert(META_NODE_ID, &id.0[..])?;
                meta.insert(META_FORMAT, &FORMAT_VERSION.to_be_bytes()[..])?;
                id
            }
        };
        let format = meta
            .get(META_FORMAT)?
            .and_then(|v| be_u32(&v))
            .ok_or(StoreError::CorruptMeta("format version"))?;
        if format != FORMAT_VERSION {
            return Err(StoreError::FormatVersion {
                found: format,
                expected: FORMAT_VERSION,
            });
        }
        let last_feed = match docs.scan_prefix(b"f/").next_back() {
            Some(kv) => be_u64(&kv?.0[2..]).ok_or(StoreError::CorruptMeta("change feed"))?,
            None => 0,
        };
        // Everything already in sled (including the meta written above) becomes durable here.
        let durability = Durability::open(path, &db, last_feed)?;
        let store = Self {
            inner: Arc::new(Inner {
                db,
                docs,
                node_id,
                opts,
                projector,
                locks: DocLocks::default(),
                apply: Mutex::new(()),
                next_feed: AtomicU64::new(last_feed + 1),
                durability,
                feed_watch: tokio::sync::watch::channel(last_feed).0,
            }),
        };

        let indexes = meta.get(META_INDEXES)?.and_then(|v| be_u32(&v));
        if indexes != Some(INDEXES_VERSION) {
            store.build_family_feed()?;
            meta.insert(META_INDEXES, &INDEXES_VERSION.to_be_bytes()[..])?;
            store.durable(0)?;
        }
        let stored_projector = meta.get(META_PROJECTOR)?.and_then(|v| be_u32(&v));
        let version = store.inner.projector.version();
        if stored_projector != Some(version) {
            store.reproject_all()?;
            meta.insert(META_PROJECTOR, &version.to_be_bytes()[..])?;
            store.durable(0)?;
        }
        for kv in store.inner.docs.scan_prefix(b"p/") {
            let (k, v) = kv?;
            let Some(id) = std::str::from_utf8(&k[2..])
                .ok()
                .and_then(|s| DocId::parse(s).ok())
            else {
                return Err(StoreError::CorruptMeta("projection key"));
            };
            let _lock = store.lock(&id);
            store.inner.projector.committed(&id, &v);
        }
        Ok(store)
    }

    /// This replica's identity (part of every actor id it writes with).
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// The node-local tree `name`, for state that is never replicated (sessions, sync peers,
    /// the hub's records), created empty if it does not exist yet. The document trees are
    /// the store's alone.
    pub fn local_tree(&self, name: &'static str) -> Result<LocalTree, StoreError> {
        debug_assert!(
            name != DOCS_TREE && name != META_TREE,
            "{name} is one of the store's own trees"
        );
        LocalTree::open(&self.inner.db, name)
    }

    /// Load (or create empty) the doc, run `f` in one Automerge transaction as `user`, commit
    /// with `message`, persist durably, then call `projector.committed`. If `f` returns Err
    /// nothing is written and the error is returned as `ChangeError::Rejected(e)`. If the
    /// transaction made no ops nothing is written.
    #[instrument(skip_all, fields(doc = %id))]
    pub fn change<R, E>(
        &self,
        id: &DocId,
        user: Uuid,
        message: &str,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, E>,
    ) -> Result<R, ChangeError<E>> {
        let _lock = self.lock(id);
        let mut loaded = self.load_or_new(id)?;
        let before = loaded.doc.get_heads();
        let (r, changed) = self.transact(&mut loaded, user, message, f)?;
        if !changed {
            return Ok(r);
        }
        let write = self.prepare(id, loaded, &before, true)?;
        for (id, projection) in self.persist_one(write)? {
            self.inner.projector.committed(&id, &projection);
        }
        Ok(r)
    }

    /// All-or-nothing over many docs: one sled batch, one durability barrier. `f` runs once per
    /// distinct id, in sorted order; docs whose transaction made no ops are not written.
    /// Returns the number of docs changed.
    #[instrument(skip_all, fields(docs = ids.len()))]
    pub fn change_many<E>(
        &self,
        user: Uuid,
        message: &str,
        ids: &[DocId],
        mut f: impl FnMut(&DocId, &mut Transaction<'_>) -> Result<(), E>,
    ) -> Result<usize, ChangeError<E>> {
        let started = Instant::now();
        let mut ids: Vec<&DocId> = ids.iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let _locks = self.inner.locks.lock_all(ids.iter().copied());
        let locked = started.elapsed();

        // The caller's closure runs here, one doc at a time; saving, projecting and staging
        // each changed doc into the batch runs meanwhile on a second thread.
        let (tx, rx) = std::sync::mpsc::sync_channel::<(&DocId, Loaded, Vec<ChangeHash>)>(64);
        let (staged, result) = std::thread::scope(|s| {
            let stager = s.spawn(move || -> Result<Pending, StoreError> {
                let mut pending = Pending::default();
                for (id, loaded, before) in rx {
                    let write = self.prepare(id, loaded, &before, true)?;
                    pending.stage(write);
                }
                Ok(pending)
            });
            let result = (|| -> Result<(), ChangeError<E>> {
                for id in ids {
                    let mut loaded = self.load_or_new(id)?;
                    let before = loaded.doc.get_heads();
                    let ((), changed) =
                        self.transact(&mut loaded, user, message, |tx| f(id, tx))?;
                    if changed && tx.send((id, loaded, before)).is_err() {
                        // The stager stopped on an error, which join() reports below.
                        break;
                    }
                }
                Ok(())
            })();
            drop(tx);
            let staged = match stager.join() {
                Ok(staged) => staged,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            (staged, result)
        });
        result?;
        let staged = staged?;
        let count = staged.committed.len();
        if count == 0 {
            return Ok(0);
        }
        let merged = started.elapsed();
        let (generation, committed) = self.write_staged(staged)?;
        let written = started.elapsed();
        self.make_durable(generation)?;
        let durable = started.elapsed();
        for (id, projection) in committed {
            self.inner.projector.committed(&id, &projection);
        }
        BatchTiming {
            docs: count,
            lock: locked,
            merge: merged - locked,
            write: written - merged,
            durable: durable - written,
            commit: started.elapsed() - durable,
        }
        .report("changed");
        Ok(count)
    }

    /// [`change_many`](Self::change_many) in independent all-or-nothing batches of `batch`
    /// docs, two batches at a time, so one batch's sled write and durability wait overlap
    /// the next one's changes. For many docs that each stand alone (a matching round's
    /// offers, a waitlist import): the whole is not atomic, so after an error the batches
    /// already durable stay written, and the batches not yet begun are not started. Returns
    /// the number of docs changed.
    pub fn change_in_batches<E: Send>(
        &self,
        user: Uuid,
        message: &str,
        ids: &[DocId],
        batch: usize,
        f: impl Fn(&DocId, &mut Transaction<'_>) -> Result<(), E> + Sync,
    ) -> Result<usize, ChangeError<E>> {
        let mut ids: Vec<&DocId> = ids.iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let ids: Vec<DocId> = ids.into_iter().cloned().collect();
        let chunks: Vec<&[DocId]> = ids.chunks(batch.max(1)).collect();
        let next = AtomicU64::new(0);
        let changed = AtomicU64::new(0);
        let failed: Mutex<Option<ChangeError<E>>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..chunks.len().min(2) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        if i >= chunks.len() || failed.lock().is_some() {
                            return;
                        }
                        match self.change_many(user, message, chunks[i], &f) {
                            Ok(n) => {
                                changed.fetch_add(n as u64, Ordering::Relaxed);
                            }
                            Err(e) => {
                                failed.lock().get_or_insert(e);
                                return;
                            }
                        }
                    }
                });
            }
        });
        match failed.into_inner() {
            Some(e) => Err(e),
            None => Ok(changed.into_inner() as usize),
        }
    }

    /// Run `f` on the doc's current state; `None` if the doc does not exist.
    #[instrument(skip_all, fields(doc = %id))]
    pub fn read<R>(
        &self,
        id: &DocId,
        f: impl FnOnce(&Automerge) -> R,
    ) -> Result<Option<R>, StoreError> {
        let _lock = self.lock(id);
        Ok(self.load(id)?.map(|l| f(&l.doc)))
    }

    pub fn exists(&self, id: &DocId) -> Result<bool, StoreError> {
        Ok(self.inner.docs.contains_key(snapshot_key(id))?)
    }

    /// The stored projection of a doc.
    pub fn projection(&self, id: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.docs.get(projection_key(id))?.map(|v| v.to_vec()))
    }

    /// Ids of the stored docs starting with `prefix` (e.g. `panel/<provider>/`), sorted.
    pub fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<DocId>, StoreError> {
        id::check(prefix, true)?;
        let mut out = Vec::new();
        for kv in self
            .inner
            .docs
            .scan_prefix([b"s/", prefix.as_bytes()].concat())
        {
            let (k, _) = kv?;
            out.push(parse_key_id(&k[2..])?);
        }
        Ok(out)
    }

    /// Merge changes from another replica, one per Automerge call (to avoid the memory cliff in
    /// docs/building-blocks.md), persist the new ones durably as one chunk, re-project.
    #[instrument(skip_all, fields(doc = %id, changes = changes.len()))]
    pub fn apply_changes(&self, id: &DocId, changes: Vec<Change>) -> Result<(), StoreError> {
        let _lock = self.lock(id);
        let mut loaded = self.load_or_new(id)?;
        let before = loaded.doc.get_heads();
        apply_one_by_one(&mut loaded.doc, changes).map_err(|reason| StoreError::BadChange {
            doc: id.clone(),
            reason,
        })?;
        let missing = guarded(id, || loaded.doc.get_missing_deps(&[]))?.len();
        if loaded.doc.get_heads() != before {
            let write = self.prepare(id, loaded, &before, true)?;
            for (id, projection) in self.persist_one(write)? {
                self.inner.projector.committed(&id, &projection);
            }
        }
        if missing > 0 {
            return Err(StoreError::MissingDependencies {
                doc: id.clone(),
                count: missing,
            });
        }
        Ok(())
    }

    /// Merge remote changes into many docs as one durable write (one sled batch, one fsync),
    /// one result per doc in the order given. Each doc's changes are applied one per Automerge
    /// call (the memory cliff in docs/building-blocks.md); a doc whose changes do not apply, or that is
    /// damaged here, fails alone and the others are still written.
    #[instrument(skip_all, fields(docs = docs.len()))]
    pub fn apply_changes_many(
        &self,
        docs: Vec<(DocId, Vec<Change>)>,
    ) -> Vec<Result<(), StoreError>> {
        let started = Instant::now();
        let doc_count = docs.len();
        // Held through the durability wait (see `locks`), but only these documents: batches of
        // other documents are merged meanwhile and share the group commit.
        let _locks = self.inner.locks.lock_all(docs.iter().map(|(id, _)| id));
        let locked = started.elapsed();
        let mut results: Vec<Option<Result<(), StoreError>>> = Vec::with_capacity(docs.len());
        let mut staged = Pending::default();
        let mut staged_ids = std::collections::HashSet::new();
        let mut written = Vec::new();
        for (id, changes) in docs {
            if staged_ids.contains(&id) {
                // A doc twice in one call would be loaded from its pre-batch state twice.
                results.push(Some(Err(StoreError::BadChange {
                    doc: id,
                    reason: "the document appears twice in one batch".into(),
                })));
                continue;
            }
            let outcome = (|| -> Result<Option<DocWrite>, StoreError> {
                let mut loaded = self.load_or_new(&id)?;
                let before = loaded.doc.get_heads();
                apply_one_by_one(&mut loaded.doc, changes).map_err(|reason| {
                    StoreError::BadChange {
                        doc: id.clone(),
                        reason,
                    }
                })?;
                let missing = guarded(&id, || loaded.doc.get_missing_deps(&[]))?.len();
                let write = if loaded.doc.get_heads() != before {
                    Some(self.prepare(&id, loaded, &before, true)?)
                } else {
                    None
                };
                if missing > 0 {
                    // What did apply is still written; the caller asks for the rest.
                    if let Some(w) = write {
                        staged.stage(w);
                        staged_ids.insert(id.clone());
                    }
                    return Err(StoreError::MissingDependencies {
                        doc: id.clone(),
                        count: missing,
                    });
                }
                Ok(write)
            })();
            match outcome {
                Ok(Some(w)) => {
                    staged.stage(w);
                    staged_ids.insert(id.clone());
                    written.push(results.len());
                    results.push(None);
                }
                Ok(None) => results.push(Some(Ok(()))),
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let merged = started.elapsed();
        let mut timing = BatchTiming {
            docs: doc_count,
            lock: locked,
            merge: merged - locked,
            ..BatchTiming::default()
        };
        let persisted = if staged.committed.is_empty() {
            Ok(Vec::new())
        } else {
            self.write_staged(staged)
                .and_then(|(generation, committed)| {
                    timing.write = started.elapsed() - merged;
                    self.make_durable(generation)?;
                    timing.durable = started.elapsed() - merged - timing.write;
                    Ok(committed)
                })
        };
        match persisted {
            Ok(committed) => {
                let durable = started.elapsed();
                for (id, projection) in committed {
                    self.inner.projector.committed(&id, &projection);
                }
                timing.commit = started.elapsed() - durable;
                timing.report("merged");
                results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
            }
            Err(e) => {
                let reason = e.to_string();
                results
                    .into_iter()
                    .map(|r| match r {
                        None | Some(Ok(())) | Some(Err(StoreError::MissingDependencies { .. })) => {
                            Err(StoreError::Io(std::io::Error::other(reason.clone())))
                        }
                        Some(Err(e)) => Err(e),
                    })
                    .collect()
            }
        }
    }

    /// The changes of a doc not covered by `have` (hashes the doc does not contain are
    /// ignored), as raw bytes in dependency order, and the doc's heads; `None` if the doc
    /// does not exist.
    pub fn delta(&self, id: &DocId, have: &[ChangeHash]) -> Result<Option<DocDelta>, StoreError> {
        let _lock = self.lock(id);
        // The common case in sync: the peer already has every head (often it sent them), so
        // answer from the heads index without loading the doc.
        if let Some(heads) = self.stored_heads(id)?
            && !heads.is_empty()
            && heads.iter().all(|h| have.contains(h))
        {
            return Ok(Some((Vec::new(), heads)));
        }
        let Some(loaded) = self.load(id)? else {
            return Ok(None);
        };
        let doc = &loaded.doc;
        guarded(id, || {
            let have: Vec<ChangeHash> = have
                .iter()
                .filter(|h| doc.get_change_meta_by_hash(h).is_some())
                .copied()
                .collect();
            let changes = doc
                .get_changes(&have)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect();
            Some((changes, doc.get_heads()))
        })
    }

    /// The position of the last durable change-feed entry.
    pub fn feed_position(&self) -> u64 {
        self.inner.durability.durable_feed()
    }

    /// Watches the durable feed position: it changes after every durable write.
    pub fn subscribe_feed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.feed_watch.subscribe()
    }

    /// Merge every change `other` has that this doc lacks.
    pub fn merge_from(&self, id: &DocId, other: &Automerge) -> Result<(), StoreError> {
        let changes = {
            let _lock = self.lock(id);
            match self.load(id)? {
                Some(l) => guarded(id, || l.doc.get_changes_added(other))?,
                None => guarded(id, || other.get_changes(&[]))?,
            }
        };
        if changes.is_empty() {
            return Ok(());
        }
        self.apply_changes(id, changes)
    }

    /// The doc's heads (empty for a doc that does not exist).
    pub fn heads(&self, id: &DocId) -> Result<Vec<ChangeHash>, StoreError> {
        if let Some(heads) = self.stored_heads(id)? {
            return Ok(heads);
        }
        Ok(self.read(id, |d| d.get_heads())?.unwrap_or_default())
    }

    /// The doc's heads from the `h/` index, without loading it: `None` when the doc does not
    /// exist or was last written before the index existed (then [`DocStore::heads`] loads it).
    pub fn stored_heads(&self, id: &DocId) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        let Some(bytes) = self.inner.docs.get(heads_key(id))? else {
            return Ok(None);
        };
        if bytes.len() % 32 != 0 {
            return Err(StoreError::CorruptMeta("heads index"));
        }
        Ok(Some(
            bytes
                .chunks_exact(32)
                .map(|c| {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(c);
                    ChangeHash(h)
                })
                .collect(),
        ))
    }

    /// Who changed what, when: one item per change, oldest first.
    #[instrument(skip_all, fields(doc = %id))]
    pub fn history(&self, id: &DocId) -> Result<Vec<HistoryItem>, StoreError> {
        let items = self.read(id, |doc| {
            doc.get_changes_meta(&[])
                .into_iter()
                .map(|m| {
                    let author = author_of(&m.actor);
                    HistoryItem {
                        hash: m.hash,
                        user: author.map(|a| a.1),
                        node: author.map(|a| a.0),
                        time: m.timestamp,
                        message: m.message.map(|s| s.into_owned()),
                    }
                })
                .collect()
        })?;
        Ok(items.unwrap_or_default())
    }

    /// Change feed: `(seq, doc)` of docs changed after `seq`, ascending, each doc once at its
    /// latest change. Only durable changes are listed.
    pub fn changed_since(&self, seq: u64, limit: usize) -> Result<Vec<(u64, DocId)>, StoreError> {
        let durable = self.inner.durability.durable_feed();
        let mut out = Vec::new();
        if seq >= durable {
            return Ok(out);
        }
        let range = feed_key(seq.saturating_add(1))..=feed_key(durable);
        for kv in self.inner.docs.range(range).take(limit) {
            let (k, v) = kv?;
            let s = be_u64(&k[2..]).ok_or(StoreError::CorruptMeta("change feed"))?;
            out.push((s, parse_key_id(&v)?));
        }
        Ok(out)
    }

    /// The change feed of some families only (see [`DocId::family`]): `(seq, doc)` of their docs
    /// changed after `after` and at or before `upto`, ascending by seq, each doc once at its
    /// latest change. Only durable changes are listed. Costs one range read per family, not a
    /// walk of the whole feed.
    pub fn changed_since_in<'a>(
        &self,
        families: impl IntoIterator<Item = &'a str>,
        after: u64,
        upto: u64,
    ) -> Result<Vec<(u64, DocId)>, StoreError> {
        let upto = upto.min(self.inner.durability.durable_feed());
        let mut out = Vec::new();
        if after >= upto {
            return Ok(out);
        }
        for family in families {
            let prefix = family_prefix(family);
            let start = [prefix.as_slice(), &(after + 1).to_be_bytes()].concat();
            let end = [prefix.as_slice(), &upto.to_be_bytes()].concat();
            for kv in self.inner.docs.range(start..=end) {
                let (k, v) = kv?;
                let seq =
                    be_u64(&k[prefix.len()..]).ok_or(StoreError::CorruptMeta("family feed"))?;
                out.push((seq, parse_key_id(&v)?));
            }
        }
        out.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(out)
    }

    /// Rewrite the doc as one snapshot, dropping its change chunks.
    #[instrument(skip_all, fields(doc = %id))]
    pub fn compact(&self, id: &DocId) -> Result<(), StoreError> {
        let _lock = self.lock(id);
        let Some(loaded) = self.load(id)? else {
            return Ok(());
        };
        if loaded.chunk_keys.is_empty() {
            return Ok(());
        }
        let mut write = self.prepare(id, loaded, &[], false)?;
        write.chunk = None;
        self.persist_one(write).map(drop)
    }

    /// Hands every entry of every tree to `visit` (see [`crate::dump`]), while no document
    /// write is being applied and after making every write applied so far durable: what it
    /// reads of the document tree is one consistent, durable state. Writers wait until it
    /// returns.
    pub fn dump_trees<E: From<StoreError>>(
        &self,
        visit: impl FnMut(TreeRecord<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let _apply = self.inner.apply.lock();
        self.durable(0)?;
        dump::dump_db(&self.inner.db, visit)
    }

    /// Approximate bytes on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk()?)
    }

    /// The raw `docs-v1` tree, for tests that inspect or damage the layout.
    #[cfg(test)]
    pub(crate) fn docs_tree(&self) -> &sled::Tree {
        &self.inner.docs
    }

    // ---- internals ----

    fn lock(&self, id: &DocId) -> DocGuard<'_> {
        self.inner.locks.lock(id)
    }

    /// Load the stored doc; `Ok(None)` if it does not exist; `Corrupt` if it cannot be loaded.
    fn load(&self, id: &DocId) -> Result<Option<Loaded>, StoreError> {
        let docs = &self.inner.docs;
        let corrupt = || StoreError::Corrupt { doc: id.clone() };
        let Some(snapshot) = docs.get(snapshot_key(id))? else {
            return Ok(None);
        };
        let mut doc = match guarded(id, || Automerge::load(&snapshot))? {
            Ok(doc) => doc,
            Err(e) => {
                warn!(doc = %id, error = %e, "stored snapshot does not load");
                return Err(corrupt());
            }
        };
        let prefix = chunk_prefix(id);
        let mut chunk_keys = Vec::new();
        let mut next_chunk = 0;
        for kv in docs.scan_prefix(&prefix) {
            let (k, v) = kv?;
            let seq = be_u64(&k[prefix.len()..]).ok_or_else(corrupt)?;
            let changes = split_changes(&v).ok_or_else(|| {
                warn!(doc = %id, chunk = seq, "stored change chunk is damaged");
                corrupt()
            })?;
            apply_one_by_one(&mut doc, changes).map_err(|reason| {
                warn!(doc = %id, chunk = seq, %reason, "stored change chunk does not apply");
                corrupt()
            })?;
            next_chunk = seq + 1;
            chunk_keys.push(k);
        }
        if !guarded(id, || doc.get_missing_deps(&[]))?.is_empty() {
            warn!(doc = %id, "stored changes miss their dependencies");
            return Err(corrupt());
        }
        let feed_seq = docs.get(version_key(id))?.and_then(|v| be_u64(&v));
        Ok(Some(Loaded {
            doc,
            stored: true,
            chunk_keys,
            next_chunk,
            feed_seq,
        }))
    }

    fn load_or_new(&self, id: &DocId) -> Result<Loaded, StoreError> {
        Ok(self.load(id)?.unwrap_or_else(|| Loaded {
            doc: Automerge::new(),
            stored: false,
            chunk_keys: Vec::new(),
            next_chunk: 0,
            feed_seq: None,
        }))
    }

    /// Run `f` in a transaction as `user`; returns its result and whether a change was committed.
    fn transact<R, E>(
        &self,
        loaded: &mut Loaded,
        user: Uuid,
        message: &str,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, E>,
    ) -> Result<(R, bool), ChangeError<E>> {
        loaded.doc.set_actor(actor_for(self.inner.node_id, user));
        let mut tx = loaded.doc.transaction();
        match f(&mut tx) {
            Err(e) => {
                tx.rollback();
                Err(ChangeError::Rejected(e))
            }
            Ok(r) if tx.pending_ops() == 0 => {
                tx.rollback();
                Ok((r, false))
            }
            Ok(r) => {
                tx.commit_with(
                    CommitOptions::default()
                        .with_message(message)
                        .with_time(now_unix()),
                );
                Ok((r, true))
            }
        }
    }
}

impl DocStore {
    /// What to write for `loaded` after it changed since `before`: a snapshot for a new doc or
    /// when compaction is due (replacing every chunk), otherwise one chunk of the new changes.
    fn prepare(
        &self,
        id: &DocId,
        loaded: Loaded,
        before: &[ChangeHash],
        feed: bool,
    ) -> Result<DocWrite, StoreError> {
        let compact = !loaded.stored
            || loaded.chunk_keys.len() >= self.inner.opts.compact_after_chunks
            || !feed;
        let (snapshot, chunk, remove_chunks) = if compact {
            (
                // Uncompressed: documents here are small (one record each), where DEFLATE
                // saves little disk and costs most of the save time of a bulk import.
                Some(guarded(id, || {
                    loaded.doc.save_with_options(automerge::SaveOptions {
                        deflate: false,
                        retain_orphans: true,
                    })
                })?),
                None,
                loaded.chunk_keys,
            )
        } else {
            let bytes = guarded(id, || loaded.doc.save_after(before))?;
            (None, Some((loaded.next_chunk, bytes)), Vec::new())
        };
        let projection = self.inner.projector.project(id, &loaded.doc);
        Ok(DocWrite {
            id: id.clone(),
            snapshot,
            chunk,
            remove_chunks,
            projection,
            heads: encode_heads(&loaded.doc.get_heads()),
            feed,
            old_feed: loaded.feed_seq,
        })
    }

    /// Apply all staged writes in one sled batch (adding their change-feed entries), then wait
    /// until it is durable. Returns the projections to hand to `Projector::committed`.
    fn persist(&self, staged: Pending) -> Result<Projections, StoreError> {
        let (generation, committed) = self.write_staged(staged)?;
        self.make_durable(generation)?;
        Ok(committed)
    }

    /// Apply all staged writes in one sled batch, adding their change-feed entries; returns the
    /// batch's durability generation and the projections to commit once it is durable.
    fn write_staged(&self, staged: Pending) -> Result<(u64, Projections), StoreError> {
        let inner = &self.inner;
        let Pending {
            mut batch,
            feed,
            committed,
        } = staged;
        let generation = {
            let _apply = inner.apply.lock();
            let mut seq = inner.next_feed.load(Ordering::Relaxed);
            let mut last_feed = 0;
            for (id, old) in feed {
                if let Some(old) = old {
                    batch.remove(feed_key(old));
                    batch.remove(family_feed_key(&id, old));
                }
                batch.insert(feed_key(seq), id.as_str().as_bytes());
                batch.insert(family_feed_key(&id, seq), id.as_str().as_bytes());
                batch.insert(version_key(&id), &seq.to_be_bytes()[..]);
                last_feed = seq;
                seq += 1;
            }
            inner.docs.apply_batch(batch)?;
            inner.next_feed.store(seq, Ordering::Relaxed);
            inner.durability.applied(last_feed)
        };
        Ok((generation, committed))
    }

    /// Wait until `generation` is durable, then tell the feed's watchers how far it now goes.
    fn make_durable(&self, generation: u64) -> Result<(), StoreError> {
        self.durable(generation)?;
        self.inner
            .feed_watch
            .send_replace(self.inner.durability.durable_feed());
        Ok(())
    }

    fn persist_one(&self, write: DocWrite) -> Result<Vec<(DocId, Vec<u8>)>, StoreError> {
        let mut staged = Pending::default();
        staged.stage(write);
        self.persist(staged)
    }

    fn durable(&self, generation: u64) -> Result<(), StoreError> {
        let generation = if generation == 0 {
            self.inner.durability.applied(0)
        } else {
            generation
        };
        Ok(self.inner.durability.barrier(&self.inner.db, generation)?)
    }

    /// Write the `o/` family feed for every doc in the change feed (a directory written before
    /// the family feed existed). Docs written since already have theirs; rewriting is idempotent.
    fn build_family_feed(&self) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut pending = 0;
        for kv in self.inner.docs.scan_prefix(b"f/") {
            let (k, v) = kv?;
            let seq = be_u64(&k[2..]).ok_or(StoreError::CorruptMeta("change feed"))?;
            let id = parse_key_id(&v)?;
            batch.insert(family_feed_key(&id, seq), v);
            pending += 1;
            if pending >= 10_000 {
                self.inner.docs.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        self.inner.docs.apply_batch(batch)?;
        Ok(())
    }

    /// Recompute every doc's projection (the projector's version changed). A doc that does not
    /// load keeps its old projection.
    fn reproject_all(&self) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut pending = 0;
        for kv in self.inner.docs.scan_prefix(b"s/") {
            let (k, _) = kv?;
            let id = parse_key_id(&k[2..])?;
            let _lock = self.lock(&id);
            match self.load(&id) {
                Ok(Some(loaded)) => {
                    batch.insert(
                        projection_key(&id),
                        self.inner.projector.project(&id, &loaded.doc),
                    );
                    pending += 1;
                }
                Ok(None) => {}
                Err(StoreError::Corrupt { .. }) => {
                    warn!(doc = %id, "not re-projected: the document does not load");
                }
                Err(e) => return Err(e),
            }
            if pending >= 1000 {
                self.inner.docs.apply_batch(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        self.inner.docs.apply_batch(batch)?;
        Ok(())
    }
}

fn parse_key_id(bytes: &[u8]) -> Result<DocId, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| DocId::parse(s).ok())
        .ok_or(StoreError::CorruptMeta("document key"))
}
