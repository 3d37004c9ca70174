//! Runs WebAssembly `.wast` scripts — the spec testsuite's format — against WES: modules are
//! decoded through `wes-decode`'s public API and executed by an [`Executor`], and every
//! directive gets a verdict: passed, failed, or skipped when the executor cannot run it
//! (without an executor, only decoding and validation are checked). A skip is never a pass.
//!
//! One runner serves `cargo xtask spec-test` (the official testsuite, every backend) and
//! `wes wast FILE...` (a user's own scripts), so both mean the same thing by "passes".
//!
//! ```
//! let engine = wes::RuntimeConfig::default().engine()?;
//! let report = wes_wast::run_script(
//!     r#"(module (func (export "add") (param i32 i32) (result i32)
//!          local.get 0 local.get 1 i32.add))
//!        (assert_return (invoke "add" (i32.const 2) (i32.const 3)) (i32.const 5))
//!        (assert_trap (module (func (export "f") unreachable) (start 0)) "unreachable")"#,
//!     &wes_decode::Decoder::default(),
//!     Some(Box::new(wes_wast::RuntimeExecutor::new(engine))),
//! );
//! assert_eq!((report.passed, report.failed, report.skipped), (3, 0, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod executor;
mod runner;
mod values;

use std::collections::HashMap;

pub use executor::{ExecError, Executor, RuntimeExecutor};
use runner::{Runner, Verdict};
use wes_decode::Decoder;

/// A directive that failed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// Its line in the script (1-based; 0 when the script does not parse).
    pub line: usize,
    /// What kind of directive (`assert_return`, `module`, ...).
    pub directive: &'static str,
    /// What went wrong.
    pub message: String,
}

/// The verdicts of one script.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScriptReport {
    /// Directives that passed.
    pub passed: usize,
    /// Directives that failed (a script that does not parse is one failure).
    pub failed: usize,
    /// Directives the executor could not run (all that need execution, without one).
    pub skipped: usize,
    /// The failures, in order.
    pub failures: Vec<Failure>,
}

/// Runs every directive of the script `text` in order: modules decoded by `decoder`,
/// executed by `executor` (or only validated without one).
pub fn run_script(text: &str, decoder: &Decoder, executor: Option<Box<dyn Executor>>) -> ScriptReport {
    let mut report = ScriptReport::default();
    let mut lexer = wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buf = match wast::parser::ParseBuffer::new_with_lexer(lexer) {
        Ok(buf) => buf,
        Err(e) => return parse_failure(report, e),
    };
    let wast = match wast::parser::parse::<wast::Wast<'_>>(&buf) {
        Ok(wast) => wast,
        Err(e) => return parse_failure(report, e),
    };
    let mut runner = Runner { decoder: decoder.clone(), exec: executor, definitions: HashMap::new() };
    for directive in wast.directives {
        let line = directive.span().linecol_in(text).0 + 1;
        let kind = runner::directive_name(&directive);
        match runner.directive(directive) {
            Verdict::Pass => report.passed += 1,
            Verdict::Skip => report.skipped += 1,
            Verdict::Fail(message) => {
                report.failed += 1;
                report.failures.push(Failure { line, directive: kind, message });
            }
        }
    }
    report
}

/// A script that does not parse is one failure: none of its directives can be counted.
fn parse_failure(mut report: ScriptReport, e: wast::Error) -> ScriptReport {
    report.failed += 1;
    report.failures.push(Failure { line: 0, directive: "parse", message: e.to_string() });
    report
}
