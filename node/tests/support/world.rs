//! The world the router tests (`api.rs` and `web/`) share, included by both with
//! `#[path = ...] mod world;` (each target uses part of it, hence the `dead_code` allowance).
//!
//! A fresh data directory holding the demo clinic "A" (200 synthetic patients and the demo
//! people of `attach::demo::LOGINS`) and a second clinic "B", created as `attach init` does,
//! whose director (`bdirector`) chose a password. Dr. Patel asks to join B and B's director
//! approves and activates her, so one person works at both clinics; Dr. Bravo is at B only,
//! with three patients, and still has his first temporary password (`drbravo_temp`) until a
//! test chooses one with [`World::choose_password`]. Time is a `ManualClock`, so idling,
//! throttling and expiry are tested without sleeping.
//!
//! Each target adds its own helpers in its own `impl World` (JSON calls in `api.rs`, a
//! cookie-keeping browser in `web/main.rs`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use attach::app::{App, InitClinic, ManualClock, MemberAction};
use attach::domain::{ClinicId, EntryId, PatientDetails, PatientStatus, Role, UserId};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use time::OffsetDateTime;
use time::macros::datetime;
use tower::ServiceExt;

pub const START: OffsetDateTime = datetime!(2026-11-02 09:00 UTC);
/// Patients seeded on clinic A's panels.
pub const PATIENTS: usize = 200;
/// Synthetic patients beyond the seeded ones: never on any panel until a test adds them
/// (the first three go to Dr. Bravo at B).
pub const SPARES: usize = 30;
pub const IDLE_MINUTES: u32 = 30;
pub const B_DIRECTOR_PASSWORD: &str = "smithers-b-director-2026";

/// A fresh directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "attach-test-{name}-{}-{n}-{}",
            std::process::id(),
            OffsetDateTime::now_utc().unix_timestamp_nanos()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens a data directory just closed: sled's background flusher may hold its lock for a
/// moment after the last handle is dropped (seen under a loaded machine), so retry briefly.
pub fn retry_open<T, E: std::fmt::Debug>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open() {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("the data directory does not open: {e:?}"),
        }
    }
}

/// One answer of the router, read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).unwrap_or(serde_json::Value::Null)
    }
}

/// Sends one request through `router` (no socket) and reads the whole answer.
pub async fn send(router: Router, req: Request<Body>) -> Reply {
    let response = router.oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        headers,
        bytes,
    }
}

/// The app on a data directory and the router around it.
#[allow(missing_debug_implementations)]
pub struct Node {
    pub app: App,
    pub router: Router,
}

fn options(max_body_bytes: usize) -> attach::http::HttpOptions {
    attach::http::HttpOptions {
        max_body_bytes,
        secure_cookies: false,
    }
}

fn open_node(dir: &Path, clock: &ManualClock, max_body_bytes: usize) -> Node {
    let app = retry_open(|| App::open_at(dir, 16, IDLE_MINUTES, Arc::new(clock.clone())));
    let router = attach::http::router(app.clone(), options(max_body_bytes));
    Node { app, router }
}

#[allow(missing_debug_implementations)]
pub struct World {
    /// `None` only while [`World::reopen`] runs.
    node: Option<Node>,
    /// The body limit the router is built with.
    pub max_body_bytes: usize,
    pub clock: ManualClock,
    /// Clinic A (the demo clinic) and clinic B.
    pub a: ClinicId,
    pub b: ClinicId,
    /// Username → user id, both clinics.
    pub ids: HashMap<String, UserId>,
    /// Username → password, for everyone who can sign in without changing it first.
    pub passwords: HashMap<String, String>,
    /// Dr. Bravo's first temporary password, unused by the world itself.
    pub drbravo_temp: String,
    /// Patients on no panel yet, for tests that add one.
    pub spares: Vec<PatientDetails>,
    /// The entries on Dr. Bravo's panel at clinic B.
    pub b_entries: Vec<EntryId>,
    /// Last: removed once the node above is closed.
    dir: TempDir,
}

impl World {
    /// Builds the world on a fresh directory named after `name`, its router taking bodies
    /// of up to `max_body_bytes`.
    pub fn build(name: &str, max_body_bytes: usize) -> Self {
        let dir = TempDir::new(name);
        let clock = ManualClock::new(START);
        let node = open_node(&dir.0, &clock, max_body_bytes);
        let app = node.app.clone();
        let mut people =
            attach::demo_data::patients(attach::demo::DEMO_SEED, PATIENTS + SPARES, START.date());
        let mut spares = people.split_off(PATIENTS);
        let setup = attach::demo::setup(people);
        assert!(
            app.seed_demo(&setup).unwrap(),
            "the demo clinic was created"
        );
        let mut passwords: HashMap<String, String> = attach::demo::LOGINS
            .iter()
            .map(|(u, p, ..)| ((*u).to_owned(), (*p).to_owned()))
            .collect();

        // Clinic B, created as `attach init` does, its director signing in with the
        // temporary password and choosing one.
        let init = app
            .init_clinic(&InitClinic {
                clinic_name: "Smithers Community Health Centre".to_owned(),
                facility_number: "V0J2N5".to_owned(),
                director_username: "bdirector".to_owned(),
                director_name: "Bea Okafor".to_owned(),
                director_email: "bea@smithers.example.org".to_owned(),
            })
            .unwrap();
        let b = init.clinic;
        let login = app.login("bdirector", &init.temporary_password).unwrap();
        assert!(login.session.must_change_password);
        let who = app.authenticate(&login.token).unwrap();
        app.change_password(&who, &init.temporary_password, B_DIRECTOR_PASSWORD)
            .unwrap();
        passwords.insert("bdirector".to_owned(), B_DIRECTOR_PASSWORD.to_owned());
        let bdirector = login.session.user;

        // Dr. Patel works at both clinics: signed in, she asks to join B, and B's director
        // approves and activates her. Dr. Bravo is at B only.
        let patel = app
            .login("drpatel", &passwords["drpatel"])
            .unwrap()
            .session
            .user;
        app.request_membership(Some(patel), b, "", "", "", Role::Physician)
            .unwrap();
        for action in [MemberAction::Approve, MemberAction::Activate] {
            let (_, temp) = app.member_action(bdirector, b, patel, action).unwrap();
            assert!(temp.is_none(), "a person with a password gets no new one");
        }
        let (bravo, temp) = app
            .add_member(
                bdirector,
                b,
                "drbravo",
                "Dr. Bo Bravo",
                "bo@smithers.example.org",
                Role::Physician,
            )
            .unwrap();
        let bravo = bravo.membership.user;
        app.member_action(bdirector, b, bravo, MemberAction::Activate)
            .unwrap();
        let mut b_entries = Vec::new();
        for p in spares.drain(..3) {
            let e = app
                .add_patient(bravo, b, bravo, p, PatientStatus::Active)
                .unwrap();
            b_entries.push(e.id);
        }

        // Ids of both clinics, as their directors see them.
        let director = app.login("director", &passwords["director"]).unwrap();
        assert_eq!(director.session.memberships.len(), 1);
        let a = director.session.memberships[0].clinic;
        let mut ids = HashMap::new();
        for (manager, clinic) in [(director.session.user, a), (bdirector, b)] {
            for m in app.members(manager, clinic).unwrap() {
                ids.insert(m.username.clone(), m.membership.user);
            }
        }
        assert_eq!(
            ids.len(),
            7 + 2,
            "seven demo people, B's director and Dr. Bravo"
        );
        Self {
            node: Some(node),
            max_body_bytes,
            clock,
            a,
            b,
            ids,
            passwords,
            drbravo_temp: temp.unwrap(),
            spares,
            b_entries,
            dir,
        }
    }

    pub fn app(&self) -> &App {
        &self.node.as_ref().expect("the node is open").app
    }

    pub fn router(&self) -> Router {
        self.node.as_ref().expect("the node is open").router.clone()
    }

    pub fn id(&self, username: &str) -> UserId {
        *self
            .ids
            .get(username)
            .unwrap_or_else(|| panic!("no user {username}"))
    }

    /// Whose id `user` is.
    pub fn username(&self, user: UserId) -> String {
        self.ids
            .iter()
            .find(|(_, id)| **id == user)
            .map(|(name, _)| name.clone())
            .unwrap_or_else(|| panic!("no username for {user}"))
    }

    /// Signs `username` in with their temporary password `temp` and chooses `password`,
    /// which is then known to the world.
    pub fn choose_password(&mut self, username: &str, temp: &str, password: &str) {
        let app = self.app();
        let s = app.login(username, temp).unwrap();
        assert!(
            s.session.must_change_password,
            "{username} had a temporary password"
        );
        app.change_password(&app.authenticate(&s.token).unwrap(), temp, password)
            .unwrap();
        self.passwords
            .insert(username.to_owned(), password.to_owned());
    }

    /// Closes the node (so its directory can be copied or opened by hand), runs `f` on the
    /// data directory, reopens it.
    pub fn reopen(&mut self, f: impl FnOnce(&Path)) {
        self.node = None;
        f(&self.dir.0);
        self.node = Some(open_node(&self.dir.0, &self.clock, self.max_body_bytes));
    }

    /// Rebuilds the router around a real (not enrolled) sync of the node, keeping its files
    /// in `sync_dir`.
    pub fn with_sync(&mut self, sync_dir: &Path) {
        let node = self.node.as_mut().expect("the node is open");
        let sync = attach::replication::NodeSync::new(
            node.app.clone(),
            sync_dir,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
        node.router = attach::http::router_with_sync(
            node.app.clone(),
            options(self.max_body_bytes),
            attach::http::SyncHandle(Some(sync)),
        );
    }

    /// The clinic the node syncs (the first it holds) and its director; and the other one's.
    pub fn synced_clinic(&self) -> ((ClinicId, &'static str), (ClinicId, &'static str)) {
        let (a, b) = ((self.a, "director"), (self.b, "bdirector"));
        if self.app().clinic_ids()[0] == self.a {
            (a, b)
        } else {
            (b, a)
        }
    }

    /// Sends one request through the router and reads the whole answer.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        send(self.router(), req).await
    }

    /// Signs in through `POST /api/v1/session` with the known password and returns the
    /// session token (also the value of the `attach_session` cookie).
    pub async fn token(&self, username: &str) -> String {
        let password = self
            .passwords
            .get(username)
            .unwrap_or_else(|| panic!("no password for {username}"));
        let reply = self.sign_in(username, password).await;
        assert_eq!(reply.status, StatusCode::OK, "{username}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["session"]["must_change_password"], false);
        body["token"].as_str().unwrap().to_owned()
    }

    /// `POST /api/v1/session` with these credentials.
    pub async fn sign_in(&self, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({"username": username, "password": password});
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap();
        self.send(req).await
    }
}
