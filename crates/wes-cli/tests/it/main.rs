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
    assert_eq!(json(&o), serde_json::json!({"results": [{"type": "i32", "value": "55"}], "trap": null}));
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
