//! The clinic node's side: enrolment with the hub, the background sync with it (with
//! backoff while offline), and the status people see.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use attach_sync::backoff::Backoff;
use attach_sync::pki::PeerRole;
use attach_sync::session::{read_message, write_message};
use attach_sync::tls::{self, Expect};
use attach_sync::wire::{ErrorCode, Message};
use attach_sync::{
    Credentials, EnrolmentCode, NodeKey, Progress, Session, SessionConfig, SyncError,
};
use parking_lot::Mutex;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_rustls::TlsConnector;
use tracing::{info, warn};
use uuid::Uuid;

use super::ReplicationError;
use super::hub::write_private;
use super::replica::{HubPolicy, StoreReplica};
use attach_app::{App, DocSet};

/// The node's sync files under its data directory.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    pub dir: PathBuf,
}

impl NodeFiles {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("sync"),
        }
    }
    fn hub_address(&self) -> PathBuf {
        self.dir.join("hub-address")
    }
    /// The credentials from enrolment and the hub address, if enrolled.
    pub fn load(&self) -> Result<Option<(Credentials, String)>, ReplicationError> {
        let Some(creds) = Credentials::load(&self.dir)? else {
            return Ok(None);
        };
        let hub = std::fs::read_to_string(self.hub_address())?
            .trim()
            .to_owned();
        Ok(Some((creds, hub)))
    }
}

/// The result of enrolling.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolled {
    pub clinic: Uuid,
    pub node: Uuid,
    pub hub: String,
}

/// Enrols this node with the hub at `hub` (`host:port`) using a one-time code; writes the
/// certificate, key and pinned CA under the data directory. `clinic` is the clinic this
/// node already holds (none for a replacement node that will restore it from the hub).
pub async fn enrol(
    files: &NodeFiles,
    hub: &str,
    code: &str,
    node: Uuid,
    clinic: Option<Uuid>,
) -> Result<Enrolled, ReplicationError> {
    let code: EnrolmentCode = code.trim().parse()?;
    let key = NodeKey::generate()?;
    let config = tls::enrol_client_config(code.ca_pin)?;
    let tcp = tokio::time::timeout(Duration::from_secs(15), TcpStream::connect(hub))
        .await
        .map_err(|_| ReplicationError::Timeout("connecting to the hub"))?
        .map_err(|e| ReplicationError::Unreachable(format!("{hub}: {e}")))?;
    let mut stream = TlsConnector::from(config)
        .connect(tls::server_name(), tcp)
        .await
        .map_err(|e| {
            ReplicationError::Invalid(format!(
                "the server at {hub} is not the hub that issued this code ({e})"
            ))
        })?;
    let ca_der = tls::pinned_ca_from(stream.get_ref().1.peer_certificates(), &code.ca_pin)
        .ok_or_else(|| ReplicationError::Invalid("the hub did not present its CA".into()))?;
    write_message(
        &mut stream,
        &Message::Enrol {
            code: code.to_string(),
            public_key: key.public_key_der(),
            node: *node.as_bytes(),
            clinic: clinic.map(|c| *c.as_bytes()),
        },
    )
    .await?;
    let (answer, _) = tokio::time::timeout(Duration::from_secs(30), read_message(&mut stream))
        .await
        .map_err(|_| ReplicationError::Timeout("the hub's answer"))??;
    let (clinic, cert_pem, ca_pem) = match answer {
        Message::Enrolled {
            clinic,
            node: n,
            cert_pem,
            ca_pem,
        } if n == *node.as_bytes() => (Uuid::from_bytes(clinic), cert_pem, ca_pem),
        Message::Error { text, .. } => return Err(ReplicationError::Refused(text)),
        _ => {
            return Err(ReplicationError::Invalid(
                "the hub answered the enrolment with something unexpected".into(),
            ));
        }
    };
    let creds = Credentials {
        ca_pem,
        cert_pem,
        key_pem: key.key_pem(),
    };
    if creds.ca_der()? != ca_der {
        return Err(ReplicationError::Invalid(
            "the CA the hub sent is not the one it presented".into(),
        ));
    }
    match creds.check()? {
        PeerRole::Node { clinic: c, node: n } if c == clinic && n == node => {}
        _ => {
            return Err(ReplicationError::Invalid(
                "the certificate the hub issued does not name this node".into(),
            ));
        }
    }
    std::fs::create_dir_all(&files.dir)?;
    creds.save(&files.dir)?;
    write_private(&files.hub_address(), hub.as_bytes())?;
    info!(%clinic, "enrolled with the hub");
    Ok(Enrolled {
        clinic,
        node,
        hub: hub.to_owned(),
    })
}

/// Sync status for people: what a clinic can see and act on.
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub enrolled: bool,
    pub hub: Option<String>,
    pub clinic: Option<Uuid>,
    pub connected: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_success: Option<OffsetDateTime>,
    /// In words a clinic can act on.
    pub last_error: Option<String>,
    pub sets: Vec<SetStatus>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// The `.local` name LAN browsers can use, once announced.
    pub lan_host: Option<String>,
    pub lan_peers: Vec<LanPeerStatus>,
}

/// A node of the same clinic on the LAN.
#[derive(Debug, Clone, Serialize)]
pub struct LanPeerStatus {
    pub node: Uuid,
    pub connected: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sync: Option<OffsetDateTime>,
}

/// Status of one document set.
#[derive(Debug, Clone, Serialize)]
pub struct SetStatus {
    pub set: String,
    /// Documents changed here that the hub has not yet confirmed.
    pub waiting: usize,
    /// The latest refusal by the hub of a document in this set, in words.
    pub refused: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    connected: bool,
    last_success: Option<OffsetDateTime>,
    last_error: Option<String>,
    /// The hub's node id, learned on the first session.
    hub_node: Option<[u8; 16]>,
    progress: Option<Arc<Progress>>,
    /// This session has completed a round both ways (logged once per session).
    caught_up: bool,
    totals: (u64, u64),
    lan_host: Option<String>,
    /// Discovered LAN peers, and the progress of the session with each connected one.
    lan: std::collections::BTreeMap<Uuid, Option<Arc<Progress>>>,
}

/// The node's sync, if it runs one (absent in router tests and `attach demo --seed-only`);
/// handed to the web UI and API as an axum extension.
#[derive(Debug, Clone)]
pub struct SyncHandle(pub Option<NodeSync>);

/// The node's background sync with its hub.
#[derive(Debug, Clone)]
pub struct NodeSync {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    app: App,
    replica: StoreReplica,
    files: NodeFiles,
    state: Mutex<State>,
    /// Wakes the loop after an enrolment, or for an immediate retry.
    wake: Notify,
    config: SessionConfig,
    retry_max: Duration,
}

impl NodeSync {
    /// `retry_max`: the longest wait between attempts while the hub is unreachable.
    pub fn new(app: App, data_dir: &Path, retry_max: Duration) -> Result<Self, ReplicationError> {
        let replica = StoreReplica::new(app.clone())?;
        let hub_node = replica.peers().hub_node()?;
        Ok(Self {
            inner: Arc::new(Inner {
                app,
                replica,
                files: NodeFiles::new(data_dir),
                state: Mutex::new(State {
                    hub_node,
                    ..State::default()
                }),
                wake: Notify::new(),
                config: SessionConfig::default(),
                retry_max,
            }),
        })
    }

    pub fn files(&self) -> &NodeFiles {
        &self.inner.files
    }

    pub fn app(&self) -> &App {
        &self.inner.app
    }

    pub fn replica(&self) -> &StoreReplica {
        &self.inner.replica
    }

    pub(super) fn set_lan_host(&self, host: String) {
        self.inner.state.lock().lan_host = Some(host);
    }

    /// The peers discovery currently sees.
    pub(super) fn set_lan_peers(
        &self,
        peers: &[attach_sync::LanPeer],
        connected: &std::collections::HashSet<Uuid>,
    ) {
        let mut st = self.inner.state.lock();
        st.lan
            .retain(|n, _| connected.contains(n) || peers.iter().any(|p| p.node == *n));
        for p in peers {
            st.lan.entry(p.node).or_insert(None);
        }
    }

    /// A LAN session with `peer` started (with its progress) or ended.
    pub(super) fn lan_session(&self, peer: Uuid, progress: Option<Arc<Progress>>) {
        self.inner.state.lock().lan.insert(peer, progress);
    }

    /// Enrols from inside the running node (the web UI and API), then starts syncing.
    pub async fn enrol(&self, hub: &str, code: &str) -> Result<Enrolled, ReplicationError> {
        let node = Uuid::from_bytes(self.inner.app.doc_store().node_id().0);
        let clinic = self.inner.app.clinic_ids().first().map(|c| c.as_uuid());
        let enrolled = enrol(&self.inner.files, hub, code, node, clinic).await?;
        self.inner.wake.notify_one();
        Ok(enrolled)
    }

    /// Ask the loop to try now instead of waiting out its backoff.
    pub fn retry_now(&self) {
        self.inner.wake.notify_one();
    }

    /// Runs forever: connect, sync live, and on any failure wait (exponential backoff with
    /// jitter) and try again. Nothing is lost while it is down: changes stay in the store's
    /// feed and go up on the next successful session.
    pub async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_secs(1), self.inner.retry_max);
        loop {
            let loaded = self.inner.files.load();
            let (creds, hub) = match loaded {
                Ok(Some(x)) => x,
                Ok(None) => {
                    self.set_error(None);
                    self.inner.wake.notified().await;
                    continue;
                }
                Err(e) => {
                    self.set_error(Some(format!(
                        "This node's sync certificate cannot be read ({e}). Enrol the node again with a new code from the hub administrator."
                    )));
                    self.inner.wake.notified().await;
                    continue;
                }
            };
            let result = self.session(&creds, &hub, &mut backoff).await;
            let delay = backoff.next_delay(&mut rand::thread_rng());
            let words = match result {
                Ok(()) => None,
                Err(e) => Some(explain(&e, &hub)),
            };
            if let Some(w) = &words {
                warn!(error = %w, retry_in_s = delay.as_secs(), "sync with the hub stopped");
            }
            self.set_error(words.map(|w| format!("{w} Next try in {} s.", delay.as_secs().max(1))));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.inner.wake.notified() => {}
            }
        }
    }

    fn set_error(&self, e: Option<String>) {
        let mut st = self.inner.state.lock();
        st.connected = false;
        st.last_error = e;
    }

    async fn session(
        &self,
        creds: &Credentials,
        hub: &str,
        backoff: &mut Backoff,
    ) -> Result<(), ReplicationError> {
        let config = tls::client_config(creds, Expect::Hub)?;
        let tcp = tokio::time::timeout(Duration::from_secs(15), TcpStream::connect(hub))
            .await
            .map_err(|_| ReplicationError::Timeout("connecting to the hub"))?
            .map_err(|e| ReplicationError::Unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream = tokio::time::timeout(
            Duration::from_secs(15),
            TlsConnector::from(config).connect(tls::server_name(), tcp),
        )
        .await
        .map_err(|_| ReplicationError::Timeout("the TLS handshake with the hub"))?
        .map_err(ReplicationError::Handshake)?;
        backoff.reset();
        let progress = Arc::new(Progress::default());
        {
            let mut st = self.inner.state.lock();
            st.connected = true;
            st.last_error = None;
            st.progress = Some(progress.clone());
            st.caught_up = false;
        }
        let session = Session {
            replica: Arc::new(self.inner.replica.clone()),
            policy: Arc::new(HubPolicy {
                app: self.inner.app.clone(),
            }),
            feed: self.inner.app.doc_store().subscribe_feed(),
            progress: progress.clone(),
            config: self.inner.config.clone(),
            expect_peer: None,
        };
        // Record what the session achieves while it runs (for the status page).
        let watcher = {
            let this = self.clone();
            let progress = progress.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    this.observe(&progress);
                }
            })
        };
        let result = session.run(stream).await;
        watcher.abort();
        self.observe(&progress);
        let mut st = self.inner.state.lock();
        st.totals.0 += progress.snapshot().bytes_sent;
        st.totals.1 += progress.snapshot().bytes_received;
        st.progress = None;
        st.connected = false;
        drop(st);
        match result {
            Ok(peer) => {
                self.learn_hub(peer);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn learn_hub(&self, peer: [u8; 16]) {
        let mut st = self.inner.state.lock();
        if st.hub_node != Some(peer) {
            st.hub_node = Some(peer);
            if let Err(e) = self.inner.replica.peers().set_hub_node(peer) {
                warn!(error = %e, "recording the hub's id failed");
            }
        }
    }

    /// Takes note of a running session's progress: when both directions complete a round,
    /// that is a successful sync.
    fn observe(&self, progress: &Progress) {
        let p = progress.snapshot();
        if let Some(peer) = p.peer {
            self.learn_hub(peer);
        }
        let mut st = self.inner.state.lock();
        if let (Some(a), Some(b)) = (p.last_sent_round, p.last_received_round) {
            let t = OffsetDateTime::from(a.min(b));
            if st.last_success.is_none_or(|s| s < t) {
                st.last_success = Some(t);
            }
            if !st.caught_up {
                st.caught_up = true;
                info!(
                    sent = p.docs_sent,
                    received = p.docs_received,
                    "caught up with the hub"
                );
            }
        }
        let hub = st.hub_node;
        drop(st);
        if let (Some(hub), Some(upto)) = (hub, p.peer_has_upto) {
            let _ = self.inner.replica.peers().set_peer_has(hub, upto);
        }
    }

    /// Status for the UI and API.
    pub fn status(&self) -> SyncStatus {
        let loaded = self.inner.files.load().ok().flatten();
        let st = self.inner.state.lock();
        let live = st.progress.as_ref().map(|p| p.snapshot());
        let hub_node = st.hub_node;
        let (mut sent, mut received) = st.totals;
        if let Some(p) = &live {
            sent += p.bytes_sent;
            received += p.bytes_received;
        }
        let mut status = SyncStatus {
            enrolled: loaded.is_some(),
            hub: loaded.as_ref().map(|(_, h)| h.clone()),
            clinic: loaded.as_ref().and_then(|(c, _)| match c.role() {
                Ok(PeerRole::Node { clinic, .. }) => Some(clinic),
                _ => None,
            }),
            connected: st.connected,
            last_success: st.last_success,
            last_error: st.last_error.clone(),
            sets: Vec::new(),
            bytes_sent: sent,
            bytes_received: received,
            lan_host: st.lan_host.clone(),
            lan_peers: st
                .lan
                .iter()
                .map(|(node, p)| {
                    let snap = p.as_ref().map(|p| p.snapshot());
                    LanPeerStatus {
                        node: *node,
                        connected: p.is_some(),
                        last_sync: snap.and_then(|s| {
                            Some(OffsetDateTime::from(
                                s.last_sent_round?.min(s.last_received_round?),
                            ))
                        }),
                    }
                })
                .collect(),
        };
        drop(st);
        if !status.enrolled {
            status.last_error = Some(
                "This node is not enrolled with the provincial hub, so its data exists only here. An account manager can enrol it with a code from the hub administrator."
                    .into(),
            );
        }
        // Documents changed after the hub's resume point in our feed are waiting to go up.
        let hub_has = hub_node
            .and_then(|h| self.inner.replica.peers().peer_has(h).ok().flatten())
            .unwrap_or(0);
        let store = self.inner.app.doc_store();
        let mut counts = std::collections::BTreeMap::<DocSet, usize>::new();
        let mut after = hub_has;
        while let Ok(page) = store.changed_since(after, 10_000) {
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (_, doc) in &page {
                *counts.entry(DocSet::of(doc.as_str())).or_default() += 1;
            }
        }
        let refused = live.map(|p| p.refused).unwrap_or_default();
        for set in [
            DocSet::Clinic,
            DocSet::Accounts,
            DocSet::Panels,
            DocSet::Offers,
        ] {
            let last_refusal = refused
                .iter()
                .rev()
                .find(|r| DocSet::of(&r.doc) == set)
                .map(|r| format!("The hub refused a change: {}.", r.reason.describe()));
            status.sets.push(SetStatus {
                set: set.label().to_owned(),
                waiting: counts.get(&set).copied().unwrap_or(0),
                refused: last_refusal,
            });
        }
        status
    }
}

/// Whether the hub turned this node's certificate away. Under TLS 1.3 the server checks
/// the client certificate after the client has finished its side of the handshake, so the
/// refusal arrives as an alert on the first read rather than as a handshake error.
fn certificate_refused(e: &ReplicationError) -> bool {
    let io = match e {
        ReplicationError::Handshake(io) => io,
        ReplicationError::Sync(SyncError::Io(io)) => io,
        _ => return false,
    };
    let text = io.to_string();
    text.contains("alert")
        && ["Certificate", "UnknownCA", "AccessDenied"]
            .iter()
            .any(|w| text.contains(w))
}

/// A sync failure in words a clinic can act on.
fn explain(e: &ReplicationError, hub: &str) -> String {
    if certificate_refused(e) {
        return format!(
            "The hub did not accept this node's certificate ({e}). The clinic's enrolment may have been revoked or expired: ask the provincial hub administrator for a new enrolment code."
        );
    }
    match e {
        ReplicationError::Unreachable(_) | ReplicationError::Timeout(_) => format!(
            "The provincial hub ({hub}) cannot be reached: {e}. The clinic keeps working; changes are kept here and sent when the connection returns."
        ),
        ReplicationError::Handshake(_) => format!(
            "The TLS handshake with the hub failed ({e}): the server at {hub} may not be this clinic's hub. Check the address, or ask the hub administrator."
        ),
        ReplicationError::Sync(SyncError::Remote {
            code: ErrorCode::Forbidden,
            text,
        }) => format!("The hub refused this node: {text}. Ask the provincial hub administrator."),
        ReplicationError::Sync(SyncError::Version(v)) => format!(
            "The hub runs an older version of Attach (sync protocol {v}) than this node can \
             sync with. Ask the provincial hub administrator to upgrade the hub."
        ),
        ReplicationError::Sync(SyncError::Remote {
            code: ErrorCode::Version,
            text,
        }) => format!(
            "The hub runs a newer version of Attach that no longer syncs with this one ({text}). \
             Update this node."
        ),
        ReplicationError::Sync(SyncError::Replica(r)) => format!(
            "This node could not store what the hub sent ({r}). Check the disk has free space."
        ),
        other => format!("The connection to the hub was lost: {other}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_certificate_is_explained_as_such() {
        let revoked = ReplicationError::Sync(SyncError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: CertificateRevoked",
        )));
        let words = explain(&revoked, "hub:7443");
        assert!(words.contains("revoked"), "{words}");
        let down = ReplicationError::Unreachable("connection refused".into());
        let words = explain(&down, "hub:7443");
        assert!(
            words.contains("cannot be reached") && words.contains("hub:7443"),
            "{words}"
        );
    }
}
