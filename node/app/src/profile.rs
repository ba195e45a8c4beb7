//! Panel profile and supply/demand (step 6 of the panel-management workbook): each
//! provider's panel by age and sex, its active and inactive patients month by month, and
//! whether the appointments the provider offers cover the visits a panel of that mix needs.
//!
//! Where it is kept (all in the clinic's family, so it syncs with the clinic):
//! - `clinic/<c>/supply`: the clinic's visit-rate table (absent: the documented default,
//!   `attach_domain::VisitRates::default`) and each provider's appointments a week and
//!   weeks a year, one record each;
//! - `clinic/<c>/census/<year>`: the panel counts of each provider for each month of the
//!   year, one record per provider and month. A clinic node keeps the current month's
//!   record up to date ([`App::record_census`], run by the node every hour), so once a
//!   month is over its record holds the counts at its end. Months before the node first
//!   counted have no record: the chart starts where the counting did, and says so.
//!
//! The pure arithmetic (pyramid, rates, estimate) is `attach_domain::review::profile`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

use attach_domain::{
    ClinicId, DEFAULT_WEEKS_PER_YEAR, PanelEntry, PatientStatus, Pyramid, SupplyDemand, UserId,
    VisitRates,
};
use attach_schema::work::{KIND_CENSUS, KIND_SUPPLY, RATES_ITEM, read_items, write_item};

use super::history::ChangeKind;
use super::registry::require_manager;
use super::{App, AppError};

/// The author of the month-end counts: the node counting its panels, not a person.
pub const CENSUS: UserId = UserId(Uuid::from_u128(0x0000_0000_0000_7000_8000_00ce_2505_0001));

/// How many months of counts a profile shows.
pub const CENSUS_MONTHS: usize = 24;

/// The clinic's own visit-rate table, as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedRates {
    rates: VisitRates,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    by: UserId,
}

/// The visit-rate table the clinic's estimates use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatesView {
    pub rates: VisitRates,
    /// `true` while the clinic has not entered its own (the documented default applies).
    pub default: bool,
    /// Who saved the clinic's own table, and when.
    pub saved: Option<(UserId, OffsetDateTime)>,
}

/// The appointments a provider offers, as they stated them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supply {
    pub appointments_per_week: u32,
    pub weeks_per_year: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: UserId,
}

/// A provider's panel counted at the end of one month (for the current month: now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CensusMonth {
    pub year: i32,
    /// 1–12.
    pub month: u8,
    pub total: usize,
    pub active: usize,
    pub inactive: usize,
    /// The clinic's own statuses together.
    pub other: usize,
}

/// The counts a census record holds (its key says whose and which month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct CensusCounts {
    total: usize,
    active: usize,
    inactive: usize,
    other: usize,
}

impl CensusCounts {
    fn of<'a>(entries: impl Iterator<Item = &'a PanelEntry>) -> Self {
        let mut c = Self {
            total: 0,
            active: 0,
            inactive: 0,
            other: 0,
        };
        for e in entries {
            c.total += 1;
            match e.status {
                PatientStatus::Active => c.active += 1,
                PatientStatus::Inactive => c.inactive += 1,
                PatientStatus::Custom(_) => c.other += 1,
            }
        }
        c
    }
}

fn census_key(provider: UserId, month: u8) -> String {
    format!("{}/{month:02}", provider.as_uuid().hyphenated())
}

/// Which patients the supply/demand estimate counts.
pub const ESTIMATE_COUNTS: &str = "patients on the panel who are not inactive";

/// One provider's panel profile.
#[derive(Debug, Clone)]
pub struct PanelProfile {
    /// Patients on the panel (as its size counts them).
    pub size: usize,
    pub pyramid: Pyramid,
    /// Month by month, oldest first, at most [`CENSUS_MONTHS`].
    pub census: Vec<CensusMonth>,
    pub rates: RatesView,
    pub supply: Option<Supply>,
    /// With the supply stated: the estimate, or why there is none.
    pub estimate: Option<Result<SupplyDemand, String>>,
    /// The patients the estimate counts ([`ESTIMATE_COUNTS`]).
    pub counted: usize,
    /// The provider's desired panel size (from the panel preferences), to compare with.
    pub desired_size: u32,
}

impl App {
    /// The visit-rate table the clinic's estimates use (any member may read it).
    pub fn visit_rates(&self, who: UserId, clinic: ClinicId) -> Result<RatesView, AppError> {
        self.member_clinic(who, clinic)?;
        self.rates_of(clinic)
    }

    fn supply_items(
        &self,
        clinic: ClinicId,
    ) -> Result<BTreeMap<String, serde_json::Value>, AppError> {
        let id = attach_schema::ids::supply_doc_id(clinic);
        Ok(self
            .store()
            .read(&id, |doc| read_items(doc, KIND_SUPPLY))?
            .transpose()?
            .unwrap_or_default())
    }

    fn rates_of(&self, clinic: ClinicId) -> Result<RatesView, AppError> {
        rates_in(&mut self.supply_items(clinic)?)
    }

    /// Saves the clinic's own visit-rate table, or with `None` goes back to the default
    /// (account managers). A table that cannot rate every patient is refused with each
    /// field named, and nothing is stored.
    pub fn set_visit_rates(
        &self,
        who: UserId,
        clinic: ClinicId,
        rates: Option<VisitRates>,
    ) -> Result<RatesView, AppError> {
        let c = self.member_clinic(who, clinic)?;
        require_manager(&c, who)?;
        if let Some(r) = &rates {
            r.check()?;
        }
        let current = self.rates_of(clinic)?;
        let unchanged = match &rates {
            Some(r) => !current.default && current.rates == *r,
            None => current.default,
        };
        if !unchanged {
            let saved = rates.map(|rates| SavedRates {
                rates,
                at: self.now(),
                by: who,
            });
            let id = attach_schema::ids::supply_doc_id(clinic);
            let message = ChangeKind::Other(
                if saved.is_some() {
                    "save visit rates"
                } else {
                    "restore default visit rates"
                }
                .to_owned(),
            )
            .to_string();
            self.store().change(&id, who.0, &message, |tx| {
                write_item(tx, KIND_SUPPLY, RATES_ITEM, saved.as_ref()).map_err(AppError::from)
            })?;
            info!(clinic = %clinic, "visit rates saved");
            return Ok(rates_view(saved));
        }
        Ok(current)
    }

    /// The appointments `provider` states they offer, if stated.
    fn supply_of(&self, clinic: ClinicId, provider: UserId) -> Result<Option<Supply>, AppError> {
        supply_in(&mut self.supply_items(clinic)?, provider)
    }

    /// Records the appointments a week `provider` offers, over how many weeks a year
    /// (whoever may change the panel). Weeks are 1 to 52; appointments 0 to
    /// `attach_domain::review::profile::MAX_APPOINTMENTS_PER_WEEK`.
    pub fn set_supply(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
        appointments_per_week: u32,
        weeks_per_year: u32,
    ) -> Result<Supply, AppError> {
        let c = self.readable_panel(who, clinic, provider)?;
        if !c.can_manage_panel(who, provider) {
            return Err(AppError::forbidden(
                "only the provider and staff they have endorsed can state the provider's appointments",
            ));
        }
        let mut problems = attach_domain::Problems::default();
        if appointments_per_week > attach_domain::review::profile::MAX_APPOINTMENTS_PER_WEEK {
            problems.add(
                "appointments_per_week",
                format!(
                    "give a number of appointments from 0 to {}",
                    attach_domain::review::profile::MAX_APPOINTMENTS_PER_WEEK
                ),
            );
        }
        if !(1..=attach_domain::review::profile::MAX_WEEKS_PER_YEAR).contains(&weeks_per_year) {
            problems.add(
                "weeks_per_year",
                format!(
                    "give a number of weeks from 1 to {} (a full-time physician often works about {DEFAULT_WEEKS_PER_YEAR})",
                    attach_domain::review::profile::MAX_WEEKS_PER_YEAR
                ),
            );
        }
        problems.finish(())?;
        if let Some(s) = self.supply_of(clinic, provider)?
            && s.appointments_per_week == appointments_per_week
            && s.weeks_per_year == weeks_per_year
        {
            return Ok(s);
        }
        let supply = Supply {
            appointments_per_week,
            weeks_per_year,
            at: self.now(),
            by: who,
        };
        let id = attach_schema::ids::supply_doc_id(clinic);
        let message = ChangeKind::Other("state appointments a week".to_owned()).to_string();
        self.store().change(&id, who.0, &message, |tx| {
            write_item(tx, KIND_SUPPLY, &supply_key(provider), Some(&supply))
                .map_err(AppError::from)
        })?;
        info!(clinic = %clinic, provider = %provider, "supply stated");
        Ok(supply)
    }

    /// The panel's profile: size, age–sex pyramid, counts by month, and the supply/demand
    /// estimate once the provider's appointments are stated (whoever may see the panel).
    pub fn panel_profile(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<PanelProfile, AppError> {
        self.readable_panel(who, clinic, provider)?;
        let today = self.clinic_today();
        // One read of the supply document for both the table and the provider's figures.
        let mut items = self.supply_items(clinic)?;
        let rates = rates_in(&mut items)?;
        let supply = supply_in(&mut items, provider)?;
        let census = self.census_of(clinic, provider, today)?;
        let (size, pyramid, counted, estimate, desired_size) = {
            let model = self.model();
            let members: Vec<&PanelEntry> = model.panel_members(clinic, provider).collect();
            let pyramid = attach_domain::pyramid(members.iter().copied(), today);
            let counted: Vec<&PanelEntry> = members
                .iter()
                .copied()
                .filter(|e| e.status != PatientStatus::Inactive)
                .collect();
            let estimate = supply.map(|s| estimate(counted.iter().copied(), today, &rates, s));
            let desired = model
                .preferences
                .get(&provider)
                .map_or(0, |p| p.desired_panel_size);
            (members.len(), pyramid, counted.len(), estimate, desired)
        };
        Ok(PanelProfile {
            size,
            pyramid,
            census,
            rates,
            supply,
            estimate,
            counted,
            desired_size,
        })
    }

    /// Only the supply/demand estimate of the panel (for the preferences page's advice):
    /// `None` until the appointments are stated, else the estimate or why there is none.
    /// The same figures as [`App::panel_profile`]'s, without the pyramid and the counts.
    pub fn supply_estimate(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<Option<Result<SupplyDemand, String>>, AppError> {
        self.readable_panel(who, clinic, provider)?;
        let mut items = self.supply_items(clinic)?;
        let Some(supply) = supply_in(&mut items, provider)? else {
            return Ok(None);
        };
        let rates = rates_in(&mut items)?;
        let model = self.model();
        let counted = model
            .panel_members(clinic, provider)
            .filter(|e| e.status != PatientStatus::Inactive);
        Ok(Some(estimate(counted, self.clinic_today(), &rates, supply)))
    }

    /// The provider's counts for the last [`CENSUS_MONTHS`] months that have one, oldest first.
    fn census_of(
        &self,
        clinic: ClinicId,
        provider: UserId,
        today: time::Date,
    ) -> Result<Vec<CensusMonth>, AppError> {
        let prefix = format!("{}/", provider.as_uuid().hyphenated());
        let mut out = Vec::new();
        for year in [today.year() - 2, today.year() - 1, today.year()] {
            let id = attach_schema::ids::census_doc_id(clinic, year);
            let items: BTreeMap<String, CensusCounts> = self
                .store()
                .read(&id, |doc| read_items(doc, KIND_CENSUS))?
                .transpose()?
                .unwrap_or_default();
            for (key, c) in items {
                let Some(month) = key
                    .strip_prefix(&prefix)
                    .and_then(|m| m.parse::<u8>().ok())
                    .filter(|m| (1..=12).contains(m))
                else {
                    continue;
                };
                out.push(CensusMonth {
                    year,
                    month,
                    total: c.total,
                    active: c.active,
                    inactive: c.inactive,
                    other: c.other,
                });
            }
        }
        out.sort_by_key(|m| (m.year, m.month));
        let skip = out.len().saturating_sub(CENSUS_MONTHS);
        Ok(out.split_off(skip))
    }

    /// Brings this month's count of every provider's panel at every clinic this node holds
    /// up to date, writing only the counts that changed (one change per clinic). Returns the
    /// number of records written. The node runs it when it starts and then every hour.
    pub fn record_census(&self) -> Result<usize, AppError> {
        let today = self.clinic_today();
        let month = u8::from(today.month());
        let mut written = 0;
        for clinic in self.clinic_ids() {
            let counts: Vec<(UserId, CensusCounts)> = {
                let model = self.model();
                let Some(state) = model.clinics.get(&clinic) else {
                    continue;
                };
                state
                    .clinic
                    .providers()
                    .map(|m| {
                        (
                            m.user,
                            CensusCounts::of(model.panel_members(clinic, m.user)),
                        )
                    })
                    .collect()
            };
            let id = attach_schema::ids::census_doc_id(clinic, today.year());
            let stored: BTreeMap<String, CensusCounts> = self
                .store()
                .read(&id, |doc| read_items(doc, KIND_CENSUS))?
                .transpose()?
                .unwrap_or_default();
            let changed: Vec<(String, CensusCounts)> = counts
                .into_iter()
                .map(|(p, c)| (census_key(p, month), c))
                .filter(|(k, c)| stored.get(k) != Some(c))
                .collect();
            if changed.is_empty() {
                continue;
            }
            let changed: Vec<(String, Option<CensusCounts>)> =
                changed.into_iter().map(|(k, c)| (k, Some(c))).collect();
            self.write_counts(&id, KIND_CENSUS, "count panels", &changed)?;
            written += changed.len();
        }
        if written > 0 {
            info!(records = written, "panel counts recorded");
        }
        Ok(written)
    }
}

impl App {
    /// Writes counts the node made itself (attributed to [`CENSUS`]) into one document of
    /// `kind`, one record each (`None` removes one), in one change.
    pub(super) fn write_counts<V: Serialize>(
        &self,
        id: &attach_store::DocId,
        kind: &'static str,
        what: &str,
        changed: &[(String, Option<V>)],
    ) -> Result<(), AppError> {
        let message = ChangeKind::Other(what.to_owned()).to_string();
        self.store().change(id, CENSUS.0, &message, |tx| {
            for (key, c) in changed {
                write_item(tx, kind, key, c.as_ref()).map_err(AppError::from)?;
            }
            Ok::<(), AppError>(())
        })?;
        Ok(())
    }
}

/// The estimate for the patients `counted` ([`ESTIMATE_COUNTS`]), or why there is none.
fn estimate<'a>(
    counted: impl IntoIterator<Item = &'a PanelEntry>,
    today: time::Date,
    rates: &RatesView,
    supply: Supply,
) -> Result<SupplyDemand, String> {
    attach_domain::supply_demand(
        counted,
        today,
        &rates.rates,
        supply.appointments_per_week,
        supply.weeks_per_year,
    )
    .map_err(|e| AppError::from(e).to_string())
}

/// The visit-rate table among the supply document's records (the default when none).
fn rates_in(items: &mut BTreeMap<String, serde_json::Value>) -> Result<RatesView, AppError> {
    let saved = items
        .remove(RATES_ITEM)
        .map(serde_json::from_value::<SavedRates>)
        .transpose()
        .map_err(|e| AppError::bug(format!("a stored visit-rate table does not read: {e}")))?;
    Ok(rates_view(saved))
}

fn rates_view(saved: Option<SavedRates>) -> RatesView {
    match saved {
        Some(s) => RatesView {
            rates: s.rates,
            default: false,
            saved: Some((s.by, s.at)),
        },
        None => RatesView {
            rates: VisitRates::default(),
            default: true,
            saved: None,
        },
    }
}

/// `provider`'s stated appointments among the supply document's records.
fn supply_in(
    items: &mut BTreeMap<String, serde_json::Value>,
    provider: UserId,
) -> Result<Option<Supply>, AppError> {
    items
        .remove(&supply_key(provider))
        .map(serde_json::from_value::<Supply>)
        .transpose()
        .map_err(|e| AppError::bug(format!("a stored supply record does not read: {e}")))
}

fn supply_key(provider: UserId) -> String {
    format!("provider/{}", provider.as_uuid().hyphenated())
}

#[cfg(test)]
mod tests {
    use attach_domain::VisitRateBand;
    use time::Duration;
    use time::macros::datetime;

    use super::*;
    use crate::ManualClock;
    use crate::review::{BulkAction, ReviewScope};
    use crate::tests::{Replica, seeded_with};

    fn clinic() -> (ManualClock, Replica, crate::tests::ClinicIds) {
        let clock = ManualClock::new(datetime!(2026-11-02 09:00 UTC));
        let (r, ids) = seeded_with(&clock, 60);
        (clock, r, ids)
    }

    #[test]
    fn each_month_keeps_its_last_count_and_an_unchanged_panel_writes_nothing() {
        let (clock, r, ids) = clinic();
        assert!(
            r.app
                .panel_profile(ids.patel, ids.clinic, ids.patel)
                .expect("reads")
                .census
                .is_empty(),
            "nothing counted yet"
        );
        // Both physicians' panels are counted; counting again with nothing changed writes
        // nothing.
        assert_eq!(r.app.record_census().expect("counts"), 2);
        assert_eq!(r.app.record_census().expect("counts"), 0);
        let p = r
            .app
            .panel_profile(ids.patel, ids.clinic, ids.patel)
            .expect("reads");
        assert_eq!(p.census.len(), 1);
        let nov = p.census[0];
        assert_eq!((nov.year, nov.month), (2026, 11));
        assert_eq!(nov.total, p.size);
        assert_eq!(nov.active + nov.inactive + nov.other, nov.total);

        // One patient made inactive in November: November's count follows.
        let rows = r
            .app
            .review_rows(
                ids.patel,
                ids.clinic,
                ReviewScope::Provider(ids.patel),
                &Default::default(),
            )
            .expect("rows");
        let one = rows
            .iter()
            .find(|row| row.entry.status == PatientStatus::Active)
            .expect("an active patient");
        r.app
            .bulk_change(
                ids.patel,
                ids.clinic,
                &[(ids.patel, one.entry.id)],
                BulkAction::SetStatus(PatientStatus::Inactive),
            )
            .expect("changed");
        assert_eq!(r.app.record_census().expect("counts"), 1);
        let p = r
            .app
            .panel_profile(ids.patel, ids.clinic, ids.patel)
            .expect("reads");
        assert_eq!(p.census.len(), 1);
        assert_eq!(p.census[0].inactive, nov.inactive + 1);
        assert_eq!(p.census[0].active, nov.active - 1);

        // December gets its own record; November's stays as it ended.
        clock.advance(Duration::days(31));
        assert_eq!(r.app.record_census().expect("counts"), 2);
        let p = r
            .app
            .panel_profile(ids.patel, ids.clinic, ids.patel)
            .expect("reads");
        assert_eq!(
            p.census
                .iter()
                .map(|m| (m.year, m.month))
                .collect::<Vec<_>>(),
            [(2026, 11), (2026, 12)]
        );
        assert_eq!(p.census[0].inactive, nov.inactive + 1);
        // Counting in January starts the next year's document, and both years are read.
        clock.advance(Duration::days(31));
        assert_eq!(r.app.record_census().expect("counts"), 2);
        let p = r
            .app
            .panel_profile(ids.patel, ids.clinic, ids.patel)
            .expect("reads");
        assert_eq!(p.census.len(), 3);
        assert_eq!((p.census[2].year, p.census[2].month), (2027, 1));
    }

    #[test]
    fn the_estimate_appears_once_the_appointments_are_stated_by_someone_who_may() {
        let (_clock, r, ids) = clinic();
        let p = r
            .app
            .panel_profile(ids.director, ids.clinic, ids.patel)
            .expect("a manager reads the profile");
        assert!(p.supply.is_none() && p.estimate.is_none());
        assert!(p.rates.default);
        assert_eq!(p.pyramid.totals.total, p.size);

        let err = r
            .app
            .set_supply(ids.director, ids.clinic, ids.patel, 80, 46)
            .expect_err("a manager who is not endorsed");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        let err = r
            .app
            .set_supply(ids.nguyen, ids.clinic, ids.patel, 80, 46)
            .expect_err("another physician");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        let err = r
            .app
            .set_supply(ids.moa, ids.clinic, ids.patel, 80, 0)
            .expect_err("no weeks");
        let fields: Vec<String> = match err {
            AppError::Invalid { problems, .. } => problems.into_iter().map(|p| p.field).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields, ["weeks_per_year"]);
        assert!(
            r.app
                .panel_profile(ids.patel, ids.clinic, ids.patel)
                .expect("reads")
                .supply
                .is_none(),
            "nothing stored"
        );

        r.app
            .set_supply(ids.moa, ids.clinic, ids.patel, 80, 46)
            .expect("the endorsed MOA states them");
        let p = r
            .app
            .panel_profile(ids.patel, ids.clinic, ids.patel)
            .expect("reads");
        let s = p.estimate.expect("an estimate").expect("it can be made");
        assert_eq!(s.available_visits_per_year, 80 * 46);
        assert_eq!(s.panel_size, p.counted);
        assert!(p.counted <= p.size);
        assert_eq!(p.supply.map(|s| s.by), Some(ids.moa));
    }

    #[test]
    fn only_managers_change_the_rates_a_bad_table_stores_nothing_and_none_restores_the_default() {
        let (_clock, r, ids) = clinic();
        let own = VisitRates {
            bands: vec![
                VisitRateBand {
                    min_age: 0,
                    max_age: Some(17),
                    female: 2.0,
                    male: 2.0,
                    other: 2.0,
                },
                VisitRateBand {
                    min_age: 18,
                    max_age: None,
                    female: 4.0,
                    male: 3.0,
                    other: 3.5,
                },
            ],
            source: "our billing, 2025".into(),
        };
        let err = r
            .app
            .set_visit_rates(ids.patel, ids.clinic, Some(own.clone()))
            .expect_err("a physician who is not a manager");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        let mut gap = own.clone();
        gap.bands[1].min_age = 20;
        let err = r
            .app
            .set_visit_rates(ids.director, ids.clinic, Some(gap))
            .expect_err("ages 18 and 19 have no band");
        assert!(err.to_string().contains("no band"), "{err}");
        assert!(
            r.app
                .visit_rates(ids.patel, ids.clinic)
                .expect("reads")
                .default
        );

        let saved = r
            .app
            .set_visit_rates(ids.director, ids.clinic, Some(own.clone()))
            .expect("saved");
        assert!(!saved.default);
        assert_eq!(saved.rates, own);
        assert_eq!(saved.saved.map(|(by, _)| by), Some(ids.director));
        // The estimate uses the clinic's table.
        r.app
            .set_supply(ids.patel, ids.clinic, ids.patel, 50, 40)
            .expect("stated");
        let p = r
            .app
            .panel_profile(ids.patel, ids.clinic, ids.patel)
            .expect("reads");
        assert_eq!(p.rates.rates.source, "our billing, 2025");
        let s = p.estimate.expect("stated").expect("made");
        assert!((2.0..=4.0).contains(&s.visits_per_patient), "{s:?}");

        let back = r
            .app
            .set_visit_rates(ids.moa, ids.clinic, None)
            .expect("the secondary manager restores the default");
        assert!(back.default);
        assert_eq!(back.rates, VisitRates::default());
    }
}
