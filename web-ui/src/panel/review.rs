//! Panel review in the browser: the worklists (with their counts) of one provider's panel or
//! of the whole clinic, the filters that combine with them, a bulk change of the selected
//! rows (or of every row that matches), and the list as CSV or as a printed page.
//!
//! The list's address carries the whole query (`?worklist=mrp-stale&months=24&min_age=65`),
//! so a list can be bookmarked, shared with a colleague on the LAN, printed or downloaded as
//! shown. Who may see and change what is the app's decision (`review_rows`, `bulk_change`).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{PanelAt, names, thousands, with_status};
use crate::error::{WebError, render, urlencode};
use crate::frame::CsrfForm;
use crate::{FieldErrors, Frame, Layout, Web};
use attach_app::{App, AppError, BulkAction, MrpSide, ReviewRow, ReviewScope, status_label};
use attach_domain::{
    Clinic, ClinicId, ConfirmMethod, EntryId, HOW_ADDED_ALL, MrpConfirmation, MrpState,
    PatientStatus, ReviewQuery, UserId, Worklist, age_on, how_added_key,
};

/// Rows on one page of a review list.
pub const REVIEW_ROWS: usize = 100;

/// The query string's pairs, in order (repeated keys kept: `status=a&status=b`).
pub(super) fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
}

/// The query string of `q` (without the leading `?`), plus `extra` pairs.
fn query_string(q: &ReviewQuery, extra: &[(&str, String)]) -> String {
    q.to_pairs()
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .chain(extra.iter().cloned())
        .map(|(k, v)| format!("{k}={}", urlencode(&v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn with_query(base: &str, query: &str) -> String {
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

/// Where a list lives: the clinic's review page or one provider's.
fn list_base(frame: &Frame, scope: ReviewScope) -> String {
    match scope {
        ReviewScope::Clinic => format!("{}/review", frame.base()),
        ReviewScope::Provider(p) => format!("{}/panels/{p}/review", frame.base()),
    }
}

/// One worklist tab: its title, count and link.
#[derive(Debug, Clone)]
pub struct Tab {
    pub key: &'static str,
    pub title: String,
    pub count: String,
    pub href: String,
    pub current: bool,
}

/// One row, ready to draw.
#[derive(Debug, Clone)]
pub struct Row {
    /// `<provider>:<entry>`, the checkbox's value.
    pub select: String,
    pub href: String,
    pub name: String,
    pub phn: String,
    pub date_of_birth: String,
    pub age: u32,
    pub sex: &'static str,
    pub provider: String,
    pub status: String,
    pub suggestion: String,
    pub last_visit: String,
    pub mrp_provider: String,
    pub mrp_patient: String,
    pub contact: String,
    pub contact_verified: bool,
    pub two_panels: bool,
}

/// A `<select>` choice.
#[derive(Debug, Clone)]
pub struct Choice {
    pub key: String,
    pub name: String,
    pub selected: bool,
}

/// The filter form's values, as typed.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub worklist: String,
    pub months: String,
    pub date: String,
    pub visit_from: String,
    pub visit_to: String,
    pub min_age: String,
    pub max_age: String,
    pub community: String,
    pub q: String,
    pub statuses: Vec<Choice>,
    pub sexes: Vec<Choice>,
    pub mrp: Vec<Choice>,
    pub how_added: Vec<Choice>,
}

impl Filters {
    fn of(typed: &[(String, String)], c: &Clinic) -> Self {
        let get = |k: &str| {
            typed
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let all = |k: &str| -> Vec<String> {
            typed
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .collect()
        };
        let statuses = all("status");
        let choice = |key: &str, name: &str, chosen: &str| Choice {
            key: key.to_owned(),
            name: name.to_owned(),
            selected: key == chosen,
        };
        let sex = get("sex");
        let mrp = get("mrp");
        let how = get("how_added");
        Self {
            worklist: get("worklist"),
            months: get("months"),
            date: get("date"),
            visit_from: get("visit_from"),
            visit_to: get("visit_to"),
            min_age: get("min_age"),
            max_age: get("max_age"),
            community: get("community"),
            q: get("q"),
            statuses: all_statuses(c)
                .into_iter()
                .map(|s| {
                    let key = s.key();
                    Choice {
                        selected: statuses.contains(&key),
                        name: status_label(c, &s),
                        key,
                    }
                })
                .collect(),
            sexes: [
                ("female", "Female"),
                ("male", "Male"),
                ("x", "X"),
                ("unknown", "Unknown"),
            ]
            .into_iter()
            .map(|(k, n)| choice(k, n, &sex))
            .collect(),
            mrp: MrpState::ALL
                .into_iter()
                .map(|m| choice(m.key(), mrp_state_label(m), &mrp))
                .collect(),
            how_added: HOW_ADDED_ALL
                .into_iter()
                .map(|h| choice(how_added_key(h), how_added_label(how_added_key(h)), &how))
                .collect(),
        }
    }
}

/// Every status a patient may have here, retired ones included (they may still be stored).
fn all_statuses(c: &Clinic) -> Vec<PatientStatus> {
    [PatientStatus::Active, PatientStatus::Inactive]
        .into_iter()
        .chain(c.statuses.values().map(|s| PatientStatus::Custom(s.id)))
        .collect()
}

fn mrp_state_label(m: MrpState) -> &'static str {
    match m {
        MrpState::Both => "Confirmed by both sides",
        MrpState::ProviderOnly => "Provider side only",
        MrpState::PatientOnly => "Patient side only",
        MrpState::Neither => "Not confirmed",
    }
}

fn how_added_label(key: &str) -> &'static str {
    match key {
        "manual" => "Added by hand",
        "csv_upload" => "CSV upload",
        "fhir_upload" => "FHIR upload",
        "match" => "Provincial match",
        "transfer" => "Moved from another panel",
        _ => "Other",
    }
}

#[derive(Template)]
#[template(path = "panel/review.html")]
struct ReviewPageView {
    layout: Layout,
    /// "Dr. Patel's panel" or "all panels".
    whose: String,
    /// The page's own address (without a query).
    base: String,
    /// The provider's panel (provider scope), for the link back.
    panel: Option<String>,
    clinic_wide: bool,
    tabs: Vec<Tab>,
    all_href: String,
    all_current: bool,
    filters: Filters,
    errors: FieldErrors,
    /// Plain words for what the list shows, for the top of the printed page.
    described: String,
    rows: Vec<Row>,
    total: usize,
    total_text: String,
    first: usize,
    last: usize,
    prev: Option<String>,
    next: Option<String>,
    /// The list's query string, carried by the bulk form to come back to this list.
    back: String,
    download: String,
    /// The whole list on one page, to print.
    print_href: String,
    printing: bool,
    /// The review-task form prefilled with this list.
    task_href: String,
    /// The bulk change just made (to offer undoing it), and this list's address.
    undo: String,
    undo_back: String,
    edit: bool,
    assignable: Vec<Choice>,
    methods: Vec<Choice>,
    /// The providers a selection may be moved to.
    receivers: Vec<Choice>,
    /// A problem with the bulk change just tried.
    bulk_error: String,
}

impl ReviewPageView {
    /// `/c/<clinic>`.
    pub fn layout_base(&self) -> String {
        format!("/c/{}", self.layout.clinic_id())
    }

    pub fn worklist_is(&self, key: &str) -> bool {
        self.filters.worklist == key
    }
}

/// The notices of this page.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "bulk" => "The change was made to the selected patients; each one's history shows it.",
        "none" => "Nothing to change: the selected patients were already so.",
        "undone" => "The bulk change was undone, except on patients changed since.",
        _ => return None,
    })
}

/// What a list page needs from the app, read in one go off the async threads.
struct Loaded {
    clinic: Clinic,
    names: HashMap<UserId, String>,
    counts: Vec<(Worklist, usize)>,
    rows: Vec<ReviewRow>,
    today: time::Date,
    edit: bool,
}

fn load(
    app: &App,
    who: UserId,
    clinic: ClinicId,
    scope: ReviewScope,
    q: Option<&ReviewQuery>,
) -> Result<Loaded, AppError> {
    let counts = app.worklist_counts(who, clinic, scope)?;
    let rows = match q {
        Some(q) => app.review_rows(who, clinic, scope, q)?,
        None => Vec::new(),
    };
    let c = app.clinic(who, clinic)?;
    let edit = match scope {
        ReviewScope::Provider(p) => c.can_manage_panel(who, p),
        ReviewScope::Clinic => c
            .members
            .keys()
            .any(|p| c.role_of(*p).is_some_and(|r| r.is_licensed()) && c.can_manage_panel(who, *p)),
    };
    Ok(Loaded {
        names: names(app, who, clinic)?,
        clinic: c,
        counts,
        rows,
        today: app.clinic_today(),
        edit,
    })
}

fn confirmation_text(c: Option<&MrpConfirmation>) -> String {
    match c {
        None => String::new(),
        Some(c) => {
            let day = c.at.to_offset(time::UtcOffset::UTC).date();
            match c.how {
                Some(how) => format!("{day}, {}", how.label()),
                None => day.to_string(),
            }
        }
    }
}

fn row(
    frame: &Frame,
    c: &Clinic,
    names: &HashMap<UserId, String>,
    today: time::Date,
    r: &ReviewRow,
) -> Row {
    let e = &r.entry;
    let d = &e.details;
    let contact = [d.contact.phone.as_str(), d.contact.email.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    Row {
        select: format!("{}:{}", e.provider, e.id),
        href: format!("{}/panels/{}/entries/{}", frame.base(), e.provider, e.id),
        name: format!("{}, {}", d.family_name, d.given_names),
        phn: d.phn.to_string(),
        date_of_birth: d.date_of_birth.to_string(),
        age: age_on(d.date_of_birth, today),
        sex: attach_domain::sex_key(d.sex),
        provider: super::name_of(names, e.provider),
        status: status_label(c, &e.status),
        suggestion: r
            .suggestion
            .map(|s| status_label(c, &s))
            .unwrap_or_default(),
        last_visit: d.last_visit.map(|v| v.to_string()).unwrap_or_default(),
        mrp_provider: confirmation_text(e.mrp.as_ref()),
        mrp_patient: confirmation_text(e.review.patient_mrp.as_ref()),
        contact,
        contact_verified: e.review.contact_verified.is_some(),
        two_panels: r.on_two_panels,
    }
}

/// Draws the list page for `typed` (the query's pairs) with what was loaded.
#[allow(clippy::too_many_arguments)] // Private: the page's parts, each needed once.
fn page(
    frame: Frame,
    scope: ReviewScope,
    typed: &[(String, String)],
    parsed: Result<ReviewQuery, Vec<attach_app::Problem>>,
    loaded: Loaded,
    page_no: usize,
    done: Option<&str>,
    bulk_error: String,
) -> Response {
    // `print=1`: the whole list on one page, for the printer.
    let printing = typed.iter().any(|(k, v)| k == "print" && v == "1");
    // Right after a bulk change: its record, to undo it.
    let undo = typed
        .iter()
        .find(|(k, _)| k == "bulk")
        .filter(|_| done == Some("bulk"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let per_page = if printing { usize::MAX } else { REVIEW_ROWS };
    let page_no = if printing { 1 } else { page_no };
    let base = list_base(&frame, scope);
    let c = &loaded.clinic;
    let (q, errors) = match parsed {
        Ok(q) => (q, FieldErrors::default()),
        Err(problems) => (
            ReviewQuery::default(),
            FieldErrors::from_problems(&problems),
        ),
    };
    let current_key = q.worklist.map(|w| w.key()).unwrap_or_default();
    let tabs = loaded
        .counts
        .iter()
        .map(|(w, n)| {
            // The selected list keeps its own months / date.
            let w = q.worklist.filter(|s| s.key() == w.key()).unwrap_or(*w);
            let only = ReviewQuery {
                worklist: Some(w),
                filter: q.filter.clone(),
                search: q.search.clone(),
            };
            Tab {
                key: w.key(),
                title: w.title(),
                count: thousands(*n as i64),
                href: with_query(&base, &query_string(&only, &[])),
                current: w.key() == current_key,
            }
        })
        .collect();
    let no_list = ReviewQuery {
        worklist: None,
        ..q.clone()
    };
    let total = loaded.rows.len();
    let first_index = (page_no - 1).saturating_mul(per_page);
    let rows: Vec<Row> = loaded
        .rows
        .iter()
        .skip(first_index)
        .take(per_page)
        .map(|r| row(&frame, c, &loaded.names, loaded.today, r))
        .collect();
    let at_page = |n: usize| {
        let extra = if n > 1 {
            vec![("page", n.to_string())]
        } else {
            vec![]
        };
        with_query(&base, &query_string(&q, &extra))
    };
    let whose = match scope {
        ReviewScope::Clinic => "all panels".to_owned(),
        ReviewScope::Provider(p) => format!("the panel of {}", super::name_of(&loaded.names, p)),
    };
    let described = q.describe(|s| status_label(c, &s));
    let assignable = super::assignable_statuses(c, None)
        .into_iter()
        .map(|s| Choice {
            key: s.key,
            name: s.name,
            selected: false,
        })
        .collect();
    let methods = ConfirmMethod::ALL
        .into_iter()
        .map(|m| Choice {
            key: m.key().to_owned(),
            name: m.label().to_owned(),
            selected: m == ConfirmMethod::InPerson,
        })
        .collect();
    // Where a selection may be moved: the clinic's other providers, by name.
    let mut receivers: Vec<Choice> = c
        .providers()
        .filter(|m| ReviewScope::Provider(m.user) != scope)
        .map(|m| Choice {
            key: m.user.to_string(),
            name: super::name_of(&loaded.names, m.user),
            selected: false,
        })
        .collect();
    receivers.sort_by(|a, b| a.name.cmp(&b.name));
    let status = if !errors.is_empty() || !bulk_error.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let view = ReviewPageView {
        layout: frame
            .layout
            .clone()
            .with_section("review")
            .with_notice(notice(done)),
        whose,
        panel: match scope {
            ReviewScope::Provider(p) => Some(format!("{}/panels/{p}", frame.base())),
            ReviewScope::Clinic => None,
        },
        clinic_wide: scope == ReviewScope::Clinic,
        tabs,
        all_href: with_query(&base, &query_string(&no_list, &[])),
        all_current: q.worklist.is_none(),
        filters: Filters::of(typed, c),
        errors,
        described: if described.is_empty() {
            "Every patient on the panel".to_owned()
        } else {
            described
        },
        total,
        total_text: thousands(total as i64),
        first: if rows.is_empty() { 0 } else { first_index + 1 },
        last: first_index + rows.len(),
        prev: (page_no > 1).then(|| at_page(page_no - 1)),
        next: (first_index + rows.len() < total).then(|| at_page(page_no + 1)),
        rows,
        back: query_string(&q, &[]),
        download: with_query(&format!("{base}/download"), &query_string(&q, &[])),
        print_href: with_query(&base, &query_string(&q, &[("print", "1".to_owned())])),
        printing,
        task_href: task_href(&frame, scope, &q),
        undo,
        undo_back: with_query(&base, &query_string(&q, &[])),
        edit: loaded.edit,
        assignable,
        methods,
        receivers,
        bulk_error,
        base,
    };
    with_status(render(&view), status)
}

/// The review-task form with this list's panel, worklist and other filters filled in.
fn task_href(frame: &Frame, scope: ReviewScope, q: &ReviewQuery) -> String {
    let filters = ReviewQuery {
        worklist: None,
        ..q.clone()
    };
    let mut pairs = Vec::new();
    if let ReviewScope::Provider(p) = scope {
        pairs.push(("provider", p.to_string()));
    }
    let mut extra = Vec::new();
    if let Some(w) = q.worklist {
        pairs.push(("worklist", w.key().to_owned()));
        extra.extend(w.parameter());
    }
    let rest = query_string(&filters, &extra);
    if !rest.is_empty() {
        pairs.push(("filters", rest));
    }
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    with_query(&format!("{}/review/tasks", frame.base()), &query)
}

fn parse(app: &App, typed: &[(String, String)]) -> Result<ReviewQuery, Vec<attach_app::Problem>> {
    ReviewQuery::from_pairs(
        typed.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        app.clinic_today(),
    )
    .map_err(|e| match AppError::from(e) {
        AppError::Invalid { problems, .. } => problems,
        other => vec![attach_app::Problem {
            row: None,
            field: String::new(),
            message: other.to_string(),
        }],
    })
}

async fn list(
    web: Web,
    frame: Frame,
    scope: ReviewScope,
    raw: Option<String>,
) -> Result<Response, WebError> {
    let typed = pairs(raw.as_deref());
    let page_no = typed
        .iter()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let done = typed
        .iter()
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.clone());
    let (who, clinic) = (frame.who.user, frame.clinic);
    let typed_for_app = typed.clone();
    let (parsed, loaded) = web
        .app
        .run(move |app| {
            let parsed = parse(app, &typed_for_app);
            let loaded = load(app, who, clinic, scope, parsed.as_ref().ok())?;
            Ok((parsed, loaded))
        })
        .await?;
    Ok(page(
        frame,
        scope,
        &typed,
        parsed,
        loaded,
        page_no,
        done.as_deref(),
        String::new(),
    ))
}

/// `/c/{clinic}/review`: every panel the viewer may review.
pub async fn clinic(
    State(web): State<Web>,
    frame: Frame,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    list(web, frame, ReviewScope::Clinic, raw).await
}

/// `/c/{clinic}/panels/{provider}/review`: one provider's panel.
pub async fn provider(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    list(web, frame, ReviewScope::Provider(at.provider), raw).await
}

async fn download(
    web: Web,
    frame: Frame,
    scope: ReviewScope,
    raw: Option<String>,
) -> Result<Response, WebError> {
    let typed = pairs(raw.as_deref());
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (bytes, today) = web
        .app
        .run(move |app| {
            let q = parse(app, &typed).map_err(|problems| AppError::Invalid {
                message: "the list's filters are not valid; go back and correct them".into(),
                problems,
            })?;
            Ok((
                app.export_review(who, clinic, scope, &q)?,
                app.clinic_today(),
            ))
        })
        .await?;
    Ok(super::files::attachment(
        bytes,
        "text/csv; charset=utf-8",
        &format!("review-{today}.csv"),
    ))
}

/// `/c/{clinic}/review/download`: the clinic list as CSV.
pub async fn clinic_download(
    State(web): State<Web>,
    frame: Frame,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    download(web, frame, ReviewScope::Clinic, raw).await
}

/// `/c/{clinic}/panels/{provider}/review/download`: one panel's list as CSV.
pub async fn provider_download(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    download(web, frame, ReviewScope::Provider(at.provider), raw).await
}

/// The bulk form: what to do, to which rows.
#[derive(Debug, Default)]
struct BulkForm {
    back: String,
    entries: Vec<(UserId, EntryId)>,
    all: bool,
    action: String,
    to_status: String,
    how: String,
    to_provider: String,
    reason: String,
}

/// What the bulk form asks for.
enum BulkWish {
    Change(BulkAction),
    Move { to: UserId, reason: String },
}

impl BulkForm {
    fn of(fields: &[(String, String)]) -> Result<Self, String> {
        let mut f = Self::default();
        for (k, v) in fields {
            match k.as_str() {
                "back" => f.back = v.clone(),
                "all" => f.all = v == "1",
                "action" => f.action = v.clone(),
                "to_status" => f.to_status = v.clone(),
                "how" => f.how = v.clone(),
                "to_provider" => f.to_provider = v.clone(),
                "reason" => f.reason = v.clone(),
                "entry" => {
                    let parsed = v
                        .split_once(':')
                        .and_then(|(p, e)| Some((p.parse().ok()?, e.parse().ok()?)));
                    match parsed {
                        Some(pe) => f.entries.push(pe),
                        None => {
                            return Err(
                                "the selection holds an entry this node did not list".into()
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(f)
    }

    fn action(&self, c: &Clinic) -> Result<BulkWish, String> {
        let how = || {
            ConfirmMethod::from_key(&self.how)
                .ok_or_else(|| "choose how the confirmation was given".to_owned())
        };
        if self.action == "move" {
            let to = self
                .to_provider
                .parse::<UserId>()
                .ok()
                .filter(|p| c.providers().any(|m| m.user == *p))
                .ok_or_else(|| "choose the provider to move the patients to".to_owned())?;
            if self.reason.trim().is_empty() {
                return Err(
                    "say why the patients are moved (it is kept in each patient's history)".into(),
                );
            }
            return Ok(BulkWish::Move {
                to,
                reason: self.reason.trim().to_owned(),
            });
        }
        Ok(BulkWish::Change(match self.action.as_str() {
            "accept" => BulkAction::AcceptSuggestions,
            "dismiss" => BulkAction::DismissSuggestions,
            "contact" => BulkAction::VerifyContact,
            "mrp-provider" => BulkAction::ConfirmMrp {
                side: MrpSide::Provider,
                how: how()?,
            },
            "mrp-patient" => BulkAction::ConfirmMrp {
                side: MrpSide::Patient,
                how: how()?,
            },
            "status" => match PatientStatus::from_key(&self.to_status) {
                Some(s) if attach_domain::check_status_assignable(c, s).is_ok() => {
                    BulkAction::SetStatus(s)
                }
                _ => return Err("choose the status to give".into()),
            },
            _ => return Err("choose what to do with the selected patients".into()),
        }))
    }
}

async fn bulk(
    web: Web,
    frame: Frame,
    scope: ReviewScope,
    fields: Vec<(String, String)>,
) -> Result<Response, WebError> {
    let form = BulkForm::of(&fields).map_err(WebError::BadRequest)?;
    let typed = pairs(Some(&form.back));
    let (who, clinic) = (frame.who.user, frame.clinic);
    let typed_for_app = typed.clone();
    let outcome = web
        .app
        .run(move |app| {
            let parsed = parse(app, &typed_for_app);
            let c = app.clinic(who, clinic)?;
            let tried = (|| -> Result<Result<(usize, Option<attach_domain::BulkId>), String>, AppError> {
                let action = match form.action(&c) {
                    Ok(a) => a,
                    Err(e) => return Ok(Err(e)),
                };
                let entries = if form.all {
                    let Ok(q) = &parsed else {
                        return Ok(Err("correct the filters first".into()));
                    };
                    app.review_rows(who, clinic, scope, q)?
                        .iter()
                        .map(|r| (r.entry.provider, r.entry.id))
                        .collect()
                } else {
                    form.entries.clone()
                };
                if entries.is_empty() {
                    return Ok(Err(
                        "select at least one patient (or every patient that matches)".into(),
                    ));
                }
                let done = match action {
                    BulkWish::Change(action) => app.bulk_change(who, clinic, &entries, action),
                    BulkWish::Move { to, reason } => {
                        app.bulk_move(who, clinic, &entries, to, &reason)
                    }
                };
                match done {
                    Ok(report) => Ok(Ok((report.changed, report.bulk))),
                    // Which patients could not change, the first few by their row.
                    Err(AppError::Invalid { message, problems }) if !problems.is_empty() => {
                        let mut said: Vec<String> = problems
                            .iter()
                            .take(5)
                            .map(|p| match p.row {
                                Some(row) => format!("selected patient {row}: {}", p.message),
                                None => p.message.clone(),
                            })
                            .collect();
                        if problems.len() > 5 {
                            said.push(format!("and {} more", problems.len() - 5));
                        }
                        Ok(Err(format!("{message} {}", said.join("; "))))
                    }
                    Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
                        Ok(Err(e.to_string()))
                    }
                    Err(e) => Err(e),
                }
            })()?;
            match tried {
                Ok(changed) => Ok(Ok(changed)),
                Err(problem) => {
                    let loaded = load(app, who, clinic, scope, parsed.as_ref().ok())?;
                    Ok(Err((problem, parsed, loaded)))
                }
            }
        })
        .await?;
    match outcome {
        Ok((changed, record)) => {
            let done = match record {
                Some(id) if changed > 0 => format!("bulk&bulk={id}"),
                _ => "none".to_owned(),
            };
            let back = if form_back_is_empty(&typed) {
                format!("done={done}")
            } else {
                format!("{}&done={done}", query_of(&typed))
            };
            Ok(Redirect::to(&with_query(&list_base(&frame, scope), &back)).into_response())
        }
        Err((problem, parsed, loaded)) => {
            Ok(page(frame, scope, &typed, parsed, loaded, 1, None, problem))
        }
    }
}

/// Pairs that say how a list is shown, not which list it is.
fn is_view_key(k: &str) -> bool {
    matches!(k, "done" | "page" | "bulk" | "print")
}

fn form_back_is_empty(typed: &[(String, String)]) -> bool {
    typed.iter().all(|(k, _)| is_view_key(k))
}

/// The pairs again as a query string (without `done`, `page`, `bulk` and `print`).
fn query_of(typed: &[(String, String)]) -> String {
    typed
        .iter()
        .filter(|(k, _)| !is_view_key(k))
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `POST /c/{clinic}/review/bulk`
pub async fn clinic_bulk(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    bulk(web, frame, ReviewScope::Clinic, form).await
}

/// `POST /c/{clinic}/panels/{provider}/review/bulk`
pub async fn provider_bulk(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    bulk(web, frame, ReviewScope::Provider(at.provider), form).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_round_trips_through_the_pairs() {
        let typed = pairs(Some(
            "worklist=mrp-stale&months=24&status=active&status=inactive&q=smith%2C%20jo&page=3",
        ));
        assert_eq!(typed.len(), 6);
        assert_eq!(typed[5], ("page".to_owned(), "3".to_owned()));
        assert_eq!(
            query_of(&typed),
            "worklist=mrp-stale&months=24&status=active&status=inactive&q=smith%2C%20jo"
        );
        assert!(form_back_is_empty(&pairs(Some("page=2&done=bulk"))));
    }

    #[test]
    fn a_bulk_form_names_its_rows_and_refuses_a_foreign_one() {
        let p = UserId::new();
        let e = EntryId::new();
        let fields = vec![
            ("entry".to_owned(), format!("{p}:{e}")),
            ("action".to_owned(), "accept".to_owned()),
        ];
        let f = BulkForm::of(&fields).expect("reads");
        assert_eq!(f.entries, vec![(p, e)]);
        let bad = vec![("entry".to_owned(), "nonsense".to_owned())];
        assert!(BulkForm::of(&bad).is_err());
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct UndoForm {
    #[serde(default)]
    bulk: String,
    /// The list to go back to (an address on this clinic's review pages).
    #[serde(default)]
    back: String,
}

/// `POST /c/{clinic}/review/undo`: undoes a bulk change as a second bulk change.
pub async fn undo(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<UndoForm>,
) -> Result<Response, WebError> {
    let bulk: attach_domain::BulkId = form
        .bulk
        .parse()
        .map_err(|_| WebError::BadRequest("no such bulk change".into()))?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    web.app
        .run(move |app| app.undo_bulk(who, clinic, bulk))
        .await?;
    // Only back to this clinic's own pages.
    let back = if form.back.starts_with(&format!("{}/", frame.base())) && !form.back.contains("//")
    {
        form.back
    } else {
        format!("{}/review", frame.base())
    };
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{back}{sep}done=undone")).into_response())
}
