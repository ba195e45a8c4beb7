//! The Attach sync engine. It knows documents, changes and peers; it knows nothing of
//! clinics, patients or HTTP.

pub mod pki;
pub mod tls;

pub use pki::{Credentials, EnrolmentCode, HubCa, NodeKey, PeerRole};
