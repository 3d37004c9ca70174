//! Running one module on one engine and recording everything the others must match.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use wes_core::{FuncType, Trap, ValType, Value};
use wes_meter::BasicMeter;
use wes_runtime::{Engine, Extern, Func, Instance, Linker, Module, RuntimeError, Store};

use crate::engines::CALL_GAS;

/// How a compile, an instantiation or a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It returned these values (function references as the store's numbers, which the runtime
    /// hands out in the same order whatever the backend).
    Returned(Vec<Value>),
    /// It trapped: code, detail and backtrace with trap offsets.
    Trapped(Trap),
    /// It failed otherwise (a compile error, a resource limit), with the error's text.
    Failed(String),
}

impl Outcome {
    fn of(result: Result<Vec<Value>, RuntimeError>) -> Outcome {
        match result {
            Ok(values) => Outcome::Returned(values),
            Err(RuntimeError::Trap(trap)) => Outcome::Trapped(trap),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Whether this is an out-of-gas trap.
    pub fn out_of_gas(&self) -> bool {
        matches!(self, Outcome::Trapped(t) if t.code == wes_core::TrapCode::OutOfGas)
    }
}

/// One run of something: how it ended, the gas it charged (metered engines), and a hash of the
/// instance's state afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// How it ended.
    pub outcome: Outcome,
    /// Gas charged, on a metered engine.
    pub gas: Option<u64>,
    /// A hash of the exported memories, globals and tables afterwards (0 when there is no
    /// instance).
    pub state: u64,
}

/// A call of an exported function.
#[derive(Debug)]
pub(crate) struct CallRecord {
    pub(crate) export: String,
    pub(crate) args: Vec<Value>,
    /// The call with [`CALL_GAS`].
    pub(crate) full: Step,
    /// The call rerun from the same state under tight limits: `(limit, step)`.
    pub(crate) tight: Vec<(u64, Step)>,
    /// The full call run again after the tight reruns; must equal `full`.
    pub(crate) replay: Option<Step>,
}

/// Everything one engine did with one module.
#[derive(Debug)]
pub(crate) struct EngineRun {
    pub(crate) compile: Result<(), String>,
    pub(crate) instantiation: Option<Step>,
    /// Instantiation in fresh stores under tight limits.
    pub(crate) instantiation_tight: Vec<(u64, Step)>,
    pub(crate) calls: Vec<CallRecord>,
}

/// How far an engine may go: unmetered engines run only what the reference finished.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Allowed {
    /// A metered engine: everything, each call limited to [`CALL_GAS`].
    Metered,
    /// An unmetered engine: instantiate only if `instantiate`, then the first `calls` calls.
    Unmetered { instantiate: bool, calls: usize },
}

/// The limits a step that charged `used` gas is rerun under: the exact figure (it must finish
/// as before), one less, a half, a seventh and 1 (each must run out of gas at its own point).
pub(crate) fn tight_limits(used: u64) -> Vec<u64> {
    let mut limits = vec![used, used.saturating_sub(1), used / 2, used / 7, 1];
    limits.retain(|&l| l > 0 && l <= used);
    limits.dedup();
    limits
}

/// A hash of everything an instance exports that holds state: each memory's length and bytes,
/// each global's value, each table's elements (function references as store numbers, or null).
pub(crate) fn state_hash(store: &Store, instance: &Instance) -> u64 {
    let mut h = DefaultHasher::new();
    for (name, item) in instance.exports(store) {
        name.hash(&mut h);
        match item {
            Extern::Func(_) => {}
            Extern::Memory(m) => {
                0u8.hash(&mut h);
                match m.data(store) {
                    Ok(bytes) => {
                        bytes.len().hash(&mut h);
                        h.write(bytes);
                    }
                    Err(e) => e.to_string().hash(&mut h),
                }
            }
            Extern::Global(g) => {
                1u8.hash(&mut h);
                g.get(store).ok().hash(&mut h);
            }
            Extern::Table(t) => {
                2u8.hash(&mut h);
                let size = t.size(store).unwrap_or(0);
                size.hash(&mut h);
                for i in 0..size {
                    t.get(store, i).ok().flatten().hash(&mut h);
                }
            }
        }
    }
    h.finish()
}

/// The arguments of the `call`-th export call: values chosen from edge cases (zero, ±1, the
/// extremes, NaNs with payloads, infinities, mixed lanes) by the call and parameter position,
/// so every engine gets the same ones.
pub(crate) fn arguments(call: usize, ty: &FuncType) -> Vec<Value> {
    const I32: [i32; 8] = [0, 1, -1, 7, i32::MIN, i32::MAX, 65_536, 0x7fff_fff0];
    const I64: [i64; 8] = [0, 1, -1, 1 << 40, i64::MIN, i64::MAX, 65_536, -7];
    const F32: [u32; 8] =
        [0, 0x8000_0000, 0x3fc0_0000, 0x7fc0_0000, 0x7fa0_0001, 0x7f80_0000, 0xff80_0000, 0x0000_0001];
    const F64: [u64; 8] = [
        0,
        0x8000_0000_0000_0000,
        0x3ff8_0000_0000_0000,
        0x7ff8_0000_0000_0000,
        0x7ff4_0000_0000_0001,
        0x7ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        1,
    ];
    const V128: [u128; 4] =
        [0, u128::MAX, 0x7fc0_0000_8000_0000_ffff_ffff_0000_0001, 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10];
    ty.params()
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let i = call.wrapping_mul(7).wrapping_add(k.wrapping_mul(3));
            match t {
                ValType::I32 => Value::I32(I32[i % I32.len()]),
                ValType::I64 => Value::I64(I64[i % I64.len()]),
                ValType::F32 => Value::F32(F32[i % F32.len()]),
                ValType::F64 => Value::F64(F64[i % F64.len()]),
                ValType::V128 => Value::V128(V128[i % V128.len()]),
                ValType::FuncRef => Value::FuncRef(None),
                ValType::ExternRef => {
                    Value::ExternRef(if i % 2 == 0 { None } else { Some(wes_core::ExternRef(k as u32)) })
                }
            }
        })
        .collect()
}

/// The host functions of [`crate::HOST_IMPORTS`], as every compared store defines them: each a
/// pure function of its arguments (a multiplicative hash of their bits), so any engine that
/// passes them differently gets different results. One in 29 calls fails with a host error
/// (a trap of the calling code, with its backtrace), by the same hash.
pub fn host_linker() -> Linker {
    let mut linker = Linker::new();
    let Ok(bytes) = wat::parse_str(crate::HOST_IMPORTS) else { return linker };
    let Ok(module) = wes_decode::decode(&bytes) else { return linker };
    for import in &module.imports {
        let wes_core::module::ImportType::Func(ti) = import.ty else { continue };
        let Some(ty) = module.types.get(ti as usize) else { continue };
        let name = import.name.clone();
        let func = wes_runtime::HostFunc::new(ty.clone(), move |_, args, out| {
            let mut h =
                name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
            for v in args {
                let bits: u128 = match *v {
                    Value::I32(x) => u128::from(x as u32),
                    Value::I64(x) => u128::from(x as u64),
                    Value::F32(x) => u128::from(x),
                    Value::F64(x) => u128::from(x),
                    Value::V128(x) => x,
                    Value::ExternRef(r) => r.map_or(u128::MAX, |r| u128::from(r.0)),
                    Value::FuncRef(r) => u128::from(r.is_some()),
                };
                h = (h ^ bits as u64 ^ (bits >> 64) as u64).wrapping_mul(0x100_0000_01b3).rotate_left(23);
            }
            if h % 29 == 0 {
                return Err(wes_runtime::HostError::new("the host refuses these arguments"));
            }
            for (i, o) in out.iter_mut().enumerate() {
                let r = h.rotate_left(i as u32 * 13 + 5);
                *o = match *o {
                    Value::I32(_) => Value::I32(r as i32),
                    Value::I64(_) => Value::I64(r as i64),
                    // NaNs with payloads pass through the slots as they are.
                    Value::F32(_) => Value::F32(r as u32),
                    Value::F64(_) => Value::F64(r),
                    Value::V128(_) => Value::V128(u128::from(r) | (u128::from(!r) << 64)),
                    // An argument's reference back, or null.
                    Value::ExternRef(_) => {
                        Value::ExternRef(args.iter().find_map(|a| if let Value::ExternRef(x) = a { *x } else { None }))
                    }
                    v => v,
                };
            }
            Ok(())
        });
        linker.func(&import.module, &import.name, func);
    }
    linker
}

/// Instantiates `module` in a fresh store of `engine` (metered: under `limit`).
fn instantiate(engine: &Engine, module: &Module, limit: Option<u64>) -> (Store, Option<Instance>, Step) {
    let mut store = Store::new(engine);
    // Code compiled for the profiler reports to it; any other code ignores it.
    store.start_profile();
    if let Some(limit) = limit {
        store.set_meter(Box::new(BasicMeter::new(limit)));
    }
    let result = host_linker().instantiate(&mut store, module);
    let gas = limit.map(|_| store.take_meter().map_or(0, |m| m.consumed()));
    match result {
        Ok(instance) => {
            let state = state_hash(&store, &instance);
            (store, Some(instance), Step { outcome: Outcome::Returned(Vec::new()), gas, state })
        }
        Err(e) => (store, None, Step { outcome: Outcome::of(Err(e)), gas, state: 0 }),
    }
}

/// Runs `func` once on a metered engine under `limit`.
fn metered_call(store: &mut Store, instance: &Instance, func: &Func, args: &[Value], limit: u64) -> Step {
    let call = func.call_with_gas(store, args, limit);
    Step { outcome: Outcome::of(call.result), gas: Some(call.gas.consumed), state: state_hash(store, instance) }
}

/// Runs `module` (already decoded) on `engine` as far as `allowed` lets it.
pub(crate) fn run_engine(engine: &Engine, module: &Arc<wes_core::Module>, allowed: Allowed) -> EngineRun {
    let mut run =
        EngineRun { compile: Ok(()), instantiation: None, instantiation_tight: Vec::new(), calls: Vec::new() };
    let compiled = match Module::from_arc(engine, module.clone()) {
        Ok(m) => m,
        Err(e) => {
            run.compile = Err(e.to_string());
            return run;
        }
    };
    let (metered, calls_allowed) = match allowed {
        Allowed::Metered => (true, usize::MAX),
        Allowed::Unmetered { instantiate: false, .. } => return run,
        Allowed::Unmetered { calls, .. } => (false, calls),
    };
    let (mut store, instance, step) = instantiate(engine, &compiled, metered.then_some(CALL_GAS));
    if let Some(used) = step.gas {
        for limit in tight_limits(used) {
            let (_, _, tight) = instantiate(engine, &compiled, Some(limit));
            run.instantiation_tight.push((limit, tight));
        }
    }
    run.instantiation = Some(step);
    let Some(instance) = instance else { return run };
    let funcs: Vec<(String, Func)> = instance
        .exports(&store)
        .into_iter()
        .filter_map(|(name, item)| if let Extern::Func(f) = item { Some((name, f)) } else { None })
        .collect();
    for (i, (export, func)) in funcs.into_iter().enumerate().take(calls_allowed) {
        let args = match func.ty(&store) {
            Ok(ty) => arguments(i, &ty),
            Err(e) => {
                let full = Step { outcome: Outcome::Failed(e.to_string()), gas: None, state: 0 };
                run.calls.push(CallRecord { export, args: Vec::new(), full, tight: Vec::new(), replay: None });
                break;
            }
        };
        if !metered {
            let full = Step {
                outcome: Outcome::of(func.call(&mut store, &args)),
                gas: None,
                state: state_hash(&store, &instance),
            };
            run.calls.push(CallRecord { export, args, full, tight: Vec::new(), replay: None });
            continue;
        }
        // The tight reruns start from the state before the call: checkpoint it, and reset to it
        // before each rerun; the full call then runs once more to continue from its own end.
        let checkpoint = store.checkpoint();
        let full = metered_call(&mut store, &instance, &func, &args, CALL_GAS);
        let mut record = CallRecord { export, args, full, tight: Vec::new(), replay: None };
        if let Err(e) = checkpoint {
            record.replay = Some(Step { outcome: Outcome::Failed(format!("checkpoint: {e}")), gas: None, state: 0 });
            run.calls.push(record);
            break;
        }
        let used = record.full.gas.unwrap_or(0);
        for limit in tight_limits(used) {
            if let Err(e) = store.reset() {
                record.replay = Some(Step { outcome: Outcome::Failed(format!("reset: {e}")), gas: None, state: 0 });
                break;
            }
            let step = metered_call(&mut store, &instance, &func, &record.args, limit);
            record.tight.push((limit, step));
        }
        if record.replay.is_none() {
            record.replay = Some(match store.reset() {
                Ok(_) => metered_call(&mut store, &instance, &func, &record.args, CALL_GAS),
                Err(e) => Step { outcome: Outcome::Failed(format!("reset: {e}")), gas: None, state: 0 },
            });
        }
        let stop = record.replay.as_ref() != Some(&record.full);
        run.calls.push(record);
        if stop {
            break;
        }
    }
    run
}
