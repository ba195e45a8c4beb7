//! Attach clinic node: the library behind the `attach` binary.

pub mod auth;
pub mod domain;
pub mod store;
