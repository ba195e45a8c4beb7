//! The `panel/<provider>` document (preferences) and the `panel/<provider>/<entry>`
//! documents (one patient each).
//!
//! ```text
//! panel/<provider>          ROOT: kind "panel", schema, provider, accepting_new_patients,
//!                                 monthly_capacity, desired_panel_size, max_open_requests,
//!                                 languages (text, "; "-separated; absent: English only),
//!                                 practitioner_number (text | absent)
//! panel/<provider>/<entry>  ROOT: kind "panel-entry", schema, id, provider, clinic,
//!                                 phn, family_name, given_names, date_of_birth, sex,
//!                                 phone, email, street, city, province, postal_code,
//!                                 community, last_visit, status,
//!                                 added_at, added_by, how_added,
//!                                 mrp:     { at, by, how? } | null     (a group)
//!                                 patient_mrp: { at, by, how? } | null (a group)
//!                                 contact_verified: { at, by } | null  (a group)
//!                                 dismissed: { status, at, by } | null (a group)
//!                                 removal: { at, by, reason,
//!                                            disposition ("left" | "transfer" |
//!                                              "waitlist"; absent: "left"),
//!                                            to (the receiving provider, on a transfer)
//!                                          } | null                    (a group)
//! ```
//!
//! Every field is a root scalar, so concurrent edits to different fields merge and an
//! edit clash on one field is visible with `get_all`. The two groups are replaced whole
//! (see `common`), so a confirmation's time and author always come from the same person.

use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT, ReadDoc, ScalarValue};

use super::common::{
    Candidate, FieldConflict, Fields, KIND_ENTRY, KIND_PANEL, NewDoc, SchemaError, count,
    date_string, id_value, instant, is_new_doc, map_conflicts, put_group_if_changed, put_header,
    put_if_changed, put_opt_if_changed, resolve_field, text,
};
use attach_domain::{
    Address, ConfirmMethod, Contact, Dismissal, Disposition, EntryReview, HowAdded,
    MrpConfirmation, PanelEntry, PanelPreferences, PatientDetails, PatientStatus, Phn, Removal,
    Sex, Stamp, StatusId, UserId,
};

fn sex_name(s: Sex) -> &'static str {
    match s {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::X => "x",
        Sex::Unknown => "unknown",
    }
}

fn parse_sex(s: &str) -> Option<Sex> {
    [Sex::Female, Sex::Male, Sex::X, Sex::Unknown]
        .into_iter()
        .find(|x| sex_name(*x) == s)
}

fn how_added_name(h: HowAdded) -> &'static str {
    match h {
        HowAdded::Manual => "manual",
        HowAdded::CsvUpload => "csv_upload",
        HowAdded::FhirUpload => "fhir_upload",
        HowAdded::Match => "match",
        HowAdded::Transfer => "transfer",
    }
}

fn parse_how_added(s: &str) -> Option<HowAdded> {
    [
        HowAdded::Manual,
        HowAdded::CsvUpload,
        HowAdded::FhirUpload,
        HowAdded::Match,
        HowAdded::Transfer,
    ]
    .into_iter()
    .find(|x| how_added_name(*x) == s)
}

/// `"active"`, `"inactive"` or `"custom:<status uuid>"`.
pub fn status_string(s: PatientStatus) -> String {
    match s {
        PatientStatus::Active => "active".into(),
        PatientStatus::Inactive => "inactive".into(),
        PatientStatus::Custom(id) => format!("custom:{id}"),
    }
}

pub fn parse_status(s: &str) -> Option<PatientStatus> {
    match s {
        "active" => Some(PatientStatus::Active),
        "inactive" => Some(PatientStatus::Inactive),
        other => other
            .strip_prefix("custom:")
            .and_then(|id| id.parse::<StatusId>().ok())
            .map(PatientStatus::Custom),
    }
}

/// Reads one patient entry document.
pub fn read_entry(doc: &impl ReadDoc) -> Result<PanelEntry, SchemaError> {
    let f = Fields::root(doc, KIND_ENTRY)?;
    let confirmation =
        |key: &str| -> Result<Option<MrpConfirmation>, SchemaError> {
            match f.opt_map(key)? {
                None => Ok(None),
                Some(g) => Ok(Some(MrpConfirmation {
                    at: g.instant("at")?,
                    by: g.id("by")?,
                    how: match g.opt_str("how")? {
                        None => None,
                        Some(h) => Some(ConfirmMethod::from_key(&h).ok_or_else(|| {
                            g.malformed("how", "in_person, phone, portal or letter")
                        })?),
                    },
                })),
            }
        };
    let mrp = confirmation("mrp")?;
    let review = EntryReview {
        patient_mrp: confirmation("patient_mrp")?,
        contact_verified: match f.opt_map("contact_verified")? {
            None => None,
            Some(g) => Some(Stamp {
                at: g.instant("at")?,
                by: g.id("by")?,
            }),
        },
        dismissed: match f.opt_map("dismissed")? {
            None => None,
            Some(g) => Some(Dismissal {
                status: g.parsed("status", "a known patient status", parse_status)?,
                at: g.instant("at")?,
                by: g.id("by")?,
            }),
        },
    };
    let removed = match f.opt_map("removal")? {
        None => None,
        Some(g) => Some(Removal {
            at: g.instant("at")?,
            by: g.id("by")?,
            reason: g.str("reason")?,
            disposition: match g.opt_str("disposition")?.as_deref() {
                None | Some("left") => Disposition::Left,
                Some("transfer") => Disposition::Transferred { to: g.id("to")? },
                Some("waitlist") => Disposition::ReturnToWaitlist,
                Some(_) => return Err(g.malformed("disposition", "left, transfer or waitlist")),
            },
        }),
    };
    Ok(PanelEntry {
        id: f.id("id")?,
        provider: f.id("provider")?,
        clinic: f.id("clinic")?,
        details: read_details(&f)?,
        status: f.parsed("status", "a known patient status", parse_status)?,
        mrp,
        added_at: f.instant("added_at")?,
        added_by: f.id("added_by")?,
        how_added: f.parsed("how_added", "a known way of adding", parse_how_added)?,
        review,
        removed,
    })
}

/// A patient's details as every document about a patient holds them (a panel entry, a
/// waiting person, a person in an offer): one root-level scalar per field, `last_visit`
/// optional.
pub(crate) fn read_details<R: ReadDoc>(f: &Fields<'_, R>) -> Result<PatientDetails, SchemaError> {
    Ok(PatientDetails {
        phn: f.parsed("phn", "a valid PHN", |s| Phn::parse(s).ok())?,
        family_name: f.str("family_name")?,
        given_names: f.str("given_names")?,
        date_of_birth: f.date("date_of_birth")?,
        sex: f.parsed("sex", "a known sex", parse_sex)?,
        contact: Contact {
            phone: f.str("phone")?,
            email: f.str("email")?,
            address: Address {
                street: f.str("street")?,
                city: f.str("city")?,
                province: f.str("province")?,
                postal_code: f.str("postal_code")?,
            },
        },
        community: f.str("community")?,
        last_visit: f.opt_date("last_visit")?,
    })
}

/// The fields [`read_details`] reads, except the optional `last_visit`.
pub(crate) fn detail_fields(d: &PatientDetails) -> [(&'static str, ScalarValue); 12] {
    let a = &d.contact.address;
    [
        ("phn", text(&d.phn.to_string())),
        ("family_name", text(&d.family_name)),
        ("given_names", text(&d.given_names)),
        ("date_of_birth", text(&date_string(d.date_of_birth))),
        ("sex", text(sex_name(d.sex))),
        ("phone", text(&d.contact.phone)),
        ("email", text(&d.contact.email)),
        ("street", text(&a.street)),
        ("city", text(&a.city)),
        ("province", text(&a.province)),
        ("postal_code", text(&a.postal_code)),
        ("community", text(&d.community)),
    ]
}

/// Writes every field of the entry that differs from the document (all of them for a
/// new, empty document).
pub fn write_entry<T: Transactable>(tx: &mut T, e: &PanelEntry) -> Result<(), SchemaError> {
    let d = &e.details;
    let fields: Vec<(&str, ScalarValue)> = [
        ("id", id_value(e.id.0)),
        ("provider", id_value(e.provider.0)),
        ("clinic", id_value(e.clinic.0)),
    ]
    .into_iter()
    .chain(detail_fields(d))
    .chain([
        ("status", text(&status_string(e.status))),
        ("added_at", instant(e.added_at)),
        ("added_by", id_value(e.added_by.0)),
        ("how_added", text(how_added_name(e.how_added))),
    ])
    .collect();
    let last_visit = d.last_visit.map(|v| text(&date_string(v)));
    let confirmation = |m: MrpConfirmation| {
        let mut group = vec![("at", instant(m.at)), ("by", id_value(m.by.0))];
        // A confirmation without a method writes none, so it reads as it did before.
        if let Some(how) = m.how {
            group.push(("how", text(how.key())));
        }
        group
    };
    let mrp = e.mrp.map(confirmation);
    let patient_mrp = e.review.patient_mrp.map(confirmation);
    let contact_verified = e
        .review
        .contact_verified
        .map(|v| vec![("at", instant(v.at)), ("by", id_value(v.by.0))]);
    let dismissed = e.review.dismissed.map(|d| {
        vec![
            ("status", text(&status_string(d.status))),
            ("at", instant(d.at)),
            ("by", id_value(d.by.0)),
        ]
    });
    let removal = e.removed.as_ref().map(|r| {
        let mut group = vec![
            ("at", instant(r.at)),
            ("by", id_value(r.by.0)),
            ("reason", text(&r.reason)),
        ];
        // A plain removal writes no disposition, so it reads the same as before there was one.
        match r.disposition {
            Disposition::Left => {}
            Disposition::Transferred { to } => {
                group.push(("disposition", text("transfer")));
                group.push(("to", id_value(to.0)));
            }
            Disposition::ReturnToWaitlist => group.push(("disposition", text("waitlist"))),
        }
        group
    });
    if is_new_doc(tx) {
        // A bulk import of 25,000 patients is 25,000 new documents: one batch each.
        let mut doc = NewDoc::root(KIND_ENTRY);
        doc.fields(fields);
        doc.opt("last_visit", last_visit);
        doc.group("mrp", mrp);
        doc.group("patient_mrp", patient_mrp);
        doc.group("contact_verified", contact_verified);
        doc.group("dismissed", dismissed);
        doc.group("removal", removal);
        doc.write(tx)?;
        return Ok(());
    }
    put_header(tx, KIND_ENTRY)?;
    for (key, value) in fields {
        put_if_changed(tx, &ROOT, key, value)?;
    }
    put_opt_if_changed(tx, &ROOT, "last_visit", last_visit)?;
    put_group_if_changed(tx, &ROOT, "mrp", mrp)?;
    put_group_if_changed(tx, &ROOT, "patient_mrp", patient_mrp)?;
    put_group_if_changed(tx, &ROOT, "contact_verified", contact_verified)?;
    put_group_if_changed(tx, &ROOT, "dismissed", dismissed)?;
    put_group_if_changed(tx, &ROOT, "removal", removal)?;
    Ok(())
}

/// The entry fields that replicas set to different values concurrently; a clash on a
/// group (`mrp`, `removal`) is one conflict whose candidates are whole groups.
pub fn entry_field_conflicts(doc: &Automerge) -> Result<Vec<FieldConflict>, SchemaError> {
    map_conflicts(doc, &ROOT)
}

/// Settles a conflict on one entry field (or group) on the chosen candidate.
pub fn resolve_entry_field<T: Transactable>(
    tx: &mut T,
    field: &str,
    chosen: &Candidate,
) -> Result<(), SchemaError> {
    resolve_field(tx, &ROOT, field, chosen)
}

/// Reads a provider's panel preferences. A preference the document does not hold yet
/// reads as its default (`PanelPreferences::default()`); a malformed one is an error.
pub fn read_preferences(doc: &impl ReadDoc) -> Result<PanelPreferences, SchemaError> {
    let f = Fields::root(doc, KIND_PANEL)?;
    let d = PanelPreferences::default();
    Ok(PanelPreferences {
        accepting_new_patients: f
            .opt_bool("accepting_new_patients")?
            .unwrap_or(d.accepting_new_patients),
        monthly_capacity: f
            .opt_count("monthly_capacity")?
            .unwrap_or(d.monthly_capacity),
        desired_panel_size: f
            .opt_count("desired_panel_size")?
            .unwrap_or(d.desired_panel_size),
        max_open_requests: f
            .opt_count("max_open_requests")?
            .unwrap_or(d.max_open_requests),
        languages: f
            .opt_str("languages")?
            .map(|l| {
                l.split(';')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or(d.languages),
        practitioner_number: f.opt_str("practitioner_number")?.filter(|n| !n.is_empty()),
    })
}

/// The provider a `panel/<provider>` document belongs to.
pub fn read_panel_provider(doc: &impl ReadDoc) -> Result<UserId, SchemaError> {
    Fields::root(doc, KIND_PANEL)?.id("provider")
}

/// Writes the preferences that differ (and, on a new document, its header and provider).
pub fn write_preferences<T: Transactable>(
    tx: &mut T,
    provider: UserId,
    p: &PanelPreferences,
) -> Result<(), SchemaError> {
    put_header(tx, KIND_PANEL)?;
    put_if_changed(tx, &ROOT, "provider", id_value(provider.0))?;
    put_if_changed(
        tx,
        &ROOT,
        "accepting_new_patients",
        ScalarValue::Boolean(p.accepting_new_patients),
    )?;
    put_if_changed(tx, &ROOT, "monthly_capacity", count(p.monthly_capacity))?;
    put_if_changed(tx, &ROOT, "desired_panel_size", count(p.desired_panel_size))?;
    put_if_changed(tx, &ROOT, "max_open_requests", count(p.max_open_requests))?;
    let languages = p.languages.iter().map(String::as_str).collect::<Vec<_>>();
    put_opt_if_changed(
        tx,
        &ROOT,
        "languages",
        (!languages.is_empty()).then(|| text(&languages.join("; "))),
    )?;
    put_opt_if_changed(
        tx,
        &ROOT,
        "practitioner_number",
        p.practitioner_number.as_deref().map(text),
    )?;
    Ok(())
}
