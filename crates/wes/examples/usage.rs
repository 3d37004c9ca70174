//! The facade's usage, end to end, on the documented configuration file:
//!
//! ```sh
//! cargo run -p wes --example usage
//! ```

use wes::{Runtime, RuntimeConfig, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let runtime = Runtime::new(RuntimeConfig::from_file(format!("{root}/wes.toml"))?)?;
    let bytes = std::fs::read(format!("{root}/fib.wat"))?;
    let module = runtime.load(&bytes)?; // decode, validate, compile
    let meter = runtime.gas_meter(1_000_000);
    let mut instance = runtime.create_instance(&module, meter)?;
    let result = instance.execute("fib", &[Value::I32(20)])?; // an ExecutionResult
    println!(
        "fib(20) = {:?}, gas used {}, encoded {}",
        result.values,
        result.gas.used,
        String::from_utf8_lossy(&result.encoded()?)
    );
    runtime.destroy_instance(instance);

    // Not enough gas: the error says what happened and what to do.
    let mut starved = runtime.create_instance(&module, runtime.gas_meter(10_000))?;
    let result = starved.execute("fib", &[Value::I32(20)])?;
    if let Some(error) = &result.error {
        println!("{error}");
        println!("{}", runtime.diagnose(error));
    }
    println!("{}", runtime.metrics_json());
    Ok(())
}
