//! [`Module`]: a decoded and validated WebAssembly module, ready for a backend.
//!
//! A `Module` is plain data. It keeps the original bytes and, for each function body, only
//! where the body lies in them, so a backend re-reads the operators in place (with
//! `wasmparser`'s operator reader) instead of receiving a copy. Index spaces follow the spec:
//! imported functions, tables, memories and globals come first, then the defined ones.
//!
//! A [`Module`] is sealed: its contents are [`ModuleParts`], readable through it (`Deref`) but
//! never writable, and safe code cannot make one. `wes-decode` is the one producer: it fills in
//! the parts while its validator checks them, and only then seals them with the `unsafe`
//! [`Module::from_parts_unchecked`], whose contract is that the parts are valid. A backend may
//! therefore trust every index, type and range in a `Module` it is handed.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use crate::admission::FunctionShape;
use crate::types::{FuncType, GlobalType, MemoryType, RefType, TableType, ValType};

/// The kind of an import or export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExternKind {
    /// A function.
    Func,
    /// A table.
    Table,
    /// A linear memory.
    Memory,
    /// A global.
    Global,
}

impl ExternKind {
    /// The text-format keyword (`func`, `table`, `memory`, `global`).
    pub fn name(self) -> &'static str {
        match self {
            ExternKind::Func => "func",
            ExternKind::Table => "table",
            ExternKind::Memory => "memory",
            ExternKind::Global => "global",
        }
    }
}

/// What an import expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportType {
    /// A function of the type with this index in [`ModuleParts::types`].
    Func(u32),
    /// A table of this type.
    Table(TableType),
    /// A memory of this type.
    Memory(MemoryType),
    /// A global of this type.
    Global(GlobalType),
}

/// One import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// The module name.
    pub module: String,
    /// The field name.
    pub name: String,
    /// What is expected.
    pub ty: ImportType,
}

/// One export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The exported name.
    pub name: String,
    /// What kind of item is exported.
    pub kind: ExternKind,
    /// The index in that kind's index space.
    pub index: u32,
}

/// One operator of a constant expression (global initialisers, segment offsets, element items).
///
/// WebAssembly 2.0 allows a single constant or `global.get`; extended-const adds integer `add`,
/// `sub` and `mul`, so an expression is a short stack program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstOp {
    /// Push an `i32`.
    I32Const(i32),
    /// Push an `i64`.
    I64Const(i64),
    /// Push the bits of an `f32`.
    F32Const(u32),
    /// Push the bits of an `f64`.
    F64Const(u64),
    /// Push a `v128`.
    V128Const(u128),
    /// Push a null reference.
    RefNull(RefType),
    /// Push a reference to the function with this index.
    RefFunc(u32),
    /// Push the value of the global with this index.
    GlobalGet(u32),
    /// Pop two `i32`s, push their wrapping sum.
    I32Add,
    /// Pop two `i32`s, push their wrapping difference.
    I32Sub,
    /// Pop two `i32`s, push their wrapping product.
    I32Mul,
    /// Pop two `i64`s, push their wrapping sum.
    I64Add,
    /// Pop two `i64`s, push their wrapping difference.
    I64Sub,
    /// Pop two `i64`s, push their wrapping product.
    I64Mul,
}

/// A validated constant expression: evaluating it leaves exactly one value of the expected type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstExpr {
    /// The operators, in order, without the closing `end`.
    pub ops: Vec<ConstOp>,
}

/// A function defined in the module (not imported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncBody {
    /// The index of the function's type in [`ModuleParts::types`].
    pub type_index: u32,
    /// Where the body (local declarations and code, without the size prefix) lies in
    /// [`ModuleParts::bytes`]. The start is also the body's offset in the module, which is what
    /// `wasmparser` needs to report offsets relative to the module.
    pub range: Range<usize>,
    /// What the body contains, counted by the decoder while validating it: what admission
    /// ([`FunctionLimits`](crate::admission::FunctionLimits)) checks and backends plan with.
    pub shape: FunctionShape,
}

/// A global defined in the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalDef {
    /// Its type.
    pub ty: GlobalType,
    /// Its initial value.
    pub init: ConstExpr,
}

/// A table defined in the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    /// Its type.
    pub ty: TableType,
    /// What new slots hold: null when the module gives no initialiser.
    pub init: Option<ConstExpr>,
}

/// How an element segment is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElementMode {
    /// Copied into a table at instantiation, then dropped.
    Active {
        /// The table index.
        table: u32,
        /// Where in the table.
        offset: ConstExpr,
    },
    /// Available to `table.init` until `elem.drop`.
    Passive,
    /// Only declares functions that `ref.func` may name; dropped at instantiation.
    Declared,
}

/// The items of an element segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElementItems {
    /// Function indices (the compact encoding).
    Functions(Vec<u32>),
    /// Constant expressions producing references.
    Exprs(Vec<ConstExpr>),
}

impl ElementItems {
    /// How many items the segment has.
    pub fn len(&self) -> usize {
        match self {
            ElementItems::Functions(f) => f.len(),
            ElementItems::Exprs(e) => e.len(),
        }
    }

    /// Whether the segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An element segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementSegment {
    /// How it is used.
    pub mode: ElementMode,
    /// The reference type of its items.
    pub ty: RefType,
    /// Its items.
    pub items: ElementItems,
}

/// How a data segment is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataMode {
    /// Copied into a memory at instantiation, then dropped.
    Active {
        /// The memory index.
        memory: u32,
        /// Where in the memory.
        offset: ConstExpr,
    },
    /// Available to `memory.init` until `data.drop`.
    Passive,
}

/// A data segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSegment {
    /// How it is used.
    pub mode: DataMode,
    /// Where its bytes lie in [`ModuleParts::bytes`].
    pub range: Range<usize>,
}

/// A custom section (other than the name section, which is decoded into [`Names`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomSection {
    /// The section's name.
    pub name: String,
    /// Where its payload lies in [`ModuleParts::bytes`].
    pub range: Range<usize>,
}

/// What the name section says, as far as backtraces and tools need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// The module's own name.
    pub module: Option<String>,
    /// Function names by function index.
    pub functions: BTreeMap<u32, String>,
}

/// The contents of a module as plain data: what a validator fills in while it checks them, and
/// what a [`Module`] shows (through `Deref`). Parts are not a module: nothing checks them, and
/// only [`Module::from_parts_unchecked`] turns them into one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleParts {
    /// The module's binary encoding. Function bodies, data segments and custom sections are
    /// ranges into it.
    pub bytes: Arc<[u8]>,
    /// The type section.
    pub types: Vec<FuncType>,
    /// The imports, in order.
    pub imports: Vec<Import>,
    /// The type index of every function, imported ones first.
    pub functions: Vec<u32>,
    /// How many functions are imported.
    pub num_imported_functions: u32,
    /// The bodies of the defined functions: `bodies[i]` belongs to function
    /// `num_imported_functions + i`.
    pub bodies: Vec<FuncBody>,
    /// The type of every table, imported ones first.
    pub tables: Vec<TableType>,
    /// How many tables are imported.
    pub num_imported_tables: u32,
    /// Initialisers of the defined tables: `table_inits[i]` belongs to table
    /// `num_imported_tables + i`.
    pub table_inits: Vec<Option<ConstExpr>>,
    /// The type of every memory, imported ones first.
    pub memories: Vec<MemoryType>,
    /// How many memories are imported.
    pub num_imported_memories: u32,
    /// The type of every global, imported ones first.
    pub globals: Vec<GlobalType>,
    /// How many globals are imported.
    pub num_imported_globals: u32,
    /// Initialisers of the defined globals: `global_inits[i]` belongs to global
    /// `num_imported_globals + i`.
    pub global_inits: Vec<ConstExpr>,
    /// The exports, in the order of the export section.
    pub exports: Vec<Export>,
    /// The start function, if any.
    pub start: Option<u32>,
    /// The element segments.
    pub elements: Vec<ElementSegment>,
    /// The data segments.
    pub data: Vec<DataSegment>,
    /// The name section.
    pub names: Names,
    /// Custom sections other than `name`, in order.
    pub custom_sections: Vec<CustomSection>,
}

/// A decoded and validated WebAssembly module: [`ModuleParts`] that passed validation, sealed.
///
/// Its parts are read through `Deref` (`module.types`, `module.body(i)`); nothing can change
/// them. Safe code cannot build a `Module` — there is no literal, no `Default`, no conversion
/// from parts — so a backend handed one may rely on it being valid. Make one with
/// `wes_decode::decode`, and read it like plain data:
///
/// ```
/// fn defined_memories(module: &wes_core::Module) -> usize {
///     module.memories.len() - module.num_imported_memories as usize
/// }
/// ```
///
/// Not by hand, with fields or a default:
///
/// ```compile_fail
/// # use wes_core::module::{Module, ModuleParts};
/// let invalid = Module { parts: ModuleParts { num_imported_memories: 5, ..ModuleParts::default() } };
/// ```
///
/// ```compile_fail
/// let invalid = wes_core::Module::default();
/// ```
///
/// ```compile_fail
/// # use wes_core::module::{Module, ModuleParts};
/// let invalid: Module = ModuleParts { num_imported_memories: 5, ..ModuleParts::default() }.into();
/// ```
///
/// Nor by changing a valid one (there is no `DerefMut`):
///
/// ```compile_fail
/// fn corrupt(module: &mut wes_core::Module) {
///     module.num_imported_memories = 5;
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    parts: ModuleParts,
}

impl Module {
    /// Seals `parts` as a module without checking them.
    ///
    /// # Safety
    ///
    /// `parts` must be a module that passes WebAssembly validation (under the proposals the
    /// backend it is given to supports), exactly as decoded from `parts.bytes`: every index
    /// within its index space, every body within `bytes` and well typed, the counts of imported
    /// items matching the imports, `bodies` matching the defined functions, constant
    /// expressions well typed. Backends compile a `Module` without re-validating it, and
    /// compiled code trusts it: a memory or table index the validator would have refused is
    /// an access outside the instance. `wes-decode` is the producer that keeps this contract;
    /// call this only with parts that have passed an equivalent validator.
    pub unsafe fn from_parts_unchecked(parts: ModuleParts) -> Module {
        Module { parts }
    }

    /// The module's parts (also reachable through `Deref`).
    pub fn parts(&self) -> &ModuleParts {
        &self.parts
    }

    /// The module's parts, unsealed (to inspect or transform; sealing them again is unsafe).
    pub fn into_parts(self) -> ModuleParts {
        self.parts
    }
}

impl std::ops::Deref for Module {
    type Target = ModuleParts;

    fn deref(&self) -> &ModuleParts {
        &self.parts
    }
}

impl ModuleParts {
    /// The type of function `index`, if it exists.
    pub fn func_type(&self, index: u32) -> Option<&FuncType> {
        let ty = *self.functions.get(index as usize)?;
        self.types.get(ty as usize)
    }

    /// Whether function `index` is imported.
    pub fn is_imported_function(&self, index: u32) -> bool {
        index < self.num_imported_functions
    }

    /// The body of function `index`, if it is defined here.
    pub fn body(&self, index: u32) -> Option<&FuncBody> {
        let defined = index.checked_sub(self.num_imported_functions)?;
        self.bodies.get(defined as usize)
    }

    /// The bytes of a body, data segment or custom section.
    pub fn slice(&self, range: &Range<usize>) -> &[u8] {
        self.bytes.get(range.clone()).unwrap_or(&[])
    }

    /// Which functions code outside the module's bodies can reach, indexed by function index:
    /// the exported functions, the start function, and every function an element segment or a
    /// global or table initialiser names. Validation lets `ref.func` in a body name only these
    /// (the spec's *C.refs* plus the start function), so any other defined function is called
    /// only directly, from its own module's code: a backend needs no array-call entry for it,
    /// since the runtime never calls it, nor can a table, a reference or an import lead to it.
    pub fn referenced_functions(&self) -> Vec<bool> {
        let mut reached = vec![false; self.functions.len()];
        let mut mark = |index: u32| {
            if let Some(r) = reached.get_mut(index as usize) {
                *r = true;
            }
        };
        let exprs = self.elements.iter().flat_map(|seg| match &seg.items {
            ElementItems::Functions(_) => &[][..],
            ElementItems::Exprs(exprs) => &exprs[..],
        });
        let listed = self.elements.iter().flat_map(|seg| match &seg.items {
            ElementItems::Functions(funcs) => &funcs[..],
            ElementItems::Exprs(_) => &[][..],
        });
        let exported = self.exports.iter().filter(|e| e.kind == ExternKind::Func).map(|e| e.index);
        listed.copied().chain(exported).chain(self.start).for_each(&mut mark);
        for expr in exprs.chain(&self.global_inits).chain(self.table_inits.iter().flatten()) {
            for op in &expr.ops {
                if let ConstOp::RefFunc(index) = *op {
                    mark(index);
                }
            }
        }
        reached
    }

    /// The export with this name, if any.
    pub fn export(&self, name: &str) -> Option<&Export> {
        self.exports.iter().find(|e| e.name == name)
    }

    /// The name of function `index` from the name section, if it has one.
    pub fn func_name(&self, index: u32) -> Option<&str> {
        self.names.functions.get(&index).map(String::as_str)
    }

    /// The value types of a global, in index order; a convenience for backends laying out
    /// instance state.
    pub fn global_types(&self) -> impl Iterator<Item = ValType> + '_ {
        self.globals.iter().map(|g| g.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_spaces_put_imports_first() {
        let m = ModuleParts {
            types: vec![FuncType::new([], []), FuncType::new([ValType::I32], [ValType::I32])],
            functions: vec![1, 0, 1],
            num_imported_functions: 1,
            bodies: vec![
                FuncBody { type_index: 0, range: 0..0, shape: FunctionShape::default() },
                FuncBody { type_index: 1, range: 0..0, shape: FunctionShape::default() },
            ],
            ..ModuleParts::default()
        };
        assert!(m.is_imported_function(0));
        assert!(m.body(0).is_none());
        assert_eq!(m.body(2).map(|b| b.type_index), Some(1));
        assert_eq!(m.func_type(1).map(|t| t.params().len()), Some(0));
        assert!(m.func_type(3).is_none());
        assert!(m.slice(&(5..9)).is_empty());
    }
}
