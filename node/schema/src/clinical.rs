//! A patient's clinical records at a clinic (`clinical/<clinic>/<patient>`), and the
//! clinic's catalogue of registries and rules (`clinic/<clinic>/catalogue`).
//!
//! The catalogue document holds the clinic's coding protocol
//! (`attach_domain::clinical::coding`): one item per registry (`registry:<key>`) and per
//! care-gap rule (`gap:<key>`) the clinic chose something for, so that two nodes changing
//! two definitions apart both keep their change, and one definition changed on both is
//! resolved to one whole choice and listed on the Conflicts page.
//!
//! A clinical document is a working document like the others (`work`): the `kind` and
//! `schema` header and one root field per record, holding the record as JSON text. Item
//! [`PATIENT_ITEM`] holds the PHN the document is for; each record is item
//! `r:<source id>`; a recall being worked on is `recall:<gap rule>`, and a
//! probably-uncoded suggestion someone dismissed is `dismiss:<registry>/<rule>`. A record is replaced whole, so an export read on two nodes apart
//! writes the same value on both (no conflict), and a correction made on two nodes apart
//! resolves to one whole record and is listed on the Conflicts page.
//!
//! Observations grow without bound, but per patient: a patient's document holds their
//! years of results (a few hundred records at most), and a clinic's results are spread
//! over as many documents as it has patients.

use std::collections::BTreeMap;

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::common::SchemaError;
use super::work::{item_conflicts, read_items, write_item};
use attach_domain::Phn;
use attach_domain::clinical::ClinicalRecord;
use attach_domain::clinical::coding::{Choice, CodingProtocol, Definable};
use attach_domain::clinical::followup::{Dismissal, Recall};
use attach_domain::clinical::rules::{GapRule, RegistryDef};

/// `kind` of a patient's clinical document.
pub const KIND_CLINICAL: &str = "clinical";
/// `kind` of the clinic's catalogue document.
pub const KIND_CATALOGUE: &str = "clinical-catalogue";
/// The item holding whom a clinical document is about.
pub const PATIENT_ITEM: &str = "patient";
const RECORD_PREFIX: &str = "r:";
const RECALL_PREFIX: &str = "recall:";
const DISMISS_PREFIX: &str = "dismiss:";

/// Whom a clinical document is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClinicalPatient {
    pub phn: Phn,
}

/// A patient's clinical document, read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClinicalDoc {
    pub phn: Option<Phn>,
    /// By source id.
    pub records: BTreeMap<String, ClinicalRecord>,
    /// Recalls being worked on, by care-gap rule key.
    pub recalls: BTreeMap<String, Recall>,
    /// Dismissed suggestions, by (registry key, rule key).
    pub dismissed: BTreeMap<(String, String), Dismissal>,
    /// Source ids of records two nodes wrote apart, differently.
    pub conflicts: Vec<String>,
    /// Recalls (by rule key) and dismissals (`registry/rule`) two nodes wrote apart,
    /// differently: resolved to one, and listed on the Conflicts page.
    pub followup_conflicts: Vec<String>,
}

/// One stored value of a clinical document: whom it is about, or a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Item {
    Patient(ClinicalPatient),
    Record(Box<ClinicalRecord>),
    Dismissal(Dismissal),
    Recall(Recall),
}

pub fn read_clinical<R: ReadDoc>(doc: &R) -> Result<ClinicalDoc, SchemaError> {
    let items: BTreeMap<String, Item> = read_items(doc, KIND_CLINICAL)?;
    let mut out = ClinicalDoc::default();
    for (key, item) in items {
        match item {
            Item::Patient(p) if key == PATIENT_ITEM => out.phn = Some(p.phn),
            Item::Record(r) if key.strip_prefix(RECORD_PREFIX) == Some(r.source_id.as_str()) => {
                out.records.insert(r.source_id.clone(), *r);
            }
            Item::Recall(r) if key.strip_prefix(RECALL_PREFIX) == Some(r.rule.as_str()) => {
                out.recalls.insert(r.rule.clone(), r);
            }
            Item::Dismissal(d)
                if key.strip_prefix(DISMISS_PREFIX) == Some(&dismiss_key(&d.registry, &d.rule)) =>
            {
                out.dismissed
                    .insert((d.registry.clone(), d.rule.clone()), d);
            }
            _ => {
                return Err(SchemaError::Malformed {
                    doc: KIND_CLINICAL,
                    field: key,
                    expected: "the patient, or a record, recall or dismissal under its own key",
                });
            }
        }
    }
    for key in item_conflicts(doc)? {
        if let Some(id) = key.strip_prefix(RECORD_PREFIX) {
            out.conflicts.push(id.to_owned());
        } else if let Some(k) = key
            .strip_prefix(RECALL_PREFIX)
            .or_else(|| key.strip_prefix(DISMISS_PREFIX))
        {
            out.followup_conflicts.push(k.to_owned());
        }
    }
    Ok(out)
}

/// Writes (or replaces) one record of `phn`'s document; the same record again writes
/// nothing.
pub fn write_clinical_record<T: Transactable>(
    tx: &mut T,
    phn: Phn,
    record: &ClinicalRecord,
) -> Result<(), SchemaError> {
    put_patient(tx, phn)?;
    write_item(
        tx,
        KIND_CLINICAL,
        &format!("{RECORD_PREFIX}{}", record.source_id),
        Some(&Item::Record(Box::new(record.clone()))),
    )
}

fn dismiss_key(registry: &str, rule: &str) -> String {
    format!("{registry}/{rule}")
}

fn put_patient<T: Transactable>(tx: &mut T, phn: Phn) -> Result<(), SchemaError> {
    write_item(
        tx,
        KIND_CLINICAL,
        PATIENT_ITEM,
        Some(&Item::Patient(ClinicalPatient { phn })),
    )
}

/// Writes (or replaces) the recall of `phn` on one care-gap rule.
pub fn write_recall<T: Transactable>(
    tx: &mut T,
    phn: Phn,
    recall: &Recall,
) -> Result<(), SchemaError> {
    put_patient(tx, phn)?;
    write_item(
        tx,
        KIND_CLINICAL,
        &format!("{RECALL_PREFIX}{}", recall.rule),
        Some(&Item::Recall(recall.clone())),
    )
}

/// Dismisses one suggestion for `phn`.
pub fn write_dismissal<T: Transactable>(
    tx: &mut T,
    phn: Phn,
    d: &Dismissal,
) -> Result<(), SchemaError> {
    put_patient(tx, phn)?;
    write_item(
        tx,
        KIND_CLINICAL,
        &format!("{DISMISS_PREFIX}{}", dismiss_key(&d.registry, &d.rule)),
        Some(&Item::Dismissal(d.clone())),
    )
}

/// Restores a dismissed suggestion.
pub fn delete_dismissal<T: Transactable>(
    tx: &mut T,
    registry: &str,
    rule: &str,
) -> Result<(), SchemaError> {
    write_item::<_, Item>(
        tx,
        KIND_CLINICAL,
        &format!("{DISMISS_PREFIX}{}", dismiss_key(registry, rule)),
        None,
    )
}

/// Deletes one record (a record entered in Attach by mistake).
pub fn delete_clinical_record<T: Transactable>(
    tx: &mut T,
    source_id: &str,
) -> Result<(), SchemaError> {
    write_item::<_, Item>(
        tx,
        KIND_CLINICAL,
        &format!("{RECORD_PREFIX}{source_id}"),
        None,
    )
}

/// The clinic's coding protocol: its choice per registry (item `registry:<key>`) and per
/// care-gap rule (item `gap:<key>`). An empty protocol: the shipped catalogue as it is.
pub fn read_coding_protocol<R: ReadDoc>(doc: &R) -> Result<CodingProtocol, SchemaError> {
    let items: BTreeMap<String, serde_json::Value> = read_items(doc, KIND_CATALOGUE)?;
    let mut out = CodingProtocol::default();
    for (item, value) in items {
        read_choice::<RegistryDef>(&mut out, &item, &value)?;
        read_choice::<GapRule>(&mut out, &item, &value)?;
        // Any other item is a later version's: kept in the document, not read here.
    }
    Ok(out)
}

fn read_choice<T: Definable + DeserializeOwned>(
    out: &mut CodingProtocol,
    item: &str,
    value: &serde_json::Value,
) -> Result<(), SchemaError> {
    let Some(key) = item
        .strip_prefix(T::ITEM)
        .and_then(|rest| rest.strip_prefix(':'))
    else {
        return Ok(());
    };
    let choice: Choice<T> =
        serde_json::from_value(value.clone()).map_err(|_| SchemaError::Malformed {
            doc: KIND_CATALOGUE,
            field: item.to_owned(),
            expected: "a coding-protocol choice",
        })?;
    T::choices_mut(out).insert(key.to_owned(), choice);
    Ok(())
}

/// Sets (or with `None` removes) the clinic's choice for the registry or rule `key`.
pub fn write_coding_choice<T: Transactable, D: Definable + Serialize>(
    tx: &mut T,
    key: &str,
    choice: Option<&Choice<D>>,
) -> Result<(), SchemaError> {
    write_item(tx, KIND_CATALOGUE, &format!("{}:{key}", D::ITEM), choice)
}
