//! Integration tests of `wes-security`, in one binary to keep link time down.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "tests fail by panicking")]

mod audit;
mod permissions;
mod policy;
mod resources;
#[path = "../../../wes-decode/tests/it/shapes.rs"]
mod shapes;
mod support;
mod threats;
