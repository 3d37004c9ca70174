//! Configuration files: every section, TOML and JSON alike, unknown keys and bad values
//! rejected with the key's path, and one source of truth for the engine.

use wes::{ConfigError, Encoding, RuntimeConfig, Value};

const FULL: &str = r#"
[gas]
metered = true
default_limit = 5000
max_limit = 100000
[gas.refunds]
numerator = 1
denominator = 2
[gas.prediction]
admission = "static_bound"
record_history = true
window = 16
estimator = "quantile"
quantile = 0.5
reserve_margin_percent = 10
[limits]
max_call_depth = 50
max_memory_pages = 10
max_table_elements = 1000
max_host_reentry = 2
host_stack_reserve = 65536
max_wasm_stack = 67108864
[limits.store]
memory_bytes = 1048576
instances = 3
[performance]
backend = "jit"
compile_threads = 1
optimize = false
merge_gas_checks = false
[data]
encoding = "postcard"
[monitoring]
metrics = false
[instance]
reuse = true
pool_size = 8
prewarm = 2
capacity = 32
max_lifetime_ms = 60000
max_uses = 1000
idle_timeout_ms = 5000
[security]
enabled = true
preset = "contract"
[security.limits]
max_memory_pages = 16
[security.capabilities]
grants = { "token" = ["time"] }
[security.threats.trap_storm]
threshold = 3
"#;

#[test]
fn every_section_is_read_from_toml_and_json_alike() {
    let c = RuntimeConfig::from_toml(FULL).unwrap();
    assert_eq!(c.gas.default_limit, 5000);
    assert_eq!(c.gas.refunds.denominator, 2);
    assert_eq!(c.gas.prediction.admission, wes::AdmissionKind::StaticBound);
    assert_eq!((c.gas.prediction.window, c.gas.prediction.quantile), (16, 0.5));
    assert_eq!(c.limits.max_call_depth, 50);
    assert_eq!(c.limits.max_host_reentry, 2);
    assert_eq!((c.limits.store.memory_bytes, c.limits.store.instances), (1_048_576, 3));
    assert_eq!(c.performance.compile_threads, 1);
    assert!(!c.performance.optimize);
    assert_eq!(c.data.encoding, Encoding::Postcard);
    assert!(!c.monitoring.metrics);
    assert!(c.instance.reuse);
    assert_eq!((c.instance.pool_size, c.instance.prewarm, c.instance.capacity), (8, 2, 32));
    assert_eq!((c.instance.max_uses, c.instance.idle_timeout_ms), (Some(1000), Some(5000)));
    assert!(c.security.enabled);
    // The preset, overridden key by key: the override replaces one key and keeps the rest.
    let policy = c.security.policy().unwrap();
    let contract = wes_security::SecurityPolicy::contract();
    assert_eq!(policy.limits.max_memory_pages, 16);
    assert_eq!(policy.limits.max_functions, contract.limits.max_functions);
    assert_eq!(policy.capabilities.grants["token"], ["time"]);
    assert_eq!(policy.capabilities.default_grants, contract.capabilities.default_grants);
    assert_eq!(policy.threats.trap_storm.threshold, 3);
    assert_eq!(policy.threats.trap_storm.window_ms, contract.threats.trap_storm.window_ms);
    // The same document as JSON, and back through TOML.
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(RuntimeConfig::from_json(&json).unwrap(), c);
    assert_eq!(RuntimeConfig::from_toml(&c.to_toml().unwrap()).unwrap(), c);
}

#[test]
fn the_example_file_documents_exactly_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/wes.toml");
    assert_eq!(RuntimeConfig::from_file(path).unwrap(), RuntimeConfig::default());
    assert_eq!(RuntimeConfig::from_toml("").unwrap(), RuntimeConfig::default());
}

fn key_error(text: &str) -> (String, String) {
    match RuntimeConfig::from_toml(text) {
        Err(ConfigError::Key { path, message }) => (path, message),
        other => panic!("expected a key error for {text:?}, got {other:?}"),
    }
}

#[test]
fn unknown_keys_and_bad_values_name_the_key_path() {
    let (path, message) = key_error("[gas]\nmeterd = true\n");
    assert_eq!(path, "gas.meterd");
    assert!(message.contains("unknown field `meterd`"), "{message}");
    let (path, message) = key_error("[gas.refunds]\nnumerator = 1\nbogus = 2\n");
    assert_eq!(path, "gas.refunds.bogus");
    assert!(message.contains("bogus"), "{message}");
    let (path, _) = key_error("[instanse]\npool = 1\n");
    assert_eq!(path, "instanse");
    let (path, message) = key_error("[limits]\nmax_call_depth = \"deep\"\n");
    assert_eq!(path, "limits.max_call_depth");
    assert!(message.contains("invalid type"), "{message}");
    let (path, message) = key_error("[performance]\nbackend = \"wasm3\"\n");
    assert_eq!(path, "performance.backend");
    assert!(message.contains("jit"), "{message}");
    let (path, _) = key_error("[data]\nencoding = \"xml\"\n");
    assert_eq!(path, "data.encoding");
    let (path, _) = key_error("[instance]\npool_size = -1\n");
    assert_eq!(path, "instance.pool_size");
    let (path, _) = key_error("[security]\npreset = \"paranoid\"\n");
    assert_eq!(path, "security.preset");
    // Overrides of the security policy are checked against the policy's own keys.
    let (path, message) = key_error("[security.limits]\nmax_tabels = 1\n");
    assert_eq!(path, "security.limits.max_tabels");
    assert!(message.contains("unknown field"), "{message}");
    let (path, _) = key_error("[security.capabilities]\ndefault_grants = 3\n");
    assert_eq!(path, "security.capabilities.default_grants");
    let (path, _) = key_error("[security.threats.trap_storm]\naction = \"explode\"\n");
    assert_eq!(path, "security.threats.trap_storm.action");
    // JSON names paths the same way.
    match RuntimeConfig::from_json(r#"{"limits": {"max_memory_pages": -1}}"#) {
        Err(ConfigError::Key { path, .. }) => assert_eq!(path, "limits.max_memory_pages"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(RuntimeConfig::from_toml("[gas"), Err(ConfigError::Syntax(_))));
    assert!(matches!(RuntimeConfig::from_json("{"), Err(ConfigError::Syntax(_))));
}

#[test]
fn values_of_the_right_type_but_out_of_range_are_refused() {
    for (text, key) in [
        ("[gas]\ndefault_limit = 10\nmax_limit = 5\n", "gas.default_limit"),
        ("[gas.refunds]\nnumerator = 3\ndenominator = 2\n", "gas.refunds.numerator"),
        ("[limits]\nmax_call_depth = 0\n", "limits.max_call_depth"),
        ("[limits]\nmax_memory_pages = 65537\n", "limits.max_memory_pages"),
        ("[gas]\npricing_file = \"p.toml\"\n[gas.pricing]\nversion = 1\n", "gas.pricing"),
        ("[instance]\npool_size = 0\n", "instance.pool_size"),
        ("[gas.prediction]\nquantile = 1.5\n", "gas.prediction.quantile"),
        ("[gas.prediction]\nwindow = 0\n", "gas.prediction.window"),
        ("[instance]\npool_size = 4\nprewarm = 5\n", "instance.prewarm"),
        ("[instance]\npool_size = 40\ncapacity = 8\n", "instance.capacity"),
    ] {
        match RuntimeConfig::from_toml(text) {
            Err(ConfigError::Value { path, .. }) => assert_eq!(path, key, "{text}"),
            Err(ConfigError::Key { path, .. }) => assert!(key.starts_with(&path), "{text}: {path}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    let missing = RuntimeConfig::from_toml("[gas]\npricing_file = \"/nonexistent/pricing.toml\"\n").unwrap();
    assert!(matches!(missing.engine(), Err(ConfigError::Pricing { path: "gas.pricing_file", .. })));
}

#[test]
fn pricing_is_set_once_and_reaches_both_the_code_and_the_runtime() {
    // Doubling every price doubles a straight-line function's gas: the JIT compiled the
    // charges and the runtime accepted the code, from the one table in the configuration.
    let mut table = wes_meter::PricingTable::default();
    let base = RuntimeConfig::default();
    let mut doubled = RuntimeConfig::default();
    let classes = &mut table.classes;
    for c in [
        &mut classes.control,
        &mut classes.br_table,
        &mut classes.local,
        &mut classes.global,
        &mut classes.constant,
        &mut classes.integer,
        &mut classes.integer_division,
        &mut classes.float,
        &mut classes.load,
        &mut classes.store,
        &mut classes.memory,
        &mut classes.table,
        &mut classes.reference,
        &mut classes.simd,
        &mut classes.atomic,
        &mut classes.other,
    ] {
        *c *= 2;
    }
    doubled.gas.pricing = Some(table);
    let wat = br#"(module (func (export "f") (result i32) i32.const 1 i32.const 2 i32.add i32.const 3 i32.mul))"#;
    let gas = |config: RuntimeConfig| {
        let rt = wes::Runtime::new(config).unwrap();
        let m = rt.load(wat).unwrap();
        let mut i = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
        let r = i.execute("f", &[]).unwrap();
        assert_eq!(r.values, [Value::I32(9)]);
        r.gas.used
    };
    let (one, two) = (gas(base), gas(doubled));
    assert!(one > 0);
    assert_eq!(two, 2 * one);
}

#[test]
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn guard_region_bounds_checks_trap_as_explicit_ones_with_the_same_gas() {
    let wat = br#"(module (memory 1) (func (export "f") (param i32) (result i32) (i32.load (local.get 0))))"#;
    let run = |toml: &str, at: i32| {
        let rt = wes::Runtime::new(RuntimeConfig::from_toml(toml).unwrap()).unwrap();
        let m = rt.load(wat).unwrap();
        let mut i = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
        i.execute("f", &[Value::I32(at)]).unwrap()
    };
    for metered in [true, false] {
        let guard = format!("[gas]\nmetered = {metered}\n[performance]\nbounds_checks = \"guard\"\n");
        let explicit = format!("[gas]\nmetered = {metered}\n[performance]\nbounds_checks = \"explicit\"\n");
        assert_eq!(run(&guard, 65532).values, [Value::I32(0)]);
        // The fault is the trap an explicit check raises, at the load's offset, with its gas.
        let (g, e) = (run(&guard, 65533), run(&explicit, 65533));
        let error = g.error.as_ref().unwrap();
        assert_eq!(error.kind(), wes::ErrorKind::Memory, "{error}");
        assert!(error.to_string().contains("out of bounds memory access in func[0] @ 0x27"), "{error}");
        assert_eq!(error.to_string(), e.error.unwrap().to_string());
        assert_eq!(g.gas.used, e.gas.used);
        assert_eq!(g.gas.used > 0, metered);
    }
}

/// `performance.translation`: each of the interpreter's three modes, read from TOML, gives
/// the JIT's values and gas on a module big enough for `background` to start its threads.
#[test]
fn every_translation_mode_gives_the_jits_values_and_gas() {
    let mut wat = String::from("(module\n");
    for i in 0..200 {
        wat.push_str(&format!(
            "(func $f{i} (param i64) (result i64) (i64.add (i64.mul (local.get 0) (i64.const {i})) (i64.const 7)))\n"
        ));
    }
    wat.push_str("(func (export \"sum\") (param i64) (result i64) (local $s i64)\n");
    for i in 0..200 {
        wat.push_str(&format!("(local.set $s (i64.xor (local.get $s) (call $f{i} (local.get 0))))\n"));
    }
    wat.push_str("(local.get $s)))");
    let run = |performance: &str| {
        let config = RuntimeConfig::from_toml(&format!(
            "[gas]\nmetered = true\n[performance]\ncompile_threads = 2\n{performance}"
        ))
        .unwrap();
        let rt = wes::Runtime::new(config).unwrap();
        let m = rt.load(wat.as_bytes()).unwrap();
        let mut i = rt.create_instance(&m, rt.gas_meter(1_000_000)).unwrap();
        let r = i.execute("sum", &[Value::I64(99)]).unwrap();
        (r.values, r.gas.used)
    };
    let jit = run("backend = \"jit\"\n");
    assert!(jit.1 > 0);
    for mode in ["lazy", "eager", "background"] {
        assert_eq!(run(&format!("backend = \"interp\"\ntranslation = \"{mode}\"\n")), jit, "{mode}");
    }
    let (path, _) = key_error("[performance]\ntranslation = \"later\"\n");
    assert_eq!(path, "performance.translation");
}
