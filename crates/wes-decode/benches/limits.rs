//! What the static limits cost: decoding (validation included) of a generated module of about
//! 100 KB and 1 MB, without limits and with every limit set (so every body is scanned
//! operator by operator alongside the validator).
//!
//! Before Criterion's groups, `decode/interleaved` prints the two decoders alternated decode by
//! decode, their medians and the median of the per-pair ratios: Criterion's groups, run
//! seconds apart on a shared machine, disagreed by ±30 % on the unlimited decode alone, far
//! more than the limits cost.
//!
//! `cargo bench -p wes-decode --bench limits`
#![allow(clippy::panic, reason = "a benchmark whose setup fails has nothing to measure")]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wes_decode::{Decoder, Limits};

/// A module of `funcs` functions shaped like compiled contract code: locals, nested blocks, a
/// loop, arithmetic, memory traffic, a `br_table` and calls. Deterministic.
fn module(funcs: usize) -> Vec<u8> {
    let mut wat = String::from("(module (memory 1) (table 4 funcref)\n");
    for f in 0..funcs {
        wat.push_str(&format!("(func $f{f} (param i32 i32) (result i32) (local i32 i64 i32)\n"));
        for round in 0..6 {
            let k = (f * 7 + round) % 13;
            wat.push_str(&format!(
                "(block $out (loop $l
                   local.get 0 i32.const {k} i32.add local.tee 2
                   i32.load offset={o} local.get 1 i32.mul i32.const {k} i32.xor
                   local.get 2 i32.store
                   local.get 3 i64.const 1 i64.add local.set 3
                   (block (block (block (block
                     local.get 2 i32.const 3 i32.and
                     br_table 0 1 2 3 0 1 2 3)
                     local.get 4 i32.const 1 i32.add local.set 4)
                     local.get 4 i32.const 2 i32.shl local.set 4)
                     local.get 4 i32.const 5 i32.rotl local.set 4)
                   local.get 4 i32.const {k} i32.lt_u br_if $out
                   local.get 0 i32.const 1 i32.sub local.tee 0 br_if $l))\n",
                o = k * 4
            ));
        }
        if f > 0 {
            wat.push_str(&format!("local.get 0 local.get 1 call $f{} drop\n", f - 1));
        }
        wat.push_str("local.get 4)\n");
    }
    wat.push(')');
    wat::parse_str(&wat).unwrap_or_else(|e| panic!("generated module does not parse: {e}"))
}

/// Every limit set, generous enough that the module passes.
fn all_limits() -> Limits {
    Limits {
        max_module_bytes: 16 << 20,
        max_types: 10_000,
        max_functions: 100_000,
        max_imports: 1_000,
        max_exports: 1_000,
        max_globals: 1_000,
        max_tables: 10,
        max_memories: 1,
        max_data_segments: 1_000,
        max_element_segments: 1_000,
        max_locals_per_function: 1_000,
        max_params: 100,
        max_results: 10,
        max_body_bytes: 1 << 20,
        max_operators_per_function: 100_000,
        max_nesting_depth: 256,
        max_br_table_targets: 1_024,
        max_memory_pages: 1_024,
        max_table_elements: 10_000,
        max_custom_section_bytes: 1 << 20,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    // About 660 bytes per function.
    for (label, funcs) in [("100KB", 155), ("1MB", 1_590)] {
        let bytes = module(funcs);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        let plain = Decoder::default();
        let limited = Decoder::default().with_limits(all_limits());
        assert!(limited.decode(&bytes).is_ok(), "the bench module must pass the limits");
        interleaved(label, &bytes, &plain, &limited);
        group.bench_with_input(BenchmarkId::new("unlimited", label), &bytes, |b, bytes| {
            b.iter(|| plain.decode(bytes).map(drop))
        });
        group.bench_with_input(BenchmarkId::new("all-limits", label), &bytes, |b, bytes| {
            b.iter(|| limited.decode(bytes).map(drop))
        });
    }
    group.finish();
}

/// The unlimited and the limited decoder alternated, pair after pair, so that load from
/// elsewhere falls on both alike: per-decode medians, their difference per 100 KB, and the
/// median ratio of the pairs, printed.
fn interleaved(label: &str, bytes: &[u8], plain: &Decoder, limited: &Decoder) {
    let pairs = (40_000_000 / bytes.len()).clamp(20, 400);
    let (mut a, mut b, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..pairs {
        let t = std::time::Instant::now();
        let ok = plain.decode(bytes).is_ok();
        let x = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let ok = ok && limited.decode(bytes).is_ok();
        let y = t.elapsed().as_secs_f64();
        assert!(ok, "the bench module must decode");
        a.push(x);
        b.push(y);
        ratio.push(y / x);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (x, y, r) = (median(&mut a), median(&mut b), median(&mut ratio));
    let per_100kb = (y - x) * 1e3 * 100_000.0 / bytes.len() as f64;
    println!(
        "decode/interleaved/{label}: unlimited {:.3} ms, all limits {:.3} ms (median of {pairs} pairs); \
         limits {per_100kb:+.3} ms per 100 KB; median ratio {r:.3}",
        x * 1e3,
        y * 1e3
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
