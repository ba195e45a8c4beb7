//! The `clinic/<id>` document.
//!
//! ```text
//! ROOT
//!   kind: "clinic"   schema: 1   id: <clinic uuid>
//!   primary: <user uuid>                 -- a register: exactly one value once merged
//!   secondary: <user uuid> | null
//!   profile: { name, facility_number, phone, fax, street, city, province, postal_code,
//!              hours: { "1".."7": "HH:MM-HH:MM" } }     -- a closed day has no key
//!   locations:   { <location uuid>:   { name, street, city, province, postal_code, phone, retired } }
//!   members:     { <user uuid>:       { role, state, since, changed_at, changed_by } }
//!   statuses:    { <status uuid>:     { name, definition, retired } }
//!   status_rules: { "active" | "inactive" | <status uuid>:
//!                   { definition (built-in statuses only), visit ("seen_within" |
//!                     "not_seen_for" | absent), months, min_age, max_age } }
//!                   -- a rule with no condition is no rule; absent map: no rules
//!   delegations: { <delegation uuid>: { provider, delegate, started_by, state, created_at,
//!                                       confirmed_at, revoked_at, revoked_by } }
//! ```
//!
//! Every nested map is made once, under the stable id of what it describes, and then
//! changed one scalar at a time, so concurrent edits to different fields all survive.
//! (So `changed_at` and `changed_by` of a member, written concurrently by two managers,
//! may each come from a different one; both are always present.)

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ROOT, ReadDoc, ScalarValue, Value};
use std::collections::BTreeMap;

use time::Time;

use super::common::{
    Candidate, FieldConflict, Fields, KIND_CLINIC, SchemaError, count, ensure_map,
    field_candidates, id_value, instant, map_conflicts, parse_time, put_header, put_if_changed,
    put_opt_if_changed, resolve_field, text, time_string,
};
use attach_domain::{
    Address, BuiltinStatus, Clinic, ClinicProfile, DayHours, Delegation, DelegationState, Location,
    MemberState, Membership, Role, Side, StatusDefinition, StatusId, StatusRule, StatusRules,
    UserId, VisitRule,
};

/// Root key of the primary account manager register.
pub const PRIMARY: &str = "primary";
/// Root key of the secondary account manager register.
pub const SECONDARY: &str = "secondary";

const PROFILE: &str = "profile";
const HOURS: &str = "hours";
const LOCATIONS: &str = "locations";
/// Root key of the map of member records.
pub(super) const MEMBERS: &str = "members";
const STATUSES: &str = "statuses";
const DELEGATIONS: &str = "delegations";
pub(crate) const STATUS_RULES: &str = "status_rules";

// ---------------------------------------------------------------------------
// Enum names
// ---------------------------------------------------------------------------

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Director => "director",
        Role::Physician => "physician",
        Role::NursePractitioner => "nurse_practitioner",
        Role::MedicalOfficeAssistant => "medical_office_assistant",
        Role::OtherStaff => "other_staff",
    }
}

fn parse_role(s: &str) -> Option<Role> {
    [
        Role::Director,
        Role::Physician,
        Role::NursePractitioner,
        Role::MedicalOfficeAssistant,
        Role::OtherStaff,
    ]
    .into_iter()
    .find(|r| role_name(*r) == s)
}

fn member_state_name(s: MemberState) -> &'static str {
    match s {
        MemberState::Requested => "requested",
        MemberState::Approved => "approved",
        MemberState::Active => "active",
        MemberState::Deactivated => "deactivated",
        MemberState::Declined => "declined",
    }
}

fn parse_member_state(s: &str) -> Option<MemberState> {
    [
        MemberState::Requested,
        MemberState::Approved,
        MemberState::Active,
        MemberState::Deactivated,
        MemberState::Declined,
    ]
    .into_iter()
    .find(|m| member_state_name(*m) == s)
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Provider => "provider",
        Side::Delegate => "delegate",
    }
}

fn parse_side(s: &str) -> Option<Side> {
    [Side::Provider, Side::Delegate]
        .into_iter()
        .find(|x| side_name(*x) == s)
}

fn delegation_state_name(s: DelegationState) -> &'static str {
    match s {
        DelegationState::Pending => "pending",
        DelegationState::Active => "active",
        DelegationState::Revoked => "revoked",
    }
}

fn parse_delegation_state(s: &str) -> Option<DelegationState> {
    [
        DelegationState::Pending,
        DelegationState::Active,
        DelegationState::Revoked,
    ]
    .into_iter()
    .find(|x| delegation_state_name(*x) == s)
}

fn hours_string(h: DayHours) -> String {
    format!("{}-{}", time_string(h.opens), time_string(h.closes))
}

fn parse_hours(s: &str) -> Option<DayHours> {
    let (o, c) = s.split_once('-')?;
    let (opens, closes): (Time, Time) = (parse_time(o)?, parse_time(c)?);
    Some(DayHours { opens, closes })
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

fn read_address<R: ReadDoc>(f: &Fields<'_, R>) -> Result<Address, SchemaError> {
    Ok(Address {
        street: f.str("street")?,
        city: f.str("city")?,
        province: f.str("province")?,
        postal_code: f.str("postal_code")?,
    })
}

fn read_profile<R: ReadDoc>(f: &Fields<'_, R>) -> Result<ClinicProfile, SchemaError> {
    let hours_map = f.map(HOURS)?;
    let mut hours = std::collections::BTreeMap::new();
    for key in hours_map.keys() {
        let day = key
            .parse::<u8>()
            .ok()
            .filter(|d| (1..=7).contains(d))
            .ok_or_else(|| hours_map.malformed(&key, "a weekday number from 1 to 7"))?;
        let h = hours_map.parsed(&key, "opening hours (HH:MM-HH:MM)", parse_hours)?;
        hours.insert(day, h);
    }
    Ok(ClinicProfile {
        name: f.str("name")?,
        facility_number: f.str("facility_number")?,
        address: read_address(f)?,
        phone: f.str("phone")?,
        fax: f.str("fax")?,
        hours,
    })
}

/// Reads every entry of the map of records at `key` with `read_one(id, fields)`.
fn read_records<R: ReadDoc, K: Ord + From<uuid::Uuid>, V>(
    root: &Fields<'_, R>,
    key: &str,
    read_one: impl Fn(K, &Fields<'_, R>) -> Result<V, SchemaError>,
) -> Result<std::collections::BTreeMap<K, V>, SchemaError> {
    let records = root.map(key)?;
    let mut out = std::collections::BTreeMap::new();
    for k in records.keys() {
        let id = uuid::Uuid::parse_str(&k).map_err(|_| records.malformed(&k, "keyed by an id"))?;
        let fields = records.map(&k)?;
        out.insert(K::from(id), read_one(K::from(id), &fields)?);
    }
    Ok(out)
}

fn read_rule<R: ReadDoc>(f: &Fields<'_, R>) -> Result<Option<StatusRule>, SchemaError> {
    let last_visit = match f.opt_str("visit")?.as_deref() {
        None => None,
        Some(kind) => {
            let months = f.opt_count("months")?.ok_or_else(|| f.missing("months"))?;
            Some(match kind {
                "seen_within" => VisitRule::SeenWithin { months },
                "not_seen_for" => VisitRule::NotSeenFor { months },
                _ => return Err(f.malformed("visit", "seen_within or not_seen_for")),
            })
        }
    };
    let rule = StatusRule {
        last_visit,
        min_age: f.opt_count("min_age")?,
        max_age: f.opt_count("max_age")?,
    };
    Ok((!rule.is_empty()).then_some(rule))
}

fn read_status_rules<R: ReadDoc>(root: &Fields<'_, R>) -> Result<StatusRules, SchemaError> {
    let Some(map) = root.opt_map(STATUS_RULES)? else {
        return Ok(StatusRules::default());
    };
    let mut rules = StatusRules::default();
    for key in map.keys() {
        let f = map.map(&key)?;
        match key.as_str() {
            "active" | "inactive" => {
                let b = BuiltinStatus {
                    definition: f.opt_str("definition")?.unwrap_or_default(),
                    rule: read_rule(&f)?,
                };
                if key == "active" {
                    rules.active = b;
                } else {
                    rules.inactive = b;
                }
            }
            other => {
                let id = other.parse::<StatusId>().map_err(|_| {
                    map.malformed(other, "keyed by active, inactive or a status id")
                })?;
                if let Some(r) = read_rule(&f)? {
                    rules.custom.insert(id, r);
                }
            }
        }
    }
    Ok(rules)
}

/// Writes the rule fields of one status that differ (`None`: no rule).
fn write_rule<T: Transactable>(
    tx: &mut T,
    key: &str,
    definition: Option<&str>,
    rule: Option<&StatusRule>,
) -> Result<(), SchemaError> {
    let rules = ensure_map(tx, &ROOT, STATUS_RULES, KIND_CLINIC)?;
    let obj = ensure_map(tx, &rules, key, KIND_CLINIC)?;
    if let Some(d) = definition {
        put_if_changed(tx, &obj, "definition", text(d))?;
    }
    let (visit, months) = match rule.and_then(|r| r.last_visit) {
        None => (None, None),
        Some(VisitRule::SeenWithin { months }) => (Some("seen_within"), Some(months)),
        Some(VisitRule::NotSeenFor { months }) => (Some("not_seen_for"), Some(months)),
    };
    put_opt_if_changed(tx, &obj, "visit", visit.map(text))?;
    put_opt_if_changed(tx, &obj, "months", months.map(count))?;
    put_opt_if_changed(tx, &obj, "min_age", rule.and_then(|r| r.min_age).map(count))?;
    put_opt_if_changed(tx, &obj, "max_age", rule.and_then(|r| r.max_age).map(count))?;
    Ok(())
}

/// Writes the clinic's status rules where they differ from the document. A custom
/// status's rule that `rules` no longer holds is cleared (its map stays, with no
/// condition, so a concurrent edit of it lands in the same object).
pub fn write_status_rules<T: Transactable>(
    tx: &mut T,
    rules: &StatusRules,
) -> Result<(), SchemaError> {
    write_rule(
        tx,
        "active",
        Some(&rules.active.definition),
        rules.active.rule.as_ref(),
    )?;
    write_rule(
        tx,
        "inactive",
        Some(&rules.inactive.definition),
        rules.inactive.rule.as_ref(),
    )?;
    let stored: Vec<String> = match tx.get(&ROOT, STATUS_RULES)? {
        Some((Value::Object(_), obj)) => tx.keys(&obj).collect(),
        _ => Vec::new(),
    };
    for key in stored {
        if let Ok(id) = key.parse::<StatusId>()
            && !rules.custom.contains_key(&id)
        {
            write_rule(tx, &key, None, None)?;
        }
    }
    for (id, r) in &rules.custom {
        write_rule(tx, &id.to_string(), None, Some(r))?;
    }
    Ok(())
}

/// Every field of the status rules that replicas set to different values concurrently,
/// named `status rule <status key> <field>`.
pub fn status_rule_conflicts(doc: &Automerge) -> Result<Vec<FieldConflict>, SchemaError> {
    let Some((Value::Object(_), rules)) = doc.get(ROOT, STATUS_RULES)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for key in doc.keys(&rules) {
        let Some((Value::Object(_), obj)) = doc.get(&rules, key.as_str())? else {
            continue;
        };
        for mut conflict in map_conflicts(doc, &obj)? {
            conflict.field = format!("status rule {key} {}", conflict.field);
            out.push(conflict);
        }
    }
    Ok(out)
}

/// Reads the merged state of a clinic document.
pub fn read_clinic(doc: &impl ReadDoc) -> Result<Clinic, SchemaError> {
    let root = Fields::root(doc, KIND_CLINIC)?;
    Ok(Clinic {
        id: root.id("id")?,
        profile: read_profile(&root.map(PROFILE)?)?,
        locations: read_records(&root, LOCATIONS, |id, f| {
            Ok(Location {
                id,
                name: f.str("name")?,
                address: read_address(f)?,
                phone: f.str("phone")?,
                retired: f.bool("retired")?,
            })
        })?,
        members: read_records(&root, MEMBERS, |user, f| {
            Ok(Membership {
                user,
                role: f.parsed("role", "a known role", parse_role)?,
                state: f.parsed("state", "a known membership state", parse_member_state)?,
                since: f.instant("since")?,
                changed_at: f.instant("changed_at")?,
                changed_by: f.id("changed_by")?,
            })
        })?,
        primary: root.id(PRIMARY)?,
        secondary: root.opt_id(SECONDARY)?,
        statuses: read_records(&root, STATUSES, |id, f| {
            Ok(StatusDefinition {
                id,
                name: f.str("name")?,
                definition: f.str("definition")?,
                retired: f.bool("retired")?,
            })
        })?,
        status_rules: read_status_rules(&root)?,
        delegations: read_records(&root, DELEGATIONS, |id, f| {
            Ok(Delegation {
                id,
                provider: f.id("provider")?,
                delegate: f.id("delegate")?,
                started_by: f.parsed("started_by", "provider or delegate", parse_side)?,
                state: f.parsed("state", "a known delegation state", parse_delegation_state)?,
                created_at: f.instant("created_at")?,
                confirmed_at: f.opt_instant("confirmed_at")?,
                revoked_at: f.opt_instant("revoked_at")?,
                revoked_by: f.opt_id("revoked_by")?,
            })
        })?,
    })
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

fn write_address<T: Transactable>(tx: &mut T, obj: &ObjId, a: &Address) -> Result<(), SchemaError> {
    put_if_changed(tx, obj, "street", text(&a.street))?;
    put_if_changed(tx, obj, "city", text(&a.city))?;
    put_if_changed(tx, obj, "province", text(&a.province))?;
    put_if_changed(tx, obj, "postal_code", text(&a.postal_code))?;
    Ok(())
}

/// The map of one record (`members/<id>` …), made if absent.
fn record<T: Transactable>(
    tx: &mut T,
    collection: &str,
    id: uuid::Uuid,
) -> Result<ObjId, SchemaError> {
    let records = ensure_map(tx, &ROOT, collection, KIND_CLINIC)?;
    ensure_map(tx, &records, &id.to_string(), KIND_CLINIC)
}

/// Writes a whole new clinic document (or, on an existing one, whatever differs).
pub fn write_clinic_new<T: Transactable>(tx: &mut T, clinic: &Clinic) -> Result<(), SchemaError> {
    put_header(tx, KIND_CLINIC)?;
    put_if_changed(tx, &ROOT, "id", id_value(clinic.id.0))?;
    write_profile(tx, &clinic.profile)?;
    for collection in [LOCATIONS, MEMBERS, STATUSES, DELEGATIONS] {
        ensure_map(tx, &ROOT, collection, KIND_CLINIC)?;
    }
    for l in clinic.locations.values() {
        write_location(tx, l)?;
    }
    for m in clinic.members.values() {
        write_membership(tx, m)?;
    }
    for s in clinic.statuses.values() {
        write_status(tx, s)?;
    }
    for d in clinic.delegations.values() {
        write_delegation(tx, d)?;
    }
    // Always, so the rules' maps exist from the clinic's first change: two nodes writing
    // the first rules apart then edit the same maps, and each field's clash is listed,
    // instead of one node's whole map replacing the other's.
    write_status_rules(tx, &clinic.status_rules)?;
    write_primary(tx, clinic.primary)?;
    write_secondary(tx, clinic.secondary)?;
    Ok(())
}

/// Writes the profile fields that differ; a weekday missing from `hours` is closed.
pub fn write_profile<T: Transactable>(
    tx: &mut T,
    profile: &ClinicProfile,
) -> Result<(), SchemaError> {
    let obj = ensure_map(tx, &ROOT, PROFILE, KIND_CLINIC)?;
    put_if_changed(tx, &obj, "name", text(&profile.name))?;
    put_if_changed(tx, &obj, "facility_number", text(&profile.facility_number))?;
    write_address(tx, &obj, &profile.address)?;
    put_if_changed(tx, &obj, "phone", text(&profile.phone))?;
    put_if_changed(tx, &obj, "fax", text(&profile.fax))?;
    let hours = ensure_map(tx, &obj, HOURS, KIND_CLINIC)?;
    let stored: Vec<String> = tx.keys(&hours).collect();
    for key in stored {
        let wanted = key
            .parse::<u8>()
            .ok()
            .filter(|d| profile.hours.contains_key(d));
        if wanted.is_none() {
            tx.delete(&hours, key.as_str())?;
        }
    }
    for (day, h) in &profile.hours {
        put_if_changed(tx, &hours, &day.to_string(), text(&hours_string(*h)))?;
    }
    Ok(())
}

pub fn write_location<T: Transactable>(tx: &mut T, l: &Location) -> Result<(), SchemaError> {
    let obj = record(tx, LOCATIONS, l.id.0)?;
    put_if_changed(tx, &obj, "name", text(&l.name))?;
    write_address(tx, &obj, &l.address)?;
    put_if_changed(tx, &obj, "phone", text(&l.phone))?;
    put_if_changed(tx, &obj, "retired", ScalarValue::Boolean(l.retired))?;
    Ok(())
}

pub fn write_membership<T: Transactable>(tx: &mut T, m: &Membership) -> Result<(), SchemaError> {
    let obj = record(tx, MEMBERS, m.user.0)?;
    put_if_changed(tx, &obj, "role", text(role_name(m.role)))?;
    put_if_changed(tx, &obj, "state", text(member_state_name(m.state)))?;
    put_if_changed(tx, &obj, "since", instant(m.since))?;
    put_if_changed(tx, &obj, "changed_at", instant(m.changed_at))?;
    put_if_changed(tx, &obj, "changed_by", id_value(m.changed_by.0))?;
    Ok(())
}

/// Hands the primary account manager role to `user` (a root register).
pub fn write_primary<T: Transactable>(tx: &mut T, user: UserId) -> Result<(), SchemaError> {
    put_if_changed(tx, &ROOT, PRIMARY, id_value(user.0))?;
    Ok(())
}

/// Sets or clears (null) the secondary account manager (a root register).
pub fn write_secondary<T: Transactable>(
    tx: &mut T,
    user: Option<UserId>,
) -> Result<(), SchemaError> {
    put_opt_if_changed(tx, &ROOT, SECONDARY, user.map(|u| id_value(u.0)))?;
    Ok(())
}

pub fn write_status<T: Transactable>(tx: &mut T, s: &StatusDefinition) -> Result<(), SchemaError> {
    let obj = record(tx, STATUSES, s.id.0)?;
    put_if_changed(tx, &obj, "name", text(&s.name))?;
    put_if_changed(tx, &obj, "definition", text(&s.definition))?;
    put_if_changed(tx, &obj, "retired", ScalarValue::Boolean(s.retired))?;
    Ok(())
}

pub fn write_delegation<T: Transactable>(tx: &mut T, d: &Delegation) -> Result<(), SchemaError> {
    let obj = record(tx, DELEGATIONS, d.id.0)?;
    put_if_changed(tx, &obj, "provider", id_value(d.provider.0))?;
    put_if_changed(tx, &obj, "delegate", id_value(d.delegate.0))?;
    put_if_changed(tx, &obj, "started_by", text(side_name(d.started_by)))?;
    put_if_changed(tx, &obj, "state", text(delegation_state_name(d.state)))?;
    put_if_changed(tx, &obj, "created_at", instant(d.created_at))?;
    put_opt_if_changed(tx, &obj, "confirmed_at", d.confirmed_at.map(instant))?;
    put_opt_if_changed(tx, &obj, "revoked_at", d.revoked_at.map(instant))?;
    put_opt_if_changed(tx, &obj, "revoked_by", d.revoked_by.map(|u| id_value(u.0)))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Conflicts
// ---------------------------------------------------------------------------

/// Every concurrent value of a root register (`PRIMARY`, `SECONDARY`), with its author.
/// After a concurrent handover this shows both new managers, the winner last.
pub fn register_candidates(doc: &Automerge, key: &str) -> Result<Vec<Candidate>, SchemaError> {
    field_candidates(doc, &ROOT, key)
}

/// A member field that holds more than one distinct concurrent value.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberFieldConflict {
    pub member: UserId,
    pub conflict: FieldConflict,
}

/// The `field` of a [`MemberFieldConflict`] when two managers added the same person
/// concurrently: each made a whole member record, one record wins and the other is
/// hidden; the candidates are the whole records.
pub const MEMBER_RECORD: &str = "record";

/// The member fields (`role`, `state`, …) that replicas set to different values
/// concurrently, and the members added twice concurrently with different fields
/// (`field` = [`MEMBER_RECORD`]).
pub fn member_field_conflicts(doc: &Automerge) -> Result<Vec<MemberFieldConflict>, SchemaError> {
    let Some((Value::Object(_), members)) = doc.get(ROOT, MEMBERS)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let records: BTreeMap<String, FieldConflict> = map_conflicts(doc, &members)?
        .into_iter()
        .map(|c| (c.field.clone(), c))
        .collect();
    for key in doc.keys(&members) {
        let Ok(member) = key.parse::<UserId>() else {
            continue;
        };
        if let Some(record) = records.get(&key) {
            out.push(MemberFieldConflict {
                member,
                conflict: FieldConflict {
                    field: MEMBER_RECORD.into(),
                    candidates: record.candidates.clone(),
                },
            });
        }
        let Some((Value::Object(_), obj)) = doc.get(&members, key.as_str())? else {
            continue;
        };
        for conflict in map_conflicts(doc, &obj)? {
            out.push(MemberFieldConflict { member, conflict });
        }
    }
    Ok(out)
}

/// Settles a root register conflict (`PRIMARY`, `SECONDARY`) on the chosen candidate.
pub fn resolve_register<T: Transactable>(
    tx: &mut T,
    key: &str,
    chosen: &Candidate,
) -> Result<(), SchemaError> {
    resolve_field(tx, &ROOT, key, chosen)
}

/// Settles a conflict on one field of one member (or, for [`MEMBER_RECORD`], on the
/// whole record) on the chosen candidate.
pub fn resolve_member_field<T: Transactable>(
    tx: &mut T,
    member: UserId,
    field: &str,
    chosen: &Candidate,
) -> Result<(), SchemaError> {
    if field == MEMBER_RECORD {
        let members = ensure_map(tx, &ROOT, MEMBERS, KIND_CLINIC)?;
        return resolve_field(tx, &members, &member.to_string(), chosen);
    }
    let obj = record(tx, MEMBERS, member.0)?;
    resolve_field(tx, &obj, field, chosen)
}
