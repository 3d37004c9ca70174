//! What a backend must offer the script runner to execute scripts, and the executor over
//! `wes-runtime`'s public API that every WES backend shares.
//!
//! The runner decodes every module itself through `wes-decode`'s public API, so the
//! `validate` backend needs nothing more. A backend that executes implements [`Executor`] on
//! top of the runtime's public API; the runner then drives instantiation, registration,
//! invocation and global reads through it, the same way for every backend.

use std::collections::HashMap;

use wes_core::types::{GlobalType, Limits, MemoryType, Mutability, RefType, TableType};
use wes_core::{Module, ValType, Value};
use wes_runtime::{Engine, Extern, Global, HostFunc, Instance, Linker, Memory, RuntimeError, Store, Table};

/// How a step of execution failed.
#[derive(Debug)]
pub enum ExecError {
    /// The wasm code trapped; the message is the trap's text.
    Trap(String),
    /// Imports could not be satisfied.
    Link(String),
    /// Anything else (unknown export, wrong argument types, backend refusal).
    Other(String),
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecError::Trap(m) => write!(f, "trap: {m}"),
            ExecError::Link(m) => write!(f, "link error: {m}"),
            ExecError::Other(m) => write!(f, "error: {m}"),
        }
    }
}

impl From<RuntimeError> for ExecError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Trap(t) => ExecError::Trap(t.code.to_string()),
            e if e.is_link_error() => ExecError::Link(e.to_string()),
            e => ExecError::Other(e.to_string()),
        }
    }
}

/// One script's execution state: a store with the `spectest` host module, the instances made
/// so far and the names they are registered under.
pub trait Executor {
    /// Instantiates `module`; it becomes the current instance and, if named, can be referred
    /// to by that name.
    fn instantiate(&mut self, name: Option<&str>, module: Module) -> Result<(), ExecError>;
    /// Makes an instance's exports importable under `as_name`.
    fn register(&mut self, as_name: &str, instance: Option<&str>) -> Result<(), ExecError>;
    /// Calls an exported function.
    fn invoke(&mut self, instance: Option<&str>, func: &str, args: &[Value]) -> Result<Vec<Value>, ExecError>;
    /// Reads an exported global.
    fn get(&mut self, instance: Option<&str>, global: &str) -> Result<Value, ExecError>;
}

/// The gas a script's store may use: large enough never to trip (metering, when the engine
/// meters, is on to prove that it changes no result, not to limit anything).
const SCRIPT_GAS_LIMIT: u64 = 1 << 62;

/// An [`Executor`] over `wes-runtime`'s public API.
#[derive(Debug)]
pub struct RuntimeExecutor {
    engine: Engine,
    store: Store,
    linker: Linker,
    named: HashMap<String, Instance>,
    current: Option<Instance>,
}

impl RuntimeExecutor {
    /// An executor running scripts on `engine`, each in a store of its own with the `spectest`
    /// module linked and a meter that never runs out.
    pub fn new(engine: Engine) -> Self {
        let mut store = Store::new(&engine);
        store.set_meter(Box::new(wes_meter::BasicMeter::new(SCRIPT_GAS_LIMIT)));
        let linker = spectest(&mut store).unwrap_or_else(|e| {
            eprintln!("cannot build the spectest module: {e}");
            Linker::new()
        });
        RuntimeExecutor { engine, store, linker, named: HashMap::new(), current: None }
    }

    fn instance(&self, name: Option<&str>) -> Result<Instance, ExecError> {
        match name {
            Some(n) => self.named.get(n).copied().ok_or_else(|| ExecError::Other(format!("no instance named {n}"))),
            None => self.current.ok_or_else(|| ExecError::Other("no module instantiated yet".into())),
        }
    }
}

/// The standard `spectest` module every script may import from.
fn spectest(store: &mut Store) -> Result<Linker, RuntimeError> {
    let mut linker = Linker::new();
    let print =
        |params: &[ValType]| HostFunc::new(wes_core::FuncType::new(params.iter().copied(), []), |_, _, _| Ok(()));
    linker.func("spectest", "print", print(&[]));
    linker.func("spectest", "print_i32", print(&[ValType::I32]));
    linker.func("spectest", "print_i64", print(&[ValType::I64]));
    linker.func("spectest", "print_f32", print(&[ValType::F32]));
    linker.func("spectest", "print_f64", print(&[ValType::F64]));
    linker.func("spectest", "print_i32_f32", print(&[ValType::I32, ValType::F32]));
    linker.func("spectest", "print_f64_f64", print(&[ValType::F64, ValType::F64]));
    let global = |store: &mut Store, content, value| {
        Global::new(store, GlobalType { content, mutability: Mutability::Const }, value).map(Extern::Global)
    };
    linker.define("spectest", "global_i32", global(store, ValType::I32, Value::I32(666))?);
    linker.define("spectest", "global_i64", global(store, ValType::I64, Value::I64(666))?);
    linker.define("spectest", "global_f32", global(store, ValType::F32, Value::f32(666.6))?);
    linker.define("spectest", "global_f64", global(store, ValType::F64, Value::f64(666.6))?);
    let table = TableType { element: RefType::FuncRef, limits: Limits { min: 10, max: Some(20) } };
    linker.define("spectest", "table", Extern::Table(Table::new(store, table, Value::FuncRef(None))?));
    let memory = MemoryType { limits: Limits { min: 1, max: Some(2) }, shared: false, memory64: false };
    linker.define("spectest", "memory", Extern::Memory(Memory::new(store, memory)?));
    Ok(linker)
}

impl Executor for RuntimeExecutor {
    fn instantiate(&mut self, name: Option<&str>, module: Module) -> Result<(), ExecError> {
        let module = wes_runtime::Module::new(&self.engine, module)?;
        let instance = self.linker.instantiate(&mut self.store, &module)?;
        self.current = Some(instance);
        if let Some(n) = name {
            self.named.insert(n.to_string(), instance);
        }
        Ok(())
    }

    fn register(&mut self, as_name: &str, instance: Option<&str>) -> Result<(), ExecError> {
        let instance = self.instance(instance)?;
        self.linker.instance(&self.store, as_name, instance);
        Ok(())
    }

    fn invoke(&mut self, instance: Option<&str>, func: &str, args: &[Value]) -> Result<Vec<Value>, ExecError> {
        let instance = self.instance(instance)?;
        let f = instance
            .get_func(&self.store, func)
            .ok_or_else(|| ExecError::Other(format!("no exported function {func}")))?;
        Ok(f.call(&mut self.store, args)?)
    }

    fn get(&mut self, instance: Option<&str>, global: &str) -> Result<Value, ExecError> {
        let instance = self.instance(instance)?;
        let g = instance
            .get_global(&self.store, global)
            .ok_or_else(|| ExecError::Other(format!("no exported global {global}")))?;
        Ok(g.get(&self.store)?)
    }
}
