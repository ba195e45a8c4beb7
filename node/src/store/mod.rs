//! DocStore: Automerge documents persisted in sled.

pub mod actor;

pub use actor::{NodeId, actor_for, author_of};
