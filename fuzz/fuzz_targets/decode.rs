//! Arbitrary bytes into the decoder: it must return `Ok` or a typed error, never panic.
//! Inputs without the wasm header are given one half the time, so the fuzzer spends its effort
//! on section parsing rather than on rediscovering the magic number.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wes_decode::decode(data);
    if data.first().is_some_and(|b| b & 1 == 1) {
        let mut with_header = b"\0asm\x01\0\0\0".to_vec();
        with_header.extend_from_slice(&data[1..]);
        if let Err(e) = wes_decode::decode(&with_header) {
            assert!(!e.to_string().is_empty());
        }
    }
});
