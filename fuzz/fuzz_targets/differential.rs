//! Differential execution on arbitrary input: the bytes seed a wasm-smith module
//! (`wes_difftest::generate`), which runs on the reference engine, one interpreter engine and
//! one other JIT engine chosen by a hash of the bytes (`wes_difftest::rotation`, as the corpus
//! test does: three engines instead of eight, two JIT compiles per input instead of five, and
//! every input still compares the two backends);
//! any difference in results, traps, gas, state or the gas at which a call runs out is a crash
//! whose input reproduces it. The deterministic counterpart is
//! `crates/wes-difftest/tests/it/corpus.rs`.
#![no_main]

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wes_runtime::Engine;

/// The engines, made once per process: building Cranelift ISAs per input would dominate.
fn engines() -> &'static [(&'static str, Engine)] {
    static ENGINES: OnceLock<Vec<(&'static str, Engine)>> = OnceLock::new();
    ENGINES.get_or_init(|| wes_difftest::standard_engines().unwrap_or_else(|e| panic!("no JIT on this host: {e}")))
}

fuzz_target!(|data: &[u8]| {
    // `DefaultHasher::new()` has fixed keys: an input always picks the same engines.
    let mut h = DefaultHasher::new();
    data.hash(&mut h);
    let chosen = wes_difftest::rotation(h.finish() as usize, engines());
    if let Err(d) = wes_difftest::compare_seed(data, &chosen) {
        panic!("{d}");
    }
});
