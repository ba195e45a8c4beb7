//! Router tests of quality-improvement cycles: starting one, measures computed and entered
//! by hand, their run charts (drawing, table, downloads), change ideas marked on the
//! charts, corrections, and who may.

use axum::http::StatusCode;

use super::World;

/// The address a redirect points at, without `?done=…`.
fn without_query(to: &str) -> String {
    to.split('?').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_qi_cycle_is_started_measured_charted_and_closed() {
    let w = World::new("qi-walk");
    let base = format!("/c/{}/qi", w.a);
    let mut patel = w.signed_in("drpatel").await;
    let page = patel.get(&base).await;
    let html = page.ok().to_owned();
    assert!(html.contains("id=\"new-cycle\""), "{html}");
    let token = page.csrf();
    let patel_id = w.id("drpatel").to_string();

    // A form with mistakes names each one and starts nothing.
    let bad = patel
        .post_form(
            &base,
            &[
                ("csrf", &token),
                ("title", ""),
                ("improve", "HbA1c in target"),
                ("by", "2027-02-30"),
                ("first_month", "2026-09"),
            ],
        )
        .await;
    let html = bad.status_is(StatusCode::UNPROCESSABLE_ENTITY).to_owned();
    assert!(html.contains("id=\"cycle-problems\""), "{html}");
    assert!(
        html.contains("<li>by: ") && html.contains("<li>title: "),
        "{html}"
    );
    // Nothing was started: the list holds the demo's cycle only, whose year of points is
    // taken from the demo's records when it is first shown.
    let list = patel.get(&base).await.ok().to_owned();
    assert_eq!(
        list.matches("<tr><th scope=\"row\"><a href=").count(),
        1,
        "{list}"
    );
    let demo = {
        let marker = "<tr><th scope=\"row\"><a href=\"";
        let start = list.find(marker).expect("a row") + marker.len();
        list[start..start + list[start..].find('"').unwrap()].to_owned()
    };
    let html = patel.get(&demo).await.ok().to_owned();
    assert!(
        html.contains("Diabetes: HbA1c testing and control"),
        "{html}"
    );
    assert!(html.contains("id=\"points-taken\""), "{html}");
    assert!(html.contains("Change 1: Standing orders"), "{html}");

    // Started with a baseline from the months already past.
    let made = patel
        .post_form(
            &base,
            &[
                ("csrf", &token),
                ("title", "Diabetes control"),
                ("provider", &patel_id),
                ("registry", "diabetes"),
                ("improve", "HbA1c in target"),
                ("from", "40"),
                ("to", "55"),
                ("unit", "%"),
                ("by", "2027-06-30"),
                ("first_month", "2025-11"),
            ],
        )
        .await;
    let cycle = made.location();
    assert!(cycle.starts_with(&format!("{base}/")), "{cycle}");
    let page = patel.get(&cycle).await;
    let html = page.ok().to_owned();
    assert!(
        html.contains("By 2027-06-30, we will improve HbA1c in target for"),
        "{html}"
    );
    assert!(html.contains("id=\"no-measures\""));

    // A computed measure: its points of the ended months are taken on the next view.
    let to = patel
        .post_form(
            &format!("{cycle}/measures"),
            &[
                ("csrf", &token),
                ("name", "HbA1c tested in 6 months"),
                ("kind", "process"),
                ("direction", "up"),
                ("definition", "gap_up_to_date:diabetes_hba1c"),
                ("baseline_points", "6"),
            ],
        )
        .await
        .location();
    assert_eq!(without_query(&to), cycle);
    let html = patel.get(&to).await.ok().to_owned();
    assert!(html.contains("id=\"points-taken\""), "{html}");
    assert!(
        html.contains("<svg class=\"chart runchart\" id=\"chart-m1\""),
        "{html}"
    );
    // The table beside the chart holds exactly the chart's points.
    let table_start = html.find("id=\"points-m1\"").expect("the table");
    let table = &html[table_start..html[table_start..].find("</table>").unwrap() + table_start];
    let rows = table.matches("<tr><th scope=\"row\">").count();
    let svg_start = html.find("id=\"chart-m1\"").unwrap();
    let svg = &html[svg_start..html[svg_start..].find("</svg>").unwrap() + svg_start];
    assert_eq!(svg.matches("<circle").count(), rows, "a dot per table row");
    assert_eq!(rows, 12, "November 2025 to October 2026");
    assert!(table.contains("computed late"));

    // A measure entered by hand, a value, and a correction that needs its reason.
    patel
        .post_form(
            &format!("{cycle}/measures"),
            &[
                ("csrf", &token),
                ("name", "Days to third next available appointment"),
                ("kind", "balancing"),
                ("direction", "down"),
                ("definition", "manual"),
                ("unit", "days"),
            ],
        )
        .await
        .location();
    let points = format!("{cycle}/points");
    let point = |month: &'static str, value: &'static str, note: &'static str| {
        [
            ("csrf", token.clone()),
            ("measure", "m2".to_owned()),
            ("month", month.to_owned()),
            ("value", value.to_owned()),
            ("note", note.to_owned()),
        ]
    };
    for (m, v) in [("2026-08", "12"), ("2026-09", "10"), ("2026-10", "9")] {
        let f = point(m, v, "");
        let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        patel.post_form(&points, &f).await.location();
    }
    let f = point("2026-09", "11", "");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = patel.post_form(&points, &f).await;
    let html = refused
        .status_is(StatusCode::UNPROCESSABLE_ENTITY)
        .to_owned();
    assert!(
        html.contains("id=\"point-problems\"") && html.contains("<li>note: "),
        "{html}"
    );
    let f = point("2026-09", "11", "a holiday week was left out");
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    patel.post_form(&points, &f).await.location();

    // A change idea, marked on every chart.
    patel
        .post_form(
            &format!("{cycle}/changes"),
            &[
                ("csrf", &token),
                ("title", "Standing orders for HbA1c"),
                ("started", "2026-06-01"),
                ("plan", "MOAs order it at check-in when due"),
            ],
        )
        .await
        .location();
    let html = patel.get(&cycle).await.ok().to_owned();
    assert!(html.contains("Standing orders for HbA1c"), "{html}");
    assert!(
        html.contains("Change 1: Standing orders for HbA1c (from 2026-06)"),
        "{html}"
    );
    assert!(
        html.contains("<td>corrected</td>") && html.contains("10 (a holiday week was left out)"),
        "{html}"
    );

    // Downloads: the drawing as SVG, the points as CSV.
    let svg = patel.get(&format!("{cycle}/measures/m1/chart.svg")).await;
    let text = svg.ok().to_owned();
    assert!(text.starts_with("<?xml"));
    assert_eq!(
        svg.headers[axum::http::header::CONTENT_TYPE]
            .to_str()
            .unwrap(),
        "image/svg+xml"
    );
    assert_eq!(text.matches("<circle").count(), 12);
    let csv = patel
        .get(&format!("{cycle}/measures/m2/points.csv"))
        .await
        .ok()
        .to_owned();
    assert!(csv.contains("2026-09,11.00,days,,,corrected"), "{csv}");
    patel
        .get(&format!("{cycle}/measures/m9/points.csv"))
        .await
        .status_is(StatusCode::NOT_FOUND);

    // Closed, with what was learned.
    let to = patel
        .post_form(
            &cycle,
            &[
                ("csrf", &token),
                ("title", "Diabetes control"),
                ("provider", &patel_id),
                ("registry", "diabetes"),
                ("improve", "HbA1c in target"),
                ("by", "2027-06-30"),
                ("first_month", "2025-11"),
                ("status", "closed"),
                ("reflection", "Standing orders worked; keep them."),
            ],
        )
        .await
        .location();
    let html = patel.get(&to).await.ok().to_owned();
    assert!(
        html.contains("<span class=\"badge\">closed</span>"),
        "{html}"
    );
    let list = patel.get(&base).await.ok().to_owned();
    assert!(
        list.contains("Diabetes control") && list.contains("<td>closed</td>"),
        "{list}"
    );

    // Staff no provider endorsed see no cycle; a forged form changes nothing.
    let mut roy = w.signed_in("moa.roy").await;
    roy.get(&base).await.status_is(StatusCode::FORBIDDEN);
    roy.get(&cycle).await.status_is(StatusCode::FORBIDDEN);
    patel
        .post_form(
            &format!("{cycle}/changes"),
            &[("csrf", "forged"), ("title", "x")],
        )
        .await
        .status_is(StatusCode::FORBIDDEN);
}
