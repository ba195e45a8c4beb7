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
