//! Panel review use cases: the clinic's status rules, worklists with their counts, and
//! deciding suggestions.

use attach_domain::{
    BulkId, Clinic, ClinicId, ConfirmMethod, Dismissal, EntryFacts, EntryId, MrpConfirmation,
    PanelEntry, PatientStatus, ReviewQuery, Stamp, StatusRules, UserId, Worklist, open_suggestion,
};
use std::collections::HashMap;

use attach_interop::worklist::{WorklistLine, write_worklist_csv};
use attach_schema::work::{BULK_ITEM, KIND_BULK, read_items, write_item};
use attach_store::DocId;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use tracing::info;

use super::history::ChangeKind;
use super::model::{Model, NameKey};
use super::{App, AppError};

/// Whose panels a review list covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewScope {
    /// One provider's panel.
    Provider(UserId),
    /// Every panel at the clinic the user may read (all of them for an account manager).
    Clinic,
}

/// One row of a review list.
#[derive(Debug, Clone)]
pub struct ReviewRow {
    pub entry: PanelEntry,
    pub suggestion: Option<PatientStatus>,
    pub on_two_panels: bool,
}

#[derive(Debug, Clone)]
pub struct ReviewPage {
    pub total: usize,
    pub rows: Vec<ReviewRow>,
}

fn facts(model: &Model, c: &Clinic, e: &PanelEntry, today: Date) -> EntryFacts {
    EntryFacts {
        today,
        suggestion: open_suggestion(c, e, today),
        on_two_panels: e.removed.is_none() && model.clashes.contains(&(c.id, e.details.phn)),
    }
}

/// The entries still on the providers' panels, each with its name key (panel by panel, in
/// name order within each).
fn live_entries<'m>(
    model: &'m Model,
    clinic: ClinicId,
    providers: &'m [UserId],
) -> impl Iterator<Item = (&'m NameKey, &'m PanelEntry)> + 'm {
    providers
        .iter()
        .filter_map(move |p| model.panels.get(&(clinic, *p)))
        .flatten()
        .filter_map(|key| Some((key, &model.entries.get(&key.1)?.entry)))
        .filter(|(_, e)| e.removed.is_none())
}

impl App {
    /// Today in the province's calendar (the clinic's days).
    pub fn clinic_today(&self) -> Date {
        self.matching_config().clock.local_date(self.now())
    }

    /// The clinic and the providers whose panels `scope` covers for `who`.
    fn review_panels(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
    ) -> Result<(Clinic, Vec<UserId>), AppError> {
        match scope {
            ReviewScope::Provider(p) => Ok((self.readable_panel(who, clinic, p)?, vec![p])),
            ReviewScope::Clinic => {
                let c = self.member_clinic(who, clinic)?;
                let providers: Vec<UserId> = c
                    .members
                    .keys()
                    .copied()
                    .filter(|p| c.role_of(*p).is_some_and(|r| r.is_licensed()))
                    .filter(|p| c.is_account_manager(who) || c.can_manage_panel(who, *p))
                    .collect();
                if providers.is_empty() {
                    return Err(AppError::forbidden(
                        "only account managers and staff endorsed for a panel can review panels",
                    ));
                }
                Ok((c, providers))
            }
        }
    }

    /// Every entry `q` names in `scope`, in name order.
    pub fn review_rows(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
        q: &ReviewQuery,
    ) -> Result<Vec<ReviewRow>, AppError> {
        let (c, providers) = self.review_panels(who, clinic, scope)?;
        let today = self.clinic_today();
        let model = self.model();
        let mut keyed = Vec::new();
        for (key, e) in live_entries(&model, clinic, &providers) {
            let f = facts(&model, &c, e, today);
            if q.matches(e, &f) {
                keyed.push((
                    key,
                    ReviewRow {
                        entry: e.clone(),
                        suggestion: f.suggestion,
                        on_two_panels: f.on_two_panels,
                    },
                ));
            }
        }
        keyed.sort_by(|a, b| a.0.cmp(b.0));
        Ok(keyed.into_iter().map(|(_, r)| r).collect())
    }

    /// How many entries each standard worklist holds in `scope`: one pass over the panels.
    pub fn worklist_counts(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
    ) -> Result<Vec<(Worklist, usize)>, AppError> {
        let (c, providers) = self.review_panels(who, clinic, scope)?;
        let today = self.clinic_today();
        let lists = Worklist::standard(today);
        let mut counts = vec![0usize; lists.len()];
        let model = self.model();
        for (_, e) in live_entries(&model, clinic, &providers) {
            let f = facts(&model, &c, e, today);
            for (n, w) in counts.iter_mut().zip(&lists) {
                if w.holds(e, &f) {
                    *n += 1;
                }
            }
        }
        Ok(lists.into_iter().zip(counts).collect())
    }

    /// The list `q` names in `scope` as a CSV file (see `attach_interop::worklist`).
    pub fn export_review(
        &self,
        who: UserId,
        clinic: ClinicId,
        scope: ReviewScope,
        q: &ReviewQuery,
    ) -> Result<Vec<u8>, AppError> {
        let rows = self.review_rows(who, clinic, scope, q)?;
        let c = self.member_clinic(who, clinic)?;
        let names: HashMap<UserId, String> = {
            let model = self.model();
            c.members
                .keys()
                .filter_map(|u| Some((*u, model.accounts.get(u)?.display_name.clone())))
                .collect()
        };
        let lines: Vec<WorklistLine<'_>> = rows
            .iter()
            .map(|r| WorklistLine {
                entry: &r.entry,
                suggestion: r.suggestion,
                on_two_panels: r.on_two_panels,
            })
            .collect();
        info!(clinic = %clinic, rows = lines.len(), "review list exported");
        Ok(write_worklist_csv(
            &lines,
            self.clinic_today(),
            &|e| names.get(&e.provider).cloned().unwrap_or_default(),
            &|s| super::panel::status_name(&c, s),
        ))
    }

    /// The clinic's status rules; any active member may read them.
    pub fn status_rules(&self, who: UserId, clinic: ClinicId) -> Result<StatusRules, AppError> {
        Ok(self.member_clinic(who, clinic)?.status_rules)
    }

    /// Sets the clinic's status definitions and rules (account managers only).
    pub fn set_status_rules(
        &self,
        who: UserId,
        clinic: ClinicId,
        rules: StatusRules,
    ) -> Result<StatusRules, AppError> {
        let c = self.member_clinic(who, clinic)?;
        super::registry::require_manager(&c, who)?;
        rules.check(&c)?;
        let id = attach_schema::clinic_doc_id(clinic);
        self.store()
            .change(&id, who.0, &ChangeKind::SetStatusRules.to_string(), |tx| {
                attach_schema::write_status_rules(tx, &rules).map_err(AppError::from)
            })?;
        Ok(rules)
    }

    /// Applies `action` to each listed entry of the clinic: one durable change per entry, all
    /// or nothing, attributed to `who`. Entries the action would not change are left alone
    /// and counted. Refused whole if any entry is not on a panel `who` may change, was
    /// removed, or (for suggestions) no longer has the suggestion the list showed.
    pub fn bulk_change(
        &self,
        who: UserId,
        clinic: ClinicId,
        entries: &[(UserId, EntryId)],
        action: BulkAction,
    ) -> Result<BulkReport, AppError> {
        if entries.is_empty() {
            return Err(AppError::invalid("entries", "select at least one patient"));
        }
        if entries.len() > MAX_BULK {
            return Err(AppError::invalid(
                "entries",
                format!("a bulk change takes at most {MAX_BULK} patients at once"),
            ));
        }
        let now = self.now();
        let today = self.clinic_today();
        let c = self.member_clinic(who, clinic)?;
        if let BulkAction::SetStatus(status) = action {
            attach_domain::check_status_assignable(&c, status)?;
        }
        let mut plan: Vec<BulkLine> = Vec::with_capacity(entries.len());
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        let mut unchanged = 0;
        {
            let model = self.model();
            for (provider, entry) in entries {
                if !c.can_manage_panel(who, *provider) {
                    return Err(AppError::forbidden(
                        "only the provider and staff they have endorsed can change this panel",
                    ));
                }
                let state = model
                    .entries
                    .get(entry)
                    .filter(|s| s.entry.clinic == clinic && s.entry.provider == *provider)
                    .ok_or_else(|| AppError::not_found("patient entry"))?;
                let before = &state.entry;
                if before.removed.is_some() {
                    return Err(AppError::conflict(
                        "a patient in the selection has been removed from the panel; reload the list",
                    ));
                }
                let after = apply(&c, before, action, who, now, today)?;
                if after == *before {
                    unchanged += 1;
                } else if seen.insert(*entry) {
                    plan.push(BulkLine {
                        provider: *provider,
                        entry: *entry,
                        before: ReviewFields::of(before),
                        after: ReviewFields::of(&after),
                    });
                }
            }
        }
        let (changed, bulk) = self.write_bulk(who, clinic, action.field(), plan)?;
        Ok(BulkReport {
            changed,
            unchanged,
            bulk,
        })
    }

    /// Writes a planned bulk change: its record (so it can be undone) and each entry, in one
    /// all-or-nothing batch. An entry whose fields are no longer what the plan was made from
    /// (a merge came in meanwhile) refuses the whole batch.
    fn write_bulk(
        &self,
        who: UserId,
        clinic: ClinicId,
        field: &str,
        plan: Vec<BulkLine>,
    ) -> Result<(usize, Option<BulkId>), AppError> {
        if plan.is_empty() {
            return Ok((0, None));
        }
        let record = BulkRecord {
            id: BulkId::new(),
            clinic,
            by: who,
            at: self.now(),
            field: field.to_owned(),
            lines: plan,
            moves: Vec::new(),
        };
        let record_doc = attach_schema::ids::bulk_doc_id(clinic, record.id);
        let by_doc: HashMap<DocId, &BulkLine> = record
            .lines
            .iter()
            .map(|l| (attach_schema::entry_doc_id(l.provider, l.entry), l))
            .collect();
        let mut ids: Vec<DocId> = by_doc.keys().cloned().collect();
        ids.push(record_doc.clone());
        let message = ChangeKind::UpdatePatient {
            fields: Some(vec![field.to_owned()]),
        }
        .to_string();
        let written = self.store().change_many(who.0, &message, &ids, |id, tx| {
            if *id == record_doc {
                return write_item(tx, KIND_BULK, BULK_ITEM, Some(&record)).map_err(AppError::from);
            }
            let line = by_doc[id];
            let mut stored = attach_schema::read_entry(tx)?;
            if stored.removed.is_some() || ReviewFields::of(&stored) != line.before {
                return Err(AppError::conflict(
                    "a patient in the selection changed meanwhile (an edit from another computer); reload the list",
                ));
            }
            line.after.put_on(&mut stored);
            attach_schema::write_entry(tx, &stored).map_err(AppError::from)
        })?;
        info!(clinic = %clinic, changed = written.saturating_sub(1), bulk = %record.id, field, "bulk change");
        Ok((written.saturating_sub(1), Some(record.id)))
    }

    /// Undoes a bulk change (anyone who may change every panel it touched): each entry still
    /// as the bulk change left it gets back what it had before, as a second bulk change
    /// (itself undoable); entries changed since are left alone and counted.
    pub fn undo_bulk(
        &self,
        who: UserId,
        clinic: ClinicId,
        bulk: BulkId,
    ) -> Result<BulkReport, AppError> {
        let c = self.member_clinic(who, clinic)?;
        let record = read_bulk(self, clinic, bulk)?;
        if !record.moves.is_empty() {
            return self.undo_moves(who, &c, &record);
        }
        let mut plan = Vec::with_capacity(record.lines.len());
        let mut unchanged = 0;
        {
            let model = self.model();
            for line in &record.lines {
                if !c.can_manage_panel(who, line.provider) {
                    return Err(AppError::forbidden(
                        "only someone who may change every panel it touched can undo this change",
                    ));
                }
                let current = model
                    .entries
                    .get(&line.entry)
                    .map(|s| &s.entry)
                    .filter(|e| e.removed.is_none());
                match current {
                    Some(e) if ReviewFields::of(e) == line.after => plan.push(BulkLine {
                        provider: line.provider,
                        entry: line.entry,
                        before: line.after.clone(),
                        after: line.before.clone(),
                    }),
                    _ => unchanged += 1,
                }
            }
        }
        let (changed, bulk) = self.write_bulk(who, clinic, "bulk change undone", plan)?;
        Ok(BulkReport {
            changed,
            unchanged,
            bulk,
        })
    }
}

/// What a bulk change may touch on an entry, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ReviewFields {
    status: PatientStatus,
    mrp: Option<MrpConfirmation>,
    review: attach_domain::EntryReview,
}

impl ReviewFields {
    fn of(e: &PanelEntry) -> Self {
        Self {
            status: e.status,
            mrp: e.mrp,
            review: e.review,
        }
    }

    fn put_on(&self, e: &mut PanelEntry) {
        e.status = self.status;
        e.mrp = self.mrp;
        e.review = self.review;
    }
}

/// One entry of a bulk change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct BulkLine {
    provider: UserId,
    entry: EntryId,
    before: ReviewFields,
    after: ReviewFields,
}

/// A bulk change as its `clinic/<c>/bulk/<id>` document keeps it, to undo it: the fields
/// it changed on each entry (`lines`), or the patients it moved to another panel (`moves`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BulkRecord {
    pub(super) id: BulkId,
    pub(super) clinic: ClinicId,
    pub(super) by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub(super) at: OffsetDateTime,
    pub(super) field: String,
    lines: Vec<BulkLine>,
    /// Records written before moves existed have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) moves: Vec<super::bulk_move::MoveLine>,
}

/// Reads a bulk change's record.
pub(super) fn read_bulk(app: &App, clinic: ClinicId, bulk: BulkId) -> Result<BulkRecord, AppError> {
    let id = attach_schema::ids::bulk_doc_id(clinic, bulk);
    app.store()
        .read(&id, |doc| read_items::<_, BulkRecord>(doc, KIND_BULK))?
        .transpose()?
        .and_then(|mut items| items.remove(BULK_ITEM))
        .filter(|r| r.clinic == clinic)
        .ok_or_else(|| AppError::not_found("bulk change"))
}

impl BulkRecord {
    /// A record of moves (no field changes).
    pub(super) fn of_moves(
        clinic: ClinicId,
        by: UserId,
        at: OffsetDateTime,
        field: &str,
        moves: Vec<super::bulk_move::MoveLine>,
    ) -> Self {
        Self {
            id: BulkId::new(),
            clinic,
            by,
            at,
            field: field.to_owned(),
            lines: Vec::new(),
            moves,
        }
    }
}

/// Most entries one bulk change takes (a whole clinic at the design scale).
pub const MAX_BULK: usize = 30_000;

/// A change made to many entries at once from a review list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    SetStatus(PatientStatus),
    /// Records one side of the most-responsible-provider confirmation.
    ConfirmMrp {
        side: MrpSide,
        how: ConfirmMethod,
    },
    /// Sets each entry's suggested status.
    AcceptSuggestions,
    /// Hides each entry's suggestion until the rules suggest something else.
    DismissSuggestions,
    /// Records that the contact details were checked with the patient.
    VerifyContact,
}

/// Which side of the relationship confirmed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MrpSide {
    /// The provider (or staff they endorsed, on their behalf).
    Provider,
    /// The patient, as told to the clinic.
    Patient,
}

impl MrpSide {
    pub fn key(self) -> &'static str {
        match self {
            Self::Provider => "provider",
            Self::Patient => "patient",
        }
    }
    pub fn from_key(raw: &str) -> Option<Self> {
        match raw.trim() {
            "provider" => Some(Self::Provider),
            "patient" => Some(Self::Patient),
            _ => None,
        }
    }
}

impl BulkAction {
    /// The field the history names for the change.
    pub fn field(self) -> &'static str {
        match self {
            Self::SetStatus(_) => "status",
            Self::ConfirmMrp {
                side: MrpSide::Provider,
                ..
            } => "mrp confirmed",
            Self::ConfirmMrp {
                side: MrpSide::Patient,
                ..
            } => "patient mrp confirmed",
            Self::AcceptSuggestions => "status (suggested)",
            Self::DismissSuggestions => "suggestion dismissed",
            Self::VerifyContact => "contact verified",
        }
    }
}

/// What a bulk change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BulkReport {
    /// Entries written.
    pub changed: usize,
    /// Entries the change would not have changed (already so; for an undo, changed since).
    pub unchanged: usize,
    /// The change's record, to undo it (`None` when nothing was written).
    pub bulk: Option<BulkId>,
}

/// The entry after `action`; refused when a suggestion it acts on is gone.
fn apply(
    c: &Clinic,
    e: &PanelEntry,
    action: BulkAction,
    who: UserId,
    now: OffsetDateTime,
    today: Date,
) -> Result<PanelEntry, AppError> {
    let mut after = e.clone();
    match action {
        BulkAction::SetStatus(s) => after.status = s,
        BulkAction::ConfirmMrp { side, how } => {
            let stamp = MrpConfirmation {
                at: now,
                by: who,
                how: Some(how),
            };
            match side {
                MrpSide::Provider => after.mrp = Some(stamp),
                MrpSide::Patient => after.review.patient_mrp = Some(stamp),
            }
        }
        BulkAction::AcceptSuggestions | BulkAction::DismissSuggestions => {
            let suggestion = open_suggestion(c, e, today).ok_or_else(|| {
                AppError::conflict(
                    "a patient in the selection has no open suggestion any more; reload the list",
                )
            })?;
            if action == BulkAction::AcceptSuggestions {
                after.status = suggestion;
            } else {
                after.review.dismissed = Some(Dismissal {
                    status: suggestion,
                    at: now,
                    by: who,
                });
            }
        }
        BulkAction::VerifyContact => {
            after.review.contact_verified = Some(Stamp { at: now, by: who });
        }
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use attach_domain::{BuiltinStatus, MrpState, PanelFilter, StatusRule, VisitRule};
    use time::macros::datetime;

    use super::*;
    use crate::ManualClock;
    use crate::tests::{ClinicIds, Replica, seeded_with};

    fn clinic() -> (Replica, ClinicIds) {
        seeded_with(&ManualClock::new(datetime!(2026-11-02 09:00 UTC)), 120)
    }

    fn inactive_after(months: u32) -> StatusRules {
        StatusRules {
            inactive: BuiltinStatus {
                definition: "Not seen here for two years".into(),
                rule: Some(StatusRule {
                    last_visit: Some(VisitRule::NotSeenFor { months }),
                    ..StatusRule::default()
                }),
            },
            ..StatusRules::default()
        }
    }

    fn list(
        r: &Replica,
        who: UserId,
        ids: &ClinicIds,
        scope: ReviewScope,
        w: Worklist,
    ) -> Vec<ReviewRow> {
        let q = ReviewQuery {
            worklist: Some(w),
            ..ReviewQuery::default()
        };
        r.app
            .review_rows(who, ids.clinic, scope, &q)
            .expect("lists")
    }

    fn count(r: &Replica, who: UserId, ids: &ClinicIds, scope: ReviewScope, w: Worklist) -> usize {
        r.app
            .worklist_counts(who, ids.clinic, scope)
            .expect("counts")
            .into_iter()
            .find(|(l, _)| l.key() == w.key())
            .map(|(_, n)| n)
            .expect("a standard list")
    }

    fn selection(rows: &[ReviewRow]) -> Vec<(UserId, EntryId)> {
        rows.iter()
            .map(|r| (r.entry.provider, r.entry.id))
            .collect()
    }

    #[test]
    fn a_rule_suggests_and_only_a_person_accepting_changes_the_status() {
        let (r, ids) = clinic();
        let today = r.app.clinic_today();
        r.app
            .set_status_rules(ids.director, ids.clinic, inactive_after(24))
            .expect("the director sets rules");
        let patel = ReviewScope::Provider(ids.patel);
        let suggested = list(&r, ids.moa, &ids, patel, Worklist::SuggestedStatus);
        // Exactly the active patients not seen for 24 months are suggested inactive.
        let expected: Vec<EntryId> = r
            .app
            .review_rows(ids.moa, ids.clinic, patel, &ReviewQuery::default())
            .expect("whole panel")
            .into_iter()
            .filter(|row| {
                row.entry.status == PatientStatus::Active
                    && row
                        .entry
                        .details
                        .last_visit
                        .is_some_and(|v| attach_domain::months_between(v, today) >= 24)
            })
            .map(|row| row.entry.id)
            .collect();
        assert!(!expected.is_empty(), "the fixture has patients to suggest");
        assert_eq!(
            suggested.iter().map(|s| s.entry.id).collect::<Vec<_>>(),
            expected
        );
        assert!(
            suggested
                .iter()
                .all(|s| s.suggestion == Some(PatientStatus::Inactive))
        );
        assert_eq!(
            count(&r, ids.moa, &ids, patel, Worklist::SuggestedStatus),
            expected.len()
        );
        // Nothing changed by itself.
        assert!(
            suggested
                .iter()
                .all(|s| s.entry.status == PatientStatus::Active)
        );

        let report = r
            .app
            .bulk_change(
                ids.moa,
                ids.clinic,
                &selection(&suggested),
                BulkAction::AcceptSuggestions,
            )
            .expect("the endorsed MOA accepts");
        assert_eq!(report.changed, expected.len());
        assert_eq!(
            count(&r, ids.moa, &ids, patel, Worklist::SuggestedStatus),
            0
        );
        let first = &suggested[0].entry;
        let stored = r
            .app
            .entry(ids.moa, ids.clinic, ids.patel, first.id)
            .expect("reads");
        assert_eq!(stored.entry.status, PatientStatus::Inactive);
        let history = r
            .app
            .entry_history(ids.moa, ids.clinic, ids.patel, first.id)
            .expect("history");
        let last = history.last().expect("a change");
        assert_eq!(last.message, "update patient: status (suggested)");
        assert_eq!(last.user, Some(ids.moa));

        // Accepting again: the suggestion is gone, so the whole selection is refused.
        let err = r
            .app
            .bulk_change(
                ids.moa,
                ids.clinic,
                &selection(&suggested),
                BulkAction::AcceptSuggestions,
            )
            .expect_err("nothing left to accept");
        assert!(matches!(err, AppError::Conflict { .. }), "{err:?}");
    }

    #[test]
    fn a_dismissed_suggestion_stays_hidden_until_the_rule_suggests_something_else() {
        let (r, ids) = clinic();
        r.app
            .set_status_rules(ids.director, ids.clinic, inactive_after(24))
            .expect("rules");
        let patel = ReviewScope::Provider(ids.patel);
        let suggested = list(&r, ids.patel, &ids, patel, Worklist::SuggestedStatus);
        let one = vec![(ids.patel, suggested[0].entry.id)];
        r.app
            .bulk_change(ids.patel, ids.clinic, &one, BulkAction::DismissSuggestions)
            .expect("dismissed");
        let after = list(&r, ids.patel, &ids, patel, Worklist::SuggestedStatus);
        assert_eq!(after.len(), suggested.len() - 1);
        assert!(after.iter().all(|a| a.entry.id != suggested[0].entry.id));
        // The status itself did not change.
        let e = r
            .app
            .entry(ids.patel, ids.clinic, ids.patel, suggested[0].entry.id)
            .expect("reads")
            .entry;
        assert_eq!(e.status, PatientStatus::Active);
        assert_eq!(
            e.review.dismissed.map(|d| d.status),
            Some(PatientStatus::Inactive)
        );
    }

    #[test]
    fn only_account_managers_set_rules_and_an_impossible_rule_is_refused_by_field() {
        let (r, ids) = clinic();
        let err = r
            .app
            .set_status_rules(ids.patel, ids.clinic, inactive_after(24))
            .expect_err("a physician who is not a manager");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        let empty = StatusRules {
            active: BuiltinStatus {
                definition: String::new(),
                rule: Some(StatusRule::default()),
            },
            ..StatusRules::default()
        };
        let err = r
            .app
            .set_status_rules(ids.director, ids.clinic, empty)
            .expect_err("an empty rule");
        assert!(
            err.to_string().contains("a rule needs a condition"),
            "{err}"
        );
        let zero = inactive_after(0);
        let err = r
            .app
            .set_status_rules(ids.director, ids.clinic, zero)
            .expect_err("zero months");
        assert!(matches!(err, AppError::Invalid { .. }), "{err:?}");
        // Nothing was stored.
        assert_eq!(
            r.app.status_rules(ids.moa, ids.clinic).expect("reads"),
            StatusRules::default()
        );
        // The director's rules are read back by every member.
        r.app
            .set_status_rules(ids.director, ids.clinic, inactive_after(36))
            .expect("stored");
        assert_eq!(
            r.app.status_rules(ids.nguyen, ids.clinic).expect("reads"),
            inactive_after(36)
        );
    }

    #[test]
    fn both_sides_of_the_mrp_confirmation_move_entries_between_worklists() {
        let (r, ids) = clinic();
        let patel = ReviewScope::Provider(ids.patel);
        let unconfirmed = list(&r, ids.moa, &ids, patel, Worklist::MrpUnconfirmed);
        assert!(
            unconfirmed.len() >= 2,
            "the fixture has unconfirmed patients"
        );
        let two = selection(&unconfirmed[..2]);
        r.app
            .bulk_change(
                ids.moa,
                ids.clinic,
                &two,
                BulkAction::ConfirmMrp {
                    side: MrpSide::Provider,
                    how: ConfirmMethod::InPerson,
                },
            )
            .expect("provider side");
        let one_side = list(&r, ids.moa, &ids, patel, Worklist::MrpOneSide);
        for (_, id) in &two {
            assert!(one_side.iter().any(|row| row.entry.id == *id));
        }
        r.app
            .bulk_change(
                ids.moa,
                ids.clinic,
                &two[..1],
                BulkAction::ConfirmMrp {
                    side: MrpSide::Patient,
                    how: ConfirmMethod::Phone,
                },
            )
            .expect("patient side");
        let both = ReviewQuery {
            filter: PanelFilter {
                mrp: Some(MrpState::Both),
                ..PanelFilter::default()
            },
            ..ReviewQuery::default()
        };
        let rows = r
            .app
            .review_rows(ids.moa, ids.clinic, patel, &both)
            .expect("filter");
        assert!(rows.iter().any(|row| row.entry.id == two[0].1));
        let e = &rows
            .iter()
            .find(|row| row.entry.id == two[0].1)
            .expect("row")
            .entry;
        assert_eq!(
            e.review.patient_mrp.and_then(|m| m.how),
            Some(ConfirmMethod::Phone)
        );
        assert_eq!(e.mrp.and_then(|m| m.how), Some(ConfirmMethod::InPerson));
    }

    #[test]
    fn a_bulk_change_is_all_or_nothing_and_checks_every_panel() {
        let (r, ids) = clinic();
        let all = r
            .app
            .review_rows(
                ids.director,
                ids.clinic,
                ReviewScope::Clinic,
                &ReviewQuery::default(),
            )
            .expect("a manager lists the clinic");
        assert!(all.iter().any(|row| row.entry.provider == ids.nguyen));
        // The MOA manages only Dr. Patel's panel: a selection reaching Dr. Nguyen's is refused whole.
        let err = r
            .app
            .bulk_change(
                ids.moa,
                ids.clinic,
                &selection(&all),
                BulkAction::SetStatus(PatientStatus::Inactive),
            )
            .expect_err("not every panel is theirs");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        // One removed entry in the selection: nothing is written.
        let patel: Vec<ReviewRow> = all
            .iter()
            .filter(|row| row.entry.provider == ids.patel)
            .cloned()
            .collect();
        let gone = patel[0].entry.id;
        r.app
            .remove_patient(ids.moa, ids.clinic, ids.patel, gone, "moved away")
            .expect("removed");
        let err = r
            .app
            .bulk_change(
                ids.moa,
                ids.clinic,
                &selection(&patel),
                BulkAction::SetStatus(PatientStatus::Inactive),
            )
            .expect_err("a removed entry");
        assert!(matches!(err, AppError::Conflict { .. }), "{err:?}");
        let still = r
            .app
            .review_rows(
                ids.moa,
                ids.clinic,
                ReviewScope::Provider(ids.patel),
                &ReviewQuery::default(),
            )
            .expect("lists");
        for row in &still {
            let before = patel
                .iter()
                .find(|p| p.entry.id == row.entry.id)
                .expect("listed before");
            assert_eq!(row.entry.status, before.entry.status, "nothing was written");
        }
        // Without it, every entry not yet inactive changes, and a second run changes none.
        let already = patel[1..]
            .iter()
            .filter(|row| row.entry.status == PatientStatus::Inactive)
            .count();
        let report = r
            .app
            .bulk_change(
                ids.moa,
                ids.clinic,
                &selection(&patel[1..]),
                BulkAction::SetStatus(PatientStatus::Inactive),
            )
            .expect("changed");
        assert_eq!(report.changed, patel.len() - 1 - already);
        assert_eq!(report.unchanged, already);
        let again = r
            .app
            .bulk_change(
                ids.moa,
                ids.clinic,
                &selection(&patel[1..]),
                BulkAction::SetStatus(PatientStatus::Inactive),
            )
            .expect("nothing to do");
        assert_eq!(
            again,
            BulkReport {
                changed: 0,
                unchanged: patel.len() - 1,
                bulk: None,
            }
        );
        // Clinic-wide lists are for managers and endorsed staff; a physician sees their own.
        let err = r
            .app
            .worklist_counts(ids.nguyen, ids.clinic, ReviewScope::Provider(ids.patel))
            .expect_err("another provider's panel");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
    }

    #[test]
    fn the_export_holds_the_list_shown_with_the_provider_named() {
        let (r, ids) = clinic();
        let q = ReviewQuery {
            worklist: Some(Worklist::NoVisit),
            ..ReviewQuery::default()
        };
        let rows = r
            .app
            .review_rows(ids.director, ids.clinic, ReviewScope::Clinic, &q)
            .expect("lists");
        assert!(!rows.is_empty());
        let csv = r
            .app
            .export_review(ids.director, ids.clinic, ReviewScope::Clinic, &q)
            .expect("exports");
        let text = String::from_utf8(csv).expect("UTF-8");
        let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), rows.len() + 1);
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.starts_with("drpatel,") || l.starts_with("drnguyen,"))
        );
        for (line, row) in lines[1..].iter().zip(&rows) {
            assert!(line.ends_with(&row.entry.id.to_string()));
            assert!(line.contains(&row.entry.details.phn.to_string()));
        }
    }

    #[test]
    fn a_bulk_change_is_undone_by_a_second_one_that_leaves_later_edits_alone() {
        let (r, ids) = clinic();
        r.app
            .set_status_rules(ids.director, ids.clinic, inactive_after(24))
            .expect("rules");
        let patel = ReviewScope::Provider(ids.patel);
        let suggested = list(&r, ids.moa, &ids, patel, Worklist::SuggestedStatus);
        assert!(suggested.len() >= 2);
        let report = r
            .app
            .bulk_change(
                ids.moa,
                ids.clinic,
                &selection(&suggested),
                BulkAction::AcceptSuggestions,
            )
            .expect("accepted");
        let bulk = report.bulk.expect("a record to undo it with");
        // Someone records a contact check on one of them meanwhile: that entry is not as the
        // bulk change left it, so the undo leaves it alone.
        let kept = suggested[0].entry.id;
        r.app
            .bulk_change(
                ids.patel,
                ids.clinic,
                &[(ids.patel, kept)],
                BulkAction::VerifyContact,
            )
            .expect("a later edit");
        // Dr. Nguyen may not undo a change of Dr. Patel's panel.
        let err = r
            .app
            .undo_bulk(ids.nguyen, ids.clinic, bulk)
            .expect_err("not his panel");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        let undone = r.app.undo_bulk(ids.moa, ids.clinic, bulk).expect("undone");
        assert_eq!(undone.changed, suggested.len() - 1);
        assert_eq!(undone.unchanged, 1);
        let e = r
            .app
            .entry(ids.moa, ids.clinic, ids.patel, kept)
            .expect("reads")
            .entry;
        assert_eq!(
            e.status,
            PatientStatus::Inactive,
            "the entry edited since stays"
        );
        for row in &suggested[1..] {
            let e = r
                .app
                .entry(ids.moa, ids.clinic, ids.patel, row.entry.id)
                .expect("reads")
                .entry;
            assert_eq!(e.status, PatientStatus::Active, "undone");
        }
        assert_eq!(
            list(&r, ids.moa, &ids, patel, Worklist::SuggestedStatus).len(),
            suggested.len() - 1
        );
        // The undo is a bulk change of its own, and can itself be undone.
        let again = r
            .app
            .undo_bulk(ids.moa, ids.clinic, undone.bulk.expect("recorded"))
            .expect("redo");
        assert_eq!(again.changed, undone.changed);
        assert!(r.app.undo_bulk(ids.moa, ids.clinic, BulkId::new()).is_err());
    }
}
