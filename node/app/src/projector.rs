//! Turns a document into its projection (persisted by the store beside each change) and
//! feeds committed projections to the read model.

use std::sync::Arc;

use automerge::Automerge;

use super::model::{Candidate, FieldConflict, Projection, ReadModel};
use attach_domain::UserId;
use attach_schema::work::{DONE_ITEM, KIND_REVIEW_DONE, KIND_REVIEW_TASK, TASK_ITEM, read_items};
use attach_store::DocId;

/// Bump when `Projection` changes shape: the store then re-projects every document at open.
const PROJECTION_VERSION: u32 = 2;

pub struct Projector {
    model: Arc<ReadModel>,
}

impl Projector {
    pub fn new(model: Arc<ReadModel>) -> Self {
        Self { model }
    }
}

/// How a member's conflicted field is named in the clinic projection.
pub(super) fn member_conflict_field(field: &str, member: UserId) -> String {
    format!("{field} of member {member}")
}

/// The member and field of a name made by [`member_conflict_field`].
pub(super) fn parse_member_conflict_field(name: &str) -> Option<(UserId, &str)> {
    let (field, member) = name.rsplit_once(" of member ")?;
    Some((member.parse().ok()?, field))
}

/// The kind of document an id names, from its first segment(s).
fn project(id: &DocId, doc: &Automerge) -> Result<Projection, String> {
    let segments: Vec<&str> = id.as_str().split('/').collect();
    match segments.as_slice() {
        ["clinic", _] => {
            let clinic = attach_schema::read_clinic(doc).map_err(|e| e.to_string())?;
            let err = |e: attach_schema::SchemaError| e.to_string();
            let candidates = |key: &str| -> Result<Vec<Candidate>, String> {
                Ok(attach_schema::register_candidates(doc, key)
                    .map_err(err)?
                    .iter()
                    .map(Candidate::from)
                    .collect())
            };
            Ok(Projection::Clinic {
                clinic: Box::new(clinic),
                primary_candidates: candidates("primary")?,
                secondary_candidates: candidates("secondary")?,
                member_conflicts: attach_schema::member_field_conflicts(doc)
                    .map_err(err)?
                    .iter()
                    .map(|m| {
                        let mut f = FieldConflict::from(&m.conflict);
                        f.field = member_conflict_field(&f.field, m.member);
                        f
                    })
                    .collect(),
                rule_conflicts: attach_schema::status_rule_conflicts(doc)
                    .map_err(err)?
                    .iter()
                    .map(FieldConflict::from)
                    .collect(),
            })
        }
        ["account", _] => Ok(Projection::Account(Box::new(
            attach_schema::read_account(doc)
                .map_err(|e| e.to_string())?
                .into(),
        ))),
        ["coordinator", _] => Ok(Projection::Coordinator(Box::new(
            attach_schema::read_account(doc)
                .map_err(|e| e.to_string())?
                .into(),
        ))),
        ["panel", provider] => Ok(Projection::Preferences {
            provider: provider
                .parse()
                .map_err(|_| "panel document id does not name a provider".to_owned())?,
            preferences: attach_schema::read_preferences(doc).map_err(|e| e.to_string())?,
        }),
        ["panel", _, _] => Ok(Projection::Entry {
            entry: Box::new(attach_schema::read_entry(doc).map_err(|e| e.to_string())?),
            conflicts: attach_schema::entry_field_conflicts(doc)
                .map_err(|e| e.to_string())?
                .iter()
                .map(FieldConflict::from)
                .collect(),
        }),
        ["waiting", _] => {
            let (person, registrations) =
                attach_schema::matching::read_waiting(doc).map_err(|e| e.to_string())?;
            Ok(Projection::Waiting {
                person: Box::new(person),
                registrations,
            })
        }
        ["inbox", _, _] => Ok(Projection::Offer {
            offer: Box::new(attach_schema::matching::read_offer(doc).map_err(|e| e.to_string())?),
            origin: origin_node(doc),
            conflicts: attach_schema::entry_field_conflicts(doc)
                .map_err(|e| e.to_string())?
                .iter()
                .map(FieldConflict::from)
                .collect(),
        }),
        ["clinic", _, "review", _] => {
            let mut items: std::collections::BTreeMap<String, attach_domain::ReviewTask> =
                read_items(doc, KIND_REVIEW_TASK).map_err(|e| e.to_string())?;
            items
                .remove(TASK_ITEM)
                .map(|t| Projection::ReviewTask(Box::new(t)))
                .ok_or_else(|| "a review task document without its task".to_owned())
        }
        ["clinic", _, "review", _, _] => {
            let mut items: std::collections::BTreeMap<String, attach_domain::Completion> =
                read_items(doc, KIND_REVIEW_DONE).map_err(|e| e.to_string())?;
            items
                .remove(DONE_ITEM)
                .map(|d| Projection::ReviewDone(Box::new(d)))
                .ok_or_else(|| "a completion document without its completion".to_owned())
        }
        // Month-end counts (of panels, and of the measures the hub compares) are recomputed
        // every hour: a count two nodes wrote apart needs no person to settle it.
        ["clinic", _, "census", _] | ["clinic", _, "measures", _] => Ok(Projection::Work {
            conflicts: Vec::new(),
        }),
        ["clinic", _, "catalogue"] => Ok(Projection::Catalogue {
            protocol: Box::new(
                attach_schema::clinical::read_coding_protocol(doc).map_err(|e| e.to_string())?,
            ),
            conflicts: attach_schema::work::item_conflicts(doc).map_err(|e| e.to_string())?,
        }),
        // A QI cycle's points and edits are read when its page is: the read model only
        // keeps which of its items two nodes wrote apart.
        ["clinical", _, "qi", _] => Ok(Projection::Work {
            conflicts: attach_schema::work::item_conflicts(doc).map_err(|e| e.to_string())?,
        }),
        ["clinical", _, _] => {
            let read = attach_schema::clinical::read_clinical(doc).map_err(|e| e.to_string())?;
            Ok(Projection::Clinical {
                phn: read.phn,
                records: read.records.into_values().collect(),
                conflicts: read.conflicts,
                recalls: read.recalls.into_values().collect(),
                dismissed: read.dismissed.into_keys().collect(),
                followup_conflicts: read.followup_conflicts,
            })
        }
        ["clinic", _, ..] => Ok(Projection::Work {
            conflicts: attach_schema::work::item_conflicts(doc).map_err(|e| e.to_string())?,
        }),
        _ => Err("unknown document kind".to_owned()),
    }
}

/// The node that made a document's first change: the node of every change without
/// dependencies, if they agree (a document has several only if replicas created it apart).
/// `None` when they disagree or an actor is not one Attach makes.
fn origin_node(doc: &Automerge) -> Option<uuid::Uuid> {
    // The changes' metadata is enough; `get_changes` would rebuild every change with its
    // operations, and every new offer of a matching round is projected.
    let mut roots = doc
        .get_changes_meta(&[])
        .into_iter()
        .filter(|c| c.deps.is_empty())
        .map(|c| attach_store::author_of(&c.actor).map(|(node, _)| node));
    let first = roots.next()??;
    roots
        .all(|n| n == Some(first))
        .then(|| uuid::Uuid::from_bytes(first.0))
}

impl attach_store::Projector for Projector {
    fn version(&self) -> u32 {
        PROJECTION_VERSION
    }

    fn project(&self, id: &DocId, doc: &Automerge) -> Vec<u8> {
        let projection = project(id, doc).unwrap_or_else(|error| Projection::Unreadable { error });
        serde_json::to_vec(&projection).unwrap_or_default()
    }

    fn committed(&self, id: &DocId, bytes: &[u8]) {
        let projection = serde_json::from_slice(bytes).unwrap_or_else(|e| Projection::Unreadable {
            error: format!("stored projection does not decode: {e}"),
        });
        if let Projection::Unreadable { error } = &projection {
            tracing::warn!(doc = %id, %error, "document could not be read");
        }
        self.model.apply(id.as_str(), projection);
    }
}
