//! Host functions that call back into wasm (`Caller::call`): gas exact to the unit, the depth
//! limits, traps crossing the host frame, memory moving under the caller, tail calls, and a
//! contract-style ABI end to end (regions the contract allocates from inside `db_read`,
//! storage in the host, JSON in and out).

use std::collections::BTreeMap;
use std::sync::Arc;

use wes_core::{TrapCode, Value};
use wes_jit::JitConfig;
use wes_meter::{BasicMeter, GasMeter, Pricing};
use wes_runtime::{Caller, Config, Engine, Func, HostError, Instance, Linker, Module, RuntimeError, Store};

use crate::{call, check_trap, engine_with, trap_of};

/// A metered engine under the default pricing, with `config` otherwise.
fn metered(config: Config) -> Engine {
    crate::metered_engine(&Arc::new(Pricing::default()), JitConfig::default(), config)
}

fn instantiate(engine: &Engine, linker: &Linker, wat: &str) -> (Store, Instance) {
    let module = Module::new(engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut store = Store::new(engine);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    (store, instance)
}

/// Host functions that call an export of the calling instance by name, passing their one
/// argument on: `bounce` returns the result, `bounce_catch` swallows a trap and returns -1.
fn bouncing_linker() -> Linker {
    let mut l = Linker::new();
    l.func_wrap("env", "bounce", |c: &mut Caller<'_>, (name, x): (i32, i32)| -> Result<i32, HostError> {
        let f = c.get_func(export_name(name)).ok_or_else(|| HostError::new("no such export"))?;
        let r = c.call(f, &[Value::I32(x)])?;
        r.first().and_then(Value::as_i32).ok_or_else(|| HostError::new("no result"))
    });
    l.func_wrap("env", "bounce_catch", |c: &mut Caller<'_>, (name, x): (i32, i32)| -> Result<i32, HostError> {
        let f = c.get_func(export_name(name)).ok_or_else(|| HostError::new("no such export"))?;
        match c.call(f, &[Value::I32(x)]) {
            Ok(r) => r.first().and_then(Value::as_i32).ok_or_else(|| HostError::new("no result")),
            Err(RuntimeError::Trap(t)) if t.code == TrapCode::Unreachable => Ok(-1),
            Err(e) => Err(e.into()),
        }
    });
    l
}

/// The exports `bounce` may call, by number (wasm has no strings to pass cheaply).
fn export_name(n: i32) -> &'static str {
    match n {
        0 => "work",
        1 => "rec",
        2 => "boom",
        3 => "grow_and_write",
        4 => "tail_to_host",
        _ => "none",
    }
}

const GUEST: &str = r#"(module
  (import "env" "bounce" (func $bounce (param i32 i32) (result i32)))
  (import "env" "bounce_catch" (func $bounce_catch (param i32 i32) (result i32)))
  (import "env" "id" (func $id (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; Some work: sum of 0..x.
  (func $work (export "work") (param $x i32) (result i32) (local $s i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $x)))
      (local.set $s (i32.add (local.get $s) (local.get $x)))
      (local.set $x (i32.sub (local.get $x) (i32.const 1)))
      (br $l)))
    local.get $s)
  (func (export "direct") (param i32) (result i32) local.get 0 call $work)
  (func (export "via_host") (param i32) (result i32) i32.const 0 local.get 0 call $bounce)
  ;; rec(n): 0 when n = 0, else 1 + rec(n - 1) through the host.
  (func $rec (export "rec") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (i32.const 1)
                     (call $bounce (i32.const 1) (i32.sub (local.get $n) (i32.const 1)))))))
  ;; rec_direct(n): the same without the host.
  (func $rec_direct (export "rec_direct") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $rec_direct (i32.sub (local.get $n) (i32.const 1)))))))
  (func $boom (export "boom") (param i32) (result i32) unreachable)
  (func (export "boom_via_host") (param i32) (result i32) i32.const 2 local.get 0 call $bounce)
  (func (export "boom_caught") (param i32) (result i32) i32.const 2 local.get 0 call $bounce_catch)
  ;; Grows memory by 3 pages and writes x at the last byte of the new memory.
  (func (export "grow_and_write") (param $x i32) (result i32)
    (drop (memory.grow (i32.const 3)))
    (i32.store8 (i32.const 262143) (local.get $x))
    memory.size)
  ;; Writes to memory, has the host grow it from wasm, then reads past the old end.
  (func (export "outer_sees_growth") (param $x i32) (result i32)
    (i32.store (i32.const 0) (i32.const 77))
    (drop (call $bounce (i32.const 3) (local.get $x)))
    (i32.add (i32.load8_u (i32.const 262143)) (i32.load (i32.const 0))))
  ;; A tail call through an import: the host's arguments come in the tail-call buffer.
  (func $tail_to_host (export "tail_to_host") (param $x i32) (result i32)
    local.get $x return_call $id)
  (func (export "tail_through_host") (param $x i32) (result i32)
    i32.const 4 local.get $x return_call $bounce)
)"#;

fn guest_linker() -> Linker {
    let mut l = bouncing_linker();
    l.func_wrap("env", "id", |_: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> { Ok(x) });
    l
}

/// The gas of `name(x)` under a large limit, with its result.
fn gas_of(store: &mut Store, instance: Instance, name: &str, x: i32) -> (Vec<Value>, u64) {
    let r = instance.get_func(store, name).unwrap().call_with_gas(store, &[Value::I32(x)], u64::MAX / 2);
    (r.result.unwrap(), r.gas.consumed)
}

#[test]
fn a_call_through_the_host_costs_the_direct_call_plus_the_host_call() {
    let engine = metered(Config::default());
    let (mut s, i) = instantiate(&engine, &guest_linker(), GUEST);
    let pricing = Pricing::default();
    // `via_host` also passes the export's number: one `i32.const` more.
    let extra = pricing.host_call_cost() + pricing.operator_cost_by_name("I32Const").unwrap();
    for x in [0, 1, 10, 1000] {
        let (direct, direct_gas) = gas_of(&mut s, i, "direct", x);
        let (via, via_gas) = gas_of(&mut s, i, "via_host", x);
        assert_eq!(direct, via);
        assert_eq!(via_gas, direct_gas + extra, "x = {x}");
        // Exactly that much is enough, one unit less runs out inside the nested call.
        let f = i.get_func(&s, "via_host").unwrap();
        let at = f.call_with_gas(&mut s, &[Value::I32(x)], via_gas);
        assert_eq!(at.result.unwrap(), via);
        assert_eq!(at.gas.consumed, via_gas);
        let under = f.call_with_gas(&mut s, &[Value::I32(x)], via_gas - 1);
        assert_eq!(trap_of(under.result).code, TrapCode::OutOfGas);
    }
    // Running out inside the nested call: its frame is the innermost of the backtrace, the
    // caller's follows (functions 3, `work`, and 5, `via_host`).
    let (_, gas) = gas_of(&mut s, i, "via_host", 1000);
    let f = i.get_func(&s, "via_host").unwrap();
    let trap = trap_of(f.call_with_gas(&mut s, &[Value::I32(1000)], gas / 2).result);
    assert_eq!(trap.code, TrapCode::OutOfGas);
    let frames: Vec<_> = trap.backtrace.iter().map(|f| f.func_index).collect();
    assert_eq!(frames, [3, 5], "{trap:?}");
}

#[test]
fn the_out_of_gas_handler_tops_up_a_nested_call_and_it_resumes() {
    let jit = JitConfig { resume_out_of_gas: true, ..JitConfig::default() };
    let engine = crate::metered_engine(&Arc::new(Pricing::default()), jit, Config::default());
    let (mut s, i) = instantiate(&engine, &guest_linker(), GUEST);
    let (expected, gas) = gas_of(&mut s, i, "via_host", 500);
    s.set_meter(Box::new(BasicMeter::new(gas / 3)));
    let mut asked = 0u64;
    s.set_out_of_gas_handler(move |meter: &mut dyn GasMeter, _needed| {
        asked += 1;
        meter.add_gas(gas / 3);
        asked < 10
    })
    .unwrap();
    let got = call(&mut s, i, "via_host", &[Value::I32(500)]).unwrap();
    assert_eq!(got, expected);
    assert_eq!(s.meter().unwrap().consumed(), gas);
}

#[test]
fn a_host_frame_counts_as_one_wasm_frame() {
    let mut config = Config::default();
    config.max_call_depth(100).max_host_reentry(1000).host_stack_reserve(64 << 10);
    let engine = engine_with(config);
    let (mut s, i) = instantiate(&engine, &guest_linker(), GUEST);
    // Without the host: n + 1 frames.
    assert_eq!(call(&mut s, i, "rec_direct", &[Value::I32(99)]).unwrap(), [Value::I32(99)]);
    check_trap(&mut s, i, "rec_direct", &[Value::I32(100)], TrapCode::CallStackExhausted);
    // Through the host: n + 1 wasm frames and n host frames.
    assert_eq!(call(&mut s, i, "rec", &[Value::I32(49)]).unwrap(), [Value::I32(49)]);
    let trap = check_trap(&mut s, i, "rec", &[Value::I32(50)], TrapCode::CallStackExhausted);
    // The trap crossed every host frame: the backtrace has the frames of all 51 calls of rec.
    assert_eq!(trap.backtrace.len(), 51, "{trap}");
    assert!(trap.backtrace.iter().all(|f| f.func_index == 6), "{trap:?}");
    // The store is usable afterwards, at full depth.
    assert_eq!(call(&mut s, i, "rec", &[Value::I32(49)]).unwrap(), [Value::I32(49)]);
}

#[test]
fn host_reentry_is_limited_and_the_limit_is_a_trap() {
    let mut config = Config::default();
    config.max_host_reentry(3);
    let engine = engine_with(config);
    let (mut s, i) = instantiate(&engine, &guest_linker(), GUEST);
    assert_eq!(call(&mut s, i, "rec", &[Value::I32(3)]).unwrap(), [Value::I32(3)]);
    let trap = check_trap(&mut s, i, "rec", &[Value::I32(4)], TrapCode::CallStackExhausted);
    assert!(trap.detail.as_deref().unwrap_or("").contains("host functions calling into wasm"), "{trap}");
    assert_eq!(call(&mut s, i, "rec", &[Value::I32(3)]).unwrap(), [Value::I32(3)]);
}

#[test]
fn a_trap_in_the_nested_call_crosses_the_host_frame_or_is_handled_there() {
    let engine = engine_with(Config::default());
    let (mut s, i) = instantiate(&engine, &guest_linker(), GUEST);
    // Passed on with `?`: the outer call traps the same way, inner frame first.
    let trap = check_trap(&mut s, i, "boom_via_host", &[Value::I32(1)], TrapCode::Unreachable);
    let frames: Vec<_> = trap.backtrace.iter().map(|f| f.func_index).collect();
    assert_eq!(frames, [8, 9], "{trap:?}");
    assert_eq!(trap.backtrace[0].func_name.as_deref(), Some("boom"));
    // Handled by the host: the outer call goes on and returns normally.
    assert_eq!(call(&mut s, i, "boom_caught", &[Value::I32(1)]).unwrap(), [Value::I32(-1)]);
    // Nothing of either trap is left behind.
    assert_eq!(call(&mut s, i, "via_host", &[Value::I32(4)]).unwrap(), [Value::I32(10)]);
}

#[test]
fn memory_grown_by_a_nested_call_is_seen_by_the_caller() {
    let engine = metered(Config::default());
    let (mut s, i) = instantiate(&engine, &guest_linker(), GUEST);
    assert_eq!(call(&mut s, i, "outer_sees_growth", &[Value::I32(5)]).unwrap(), [Value::I32(82)]);
    let mem = i.get_memory(&s, "memory").unwrap();
    assert_eq!(mem.size(&s).unwrap(), 4);
}

#[test]
fn a_tail_called_host_function_can_call_back_into_wasm_that_tail_calls() {
    for engine in [engine_with(Config::default()), metered(Config::default())] {
        let (mut s, i) = instantiate(&engine, &guest_linker(), GUEST);
        for x in [0, 7, -3] {
            assert_eq!(call(&mut s, i, "tail_through_host", &[Value::I32(x)]).unwrap(), [Value::I32(x)]);
        }
    }
}

#[test]
fn a_host_function_can_call_other_instances_but_not_other_stores() {
    let engine = engine_with(Config::default());
    let callee = Module::new(
        &engine,
        wes_decode::decode_text(
            r#"(module (func (export "triple") (param i32) (result i32) local.get 0 i32.const 3 i32.mul))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut linker = Linker::new();
    linker.func_wrap("env", "via", |c: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> {
        let f = *c.data::<Func>().ok_or_else(|| HostError::new("no target"))?;
        Ok(c.call(f, &[Value::I32(x)])?[0].as_i32().unwrap_or(0))
    });
    let caller_wat = r#"(module (import "env" "via" (func $via (param i32) (result i32)))
        (func (export "run") (param i32) (result i32) local.get 0 call $via))"#;
    let caller = Module::new(&engine, wes_decode::decode_text(caller_wat).unwrap()).unwrap();

    let mut s = Store::new(&engine);
    let b = Linker::new().instantiate(&mut s, &callee).unwrap();
    let a = linker.instantiate(&mut s, &caller).unwrap();
    let triple = b.get_func(&s, "triple").unwrap();
    s.set_data(triple);
    assert_eq!(call(&mut s, a, "run", &[Value::I32(14)]).unwrap(), [Value::I32(42)]);

    // A function of another store is refused, as a host error of the call.
    let mut other = Store::new(&engine);
    let b2 = Linker::new().instantiate(&mut other, &callee).unwrap();
    let foreign = b2.get_func(&other, "triple").unwrap();
    s.set_data(foreign);
    let trap = check_trap(&mut s, a, "run", &[Value::I32(1)], TrapCode::HostError);
    assert!(trap.to_string().contains("store"), "{trap}");
}

// ---- a contract-style ABI --------------------------------------------------------------
//
// Regions as CosmWasm lays them out: 12 bytes `{offset, capacity, length}` in the contract's
// memory, made by its exported `allocate`. The host passes a message to `execute` in a region
// it asked the contract for; `execute` reads its state with `db_read` (the host asks the
// contract to `allocate` a region for the value, from inside `db_read`), adds the number in
// the message, writes the state back with `db_write` and answers `{"count":N}` in a region of
// its own. The contract parses the only number in the JSON message and formats decimals.

const CONTRACT: &str = r#"(module
  (import "env" "db_read" (func $db_read (param i32) (result i32)))
  (import "env" "db_write" (func $db_write (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "count")
  (data (i32.const 32) "{\"count\":")
  (func $allocate (export "allocate") (param $size i32) (result i32) (local $r i32)
    (local.set $r (global.get $heap))
    (i32.store (local.get $r) (i32.add (local.get $r) (i32.const 12)))
    (i32.store offset=4 (local.get $r) (local.get $size))
    (i32.store offset=8 (local.get $r) (i32.const 0))
    (global.set $heap (i32.add (global.get $heap) (i32.add (local.get $size) (i32.const 12))))
    (local.get $r))
  ;; A region holding the bytes [src, src + len).
  (func $region_of (param $src i32) (param $len i32) (result i32) (local $r i32)
    (local.set $r (call $allocate (local.get $len)))
    (memory.copy (i32.load (local.get $r)) (local.get $src) (local.get $len))
    (i32.store offset=8 (local.get $r) (local.get $len))
    (local.get $r))
  ;; The first decimal number in a region (0 if none).
  (func $parse (param $r i32) (result i64) (local $p i32) (local $end i32) (local $n i64) (local $c i32) (local $seen i32)
    (local.set $p (i32.load (local.get $r)))
    (local.set $end (i32.add (local.get $p) (i32.load offset=8 (local.get $r))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
      (if (i32.lt_u (local.get $c) (i32.const 10))
        (then (local.set $seen (i32.const 1))
              (local.set $n (i64.add (i64.mul (local.get $n) (i64.const 10)) (i64.extend_i32_u (local.get $c)))))
        (else (br_if $done (local.get $seen))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $l)))
    (local.get $n))
  ;; Writes n in decimal at dst; returns the number of bytes.
  (func $format (param $n i64) (param $dst i32) (result i32) (local $len i32) (local $t i64) (local $i i32) (local $c i32)
    (local.set $t (local.get $n))
    (loop $count
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $t (i64.div_u (local.get $t) (i64.const 10)))
      (br_if $count (i64.ne (local.get $t) (i64.const 0))))
    (local.set $i (local.get $len))
    (loop $digits
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $dst) (local.get $i))
                  (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digits (local.get $i)))
    (local.get $len))
  (func (export "execute") (param $msg i32) (result i32) (local $key i32) (local $old i32) (local $count i64) (local $r i32) (local $len i32)
    (local.set $key (call $region_of (i32.const 16) (i32.const 5)))
    (local.set $old (call $db_read (local.get $key)))
    (local.set $count (i64.add (call $parse (local.get $msg))
      (if (result i64) (local.get $old) (then (call $parse (local.get $old))) (else (i64.const 0)))))
    ;; The new state, as decimal.
    (local.set $r (call $allocate (i32.const 20)))
    (i32.store offset=8 (local.get $r) (call $format (local.get $count) (i32.load (local.get $r))))
    (call $db_write (local.get $key) (local.get $r))
    ;; The answer: {"count":N}
    (local.set $r (call $allocate (i32.const 40)))
    (memory.copy (i32.load (local.get $r)) (i32.const 32) (i32.const 9))
    (local.set $len (i32.add (i32.const 9)
      (call $format (local.get $count) (i32.add (i32.load (local.get $r)) (i32.const 9)))))
    (i32.store8 (i32.add (i32.load (local.get $r)) (local.get $len)) (i32.const 125))
    (i32.store offset=8 (local.get $r) (i32.add (local.get $len) (i32.const 1)))
    (local.get $r))
)"#;

/// The host's side: storage, and how many regions it had the contract allocate.
#[derive(Default)]
struct Chain {
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    allocations: u32,
}

fn read_region(c: &mut Caller<'_>, region: u32) -> Result<Vec<u8>, HostError> {
    let mut header = [0u8; 12];
    c.read_memory(u64::from(region), &mut header)?;
    let word = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let (offset, capacity, length) = (word(0), word(4), word(8));
    if length > capacity {
        return Err(HostError::new("region length exceeds its capacity"));
    }
    let mut data = vec![0; length as usize];
    c.read_memory(u64::from(offset), &mut data)?;
    Ok(data)
}

/// Asks the contract for a region of `data.len()` bytes and fills it.
fn write_region(c: &mut Caller<'_>, data: &[u8]) -> Result<u32, HostError> {
    let allocate = c.get_func("allocate").ok_or_else(|| HostError::new("the contract exports no allocate"))?;
    let len = i32::try_from(data.len()).map_err(|_| HostError::new("value too large"))?;
    let region = c.call(allocate, &[Value::I32(len)])?[0].as_i32().ok_or_else(|| HostError::new("bad region"))? as u32;
    let mut header = [0u8; 8];
    c.read_memory(u64::from(region), &mut header)?;
    let offset = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    c.write_memory(u64::from(offset), data)?;
    c.write_memory(u64::from(region) + 8, &(len as u32).to_le_bytes())?;
    if let Some(chain) = c.data::<Chain>() {
        chain.allocations += 1;
    }
    Ok(region)
}

fn contract_linker() -> Linker {
    let mut l = Linker::new();
    l.func_wrap("env", "db_read", |c: &mut Caller<'_>, (key,): (u32,)| -> Result<u32, HostError> {
        let key = read_region(c, key)?;
        c.charge_gas(100 + key.len() as u64)?;
        let value = c.data::<Chain>().and_then(|chain| chain.storage.get(&key).cloned());
        match value {
            Some(v) => write_region(c, &v),
            None => Ok(0),
        }
    });
    l.func_wrap("env", "db_write", |c: &mut Caller<'_>, (key, value): (u32, u32)| -> Result<(), HostError> {
        let (key, value) = (read_region(c, key)?, read_region(c, value)?);
        c.charge_gas(200 + key.len() as u64 + value.len() as u64)?;
        c.data::<Chain>().ok_or_else(|| HostError::new("no chain"))?.storage.insert(key, value);
        Ok(())
    });
    l
}

/// Runs `execute` with a JSON message under `limit` gas; the JSON answer and the gas used.
fn execute(
    s: &mut Store,
    i: Instance,
    msg: &serde_json::Value,
    limit: u64,
) -> (Result<serde_json::Value, RuntimeError>, u64) {
    let bytes = serde_json::to_vec(msg).unwrap();
    // The embedder asks the contract for the message's region too, before the call.
    let allocate = i.get_func(s, "allocate").unwrap();
    let region = allocate.call(s, &[Value::I32(bytes.len() as i32)]).unwrap()[0].as_i32().unwrap() as u32;
    let mem = i.get_memory(s, "memory").unwrap();
    let data = mem.data_mut(s).unwrap();
    let offset = u32::from_le_bytes(data[region as usize..region as usize + 4].try_into().unwrap()) as usize;
    data[offset..offset + bytes.len()].copy_from_slice(&bytes);
    data[region as usize + 8..region as usize + 12].copy_from_slice(&(bytes.len() as u32).to_le_bytes());

    let run = i.get_func(s, "execute").unwrap().call_with_gas(s, &[Value::I32(region as i32)], limit);
    let answer = run.result.map(|r| {
        let region = r[0].as_i32().unwrap() as usize;
        let data = mem.data(s).unwrap();
        let word = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let (offset, length) = (word(region), word(region + 8));
        serde_json::from_slice(&data[offset..offset + length]).unwrap()
    });
    (answer, run.gas.consumed)
}

#[test]
fn a_contract_style_abi_runs_end_to_end() {
    let engine = metered(Config::default());
    let (mut s, i) = instantiate(&engine, &contract_linker(), CONTRACT);
    s.set_data(Chain::default());
    let mut total = 0u64;
    let mut gas = Vec::new();
    for add in [5u64, 37, 100, 123_456_789] {
        total += add;
        let (answer, used) = execute(&mut s, i, &serde_json::json!({ "add": add }), 10_000_000);
        assert_eq!(answer.unwrap(), serde_json::json!({ "count": total }));
        gas.push(used);
    }
    let chain = s.data::<Chain>().unwrap();
    assert_eq!(chain.storage.get(&b"count"[..]).map(|v| v.as_slice()), Some(total.to_string().as_bytes()));
    // The first call found no state; each later one had the contract allocate the value's region.
    assert_eq!(chain.allocations, 3);

    // The gas is deterministic and exact: a fresh chain in a fresh store replays the same
    // figures, and each call needs exactly its figure.
    let (mut s2, i2) = instantiate(&engine, &contract_linker(), CONTRACT);
    s2.set_data(Chain::default());
    for (add, used) in [5u64, 37, 100, 123_456_789].into_iter().zip(&gas) {
        let msg = serde_json::json!({ "add": add });
        let snapshot = s2.data::<Chain>().unwrap().storage.clone();
        // One unit short: out of gas. A chain reverts the failed call's writes.
        let (short, _) = execute(&mut s2, i2, &msg, used - 1);
        assert_eq!(short.unwrap_err().as_trap().map(|t| t.code), Some(TrapCode::OutOfGas));
        s2.data_mut::<Chain>().unwrap().storage = snapshot;
        let (answer, again) = execute(&mut s2, i2, &msg, *used);
        assert!(answer.is_ok());
        assert_eq!(again, *used);
    }
}
