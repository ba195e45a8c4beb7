//! A clinic's working records (`clinic/<clinic>/…` documents other than the clinic itself):
//! MSP reconciliation decisions, review tasks and their completions, the written protocol.
//!
//! Each such document has the usual `kind` and `schema` header and one map, `items`, from a
//! record's key to the record as JSON text (its domain type's serde form). A record is never
//! edited in place: it is replaced whole, or deleted, like a group (see `common`). Two
//! replicas writing the same key apart therefore resolve to one whole record, the same on
//! every replica; [`item_conflicts`] lists keys written on both sides so the Conflicts page
//! can show them. Writing the record already stored makes no operation.

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
/// `kind` of the clinic's supply/demand settings.
pub const KIND_SUPPLY: &str = "panel-supply";
/// The visit-rate table's item in the supply document.
pub const RATES_ITEM: &str = "visit-rates";

const ITEMS: &str = "items";

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
    let Some(obj) = items_obj(doc)? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for key in doc.keys(&obj) {
        let Some((Value::Scalar(s), _)) = doc.get(&obj, &key)? else {
            continue;
        };
        let ScalarValue::Str(json) = s.as_ref() else {
            return Err(SchemaError::Malformed {
                doc: kind,
                field: format!("{ITEMS}/{key}"),
                expected: "a record",
            });
        };
        let value = serde_json::from_str(json).map_err(|_| SchemaError::Malformed {
            doc: kind,
            field: format!("{ITEMS}/{key}"),
            expected: "a record",
        })?;
        out.insert(key, value);
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
    let obj = match items_obj(tx)? {
        Some(obj) => obj,
        None => tx.put_object(ROOT, ITEMS, ObjType::Map)?,
    };
    match value {
        Some(v) => {
            let json = serde_json::to_string(v).map_err(|_| SchemaError::Malformed {
                doc: kind,
                field: format!("{ITEMS}/{key}"),
                expected: "a record that can be written",
            })?;
            let same = matches!(
                tx.get(&obj, key)?,
                Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Str(j) if j.as_str() == json)
            ) && tx.get_all(&obj, key)?.len() == 1;
            if !same {
                tx.put(&obj, key, text(&json))?;
            }
        }
        None => {
            if tx.get(&obj, key)?.is_some() {
                tx.delete(&obj, key)?;
            }
        }
    }
    Ok(())
}

/// Keys whose record two replicas wrote apart, differently (the stored one is the winner).
/// Two replicas that wrote the same record agree, so that is no conflict.
pub fn item_conflicts<R: ReadDoc>(doc: &R) -> Result<Vec<String>, SchemaError> {
    let Some(obj) = items_obj(doc)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for key in doc.keys(&obj) {
        let all = doc.get_all(&obj, &key)?;
        let mut values = all.iter().map(|(v, _)| match v {
            Value::Scalar(s) => match s.as_ref() {
                ScalarValue::Str(j) => Some(j.to_string()),
                _ => None,
            },
            Value::Object(_) => None,
        });
        let first = values.next().flatten();
        if all.len() > 1 && (first.is_none() || values.any(|v| v != first)) {
            out.push(key);
        }
    }
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
        assert_eq!(a.get_all(ROOT, ITEMS).unwrap().len(), 1);
        let items: BTreeMap<String, Note> = read_items(&a, KIND_CENSUS).unwrap();
        assert_eq!(items["k"], note("12 active"));
        assert!(item_conflicts(&a).unwrap().is_empty());
    }
}
