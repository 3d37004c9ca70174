//! Tracing spans, in a test binary of their own: tracing caches each call site's interest
//! process-wide, so a test that installs a subscriber for its thread only must not share the
//! process with tests that hit the same call sites without one.
#![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

use wes::{Caller, HostError, Runtime, RuntimeConfig};

const GUEST: &str = r#"(module
  (import "env" "emit" (func $emit (param i32)))
  (func (export "go") (call $emit (i32.const 7)))
  (func (export "trap") unreachable))"#;

fn with_hosts(config: RuntimeConfig) -> Runtime {
    let mut rt = Runtime::new(config).unwrap();
    rt.linker_mut().func_wrap("env", "emit", |c: &mut Caller<'_>, (x,): (i32,)| -> Result<(), HostError> {
        wes::host::record_effect(c, "event", x.to_le_bytes().to_vec())
    });
    rt
}

/// A writer for tracing's formatter that keeps what it is given.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn spans_cover_load_instantiate_and_call_with_module_and_export() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let hash = tracing::subscriber::with_default(subscriber, || {
        let rt = with_hosts(RuntimeConfig::default());
        let m = rt.load(GUEST.as_bytes()).unwrap();
        let mut i = rt.create_instance(&m, rt.gas_meter(100_000)).unwrap();
        i.execute("trap", &[]).unwrap();
        m.hash().to_string()
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    for span in ["wes.load", "wes.decode", "wes.compile", "wes.instantiate", "wes.call"] {
        assert!(text.contains(&format!("{span}{{")) || text.contains(&format!("{span}:")), "no {span} in:\n{text}");
    }
    assert!(text.contains(&format!("module={hash}")), "{text}");
    assert!(text.contains("export=\"trap\""), "{text}");
    assert!(text.contains("trap=\"Unreachable\""), "{text}");
}
