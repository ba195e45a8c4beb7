//! Attach clinic node: the library behind the `attach` binary.

pub mod app;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod demo_data;
pub mod domain;
pub mod http;
pub mod hub_cli;
pub mod interop;
pub mod ops;
pub mod replication;
pub mod schema;
pub mod store;
pub mod web;
