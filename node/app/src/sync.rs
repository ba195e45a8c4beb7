//! What replication needs from the app: which documents belong to a clinic's scope (for the
//! hub's per-document authorization), and the store itself.
//!
//! A clinic's scope is its clinic document, its inbox of match offers, the accounts of its
//! members, and the panels (preferences and entries) of its members — a provider's panel is shared by every clinic
//! the provider works at. Membership is read from the merged clinic documents, so a member
//! added offline becomes visible to the hub once the clinic document carrying them arrives
//! (the sync engine sends and applies clinic documents first for that reason).

use uuid::Uuid;

use super::App;
use attach_domain::{ClinicId, UserId};
use attach_store::{DocId, DocStore};

/// Which part of a clinic's data a document is, for status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DocSet {
    Clinic,
    Accounts,
    Panels,
    Offers,
    /// Patients' clinical records: synced between a clinic's own nodes, never to the hub.
    Clinical,
    Other,
}

impl DocSet {
    pub fn of(doc: &str) -> Self {
        use attach_schema::ids;
        let of = |prefix: &str| doc.starts_with(prefix);
        if of(ids::CLINICS) {
            DocSet::Clinic
        } else if of(ids::ACCOUNTS) {
            DocSet::Accounts
        } else if of(ids::PANELS) {
            DocSet::Panels
        } else if of(ids::INBOXES) {
            DocSet::Offers
        } else if of(ids::CLINICAL) {
            DocSet::Clinical
        } else {
            DocSet::Other
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DocSet::Clinic => "Clinic profile, members and delegations",
            DocSet::Accounts => "User accounts",
            DocSet::Panels => "Patient panels",
            DocSet::Offers => "Match offers",
            DocSet::Clinical => "Clinical records and QI cycles (clinic nodes only)",
            DocSet::Other => "Other",
        }
    }
}

/// The uuid in the second segment of a document id (`clinic/<id>`, `panel/<id>/…`).
fn owner(doc: &str) -> Option<Uuid> {
    doc.split('/').nth(1).and_then(|s| Uuid::parse_str(s).ok())
}

impl App {
    /// The document store, for the sync engine (which writes through the same store API, so
    /// the read model, invariants and conflicts are recomputed after every merge).
    pub fn doc_store(&self) -> &DocStore {
        self.store()
    }

    /// Is this document in `clinic`'s scope (may that clinic's nodes read and write it)?
    pub fn in_clinic_scope(&self, clinic: ClinicId, doc: &str) -> bool {
        let Some(id) = owner(doc) else {
            return false;
        };
        let parts = doc.split('/').count();
        let model = self.model();
        let is_member = |user: Uuid| {
            model
                .memberships
                .get(&UserId(user))
                .is_some_and(|cs| cs.contains(&clinic))
        };
        match (DocSet::of(doc), parts) {
            // The clinic document and its working documents (`clinic/<c>/review/…`).
            (DocSet::Clinic, _) => id == clinic.as_uuid(),
            (DocSet::Offers, 3) => id == clinic.as_uuid(),
            (DocSet::Accounts, 2) => is_member(id),
            (DocSet::Panels, 2 | 3) => is_member(id),
            _ => false,
        }
    }

    /// What another node of `clinic` on the LAN may read and write: the clinic's scope and
    /// its patients' clinical documents (which the hub never holds).
    pub fn in_lan_scope(&self, clinic: ClinicId, doc: &str) -> bool {
        use attach_schema::ids::Named;
        self.in_clinic_scope(clinic, doc)
            || matches!(
                Named::parse(doc),
                Some(Named::Clinical(c, _) | Named::QiCycle(c, _)) if c == clinic
            )
    }

    /// Every stored document in `clinic`'s LAN scope ([`App::in_lan_scope`]).
    pub fn lan_scope(&self, clinic: ClinicId) -> Result<Vec<String>, attach_store::StoreError> {
        let mut out = self.clinic_scope(clinic)?;
        out.extend(
            self.store()
                .ids_with_prefix(&attach_schema::ids::clinical_prefix(clinic))?
                .into_iter()
                .map(|d| d.as_str().to_owned()),
        );
        Ok(out)
    }

    /// [`App::clinic_changed_since`] with the clinic's clinical documents too, for a LAN peer.
    pub fn lan_changed_since(
        &self,
        clinic: ClinicId,
        after: u64,
        upto: u64,
    ) -> Result<Vec<(u64, DocId)>, attach_store::StoreError> {
        let mut changed = self.clinic_changed_since(clinic, after, upto)?;
        let clinical = attach_schema::ids::clinical_family(clinic);
        changed.extend(self.store().changed_since_in(
            std::iter::once(clinical.as_str()),
            after,
            upto,
        )?);
        changed.sort_unstable_by_key(|(seq, _)| *seq);
        Ok(changed)
    }

    /// Every stored document in `clinic`'s scope: what a new node of that clinic restores.
    pub fn clinic_scope(&self, clinic: ClinicId) -> Result<Vec<String>, attach_store::StoreError> {
        let members: Vec<Uuid> = {
            let model = self.model();
            model
                .memberships
                .iter()
                .filter(|(_, cs)| cs.contains(&clinic))
                .map(|(u, _)| u.0)
                .collect()
        };
        let store = self.store();
        let mut out = Vec::new();
        let clinic_doc = attach_schema::clinic_doc_id(clinic);
        if store.exists(&clinic_doc)? {
            out.push(clinic_doc.as_str().to_owned());
        }
        out.extend(
            store
                .ids_with_prefix(&attach_schema::ids::clinic_parts_prefix(clinic))?
                .into_iter()
                .map(|d| d.as_str().to_owned()),
        );
        out.extend(
            store
                .ids_with_prefix(&attach_schema::ids::inbox_prefix(clinic))?
                .into_iter()
                .map(|d| d.as_str().to_owned()),
        );
        for user in members {
            let account = attach_schema::account_doc_id(UserId(user));
            if store.exists(&account)? {
                out.push(account.as_str().to_owned());
            }
            let panel = attach_schema::panel_doc_id(UserId(user));
            if store.exists(&panel)? {
                out.push(panel.as_str().to_owned());
            }
            let entries = attach_schema::ids::entries_prefix(UserId(user));
            out.extend(
                store
                    .ids_with_prefix(&entries)?
                    .into_iter()
                    .map(|d| d.as_str().to_owned()),
            );
        }
        Ok(out)
    }

    /// The documents of `clinic`'s scope that changed after feed position `after` and at or
    /// before `upto`, ascending by position: what a round of sync with one of its nodes sends.
    /// Reads the family feed of the clinic and of each member (a few range reads), never the
    /// whole provincial change feed, so the hub's cost per clinic does not grow with the
    /// province.
    pub fn clinic_changed_since(
        &self,
        clinic: ClinicId,
        after: u64,
        upto: u64,
    ) -> Result<Vec<(u64, DocId)>, attach_store::StoreError> {
        let mut families = vec![
            attach_schema::clinic_doc_id(clinic).as_str().to_owned(),
            attach_schema::ids::inbox_family(clinic),
        ];
        {
            let model = self.model();
            if let Some(state) = model.clinics.get(&clinic) {
                for user in state.clinic.members.keys() {
                    families.push(attach_schema::account_doc_id(*user).as_str().to_owned());
                    families.push(attach_schema::panel_doc_id(*user).as_str().to_owned());
                }
            }
        }
        self.store()
            .changed_since_in(families.iter().map(String::as_str), after, upto)
    }

    /// A digest of the heads of every document in `clinic`'s scope, and how many there are:
    /// two replicas that agree on it hold the same merged state of that clinic.
    pub fn scope_digest(
        &self,
        clinic: ClinicId,
    ) -> Result<(usize, String), attach_store::StoreError> {
        use sha2::{Digest, Sha256};
        let mut docs = self.clinic_scope(clinic)?;
        docs.sort();
        let mut hash = Sha256::new();
        for doc in &docs {
            let id = DocId::parse(doc)?;
            hash.update(doc.as_bytes());
            hash.update([0]);
            for h in self.store().heads(&id)? {
                hash.update(h.0);
            }
        }
        Ok((docs.len(), hex::encode(hash.finalize())))
    }

    /// The clinics this node holds (a clinic node normally holds one).
    pub fn clinic_ids(&self) -> Vec<ClinicId> {
        let mut ids: Vec<ClinicId> = self.model().clinics.keys().copied().collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_sets_and_owners() {
        assert_eq!(DocSet::of("clinic/x"), DocSet::Clinic);
        assert_eq!(DocSet::of("panel/x/y"), DocSet::Panels);
        assert_eq!(DocSet::of("inbox/x/y"), DocSet::Offers);
        assert_eq!(DocSet::of("waiting/x"), DocSet::Other);
        let u = Uuid::now_v7();
        assert_eq!(owner(&format!("panel/{u}/abc")), Some(u));
        assert_eq!(owner("panel/not-a-uuid"), None);
    }
}
