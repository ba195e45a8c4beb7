//! Router tests of the sync page: who sees it, who may enrol the node or make it try now,
//! and what a clinic reads when the node runs without sync, is not enrolled, is given a
//! malformed code or a hub it cannot reach.

use attach_sync::EnrolmentCode;
use axum::http::StatusCode;

use super::{TempDir, World, assert_page_headers};

fn good_code() -> String {
    EnrolmentCode {
        secret: [1; 10],
        ca_pin: [2; 10],
    }
    .to_string()
}

#[tokio::test]
async fn members_read_that_sync_is_not_running_and_cannot_act_on_it() {
    let w = World::new("sync-off");
    let page_path = format!("/c/{}/sync", w.a);

    let mut patel = w.signed_in("drpatel").await;
    let page = patel.get(&page_path).await;
    let html = page.ok();
    assert_page_headers(&page);
    assert!(html.contains("Sync is not running on this node"), "{html}");
    assert!(html.contains(&format!(
        "href=\"{page_path}\" aria-current=\"page\">Sync</a>"
    )));
    assert!(!html.contains("Enrol with the hub"), "not for a physician");
    assert!(!page.contains("style=\""), "no inline style");
    // The link is in every clinic page's navigation.
    let home = patel.get(&format!("/c/{}/statuses", w.a)).await;
    assert!(home.ok().contains(&format!("href=\"{page_path}\"")));

    // A physician may neither enrol nor retry, whatever the node runs.
    let refused = patel
        .submit(
            &page_path,
            &format!("{page_path}/enrol"),
            &[("hub", "127.0.0.1:1"), ("code", good_code().as_str())],
        )
        .await;
    assert!(
        refused
            .status_is(StatusCode::FORBIDDEN)
            .contains("account manager")
    );
    let refused = patel
        .submit(&page_path, &format!("{page_path}/retry"), &[])
        .await;
    refused.status_is(StatusCode::FORBIDDEN);

    // The manager sees the form; asking for a try says the node has no sync.
    let ((clinic, manager), _) = w.synced_clinic();
    let page_path = format!("/c/{clinic}/sync");
    let mut director = w.signed_in(manager).await;
    let page = director.get(&page_path).await;
    assert!(page.ok().contains("Enrol with the hub"));
    let answer = director
        .submit(&page_path, &format!("{page_path}/retry"), &[])
        .await;
    assert!(
        answer
            .status_is(StatusCode::SERVICE_UNAVAILABLE)
            .contains("runs without sync")
    );

    // Without the CSRF token nothing is done.
    let forged = director.post_form(&format!("{page_path}/retry"), &[]).await;
    forged.status_is(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_sync_page_of_a_clinic_is_not_found_by_outsiders() {
    let w = World::new("sync-outsider");
    let mut bravo = w.signed_in("drbravo").await;
    let page = bravo.get(&format!("/c/{}/sync", w.a)).await;
    page.status_is(StatusCode::NOT_FOUND);
    // B's director manages B, not A: A's forms are not found either.
    let mut bdirector = w.signed_in("bdirector").await;
    let token = bdirector.get(&format!("/c/{}/sync", w.b)).await.csrf();
    let answer = bdirector
        .post_form(
            &format!("/c/{}/sync/enrol", w.a),
            &[
                ("csrf", token.as_str()),
                ("hub", "127.0.0.1:1"),
                ("code", good_code().as_str()),
            ],
        )
        .await;
    answer.status_is(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn enrolment_problems_are_shown_on_the_form_with_what_was_typed() {
    let mut w = World::new("sync-enrol");
    let dir = TempDir::new("sync-enrol-files");
    w.with_sync(&dir.0);
    let ((clinic, manager), (other, other_manager)) = w.synced_clinic();
    let page_path = format!("/c/{clinic}/sync");
    let enrol = format!("{page_path}/enrol");
    let mut b = w.signed_in(manager).await;

    // Not enrolled: said in words, with what to do.
    let page = b.get(&page_path).await;
    let html = page.ok();
    assert!(html.contains("No: this node is not enrolled"), "{html}");
    assert!(html.contains("An account manager can enrol it"), "{html}");
    for set in [
        "Clinic profile, members and delegations",
        "User accounts",
        "Patient panels",
        "Match offers",
    ] {
        assert!(html.contains(set), "{set}");
    }
    assert!(html.contains("Last successful sync</dt>\n  <dd id=\"sync-last-success\">never"));

    // A malformed code: 422, the message by the code field, the typed values kept.
    let answer = b
        .submit(
            &page_path,
            &enrol,
            &[("hub", "hub.example.ca:7443"), ("code", "ABC-123")],
        )
        .await;
    let html = answer.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"enrol-code-error\""), "{html}");
    assert!(
        html.contains("an enrolment code has 32 letters and digits"),
        "{html}"
    );
    assert!(html.contains("value=\"hub.example.ca:7443\""), "{html}");
    assert!(html.contains("value=\"ABC-123\""), "{html}");

    // A malformed address.
    let answer = b
        .submit(
            &page_path,
            &enrol,
            &[("hub", "hub.example.ca"), ("code", &good_code())],
        )
        .await;
    let html = answer.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"enrol-hub-error\""), "{html}");
    assert!(html.contains("host:port"), "{html}");

    // A hub that cannot be reached: said by the address, nothing enrolled.
    let code = good_code();
    let answer = b
        .submit(
            &page_path,
            &enrol,
            &[("hub", "127.0.0.1:1"), ("code", &code)],
        )
        .await;
    let html = answer.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"enrol-hub-error\""), "{html}");
    assert!(
        html.contains("The hub at 127.0.0.1:1 cannot be reached"),
        "{html}"
    );
    assert!(html.contains(&format!("value=\"{code}\"")), "{html}");
    assert!(
        b.get(&page_path)
            .await
            .ok()
            .contains("No: this node is not enrolled")
    );

    // Try now: back to the page with a fixed confirmation.
    let answer = b
        .submit(&page_path, &format!("{page_path}/retry"), &[])
        .await;
    assert_eq!(answer.location(), format!("{page_path}?done=retrying"));
    let page = b.get(&answer.location()).await;
    assert!(page.ok().contains("The node is trying the hub now."));

    // The other clinic held on this node cannot take its sync over.
    let mut o = w.signed_in(other_manager).await;
    let other_page = format!("/c/{other}/sync");
    let answer = o
        .submit(
            &other_page,
            &format!("{other_page}/enrol"),
            &[("hub", "127.0.0.1:1"), ("code", &code)],
        )
        .await;
    assert!(
        answer
            .status_is(StatusCode::CONFLICT)
            .contains("syncs the first one only")
    );
}
