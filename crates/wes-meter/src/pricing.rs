//! The pricing table: what every operator, bulk byte, grown page and host call costs.
//!
//! A [`PricingTable`] is plain, serde-able data (TOML or JSON): a cost per operator *class*,
//! per-operator overrides by wasmparser name (`I64DivS = 20`), per-unit costs of the dynamic
//! operations and the base cost of a host call. [`Pricing`] is a table checked and resolved to
//! one cost per operator, with its stable content hash: code compiled under one pricing records
//! the hash and the runtime refuses to run it under another.
//!
//! The default table is documented in `docs/pricing.md`; changing any figure of it changes the
//! hash and must bump [`PricingTable::version`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmparser::Operator;

use crate::ops::{self, OPERATOR_NAMES, OPERATOR_PROPOSALS};

/// Why a pricing table could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PricingError {
    /// The file could not be read.
    #[error("cannot read pricing file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML text is malformed or does not describe a pricing table.
    #[error("malformed TOML pricing table: {0}")]
    Toml(String),
    /// The JSON text is malformed or does not describe a pricing table.
    #[error("malformed JSON pricing table: {0}")]
    Json(String),
    /// An override names no WebAssembly operator.
    #[error("pricing override names no operator: `{0}` (use wasmparser's names, such as `I32Add`)")]
    UnknownOperator(String),
    /// The file's extension is neither `.toml` nor `.json`.
    #[error("pricing file {0} must end in .toml or .json")]
    UnknownFormat(String),
}

/// The classes operators are priced by. Every operator belongs to exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum OpClass {
    /// Structured control and stack operators: `nop`, `block`, `loop`, `if`, `else`, `end`,
    /// `br`, `br_if`, `return`, `drop`, `select`, `unreachable`.
    Control,
    /// `br_table`.
    BrTable,
    /// `local.get/set/tee`.
    Local,
    /// `global.get/set`.
    Global,
    /// `i32.const`, `i64.const`, `f32.const`, `f64.const`.
    Const,
    /// Integer arithmetic, logic, comparisons and integer-to-integer conversions.
    Integer,
    /// Integer division and remainder.
    IntegerDivision,
    /// Float arithmetic, comparisons and conversions from or to floats.
    Float,
    /// Memory loads.
    Load,
    /// Memory stores.
    Store,
    /// `memory.size`, `memory.grow`, `data.drop` and the base cost of bulk memory operations.
    Memory,
    /// Table operators (`table.get/set/size/grow/fill/copy/init`, `elem.drop`), base cost.
    Table,
    /// `ref.null`, `ref.is_null`, `ref.func` and other reference operators.
    Reference,
    /// `call` and `return_call` (the [`PricingTable::call`] cost).
    Call,
    /// `call_indirect`, `return_call_indirect`, `call_ref` (the [`PricingTable::call_indirect`]
    /// cost).
    CallIndirect,
    /// 128-bit SIMD operators.
    Simd,
    /// Atomic memory operators.
    Atomic,
    /// Anything else (GC, exceptions, stack switching, ...).
    Other,
}

/// The cost of each operator class, in gas units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "each field is the class of the same name, documented on OpClass")]
pub struct ClassCosts {
    pub control: u64,
    pub br_table: u64,
    pub local: u64,
    pub global: u64,
    #[serde(rename = "const")]
    pub constant: u64,
    pub integer: u64,
    pub integer_division: u64,
    pub float: u64,
    pub load: u64,
    pub store: u64,
    pub memory: u64,
    pub table: u64,
    pub reference: u64,
    pub simd: u64,
    pub atomic: u64,
    pub other: u64,
}

/// Per-unit costs of the operations whose cost depends on an operand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicCosts {
    /// `memory.copy`, per byte copied.
    pub memory_copy_per_byte: u64,
    /// `memory.fill`, per byte written.
    pub memory_fill_per_byte: u64,
    /// `memory.init`, per byte copied.
    pub memory_init_per_byte: u64,
    /// `table.copy`, per element.
    pub table_copy_per_element: u64,
    /// `table.fill`, per element.
    pub table_fill_per_element: u64,
    /// `table.init`, per element.
    pub table_init_per_element: u64,
    /// `table.grow`, per element added (nothing when the grow fails).
    pub table_grow_per_element: u64,
    /// `memory.grow`, per 64 KiB page added (nothing when the grow fails).
    pub memory_grow_per_page: u64,
}

/// A pricing table as written by people: serde data, loaded from TOML or JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingTable {
    /// The table's version; bumped whenever a figure of the default table changes.
    pub version: u32,
    /// The cost of a `call` or `return_call` operator (the callee's own code is priced
    /// separately).
    pub call: u64,
    /// The cost of a `call_indirect`, `return_call_indirect` or `call_ref` operator.
    pub call_indirect: u64,
    /// The base cost of every call to a host function, charged before the host code runs.
    pub host_call: u64,
    /// Cost per operator class.
    pub classes: ClassCosts,
    /// Per-unit costs of bulk operations and of growing.
    pub dynamic: DynamicCosts,
    /// Per-operator costs that replace the class cost, by wasmparser operator name.
    #[serde(default)]
    pub overrides: BTreeMap<String, u64>,
}

impl Default for PricingTable {
    /// The default table, documented in `docs/pricing.md`.
    fn default() -> Self {
        PricingTable {
            version: 1,
            call: 10,
            call_indirect: 15,
            host_call: 50,
            classes: ClassCosts {
                control: 1,
                br_table: 3,
                local: 1,
                global: 2,
                constant: 1,
                integer: 1,
                integer_division: 8,
                float: 3,
                load: 3,
                store: 3,
                memory: 5,
                table: 5,
                reference: 2,
                simd: 4,
                atomic: 10,
                other: 10,
            },
            dynamic: DynamicCosts {
                memory_copy_per_byte: 1,
                memory_fill_per_byte: 1,
                memory_init_per_byte: 1,
                table_copy_per_element: 2,
                table_fill_per_element: 2,
                table_init_per_element: 2,
                table_grow_per_element: 10,
                memory_grow_per_page: 1_000,
            },
            overrides: BTreeMap::from([
                ("F32Div".to_string(), 8),
                ("F32Sqrt".to_string(), 8),
                ("F64Div".to_string(), 10),
                ("F64Sqrt".to_string(), 10),
                ("I64Mul".to_string(), 2),
            ]),
        }
    }
}

/// An operation whose cost is `units × per-unit cost`, charged at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DynamicOp {
    /// `memory.copy`, units are bytes.
    MemoryCopy,
    /// `memory.fill`, units are bytes.
    MemoryFill,
    /// `memory.init`, units are bytes.
    MemoryInit,
    /// `table.copy`, units are elements.
    TableCopy,
    /// `table.fill`, units are elements.
    TableFill,
    /// `table.init`, units are elements.
    TableInit,
    /// `table.grow`, units are elements added.
    TableGrow,
    /// `memory.grow`, units are pages added.
    MemoryGrow,
}

impl DynamicOp {
    /// The operator's text-format name.
    pub fn name(self) -> &'static str {
        match self {
            DynamicOp::MemoryCopy => "memory.copy",
            DynamicOp::MemoryFill => "memory.fill",
            DynamicOp::MemoryInit => "memory.init",
            DynamicOp::TableCopy => "table.copy",
            DynamicOp::TableFill => "table.fill",
            DynamicOp::TableInit => "table.init",
            DynamicOp::TableGrow => "table.grow",
            DynamicOp::MemoryGrow => "memory.grow",
        }
    }
}

/// A checked pricing table, resolved to one cost per operator, with its content hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Pricing {
    table: PricingTable,
    /// Cost of each operator, indexed like [`OPERATOR_NAMES`].
    costs: Vec<u64>,
    hash: [u8; 32],
}

impl fmt::Debug for Pricing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pricing").field("version", &self.table.version).field("hash", &self.hash_hex()).finish()
    }
}

impl Default for Pricing {
    fn default() -> Self {
        // The default table names only real operators, so resolving it cannot fail; fall back
        // to resolving without overrides rather than panicking if it ever did.
        Pricing::new(PricingTable::default()).unwrap_or_else(|_| {
            let mut t = PricingTable::default();
            t.overrides.clear();
            Pricing::resolve(t)
        })
    }
}

/// The class of operator `index` (an index into [`OPERATOR_NAMES`]).
fn class_of(name: &str, proposal: &str) -> OpClass {
    use OpClass as C;
    match name {
        "Call" | "ReturnCall" => return C::Call,
        "CallIndirect" | "ReturnCallIndirect" | "CallRef" | "ReturnCallRef" => return C::CallIndirect,
        "BrTable" => return C::BrTable,
        "Unreachable" | "Nop" | "Block" | "Loop" | "If" | "Else" | "End" | "Br" | "BrIf" | "Return" | "Drop"
        | "Select" | "TypedSelect" => return C::Control,
        "LocalGet" | "LocalSet" | "LocalTee" => return C::Local,
        "GlobalGet" | "GlobalSet" => return C::Global,
        "I32Const" | "I64Const" | "F32Const" | "F64Const" => return C::Const,
        "MemorySize" | "MemoryGrow" | "MemoryFill" | "MemoryCopy" | "MemoryInit" | "DataDrop" | "MemoryDiscard" => {
            return C::Memory;
        }
        "TableGet" | "TableSet" | "TableSize" | "TableGrow" | "TableFill" | "TableCopy" | "TableInit" | "ElemDrop" => {
            return C::Table;
        }
        "RefNull" | "RefIsNull" | "RefFunc" | "RefEq" | "RefAsNonNull" => return C::Reference,
        _ => {}
    }
    match proposal {
        "simd" | "relaxed_simd" => return C::Simd,
        "threads" | "shared_everything_threads" | "acquire_release_atomics" => return C::Atomic,
        "mvp" | "sign_extension" | "saturating_float_to_int" | "wide_arithmetic" => {}
        _ => return C::Other,
    }
    let float = name.starts_with('F') || name.contains("F32") || name.contains("F64");
    if name.ends_with("Load") || name.contains("Load8") || name.contains("Load16") || name.contains("Load32") {
        C::Load
    } else if name.ends_with("Store") || name.contains("Store8") || name.contains("Store16") || name.contains("Store32")
    {
        C::Store
    } else if float {
        C::Float
    } else if name.contains("Div") || name.contains("Rem") {
        C::IntegerDivision
    } else {
        C::Integer
    }
}

impl Pricing {
    /// Checks `table` and resolves it.
    ///
    /// # Errors
    ///
    /// [`PricingError::UnknownOperator`] when an override names no operator.
    pub fn new(table: PricingTable) -> Result<Pricing, PricingError> {
        if let Some(bad) = table.overrides.keys().find(|k| ops::index_of_name(k).is_none()) {
            return Err(PricingError::UnknownOperator(bad.clone()));
        }
        Ok(Pricing::resolve(table))
    }

    fn resolve(table: PricingTable) -> Pricing {
        let costs = OPERATOR_NAMES
            .iter()
            .zip(OPERATOR_PROPOSALS)
            .map(|(name, proposal)| {
                table.overrides.get(*name).copied().unwrap_or_else(|| table.class_cost(class_of(name, proposal)))
            })
            .collect();
        // The hash covers a canonical serialisation: struct fields in declaration order and
        // overrides in a BTreeMap, so the same table always gives the same bytes.
        let canonical = serde_json::to_vec(&table).unwrap_or_default();
        let hash: [u8; 32] = Sha256::digest(&canonical).into();
        Pricing { table, costs, hash }
    }

    /// Parses a TOML pricing table.
    ///
    /// # Errors
    ///
    /// [`PricingError::Toml`] for malformed text or missing fields, and the errors of
    /// [`Pricing::new`].
    pub fn from_toml(text: &str) -> Result<Pricing, PricingError> {
        let table: PricingTable = toml::from_str(text).map_err(|e| {
            // One line: toml's Display draws the offending line, which a CLI error must not.
            let at = e.span().map(|s| format!(" (at byte {})", s.start)).unwrap_or_default();
            PricingError::Toml(format!("{}{at}", e.message().trim_end()))
        })?;
        Pricing::new(table)
    }

    /// Parses a JSON pricing table.
    ///
    /// # Errors
    ///
    /// [`PricingError::Json`] for malformed text or missing fields, and the errors of
    /// [`Pricing::new`].
    pub fn from_json(text: &str) -> Result<Pricing, PricingError> {
        let table: PricingTable = serde_json::from_str(text).map_err(|e| PricingError::Json(e.to_string()))?;
        Pricing::new(table)
    }

    /// Loads a pricing table from a `.toml` or `.json` file.
    ///
    /// # Errors
    ///
    /// [`PricingError::Io`] when the file cannot be read, [`PricingError::UnknownFormat`] for
    /// another extension, and the parse errors.
    pub fn from_file(path: &Path) -> Result<Pricing, PricingError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PricingError::Io { path: shown.clone(), source })?;
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Pricing::from_toml(&text),
            Some("json") => Pricing::from_json(&text),
            _ => Err(PricingError::UnknownFormat(shown)),
        }
    }

    /// The table as written.
    pub fn table(&self) -> &PricingTable {
        &self.table
    }

    /// The SHA-256 of the table's canonical JSON form.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// [`Pricing::hash`] in lowercase hex.
    pub fn hash_hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The cost of one execution of `op`.
    pub fn operator_cost(&self, op: &Operator<'_>) -> u64 {
        let class = ops::operator_index(op).and_then(|i| self.costs.get(i)).copied();
        class.unwrap_or(self.table.classes.other)
    }

    /// The cost of the operator named `name` (wasmparser's name), if there is one.
    pub fn operator_cost_by_name(&self, name: &str) -> Option<u64> {
        ops::index_of_name(name).and_then(|i| self.costs.get(i)).copied()
    }

    /// The cost of `units` units of a dynamic operation (saturating: a cost too large to count
    /// is more than any limit).
    pub fn dynamic_cost(&self, op: DynamicOp, units: u64) -> u64 {
        let d = &self.table.dynamic;
        let per = match op {
            DynamicOp::MemoryCopy => d.memory_copy_per_byte,
            DynamicOp::MemoryFill => d.memory_fill_per_byte,
            DynamicOp::MemoryInit => d.memory_init_per_byte,
            DynamicOp::TableCopy => d.table_copy_per_element,
            DynamicOp::TableFill => d.table_fill_per_element,
            DynamicOp::TableInit => d.table_init_per_element,
            DynamicOp::TableGrow => d.table_grow_per_element,
            DynamicOp::MemoryGrow => d.memory_grow_per_page,
        };
        per.saturating_mul(units)
    }

    /// The base cost of a host call.
    pub fn host_call_cost(&self) -> u64 {
        self.table.host_call
    }
}

impl PricingTable {
    /// The cost this table gives operators of `class` without an override.
    pub fn class_cost(&self, class: OpClass) -> u64 {
        let c = &self.classes;
        match class {
            OpClass::Control => c.control,
            OpClass::BrTable => c.br_table,
            OpClass::Local => c.local,
            OpClass::Global => c.global,
            OpClass::Const => c.constant,
            OpClass::Integer => c.integer,
            OpClass::IntegerDivision => c.integer_division,
            OpClass::Float => c.float,
            OpClass::Load => c.load,
            OpClass::Store => c.store,
            OpClass::Memory => c.memory,
            OpClass::Table => c.table,
            OpClass::Reference => c.reference,
            OpClass::Call => self.call,
            OpClass::CallIndirect => self.call_indirect,
            OpClass::Simd => c.simd,
            OpClass::Atomic => c.atomic,
            OpClass::Other => c.other,
        }
    }

    /// The table as TOML text.
    ///
    /// # Errors
    ///
    /// Never for a table built by this crate; the error is the serializer's.
    pub fn to_toml(&self) -> Result<String, PricingError> {
        toml::to_string(self).map_err(|e| PricingError::Toml(e.to_string()))
    }
}

/// The class `name` (a wasmparser operator name) is priced by, or `None` for no operator.
pub fn operator_class(name: &str) -> Option<OpClass> {
    let i = ops::index_of_name(name)?;
    Some(class_of(OPERATOR_NAMES.get(i)?, OPERATOR_PROPOSALS.get(i)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_has_a_class_and_price() {
        let p = Pricing::default();
        assert_eq!(p.costs.len(), OPERATOR_NAMES.len());
        assert_eq!(operator_class("I32Add"), Some(OpClass::Integer));
        assert_eq!(operator_class("I64DivU"), Some(OpClass::IntegerDivision));
        assert_eq!(operator_class("F64ConvertI32S"), Some(OpClass::Float));
        assert_eq!(operator_class("I32TruncSatF32S"), Some(OpClass::Float));
        assert_eq!(operator_class("I64Load32U"), Some(OpClass::Load));
        assert_eq!(operator_class("I64Store16"), Some(OpClass::Store));
        assert_eq!(operator_class("F32x4Add"), Some(OpClass::Simd));
        assert_eq!(operator_class("V128Load"), Some(OpClass::Simd));
        assert_eq!(operator_class("ReturnCall"), Some(OpClass::Call));
        assert_eq!(operator_class("ReturnCallIndirect"), Some(OpClass::CallIndirect));
        assert_eq!(operator_class("I32AtomicLoad"), Some(OpClass::Atomic));
        assert_eq!(operator_class("NoSuchOp"), None);
        assert_eq!(p.operator_cost(&Operator::I32Add), 1);
        assert_eq!(p.operator_cost(&Operator::F64Div), 10);
        assert_eq!(p.operator_cost(&Operator::Call { function_index: 3 }), 10);
        assert_eq!(p.dynamic_cost(DynamicOp::MemoryGrow, 3), 3_000);
        assert_eq!(p.dynamic_cost(DynamicOp::MemoryFill, u64::MAX), u64::MAX);
    }

    #[test]
    fn toml_and_json_round_trip_with_the_same_hash() {
        let p = Pricing::default();
        let toml_text = p.table().to_toml().unwrap();
        let json_text = serde_json::to_string(p.table()).unwrap();
        let a = Pricing::from_toml(&toml_text).unwrap();
        let b = Pricing::from_json(&json_text).unwrap();
        assert_eq!(a.hash(), p.hash());
        assert_eq!(b.hash(), p.hash());
        assert_eq!(p.hash_hex().len(), 64);
    }

    #[test]
    fn any_change_changes_the_hash() {
        let base = Pricing::default();
        let mut t = PricingTable::default();
        t.classes.integer = 2;
        assert_ne!(Pricing::new(t).unwrap().hash(), base.hash());
        let mut t = PricingTable::default();
        t.overrides.insert("I32Add".into(), 1);
        let p = Pricing::new(t).unwrap();
        assert_ne!(p.hash(), base.hash());
        assert_eq!(p.operator_cost(&Operator::I32Add), 1);
    }

    #[test]
    fn malformed_tables_are_clear_errors() {
        let e = Pricing::from_toml("version = 1\ncall = \"ten\"").unwrap_err();
        assert!(matches!(e, PricingError::Toml(_)), "{e}");
        assert!(e.to_string().contains("malformed TOML"), "{e}");
        let e = Pricing::from_json("{\"version\": 1").unwrap_err();
        assert!(matches!(e, PricingError::Json(_)), "{e}");
        let mut t = PricingTable::default();
        t.overrides.insert("I32Addd".into(), 1);
        let e = Pricing::new(t).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pricing override names no operator: `I32Addd` (use wasmparser's names, such as `I32Add`)"
        );
        let text = PricingTable::default().to_toml().unwrap().replace("version", "versoin");
        assert!(matches!(Pricing::from_toml(&text), Err(PricingError::Toml(_))));
    }
}
