//! Uploading a CSV or FHIR file (checked first, stored only when asked, all or nothing)
//! and downloading the panel.

use crate::Query;
use askama::Template;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Context, PanelAt, PanelLinks, thousands, with_status};
use crate::csrf;
use crate::error::{WebError, render};
use crate::{Frame, Layout, Web};
use attach_app::{AppError, ImportReport, Problem};
use attach_interop::csv::{CSV_COLUMNS, ColumnDoc};

/// How to read an uploaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Fhir,
}

impl Format {
    /// The chosen format, or (for "detect") FHIR when the file is JSON.
    fn choose(chosen: &str, bytes: &[u8]) -> Self {
        match chosen {
            "csv" => Self::Csv,
            "fhir" => Self::Fhir,
            _ => {
                let first = bytes
                    .strip_prefix(b"\xEF\xBB\xBF")
                    .unwrap_or(bytes)
                    .iter()
                    .find(|b| !b.is_ascii_whitespace());
                if first == Some(&b'{') {
                    Self::Fhir
                } else {
                    Self::Csv
                }
            }
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Fhir => "fhir",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Csv => "CSV",
            Self::Fhir => "FHIR bundle",
        }
    }
}

/// The parts of an upload (or store) form.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    pub(crate) csrf: String,
    pub(crate) format: String,
    pub(crate) file_name: String,
    pub(crate) bytes: Vec<u8>,
}

impl Upload {
    /// Reads the multipart form: the file comes as the `file` part (upload) or as the
    /// `content` text part (the preview's store form carries the checked file back).
    pub(crate) async fn read(request: Request, web: &Web) -> Result<Self, WebError> {
        let bad = |e: axum::extract::multipart::MultipartError| {
            WebError::BadRequest(format!("the upload could not be read: {}", e.body_text()))
        };
        let mut multipart = Multipart::from_request(request, web)
            .await
            .map_err(|e| WebError::BadRequest(e.body_text()))?;
        let mut upload = Self::default();
        while let Some(field) = multipart.next_field().await.map_err(bad)? {
            match field.name().unwrap_or_default() {
                "csrf" => upload.csrf = field.text().await.map_err(bad)?,
                "format" => upload.format = field.text().await.map_err(bad)?,
                "file_name" => upload.file_name = field.text().await.map_err(bad)?,
                "file" | "content" => {
                    if let Some(name) = field.file_name() {
                        upload.file_name = name.to_owned();
                    }
                    upload.bytes = field.bytes().await.map_err(bad)?.to_vec();
                }
                _ => {}
            }
        }
        Ok(upload)
    }

    /// Reads the form, refuses it without this session's token (like every other form),
    /// and says how to read the file.
    async fn read_checked(
        request: Request,
        web: &Web,
        frame: &Frame,
    ) -> Result<(Self, Format), WebError> {
        let upload = Self::read(request, web).await?;
        if !csrf::same(&upload.csrf, &frame.csrf) {
            return Err(WebError::Csrf);
        }
        let format = Format::choose(&upload.format, &upload.bytes);
        Ok((upload, format))
    }
}

#[derive(Template)]
#[template(path = "panel/upload.html")]
struct UploadPage {
    layout: Layout,
    links: PanelLinks,
    columns: &'static [ColumnDoc],
    /// The problems of a checked file (then nothing was stored).
    problems: Vec<ProblemRow>,
    file_error: String,
    /// A checked file without problems, ready to store.
    ready: Option<Ready>,
    file_name: String,
}

/// One problem of an uploaded file, as the table shows it.
#[derive(Debug, Clone)]
struct ProblemRow {
    row: String,
    field: String,
    message: String,
}

/// A file that passed the check, and what storing it would do.
#[derive(Debug, Clone)]
struct Ready {
    format: &'static str,
    format_label: &'static str,
    content: String,
    added: String,
    updated: String,
    unchanged: String,
    /// Patients the store button would add or change.
    to_store: usize,
}

impl Ready {
    fn to_store_text(&self) -> String {
        thousands(self.to_store as i64)
    }
}

fn upload_page(frame: &Frame, links: PanelLinks, file_name: String) -> UploadPage {
    UploadPage {
        layout: frame.layout.clone().with_section("panel"),
        links,
        columns: CSV_COLUMNS,
        problems: Vec::new(),
        file_error: String::new(),
        ready: None,
        file_name,
    }
}

pub async fn upload_form(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
) -> Result<Response, WebError> {
    let ctx = Context::of(&web, &frame, at.provider, true).await?;
    let links = PanelLinks::new(&frame, at.provider, ctx.name(at.provider));
    Ok(render(&upload_page(&frame, links, String::new())))
}

/// The page of a file with problems: every one of them, and nothing stored (422).
fn problems_page(mut page: UploadPage, problems: Vec<Problem>) -> Response {
    for p in problems {
        match p.row {
            Some(row) => page.problems.push(ProblemRow {
                row: row.to_string(),
                field: p.field,
                message: p.message,
            }),
            None if p.field == "file" => page.file_error = p.message,
            None => page.problems.push(ProblemRow {
                row: "—".to_owned(),
                field: p.field,
                message: p.message,
            }),
        }
    }
    with_status(render(&page), StatusCode::UNPROCESSABLE_ENTITY)
}

/// `POST …/upload`: checks the file and shows every problem, or what storing it would
/// do; stores nothing either way.
pub async fn check(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    request: Request,
) -> Result<Response, WebError> {
    let (upload, format) = Upload::read_checked(request, &web, &frame).await?;
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let bytes = upload.bytes;
    let (ctx, result, bytes) = web
        .app
        .run(move |app| {
            let ctx = Context::load_for_edit(app, who, clinic, provider)?;
            let result = app.preview_import(who, clinic, provider, format == Format::Fhir, &bytes);
            Ok((ctx, result, bytes))
        })
        .await?;
    let links = PanelLinks::new(&frame, provider, ctx.name(provider));
    let mut page = upload_page(&frame, links, upload.file_name);
    match result {
        Ok(report) => {
            // A file that passed the check was read as UTF-8 text (both readers need it).
            let content = String::from_utf8(bytes)
                .map_err(|_| WebError::BadRequest("the file is not UTF-8 text".to_owned()))?;
            page.ready = Some(ready(format, content, report));
            Ok(render(&page))
        }
        Err(AppError::Invalid { problems, .. }) => Ok(problems_page(page, problems)),
        Err(e) => Err(e.into()),
    }
}

fn ready(format: Format, content: String, r: ImportReport) -> Ready {
    Ready {
        format: format.key(),
        format_label: format.label(),
        content,
        added: thousands(r.added as i64),
        updated: thousands(r.updated as i64),
        unchanged: thousands(r.unchanged as i64),
        to_store: r.added + r.updated,
    }
}

/// `POST …/upload/store`: stores a checked file (sent back by the preview page). The
/// import checks everything again and stores all rows or none.
pub async fn store(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    request: Request,
) -> Result<Response, WebError> {
    let (upload, format) = Upload::read_checked(request, &web, &frame).await?;
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let bytes = upload.bytes;
    let (ctx, result) = web
        .app
        .run(move |app| {
            let ctx = Context::load_for_edit(app, who, clinic, provider)?;
            let result = app.import_panel(who, clinic, provider, format == Format::Fhir, &bytes);
            Ok((ctx, result))
        })
        .await?;
    match result {
        Ok(_) => Ok(
            Redirect::to(&format!("{}/panels/{provider}?done=imported", frame.base()))
                .into_response(),
        ),
        // The panel changed since the check (e.g. a patient was added elsewhere).
        Err(AppError::Invalid { problems, .. }) => {
            let links = PanelLinks::new(&frame, provider, ctx.name(provider));
            Ok(problems_page(
                upload_page(&frame, links, upload.file_name),
                problems,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DownloadParams {
    #[serde(default)]
    format: String,
}

/// A file name from a person's name: "Dr. Anika Patel" → "dr-anika-patel".
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// `GET …/download?format=csv|fhir`: the panel as a file.
pub async fn download(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    Query(p): Query<DownloadParams>,
) -> Result<Response, WebError> {
    let fhir = p.format == "fhir";
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let (ctx, bytes, today) = web
        .app
        .run(move |app| {
            let ctx = Context::load(app, who, clinic, provider)?;
            let bytes = app.export_panel(who, clinic, provider, fhir)?;
            Ok((ctx, bytes, app.today()))
        })
        .await?;
    let (kind, ext) = if fhir {
        ("application/fhir+json", "json")
    } else {
        ("text/csv; charset=utf-8", "csv")
    };
    let name = match slug(&ctx.name(provider)) {
        s if s.is_empty() => "panel".to_owned(),
        s => format!("panel-{s}"),
    };
    Ok(attachment(bytes, kind, &format!("{name}-{today}.{ext}")))
}

/// A file to save: its bytes, content type and the file name the browser offers.
pub(crate) fn attachment(bytes: Vec<u8>, kind: &'static str, file_name: &str) -> Response {
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_files_are_read_as_fhir_unless_chosen_otherwise() {
        assert_eq!(
            Format::choose("", b"\xEF\xBB\xBF  {\"resourceType\""),
            Format::Fhir
        );
        assert_eq!(Format::choose("", b"phn,family_name"), Format::Csv);
        assert_eq!(Format::choose("csv", b"{"), Format::Csv);
        assert_eq!(Format::choose("fhir", b"phn"), Format::Fhir);
    }

    #[test]
    fn file_names_keep_ascii_words_only() {
        assert_eq!(slug("Dr. Anika Patel"), "dr-anika-patel");
        assert_eq!(slug("  Élise  Côté "), "lise-c-t");
        assert_eq!(slug("\"; rm"), "rm");
    }
}
