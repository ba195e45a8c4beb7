//! The clinic's status rules (panel review): what active and inactive mean here, in words and
//! optionally as a rule on the last visit and age, and the rules of the clinic's own statuses.
//! Every member reads them; account managers change them. Attach only ever *suggests* the
//! status a rule gives (see the review worklists); nothing changes by itself.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Done, done};
use crate::error::{WebError, render};
use crate::frame::CsrfForm;
use crate::frame::{Frame, Layout};
use crate::{FieldErrors, Query, Web};
use attach_app::{AppError, Problem};
use attach_domain::{
    BuiltinStatus, Clinic, MAX_RULE_AGE, MAX_RULE_MONTHS, StatusDefinition, StatusId, StatusRule,
    StatusRules, VisitRule,
};

const NOTICES: &[(&str, &str)] = &[(
    "rules",
    "The status rules were saved. Suggestions on the review worklists follow them now.",
)];

/// One status's block of the form, as typed or as stored.
#[derive(Debug, Clone)]
pub struct RuleBlock {
    /// The form fields' prefix: `active`, `inactive` or `custom.<id>`.
    pub prefix: String,
    /// The prefix domain problems use for this status (`active`, `status Maternity`).
    pub problem_prefix: String,
    /// HTML id prefix (no dots).
    pub id: String,
    pub name: String,
    /// Built-in statuses have their definition here; the clinic's own on the statuses page.
    pub builtin: bool,
    pub definition: String,
    pub visit: String,
    pub months: String,
    pub min_age: String,
    pub max_age: String,
    /// The stored rule in words (or "no rule").
    pub stored: String,
}

impl RuleBlock {
    pub fn visit_is(&self, kind: &str) -> bool {
        self.visit == kind
    }
    /// The problem for one of this block's fields (`months`, `min_age`…), or empty.
    pub fn error<'a>(&self, errors: &'a FieldErrors, field: &str) -> &'a str {
        if field.is_empty() {
            errors.get(&self.problem_prefix)
        } else {
            errors.get(&format!("{}.{field}", self.problem_prefix))
        }
    }
}

#[derive(Template)]
#[template(path = "registry/status_rules.html")]
struct RulesPage {
    layout: Layout,
    base: String,
    manager: bool,
    blocks: Vec<RuleBlock>,
    errors: FieldErrors,
    max_months: u32,
    max_age: u32,
}

fn rule_words(rule: Option<&StatusRule>) -> String {
    rule.map_or_else(
        || "no rule: set by people only".to_owned(),
        ToString::to_string,
    )
}

fn block_of(
    prefix: String,
    problem_prefix: String,
    name: &str,
    b: Option<&BuiltinStatus>,
    rule: Option<&StatusRule>,
) -> RuleBlock {
    let (visit, months) = match rule.and_then(|r| r.last_visit) {
        Some(VisitRule::SeenWithin { months }) => ("seen_within", months.to_string()),
        Some(VisitRule::NotSeenFor { months }) => ("not_seen_for", months.to_string()),
        None => ("", String::new()),
    };
    let age = |a: Option<u32>| a.map(|a| a.to_string()).unwrap_or_default();
    RuleBlock {
        id: prefix.replace('.', "-"),
        prefix,
        problem_prefix,
        name: name.to_owned(),
        builtin: b.is_some(),
        definition: b.map(|b| b.definition.clone()).unwrap_or_default(),
        visit: visit.to_owned(),
        months,
        min_age: age(rule.and_then(|r| r.min_age)),
        max_age: age(rule.and_then(|r| r.max_age)),
        stored: rule_words(rule),
    }
}

/// The blocks of the stored rules: active, inactive, then the clinic's statuses (not retired) by name.
fn blocks(c: &Clinic) -> Vec<RuleBlock> {
    let r = &c.status_rules;
    let mut out = vec![
        block_of(
            "active".into(),
            "active".into(),
            "Active",
            Some(&r.active),
            r.active.rule.as_ref(),
        ),
        block_of(
            "inactive".into(),
            "inactive".into(),
            "Inactive",
            Some(&r.inactive),
            r.inactive.rule.as_ref(),
        ),
    ];
    let mut own: Vec<_> = c.statuses.values().filter(|s| !s.retired).collect();
    own.sort_by_key(|s| s.name.to_lowercase());
    for s in own {
        out.push(block_of(
            format!("custom.{}", s.id),
            format!("status {}", s.name),
            &s.name,
            None,
            r.custom.get(&s.id),
        ));
    }
    out
}

/// The blocks again with what was typed, after a refused save.
fn typed_blocks(c: &Clinic, form: &BTreeMap<String, String>) -> Vec<RuleBlock> {
    blocks(c)
        .into_iter()
        .map(|mut b| {
            let get = |f: &str| {
                form.get(&format!("{}.{f}", b.prefix))
                    .cloned()
                    .unwrap_or_default()
            };
            b.definition = get("definition");
            b.visit = get("visit");
            b.months = get("months");
            b.min_age = get("min_age");
            b.max_age = get("max_age");
            b
        })
        .collect()
}

/// Reads the form into rules, or the problems of what could not be read as numbers.
fn read_form(
    statuses: &BTreeMap<StatusId, StatusDefinition>,
    form: &BTreeMap<String, String>,
) -> Result<StatusRules, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut rule_of = |prefix: &str, problem_prefix: &str| -> Option<StatusRule> {
        let get = |f: &str| {
            form.get(&format!("{prefix}.{f}"))
                .map(|v| v.trim())
                .unwrap_or("")
        };
        let mut number = |f: &str, what: &str| -> Option<u32> {
            let v = get(f);
            if v.is_empty() {
                return None;
            }
            match v.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(Problem {
                        row: None,
                        field: format!("{problem_prefix}.{f}"),
                        message: format!("give {what} as a whole number"),
                    });
                    None
                }
            }
        };
        let months = number("months", "the months");
        let min_age = number("min_age", "the age");
        let max_age = number("max_age", "the age");
        let last_visit = match get("visit") {
            "seen_within" => Some(VisitRule::SeenWithin {
                months: months.unwrap_or(0),
            }),
            "not_seen_for" => Some(VisitRule::NotSeenFor {
                months: months.unwrap_or(0),
            }),
            _ => None,
        };
        let rule = StatusRule {
            last_visit,
            min_age,
            max_age,
        };
        (!rule.is_empty()).then_some(rule)
    };
    let definition = |prefix: &str| {
        form.get(&format!("{prefix}.definition"))
            .map(|d| d.trim().to_owned())
            .unwrap_or_default()
    };
    let mut rules = StatusRules {
        active: BuiltinStatus {
            definition: definition("active"),
            rule: rule_of("active", "active"),
        },
        inactive: BuiltinStatus {
            definition: definition("inactive"),
            rule: rule_of("inactive", "inactive"),
        },
        custom: BTreeMap::new(),
    };
    for s in statuses.values().filter(|s| !s.retired) {
        if let Some(r) = rule_of(&format!("custom.{}", s.id), &format!("status {}", s.name)) {
            rules.custom.insert(s.id, r);
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

fn draw(frame: Frame, blocks: Vec<RuleBlock>, errors: FieldErrors) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    crate::panel::with_status(
        render(&RulesPage {
            base: frame.base(),
            manager: frame.layout.is_manager(),
            blocks,
            errors,
            max_months: MAX_RULE_MONTHS,
            max_age: MAX_RULE_AGE,
            layout: frame.layout.with_section("statuses"),
        }),
        status,
    )
}

/// `/c/{clinic}/statuses/rules`
pub async fn page(
    State(web): State<Web>,
    frame: Frame,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let c = web.app.run(move |app| app.clinic(who, clinic)).await?;
    let mut frame = frame;
    frame.layout = frame.layout.with_notice(q.notice(NOTICES));
    Ok(draw(frame, blocks(&c), FieldErrors::default()))
}

/// `POST /c/{clinic}/statuses/rules`
pub async fn save(
    State(web): State<Web>,
    frame: Frame,
    CsrfForm { form, .. }: CsrfForm<BTreeMap<String, String>>,
) -> Result<Response, WebError> {
    let (who, clinic) = (frame.who.user, frame.clinic);
    let typed = form.clone();
    let (c, outcome) = web
        .app
        .run(move |app| {
            let c = app.clinic(who, clinic)?;
            let outcome = match read_form(&c.statuses, &typed) {
                Err(problems) => Err(problems),
                Ok(rules) => match app.set_status_rules(who, clinic, rules) {
                    Ok(_) => Ok(()),
                    Err(AppError::Invalid { problems, .. }) => Err(problems),
                    Err(e) => return Err(e),
                },
            };
            Ok((c, outcome))
        })
        .await?;
    match outcome {
        Ok(()) => Ok(done(&frame, "statuses/rules", "rules")),
        Err(problems) => {
            let errors = FieldErrors::from_problems(&problems);
            let blocks = typed_blocks(&c, &form);
            Ok(draw(frame, blocks, errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_form_reads_into_rules_and_bad_numbers_are_named() {
        let c = BTreeMap::new();
        let form: BTreeMap<String, String> = [
            ("active.definition", " Seen in the last 3 years "),
            ("active.visit", "seen_within"),
            ("active.months", "36"),
            ("inactive.visit", "not_seen_for"),
            ("inactive.months", "36"),
            ("inactive.min_age", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let rules = read_form(&c, &form).expect("reads");
        assert_eq!(rules.active.definition, "Seen in the last 3 years");
        assert_eq!(
            rules.active.rule.and_then(|r| r.last_visit),
            Some(VisitRule::SeenWithin { months: 36 })
        );
        assert_eq!(
            rules.inactive.rule.and_then(|r| r.last_visit),
            Some(VisitRule::NotSeenFor { months: 36 })
        );
        let mut bad = form.clone();
        bad.insert("inactive.max_age".into(), "sixty".into());
        let problems = read_form(&c, &bad).expect_err("a word for a number");
        assert_eq!(problems[0].field, "inactive.max_age");
    }
}
