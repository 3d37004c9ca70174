//! Hostile input: thousands of generated and mutated modules, each of which must come back as
//! `Ok` or a typed error, without a panic and without allocating out of proportion to its
//! size.
//!
//! The corpus is deterministic (fixed seeds), so a failure reproduces exactly; the fuzz target
//! in `fuzz/` explores the same space without end.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use arbitrary::Unstructured;
use wes_decode::{Decoder, Features};

/// Counts live and peak heap bytes per thread, so the tests running in parallel in this binary
/// do not see each other's allocations.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to the system allocator unchanged; the bookkeeping touches only
// `const`-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: same contract as ours, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: same contract as ours, passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_free(layout.size());
        note_alloc(new_size);
        // SAFETY: same contract as ours, passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn note_alloc(n: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(n);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn note_free(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most a decode may allocate: a fixed allowance for the validator's tables plus a
/// multiple of the input. A module that forges a huge count must not get past this.
fn budget(input_len: usize) -> usize {
    (4 << 20) + 64 * input_len
}

/// Decodes `bytes`, failing the test on a panic or on allocation over budget. Returns whether
/// the module was accepted.
fn check(decoder: &Decoder, bytes: &[u8], what: &str) -> bool {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let result = catch_unwind(AssertUnwindSafe(|| decoder.decode(bytes).map(drop)));
    let peak = PEAK.with(Cell::get) - base;
    let Ok(result) = result else { panic!("decoder panicked on {what} ({} bytes): {bytes:02x?}", bytes.len()) };
    assert!(peak <= budget(bytes.len()), "{what}: decoding {} bytes allocated {peak} bytes: {bytes:02x?}", bytes.len());
    if let Err(e) = &result {
        // Every error is typed and printable.
        assert!(!e.to_string().is_empty());
    }
    result.is_ok()
}

fn smith_config(only_supported: bool) -> wasm_smith::Config {
    let mut c = wasm_smith::Config { max_funcs: 20, max_instructions: 200, max_data_segments: 8, ..Default::default() };
    if only_supported {
        c.exceptions_enabled = false;
        c.gc_enabled = false;
        c.compact_imports_enabled = false;
        c.memory64_enabled = false;
        c.relaxed_simd_enabled = false;
        c.threads_enabled = false;
        c.wide_arithmetic_enabled = false;
        c.max_memories = 1;
        c.max_tables = 4;
    } else {
        c.max_memories = 3;
        c.max_tables = 3;
    }
    c
}

fn generate(rng: &mut fastrand::Rng, config: &wasm_smith::Config) -> Option<Vec<u8>> {
    let len = rng.usize(64..4096);
    let seed: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
    let mut u = Unstructured::new(&seed);
    wasm_smith::Module::new(config.clone(), &mut u).ok().map(|m| m.to_bytes())
}

/// One of several ways a module goes bad in transit or at an attacker's hands.
fn mutate(rng: &mut fastrand::Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if b.is_empty() {
        return b;
    }
    match rng.u8(0..6) {
        0 => {
            let i = rng.usize(..b.len());
            b[i] ^= 1 << rng.u8(0..8);
        }
        1 => b.truncate(rng.usize(..b.len())),
        2 => {
            let i = rng.usize(..=b.len());
            let n = rng.usize(1..16);
            let extra: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(n).collect();
            b.splice(i..i, extra);
        }
        3 => {
            // A maximal LEB128 where a count or size field may be.
            let i = if b.len() > 8 { rng.usize(8..b.len()) } else { 0 };
            let end = (i + 5).min(b.len());
            b[i..end].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f][..end - i]);
        }
        4 => {
            let i = rng.usize(..b.len());
            let j = rng.usize(i..b.len());
            let chunk = b[i..j].to_vec();
            b.splice(i..i, chunk);
        }
        _ => {
            for _ in 0..rng.usize(1..8) {
                let i = rng.usize(..b.len());
                b[i] = rng.u8(..);
            }
        }
    }
    b
}

#[test]
fn generated_modules_in_the_supported_set_decode() {
    let decoder = Decoder::default();
    let config = smith_config(true);
    let mut rng = fastrand::Rng::with_seed(0x5745_5301);
    let mut generated = 0;
    for i in 0..600 {
        let Some(bytes) = generate(&mut rng, &config) else { continue };
        generated += 1;
        assert!(
            check(&decoder, &bytes, &format!("supported module #{i}")),
            "module #{i} rejected: {:?}",
            decoder.decode(&bytes).err()
        );
    }
    assert!(generated > 500, "wasm-smith produced only {generated} modules");
}

#[test]
fn mutated_modules_never_crash() {
    let decoder = Decoder::default();
    let mut rng = fastrand::Rng::with_seed(0x5745_5302);
    let mut accepted = 0;
    let mut rejected = 0;
    for (round, only_supported) in [(0, true), (1, false)] {
        let config = smith_config(only_supported);
        for i in 0..400 {
            let Some(bytes) = generate(&mut rng, &config) else { continue };
            for m in 0..6 {
                let bad = mutate(&mut rng, &bytes);
                if check(&decoder, &bad, &format!("round {round} module #{i} mutation {m}")) {
                    accepted += 1;
                } else {
                    rejected += 1;
                }
            }
        }
    }
    // Both outcomes occur, so the corpus really exercises the error paths.
    assert!(accepted > 100 && rejected > 1000, "accepted {accepted}, rejected {rejected}");
}

#[test]
fn random_bytes_behind_a_valid_header_never_crash() {
    let decoders = [
        Decoder::default(),
        Decoder::new(Features {
            threads: true,
            memory64: true,
            multi_memory: true,
            gc: true,
            exceptions: true,
            relaxed_simd: true,
            ..Features::default()
        }),
    ];
    let mut rng = fastrand::Rng::with_seed(0x5745_5303);
    for i in 0..3000 {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        let len = rng.usize(..256);
        bytes.extend(std::iter::repeat_with(|| rng.u8(..)).take(len));
        for d in &decoders {
            check(d, &bytes, &format!("random module #{i}"));
        }
    }
}

#[test]
fn forged_counts_are_rejected_without_allocating() {
    let decoder = Decoder::default();
    // Sections whose item count says 2^32-1 (or 600 000) but whose payload is tiny.
    let forged: &[&[u8]] = &[
        b"\x01\x05\xff\xff\xff\xff\x0f",             // types
        b"\x02\x05\xff\xff\xff\xff\x0f",             // imports
        b"\x03\x05\xff\xff\xff\xff\x0f",             // functions
        b"\x06\x05\xdc\xd2\x24\x7f\x00",             // globals: the case that found the validator's reservation
        b"\x07\x05\xff\xff\xff\xff\x0f",             // exports
        b"\x09\x05\xff\xff\xff\xff\x0f",             // elements
        b"\x0a\x05\xff\xff\xff\xff\x0f",             // code
        b"\x0b\x05\xff\xff\xff\xff\x0f",             // data
        b"\x01\x08\x01\x60\xff\xff\xff\xff\x0f\x00", // a function type claiming 2^32-1 params
        b"\x05\x07\x01\x01\x00\xff\xff\xff\xff\x0f", // memory max of 2^32-1 pages (over 65536)
    ];
    for (i, section) in forged.iter().enumerate() {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        bytes.extend_from_slice(section);
        assert!(!check(&decoder, &bytes, &format!("forged section #{i}")), "forged section #{i} accepted");
    }
}

#[test]
fn huge_declared_sizes_are_types_not_allocations() {
    // A table of 2^32-1 elements is valid (limits are checked when it is created, not when it
    // is decoded), so the decoder must accept it without allocating anything for it.
    let bytes = b"\0asm\x01\0\0\0\x04\x08\x01\x70\x00\xff\xff\xff\xff\x0f";
    assert!(check(&Decoder::default(), bytes, "huge table"));
}
