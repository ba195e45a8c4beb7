//! Registries, care gaps and recalls in the browser (workbook phases 2 and 3): the overview
//! of a panel or the clinic, the patient lists behind each count, importing what the EMR
//! exported, and one patient's clinical records.

use askama::Template;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::response::Response;
use serde::Deserialize;

use super::{PanelAt, thousands};
use crate::error::{WebError, render};
use crate::{Frame, Layout, Web, csrf};
use attach_app::{
    AppError, CareList, ClinicalFile, ClinicalFormat, ClinicalImportReport, ClinicalList,
    ClinicalOverview, PatientClinicalView, ReviewScope,
};
use attach_domain::clinical::rules::{Compiled, GapState, GapTiming, PatientCare};
use attach_domain::clinical::{ClinicalFact, ObservationValue, Origin};
use attach_domain::{UserId, age_on};

/// `?provider=` on the clinical pages: one panel, or the whole clinic.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScopeParam {
    #[serde(default)]
    provider: Option<String>,
}

fn scope_of(raw: Option<&str>) -> Result<ReviewScope, WebError> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(ReviewScope::Clinic),
        Some(p) => p
            .parse::<UserId>()
            .map(ReviewScope::Provider)
            .map_err(|_| WebError::App(AppError::not_found("provider"))),
    }
}

/// A provider to choose from, for the scope menu.
#[derive(Debug, Clone)]
struct ScopeChoice {
    id: String,
    name: String,
    selected: bool,
}

#[derive(Debug, Clone)]
struct RegistryLine {
    name: String,
    patients: String,
    prevalence: String,
    uncoded: String,
    href: String,
    uncoded_href: String,
    has_uncoded: bool,
}

#[derive(Debug, Clone)]
struct GapLine {
    name: String,
    eligible: String,
    never: String,
    overdue: String,
    due_soon: String,
    out_of_target: String,
    open: String,
    href: String,
}

#[derive(Template)]
#[template(path = "clinical/overview.html")]
struct OverviewPage {
    layout: Layout,
    base: String,
    scope_label: String,
    choices: Vec<ScopeChoice>,
    population: String,
    with_data: String,
    no_data: bool,
    own_catalogue: bool,
    registries: Vec<RegistryLine>,
    gaps: Vec<GapLine>,
    recalls_href: String,
}

fn scope_query(scope: ReviewScope) -> String {
    match scope {
        ReviewScope::Clinic => String::new(),
        ReviewScope::Provider(p) => format!("provider={p}"),
    }
}

fn with_query(href: String, query: &str) -> String {
    if query.is_empty() {
        href
    } else if href.contains('?') {
        format!("{href}&{query}")
    } else {
        format!("{href}?{query}")
    }
}

fn percent(n: usize, of: usize) -> String {
    if of == 0 {
        "–".to_owned()
    } else {
        format!("{:.1} %", n as f64 * 100.0 / of as f64)
    }
}

/// The providers the viewer may choose, and the scope's name.
fn choices(names: &[(UserId, String)], scope: ReviewScope) -> (Vec<ScopeChoice>, String) {
    let mut label = "the whole clinic".to_owned();
    let list = names
        .iter()
        .map(|(id, name)| {
            let selected = scope == ReviewScope::Provider(*id);
            if selected {
                label = format!("{name}'s panel");
            }
            ScopeChoice {
                id: id.to_string(),
                name: name.clone(),
                selected,
            }
        })
        .collect();
    (list, label)
}

/// The providers whose panels the viewer may read, by name.
fn readable_providers(
    app: &attach_app::App,
    who: UserId,
    clinic: attach_domain::ClinicId,
) -> Result<Vec<(UserId, String)>, AppError> {
    let c = app.clinic(who, clinic)?;
    let names = super::names(app, who, clinic)?;
    let mut out: Vec<(UserId, String)> = c
        .providers()
        .map(|m| m.user)
        .filter(|p| {
            c.is_account_manager(who)
                || c.can_manage_panel(who, *p)
                || c.role_of(who).is_some_and(|r| r.is_licensed())
        })
        .map(|p| (p, super::name_of(&names, p)))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

/// `GET /c/{clinic}/registries`
pub async fn overview(
    State(web): State<Web>,
    frame: Frame,
    crate::Query(q): crate::Query<ScopeParam>,
) -> Result<Response, WebError> {
    let scope = scope_of(q.provider.as_deref())?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (o, providers): (ClinicalOverview, _) = web
        .app
        .run(move |app| {
            Ok((
                app.clinical_overview(who, clinic, scope)?,
                readable_providers(app, who, clinic)?,
            ))
        })
        .await?;
    let base = frame.base();
    let query = scope_query(scope);
    let (choices, scope_label) = choices(&providers, scope);
    let list = |list: &str, key: &str| {
        with_query(
            format!(
                "{base}/registries/list?list={list}&key={}",
                crate::error::urlencode(key)
            ),
            &query,
        )
    };
    let page = OverviewPage {
        layout: frame.layout.clone().with_section("registries"),
        scope_label,
        choices,
        population: thousands(o.population as i64),
        with_data: thousands(o.with_data as i64),
        no_data: o.with_data == 0,
        own_catalogue: o.own_catalogue,
        registries: o
            .registries
            .iter()
            .map(|r| RegistryLine {
                name: r.name.clone(),
                patients: thousands(r.patients as i64),
                prevalence: percent(r.patients, o.population),
                uncoded: thousands(r.uncoded as i64),
                href: list("registry", &r.key),
                uncoded_href: list("uncoded", &r.key),
                has_uncoded: r.uncoded > 0,
            })
            .collect(),
        gaps: o
            .gaps
            .iter()
            .map(|g| GapLine {
                name: g.name.clone(),
                eligible: thousands(g.eligible as i64),
                never: thousands(g.never as i64),
                overdue: thousands(g.overdue as i64),
                due_soon: thousands(g.due_soon as i64),
                out_of_target: thousands(g.out_of_target as i64),
                open: thousands(g.open as i64),
                href: list("gap", &g.key),
            })
            .collect(),
        recalls_href: with_query(format!("{base}/registries/list?list=recalls"), &query),
        base,
    };
    Ok(render(&page))
}

/// `?list=&key=&provider=` of a clinical list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    list: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    provider: Option<String>,
}

#[derive(Debug, Clone)]
struct CareLine {
    name: String,
    born: String,
    age: u32,
    phone: String,
    href: String,
    /// What the list is about, for this patient.
    detail: Vec<String>,
}

#[derive(Template)]
#[template(path = "clinical/list.html")]
struct ListPage {
    layout: Layout,
    title: String,
    explanation: String,
    back: String,
    total: String,
    rows: Vec<CareLine>,
    detail_heading: &'static str,
}

/// A care gap in words: "HbA1c every 6 months: overdue since 2026-10-01 (last 2026-04-01:
/// 7.4, out of target)".
fn gap_words(compiled: &Compiled, g: &GapState) -> String {
    let rule = compiled.gap(g.rule);
    let mut s = format!("{}: {}", rule.name, g.timing.label());
    if let (GapTiming::Overdue | GapTiming::DueSoon, Some(due)) = (g.timing, g.due) {
        s.push_str(&format!(" (due {due})"));
    }
    if let Some(last) = g.last {
        s.push_str(&format!("; last {}: {}", last.date, last.value));
    }
    if g.in_target == Some(false) {
        if let Some(t) = &rule.target {
            s.push_str(&format!(", out of target ({})", t.describe()));
        } else {
            s.push_str(", out of target");
        }
    }
    s
}

fn uncoded_words(compiled: &Compiled, care: &PatientCare, registry: Option<u16>) -> Vec<String> {
    care.uncoded
        .iter()
        .filter(|u| registry.is_none_or(|r| u.registry == r))
        .map(|u| {
            let reg = compiled.registry(u.registry);
            format!(
                "{}: {}",
                reg.name,
                reg.uncoded[usize::from(u.rule)].description
            )
        })
        .collect()
}

/// `GET /c/{clinic}/registries/list`
pub async fn list(
    State(web): State<Web>,
    frame: Frame,
    crate::Query(q): crate::Query<ListParams>,
) -> Result<Response, WebError> {
    let scope = scope_of(q.provider.as_deref())?;
    let key = q.key.clone().unwrap_or_default();
    let which = match q.list.as_str() {
        "registry" => ClinicalList::Registry(key.clone()),
        "uncoded" => ClinicalList::Uncoded(key.clone()),
        "gap" => ClinicalList::Gap(key.clone()),
        "recalls" => ClinicalList::Recalls,
        _ => return Err(WebError::App(AppError::not_found("list"))),
    };
    let (who, clinic) = (frame.who.user, frame.clinic);
    let asked = which.clone();
    let (l, today): (CareList, _) = web
        .app
        .run(move |app| {
            Ok((
                app.clinical_list(who, clinic, scope, &asked)?,
                app.clinic_today(),
            ))
        })
        .await?;
    let c = &l.compiled;
    let base = frame.base();
    let (title, explanation, detail_heading) = match &which {
        ClinicalList::Registry(k) => {
            let name = c
                .registry_index(k)
                .map(|i| c.registry(i).name.clone())
                .unwrap_or_default();
            (
                format!("{name} registry"),
                "Patients with an active problem-list code of this registry, and their open care gaps.".to_owned(),
                "Open care gaps",
            )
        }
        ClinicalList::Uncoded(k) => {
            let name = c
                .registry_index(k)
                .map(|i| c.registry(i).name.clone())
                .unwrap_or_default();
            (
                format!("{name}: probably not coded"),
                "Patients whose results or medications suggest this condition but who have no code for it. Review each one: add the code in the EMR, or leave it if it does not apply.".to_owned(),
                "Why",
            )
        }
        ClinicalList::Gap(k) => {
            let rule = c.catalogue().gaps.iter().find(|g| g.key == *k);
            (
                rule.map_or_else(String::new, |g| g.name.clone()),
                rule.map_or_else(String::new, |g| {
                    format!(
                        "Who: {}. Not done in time, or out of target.",
                        g.population.describe()
                    )
                }),
                "Gap",
            )
        }
        ClinicalList::Recalls => (
            "Recall list".to_owned(),
            "Every patient with a care gap still open: not done in time, or out of target."
                .to_owned(),
            "Open care gaps",
        ),
    };
    let registry = match &which {
        ClinicalList::Uncoded(k) => c.registry_index(k),
        _ => None,
    };
    let gap_rule = match &which {
        ClinicalList::Gap(k) => c
            .catalogue()
            .gaps
            .iter()
            .position(|g| g.key == *k)
            .and_then(|i| u16::try_from(i).ok()),
        _ => None,
    };
    let rows = l
        .rows
        .iter()
        .map(|r| {
            let d = &r.entry.details;
            let detail = match &which {
                ClinicalList::Uncoded(_) => uncoded_words(c, &r.care, registry),
                _ => r
                    .care
                    .gaps
                    .iter()
                    .filter(|g| g.is_open() && gap_rule.is_none_or(|k| g.rule == k))
                    .map(|g| gap_words(c, g))
                    .collect(),
            };
            CareLine {
                name: format!("{}, {}", d.family_name, d.given_names),
                born: d.date_of_birth.to_string(),
                age: age_on(d.date_of_birth, today),
                phone: d.contact.phone.clone(),
                href: format!(
                    "{base}/panels/{}/entries/{}/clinical",
                    r.entry.provider, r.entry.id
                ),
                detail,
            }
        })
        .collect();
    let page = ListPage {
        layout: frame.layout.clone().with_section("registries"),
        title,
        explanation,
        back: with_query(format!("{base}/registries"), &scope_query(scope)),
        total: thousands(l.rows.len() as i64),
        rows,
        detail_heading,
    };
    Ok(render(&page))
}

#[derive(Debug, Clone)]
struct ProblemLine {
    row: String,
    field: String,
    message: String,
}

#[derive(Template)]
#[template(path = "clinical/import.html")]
struct ImportPage {
    layout: Layout,
    base: String,
    columns: &'static [attach_interop::csv::ColumnDoc],
    error: String,
    problems: Vec<ProblemLine>,
    report: Option<ReportLines>,
}

#[derive(Debug, Clone)]
struct ReportLines {
    added: String,
    updated: String,
    unchanged: String,
    patients: String,
    not_on_panel: String,
    has_not_on_panel: bool,
    skipped: Vec<String>,
}

fn import_page(frame: &Frame) -> ImportPage {
    ImportPage {
        layout: frame.layout.clone().with_section("registries"),
        base: frame.base(),
        columns: attach_interop::clinical::CLINICAL_CSV_COLUMNS,
        error: String::new(),
        problems: Vec::new(),
        report: None,
    }
}

/// `GET /c/{clinic}/registries/import`
pub async fn import_form(frame: Frame) -> Result<Response, WebError> {
    Ok(render(&import_page(&frame)))
}

/// `POST /c/{clinic}/registries/import` (multipart: `csrf`, `format`, one or more `file`)
pub async fn import(
    State(web): State<Web>,
    frame: Frame,
    request: Request,
) -> Result<Response, WebError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        WebError::BadRequest(format!("the upload could not be read: {}", e.body_text()))
    };
    let mut multipart = Multipart::from_request(request, &web)
        .await
        .map_err(|e| WebError::BadRequest(e.body_text()))?;
    let (mut token, mut format, mut files) = (String::new(), String::new(), Vec::new());
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "csrf" => token = field.text().await.map_err(bad)?,
            "format" => format = field.text().await.map_err(bad)?,
            "file" => {
                let name = field.file_name().unwrap_or_default().to_owned();
                let bytes = field.bytes().await.map_err(bad)?.to_vec();
                if !bytes.is_empty() || !name.is_empty() {
                    files.push(ClinicalFile { name, bytes });
                }
            }
            _ => {}
        }
    }
    if !csrf::same(&token, &frame.csrf) {
        return Err(WebError::Csrf);
    }
    let mut page = import_page(&frame);
    let format = match format.as_str() {
        "fhir" => ClinicalFormat::FhirBundle,
        "ndjson" => ClinicalFormat::Ndjson,
        "csv" => ClinicalFormat::Csv,
        _ => {
            page.error = "Choose the kind of file: FHIR Bundle, FHIR NDJSON or CSV.".to_owned();
            return Ok(super::with_status(
                render(&page),
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let (who, clinic) = (frame.who.user, frame.clinic);
    let result = web
        .app
        .run(move |app| Ok(app.import_clinical(who, clinic, format, &files)))
        .await?;
    match result {
        Ok(r) => {
            page.report = Some(report_lines(r));
            Ok(render(&page))
        }
        Err(AppError::Invalid { message, problems }) => {
            page.error = message;
            page.problems = problems
                .into_iter()
                .map(|p| ProblemLine {
                    row: p.row.map_or_else(String::new, |r| r.to_string()),
                    field: p.field,
                    message: p.message,
                })
                .collect();
            Ok(super::with_status(
                render(&page),
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

fn report_lines(r: ClinicalImportReport) -> ReportLines {
    ReportLines {
        added: thousands(r.added as i64),
        updated: thousands(r.updated as i64),
        unchanged: thousands(r.unchanged as i64),
        patients: thousands(r.patients as i64),
        not_on_panel: thousands(r.not_on_panel as i64),
        has_not_on_panel: r.not_on_panel > 0,
        skipped: r
            .skipped
            .iter()
            .map(|(what, n)| format!("{}: {what}", thousands(*n as i64)))
            .collect(),
    }
}

#[derive(Debug, Clone)]
struct RecordLine {
    kind: &'static str,
    date: String,
    what: String,
    codes: String,
    value: String,
    status: String,
    origin: &'static str,
    conflicted: bool,
}

#[derive(Template)]
#[template(path = "clinical/patient.html")]
struct PatientPage {
    layout: Layout,
    name: String,
    entry_href: String,
    registries: Vec<String>,
    uncoded: Vec<String>,
    gaps: Vec<(String, bool)>,
    records: Vec<RecordLine>,
    conflicts: usize,
}

fn record_line(r: &attach_domain::clinical::ClinicalRecord, conflicted: bool) -> RecordLine {
    let (value, status) = match &r.fact {
        ClinicalFact::Observation { value, .. } => (
            match value {
                ObservationValue::Number { value, unit } => {
                    format!("{value} {}", unit.as_deref().unwrap_or_default())
                        .trim()
                        .to_owned()
                }
                ObservationValue::BloodPressure {
                    systolic,
                    diastolic,
                } => format!("{systolic}/{diastolic} mmHg"),
                ObservationValue::Coded { code } => code.to_string(),
                ObservationValue::Text { text } => text.clone(),
                ObservationValue::None => String::new(),
            },
            String::new(),
        ),
        ClinicalFact::Condition { status, .. } => {
            (String::new(), format!("{status:?}").to_lowercase())
        }
        ClinicalFact::Medication { status, .. } => {
            (String::new(), format!("{status:?}").to_lowercase())
        }
        ClinicalFact::Procedure { .. } | ClinicalFact::Immunization { .. } => {
            (String::new(), String::new())
        }
    };
    RecordLine {
        kind: r.fact.kind().label(),
        date: r.fact.date().map_or_else(String::new, |d| d.to_string()),
        what: r.display.clone().unwrap_or_default(),
        codes: r
            .fact
            .codes()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        value,
        status: status.replace("enteredinerror", "entered in error"),
        origin: match r.origin {
            Origin::Emr { .. } => "EMR",
            Origin::Attach { .. } => "Attach",
        },
        conflicted,
    }
}

/// `GET /c/{clinic}/panels/{provider}/entries/{entry}/clinical`
pub async fn patient(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
) -> Result<Response, WebError> {
    let entry = at.entry()?;
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let v: PatientClinicalView = web
        .app
        .run(move |app| app.patient_clinical(who, clinic, provider, entry))
        .await?;
    let c = &v.compiled;
    let d = &v.entry.details;
    let page = PatientPage {
        layout: frame.layout.clone().with_section("panel"),
        name: format!("{} {}", d.given_names, d.family_name),
        entry_href: format!("{}/panels/{provider}/entries/{entry}", frame.base()),
        registries: v
            .care
            .registries
            .iter()
            .map(|r| c.registry(*r).name.clone())
            .collect(),
        uncoded: uncoded_words(c, &v.care, None),
        gaps: v
            .care
            .gaps
            .iter()
            .map(|g| (gap_words(c, g), g.is_open()))
            .collect(),
        records: v
            .records
            .iter()
            .map(|r| record_line(r, v.conflicts.contains(&r.source_id)))
            .collect(),
        conflicts: v.conflicts.len(),
    };
    Ok(render(&page))
}
