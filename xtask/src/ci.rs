//! `cargo xtask ci`: the one command CI runs, so a developer can run exactly the same.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::project_root;

/// Runs each step in order and stops at the first that fails.
pub(crate) fn run() -> Result<bool> {
    let steps: &[(&str, &[&str])] = &[
        ("format", &["fmt", "--all", "--check"]),
        // The bench harness is a workspace of its own (so that its peers never build here);
        // formatting it compiles nothing.
        ("format (benches)", &["fmt", "--all", "--check", "--manifest-path", "benches/Cargo.toml"]),
        ("clippy", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
        ("tests", &["test", "--workspace"]),
    ];
    for (name, args) in steps {
        step(name, args)?;
    }
    for backend in crate::spec::BACKENDS {
        step(
            &format!("spec tests ({backend})"),
            &["run", "--quiet", "--package", "xtask", "--", "spec-test", "--backend", backend],
        )?;
    }
    // The compile budget holds for optimised code, so the corpus runs from a release build.
    step("hostile corpus", &["run", "--release", "--quiet", "--package", "xtask", "--", "hostile"])?;
    println!("xtask ci: all steps passed");
    Ok(true)
}

fn step(name: &str, args: &[&str]) -> Result<()> {
    println!("==> {name}: cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(project_root())
        .status()
        .with_context(|| format!("could not start cargo for {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}
