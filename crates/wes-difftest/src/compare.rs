//! Comparing engines' runs of one module: [`compare`], its [`Summary`] and the [`Divergence`]
//! it reports.

use std::collections::BTreeMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use wes_runtime::Engine;

use crate::generate::{generate, module_features};
use crate::run::{Allowed, EngineRun, Outcome, Step, run_engine};

/// Two engines disagreed (or one engine disagreed with itself on a rerun).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "divergence in module {module}{}: {what} at {at}: {} gave {}, {} gave {}",
    seed.as_ref().map(|s| format!(" (seed {s})")).unwrap_or_default(),
    engines[0], outcomes[0], engines[1], outcomes[1]
)]
pub struct Divergence {
    /// A hash of the module's bytes.
    pub module: String,
    /// The seed the module was generated from (its length and hash), when it was generated.
    pub seed: Option<String>,
    /// Where: `compile`, `instantiation`, or the export called (with its position).
    pub at: String,
    /// What differed: the outcome, the gas, the state, a tight limit's run, ...
    pub what: String,
    /// The two engines, the reference first.
    pub engines: [String; 2],
    /// What each did.
    pub outcomes: [String; 2],
}

/// What a comparison covered, counted on the reference engine (the first metered one); sums
/// over many modules with [`Summary::add`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Modules compared.
    pub modules: u64,
    /// Modules that decoded (the rest are invalid input, compared no further).
    pub decoded: u64,
    /// Modules every engine compiled.
    pub compiled: u64,
    /// Modules instantiated.
    pub instantiated: u64,
    /// Instantiations that trapped, by trap name (`out of gas` included).
    pub instantiation_traps: BTreeMap<String, u64>,
    /// Instantiations refused for another reason (a resource limit).
    pub instantiation_errors: u64,
    /// Export calls made.
    pub calls: u64,
    /// Calls that returned.
    pub returned: u64,
    /// Calls that trapped, by trap name.
    pub traps: BTreeMap<String, u64>,
    /// Calls that failed otherwise.
    pub call_errors: u64,
    /// Reruns under a tight gas limit (instantiations and calls).
    pub tight_runs: u64,
    /// Of those, the ones that ran out of gas.
    pub tight_out_of_gas: u64,
    /// Engine pairs compared, summed over modules.
    pub pairs_compared: u64,
    /// Calls an unmetered engine made and had compared.
    pub unmetered_calls: u64,
    /// Unmetered engines not run because no metered engine was in the list to bound them.
    pub engines_skipped: u64,
    /// Modules using SIMD.
    pub simd_modules: u64,
    /// Modules using tail calls.
    pub tail_call_modules: u64,
    /// Modules using reference types.
    pub reference_type_modules: u64,
    /// Modules using bulk memory.
    pub bulk_memory_modules: u64,
    /// Modules defining a table.
    pub table_modules: u64,
    /// Modules importing host functions.
    pub host_import_modules: u64,
}

impl Summary {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Summary) {
        let add_map = |a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>| {
            for (k, v) in b {
                *a.entry(k.clone()).or_default() += v;
            }
        };
        self.modules += other.modules;
        self.decoded += other.decoded;
        self.compiled += other.compiled;
        self.instantiated += other.instantiated;
        add_map(&mut self.instantiation_traps, &other.instantiation_traps);
        self.instantiation_errors += other.instantiation_errors;
        self.calls += other.calls;
        self.returned += other.returned;
        add_map(&mut self.traps, &other.traps);
        self.call_errors += other.call_errors;
        self.tight_runs += other.tight_runs;
        self.tight_out_of_gas += other.tight_out_of_gas;
        self.pairs_compared += other.pairs_compared;
        self.unmetered_calls += other.unmetered_calls;
        self.engines_skipped += other.engines_skipped;
        self.simd_modules += other.simd_modules;
        self.tail_call_modules += other.tail_call_modules;
        self.reference_type_modules += other.reference_type_modules;
        self.bulk_memory_modules += other.bulk_memory_modules;
        self.table_modules += other.table_modules;
        self.host_import_modules += other.host_import_modules;
    }

    /// Traps of calls with this name (`TrapCode::name`), 0 if none.
    pub fn trap_count(&self, name: &str) -> u64 {
        self.traps.get(name).copied().unwrap_or(0)
    }

    fn count_reference(&mut self, run: &EngineRun) {
        if run.compile.is_err() {
            return;
        }
        self.compiled += 1;
        match run.instantiation.as_ref().map(|s| &s.outcome) {
            Some(Outcome::Returned(_)) => self.instantiated += 1,
            Some(Outcome::Trapped(t)) => *self.instantiation_traps.entry(t.code.name().to_string()).or_default() += 1,
            Some(Outcome::Failed(_)) => self.instantiation_errors += 1,
            None => {}
        }
        let mut tight = run.instantiation_tight.iter().map(|(_, s)| s).collect::<Vec<_>>();
        for call in &run.calls {
            self.calls += 1;
            match &call.full.outcome {
                Outcome::Returned(_) => self.returned += 1,
                Outcome::Trapped(t) => *self.traps.entry(t.code.name().to_string()).or_default() += 1,
                Outcome::Failed(_) => self.call_errors += 1,
            }
            tight.extend(call.tight.iter().map(|(_, s)| s));
        }
        self.tight_runs += tight.len() as u64;
        self.tight_out_of_gas += tight.iter().filter(|s| s.outcome.out_of_gas()).count() as u64;
    }
}

/// Compares `bytes` generated from `seed` (see [`generate`]); a seed wasm-smith cannot use is
/// an empty comparison.
///
/// # Errors
///
/// The first [`Divergence`], naming the seed.
pub fn compare_seed(seed: &[u8], engines: &[(&str, Engine)]) -> Result<Summary, Box<Divergence>> {
    let Ok(bytes) = generate(seed) else { return Ok(Summary::default()) };
    compare(&bytes, engines).map_err(|mut d| {
        let mut h = DefaultHasher::new();
        seed.hash(&mut h);
        d.seed = Some(format!("{} bytes, hash {:016x}", seed.len(), h.finish()));
        d
    })
}

/// Runs the module `bytes` on every engine, each in fresh stores, and compares what they did
/// (see the crate's documentation for what is compared). Metered engines run first; the first
/// of them is the reference every other engine is compared with, and unmetered engines run only
/// the instantiation and calls it finished within its gas. Bytes that do not decode are counted
/// and compared no further.
///
/// # Errors
///
/// The first [`Divergence`] found (boxed: it is large, and rare).
pub fn compare(bytes: &[u8], engines: &[(&str, Engine)]) -> Result<Summary, Box<Divergence>> {
    let mut summary = Summary { modules: 1, ..Summary::default() };
    let Ok(module) = wes_decode::decode(bytes) else { return Ok(summary) };
    summary.decoded = 1;
    let features = module_features(bytes);
    summary.simd_modules = u64::from(features.simd);
    summary.tail_call_modules = u64::from(features.tail_calls);
    summary.reference_type_modules = u64::from(features.reference_types);
    summary.bulk_memory_modules = u64::from(features.bulk_memory);
    summary.table_modules = u64::from(features.tables);
    summary.host_import_modules = u64::from(features.host_imports);
    let module = Arc::new(module);
    let id = {
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let pricing = |e: &Engine| e.config().pricing.as_ref().map(|p| p.hash());
    let Some(reference) = engines.iter().position(|(_, e)| pricing(e).is_some()) else {
        summary.engines_skipped = engines.len() as u64;
        return Ok(summary);
    };
    let (ref_name, ref_engine) = &engines[reference];
    let ref_run = run_engine(ref_engine, &module, Allowed::Metered);
    check_replays(&id, ref_name, &ref_run)?;
    summary.count_reference(&ref_run);
    let unmetered_allowed = Allowed::Unmetered {
        instantiate: ref_run.instantiation.as_ref().is_some_and(|s| !s.outcome.out_of_gas()),
        calls: ref_run.calls.iter().take_while(|c| !c.full.outcome.out_of_gas()).count(),
    };
    for (i, (name, engine)) in engines.iter().enumerate() {
        if i == reference {
            continue;
        }
        let metered = pricing(engine).is_some();
        let run = run_engine(engine, &module, if metered { Allowed::Metered } else { unmetered_allowed });
        if metered {
            check_replays(&id, name, &run)?;
        } else {
            summary.unmetered_calls += run.calls.len() as u64;
        }
        let same_gas = metered && pricing(engine) == pricing(ref_engine);
        let pair = Pair { module: &id, engines: [ref_name, name], gas: same_gas };
        pair.runs(&ref_run, &run, metered)?;
        summary.pairs_compared += 1;
    }
    Ok(summary)
}

/// A metered engine reran every call in full after its tight reruns; it must have repeated
/// itself exactly, or the reruns started from another state than the call.
fn check_replays(module: &str, name: &str, run: &EngineRun) -> Result<(), Box<Divergence>> {
    for (i, call) in run.calls.iter().enumerate() {
        if let Some(replay) = &call.replay
            && *replay != call.full
        {
            return Err(Box::new(Divergence {
                module: module.to_string(),
                seed: None,
                at: format!("export #{i} {:?}", call.export),
                what: "the call rerun from the same state (after its tight-limit reruns)".into(),
                engines: [name.to_string(), name.to_string()],
                outcomes: [format!("{:?}", call.full), format!("{replay:?}")],
            }));
        }
    }
    Ok(())
}

/// Two engines being compared.
struct Pair<'a> {
    module: &'a str,
    engines: [&'a str; 2],
    /// Metered under the same pricing: gas and tight-limit runs are compared too.
    gas: bool,
}

impl Pair<'_> {
    fn diverge(&self, at: String, what: &str, a: &dyn fmt::Debug, b: &dyn fmt::Debug) -> Box<Divergence> {
        Box::new(Divergence {
            module: self.module.to_string(),
            seed: None,
            at,
            what: what.to_string(),
            engines: self.engines.map(str::to_string),
            outcomes: [format!("{a:?}"), format!("{b:?}")],
        })
    }

    fn step(&self, at: impl Fn() -> String, what: &str, a: &Step, b: &Step) -> Result<(), Box<Divergence>> {
        if a.outcome != b.outcome {
            return Err(self.diverge(at(), &format!("{what}: outcome"), &a.outcome, &b.outcome));
        }
        if a.state != b.state {
            return Err(self.diverge(at(), &format!("{what}: state hash"), &a.state, &b.state));
        }
        if self.gas && a.gas != b.gas {
            return Err(self.diverge(at(), &format!("{what}: gas"), &a.gas, &b.gas));
        }
        Ok(())
    }

    fn tight(&self, at: impl Fn() -> String, a: &[(u64, Step)], b: &[(u64, Step)]) -> Result<(), Box<Divergence>> {
        if !self.gas {
            return Ok(());
        }
        let limits = |v: &[(u64, Step)]| v.iter().map(|(l, _)| *l).collect::<Vec<_>>();
        if limits(a) != limits(b) {
            return Err(self.diverge(at(), "tight gas limits tried", &limits(a), &limits(b)));
        }
        for ((limit, x), (_, y)) in a.iter().zip(b) {
            self.step(&at, &format!("rerun with gas limit {limit}"), x, y)?;
        }
        Ok(())
    }

    /// `b` is metered (it ran everything) or unmetered (it ran what `a` finished).
    fn runs(&self, a: &EngineRun, b: &EngineRun, b_metered: bool) -> Result<(), Box<Divergence>> {
        if a.compile.is_ok() != b.compile.is_ok() {
            return Err(self.diverge("compile".into(), "compile", &a.compile, &b.compile));
        }
        if let (Some(x), Some(y)) = (&a.instantiation, &b.instantiation) {
            self.step(|| "instantiation".into(), "instantiation", x, y)?;
        } else if b_metered && a.instantiation.is_some() != b.instantiation.is_some() {
            return Err(self.diverge("instantiation".into(), "instantiated", &a.instantiation, &b.instantiation));
        }
        self.tight(|| "instantiation".into(), &a.instantiation_tight, &b.instantiation_tight)?;
        if b_metered && a.calls.len() != b.calls.len() {
            let names = |r: &EngineRun| r.calls.iter().map(|c| c.export.clone()).collect::<Vec<_>>();
            return Err(self.diverge("exports".into(), "calls made", &names(a), &names(b)));
        }
        for (i, (x, y)) in a.calls.iter().zip(&b.calls).enumerate() {
            let at = || format!("export #{i} {:?} {:?}", x.export, x.args);
            if x.export != y.export || x.args != y.args {
                return Err(self.diverge(at(), "call", &(&x.export, &x.args), &(&y.export, &y.args)));
            }
            self.step(at, "call", &x.full, &y.full)?;
            self.tight(at, &x.tight, &y.tight)?;
        }
        Ok(())
    }
}
