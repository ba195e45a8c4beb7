//! A hub and clinic nodes as real `attach` processes on loopback ports: starting them,
//! enrolling nodes, signing in, and comparing replicas. Shared by the sync and matching
//! end-to-end tests.

use std::time::{Duration, Instant};

use attach_sync::Credentials;
use serde_json::Value;

use crate::support::{Api, DataDir, Server, run, run_with};

pub const SYNC_WAIT: Duration = Duration::from_secs(90);
pub const DEMO_FACILITY: &str = "V0J2N0";

/// Environment for nodes in these tests: no mDNS, an ephemeral LAN port, quick retries.
pub const NODE_ENV: &[(&str, &str)] = &[
    ("ATTACH_LAN_DISCOVERY", "false"),
    ("ATTACH_SYNC_LISTEN", "127.0.0.1:0"),
    ("ATTACH_SYNC_RETRY_MAX_SECS", "1"),
];

pub struct HubProc {
    pub server: Server,
    pub sync_addr: String,
}

pub fn start_hub(dir: &DataDir, sync_listen: &str) -> HubProc {
    let server = Server::start(
        &[
            "hub",
            "--data-dir",
            dir.arg(),
            "--listen",
            "127.0.0.1:0",
            "--sync-listen",
            sync_listen,
            "--web-listen",
            "127.0.0.1:0",
        ],
        &[],
        "Attach hub admin API on",
    );
    server.wait_stdout("Attach hub sync listening on");
    let sync_addr = server
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("Attach hub sync listening on "))
        .expect("sync address")
        .trim()
        .to_owned();
    HubProc { server, sync_addr }
}

pub fn code(hub: &DataDir, args: &[&str]) -> String {
    let mut all = vec!["hub", "enrol-clinic", "--data-dir", hub.arg()];
    all.extend_from_slice(args);
    let out = run(&all).assert_success();
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Enrolment code: "))
        .expect("a code")
        .trim()
        .to_owned()
}

pub fn enrol(node: &DataDir, hub: &HubProc, code: &str) -> String {
    let out = run(&[
        "node",
        "enrol",
        "--data-dir",
        node.arg(),
        "--hub",
        &hub.sync_addr,
        "--code",
        code,
    ])
    .assert_success();
    out.stdout
}

/// The demo clinic (a director, providers, panels) seeded offline in `dir`.
pub fn seed_demo(dir: &DataDir, patients: u32) {
    run_with(
        &[
            "demo",
            "--seed-only",
            "--data-dir",
            dir.arg(),
            "--patients",
            &patients.to_string(),
        ],
        &[],
        Duration::from_secs(180),
    )
    .assert_success();
}

/// The clinic id `attach node enrol` reported.
pub fn enrolled_clinic(enrol_stdout: &str) -> String {
    enrol_stdout
        .split("for clinic ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("clinic id")
        .to_owned()
}

pub fn start_node(dir: &DataDir) -> Server {
    Server::start(
        &["node", "--data-dir", dir.arg(), "--listen", "127.0.0.1:0"],
        NODE_ENV,
        "Attach node listening on",
    )
}

/// `attach inspect digest` of one clinic in a stopped data directory.
pub fn digest(dir: &DataDir, clinic: &str) -> String {
    let out = run(&[
        "inspect",
        "digest",
        "--data-dir",
        dir.arg(),
        "--clinic",
        clinic,
    ])
    .assert_success();
    out.stdout.trim().to_owned()
}

pub fn signed_in(node: &Server, user: &str, password: &str) -> Api {
    let mut api = node.api();
    let (status, body) = api.login(user, password);
    assert_eq!(status, 200, "{user} signs in: {body}");
    api
}

pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + SYNC_WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "{what} within {SYNC_WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn conflicts(api: &Api, clinic: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/api/v1/clinics/{clinic}/conflicts"));
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

pub fn hub_status(hub: &DataDir) -> String {
    run(&["hub", "status", "--data-dir", hub.arg()])
        .assert_success()
        .stdout
}

/// How long the hub's record of traffic must stay the same to count as settled.
const QUIET: Duration = Duration::from_secs(1);

/// Waits until the hub's record of traffic with each connected node has not changed for
/// `QUIET`, reading it at every poll of `wait_until` (so a change in between is seen).
pub fn wait_quiet(hub: &DataDir) {
    let mut last = hub_status(hub);
    let mut since = Instant::now();
    wait_until("sync traffic settles", || {
        let now = hub_status(hub);
        if now != last {
            last = now;
            since = Instant::now();
        }
        since.elapsed() >= QUIET
    });
}

/// The clinic an enrolled node belongs to, read from its certificate.
pub fn enrolled_clinic_of(dir: &DataDir) -> String {
    let creds = Credentials::load(&dir.path().join("sync"))
        .unwrap()
        .expect("enrolled");
    match creds.role().unwrap() {
        attach_sync::PeerRole::Node { clinic, .. } => clinic.to_string(),
        other => panic!("{other:?}"),
    }
}
