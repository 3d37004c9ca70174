//! The artifact format and the cache: round trips, every corruption case, eviction, and
//! several users of one directory at once.
#![allow(clippy::panic, clippy::unwrap_used, reason = "helpers fail a test by panicking, like assertions do")]

use std::path::PathBuf;
use std::sync::Arc;

use wes_cache::{Artifact, ArtifactCache, ArtifactError, CacheConfig, CacheError, Source, artifact, module_hash};
use wes_core::Value;
use wes_decode::Decoder;
use wes_runtime::{Config, Engine, Linker, Module, RuntimeError, Store};

const WAT: &str = r#"(module
    (memory 1)
    (data (i32.const 0) "\05\00\00\00")
    (global $g (mut i32) (i32.const 10))
    (table 2 funcref)
    (elem (i32.const 0) $sq $inc)
    (type $t (func (param i32) (result i32)))
    (func $sq (param i32) (result i32) local.get 0 local.get 0 i32.mul)
    (func $inc (param i32) (result i32) local.get 0 i32.const 1 i32.add)
    (func (export "run") (param i32) (result i32)
        (global.set $g (i32.add (global.get $g) (i32.load (i32.const 0))))
        (call_indirect (type $t) (local.get 0) (i32.const 0))
        (call_indirect (type $t) (i32.const 1))
        (global.get $g)
        i32.add))"#;

fn wasm() -> Vec<u8> {
    wat::parse_str(WAT).unwrap()
}

fn engine() -> Engine {
    Engine::new(Config::default(), Arc::new(wes_jit::Jit::new().unwrap()))
}

fn metered_engine() -> Engine {
    let pricing = Arc::new(wes_meter::Pricing::new(wes_meter::PricingTable::default()).unwrap());
    let jit =
        wes_jit::Jit::with_config(wes_jit::JitConfig { pricing: Some(pricing.clone()), ..Default::default() }).unwrap();
    let mut config = Config::default();
    config.pricing(Some(pricing));
    Engine::new(config, Arc::new(jit))
}

fn run(engine: &Engine, module: &Module, x: i32) -> Value {
    let mut store = Store::new(engine);
    let instance = Linker::new().instantiate(&mut store, module).unwrap();
    let f = instance.get_func(&store, "run").unwrap();
    f.call(&mut store, &[Value::I32(x)]).unwrap()[0]
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wes-cache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A fresh artifact of `WAT` compiled by `engine`.
fn artifact_bytes(engine: &Engine, embed: bool) -> Vec<u8> {
    let wasm = wasm();
    let module = Module::new(engine, Decoder::default().decode(&wasm).unwrap()).unwrap();
    Artifact::new(engine, &Decoder::default(), &module, &wasm, embed).unwrap().encode()
}

fn load(engine: &Engine, bytes: &[u8], wasm: Option<&[u8]>) -> Result<Module, CacheError> {
    // SAFETY: every artifact in these tests was written by this process; the corrupt ones are
    // refused before any code is mapped, which is what the tests check.
    unsafe { artifact::load(engine, &Decoder::default(), bytes, wasm) }
}

fn artifact_err(r: Result<Module, CacheError>) -> ArtifactError {
    match r {
        Err(CacheError::Artifact(e)) => e,
        Err(e) => panic!("expected an artifact error, got {e}"),
        Ok(_) => panic!("a bad artifact was loaded"),
    }
}

#[test]
fn an_artifact_runs_like_the_compiled_module() {
    let engine = engine();
    let wasm = wasm();
    let compiled = Module::new(&engine, Decoder::default().decode(&wasm).unwrap()).unwrap();
    for embed in [false, true] {
        let bytes = artifact_bytes(&engine, embed);
        let given = if embed { None } else { Some(wasm.as_slice()) };
        let loaded = load(&engine, &bytes, given).unwrap();
        for x in [0, 3, -7] {
            assert_eq!(run(&engine, &loaded, x), run(&engine, &compiled, x));
        }
    }
    // x = 5: the global becomes 10 + 5, then inc(sq(5)) + 15 = 26 + 15.
    assert_eq!(run(&engine, &compiled, 5), Value::I32(41));
}

#[test]
fn a_metered_artifact_charges_the_same_gas() {
    let engine = metered_engine();
    let wasm = wasm();
    let compiled = Module::new(&engine, Decoder::default().decode(&wasm).unwrap()).unwrap();
    let loaded = load(&engine, &artifact_bytes(&engine, false), Some(&wasm)).unwrap();
    let gas = |m: &Module| {
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, m).unwrap();
        let f = instance.get_func(&store, "run").unwrap();
        let call = f.call_with_gas(&mut store, &[Value::I32(9)], 1_000_000);
        (call.result.unwrap(), call.gas.consumed)
    };
    let (r1, g1) = gas(&compiled);
    assert_eq!(gas(&loaded), (r1, g1));
    assert!(g1 > 0);
}

#[test]
fn every_truncation_is_refused() {
    let engine = engine();
    let bytes = artifact_bytes(&engine, true);
    for cut in 0..bytes.len() {
        let e = artifact_err(load(&engine, &bytes[..cut], None));
        assert!(
            matches!(
                e,
                ArtifactError::NotAnArtifact | ArtifactError::Truncated { .. } | ArtifactError::Checksum { .. }
            ),
            "cut at {cut}: {e}"
        );
    }
}

#[test]
fn every_bit_flip_is_refused() {
    let engine = engine();
    let wasm = wasm();
    let bytes = artifact_bytes(&engine, false);
    // Every byte, one bit each (cycling through the bit positions): the magic, the format
    // version, the fingerprint, the module hash, the payload's code and the checksum itself.
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 1 << (i % 8);
        let e = artifact_err(load(&engine, &bad, Some(&wasm)));
        let expected = match i {
            0..8 => matches!(e, ArtifactError::NotAnArtifact),
            8..12 => matches!(e, ArtifactError::Version { what: "format", .. }),
            _ => matches!(e, ArtifactError::Checksum { .. }),
        };
        assert!(expected, "flip at byte {i} of {}: {e}", bytes.len());
    }
}

/// Re-encodes a valid artifact after `change`, with a correct checksum: what another WES,
/// backend or CPU would have written.
fn foreign(engine: &Engine, change: impl FnOnce(&mut Artifact)) -> Vec<u8> {
    let mut a = Artifact::decode(&artifact_bytes(engine, true)).unwrap();
    change(&mut a);
    a.encode()
}

#[test]
fn foreign_versions_backends_cpus_and_modules_are_refused() {
    let engine = engine();
    let v = foreign(&engine, |a| a.wes_version = "0.0.0-other".into());
    assert!(matches!(artifact_err(load(&engine, &v, None)), ArtifactError::Version { what: "WES version", .. }));

    let cpu = foreign(&engine, |a| a.fingerprint.target = a.fingerprint.target.replace("has_sse41=1", "has_sse41=0"));
    let e = artifact_err(load(&engine, &cpu, None));
    assert!(matches!(e, ArtifactError::Target { .. }), "{e}");
    let arch = foreign(&engine, |a| a.fingerprint.target = "aarch64-unknown-linux-gnu []".into());
    assert!(matches!(artifact_err(load(&engine, &arch, None)), ArtifactError::Target { .. }));

    // The same code under another configuration: metered against unmetered.
    let metered = artifact_bytes(&metered_engine(), true);
    let e = artifact_err(load(&engine, &metered, None));
    assert!(matches!(e, ArtifactError::Backend { .. }), "{e}");
    let other = foreign(&engine, |a| a.fingerprint.backend = "interp".into());
    assert!(matches!(artifact_err(load(&engine, &other, None)), ArtifactError::Backend { .. }));

    // Another module's bytes.
    let other_wasm = wat::parse_str("(module (func (export \"run\") (param i32) (result i32) local.get 0))").unwrap();
    let plain = artifact_bytes(&engine, false);
    assert!(matches!(artifact_err(load(&engine, &plain, Some(&other_wasm))), ArtifactError::ModuleMismatch { .. }));
    assert!(matches!(artifact_err(load(&engine, &plain, None)), ArtifactError::NoModule));
    // An embedded module that is not the one hashed.
    let swapped = foreign(&engine, |a| a.wasm = Some(other_wasm.clone()));
    assert!(matches!(artifact_err(load(&engine, &swapped, None)), ArtifactError::Malformed(_)));
}

#[test]
fn a_payload_that_does_not_fit_the_module_is_refused_by_the_backend() {
    let engine = engine();
    // Well-framed and correctly summed, but the code of another module under this one's hash.
    let other = wat::parse_str("(module (func) (func))").unwrap();
    let other_module = Module::new(&engine, Decoder::default().decode(&other).unwrap()).unwrap();
    let payload = other_module.compiled().serialize().unwrap();
    let bytes = foreign(&engine, |a| a.payload = payload);
    match load(&engine, &bytes, None) {
        Err(CacheError::Runtime(RuntimeError::Compile(e))) => assert!(e.to_string().contains("functions"), "{e}"),
        other => panic!("expected the backend to refuse the payload, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn the_memory_cache_hits_and_evicts_by_bytes() {
    let engine = engine();
    let modules: Vec<Vec<u8>> = (0..4)
        .map(|i| wat::parse_str(format!("(module (func (export \"f\") (result i32) i32.const {i}))")).unwrap())
        .collect();
    let probe = ArtifactCache::new(&engine, Decoder::default(), &CacheConfig::default()).unwrap();
    probe.load(&modules[0]).unwrap();
    let one = probe.stats().memory_bytes;
    // Room for two modules of this size.
    let cache = ArtifactCache::new(
        &engine,
        Decoder::default(),
        &CacheConfig { memory_bytes: 2 * one + one / 2, disk_bytes: 0 },
    )
    .unwrap();
    assert_eq!(cache.load(&modules[0]).unwrap().1, Source::Compiled);
    assert_eq!(cache.load(&modules[1]).unwrap().1, Source::Compiled);
    assert_eq!(cache.load(&modules[0]).unwrap().1, Source::Memory);
    // Module 1 is now the least recently used, so module 2 evicts it.
    assert_eq!(cache.load(&modules[2]).unwrap().1, Source::Compiled);
    assert!(cache.get(&module_hash(&modules[0])).is_some());
    assert!(cache.get(&module_hash(&modules[1])).is_none());
    let s = cache.stats();
    assert_eq!((s.compiled, s.memory_evicted, s.memory_modules), (3, 1, 2));
    assert!(s.memory_bytes <= 2 * one + one / 2);
    // A module bigger than the whole cap is compiled but not kept.
    let tiny =
        ArtifactCache::new(&engine, Decoder::default(), &CacheConfig { memory_bytes: 10, disk_bytes: 0 }).unwrap();
    tiny.load(&modules[3]).unwrap();
    assert_eq!(tiny.stats().memory_modules, 0);
}

fn disk_cache(engine: &Engine, dir: &std::path::Path, config: &CacheConfig) -> ArtifactCache {
    // SAFETY: the directory is this test's own, written only by this test's caches.
    unsafe { ArtifactCache::with_directory(engine, Decoder::default(), config, dir) }.unwrap()
}

fn artifact_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    v.sort();
    v
}

#[test]
fn the_directory_survives_the_process_and_bad_files_are_recompiled() {
    let engine = engine();
    let dir = temp_dir("disk");
    let wasm = wasm();
    let config = CacheConfig { memory_bytes: 0, ..Default::default() };
    let first = disk_cache(&engine, &dir, &config);
    let (m, source) = first.load(&wasm).unwrap();
    assert_eq!(source, Source::Compiled);
    assert_eq!(run(&engine, &m, 5), Value::I32(41));
    let files = artifact_files(&dir);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].file_stem().unwrap().to_str().unwrap(), first.key(&module_hash(&wasm)));
    let good = std::fs::read(&files[0]).unwrap();

    // A new cache (a restarted process) reads it; memory keeps nothing (cap 0), so every
    // load goes to the directory.
    let second = disk_cache(&engine, &dir, &config);
    let (m, source) = second.load(&wasm).unwrap();
    assert_eq!(source, Source::Disk);
    assert_eq!(run(&engine, &m, 5), Value::I32(41));

    // Each kind of damage: detected, counted, recompiled, and the file replaced by a good one.
    let truncated = good[..good.len() / 2].to_vec();
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    let mut version = Artifact::decode(&good).unwrap();
    version.wes_version = "9.9.9".into();
    let mut cpu = Artifact::decode(&good).unwrap();
    cpu.fingerprint.target.push_str(" has_future_feature=1");
    type Case = (&'static str, Vec<u8>, fn(&CacheError) -> bool);
    let cases: [Case; 5] = [
        ("truncated", truncated, |e| {
            matches!(e, CacheError::Artifact(ArtifactError::Truncated { .. } | ArtifactError::Checksum { .. }))
        }),
        ("bit flip", flipped, |e| matches!(e, CacheError::Artifact(ArtifactError::Checksum { .. }))),
        ("empty", Vec::new(), |e| matches!(e, CacheError::Artifact(ArtifactError::NotAnArtifact))),
        ("foreign version", version.encode(), |e| matches!(e, CacheError::Artifact(ArtifactError::Version { .. }))),
        ("foreign CPU", cpu.encode(), |e| matches!(e, CacheError::Artifact(ArtifactError::Target { .. }))),
    ];
    for (i, (what, bytes, expected)) in cases.into_iter().enumerate() {
        std::fs::write(&files[0], &bytes).unwrap();
        let (m, source) = second.load(&wasm).unwrap();
        assert_eq!(source, Source::Compiled, "{what}");
        assert_eq!(run(&engine, &m, 5), Value::I32(41), "{what}");
        let why = second.take_last_rejection().unwrap();
        assert!(expected(&why), "{what}: {why}");
        assert_eq!(second.stats().rejected, i as u64 + 1);
        assert_eq!(std::fs::read(&files[0]).unwrap().len(), good.len(), "{what}: not rewritten");
        assert_eq!(second.load(&wasm).unwrap().1, Source::Disk, "{what}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_wasm_is_an_error_not_a_rejection() {
    let engine = engine();
    let dir = temp_dir("invalid");
    let cache = disk_cache(&engine, &dir, &CacheConfig::default());
    assert!(matches!(cache.load(b"\0asm\x01\0\0\0\x01"), Err(CacheError::Decode(_))));
    assert_eq!(cache.stats().rejected, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_directory_is_capped_least_recently_used_first() {
    let engine = engine();
    let dir = temp_dir("cap");
    let modules: Vec<Vec<u8>> = (0..4)
        .map(|i| wat::parse_str(format!("(module (func (export \"f\") (result i32) i32.const {i}))")).unwrap())
        .collect();
    let probe = disk_cache(&engine, &dir, &CacheConfig::default());
    probe.load(&modules[0]).unwrap();
    let size = std::fs::metadata(&artifact_files(&dir)[0]).unwrap().len();
    std::fs::remove_dir_all(&dir).unwrap();

    // Room for two artifacts.
    let config = CacheConfig { memory_bytes: 0, disk_bytes: 2 * size + size / 2 };
    let cache = disk_cache(&engine, &dir, &config);
    let key = |i: usize| dir.join(format!("{}.cwasm", cache.key(&module_hash(&modules[i]))));
    let age = |i: usize, secs: u64| {
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(secs);
        std::fs::File::options().write(true).open(key(i)).unwrap().set_modified(t).unwrap();
    };
    cache.load(&modules[0]).unwrap();
    age(0, 300);
    cache.load(&modules[1]).unwrap();
    age(1, 200);
    // A hit makes module 0 the most recently used; module 1 is now the oldest.
    assert_eq!(cache.load(&modules[0]).unwrap().1, Source::Disk);
    cache.load(&modules[2]).unwrap();
    assert!(key(0).exists() && key(2).exists());
    assert!(!key(1).exists(), "the least recently used artifact stays");
    assert_eq!(artifact_files(&dir).len(), 2);
    assert_eq!(cache.stats().disk_evicted, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn several_caches_share_one_directory_at_once() {
    // Each cache has its own lock file handles, so they contend exactly as processes do (the
    // CLI's test runs two processes); of the threads loading the same module at once, one
    // compiles and the others load its artifact.
    let engine = engine();
    let dir = temp_dir("shared");
    let wasm = wasm();
    let config = CacheConfig { memory_bytes: 0, ..Default::default() };
    let caches: Vec<ArtifactCache> = (0..4).map(|_| disk_cache(&engine, &dir, &config)).collect();
    let barrier = std::sync::Barrier::new(caches.len());
    let sources: Vec<Source> = std::thread::scope(|s| {
        let handles: Vec<_> = caches
            .iter()
            .map(|c| {
                let (barrier, wasm, engine) = (&barrier, &wasm, &engine);
                s.spawn(move || {
                    barrier.wait();
                    let (m, source) = c.load(wasm).unwrap();
                    assert_eq!(run(engine, &m, 5), Value::I32(41));
                    source
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(sources.iter().filter(|s| **s == Source::Compiled).count(), 1, "{sources:?}");
    assert_eq!(sources.iter().filter(|s| **s == Source::Disk).count(), 3, "{sources:?}");
    assert_eq!(artifact_files(&dir).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_artifact_records_how_its_module_validated_and_a_decoder_of_other_features_validates_again() {
    let engine = engine();
    // The only SIMD is in the body, so only validating the body notices it.
    let simd = wat::parse_str(
        r#"(module (func (export "run") (param i32) (result i32)
             (i32x4.extract_lane 0 (i32x4.splat (local.get 0)))))"#,
    )
    .unwrap();
    let decoder = Decoder::default();
    let module = Module::new(&engine, decoder.decode(&simd).unwrap()).unwrap();
    let bytes = Artifact::new(&engine, &decoder, &module, &simd, true).unwrap().encode();
    let artifact = Artifact::decode(&bytes).unwrap();
    let shapes: Vec<_> = module.compiled().module().bodies.iter().map(|b| b.shape.clone()).collect();
    assert_eq!(artifact.validation.shapes, shapes);
    assert!(!artifact.validation.shapes[0].may_move_memory && artifact.validation.shapes[0].uses_simd);
    assert_eq!(artifact.validation.features, artifact::features_key(&decoder));

    // The decoder that wrote it loads the module the code was compiled from (that it takes
    // the record rather than validating again is the next test's).
    let loaded = load(&engine, &bytes, None).unwrap();
    assert_eq!(loaded.compiled().module(), module.compiled().module());
    assert_eq!(run(&engine, &loaded, 7), Value::I32(7));

    // A decoder without SIMD does not: it validates the body and refuses the module.
    let no_simd = Decoder::new(wes_decode::Features { simd: false, ..wes_decode::Features::default() });
    // SAFETY: written just above by this process.
    match unsafe { artifact::load(&engine, &no_simd, &bytes, None) } {
        Err(CacheError::Decode(wes_decode::DecodeError::FeatureNotEnabled { .. })) => {}
        other => panic!("expected the SIMD body to be refused, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_validation_record_that_does_not_fit_the_module_is_not_taken() {
    let engine = engine();
    let wasm = wasm();
    let compiled = Module::new(&engine, Decoder::default().decode(&wasm).unwrap()).unwrap();
    // Well framed and summed, but a shape short: the full validation decides, and the module
    // has its measured shapes.
    let short = foreign(&engine, |a| {
        a.validation.shapes.pop();
    });
    let loaded = load(&engine, &short, None).unwrap();
    assert_eq!(loaded.compiled().module(), compiled.compiled().module());
    assert_eq!(run(&engine, &loaded, 5), Value::I32(41));
    // A decoder whose limits the recorded shapes break refuses the module as a full decode would.
    let strict =
        Decoder::default().with_limits(wes_decode::Limits { max_operators_per_function: 3, ..Default::default() });
    let bytes = artifact_bytes(&engine, true);
    // SAFETY: written by this process.
    match unsafe { artifact::load(&engine, &strict, &bytes, None) } {
        Err(CacheError::Decode(wes_decode::DecodeError::LimitExceeded {
            limit: wes_decode::Limit::OperatorsPerFunction,
            ..
        })) => {}
        other => panic!("expected the operator limit, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_decoder_of_the_recorded_features_takes_the_shapes_from_the_record() {
    let engine = engine();
    let wasm = wasm();
    let compiled = Module::new(&engine, Decoder::default().decode(&wasm).unwrap()).unwrap();
    let measured = compiled.compiled().module().bodies[0].shape.max_branches_per_label;
    // A record that says something the bodies do not: only a load that reads the record
    // rather than the operators can end up with it.
    let marked = foreign(&engine, |a| a.validation.shapes[0].max_branches_per_label += 1);
    let loaded = load(&engine, &marked, None).unwrap();
    assert_eq!(loaded.compiled().module().bodies[0].shape.max_branches_per_label, measured + 1);
    assert_eq!(run(&engine, &loaded, 5), Value::I32(41));
    // A decoder of other features validates the bodies and measures them itself.
    let other = Decoder::new(wes_decode::Features { tail_call: false, ..wes_decode::Features::default() });
    // SAFETY: written by this process.
    let loaded = unsafe { artifact::load(&engine, &other, &marked, None) }.unwrap();
    assert_eq!(loaded.compiled().module().bodies[0].shape.max_branches_per_label, measured);
}
