//! `wes run`: decode, compile, instantiate, call, report.

use std::path::Path;
use std::process::ExitCode;

use wes_core::{Trap, Value};

use crate::output::{self, Outcome, TypedValue};

/// Why `wes run` could not run: each is "unusable input", exit status 2.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UsageError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Decode { path: String, message: String },
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
}

/// How `wes run` runs and reports.
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) json: bool,
    pub(crate) gas: Option<u64>,
    pub(crate) pricing: Option<std::path::PathBuf>,
    pub(crate) config: Option<std::path::PathBuf>,
    /// `--backend`, instead of the configuration's.
    pub(crate) backend: Option<crate::Backend>,
    /// Print the metrics to stderr after the run.
    pub(crate) metrics: Option<crate::MetricsFormat>,
    /// Write a flame graph of the call's gas here.
    pub(crate) profile_svg: Option<std::path::PathBuf>,
    /// Write the call's folded stacks here.
    pub(crate) profile_folded: Option<std::path::PathBuf>,
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
    let mut profile = None;
    let mut source = None;
    let ran = execute(&runtime, file, invoke, args, &mut gas, &mut profile, &mut source);
    let outcome = |results: Vec<TypedValue>, trap, gas: Gas| Outcome {
        results,
        trap,
        gas_limit: gas.limit,
        gas_used: gas.used,
        gas_refunded: gas.refunded,
        default_limit: options.gas.is_none(),
        code: source.and_then(code_name),
    };
    let code = match ran {
        Ok(results) => {
            let o = outcome(results.iter().map(TypedValue::from).collect(), None, gas);
            output::print(&o, options.json, None);
            ExitCode::SUCCESS
        }
        Err(Failure::Trap(trap)) => {
            let o = outcome(Vec::new(), Some((&trap).into()), gas);
            output::print(&o, options.json, Some(&trap));
            ExitCode::from(TRAPPED)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("wes: {e}");
            ExitCode::from(UNUSABLE)
        }
    };
    if let Some(p) = &profile
        && let Err(e) = crate::profile::write(p, options.profile_svg.as_deref(), options.profile_folded.as_deref())
    {
        eprintln!("wes: {e}");
        return ExitCode::from(UNUSABLE);
    }
    match options.metrics {
        Some(crate::MetricsFormat::Prometheus) => eprint!("{}", runtime.metrics_prometheus()),
        Some(crate::MetricsFormat::Json) => eprintln!("{}", runtime.metrics_json()),
        None => {}
    }
    code
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

impl From<wes::RuntimeError> for Failure {
    /// A trap of the code (out of gas and stack exhaustion included) is a trap of the run;
    /// anything else, a refusal by the security layer included, is unusable input.
    fn from(e: wes::RuntimeError) -> Self {
        match (e.kind(), e.trap()) {
            (kind, Some(trap)) if kind != wes::ErrorKind::Security => Failure::Trap(trap.clone()),
            _ => Failure::Usage(UsageError::Facade(e)),
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
    if let Some(backend) = options.backend {
        config.performance.backend = backend.kind();
    }
    if let Some(dir) = &options.cache {
        config.performance.cache_dir = Some(dir.clone());
    }
    if options.profile_svg.is_some() || options.profile_folded.is_some() {
        config.monitoring.profile = true;
    }
    // Checked here so that a bad pricing file is reported as such, before any module is read.
    config.pricing().map_err(UsageError::Config)?;
    wes::Runtime::new(config).map_err(UsageError::Facade)
}

/// Runs through the facade (so every section of the configuration applies: the security
/// policy, the limits, pricing), leaving the gas figures in `gas` whatever the outcome.
fn execute(
    runtime: &wes::Runtime,
    file: &Path,
    invoke: Option<&str>,
    args: &[String],
    gas: &mut Gas,
    profile: &mut Option<wes::GasProfile>,
    source: &mut Option<wes::CodeSource>,
) -> Result<Vec<Value>, Failure> {
    let path = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|source| UsageError::Read { path: path.clone(), source })?;
    let progress = crate::progress::Progress::new();
    progress.update(&format!("wes: compiling {path} ({} KiB)", bytes.len().div_ceil(1024)));
    let loaded = if wes_cache::artifact::is_artifact(&bytes) {
        // SAFETY: the user named this file to be run, as they would a native executable; the
        // artifact's checks refuse a corrupt or mismatched file before any of its code runs.
        unsafe { runtime.load_artifact(&bytes, None) }
    } else {
        runtime.load(&bytes)
    };
    drop(progress);
    let module = loaded.map_err(|e| match e.code() {
        wes::ErrorCode::InvalidModule => UsageError::Decode { path, message: e.message().to_string() },
        _ => UsageError::Facade(e),
    })?;
    *source = Some(module.code_source());
    // The start function runs here; a trap in it is a trap of the run.
    let mut instance = runtime.create_instance(&module, runtime.gas_meter(gas.limit)).map_err(|e| {
        gas.used = e.gas_used().unwrap_or(0);
        Failure::from(e)
    })?;

    let exports = instance.export_names();
    let name = match invoke {
        Some(name) => name,
        None if exports.iter().any(|e| e == "_start") => "_start",
        None if module.has_start() && args.is_empty() => return Ok(Vec::new()),
        None => {
            let names = if exports.is_empty() { "none".to_string() } else { exports.join(", ") };
            return Err(UsageError::NothingToRun(names).into());
        }
    };
    let ty = instance.func_type(name).map_err(|_| match exports.iter().any(|x| x == name) {
        true => UsageError::NotAFunction(name.to_string()),
        false => UsageError::NoSuchExport(name.to_string()),
    })?;
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
    let mut result = instance.execute(name, &values)?;
    *gas = Gas { limit: result.gas.limit, used: result.gas.used, refunded: result.gas.refunded };
    *profile = result.profile.take();
    match result.error {
        None => Ok(result.values),
        Some(e) => Err(e.into()),
    }
}

/// `code` in the JSON output: where the code came from, when not compiled by this run the
/// plain way (absent then, so plain runs keep their shape).
fn code_name(source: wes::CodeSource) -> Option<&'static str> {
    match source {
        wes::CodeSource::Artifact => Some("artifact"),
        wes::CodeSource::Cache(wes::CacheSource::Compiled) => Some("cache-compiled"),
        wes::CodeSource::Cache(wes::CacheSource::Disk) => Some("cache-disk"),
        wes::CodeSource::Cache(wes::CacheSource::Memory) => Some("cache-memory"),
        _ => None,
    }
}
