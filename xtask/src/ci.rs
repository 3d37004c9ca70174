//! `cargo xtask ci`: the one command CI runs, so a developer can run exactly the same.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::project_root;

/// Runs each step in order and stops at the first that fails.
pub(crate) fn run() -> Result<bool> {
    let steps: &[(&str, &[&str])] = &[
        ("format", &["fmt", "--all", "--check"]),
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
