//! Integration tests of `wes-decode`, in one binary to keep link time down.
#![allow(clippy::panic, reason = "helpers fail a test by panicking, like assertions do")]

mod contents;
mod errors;
mod hostile;
mod limits;
mod measure;
mod shapes;
mod threads;
