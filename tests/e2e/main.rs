//! End-to-end tests: the real `attach` binary, started as a clinic worker or an operator
//! would start it, each test in its own temporary data directory.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod clinical;
mod cluster;
mod matching;
mod ops;
mod review;
mod support;
mod sync;

#[path = "../support/netns.rs"]
mod netns;

use std::time::Duration;

use serde_json::{Value, json};

use support::{Api, DataDir, Server, bad_phn, field_after, phn, run, run_with};

const CLINIC_NAME: &str = "Smithers Family Clinic";
const FACILITY: &str = "V0J3A0";
const DIRECTOR_PW: &str = "river-stone-lantern-42";

/// What `attach init` printed.
struct Initialised {
    clinic: String,
    temporary_password: String,
}

/// `attach init` for a clinic whose director is `dana`.
fn init(dir: &DataDir) -> Initialised {
    let out = run(&[
        "init",
        "--data-dir",
        dir.arg(),
        "--clinic-name",
        CLINIC_NAME,
        "--facility-number",
        FACILITY,
        "--director-username",
        "dana",
        "--director-name",
        "Dana W",
    ])
    .assert_success();
    // "Created clinic NAME (ID)."
    let created = field_after(&out.stdout, "Created clinic");
    let clinic = created
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no clinic id in {created:?}"));
    assert!(
        created.starts_with(CLINIC_NAME),
        "init should name the clinic: {}",
        out.stdout
    );
    assert_eq!(field_after(&out.stdout, "Director login:"), "dana");
    let temporary_password = field_after(&out.stdout, "Temporary password:").to_owned();
    assert!(
        temporary_password.len() >= 12,
        "temporary password too short: {temporary_password:?}"
    );
    Initialised {
        clinic,
        temporary_password,
    }
}

/// Signs `dana` in with her temporary password and sets [`DIRECTOR_PW`].
fn director_first_signin(node: &Server, temporary: &str) -> Api {
    let mut api = node.api();
    let (status, session) = api.login("dana", temporary);
    assert_eq!(
        status, 200,
        "sign-in with the temporary password: {session}"
    );
    assert_eq!(session["must_change_password"], true, "{session}");
    api.change_password(temporary, DIRECTOR_PW);
    api
}

// ---------------------------------------------------------------------------
// 1. init, first sign-in, password change
// ---------------------------------------------------------------------------

#[test]
fn init_then_director_signs_in_changes_password_and_sees_the_clinic() {
    let dir = DataDir::new("init");
    let created = init(&dir);
    let node = Server::node(&dir);
    let clinic_path = format!("/api/v1/clinics/{}", created.clinic);

    let mut api = node.api();
    let (status, session) = api.login("dana", &created.temporary_password);
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["username"], "dana");
    assert_eq!(session["display_name"], "Dana W");
    assert_eq!(session["must_change_password"], true, "{session}");
    let membership = &session["memberships"][0];
    assert_eq!(membership["clinic"], created.clinic.as_str(), "{session}");
    assert_eq!(membership["role"], "director");
    assert_eq!(membership["primary_manager"], true);

    // Nothing else is allowed until the temporary password is changed.
    let (status, body) = api.get(&clinic_path);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "must_change_password", "{body}");

    api.change_password(&created.temporary_password, DIRECTOR_PW);
    let (status, session) = api.get("/api/v1/session");
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["must_change_password"], false, "{session}");

    let (status, clinic) = api.get(&clinic_path);
    assert_eq!(status, 200, "{clinic}");
    assert_eq!(clinic["id"], created.clinic.as_str());
    assert_eq!(clinic["profile"]["name"], CLINIC_NAME);
    assert_eq!(clinic["profile"]["facility_number"], FACILITY);
    assert_eq!(clinic["primary_manager"], session["user"]);

    // The temporary password is spent; the new one works.
    let mut other = node.api();
    assert_eq!(other.login("dana", &created.temporary_password).0, 401);
    let (status, session) = other.login("dana", DIRECTOR_PW);
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["must_change_password"], false);

    node.stop();
}

// ---------------------------------------------------------------------------
// 2. import / export panel from the command line
// ---------------------------------------------------------------------------

const PANEL_CSV_HEADER: &str = "phn,family_name,given_names,date_of_birth,sex,phone,community\n";

fn panel_csv(rows: &[(String, &str, &str, &str, &str)]) -> String {
    let mut text = PANEL_CSV_HEADER.to_owned();
    for (phn, family, given, dob, sex) in rows {
        text.push_str(&format!(
            "{phn},{family},{given},{dob},{sex},250-555-0142,Smithers\n"
        ));
    }
    text
}

/// PHNs in the first column of a CSV export (which starts with a byte-order mark).
fn exported_phns(csv_text: &str) -> Vec<String> {
    let text = csv_text.trim_start_matches('\u{feff}');
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "phn", "export header: {headers:?}");
    let mut phns: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
    phns.sort();
    phns
}

#[test]
fn import_and_export_panel_offline_round_trip() {
    let dir = DataDir::new("import");
    let files = DataDir::new("import-files");
    let created = init(&dir);

    // A physician, added and activated through the API while the node runs.
    let node = Server::node(&dir);
    let api = director_first_signin(&node, &created.temporary_password);
    let members = format!("/api/v1/clinics/{}/members", created.clinic);
    let (status, member) = api.post(
        &members,
        &json!({"username": "drlee", "display_name": "Dr. Jordan Lee", "role": "physician"}),
    );
    assert_eq!(status, 201, "{member}");
    assert_eq!(member["state"], "approved", "{member}");
    let drlee = member["user"].as_str().unwrap().to_owned();
    let drlee_temporary = member["temporary_password"].as_str().unwrap().to_owned();
    let (status, member) = api.post_empty(&format!("{members}/{drlee}/activate"));
    assert_eq!(status, 200, "{member}");
    assert_eq!(member["state"], "active", "{member}");
    node.stop();

    let import = |file: &std::path::Path| {
        run(&[
            "import",
            "panel",
            "--data-dir",
            dir.arg(),
            "--provider",
            "drlee",
            "--as",
            "drlee",
            file.to_str().unwrap(),
        ])
    };
    let export = |format: &str, out: Option<&std::path::Path>| {
        let mut args = vec![
            "export",
            "panel",
            "--data-dir",
            dir.arg(),
            "--provider",
            "drlee",
            "--format",
            format,
        ];
        if let Some(out) = out {
            args.extend(["--out", out.to_str().unwrap()]);
        }
        run(&args).assert_success()
    };

    let patients = [
        (phn(12_345_670), "Nguyen", "Mary Ann", "1985-07-31", "F"),
        (phn(23_456_780), "Okafor", "Chidi", "1962-01-15", "M"),
        (phn(34_567_890), "Tremblay", "Luc", "2019-11-03", "male"),
    ];
    let mut expected: Vec<String> = patients.iter().map(|p| p.0.clone()).collect();
    expected.sort();
    let good = files.file("panel.csv");
    std::fs::write(&good, panel_csv(&patients)).unwrap();

    let out = import(&good).assert_success();
    assert!(
        out.stdout.contains("3 added, 0 updated, 0 unchanged"),
        "{}",
        out.stdout
    );
    let out = import(&good).assert_success();
    assert!(
        out.stdout.contains("0 added, 0 updated, 3 unchanged"),
        "a second import of the same file must change nothing: {}",
        out.stdout
    );

    // One good new row and one mistyped PHN: nothing is stored, the problem is named.
    let newcomer = phn(45_678_900);
    let bad = files.file("bad.csv");
    std::fs::write(
        &bad,
        panel_csv(&[
            (newcomer.clone(), "Singh", "Harpreet", "1990-02-02", "F"),
            (bad_phn(56_789_010), "Wong", "Kevin", "1977-03-04", "M"),
        ]),
    )
    .unwrap();
    let out = import(&bad).assert_failure();
    assert!(
        out.stderr.contains("Nothing was imported"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("row 2, phn:") && out.stderr.contains("check digit"),
        "the error should name row 2 and the phn column: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("row 1,"),
        "row 1 is valid: {}",
        out.stderr
    );
    assert!(!out.stdout.contains("added"), "{}", out.stdout);

    // CSV export: exactly the three imported patients (the failed file stored nothing).
    let csv_stdout = export("csv", None).stdout;
    assert_eq!(exported_phns(&csv_stdout), expected);
    assert!(!csv_stdout.contains(&newcomer));
    let csv_file = files.file("export.csv");
    export("csv", Some(&csv_file));
    let csv_text = std::fs::read_to_string(&csv_file).unwrap();
    assert_eq!(csv_text, csv_stdout, "--out writes what stdout shows");
    let out = import(&csv_file).assert_success();
    assert!(
        out.stdout.contains("0 added, 0 updated, 3 unchanged"),
        "re-importing the CSV export must change nothing: {}",
        out.stdout
    );

    // FHIR export: a Bundle with the panel as a Group of the three patients.
    let fhir_file = files.file("export.json");
    let out = export("fhir", Some(&fhir_file));
    assert!(out.stdout.is_empty(), "--out keeps stdout empty");
    let bundle: Value = serde_json::from_slice(&std::fs::read(&fhir_file).unwrap()).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    let resources: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .collect();
    let of_type = |t: &str| {
        resources
            .iter()
            .filter(|r| r["resourceType"] == t)
            .copied()
            .collect::<Vec<_>>()
    };
    let groups = of_type("Group");
    assert_eq!(groups.len(), 1, "one Group: {bundle}");
    assert_eq!(groups[0]["member"].as_array().map(Vec::len), Some(3));
    let mut fhir_phns: Vec<String> = of_type("Patient")
        .iter()
        .flat_map(|p| p["identifier"].as_array().unwrap().iter())
        .filter_map(|i| i["value"].as_str())
        .filter(|v| expected.iter().any(|e| e == v))
        .map(str::to_owned)
        .collect();
    fhir_phns.sort();
    assert_eq!(fhir_phns, expected);
    let out = import(&fhir_file).assert_success();
    assert!(
        out.stdout.contains("0 added, 0 updated, 3 unchanged"),
        "re-importing the FHIR export must change nothing: {}",
        out.stdout
    );

    // The node sees what the command line imported.
    let node = Server::node(&dir);
    let mut api = node.api();
    assert_eq!(api.login("drlee", &drlee_temporary).0, 200);
    api.change_password(&drlee_temporary, "maple-syrup-canoe-77");
    let (status, page) = api.get(&format!(
        "/api/v1/clinics/{}/providers/{drlee}/panel",
        created.clinic
    ));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], 3, "{page}");
    node.stop();
}

// ---------------------------------------------------------------------------
// 3. reset a password offline
// ---------------------------------------------------------------------------

#[test]
fn offline_password_reset_replaces_the_old_password() {
    let dir = DataDir::new("reset");
    let created = init(&dir);
    let node = Server::node(&dir);
    director_first_signin(&node, &created.temporary_password);
    node.stop();

    let out = run(&["user", "reset-password", "--data-dir", dir.arg(), "dana"]).assert_success();
    let reset = field_after(&out.stdout, "New temporary password for dana:").to_owned();
    assert!(reset.len() >= 12, "{reset:?}");
    assert_ne!(reset, created.temporary_password);

    let out = run(&["user", "reset-password", "--data-dir", dir.arg(), "nobody"]).assert_failure();
    assert!(out.stderr.contains("nobody"), "{}", out.stderr);

    let node = Server::node(&dir);
    let mut api = node.api();
    assert_eq!(
        api.login("dana", DIRECTOR_PW).0,
        401,
        "old password must stop working"
    );
    assert_eq!(api.login("dana", &created.temporary_password).0, 401);
    let (status, session) = api.login("dana", &reset);
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["must_change_password"], true, "{session}");
    api.change_password(&reset, "new-harbour-light-93");
    let (status, body) = api.get(&format!("/api/v1/clinics/{}", created.clinic));
    assert_eq!(status, 200, "{body}");
    node.stop();
}

// ---------------------------------------------------------------------------
// 4. the demo
// ---------------------------------------------------------------------------

/// drpatel's clinic, and how many patients and members it shows.
fn demo_view(demo: &Server) -> (String, u64, usize) {
    let mut api = demo.api();
    let (status, session) = api.login("drpatel", "demo-drpatel-pw");
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["must_change_password"], false, "{session}");
    let clinic = session["memberships"][0]["clinic"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = session["user"].as_str().unwrap();
    let (status, page) = api.get(&format!(
        "/api/v1/clinics/{clinic}/providers/{me}/panel?limit=5"
    ));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["rows"].as_array().map(Vec::len), Some(5), "{page}");
    let total = page["total"].as_u64().unwrap();
    let (status, members) = api.get(&format!("/api/v1/clinics/{clinic}/members"));
    assert_eq!(status, 200, "{members}");
    (clinic, total, members.as_array().unwrap().len())
}

#[test]
fn demo_serves_a_seeded_clinic_stops_gracefully_and_reopens_without_duplicates() {
    let dir = DataDir::new("demo");
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
    demo.wait_stdout("Press Ctrl-C");
    let banner = demo.stdout();
    for login in ["director", "drpatel", "demo-drpatel-pw", "moa.chen"] {
        assert!(banner.contains(login), "{login} missing from:\n{banner}");
    }
    assert!(banner.contains(&format!("http://{}/", demo.addr)));
    let (clinic, patients, members) = demo_view(&demo);
    // 300 patients spread at random over four providers.
    assert!(
        (40..=110).contains(&patients),
        "drpatel has {patients} patients"
    );
    assert_eq!(members, 7);

    // A browser keeps its connection open; that must not hold up the shutdown.
    let idle = demo.api();
    assert_eq!(idle.get("/healthz").0, 200);
    let (status, took, stderr) = demo.terminate();
    drop(idle);
    eprintln!("demo shutdown after SIGTERM took {took:?}");
    assert!(status.success(), "demo exited with {status}: {stderr}");
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "logs to a pipe carry no terminal colour codes: {stderr:?}"
    );
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");

    let demo = Server::start(&args, &[], "URL:");
    let again = demo_view(&demo);
    assert_eq!(
        again,
        (clinic, patients, members),
        "reopening must not reseed"
    );
    demo.stop();
}

// ---------------------------------------------------------------------------
// 5. one process per data directory
// ---------------------------------------------------------------------------

#[test]
fn a_second_process_on_a_busy_data_dir_fails_clearly() {
    let dir = DataDir::new("busy");
    let node = Server::node(&dir);

    let out = run_with(
        &["node", "--data-dir", dir.arg(), "--listen", "127.0.0.1:0"],
        &[],
        Duration::from_secs(30),
    )
    .assert_failure();
    assert!(
        out.stderr.contains("is another attach process using it?"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(dir.arg()), "{}", out.stderr);
    // The cause, not a bare "internal error".
    assert!(
        out.stderr.contains("could not acquire lock"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("internal error"), "{}", out.stderr);
    assert!(!out.stdout.contains("listening"), "{}", out.stdout);

    let out = run(&["user", "reset-password", "--data-dir", dir.arg(), "dana"]).assert_failure();
    assert!(
        out.stderr.contains("is another attach process using it?"),
        "{}",
        out.stderr
    );

    // The first node is unharmed.
    let (status, _) = node.api().get("/healthz");
    assert_eq!(status, 200);
    node.stop();
}

// ---------------------------------------------------------------------------
// 6. configuration from the environment
// ---------------------------------------------------------------------------

#[test]
fn attach_listen_and_data_dir_from_the_environment_are_used() {
    let dir = DataDir::new("env");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let node = Server::start(
        &["node"],
        &[("ATTACH_LISTEN", &listen), ("ATTACH_DATA_DIR", dir.arg())],
        "Attach node listening on",
    );
    assert_eq!(node.addr.to_string(), listen);
    node.wait_stdout("Data directory:");
    assert_eq!(
        field_after(&node.stdout(), "Data directory:"),
        dir.arg(),
        "ATTACH_DATA_DIR"
    );
    assert!(
        dir.path().join("docs").exists(),
        "the store lives in ATTACH_DATA_DIR"
    );
    node.stop();
}

#[test]
fn an_unknown_attach_variable_is_refused_by_name() {
    let dir = DataDir::new("unknown-env");
    let data = dir.path().join("never-created");
    let out = run_with(
        &[
            "node",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[("ATTACH_FOO", "1")],
        Duration::from_secs(30),
    )
    .assert_failure();
    assert!(out.stderr.contains("ATTACH_FOO"), "{}", out.stderr);
    assert!(!out.stdout.contains("listening"), "{}", out.stdout);
    assert!(!data.exists(), "nothing is opened on a bad configuration");
}

// ---------------------------------------------------------------------------
// 7. no patient data in the logs
// ---------------------------------------------------------------------------

/// drpatel signed in on a demo node: the API, the clinic id, and the API path of
/// drpatel's panel.
fn drpatel_panel(demo: &Server) -> (support::Api, String, String) {
    let mut api = demo.api();
    let (status, session) = api.login("drpatel", "demo-drpatel-pw");
    assert_eq!(status, 200, "{session}");
    let clinic = session["memberships"][0]["clinic"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = session["user"].as_str().unwrap().to_owned();
    let panel = format!("/api/v1/clinics/{clinic}/providers/{me}/panel");
    (api, clinic, panel)
}

#[test]
fn verbose_logs_carry_ids_but_no_patient_data() {
    let dir = DataDir::new("logs");
    let verbose = [("ATTACH_LOG", "trace,sled=info,hyper=info,reqwest=info")];
    let args = [
        "demo",
        "--data-dir",
        dir.arg(),
        "--listen",
        "127.0.0.1:0",
        "--patients",
        "60",
    ];
    let demo = Server::start(&args, &verbose, "URL:");
    let (api, clinic, panel) = drpatel_panel(&demo);
    let (_, page) = api.get(&format!("{panel}?limit=500"));
    let rows = page["rows"].as_array().unwrap().clone();
    assert!(!rows.is_empty());
    // Search by a name and a PHN, add a patient, and send a bad one: all of it is
    // patient data that must stay out of the log.
    let first = &rows[0]["patient"];
    let family = first["family_name"].as_str().unwrap();
    let phn_prefix = &first["phn"].as_str().unwrap()[..6];
    assert_eq!(api.get(&format!("{panel}?q={family}")).0, 200);
    assert_eq!(api.get(&format!("{panel}?q={phn_prefix}")).0, 200);
    let new_phn = phn(77_123_456);
    let body = serde_json::json!({"patient": {
        "phn": new_phn, "family_name": "Quillfeather", "given_names": "Ottoline",
        "date_of_birth": "1961-04-09", "sex": "female"}});
    assert_eq!(api.post(&panel, &body).0, 201);
    let bad = serde_json::json!({"patient": {
        "phn": bad_phn(55_555_555), "family_name": "Zanzibarova", "given_names": "Ilse",
        "date_of_birth": "1970-01-01", "sex": "x"}});
    assert_eq!(api.post(&panel, &bad).0, 422);
    let (_, _, stderr) = demo.terminate();

    assert!(
        stderr.contains(&clinic),
        "the log does name ids (it is verbose)"
    );
    let mut secrets: Vec<String> = vec![
        new_phn,
        bad_phn(55_555_555),
        "Quillfeather".into(),
        "Zanzibarova".into(),
        "1961-04-09".into(),
    ];
    for row in &rows {
        let p = &row["patient"];
        secrets.push(p["phn"].as_str().unwrap().to_owned());
        secrets.push(format!(
            "{} {}",
            p["given_names"].as_str().unwrap(),
            p["family_name"].as_str().unwrap()
        ));
    }
    for secret in &secrets {
        assert!(
            !stderr.contains(secret.as_str()),
            "patient data {secret:?} appears in the log"
        );
    }
    assert!(
        !stderr.contains(&format!("q={family}")),
        "search terms stay out of the log"
    );
}
