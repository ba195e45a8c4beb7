//! Browser end-to-end tests: a real headless Chromium (Debian's `chromium`, driven through
//! `chromedriver`) against a node serving the demo clinic on loopback.
//!
//! Scenarios (the list): sign in with a temporary password and change it; upload a
//! CSV with two bad rows, see both errors, fix it, upload it; change a patient's status;
//! set panel preferences; a director deactivates a member, who is then refused. Along the
//! way: the search box updates the table through htmx, keyboard focus is visible, and a
//! screenshot of each main page is saved under `target/browser-screenshots/` for people to
//! look at.
//!
//! Chromium is a system package. Where it is missing these tests say so and pass, unless
//! `ATTACH_REQUIRE_BROWSER=1` is set — `.ci/run` installs Chromium and sets it, so in CI a
//! missing browser is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

mod webdriver;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use attach::app::{App, SystemClock};
use attach::domain::{ClinicId, PatientDetails, Sex, UserId};
use webdriver::{Browser, Driver};

const PATIENTS: usize = 300;
/// A WebDriver key: Tab.
const TAB: &str = "\u{E004}";

struct Node {
    app: App,
    base: String,
    clinic: ClinicId,
    ids: std::collections::HashMap<String, UserId>,
    spares: Vec<PatientDetails>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn start_node(dir: &Path) -> Node {
    let app = App::open_at(dir, 16, 30, Arc::new(SystemClock)).unwrap();
    attach::demo::seed(&app, PATIENTS).unwrap();
    let mut spares = attach::demo_data::patients(
        attach::demo::DEMO_SEED,
        PATIENTS + 10,
        time::OffsetDateTime::now_utc().date(),
    );
    let spares = spares.split_off(PATIENTS);
    let director = app.login("director", "demo-director-pw").unwrap();
    let clinic = director.session.memberships[0].clinic;
    let ids = app
        .members(director.session.user, clinic)
        .unwrap()
        .into_iter()
        .map(|m| (m.username, m.membership.user))
        .collect();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
    tokio::spawn(async move {
        attach::http::run(
            served,
            attach::http::HttpOptions {
                max_body_bytes: 16 * 1024 * 1024,
                secure_cookies: false,
            },
            attach::http::SyncHandle(None),
            listener,
            async move {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
    });
    Node {
        app,
        base,
        clinic,
        ids,
        spares,
        shutdown: Some(tx),
    }
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("browser-screenshots")
}

struct Run {
    node: Node,
    driver: Driver,
    shots: PathBuf,
}

impl Run {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.node.base)
    }

    fn clinic_path(&self, rest: &str) -> String {
        self.url(&format!("/c/{}{rest}", self.node.clinic))
    }

    fn panel_path(&self, provider: &str, rest: &str) -> String {
        self.clinic_path(&format!("/panels/{}{rest}", self.node.ids[provider]))
    }

    async fn shot(&self, b: &Browser, name: &str) {
        b.screenshot(&self.shots.join(format!("{name}.png"))).await;
    }

    /// A new browser, signed in through the form.
    async fn sign_in(&self, name: &str, username: &str, password: &str) -> Browser {
        let b = self.driver.session(name).await;
        b.goto(&self.url("/login")).await;
        b.type_into(&b.find("#username").await, username).await;
        b.type_into(&b.find("#password").await, password).await;
        b.click(&b.button("Sign in").await).await;
        b.wait_url("leaving the sign-in page", |u| !u.contains("/login"))
            .await;
        b
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_scenarios() {
    let Some((driver, browser)) = webdriver::find_tools() else {
        if std::env::var("ATTACH_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!(
                "ATTACH_REQUIRE_BROWSER=1 but /usr/bin/chromium or /usr/bin/chromedriver is missing"
            );
        }
        eprintln!(
            "SKIPPED: browser tests need Debian's chromium and chromium-driver \
             (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
        return;
    };
    let scratch = std::env::temp_dir().join(format!("attach-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let node = start_node(&scratch.join("node")).await;
    let driver = Driver::start(&driver, &browser, &scratch).await;
    let run = Run {
        node,
        driver,
        shots: screenshots_dir(),
    };
    temporary_password_then_own_one(&run).await;
    upload_with_two_bad_rows_then_fixed(&run, &scratch).await;
    change_a_patients_status(&run).await;
    set_panel_preferences(&run).await;
    a_review_task_end_to_end(&run).await;
    a_qi_cycle_walk(&run).await;
    deactivated_member_is_refused(&run).await;
    drop(run);
    let _ = std::fs::remove_dir_all(&scratch);
}

async fn temporary_password_then_own_one(run: &Run) {
    let director = run.node.ids["director"];
    let np = run.node.ids["npsingh"];
    let temp = run
        .node
        .app
        .reset_password(director, run.node.clinic, np)
        .unwrap();
    let b = run.driver.session("temp-password").await;
    b.goto(&run.url("/login")).await;
    run.shot(&b, "01-sign-in").await;
    b.type_into(&b.find("#username").await, "npsingh").await;
    b.type_into(&b.find("#password").await, &temp).await;
    b.click(&b.button("Sign in").await).await;
    b.wait_url("the password page", |u| u.ends_with("/password"))
        .await;
    // Any other page sends them back here until the password is changed.
    b.goto(&run.clinic_path("/dashboard")).await;
    b.wait_url("back to the password page", |u| u.ends_with("/password"))
        .await;
    run.shot(&b, "02-change-temporary-password").await;
    b.type_into(&b.find("#current_password").await, &temp).await;
    b.type_into(&b.find("#new_password").await, "harleen-singh-own-2026")
        .await;
    b.type_into(&b.find("#confirm_password").await, "harleen-singh-own-2026")
        .await;
    b.click(&b.button("Change password").await).await;
    b.wait_url("the clinic dashboard", |u| u.ends_with("/dashboard"))
        .await;
    run.shot(&b, "03-clinic-dashboard").await;
    assert!(
        b.source().await.contains("<svg"),
        "the dashboard has a chart"
    );
    b.close().await;
    assert!(
        run.node
            .app
            .login("npsingh", "harleen-singh-own-2026")
            .is_ok()
    );
    assert!(
        run.node.app.login("npsingh", &temp).is_err(),
        "the temporary one is gone"
    );
}

fn csv_row(p: &PatientDetails) -> String {
    let sex = match p.sex {
        Sex::Female => "F",
        Sex::Male => "M",
        Sex::X => "X",
        Sex::Unknown => "U",
    };
    format!(
        "{},{},{},{},{sex}\n",
        p.phn, p.family_name, p.given_names, p.date_of_birth
    )
}

async fn upload_with_two_bad_rows_then_fixed(run: &Run, scratch: &Path) {
    let spares = &run.node.spares;
    let header = "phn,family_name,given_names,date_of_birth,sex\n";
    let mut bad = String::from(header);
    let mut good = String::from(header);
    for (i, p) in spares.iter().take(5).enumerate() {
        let row = csv_row(p);
        good.push_str(&row);
        match i {
            // A PHN whose check digit is wrong.
            1 => {
                let phn = p.phn.to_string();
                let last = (phn.as_bytes()[9] - b'0' + 1) % 10;
                bad.push_str(&row.replacen(&phn, &format!("{}{last}", &phn[..9]), 1));
            }
            // No family name.
            3 => bad.push_str(&row.replacen(&format!(",{},", p.family_name), ",,", 1)),
            _ => bad.push_str(&row),
        }
    }
    let bad_path = scratch.join("panel-with-two-bad-rows.csv");
    let good_path = scratch.join("panel-fixed.csv");
    std::fs::write(&bad_path, &bad).unwrap();
    std::fs::write(&good_path, &good).unwrap();

    let b = run.sign_in("upload", "drpatel", "demo-drpatel-pw").await;
    let before = run
        .node
        .app
        .panel_summary(
            run.node.ids["drpatel"],
            run.node.clinic,
            run.node.ids["drpatel"],
        )
        .unwrap();
    b.goto(&run.panel_path("drpatel", "/upload")).await;
    b.type_into(&b.find("#file").await, &bad_path.to_string_lossy())
        .await;
    b.click(&b.button("Check file").await).await;
    b.find("#upload-errors").await;
    let rows = b.find_all("#upload-errors tbody tr").await;
    assert_eq!(rows.len(), 2, "one line per bad row:\n{}", b.source().await);
    let table = b.text(&b.find("#upload-errors").await).await;
    assert!(
        table.contains('2') && table.contains('4'),
        "rows 2 and 4 named: {table}"
    );
    run.shot(&b, "05-upload-errors").await;
    let after_bad = run
        .node
        .app
        .panel_summary(
            run.node.ids["drpatel"],
            run.node.clinic,
            run.node.ids["drpatel"],
        )
        .unwrap();
    assert_eq!(
        format!("{after_bad:?}"),
        format!("{before:?}"),
        "nothing stored from a file with errors"
    );

    b.goto(&run.panel_path("drpatel", "/upload")).await;
    b.type_into(&b.find("#file").await, &good_path.to_string_lossy())
        .await;
    b.click(&b.button("Check file").await).await;
    let store = b
        .find_xpath("//button[starts-with(normalize-space(), 'Store')]")
        .await;
    run.shot(&b, "06-upload-preview").await;
    b.click(&store).await;
    b.wait_url("back on the panel", |u| !u.contains("/upload"))
        .await;
    for p in spares.iter().take(5) {
        b.goto(&format!("{}?q={}", run.panel_path("drpatel", ""), p.phn))
            .await;
        let found = b.find_all("tbody tr[id^='entry-']").await;
        assert_eq!(found.len(), 1, "patient {} is on the panel", p.phn);
    }
    b.close().await;
}

async fn change_a_patients_status(run: &Run) {
    let b = run.sign_in("status", "drpatel", "demo-drpatel-pw").await;
    b.goto(&run.panel_path("drpatel", "")).await;
    run.shot(&b, "04-panel").await;
    // Keyboard: the first Tab reaches the skip link, and focus is visible.
    let body = b.find("body").await;
    b.press(&body, TAB).await;
    let focused = b.active().await;
    assert_eq!(b.text(&focused).await, "Skip to content");
    assert_ne!(b.element_css(&focused, "outline-style").await, "none");

    // The search box narrows the table without a page load (htmx).
    let rows_before = b.find_all("tbody tr[id^='entry-']").await.len();
    assert!(rows_before > 1);
    let first = b.find("tbody tr[id^='entry-'] a").await;
    let name = b.text(&first).await;
    let family = name
        .split([',', ' '])
        .find(|s| !s.is_empty())
        .unwrap()
        .to_owned();
    b.type_into(&b.find("#q").await, &family).await;
    b.wait_url("the search in the URL", |u| u.contains("q="))
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let n = b.find_all("tbody tr[id^='entry-']").await.len();
        if n >= 1 && n < rows_before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "search did not narrow the table"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let link = b.find("tbody tr[id^='entry-'] a").await;
    b.click(&link).await;
    b.wait_url("the patient's page", |u| u.contains("/entries/"))
        .await;
    // Whatever the patient's status is, change it to the other of active/inactive.
    let current = b.property(&b.find("#status").await, "value").await;
    let target = if current.as_str().is_some_and(|v| v.contains("inactive")) {
        "active"
    } else {
        "inactive"
    };
    let options = b.find_all("#status option").await;
    let mut chosen = None;
    for o in &options {
        let value = b.property(o, "value").await;
        if value.as_str() == Some(target) {
            chosen = Some(o.clone());
        }
    }
    let chosen =
        chosen.unwrap_or_else(|| panic!("no option {target:?} among {} options", options.len()));
    b.click(&chosen).await;
    b.click(&b.button("Change status").await).await;
    b.find("#notice").await;
    let selected = b.property(&b.find("#status").await, "value").await;
    assert_eq!(selected.as_str(), Some(target), "the status was changed");
    run.shot(&b, "07-patient-entry").await;
    b.close().await;
}

async fn set_panel_preferences(run: &Run) {
    let b = run
        .sign_in("preferences", "drnguyen", "demo-drnguyen-pw")
        .await;
    b.goto(&run.panel_path("drnguyen", "/preferences")).await;
    let accepting = b.find("#accepting").await;
    if b.property(&accepting, "checked").await != serde_json::json!(true) {
        b.click(&accepting).await;
    }
    b.type_into(&b.find("#monthly_capacity").await, "20").await;
    b.type_into(&b.find("#desired_size").await, "1500").await;
    b.type_into(&b.find("#max_open_requests").await, "5").await;
    b.click(&b.button("Save preferences").await).await;
    b.find("#notice").await;
    let consequences = b.text(&b.find("#consequences").await).await;
    assert!(
        consequences.contains("1,500") || consequences.contains("1500"),
        "consequences mention the desired size: {consequences}"
    );
    run.shot(&b, "08-panel-preferences").await;
    let prefs = run
        .node
        .app
        .preferences(
            run.node.ids["drnguyen"],
            run.node.clinic,
            run.node.ids["drnguyen"],
        )
        .unwrap();
    let shown = format!("{prefs:?}");
    assert!(shown.contains("1500") && shown.contains("20"), "{shown}");
    b.goto(&run.panel_path("drnguyen", "/dashboard")).await;
    run.shot(&b, "09-provider-dashboard").await;

    // The panel profile: state the appointments, read the estimate, see it on the
    // preferences page as advice.
    b.goto(&run.panel_path("drnguyen", "/profile")).await;
    b.find("#pyramid-chart").await;
    run.shot(&b, "10-panel-profile-pyramid").await;
    b.type_into(&b.find("#appointments_per_week").await, "60")
        .await;
    b.type_into(&b.find("#weeks_per_year").await, "46").await;
    b.click(&b.button("Save and estimate").await).await;
    b.find("#notice").await;
    let advice = b.text(&b.find("#supply-advice").await).await;
    assert!(
        advice.contains("The appointments cover about"),
        "the estimate is shown: {advice}"
    );
    run.shot(&b, "11-panel-profile-estimate").await;
    b.goto(&run.panel_path("drnguyen", "/preferences")).await;
    let advice = b.text(&b.find("#supply-advice").await).await;
    assert!(
        advice.contains("The appointments cover about"),
        "the preferences page carries the advice: {advice}"
    );
    b.close().await;
}

/// Clicks the `<option>` of `select` whose value is `value`.
async fn choose(b: &Browser, select: &str, value: &str) {
    let options = b.find_all(&format!("{select} option")).await;
    for o in &options {
        if b.property(o, "value").await.as_str() == Some(value) {
            b.click(o).await;
            return;
        }
    }
    panic!(
        "no option {value:?} in {select} ({} options)",
        options.len()
    );
}

/// The director makes a review task of a worklist for Grace Chen; she sees it due in the
/// navigation, works the list (records patients' MRP confirmations in bulk) and marks it done.
/// Registries → QI: the demo's cycle shows a run chart whose table holds exactly its points;
/// a new cycle is started and given a measure, through the forms.
async fn a_qi_cycle_walk(run: &Run) {
    let b = run.sign_in("qi", "drpatel", "demo-drpatel-pw").await;
    b.goto(&run.clinic_path("/registries")).await;
    b.click(&b.find("#qi-link").await).await;
    b.wait_url("the QI cycles", |u| u.ends_with("/qi")).await;
    b.click(&b.find("#cycles tbody tr th a").await).await;
    b.wait_url("the demo's cycle", |u| u.contains("/qi/")).await;
    run.shot(&b, "12-qi-run-chart").await;
    let dots = b.find_all("#chart-m1 circle title").await;
    let mut drawn = Vec::new();
    for d in &dots {
        drawn.push(
            b.property(d, "textContent")
                .await
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let months = b.find_all("#points-m1 tbody th").await;
    let values = b.find_all("#points-m1 tbody td.num").await;
    assert_eq!(months.len(), values.len());
    let mut tabled = Vec::new();
    for (m, v) in months.iter().zip(&values) {
        tabled.push(format!("{}: {} %", b.text(m).await, b.text(v).await));
    }
    assert!(tabled.len() >= 12, "a year of points: {tabled:?}");
    assert_eq!(drawn, tabled, "the chart draws exactly the table's points");

    b.goto(&run.clinic_path("/qi")).await;
    b.type_into(&b.find("#title").await, "Blood pressure in target")
        .await;
    b.type_into(&b.find("#improve").await, "blood pressure in target")
        .await;
    choose(&b, "#registry", "hypertension").await;
    b.click(&b.button("Start the cycle").await).await;
    b.wait_url("the new cycle", |u| u.contains("/qi/")).await;
    let aim = b.text(&b.find("#aim-statement").await).await;
    assert!(
        aim.contains("we will improve blood pressure in target for"),
        "{aim}"
    );
    b.type_into(
        &b.find("#m-name").await,
        "Coded on the hypertension registry",
    )
    .await;
    choose(&b, "#m-kind", "balancing").await;
    choose(&b, "#m-definition", "on_registry:hypertension").await;
    b.click(&b.button("Add the measure").await).await;
    b.find("#qi-notice").await;
    assert!(b.source().await.contains("id=\"measure-m1\""));
    run.shot(&b, "13-qi-new-cycle").await;
    b.close().await;
}

async fn a_review_task_end_to_end(run: &Run) {
    let director = run
        .sign_in("task-director", "director", "demo-director-pw")
        .await;
    director
        .goto(&run.panel_path("drpatel", "/review?worklist=mrp-one-side"))
        .await;
    run.shot(&director, "10-review-worklist").await;
    director.click(&director.find("#make-task").await).await;
    director
        .wait_url("the review-task form", |u| u.contains("/review/tasks"))
        .await;
    director
        .type_into(
            &director.find("#t-title").await,
            "MRP, patient side: Dr. Patel",
        )
        .await;
    choose(&director, "#t-owner", &run.node.ids["moa.chen"].to_string()).await;
    director
        .click(&director.button("Set up the task").await)
        .await;
    director.find("#notice").await;
    director.close().await;

    let grace = run
        .sign_in("task-owner", "moa.chen", "demo-moachen-pw")
        .await;
    grace.goto(&run.clinic_path("/dashboard")).await;
    let due = grace.text(&grace.find("#tasks-due").await).await;
    assert!(
        due.contains("1 due"),
        "the navigation counts the task: {due:?}"
    );
    grace.click(&grace.find("#nav-tasks").await).await;
    grace
        .wait_url("the task page", |u| u.contains("/review/tasks"))
        .await;
    let list = grace.find("#review-tasks tbody tr td a").await;
    grace.click(&list).await;
    grace
        .wait_url("the task's list", |u| u.contains("worklist=mrp-one-side"))
        .await;
    let before = grace.find_all("input[name='entry']").await.len();
    assert!(
        before > 0,
        "the demo panel has patients confirmed on one side only"
    );
    grace.click(&grace.find("#bulk-all").await).await;
    choose(&grace, "#bulk-action", "mrp-patient").await;
    choose(&grace, "#bulk-how", "phone").await;
    grace
        .click(&grace.button("Apply to the selected patients").await)
        .await;
    grace.find("#notice").await;
    assert!(
        grace.find_all("input[name='entry']").await.is_empty(),
        "the list is worked through"
    );
    run.shot(&grace, "11-review-list-done").await;
    grace.goto(&run.clinic_path("/review/tasks")).await;
    grace
        .type_into(
            &grace.find("#review-tasks input[name='note']").await,
            "phoned them all",
        )
        .await;
    grace.click(&grace.button("Mark done").await).await;
    grace.find("#notice").await;
    assert!(
        grace.find_all("#tasks-due").await.is_empty(),
        "nothing due any more"
    );
    let page = grace.source().await;
    assert!(page.contains("phoned them all"));
    run.shot(&grace, "12-review-task-done").await;
    grace.close().await;
}

async fn deactivated_member_is_refused(run: &Run) {
    let nguyen = run.sign_in("nguyen", "drnguyen", "demo-drnguyen-pw").await;
    nguyen.goto(&run.clinic_path("/dashboard")).await;
    nguyen.find("main h1").await;

    let director = run
        .sign_in("director", "director", "demo-director-pw")
        .await;
    director.goto(&run.clinic_path("/members")).await;
    run.shot(&director, "10-members").await;
    let deactivate = director
        .find_xpath("//tr[@id='member-drnguyen']//button[normalize-space()='Deactivate']")
        .await;
    director.click(&deactivate).await;
    director.accept_prompt().await;
    director.find("#notice").await;
    let row = director
        .text(&director.find("#member-drnguyen").await)
        .await;
    assert!(
        row.contains("Deactivated"),
        "row shows the new state: {row}"
    );

    // Dr. Nguyen's open session no longer reaches the clinic…
    nguyen.goto(&run.clinic_path("/dashboard")).await;
    let source = nguyen.source().await;
    assert!(
        !source.contains("Dashboard</h1>") && !source.contains("panel size"),
        "the deactivated member still sees the clinic"
    );
    // …and signing in again is refused.
    nguyen.goto(&run.url("/logout")).await;
    let again = run.driver.session("nguyen-again").await;
    again.goto(&run.url("/login")).await;
    again
        .type_into(&again.find("#username").await, "drnguyen")
        .await;
    again
        .type_into(&again.find("#password").await, "demo-drnguyen-pw")
        .await;
    again.click(&again.button("Sign in").await).await;
    let error = again.text(&again.find("#login-error").await).await;
    assert!(error.contains("not active"), "{error}");
    run.shot(&again, "11-deactivated-refused").await;

    // The other main pages, for the screenshot set.
    let member = format!("/members/{}", run.node.ids["drnguyen"]);
    for (path, name) in [
        ("/clinic", "12-clinic-details"),
        ("/statuses", "13-statuses"),
        ("/delegations", "14-delegations"),
        ("/conflicts", "15-conflicts"),
        (member.as_str(), "16-member-history"),
    ] {
        director.goto(&run.clinic_path(path)).await;
        director.find("main h1").await;
        run.shot(&director, name).await;
    }
    director.close().await;
    nguyen.close().await;
    again.close().await;
}
