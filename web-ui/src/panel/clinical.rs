//! Registries, care gaps and recalls in the browser (workbook phases 2 and 3): the overview
//! of a panel or the clinic, the patient lists behind each count, importing what the EMR
//! exported, and one patient's clinical records. Acting on them (recalls, suggestions,
//! records entered by hand) is in `followup.rs`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{FromRequest, Multipart, RawQuery, Request, State};
use axum::response::Response;
use serde::Deserialize;

use super::{PanelAt, thousands};
use crate::error::{WebError, render};
use crate::{Frame, Layout, Web, csrf};
use attach_app::{
    AppError, CareList, ClinicalFile, ClinicalFormat, ClinicalImportReport, ClinicalList,
    ClinicalOverview, PatientClinicalView, ReviewScope,
};
use attach_domain::clinical::followup::{Recall, RecallStatus};
use attach_domain::clinical::rules::{Compiled, GapState, GapTiming, PatientCare};
use attach_domain::clinical::{ClinicalFact, ObservationValue, Origin};
use attach_domain::{ConfirmMethod, UserId, age_on};

/// `?provider=` on the clinical pages: one panel, or the whole clinic.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScopeParam {
    #[serde(default)]
    provider: Option<String>,
}

impl ScopeParam {
    pub(super) fn provider(&self) -> Option<&str> {
        self.provider.as_deref()
    }
}

pub(super) fn scope_of(raw: Option<&str>) -> Result<ReviewScope, WebError> {
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
    /// The registry's review tasks: "quarterly by Jane Chen, next due 2027-01-05 (upcoming)".
    reviews: Vec<String>,
    /// Where an account manager sets one up (the tasks page, prefilled); empty otherwise.
    new_review_href: String,
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
    entered_href: String,
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
pub(super) fn readable_providers(
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

/// The review tasks of a registry (its list or its probably-uncoded list) on the panels
/// the overview shows, in words.
fn registry_reviews(
    tasks: &[attach_app::TaskView],
    names: &HashMap<UserId, String>,
    scope: ReviewScope,
    key: &str,
) -> Vec<String> {
    tasks
        .iter()
        .filter(|v| v.state != attach_domain::DueState::Retired)
        .filter(|v| match scope {
            ReviewScope::Clinic => true,
            ReviewScope::Provider(p) => v.task.provider.is_none_or(|t| t == p),
        })
        .filter(|v| {
            matches!(&v.clinical,
                Some(ClinicalList::Registry(k) | ClinicalList::Uncoded(k)) if k == key)
        })
        .map(|v| {
            format!(
                "{}: {} by {}, next due {} ({})",
                v.list_name,
                v.task.frequency.label(),
                super::name_of(names, v.task.owner),
                v.next_due,
                v.state.label()
            )
        })
        .collect()
}

/// `GET /c/{clinic}/registries`
pub async fn overview(
    State(web): State<Web>,
    frame: Frame,
    crate::Query(q): crate::Query<ScopeParam>,
) -> Result<Response, WebError> {
    let scope = scope_of(q.provider.as_deref())?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (o, providers, tasks, names): (ClinicalOverview, _, _, _) = web
        .app
        .run(move |app| {
            Ok((
                app.clinical_overview(who, clinic, scope)?,
                readable_providers(app, who, clinic)?,
                app.clinical_review_tasks(who, clinic)?,
                super::names(app, who, clinic)?,
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
                reviews: registry_reviews(&tasks, &names, scope, &r.key),
                new_review_href: if frame.layout.is_manager() {
                    let mut q = vec![
                        ("worklist", format!("registry:{}", r.key)),
                        ("title", format!("{} registry review", r.name)),
                    ];
                    if let ReviewScope::Provider(p) = scope {
                        q.push(("provider", p.to_string()));
                    }
                    format!(
                        "{base}/review/tasks?{}#new-task-heading",
                        serde_urlencoded::to_string(&q).unwrap_or_default()
                    )
                } else {
                    String::new()
                },
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
        entered_href: with_query(format!("{base}/registries/entered"), &query),
        base,
    };
    Ok(render(&page))
}

/// What a clinical list's address asks for: `list`, `key`, `provider`, `status` (repeated,
/// for the recall lists), `print`, `done`.
#[derive(Debug, Clone, Default)]
pub(super) struct ListAsk {
    list: String,
    key: String,
    provider: String,
    statuses: Vec<RecallStatus>,
    print: bool,
    done: String,
}

impl ListAsk {
    pub(super) fn of(pairs: &[(String, String)]) -> Result<Self, WebError> {
        let mut a = Self::default();
        let mut any_status = false;
        for (k, v) in pairs {
            match k.as_str() {
                "list" => a.list = v.clone(),
                "key" => a.key = v.clone(),
                "provider" => a.provider = v.clone(),
                "status" => {
                    any_status = true;
                    a.statuses.push(RecallStatus::from_key(v).ok_or_else(|| {
                        WebError::BadRequest(format!("there is no recall status \"{v}\""))
                    })?);
                }
                "print" => a.print = v == "1",
                "done" => a.done = v.clone(),
                _ => {}
            }
        }
        if !any_status {
            a.statuses = RecallStatus::WORKING.to_vec();
        }
        Ok(a)
    }

    fn which(&self) -> Result<ClinicalList, WebError> {
        ClinicalList::of(&self.list, &self.key)
            .ok_or_else(|| WebError::App(AppError::not_found("list")))
    }

    /// The address's query again, without `print` and `done`.
    pub(super) fn query(&self) -> String {
        let mut q = vec![format!("list={}", crate::error::urlencode(&self.list))];
        if !self.key.is_empty() {
            q.push(format!("key={}", crate::error::urlencode(&self.key)));
        }
        if !self.provider.is_empty() {
            q.push(format!(
                "provider={}",
                crate::error::urlencode(&self.provider)
            ));
        }
        if self.is_recall_list() && self.statuses != RecallStatus::WORKING {
            q.extend(self.statuses.iter().map(|s| format!("status={}", s.key())));
        }
        q.join("&")
    }

    fn is_recall_list(&self) -> bool {
        matches!(self.list.as_str(), "recalls" | "gap")
    }

    /// The recall list's rule: the gap list's key, or every open gap.
    pub(super) fn rule(&self) -> Option<String> {
        (self.list == "gap").then(|| self.key.clone())
    }

    pub(super) fn scope(&self) -> Result<ReviewScope, WebError> {
        scope_of(Some(&self.provider))
    }

    pub(super) fn statuses(&self) -> &[RecallStatus] {
        &self.statuses
    }
}

/// A status of the recall filter.
#[derive(Debug, Clone)]
struct StatusChoice {
    key: &'static str,
    name: &'static str,
    selected: bool,
}

/// A way of contacting a patient, for the recall forms.
#[derive(Debug, Clone)]
pub(super) struct MethodChoice {
    pub key: &'static str,
    pub name: &'static str,
}

pub(super) fn methods() -> Vec<MethodChoice> {
    ConfirmMethod::ALL
        .iter()
        .map(|m| MethodChoice {
            key: m.key(),
            name: m.label(),
        })
        .collect()
}

/// One line of what a list says of a patient, with what can be done about it.
#[derive(Debug, Clone)]
pub(super) struct DetailLine {
    pub text: String,
    /// Where the recall stands ("contacted 2026-11-02 by phone (Ana Lee)"), on the recall
    /// lists and the patient's page.
    pub recall: String,
    /// A probably-uncoded suggestion the viewer may code or dismiss.
    pub suggestion: Option<SuggestionForm>,
}

/// The forms of one probably-uncoded suggestion.
#[derive(Debug, Clone)]
pub(super) struct SuggestionForm {
    /// `…/entries/<e>/clinical/suggestion`
    pub action: String,
    pub registry: String,
    pub rule: String,
    /// Unique on the page, for the reason field's label.
    pub id: String,
}

#[derive(Debug, Clone)]
struct CareLine {
    name: String,
    born: String,
    age: u32,
    phone: String,
    href: String,
    /// `<provider>:<entry>` when the viewer may work this patient's recalls.
    select: String,
    /// What the list is about, for this patient.
    detail: Vec<DetailLine>,
}

#[derive(Template)]
#[template(path = "clinical/list.html")]
struct ListPage {
    layout: Layout,
    base: String,
    title: String,
    explanation: String,
    back: String,
    /// This list's address (the forms come back to it).
    here: String,
    total: String,
    rows: Vec<CareLine>,
    detail_heading: &'static str,
    recall_list: bool,
    /// The filter's hidden fields.
    list: String,
    key: String,
    provider: String,
    statuses: Vec<StatusChoice>,
    csv_href: String,
    print_href: String,
    printing: bool,
    workable: bool,
    methods: Vec<MethodChoice>,
    rule: String,
    today: String,
    notice: String,
    problem: String,
}

/// A care gap in words: "HbA1c every 6 months: overdue since 2026-10-01 (last 2026-04-01:
/// 7.4, out of target)".
pub(super) fn gap_words(compiled: &Compiled, g: &GapState) -> String {
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

/// Where a patient's recall on gap `g` stands, in words.
pub(super) fn recall_words<'a>(
    compiled: &Compiled,
    g: &GapState,
    recalls: impl IntoIterator<Item = &'a Recall>,
    names: &HashMap<UserId, String>,
) -> String {
    let key = &compiled.gap(g.rule).key;
    let since = g.last.map(|p| p.date);
    let recall = recalls
        .into_iter()
        .find(|r| r.rule == *key)
        .filter(|r| r.since == since);
    let Some(r) = recall else {
        return RecallStatus::ToContact.label().to_owned();
    };
    let day = |t: time::OffsetDateTime| t.to_offset(time::UtcOffset::UTC).date().to_string();
    let mut s = match (r.status, r.booked_for) {
        (RecallStatus::Booked, Some(d)) => format!("booked for {d}"),
        (status, _) => status.label().to_owned(),
    };
    if !r.note.is_empty() {
        s.push_str(&format!(": {}", r.note));
    }
    if let Some(a) = r.contacts.last() {
        s.push_str(&format!(
            "; last contact {} {} by {}",
            day(a.at),
            a.how.label(),
            super::name_of(names, a.by)
        ));
        if !a.note.is_empty() {
            s.push_str(&format!(" ({})", a.note));
        }
        if r.contacts.len() > 1 {
            s.push_str(&format!(", {} attempts", r.contacts.len()));
        }
    }
    s
}

/// The probably-uncoded suggestions of `care` (of one registry, or all), as lines with
/// their forms when `action` (the patient's suggestion address) is given.
pub(super) fn uncoded_lines(
    compiled: &Compiled,
    care: &PatientCare,
    registry: Option<u16>,
    action: Option<&str>,
    id_prefix: &str,
) -> Vec<DetailLine> {
    care.uncoded
        .iter()
        .filter(|u| registry.is_none_or(|r| u.registry == r))
        .map(|u| {
            let reg = compiled.registry(u.registry);
            let rule = &reg.uncoded[usize::from(u.rule)];
            DetailLine {
                text: format!("{}: {}", reg.name, rule.description),
                recall: String::new(),
                suggestion: action.map(|a| SuggestionForm {
                    action: a.to_owned(),
                    registry: reg.key.clone(),
                    rule: rule.key.clone(),
                    id: format!("{id_prefix}-{}-{}", u.registry, u.rule),
                }),
            }
        })
        .collect()
}

/// The notice after a recall change, from its `done=recalls:<patients>:<recalls>:<closed>`.
pub(super) fn done_notice(done: &str) -> String {
    let mut parts = done.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("recalls"), Some(patients), Some(recalls), Some(closed)) => {
            let mut s = format!("Recorded on {recalls} recalls of {patients} patients.");
            if closed != "0" {
                s.push_str(&format!(
                    " {closed} patients were left alone: their care gap closed since the list was shown."
                ));
            }
            s
        }
        (Some("coded"), ..) => {
            "Coded in Attach; it is listed under Entered in Attach, to take back to the EMR."
                .to_owned()
        }
        (Some("dismissed"), ..) => "Suggestion dismissed; it does not come back.".to_owned(),
        (Some("restored"), ..) => "Suggestion restored.".to_owned(),
        (Some("saved"), ..) => "Record saved.".to_owned(),
        (Some("deleted"), ..) => "Record deleted.".to_owned(),
        _ => String::new(),
    }
}

/// `GET /c/{clinic}/registries/list`
pub async fn list(
    State(web): State<Web>,
    frame: Frame,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let ask = ListAsk::of(&super::review::pairs(raw.as_deref()))?;
    list_page(web, frame, ask, String::new()).await
}

/// The list `ask` names, with `problem` (a recall change refused) above its form.
pub(super) async fn list_page(
    web: Web,
    frame: Frame,
    ask: ListAsk,
    problem: String,
) -> Result<Response, WebError> {
    let scope = ask.scope()?;
    let which = ask.which()?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (asked, rule, statuses) = (which.clone(), ask.rule(), ask.statuses.clone());
    let recall_list = ask.is_recall_list();
    let (l, today, names, workable): (CareList, _, _, Vec<UserId>) = web
        .app
        .run(move |app| {
            let l = if recall_list {
                app.recall_list(who, clinic, scope, rule.as_deref(), &statuses)?
            } else {
                app.clinical_list(who, clinic, scope, &asked)?
            };
            let c = app.clinic(who, clinic)?;
            let workable = c
                .providers()
                .map(|m| m.user)
                .filter(|p| c.can_manage_panel(who, *p))
                .collect();
            Ok((
                l,
                app.clinic_today(),
                super::names(app, who, clinic)?,
                workable,
            ))
        })
        .await?;
    let c = &l.compiled;
    let base = frame.base();
    let title = which.title(c);
    let (explanation, detail_heading) = match &which {
        ClinicalList::Registry(_) => (
            "Patients with an active problem-list code of this registry, and their open care gaps.".to_owned(),
            "Open care gaps",
        ),
        ClinicalList::Uncoded(_) => (
            "Patients whose results or medications suggest this condition but who have no code for it. Review each one: code the condition in Attach (it is then listed to take back to the EMR), or dismiss the suggestion with the reason it does not apply; a dismissed suggestion does not come back.".to_owned(),
            "Why",
        ),
        ClinicalList::Gap(k) => (
            c.catalogue()
                .gaps
                .iter()
                .find(|g| g.key == *k)
                .map_or_else(String::new, |g| {
                    format!(
                        "Who: {}. Not done in time, or out of target.",
                        g.population.describe()
                    )
                }),
            "Gap and recall",
        ),
        ClinicalList::Recalls => (
            "Every patient with a care gap still open: not done in time, or out of target. Record each call, booking, refusal or completion here: the list keeps where each recall stands until the gap closes."
                .to_owned(),
            "Open care gaps and recalls",
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
    let rows: Vec<CareLine> = l
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let d = &r.entry.details;
            let can_work = workable.contains(&r.entry.provider);
            let patient = format!("{base}/panels/{}/entries/{}", r.entry.provider, r.entry.id);
            let detail = match &which {
                ClinicalList::Uncoded(_) => {
                    let action = format!("{patient}/clinical/suggestion");
                    uncoded_lines(
                        c,
                        &r.care,
                        registry,
                        can_work.then_some(action.as_str()),
                        &format!("s{i}"),
                    )
                }
                _ => r
                    .care
                    .gaps
                    .iter()
                    .filter(|g| g.is_open() && gap_rule.is_none_or(|k| g.rule == k))
                    .map(|g| DetailLine {
                        text: gap_words(c, g),
                        recall: if recall_list {
                            recall_words(c, g, &r.recalls, &names)
                        } else {
                            String::new()
                        },
                        suggestion: None,
                    })
                    .collect(),
            };
            CareLine {
                name: format!("{}, {}", d.family_name, d.given_names),
                born: d.date_of_birth.to_string(),
                age: age_on(d.date_of_birth, today),
                phone: d.contact.phone.clone(),
                href: format!("{patient}/clinical"),
                select: if can_work && recall_list {
                    format!("{}:{}", r.entry.provider, r.entry.id)
                } else {
                    String::new()
                },
                detail,
            }
        })
        .collect();
    let query = ask.query();
    let page = ListPage {
        layout: frame.layout.clone().with_section("registries"),
        title,
        explanation,
        back: with_query(format!("{base}/registries"), &scope_query(scope)),
        here: format!("{base}/registries/list?{query}"),
        total: thousands(l.rows.len() as i64),
        workable: recall_list && rows.iter().any(|r| !r.select.is_empty()),
        rows,
        detail_heading,
        recall_list,
        list: ask.list.clone(),
        key: ask.key.clone(),
        provider: ask.provider.clone(),
        statuses: RecallStatus::ALL
            .iter()
            .map(|s| StatusChoice {
                key: s.key(),
                name: s.label(),
                selected: ask.statuses.contains(s),
            })
            .collect(),
        csv_href: format!("{base}/registries/recalls.csv?{query}"),
        print_href: format!("{base}/registries/list?{query}&print=1"),
        printing: ask.print,
        methods: methods(),
        rule: ask.rule().unwrap_or_default(),
        today: today.to_string(),
        notice: done_notice(&ask.done),
        problem,
        base,
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
    origin: String,
    conflicted: bool,
    /// The record's form (to correct it).
    edit_href: String,
    /// The record's id, when it was entered in Attach and may be deleted.
    deletable: String,
}

/// A care gap on the patient's page, with its recall.
#[derive(Debug, Clone)]
struct PatientGapLine {
    text: String,
    open: bool,
    recall: String,
    rule: String,
    /// Unique on the page, for the form's labels.
    id: String,
}

/// A suggestion someone dismissed.
#[derive(Debug, Clone)]
struct DismissedLine {
    text: String,
    reason: String,
    by: String,
    registry: String,
    rule: String,
}

#[derive(Template)]
#[template(path = "clinical/patient.html")]
struct PatientPage {
    layout: Layout,
    name: String,
    entry_href: String,
    /// `…/entries/<e>/clinical`, where the forms post.
    here: String,
    registries: Vec<String>,
    uncoded: Vec<DetailLine>,
    dismissed: Vec<DismissedLine>,
    gaps: Vec<PatientGapLine>,
    records: Vec<RecordLine>,
    conflicts: usize,
    methods: Vec<MethodChoice>,
    today: String,
    notice: String,
    problem: String,
}

/// A record's codings, as pages show them ("ICD-9 (MSP) 250, SNOMED CT 44054006").
pub(super) fn codes_text(r: &attach_domain::clinical::ClinicalRecord) -> String {
    r.fact
        .codes()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A result's value as written ("6.8 %"); empty for the other kinds.
pub(super) fn value_text(r: &attach_domain::clinical::ClinicalRecord) -> String {
    r.fact
        .value()
        .and_then(ObservationValue::text)
        .unwrap_or_default()
}

fn record_line(
    r: &attach_domain::clinical::ClinicalRecord,
    conflicted: bool,
    here: &str,
    names: &HashMap<UserId, String>,
) -> RecordLine {
    let value = value_text(r);
    let status = match &r.fact {
        ClinicalFact::Condition { status, .. } => format!("{status:?}").to_lowercase(),
        ClinicalFact::Medication { status, .. } => format!("{status:?}").to_lowercase(),
        _ => String::new(),
    };
    let attach_made = r.source_id.starts_with("attach:");
    RecordLine {
        kind: r.fact.kind().label(),
        date: r.fact.date().map_or_else(String::new, |d| d.to_string()),
        what: r.display.clone().unwrap_or_default(),
        codes: codes_text(r),
        value,
        status: status.replace("enteredinerror", "entered in error"),
        origin: match r.origin {
            Origin::Emr { .. } => "EMR".to_owned(),
            Origin::Attach { by, at } => {
                format!(
                    "{} in Attach, {}",
                    if attach_made { "entered" } else { "corrected" },
                    super::name_of(names, by)
                ) + &format!(" {}", at.to_offset(time::UtcOffset::UTC).date())
            }
        },
        conflicted,
        edit_href: format!("{here}/record?id={}", crate::error::urlencode(&r.source_id)),
        deletable: if attach_made && matches!(r.origin, Origin::Attach { .. }) {
            r.source_id.clone()
        } else {
            String::new()
        },
    }
}

/// `GET /c/{clinic}/panels/{provider}/entries/{entry}/clinical`
pub async fn patient(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    crate::Query(q): crate::Query<DoneParam>,
) -> Result<Response, WebError> {
    let entry = at.entry()?;
    let notice = done_notice(q.done.as_deref().unwrap_or_default());
    patient_page(web, frame, at.provider, entry, notice, String::new()).await
}

/// `?done=` after a change.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DoneParam {
    #[serde(default)]
    done: Option<String>,
}

/// One patient's clinical page, with `notice` (a change made) or `problem` (one refused).
pub(super) async fn patient_page(
    web: Web,
    frame: Frame,
    provider: UserId,
    entry: attach_domain::EntryId,
    notice: String,
    problem: String,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (v, names, today): (PatientClinicalView, _, _) = web
        .app
        .run(move |app| {
            Ok((
                app.patient_clinical(who, clinic, provider, entry)?,
                super::names(app, who, clinic)?,
                app.clinic_today(),
            ))
        })
        .await?;
    let c = &v.compiled;
    let d = &v.entry.details;
    let entry_href = format!("{}/panels/{provider}/entries/{entry}", frame.base());
    let here = format!("{entry_href}/clinical");
    let day = |t: time::OffsetDateTime| t.to_offset(time::UtcOffset::UTC).date().to_string();
    let page = PatientPage {
        layout: frame.layout.clone().with_section("panel"),
        name: format!("{} {}", d.given_names, d.family_name),
        registries: v
            .care
            .registries
            .iter()
            .map(|r| c.registry(*r).name.clone())
            .collect(),
        uncoded: uncoded_lines(c, &v.care, None, Some(&format!("{here}/suggestion")), "s"),
        dismissed: v
            .dismissed
            .iter()
            .map(|x| {
                let reg = c.registry_index(&x.registry).map(|i| c.registry(i));
                let rule = reg.and_then(|r| r.uncoded.iter().find(|u| u.key == x.rule));
                DismissedLine {
                    text: match (reg, rule) {
                        (Some(r), Some(u)) => format!("{}: {}", r.name, u.description),
                        _ => format!(
                            "{} / {} (no longer in the clinic's definitions)",
                            x.registry, x.rule
                        ),
                    },
                    reason: x.reason.clone(),
                    by: format!("{}, {}", super::name_of(&names, x.by), day(x.at)),
                    registry: x.registry.clone(),
                    rule: x.rule.clone(),
                }
            })
            .collect(),
        gaps: v
            .care
            .gaps
            .iter()
            .map(|g| PatientGapLine {
                text: gap_words(c, g),
                open: g.is_open(),
                recall: if g.is_open() {
                    recall_words(c, g, v.recalls.values(), &names)
                } else {
                    String::new()
                },
                rule: c.gap(g.rule).key.clone(),
                id: format!("g{}", g.rule),
            })
            .collect(),
        records: v
            .records
            .iter()
            .map(|r| record_line(r, v.conflicts.contains(&r.source_id), &here, &names))
            .collect(),
        conflicts: v.conflicts.len(),
        methods: methods(),
        today: today.to_string(),
        notice,
        problem,
        entry_href,
        here,
    };
    Ok(render(&page))
}
