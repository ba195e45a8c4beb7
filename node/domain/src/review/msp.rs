//! MSP panel reconciliation: the panel list the provincial Medical Services Plan holds for
//! one provider, compared with that provider's panel in Attach.
//!
//! A BC clinic downloads the list from MSP and uploads it (`attach_interop::msp` reads
//! the file into [`MspPatient`]s); [`reconcile`] says who is only on MSP's list, who is
//! only in Attach, and where the two disagree about a patient on both. Each of those is
//! an open question for the clinic, named by a stable [`key`](Difference::key), so the
//! app can record the clinic's decision (accepted, dismissed) under the key and a second
//! upload of the same list shows only what is still open
//! ([`Reconciliation::retain_open`]).
//!
//! The keys hold the PHN and, for a difference, MSP's value: they are patient data, to
//! be stored with the panel and never logged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use super::sex_key;
use crate::conflict::kept_entry;
use crate::fields::clean;
use crate::ids::EntryId;
use crate::phn::Phn;
use crate::types::{PanelEntry, Sex};

/// One patient on MSP's panel list for a provider, as the MSP file gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MspPatient {
    pub phn: Phn,
    pub family_name: String,
    pub given_names: String,
    pub date_of_birth: Date,
    pub sex: Sex,
    /// MSP's date of death, when it has one.
    pub deceased: Option<Date>,
}

impl MspPatient {
    /// The key of the question "this patient is on MSP's list but not on the panel in
    /// Attach" (`only_msp:<phn>`): the same for every upload that lists the patient,
    /// whatever MSP says about their name or birth date.
    pub fn key(&self) -> String {
        format!("only_msp:{}", self.phn)
    }
}

/// A patient on the provider's panel in Attach whom MSP's list does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlyAttach {
    pub entry: EntryId,
    pub phn: Phn,
}

impl OnlyAttach {
    /// `only_attach:<phn>`: the same for every upload that leaves the patient out.
    pub fn key(&self) -> String {
        format!("only_attach:{}", self.phn)
    }
}

/// A field on which Attach and MSP disagree, in the order differences are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffField {
    FamilyName,
    GivenNames,
    DateOfBirth,
    Sex,
    /// MSP has a date of death. Attach records none (a panel entry has no such field),
    /// so a date of death on MSP is always a difference for a patient on both lists.
    Deceased,
}

impl DiffField {
    pub const ALL: [Self; 5] = [
        Self::FamilyName,
        Self::GivenNames,
        Self::DateOfBirth,
        Self::Sex,
        Self::Deceased,
    ];

    /// The field's word in keys, URLs and the API (`family_name`, `deceased`…).
    pub fn key(self) -> &'static str {
        match self {
            Self::FamilyName => "family_name",
            Self::GivenNames => "given_names",
            Self::DateOfBirth => "date_of_birth",
            Self::Sex => "sex",
            Self::Deceased => "deceased",
        }
    }

    pub fn from_key(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == raw.trim())
    }

    /// The field as a clinic worker reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::FamilyName => "family name",
            Self::GivenNames => "given names",
            Self::DateOfBirth => "date of birth",
            Self::Sex => "sex",
            Self::Deceased => "date of death",
        }
    }
}

/// One field of one patient on both lists that Attach and MSP hold differently.
///
/// `attach` and `msp` are the two values as shown to the clinic: names as written
/// (whitespace tidied), dates `YYYY-MM-DD`, sex `female`/`male`/`x`/`unknown`; `attach`
/// is empty for [`DiffField::Deceased`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub entry: EntryId,
    pub phn: Phn,
    pub field: DiffField,
    pub attach: String,
    pub msp: String,
}

impl Difference {
    /// `diff:<phn>:<field>:<msp value>`, the MSP value compared as names are (so a later
    /// list that only changes its case or spacing asks the same question). A changed MSP
    /// value is a new question, and so a new key. The value is last, so a `:` in it
    /// cannot make two keys alike.
    pub fn key(&self) -> String {
        let value = match self.field {
            DiffField::FamilyName | DiffField::GivenNames => name_key(&self.msp),
            DiffField::DateOfBirth | DiffField::Sex | DiffField::Deceased => self.msp.clone(),
        };
        format!("diff:{}:{}:{value}", self.phn, self.field.key())
    }
}

/// What comparing MSP's list with the panel found. Every list is sorted by PHN (then,
/// for differences, by field in [`DiffField`] order), so the same inputs always give the
/// same lists, whatever their order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// On MSP's list, not on the panel in Attach.
    pub only_msp: Vec<MspPatient>,
    /// On the panel in Attach, not on MSP's list.
    pub only_attach: Vec<OnlyAttach>,
    /// On both, with fields that disagree (a patient may have several).
    pub differences: Vec<Difference>,
}

impl Reconciliation {
    /// Nothing to look at: the two lists agree.
    pub fn is_empty(&self) -> bool {
        self.only_msp.is_empty() && self.only_attach.is_empty() && self.differences.is_empty()
    }

    /// Every key, in list order (only MSP, only Attach, differences).
    pub fn keys(&self) -> Vec<String> {
        self.only_msp
            .iter()
            .map(MspPatient::key)
            .chain(self.only_attach.iter().map(OnlyAttach::key))
            .chain(self.differences.iter().map(Difference::key))
            .collect()
    }

    /// Drops every item whose key the clinic has already decided, leaving the questions
    /// still open.
    pub fn retain_open(&mut self, decided: impl Fn(&str) -> bool) {
        self.only_msp.retain(|p| !decided(&p.key()));
        self.only_attach.retain(|a| !decided(&a.key()));
        self.differences.retain(|d| !decided(&d.key()));
    }
}

/// Compares MSP's panel list for a provider with that provider's panel in Attach.
///
/// `panel` is the provider's entries; one taken off the panel (`removed` set) counts as
/// not on it. Should two live entries hold one PHN (a clash a merge can make), the one
/// [`kept_entry`] keeps is compared and the other is left to the clash review. Should
/// `msp` list a PHN twice (the MSP reader refuses such a file), the first is used.
///
/// Names are compared ignoring case and spacing (surrounding and repeated whitespace),
/// not accents: "Élise" and "Elise" differ. O((m + n) log(m + n)).
pub fn reconcile(msp: &[MspPatient], panel: &[PanelEntry]) -> Reconciliation {
    let mut on_msp: BTreeMap<Phn, &MspPatient> = BTreeMap::new();
    for p in msp {
        on_msp.entry(p.phn).or_insert(p);
    }
    let mut on_panel: BTreeMap<Phn, &PanelEntry> = BTreeMap::new();
    for e in panel.iter().filter(|e| e.removed.is_none()) {
        on_panel
            .entry(e.details.phn)
            .and_modify(|kept| *kept = kept_entry([*kept, e]).unwrap_or(*kept))
            .or_insert(e);
    }

    let mut out = Reconciliation::default();
    for (phn, p) in &on_msp {
        match on_panel.get(phn) {
            None => out.only_msp.push((*p).clone()),
            Some(e) => compare(p, e, &mut out.differences),
        }
    }
    out.only_attach = on_panel
        .iter()
        .filter(|(phn, _)| !on_msp.contains_key(phn))
        .map(|(phn, e)| OnlyAttach {
            entry: e.id,
            phn: *phn,
        })
        .collect();
    // Already in order: the maps iterate by PHN and `compare` pushes fields in order.
    out
}

/// Pushes the differences between one MSP patient and their entry, in field order.
fn compare(p: &MspPatient, e: &PanelEntry, out: &mut Vec<Difference>) {
    let d = &e.details;
    let mut differ = |field: DiffField, attach: String, msp: String| {
        out.push(Difference {
            entry: e.id,
            phn: p.phn,
            field,
            attach,
            msp,
        });
    };
    if name_key(&d.family_name) != name_key(&p.family_name) {
        differ(
            DiffField::FamilyName,
            clean(&d.family_name),
            clean(&p.family_name),
        );
    }
    if name_key(&d.given_names) != name_key(&p.given_names) {
        differ(
            DiffField::GivenNames,
            clean(&d.given_names),
            clean(&p.given_names),
        );
    }
    if d.date_of_birth != p.date_of_birth {
        differ(
            DiffField::DateOfBirth,
            format_date(d.date_of_birth),
            format_date(p.date_of_birth),
        );
    }
    if d.sex != p.sex {
        differ(DiffField::Sex, sex_key(d.sex).into(), sex_key(p.sex).into());
    }
    if let Some(died) = p.deceased {
        differ(DiffField::Deceased, String::new(), format_date(died));
    }
}

/// A name as compared: whitespace runs made one space, ends trimmed, lower case (Unicode
/// case folding by `to_lowercase`; accents stay).
fn name_key(s: &str) -> String {
    clean(s).to_lowercase()
}

/// `YYYY-MM-DD`.
fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
#[path = "msp_tests.rs"]
mod tests;
