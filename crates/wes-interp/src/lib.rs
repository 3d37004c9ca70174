//! The WES interpreter: a [`Backend`](wes_core::Backend) that runs validated wasm without
//! generating native code.
//!
//! It serves what a JIT cannot: a module ready to run in microseconds, hosts the JIT does not
//! support, and an independent implementation to test the JIT against call by call. Results,
//! traps and gas are those of the JIT by construction: gas is charged per
//! `wes_meter::function_segments` segment, and everything an instance owns is reached through
//! the same vmctx layout (`wes_core::vm`) and runtime libcalls.
//!
//! ```text
//!   Module ──compile──▶ InterpModule { records: [FuncRecord; defined functions] }
//!                         FuncRecord { shared, defined_index, code: OnceLock<Code> }
//!   runtime ──array call──▶ exec::interp_entry(function context {vmctx, &FuncRecord}, ..)
//! ```
//!
//! Every defined function has one `FuncRecord`; its address is the `data` of the function's
//! [`FuncEntry`], so the one entry point, `exec::interp_entry`, learns from the function
//! context the runtime passes which instance and which function it runs. A body is translated
//! (`translate`) to the internal form (`code`) on its first call, or at compile time with
//! [`InterpConfig::eager`]. Execution (`exec`) is one loop with an explicit frame stack:
//! calls and tail calls between interpreted functions, of any instance, never recurse
//! natively; only calls to native code (JIT functions, host functions) nest a native call.

mod code;
mod exec;
mod num;
mod simd;
mod translate;

use std::sync::{Arc, OnceLock};

use wes_core::backend::CompiledModule;
use wes_core::{CompileError, FuncEntry, Module};
use wes_meter::Pricing;

use crate::code::Code;

/// How an [`Interpreter`] runs code.
#[derive(Clone, Debug)]
pub struct InterpConfig {
    /// Charge gas under this pricing: every straight-line segment is paid for before it runs,
    /// exactly as the JIT compiled under the same pricing does. `None`: unmetered.
    pub pricing: Option<Arc<Pricing>>,
    /// Canonicalise the NaNs of exactly the float operators the JIT canonicalises (default on),
    /// so float results are bit-identical on every host and backend.
    pub nan_canonicalization: bool,
    /// Translate every function at compile time instead of on its first call (default off).
    pub eager: bool,
    /// When not [`eager`](Self::eager): also translate the module's functions ahead of their
    /// first call, on background threads (all of [`threads`](Self::threads) but the caller's),
    /// while the caller runs (default off). A call never waits for more than the one function
    /// it needs, as with plain lazy translation; the others use cores that would be idle. The
    /// threads stop when the module is dropped. Costs the memory of eager translation.
    pub ahead: bool,
    /// Threads translating one module's functions when [`eager`](Self::eager) or
    /// [`ahead`](Self::ahead); 0 (the default) is one per core. The translations do not
    /// depend on each other, so the result is the same on any number.
    pub threads: usize,
    /// Count the wasm operators executed into the store context's counter
    /// (`wes_core::vm::STORE_OPERATORS`), per segment when it is charged, exactly as the JIT
    /// with `count_operators` does (default off).
    pub count_operators: bool,
    /// Let one check pay for several segments where no one can tell the difference
    /// (`wes_meter::ChargePlan::merged`, the JIT's `merge_gas_checks`; default on). Gas,
    /// out-of-gas requests, operator counts and trap offsets are the same either way.
    pub merge_gas_checks: bool,
}

impl Default for InterpConfig {
    fn default() -> Self {
        InterpConfig {
            pricing: None,
            nan_canonicalization: true,
            eager: false,
            ahead: false,
            threads: 0,
            count_operators: false,
            merge_gas_checks: true,
        }
    }
}

/// The interpreter backend.
#[derive(Debug, Default)]
pub struct Interpreter {
    config: InterpConfig,
}

impl Interpreter {
    /// An interpreter with `config`.
    pub fn new(config: InterpConfig) -> Interpreter {
        Interpreter { config }
    }

    /// Its configuration.
    pub fn config(&self) -> &InterpConfig {
        &self.config
    }
}

/// What every function record of one compiled module shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) module: Arc<Module>,
    /// What segments are cut and priced under: the pricing when metered; when only counting
    /// operators, the default (the costs are not charged).
    pub(crate) segment_pricing: Option<Arc<Pricing>>,
    pub(crate) metered: bool,
    pub(crate) count_operators: bool,
    pub(crate) merge_gas_checks: bool,
    pub(crate) nan_canonicalization: bool,
    /// Per type of the module, what a call of native code with that signature moves: worked
    /// out once here rather than on every call of a host function.
    pub(crate) native_sigs: Box<[NativeSig]>,
}

/// What an array call of one signature moves between the operand stack and the slots.
#[derive(Debug)]
pub(crate) struct NativeSig {
    /// Operand cells the parameters take.
    pub(crate) param_cells: u32,
    /// Operand cells the results take.
    pub(crate) result_cells: u32,
    /// Slots the call's buffer needs: the more of parameters and results, at least one.
    pub(crate) slots: u32,
    /// Every parameter and result takes one cell (no `v128`): each slot is then its cell.
    pub(crate) scalar: bool,
}

impl NativeSig {
    pub(crate) fn new(ty: &wes_core::FuncType) -> NativeSig {
        let cells = |tys: &[wes_core::ValType]| tys.iter().map(|t| code::cells(*t)).sum::<u32>();
        let (params, results) = (ty.params(), ty.results());
        NativeSig {
            param_cells: cells(params),
            result_cells: cells(results),
            slots: params.len().max(results.len()).max(1) as u32,
            scalar: params.iter().chain(results).all(|t| *t != wes_core::ValType::V128),
        }
    }
}

/// One defined function: what the runtime's function context points to.
#[derive(Debug)]
pub(crate) struct FuncRecord {
    pub(crate) shared: Arc<Shared>,
    pub(crate) defined_index: u32,
    code: OnceLock<Result<Code, CompileError>>,
}

impl FuncRecord {
    /// The function's internal form, translated on first use. Every call between interpreted
    /// functions asks, so the translated case is inline and the translation out of line.
    #[inline]
    pub(crate) fn code(&self) -> Result<&Code, &CompileError> {
        match self.code.get() {
            Some(code) => code.as_ref(),
            None => self.translate(),
        }
    }

    #[cold]
    #[inline(never)]
    fn translate(&self) -> Result<&Code, &CompileError> {
        self.code.get_or_init(|| translate::translate(&self.shared.module, self.defined_index, &self.shared)).as_ref()
    }

    pub(crate) fn func_index(&self) -> u32 {
        self.shared.module.num_imported_functions + self.defined_index
    }
}

impl wes_core::Backend for Interpreter {
    fn name(&self) -> &'static str {
        "interp"
    }

    fn compile(&self, module: Arc<Module>) -> Result<Arc<dyn CompiledModule>, CompileError> {
        Ok(self.compile_records(module)?)
    }
}

/// The compile workload's small functions translate in about 6 µs each: below a few dozen a
/// thread would save little or nothing, so small modules (most of the spec suite's) translate
/// on the calling thread alone.
const FUNCS_PER_THREAD: usize = 32;

impl Interpreter {
    /// [`Backend::compile`](wes_core::Backend::compile), typed.
    fn compile_records(&self, module: Arc<Module>) -> Result<Arc<InterpModule>, CompileError> {
        translate::check_module(&module)?;
        let shared = Arc::new(Shared {
            module: Arc::clone(&module),
            segment_pricing: match &self.config.pricing {
                Some(p) => Some(Arc::clone(p)),
                None if self.config.count_operators => Some(Arc::new(Pricing::default())),
                None => None,
            },
            metered: self.config.pricing.is_some(),
            count_operators: self.config.count_operators,
            merge_gas_checks: self.config.merge_gas_checks,
            nan_canonicalization: self.config.nan_canonicalization,
            native_sigs: module.types.iter().map(NativeSig::new).collect(),
        });
        let records: Box<[FuncRecord]> = (0..module.bodies.len() as u32)
            .map(|defined_index| FuncRecord { shared: Arc::clone(&shared), defined_index, code: OnceLock::new() })
            .collect();
        if self.config.eager {
            self.translate_all(&records);
        }
        // In index order, so the error reported is the first function's whichever thread met it.
        for r in records.iter() {
            if self.config.eager {
                r.code().map_err(Clone::clone)?;
            } else {
                // Lazy: what translation could refuse is found now, cheaply, so a module is
                // refused at compile time exactly when eager translation would refuse it.
                translate::check_body(&module, r.defined_index)?;
            }
        }
        let pricing_hash = self.config.pricing.as_ref().map(|p| p.hash());
        let counts_operators = self.config.count_operators;
        let compiled = Arc::new(InterpModule { module, records, pricing_hash, counts_operators });
        if self.config.ahead && !self.config.eager {
            self.translate_ahead(&compiled);
        }
        Ok(compiled)
    }

    /// Translates every record, on [`InterpConfig::threads`] threads taking functions in turn
    /// (each record keeps its own result, error included).
    fn translate_all(&self, records: &[FuncRecord]) {
        wes_core::parallel::for_each_index(
            records.len(),
            self.config.threads,
            FUNCS_PER_THREAD,
            || (),
            |(), i| {
                // The result stays in the record; `compile` reads it back in order.
                if let Some(r) = records.get(i) {
                    let _ = r.code();
                }
            },
        );
    }

    /// Starts the threads of [`InterpConfig::ahead`]: each takes the next untranslated
    /// function, from the last to the first, and translates it into its record, the one place
    /// a call would have put it. They hold the module only weakly between functions, so
    /// dropping it stops them within one translation; a thread that cannot be started leaves
    /// the work to the calls.
    fn translate_ahead(&self, compiled: &Arc<InterpModule>) {
        let n = compiled.records.len();
        let threads = wes_core::parallel::resolve(self.config.threads);
        let helpers = threads.saturating_sub(1).min(n / FUNCS_PER_THREAD);
        if helpers == 0 {
            return;
        }
        // Counting down: a caller reaching functions in index order (as the harness's
        // workloads and most call chains from an early export do) meets the helpers in the
        // middle instead of waiting on the function a helper has just taken.
        let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..helpers {
            let module = Arc::downgrade(compiled);
            let taken = Arc::clone(&taken);
            let spawned = std::thread::Builder::new().name("wes-interp-ahead".into()).spawn(move || {
                loop {
                    let Some(module) = module.upgrade() else { return };
                    let i = taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(record) =
                        i.checked_add(1).and_then(|k| n.checked_sub(k)).and_then(|k| module.records.get(k))
                    else {
                        return;
                    };
                    // The result (an error included) stays in the record for the call that
                    // needs it; an error is the one that call would have met.
                    let _ = record.code();
                }
            });
            if spawned.is_err() {
                return;
            }
        }
    }
}

/// A module compiled by the [`Interpreter`]: one record per defined function.
#[derive(Debug)]
struct InterpModule {
    module: Arc<Module>,
    records: Box<[FuncRecord]>,
    pricing_hash: Option<[u8; 32]>,
    counts_operators: bool,
}

impl CompiledModule for InterpModule {
    fn module(&self) -> &Arc<Module> {
        &self.module
    }

    fn entry(&self, defined_index: u32) -> Option<FuncEntry> {
        let record = self.records.get(defined_index as usize)?;
        // The records never move: they live in a boxed slice as long as this module.
        Some(FuncEntry::with_data(exec::interp_entry, (record as *const FuncRecord).cast()))
    }

    fn max_frame_size(&self) -> usize {
        exec::MAX_NATIVE_FRAME
    }

    fn pricing_hash(&self) -> Option<[u8; 32]> {
        self.pricing_hash
    }

    fn counts_operators(&self) -> bool {
        self.counts_operators
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap fails the test")]

    use std::sync::Arc;

    use wes_core::Value;
    use wes_runtime::{Caller, Engine, HostError, Linker, Module, Store};

    use super::*;
    use crate::exec::probe;

    const WAT: &str = r#"(module
      (import "env" "leaf" (func $leaf))
      (import "env" "again" (func $again (param i32) (result i32)))
      (func $rec (export "rec") (param i32)
        (if (i32.eqz (local.get 0)) (then (call $leaf)) (else (call $rec (i32.sub (local.get 0) (i32.const 1))))))
      (func (export "down") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
          (else (i32.add (i32.const 1) (call $again (i32.sub (local.get 0) (i32.const 1))))))))"#;

    /// The deepest native stack one nesting of the interpreter used while `name(arg)` ran.
    fn deepest(name: &str, arg: i32) -> usize {
        let engine = Engine::new(wes_runtime::Config::default(), Arc::new(Interpreter::default()));
        let m = Module::new(&engine, wes_decode::decode_text(WAT).unwrap()).unwrap();
        let mut linker = Linker::new();
        linker.func_wrap("env", "leaf", |_: &mut Caller<'_>, (): ()| -> Result<(), HostError> { Ok(()) });
        linker.func_wrap("env", "again", |c: &mut Caller<'_>, (n,): (i32,)| -> Result<i32, HostError> {
            let f = c.get_func("down").ok_or_else(|| HostError::new("no down"))?;
            let r = c.call(f, &[Value::I32(n)])?;
            r.first().and_then(Value::as_i32).ok_or_else(|| HostError::new("no result"))
        });
        let mut store = Store::new(&engine);
        let i = linker.instantiate(&mut store, &m).unwrap();
        probe::DEEPEST.with(|d| d.set(0));
        let f = i.get_func(&store, name).unwrap();
        f.call(&mut store, &[Value::I32(arg)]).unwrap();
        probe::DEEPEST.with(std::cell::Cell::get)
    }

    /// What `max_frame_size` claims holds: one nesting (entry, loop, native call) stays within
    /// it, and wasm calls between interpreted functions take no native stack at all.
    #[test]
    fn frame_bound() {
        let shallow = deepest("rec", 1);
        let deep = deepest("rec", 2000);
        assert_eq!(shallow, deep, "interpreted calls must not recurse natively");
        let reentry = deepest("down", 7);
        eprintln!("native stack per interpreter nesting: {shallow} bytes (host re-entry chain: {reentry})");
        assert!(shallow > 0 && reentry > 0);
        // Room for what the probe cannot see: the entry's return address and saved registers,
        // and the call's own return address.
        assert!(shallow.max(reentry) + 512 <= exec::MAX_NATIVE_FRAME, "{shallow} {reentry}");
    }

    /// A loop whose body runs every kind of threaded handler (slot arithmetic of both forms,
    /// fused compares, every branch form, a branch keeping two cells, loads and stores of
    /// every form, copies, constants, `select`, a call and both ways of returning, charges
    /// when metered) without a return to the loop, `n` turns.
    const CHAIN: &str = r#"(module
      (memory 1)
      (global $g (mut i32) (i32.const 0))
      (global $h (mut i64) (i64.const 0))
      (func (export "spin") (param $n i32) (result i64)
        (local $i i32) (local $x i64) (local $f f64) (local $y i32)
        (loop $top
          (global.set $g (i32.sub (global.get $g) (i32.const 16)))
          (global.set $h (i64.add (global.get $h) (i64.extend_i32_u (global.get $g))))
          (local.set $x (i64.add (local.get $x) (global.get $h)))
          (local.set $x (i64.add (local.get $x) (i64.extend_i32_u (local.get $i))))
          (local.set $x (i64.xor (local.get $x) (i64.const 0x9e37)))
          (local.set $f (f64.add (local.get $f) (f64.const 1.5)))
          (i32.store (i32.const 16) (local.get $i))
          (i64.store (i32.const 24) (local.get $x))
          (i32.store8 (i32.const 40) (local.get $i))
          (local.set $y (i32.add (i32.load (i32.const 16)) (i32.load8_u (i32.const 40))))
          (local.set $x (i64.add (local.get $x) (i64.load (i32.const 24))))
          (local.set $y (i32.div_u (local.get $y) (i32.const 3)))
          (local.set $y (i32.clz (local.get $y)))
          (local.set $y (select (local.get $y) (i32.const 7) (local.get $i)))
          (drop (i32.const 5))
          (local.set $y (local.tee $y (i32.const 9)))
          (block $b
            (br_if $b (i32.eqz (local.get $i)))
            (br_if $b (i32.eqz (i32.and (local.get $i) (i32.const 1))))
            (br_if $b (local.get $y)))
          (if (i32.eqz (local.get $i)) (then (local.set $y (i32.const 1))))
          (if (local.get $i) (then (local.set $y (i32.const 2))))
          (local.set $y
            (i32.add
              (block $two (result i32 i32)
                (i32.const 1) (i32.const 2) (local.get $i)
                (br_if $two (i32.const 3) (i32.const 4) (local.get $n))
                (drop) (drop) (drop))))
          (drop (local.get $y))
          (local.set $x (i64.add (local.get $x) (call $mix (local.get $x) (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $top (i32.lt_u (local.get $i) (local.get $n))))
        (local.get $x))
      (func $mix (param $x i64) (param $i i32) (result i64)
        (local $t i64)
        (local.set $t (i64.rotl (local.get $x) (i64.const 7)))
        (if (result i64) (i32.and (local.get $i) (i32.const 1))
          (then (return (i64.xor (local.get $t) (i64.const 3))))
          (else (i64.add (local.get $t) (i64.extend_i32_u (local.get $i)))))))"#;

    /// How deep the threaded handlers went below the entry, and the result, for `spin(n)`.
    fn chain_depth(metered: bool, n: i32) -> (usize, Vec<Value>) {
        let pricing = metered.then(|| Arc::new(wes_meter::Pricing::default()));
        let mut config = wes_runtime::Config::default();
        config.pricing(pricing.clone());
        let backend = Interpreter::new(InterpConfig { pricing, ..Default::default() });
        let engine = Engine::new(config, Arc::new(backend));
        let m = Module::new(&engine, wes_decode::decode_text(CHAIN).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let i = Linker::new().instantiate(&mut store, &m).unwrap();
        let f = i.get_func(&store, "spin").unwrap();
        probe::CHAIN_DEEPEST.with(|d| d.set(0));
        let call = f.call_with_gas(&mut store, &[Value::I32(n)], u64::MAX / 2);
        assert_eq!(call.gas.consumed > 0, metered);
        (probe::CHAIN_DEEPEST.with(std::cell::Cell::get), call.result.unwrap())
    }

    /// The handlers jump to each other (threaded builds) or return after each op: either way
    /// a chain of any length takes the stack of one handler, so a long loop cannot exhaust
    /// the native stack. Were one handler's jump compiled as a call, every turn through it
    /// would leave a frame behind.
    #[test]
    fn chains_run_in_constant_stack() {
        for metered in [false, true] {
            let (short, r1) = chain_depth(metered, 3);
            let (long, r2) = chain_depth(metered, 3000);
            assert!(short > 0, "the chain never went back to the loop");
            assert_eq!(short, long, "metered: {metered}; the native stack grew with the chain");
            assert_ne!(r1, r2);
        }
    }

    /// A module of `n` functions `f{i}(x) = (x * (i + 3)) ^ i` and `sum(x)` calling them all.
    fn many_functions(n: u32) -> String {
        let mut wat = String::from("(module\n");
        for i in 0..n {
            wat.push_str(&format!(
                "(func $f{i} (param i64) (result i64) (i64.xor (i64.mul (local.get 0) (i64.const {})) (i64.const {i})))\n",
                i + 3
            ));
        }
        wat.push_str("(func (export \"sum\") (param i64) (result i64) (local $s i64)\n");
        for i in 0..n {
            wat.push_str(&format!("(local.set $s (i64.add (local.get $s) (call $f{i} (local.get 0))))\n"));
        }
        wat.push_str("(local.get $s)))");
        wat
    }

    fn sum_on(backend: Interpreter, module: &Arc<wes_core::Module>) -> Vec<Value> {
        let engine = Engine::new(wes_runtime::Config::default(), Arc::new(backend));
        let compiled = engine.backend().compile(Arc::clone(module)).unwrap();
        let m = Module::from_compiled(&engine, compiled).unwrap();
        let mut store = Store::new(&engine);
        let i = Linker::new().instantiate(&mut store, &m).unwrap();
        let f = i.get_func(&store, "sum").unwrap();
        f.call(&mut store, &[Value::I64(0x1234_5678)]).unwrap()
    }

    /// `ahead`: with no call made, the background threads translate every function into its
    /// record; a module run that way gives what lazy and eager translation give; and the
    /// threads let go of a module dropped while they work.
    #[test]
    fn translation_ahead_fills_every_record_and_lets_go() {
        let module = Arc::new(wes_decode::decode_text(&many_functions(400)).unwrap());
        let ahead = || Interpreter::new(InterpConfig { ahead: true, threads: 3, ..Default::default() });
        let compiled = ahead().compile_records(Arc::clone(&module)).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while compiled.records.iter().any(|r| r.code.get().is_none()) {
            assert!(std::time::Instant::now() < deadline, "the background threads never translated every function");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(compiled.records.iter().all(|r| matches!(r.code.get(), Some(Ok(_)))));
        let weak = Arc::downgrade(&compiled);
        drop(compiled);
        // A helper may be between taking the module and finding nothing left to do.
        while weak.strong_count() > 0 {
            assert!(std::time::Instant::now() < deadline, "a finished helper still holds the module");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }

        let lazy = sum_on(Interpreter::default(), &module);
        assert_eq!(sum_on(ahead(), &module), lazy);
        let eager = Interpreter::new(InterpConfig { eager: true, ..Default::default() });
        assert_eq!(sum_on(eager, &module), lazy);

        // Dropped at once: the helpers hold it only while translating one function.
        let compiled = ahead().compile_records(Arc::clone(&module)).unwrap();
        let weak = Arc::downgrade(&compiled);
        drop(compiled);
        while weak.strong_count() > 0 {
            assert!(std::time::Instant::now() < deadline, "a helper kept a dropped module alive");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
