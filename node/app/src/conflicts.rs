//! Conflicts to review: clashes that merging offline edits produced, and settling them.
//! Every one is derived from the merged documents alone, so every replica lists the same
//! ones; a settlement is an ordinary change that every replica then merges.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::info;

use super::history::ChangeKind;
use super::model::{Candidate, Model};
use super::panel::entry_doc;
use super::projector::parse_member_conflict_field;
use super::registry::{clinic_doc, require_manager};
use super::{App, AppError};
use attach_domain::{ClinicId, Conflict, ConflictValue, EntryId, PanelEntry, UserId};
use attach_schema::{ConflictedField, MEMBER_RECORD};
use attach_store::DocId;

/// Which clash a conflict is. Stable while the clash lasts, so a page can name it in a
/// form (as its `Display` text, which `FromStr` reads back) and [`App::settle_conflict`]
/// can find it again. Holds ids and field names only, never patient data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConflictKey {
    /// The primary account manager register.
    Primary,
    /// The secondary account manager register.
    Secondary,
    /// One field of one member's record (`record`: the whole record, added twice).
    Member { member: UserId, field: String },
    /// One field (or group) of one patient entry.
    Entry { entry: EntryId, field: String },
    /// One patient on several panels at the clinic: the entries still on a panel, sorted.
    Panel { entries: Vec<EntryId> },
    /// One field of one status's rule (`status`: active, inactive or a status id).
    StatusRule { status: String, field: String },
    /// One record of one of the clinic's working documents (a review task, a protocol
    /// section, the visit-rate table…), written apart on two nodes.
    Work { doc: String, item: String },
}

impl fmt::Display for ConflictKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Primary => f.write_str("primary"),
            Self::Secondary => f.write_str("secondary"),
            Self::Member { member, field } => write!(f, "member:{member}:{field}"),
            Self::Entry { entry, field } => write!(f, "entry:{entry}:{field}"),
            Self::Panel { entries } => {
                let ids: Vec<String> = entries.iter().map(ToString::to_string).collect();
                write!(f, "panel:{}", ids.join(","))
            }
            Self::StatusRule { status, field } => write!(f, "rule:{status}:{field}"),
            Self::Work { doc, item } => write!(f, "work:{doc}#{item}"),
        }
    }
}

impl FromStr for ConflictKey {
    type Err = AppError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AppError::invalid("conflict", "this does not name a conflict");
        let field_of = |rest: &str| -> Result<(uuid::Uuid, String), AppError> {
            let (id, field) = rest.split_once(':').ok_or_else(bad)?;
            let valid =
                !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(bad());
            }
            Ok((
                uuid::Uuid::parse_str(id).map_err(|_| bad())?,
                field.to_owned(),
            ))
        };
        match s.split_once(':') {
            None if s == "primary" => Ok(Self::Primary),
            None if s == "secondary" => Ok(Self::Secondary),
            Some(("member", rest)) => {
                let (id, field) = field_of(rest)?;
                Ok(Self::Member {
                    member: UserId(id),
                    field,
                })
            }
            Some(("entry", rest)) => {
                let (id, field) = field_of(rest)?;
                Ok(Self::Entry {
                    entry: EntryId(id),
                    field,
                })
            }
            Some(("panel", rest)) => {
                let mut entries = rest
                    .split(',')
                    .map(|id| id.parse::<EntryId>().map_err(|_| bad()))
                    .collect::<Result<Vec<_>, _>>()?;
                entries.sort();
                entries.dedup();
                if entries.len() < 2 {
                    return Err(bad());
                }
                Ok(Self::Panel { entries })
            }
            Some(("rule", rest)) => {
                let (status, field) = rest.split_once(':').ok_or_else(bad)?;
                let word = |w: &str| {
                    !w.is_empty()
                        && w.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                };
                if !word(status) || !word(field) {
                    return Err(bad());
                }
                Ok(Self::StatusRule {
                    status: status.to_owned(),
                    field: field.to_owned(),
                })
            }
            Some(("work", rest)) => {
                let (doc, item) = rest.split_once('#').ok_or_else(bad)?;
                let named = attach_schema::ids::Named::parse(doc).is_some();
                let item_ok = !item.is_empty()
                    && item.len() <= 200
                    && item
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_/:.".contains(c));
                if !doc.starts_with("clinic/") || !named || !item_ok {
                    return Err(bad());
                }
                Ok(Self::Work {
                    doc: doc.to_owned(),
                    item: item.to_owned(),
                })
            }
            _ => Err(bad()),
        }
    }
}

/// A clash, ready to show: what it is about and every side's value and author.
#[derive(Debug, Clone)]
pub struct ConflictView {
    pub key: ConflictKey,
    /// A fingerprint of the sides: a settle form carries it back, so a choice made on a
    /// page that no longer shows every side is refused.
    pub version: String,
    pub kind: String,
    pub subject: String,
    /// What the clash is about, in words for the account manager (names, not ids).
    pub about: String,
    pub description: String,
    pub values: Vec<ConflictValueView>,
}

#[derive(Debug, Clone)]
pub struct ConflictValueView {
    pub value: String,
    /// The value for a person: a member's name instead of their id, a panel's provider.
    pub shown: String,
    pub by: Option<UserId>,
    pub by_name: Option<String>,
    pub at: Option<OffsetDateTime>,
    pub kept: bool,
}

pub(super) fn candidate_values(candidates: &[Candidate]) -> Vec<ConflictValue> {
    candidates
        .iter()
        .map(|c| ConflictValue {
            value: c.value.clone(),
            by: c.by,
            at: c.at,
            kept: false,
        })
        .collect()
}

/// The fingerprint of a clash's sides (values, authors, times to the second).
fn version(key: &ConflictKey, values: &[ConflictValue]) -> String {
    let mut h = Sha256::new();
    h.update(b"attach conflict v1\0");
    h.update(key.to_string().as_bytes());
    for v in values {
        h.update(b"\0");
        h.update(v.value.as_bytes());
        h.update(b"\0");
        h.update(v.by.map(|u| u.to_string()).unwrap_or_default().as_bytes());
        h.update(b"\0");
        h.update(v.at.map_or(0, |t| t.unix_timestamp()).to_be_bytes());
    }
    hex::encode(&h.finalize()[..10])
}

fn changed_meanwhile() -> AppError {
    AppError::conflict(
        "this conflict changed or was settled meanwhile; look at it again and choose once more",
    )
}

impl App {
    /// Every clash at this clinic: manager registers, patients on two panels, and fields
    /// of patient entries or memberships edited concurrently. Account managers only.
    pub fn conflicts(&self, who: UserId, clinic: ClinicId) -> Result<Vec<ConflictView>, AppError> {
        let c = self.member_clinic(who, clinic)?;
        require_manager(&c, who)?;
        let mut out: Vec<(ConflictKey, Conflict)> = self.work_conflicts(clinic)?;
        let model = self.model();
        if let Some(state) = model.clinics.get(&clinic) {
            for conflict in attach_domain::manager_conflicts(
                &state.clinic,
                &candidate_values(&state.primary_candidates),
                &candidate_values(&state.secondary_candidates),
            ) {
                let key = match conflict.kind {
                    attach_domain::ConflictKind::PrimaryManager => ConflictKey::Primary,
                    _ => ConflictKey::Secondary,
                };
                out.push((key, conflict));
            }
            for f in &state.member_conflicts {
                let Some((member, field)) = parse_member_conflict_field(&f.field) else {
                    continue;
                };
                let key = ConflictKey::Member {
                    member,
                    field: field.to_owned(),
                };
                out.push((
                    key,
                    field_conflict(&format!("membership field {}", f.field), &f.candidates),
                ));
            }
            for f in &state.rule_conflicts {
                let Some((status, field)) = f
                    .field
                    .strip_prefix("status rule ")
                    .and_then(|rest| rest.split_once(' '))
                else {
                    continue;
                };
                let key = ConflictKey::StatusRule {
                    status: status.to_owned(),
                    field: field.to_owned(),
                };
                out.push((key, field_conflict(&f.field, &f.candidates)));
            }
        }
        let mut clash_keys: Vec<_> = model.clashes.iter().filter(|(c, _)| *c == clinic).collect();
        clash_keys.sort();
        for key in clash_keys {
            let entries = clash_entries(&model, key);
            let mut live: Vec<EntryId> = entries
                .iter()
                .filter(|e| e.removed.is_none())
                .map(|e| e.id)
                .collect();
            live.sort();
            for conflict in attach_domain::panel_clashes(&entries) {
                let key = ConflictKey::Panel {
                    entries: live.clone(),
                };
                out.push((key, conflict));
            }
        }
        let mut edited: Vec<_> = model
            .entries
            .values()
            .filter(|s| s.entry.clinic == clinic && !s.conflicts.is_empty())
            .collect();
        edited.sort_by_key(|s| s.entry.id);
        for state in edited {
            for f in &state.conflicts {
                let key = ConflictKey::Entry {
                    entry: state.entry.id,
                    field: f.field.clone(),
                };
                out.push((
                    key,
                    field_conflict(
                        &format!("entry {} field {}", state.entry.id, f.field),
                        &f.candidates,
                    ),
                ));
            }
        }
        Ok(out
            .into_iter()
            .map(|(key, c)| view(&model, key, c))
            .collect())
    }

    /// An account manager settles a clash by choosing one side (`chosen`, an index into
    /// the values the page showed, whose fingerprint is `version`). The clash is derived
    /// again from the current documents and refused as a `Conflict` if it changed; the
    /// chosen value is written over every concurrent one (for a patient on several
    /// panels, the other entries are removed), so once merged every replica agrees.
    /// Who manages the clinic is settled by the primary only, as a handover would be.
    pub fn settle_conflict(
        &self,
        who: UserId,
        clinic: ClinicId,
        key: &ConflictKey,
        version: &str,
        chosen: usize,
    ) -> Result<(), AppError> {
        let c = self.member_clinic(who, clinic)?;
        require_manager(&c, who)?;
        if let ConflictKey::Panel { entries } = key {
            self.settle_panel_clash(who, clinic, key, entries, version, chosen)?;
            info!(clinic = %clinic, conflict = %key, "conflict settled");
            return Ok(());
        }
        let managers = matches!(key, ConflictKey::Primary | ConflictKey::Secondary);
        if managers && who != c.primary {
            return Err(AppError::forbidden(
                "only the primary account manager settles who manages the clinic",
            ));
        }
        let (doc, field) = match key {
            ConflictKey::Primary => (
                clinic_doc(clinic)?,
                ConflictedField::Register(attach_schema::PRIMARY),
            ),
            ConflictKey::Secondary => (
                clinic_doc(clinic)?,
                ConflictedField::Register(attach_schema::SECONDARY),
            ),
            ConflictKey::Member { member, field } => (
                clinic_doc(clinic)?,
                ConflictedField::Member {
                    member: *member,
                    field,
                },
            ),
            ConflictKey::Entry { entry, field } => {
                let provider = self
                    .model()
                    .entries
                    .get(entry)
                    .filter(|s| s.entry.clinic == clinic)
                    .map(|s| s.entry.provider)
                    .ok_or_else(|| AppError::not_found("patient entry"))?;
                (entry_doc(provider, *entry)?, ConflictedField::Entry(field))
            }
            ConflictKey::StatusRule { status, field } => (
                clinic_doc(clinic)?,
                ConflictedField::StatusRule { status, field },
            ),
            ConflictKey::Work { doc, item } => {
                let id = work_doc(clinic, doc)?;
                (id, ConflictedField::Work(item))
            }
            // Settled above, by removing entries.
            ConflictKey::Panel { .. } => return Err(changed_meanwhile()),
        };
        let primary = *key == ConflictKey::Primary;
        self.settle_field(who, doc, key, field, version, chosen, |tx, chosen| {
            if managers {
                check_manager_choice(tx, who, primary, chosen)
            } else {
                Ok(())
            }
        })?;
        // A membership settled to a state that ends the person's last active one ends
        // their sessions, as deactivating them would.
        if let ConflictKey::Member { member, field } = key
            && (field == "state" || field == MEMBER_RECORD)
            && !self.has_active_membership(*member)
        {
            self.end_sessions(*member)?;
        }
        info!(clinic = %clinic, conflict = %key, "conflict settled");
        Ok(())
    }

    /// Reads the field's sides from its document, checks they are the ones the page
    /// showed, and in one transaction (refused if the field changed since the read) runs
    /// `check` and writes the chosen side over the others.
    #[allow(clippy::too_many_arguments)] // One call per kind of clash; a struct would only rename them.
    fn settle_field(
        &self,
        who: UserId,
        doc: DocId,
        key: &ConflictKey,
        field: ConflictedField<'_>,
        version_seen: &str,
        chosen: usize,
        check: impl FnOnce(
            &mut automerge::transaction::Transaction<'_>,
            &attach_schema::Candidate,
        ) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        let read = self
            .store()
            .read(&doc, |d| {
                Ok::<_, attach_schema::SchemaError>((field.candidates(d)?, field.ops(d)?))
            })?
            .ok_or_else(changed_meanwhile)?;
        let (candidates, ops) = read?;
        let shown: Vec<Candidate> = candidates.iter().map(Candidate::from).collect();
        if (candidates.len() < 2 && *key != ConflictKey::Secondary)
            || version(key, &candidate_values(&shown)) != version_seen
        {
            return Err(changed_meanwhile());
        }
        let pick = candidates
            .get(chosen)
            .ok_or_else(changed_meanwhile)?
            .clone();
        let message = ChangeKind::SettleConflict(key.clone()).to_string();
        self.store().change(&doc, who.0, &message, |tx| {
            if field.ops(tx)? != ops {
                return Err(changed_meanwhile());
            }
            check(tx, &pick)?;
            field.resolve(tx, &pick)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Keeps the chosen entry of a patient on several panels and removes the others.
    fn settle_panel_clash(
        &self,
        who: UserId,
        clinic: ClinicId,
        key: &ConflictKey,
        entries: &[EntryId],
        version_seen: &str,
        chosen: usize,
    ) -> Result<(), AppError> {
        let now = self.now();
        let remove: Vec<PanelEntry> = {
            let model = self.model();
            let first = entries
                .first()
                .and_then(|id| model.entries.get(id))
                .filter(|s| s.entry.clinic == clinic)
                .ok_or_else(changed_meanwhile)?;
            let all: Vec<PanelEntry> = model
                .entries_for((clinic, first.entry.details.phn))
                .cloned()
                .collect();
            let mut live: Vec<&PanelEntry> = all.iter().filter(|e| e.removed.is_none()).collect();
            let mut ids: Vec<EntryId> = live.iter().map(|e| e.id).collect();
            ids.sort();
            let conflict = attach_domain::panel_clashes(&all)
                .into_iter()
                .next()
                .ok_or_else(changed_meanwhile)?;
            if ids != entries || version(key, &conflict.values) != version_seen {
                return Err(changed_meanwhile());
            }
            attach_domain::sort_clash_group(&mut live);
            let keep = live.get(chosen).ok_or_else(changed_meanwhile)?.id;
            live.into_iter().filter(|e| e.id != keep).cloned().collect()
        };
        let ids = remove
            .iter()
            .map(|e| entry_doc(e.provider, e.id))
            .collect::<Result<Vec<_>, _>>()?;
        let reason = "on more than one panel at this clinic after a merge; an account manager \
                      kept the patient on another panel";
        let message = ChangeKind::SettleConflict(key.clone()).to_string();
        self.store().change_many(who.0, &message, &ids, |_, tx| {
            let e = attach_schema::read_entry(tx)?;
            if e.removed.is_some() {
                return Err(changed_meanwhile());
            }
            let e = attach_domain::remove_from_panel(e, who, reason, now)?;
            attach_schema::write_entry(tx, &e)?;
            Ok(())
        })?;
        Ok(())
    }
}

/// Whether `doc` is one of `clinic`'s working documents: under its id, or one of its QI
/// cycles.
fn is_work_doc_of(clinic: ClinicId, doc: &str) -> bool {
    doc.starts_with(&attach_schema::ids::clinic_parts_prefix(clinic))
        || doc.starts_with(&attach_schema::ids::qi_prefix(clinic))
}

/// The working document a [`ConflictKey::Work`] names, if it is one of `clinic`'s.
fn work_doc(clinic: ClinicId, doc: &str) -> Result<DocId, AppError> {
    if !is_work_doc_of(clinic, doc) {
        return Err(AppError::not_found("conflict"));
    }
    DocId::parse(doc).map_err(|_| AppError::not_found("conflict"))
}

impl App {
    /// Records of the clinic's working documents written apart, each with its sides (read
    /// from the documents: the read model keeps only which records clash).
    fn work_conflicts(&self, clinic: ClinicId) -> Result<Vec<(ConflictKey, Conflict)>, AppError> {
        let mut listed: Vec<(String, Vec<String>)> = self
            .model()
            .work_conflicts
            .iter()
            .filter(|(doc, _)| is_work_doc_of(clinic, doc))
            .map(|(doc, items)| (doc.clone(), items.clone()))
            .collect();
        listed.sort();
        let mut out = Vec::new();
        for (doc, items) in listed {
            let id = work_doc(clinic, &doc)?;
            for item in items {
                let field = ConflictedField::Work(&item);
                let Some(candidates) = self.store().read(&id, |d| field.candidates(d))? else {
                    continue;
                };
                let shown: Vec<Candidate> = candidates?.iter().map(Candidate::from).collect();
                if shown.len() < 2 {
                    continue;
                }
                out.push((
                    ConflictKey::Work {
                        doc: doc.clone(),
                        item: item.clone(),
                    },
                    field_conflict(&format!("{doc} record {item}"), &shown),
                ));
            }
        }
        Ok(out)
    }
}

/// What a working document's record is, in words, from its id and key.
fn work_about(doc: &str, item: &str) -> String {
    let named = attach_schema::ids::Named::parse(doc);
    use attach_schema::ids::Named as N;
    match named {
        Some(N::ReviewTask(..)) => "A review task (its list, frequency or owner)".to_owned(),
        Some(N::ReviewDone(..)) => "A review task's completion".to_owned(),
        Some(N::Protocol(_)) => format!("The protocol's section \"{item}\""),
        Some(N::Msp(..)) => format!("A decision on the MSP reconciliation line {item}"),
        Some(N::Bulk(..)) => "A bulk change's record".to_owned(),
        Some(N::Catalogue(_)) => match item.split_once(':') {
            Some(("registry", k)) => format!("The coding protocol's registry {k}"),
            Some(("gap", k)) => format!("The coding protocol's care-gap rule {k}"),
            _ => format!("The coding protocol's record {item}"),
        },
        Some(N::Supply(_)) if item == attach_schema::work::RATES_ITEM => {
            "The clinic's visit-rate table".to_owned()
        }
        Some(N::Supply(_)) => "A provider's stated appointments a week".to_owned(),
        Some(N::QiCycle(..)) => match item.split_once(':') {
            Some(("measure", k)) => format!("A QI cycle's measure {k}"),
            Some(("change", k)) => format!("A QI cycle's change idea {k}"),
            Some(("point", k)) => format!("A QI cycle's monthly point {k}"),
            _ => "A QI cycle's title, aim or reflection".to_owned(),
        },
        _ => format!("A record of {doc}"),
    }
}

/// A working document's record for a person: its plain fields as `name: value`, long
/// texts cut, nested parts left out (the record is chosen whole).
fn work_shown(json: &str) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return json.chars().take(300).collect();
    };
    let mut parts = Vec::new();
    for (k, v) in &fields {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
            serde_json::Value::Null => continue,
            serde_json::Value::Array(a) => format!("{} items", a.len()),
            serde_json::Value::Object(_) => continue,
        };
        let text: String = if text.chars().count() > 200 {
            text.chars().take(200).chain("…".chars()).collect()
        } else {
            text
        };
        parts.push(format!("{}: {text}", k.replace('_', " ")));
    }
    parts.join("; ")
}

/// Choosing a side of a manager register is a handover (primary) or an assignment
/// (secondary): the same rules apply. An empty value is a cleared secondary.
fn check_manager_choice(
    tx: &mut automerge::transaction::Transaction<'_>,
    who: UserId,
    primary: bool,
    chosen: &attach_schema::Candidate,
) -> Result<(), AppError> {
    let to: Option<UserId> = match chosen.value.as_str() {
        "" if !primary => None,
        value => Some(
            value
                .parse()
                .map_err(|_| AppError::conflict("this value does not name a person"))?,
        ),
    };
    let current = attach_schema::read_clinic(tx)?;
    match to {
        Some(to) if primary && to != current.primary => {
            let change = attach_domain::handover_primary(&current, who, to)?;
            attach_schema::write_secondary(tx, change.secondary)?;
        }
        _ if primary => {}
        to => {
            attach_domain::set_secondary(&current, who, to)?;
        }
    }
    Ok(())
}

fn view(model: &Model, key: ConflictKey, c: Conflict) -> ConflictView {
    let name = |u: &UserId| model.accounts.get(u).map(|a| a.display_name.clone());
    let patient = |e: &PanelEntry| format!("{}, {}", e.details.family_name, e.details.given_names);
    let entry = |id: &EntryId| model.entries.get(id).map(|s| &s.entry);
    let about = match &key {
        ConflictKey::Primary => "Primary account manager".to_owned(),
        ConflictKey::Secondary => "Secondary account manager".to_owned(),
        ConflictKey::Member { member, field } => {
            let who = name(member).unwrap_or_else(|| member.to_string());
            if field == MEMBER_RECORD {
                format!("{who}: membership added twice")
            } else {
                format!("{who}: membership {}", field.replace('_', " "))
            }
        }
        ConflictKey::Entry { entry: id, field } => match entry(id) {
            Some(e) => format!(
                "{} on the panel of {}: {}",
                patient(e),
                name(&e.provider).unwrap_or_default(),
                field.replace('_', " ")
            ),
            None => format!("a patient entry: {field}"),
        },
        ConflictKey::Panel { entries } => match entries.first().and_then(entry) {
            Some(e) => format!("{} is on more than one panel", patient(e)),
            None => "a patient on more than one panel".to_owned(),
        },
        ConflictKey::StatusRule { status, field } => {
            let which = match status.as_str() {
                "active" | "inactive" => status.clone(),
                other => other
                    .parse::<attach_domain::StatusId>()
                    .ok()
                    .and_then(|id| {
                        model
                            .clinics
                            .values()
                            .find_map(|c| c.clinic.statuses.get(&id).map(|s| s.name.clone()))
                    })
                    .unwrap_or_else(|| other.to_owned()),
            };
            format!("The status rule of {which}: {}", field.replace('_', " "))
        }
        ConflictKey::Work { doc, item } => work_about(doc, item),
    };
    let work = matches!(key, ConflictKey::Work { .. });
    // A panel clash's values are its entries in `sort_clash_group` order.
    let providers: Vec<Option<String>> = match &key {
        ConflictKey::Panel { entries } => {
            let mut group: Vec<&PanelEntry> = entries.iter().filter_map(entry).collect();
            attach_domain::sort_clash_group(&mut group);
            group.iter().map(|e| name(&e.provider)).collect()
        }
        _ => Vec::new(),
    };
    let version = version(&key, &c.values);
    ConflictView {
        key,
        version,
        kind: c.kind.code().to_owned(),
        description: c.kind.description().to_owned(),
        subject: c.subject,
        about,
        values: c
            .values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let shown = match providers.get(i) {
                    Some(Some(provider)) => format!("on the panel of {provider}"),
                    _ if work => work_shown(&v.value),
                    _ => v
                        .value
                        .parse::<UserId>()
                        .ok()
                        .and_then(|u| name(&u))
                        .unwrap_or_else(|| v.value.clone()),
                };
                ConflictValueView {
                    by_name: v.by.as_ref().and_then(name),
                    shown,
                    value: v.value,
                    by: v.by,
                    at: v.at,
                    kept: v.kept,
                }
            })
            .collect(),
    }
}

fn clash_entries(model: &Model, key: &(ClinicId, attach_domain::Phn)) -> Vec<PanelEntry> {
    model.entries_for(*key).cloned().collect()
}

fn field_conflict(subject: &str, candidates: &[Candidate]) -> Conflict {
    let mut values = candidate_values(candidates);
    // The last candidate is the one every replica reads.
    if let Some(last) = values.last_mut() {
        last.kept = true;
    }
    Conflict {
        kind: attach_domain::ConflictKind::ConcurrentEdit,
        subject: subject.to_owned(),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_from_their_text() {
        let (u, e1, e2) = (UserId::new(), EntryId::new(), EntryId::new());
        let mut sorted = vec![e1, e2];
        sorted.sort();
        for key in [
            ConflictKey::Primary,
            ConflictKey::Secondary,
            ConflictKey::Member {
                member: u,
                field: "state".into(),
            },
            ConflictKey::Entry {
                entry: e1,
                field: "postal_code".into(),
            },
            ConflictKey::Panel { entries: sorted },
        ] {
            assert_eq!(key.to_string().parse::<ConflictKey>().expect("parses"), key);
        }
        for bad in [
            "",
            "tertiary",
            "member:x:state",
            &format!("member:{u}:"),
            &format!("member:{u}:a b"),
            &format!("panel:{e1}"),
            &format!("panel:{e1},{e1}"),
        ] {
            assert!(bad.parse::<ConflictKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_version_changes_with_any_side() {
        let v = |value: &str| ConflictValue {
            value: value.to_owned(),
            by: None,
            at: None,
            kept: false,
        };
        let key = ConflictKey::Primary;
        let one = version(&key, &[v("a"), v("b")]);
        assert_eq!(one, version(&key, &[v("a"), v("b")]));
        assert_ne!(one, version(&key, &[v("a"), v("c")]));
        assert_ne!(one, version(&key, &[v("a"), v("b"), v("c")]));
        assert_ne!(one, version(&ConflictKey::Secondary, &[v("a"), v("b")]));
    }
}
