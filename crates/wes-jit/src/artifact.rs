//! Compiled code as bytes, and back: what the JIT puts in a compiled artifact.
//!
//! The JIT's code needs no relocation at load. A module's functions are laid out in one
//! buffer; the only relocations Cranelift reports are calls between them (and to the
//! module's shims), which [`crate::patch_call`] resolves as PC-relative displacements inside
//! the buffer; libcalls, memories, tables and globals are reached through the instance
//! context, whose address is an argument; constants and jump tables are PC-relative inside
//! each function. So the laid-out buffer is position-independent and is saved as it is,
//! with the entry and body offsets, the largest frame, the bodies' call sites (which name the
//! callers in the backtrace of a trap that unwinds) and their guarded memory accesses (which
//! name the operator a fault there traps at) and trapping gas checks (the segments a check
//! that faults replays). Loading maps it read+execute in a fresh mapping, exactly as a
//! compile does.
//!
//! The payload is this crate's framing only: the envelope an artifact travels in (format
//! version, WES version, fingerprint, module hash, checksum) is the cache's (`wes-cache`),
//! which checks it before handing the payload here. What is checked here is what only the
//! JIT knows: its own framing, that the code was compiled under this JIT's pricing, that the
//! function count is the module's and that every entry point lies inside the code. The
//! validated module is not in the payload: the loader validates the wasm bytes again.
//!
//! ```text
//!   "WESJIT06"  functions: u32  max_frame: u64  metered: u8  pricing hash: [u8; 32]
//!   entry offsets: functions × u64   body offsets: functions × u64   code length: u64   code
//!   call sites: u64   sites × (return offset: u32, function: u32, module offset: u32)
//!   guarded accesses: u64   accesses × (instruction offset: u32, function: u32, module offset: u32)
//!   gas checks: u64   checks × (instruction offset: u32, function: u32, first link: u32, links: u32)
//!   links: u64   links × (module offset: u32, cost: u64, operators: u64)
//! ```
//! All integers little-endian. An offset of `u64::MAX` stands for a function without an
//! entry (one that [`Module::referenced_functions`] leaves out); every referenced function
//! must have one.

use std::sync::Arc;

use wes_core::backend::CompiledModule;
use wes_core::{CodeFingerprint, CompileError, Module};

use crate::code_memory::CodeMemory;
use crate::{Jit, JitModule};

/// The payload's magic and version: bump the digits when the layout or the meaning of the
/// code changes in a way the fingerprint does not capture.
const MAGIC: &[u8; 8] = b"WESJIT06";

/// The offset written for a function without an entry.
const NO_ENTRY: u64 = u64::MAX;

impl Jit {
    /// What this JIT's code depends on: every setting that changes the code, Cranelift's
    /// shared flags, and the target triple with the CPU features Cranelift detected on this
    /// host (code compiled with AVX2 must not run where there is none).
    pub(crate) fn code_fingerprint(&self) -> CodeFingerprint {
        let c = &self.config;
        let pricing = match &c.pricing {
            Some(p) => hex(&p.hash()),
            None => "unmetered".into(),
        };
        let shared: Vec<String> = self.isa.flags().iter().map(|v| v.to_string()).collect();
        let config = format!(
            "nan_canonicalization={} bounds_checks={:?} optimize={} merge_gas_checks={} pricing={pricing} \
             profile={} count_operators={} resume_out_of_gas={} large_function_blocks={} large_function_insts={} record_body_calls={} \
             cranelift=[{}]",
            c.nan_canonicalization,
            c.bounds_checks,
            c.optimize,
            c.merge_gas_checks,
            // Profiled code has other calls in it. (Which modules are admitted at all is the
            // runtime's check, made again when compiled code is loaded: `Module::from_compiled`.)
            c.profile,
            // Counting code carries another counter and adds to it.
            c.count_operators,
            // Trapping checks are other code, with other metadata.
            c.resume_out_of_gas,
            crate::LARGE_FUNCTION_BLOCKS,
            crate::LARGE_FUNCTION_INSTS,
            crate::translate::RECORD_BODY_CALLS,
            shared.join(" "),
        );
        let features: Vec<String> = self.isa.isa_flags().iter().map(|v| v.to_string()).collect();
        let target = format!("{} [{}]", self.isa.triple(), features.join(" "));
        CodeFingerprint { backend: "jit".into(), config, target }
    }

    /// Loads a payload written by [`JitModule::serialize_code`]; see
    /// [`wes_core::Backend::deserialize`] for the contract.
    pub(crate) fn load_code(
        &self,
        module: Arc<Module>,
        payload: &[u8],
    ) -> Result<Arc<dyn CompiledModule>, CompileError> {
        let mut r = Reader { bytes: payload, at: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(bad("not a JIT payload of this version".into()));
        }
        let functions = r.u32()? as usize;
        let max_frame = usize::try_from(r.u64()?).map_err(|_| bad("frame size out of range".into()))?;
        let metered = r.take(1)?[0];
        let hash: [u8; 32] = r.take(32)?.try_into().map_err(|_| bad("pricing hash".into()))?;
        let pricing_hash = match metered {
            0 => None,
            1 => Some(hash),
            m => return Err(bad(format!("metered flag {m}"))),
        };
        if pricing_hash != self.config.pricing.as_ref().map(|p| p.hash()) {
            return Err(bad("the code was compiled under another pricing table".into()));
        }
        let defined = defined_functions(&module);
        if functions != defined {
            return Err(bad(format!("the code has {functions} functions, the module defines {defined}")));
        }
        // Each function has two offsets of 8 bytes in the payload, so this cannot allocate
        // more than its size.
        if functions > payload.len() / 16 {
            return Err(bad("truncated offsets".into()));
        }
        let referenced = module.referenced_functions();
        let imported = module.num_imported_functions as usize;
        let mut offsets = Vec::with_capacity(functions);
        for i in 0..functions {
            let offset = match r.u64()? {
                NO_ENTRY => None,
                o => Some(usize::try_from(o).map_err(|_| bad("offset out of range".into()))?),
            };
            if offset.is_none() && referenced.get(imported + i).copied().unwrap_or(true) {
                return Err(bad(format!("no entry for function {}, which is referenced", imported + i)));
            }
            offsets.push(offset);
        }
        let mut bodies = Vec::with_capacity(functions);
        for _ in 0..functions {
            bodies.push(usize::try_from(r.u64()?).map_err(|_| bad("body offset out of range".into()))?);
        }
        let len = usize::try_from(r.u64()?).map_err(|_| bad("code length out of range".into()))?;
        let code = r.take(len)?;
        let frames = read_sites(&mut r, payload.len(), code.len(), "call site")?;
        let faults = read_sites(&mut r, payload.len(), code.len(), "guarded access")?;
        let gas = read_gas_checks(&mut r, payload.len(), code.len())?;
        if r.at != payload.len() {
            return Err(bad(format!("{} bytes after the gas checks", payload.len() - r.at)));
        }
        if !gas.sites.is_empty() && self.code_resumes() {
            return Err(bad("trapping gas checks in code that resumes out of gas".into()));
        }
        if !faults.is_empty() && self.config.bounds_checks != crate::BoundsChecks::Guard {
            return Err(bad("guarded accesses in code for explicit bounds checks".into()));
        }
        // Functions are placed 16-byte aligned (see `Backend::compile`).
        if let Some(o) = offsets.iter().flatten().chain(&bodies).find(|&&o| o >= code.len() || o % 16 != 0) {
            return Err(bad(format!("offset {o} is not a function start in {} bytes of code", code.len())));
        }
        let memory = CodeMemory::new(code)?;
        // The pricing hash was checked above; the fingerprint (checked by whoever hands the
        // payload over, see `Backend::deserialize`) includes `count_operators` and the bounds
        // checks, so the code counts and leaves bounds to guard regions exactly when this
        // JIT's does.
        let sites = crate::Sites { frames, faults, gas };
        Ok(self.module_of(module, memory, crate::Layout { entries: offsets, bodies }, sites, max_frame))
    }
}

impl JitModule {
    /// The payload [`Jit::load_code`] reads.
    pub(crate) fn serialize_code(&self) -> Vec<u8> {
        let code = self.memory.bytes();
        let mut out = Vec::with_capacity(64 + self.offsets.len() * 16 + code.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.offsets.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.max_frame as u64).to_le_bytes());
        out.push(u8::from(self.pricing_hash.is_some()));
        out.extend_from_slice(&self.pricing_hash.unwrap_or([0; 32]));
        for &o in &self.offsets {
            out.extend_from_slice(&o.map_or(NO_ENTRY, |o| o as u64).to_le_bytes());
        }
        for &b in &self.bodies {
            out.extend_from_slice(&(b as u64).to_le_bytes());
        }
        out.extend_from_slice(&(code.len() as u64).to_le_bytes());
        out.extend_from_slice(code);
        for sites in [&self.frames, &self.faults] {
            out.extend_from_slice(&(sites.len() as u64).to_le_bytes());
            for s in sites {
                for v in [s.at, s.func_index, s.offset] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        out.extend_from_slice(&(self.gas.sites.len() as u64).to_le_bytes());
        for s in &self.gas.sites {
            for v in [s.at, s.func_index, s.first, s.len] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.gas.links.len() as u64).to_le_bytes());
        for l in &self.gas.links {
            out.extend_from_slice(&l.offset.to_le_bytes());
            out.extend_from_slice(&l.cost.to_le_bytes());
            out.extend_from_slice(&l.ops.to_le_bytes());
        }
        out
    }
}

/// A count and that many sites, each inside the code of `code_len` bytes and after the one
/// before it.
fn read_sites(
    r: &mut Reader<'_>,
    payload_len: usize,
    code_len: usize,
    what: &str,
) -> Result<Vec<crate::CodeSite>, CompileError> {
    let n = usize::try_from(r.u64()?).map_err(|_| bad(format!("{what} count out of range")))?;
    // Each site is 12 bytes of the payload, so this cannot allocate more than its size.
    if n > payload_len / 12 {
        return Err(bad(format!("truncated {what}s")));
    }
    let mut sites: Vec<crate::CodeSite> = Vec::with_capacity(n);
    for _ in 0..n {
        let site = crate::CodeSite { at: r.u32()?, func_index: r.u32()?, offset: r.u32()? };
        if site.at as usize > code_len || sites.last().is_some_and(|p| p.at >= site.at) {
            return Err(bad(format!("{what} at {} is out of order or outside the code", site.at)));
        }
        sites.push(site);
    }
    Ok(sites)
}

/// The trapping gas checks: each inside the code and after the one before it, each naming at
/// least one link, all of them among the links that follow.
fn read_gas_checks(r: &mut Reader<'_>, payload_len: usize, code_len: usize) -> Result<crate::GasChecks, CompileError> {
    let n = usize::try_from(r.u64()?).map_err(|_| bad("gas check count out of range".into()))?;
    // Each check is 16 bytes of the payload, so this cannot allocate more than its size.
    if n > payload_len / 16 {
        return Err(bad("truncated gas checks".into()));
    }
    let mut sites: Vec<crate::GasSite> = Vec::with_capacity(n);
    for _ in 0..n {
        let site = crate::GasSite { at: r.u32()?, func_index: r.u32()?, first: r.u32()?, len: r.u32()? };
        if site.at as usize > code_len || sites.last().is_some_and(|p| p.at >= site.at) {
            return Err(bad(format!("gas check at {} is out of order or outside the code", site.at)));
        }
        sites.push(site);
    }
    let m = usize::try_from(r.u64()?).map_err(|_| bad("gas link count out of range".into()))?;
    // Each link is 20 bytes of the payload.
    if m > payload_len / 20 {
        return Err(bad("truncated gas links".into()));
    }
    let mut links = Vec::with_capacity(m);
    for _ in 0..m {
        links.push(wes_core::GasLink { offset: r.u32()?, cost: r.u64()?, ops: r.u64()? });
    }
    if let Some(s) = sites.iter().find(|s| s.len == 0 || (s.first as usize).saturating_add(s.len as usize) > m) {
        return Err(bad(format!("gas check at {} names links outside the {m} there are", s.at)));
    }
    Ok(crate::GasChecks { sites, links })
}

/// How many functions `module` defines, through its methods only.
fn defined_functions(module: &Module) -> usize {
    let mut first = 0u32;
    while module.is_imported_function(first) {
        first += 1;
    }
    let mut n = 0u32;
    while module.body(first + n).is_some() {
        n += 1;
    }
    n as usize
}

fn bad(what: String) -> CompileError {
    CompileError::Artifact(format!("JIT payload: {what}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the payload front to back; every read past the end is an error, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CompileError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| bad("truncated".into()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, CompileError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| bad("truncated".into()))?))
    }

    fn u64(&mut self) -> Result<u64, CompileError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| bad("truncated".into()))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wes_core::Backend;

    const WAT: &str = r#"(module
        (func $f (param i32) (result i32) local.get 0 i32.const 1 i32.add)
        (func (export "g") (param i32) (result i32) local.get 0 call $f call $f))"#;

    fn compiled() -> (Jit, Arc<Module>, Vec<u8>) {
        let jit = Jit::new().unwrap();
        let module = Arc::new(wes_decode::decode_text(WAT).unwrap());
        let c = jit.compile(module.clone()).unwrap();
        let payload = c.serialize().unwrap();
        (jit, module, payload)
    }

    #[test]
    fn round_trip_gives_the_same_code() {
        let (jit, module, payload) = compiled();
        // SAFETY: the payload was just serialised by this JIT for this module.
        let loaded = unsafe { jit.deserialize(module, &payload) }.unwrap();
        assert_eq!(loaded.serialize().unwrap(), payload);
        // `$f` is called only by `g`'s body, so it has no entry; the export has one.
        assert!(loaded.entry(0).is_none());
        assert!(loaded.entry(1).is_some());
        assert!(loaded.entry(2).is_none());
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let (jit, module, payload) = compiled();
        let load = |p: &[u8]| {
            // SAFETY: every payload below is refused before any code is mapped (asserted).
            unsafe { jit.deserialize(module.clone(), p) }.map(|_| ()).unwrap_err()
        };
        for cut in [0, 7, 12, 40, payload.len() - 1] {
            assert!(matches!(load(&payload[..cut]), CompileError::Artifact(_)), "cut at {cut}");
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(load(&longer).to_string().contains("after the gas checks"));
        // Two functions: the offsets are at bytes 53 and 61; `$f` has none, `g` has one.
        assert_eq!(payload[53..61], NO_ENTRY.to_le_bytes());
        let mut outside = payload.clone();
        outside[61..69].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(load(&outside).to_string().contains("not a function start"));
        // Then the bodies' offsets, at bytes 69 and 77: the first body is at the start.
        assert_eq!(payload[69..77], 0u64.to_le_bytes());
        for bad_body in [1u64 << 40, 8] {
            let mut body = payload.clone();
            body[77..85].copy_from_slice(&bad_body.to_le_bytes());
            assert!(load(&body).to_string().contains("not a function start"), "body at {bad_body}");
        }
        let mut missing = payload.clone();
        missing[61..69].copy_from_slice(&NO_ENTRY.to_le_bytes());
        assert!(load(&missing).to_string().contains("no entry for function 1"));
        let mut metered = payload.clone();
        metered[20] = 1;
        assert!(load(&metered).to_string().contains("pricing"));
        let other = Arc::new(wes_decode::decode_text("(module (func))").unwrap());
        // SAFETY: refused (function count) before any code is mapped.
        let e = unsafe { jit.deserialize(other, &payload) }.map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("functions"), "{e}");
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn guarded_accesses_survive_a_round_trip_and_only_a_guard_jit_loads_them() {
        let guard =
            Jit::with_config(crate::JitConfig { bounds_checks: crate::BoundsChecks::Guard, ..Default::default() })
                .unwrap();
        let module = Arc::new(
            wes_decode::decode_text(
                r#"(module (memory 1)
                    (func (export "f") (param i32) (result i32)
                      (i32.store offset=4 (local.get 0) (i32.const 1)) (i32.load (local.get 0))))"#,
            )
            .unwrap(),
        );
        let c = guard.compile(module.clone()).unwrap();
        assert!(c.needs_guard_regions());
        let payload = c.serialize().unwrap();
        // SAFETY: the payload was just serialised by this JIT for this module.
        let loaded = unsafe { guard.deserialize(module.clone(), &payload) }.unwrap();
        assert_eq!(loaded.serialize().unwrap(), payload);
        assert!(loaded.needs_guard_regions());
        // An explicit JIT's fingerprint differs, so a cache never hands it this payload; were it
        // handed it anyway, the accesses it has no checks for are refused.
        let explicit =
            Jit::with_config(crate::JitConfig { bounds_checks: crate::BoundsChecks::Explicit, ..Default::default() })
                .unwrap();
        assert_ne!(explicit.fingerprint(), guard.fingerprint());
        // SAFETY: refused (guarded accesses) before any code is mapped.
        let e = unsafe { explicit.deserialize(module, &payload) }.map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("guarded accesses"), "{e}");
    }

    #[test]
    fn trapping_gas_checks_survive_a_round_trip_and_only_a_trapping_jit_loads_them() {
        let pricing = Some(Arc::new(wes_meter::Pricing::default()));
        let trapping = Jit::with_config(crate::JitConfig {
            pricing: pricing.clone(),
            resume_out_of_gas: false,
            ..Default::default()
        })
        .unwrap();
        let module = Arc::new(
            wes_decode::decode_text(
                r#"(module
                    (func (export "f") (param i32) (result i32)
                      (block (br_if 0 (local.get 0)) (drop (i32.const 1)))
                      (loop (br_if 0 (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
                      (local.get 0)))"#,
            )
            .unwrap(),
        );
        let c = trapping.compile(module.clone()).unwrap();
        assert!(!c.resumes_out_of_gas());
        let payload = c.serialize().unwrap();
        // SAFETY: the payload was just serialised by this JIT for this module.
        let loaded = unsafe { trapping.deserialize(module.clone(), &payload) }.unwrap();
        assert_eq!(loaded.serialize().unwrap(), payload);
        assert!(!loaded.resumes_out_of_gas());
        // Walk the payload to the gas checks (see the module docs for its layout).
        let mut r = Reader { bytes: &payload, at: 8 };
        let functions = r.u32().unwrap() as usize;
        r.take(8 + 1 + 32 + 16 * functions).unwrap();
        let code = r.u64().unwrap() as usize;
        r.take(code).unwrap();
        for _ in 0..2 {
            let sites = r.u64().unwrap() as usize;
            r.take(12 * sites).unwrap();
        }
        let checks = r.u64().unwrap() as usize;
        assert!(checks >= 2, "the function has checks: {checks}");
        let checks_end = r.at + 16 * checks;
        let mut forged = payload.clone();
        // The last check's link count.
        forged[checks_end - 4..checks_end].copy_from_slice(&u32::MAX.to_le_bytes());
        // SAFETY: refused (links) before any code is mapped.
        let e = unsafe { trapping.deserialize(module.clone(), &forged) }.map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("names links outside"), "{e}");
        // A JIT whose code resumes has another fingerprint; handed the payload anyway, it
        // refuses the checks it would have no way to resume from.
        let resuming =
            Jit::with_config(crate::JitConfig { pricing, resume_out_of_gas: true, ..Default::default() }).unwrap();
        assert_ne!(resuming.fingerprint(), trapping.fingerprint());
        // SAFETY: refused (trapping checks) before any code is mapped.
        let e = unsafe { resuming.deserialize(module, &payload) }.map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("trapping gas checks"), "{e}");
    }

    #[test]
    fn the_fingerprint_names_the_settings_and_the_cpu() {
        let jit = Jit::new().unwrap();
        let f = jit.fingerprint().unwrap();
        assert_eq!(f.backend, "jit");
        assert!(f.config.contains("nan_canonicalization=true"));
        assert!(f.config.contains("pricing=unmetered"));
        #[cfg(target_arch = "x86_64")]
        assert!(f.target.starts_with("x86_64") && f.target.contains("has_sse41=1"), "{}", f.target);
        let plain = Jit::with_config(crate::JitConfig { optimize: false, ..Default::default() }).unwrap();
        assert_ne!(plain.fingerprint().unwrap().config, f.config);
        let threads = Jit::with_config(crate::JitConfig { threads: 3, ..Default::default() }).unwrap();
        assert_eq!(threads.fingerprint().unwrap(), f);
    }
}
