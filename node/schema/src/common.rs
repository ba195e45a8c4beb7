//! What every document kind shares: the error type, field readers and
//! diffing field writers, value encodings, and conflict extraction.
//!
//! Encodings (one per kind of value, used everywhere):
//! - ids: the hyphenated lower-case UUID string;
//! - instants: `ScalarValue::Timestamp` in Unix **milliseconds** (sub-millisecond parts are
//!   dropped on write); readers also accept a plain integer of milliseconds;
//! - dates: `"YYYY-MM-DD"`; times of day: `"HH:MM"`;
//! - counts: `ScalarValue::Int`; readers also accept `Uint`;
//! - enums: their snake_case name, as in the domain's serde form;
//! - an absent optional value: `ScalarValue::Null` (a key that is missing reads the same).
//!
//! Writers only put a field whose stored (winning) value differs from the new one, so
//! writing what is already there makes no operation at all, and two replicas editing
//! different fields never touch each other's keys. (Automerge 0.12 itself drops a put of
//! the current value when there is no conflict; when there *is* one, such a put becomes a
//! delete of the other values, silently settling it. Diffing against the winner first
//! keeps conflicts for a person to settle, with [`resolve_field`].)
//!
//! Fields that only make sense together (a confirmation's time and author, a password
//! hash and its flags) are a *group*: a small map that is never edited in place but
//! replaced whole (a new map object) when any of its fields changes, or set to null.
//! Concurrent replacements then resolve to one side's whole group, never a mix — which
//! per-field puts cannot promise, since Automerge drops the put of an unchanged field.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};
use uuid::Uuid;

use attach_domain::UserId;
use attach_store::{NodeId, author_of};

/// The version of this layout, written as root `schema` in every document.
pub const SCHEMA_VERSION: i64 = 1;

/// `kind` of a `clinic/<id>` document.
pub const KIND_CLINIC: &str = "clinic";
/// `kind` of an `account/<user>` document.
pub const KIND_ACCOUNT: &str = "account";
/// `kind` of a `panel/<provider>` document.
pub const KIND_PANEL: &str = "panel";
/// `kind` of a `panel/<provider>/<entry>` document.
pub const KIND_ENTRY: &str = "panel-entry";

/// Why a document could not be read as (or written to as) a domain value. Names the
/// document kind and the field path; never the stored value.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the {doc} document has no value for `{field}`")]
    Missing { doc: &'static str, field: String },
    #[error("`{field}` in the {doc} document is not {expected}")]
    Malformed {
        doc: &'static str,
        field: String,
        expected: &'static str,
    },
    #[error("expected a {expected} document but this is a `{found}` document")]
    WrongKind {
        expected: &'static str,
        found: String,
    },
    #[error("the document could not be read or changed: {0}")]
    Automerge(#[from] AutomergeError),
}

// ---------------------------------------------------------------------------
// Value encodings
// ---------------------------------------------------------------------------

pub(crate) fn id_value(id: Uuid) -> ScalarValue {
    ScalarValue::from(id.to_string())
}

pub(crate) fn text(s: &str) -> ScalarValue {
    ScalarValue::from(s)
}

pub(crate) fn count(n: u32) -> ScalarValue {
    ScalarValue::Int(i64::from(n))
}

/// Unix milliseconds of an instant (sub-millisecond parts dropped).
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

pub(crate) fn instant(t: OffsetDateTime) -> ScalarValue {
    ScalarValue::Timestamp(unix_ms(t))
}

pub(crate) fn instant_from(v: &ScalarValue) -> Option<OffsetDateTime> {
    let ms = match v {
        ScalarValue::Timestamp(n) | ScalarValue::Int(n) => *n,
        ScalarValue::Uint(u) => i64::try_from(*u).ok()?,
        _ => return None,
    };
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

pub(crate) fn date_string(d: Date) -> String {
    let fmt = format_description!("[year]-[month]-[day]");
    d.format(&fmt).unwrap_or_default()
}

pub(crate) fn parse_date(s: &str) -> Option<Date> {
    let fmt = format_description!("[year]-[month]-[day]");
    Date::parse(s, &fmt).ok()
}

pub(crate) fn time_string(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

pub(crate) fn parse_time(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
}

/// How a stored value is shown to a person reviewing a conflict.
pub fn display_scalar(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::Null => String::new(),
        ScalarValue::Timestamp(_) => instant_from(v)
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default(),
        ScalarValue::Int(n) => n.to_string(),
        ScalarValue::Uint(n) => n.to_string(),
        ScalarValue::F64(n) => n.to_string(),
        ScalarValue::Boolean(b) => b.to_string(),
        ScalarValue::Counter(c) => i64::from(c).to_string(),
        ScalarValue::Bytes(b) => hex::encode(b),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// What a map holds at one key: a value, or a nested object and its id.
enum Stored {
    Scalar(ScalarValue),
    Object(ObjType, ObjId),
}

/// Everything a map holds, read in one pass, so reading a whole record (and its nested
/// maps) does not seek once per field: in Automerge 0.12 each `get` is a search of the
/// document's columns, and a new offer's projection spent most of its time in them.
fn contents_of(doc: &impl ReadDoc, obj: &ObjId) -> HashMap<String, Stored> {
    doc.map_range(obj, ..)
        .map(|item| {
            let id = item.id();
            let value: Value<'static> = item.value.into();
            let stored = match value {
                Value::Scalar(s) => Stored::Scalar(s.into_owned()),
                Value::Object(t) => Stored::Object(t, id),
            };
            (item.key.into_owned(), stored)
        })
        .collect()
}

/// The fields of one map object in a document, with errors that name the field path.
pub(crate) struct Fields<'a, R: ReadDoc> {
    doc: &'a R,
    kind: &'static str,
    path: String,
    /// The map's contents read in one pass ([`contents_of`]).
    cache: HashMap<String, Stored>,
}

impl<'a, R: ReadDoc> Fields<'a, R> {
    /// The root map of a document of `kind`, after checking its root `kind` field.
    pub(crate) fn root(doc: &'a R, kind: &'static str) -> Result<Self, SchemaError> {
        let root = Self {
            doc,
            kind,
            path: String::new(),
            cache: contents_of(doc, &ROOT),
        };
        let found = root.str("kind")?;
        if found != kind {
            return Err(SchemaError::WrongKind {
                expected: kind,
                found,
            });
        }
        Ok(root)
    }

    fn path_of(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.path)
        }
    }

    pub(crate) fn missing(&self, key: &str) -> SchemaError {
        SchemaError::Missing {
            doc: self.kind,
            field: self.path_of(key),
        }
    }

    pub(crate) fn malformed(&self, key: &str, expected: &'static str) -> SchemaError {
        SchemaError::Malformed {
            doc: self.kind,
            field: self.path_of(key),
            expected,
        }
    }

    /// The stored value, `None` when the key is absent or null.
    pub(crate) fn optional(&self, key: &str) -> Result<Option<ScalarValue>, SchemaError> {
        match self.cache.get(key) {
            None => Ok(None),
            Some(Stored::Object(..)) => Err(self.malformed(key, "a single value")),
            Some(Stored::Scalar(s)) if s.is_null() => Ok(None),
            Some(Stored::Scalar(s)) => Ok(Some(s.clone())),
        }
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<String>, SchemaError> {
        match self.optional(key)? {
            None => Ok(None),
            Some(ScalarValue::Str(s)) => Ok(Some(s.to_string())),
            Some(_) => Err(self.malformed(key, "text")),
        }
    }

    pub(crate) fn str(&self, key: &str) -> Result<String, SchemaError> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    pub(crate) fn opt_parsed<T>(
        &self,
        key: &str,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, SchemaError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => parse(&s)
                .map(Some)
                .ok_or_else(|| self.malformed(key, expected)),
        }
    }

    pub(crate) fn parsed<T>(
        &self,
        key: &str,
        expected: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, SchemaError> {
        self.opt_parsed(key, expected, parse)?
            .ok_or_else(|| self.missing(key))
    }

    pub(crate) fn opt_id<T: From<Uuid>>(&self, key: &str) -> Result<Option<T>, SchemaError> {
        self.opt_parsed(key, "an id", |s| Uuid::parse_str(s).ok().map(T::from))
    }

    pub(crate) fn id<T: From<Uuid>>(&self, key: &str) -> Result<T, SchemaError> {
        self.opt_id(key)?.ok_or_else(|| self.missing(key))
    }

    pub(crate) fn opt_instant(&self, key: &str) -> Result<Option<OffsetDateTime>, SchemaError> {
        match self.optional(key)? {
            None => Ok(None),
            Some(v) => instant_from(&v)
                .map(Some)
                .ok_or_else(|| self.malformed(key, "a point in time")),
        }
    }

    pub(crate) fn instant(&self, key: &str) -> Result<OffsetDateTime, SchemaError> {
        self.opt_instant(key)?.ok_or_else(|| self.missing(key))
    }

    pub(crate) fn opt_date(&self, key: &str) -> Result<Option<Date>, SchemaError> {
        self.opt_parsed(key, "a date (YYYY-MM-DD)", parse_date)
    }

    pub(crate) fn date(&self, key: &str) -> Result<Date, SchemaError> {
        self.opt_date(key)?.ok_or_else(|| self.missing(key))
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, SchemaError> {
        match self.optional(key)? {
            None => Ok(None),
            Some(ScalarValue::Boolean(b)) => Ok(Some(b)),
            Some(_) => Err(self.malformed(key, "yes or no")),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<bool, SchemaError> {
        self.opt_bool(key)?.ok_or_else(|| self.missing(key))
    }

    pub(crate) fn opt_count(&self, key: &str) -> Result<Option<u32>, SchemaError> {
        let n = match self.optional(key)? {
            None => return Ok(None),
            Some(ScalarValue::Int(n)) => u32::try_from(n).ok(),
            Some(ScalarValue::Uint(n)) => u32::try_from(n).ok(),
            Some(_) => None,
        };
        n.map(Some)
            .ok_or_else(|| self.malformed(key, "a whole number from 0 to 4294967295"))
    }

    /// The nested map under `key`.
    pub(crate) fn map(&self, key: &str) -> Result<Fields<'a, R>, SchemaError> {
        match self.cache.get(key) {
            Some(Stored::Object(ObjType::Map, id)) => Ok(Fields {
                doc: self.doc,
                cache: contents_of(self.doc, id),
                kind: self.kind,
                path: self.path_of(key),
            }),
            None => Err(self.missing(key)),
            Some(_) => Err(self.malformed(key, "a map")),
        }
    }

    /// The group (a nested map) under `key`, `None` when it is absent or null.
    pub(crate) fn opt_map(&self, key: &str) -> Result<Option<Fields<'a, R>>, SchemaError> {
        match self.cache.get(key) {
            None => Ok(None),
            Some(Stored::Scalar(s)) if s.is_null() => Ok(None),
            Some(_) => self.map(key).map(Some),
        }
    }

    /// The map's keys, in key order.
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.cache.keys().cloned().collect();
        keys.sort_unstable();
        keys
    }
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Whether the value readers see at `key` is `want` (`None` = absent or null). Only the
/// winning value is compared: a write never settles a conflict as a side effect, that is
/// left to a person, see [`resolve_field`].
fn stored_equals<T: Transactable>(
    tx: &T,
    obj: &ObjId,
    key: &str,
    want: Option<&ScalarValue>,
) -> Result<bool, AutomergeError> {
    Ok(match (tx.get(obj, key)?, want) {
        (None, None) => true,
        (Some((Value::Scalar(s), _)), None) => s.is_null(),
        (Some((Value::Scalar(s), _)), Some(w)) => s.as_ref() == w,
        _ => false,
    })
}

/// Puts `value` at `key` unless that is already the stored value. Returns whether it wrote.
pub(crate) fn put_if_changed<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    value: ScalarValue,
) -> Result<bool, AutomergeError> {
    if stored_equals(tx, obj, key, Some(&value))? {
        return Ok(false);
    }
    tx.put(obj, key, value)?;
    Ok(true)
}

/// Like [`put_if_changed`] for an optional value: `None` is stored as null, and an
/// absent key already counts as `None`.
pub(crate) fn put_opt_if_changed<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    value: Option<ScalarValue>,
) -> Result<bool, AutomergeError> {
    if stored_equals(tx, obj, key, value.as_ref())? {
        return Ok(false);
    }
    tx.put(obj, key, value.unwrap_or(ScalarValue::Null))?;
    Ok(true)
}

/// Whether the group stored at `key` holds exactly `want` (`None` = absent or null).
fn group_equals<T: Transactable>(
    tx: &T,
    obj: &ObjId,
    key: &str,
    want: Option<&[(&str, ScalarValue)]>,
) -> Result<bool, AutomergeError> {
    let group = match (tx.get(obj, key)?, want) {
        (None, None) => return Ok(true),
        (Some((Value::Scalar(s), _)), None) => return Ok(s.is_null()),
        (Some((Value::Object(ObjType::Map), id)), Some(want)) => (id, want),
        _ => return Ok(false),
    };
    let (id, want) = group;
    if tx.length(&id) != want.len() {
        return Ok(false);
    }
    for (k, v) in want {
        if !stored_equals(tx, &id, k, Some(v))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Replaces the group at `key` with a new map of `fields` (or null for `None`) unless
/// it already holds exactly that. Returns whether it wrote.
pub(crate) fn put_group_if_changed<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    fields: Option<Vec<(&str, ScalarValue)>>,
) -> Result<bool, AutomergeError> {
    if group_equals(tx, obj, key, fields.as_deref())? {
        return Ok(false);
    }
    match fields {
        None => {
            tx.put(obj, key, ScalarValue::Null)?;
        }
        Some(fields) => {
            let group = tx.put_object(obj, key, ObjType::Map)?;
            for (k, v) in fields {
                tx.put(&group, k, v)?;
            }
        }
    }
    Ok(true)
}

/// The map under `key`, made only if there is none yet (a map is made once, under a
/// stable id, so concurrent edits land in the same object).
pub(crate) fn ensure_map<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    kind: &'static str,
) -> Result<ObjId, SchemaError> {
    match tx.get(obj, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        None => Ok(tx.put_object(obj, key, ObjType::Map)?),
        Some(_) => Err(SchemaError::Malformed {
            doc: kind,
            field: key.to_string(),
            expected: "a map",
        }),
    }
}

/// Writes the root `kind` and `schema` fields (no-ops once written).
pub(crate) fn put_header<T: Transactable>(
    tx: &mut T,
    kind: &'static str,
) -> Result<(), SchemaError> {
    put_if_changed(tx, &ROOT, "kind", text(kind))?;
    put_if_changed(tx, &ROOT, "schema", ScalarValue::Int(SCHEMA_VERSION))?;
    Ok(())
}

/// Whether the transaction is the very first change of a document: the document has no
/// history and nothing is written yet. Only then may [`NewDoc::write`] be used.
pub(crate) fn is_new_doc<T: Transactable>(tx: &T) -> bool {
    tx.base_heads().is_empty() && tx.pending_ops() == 0
}

/// The whole content of a new document (or of one map in it), written in one batch.
///
/// Automerge 0.12 inserts a batch in one op-set splice, several times faster than one put
/// per field (docs/building-blocks.md: 25,000 records in ~1.1 s instead of ~4 s), and bulk imports
/// and matching rounds create tens of thousands of new documents at once. The result is the
/// document the diffing writers above make from an empty one: the same keys and values,
/// groups as maps, and an absent optional absent.
#[derive(Default)]
pub(crate) struct NewDoc(HashMap<String, automerge::hydrate::Value>);

impl NewDoc {
    /// A document's root: its `kind` and `schema` header, as [`put_header`] writes them.
    pub(crate) fn root(kind: &'static str) -> Self {
        let mut doc = Self::default();
        doc.fields([
            ("kind", text(kind)),
            ("schema", ScalarValue::Int(SCHEMA_VERSION)),
        ]);
        doc
    }

    pub(crate) fn fields<'a>(&mut self, fields: impl IntoIterator<Item = (&'a str, ScalarValue)>) {
        for (key, value) in fields {
            self.0
                .insert(key.to_owned(), automerge::hydrate::Value::Scalar(value));
        }
    }

    /// An optional field: absent for `None`, as [`put_opt_if_changed`] leaves it.
    pub(crate) fn opt(&mut self, key: &str, value: Option<ScalarValue>) {
        if let Some(value) = value {
            self.fields([(key, value)]);
        }
    }

    /// A group: absent for `None`, as [`put_group_if_changed`] leaves it.
    pub(crate) fn group(&mut self, key: &str, fields: Option<Vec<(&str, ScalarValue)>>) {
        if let Some(fields) = fields {
            let mut group = Self::default();
            group.fields(fields);
            self.map(key, group);
        }
    }

    /// A nested map (one [`ensure_map`] makes).
    pub(crate) fn map(&mut self, key: &str, map: NewDoc) {
        self.0
            .insert(key.to_owned(), automerge::hydrate::Value::Map(map.0.into()));
    }

    /// Writes the document. Call only when [`is_new_doc`] holds: batched insertion gives
    /// its operations no predecessors, which is right only for keys no change has set.
    pub(crate) fn write<T: Transactable>(self, tx: &mut T) -> Result<(), AutomergeError> {
        debug_assert!(is_new_doc(tx), "NewDoc::write on a document with content");
        tx.init_root_from_hydrate(&self.0.into())
    }
}

// ---------------------------------------------------------------------------
// Conflicts
// ---------------------------------------------------------------------------

/// One of several values that replicas wrote to the same field concurrently.
#[derive(Clone, PartialEq)]
pub struct Candidate {
    /// The value as shown to a person (ids as UUID strings, instants as RFC 3339, null as "").
    pub value: String,
    /// The stored value itself, to hand back to [`resolve_field`] and its wrappers.
    pub stored: StoredValue,
    /// The user whose change wrote it, if the actor is one Attach made.
    pub by: Option<UserId>,
    /// The node that change was made on.
    pub node: Option<NodeId>,
    /// The commit time of that change, when the committer recorded one.
    pub at: Option<OffsetDateTime>,
}

/// What one candidate holds: a plain value, or a whole group (see the module docs).
#[derive(Clone, PartialEq)]
pub enum StoredValue {
    Scalar(ScalarValue),
    Group(BTreeMap<String, ScalarValue>),
}

impl StoredValue {
    /// The value as shown to a person; a group as `key=value; …` in key order.
    pub fn display(&self) -> String {
        match self {
            Self::Scalar(v) => display_scalar(v),
            Self::Group(fields) => fields
                .iter()
                .map(|(k, v)| format!("{k}={}", display_scalar(v)))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
}

/// Shows the kind and the field names only: the values may be patient data.
impl fmt::Debug for StoredValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scalar(_) => f.write_str("Scalar(..)"),
            Self::Group(fields) => f.debug_tuple("Group").field(&fields.keys()).finish(),
        }
    }
}

/// Masks the value: candidates of patient fields carry patient data.
impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field(
                "value",
                &format_args!("<{} chars>", self.value.chars().count()),
            )
            .field("by", &self.by)
            .field("node", &self.node)
            .field("at", &self.at)
            .finish()
    }
}

/// A field that holds more than one distinct concurrent value.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldConflict {
    pub field: String,
    /// Every concurrent value, in Automerge's order: the last is the one readers see.
    pub candidates: Vec<Candidate>,
}

/// The change time of the op, read as Unix seconds (Automerge's convention) or, when
/// the number is too large to be seconds, as milliseconds. Zero (no time given) is `None`.
fn change_time(doc: &Automerge, op: &ObjId) -> Option<OffsetDateTime> {
    let hash = doc.hash_for_opid(op)?;
    let t = doc.get_change_meta_by_hash(&hash)?.timestamp;
    if t == 0 {
        return None;
    }
    let nanos = if t.abs() >= 100_000_000_000 {
        i128::from(t) * 1_000_000
    } else {
        i128::from(t) * 1_000_000_000
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// Every concurrent value (plain or group) of `key` in the map `obj`, each with its author.
pub fn field_candidates(
    doc: &Automerge,
    obj: &ObjId,
    key: &str,
) -> Result<Vec<Candidate>, SchemaError> {
    let mut out = Vec::new();
    for (value, op) in doc.get_all(obj, key)? {
        let stored = match value {
            Value::Scalar(scalar) => StoredValue::Scalar(scalar.into_owned()),
            Value::Object(ObjType::Map) => {
                let mut fields = BTreeMap::new();
                for k in doc.keys(&op) {
                    if let Some((Value::Scalar(v), _)) = doc.get(&op, k.as_str())? {
                        fields.insert(k, v.into_owned());
                    }
                }
                StoredValue::Group(fields)
            }
            Value::Object(_) => continue,
        };
        let author = match &op {
            ObjId::Id(_, actor, _) => author_of(actor),
            ObjId::Root => None,
        };
        out.push(Candidate {
            value: stored.display(),
            stored,
            by: author.map(|(_, user)| UserId(user)),
            node: author.map(|(node, _)| node),
            at: change_time(doc, &op),
        });
    }
    Ok(out)
}

/// The conflicts among the scalar fields of the map `obj`: fields whose concurrent
/// values are not all equal.
pub(crate) fn map_conflicts(
    doc: &Automerge,
    obj: &ObjId,
) -> Result<Vec<FieldConflict>, SchemaError> {
    let mut out = Vec::new();
    if single_actor(doc) {
        // One actor's changes are totally ordered: nothing was concurrent.
        return Ok(out);
    }
    for key in doc.keys(obj) {
        // Most fields hold one value: skip the author and time look-ups for them.
        if doc.get_all(obj, key.as_str())?.len() < 2 {
            continue;
        }
        let candidates = field_candidates(doc, obj, &key)?;
        let distinct = candidates
            .iter()
            .any(|c| candidates.first().is_some_and(|f| f.stored != c.stored));
        if distinct {
            out.push(FieldConflict {
                field: key,
                candidates,
            });
        }
    }
    Ok(out)
}

/// Whether every change of `doc` was made by one actor (then no value can be concurrent).
fn single_actor(doc: &Automerge) -> bool {
    let changes = doc.get_changes_meta(&[]);
    changes
        .first()
        .is_none_or(|first| changes.iter().all(|c| c.actor == first.actor))
}

/// Settles a conflict on `key` in `obj` by writing the chosen value over every
/// concurrent one (even when it is already the value readers see).
pub fn resolve_field<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &str,
    chosen: &Candidate,
) -> Result<(), SchemaError> {
    match &chosen.stored {
        StoredValue::Scalar(v) => {
            tx.put(obj, key, v.clone())?;
        }
        StoredValue::Group(fields) => {
            let group = tx.put_object(obj, key, ObjType::Map)?;
            for (k, v) in fields {
                tx.put(&group, k.as_str(), v.clone())?;
            }
        }
    }
    Ok(())
}

/// Checks that `write` makes the same document whether it runs on a new, empty one (where
/// the writers use [`NewDoc`]) or field by field on one that already has a change (only
/// the root `kind`, which the field-by-field writers leave as it is), and that the batched
/// document saves and loads.
#[cfg(test)]
pub(crate) fn assert_batch_write_matches_puts(
    kind: &'static str,
    write: impl Fn(&mut automerge::AutoCommit),
) {
    let mut batched = automerge::AutoCommit::new();
    write(&mut batched);
    batched.commit();
    let mut by_puts = automerge::AutoCommit::new();
    by_puts.put(ROOT, "kind", kind).expect("kind");
    by_puts.commit();
    write(&mut by_puts);
    by_puts.commit();
    let content = |doc: &automerge::AutoCommit| doc.hydrate(ROOT, None).expect("hydrates");
    assert_eq!(content(&batched), content(&by_puts));
    let mut loaded = automerge::AutoCommit::load(&batched.save()).expect("the batched doc loads");
    assert_eq!(content(&loaded), content(&batched));
    assert_eq!(loaded.get_heads(), batched.get_heads());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        let t =
            OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).expect("valid");
        let back = instant_from(&instant(t)).expect("decodes");
        assert_eq!(unix_ms(back), 1_700_000_000_123);
        assert_eq!(
            instant_from(&ScalarValue::Int(5)),
            instant_from(&ScalarValue::Timestamp(5))
        );
        let d = Date::from_calendar_date(1987, time::Month::March, 9).expect("valid");
        assert_eq!(date_string(d), "1987-03-09");
        assert_eq!(parse_date("1987-03-09"), Some(d));
        assert_eq!(parse_date("1987-3-9x"), None);
        let h = Time::from_hms(8, 5, 0).expect("valid");
        assert_eq!(time_string(h), "08:05");
        assert_eq!(parse_time("08:05"), Some(h));
        assert_eq!(parse_time("8:05"), None);
        assert_eq!(parse_time("25:00"), None);
    }

    #[test]
    fn candidate_debug_hides_the_value() {
        let c = Candidate {
            value: "9123456780".into(),
            stored: StoredValue::Scalar(ScalarValue::from("9123456780")),
            by: None,
            node: None,
            at: None,
        };
        assert!(!format!("{c:?}").contains("912345"));
    }

    #[test]
    fn errors_name_the_field_not_the_value() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(ROOT, "kind", "clinic").expect("put");
        tx.put(ROOT, "phone", 42_i64).expect("put");
        tx.commit();
        let root = Fields::root(&doc, KIND_CLINIC).expect("kind matches");
        let err = root.str("phone").expect_err("not text");
        assert_eq!(
            err.to_string(),
            "`phone` in the clinic document is not text"
        );
        let err = root.str("fax").expect_err("absent");
        assert_eq!(
            err.to_string(),
            "the clinic document has no value for `fax`"
        );
        assert!(matches!(
            Fields::root(&doc, KIND_ENTRY),
            Err(SchemaError::WrongKind { .. })
        ));
    }
}
