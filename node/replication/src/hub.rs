//! The provincial hub role: its certificate authority, the sync listener every clinic node
//! connects to (enrolment or a sync session, told apart by the client certificate), and the
//! records of enrolled clinics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use attach_sync::pki::{EnrolmentCode, PeerRole, fingerprint};
use attach_sync::session::{read_message, write_message};
use attach_sync::tls::{self, Revocation};
use attach_sync::wire::{ErrorCode, Message};
use attach_sync::{Credentials, HubCa, Progress, Session, SessionConfig};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{info, instrument, warn};
use uuid::Uuid;

use super::ReplicationError;
use super::hub_state::{CodeRecord, EnrolError, HubState, NodeRecord};
use super::replica::{ClinicPolicy, StoreReplica};
use attach_app::App;
use attach_domain::ClinicId;

/// How long a node certificate is valid.
const NODE_CERT_DAYS: i64 = 2 * 365;

/// The hub's files under its data directory.
#[derive(Debug, Clone)]
pub struct HubFiles {
    pub dir: PathBuf,
}

impl HubFiles {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("hub"),
        }
    }
    fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    fn ca_key(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }
    fn server(&self) -> PathBuf {
        self.dir.join("server")
    }
    /// The admin API's bearer token.
    pub fn admin_token(&self) -> PathBuf {
        self.dir.join("admin-token")
    }
    /// Where the running hub writes its admin API address (for the CLI).
    pub fn admin_address(&self) -> PathBuf {
        self.dir.join("admin-address")
    }
}

/// The hub's identity: its CA (which signs every node certificate) and its server
/// certificate. Created on first start.
#[derive(Debug)]
pub struct HubIdentity {
    pub ca: HubCa,
    pub server: Credentials,
}

impl HubIdentity {
    /// Loads the hub's CA and server credentials, creating them (and the admin token) the
    /// first time.
    pub fn load_or_create(files: &HubFiles) -> Result<Self, ReplicationError> {
        std::fs::create_dir_all(&files.dir)?;
        let ca = if files.ca_cert().exists() {
            let cert = std::fs::read_to_string(files.ca_cert())?;
            let key = std::fs::read_to_string(files.ca_key())?;
            HubCa::from_pem(&cert, &key)?
        } else {
            let ca = HubCa::generate("Attach provincial hub CA")?;
            write_private(&files.ca_key(), ca.key_pem().as_bytes())?;
            write_private(&files.ca_cert(), ca.cert_pem().as_bytes())?;
            info!("created the hub's certificate authority");
            ca
        };
        let server = match Credentials::load(&files.server())? {
            Some(c) => c,
            None => {
                let c = ca.issue_hub(&["localhost".into(), "127.0.0.1".into()])?;
                c.save(&files.server())?;
                c
            }
        };
        if !files.admin_token().exists() {
            let token = hex::encode(rand::random::<[u8; 32]>());
            write_private(&files.admin_token(), token.as_bytes())?;
        }
        Ok(Self { ca, server })
    }
}

/// Writes a file readable only by its owner, durably.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A node connected right now.
#[derive(Debug, Clone, Serialize)]
pub struct LiveNode {
    pub clinic: Uuid,
    pub node: Uuid,
    pub peer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub docs_sent: u64,
    pub docs_received: u64,
}

struct Live {
    clinic: Uuid,
    node: Uuid,
    peer: SocketAddr,
    since: OffsetDateTime,
    progress: Arc<Progress>,
    abort: AbortHandle,
}

/// The running hub.
pub struct Hub {
    pub app: App,
    pub replica: StoreReplica,
    pub state: HubState,
    pub identity: HubIdentity,
    pub files: HubFiles,
    live: Mutex<HashMap<u64, Live>>,
    next_conn: std::sync::atomic::AtomicU64,
    pub session_config: SessionConfig,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// One enrolled clinic, for the admin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClinicSummary {
    pub clinic: Uuid,
    pub name: Option<String>,
    pub facility: Option<String>,
    pub revoked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub enrolled_at: OffsetDateTime,
    pub nodes: Vec<NodeSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSummary {
    pub node: Uuid,
    pub revoked: bool,
    pub connected: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub enrolled_at: OffsetDateTime,
}

/// A new enrolment code, as shown to the hub admin once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewCode {
    pub code: String,
    pub clinic: Option<Uuid>,
    pub facility: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl Hub {
    pub fn open(app: App, files: HubFiles) -> Result<Arc<Self>, ReplicationError> {
        let identity = HubIdentity::load_or_create(&files)?;
        let state = HubState::open(app.doc_store())?;
        let replica = StoreReplica::new(app.clone())?;
        Ok(Arc::new(Self {
            app,
            replica,
            state,
            identity,
            files,
            live: Mutex::new(HashMap::new()),
            next_conn: std::sync::atomic::AtomicU64::new(1),
            session_config: SessionConfig::default(),
        }))
    }

    /// Creates a one-time enrolment code: for an existing clinic (a replacement or standby
    /// node) or for a new clinic with this facility number.
    pub fn create_code(
        &self,
        clinic: Option<Uuid>,
        facility: Option<String>,
        valid_for: time::Duration,
    ) -> Result<NewCode, ReplicationError> {
        if clinic.is_none() && facility.as_deref().is_none_or(|f| f.trim().is_empty()) {
            return Err(ReplicationError::Invalid(
                "give the clinic's id (an enrolled clinic) or the facility number of a new clinic"
                    .into(),
            ));
        }
        if let Some(c) = clinic
            && self.state.clinic(c).is_none()
            && !self.app.clinic_ids().contains(&ClinicId(c))
        {
            return Err(ReplicationError::Invalid(format!(
                "clinic {c} is not known to this hub; for a new clinic give its facility number instead"
            )));
        }
        if valid_for <= time::Duration::ZERO || valid_for > time::Duration::days(30) {
            return Err(ReplicationError::Invalid(
                "a code must be valid for between 1 hour and 30 days".into(),
            ));
        }
        let code = EnrolmentCode::new_for(&self.identity.ca);
        let now = OffsetDateTime::now_utc();
        let record = CodeRecord {
            clinic,
            facility: facility.map(|f| f.trim().to_owned()),
            created_at: now,
            expires_at: now + valid_for,
            used_at: None,
        };
        self.state.add_code(&code, &record)?;
        info!(clinic = ?clinic, "created an enrolment code");
        Ok(NewCode {
            code: code.to_string(),
            clinic,
            facility: record.facility,
            expires_at: record.expires_at,
        })
    }

    /// Revokes a clinic: its nodes are refused from now on and any open session is closed.
    pub fn revoke(&self, clinic: Uuid) -> Result<bool, ReplicationError> {
        let found = self.state.revoke_clinic(clinic)?;
        for live in self.live.lock().values().filter(|l| l.clinic == clinic) {
            live.abort.abort();
        }
        warn!(%clinic, "clinic revoked");
        Ok(found)
    }

    pub fn clinics(&self) -> Vec<ClinicSummary> {
        let live: Vec<Uuid> = self.live.lock().values().map(|l| l.node).collect();
        let nodes = self.state.nodes();
        let mut out: Vec<ClinicSummary> = self
            .state
            .clinics()
            .into_iter()
            .map(|c| ClinicSummary {
                clinic: c.clinic,
                name: self.app.clinic_name(ClinicId(c.clinic)).ok(),
                facility: c.facility,
                revoked: c.revoked,
                enrolled_at: c.enrolled_at,
                nodes: nodes
                    .iter()
                    .filter(|n| n.clinic == c.clinic)
                    .map(|n| NodeSummary {
                        node: n.node,
                        revoked: n.revoked,
                        connected: live.contains(&n.node),
                        enrolled_at: n.enrolled_at,
                    })
                    .collect(),
            })
            .collect();
        out.sort_by_key(|c| c.enrolled_at);
        out
    }

    pub fn live(&self) -> Vec<LiveNode> {
        self.live
            .lock()
            .values()
            .map(|l| {
                let p = l.progress.snapshot();
                LiveNode {
                    clinic: l.clinic,
                    node: l.node,
                    peer: l.peer.to_string(),
                    since: l.since,
                    bytes_sent: p.bytes_sent,
                    bytes_received: p.bytes_received,
                    docs_sent: p.docs_sent,
                    docs_received: p.docs_received,
                }
            })
            .collect()
    }

    /// Enrols a node: checks the code, signs its key, records it.
    fn enrol(
        &self,
        code: &str,
        public_key: &[u8],
        node: Uuid,
        claimed: Option<Uuid>,
    ) -> Result<(Uuid, String), EnrolError> {
        let code: EnrolmentCode = code.parse().map_err(|_| EnrolError::Unknown)?;
        if !code.pin_matches(self.identity.ca.cert_der()) {
            return Err(EnrolError::OtherHub);
        }
        let now = OffsetDateTime::now_utc();
        let (clinic, facility) = self.state.redeem(&code, claimed, now)?;
        let cert = self
            .identity
            .ca
            .issue_node(
                public_key,
                clinic,
                node,
                time::Duration::days(NODE_CERT_DAYS),
            )
            .map_err(|e| EnrolError::Storage(format!("the node's key was refused: {e}")))?;
        let der = Credentials {
            ca_pem: String::new(),
            cert_pem: cert.clone(),
            key_pem: String::new(),
        }
        .cert_der()
        .map_err(|e| EnrolError::Storage(e.to_string()))?;
        self.state.add_node(
            &NodeRecord {
                clinic,
                node,
                fingerprint: hex::encode(fingerprint(&der)),
                enrolled_at: now,
                revoked: false,
            },
            facility,
        )?;
        info!(%clinic, %node, "node enrolled");
        Ok((clinic, cert))
    }
}

/// Accepts connections on the hub's sync listener until `shutdown` resolves.
pub async fn serve(
    hub: Arc<Hub>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ReplicationError> {
    let revocation: Arc<dyn Revocation> = Arc::new(hub.state.clone());
    let config = tls::hub_server_config(&hub.identity.server, revocation)?;
    let acceptor = TlsAcceptor::from(config);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "accepting a sync connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let hub = hub.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(hub, acceptor, tcp, peer).await {
                info!(%peer, error = %e, "sync connection ended");
            }
        });
    }
    // Open sessions end with the process.
    for live in hub.live.lock().values() {
        live.abort.abort();
    }
    Ok(())
}

#[instrument(skip_all, fields(%peer))]
async fn connection(
    hub: Arc<Hub>,
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Result<(), ReplicationError> {
    let _ = tcp.set_nodelay(true);
    let mut tls = tokio::time::timeout(Duration::from_secs(15), acceptor.accept(tcp))
        .await
        .map_err(|_| ReplicationError::Timeout("TLS handshake"))??;
    let role = tls::peer_role(tls.get_ref().1.peer_certificates());
    match role {
        None => {
            // No client certificate: the only thing such a peer may do is enrol.
            let (msg, _) = tokio::time::timeout(Duration::from_secs(15), read_message(&mut tls))
                .await
                .map_err(|_| ReplicationError::Timeout("enrolment request"))??;
            let answer = match msg {
                Message::Enrol {
                    code,
                    public_key,
                    node,
                    clinic,
                } => {
                    let h = hub.clone();
                    let result = tokio::task::spawn_blocking(move || {
                        h.enrol(
                            &code,
                            &public_key,
                            Uuid::from_bytes(node),
                            clinic.map(Uuid::from_bytes),
                        )
                    })
                    .await
                    .map_err(|e| ReplicationError::Invalid(e.to_string()))?;
                    match result {
                        Ok((clinic, cert_pem)) => Message::Enrolled {
                            clinic: *clinic.as_bytes(),
                            node,
                            cert_pem,
                            ca_pem: hub.identity.ca.cert_pem(),
                        },
                        Err(e) => {
                            warn!(error = %e, "enrolment refused");
                            Message::Error {
                                code: ErrorCode::Forbidden,
                                text: e.to_string(),
                            }
                        }
                    }
                }
                _ => Message::Error {
                    code: ErrorCode::Forbidden,
                    text: "this hub requires an enrolled node's certificate".into(),
                },
            };
            write_message(&mut tls, &answer).await?;
            Ok(())
        }
        Some(PeerRole::Node { clinic, node }) => {
            let progress = Arc::new(Progress::default());
            let session = Session {
                replica: Arc::new(hub.replica.clone()),
                policy: Arc::new(ClinicPolicy {
                    app: hub.app.clone(),
                    clinic: ClinicId(clinic),
                    lan: false,
                }),
                feed: hub.app.doc_store().subscribe_feed(),
                progress: progress.clone(),
                config: hub.session_config.clone(),
                expect_peer: Some(*node.as_bytes()),
            };
            let task = tokio::spawn(session.run(tls));
            let id = hub
                .next_conn
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            hub.live.lock().insert(
                id,
                Live {
                    clinic,
                    node,
                    peer,
                    since: OffsetDateTime::now_utc(),
                    progress,
                    abort: task.abort_handle(),
                },
            );
            info!(%clinic, %node, "node connected");
            let result = task.await;
            hub.live.lock().remove(&id);
            match result {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.into()),
                Err(e) if e.is_cancelled() => Ok(()),
                Err(e) => Err(ReplicationError::Invalid(e.to_string())),
            }
        }
        Some(PeerRole::Hub) => Err(ReplicationError::Invalid(
            "a hub certificate presented as a client".into(),
        )),
    }
}
