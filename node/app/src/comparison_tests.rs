//! The provincial comparison through the app: a clinic node counts, the hub (which gets the
//! clinic's family but never its clinical documents) compares, small cells suppressed.

use std::sync::Arc;

use super::*;
use crate::clinical::tests::clinic;
use crate::coding::tests::import_diabetic;
use crate::{ManualClock, RegistryEdit};

/// A hub replica: every document of the clinic's node but the clinical ones, as the hub's
/// sync policy lets through.
fn hub_of(node: &App, clock: &ManualClock) -> (App, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("attach-hub-test-{}", uuid::Uuid::new_v4()));
    let hub = App::open_at(&dir, 8, 30, Arc::new(clock.clone())).expect("opens");
    merge_family(&hub, node);
    (hub, dir)
}

fn merge_family(hub: &App, node: &App) {
    for id in node.store().ids_with_prefix("").expect("ids") {
        if id.as_str().starts_with("clinical/") {
            continue;
        }
        node.store()
            .read(&id, |doc| hub.store().merge_from(&id, doc))
            .expect("reads")
            .transpose()
            .expect("merges");
    }
}

fn stored(app: &App, clinic: ClinicId, day: Date) -> BTreeMap<String, Count> {
    app.store()
        .read(
            &attach_schema::ids::measures_doc_id(clinic, day.year()),
            |d| read_items(d, KIND_MEASURES),
        )
        .expect("reads")
        .transpose()
        .expect("items")
        .unwrap_or_default()
}

#[test]
fn a_clinic_sends_counts_only_and_the_hub_compares_them_with_small_cells_suppressed() {
    let (clock, r, ids) = clinic();
    import_diabetic(&r, &ids);
    let app = &r.app;
    let today = app.clinic_today();
    let written = app.record_measures().expect("counts");
    assert!(written > 0);
    assert_eq!(app.record_measures().expect("again"), 0, "nothing changed");
    let counts = stored(app, ids.clinic, today);
    let month = format!("/{:02}", u8::from(today.month()));
    let diabetes = counts[&format!("registry:diabetes{month}")];
    let o = app
        .clinical_overview(ids.director, ids.clinic, crate::ReviewScope::Clinic)
        .expect("overview");
    let on = o
        .registries
        .iter()
        .find(|r| r.key == "diabetes")
        .expect("kept");
    assert_eq!(
        diabetes,
        Count::new(on.patients as u32, o.population as u32),
        "the registry's patients of all the clinic's patients"
    );
    // Only counts are written: every record is a numerator and a denominator.
    assert!(
        counts
            .keys()
            .all(|k| k.starts_with("registry:") || k.starts_with("gap:"))
    );

    let (hub, dir) = hub_of(app, &clock);
    assert!(
        hub.store()
            .ids_with_prefix("clinical/")
            .expect("ids")
            .is_empty()
    );
    assert_eq!(
        hub.record_measures().expect("hub"),
        0,
        "the hub counts nothing"
    );
    let c = hub
        .province_comparison("registry:diabetes", today)
        .expect("compares");
    assert_eq!((c.clinics_sent, c.clinics), (1, 1));
    assert_eq!(c.authorities.len(), 1);
    let authority = &c.authorities[0];
    assert_eq!(
        authority.name, "Northern Health",
        "Smithers is in Northern Health"
    );
    assert_eq!(authority.communities[0].name, "Smithers");
    let cell = authority.communities[0].clinics[0].cell;
    assert_eq!(cell, Cell::of(diabetes));
    // One clinic alone: its community, authority and province show what it shows.
    assert_eq!(authority.communities[0].cell, cell);
    assert_eq!(c.province, cell);
    // Every measure's cell, whatever its counts, follows the suppression rule.
    for m in comparison_measures() {
        let c = hub.province_comparison(&m.key, today).expect("compares");
        let Some(count) = counts.get(&format!("{}{month}", m.key)) else {
            assert_eq!(c.clinics_sent, 0, "{}", m.key);
            continue;
        };
        let shown = c.authorities[0].communities[0].clinics[0].cell;
        assert_eq!(shown, Cell::of(*count), "{}", m.key);
        if let Cell::Shown(s) = shown {
            assert!(s.numerator == 0 || s.numerator >= 5, "{}", m.key);
            assert!(s.rest() == 0 || s.rest() >= 5, "{}", m.key);
        }
    }
    let err = hub
        .province_comparison("registry:gout", today)
        .expect_err("unknown");
    assert!(err.to_string().contains("registry:gout"), "{err}");
    let err = hub
        .coordinator_comparison(ids.director, "registry:diabetes", None)
        .expect_err("not a coordinator");
    assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");

    // The clinic recodes diabetes: it no longer measures what the others do, so this
    // month's diabetes count goes, at the clinic and then at the hub.
    app.save_registry(
        ids.director,
        ids.clinic,
        Some("diabetes"),
        &RegistryEdit {
            name: "Diabetes".into(),
            codes: vec!["icd9 250*".into()],
            in_use: true,
        },
    )
    .expect("recoded");
    assert!(app.record_measures().expect("counts") >= 1);
    let counts = stored(app, ids.clinic, today);
    assert!(!counts.contains_key(&format!("registry:diabetes{month}")));
    merge_family(&hub, app);
    let c = hub
        .province_comparison("registry:diabetes", today)
        .expect("compares");
    assert_eq!(c.clinics_sent, 0);
    assert_eq!(c.province, Cell::Empty);
    drop(hub);
    let _ = std::fs::remove_dir_all(dir);
}
