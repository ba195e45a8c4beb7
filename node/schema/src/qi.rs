//! A clinic's quality-improvement cycles: one document per cycle,
//! `clinical/<clinic>/qi/<cycle>`.
//!
//! The document is a working document (`work`): the `kind` and `schema` header and one root
//! field per record, as JSON text: [`CYCLE_ITEM`] the cycle's own fields (title, AIM,
//! status, reflection), `measure:<key>` each measure, `change:<key>` each change idea and
//! `point:<measure>/<YYYY-MM>` each monthly point. Records are replaced whole, so two
//! nodes editing different parts apart both keep their edits, and two edits of one part
//! resolve to one whole record, listed by [`read_cycle`] as a conflict.
//!
//! The cycles live in the clinic's clinical family, so they sync between the clinic's own
//! nodes and never to the hub: their points are counts of the clinic's patients, small
//! ones included, which the province sees only through suppressed aggregates.

use std::collections::BTreeMap;

use automerge::ReadDoc;
use automerge::transaction::Transactable;

use super::common::SchemaError;
use super::work::{item_conflicts, read_items, write_item};
use attach_domain::qi::cycle::{Change, Cycle, Measure, MeasurePoint};

/// `kind` of a QI cycle's document.
pub const KIND_QI_CYCLE: &str = "qi-cycle";
/// The item holding the cycle's own fields.
pub const CYCLE_ITEM: &str = "cycle";
const MEASURE_PREFIX: &str = "measure:";
const CHANGE_PREFIX: &str = "change:";
const POINT_PREFIX: &str = "point:";

/// A cycle's document, read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CycleDoc {
    pub cycle: Option<Cycle>,
    /// By key.
    pub measures: BTreeMap<String, Measure>,
    /// By key.
    pub changes: BTreeMap<String, Change>,
    /// Every point, by (measure key, month).
    pub points: Vec<MeasurePoint>,
    /// Items two nodes wrote apart, differently (`cycle`, `measure:m1`, `point:m1/2026-03`):
    /// the stored value is the winner.
    pub conflicts: Vec<String>,
    /// Items that could not be read (written by a newer version), by key.
    pub unreadable: Vec<String>,
}

pub fn read_cycle<R: ReadDoc>(doc: &R) -> Result<CycleDoc, SchemaError> {
    let items: BTreeMap<String, serde_json::Value> = read_items(doc, KIND_QI_CYCLE)?;
    let mut out = CycleDoc {
        conflicts: item_conflicts(doc)?,
        ..CycleDoc::default()
    };
    for (key, value) in items {
        let read = if key == CYCLE_ITEM {
            serde_json::from_value(value).map(|c| out.cycle = Some(c))
        } else if let Some(k) = key.strip_prefix(MEASURE_PREFIX) {
            serde_json::from_value(value).map(|m| {
                out.measures.insert(k.to_owned(), m);
            })
        } else if let Some(k) = key.strip_prefix(CHANGE_PREFIX) {
            serde_json::from_value(value).map(|c| {
                out.changes.insert(k.to_owned(), c);
            })
        } else if key.starts_with(POINT_PREFIX) {
            serde_json::from_value(value).map(|p| out.points.push(p))
        } else {
            Ok(())
        };
        if read.is_err() {
            out.unreadable.push(key);
        }
    }
    out.points
        .sort_by(|a, b| (&a.measure, a.month).cmp(&(&b.measure, b.month)));
    Ok(out)
}

pub fn write_cycle<T: Transactable>(tx: &mut T, c: &Cycle) -> Result<(), SchemaError> {
    write_item(tx, KIND_QI_CYCLE, CYCLE_ITEM, Some(c))
}

pub fn write_measure<T: Transactable>(tx: &mut T, m: &Measure) -> Result<(), SchemaError> {
    write_item(
        tx,
        KIND_QI_CYCLE,
        &format!("{MEASURE_PREFIX}{}", m.key),
        Some(m),
    )
}

/// Removes a measure and every point of it.
pub fn delete_measure<T: Transactable>(
    tx: &mut T,
    key: &str,
    points: &[MeasurePoint],
) -> Result<(), SchemaError> {
    write_item::<_, Measure>(tx, KIND_QI_CYCLE, &format!("{MEASURE_PREFIX}{key}"), None)?;
    for p in points.iter().filter(|p| p.measure == key) {
        write_item::<_, MeasurePoint>(tx, KIND_QI_CYCLE, &point_key(p), None)?;
    }
    Ok(())
}

pub fn write_change<T: Transactable>(tx: &mut T, c: &Change) -> Result<(), SchemaError> {
    write_item(
        tx,
        KIND_QI_CYCLE,
        &format!("{CHANGE_PREFIX}{}", c.key),
        Some(c),
    )
}

fn point_key(p: &MeasurePoint) -> String {
    format!("{POINT_PREFIX}{}/{}", p.measure, p.month)
}

pub fn write_point<T: Transactable>(tx: &mut T, p: &MeasurePoint) -> Result<(), SchemaError> {
    write_item(tx, KIND_QI_CYCLE, &point_key(p), Some(p))
}
