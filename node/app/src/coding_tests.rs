//! The coding protocol through the app: who may change it, what each change does to the
//! registries and recalls, its versions, and two nodes changing it apart.

use super::*;
use crate::clinical::tests::{clinic, patel_patient};
use crate::tests::{ClinicIds, Replica, sync, two_replicas};
use crate::{ClinicalFile, ClinicalFormat, ClinicalList, ReviewScope};
use attach_domain::clinical::rules::Comparison;

pub(crate) fn import_diabetic(r: &Replica, ids: &ClinicIds) -> attach_domain::PanelEntry {
    let e = patel_patient(r, ids);
    let text = format!(
        "phn,kind,id,system,code,display,date,end_date,status,value,unit,updated\n\
         {phn},condition,c1,icd9,250,Diabetes,2018-01-01,,active,,,2026-10-01T00:00:00Z\n\
         {phn},observation,o1,loinc,4548-4,HbA1c,2026-03-01,,,7.9,%,2026-10-01T00:00:00Z\n",
        phn = e.details.phn
    );
    r.app
        .import_clinical(
            ids.moa,
            ids.clinic,
            ClinicalFormat::Csv,
            &[ClinicalFile {
                name: "c.csv".to_owned(),
                bytes: text.into_bytes(),
            }],
        )
        .expect("imports");
    e
}

fn on_list(
    r: &Replica,
    ids: &ClinicIds,
    list: ClinicalList,
    e: &attach_domain::PanelEntry,
) -> bool {
    r.app
        .clinical_list(
            ids.patel,
            ids.clinic,
            ReviewScope::Provider(ids.patel),
            &list,
        )
        .expect("list")
        .rows
        .iter()
        .any(|row| row.entry.id == e.id)
}

fn registry<'a>(v: &'a CodingView, key: &str) -> &'a RegistryLine {
    v.registries.iter().find(|r| r.def.key == key).expect(key)
}

fn gap<'a>(v: &'a CodingView, key: &str) -> &'a GapLine {
    v.gaps.iter().find(|g| g.rule.key == key).expect(key)
}

fn edit_of(line: &RegistryLine) -> RegistryEdit {
    RegistryEdit {
        name: line.def.name.clone(),
        codes: line.def.codes.iter().map(CodeMatch::to_line).collect(),
        in_use: line.in_use,
    }
}

fn gap_edit_of(line: &GapLine) -> GapEdit {
    let p = &line.rule.population;
    GapEdit {
        name: line.rule.name.clone(),
        registry: p.registry.clone(),
        min_age: p.min_age,
        max_age: p.max_age,
        sex: p.sex,
        concept: line.rule.concept.clone(),
        every_months: line.rule.every_months,
        target: line.rule.target.clone(),
        in_use: line.in_use,
    }
}

#[test]
fn a_registry_turned_off_leaves_the_lists_and_comes_back_when_turned_on() {
    let (_clock, r, ids) = clinic();
    let app = &r.app;
    let e = import_diabetic(&r, &ids);
    let v = app
        .coding_protocol(ids.patel, ids.clinic)
        .expect("any member reads it");
    assert!(
        v.registries
            .iter()
            .all(|r| r.in_use && r.origin == DefinitionOrigin::Shipped)
    );
    assert!(v.left_out.is_empty());

    let err = app
        .set_definition_in_use(
            ids.patel,
            ids.clinic,
            Definition::Registry,
            "diabetes",
            false,
        )
        .expect_err("a physician who is not a manager");
    assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
    app.set_definition_in_use(
        ids.director,
        ids.clinic,
        Definition::Registry,
        "diabetes",
        false,
    )
    .expect("turned off");

    let scope = ReviewScope::Provider(ids.patel);
    let o = app
        .clinical_overview(ids.patel, ids.clinic, scope)
        .expect("overview");
    assert!(o.registries.iter().all(|r| r.key != "diabetes"));
    assert!(
        o.gaps.iter().all(|g| !g.key.starts_with("diabetes_")),
        "its rules go too"
    );
    assert!(o.own_catalogue);
    assert!(matches!(
        app.clinical_list(
            ids.patel,
            ids.clinic,
            scope,
            &ClinicalList::Registry("diabetes".into())
        ),
        Err(AppError::NotFound(_))
    ));
    let (defs, registries) = app.qi_definitions(ids.director, ids.clinic).expect("defs");
    assert!(registries.iter().all(|(k, _)| k != "diabetes"));
    assert!(
        defs.iter()
            .all(|(k, _)| !k.ends_with(":diabetes") && !k.contains(":diabetes_"))
    );
    let v = app.coding_protocol(ids.patel, ids.clinic).expect("reads");
    assert!(!registry(&v, "diabetes").in_use);
    assert!(!gap(&v, "diabetes_hba1c").applies);
    assert!(
        gap(&v, "diabetes_hba1c").in_use,
        "the rule itself is still chosen"
    );

    app.set_definition_in_use(
        ids.director,
        ids.clinic,
        Definition::Registry,
        "diabetes",
        true,
    )
    .expect("turned on");
    assert!(on_list(
        &r,
        &ids,
        ClinicalList::Registry("diabetes".into()),
        &e
    ));
    // Turning on what is on changes nothing, and makes no version.
    app.set_definition_in_use(
        ids.director,
        ids.clinic,
        Definition::Registry,
        "diabetes",
        true,
    )
    .expect("no-op");
    let history = app.coding_history(ids.moa, ids.clinic).expect("history");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0].user, Some(ids.director));
    assert_eq!(
        history[0].message,
        "coding protocol: turn off registry diabetes"
    );
    assert_eq!(
        history[1].message,
        "coding protocol: turn on registry diabetes"
    );
}

#[test]
fn edited_codes_decide_who_is_on_the_registry_and_a_reset_follows_the_shipped_codes() {
    let (_clock, r, ids) = clinic();
    let app = &r.app;
    let e = import_diabetic(&r, &ids);
    let diabetes = ClinicalList::Registry("diabetes".into());
    assert!(on_list(&r, &ids, diabetes.clone(), &e));
    let v = app
        .coding_protocol(ids.director, ids.clinic)
        .expect("reads");
    let mut edit = edit_of(registry(&v, "diabetes"));
    edit.codes = vec!["icd10ca E11*".into(), "".into(), "icd10ca e11*".into()];
    app.save_registry(ids.director, ids.clinic, Some("diabetes"), &edit)
        .expect("saved");
    assert!(
        !on_list(&r, &ids, diabetes.clone(), &e),
        "coded in ICD-9 only"
    );
    let v = app
        .coding_protocol(ids.director, ids.clinic)
        .expect("reads");
    let line = registry(&v, "diabetes");
    assert_eq!(line.origin, DefinitionOrigin::Edited);
    assert_eq!(
        line.def.codes,
        vec![CodeMatch::prefix(
            attach_domain::clinical::CodeSystem::Icd10Ca,
            "E11"
        )]
    );
    assert!(line.def.source.is_some(), "still cites where it came from");
    assert!(!line.def.uncoded.is_empty(), "keeps its uncoded rules");
    assert!(line.changed.is_some_and(|(_, by)| by == ids.director));
    let history = app
        .coding_history(ids.director, ids.clinic)
        .expect("history");
    let last = &history.last().expect("a version").message;
    assert!(
        last.starts_with("coding protocol: registry diabetes: "),
        "{last}"
    );
    assert!(last.contains(": codes removed: icd10ca E10*, "), "{last}");
    assert!(last.contains(", icd9 250*"), "{last}");
    assert!(
        !last.contains("codes added"),
        "E11* was there already: {last}"
    );

    app.reset_definition(ids.moa, ids.clinic, Definition::Registry, "diabetes")
        .expect("reset by the secondary manager");
    assert!(on_list(&r, &ids, diabetes, &e));
    let v = app
        .coding_protocol(ids.director, ids.clinic)
        .expect("reads");
    assert_eq!(registry(&v, "diabetes").origin, DefinitionOrigin::Shipped);
    // Saving the shipped codes as they are keeps following the shipped definition.
    let edit = edit_of(registry(&v, "diabetes"));
    app.save_registry(ids.director, ids.clinic, Some("diabetes"), &edit)
        .expect("saved");
    let v = app
        .coding_protocol(ids.director, ids.clinic)
        .expect("reads");
    assert_eq!(registry(&v, "diabetes").origin, DefinitionOrigin::Shipped);
}

#[test]
fn a_bad_edit_is_refused_with_what_and_where_and_nothing_is_written() {
    let (_clock, r, ids) = clinic();
    let app = &r.app;
    let v = app
        .coding_protocol(ids.director, ids.clinic)
        .expect("reads");
    let mut edit = edit_of(registry(&v, "copd"));
    edit.codes = vec!["icd9 496".into(), "icd9".into()];
    let err = app
        .save_registry(ids.director, ids.clinic, Some("copd"), &edit)
        .expect_err("a line without a code");
    assert!(err.to_string().contains("line 2"), "{err}");
    edit.codes = vec!["loinc 4548-4".into()];
    let err = app
        .save_registry(ids.director, ids.clinic, Some("copd"), &edit)
        .expect_err("a result code");
    assert!(err.to_string().contains("not diagnoses"), "{err}");
    edit.codes = vec![" ".into()];
    assert!(
        app.save_registry(ids.director, ids.clinic, Some("copd"), &edit)
            .is_err()
    );
    edit = edit_of(registry(&v, "copd"));
    edit.name = " ".into();
    assert!(
        app.save_registry(ids.director, ids.clinic, Some("copd"), &edit)
            .is_err()
    );
    assert!(matches!(
        app.save_registry(
            ids.director,
            ids.clinic,
            Some("no_such"),
            &edit_of(registry(&v, "copd"))
        ),
        Err(AppError::NotFound(_))
    ));

    let mut g = gap_edit_of(gap(&v, "diabetes_hba1c"));
    g.every_months = Some(0);
    let err = app
        .save_gap_rule(ids.director, ids.clinic, Some("diabetes_hba1c"), &g)
        .expect_err("every 0 months");
    assert!(err.to_string().contains("every_months"), "{err}");
    g = gap_edit_of(gap(&v, "diabetes_hba1c"));
    g.min_age = Some(70);
    g.max_age = Some(40);
    assert!(
        app.save_gap_rule(ids.director, ids.clinic, Some("diabetes_hba1c"), &g)
            .is_err()
    );
    g = gap_edit_of(gap(&v, "diabetes_hba1c"));
    g.concept = "nonsense".into();
    let err = app
        .save_gap_rule(ids.director, ids.clinic, Some("diabetes_hba1c"), &g)
        .expect_err("an unknown result kind");
    assert!(err.to_string().contains("nonsense"), "{err}");
    // A target on something with no value (a screening procedure).
    let screening = v
        .gaps
        .iter()
        .find(|g| {
            v.concepts
                .iter()
                .any(|c| c.key == g.rule.concept && c.kind == RecordKind::Procedure)
        })
        .expect("a procedure rule");
    let mut g = gap_edit_of(screening);
    g.target = Some(Target::Number {
        comparison: Comparison::AtLeast,
        value: 1.0,
    });
    let err = app
        .save_gap_rule(ids.director, ids.clinic, Some(&screening.rule.key), &g)
        .expect_err("no value to meet");
    assert!(err.to_string().contains("target"), "{err}");
    assert!(
        app.coding_history(ids.director, ids.clinic)
            .expect("history")
            .is_empty(),
        "nothing was written"
    );
}

#[test]
fn a_rule_with_a_new_interval_and_target_changes_the_recall_list() {
    let (_clock, r, ids) = clinic();
    let app = &r.app;
    let e = import_diabetic(&r, &ids);
    let rule = ClinicalList::Gap("diabetes_hba1c".into());
    // HbA1c 7.9 % in March: due in September (6 months), out of the ≤ 7.0 target.
    let scope = ReviewScope::Provider(ids.patel);
    let state = |r: &Replica| {
        app.clinical_list(ids.patel, ids.clinic, scope, &rule)
            .expect("list")
            .rows
            .into_iter()
            .find(|row| row.entry.id == e.id)
            .map(|row| {
                let c = row
                    .care
                    .gaps
                    .iter()
                    .find(|g| {
                        r.app.model().clinical[&ids.clinic].compiled.gap(g.rule).key
                            == "diabetes_hba1c"
                    })
                    .copied()
                    .expect("rule");
                (c.due, c.in_target)
            })
    };
    let (due, in_target) = state(&r).expect("on the list");
    assert_eq!(in_target, Some(false));
    assert_eq!(due.map(|d| d.to_string()).as_deref(), Some("2026-09-01"));
    let v = app
        .coding_protocol(ids.director, ids.clinic)
        .expect("reads");
    let mut g = gap_edit_of(gap(&v, "diabetes_hba1c"));
    g.every_months = Some(3);
    g.target = Some(Target::Number {
        comparison: Comparison::AtMost,
        value: 8.0,
    });
    app.save_gap_rule(ids.director, ids.clinic, Some("diabetes_hba1c"), &g)
        .expect("saved");
    let (due, in_target) = state(&r).expect("still overdue");
    assert_eq!(in_target, Some(true));
    assert_eq!(due.map(|d| d.to_string()).as_deref(), Some("2026-06-01"));
    let last = app
        .coding_history(ids.director, ids.clinic)
        .expect("history");
    let msg = &last.last().expect("a version").message;
    assert!(msg.contains("every 3 months (was every 6 months)"), "{msg}");
    assert!(msg.contains("target ≤ 8 (was ≤ 7)"), "{msg}");
    // Turned off, the rule is on no list.
    app.set_definition_in_use(
        ids.director,
        ids.clinic,
        Definition::Gap,
        "diabetes_hba1c",
        false,
    )
    .expect("off");
    assert!(matches!(
        app.clinical_list(ids.patel, ids.clinic, scope, &rule),
        Err(AppError::NotFound(_))
    ));
    assert!(
        !on_list(&r, &ids, ClinicalList::Recalls, &e) || {
            // Other diabetes rules (BP, eGFR…) may still recall the patient; HbA1c may not.
            let l = app
                .clinical_list(ids.patel, ids.clinic, scope, &ClinicalList::Recalls)
                .expect("recalls");
            let row = l.rows.iter().find(|row| row.entry.id == e.id).expect("row");
            row.care
                .gaps
                .iter()
                .all(|g| l.compiled.gap(g.rule).key != "diabetes_hba1c")
        }
    );
}

/// The clinic's own rule on its own chronic-pain registry.
fn pain_rule() -> GapEdit {
    GapEdit {
        name: "Chronic pain: blood pressure yearly".into(),
        registry: Some("chronic_pain".into()),
        concept: "bp".into(),
        every_months: Some(12),
        in_use: true,
        ..GapEdit::default()
    }
}

#[test]
fn the_clinic_adds_its_own_registry_and_rule_and_removes_them_in_order() {
    let (_clock, r, ids) = clinic();
    let app = &r.app;
    let key = app
        .save_registry(
            ids.director,
            ids.clinic,
            None,
            &RegistryEdit {
                name: "Chronic pain".into(),
                codes: vec!["icd9 338*".into(), "icd10ca G89*".into()],
                in_use: true,
            },
        )
        .expect("added");
    assert_eq!(key, "chronic_pain");
    let again = app.save_registry(
        ids.director,
        ids.clinic,
        None,
        &RegistryEdit {
            name: "chronic PAIN".into(),
            codes: vec!["icd9 338*".into()],
            in_use: true,
        },
    );
    assert!(matches!(again, Err(AppError::Invalid { .. })), "{again:?}");
    let rule = app
        .save_gap_rule(ids.director, ids.clinic, None, &pain_rule())
        .expect("added");
    let o = app
        .clinical_overview(ids.director, ids.clinic, ReviewScope::Clinic)
        .expect("overview");
    assert!(o.registries.iter().any(|r| r.key == "chronic_pain"));
    assert!(o.gaps.iter().any(|g| g.key == rule));
    let v = app.coding_protocol(ids.nguyen, ids.clinic).expect("reads");
    let line = registry(&v, "chronic_pain");
    assert_eq!(line.origin, DefinitionOrigin::Own);
    assert_eq!(
        line.rules,
        vec![(
            rule.clone(),
            "Chronic pain: blood pressure yearly".to_owned()
        )]
    );
    assert_eq!(gap(&v, &rule).origin, DefinitionOrigin::Own);

    let err = app
        .reset_definition(
            ids.director,
            ids.clinic,
            Definition::Registry,
            "chronic_pain",
        )
        .expect_err("a rule still refers to it");
    assert!(err.to_string().contains("chronic_pain"), "{err}");
    app.reset_definition(ids.director, ids.clinic, Definition::Gap, &rule)
        .expect("rule removed");
    app.reset_definition(
        ids.director,
        ids.clinic,
        Definition::Registry,
        "chronic_pain",
    )
    .expect("registry removed");
    let v = app.coding_protocol(ids.nguyen, ids.clinic).expect("reads");
    assert!(v.registries.iter().all(|r| r.def.key != "chronic_pain"));
    let history = app.coding_history(ids.nguyen, ids.clinic).expect("history");
    let messages: Vec<&str> = history.iter().map(|h| h.message.as_str()).collect();
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert!(messages[0].starts_with("coding protocol: add registry chronic_pain (2 codes)"));
    assert!(messages[1].starts_with("coding protocol: add care-gap rule chronic_pain_blood_pressure_yearly (on the chronic_pain registry, every 12 months, no target)"), "{}", messages[1]);
    assert_eq!(messages[3], "coding protocol: remove registry chronic_pain");
}

#[test]
fn two_nodes_change_the_protocol_apart_and_both_changes_hold() {
    let (_clock, a, b, ids) = two_replicas();
    a.app
        .set_definition_in_use(
            ids.director,
            ids.clinic,
            Definition::Registry,
            "copd",
            false,
        )
        .expect("a");
    let v = b.app.coding_protocol(ids.director, ids.clinic).expect("b");
    let mut g = gap_edit_of(gap(&v, "diabetes_hba1c"));
    g.every_months = Some(3);
    b.app
        .save_gap_rule(ids.moa, ids.clinic, Some("diabetes_hba1c"), &g)
        .expect("b");
    sync(&a, &b);
    for r in [&a, &b] {
        let v = r
            .app
            .coding_protocol(ids.director, ids.clinic)
            .expect("reads");
        assert!(!registry(&v, "copd").in_use);
        assert_eq!(gap(&v, "diabetes_hba1c").rule.every_months, Some(3));
        assert_eq!(
            r.app
                .coding_history(ids.director, ids.clinic)
                .expect("h")
                .len(),
            2
        );
    }
    // The same registry changed on both, differently: one whole choice wins on both, and
    // the clash is on the Conflicts page.
    a.app
        .set_definition_in_use(
            ids.director,
            ids.clinic,
            Definition::Registry,
            "asthma",
            false,
        )
        .expect("a");
    let v = b.app.coding_protocol(ids.director, ids.clinic).expect("b");
    let mut edit = edit_of(registry(&v, "asthma"));
    edit.name = "Asthma (adults and children)".into();
    b.app
        .save_registry(ids.director, ids.clinic, Some("asthma"), &edit)
        .expect("b");
    sync(&a, &b);
    let va = a.app.coding_protocol(ids.director, ids.clinic).expect("a");
    let vb = b.app.coding_protocol(ids.director, ids.clinic).expect("b");
    assert_eq!(registry(&va, "asthma"), registry(&vb, "asthma"));
    let conflicts = a
        .app
        .conflicts(ids.director, ids.clinic)
        .expect("conflicts");
    assert!(
        conflicts
            .iter()
            .any(|c| c.about.contains("coding protocol's registry asthma")),
        "{:?}",
        conflicts.iter().map(|c| &c.about).collect::<Vec<_>>()
    );
}

#[test]
fn a_rule_left_without_its_registry_after_a_merge_is_named_and_can_be_removed() {
    let (_clock, a, b, ids) = two_replicas();
    a.app
        .save_registry(
            ids.director,
            ids.clinic,
            None,
            &RegistryEdit {
                name: "Chronic pain".into(),
                codes: vec!["icd9 338*".into()],
                in_use: true,
            },
        )
        .expect("added");
    sync(&a, &b);
    // Apart: one computer removes the registry, the other adds a rule on it.
    a.app
        .reset_definition(
            ids.director,
            ids.clinic,
            Definition::Registry,
            "chronic_pain",
        )
        .expect("removed on a");
    let rule = b
        .app
        .save_gap_rule(ids.director, ids.clinic, None, &pain_rule())
        .expect("added on b");
    sync(&a, &b);
    for r in [&a, &b] {
        let v = r
            .app
            .coding_protocol(ids.nguyen, ids.clinic)
            .expect("reads");
        assert_eq!(v.left_out.len(), 1, "{:?}", v.left_out);
        assert_eq!(v.left_out[0].item, format!("gap:{rule}"));
        assert!(
            v.left_out[0].reason.contains("chronic_pain"),
            "{}",
            v.left_out[0].reason
        );
        // The rest of the catalogue still applies.
        let o = r
            .app
            .clinical_overview(ids.director, ids.clinic, ReviewScope::Clinic)
            .expect("overview");
        assert!(o.gaps.iter().all(|g| g.key != rule));
        assert!(o.gaps.iter().any(|g| g.key == "diabetes_hba1c"));
    }
    assert!(!is_shipped_definition(Definition::Gap, &rule));
    b.app
        .reset_definition(ids.moa, ids.clinic, Definition::Gap, &rule)
        .expect("the left-out rule is removed");
    sync(&a, &b);
    for r in [&a, &b] {
        let v = r
            .app
            .coding_protocol(ids.nguyen, ids.clinic)
            .expect("reads");
        assert!(v.left_out.is_empty(), "{:?}", v.left_out);
    }
}
