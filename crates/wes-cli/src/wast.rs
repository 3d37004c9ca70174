//! `wes wast`: runs `.wast` scripts with the spec runner's semantics (`wes-wast`, the runner
//! `cargo xtask spec-test` uses), like `wasmtime wast`, on the engine the configuration
//! describes.

use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) fn run(files: &[PathBuf], config: Option<&std::path::Path>, show: usize) -> ExitCode {
    let config = match config {
        Some(p) => wes::RuntimeConfig::from_file(p),
        None => Ok(wes::RuntimeConfig::default()),
    };
    let engine = match config.and_then(|c| c.engine()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("wes: {e}");
            return ExitCode::from(2);
        }
    };
    let decoder = wes_decode::Decoder::default();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let progress = crate::progress::Progress::new();
    for (i, file) in files.iter().enumerate() {
        let shown = file.display();
        progress.update(&format!("wes wast: {}/{} {shown}", i + 1, files.len()));
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("wes: cannot read {shown}: {e}");
                return ExitCode::from(2);
            }
        };
        let executor = Box::new(wes_wast::RuntimeExecutor::new(engine.clone()));
        let r = wes_wast::run_script(&text, &decoder, Some(executor));
        // Results go to stdout; the progress line is on stderr and redrawn over.
        println!("{shown}: {} passed, {} failed, {} skipped", r.passed, r.failed, r.skipped);
        for f in r.failures.iter().take(show) {
            println!("    line {} {}: {}", f.line, f.directive, f.message);
        }
        if r.failures.len() > show {
            println!("    ... and {} more", r.failures.len() - show);
        }
        passed += r.passed;
        failed += r.failed;
        skipped += r.skipped;
    }
    drop(progress);
    println!("wes wast: {passed} passed, {failed} failed, {skipped} skipped");
    // Skipped directives (threads, exceptions, custom-section assertions) are not passes.
    if failed > 0 || skipped > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
