//! The Attach sync engine. It knows documents, changes and peers; it knows nothing of
//! clinics, patients or HTTP.

pub mod discovery;

pub use discovery::{Advert, Discovery, DiscoveryError, LanPeer};
