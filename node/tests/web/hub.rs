//! Router tests of the hub's pages for provincial coordinators: a hub replica of the world's
//! clinics, coordinators created by the hub admin, and every page and form — sign-in
//! (coordinators only, temporary password first), CSRF, per-field and per-row errors, the
//! waitlist and a person's registration, a matching round, offers out and an answer,
//! withdrawal, and the provincial view with its CSV.

use std::sync::Arc;

use attach::app::{App, NewCoordinator};
use attach::domain::PatientDetails;
use axum::http::{StatusCode, header};

use super::{Browser, Page, TempDir, World, assert_page_headers};

const COORD_PASSWORD: &str = "provincial-coordinator-2026";

/// The world's clinics replicated at a hub, with one coordinator who has chosen a password.
struct HubWorld {
    w: World,
    hub: App,
    coordinator: NewCoordinator,
    _dir: TempDir,
}

impl HubWorld {
    fn new(name: &str) -> Self {
        let w = World::new(name);
        let dir = TempDir::new(&format!("{name}-hub"));
        let hub = App::open_at(&dir.0, 16, 30, Arc::new(w.clock.clone())).unwrap();
        hub.merge_all_from(w.app()).unwrap();
        let coordinator = hub.add_coordinator("casey", "Casey Coordinator").unwrap();
        Self {
            w,
            hub,
            coordinator,
            _dir: dir,
        }
    }

    fn browser(&self) -> Browser {
        Browser::new(attach::http::hub_web_router(
            self.hub.clone(),
            attach::http::HttpOptions {
                max_body_bytes: 1024 * 1024,
                secure_cookies: false,
            },
        ))
    }

    async fn sign_in_form(&self, b: &mut Browser, username: &str, password: &str) -> Page {
        let token = b.get("/login").await.csrf();
        b.post_form(
            "/login",
            &[
                ("csrf", token.as_str()),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// A coordinator's browser, signed in with their own password.
    async fn coordinator(&self) -> Browser {
        let mut b = self.browser();
        let r = self
            .sign_in_form(&mut b, "casey", &self.coordinator.temporary_password)
            .await;
        assert_eq!(r.location(), "/password", "{}", r.text);
        let changed = b
            .submit(
                "/password",
                "/password",
                &[
                    ("current_password", &self.coordinator.temporary_password),
                    ("new_password", COORD_PASSWORD),
                    ("confirm_password", COORD_PASSWORD),
                ],
            )
            .await;
        assert_eq!(changed.location(), "/", "{}", changed.text);
        b
    }

    fn spare(&self, i: usize) -> &PatientDetails {
        &self.w.spares[i]
    }
}

fn register_fields(p: &PatientDetails) -> Vec<(&'static str, String)> {
    vec![
        ("phn", p.phn.to_string()),
        ("family_name", p.family_name.clone()),
        ("given_names", p.given_names.clone()),
        ("date_of_birth", p.date_of_birth.to_string()),
        ("sex", "unknown".into()),
        ("community", "Smithers".into()),
        ("need", "any".into()),
        ("factors", "pregnancy".into()),
    ]
}

async fn register(b: &mut Browser, fields: &[(&'static str, String)]) -> Page {
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.submit("/waitlist/new", "/waitlist/new", &f).await
}

#[tokio::test]
async fn only_coordinators_sign_in_and_a_temporary_password_is_changed_first() {
    let h = HubWorld::new("hub-signin");
    let mut anon = h.browser();
    let r = anon.get("/waitlist").await;
    assert_eq!(r.location(), "/login?next=/waitlist");
    let login = anon.get("/login").await;
    assert!(login.ok().contains("sign in to the provincial hub"));
    assert!(!login.contains("Ask to join a clinic"));
    assert_page_headers(&login);

    // Clinic staff have no login at the hub, even with their right password.
    let mut staff = h.browser();
    let refused = h
        .sign_in_form(&mut staff, "director", &h.w.passwords["director"])
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.contains("The username or password is wrong."));
    assert!(
        staff
            .get("/province")
            .await
            .location()
            .starts_with("/login")
    );

    // A sign-in form without its token is refused.
    let mut forged = h.browser();
    let r = forged
        .post_form(
            "/login",
            &[
                ("csrf", "forged"),
                ("username", "casey"),
                ("password", &h.coordinator.temporary_password),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // With the temporary password, every page leads to changing it.
    let mut b = h.browser();
    let r = h
        .sign_in_form(&mut b, "casey", &h.coordinator.temporary_password)
        .await;
    assert_eq!(r.location(), "/password");
    assert_eq!(b.get("/province").await.location(), "/password");
    let b = h.coordinator().await;
    let mut b = b;
    let home = b.get("/").await;
    assert_eq!(home.location(), "/province");
    let page = b.get("/province").await;
    assert!(
        page.ok()
            .contains("Casey Coordinator · Provincial coordinator")
    );
    assert!(!page.contains("Join another clinic"));
    assert_page_headers(&page);

    // The coordinator's login is the hub's alone: in no clinic's sync scope.
    let doc = format!("coordinator/{}", h.coordinator.coordinator.id);
    assert!(!h.hub.in_clinic_scope(h.w.a, &doc));
    assert!(!h.hub.clinic_scope(h.w.a).unwrap().contains(&doc));
    // And the coordinator cannot sign in at a clinic node.
    assert!(h.w.app().login("casey", COORD_PASSWORD).is_err());
}

#[tokio::test]
async fn registering_shows_each_field_s_problem_then_the_person_is_on_the_waitlist() {
    let h = HubWorld::new("hub-register");
    let mut b = h.coordinator().await;
    let form = b.get("/waitlist/new").await;
    assert!(form.ok().contains("Register a person"));
    assert!(form.contains("aria-current=\"page\">Register a person</a>"));

    let p = h.spare(5).clone();
    let mut bad = register_fields(&p);
    bad.retain(|(k, _)| !matches!(*k, "family_name" | "community" | "factors"));
    bad.push(("factors", "pregnant".into()));
    let refused = register(&mut b, &bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text.clone();
    assert!(html.contains("The person was not registered"), "{html}");
    assert!(html.contains("id=\"family_name-error\""), "{html}");
    assert!(html.contains("id=\"community-error\""), "{html}");
    assert!(html.contains("is not a priority factor"), "{html}");
    // What was typed is kept.
    assert!(html.contains(&format!("value=\"{}\"", p.given_names)));
    assert_eq!(h.hub.province_report().registrations(), 0);

    // Without this session's token nothing is stored.
    let f = register_fields(&p);
    let mut forged: Vec<(&str, &str)> = vec![("csrf", "nope")];
    forged.extend(f.iter().map(|(k, v)| (*k, v.as_str())));
    let r = b.post_form("/waitlist/new", &forged).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(h.hub.province_report().registrations(), 0);

    let done = register(&mut b, &register_fields(&p)).await;
    let to = done.location();
    assert!(to.ends_with("?done=registered"), "{to}");
    let page = b.get(&to).await;
    let html = page.ok();
    assert!(html.contains("Registered on the provincial waitlist."));
    assert!(html.contains(&format!("{}, {}", p.family_name, p.given_names)));
    assert!(
        html.contains("Tier 1: urgent clinical need (pregnancy)"),
        "{html}"
    );
    assert!(html.contains(">Waiting<"));

    // The same PHN again is merged, not counted twice.
    let again = register(&mut b, &register_fields(&p)).await;
    assert!(again.location().ends_with("?done=merged"));
    let list = b.get("/waitlist").await;
    assert!(
        list.ok().contains("id=\"count-waiting\">Waiting: 1<"),
        "{}",
        list.text
    );

    // Search by PHN (with spaces) and by name; a miss says so.
    let phn = p.phn.to_string();
    let by_phn = b
        .get(&format!("/waitlist?q={}", phn.replace(' ', "+")))
        .await;
    assert!(by_phn.ok().contains(&p.family_name));
    let by_name = b
        .get(&format!("/waitlist?q={}", p.family_name.to_lowercase()))
        .await;
    assert!(by_name.ok().contains(&phn));
    let miss = b.get("/waitlist?q=Nobody+Atall").await;
    assert!(miss.ok().contains("No registration matches."));
    let filtered = b.get("/waitlist?status=withdrawn").await;
    assert!(filtered.ok().contains("No registration matches."));
}

#[tokio::test]
async fn an_import_with_a_bad_row_stores_nothing_and_a_good_one_registers_everyone() {
    let h = HubWorld::new("hub-import");
    let mut b = h.coordinator().await;
    let page = b.get("/waitlist/import").await;
    let token = page.csrf();
    let row = |p: &PatientDetails, dob: &str| {
        format!(
            "{},{},{},{dob},unknown,,,,,,,Smithers\n",
            p.phn, p.family_name, p.given_names
        )
    };
    let header = "phn,family_name,given_names,date_of_birth,sex,phone,email,street,city,province,postal_code,community\n";
    let (p1, p2) = (h.spare(6).clone(), h.spare(7).clone());
    let bad = format!(
        "{header}{}{}",
        row(&p1, &p1.date_of_birth.to_string()),
        row(&p2, "31/12/1990")
    );
    let r = b
        .post_multipart(
            "/waitlist/import",
            &[("csrf", &token)],
            ("file", "people.csv", bad.as_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.contains("Nothing was registered."), "{}", r.text);
    assert!(
        r.contains("<td class=\"num\">3</td><td>date_of_birth</td>"),
        "{}",
        r.text
    );
    assert_eq!(h.hub.province_report().registrations(), 0);

    let forged = b
        .post_multipart(
            "/waitlist/import",
            &[("csrf", "forged")],
            ("file", "people.csv", bad.as_bytes()),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let good = format!(
        "{header}{}{}",
        row(&p1, &p1.date_of_birth.to_string()),
        row(&p2, &p2.date_of_birth.to_string())
    );
    let r = b
        .post_multipart(
            "/waitlist/import",
            &[("csrf", &token)],
            ("file", "people.csv", good.as_bytes()),
        )
        .await;
    assert!(
        r.ok().contains("Registered 2 people; 0 merged"),
        "{}",
        r.text
    );
    assert_eq!(h.hub.province_report().waiting, 2);
}

#[tokio::test]
async fn a_round_makes_offers_a_coordinator_records_an_answer_and_withdraws_a_registration() {
    let h = HubWorld::new("hub-round");
    let mut b = h.coordinator().await;
    let (p1, p2) = (h.spare(8).clone(), h.spare(9).clone());
    let first = register(&mut b, &register_fields(&p1)).await.location();
    register(&mut b, &register_fields(&p2)).await;

    let page = b.get("/matching").await;
    assert!(
        page.ok()
            .contains("2 people are waiting with no open offer")
    );
    let forged = b.post_form("/matching", &[("csrf", "x")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(h.hub.province_report().offers_total, 0);
    let ran = b.submit("/matching", "/matching", &[]).await;
    let to = ran.location();
    assert!(to.contains("offers=2"), "{to}");
    let report = b.get(&to).await;
    assert!(
        report.ok().contains("id=\"round-offers\">2<"),
        "{}",
        report.text
    );

    let out = b.get("/offers").await;
    let html = out.ok().to_owned();
    assert!(html.contains("2 offers are open"), "{html}");
    assert!(html.contains("Why this person, now"));
    assert!(
        html.contains("Tier 1: urgent clinical need (pregnancy)"),
        "{html}"
    );
    let marker = "name=\"person\" value=\"";
    let at = html.find(marker).unwrap() + marker.len();
    let person = html[at..at + 36].to_owned();
    let marker = "name=\"offer\" value=\"";
    let at = html.find(marker).unwrap() + marker.len();
    let offer = html[at..at + 36].to_owned();
    let fields = [
        ("offer", offer.as_str()),
        ("person", person.as_str()),
        ("answer", "yes"),
        ("note", "called on Monday"),
    ];
    let forged = b
        .post_form(
            "/offers/answer",
            &[("csrf", "x"), fields[0], fields[1], fields[2]],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let done = b.submit("/offers", "/offers/answer", &fields).await;
    assert_eq!(done.location(), "/offers?done=answered");
    let html = b.get("/offers?done=answered").await.ok().to_owned();
    assert!(
        html.contains("Answer recorded.") && html.contains("Said yes"),
        "{html}"
    );
    let twice = b.submit("/offers", "/offers/answer", &fields).await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(twice.contains("already recorded"), "{}", twice.text);
    let bad_offer = b
        .submit(
            "/offers",
            "/offers/answer",
            &[
                ("offer", "not-an-id"),
                ("person", &person),
                ("answer", "yes"),
            ],
        )
        .await;
    assert_eq!(bad_offer.status, StatusCode::NOT_FOUND);
    assert_eq!(h.hub.province_report().patient_side.yes, 1);

    // The person's page lists the offer; withdrawing takes them off.
    let person_page = first.split('?').next().unwrap().to_owned();
    let html = b.get(&person_page).await.ok().to_owned();
    assert!(html.contains("id=\"person-offers\""), "{html}");
    let forged = b
        .post_form(&format!("{person_page}/withdraw"), &[("csrf", "x")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let w = b
        .submit(&person_page, &format!("{person_page}/withdraw"), &[])
        .await;
    assert!(w.location().ends_with("?done=withdrawn"));
    let html = b.get(&w.location()).await.ok().to_owned();
    assert!(html.contains("Registration withdrawn") && html.contains(">Withdrawn<"));
    assert!(!html.contains("id=\"withdraw\""));
    let token = b.get("/waitlist").await.csrf();
    let again = b
        .post_form(&format!("{person_page}/withdraw"), &[("csrf", &token)])
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.contains("already withdrawn"));
    let missing = b.get("/waitlist/not-a-uuid").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_provincial_view_draws_its_tables_and_charts_and_downloads_as_csv() {
    let h = HubWorld::new("hub-province");
    let mut b = h.coordinator().await;
    for i in 10..13 {
        register(&mut b, &register_fields(&h.spare(i).clone())).await;
    }
    b.submit("/matching", "/matching", &[]).await;
    let page = b.get("/province").await;
    let html = page.ok().to_owned();
    assert_page_headers(&page);
    assert!(html.contains("id=\"people-waiting\">3<"), "{html}");
    assert!(html.contains("<svg class=\"chart\" id=\"tier-chart\""));
    assert!(html.contains("<svg class=\"chart\" id=\"capacity-chart\""));
    assert!(html.contains("<svg class=\"chart\" id=\"decisions-chart\""));
    assert!(html.contains("<th scope=\"row\">Smithers</th>"), "{html}");
    assert!(!html.contains("style=") && !html.contains("<script>"));
    let csv = b.get("/province.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("attach-province-")
    );
    assert!(csv.text.contains("table,measure,value"));
    assert!(
        csv.text.contains("summary,people_waiting,3"),
        "{}",
        csv.text
    );
    assert!(
        csv.text.contains("communities,Smithers,3,0,0,3,"),
        "{}",
        csv.text
    );
    let mut anon = h.browser();
    assert!(
        anon.get("/province.csv")
            .await
            .location()
            .starts_with("/login")
    );
}

#[tokio::test]
async fn a_coordinator_sees_every_clinic_s_attachments_for_billing_and_downloads_them() {
    use attach::domain::matching::Decision;
    let h = HubWorld::new("hub-billing");
    let mut b = h.coordinator().await;
    let p = h.spare(10).clone();
    register(&mut b, &register_fields(&p)).await;
    let ran = b.submit("/matching", "/matching", &[]).await;
    assert!(ran.location().contains("offers=1"), "{}", ran.location());

    // Nothing attached yet: the page opens on this month with no record.
    let html = b.get("/attachments").await.ok().to_owned();
    assert!(
        html.contains("from=\"2026-11-01\"") || html.contains("value=\"2026-11-01\""),
        "{html}"
    );
    assert!(html.contains("0 attachment record(s)"), "{html}");

    // The offer reaches the clinic, whose provider accepts and hears the person's yes; the
    // clinic's documents come back to the hub.
    for id in h.hub.doc_store().ids_with_prefix("inbox/").unwrap() {
        let doc = h.hub.doc_store().read(&id, |d| d.clone()).unwrap().unwrap();
        h.w.app().doc_store().merge_from(&id, &doc).unwrap();
    }
    let director = h.w.ids["director"];
    let offer =
        h.w.app()
            .inbox(director, h.w.a)
            .unwrap()
            .pop()
            .expect("the offer");
    let (id, provider) = (offer.offer.id, offer.offer.provider);
    let person = offer.offer.persons[0].person;
    h.w.app()
        .decide_offer(provider, h.w.a, id, Decision::Accept)
        .unwrap();
    h.w.app()
        .record_answer(provider, h.w.a, id, person, true, "")
        .unwrap();
    h.hub.merge_all_from(h.w.app()).unwrap();

    let html = b
        .get("/attachments?from=2026-11-01&to=2026-11-30")
        .await
        .ok()
        .to_owned();
    assert!(html.contains("1 attachment record(s)"), "{html}");
    assert!(html.contains(&p.phn.to_string()), "{html}");
    assert!(html.contains("provincial match"), "{html}");
    let file = b
        .get("/attachments/download?from=2026-11-01&to=2026-11-30")
        .await;
    assert_eq!(file.status, StatusCode::OK);
    assert!(
        file.text.contains(&p.phn.to_string()) && file.text.contains("98990"),
        "{}",
        file.text
    );
    let bad = b.get("/attachments?from=2026-11-01&to=soon").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.contains("YYYY-MM-DD"), "{}", bad.text);

    // Only coordinators: a browser that has not signed in is sent to sign in.
    let anon = h.browser().get("/attachments").await;
    assert!(anon.location().starts_with("/login"), "{}", anon.text);
}

#[tokio::test]
async fn clinic_measures_compare_counts_by_community_and_authority_with_small_cells_suppressed() {
    let h = HubWorld::new("hub-measures");
    // The clinic's node counts; the counts reach the hub with the clinic's documents.
    assert!(h.w.app().record_measures().unwrap() > 0);
    h.hub.merge_all_from(h.w.app()).unwrap();
    let mut b = h.coordinator().await;
    let page = b
        .get("/province/measures?measure=registry%3Adiabetes")
        .await;
    let html = page.ok().to_owned();
    assert_page_headers(&page);
    assert!(
        html.contains("<option value=\"registry:diabetes\" selected>"),
        "{html}"
    );
    let c = h
        .hub
        .province_comparison("registry:diabetes", h.hub.clinic_today())
        .unwrap();
    // The world's clinic with clinical records sent it; the other has none to count.
    assert_eq!(c.clinics_sent, 1);
    assert!(
        html.contains(&format!("id=\"measure-sent\">1 of {} clinics", c.clinics)),
        "{html}"
    );
    assert!(
        html.contains("<th scope=\"row\">Northern Health</th>"),
        "{html}"
    );
    assert!(html.contains("<th scope=\"row\">Smithers (Northern Health)</th>"));
    let cell = c.authorities[0].communities[0].clinics[0].cell;
    assert!(html.contains(&cell.label()), "{html}");
    assert!(!html.contains("style=") && !html.contains("<script>"));
    // Every measure's page draws; what it shows of each count follows the rule.
    for m in attach::app::comparison_measures() {
        let url = format!("/province/measures?measure={}", m.key.replace(':', "%3A"));
        let html = b.get(&url).await.ok().to_owned();
        for small in 1..5 {
            assert!(
                !html.contains(&format!("({small} of ")),
                "{}: a numerator of {small} shown",
                m.key
            );
        }
    }
    // A month that is not one, and a measure that is not there, are named.
    let bad = b.get("/province/measures?month=soon").await;
    assert!(bad.text.contains("soon"), "{}", bad.text);
    assert!(bad.status.is_client_error());
    let bad = b.get("/province/measures?measure=registry%3Agout").await;
    assert!(bad.status.is_client_error());
    assert!(bad.text.contains("registry:gout"), "{}", bad.text);
    let mut anon = h.browser();
    assert!(
        anon.get("/province/measures")
            .await
            .location()
            .starts_with("/login")
    );
}
