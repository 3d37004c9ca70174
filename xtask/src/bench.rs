//! `cargo xtask bench`: builds and runs the benchmark harness in `benches/`, a workspace of its
//! own so that wasmtime and wasmi are compiled only here, never by the main workspace's
//! `cargo build`/`cargo test`.

use std::process::Command;

use anyhow::{Context, Result};
use clap::Args;

use crate::project_root;

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Smaller workloads and fewer samples: a few minutes once built.
    #[arg(long)]
    quick: bool,
    /// Only the workloads whose name contains this (fib, xorshift, sha256, matmul,
    /// bulk-memory, host-call, instantiate+call, loop-in-big-fn, compile, and the C workloads c-json, c-deflate,
    /// c-ed25519, c-bigint, c-sort+hashmap, c-crypto, c-compile-O2, c-compile-Oz; `c-` picks
    /// them all), or `artifact` (the compile workload loaded from the artifact cache) and
    /// `threads` (instantiate + call on two threads against one).
    #[arg(long)]
    filter: Option<String>,
    /// Also run wasmtime with explicit bounds checks (no guard region, no signal-based traps),
    /// unmetered and with fuel: what bounds checking costs the peer.
    #[arg(long)]
    explicit_peer: bool,
}

/// Runs the harness in release mode; it prints the table and, on a full unfiltered run,
/// rewrites the generated part of docs/benchmarks.md.
pub(crate) fn run(args: &BenchArgs) -> Result<bool> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["run", "--release", "--locked", "--manifest-path", "benches/Cargo.toml", "--"])
        .current_dir(project_root());
    if args.quick {
        cmd.arg("--quick");
    }
    if let Some(filter) = &args.filter {
        cmd.args(["--filter", filter]);
    }
    if args.explicit_peer {
        cmd.arg("--explicit-peer");
    }
    let status = cmd.status().context("could not start cargo for the bench harness")?;
    Ok(status.success())
}
