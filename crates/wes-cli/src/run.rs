//! `wes run`: decode, compile, instantiate, call, report.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use wes_core::{Trap, Value};
use wes_runtime::{Config, Engine, Func, Instance, Linker, Module, RuntimeError, Store};

use crate::output::{self, Outcome, TypedValue};

/// Why `wes run` could not run: each is "unusable input", exit status 2.
#[derive(Debug, thiserror::Error)]
enum UsageError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Decode { path: String, source: wes_decode::DecodeError },
    #[error("{0}")]
    Runtime(RuntimeError),
    #[error("no export named `{0}`")]
    NoSuchExport(String),
    #[error("export `{0}` is not a function")]
    NotAFunction(String),
    #[error("`{name}` takes {expected} argument(s) ({ty}), {given} given")]
    Arity { name: String, expected: usize, given: usize, ty: String },
    #[error("argument {index} of `{name}`: {message}")]
    Argument { name: String, index: usize, message: String },
    #[error("nothing to run: give --invoke NAME (exports: {0})")]
    NothingToRun(String),
}

/// Exit status for a trap.
const TRAPPED: u8 = 1;
/// Exit status for unusable input.
const UNUSABLE: u8 = 2;

pub(crate) fn run(file: &Path, invoke: Option<&str>, args: &[String], json: bool) -> ExitCode {
    match execute(file, invoke, args) {
        Ok(results) => {
            let outcome = Outcome { results: results.iter().map(TypedValue::from).collect(), trap: None };
            output::print(&outcome, json, None);
            ExitCode::SUCCESS
        }
        Err(Failure::Trap(trap)) => {
            let outcome = Outcome { results: Vec::new(), trap: Some((&trap).into()) };
            output::print(&outcome, json, Some(&trap));
            ExitCode::from(TRAPPED)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("wes: {e}");
            ExitCode::from(UNUSABLE)
        }
    }
}

enum Failure {
    Trap(Trap),
    Usage(UsageError),
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e)
    }
}

impl From<RuntimeError> for Failure {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Trap(t) => Failure::Trap(t),
            other => Failure::Usage(UsageError::Runtime(other)),
        }
    }
}

fn execute(file: &Path, invoke: Option<&str>, args: &[String]) -> Result<Vec<Value>, Failure> {
    let path = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|source| UsageError::Read { path: path.clone(), source })?;
    let module = wes_decode::decode_any(&bytes).map_err(|source| UsageError::Decode { path, source })?;
    let has_start = module.start.is_some();

    let backend = wes_jit::Jit::new().map_err(|e| UsageError::Runtime(e.into()))?;
    let engine = Engine::new(Config::default(), Arc::new(backend));
    let module = Module::new(&engine, module)?;
    let mut store = Store::new(&engine);
    // The start function runs here; a trap in it is a trap of the run.
    let instance = Linker::new().instantiate(&mut store, &module)?;

    let name = match invoke {
        Some(name) => name,
        None if instance.get_func(&store, "_start").is_some() => "_start",
        None if has_start && args.is_empty() => return Ok(Vec::new()),
        None => return Err(UsageError::NothingToRun(export_names(&instance, &store)).into()),
    };
    let func = find_func(&instance, &store, name)?;
    let ty = func.ty(&store)?;
    if ty.params().len() != args.len() {
        return Err(UsageError::Arity {
            name: name.to_string(),
            expected: ty.params().len(),
            given: args.len(),
            ty: ty.to_string(),
        }
        .into());
    }
    let values = ty
        .params()
        .iter()
        .zip(args)
        .enumerate()
        .map(|(index, (t, a))| {
            crate::args::parse(*t, a).map_err(|message| UsageError::Argument { name: name.to_string(), index, message })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(func.call(&mut store, &values)?)
}

fn find_func(instance: &Instance, store: &Store, name: &str) -> Result<Func, UsageError> {
    match instance.get_func(store, name) {
        Some(f) => Ok(f),
        None if instance.get_export(store, name).is_some() => Err(UsageError::NotAFunction(name.to_string())),
        None => Err(UsageError::NoSuchExport(name.to_string())),
    }
}

fn export_names(instance: &Instance, store: &Store) -> String {
    let names: Vec<String> = instance.exports(store).into_iter().map(|(n, _)| n).collect();
    if names.is_empty() { "none".to_string() } else { names.join(", ") }
}
