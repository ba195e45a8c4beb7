//! LAN discovery between two "machines": two network namespaces joined by a veth pair.
//!
//! The parent test re-runs this test binary inside each namespace, selecting the
//! `#[ignore]`d child test by exact name; environment variables give each child its role.
//! - namespace a: node A of clinic C;
//! - namespace b: node B of clinic C, and node X of another clinic D.
//!
//! A must find B (at B's namespace address) and not X; B must find A and not X; X must
//! find nobody although it sees A and B; each finds its peer's friendly host name over
//! mDNS. Without root/iproute2 the test prints `SKIPPED: ...` (fails under
//! `ATTACH_REQUIRE_NETNS=1`).

#[path = "../../tests/support/netns.rs"]
mod netns;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use attach_sync::discovery::{Advert, Discovery, LanPeer};
use mdns_sd::{HostnameResolutionEvent, IfKind, ServiceDaemon};
use uuid::Uuid;

/// The child test's name, for `--exact`.
const CHILD: &str = "lan_discovery_child";
/// How long a child waits for what it expects to see.
const WAIT: Duration = Duration::from_secs(15);
/// Printed by a child that found its peer (and, in b, ignored the other clinic).
const OK_LINE: &str = "LAN_CHILD_RESULT ok";
/// Printed by child a once b's adverts are gone from its peers.
const GONE_LINE: &str = "LAN_CHILD_GONE ok";
/// Printed by a child whose checks failed.
const FAILED_LINE: &str = "LAN_CHILD_RESULT FAILED";

/// Environment of a child run.
mod env {
    pub const ROLE: &str = "ATTACH_LAN_ROLE";
    pub const CLINIC: &str = "ATTACH_LAN_CLINIC";
    pub const NODE: &str = "ATTACH_LAN_NODE";
    pub const PORT: &str = "ATTACH_LAN_PORT";
    pub const HOST_LABEL: &str = "ATTACH_LAN_HOST_LABEL";
    pub const PEER_NODE: &str = "ATTACH_LAN_PEER_NODE";
    pub const PEER_ADDR: &str = "ATTACH_LAN_PEER_ADDR";
    pub const PEER_PORT: &str = "ATTACH_LAN_PEER_PORT";
    pub const PEER_HOST_LABEL: &str = "ATTACH_LAN_PEER_HOST_LABEL";
    /// Only for the child that also runs the other clinic's node.
    pub const OTHER_CLINIC: &str = "ATTACH_LAN_OTHER_CLINIC";
    pub const OTHER_NODE: &str = "ATTACH_LAN_OTHER_NODE";
    /// Set for the child that checks its peer disappears after `peer-gone` on stdin.
    pub const CHECK_GONE: &str = "ATTACH_LAN_CHECK_GONE";
}

struct Node {
    clinic: Uuid,
    node: Uuid,
    port: u16,
    label: &'static str,
}

#[test]
fn nodes_of_one_clinic_find_each_other_and_not_another_clinic() {
    if let Some(reason) = netns::unavailable_reason() {
        netns::skip_or_fail(&reason);
        return;
    }
    let pair = netns::NetnsPair::create("attach-lan").expect("create namespaces");
    let clinic = Uuid::new_v4();
    let a = Node {
        clinic,
        node: Uuid::new_v4(),
        port: 7401,
        label: "maple-clinic-front",
    };
    let b = Node {
        clinic,
        node: Uuid::new_v4(),
        port: 7402,
        label: "maple-clinic-back",
    };
    let other_clinic = Uuid::new_v4();
    let other_node = Uuid::new_v4();

    let exe = std::env::current_exe().expect("test binary path");
    let child = |ns: &netns::Ns, me: &Node, peer: &Node, peer_ns: &netns::Ns| {
        let mut cmd = ns.command(&exe);
        cmd.args([
            "--exact",
            CHILD,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env::ROLE, &ns.name)
        .env(env::CLINIC, me.clinic.to_string())
        .env(env::NODE, me.node.to_string())
        .env(env::PORT, me.port.to_string())
        .env(env::HOST_LABEL, me.label)
        .env(env::PEER_NODE, peer.node.to_string())
        .env(env::PEER_ADDR, peer_ns.addr.to_string())
        .env(env::PEER_PORT, peer.port.to_string())
        .env(env::PEER_HOST_LABEL, peer.label);
        cmd
    };
    let mut child_a = child(&pair.a, &a, &b, &pair.b);
    child_a.env(env::CHECK_GONE, "1");
    let mut child_b = child(&pair.b, &b, &a, &pair.a);
    child_b
        .env(env::OTHER_CLINIC, other_clinic.to_string())
        .env(env::OTHER_NODE, other_node.to_string());

    let started = Instant::now();
    let deadline = started + WAIT * 2;
    let mut a = Running::spawn(child_a);
    let mut b = Running::spawn(child_b);
    // Both must have found each other before either withdraws its advert.
    let found = a
        .wait_line(OK_LINE, deadline)
        .and_then(|_| b.wait_line(OK_LINE, deadline));
    let found_after = started.elapsed();
    // b leaves (goodbye packets); a must then drop b from its peers.
    let b_out = b.finish();
    let gone = found.and_then(|()| {
        a.tell("peer-gone")
            .and_then(|()| a.wait_line(GONE_LINE, deadline))
    });
    let a_out = a.finish();
    let report = format!(
        "--- namespace a ---\n{}\n--- namespace b ---\n{}",
        a_out.describe(),
        b_out.describe()
    );
    if let Err(e) = gone {
        panic!("{e} (after {:?})\n{report}", started.elapsed());
    }
    assert!(a_out.status.success() && b_out.status.success(), "{report}");
    println!(
        "found each other after {found_after:?}, all done after {:?}\n{report}",
        started.elapsed()
    );
}

/// A child test process: its stdout arrives line by line, its stdin releases it.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: std::thread::JoinHandle<String>,
}

struct Finished {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: String,
}

impl Running {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn child test");
        let stdin = child.stdin.take();
        let out = child.stdout.take().expect("child stdout");
        let mut err = child.stderr.take().expect("child stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        Running {
            child,
            stdin,
            lines,
            stdout: Vec::new(),
            stderr,
        }
    }

    /// Waits for a stdout line containing `marker`; a failure line or exit is an error.
    fn wait_line(&mut self, marker: &str, deadline: Instant) -> Result<(), String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|e| format!("no `{marker}` from child: {e}"))?;
            self.stdout.push(line.clone());
            if line.contains(marker) {
                return Ok(());
            }
            if line.contains(FAILED_LINE) {
                return Err(line);
            }
        }
    }

    fn tell(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}").map_err(|e| format!("write to child: {e}"))
    }

    /// Releases the child (EOF on stdin) and collects its exit and output.
    fn finish(mut self) -> Finished {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for child");
        self.stdout.extend(self.lines.iter());
        Finished {
            status,
            stdout: self.stdout,
            stderr: self.stderr.join().unwrap_or_default(),
        }
    }
}

impl Finished {
    fn describe(&self) -> String {
        format!(
            "status: {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout.join("\n"),
            self.stderr
        )
    }
}

/// Runs only when the parent test starts it inside a namespace.
#[tokio::test]
#[ignore = "child of nodes_of_one_clinic_find_each_other_and_not_another_clinic"]
async fn lan_discovery_child() {
    let Ok(role) = std::env::var(env::ROLE) else {
        println!("not started by the parent test; nothing to do");
        return;
    };
    if let Err(e) = child_checks(&role).await {
        println!("{FAILED_LINE} role={role}: {e}");
        panic!("{e}");
    }
}

fn var<T: std::str::FromStr>(name: &str) -> Result<T, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} not set"))?
        .parse()
        .map_err(|_| format!("{name} does not parse"))
}

async fn child_checks(role: &str) -> Result<(), String> {
    let started = Instant::now();
    let deadline = started + WAIT;
    let me = Advert {
        clinic: var(env::CLINIC)?,
        node: var(env::NODE)?,
        port: var(env::PORT)?,
        host_label: var(env::HOST_LABEL)?,
    };
    let peer_node: Uuid = var(env::PEER_NODE)?;
    let peer_addr: Ipv4Addr = var(env::PEER_ADDR)?;
    let peer_port: u16 = var(env::PEER_PORT)?;
    let peer_label: String = var(env::PEER_HOST_LABEL)?;
    let other: Option<Advert> = match std::env::var(env::OTHER_CLINIC) {
        Ok(_) => Some(Advert {
            clinic: var(env::OTHER_CLINIC)?,
            node: var(env::OTHER_NODE)?,
            port: 7409,
            host_label: "birch-clinic".into(),
        }),
        Err(_) => None,
    };
    let my_label = me.host_label.clone();
    let clinic = me.clinic;

    let discovery = Discovery::start(me).map_err(|e| format!("start: {e}"))?;
    let foreign = match other {
        Some(advert) => Some(Discovery::start(advert).map_err(|e| format!("start other: {e}"))?),
        None => None,
    };
    if discovery.host_name() != format!("{my_label}.local.") {
        return Err(format!("announced host name {}", discovery.host_name()));
    }

    // Our clinic's peer, at its namespace address; and the other clinic's node (in
    // namespace b, or ourselves-adjacent) resolved but ignored.
    let expected = SocketAddr::from((peer_addr, peer_port));
    let peers = wait_for(&discovery, 1, deadline, |peers| {
        peers
            .iter()
            .any(|p| p.node == peer_node && p.addrs.contains(&expected))
    })
    .await?;
    let found_ms = started.elapsed().as_millis();
    if peers.len() != 1 || peers[0].clinic != clinic {
        return Err(format!("expected exactly the one peer, got {peers:?}"));
    }
    let peer = &peers[0];
    if peer.host != format!("{peer_label}.local.") {
        return Err(format!("peer host {}", peer.host));
    }

    // The other clinic's node sees both nodes of clinic C and reports neither.
    if let Some(foreign) = &foreign {
        let seen = wait_for(foreign, 2, deadline, |_| true).await?;
        if !seen.is_empty() {
            return Err(format!("other clinic's node reported peers {seen:?}"));
        }
    }

    // The friendly host name resolves over mDNS to the peer's address.
    resolve(&peer.host, IpAddr::V4(peer_addr), deadline)?;
    println!(
        "{OK_LINE} role={role} peer_found_ms={found_ms} host_resolved_ms={}",
        started.elapsed().as_millis()
    );

    // Keep advertising until the parent says the peer has left (or releases us).
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("stdin: {e}"))?;
    if line.trim() == "peer-gone" && std::env::var(env::CHECK_GONE).is_ok() {
        let left_at = Instant::now();
        let deadline = left_at + WAIT;
        wait_for(&discovery, 0, deadline, |peers| peers.is_empty()).await?;
        println!(
            "{GONE_LINE} role={role} removed_after_ms={}",
            left_at.elapsed().as_millis()
        );
    }
    discovery.shutdown();
    if let Some(foreign) = foreign {
        foreign.shutdown();
    }
    Ok(())
}

/// Waits (no sleeps: on the watch channels) until at least `ignored` foreign services
/// have been resolved and rejected and `done(peers)` holds; returns the peers then.
async fn wait_for(
    discovery: &Discovery,
    ignored: usize,
    deadline: Instant,
    done: impl Fn(&[LanPeer]) -> bool,
) -> Result<Vec<LanPeer>, String> {
    let mut peers = discovery.peers();
    let mut ignored_rx = discovery.ignored_services();
    let deadline = tokio::time::Instant::from_std(deadline);
    loop {
        // Ignored is published before peers, so read it first.
        let ignored_now = *ignored_rx.borrow_and_update();
        let current = peers.borrow_and_update().clone();
        if ignored_now >= ignored && done(&current) {
            return Ok(current);
        }
        tokio::select! {
            r = peers.changed() => r.map_err(|_| "discovery stopped".to_string())?,
            r = ignored_rx.changed() => r.map_err(|_| "discovery stopped".to_string())?,
            () = tokio::time::sleep_until(deadline) => {
                return Err(format!(
                    "timed out: peers {current:?}, ignored {ignored_now} (want {ignored})"
                ));
            }
        }
    }
}

/// Resolves an mDNS host name with a separate daemon (as another LAN browser would),
/// until `want` is among the addresses found.
fn resolve(host: &str, want: IpAddr, deadline: Instant) -> Result<HashSet<IpAddr>, String> {
    let daemon = ServiceDaemon::new().map_err(|e| format!("resolver daemon: {e}"))?;
    let result = resolve_with(&daemon, host, want, deadline);
    if let Ok(status) = daemon.shutdown() {
        let _ = status.recv_timeout(Duration::from_secs(1));
    }
    result
}

fn resolve_with(
    daemon: &ServiceDaemon,
    host: &str,
    want: IpAddr,
    deadline: Instant,
) -> Result<HashSet<IpAddr>, String> {
    daemon
        .disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])
        .map_err(|e| e.to_string())?;
    let left = deadline.saturating_duration_since(Instant::now());
    let events = daemon
        .resolve_hostname(
            host,
            Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
        )
        .map_err(|e| format!("resolve {host}: {e}"))?;
    // IPv4 and IPv6 answers may arrive in separate events.
    let mut found = HashSet::new();
    while !found.contains(&want) {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(HostnameResolutionEvent::AddressesFound(_, addrs)) => {
                found.extend(addrs.iter().map(|a| a.to_ip_addr()));
            }
            Ok(HostnameResolutionEvent::SearchTimeout(_)) | Err(_) => {
                return Err(format!(
                    "{host} did not resolve to {want} in time: {found:?}"
                ));
            }
            Ok(_) => {}
        }
    }
    Ok(found)
}
