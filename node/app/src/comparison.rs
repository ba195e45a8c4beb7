//! The provincial comparison of clinics' measures, without moving identities.
//!
//! A clinic node counts, every hour with the panel counts, each measure over the whole
//! clinic: for each registry Attach ships, the patients on it of all the clinic's patients;
//! for each shipped care-gap rule, the eligible patients with no open gap (done in time and
//! in target) of those eligible. It writes only the counts, one record per measure and month,
//! into `clinic/<c>/measures/<year>`, which is in the clinic's family and so reaches the hub
//! with the clinic. A clinic that changed a registry's codes or a rule sends nothing for it
//! (it measures something else), and a node that holds no clinical records for the clinic
//! sends nothing at all (a node not yet synced with its LAN peers would send zeros).
//!
//! The hub groups clinics by the community of their address and the health authority that
//! serves it (`[matching.health_authorities]`), and shows each measure for every clinic,
//! community, health authority and the province, with small cells suppressed as
//! `attach_domain::clinical::comparison` says. No patient's clinical data ever leaves the
//! clinic: only these counts do.

use std::collections::BTreeMap;

use time::Date;
use tracing::info;

use attach_domain::clinical::catalogue::shipped;
use attach_domain::clinical::comparison::{Cell, Count, Part};
use attach_domain::matching::fold_name;
use attach_domain::{ClinicId, UserId};
use attach_schema::work::{KIND_MEASURES, read_items};

use super::clinical::compiled_of;
use super::{App, AppError};

/// One measure the clinics send: `registry:<key>` or `gap:<key>`, and what it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasureName {
    pub key: String,
    pub name: String,
}

/// Every measure of the comparison, in the shipped catalogue's order: registries, then
/// care-gap rules.
pub fn comparison_measures() -> Vec<MeasureName> {
    let cat = shipped();
    cat.registries
        .iter()
        .map(|r| MeasureName {
            key: format!("registry:{}", r.key),
            name: format!("{}: patients on the registry, of all patients", r.name),
        })
        .chain(cat.gaps.iter().map(|g| MeasureName {
            key: format!("gap:{}", g.key),
            name: format!(
                "{}: patients up to date and in target, of those eligible",
                g.name
            ),
        }))
        .collect()
}

/// A month as typed (`2026-11`), as its first day; `None` when empty (the current month).
pub fn parse_month(raw: &str) -> Result<Option<Date>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    Date::parse(
        &format!("{raw}-01"),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map(Some)
    .map_err(|_| AppError::invalid("month", format!("\"{raw}\" is not a month such as 2026-11")))
}

fn record_key(measure: &str, month: u8) -> String {
    format!("{measure}/{month:02}")
}

/// One clinic's cell in the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct ClinicCell {
    pub clinic: ClinicId,
    pub name: String,
    pub cell: Cell,
}

/// A community's clinics and total.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityCell {
    pub name: String,
    pub cell: Cell,
    pub clinics: Vec<ClinicCell>,
}

/// A health authority's communities and total.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorityCell {
    /// The authority's name, or "No health authority" for communities in none.
    pub name: String,
    pub cell: Cell,
    pub communities: Vec<CommunityCell>,
}

/// One measure in one month, across the province.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub measure: MeasureName,
    pub year: i32,
    pub month: u8,
    pub province: Cell,
    pub authorities: Vec<AuthorityCell>,
    /// Clinics that sent the measure for the month, of the clinics the hub holds.
    pub clinics_sent: usize,
    pub clinics: usize,
}

/// The name communities in no configured health authority are grouped under.
pub const NO_AUTHORITY: &str = "No health authority";

impl App {
    /// The clinic's measure counts now, or `None` when this node holds no clinical records
    /// for it. Only measures whose definition is the shipped one are counted.
    fn clinic_measures(&self, clinic: ClinicId) -> Result<Option<Vec<(String, Count)>>, AppError> {
        let providers: Vec<UserId> = {
            let model = self.model();
            let Some(state) = model.clinics.get(&clinic) else {
                return Ok(None);
            };
            state.clinic.providers().map(|m| m.user).collect()
        };
        let o = self.overview_of(clinic, &providers)?;
        if o.with_data == 0 {
            return Ok(None);
        }
        let compiled = compiled_of(self.model().clinical.get(&clinic));
        let ours = compiled.catalogue();
        let ship = shipped();
        let count = |n: usize, d: usize| {
            Count::new(
                u32::try_from(n).unwrap_or(u32::MAX),
                u32::try_from(d).unwrap_or(u32::MAX),
            )
        };
        // The registries and rules whose definition here is the shipped one.
        let same_registries: std::collections::BTreeSet<&str> = ship
            .registries
            .iter()
            .filter(|s| {
                ours.registries
                    .iter()
                    .any(|o| o.key == s.key && o.codes == s.codes)
            })
            .map(|s| s.key.as_str())
            .collect();
        let mut out = Vec::new();
        for r in &o.registries {
            if same_registries.contains(r.key.as_str()) {
                out.push((
                    format!("registry:{}", r.key),
                    count(r.patients, o.population),
                ));
            }
        }
        for g in &o.gaps {
            let Some(shipped_rule) = ship.gaps.iter().find(|s| s.key == g.key) else {
                continue;
            };
            let same = ours.gaps.iter().any(|o| o == shipped_rule);
            // The rule's registry must be kept and the shipped one too, or its population
            // differs.
            let registry_same = shipped_rule.population.registry.as_ref().is_none_or(|k| {
                same_registries.contains(k.as_str()) && o.registries.iter().any(|r| r.key == *k)
            });
            if same && registry_same {
                out.push((
                    format!("gap:{}", g.key),
                    count(g.eligible - g.open.min(g.eligible), g.eligible),
                ));
            }
        }
        Ok(Some(out))
    }

    /// Brings this month's measure counts of every clinic this node holds clinical records
    /// for up to date, writing only the counts that changed (one change per clinic).
    /// Returns the number of records written. Clinic nodes run it with the panel counts,
    /// when they start and every hour; the hub never does (it holds no clinical records).
    pub fn record_measures(&self) -> Result<usize, AppError> {
        let today = self.clinic_today();
        let month = u8::from(today.month());
        let mut written = 0;
        for clinic in self.clinic_ids() {
            let Some(counts) = self.clinic_measures(clinic)? else {
                continue;
            };
            let id = attach_schema::ids::measures_doc_id(clinic, today.year());
            let stored: BTreeMap<String, Count> = self
                .store()
                .read(&id, |doc| read_items(doc, KIND_MEASURES))?
                .transpose()?
                .unwrap_or_default();
            let now: BTreeMap<String, Count> = counts
                .into_iter()
                .map(|(m, c)| (record_key(&m, month), c))
                .collect();
            let suffix = format!("/{month:02}");
            // This month's counts of measures the clinic no longer sends (a registry turned
            // off or recoded) go: the month then says nothing of them.
            let changed: Vec<(String, Option<Count>)> = now
                .iter()
                .filter(|(k, c)| stored.get(*k) != Some(*c))
                .map(|(k, c)| (k.clone(), Some(*c)))
                .chain(
                    stored
                        .keys()
                        .filter(|k| k.ends_with(&suffix) && !now.contains_key(*k))
                        .map(|k| (k.clone(), None)),
                )
                .collect();
            if changed.is_empty() {
                continue;
            }
            self.write_counts(&id, KIND_MEASURES, "count measures", &changed)?;
            written += changed.len();
        }
        if written > 0 {
            info!(records = written, "measure counts recorded");
        }
        Ok(written)
    }

    /// The comparison for a coordinator: `measure` (a key of [`comparison_measures`]) in
    /// the month of `day` (the province's current month when `None`).
    pub fn coordinator_comparison(
        &self,
        who: UserId,
        measure: &str,
        day: Option<Date>,
    ) -> Result<Comparison, AppError> {
        self.coordinator(who)?;
        self.province_comparison(measure, day.unwrap_or_else(|| self.clinic_today()))
    }

    /// One measure (the first of [`comparison_measures`] when `measure` is empty) in the
    /// month of `day`, for every clinic the hub holds, by community, health authority and
    /// the province, small cells suppressed.
    pub fn province_comparison(&self, measure: &str, day: Date) -> Result<Comparison, AppError> {
        let measure = measure.trim();
        let name = comparison_measures()
            .into_iter()
            .enumerate()
            .find(|(i, m)| m.key == measure || (measure.is_empty() && *i == 0))
            .map(|(_, m)| m)
            .ok_or_else(|| {
                AppError::invalid(
                    "measure",
                    format!("there is no measure \"{measure}\" in the comparison"),
                )
            })?;
        let (year, month) = (day.year(), u8::from(day.month()));
        let authority_of = self.matching_config().health_authority_of;
        let clinics: Vec<(ClinicId, String, String)> = {
            let model = self.model();
            model
                .clinics
                .values()
                .map(|s| {
                    let p = &s.clinic.profile;
                    (
                        s.clinic.id,
                        p.name.clone(),
                        p.address.city.trim().to_owned(),
                    )
                })
                .collect()
        };
        let key = record_key(&name.key, month);
        // authority → community (folded) → (shown name, clinics)
        type Communities = BTreeMap<String, (String, Vec<(String, ClinicId, Count)>)>;
        let mut tree: BTreeMap<String, Communities> = BTreeMap::new();
        let mut sent = 0;
        for (id, clinic_name, city) in &clinics {
            let doc = attach_schema::ids::measures_doc_id(*id, year);
            let items: BTreeMap<String, Count> = self
                .store()
                .read(&doc, |d| read_items(d, KIND_MEASURES))?
                .transpose()?
                .unwrap_or_default();
            let Some(count) = items.get(&key).copied() else {
                continue;
            };
            sent += 1;
            let folded = fold_name(city);
            let authority = authority_of
                .get(&folded)
                .cloned()
                .unwrap_or_else(|| NO_AUTHORITY.to_owned());
            let community = if city.is_empty() {
                "No community given".to_owned()
            } else {
                city.clone()
            };
            tree.entry(authority)
                .or_default()
                .entry(folded)
                .or_insert_with(|| (community, Vec::new()))
                .1
                .push((clinic_name.clone(), *id, count));
        }
        let mut authorities = Vec::new();
        let mut authority_parts = Vec::new();
        for (authority, communities) in tree {
            let mut rows = Vec::new();
            let mut parts = Vec::new();
            for (_, (community, mut members)) in communities {
                members.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
                let clinic_parts: Vec<Part> =
                    members.iter().map(|(_, _, c)| Part::clinic(*c)).collect();
                let part = Part::group(&clinic_parts);
                parts.push(part);
                rows.push(CommunityCell {
                    name: community,
                    cell: part.cell,
                    clinics: members
                        .into_iter()
                        .zip(clinic_parts)
                        .map(|((name, clinic, _), p)| ClinicCell {
                            clinic,
                            name,
                            cell: p.cell,
                        })
                        .collect(),
                });
            }
            let part = Part::group(&parts);
            authority_parts.push(part);
            authorities.push(AuthorityCell {
                name: authority,
                cell: part.cell,
                communities: rows,
            });
        }
        Ok(Comparison {
            measure: name,
            year,
            month,
            province: Part::group(&authority_parts).cell,
            authorities,
            clinics_sent: sent,
            clinics: clinics.len(),
        })
    }
}

#[cfg(test)]
#[path = "comparison_tests.rs"]
mod tests;
