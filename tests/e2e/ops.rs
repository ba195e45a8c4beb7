//! Operations with the real binary: a backup of a running node under write load restored
//! to the same heads, a damaged backup refused, `attach status` and `/metrics`, and the
//! upgrade of a data directory written by the previous format (a checked-in fixture).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::support::{Api, DataDir, Server, field_after, phn, run};

/// `attach inspect digest` of a stopped directory: one line per clinic.
fn digest(dir: &Path) -> String {
    run(&["inspect", "digest", "--data-dir", dir.to_str().unwrap()])
        .assert_success()
        .stdout
}

/// `attach backup --data-dir DIR --out OUT`, which must succeed.
fn backup(dir: &Path, out: &Path) -> crate::support::Output {
    run(&[
        "backup",
        "--data-dir",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .assert_success()
}

/// `attach restore FILE --data-dir DIR`.
fn restore(file: &Path, dir: &Path) -> crate::support::Output {
    run(&[
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
    ])
}

fn clinic_lines(out: &str) -> String {
    out.lines()
        .filter(|l| l.starts_with("clinic "))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn documents(digest_line: &str) -> u64 {
    digest_line
        .split(": ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no document count in {digest_line:?}"))
}

#[test]
fn a_running_node_is_backed_up_under_write_load_and_restores_to_the_same_heads() {
    let dir = DataDir::new("ops-backup");
    let demo = Server::start(
        &[
            "demo",
            "--data-dir",
            dir.arg(),
            "--listen",
            "127.0.0.1:0",
            "--patients",
            "200",
        ],
        &[],
        "URL:",
    );
    let (api, _, panel) = crate::drpatel_panel(&demo);

    // Staff keep adding patients while the backups are taken.
    let stop = Arc::new(AtomicBool::new(false));
    let added = Arc::new(AtomicU32::new(0));
    let writer = {
        let (stop, added) = (stop.clone(), added.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = serde_json::json!({"patient": {
                    "phn": phn(60_000_000 + 10 * i), "family_name": "Loadtest",
                    "given_names": format!("Number {i}"),
                    "date_of_birth": "1975-05-05", "sex": "x"}});
                let (status, answer) = api.post(&panel, &body);
                assert_eq!(status, 201, "{answer}");
                added.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    let wait_for = |n: u32| {
        while added.load(Ordering::Relaxed) < n {
            assert!(!writer.is_finished(), "the writer stopped");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(5);
    let during = dir.file("during.attach-backup");
    let out = backup(dir.path(), &during);
    assert!(
        out.stdout.contains("from the running node"),
        "{}",
        out.stdout
    );
    let added_after_backup = added.load(Ordering::Relaxed);
    wait_for(added_after_backup + 5);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    // Status and metrics of the running node, through its admin listener.
    let status = run(&["status", "--data-dir", dir.arg()]).assert_success();
    assert!(
        status.stdout.contains("Service:      running"),
        "{}",
        status.stdout
    );
    let address = std::fs::read_to_string(dir.path().join("admin/address")).unwrap();
    let token = std::fs::read_to_string(dir.path().join("admin/token")).unwrap();
    let admin = format!("http://{}", address.trim());
    assert_eq!(crate::support::Api::new(&admin).get("/metrics").0, 401);
    let (status, metrics) = crate::support::Api::new(&admin)
        .with_bearer(token.trim())
        .get("/metrics");
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_owned();
    let total = 200 + added.load(Ordering::Relaxed);
    assert!(
        metrics.contains(&format!("attach_panel_entries {total}\n")),
        "{metrics}"
    );
    assert!(metrics.contains("attach_http_requests_total{code=\"2xx\"}"));
    // The public listener does not serve them.
    assert_eq!(demo.api().get("/metrics").0, 404);

    let after = dir.file("after.attach-backup");
    backup(dir.path(), &after);
    demo.stop();
    let original = digest(dir.path());

    // Taken once writes stopped: exactly the same heads.
    let restored = dir.file("restored-after");
    let out = restore(&after, &restored).assert_success();
    assert_eq!(clinic_lines(&out.stdout), original);
    assert_eq!(digest(&restored), original);

    // Taken mid-load: a consistent state between the start and the end of the load.
    let restored = dir.file("restored-during");
    restore(&during, &restored).assert_success();
    let mid = digest(&restored);
    let seeded = 200 + 7 + 4; // demo patients, accounts, panels: fewer than the mid-load count
    let (mid_docs, end_docs) = (documents(&mid), documents(&original));
    assert!(
        seeded < mid_docs && mid_docs < end_docs,
        "{seeded} < {mid_docs} < {end_docs}"
    );

    // A damaged copy is refused, and nothing is written.
    let mut bytes = std::fs::read(&after).unwrap();
    let at = bytes.len() * 2 / 3;
    bytes[at] = bytes[at].wrapping_add(1);
    let damaged = dir.file("damaged.attach-backup");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = dir.file("restored-damaged");
    let out = restore(&damaged, &target).assert_failure();
    assert!(
        out.stderr.contains("checksum does not match"),
        "{}",
        out.stderr
    );
    assert!(!target.exists());
}

#[test]
fn backups_into_a_directory_keep_the_newest_and_status_sees_a_stopped_node() {
    let dir = DataDir::new("ops-keep");
    run(&[
        "demo",
        "--seed-only",
        "--patients",
        "20",
        "--data-dir",
        dir.arg(),
    ])
    .assert_success();
    let status = run(&["status", "--data-dir", dir.arg()]).assert_success();
    assert!(status.stdout.contains("NOT RUNNING"), "{}", status.stdout);
    assert!(status.stdout.contains("data format 2"), "{}", status.stdout);
    let into = dir.file("backups");
    let mut taken: Vec<String> = Vec::new();
    let mut deleted: Vec<String> = Vec::new();
    for _ in 0..3 {
        // Names carry the time to the second: wait until this second's name is past the
        // last backup's, so each run writes a new file.
        if let Some(last) = taken.last() {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while attach::ops::timestamped_name("node") <= *last {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the clock did not pass {last}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let out = run(&[
            "backup",
            "--data-dir",
            dir.arg(),
            "--into",
            into.to_str().unwrap(),
            "--keep",
            "2",
        ])
        .assert_success();
        assert!(out.stdout.contains("stopped node"), "{}", out.stdout);
        let file_name = |path: &str| {
            Path::new(path)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        let written = field_after(&out.stdout, "written to ");
        taken.push(file_name(written.split(" (").next().unwrap()));
        for line in out.stdout.lines() {
            if let Some(old) = line.strip_prefix("Deleted old backup ") {
                deleted.push(file_name(old.trim()));
            }
        }
    }
    assert!(
        taken.iter().all(|n| n.starts_with("attach-node-")),
        "{taken:?}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&into)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // The two newest remain; the first, and only it, was deleted (by the third run).
    assert_eq!(names, taken[1..], "taken {taken:?}");
    assert_eq!(deleted, taken[..1], "taken {taken:?}");
}

const FIXTURE_DIGEST: &str = "clinic 01a20959-602e-7001-b795-d83b6f6abaf6: 52 documents, digest a0499ae84b2ac791856f1d4521efc86c18d754117e994746b1a06e25b79d73d5\n";

fn unpack_fixture(into: &Path) -> std::path::PathBuf {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/e2e/fixtures/data-v1.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success());
    into.join("data-v1")
}

#[test]
fn a_format_1_directory_is_backed_up_and_upgraded_and_a_future_one_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = DataDir::new("ops-upgrade");
    let dir = unpack_fixture(tmp.path());
    assert!(!dir.join("format").exists());

    let out = run(&["inspect", "digest", "--data-dir", dir.to_str().unwrap()]).assert_success();
    assert_eq!(out.stdout, FIXTURE_DIGEST);
    assert!(
        out.stderr.contains("from data format 1 to 2"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(dir.join("format")).unwrap(), "2\n");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let backups: Vec<_> = std::fs::read_dir(dir.join("upgrade-backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");

    // Opening again changes nothing more.
    let out = run(&["inspect", "digest", "--data-dir", dir.to_str().unwrap()]).assert_success();
    assert_eq!(out.stdout, FIXTURE_DIGEST);
    assert!(!out.stderr.contains("Upgraded"), "{}", out.stderr);

    // The backup the upgrade took is the format-1 directory: it restores and upgrades too.
    let restored = tmp.file("restored");
    let out = restore(&backups[0], &restored).assert_success();
    assert!(out.stdout.contains("data format 1"), "{}", out.stdout);
    assert_eq!(clinic_lines(&out.stdout), FIXTURE_DIGEST);

    // A directory from a future attach is refused, untouched, by every command.
    std::fs::write(dir.join("format"), "3\n").unwrap();
    let before = std::fs::read_dir(&dir).unwrap().count();
    for args in [
        vec!["inspect", "digest", "--data-dir", dir.to_str().unwrap()],
        vec![
            "node",
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    ] {
        let out = run(&args).assert_failure();
        assert!(
            out.stderr.contains("newer version of Attach")
                && out.stderr.contains("data format 3")
                && out.stderr.contains("Nothing was changed"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(dir.join("format")).unwrap(), "3\n");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), before);
}

#[test]
fn a_running_hub_is_backed_up_with_its_identity_and_reports_its_status() {
    let dir = DataDir::new("ops-hub");
    let hub = crate::cluster::start_hub(&dir, "127.0.0.1:0").server;
    let status = run(&["status", "--data-dir", dir.arg()]).assert_success();
    assert!(
        status.stdout.starts_with("Attach hub") && status.stdout.contains("running"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("hub server certificate expires"),
        "{}",
        status.stdout
    );
    let token = std::fs::read_to_string(dir.path().join("hub/admin-token")).unwrap();
    let (code, metrics) = hub.api().with_bearer(token.trim()).get("/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("attach_info{role=\"hub\"} 1"),
        "{metrics}"
    );

    let out_file = dir.file("hub.attach-backup");
    let out = backup(dir.path(), &out_file);
    assert!(
        out.stdout.contains("from the running hub"),
        "{}",
        out.stdout
    );
    hub.stop();
    let restored = dir.file("restored");
    restore(&out_file, &restored).assert_success();
    for file in ["hub/ca.pem", "hub/ca-key.pem", "hub/admin-token"] {
        assert_eq!(
            std::fs::read(restored.join(file)).unwrap(),
            std::fs::read(dir.path().join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(!restored.join("hub/admin-address").exists());
}

#[test]
fn the_hub_admin_adds_a_coordinator_who_signs_in_on_the_hub_s_pages_and_reports_the_province() {
    let dir = DataDir::new("ops-hub-coordinator");
    let hub = crate::cluster::start_hub(&dir, "127.0.0.1:0").server;
    hub.wait_stdout("Attach hub coordinator pages on http://");
    let web = hub
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("Attach hub coordinator pages on "))
        .expect("the pages' address")
        .trim()
        .to_owned();
    let added = run(&[
        "hub",
        "add-coordinator",
        "--data-dir",
        dir.arg(),
        "--username",
        "casey",
        "--name",
        "Casey Coordinator",
    ])
    .assert_success();
    let temporary = field_after(&added.stdout, "Temporary password:").to_owned();
    assert!(temporary.len() >= 12, "{}", added.stdout);
    let again = run(&[
        "hub",
        "add-coordinator",
        "--data-dir",
        dir.arg(),
        "--username",
        "CASEY",
        "--name",
        "Someone Else",
    ])
    .assert_failure();
    assert!(again.stderr.contains("is taken"), "{}", again.stderr);
    let list = run(&["hub", "coordinators", "--data-dir", dir.arg()]).assert_success();
    assert!(
        list.stdout.contains("casey  Casey Coordinator"),
        "{}",
        list.stdout
    );

    // The pages answer on their own listener, with the clinic pages' headers.
    let (code, page) = Api::new(&web).get("/login");
    assert_eq!(code, 200);
    assert!(
        page.as_str()
            .unwrap()
            .contains("sign in to the provincial hub"),
        "{page}"
    );

    let text = run(&["hub", "report", "--data-dir", dir.arg()]).assert_success();
    assert!(text.stdout.contains("People waiting: 0"), "{}", text.stdout);
    let csv_file = dir.file("province.csv");
    run(&[
        "hub",
        "report",
        "--csv",
        "--out",
        csv_file.to_str().unwrap(),
        "--data-dir",
        dir.arg(),
    ])
    .assert_success();
    let csv = std::fs::read_to_string(&csv_file).unwrap();
    assert!(csv.starts_with("\u{FEFF}table,measure,value\r\n"), "{csv}");
    assert!(csv.contains("summary,people_waiting,0"), "{csv}");
    hub.stop();
}
