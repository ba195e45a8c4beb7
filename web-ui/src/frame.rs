//! Who is looking at a page, and the frame every signed-in page is drawn in: the
//! person, their clinics (with their role at each), the clinic they are working in and
//! the panels they may open there.
//!
//! Clinic pages live under `/c/{clinic}/...`. The `Frame` extractor reads the clinic from
//! the path, refuses (404) anyone who is not an active member there, and remembers the
//! clinic in the session so `/` returns to it.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::WebError;
use super::{Web, assets, csrf};
use attach_app::{AppError, SignedIn, Workspace};
use attach_domain::{ClinicId, MemberState, UserId};
use attach_http::{SESSION_COOKIE, cookie_value};

/// A signed-in person, even one who must still change a temporary password.
#[derive(Debug, Clone)]
pub struct AnyViewer {
    pub who: SignedIn,
    /// The CSRF token this session's forms must carry.
    pub csrf: String,
}

impl AnyViewer {
    pub async fn from_parts(parts: &mut Parts, web: &Web) -> Result<Self, WebError> {
        let next = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Err(WebError::SignIn { next });
        };
        let token_for_auth = token.clone();
        match web
            .app
            .run(move |app| app.authenticate(&token_for_auth))
            .await
        {
            Ok(who) => Ok(Self {
                csrf: csrf::token_for(&token),
                who,
            }),
            Err(AppError::Unauthenticated) => Err(WebError::SignIn { next }),
            Err(e) => Err(e.into()),
        }
    }
}

impl FromRequestParts<Web> for AnyViewer {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        Self::from_parts(parts, web).await
    }
}

/// A signed-in person with no temporary password left to change.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub who: SignedIn,
    pub csrf: String,
}

impl FromRequestParts<Web> for Viewer {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let AnyViewer { who, csrf } = AnyViewer::from_parts(parts, web).await?;
        if who.must_change_password {
            return Err(WebError::ChangePassword);
        }
        Ok(Self { who, csrf })
    }
}

/// One of the person's clinics, for the clinic switcher.
#[derive(Debug, Clone)]
pub struct ClinicChoice {
    pub id: ClinicId,
    pub name: String,
    pub role: &'static str,
    pub current: bool,
}

/// A panel the person may open in the current clinic.
#[derive(Debug, Clone)]
pub struct PanelLink {
    pub provider: UserId,
    pub name: String,
    pub own: bool,
}

/// Everything the page frame (`base.html`) draws.
#[derive(Debug, Clone)]
pub struct Layout {
    pub csrf: String,
    pub user_name: String,
    pub username: String,
    pub clinics: Vec<ClinicChoice>,
    /// The clinic being worked in (clinic pages), with the person's place there.
    pub workspace: Option<Workspace>,
    pub panels: Vec<PanelLink>,
    /// Which part of the navigation this page belongs to (`dashboard`, `panel`,
    /// `members`, `clinic`, `statuses`, `delegations`, `conflicts`, `sync`).
    pub section: &'static str,
    /// A confirmation to show at the top of the page ("Saved."), after a form was
    /// accepted and the browser redirected here. Always a fixed text chosen by the
    /// handler (from a `?done=<key>` it recognises), never text taken from the URL.
    pub notice: Option<&'static str>,
    /// The hub's coordinator pages (their own navigation), not a clinic node's.
    pub hub: bool,
    pub css: &'static str,
    pub js: &'static str,
    pub htmx: &'static str,
}

impl Layout {
    /// The frame of the hub's pages for a coordinator.
    pub fn hub(csrf: &str, user_name: String, username: String) -> Self {
        Self {
            csrf: csrf.to_owned(),
            user_name,
            username,
            clinics: Vec::new(),
            workspace: None,
            panels: Vec::new(),
            section: "",
            notice: None,
            hub: true,
            css: assets::url("app.css"),
            js: assets::url("app.js"),
            htmx: assets::url("htmx.min.js"),
        }
    }

    /// `aria-current="page"` for the navigation link of this page's section.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }

    pub fn clinic_id(&self) -> String {
        self.workspace
            .as_ref()
            .map_or_else(String::new, |w| w.clinic.to_string())
    }

    pub fn clinic_name(&self) -> &str {
        self.workspace
            .as_ref()
            .map_or("", |w| w.clinic_name.as_str())
    }

    pub fn role(&self) -> &'static str {
        self.workspace.as_ref().map_or("", |w| w.role.label())
    }

    /// The person's own review tasks here that are due or overdue.
    pub fn tasks_due(&self) -> usize {
        self.workspace.as_ref().map_or(0, |w| w.tasks_due)
    }

    pub fn is_manager(&self) -> bool {
        self.workspace.as_ref().is_some_and(|w| w.account_manager)
    }

    pub fn with_section(mut self, section: &'static str) -> Self {
        self.section = section;
        self
    }

    pub fn with_notice(mut self, notice: Option<&'static str>) -> Self {
        self.notice = notice;
        self
    }
}

/// Builds the frame for a signed-in person, optionally inside one clinic.
pub async fn layout(
    web: &Web,
    who: &SignedIn,
    csrf: &str,
    clinic: Option<ClinicId>,
) -> Result<Layout, WebError> {
    if web.hub {
        let user = who.user;
        let me = web.app.run(move |app| app.coordinator(user)).await?;
        return Ok(Layout::hub(csrf, me.name, me.username));
    }
    let who_for_app = who.clone();
    let (info, workspace) = web
        .app
        .run(move |app| {
            let workspace = match clinic {
                Some(c) => {
                    app.choose_clinic(&who_for_app, c)?;
                    Some(app.workspace(who_for_app.user, c)?)
                }
                None => None,
            };
            Ok((app.session_info(who_for_app.user)?, workspace))
        })
        .await?;
    let clinics = info
        .memberships
        .iter()
        .filter(|m| m.state == MemberState::Active)
        .map(|m| ClinicChoice {
            id: m.clinic,
            name: m.clinic_name.clone(),
            role: m.role.label(),
            current: Some(m.clinic) == clinic,
        })
        .collect();
    let panels = workspace
        .as_ref()
        .map(|w| {
            w.panels
                .iter()
                .map(|(provider, name)| PanelLink {
                    provider: *provider,
                    name: name.clone(),
                    own: *provider == who.user,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Layout {
        csrf: csrf.to_owned(),
        user_name: info.display_name,
        username: info.username,
        clinics,
        workspace,
        panels,
        section: "",
        notice: None,
        hub: false,
        css: assets::url("app.css"),
        js: assets::url("app.js"),
        htmx: assets::url("htmx.min.js"),
    })
}

/// A page inside one clinic (`/c/{clinic}/...`): the viewer, the clinic and the frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub who: SignedIn,
    pub csrf: String,
    pub clinic: ClinicId,
    pub layout: Layout,
}

impl Frame {
    /// The base of this clinic's URLs, e.g. `/c/<id>`.
    pub fn base(&self) -> String {
        format!("/c/{}", self.clinic)
    }
}

/// The clinic id in a `/c/{clinic}/...` path.
fn clinic_in_path(path: &str) -> Option<ClinicId> {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next()) {
        (Some("c"), Some(id)) => id.parse().ok(),
        _ => None,
    }
}

impl FromRequestParts<Web> for Frame {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let Viewer { who, csrf } = Viewer::from_request_parts(parts, web).await?;
        let clinic = clinic_in_path(parts.uri.path())
            .ok_or_else(|| WebError::App(AppError::not_found("clinic")))?;
        let layout = layout(web, &who, &csrf, Some(clinic)).await?;
        Ok(Self {
            who,
            csrf,
            clinic,
            layout,
        })
    }
}

/// An urlencoded form from a signed-in user, accepted only with this session's CSRF
/// token. Also yields who sent it (a user who must still change a temporary password is
/// let through; handlers that need more use `Viewer` checks on `who`).
#[derive(Debug)]
pub struct CsrfForm<T> {
    pub viewer: AnyViewer,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<Web> for CsrfForm<T> {
    type Rejection = WebError;
    async fn from_request(req: Request, web: &Web) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = AnyViewer::from_parts(&mut parts, web).await?;
        let header = parts
            .headers
            .get(csrf::HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(Request::from_parts(parts, body), web)
            .await
            .map_err(|e| WebError::BadRequest(e.body_text()))?;
        let sent = header.or_else(|| csrf::field_of(&bytes));
        if !sent.is_some_and(|s| csrf::same(&s, &viewer.csrf)) {
            return Err(WebError::Csrf);
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes)
            .map_err(|e| WebError::BadRequest(format!("the form could not be read: {e}")))?;
        Ok(Self { viewer, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clinic_is_read_from_clinic_paths_only() {
        let id = ClinicId::new();
        assert_eq!(clinic_in_path(&format!("/c/{id}/members")), Some(id));
        assert_eq!(clinic_in_path(&format!("/c/{id}")), Some(id));
        assert_eq!(clinic_in_path("/c/not-an-id/members"), None);
        assert_eq!(clinic_in_path(&format!("/x/{id}")), None);
    }
}
