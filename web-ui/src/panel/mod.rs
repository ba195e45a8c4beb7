//! A provider's panel in the browser: the list (search, filter, sort, pages), one
//! patient entry and its history, adding a patient, uploading and downloading files,
//! the panel preferences, and the provider and clinic dashboards.
//!
//! Who may see or change a panel is the app's decision (`readable_panel`,
//! `can_manage_panel`); pages only hide the forms a viewer could not use, from the
//! frame's list of panels the viewer manages.

mod clinical;
mod coding;
mod dashboard;
pub(crate) mod entry;
pub(crate) mod files;
mod followup;
mod moves;
mod msp;
mod prefs;
mod profile;
mod qi;
mod review;
mod tasks;

use std::collections::HashMap;

use crate::{Path, Query};
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;

use super::error::{WebError, render, urlencode};
use super::{Frame, Layout, Web};
use attach_app::{
    App, AppError, PanelAccess, PanelPage, PanelQuery, PanelRow, PanelSort, status_label,
};
use attach_domain::{Clinic, ClinicId, EntryId, PatientStatus, UserId};

/// Rows on one page of the panel list.
pub const PAGE_ROWS: usize = 50;

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/c/{clinic}/dashboard", get(dashboard::clinic))
        .route("/c/{clinic}/registries", get(clinical::overview))
        .route("/c/{clinic}/registries/list", get(clinical::list))
        .route("/c/{clinic}/registries/coding", get(coding::page))
        .route(
            "/c/{clinic}/registries/coding/registry",
            post(coding::save_registry),
        )
        .route("/c/{clinic}/registries/coding/gap", post(coding::save_gap))
        .route(
            "/c/{clinic}/registries/coding/use",
            post(coding::set_in_use),
        )
        .route("/c/{clinic}/registries/coding/reset", post(coding::reset))
        .route("/c/{clinic}/registries/recalls", post(followup::bulk))
        .route("/c/{clinic}/qi", get(qi::list).post(qi::create))
        .route("/c/{clinic}/qi/{cycle}", get(qi::cycle).post(qi::update))
        .route("/c/{clinic}/qi/{cycle}/measures", post(qi::save_measure))
        .route(
            "/c/{clinic}/qi/{cycle}/measures/{key}/remove",
            post(qi::remove_measure),
        )
        .route(
            "/c/{clinic}/qi/{cycle}/measures/{key}/chart.svg",
            get(qi::chart_svg),
        )
        .route(
            "/c/{clinic}/qi/{cycle}/measures/{key}/points.csv",
            get(qi::points_csv),
        )
        .route("/c/{clinic}/qi/{cycle}/points", post(qi::record_point))
        .route("/c/{clinic}/qi/{cycle}/changes", post(qi::save_change))
        .route(
            "/c/{clinic}/registries/recalls.csv",
            get(followup::recalls_csv),
        )
        .route("/c/{clinic}/registries/entered", get(followup::entered))
        .route(
            "/c/{clinic}/registries/entered.csv",
            get(followup::entered_csv),
        )
        .route(
            "/c/{clinic}/registries/import",
            get(clinical::import_form).post(clinical::import),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/clinical",
            get(clinical::patient),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/clinical/recall",
            post(followup::patient_recall),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/clinical/suggestion",
            post(followup::suggestion),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/clinical/record",
            get(followup::record_form).post(followup::record_save),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/clinical/record/delete",
            post(followup::record_delete),
        )
        .route("/c/{clinic}/panels/{provider}", get(list))
        .route(
            "/c/{clinic}/panels/{provider}/dashboard",
            get(dashboard::provider),
        )
        .route(
            "/c/{clinic}/panels/{provider}/new",
            get(entry::new_form).post(entry::add),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}",
            get(entry::page),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/details",
            post(entry::edit_details),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/status",
            post(entry::change_status),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/mrp",
            post(entry::confirm_mrp),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/contact",
            post(entry::contact_verified),
        )
        .route(
            "/c/{clinic}/panels/{provider}/entries/{entry}/remove",
            post(entry::remove),
        )
        .route(
            "/c/{clinic}/panels/{provider}/upload",
            get(files::upload_form).post(files::check),
        )
        .route(
            "/c/{clinic}/panels/{provider}/upload/store",
            post(files::store),
        )
        .route(
            "/c/{clinic}/panels/{provider}/download",
            get(files::download),
        )
        .route(
            "/c/{clinic}/panels/{provider}/preferences",
            get(prefs::form).post(prefs::save),
        )
        .route(
            "/c/{clinic}/panels/{provider}/move",
            get(moves::form).post(moves::save),
        )
        .route("/c/{clinic}/panels/{provider}/msp", get(msp::form))
        .route(
            "/c/{clinic}/panels/{provider}/msp/upload",
            post(msp::upload),
        )
        .route(
            "/c/{clinic}/panels/{provider}/msp/decide",
            post(msp::decide),
        )
        .route("/c/{clinic}/review", get(review::clinic))
        .route(
            "/c/{clinic}/review/tasks",
            get(tasks::page).post(tasks::create),
        )
        .route(
            "/c/{clinic}/review/tasks/{task}/done",
            post(tasks::complete),
        )
        .route(
            "/c/{clinic}/review/tasks/{task}/retire",
            post(tasks::retire),
        )
        .route("/c/{clinic}/review/bulk", post(review::clinic_bulk))
        .route("/c/{clinic}/review/undo", post(review::undo))
        .route("/c/{clinic}/panels/{provider}/profile", get(profile::page))
        .route(
            "/c/{clinic}/panels/{provider}/profile/supply",
            post(profile::save_supply),
        )
        .route(
            "/c/{clinic}/profile/rates",
            get(profile::rates).post(profile::save_rates),
        )
        .route("/c/{clinic}/review/download", get(review::clinic_download))
        .route(
            "/c/{clinic}/panels/{provider}/review",
            get(review::provider),
        )
        .route(
            "/c/{clinic}/panels/{provider}/review/bulk",
            post(review::provider_bulk),
        )
        .route(
            "/c/{clinic}/panels/{provider}/review/download",
            get(review::provider_download),
        )
}

/// The panel (and entry) a `/c/{clinic}/panels/{provider}[/entries/{entry}]` path names.
/// A malformed id is "not found", like an unknown one.
#[derive(Debug, Clone, Copy)]
pub struct PanelAt {
    pub provider: UserId,
    pub entry: Option<EntryId>,
}

impl PanelAt {
    /// The entry of an entry page (its route always has one).
    pub fn entry(&self) -> Result<EntryId, WebError> {
        self.entry
            .ok_or_else(|| WebError::App(AppError::not_found("patient entry")))
    }
}

impl FromRequestParts<Web> for PanelAt {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, web)
            .await
            .map_err(|_| WebError::App(AppError::not_found("panel")))?;
        let provider = params
            .get("provider")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| WebError::App(AppError::not_found("panel")))?;
        let entry = match params.get("entry") {
            Some(e) => Some(
                e.parse()
                    .map_err(|_| WebError::App(AppError::not_found("patient entry")))?,
            ),
            None => None,
        };
        Ok(Self { provider, entry })
    }
}

/// What every panel page needs besides its own data: what the viewer may do, the
/// clinic (for status names) and the names of its people.
#[derive(Debug, Clone)]
pub struct Context {
    pub access: PanelAccess,
    pub clinic: Clinic,
    pub names: HashMap<UserId, String>,
}

impl Context {
    /// Refuses (403/404) a viewer who may not see the panel.
    pub fn load(
        app: &App,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<Self, AppError> {
        Ok(Self {
            access: app.panel_access(who, clinic, provider)?,
            clinic: app.clinic(who, clinic)?,
            names: names(app, who, clinic)?,
        })
    }

    /// Like `load`, but refuses (403) a viewer who may not change the panel.
    pub fn load_for_edit(
        app: &App,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<Self, AppError> {
        let ctx = Self::load(app, who, clinic, provider)?;
        if !ctx.access.edit {
            return Err(AppError::forbidden(
                "only the provider and staff they have endorsed can change this panel",
            ));
        }
        Ok(ctx)
    }

    pub fn name(&self, user: UserId) -> String {
        name_of(&self.names, user)
    }

    /// `load` (or, with `edit`, `load_for_edit`) for a page's frame, off the async threads.
    pub async fn of(
        web: &Web,
        frame: &Frame,
        provider: UserId,
        edit: bool,
    ) -> Result<Self, WebError> {
        let (who, clinic) = (frame.who.user, frame.clinic);
        let ctx = web
            .app
            .run(move |app| {
                if edit {
                    Self::load_for_edit(app, who, clinic, provider)
                } else {
                    Self::load(app, who, clinic, provider)
                }
            })
            .await?;
        Ok(ctx)
    }
}

/// Answers with `status` instead of 200 (a form shown again with its problems).
pub fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// Where a panel's pages live, for templates.
#[derive(Debug, Clone)]
pub struct PanelLinks {
    /// `/c/<clinic>/panels/<provider>`
    pub base: String,
    pub provider_name: String,
}

impl PanelLinks {
    pub fn new(frame: &Frame, provider: UserId, provider_name: String) -> Self {
        Self {
            base: format!("{}/panels/{provider}", frame.base()),
            provider_name,
        }
    }
}

/// Display names of the clinic's members, for "added by", "confirmed by" and the like.
pub fn names(
    app: &App,
    who: UserId,
    clinic: ClinicId,
) -> Result<HashMap<UserId, String>, AppError> {
    Ok(app
        .members(who, clinic)?
        .into_iter()
        .map(|m| (m.membership.user, m.display_name))
        .collect())
}

/// A person's name, or a neutral word when the account is unknown here.
pub fn name_of(names: &HashMap<UserId, String>, user: UserId) -> String {
    names
        .get(&user)
        .cloned()
        .unwrap_or_else(|| "someone outside this clinic".to_owned())
}

/// One choice of a status `<select>`.
#[derive(Debug, Clone)]
pub struct StatusOption {
    pub key: String,
    pub name: String,
    pub selected: bool,
}

/// The statuses a patient may be given here (built in, and the clinic's own not retired).
pub fn assignable_statuses(c: &Clinic, selected: Option<PatientStatus>) -> Vec<StatusOption> {
    let custom = c
        .statuses
        .values()
        .filter(|s| !s.retired)
        .map(|s| PatientStatus::Custom(s.id));
    [PatientStatus::Active, PatientStatus::Inactive]
        .into_iter()
        .chain(custom)
        .map(|s| StatusOption {
            key: s.key(),
            name: status_label(c, &s),
            selected: Some(s) == selected,
        })
        .collect()
}

/// 1180 → "1,180".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "2026-11-23 14:05 UTC".
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute())
}

/// Is this request htmx asking for a part of a page?
fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request") && !headers.contains_key("hx-boosted")
}

// ---------------------------------------------------------------------------
// The panel list
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    sort: String,
    /// 1-based.
    #[serde(default)]
    page: Option<usize>,
    /// What was just done, for the confirmation (`notice`).
    #[serde(default)]
    done: String,
}

/// One row of the list, ready to draw.
#[derive(Debug, Clone)]
pub struct RowView {
    pub id: EntryId,
    pub name: String,
    pub phn: String,
    pub date_of_birth: String,
    pub status: String,
    pub added: String,
    pub last_visit: String,
    pub mrp: bool,
    pub clash: bool,
    pub conflicts: bool,
}

/// A sortable column header.
#[derive(Debug, Clone)]
pub struct SortHeader {
    pub label: &'static str,
    pub href: String,
    /// `ascending`, `descending` or `none`.
    pub aria_sort: &'static str,
}

impl SortHeader {
    /// The arrow sighted users see on the sorted column (`aria-sort` tells the others).
    pub fn arrow(&self) -> &'static str {
        match self.aria_sort {
            "ascending" => " ↑",
            "descending" => " ↓",
            _ => "",
        }
    }
}

/// Everything the results part of the list draws (the whole page, or the htmx fragment).
#[derive(Debug, Clone)]
pub struct Results {
    pub links: PanelLinks,
    pub rows: Vec<RowView>,
    pub total: usize,
    pub first: usize,
    pub last: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub name_header: SortHeader,
    pub added_header: SortHeader,
    pub visit_header: SortHeader,
    pub searching: bool,
}

impl Results {
    pub fn total_text(&self) -> String {
        thousands(self.total as i64)
    }
    pub fn first_text(&self) -> String {
        thousands(self.first as i64)
    }
    pub fn last_text(&self) -> String {
        thousands(self.last as i64)
    }
    /// Announced to screen readers when htmx replaces the table (see `list.html`).
    pub fn count_text(&self) -> String {
        match (self.total, self.searching) {
            (1, true) => "1 patient matches.".to_owned(),
            (n, true) => format!("{} patients match.", thousands(n as i64)),
            (1, false) => "1 patient.".to_owned(),
            (n, false) => format!("{} patients.", thousands(n as i64)),
        }
    }
}

#[derive(Template)]
#[template(path = "panel/list.html")]
struct ListPage {
    layout: Layout,
    view: Results,
    access: PanelAccess,
    q: String,
    statuses: Vec<StatusOption>,
    status_all: bool,
    sort: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "panel/results_fragment.html")]
struct ResultsFragment {
    view: Results,
}

fn sort_of(raw: &str) -> PanelSort {
    match raw {
        "added" => PanelSort::Added,
        "last_visit" => PanelSort::LastVisit,
        _ => PanelSort::Name,
    }
}

fn sort_key(s: PanelSort) -> &'static str {
    match s {
        PanelSort::Name => "name",
        PanelSort::Added => "added",
        PanelSort::LastVisit => "last_visit",
    }
}

/// The list's URL with these parameters (empty ones left out).
fn list_url(base: &str, q: &str, status: &str, sort: PanelSort, page: usize) -> String {
    let mut parts = Vec::new();
    if !q.is_empty() {
        parts.push(format!("q={}", urlencode(q)));
    }
    if !status.is_empty() {
        parts.push(format!("status={}", urlencode(status)));
    }
    if sort != PanelSort::Name {
        parts.push(format!("sort={}", sort_key(sort)));
    }
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    if parts.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", parts.join("&"))
    }
}

/// What the list is asked to show, read from its query string.
#[derive(Debug, Clone)]
struct Listing {
    q: String,
    status: Option<PatientStatus>,
    sort: PanelSort,
    /// 1-based.
    page: usize,
}

impl Listing {
    fn of(p: &ListParams) -> Self {
        Self {
            q: p.q.clone(),
            status: PatientStatus::from_key(&p.status),
            sort: sort_of(&p.sort),
            page: p.page.unwrap_or(1).max(1),
        }
    }

    fn offset(&self) -> usize {
        (self.page - 1) * PAGE_ROWS
    }

    fn query(&self) -> PanelQuery {
        PanelQuery {
            status: self.status,
            search: Some(self.q.clone()).filter(|q| !q.trim().is_empty()),
            include_removed: false,
            sort: self.sort,
            offset: self.offset(),
            limit: PAGE_ROWS,
        }
    }

    /// This list (same search and filter) in another order or at another page.
    fn url(&self, base: &str, sort: PanelSort, page: usize) -> String {
        let status = self.status.map(|s| s.key()).unwrap_or_default();
        list_url(base, &self.q, &status, sort, page)
    }

    fn header(
        &self,
        base: &str,
        label: &'static str,
        s: PanelSort,
        dir: &'static str,
    ) -> SortHeader {
        SortHeader {
            label,
            href: self.url(base, s, 1),
            aria_sort: if self.sort == s { dir } else { "none" },
        }
    }

    fn results(&self, links: PanelLinks, c: &Clinic, found: PanelPage) -> Results {
        let rows: Vec<RowView> = found.rows.into_iter().map(|r| row_view(c, r)).collect();
        let offset = self.offset();
        let shown = |n: usize| if rows.is_empty() { 0 } else { n };
        let base = links.base.as_str();
        Results {
            first: shown(offset + 1),
            last: shown(offset + rows.len()),
            prev: (self.page > 1).then(|| self.url(base, self.sort, self.page - 1)),
            next: (offset + rows.len() < found.total)
                .then(|| self.url(base, self.sort, self.page + 1)),
            total: found.total,
            name_header: self.header(base, "Name", PanelSort::Name, "ascending"),
            added_header: self.header(base, "Added", PanelSort::Added, "descending"),
            visit_header: self.header(base, "Last visit", PanelSort::LastVisit, "ascending"),
            searching: !self.q.trim().is_empty() || self.status.is_some(),
            rows,
            links,
        }
    }
}

/// "room for 120 more" / "at the desired size" / "80 over".
pub fn room_text(room: i64) -> String {
    match room {
        r if r > 0 => format!("room for {} more", thousands(r)),
        0 => "at the desired size".to_owned(),
        r => format!("{} over", thousands(-r)),
    }
}

/// `/c/{clinic}/panels/{provider}`: the panel, or (for htmx) just its results table.
pub async fn list(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    Query(p): Query<ListParams>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let listing = Listing::of(&p);
    let query = listing.query();
    let (found, ctx, summary) = web
        .app
        .run(move |app| {
            let ctx = Context::load(app, who, clinic, provider)?;
            let found = app.panel_page(who, clinic, provider, &query)?;
            Ok((found, ctx, app.panel_summary(who, clinic, provider)?))
        })
        .await?;
    let links = PanelLinks::new(&frame, provider, ctx.name(provider));
    let view = listing.results(links, &ctx.clinic, found);
    let mut response = if is_htmx(&headers) {
        render(&ResultsFragment { view })
    } else {
        render(&ListPage {
            layout: frame
                .layout
                .clone()
                .with_section("panel")
                .with_notice(notice(&p.done)),
            access: ctx.access,
            view,
            statuses: assignable_statuses(&ctx.clinic, listing.status),
            status_all: listing.status.is_none(),
            sort: sort_key(listing.sort).to_owned(),
            summary: format!(
                "{} patients on the panel; desired size {} ({}).",
                thousands(summary.size as i64),
                thousands(i64::from(summary.preferences.desired_panel_size)),
                room_text(summary.room)
            ),
            q: p.q,
        })
    };
    vary_on_htmx(&mut response);
    Ok(response)
}

/// One URL answers with a page or (for htmx) a fragment: caches must tell them apart.
fn vary_on_htmx(response: &mut Response) {
    response.headers_mut().insert(
        axum::http::header::VARY,
        axum::http::HeaderValue::from_static("HX-Request"),
    );
}

fn row_view(c: &Clinic, r: PanelRow) -> RowView {
    let e = r.entry;
    let d = e.details;
    RowView {
        id: e.id,
        name: format!("{}, {}", d.family_name, d.given_names),
        phn: d.phn.to_string(),
        date_of_birth: d.date_of_birth.to_string(),
        status: status_label(c, &e.status),
        added: e.added_at.date().to_string(),
        last_visit: d.last_visit.map(|v| v.to_string()).unwrap_or_default(),
        mrp: e.mrp.is_some(),
        clash: r.clash,
        conflicts: !r.conflicting_fields.is_empty(),
    }
}

/// `?done=<key>`: what a form just did, for the confirmation at the top of the page.
#[derive(Debug, Default, Deserialize)]
pub struct DoneParam {
    #[serde(default)]
    done: String,
}

impl DoneParam {
    /// The frame with the confirmation of what was done shown at the top.
    pub fn notice_on(&self, mut frame: Frame) -> Frame {
        frame.layout = frame.layout.with_notice(notice(&self.done));
        frame
    }
}

/// The fixed confirmation for a `?done=<key>` after a form was accepted.
pub fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "added" => "The patient was added to the panel.",
        "imported" => "The file was stored on the panel.",
        "details" => "The patient's details were saved.",
        "status" => "The status was changed.",
        "mrp" => "Most responsible provider confirmed.",
        "patient-mrp" => {
            "The patient's confirmation of the most responsible provider was recorded."
        }
        "contact" => "The contact details were recorded as checked with the patient.",
        "removed" => "The patient was removed from the panel.",
        "transferred" => "The patients were moved to the other provider's panel.",
        "returned" => {
            "The patients were taken off the panel for the provincial waitlist; the hub \
             registers them again at its next round after this clinic syncs."
        }
        "preferences" => "Panel preferences saved.",
        "supply" => "The appointments were saved; the estimate below uses them.",
        "rates" => "The clinic's visit-rate table was saved.",
        "rates-default" => "The clinic uses the default visit-rate table again.",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_180), "1,180");
        assert_eq!(thousands(25_000), "25,000");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
    }

    #[test]
    fn list_urls_keep_only_what_is_set() {
        assert_eq!(list_url("/p", "", "", PanelSort::Name, 1), "/p");
        assert_eq!(
            list_url("/p", "smith, jo", "inactive", PanelSort::Added, 3),
            "/p?q=smith%2C%20jo&status=inactive&sort=added&page=3"
        );
    }
}
