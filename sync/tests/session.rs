//! Sessions between in-memory replicas over an in-memory pipe: convergence, deltas only,
//! resuming without resending, authorization, and hostile input.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use attach_sync::session::{read_message, write_message};
use attach_sync::wire::{
    DocDelta, ErrorCode, Hash, MIN_PROTOCOL_VERSION, Message, PROTOCOL_VERSION,
};
use attach_sync::{
    ApplyError, Delta, NodeId, Policy, Progress, Replica, ReplicaError, Session, SessionConfig,
    SyncError,
};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, Automerge, Change, ChangeHash, ROOT, ReadDoc};
use parking_lot::Mutex;
use tokio::sync::watch;

#[derive(Default)]
struct State {
    docs: BTreeMap<String, Automerge>,
    feed: Vec<String>,
    resume: HashMap<NodeId, u64>,
    shared: HashMap<(NodeId, String), Vec<Hash>>,
    applied_changes: usize,
}

struct Mem {
    id: NodeId,
    state: Mutex<State>,
    feed_tx: watch::Sender<u64>,
}

impl Mem {
    fn new(id: u8) -> Arc<Self> {
        Arc::new(Self {
            id: [id; 16],
            state: Mutex::default(),
            feed_tx: watch::channel(0).0,
        })
    }

    fn edit(&self, doc: &str, key: &str, value: &str) {
        let mut st = self.state.lock();
        let base = st.docs.get(doc).cloned().unwrap_or_default();
        let mut d = AutoCommit::load(&base.save()).expect("load");
        d.set_actor(ActorId::from(self.id.to_vec()));
        d.put(ROOT, key, value).expect("put");
        d.commit();
        st.docs.insert(doc.into(), d.document().clone());
        st.feed.push(doc.into());
        let n = st.feed.len() as u64;
        drop(st);
        self.feed_tx.send_replace(n);
    }

    fn value(&self, doc: &str, key: &str) -> Option<String> {
        let st = self.state.lock();
        let d = st.docs.get(doc)?;
        d.get(ROOT, key)
            .ok()
            .flatten()
            .map(|(v, _)| v.to_string().trim_matches('"').to_string())
    }

    fn heads(&self, doc: &str) -> Vec<ChangeHash> {
        self.state
            .lock()
            .docs
            .get(doc)
            .map(|d| d.get_heads())
            .unwrap_or_default()
    }
}

impl Replica for Mem {
    fn node_id(&self) -> NodeId {
        self.id
    }
    fn feed_position(&self) -> Result<u64, ReplicaError> {
        Ok(self.state.lock().feed.len() as u64)
    }
    fn changed_since(&self, after: u64, limit: usize) -> Result<Vec<(u64, String)>, ReplicaError> {
        let st = self.state.lock();
        // Like the real store: each doc once, at its latest position.
        let mut latest: BTreeMap<String, u64> = BTreeMap::new();
        for (i, d) in st.feed.iter().enumerate() {
            latest.insert(d.clone(), i as u64 + 1);
        }
        let mut out: Vec<(u64, String)> = latest
            .into_iter()
            .filter(|(_, s)| *s > after)
            .map(|(d, s)| (s, d))
            .collect();
        out.sort();
        out.truncate(limit);
        Ok(out)
    }
    fn delta(&self, doc: &str, have: &[Hash]) -> Result<Option<Delta>, ReplicaError> {
        let st = self.state.lock();
        let Some(d) = st.docs.get(doc) else {
            return Ok(None);
        };
        let have: Vec<ChangeHash> = have
            .iter()
            .map(|h| ChangeHash(*h))
            .filter(|h| d.get_change_meta_by_hash(h).is_some())
            .collect();
        Ok(Some(Delta {
            changes: d
                .get_changes(&have)
                .iter()
                .map(|c| c.raw_bytes().to_vec())
                .collect(),
            heads: d.get_heads().iter().map(|h| h.0).collect(),
        }))
    }
    fn heads(&self, doc: &str) -> Result<Vec<Hash>, ReplicaError> {
        Ok(self.heads(doc).iter().map(|h| h.0).collect())
    }
    fn apply(&self, docs: Vec<(String, Vec<Change>)>) -> Vec<Result<(), ApplyError>> {
        let mut st = self.state.lock();
        let mut out = Vec::new();
        let mut touched = false;
        for (doc, changes) in docs {
            st.applied_changes += changes.len();
            let d = st.docs.entry(doc.clone()).or_default();
            let before = d.get_heads();
            let r = d
                .apply_changes(changes)
                .map_err(|e| ApplyError::BadChange(e.to_string()));
            let missing = d.get_missing_deps(&[]).len();
            if d.get_heads() != before {
                st.feed.push(doc);
                touched = true;
            }
            out.push(match (r, missing) {
                (Err(e), _) => Err(e),
                (Ok(()), 0) => Ok(()),
                (Ok(()), n) => Err(ApplyError::MissingDependencies(n)),
            });
        }
        let n = st.feed.len() as u64;
        drop(st);
        if touched {
            self.feed_tx.send_replace(n);
        }
        out
    }
    fn resume_point(&self, peer: NodeId) -> Result<u64, ReplicaError> {
        Ok(self.state.lock().resume.get(&peer).copied().unwrap_or(0))
    }
    fn set_resume_point(&self, peer: NodeId, upto: u64) -> Result<(), ReplicaError> {
        self.state.lock().resume.insert(peer, upto);
        Ok(())
    }
    fn shared_heads(&self, peer: NodeId, docs: &[String]) -> Result<Vec<Vec<Hash>>, ReplicaError> {
        let st = self.state.lock();
        Ok(docs
            .iter()
            .map(|d| {
                st.shared
                    .get(&(peer, d.clone()))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect())
    }
    fn add_shared_heads(
        &self,
        peer: NodeId,
        heads: &[(String, Vec<Hash>)],
    ) -> Result<(), ReplicaError> {
        let mut st = self.state.lock();
        for (d, h) in heads {
            let e = st.shared.entry((peer, d.clone())).or_default();
            *e = attach_sync::merge_heads(e, h);
        }
        Ok(())
    }
}

/// A peer that may read and write documents whose id starts with one of `prefixes`.
struct Prefixes {
    replica: Arc<Mem>,
    prefixes: Vec<&'static str>,
}

impl Policy for Prefixes {
    fn may_read(&self, doc: &str) -> bool {
        self.prefixes.iter().any(|p| doc.starts_with(p))
    }
    fn may_write(&self, doc: &str) -> bool {
        self.may_read(doc)
    }
    fn readable(&self) -> Result<Vec<String>, ReplicaError> {
        Ok(self
            .replica
            .state
            .lock()
            .docs
            .keys()
            .filter(|d| self.may_read(d))
            .cloned()
            .collect())
    }
}

fn session(r: &Arc<Mem>, prefixes: Vec<&'static str>) -> (Session, Arc<Progress>) {
    let progress = Arc::new(Progress::default());
    let s = Session {
        replica: r.clone(),
        policy: Arc::new(Prefixes {
            replica: r.clone(),
            prefixes,
        }),
        feed: r.feed_tx.subscribe(),
        progress: progress.clone(),
        config: SessionConfig {
            one_round: true,
            batch_docs: 7,
            window: 2,
            ..SessionConfig::default()
        },
        expect_peer: None,
    };
    (s, progress)
}

/// Runs a one-round session between `a` and `b`; returns the bytes each sent.
async fn sync_pair(a: &Arc<Mem>, b: &Arc<Mem>) -> (u64, u64) {
    let (sa, pa) = session(a, vec![""]);
    let (sb, pb) = session(b, vec![""]);
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (ra, rb) = tokio::join!(sa.run(x), sb.run(y));
    assert_eq!(ra.expect("a's session"), b.id);
    assert_eq!(rb.expect("b's session"), a.id);
    (pa.snapshot().bytes_sent, pb.snapshot().bytes_sent)
}

#[tokio::test]
async fn two_replicas_converge_and_a_second_sync_sends_almost_nothing() {
    let a = Mem::new(1);
    let b = Mem::new(2);
    for i in 0..30 {
        a.edit(&format!("doc/{i}"), "from", "a");
    }
    for i in 20..40 {
        b.edit(&format!("doc/{i}"), "other", "b");
    }
    sync_pair(&a, &b).await;
    for i in 0..40 {
        let doc = format!("doc/{i}");
        assert_eq!(a.heads(&doc), b.heads(&doc), "{doc}");
    }
    assert_eq!(b.value("doc/3", "from").as_deref(), Some("a"));
    assert_eq!(a.value("doc/35", "other").as_deref(), Some("b"));
    assert_eq!(a.value("doc/25", "from").as_deref(), Some("a"));
    assert_eq!(a.value("doc/25", "other").as_deref(), Some("b"));

    // Nothing changed: the reconnect costs a handshake and empty round ends only.
    let (sa, sb) = sync_pair(&a, &b).await;
    assert!(
        sa < 200 && sb < 200,
        "idle reconnect sent {sa} and {sb} bytes"
    );
}

#[tokio::test]
async fn received_changes_are_not_echoed_back_to_their_sender() {
    let a = Mem::new(1);
    let b = Mem::new(2);
    for i in 0..50 {
        a.edit(&format!("doc/{i}"), "k", &"x".repeat(200));
    }
    let (sent_a, sent_b) = sync_pair(&a, &b).await;
    assert!(sent_a > 50 * 200, "a sent {sent_a}");
    assert!(sent_b < 500, "b echoed {sent_b} bytes back");
    let applied_at_a = a.state.lock().applied_changes;
    assert_eq!(applied_at_a, 0, "a received its own changes back");
}

#[tokio::test]
async fn only_new_changes_travel_after_an_edit() {
    let a = Mem::new(1);
    let b = Mem::new(2);
    for i in 0..20 {
        a.edit(&format!("doc/{i}"), "k", &"x".repeat(500));
    }
    sync_pair(&a, &b).await;
    a.edit("doc/4", "k2", "small");
    let (sent_a, _) = sync_pair(&a, &b).await;
    assert!(sent_a < 600, "one small edit cost {sent_a} bytes");
    assert_eq!(b.value("doc/4", "k2").as_deref(), Some("small"));
}

#[tokio::test]
async fn a_peer_gets_only_what_its_policy_allows_and_cannot_write_the_rest() {
    let hub = Mem::new(9);
    let node = Mem::new(3);
    hub.edit("clinic/a", "name", "A");
    hub.edit("clinic/b", "name", "B");
    node.edit("clinic/a", "phone", "1");
    node.edit("clinic/b", "name", "hijacked");
    let (hs, hp) = session(&hub, vec!["clinic/a"]);
    let (ns, _) = session(&node, vec![""]);
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (rh, rn) = tokio::join!(hs.run(x), ns.run(y));
    rh.expect("hub session");
    rn.expect("node session");
    assert_eq!(node.value("clinic/a", "name").as_deref(), Some("A"));
    assert_eq!(hub.value("clinic/a", "phone").as_deref(), Some("1"));
    assert_eq!(hub.value("clinic/b", "name").as_deref(), Some("B"));
    assert_eq!(node.value("clinic/b", "name").as_deref(), Some("hijacked"));
    assert!(hp.snapshot().refused.is_empty());
}

/// Speaks the protocol by hand to a hub session (policy: `clinic/a` only).
async fn hand_session(
    script: impl FnOnce(
        tokio::io::DuplexStream,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
) -> (Result<NodeId, SyncError>, Arc<Mem>) {
    let hub = Mem::new(9);
    hub.edit("clinic/a", "name", "A");
    hub.edit("clinic/b", "name", "B");
    let (mut hs, _) = session(&hub, vec!["clinic/a"]);
    hs.config.one_round = false;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (r, ()) = tokio::join!(hs.run(x), script(y));
    (r, hub)
}

async fn handshake(s: &mut tokio::io::DuplexStream) {
    write_message(
        s,
        &Message::Hello {
            version: PROTOCOL_VERSION,
            node: [3; 16],
        },
    )
    .await
    .expect("hello");
    write_message(s, &Message::Start { from: 0 })
        .await
        .expect("start");
    let (m, _) = read_message(s).await.expect("hub hello");
    assert!(matches!(m, Message::Hello { .. }));
    let (m, _) = read_message(s).await.expect("hub start");
    assert_eq!(m, Message::Start { from: 0 });
}

#[tokio::test]
async fn asking_for_another_clinics_document_is_denied() {
    let (r, _) = hand_session(|mut s| {
        Box::pin(async move {
            handshake(&mut s).await;
            write_message(
                &mut s,
                &Message::Request {
                    doc: "clinic/b".into(),
                    have: vec![],
                },
            )
            .await
            .expect("request");
            // Read until the denial; the round of clinic/a comes first.
            loop {
                let (m, _) = read_message(&mut s).await.expect("answer");
                match m {
                    Message::Denied { doc, .. } => {
                        assert_eq!(doc, "clinic/b");
                        break;
                    }
                    Message::Batch { docs, .. } => {
                        assert!(docs.iter().all(|d| d.doc == "clinic/a"), "{docs:?}");
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            drop(s);
        })
    })
    .await;
    assert!(matches!(r, Err(SyncError::Closed)), "{r:?}");
}

#[tokio::test]
async fn garbage_and_hostile_frames_end_the_session_and_change_nothing() {
    let frames: Vec<Vec<u8>> = vec![
        // random bytes as a payload
        {
            let payload = vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3];
            let mut f = (payload.len() as u32).to_be_bytes().to_vec();
            f.extend(payload);
            f
        },
        // a declared length of 4 GiB
        u32::MAX.to_be_bytes().to_vec(),
        // a truncated batch
        {
            let payload = Message::Batch {
                seq: 1,
                upto: None,
                docs: vec![DocDelta {
                    doc: "clinic/a".into(),
                    changes: vec![vec![1; 40]],
                }],
            }
            .encode();
            let mut f = (payload.len() as u32).to_be_bytes().to_vec();
            f.extend(&payload[..payload.len() - 5]);
            f
        },
        // a batch whose change is random bytes
        Message::Batch {
            seq: 1,
            upto: None,
            docs: vec![DocDelta {
                doc: "clinic/a".into(),
                changes: vec![vec![0x85, 0x6f, 0x4a, 0x83, 9, 9, 9, 9]],
            }],
        }
        .to_frame(),
    ];
    for (i, frame) in frames.into_iter().enumerate() {
        let (r, hub) = hand_session(move |mut s| {
            Box::pin(async move {
                handshake(&mut s).await;
                use tokio::io::AsyncWriteExt;
                let _ = s.write_all(&frame).await;
                let _ = s.shutdown().await;
                // Read until the hub closes; its last word is an Error or an Ack refusing.
                while let Ok((m, _)) = read_message(&mut s).await {
                    if let Message::Error { code, .. } = m {
                        assert_eq!(code, ErrorCode::Protocol);
                    }
                    if let Message::Ack { refused, .. } = &m {
                        assert_eq!(refused.len(), 1, "frame {i}");
                        drop(s);
                        return;
                    }
                }
            })
        })
        .await;
        assert!(r.is_err(), "frame {i}: {r:?}");
        assert_eq!(
            hub.value("clinic/a", "name").as_deref(),
            Some("A"),
            "frame {i}"
        );
        assert_eq!(hub.state.lock().applied_changes, 0, "frame {i}");
    }
}

/// A newer peer (the next release, announcing version 2) is accepted: both speak the
/// lower version, so the hub and the nodes can be upgraded in any order.
#[tokio::test]
async fn a_peer_of_the_next_protocol_version_syncs_at_this_version() {
    let (r, hub) = hand_session(|mut s| {
        Box::pin(async move {
            write_message(
                &mut s,
                &Message::Hello {
                    version: PROTOCOL_VERSION + 1,
                    node: [3; 16],
                },
            )
            .await
            .expect("hello");
            write_message(&mut s, &Message::Start { from: 0 })
                .await
                .expect("start");
            let (m, _) = read_message(&mut s).await.expect("hub hello");
            assert!(
                matches!(m, Message::Hello { version, .. } if version == PROTOCOL_VERSION),
                "{m:?}"
            );
            let (m, _) = read_message(&mut s).await.expect("hub start");
            assert_eq!(m, Message::Start { from: 0 });
            // The hub's first round arrives: clinic/a, its only readable document.
            let (m, _) = read_message(&mut s).await.expect("a batch");
            match m {
                Message::Batch { docs, .. } => assert_eq!(docs[0].doc, "clinic/a"),
                other => panic!("unexpected {other:?}"),
            }
        })
    })
    .await;
    // The scripted peer hung up after reading; the session ends, having synced.
    assert!(!matches!(r, Err(SyncError::Version(_))), "{r:?}");
    assert_eq!(hub.value("clinic/a", "name").as_deref(), Some("A"));
}

#[tokio::test]
async fn a_peer_older_than_the_oldest_version_spoken_is_refused_with_a_clear_error() {
    let (r, _) = hand_session(|mut s| {
        Box::pin(async move {
            write_message(
                &mut s,
                &Message::Hello {
                    version: MIN_PROTOCOL_VERSION - 1,
                    node: [3; 16],
                },
            )
            .await
            .expect("hello");
            let _ = read_message(&mut s).await;
            let (m, _) = read_message(&mut s).await.expect("error");
            assert!(matches!(
                m,
                Message::Error {
                    code: ErrorCode::Version,
                    ..
                }
            ));
        })
    })
    .await;
    assert!(matches!(r, Err(SyncError::Version(0))), "{r:?}");
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("the peer must be upgraded"),
        "the error says which side to upgrade"
    );
}

#[tokio::test]
async fn missing_dependencies_are_requested_and_filled() {
    // b already has a's first change of doc/x recorded as shared, but lost it (restored from
    // an old backup): a sends only the second change; b asks for the rest.
    let a = Mem::new(1);
    let b = Mem::new(2);
    a.edit("doc/x", "k", "1");
    let first = a.heads("doc/x");
    a.edit("doc/x", "k", "2");
    a.state
        .lock()
        .shared
        .insert((b.id, "doc/x".into()), first.iter().map(|h| h.0).collect());
    let (mut sa, _) = session(&a, vec![""]);
    let (mut sb, _) = session(&b, vec![""]);
    sa.config.one_round = false;
    sb.config.one_round = false;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let ta = tokio::spawn(sa.run(x));
    let tb = tokio::spawn(sb.run(y));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.heads("doc/x") != a.heads("doc/x") {
        assert!(tokio::time::Instant::now() < deadline, "b never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(b.value("doc/x", "k").as_deref(), Some("2"));
    ta.abort();
    tb.abort();
}

/// A live session sends a round only when it has something for the peer: changes outside
/// the peer's scope cost no frame, and the peer learns its new resume point a little later
/// (or with the next round that has documents).
#[tokio::test]
async fn a_live_round_with_nothing_for_the_peer_sends_nothing_until_the_cursor_flush() {
    let hub = Mem::new(9);
    hub.edit("clinic/a", "name", "A");
    let (mut hs, _) = session(&hub, vec!["clinic/a"]);
    hs.config.one_round = false;
    hs.config.round_delay = std::time::Duration::from_millis(20);
    hs.config.cursor_flush = std::time::Duration::from_millis(600);
    let (x, mut y) = tokio::io::duplex(64 * 1024);
    let hub_task = tokio::spawn(hs.run(x));
    handshake(&mut y).await;
    // The first round: clinic/a, then the round's end; acknowledge both.
    let mut round_end = None;
    while round_end.is_none() {
        match next_message(&mut y, 2_000).await.expect("first round") {
            Message::Batch { seq, upto, .. } => {
                write_message(
                    &mut y,
                    &Message::Ack {
                        seq,
                        refused: vec![],
                    },
                )
                .await
                .expect("ack");
                round_end = upto;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // A change outside the peer's scope: nothing now...
    hub.edit("clinic/b", "name", "B");
    let position = hub.feed_position().expect("feed");
    assert!(
        next_message(&mut y, 300).await.is_none(),
        "a frame for nothing"
    );
    // ...and the new resume point, with no documents, after the flush delay.
    match next_message(&mut y, 2_000).await.expect("the cursor flush") {
        Message::Batch { seq, upto, docs } => {
            assert!(docs.is_empty());
            assert_eq!(upto, Some(position));
            write_message(
                &mut y,
                &Message::Ack {
                    seq,
                    refused: vec![],
                },
            )
            .await
            .expect("ack");
        }
        other => panic!("unexpected {other:?}"),
    }
    // A change in scope goes at once, with the round's end.
    hub.edit("clinic/a", "phone", "555");
    match next_message(&mut y, 2_000).await.expect("the next round") {
        Message::Batch { docs, .. } => assert_eq!(docs[0].doc, "clinic/a"),
        other => panic!("unexpected {other:?}"),
    }
    drop(y);
    let _ = hub_task.await;
}

async fn next_message(s: &mut tokio::io::DuplexStream, ms: u64) -> Option<Message> {
    tokio::time::timeout(std::time::Duration::from_millis(ms), read_message(s))
        .await
        .ok()
        .map(|r| r.expect("a message").0)
}

#[tokio::test]
async fn sessions_sharing_a_bound_of_one_store_call_still_converge() {
    let a = Mem::new(1);
    let b = Mem::new(2);
    for i in 0..40 {
        a.edit(&format!("doc/{i}"), "from", "a");
        b.edit(&format!("doc/{}", i + 20), "other", "b");
    }
    // Both ends of the session, inbound and outbound halves, take turns for one slot.
    let calls = attach_sync::StoreCalls::new(1);
    let (mut sa, _) = session(&a, vec![""]);
    let (mut sb, _) = session(&b, vec![""]);
    sa.config.store_calls = calls.clone();
    sb.config.store_calls = calls;
    let (x, y) = tokio::io::duplex(64 * 1024);
    let (ra, rb) = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        tokio::join!(sa.run(x), sb.run(y))
    })
    .await
    .expect("sessions sharing one store-call slot did not finish");
    ra.expect("a's session");
    rb.expect("b's session");
    for i in 0..60 {
        let doc = format!("doc/{i}");
        assert_eq!(a.heads(&doc), b.heads(&doc), "{doc}");
    }
}
