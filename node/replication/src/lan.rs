//! LAN peers: once enrolled, the node listens for other nodes of its clinic (mutual TLS
//! with certificates from the hub's CA, so it works while the hub is unreachable),
//! advertises itself over mDNS with a friendly `.local` host name, and connects to the
//! peers it discovers. Of two peers, the one with the lower node id dials, so each pair
//! has one session.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use attach_sync::backoff::Backoff;
use attach_sync::discovery::host_label_for;
use attach_sync::pki::PeerRole;
use attach_sync::tls::{self, Expect, NoRevocation};
use attach_sync::{Advert, Credentials, Discovery, LanPeer, Progress, Session, SessionConfig};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{info, warn};
use uuid::Uuid;

use super::ReplicationError;
use super::node::NodeSync;
use super::replica::ClinicPolicy;
use attach_app::config::Config;
use attach_domain::ClinicId;

/// Starts the LAN side in the background: it waits until the node is enrolled.
pub async fn start(sync: NodeSync, config: &Config) {
    let listen = config.sync_listen;
    let discovery = config.lan_discovery;
    tokio::spawn(async move {
        let creds = loop {
            match sync.files().load() {
                Ok(Some((creds, _))) => break creds,
                _ => tokio::time::sleep(Duration::from_secs(5)).await,
            }
        };
        if let Err(e) = run(sync, creds, listen, discovery).await {
            warn!(error = %e, "LAN sync stopped");
        }
    });
}

async fn run(
    sync: NodeSync,
    creds: Credentials,
    listen: SocketAddr,
    discovery: bool,
) -> Result<(), ReplicationError> {
    let PeerRole::Node { clinic, node } = creds.check()? else {
        return Err(ReplicationError::Invalid(
            "the sync certificate is not a clinic node's".into(),
        ));
    };
    let listener = TcpListener::bind(listen).await?;
    let port = listener.local_addr()?.port();
    info!(port, "LAN sync listening");
    let server = tls::node_server_config(&creds, Arc::new(NoRevocation))?;
    let client = tls::client_config(&creds, Expect::NodeOfClinic(clinic))?;
    let connected: Arc<Mutex<HashSet<Uuid>>> = Arc::default();

    let acceptor = TlsAcceptor::from(server);
    let accept_sync = sync.clone();
    let accept_connected = connected.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, addr)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let acceptor = acceptor.clone();
            let sync = accept_sync.clone();
            let connected = accept_connected.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(Duration::from_secs(15), acceptor.accept(tcp)).await
                else {
                    info!(%addr, "a LAN connection failed its TLS handshake");
                    return;
                };
                let Some(PeerRole::Node { node: peer, .. }) =
                    tls::peer_role(tls.get_ref().1.peer_certificates())
                else {
                    return;
                };
                run_session(&sync, clinic, peer, &connected, tls).await;
            });
        }
    });

    if !discovery {
        return Ok(());
    }
    let name = sync.app().clinic_name(ClinicId(clinic)).unwrap_or_default();
    let discovery = Discovery::start(Advert {
        clinic,
        node,
        port,
        host_label: host_label_for(&name),
    })
    .map_err(|e| ReplicationError::Invalid(format!("mDNS: {e}")))?;
    info!(host = %discovery.host_name(), "announced on the LAN");
    sync.set_lan_host(discovery.host_name());
    let mut peers = discovery.peers();
    let dialing: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    loop {
        let current: Vec<LanPeer> = peers.borrow_and_update().clone();
        sync.set_lan_peers(&current, &connected.lock());
        for peer in current {
            // One session per pair: the lower id dials.
            if node >= peer.node || !dialing.lock().insert(peer.node) {
                continue;
            }
            let sync = sync.clone();
            let client = client.clone();
            let connected = connected.clone();
            let dialing = dialing.clone();
            let peers_rx = discovery.peers();
            let peer_node = peer.node;
            tokio::spawn(async move {
                dial(&sync, clinic, peer, client, &connected, peers_rx).await;
                dialing.lock().remove(&peer_node);
            });
        }
        if peers.changed().await.is_err() {
            break;
        }
    }
    drop(discovery);
    Ok(())
}

/// Keeps a session with one discovered peer while it is advertised, retrying with backoff.
async fn dial(
    sync: &NodeSync,
    clinic: Uuid,
    peer: LanPeer,
    client: Arc<rustls::ClientConfig>,
    connected: &Arc<Mutex<HashSet<Uuid>>>,
    mut peers: tokio::sync::watch::Receiver<Vec<LanPeer>>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    loop {
        let still_there = peers
            .borrow_and_update()
            .iter()
            .any(|p| p.node == peer.node);
        if !still_there {
            return;
        }
        for addr in &peer.addrs {
            let Ok(Ok(tcp)) =
                tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await
            else {
                continue;
            };
            let Ok(tls) = TlsConnector::from(client.clone())
                .connect(tls::server_name(), tcp)
                .await
            else {
                continue;
            };
            backoff.reset();
            run_session(sync, clinic, peer.node, connected, tls).await;
            break;
        }
        let delay = backoff.next_delay(&mut rand::thread_rng());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = peers.changed() => {}
        }
    }
}

async fn run_session<S>(
    sync: &NodeSync,
    clinic: Uuid,
    peer: Uuid,
    connected: &Arc<Mutex<HashSet<Uuid>>>,
    stream: S,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    if !connected.lock().insert(peer) {
        return;
    }
    info!(%peer, "LAN peer connected");
    let progress = Arc::new(Progress::default());
    let session = Session {
        replica: Arc::new(sync.replica().clone()),
        policy: Arc::new(ClinicPolicy {
            app: sync.app().clone(),
            clinic: ClinicId(clinic),
            lan: true,
        }),
        feed: sync.app().doc_store().subscribe_feed(),
        progress: progress.clone(),
        config: SessionConfig::default(),
        expect_peer: Some(*peer.as_bytes()),
    };
    sync.lan_session(peer, Some(progress.clone()));
    let watcher = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let p = progress.snapshot();
                if p.last_sent_round.is_some() && p.last_received_round.is_some() {
                    info!(%peer, sent = p.docs_sent, received = p.docs_received, "caught up with LAN peer");
                    break;
                }
            }
        })
    };
    let result = session.run(stream).await;
    watcher.abort();
    sync.lan_session(peer, None);
    connected.lock().remove(&peer);
    match result {
        Ok(_) => info!(%peer, "LAN session ended"),
        Err(e) => info!(%peer, error = %e, "LAN session ended"),
    }
}
