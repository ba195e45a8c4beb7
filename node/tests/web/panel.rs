//! Router tests of the panel pages: the panel list, patient entries, uploads and
//! downloads, preferences and dashboards.

use attach::app::{PanelQuery, PanelSort};
use attach::domain::{EntryId, PatientDetails, PatientStatus, UserId};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::{PATIENTS, World, assert_page_headers};

/// `/c/<a>/panels/<provider>` for a user of clinic A.
fn panel(w: &World, provider: &str) -> String {
    format!("/c/{}/panels/{}", w.a, w.id(provider))
}

/// Entries on `provider`'s panel at clinic A, in name order (read through the app).
fn entries(w: &World, provider: &str) -> Vec<attach::app::PanelRow> {
    let p = w.id(provider);
    w.app()
        .panel_page(
            p,
            w.a,
            p,
            &PanelQuery {
                limit: 500,
                ..PanelQuery::default()
            },
        )
        .unwrap()
        .rows
}

fn size(w: &World, provider: &str) -> usize {
    let p: UserId = w.id(provider);
    w.app().panel_summary(p, w.a, p).unwrap().size
}

fn entry_url(w: &World, provider: &str, entry: EntryId) -> String {
    format!("{}/entries/{entry}", panel(w, provider))
}

/// Every page (GET) of `provider`'s panel at clinic A, one entry page included.
fn pages(w: &World, provider: &str) -> Vec<String> {
    let base = panel(w, provider);
    let entry = entries(w, provider)[0].entry.id;
    vec![
        base.clone(),
        format!("{base}/new"),
        entry_url(w, provider, entry),
        format!("{base}/upload"),
        format!("{base}/download?format=csv"),
        format!("{base}/download?format=fhir"),
        format!("{base}/preferences"),
        format!("{base}/dashboard"),
    ]
}

/// The add-patient form's fields for `p`, with the given sex and status.
fn patient_form(p: &PatientDetails) -> Vec<(&'static str, String)> {
    vec![
        ("phn", p.phn.to_string()),
        ("family_name", p.family_name.clone()),
        ("given_names", p.given_names.clone()),
        ("date_of_birth", p.date_of_birth.to_string()),
        ("sex", "female".to_owned()),
        ("status", "active".to_owned()),
    ]
}

/// `(&str, String)` pairs as the `(&str, &str)` the browser posts.
fn borrowed<'a>(fields: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The `<tr id="entry-…">` rows of a panel page, in order.
fn row_ids(html: &str) -> Vec<String> {
    html.match_indices("<tr id=\"entry-")
        .map(|(i, m)| {
            let start = i + m.len();
            let end = html[start..].find('"').unwrap() + start;
            html[start..end].to_owned()
        })
        .collect()
}

/// The text between `<… id="{id}"…>` and the next `</{tag}>`.
fn element<'a>(html: &'a str, id: &str, tag: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id} in {html}"));
    let end = html[start..].find(&format!("</{tag}>")).unwrap() + start;
    &html[start..end]
}

/// `&amp;` → `&` for hrefs taken out of the HTML.
fn unescape(s: &str) -> String {
    s.replace("&#38;", "&").replace("&amp;", "&")
}

/// The first href on the page that contains `needle`.
fn href_with(html: &str, needle: &str) -> String {
    html.match_indices("href=\"")
        .map(|(i, m)| {
            let start = i + m.len();
            let end = html[start..].find('"').unwrap() + start;
            unescape(&html[start..end])
        })
        .find(|h| h.contains(needle))
        .unwrap_or_else(|| panic!("no link with {needle}"))
}

#[tokio::test]
async fn every_panel_page_renders_with_the_page_headers() {
    let w = World::new("panel-pages");
    let mut b = w.signed_in("drpatel").await;
    let mut all = pages(&w, "drpatel");
    all.retain(|p| !p.contains("/download"));
    all.push(format!("/c/{}/dashboard", w.a));
    for path in all {
        let page = b.get(&path).await;
        assert_page_headers(&page);
        let html = page.ok();
        assert!(html.contains("<h1>"), "{path}");
        assert!(!html.contains("style=\""), "{path}: no inline styles");
    }
}

#[tokio::test]
async fn the_panel_lists_fifty_rows_a_page_with_a_summary_and_both_downloads() {
    let w = World::new("panel-list");
    let mut b = w.signed_in("drpatel").await;
    let base = panel(&w, "drpatel");
    let total = size(&w, "drpatel");
    assert!(
        total > 50,
        "the demo gives Dr. Patel more than a page ({total})"
    );
    let page = b.get(&base).await;
    let html = page.ok();
    let ids = row_ids(html);
    assert_eq!(ids.len(), 50);
    let first = &entries(&w, "drpatel")[0];
    assert_eq!(ids[0], first.entry.id.to_string(), "name order");
    assert!(html.contains(&format!(
        "<a href=\"{base}/entries/{}\">{}, {}</a>",
        first.entry.id, first.entry.details.family_name, first.entry.details.given_names
    )));
    assert!(html.contains(&format!("Rows 1–50 of {total}")));
    assert!(html.contains(&format!(
        "{total} patients on the panel; desired size 1,300"
    )));
    assert!(html.contains(&format!("{base}/download?format=csv")));
    assert!(html.contains(&format!("{base}/download?format=fhir")));
    assert!(html.contains("id=\"q\""));
    assert!(html.contains("hx-trigger=\"input changed delay:300ms, search\""));
    assert!(html.contains("aria-sort=\"ascending\""));

    // Next page, and back.
    let next = href_with(html, "page=2");
    let page2 = b.get(&next).await;
    let html2 = page2.ok();
    let ids2 = row_ids(html2);
    assert_eq!(ids2.len(), (total - 50).min(50));
    assert!(ids2.iter().all(|id| !ids.contains(id)));
    assert!(html2.contains(&format!("Rows 51–{} of {total}", 50 + ids2.len())));
    assert!(html2.contains(&format!("<a href=\"{base}\" rel=\"prev\">")));
    assert_eq!(row_ids(b.get(&base).await.ok()), ids);
}

#[tokio::test]
async fn search_by_name_and_by_phn_and_filter_by_status() {
    let w = World::new("panel-search");
    let mut b = w.signed_in("drpatel").await;
    let base = panel(&w, "drpatel");
    let all = entries(&w, "drpatel");
    let target = &all[all.len() / 2].entry;

    let family = &target.details.family_name;
    let html = b
        .get(&format!("{base}?q={}", urlencoding(family)))
        .await
        .ok()
        .to_owned();
    let ids = row_ids(&html);
    assert!(ids.contains(&target.id.to_string()));
    let expected = all
        .iter()
        .filter(|r| {
            r.entry
                .details
                .family_name
                .to_lowercase()
                .starts_with(&family.to_lowercase())
        })
        .count();
    assert_eq!(ids.len(), expected.min(50));
    assert!(
        html.contains(&format!("value=\"{family}\"")),
        "the search is kept"
    );

    let phn = target.details.phn.to_string();
    let html = b.get(&format!("{base}?q={phn}")).await.ok().to_owned();
    assert_eq!(row_ids(&html), vec![target.id.to_string()]);
    let html = b
        .get(&format!("{base}?q={}", &phn[..6]))
        .await
        .ok()
        .to_owned();
    assert!(row_ids(&html).contains(&target.id.to_string()));

    let inactive: Vec<String> = all
        .iter()
        .filter(|r| r.entry.status == PatientStatus::Inactive)
        .map(|r| r.entry.id.to_string())
        .collect();
    assert!(!inactive.is_empty());
    let html = b
        .get(&format!("{base}?status=inactive"))
        .await
        .ok()
        .to_owned();
    let ids = row_ids(&html);
    assert_eq!(ids.len(), inactive.len().min(50));
    assert!(ids.iter().all(|id| inactive.contains(id)));
    assert!(html.contains("<option value=\"inactive\" selected>"));
    // Clinic-defined statuses are offered in the filter.
    assert!(html.contains(">Palliative</option>"));
}

/// Percent-encodes a query value (the test's own, to check the page's).
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn sort_links_order_the_panel_and_keep_the_filter() {
    let w = World::new("panel-sort");
    let mut b = w.signed_in("drpatel").await;
    let base = panel(&w, "drpatel");
    let html = b
        .get(&format!("{base}?status=active"))
        .await
        .ok()
        .to_owned();
    let added = href_with(&html, "sort=added");
    assert!(added.contains("status=active"), "{added}");
    let html = b.get(&added).await.ok().to_owned();
    assert!(html.contains("aria-sort=\"descending\""), "{added}: {html}");
    let p = w.id("drpatel");
    let expected = w
        .app()
        .panel_page(
            p,
            w.a,
            p,
            &PanelQuery {
                status: Some(PatientStatus::Active),
                sort: PanelSort::Added,
                limit: 50,
                ..PanelQuery::default()
            },
        )
        .unwrap();
    let ids: Vec<String> = expected
        .rows
        .iter()
        .map(|r| r.entry.id.to_string())
        .collect();
    assert_eq!(row_ids(&html), ids);
    // Paging keeps the order (the whole panel is more than a page).
    let html = b.get(&format!("{base}?sort=added")).await.ok().to_owned();
    let next = href_with(&html, "page=2");
    assert!(next.contains("sort=added"), "{next}");
    let visit = href_with(&html, "sort=last_visit");
    let html = b.get(&visit).await.ok().to_owned();
    assert!(html.contains("name=\"sort\" value=\"last_visit\""));
}

#[tokio::test]
async fn htmx_gets_only_the_results_table() {
    let w = World::new("panel-htmx");
    let b = w.signed_in("drpatel").await;
    let base = panel(&w, "drpatel");
    let target = &entries(&w, "drpatel")[3].entry;
    // What htmx sends: the session cookie and `HX-Request`.
    let cookie = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let request = Request::get(format!("{base}?q={}", target.details.phn))
        .header(header::COOKIE, cookie)
        .header("HX-Request", "true")
        .body(Body::empty())
        .unwrap();
    let response = w.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let html = std::str::from_utf8(&bytes).unwrap();
    assert!(!html.contains("<html"), "a fragment, not a page");
    assert!(html.contains("hx-swap-oob=\"true\">1 patient matches.</p>"));
    assert!(html.contains("<table id=\"panel-table\""));
    assert_eq!(row_ids(html), vec![target.id.to_string()]);
}

#[tokio::test]
async fn add_a_patient_and_see_errors_by_the_fields_with_values_kept() {
    let w = World::new("panel-add");
    let mut b = w.signed_in("moa.chen").await;
    let base = panel(&w, "drpatel");
    let form = format!("{base}/new");
    let html = b.get(&form).await.ok().to_owned();
    for id in [
        "phn",
        "family_name",
        "given_names",
        "date_of_birth",
        "sex",
        "status",
    ] {
        assert!(html.contains(&format!("<label for=\"{id}\"")), "{id}");
    }

    let bad = b
        .submit(
            &form,
            &form,
            &[
                ("phn", "9123456781"),
                ("family_name", "Okafor"),
                ("given_names", "Chidi"),
                ("date_of_birth", "1990-04-01"),
                ("sex", "male"),
                ("status", "active"),
            ],
        )
        .await;
    let html = bad.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"phn-error\""));
    assert!(html.contains("aria-invalid=\"true\""));
    assert!(html.contains("value=\"9123456781\""), "the PHN is kept");
    assert!(html.contains("value=\"Okafor\""), "other values are kept");
    assert!(html.contains("<option value=\"male\" selected>"));
    assert!(!html.contains("id=\"family_name-error\""));

    let spare = &w.spares[0];
    let before = size(&w, "drpatel");
    let mut fields = patient_form(spare);
    fields.push(("community", "Smithers".to_owned()));
    let r = b.submit(&form, &form, &borrowed(&fields)).await;
    let location = r.location();
    assert!(location.ends_with("?done=added"), "{location}");
    assert_eq!(size(&w, "drpatel"), before + 1);
    let html = b.get(&location).await.ok().to_owned();
    assert!(html.contains("The patient was added to the panel."));
    assert!(html.contains(&spare.family_name));
    assert!(
        html.contains("Grace Chen"),
        "added by, and the history, name her"
    );

    // The same patient again: refused, next to the PHN.
    let again = b
        .submit(&form, &form, &borrowed(&patient_form(spare)))
        .await;
    let html = again.status_is(StatusCode::CONFLICT);
    assert!(html.contains("id=\"phn-error\""));
    assert!(html.contains("already on this panel"));
}

#[tokio::test]
async fn change_status_confirm_mrp_remove_and_see_it_all_in_the_history() {
    let w = World::new("panel-entry");
    let mut b = w.signed_in("moa.chen").await;
    let row = entries(&w, "drpatel")
        .into_iter()
        .find(|r| r.entry.status == PatientStatus::Active && r.entry.mrp.is_none())
        .expect("an active patient without MRP confirmation");
    let url = entry_url(&w, "drpatel", row.entry.id);
    let html = b.get(&url).await.ok().to_owned();
    assert!(html.contains("<select id=\"status\" name=\"status\""));
    assert!(html.contains(">Change status</button>"));
    assert!(html.contains("data-confirm="));

    let r = b
        .submit(&url, &format!("{url}/status"), &[("status", "inactive")])
        .await;
    assert_eq!(r.location(), format!("{url}?done=status"));
    let html = b.get(&r.location()).await.ok().to_owned();
    assert!(html.contains("The status was changed."));
    assert!(element(&html, "current-status", "dd").contains("Inactive"));

    // A clinic-defined status, chosen from the select.
    let c = w.app().clinic(w.id("director"), w.a).unwrap();
    let palliative = c
        .statuses
        .values()
        .find(|s| s.name == "Palliative")
        .unwrap()
        .id;
    let r = b
        .submit(
            &url,
            &format!("{url}/status"),
            &[("status", palliative.to_string().as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let html = b.get(&url).await.ok().to_owned();
    assert!(element(&html, "current-status", "dd").contains("Palliative"));
    let bad = b
        .submit(&url, &format!("{url}/status"), &[("status", "nonsense")])
        .await;
    assert!(
        bad.status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("id=\"status-error\"")
    );

    let r = b.submit(&url, &format!("{url}/mrp"), &[]).await;
    assert_eq!(r.location(), format!("{url}?done=mrp"));
    let html = b.get(&url).await.ok().to_owned();
    assert!(element(&html, "mrp", "dd").contains("by Grace Chen"));

    // Removal needs a reason (kept, with the error by the field).
    let r = b
        .submit(&url, &format!("{url}/remove"), &[("reason", "  ")])
        .await;
    assert!(
        r.status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("id=\"reason-error\"")
    );
    let before = size(&w, "drpatel");
    let r = b
        .submit(
            &url,
            &format!("{url}/remove"),
            &[("reason", "Moved to Prince George")],
        )
        .await;
    assert_eq!(r.location(), format!("{url}?done=removed"));
    assert_eq!(size(&w, "drpatel"), before - 1);
    let html = b.get(&url).await.ok().to_owned();
    assert!(element(&html, "removed", "p").contains("Reason: Moved to Prince George"));
    assert!(
        !html.contains("Change status</button>"),
        "no edits once removed"
    );

    let history = element(&html, "history", "table");
    for change in [
        "update patient: status",
        "update patient: mrp",
        "remove patient",
    ] {
        assert!(history.contains(change), "{change} in {history}");
    }
    assert!(history.matches("Grace Chen").count() >= 4, "{history}");
}

#[tokio::test]
async fn edit_details_keeps_values_and_shows_errors() {
    let w = World::new("panel-details");
    let mut b = w.signed_in("drpatel").await;
    let row = &entries(&w, "drpatel")[0];
    let url = entry_url(&w, "drpatel", row.entry.id);
    let d = &row.entry.details;
    let fields = |phone: &'static str| {
        vec![
            ("phn", d.phn.to_string()),
            ("family_name", d.family_name.clone()),
            ("given_names", d.given_names.clone()),
            ("date_of_birth", d.date_of_birth.to_string()),
            ("sex", "unknown".to_owned()),
            ("phone", phone.to_owned()),
        ]
    };
    let bad = fields("12");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.submit(&url, &format!("{url}/details"), &bad).await;
    let html = r.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"phone-error\""));
    assert!(html.contains("value=\"12\""));
    let good = fields("250-555-0142");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.submit(&url, &format!("{url}/details"), &good).await;
    assert_eq!(r.location(), format!("{url}?done=details"));
    let html = b.get(&url).await.ok().to_owned();
    assert!(html.contains("250-555-0142"));
    assert!(element(&html, "history", "table").contains("phone"));
}

/// A CSV of three new patients; `bad` spoils the PHN of the first and the birth date of
/// the third.
fn csv(bad: bool) -> String {
    let (phn, dob) = if bad {
        ("9123456781", "31/12/1980")
    } else {
        ("9123456780", "1980-12-31")
    };
    format!(
        "phn,family_name,given_names,date_of_birth,sex,status\n\
         {phn},Nguyen,Mai,1985-07-31,F,active\n\
         9234567897,Brown,Sam,1970-03-03,M,inactive\n\
         9345678126,Lee,Ann,{dob},F,Palliative\n"
    )
}

#[tokio::test]
async fn an_upload_with_two_bad_rows_shows_both_and_stores_nothing_then_the_fixed_file_is_stored() {
    let w = World::new("panel-upload");
    let mut b = w.signed_in("drpatel").await;
    let base = panel(&w, "drpatel");
    let upload = format!("{base}/upload");
    let form = b.get(&upload).await;
    let html = form.ok();
    assert!(html.contains("id=\"file\""));
    assert!(html.contains(">Check file</button>"));
    let token = form.csrf();
    let before = size(&w, "drpatel");

    let r = b
        .post_multipart(
            &upload,
            &[("csrf", token.as_str())],
            ("file", "panel.csv", csv(true).as_bytes()),
        )
        .await;
    let html = r.status_is(StatusCode::UNPROCESSABLE_ENTITY).to_owned();
    let table = element(&html, "upload-errors", "table");
    let body = &table[table.find("<tbody>").unwrap()..];
    assert_eq!(body.matches("<tr>").count(), 2, "{table}");
    assert!(body.contains(">1</td><td>phn<"), "{body}");
    assert!(body.contains(">3</td><td>date_of_birth<"), "{body}");
    assert!(html.contains("Nothing was stored."));
    assert!(!html.contains(">Store "));
    assert_eq!(size(&w, "drpatel"), before, "nothing stored");

    let r = b
        .post_multipart(
            &upload,
            &[("csrf", token.as_str())],
            ("file", "panel.csv", csv(false).as_bytes()),
        )
        .await;
    let html = r.ok().to_owned();
    assert!(!html.contains("id=\"upload-errors\""));
    assert!(element(&html, "would-add", "strong").contains('3'));
    assert!(html.contains(">Store 3 patients</button>"));
    assert_eq!(size(&w, "drpatel"), before, "a preview stores nothing");

    // The store form carries the file back; it is a multipart form with the token.
    let content = element(&html, "upload-ready", "section");
    assert!(content.contains("name=\"content\""));
    assert!(content.contains("enctype=\"multipart/form-data\""));
    let r = b
        .post_multipart(
            &format!("{upload}/store"),
            &[("csrf", token.as_str()), ("format", "csv")],
            ("content", "panel.csv", csv(false).as_bytes()),
        )
        .await;
    assert_eq!(r.location(), format!("{base}?done=imported"));
    assert_eq!(size(&w, "drpatel"), before + 3);
    let html = b.get(&r.location()).await.ok().to_owned();
    assert!(html.contains("The file was stored on the panel."));
    let html = b.get(&format!("{base}?q=9345678126")).await.ok().to_owned();
    assert_eq!(row_ids(&html).len(), 1);
    assert!(html.contains("Palliative"));
}

/// The value of the `<input … name="{name}" value="…">` on the page, as a browser reads it.
fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn the_preview_carries_the_file_back_unchanged_to_be_stored() {
    let w = World::new("panel-roundtrip");
    let mut b = w.signed_in("drpatel").await;
    let base = panel(&w, "drpatel");
    let upload = format!("{base}/upload");
    let token = b.get(&upload).await.csrf();
    // A byte-order mark, quotes, commas and a line break inside values, accents.
    let file = include_bytes!("../fixtures/panel_valid.csv");
    let r = b
        .post_multipart(
            &upload,
            &[("csrf", token.as_str())],
            ("file", "panel_valid.csv", file),
        )
        .await;
    let html = r.ok().to_owned();
    let content = input_value(&html, "content");
    assert_eq!(
        content.as_bytes(),
        file,
        "the hidden field holds the file as sent"
    );
    assert_eq!(input_value(&html, "format"), "csv");
    let n = element(&html, "would-add", "strong")
        .rsplit('>')
        .next()
        .unwrap()
        .parse::<usize>()
        .unwrap();
    let before = size(&w, "drpatel");
    let r = b
        .post_multipart(
            &format!("{upload}/store"),
            &[
                ("csrf", input_value(&html, "csrf").as_str()),
                ("format", "csv"),
                ("file_name", "panel_valid.csv"),
            ],
            ("content", "", content.as_bytes()),
        )
        .await;
    assert_eq!(r.location(), format!("{base}?done=imported"));
    assert_eq!(size(&w, "drpatel"), before + n);
    let html = b.get(&format!("{base}?q=o'brien")).await.ok().to_owned();
    assert!(
        html.contains("O&#39;Brien") || html.contains("O&#x27;Brien"),
        "{html}"
    );
}

#[tokio::test]
async fn a_fhir_bundle_is_previewed_and_a_broken_one_is_explained() {
    let w = World::new("panel-fhir");
    let mut b = w.signed_in("drpatel").await;
    let upload = format!("{}/upload", panel(&w, "drpatel"));
    let token = b.get(&upload).await.csrf();
    let before = size(&w, "drpatel");
    let bundle = include_bytes!("../fixtures/fhir_valid_bundle.json");
    let r = b
        .post_multipart(
            &upload,
            &[("csrf", token.as_str())],
            ("file", "bundle.json", bundle),
        )
        .await;
    let html = r.ok().to_owned();
    assert!(html.contains("read as a FHIR bundle"));
    assert!(html.contains("name=\"format\" value=\"fhir\""));
    assert!(html.contains(">Store "));

    let errors = include_bytes!("../fixtures/fhir_errors_bundle.json");
    let r = b
        .post_multipart(
            &upload,
            &[("csrf", token.as_str()), ("format", "fhir")],
            ("file", "errors.json", errors),
        )
        .await;
    let html = r.status_is(StatusCode::UNPROCESSABLE_ENTITY).to_owned();
    assert!(element(&html, "upload-errors", "table").contains("entry["));

    let truncated = include_bytes!("../fixtures/fhir_truncated.json");
    let r = b
        .post_multipart(
            &upload,
            &[("csrf", token.as_str())],
            ("file", "t.json", truncated),
        )
        .await;
    let html = r.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"file-error\""));
    assert_eq!(size(&w, "drpatel"), before);
}

#[tokio::test]
async fn the_panel_downloads_as_csv_and_as_fhir() {
    let w = World::new("panel-download");
    let mut b = w.signed_in("drpatel").await;
    let base = panel(&w, "drpatel");
    let r = b.get(&format!("{base}/download?format=csv")).await;
    r.ok();
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = r.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"panel-dr-anika-patel-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert!(r.text.trim_start_matches('\u{feff}').starts_with("phn,"));
    assert_eq!(r.text.lines().count(), size(&w, "drpatel") + 1);

    let r = b.get(&format!("{base}/download?format=fhir")).await;
    r.ok();
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/fhir+json");
    assert!(
        r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .ends_with(".json\"")
    );
    let bundle: serde_json::Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
}

#[tokio::test]
async fn preferences_are_saved_with_their_consequences_and_errors_by_field() {
    let w = World::new("panel-prefs");
    let mut b = w.signed_in("drpatel").await;
    let url = format!("{}/preferences", panel(&w, "drpatel"));
    let html = b.get(&url).await.ok().to_owned();
    for id in [
        "accepting",
        "monthly_capacity",
        "desired_size",
        "max_open_requests",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(html.contains(">Save preferences</button>"));
    let n = size(&w, "drpatel");
    let desired = n + 120;
    let r = b
        .submit(
            &url,
            &url,
            &[
                ("accepting", "yes"),
                ("monthly_capacity", "20"),
                ("desired_size", desired.to_string().as_str()),
                ("max_open_requests", "4"),
            ],
        )
        .await;
    assert_eq!(r.location(), format!("{url}?done=preferences"));
    let html = b.get(&r.location()).await.ok().to_owned();
    assert!(html.contains("Panel preferences saved."));
    let consequences = element(&html, "consequences", "section");
    assert!(
        consequences.contains(&format!(
            "The panel has {n} patients; the desired size is {desired}: room for 120 more."
        )),
        "{consequences}"
    );
    assert!(consequences.contains("takes about 6 months"));
    let p = w.id("drpatel");
    let saved = w.app().preferences(p, w.a, p).unwrap();
    assert_eq!(saved.desired_panel_size as usize, desired);
    assert!(saved.accepting_new_patients);

    // Accepting while over the desired size is a warning.
    let r = b
        .submit(
            &url,
            &url,
            &[
                ("accepting", "yes"),
                ("monthly_capacity", "5"),
                ("desired_size", "10"),
                ("max_open_requests", "4"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let html = b.get(&url).await.ok().to_owned();
    assert!(element(&html, "consequences", "section").contains("class=\"warning\""));

    let r = b
        .submit(
            &url,
            &url,
            &[
                ("monthly_capacity", "lots"),
                ("desired_size", "0"),
                ("max_open_requests", "4"),
            ],
        )
        .await;
    let html = r.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"monthly_capacity-error\""));
    assert!(html.contains("value=\"lots\""));
    let r = b
        .submit(
            &url,
            &url,
            &[
                ("monthly_capacity", "3"),
                ("desired_size", "0"),
                ("max_open_requests", "4"),
            ],
        )
        .await;
    let html = r.status_is(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"desired_size-error\""), "{html}");
    assert_eq!(
        w.app().preferences(p, w.a, p).unwrap().desired_panel_size,
        10
    );
}

#[tokio::test]
async fn dashboards_show_sizes_counts_and_an_svg_chart_with_a_table() {
    let w = World::new("panel-dash");
    let mut b = w.signed_in("drpatel").await;
    let html = b
        .get(&format!("{}/dashboard", panel(&w, "drpatel")))
        .await
        .ok()
        .to_owned();
    assert!(html.contains("<svg class=\"chart\""));
    assert!(html.contains("role=\"img\""));
    assert!(html.contains("<title id=\"activity-title\">"));
    assert!(html.contains("id=\"activity-table\""));
    assert!(html.contains("id=\"status-counts\""));
    let n = size(&w, "drpatel").to_string();
    assert!(element(&html, "panel-size", "div").contains(&n));
    // The demo patients were all added "now": this month's bar holds them.
    let table = element(&html, "activity-table", "table");
    assert!(
        table.contains(&format!("<td class=\"num\">{n}</td>")),
        "{table}"
    );

    // The clinic dashboard is every active member's landing page, MOAs included.
    for user in ["director", "moa.roy", "drnguyen"] {
        let mut b = w.signed_in(user).await;
        let landing = b.get(&format!("/c/{}", w.a)).await.location();
        let page = b.get(&landing).await;
        assert_page_headers(&page);
        let html = page.ok();
        assert!(html.contains("<svg class=\"chart\""), "{user}");
        let panels = element(html, "provider-panels", "table");
        assert!(panels.contains("Dr. Anika Patel") && panels.contains("Dr. Minh Nguyen"));
        assert!(
            panels.contains(&format!("<td class=\"num\">{}</td>", PATIENTS)),
            "{panels}"
        );
    }
}

#[tokio::test]
async fn every_form_refuses_a_post_without_the_csrf_token() {
    let w = World::new("panel-csrf");
    let mut b = w.signed_in("drpatel").await;
    let base = panel(&w, "drpatel");
    let entry = entries(&w, "drpatel")[0].entry.id;
    let e = entry_url(&w, "drpatel", entry);
    for (path, fields) in [
        (format!("{base}/new"), vec![("phn", "9123456780")]),
        (format!("{e}/details"), vec![("phone", "250-555-0100")]),
        (format!("{e}/status"), vec![("status", "inactive")]),
        (format!("{e}/mrp"), vec![]),
        (format!("{e}/remove"), vec![("reason", "gone")]),
        (format!("{base}/preferences"), vec![("desired_size", "5")]),
    ] {
        let mut forged = fields.clone();
        forged.push(("csrf", "forged"));
        for f in [fields, forged] {
            let r = b.post_form(&path, &f).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
            assert!(r.text.contains("This form has expired"), "{path}");
        }
    }
    for path in [format!("{base}/upload"), format!("{base}/upload/store")] {
        let r = b
            .post_multipart(
                &path,
                &[("csrf", "forged")],
                ("file", "panel.csv", csv(false).as_bytes()),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let p = w.id("drpatel");
    let row = w.app().entry(p, w.a, p, entry).unwrap();
    assert!(
        row.entry.removed.is_none() && row.entry.status == entries(&w, "drpatel")[0].entry.status
    );
    assert_eq!(size(&w, "drpatel"), entries(&w, "drpatel").len());
}

#[tokio::test]
async fn staff_of_another_clinic_get_not_found() {
    let w = World::new("panel-other-clinic");
    let mut b = w.signed_in("bdirector").await;
    let mut all = pages(&w, "drpatel");
    all.push(format!("/c/{}/dashboard", w.a));
    for path in all {
        assert_eq!(b.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Dr. Bravo's panel at B, asked for under clinic A, is not found either.
    let mut bravo = w.signed_in("drbravo").await;
    let r = bravo
        .get(&format!("/c/{}/panels/{}", w.a, w.id("drbravo")))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Dr. Patel at B sees her (empty) B panel, not her A patients.
    let mut patel = w.signed_in("drpatel").await;
    let html = patel
        .get(&format!("/c/{}/panels/{}", w.b, w.id("drpatel")))
        .await
        .ok()
        .to_owned();
    assert!(row_ids(&html).is_empty());
}

#[tokio::test]
async fn delegates_reach_only_the_panels_they_are_endorsed_for() {
    let w = World::new("panel-delegates");
    let nguyen = panel(&w, "drnguyen");
    let patel = panel(&w, "drpatel");
    let n_entry = entries(&w, "drnguyen")[0].entry.id;
    let n_url = entry_url(&w, "drnguyen", n_entry);

    // Luc Roy's endorsement by Dr. Nguyen is still pending: nothing of that panel.
    let mut roy = w.signed_in("moa.roy").await;
    for path in pages(&w, "drnguyen") {
        assert_eq!(roy.get(&path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    let token = roy.get(&format!("/c/{}/dashboard", w.a)).await.csrf();
    let r = roy
        .post_form(
            &format!("{n_url}/status"),
            &[("csrf", token.as_str()), ("status", "inactive")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Grace Chen manages Dr. Patel's panel ...
    let mut chen = w.signed_in("moa.chen").await;
    let html = chen.get(&patel).await.ok().to_owned();
    assert!(html.contains(">Add a patient</a>"));
    // ... and, as the secondary account manager, may read Dr. Nguyen's, but not change it.
    let html = chen.get(&nguyen).await.ok().to_owned();
    assert!(html.contains("id=\"read-only\""));
    assert!(!html.contains(">Add a patient</a>"));
    let html = chen.get(&n_url).await.ok().to_owned();
    assert!(!html.contains(">Change status</button>"));
    for path in [format!("{nguyen}/new"), format!("{nguyen}/upload")] {
        assert_eq!(
            chen.get(&path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let token = chen.get(&patel).await.csrf();
    for (path, fields) in [
        (format!("{n_url}/status"), vec![("status", "inactive")]),
        (format!("{n_url}/mrp"), vec![]),
        (format!("{nguyen}/new"), vec![("phn", "9123456780")]),
        (
            format!("{nguyen}/preferences"),
            vec![
                ("monthly_capacity", "1"),
                ("desired_size", "5"),
                ("max_open_requests", "1"),
            ],
        ),
    ] {
        let mut f = fields;
        f.push(("csrf", token.as_str()));
        let r = chen.post_form(&path, &f).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.text);
    }
    let r = chen
        .post_multipart(
            &format!("{nguyen}/upload"),
            &[("csrf", token.as_str())],
            ("file", "panel.csv", csv(false).as_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let n = w.id("drnguyen");
    let row = w.app().entry(n, w.a, n, n_entry).unwrap();
    assert_eq!(row.entry.status, entries(&w, "drnguyen")[0].entry.status);
    assert!(row.entry.mrp == entries(&w, "drnguyen")[0].entry.mrp);
}

#[tokio::test]
async fn a_patient_named_like_a_script_is_shown_as_text() {
    let w = World::new("panel-escape");
    let mut b = w.signed_in("drpatel").await;
    let base = panel(&w, "drpatel");
    let form = format!("{base}/new");
    let spare = &w.spares[1];
    let mut fields = patient_form(spare);
    fields[1].1 = "<script>alert(1)</script>".to_owned();
    fields[2].1 = "\"Bobby\" <b>Tables</b>".to_owned();
    let r = b.submit(&form, &form, &borrowed(&fields)).await;
    let entry = r.location();
    for path in [entry.clone(), format!("{base}?q={}", spare.phn)] {
        let html = b.get(&path).await.ok().to_owned();
        assert!(!html.contains("<script>alert(1)</script>"), "{path}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
        assert!(!html.contains("<b>Tables</b>"), "{path}");
    }
    let r = b.get(&format!("{base}/download?format=csv")).await;
    assert!(
        r.text.contains("<script>alert(1)</script>"),
        "files carry the data as it is"
    );
}
