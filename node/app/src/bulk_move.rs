//! Moving a selection from a review list to another provider's panel at the clinic, as a
//! bulk change: every patient moves in one durable change or none does, each move is an
//! ordinary transfer in the patient's history (the old entry removed saying where the
//! patient went, a new entry on the receiving panel), and the change keeps a record in
//! `clinic/<c>/bulk/<id>` so that it can be undone by a second bulk change that moves back
//! every patient still where this one put them.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use tracing::info;

use super::history::ChangeKind;
use super::review::{BulkRecord, BulkReport, MAX_BULK};
use super::transfer::transfer_pair;
use super::{App, AppError, Problem};
use attach_domain::{Clinic, ClinicId, DomainError, EntryId, PanelEntry, UserId};
use attach_schema::work::{BULK_ITEM, KIND_BULK, write_item};
use attach_store::DocId;

/// The reason a move's undo gives on each patient's history.
pub const UNDO_MOVE_REASON: &str = "bulk move undone";

/// One patient a bulk move moved: from which panel and entry, to which panel and entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveLine {
    pub from: UserId,
    pub old: EntryId,
    pub to: UserId,
    pub new: EntryId,
}

impl App {
    /// Moves the selected entries (provider, entry) to `to`'s panel at `clinic`, giving
    /// `reason` on each. Who may: the clinic's account managers, or whoever may change both
    /// the panel a patient is on and the receiving one. Entries already on `to`'s panel
    /// are counted as unchanged; any patient that cannot move (not on that panel, removed,
    /// on the receiving panel already) is listed by row and nothing is stored.
    pub fn bulk_move(
        &self,
        who: UserId,
        clinic: ClinicId,
        entries: &[(UserId, EntryId)],
        to: UserId,
        reason: &str,
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
        let c = self.member_clinic(who, clinic)?;
        let plan: Vec<(UserId, EntryId, UserId)> =
            entries.iter().map(|(p, e)| (*p, *e, to)).collect();
        self.move_plan(who, &c, &plan, reason, "moved", false)
    }

    /// Undoes a bulk move: each patient still on the panel the move put them on, in the
    /// entry it made, goes back to the panel they came from; the others are counted.
    pub(super) fn undo_moves(
        &self,
        who: UserId,
        c: &Clinic,
        record: &BulkRecord,
    ) -> Result<BulkReport, AppError> {
        let plan: Vec<(UserId, EntryId, UserId)> =
            record.moves.iter().map(|m| (m.to, m.new, m.from)).collect();
        self.move_plan(who, c, &plan, UNDO_MOVE_REASON, "bulk move undone", true)
    }

    /// Carries out (entry's panel, entry, receiving panel) moves as one bulk change. With
    /// `skip_gone`, an entry no longer live where the plan says (an undo after later edits)
    /// is counted as unchanged instead of refusing the whole.
    fn move_plan(
        &self,
        who: UserId,
        c: &Clinic,
        plan: &[(UserId, EntryId, UserId)],
        reason: &str,
        field: &str,
        skip_gone: bool,
    ) -> Result<BulkReport, AppError> {
        let now = self.now();
        let reason = reason.trim();
        let _admission = self.inner.admission.lock();
        let mut problems = Vec::new();
        let mut writes: Vec<(DocId, PanelEntry)> = Vec::new();
        let mut lines = Vec::new();
        let mut unchanged = 0;
        {
            let m = self.model();
            let mut seen = HashSet::with_capacity(plan.len());
            // One patient (a PHN on two panels) moved twice to one panel would be on it twice.
            let mut arriving = HashSet::with_capacity(plan.len());
            for (row, &(from, id, to)) in plan.iter().enumerate() {
                if !seen.insert(id) {
                    continue;
                }
                let allowed = c.is_account_manager(who)
                    || (c.can_manage_panel(who, from) && c.can_manage_panel(who, to));
                if !allowed {
                    return Err(AppError::forbidden(
                        "only the clinic's account managers, or whoever may change both panels, can move patients",
                    ));
                }
                let problem = |message: String| Problem {
                    row: Some(row + 1),
                    field: "entries".to_owned(),
                    message,
                };
                let current = m
                    .entries
                    .get(&id)
                    .map(|s| s.entry.clone())
                    .filter(|e| e.clinic == c.id && e.provider == from);
                let entry = match current {
                    Some(e) if e.removed.is_none() => e,
                    _ if skip_gone => {
                        unchanged += 1;
                        continue;
                    }
                    Some(_) => {
                        problems.push(problem(format!("{id} has been removed from the panel")));
                        continue;
                    }
                    None => {
                        problems.push(problem(format!("{id} is not on that panel")));
                        continue;
                    }
                };
                if from == to {
                    unchanged += 1;
                    continue;
                }
                if !arriving.insert((to, entry.details.phn)) {
                    problems.push(problem(
                        "the same patient is selected twice (on two panels); keep one in the selection"
                            .to_owned(),
                    ));
                    continue;
                }
                match transfer_pair(&m, c, who, entry, to, reason, now) {
                    Ok((old, new)) => {
                        lines.push(MoveLine {
                            from,
                            old: old.id,
                            to,
                            new: new.id,
                        });
                        for e in [old, new] {
                            writes.push((attach_schema::entry_doc_id(e.provider, e.id), e));
                        }
                    }
                    // A problem every patient shares (no reason, a receiving provider who
                    // cannot take patients) is one problem, not one per row.
                    Err(DomainError::Validation(fields)) => {
                        return Err(DomainError::Validation(fields).into());
                    }
                    Err(_) if skip_gone => unchanged += 1,
                    Err(e) => problems.push(problem(e.to_string())),
                }
            }
        }
        if !problems.is_empty() {
            return Err(AppError::Invalid {
                message: format!(
                    "No patient was moved: {} of them cannot move.",
                    problems.len()
                ),
                problems,
            });
        }
        if lines.is_empty() {
            return Ok(BulkReport {
                changed: 0,
                unchanged,
                bulk: None,
            });
        }
        let moved = lines.len();
        let record = BulkRecord::of_moves(c.id, who, now, field, lines);
        let record_doc = attach_schema::ids::bulk_doc_id(c.id, record.id);
        let by_doc: HashMap<DocId, PanelEntry> = writes.into_iter().collect();
        let mut ids: Vec<DocId> = by_doc.keys().cloned().collect();
        ids.push(record_doc.clone());
        let message = ChangeKind::TransferPatient.to_string();
        self.store().change_many(who.0, &message, &ids, |id, tx| {
            if *id == record_doc {
                return write_item(tx, KIND_BULK, BULK_ITEM, Some(&record)).map_err(AppError::from);
            }
            let e = by_doc
                .get(id)
                .ok_or_else(|| AppError::bug(format!("a bulk move lost track of {id}")))?;
            attach_schema::write_entry(tx, e).map_err(AppError::from)
        })?;
        info!(clinic = %c.id, moved, bulk = %record.id, field, "bulk move");
        Ok(BulkReport {
            changed: moved,
            unchanged,
            bulk: Some(record.id),
        })
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::ManualClock;
    use crate::review::ReviewScope;
    use crate::tests::seeded_with;

    #[test]
    fn a_selection_moves_in_one_change_shows_in_history_and_an_undo_moves_it_back() {
        let clock = ManualClock::new(datetime!(2026-11-02 09:00 UTC));
        let (r, ids) = seeded_with(&clock, 40);
        let patel_size = r
            .app
            .panel_summary(ids.director, ids.clinic, ids.patel)
            .expect("reads")
            .size;
        let nguyen_size = r
            .app
            .panel_summary(ids.director, ids.clinic, ids.nguyen)
            .expect("reads")
            .size;
        let rows = r
            .app
            .review_rows(
                ids.director,
                ids.clinic,
                ReviewScope::Provider(ids.patel),
                &Default::default(),
            )
            .expect("rows");
        let chosen: Vec<(UserId, EntryId)> = rows
            .iter()
            .take(3)
            .map(|row| (row.entry.provider, row.entry.id))
            .collect();

        // Dr. Patel may not change Dr. Nguyen's panel, so she may not move patients there.
        let err = r
            .app
            .bulk_move(ids.patel, ids.clinic, &chosen, ids.nguyen, "leaving")
            .expect_err("not both panels");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        // A reason is needed, and nothing moved.
        let err = r
            .app
            .bulk_move(ids.director, ids.clinic, &chosen, ids.nguyen, " ")
            .expect_err("no reason");
        assert!(matches!(err, AppError::Invalid { .. }), "{err:?}");

        let report = r
            .app
            .bulk_move(
                ids.director,
                ids.clinic,
                &chosen,
                ids.nguyen,
                "Dr. Patel reduces her panel",
            )
            .expect("the director moves them");
        assert_eq!(report.changed, 3);
        let size = |p| {
            r.app
                .panel_summary(ids.director, ids.clinic, p)
                .expect("reads")
                .size
        };
        assert_eq!(size(ids.patel), patel_size - 3);
        assert_eq!(size(ids.nguyen), nguyen_size + 3);
        let history = r
            .app
            .entry_history(ids.director, ids.clinic, ids.patel, chosen[0].1)
            .expect("history");
        assert_eq!(
            history.last().map(|h| h.message.as_str()),
            Some("transfer patient")
        );

        // Moving them again is refused (they are no longer on Dr. Patel's panel), by row.
        let err = r
            .app
            .bulk_move(ids.director, ids.clinic, &chosen, ids.nguyen, "again")
            .expect_err("already moved");
        match err {
            AppError::Invalid { problems, .. } => assert_eq!(problems.len(), 3),
            other => panic!("{other:?}"),
        }

        let undone = r
            .app
            .undo_bulk(ids.director, ids.clinic, report.bulk.expect("a record"))
            .expect("undone");
        assert_eq!(undone.changed, 3);
        assert_eq!(size(ids.patel), patel_size);
        assert_eq!(size(ids.nguyen), nguyen_size);
        // Undoing the move again finds nobody where it put them.
        let again = r
            .app
            .undo_bulk(ids.director, ids.clinic, report.bulk.expect("a record"))
            .expect("nothing left");
        assert_eq!((again.changed, again.unchanged), (0, 3));
        // The undo is itself undoable: it moves them back to Dr. Nguyen.
        let redo = r
            .app
            .undo_bulk(ids.director, ids.clinic, undone.bulk.expect("a record"))
            .expect("redone");
        assert_eq!(redo.changed, 3);
        assert_eq!(size(ids.nguyen), nguyen_size + 3);
    }
}
