//! Acting on the clinical lists in the browser: recalls recorded for a selection of the
//! recall list or for one patient, probably-uncoded suggestions coded in Attach or
//! dismissed (and restored), records entered, corrected or deleted by hand on the patient's
//! page, and the list of what was entered in Attach to take back to the EMR.
//!
//! A refused change comes back on the page it was made from, with what was wrong; nothing
//! is stored from it.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::clinical::{ListAsk, list_page, patient_page};
use super::{PanelAt, thousands};
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::{Frame, Layout, Web};
use attach_app::{AppError, AttachRecord, RecallOutcome, ReviewScope};
use attach_domain::clinical::RecordKind;
use attach_domain::clinical::followup::{ManualRecord, RecallAction};
use attach_domain::{DomainError, EntryId, UserId};

/// A refusal the page shows (what was wrong, and where); any other error is the error page.
fn refusal(e: AppError) -> Result<String, WebError> {
    match e {
        AppError::Invalid { problems, .. } if !problems.is_empty() => Ok(problems
            .iter()
            .map(|p| {
                if p.field.is_empty() {
                    p.message.clone()
                } else {
                    format!("{}: {}", p.field.replace('_', " "), p.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
            .chars()
            .take(600)
            .collect::<String>()),
        e @ (AppError::Invalid { .. } | AppError::Conflict { .. }) => Ok(e.to_string()),
        e => Err(e.into()),
    }
}

/// A patient's clinical page, with `done` saying what was just changed.
fn patient_done(frame: &Frame, provider: UserId, entry: EntryId, done: &str) -> Response {
    Redirect::to(&format!(
        "{}/panels/{provider}/entries/{entry}/clinical?done={done}",
        frame.base()
    ))
    .into_response()
}

/// What a refused form got wrong, field by field (`("booked for", "…")`), for a page that
/// lists them; an error that is not a refusal is the error page.
pub(super) fn problem_lines(e: AppError) -> Result<Vec<(String, String)>, WebError> {
    match e {
        AppError::Invalid { message, problems } => Ok(if problems.is_empty() {
            vec![(String::new(), message)]
        } else {
            problems
                .into_iter()
                .map(|p| (p.field.replace('_', " "), p.message))
                .collect()
        }),
        e => Err(e.into()),
    }
}

/// A page shown again with what was refused.
fn refused(page: Response) -> Response {
    super::with_status(page, axum::http::StatusCode::UNPROCESSABLE_ENTITY)
}

// ---------------------------------------------------------------------------
// Recalls
// ---------------------------------------------------------------------------

/// The recall form's fields (the list's and the patient's).
#[derive(Debug, Default)]
struct RecallForm {
    /// The list's query, to go back to it.
    back: String,
    entries: Vec<(UserId, EntryId)>,
    all: bool,
    rule: String,
    action: String,
    how: String,
    booked_for: String,
    note: String,
}

impl RecallForm {
    fn of(fields: &[(String, String)]) -> Result<Self, WebError> {
        let mut f = Self::default();
        for (k, v) in fields {
            match k.as_str() {
                "back" => f.back = v.clone(),
                "all" => f.all = v == "1",
                "rule" => f.rule = v.clone(),
                "action" => f.action = v.clone(),
                "how" => f.how = v.clone(),
                "booked_for" => f.booked_for = v.clone(),
                "note" => f.note = v.clone(),
                "entry" => {
                    let parsed = v
                        .split_once(':')
                        .and_then(|(p, e)| Some((p.parse().ok()?, e.parse().ok()?)));
                    f.entries.push(parsed.ok_or_else(|| {
                        WebError::BadRequest(
                            "the selection holds a patient this node did not list".into(),
                        )
                    })?);
                }
                _ => {}
            }
        }
        Ok(f)
    }

    fn action(&self) -> Result<RecallAction, DomainError> {
        RecallAction::from_fields(&self.action, &self.how, &self.booked_for, &self.note)
    }

    fn rule(&self) -> Option<String> {
        Some(self.rule.trim().to_owned()).filter(|r| !r.is_empty())
    }
}

fn done_of(o: RecallOutcome) -> String {
    format!("recalls:{}:{}:{}", o.patients, o.recalls, o.closed)
}

/// `POST /c/{clinic}/registries/recalls`: a recall change for the selected patients of a
/// recall list (or every patient it lists).
pub async fn bulk(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let form = RecallForm::of(&form)?;
    let query = form.back.split_once('?').map_or("", |(_, q)| q);
    let ask = ListAsk::of(&super::review::pairs(Some(query)))?;
    let scope = ask.scope()?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let list_rule = ask.rule();
    let statuses = ask.statuses().to_vec();
    let tried = web
        .app
        .run(move |app| {
            let action = match form.action() {
                Ok(a) => a,
                Err(e) => return Ok(Err(AppError::from(e))),
            };
            let targets: Vec<(UserId, EntryId)> = if form.all {
                app.recall_list(who, clinic, scope, list_rule.as_deref(), &statuses)?
                    .rows
                    .iter()
                    .map(|r| (r.entry.provider, r.entry.id))
                    .collect()
            } else {
                form.entries.clone()
            };
            if targets.is_empty() {
                return Ok(Err(AppError::invalid(
                    "entries",
                    "select at least one patient (or every patient on the list)",
                )));
            }
            let rule = form.rule().or(list_rule);
            Ok(app.record_recalls(who, clinic, &targets, rule.as_deref(), &action))
        })
        .await?;
    match tried {
        Ok(outcome) => {
            let to = format!(
                "{}/registries/list?{}&done={}",
                frame.base(),
                ask.query(),
                done_of(outcome)
            );
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => {
            let problem = refusal(e)?;
            Ok(refused(list_page(web, frame, ask, problem).await?))
        }
    }
}

/// `POST /c/{clinic}/panels/{provider}/entries/{entry}/clinical/recall`: a recall change
/// for one patient's care gap.
pub async fn patient_recall(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let entry = at.entry()?;
    let provider = at.provider;
    let form = RecallForm::of(&form)?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let tried = web
        .app
        .run(move |app| {
            let action = match form.action() {
                Ok(a) => a,
                Err(e) => return Ok(Err(AppError::from(e))),
            };
            Ok(app.record_recalls(
                who,
                clinic,
                &[(provider, entry)],
                form.rule().as_deref(),
                &action,
            ))
        })
        .await?;
    match tried {
        Ok(outcome) => Ok(patient_done(&frame, provider, entry, &done_of(outcome))),
        Err(e) => {
            let problem = refusal(e)?;
            Ok(refused(
                patient_page(web, frame, provider, entry, String::new(), problem).await?,
            ))
        }
    }
}

/// `GET /c/{clinic}/registries/recalls.csv`: the recall list as the filters show it.
pub async fn recalls_csv(
    State(web): State<Web>,
    frame: Frame,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let ask = ListAsk::of(&super::review::pairs(raw.as_deref()))?;
    let scope = ask.scope()?;
    let (rule, statuses) = (ask.rule(), ask.statuses().to_vec());
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (bytes, today) = web
        .app
        .run(move |app| {
            Ok((
                app.export_recalls(who, clinic, scope, rule.as_deref(), &statuses)?,
                app.clinic_today(),
            ))
        })
        .await?;
    Ok(super::files::attachment(
        bytes,
        "text/csv; charset=utf-8",
        &format!("recalls-{today}.csv"),
    ))
}

// ---------------------------------------------------------------------------
// Suggestions
// ---------------------------------------------------------------------------

/// The fields of a suggestion's forms.
#[derive(Debug, Deserialize)]
pub struct SuggestionForm {
    /// `code`, `dismiss` or `restore`
    #[serde(rename = "do")]
    what: String,
    registry: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    reason: String,
    /// A code of the registry to record (`icd9 250`); empty: the registry's first.
    #[serde(default)]
    code: String,
    /// The page the form was on (a clinical list of this clinic), to go back to.
    #[serde(default)]
    back: String,
}

/// `back` if it is one of this clinic's pages, else the patient's clinical page.
fn local_back(frame: &Frame, back: &str, fallback: String) -> String {
    if back.starts_with(&format!("{}/", frame.base())) && !back.contains("//") {
        back.to_owned()
    } else {
        fallback
    }
}

fn with_done(href: &str, done: &str) -> String {
    let sep = if href.contains('?') { '&' } else { '?' };
    format!("{href}{sep}done={done}")
}

/// `POST /c/{clinic}/panels/{provider}/entries/{entry}/clinical/suggestion`
pub async fn suggestion(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<SuggestionForm>,
) -> Result<Response, WebError> {
    let entry = at.entry()?;
    let provider = at.provider;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let patient = format!(
        "{}/panels/{provider}/entries/{entry}/clinical",
        frame.base()
    );
    let back = local_back(&frame, &form.back, patient.clone());
    let what = form.what.clone();
    let tried = web
        .app
        .run(move |app| {
            let (r, rule) = (&form.registry, &form.rule);
            Ok(match form.what.as_str() {
                "code" => app
                    .code_in_attach(who, clinic, provider, entry, r, Some(&form.code))
                    .map(|_| ()),
                "dismiss" => app
                    .dismiss_suggestion(who, clinic, provider, entry, r, rule, &form.reason)
                    .map(|_| ()),
                "restore" => app.restore_suggestion(who, clinic, provider, entry, r, rule),
                _ => Err(AppError::invalid(
                    "do",
                    "choose to code the condition, dismiss the suggestion or restore it",
                )),
            })
        })
        .await?;
    match tried {
        Ok(()) => {
            let done = match what.as_str() {
                "code" => "coded",
                "dismiss" => "dismissed",
                _ => "restored",
            };
            Ok(Redirect::to(&with_done(&back, done)).into_response())
        }
        Err(e) => {
            let problem = refusal(e)?;
            Ok(refused(
                patient_page(web, frame, provider, entry, String::new(), problem).await?,
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// Records entered by hand
// ---------------------------------------------------------------------------

/// `?id=` of the record form: the record to correct; absent: a new one.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RecordParam {
    #[serde(default)]
    id: Option<String>,
}

/// A kind of record, for the form's menu.
#[derive(Debug, Clone)]
struct KindChoice {
    key: &'static str,
    name: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "clinical/record.html")]
struct RecordPage {
    layout: Layout,
    name: String,
    back: String,
    action: String,
    /// The record being corrected (empty for a new one).
    id: String,
    from_emr: bool,
    kinds: Vec<KindChoice>,
    form: ManualRecord,
    today: String,
    problems: Vec<(String, String)>,
}

const KINDS: [RecordKind; 5] = [
    RecordKind::Condition,
    RecordKind::Observation,
    RecordKind::Procedure,
    RecordKind::Immunization,
    RecordKind::Medication,
];

#[allow(clippy::too_many_arguments)]
fn record_page(
    frame: &Frame,
    provider: UserId,
    entry: EntryId,
    name: String,
    id: String,
    from_emr: bool,
    form: ManualRecord,
    today: String,
    problems: Vec<(String, String)>,
) -> RecordPage {
    let back = format!(
        "{}/panels/{provider}/entries/{entry}/clinical",
        frame.base()
    );
    RecordPage {
        layout: frame.layout.clone().with_section("panel"),
        name,
        action: format!("{back}/record"),
        back,
        kinds: KINDS
            .iter()
            .map(|k| KindChoice {
                key: k.key(),
                name: k.label(),
                selected: form.kind == k.key(),
            })
            .collect(),
        id,
        from_emr,
        form,
        today,
        problems,
    }
}

/// `GET /c/{clinic}/panels/{provider}/entries/{entry}/clinical/record`
pub async fn record_form(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    crate::Query(q): crate::Query<RecordParam>,
) -> Result<Response, WebError> {
    let entry = at.entry()?;
    let provider = at.provider;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (v, today) = web
        .app
        .run(move |app| {
            Ok((
                app.patient_clinical(who, clinic, provider, entry)?,
                app.clinic_today(),
            ))
        })
        .await?;
    let d = &v.entry.details;
    let name = format!("{} {}", d.given_names, d.family_name);
    let (id, from_emr, form) = match q.id.filter(|i| !i.is_empty()) {
        Some(id) => {
            let r = v
                .records
                .iter()
                .find(|r| r.source_id == id)
                .ok_or_else(|| WebError::App(AppError::not_found("clinical record")))?;
            (
                id,
                matches!(r.origin, attach_domain::clinical::Origin::Emr { .. })
                    || !r.source_id.starts_with("attach:"),
                ManualRecord::of(r),
            )
        }
        None => (
            String::new(),
            false,
            ManualRecord {
                kind: RecordKind::Observation.key().to_owned(),
                ..ManualRecord::default()
            },
        ),
    };
    let page = record_page(
        &frame,
        provider,
        entry,
        name,
        id,
        from_emr,
        form,
        today.to_string(),
        Vec::new(),
    );
    Ok(render(&page))
}

/// The record form's fields.
#[derive(Debug, Deserialize)]
pub struct RecordFields {
    #[serde(default)]
    id: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    display: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    status: String,
}

/// `POST /c/{clinic}/panels/{provider}/entries/{entry}/clinical/record`
pub async fn record_save(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<RecordFields>,
) -> Result<Response, WebError> {
    let entry = at.entry()?;
    let provider = at.provider;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let manual = ManualRecord {
        kind: form.kind,
        code: form.code,
        display: form.display,
        date: form.date,
        value: form.value,
        unit: form.unit,
        status: form.status,
    };
    let id = form.id.trim().to_owned();
    let (sent, asked) = (manual.clone(), id.clone());
    let tried = web
        .app
        .run(move |app| {
            let saved = app.save_clinical_record(
                who,
                clinic,
                provider,
                entry,
                (!asked.is_empty()).then_some(asked.as_str()),
                &sent,
            );
            let v = app.patient_clinical(who, clinic, provider, entry)?;
            Ok((saved.map(|_| ()), v, app.clinic_today()))
        })
        .await?;
    match tried {
        (Ok(()), ..) => Ok(patient_done(&frame, provider, entry, "saved")),
        (Err(e @ AppError::Invalid { .. }), v, today) => {
            let d = &v.entry.details;
            let problems = problem_lines(e)?;
            let from_emr = v
                .records
                .iter()
                .any(|r| r.source_id == id && !r.source_id.starts_with("attach:"));
            let page = record_page(
                &frame,
                provider,
                entry,
                format!("{} {}", d.given_names, d.family_name),
                id,
                from_emr,
                manual,
                today.to_string(),
                problems,
            );
            Ok(super::with_status(
                render(&page),
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        (Err(e), ..) => Err(e.into()),
    }
}

/// The delete form's field.
#[derive(Debug, Deserialize)]
pub struct DeleteFields {
    id: String,
}

/// `POST /c/{clinic}/panels/{provider}/entries/{entry}/clinical/record/delete`
pub async fn record_delete(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<DeleteFields>,
) -> Result<Response, WebError> {
    let entry = at.entry()?;
    let provider = at.provider;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let tried = web
        .app
        .run(move |app| Ok(app.delete_attach_record(who, clinic, provider, entry, &form.id)))
        .await?;
    match tried {
        Ok(()) => Ok(patient_done(&frame, provider, entry, "deleted")),
        Err(e) => {
            let problem = refusal(e)?;
            Ok(refused(
                patient_page(web, frame, provider, entry, String::new(), problem).await?,
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// Entered in Attach
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct EnteredLine {
    patient: String,
    phn: String,
    href: String,
    kind: &'static str,
    what: String,
    codes: String,
    date: String,
    value: String,
    by: String,
}

#[derive(Template)]
#[template(path = "clinical/entered.html")]
struct EnteredPage {
    layout: Layout,
    back: String,
    csv_href: String,
    total: String,
    rows: Vec<EnteredLine>,
}

/// `GET /c/{clinic}/registries/entered`: every record entered or corrected in Attach.
pub async fn entered(
    State(web): State<Web>,
    frame: Frame,
    crate::Query(q): crate::Query<super::clinical::ScopeParam>,
) -> Result<Response, WebError> {
    let scope = super::clinical::scope_of(q.provider())?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (list, names): (Vec<AttachRecord>, _) = web
        .app
        .run(move |app| {
            Ok((
                app.entered_in_attach(who, clinic, scope)?,
                super::names(app, who, clinic)?,
            ))
        })
        .await?;
    let base = frame.base();
    let query = match scope {
        ReviewScope::Clinic => String::new(),
        ReviewScope::Provider(p) => format!("?provider={p}"),
    };
    let rows = list
        .iter()
        .map(|a| {
            let d = &a.entry.details;
            let r = &a.record;
            EnteredLine {
                patient: format!("{}, {}", d.family_name, d.given_names),
                phn: d.phn.to_string(),
                href: format!(
                    "{base}/panels/{}/entries/{}/clinical",
                    a.entry.provider, a.entry.id
                ),
                kind: r.fact.kind().label(),
                what: r.display.clone().unwrap_or_default(),
                codes: super::clinical::codes_text(r),
                date: r.fact.date().map(|d| d.to_string()).unwrap_or_default(),
                value: super::clinical::value_text(r),
                by: match r.origin {
                    attach_domain::clinical::Origin::Attach { by, at } => format!(
                        "{}, {}",
                        super::name_of(&names, by),
                        at.to_offset(time::UtcOffset::UTC).date()
                    ),
                    attach_domain::clinical::Origin::Emr { .. } => String::new(),
                },
            }
        })
        .collect();
    let page = EnteredPage {
        layout: frame.layout.clone().with_section("registries"),
        back: format!("{base}/registries{query}"),
        csv_href: format!("{base}/registries/entered.csv{query}"),
        total: thousands(list.len() as i64),
        rows,
    };
    Ok(render(&page))
}

/// `GET /c/{clinic}/registries/entered.csv`: the same list in the import's CSV columns.
pub async fn entered_csv(
    State(web): State<Web>,
    frame: Frame,
    crate::Query(q): crate::Query<super::clinical::ScopeParam>,
) -> Result<Response, WebError> {
    let scope = super::clinical::scope_of(q.provider())?;
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (bytes, today) = web
        .app
        .run(move |app| {
            Ok((
                app.export_entered_in_attach(who, clinic, scope)?,
                app.clinic_today(),
            ))
        })
        .await?;
    Ok(super::files::attachment(
        bytes,
        "text/csv; charset=utf-8",
        &format!("entered-in-attach-{today}.csv"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recall_form_reads_its_selection_and_refuses_a_foreign_one() {
        let p = UserId::new();
        let e = EntryId::new();
        let fields = vec![
            ("entry".to_owned(), format!("{p}:{e}")),
            ("action".to_owned(), "booked".to_owned()),
            ("booked_for".to_owned(), "2027-01-05".to_owned()),
            ("rule".to_owned(), " ".to_owned()),
        ];
        let f = RecallForm::of(&fields).expect("reads");
        assert_eq!(f.entries, vec![(p, e)]);
        assert_eq!(f.rule(), None);
        assert!(matches!(f.action(), Ok(RecallAction::Booked { .. })));
        let bad = vec![("entry".to_owned(), "nonsense".to_owned())];
        assert!(RecallForm::of(&bad).is_err());
    }

    #[test]
    fn a_refusal_names_the_field() {
        let said = refusal(AppError::invalid(
            "booked_for",
            "the booking is in the past",
        ));
        assert_eq!(
            said.ok().as_deref(),
            Some("booked for: the booking is in the past")
        );
        assert!(refusal(AppError::not_found("registry")).is_err());
    }
}
