//! The differential corpus: 2,000 modules from fixed seeds, each compared on the reference
//! engine and two others in rotation (`wes_difftest::rotation`: one interpreter, one other JIT;
//! compiling every module on every engine would not fit the debug-build time budget), with no
//! divergence allowed and coverage asserted, so the test cannot pass by exercising nothing.

use wes_difftest::{Divergence, Summary, compare_seed, rotation, standard_engines};
use wes_runtime::Engine;

/// How many modules the corpus generates.
const MODULES: usize = 2_000;

/// The seed bytes of module `i`: a fixed function of `i`, so a divergence names its module by
/// number and reproduces alone.
fn seed(i: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(0xd1ff_7e57 ^ i as u64);
    let len = rng.usize(256..4096);
    std::iter::repeat_with(|| rng.u8(..)).take(len).collect()
}

fn run(range: impl Iterator<Item = usize>, all: &[(&str, Engine)]) -> (Summary, Vec<(usize, Box<Divergence>)>) {
    let mut total = Summary::default();
    let mut divergences = Vec::new();
    for i in range {
        match compare_seed(&seed(i), &rotation(i, all)) {
            Ok(summary) => total.add(&summary),
            Err(d) => divergences.push((i, d)),
        }
    }
    (total, divergences)
}

#[test]
fn generated_modules_agree_on_every_engine() {
    let all = &standard_engines().unwrap();
    assert!(all.len() >= 3, "a reference and at least two engines to compare it with");
    assert!(all.iter().any(|(name, _)| name.starts_with("interp")), "the interpreter is compared with the JIT");
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers).map(|w| s.spawn(move || run((w..MODULES).step_by(workers), all))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = Summary::default();
    let mut divergences = Vec::new();
    for (summary, d) in results {
        total.add(&summary);
        divergences.extend(d);
    }
    eprintln!("{total:#?}");
    for (i, d) in &divergences {
        eprintln!("module #{i}: {d}");
    }
    assert!(divergences.is_empty(), "{} divergences", divergences.len());
    assert_eq!(total.modules, MODULES as u64, "{total:?}");
    // Coverage: most modules must get as far as calls, and every kind of outcome must occur.
    let m = total.modules;
    assert!(total.compiled * 100 >= m * 95, "most modules compile: {total:?}");
    assert!(total.instantiated * 100 >= m * 80, "most modules instantiate: {total:?}");
    assert!(total.calls >= 2 * m, "{total:?}");
    assert!(total.returned * 5 >= total.calls, "a fifth of the calls return: {total:?}");
    // `HostError`: a host function refused its arguments (`wes_difftest::host_linker`).
    for code in ["Unreachable", "MemoryOutOfBounds", "CallStackExhausted", "IntegerOverflow", "HostError"] {
        assert!(total.trap_count(code) >= 10, "{code}: {total:?}");
    }
    assert!(total.tight_runs >= 4 * total.calls && total.tight_out_of_gas * 2 >= total.tight_runs, "{total:?}");
    assert!(total.unmetered_calls * 100 >= total.calls * 45, "{total:?}");
    assert!(total.pairs_compared >= 2 * m, "{total:?}");
    assert!(total.simd_modules * 4 >= m, "{total:?}");
    assert!(total.tail_call_modules * 10 >= m, "{total:?}");
    assert!(total.table_modules * 4 >= m, "{total:?}");
    assert!(total.host_import_modules * 4 >= m, "{total:?}");
    assert!(total.reference_type_modules * 10 >= m, "{total:?}");
    assert!(total.bulk_memory_modules * 10 >= m, "{total:?}");
}
