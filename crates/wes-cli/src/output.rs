//! What `wes run` prints: plain results, or one JSON object.
//!
//! The JSON shape is the CLI's own serialisable counterpart of the runtime's types, so the
//! runtime's types carry no serde derives and can change without breaking scripts.

use serde::Serialize;
use wes_core::{Trap, Value};

#[derive(Serialize)]
pub(crate) struct Outcome {
    pub(crate) results: Vec<TypedValue>,
    pub(crate) trap: Option<TrapJson>,
    pub(crate) gas_limit: u64,
    pub(crate) gas_used: u64,
    pub(crate) gas_refunded: u64,
    /// Not in the JSON (the limit is there); makes plain output say the default applied.
    #[serde(skip)]
    pub(crate) default_limit: bool,
    /// Where the code came from, when not compiled now: `artifact`, `cache-compiled`,
    /// `cache-disk` (absent otherwise, so plain runs keep their shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<&'static str>,
}

#[derive(Serialize)]
pub(crate) struct TypedValue {
    #[serde(rename = "type")]
    ty: &'static str,
    /// A string, so 64-bit integers and float bit patterns survive JSON parsers that read
    /// numbers as doubles.
    value: String,
}

impl From<&Value> for TypedValue {
    fn from(v: &Value) -> Self {
        TypedValue { ty: v.ty().name(), value: v.to_string() }
    }
}

#[derive(Serialize)]
pub(crate) struct TrapJson {
    code: &'static str,
    message: String,
    backtrace: Vec<FrameJson>,
}

#[derive(Serialize)]
struct FrameJson {
    func_index: u32,
    func_name: Option<String>,
    offset: Option<u32>,
}

impl From<&Trap> for TrapJson {
    fn from(t: &Trap) -> Self {
        TrapJson {
            code: t.code.name(),
            message: match &t.detail {
                Some(d) => format!("{}: {d}", t.code),
                None => t.code.to_string(),
            },
            backtrace: t
                .backtrace
                .iter()
                .map(|f| FrameJson { func_index: f.func_index, func_name: f.func_name.clone(), offset: f.offset })
                .collect(),
        }
    }
}

/// Prints the outcome: JSON on one line, or each result on its own line (a trap goes to stderr
/// in plain mode, with its backtrace).
pub(crate) fn print(outcome: &Outcome, json: bool, trap: Option<&Trap>) {
    if json {
        // Serialising plain strings and numbers cannot fail.
        match serde_json::to_string(outcome) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("wes: cannot encode output: {e}"),
        }
        return;
    }
    for r in &outcome.results {
        println!("{}", r.value);
    }
    if let Some(trap) = trap {
        eprintln!("wes: {trap}");
        for frame in &trap.backtrace {
            eprintln!("    at {frame}");
        }
    }
    let default = if outcome.default_limit { " (default; set one with --gas)" } else { "" };
    eprintln!(
        "wes: gas used {} of limit {}{default}, refunded {}",
        outcome.gas_used, outcome.gas_limit, outcome.gas_refunded
    );
}
