//! Integration tests of the `wes` facade, in one binary.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "tests fail by panicking")]

mod config;
mod encoding;
mod errors;
mod execute;

use wes::{Runtime, RuntimeConfig};

/// A runtime with the default configuration.
pub(crate) fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
}
