//! The clinical side on the real binaries: a clinic node counts its measures when it
//! starts, the counts reach the hub with the clinic, and the hub compares them (small cells
//! suppressed) while holding no clinical document of the clinic.

use std::sync::Arc;

use crate::cluster::{DEMO_FACILITY, code, enrol, seed_demo, start_hub, start_node, wait_until};
use crate::support::{DataDir, run};

fn measures(hub: &DataDir, measure: &str) -> String {
    run(&[
        "hub",
        "measures",
        "--data-dir",
        hub.arg(),
        "--measure",
        measure,
    ])
    .assert_success()
    .stdout
}

/// Whether a stopped data directory holds the clinic, and how many of its clinical
/// documents.
fn clinical_documents(dir: &DataDir, clinic: &str) -> (bool, usize) {
    let app = attach::app::App::open_at(dir.path(), 8, 30, Arc::new(attach::app::SystemClock))
        .expect("opens");
    let clinic = attach::domain::ClinicId(clinic.parse().expect("uuid"));
    (
        app.clinic_ids().contains(&clinic),
        app.clinical_document_count(clinic).expect("counts"),
    )
}

#[test]
fn the_hub_compares_the_counts_a_clinic_node_sends_and_holds_none_of_its_clinical_data() {
    let hub_dir = DataDir::new("measures-hub");
    let node_dir = DataDir::new("measures-node");
    seed_demo(&node_dir, 300);
    let hub = start_hub(&hub_dir, "127.0.0.1:0");
    enrol(
        &node_dir,
        &hub,
        &code(&hub_dir, &["--facility", DEMO_FACILITY]),
    );
    let node = start_node(&node_dir);
    wait_until("the hub has the clinic's counts", || {
        measures(&hub_dir, "registry:diabetes").contains("1 of 1 clinics sent it")
    });
    let out = measures(&hub_dir, "registry:diabetes");
    assert!(out.contains("Northern Health"), "{out}");
    assert!(out.contains("    Smithers: "), "{out}");
    assert!(out.contains("Province: "), "{out}");
    for key in [
        "registry:hypertension",
        "gap:diabetes_hba1c",
        "gap:cervical_screening",
    ] {
        let out = measures(&hub_dir, key);
        for small in 1..5 {
            assert!(
                !out.contains(&format!("({small} of ")),
                "{key}: a count of {small} shown:\n{out}"
            );
        }
    }
    let bad = run(&[
        "hub",
        "measures",
        "--data-dir",
        hub_dir.arg(),
        "--month",
        "soon",
    ])
    .assert_failure();
    assert!(bad.stderr.contains("soon"), "{}", bad.stderr);
    node.stop();
    hub.server.stop();
    let clinic = crate::cluster::enrolled_clinic_of(&node_dir);
    let (_, on_node) = clinical_documents(&node_dir, &clinic);
    assert!(on_node > 0, "the demo seeds clinical records");
    assert_eq!(
        clinical_documents(&hub_dir, &clinic),
        (true, 0),
        "the hub has the clinic and none of its clinical documents"
    );
}
