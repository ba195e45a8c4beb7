//! A clinic's working records (`clinic/<clinic>/…` documents other than the clinic itself):
//! MSP reconciliation decisions, review tasks and their completions, the written protocol.
//!
//! Each such document has the usual `kind` and `schema` header and, at its root, one field
//! per record, `item/<key>`, holding the record as JSON text (its domain type's serde form).
//! A record is never edited in place: it is replaced whole, or deleted, like a group (see
//! `common`). Two replicas writing the same key apart therefore resolve to one whole record,
//! the same on every replica; [`item_conflicts`] lists keys written differently on both
//! sides so the Conflicts page can show them. Writing the record already stored makes no
//! operation.
//!
//! The records sit at the root, not in a map of their own, because a map created on two
//! replicas apart is two maps, and the merge keeps one of them whole: the other replica's
//! records would vanish from view with no conflict to show. Documents written before this
//! layout keep their records in a root map `items`; they are still read, and a record
//! written again moves to the root.

use std::collections::BTreeMap;

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, ScalarValue, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::common::{SchemaError, put_header, text};

/// `kind` of a provider's MSP reconciliation document.
pub const KIND_MSP: &str = "msp-reconciliation";
/// `kind` of a review task document.
pub const KIND_REVIEW_TASK: &str = "review-task";
/// `kind` of a review task's completion document.
pub const KIND_REVIEW_DONE: &str = "review-done";
/// `kind` of a bulk change's record (to undo it).
pub const KIND_BULK: &str = "bulk-change";
/// The record of a bulk change document (its one item).
pub const BULK_ITEM: &str = "bulk";
/// `kind` of the clinic's protocol document.
pub const KIND_PROTOCOL: &str = "protocol";
/// `kind` of a year of month-end panel counts.
pub const KIND_CENSUS: &str = "panel-census";
/// `kind` of a year of the clinic's measure counts (the provincial comparison).
pub const KIND_MEASURES: &str = "clinic-measures";
/// `kind` of the clinic's supply/demand settings.
pub const KIND_SUPPLY: &str = "panel-supply";
/// The visit-rate table's item in the supply document.
pub const RATES_ITEM: &str = "visit-rates";

/// The legacy map of records (documents written before records moved to the root).
const ITEMS: &str = "items";
/// The root key of a record is this prefix and the record's key.
const ITEM_PREFIX: &str = "item/";

/// Where record `key` lives in `doc`: the root field, or (for an older document that has
/// it only there) the legacy map. `None` when the record was never written.
pub(crate) fn locate_item<R: ReadDoc>(
    doc: &R,
    key: &str,
) -> Result<Option<(automerge::ObjId, String)>, SchemaError> {
    let root_key = format!("{ITEM_PREFIX}{key}");
    if doc.get(ROOT, root_key.as_str())?.is_some() {
        return Ok(Some((ROOT, root_key)));
    }
    Ok(match items_obj(doc)? {
        Some(obj) if doc.get(&obj, key)?.is_some() => Some((obj, key.to_owned())),
        _ => None,
    })
}

/// The record of a review task document (its one item).
pub const TASK_ITEM: &str = "task";
/// The record of a completion document (its one item).
pub const DONE_ITEM: &str = "done";

/// The kind a document declares, if it has one.
pub fn kind_of<R: ReadDoc>(doc: &R) -> Option<String> {
    match doc.get(ROOT, "kind").ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(k) => Some(k.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn items_obj<R: ReadDoc>(doc: &R) -> Result<Option<automerge::ObjId>, SchemaError> {
    match doc.get(ROOT, ITEMS)? {
        Some((Value::Object(ObjType::Map), obj)) => Ok(Some(obj)),
        Some(_) => Err(SchemaError::Malformed {
            doc: "working",
            field: ITEMS.to_owned(),
            expected: "a map",
        }),
        None => Ok(None),
    }
}

fn check_kind<R: ReadDoc>(doc: &R, kind: &'static str) -> Result<bool, SchemaError> {
    match doc.get(ROOT, "kind")? {
        None => Ok(false),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Str(found) if found.as_str() == kind => Ok(true),
            other => Err(SchemaError::WrongKind {
                expected: kind,
                found: super::common::display_scalar(other),
            }),
        },
        Some(_) => Err(SchemaError::Malformed {
            doc: kind,
            field: "kind".to_owned(),
            expected: "text",
        }),
    }
}

/// Every record of a document of `kind`, by key (an empty map for a new document).
pub fn read_items<R: ReadDoc, T: DeserializeOwned>(
    doc: &R,
    kind: &'static str,
) -> Result<BTreeMap<String, T>, SchemaError> {
    if !check_kind(doc, kind)? {
        return Ok(BTreeMap::new());
    }
    let parse = |field: String, value: Option<(Value<'_>, automerge::ObjId)>| {
        let Some((Value::Scalar(s), _)) = value else {
            return Ok(None);
        };
        let malformed = || SchemaError::Malformed {
            doc: kind,
            field: field.clone(),
            expected: "a record",
        };
        let ScalarValue::Str(json) = s.as_ref() else {
            return Err(malformed());
        };
        serde_json::from_str(json)
            .map(Some)
            .map_err(|_| malformed())
    };
    let mut out = BTreeMap::new();
    if let Some(obj) = items_obj(doc)? {
        for key in doc.keys(&obj) {
            if let Some(v) = parse(format!("{ITEMS}/{key}"), doc.get(&obj, &key)?)? {
                out.insert(key, v);
            }
        }
    }
    // The root fields are the newer writes: they win over a legacy copy.
    for field in doc.keys(ROOT) {
        let Some(key) = field.strip_prefix(ITEM_PREFIX) else {
            continue;
        };
        if let Some(v) = parse(field.clone(), doc.get(ROOT, field.as_str())?)? {
            out.insert(key.to_owned(), v);
        }
    }
    Ok(out)
}

/// Sets (or with `None` deletes) the record `key` of a document of `kind`.
pub fn write_item<T: Transactable, V: Serialize>(
    tx: &mut T,
    kind: &'static str,
    key: &str,
    value: Option<&V>,
) -> Result<(), SchemaError> {
    put_header(tx, kind)?;
    let root_key = format!("{ITEM_PREFIX}{key}");
    // A legacy copy goes: the record lives at the root from now on.
    if let Some(obj) = items_obj(tx)?
        && tx.get(&obj, key)?.is_some()
    {
        tx.delete(&obj, key)?;
    }
    match value {
        Some(v) => {
            let json = serde_json::to_string(v).map_err(|_| SchemaError::Malformed {
                doc: kind,
                field: root_key.clone(),
                expected: "a record that can be written",
            })?;
            let same = matches!(
                tx.get(ROOT, root_key.as_str())?,
                Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Str(j) if j.as_str() == json)
            ) && tx.get_all(ROOT, root_key.as_str())?.len() == 1;
            if !same {
                tx.put(ROOT, root_key.as_str(), text(&json))?;
            }
        }
        None => {
            if tx.get(ROOT, root_key.as_str())?.is_some() {
                tx.delete(ROOT, root_key.as_str())?;
            }
        }
    }
    Ok(())
}

/// Keys whose record two replicas wrote apart, differently (the stored one is the winner).
/// Two replicas that wrote the same record agree, so that is no conflict.
pub fn item_conflicts<R: ReadDoc>(doc: &R) -> Result<Vec<String>, SchemaError> {
    let differ = |all: Vec<(Value<'_>, automerge::ObjId)>| {
        let mut values = all.iter().map(|(v, _)| match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(j) => Some(j.to_string()),
                _ => None,
            },
            Value::Object(_) => None,
        });
        let first = values.next().flatten();
        all.len() > 1 && (first.is_none() || values.any(|v| v != first))
    };
    let mut out = Vec::new();
    for field in doc.keys(ROOT) {
        if let Some(key) = field.strip_prefix(ITEM_PREFIX)
            && differ(doc.get_all(ROOT, field.as_str())?)
        {
            out.push(key.to_owned());
        }
    }
    if let Some(obj) = items_obj(doc)? {
        for key in doc.keys(&obj) {
            if differ(doc.get_all(&obj, &key)?) && !out.contains(&key) {
                out.push(key);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::Automerge;
    use automerge::transaction::CommitOptions;

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
    struct Note {
        text: String,
    }

    fn note(s: &str) -> Note {
        Note { text: s.to_owned() }
    }

    #[test]
    fn records_round_trip_and_rewriting_one_makes_no_operation() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        write_item(&mut tx, KIND_MSP, "a", Some(&note("one"))).unwrap();
        write_item(&mut tx, KIND_MSP, "b", Some(&note("two"))).unwrap();
        tx.commit_with(CommitOptions::default());
        let items: BTreeMap<String, Note> = read_items(&doc, KIND_MSP).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items["a"], note("one"));
        let mut tx = doc.transaction();
        write_item(&mut tx, KIND_MSP, "a", Some(&note("one"))).unwrap();
        assert_eq!(tx.pending_ops(), 0);
        write_item::<_, Note>(&mut tx, KIND_MSP, "b", None).unwrap();
        tx.commit_with(CommitOptions::default());
        let items: BTreeMap<String, Note> = read_items(&doc, KIND_MSP).unwrap();
        assert_eq!(items.keys().collect::<Vec<_>>(), ["a"]);
        // Another kind's reader refuses the document.
        assert!(read_items::<_, Note>(&doc, KIND_PROTOCOL).is_err());
    }

    #[test]
    fn one_record_written_apart_resolves_to_one_side_whole_and_is_listed() {
        let mut a = Automerge::new();
        let mut tx = a.transaction();
        write_item(&mut tx, KIND_MSP, "k", Some(&note("base"))).unwrap();
        tx.commit_with(CommitOptions::default());
        let mut b = a.fork();
        let mut tx = a.transaction();
        write_item(&mut tx, KIND_MSP, "k", Some(&note("from a"))).unwrap();
        tx.commit_with(CommitOptions::default());
        let mut tx = b.transaction();
        write_item(&mut tx, KIND_MSP, "k", Some(&note("from b"))).unwrap();
        tx.commit_with(CommitOptions::default());
        a.merge(&mut b).unwrap();
        b.merge(&mut a.clone()).unwrap();
        let ra: BTreeMap<String, Note> = read_items(&a, KIND_MSP).unwrap();
        let rb: BTreeMap<String, Note> = read_items(&b, KIND_MSP).unwrap();
        assert_eq!(ra, rb);
        assert!(ra["k"] == note("from a") || ra["k"] == note("from b"));
        assert_eq!(item_conflicts(&a).unwrap(), vec!["k".to_owned()]);
    }

    #[test]
    fn a_document_created_on_two_replicas_apart_keeps_both_sides_records() {
        let (mut a, mut b) = (Automerge::new(), Automerge::new());
        let mut tx = a.transaction();
        write_item(&mut tx, KIND_PROTOCOL, "team", Some(&note("from a"))).unwrap();
        tx.commit_with(CommitOptions::default());
        let mut tx = b.transaction();
        write_item(&mut tx, KIND_PROTOCOL, "team", Some(&note("from b"))).unwrap();
        write_item(&mut tx, KIND_PROTOCOL, "msp", Some(&note("only b"))).unwrap();
        tx.commit_with(CommitOptions::default());
        a.merge(&mut b).unwrap();
        let items: BTreeMap<String, Note> = read_items(&a, KIND_PROTOCOL).unwrap();
        assert_eq!(items["msp"], note("only b"), "b's other record is kept");
        assert_eq!(item_conflicts(&a).unwrap(), vec!["team".to_owned()]);
    }

    #[test]
    fn a_legacy_record_map_is_read_and_a_rewrite_moves_the_record_to_the_root() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        put_header(&mut tx, KIND_MSP).unwrap();
        let obj = tx.put_object(ROOT, ITEMS, ObjType::Map).unwrap();
        tx.put(
            &obj,
            "old",
            text(&serde_json::to_string(&note("legacy")).unwrap()),
        )
        .unwrap();
        tx.commit_with(CommitOptions::default());
        let items: BTreeMap<String, Note> = read_items(&doc, KIND_MSP).unwrap();
        assert_eq!(items["old"], note("legacy"));
        let mut tx = doc.transaction();
        write_item(&mut tx, KIND_MSP, "old", Some(&note("rewritten"))).unwrap();
        tx.commit_with(CommitOptions::default());
        let items: BTreeMap<String, Note> = read_items(&doc, KIND_MSP).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items["old"], note("rewritten"));
        let legacy = match doc.get(ROOT, ITEMS).unwrap() {
            Some((Value::Object(_), obj)) => doc.keys(&obj).count(),
            _ => 0,
        };
        assert_eq!(legacy, 0, "the legacy copy is gone");
        let mut tx = doc.transaction();
        write_item::<_, Note>(&mut tx, KIND_MSP, "old", None).unwrap();
        tx.commit_with(CommitOptions::default());
        assert!(read_items::<_, Note>(&doc, KIND_MSP).unwrap().is_empty());
    }

    #[test]
    fn the_same_record_written_apart_is_no_conflict() {
        let mut a = Automerge::new();
        let mut tx = a.transaction();
        write_item(&mut tx, KIND_CENSUS, "k", Some(&note("base"))).unwrap();
        tx.commit_with(CommitOptions::default());
        let mut b = a.fork();
        for doc in [&mut a, &mut b] {
            let mut tx = doc.transaction();
            write_item(&mut tx, KIND_CENSUS, "k", Some(&note("12 active"))).unwrap();
            tx.commit_with(CommitOptions::default());
        }
        a.merge(&mut b).unwrap();
        let items: BTreeMap<String, Note> = read_items(&a, KIND_CENSUS).unwrap();
        assert_eq!(items["k"], note("12 active"));
        assert!(item_conflicts(&a).unwrap().is_empty());
    }
}
