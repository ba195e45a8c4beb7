//! The `attach` binary's library: the command line (`cli`, and `commands`, one module per
//! command group), the demo, and the workspace's crates under the names the tests and
//! benchmarks use (`attach::app` is `attach_app`, and so on). The crates themselves are the
//! boundaries; ARCHITECTURE.md draws them.

pub mod cli;
pub mod commands;
pub mod demo;
pub mod output;
pub mod process;

pub use attach_api as api;
pub use attach_app as app;
pub use attach_app::{config, demo_data};
pub use attach_auth as auth;
pub use attach_domain as domain;
pub use attach_interop as interop;
pub use attach_ops as ops;
pub use attach_replication as replication;
pub use attach_schema as schema;
pub use attach_server as http;
pub use attach_store as store;
pub use attach_web as web;
