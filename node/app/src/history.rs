//! What a change in a clinic's or a patient entry's history was, parsed once from its
//! commit message.
//!
//! The messages are stored data: every change the app makes to a clinic or an entry
//! document is committed with a [`ChangeKind`]'s `Display` text, and [`ChangeKind::parse`]
//! reads it back, so history filters match on the kind instead of on text. Messages this
//! version does not write (older versions', other documents') stay [`ChangeKind::Other`].

use std::fmt;

use attach_domain::{DelegationId, LocationId, StatusId, UserId};

use crate::conflicts::ConflictKey;
use crate::registry::MemberAction;

/// One change to a clinic document or a patient entry document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    // The clinic document.
    CreateClinic,
    UpdateClinicProfile,
    SaveLocation(LocationId),
    /// An account manager added a person directly.
    AddMember(UserId),
    /// Someone asked to join.
    RequestMembership(UserId),
    /// An account manager approved, declined, activated or deactivated a membership.
    Member(MemberAction, UserId),
    HandOverPrimary(UserId),
    AssignSecondary(UserId),
    ClearSecondary,
    CreateStatus(StatusId),
    UpdateStatus(StatusId),
    /// The status definitions and their rules on the last visit and age.
    SetStatusRules,
    StartDelegation(DelegationId),
    ConfirmDelegation(DelegationId),
    RevokeDelegation(DelegationId),
    /// A clash settled, on the clinic document or on patient entries.
    SettleConflict(ConflictKey),
    // A patient entry document.
    AddPatient,
    /// The fields that changed (`Some(vec![])`: saved without a change); `None` when the
    /// entry was not in the read model to compare with.
    UpdatePatient {
        fields: Option<Vec<String>>,
    },
    RemovePatient,
    ImportFhir,
    ImportCsv,
    AddPatients,
    TransferPatient,
    ReturnToWaitlist,
    /// A provider decided on an offer (and the people who said yes were attached).
    DecideOffer,
    /// A person's answer to an offer was recorded (attaching them if it completes it).
    RecordAnswer,
    UndoDoubleAttachment,
    /// Any other message, kept whole.
    Other(String),
}

impl ChangeKind {
    /// Reads a commit message; what it does not recognise is [`ChangeKind::Other`].
    pub fn parse(message: &str) -> Self {
        Self::known(message).unwrap_or_else(|| Self::Other(message.to_owned()))
    }

    fn known(m: &str) -> Option<Self> {
        let exact = match m {
            "create clinic" => Some(Self::CreateClinic),
            "update clinic profile" => Some(Self::UpdateClinicProfile),
            "clear secondary" => Some(Self::ClearSecondary),
            "set status rules" => Some(Self::SetStatusRules),
            "add patient" => Some(Self::AddPatient),
            "update patient" => Some(Self::UpdatePatient { fields: None }),
            "update patient (no change)" => Some(Self::UpdatePatient {
                fields: Some(Vec::new()),
            }),
            "remove patient" => Some(Self::RemovePatient),
            "import FHIR bundle" => Some(Self::ImportFhir),
            "import CSV" => Some(Self::ImportCsv),
            "add patients" => Some(Self::AddPatients),
            "transfer patient" => Some(Self::TransferPatient),
            "return patient to the waitlist" => Some(Self::ReturnToWaitlist),
            "decide offer" => Some(Self::DecideOffer),
            "record answer" => Some(Self::RecordAnswer),
            "undo double attachment" => Some(Self::UndoDoubleAttachment),
            _ => None,
        };
        if exact.is_some() {
            return exact;
        }
        if let Some(fields) = m.strip_prefix("update patient: ") {
            let fields = fields.split(", ").map(str::to_owned).collect();
            return Some(Self::UpdatePatient {
                fields: Some(fields),
            });
        }
        if let Some(key) = m.strip_prefix("settle conflict ") {
            return key.parse().ok().map(Self::SettleConflict);
        }
        // The rest name one id, last.
        let (what, id) = m.rsplit_once(' ')?;
        let member = |action| id.parse().ok().map(|u| Self::Member(action, u));
        match what {
            "save location" => id.parse().ok().map(Self::SaveLocation),
            "add member" => id.parse().ok().map(Self::AddMember),
            "request membership" => id.parse().ok().map(Self::RequestMembership),
            "approve member" => member(MemberAction::Approve),
            "decline member" => member(MemberAction::Decline),
            "activate member" => member(MemberAction::Activate),
            "deactivate member" => member(MemberAction::Deactivate),
            "hand over primary to" => id.parse().ok().map(Self::HandOverPrimary),
            "assign secondary" => id.parse().ok().map(Self::AssignSecondary),
            "create patient status" => id.parse().ok().map(Self::CreateStatus),
            "update patient status" => id.parse().ok().map(Self::UpdateStatus),
            "start delegation" => id.parse().ok().map(Self::StartDelegation),
            "confirm delegation" => id.parse().ok().map(Self::ConfirmDelegation),
            "revoke delegation" => id.parse().ok().map(Self::RevokeDelegation),
            _ => None,
        }
    }

    /// The member a change to the clinic document is about, if it names one.
    pub fn member(&self) -> Option<UserId> {
        match self {
            Self::AddMember(u)
            | Self::RequestMembership(u)
            | Self::Member(_, u)
            | Self::HandOverPrimary(u)
            | Self::AssignSecondary(u) => Some(*u),
            Self::SettleConflict(ConflictKey::Member { member, .. }) => Some(*member),
            _ => None,
        }
    }

    /// A change to the clinic's details (profile, locations, patient statuses,
    /// delegations), not to its people.
    pub fn is_clinic_detail(&self) -> bool {
        matches!(
            self,
            Self::CreateClinic
                | Self::UpdateClinicProfile
                | Self::SaveLocation(_)
                | Self::CreateStatus(_)
                | Self::UpdateStatus(_)
                | Self::SetStatusRules
                | Self::StartDelegation(_)
                | Self::ConfirmDelegation(_)
                | Self::RevokeDelegation(_)
        )
    }

    /// The patient status a change created or edited.
    pub fn status(&self) -> Option<StatusId> {
        match self {
            Self::CreateStatus(s) | Self::UpdateStatus(s) => Some(*s),
            _ => None,
        }
    }

    /// The fields an update of a patient entry changed (none when it was not one).
    pub fn changed_fields(&self) -> &[String] {
        match self {
            Self::UpdatePatient {
                fields: Some(fields),
            } => fields,
            _ => &[],
        }
    }
}

/// The commit message, exactly as the documents store it.
impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreateClinic => f.write_str("create clinic"),
            Self::UpdateClinicProfile => f.write_str("update clinic profile"),
            Self::SaveLocation(l) => write!(f, "save location {l}"),
            Self::AddMember(u) => write!(f, "add member {u}"),
            Self::RequestMembership(u) => write!(f, "request membership {u}"),
            Self::Member(action, u) => {
                let verb = match action {
                    MemberAction::Approve => "approve",
                    MemberAction::Decline => "decline",
                    MemberAction::Activate => "activate",
                    MemberAction::Deactivate => "deactivate",
                };
                write!(f, "{verb} member {u}")
            }
            Self::HandOverPrimary(u) => write!(f, "hand over primary to {u}"),
            Self::AssignSecondary(u) => write!(f, "assign secondary {u}"),
            Self::ClearSecondary => f.write_str("clear secondary"),
            Self::SetStatusRules => f.write_str("set status rules"),
            Self::CreateStatus(s) => write!(f, "create patient status {s}"),
            Self::UpdateStatus(s) => write!(f, "update patient status {s}"),
            Self::StartDelegation(d) => write!(f, "start delegation {d}"),
            Self::ConfirmDelegation(d) => write!(f, "confirm delegation {d}"),
            Self::RevokeDelegation(d) => write!(f, "revoke delegation {d}"),
            Self::SettleConflict(key) => write!(f, "settle conflict {key}"),
            Self::AddPatient => f.write_str("add patient"),
            Self::UpdatePatient { fields: None } => f.write_str("update patient"),
            Self::UpdatePatient {
                fields: Some(fields),
            } if fields.is_empty() => f.write_str("update patient (no change)"),
            Self::UpdatePatient {
                fields: Some(fields),
            } => write!(f, "update patient: {}", fields.join(", ")),
            Self::RemovePatient => f.write_str("remove patient"),
            Self::ImportFhir => f.write_str("import FHIR bundle"),
            Self::ImportCsv => f.write_str("import CSV"),
            Self::AddPatients => f.write_str("add patients"),
            Self::TransferPatient => f.write_str("transfer patient"),
            Self::ReturnToWaitlist => f.write_str("return patient to the waitlist"),
            Self::DecideOffer => f.write_str("decide offer"),
            Self::RecordAnswer => f.write_str("record answer"),
            Self::UndoDoubleAttachment => f.write_str("undo double attachment"),
            Self::Other(message) => f.write_str(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use attach_domain::EntryId;
    use uuid::Uuid;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Every kind the app writes, with the exact message the documents store: the text is
    /// stored data and must not drift.
    fn every_kind() -> Vec<(ChangeKind, String)> {
        let (u, l, s, d) = (
            UserId(id(1)),
            LocationId(id(2)),
            StatusId(id(3)),
            DelegationId(id(4)),
        );
        let (e1, e2) = (EntryId(id(5)), EntryId(id(6)));
        use ChangeKind as K;
        vec![
            (K::CreateClinic, "create clinic".to_owned()),
            (K::UpdateClinicProfile, "update clinic profile".to_owned()),
            (K::SaveLocation(l), format!("save location {l}")),
            (K::AddMember(u), format!("add member {u}")),
            (K::RequestMembership(u), format!("request membership {u}")),
            (
                K::Member(MemberAction::Approve, u),
                format!("approve member {u}"),
            ),
            (
                K::Member(MemberAction::Decline, u),
                format!("decline member {u}"),
            ),
            (
                K::Member(MemberAction::Activate, u),
                format!("activate member {u}"),
            ),
            (
                K::Member(MemberAction::Deactivate, u),
                format!("deactivate member {u}"),
            ),
            (K::HandOverPrimary(u), format!("hand over primary to {u}")),
            (K::AssignSecondary(u), format!("assign secondary {u}")),
            (K::ClearSecondary, "clear secondary".to_owned()),
            (K::SetStatusRules, "set status rules".to_owned()),
            (K::CreateStatus(s), format!("create patient status {s}")),
            (K::UpdateStatus(s), format!("update patient status {s}")),
            (K::StartDelegation(d), format!("start delegation {d}")),
            (K::ConfirmDelegation(d), format!("confirm delegation {d}")),
            (K::RevokeDelegation(d), format!("revoke delegation {d}")),
            (
                K::SettleConflict(ConflictKey::Primary),
                "settle conflict primary".to_owned(),
            ),
            (
                K::SettleConflict(ConflictKey::Secondary),
                "settle conflict secondary".to_owned(),
            ),
            (
                K::SettleConflict(ConflictKey::Member {
                    member: u,
                    field: "changed_at".to_owned(),
                }),
                format!("settle conflict member:{u}:changed_at"),
            ),
            (
                K::SettleConflict(ConflictKey::Entry {
                    entry: e1,
                    field: "contact".to_owned(),
                }),
                format!("settle conflict entry:{e1}:contact"),
            ),
            (
                K::SettleConflict(ConflictKey::Panel {
                    entries: vec![e1, e2],
                }),
                format!("settle conflict panel:{e1},{e2}"),
            ),
            (K::AddPatient, "add patient".to_owned()),
            (
                K::UpdatePatient { fields: None },
                "update patient".to_owned(),
            ),
            (
                K::UpdatePatient {
                    fields: Some(Vec::new()),
                },
                "update patient (no change)".to_owned(),
            ),
            (
                K::UpdatePatient {
                    fields: Some(vec!["phone".to_owned(), "mrp confirmed".to_owned()]),
                },
                "update patient: phone, mrp confirmed".to_owned(),
            ),
            (K::RemovePatient, "remove patient".to_owned()),
            (K::ImportFhir, "import FHIR bundle".to_owned()),
            (K::ImportCsv, "import CSV".to_owned()),
            (K::AddPatients, "add patients".to_owned()),
            (K::TransferPatient, "transfer patient".to_owned()),
            (
                K::ReturnToWaitlist,
                "return patient to the waitlist".to_owned(),
            ),
            (K::DecideOffer, "decide offer".to_owned()),
            (K::RecordAnswer, "record answer".to_owned()),
            (K::UndoDoubleAttachment, "undo double attachment".to_owned()),
        ]
    }

    #[test]
    fn every_kind_writes_its_message_and_reads_it_back() {
        for (kind, message) in every_kind() {
            assert_eq!(kind.to_string(), message, "{kind:?} writes another message");
            assert_eq!(
                ChangeKind::parse(&message),
                kind,
                "{message:?} reads back wrong"
            );
        }
    }

    #[test]
    fn the_list_names_every_kind() {
        // A new variant must be added to `every_kind` (and so to the round-trip test):
        // this match stops compiling until it is handled here.
        for (kind, _) in every_kind() {
            match kind {
                ChangeKind::CreateClinic
                | ChangeKind::UpdateClinicProfile
                | ChangeKind::SaveLocation(_)
                | ChangeKind::AddMember(_)
                | ChangeKind::RequestMembership(_)
                | ChangeKind::Member(..)
                | ChangeKind::HandOverPrimary(_)
                | ChangeKind::AssignSecondary(_)
                | ChangeKind::ClearSecondary
                | ChangeKind::SetStatusRules
                | ChangeKind::CreateStatus(_)
                | ChangeKind::UpdateStatus(_)
                | ChangeKind::StartDelegation(_)
                | ChangeKind::ConfirmDelegation(_)
                | ChangeKind::RevokeDelegation(_)
                | ChangeKind::SettleConflict(_)
                | ChangeKind::AddPatient
                | ChangeKind::UpdatePatient { .. }
                | ChangeKind::RemovePatient
                | ChangeKind::ImportFhir
                | ChangeKind::ImportCsv
                | ChangeKind::AddPatients
                | ChangeKind::TransferPatient
                | ChangeKind::ReturnToWaitlist
                | ChangeKind::DecideOffer
                | ChangeKind::RecordAnswer
                | ChangeKind::UndoDoubleAttachment => {}
                ChangeKind::Other(m) => panic!("{m:?} is not a kind"),
            }
        }
    }

    #[test]
    fn other_messages_are_kept_whole() {
        for message in [
            "",
            "request account",
            "set demo password",
            "save location not-an-id",
            "settle conflict nonsense",
            "approve member",
            "update patient status",
            "create clinic again",
        ] {
            let kind = ChangeKind::parse(message);
            assert_eq!(kind, ChangeKind::Other(message.to_owned()));
            assert_eq!(kind.to_string(), message);
        }
    }

    #[test]
    fn filters_read_the_kind() {
        let u = UserId(id(1));
        let s = StatusId(id(3));
        assert_eq!(
            ChangeKind::Member(MemberAction::Approve, u).member(),
            Some(u)
        );
        assert_eq!(
            ChangeKind::parse(&format!("settle conflict member:{u}:role")).member(),
            Some(u)
        );
        assert_eq!(
            ChangeKind::StartDelegation(DelegationId(id(1))).member(),
            None
        );
        assert_eq!(ChangeKind::Other(format!("note {u}")).member(), None);
        assert!(ChangeKind::UpdateStatus(s).is_clinic_detail());
        assert!(!ChangeKind::AddMember(u).is_clinic_detail());
        assert_eq!(ChangeKind::CreateStatus(s).status(), Some(s));
        assert_eq!(
            ChangeKind::parse("update patient: status, phone").changed_fields(),
            ["status".to_owned(), "phone".to_owned()]
        );
        assert!(ChangeKind::AddPatient.changed_fields().is_empty());
    }
}
