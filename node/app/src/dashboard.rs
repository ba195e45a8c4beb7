//! Dashboards: panel sizes against the providers' wishes, counts by status, and how many
//! patients were added and removed per month. Counts only, read from the read model.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{App, AppError};
use attach_domain::{ClinicId, PanelEntry, PatientStatus, UserId};

/// How many months the dashboards chart, the current one included.
pub const ACTIVITY_MONTHS: usize = 12;

/// Patients added to and removed from panels in one calendar month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthActivity {
    pub year: i32,
    pub month: time::Month,
    pub added: usize,
    pub removed: usize,
}

/// One provider's line on the clinic dashboard.
#[derive(Debug, Clone)]
pub struct ProviderSize {
    pub provider: UserId,
    pub name: String,
    pub size: usize,
    pub desired: u32,
    pub accepting_new_patients: bool,
    /// Whether the viewer may open this provider's panel (to link to it).
    pub can_open: bool,
}

/// The clinic dashboard: every active provider's panel size, and clinic totals.
#[derive(Debug, Clone)]
pub struct ClinicDashboard {
    pub providers: Vec<ProviderSize>,
    pub size: usize,
    pub desired: u64,
    pub by_status: Vec<(PatientStatus, usize)>,
    pub activity: Vec<MonthActivity>,
}

fn month_index(t: OffsetDateTime) -> i64 {
    i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1
}

/// Additions and removals per month for the `months` months up to and including the
/// month of `now`, oldest first. An addition is counted in the month of `added_at`, a
/// removal in the month of its `removed.at`. A patient removed and later added back on
/// the same entry counts only the latest addition: the read model keeps the current
/// state of an entry, not each earlier removal (those are in the entry's history).
pub fn monthly_activity<'a>(
    entries: impl Iterator<Item = &'a PanelEntry>,
    now: OffsetDateTime,
    months: usize,
) -> Vec<MonthActivity> {
    let last = month_index(now);
    let first = last - months as i64 + 1;
    let slot = |t: OffsetDateTime| {
        let i = month_index(t);
        (first..=last).contains(&i).then(|| (i - first) as usize)
    };
    let mut added = vec![0usize; months];
    let mut removed = vec![0usize; months];
    for e in entries {
        if let Some(i) = slot(e.added_at) {
            added[i] += 1;
        }
        if let Some(i) = e.removed.as_ref().and_then(|r| slot(r.at)) {
            removed[i] += 1;
        }
    }
    (0..months)
        .map(|i| {
            let index = first + i as i64;
            let month = u8::try_from(index.rem_euclid(12) + 1)
                .ok()
                .and_then(|m| time::Month::try_from(m).ok())
                .unwrap_or(time::Month::January);
            MonthActivity {
                year: i32::try_from(index.div_euclid(12)).unwrap_or_default(),
                month,
                added: added[i],
                removed: removed[i],
            }
        })
        .collect()
}

impl App {
    /// Additions and removals per month on one provider's panel, for those who may see it.
    pub fn panel_activity(
        &self,
        who: UserId,
        clinic: ClinicId,
        provider: UserId,
    ) -> Result<Vec<MonthActivity>, AppError> {
        self.readable_panel(who, clinic, provider)?;
        let now = self.now();
        let model = self.model();
        let entries = model
            .panels
            .get(&(clinic, provider))
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| model.entries.get(id))
            .map(|s| &s.entry);
        Ok(monthly_activity(entries, now, ACTIVITY_MONTHS))
    }

    /// The clinic's dashboard. Every active member may see it: it holds counts, never a
    /// patient, so staff not endorsed for a panel still see how full the clinic is.
    pub fn clinic_dashboard(
        &self,
        who: UserId,
        clinic: ClinicId,
    ) -> Result<ClinicDashboard, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let now = self.now();
        let model = self.model();
        let mut by_status: HashMap<PatientStatus, usize> = HashMap::new();
        let mut providers: Vec<ProviderSize> = c
            .providers()
            .map(|m| {
                let (size, counts) = model.panel_counts(clinic, m.user);
                for (status, n) in counts {
                    *by_status.entry(status).or_default() += n;
                }
                let preferences = model.preferences.get(&m.user).cloned().unwrap_or_default();
                ProviderSize {
                    provider: m.user,
                    name: model
                        .accounts
                        .get(&m.user)
                        .map_or_else(|| m.user.to_string(), |a| a.display_name.clone()),
                    size,
                    desired: preferences.desired_panel_size,
                    accepting_new_patients: preferences.accepting_new_patients,
                    can_open: c.can_manage_panel(who, m.user) || c.is_account_manager(who),
                }
            })
            .collect();
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        let entries = model
            .entries
            .values()
            .map(|s| &s.entry)
            .filter(|e| e.clinic == clinic);
        let activity = monthly_activity(entries, now, ACTIVITY_MONTHS);
        let mut by_status: Vec<_> = by_status.into_iter().collect();
        by_status.sort();
        Ok(ClinicDashboard {
            size: providers.iter().map(|p| p.size).sum(),
            desired: providers.iter().map(|p| u64::from(p.desired)).sum(),
            providers,
            by_status,
            activity,
        })
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use attach_domain::{Contact, EntryId, HowAdded, PatientDetails, Phn, Removal, Sex};

    fn entry(added: OffsetDateTime, removed: Option<OffsetDateTime>) -> PanelEntry {
        let user = UserId::new();
        PanelEntry {
            id: EntryId::new(),
            provider: user,
            clinic: ClinicId::new(),
            details: PatientDetails {
                phn: "9123456780".parse::<Phn>().expect("a valid test PHN"),
                family_name: "Test".into(),
                given_names: "Pat".into(),
                date_of_birth: date!(1980 - 01 - 01),
                sex: Sex::Unknown,
                contact: Contact::default(),
                community: String::new(),
                last_visit: None,
            },
            status: PatientStatus::Active,
            mrp: None,
            added_at: added,
            added_by: user,
            how_added: HowAdded::Manual,
            review: Default::default(),
            removed: removed.map(|at| Removal {
                at,
                by: user,
                reason: "moved".into(),
                disposition: Default::default(),
            }),
        }
    }

    #[test]
    fn counts_additions_and_removals_in_their_months_over_the_last_twelve() {
        let now = datetime!(2026-11-23 12:00 UTC);
        let entries = [
            entry(datetime!(2026-11-01 00:00 UTC), None),
            entry(datetime!(2026-11-20 10:00 UTC), None),
            // Added in December last year (the first month shown), removed in March.
            entry(
                datetime!(2025-12-31 23:59 UTC),
                Some(datetime!(2026-03-05 08:00 UTC)),
            ),
            // Too old to show: its removal this month still counts.
            entry(
                datetime!(2025-11-30 09:00 UTC),
                Some(datetime!(2026-11-02 09:00 UTC)),
            ),
        ];
        let months = monthly_activity(entries.iter(), now, 12);
        assert_eq!(months.len(), 12);
        let first = months[0];
        assert_eq!((first.year, first.month), (2025, time::Month::December));
        assert_eq!((first.added, first.removed), (1, 0));
        let march = months[3];
        assert_eq!((march.year, march.month), (2026, time::Month::March));
        assert_eq!((march.added, march.removed), (0, 1));
        let last = months[11];
        assert_eq!((last.year, last.month), (2026, time::Month::November));
        assert_eq!((last.added, last.removed), (2, 1));
        let added: usize = months.iter().map(|m| m.added).sum();
        assert_eq!(
            added, 3,
            "the entry added 13 months ago is outside the chart"
        );
    }

    #[test]
    fn an_empty_panel_has_twelve_empty_months_ending_now() {
        let months = monthly_activity([].iter(), datetime!(2026-01-15 00:00 UTC), 12);
        assert_eq!(
            (months[0].year, months[0].month),
            (2025, time::Month::February)
        );
        assert_eq!(
            (months[11].year, months[11].month),
            (2026, time::Month::January)
        );
        assert!(months.iter().all(|m| m.added == 0 && m.removed == 0));
    }
}
