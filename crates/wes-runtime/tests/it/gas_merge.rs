//! Merged gas checks are unobservable: the same programs compiled with one check per segment
//! (`merge_gas_checks: false`) and with merged checks agree, at every gas limit from zero to
//! what the call needs, on the outcome, trap code and backtrace, gas, results, memory and
//! globals, and on every request the out-of-gas handler sees; and random `wasm-smith` modules
//! agree at a dozen limits per export (tables included). Gas checks that trap
//! (`resume_out_of_gas: false`, whose fault the runtime replays) agree with checks that call
//! the runtime and resume, merged or not, the same ways.

use std::sync::{Arc, Mutex};

use arbitrary::Unstructured;
use wes_core::Value;

use wes_jit::JitConfig;
use wes_meter::{GasMeter, Pricing};
use wes_runtime::{Caller, Config, Engine, Extern, HostError, Linker, Module, Store};

/// Small programs, each exporting `run` (no parameters), covering the shapes merging touches.
const PROGRAMS: &[(&str, &str)] = &[
    (
        "xorshift",
        r#"(module (memory (export "mem") 1)
          (func (export "run") (result i64)
            (local $n i64) (local $x i64) (local $acc i64)
            (local.set $n (i64.const 12))
            (local.set $x (i64.const 88172645463325252))
            (block $done
              (loop $next
                (br_if $done (i64.eqz (local.get $n)))
                (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
                (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
                (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
                (if (i64.eqz (i64.and (local.get $x) (i64.const 1)))
                  (then (local.set $acc (i64.add (local.get $acc) (local.get $x))))
                  (else (local.set $acc (i64.xor (local.get $acc) (i64.rotl (local.get $x) (i64.const 5))))))
                (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                (i64.store (i32.const 8) (local.get $acc))
                (br $next)))
            (local.get $acc)))"#,
    ),
    (
        "diamond-stores",
        r#"(module (memory (export "mem") 1)
          (func (export "run") (result i32)
            (local $i i32)
            (loop $l
              (if (i32.and (local.get $i) (i32.const 1))
                (then (i32.const 1) drop (i32.store (i32.const 0) (local.get $i)))
                (else (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.const 7))))
              (i32.store8 (i32.add (i32.const 100) (local.get $i)) (local.get $i))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 9))))
            (local.get $i)))"#,
    ),
    (
        "nested-br",
        r#"(module (memory (export "mem") 1) (global $g (export "g") (mut i32) (i32.const 0))
          (func (export "run") (result i32)
            (local $i i32)
            (block $out
              (loop $l
                (block $a
                  (block $b
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $b (i32.and (local.get $i) (i32.const 1)))
                    (i32.store (i32.const 16) (local.get $i))
                    (br $a))
                  (global.set $g (i32.add (global.get $g) (local.get $i)))
                  (br_if $out (i32.gt_u (local.get $i) (i32.const 10)))
                  (nop))
                (block (block (block (nop))))
                (br $l)))
            (global.get $g)))"#,
    ),
    (
        "br-table",
        r#"(module (memory (export "mem") 1)
          (func (export "run") (result i32)
            (local $i i32) (local $s i32)
            (loop $l
              (block $d (block $c (block $b (block $a
                (br_table $a $b $c $d (i32.rem_u (local.get $i) (i32.const 5))))
                (local.set $s (i32.add (local.get $s) (i32.const 1))) (br $d))
                (local.set $s (i32.mul (local.get $s) (i32.const 3))))
                (i32.store (i32.const 4) (local.get $s)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 12))))
            (local.get $s)))"#,
    ),
    (
        "calls",
        r#"(module (import "host" "work" (func $work (param i32) (result i32)))
          (memory (export "mem") 1) (global $g (export "g") (mut i64) (i64.const 0))
          (type $t (func (param i32) (result i32)))
          (table 2 funcref) (elem (i32.const 0) $f $h)
          (func $f (param i32) (result i32)
            (global.set $g (i64.add (global.get $g) (i64.extend_i32_u (local.get 0))))
            (if (result i32) (local.get 0) (then (i32.add (local.get 0) (i32.const 1))) (else (i32.const 0))))
          (func $h (param i32) (result i32) (call $work (local.get 0)))
          (func (export "run") (result i32)
            (local $i i32) (local $s i32)
            (loop $l
              (local.set $s (i32.add (local.get $s) (call $f (local.get $i))))
              (local.set $s (i32.add (local.get $s)
                (call_indirect (type $t) (local.get $i) (i32.and (local.get $i) (i32.const 1)))))
              (i32.store (i32.const 0) (local.get $s))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 6))))
            (local.get $s)))"#,
    ),
    (
        "memory-fill",
        r#"(module (memory (export "mem") 1)
          (func (export "run")
            (local $i i32)
            (loop $l
              (block (nop))
              (memory.fill (i32.mul (local.get $i) (i32.const 16)) (i32.add (local.get $i) (i32.const 1))
                (i32.add (local.get $i) (i32.const 3)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 5))))))"#,
    ),
    (
        "global-loop",
        r#"(module (global $g (export "g") (mut i32) (i32.const 0)) (global $h (export "h") (mut f64) (f64.const 0))
          (func (export "run")
            (loop $l
              (block (block (nop)))
              (global.set $h (f64.add (global.get $h) (f64.convert_i32_s (global.get $g))))
              (global.set $g (i32.add (global.get $g) (i32.const 1)))
              (br_if $l (i32.lt_s (global.get $g) (i32.const 8))))))"#,
    ),
    (
        "div-trap",
        r#"(module (memory (export "mem") 1)
          (func (export "run") (result i32)
            (local $i i32)
            (local.set $i (i32.const 4))
            (loop $l
              (i32.store (i32.const 0) (local.get $i))
              (block (block (nop)))
              (drop (i32.div_u (i32.const 100) (local.get $i)))
              (local.set $i (i32.sub (local.get $i) (i32.const 1)))
              (br $l))
            (i32.const 0)))"#,
    ),
    (
        "unreachable-after-pure",
        r#"(module (global $g (export "g") (mut i32) (i32.const 0))
          (func (export "run")
            (global.set $g (i32.const 5))
            (block (block (loop (nop))))
            (i32.const 1) drop
            (block (nop))
            unreachable))"#,
    ),
    (
        "floats",
        r#"(module (memory (export "mem") 1)
          (func (export "run") (result f64)
            (local $x f64) (local $i i32)
            (local.set $x (f64.const 1.5))
            (loop $l
              (local.set $x (f64.add (f64.sqrt (local.get $x)) (f64.convert_i32_u (local.get $i))))
              (block (local.set $x (select (local.get $x) (f64.neg (local.get $x)) (local.get $i))))
              (i32.store (i32.const 32) (i32.trunc_sat_f64_s (local.get $x)))
              (f64.store (i32.const 40) (local.get $x))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 7))))
            (local.get $x)))"#,
    ),
    (
        "early-return",
        r#"(module (memory (export "mem") 1)
          (func $g (param i32) (result i32)
            (block (block (br_if 1 (local.get 0))))
            (if (i32.eqz (local.get 0)) (then (return (i32.const 9))))
            (i32.store (i32.const 12) (local.get 0))
            (local.get 0))
          (func (export "run") (result i32)
            (i32.add (call $g (i32.const 0)) (i32.add (call $g (i32.const 3)) (call $g (i32.const 0))))))"#,
    ),
    (
        "load-oob-at-end-of-chain",
        r#"(module (memory (export "mem") 1)
          (func (export "run") (result i32)
            (local $p i32)
            (local.set $p (i32.const 65520))
            (loop $l
              (block (nop))
              (i32.store (local.get $p) (i32.load (local.get $p)))
              (local.set $p (i32.add (local.get $p) (i32.const 4)))
              (br $l))
            (i32.const 0)))"#,
    ),
];

fn engine(pricing: &Arc<Pricing>, merge: bool, resume: bool) -> Engine {
    let jit = JitConfig { merge_gas_checks: merge, resume_out_of_gas: resume, ..JitConfig::default() };
    crate::metered_engine(pricing, jit, Config::default())
}

/// Everything observable about one call.
#[derive(Debug, PartialEq)]
struct Observed {
    result: String,
    consumed: u64,
    limit: u64,
    handler_requests: Vec<u64>,
    /// Per exported memory: its size and every non-zero byte as `(address, value)`.
    memories: Vec<(usize, Vec<(usize, u8)>)>,
    globals: Vec<String>,
}

/// How the out-of-gas handler behaves: tops up by `step` for its first `grants` requests,
/// then declines. `None`: no handler.
type Handler = Option<(u64, usize)>;

fn observe(module: &Module, engine: &Engine, limit: u64, handler: Handler) -> Observed {
    let mut linker = Linker::new();
    linker.func_wrap("host", "work", |c: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> {
        c.charge_gas(5)?;
        Ok(x.wrapping_mul(7))
    });
    let mut store = Store::new(engine);
    let instance = linker.instantiate(&mut store, module).unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    if let Some((step, grants)) = handler {
        let seen = requests.clone();
        store
            .set_out_of_gas_handler(move |meter: &mut dyn GasMeter, needed| {
                let mut seen = seen.lock().unwrap();
                seen.push(needed);
                if seen.len() > grants {
                    return false;
                }
                meter.add_gas(step);
                true
            })
            .unwrap();
    }
    let f = instance.get_func(&store, "run").unwrap();
    let r = f.call_with_gas(&mut store, &[], limit);
    let mut memories = Vec::new();
    let mut globals = Vec::new();
    for (name, ext) in instance.exports(&store) {
        match ext {
            Extern::Memory(m) => {
                let data = m.data(&store).unwrap();
                memories.push((data.len(), data.iter().copied().enumerate().filter(|(_, b)| *b != 0).collect()));
            }
            Extern::Global(g) => globals.push(format!("{name} = {:?}", g.get(&store).unwrap())),
            _ => {}
        }
    }
    let handler_requests = requests.lock().unwrap().clone();
    Observed {
        result: format!("{:?}", r.result),
        consumed: r.gas.consumed,
        limit: r.gas.limit,
        handler_requests,
        memories,
        globals,
    }
}

/// The gas an uninterrupted call of `run` needs (the limit is generous).
fn requirement(module: &Module, engine: &Engine) -> u64 {
    observe(module, engine, 1 << 40, None).consumed
}

#[test]
fn merged_and_trapping_checks_agree_with_one_check_per_segment_at_every_limit() {
    let pricing = Arc::new(Pricing::default());
    // The reference: one check per segment, each calling the runtime when short.
    let plain = engine(&pricing, false, true);
    let others = [
        ("merged", engine(&pricing, true, true)),
        ("trapping", engine(&pricing, false, false)),
        ("merged trapping", engine(&pricing, true, false)),
    ];
    for (name, wat) in PROGRAMS {
        let parsed = wes_decode::decode_text(wat).unwrap();
        let a = Module::new(&plain, parsed.clone()).unwrap();
        let need = requirement(&a, &plain);
        assert!(need > 10 && need < 5_000, "{name}: keep the programs small ({need})");
        for (how, other) in &others {
            let b = Module::new(other, parsed.clone()).unwrap();
            let mut traps = 0;
            for limit in 0..=need + 1 {
                let x = observe(&a, &plain, limit, None);
                let y = observe(&b, other, limit, None);
                assert_eq!(x, y, "{name}, {how}, at limit {limit}");
                traps += usize::from(x.result.contains("OutOfGas"));
            }
            assert!(traps > 0, "{name}: some limits run out of gas");
        }
    }
}

#[test]
fn the_out_of_gas_handler_sees_the_same_requests() {
    let pricing = Arc::new(Pricing::default());
    let (plain, merged) = (engine(&pricing, false, true), engine(&pricing, true, true));
    for (name, wat) in PROGRAMS {
        let parsed = wes_decode::decode_text(wat).unwrap();
        let a = Module::new(&plain, parsed.clone()).unwrap();
        let b = Module::new(&merged, parsed).unwrap();
        let need = requirement(&a, &plain);
        for step in [1, 3, 10] {
            for grants in [0, 1, 4, 25, usize::MAX] {
                for limit in [0, 5, 17] {
                    let handler = Some((step, grants));
                    let x = observe(&a, &plain, limit, handler);
                    let y = observe(&b, &merged, limit, handler);
                    assert_eq!(x, y, "{name}: step {step}, {grants} grants, limit {limit}");
                    assert!(limit >= need || !x.handler_requests.is_empty(), "{name}: the handler is asked");
                }
            }
        }
    }
}

/// A value as it can be compared across stores: references only by nullness.
fn portable(v: &Value) -> String {
    match v {
        Value::FuncRef(r) => format!("funcref(non-null: {})", r.is_some()),
        Value::ExternRef(r) => format!("externref(non-null: {})", r.is_some()),
        v => format!("{v:?}"),
    }
}

/// Instantiates `module` in a fresh store and calls export `name` with default arguments and a
/// gas limit of `limit`: everything observable, or `None` when instantiation fails.
fn observe_export(module: &Module, engine: &Engine, name: &str, limit: u64) -> Option<Observed> {
    let mut store = Store::new(engine);
    let instance = Linker::new().instantiate(&mut store, module).ok()?;
    let f = instance.get_func(&store, name)?;
    let args: Vec<Value> = f.ty(&store).unwrap().params().iter().map(|t| Value::default_for(*t)).collect();
    let r = f.call_with_gas(&mut store, &args, limit);
    let result = match &r.result {
        Ok(values) => format!("ok {:?}", values.iter().map(portable).collect::<Vec<_>>()),
        Err(e) => match e.as_trap() {
            Some(t) => format!("trap {:?} at {:?}", t.code, t.backtrace),
            None => format!("error {e}"),
        },
    };
    let mut memories = Vec::new();
    let mut globals = Vec::new();
    for (export, ext) in instance.exports(&store) {
        match ext {
            Extern::Memory(m) => {
                let data = m.data(&store).unwrap();
                memories.push((data.len(), data.iter().copied().enumerate().filter(|(_, b)| *b != 0).collect()));
            }
            Extern::Global(g) => globals.push(format!("{export} = {}", portable(&g.get(&store).unwrap()))),
            Extern::Table(t) => {
                let size = t.size(&store).unwrap();
                let entries: Vec<String> =
                    (0..size).map(|i| t.get(&store, i).unwrap().map_or("-".into(), |v| portable(&v))).collect();
                globals.push(format!("{export} = table {entries:?}"));
            }
            Extern::Func(_) => {}
        }
    }
    Some(Observed {
        result,
        consumed: r.gas.consumed,
        limit: r.gas.limit,
        handler_requests: Vec::new(),
        memories,
        globals,
    })
}

#[test]
fn random_modules_agree_merged_and_unmerged_at_many_limits() {
    let pricing = Arc::new(Pricing::default());
    let (plain, merged) = (engine(&pricing, false, true), engine(&pricing, true, true));
    let trapping = engine(&pricing, true, false);
    let smith = crate::smith::smith_config();
    let mut rng = fastrand::Rng::with_seed(0x6a5);
    let (mut modules, mut calls, mut out_of_gas) = (0, 0, 0);
    for _ in 0..60 {
        let len = rng.usize(1024..8192);
        let seed: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
        let Ok(mut m) = wasm_smith::Module::new(smith.clone(), &mut Unstructured::new(&seed)) else { continue };
        if m.ensure_termination(2_000).is_err() {
            continue;
        }
        let Ok(decoded) = wes_decode::decode(&m.to_bytes()) else { continue };
        let a = Module::new(&plain, decoded.clone()).unwrap();
        let b = Module::new(&merged, decoded.clone()).unwrap();
        let c = Module::new(&trapping, decoded).unwrap();
        modules += 1;
        let mut store = Store::new(&plain);
        let Ok(instance) = Linker::new().instantiate(&mut store, &a) else { continue };
        let names: Vec<String> = instance
            .exports(&store)
            .into_iter()
            .filter_map(|(n, e)| matches!(e, Extern::Func(_)).then_some(n))
            .collect();
        for name in names {
            let Some(full) = observe_export(&a, &plain, &name, 1 << 40) else { continue };
            let need = full.consumed;
            let mut limits = vec![0, 1, need / 2, need.saturating_sub(1), need, need + 1];
            limits.extend((0..6).map(|_| rng.u64(0..=need)));
            for limit in limits {
                let x = observe_export(&a, &plain, &name, limit);
                let y = observe_export(&b, &merged, &name, limit);
                assert_eq!(x, y, "export {name} at limit {limit} (needs {need})");
                let z = observe_export(&c, &trapping, &name, limit);
                assert_eq!(x, z, "trapping: export {name} at limit {limit} (needs {need})");
                calls += 1;
                out_of_gas += usize::from(x.is_some_and(|o| o.result.contains("OutOfGas")));
            }
        }
    }
    eprintln!("{modules} modules, {calls} calls, {out_of_gas} out of gas");
    assert!(
        modules > 40 && calls > 500 && out_of_gas > 200,
        "{modules} modules, {calls} calls, {out_of_gas} out of gas"
    );
}
