//! The script runner: every directive of a `.wast` script gets a verdict.

use std::collections::HashMap;

use wast::{QuoteWat, QuoteWatTest, WastDirective, WastExecute, WastInvoke};
use wes_decode::{Decoder, Module};

use crate::executor::{ExecError, Executor};
use crate::values;

/// What became of one directive.
pub(crate) enum Verdict {
    Pass,
    Fail(String),
    Skip,
}

pub(crate) struct Runner {
    pub(crate) decoder: Decoder,
    pub(crate) exec: Option<Box<dyn Executor>>,
    /// Modules defined with `(module definition $name ...)`, for later `module instance`.
    pub(crate) definitions: HashMap<String, Module>,
}

impl Runner {
    /// Decodes a script module through the public decoder: quoted text goes through the text
    /// front-end, inline and binary modules through the binary decoder.
    fn load(&self, module: &mut QuoteWat<'_>) -> Result<Module, String> {
        match module.to_test().map_err(|e| format!("text format: {e}"))? {
            QuoteWatTest::Binary(bytes) => self.decoder.decode(&bytes).map_err(|e| e.to_string()),
            QuoteWatTest::Text(text) => {
                let text = String::from_utf8(text).map_err(|_| "text format: malformed UTF-8".to_string())?;
                self.decoder.decode_text(&text).map_err(|e| e.to_string())
            }
        }
    }

    fn load_wat(&self, wat: &mut wast::Wat<'_>) -> Result<Module, String> {
        let bytes = wat.encode().map_err(|e| format!("text format: {e}"))?;
        self.decoder.decode(&bytes).map_err(|e| e.to_string())
    }

    pub(crate) fn directive(&mut self, directive: WastDirective<'_>) -> Verdict {
        use WastDirective as D;
        match directive {
            D::Module(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                match self.load(&mut module) {
                    Err(e) => Verdict::Fail(format!("module rejected: {e}")),
                    Ok(m) => match &mut self.exec {
                        None => Verdict::Pass,
                        Some(ex) => verdict(ex.instantiate(name.as_deref(), m).map(|_| ())),
                    },
                }
            }
            D::ModuleDefinition(mut module) => {
                let name = module.name().map(|id| id.name().to_string());
                match self.load(&mut module) {
                    Err(e) => Verdict::Fail(format!("module rejected: {e}")),
                    Ok(m) => {
                        if let Some(name) = name {
                            self.definitions.insert(name, m);
                        }
                        Verdict::Pass
                    }
                }
            }
            D::ModuleInstance { instance, module, .. } => {
                let Some(ex) = &mut self.exec else { return Verdict::Skip };
                let Some(m) = module.and_then(|id| self.definitions.get(id.name())).cloned() else {
                    return Verdict::Fail("module instance of an unknown definition".into());
                };
                verdict(ex.instantiate(instance.map(|i| i.name()), m))
            }
            D::AssertMalformed { mut module, message, .. } | D::AssertInvalid { mut module, message, .. } => {
                match self.load(&mut module) {
                    Err(_) => Verdict::Pass,
                    Ok(_) => Verdict::Fail(format!("module accepted, expected rejection: {message}")),
                }
            }
            D::Register { name, module, .. } => match &mut self.exec {
                None => Verdict::Skip,
                Some(ex) => verdict(ex.register(name, module.map(|m| m.name()))),
            },
            D::Invoke(invoke) => match &mut self.exec {
                None => Verdict::Skip,
                Some(ex) => match invoke_with(ex.as_mut(), &invoke) {
                    Ok(_) => Verdict::Pass,
                    Err(e) => Verdict::Fail(e),
                },
            },
            D::AssertReturn { exec, results, .. } => {
                let outcome = match self.execute(exec) {
                    None => return Verdict::Skip,
                    Some(o) => o,
                };
                match outcome {
                    Err(e) => Verdict::Fail(format!("expected results, got {}", describe(Err(e)))),
                    Ok(values) if values.len() != results.len() => {
                        Verdict::Fail(format!("expected {} results, got {values:?}", results.len()))
                    }
                    Ok(values) => {
                        for (i, (expected, actual)) in results.iter().zip(&values).enumerate() {
                            if let Err(e) = values::check(expected, actual) {
                                return Verdict::Fail(format!("result {i}: {e}"));
                            }
                        }
                        Verdict::Pass
                    }
                }
            }
            D::AssertTrap { exec, message, .. } => match self.execute(exec) {
                None => Verdict::Skip,
                Some(Err(ExecErrorOrDecode::Exec(ExecError::Trap(actual)))) if trap_matches(&actual, message) => {
                    Verdict::Pass
                }
                Some(other) => Verdict::Fail(format!("expected trap `{message}`, got {}", describe(other))),
            },
            D::AssertExhaustion { call, message, .. } => match &mut self.exec {
                None => Verdict::Skip,
                Some(ex) => match invoke_with(ex.as_mut(), &call) {
                    Err(actual) if trap_matches(&actual, message) => Verdict::Pass,
                    Err(actual) => Verdict::Fail(format!("expected `{message}`, got {actual}")),
                    Ok(values) => Verdict::Fail(format!("expected `{message}`, got {values:?}")),
                },
            },
            D::AssertUnlinkable { mut module, message, .. } => {
                let m = match self.load_wat(&mut module) {
                    Err(e) => return Verdict::Fail(format!("module rejected: {e}")),
                    Ok(m) => m,
                };
                match &mut self.exec {
                    None => Verdict::Skip,
                    Some(ex) => match ex.instantiate(None, m) {
                        Err(ExecError::Link(_)) => Verdict::Pass,
                        Err(e) => Verdict::Fail(format!("expected link error `{message}`, got {e}")),
                        Ok(()) => Verdict::Fail(format!("expected link error `{message}`, but it linked")),
                    },
                }
            }
            // Custom-section assertions, threads and exceptions are outside the suites WES
            // runs; they are counted, never passed.
            D::AssertInvalidCustom { .. }
            | D::AssertMalformedCustom { .. }
            | D::AssertException { .. }
            | D::AssertSuspension { .. }
            | D::Thread(_)
            | D::Wait { .. } => Verdict::Skip,
        }
    }

    /// Runs the subject of an `assert_return`/`assert_trap`; `None` when this backend cannot
    /// execute (after checking that an inline module at least validates).
    fn execute(&mut self, exec: WastExecute<'_>) -> Option<Result<Vec<wes_core::Value>, ExecErrorOrDecode>> {
        match exec {
            WastExecute::Invoke(invoke) => {
                let ex = self.exec.as_mut()?;
                // Keep the error's kind: `assert_trap` must tell a trap from other failures.
                let args = match invoke.args.iter().map(values::arg).collect::<Result<Vec<_>, _>>() {
                    Ok(args) => args,
                    Err(e) => return Some(Err(ExecErrorOrDecode::Text(e))),
                };
                Some(ex.invoke(invoke.module.map(|m| m.name()), invoke.name, &args).map_err(ExecErrorOrDecode::Exec))
            }
            WastExecute::Get { module, global, .. } => {
                let ex = self.exec.as_mut()?;
                Some(ex.get(module.map(|m| m.name()), global).map(|v| vec![v]).map_err(ExecErrorOrDecode::Exec))
            }
            WastExecute::Wat(mut wat) => {
                let m = match self.load_wat(&mut wat) {
                    Err(e) => return Some(Err(ExecErrorOrDecode::Text(format!("module rejected: {e}")))),
                    Ok(m) => m,
                };
                let ex = self.exec.as_mut()?;
                Some(ex.instantiate(None, m).map(|()| Vec::new()).map_err(ExecErrorOrDecode::Exec))
            }
        }
    }
}

enum ExecErrorOrDecode {
    Exec(ExecError),
    Text(String),
}

fn describe(outcome: Result<Vec<wes_core::Value>, ExecErrorOrDecode>) -> String {
    match outcome {
        Ok(values) => format!("results {values:?}"),
        Err(ExecErrorOrDecode::Exec(e)) => e.to_string(),
        Err(ExecErrorOrDecode::Text(e)) => e,
    }
}

fn invoke_with(ex: &mut dyn Executor, invoke: &WastInvoke<'_>) -> Result<Vec<wes_core::Value>, String> {
    let args = invoke.args.iter().map(values::arg).collect::<Result<Vec<_>, _>>()?;
    ex.invoke(invoke.module.map(|m| m.name()), invoke.name, &args).map_err(|e| match e {
        ExecError::Trap(m) => m,
        other => other.to_string(),
    })
}

fn verdict(r: Result<(), ExecError>) -> Verdict {
    match r {
        Ok(()) => Verdict::Pass,
        Err(e) => Verdict::Fail(e.to_string()),
    }
}

/// The spec's expected text and ours agree when one contains the other: some expectations
/// carry extra words ("uninitialized element 2"), and some of our messages carry detail.
fn trap_matches(actual: &str, expected: &str) -> bool {
    actual.contains(expected) || expected.contains(actual)
}

pub(crate) fn directive_name(d: &WastDirective<'_>) -> &'static str {
    use WastDirective as D;
    match d {
        D::Module(_) => "module",
        D::ModuleDefinition(_) => "module definition",
        D::ModuleInstance { .. } => "module instance",
        D::AssertMalformed { .. } => "assert_malformed",
        D::AssertInvalid { .. } => "assert_invalid",
        D::AssertInvalidCustom { .. } => "assert_invalid_custom",
        D::AssertMalformedCustom { .. } => "assert_malformed_custom",
        D::Register { .. } => "register",
        D::Invoke(_) => "invoke",
        D::AssertTrap { .. } => "assert_trap",
        D::AssertReturn { .. } => "assert_return",
        D::AssertExhaustion { .. } => "assert_exhaustion",
        D::AssertUnlinkable { .. } => "assert_unlinkable",
        D::AssertException { .. } => "assert_exception",
        D::AssertSuspension { .. } => "assert_suspension",
        D::Thread(_) => "thread",
        D::Wait { .. } => "wait",
    }
}
