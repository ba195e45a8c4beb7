//! Sync end to end: a hub and clinic nodes as real `attach` processes on loopback ports.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attach_sync::Credentials;
use attach_sync::session::{read_message, write_message};
use attach_sync::tls::{self, Expect};
use attach_sync::wire::{DocDelta, Message, PROTOCOL_VERSION, Refusal};
use serde_json::{Value, json};

use crate::cluster::{
    DEMO_FACILITY, SYNC_WAIT, code, conflicts, digest, enrol, enrolled_clinic, enrolled_clinic_of,
    hub_status, seed_demo, signed_in, start_hub, start_node, wait_quiet, wait_until,
};
use crate::support::{DataDir, run};

#[test]
fn a_hub_and_three_nodes_converge_after_clashing_offline_edits() {
    let hub_dir = DataDir::new("hub");
    let a1_dir = DataDir::new("clinic-a1");
    let a2_dir = DataDir::new("clinic-a2");
    let b_dir = DataDir::new("clinic-b");

    // Clinic A: the demo clinic (a director, providers, a panel). Clinic B: a new clinic.
    seed_demo(&a1_dir, 120);
    run(&[
        "init",
        "--data-dir",
        b_dir.arg(),
        "--clinic-name",
        "Bayside Clinic",
        "--facility-number",
        "B12345",
        "--director-username",
        "bea",
        "--director-name",
        "Bea B",
    ])
    .assert_success();

    let hub = start_hub(&hub_dir, "127.0.0.1:0");
    let a1_code = code(&hub_dir, &["--facility", DEMO_FACILITY]);
    let enrolled = enrol(&a1_dir, &hub, &a1_code);
    let clinic_a = enrolled_clinic(&enrolled);
    enrol(&b_dir, &hub, &code(&hub_dir, &["--facility", "B12345"]));
    // A code works once.
    let again = run(&[
        "node",
        "enrol",
        "--data-dir",
        b_dir.arg(),
        "--hub",
        &hub.sync_addr,
        "--code",
        &a1_code,
    ])
    .assert_failure();
    assert!(
        again.stderr.contains("already been used"),
        "{}",
        again.stderr
    );

    let a1 = start_node(&a1_dir);
    let b = start_node(&b_dir);
    a1.wait_log("caught up with the hub", 1, SYNC_WAIT);
    b.wait_log("caught up with the hub", 1, SYNC_WAIT);

    // A standby PC for clinic A restores everything from the hub, with no local backup.
    enrol(&a2_dir, &hub, &code(&hub_dir, &["--clinic", &clinic_a]));
    let a2 = start_node(&a2_dir);
    a2.wait_log("caught up with the hub", 1, SYNC_WAIT);
    let dir1 = signed_in(&a1, "director", "demo-director-pw");
    let dir2 = signed_in(&a2, "director", "demo-director-pw");
    let pat1 = signed_in(&a1, "drpatel", "demo-drpatel-pw");
    let pat2 = signed_in(&a2, "drpatel", "demo-drpatel-pw");
    let me = pat1.get("/api/v1/session").1["user"]
        .as_str()
        .unwrap()
        .to_owned();
    let panel = format!("/api/v1/clinics/{clinic_a}/providers/{me}/panel");
    let (status, page1) = pat1.get(&panel);
    assert_eq!(status, 200, "{page1}");
    let (_, page2) = pat2.get(&panel);
    assert_eq!(
        page1["total"], page2["total"],
        "the standby has the whole panel"
    );
    // A patient who is active now: one PC marks them inactive, the other gives them a
    // clinic-defined status.
    let entry = page1["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"]["kind"] == "active")
        .and_then(|r| r["id"].as_str())
        .expect("an active patient")
        .to_owned();

    // The hub goes down; everyone keeps working.
    let sync_port = hub.sync_addr.clone();
    hub.server.stop();

    // The same patient's status, set differently on the two PCs of clinic A.
    let (_, statuses) = dir1.get(&format!("/api/v1/clinics/{clinic_a}/statuses"));
    let custom = statuses
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"].is_string()))
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .expect("the demo clinic defines statuses");
    let (s1, r1) = pat1.patch(
        &format!("{panel}/{entry}"),
        &json!({"status": {"kind": "inactive"}}),
    );
    assert_eq!(s1, 200, "{r1}");
    let (s2, r2) = pat2.patch(
        &format!("{panel}/{entry}"),
        &json!({"status": {"kind": "custom", "id": custom}}),
    );
    assert_eq!(s2, 200, "{r2}");
    // The secondary account manager, set to different people on the two PCs.
    let (_, members) = dir1.get(&format!("/api/v1/clinics/{clinic_a}/members"));
    let id_of = |name: &str| {
        members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["username"] == name)
            .map(|m| {
                m["membership"]["user"]
                    .as_str()
                    .or(m["user"].as_str())
                    .unwrap()
                    .to_owned()
            })
            .unwrap_or_else(|| panic!("{name} in {members}"))
    };
    let secondary = format!("/api/v1/clinics/{clinic_a}/secondary-manager");
    let (s, body) = dir1.put(&secondary, &json!({"user": id_of("drnguyen")}));
    assert_eq!(s, 200, "{body}");
    let (s, body) = dir2.put(&secondary, &json!({"user": id_of("npsingh")}));
    assert_eq!(s, 200, "{body}");

    // The hub comes back on the same address; the nodes find it again by themselves.
    let hub = start_hub(&hub_dir, &sync_port);
    let deadline = Instant::now() + SYNC_WAIT;
    while ![&dir1, &dir2]
        .iter()
        .all(|api| conflicts(api, &clinic_a).len() >= 2)
    {
        assert!(
            Instant::now() < deadline,
            "both clashes should show as conflicts on both PCs of clinic A:\n{:#}\n{:#}\na1 log:\n{}\na2 log:\n{}\nhub log:\n{}",
            Value::Array(conflicts(&dir1, &clinic_a)),
            Value::Array(conflicts(&dir2, &clinic_a)),
            a1.log(),
            a2.log(),
            hub.server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_quiet(&hub_dir);

    // Every replica shows the same outcome of each clash.
    let (_, e1) = pat1.get(&format!("{panel}/{entry}"));
    let (_, e2) = pat2.get(&format!("{panel}/{entry}"));
    assert_eq!(e1["status"], e2["status"], "{e1}\n{e2}");
    let (_, c1) = dir1.get(&format!("/api/v1/clinics/{clinic_a}"));
    let (_, c2) = dir2.get(&format!("/api/v1/clinics/{clinic_a}"));
    assert_eq!(
        c1["secondary_manager"], c2["secondary_manager"],
        "{c1}\n{c2}"
    );
    assert_eq!(c1["primary_manager"], c2["primary_manager"]);

    // A node of clinic B cannot get clinic A's documents, nor change them.
    hostile_node_of_b_is_refused(&b_dir, &hub.sync_addr, &clinic_a);

    // Revoking clinic B closes its session and refuses it from then on.
    let clinic_b = enrolled_clinic_of(&b_dir);
    run(&[
        "hub",
        "revoke-clinic",
        "--data-dir",
        hub_dir.arg(),
        &clinic_b,
    ])
    .assert_success();
    b.wait_log("did not accept this node's certificate", 1, SYNC_WAIT);

    // Same heads everywhere once all processes have stopped.
    for node in [a1, a2, b] {
        node.stop();
    }
    hub.server.stop();
    let hub_a = digest(&hub_dir, &clinic_a);
    assert_eq!(digest(&a1_dir, &clinic_a), hub_a);
    assert_eq!(digest(&a2_dir, &clinic_a), hub_a);
    assert_eq!(digest(&b_dir, &clinic_b), digest(&hub_dir, &clinic_b));
}

/// Speaks the sync protocol with clinic B's real certificate: asks for clinic A's document
/// and sends a change to it; both are refused, and a garbage frame ends the session.
fn hostile_node_of_b_is_refused(b_dir: &DataDir, hub: &str, clinic_a: &str) {
    let creds = Credentials::load(&b_dir.path().join("sync"))
        .unwrap()
        .expect("enrolled");
    let node = match creds.role().unwrap() {
        attach_sync::PeerRole::Node { node, .. } => *node.as_bytes(),
        other => panic!("{other:?}"),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = tls::client_config(&creds, Expect::Hub).unwrap();
        let tcp = tokio::net::TcpStream::connect(hub).await.unwrap();
        let mut s = tokio_rustls::TlsConnector::from(Arc::clone(&config))
            .connect(tls::server_name(), tcp)
            .await
            .unwrap();
        write_message(
            &mut s,
            &Message::Hello {
                version: PROTOCOL_VERSION,
                node,
            },
        )
        .await
        .unwrap();
        let feed = u64::MAX / 2;
        write_message(&mut s, &Message::Start { from: feed })
            .await
            .unwrap();
        let doc = format!("clinic/{clinic_a}");
        write_message(
            &mut s,
            &Message::Request {
                doc: doc.clone(),
                have: vec![],
            },
        )
        .await
        .unwrap();
        // A well-formed change to clinic A's document.
        let mut other = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut other, automerge::ROOT, "name", "hijacked")
            .unwrap();
        let change = other.get_last_local_change().unwrap().raw_bytes().to_vec();
        write_message(
            &mut s,
            &Message::Batch {
                seq: 1,
                upto: None,
                docs: vec![DocDelta {
                    doc: doc.clone(),
                    changes: vec![change],
                }],
            },
        )
        .await
        .unwrap();
        let (mut denied, mut refused) = (false, false);
        while !(denied && refused) {
            let (m, _) = tokio::time::timeout(Duration::from_secs(30), read_message(&mut s))
                .await
                .expect("the hub answers")
                .expect("a message");
            match m {
                Message::Denied { doc: d, reason } => {
                    assert_eq!(d, doc);
                    assert_eq!(reason, Refusal::NotPermitted);
                    denied = true;
                }
                Message::Ack { seq: 1, refused: r } => {
                    assert_eq!(r.len(), 1, "{r:?}");
                    assert_eq!(r[0].reason, Refusal::NotPermitted);
                    refused = true;
                }
                Message::Batch { docs, .. } => {
                    assert!(
                        docs.iter().all(|d| !d.doc.contains(clinic_a)),
                        "leaked {docs:?}"
                    );
                }
                _ => {}
            }
        }
        // Garbage ends the session with an error, and the hub keeps serving others.
        use tokio::io::AsyncWriteExt;
        s.write_all(&[0, 0, 0, 3, 0xff, 0xfe, 0xfd]).await.unwrap();
        s.flush().await.unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(30), read_message(&mut s))
                .await
                .expect("the hub answers")
            {
                Ok((Message::Error { .. }, _)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    });
}

#[test]
fn a_node_killed_mid_sync_loses_nothing_and_finishes_after_restart() {
    let hub_dir = DataDir::new("hub-kill");
    let node_dir = DataDir::new("node-kill");
    seed_demo(&node_dir, 4000);
    let hub = start_hub(&hub_dir, "127.0.0.1:0");
    enrol(
        &node_dir,
        &hub,
        &code(&hub_dir, &["--facility", DEMO_FACILITY]),
    );
    let clinic = enrolled_clinic_of(&node_dir);

    let mut node = start_node(&node_dir);
    // Kill it as soon as the hub has received part of the clinic.
    wait_until("the upload starts", || {
        hub_status(&hub_dir)
            .lines()
            .filter_map(|l| l.split(" B sent, ").nth(1))
            .filter_map(|r| r.split(" B received").next())
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .any(|n| n > 20_000)
    });
    let _ = node.pid();
    node.kill9();

    let node = start_node(&node_dir);
    node.wait_log("caught up with the hub", 1, SYNC_WAIT);
    wait_quiet(&hub_dir);
    node.stop();
    hub.server.stop();
    let at_node = digest(&node_dir, &clinic);
    assert!(at_node.contains("documents"), "{at_node}");
    assert_eq!(digest(&hub_dir, &clinic), at_node);
}

/// An `attach node` inside a network namespace (its HTTP port is not reachable from the
/// test, so readiness is read from its log).
struct NsNode {
    child: std::process::Child,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl NsNode {
    fn start(ns: &crate::netns::Ns, dir: &DataDir) -> Self {
        use std::io::BufRead;
        let mut cmd = ns.command(crate::support::BIN);
        // Like every other process the tests start: none of the caller's ATTACH_* settings
        // (CI sets ATTACH_REQUIRE_BROWSER, which the node would refuse as unknown).
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ATTACH_") {
                cmd.env_remove(name);
            }
        }
        cmd.args(["node", "--data-dir", dir.arg(), "--listen", "127.0.0.1:0"])
            .env("ATTACH_SYNC_LISTEN", "0.0.0.0:0")
            .env("ATTACH_LAN_DISCOVERY", "true")
            .env("ATTACH_SYNC_RETRY_MAX_SECS", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let log: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let err = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn wait_log(&mut self, needle: &str) {
        let deadline = Instant::now() + SYNC_WAIT;
        while !self.log().contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the node exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {SYNC_WAIT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "node exited with {status}:\n{}",
            self.log()
        );
    }
}

#[test]
fn two_nodes_of_a_clinic_sync_over_the_lan_while_the_hub_is_unreachable() {
    if let Some(reason) = crate::netns::unavailable_reason() {
        crate::netns::skip_or_fail(&reason);
        return;
    }
    let hub_dir = DataDir::new("hub-lan");
    let a1_dir = DataDir::new("lan-a1");
    let a2_dir = DataDir::new("lan-a2");
    seed_demo(&a1_dir, 300);
    // Both PCs are enrolled (certificates from the hub's CA); then the hub is gone.
    let hub = start_hub(&hub_dir, "127.0.0.1:0");
    let enrolled = enrol(
        &a1_dir,
        &hub,
        &code(&hub_dir, &["--facility", DEMO_FACILITY]),
    );
    let clinic = enrolled_clinic(&enrolled);
    enrol(&a2_dir, &hub, &code(&hub_dir, &["--clinic", &clinic]));
    hub.server.stop();

    let pair = crate::netns::NetnsPair::create("attach-e2e").expect("namespaces");
    let mut a1 = NsNode::start(&pair.a, &a1_dir);
    // A running node counts its panels at start (the profile's month-end counts): that
    // document is part of what the standby must get.
    a1.wait_log("panel counts recorded");
    let mut a2 = NsNode::start(&pair.b, &a2_dir);
    // The standby, empty until now, gets the whole clinic from its LAN peer.
    a2.wait_log("caught up with LAN peer");
    a1.wait_log("caught up with LAN peer");
    assert!(
        a2.log().contains("cannot be reached"),
        "the hub was unreachable meanwhile:\n{}",
        a2.log()
    );
    a1.stop();
    a2.stop();
    assert_eq!(digest(&a2_dir, &clinic), digest(&a1_dir, &clinic));
}

/// The billing export from the command line: at a running hub through its admin API (every
/// clinic, or one), and offline on a stopped clinic node; a mistyped period is refused with
/// the field named and nothing written. A provider's practitioner number and languages are
/// set offline too.
#[test]
fn attachment_records_are_exported_from_the_hub_and_the_clinic_node() {
    let hub_dir = DataDir::new("billing-hub");
    let node_dir = DataDir::new("billing-node");
    seed_demo(&node_dir, 20);
    let _hub = start_hub(&hub_dir, "127.0.0.1:0");
    let header = "phn,practitioner_number,attachment_date,fee_code,provider,facility_number,clinic,how_attached";

    let out = run(&[
        "hub",
        "attachments",
        "--data-dir",
        hub_dir.arg(),
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
    ])
    .assert_success();
    assert_eq!(out.stdout.trim(), header);
    assert!(
        out.stderr
            .contains("0 attachment record(s) from 2026-11-01 to 2026-11-30."),
        "{}",
        out.stderr
    );
    let out = run(&[
        "hub",
        "attachments",
        "--data-dir",
        hub_dir.arg(),
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--clinic",
        "0193a3c4-0000-7000-8000-000000000001",
    ])
    .assert_failure();
    assert!(out.stderr.contains("clinic not found"), "{}", out.stderr);

    // The provider's number and languages, offline; a bad number is refused by its field.
    let prefs = |number: &str| {
        run(&[
            "panel",
            "preferences",
            "--data-dir",
            node_dir.arg(),
            "--provider",
            "drpatel",
            "--as",
            "drpatel",
            "--languages",
            "English; Punjabi",
            "--practitioner-number",
            number,
        ])
    };
    let out = prefs("12-45").assert_failure();
    assert!(
        out.stderr.contains("practitioner_number: "),
        "{}",
        out.stderr
    );
    let out = prefs("k1234").assert_success();
    assert!(
        out.stdout.contains("Practitioner number:    K1234"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Languages:              English; Punjabi")
    );

    let out_dir = DataDir::new("billing-out");
    let file = out_dir.path().join("billing.csv");
    let out = run(&[
        "export",
        "attachments",
        "--data-dir",
        node_dir.arg(),
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--out",
        file.to_str().expect("utf-8 path"),
    ])
    .assert_success();
    assert!(
        out.stderr.contains("0 attachment record(s)"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("written").trim(),
        header
    );
    let out = run(&[
        "export",
        "attachments",
        "--data-dir",
        node_dir.arg(),
        "--from",
        "2026-11-01",
        "--to",
        "30/11/2026",
    ])
    .assert_failure();
    assert!(
        out.stderr.contains("to: write the date as YYYY-MM-DD"),
        "{}",
        out.stderr
    );
}

/// A provider leaves: an account manager moves their patients to a colleague, or back to
/// the waitlist, with `attach panel move` on the stopped node. A mistyped or unknown entry
/// is refused with its position named and nothing moved.
#[test]
fn patients_move_off_a_panel_offline() {
    let dir = DataDir::new("move-node");
    seed_demo(&dir, 20);
    let panel_rows = |provider: &str| {
        let out = run(&[
            "export",
            "panel",
            "--data-dir",
            dir.arg(),
            "--provider",
            provider,
        ])
        .assert_success();
        out.stdout.lines().skip(1).filter(|l| !l.is_empty()).count()
    };
    let move_from = |provider: &str, extra: &[&str]| {
        let mut args = vec![
            "panel",
            "move",
            "--data-dir",
            dir.arg(),
            "--provider",
            provider,
            "--as",
            "director",
            "--reason",
            "the provider leaves",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let moving = |extra: &[&str]| move_from("drpatel", extra);
    let moved = |out: &crate::support::Output, count: usize, whose: &str, whither: &str| {
        assert!(
            out.stdout.contains(&format!(
                "Moved {count} patient(s) off {whose}'s panel {whither}."
            )),
            "{}",
            out.stdout
        );
    };
    let (patel, nguyen) = (panel_rows("drpatel"), panel_rows("drnguyen"));
    assert!(patel > 0, "the demo gives Dr. Patel patients");

    let out = moving(&["--to", "drnguyen", "--entry", "not-an-id"]).assert_failure();
    assert!(
        out.stderr
            .contains("entry 1, entries: \"not-an-id\" is not an entry id"),
        "{}",
        out.stderr
    );
    let stranger = "0193a3c4-0000-7000-8000-000000000001";
    let out = moving(&["--to", "drnguyen", "--entry", stranger]).assert_failure();
    assert!(
        out.stderr.contains(&format!(
            "entry 1, entries: {stranger} is not on this panel"
        )),
        "{}",
        out.stderr
    );
    let out = moving(&["--to", "drnguyen", "--to-waitlist"]).assert_failure();
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
    assert_eq!(panel_rows("drpatel"), patel, "nothing moved");

    let out = moving(&["--to", "drnguyen"]).assert_success();
    moved(&out, patel, "drpatel", "to drnguyen's panel");
    assert_eq!(panel_rows("drpatel"), 0);
    assert_eq!(panel_rows("drnguyen"), nguyen + patel);
    let out = moving(&["--to-waitlist"]).assert_failure();
    assert!(
        out.stderr.contains("the panel has none to move"),
        "{}",
        out.stderr
    );

    let macdonald = panel_rows("drmacdonald");
    let out = move_from("drmacdonald", &["--to-waitlist"]).assert_success();
    moved(
        &out,
        macdonald,
        "drmacdonald",
        "back to the provincial waitlist",
    );
    assert_eq!(panel_rows("drmacdonald"), 0);
}
