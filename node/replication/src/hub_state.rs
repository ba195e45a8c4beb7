//! The hub's own records (never replicated): enrolment codes, enrolled nodes, revoked
//! clinics. A node-local tree in the hub's store.

use attach_store::{DocStore, LocalTree, StoreError};
use attach_sync::pki::{EnrolmentCode, PeerRole};
use attach_sync::tls::Revocation;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

const TREE: &str = "hub-v1";

/// What an enrolment code was created for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CodeRecord {
    /// An existing clinic (a replacement or standby node), or none for a new clinic.
    pub clinic: Option<Uuid>,
    /// The facility number of a new clinic.
    pub facility: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

/// An enrolled node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeRecord {
    pub clinic: Uuid,
    pub node: Uuid,
    /// SHA-256 of its certificate, hex.
    pub fingerprint: String,
    #[serde(with = "time::serde::rfc3339")]
    pub enrolled_at: OffsetDateTime,
    pub revoked: bool,
}

/// An enrolled clinic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClinicRecord {
    pub clinic: Uuid,
    pub facility: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub enrolled_at: OffsetDateTime,
    pub revoked: bool,
}

/// Why an enrolment is refused, in words for the person enrolling.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnrolError {
    #[error("this enrolment code was not issued by this hub")]
    OtherHub,
    #[error("this enrolment code is not known to the hub; check it was typed correctly")]
    Unknown,
    #[error("this enrolment code has already been used; ask the hub administrator for a new one")]
    Used,
    #[error("this enrolment code has expired; ask the hub administrator for a new one")]
    Expired,
    #[error("this code is for a different clinic than the one this node holds")]
    WrongClinic,
    #[error(
        "this code is for a new clinic, but this node's clinic is already enrolled; ask for a code for the existing clinic"
    )]
    AlreadyEnrolled,
    #[error(
        "this code is for a new clinic: create the clinic on this node first (attach init), then enrol"
    )]
    NoClinic,
    #[error("this clinic's enrolment has been revoked by the hub administrator")]
    Revoked,
    #[error("the hub could not record the enrolment: {0}")]
    Storage(String),
}

/// Handle to the hub's records.
#[derive(Debug, Clone)]
pub struct HubState {
    tree: LocalTree,
}

fn code_key(secret: &[u8; 10]) -> Vec<u8> {
    let mut k = b"e/".to_vec();
    k.extend_from_slice(&Sha256::digest(secret));
    k
}
fn node_key(node: Uuid) -> Vec<u8> {
    [b"n/".as_slice(), node.as_bytes()].concat()
}
fn clinic_key(clinic: Uuid) -> Vec<u8> {
    [b"c/".as_slice(), clinic.as_bytes()].concat()
}

fn storage(e: impl std::fmt::Display) -> EnrolError {
    EnrolError::Storage(e.to_string())
}

impl HubState {
    pub fn open(store: &DocStore) -> Result<Self, StoreError> {
        Ok(Self {
            tree: store.local_tree(TREE)?,
        })
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, key: &[u8]) -> Option<T> {
        let v = self.tree.get(key).ok()??;
        serde_json::from_slice(&v).ok()
    }

    fn put<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), EnrolError> {
        let bytes = serde_json::to_vec(value).map_err(storage)?;
        self.tree.insert(key, bytes).map_err(storage)?;
        Ok(())
    }

    /// Records a new one-time code.
    pub fn add_code(&self, code: &EnrolmentCode, record: &CodeRecord) -> Result<(), EnrolError> {
        self.put(&code_key(&code.secret), record)?;
        self.tree.flush().map_err(storage)?;
        Ok(())
    }

    /// Checks a code and marks it used (atomically: a code works once even when two nodes
    /// race with it). Returns the clinic the node is enrolled for.
    pub fn redeem(
        &self,
        code: &EnrolmentCode,
        claimed: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<(Uuid, Option<String>), EnrolError> {
        let key = code_key(&code.secret);
        let old = self
            .tree
            .get(&key)
            .map_err(storage)?
            .ok_or(EnrolError::Unknown)?;
        let mut record: CodeRecord = serde_json::from_slice(&old).map_err(storage)?;
        if record.used_at.is_some() {
            return Err(EnrolError::Used);
        }
        if now > record.expires_at {
            return Err(EnrolError::Expired);
        }
        let clinic = match (record.clinic, claimed) {
            (Some(c), None) => c,
            (Some(c), Some(claim)) if c == claim => c,
            (Some(_), Some(_)) => return Err(EnrolError::WrongClinic),
            (None, None) => return Err(EnrolError::NoClinic),
            (None, Some(claim)) => {
                if self.clinic(claim).is_some() {
                    return Err(EnrolError::AlreadyEnrolled);
                }
                claim
            }
        };
        if self.clinic(clinic).is_some_and(|c| c.revoked) {
            return Err(EnrolError::Revoked);
        }
        record.used_at = Some(now);
        let new = serde_json::to_vec(&record).map_err(storage)?;
        let swapped = self
            .tree
            .compare_and_swap(&key, Some(&old), Some(&new))
            .map_err(storage)?;
        if !swapped {
            return Err(EnrolError::Used);
        }
        Ok((clinic, record.facility))
    }

    /// Records an enrolled node (and its clinic, the first time).
    pub fn add_node(&self, node: &NodeRecord, facility: Option<String>) -> Result<(), EnrolError> {
        if self.clinic(node.clinic).is_none() {
            self.put(
                &clinic_key(node.clinic),
                &ClinicRecord {
                    clinic: node.clinic,
                    facility,
                    enrolled_at: node.enrolled_at,
                    revoked: false,
                },
            )?;
        }
        self.put(&node_key(node.node), node)?;
        self.tree.flush().map_err(storage)?;
        Ok(())
    }

    pub fn clinic(&self, clinic: Uuid) -> Option<ClinicRecord> {
        self.get(&clinic_key(clinic))
    }

    pub fn node(&self, node: Uuid) -> Option<NodeRecord> {
        self.get(&node_key(node))
    }

    pub fn clinics(&self) -> Vec<ClinicRecord> {
        self.tree
            .scan_prefix(b"c/")
            .filter_map(|kv| serde_json::from_slice(&kv.ok()?.1).ok())
            .collect()
    }

    pub fn nodes(&self) -> Vec<NodeRecord> {
        self.tree
            .scan_prefix(b"n/")
            .filter_map(|kv| serde_json::from_slice(&kv.ok()?.1).ok())
            .collect()
    }

    /// Revokes a clinic and every node of it. Returns false if it was never enrolled.
    pub fn revoke_clinic(&self, clinic: Uuid) -> Result<bool, EnrolError> {
        let Some(mut c) = self.clinic(clinic) else {
            return Ok(false);
        };
        c.revoked = true;
        self.put(&clinic_key(clinic), &c)?;
        for mut n in self.nodes().into_iter().filter(|n| n.clinic == clinic) {
            n.revoked = true;
            self.put(&node_key(n.node), &n)?;
        }
        self.tree.flush().map_err(storage)?;
        Ok(true)
    }
}

impl Revocation for HubState {
    /// A node is let in only with the very certificate the hub issued it, while neither it
    /// nor its clinic is revoked.
    fn is_revoked(&self, role: &PeerRole, cert_fingerprint: &[u8; 32]) -> bool {
        match role {
            PeerRole::Hub => true,
            PeerRole::Node { clinic, node } => match self.node(*node) {
                Some(n) => {
                    n.revoked
                        || n.clinic != *clinic
                        || n.fingerprint != hex::encode(cert_fingerprint)
                        || self.clinic(*clinic).is_none_or(|c| c.revoked)
                }
                None => true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use attach_sync::HubCa;
    use time::Duration;

    use super::*;

    fn state() -> HubState {
        HubState {
            tree: LocalTree::temporary(TREE).expect("state"),
        }
    }

    fn code(state: &HubState, clinic: Option<Uuid>, now: OffsetDateTime) -> EnrolmentCode {
        let ca = HubCa::generate("test").expect("ca");
        let code = EnrolmentCode::new_for(&ca);
        state
            .add_code(
                &code,
                &CodeRecord {
                    clinic,
                    facility: Some("123".into()),
                    created_at: now,
                    expires_at: now + Duration::hours(1),
                    used_at: None,
                },
            )
            .expect("add");
        code
    }

    #[test]
    fn a_code_works_once_and_expires() {
        let s = state();
        let now = OffsetDateTime::now_utc();
        let clinic = Uuid::now_v7();
        let c = code(&s, None, now);
        assert_eq!(s.redeem(&c, None, now), Err(EnrolError::NoClinic));
        assert_eq!(s.redeem(&c, Some(clinic), now).map(|r| r.0), Ok(clinic));
        assert_eq!(s.redeem(&c, Some(clinic), now), Err(EnrolError::Used));
        let late = code(&s, Some(clinic), now);
        assert_eq!(
            s.redeem(&late, None, now + Duration::hours(2)),
            Err(EnrolError::Expired)
        );
        let other = code(&s, Some(clinic), now);
        assert_eq!(
            s.redeem(&other, Some(Uuid::now_v7()), now),
            Err(EnrolError::WrongClinic)
        );
    }

    #[test]
    fn a_new_clinic_code_cannot_take_over_an_enrolled_clinic_and_revocation_is_total() {
        let s = state();
        let now = OffsetDateTime::now_utc();
        let clinic = Uuid::now_v7();
        let node = Uuid::now_v7();
        let fp = [7u8; 32];
        s.add_node(
            &NodeRecord {
                clinic,
                node,
                fingerprint: hex::encode(fp),
                enrolled_at: now,
                revoked: false,
            },
            None,
        )
        .expect("node");
        let c = code(&s, None, now);
        assert_eq!(
            s.redeem(&c, Some(clinic), now),
            Err(EnrolError::AlreadyEnrolled)
        );
        let role = PeerRole::Node { clinic, node };
        assert!(!s.is_revoked(&role, &fp));
        assert!(
            s.is_revoked(&role, &[8; 32]),
            "another certificate for the same node"
        );
        assert!(s.is_revoked(
            &PeerRole::Node {
                clinic: Uuid::now_v7(),
                node
            },
            &fp
        ));
        assert!(s.revoke_clinic(clinic).expect("revoke"));
        assert!(s.is_revoked(&role, &fp));
        let again = code(&s, Some(clinic), now);
        assert_eq!(s.redeem(&again, None, now), Err(EnrolError::Revoked));
    }
}
