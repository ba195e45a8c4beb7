//! Router tests of the panel profile (age–sex pyramid, month-end counts, supply and
//! demand), the clinic's visit-rate table, the advice on the preferences page, and moving a
//! selection to another provider from a review list.

use attach::app::ReviewScope;
use axum::http::StatusCode;

use super::World;

fn profile(w: &World, provider: &str) -> String {
    format!("/c/{}/panels/{}/profile", w.a, w.id(provider))
}

fn rates(w: &World) -> String {
    format!("/c/{}/profile/rates", w.a)
}

#[tokio::test]
async fn the_profile_shows_the_pyramid_and_counts_to_whoever_may_see_the_panel() {
    let w = World::new("profile-access");
    let p = w.id("drpatel");
    let size = w.app().panel_summary(p, w.a, p).unwrap().size;
    let mut patel = w.signed_in("drpatel").await;
    let html = patel.get(&profile(&w, "drpatel")).await.ok().to_owned();
    assert!(html.contains("id=\"pyramid-chart\""));
    assert!(html.contains("id=\"pyramid-table\""));
    // The table's total row is the panel's size.
    assert!(
        html.contains("<th scope=\"row\">All ages</th>"),
        "a totals row"
    );
    assert!(html.contains(&format!("<td class=\"num\">{size}</td></tr></tfoot>")));
    // Nothing counted yet; once the node counts, the month is listed.
    assert!(html.contains("id=\"no-census\""));
    w.app().record_census().unwrap();
    let html = patel.get(&profile(&w, "drpatel")).await.ok().to_owned();
    assert!(html.contains("id=\"census-table\""));
    assert!(html.contains("id=\"census-chart\""));
    // The provider may state the appointments; the director reads the profile only.
    assert!(html.contains("id=\"appointments_per_week\""));
    let mut director = w.signed_in("director").await;
    assert!(
        !director
            .get(&profile(&w, "drpatel"))
            .await
            .ok()
            .contains("id=\"appointments_per_week\"")
    );
    let mut nguyen = w.signed_in("drnguyen").await;
    nguyen
        .get(&profile(&w, "drpatel"))
        .await
        .status_is(StatusCode::FORBIDDEN);
    let mut other = w.signed_in("bdirector").await;
    other
        .get(&profile(&w, "drpatel"))
        .await
        .status_is(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stating_the_appointments_gives_the_estimate_here_and_on_the_preferences_page() {
    let w = World::new("profile-supply");
    let mut chen = w.signed_in("moa.chen").await;
    let page = profile(&w, "drpatel");
    let action = format!("{page}/supply");
    let bad = chen
        .submit(
            &page,
            &action,
            &[
                ("appointments_per_week", "eighty"),
                ("weeks_per_year", "46"),
            ],
        )
        .await;
    assert!(
        bad.status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("id=\"appointments_per_week-error\"")
    );
    let no_weeks = chen
        .submit(
            &page,
            &action,
            &[("appointments_per_week", "80"), ("weeks_per_year", "60")],
        )
        .await;
    assert!(
        no_weeks
            .status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("id=\"weeks_per_year-error\"")
    );
    let done = chen
        .submit(
            &page,
            &action,
            &[("appointments_per_week", "80"), ("weeks_per_year", "46")],
        )
        .await;
    assert_eq!(done.location(), format!("{page}?done=supply#supply"));
    let html = chen
        .get(&format!("{page}?done=supply"))
        .await
        .ok()
        .to_owned();
    assert!(html.contains("id=\"supply-advice\""));
    assert!(html.contains("The appointments cover about"));
    assert!(
        html.contains("3,680 visits a year"),
        "80 × 46 in the explanation"
    );
    let prefs = chen
        .get(&format!(
            "/c/{}/panels/{}/preferences",
            w.a,
            w.id("drpatel")
        ))
        .await;
    assert!(prefs.ok().contains("The appointments cover about"));
    // Without the appointments, the preferences page says how to get the advice.
    let mut nguyen = w.signed_in("drnguyen").await;
    let url = format!("/c/{}/panels/{}/preferences", w.a, w.id("drnguyen"));
    let nguyen_prefs = nguyen.get(&url).await;
    assert!(
        nguyen_prefs
            .ok()
            .contains("State the appointments offered a week")
    );
}

#[tokio::test]
async fn managers_change_the_visit_rates_with_each_bad_line_named() {
    let w = World::new("profile-rates");
    let mut director = w.signed_in("director").await;
    let html = director.get(&rates(&w)).await.ok().to_owned();
    assert!(html.contains("id=\"rates-default\""));
    assert!(html.contains("Statistics Norway"));
    let bad = director
        .submit(
            &rates(&w),
            &rates(&w),
            &[
                ("bands", "0-17; 2; 2; 2\n20+; 3; 3; 3"),
                ("source", "our billing"),
            ],
        )
        .await;
    assert!(
        bad.status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("line 2")
    );
    assert!(w.app().visit_rates(w.id("director"), w.a).unwrap().default);
    let saved = director
        .submit(
            &rates(&w),
            &rates(&w),
            &[
                ("bands", "0-17; 2; 2; 2\n18+; 3; 3; 3"),
                ("source", "our billing, 2025"),
            ],
        )
        .await;
    assert_eq!(saved.location(), format!("{}?done=rates", rates(&w)));
    let html = director.get(&rates(&w)).await.ok().to_owned();
    assert!(html.contains("id=\"rates-own\""));
    assert!(html.contains("our billing, 2025"));
    let back = director
        .submit(&rates(&w), &rates(&w), &[("default", "yes")])
        .await;
    assert_eq!(back.location(), format!("{}?done=rates-default", rates(&w)));
    assert!(w.app().visit_rates(w.id("director"), w.a).unwrap().default);
    // Other members read the table; only managers get the form.
    let mut roy = w.signed_in("moa.roy").await;
    let html = roy.get(&rates(&w)).await.ok().to_owned();
    assert!(html.contains("id=\"read-only\""));
    roy.submit(&rates(&w), &rates(&w), &[("default", "yes")])
        .await
        .status_is(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_selection_moves_to_another_provider_from_the_review_list_and_back() {
    let w = World::new("review-move");
    let (p, n) = (w.id("drpatel"), w.id("drnguyen"));
    let size = |who| {
        w.app()
            .panel_summary(w.id("director"), w.a, who)
            .unwrap()
            .size
    };
    let (patel_before, nguyen_before) = (size(p), size(n));
    let rows = w
        .app()
        .review_rows(p, w.a, ReviewScope::Provider(p), &Default::default())
        .unwrap();
    let picked: Vec<String> = rows
        .iter()
        .take(2)
        .map(|r| format!("{}:{}", r.entry.provider, r.entry.id))
        .collect();
    // Grace Chen, the clinic's secondary account manager, moves two of Dr. Patel's patients.
    let mut chen = w.signed_in("moa.chen").await;
    let list = format!("/c/{}/panels/{p}/review", w.a);
    let page = chen.get(&list).await;
    assert!(page.ok().contains("value=\"move\""));
    assert!(page.contains(&format!("<option value=\"{n}\">")));
    let token = page.csrf();
    let no_reason = chen
        .post_form(
            &format!("{list}/bulk"),
            &[
                ("csrf", &token),
                ("action", "move"),
                ("to_provider", &n.to_string()),
                ("entry", &picked[0]),
            ],
        )
        .await;
    assert!(
        no_reason
            .status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("say why the patients are moved")
    );
    let done = chen
        .post_form(
            &format!("{list}/bulk"),
            &[
                ("csrf", &token),
                ("action", "move"),
                ("to_provider", &n.to_string()),
                ("reason", "Dr. Patel reduces her hours"),
                ("entry", &picked[0]),
                ("entry", &picked[1]),
            ],
        )
        .await;
    assert!(
        done.location().contains("done=bulk&bulk="),
        "{}",
        done.location()
    );
    assert_eq!(size(p), patel_before - 2);
    assert_eq!(size(n), nguyen_before + 2);
    let after = chen.get(&done.location()).await;
    assert!(after.ok().contains("id=\"undo-bulk\""));
    let bulk = done.location().rsplit("bulk=").next().unwrap().to_owned();
    chen.post_form(
        &format!("/c/{}/review/undo", w.a),
        &[("csrf", &after.csrf()), ("bulk", &bulk), ("back", &list)],
    )
    .await
    .status_is(StatusCode::SEE_OTHER);
    assert_eq!(size(p), patel_before);
    assert_eq!(size(n), nguyen_before);
}
