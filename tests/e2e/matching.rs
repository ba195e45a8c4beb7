//! Matching end to end: a hub and two clinic nodes as real `attach` processes. People are
//! registered on the provincial waitlist at the hub, a matching round offers them to
//! providers at both clinics, the offers reach each clinic by sync, one clinic accepts and
//! the other declines with a reason, the patient confirms, and the panel, the waitlist and
//! every replica agree.

use serde_json::{Value, json};

use crate::cluster::{
    DEMO_FACILITY, SYNC_WAIT, code, digest, enrol, enrolled_clinic, hub_status, seed_demo,
    signed_in, start_hub, start_node, wait_quiet, wait_until,
};
use crate::support::{Api, DataDir, phn, run};

/// People waiting in Smithers, where both clinics are.
const WAITING: usize = 16;

fn waitlist_csv() -> String {
    let mut text = "phn,family_name,given_names,date_of_birth,sex,phone,email,street,city,province,postal_code,community,languages,need,factors,registered_on,household\n".to_owned();
    for i in 0..WAITING {
        let body = 91_000_000 + u32::try_from(i).unwrap() * 1_000;
        let factors = if i == 0 { "complex_care" } else { "" };
        text.push_str(&format!(
            "{},Waiting{i:02},Pat,1980-0{}-1{},F,250-555-01{i:02},,1 Main St,Smithers,BC,V0J 2N0,Smithers,,any,{factors},2025-0{}-01,\n",
            phn(body),
            1 + i % 9,
            i % 10,
            1 + i % 9,
        ));
    }
    text
}

fn offers(api: &Api, clinic: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/api/v1/clinics/{clinic}/offers"));
    assert_eq!(status, 200, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// Adds an active physician to a clinic (through its director) and signs them in with their
/// own password.
fn add_physician(node: &crate::support::Server, director: &Api, clinic: &str) -> (Api, String) {
    let members = format!("/api/v1/clinics/{clinic}/members");
    let (status, member) = director.post(
        &members,
        &json!({"username": "drlee", "display_name": "Dr. Jordan Lee", "role": "physician"}),
    );
    assert_eq!(status, 201, "{member}");
    let user = member["user"].as_str().unwrap().to_owned();
    let temporary = member["temporary_password"].as_str().unwrap().to_owned();
    let (status, member) = director.post_empty(&format!("{members}/{user}/activate"));
    assert_eq!(status, 200, "{member}");
    let mut api = node.api();
    let (status, body) = api.login("drlee", &temporary);
    assert_eq!(status, 200, "{body}");
    api.change_password(&temporary, "maple-canyon-drift-51");
    (api, user)
}

#[test]
fn waitlist_round_decisions_and_attachment_agree_on_hub_and_clinics() {
    let hub_dir = DataDir::new("match-hub");
    let a_dir = DataDir::new("match-a");
    let b_dir = DataDir::new("match-b");
    let files = DataDir::new("match-files");

    // Clinic A: the demo clinic in Smithers. Clinic B: a new clinic in the same town.
    seed_demo(&a_dir, 40);
    let out = run(&[
        "init",
        "--data-dir",
        b_dir.arg(),
        "--clinic-name",
        "Bulkley Valley Clinic",
        "--facility-number",
        "B54321",
        "--director-username",
        "bea",
        "--director-name",
        "Bea B",
    ])
    .assert_success();
    let bea_temporary = crate::support::field_after(&out.stdout, "Temporary password:").to_owned();

    let hub = start_hub(&hub_dir, "127.0.0.1:0");
    let clinic_a = enrolled_clinic(&enrol(
        &a_dir,
        &hub,
        &code(&hub_dir, &["--facility", DEMO_FACILITY]),
    ));
    let clinic_b = enrolled_clinic(&enrol(
        &b_dir,
        &hub,
        &code(&hub_dir, &["--facility", "B54321"]),
    ));
    let a = start_node(&a_dir);
    let b = start_node(&b_dir);

    // Clinic B's director puts the clinic in Smithers and adds a physician who takes
    // new patients.
    let mut bea = b.api();
    assert_eq!(bea.login("bea", &bea_temporary).0, 200);
    bea.change_password(&bea_temporary, "quiet-harbour-lamp-93");
    let (status, body) = bea.put(
        &format!("/api/v1/clinics/{clinic_b}/profile"),
        &json!({
            "name": "Bulkley Valley Clinic",
            "facility_number": "B54321",
            "address": {"street": "3 Broadway Ave", "city": "Smithers", "province": "BC", "postal_code": "V0J 2N0"},
            "phone": "250-555-0100",
        }),
    );
    assert_eq!(status, 200, "{body}");
    let (drlee, lee_id) = add_physician(&b, &bea, &clinic_b);
    let (status, body) = drlee.put(
        &format!("/api/v1/clinics/{clinic_b}/providers/{lee_id}/preferences"),
        &json!({"accepting_new_patients": true, "monthly_capacity": 20, "desired_panel_size": 1200, "max_open_requests": 10}),
    );
    assert_eq!(status, 200, "{body}");
    a.wait_log("caught up with the hub", 1, SYNC_WAIT);
    b.wait_log("caught up with the hub", 1, SYNC_WAIT);
    wait_quiet(&hub_dir);

    // The coordinator registers the waiting people (one of them twice: merged, not
    // counted twice) and runs a round.
    let csv = files.file("waitlist.csv");
    let text = waitlist_csv();
    let duplicate = text.lines().nth(1).unwrap().to_owned();
    std::fs::write(&csv, format!("{text}{duplicate}\n")).unwrap();
    let out = run(&[
        "hub",
        "import-waitlist",
        "--data-dir",
        hub_dir.arg(),
        csv.to_str().unwrap(),
    ])
    .assert_success();
    assert!(out.stdout.contains("1 merged"), "{}", out.stdout);
    // One more person through the admin API's JSON; a mistyped one is refused by field.
    let token = std::fs::read_to_string(hub_dir.path().join("hub/admin-token")).unwrap();
    let address = std::fs::read_to_string(hub_dir.path().join("hub/admin-address")).unwrap();
    let admin = Api::new(&format!("http://{}", address.trim())).with_bearer(token.trim());
    let person = json!({
        "phn": phn(99_000_000), "family_name": "Latecomer", "given_names": "Sam",
        "date_of_birth": "1990-05-05", "sex": "M", "community": "Smithers",
        "factors": "pregnancy", "need": "any",
    });
    let (status, body) = admin.post("/admin/waitlist", &person);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["merged"], false, "{body}");
    let mut bad = person.clone();
    bad["date_of_birth"] = json!("05/05/1990");
    bad["phn"] = json!(phn(99_100_000));
    let (status, body) = admin.post("/admin/waitlist", &bad);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("date_of_birth"),
        "{body}"
    );

    let out = run(&["hub", "match", "--data-dir", hub_dir.arg()]).assert_success();
    assert!(out.stdout.contains("Matching round:"), "{}", out.stdout);

    // The offers reach both clinics by sync.
    let patel = signed_in(&a, "drpatel", "demo-drpatel-pw");
    let director_a = signed_in(&a, "director", "demo-director-pw");
    wait_until("offers reach clinic A", || {
        !offers(&director_a, &clinic_a).is_empty()
    });
    wait_until("offers reach clinic B", || {
        !offers(&drlee, &clinic_b).is_empty()
    });
    let a_offers = offers(&director_a, &clinic_a);
    let b_offers = offers(&drlee, &clinic_b);
    let offered: usize = a_offers
        .iter()
        .chain(&b_offers)
        .map(|o| o["persons"].as_array().unwrap().len())
        .sum();
    assert!(offered <= WAITING + 1, "nobody is offered twice: {offered}");
    // Every offered person is offered once, to one provider.
    let mut phns: Vec<&str> = a_offers
        .iter()
        .chain(&b_offers)
        .flat_map(|o| o["persons"].as_array().unwrap())
        .map(|p| p["phn"].as_str().unwrap())
        .collect();
    phns.sort_unstable();
    let before = phns.len();
    phns.dedup();
    assert_eq!(phns.len(), before, "a person offered twice: {phns:?}");
    for o in a_offers.iter().chain(&b_offers) {
        for p in o["persons"].as_array().unwrap() {
            assert!(!p["why"].as_str().unwrap().is_empty(), "{p}");
        }
    }

    // Clinic A: an offer to Dr. Patel is accepted and the patient confirms.
    let me = patel.get("/api/v1/session").1["user"]
        .as_str()
        .unwrap()
        .to_owned();
    let offer_a = offers(&patel, &clinic_a)
        .into_iter()
        .find(|o| o["provider"] == me.as_str() && o["may_decide"] == true)
        .unwrap_or_else(|| panic!("an offer to Dr. Patel in {a_offers:#?}"));
    let offer_a_id = offer_a["id"].as_str().unwrap();
    let person_a = offer_a["persons"][0]["person"].as_str().unwrap().to_owned();
    let phn_a = offer_a["persons"][0]["phn"].as_str().unwrap().to_owned();
    let (status, body) = patel.post(
        &format!("/api/v1/clinics/{clinic_a}/offers/{offer_a_id}/decision"),
        &json!({"decision": "accept"}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = director_a.post(
        &format!("/api/v1/clinics/{clinic_a}/offers/{offer_a_id}/answers"),
        &json!({"person": person_a, "confirmed": true, "note": "called, happy to join"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["persons"][0]["outcome"], "attached", "{body}");

    // Clinic B: Dr. Lee declines an offer, with a reason.
    let offer_b = &b_offers[0];
    let offer_b_id = offer_b["id"].as_str().unwrap();
    let (status, body) = drlee.post(
        &format!("/api/v1/clinics/{clinic_b}/offers/{offer_b_id}/decision"),
        &json!({"decision": "decline"}),
    );
    assert_eq!(status, 422, "a decline needs a reason: {body}");
    let (status, body) = drlee.post(
        &format!("/api/v1/clinics/{clinic_b}/offers/{offer_b_id}/decision"),
        &json!({"decision": "decline", "reason": "panel_full"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["persons"][0]["outcome"], "declined_by_provider",
        "{body}"
    );

    // The attached patient is on Dr. Patel's panel at clinic A.
    let panel = format!("/api/v1/clinics/{clinic_a}/providers/{me}/panel");
    let (status, page) = patel.get(&format!("{panel}?q={phn_a}"));
    assert_eq!(status, 200, "{page}");
    let row = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["patient"]["phn"] == phn_a.as_str())
        .unwrap_or_else(|| panic!("the attached patient on the panel: {page}"));
    assert_eq!(row["status"]["kind"], "active", "{row}");

    // The decisions go up; a second round does not offer the attached person again and
    // does not offer the declined person to Dr. Lee again.
    wait_quiet(&hub_dir);
    let status_text = hub_status(&hub_dir);
    assert!(
        status_text.contains("Connected nodes:      2"),
        "{status_text}"
    );
    let out = run(&["hub", "match", "--data-dir", hub_dir.arg()]).assert_success();
    assert!(out.stdout.contains("Matching round:"), "{}", out.stdout);
    wait_quiet(&hub_dir);
    let declined_person = offer_b["persons"][0]["person"].as_str().unwrap();
    for o in offers(&drlee, &clinic_b) {
        if o["id"] == offer_b_id {
            continue;
        }
        for p in o["persons"].as_array().unwrap() {
            assert_ne!(
                p["person"], declined_person,
                "offered again to the provider who declined: {o}"
            );
        }
    }
    let (all_a, all_b) = (offers(&director_a, &clinic_a), offers(&drlee, &clinic_b));
    let again = all_a
        .iter()
        .chain(&all_b)
        .filter(|o| o["id"] != offer_a_id)
        .filter(|o| {
            o["persons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["phn"] == phn_a.as_str())
        })
        .count();
    assert_eq!(again, 0, "the attached person is offered again");

    // The provincial view at the hub agrees: one person attached, the clinic's decline and
    // its reason counted, nobody counted twice.
    let (status, report) = admin.get("/admin/report");
    assert_eq!(status, 200, "{report}");
    let count = |list: &str, key: &str| {
        report[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .map_or(0, |c| c["count"].as_u64().unwrap())
    };
    assert_eq!(count("by_status", "attached"), 1, "{report:#}");
    assert_eq!(count("decline_reasons", "panel_full"), 1, "{report:#}");
    assert_eq!(report["provider_side"]["no"], 1, "{report:#}");
    assert_eq!(report["patient_side"]["yes"], 1, "{report:#}");
    let registrations: u64 = report["by_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        registrations,
        WAITING as u64 + 1,
        "the duplicate registration is one person: {report:#}"
    );

    // Every replica has the same documents: the offers, decisions and the new panel entry.
    a.stop();
    b.stop();
    hub.server.stop();
    assert_eq!(digest(&a_dir, &clinic_a), digest(&hub_dir, &clinic_a));
    assert_eq!(digest(&b_dir, &clinic_b), digest(&hub_dir, &clinic_b));
}
