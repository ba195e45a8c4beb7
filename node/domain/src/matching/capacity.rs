//! Capacity accounting: how much of a provider's monthly capacity rate a month has used.
//!
//! A month is a calendar month **in the province's time zone** (not UTC): an attachment at
//! 23:30 on 31 January in Vancouver is a January attachment, though it is 1 February in UTC.
//! What counts against a month (`MonthlyUse`): the people attached to the provider through a
//! match in that month, plus the people in offers to the provider that are still open (an
//! open offer holds its places until it is decided, expires or is withdrawn; it counts in
//! the month the round is run). A household counts as its number of people.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A calendar month in the province's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Month {
    pub year: i16,
    /// 1..=12.
    pub month: i8,
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// The province's time zone, for months and local dates.
#[derive(Debug, Clone)]
pub struct ProvinceClock {
    tz: TimeZone,
    name: String,
}

/// The time zone name is not in the time-zone database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {name:?} (use an IANA name such as \"America/Vancouver\")")]
pub struct UnknownTimeZone {
    pub name: String,
}

impl ProvinceClock {
    /// The zone named `name` (IANA, e.g. `America/Vancouver`), from the database built into
    /// the binary (a clinic box may have no `/usr/share/zoneinfo`).
    pub fn named(name: &str) -> Result<Self, UnknownTimeZone> {
        TimeZone::get(name)
            .map(|tz| Self {
                tz,
                name: name.to_owned(),
            })
            .map_err(|_| UnknownTimeZone {
                name: name.to_owned(),
            })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The month `at` falls in, in this zone.
    pub fn month_of(&self, at: OffsetDateTime) -> Month {
        let ts = Timestamp::from_second(at.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH);
        let z = ts.to_zoned(self.tz.clone());
        Month {
            year: z.year(),
            month: z.month(),
        }
    }

    /// The local calendar date of `at`, in this zone.
    pub fn local_date(&self, at: OffsetDateTime) -> time::Date {
        let ts = Timestamp::from_second(at.unix_timestamp()).unwrap_or(Timestamp::UNIX_EPOCH);
        let d = ts.to_zoned(self.tz.clone()).date();
        time::Month::try_from(u8::try_from(d.month()).unwrap_or(1))
            .ok()
            .and_then(|m| {
                time::Date::from_calendar_date(
                    i32::from(d.year()),
                    m,
                    u8::try_from(d.day()).unwrap_or(1),
                )
                .ok()
            })
            .unwrap_or(at.date())
    }
}

/// One provider's use of their capacity in one month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthlyUse {
    /// People attached through a match this month.
    pub attached: u32,
    /// People in open offers.
    pub offered: u32,
    /// Open offers (a household's offer is one request).
    pub open_requests: u32,
}

impl MonthlyUse {
    /// Places used against the monthly capacity rate.
    pub fn used(&self) -> u32 {
        self.attached.saturating_add(self.offered)
    }

    /// Places left of `monthly_capacity` this month.
    pub fn left(&self, monthly_capacity: u32) -> u32 {
        monthly_capacity.saturating_sub(self.used())
    }
}
