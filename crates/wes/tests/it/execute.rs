//! Execution results: values typed and encoded, gas, memory, host calls, logs, side effects;
//! metrics after a known workload.

use wes::{Caller, Encoding, HostError, Runtime, RuntimeConfig, TrapCode, Value};

use crate::runtime;

const GUEST: &str = r#"(module
  (import "wes" "log" (func $log (param i32 i32)))
  (import "env" "emit" (func $emit (param i32)))
  (import "env" "refund" (func $refund (param i64)))
  (memory 1 10)
  (data (i32.const 0) "grew")
  (func (export "grow") (param i32) (result i32)
    (drop (memory.grow (local.get 0)))
    (drop (memory.grow (i32.const 1)))
    (call $log (i32.const 0) (i32.const 4))
    (call $emit (i32.const 7))
    (call $emit (i32.const 8))
    memory.size)
  (func (export "pair") (result i64 f64) i64.const -5 f64.const 2.5)
  (func (export "refunding") (result i32) (call $refund (i64.const 1000)) i32.const 1)
  (func (export "trap") unreachable)
  (func (export "spin") (loop $l (br $l))))"#;

fn with_hosts(config: RuntimeConfig) -> Runtime {
    let mut rt = Runtime::new(config).unwrap();
    rt.linker_mut().func_wrap("env", "emit", |c: &mut Caller<'_>, (x,): (i32,)| -> Result<(), HostError> {
        wes::host::record_effect(c, "event", x.to_le_bytes().to_vec())
    });
    rt.linker_mut().func_wrap("env", "refund", |c: &mut Caller<'_>, (x,): (i64,)| -> Result<(), HostError> {
        c.refund_gas(x as u64);
        Ok(())
    });
    rt
}

#[test]
fn a_result_reports_memory_host_calls_logs_and_effects() {
    let rt = with_hosts(RuntimeConfig::default());
    let m = rt.load(GUEST.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(1_000_000)).unwrap();
    // Instantiation paid for the data segment.
    let before = i.gas_remaining();
    assert!(before < 1_000_000);
    let r = i.execute("grow", &[Value::I32(2)]).unwrap();
    assert!(r.success, "{:?}", r.error);
    assert_eq!(r.values, [Value::I32(4)]);
    assert_eq!((r.memory.initial_pages, r.memory.peak_pages, r.memory.final_pages, r.memory.growths), (1, 4, 4, 2));
    assert_eq!(r.host_calls, 3);
    assert_eq!(r.logs, ["grew"]);
    let effects: Vec<_> = r.side_effects.iter().map(|e| (e.kind.as_str(), e.data.clone())).collect();
    assert_eq!(effects, [("event", 7i32.to_le_bytes().to_vec()), ("event", 8i32.to_le_bytes().to_vec())]);
    // Gas: the meter's figures for this call alone.
    assert!(r.gas.used > 0);
    assert_eq!(r.gas.remaining, before - r.gas.used);
    // A second call starts afresh: its own logs, effects and memory figures.
    let r2 = i.execute("grow", &[Value::I32(0)]).unwrap();
    // `memory.grow 0` succeeds too, and counts.
    assert_eq!((r2.memory.initial_pages, r2.memory.final_pages, r2.memory.growths), (4, 5, 2));
    assert_eq!(r2.logs.len(), 1);
    assert_eq!(r2.side_effects.len(), 2);
    assert_eq!(r2.gas.remaining, before - r.gas.used - r2.gas.used);
}

#[test]
fn results_are_encoded_in_the_configured_format() {
    for encoding in Encoding::ALL {
        let mut config = RuntimeConfig::default();
        config.data.encoding = encoding;
        let rt = with_hosts(config);
        let m = rt.load(GUEST.as_bytes()).unwrap();
        let mut i = rt.create_instance(&m, rt.default_gas_meter()).unwrap();
        let r = i.execute("pair", &[]).unwrap();
        assert_eq!(r.values, [Value::I64(-5), Value::f64(2.5)]);
        assert_eq!(encoding.encoder().decode(&r.encoded().unwrap()).unwrap(), r.values, "{encoding:?}");
    }
}

#[test]
fn refunds_follow_the_configured_policy() {
    let refund = |share: &str| {
        let rt = with_hosts(RuntimeConfig::from_toml(&format!("[gas.refunds]\n{share}\n")).unwrap());
        let m = rt.load(GUEST.as_bytes()).unwrap();
        let mut i = rt.create_instance(&m, rt.gas_meter(1_000_000)).unwrap();
        let r = i.execute("refunding", &[]).unwrap();
        assert_eq!(r.gas.used, r.gas.consumed - r.gas.refunded);
        (r.gas.refunded, 1_000_000 - r.gas.remaining)
    };
    // Asked for 1000 each time; granted at most the share of what the meter had consumed.
    let (half, consumed) = refund("numerator = 1\ndenominator = 2");
    let (fifth, same) = refund("numerator = 1\ndenominator = 5");
    let (none, _) = refund("numerator = 0\ndenominator = 0");
    assert_eq!(consumed, same);
    assert!(half > fifth && fifth > 0 && none == 0, "{half} {fifth} {none}");
    assert!(half <= consumed / 2 && fifth <= consumed / 5);
}

#[test]
fn an_unmetered_runtime_charges_nothing_and_still_stops_nothing_it_should_not() {
    let rt = with_hosts(RuntimeConfig::from_toml("[gas]\nmetered = false\n").unwrap());
    let m = rt.load(GUEST.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(1)).unwrap();
    let r = i.execute("grow", &[Value::I32(1)]).unwrap();
    assert!(r.success);
    assert_eq!(r.gas.consumed, 0);
}

#[test]
fn metrics_count_what_the_runtime_did_and_scrape_as_prometheus() {
    let rt = with_hosts(RuntimeConfig::default());
    let m = rt.load(GUEST.as_bytes()).unwrap();
    assert!(rt.load(b"\0asm garbage").is_err());
    let (mut gas, mut peak) = (0, 0);
    for _ in 0..3 {
        let mut i = rt.create_instance(&m, rt.gas_meter(100_000)).unwrap();
        let g = i.execute("grow", &[Value::I32(1)]).unwrap();
        gas += g.gas.used;
        peak = peak.max(g.memory.peak_pages);
        let t = i.execute("trap", &[]).unwrap();
        gas += t.gas.used;
        assert_eq!(t.error.unwrap().trap_code(), Some(TrapCode::Unreachable));
        let s = i.execute("spin", &[]).unwrap();
        gas += s.gas.used;
        assert_eq!(s.error.unwrap().trap_code(), Some(TrapCode::OutOfGas));
        rt.destroy_instance(i);
    }
    let live = rt.create_instance(&m, rt.gas_meter(10)).unwrap();
    let metrics = rt.metrics();
    assert_eq!((metrics.modules_loaded, metrics.modules_failed), (1, 1));
    assert!(metrics.compile_nanos > 0);
    assert_eq!((metrics.instances_created, metrics.instances_destroyed, metrics.instances_live), (4, 3, 1));
    assert_eq!((metrics.calls, metrics.calls_trapped), (9, 6));
    let traps: Vec<_> = metrics.traps.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(traps, [("OutOfGas", 3), ("Unreachable", 3)]);
    assert_eq!(metrics.gas_used, gas);
    assert_eq!(metrics.host_calls, 9);
    assert_eq!((metrics.memory_grows, metrics.memory_peak_pages), (6, peak));

    // The Prometheus exposition carries the same figures.
    let text = rt.metrics_prometheus();
    for line in [
        "wes_calls_total{outcome=\"ok\"} 3".to_string(),
        "wes_calls_total{outcome=\"trap\"} 6".to_string(),
        "wes_traps_total{code=\"OutOfGas\"} 3".to_string(),
        "wes_traps_total{code=\"Unreachable\"} 3".to_string(),
        format!("wes_gas_used_total {gas}"),
        "wes_host_calls_total 9".to_string(),
        format!("wes_memory_peak_pages {peak}"),
        "wes_instances_live 1".to_string(),
        "wes_call_gas_count 9".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "no line `{line}` in:\n{text}");
    }
    assert!(text.trim_end().ends_with("# EOF"));
    // And the JSON export.
    let json: serde_json::Value = serde_json::from_str(&rt.metrics_json()).unwrap();
    assert_eq!(json["gas_used"].as_u64(), Some(gas));
    assert_eq!(json["traps"]["OutOfGas"].as_u64(), Some(3));
    drop(live);
    assert_eq!(rt.metrics().instances_live, 0);

    // Off: nothing is counted.
    let quiet = with_hosts(RuntimeConfig::from_toml("[monitoring]\nmetrics = false\n").unwrap());
    let m = quiet.load(GUEST.as_bytes()).unwrap();
    let mut i = quiet.create_instance(&m, quiet.gas_meter(100_000)).unwrap();
    i.execute("grow", &[Value::I32(1)]).unwrap();
    assert_eq!(quiet.metrics(), wes::MetricsSnapshot::default());
    assert_eq!(quiet.metrics_prometheus(), "");
}

#[test]
fn operators_executed_are_counted_per_call_and_scrape_as_prometheus_and_json() {
    // By hand, per straight-line segment charged (docs/pricing.md):
    // - `grow 1`: [local.get memory.grow drop i32.const memory.grow drop i32.const i32.const
    //   call] 9, [i32.const call] 2, [i32.const call] 2, [memory.size end] 2 = 15;
    // - `trap`: [unreachable] 1 (its `end` never runs);
    // - `spin`, on what the instance's 100 000 gas has left: [loop] then [br] again and again,
    //   every operator priced 1 under the default table, so the operators paid for are the
    //   gas the call used.
    let rt = with_hosts(RuntimeConfig::from_toml("[monitoring]\ncount_operators = true\n").unwrap());
    let m = rt.load(GUEST.as_bytes()).unwrap();
    let mut total = 0;
    for _ in 0..3 {
        let mut i = rt.create_instance(&m, rt.gas_meter(100_000)).unwrap();
        assert_eq!(i.execute("grow", &[Value::I32(1)]).unwrap().operators_executed, Some(15));
        assert_eq!(i.execute("trap", &[]).unwrap().operators_executed, Some(1));
        let s = i.execute("spin", &[]).unwrap();
        assert_eq!(s.error.unwrap().trap_code(), Some(TrapCode::OutOfGas));
        // Every operator costs 1, so the loop runs the meter dry to the unit.
        assert_eq!(s.gas.remaining, 0);
        assert_eq!(s.operators_executed, Some(s.gas.used));
        total += 15 + 1 + s.gas.used;
        rt.destroy_instance(i);
    }
    assert_eq!(rt.metrics().operators_executed, total);
    let text = rt.metrics_prometheus();
    let line = format!("wes_operators_executed_total {total}");
    assert!(text.lines().any(|l| l == line), "no line `{line}` in:\n{text}");
    let json: serde_json::Value = serde_json::from_str(&rt.metrics_json()).unwrap();
    assert_eq!(json["operators_executed"].as_u64(), Some(total));

    // Off (the default): no count in the result, 0 in the metrics.
    let rt = with_hosts(RuntimeConfig::default());
    let m = rt.load(GUEST.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(100_000)).unwrap();
    assert_eq!(i.execute("grow", &[Value::I32(1)]).unwrap().operators_executed, None);
    assert_eq!(rt.metrics().operators_executed, 0);
}

/// A collector of the embedder's own, next to the registry.
#[derive(Debug, Default)]
struct Tally(std::sync::atomic::AtomicU64);

impl wes::MetricsCollector for Tally {
    fn module_loaded(&self, _: &wes::CompileRecord) {}
    fn instance_created(&self) {}
    fn instance_destroyed(&self) {}
    fn call_finished(&self, r: &wes::CallRecord) {
        self.0.fetch_add(r.gas_used, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn an_embedders_collector_gets_every_call() {
    let mut rt = with_hosts(RuntimeConfig::default());
    let tally = std::sync::Arc::new(Tally::default());
    rt.add_collector(tally.clone());
    let m = rt.load(GUEST.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(100_000)).unwrap();
    let used = i.execute("grow", &[Value::I32(1)]).unwrap().gas.used;
    assert_eq!(tally.0.load(std::sync::atomic::Ordering::Relaxed), used);
    assert_eq!(rt.metrics().gas_used, used);
}

/// The storage of the counter contract.
#[derive(Default)]
struct Storage(std::collections::BTreeMap<Vec<u8>, Vec<u8>>);

fn read_region(c: &mut Caller<'_>, region: u32) -> Result<Vec<u8>, HostError> {
    let mut h = [0u8; 12];
    c.read_memory(u64::from(region), &mut h)?;
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let mut data = vec![0; word(8).min(word(4)) as usize];
    c.read_memory(u64::from(word(0)), &mut data)?;
    Ok(data)
}

#[test]
fn the_counter_contract_runs_through_the_facade_with_reentrant_host_calls() {
    let mut rt = runtime();
    rt.linker_mut().func_wrap("env", "db_read", |c: &mut Caller<'_>, (key,): (u32,)| -> Result<u32, HostError> {
        let key = read_region(c, key)?;
        let Some(value) = wes::host::data::<Storage>(c).and_then(|s| s.0.get(&key).cloned()) else { return Ok(0) };
        let allocate = c.get_func("allocate").ok_or_else(|| HostError::new("no allocate"))?;
        let region = c.call(allocate, &[Value::I32(value.len() as i32)])?[0].as_i32().unwrap_or(0) as u32;
        let mut offset = [0u8; 4];
        c.read_memory(u64::from(region), &mut offset)?;
        c.write_memory(u64::from(u32::from_le_bytes(offset)), &value)?;
        c.write_memory(u64::from(region) + 8, &(value.len() as u32).to_le_bytes())?;
        Ok(region)
    });
    rt.linker_mut().func_wrap("env", "db_write", |c: &mut Caller<'_>, (k, v): (u32, u32)| -> Result<(), HostError> {
        let (k, v) = (read_region(c, k)?, read_region(c, v)?);
        wes::host::record_effect(c, "storage.write", v.clone())?;
        wes::host::data::<Storage>(c).ok_or_else(|| HostError::new("no storage"))?.0.insert(k, v);
        Ok(())
    });
    let wat = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/counter.wat")).unwrap();
    let m = rt.load(&wat).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(1_000_000)).unwrap();
    i.set_data(Storage::default());
    let mut count = 0;
    for add in [5, 37] {
        count += add;
        let msg = format!(r#"{{"add":{add}}}"#);
        let region = i.execute("allocate", &[Value::I32(msg.len() as i32)]).unwrap().values[0].as_i32().unwrap() as u64;
        let mut offset = [0u8; 4];
        i.read_memory(region, &mut offset).unwrap();
        i.write_memory(u64::from(u32::from_le_bytes(offset)), msg.as_bytes()).unwrap();
        i.write_memory(region + 8, &(msg.len() as u32).to_le_bytes()).unwrap();
        let r = i.execute("execute", &[Value::I32(region as i32)]).unwrap();
        assert!(r.success, "{:?}", r.error);
        assert_eq!(r.logs, ["counter updated"]);
        assert_eq!(r.side_effects.len(), 1);
        assert_eq!(r.side_effects[0].data, count.to_string().into_bytes());
        // db_read's allocate and the two host functions; the nested allocate is wasm.
        assert_eq!(r.host_calls, 3);
    }
    assert_eq!(i.data_mut::<Storage>().unwrap().0.get(&b"count"[..]).unwrap(), b"42");
}

#[test]
fn a_profiled_call_attributes_all_its_gas_to_functions() {
    let config = RuntimeConfig::from_toml("[monitoring]\nprofile = true\n").unwrap();
    let rt = wes::Runtime::new(config).unwrap();
    let wat = br#"(module
          (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
          (func (export "sum") (param i32) (result i32) (local $acc i32)
            (loop $l
              (local.set $acc (i32.add (local.get $acc) (call $sq (local.get 0))))
              (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
            (local.get $acc)))"#;
    let m = rt.load(wat).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(1_000_000)).unwrap();
    let r = i.execute("sum", &[wes::Value::I32(10)]).unwrap();
    assert_eq!(r.values, [wes::Value::I32(385)]);
    let p = r.profile.unwrap();
    assert_eq!(p.total_gas(), r.gas.consumed);
    let sq = p.functions.iter().find(|f| f.label() == "sq").unwrap();
    assert_eq!(sq.calls, 10);
    // Off by default: no profile, and the same gas.
    let plain = wes::Runtime::new(RuntimeConfig::default()).unwrap();
    let m = plain.load(wat).unwrap();
    let r2 =
        plain.create_instance(&m, plain.gas_meter(1_000_000)).unwrap().execute("sum", &[wes::Value::I32(10)]).unwrap();
    assert!(r2.profile.is_none());
    assert_eq!(r2.gas.consumed, r.gas.consumed);
}

#[test]
fn the_artifact_cache_serves_a_module_loaded_again_and_artifacts_load_without_compiling() {
    let config = RuntimeConfig::from_toml("[performance]\ncache_memory_bytes = 16777216\n").unwrap();
    let rt = wes::Runtime::new(config).unwrap();
    let wat = br#"(module (func (export "f") (result i32) i32.const 41 i32.const 1 i32.add))"#;
    let first = rt.load(wat).unwrap();
    assert_eq!(first.code_source(), wes::CodeSource::Cache(wes::CacheSource::Compiled));
    let again = rt.load(wat).unwrap();
    assert_eq!(again.code_source(), wes::CodeSource::Cache(wes::CacheSource::Memory));
    let mut i = rt.create_instance(&again, rt.gas_meter(1_000)).unwrap();
    assert_eq!(i.execute("f", &[]).unwrap().values, [wes::Value::I32(42)]);
    // Without a cache, every load compiles.
    let plain = wes::Runtime::new(RuntimeConfig::default()).unwrap();
    assert_eq!(plain.load(wat).unwrap().code_source(), wes::CodeSource::Compiled);
    // Garbage that claims to be an artifact is refused with a typed error, never run.
    // SAFETY: the bytes are refused by the artifact checks before any code could be mapped.
    let e = unsafe { rt.load_artifact(b"WESCWASM not really", None) }.unwrap_err();
    assert_eq!(e.code(), wes::ErrorCode::ArtifactRefused, "{e}");
}

/// A call's duration comes from the runtime's calibrated counter: a loop of a million
/// iterations takes measurable time, and the call-time histogram saw the call.
#[test]
fn a_call_that_runs_has_a_duration() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let m = rt
        .load(
            br#"(module (func (export "count") (param i32) (result i32)
                  (loop $l (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if $l (local.get 0)))
                  local.get 0))"#,
        )
        .unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(u64::MAX / 4)).unwrap();
    let r = i.execute("count", &[Value::I32(1_000_000)]).unwrap();
    assert_eq!(r.values, [Value::I32(0)]);
    assert!(r.duration > std::time::Duration::ZERO && r.duration < std::time::Duration::from_secs(60), "{r:?}");
    let text = rt.metrics_prometheus();
    assert!(text.lines().any(|l| l == "wes_call_duration_seconds_count 1"), "{text}");
}

/// A module's imports are resolved when it is loaded, and resolved again once the linker has
/// changed: an instance made after a redefinition calls the new function, and a module
/// loaded before its import was defined instantiates once it is.
#[test]
fn instances_follow_the_linker_as_it_is_when_they_are_made() {
    let wat = r#"(module (import "env" "f" (func $f (result i32)))
        (func (export "get") (result i32) call $f))"#;
    let mut rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let early = rt.load(wat.as_bytes()).unwrap();
    let err = rt.create_instance(&early, rt.gas_meter(10_000)).unwrap_err();
    assert_eq!(err.code(), wes::ErrorCode::UnknownImport, "{err}");

    rt.linker_mut().func_wrap("env", "f", |_: &mut Caller<'_>, (): ()| -> Result<i32, HostError> { Ok(1) });
    let get = |rt: &Runtime, m: &wes::LoadedModule| {
        let mut i = rt.create_instance(m, rt.gas_meter(10_000)).unwrap();
        i.execute("get", &[]).unwrap().values
    };
    let linked = rt.load(wat.as_bytes()).unwrap();
    assert_eq!(get(&rt, &early), vec![Value::I32(1)]);
    assert_eq!(get(&rt, &linked), vec![Value::I32(1)]);

    rt.linker_mut().func_wrap("env", "f", |_: &mut Caller<'_>, (): ()| -> Result<i32, HostError> { Ok(2) });
    assert_eq!(get(&rt, &linked), vec![Value::I32(2)]);
    assert_eq!(get(&rt, &early), vec![Value::I32(2)]);
}
