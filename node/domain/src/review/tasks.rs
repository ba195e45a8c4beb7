//! Recurring review tasks: the workbook's "regular review" — who reviews which list, how
//! often, and when it was last done. A task names a worklist query (on one provider's panel
//! or the whole clinic), an owner and a frequency; its due date follows from its first due
//! date and its completions, so replicas that merged the same completions agree on it.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

use crate::error::{DomainError, Problems};
use crate::ids::{ClinicId, CompletionId, TaskId, UserId};

/// Longest title of a task.
pub const MAX_TITLE: usize = 120;
/// Longest note on a completion.
pub const MAX_NOTE: usize = 2_000;
/// How soon (days) a coming due date counts as "due".
pub const DUE_SOON_DAYS: i64 = 7;

/// How often a task recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "every")]
pub enum Frequency {
    /// Every `n` weeks (1–52).
    Weeks { n: u32 },
    /// Every `n` calendar months (1–24): 1 monthly, 3 quarterly, 12 yearly.
    Months { n: u32 },
}

impl Frequency {
    /// The frequencies forms offer, with their words.
    pub const COMMON: [(Self, &'static str); 6] = [
        (Self::Weeks { n: 1 }, "weekly"),
        (Self::Weeks { n: 2 }, "every two weeks"),
        (Self::Months { n: 1 }, "monthly"),
        (Self::Months { n: 3 }, "quarterly"),
        (Self::Months { n: 6 }, "twice a year"),
        (Self::Months { n: 12 }, "yearly"),
    ];

    /// `weeks-2`, `months-3`: the word forms and the API use.
    pub fn key(self) -> String {
        match self {
            Self::Weeks { n } => format!("weeks-{n}"),
            Self::Months { n } => format!("months-{n}"),
        }
    }

    pub fn from_key(raw: &str) -> Option<Self> {
        let (unit, n) = raw.trim().split_once('-')?;
        let n: u32 = n.parse().ok()?;
        let f = match unit {
            "weeks" => Self::Weeks { n },
            "months" => Self::Months { n },
            _ => return None,
        };
        f.is_valid().then_some(f)
    }

    fn is_valid(self) -> bool {
        match self {
            Self::Weeks { n } => (1..=52).contains(&n),
            Self::Months { n } => (1..=24).contains(&n),
        }
    }

    /// "quarterly", "every 5 weeks".
    pub fn label(self) -> String {
        if let Some((_, words)) = Self::COMMON.iter().find(|(f, _)| *f == self) {
            return (*words).to_owned();
        }
        match self {
            Self::Weeks { n } => format!("every {n} weeks"),
            Self::Months { n } => format!("every {n} months"),
        }
    }

    /// The date one period after `d` (a month later on the same day, or the month's last
    /// day when it is shorter: 31 January → 28 or 29 February).
    pub fn after(self, d: Date) -> Date {
        match self {
            Self::Weeks { n } => d.saturating_add(Duration::weeks(i64::from(n))),
            Self::Months { n } => add_months(d, n),
        }
    }
}

fn add_months(d: Date, n: u32) -> Date {
    let total = i64::from(d.year()) * 12 + i64::from(u8::from(d.month())) - 1 + i64::from(n);
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let Ok(year) = i32::try_from(year) else {
        return Date::MAX;
    };
    let Ok(month) = time::Month::try_from(month0 as u8 + 1) else {
        return Date::MAX;
    };
    let day = d.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(Date::MAX)
}

/// A recurring review of one worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewTask {
    pub id: TaskId,
    pub clinic: ClinicId,
    pub title: String,
    /// One provider's panel, or (`None`) every panel of the clinic.
    pub provider: Option<UserId>,
    /// The list to work through, as the review page's query words
    /// (`worklist=suggested-status`, …).
    pub query: Vec<(String, String)>,
    pub frequency: Frequency,
    /// Who does it (and sees it due in the header).
    pub owner: UserId,
    pub first_due: Date,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: UserId,
    /// A retired task is kept with its completions but no longer comes due.
    #[serde(default)]
    pub retired: bool,
}

/// One time a task was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub id: CompletionId,
    pub task: TaskId,
    /// The due date this completion answers.
    pub due: Date,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: UserId,
    /// Patients on the list when it was marked done (what is left for next time).
    pub remaining: usize,
    #[serde(default)]
    pub note: String,
}

/// Where a task stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueState {
    Overdue,
    /// Due today or within [`DUE_SOON_DAYS`].
    Due,
    Upcoming,
    Retired,
}

impl DueState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Overdue => "overdue",
            Self::Due => "due",
            Self::Upcoming => "upcoming",
            Self::Retired => "retired",
        }
    }
}

impl ReviewTask {
    /// The next due date: the first due date, or one period after the latest due date a
    /// completion answered. Completing early does not move later dates forward twice: it
    /// answers the due date that was open.
    pub fn next_due<'a>(&self, completions: impl IntoIterator<Item = &'a Completion>) -> Date {
        completions
            .into_iter()
            .filter(|c| c.task == self.id)
            .map(|c| c.due)
            .max()
            .map_or(self.first_due, |last| self.frequency.after(last))
    }

    pub fn state_on(&self, next_due: Date, today: Date) -> DueState {
        if self.retired {
            DueState::Retired
        } else if next_due < today {
            DueState::Overdue
        } else if next_due <= today.saturating_add(Duration::days(DUE_SOON_DAYS)) {
            DueState::Due
        } else {
            DueState::Upcoming
        }
    }

    /// Checks a task as typed, naming each field.
    pub fn check(&self) -> Result<(), DomainError> {
        let mut p = Problems::default();
        let title = self.title.trim();
        if title.is_empty() {
            p.add(
                "title",
                "give the task a title (what is reviewed, on whose panel)",
            );
        } else if title.chars().count() > MAX_TITLE {
            p.add("title", format!("at most {MAX_TITLE} characters"));
        }
        if !self.frequency.is_valid() {
            p.add("frequency", "every 1 to 52 weeks, or every 1 to 24 months");
        }
        p.finish(())
    }
}

impl Completion {
    pub fn check(&self) -> Result<(), DomainError> {
        let mut p = Problems::default();
        if self.note.chars().count() > MAX_NOTE {
            p.add("note", format!("at most {MAX_NOTE} characters"));
        }
        p.finish(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn task(frequency: Frequency, first_due: Date) -> ReviewTask {
        ReviewTask {
            id: TaskId::new(),
            clinic: ClinicId::new(),
            title: "Inactive review".into(),
            provider: None,
            query: vec![("worklist".into(), "suggested-status".into())],
            frequency,
            owner: UserId::new(),
            first_due,
            created_at: datetime!(2026-01-01 09:00 UTC),
            created_by: UserId::new(),
            retired: false,
        }
    }

    fn done(t: &ReviewTask, due: Date) -> Completion {
        Completion {
            id: CompletionId::new(),
            task: t.id,
            due,
            at: datetime!(2026-01-01 09:00 UTC),
            by: t.owner,
            remaining: 0,
            note: String::new(),
        }
    }

    #[test]
    fn months_land_on_the_same_day_or_the_months_last() {
        let q = Frequency::Months { n: 3 };
        assert_eq!(q.after(date!(2026 - 01 - 15)), date!(2026 - 04 - 15));
        assert_eq!(q.after(date!(2025 - 11 - 30)), date!(2026 - 02 - 28));
        assert_eq!(
            Frequency::Months { n: 1 }.after(date!(2028 - 01 - 31)),
            date!(2028 - 02 - 29)
        );
        assert_eq!(
            Frequency::Months { n: 12 }.after(date!(2026 - 12 - 31)),
            date!(2027 - 12 - 31)
        );
        assert_eq!(
            Frequency::Weeks { n: 2 }.after(date!(2026 - 12 - 25)),
            date!(2027 - 01 - 08)
        );
    }

    #[test]
    fn the_next_due_date_follows_the_latest_answered_due_date() {
        let t = task(Frequency::Months { n: 3 }, date!(2026 - 01 - 15));
        assert_eq!(t.next_due([]), date!(2026 - 01 - 15));
        let first = done(&t, date!(2026 - 01 - 15));
        let second = done(&t, date!(2026 - 04 - 15));
        assert_eq!(t.next_due([&first]), date!(2026 - 04 - 15));
        // Order does not matter (completions merged from two nodes).
        assert_eq!(t.next_due([&second, &first]), date!(2026 - 07 - 15));
        // Another task's completion is not this one's.
        let other = task(Frequency::Weeks { n: 1 }, date!(2026 - 01 - 01));
        assert_eq!(
            t.next_due([&done(&other, date!(2026 - 09 - 01))]),
            t.first_due
        );
    }

    #[test]
    fn a_task_is_overdue_due_or_upcoming_on_a_day() {
        let t = task(Frequency::Weeks { n: 1 }, date!(2026 - 12 - 10));
        let due = t.first_due;
        assert_eq!(t.state_on(due, date!(2026 - 12 - 11)), DueState::Overdue);
        assert_eq!(t.state_on(due, date!(2026 - 12 - 10)), DueState::Due);
        assert_eq!(t.state_on(due, date!(2026 - 12 - 03)), DueState::Due);
        assert_eq!(t.state_on(due, date!(2026 - 12 - 02)), DueState::Upcoming);
        let mut r = t.clone();
        r.retired = true;
        assert_eq!(r.state_on(due, date!(2026 - 12 - 11)), DueState::Retired);
    }

    #[test]
    fn frequencies_read_back_and_bad_tasks_are_named() {
        for (f, _) in Frequency::COMMON {
            assert_eq!(Frequency::from_key(&f.key()), Some(f));
        }
        assert_eq!(Frequency::Months { n: 3 }.label(), "quarterly");
        assert_eq!(Frequency::Weeks { n: 5 }.label(), "every 5 weeks");
        assert_eq!(Frequency::from_key("months-0"), None);
        assert_eq!(Frequency::from_key("years-1"), None);
        let mut t = task(Frequency::Weeks { n: 60 }, date!(2026 - 12 - 10));
        t.title = " ".into();
        let err = t.check().expect_err("two problems");
        let text = format!("{err:?}");
        assert!(
            text.contains("title") && text.contains("frequency"),
            "{text}"
        );
    }
}
