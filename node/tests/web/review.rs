//! Router tests of panel review: the worklist pages with their counts and filters, the status
//! rules form, bulk changes from a list, and the CSV and print versions of a list.

use attach::app::ReviewScope;
use attach::domain::{PatientStatus, ReviewQuery, Worklist};
use axum::http::{StatusCode, header};

use super::World;

fn review(w: &World) -> String {
    format!("/c/{}/review", w.a)
}

fn panel_review(w: &World, provider: &str) -> String {
    format!("/c/{}/panels/{}/review", w.a, w.id(provider))
}

fn rules(w: &World) -> String {
    format!("/c/{}/statuses/rules", w.a)
}

/// How many patients a worklist holds on Dr. Patel's panel, read through the app.
fn count(w: &World, list: Worklist) -> usize {
    let p = w.id("drpatel");
    w.app()
        .worklist_counts(p, w.a, ReviewScope::Provider(p))
        .unwrap()
        .into_iter()
        .find(|(l, _)| l.key() == list.key())
        .unwrap()
        .1
}

#[tokio::test]
async fn the_review_pages_answer_each_person_as_their_place_allows() {
    let w = World::new("review-access");
    let mut director = w.signed_in("director").await;
    let page = director.get(&review(&w)).await;
    let html = page.ok();
    for key in [
        "suggested-status",
        "mrp-unconfirmed",
        "mrp-one-side",
        "mrp-stale",
        "no-visit",
        "not-seen-since",
        "contact",
        "two-panels",
    ] {
        assert!(html.contains(&format!("id=\"worklist-{key}\"")), "{key}");
    }
    assert!(html.contains("id=\"review-table\""));
    // The director reviews every panel but changes none: no bulk form.
    assert!(!html.contains("id=\"bulk\""));

    let mut patel = w.signed_in("drpatel").await;
    assert!(
        patel
            .get(&panel_review(&w, "drpatel"))
            .await
            .ok()
            .contains("id=\"bulk\"")
    );
    patel
        .get(&panel_review(&w, "drnguyen"))
        .await
        .status_is(StatusCode::FORBIDDEN);
    // Staff who manage no panel have no clinic-wide list.
    let mut roy = w.signed_in("moa.roy").await;
    roy.get(&review(&w)).await.status_is(StatusCode::FORBIDDEN);
    // Another clinic's people do not see that the clinic exists.
    let mut other = w.signed_in("bdirector").await;
    other
        .get(&review(&w))
        .await
        .status_is(StatusCode::NOT_FOUND);

    // The dashboards carry the counts, linking to the lists.
    let dash = director.get(&format!("/c/{}/dashboard", w.a)).await;
    assert!(dash.ok().contains("id=\"worklist-counts\""));
    assert!(dash.contains(&format!("{}?worklist=no-visit", review(&w))));
}

#[tokio::test]
async fn filters_combine_and_a_bad_one_is_named() {
    let w = World::new("review-filters");
    let mut chen = w.signed_in("moa.chen").await;
    let url = format!(
        "{}?worklist=mrp-unconfirmed&min_age=18&max_age=64&status=active",
        panel_review(&w, "drpatel")
    );
    let html = chen.get(&url).await.ok().to_owned();
    let p = w.id("drpatel");
    let q = ReviewQuery::from_pairs(
        [
            ("worklist", "mrp-unconfirmed"),
            ("min_age", "18"),
            ("max_age", "64"),
            ("status", "active"),
        ],
        w.app().clinic_today(),
    )
    .unwrap();
    let rows = w
        .app()
        .review_rows(p, w.a, ReviewScope::Provider(p), &q)
        .unwrap();
    assert!(!rows.is_empty(), "the demo panel has such patients");
    assert_eq!(
        html.matches("name=\"entry\"").count(),
        rows.len().min(100),
        "one selectable row per patient on the list"
    );
    for r in rows.iter().take(100) {
        assert!(html.contains(&r.entry.details.phn.to_string()));
    }
    assert!(html.contains("MRP not confirmed"));

    let bad = chen
        .get(&format!(
            "{}?min_age=old&visit_from=2026-13-01",
            panel_review(&w, "drpatel")
        ))
        .await;
    let text = bad.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("id=\"filter-errors\""));
    assert!(text.contains("min_age"));
    assert!(text.contains("visit_from"));

    // The CSV holds the same list.
    let csv = chen
        .get(&format!(
            "{}/download?worklist=mrp-unconfirmed&min_age=18&max_age=64&status=active",
            panel_review(&w, "drpatel")
        ))
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(csv.text.trim_end().split("\r\n").count(), rows.len() + 1);
    // The printable page holds the whole list.
    let print = chen.get(&format!("{url}&print=1")).await;
    assert_eq!(print.ok().matches("name=\"entry\"").count(), rows.len());
}

#[tokio::test]
async fn a_rule_saved_on_the_form_suggests_and_a_bulk_accept_changes_every_match() {
    let w = World::new("review-bulk");
    // A physician is no account manager: the form is refused.
    let mut patel = w.signed_in("drpatel").await;
    let token = patel.get(&rules(&w)).await.csrf();
    patel
        .post_form(
            &rules(&w),
            &[
                ("csrf", &token),
                ("inactive.visit", "not_seen_for"),
                ("inactive.months", "24"),
            ],
        )
        .await
        .status_is(StatusCode::FORBIDDEN);

    let mut director = w.signed_in("director").await;
    // An impossible rule comes back with its field named, nothing stored.
    let refused = director
        .submit(
            &rules(&w),
            &rules(&w),
            &[("inactive.visit", "not_seen_for"), ("inactive.months", "0")],
        )
        .await;
    assert!(
        refused
            .status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("inactive.months")
    );
    assert_eq!(count(&w, Worklist::SuggestedStatus), 0);
    let saved = director
        .submit(
            &rules(&w),
            &rules(&w),
            &[
                ("inactive.definition", "Not seen here for two years"),
                ("inactive.visit", "not_seen_for"),
                ("inactive.months", "24"),
            ],
        )
        .await;
    assert!(saved.location().ends_with("/statuses/rules?done=rules"));
    let suggested = count(&w, Worklist::SuggestedStatus);
    assert!(
        suggested > 0,
        "the demo panel has patients not seen for two years"
    );

    // Grace Chen (endorsed by Dr. Patel) accepts every suggestion on the panel at once.
    let mut chen = w.signed_in("moa.chen").await;
    let list = format!("{}?worklist=suggested-status", panel_review(&w, "drpatel"));
    let page = chen.get(&list).await;
    assert!(page.ok().contains("id=\"bulk\""));
    let token = page.csrf();
    // Nothing ticked and not "all": the page says what to do.
    let none = chen
        .post_form(
            &format!("{}/bulk", panel_review(&w, "drpatel")),
            &[
                ("csrf", &token),
                ("back", "worklist=suggested-status"),
                ("action", "accept"),
            ],
        )
        .await;
    assert!(
        none.status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("select at least one patient")
    );
    // Without the session's token the form is refused.
    chen.post_form(
        &format!("{}/bulk", panel_review(&w, "drpatel")),
        &[
            ("back", "worklist=suggested-status"),
            ("all", "1"),
            ("action", "accept"),
        ],
    )
    .await
    .status_is(StatusCode::FORBIDDEN);
    assert_eq!(count(&w, Worklist::SuggestedStatus), suggested);

    let done = chen
        .post_form(
            &format!("{}/bulk", panel_review(&w, "drpatel")),
            &[
                ("csrf", &token),
                ("back", "worklist=suggested-status"),
                ("all", "1"),
                ("action", "accept"),
            ],
        )
        .await;
    assert!(
        done.location()
            .starts_with(&format!("{list}&done=bulk&bulk=")),
        "back to the same list: {}",
        done.location()
    );
    assert_eq!(count(&w, Worklist::SuggestedStatus), 0);
    let after = chen.get(&done.location()).await;
    assert!(
        after
            .ok()
            .contains("The change was made to the selected patients")
    );
    // The change can be undone from the page it returns to, as a second bulk change.
    assert!(after.contains("id=\"undo-bulk\""));
    let bulk = done.location().rsplit("bulk=").next().unwrap().to_owned();
    let undone = chen
        .post_form(
            &format!("/c/{}/review/undo", w.a),
            &[("csrf", &after.csrf()), ("bulk", &bulk), ("back", &list)],
        )
        .await;
    assert_eq!(undone.location(), format!("{list}&done=undone"));
    assert_eq!(count(&w, Worklist::SuggestedStatus), suggested);
    // And done again, for what follows.
    let token = chen.get(&list).await.csrf();
    chen.post_form(
        &format!("{}/bulk", panel_review(&w, "drpatel")),
        &[
            ("csrf", &token),
            ("back", "worklist=suggested-status"),
            ("all", "1"),
            ("action", "accept"),
        ],
    )
    .await
    .location();
    assert_eq!(count(&w, Worklist::SuggestedStatus), 0);
    // Every one is inactive now, with the change in its history by Grace Chen.
    let p = w.id("drpatel");
    let inactive = w
        .app()
        .review_rows(
            p,
            w.a,
            ReviewScope::Provider(p),
            &ReviewQuery::from_pairs([("status", "inactive")], w.app().clinic_today()).unwrap(),
        )
        .unwrap();
    assert!(inactive.len() >= suggested);
    let one = inactive
        .iter()
        .find(|r| {
            w.app()
                .entry_history(p, w.a, p, r.entry.id)
                .unwrap()
                .iter()
                .any(|h| h.message == "update patient: status (suggested)")
        })
        .expect("an accepted suggestion in a history");
    assert_eq!(one.entry.status, PatientStatus::Inactive);
}

#[tokio::test]
async fn each_side_of_the_mrp_and_the_contact_check_are_recorded_on_the_entry() {
    let w = World::new("review-entry");
    let p = w.id("drpatel");
    let entry = w
        .app()
        .review_rows(p, w.a, ReviewScope::Provider(p), &ReviewQuery::default())
        .unwrap()[0]
        .entry
        .id;
    let url = format!("/c/{}/panels/{p}/entries/{entry}", w.a);
    let mut chen = w.signed_in("moa.chen").await;
    let r = chen
        .submit(
            &url,
            &format!("{url}/mrp"),
            &[("side", "patient"), ("how", "phone")],
        )
        .await;
    assert_eq!(r.location(), format!("{url}?done=patient-mrp"));
    let r = chen
        .submit(
            &url,
            &format!("{url}/mrp"),
            &[("side", "provider"), ("how", "in_person")],
        )
        .await;
    assert_eq!(r.location(), format!("{url}?done=mrp"));
    let r = chen.submit(&url, &format!("{url}/contact"), &[]).await;
    assert_eq!(r.location(), format!("{url}?done=contact"));
    let page = chen.get(&url).await;
    let html = page.ok();
    let between = |id: &str| {
        let start = html.find(&format!("id=\"{id}\"")).unwrap();
        html[start..start + html[start..].find("</dd>").unwrap()].to_owned()
    };
    assert!(
        between("patient-mrp").contains("by Grace Chen, by phone"),
        "{}",
        between("patient-mrp")
    );
    assert!(between("mrp").contains("by Grace Chen, in person"));
    assert!(between("contact-verified").contains("by Grace Chen"));
    // A side or a way this node does not know is refused, nothing recorded.
    let r = chen
        .submit(
            &url,
            &format!("{url}/mrp"),
            &[("side", "neighbour"), ("how", "phone")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Dr. Nguyen may not change Dr. Patel's panel.
    let mut nguyen = w.signed_in("drnguyen").await;
    let token = nguyen.get(&format!("/c/{}/dashboard", w.a)).await.csrf();
    nguyen
        .post_form(&format!("{url}/contact"), &[("csrf", &token)])
        .await
        .status_is(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_msp_list_is_compared_decided_and_stays_decided_when_uploaded_again() {
    let w = World::new("review-msp");
    let p = w.id("drpatel");
    let panel: Vec<attach::domain::PatientDetails> = w
        .app()
        .review_rows(p, w.a, ReviewScope::Provider(p), &ReviewQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| r.entry.details)
        .collect();
    let newcomer =
        attach::app::demo_data::patients(4242, 1, attach::app::demo_data::fixture_today())
            .remove(0);
    assert!(panel.iter().all(|d| d.phn != newcomer.phn));
    let mut file = String::from("Surname,Given Name,PHN,Date of Birth,Sex,Payee Number\r\n");
    for (i, d) in panel[1..].iter().chain([&newcomer]).enumerate() {
        let family = if i == 0 {
            format!("{}-MSP", d.family_name)
        } else {
            d.family_name.clone()
        };
        file.push_str(&format!(
            "{family},{},{},{},{},A1234\r\n",
            d.given_names,
            d.phn,
            d.date_of_birth,
            attach::domain::sex_key(d.sex)
        ));
    }
    let base = format!("/c/{}/panels/{p}/msp", w.a);
    let mut chen = w.signed_in("moa.chen").await;
    let token = chen.get(&base).await.csrf();
    let r = chen
        .post_multipart(
            &format!("{base}/upload"),
            &[("csrf", &token)],
            ("file", "msp.csv", file.as_bytes()),
        )
        .await;
    assert_eq!(r.location(), format!("{base}?done=uploaded"));
    let page = chen.get(&r.location()).await;
    let html = page.ok();
    let count = |id: &str| {
        let start = html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id}"));
        let end = html[start..].find("</table>").unwrap() + start;
        html[start..end].matches("name=\"key\"").count()
    };
    assert_eq!(count("msp-only-msp"), 1);
    assert_eq!(count("msp-only-attach"), 1);
    assert_eq!(count("msp-differences"), 1);
    let key_of = |id: &str| {
        let start = html.find(&format!("id=\"{id}\"")).unwrap();
        let at = html[start..].find("name=\"key\" value=\"").unwrap() + start + 18;
        html[at..at + html[at..].find('"').unwrap()].to_owned()
    };
    let (add, diff) = (key_of("msp-only-msp"), key_of("msp-differences"));
    let token = page.csrf();
    let r = chen
        .post_form(
            &format!("{base}/decide"),
            &[("csrf", &token), ("key", &add), ("decision", "apply")],
        )
        .await;
    assert_eq!(r.location(), format!("{base}?done=applied"));
    let r = chen
        .post_form(
            &format!("{base}/decide"),
            &[("csrf", &token), ("key", &diff), ("decision", "dismiss")],
        )
        .await;
    assert_eq!(r.location(), format!("{base}?done=dismissed"));
    assert!(
        w.app()
            .review_rows(p, w.a, ReviewScope::Provider(p), &ReviewQuery::default())
            .unwrap()
            .iter()
            .any(|r| r.entry.details.phn == newcomer.phn),
        "the patient only on MSP's list was added"
    );
    // The same file again: only the line not yet decided is open.
    let r = chen
        .post_multipart(
            &format!("{base}/upload"),
            &[("csrf", &token)],
            ("file", "msp.csv", file.as_bytes()),
        )
        .await;
    let html = chen.get(&r.location()).await.ok().to_owned();
    assert!(!html.contains("id=\"msp-only-msp\""));
    assert!(!html.contains("id=\"msp-differences\""));
    assert!(html.contains("id=\"msp-only-attach\""));
    assert!(html.contains("id=\"msp-decided\""));
    // A file with a bad row is refused by row and column; nothing changes.
    let bad = "phn,family_name,given_names,date_of_birth,sex\r\n9123456780,A,B,1990-02-30,F\r\n";
    let r = chen
        .post_multipart(
            &format!("{base}/upload"),
            &[("csrf", &token)],
            ("file", "bad.csv", bad.as_bytes()),
        )
        .await;
    let text = r.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("id=\"msp-problems\""));
    assert!(text.contains("date_of_birth"));
    // Dr. Nguyen sees nothing of Dr. Patel's reconciliation.
    let mut nguyen = w.signed_in("drnguyen").await;
    nguyen.get(&base).await.status_is(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_review_task_is_set_up_from_a_list_comes_due_in_the_header_and_is_marked_done() {
    let w = World::new("review-tasks");
    let tasks = format!("/c/{}/review/tasks", w.a);
    let mut director = w.signed_in("director").await;
    // The list's "Make this a review task" link fills the form in.
    let list = director
        .get(&format!(
            "{}?worklist=mrp-stale&months=24&min_age=65",
            panel_review(&w, "drpatel")
        ))
        .await;
    let html = list.ok();
    let start = html.find("id=\"make-task\"").expect("the link");
    let href_at = html[..start].rfind("href=\"").unwrap() + 6;
    let href = html[href_at..href_at + html[href_at..].find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(href.contains("worklist=mrp-stale"), "{href}");
    let form = director.get(&href).await;
    let shown = form.ok();
    let at = shown.find("id=\"t-filters\"").expect("the filters field");
    assert!(
        shown[at..at + 200].contains("months=24"),
        "{href} {}",
        &shown[at..at + 200]
    );
    let chen = w.id("moa.chen");
    let patel = w.id("drpatel");
    // A missing owner and a bad date come back by field.
    let refused = director
        .submit(
            &tasks,
            &tasks,
            &[
                ("title", "MRP re-confirmation, 65+"),
                ("provider", &patel.to_string()),
                ("worklist", "mrp-stale"),
                ("filters", "months=24&min_age=65"),
                ("frequency", "months-3"),
                ("owner", ""),
                ("first_due", "soon"),
            ],
        )
        .await;
    let text = refused.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.contains("owner") && text.contains("first_due"));
    let today = w.app().clinic_today().to_string();
    let made = director
        .submit(
            &tasks,
            &tasks,
            &[
                ("title", "MRP re-confirmation, 65+"),
                ("provider", &patel.to_string()),
                ("worklist", "mrp-stale"),
                ("filters", "months=24&min_age=65"),
                ("frequency", "months-3"),
                ("owner", &chen.to_string()),
                ("first_due", &today),
            ],
        )
        .await;
    assert_eq!(made.location(), format!("{tasks}?done=created"));
    let dash = director.get(&format!("/c/{}/dashboard", w.a)).await;
    assert!(dash.ok().contains("Review tasks: 1 due, 0 overdue"));
    // Grace Chen sees it due in the navigation, opens it and marks it done.
    let mut grace = w.signed_in("moa.chen").await;
    let page = grace.get(&tasks).await;
    let html = page.ok();
    assert!(
        html.contains("id=\"tasks-due\""),
        "the header counts the due task"
    );
    assert!(html.contains("MRP re-confirmation, 65+"));
    let id = w
        .app()
        .review_tasks(chen, w.a)
        .unwrap()
        .into_iter()
        .next()
        .unwrap()
        .task
        .id;
    let done = grace
        .post_form(
            &format!("{tasks}/{id}/done"),
            &[("csrf", &page.csrf()), ("note", "phoned 8, letters to 3")],
        )
        .await;
    assert_eq!(done.location(), format!("{tasks}?done=completed"));
    let after = grace.get(&done.location()).await;
    assert!(!after.ok().contains("id=\"tasks-due\""));
    assert!(after.contains("phoned 8, letters to 3"));
    // Dr. Nguyen neither owns nor reviews it: not listed, and may not mark it done.
    let mut nguyen = w.signed_in("drnguyen").await;
    let page = nguyen.get(&tasks).await;
    assert!(!page.ok().contains("MRP re-confirmation"));
    nguyen
        .post_form(&format!("{tasks}/{id}/done"), &[("csrf", &page.csrf())])
        .await
        .status_is(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_panel_search_finds_a_patient_by_birth_date_given_name_and_given_family() {
    let w = World::new("review-search");
    let p = w.id("drpatel");
    let rows = w
        .app()
        .review_rows(p, w.a, ReviewScope::Provider(p), &ReviewQuery::default())
        .unwrap();
    let target = &rows[rows.len() / 2].entry;
    let d = &target.details;
    let given = d.given_names.split(' ').next().unwrap();
    let mut chen = w.signed_in("moa.chen").await;
    let base = format!("/c/{}/panels/{p}", w.a);
    for q in [
        d.date_of_birth.to_string(),
        format!("{given} {}", d.family_name),
        format!("{}, {given}", d.family_name),
    ] {
        let page = chen
            .get(&format!(
                "{base}?q={}",
                q.replace(' ', "%20").replace(',', "%2C")
            ))
            .await;
        assert!(
            page.ok().contains(&format!("id=\"entry-{}\"", target.id)),
            "searching {q:?} finds the patient"
        );
    }
    // A given name alone finds them too (among others).
    let page = chen.get(&format!("{base}?q={given}")).await;
    assert!(page.ok().contains(&format!("id=\"entry-{}\"", target.id)));
}

#[tokio::test]
async fn the_protocol_is_written_by_managers_versioned_and_downloaded_whole() {
    let w = World::new("review-protocol");
    let url = format!("/c/{}/protocol", w.a);
    let mut director = w.signed_in("director").await;
    let r = director
        .submit(
            &url,
            &url,
            &[
                ("section", "inactive-review"),
                ("text", "Grace reviews the inactive list every quarter."),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("{url}?done=saved"));
    let r = director
        .submit(
            &url,
            &url,
            &[
                ("section", "inactive-review"),
                (
                    "text",
                    "Grace reviews the inactive list every quarter, then calls.",
                ),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("{url}?done=saved"));
    let mut patel = w.signed_in("drpatel").await;
    let page = patel.get(&url).await;
    let html = page.ok();
    assert!(html.contains("every quarter, then calls."));
    assert!(
        !html.contains("name=\"section\""),
        "no edit forms for a non-manager"
    );
    assert_eq!(
        html.matches("“Reviewing inactive patients”").count(),
        2,
        "two versions listed"
    );
    patel
        .post_form(
            &url,
            &[("csrf", &page.csrf()), ("section", "mrp"), ("text", "x")],
        )
        .await
        .status_is(StatusCode::FORBIDDEN);
    let file = patel.get(&format!("{url}/download")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert!(file.text.starts_with("# Panel management protocol: "));
    assert!(file.text.contains("## Reviewing inactive patients\n\nGrace reviews the inactive list every quarter, then calls."));
    assert!(file.text.contains("## Patient statuses"));
}
