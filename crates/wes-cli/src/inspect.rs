//! `wes inspect`: what a module imports and exports, with types, its memories, tables,
//! globals and sizes, and the static gas bound of each exported function where one exists.

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use wes_core::Module;
use wes_core::module::{ExternKind, ImportType};
use wes_core::types::{GlobalType, Limits, MemoryType, Mutability, TableType};
use wes_meter::{ResourcePredictor, WorstCase};

/// Everything `inspect` reports, as printed with `--json`.
#[derive(Serialize, Debug)]
struct Report {
    file: String,
    hash: String,
    size_bytes: usize,
    code_bytes: usize,
    functions: usize,
    imports: Vec<Item>,
    exports: Vec<Item>,
    memories: Vec<String>,
    tables: Vec<String>,
    globals: Vec<String>,
    data_segments: usize,
    element_segments: usize,
    start: Option<u32>,
    /// The security policy's verdict, when the configuration enables the security layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    security: Option<Verdict>,
}

/// Whether the configured security policy admits the module (its static limits).
#[derive(Serialize, Debug)]
struct Verdict {
    preset: String,
    admitted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// An import or export: its name, kind and type, and for an exported function its gas bound.
#[derive(Serialize, Debug)]
struct Item {
    name: String,
    kind: &'static str,
    ty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gas_bound: Option<GasBound>,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "lowercase")]
enum GasBound {
    /// No call can cost more.
    Bounded(u64),
    /// No static bound; why.
    Unbounded(String),
}

pub(crate) fn run(file: &Path, json: bool, config: Option<&Path>) -> ExitCode {
    match report(file, config) {
        Ok(r) => {
            if json {
                match serde_json::to_string_pretty(&r) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("wes: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print_plain(&r);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wes: {e}");
            ExitCode::from(2)
        }
    }
}

fn report(file: &Path, config: Option<&Path>) -> Result<Report, String> {
    let shown = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let module = wes_decode::decode_any(&bytes).map_err(|e| format!("{shown}: {e}"))?;
    let config = match config {
        Some(p) => wes::RuntimeConfig::from_file(p).map_err(|e| e.to_string())?,
        None => wes::RuntimeConfig::default(),
    };
    let pricing = config.pricing().map_err(|e| e.to_string())?;
    // The module is inspected whatever the policy says; the verdict says whether a runtime
    // with this configuration would admit it.
    let security = match config.security.enabled {
        true => {
            let policy = config.security.policy().map_err(|e| e.to_string())?;
            let decoder = wes_decode::Decoder::default().with_limits(policy.decoder_limits());
            let refused = decoder.decode_any(&bytes).err().map(|e| e.to_string());
            let preset = serde_json::to_value(config.security.preset).ok().and_then(|v| v.as_str().map(String::from));
            Some(Verdict { preset: preset.unwrap_or_default(), admitted: refused.is_none(), reason: refused })
        }
        false => None,
    };
    let predictor = match &pricing {
        Some(p) => Some(ResourcePredictor::analyze(&module, p).map_err(|e| format!("{shown}: {e}"))?),
        None => None,
    };
    Ok(Report {
        file: shown,
        hash: hex_digest(&bytes),
        size_bytes: bytes.len(),
        code_bytes: module.bodies.iter().map(|b| b.range.len()).sum(),
        functions: module.functions.len(),
        imports: module
            .imports
            .iter()
            .map(|i| {
                let (kind, ty) = match &i.ty {
                    ImportType::Func(t) => {
                        ("func", module.types.get(*t as usize).map_or("?".into(), |t| t.to_string()))
                    }
                    ImportType::Table(t) => ("table", table(t)),
                    ImportType::Memory(m) => ("memory", memory(m)),
                    ImportType::Global(g) => ("global", global(g)),
                };
                Item { name: format!("{}::{}", i.module, i.name), kind, ty, gas_bound: None }
            })
            .collect(),
        exports: module.exports.iter().map(|e| export(&module, predictor.as_ref(), e)).collect(),
        memories: module.memories.iter().map(memory).collect(),
        tables: module.tables.iter().map(table).collect(),
        globals: module.globals.iter().map(global).collect(),
        data_segments: module.data.len(),
        element_segments: module.elements.len(),
        start: module.start,
        security,
    })
}

fn export(module: &Module, predictor: Option<&ResourcePredictor>, e: &wes_core::module::Export) -> Item {
    let index = e.index as usize;
    let (kind, ty) = match e.kind {
        ExternKind::Func => ("func", module.func_type(e.index).map_or("?".into(), |t| t.to_string())),
        ExternKind::Table => ("table", module.tables.get(index).map_or("?".into(), table)),
        ExternKind::Memory => ("memory", module.memories.get(index).map_or("?".into(), memory)),
        ExternKind::Global => ("global", module.globals.get(index).map_or("?".into(), global)),
    };
    let gas_bound = match (e.kind, predictor) {
        (ExternKind::Func, Some(_)) if module.is_imported_function(e.index) => {
            Some(GasBound::Unbounded("an imported function".into()))
        }
        (ExternKind::Func, Some(p)) => p.worst_case(e.index).map(|w| match w {
            WorstCase::Bounded(g) => GasBound::Bounded(*g),
            WorstCase::Unbounded(why) => GasBound::Unbounded(why.clone()),
        }),
        _ => None,
    };
    Item { name: e.name.clone(), kind, ty, gas_bound }
}

fn limits(l: &Limits) -> String {
    match l.max {
        Some(max) => format!("{}..{max}", l.min),
        None => format!("{}..", l.min),
    }
}

fn memory(m: &MemoryType) -> String {
    format!("{} pages{}", limits(&m.limits), if m.shared { " shared" } else { "" })
}

fn table(t: &TableType) -> String {
    format!("{} {}", limits(&t.limits), t.element)
}

fn global(g: &GlobalType) -> String {
    match g.mutability {
        Mutability::Var => format!("mut {}", g.content),
        Mutability::Const => g.content.to_string(),
    }
}

fn print_plain(r: &Report) {
    println!(
        "{}: {} bytes ({} of code), {} functions, sha256 {}",
        r.file, r.size_bytes, r.code_bytes, r.functions, r.hash
    );
    for i in &r.imports {
        println!("import {} {}: {}", i.kind, i.name, i.ty);
    }
    for e in &r.exports {
        let gas = match &e.gas_bound {
            Some(GasBound::Bounded(g)) => format!("  [gas <= {g}]"),
            Some(GasBound::Unbounded(why)) => format!("  [gas unbounded: {why}]"),
            None => String::new(),
        };
        println!("export {} {}: {}{gas}", e.kind, e.name, e.ty);
    }
    for (i, m) in r.memories.iter().enumerate() {
        println!("memory {i}: {m}");
    }
    for (i, t) in r.tables.iter().enumerate() {
        println!("table {i}: {t}");
    }
    for (i, g) in r.globals.iter().enumerate() {
        println!("global {i}: {g}");
    }
    println!(
        "{} data segments, {} element segments, start {}",
        r.data_segments,
        r.element_segments,
        r.start.map_or("none".into(), |s| s.to_string())
    );
    if let Some(v) = &r.security {
        match &v.reason {
            None => println!("security ({} preset): admitted", v.preset),
            Some(why) => println!("security ({} preset): refused: {why}", v.preset),
        }
    }
}

/// SHA-256 of `bytes` in hex, as `wes::LoadedModule::hash` gives it.
fn hex_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
