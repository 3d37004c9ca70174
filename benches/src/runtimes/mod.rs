//! One adapter per runtime: the harness sees only [`Runtime`], [`Compiled`] and [`Running`], so
//! adding a runtime (or a mode of one) is one more adapter and one more entry in [`all`].
//!
//! Every adapter gives modules the same host environment: `env.inc (i64) -> i64`, returning its
//! argument plus one, and the few WASI functions of [`wasi`] the C workloads import. Values
//! cross the boundary as [`Val`], floats as bits, so results compare exactly.

mod wasi;
mod wasmi;
mod wasmtime;
mod wes;
mod wes_pool;

pub use wes::engine as wes_engine;

use anyhow::Result;

/// A value passed to or returned from a wasm function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    I32(i32),
    I64(i64),
    /// The bits of an f64.
    F64(u64),
}

impl std::fmt::Display for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Val::I32(v) => write!(f, "{v}_i32"),
            Val::I64(v) => write!(f, "{v}_i64"),
            Val::F64(bits) => write!(f, "{}_f64", f64::from_bits(*bits)),
        }
    }
}

/// What bounds a run: nothing, deterministic fuel/gas, or a wall-clock interruption.
/// Ratios compare a row with wasmtime in the same [`Mode::class`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No metering at all.
    Unmetered,
    /// wasmtime's epoch interruption: a bound on time, not a deterministic count.
    Epoch,
    /// Deterministic metering: wasmtime/wasmi fuel, WES gas.
    Metered,
}

/// The two groups ratios are taken in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Unmetered,
    Metered,
}

impl Mode {
    /// Epoch interruption is not metering: it is compared with unmetered wasmtime.
    pub fn class(self) -> Class {
        match self {
            Mode::Unmetered | Mode::Epoch => Class::Unmetered,
            Mode::Metered => Class::Metered,
        }
    }
}

/// Which runtime a row belongs to, for the targets summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Wes,
    /// WES on its interpreter, compared with wasmi.
    WesInterp,
    Wasmtime,
    Wasmi,
}

/// A runtime in one configuration.
pub trait Runtime {
    /// The row label, e.g. `wasmtime (fuel)`.
    fn label(&self) -> &str;
    fn family(&self) -> Family;
    fn mode(&self) -> Mode;
    /// Uses a pooling instance allocator.
    fn pooling(&self) -> bool {
        false
    }
    /// Decodes, validates and compiles a binary module, and prepares a linker for it.
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Compiled>>;
    /// Takes part in workloads of this kind (a row of one mode that only one kind shows).
    fn runs(&self, _kind: &crate::workloads::Kind) -> bool {
        true
    }
}

/// A compiled module and its linker, ready to instantiate many times.
pub trait Compiled {
    /// A fresh store and an instance of the module in it.
    fn instantiate(&self) -> Result<Box<dyn Running>>;
}

/// An instance in its own store.
pub trait Running {
    /// Calls the export `name`.
    fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>>;
    /// Fuel or gas consumed since instantiation, where the runtime meters.
    fn consumed(&self) -> Result<Option<u64>>;
}

/// The fuel a metered store starts with: far more than any workload uses.
pub const FUEL: u64 = 1 << 60;

/// A runtime configuration, or why it is unavailable: `(label, reason)`.
pub type Entry = std::result::Result<Box<dyn Runtime>, (String, String)>;

/// Every runtime configuration the harness knows, in table order. The unavailable ones come
/// back as `Err` so the table can say so. `explicit_peer` adds wasmtime with explicit bounds
/// checks, unmetered and with fuel, after the default wasmtime rows.
pub fn all(explicit_peer: bool) -> Vec<Entry> {
    let mut all = vec![
        wes::Wes::unmetered(),
        wes::Wes::explicit(),
        wes_pool::WesPool::unmetered(),
        wasmtime::Wasmtime::entry(Mode::Unmetered, false),
        wasmtime::Wasmtime::entry(Mode::Unmetered, true),
        wasmtime::Wasmtime::entry(Mode::Epoch, false),
    ];
    if explicit_peer {
        all.push(wasmtime::Wasmtime::explicit_bounds(Mode::Unmetered));
    }
    all.extend([
        wasmi::Wasmi::entry(Mode::Unmetered),
        wasmi::Wasmi::lazy(),
        wes::Wes::interp_eager(),
        wes::Wes::metered(),
        wes::Wes::metered_explicit(),
        wes::Wes::metered_counting(),
        wes_pool::WesPool::metered(),
        wasmtime::Wasmtime::entry(Mode::Metered, false),
        wasmtime::Wasmtime::entry(Mode::Metered, true),
    ]);
    if explicit_peer {
        all.push(wasmtime::Wasmtime::explicit_bounds(Mode::Metered));
    }
    all.extend([wasmi::Wasmi::entry(Mode::Metered), wes::Wes::interp_metered(), wes::Wes::interp_background()]);
    all
}
