//! Attach clinic node: the library behind the `attach` binary.

pub mod cli;
pub mod config;
pub mod demo_data;
pub mod domain;
pub mod store;
