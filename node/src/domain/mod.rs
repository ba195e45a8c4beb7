//! Plain types and rules of the registries. No I/O, no async, no storage: everything
//! here is a pure function of its inputs, and is unit-tested exhaustively.

pub mod ids;
pub mod phn;
pub mod types;

pub use ids::*;
pub use phn::{Phn, PhnError};
pub use types::*;
