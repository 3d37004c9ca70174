//! wes-difftest's tests, in one binary: the harness sees real differences (`detect`), and the
//! generated corpus shows none between the standard engines (`corpus`).
#![allow(clippy::panic, clippy::unwrap_used, reason = "helpers fail a test by panicking, like assertions do")]

mod branches;
mod corpus;
mod detect;
mod gate;
mod nan;
mod unwind;
