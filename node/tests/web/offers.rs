//! Router tests of the match-offer inbox: the provider sees offers made to them, declines
//! one with a reason from the list, accepts another, records the patient's yes; the person
//! is then on the panel. Another provider sees none of it, and a decline without a reason is
//! shown again with the problem.

use std::sync::Arc;

use attach::app::{App, COORDINATOR, WaitingInput};
use attach::domain::PatientInput;
use axum::http::StatusCode;

use super::{TempDir, World};

/// A hub replica (in process) registers two spares in the clinic's community and runs a
/// round; the offers are copied into the world's node, as sync would.
fn offers_from_a_hub(w: &World) -> Vec<attach::app::Registered> {
    let dir = TempDir::new("web-offers-hub");
    let hub = App::open_at(&dir.0, 16, 30, Arc::new(w.clock.clone())).unwrap();
    hub.merge_all_from(w.app()).unwrap();
    let people: Vec<_> = w.spares[..2]
        .iter()
        .map(|s| {
            let input = WaitingInput {
                patient: PatientInput {
                    phn: s.phn.to_string(),
                    family_name: s.family_name.clone(),
                    given_names: s.given_names.clone(),
                    date_of_birth: s.date_of_birth.to_string(),
                    sex: "unknown".into(),
                    community: "Smithers".into(),
                    ..Default::default()
                },
                ..Default::default()
            };
            hub.register_waiting(COORDINATOR, &input).unwrap()
        })
        .collect();
    assert_eq!(hub.run_matching(COORDINATOR).unwrap().offers, 2);
    for id in hub.doc_store().ids_with_prefix("inbox/").unwrap() {
        let doc = hub.doc_store().read(&id, |d| d.clone()).unwrap().unwrap();
        w.app().doc_store().merge_from(&id, &doc).unwrap();
    }
    people
}

#[tokio::test]
async fn a_provider_declines_with_a_reason_accepts_and_records_the_patient_s_yes() {
    let w = World::new("web-offers");
    offers_from_a_hub(&w);
    let path = format!("/c/{}/offers", w.a);
    // Which provider got them: the director sees every offer of the clinic.
    let mut director = w.signed_in("director").await;
    let html = director.get(&path).await.ok().to_owned();
    let provider = ["drpatel", "drnguyen", "drmacdonald", "npsingh"]
        .into_iter()
        .find(|u| {
            w.ids.get(*u).is_some_and(|id| {
                let name = w.app().display_name(*id);
                html.contains(&format!("Offer to {name}"))
            })
        })
        .expect("the offers name their provider");
    let mut doc = w.signed_in(provider).await;
    let html = doc.get(&path).await.ok().to_owned();
    assert_eq!(
        html.matches("<section class=\"card\" id=\"offer-").count(),
        2,
        "{html}"
    );
    assert!(html.contains("aria-current=\"page\">Match offers</a>"));
    let other = if provider == "drnguyen" {
        "drpatel"
    } else {
        "drnguyen"
    };
    let mut other = w.signed_in(other).await;
    assert!(
        other
            .get(&path)
            .await
            .ok()
            .contains("No offers for the panels you look after.")
    );

    let ids: Vec<String> = html
        .match_indices("name=\"offer\" value=\"")
        .map(|(i, m)| html[i + m.len()..i + m.len() + 36].to_owned())
        .collect();
    let (first, second) = (
        ids[0].clone(),
        ids.iter().find(|i| **i != ids[0]).unwrap().clone(),
    );

    // A decline without a reason is shown again with the problem; nothing is stored.
    let refused = doc
        .submit(
            &path,
            &format!("{path}/decide"),
            &[("offer", &second), ("decision", "decline"), ("reason", "")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.contains("Choose why the offer is declined."));
    let done = doc
        .submit(
            &path,
            &format!("{path}/decide"),
            &[
                ("offer", &second),
                ("decision", "decline"),
                ("reason", "too_far"),
                ("note", "two hours away"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let html = doc
        .get(&format!("{path}?done=declined"))
        .await
        .ok()
        .to_owned();
    assert!(
        html.contains("Declined")
            && html.contains("Lives too far from the clinic (two hours away)"),
        "{html}"
    );

    doc.submit(
        &path,
        &format!("{path}/decide"),
        &[("offer", &first), ("decision", "accept")],
    )
    .await;
    let html = doc.get(&path).await.ok().to_owned();
    let marker = format!(
        "name=\"offer\" value=\"{first}\">\n          <input type=\"hidden\" name=\"person\" value=\""
    );
    let at = html
        .find(&marker)
        .expect("an answer form for the accepted offer")
        + marker.len();
    let person = html[at..at + 36].to_owned();
    let answered = doc
        .submit(
            &path,
            &format!("{path}/answer"),
            &[("offer", &first), ("person", &person), ("answer", "yes")],
        )
        .await;
    assert_eq!(answered.status, StatusCode::SEE_OTHER, "{}", answered.text);
    let html = doc.get(&path).await.ok().to_owned();
    assert!(
        html.contains("Said yes") && html.contains(">Attached<"),
        "{html}"
    );
}

/// The director moves one of Dr. Patel's patients to Dr. Nguyen from the move page (a
/// missing reason is shown by its field and moves nothing), then sees the transfer among
/// the month's attachment records and downloads the billing file. Dr. Nguyen, who may not
/// see Dr. Patel's panel, cannot open the move page.
#[tokio::test]
async fn a_director_moves_a_patient_and_downloads_the_attachment_records() {
    let w = World::new("web-moves");
    let (patel, nguyen) = (w.ids["drpatel"], w.ids["drnguyen"]);
    let base = format!("/c/{}/panels/{patel}", w.a);
    let page = format!("{base}/move");
    let mut director = w.signed_in("director").await;
    let html = director.get(&page).await.ok().to_owned();
    assert!(html.contains("Move patients of"), "{html}");
    assert!(html.contains("The provincial waitlist"));
    let marker = "name=\"entry\" value=\"";
    let at = html.find(marker).expect("a patient to tick") + marker.len();
    let entry = html[at..at + 36].to_owned();
    let to = nguyen.to_string();

    let refused = director
        .submit(
            &page,
            &page,
            &[
                ("to", &to),
                ("scope", "selected"),
                ("entry", &entry),
                ("reason", " "),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.contains("id=\"reason-error\""), "{}", refused.text);
    assert!(
        !director
            .get(&format!("{base}/entries/{entry}"))
            .await
            .contains("id=\"removed\""),
        "nothing moved"
    );

    let moved = director
        .submit(
            &page,
            &page,
            &[
                ("to", &to),
                ("scope", "selected"),
                ("entry", &entry),
                ("reason", "Dr. Patel is leaving"),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.text);
    let shown = director
        .get(&format!("{base}/entries/{entry}"))
        .await
        .ok()
        .to_owned();
    assert!(
        shown.contains("Dr. Patel is leaving (transferred to the panel of"),
        "{shown}"
    );

    let month = format!("/c/{}/attachments?from=2026-11-01&to=2026-11-30", w.a);
    let html = director.get(&month).await.ok().to_owned();
    assert!(html.contains("1 attachment record(s)"), "{html}");
    assert!(html.contains(">transfer<"));
    let file = director
        .get(&format!(
            "/c/{}/attachments/download?from=2026-11-01&to=2026-11-30",
            w.a
        ))
        .await;
    assert_eq!(file.status, StatusCode::OK);
    assert!(
        file.text
            .starts_with("phn,practitioner_number,attachment_date,fee_code")
    );
    assert!(file.text.contains(",2026-11-02,98990,"), "{}", file.text);
    let bad = director
        .get(&format!("/c/{}/attachments?from=2026-11-01&to=soon", w.a))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.contains("write the date as YYYY-MM-DD"));

    let mut other = w.signed_in("drnguyen").await;
    assert_eq!(other.get(&page).await.status, StatusCode::FORBIDDEN);
}
