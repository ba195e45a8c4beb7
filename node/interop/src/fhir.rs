//! Patient panels as FHIR R4 JSON.
//!
//! # Import: [`parse_fhir_bundle`]
//!
//! A `Bundle` of type `collection`, `transaction`, `batch` or `searchset` whose entries
//! are `Patient` resources. Each Patient is read as follows:
//!
//! | domain field | FHIR element |
//! |---|---|
//! | PHN | `identifier` with `system` [`PHN_SYSTEM`] (or the OID form [`PHN_OID_SYSTEM`]) |
//! | family / given names | the `name` with `use` official (else usual, else the first that is not old, maiden or anonymous): `family`, `given[]` joined with spaces |
//! | date of birth | `birthDate` (a full `YYYY-MM-DD` date) |
//! | sex | `gender`: female, male, other (→ X), unknown; required |
//! | phone, email | the first `telecom` with `system` phone, and with `system` email |
//! | address | the `address` with `use` home (else the first that is not old): `line[]` joined with ", ", `city`, `state`, `postalCode` |
//! | community | extension [`COMMUNITY_EXTENSION`] (`valueString`), else `address.district` |
//! | last visit | extension [`LAST_VISIT_EXTENSION`] (`valueDate`) |
//! | status | extension [`STATUS_EXTENSION`] (`valueString`: active, inactive or a clinic-defined status name), else `active` (false → inactive, otherwise active) |
//! | MRP confirmed | extension [`MRP_CONFIRMED_EXTENSION`] (`valueBoolean`), else no |
//!
//! The resources an Attach export puts beside the patients (Organization, Location,
//! Practitioner, PractitionerRole, Group) and searchset entries with `search.mode`
//! include or outcome are skipped, so an exported panel imports as it is. Any other
//! resource is an error for its entry. Errors name the entry and the FHIR path, e.g.
//! `entry[3].resource.birthDate`. The same all-or-nothing and one-PHN-per-file rules as
//! the CSV import apply.
//!
//! # Export: [`panel_bundle`]
//!
//! A `collection` Bundle: the clinic as an `Organization`, its `Location`s, the provider
//! as a `Practitioner` and a `PractitionerRole`, the panel as a `Group`, and one
//! `Patient` per patient on the panel. Every entry has a `urn:uuid:` fullUrl and
//! references between them use those, so they resolve inside the bundle.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use super::validate::{self, RowCheck, SeenPhns};
use super::{FileError, ImportErrors, ImportRow, MAX_IMPORT_ROWS, format_date};
use attach_domain::fields;
use attach_domain::{Address, Clinic, MemberState, PanelEntry, PatientStatus, Role, Sex, UserId};

/// The BC personal health number naming system (Canada Health Infoway).
pub const PHN_SYSTEM: &str =
    "https://fhir.infoway-inforoute.ca/NamingSystem/ca-bc-patient-healthcare-id";
/// The OID form of the BC PHN system, accepted on import.
pub const PHN_OID_SYSTEM: &str = "urn:oid:2.16.840.1.113883.4.50";

/// Attach-defined extension on Patient: the community the patient lives in (`valueString`).
pub const COMMUNITY_EXTENSION: &str =
    "https://example.invalid/attach/fhir/StructureDefinition/community";
/// Attach-defined extension on Patient: the date of the last visit (`valueDate`).
pub const LAST_VISIT_EXTENSION: &str =
    "https://example.invalid/attach/fhir/StructureDefinition/last-visit";
/// Attach-defined extension on Patient: the panel status by name (`valueString`).
pub const STATUS_EXTENSION: &str =
    "https://example.invalid/attach/fhir/StructureDefinition/panel-status";
/// Attach-defined extension on Patient: the provider is the confirmed most responsible
/// provider (`valueBoolean`).
pub const MRP_CONFIRMED_EXTENSION: &str =
    "https://example.invalid/attach/fhir/StructureDefinition/mrp-confirmed";
/// Attach-defined identifier system for the clinic's MSP facility number.
pub const FACILITY_NUMBER_SYSTEM: &str =
    "https://example.invalid/attach/fhir/NamingSystem/bc-msp-facility-number";
/// Attach-defined identifier system for Attach user ids (on Practitioner).
pub const USER_ID_SYSTEM: &str = "https://example.invalid/attach/fhir/NamingSystem/user-id";
/// Attach-defined code system for the role a person holds at a clinic.
pub const CLINIC_ROLE_SYSTEM: &str = "https://example.invalid/attach/fhir/CodeSystem/clinic-role";
/// Attach-defined code system for the panel Group's characteristic.
pub const PANEL_CHARACTERISTIC_SYSTEM: &str =
    "https://example.invalid/attach/fhir/CodeSystem/panel-characteristic";
/// HL7's practitioner role codes (doctor, nurse, …).
const HL7_PRACTITIONER_ROLE: &str = "http://terminology.hl7.org/CodeSystem/practitioner-role";

const BUNDLE_TYPES: &[&str] = &["collection", "transaction", "batch", "searchset"];
/// Resources an export puts beside the patients; skipped on import.
const CONTEXT_RESOURCES: &[&str] = &[
    "Organization",
    "Location",
    "Practitioner",
    "PractitionerRole",
    "Group",
];

// ---------------------------------------------------------------------------
// Wire types read on import. Unknown elements are ignored: real FHIR files carry many.
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryIn {
    resource: Option<Value>,
    search: Option<SearchIn>,
}

#[derive(Deserialize)]
struct SearchIn {
    mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatientIn {
    #[serde(default)]
    identifier: Vec<IdentifierIn>,
    active: Option<bool>,
    #[serde(default)]
    name: Vec<HumanNameIn>,
    #[serde(default)]
    telecom: Vec<ContactPointIn>,
    gender: Option<String>,
    birth_date: Option<String>,
    #[serde(default)]
    address: Vec<AddressIn>,
    #[serde(default)]
    extension: Vec<ExtensionIn>,
}

#[derive(Deserialize)]
struct IdentifierIn {
    system: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
struct HumanNameIn {
    #[serde(rename = "use")]
    use_: Option<String>,
    family: Option<String>,
    #[serde(default)]
    given: Vec<String>,
}

#[derive(Deserialize)]
struct ContactPointIn {
    system: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressIn {
    #[serde(rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    line: Vec<String>,
    city: Option<String>,
    district: Option<String>,
    state: Option<String>,
    postal_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExtensionIn {
    url: Option<String>,
    value_string: Option<String>,
    value_date: Option<String>,
    value_boolean: Option<bool>,
}

/// Reads a FHIR R4 Bundle of Patients (see the module documentation for the mapping).
///
/// `today` bounds dates; `status` resolves a clinic-defined status name. All or nothing,
/// like [`super::csv::parse_panel_csv`].
pub fn parse_fhir_bundle(
    bytes: &[u8],
    today: Date,
    status: &dyn Fn(&str) -> Option<PatientStatus>,
) -> Result<Vec<ImportRow>, ImportErrors> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
    })?;
    if text.trim().is_empty() {
        return Err(FileError::Empty.into());
    }
    let bundle: Value = serde_json::from_str(text).map_err(json_error)?;
    let Some(bundle) = bundle.as_object() else {
        return Err(FileError::NotFhir.into());
    };
    match bundle.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => {}
        Some(other) => {
            return Err(FileError::NotABundle {
                found: other.to_string(),
            }
            .into());
        }
        None => return Err(FileError::NotFhir.into()),
    }
    match bundle.get("type") {
        None => {}
        Some(Value::String(t)) if BUNDLE_TYPES.contains(&t.as_str()) => {}
        Some(other) => {
            return Err(FileError::BundleType {
                found: other.as_str().unwrap_or("(not text)").to_string(),
            }
            .into());
        }
    }
    let entries: &[Value] = match bundle.get("entry") {
        None => &[],
        Some(Value::Array(a)) => a,
        Some(_) => return Err(FileError::EntryNotList.into()),
    };
    if entries.len() > MAX_IMPORT_ROWS {
        return Err(FileError::TooManyRows {
            limit: MAX_IMPORT_ROWS,
        }
        .into());
    }

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen = SeenPhns::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let base = format!("entry[{i}]");
        let mut c = RowCheck::new(&mut errors, i + 1, None);
        let Ok(entry) = EntryIn::deserialize(entry) else {
            c.fail(&base, "is not a valid bundle entry".into());
            continue;
        };
        let Some(resource) = entry.resource.as_ref() else {
            c.fail(&base, "the entry has no resource".into());
            continue;
        };
        let path = format!("{base}.resource");
        let kind = resource.get("resourceType").and_then(Value::as_str);
        let search_mode = entry.search.and_then(|s| s.mode);
        match kind {
            Some("Patient") => {}
            Some(_) if matches!(search_mode.as_deref(), Some("include" | "outcome")) => continue,
            Some(k) if CONTEXT_RESOURCES.contains(&k) => continue,
            Some(k) => {
                c.fail(
                    &path,
                    format!("is a {k} record; only Patient records can be imported from this file"),
                );
                continue;
            }
            None => {
                c.fail(
                    &format!("{path}.resourceType"),
                    "is missing, so the record's kind is unknown".into(),
                );
                continue;
            }
        }
        let patient = match PatientIn::deserialize(resource) {
            Ok(p) => p,
            Err(_) => {
                let (at, message) = locate_shape_error(resource, &path);
                c.fail(&at, message);
                continue;
            }
        };
        if let Some(row) = read_patient(&patient, &path, i, today, status, &mut seen, &mut c) {
            rows.push(row);
        }
    }
    if !errors.is_empty() {
        return Err(ImportErrors::Rows(errors));
    }
    if rows.is_empty() {
        return Err(FileError::NoRows.into());
    }
    Ok(rows)
}

fn json_error(e: serde_json::Error) -> FileError {
    let message = if e.is_eof() {
        "the file ends too early; it may have been cut off".to_string()
    } else {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        full.strip_suffix(&suffix).unwrap_or(&full).to_string()
    };
    FileError::Json {
        line: e.line(),
        column: e.column(),
        message,
    }
}

/// Finds which element of a Patient has the wrong JSON shape, as (path, message).
fn locate_shape_error(resource: &Value, path: &str) -> (String, String) {
    fn list<T: DeserializeOwned>(v: &Value, at: &str, what: &str) -> Option<(String, String)> {
        let Value::Array(items) = v else {
            return Some((at.to_string(), "must be a list".into()));
        };
        items.iter().enumerate().find_map(|(k, item)| {
            T::deserialize(item)
                .is_err()
                .then(|| (format!("{at}[{k}]"), format!("is not a valid FHIR {what}")))
        })
    }
    fn scalar<T: DeserializeOwned>(v: &Value, at: &str, what: &str) -> Option<(String, String)> {
        T::deserialize(v)
            .is_err()
            .then(|| (at.to_string(), format!("must be {what}")))
    }
    let Some(obj) = resource.as_object() else {
        return (path.to_string(), "must be a JSON object".into());
    };
    for (key, v) in obj {
        let at = format!("{path}.{key}");
        let found = match key.as_str() {
            "identifier" => list::<IdentifierIn>(v, &at, "Identifier"),
            "name" => list::<HumanNameIn>(v, &at, "HumanName"),
            "telecom" => list::<ContactPointIn>(v, &at, "ContactPoint"),
            "address" => list::<AddressIn>(v, &at, "Address"),
            "extension" => list::<ExtensionIn>(v, &at, "Extension"),
            "active" => scalar::<bool>(v, &at, "true or false"),
            "gender" | "birthDate" => scalar::<String>(v, &at, "text"),
            _ => None,
        };
        if let Some(found) = found {
            return found;
        }
    }
    (
        path.to_string(),
        "is not a valid FHIR Patient record".into(),
    )
}

fn read_patient(
    p: &PatientIn,
    path: &str,
    index: usize,
    today: Date,
    status: &dyn Fn(&str) -> Option<PatientStatus>,
    seen: &mut SeenPhns,
    c: &mut RowCheck<'_>,
) -> Option<ImportRow> {
    let phn = read_phn(p, path, c);
    if let Some(phn) = phn
        && let Err((first, _)) = seen.record(phn, (index + 1, None))
    {
        c.fail(
            &format!("{path}.identifier"),
            format!(
                "this PHN is already in entry[{}]; each patient may appear only once in a file",
                first - 1
            ),
        );
    }

    let (family_name, given_names) = match pick_name(&p.name) {
        Some(k) => {
            let n = &p.name[k];
            (
                c.check(
                    &format!("{path}.name[{k}].family"),
                    fields::name(n.family.as_deref().unwrap_or(""), "the family name"),
                ),
                c.check(
                    &format!("{path}.name[{k}].given"),
                    fields::name(&n.given.join(" "), "the given names"),
                ),
            )
        }
        None => {
            c.fail(
                &format!("{path}.name"),
                "the patient has no name; a family name and given names are needed".into(),
            );
            (None, None)
        }
    };

    let dob = c.check(
        &format!("{path}.birthDate"),
        fields::date_of_birth(p.birth_date.as_deref().unwrap_or(""), today),
    );
    let sex = c.check(&format!("{path}.gender"), gender(p.gender.as_deref()));

    let telecom = |system: &str| {
        p.telecom
            .iter()
            .position(|t| t.system.as_deref() == Some(system))
            .map(|k| (k, p.telecom[k].value.as_deref().unwrap_or("")))
    };
    let phone = match telecom("phone") {
        Some((k, v)) => c.check(&format!("{path}.telecom[{k}].value"), fields::phone(v)),
        None => Some(String::new()),
    };
    let email = match telecom("email") {
        Some((k, v)) => c.check(&format!("{path}.telecom[{k}].value"), fields::email(v)),
        None => Some(String::new()),
    };

    let address = pick_address(&p.address);
    let addr_field = |field: &str, get: fn(&AddressIn) -> Option<&str>| match address {
        Some(k) => (
            format!("{path}.address[{k}].{field}"),
            get(&p.address[k]).unwrap_or("").to_string(),
        ),
        None => (format!("{path}.address"), String::new()),
    };
    let street = {
        let (at, v) = match address {
            Some(k) => (
                format!("{path}.address[{k}].line"),
                p.address[k].line.join(", "),
            ),
            None => (format!("{path}.address"), String::new()),
        };
        c.check(&at, fields::text(&v, "the street"))
    };
    let (at, v) = addr_field("city", |a| a.city.as_deref());
    let city = c.check(&at, fields::text(&v, "the city"));
    let (at, v) = addr_field("state", |a| a.state.as_deref());
    let province = c.check(&at, fields::text(&v, "the province"));
    let (at, v) = addr_field("postalCode", |a| a.postal_code.as_deref());
    let postal_code = c.check(&at, fields::postal_code(&v));

    let ext = |url: &str| {
        p.extension
            .iter()
            .position(|e| e.url.as_deref() == Some(url))
            .map(|k| (format!("{path}.extension[{k}]"), &p.extension[k]))
    };
    let community = match ext(COMMUNITY_EXTENSION) {
        Some((at, e)) => c.check(
            &format!("{at}.valueString"),
            fields::text(e.value_string.as_deref().unwrap_or(""), "the community"),
        ),
        None => {
            let (at, v) = addr_field("district", |a| a.district.as_deref());
            c.check(&at, fields::text(&v, "the community"))
        }
    };
    let last_visit = match ext(LAST_VISIT_EXTENSION) {
        Some((at, e)) => c.check(
            &format!("{at}.valueDate"),
            fields::last_visit(e.value_date.as_deref().unwrap_or(""), today, dob),
        ),
        None => Some(None),
    };
    let patient_status = match ext(STATUS_EXTENSION) {
        Some((at, e)) => c.check(
            &format!("{at}.valueString"),
            validate::status(e.value_string.as_deref().unwrap_or(""), status),
        ),
        None if p.active == Some(false) => Some(PatientStatus::Inactive),
        None => Some(PatientStatus::Active),
    };
    let mrp_confirmed = match ext(MRP_CONFIRMED_EXTENSION) {
        Some((at, e)) => c.check(
            &format!("{at}.valueBoolean"),
            e.value_boolean
                .ok_or_else(|| "must be true or false".to_string()),
        ),
        None => Some(false),
    };

    if c.failed() {
        return None;
    }
    Some(ImportRow {
        details: fields::DetailParts {
            phn,
            family_name,
            given_names,
            date_of_birth: dob,
            sex,
            phone,
            email,
            street,
            city,
            province,
            postal_code,
            community,
            last_visit,
        }
        .assemble()?,
        status: patient_status?,
        mrp_confirmed: mrp_confirmed?,
    })
}

/// The PHN from the identifiers; several PHN identifiers must agree.
fn read_phn(p: &PatientIn, path: &str, c: &mut RowCheck<'_>) -> Option<attach_domain::Phn> {
    let mut found: Option<attach_domain::Phn> = None;
    let mut any = false;
    let mut ok = true;
    for (k, id) in p.identifier.iter().enumerate() {
        if !matches!(id.system.as_deref(), Some(PHN_SYSTEM | PHN_OID_SYSTEM)) {
            continue;
        }
        any = true;
        let at = format!("{path}.identifier[{k}].value");
        match c.check(&at, fields::phn(id.value.as_deref().unwrap_or(""))) {
            Some(phn) => match found {
                Some(prev) if prev != phn => {
                    c.fail(
                        &at,
                        "the patient has two different PHNs; keep only the right one".into(),
                    );
                    ok = false;
                }
                _ => found = Some(phn),
            },
            None => ok = false,
        }
    }
    if !any {
        c.fail(
            &format!("{path}.identifier"),
            format!("the patient has no BC PHN; add an identifier with system {PHN_SYSTEM}"),
        );
    }
    if ok { found } else { None }
}

fn gender(g: Option<&str>) -> Result<Sex, String> {
    match g {
        Some("female") => Ok(Sex::Female),
        Some("male") => Ok(Sex::Male),
        Some("other") => Ok(Sex::X),
        Some("unknown") => Ok(Sex::Unknown),
        None => Err("sex (gender) is missing; use female, male, other or unknown".into()),
        Some(_) => Err("gender must be female, male, other or unknown".into()),
    }
}

/// The official name, else the usual one, else the first current one, else the first.
fn pick_name(names: &[HumanNameIn]) -> Option<usize> {
    let by_use = |u: &str| names.iter().position(|n| n.use_.as_deref() == Some(u));
    by_use("official")
        .or_else(|| by_use("usual"))
        .or_else(|| {
            names
                .iter()
                .position(|n| !matches!(n.use_.as_deref(), Some("old" | "maiden" | "anonymous")))
        })
        .or(if names.is_empty() { None } else { Some(0) })
}

/// The home address, else the first that is not old.
fn pick_address(addresses: &[AddressIn]) -> Option<usize> {
    addresses
        .iter()
        .position(|a| a.use_.as_deref() == Some("home"))
        .or_else(|| {
            addresses
                .iter()
                .position(|a| a.use_.as_deref() != Some("old"))
        })
}

// ---------------------------------------------------------------------------
// Wire types written on export. Empty strings and lists are left out: FHIR forbids them.
// ---------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BundleOut {
    resource_type: &'static str,
    id: String,
    #[serde(rename = "type")]
    type_: &'static str,
    timestamp: String,
    entry: Vec<EntryOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryOut {
    full_url: String,
    resource: ResourceOut,
}

#[derive(Serialize)]
#[serde(tag = "resourceType")]
enum ResourceOut {
    Organization(OrganizationOut),
    Location(LocationOut),
    Practitioner(PractitionerOut),
    PractitionerRole(PractitionerRoleOut),
    Group(GroupOut),
    Patient(PatientOut),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrganizationOut {
    id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identifier: Vec<IdentifierOut>,
    active: bool,
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    telecom: Vec<ContactPointOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    address: Vec<AddressOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LocationOut {
    id: String,
    status: &'static str,
    name: String,
    mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    telecom: Vec<ContactPointOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<AddressOut>,
    managing_organization: ReferenceOut,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PractitionerOut {
    id: String,
    identifier: Vec<IdentifierOut>,
    active: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    name: Vec<HumanNameOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PractitionerRoleOut {
    id: String,
    active: bool,
    practitioner: ReferenceOut,
    organization: ReferenceOut,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    code: Vec<CodeableConceptOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    location: Vec<ReferenceOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupOut {
    id: String,
    active: bool,
    #[serde(rename = "type")]
    type_: &'static str,
    actual: bool,
    name: String,
    quantity: usize,
    managing_entity: ReferenceOut,
    characteristic: Vec<CharacteristicOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    member: Vec<MemberOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CharacteristicOut {
    code: CodeableConceptOut,
    value_reference: ReferenceOut,
    exclude: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberOut {
    entity: ReferenceOut,
    period: PeriodOut,
    inactive: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PatientOut {
    id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extension: Vec<ExtensionOut>,
    identifier: Vec<IdentifierOut>,
    active: bool,
    name: Vec<HumanNameOut>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    telecom: Vec<ContactPointOut>,
    gender: &'static str,
    birth_date: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    address: Vec<AddressOut>,
    general_practitioner: Vec<ReferenceOut>,
}

#[derive(Serialize)]
struct IdentifierOut {
    system: &'static str,
    value: String,
}

#[derive(Serialize)]
struct ContactPointOut {
    system: &'static str,
    value: String,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    use_: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddressOut {
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    use_: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    line: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postal_code: Option<String>,
}

#[derive(Serialize)]
struct HumanNameOut {
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    use_: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    given: Vec<String>,
}

#[derive(Serialize)]
struct ReferenceOut {
    reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<String>,
}

#[derive(Serialize)]
struct CodeableConceptOut {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    coding: Vec<CodingOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

#[derive(Serialize)]
struct CodingOut {
    system: &'static str,
    code: &'static str,
    display: &'static str,
}

#[derive(Serialize)]
struct PeriodOut {
    start: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtensionOut {
    url: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_boolean: Option<bool>,
}

fn urn(u: Uuid) -> String {
    format!("urn:uuid:{u}")
}

fn reference(u: Uuid, display: &str) -> ReferenceOut {
    ReferenceOut {
        reference: urn(u),
        display: non_empty(display),
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// A stable id for a resource that has no id of its own in Attach (version-8 UUID
/// from a SHA-256 of its parts), so the same export gives the same ids.
fn derived_uuid(kind: &str, parts: &[&[u8]]) -> Uuid {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn address_out(a: &Address, use_: Option<&'static str>) -> Option<AddressOut> {
    let out = AddressOut {
        use_,
        line: non_empty(&a.street).into_iter().collect(),
        city: non_empty(&a.city),
        state: non_empty(&a.province),
        postal_code: non_empty(&a.postal_code),
    };
    let empty = out.line.is_empty()
        && out.city.is_none()
        && out.state.is_none()
        && out.postal_code.is_none();
    (!empty).then_some(out)
}

fn contact_point(
    system: &'static str,
    value: &str,
    use_: Option<&'static str>,
) -> Option<ContactPointOut> {
    non_empty(value).map(|value| ContactPointOut {
        system,
        value,
        use_,
    })
}

fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_date(t.date()),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// (Attach role code, display, HL7 practitioner-role code) for a clinic role.
fn role_codes(
    role: Role,
) -> (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
) {
    match role {
        Role::Director => ("director", "Clinic director", None),
        Role::Physician => ("physician", "Physician", Some(("doctor", "Doctor"))),
        Role::NursePractitioner => (
            "nurse_practitioner",
            "Nurse practitioner",
            Some(("nurse", "Nurse")),
        ),
        Role::MedicalOfficeAssistant => {
            ("medical_office_assistant", "Medical office assistant", None)
        }
        Role::OtherStaff => ("other_staff", "Other staff", None),
    }
}

/// A FHIR R4 `collection` Bundle of one provider's panel at one clinic (see the module
/// documentation). Patients taken off the panel are left out. Clinic-defined statuses
/// are written by name from `clinic.statuses` (a status missing there is written as
/// its id, so a re-import refuses it rather than silently making the patient active).
pub fn panel_bundle(
    clinic: &Clinic,
    provider: UserId,
    provider_name: &str,
    entries: &[PanelEntry],
    now: OffsetDateTime,
) -> Value {
    let org_id = clinic.id.as_uuid();
    let practitioner_id = provider.as_uuid();
    let role_id = derived_uuid(
        "PractitionerRole",
        &[org_id.as_bytes(), practitioner_id.as_bytes()],
    );
    let group_id = derived_uuid("Group", &[org_id.as_bytes(), practitioner_id.as_bytes()]);
    let p = &clinic.profile;
    let mut out = Vec::with_capacity(entries.len() + clinic.locations.len() + 4);

    out.push(EntryOut {
        full_url: urn(org_id),
        resource: ResourceOut::Organization(OrganizationOut {
            id: org_id.to_string(),
            identifier: non_empty(&p.facility_number)
                .map(|value| IdentifierOut {
                    system: FACILITY_NUMBER_SYSTEM,
                    value,
                })
                .into_iter()
                .collect(),
            active: true,
            name: p.name.clone(),
            telecom: [
                contact_point("phone", &p.phone, Some("work")),
                contact_point("fax", &p.fax, Some("work")),
            ]
            .into_iter()
            .flatten()
            .collect(),
            address: address_out(&p.address, Some("work")).into_iter().collect(),
        }),
    });

    for loc in clinic.locations.values() {
        let id = loc.id.as_uuid();
        out.push(EntryOut {
            full_url: urn(id),
            resource: ResourceOut::Location(LocationOut {
                id: id.to_string(),
                status: if loc.retired { "inactive" } else { "active" },
                name: loc.name.clone(),
                mode: "instance",
                telecom: contact_point("phone", &loc.phone, Some("work"))
                    .into_iter()
                    .collect(),
                address: address_out(&loc.address, Some("work")),
                managing_organization: reference(org_id, &p.name),
            }),
        });
    }

    out.push(EntryOut {
        full_url: urn(practitioner_id),
        resource: ResourceOut::Practitioner(PractitionerOut {
            id: practitioner_id.to_string(),
            identifier: vec![IdentifierOut {
                system: USER_ID_SYSTEM,
                value: practitioner_id.to_string(),
            }],
            active: true,
            name: non_empty(provider_name)
                .map(|text| HumanNameOut {
                    use_: Some("official"),
                    text: Some(text),
                    family: None,
                    given: Vec::new(),
                })
                .into_iter()
                .collect(),
        }),
    });

    let membership = clinic.members.get(&provider);
    let code = membership
        .map(|m| {
            let (code, display, hl7) = role_codes(m.role);
            let mut coding = vec![CodingOut {
                system: CLINIC_ROLE_SYSTEM,
                code,
                display,
            }];
            if let Some((code, display)) = hl7 {
                coding.push(CodingOut {
                    system: HL7_PRACTITIONER_ROLE,
                    code,
                    display,
                });
            }
            CodeableConceptOut {
                coding,
                text: Some(display.to_string()),
            }
        })
        .into_iter()
        .collect();
    out.push(EntryOut {
        full_url: urn(role_id),
        resource: ResourceOut::PractitionerRole(PractitionerRoleOut {
            id: role_id.to_string(),
            active: membership.is_some_and(|m| m.state == MemberState::Active),
            practitioner: reference(practitioner_id, provider_name),
            organization: reference(org_id, &p.name),
            code,
            location: clinic
                .locations
                .values()
                .filter(|l| !l.retired)
                .map(|l| reference(l.id.as_uuid(), &l.name))
                .collect(),
        }),
    });

    let current: Vec<&PanelEntry> = entries.iter().filter(|e| e.removed.is_none()).collect();
    out.push(EntryOut {
        full_url: urn(group_id),
        resource: ResourceOut::Group(GroupOut {
            id: group_id.to_string(),
            active: true,
            type_: "person",
            actual: true,
            name: match non_empty(provider_name) {
                Some(n) => format!("Panel of {n}"),
                None => "Panel".to_string(),
            },
            quantity: current.len(),
            managing_entity: reference(practitioner_id, provider_name),
            characteristic: vec![CharacteristicOut {
                code: CodeableConceptOut {
                    coding: vec![CodingOut {
                        system: PANEL_CHARACTERISTIC_SYSTEM,
                        code: "panel-of",
                        display: "Panel of",
                    }],
                    text: Some("panel of".to_string()),
                },
                value_reference: reference(practitioner_id, provider_name),
                exclude: false,
            }],
            member: current
                .iter()
                .map(|e| MemberOut {
                    entity: reference(e.id.as_uuid(), ""),
                    period: PeriodOut {
                        start: format_date(e.added_at.to_offset(UtcOffset::UTC).date()),
                    },
                    inactive: e.status != PatientStatus::Active,
                })
                .collect(),
        }),
    });

    for e in &current {
        out.push(EntryOut {
            full_url: urn(e.id.as_uuid()),
            resource: ResourceOut::Patient(patient_out(clinic, practitioner_id, provider_name, e)),
        });
    }

    let bundle = BundleOut {
        resource_type: "Bundle",
        id: derived_uuid(
            "Bundle",
            &[
                org_id.as_bytes(),
                practitioner_id.as_bytes(),
                &now.unix_timestamp_nanos().to_be_bytes(),
            ],
        )
        .to_string(),
        type_: "collection",
        timestamp: timestamp(now),
        entry: out,
    };
    // These wire types have only string keys and infallible Serialize impls, so turning
    // them into a `Value` cannot fail.
    serde_json::to_value(&bundle).unwrap_or(Value::Null)
}

fn patient_out(
    clinic: &Clinic,
    practitioner_id: Uuid,
    provider_name: &str,
    e: &PanelEntry,
) -> PatientOut {
    let d = &e.details;
    let mut extension = Vec::new();
    if let Some(community) = non_empty(&d.community) {
        extension.push(ExtensionOut {
            url: COMMUNITY_EXTENSION,
            value_string: Some(community),
            value_date: None,
            value_boolean: None,
        });
    }
    if let Some(v) = d.last_visit {
        extension.push(ExtensionOut {
            url: LAST_VISIT_EXTENSION,
            value_string: None,
            value_date: Some(format_date(v)),
            value_boolean: None,
        });
    }
    let status_name = match e.status {
        PatientStatus::Active => None,
        PatientStatus::Inactive => Some("inactive".to_string()),
        PatientStatus::Custom(id) => Some(
            clinic
                .statuses
                .get(&id)
                .map_or_else(|| id.to_string(), |s| s.name.clone()),
        ),
    };
    if let Some(name) = status_name {
        extension.push(ExtensionOut {
            url: STATUS_EXTENSION,
            value_string: Some(name),
            value_date: None,
            value_boolean: None,
        });
    }
    if e.mrp.is_some() {
        extension.push(ExtensionOut {
            url: MRP_CONFIRMED_EXTENSION,
            value_string: None,
            value_date: None,
            value_boolean: Some(true),
        });
    }
    PatientOut {
        id: e.id.as_uuid().to_string(),
        extension,
        identifier: vec![IdentifierOut {
            system: PHN_SYSTEM,
            value: d.phn.to_string(),
        }],
        active: e.status != PatientStatus::Inactive,
        name: vec![HumanNameOut {
            use_: Some("official"),
            text: None,
            family: non_empty(&d.family_name),
            given: d
                .given_names
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        }],
        telecom: [
            contact_point("phone", &d.contact.phone, Some("home")),
            contact_point("email", &d.contact.email, None),
        ]
        .into_iter()
        .flatten()
        .collect(),
        gender: match d.sex {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::X => "other",
            Sex::Unknown => "unknown",
        },
        birth_date: format_date(d.date_of_birth),
        address: address_out(&d.contact.address, Some("home"))
            .into_iter()
            .collect(),
        general_practitioner: vec![reference(practitioner_id, provider_name)],
    }
}
