//! A contract-style host on the facade: storage as a host capability that asks the contract to
//! allocate the buffer for its answer (a host function calling back into wasm), logs, side
//! effects, and a gas limit per call.
//!
//! ```sh
//! cargo run -p wes --example contract
//! ```
//!
//! The contract (`examples/counter.wat`) keeps a counter in the host's storage: each
//! `execute` reads it with `db_read`, adds the number in its JSON message, writes it back with
//! `db_write`, logs what it did and answers `{"count":N}`.

use std::collections::BTreeMap;

use wes::{Caller, HostError, Runtime, RuntimeConfig, Value};

/// The host's storage, one per instance.
#[derive(Default)]
struct Storage(BTreeMap<Vec<u8>, Vec<u8>>);

/// Reads a region `{offset, capacity, length}` (12 little-endian bytes) and its bytes.
fn read_region(c: &mut Caller<'_>, region: u32) -> Result<Vec<u8>, HostError> {
    let mut h = [0u8; 12];
    c.read_memory(u64::from(region), &mut h)?;
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    if word(8) > word(4) {
        return Err(HostError::new("region length exceeds its capacity"));
    }
    let mut data = vec![0; word(8) as usize];
    c.read_memory(u64::from(word(0)), &mut data)?;
    Ok(data)
}

/// Has the contract allocate a region for `data` (a call back into wasm) and fills it.
fn write_region(c: &mut Caller<'_>, data: &[u8]) -> Result<u32, HostError> {
    let allocate = c.get_func("allocate").ok_or_else(|| HostError::new("the contract exports no `allocate`"))?;
    let len = i32::try_from(data.len()).map_err(|_| HostError::new("value too large"))?;
    let region = c.call(allocate, &[Value::I32(len)])?;
    let region = region.first().and_then(Value::as_i32).ok_or_else(|| HostError::new("allocate returned nothing"))?;
    let region = region as u32;
    let mut offset = [0u8; 4];
    c.read_memory(u64::from(region), &mut offset)?;
    c.write_memory(u64::from(u32::from_le_bytes(offset)), data)?;
    c.write_memory(u64::from(region) + 8, &(len as u32).to_le_bytes())?;
    Ok(region)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut runtime = Runtime::new(RuntimeConfig::default())?;
    let linker = runtime.linker_mut();
    linker.func_wrap("env", "db_read", |c: &mut Caller<'_>, (key,): (u32,)| -> Result<u32, HostError> {
        let key = read_region(c, key)?;
        c.charge_gas(100 + key.len() as u64)?;
        match wes::host::data::<Storage>(c).and_then(|s| s.0.get(&key).cloned()) {
            Some(value) => write_region(c, &value),
            None => Ok(0),
        }
    });
    linker.func_wrap("env", "db_write", |c: &mut Caller<'_>, (key, value): (u32, u32)| -> Result<(), HostError> {
        let (key, value) = (read_region(c, key)?, read_region(c, value)?);
        c.charge_gas(200 + (key.len() + value.len()) as u64)?;
        wes::host::record_effect(c, "storage.write", [&key[..], b"=", &value[..]].concat())?;
        wes::host::data::<Storage>(c).ok_or_else(|| HostError::new("no storage"))?.0.insert(key, value);
        Ok(())
    });

    let wat = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/counter.wat"))?;
    let module = runtime.load(&wat)?;
    let mut instance = runtime.create_instance(&module, runtime.gas_meter(1_000_000))?;
    instance.set_data(Storage::default());

    for add in [5, 37, 100] {
        // The message goes into a region the contract allocates, like any argument.
        let msg = format!(r#"{{"add":{add}}}"#);
        let region = instance.execute("allocate", &[Value::I32(msg.len() as i32)])?.into_result()?;
        let region = region.first().and_then(Value::as_i32).ok_or("allocate returned nothing")? as u64;
        let mut offset = [0u8; 4];
        instance.read_memory(region, &mut offset)?;
        instance.write_memory(u64::from(u32::from_le_bytes(offset)), msg.as_bytes())?;
        instance.write_memory(region + 8, &(msg.len() as u32).to_le_bytes())?;

        let result = instance.execute("execute", &[Value::I32(region as i32)])?;
        if let Some(e) = &result.error {
            println!("execute failed: {e}\n  {}", runtime.diagnose(e));
            continue;
        }
        let answer = result.values.first().and_then(Value::as_i32).ok_or("execute returned nothing")? as u64;
        let mut header = [0u8; 12];
        instance.read_memory(answer, &mut header)?;
        let word = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let mut json = vec![0; word(8) as usize];
        instance.read_memory(u64::from(word(0)), &mut json)?;
        println!(
            "{msg} -> {} | gas used {}, left {} | logs {:?} | effects {:?}",
            String::from_utf8_lossy(&json),
            result.gas.used,
            result.gas.remaining,
            result.logs,
            result
                .side_effects
                .iter()
                .map(|e| format!("{} {}", e.kind, String::from_utf8_lossy(&e.data)))
                .collect::<Vec<_>>(),
        );
    }

    // Too little gas: the call fails cleanly and the diagnosis says how much it needs.
    let mut starved = runtime.create_instance(&module, runtime.gas_meter(500))?;
    starved.set_data(Storage::default());
    let result = starved.execute("execute", &[Value::I32(0)])?;
    if let Some(e) = &result.error {
        println!("with 500 gas: {e}\n  {}", runtime.diagnose(e));
    }
    runtime.destroy_instance(instance);
    runtime.destroy_instance(starved);
    println!("{:?}", runtime.metrics());
    Ok(())
}
