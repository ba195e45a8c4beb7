//! Seeding the demo clinic through the same app functions people use.

use time::OffsetDateTime;

use super::registry::{DelegationAction, InitClinic, MemberAction};
use super::{App, AppError};
use crate::demo_data::Rng;
use attach_auth::Credentials;
use attach_domain::{
    Address, ClinicId, DayHours, Location, LocationId, PanelPreferences, PatientDetails,
    PatientStatus, Role, UserId,
};

/// One demo person with a fixed, public password.
#[derive(Debug, Clone)]
pub struct DemoMember {
    pub username: String,
    pub password: String,
    pub display_name: String,
    pub role: Role,
}

/// The demo clinic: the first member is the director; licensed members get panels.
#[derive(Debug, Clone)]
pub struct DemoSetup {
    pub clinic_name: String,
    pub facility_number: String,
    pub members: Vec<DemoMember>,
    pub patients: Vec<PatientDetails>,
    pub seed: u64,
    /// Whether `patients` also get synthetic clinical records (`demo_clinical`).
    pub clinical_records: bool,
}

/// Seed of the synthetic population: the demo is the same on every machine.
pub const DEMO_SEED: u64 = 20_261_101;

/// One demo login, printed at start-up.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub username: &'static str,
    pub password: &'static str,
    pub who: &'static str,
}

/// The demo clinic's people. Demo passwords are public by design: this data is synthetic.
pub const LOGINS: &[(&str, &str, &str, Role, &str)] = &[
    // username, password, display name, role, description
    (
        "director",
        "demo-director-pw",
        "Dana Whitford",
        Role::Director,
        "clinic director, primary account manager",
    ),
    (
        "drpatel",
        "demo-drpatel-pw",
        "Dr. Anika Patel",
        Role::Physician,
        "family physician",
    ),
    (
        "drnguyen",
        "demo-drnguyen-pw",
        "Dr. Minh Nguyen",
        Role::Physician,
        "family physician",
    ),
    (
        "drmacdonald",
        "demo-drmacdonald-pw",
        "Dr. Ian MacDonald",
        Role::Physician,
        "family physician",
    ),
    (
        "npsingh",
        "demo-npsingh-pw",
        "Harleen Singh, NP",
        Role::NursePractitioner,
        "nurse practitioner",
    ),
    (
        "moa.chen",
        "demo-moachen-pw",
        "Grace Chen",
        Role::MedicalOfficeAssistant,
        "MOA, secondary account manager, endorsed by Dr. Patel",
    ),
    (
        "moa.roy",
        "demo-moaroy-pw",
        "Luc Roy",
        Role::MedicalOfficeAssistant,
        "MOA, endorsement from Dr. Nguyen awaiting confirmation",
    ),
];

/// The demo clinic (its name, the people of `LOGINS`) with `patients` spread over its
/// providers' panels. Tests build their clinic from this too.
pub fn setup(patients: Vec<PatientDetails>) -> DemoSetup {
    DemoSetup {
        clinic_name: "Bulkley Valley Family Practice".to_owned(),
        facility_number: "V0J2N0".to_owned(),
        members: LOGINS
            .iter()
            .map(|(username, password, name, role, _)| DemoMember {
                username: (*username).to_owned(),
                password: (*password).to_owned(),
                display_name: (*name).to_owned(),
                role: *role,
            })
            .collect(),
        patients,
        seed: DEMO_SEED,
        clinical_records: true,
    }
}

/// The demo clinic with `patients` synthetic people (born relative to `today`), the
/// same on every machine.
pub fn demo_clinic(patients: usize, today: time::Date) -> DemoSetup {
    setup(crate::demo_data::patients(DEMO_SEED, patients, today))
}

impl App {
    pub fn today(&self) -> time::Date {
        self.now().date()
    }

    /// The demo clinic's address, numbers, opening hours and a satellite office, as a
    /// director would enter them on the clinic details page.
    fn seed_demo_profile(&self, director: UserId, clinic: ClinicId) -> Result<(), AppError> {
        let mut profile = self.clinic(director, clinic)?.profile;
        profile.address = Address {
            street: "3868 First Avenue".to_owned(),
            city: "Smithers".to_owned(),
            province: "BC".to_owned(),
            postal_code: "V0J 2N0".to_owned(),
        };
        profile.phone = "250-555-0140".to_owned();
        profile.fax = "250-555-0141".to_owned();
        let at = |h: u8, m: u8| {
            time::Time::from_hms(h, m, 0).map_err(|e| AppError::internal("demo opening hours", e))
        };
        for day in 1..=5 {
            profile.hours.insert(
                day,
                DayHours {
                    opens: at(8, 30)?,
                    closes: at(17, 0)?,
                },
            );
        }
        profile.hours.insert(
            6,
            DayHours {
                opens: at(9, 0)?,
                closes: at(12, 0)?,
            },
        );
        self.update_profile(director, clinic, profile)?;
        self.save_location(
            director,
            clinic,
            Location {
                id: LocationId::new(),
                name: "Telkwa satellite office".to_owned(),
                address: Address {
                    street: "1415 Highway 16".to_owned(),
                    city: "Telkwa".to_owned(),
                    province: "BC".to_owned(),
                    postal_code: "V0J 2X0".to_owned(),
                },
                phone: "250-555-0150".to_owned(),
                retired: false,
            },
        )?;
        Ok(())
    }

    /// Creates the demo clinic, unless its director already exists (then nothing is
    /// written and `false` is returned, so re-running the demo reopens the data).
    pub fn seed_demo(&self, setup: &DemoSetup) -> Result<bool, AppError> {
        let Some((director, others)) = setup.members.split_first() else {
            return Err(AppError::invalid("members", "the demo needs a director"));
        };
        if self.model().user_by_name(&director.username).is_some() {
            return Ok(false);
        }
        let now = self.now();
        let created = self.init_clinic(&InitClinic {
            clinic_name: setup.clinic_name.clone(),
            facility_number: setup.facility_number.clone(),
            director_username: director.username.clone(),
            director_name: director.display_name.clone(),
            director_email: format!("{}@clinic.example.org", director.username),
        })?;
        let clinic = created.clinic;
        let director_id = self.user_id(&director.username)?;
        self.set_demo_password(director_id, &director.password, now)?;
        self.seed_demo_profile(director_id, clinic)?;

        let mut ids = Vec::new();
        for m in others {
            let (view, _) = self.add_member(
                director_id,
                clinic,
                &m.username,
                &m.display_name,
                &format!("{}@clinic.example.org", m.username.replace('.', "")),
                m.role,
            )?;
            let user = view.membership.user;
            self.member_action(director_id, clinic, user, MemberAction::Activate)?;
            self.set_demo_password(user, &m.password, now)?;
            ids.push((user, m.role));
        }
        let providers: Vec<UserId> = ids
            .iter()
            .filter(|(_, r)| matches!(r, Role::Physician | Role::NursePractitioner))
            .map(|(u, _)| *u)
            .collect();
        let staff: Vec<UserId> = ids
            .iter()
            .filter(|(_, r)| matches!(r, Role::MedicalOfficeAssistant | Role::OtherStaff))
            .map(|(u, _)| *u)
            .collect();

        // The first MOA is the secondary manager and manages the first physician's panel;
        // the second MOA has an endorsement waiting for their confirmation.
        if let Some(&moa) = staff.first() {
            self.set_secondary(director_id, clinic, Some(moa))?;
            if let Some(&provider) = providers.first() {
                let d = self.start_delegation(provider, clinic, provider, moa)?;
                self.delegation_action(moa, clinic, d.id, DelegationAction::Confirm)?;
            }
        }
        if let (Some(&moa), Some(&provider)) = (staff.get(1), providers.get(1)) {
            self.start_delegation(provider, clinic, provider, moa)?;
        }

        let statuses = [
            (
                "Moved away",
                "Patient has told the clinic they moved out of the community.",
            ),
            (
                "Deceased",
                "Patient has died; kept for records until removed.",
            ),
            ("Palliative", "Receiving palliative care; visits at home."),
        ];
        let mut custom = Vec::new();
        for (name, definition) in statuses {
            custom.push(
                self.create_status(director_id, clinic, name, definition)?
                    .id,
            );
        }

        let mut rng = Rng::new(setup.seed);
        for (i, &provider) in providers.iter().enumerate() {
            let preferences = PanelPreferences {
                accepting_new_patients: i % 2 == 0,
                monthly_capacity: [10, 0, 15, 25][i % 4],
                desired_panel_size: [1_300, 1_100, 1_250, 900][i % 4],
                max_open_requests: [5, 0, 8, 10][i % 4],
                languages: [
                    &["English"][..],
                    &["English", "French"],
                    &["English", "Punjabi", "Hindi"],
                    &["English", "Cantonese", "Mandarin"],
                ][i % 4]
                    .iter()
                    .map(|l| (*l).to_owned())
                    .collect(),
                // Every demo provider but the last has one, so the billing export shows
                // what a missing number looks like.
                practitioner_number: (i + 1 < providers.len())
                    .then(|| format!("{:05}", 91_000 + i * 17)),
            };
            self.set_preferences(provider, clinic, provider, preferences)?;
        }
        self.seed_patients(clinic, &providers, &custom, &setup.patients, &mut rng)?;
        if setup.clinical_records {
            self.seed_demo_clinical(director_id, clinic, &setup.patients, setup.seed)?;
            if let Some(&provider) = providers.first() {
                self.seed_demo_qi(provider, clinic)?;
            }
        }
        Ok(true)
    }

    /// A QI cycle on the first provider's diabetes patients, begun a year ago (its points
    /// are taken from the demo's records when it is first shown), with a change idea tried
    /// four months ago.
    fn seed_demo_qi(&self, provider: UserId, clinic: ClinicId) -> Result<(), AppError> {
        let today = self.clinic_today();
        let first = attach_domain::qi::runchart::Month::of(today - time::Duration::days(365))
            .map_err(|e| AppError::bug(e.to_string()))?;
        let id = self.create_qi_cycle(
            provider,
            clinic,
            &crate::CycleForm {
                title: "Diabetes: HbA1c testing and control".to_owned(),
                improve: "HbA1c tested every 6 months and in target".to_owned(),
                from: String::new(),
                to: "70".to_owned(),
                unit: "%".to_owned(),
                by: (today + time::Duration::days(270)).to_string(),
                first_month: first.to_string(),
                provider: provider.to_string(),
                registry: "diabetes".to_owned(),
                ..crate::CycleForm::default()
            },
        )?;
        for (name, kind, definition) in [
            ("HbA1c in target", "outcome", "gap_in_target:diabetes_hba1c"),
            (
                "HbA1c tested in 6 months",
                "process",
                "gap_up_to_date:diabetes_hba1c",
            ),
        ] {
            self.save_qi_measure(
                provider,
                clinic,
                id,
                None,
                &crate::MeasureForm {
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    direction: "up".to_owned(),
                    definition: definition.to_owned(),
                    baseline_points: "6".to_owned(),
                    ..crate::MeasureForm::default()
                },
            )?;
        }
        self.save_qi_change(
            provider,
            clinic,
            id,
            None,
            &crate::ChangeForm {
                title: "Standing orders: MOAs order HbA1c at check-in when due".to_owned(),
                started: (today - time::Duration::days(120)).to_string(),
                plan: "Every diabetes patient checked in is looked up on the recall list; \
                       the MOA orders the HbA1c when it is due. We predict testing rises first."
                    .to_owned(),
                ..crate::ChangeForm::default()
            },
        )?;
        Ok(())
    }

    fn seed_patients(
        &self,
        clinic: ClinicId,
        providers: &[UserId],
        custom: &[attach_domain::StatusId],
        patients: &[PatientDetails],
        rng: &mut Rng,
    ) -> Result<(), AppError> {
        if providers.is_empty() {
            return Ok(());
        }
        let mut per_provider: Vec<Vec<attach_interop::ImportRow>> =
            vec![Vec::new(); providers.len()];
        for p in patients {
            let status = match rng.below(100) {
                0..=79 => PatientStatus::Active,
                80..=93 => PatientStatus::Inactive,
                _ if !custom.is_empty() => {
                    PatientStatus::Custom(custom[rng.below(custom.len() as u64) as usize])
                }
                _ => PatientStatus::Inactive,
            };
            let slot = rng.below(providers.len() as u64) as usize;
            per_provider[slot].push(attach_interop::ImportRow {
                details: p.clone(),
                status,
                mrp_confirmed: rng.chance(70),
            });
        }
        for (provider, rows) in providers.iter().zip(per_provider) {
            self.add_rows(
                *provider,
                clinic,
                *provider,
                rows,
                attach_domain::HowAdded::CsvUpload,
            )?;
        }
        Ok(())
    }

    fn user_id(&self, username: &str) -> Result<UserId, AppError> {
        self.model()
            .user_by_name(username)
            .map(|a| a.id)
            .ok_or_else(|| AppError::not_found(format!("user {username:?}")))
    }

    /// Demo accounts get their published passwords, not temporary ones.
    fn set_demo_password(
        &self,
        user: UserId,
        password: &str,
        now: OffsetDateTime,
    ) -> Result<(), AppError> {
        let credentials =
            Credentials::permanent(password, now).map_err(|e| AppError::internal("hashing", e))?;
        self.write_credentials(user, user, &credentials, "set demo password")
    }
}
