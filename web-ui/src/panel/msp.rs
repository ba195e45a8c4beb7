//! MSP panel reconciliation in the browser: upload the panel list MSP holds for the provider,
//! then accept or dismiss each open line of the three lists (on MSP only, in Attach only, on
//! both with differences), one by one or all ticked at once. An upload changes nothing.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::files::Upload;
use super::{Context, PanelAt, PanelLinks, thousands, when, with_status};
use crate::csrf;
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::{Frame, Layout, Query, Web};
use attach_app::{AppError, MspView, Problem};
use attach_interop::csv::ColumnDoc;
use attach_interop::msp::MSP_COLUMNS;

/// One open line, ready to draw.
#[derive(Debug, Clone)]
pub struct Line {
    pub key: String,
    pub name: String,
    pub phn: String,
    pub date_of_birth: String,
    /// Differences: what differs, and both values.
    pub field: String,
    pub attach: String,
    pub msp: String,
    /// An entry link, for lines about a patient in Attach.
    pub href: String,
}

#[derive(Debug, Clone)]
pub struct DecidedLine {
    pub what: String,
    pub decision: &'static str,
    pub when: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "panel/msp.html")]
struct MspPage {
    layout: Layout,
    links: PanelLinks,
    edit: bool,
    uploaded: String,
    rows: String,
    only_msp: Vec<Line>,
    only_attach: Vec<Line>,
    differences: Vec<Line>,
    decided: Vec<DecidedLine>,
    columns: &'static [ColumnDoc],
    problems: Vec<Problem>,
    error: String,
}

fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "uploaded" => "MSP's list was read. Nothing on the panel changed; decide each line below.",
        "applied" => "The chosen lines were applied to the panel; each patient's history shows it.",
        "dismissed" => "The chosen lines were dismissed: the panel keeps what it has.",
        _ => return None,
    })
}

fn page(
    frame: &Frame,
    ctx: &Context,
    provider: attach_domain::UserId,
    view: MspView,
    problems: Vec<Problem>,
    error: String,
    done: &str,
) -> Response {
    let links = PanelLinks::new(frame, provider, ctx.name(provider));
    let entry = |id: attach_domain::EntryId| format!("{}/entries/{id}", links.base);
    let only_msp = view
        .open
        .only_msp
        .iter()
        .map(|p| Line {
            key: p.key(),
            name: format!("{}, {}", p.family_name, p.given_names),
            phn: p.phn.to_string(),
            date_of_birth: p.date_of_birth.to_string(),
            field: String::new(),
            attach: String::new(),
            msp: p
                .deceased
                .map(|d| format!("deceased {d}"))
                .unwrap_or_default(),
            href: String::new(),
        })
        .collect();
    let only_attach = view
        .open
        .only_attach
        .iter()
        .map(|a| Line {
            key: a.key(),
            name: String::new(),
            phn: a.phn.to_string(),
            date_of_birth: String::new(),
            field: String::new(),
            attach: String::new(),
            msp: String::new(),
            href: entry(a.entry),
        })
        .collect();
    let differences = view
        .open
        .differences
        .iter()
        .map(|d| Line {
            key: d.key(),
            name: String::new(),
            phn: d.phn.to_string(),
            date_of_birth: String::new(),
            field: d.field.label().to_owned(),
            attach: d.attach.clone(),
            msp: d.msp.clone(),
            href: entry(d.entry),
        })
        .collect();
    let decided = view
        .decided
        .iter()
        .take(200)
        .map(|(key, d)| DecidedLine {
            what: describe_key(key),
            decision: if d.accepted { "applied" } else { "dismissed" },
            when: format!("{} by {}", when(d.at), ctx.name(d.by)),
            reason: d.reason.clone(),
        })
        .collect();
    let status = if problems.is_empty() && error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    with_status(
        render(&MspPage {
            layout: frame
                .layout
                .clone()
                .with_section("panel")
                .with_notice(notice(done)),
            edit: ctx.access.edit,
            uploaded: view
                .uploaded
                .map(|(at, by)| format!("{} by {}", when(at), ctx.name(by)))
                .unwrap_or_default(),
            rows: thousands(view.rows as i64),
            only_msp,
            only_attach,
            differences,
            decided,
            columns: MSP_COLUMNS,
            problems,
            error,
            links,
        }),
        status,
    )
}

/// "On MSP only: PHN 9123 456 780" and the like, from a decision's key.
fn describe_key(key: &str) -> String {
    let mut parts = key.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("only_msp"), Some(phn), _) => format!("On MSP's list only: PHN {phn}"),
        (Some("only_attach"), Some(phn), _) => format!("In Attach only: PHN {phn}"),
        (Some("diff"), Some(phn), Some(rest)) => {
            let field = rest.split(':').next().unwrap_or_default();
            let label = attach_domain::DiffField::from_key(field).map_or(field, |f| f.label());
            format!("{label} differs: PHN {phn}")
        }
        _ => key.to_owned(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct DoneParam {
    #[serde(default)]
    done: String,
}

async fn show(
    web: &Web,
    frame: &Frame,
    provider: attach_domain::UserId,
    problems: Vec<Problem>,
    error: String,
    done: &str,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let (ctx, view) = web
        .app
        .run(move |app| {
            Ok((
                Context::load(app, who, clinic, provider)?,
                app.msp_view(who, clinic, provider)?,
            ))
        })
        .await?;
    Ok(page(frame, &ctx, provider, view, problems, error, done))
}

/// `GET …/msp`
pub async fn form(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    Query(d): Query<DoneParam>,
) -> Result<Response, WebError> {
    show(
        &web,
        &frame,
        at.provider,
        Vec::new(),
        String::new(),
        &d.done,
    )
    .await
}

/// `POST …/msp/upload`: reads MSP's list (multipart `file`); stores nothing on the panel.
pub async fn upload(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    request: Request,
) -> Result<Response, WebError> {
    let upload = Upload::read(request, &web).await?;
    if !csrf::same(&upload.csrf, &frame.csrf) {
        return Err(WebError::Csrf);
    }
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let bytes = upload.bytes;
    let result = web
        .app
        .run(move |app| Ok(app.msp_upload(who, clinic, provider, &bytes)))
        .await?;
    match result {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}/panels/{provider}/msp?done=uploaded",
            frame.base()
        ))
        .into_response()),
        Err(AppError::Invalid { problems, .. }) => {
            show(&web, &frame, provider, problems, String::new(), "").await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST …/msp/decide`: `key` (repeated), `decision` = `apply` or `dismiss`, `reason`.
pub async fn decide(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let keys: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v.clone())
        .collect();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let accept = match get("decision").as_str() {
        "apply" => true,
        "dismiss" => false,
        _ => return Err(WebError::BadRequest("choose apply or dismiss".into())),
    };
    let reason = get("reason");
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let result = web
        .app
        .run(move |app| Ok(app.msp_decide(who, clinic, provider, &keys, accept, &reason)))
        .await?;
    match result {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}/panels/{provider}/msp?done={}",
            frame.base(),
            if accept { "applied" } else { "dismissed" }
        ))
        .into_response()),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            show(&web, &frame, provider, Vec::new(), e.to_string(), "").await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_keys_read_as_words() {
        assert_eq!(
            describe_key("only_msp:9123456780"),
            "On MSP's list only: PHN 9123456780"
        );
        assert_eq!(
            describe_key("diff:9123456780:family_name:smith"),
            "family name differs: PHN 9123456780"
        );
    }
}
