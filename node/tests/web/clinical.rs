//! Router tests of the registries and care-gap pages: importing an EMR export through the
//! browser (all or nothing), the overview, the lists behind its counts, and one patient's
//! records, with who may see each.

use attach::app::ReviewScope;
use axum::http::StatusCode;

use super::World;

/// A patient of Dr. Patel's with no clinical records yet (the demo seeds some).
fn patel_patient(w: &World) -> attach::domain::PanelEntry {
    let p = w.id("drpatel");
    w.app()
        .review_rows(p, w.a, ReviewScope::Provider(p), &Default::default())
        .unwrap()
        .into_iter()
        .map(|r| r.entry)
        .find(|e| {
            w.app()
                .patient_clinical(p, w.a, p, e.id)
                .unwrap()
                .records
                .is_empty()
        })
        .expect("a patient without records")
}

fn export(phn: &str, bad: bool) -> String {
    let mut s = format!(
        "phn,kind,id,system,code,display,date,end_date,status,value,unit,updated\n\
         {phn},condition,c1,icd10ca,E11.9,Type 2 diabetes,2018-01-01,,active,,,\n\
         {phn},observation,o1,loinc,4548-4,HbA1c,2026-03-01,,,8.1,%,\n"
    );
    if bad {
        s.push_str(&format!(
            "{phn},observation,o2,loinc,4548-4,HbA1c,2026-13-01,,,7.0,%,\n"
        ));
    }
    s
}

#[tokio::test]
async fn an_export_imported_in_the_browser_fills_the_registry_and_the_recall_list() {
    let w = World::new("clinical-import");
    let e = patel_patient(&w);
    let phn = e.details.phn.to_string();
    let base = format!("/c/{}/registries", w.a);
    let mut chen = w.signed_in("moa.chen").await;
    let form = chen.get(&format!("{base}/import")).await;
    let html = form.ok();
    assert!(html.contains("id=\"csv-columns\""));
    assert!(html.contains("enctype=\"multipart/form-data\""));
    let token = form.csrf();

    // A bad row: nothing stored, the row and column named.
    let bad = chen
        .post_multipart(
            &format!("{base}/import"),
            &[("csrf", token.as_str()), ("format", "csv")],
            ("file", "clinical.csv", export(&phn, true).as_bytes()),
        )
        .await;
    let html = bad.status_is(StatusCode::UNPROCESSABLE_ENTITY).to_owned();
    assert!(html.contains("id=\"problems\""));
    assert!(html.contains("<td>3</td><td>date</td>"), "{html}");
    let records = format!(
        "/c/{}/panels/{}/entries/{}/clinical",
        w.a,
        w.id("drpatel"),
        e.id
    );
    let html = chen.get(&records).await.ok().to_owned();
    assert!(html.contains("id=\"no-records\""), "nothing stored");

    // Without the session's token: refused.
    chen.post_multipart(
        &format!("{base}/import"),
        &[("csrf", "forged"), ("format", "csv")],
        ("file", "clinical.csv", export(&phn, false).as_bytes()),
    )
    .await
    .status_is(StatusCode::FORBIDDEN);

    let good = chen
        .post_multipart(
            &format!("{base}/import"),
            &[("csrf", token.as_str()), ("format", "csv")],
            ("file", "clinical.csv", export(&phn, false).as_bytes()),
        )
        .await;
    let html = good.ok().to_owned();
    assert!(html.contains("id=\"import-report\""));
    assert!(html.contains("2 records added"), "{html}");

    // The overview counts the patient; the registry list and the recall list show them.
    let mut patel = w.signed_in("drpatel").await;
    let overview = patel.get(&base).await.ok().to_owned();
    assert!(!overview.contains("id=\"no-clinical-data\""));
    assert!(overview.contains(">Diabetes</a></th>"), "{overview}");
    let list = patel
        .get(&format!("{base}/list?list=registry&key=diabetes"))
        .await
        .ok()
        .to_owned();
    assert!(list.contains(&e.id.to_string()), "{list}");
    let recalls = patel
        .get(&format!("{base}/list?list=gap&key=diabetes_hba1c"))
        .await
        .ok()
        .to_owned();
    assert!(recalls.contains(&e.id.to_string()), "{recalls}");
    assert!(recalls.contains("out of target"), "{recalls}");

    // The patient's records: for the provider and endorsed staff, not another physician.
    let entry_page = patel
        .get(&format!(
            "/c/{}/panels/{}/entries/{}",
            w.a,
            w.id("drpatel"),
            e.id
        ))
        .await
        .ok()
        .to_owned();
    assert!(entry_page.contains(&format!("href=\"{records}\" id=\"clinical-link\"")));
    let html = patel.get(&records).await.ok().to_owned();
    assert!(html.contains("id=\"records\""));
    assert!(html.contains("ICD-10-CA E119"));
    assert!(html.contains("id=\"patient-registries\""));
    chen.get(&records).await.ok();
    let mut nguyen = w.signed_in("drnguyen").await;
    nguyen.get(&records).await.status_is(StatusCode::FORBIDDEN);
    let mut roy = w.signed_in("moa.roy").await;
    roy.get(&base).await.status_is(StatusCode::FORBIDDEN);
    let mut other = w.signed_in("bdirector").await;
    other.get(&base).await.status_is(StatusCode::NOT_FOUND);
}

/// Imports `csv` through the Registries → Import page.
async fn import_csv(b: &mut super::Browser, base: &str, csv: &str) {
    let token = b.get(&format!("{base}/import")).await.csrf();
    b.post_multipart(
        &format!("{base}/import"),
        &[("csrf", token.as_str()), ("format", "csv")],
        ("file", "clinical.csv", csv.as_bytes()),
    )
    .await
    .ok();
}

/// The first `value="…"` of the input named `name` on the page.
fn input_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the input") + marker.len();
    let end = html[start..].find('"').expect("its end") + start;
    html[start..end].replace("&#38;", "&").replace("&amp;", "&")
}

#[tokio::test]
async fn the_recall_list_is_worked_in_bulk_filtered_downloaded_and_kept_to_the_panel() {
    let w = World::new("clinical-recalls");
    let e = patel_patient(&w);
    let (patel_id, phn) = (w.id("drpatel"), e.details.phn.to_string());
    let base = format!("/c/{}/registries", w.a);
    let mut patel = w.signed_in("drpatel").await;
    import_csv(&mut patel, &base, &export(&phn, false)).await;

    let list = format!("{base}/list?list=gap&key=diabetes_hba1c&provider={patel_id}");
    let page = patel.get(&list).await;
    let html = page.ok().to_owned();
    let select = format!("value=\"{patel_id}:{}\" form=\"recall-bulk\"", e.id);
    assert!(html.contains(&select), "{html}");
    assert!(html.contains("Recall: to contact"), "{html}");
    assert!(html.contains("id=\"recalls-csv\""));
    let (token, back) = (page.csrf(), input_value(&html, "back"));
    let who = format!("{patel_id}:{}", e.id);

    // A refusal names the field, and nothing is recorded.
    let refused = patel
        .post_form(
            &format!("{base}/recalls"),
            &[
                ("csrf", &token),
                ("back", &back),
                ("entry", &who),
                ("action", "declined"),
                ("note", " "),
            ],
        )
        .await;
    let html = refused
        .status_is(StatusCode::UNPROCESSABLE_ENTITY)
        .to_owned();
    assert!(html.contains("id=\"recall-error\""), "{html}");
    assert!(
        html.contains("reason: say why the patient declined"),
        "{html}"
    );
    assert!(html.contains("Recall: to contact"));
    // Nothing selected: said so.
    let none = patel
        .post_form(
            &format!("{base}/recalls"),
            &[("csrf", &token), ("back", &back), ("action", "done")],
        )
        .await;
    assert!(
        none.status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("select at least one patient")
    );

    // A call: recorded, the list says so and keeps the patient (still being worked).
    let done = patel
        .post_form(
            &format!("{base}/recalls"),
            &[
                ("csrf", &token),
                ("back", &back),
                ("entry", &who),
                ("action", "contacted"),
                ("how", "phone"),
                ("note", "left a message"),
            ],
        )
        .await;
    let to = done.location();
    assert!(to.contains("done=recalls:1:1:0"), "{to}");
    let html = patel.get(&to).await.ok().to_owned();
    assert!(
        html.contains("Recorded on 1 recalls of 1 patients."),
        "{html}"
    );
    assert!(html.contains("Recall: contacted; last contact"), "{html}");
    assert!(
        html.contains(" by phone by ") && html.contains("(left a message)"),
        "{html}"
    );

    // Declined, with the reason: off the working list, on the "declined" one and in the CSV.
    patel
        .post_form(
            &format!("{base}/recalls"),
            &[
                ("csrf", &token),
                ("back", &back),
                ("all", "1"),
                ("action", "declined"),
                ("note", "prefers the diabetes clinic"),
            ],
        )
        .await
        .location();
    let html = patel.get(&list).await.ok().to_owned();
    assert!(!html.contains(&select), "declined leaves the working list");
    let declined = format!("{list}&status=declined");
    let html = patel.get(&declined).await.ok().to_owned();
    assert!(
        html.contains("Recall: declined: prefers the diabetes clinic"),
        "{html}"
    );
    let csv = patel
        .get(&format!(
            "{base}/recalls.csv?list=gap&key=diabetes_hba1c&provider={patel_id}&status=declined"
        ))
        .await;
    let text = csv.ok().to_owned();
    assert!(
        csv.headers[axum::http::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"recalls-")
    );
    assert!(text.contains(&phn), "{text}");
    assert!(text.contains("prefers the diabetes clinic"), "{text}");
    assert!(patel.get(&format!("{list}&status=nonsense")).await.status == StatusCode::BAD_REQUEST);

    // The patient's page shows the recall and takes one on its own.
    let records = format!("/c/{}/panels/{patel_id}/entries/{}/clinical", w.a, e.id);
    let page = patel.get(&records).await;
    let html = page.ok().to_owned();
    assert!(html.contains("Recall: declined"), "{html}");
    let reopened = patel
        .post_form(
            &format!("{records}/recall"),
            &[
                ("csrf", &page.csrf()),
                ("rule", "diabetes_hba1c"),
                ("action", "booked"),
                ("booked_for", "2001-01-01"),
            ],
        )
        .await;
    assert!(
        reopened
            .status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("booked for: the booking is in the past")
    );

    // Another physician of the clinic sees the clinic's list but cannot work Dr. Patel's
    // recalls; a forged form is refused.
    let mut nguyen = w.signed_in("drnguyen").await;
    let page = nguyen
        .get(&format!("{base}/list?list=recalls&status=declined"))
        .await;
    let html = page.ok().to_owned();
    assert!(!html.contains(&select), "no checkbox for another's panel");
    let forbidden = nguyen
        .post_form(
            &format!("{base}/recalls"),
            &[
                ("csrf", &page.csrf()),
                ("back", &back),
                ("entry", &who),
                ("action", "done"),
            ],
        )
        .await;
    forbidden.status_is(StatusCode::FORBIDDEN);
    patel
        .post_form(
            &format!("{base}/recalls"),
            &[
                ("csrf", "forged"),
                ("back", &back),
                ("entry", &who),
                ("action", "done"),
            ],
        )
        .await
        .status_is(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn suggestions_are_coded_or_dismissed_and_records_entered_by_hand() {
    let w = World::new("clinical-followup");
    let e = patel_patient(&w);
    let (patel_id, phn) = (w.id("drpatel"), e.details.phn.to_string());
    let base = format!("/c/{}/registries", w.a);
    // Two high HbA1c results and no diabetes code: probably not coded.
    let csv = format!(
        "phn,kind,id,system,code,display,date,end_date,status,value,unit,updated\n\
         {phn},observation,h1,loinc,4548-4,HbA1c,2026-01-10,,,7.2,%,\n\
         {phn},observation,h2,loinc,4548-4,HbA1c,2026-04-10,,,7.4,%,\n"
    );
    let mut patel = w.signed_in("drpatel").await;
    import_csv(&mut patel, &base, &csv).await;
    let uncoded = format!("{base}/list?list=uncoded&key=diabetes&provider={patel_id}");
    let page = patel.get(&uncoded).await;
    let html = page.ok().to_owned();
    assert!(html.contains(&e.id.to_string()), "{html}");
    assert!(html.contains("value=\"code\">Code in Attach"), "{html}");
    let records = format!("/c/{}/panels/{patel_id}/entries/{}/clinical", w.a, e.id);
    let action = format!("{records}/suggestion");
    let token = page.csrf();

    // Dismissing needs a reason; with one, the suggestion is gone and does not come back.
    let no_reason = patel
        .post_form(
            &action,
            &[
                ("csrf", &token),
                ("do", "dismiss"),
                ("registry", "diabetes"),
                ("rule", "two_hba1c"),
                ("reason", ""),
                ("back", &uncoded),
            ],
        )
        .await;
    assert!(
        no_reason
            .status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("reason: say why the suggestion does not apply")
    );
    let dismissed = patel
        .post_form(
            &action,
            &[
                ("csrf", &token),
                ("do", "dismiss"),
                ("registry", "diabetes"),
                ("rule", "two_hba1c"),
                ("reason", "thalassaemia trait: HbA1c unreliable"),
                ("back", &uncoded),
            ],
        )
        .await;
    let to = dismissed.location();
    assert!(
        to.starts_with(&uncoded) && to.ends_with("done=dismissed"),
        "{to}"
    );
    let html = patel.get(&uncoded).await.ok().to_owned();
    assert!(!html.contains(&e.id.to_string()), "dismissed: off the list");
    let html = patel.get(&records).await.ok().to_owned();
    assert!(html.contains("id=\"patient-dismissed\""), "{html}");
    assert!(html.contains("thalassaemia trait: HbA1c unreliable"));
    // A foreign `back` is not followed.
    let restored = patel
        .post_form(
            &action,
            &[
                ("csrf", &token),
                ("do", "restore"),
                ("registry", "diabetes"),
                ("rule", "two_hba1c"),
                ("back", "https://elsewhere.example/"),
            ],
        )
        .await;
    assert_eq!(restored.location(), format!("{records}?done=restored"));

    // Coded in Attach: on the registry, and listed to take back to the EMR.
    patel
        .post_form(
            &action,
            &[
                ("csrf", &token),
                ("do", "code"),
                ("registry", "diabetes"),
                ("code", "icd9 250"),
            ],
        )
        .await
        .location();
    let html = patel
        .get(&format!("{base}/list?list=registry&key=diabetes"))
        .await
        .ok()
        .to_owned();
    assert!(html.contains(&e.id.to_string()), "{html}");
    let html = patel.get(&format!("{base}/entered")).await.ok().to_owned();
    assert!(
        html.contains(&phn) && html.contains("ICD-9 (MSP) 250"),
        "{html}"
    );
    let csv = patel
        .get(&format!("{base}/entered.csv"))
        .await
        .ok()
        .to_owned();
    assert!(
        csv.contains(&format!("{phn},condition,attach:coded:diabetes,icd9,250")),
        "{csv}"
    );
    let wrong = patel
        .post_form(
            &action,
            &[
                ("csrf", &token),
                ("do", "code"),
                ("registry", "diabetes"),
                ("code", "icd9 401"),
            ],
        )
        .await;
    assert!(
        wrong
            .status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("is not one of the Diabetes registry")
    );

    // A result entered by hand: every wrong field named, nothing stored; then saved,
    // corrected and deleted.
    let form = patel.get(&format!("{records}/record")).await;
    let html = form.ok().to_owned();
    assert!(html.contains("id=\"record-form\""));
    let token = form.csrf();
    let bad = patel
        .post_form(
            &format!("{records}/record"),
            &[
                ("csrf", &token),
                ("kind", "observation"),
                ("code", "loinc 4548-4"),
                ("date", "2026-02-30"),
                ("value", "high"),
            ],
        )
        .await;
    let html = bad.status_is(StatusCode::UNPROCESSABLE_ENTITY).to_owned();
    assert!(html.contains("id=\"record-problems\""), "{html}");
    assert!(
        html.contains("<li>date: ") && html.contains("<li>value: "),
        "{html}"
    );
    assert!(html.contains("value=\"high\""), "what was typed is kept");
    let saved = patel
        .post_form(
            &format!("{records}/record"),
            &[
                ("csrf", &token),
                ("kind", "observation"),
                ("code", "loinc 4548-4"),
                ("display", "HbA1c (point of care)"),
                ("date", "2026-06-01"),
                ("value", "6.9"),
                ("unit", "%"),
            ],
        )
        .await;
    assert_eq!(saved.location(), format!("{records}?done=saved"));
    let html = patel.get(&records).await.ok().to_owned();
    assert!(html.contains("HbA1c (point of care)"), "{html}");
    assert!(html.contains("entered in Attach"), "{html}");
    let id = w
        .app()
        .patient_clinical(patel_id, w.a, patel_id, e.id)
        .unwrap()
        .records
        .into_iter()
        .find(|r| r.display.as_deref() == Some("HbA1c (point of care)"))
        .expect("the record entered")
        .source_id;
    assert!(
        html.contains(&format!("name=\"id\" value=\"{id}\"")),
        "deletable"
    );
    assert!(id.starts_with("attach:"), "{id}");
    let edit = patel
        .get(&format!("{records}/record?id={}", id.replace(':', "%3A")))
        .await;
    assert!(edit.ok().contains("value=\"6.9\""));
    // An EMR record cannot be deleted (it is corrected instead).
    let refused = patel
        .post_form(
            &format!("{records}/record/delete"),
            &[("csrf", &token), ("id", "h1")],
        )
        .await;
    assert!(
        refused
            .status_is(StatusCode::UNPROCESSABLE_ENTITY)
            .contains("cannot be deleted here")
    );
    patel
        .post_form(
            &format!("{records}/record/delete"),
            &[("csrf", &token), ("id", &id)],
        )
        .await
        .location();
    let html = patel.get(&records).await.ok().to_owned();
    assert!(!html.contains("HbA1c (point of care)"));

    // Staff Dr. Patel did not endorse cannot act on her patients.
    let mut roy = w.signed_in("moa.roy").await;
    let token = roy.get(&format!("/c/{}/dashboard", w.a)).await.csrf();
    roy.post_form(
        &action,
        &[("csrf", &token), ("do", "code"), ("registry", "diabetes")],
    )
    .await
    .status_is(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_coding_protocol_is_read_by_members_and_changed_by_managers_with_versions() {
    let w = World::new("clinical-coding");
    let e = patel_patient(&w);
    let phn = e.details.phn.to_string();
    let base = format!("/c/{}/registries", w.a);
    let coding = format!("{base}/coding");
    let mut patel = w.signed_in("drpatel").await;
    import_csv(&mut patel, &base, &export(&phn, false)).await;

    // A physician who is not a manager reads it, with no forms, and cannot post.
    let page = patel.get(&coding).await;
    let html = page.ok().to_owned();
    assert!(html.contains("id=\"coding-read-only\""));
    assert!(html.contains("id=\"registry-diabetes\""));
    assert!(html.contains("<code>icd10ca E11*</code>"), "{html}");
    assert!(!html.contains("/registries/coding/use"));
    let token = page.csrf();
    let refused = patel
        .post_form(
            &format!("{coding}/use"),
            &[
                ("csrf", &token),
                ("what", "registry"),
                ("key", "diabetes"),
                ("in_use", "no"),
            ],
        )
        .await;
    refused.status_is(StatusCode::FORBIDDEN);

    let mut director = w.signed_in("director").await;
    let page = director.get(&coding).await;
    let html = page.ok().to_owned();
    assert!(html.contains("id=\"add-registry\""));
    let token = page.csrf();

    // Codes with a bad line: refused, the line named, the typed codes kept, nothing saved.
    let bad = director
        .post_form(
            &format!("{coding}/registry"),
            &[
                ("csrf", &token),
                ("key", "diabetes"),
                ("name", "Diabetes"),
                ("codes", "icd9 250*\nicd10ca"),
                ("in_use", "on"),
            ],
        )
        .await;
    let html = bad.status_is(StatusCode::UNPROCESSABLE_ENTITY).to_owned();
    assert!(html.contains("id=\"reg-diabetes-error\""), "{html}");
    assert!(html.contains("line 2"), "{html}");
    assert!(html.contains("icd9 250*\nicd10ca</textarea>"), "{html}");
    assert!(html.contains("No changes recorded."));

    // Only ICD-9 codes count now: the patient coded in ICD-10-CA leaves the registry.
    let list = format!("{base}/list?list=registry&key=diabetes");
    let entry_link = format!("/entries/{}/clinical", e.id);
    assert!(patel.get(&list).await.ok().contains(&entry_link));
    let saved = director
        .post_form(
            &format!("{coding}/registry"),
            &[
                ("csrf", &token),
                ("key", "diabetes"),
                ("name", "Diabetes mellitus"),
                ("codes", "icd9 250*"),
                ("in_use", "on"),
            ],
        )
        .await;
    assert!(
        saved
            .location()
            .ends_with("/registries/coding?done=saved#registry-diabetes")
    );
    assert!(!patel.get(&list).await.ok().contains(&entry_link));
    let html = director.get(&coding).await.ok().to_owned();
    assert!(html.contains("changed by the clinic"), "{html}");
    assert!(
        html.contains("coding protocol: registry diabetes: renamed to"),
        "{html}"
    );

    // A rule of the clinic's own, then the registry put back as shipped.
    let added = director
        .post_form(
            &format!("{coding}/gap"),
            &[
                ("csrf", &token),
                ("key", ""),
                ("name", "Diabetes: weight yearly"),
                ("registry", "diabetes"),
                ("concept", "bmi"),
                ("every_months", "12"),
                ("target", ""),
                ("in_use", "on"),
            ],
        )
        .await;
    let at = added.location();
    assert!(at.contains("#gap-diabetes_weight_yearly"), "{at}");
    let o = director.get(&base).await.ok().to_owned();
    assert!(o.contains("Diabetes: weight yearly"), "{o}");
    let bad_target = director
        .post_form(
            &format!("{coding}/gap"),
            &[
                ("csrf", &token),
                ("key", "diabetes_weight_yearly"),
                ("name", "Diabetes: weight yearly"),
                ("registry", "diabetes"),
                ("concept", "bmi"),
                ("every_months", "twelve"),
                ("in_use", "on"),
            ],
        )
        .await;
    let html = bad_target
        .status_is(StatusCode::UNPROCESSABLE_ENTITY)
        .to_owned();
    assert!(
        html.contains("every_months: &#34;twelve&#34; is not a whole number"),
        "{html}"
    );
    director
        .post_form(
            &format!("{coding}/reset"),
            &[("csrf", &token), ("what", "registry"), ("key", "diabetes")],
        )
        .await
        .location();
    assert!(patel.get(&list).await.ok().contains(&entry_link));
    // Stop keeping it: off the overview, its list not found.
    director
        .post_form(
            &format!("{coding}/use"),
            &[
                ("csrf", &token),
                ("what", "registry"),
                ("key", "diabetes"),
                ("in_use", "no"),
            ],
        )
        .await
        .location();
    let o = director.get(&base).await.ok().to_owned();
    assert!(!o.contains("list=registry&#38;key=diabetes\""), "{o}");
    patel.get(&list).await.status_is(StatusCode::NOT_FOUND);
    let html = director.get(&coding).await.ok().to_owned();
    assert!(
        html.contains("Not used: its registry is not kept"),
        "{html}"
    );
    assert!(html.contains("coding protocol: turn off registry diabetes"));
}

#[tokio::test]
async fn a_registry_review_is_set_up_from_the_registries_page_and_its_list_counted() {
    let w = World::new("clinical-review");
    let e = patel_patient(&w);
    let phn = e.details.phn.to_string();
    let base = format!("/c/{}/registries", w.a);
    let tasks = format!("/c/{}/review/tasks", w.a);
    let mut patel = w.signed_in("drpatel").await;
    import_csv(&mut patel, &base, &export(&phn, false)).await;
    let patel_id = w.id("drpatel");
    let overview = format!("{base}?provider={patel_id}");
    // A physician sees no review yet, and no link to set one up.
    let html = patel.get(&overview).await.ok().to_owned();
    assert!(!html.contains("Set up a regular review"), "{html}");

    let mut director = w.signed_in("director").await;
    let html = director.get(&overview).await.ok().to_owned();
    let start = html.find("Set up a regular review").expect("the link");
    let href_at = html[..start].rfind("href=\"").unwrap() + 6;
    let href = html[href_at..href_at + html[href_at..].find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    assert!(href.contains("worklist=registry%3Adiabetes"), "{href}");
    let form = director.get(&href).await;
    let shown = form.ok().to_owned();
    assert!(
        shown.contains("<option value=\"registry:diabetes\" selected>Diabetes registry</option>"),
        "{shown}"
    );
    assert!(shown.contains("<option value=\"recalls\">Recall list</option>"));
    assert!(
        shown.contains("value=\"Diabetes registry review\""),
        "{shown}"
    );
    let chen = w.id("moa.chen");
    let today = w.app().clinic_today().to_string();
    let fields = |worklist: &'static str, filters: &'static str| {
        vec![
            ("title", "Diabetes registry review".to_owned()),
            ("provider", patel_id.to_string()),
            ("worklist", worklist.to_owned()),
            ("filters", filters.to_owned()),
            ("frequency", "months-3".to_owned()),
            ("owner", chen.to_string()),
            ("first_due", today.clone()),
        ]
    };
    // Filters belong to panel-review lists; a registry no one keeps is named.
    for (worklist, filters, problem) in [
        (
            "registry:diabetes",
            "min_age=65",
            "filters apply to panel-review lists",
        ),
        (
            "registry:gout",
            "",
            "there is no registry the clinic keeps called",
        ),
    ] {
        let f = fields(worklist, filters);
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = director.submit(&tasks, &tasks, &pairs).await;
        let text = refused.status_is(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(text.contains(problem), "{worklist}: {text}");
    }
    let f = fields("registry:diabetes", "");
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let made = director.submit(&tasks, &tasks, &pairs).await;
    assert_eq!(made.location(), format!("{tasks}?done=created"));

    // The task's list is the registry's, counted; the registries page says who reviews it.
    let mut grace = w.signed_in("moa.chen").await;
    let html = grace.get(&tasks).await.ok().to_owned();
    let on_registry = w
        .app()
        .clinical_list(
            chen,
            w.a,
            attach::app::ReviewScope::Provider(patel_id),
            &attach::app::ClinicalList::Registry("diabetes".into()),
        )
        .unwrap()
        .rows
        .len();
    assert!(on_registry >= 1);
    let list_href = format!("{base}/list?list=registry&#38;key=diabetes&#38;provider={patel_id}");
    assert!(
        html.contains(&format!("<a href=\"{list_href}\">Diabetes registry</a>")),
        "{html}"
    );
    let html = patel.get(&overview).await.ok().to_owned();
    assert!(
        html.contains("Diabetes registry: quarterly by Grace Chen, next due"),
        "{html}"
    );
}
