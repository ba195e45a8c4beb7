//! Two Linux network namespaces joined by a veth pair, for tests that need a real
//! (if tiny) LAN: multicast, mDNS, two hosts with their own addresses.
//!
//! std only, so any test crate can include it:
//!
//! ```ignore
//! #[path = "../../tests/support/netns.rs"]
//! mod netns;
//! ```
//!
//! Needs root and iproute2. Callers check [`unavailable_reason`] first and call
//! [`skip_or_fail`] with it: the test prints `SKIPPED: <reason>`, or panics when
//! `ATTACH_REQUIRE_NETNS=1` (CI machines that must run these tests).
#![allow(dead_code)] // Each including crate uses a different subset.

use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Set to `1` to turn "namespaces unavailable" from a skip into a failure.
pub const REQUIRE_ENV: &str = "ATTACH_REQUIRE_NETNS";

/// Distinguishes pairs created by one process.
static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// One network namespace of a [`NetnsPair`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ns {
    /// The namespace name, as `ip netns` knows it.
    pub name: String,
    /// This namespace's address on the veth link (a /24 shared with the other side).
    pub addr: Ipv4Addr,
}

impl Ns {
    /// A command that runs `program` inside this namespace (`ip netns exec <name> program`).
    /// Add arguments, environment and stdio to it as usual.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Ns {
    /// Polls until `dev` is operationally up and has no tentative (DAD) address.
    fn wait_link_ready(&self, dev: &str, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            let link = ip(&["-n", &self.name, "-o", "link", "show", "dev", dev])?;
            let addrs = ip(&["-n", &self.name, "-o", "addr", "show", "dev", dev])?;
            let link = String::from_utf8_lossy(&link.stdout);
            let addrs = String::from_utf8_lossy(&addrs.stdout);
            // `state UP` is the operstate; it lags IFF_UP until the link watcher runs.
            if link.contains("state UP") && !addrs.contains("tentative") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{dev} in {} not ready after {limit:?}: {} {}",
                    self.name,
                    link.trim(),
                    addrs.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Two namespaces `a` and `b`, each with `lo` up and one end of a veth pair
/// (`veth0`, multicast on) addressed `10.x.y.1/24` and `10.x.y.2/24`.
/// Dropping it deletes both namespaces (and with them the veth pair).
#[derive(Debug)]
pub struct NetnsPair {
    /// The first namespace (`.1`).
    pub a: Ns,
    /// The second namespace (`.2`).
    pub b: Ns,
}

impl NetnsPair {
    /// Creates the pair. Names are `<tag>-<pid>-<n>-a|b`; `x.y` come from the pid and a
    /// per-process counter, so parallel test processes do not clash.
    pub fn create(tag: &str) -> Result<Self, String> {
        let pid = std::process::id();
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(24)
            .collect();
        let base = format!("{tag}-{pid}-{n}");
        let mix = pid.wrapping_mul(31).wrapping_add(n);
        let (x, y) = (((mix >> 8) % 250 + 1) as u8, (mix % 256) as u8);
        let pair = NetnsPair {
            a: Ns {
                name: format!("{base}-a"),
                addr: Ipv4Addr::new(10, x, y, 1),
            },
            b: Ns {
                name: format!("{base}-b"),
                addr: Ipv4Addr::new(10, x, y, 2),
            },
        };
        // Left over from a killed run with the same pid: remove, ignoring "not found".
        for ns in [&pair.a, &pair.b] {
            let _ = Command::new("ip").args(["netns", "del", &ns.name]).output();
        }
        // From here on, Drop cleans up whatever was created.
        ip(&["netns", "add", &pair.a.name])?;
        ip(&["netns", "add", &pair.b.name])?;
        ip(&[
            "-n",
            &pair.a.name,
            "link",
            "add",
            "veth0",
            "type",
            "veth",
            "peer",
            "name",
            "veth0",
            "netns",
            &pair.b.name,
        ])?;
        for ns in [&pair.a, &pair.b] {
            let addr = format!("{}/24", ns.addr);
            ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
            ip(&["-n", &ns.name, "addr", "add", &addr, "dev", "veth0"])?;
            ip(&["-n", &ns.name, "link", "set", "veth0", "multicast", "on"])?;
            ip(&["-n", &ns.name, "link", "set", "veth0", "up"])?;
        }
        // The kernel reports a veth as running (IFF_RUNNING, operstate "up") up to ~1 s
        // after its peer comes up, and IPv6 link-local addresses stay "tentative" during
        // duplicate address detection. Programs that enumerate interfaces at start (mdns-sd
        // does, then re-checks only every 5 s) must see the finished link.
        for ns in [&pair.a, &pair.b] {
            ns.wait_link_ready("veth0", Duration::from_secs(10))?;
        }
        Ok(pair)
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            if let Err(e) = ip(&["netns", "del", &ns.name]) {
                eprintln!("netns cleanup: {e}");
            }
        }
    }
}

/// Runs `ip <args>`, turning a failure into a message with its stderr.
fn ip(args: &[&str]) -> Result<Output, String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Why network namespaces cannot be used here, or `None` if they can: not root, no
/// `ip` binary, or the kernel/container refusing to create a namespace.
pub fn unavailable_reason() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("network namespaces need Linux".into());
    }
    match std::fs::read_to_string("/proc/self/status") {
        Ok(status) => {
            let euid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1));
            if euid != Some("0") {
                return Some("network namespaces need root".into());
            }
        }
        Err(e) => return Some(format!("cannot read /proc/self/status: {e}")),
    }
    if let Err(e) = Command::new("ip").arg("-V").output() {
        return Some(format!("`ip` (iproute2) not usable: {e}"));
    }
    let probe = format!("attach-probe-{}", std::process::id());
    if let Err(e) = ip(&["netns", "add", &probe]) {
        return Some(format!("cannot create a network namespace: {e}"));
    }
    let _ = ip(&["netns", "del", &probe]);
    None
}

/// Reports that the test cannot run: prints `SKIPPED: <reason>`, or panics if
/// `ATTACH_REQUIRE_NETNS=1`.
pub fn skip_or_fail(reason: &str) {
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_ENV}=1 but network namespaces are unavailable: {reason}");
    }
    println!("SKIPPED: {reason}");
}
