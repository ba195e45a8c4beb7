//! The clinic's written panel-management protocol: the workbook's fillable sections (how the
//! team reviews active and inactive patients, confirms MRP, keeps registries…), saved section
//! by section in the clinic's `clinic/<c>/protocol` document, with every version in its
//! history (who changed which section, when). The printed protocol also carries what Attach
//! already holds: the status definitions and rules, and the recurring review tasks.

use time::OffsetDateTime;
use tracing::info;

use attach_domain::{ClinicId, UserId};
use attach_schema::work::{KIND_PROTOCOL, read_items, write_item};
use serde::{Deserialize, Serialize};

use super::history::ChangeKind;
use super::registry::HistoryView;
use super::{App, AppError};

/// Longest text of one section.
pub const MAX_SECTION: usize = 10_000;

/// The sections, in the order of the printed protocol: key, title, what to write.
pub const PROTOCOL_SECTIONS: [(&str, &str, &str); 6] = [
    (
        "team",
        "Team and roles",
        "Who takes part in panel management (providers, MOAs, nurses) and what each does.",
    ),
    (
        "active-review",
        "Reviewing active patients",
        "Who reviews the active patients' list, how often, and how they are reminded.",
    ),
    (
        "inactive-review",
        "Reviewing inactive patients",
        "When a patient becomes inactive, who reviews the list, and what is done (contact, remove, keep).",
    ),
    (
        "mrp",
        "Confirming the most responsible provider",
        "How the patient's and the provider's confirmation is asked for and recorded, and how often again.",
    ),
    (
        "msp",
        "Reconciling with MSP",
        "How often the MSP panel list is compared, by whom, and how differences are settled.",
    ),
    (
        "registries",
        "Registries and recalls",
        "Which conditions the clinic keeps registries for, how they are coded, and how recalls are run.",
    ),
];

/// One section's text as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolText {
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: UserId,
}

/// A section of the protocol, with its saved text (if any).
#[derive(Debug, Clone)]
pub struct ProtocolSection {
    pub key: &'static str,
    pub title: &'static str,
    pub hint: &'static str,
    pub saved: Option<ProtocolText>,
}

impl App {
    /// The clinic's protocol, every section (any active member may read it).
    pub fn protocol(
        &self,
        who: UserId,
        clinic: ClinicId,
    ) -> Result<Vec<ProtocolSection>, AppError> {
        self.member_clinic(who, clinic)?;
        let id = attach_schema::ids::protocol_doc_id(clinic);
        let mut saved: std::collections::BTreeMap<String, ProtocolText> = self
            .store()
            .read(&id, |doc| read_items(doc, KIND_PROTOCOL))?
            .transpose()?
            .unwrap_or_default();
        Ok(PROTOCOL_SECTIONS
            .iter()
            .map(|(key, title, hint)| ProtocolSection {
                key,
                title,
                hint,
                saved: saved.remove(*key),
            })
            .collect())
    }

    /// Saves one section (account managers). Saving the text already there changes nothing.
    pub fn set_protocol_section(
        &self,
        who: UserId,
        clinic: ClinicId,
        key: &str,
        text: &str,
    ) -> Result<(), AppError> {
        let c = self.member_clinic(who, clinic)?;
        super::registry::require_manager(&c, who)?;
        let Some((key, _, _)) = PROTOCOL_SECTIONS.iter().find(|(k, _, _)| *k == key) else {
            return Err(AppError::invalid(
                "section",
                "no such section of the protocol",
            ));
        };
        let text = text.trim();
        if text.chars().count() > MAX_SECTION {
            return Err(AppError::invalid(
                *key,
                format!("at most {MAX_SECTION} characters"),
            ));
        }
        let current = self
            .protocol(who, clinic)?
            .into_iter()
            .find(|s| s.key == *key)
            .and_then(|s| s.saved);
        if current.as_ref().map_or(text.is_empty(), |c| c.text == text) {
            return Ok(());
        }
        let value = ProtocolText {
            text: text.to_owned(),
            at: self.now(),
            by: who,
        };
        let id = attach_schema::ids::protocol_doc_id(clinic);
        let message = ChangeKind::Other(format!("save protocol section {key}")).to_string();
        self.store().change(&id, who.0, &message, |tx| {
            write_item(tx, KIND_PROTOCOL, key, Some(&value)).map_err(AppError::from)
        })?;
        info!(clinic = %clinic, section = *key, "protocol section saved");
        Ok(())
    }

    /// Every saved version of the protocol: who changed which section, when, newest last.
    pub fn protocol_history(
        &self,
        who: UserId,
        clinic: ClinicId,
    ) -> Result<Vec<HistoryView>, AppError> {
        self.member_clinic(who, clinic)?;
        let id = attach_schema::ids::protocol_doc_id(clinic);
        let items = self.store().history(&id)?;
        Ok(self.history_views(items.into_iter()))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::ManualClock;
    use crate::tests::seeded_with;

    #[test]
    fn sections_are_saved_by_managers_and_every_version_is_in_the_history() {
        let (r, ids) = seeded_with(&ManualClock::new(datetime!(2026-11-02 09:00 UTC)), 10);
        let app = &r.app;
        assert!(
            app.protocol(ids.patel, ids.clinic)
                .unwrap()
                .iter()
                .all(|s| s.saved.is_none())
        );
        let err = app
            .set_protocol_section(ids.patel, ids.clinic, "mrp", "Asked at every visit.")
            .expect_err("a physician who is not a manager");
        assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
        app.set_protocol_section(ids.director, ids.clinic, "mrp", "Asked at every visit.")
            .unwrap();
        app.set_protocol_section(
            ids.moa,
            ids.clinic,
            "mrp",
            "Asked at every visit and by letter.",
        )
        .unwrap();
        // The same text again makes no new version.
        app.set_protocol_section(
            ids.moa,
            ids.clinic,
            "mrp",
            "Asked at every visit and by letter.",
        )
        .unwrap();
        let mrp = app
            .protocol(ids.nguyen, ids.clinic)
            .unwrap()
            .into_iter()
            .find(|s| s.key == "mrp")
            .unwrap();
        let saved = mrp.saved.expect("saved");
        assert_eq!(saved.text, "Asked at every visit and by letter.");
        assert_eq!(saved.by, ids.moa);
        let history = app.protocol_history(ids.nguyen, ids.clinic).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].user, Some(ids.director));
        assert_eq!(history[1].message, "save protocol section mrp");
        assert!(matches!(
            app.set_protocol_section(ids.director, ids.clinic, "nonsense", "x"),
            Err(AppError::Invalid { .. })
        ));
    }
}
