//! The clinic's coding protocol in the browser: which registries it keeps and the codes each
//! counts, each care-gap rule's population, interval and target, the registries and rules
//! it adds, and every version. Any member reads it; account managers change it.

use std::collections::HashMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::registry::{Done, HistoryRow, history_rows, when};
use crate::{Frame, Layout, Web};
use attach_app::{
    AppError, CodingView, Definition, GapEdit, GapLine, HistoryView, RegistryEdit, RegistryLine,
};
use attach_domain::clinical::CodeMatch;
use attach_domain::clinical::rules::{Comparison, Target};
use attach_domain::{Sex, UserId};

const NOTICES: &[(&str, &str)] = &[
    (
        "saved",
        "Saved. The registries, suggestions and recall lists follow the protocol now; the versions below keep the earlier one.",
    ),
    ("reset", "Put back as Attach ships it."),
    ("removed", "Removed."),
];

/// One registry on the page, with its form's values (what was typed, after a refusal).
#[derive(Debug, Clone)]
struct RegistryRow {
    key: String,
    name: String,
    codes: Vec<String>,
    source: String,
    in_use: bool,
    origin: &'static str,
    own: bool,
    edited: bool,
    changed: String,
    rules: String,
    uncoded: usize,
    form: RegistryForm,
    open: bool,
    error: String,
}

/// One care-gap rule on the page.
#[derive(Debug, Clone)]
struct GapRow {
    key: String,
    name: String,
    population: String,
    closed_by: String,
    every: String,
    target: String,
    source: String,
    in_use: bool,
    applies: bool,
    origin: &'static str,
    own: bool,
    edited: bool,
    changed: String,
    form: GapForm,
    open: bool,
    error: String,
}

/// A definition of the clinic's that could not be applied, with what removes it.
#[derive(Debug, Clone)]
struct LeftOutRow {
    text: String,
    /// `gap` for a rule the page can remove; empty otherwise.
    what: String,
    key: String,
    /// What the button does: restore the shipped rule, or remove the clinic's own.
    action: &'static str,
}

#[derive(Debug, Clone)]
struct Choice {
    value: String,
    label: String,
}

#[derive(Template)]
#[template(path = "clinical/coding.html")]
struct CodingPage {
    layout: Layout,
    base: String,
    manager: bool,
    registries: Vec<RegistryRow>,
    gaps: Vec<GapRow>,
    left_out: Vec<LeftOutRow>,
    registry_choices: Vec<Choice>,
    concept_choices: Vec<Choice>,
    new_registry: RegistryForm,
    new_registry_error: String,
    new_gap: GapForm,
    new_gap_error: String,
    error: String,
    history: Vec<HistoryRow>,
}

/// The registry form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    codes: String,
    #[serde(default)]
    in_use: Option<String>,
}

/// The care-gap rule form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GapForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    registry: String,
    #[serde(default)]
    min_age: String,
    #[serde(default)]
    max_age: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    concept: String,
    #[serde(default)]
    every_months: String,
    /// `""` (none), `at_most`, `at_least`, `below`, `above`, or `bp`.
    #[serde(default)]
    target: String,
    #[serde(default)]
    target_value: String,
    #[serde(default)]
    target_systolic: String,
    #[serde(default)]
    target_diastolic: String,
    #[serde(default)]
    in_use: Option<String>,
}

/// A turn on/off, reset or remove.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    /// `registry` or `gap`.
    what: String,
    key: String,
    #[serde(default)]
    in_use: String,
}

/// What a refused form brings back to the page.
enum Refused {
    Registry(RegistryForm, String),
    Gap(Box<GapForm>, String),
    Other(String),
}

fn registry_form(r: &RegistryLine) -> RegistryForm {
    RegistryForm {
        key: r.def.key.clone(),
        name: r.def.name.clone(),
        codes: r
            .def
            .codes
            .iter()
            .map(CodeMatch::to_line)
            .collect::<Vec<_>>()
            .join("\n"),
        in_use: r.in_use.then(|| "on".to_owned()),
    }
}

fn gap_form(g: &GapLine) -> GapForm {
    let p = &g.rule.population;
    let num = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    let (target, value, systolic, diastolic) = match &g.rule.target {
        None => ("", String::new(), String::new(), String::new()),
        Some(Target::Number { comparison, value }) => (
            comparison.key(),
            value.to_string(),
            String::new(),
            String::new(),
        ),
        Some(Target::BloodPressureBelow {
            systolic,
            diastolic,
        }) => (
            "bp",
            String::new(),
            systolic.to_string(),
            diastolic.to_string(),
        ),
    };
    GapForm {
        key: g.rule.key.clone(),
        name: g.rule.name.clone(),
        registry: p.registry.clone().unwrap_or_default(),
        min_age: num(p.min_age),
        max_age: num(p.max_age),
        sex: match p.sex {
            Some(Sex::Female) => "female",
            Some(Sex::Male) => "male",
            _ => "",
        }
        .to_owned(),
        concept: g.rule.concept.clone(),
        every_months: num(g.rule.every_months),
        target: target.to_owned(),
        target_value: value,
        target_systolic: systolic,
        target_diastolic: diastolic,
        in_use: g.in_use.then(|| "on".to_owned()),
    }
}

fn changed(c: Option<(time::OffsetDateTime, UserId)>, names: &HashMap<UserId, String>) -> String {
    c.map(|(at, by)| format!("{} by {}", when(at), crate::panel::name_of(names, by)))
        .unwrap_or_default()
}

struct Loaded {
    view: CodingView,
    history: Vec<HistoryView>,
    names: HashMap<UserId, String>,
}

async fn load(web: &Web, frame: &Frame) -> Result<Loaded, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    Ok(web
        .app
        .run(move |app| {
            Ok(Loaded {
                view: app.coding_protocol(who, clinic)?,
                history: app.coding_history(who, clinic)?,
                names: crate::panel::names(app, who, clinic)?,
            })
        })
        .await?)
}

fn draw(frame: Frame, l: Loaded, refused: Option<Refused>) -> Response {
    let v = &l.view;
    let concept_name = |key: &str| {
        v.concepts
            .iter()
            .find(|c| c.key == key)
            .map_or_else(|| key.to_owned(), |c| c.name.clone())
    };
    let (mut new_registry, mut new_registry_error) = (
        RegistryForm {
            in_use: Some("on".to_owned()),
            ..RegistryForm::default()
        },
        String::new(),
    );
    let (mut new_gap, mut new_gap_error) = (
        GapForm {
            in_use: Some("on".to_owned()),
            every_months: "12".to_owned(),
            ..GapForm::default()
        },
        String::new(),
    );
    let mut error = String::new();
    let mut registries: Vec<RegistryRow> = v
        .registries
        .iter()
        .map(|r| RegistryRow {
            key: r.def.key.clone(),
            name: r.def.name.clone(),
            codes: r.def.codes.iter().map(CodeMatch::to_line).collect(),
            source: r
                .def
                .source
                .as_ref()
                .map(|s| s.citation.clone())
                .unwrap_or_default(),
            in_use: r.in_use,
            origin: r.origin.label(),
            own: r.origin == attach_app::DefinitionOrigin::Own,
            edited: r.origin == attach_app::DefinitionOrigin::Edited,
            changed: changed(r.changed, &l.names),
            rules: r
                .rules
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            uncoded: r.def.uncoded.len(),
            form: registry_form(r),
            open: false,
            error: String::new(),
        })
        .collect();
    let mut gaps: Vec<GapRow> = v
        .gaps
        .iter()
        .map(|g| GapRow {
            key: g.rule.key.clone(),
            name: g.rule.name.clone(),
            population: g.rule.population.describe(),
            closed_by: concept_name(&g.rule.concept),
            every: g
                .rule
                .every_months
                .map_or_else(|| "once".to_owned(), |m| format!("every {m} months")),
            target: g
                .rule
                .target
                .as_ref()
                .map(Target::describe)
                .unwrap_or_default(),
            source: g
                .rule
                .source
                .as_ref()
                .map(|s| s.citation.clone())
                .unwrap_or_default(),
            in_use: g.in_use,
            applies: g.applies,
            origin: g.origin.label(),
            own: g.origin == attach_app::DefinitionOrigin::Own,
            edited: g.origin == attach_app::DefinitionOrigin::Edited,
            changed: changed(g.changed, &l.names),
            form: gap_form(g),
            open: false,
            error: String::new(),
        })
        .collect();
    match refused {
        None => {}
        Some(Refused::Registry(form, e)) => {
            match registries.iter_mut().find(|r| r.key == form.key) {
                Some(row) if !form.key.is_empty() => {
                    row.form = form;
                    row.open = true;
                    row.error = e;
                }
                _ => {
                    new_registry = form;
                    new_registry_error = e;
                }
            }
        }
        Some(Refused::Gap(form, e)) => match gaps.iter_mut().find(|g| g.key == form.key) {
            Some(row) if !form.key.is_empty() => {
                row.form = *form;
                row.open = true;
                row.error = e;
            }
            _ => {
                new_gap = *form;
                new_gap_error = e;
            }
        },
        Some(Refused::Other(e)) => error = e,
    }
    let refused = !error.is_empty()
        || !new_registry_error.is_empty()
        || !new_gap_error.is_empty()
        || registries.iter().any(|r| !r.error.is_empty())
        || gaps.iter().any(|g| !g.error.is_empty());
    let page = CodingPage {
        base: frame.base(),
        manager: frame.layout.is_manager(),
        registry_choices: v
            .registries
            .iter()
            .map(|r| Choice {
                value: r.def.key.clone(),
                label: r.def.name.clone(),
            })
            .collect(),
        concept_choices: v
            .concepts
            .iter()
            .map(|c| Choice {
                value: c.key.clone(),
                label: format!("{} ({})", c.name, c.kind.label()),
            })
            .collect(),
        left_out: v
            .left_out
            .iter()
            .map(|l| {
                let (what, key) = match l.item.split_once(':') {
                    Some(("gap", k)) => ("gap", k),
                    _ => ("", ""),
                };
                let action = if attach_app::is_shipped_definition(Definition::Gap, key) {
                    "Restore the shipped rule"
                } else {
                    "Remove this rule"
                };
                LeftOutRow {
                    text: format!("{}: {}", l.item, l.reason),
                    what: what.to_owned(),
                    key: key.to_owned(),
                    action,
                }
            })
            .collect(),
        registries,
        gaps,
        new_registry,
        new_registry_error,
        new_gap,
        new_gap_error,
        error,
        history: history_rows(l.history, &HashMap::new()),
        layout: frame.layout.with_section("registries"),
    };
    crate::panel::with_status(
        render(&page),
        if refused {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
    )
}

/// `GET /c/{clinic}/registries/coding`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    crate::Query(q): crate::Query<Done>,
) -> Result<Response, WebError> {
    let l = load(&web, &frame).await?;
    let mut frame = frame;
    frame.layout = frame.layout.with_notice(q.notice(NOTICES));
    Ok(draw(frame, l, None))
}

fn done(frame: &Frame, what: &str, anchor: &str) -> Response {
    Redirect::to(&format!(
        "{}/registries/coding?done={what}#{anchor}",
        frame.base()
    ))
    .into_response()
}

/// After an action: back to the page, or the page again with what was refused.
async fn answer(
    web: &Web,
    frame: Frame,
    result: Result<(), AppError>,
    on_ok: (&str, String),
    refused: impl FnOnce(String) -> Refused,
) -> Result<Response, WebError> {
    match result {
        Ok(()) => Ok(done(&frame, on_ok.0, &on_ok.1)),
        Err(e @ AppError::Invalid { .. }) => {
            let l = load(web, &frame).await?;
            Ok(draw(frame, l, Some(refused(e.to_string()))))
        }
        Err(e) => Err(e.into()),
    }
}

fn optional_key(key: &str) -> Option<String> {
    Some(key.trim().to_owned()).filter(|k| !k.is_empty())
}

/// `POST /c/{clinic}/registries/coding/registry`: save or add a registry.
pub async fn save_registry(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<RegistryForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let edit = RegistryEdit {
        name: form.name.clone(),
        codes: form.codes.lines().map(str::to_owned).collect(),
        in_use: form.in_use.is_some(),
    };
    let key = optional_key(&form.key);
    let result = web
        .app
        .run(move |app| Ok(app.save_registry(who, clinic, key.as_deref(), &edit)))
        .await?;
    let (result, anchor) = match result {
        Ok(k) => (Ok(()), format!("registry-{k}")),
        Err(e) => (Err(e), String::new()),
    };
    answer(&web, frame, result, ("saved", anchor), |e| {
        Refused::Registry(form, e)
    })
    .await
}

fn parse_number<T: std::str::FromStr>(
    field: &str,
    text: &str,
    what: &str,
) -> Result<Option<T>, AppError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| AppError::invalid(field, format!("\"{t}\" is not {what}")))
}

fn gap_edit(form: &GapForm) -> Result<GapEdit, AppError> {
    let whole = "a whole number";
    let target = match form.target.as_str() {
        "" => None,
        "bp" => {
            let s = parse_number::<f64>("target_systolic", &form.target_systolic, "a number")?;
            let d = parse_number::<f64>("target_diastolic", &form.target_diastolic, "a number")?;
            match (s, d) {
                (Some(systolic), Some(diastolic)) => Some(Target::BloodPressureBelow {
                    systolic,
                    diastolic,
                }),
                _ => {
                    return Err(AppError::invalid(
                        "target",
                        "a blood-pressure target needs its systolic and diastolic values",
                    ));
                }
            }
        }
        c => {
            let comparison = Comparison::from_key(c).ok_or_else(|| {
                AppError::invalid("target", format!("no such kind of target \"{c}\""))
            })?;
            let value = parse_number::<f64>("target_value", &form.target_value, "a number")?
                .ok_or_else(|| AppError::invalid("target_value", "write the target's value"))?;
            Some(Target::Number { comparison, value })
        }
    };
    Ok(GapEdit {
        name: form.name.clone(),
        registry: optional_key(&form.registry),
        min_age: parse_number("min_age", &form.min_age, whole)?,
        max_age: parse_number("max_age", &form.max_age, whole)?,
        sex: match form.sex.as_str() {
            "" => None,
            "female" => Some(Sex::Female),
            "male" => Some(Sex::Male),
            other => {
                return Err(AppError::invalid(
                    "sex",
                    format!("\"{other}\" is not female, male or empty"),
                ));
            }
        },
        concept: form.concept.trim().to_owned(),
        every_months: parse_number("every_months", &form.every_months, whole)?,
        target,
        in_use: form.in_use.is_some(),
    })
}

/// `POST /c/{clinic}/registries/coding/gap`: save or add a care-gap rule.
pub async fn save_gap(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<GapForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let key = optional_key(&form.key);
    let result = match gap_edit(&form) {
        Ok(edit) => {
            web.app
                .run(move |app| Ok(app.save_gap_rule(who, clinic, key.as_deref(), &edit)))
                .await?
        }
        Err(e) => Err(e),
    };
    let (result, anchor) = match result {
        Ok(k) => (Ok(()), format!("gap-{k}")),
        Err(e) => (Err(e), String::new()),
    };
    answer(&web, frame, result, ("saved", anchor), |e| {
        Refused::Gap(Box::new(form), e)
    })
    .await
}

fn definition(what: &str) -> Result<Definition, WebError> {
    match what {
        "registry" => Ok(Definition::Registry),
        "gap" => Ok(Definition::Gap),
        _ => Err(WebError::App(AppError::not_found("kind of definition"))),
    }
}

fn anchor(what: Definition, key: &str) -> String {
    match what {
        Definition::Registry => format!("registry-{key}"),
        Definition::Gap => format!("gap-{key}"),
    }
}

/// `POST /c/{clinic}/registries/coding/use`: keep or stop keeping a registry, use or stop
/// using a rule.
pub async fn set_in_use(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<ActionForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let what = definition(&form.what)?;
    let in_use = form.in_use == "yes";
    let key = form.key.clone();
    let result = web
        .app
        .run(move |app| Ok(app.set_definition_in_use(who, clinic, what, &key, in_use)))
        .await?;
    answer(
        &web,
        frame,
        result,
        ("saved", anchor(what, &form.key)),
        Refused::Other,
    )
    .await
}

/// `POST /c/{clinic}/registries/coding/reset`: put a shipped definition back, or remove
/// one of the clinic's own.
pub async fn reset(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<ActionForm>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let what = definition(&form.what)?;
    let key = form.key.clone();
    let result = web
        .app
        .run(move |app| Ok(app.reset_definition(who, clinic, what, &key)))
        .await?;
    let shipped = attach_app::is_shipped_definition(what, &form.key);
    answer(
        &web,
        frame,
        result,
        if shipped {
            ("reset", anchor(what, &form.key))
        } else {
            ("removed", "registries".to_owned())
        },
        Refused::Other,
    )
    .await
}
