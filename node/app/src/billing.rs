//! Attachment records for billing: every patient newly attached to a provider in a period —
//! through a provincial match, or transferred from a colleague's panel at the clinic —
//! with the provider's MSP practitioner number and the $0 attachment fee code 98990.
//!
//! One function serves the clinic (its providers, as far as the person asking may see them),
//! the clinic's node offline (`attach export attachments`) and the hub (every clinic, or one).
//! Dates are the province's local dates (`ProvinceClock`). A provider without a practitioner
//! number is listed with the records, never silently left with an empty column.

use std::collections::{BTreeMap, BTreeSet};

use time::Date;

use super::matching::{COORDINATOR, attachment_entry};
use super::{App, AppError};
use attach_domain::matching::PersonOutcome;
use attach_domain::{ClinicId, EntryId, HowAdded, PanelEntry, Phn, UserId};

/// The MSP fee code of an attachment (billed at $0: it registers the attachment).
pub const ATTACHMENT_FEE_CODE: &str = "98990";

/// The columns of the billing file, in order.
pub const ATTACHMENT_COLUMNS: [&str; 8] = [
    "phn",
    "practitioner_number",
    "attachment_date",
    "fee_code",
    "provider",
    "facility_number",
    "clinic",
    "how_attached",
];

/// Whose attachments, as whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingScope {
    /// A signed-in member of `clinic`: its account managers see every provider's, a provider
    /// their own, a delegate those of the providers who endorsed them.
    Member { who: UserId, clinic: ClinicId },
    /// The clinic's node, offline (`attach export attachments`): every provider's.
    Node { clinic: ClinicId },
    /// The hub (a provincial coordinator): every clinic's, or one clinic's. Only
    /// attachments through offers the hub made count.
    Province { clinic: Option<ClinicId> },
}

/// Dates on the wire as `YYYY-MM-DD`.
mod day {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse_day("date", &raw).map_err(|_| serde::de::Error::custom("not YYYY-MM-DD"))
    }
}

/// One attachment to bill. This and [`AttachmentExport`] are the wire form too (the clinic's
/// API and the hub's admin API answer with them; `attach hub attachments` reads them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttachmentRecord {
    pub phn: Phn,
    /// `None`: the provider has not set one yet (see [`AttachmentExport::missing`]).
    pub practitioner_number: Option<String>,
    /// The attachment's date in the province.
    #[serde(with = "day")]
    pub date: Date,
    /// Always [`ATTACHMENT_FEE_CODE`].
    pub fee_code: String,
    pub provider: UserId,
    pub provider_name: String,
    pub clinic: ClinicId,
    pub facility_number: String,
    /// `match` or `transfer`.
    pub how: String,
}

/// A provider with attachments in the period and no practitioner number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MissingNumber {
    pub provider: UserId,
    pub name: String,
    pub clinic: ClinicId,
    pub attachments: usize,
}

/// The attachments of a period.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttachmentExport {
    #[serde(with = "day")]
    pub from: Date,
    #[serde(with = "day")]
    pub to: Date,
    pub records: Vec<AttachmentRecord>,
    /// Providers whose records have an empty practitioner number: set it on their panel
    /// preferences, then export the period again.
    pub missing: Vec<MissingNumber>,
}

fn parse_day(field: &str, raw: &str) -> Result<Date, AppError> {
    Date::parse(
        raw.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| AppError::invalid(field, "write the date as YYYY-MM-DD"))
}

/// The first and last day of a period as typed (both included).
pub fn parse_period(from: &str, to: &str) -> Result<(Date, Date), AppError> {
    let (f, t) = (parse_day("from", from), parse_day("to", to));
    match (f, t) {
        (Ok(f), Ok(t)) if f <= t => Ok((f, t)),
        (Ok(_), Ok(_)) => Err(AppError::invalid(
            "to",
            "the last day comes before the first day",
        )),
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

impl App {
    /// This month so far, in the province's dates: the period a billing form starts with.
    pub fn billing_month(&self) -> (Date, Date) {
        let today = self.matching_config().clock.local_date(self.now());
        (today.replace_day(1).unwrap_or(today), today)
    }

    /// Every clinic's attachment records in the period, for a provincial coordinator at the
    /// hub's pages.
    pub fn coordinator_attachment_records(
        &self,
        who: UserId,
        from: &str,
        to: &str,
    ) -> Result<AttachmentExport, AppError> {
        self.coordinator(who)?;
        self.attachment_records(BillingScope::Province { clinic: None }, from, to)
    }

    /// The attachments in the period `from`..=`to` (YYYY-MM-DD, the province's local dates)
    /// that `scope` may see, in date order (then provider, then PHN).
    pub fn attachment_records(
        &self,
        scope: BillingScope,
        from: &str,
        to: &str,
    ) -> Result<AttachmentExport, AppError> {
        let (from, to) = parse_period(from, to)?;
        let clock = self.matching_config().clock;
        let now = self.now();
        // Which (clinic, provider) panels are in scope.
        let may_see: Box<dyn Fn(ClinicId, UserId) -> bool> = match scope {
            BillingScope::Member { who, clinic } => {
                let c = self.member_clinic(who, clinic)?;
                let manager = c.is_account_manager(who);
                let readable: BTreeSet<UserId> = c
                    .members
                    .keys()
                    .copied()
                    .filter(|p| manager || c.can_manage_panel(who, *p))
                    .collect();
                if readable.is_empty() {
                    return Err(AppError::forbidden(
                        "only the clinic's account managers, its providers and the staff they have endorsed can export attachments",
                    ));
                }
                Box::new(move |cl, p| cl == clinic && readable.contains(&p))
            }
            BillingScope::Node { clinic } => {
                if !self.model().clinics.contains_key(&clinic) {
                    return Err(AppError::not_found("clinic"));
                }
                Box::new(move |cl, _| cl == clinic)
            }
            BillingScope::Province { clinic } => {
                if let Some(c) = clinic
                    && !self.model().clinics.contains_key(&c)
                {
                    return Err(AppError::not_found("clinic"));
                }
                Box::new(move |cl, _| clinic.is_none_or(|c| c == cl))
            }
        };
        let m = self.model();
        // At the hub, a match attachment counts only through an offer the hub made.
        let trusted: Option<BTreeSet<EntryId>> = matches!(scope, BillingScope::Province { .. })
            .then(|| {
                m.offers_made_by(self.node_uuid())
                    .flat_map(|(o, _)| {
                        o.persons
                            .iter()
                            .filter(move |p| {
                                matches!(p.outcome(o, now), PersonOutcome::Attached { .. })
                            })
                            .map(move |p| attachment_entry(o.id, p.person))
                    })
                    .collect()
            });
        let counts = |e: &PanelEntry| -> bool {
            let how = matches!(e.how_added, HowAdded::Match | HowAdded::Transfer);
            // An attachment the hub undid (the person was attached elsewhere first) is no
            // attachment.
            let undone = e.removed.as_ref().is_some_and(|r| r.by == COORDINATOR);
            let real = e.how_added != HowAdded::Match
                || trusted.as_ref().is_none_or(|t| t.contains(&e.id));
            how && !undone && real && may_see(e.clinic, e.provider)
        };
        let mut records: Vec<AttachmentRecord> = m
            .entries
            .values()
            .map(|s| &s.entry)
            .filter(|e| counts(e))
            .filter_map(|e| {
                let date = clock.local_date(e.added_at);
                (from..=to).contains(&date).then(|| AttachmentRecord {
                    phn: e.details.phn,
                    practitioner_number: m
                        .preferences
                        .get(&e.provider)
                        .and_then(|p| p.practitioner_number.clone()),
                    date,
                    fee_code: ATTACHMENT_FEE_CODE.to_owned(),
                    provider: e.provider,
                    provider_name: m
                        .accounts
                        .get(&e.provider)
                        .map_or_else(|| e.provider.to_string(), |a| a.display_name.clone()),
                    clinic: e.clinic,
                    facility_number: m
                        .clinics
                        .get(&e.clinic)
                        .map(|c| c.clinic.profile.facility_number.clone())
                        .unwrap_or_default(),
                    how: if e.how_added == HowAdded::Match {
                        "match"
                    } else {
                        "transfer"
                    }
                    .to_owned(),
                })
            })
            .collect();
        records.sort_by(|a, b| {
            (a.date, &a.provider_name, a.provider, a.phn.to_string()).cmp(&(
                b.date,
                &b.provider_name,
                b.provider,
                b.phn.to_string(),
            ))
        });
        let mut missing: BTreeMap<(String, UserId, ClinicId), usize> = BTreeMap::new();
        for r in records.iter().filter(|r| r.practitioner_number.is_none()) {
            *missing
                .entry((r.provider_name.clone(), r.provider, r.clinic))
                .or_default() += 1;
        }
        Ok(AttachmentExport {
            from,
            to,
            records,
            missing: missing
                .into_iter()
                .map(|((name, provider, clinic), attachments)| MissingNumber {
                    provider,
                    name,
                    clinic,
                    attachments,
                })
                .collect(),
        })
    }
}

impl AttachmentExport {
    /// The billing file: UTF-8 CSV with a header row of [`ATTACHMENT_COLUMNS`].
    pub fn to_csv(&self) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        // Writing to memory cannot fail; a row that did would only be missing from a
        // file whose row count the caller reports.
        let _ = w.write_record(ATTACHMENT_COLUMNS);
        for r in &self.records {
            let _ = w.write_record([
                r.phn.to_string().as_str(),
                r.practitioner_number.as_deref().unwrap_or(""),
                r.date.to_string().as_str(),
                r.fee_code.as_str(),
                r.provider_name.as_str(),
                r.facility_number.as_str(),
                r.clinic.to_string().as_str(),
                r.how.as_str(),
            ]);
        }
        w.into_inner().unwrap_or_default()
    }

    /// One sentence per provider without a practitioner number, for people.
    pub fn warnings(&self) -> Vec<String> {
        self.missing
            .iter()
            .map(|m| {
                format!(
                    "{} has no practitioner number: {} attachment{} with an empty practitioner_number; set it on their panel preferences and export again",
                    m.name,
                    m.attachments,
                    if m.attachments == 1 { "" } else { "s" }
                )
            })
            .collect()
    }
}
