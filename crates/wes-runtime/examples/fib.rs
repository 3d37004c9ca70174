//! Runs a recursive Fibonacci in wasm and reports how long it took: a quick check that calls
//! and arithmetic compile to sensible code.
//!
//! ```text
//! cargo run --release -p wes-runtime --example fib -- 30
//! ```

use std::sync::Arc;
use std::time::Instant;

use wes_core::Value;
use wes_runtime::{Config, Engine, Linker, Module, Store};

const FIB: &str = r#"(module
  (func $fib (export "fib") (param i32) (result i32)
    local.get 0 i32.const 2 i32.lt_u
    if (result i32) local.get 0
    else
      local.get 0 i32.const 1 i32.sub call $fib
      local.get 0 i32.const 2 i32.sub call $fib
      i32.add
    end))"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: i32 = std::env::args().nth(1).map_or(Ok(27), |a| a.parse())?;
    let engine = Engine::new(Config::default(), Arc::new(wes_jit::Jit::new()?));
    let start = Instant::now();
    let module = Module::new(&engine, wes_decode::decode_text(FIB)?)?;
    let compiled = start.elapsed();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module)?;
    let fib = instance.get_func(&store, "fib").ok_or("no export `fib`")?;
    let start = Instant::now();
    let result = fib.call(&mut store, &[Value::I32(n)])?;
    println!("fib({n}) = {} in {:?} (compiled in {compiled:?})", result[0], start.elapsed());
    Ok(())
}
