//! The real-world workloads: C libraries written by others (cJSON, zlib, the SUPERCOP Ed25519
//! reference, BearSSL's big integers, hashes, ciphers and elliptic curves, uthash, wasi-libc's
//! qsort and malloc), compiled with clang into one module the shape LLVM gives contract code:
//! about two hundred functions, bodies up to 16 KB, a function table and 124 KiB of data
//! segments.
//!
//! The modules are `benches/c/realworld-{O2,Oz}.wasm`, checked in and rebuilt by
//! `cargo xtask bench-c`; `benches/build.rs` compiles the same sources natively, and each
//! workload's expected result is the native build's, computed here before any timing.

use anyhow::{Result, bail};

use crate::runtimes::Val;
use crate::workloads::{Kind, Workload};

/// The module built with -O2 and link-time optimisation: what the execution workloads run.
const O2: &[u8] = include_bytes!("../c/realworld-O2.wasm");
/// The same sources with -Oz, as contract toolchains build: compiled only.
const OZ: &[u8] = include_bytes!("../c/realworld-Oz.wasm");

/// The drivers in `benches/c/drivers/`, compiled natively by `build.rs`.
mod native {
    unsafe extern "C" {
        pub fn rw_json(n: u32) -> u64;
        pub fn rw_deflate(kib: u32) -> u64;
        pub fn rw_ed25519(n: u32) -> u64;
        pub fn rw_bigint(n: u32) -> u64;
        pub fn rw_collections(n: u32) -> u64;
        pub fn rw_crypto(n: u32) -> u64;
        pub fn rw_all(scale: u32) -> u64;
    }
}

/// One driver: its export name in the module and its native twin.
#[derive(Clone, Copy)]
enum Driver {
    Json,
    Deflate,
    Ed25519,
    Bigint,
    Collections,
    Crypto,
    All,
}

impl Driver {
    fn export(self) -> &'static str {
        match self {
            Driver::Json => "json",
            Driver::Deflate => "deflate",
            Driver::Ed25519 => "ed25519",
            Driver::Bigint => "bigint",
            Driver::Collections => "collections",
            Driver::Crypto => "crypto",
            Driver::All => "all",
        }
    }

    /// The native reference result. The drivers return 0 when a self-check fails (a round trip
    /// that does not give back its input, a signature that does not verify), so 0 is refused.
    fn reference(self, n: u32) -> Result<Vec<Val>> {
        // SAFETY: the drivers are plain C functions of one u32 returning a u64, declared as in
        // `benches/c/drivers/common.h`; they allocate and free their own memory and keep no
        // state between calls.
        let result = unsafe {
            match self {
                Driver::Json => native::rw_json(n),
                Driver::Deflate => native::rw_deflate(n),
                Driver::Ed25519 => native::rw_ed25519(n),
                Driver::Bigint => native::rw_bigint(n),
                Driver::Collections => native::rw_collections(n),
                Driver::Crypto => native::rw_crypto(n),
                Driver::All => native::rw_all(n),
            }
        };
        if result == 0 {
            bail!("the native {} driver failed its own check with n = {n}", self.export());
        }
        Ok(vec![Val::I64(result as i64)])
    }

    fn call(self, name: &'static str, what: String, n: u32) -> Result<Workload> {
        Ok(Workload {
            name,
            what,
            wasm: O2.to_vec(),
            setup: vec![],
            func: self.export(),
            args: vec![Val::I32(n as i32)],
            kind: Kind::Call,
            reference: Some(self.reference(n)?),
        })
    }
}

/// The real-world workloads, sized for a full run or for `--quick`. Their names all start with
/// `c-`, so `--filter c-` selects them.
pub fn workloads(quick: bool) -> Result<Vec<Workload>> {
    let size = |full: u32, small: u32| if quick { small } else { full };
    let json_n = size(1_000, 200);
    let deflate_kib = size(256, 64);
    let sign_n = size(8, 2);
    let modexp_n = size(2, 1);
    let coll_n = size(50_000, 10_000);
    let crypto_n = size(8, 2);
    let compile = |name, wasm: &[u8], opt| -> Result<Workload> {
        Ok(Workload {
            name,
            what: format!(
                "compile the C libraries linked into one module, clang {opt} + LTO, {} KiB",
                wasm.len() >> 10
            ),
            wasm: wasm.to_vec(),
            setup: vec![],
            func: Driver::All.export(),
            args: vec![Val::I32(1)],
            kind: Kind::Compile,
            reference: Some(Driver::All.reference(1)?),
        })
    };
    Ok(vec![
        Driver::Json.call(
            "c-json",
            format!("cJSON: build, print, parse, compare, pretty-print {json_n} records"),
            json_n,
        )?,
        Driver::Deflate.call(
            "c-deflate",
            format!("zlib: deflate (level 6) and inflate {deflate_kib} KiB of text-like data"),
            deflate_kib,
        )?,
        Driver::Ed25519.call(
            "c-ed25519",
            format!("Ed25519 (SUPERCOP ref): {sign_n} x derive key, sign 100 bytes, verify"),
            sign_n,
        )?,
        Driver::Bigint.call(
            "c-bigint",
            format!("BearSSL i31: {modexp_n} x 2048-bit modular exponentiation"),
            modexp_n,
        )?,
        Driver::Collections.call(
            "c-sort+hashmap",
            format!("qsort {coll_n} records, then a uthash map: insert, look up, delete"),
            coll_n,
        )?,
        Driver::Crypto.call(
            "c-crypto",
            format!(
                "BearSSL, {crypto_n} rounds: MD5, SHA-1/256/512, HMAC, AES-CTR, ChaCha20-Poly1305 of 4 KiB, X25519, ECDSA P-256 sign + verify"
            ),
            crypto_n,
        )?,
        compile("c-compile-O2", O2, "-O2")?,
        compile("c-compile-Oz", OZ, "-Oz")?,
    ])
}
