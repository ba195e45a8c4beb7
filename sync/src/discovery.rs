//! LAN discovery over mDNS / DNS-SD: a node announces `_attach._tcp.local.` and finds
//! the other nodes of **its own clinic** on the same network, so they can sync while the
//! hub is unreachable.
//!
//! This is an adapter: it only says "node N of clinic C is reachable at these addresses".
//! Whether that node is really who it claims is decided later by the mutual-TLS
//! handshake (certificates issued by the hub's CA); an advert is never trusted for more
//! than an address to try.
//!
//! The advert:
//! - instance name: the node uuid;
//! - TXT: `v=1`, `clinic=<uuid>`, `node=<uuid>`;
//! - host name: `<label>.local.`, a friendly name derived from the clinic name
//!   ([`host_label_for`]) so LAN browsers show something a person recognises;
//! - addresses: the machine's non-loopback IPv4/IPv6 addresses, kept current by mdns-sd.
//!
//! mdns-sd runs its own thread; a second std thread turns its events into a
//! [`tokio::sync::watch`] channel of [`LanPeer`]s, so no tokio runtime is needed to start.
//! Anything on the network may answer with any TXT; adverts that do not parse, speak
//! another version or belong to another clinic are ignored (debug log, never a panic).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mdns_sd::{
    DaemonEvent, IfKind, RRType, ResolvedService, ScopedIp, ServiceDaemon, ServiceEvent,
    ServiceInfo, TxtProperties,
};
use parking_lot::Mutex;
use tokio::sync::watch;
use uuid::Uuid;

/// The DNS-SD service type every Attach node announces and browses.
pub const SERVICE_TYPE: &str = "_attach._tcp.local.";

/// The advert format version carried in the `v` TXT key.
pub const ADVERT_VERSION: &str = "1";

/// The host label used when a clinic name yields no DNS-safe characters.
pub const FALLBACK_HOST_LABEL: &str = "attach";

/// Longest DNS label (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// How long [`Discovery::shutdown`] waits for mdns-sd to send its goodbyes and stop.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

/// What this node announces on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// The clinic this node belongs to.
    pub clinic: Uuid,
    /// This node's id (its store id).
    pub node: Uuid,
    /// TCP port the node's sync listener accepts mutual-TLS connections on.
    pub port: u16,
    /// Host label, without `.local.`; sanitised again by [`Discovery::start`], so any
    /// string is accepted. Usually [`host_label_for`] of the clinic name.
    pub host_label: String,
}

/// Another node of the same clinic, resolved on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanPeer {
    /// The peer's node id, as claimed in its advert (verified only by TLS later).
    pub node: Uuid,
    /// The peer's clinic; always the clinic of this [`Discovery`].
    pub clinic: Uuid,
    /// Where the peer's sync listener can be reached; never empty, sorted, no loopback.
    pub addrs: Vec<SocketAddr>,
    /// The peer's announced host name (`maple-clinic.local.`).
    pub host: String,
}

/// Why LAN discovery could not start.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The mDNS daemon refused a command (daemon start, browse, register).
    #[error("mDNS: {0}")]
    Mdns(#[from] mdns_sd::Error),
    /// The thread forwarding discovery events could not be spawned.
    #[error("cannot spawn the discovery thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Why a resolved `_attach._tcp` advert is not a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Rejection {
    #[error("TXT key `{0}` missing")]
    Missing(&'static str),
    #[error("TXT key `{0}` is not a valid value")]
    Invalid(&'static str),
    #[error("advert version is not {ADVERT_VERSION}")]
    Version,
    #[error("another clinic")]
    OtherClinic,
    #[error("no usable address")]
    NoAddress,
}

/// The identity part of a TXT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TxtAdvert {
    clinic: Uuid,
    node: Uuid,
}

/// Turns a clinic name into a DNS-safe host label: ASCII lowercase letters, digits and
/// single hyphens, no leading/trailing hyphen, at most 63 bytes; [`FALLBACK_HOST_LABEL`]
/// when nothing usable is left. `"Maple Clinic (North)"` becomes `"maple-clinic-north"`.
pub fn host_label_for(name: &str) -> String {
    let mut label = String::with_capacity(name.len().min(MAX_LABEL_LEN));
    let mut pending_hyphen = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_hyphen && !label.is_empty() {
                if label.len() + 1 >= MAX_LABEL_LEN {
                    break;
                }
                label.push('-');
            }
            pending_hyphen = false;
            if label.len() >= MAX_LABEL_LEN {
                break;
            }
            label.push(c.to_ascii_lowercase());
        } else {
            pending_hyphen = true;
        }
    }
    if label.is_empty() {
        FALLBACK_HOST_LABEL.to_owned()
    } else {
        label
    }
}

/// Reads `v`, `clinic` and `node` from a TXT record. Values must be UTF-8 uuids (not nil).
fn parse_txt(txt: &TxtProperties) -> Result<TxtAdvert, Rejection> {
    fn text<'a>(txt: &'a TxtProperties, key: &'static str) -> Result<&'a str, Rejection> {
        let value = txt
            .get_property_val(key)
            .ok_or(Rejection::Missing(key))?
            .ok_or(Rejection::Invalid(key))?;
        std::str::from_utf8(value).map_err(|_| Rejection::Invalid(key))
    }
    fn id(txt: &TxtProperties, key: &'static str) -> Result<Uuid, Rejection> {
        let id = Uuid::try_parse(text(txt, key)?).map_err(|_| Rejection::Invalid(key))?;
        if id.is_nil() {
            return Err(Rejection::Invalid(key));
        }
        Ok(id)
    }
    if text(txt, "v")? != ADVERT_VERSION {
        return Err(Rejection::Version);
    }
    Ok(TxtAdvert {
        clinic: id(txt, "clinic")?,
        node: id(txt, "node")?,
    })
}

/// Socket addresses worth dialling: no loopback, unspecified or multicast addresses;
/// IPv6 link-local addresses keep their interface scope.
fn usable_addrs(addresses: impl IntoIterator<Item = ScopedIp>, port: u16) -> Vec<SocketAddr> {
    let mut addrs: Vec<SocketAddr> = addresses
        .into_iter()
        .filter_map(|scoped| {
            let ip = scoped.to_ip_addr();
            if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
                return None;
            }
            Some(match (ip, &scoped) {
                (IpAddr::V6(v6), ScopedIp::V6(s)) if v6.is_unicast_link_local() => {
                    SocketAddr::V6(SocketAddrV6::new(v6, port, 0, s.scope_id().index))
                }
                _ => SocketAddr::new(ip, port),
            })
        })
        .collect();
    addrs.sort();
    addrs.dedup();
    addrs
}

/// What to do with one resolved service.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Peer(LanPeer),
    /// Our own advert (or one claiming our node id): neither a peer nor worth counting.
    Own,
    Ignored(Rejection),
}

fn classify(own: &TxtAdvert, service: &ResolvedService) -> Verdict {
    let txt = match parse_txt(service.get_properties()) {
        Ok(txt) => txt,
        Err(why) => return Verdict::Ignored(why),
    };
    if txt.node == own.node {
        return Verdict::Own;
    }
    if txt.clinic != own.clinic {
        return Verdict::Ignored(Rejection::OtherClinic);
    }
    let addrs = usable_addrs(service.get_addresses().iter().cloned(), service.get_port());
    if addrs.is_empty() {
        return Verdict::Ignored(Rejection::NoAddress);
    }
    Verdict::Peer(LanPeer {
        node: txt.node,
        clinic: txt.clinic,
        addrs,
        host: service.get_hostname().to_owned(),
    })
}

/// The forwarding thread's view of the LAN, keyed by service instance full name.
#[derive(Debug, Default)]
struct LanView {
    peers: BTreeMap<String, LanPeer>,
    ignored: BTreeSet<String>,
}

impl LanView {
    /// Applies one event; returns whether the peer list changed.
    fn apply(&mut self, own: &TxtAdvert, event: ServiceEvent) -> bool {
        match event {
            ServiceEvent::ServiceResolved(service) => {
                let name = service.get_fullname().to_owned();
                match classify(own, &service) {
                    Verdict::Peer(peer) => {
                        self.ignored.remove(&name);
                        tracing::debug!(node = %peer.node, addrs = peer.addrs.len(), "LAN peer resolved");
                        self.peers.insert(name, peer.clone()) != Some(peer)
                    }
                    Verdict::Own => self.peers.remove(&name).is_some(),
                    Verdict::Ignored(why) => {
                        // The instance name is network input: log its length, not its text.
                        tracing::debug!(reason = %why, name_len = name.len(), "mDNS advert ignored");
                        self.ignored.insert(name.clone());
                        self.peers.remove(&name).is_some()
                    }
                }
            }
            ServiceEvent::ServiceRemoved(_, name) => {
                self.ignored.remove(&name);
                let removed = self.peers.remove(&name);
                if let Some(peer) = &removed {
                    tracing::debug!(node = %peer.node, "LAN peer gone");
                }
                removed.is_some()
            }
            _ => false,
        }
    }

    fn snapshot(&self) -> Vec<LanPeer> {
        let mut peers: Vec<LanPeer> = self.peers.values().cloned().collect();
        peers.sort_by(|a, b| a.node.cmp(&b.node).then_with(|| a.addrs.cmp(&b.addrs)));
        peers
    }
}

/// A running LAN announcement and browse. Stops on [`Discovery::shutdown`] or drop.
pub struct Discovery {
    daemon: ServiceDaemon,
    fullname: String,
    host_name: Arc<Mutex<String>>,
    ignored: watch::Receiver<usize>,
    peers: watch::Receiver<Vec<LanPeer>>,
    threads: Vec<JoinHandle<()>>,
    stopped: bool,
}

impl Discovery {
    /// Starts the mDNS daemon, announces `advert` and browses for the other nodes of
    /// `advert.clinic`. Loopback interfaces are not used. Works without a tokio runtime.
    pub fn start(advert: Advert) -> Result<Self, DiscoveryError> {
        let own = TxtAdvert {
            clinic: advert.clinic,
            node: advert.node,
        };
        let host_name = format!("{}.local.", host_label_for(&advert.host_label));
        let daemon = ServiceDaemon::new()?;
        let started = Self::start_on(&daemon, &advert, own, &host_name);
        match started {
            Ok(parts) => Ok(Self {
                daemon,
                fullname: parts.fullname,
                host_name: parts.host_name,
                ignored: parts.ignored,
                peers: parts.peers,
                threads: parts.threads,
                stopped: false,
            }),
            Err(e) => {
                // Do not leave the daemon thread running behind a failed start.
                if let Ok(status) = daemon.shutdown() {
                    let _ = status.recv_timeout(SHUTDOWN_WAIT);
                }
                Err(e)
            }
        }
    }

    fn start_on(
        daemon: &ServiceDaemon,
        advert: &Advert,
        own: TxtAdvert,
        host_name: &str,
    ) -> Result<Started, DiscoveryError> {
        daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
        let monitor = daemon.monitor()?;
        let events = daemon.browse(SERVICE_TYPE)?;

        let clinic = advert.clinic.to_string();
        let node = advert.node.to_string();
        let txt = [
            ("v", ADVERT_VERSION),
            ("clinic", clinic.as_str()),
            ("node", node.as_str()),
        ];
        let info = ServiceInfo::new(SERVICE_TYPE, &node, host_name, (), advert.port, &txt[..])?
            .enable_addr_auto();
        let fullname = info.get_fullname().to_owned();

        let (peers_tx, peers) = watch::channel(Vec::new());
        let (ignored_tx, ignored) = watch::channel(0);
        let announced_host = Arc::new(Mutex::new(host_name.to_owned()));
        let mut threads = Vec::with_capacity(2);

        threads.push(
            std::thread::Builder::new()
                .name("attach-lan-browse".into())
                .spawn(move || {
                    let mut view = LanView::default();
                    // Ends when the daemon stops and drops its sender.
                    while let Ok(event) = events.recv() {
                        let changed = view.apply(&own, event);
                        ignored_tx.send_if_modified(|count| {
                            let changed = *count != view.ignored.len();
                            *count = view.ignored.len();
                            changed
                        });
                        if changed {
                            peers_tx.send_replace(view.snapshot());
                        }
                    }
                })
                .map_err(DiscoveryError::Thread)?,
        );

        let original_host = host_name.to_owned();
        let host = Arc::clone(&announced_host);
        threads.push(
            std::thread::Builder::new()
                .name("attach-lan-monitor".into())
                .spawn(move || {
                    while let Ok(event) = monitor.recv() {
                        match event {
                            DaemonEvent::NameChange(change)
                                if matches!(change.rr_type, RRType::A | RRType::AAAA)
                                    && change.original.eq_ignore_ascii_case(&original_host) =>
                            {
                                tracing::info!("mDNS host name taken on the LAN; renamed");
                                *host.lock() = change.new_name;
                            }
                            DaemonEvent::Error(e) => {
                                tracing::warn!(error = %e, "mDNS daemon error")
                            }
                            _ => {}
                        }
                    }
                })
                .map_err(DiscoveryError::Thread)?,
        );

        daemon.register(info)?;
        tracing::info!(node = %advert.node, port = advert.port, "LAN discovery started");
        Ok(Started {
            fullname,
            host_name: announced_host,
            ignored,
            peers,
            threads,
        })
    }

    /// The resolved nodes of this clinic on the LAN, excluding this node. A peer leaves the
    /// list when its service goes away (goodbye packet or expired records).
    pub fn peers(&self) -> watch::Receiver<Vec<LanPeer>> {
        self.peers.clone()
    }

    /// The full `.local.` host name announced, e.g. `maple-clinic.local.`; a `-2` style
    /// suffix appears if another host on the LAN already holds the name.
    pub fn host_name(&self) -> String {
        self.host_name.lock().clone()
    }

    /// How many resolved `_attach._tcp` services currently on the LAN are not peers:
    /// another clinic, another advert version, an unreadable TXT record or no usable
    /// address. For diagnostics ("another clinic's node shares this network"); updated
    /// before the peer list, so a service counted here is never in [`Self::peers`].
    pub fn ignored_services(&self) -> watch::Receiver<usize> {
        self.ignored.clone()
    }

    /// Withdraws the advert (goodbye packets), stops the daemon and its threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = done.recv_timeout(SHUTDOWN_WAIT);
        }
        match self.daemon.shutdown() {
            Ok(status) => {
                let _ = status.recv_timeout(SHUTDOWN_WAIT);
            }
            Err(e) => tracing::debug!(error = %e, "mDNS daemon already stopped"),
        }
        for thread in self.threads.drain(..) {
            // Both threads end once the daemon has dropped its channels.
            if thread.join().is_err() {
                tracing::warn!("LAN discovery thread panicked");
            }
        }
        tracing::info!("LAN discovery stopped");
    }
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `ServiceDaemon` has no `Debug`; the service name is our own node id.
        f.debug_struct("Discovery")
            .field("fullname", &self.fullname)
            .field("host_name", &self.host_name())
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What [`Discovery::start_on`] built besides the daemon.
struct Started {
    fullname: String,
    host_name: Arc<Mutex<String>>,
    ignored: watch::Receiver<usize>,
    peers: watch::Receiver<Vec<LanPeer>>,
    threads: Vec<JoinHandle<()>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdns_sd::IntoTxtProperties;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const CLINIC: Uuid = Uuid::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888);
    const OTHER_CLINIC: Uuid = Uuid::from_u128(0x9999_aaaa_bbbb_cccc_dddd_eeee_ffff_0000);
    const ME: Uuid = Uuid::from_u128(1);
    const PEER: Uuid = Uuid::from_u128(2);

    fn own() -> TxtAdvert {
        TxtAdvert {
            clinic: CLINIC,
            node: ME,
        }
    }

    fn txt(pairs: &[(&str, &str)]) -> TxtProperties {
        pairs.into_txt_properties()
    }

    /// Raw TXT RDATA: length-prefixed strings.
    fn raw_txt(strings: &[&[u8]]) -> TxtProperties {
        let mut rdata = Vec::new();
        for s in strings {
            rdata.push(u8::try_from(s.len()).expect("short string"));
            rdata.extend_from_slice(s);
        }
        TxtProperties::from(&rdata[..])
    }

    fn service(node: &str, clinic: &str, v: &str, addrs: &str) -> ResolvedService {
        ServiceInfo::new(
            SERVICE_TYPE,
            node,
            "maple-clinic.local.",
            addrs,
            7443,
            &[("v", v), ("clinic", clinic), ("node", node)][..],
        )
        .expect("valid service info")
        .as_resolved_service()
    }

    #[test]
    fn host_label_is_dns_safe() {
        assert_eq!(host_label_for("Maple Clinic"), "maple-clinic");
        assert_eq!(
            host_label_for("  Maple  Clinic (North) "),
            "maple-clinic-north"
        );
        assert_eq!(
            host_label_for("Clinique Sainte-Élise"),
            "clinique-sainte-lise"
        );
        assert_eq!(host_label_for("--a__b--"), "a-b");
        assert_eq!(host_label_for("ÉÉÉ"), FALLBACK_HOST_LABEL);
        assert_eq!(host_label_for(""), FALLBACK_HOST_LABEL);
        assert_eq!(host_label_for("....local."), "local");
    }

    #[test]
    fn host_label_is_at_most_63_bytes_and_never_ends_in_a_hyphen() {
        let long = host_label_for(&"a".repeat(200));
        assert_eq!(long.len(), MAX_LABEL_LEN);
        let words = host_label_for(&"abcd ".repeat(40));
        assert!(words.len() <= MAX_LABEL_LEN, "{words}");
        assert!(!words.ends_with('-') && !words.starts_with('-'), "{words}");
        // A hyphen that would land on byte 63 is dropped with the rest.
        let edge = host_label_for(&format!("{} b", "a".repeat(62)));
        assert_eq!(edge, "a".repeat(62));
    }

    #[test]
    fn host_label_output_is_a_fixed_point() {
        for name in [
            "Maple Clinic",
            "x",
            "A-b-C 9",
            "日本語 clinic",
            "a".repeat(80).as_str(),
        ] {
            let label = host_label_for(name);
            assert_eq!(host_label_for(&label), label, "{name}");
            assert!(
                label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
        }
    }

    #[test]
    fn txt_of_our_format_parses() {
        let parsed = parse_txt(&txt(&[
            ("v", "1"),
            ("clinic", &CLINIC.to_string()),
            ("node", &PEER.to_string()),
        ]));
        assert_eq!(
            parsed,
            Ok(TxtAdvert {
                clinic: CLINIC,
                node: PEER
            })
        );
    }

    #[test]
    fn txt_that_does_not_parse_is_rejected_not_panicked_on() {
        let c = CLINIC.to_string();
        let n = PEER.to_string();
        let cases: Vec<(TxtProperties, Rejection)> = vec![
            (txt(&[]), Rejection::Missing("v")),
            (
                txt(&[("v", "2"), ("clinic", &c), ("node", &n)]),
                Rejection::Version,
            ),
            (
                txt(&[("v", "1"), ("node", &n)]),
                Rejection::Missing("clinic"),
            ),
            (
                txt(&[("v", "1"), ("clinic", "maple"), ("node", &n)]),
                Rejection::Invalid("clinic"),
            ),
            (
                txt(&[
                    ("v", "1"),
                    ("clinic", &c),
                    ("node", &Uuid::nil().to_string()),
                ]),
                Rejection::Invalid("node"),
            ),
            // Boolean key (no `=`), non-UTF-8 value, oversized garbage.
            (raw_txt(&[b"v"]), Rejection::Invalid("v")),
            (
                raw_txt(&[b"v=1", b"clinic=\xff\xfe", b"node=x"]),
                Rejection::Invalid("clinic"),
            ),
            (raw_txt(&[&[0xff; 255]]), Rejection::Missing("v")),
            (raw_txt(&[b"=1", b"==", b""]), Rejection::Missing("v")),
        ];
        for (props, expected) in cases {
            assert_eq!(parse_txt(&props), Err(expected.clone()), "{props}");
        }
    }

    #[test]
    fn arbitrary_txt_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..512 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 7) as u8 * 37
                })
                .collect();
            let _ = parse_txt(&TxtProperties::from(&bytes[..]));
        }
    }

    #[test]
    fn only_same_clinic_others_with_addresses_are_peers() {
        let c = CLINIC.to_string();
        let peer = service(&PEER.to_string(), &c, "1", "10.9.8.2,fe80::1");
        match classify(&own(), &peer) {
            Verdict::Peer(p) => {
                assert_eq!(p.node, PEER);
                assert_eq!(p.clinic, CLINIC);
                assert_eq!(p.host, "maple-clinic.local.");
                assert_eq!(p.addrs.len(), 2);
                assert!(
                    p.addrs
                        .contains(&SocketAddr::from((Ipv4Addr::new(10, 9, 8, 2), 7443)))
                );
            }
            other => panic!("expected a peer, got {other:?}"),
        }
        let me = service(&ME.to_string(), &c, "1", "10.9.8.1");
        assert_eq!(classify(&own(), &me), Verdict::Own);
        let other = service(
            &PEER.to_string(),
            &OTHER_CLINIC.to_string(),
            "1",
            "10.9.8.3",
        );
        assert_eq!(
            classify(&own(), &other),
            Verdict::Ignored(Rejection::OtherClinic)
        );
        let newer = service(&PEER.to_string(), &c, "2", "10.9.8.3");
        assert_eq!(
            classify(&own(), &newer),
            Verdict::Ignored(Rejection::Version)
        );
        let loopback = service(&PEER.to_string(), &c, "1", "127.0.0.1,::1");
        assert_eq!(
            classify(&own(), &loopback),
            Verdict::Ignored(Rejection::NoAddress)
        );
    }

    #[test]
    fn unusable_addresses_are_dropped_and_duplicates_merged() {
        let addrs = usable_addrs(
            [
                ScopedIp::from(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                ScopedIp::from(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                ScopedIp::from(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 251))),
                ScopedIp::from(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5))),
                ScopedIp::from(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 5))),
            ],
            9,
        );
        assert_eq!(addrs, vec![SocketAddr::from(([192, 168, 1, 5], 9))]);
    }

    #[test]
    fn view_tracks_resolution_change_and_removal() {
        let c = CLINIC.to_string();
        let name = format!("{PEER}.{SERVICE_TYPE}");
        let mut view = LanView::default();
        let peer = service(&PEER.to_string(), &c, "1", "10.9.8.2");
        assert!(view.apply(
            &own(),
            ServiceEvent::ServiceResolved(Box::new(peer.clone()))
        ));
        assert!(!view.apply(&own(), ServiceEvent::ServiceResolved(Box::new(peer))));
        assert_eq!(view.snapshot().len(), 1);

        // The same instance re-announced for another clinic stops being a peer.
        let moved = service(
            &PEER.to_string(),
            &OTHER_CLINIC.to_string(),
            "1",
            "10.9.8.2",
        );
        assert!(view.apply(&own(), ServiceEvent::ServiceResolved(Box::new(moved))));
        assert!(view.snapshot().is_empty());
        assert_eq!(view.ignored.len(), 1);

        let back = service(&PEER.to_string(), &c, "1", "10.9.8.2");
        assert!(view.apply(&own(), ServiceEvent::ServiceResolved(Box::new(back))));
        assert!(view.ignored.is_empty());
        assert!(view.apply(
            &own(),
            ServiceEvent::ServiceRemoved(SERVICE_TYPE.into(), name.clone())
        ));
        assert!(view.snapshot().is_empty());
        assert!(!view.apply(
            &own(),
            ServiceEvent::ServiceRemoved(SERVICE_TYPE.into(), name)
        ));
    }
}
