//! Who may see and steer the node's sync with the provincial hub. The sync itself runs in
//! `attach_replication`; the pages and the API ask here first, like every other action.

use super::registry::require_manager;
use super::{App, AppError};
use attach_domain::{ClinicId, UserId};

impl App {
    /// Any active member of `clinic` may see how this node syncs; to anyone else the
    /// clinic is "not found".
    pub fn may_view_sync(&self, who: UserId, clinic: ClinicId) -> Result<(), AppError> {
        self.member_clinic(who, clinic).map(|_| ())
    }

    /// Enrolling the node and retrying are for the clinic's primary or secondary account
    /// manager, and only from the clinic the node syncs (a node enrols for the first
    /// clinic it holds; a second clinic on the same node cannot take it over).
    pub fn may_manage_sync(&self, who: UserId, clinic: ClinicId) -> Result<(), AppError> {
        let c = self.member_clinic(who, clinic)?;
        require_manager(&c, who)?;
        if self.clinic_ids().first() == Some(&clinic) {
            Ok(())
        } else {
            Err(AppError::conflict(
                "this node holds more than one clinic and syncs the first one only; enrol it from that clinic's sync page",
            ))
        }
    }
}

/// A hub address as the enrolment form takes it: `host:port`, e.g.
/// `hub.attach.example.ca:7443` or `192.0.2.10:7443`.
pub fn hub_address(raw: &str) -> Result<String, AppError> {
    let hub = raw.trim();
    let bad = || {
        AppError::invalid(
            "hub",
            "give the hub's address as host:port, e.g. hub.example.ca:7443 (the hub administrator gives it with the code)",
        )
    };
    let (host, port) = hub.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    if host.is_empty() || !port_ok || hub.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    Ok(hub.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_addresses_need_a_host_and_a_port() {
        assert_eq!(
            hub_address(" hub.example.ca:7443 ").unwrap(),
            "hub.example.ca:7443"
        );
        assert_eq!(hub_address("[::1]:7443").unwrap(), "[::1]:7443");
        for bad in ["", "hub.example.ca", ":7443", "hub:0", "hub:port", "a b:1"] {
            let e = hub_address(bad).unwrap_err();
            assert!(
                matches!(&e, AppError::Invalid { problems, .. } if problems[0].field == "hub"),
                "{bad}: {e:?}"
            );
        }
    }
}
