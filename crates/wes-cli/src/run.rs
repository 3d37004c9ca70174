//! `wes run`: decode, compile, instantiate, call, report.

use std::path::Path;
use std::process::ExitCode;

use wes_core::{Trap, Value};
use wes_runtime::{Func, Instance, Module, RuntimeError, Store};

use crate::compile::{self, CodeSource};
use crate::output::{self, Outcome, TypedValue};

/// Why `wes run` could not run: each is "unusable input", exit status 2.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UsageError {
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
    #[error("{0}")]
    Config(wes::ConfigError),
    #[error("{0}")]
    Facade(wes::RuntimeError),
    #[error("{path}: {source}")]
    Artifact { path: String, source: wes_cache::CacheError },
}

/// How `wes run` runs and reports.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) json: bool,
    pub(crate) gas: Option<u64>,
    pub(crate) pricing: Option<std::path::PathBuf>,
    pub(crate) config: Option<std::path::PathBuf>,
    /// A compiled-artifact cache directory to load the module's code through.
    pub(crate) cache: Option<std::path::PathBuf>,
}

/// The gas of a run, read from the store's meter.
#[derive(Clone, Copy, Debug, Default)]
struct Gas {
    limit: u64,
    used: u64,
    refunded: u64,
}

/// Exit status for a trap.
const TRAPPED: u8 = 1;
/// Exit status for unusable input.
const UNUSABLE: u8 = 2;

pub(crate) fn run(file: &Path, invoke: Option<&str>, args: &[String], options: &Options) -> ExitCode {
    let runtime = match runtime(options) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wes: {e}");
            return ExitCode::from(UNUSABLE);
        }
    };
    let limit = options.gas.unwrap_or(runtime.config().gas.default_limit).min(runtime.config().gas.max_limit);
    let mut gas = Gas { limit, ..Gas::default() };
    let mut code = CodeSource::Compiled;
    let outcome = |results: Vec<TypedValue>, trap, gas: Gas, code: CodeSource| Outcome {
        results,
        trap,
        gas_limit: gas.limit,
        gas_used: gas.used,
        gas_refunded: gas.refunded,
        default_limit: options.gas.is_none(),
        code: code.json_name(),
    };
    match execute(&runtime, file, invoke, args, options, &mut gas, &mut code) {
        Ok(results) => {
            let o = outcome(results.iter().map(TypedValue::from).collect(), None, gas, code);
            output::print(&o, options.json, None);
            ExitCode::SUCCESS
        }
        Err(Failure::Trap(trap)) => {
            let o = outcome(Vec::new(), Some((&trap).into()), gas, code);
            output::print(&o, options.json, Some(&trap));
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

/// The runtime the options describe: the configuration file's or the defaults, with
/// `--pricing` in place of its pricing. Its engine is the one the run uses.
pub(crate) fn runtime(options: &Options) -> Result<wes::Runtime, UsageError> {
    let mut config = match &options.config {
        Some(path) => wes::RuntimeConfig::from_file(path).map_err(UsageError::Config)?,
        None => wes::RuntimeConfig::default(),
    };
    if let Some(pricing) = &options.pricing {
        config.gas.pricing = None;
        config.gas.pricing_file = Some(pricing.clone());
    }
    // Checked here so that a bad pricing file is reported as such, before any module is read.
    config.pricing().map_err(UsageError::Config)?;
    wes::Runtime::new(config).map_err(UsageError::Facade)
}

/// Runs, leaving the gas figures in `gas` whatever the outcome.
fn execute(
    runtime: &wes::Runtime,
    file: &Path,
    invoke: Option<&str>,
    args: &[String],
    options: &Options,
    gas: &mut Gas,
    code: &mut CodeSource,
) -> Result<Vec<Value>, Failure> {
    let (module, source) = load(runtime, file, options.cache.as_deref())?;
    *code = source;
    let mut store = None;
    let r = execute_in(runtime, &module, invoke, args, gas.limit, &mut store);
    if let Some(meter) = store.as_ref().and_then(Store::meter) {
        *gas = Gas { limit: meter.limit(), used: meter.used(), refunded: meter.refunded() };
    }
    r
}

fn execute_in(
    runtime: &wes::Runtime,
    module: &Module,
    invoke: Option<&str>,
    args: &[String],
    limit: u64,
    store_slot: &mut Option<Store>,
) -> Result<Vec<Value>, Failure> {
    let has_start = module.module().start.is_some();
    let engine = runtime.engine();
    let store = store_slot.insert(Store::new(engine));
    store.set_meter(runtime.gas_meter(limit));
    // The start function runs here; a trap in it is a trap of the run.
    let instance = wes_runtime::Linker::new().instantiate(store, module)?;

    let name = match invoke {
        Some(name) => name,
        None if instance.get_func(store, "_start").is_some() => "_start",
        None if has_start && args.is_empty() => return Ok(Vec::new()),
        None => return Err(UsageError::NothingToRun(export_names(&instance, store)).into()),
    };
    let func = find_func(&instance, store, name)?;
    let ty = func.ty(store)?;
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
    Ok(func.call(store, &values)?)
}

/// The module in `file`: a compiled artifact, or a module (binary or text) compiled now or
/// loaded through the cache directory `cache`.
fn load(runtime: &wes::Runtime, file: &Path, cache: Option<&Path>) -> Result<(Module, CodeSource), UsageError> {
    let path = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|source| UsageError::Read { path: path.clone(), source })?;
    let artifact = |source| UsageError::Artifact { path: path.clone(), source };
    if compile::is_artifact(&bytes) {
        return Ok((compile::load_artifact(runtime, &bytes).map_err(artifact)?, CodeSource::Artifact));
    }
    if let Some(dir) = cache {
        // The cache keys binary modules; text is encoded first (as decoding it would).
        let wasm = wat::parse_bytes(&bytes).map_err(|e| UsageError::Decode {
            path: path.clone(),
            source: wes_decode::DecodeError::Text { message: e.to_string() },
        })?;
        let (module, source) = compile::load_cached(runtime, dir, &wasm).map_err(artifact)?;
        return Ok((module, CodeSource::Cache(source)));
    }
    let module = wes_decode::decode_any(&bytes).map_err(|source| UsageError::Decode { path, source })?;
    Ok((Module::new(runtime.engine(), module).map_err(UsageError::Runtime)?, CodeSource::Compiled))
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
