//! A synthetic province for the hub's benchmarks: clinics with their providers'
//! memberships and panel preferences, written into the store as the documents clinics'
//! nodes would have synced up, and waitlist registrations as a coordinator's file would
//! bring them. Deterministic for a seed. No command people run uses it: the data is
//! generated, and `attach demo` seeds its one clinic through the ordinary use cases instead.

use std::collections::{BTreeMap, HashMap};

use time::{Duration, OffsetDateTime};

use super::App;
use super::error::AppError;
use super::history::ChangeKind;
use super::matching::WaitingInput;
use super::panel::panel_doc;
use super::registry::clinic_doc;
use crate::demo_data::Rng;
use attach_domain::matching::{PriorityFactor, fold_name};
use attach_domain::{
    Address, Clinic, ClinicId, ClinicProfile, MemberState, Membership, PanelPreferences,
    PatientInput, Phn, Role, UserId,
};
use attach_store::DocId;

/// How big a province to build.
#[derive(Debug, Clone, Copy)]
pub struct ProvinceSpec {
    pub clinics: usize,
    pub providers: usize,
    /// Communities, in a ring: each community's clinics also serve its two neighbours.
    pub communities: usize,
    pub seed: u64,
}

/// What was built.
#[derive(Debug, Clone)]
pub struct SyntheticProvince {
    pub clinics: Vec<ClinicId>,
    pub providers: Vec<UserId>,
    /// Each community's neighbours (folded names), for `MatchingConfig::catchments`.
    pub catchments: BTreeMap<String, Vec<String>>,
}

/// The name of community `i`.
pub fn community_name(i: usize) -> String {
    format!("Community {i:03}")
}

/// The author of every synthetic document (history names it, so generated data can never
/// pass for a person's work).
pub const SEEDER: UserId = UserId(uuid::Uuid::from_u128(
    0x0000_0000_0000_7000_8000_5eed_5eed_5eed,
));

/// Documents written per durable batch while seeding.
const BATCH: usize = 2_000;

impl App {
    /// Writes `spec.clinics` clinics (each with a director) and `spec.providers` providers
    /// spread over them: 80 % physicians; 70 % accepting new patients with a monthly
    /// capacity rate of 1–12 and 1–10 open requests; the rest not accepting.
    pub fn seed_synthetic_province(
        &self,
        spec: &ProvinceSpec,
    ) -> Result<SyntheticProvince, AppError> {
        let now = self.now();
        let mut rng = Rng::new(spec.seed);
        let communities = spec.communities.max(1);
        let mut clinics: Vec<Clinic> = (0..spec.clinics)
            .map(|i| {
                let profile = ClinicProfile {
                    name: format!("Synthetic Clinic {i:04}"),
                    facility_number: format!("S{i:05}"),
                    address: Address {
                        street: format!("{} Main St", 1 + i),
                        city: community_name(i % communities),
                        province: "BC".into(),
                        postal_code: "V0J 2N0".into(),
                    },
                    ..ClinicProfile::default()
                };
                Clinic::new(ClinicId::new(), profile, UserId::new(), Role::Director, now)
            })
            .collect();
        let mut prefs: HashMap<DocId, (UserId, PanelPreferences)> = HashMap::new();
        let mut providers = Vec::with_capacity(spec.providers);
        for _ in 0..spec.providers {
            let user = UserId::new();
            let clinic = &mut clinics[rng.below(spec.clinics.max(1) as u64) as usize];
            let role = if rng.below(5) == 0 {
                Role::NursePractitioner
            } else {
                Role::Physician
            };
            clinic.members.insert(
                user,
                Membership {
                    user,
                    role,
                    state: MemberState::Active,
                    since: now - Duration::days(365),
                    changed_at: now - Duration::days(365),
                    changed_by: clinic.primary,
                },
            );
            let accepting = rng.below(10) < 7;
            let p = PanelPreferences {
                accepting_new_patients: accepting,
                monthly_capacity: if accepting {
                    1 + rng.below(12) as u32
                } else {
                    0
                },
                max_open_requests: if accepting {
                    1 + rng.below(10) as u32
                } else {
                    0
                },
                ..PanelPreferences::default()
            };
            prefs.insert(panel_doc(user)?, (user, p));
            providers.push(user);
        }
        let by_doc: HashMap<DocId, &Clinic> = clinics
            .iter()
            .map(|c| Ok((clinic_doc(c.id)?, c)))
            .collect::<Result<_, AppError>>()?;
        let ids: Vec<DocId> = by_doc.keys().cloned().collect();
        for chunk in ids.chunks(BATCH) {
            self.store().change_many(
                SEEDER.0,
                &ChangeKind::CreateClinic.to_string(),
                chunk,
                |id, tx| {
                    let c = by_doc
                        .get(id)
                        .ok_or_else(|| AppError::bug("a clinic went missing"))?;
                    attach_schema::write_clinic_new(tx, c).map_err(AppError::from)
                },
            )?;
        }
        let ids: Vec<DocId> = prefs.keys().cloned().collect();
        for chunk in ids.chunks(BATCH) {
            self.store()
                .change_many(SEEDER.0, "set panel preferences", chunk, |id, tx| {
                    let (user, p) = prefs
                        .get(id)
                        .ok_or_else(|| AppError::bug("a panel went missing"))?;
                    attach_schema::write_preferences(tx, *user, p).map_err(AppError::from)
                })?;
        }
        let catchments = (0..communities)
            .map(|c| {
                (
                    fold_name(&community_name(c)),
                    vec![
                        community_name((c + 1) % communities),
                        community_name((c + communities - 1) % communities),
                    ],
                )
            })
            .collect();
        Ok(SyntheticProvince {
            clinics: clinics.iter().map(|c| c.id).collect(),
            providers,
            catchments,
        })
    }
}

/// `n` written in letters (a name field takes no digits): 0 → "A", 25 → "Z", 26 → "Ab".
fn letters(mut n: usize) -> String {
    let mut out = String::new();
    loop {
        let c = char::from(b'a' + u8::try_from(n % 26).unwrap_or(0));
        out.push(if out.is_empty() {
            c.to_ascii_uppercase()
        } else {
            c
        });
        n /= 26;
        if n == 0 {
            return out;
        }
    }
}

/// The languages other than English that synthetic people and providers name.
pub const LANGUAGES: [&str; 6] = [
    "French",
    "Punjabi",
    "Mandarin",
    "Cantonese",
    "Tagalog",
    "Spanish",
];

/// `count` waitlist rows as a coordinator's file would have them: 30 % with a priority
/// factor, 10 % in households of 2–4, 15 % naming a language other than English, 20 %
/// needing a physician, registered over the three years before `now`.
pub fn synthetic_waitlist(
    seed: u64,
    count: usize,
    communities: usize,
    now: OffsetDateTime,
) -> Vec<WaitingInput> {
    let mut rng = Rng::new(seed);
    let mut rows = Vec::with_capacity(count);
    let mut household = 0usize;
    let mut body = 10_000_000u32;
    while rows.len() < count {
        let size = if rng.below(10) == 0 {
            2 + rng.below(3) as usize
        } else {
            1
        };
        let c = rng.below(communities.max(1) as u64) as usize;
        let registered = (now - Duration::days(rng.below(3 * 365) as i64)).date();
        household += 1;
        for _ in 0..size.min(count - rows.len()) {
            let phn = loop {
                body += 1;
                if let Some(p) = Phn::from_body(body) {
                    break p;
                }
            };
            let n = rows.len();
            rows.push(WaitingInput {
                patient: PatientInput {
                    phn: phn.to_string(),
                    family_name: format!("Synthetic {}", letters(n)),
                    given_names: format!("Person {}", letters(n / 7)),
                    date_of_birth: "1980-01-01".into(),
                    sex: "unknown".into(),
                    community: community_name(c),
                    ..PatientInput::default()
                },
                languages: if rng.below(20) < 3 {
                    LANGUAGES[rng.below(6) as usize].into()
                } else {
                    String::new()
                },
                need: if rng.below(5) == 0 {
                    "physician".into()
                } else {
                    "any".into()
                },
                factors: if rng.below(10) < 3 {
                    PriorityFactor::ALL[rng.below(6) as usize].key().into()
                } else {
                    String::new()
                },
                registered_on: registered.to_string(),
                household: if size > 1 {
                    format!("H{household}")
                } else {
                    String::new()
                },
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_synthetic_registration_is_valid_and_each_phn_is_new() {
        let now = time::macros::datetime!(2026-11-23 18:00 UTC);
        let rows = synthetic_waitlist(11, 3_000, 30, now);
        assert_eq!(rows.len(), 3_000);
        let mut phns = std::collections::BTreeSet::new();
        for (i, row) in rows.iter().enumerate() {
            let p = row
                .validate(now)
                .unwrap_or_else(|e| panic!("row {i}: {e:?} in {row:?}"));
            assert!(phns.insert(p.details.phn), "row {i}: PHN twice");
        }
        assert!(rows.iter().any(|r| !r.household.is_empty()));
        assert!(rows.iter().any(|r| !r.factors.is_empty()));
    }

    #[test]
    fn a_synthetic_province_offers_its_waiting_people() {
        let dir = tempfile::tempdir().expect("a directory");
        let app = App::open_at(
            dir.path(),
            16,
            30,
            std::sync::Arc::new(crate::ManualClock::new(time::macros::datetime!(
                2026-11-23 18:00 UTC
            ))),
        )
        .expect("a store");
        let province = app
            .seed_synthetic_province(&ProvinceSpec {
                clinics: 20,
                providers: 60,
                communities: 5,
                seed: 3,
            })
            .expect("seeded");
        let mut config = app.matching_config();
        config.catchments = province.catchments;
        app.set_matching_config(config);
        let rows = synthetic_waitlist(5, 400, 5, time::macros::datetime!(2026-11-23 18:00 UTC));
        app.register_waiting_many(crate::COORDINATOR, &rows)
            .expect("registered");
        let report = app.run_matching(crate::COORDINATOR).expect("a round");
        assert!(report.offers > 0, "{report:?}");
        assert_eq!(report.considered, 400, "{report:?}");
    }
}
