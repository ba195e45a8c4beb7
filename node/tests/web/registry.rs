//! Router tests of the registry pages: clinic details, members, managers, statuses,
//! delegation, conflicts and member history.

use std::sync::Arc;

use attach::app::{App, EntryUpdate, PanelQuery};
use attach::domain::PatientStatus;
use axum::http::StatusCode;

use super::{Page, TempDir, World, assert_page_headers};

/// The `value` of the first input named `name` on the page.
fn input_value(page: &Page, name: &str) -> String {
    text_after(&page.text, &format!("name=\"{name}\" value=\""), '"')
}

/// The text after the first `marker` on the page, up to `end`.
fn text_after(html: &str, marker: &str, end: char) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker}: {html}"))
        + marker.len();
    let stop = html[start..].find(end).unwrap() + start;
    html[start..stop].to_owned()
}

/// Posts the sign-in form from a fresh browser; the answer says whether it worked.
async fn sign_in_with(w: &World, username: &str, password: &str) -> Page {
    let mut b = w.browser();
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

/// A complete, valid clinic profile form with `phone` as given.
fn profile(phone: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", "Bulkley Valley Family Practice".to_owned()),
        ("facility_number", "V0J2N0".to_owned()),
        ("address.street", "3840 2nd Ave".to_owned()),
        ("address.city", "Smithers".to_owned()),
        ("address.province", "BC".to_owned()),
        ("address.postal_code", "V0J 2N0".to_owned()),
        ("phone", phone.to_owned()),
        ("fax", "250-555-0198".to_owned()),
        ("hours.1.opens", "08:30".to_owned()),
        ("hours.1.closes", "17:00".to_owned()),
    ]
}

fn fields<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn every_registry_page_renders_for_the_director() {
    let w = World::new("reg-pages");
    let mut b = w.signed_in("director").await;
    let base = format!("/c/{}", w.a);
    for (path, marker) in [
        ("clinic", "Clinic details"),
        ("members", "Pending join requests"),
        (&format!("members/{}", w.id("drnguyen")), "Dr. Minh Nguyen"),
        ("statuses", "Create a status"),
        ("delegations", "Waiting for someone else"),
        ("conflicts", "There are no conflicts to review."),
    ] {
        let page = b.get(&format!("{base}/{path}")).await;
        assert!(page.ok().contains(marker), "{path}: {}", page.text);
        assert_page_headers(&page);
        assert!(!page.contains("style=\""), "{path}: no inline style");
    }
    // The members list: one row per member, with the last change and who made it.
    let page = b.get(&format!("{base}/members")).await;
    assert!(page.contains("<tr id=\"member-drnguyen\">"));
    assert!(page.contains("by Dana Whitford"));
}

#[tokio::test]
async fn clinic_details_are_saved_shown_with_who_changed_them_and_refused_by_the_field() {
    let w = World::new("reg-clinic");
    let mut b = w.signed_in("director").await;
    let page_url = format!("/c/{}/clinic", w.a);
    let r = b
        .submit(&page_url, &page_url, &fields(&profile("250-555-0199")))
        .await;
    assert_eq!(r.location(), format!("{page_url}?done=profile"));
    let page = b.get(&r.location()).await;
    assert!(page.ok().contains("The clinic details were saved."));
    assert!(page.contains("value=\"250-555-0199\""));
    assert!(page.contains("value=\"08:30\""), "opening hours kept");
    assert!(page.contains("by Dana Whitford (update clinic profile)"));

    // A bad phone: 422, the message by the field, everything typed still there.
    let mut bad = profile("12");
    bad[0].1 = "Renamed Practice".to_owned();
    let r = b.submit(&page_url, &page_url, &fields(&bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("id=\"profile-phone\" name=\"phone\" type=\"tel\" value=\"12\""));
    assert!(r.contains(
        "aria-invalid=\"true\" aria-describedby=\"profile-phone-hint profile-phone-error\""
    ));
    assert!(r.contains("id=\"profile-phone-error\""));
    assert!(r.contains("value=\"Renamed Practice\""));
    // One time of two for a day: shown by that day.
    let mut half = profile("250-555-0199");
    half.push(("hours.2.opens", "09:00".to_owned()));
    let r = b.submit(&page_url, &page_url, &fields(&half)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("id=\"hours-2-error\""));
    // Nothing was saved.
    let page = b.get(&page_url).await;
    assert!(!page.contains("Renamed Practice"));

    // A location is added, then its bad postal code is refused by its own form.
    let action = format!("{page_url}/locations");
    let r = b
        .submit(
            &page_url,
            &action,
            &[
                ("name", "Telkwa satellite"),
                ("address.street", "1 Main St"),
                ("address.city", "Telkwa"),
                ("address.province", "BC"),
                ("address.postal_code", "V0J 2X0"),
                ("phone", "250-555-0142"),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("{page_url}?done=location"));
    let page = b.get(&page_url).await;
    assert!(
        page.ok()
            .contains("<th scope=\"row\">Telkwa satellite</th>")
    );
    let id = input_value(&page, "location");
    let r = b
        .submit(
            &page_url,
            &action,
            &[
                ("location", id.as_str()),
                ("name", "Telkwa satellite"),
                ("address.province", "BC"),
                ("address.postal_code", "nowhere"),
                ("phone", "250-555-0142"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains(&format!("id=\"loc-{id}-address-postal_code-error\"")));
    assert!(r.contains("value=\"nowhere\""));
}

#[tokio::test]
async fn everyone_reads_the_clinic_details_but_only_managers_get_the_form() {
    let w = World::new("reg-clinic-read");
    let mut b = w.signed_in("drnguyen").await;
    let page_url = format!("/c/{}/clinic", w.a);
    let page = b.get(&page_url).await;
    assert!(page.ok().contains("id=\"clinic-facts\""));
    assert!(!page.contains("Save clinic details"));
    let r = b
        .submit(&page_url, &page_url, &fields(&profile("250-555-0199")))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// Every POST form of the registry pages, with fields that would be accepted.
fn forms(w: &World) -> Vec<(String, Vec<(&'static str, String)>)> {
    let base = format!("/c/{}", w.a);
    let nguyen = w.id("drnguyen");
    vec![
        (format!("{base}/clinic"), profile("250-555-0199")),
        (
            format!("{base}/clinic/locations"),
            vec![("name", "Forged".to_owned())],
        ),
        (
            format!("{base}/members"),
            vec![
                ("username", "forged".to_owned()),
                ("display_name", "Forged".to_owned()),
                ("role", "other_staff".to_owned()),
            ],
        ),
        (
            format!("{base}/members/{nguyen}/action"),
            vec![("action", "deactivate".to_owned())],
        ),
        (format!("{base}/members/{nguyen}/reset-password"), vec![]),
        (
            format!("{base}/managers/secondary"),
            vec![("user", nguyen.to_string())],
        ),
        (
            format!("{base}/managers/primary"),
            vec![("user", nguyen.to_string())],
        ),
        (
            format!("{base}/statuses"),
            vec![
                ("name", "Forged".to_owned()),
                ("definition", "forged".to_owned()),
            ],
        ),
        (
            format!("{base}/statuses/{}", attach::domain::StatusId::new()),
            vec![("action", "retire".to_owned())],
        ),
        (
            format!("{base}/delegations"),
            vec![("other", w.id("moa.roy").to_string())],
        ),
        (
            format!("{base}/delegations/{}", attach::domain::DelegationId::new()),
            vec![("action", "revoke".to_owned())],
        ),
        (
            format!("{base}/conflicts/settle"),
            vec![
                ("key", "primary".to_owned()),
                ("version", "x".to_owned()),
                ("chosen", "0".to_owned()),
            ],
        ),
    ]
}

#[tokio::test]
async fn every_registry_form_needs_the_session_token() {
    let w = World::new("reg-csrf");
    let mut b = w.signed_in("director").await;
    for (action, fields) in forms(&w) {
        let mut all: Vec<(&str, &str)> = vec![("csrf", "forged-token")];
        all.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let r = b.post_form(&action, &all).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}: {}", r.text);
        assert!(r.contains("This form has expired"), "{action}");
        // Without any token at all, too.
        let bare: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = b.post_form(&action, &bare).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
    }
    // Nothing changed.
    let members = w.app().members(w.id("director"), w.a).unwrap();
    let nguyen = members.iter().find(|m| m.username == "drnguyen").unwrap();
    assert_eq!(nguyen.membership.state, attach::domain::MemberState::Active);
    assert!(!members.iter().any(|m| m.username == "forged"));
}

#[tokio::test]
async fn a_director_of_another_clinic_finds_nothing_here() {
    let w = World::new("reg-cross");
    let mut b = w.signed_in("bdirector").await;
    let base = format!("/c/{}", w.a);
    for path in [
        "clinic",
        "members",
        &format!("members/{}", w.id("drnguyen")),
        "statuses",
        "delegations",
        "conflicts",
    ] {
        let r = b.get(&format!("{base}/{path}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!r.contains("Dr. Minh Nguyen"));
    }
    // Forms with this director's own valid token are refused the same way.
    let own = b.get(&format!("/c/{}/members", w.b)).await;
    let token = own.csrf();
    for (action, fields) in forms(&w) {
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let r = b.post_form(&action, &all).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}");
    }
    let nguyen = w
        .app()
        .members(w.id("director"), w.a)
        .unwrap()
        .into_iter()
        .find(|m| m.username == "drnguyen")
        .unwrap();
    assert_eq!(nguyen.membership.state, attach::domain::MemberState::Active);
}

#[tokio::test]
async fn a_member_who_is_not_a_manager_reads_but_cannot_act() {
    let w = World::new("reg-nonmanager");
    let mut b = w.signed_in("drnguyen").await;
    let base = format!("/c/{}", w.a);
    let page = b.get(&format!("{base}/members")).await;
    let html = page.ok();
    assert!(html.contains("<tr id=\"member-director\">"));
    for action_marker in [
        ">Deactivate</button>",
        ">Activate</button>",
        "reset-password",
        "Add member",
        "/managers/",
    ] {
        assert!(!html.contains(action_marker), "{action_marker}");
    }
    let page = b.get(&format!("{base}/statuses")).await;
    assert!(!page.ok().contains("Create a status"));
    // Another member's history is not theirs to see; their own is.
    let page = b.get(&format!("{base}/members/{}", w.id("drpatel"))).await;
    assert!(
        page.ok()
            .contains("account managers and Dr. Anika Patel can see")
    );
    let page = b.get(&format!("{base}/members/{}", w.id("drnguyen"))).await;
    assert!(page.ok().contains("id=\"history\""));
    // Conflicts are for account managers.
    let r = b.get(&format!("{base}/conflicts")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Every manager action, with a valid token, is refused.
    let token = page.csrf();
    for (action, fields) in forms(&w) {
        if action.ends_with("/delegations") {
            continue; // Not a manager action: a provider may start an endorsement.
        }
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let r = b.post_form(&action, &all).await;
        assert!(
            matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{action}: {} {}",
            r.status,
            r.text
        );
        if action.contains("/members")
            || action.contains("/managers")
            || action.ends_with("/clinic")
        {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
        }
    }
    let director = w.id("director");
    let c = w.app().clinic(director, w.a).unwrap();
    assert_eq!(c.primary, director, "still the primary");
}

#[tokio::test]
async fn a_deactivated_member_is_refused_at_once() {
    let w = World::new("reg-deactivate");
    let mut nguyen = w.signed_in("drnguyen").await;
    let members = format!("/c/{}/members", w.a);
    nguyen.get(&members).await.ok();
    let mut b = w.signed_in("director").await;
    let page = b.get(&members).await;
    // The row's Deactivate button, as a person (or the browser test) finds it.
    let row_start = page.text.find("<tr id=\"member-drnguyen\">").unwrap();
    let row_end = page.text[row_start..].find("</tr>").unwrap() + row_start;
    let row = &page.text[row_start..row_end];
    assert!(row.contains(">Deactivate</button>"));
    assert!(row.contains("data-confirm="));
    let r = b
        .submit(
            &members,
            &format!("{members}/{}/action", w.id("drnguyen")),
            &[("action", "deactivate")],
        )
        .await;
    assert_eq!(r.location(), format!("{members}?done=deactivate"));
    let page = b.get(&r.location()).await;
    assert!(page.ok().contains("The member was deactivated"));
    let row_start = page.text.find("<tr id=\"member-drnguyen\">").unwrap();
    assert!(page.text[row_start..].contains("Deactivated"));

    // Their session ended: the next page sends them to sign in, and they cannot.
    let r = nguyen.get(&members).await;
    assert!(r.location().starts_with("/login"), "{}", r.location());
    let r = sign_in_with(&w, "drnguyen", "demo-drnguyen-pw").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The member's page shows who did it and when, and the way back.
    let page = b.get(&format!("{members}/{}", w.id("drnguyen"))).await;
    let html = page.ok();
    assert!(html.contains(">Activate</button>"));
    assert!(html.contains("deactivate member Dr. Minh Nguyen"), "{html}");
    assert!(html.contains("<td>Dana Whitford</td>"));
}

#[tokio::test]
async fn a_reset_password_is_shown_once_and_signs_in() {
    let w = World::new("reg-reset");
    let mut b = w.signed_in("director").await;
    let members = format!("/c/{}/members", w.a);
    let r = b
        .submit(
            &members,
            &format!("{members}/{}/reset-password", w.id("drnguyen")),
            &[],
        )
        .await;
    assert_page_headers(&r);
    let html = r.ok();
    assert!(html.contains("expires in 48 hours"));
    assert!(html.contains("changed at the first sign-in"));
    let temp = text_after(html, "id=\"temporary-password\">", '<');
    assert!(temp.len() >= 12, "{temp}");
    // Not anywhere else afterwards.
    let page = b.get(&members).await;
    assert!(!page.ok().contains(&temp));

    let r = sign_in_with(&w, "drnguyen", temp.as_str()).await;
    assert_eq!(r.location(), "/password");
}

#[tokio::test]
async fn a_new_member_gets_a_temporary_password_and_names_are_escaped() {
    let w = World::new("reg-add");
    let mut b = w.signed_in("director").await;
    let members = format!("/c/{}/members", w.a);
    let r = b
        .submit(
            &members,
            &members,
            &[
                ("username", "xss.person"),
                ("display_name", "<script>alert(1)</script>"),
                ("email", "x@example.org"),
                ("role", "other_staff"),
                ("activate", "yes"),
            ],
        )
        .await;
    let html = r.ok();
    assert!(html.contains("id=\"temporary-password\""));
    assert!(!html.contains("<script>alert(1)"));
    let temp = text_after(html, "id=\"temporary-password\">", '<');
    let page = b.get(&members).await;
    let html = page.ok();
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("<tr id=\"member-xss.person\">"));
    // Activated at once: they can sign in with the temporary password.
    let r = sign_in_with(&w, "xss.person", temp.as_str()).await;
    assert_eq!(r.location(), "/password");

    // A form without a role is shown again with the message by the field, values kept.
    let r = b
        .submit(
            &members,
            &members,
            &[("username", "kept.name"), ("display_name", "Kept Name")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("id=\"add-role-error\""));
    assert!(r.contains("value=\"kept.name\"") && r.contains("value=\"Kept Name\""));
    // Someone already here is refused by the username field.
    let r = b
        .submit(
            &members,
            &members,
            &[("username", "drnguyen"), ("role", "physician")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("id=\"add-username-error\""));
}

#[tokio::test]
async fn the_primary_assigns_the_secondary_and_hands_over() {
    let w = World::new("reg-managers");
    let mut b = w.signed_in("director").await;
    let base = format!("/c/{}", w.a);
    let members = format!("{base}/members");
    let page = b.get(&members).await;
    assert!(page.ok().contains("data-confirm=\"Hand over the primary"));
    let nguyen = w.id("drnguyen").to_string();
    let r = b
        .submit(
            &members,
            &format!("{base}/managers/secondary"),
            &[("user", nguyen.as_str())],
        )
        .await;
    assert_eq!(r.location(), format!("{members}?done=secondary"));
    assert_eq!(
        w.app().clinic(w.id("director"), w.a).unwrap().secondary,
        Some(w.id("drnguyen"))
    );
    let patel = w.id("drpatel").to_string();
    let r = b
        .submit(
            &members,
            &format!("{base}/managers/primary"),
            &[("user", patel.as_str())],
        )
        .await;
    assert_eq!(r.location(), format!("{members}?done=primary"));
    assert_eq!(
        w.app().clinic(w.id("director"), w.a).unwrap().primary,
        w.id("drpatel")
    );
    // No longer the primary: the manager forms are gone and a second handover is refused.
    let page = b.get(&members).await;
    assert!(!page.ok().contains("/managers/primary"));
    let r = b
        .submit(
            &members,
            &format!("{base}/managers/primary"),
            &[("user", nguyen.as_str())],
        )
        .await;
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        r.status
    );
}

#[tokio::test]
async fn statuses_are_created_described_and_retired() {
    let w = World::new("reg-statuses");
    let mut b = w.signed_in("director").await;
    let page_url = format!("/c/{}/statuses", w.a);
    let r = b
        .submit(
            &page_url,
            &page_url,
            &[
                ("name", "Transferring"),
                ("definition", "Moving to another clinic"),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("{page_url}?done=created"));
    let page = b.get(&r.location()).await;
    let html = page.ok();
    assert!(html.contains("<th scope=\"row\">Transferring</th>"));
    assert!(html.contains("Moving to another clinic"));
    assert!(html.contains("by Dana Whitford"));
    assert!(html.contains("create patient status Transferring"));
    let id = text_after(html, "<tr id=\"status-", '"');

    // A duplicate name is refused by its field, the typed definition kept.
    let r = b
        .submit(
            &page_url,
            &page_url,
            &[("name", "transferring"), ("definition", "Typed again")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains("id=\"new-name-error\""));
    assert!(r.contains(">Typed again</textarea>"));

    // An empty definition is refused by that status's field.
    let action = format!("{page_url}/{id}");
    let r = b.submit(&page_url, &action, &[("definition", "  ")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.contains(&format!("id=\"def-{id}-error\"")));
    let r = b
        .submit(&page_url, &action, &[("definition", "End-of-life care")])
        .await;
    assert_eq!(r.location(), format!("{page_url}?done=changed"));
    let r = b.submit(&page_url, &action, &[("action", "retire")]).await;
    assert_eq!(r.location(), format!("{page_url}?done=retired"));
    let page = b.get(&page_url).await;
    let html = page.ok();
    assert!(html.contains("End-of-life care"));
    assert!(html.contains("<td>Retired</td>"));
    let status = w
        .app()
        .clinic(w.id("director"), w.a)
        .unwrap()
        .statuses
        .into_values()
        .next()
        .unwrap();
    assert!(status.retired);
}

#[tokio::test]
async fn delegations_are_started_confirmed_and_revoked_through_forms() {
    let w = World::new("reg-delegations");
    let base = format!("/c/{}", w.a);
    let page_url = format!("{base}/delegations");
    // Luc Roy's endorsement by Dr. Nguyen waits for him.
    let mut roy = w.signed_in("moa.roy").await;
    let page = roy.get(&page_url).await;
    let html = page.ok();
    assert!(html.contains("Waiting for your confirmation"));
    assert!(html.contains("Awaits your confirmation"));
    let id = text_after(html, "<tr id=\"delegation-", '"');
    // Dr. Nguyen sees it as waiting for someone else, with no confirm button.
    let mut nguyen = w.signed_in("drnguyen").await;
    let page = nguyen.get(&page_url).await;
    assert!(page.ok().contains("Waiting for Luc Roy to confirm"));
    assert!(!page.contains(">Confirm</button>"));

    let action = format!("{page_url}/{id}");
    let r = roy
        .submit(&page_url, &action, &[("action", "confirm")])
        .await;
    assert_eq!(r.location(), format!("{page_url}?done=confirm"));
    let page = roy.get(&r.location()).await;
    assert!(page.ok().contains("The endorsement was confirmed"));
    assert!(!page.contains("Awaits your confirmation"));

    // Dr. Patel starts one for Luc Roy; he asks nobody, Dr. Patel waits.
    let roy_id = w.id("moa.roy").to_string();
    let mut patel = w.signed_in("drpatel").await;
    let r = patel
        .submit(&page_url, &page_url, &[("other", roy_id.as_str())])
        .await;
    assert_eq!(r.location(), format!("{page_url}?done=started"));
    let page = roy.get(&page_url).await;
    assert!(page.ok().contains("Awaits your confirmation"));

    // The director (an account manager) revokes Dr. Nguyen's.
    let mut director = w.signed_in("director").await;
    let r = director
        .submit(&page_url, &action, &[("action", "revoke")])
        .await;
    assert_eq!(r.location(), format!("{page_url}?done=revoke"));
    let page = director.get(&page_url).await;
    let html = page.ok();
    let revoked = html.find("id=\"revoked\"").unwrap();
    assert!(html[revoked..].contains(&format!("delegation-{id}")));
    assert!(html[revoked..].contains("by Dana Whitford"));
    // A stale confirm of a revoked endorsement is refused.
    let r = roy
        .submit(&page_url, &action, &[("action", "confirm")])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_settled_conflict_leaves_the_page() {
    let w = World::new("reg-conflicts");
    // A second replica of the node, apart: both add the same patient to different panels.
    let dir = TempDir::new("reg-conflicts-b");
    let other = App::open_at(&dir.0, 8, 30, Arc::new(w.clock.clone())).unwrap();
    other.merge_all_from(w.app()).unwrap();
    let person = w.spares[0].clone();
    w.app()
        .add_patient(
            w.id("drpatel"),
            w.a,
            w.id("drpatel"),
            person.clone(),
            PatientStatus::Active,
        )
        .unwrap();
    w.clock.advance(time::Duration::minutes(2));
    other
        .add_patient(
            w.id("drnguyen"),
            w.a,
            w.id("drnguyen"),
            person,
            PatientStatus::Active,
        )
        .unwrap();
    w.app().merge_all_from(&other).unwrap();

    let mut b = w.signed_in("director").await;
    let page_url = format!("/c/{}/conflicts", w.a);
    let page = b.get(&page_url).await;
    let html = page.ok();
    assert!(html.contains("is on more than one panel"));
    assert!(html.contains("on the panel of Dr. Anika Patel"));
    assert!(html.contains("on the panel of Dr. Minh Nguyen"));
    assert!(html.contains("Kept now"));
    let key = input_value(&page, "key");
    let version = input_value(&page, "version");
    // A stale choice is refused and changes nothing.
    let r = b
        .submit(
            &page_url,
            &format!("{page_url}/settle"),
            &[("key", key.as_str()), ("version", "0000"), ("chosen", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = b
        .submit(
            &page_url,
            &format!("{page_url}/settle"),
            &[
                ("key", key.as_str()),
                ("version", version.as_str()),
                ("chosen", "1"),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("{page_url}?done=settled"));
    let page = b.get(&r.location()).await;
    let html = page.ok();
    assert!(html.contains("The conflict was settled."));
    assert!(html.contains("There are no conflicts to review."));
    assert!(!html.contains("is on more than one panel"));
    // The other replica agrees once it has the settlement.
    other.merge_all_from(w.app()).unwrap();
    assert!(other.conflicts(w.id("director"), w.a).unwrap().is_empty());
}

#[tokio::test]
async fn a_field_edited_apart_shows_both_sides_and_their_authors_until_settled() {
    let w = World::new("reg-conflict-field");
    let dir = TempDir::new("reg-conflict-field-b");
    let other = App::open_at(&dir.0, 8, 30, Arc::new(w.clock.clone())).unwrap();
    other.merge_all_from(w.app()).unwrap();
    let (patel, moa) = (w.id("drpatel"), w.id("moa.chen"));
    let query = PanelQuery {
        limit: 1,
        ..Default::default()
    };
    let entry = w.app().panel_page(patel, w.a, patel, &query).unwrap().rows[0]
        .entry
        .clone();
    for (app, who, phone) in [
        (w.app(), patel, "250-555-0101"),
        (&other, moa, "250-555-0102"),
    ] {
        let mut details = entry.details.clone();
        details.contact.phone = phone.to_owned();
        let update = EntryUpdate {
            details: Some(details),
            ..Default::default()
        };
        app.update_entry(who, w.a, patel, entry.id, update).unwrap();
    }
    w.app().merge_all_from(&other).unwrap();

    let mut b = w.signed_in("director").await;
    let page_url = format!("/c/{}/conflicts", w.a);
    let page = b.get(&page_url).await;
    let html = page.ok();
    assert!(html.contains(&format!(
        "{}, {} on the panel of Dr. Anika Patel: phone",
        entry.details.family_name, entry.details.given_names
    )));
    for text in [
        "250-555-0101",
        "250-555-0102",
        "<td>Dr. Anika Patel</td>",
        "<td>Grace Chen</td>",
    ] {
        assert!(html.contains(text), "{text}");
    }
    assert_eq!(html.matches("Kept now").count(), 1);
    // Keep the side not kept now.
    let kept_first = html.find("Kept now").unwrap() < html.find("Not kept").unwrap();
    let chosen = if kept_first { "1" } else { "0" };
    let key = input_value(&page, "key");
    let version = input_value(&page, "version");
    let r = b
        .submit(
            &page_url,
            &format!("{page_url}/settle"),
            &[
                ("key", key.as_str()),
                ("version", version.as_str()),
                ("chosen", chosen),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("{page_url}?done=settled"));
    assert!(
        b.get(&page_url)
            .await
            .ok()
            .contains("There are no conflicts to review.")
    );
    let now = w.app().entry(patel, w.a, patel, entry.id).unwrap();
    assert!(now.conflicting_fields.is_empty());
    // Settling twice (an old page) is refused.
    let r = b
        .submit(
            &page_url,
            &format!("{page_url}/settle"),
            &[
                ("key", key.as_str()),
                ("version", version.as_str()),
                ("chosen", chosen),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}
