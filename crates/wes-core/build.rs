//! Tells the crate when it is built with AddressSanitizer (`cargo fuzz`'s default), whose
//! shadow of the stack a trap's jump must clear (`src/unwind.rs`). Cargo gives build scripts
//! the target's `cfg`s, `sanitize` among them when the sanitizer is on.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wes_asan)");
    println!("cargo::rerun-if-changed=build.rs");
    let sanitizers = std::env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    if sanitizers.split(',').any(|s| s == "address") {
        println!("cargo::rustc-cfg=wes_asan");
    }
}
