//! Valid modules from wasm-smith, restricted to the proposals WES enables by default: every
//! one must decode, and decoding twice must give the same module (decoding is deterministic).
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fn config() -> wasm_smith::Config {
    wasm_smith::Config {
        exceptions_enabled: false,
        gc_enabled: false,
        compact_imports_enabled: false,
        memory64_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        wide_arithmetic_enabled: false,
        max_memories: 1,
        ..Default::default()
    }
}

fn module(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    Ok(wasm_smith::Module::new(config(), u)?.to_bytes())
}

fuzz_target!(|data: &[u8]| {
    let Ok(bytes) = module(&mut Unstructured::new(data)) else { return };
    let first = wes_decode::decode(&bytes).unwrap_or_else(|e| panic!("valid module rejected: {e}"));
    let second = wes_decode::decode(&bytes).unwrap_or_else(|e| panic!("second decode failed: {e}"));
    assert_eq!(first, second);
});
