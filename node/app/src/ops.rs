//! Counts for operators (`/metrics`, `attach status`): numbers only, no names, no patient
//! data, no authorization (the admin listener that serves them is the boundary).

use serde::{Deserialize, Serialize};

use super::App;

/// What the node holds, in numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpsCounts {
    /// Clinics in this data directory.
    pub clinics: usize,
    /// Patient entries on panels (removed ones included).
    pub panel_entries: usize,
    /// Clashes a merge produced and nobody has settled yet: patients on two panels,
    /// concurrent manager handovers, fields of memberships and entries edited apart.
    pub open_conflicts: usize,
    /// Documents that could not be read (damaged): each is a problem to look at.
    pub unreadable_documents: usize,
}

impl App {
    /// The counts, from the read model.
    pub fn ops_counts(&self) -> OpsCounts {
        let model = self.model();
        let managers = model
            .clinics
            .values()
            .map(|c| {
                usize::from(c.primary_candidates.len() > 1)
                    + usize::from(c.secondary_candidates.len() > 1)
                    + c.member_conflicts.len()
            })
            .sum::<usize>();
        let entries = model
            .entries
            .values()
            .map(|e| e.conflicts.len())
            .sum::<usize>();
        OpsCounts {
            clinics: model.clinics.len(),
            panel_entries: model.entries.len(),
            open_conflicts: model.clashes.len() + managers + entries,
            unreadable_documents: model.unreadable.len(),
        }
    }
}
