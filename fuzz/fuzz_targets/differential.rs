//! Differential execution on arbitrary input: the bytes seed a wasm-smith module
//! (`wes_difftest::generate`), which runs on every standard engine (`wes_difftest::compare`);
//! any difference in results, traps, gas, state or the gas at which a call runs out is a crash
//! whose input reproduces it. The deterministic counterpart is
//! `crates/wes-difftest/tests/it/corpus.rs`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wes_runtime::Engine;

/// The engines, made once per process: building Cranelift ISAs per input would dominate.
fn engines() -> &'static [(&'static str, Engine)] {
    static ENGINES: OnceLock<Vec<(&'static str, Engine)>> = OnceLock::new();
    ENGINES.get_or_init(|| wes_difftest::standard_engines().unwrap_or_else(|e| panic!("no JIT on this host: {e}")))
}

fuzz_target!(|data: &[u8]| {
    if let Err(d) = wes_difftest::compare_seed(data, engines()) {
        panic!("{d}");
    }
});
