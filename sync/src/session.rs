//! One sync session with one peer, over any byte stream (TLS in production, an in-memory
//! pipe in tests).
//!
//! Both sides run the same code; each side sends its own changes and receives the other's:
//!
//! 1. `Hello` both ways (protocol version, node id), then `Start { from }` both ways: the
//!    position in the *peer's* change feed up to which this side has durably applied it.
//! 2. Each side sends the documents changed in its feed after `from` that the peer may read,
//!    as deltas: for each document, the changes not covered by the heads the peer is known to
//!    have (persisted per peer and document). Documents come in policy priority order, in
//!    batches; at most `window` batches are unacknowledged at once. A round ends with a batch
//!    carrying `upto`, the feed position it covers.
//! 3. The receiver applies each batch durably, then acknowledges it; on `upto` it persists
//!    its resume point. The sender, on an acknowledgement, records the heads the peer now has.
//!    A connection lost at any point therefore resumes without resending what was
//!    acknowledged: the resume point and the shared heads only ever move after a durable apply.
//! 4. Then both sides stay connected and send new rounds as their feeds grow.
//!
//! A frame that does not decode, a message out of protocol, or a change that does not parse
//! ends the session with an `Error` to the peer; the store is never touched by it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use automerge::Change;
use parking_lot::Mutex;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::replica::{ApplyError, Delta, NodeId, Policy, Replica, ReplicaError};
use crate::wire::{
    DecodeError, DocDelta, ErrorCode, Hash, MAX_FRAME, MIN_PROTOCOL_VERSION, Message,
    PROTOCOL_VERSION, Refusal, Refused,
};

/// Tuning of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Batches sent and not yet acknowledged, at most.
    pub window: usize,
    /// Documents per batch, at most.
    pub batch_docs: usize,
    /// Change bytes per batch, about (a single larger document is sent alone).
    pub batch_bytes: usize,
    /// Stop after both sides have completed one round (for one-shot syncs and tests),
    /// instead of staying connected for live changes.
    pub one_round: bool,
    /// In a live session, how long to gather further local changes after one arrives
    /// before sending a round: a hub merging many clinics at once changes its feed
    /// constantly, and a round per change per connected peer would be mostly empty.
    pub round_delay: Duration,
    /// A round with nothing for the peer sends nothing; the peer learns its new resume
    /// point with the next round that does, or after this long without one.
    pub cursor_flush: Duration,
    /// How many blocking replica calls may run at once; shared by every session made from
    /// clones of this config (all of a hub's sessions).
    pub store_calls: StoreCalls,
}

/// A bound on the blocking replica calls that sessions run at once. Clones share the bound.
///
/// Every replica call is blocking work (sled, Automerge) off the async workers. Without a
/// bound a hub with 200 clinics connected ran ~200 of them at once on 2 cores (load average
/// 115): each batch took 200 times longer, held its memory and documents that long, and the
/// sessions that happened to be scheduled last finished far behind the rest. With a bound,
/// calls wait their turn on the async side, holding no thread and no document.
#[derive(Clone, Debug)]
pub struct StoreCalls(Arc<tokio::sync::Semaphore>);

impl StoreCalls {
    /// At most `n` calls at once (at least one).
    pub fn new(n: usize) -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(n.max(1))))
    }

    /// Two calls per core: one can be computing while the other waits for its fsync.
    pub fn per_core() -> Self {
        Self::new(2 * std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Runs `f` on the blocking pool once a slot is free; the slot is held until `f` returns,
    /// even if the caller stops waiting.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, SyncError> {
        let permit = self.0.clone().acquire_owned().await.map_err(|_| {
            SyncError::Replica(ReplicaError::Storage(
                "the store-call bound was closed".into(),
            ))
        })?;
        tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|e| SyncError::Replica(ReplicaError::Storage(format!("worker failed: {e}"))))
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            window: 4,
            batch_docs: 500,
            batch_bytes: 1024 * 1024,
            one_round: false,
            round_delay: Duration::from_millis(200),
            cursor_flush: Duration::from_secs(5),
            store_calls: StoreCalls::per_core(),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Error)]
pub enum SyncError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer sent a frame of {0} bytes, more than allowed")]
    FrameTooLarge(usize),
    #[error("the peer sent a message that does not decode: {0}")]
    Decode(#[from] DecodeError),
    #[error("the peer broke the protocol: {0}")]
    Protocol(String),
    #[error(
        "the peer speaks sync protocol version {0} at most; this node needs at least version {MIN_PROTOCOL_VERSION} (the peer must be upgraded)"
    )]
    Version(u16),
    #[error("the peer closed the session: {text}")]
    Remote { code: ErrorCode, text: String },
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("the connection closed")]
    Closed,
}

/// What a session has done so far; shared with whoever shows sync status.
#[derive(Debug, Default)]
pub struct Progress {
    state: Mutex<ProgressState>,
}

/// A snapshot of [`Progress`].
#[derive(Debug, Default, Clone)]
pub struct ProgressState {
    /// Bytes written and read, frames included.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Documents the peer acknowledged, and documents received and applied.
    pub docs_sent: u64,
    pub docs_received: u64,
    /// Rounds the peer acknowledged in full (it has everything of ours up to then).
    pub rounds_sent: u64,
    /// Rounds received in full (we have everything of the peer's up to then).
    pub rounds_received: u64,
    /// When the last round completed each way.
    pub last_sent_round: Option<SystemTime>,
    pub last_received_round: Option<SystemTime>,
    /// The peer's resume point in our feed, as it told us at start and as rounds complete.
    pub peer_has_upto: Option<u64>,
    /// The latest documents the peer refused, newest last (at most 50).
    pub refused: Vec<Refused>,
    /// The peer's node id, once it has said hello.
    pub peer: Option<NodeId>,
}

impl Progress {
    pub fn snapshot(&self) -> ProgressState {
        self.state.lock().clone()
    }
    fn update(&self, f: impl FnOnce(&mut ProgressState)) {
        f(&mut self.state.lock());
    }
}

/// Everything a session needs besides its stream.
#[derive(Clone)]
pub struct Session {
    pub replica: Arc<dyn Replica>,
    pub policy: Arc<dyn Policy>,
    /// Tells the session the replica's feed grew (the value is the new position).
    pub feed: watch::Receiver<u64>,
    pub progress: Arc<Progress>,
    pub config: SessionConfig,
    /// The node id the peer must announce (the one its certificate names), if known.
    pub expect_peer: Option<NodeId>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Reads one frame's payload; `Ok(None)` at a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, SyncError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(SyncError::FrameTooLarge(len));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some(payload))
}

/// Writes one message as a frame; returns the bytes written.
pub async fn write_message<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &Message,
) -> Result<usize, SyncError> {
    let frame = msg.to_frame();
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(frame.len())
}

/// Reads and decodes one message; end of stream is [`SyncError::Closed`].
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> Result<(Message, usize), SyncError> {
    let payload = read_frame(r).await?.ok_or(SyncError::Closed)?;
    let n = payload.len() + 4;
    Ok((Message::decode(&payload)?, n))
}

enum ToOutbound {
    Start(u64),
    Ack {
        seq: u64,
        refused: Vec<Refused>,
    },
    Request {
        doc: String,
        have: Vec<Hash>,
    },
    /// The peer completed its round towards us (for `one_round`).
    PeerRoundDone,
}

impl Session {
    /// Runs blocking replica work off the async worker threads, within the store-call bound.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, SyncError> {
        self.config.store_calls.run(f).await
    }

    /// Runs the session until the peer closes it, an error ends it, or (with `one_round`)
    /// both sides have completed a round. Returns the peer's node id.
    pub async fn run<S>(self, stream: S) -> Result<NodeId, SyncError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let me = self.replica.node_id();
        let sent = write_message(
            &mut writer,
            &Message::Hello {
                version: PROTOCOL_VERSION,
                node: me,
            },
        )
        .await?;
        self.progress.update(|p| p.bytes_sent += sent as u64);
        let (hello, n) = read_message(&mut reader).await?;
        self.progress.update(|p| p.bytes_received += n as u64);
        // Both sides speak the lower of the two versions announced; each refuses only a peer
        // whose newest version is older than the oldest it still speaks.
        let peer = match hello {
            Message::Hello { version, node } if version >= MIN_PROTOCOL_VERSION => {
                let spoken = version.min(PROTOCOL_VERSION);
                if version != PROTOCOL_VERSION {
                    debug!(
                        peer_version = version,
                        spoken, "peer of another protocol version"
                    );
                }
                node
            }
            Message::Hello { version, .. } => {
                let text = format!(
                    "this node speaks sync protocol versions {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}; upgrade the peer speaking version {version}"
                );
                let _ = write_message(
                    &mut writer,
                    &Message::Error {
                        code: ErrorCode::Version,
                        text,
                    },
                )
                .await;
                return Err(SyncError::Version(version));
            }
            Message::Error { code, text } => return Err(SyncError::Remote { code, text }),
            other => {
                return Err(
                    protocol(&mut writer, format!("expected Hello, got {}", name(&other))).await,
                );
            }
        };
        if peer == me {
            return Err(protocol(&mut writer, "the peer has this node's own id".into()).await);
        }
        if self.expect_peer.is_some_and(|e| e != peer) {
            return Err(protocol(
                &mut writer,
                "the node id announced is not the one in the certificate".into(),
            )
            .await);
        }

        self.progress.update(|p| p.peer = Some(peer));
        let replica = self.replica.clone();
        let from = self.blocking(move || replica.resume_point(peer)).await??;
        let sent = write_message(&mut writer, &Message::Start { from }).await?;
        self.progress.update(|p| p.bytes_sent += sent as u64);

        // One writer task owns the write half; the outbound task and the reader queue to it.
        let (out_tx, mut out_rx) = mpsc::channel::<Message>(self.config.window * 2 + 4);
        let progress = self.progress.clone();
        let writer_task = tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                let n = write_message(&mut writer, &msg).await?;
                progress.update(|p| p.bytes_sent += n as u64);
                if matches!(msg, Message::Error { .. }) {
                    break;
                }
            }
            let _ = writer.shutdown().await;
            Ok::<(), SyncError>(())
        });

        let (to_out_tx, to_out_rx) = mpsc::unbounded_channel::<ToOutbound>();
        let said_bye = Arc::new(AtomicBool::new(false));
        let outbound = Outbound {
            session: self.clone(),
            peer,
            out: out_tx.clone(),
            inbox: to_out_rx,
            in_flight: HashMap::new(),
            next_seq: 1,
            peer_round_done: false,
            said_bye: said_bye.clone(),
        };
        let outbound_task = tokio::spawn(outbound.run());

        let inbound = Inbound {
            session: self.clone(),
            peer,
            out: out_tx.clone(),
            to_outbound: to_out_tx,
            said_bye,
        };
        let result = inbound.run(&mut reader).await;
        if let Err(e) = &result {
            let (code, text) = match e {
                SyncError::Decode(_) | SyncError::Protocol(_) | SyncError::FrameTooLarge(_) => {
                    (ErrorCode::Protocol, e.to_string())
                }
                SyncError::Replica(_) => (ErrorCode::Internal, "storage failed".to_string()),
                _ => (ErrorCode::Internal, String::new()),
            };
            if !matches!(
                e,
                SyncError::Io(_) | SyncError::Closed | SyncError::Remote { .. }
            ) {
                let _ = out_tx.send(Message::Error { code, text }).await;
            }
        }
        outbound_task.abort();
        drop(out_tx);
        // Let queued messages (an Error, final acks) reach the peer.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer_task).await;
        result.map(|()| peer)
    }
}

async fn protocol<W: AsyncWrite + Unpin>(w: &mut W, text: String) -> SyncError {
    let _ = write_message(
        w,
        &Message::Error {
            code: ErrorCode::Protocol,
            text: text.clone(),
        },
    )
    .await;
    SyncError::Protocol(text)
}

fn name(m: &Message) -> &'static str {
    match m {
        Message::Hello { .. } => "Hello",
        Message::Start { .. } => "Start",
        Message::Batch { .. } => "Batch",
        Message::Ack { .. } => "Ack",
        Message::Request { .. } => "Request",
        Message::Denied { .. } => "Denied",
        Message::Enrol { .. } => "Enrol",
        Message::Enrolled { .. } => "Enrolled",
        Message::Bye => "Bye",
        Message::Error { .. } => "Error",
    }
}

/// The receiving half: applies the peer's batches and answers them.
struct Inbound {
    session: Session,
    peer: NodeId,
    out: mpsc::Sender<Message>,
    to_outbound: mpsc::UnboundedSender<ToOutbound>,
    said_bye: Arc<AtomicBool>,
}

impl Inbound {
    async fn run<R: AsyncRead + Unpin>(self, reader: &mut R) -> Result<(), SyncError> {
        let mut started = false;
        let mut peer_bye = false;
        loop {
            let payload = match read_frame(reader).await? {
                Some(p) => p,
                None if peer_bye => return Ok(()),
                None => return Err(SyncError::Closed),
            };
            let n = payload.len() as u64 + 4;
            self.session.progress.update(|p| p.bytes_received += n);
            let msg = Message::decode(&payload)?;
            match msg {
                Message::Start { from } if !started => {
                    started = true;
                    self.session
                        .progress
                        .update(|p| p.peer_has_upto = Some(from));
                    self.forward(ToOutbound::Start(from))?;
                }
                Message::Batch { seq, upto, docs } if started => {
                    let refused = self.apply(docs).await?;
                    if let Some(upto) = upto {
                        let replica = self.session.replica.clone();
                        let peer = self.peer;
                        self.session
                            .blocking(move || replica.set_resume_point(peer, upto))
                            .await??;
                        self.session.progress.update(|p| {
                            p.rounds_received += 1;
                            p.last_received_round = Some(SystemTime::now());
                        });
                    }
                    self.send(Message::Ack { seq, refused }).await?;
                    if upto.is_some() {
                        self.forward(ToOutbound::PeerRoundDone)?;
                    }
                }
                Message::Ack { seq, refused } if started => {
                    self.forward(ToOutbound::Ack { seq, refused })?;
                }
                Message::Request { doc, have } if started => {
                    self.forward(ToOutbound::Request { doc, have })?;
                }
                Message::Denied { doc, reason } if started => {
                    debug!(%doc, ?reason, "peer denied a request");
                    self.session.progress.update(|p| {
                        push_refused(p, Refused { doc, reason });
                    });
                }
                Message::Bye if started => {
                    peer_bye = true;
                    if self.said_bye.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    if !self.session.config.one_round {
                        // A one-shot peer (a backup, a benchmark) is done: a live side has
                        // nothing to wait for, so it agrees and both ends finish now.
                        self.said_bye.store(true, Ordering::SeqCst);
                        self.send(Message::Bye).await?;
                        return Ok(());
                    }
                }
                Message::Error { code, text } => return Err(SyncError::Remote { code, text }),
                other => {
                    return Err(SyncError::Protocol(format!(
                        "unexpected {} message",
                        name(&other)
                    )));
                }
            }
        }
    }

    fn forward(&self, m: ToOutbound) -> Result<(), SyncError> {
        // The outbound task ends only with the session (one_round) or on an error it reports.
        let _ = self.to_outbound.send(m);
        Ok(())
    }

    async fn send(&self, m: Message) -> Result<(), SyncError> {
        self.out.send(m).await.map_err(|_| SyncError::Closed)
    }

    /// Checks, decodes and durably applies one batch; returns the refused documents.
    async fn apply(&self, docs: Vec<DocDelta>) -> Result<Vec<Refused>, SyncError> {
        let policy = self.session.policy.clone();
        let replica = self.session.replica.clone();
        let peer = self.peer;
        let (refused, requests) = self
            .session
            .blocking(move || apply_batch(&*replica, &*policy, peer, docs))
            .await??;
        let applied_docs = refused.1;
        self.session
            .progress
            .update(|p| p.docs_received += applied_docs);
        for (doc, have) in requests {
            self.send(Message::Request { doc, have }).await?;
        }
        Ok(refused.0)
    }
}

type Applied = ((Vec<Refused>, u64), Vec<(String, Vec<Hash>)>);

/// Applies a batch: documents the peer may not write are refused; the others are decoded and
/// applied durably, highest priority first (a clinic's member list before the documents it
/// grants). Returns the refusals, the count applied, and requests for documents that lacked
/// dependencies.
fn apply_batch(
    replica: &dyn Replica,
    policy: &dyn Policy,
    peer: NodeId,
    docs: Vec<DocDelta>,
) -> Result<Applied, ReplicaError> {
    let mut refused = Vec::new();
    let mut requests = Vec::new();
    let mut applied = 0u64;
    let mut groups: BTreeMap<u8, Vec<DocDelta>> = BTreeMap::new();
    for d in docs {
        groups.entry(policy.priority(&d.doc)).or_default().push(d);
    }
    for (_, group) in groups {
        let mut ready = Vec::new();
        for d in group {
            if !policy.may_write(&d.doc) {
                warn!(doc = %d.doc, "peer sent changes to a document it may not write");
                refused.push(Refused {
                    doc: d.doc,
                    reason: Refusal::NotPermitted,
                });
                continue;
            }
            match decode_changes(d.changes) {
                Ok(changes) => ready.push((d.doc, changes)),
                Err(e) => {
                    warn!(doc = %d.doc, error = %e, "peer sent a change that does not decode");
                    refused.push(Refused {
                        doc: d.doc,
                        reason: Refusal::BadChange,
                    });
                }
            }
        }
        if ready.is_empty() {
            continue;
        }
        let ids: Vec<String> = ready.iter().map(|(d, _)| d.clone()).collect();
        // The peer has what it sent, whether or not it applies here: remember that before
        // applying, so that this session's own next round (woken by the apply) never sends
        // the changes back.
        let shared_updates: Vec<(String, Vec<Hash>)> = ready
            .iter()
            .map(|(doc, cs)| {
                let hashes = cs.iter().map(|c| c.hash().0).collect();
                let deps: Vec<Hash> = cs
                    .iter()
                    .flat_map(|c| c.deps().iter().map(|h| h.0))
                    .collect();
                (doc.clone(), frontier(hashes, &deps))
            })
            .collect();
        replica.add_shared_heads(peer, &shared_updates)?;
        let results = replica.apply(ready);
        for (doc, result) in ids.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    applied += 1;
                }
                Err(ApplyError::MissingDependencies(n)) => {
                    debug!(%doc, missing = n, "changes wait for dependencies; asking the peer");
                    let have = replica.heads(&doc)?;
                    refused.push(Refused {
                        doc: doc.clone(),
                        reason: Refusal::MissingDependencies,
                    });
                    requests.push((doc, have));
                }
                Err(ApplyError::BadChange(reason)) => {
                    warn!(%doc, %reason, "a change from the peer does not apply");
                    refused.push(Refused {
                        doc,
                        reason: Refusal::BadChange,
                    });
                }
                Err(ApplyError::Replica(ReplicaError::Damaged(_))) => {
                    refused.push(Refused {
                        doc,
                        reason: Refusal::Unavailable,
                    });
                }
                Err(ApplyError::Replica(e)) => return Err(e),
            }
        }
    }
    Ok(((refused, applied), requests))
}

fn decode_changes(raw: Vec<Vec<u8>>) -> Result<Vec<Change>, String> {
    raw.into_iter()
        .map(|bytes| {
            // automerge has panicked on hostile input before (docs/building-blocks.md); contain it.
            std::panic::catch_unwind(|| Change::from_bytes(bytes))
                .map_err(|_| "the change decoder failed".to_string())?
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// The received changes that no other received change depends on.
fn frontier(mut received: Vec<Hash>, deps: &[Hash]) -> Vec<Hash> {
    received.sort_unstable();
    received.dedup();
    received.retain(|h| !deps.contains(h));
    received
}

fn push_refused(p: &mut ProgressState, r: Refused) {
    if p.refused.len() >= 50 {
        p.refused.remove(0);
    }
    p.refused.push(r);
}

/// The sending half: rounds of deltas, the window of unacknowledged batches, requests.
struct Outbound {
    session: Session,
    peer: NodeId,
    out: mpsc::Sender<Message>,
    inbox: mpsc::UnboundedReceiver<ToOutbound>,
    in_flight: HashMap<u64, InFlight>,
    next_seq: u64,
    peer_round_done: bool,
    said_bye: Arc<AtomicBool>,
}

/// What a sent batch covered: per document, the heads the peer has once it acknowledges.
struct InFlight {
    docs: Vec<(String, Vec<Hash>)>,
    /// The feed position a completed round reaches.
    upto: Option<u64>,
}

impl Outbound {
    async fn run(mut self) -> Result<(), SyncError> {
        let result = self.run_inner().await;
        if let Err(e) = &result {
            debug!(error = %e, "outbound half ended");
        }
        result
    }

    async fn run_inner(&mut self) -> Result<(), SyncError> {
        let mut from = loop {
            match self.inbox.recv().await {
                Some(ToOutbound::Start(from)) => break from,
                Some(ToOutbound::PeerRoundDone) => self.peer_round_done = true,
                Some(_) => continue,
                None => return Err(SyncError::Closed),
            }
        };
        let mut first_round = true;
        let mut feed = self.session.feed.clone();
        // A resume point reached by rounds that had nothing for the peer, not yet sent.
        let mut unsent_upto: Option<u64> = None;
        loop {
            let replica = self.session.replica.clone();
            let target = self
                .session
                .blocking(move || replica.feed_position())
                .await??;
            if first_round || target > from {
                let docs = self.round_docs(from, target).await?;
                if docs.is_empty() && !first_round {
                    // Nothing for the peer: no frame now, the resume point goes later.
                    unsent_upto = Some(target);
                } else {
                    let mut i = 0;
                    while i < docs.len() {
                        let (batch, next) = self.build_batch(&docs, i).await?;
                        i = next;
                        if batch.is_empty() {
                            continue;
                        }
                        self.wait_window().await?;
                        self.send_batch(batch, None).await?;
                    }
                    self.wait_window().await?;
                    self.send_batch(Vec::new(), Some(target)).await?;
                    unsent_upto = None;
                }
                from = target;
                first_round = false;
            }
            let flush_at = unsent_upto.map(|_| Instant::now() + self.session.config.cursor_flush);
            // Wait for acknowledgements, requests, or new local changes.
            loop {
                if self.session.config.one_round
                    && self.in_flight.is_empty()
                    && self.peer_round_done
                {
                    // Both directions are complete.
                    self.said_bye.store(true, Ordering::SeqCst);
                    self.out
                        .send(Message::Bye)
                        .await
                        .map_err(|_| SyncError::Closed)?;
                    return Ok(());
                }
                let flush = async {
                    match flush_at {
                        Some(at) if unsent_upto.is_some() => tokio::time::sleep_until(at).await,
                        _ => std::future::pending().await,
                    }
                };
                tokio::select! {
                    m = self.inbox.recv() => {
                        match m {
                            Some(m) => self.handle(m).await?,
                            None => return Err(SyncError::Closed),
                        }
                    }
                    changed = feed.changed(), if !self.session.config.one_round => {
                        if changed.is_err() {
                            return Err(SyncError::Closed);
                        }
                        self.gather(self.session.config.round_delay).await?;
                        break;
                    }
                    () = flush => {
                        self.wait_window().await?;
                        self.send_batch(Vec::new(), unsent_upto.take()).await?;
                    }
                }
            }
        }
    }

    /// Keeps answering the peer for `delay` while further local changes gather.
    async fn gather(&mut self, delay: Duration) -> Result<(), SyncError> {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                m = self.inbox.recv() => match m {
                    Some(m) => self.handle(m).await?,
                    None => return Err(SyncError::Closed),
                },
                () = tokio::time::sleep_until(until) => return Ok(()),
            }
        }
    }

    /// The documents of one round, in the order they are sent.
    async fn round_docs(&self, from: u64, target: u64) -> Result<Vec<String>, SyncError> {
        let replica = self.session.replica.clone();
        let policy = self.session.policy.clone();
        self.session
            .blocking(move || -> Result<Vec<String>, ReplicaError> {
                let mut docs: Vec<(u8, u64, String)> = Vec::new();
                if from == 0 || from > target {
                    // A first sync (or a peer that remembers more of our feed than exists): every
                    // document the peer may read.
                    for (i, doc) in policy.readable()?.into_iter().enumerate() {
                        docs.push((policy.priority(&doc), i as u64, doc));
                    }
                } else if let Some(changed) = policy.changed_in_scope(from, target)? {
                    for (seq, doc) in changed {
                        if seq <= target {
                            docs.push((policy.priority(&doc), seq, doc));
                        }
                    }
                } else {
                    let mut after = from;
                    loop {
                        let page = replica.changed_since(after, 10_000)?;
                        let Some(&(last, _)) = page.last() else { break };
                        for (seq, doc) in page {
                            if seq <= target && policy.may_read(&doc) {
                                docs.push((policy.priority(&doc), seq, doc));
                            }
                        }
                        if last >= target {
                            break;
                        }
                        after = last;
                    }
                }
                docs.sort_unstable();
                Ok(docs.into_iter().map(|(_, _, d)| d).collect())
            })
            .await?
            .map_err(SyncError::from)
    }

    /// Deltas for `docs[start..]` up to the batch limits; returns them and the next index.
    async fn build_batch(
        &self,
        docs: &[String],
        start: usize,
    ) -> Result<(Vec<(DocDelta, Vec<Hash>)>, usize), SyncError> {
        let cfg = self.session.config.clone();
        let end = (start + cfg.batch_docs).min(docs.len());
        let slice: Vec<String> = docs[start..end].to_vec();
        let replica = self.session.replica.clone();
        let peer = self.peer;
        let (batch, consumed) = self
            .session
            .blocking(move || -> Result<_, ReplicaError> {
                let shared = replica.shared_heads(peer, &slice)?;
                let mut batch = Vec::new();
                let mut bytes = 0usize;
                let mut consumed = 0usize;
                for (doc, have) in slice.into_iter().zip(shared) {
                    if bytes >= cfg.batch_bytes {
                        break;
                    }
                    consumed += 1;
                    let delta = match replica.delta(&doc, &have) {
                        Ok(Some(d)) => d,
                        Ok(None) => continue,
                        Err(ReplicaError::Damaged(d)) => {
                            warn!(doc = %d, "a damaged document is skipped in sync");
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    if delta.changes.is_empty() {
                        continue;
                    }
                    bytes += delta.changes.iter().map(Vec::len).sum::<usize>();
                    let Delta { changes, heads } = delta;
                    batch.push((DocDelta { doc, changes }, heads));
                }
                Ok((batch, consumed))
            })
            .await??;
        Ok((batch, start + consumed.max(1)))
    }

    async fn send_batch(
        &mut self,
        batch: Vec<(DocDelta, Vec<Hash>)>,
        upto: Option<u64>,
    ) -> Result<(), SyncError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut docs = Vec::with_capacity(batch.len());
        let mut heads = Vec::with_capacity(batch.len());
        for (d, h) in batch {
            heads.push((d.doc.clone(), h));
            docs.push(d);
        }
        self.in_flight.insert(seq, InFlight { docs: heads, upto });
        self.out
            .send(Message::Batch { seq, upto, docs })
            .await
            .map_err(|_| SyncError::Closed)
    }

    async fn wait_window(&mut self) -> Result<(), SyncError> {
        while self.in_flight.len() >= self.session.config.window {
            match self.inbox.recv().await {
                Some(m) => self.handle(m).await?,
                None => return Err(SyncError::Closed),
            }
        }
        Ok(())
    }

    async fn handle(&mut self, m: ToOutbound) -> Result<(), SyncError> {
        match m {
            ToOutbound::Start(_) => Err(SyncError::Protocol("a second Start".into())),
            ToOutbound::PeerRoundDone => {
                self.peer_round_done = true;
                Ok(())
            }
            ToOutbound::Ack { seq, refused } => self.acknowledged(seq, refused).await,
            ToOutbound::Request { doc, have } => self.answer(doc, have).await,
        }
    }

    async fn acknowledged(&mut self, seq: u64, refused: Vec<Refused>) -> Result<(), SyncError> {
        let Some(sent) = self.in_flight.remove(&seq) else {
            return Err(SyncError::Protocol(format!(
                "an acknowledgement of batch {seq}, which is not outstanding"
            )));
        };
        let mut acked: Vec<(String, Vec<Hash>)> = sent.docs;
        acked.retain(|(d, _)| !refused.iter().any(|r| &r.doc == d));
        let n = acked.len() as u64;
        if !acked.is_empty() {
            let replica = self.session.replica.clone();
            let peer = self.peer;
            self.session
                .blocking(move || replica.add_shared_heads(peer, &acked))
                .await??;
        }
        self.session.progress.update(|p| {
            p.docs_sent += n;
            for r in refused {
                push_refused(p, r);
            }
            if let Some(upto) = sent.upto {
                p.rounds_sent += 1;
                p.last_sent_round = Some(SystemTime::now());
                p.peer_has_upto = Some(upto);
            }
        });
        Ok(())
    }

    /// Answers a request for one document's changes beyond the given heads.
    async fn answer(&mut self, doc: String, have: Vec<Hash>) -> Result<(), SyncError> {
        if !self.session.policy.may_read(&doc) {
            warn!(%doc, "peer asked for a document it may not read");
            return self.deny(doc, Refusal::NotPermitted).await;
        }
        let replica = self.session.replica.clone();
        let d = doc.clone();
        match self
            .session
            .blocking(move || replica.delta(&d, &have))
            .await?
        {
            Ok(Some(delta)) if !delta.changes.is_empty() => {
                let Delta { changes, heads } = delta;
                self.send_batch(vec![(DocDelta { doc, changes }, heads)], None)
                    .await
            }
            Ok(_) => Ok(()),
            Err(_) => self.deny(doc, Refusal::Unavailable).await,
        }
    }

    async fn deny(&self, doc: String, reason: Refusal) -> Result<(), SyncError> {
        self.out
            .send(Message::Denied { doc, reason })
            .await
            .map_err(|_| SyncError::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn store_calls_never_run_more_than_the_bound_at_once() {
        const CALLS: usize = 8;
        let calls = StoreCalls::new(2);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..CALLS)
            .map(|i| {
                let (calls, in_flight, started, most) = (
                    calls.clone(),
                    in_flight.clone(),
                    started.clone(),
                    most.clone(),
                );
                tokio::spawn(async move {
                    calls
                        .run(move || {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            started.fetch_add(1, Ordering::SeqCst);
                            most.fetch_max(now, Ordering::SeqCst);
                            // Hold the slot until the bound is full (or no call is left to
                            // fill it), instead of sleeping and hoping the calls overlap.
                            let deadline = std::time::Instant::now() + Duration::from_secs(10);
                            while in_flight.load(Ordering::SeqCst) < 2
                                && started.load(Ordering::SeqCst) < CALLS
                            {
                                assert!(
                                    std::time::Instant::now() < deadline,
                                    "a second call never started"
                                );
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            i
                        })
                        .await
                })
            })
            .collect();
        let mut done = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap().unwrap());
        }
        assert_eq!(done, (0..CALLS).collect::<Vec<_>>());
        // Each call waited for a second one, so the bound was reached and never passed.
        let most = most.load(Ordering::SeqCst);
        assert_eq!(most, 2, "{most} calls ran at once under a bound of 2");
    }
}
