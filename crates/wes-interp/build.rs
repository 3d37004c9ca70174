//! Chooses the loop's dispatch (see `src/exec/threaded.rs`): threaded handlers that jump to
//! each other where LLVM turns their tail calls into jumps — optimised builds on x86-64 and
//! aarch64 with the System V or Apple calling conventions, which pass every handler argument
//! in a register — and a return to the loop after every op elsewhere.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wes_threaded)");
    println!("cargo::rerun-if-changed=build.rs");
    let optimised = matches!(std::env::var("OPT_LEVEL").as_deref(), Ok("2" | "3" | "s" | "z"));
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let unix = std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f.split(',').any(|f| f == "unix"));
    if optimised && unix && matches!(arch.as_str(), "x86_64" | "aarch64") {
        println!("cargo::rustc-cfg=wes_threaded");
    }
}
