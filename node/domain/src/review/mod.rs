//! Panel review (the panel-management workbook's phase 1, empanelment): the clinic's status
//! rules and the status changes they suggest, the review worklists, and the filters that
//! narrow a panel list. Everything here is a pure function of an entry, the clinic's rules
//! and the day ("today" in the clinic's calendar), so the same list comes out on every node.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::Date;

use super::error::{DomainError, Problems};
use super::ids::StatusId;
use super::types::{Clinic, HowAdded, PanelEntry, PatientDetails, PatientStatus, Sex};

pub mod msp;
pub mod profile;
pub mod tasks;

// ---------------------------------------------------------------------------
// Status rules
// ---------------------------------------------------------------------------

/// Longest period a visit rule may name (100 years).
pub const MAX_RULE_MONTHS: u32 = 1_200;
/// Oldest age a rule may name.
pub const MAX_RULE_AGE: u32 = 130;

/// A condition on the last recorded visit. A patient with no visit recorded meets neither
/// kind (they are on the "no visit recorded" worklist instead): a missing date is not
/// evidence that someone stopped coming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum VisitRule {
    /// Last visit less than `months` whole months ago.
    SeenWithin { months: u32 },
    /// Last visit `months` whole months ago or longer.
    NotSeenFor { months: u32 },
}

/// A clinic's rule for when a status applies. Every condition given must hold; a rule
/// with no condition is refused (it would match every patient).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRule {
    #[serde(default)]
    pub last_visit: Option<VisitRule>,
    /// Age in whole years, inclusive.
    #[serde(default)]
    pub min_age: Option<u32>,
    #[serde(default)]
    pub max_age: Option<u32>,
}

/// The definition and rule the clinic wrote for a built-in status (active, inactive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltinStatus {
    #[serde(default)]
    pub definition: String,
    #[serde(default)]
    pub rule: Option<StatusRule>,
}

/// Every status rule of a clinic. Clinic-defined statuses keep their name and definition
/// in `Clinic::statuses`; their rules are here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRules {
    #[serde(default)]
    pub active: BuiltinStatus,
    #[serde(default)]
    pub inactive: BuiltinStatus,
    #[serde(default)]
    pub custom: BTreeMap<StatusId, StatusRule>,
}

/// Whole years from `dob` to `today` (0 before the first birthday; a 29 February birthday
/// counts on 1 March in other years).
pub fn age_on(dob: Date, today: Date) -> u32 {
    let mut years = today.year() - dob.year();
    if (today.month() as u8, today.day()) < (dob.month() as u8, dob.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// Whole calendar months from `from` to `to` (0 if `to` is not later); a month is complete
/// on the same day of the month, or the month's last day if it is shorter.
pub fn months_between(from: Date, to: Date) -> u32 {
    if to <= from {
        return 0;
    }
    let mut months = (to.year() - from.year()) * 12 + i32::from(to.month() as u8)
        - i32::from(from.month() as u8);
    let last_day = to.month().length(to.year());
    if to.day() < from.day() && to.day() < last_day {
        months -= 1;
    }
    u32::try_from(months).unwrap_or(0)
}

impl StatusRule {
    pub fn is_empty(&self) -> bool {
        self.last_visit.is_none() && self.min_age.is_none() && self.max_age.is_none()
    }

    /// Whether the patient meets every condition of the rule on `today`.
    pub fn matches(&self, d: &PatientDetails, today: Date) -> bool {
        if self.is_empty() {
            return false;
        }
        if self.min_age.is_some() || self.max_age.is_some() {
            let age = age_on(d.date_of_birth, today);
            if self.min_age.is_some_and(|m| age < m) || self.max_age.is_some_and(|m| age > m) {
                return false;
            }
        }
        match self.last_visit {
            None => true,
            Some(rule) => match d.last_visit {
                None => false,
                Some(v) => {
                    let since = months_between(v, today);
                    match rule {
                        VisitRule::SeenWithin { months } => since < months,
                        VisitRule::NotSeenFor { months } => since >= months,
                    }
                }
            },
        }
    }

    /// Checks the rule's numbers; `field` prefixes each problem (`active.months`).
    fn check(&self, field: &str, p: &mut Problems) {
        if self.is_empty() {
            p.add(
                field.to_owned(),
                "a rule needs a condition on the last visit or on age (or leave the rule out)",
            );
        }
        if let Some(VisitRule::SeenWithin { months } | VisitRule::NotSeenFor { months }) =
            self.last_visit
            && !(1..=MAX_RULE_MONTHS).contains(&months)
        {
            p.add(
                format!("{field}.months"),
                format!("give a number of months from 1 to {MAX_RULE_MONTHS}"),
            );
        }
        for (name, age) in [("min_age", self.min_age), ("max_age", self.max_age)] {
            if age.is_some_and(|a| a > MAX_RULE_AGE) {
                p.add(
                    format!("{field}.{name}"),
                    format!("give an age from 0 to {MAX_RULE_AGE}"),
                );
            }
        }
        if let (Some(min), Some(max)) = (self.min_age, self.max_age)
            && min > max
        {
            p.add(
                format!("{field}.max_age"),
                format!("the highest age ({max}) is below the lowest ({min}): no one could match"),
            );
        }
    }
}

/// The rule in words: "not seen for 36 months or more; aged 0 to 17".
impl fmt::Display for StatusRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        match self.last_visit {
            Some(VisitRule::SeenWithin { months }) => {
                parts.push(format!("seen in the last {months} months"))
            }
            Some(VisitRule::NotSeenFor { months }) => {
                parts.push(format!("not seen for {months} months or more"))
            }
            None => {}
        }
        match (self.min_age, self.max_age) {
            (Some(a), Some(b)) => parts.push(format!("aged {a} to {b}")),
            (Some(a), None) => parts.push(format!("aged {a} or older")),
            (None, Some(b)) => parts.push(format!("aged {b} or younger")),
            (None, None) => {}
        }
        f.write_str(&parts.join("; "))
    }
}

impl StatusRules {
    /// The rule of a status, if the clinic wrote one.
    pub fn rule_of(&self, status: PatientStatus) -> Option<&StatusRule> {
        match status {
            PatientStatus::Active => self.active.rule.as_ref(),
            PatientStatus::Inactive => self.inactive.rule.as_ref(),
            PatientStatus::Custom(id) => self.custom.get(&id),
        }
    }

    /// Refuses impossible rules, naming each field: empty rules, out-of-range numbers, an
    /// age range no one fits, a rule for a status the clinic does not have (or retired), and
    /// active and inactive rules that overlap (a patient would be both).
    pub fn check(&self, clinic: &Clinic) -> Result<(), DomainError> {
        let mut p = Problems::default();
        for (name, b) in [("active", &self.active), ("inactive", &self.inactive)] {
            if b.definition.chars().count() > 2_000 {
                p.add(format!("{name}.definition"), "at most 2,000 characters");
            }
            if let Some(r) = &b.rule {
                r.check(name, &mut p);
            }
        }
        for (id, r) in &self.custom {
            match clinic.statuses.get(id) {
                Some(s) if !s.retired => r.check(&format!("status {}", s.name), &mut p),
                Some(s) => p.add(
                    format!("status {}", s.name),
                    "this status is retired; it cannot have a rule",
                ),
                None => p.add(format!("status {id}"), "no such status at this clinic"),
            }
        }
        if let (Some(a), Some(i)) = (&self.active.rule, &self.inactive.rule)
            && a.min_age.is_none()
            && a.max_age.is_none()
            && i.min_age.is_none()
            && i.max_age.is_none()
            && let (
                Some(VisitRule::SeenWithin { months: within }),
                Some(VisitRule::NotSeenFor { months: after }),
            ) = (a.last_visit, i.last_visit)
            && after < within
        {
            p.add(
                "inactive.months",
                format!(
                    "active is \"seen within {within} months\" and inactive \"not seen for \
                     {after} months\": a patient last seen {after} to {} months ago would be \
                     both; make inactive at least {within} months",
                    within - 1
                ),
            );
        }
        p.finish(())
    }

    /// The statuses whose rules are tried for a suggestion, in order: the clinic's own
    /// statuses (not retired) by name, then inactive, then active.
    fn candidates<'a>(&'a self, clinic: &'a Clinic) -> Vec<(PatientStatus, &'a StatusRule)> {
        let mut custom: Vec<(&str, PatientStatus, &StatusRule)> = self
            .custom
            .iter()
            .filter_map(|(id, r)| {
                let s = clinic.statuses.get(id).filter(|s| !s.retired)?;
                Some((s.name.as_str(), PatientStatus::Custom(*id), r))
            })
            .collect();
        custom.sort_by(|a, b| {
            a.0.to_lowercase()
                .cmp(&b.0.to_lowercase())
                .then(a.1.cmp(&b.1))
        });
        let mut out: Vec<(PatientStatus, &StatusRule)> =
            custom.into_iter().map(|(_, s, r)| (s, r)).collect();
        out.extend(
            self.inactive
                .rule
                .as_ref()
                .map(|r| (PatientStatus::Inactive, r)),
        );
        out.extend(
            self.active
                .rule
                .as_ref()
                .map(|r| (PatientStatus::Active, r)),
        );
        out
    }
}

/// The status the clinic's rules give a patient where it differs from the stored one, or
/// `None`. The first rule that holds, in the order of [`StatusRules::candidates`] (the
/// clinic's own statuses first: they are the more specific, such as an age band), is the
/// suggestion, except:
/// - a clinic-defined status without a rule stands (maternity, temporary: set by a person
///   for a reason no date shows);
/// - a stored status whose own rule holds stands, unless it is active or inactive and a
///   clinic-defined status's rule holds too (a child who is "active" and under the
///   "pediatric" age limit is suggested "pediatric");
/// - a removed entry gets none.
///
/// Dismissals are not applied here: see [`open_suggestion`].
pub fn suggested_status(clinic: &Clinic, entry: &PanelEntry, today: Date) -> Option<PatientStatus> {
    if entry.removed.is_some() {
        return None;
    }
    let rules = &clinic.status_rules;
    let stored = entry.status;
    let own = rules.rule_of(stored);
    if matches!(stored, PatientStatus::Custom(_)) && own.is_none() {
        return None;
    }
    let first = rules
        .candidates(clinic)
        .into_iter()
        .find(|(_, r)| r.matches(&entry.details, today))
        .map(|(s, _)| s)?;
    if first == stored {
        return None;
    }
    let own_holds = own.is_some_and(|r| r.matches(&entry.details, today));
    let overrides =
        matches!(first, PatientStatus::Custom(_)) && !matches!(stored, PatientStatus::Custom(_));
    (!own_holds || overrides).then_some(first)
}

/// The suggestion still waiting for a person: [`suggested_status`], unless someone
/// dismissed that same suggestion.
pub fn open_suggestion(clinic: &Clinic, entry: &PanelEntry, today: Date) -> Option<PatientStatus> {
    suggested_status(clinic, entry, today)
        .filter(|s| entry.review.dismissed.is_none_or(|d| d.status != *s))
}

// ---------------------------------------------------------------------------
// Worklists
// ---------------------------------------------------------------------------

/// Default age of an MRP confirmation that calls for confirming again.
pub const DEFAULT_RECONFIRM_MONTHS: u32 = 12;

/// A review worklist: the entries that need one kind of attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Worklist {
    /// The status rules suggest another status (not dismissed).
    SuggestedStatus,
    /// Neither the provider nor the patient has confirmed the MRP relationship.
    MrpUnconfirmed,
    /// One side has confirmed and the other has not.
    MrpOneSide,
    /// Both sides confirmed, but the older confirmation is `months` months old or more.
    MrpStale { months: u32 },
    /// No last visit recorded.
    NoVisit,
    /// Last visit before `date`, or none recorded.
    NotSeenSince { date: Date },
    /// Neither phone nor email, or the contact details never checked with the patient.
    Contact,
    /// The patient is on another live panel at this clinic too (a clash to settle).
    TwoPanels,
}

impl Worklist {
    /// The worklists with their default parameters, in the order the dashboard lists them.
    pub fn standard(today: Date) -> [Worklist; 8] {
        [
            Worklist::SuggestedStatus,
            Worklist::MrpUnconfirmed,
            Worklist::MrpOneSide,
            Worklist::MrpStale {
                months: DEFAULT_RECONFIRM_MONTHS,
            },
            Worklist::NoVisit,
            Worklist::NotSeenSince {
                date: three_years_before(today),
            },
            Worklist::Contact,
            Worklist::TwoPanels,
        ]
    }

    /// The word that names the list in URLs, forms and the API.
    pub fn key(&self) -> &'static str {
        match self {
            Self::SuggestedStatus => "suggested-status",
            Self::MrpUnconfirmed => "mrp-unconfirmed",
            Self::MrpOneSide => "mrp-one-side",
            Self::MrpStale { .. } => "mrp-stale",
            Self::NoVisit => "no-visit",
            Self::NotSeenSince { .. } => "not-seen-since",
            Self::Contact => "contact",
            Self::TwoPanels => "two-panels",
        }
    }

    /// A heading for the list.
    pub fn title(&self) -> String {
        match self {
            Self::SuggestedStatus => "Suggested status changes".into(),
            Self::MrpUnconfirmed => "MRP not confirmed".into(),
            Self::MrpOneSide => "MRP confirmed by one side only".into(),
            Self::MrpStale { months } => format!("MRP confirmed {months} or more months ago"),
            Self::NoVisit => "No visit recorded".into(),
            Self::NotSeenSince { date } => format!("Not seen since {date}"),
            Self::Contact => "Contact details missing or unverified".into(),
            Self::TwoPanels => "On two panels".into(),
        }
    }

    /// Reads a [`Worklist::key`] with its parameter (`months` for `mrp-stale`, `date` for
    /// `not-seen-since`; missing ones take their defaults).
    pub fn from_key(
        key: &str,
        months: Option<&str>,
        date: Option<&str>,
        today: Date,
    ) -> Result<Self, DomainError> {
        Ok(match key.trim() {
            "suggested-status" => Self::SuggestedStatus,
            "mrp-unconfirmed" => Self::MrpUnconfirmed,
            "mrp-one-side" => Self::MrpOneSide,
            "mrp-stale" => Self::MrpStale {
                months: match months.map(str::trim).filter(|m| !m.is_empty()) {
                    None => DEFAULT_RECONFIRM_MONTHS,
                    Some(m) => m
                        .parse::<u32>()
                        .ok()
                        .filter(|m| (1..=MAX_RULE_MONTHS).contains(m))
                        .ok_or_else(|| {
                            DomainError::invalid(
                                "months",
                                format!("give a number of months from 1 to {MAX_RULE_MONTHS}"),
                            )
                        })?,
                },
            },
            "no-visit" => Self::NoVisit,
            "not-seen-since" => Self::NotSeenSince {
                date: match date.map(str::trim).filter(|d| !d.is_empty()) {
                    None => three_years_before(today),
                    Some(d) => parse_date("date", d)?,
                },
            },
            "contact" => Self::Contact,
            "two-panels" => Self::TwoPanels,
            other => {
                return Err(DomainError::invalid(
                    "worklist",
                    format!(
                        "no worklist \"{other}\"; one of suggested-status, mrp-unconfirmed, \
                         mrp-one-side, mrp-stale, no-visit, not-seen-since, contact, two-panels"
                    ),
                ));
            }
        })
    }

    /// The parameter, as `(name, value)`, for a URL or form.
    pub fn parameter(&self) -> Option<(&'static str, String)> {
        match self {
            Self::MrpStale { months } => Some(("months", months.to_string())),
            Self::NotSeenSince { date } => Some(("date", date.to_string())),
            _ => None,
        }
    }

    /// Whether the entry is on this list. `on_two_panels` and `suggestion` come from the
    /// caller, which sees the other panels and the clinic's rules.
    pub fn holds(&self, e: &PanelEntry, facts: &EntryFacts) -> bool {
        if e.removed.is_some() {
            return false;
        }
        match *self {
            Self::SuggestedStatus => facts.suggestion.is_some(),
            Self::MrpUnconfirmed => e.mrp.is_none() && e.review.patient_mrp.is_none(),
            Self::MrpOneSide => e.mrp.is_some() != e.review.patient_mrp.is_some(),
            Self::MrpStale { months } => match (e.mrp, e.review.patient_mrp) {
                (Some(a), Some(b)) => {
                    let oldest = a.at.min(b.at).date();
                    months_between(oldest, facts.today) >= months
                }
                _ => false,
            },
            Self::NoVisit => e.details.last_visit.is_none(),
            Self::NotSeenSince { date } => e.details.last_visit.is_none_or(|v| v < date),
            Self::Contact => {
                let c = &e.details.contact;
                (c.phone.trim().is_empty() && c.email.trim().is_empty())
                    || e.review.contact_verified.is_none()
            }
            Self::TwoPanels => facts.on_two_panels,
        }
    }
}

impl fmt::Display for Worklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title())
    }
}

/// What a worklist needs to know about an entry beyond the entry itself.
#[derive(Debug, Clone, Copy)]
pub struct EntryFacts {
    pub today: Date,
    /// [`open_suggestion`] for the entry.
    pub suggestion: Option<PatientStatus>,
    /// Another live entry of the same PHN exists at the clinic.
    pub on_two_panels: bool,
}

fn three_years_before(today: Date) -> Date {
    today
        .replace_year(today.year() - 3)
        .or_else(|_| {
            // 29 February → 28 February
            today
                .replace_day(28)
                .and_then(|d| d.replace_year(today.year() - 3))
        })
        .unwrap_or(today)
}

fn parse_date(field: &str, raw: &str) -> Result<Date, DomainError> {
    let raw = raw.trim();
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw, &format)
        .map_err(|_| DomainError::invalid(field, format!("\"{raw}\" is not a date as YYYY-MM-DD")))
}

// ---------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------

/// The state of the MRP confirmation, both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MrpState {
    /// Both sides confirmed.
    Both,
    ProviderOnly,
    PatientOnly,
    Neither,
}

impl MrpState {
    pub const ALL: [Self; 4] = [
        Self::Both,
        Self::ProviderOnly,
        Self::PatientOnly,
        Self::Neither,
    ];

    pub fn of(e: &PanelEntry) -> Self {
        match (e.mrp.is_some(), e.review.patient_mrp.is_some()) {
            (true, true) => Self::Both,
            (true, false) => Self::ProviderOnly,
            (false, true) => Self::PatientOnly,
            (false, false) => Self::Neither,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Self::Both => "both",
            Self::ProviderOnly => "provider-only",
            Self::PatientOnly => "patient-only",
            Self::Neither => "neither",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Both => "confirmed by both",
            Self::ProviderOnly => "provider only",
            Self::PatientOnly => "patient only",
            Self::Neither => "not confirmed",
        }
    }

    pub fn from_key(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key() == raw.trim())
    }
}

/// A search as the front desk types it: a PHN (or its first digits), a date of birth
/// (`2003-04-14`), "family, given" (prefixes of each), or words that each begin a word of
/// the patient's names in any order ("Charles", "Charles Alexander", "alex char").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextQuery {
    Phn(String),
    Birth(Date),
    FamilyGiven { family: String, given: String },
    Words(Vec<String>),
}

/// Lower case, char by char, for comparing names; accents are kept. The query is folded
/// once; each name is compared through [`starts_with_folded`] without allocating, since a
/// search runs over every entry of a panel.
fn fold(s: &str) -> String {
    s.trim().chars().flat_map(char::to_lowercase).collect()
}

/// Whether `name`, folded as [`fold`] does, begins with `prefix` (already folded).
fn starts_with_folded(name: &str, prefix: &str) -> bool {
    let mut folded = name.trim_start().chars().flat_map(char::to_lowercase);
    prefix.chars().all(|p| folded.next() == Some(p))
}

/// Whether `a` and `b` are the same, folded as [`fold`] does (without allocating).
fn same_folded(a: &str, b: &str) -> bool {
    let lower = |s: &str| {
        s.trim()
            .chars()
            .flat_map(char::to_lowercase)
            .collect::<Vec<char>>()
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    lower(a) == lower(b)
}

fn name_words(s: &str) -> impl Iterator<Item = &str> + '_ {
    s.split(|c: char| c.is_whitespace() || c == '-' || c == '\'' || c == ',')
        .filter(|w| !w.is_empty())
}

impl TextQuery {
    /// `None` for a blank search.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if let Ok(d) = parse_date("search", raw) {
            return Some(Self::Birth(d));
        }
        if digits.chars().all(|c| c.is_ascii_digit()) {
            return Some(Self::Phn(digits));
        }
        if let Some((family, given)) = raw.split_once(',') {
            return Some(Self::FamilyGiven {
                family: fold(family),
                given: fold(given),
            });
        }
        let words: Vec<String> = name_words(raw).map(fold).collect();
        (!words.is_empty()).then_some(Self::Words(words))
    }

    pub fn matches(&self, d: &PatientDetails) -> bool {
        match self {
            Self::Phn(digits) => {
                // The PHN's ten digits, without formatting a string per entry.
                let mut n = d.phn.as_u64();
                let mut ten = [0u8; 10];
                for slot in ten.iter_mut().rev() {
                    *slot = b'0' + (n % 10) as u8;
                    n /= 10;
                }
                ten.starts_with(digits.as_bytes())
            }
            Self::Birth(date) => d.date_of_birth == *date,
            Self::FamilyGiven { family, given } => {
                starts_with_folded(&d.family_name, family)
                    && (given.is_empty()
                        || starts_with_folded(&d.given_names, given)
                        || name_words(&d.given_names).any(|w| starts_with_folded(w, given)))
            }
            Self::Words(words) => words.iter().all(|q| {
                name_words(&d.given_names)
                    .chain(name_words(&d.family_name))
                    .any(|n| starts_with_folded(n, q))
            }),
        }
    }
}

/// Filters of a panel list; every filter given must hold. Dates are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PanelFilter {
    /// Any of these statuses (empty: any status).
    pub statuses: Vec<PatientStatus>,
    pub last_visit_from: Option<Date>,
    pub last_visit_to: Option<Date>,
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    pub sex: Option<Sex>,
    pub mrp: Option<MrpState>,
    /// The community, compared case-insensitively.
    pub community: Option<String>,
    pub how_added: Option<HowAdded>,
    pub text: Option<TextQuery>,
}

impl PanelFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn matches(&self, e: &PanelEntry, today: Date) -> bool {
        let d = &e.details;
        if !self.statuses.is_empty() && !self.statuses.contains(&e.status) {
            return false;
        }
        if self.last_visit_from.is_some() || self.last_visit_to.is_some() {
            let Some(v) = d.last_visit else {
                return false;
            };
            if self.last_visit_from.is_some_and(|f| v < f)
                || self.last_visit_to.is_some_and(|t| v > t)
            {
                return false;
            }
        }
        if self.min_age.is_some() || self.max_age.is_some() {
            let age = age_on(d.date_of_birth, today);
            if self.min_age.is_some_and(|m| age < m) || self.max_age.is_some_and(|m| age > m) {
                return false;
            }
        }
        if self.sex.is_some_and(|s| s != d.sex) {
            return false;
        }
        if self.mrp.is_some_and(|m| m != MrpState::of(e)) {
            return false;
        }
        if let Some(c) = &self.community
            && !same_folded(&d.community, c)
        {
            return false;
        }
        if self.how_added.is_some_and(|h| h != e.how_added) {
            return false;
        }
        self.text.as_ref().is_none_or(|t| t.matches(d))
    }
}

/// A worklist (or the whole panel) with filters: what a review page, an export, a bulk
/// change and a review task name. It travels as URL query pairs ([`ReviewQuery::to_pairs`],
/// [`ReviewQuery::from_pairs`]), so a link, a form and a stored task all say the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewQuery {
    pub worklist: Option<Worklist>,
    pub filter: PanelFilter,
    /// The text of the search as typed (the parsed form is `filter.text`).
    pub search: String,
}

/// The word a sex goes by in files, URLs and forms (`female`, `male`, `x`, `unknown`).
pub fn sex_key(s: Sex) -> &'static str {
    match s {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::X => "x",
        Sex::Unknown => "unknown",
    }
}

/// The word a way of adding goes by in URLs (`manual`, `csv_upload`…).
pub fn how_added_key(h: HowAdded) -> &'static str {
    match h {
        HowAdded::Manual => "manual",
        HowAdded::CsvUpload => "csv_upload",
        HowAdded::FhirUpload => "fhir_upload",
        HowAdded::Match => "match",
        HowAdded::Transfer => "transfer",
    }
}

pub const HOW_ADDED_ALL: [HowAdded; 5] = [
    HowAdded::Manual,
    HowAdded::CsvUpload,
    HowAdded::FhirUpload,
    HowAdded::Match,
    HowAdded::Transfer,
];

impl ReviewQuery {
    /// Query pairs for this query; empty values are left out.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(w) = &self.worklist {
            out.push(("worklist", w.key().to_owned()));
            out.extend(w.parameter());
        }
        let f = &self.filter;
        for s in &f.statuses {
            out.push(("status", s.key()));
        }
        if let Some(d) = f.last_visit_from {
            out.push(("visit_from", d.to_string()));
        }
        if let Some(d) = f.last_visit_to {
            out.push(("visit_to", d.to_string()));
        }
        if let Some(a) = f.min_age {
            out.push(("min_age", a.to_string()));
        }
        if let Some(a) = f.max_age {
            out.push(("max_age", a.to_string()));
        }
        if let Some(s) = f.sex {
            out.push(("sex", sex_key(s).to_owned()));
        }
        if let Some(m) = f.mrp {
            out.push(("mrp", m.key().to_owned()));
        }
        if let Some(c) = &f.community {
            out.push(("community", c.clone()));
        }
        if let Some(h) = f.how_added {
            out.push(("how_added", how_added_key(h).to_owned()));
        }
        if !self.search.trim().is_empty() {
            out.push(("q", self.search.trim().to_owned()));
        }
        out
    }

    /// Reads query pairs (repeated `status` for several statuses). Unknown keys are
    /// ignored (a page's own parameters, like `page`, travel beside these); a bad value is
    /// an error naming its field. Blank values mean "no filter".
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        today: Date,
    ) -> Result<Self, DomainError> {
        let mut p = Problems::default();
        let mut q = ReviewQuery::default();
        let (mut worklist, mut months, mut date) = (None, None, None);
        let number = |p: &mut Problems, field: &str, v: &str| -> Option<u32> {
            match v.parse::<u32>() {
                Ok(n) if n <= MAX_RULE_AGE => Some(n),
                _ => {
                    p.add(
                        field.to_owned(),
                        format!("give an age from 0 to {MAX_RULE_AGE}"),
                    );
                    None
                }
            }
        };
        for (k, v) in pairs {
            let v = v.trim();
            if v.is_empty() {
                continue;
            }
            let f = &mut q.filter;
            match k {
                "worklist" => worklist = Some(v),
                "months" => months = Some(v),
                "date" => date = Some(v),
                "status" => match PatientStatus::from_key(v) {
                    Some(s) => {
                        if !f.statuses.contains(&s) {
                            f.statuses.push(s)
                        }
                    }
                    None => p.add("status", format!("no status \"{v}\"")),
                },
                "visit_from" => match parse_date("visit_from", v) {
                    Ok(d) => f.last_visit_from = Some(d),
                    Err(e) => p.0.extend(field_errors(e)),
                },
                "visit_to" => match parse_date("visit_to", v) {
                    Ok(d) => f.last_visit_to = Some(d),
                    Err(e) => p.0.extend(field_errors(e)),
                },
                "min_age" => f.min_age = number(&mut p, "min_age", v),
                "max_age" => f.max_age = number(&mut p, "max_age", v),
                "sex" => {
                    match [Sex::Female, Sex::Male, Sex::X, Sex::Unknown]
                        .into_iter()
                        .find(|s| sex_key(*s) == v.to_lowercase())
                    {
                        Some(s) => f.sex = Some(s),
                        None => p.add("sex", "one of female, male, x, unknown"),
                    }
                }
                "mrp" => match MrpState::from_key(v) {
                    Some(m) => f.mrp = Some(m),
                    None => p.add("mrp", "one of both, provider-only, patient-only, neither"),
                },
                "community" => f.community = Some(v.to_owned()),
                "how_added" => match HOW_ADDED_ALL.into_iter().find(|h| how_added_key(*h) == v) {
                    Some(h) => f.how_added = Some(h),
                    None => p.add(
                        "how_added",
                        "one of manual, csv_upload, fhir_upload, match, transfer",
                    ),
                },
                "q" => {
                    q.search = v.to_owned();
                    f.text = TextQuery::parse(v);
                }
                _ => {}
            }
        }
        if let (Some(a), Some(b)) = (q.filter.last_visit_from, q.filter.last_visit_to)
            && a > b
        {
            p.add("visit_to", "the end of the visit range is before its start");
        }
        if let (Some(a), Some(b)) = (q.filter.min_age, q.filter.max_age)
            && a > b
        {
            p.add("max_age", "the highest age is below the lowest");
        }
        if let Some(w) = worklist {
            match Worklist::from_key(w, months, date, today) {
                Ok(w) => q.worklist = Some(w),
                Err(e) => p.0.extend(field_errors(e)),
            }
        }
        p.finish(q)
    }

    /// Whether an entry is in the list this query names.
    pub fn matches(&self, e: &PanelEntry, facts: &EntryFacts) -> bool {
        self.worklist.as_ref().is_none_or(|w| w.holds(e, facts))
            && self.filter.matches(e, facts.today)
    }

    /// A plain-words description for the top of a printed list or an export.
    pub fn describe(&self, status_name: impl Fn(PatientStatus) -> String) -> String {
        let mut parts = Vec::new();
        if let Some(w) = &self.worklist {
            parts.push(w.title());
        }
        let f = &self.filter;
        if !f.statuses.is_empty() {
            let names: Vec<String> = f.statuses.iter().map(|s| status_name(*s)).collect();
            parts.push(format!("status {}", names.join(" or ")));
        }
        match (f.last_visit_from, f.last_visit_to) {
            (Some(a), Some(b)) => parts.push(format!("last visit {a} to {b}")),
            (Some(a), None) => parts.push(format!("last visit on or after {a}")),
            (None, Some(b)) => parts.push(format!("last visit on or before {b}")),
            (None, None) => {}
        }
        match (f.min_age, f.max_age) {
            (Some(a), Some(b)) => parts.push(format!("aged {a} to {b}")),
            (Some(a), None) => parts.push(format!("aged {a} or more")),
            (None, Some(b)) => parts.push(format!("aged {b} or less")),
            (None, None) => {}
        }
        if let Some(s) = f.sex {
            parts.push(format!("sex {}", sex_key(s)));
        }
        if let Some(m) = f.mrp {
            parts.push(format!("MRP {}", m.label()));
        }
        if let Some(c) = &f.community {
            parts.push(format!("community {c}"));
        }
        if let Some(h) = f.how_added {
            parts.push(format!("added by {}", how_added_key(h).replace('_', " ")));
        }
        if !self.search.trim().is_empty() {
            parts.push(format!("search \"{}\"", self.search.trim()));
        }
        if parts.is_empty() {
            "All patients".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

fn field_errors(e: DomainError) -> Vec<super::error::FieldError> {
    match e {
        DomainError::Validation(v) => v,
        other => vec![super::error::FieldError::new("query", other.to_string())],
    }
}

#[cfg(test)]
mod tests;
