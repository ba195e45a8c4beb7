//! The hub's pages for provincial coordinators (served by `attach hub` on
//! `hub_web_listen`): the waitlist and each person's registration, registering a person,
//! importing a file, withdrawing a registration, matching rounds, offers out with *why this
//! person now* and the person's answer, and the provincial view with its CSV.
//!
//! Every page needs a coordinator's session ([`Desk`]); the app checks again that the
//! session is a coordinator's. Forms carry the session's CSRF token like a clinic's.

mod measures;
mod province;

pub use province::province_html;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::csrf;
use super::error::{WebError, render, urlencode};
use super::frame::CsrfForm;
use super::frame::{Layout, Viewer, layout};
use super::offers::{AnswerForm, PeriodForm, attachments_file, attachments_page};
use super::panel::entry::{InputField, PatientForm, SelectOption};
use super::panel::files::Upload;
use super::registry::{Done, unprocessable, when};
use super::{FieldErrors, Path, Query, Web};
use attach_app::{
    AppError, CoordinatorOffer, Problem, RoundReport, WAITLIST_COLUMNS, WaitingInput,
    WaitlistQuery, WaitlistRow,
};
use attach_domain::matching::{Decision, PersonOutcome, PriorityFactor, ProviderNeed, WaitStatus};
use attach_domain::{PersonId, UserId};

pub fn routes() -> Router<Web> {
    Router::new()
        .route("/", get(home))
        .route("/waitlist", get(waitlist))
        .route("/waitlist/new", get(register_form).post(register))
        .route("/waitlist/import", get(import_form).post(import))
        .route("/waitlist/{person}", get(person))
        .route("/waitlist/{person}/withdraw", post(withdraw))
        .route("/matching", get(matching).post(run_round))
        .route("/offers", get(offers))
        .route("/offers/answer", post(answer))
        .route("/province", get(province::page))
        .route("/province.csv", get(province::csv))
        .route("/province/measures", get(measures::page))
        .route("/attachments", get(attachments))
        .route("/attachments/download", get(attachments_download))
}

/// A coordinator at the hub's desk: who, this session's CSRF token, and the page frame.
#[derive(Debug, Clone)]
pub struct Desk {
    pub who: UserId,
    pub csrf: String,
    pub layout: Layout,
}

impl FromRequestParts<Web> for Desk {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let Viewer { who, csrf } = Viewer::from_request_parts(parts, web).await?;
        let layout = layout(web, &who, &csrf, None).await?;
        Ok(Self {
            who: who.user,
            csrf,
            layout,
        })
    }
}

impl Desk {
    fn frame(&self, section: &'static str, notice: Option<&'static str>) -> Layout {
        self.layout
            .clone()
            .with_section(section)
            .with_notice(notice)
    }
}

/// `/`: the provincial view.
async fn home(_desk: Desk) -> Redirect {
    Redirect::to("/province")
}

const NOTICES: &[(&str, &str)] = &[
    ("registered", "Registered on the provincial waitlist."),
    (
        "merged",
        "This PHN was already waiting: the registration was merged into it (earliest date kept).",
    ),
    (
        "flagged",
        "Registered. This person is on a panel already: they are flagged and will not be offered.",
    ),
    (
        "withdrawn",
        "Registration withdrawn: the person will not be offered.",
    ),
    ("answered", "Answer recorded."),
];

// ---------------------------------------------------------------- the waitlist

/// One registration, ready to show.
#[derive(Debug, Clone)]
pub struct WaitRow {
    pub id: String,
    pub name: String,
    pub phn: String,
    pub born: String,
    pub community: String,
    pub tier: String,
    pub days: i64,
    pub status: &'static str,
    pub status_key: &'static str,
    pub registrations: u32,
}

fn wait_row(r: &WaitlistRow, tiers: &attach_domain::matching::PriorityRules) -> WaitRow {
    let d = &r.person.details;
    WaitRow {
        id: r.person.id.to_string(),
        name: format!("{}, {}", d.family_name, d.given_names),
        phn: d.phn.to_string(),
        born: d.date_of_birth.to_string(),
        community: d.community.clone(),
        tier: tiers.tier_name(r.rank.tier).to_owned(),
        days: r.rank.days_waiting,
        status: r.status.label(),
        status_key: r.status.key(),
        registrations: r.registrations,
    }
}

/// A status with its count, as a filter link.
#[derive(Debug, Clone)]
pub struct StatusLink {
    pub key: &'static str,
    pub label: &'static str,
    pub count: usize,
    pub current: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct WaitlistParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    offset: usize,
}

#[derive(Template)]
#[template(path = "hub/waitlist.html")]
struct WaitlistTpl {
    layout: Layout,
    q: String,
    status: String,
    statuses: Vec<StatusLink>,
    total: usize,
    matching: usize,
    rows: Vec<WaitRow>,
    from: usize,
    to: usize,
    prev: Option<String>,
    next: Option<String>,
}

const PAGE: usize = 50;

/// `/waitlist?q=&status=&offset=`
async fn waitlist(
    State(web): State<Web>,
    desk: Desk,
    Query(p): Query<WaitlistParams>,
) -> Result<Response, WebError> {
    let query = WaitlistQuery {
        q: p.q.clone(),
        status: WaitStatus::from_key(&p.status),
        offset: p.offset,
        limit: PAGE,
    };
    let who = desk.who;
    let (page, rules) = web
        .app
        .run(move |app| Ok((app.waitlist(who, &query)?, app.matching_config().rules)))
        .await?;
    Ok(render(&WaitlistTpl::new(&desk, &p, &page, &rules)))
}

impl WaitlistTpl {
    fn new(
        desk: &Desk,
        p: &WaitlistParams,
        page: &attach_app::WaitlistPage,
        rules: &attach_domain::matching::PriorityRules,
    ) -> Self {
        let status = WaitStatus::from_key(&p.status);
        let link = |offset: usize| {
            format!(
                "/waitlist?q={}&status={}&offset={offset}",
                urlencode(&p.q),
                status.map_or("", WaitStatus::key)
            )
        };
        Self {
            layout: desk.frame("waitlist", None),
            statuses: page
                .counts
                .iter()
                .map(|(s, n)| StatusLink {
                    key: s.key(),
                    label: s.label(),
                    count: *n,
                    current: status == Some(*s),
                })
                .collect(),
            total: page.total,
            matching: page.matching,
            rows: page.rows.iter().map(|r| wait_row(r, rules)).collect(),
            from: if page.rows.is_empty() {
                0
            } else {
                p.offset + 1
            },
            to: p.offset + page.rows.len(),
            prev: (p.offset > 0).then(|| link(p.offset.saturating_sub(PAGE))),
            next: (p.offset + PAGE < page.matching).then(|| link(p.offset + PAGE)),
            q: p.q.clone(),
            status: status.map_or("", WaitStatus::key).to_owned(),
        }
    }
}

// ---------------------------------------------------------------- one person

/// One offer a person was in, or one open offer, ready to show.
#[derive(Debug, Clone)]
pub struct OfferLine {
    pub id: String,
    pub clinic: String,
    pub provider: String,
    pub made: String,
    pub expires: String,
    pub decision: String,
    pub persons: Vec<OfferPerson>,
}

#[derive(Debug, Clone)]
pub struct OfferPerson {
    pub person: String,
    pub name: String,
    pub phn: String,
    pub community: String,
    pub why: String,
    pub answer: String,
    pub outcome: &'static str,
    pub conflict: bool,
    /// The answer can still be recorded.
    pub open: bool,
}

fn offer_line(c: &CoordinatorOffer) -> OfferLine {
    let o = &c.offer;
    let decision = match (&o.decision, &o.withdrawn) {
        (_, Some(w)) => format!("Withdrawn by the hub: {}", w.reason),
        (None, None) => "Not decided yet".to_owned(),
        (Some(d), None) => match &d.decision {
            Decision::Accept => format!("Accepted {}", when(d.at)),
            Decision::Decline { reason, .. } => {
                format!("Declined {}: {}", when(d.at), reason.label())
            }
        },
    };
    OfferLine {
        id: o.id.to_string(),
        clinic: c.clinic_name.clone(),
        provider: c.provider_name.clone(),
        made: when(o.created_at),
        expires: when(o.expires_at),
        decision,
        persons: o
            .persons
            .iter()
            .map(|p| {
                let outcome = c
                    .outcomes
                    .iter()
                    .find(|(id, _)| *id == p.person)
                    .map_or(PersonOutcome::Open, |(_, out)| *out);
                OfferPerson {
                    person: p.person.to_string(),
                    name: format!("{}, {}", p.details.family_name, p.details.given_names),
                    phn: p.details.phn.to_string(),
                    community: p.details.community.clone(),
                    why: p.why.clone(),
                    answer: match &p.answer {
                        None => "No answer yet".to_owned(),
                        Some(a) if a.confirmed => format!("Said yes {}", when(a.at)),
                        Some(a) => format!("Said no {}", when(a.at)),
                    },
                    outcome: outcome.label(),
                    conflict: outcome.is_conflict(),
                    open: outcome.is_open() && p.answer.is_none(),
                }
            })
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "hub/person.html")]
struct PersonTpl {
    layout: Layout,
    row: WaitRow,
    facts: Vec<(&'static str, String)>,
    explanation: String,
    may_withdraw: bool,
    offers: Vec<OfferLine>,
    error: String,
}

async fn draw_person(
    web: &Web,
    desk: &Desk,
    person: PersonId,
    notice: Option<&'static str>,
    error: String,
) -> Result<Response, WebError> {
    let who = desk.who;
    let (view, rules) = web
        .app
        .run(move |app| {
            Ok((
                app.waiting_person(who, person)?,
                app.matching_config().rules,
            ))
        })
        .await?;
    let p = &view.row.person;
    let d = &p.details;
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "—".to_owned()
        } else {
            v.join(", ")
        }
    };
    let facts = vec![
        ("PHN", d.phn.to_string()),
        ("Born", d.date_of_birth.to_string()),
        ("Phone", d.contact.phone.clone()),
        ("Email", d.contact.email.clone()),
        ("Community", d.community.clone()),
        (
            "Languages",
            if p.languages.is_empty() {
                "any".to_owned()
            } else {
                list(p.languages.iter().cloned().collect())
            },
        ),
        (
            "Needs",
            match p.need {
                ProviderNeed::Physician => "a family physician".to_owned(),
                ProviderNeed::PhysicianOrNp => {
                    "a family physician or a nurse practitioner".to_owned()
                }
            },
        ),
        (
            "Priority factors",
            list(p.factors.iter().map(|f| f.label().to_owned()).collect()),
        ),
        ("Registered", p.registered_at.date().to_string()),
        ("Household", p.household.clone().unwrap_or_default()),
        ("Registrations merged", view.row.registrations.to_string()),
    ];
    let status = view.row.status;
    let mut response = render(&PersonTpl {
        layout: desk.frame("waitlist", notice),
        row: wait_row(&view.row, &rules),
        facts,
        explanation: view.explanation.clone(),
        may_withdraw: !matches!(status, WaitStatus::Withdrawn | WaitStatus::Attached),
        offers: view.offers.iter().map(offer_line).collect(),
        error: error.clone(),
    });
    if !error.is_empty() {
        response = unprocessable(response);
    }
    Ok(response)
}

/// `/waitlist/{person}`
async fn person(
    State(web): State<Web>,
    desk: Desk,
    Path(person): Path<PersonId>,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    draw_person(&web, &desk, person, q.notice(NOTICES), String::new()).await
}

/// `POST /waitlist/{person}/withdraw`
async fn withdraw(
    State(web): State<Web>,
    desk: Desk,
    Path(person): Path<PersonId>,
    _form: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    let who = desk.who;
    match web
        .app
        .run(move |app| app.coordinator_withdraw(who, person))
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("/waitlist/{person}?done=withdrawn")).into_response()),
        Err(AppError::Conflict { message: m, .. }) => {
            draw_person(&web, &desk, person, None, m).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- registering

/// The registration form: a patient's details (the panel's own form fields) and the
/// waitlist's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RegisterForm {
    #[serde(flatten)]
    patient: PatientForm,
    languages: String,
    need: String,
    factors: String,
    registered_on: String,
    household: String,
}

impl RegisterForm {
    fn input(&self) -> WaitingInput {
        WaitingInput {
            patient: self.patient.input(),
            languages: self.languages.clone(),
            need: self.need.clone(),
            factors: self.factors.clone(),
            registered_on: self.registered_on.clone(),
            household: self.household.clone(),
        }
    }

    fn fields(&self, errors: &FieldErrors) -> Vec<InputField> {
        let mut fields: Vec<InputField> = self
            .patient
            .fields(errors, true)
            .into_iter()
            .filter(|f| f.name != "last_visit")
            .map(|mut f| {
                if f.name == "community" {
                    f.required = true;
                    f.hint = "Where the person lives: offers go to providers serving it";
                }
                f
            })
            .collect();
        let f = |name: &'static str, label, value: &str, hint| InputField {
            name,
            label,
            kind: "text",
            value: value.to_owned(),
            error: errors.get(name).to_owned(),
            hint,
            required: false,
            readonly: false,
            options: Vec::new(),
        };
        let mut need = f("need", "Provider needed", &self.need, "");
        need.kind = "select";
        need.options = [
            ("any", "A family physician or a nurse practitioner"),
            ("physician", "A family physician only"),
        ]
        .into_iter()
        .map(|(value, label)| SelectOption {
            value,
            label,
            selected: self.need == value,
        })
        .collect();
        fields.extend([
            f(
                "languages",
                "Languages",
                &self.languages,
                "Languages the person can be seen in, separated by commas; empty for any",
            ),
            need,
            f("factors", "Priority factors", &self.factors, FACTORS_HINT),
            {
                let mut d = f(
                    "registered_on",
                    "First registered on",
                    &self.registered_on,
                    "YYYY-MM-DD if they registered earlier elsewhere; empty for today",
                );
                d.kind = "date";
                d
            },
            f(
                "household",
                "Household",
                &self.household,
                "The same word for everyone in a household: they are offered together",
            ),
        ]);
        fields
    }
}

const FACTORS_HINT: &str = "Separated by commas: complex_care, pregnancy, recent_discharge, \
     no_prior_provider, young_child, palliative";

#[derive(Template)]
#[template(path = "hub/register.html")]
struct RegisterTpl {
    layout: Layout,
    fields: Vec<InputField>,
    errors: FieldErrors,
    factors: Vec<(&'static str, &'static str)>,
}

fn register_page(desk: &Desk, form: &RegisterForm, errors: FieldErrors) -> Response {
    render(&RegisterTpl {
        layout: desk.frame("register", None),
        fields: form.fields(&errors),
        errors,
        factors: PriorityFactor::ALL.map(|f| (f.key(), f.label())).to_vec(),
    })
}

/// `/waitlist/new`
async fn register_form(desk: Desk) -> Response {
    register_page(&desk, &RegisterForm::default(), FieldErrors::default())
}

/// `POST /waitlist/new`
async fn register(
    State(web): State<Web>,
    desk: Desk,
    CsrfForm { form, .. }: CsrfForm<RegisterForm>,
) -> Result<Response, WebError> {
    let (who, input) = (desk.who, form.input());
    match web
        .app
        .run(move |app| app.coordinator_register(who, &input))
        .await
    {
        Ok(r) => {
            let key = match (r.merged, r.on_a_panel) {
                (true, _) => "merged",
                (false, true) => "flagged",
                (false, false) => "registered",
            };
            Ok(Redirect::to(&format!("/waitlist/{}?done={key}", r.person)).into_response())
        }
        Err(AppError::Invalid { problems, .. }) => Ok(unprocessable(register_page(
            &desk,
            &form,
            FieldErrors::from_problems(&problems),
        ))),
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- importing

/// A problem of a refused file, by row and column.
#[derive(Debug, Clone)]
pub struct ProblemLine {
    pub row: String,
    pub field: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "hub/import.html")]
struct ImportTpl {
    layout: Layout,
    columns: &'static [&'static str],
    message: String,
    problems: Vec<ProblemLine>,
    /// Registered, merged, flagged: what a stored file did.
    done: Option<(usize, usize, usize)>,
}

fn import_page(
    desk: &Desk,
    message: String,
    problems: &[Problem],
    done: Option<(usize, usize, usize)>,
) -> Response {
    render(&ImportTpl {
        layout: desk.frame("import", None),
        columns: &WAITLIST_COLUMNS,
        message,
        problems: problems
            .iter()
            .map(|p| ProblemLine {
                row: p.row.map_or_else(String::new, |r| r.to_string()),
                field: p.field.clone(),
                message: p.message.clone(),
            })
            .collect(),
        done,
    })
}

/// `/waitlist/import`
async fn import_form(desk: Desk) -> Response {
    import_page(&desk, String::new(), &[], None)
}

/// `POST /waitlist/import` (multipart: `csrf`, `file`): all rows registered, or none and
/// every problem listed by row.
async fn import(State(web): State<Web>, request: Request) -> Result<Response, WebError> {
    let (mut parts, body) = request.into_parts();
    let desk = Desk::from_request_parts(&mut parts, &web).await?;
    let upload = Upload::read(Request::from_parts(parts, body), &web).await?;
    if !csrf::same(&upload.csrf, &desk.csrf) {
        return Err(WebError::Csrf);
    }
    let who = desk.who;
    match web
        .app
        .run(move |app| app.coordinator_import(who, &upload.bytes))
        .await
    {
        Ok(done) => {
            let merged = done.iter().filter(|r| r.merged).count();
            let flagged = done.iter().filter(|r| r.on_a_panel).count();
            Ok(import_page(
                &desk,
                String::new(),
                &[],
                Some((done.len() - merged, merged, flagged)),
            ))
        }
        Err(AppError::Invalid { message, problems }) => {
            Ok(unprocessable(import_page(&desk, message, &problems, None)))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- matching rounds

/// What the last round did, carried in the address after it ran (numbers only).
#[derive(Debug, Default, Deserialize)]
pub struct RoundParams {
    considered: Option<usize>,
    offers: Option<usize>,
    offered: Option<usize>,
    flagged: Option<usize>,
    places_left: Option<u64>,
    withdrawn: Option<usize>,
    superseded: Option<usize>,
    returned: Option<usize>,
    untrusted: Option<usize>,
}

impl RoundParams {
    fn report(&self) -> Option<RoundReport> {
        Some(RoundReport {
            considered: self.considered?,
            offers: self.offers?,
            offered: self.offered?,
            flagged: self.flagged.unwrap_or(0),
            places_left: self.places_left.unwrap_or(0),
            withdrawn: self.withdrawn.unwrap_or(0),
            superseded: self.superseded.unwrap_or(0),
            returned: self.returned.unwrap_or(0),
            untrusted: self.untrusted.unwrap_or(0),
        })
    }
}

#[derive(Template)]
#[template(path = "hub/matching.html")]
struct MatchingTpl {
    layout: Layout,
    report: Option<RoundReport>,
    waiting: usize,
    open: usize,
}

/// `/matching`: run a round, and what the last one did.
async fn matching(
    State(web): State<Web>,
    desk: Desk,
    Query(q): Query<RoundParams>,
) -> Result<Response, WebError> {
    let who = desk.who;
    let r = web
        .app
        .run(move |app| app.coordinator_province_report(who))
        .await?;
    Ok(render(&MatchingTpl {
        layout: desk.frame("matching", None),
        report: q.report(),
        waiting: r.count(WaitStatus::Waiting),
        open: r.offers_open,
    }))
}

/// `POST /matching`
async fn run_round(
    State(web): State<Web>,
    desk: Desk,
    _form: CsrfForm<serde::de::IgnoredAny>,
) -> Result<Response, WebError> {
    let who = desk.who;
    let r = web
        .app
        .run(move |app| app.coordinator_run_matching(who))
        .await?;
    Ok(Redirect::to(&format!(
        "/matching?considered={}&offers={}&offered={}&flagged={}&places_left={}&withdrawn={}&superseded={}&returned={}&untrusted={}",
        r.considered,
        r.offers,
        r.offered,
        r.flagged,
        r.places_left,
        r.withdrawn,
        r.superseded,
        r.returned,
        r.untrusted
    ))
    .into_response())
}

// ---------------------------------------------------------------- offers out

const OFFERS_SHOWN: usize = 200;

#[derive(Template)]
#[template(path = "hub/offers.html")]
struct OffersTpl {
    layout: Layout,
    offers: Vec<OfferLine>,
    open: usize,
    error: String,
}

async fn draw_offers(
    web: &Web,
    desk: &Desk,
    notice: Option<&'static str>,
    error: String,
) -> Result<Response, WebError> {
    let who = desk.who;
    let out = web
        .app
        .run(move |app| app.offers_out(who, OFFERS_SHOWN))
        .await?;
    let mut response = render(&OffersTpl {
        layout: desk.frame("offers", notice),
        offers: out.offers.iter().map(offer_line).collect(),
        open: out.open,
        error: error.clone(),
    });
    if !error.is_empty() {
        response = unprocessable(response);
    }
    Ok(response)
}

/// `/offers`
async fn offers(
    State(web): State<Web>,
    desk: Desk,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    draw_offers(&web, &desk, q.notice(NOTICES), String::new()).await
}

/// `POST /offers/answer`: the person's yes or no, as a coordinator heard it.
async fn answer(
    State(web): State<Web>,
    desk: Desk,
    CsrfForm { form, .. }: CsrfForm<AnswerForm>,
) -> Result<Response, WebError> {
    let (who, a) = (desk.who, form.fields()?);
    match web
        .app
        .run(move |app| app.coordinator_answer(who, a.offer, a.person, a.confirmed, &a.note))
        .await
    {
        Ok(_) => Ok(Redirect::to("/offers?done=answered").into_response()),
        Err(AppError::Invalid { message, .. }) | Err(AppError::Conflict { message, .. }) => {
            draw_offers(&web, &desk, None, message).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `/attachments?from=…&to=…`: every clinic's attachment records for billing in the period,
/// the providers still missing a practitioner number, and the billing file to download.
async fn attachments(
    State(web): State<Web>,
    desk: Desk,
    Query(q): Query<PeriodForm>,
) -> Result<Response, WebError> {
    let (who, layout) = (desk.who, desk.frame("attachments", None));
    attachments_page(&web, layout, String::new(), q, move |app, from, to| {
        app.coordinator_attachment_records(who, from, to)
    })
    .await
}

/// `/attachments/download?from=…&to=…`: the province's billing file (CSV).
async fn attachments_download(
    State(web): State<Web>,
    desk: Desk,
    Query(q): Query<PeriodForm>,
) -> Result<Response, WebError> {
    let who = desk.who;
    attachments_file(&web, q, move |app, from, to| {
        app.coordinator_attachment_records(who, from, to)
    })
    .await
}
