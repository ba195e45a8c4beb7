//! The Attach sync engine. It knows documents, changes and peers; it knows nothing of
//! clinics, patients or HTTP.
//!
//! - [`wire`]: the frame format and its decoder (never panics on hostile input).
//! - [`session`]: one sync session with a peer over any byte stream.
//! - [`replica`]: what the engine needs from the store it runs on, and the per-peer policy.
//! - [`pki`]: the hub's certificate authority, peer identities, enrolment codes.
//! - [`tls`]: rustls configurations for hub, node and LAN peers (mutual TLS).
//! - [`discovery`]: LAN peers of the same clinic over mDNS (`_attach._tcp.local.`).
//! - [`backoff`]: retry timing for a node that is often offline.

pub mod backoff;
pub mod discovery;
pub mod pki;
pub mod replica;
pub mod session;
pub mod tls;
pub mod wire;

pub use discovery::{Advert, Discovery, DiscoveryError, LanPeer};
pub use pki::{Credentials, EnrolmentCode, HubCa, NodeKey, PeerRole};
pub use replica::{ApplyError, Delta, NodeId, Policy, Replica, ReplicaError, merge_heads};
pub use session::{Progress, ProgressState, Session, SessionConfig, StoreCalls, SyncError};
