//! One export of one module run on WES's interpreter or on wasmi, alone in a process: to count
//! the instructions each executes for the same work (`valgrind --tool=callgrind`) or to time
//! them apart from the harness. Both translate eagerly and run unmetered, as the harness's
//! interpreter rows (`wes-gas`: WES metered under the default pricing); the module is loaded
//! and instantiated once, then the export is called ROUNDS times.
//!
//! `cargo run --release --manifest-path benches/Cargo.toml --example interp_run --
//! wes|wes-gas|wasmi FILE EXPORT ARG [ROUNDS] [SETUP]`; FILE is .wasm or .wat, the export takes one integer (i32
//! or i64) and returns one number; SETUP, an export called once with ARG before the rounds (the
//! harness's `fill` of sha256, `init` of matmul; `env.inc` for host-call). Prints the result (as bits for a float) and
//! each call's median time.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, runtime, path, export, arg, rest @ ..] = &args[..] else {
        bail!("usage: interp_run wes|wes-gas|wasmi FILE EXPORT ARG [ROUNDS]")
    };
    let arg: i64 = arg.parse().context("ARG")?;
    let rounds: usize = rest.first().map_or(Ok(1), |r| r.parse()).context("ROUNDS")?.max(1);
    let setup = rest.get(1);
    let wasm = wat::parse_file(path).with_context(|| format!("reading {path}"))?;
    let mut times = Vec::with_capacity(rounds);
    let mut result = 0i64;
    match runtime.as_str() {
        "wes" | "wes-gas" => {
            let metered = runtime == "wes-gas";
            let mut config = wes::RuntimeConfig::default();
            config.performance.backend = wes::BackendKind::Interp;
            config.performance.translation = wes::Translation::Eager;
            config.gas.metered = metered;
            let engine = config.engine()?;
            let module = wes_runtime::Module::new(&engine, wes_decode::decode(&wasm)?)?;
            let mut store = wes_runtime::Store::new(&engine);
            // The four WASI imports of the C workloads (never called when they run well).
            let mut linker = wes_runtime::Linker::new();
            let wasi = "wasi_snapshot_preview1";
            let refused = || wes_runtime::HostError::new("WASI is not provided");
            linker.func_wrap(
                wasi,
                "fd_close",
                move |_: &mut wes_runtime::Caller<'_>, (_,): (i32,)| -> Result<i32, _> { Err(refused()) },
            );
            linker.func_wrap(
                wasi,
                "fd_seek",
                move |_: &mut wes_runtime::Caller<'_>, _: (i32, i64, i32, i32)| -> Result<i32, _> { Err(refused()) },
            );
            linker.func_wrap(
                wasi,
                "fd_write",
                move |_: &mut wes_runtime::Caller<'_>, _: (i32, i32, i32, i32)| -> Result<i32, _> { Err(refused()) },
            );
            linker.func_wrap(
                wasi,
                "proc_exit",
                move |_: &mut wes_runtime::Caller<'_>, (_,): (i32,)| -> Result<(), _> { Err(refused()) },
            );
            // The host-call workload's import, as the harness gives it.
            linker.func_wrap("env", "inc", |_: &mut wes_runtime::Caller<'_>, (x,): (i64,)| -> Result<i64, _> {
                Ok::<_, wes_runtime::HostError>(x.wrapping_add(1))
            });
            let instance = linker.instantiate(&mut store, &module)?;
            let func = instance.get_func(&store, export).ok_or_else(|| anyhow!("no export {export}"))?;
            if let Some(setup) = setup {
                let f = instance.get_func(&store, setup).ok_or_else(|| anyhow!("no export {setup}"))?;
                f.call_with_gas(&mut store, &[wes_core::Value::I32(arg as i32)], u64::MAX / 4).result?;
            }
            let param = func.ty(&store)?.params().first().copied();
            let value = match param {
                Some(wes_core::ValType::I32) => wes_core::Value::I32(arg as i32),
                _ => wes_core::Value::I64(arg),
            };
            for _ in 0..rounds {
                let t = Instant::now();
                let out = match metered {
                    true => func.call_with_gas(&mut store, std::slice::from_ref(&value), u64::MAX / 4).result?,
                    false => func.call(&mut store, std::slice::from_ref(&value))?,
                };
                times.push(t.elapsed());
                result = match out.first() {
                    Some(wes_core::Value::I32(v)) => i64::from(*v),
                    Some(wes_core::Value::I64(v)) => *v,
                    Some(wes_core::Value::F64(v)) => *v as i64,
                    other => bail!("unexpected result {other:?}"),
                };
            }
        }
        "wasmi" => {
            let mut config = wasmi::Config::default();
            config.compilation_mode(wasmi::CompilationMode::Eager);
            let engine = wasmi::Engine::new(&config);
            let module = wasmi::Module::new(&engine, &wasm[..]).map_err(|e| anyhow!("{e}"))?;
            let mut store = wasmi::Store::new(&engine, ());
            let mut linker = wasmi::Linker::<()>::new(&engine);
            let wasi = "wasi_snapshot_preview1";
            let refused = || wasmi::Error::new("WASI is not provided");
            linker.func_wrap(wasi, "fd_close", move |_: i32| -> Result<i32, wasmi::Error> { Err(refused()) })?;
            linker.func_wrap(wasi, "fd_seek", move |_: i32, _: i64, _: i32, _: i32| -> Result<i32, wasmi::Error> {
                Err(refused())
            })?;
            linker.func_wrap(wasi, "fd_write", move |_: i32, _: i32, _: i32, _: i32| -> Result<i32, wasmi::Error> {
                Err(refused())
            })?;
            linker.func_wrap(wasi, "proc_exit", move |_: i32| -> Result<(), wasmi::Error> { Err(refused()) })?;
            linker.func_wrap("env", "inc", |x: i64| -> i64 { x.wrapping_add(1) })?;
            let instance = linker.instantiate_and_start(&mut store, &module).map_err(|e| anyhow!("{e}"))?;
            let func = instance.get_func(&store, export).ok_or_else(|| anyhow!("no export {export}"))?;
            if let Some(setup) = setup {
                let f = instance.get_func(&store, setup).ok_or_else(|| anyhow!("no export {setup}"))?;
                f.call(&mut store, &[wasmi::Val::I32(arg as i32)], &mut []).map_err(|e| anyhow!("{e}"))?;
            }
            let value = match func.ty(&store).params().first() {
                Some(wasmi::ValType::I32) => wasmi::Val::I32(arg as i32),
                _ => wasmi::Val::I64(arg),
            };
            let mut out = [wasmi::Val::I64(0)];
            for _ in 0..rounds {
                let t = Instant::now();
                func.call(&mut store, std::slice::from_ref(&value), &mut out).map_err(|e| anyhow!("{e}"))?;
                times.push(t.elapsed());
                result = match out[0] {
                    wasmi::Val::I32(v) => i64::from(v),
                    wasmi::Val::I64(v) => v,
                    wasmi::Val::F64(v) => f64::from(v).to_bits() as i64,
                    ref other => bail!("unexpected result {other:?}"),
                };
            }
        }
        other => bail!("unknown runtime {other}: wes or wasmi"),
    }
    times.sort();
    let median: Duration = times[times.len() / 2];
    println!("{runtime} {export}({arg}) = {result}: median {:.3} ms over {rounds}", median.as_secs_f64() * 1e3);
    Ok(())
}
