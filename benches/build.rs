//! Builds the native reference for the real-world workloads: the same C sources the wasm modules
//! in `c/` are built from (listed in `c/sources.txt`, which `cargo xtask bench-c` reads too),
//! compiled for the host with its C compiler and linked into the harness, which checks every
//! runtime's result against them before any timing.

use std::path::Path;

fn main() {
    let dir = Path::new("c");
    let list = dir.join("sources.txt");
    println!("cargo::rerun-if-changed={}", list.display());
    let text = match std::fs::read_to_string(&list) {
        Ok(text) => text,
        Err(e) => panic!("reading {}: {e}", list.display()),
    };
    let mut build = cc::Build::new();
    build.opt_level(2).warnings(false);
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(include) = line.strip_prefix("-I") {
            let include = dir.join(include.trim());
            println!("cargo::rerun-if-changed={}", include.display());
            build.include(include);
        } else if let Some(def) = line.strip_prefix("-D") {
            let (name, value) = match def.trim().split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (def.trim().to_string(), None),
            };
            build.define(&name, value.as_deref());
        } else if line.starts_with('-') {
            panic!("{}: unknown flag line `{line}`", list.display());
        } else {
            let source = dir.join(line);
            println!("cargo::rerun-if-changed={}", source.display());
            build.file(source);
        }
    }
    build.compile("realworld");
}
