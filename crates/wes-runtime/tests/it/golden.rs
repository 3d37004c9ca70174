//! The golden-gas corpus: a checked-in table of (module, export, arguments, expected gas and
//! outcome) over the programs in `tests/golden-gas/`. Any change of a figure fails this test,
//! so gas can only change on purpose, together with the pricing table's version.
//!
//! To regenerate after a deliberate change (and a bumped `PricingTable::version`):
//! `WES_BLESS_GOLDEN_GAS=1 cargo test -p wes-runtime --test it golden`, then review the diff.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wes_core::Value;
use wes_jit::JitConfig;
use wes_meter::Pricing;
use wes_runtime::{Caller, Config, Engine, HostError, Linker, Module, Store};

#[derive(Serialize, Deserialize)]
struct Golden {
    pricing_version: Option<u32>,
    pricing_hash: Option<String>,
    calls: Vec<Call>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
struct Call {
    module: String,
    export: String,
    /// Integer arguments, typed by the export's parameters.
    args: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gas: Option<u64>,
    /// `ok: <results>` or the trap code's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden-gas")
}

fn engine(pricing: &Arc<Pricing>, optimize: bool) -> Engine {
    crate::metered_engine(pricing, JitConfig { optimize, ..JitConfig::default() }, Config::default())
}

/// Runs `call` in a fresh store; its gas and outcome.
fn measure(engine: &Engine, call: &Call) -> (u64, String) {
    let text = std::fs::read_to_string(dir().join(format!("{}.wat", call.module))).unwrap();
    let module = Module::new(engine, wes_decode::decode_text(&text).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.func_wrap("host", "work", |c: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> {
        c.charge_gas(25)?;
        Ok(x.wrapping_mul(3).wrapping_add(1))
    });
    let mut store = Store::new(engine);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let f = instance.get_func(&store, &call.export).unwrap();
    let ty = f.ty(&store).unwrap();
    let args: Vec<Value> = ty
        .params()
        .iter()
        .zip(&call.args)
        .map(|(t, a)| match t {
            wes_core::ValType::I64 => Value::I64(*a),
            _ => Value::I32(*a as i32),
        })
        .collect();
    let r = f.call_with_gas(&mut store, &args, 1 << 40);
    let outcome = match r.result {
        Ok(v) => format!("ok: {}", v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")),
        Err(e) => e.as_trap().map_or_else(|| format!("error: {e}"), |t| t.code.name().to_string()),
    };
    (r.gas.consumed, outcome)
}

#[test]
fn golden_gas_figures_do_not_change() {
    let pricing = Arc::new(Pricing::default());
    let path = dir().join("golden.json");
    let mut golden: Golden = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let engine = engine(&pricing, true);
    if std::env::var_os("WES_BLESS_GOLDEN_GAS").is_some() {
        golden.pricing_version = Some(pricing.table().version);
        golden.pricing_hash = Some(pricing.hash_hex());
        for call in &mut golden.calls {
            let (gas, outcome) = measure(&engine, call);
            call.gas = Some(gas);
            call.outcome = Some(outcome);
        }
        std::fs::write(&path, serde_json::to_string_pretty(&golden).unwrap() + "\n").unwrap();
    }
    assert_eq!(
        (golden.pricing_version, golden.pricing_hash.as_deref()),
        (Some(pricing.table().version), Some(pricing.hash_hex().as_str())),
        "the default pricing table changed: bump its version and re-bless the corpus on purpose"
    );
    assert!(golden.calls.len() >= 36, "a few dozen programs");
    let unoptimized = self::engine(&pricing, false);
    for call in &golden.calls {
        let expected = (call.gas.unwrap(), call.outcome.clone().unwrap());
        assert_eq!(measure(&engine, call), expected, "{}::{}{:?}", call.module, call.export, call.args);
        assert_eq!(
            measure(&unoptimized, call),
            expected,
            "{}::{}{:?} unoptimised",
            call.module,
            call.export,
            call.args
        );
    }
}
