//! Router tests of the JSON API, through `tower::ServiceExt::oneshot` (no socket).
//!
//! Every test builds its own world on a fresh data directory (`tests/support/world.rs`, shared
//! with the web tests): the demo clinic ("A", seeded with 200 synthetic patients by
//! `App::seed_demo`) and a second clinic ("B", created with `App::init_clinic`) where Dr. Patel
//! also works and Dr. Bravo (B only, three patients) still has his temporary password. Time
//! is a `ManualClock`, so session idling, throttling and temporary-password expiry are tested
//! without sleeping.
//!
//! Refusals are checked twice: the status and stable `code` of the JSON error, and that
//! nothing changed afterwards (re-read through the API).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

#[path = "support/world.rs"]
mod world;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use attach::app::{App, DelegationAction, MemberAction};
use attach::domain::{ClinicId, EntryId, PatientDetails, PatientStatus, Role, Sex, UserId};
use attach::store::{DocId, DocStore, Projector, StoreOptions};
use automerge::Automerge;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use time::Duration;
use uuid::Uuid;
use world::{IDLE_MINUTES, Reply, TempDir, World, retry_open};

/// The body limit the router is built with; uploads above it must get a 413.
const MAX_BODY: usize = 64 * 1024;
const BOGUS_TOKEN: &str = "not-a-real-session-token";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn v1(path: &str) -> String {
    format!("/api/v1{path}")
}

// ---------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------

/// One answer of the router.
#[derive(Debug)]
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    /// The body as JSON (`Null` when it is not JSON).
    body: Value,
    bytes: Vec<u8>,
}

impl Resp {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Asserts the status and that the body is our JSON error with `code`.
    #[track_caller]
    fn refused(&self, status: StatusCode, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {} {}",
            self.status,
            String::from_utf8_lossy(&self.bytes)
        );
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message: {}",
            self.body
        );
        let kind = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            kind.starts_with("application/json"),
            "error content type {kind:?}"
        );
    }

    #[track_caller]
    fn ok(&self, status: StatusCode) -> &Value {
        assert_eq!(
            self.status,
            status,
            "unexpected answer: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        &self.body
    }

    /// The `(row, field)` of every problem in a validation error.
    fn problems(&self) -> Vec<(Option<u64>, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        (
                            e["row"].as_u64(),
                            e["field"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl From<Reply> for Resp {
    fn from(r: Reply) -> Self {
        Resp {
            status: r.status,
            body: r.json(),
            headers: r.headers,
            bytes: r.bytes,
        }
    }
}

impl World {
    /// The shared world (`tests/support/world.rs`), its router taking bodies of up to
    /// `MAX_BODY`.
    fn new(name: &str) -> Self {
        World::build(&format!("api-{name}"), MAX_BODY)
    }

    /// One request through the router, its answer read as JSON.
    async fn request(&self, req: Request<Body>) -> Resp {
        self.send(req).await.into()
    }

    /// A request to `/api/v1{path}`, with a JSON body when one is given.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = Request::builder().method(method).uri(v1(path));
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = match body {
            Some(body) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap())),
            None => req.body(Body::empty()),
        };
        self.request(req.unwrap()).await
    }

    async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// A raw body (a file upload, or bytes that are not JSON).
    async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(v1(path))
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(kind) = content_type {
            req = req.header(header::CONTENT_TYPE, kind);
        }
        self.request(req.body(Body::from(body)).unwrap()).await
    }

    async fn login(&self, username: &str, password: &str) -> Resp {
        self.sign_in(username, password).await.into()
    }

    fn panel(&self, clinic: ClinicId, provider: &str) -> String {
        format!("/clinics/{clinic}/providers/{}", self.id(provider))
    }

    /// What a panel holds, as `token` reads it: the summary (size, counts by status) and
    /// every entry including removed ones, in full.
    async fn panel_state(&self, token: &str, clinic: ClinicId, provider: &str) -> (Value, Value) {
        let base = self.panel(clinic, provider);
        let summary = self.get(&format!("{base}/summary"), token).await;
        let page = self
            .get(
                &format!("{base}/panel?include_removed=true&limit=500"),
                token,
            )
            .await;
        (
            summary.ok(StatusCode::OK).clone(),
            page.ok(StatusCode::OK).clone(),
        )
    }

    async fn panel_size(&self, token: &str, clinic: ClinicId, provider: &str) -> u64 {
        let s = self
            .get(&format!("{}/summary", self.panel(clinic, provider)), token)
            .await;
        s.ok(StatusCode::OK)["size"].as_u64().unwrap()
    }

    fn spare(&self, i: usize) -> Value {
        patient_json(&self.spares[i])
    }
}

fn uuid(v: &Value) -> Uuid {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a uuid: {v}"))
}

fn sex_word(s: Sex) -> &'static str {
    match s {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::X => "x",
        Sex::Unknown => "unknown",
    }
}

fn patient_json(p: &PatientDetails) -> Value {
    json!({
        "phn": p.phn.to_string(),
        "family_name": p.family_name,
        "given_names": p.given_names,
        "date_of_birth": p.date_of_birth.to_string(),
        "sex": sex_word(p.sex),
        "phone": p.contact.phone,
        "email": p.contact.email,
        "address": {
            "street": p.contact.address.street,
            "city": p.contact.address.city,
            "province": p.contact.address.province,
            "postal_code": p.contact.address.postal_code,
        },
        "community": p.community,
        "last_visit": p.last_visit.map(|d| d.to_string()),
    })
}

fn add_body(patient: Value) -> Value {
    json!({ "patient": patient })
}

/// The PHN with its check digit changed: ten digits, leading 9, but not a valid PHN.
fn wrong_check_digit(phn: &str) -> String {
    let mut digits: Vec<u32> = phn.chars().map(|c| c.to_digit(10).unwrap()).collect();
    digits[9] = (digits[9] + 1) % 10;
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// 1. Authentication
// ---------------------------------------------------------------------------

#[tokio::test]
async fn without_a_valid_session_everything_is_401_json() {
    let w = World::new("no-token");
    // Every route without a session, or with a bogus token, is in the table and in the
    // OpenAPI test.
    let a = w.a;
    // A bogus browser cookie is no better than a bogus bearer token.
    let req = Request::builder()
        .uri(v1(&format!("/clinics/{a}")))
        .header(header::COOKIE, format!("attach_session={BOGUS_TOKEN}"))
        .body(Body::empty())
        .unwrap();
    w.request(req)
        .await
        .refused(StatusCode::UNAUTHORIZED, "unauthenticated");

    // A write without a session stores nothing.
    let director = w.token("director").await;
    let before = w.panel_state(&director, a, "drpatel").await;
    w.call(
        Method::POST,
        &format!("{}/panel", w.panel(a, "drpatel")),
        None,
        Some(add_body(w.spare(0))),
    )
    .await
    .refused(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(w.panel_state(&director, a, "drpatel").await, before);

    // Signing out ends the session, and only that one.
    let other = w.token("director").await;
    let out = w
        .call(Method::DELETE, "/session", Some(&director), None)
        .await;
    out.ok(StatusCode::NO_CONTENT);
    let cookie = out.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("Max-Age=0"),
        "the cookie is cleared: {cookie}"
    );
    w.get("/session", &director)
        .await
        .refused(StatusCode::UNAUTHORIZED, "unauthenticated");
    w.get("/session", &other).await.ok(StatusCode::OK);
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_throttled_with_retry_after() {
    let w = World::new("throttle");
    for _ in 0..3 {
        let r = w.login("director", "not-the-password").await;
        r.refused(StatusCode::UNAUTHORIZED, "bad_credentials");
        assert!(r.body.get("token").is_none());
    }
    // An unknown username gets exactly the same answer as a wrong password.
    let unknown = w.login("nobody-here", "not-the-password").await;
    unknown.refused(StatusCode::UNAUTHORIZED, "bad_credentials");
    let wrong = w.login("drpatel", "not-the-password").await;
    assert_eq!(
        unknown.body, wrong.body,
        "no hint whether a username exists"
    );

    // The fourth attempt comes too soon: refused even with the right password.
    let r = w.login("director", "demo-director-pw").await;
    r.refused(StatusCode::TOO_MANY_REQUESTS, "throttled");
    assert!(r.body.get("token").is_none());
    let retry: i64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Other usernames are not affected.
    w.token("drnguyen").await;

    w.clock.advance(Duration::seconds(retry));
    w.token("director").await;

    // Ten failures in a row lock the login for 15 minutes, whatever is typed.
    let mut locked_for = 0;
    for attempt in 1..=11 {
        let r = w.login("drmacdonald", "not-the-password").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            r.refused(StatusCode::TOO_MANY_REQUESTS, "throttled");
            let retry: i64 = r.headers[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            if attempt == 11 {
                locked_for = retry;
            } else {
                w.clock.advance(Duration::seconds(retry));
                let r = w.login("drmacdonald", "not-the-password").await;
                r.refused(StatusCode::UNAUTHORIZED, "bad_credentials");
            }
        } else {
            assert!(attempt <= 10, "attempt {attempt} was not throttled");
            r.refused(StatusCode::UNAUTHORIZED, "bad_credentials");
        }
    }
    assert!(
        (14 * 60..=15 * 60).contains(&locked_for),
        "locked for {locked_for} s"
    );
    w.clock.advance(Duration::minutes(5));
    w.login("drmacdonald", "demo-drmacdonald-pw")
        .await
        .refused(StatusCode::TOO_MANY_REQUESTS, "throttled");
    // The account manager gives a new temporary password, which also lifts the lock.
    let director = w.token("director").await;
    let reset = w
        .post(
            &format!(
                "/clinics/{}/members/{}/password-reset",
                w.a,
                w.id("drmacdonald")
            ),
            &director,
            json!({}),
        )
        .await;
    let temp = reset.ok(StatusCode::OK)["temporary_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = w.login("drmacdonald", &temp).await;
    assert_eq!(
        login.ok(StatusCode::OK)["session"]["must_change_password"],
        true
    );
}

#[tokio::test]
async fn a_reset_password_is_temporary_and_opens_only_the_session_routes() {
    let w = World::new("temp-reset");
    let a = w.a;
    let director = w.token("director").await;
    let reset = w
        .post(
            &format!("/clinics/{a}/members/{}/password-reset", w.id("drnguyen")),
            &director,
            json!({}),
        )
        .await;
    let temp = reset.ok(StatusCode::OK)["temporary_password"]
        .as_str()
        .unwrap()
        .to_owned();
    // The old password no longer works.
    w.login("drnguyen", "demo-drnguyen-pw")
        .await
        .refused(StatusCode::UNAUTHORIZED, "bad_credentials");

    let login = w.login("drnguyen", &temp).await;
    assert_eq!(
        login.ok(StatusCode::OK)["session"]["must_change_password"],
        true
    );
    let t = login.body["token"].as_str().unwrap().to_owned();

    let before = w.panel_state(&director, a, "drnguyen").await;
    let me = w.get("/session", &t).await;
    assert_eq!(me.ok(StatusCode::OK)["must_change_password"], true);
    // What the temporary password opens, route by route, is in the table; a write stores
    // nothing.
    let panel = w.panel(a, "drnguyen");
    w.post(&format!("{panel}/panel"), &t, add_body(w.spare(0)))
        .await
        .refused(StatusCode::FORBIDDEN, "must_change_password");
    assert_eq!(
        w.panel_state(&director, a, "drnguyen").await,
        before,
        "nothing stored"
    );

    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let r = w
        .post(
            "/session/password",
            &t,
            change("WRONG-WRONG-WRONG-WRONG", "a-brand-new-password"),
        )
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), vec![(None, "current_password".to_owned())]);
    let r = w
        .post("/session/password", &t, change(&temp, "short"))
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), vec![(None, "new_password".to_owned())]);
    w.get(&format!("/clinics/{a}"), &t)
        .await
        .refused(StatusCode::FORBIDDEN, "must_change_password");

    w.post(
        "/session/password",
        &t,
        change(&temp, "nguyen-chose-this-one"),
    )
    .await
    .ok(StatusCode::NO_CONTENT);
    // The same session now works.
    w.get(&format!("/clinics/{a}"), &t).await.ok(StatusCode::OK);
    assert_eq!(
        w.get("/session", &t).await.body["must_change_password"],
        false
    );
    w.post(&format!("{panel}/panel"), &t, add_body(w.spare(0)))
        .await
        .ok(StatusCode::CREATED);

    // The temporary password is gone; the chosen one signs in without conditions.
    w.login("drnguyen", &temp)
        .await
        .refused(StatusCode::UNAUTHORIZED, "bad_credentials");
    let again = w.login("drnguyen", "nguyen-chose-this-one").await;
    assert_eq!(
        again.ok(StatusCode::OK)["session"]["must_change_password"],
        false
    );
}

#[tokio::test]
async fn a_new_members_temporary_password_expires_after_48_hours() {
    let w = World::new("temp-expiry");
    let a = w.a;
    let director = w.token("director").await;
    let added = w
        .post(
            &format!("/clinics/{a}/members"),
            &director,
            json!({"username": "moa.new", "display_name": "Nia Newton", "email": "nia@example.org", "role": "medical_office_assistant"}),
        )
        .await;
    let body = added.ok(StatusCode::CREATED);
    assert_eq!(body["state"], "approved");
    let temp = body["temporary_password"].as_str().unwrap().to_owned();
    let new_id = uuid(&body["user"]);
    // Shown once: the members list never repeats it.
    let members = w.get(&format!("/clinics/{a}/members"), &director).await;
    assert!(!String::from_utf8_lossy(&members.bytes).contains(&temp));

    // Approved is not yet active: no sign-in.
    w.login("moa.new", &temp)
        .await
        .refused(StatusCode::FORBIDDEN, "forbidden");
    w.post(
        &format!("/clinics/{a}/members/{new_id}/activate"),
        &director,
        json!({}),
    )
    .await
    .ok(StatusCode::OK);

    // Typed in lower case with spaces, as read over the phone.
    let typed = temp.to_lowercase().replace('-', " ");
    let login = w.login("moa.new", &typed).await;
    assert_eq!(
        login.ok(StatusCode::OK)["session"]["must_change_password"],
        true
    );
    let t = login.body["token"].as_str().unwrap().to_owned();
    w.get(&format!("/clinics/{a}/members"), &t)
        .await
        .refused(StatusCode::FORBIDDEN, "must_change_password");
    w.call(Method::DELETE, "/session", Some(&t), None)
        .await
        .ok(StatusCode::NO_CONTENT);

    w.clock.advance(Duration::hours(47) + Duration::minutes(59));
    w.login("moa.new", &temp).await.ok(StatusCode::OK);
    w.clock.advance(Duration::minutes(1));
    let late = w.login("moa.new", &temp).await;
    late.refused(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        late.body["message"].as_str().unwrap().contains("expired"),
        "{}",
        late.body
    );
    assert!(late.body.get("token").is_none());

    // A new temporary password from the account manager works again.
    let director = w.token("director").await;
    let reset = w
        .post(
            &format!("/clinics/{a}/members/{new_id}/password-reset"),
            &director,
            json!({}),
        )
        .await;
    let fresh = reset.ok(StatusCode::OK)["temporary_password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, temp);
    w.login("moa.new", &fresh).await.ok(StatusCode::OK);
}

#[tokio::test]
async fn an_idle_session_ends_after_30_minutes() {
    let w = World::new("idle");
    let t = w.token("drpatel").await;
    let clinic = format!("/clinics/{}", w.a);
    w.clock.advance(Duration::minutes(29));
    w.get(&clinic, &t).await.ok(StatusCode::OK);
    // Activity keeps it alive.
    w.clock.advance(Duration::minutes(29));
    w.get(&clinic, &t).await.ok(StatusCode::OK);
    w.clock.advance(Duration::minutes(31));
    w.get(&clinic, &t)
        .await
        .refused(StatusCode::UNAUTHORIZED, "unauthenticated");
    // An ended session stays ended even if the clock is read again later.
    w.get("/session", &t)
        .await
        .refused(StatusCode::UNAUTHORIZED, "unauthenticated");

    // However busy, a session does not outlive 12 hours.
    let t = w.token("drpatel").await;
    for _ in 0..28 {
        w.clock.advance(Duration::minutes(25));
        w.get(&clinic, &t).await.ok(StatusCode::OK);
    }
    w.clock.advance(Duration::minutes(25)); // 12 h 5 min after sign-in
    w.get(&clinic, &t)
        .await
        .refused(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_person_deactivated_at_their_only_clinic_cannot_sign_in() {
    let w = World::new("deactivated");
    let a = w.a;
    let director = w.token("director").await;
    let np = w.token("npsingh").await;
    let r = w
        .post(
            &format!("/clinics/{a}/members/{}/deactivate", w.id("npsingh")),
            &director,
            json!({}),
        )
        .await;
    assert_eq!(r.ok(StatusCode::OK)["state"], "deactivated");
    // Their open session ends at once.
    w.get("/session", &np)
        .await
        .refused(StatusCode::UNAUTHORIZED, "unauthenticated");
    let login = w.login("npsingh", "demo-npsingh-pw").await;
    login.refused(StatusCode::FORBIDDEN, "forbidden");
    assert!(login.body.get("token").is_none());
    assert!(login.headers.get(header::SET_COOKIE).is_none());

    // Reactivated, they can sign in again.
    w.post(
        &format!("/clinics/{a}/members/{}/activate", w.id("npsingh")),
        &director,
        json!({}),
    )
    .await
    .ok(StatusCode::OK);
    w.token("npsingh").await;
}

// ---------------------------------------------------------------------------
// Authorization: every route × every kind of caller, in one table
// ---------------------------------------------------------------------------

/// The kinds of caller the table asks about. The routes are all clinic A's (or the
/// session's), with Dr. Patel's panel as the panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// No session at all.
    Anon,
    /// A member of A signed in with a temporary password (`moa.temp`, added and activated).
    Temp,
    /// A's director, its primary account manager.
    Director,
    /// moa.chen: a medical office assistant, A's secondary account manager, endorsed by
    /// Dr. Patel.
    Chen,
    /// Dr. Patel: the provider whose panel the panel routes name (she also works at B).
    Patel,
    /// Dr. Nguyen: another physician of A.
    Nguyen,
    /// moa.roy: a medical office assistant Dr. Patel has not endorsed.
    Roy,
    /// B's director: an account manager, of another clinic.
    BDirector,
    /// Dr. Bravo: a physician, of another clinic.
    Bravo,
}

use Caller::*;

/// The table's columns, in order.
const CALLERS: [Caller; 9] = [
    Anon, Temp, Director, Chen, Patel, Nguyen, Roy, BDirector, Bravo,
];

impl Caller {
    fn username(self) -> Option<&'static str> {
        match self {
            Anon => None,
            Temp => Some("moa.temp"),
            Director => Some("director"),
            Chen => Some("moa.chen"),
            Patel => Some("drpatel"),
            Nguyen => Some("drnguyen"),
            Roy => Some("moa.roy"),
            BDirector => Some("bdirector"),
            Bravo => Some("drbravo"),
        }
    }
}

/// One request of a row, made for one caller.
struct Call {
    /// Under `/api/v1`.
    path: String,
    body: Option<Value>,
    /// A raw body with its content type, instead of JSON.
    raw: Option<(&'static str, Vec<u8>)>,
}

fn call(path: String) -> Call {
    Call {
        path,
        body: None,
        raw: None,
    }
}

fn call_with(path: String, body: Value) -> Call {
    Call {
        path,
        body: Some(body),
        raw: None,
    }
}

/// One operation of the OpenAPI document and what each caller gets, in `CALLERS` order.
struct Row {
    method: Method,
    /// The operation's path as the OpenAPI document spells it.
    path: &'static str,
    expect: [u16; 9],
    /// Builds the caller's request; a row whose success would change what later callers
    /// get (a removed entry, an approved request) gives each caller their own target.
    request: fn(&mut Table, Caller) -> Call,
}

/// The world the table runs in, and the targets its rows use.
struct Table {
    w: World,
    /// Session tokens by username; cleared when a row ends sessions.
    tokens: HashMap<String, String>,
    temp_password: String,
    /// Active entries of Dr. Patel's panel not yet used by a row that removes or moves one.
    patel_entries: Vec<Uuid>,
    /// The next spare patient to add.
    next_spare: usize,
    /// Makes usernames and names unique across the table.
    serial: u32,
    status: Uuid,
}

impl Table {
    async fn new() -> Self {
        let mut w = World::new("table");
        assert_eq!(
            w.synced_clinic().0.0,
            w.a,
            "the node syncs clinic A, so A's sync routes answer for it"
        );
        let temp = w.drbravo_temp.clone();
        w.choose_password("drbravo", &temp, "smithers-dr-bo-2026");
        let director = w.id("director");
        let (added, temp_password) = w
            .app()
            .add_member(
                director,
                w.a,
                "moa.temp",
                "Tess Temp",
                "tess@example.org",
                Role::MedicalOfficeAssistant,
            )
            .unwrap();
        w.app()
            .member_action(director, w.a, added.membership.user, MemberAction::Activate)
            .unwrap();
        w.ids.insert("moa.temp".to_owned(), added.membership.user);
        let status = w
            .app()
            .create_status(director, w.a, "Table status", "for the table's PATCH")
            .unwrap()
            .id
            .0;
        let mut t = Table {
            w,
            tokens: HashMap::new(),
            temp_password: temp_password.unwrap(),
            patel_entries: Vec::new(),
            next_spare: 0,
            serial: 0,
            status,
        };
        let patel = t.token(Patel).await.unwrap();
        let page =
            t.w.get(
                &format!("{}/panel?limit=100", t.w.panel(t.w.a, "drpatel")),
                &patel,
            )
            .await;
        t.patel_entries = page.ok(StatusCode::OK)["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| uuid(&r["id"]))
            .collect();
        t
    }

    /// The caller's session token (signing in once), or none for `Anon`.
    async fn token(&mut self, caller: Caller) -> Option<String> {
        let user = caller.username()?;
        if let Some(t) = self.tokens.get(user) {
            return Some(t.clone());
        }
        let token = if caller == Temp {
            let login = self.w.login(user, &self.temp_password).await;
            assert_eq!(
                login.ok(StatusCode::OK)["session"]["must_change_password"],
                true
            );
            login.body["token"].as_str().unwrap().to_owned()
        } else {
            self.w.token(user).await
        };
        self.tokens.insert(user.to_owned(), token.clone());
        Some(token)
    }

    fn a(&self) -> Uuid {
        self.w.a.0
    }

    fn id(&self, username: &str) -> Uuid {
        self.w.id(username).0
    }

    fn patel_panel(&self) -> String {
        self.w.panel(self.w.a, "drpatel")
    }

    /// An entry of Dr. Patel's panel no other caller's row has removed or moved.
    fn fresh_entry(&mut self) -> Uuid {
        self.patel_entries
            .pop()
            .expect("enough entries on Dr. Patel's panel")
    }

    /// The id of a record Dr. Patel enters by hand for the patient `entry`, just now.
    fn hand_record(&self, entry: Uuid) -> String {
        let p = self.w.id("drpatel");
        let form = attach::domain::clinical::followup::ManualRecord {
            kind: "observation".to_owned(),
            code: "loinc 4548-4".to_owned(),
            date: "2026-01-10".to_owned(),
            value: "6.9".to_owned(),
            unit: "%".to_owned(),
            ..Default::default()
        };
        self.w
            .app()
            .save_clinical_record(p, self.w.a, p, EntryId(entry), None, &form)
            .expect("entered")
            .source_id
    }

    /// A QI cycle Dr. Patel starts just now for the clinic, with a measure `m1` entered
    /// by hand and a change idea `c1`.
    fn qi_cycle(&self) -> Uuid {
        let (p, a) = (self.w.id("drpatel"), self.w.a);
        let app = self.w.app();
        let id = app
            .create_qi_cycle(
                p,
                a,
                &attach::app::CycleForm {
                    title: "Access".to_owned(),
                    improve: "days to the third next appointment".to_owned(),
                    by: "2027-06-30".to_owned(),
                    first_month: "2026-09".to_owned(),
                    ..Default::default()
                },
            )
            .expect("started");
        app.save_qi_measure(
            p,
            a,
            id,
            None,
            &attach::app::MeasureForm {
                name: "Days".to_owned(),
                kind: "outcome".to_owned(),
                direction: "down".to_owned(),
                definition: "manual".to_owned(),
                unit: "days".to_owned(),
                ..Default::default()
            },
        )
        .expect("measure");
        app.save_qi_change(
            p,
            a,
            id,
            None,
            &attach::app::ChangeForm {
                title: "Same-day slots".to_owned(),
                started: "2026-09-15".to_owned(),
                ..Default::default()
            },
        )
        .expect("change");
        id.0
    }

    fn fresh_name(&mut self, what: &str) -> String {
        self.serial += 1;
        format!("{what}.{}", self.serial)
    }

    fn fresh_spare(&mut self) -> Value {
        self.next_spare += 1;
        self.w.spare(self.next_spare)
    }

    /// A new active member of A (a medical office assistant) who never signs in.
    fn fresh_member(&mut self) -> Uuid {
        let name = self.fresh_name("moa.target");
        let director = self.w.id("director");
        let (m, _) = self
            .w
            .app()
            .add_member(
                director,
                self.w.a,
                &name,
                "Target",
                "",
                Role::MedicalOfficeAssistant,
            )
            .unwrap();
        let user = m.membership.user;
        self.w
            .app()
            .member_action(director, self.w.a, user, MemberAction::Activate)
            .unwrap();
        user.0
    }

    /// Someone new asking to join A (no account until then).
    fn fresh_request(&mut self) -> Uuid {
        let name = self.fresh_name("asking");
        let m = self
            .w
            .app()
            .request_membership(None, self.w.a, &name, "Asking", "", Role::OtherStaff)
            .unwrap();
        m.user.0
    }

    /// An active endorsement of a new member by Dr. Patel.
    fn fresh_delegation(&mut self) -> Uuid {
        let delegate = UserId(self.fresh_member());
        let patel = self.w.id("drpatel");
        let app = self.w.app();
        let d = app
            .start_delegation(patel, self.w.a, patel, delegate)
            .unwrap();
        app.delegation_action(delegate, self.w.a, d.id, DelegationAction::Confirm)
            .unwrap();
        d.id.0
    }

    /// Sends `call` for `caller` and reads the answer.
    async fn send(&mut self, method: &Method, call: Call, caller: Caller) -> Resp {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(v1(&call.path));
        if let Some(token) = self.token(caller).await {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = match (call.body, call.raw) {
            (_, Some((kind, bytes))) => req
                .header(header::CONTENT_TYPE, kind)
                .body(Body::from(bytes)),
            (Some(body), None) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap())),
            (None, None) => req.body(Body::empty()),
        };
        self.w.request(req.unwrap()).await
    }
}

fn prefs_body() -> Value {
    json!({"accepting_new_patients": true, "monthly_capacity": 9, "desired_panel_size": 1300, "max_open_requests": 5})
}

/// What each caller gets from each operation, as the code answers today. Columns:
/// anonymous, temporary password, A's director (primary manager), moa.chen (secondary
/// manager, Dr. Patel's delegate), Dr. Patel (the panel's provider), Dr. Nguyen (another
/// physician), moa.roy (not Dr. Patel's delegate), B's director, Dr. Bravo (B only).
fn rows() -> Vec<Row> {
    vec![
        // Sign-in needs no session: everyone signs in with their own password, and the
        // anonymous caller with a wrong one.
        Row {
            method: Method::POST,
            path: "/api/v1/session",
            //       anon temp dir  chen patel ngu  roy  bdir bravo
            expect: [401, 200, 200, 200, 200, 200, 200, 200, 200],
            request: |t, c| {
                let (user, password) = match c.username() {
                    None => ("nobody-at-all".to_owned(), "not-the-password".to_owned()),
                    Some(u) if c == Temp => (u.to_owned(), t.temp_password.clone()),
                    Some(u) => (u.to_owned(), t.w.passwords[u].clone()),
                };
                call_with(
                    "/session".to_owned(),
                    json!({"username": user, "password": password}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/session",
            expect: [401, 200, 200, 200, 200, 200, 200, 200, 200],
            request: |_, _| call("/session".to_owned()),
        },
        // A wrong current password: the caller got past authentication to validation.
        Row {
            method: Method::POST,
            path: "/api/v1/session/password",
            expect: [401, 422, 422, 422, 422, 422, 422, 422, 422],
            request: |_, _| {
                call_with(
                    "/session/password".to_owned(),
                    json!({"current_password": "WRONG-WRONG-WRONG", "new_password": "a-brand-new-password"}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}", t.a())),
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/profile",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/profile", t.a()),
                    json!({"name": "Bulkley Valley Family Practice", "facility_number": "V0J2N0"}),
                )
            },
        },
        // A new location is answered with 200, not 201.
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/locations",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| {
                let name = t.fresh_name("Annex");
                call_with(
                    format!("/clinics/{}/locations", t.a()),
                    json!({"name": name}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/members",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}/members", t.a())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/members",
            expect: [401, 403, 201, 201, 403, 403, 403, 404, 404],
            request: |t, _| {
                let name = t.fresh_name("added");
                call_with(
                    format!("/clinics/{}/members", t.a()),
                    json!({"username": name, "display_name": "Added", "role": "other_staff"}),
                )
            },
        },
        // Anyone may ask to join, with a new account or signed in; A's own members are
        // already there.
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/membership-requests",
            expect: [201, 403, 409, 409, 409, 409, 409, 201, 201],
            request: |t, c| {
                let body = if c == Anon {
                    let name = t.fresh_name("joiner");
                    json!({"username": name, "display_name": "Joiner", "role": "other_staff"})
                } else {
                    json!({"role": "other_staff"})
                };
                call_with(format!("/clinics/{}/membership-requests", t.a()), body)
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/members/{user}/{action}",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| {
                let user = t.fresh_request();
                call_with(
                    format!("/clinics/{}/members/{user}/approve", t.a()),
                    json!({}),
                )
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/members/{user}/password-reset",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| {
                let user = t.fresh_member();
                call_with(
                    format!("/clinics/{}/members/{user}/password-reset", t.a()),
                    json!({}),
                )
            },
        },
        // moa.roy's history: the account managers and moa.roy herself.
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/members/{user}/history",
            expect: [401, 403, 200, 200, 403, 403, 200, 404, 404],
            request: |t, _| {
                call(format!(
                    "/clinics/{}/members/{}/history",
                    t.a(),
                    t.id("moa.roy")
                ))
            },
        },
        // Handing over to the present primary (a conflict, after the check of who asks) and
        // naming the present secondary: nothing changes.
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/primary-manager",
            expect: [401, 403, 409, 403, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/primary-manager", t.a()),
                    json!({"user": t.id("director")}),
                )
            },
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/secondary-manager",
            expect: [401, 403, 200, 403, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/secondary-manager", t.a()),
                    json!({"user": t.id("moa.chen")}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/statuses",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}/statuses", t.a())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/statuses",
            expect: [401, 403, 201, 201, 403, 403, 403, 404, 404],
            request: |t, _| {
                let name = t.fresh_name("Status");
                call_with(
                    format!("/clinics/{}/statuses", t.a()),
                    json!({"name": name, "definition": "made by the table"}),
                )
            },
        },
        Row {
            method: Method::PATCH,
            path: "/api/v1/clinics/{clinic}/statuses/{status}",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/statuses/{}", t.a(), t.status),
                    json!({"definition": "changed by the table"}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/delegations",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}/delegations", t.a())),
        },
        // Dr. Patel endorsing a new member; only a side of the endorsement may start it.
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/delegations",
            expect: [401, 403, 403, 403, 201, 403, 403, 404, 404],
            request: |t, _| {
                let delegate = t.fresh_member();
                call_with(
                    format!("/clinics/{}/delegations", t.a()),
                    json!({"provider": t.id("drpatel"), "delegate": delegate}),
                )
            },
        },
        // Revoking an active endorsement of a new member by Dr. Patel: either side, or an
        // account manager (when staff leave).
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/delegations/{delegation}/{action}",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let d = t.fresh_delegation();
                call_with(
                    format!("/clinics/{}/delegations/{d}/revoke", t.a()),
                    json!({}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/conflicts",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/conflicts", t.a())),
        },
        // The node runs without sync: members are told so, after the checks of who asks.
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/sync",
            expect: [401, 403, 503, 503, 503, 503, 503, 404, 404],
            request: |t, _| call(format!("/clinics/{}/sync", t.a())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/sync/enrol",
            expect: [401, 403, 503, 503, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/sync/enrol", t.a()),
                    json!({"hub": "127.0.0.1:1", "code": well_formed_code()}),
                )
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/sync/retry",
            expect: [401, 403, 503, 503, 403, 403, 403, 404, 404],
            request: |t, _| call_with(format!("/clinics/{}/sync/retry", t.a()), json!({})),
        },
        // Dr. Patel's panel: she and the staff she endorsed change it; account managers
        // read it and may remove (a clash's way out) or move entries, but not add or edit.
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| call(format!("{}/panel", t.patel_panel())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel",
            expect: [401, 403, 403, 201, 201, 403, 403, 404, 404],
            request: |t, _| {
                let patient = t.fresh_spare();
                call_with(format!("{}/panel", t.patel_panel()), add_body(patient))
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let e = t.patel_entries[0];
                call(format!("{}/panel/{e}", t.patel_panel()))
            },
        },
        Row {
            method: Method::PATCH,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}",
            expect: [401, 403, 403, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let e = t.patel_entries[0];
                call_with(
                    format!("{}/panel/{e}", t.patel_panel()),
                    json!({"confirm_mrp": true}),
                )
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/removal",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let e = t.fresh_entry();
                call_with(
                    format!("{}/panel/{e}/removal", t.patel_panel()),
                    json!({"reason": "moved away"}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/history",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let e = t.patel_entries[0];
                call(format!("{}/panel/{e}/history", t.patel_panel()))
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/preferences",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| call(format!("{}/preferences", t.patel_panel())),
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/preferences",
            expect: [401, 403, 403, 200, 200, 403, 403, 404, 404],
            request: |t, _| call_with(format!("{}/preferences", t.patel_panel()), prefs_body()),
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/summary",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| call(format!("{}/summary", t.patel_panel())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/import",
            expect: [401, 403, 403, 200, 200, 403, 403, 404, 404],
            request: |t, _| Call {
                path: format!("{}/import", t.patel_panel()),
                body: None,
                raw: Some(("text/csv", fixture("panel_valid.csv"))),
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/export",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| call(format!("{}/export", t.patel_panel())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/transfers",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| {
                let e = t.fresh_entry();
                call_with(
                    format!("{}/transfers", t.patel_panel()),
                    json!({"to": t.id("drnguyen"), "entries": [e], "reason": "leaving"}),
                )
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/waitlist-returns",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let e = t.fresh_entry();
                call_with(
                    format!("{}/waitlist-returns", t.patel_panel()),
                    json!({"entries": [e], "reason": "moved to the next valley"}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/attachments",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| {
                call(format!(
                    "/clinics/{}/attachments?from=2026-11-01&to=2026-11-30",
                    t.a()
                ))
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/offers",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}/offers", t.a())),
        },
        // No hub has made offers to this clinic: a well-formed offer id that is not there
        // (who may decide a real offer is tested with the offers).
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/offers/{offer}/decision",
            expect: [401, 403, 404, 404, 404, 404, 404, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/offers/{}/decision", t.a(), Uuid::now_v7()),
                    json!({"decision": "accept"}),
                )
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/offers/{offer}/answers",
            expect: [401, 403, 404, 404, 404, 404, 404, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/offers/{}/answers", t.a(), Uuid::now_v7()),
                    json!({"person": Uuid::now_v7(), "confirmed": true}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/status-rules",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}/status-rules", t.a())),
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/status-rules",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/status-rules", t.a()),
                    json!({"inactive": {"definition": "Not seen for three years",
                        "rule": {"last_visit": {"kind": "not_seen_for", "months": 36}}}}),
                )
            },
        },
        // The clinic-wide counts: managers, and providers (their own panel); not staff who
        // manage no panel.
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/review/counts",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/review/counts", t.a())),
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/review",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                call(format!(
                    "/clinics/{}/review?provider={}&worklist=mrp-unconfirmed&min_age=18",
                    t.a(),
                    t.id("drpatel")
                ))
            },
        },
        // Changing entries is for the provider and endorsed staff, not account managers.
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/review/bulk",
            expect: [401, 403, 403, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let entry = *t.patel_entries.first().expect("an entry");
                call_with(
                    format!("/clinics/{}/review/bulk", t.a()),
                    json!({"action": "verify_contact",
                        "entries": [{"provider": t.id("drpatel"), "entry": entry}]}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/msp",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| call(format!("{}/msp", t.patel_panel())),
        },
        // MSP's files carry columns Attach does not use: the panel file reads as one.
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/msp",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| Call {
                path: format!("{}/msp", t.patel_panel()),
                body: None,
                raw: Some(("text/csv", fixture("panel_valid.csv"))),
            },
        },
        // After an upload, a line that is not open is a conflict for those who may decide.
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/msp/decisions",
            expect: [401, 403, 403, 409, 409, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("{}/msp/decisions", t.patel_panel()),
                    json!({"keys": ["only_msp:9000000000"], "decision": "dismiss"}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/review/tasks",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}/review/tasks", t.a())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/review/tasks",
            expect: [401, 403, 201, 201, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/review/tasks", t.a()),
                    json!({"title": "Quarterly inactive review", "provider": t.id("drpatel"),
                        "query": "worklist=suggested-status", "frequency": "months-3",
                        "owner": t.id("moa.chen"), "first_due": "2026-12-01"}),
                )
            },
        },
        // Marking done is for the owner (Grace Chen) and account managers.
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/review/tasks/{task}/completions",
            expect: [401, 403, 201, 201, 403, 403, 403, 404, 404],
            request: |t, _| {
                let task =
                    t.w.app()
                        .review_tasks(t.w.id("director"), t.w.a)
                        .unwrap()
                        .first()
                        .map(|v| v.task.id.0)
                        .expect("a task set up by the row before");
                call_with(
                    format!("/clinics/{}/review/tasks/{task}/completions", t.a()),
                    json!({"note": "done"}),
                )
            },
        },
        // No such bulk change: 404 for members who pass the clinic check.
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/review/bulk/{bulk}/undo",
            expect: [401, 403, 404, 404, 404, 404, 404, 404, 404],
            request: |t, _| {
                call(format!(
                    "/clinics/{}/review/bulk/{}/undo",
                    t.a(),
                    Uuid::now_v7()
                ))
            },
        },
        // The panel profile: whoever may see the panel.
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/profile",
            expect: [401, 403, 200, 200, 200, 403, 403, 404, 404],
            request: |t, _| call(format!("{}/profile", t.patel_panel())),
        },
        // Stating the appointments: the provider and endorsed staff.
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/supply",
            expect: [401, 403, 403, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("{}/supply", t.patel_panel()),
                    json!({"appointments_per_week": 80, "weeks_per_year": 46}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/visit-rates",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}/visit-rates", t.a())),
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/visit-rates",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/visit-rates", t.a()),
                    json!({"bands": [
                        {"min_age": 0, "max_age": 17, "female": 2.0, "male": 2.0, "other": 2.0},
                        {"min_age": 18, "female": 3.5, "male": 2.5, "other": 3.0}],
                        "source": "the clinic's billing, 2025"}),
                )
            },
        },
        Row {
            method: Method::DELETE,
            path: "/api/v1/clinics/{clinic}/visit-rates",
            expect: [401, 403, 200, 200, 403, 403, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/visit-rates", t.a())),
        },
        // Clinical data: importing it (managers, providers, endorsed staff), the clinic's
        // registries and recall list (the same people), one patient's records (the panel's
        // provider and the staff they endorsed).
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/clinical/import",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| Call {
                path: format!("/clinics/{}/clinical/import?format=csv", t.a()),
                body: None,
                raw: Some(("text/csv", fixture("clinical_valid.csv"))),
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/clinical",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/clinical", t.a())),
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/clinical/list",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/clinical/list?list=recalls", t.a())),
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical",
            expect: [401, 403, 403, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let entry = *t.patel_entries.first().expect("an entry");
                call(format!("{}/panel/{entry}/clinical", t.patel_panel()))
            },
        },
        // Working the clinical lists: the recall list and its CSV for whoever sees the
        // registries; recall changes, suggestions and records by hand for the panel's
        // provider and the staff they endorsed.
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/clinical/recalls",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| {
                call(format!(
                    "/clinics/{}/clinical/recalls?status=to_contact,contacted",
                    t.a()
                ))
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/clinical/recalls/export",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/clinical/recalls/export", t.a())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/clinical/recalls",
            expect: [401, 403, 403, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let entry = *t.patel_entries.first().expect("an entry");
                call_with(
                    format!("/clinics/{}/clinical/recalls", t.a()),
                    json!({"patients": [{"provider": t.id("drpatel"), "entry": entry}],
                        "change": {"action": "contacted", "how": "phone", "note": "left a message"}}),
                )
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/dismissals",
            expect: [401, 403, 403, 201, 201, 403, 403, 404, 404],
            request: |t, _| {
                let entry = *t.patel_entries.first().expect("an entry");
                call_with(
                    format!("{}/panel/{entry}/clinical/dismissals", t.patel_panel()),
                    json!({"registry": "diabetes", "rule": "two_hba1c",
                        "reason": "haemoglobinopathy: HbA1c unreliable"}),
                )
            },
        },
        // Each caller restores a dismissal made just before (as Dr. Patel).
        Row {
            method: Method::DELETE,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/dismissals/{registry}/{rule}",
            expect: [401, 403, 403, 204, 204, 403, 403, 404, 404],
            request: |t, _| {
                let entry = *t.patel_entries.first().expect("an entry");
                let p = t.w.id("drpatel");
                t.w.app()
                    .dismiss_suggestion(
                        p,
                        t.w.a,
                        p,
                        EntryId(entry),
                        "diabetes",
                        "two_hba1c",
                        "to restore",
                    )
                    .expect("dismissed");
                call(format!(
                    "{}/panel/{entry}/clinical/dismissals/diabetes/two_hba1c",
                    t.patel_panel()
                ))
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/coded",
            expect: [401, 403, 403, 201, 201, 403, 403, 404, 404],
            request: |t, _| {
                let entry = *t.patel_entries.first().expect("an entry");
                call_with(
                    format!("{}/panel/{entry}/clinical/coded", t.patel_panel()),
                    json!({"registry": "diabetes", "code": "icd9 250"}),
                )
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/records",
            expect: [401, 403, 403, 201, 201, 403, 403, 404, 404],
            request: |t, _| {
                let entry = *t.patel_entries.first().expect("an entry");
                call_with(
                    format!("{}/panel/{entry}/clinical/records", t.patel_panel()),
                    json!({"kind": "observation", "code": "loinc 4548-4", "display": "HbA1c",
                        "date": "2026-01-15", "value": "7.1", "unit": "%"}),
                )
            },
        },
        // Each caller corrects, then deletes, a record entered just before (as Dr. Patel).
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/records/{id}",
            expect: [401, 403, 403, 200, 200, 403, 403, 404, 404],
            request: |t, _| {
                let entry = *t.patel_entries.first().expect("an entry");
                let id = t.hand_record(entry);
                call_with(
                    format!("{}/panel/{entry}/clinical/records/{id}", t.patel_panel()),
                    json!({"kind": "observation", "code": "loinc 4548-4", "display": "HbA1c",
                        "date": "2026-01-15", "value": "7.3", "unit": "%"}),
                )
            },
        },
        Row {
            method: Method::DELETE,
            path: "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/clinical/records/{id}",
            expect: [401, 403, 403, 204, 204, 403, 403, 404, 404],
            request: |t, _| {
                let entry = *t.patel_entries.first().expect("an entry");
                let id = t.hand_record(entry);
                call(format!(
                    "{}/panel/{entry}/clinical/records/{id}",
                    t.patel_panel()
                ))
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/clinical/entered",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/clinical/entered", t.a())),
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/clinical/entered/export",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/clinical/entered/export", t.a())),
        },
        // QI cycles: for whoever sees the clinic's registries (managers, providers,
        // endorsed staff). Each write row works on a cycle made just before (as Dr. Patel).
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/qi",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/qi", t.a())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/qi",
            expect: [401, 403, 201, 201, 201, 201, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/qi", t.a()),
                    json!({"title": "Diabetes control", "improve": "HbA1c in target",
                        "by": "2027-06-30", "first_month": "2026-09", "registry": "diabetes"}),
                )
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/qi/{cycle}",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| {
                let c = t.qi_cycle();
                call(format!("/clinics/{}/qi/{c}", t.a()))
            },
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/qi/{cycle}",
            expect: [401, 403, 204, 204, 204, 204, 403, 404, 404],
            request: |t, _| {
                let c = t.qi_cycle();
                call_with(
                    format!("/clinics/{}/qi/{c}", t.a()),
                    json!({"title": "Diabetes control", "improve": "HbA1c in target",
                        "by": "2027-06-30", "first_month": "2026-09", "status": "closed",
                        "reflection": "Standing orders worked."}),
                )
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/qi/{cycle}/measures",
            expect: [401, 403, 201, 201, 201, 201, 403, 404, 404],
            request: |t, _| {
                let c = t.qi_cycle();
                call_with(
                    format!("/clinics/{}/qi/{c}/measures", t.a()),
                    json!({"name": "HbA1c tested", "kind": "process", "better": "up",
                        "definition": "gap_up_to_date:diabetes_hba1c"}),
                )
            },
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/qi/{cycle}/measures/{key}",
            expect: [401, 403, 204, 204, 204, 204, 403, 404, 404],
            request: |t, _| {
                let c = t.qi_cycle();
                call_with(
                    format!("/clinics/{}/qi/{c}/measures/m1", t.a()),
                    json!({"name": "Waiting days", "kind": "balancing", "better": "down",
                        "definition": "manual", "unit": "days", "baseline_points": 6}),
                )
            },
        },
        Row {
            method: Method::DELETE,
            path: "/api/v1/clinics/{clinic}/qi/{cycle}/measures/{key}",
            expect: [401, 403, 204, 204, 204, 204, 403, 404, 404],
            request: |t, _| {
                let c = t.qi_cycle();
                call(format!("/clinics/{}/qi/{c}/measures/m1", t.a()))
            },
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/qi/{cycle}/measures/{key}/export",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| {
                let c = t.qi_cycle();
                call(format!("/clinics/{}/qi/{c}/measures/m1/export", t.a()))
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/qi/{cycle}/points",
            expect: [401, 403, 200, 200, 200, 200, 403, 404, 404],
            request: |t, _| {
                let c = t.qi_cycle();
                call_with(
                    format!("/clinics/{}/qi/{c}/points", t.a()),
                    json!({"measure": "m1", "month": "2026-09", "value": 12.5}),
                )
            },
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/qi/{cycle}/changes",
            expect: [401, 403, 201, 201, 201, 201, 403, 404, 404],
            request: |t, _| {
                let c = t.qi_cycle();
                call_with(
                    format!("/clinics/{}/qi/{c}/changes", t.a()),
                    json!({"title": "Standing orders", "started": "2026-09-01",
                        "plan": "MOAs order HbA1c at check-in"}),
                )
            },
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/qi/{cycle}/changes/{key}",
            expect: [401, 403, 204, 204, 204, 204, 403, 404, 404],
            request: |t, _| {
                let c = t.qi_cycle();
                call_with(
                    format!("/clinics/{}/qi/{c}/changes/c1", t.a()),
                    json!({"title": "Standing orders", "started": "2026-09-01",
                        "study": "Testing rose from 60 % to 75 %", "act": "adopt"}),
                )
            },
        },
        // The coding protocol: any member reads it, account managers change it. Each change
        // is put back by the row after it.
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/coding",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}/coding", t.a())),
        },
        Row {
            method: Method::GET,
            path: "/api/v1/clinics/{clinic}/coding/history",
            expect: [401, 403, 200, 200, 200, 200, 200, 404, 404],
            request: |t, _| call(format!("/clinics/{}/coding/history", t.a())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/coding/registries",
            expect: [401, 403, 201, 201, 403, 403, 403, 404, 404],
            request: |t, _| {
                let name = t.fresh_name("Registry");
                call_with(
                    format!("/clinics/{}/coding/registries", t.a()),
                    json!({"name": name, "codes": ["icd9 338*", "icd10ca G89*"]}),
                )
            },
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/coding/registries/{key}",
            expect: [401, 403, 204, 204, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/coding/registries/copd", t.a()),
                    json!({"name": "COPD", "codes": ["icd9 496*", "icd10ca J44*"], "in_use": true}),
                )
            },
        },
        Row {
            method: Method::DELETE,
            path: "/api/v1/clinics/{clinic}/coding/registries/{key}",
            expect: [401, 403, 204, 204, 403, 403, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/coding/registries/copd", t.a())),
        },
        Row {
            method: Method::POST,
            path: "/api/v1/clinics/{clinic}/coding/gaps",
            expect: [401, 403, 201, 201, 403, 403, 403, 404, 404],
            request: |t, _| {
                let name = t.fresh_name("Weight yearly");
                call_with(
                    format!("/clinics/{}/coding/gaps", t.a()),
                    json!({"name": name, "registry": "diabetes", "concept": "bmi",
                        "every_months": 12}),
                )
            },
        },
        Row {
            method: Method::PUT,
            path: "/api/v1/clinics/{clinic}/coding/gaps/{key}",
            expect: [401, 403, 204, 204, 403, 403, 403, 404, 404],
            request: |t, _| {
                call_with(
                    format!("/clinics/{}/coding/gaps/diabetes_hba1c", t.a()),
                    json!({"name": "Diabetes: HbA1c", "registry": "diabetes", "concept": "hba1c",
                        "every_months": 3, "target": {"comparison": "at_most", "value": 7.5}}),
                )
            },
        },
        Row {
            method: Method::DELETE,
            path: "/api/v1/clinics/{clinic}/coding/gaps/{key}",
            expect: [401, 403, 204, 204, 403, 403, 403, 404, 404],
            request: |t, _| call(format!("/clinics/{}/coding/gaps/diabetes_hba1c", t.a())),
        },
        // Last: signing out ends each caller's session (the runner signs in again after).
        Row {
            method: Method::DELETE,
            path: "/api/v1/session",
            expect: [401, 204, 204, 204, 204, 204, 204, 204, 204],
            request: |_, _| call("/session".to_owned()),
        },
    ]
}

/// The stable error code a refusal with `status` carries for `caller`.
fn refusal_code(status: u16, caller: Caller, row: &Row) -> Option<&'static str> {
    match status {
        401 if row.method == Method::POST && row.path == "/api/v1/session" => {
            Some("bad_credentials")
        }
        401 => Some("unauthenticated"),
        403 if caller == Temp => Some("must_change_password"),
        403 => Some("forbidden"),
        404 => Some("not_found"),
        _ => None,
    }
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_as_the_table_says() {
    let mut t = Table::new().await;
    let rows = rows();

    // Every operation of the OpenAPI document has its row, and every row is an operation.
    let spec = openapi(&t.w).await;
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let tabled: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(tabled.len(), rows.len(), "an operation has two rows");
    let missing: Vec<_> = documented.difference(&tabled).collect();
    assert!(
        missing.is_empty(),
        "operations without a row in the authorization table (add them): {missing:#?}"
    );
    let stale: Vec<_> = tabled.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "rows for operations that do not exist: {stale:#?}"
    );

    let mut wrong = Vec::new();
    for row in &rows {
        for (caller, &expect) in CALLERS.iter().zip(&row.expect) {
            let call = (row.request)(&mut t, *caller);
            let shown = format!("{} {} as {caller:?}", row.method, call.path);
            let r = t.send(&row.method, call, *caller).await;
            if r.status.as_u16() != expect {
                wrong.push(format!(
                    "{shown}: expected {expect}, got {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.bytes)
                ));
            } else if let Some(code) = refusal_code(expect, *caller, row)
                && r.code() != code
            {
                wrong.push(format!("{shown}: expected code {code}, got {}", r.body));
            }
        }
        if row.method == Method::DELETE && row.path == "/api/v1/session" {
            t.tokens.clear();
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} answers differ from the table:\n{}",
        wrong.len(),
        rows.len() * CALLERS.len(),
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------
// 2. Authorization across clinics
// ---------------------------------------------------------------------------

/// Everything of clinic B that anyone could change, as B's director reads it.
async fn clinic_b_state(w: &World, bdirector: &str) -> Vec<Value> {
    let b = w.b;
    let mut out = Vec::new();
    for path in [
        format!("/clinics/{b}"),
        format!("/clinics/{b}/members"),
        format!("/clinics/{b}/statuses"),
        format!("/clinics/{b}/delegations"),
        format!("{}/preferences", w.panel(b, "drbravo")),
    ] {
        out.push(w.get(&path, bdirector).await.ok(StatusCode::OK).clone());
    }
    let (summary, page) = w.panel_state(bdirector, b, "drbravo").await;
    out.push(summary);
    out.push(page);
    out
}

#[tokio::test]
async fn staff_of_one_clinic_see_and_change_nothing_of_another() {
    let w = World::new("cross-clinic");
    let (a, b) = (w.a, w.b);
    let bdirector = w.token("bdirector").await;
    let before = clinic_b_state(&w, &bdirector).await;
    let bravo_panel = w.panel(b, "drbravo");
    let entry = w.b_entries[0];
    let bravo = w.id("drbravo");

    let profile = json!({"name": "Taken Over", "facility_number": "V0J2N5"});
    let prefs = json!({"accepting_new_patients": false, "monthly_capacity": 0, "desired_panel_size": 1, "max_open_requests": 0});
    for user in ["director", "drnguyen", "moa.chen"] {
        let t = w.token(user).await;
        // Every route of another clinic answers 404 (the table asks B's people about A's);
        // the FHIR export too.
        let reads = [format!("{bravo_panel}/export?format=fhir")];
        for path in &reads {
            let r = w.get(path, &t).await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{user} GET {path}: {}",
                r.body
            );
            r.refused(StatusCode::NOT_FOUND, "not_found");
        }
        let writes = [
            w.put(&format!("/clinics/{b}/profile"), &t, profile.clone()).await,
            w.post(&format!("/clinics/{b}/locations"), &t, json!({"name": "Annex"})).await,
            w.post(
                &format!("/clinics/{b}/members"),
                &t,
                json!({"username": format!("{user}-mole"), "display_name": "Mole", "role": "other_staff"}),
            )
            .await,
            w.post(&format!("/clinics/{b}/statuses"), &t, json!({"name": "Gone", "definition": "x"})).await,
            w.put(&format!("/clinics/{b}/secondary-manager"), &t, json!({"user": w.id(user)})).await,
            w.put(&format!("/clinics/{b}/primary-manager"), &t, json!({"user": w.id(user)})).await,
            w.post(
                &format!("/clinics/{b}/delegations"),
                &t,
                json!({"provider": bravo, "delegate": w.id(user)}),
            )
            .await,
            w.post(&format!("{bravo_panel}/panel"), &t, add_body(w.spare(0))).await,
            w.patch(
                &format!("{bravo_panel}/panel/{entry}"),
                &t,
                json!({"status": {"kind": "inactive"}}),
            )
            .await,
            w.post(&format!("{bravo_panel}/panel/{entry}/removal"), &t, json!({"reason": "moved"})).await,
            w.put(&format!("{bravo_panel}/preferences"), &t, prefs.clone()).await,
            w.post_raw(&format!("{bravo_panel}/import"), &t, Some("text/csv"), fixture("panel_valid.csv"))
                .await,
        ];
        for r in writes {
            r.refused(StatusCode::NOT_FOUND, "not_found");
        }
    }
    // A clinic that does not exist answers exactly like one the caller does not belong to.
    let director = w.token("director").await;
    let missing = w
        .get(&format!("/clinics/{}", Uuid::now_v7()), &director)
        .await;
    let foreign = w.get(&format!("/clinics/{b}"), &director).await;
    assert_eq!(missing.body, foreign.body);
    // Nor does clinic A leak into B's numbers: A's director still sees A.
    w.get(&format!("/clinics/{a}"), &director)
        .await
        .ok(StatusCode::OK);
    // Dr. Patel works at both and sees B (so the 404s above are about membership).
    let patel = w.token("drpatel").await;
    w.get(&format!("/clinics/{b}"), &patel)
        .await
        .ok(StatusCode::OK);

    // Her panel at B is hers alone to see: not under A's URL, not by A's managers, not in
    // A's export, even though the same person keeps a panel at A.
    let at_b = w
        .post(
            &format!("{}/panel", w.panel(b, "drpatel")),
            &patel,
            add_body(w.spare(1)),
        )
        .await;
    let b_entry = uuid(&at_b.ok(StatusCode::CREATED)["id"]);
    let phn = w.spare(1)["phn"].as_str().unwrap().to_owned();
    let a_panel = w.panel(a, "drpatel");
    for t in [&patel, &director] {
        w.get(&format!("{a_panel}/panel/{b_entry}"), t)
            .await
            .refused(StatusCode::NOT_FOUND, "not_found");
        let search = w
            .get(&format!("{a_panel}/panel?q={phn}&include_removed=true"), t)
            .await;
        assert_eq!(search.ok(StatusCode::OK)["total"], 0);
        let export = w.get(&format!("{a_panel}/export"), t).await;
        export.ok(StatusCode::OK);
        assert!(!String::from_utf8_lossy(&export.bytes).contains(&phn));
    }
    w.patch(
        &format!("{a_panel}/panel/{b_entry}"),
        &patel,
        json!({"confirm_mrp": true}),
    )
    .await
    .refused(StatusCode::NOT_FOUND, "not_found");
    w.post(
        &format!("{a_panel}/panel/{b_entry}/removal"),
        &director,
        json!({"reason": "x"}),
    )
    .await
    .refused(StatusCode::NOT_FOUND, "not_found");
    let entry = w
        .get(
            &format!("{}/panel/{b_entry}", w.panel(b, "drpatel")),
            &patel,
        )
        .await;
    assert_eq!(entry.ok(StatusCode::OK)["removed_at"], Value::Null);
    assert_eq!(entry.body["mrp_confirmed_at"], Value::Null);

    assert_eq!(
        clinic_b_state(&w, &bdirector).await,
        before,
        "clinic B is unchanged"
    );
}

#[tokio::test]
async fn a_manager_cannot_reset_or_deactivate_a_member_of_another_clinic() {
    let w = World::new("cross-manager");
    let (a, b) = (w.a, w.b);
    let bdirector = w.token("bdirector").await;
    let before = clinic_b_state(&w, &bdirector).await;
    let bravo = w.id("drbravo");
    let bdir = w.id("bdirector");
    for manager in ["director", "moa.chen"] {
        let t = w.token(manager).await;
        for target in [bravo, bdir] {
            // Under B's URL: B does not exist for them.
            w.post(
                &format!("/clinics/{b}/members/{target}/password-reset"),
                &t,
                json!({}),
            )
            .await
            .refused(StatusCode::NOT_FOUND, "not_found");
            // B's member passed under A's URL: not a member here.
            w.post(
                &format!("/clinics/{a}/members/{target}/password-reset"),
                &t,
                json!({}),
            )
            .await
            .refused(StatusCode::FORBIDDEN, "forbidden");
            for action in ["deactivate", "activate", "approve", "decline"] {
                w.post(
                    &format!("/clinics/{b}/members/{target}/{action}"),
                    &t,
                    json!({}),
                )
                .await
                .refused(StatusCode::NOT_FOUND, "not_found");
                w.post(
                    &format!("/clinics/{a}/members/{target}/{action}"),
                    &t,
                    json!({}),
                )
                .await
                .refused(StatusCode::NOT_FOUND, "not_found");
            }
        }
    }
    assert_eq!(
        clinic_b_state(&w, &bdirector).await,
        before,
        "clinic B is unchanged"
    );
    // No password was reset: B's director's session lives on and Dr. Bravo's first
    // temporary password still works.
    w.get("/session", &bdirector).await.ok(StatusCode::OK);
    let login = w.login("drbravo", &w.drbravo_temp).await;
    assert_eq!(
        login.ok(StatusCode::OK)["session"]["must_change_password"],
        true
    );
}

/// A reset password is a way into every clinic the person belongs to, so a manager of one
/// clinic must not be able to reset the password of someone who also belongs to a clinic
/// they do not manage, whether that person legitimately works at both or was just added.
#[tokio::test]
async fn a_manager_cannot_reset_the_password_of_someone_who_also_belongs_elsewhere() {
    let w = World::new("cross-reset");
    let a = w.a;
    let director = w.token("director").await;
    let bdirector = w.token("bdirector").await;
    let patel = w.token("drpatel").await;
    let before = clinic_b_state(&w, &bdirector).await;

    // Dr. Patel works at A and at B: A's director must not hand out a password that opens
    // her panel at B.
    let r = w
        .post(
            &format!("/clinics/{a}/members/{}/password-reset", w.id("drpatel")),
            &director,
            json!({}),
        )
        .await;
    assert_ne!(
        r.status,
        StatusCode::OK,
        "A's director got Dr. Patel's password: {}",
        r.body
    );
    r.refused(StatusCode::FORBIDDEN, "forbidden");
    w.get("/session", &patel).await.ok(StatusCode::OK);

    // B's director, added to A by A's director without being asked, is no easier a target.
    w.post(
        &format!("/clinics/{a}/members"),
        &director,
        json!({"username": "bdirector", "role": "other_staff"}),
    )
    .await;
    let r = w
        .post(
            &format!("/clinics/{a}/members/{}/password-reset", w.id("bdirector")),
            &director,
            json!({}),
        )
        .await;
    assert_ne!(
        r.status,
        StatusCode::OK,
        "A's director got B's director's password: {}",
        r.body
    );
    assert!(r.status.is_client_error(), "{}", r.status);

    // Both still sign in with their own passwords, and clinic B is untouched.
    w.get("/session", &bdirector).await.ok(StatusCode::OK);
    w.token("drpatel").await;
    assert_eq!(
        clinic_b_state(&w, &w.token("bdirector").await).await,
        before
    );
}

#[tokio::test]
async fn deactivating_a_person_at_one_clinic_leaves_their_other_clinic_alone() {
    let w = World::new("per-clinic");
    let (a, b) = (w.a, w.b);
    let director = w.token("director").await;
    let bdirector = w.token("bdirector").await;
    let patel = w.token("drpatel").await;
    let patel_id = w.id("drpatel").0;
    w.post(
        &format!("{}/panel", w.panel(b, "drpatel")),
        &patel,
        add_body(w.spare(0)),
    )
    .await
    .ok(StatusCode::CREATED);

    w.post(
        &format!("/clinics/{a}/members/{patel_id}/deactivate"),
        &director,
        json!({}),
    )
    .await
    .ok(StatusCode::OK);

    // Still active at B: the session survives and B works; A is gone for them.
    let me = w.get("/session", &patel).await;
    let states: HashMap<Uuid, String> = me.ok(StatusCode::OK)["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (uuid(&m["clinic"]), m["state"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(states[&a.0], "deactivated");
    assert_eq!(states[&b.0], "active");
    w.get(&format!("/clinics/{b}"), &patel)
        .await
        .ok(StatusCode::OK);
    assert_eq!(w.panel_size(&patel, b, "drpatel").await, 1);
    w.get(&format!("/clinics/{a}"), &patel)
        .await
        .refused(StatusCode::NOT_FOUND, "not_found");
    w.get(&format!("{}/panel", w.panel(a, "drpatel")), &patel)
        .await
        .refused(StatusCode::NOT_FOUND, "not_found");
    let b_members = w.get(&format!("/clinics/{b}/members"), &bdirector).await;
    let at_b = b_members
        .ok(StatusCode::OK)
        .as_array()
        .unwrap()
        .iter()
        .find(|m| uuid(&m["user"]) == patel_id)
        .unwrap()
        .clone();
    assert_eq!(at_b["state"], "active");
    // They can still sign in, for B.
    w.token("drpatel").await;

    // Deactivated at B too: no clinic left, so the sessions end and sign-in is refused.
    w.post(
        &format!("/clinics/{b}/members/{patel_id}/deactivate"),
        &bdirector,
        json!({}),
    )
    .await
    .ok(StatusCode::OK);
    w.get("/session", &patel)
        .await
        .refused(StatusCode::UNAUTHORIZED, "unauthenticated");
    w.login("drpatel", "demo-drpatel-pw")
        .await
        .refused(StatusCode::FORBIDDEN, "forbidden");
}

// ---------------------------------------------------------------------------
// 3. Authorization across roles
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_moa_manages_only_the_panels_of_providers_who_endorsed_them() {
    let w = World::new("endorse");
    let a = w.a;
    let roy = w.token("moa.roy").await;
    let nguyen = w.token("drnguyen").await;
    let patel = w.token("drpatel").await;
    let nguyen_panel = w.panel(a, "drnguyen");
    let nguyen_before = w.panel_state(&nguyen, a, "drnguyen").await;
    let patel_before = w.panel_state(&patel, a, "drpatel").await;
    let some_entry = uuid(&nguyen_before.1["rows"][0]["id"]);

    // The endorsement from Dr. Nguyen is still pending: no access.
    let denied = |r: Resp| r.refused(StatusCode::FORBIDDEN, "forbidden");
    denied(w.get(&format!("{nguyen_panel}/panel"), &roy).await);
    denied(w.get(&format!("{nguyen_panel}/summary"), &roy).await);
    denied(
        w.get(&format!("{nguyen_panel}/panel/{some_entry}"), &roy)
            .await,
    );
    denied(
        w.post(&format!("{nguyen_panel}/panel"), &roy, add_body(w.spare(0)))
            .await,
    );
    denied(
        w.patch(
            &format!("{nguyen_panel}/panel/{some_entry}"),
            &roy,
            json!({"confirm_mrp": true}),
        )
        .await,
    );
    denied(
        w.post(
            &format!("{nguyen_panel}/panel/{some_entry}/removal"),
            &roy,
            json!({"reason": "x"}),
        )
        .await,
    );
    assert_eq!(w.panel_state(&nguyen, a, "drnguyen").await, nguyen_before);

    // Dr. Nguyen started it; moa.roy confirms it.
    let list = w.get(&format!("/clinics/{a}/delegations"), &roy).await;
    let pending = list
        .ok(StatusCode::OK)
        .as_array()
        .unwrap()
        .iter()
        .find(|d| uuid(&d["delegate"]) == w.id("moa.roy").0)
        .unwrap()
        .clone();
    assert_eq!(pending["state"], "pending");
    assert_eq!(uuid(&pending["provider"]), w.id("drnguyen").0);
    let delegation = uuid(&pending["id"]);
    // The side that started it cannot confirm it.
    denied(
        w.post(
            &format!("/clinics/{a}/delegations/{delegation}/confirm"),
            &nguyen,
            json!({}),
        )
        .await,
    );
    let confirmed = w
        .post(
            &format!("/clinics/{a}/delegations/{delegation}/confirm"),
            &roy,
            json!({}),
        )
        .await;
    assert_eq!(confirmed.ok(StatusCode::OK)["state"], "active");

    // Now add, edit and remove on Dr. Nguyen's panel work...
    let size = w.panel_size(&nguyen, a, "drnguyen").await;
    let added = w
        .post(&format!("{nguyen_panel}/panel"), &roy, add_body(w.spare(0)))
        .await;
    let added = added.ok(StatusCode::CREATED);
    assert_eq!(uuid(&added["added_by"]), w.id("moa.roy").0);
    let entry = uuid(&added["id"]);
    let edited = w
        .patch(
            &format!("{nguyen_panel}/panel/{entry}"),
            &roy,
            json!({"status": {"kind": "inactive"}, "confirm_mrp": true}),
        )
        .await;
    assert_eq!(edited.ok(StatusCode::OK)["status"]["kind"], "inactive");
    assert_eq!(uuid(&edited.body["mrp_confirmed_by"]), w.id("moa.roy").0);
    assert_eq!(w.panel_size(&nguyen, a, "drnguyen").await, size + 1);
    let removed = w
        .post(
            &format!("{nguyen_panel}/panel/{entry}/removal"),
            &roy,
            json!({"reason": "moved to Terrace"}),
        )
        .await;
    assert_eq!(
        removed.ok(StatusCode::OK)["removed_reason"],
        "moved to Terrace"
    );
    assert_eq!(w.panel_size(&nguyen, a, "drnguyen").await, size);

    // ...and none of it touched Dr. Patel's, who has not endorsed moa.roy (what moa.roy may
    // call on her panel is in the table).
    assert_eq!(w.panel_state(&patel, a, "drpatel").await, patel_before);

    // Revoked by the provider: access ends at once.
    let revoked = w
        .post(
            &format!("/clinics/{a}/delegations/{delegation}/revoke"),
            &nguyen,
            json!({}),
        )
        .await;
    assert_eq!(revoked.ok(StatusCode::OK)["state"], "revoked");
    let after_revoke = w.panel_state(&nguyen, a, "drnguyen").await;
    denied(w.get(&format!("{nguyen_panel}/panel"), &roy).await);
    denied(
        w.post(&format!("{nguyen_panel}/panel"), &roy, add_body(w.spare(2)))
            .await,
    );
    denied(
        w.patch(
            &format!("{nguyen_panel}/panel/{some_entry}"),
            &roy,
            json!({"confirm_mrp": true}),
        )
        .await,
    );
    assert_eq!(w.panel_state(&nguyen, a, "drnguyen").await, after_revoke);
}

#[tokio::test]
async fn only_account_managers_manage_members_and_only_the_primary_hands_over() {
    let w = World::new("roles");
    let a = w.a;
    let director = w.token("director").await;
    let chen = w.token("moa.chen").await; // the secondary account manager
    let patel = w.token("drpatel").await;
    let members = format!("/clinics/{a}/members");
    let clinic = format!("/clinics/{a}");
    let members_before = w.get(&members, &director).await.ok(StatusCode::OK).clone();

    // Someone new asks to join (no account yet).
    let asked = w
        .call(
            Method::POST,
            &format!("/clinics/{a}/membership-requests"),
            None,
            Some(json!({"username": "moa.kim", "display_name": "Jun Kim", "email": "jun@example.org", "role": "medical_office_assistant"})),
        )
        .await;
    assert_eq!(asked.ok(StatusCode::CREATED)["state"], "requested");
    let kim = uuid(&asked.body["user"]);
    let state_of = |list: &Value, user: Uuid| -> String {
        list.as_array()
            .unwrap()
            .iter()
            .find(|m| uuid(&m["user"]) == user)
            .map(|m| m["state"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    // A physician is not an account manager: no approving, declining, or adding a director.
    let denied = |r: Resp| r.refused(StatusCode::FORBIDDEN, "forbidden");
    denied(
        w.post(&format!("{members}/{kim}/approve"), &patel, json!({}))
            .await,
    );
    denied(
        w.post(&format!("{members}/{kim}/decline"), &patel, json!({}))
            .await,
    );
    denied(
        w.post(
            &members,
            &patel,
            json!({"username": "sneaky", "display_name": "S", "role": "director"}),
        )
        .await,
    );
    // (The other routes a physician may not call are in the table.)
    let list = w.get(&members, &director).await.ok(StatusCode::OK).clone();
    assert_eq!(state_of(&list, kim), "requested");
    assert_eq!(
        list.as_array().unwrap().len(),
        members_before.as_array().unwrap().len() + 1
    );

    // The secondary approves (a first temporary password comes with it) and activates.
    let approved = w
        .post(&format!("{members}/{kim}/approve"), &chen, json!({}))
        .await;
    assert_eq!(approved.ok(StatusCode::OK)["state"], "approved");
    assert!(
        approved.body["temporary_password"]
            .as_str()
            .is_some_and(|p| p.len() >= 16)
    );
    // Approving twice is a conflict, not a second password.
    let again = w
        .post(&format!("{members}/{kim}/approve"), &chen, json!({}))
        .await;
    again.refused(StatusCode::CONFLICT, "conflict");
    let active = w
        .post(&format!("{members}/{kim}/activate"), &chen, json!({}))
        .await;
    assert_eq!(active.ok(StatusCode::OK)["state"], "active");
    // ...and deactivates someone.
    let off = w
        .post(
            &format!("{members}/{}/deactivate", w.id("moa.roy")),
            &chen,
            json!({}),
        )
        .await;
    assert_eq!(off.ok(StatusCode::OK)["state"], "deactivated");

    // Only the primary hands over or assigns the secondary (the secondary's refusals are in
    // the table): after all the above, both are unchanged.
    let primary_of = |c: &Value| uuid(&c["primary_manager"]);
    let c = w.get(&clinic, &director).await.ok(StatusCode::OK).clone();
    assert_eq!(primary_of(&c), w.id("director").0);
    assert_eq!(uuid(&c["secondary_manager"]), w.id("moa.chen").0);

    // The primary cannot be deactivated, by the secondary or by themself.
    let director_id = w.id("director").0;
    w.post(
        &format!("{members}/{director_id}/deactivate"),
        &chen,
        json!({}),
    )
    .await
    .refused(StatusCode::CONFLICT, "conflict");
    w.post(
        &format!("{members}/{director_id}/deactivate"),
        &director,
        json!({}),
    )
    .await
    .refused(StatusCode::CONFLICT, "conflict");
    let list = w.get(&members, &director).await.ok(StatusCode::OK).clone();
    assert_eq!(state_of(&list, director_id), "active");

    // Handing over to someone who is not active is refused and changes nothing.
    w.put(
        &format!("{clinic}/primary-manager"),
        &director,
        json!({"user": w.id("moa.roy")}),
    )
    .await
    .refused(StatusCode::CONFLICT, "conflict");
    assert_eq!(
        primary_of(w.get(&clinic, &director).await.ok(StatusCode::OK)),
        director_id
    );

    // The primary hands over to Dr. MacDonald; the former primary loses the powers.
    let handed = w
        .put(
            &format!("{clinic}/primary-manager"),
            &director,
            json!({"user": w.id("drmacdonald")}),
        )
        .await;
    assert_eq!(primary_of(handed.ok(StatusCode::OK)), w.id("drmacdonald").0);
    denied(
        w.put(
            &format!("{clinic}/secondary-manager"),
            &director,
            json!({"user": null}),
        )
        .await,
    );
    denied(
        w.post(&format!("{members}/{kim}/deactivate"), &director, json!({}))
            .await,
    );
    // The new primary can now deactivate the former one.
    let mac = w.token("drmacdonald").await;
    let off = w
        .post(
            &format!("{members}/{director_id}/deactivate"),
            &mac,
            json!({}),
        )
        .await;
    assert_eq!(off.ok(StatusCode::OK)["state"], "deactivated");
}

// ---------------------------------------------------------------------------
// 4. Bad input
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_request_bodies_get_a_stable_code_and_store_nothing() {
    let w = World::new("bad-bodies");
    let a = w.a;
    let t = w.token("drpatel").await;
    let panel = w.panel(a, "drpatel");
    let add = format!("{panel}/panel");
    let before = w.panel_state(&t, a, "drpatel").await;
    let prefs_before = w
        .get(&format!("{panel}/preferences"), &t)
        .await
        .ok(StatusCode::OK)
        .clone();

    // An invalid PHN check digit: 422, and the problem names the field.
    let mut p = w.spare(0);
    p["phn"] = json!(wrong_check_digit(p["phn"].as_str().unwrap()));
    let r = w.post(&add, &t, add_body(p)).await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.body["errors"][0]["field"], "phn");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("check digit")
    );

    // Several bad fields: one problem each.
    let mut p = w.spare(0);
    p["date_of_birth"] = json!("31/12/1980");
    p["sex"] = json!("woman");
    p["family_name"] = json!("");
    let r = w.post(&add, &t, add_body(p)).await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let fields: BTreeSet<String> = r.problems().into_iter().map(|(_, f)| f).collect();
    assert_eq!(
        fields,
        ["date_of_birth", "family_name", "sex"]
            .map(str::to_owned)
            .into()
    );

    // A status that does not exist.
    let r = w
        .post(
            &add,
            &t,
            json!({"patient": w.spare(0), "status": {"kind": "sometimes"}}),
        )
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), vec![(None, "status.kind".to_owned())]);
    let r = w
        .post(
            &add,
            &t,
            json!({"patient": w.spare(0), "status": {"kind": "custom", "id": Uuid::now_v7()}}),
        )
        .await;
    assert!(
        r.status.is_client_error(),
        "unknown custom status: {}",
        r.status
    );

    // Malformed JSON.
    let r = w
        .post_raw(
            &add,
            &t,
            Some("application/json"),
            br#"{"patient": {"phn": "9"#.to_vec(),
        )
        .await;
    r.refused(StatusCode::BAD_REQUEST, "malformed_json");

    // Wrong types.
    let prefs = format!("{panel}/preferences");
    for bad in [
        json!({"accepting_new_patients": true, "monthly_capacity": 10, "desired_panel_size": "big", "max_open_requests": 5}),
        json!({"accepting_new_patients": true, "monthly_capacity": -1, "desired_panel_size": 900, "max_open_requests": 5}),
        json!({"accepting_new_patients": "yes", "monthly_capacity": 10, "desired_panel_size": 900, "max_open_requests": 5}),
        json!({"accepting_new_patients": true, "monthly_capacity": 10, "max_open_requests": 5}),
        json!([1, 2, 3]),
    ] {
        w.put(&prefs, &t, bad)
            .await
            .refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    }
    // Well-typed but out of range is a validation problem on the field.
    let r = w
        .put(
            &prefs,
            &t,
            json!({"accepting_new_patients": true, "monthly_capacity": 10, "desired_panel_size": 0, "max_open_requests": 5}),
        )
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), vec![(None, "desired_panel_size".to_owned())]);

    // Unknown fields, at the top and inside.
    let r = w
        .post(&add, &t, json!({"patient": w.spare(0), "priority": "high"}))
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert!(r.body["message"].as_str().unwrap().contains("priority"));
    let mut p = w.spare(0);
    p["health_card_colour"] = json!("blue");
    w.post(&add, &t, add_body(p))
        .await
        .refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    w.call(
        Method::POST,
        "/session",
        None,
        Some(json!({"username": "drpatel", "password": "demo-drpatel-pw", "remember_me": true})),
    )
    .await
    .refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");

    // A JSON body without a content type.
    let good = serde_json::to_vec(&add_body(w.spare(0))).unwrap();
    w.post_raw(&add, &t, None, good.clone())
        .await
        .refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    w.post_raw(&add, &t, Some("text/plain"), good)
        .await
        .refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    // A body over the limit: 100 KiB against 64 KiB.
    let mut p = w.spare(0);
    p["community"] = json!("x".repeat(100 * 1024));
    let big = serde_json::to_vec(&add_body(p)).unwrap();
    assert!(big.len() > MAX_BODY);
    w.post_raw(&add, &t, Some("application/json"), big)
        .await
        .refused(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");

    // Changing an entry's PHN is refused and leaves the entry alone.
    let entry = before.1["rows"][0].clone();
    let entry_path = format!("{panel}/panel/{}", uuid(&entry["id"]));
    let mut changed = entry["patient"].clone();
    changed["phn"] = w.spare(1)["phn"].clone();
    let r = w.patch(&entry_path, &t, json!({"patient": changed})).await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), vec![(None, "phn".to_owned())]);

    assert_eq!(
        w.panel_state(&t, a, "drpatel").await,
        before,
        "nothing stored"
    );
    assert_eq!(
        w.get(&format!("{panel}/preferences"), &t)
            .await
            .ok(StatusCode::OK),
        &prefs_before
    );
    // After all that, the same patient, well-formed, is accepted.
    w.post(&add, &t, add_body(w.spare(0)))
        .await
        .ok(StatusCode::CREATED);
}

#[tokio::test]
async fn panel_uploads_are_all_or_nothing_and_the_same_file_twice_changes_nothing() {
    let w = World::new("uploads");
    let a = w.a;
    let t = w.token("drpatel").await;
    let panel = w.panel(a, "drpatel");
    let import = format!("{panel}/import");
    let before = w.panel_state(&t, a, "drpatel").await;

    // Bad rows: one problem per row and field, nothing stored.
    let r = w
        .post_raw(&import, &t, Some("text/csv"), fixture("panel_errors.csv"))
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let problems = r.problems();
    assert_eq!(
        problems,
        vec![
            (Some(2), "phn".to_owned()),
            (Some(3), "date_of_birth".to_owned()),
            (Some(4), "family_name".to_owned()),
            (Some(5), "sex".to_owned()),
            (Some(6), "phn".to_owned()),
            (Some(7), "given_names".to_owned()),
            (Some(7), "date_of_birth".to_owned()),
            (Some(7), "sex".to_owned()),
        ]
    );
    // The error text does not repeat patient data.
    let text = String::from_utf8_lossy(&r.bytes);
    for secret in ["9234567890", "Nguyen", "31/12/1980", "woman"] {
        assert!(!text.contains(secret), "the error repeats {secret}");
    }

    // Not UTF-8 (Latin-1 from an old spreadsheet).
    let r = w
        .post_raw(&import, &t, Some("text/csv"), fixture("panel_latin1.csv"))
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), vec![(None, "file".to_owned())]);
    assert!(
        r.body["message"].as_str().unwrap().contains("UTF-8"),
        "{}",
        r.body
    );

    // Malformed FHIR JSON, and a CSV sent as FHIR.
    for (file, name) in [
        (fixture("fhir_trailing_comma.json"), "trailing comma"),
        (fixture("fhir_truncated.json"), "truncated"),
        (fixture("panel_valid.csv"), "csv as fhir"),
    ] {
        let r = w
            .post_raw(
                &format!("{import}?format=fhir"),
                &t,
                Some("application/fhir+json"),
                file,
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {}",
            r.body
        );
        r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    // An empty file, and an unknown format.
    w.post_raw(&import, &t, Some("text/csv"), Vec::new())
        .await
        .refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    w.post_raw(
        &format!("{import}?format=xlsx"),
        &t,
        Some("text/csv"),
        fixture("panel_valid.csv"),
    )
    .await
    .refused(StatusCode::BAD_REQUEST, "invalid_query");

    assert_eq!(
        w.panel_state(&t, a, "drpatel").await,
        before,
        "nothing stored"
    );

    // A valid file: four patients added; the same file again changes nothing.
    let size = before.0["size"].as_u64().unwrap();
    let total = before.1["total"].as_u64().unwrap();
    let first = w
        .post_raw(&import, &t, Some("text/csv"), fixture("panel_valid.csv"))
        .await;
    assert_eq!(
        first.ok(StatusCode::OK),
        &json!({"added": 4, "updated": 0, "unchanged": 0})
    );
    let after_first = w.panel_state(&t, a, "drpatel").await;
    assert_eq!(after_first.0["size"].as_u64().unwrap(), size + 4);
    assert_eq!(after_first.1["total"].as_u64().unwrap(), total + 4);
    let second = w
        .post_raw(&import, &t, Some("text/csv"), fixture("panel_valid.csv"))
        .await;
    assert_eq!(
        second.ok(StatusCode::OK),
        &json!({"added": 0, "updated": 0, "unchanged": 4})
    );
    assert_eq!(w.panel_state(&t, a, "drpatel").await, after_first);

    // Dr. Nguyen cannot take the same patients: they are on Dr. Patel's panel.
    let nguyen = w.token("drnguyen").await;
    let nguyen_before = w.panel_state(&nguyen, a, "drnguyen").await;
    let r = w
        .post_raw(
            &format!("{}/import", w.panel(a, "drnguyen")),
            &nguyen,
            Some("text/csv"),
            fixture("panel_valid.csv"),
        )
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        r.problems(),
        (1..=4)
            .map(|row| (Some(row), "phn".to_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(w.panel_state(&nguyen, a, "drnguyen").await, nguyen_before);

    // A file over the body limit (100 KiB against 64 KiB) is refused like any other error:
    // 413 with our JSON body, and nothing stored.
    let before = w.panel_state(&t, a, "drpatel").await;
    let mut big = fixture("panel_valid.csv");
    big.resize(100 * 1024, b'\n');
    let r = w.post_raw(&import, &t, Some("text/csv"), big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        w.panel_state(&t, a, "drpatel").await,
        before,
        "nothing stored"
    );
    r.refused(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}

#[tokio::test]
async fn malformed_ids_and_unknown_routes_are_json_errors() {
    let w = World::new("paths");
    let a = w.a;
    let t = w.token("drpatel").await;
    for path in [
        "/clinics/not-a-uuid".to_owned(),
        "/clinics/12345/members".to_owned(),
        format!("/clinics/{a}/providers/nobody/panel"),
        format!("{}/panel/not-an-entry", w.panel(a, "drpatel")),
    ] {
        w.get(&path, &t)
            .await
            .refused(StatusCode::BAD_REQUEST, "invalid_path");
    }
    w.post(
        &format!("/clinics/{a}/members/{}/promote", w.id("moa.roy")),
        &t,
        json!({}),
    )
    .await
    .refused(StatusCode::BAD_REQUEST, "invalid_path");
    // Well-formed ids of things that do not exist.
    w.get(
        &format!("{}/panel/{}", w.panel(a, "drpatel"), Uuid::now_v7()),
        &t,
    )
    .await
    .refused(StatusCode::NOT_FOUND, "not_found");
    w.get(
        &format!("/clinics/{a}/providers/{}/panel", Uuid::now_v7()),
        &t,
    )
    .await
    .refused(StatusCode::NOT_FOUND, "not_found");
    // A staff member is not a provider with a panel.
    w.get(&format!("{}/panel", w.panel(a, "moa.chen")), &t)
        .await
        .refused(StatusCode::NOT_FOUND, "not_found");

    // Bad query parameters.
    let list = format!("{}/panel", w.panel(a, "drpatel"));
    w.get(&format!("{list}?limit=lots"), &t)
        .await
        .refused(StatusCode::BAD_REQUEST, "invalid_query");
    w.get(&format!("{list}?sort=sideways"), &t)
        .await
        .refused(StatusCode::BAD_REQUEST, "invalid_query");
    w.get(&format!("{list}?colour=red"), &t)
        .await
        .refused(StatusCode::BAD_REQUEST, "invalid_query");
    w.get(&format!("{list}?status=sometimes"), &t)
        .await
        .refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // Unknown API routes, with or without a session. (Outside `/api`, browsers get an
    // HTML page: see the web tests.)
    for path in ["/api/v1/nothing-here", "/api/v2/session", "/api/v1/clinics"] {
        for token in [Some(t.as_str()), Some(BOGUS_TOKEN), None] {
            let mut req = Request::builder().uri(path);
            if let Some(token) = token {
                req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let r = w.request(req.body(Body::empty()).unwrap()).await;
            r.refused(StatusCode::NOT_FOUND, "not_found");
        }
    }
    // A known route with a method it does not have.
    let r = w
        .call(Method::DELETE, &format!("/clinics/{a}"), Some(&t), None)
        .await;
    r.refused(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let allow = r
        .headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(allow.contains("GET"), "Allow: {allow:?}");
}

// ---------------------------------------------------------------------------
// 5. The OpenAPI document
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_openapi_document_describes_the_real_routes() {
    let w = World::new("openapi");
    let spec = openapi(&w).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "only {} paths", paths.len());

    let mut operations = 0;
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path} is outside /api/v1");
        // Path parameters get well-formed ids: a 401 must not depend on them.
        let concrete: String = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    Uuid::now_v7().to_string()
                } else {
                    seg.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let method_upper = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = Request::builder()
                .method(method_upper.clone())
                .uri(&concrete)
                .header(header::AUTHORIZATION, format!("Bearer {BOGUS_TOKEN}"));
            let body = if method == "get" || method == "delete" {
                Body::empty()
            } else {
                req = req.header(header::CONTENT_TYPE, "application/json");
                // For sign-in (the one route without a session) these are wrong credentials.
                Body::from(r#"{"username":"nobody-at-all","password":"not-the-password"}"#)
            };
            let r = w.request(req.body(body).unwrap()).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method_upper} {path} answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.bytes)
            );
            assert!(
                matches!(r.code(), "unauthenticated" | "bad_credentials"),
                "{method_upper} {path}: {}",
                r.body
            );
        }
    }
    assert!(operations >= 30, "only {operations} operations");

    // The operations this file exercises are all documented.
    for (method, path) in [
        ("post", "/api/v1/session"),
        ("get", "/api/v1/session"),
        ("delete", "/api/v1/session"),
        ("post", "/api/v1/session/password"),
        ("get", "/api/v1/clinics/{clinic}"),
        ("put", "/api/v1/clinics/{clinic}/profile"),
        ("get", "/api/v1/clinics/{clinic}/members"),
        ("post", "/api/v1/clinics/{clinic}/members"),
        ("post", "/api/v1/clinics/{clinic}/membership-requests"),
        ("post", "/api/v1/clinics/{clinic}/members/{user}/{action}"),
        (
            "post",
            "/api/v1/clinics/{clinic}/members/{user}/password-reset",
        ),
        ("put", "/api/v1/clinics/{clinic}/primary-manager"),
        ("put", "/api/v1/clinics/{clinic}/secondary-manager"),
        ("get", "/api/v1/clinics/{clinic}/delegations"),
        (
            "post",
            "/api/v1/clinics/{clinic}/delegations/{delegation}/{action}",
        ),
        ("get", "/api/v1/clinics/{clinic}/conflicts"),
        ("get", "/api/v1/clinics/{clinic}/sync"),
        ("post", "/api/v1/clinics/{clinic}/sync/enrol"),
        ("post", "/api/v1/clinics/{clinic}/sync/retry"),
        ("get", "/api/v1/clinics/{clinic}/providers/{provider}/panel"),
        (
            "post",
            "/api/v1/clinics/{clinic}/providers/{provider}/panel",
        ),
        (
            "patch",
            "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}",
        ),
        (
            "post",
            "/api/v1/clinics/{clinic}/providers/{provider}/panel/{entry}/removal",
        ),
        (
            "get",
            "/api/v1/clinics/{clinic}/providers/{provider}/summary",
        ),
        (
            "put",
            "/api/v1/clinics/{clinic}/providers/{provider}/preferences",
        ),
        (
            "post",
            "/api/v1/clinics/{clinic}/providers/{provider}/import",
        ),
        (
            "get",
            "/api/v1/clinics/{clinic}/providers/{provider}/export",
        ),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
}

async fn openapi(w: &World) -> Value {
    let req = Request::builder()
        .uri("/api/openapi.json")
        .body(Body::empty())
        .unwrap();
    w.request(req).await.ok(StatusCode::OK).clone()
}

#[tokio::test]
async fn every_operation_documents_its_401() {
    let w = World::new("openapi-401");
    let spec = openapi(&w).await;
    let mut undocumented = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // Sign-in answers 401 for bad credentials; every other route without a session.
            if op["responses"].get("401").is_none() {
                undocumented.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "{} operations answer 401 without documenting it: {undocumented:#?}",
        undocumented.len()
    );
}

// ---------------------------------------------------------------------------
// 6. Conflict review after an offline merge
// ---------------------------------------------------------------------------

/// Opens a closed data directory's document store by hand. Its version differs from the
/// app's, so the next `App::open_at` re-projects every document with the real projector.
struct RawProjector;

impl Projector for RawProjector {
    fn version(&self) -> u32 {
        u32::MAX
    }
    fn project(&self, _id: &DocId, _doc: &Automerge) -> Vec<u8> {
        Vec::new()
    }
    fn committed(&self, _id: &DocId, _projection: &[u8]) {}
}

fn raw_store(data_dir: &Path) -> DocStore {
    retry_open(|| {
        DocStore::open(
            &data_dir.join("docs"),
            StoreOptions::default(),
            Arc::new(RawProjector),
        )
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_patient_put_on_two_panels_while_apart_is_a_conflict_to_review() {
    let mut w = World::new("merge");
    let a = w.a;
    let patient = w.spares[0].clone();

    // Replica Y: a copy of this node, taken while the patient is on no panel.
    let replica = TempDir::new("merge-replica");
    w.reopen(|dir| copy_dir(dir, &replica.0));

    // Here, Dr. Patel adds the patient...
    let patel = w.token("drpatel").await;
    let nguyen = w.token("drnguyen").await;
    let director = w.token("director").await;
    let patel_size = w.panel_size(&patel, a, "drpatel").await;
    let nguyen_size = w.panel_size(&nguyen, a, "drnguyen").await;
    let kept = w
        .post(
            &format!("{}/panel", w.panel(a, "drpatel")),
            &patel,
            add_body(patient_json(&patient)),
        )
        .await;
    let kept = uuid(&kept.ok(StatusCode::CREATED)["id"]);

    // ...and a minute later, on replica Y, cut off from this node, Dr. Nguyen adds them too.
    w.clock.advance(Duration::minutes(1));
    let nguyen_id = w.id("drnguyen");
    let lost = {
        let y = App::open_at(&replica.0, 16, IDLE_MINUTES, Arc::new(w.clock.clone())).unwrap();
        y.add_patient(
            nguyen_id,
            a,
            nguyen_id,
            patient.clone(),
            PatientStatus::Active,
        )
        .unwrap()
        .id
    };
    let doc = attach::schema::entry_doc_id(nguyen_id, lost);
    let from_y = {
        let y = raw_store(&replica.0);
        let bytes = y.read(&doc, |d| d.save()).unwrap().unwrap();
        Automerge::load(&bytes).unwrap()
    };

    // The replicas meet: Y's document is merged into this node.
    w.reopen(|dir| raw_store(dir).merge_from(&doc, &from_y).unwrap());

    // The clash is listed for the account managers, the earlier entry kept.
    let conflicts = w.get(&format!("/clinics/{a}/conflicts"), &director).await;
    let conflicts = conflicts.ok(StatusCode::OK).as_array().unwrap().clone();
    let clashes: Vec<&Value> = conflicts
        .iter()
        .filter(|c| c["kind"] == "panel_membership")
        .collect();
    assert_eq!(clashes.len(), 1, "{conflicts:#?}");
    let values = clashes[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 2);
    for v in values {
        let text = v["value"].as_str().unwrap();
        if text.contains(&kept.to_string()) {
            assert_eq!(v["kept"], true);
            assert_eq!(uuid(&v["by"]), w.id("drpatel").0);
        } else {
            assert!(text.contains(&lost.0.to_string()), "{text}");
            assert_eq!(v["kept"], false);
            assert_eq!(uuid(&v["by"]), w.id("drnguyen").0);
        }
    }
    // Patient data stays out of the conflict list.
    let listed = serde_json::to_string(&conflicts).unwrap();
    assert!(!listed.contains(&patient.phn.to_string()));
    assert!(!listed.contains(&patient.family_name));

    // Dr. Nguyen's entry is flagged and does not count towards the panel size.
    let nguyen_panel = w.panel(a, "drnguyen");
    let entry = w
        .get(&format!("{nguyen_panel}/panel/{}", lost.0), &nguyen)
        .await;
    assert_eq!(entry.ok(StatusCode::OK)["clash"], true);
    let entry = w
        .get(&format!("{}/panel/{kept}", w.panel(a, "drpatel")), &patel)
        .await;
    assert_eq!(entry.ok(StatusCode::OK)["clash"], false);
    assert_eq!(w.panel_size(&patel, a, "drpatel").await, patel_size + 1);
    assert_eq!(w.panel_size(&nguyen, a, "drnguyen").await, nguyen_size);

    // Only account managers of this clinic review conflicts.
    w.get(&format!("/clinics/{a}/conflicts"), &patel)
        .await
        .refused(StatusCode::FORBIDDEN, "forbidden");
    let bdirector = w.token("bdirector").await;
    w.get(&format!("/clinics/{a}/conflicts"), &bdirector)
        .await
        .refused(StatusCode::NOT_FOUND, "not_found");
    let b_conflicts = w
        .get(&format!("/clinics/{}/conflicts", w.b), &bdirector)
        .await;
    assert_eq!(b_conflicts.ok(StatusCode::OK), &json!([]));

    // The director settles it by removing the losing entry.
    w.post(
        &format!("{nguyen_panel}/panel/{}/removal", lost.0),
        &director,
        json!({"reason": "already on Dr. Patel's panel"}),
    )
    .await
    .ok(StatusCode::OK);
    let conflicts = w.get(&format!("/clinics/{a}/conflicts"), &director).await;
    assert!(
        conflicts
            .ok(StatusCode::OK)
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["kind"] != "panel_membership"),
        "{}",
        conflicts.body
    );
    assert_eq!(w.panel_size(&patel, a, "drpatel").await, patel_size + 1);
    assert_eq!(w.panel_size(&nguyen, a, "drnguyen").await, nguyen_size);
}

// ---------------------------------------------------------------------------
// Sync with the hub
// ---------------------------------------------------------------------------

fn well_formed_code() -> String {
    attach_sync::EnrolmentCode {
        secret: [1; 10],
        ca_pin: [2; 10],
    }
    .to_string()
}

#[tokio::test]
async fn sync_routes_on_a_node_without_sync_say_so_after_checking_who_asks() {
    let w = World::new("sync-off");
    let ((clinic, manager), (other, other_manager)) = w.synced_clinic();
    let base = format!("/clinics/{clinic}/sync");
    let physician = w.token("drpatel").await;
    let manager = w.token(manager).await;
    // Each director belongs to their own clinic only.
    let outsider = w.token(other_manager).await;
    let enrol = json!({"hub": "127.0.0.1:1", "code": well_formed_code()});

    // Members learn that the node runs without sync.
    let r = w.get(&base, &physician).await;
    r.refused(StatusCode::SERVICE_UNAVAILABLE, "sync_unavailable");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("runs without sync")
    );
    // Only account managers enrol or retry (who gets what is in the table); then the
    // missing sync is said.
    for action in ["enrol", "retry"] {
        w.post(&format!("{base}/{action}"), &manager, enrol.clone())
            .await
            .refused(StatusCode::SERVICE_UNAVAILABLE, "sync_unavailable");
    }
    // The other clinic on this node cannot take the node's sync over.
    w.post(&format!("/clinics/{other}/sync/enrol"), &outsider, enrol)
        .await
        .refused(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn a_running_sync_reports_its_state_and_explains_failed_enrolments() {
    let mut w = World::new("sync-on");
    let sync_dir = TempDir::new("sync-on-files");
    w.with_sync(&sync_dir.0);
    let ((clinic, manager), (_, other_manager)) = w.synced_clinic();
    let base = format!("/clinics/{clinic}/sync");
    let manager = w.token(manager).await;
    let outsider = w.token(other_manager).await;
    let physician = w.token("drpatel").await;

    // Not enrolled: said, with what to do; one row per document set.
    let status = w.get(&base, &manager).await.ok(StatusCode::OK).clone();
    assert_eq!(status["enrolled"], false);
    assert_eq!(status["connected"], false);
    assert!(status["last_success"].is_null());
    let error = status["last_error"].as_str().unwrap();
    assert!(
        error.contains("not enrolled") && error.contains("enrol it"),
        "{error}"
    );
    let sets: Vec<&str> = status["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["set"].as_str().unwrap())
        .collect();
    assert_eq!(
        sets,
        [
            "Clinic profile, members and delegations",
            "User accounts",
            "Patient panels",
            "Match offers"
        ]
    );
    w.get(&base, &outsider)
        .await
        .refused(StatusCode::NOT_FOUND, "not_found");
    // Dr. Patel works at both clinics: she reads the status, and may not enrol.
    let seen = w.get(&base, &physician).await;
    assert_eq!(seen.ok(StatusCode::OK)["enrolled"], false);
    w.post(
        &format!("{base}/enrol"),
        &physician,
        json!({"hub": "127.0.0.1:1", "code": well_formed_code()}),
    )
    .await
    .refused(StatusCode::FORBIDDEN, "forbidden");

    // A malformed code fails at once, naming the field.
    let r = w
        .post(
            &format!("{base}/enrol"),
            &manager,
            json!({"hub": "127.0.0.1:1", "code": "ABCD-1234"}),
        )
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), [(None, "code".to_owned())]);
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("32 letters and digits")
    );
    let r = w
        .post(
            &format!("{base}/enrol"),
            &manager,
            json!({"hub": "no-port", "code": well_formed_code()}),
        )
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), [(None, "hub".to_owned())]);

    // A hub that cannot be reached is a gateway failure, in words; nothing is enrolled.
    let r = w
        .post(
            &format!("{base}/enrol"),
            &manager,
            json!({"hub": "127.0.0.1:1", "code": well_formed_code()}),
        )
        .await;
    r.refused(StatusCode::BAD_GATEWAY, "hub_unreachable");
    let message = r.body["message"].as_str().unwrap();
    assert!(
        message.contains("The hub at 127.0.0.1:1 cannot be reached"),
        "{message}"
    );
    let status = w.get(&base, &manager).await;
    assert_eq!(status.ok(StatusCode::OK)["enrolled"], false);

    w.post(&format!("{base}/retry"), &manager, json!({}))
        .await
        .ok(StatusCode::ACCEPTED);
}

// ---------------------------------------------------------------------------
// Matching: the clinic's inbox
// ---------------------------------------------------------------------------

/// Offers made by a hub reach the clinic's inbox; the provider declines one (a reason from
/// the list is required) and accepts another; the director records the patient's yes; the
/// person is on the panel, added "through a match". Another provider sees none of it.
#[tokio::test]
async fn offers_are_decided_and_answered_through_the_api() {
    let w = World::new("offers");
    let a = w.a;
    let node = w.app().clone();
    // A hub replica, holding the clinic as sync would, registers two people and matches.
    let hub_dir = TempDir::new("offers-hub");
    let hub = App::open_at(&hub_dir.0, 16, IDLE_MINUTES, Arc::new(w.clock.clone())).unwrap();
    hub.merge_all_from(&node).unwrap();
    let mut people = Vec::new();
    for (i, spare) in w.spares[..2].iter().enumerate() {
        let input = attach::app::WaitingInput {
            patient: attach::domain::PatientInput {
                phn: spare.phn.to_string(),
                family_name: spare.family_name.clone(),
                given_names: spare.given_names.clone(),
                date_of_birth: spare.date_of_birth.to_string(),
                sex: sex_word(spare.sex).to_owned(),
                community: "Smithers".to_owned(),
                ..Default::default()
            },
            factors: if i == 0 {
                "pregnancy".into()
            } else {
                String::new()
            },
            ..Default::default()
        };
        people.push(
            hub.register_waiting(attach::app::COORDINATOR, &input)
                .unwrap(),
        );
    }
    let round = hub.run_matching(attach::app::COORDINATOR).unwrap();
    assert_eq!(round.offers, 2, "{round:?}");
    for id in hub.doc_store().ids_with_prefix("inbox/").unwrap() {
        let doc = hub.doc_store().read(&id, |d| d.clone()).unwrap().unwrap();
        node.doc_store().merge_from(&id, &doc).unwrap();
    }

    // The provider the round chose (the demo's providers taking patients), by username.
    let director = w.token("director").await;
    let listed = w.get(&format!("/clinics/{a}/offers"), &director).await;
    let provider = uuid(&listed.ok(StatusCode::OK)[0]["provider"]);
    let name = w
        .ids
        .iter()
        .find(|(_, id)| id.0 == provider)
        .map(|(n, _)| n.clone())
        .unwrap();
    let other_name = if name == "drnguyen" {
        "drpatel"
    } else {
        "drnguyen"
    };
    let patel = w.token(&name).await;
    let nguyen = w.token(other_name).await;
    let offers = w.get(&format!("/clinics/{a}/offers"), &patel).await;
    let offers = offers.ok(StatusCode::OK).as_array().unwrap().clone();
    assert_eq!(offers.len(), 2);
    assert!(offers.iter().all(|o| o["may_decide"] == true));
    let first = offers
        .iter()
        .find(|o| uuid(&o["persons"][0]["person"]) == people[0].person.0)
        .unwrap();
    assert!(
        first["persons"][0]["why"]
            .as_str()
            .unwrap()
            .starts_with("Tier 1: urgent clinical need (pregnancy)")
    );
    assert_eq!(first["persons"][0]["outcome"], "open");
    let other = offers.iter().find(|o| o["id"] != first["id"]).unwrap();
    let (o1, o2) = (uuid(&first["id"]), uuid(&other["id"]));
    let seen = w.get(&format!("/clinics/{a}/offers"), &nguyen).await;
    assert!(seen.ok(StatusCode::OK).as_array().unwrap().is_empty());

    // A decline needs a reason from the list; "other" needs words.
    let bad = w
        .post(
            &format!("/clinics/{a}/offers/{o2}/decision"),
            &patel,
            json!({"decision": "decline", "reason": "busy"}),
        )
        .await;
    bad.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let bad = w
        .post(
            &format!("/clinics/{a}/offers/{o2}/decision"),
            &patel,
            json!({"decision": "decline", "reason": "other"}),
        )
        .await;
    bad.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let forbidden = w
        .post(
            &format!("/clinics/{a}/offers/{o2}/decision"),
            &nguyen,
            json!({"decision": "accept"}),
        )
        .await;
    forbidden.refused(StatusCode::FORBIDDEN, "forbidden");
    let declined = w
        .post(
            &format!("/clinics/{a}/offers/{o2}/decision"),
            &patel,
            json!({"decision": "decline", "reason": "too_far", "note": "two hours away"}),
        )
        .await;
    let declined = declined.ok(StatusCode::OK);
    assert_eq!(declined["decline_reason"], "too_far");
    assert_eq!(declined["persons"][0]["outcome"], "declined_by_provider");

    w.post(
        &format!("/clinics/{a}/offers/{o1}/decision"),
        &patel,
        json!({"decision": "accept"}),
    )
    .await
    .ok(StatusCode::OK);
    let size = w.panel_size(&patel, a, &name).await;
    let answered = w
        .post(
            &format!("/clinics/{a}/offers/{o1}/answers"),
            &director,
            json!({"person": people[0].person.0, "confirmed": true, "note": "phoned"}),
        )
        .await;
    let answered = answered.ok(StatusCode::OK);
    assert_eq!(answered["persons"][0]["outcome"], "attached");
    assert_eq!(w.panel_size(&patel, a, &name).await, size + 1);
    let entry = attach::app::attachment_entry(
        attach::domain::OfferId(o1),
        attach::domain::PersonId(people[0].person.0),
    );
    let got = w
        .get(&format!("{}/panel/{}", w.panel(a, &name), entry.0), &patel)
        .await;
    let got = got.ok(StatusCode::OK);
    assert_eq!(got["how_added"], "match");
    // Answering twice is refused and changes nothing.
    let again = w
        .post(
            &format!("/clinics/{a}/offers/{o1}/answers"),
            &director,
            json!({"person": people[0].person.0, "confirmed": false}),
        )
        .await;
    again.refused(StatusCode::CONFLICT, "conflict");
    assert_eq!(w.panel_size(&patel, a, &name).await, size + 1);
}

#[tokio::test]
async fn languages_practitioner_numbers_moves_and_attachment_records_through_the_api() {
    let w = World::new("moves");
    let a = w.a;
    let patel = w.token("drpatel").await;
    let director = w.token("director").await;
    let prefs = format!("{}/preferences", w.panel(a, "drpatel"));
    let mut body = w.get(&prefs, &patel).await.ok(StatusCode::OK).clone();
    body["languages"] = json!(["English", " punjabi "]);
    body["practitioner_number"] = json!("x12");
    let r = w.put(&prefs, &patel, body.clone()).await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), vec![(None, "practitioner_number".to_owned())]);
    body["practitioner_number"] = json!("x1234");
    let saved = w.put(&prefs, &patel, body).await.ok(StatusCode::OK).clone();
    assert_eq!(saved["practitioner_number"], "X1234");
    assert_eq!(saved["languages"], json!(["English", "punjabi"]));
    // A client that does not know the new fields keeps them.
    let old_client = json!({"accepting_new_patients": true, "monthly_capacity": 9,
        "desired_panel_size": 1300, "max_open_requests": 5});
    let kept = w
        .put(&prefs, &patel, old_client)
        .await
        .ok(StatusCode::OK)
        .clone();
    assert_eq!(
        (
            &kept["practitioner_number"],
            kept["monthly_capacity"].as_u64()
        ),
        (&json!("X1234"), Some(9))
    );

    // Move one patient to Dr. Nguyen, and one back to the waitlist.
    let list = w
        .get(&format!("{}/panel?limit=2", w.panel(a, "drpatel")), &patel)
        .await
        .ok(StatusCode::OK)
        .clone();
    let (e1, e2) = (uuid(&list["rows"][0]["id"]), uuid(&list["rows"][1]["id"]));
    let transfers = format!("{}/transfers", w.panel(a, "drpatel"));
    let nguyen = w.id("drnguyen");
    w.post(
        &transfers,
        &patel,
        json!({"to": nguyen, "entries": [e1], "reason": "leaving"}),
    )
    .await
    .refused(StatusCode::FORBIDDEN, "forbidden");
    w.post(
        &transfers,
        &director,
        json!({"to": nguyen, "entries": [e1]}),
    )
    .await
    .refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let r = w
        .post(
            &transfers,
            &director,
            json!({"to": nguyen, "entries": [e1], "reason": "leaving"}),
        )
        .await;
    assert_eq!(r.ok(StatusCode::OK)["moved"], 1);
    let old = w
        .get(&format!("{}/panel/{e1}", w.panel(a, "drpatel")), &director)
        .await
        .ok(StatusCode::OK)
        .clone();
    assert_eq!(
        (&old["removed_to"], &old["transferred_to"]),
        (&json!("transferred"), &json!(nguyen))
    );
    let r = w
        .post(
            &format!("{}/waitlist-returns", w.panel(a, "drpatel")),
            &patel,
            json!({"entries": [e2], "reason": "moved to the next valley"}),
        )
        .await;
    assert_eq!(r.ok(StatusCode::OK)["moved"], 1);
    let returned = w
        .get(&format!("{}/panel/{e2}", w.panel(a, "drpatel")), &patel)
        .await
        .ok(StatusCode::OK)
        .clone();
    assert_eq!(returned["removed_to"], "return_to_waitlist");

    // The transfer is an attachment to Dr. Nguyen this month.
    let records = format!("/clinics/{a}/attachments?from=2026-11-01&to=2026-11-30");
    let got = w.get(&records, &director).await.ok(StatusCode::OK).clone();
    assert_eq!(got["records"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["records"][0]["fee_code"], "98990");
    assert_eq!(got["records"][0]["date"], "2026-11-02");
    assert_eq!(got["records"][0]["provider"], json!(nguyen));
    let csv = w.get(&format!("{records}&format=csv"), &director).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        String::from_utf8_lossy(&csv.bytes).contains(",2026-11-02,98990,"),
        "{}",
        String::from_utf8_lossy(&csv.bytes)
    );
    assert!(
        csv.headers
            .contains_key("x-attach-missing-practitioner-numbers")
    );
    let r = w
        .get(
            &format!("/clinics/{a}/attachments?from=2026-11-31&to=2026-11-30"),
            &director,
        )
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), vec![(None, "from".to_owned())]);
}

#[tokio::test]
async fn recalls_suggestions_and_records_by_hand_through_the_api() {
    let w = World::new("followup");
    let a = w.a;
    let patel = w.token("drpatel").await;
    let p = w.id("drpatel");
    // A patient of Dr. Patel's with no records: diabetes coded, an HbA1c out of target.
    let e = w
        .app()
        .review_rows(
            p,
            a,
            attach::app::ReviewScope::Provider(p),
            &Default::default(),
        )
        .unwrap()
        .into_iter()
        .map(|r| r.entry)
        .find(|e| {
            w.app()
                .patient_clinical(p, a, p, e.id)
                .unwrap()
                .records
                .is_empty()
        })
        .expect("a patient without records");
    let phn = e.details.phn.to_string();
    let csv = format!(
        "phn,kind,id,system,code,display,date,end_date,status,value,unit,updated\n\
         {phn},condition,c1,icd10ca,E11.9,Type 2 diabetes,2018-01-01,,active,,,\n\
         {phn},observation,o1,loinc,4548-4,HbA1c,2026-03-01,,,8.1,%,\n"
    );
    let req = Request::builder()
        .method(Method::POST)
        .uri(v1(&format!("/clinics/{a}/clinical/import?format=csv")))
        .header(header::AUTHORIZATION, format!("Bearer {patel}"))
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(csv))
        .unwrap();
    w.request(req).await.ok(StatusCode::OK);

    let recalls = format!("/clinics/{a}/clinical/recalls?provider={p}&rule=diabetes_hba1c");
    let listed = w.get(&recalls, &patel).await.ok(StatusCode::OK).clone();
    let row = listed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entry"]["id"] == json!(e.id.0))
        .expect("on the recall list")
        .clone();
    let gap = row["care"]["care_gaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["rule"] == "diabetes_hba1c")
        .unwrap()
        .clone();
    assert_eq!(gap["recall_status"], "to_contact");
    assert!(gap["recall"].is_null());

    // A booking in the past is refused with its field; then a call is recorded.
    let change = format!("/clinics/{a}/clinical/recalls");
    let who = json!([{"provider": p.0, "entry": e.id.0}]);
    let r = w
        .post(
            &change,
            &patel,
            json!({"patients": who, "rule": "diabetes_hba1c",
                "change": {"action": "booked", "on": "2001-01-01"}}),
        )
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.problems(), vec![(None, "booked_for".to_owned())]);
    let done = w
        .post(
            &change,
            &patel,
            json!({"patients": who, "rule": "diabetes_hba1c",
                "change": {"action": "contacted", "how": "portal", "note": "message sent"}}),
        )
        .await;
    assert_eq!(
        done.ok(StatusCode::OK),
        &json!({"patients": 1, "recalls": 1, "closed": 0})
    );
    let listed = w
        .get(&format!("{recalls}&status=contacted"), &patel)
        .await
        .ok(StatusCode::OK)
        .clone();
    let gap = &listed["rows"][0]["care"]["care_gaps"];
    let gap = gap
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["rule"] == "diabetes_hba1c")
        .unwrap();
    assert_eq!(gap["recall_status"], "contacted");
    assert_eq!(gap["recall"]["contacts"][0]["how"], "portal");
    assert_eq!(gap["recall"]["contacts"][0]["by"], json!(p.0));
    w.get(&format!("{recalls}&status=lost"), &patel)
        .await
        .refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let csv = w
        .send(
            Request::builder()
                .uri(v1(&format!(
                    "/clinics/{a}/clinical/recalls/export?status=contacted"
                )))
                .header(header::AUTHORIZATION, format!("Bearer {patel}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .text();
    assert!(csv.contains(&phn) && csv.contains("message sent"), "{csv}");

    // A record by hand: each wrong field named; then entered, corrected, listed, deleted.
    let records = format!("{}/panel/{}/clinical/records", w.panel(a, "drpatel"), e.id);
    let r = w
        .post(
            &records,
            &patel,
            json!({"kind": "observation", "code": "loinc", "date": "2026-02-30", "value": "7.0"}),
        )
        .await;
    r.refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let mut fields: Vec<String> = r.problems().into_iter().map(|(_, f)| f).collect();
    fields.sort();
    assert_eq!(fields, ["code", "date"]);
    let made = w
        .post(
            &records,
            &patel,
            json!({"kind": "observation", "code": "loinc 4548-4", "display": "HbA1c",
                "date": "2026-09-01", "value": "7.4", "unit": "%"}),
        )
        .await
        .ok(StatusCode::CREATED)
        .clone();
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("attach:"), "{id}");
    assert_eq!(made["entered_by"], json!(p.0));
    let fixed = w
        .put(
            &format!("{records}/{id}"),
            &patel,
            json!({"kind": "observation", "code": "loinc 4548-4", "display": "HbA1c",
                "date": "2026-09-01", "value": "6.4", "unit": "%"}),
        )
        .await
        .ok(StatusCode::OK)
        .clone();
    assert_eq!(fixed["value"], "6.4 %");
    let entered = w
        .get(&format!("/clinics/{a}/clinical/entered"), &patel)
        .await
        .ok(StatusCode::OK)
        .clone();
    assert_eq!(entered[0]["record"]["id"], json!(id));
    assert_eq!(entered[0]["phn"], json!(phn));
    // An EMR record is corrected, not deleted.
    w.call(Method::DELETE, &format!("{records}/o1"), Some(&patel), None)
        .await
        .refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let gone = w
        .call(
            Method::DELETE,
            &format!("{records}/{id}"),
            Some(&patel),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);

    // A dismissal needs a reason and a rule the registry has.
    let dismissals = format!(
        "{}/panel/{}/clinical/dismissals",
        w.panel(a, "drpatel"),
        e.id
    );
    w.post(
        &dismissals,
        &patel,
        json!({"registry": "diabetes", "rule": "two_hba1c", "reason": " "}),
    )
    .await
    .refused(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    w.post(
        &dismissals,
        &patel,
        json!({"registry": "diabetes", "rule": "no_such_rule", "reason": "x"}),
    )
    .await
    .refused(StatusCode::NOT_FOUND, "not_found");
    let view = w
        .get(
            &format!("{}/panel/{}/clinical", w.panel(a, "drpatel"), e.id),
            &patel,
        )
        .await
        .ok(StatusCode::OK)
        .clone();
    assert_eq!(view["dismissed"], json!([]));
}
