//! Where a field that merges left with several concurrent values lives, so the app can
//! read its candidates again when someone settles it, check that nothing arrived in the
//! meantime, and write the chosen value over all of them.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, Value};

use super::clinic::{MEMBER_RECORD, MEMBERS, STATUS_RULES};
use super::common::{Candidate, SchemaError, field_candidates, resolve_field};
use attach_domain::UserId;

/// A conflicted field: a root register of the clinic document (`PRIMARY`, `SECONDARY`),
/// one field of one member (or, with [`MEMBER_RECORD`], the whole member record), one field
/// of one status's rule on the clinic document, a root field (or group) of a patient entry
/// document, or one record of a clinic's working document (`crate::work`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictedField<'a> {
    Register(&'a str),
    Member {
        member: UserId,
        field: &'a str,
    },
    Entry(&'a str),
    /// `status` is `active`, `inactive` or a clinic status id, as `status_rule_conflicts`
    /// names it.
    StatusRule {
        status: &'a str,
        field: &'a str,
    },
    /// The key of one record of a working document.
    Work(&'a str),
}

impl ConflictedField<'_> {
    /// The map holding the field and the field's key in it; `None` if the member record
    /// does not exist (then there is nothing to settle).
    fn locate<R: ReadDoc>(&self, doc: &R) -> Result<Option<(ObjId, String)>, SchemaError> {
        Ok(match *self {
            Self::Register(key) | Self::Entry(key) => Some((ROOT, key.to_owned())),
            Self::StatusRule { status, field } => {
                let Some((Value::Object(ObjType::Map), rules)) = doc.get(ROOT, STATUS_RULES)?
                else {
                    return Ok(None);
                };
                match doc.get(&rules, status)? {
                    Some((Value::Object(ObjType::Map), rule)) => Some((rule, field.to_owned())),
                    _ => None,
                }
            }
            Self::Work(key) => super::work::locate_item(doc, key)?,
            Self::Member { member, field } => {
                let Some((Value::Object(ObjType::Map), members)) = doc.get(ROOT, MEMBERS)? else {
                    return Ok(None);
                };
                let id = member.to_string();
                if field == MEMBER_RECORD {
                    Some((members, id))
                } else {
                    match doc.get(&members, id.as_str())? {
                        Some((Value::Object(ObjType::Map), record)) => {
                            Some((record, field.to_owned()))
                        }
                        _ => None,
                    }
                }
            }
        })
    }

    /// Every concurrent value of the field, with its author (the last one is the one
    /// readers see).
    pub fn candidates(&self, doc: &Automerge) -> Result<Vec<Candidate>, SchemaError> {
        match self.locate(doc)? {
            Some((obj, key)) => field_candidates(doc, &obj, &key),
            None => Ok(Vec::new()),
        }
    }

    /// The ids of the operations that wrote the current values: equal lists mean nothing
    /// changed the field between two reads. Works inside a transaction.
    pub fn ops<R: ReadDoc>(&self, doc: &R) -> Result<Vec<ObjId>, SchemaError> {
        match self.locate(doc)? {
            Some((obj, key)) => Ok(doc
                .get_all(&obj, key.as_str())?
                .into_iter()
                .map(|(_, op)| op)
                .collect()),
            None => Ok(Vec::new()),
        }
    }

    /// Writes `chosen` over every concurrent value of the field.
    pub fn resolve<T: Transactable>(
        &self,
        tx: &mut T,
        chosen: &Candidate,
    ) -> Result<(), SchemaError> {
        match *self {
            Self::Register(key) => super::clinic::resolve_register(tx, key, chosen),
            Self::Member { member, field } => {
                super::clinic::resolve_member_field(tx, member, field, chosen)
            }
            Self::Entry(field) => super::panel::resolve_entry_field(tx, field, chosen),
            Self::StatusRule { .. } | Self::Work(_) => match self.locate(tx)? {
                Some((obj, key)) => resolve_field(tx, &obj, &key, chosen),
                None => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::StoredValue;
    use automerge::ActorId;

    #[test]
    fn a_settled_register_has_one_value_on_both_sides_and_ops_see_new_values() {
        let mut a = Automerge::new().with_actor(ActorId::random());
        let mut tx = a.transaction();
        tx.put(ROOT, "primary", "x").expect("put");
        tx.commit();
        let mut b = a.fork();
        let mut tx = a.transaction();
        tx.put(ROOT, "primary", "a").expect("put");
        tx.commit();
        let mut tx = b.transaction();
        tx.put(ROOT, "primary", "b").expect("put");
        tx.commit();
        a.merge(&mut b).expect("merge");
        b.merge(&mut a).expect("merge");
        let field = ConflictedField::Register("primary");
        let candidates = field.candidates(&a).expect("read");
        assert_eq!(candidates.len(), 2);
        let before = field.ops(&a).expect("ops");
        assert_eq!(before, field.ops(&b).expect("ops"), "same ops on both");
        let chosen = candidates
            .iter()
            .find(|c| c.value == "b")
            .expect("b is a candidate")
            .clone();
        let mut tx = a.transaction();
        assert_eq!(field.ops(&tx).expect("ops in tx"), before);
        field.resolve(&mut tx, &chosen).expect("resolve");
        tx.commit();
        b.merge(&mut a).expect("merge back");
        for doc in [&a, &b] {
            let after = field.candidates(doc).expect("read");
            assert_eq!(after.len(), 1);
            assert!(matches!(&after[0].stored, StoredValue::Scalar(v) if v.as_str() == Some("b")));
        }
        assert_ne!(field.ops(&a).expect("ops"), before);
    }

    #[test]
    fn a_missing_member_has_nothing_to_settle() {
        let doc = Automerge::new();
        let field = ConflictedField::Member {
            member: UserId::new(),
            field: "state",
        };
        assert!(field.candidates(&doc).expect("read").is_empty());
        assert!(field.ops(&doc).expect("ops").is_empty());
    }
}
