//! Panel preferences, with what they mean for the panel spelled out.

use crate::Query;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{
    Context, DoneParam, PanelAccess, PanelAt, PanelLinks, room_text, thousands, with_status,
};
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::{FieldErrors, Frame, Layout, Web};
use attach_app::AppError;
use attach_domain::PanelPreferences;

/// The preferences form as sent: numbers as typed, so a mistyped one is shown back.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PrefsForm {
    /// Present (any value) when the box is ticked.
    accepting: Option<String>,
    monthly_capacity: String,
    desired_size: String,
    max_open_requests: String,
    /// Separated by `;` (or `,`).
    languages: String,
    practitioner_number: String,
}

impl PrefsForm {
    fn of(p: &PanelPreferences) -> Self {
        Self {
            accepting: p.accepting_new_patients.then(|| "yes".to_owned()),
            monthly_capacity: p.monthly_capacity.to_string(),
            desired_size: p.desired_panel_size.to_string(),
            max_open_requests: p.max_open_requests.to_string(),
            languages: if p.languages.is_empty() {
                // What no languages means: English only, spelled out so it can be extended.
                "English".to_owned()
            } else {
                p.languages
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            },
            practitioner_number: p.practitioner_number.clone().unwrap_or_default(),
        }
    }

    /// The preferences, or a message by each field that is not a whole number.
    fn parse(&self) -> Result<PanelPreferences, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut number = |field: &str, raw: &str| -> u32 {
            let cleaned: String = raw.trim().chars().filter(|c| *c != ',').collect();
            cleaned.parse::<u32>().unwrap_or_else(|_| {
                errors.add(field, "enter a whole number, 0 or more");
                0
            })
        };
        let p = PanelPreferences {
            accepting_new_patients: self.accepting.is_some(),
            monthly_capacity: number("monthly_capacity", &self.monthly_capacity),
            desired_panel_size: number("desired_size", &self.desired_size),
            max_open_requests: number("max_open_requests", &self.max_open_requests),
            languages: attach_domain::split_languages(&self.languages),
            practitioner_number: Some(self.practitioner_number.trim().to_owned())
                .filter(|n| !n.is_empty()),
        };
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors)
        }
    }
}

/// One sentence about what the preferences mean; warnings are marked as such in words,
/// not only by colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consequence {
    pub text: String,
    pub warning: bool,
}

/// What a panel of `size` patients and these preferences amount to.
pub fn consequences(size: usize, p: &PanelPreferences) -> Vec<Consequence> {
    let say = |text: String| Consequence {
        text,
        warning: false,
    };
    let warn = |text: String| Consequence {
        text: format!("Warning: {text}"),
        warning: true,
    };
    let size = size as i64;
    let desired = i64::from(p.desired_panel_size);
    let room = desired - size;
    let mut out = vec![say(format!(
        "The panel has {} patients; the desired size is {}: {}.",
        thousands(size),
        thousands(desired),
        room_text(room)
    ))];
    let capacity = i64::from(p.monthly_capacity);
    if p.accepting_new_patients {
        if room <= 0 {
            out.push(warn(
                "new patients are being accepted although the panel is already at or over its \
                 desired size."
                    .to_owned(),
            ));
        } else if capacity > 0 {
            let months = (room + capacity - 1) / capacity;
            out.push(say(format!(
                "At {} new patients a month, reaching the desired size takes about {} month{}.",
                thousands(capacity),
                thousands(months),
                if months == 1 { "" } else { "s" }
            )));
        }
        if p.max_open_requests == 0 {
            out.push(warn(
                "with a maximum of 0 open requests, no match request can reach this panel \
                 although it accepts new patients."
                    .to_owned(),
            ));
        } else {
            out.push(say(format!(
                "Up to {} match requests may be open at once.",
                thousands(i64::from(p.max_open_requests))
            )));
        }
    } else if room > 0 {
        out.push(say(format!(
            "Not accepting new patients: the panel stays {} below its desired size until \
             patients are accepted again.",
            thousands(room)
        )));
    } else {
        out.push(say("Not accepting new patients.".to_owned()));
    }
    out
}

#[derive(Template)]
#[template(path = "panel/preferences.html")]
struct PrefsPage {
    layout: Layout,
    links: PanelLinks,
    access: PanelAccess,
    form: PrefsForm,
    errors: FieldErrors,
    consequences: Vec<Consequence>,
    /// The supply/demand estimate, as advice beside the preferences.
    advice: Option<super::profile::Advice>,
    /// Why there is no estimate although the appointments are stated.
    no_estimate: Option<String>,
}

async fn page(
    web: &Web,
    frame: &Frame,
    at: PanelAt,
    typed: Option<(PrefsForm, FieldErrors)>,
) -> Result<Response, WebError> {
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let (ctx, summary, estimate) = web
        .app
        .run(move |app| {
            let ctx = Context::load(app, who, clinic, provider)?;
            Ok((
                ctx,
                app.panel_summary(who, clinic, provider)?,
                app.supply_estimate(who, clinic, provider)?,
            ))
        })
        .await?;
    let (advice, no_estimate) = super::profile::preferences_advice(&estimate);
    let status = if typed.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (form, errors) =
        typed.unwrap_or_else(|| (PrefsForm::of(&summary.preferences), FieldErrors::default()));
    let response = render(&PrefsPage {
        layout: frame.layout.clone().with_section("panel"),
        links: PanelLinks::new(frame, provider, ctx.name(provider)),
        access: ctx.access,
        form,
        errors,
        consequences: consequences(summary.size, &summary.preferences),
        advice,
        no_estimate,
    });
    Ok(with_status(response, status))
}

/// `GET …/preferences`
pub async fn form(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    Query(q): Query<DoneParam>,
) -> Result<Response, WebError> {
    page(&web, &q.notice_on(frame), at, None).await
}

/// `POST …/preferences`
pub async fn save(
    State(web): State<Web>,
    frame: Frame,
    at: PanelAt,
    CsrfForm { form, .. }: CsrfForm<PrefsForm>,
) -> Result<Response, WebError> {
    let preferences = match form.parse() {
        Ok(p) => p,
        Err(errors) => return page(&web, &frame, at, Some((form, errors))).await,
    };
    let (who, clinic, provider) = (frame.who.user, frame.clinic, at.provider);
    let result = web
        .app
        .run(move |app| app.set_preferences(who, clinic, provider, preferences))
        .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}/panels/{provider}/preferences?done=preferences",
            frame.base()
        ))
        .into_response()),
        Err(AppError::Invalid { problems, .. }) => {
            let mut errors = FieldErrors::default();
            for p in problems {
                // The form calls the desired panel size `desired_size`.
                let field = match p.field.as_str() {
                    "desired_panel_size" => "desired_size",
                    other => other,
                };
                errors.add(field, &p.message);
            }
            page(&web, &frame, at, Some((form, errors))).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs(accepting: bool, capacity: u32, desired: u32, open: u32) -> PanelPreferences {
        PanelPreferences {
            accepting_new_patients: accepting,
            monthly_capacity: capacity,
            desired_panel_size: desired,
            max_open_requests: open,
            ..PanelPreferences::default()
        }
    }

    #[test]
    fn room_and_time_to_fill_are_spelled_out() {
        let c = consequences(1_180, &prefs(true, 20, 1_300, 5));
        assert_eq!(
            c[0].text,
            "The panel has 1,180 patients; the desired size is 1,300: room for 120 more."
        );
        assert_eq!(
            c[1].text,
            "At 20 new patients a month, reaching the desired size takes about 6 months."
        );
        assert!(c.iter().all(|c| !c.warning));
    }

    #[test]
    fn accepting_while_full_or_with_no_open_requests_is_a_warning() {
        let c = consequences(1_400, &prefs(true, 20, 1_300, 0));
        assert!(c[0].text.ends_with("size is 1,300: 100 over."), "{c:?}");
        let warnings: Vec<_> = c.iter().filter(|c| c.warning).collect();
        assert_eq!(warnings.len(), 2, "{c:?}");
        assert!(
            warnings[0]
                .text
                .starts_with("Warning: new patients are being accepted")
        );
    }

    #[test]
    fn a_partial_month_counts_as_a_month() {
        let c = consequences(0, &prefs(true, 7, 15, 1));
        assert!(c[1].text.contains("about 3 months"), "{c:?}");
    }

    #[test]
    fn mistyped_numbers_are_reported_by_field() {
        let form = PrefsForm {
            accepting: None,
            monthly_capacity: "ten".into(),
            desired_size: "1,300".into(),
            max_open_requests: "-1".into(),
            ..PrefsForm::default()
        };
        let errors = form.parse().expect_err("three numbers are mistyped");
        assert!(errors.has("monthly_capacity"));
        assert!(!errors.has("desired_size"));
        assert!(errors.has("max_open_requests"));
    }
}
