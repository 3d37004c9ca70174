//! [`CustomSecurityChecker`]: the embedder's own rules, consulted before a module is
//! instantiated and before the host calls of the capabilities it registers for.

use crate::ModuleIdentity;

/// An embedder's extension point. Register one with
/// [`PermissionController::add_checker`](crate::PermissionController::add_checker) (or
/// through the [`SecurityManager`](crate::SecurityManager)); it is called
///
/// - by [`GuardedLinker::instantiate`](crate::GuardedLinker::instantiate), before any import is
///   resolved, with the validated module;
/// - on every call of a host function of one of [`capabilities`](Self::capabilities), after
///   the grant and budget checks pass, before the function runs.
///
/// A refusal (`Err(reason)`) becomes [`SecurityError::Refused`](crate::SecurityError::Refused)
/// naming the checker; a refused host call traps. A checker consulted on host calls sits on
/// their hot path: keep it cheap.
pub trait CustomSecurityChecker: Send + Sync {
    /// The checker's name, for errors and the audit log.
    fn name(&self) -> &str;

    /// The capabilities whose host calls [`check_host_call`](Self::check_host_call) sees.
    fn capabilities(&self) -> Vec<String> {
        Vec::new()
    }

    /// Called before `module` is instantiated.
    ///
    /// # Errors
    ///
    /// The reason to refuse the instantiation.
    fn check_instantiation(&self, module: &ModuleIdentity, wasm: &wes_core::Module) -> Result<(), String> {
        let _ = (module, wasm);
        Ok(())
    }

    /// Called before a host function `function` (`module::name`) of `capability` runs for
    /// `module`.
    ///
    /// # Errors
    ///
    /// The reason to refuse the call; the wasm call traps.
    fn check_host_call(&self, module: &ModuleIdentity, capability: &str, function: &str) -> Result<(), String> {
        let _ = (module, capability, function);
        Ok(())
    }
}
