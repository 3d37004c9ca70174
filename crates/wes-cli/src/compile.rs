//! Compiled artifacts on the command line: `wes compile FILE -o FILE.cwasm` writes one, and
//! `wes run` loads one (through `wes::Runtime::load_artifact`; `--cache DIR` goes through the
//! facade's `performance.cache_dir`).
//!
//! An artifact written by `wes compile` carries its wasm bytes, so `wes run FILE.cwasm` needs
//! nothing else: the bytes are validated again at load (only the validator makes a module) and
//! the code is checked against this WES, its configuration and this CPU before it is mapped.
//! The artifact must be run with the configuration it was compiled with (the same `--config`
//! and `--pricing`): another pricing or JIT setting is refused with the settings that differ.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use wes_cache::Artifact;
use wes_decode::Decoder;
use wes_runtime::Module;

/// `wes compile FILE -o OUT`: validates and compiles FILE under the configuration and writes
/// a self-contained artifact (default `FILE.cwasm`). Exit status 0, or 2 with a message.
pub(crate) fn run(file: &Path, out: Option<&Path>, runtime: &wes::Runtime) -> ExitCode {
    match compile(file, out, runtime) {
        Ok(out) => {
            eprintln!("wes: wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wes: {e}");
            ExitCode::from(2)
        }
    }
}

fn compile(file: &Path, out: Option<&Path>, runtime: &wes::Runtime) -> Result<PathBuf, String> {
    let path = file.display();
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {path}: {e}"))?;
    let wasm = wat::parse_bytes(&bytes).map_err(|e| format!("{path}: {e}"))?;
    let decoder = Decoder::default();
    let module = decoder.decode(&wasm).map_err(|e| format!("{path}: {e}"))?;
    let engine = runtime.engine();
    let module = Module::new(engine, module).map_err(|e| format!("{path}: {e}"))?;
    let artifact = Artifact::new(engine, &decoder, &module, &wasm, true).map_err(|e| e.to_string())?;
    let out = out.map_or_else(|| file.with_extension("cwasm"), Path::to_path_buf);
    // Written beside its destination and renamed, so a reader never sees half a file.
    let temp = out.with_extension(format!("cwasm.tmp{}", std::process::id()));
    std::fs::write(&temp, artifact.encode()).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    std::fs::rename(&temp, &out).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot write {}: {e}", out.display())
    })?;
    Ok(out)
}
