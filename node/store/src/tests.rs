//! Unit tests of the DocStore.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc};
use parking_lot::Mutex;
use uuid::Uuid;

use super::*;

/// Projects the root key `v` (or "-"), tagged with the projector version; records `committed`.
#[derive(Debug, Default)]
struct TestProjector {
    version: u32,
    committed: Mutex<Vec<(DocId, Vec<u8>)>>,
}

impl TestProjector {
    fn new(version: u32) -> Arc<Self> {
        Arc::new(Self {
            version,
            committed: Mutex::new(Vec::new()),
        })
    }
    fn last_for(&self, id: &DocId) -> Option<String> {
        self.committed
            .lock()
            .iter()
            .rev()
            .find(|(d, _)| d == id)
            .map(|(_, p)| String::from_utf8(p.clone()).unwrap())
    }
    fn count(&self) -> usize {
        self.committed.lock().len()
    }
}

impl Projector for TestProjector {
    fn version(&self) -> u32 {
        self.version
    }
    fn project(&self, _id: &DocId, doc: &Automerge) -> Vec<u8> {
        format!(
            "v{}:{}",
            self.version,
            get(doc, "v").unwrap_or_else(|| "-".into())
        )
        .into_bytes()
    }
    fn committed(&self, id: &DocId, projection: &[u8]) {
        self.committed
            .lock()
            .push((id.clone(), projection.to_vec()));
    }
}

fn get(doc: &Automerge, key: &str) -> Option<String> {
    let (v, _) = doc.get(ROOT, key).ok()??;
    v.into_string().ok()
}

/// Opens the store, waiting for a previous handle's background threads to let go of
/// the directory's lock when a test reopens it.
fn open_with(dir: &Path, opts: StoreOptions, p: &Arc<TestProjector>) -> DocStore {
    once_free(|| DocStore::open(dir, opts.clone(), p.clone()))
}

fn open(dir: &Path, p: &Arc<TestProjector>) -> DocStore {
    open_with(dir, StoreOptions::default(), p)
}

/// Opens with `open` once the directory's previous user has let go of it: sled's
/// background threads keep its lock for a moment after the last handle is dropped.
fn once_free<T, E: std::fmt::Display>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match open() {
            Ok(opened) => return opened,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("the directory is still held: {e}"),
        }
    }
}

fn tmp() -> tempdir::Dir {
    tempdir::Dir::new()
}

/// A scratch directory removed on drop (no tempfile crate in the dependency set).
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    static N: AtomicU32 = AtomicU32::new(0);

    pub struct Dir(PathBuf);
    impl Dir {
        pub fn new() -> Self {
            let p = std::env::temp_dir().join(format!(
                "attach-store-test-{}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst),
                uuid::Uuid::new_v4()
            ));
            Self(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn set(store: &DocStore, id: &DocId, user: Uuid, v: &str) {
    store
        .change(id, user, "set v", |tx| tx.put(ROOT, "v", v).map(|_| ()))
        .unwrap();
}

fn value(store: &DocStore, id: &DocId) -> Option<String> {
    store.read(id, |d| get(d, "v")).unwrap().flatten()
}

fn doc(n: u32) -> DocId {
    DocId::parse(&format!("panel/p/{n}")).unwrap()
}

fn chunk_count(store: &DocStore, id: &DocId) -> usize {
    let prefix = [b"c/", id.as_str().as_bytes(), b"\0"].concat();
    store.docs_tree().scan_prefix(prefix).count()
}

#[test]
fn change_then_read_round_trips() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let id = DocId::from_parts("clinic", &[Uuid::now_v7()]);
    assert!(!store.exists(&id).unwrap());
    assert_eq!(store.read(&id, |_| ()).unwrap(), None);
    let out = store
        .change(&id, Uuid::now_v7(), "create", |tx| {
            tx.put(ROOT, "v", "hello")?;
            Ok::<_, automerge::AutomergeError>(42)
        })
        .unwrap();
    assert_eq!(out, 42);
    assert!(store.exists(&id).unwrap());
    assert_eq!(value(&store, &id).as_deref(), Some("hello"));
    set(&store, &id, Uuid::now_v7(), "again");
    assert_eq!(value(&store, &id).as_deref(), Some("again"));
    assert_eq!(p.last_for(&id).as_deref(), Some("v1:again"));
    assert_eq!(store.projection(&id).unwrap().unwrap(), b"v1:again");
}

#[test]
fn reopen_keeps_documents_history_node_and_feed() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let user = Uuid::now_v7();
    let (node, heads, history, feed) = {
        let store = open(dir.path(), &p);
        for n in 0..5 {
            set(&store, &doc(n), user, &format!("x{n}"));
            set(&store, &doc(n), user, &format!("y{n}"));
        }
        (
            store.node_id(),
            store.heads(&doc(3)).unwrap(),
            store.history(&doc(3)).unwrap(),
            store.changed_since(0, 100).unwrap(),
        )
    };
    let p2 = TestProjector::new(1);
    let store = open(dir.path(), &p2);
    assert_eq!(store.node_id(), node);
    for n in 0..5 {
        assert_eq!(value(&store, &doc(n)), Some(format!("y{n}")));
    }
    assert_eq!(store.heads(&doc(3)).unwrap(), heads);
    assert_eq!(store.history(&doc(3)).unwrap(), history);
    assert_eq!(store.changed_since(0, 100).unwrap(), feed);
    // open() hands every stored projection to the projector, in key order.
    let seen: Vec<_> = p2.committed.lock().iter().map(|(d, _)| d.clone()).collect();
    assert_eq!(seen, (0..5).map(doc).collect::<Vec<_>>());
    assert_eq!(p2.last_for(&doc(2)).as_deref(), Some("v1:y2"));
    assert_eq!(
        store.ids_with_prefix("panel/p/").unwrap(),
        (0..5).map(doc).collect::<Vec<_>>()
    );
    assert!(store.ids_with_prefix("clinic/").unwrap().is_empty());
    assert!(store.ids_with_prefix("Bad").is_err());
}

#[test]
fn a_failed_closure_writes_nothing() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let user = Uuid::now_v7();
    let id = doc(1);
    let r = store.change(&id, user, "fail", |tx| {
        tx.put(ROOT, "v", "never").unwrap();
        Err::<(), _>("no")
    });
    assert!(matches!(r, Err(ChangeError::Rejected("no"))));
    assert!(!store.exists(&id).unwrap());

    set(&store, &id, user, "kept");
    let heads = store.heads(&id).unwrap();
    let calls = p.count();
    let r = store.change(&id, user, "fail", |tx| {
        tx.put(ROOT, "v", "never").unwrap();
        Err::<(), _>("no")
    });
    assert_eq!(r.unwrap_err().to_string(), "no");
    assert_eq!(value(&store, &id).as_deref(), Some("kept"));
    assert_eq!(store.heads(&id).unwrap(), heads);
    assert_eq!(store.history(&id).unwrap().len(), 1);
    assert_eq!(p.count(), calls);
}

#[test]
fn a_transaction_without_ops_writes_nothing() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let id = doc(1);
    let r = store
        .change(&id, Uuid::now_v7(), "nothing", |_tx| Ok::<_, ()>(7))
        .unwrap();
    assert_eq!(r, 7);
    assert!(!store.exists(&id).unwrap());
    set(&store, &id, Uuid::now_v7(), "a");
    let feed = store.changed_since(0, 10).unwrap();
    store
        .change(&id, Uuid::now_v7(), "nothing", |tx| {
            tx.get(ROOT, "v").map(|_| ())
        })
        .unwrap();
    assert_eq!(store.history(&id).unwrap().len(), 1);
    assert_eq!(chunk_count(&store, &id), 0);
    assert_eq!(store.changed_since(0, 10).unwrap(), feed);
    assert_eq!(p.count(), 1);
}

#[test]
fn compaction_keeps_content_and_heads() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let opts = StoreOptions {
        compact_after_chunks: 4,
        ..StoreOptions::default()
    };
    let user = Uuid::now_v7();
    let id = doc(9);
    let heads = {
        let store = open_with(dir.path(), opts.clone(), &p);
        for i in 0..=4 {
            store
                .change(&id, user, "edit", |tx| {
                    tx.put(ROOT, format!("k{i}"), i64::from(i))
                })
                .unwrap();
        }
        // one snapshot + 4 chunks
        assert_eq!(chunk_count(&store, &id), 4);
        set(&store, &id, user, "fifth");
        // the 5th chunk triggered compaction into the snapshot
        assert_eq!(chunk_count(&store, &id), 0);
        set(&store, &id, user, "sixth");
        set(&store, &id, user, "seventh");
        assert_eq!(chunk_count(&store, &id), 2);
        let heads = store.heads(&id).unwrap();
        store.compact(&id).unwrap();
        assert_eq!(chunk_count(&store, &id), 0);
        assert_eq!(store.heads(&id).unwrap(), heads);
        heads
    };
    let store = open_with(dir.path(), opts, &p);
    assert_eq!(store.heads(&id).unwrap(), heads);
    assert_eq!(value(&store, &id).as_deref(), Some("seventh"));
    let k3 = store
        .read(&id, |d| d.get(ROOT, "k3").unwrap().unwrap().0.as_i64())
        .unwrap()
        .flatten();
    assert_eq!(k3, Some(3));
    assert_eq!(store.history(&id).unwrap().len(), 8);
}

#[test]
fn history_names_user_node_time_and_message() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let id = doc(1);
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    store
        .change(&id, alice, "add patient", |tx| tx.put(ROOT, "v", "a"))
        .unwrap();
    store
        .change(&id, bob, "confirm MRP", |tx| tx.put(ROOT, "v", "b"))
        .unwrap();
    let t1 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let h = store.history(&id).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].user, Some(alice));
    assert_eq!(h[0].message.as_deref(), Some("add patient"));
    assert_eq!(h[1].user, Some(bob));
    assert_eq!(h[1].message.as_deref(), Some("confirm MRP"));
    for item in &h {
        assert_eq!(item.node, Some(store.node_id()));
        assert!(
            (t0..=t1).contains(&item.time),
            "time {} not in {t0}..={t1}",
            item.time
        );
    }
    assert_eq!(store.heads(&id).unwrap(), vec![h[1].hash]);
}

#[test]
fn change_many_is_all_or_nothing() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let user = Uuid::now_v7();
    let ids: Vec<DocId> = (0..5).map(doc).collect();
    let mut calls = 0;
    let r = store.change_many(user, "import", &ids, |id, tx| {
        calls += 1;
        tx.put(ROOT, "v", id.as_str()).unwrap();
        if calls == 3 {
            Err("row 3 is invalid")
        } else {
            Ok(())
        }
    });
    assert!(matches!(r, Err(ChangeError::Rejected("row 3 is invalid"))));
    for id in &ids {
        assert!(!store.exists(id).unwrap(), "{id} written");
    }
    assert!(store.changed_since(0, 10).unwrap().is_empty());
    assert_eq!(p.count(), 0);

    // Duplicates count once; a doc without ops is not written.
    let mut with_dup = ids.clone();
    with_dup.push(doc(0));
    let n = store
        .change_many(user, "import", &with_dup, |id, tx| {
            if *id == doc(4) {
                return Ok(());
            }
            tx.put(ROOT, "v", id.as_str()).map(|_| ())
        })
        .unwrap();
    assert_eq!(n, 4);
    for id in &ids[..4] {
        assert_eq!(value(&store, id).as_deref(), Some(id.as_str()));
    }
    assert!(!store.exists(&doc(4)).unwrap());
    assert_eq!(p.count(), 4);
    assert_eq!(
        store.history(&doc(0)).unwrap()[0].message.as_deref(),
        Some("import")
    );
}

/// Independent batches: every doc lands, each batch is all-or-nothing, and after a refused
/// doc the batches already durable stay while nothing of the refused batch is written.
#[test]
fn change_in_batches_writes_whole_batches_and_keeps_those_done() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let user = Uuid::now_v7();
    let ids: Vec<DocId> = (0..1_000).map(doc).collect();
    let n = store
        .change_in_batches(user, "import", &ids, 64, |id, tx| {
            tx.put(ROOT, "v", id.as_str()).map(|_| ())
        })
        .unwrap();
    assert_eq!(n, 1_000);
    assert_eq!(p.count(), 1_000);
    for id in &ids {
        assert_eq!(value(&store, id).as_deref(), Some(id.as_str()));
    }

    // A second set, in batches of 10 (sorted by id): doc 1555 is refused.
    let more: Vec<DocId> = (1_000..2_000).map(doc).collect();
    let bad = doc(1_555);
    let r = store.change_in_batches(user, "import", &more, 10, |id, tx| {
        tx.put(ROOT, "v", id.as_str())?;
        if *id == bad {
            return Err(automerge::AutomergeError::Fail);
        }
        Ok(())
    });
    assert!(matches!(r, Err(ChangeError::Rejected(_))), "{r:?}");
    let mut sorted = more.clone();
    sorted.sort();
    let failed_batch = sorted.iter().position(|id| *id == bad).unwrap() / 10;
    for (i, batch) in sorted.chunks(10).enumerate() {
        let written: Vec<bool> = batch.iter().map(|id| store.exists(id).unwrap()).collect();
        assert!(
            written.iter().all(|w| *w) || written.iter().all(|w| !*w),
            "batch {i} is half written: {written:?}"
        );
        if i == failed_batch {
            assert!(written.iter().all(|w| !*w), "the refused batch was written");
        }
    }
    let written = sorted.iter().filter(|id| store.exists(id).unwrap()).count();
    assert_eq!(p.count(), 1_000 + written);
}

#[test]
fn merging_a_concurrently_edited_fork_converges() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let id = doc(1);
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    set(&store, &id, alice, "base");

    // Another replica (another node) forks the doc and edits offline.
    let mut remote = store.read(&id, |d| d.fork()).unwrap().unwrap();
    remote.set_actor(actor_for(NodeId::random(), bob));
    for (k, v) in [("remote", "r1"), ("v", "from-remote")] {
        let mut tx = remote.transaction();
        tx.put(ROOT, k, v).unwrap();
        tx.commit();
    }
    // Meanwhile the local replica edits too.
    store
        .change(&id, alice, "local", |tx| tx.put(ROOT, "local", "l1"))
        .unwrap();

    store.merge_from(&id, &remote).unwrap();
    let local = store.read(&id, |d| d.fork()).unwrap().unwrap();
    remote.merge(&mut local.clone()).unwrap();
    assert_eq!(store.heads(&id).unwrap(), remote.get_heads());
    let merged = store
        .read(&id, |d| (get(d, "local"), get(d, "remote"), get(d, "v")))
        .unwrap()
        .unwrap();
    assert_eq!(merged.0.as_deref(), Some("l1"));
    assert_eq!(merged.1.as_deref(), Some("r1"));
    assert_eq!(merged.2.as_deref(), Some("from-remote"));
    assert_eq!(p.last_for(&id).as_deref(), Some("v1:from-remote"));
    assert_eq!(store.history(&id).unwrap().len(), 4);

    // Merging again changes nothing; applying already-known changes is a no-op.
    let calls = p.count();
    store.merge_from(&id, &remote).unwrap();
    store.apply_changes(&id, remote.get_changes(&[])).unwrap();
    assert_eq!(p.count(), calls);

    // The merged state survives reopen.
    drop(store);
    let store = open(dir.path(), &p);
    assert_eq!(store.heads(&id).unwrap(), remote.get_heads());

    // A change whose dependency is missing is reported, not silently taken.
    let mut ahead = remote.fork();
    for v in ["a1", "a2"] {
        let mut tx = ahead.transaction();
        tx.put(ROOT, "v", v).unwrap();
        tx.commit();
    }
    let only_last = ahead.get_changes(&remote.get_heads()).pop().unwrap();
    let r = store.apply_changes(&id, vec![only_last]);
    assert!(
        matches!(r, Err(StoreError::MissingDependencies { count: 1, .. })),
        "{r:?}"
    );
    assert_eq!(store.heads(&id).unwrap(), remote.get_heads());
}

#[test]
fn merge_into_a_missing_doc_creates_it() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let mut remote = Automerge::new();
    let mut tx = remote.transaction();
    tx.put(ROOT, "v", "remote").unwrap();
    tx.commit();
    let id = doc(3);
    store.merge_from(&id, &remote).unwrap();
    assert_eq!(value(&store, &id).as_deref(), Some("remote"));
    assert_eq!(store.changed_since(0, 10).unwrap().len(), 1);
}

#[test]
fn changed_since_lists_each_doc_once_at_its_latest_seq() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let user = Uuid::now_v7();
    set(&store, &doc(1), user, "a"); // seq 1
    set(&store, &doc(2), user, "a"); // seq 2
    set(&store, &doc(1), user, "b"); // seq 3
    set(&store, &doc(3), user, "a"); // seq 4
    set(&store, &doc(2), user, "b"); // seq 5
    let all = store.changed_since(0, 100).unwrap();
    assert_eq!(all, vec![(3, doc(1)), (4, doc(3)), (5, doc(2))]);
    assert_eq!(
        store.changed_since(3, 100).unwrap(),
        vec![(4, doc(3)), (5, doc(2))]
    );
    assert_eq!(store.changed_since(0, 1).unwrap(), vec![(3, doc(1))]);
    assert!(store.changed_since(5, 100).unwrap().is_empty());
    // Sequence numbers keep growing across reopen.
    drop(store);
    let store = open(dir.path(), &p);
    set(&store, &doc(3), user, "b");
    assert_eq!(
        store.changed_since(3, 100).unwrap(),
        vec![(5, doc(2)), (6, doc(3))]
    );
}

#[test]
fn a_corrupt_chunk_breaks_only_its_doc() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let user = Uuid::now_v7();
    {
        let store = open(dir.path(), &p);
        for n in 0..3 {
            set(&store, &doc(n), user, "a");
            set(&store, &doc(n), user, "b");
        }
        let tree = store.docs_tree();
        let key = [
            b"c/".as_slice(),
            doc(1).as_str().as_bytes(),
            b"\0",
            &0u64.to_be_bytes(),
        ]
        .concat();
        let mut bytes = tree.get(&key).unwrap().unwrap().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        tree.insert(&key, bytes).unwrap();
        // garbage after a valid chunk in doc 2
        let key2 = [
            b"c/".as_slice(),
            doc(2).as_str().as_bytes(),
            b"\0",
            &7u64.to_be_bytes(),
        ]
        .concat();
        tree.insert(&key2, b"\x85\x6f\x4a\x83garbage".to_vec())
            .unwrap();
        tree.flush().unwrap();
    }
    let store = open(dir.path(), &p);
    for n in [1, 2] {
        let err = store.read(&doc(n), |_| ()).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { doc: d } if *d == doc(n)),
            "{err:?}"
        );
        assert!(matches!(
            store.change(&doc(n), user, "x", |tx| tx.put(ROOT, "v", "c")),
            Err(ChangeError::Store(StoreError::Corrupt { .. }))
        ));
    }
    assert_eq!(value(&store, &doc(0)).as_deref(), Some("b"));
    set(&store, &doc(0), user, "c");
    set(&store, &doc(5), user, "new");
    assert_eq!(value(&store, &doc(0)).as_deref(), Some("c"));
    assert_eq!(value(&store, &doc(5)).as_deref(), Some("new"));
    // A damaged snapshot too.
    store
        .docs_tree()
        .insert(
            [b"s/".as_slice(), doc(0).as_str().as_bytes()].concat(),
            b"junk".to_vec(),
        )
        .unwrap();
    assert!(matches!(
        store.read(&doc(0), |_| ()),
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(value(&store, &doc(5)).as_deref(), Some("new"));
}

#[test]
fn a_new_projector_version_reprojects_every_doc_at_open() {
    let dir = tmp();
    let user = Uuid::now_v7();
    {
        let store = open(dir.path(), &TestProjector::new(1));
        for n in 0..3 {
            set(&store, &doc(n), user, &format!("x{n}"));
        }
    }
    let p2 = TestProjector::new(2);
    let store = open(dir.path(), &p2);
    for n in 0..3 {
        assert_eq!(p2.last_for(&doc(n)), Some(format!("v2:x{n}")));
        assert_eq!(
            store.projection(&doc(n)).unwrap().unwrap(),
            format!("v2:x{n}").into_bytes()
        );
    }
    // Reprojection is not a change: the feed and history are untouched.
    assert_eq!(store.changed_since(0, 10).unwrap().len(), 3);
    assert_eq!(store.history(&doc(0)).unwrap().len(), 1);
    drop(store);
    // Same version again: projections are loaded as stored.
    let p3 = TestProjector::new(2);
    let _store = open(dir.path(), &p3);
    assert_eq!(p3.count(), 3);
    assert_eq!(p3.last_for(&doc(1)).as_deref(), Some("v2:x1"));
}

#[test]
fn concurrent_writers_on_different_and_same_docs_all_land() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let shared = DocId::parse("clinic/shared").unwrap();
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let store = store.clone();
            let shared = shared.clone();
            s.spawn(move || {
                let user = Uuid::now_v7();
                for i in 0..20u32 {
                    set(&store, &doc(t), user, &format!("{t}-{i}"));
                    store
                        .change(&shared, user, "tick", |tx| {
                            tx.put(ROOT, format!("t{t}-{i}"), i64::from(i))
                        })
                        .unwrap();
                }
            });
        }
    });
    for t in 0..8 {
        assert_eq!(value(&store, &doc(t)), Some(format!("{t}-19")));
    }
    let keys = store
        .read(&shared, |d| d.keys(ROOT).count())
        .unwrap()
        .unwrap();
    assert_eq!(keys, 160);
    assert_eq!(store.history(&shared).unwrap().len(), 160);
    drop(store);
    let store = open(dir.path(), &p);
    assert_eq!(store.history(&shared).unwrap().len(), 160);
}

/// Measured, not a benchmark: durable single-doc edits in the debug build.
#[test]
fn durable_edits_are_fast_enough() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let user = Uuid::now_v7();
    let mut times = Vec::new();
    let start = Instant::now();
    for i in 0..300u32 {
        let t = Instant::now();
        set(&store, &doc(i % 50), user, &format!("{i}"));
        times.push(t.elapsed());
    }
    let total = start.elapsed();
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    let rate = 300.0 / total.as_secs_f64();
    // 8 concurrent writers sharing fsyncs (group commit).
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..50u32 {
                    set(&store, &doc(100 + t * 10 + i % 10), user, &format!("{i}"));
                }
            });
        }
    });
    let concurrent = 400.0 / start.elapsed().as_secs_f64();
    println!(
        "durable single edits: {rate:.0}/s sequential, p50 {p50:?}, p99 {p99:?}; {concurrent:.0}/s with 8 writers"
    );
    // The suite runs this beside heavy tests (bulk imports, app merges) sharing the disk and
    // both cores, so the bound is loose: it catches a lost group commit or an fsync per
    // document, not a slow machine. The real figures are the clinic bench's (BENCHMARKS.md).
    assert!(p50 < Duration::from_millis(20), "p50 {p50:?}");
    assert!(rate > 50.0, "{rate}/s");
}

/// A clinic's bulk import: 25,000 new patient docs in one atomic call.
#[test]
fn bulk_import_of_25000_docs_in_one_call() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let provider = Uuid::now_v7();
    let ids: Vec<DocId> = (0..25_000)
        .map(|_| DocId::from_parts("panel", &[provider, Uuid::now_v7()]))
        .collect();
    let start = Instant::now();
    let n = store
        .change_many(Uuid::now_v7(), "import", &ids, |id, tx| {
            tx.put(ROOT, "v", id.as_str())?;
            tx.put(ROOT, "status", "active")?;
            tx.put(ROOT, "added", 20_240_101i64)?;
            Ok::<_, automerge::AutomergeError>(())
        })
        .unwrap();
    let took = start.elapsed();
    println!(
        "bulk import of 25,000 docs: {took:?}, {} MiB on disk",
        store.size_on_disk().unwrap() >> 20
    );
    assert_eq!(n, 25_000);
    assert_eq!(
        store
            .ids_with_prefix(&format!("panel/{provider}/"))
            .unwrap()
            .len(),
        25_000
    );
    assert_eq!(
        value(&store, &ids[12_345]).as_deref(),
        Some(ids[12_345].as_str())
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn many_docs_merge_in_one_write_and_a_bad_one_fails_alone() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let remote = |v: &str| {
        let mut d = Automerge::new();
        let mut tx = d.transaction();
        tx.put(ROOT, "v", v).unwrap();
        tx.commit();
        d
    };
    let a = remote("a");
    let mut b = remote("b1");
    let b1 = b.get_heads();
    let mut tx = b.transaction();
    tx.put(ROOT, "v", "b2").unwrap();
    tx.commit();
    let b2_only = b.get_changes(&b1);
    let mut feed = store.subscribe_feed();
    let results = store.apply_changes_many(vec![
        (doc(1), a.get_changes(&[])),
        (doc(2), b2_only),
        (doc(3), remote("c").get_changes(&[])),
    ]);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(StoreError::MissingDependencies { .. })),
        "{results:?}"
    );
    assert_eq!(value(&store, &doc(1)).as_deref(), Some("a"));
    assert_eq!(value(&store, &doc(3)).as_deref(), Some("c"));
    assert!(!store.exists(&doc(2)).unwrap());
    assert!(feed.has_changed().unwrap());
    assert_eq!(*feed.borrow_and_update(), store.feed_position());
    assert_eq!(store.changed_since(0, 10).unwrap().len(), 2);

    // The delta beyond known heads is exactly the missing changes; unknown heads are ignored.
    let (all, heads) = store.delta(&doc(1), &[]).unwrap().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(heads, a.get_heads());
    let (none, _) = store.delta(&doc(1), &a.get_heads()).unwrap().unwrap();
    assert!(none.is_empty());
    let (again, _) = store
        .delta(&doc(1), &[automerge::ChangeHash([9; 32])])
        .unwrap()
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(store.delta(&doc(9), &[]).unwrap().is_none());

    // The heads index answers without loading, and follows every write.
    assert_eq!(store.stored_heads(&doc(1)).unwrap(), Some(a.get_heads()));
    assert_eq!(store.stored_heads(&doc(9)).unwrap(), None);
    let mut a2 = a.fork();
    let mut tx = a2.transaction();
    tx.put(ROOT, "v", "a2").unwrap();
    tx.commit();
    assert!(store.apply_changes_many(vec![(doc(1), a2.get_changes(&a.get_heads()))])[0].is_ok());
    assert_eq!(store.stored_heads(&doc(1)).unwrap(), Some(a2.get_heads()));
    assert_eq!(store.heads(&doc(1)).unwrap(), a2.get_heads());
    let (one, _) = store.delta(&doc(1), &a.get_heads()).unwrap().unwrap();
    assert_eq!(one.len(), 1, "only the change beyond the peer's heads");

    // Survives reopen.
    drop(store);
    let store = open(dir.path(), &p);
    assert_eq!(value(&store, &doc(3)).as_deref(), Some("c"));
    assert_eq!(store.stored_heads(&doc(1)).unwrap(), Some(a2.get_heads()));
}

/// The family feed lists exactly the feed entries of the families asked for, at each doc's
/// latest change, and is rebuilt for a directory written before it existed.
#[test]
fn the_family_feed_follows_the_change_feed_and_is_built_for_old_directories() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
    let ids = [
        DocId::from_parts("panel", &[x]),
        DocId::from_parts("panel", &[x, Uuid::now_v7()]),
        DocId::from_parts("panel", &[y, Uuid::now_v7()]),
        DocId::from_parts("clinic", &[x]),
    ];
    for (i, id) in ids.iter().enumerate() {
        set(&store, id, Uuid::nil(), &format!("v{i}"));
    }
    set(&store, &ids[1], Uuid::nil(), "again");
    let fx = format!("panel/{x}");
    let fy = format!("panel/{y}");
    let listed = |store: &DocStore, fams: &[&str], after: u64| -> Vec<DocId> {
        store
            .changed_since_in(fams.iter().copied(), after, u64::MAX)
            .unwrap()
            .into_iter()
            .map(|(_, d)| d)
            .collect()
    };
    assert_eq!(
        listed(&store, &[&fx], 0),
        vec![ids[0].clone(), ids[1].clone()]
    );
    assert_eq!(
        listed(&store, &[&fy, &fx], 0),
        vec![ids[0].clone(), ids[2].clone(), ids[1].clone()],
        "ascending by seq across families"
    );
    let all = store.changed_since(0, 100).unwrap();
    let last = all.last().unwrap().0;
    assert_eq!(listed(&store, &[&fx], last - 1), vec![ids[1].clone()]);
    assert!(listed(&store, &[&fx], last).is_empty());
    assert!(
        store
            .changed_since_in([fx.as_str()], 0, all[0].0)
            .unwrap()
            .iter()
            .all(|(s, _)| *s <= all[0].0),
        "nothing beyond upto"
    );

    // An old directory: no family feed and no marker. Opening builds it.
    drop(store);
    {
        let db = once_free(|| sled::open(dir.path()));
        let docs = db.open_tree("docs-v1").unwrap();
        let keys: Vec<_> = docs.scan_prefix(b"o/").map(|kv| kv.unwrap().0).collect();
        assert!(!keys.is_empty());
        for k in keys {
            docs.remove(k).unwrap();
        }
        db.open_tree("meta-v1")
            .unwrap()
            .remove(b"indexes-version")
            .unwrap();
        db.flush().unwrap();
    }
    let store = once_free(|| DocStore::open(dir.path(), StoreOptions::default(), p.clone()));
    assert_eq!(
        listed(&store, &[&fx], 0),
        vec![ids[0].clone(), ids[1].clone()]
    );
    assert_eq!(listed(&store, &[&fy], 0), vec![ids[2].clone()]);
}

/// A write holds only its own documents, through its durability wait: while one document's
/// write is stopped inside its transaction, a merge of 2,000 other documents (which hash into
/// every one of the old 256 lock shards) is applied and made durable; a second write of the
/// held document waits, then builds on the first; the projector sees both in order.
#[test]
fn a_write_blocks_only_its_own_documents() {
    use std::sync::mpsc;
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let user = Uuid::now_v7();
    let held = doc(0);
    let others: Vec<DocId> = (1..=2000).map(doc).collect();
    let batch: Vec<(DocId, Vec<automerge::Change>)> = others
        .iter()
        .map(|id| {
            let mut d = Automerge::new();
            let mut tx = d.transaction();
            tx.put(ROOT, "v", "x").unwrap();
            tx.commit();
            (id.clone(), d.get_changes(&[]))
        })
        .collect();

    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let (first, first_doc) = (store.clone(), held.clone());
        s.spawn(move || {
            first
                .change(&first_doc, user, "first", |tx| {
                    entered_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    tx.put(ROOT, "v", "first")
                })
                .unwrap();
        });
        entered_rx.recv().unwrap();

        let (merged_tx, merged_rx) = mpsc::channel();
        let merging = store.clone();
        s.spawn(move || merged_tx.send(merging.apply_changes_many(batch)).unwrap());
        let merged = merged_rx.recv_timeout(Duration::from_secs(60));
        let (second_tx, second_rx) = mpsc::channel();
        let (second, second_doc) = (store.clone(), held.clone());
        s.spawn(move || {
            set(&second, &second_doc, user, "second");
            second_tx.send(()).unwrap();
        });
        let second_waited = second_rx.recv_timeout(Duration::from_millis(300)).is_err();
        go_tx.send(()).unwrap();
        let merged = merged.expect("a merge of other documents waited for a held document");
        assert!(merged.iter().all(Result::is_ok));
        assert!(
            second_waited,
            "a second write of a held document did not wait"
        );
        second_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the second write never ran");
    });
    assert_eq!(value(&store, &others[1999]).as_deref(), Some("x"));
    assert_eq!(value(&store, &held).as_deref(), Some("second"));
    assert_eq!(store.history(&held).unwrap().len(), 2);
    let held_commits: Vec<Vec<u8>> = p
        .committed
        .lock()
        .iter()
        .filter(|(d, _)| d == &held)
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(
        held_commits,
        vec![b"v1:first".to_vec(), b"v1:second".to_vec()]
    );
}

#[test]
fn local_trees_hold_their_entries_across_a_reopen_and_stay_out_of_the_documents() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let tree = store.local_tree("test-local-v1").unwrap();
    tree.insert(b"a/1", b"one").unwrap();
    tree.insert(b"a/2", b"two").unwrap();
    tree.insert(b"b/1", b"three").unwrap();
    assert_eq!(tree.get(b"a/1").unwrap(), Some(b"one".to_vec()));
    assert_eq!(tree.get(b"zz").unwrap(), None);
    let under_a: Vec<_> = tree.scan_prefix(b"a/").map(Result::unwrap).collect();
    assert_eq!(
        under_a,
        vec![
            (b"a/1".to_vec(), b"one".to_vec()),
            (b"a/2".to_vec(), b"two".to_vec())
        ]
    );

    assert!(
        !tree
            .compare_and_swap(b"a/1", Some(b"uno"), Some(b"1"))
            .unwrap()
    );
    assert!(
        tree.compare_and_swap(b"a/1", Some(b"one"), Some(b"1"))
            .unwrap()
    );
    assert!(tree.compare_and_swap(b"new", None, Some(b"n")).unwrap());
    tree.update(b"a/2", |old| Some([old.unwrap_or_default(), b"!"].concat()))
        .unwrap();
    tree.update(b"b/1", |_| None).unwrap();

    let mut batch = LocalBatch::default();
    batch.remove(b"new");
    batch.insert(b"c", b"see");
    tree.apply_batch(batch).unwrap();
    tree.flush().unwrap();
    let all: Vec<_> = tree.iter().map(Result::unwrap).collect();
    let expected = vec![
        (b"a/1".to_vec(), b"1".to_vec()),
        (b"a/2".to_vec(), b"two!".to_vec()),
        (b"c".to_vec(), b"see".to_vec()),
    ];
    assert_eq!(all, expected);
    assert_eq!(store.docs_tree().get(b"a/1").unwrap(), None);

    drop((tree, store));
    let store = open(dir.path(), &p);
    let tree = store.local_tree("test-local-v1").unwrap();
    let all: Vec<_> = tree.iter().map(Result::unwrap).collect();
    assert_eq!(all, expected);
}

/// Every record of a dump, owned.
fn dumped(
    dump: impl FnOnce(
        &mut dyn FnMut(TreeRecord<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>,
) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    dump(&mut |r| {
        out.push(match r {
            TreeRecord::Tree(name) => (name.to_vec(), None),
            TreeRecord::Entry { key, value } => ([b"  ", key].concat(), Some(value.to_vec())),
        });
        Ok(())
    })
    .unwrap();
    out
}

#[test]
fn a_dump_puts_the_document_tree_last_and_restores_to_the_same_trees() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let store = open(dir.path(), &p);
    let user = Uuid::new_v4();
    set(&store, &doc(1), user, "1");
    set(&store, &doc(2), user, "2");
    for name in ["zz-local-v1", "aa-local-v1"] {
        let tree = store.local_tree(name).unwrap();
        tree.insert(b"k", name.as_bytes()).unwrap();
    }
    let live = dumped(|v| store.dump_trees(v));
    let trees: Vec<&[u8]> = live
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| n.as_slice())
        .collect();
    assert_eq!(trees.last(), Some(&doc_store::DOCS_TREE.as_bytes()));
    for name in ["zz-local-v1", "aa-local-v1", "meta-v1"] {
        assert!(trees.contains(&name.as_bytes()), "{name}");
    }
    drop(store);

    assert!(
        StoppedStore::open(&dir.path().join("nothing"))
            .unwrap()
            .is_none()
    );
    assert!(!dir.path().join("nothing").exists(), "nothing is created");
    let stopped = StoppedStore::open(dir.path()).unwrap().unwrap();
    assert_eq!(dumped(|v| stopped.dump_trees(v)), live);
    drop(stopped);

    let copy = tmp();
    let mut restore = TreeRestore::create(copy.path()).unwrap();
    assert!(!restore.in_tree());
    for (name, value) in &live {
        match value {
            None => restore.write(TreeRecord::Tree(name)).unwrap(),
            Some(value) => restore
                .write(TreeRecord::Entry {
                    key: &name[2..],
                    value,
                })
                .unwrap(),
        }
        assert!(restore.in_tree());
    }
    restore.finish().unwrap();
    let restored = StoppedStore::open(copy.path()).unwrap().unwrap();
    assert_eq!(dumped(|v| restored.dump_trees(v)), live);
    drop(restored);
    let store = open(copy.path(), &p);
    assert_eq!(value(&store, &doc(2)).as_deref(), Some("2"));
}

/// A process killed while the storage engine wrote a snapshot leaves `snap.<lsn>.generating`
/// behind, which the engine would read at open and call corrupt. The store opens anyway, with
/// every write, and the unfinished files are gone.
#[test]
fn a_snapshot_left_unfinished_by_a_kill_does_not_stop_the_store_opening() {
    let dir = tmp();
    let p = TestProjector::new(1);
    let user = Uuid::now_v7();
    {
        let store = open(dir.path(), &p);
        for n in 0..20 {
            set(&store, &doc(n), user, &format!("v{n}"));
        }
    }
    let unfinished = [
        ("snap.7FFFFFFFFFFFFFFF.generating", &b"half a snapshot"[..]),
        ("snap.7FFFFFFFFFFFFFFE.generating", &b""[..]),
    ];
    for (name, bytes) in unfinished {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let store = once_free(|| DocStore::open(dir.path(), StoreOptions::default(), p.clone()));
    for n in 0..20 {
        assert_eq!(value(&store, &doc(n)), Some(format!("v{n}")));
    }
    for (name, _) in unfinished {
        assert!(!dir.path().join(name).exists(), "{name} is still there");
    }
    // While a process holds the directory, its snapshot in progress is left alone.
    let name = "snap.7FFFFFFFFFFFFFFD.generating";
    std::fs::write(dir.path().join(name), b"being written").unwrap();
    assert_eq!(
        crate::engine::clear_unfinished_snapshots(dir.path()).unwrap(),
        0
    );
    assert!(dir.path().join(name).exists());
    std::fs::remove_file(dir.path().join(name)).unwrap();
}
