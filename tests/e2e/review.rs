//! Panel review on the real binary: a bulk change through the API of a running demo node
//! that is still there after a restart, and an MSP reconciliation and a worklist from the
//! command line on the stopped node's data directory; the running node's month-end counts,
//! the panel profile and a bulk move.

use serde_json::{Value, json};

use crate::support::{DataDir, Server, run};

fn count(counts: &Value, key: &str) -> u64 {
    counts
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["worklist"] == key)
        .unwrap_or_else(|| panic!("no {key} in {counts}"))["count"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_bulk_change_survives_a_restart_and_msp_and_worklists_work_offline() {
    let dir = DataDir::new("review");
    let args = [
        "demo",
        "--data-dir",
        dir.arg(),
        "--listen",
        "127.0.0.1:0",
        "--patients",
        "300",
    ];
    let demo = Server::start(&args, &[], "URL:");
    let mut director = demo.api();
    let (status, session) = director.login("director", "demo-director-pw");
    assert_eq!(status, 200, "{session}");
    let clinic = session["memberships"][0]["clinic"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, rules) = director.put(
        &format!("/api/v1/clinics/{clinic}/status-rules"),
        &json!({"inactive": {"definition": "Not seen for two years",
            "rule": {"last_visit": {"kind": "not_seen_for", "months": 24}}}}),
    );
    assert_eq!(status, 200, "{rules}");

    let mut patel = demo.api();
    let (status, session) = patel.login("drpatel", "demo-drpatel-pw");
    assert_eq!(status, 200, "{session}");
    let me = session["user"].as_str().unwrap().to_owned();
    let counts_path = format!("/api/v1/clinics/{clinic}/review/counts?provider={me}");
    let (status, counts) = patel.get(&counts_path);
    assert_eq!(status, 200, "{counts}");
    let suggested = count(&counts, "suggested-status");
    assert!(suggested > 0, "{counts}");
    let (status, list) = patel.get(&format!(
        "/api/v1/clinics/{clinic}/review?provider={me}&worklist=suggested-status&limit=1000"
    ));
    assert_eq!(status, 200, "{list}");
    let entries: Vec<Value> = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"provider": me, "entry": r["entry"]["id"]}))
        .collect();
    assert_eq!(entries.len() as u64, suggested);
    let (status, report) = patel.post(
        &format!("/api/v1/clinics/{clinic}/review/bulk"),
        &json!({"action": "accept_suggestions", "entries": entries}),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["changed"].as_u64(), Some(suggested));
    // Acknowledged, so durable: the node is stopped and started again.
    demo.stop();
    let demo = Server::start(&args, &[], "URL:");
    let mut patel = demo.api();
    assert_eq!(patel.login("drpatel", "demo-drpatel-pw").0, 200);
    let (_, counts) = patel.get(&counts_path);
    assert_eq!(count(&counts, "suggested-status"), 0, "{counts}");
    demo.stop();

    // Offline: the counts, a worklist as CSV, and MSP's list compared.
    let panel = [
        "--data-dir",
        dir.arg(),
        "--provider",
        "drpatel",
        "--as",
        "moa.chen",
    ];
    let out = run(&[&["panel", "review"][..], &panel[..]].concat()).assert_success();
    assert!(
        out.stdout.contains("Suggested status changes"),
        "{}",
        out.stdout
    );
    let out = run(&[
        &["panel", "review"][..],
        &panel[..],
        &["--worklist", "no-visit"][..],
    ]
    .concat())
    .assert_success();
    let lines: Vec<&str> = out.stdout.trim_end().split("\r\n").collect();
    assert!(
        lines[0]
            .trim_start_matches('\u{feff}')
            .starts_with("provider,family_name,")
    );
    assert!(lines.len() > 1, "the demo panel has patients with no visit");
    let bad = run(&[
        &["panel", "review"][..],
        &panel[..],
        &["--filter", "min_age=old"][..],
    ]
    .concat())
    .assert_failure();
    assert!(bad.stderr.contains("min_age"), "{}", bad.stderr);

    // MSP's list: the panel's export less its first patient.
    let export = run(&[
        "export",
        "panel",
        "--data-dir",
        dir.arg(),
        "--provider",
        "drpatel",
    ])
    .assert_success();
    let mut rows: Vec<&str> = export.stdout.trim_end().split("\r\n").collect();
    rows.remove(1);
    let files = DataDir::new("review-files");
    let msp = files.file("msp.csv");
    std::fs::write(&msp, rows.join("\r\n")).unwrap();
    let out = run(&[
        &["panel", "msp"][..],
        &panel[..],
        &[msp.to_str().unwrap()][..],
    ]
    .concat())
    .assert_success();
    assert!(
        out.stdout
            .contains("In Attach, not on MSP's list:           1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("On MSP's list, not in Attach:           0")
    );
    // A bulk change from the command line: the contact of everyone on the list checked.
    let out = run(&[
        &["panel", "bulk"][..],
        &panel[..],
        &[
            "--worklist",
            "mrp-unconfirmed",
            "--change",
            "confirm-mrp-patient",
            "--how",
            "letter",
        ][..],
    ]
    .concat())
    .assert_success();
    assert!(out.stdout.starts_with("Changed "), "{}", out.stdout);
}

#[test]
fn the_running_node_counts_its_panels_and_the_profile_and_a_move_work_on_the_real_binary() {
    let dir = DataDir::new("profile");
    let args = [
        "demo",
        "--data-dir",
        dir.arg(),
        "--listen",
        "127.0.0.1:0",
        "--patients",
        "200",
    ];
    let demo = Server::start(&args, &[], "URL:");
    let mut chen = demo.api();
    let (status, session) = chen.login("moa.chen", "demo-moachen-pw");
    assert_eq!(status, 200, "{session}");
    let clinic = session["memberships"][0]["clinic"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut patel = demo.api();
    let (_, me) = patel.login("drpatel", "demo-drpatel-pw");
    let patel_id = me["user"].as_str().unwrap().to_owned();
    let profile = format!("/api/v1/clinics/{clinic}/providers/{patel_id}/profile");
    // The node counts every panel when it starts: the month is there without anyone asking.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let counted = loop {
        let (status, body) = chen.get(&profile);
        assert_eq!(status, 200, "{body}");
        if !body["census"].as_array().unwrap().is_empty() {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node counted nothing: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let month = &counted["census"][0];
    assert_eq!(month["total"], counted["size"], "{counted}");
    let (status, supply) = chen.put(
        &format!("/api/v1/clinics/{clinic}/providers/{patel_id}/supply"),
        &json!({"appointments_per_week": 60, "weeks_per_year": 44}),
    );
    assert_eq!(status, 200, "{supply}");
    let (_, body) = chen.get(&profile);
    assert_eq!(
        body["estimate"]["available_visits_per_year"],
        60 * 44,
        "{body}"
    );
    let (status, bad) = chen.put(
        &format!("/api/v1/clinics/{clinic}/providers/{patel_id}/supply"),
        &json!({"appointments_per_week": 60, "weeks_per_year": 0}),
    );
    assert_eq!(status, 422, "{bad}");
    assert!(bad.to_string().contains("weeks_per_year"), "{bad}");

    // Grace Chen (secondary account manager) moves two of Dr. Patel's patients to Dr.
    // Nguyen, then undoes it.
    let mut nguyen = demo.api();
    let (_, n) = nguyen.login("drnguyen", "demo-drnguyen-pw");
    let nguyen_id = n["user"].as_str().unwrap().to_owned();
    let (_, list) = chen.get(&format!(
        "/api/v1/clinics/{clinic}/review?provider={patel_id}&limit=2"
    ));
    let entries: Vec<Value> = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"provider": patel_id, "entry": r["entry"]["id"]}))
        .collect();
    let (status, moved) = chen.post(
        &format!("/api/v1/clinics/{clinic}/review/bulk"),
        &json!({"action": "move", "to": nguyen_id, "reason": "Dr. Patel reduces her hours",
            "entries": entries}),
    );
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["changed"], 2);
    let (status, undone) = chen.post_empty(&format!(
        "/api/v1/clinics/{clinic}/review/bulk/{}/undo",
        moved["bulk"].as_str().unwrap()
    ));
    assert_eq!(status, 200, "{undone}");
    assert_eq!(undone["changed"], 2);
    demo.stop();

    // Offline: the profile printed, the appointments stated from the command line.
    let panel = [
        "--data-dir",
        dir.arg(),
        "--provider",
        "drpatel",
        "--as",
        "moa.chen",
    ];
    let out = run(&[
        &["panel", "profile"][..],
        &panel[..],
        &["--appointments-per-week", "80"][..],
    ]
    .concat())
    .assert_success();
    assert!(out.stdout.contains("90+"), "{}", out.stdout);
    assert!(out.stdout.contains("3,680 visits a year"), "{}", out.stdout);
    let bad = run(&[
        &["panel", "profile"][..],
        &panel[..],
        &["--appointments-per-week", "80", "--weeks-per-year", "53"][..],
    ]
    .concat())
    .assert_failure();
    assert!(bad.stderr.contains("weeks_per_year"), "{}", bad.stderr);
}
