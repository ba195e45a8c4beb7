//! Attach clinic node: the library behind the `attach` binary.

pub mod domain;
pub mod interop;
pub mod store;
