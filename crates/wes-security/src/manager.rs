//! [`SecurityManager`]: the pieces composed — the policy's limits on every module admitted, the
//! permission controller on every link and host call, the threat monitor fed with what
//! modules do and consulted before they run, and every decision in the audit log.

use std::io::Write;
use std::sync::Arc;

use wes_core::{TrapCode, Value};
use wes_decode::{Decoder, Features};
use wes_runtime::{Module, RuntimeError, Store};

use crate::audit::{AuditLogger, Decision};
use crate::linker::{GuardedInstance, GuardedLinker};
use crate::permission::{ModuleRef, Session};
use crate::threat::{ModuleStatus, ThreatAlert, ThreatKind, ThreatMonitor};
use crate::{Clock, CustomSecurityChecker, ModuleHash, ModuleIdentity, PermissionController, SecurityError};
use crate::{SecurityPolicy, SystemClock};

/// What one invocation did, for [`SecurityManager::end_invocation`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Invocation {
    /// Host calls it made.
    pub host_calls: u64,
    /// Pages its memory 0 grew by.
    pub pages_grown: u64,
    /// The trap it ended with, if it trapped.
    pub trap: Option<TrapCode>,
}

/// The security layer for one runtime.
#[derive(Debug)]
pub struct SecurityManager {
    policy: SecurityPolicy,
    decoder: Decoder,
    permissions: Arc<PermissionController>,
    monitor: ThreatMonitor,
    audit: Option<AuditLogger>,
}

impl SecurityManager {
    /// A manager enforcing `policy` on wall-clock time, without an audit log.
    ///
    /// # Errors
    ///
    /// A bad capability name in the policy.
    pub fn new(policy: SecurityPolicy) -> Result<Self, SecurityError> {
        SecurityManager::with_clock(policy, Arc::new(SystemClock))
    }

    /// A manager on the given clock (threat windows and audit times).
    ///
    /// # Errors
    ///
    /// A bad capability name in the policy.
    pub fn with_clock(policy: SecurityPolicy, clock: Arc<dyn Clock>) -> Result<Self, SecurityError> {
        Ok(SecurityManager {
            decoder: Decoder::default().with_limits(policy.decoder_limits()),
            permissions: Arc::new(PermissionController::from_policy(&policy.capabilities)?),
            monitor: ThreatMonitor::with_clock(policy.threats.clone(), Arc::clone(&clock)),
            audit: None,
            policy,
        })
    }

    /// Records every decision, hash-chained, to `out` (see [`AuditLogger`]).
    pub fn with_audit(mut self, out: Box<dyn Write + Send>, clock: Arc<dyn Clock>) -> Self {
        self.audit = Some(AuditLogger::new(out, clock));
        self
    }

    /// Records every decision to an audit log already made (see [`AuditLogger::resume`]).
    pub fn with_audit_logger(mut self, logger: AuditLogger) -> Self {
        self.audit = Some(logger);
        self
    }

    /// Decodes with these proposals instead of the default ones (the limits stay).
    pub fn with_features(mut self, features: Features) -> Self {
        self.decoder = Decoder::new(features).with_limits(self.policy.decoder_limits());
        self
    }

    /// The policy.
    pub fn policy(&self) -> &SecurityPolicy {
        &self.policy
    }

    /// The permission controller.
    pub fn permissions(&self) -> &Arc<PermissionController> {
        &self.permissions
    }

    /// The threat monitor.
    pub fn monitor(&self) -> &ThreatMonitor {
        &self.monitor
    }

    /// The audit log, if there is one.
    pub fn audit(&self) -> Option<&AuditLogger> {
        self.audit.as_ref()
    }

    /// A linker whose guarded host functions check against this manager's permissions.
    pub fn linker(&self) -> GuardedLinker {
        GuardedLinker::new(Arc::clone(&self.permissions))
    }

    /// Adds an embedder's checker.
    pub fn add_checker(&self, checker: Arc<dyn CustomSecurityChecker>) {
        self.permissions.add_checker(checker);
    }

    fn log(&self, module: &ModuleHash, subject: &str, decision: Decision, detail: &str) -> Result<(), SecurityError> {
        match &self.audit {
            Some(a) => a.record(module, subject, decision, detail),
            None => Ok(()),
        }
    }

    fn alert(&self, alert: Option<ThreatAlert>) -> Result<(), SecurityError> {
        let Some(a) = alert else { return Ok(()) };
        let detail = format!("{} reached {} of {} → {:?}", a.kind.rule_name(), a.total, a.threshold, a.action);
        self.log(&a.module, &format!("threat:{}", a.kind.rule_name()), Decision::Alert, &detail)
    }

    /// Records a refusal: audit, and the policy-violation rule.
    fn deny(&self, module: &ModuleHash, subject: &str, e: SecurityError) -> SecurityError {
        let subject = e.subject().unwrap_or_else(|| subject.to_string());
        let logged = self.log(module, &subject, Decision::Deny, &e.to_string());
        let alerted = self.alert(self.monitor.record(module, ThreatKind::PolicyViolation, 1));
        match (logged, alerted) {
            (Err(audit), _) | (_, Err(audit)) => audit,
            _ => e,
        }
    }

    /// Refuses a module the monitor holds.
    fn check_status(&self, identity: &ModuleIdentity) -> Result<(), SecurityError> {
        match self.monitor.status(identity.hash()) {
            ModuleStatus::Clear => Ok(()),
            ModuleStatus::Quarantined => {
                let e = SecurityError::Quarantined { module: identity.to_string() };
                self.log(identity.hash(), "quarantine", Decision::Deny, &e.to_string())?;
                Err(e)
            }
            ModuleStatus::Throttled { until_ms } => {
                let e = SecurityError::Throttled { module: identity.to_string(), until_ms };
                self.log(identity.hash(), "throttle", Decision::Deny, &e.to_string())?;
                Err(e)
            }
        }
    }

    /// Admits a module: refused if quarantined, otherwise decoded (binary or text) under the
    /// policy's limits, before anything is compiled.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Quarantined`], or [`SecurityError::Decode`] (a limit, or a malformed or
    /// invalid module).
    pub fn admit(&self, bytes: &[u8], name: Option<&str>) -> Result<(ModuleIdentity, wes_core::Module), SecurityError> {
        let identity = ModuleIdentity::new(bytes, name);
        if let ModuleStatus::Quarantined = self.monitor.status(identity.hash()) {
            self.check_status(&identity)?;
        }
        match self.decoder.decode_any(bytes) {
            Ok(module) => {
                self.log(identity.hash(), "admit", Decision::Allow, "")?;
                Ok((identity, module))
            }
            Err(source) => {
                let e = SecurityError::Decode { module: identity.to_string(), source };
                Err(self.deny(identity.hash(), "admit", e))
            }
        }
    }

    /// Tells the monitor how long compiling `module` took.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Audit`] if an alert could not be logged.
    pub fn record_compile(&self, module: &ModuleIdentity, micros: u64) -> Result<(), SecurityError> {
        self.alert(self.monitor.record(module.hash(), ThreatKind::Compile, micros))
    }

    /// Instantiates through `linker`, refusing a quarantined module and recording the decision.
    /// The store is limited to the policy's [`resources`](SecurityPolicy::resources) from here
    /// on; a module whose memories, tables or instance pass them is refused and the refusal
    /// recorded.
    ///
    /// # Errors
    ///
    /// As [`GuardedLinker::instantiate`], plus [`SecurityError::Quarantined`] /
    /// [`SecurityError::Throttled`].
    pub fn instantiate(
        &self,
        linker: &GuardedLinker,
        store: &mut Store,
        module: &Module,
        identity: &ModuleIdentity,
    ) -> Result<GuardedInstance, SecurityError> {
        self.check_status(identity)?;
        store.set_limits(self.policy.store_limits());
        match linker.instantiate(store, module, identity) {
            Ok(instance) => {
                self.log(identity.hash(), "instantiate", Decision::Allow, "")?;
                Ok(instance)
            }
            Err(e @ SecurityError::Runtime(RuntimeError::StoreLimit(_))) => {
                Err(self.deny(identity.hash(), "instantiate", e))
            }
            Err(e @ SecurityError::Runtime(_)) => Err(e),
            Err(e) => Err(self.deny(identity.hash(), "instantiate", e)),
        }
    }

    /// Calls the export `name` as one invocation: refused while the module is throttled or
    /// quarantined; budgets start from zero; afterwards the monitor learns the host calls made,
    /// the memory grown and how the call ended.
    ///
    /// [`begin_invocation`](Self::begin_invocation) and [`end_invocation`](Self::end_invocation)
    /// are its two halves, for an embedder that makes the call itself.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Revoked`], [`SecurityError::BudgetExhausted`] or
    /// [`SecurityError::Refused`] when a host call was refused (the call trapped);
    /// [`SecurityError::Runtime`] for any other trap or error.
    pub fn invoke(
        &self,
        store: &mut Store,
        instance: &GuardedInstance,
        name: &str,
        args: &[Value],
    ) -> Result<Vec<Value>, SecurityError> {
        self.begin_invocation(&instance.session)?;
        let func = instance.instance.get_func(store, name).ok_or_else(|| {
            SecurityError::Runtime(RuntimeError::TypeMismatch(format!("no exported function `{name}`")))
        })?;
        let memory = instance.instance.memory(store, 0);
        let pages_before = memory.and_then(|m| m.size(store).ok()).unwrap_or(0);
        let calls_before = store.stats().host_calls;
        let result = func.call(store, args);
        let pages_after = memory.and_then(|m| m.size(store).ok()).unwrap_or(0);
        let seen = Invocation {
            host_calls: store.stats().host_calls.saturating_sub(calls_before),
            pages_grown: pages_after.saturating_sub(pages_before),
            trap: result.as_ref().err().and_then(|e| e.as_trap()).map(|t| t.code),
        };
        let violation = self.end_invocation(&instance.session, &seen)?;
        match (result, violation) {
            (Err(_), Some(violation)) => Err(violation),
            (result, _) => result.map_err(SecurityError::Runtime),
        }
    }

    /// The first half of an invocation: refuses the module while it is throttled or
    /// quarantined, and starts the session's budgets from zero.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Quarantined`] / [`SecurityError::Throttled`];
    /// [`SecurityError::Audit`].
    pub fn begin_invocation(&self, session: &Session) -> Result<(), SecurityError> {
        self.check_status(session.identity())?;
        session.begin_invocation();
        Ok(())
    }

    /// The second half: the monitor learns what the invocation did. Returns the security
    /// decision that made it trap, if a host call was refused (audited, and counted as a
    /// policy violation).
    ///
    /// # Errors
    ///
    /// [`SecurityError::Audit`] if a decision or an alert could not be logged.
    pub fn end_invocation(&self, session: &Session, seen: &Invocation) -> Result<Option<SecurityError>, SecurityError> {
        let hash = session.identity().hash();
        self.alert(self.monitor.record(hash, ThreatKind::HostCalls, seen.host_calls))?;
        self.alert(self.monitor.record(hash, ThreatKind::MemoryGrowth, seen.pages_grown))?;
        let Some(code) = seen.trap else { return Ok(None) };
        if let Some(violation) = session.take_violation() {
            return Ok(Some(self.deny(hash, "host_call", violation)));
        }
        let kind = if code == TrapCode::OutOfGas { ThreatKind::OutOfGas } else { ThreatKind::Trap };
        self.alert(self.monitor.record(hash, kind, 1))?;
        Ok(None)
    }

    /// Grants a capability, and records it.
    ///
    /// # Errors
    ///
    /// A bad capability name; [`SecurityError::Audit`].
    pub fn grant(&self, module: &ModuleRef, capability: &str, hash: &ModuleHash) -> Result<(), SecurityError> {
        self.permissions.grant(module, capability)?;
        self.log(hash, &format!("capability:{capability}"), Decision::Grant, &module.to_string())
    }

    /// Revokes a capability (running instances refuse their next call of it), and records it.
    ///
    /// # Errors
    ///
    /// A bad capability name; [`SecurityError::Audit`].
    pub fn revoke(&self, module: &ModuleRef, capability: &str, hash: &ModuleHash) -> Result<(), SecurityError> {
        self.permissions.revoke(module, capability)?;
        self.log(hash, &format!("capability:{capability}"), Decision::Revoke, &module.to_string())
    }

    /// Lifts a quarantine or throttle, and records it.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Audit`].
    pub fn release(&self, module: &ModuleHash) -> Result<bool, SecurityError> {
        let was = self.monitor.release(module);
        self.log(module, "threat", Decision::Release, if was { "released" } else { "was not held" })?;
        Ok(was)
    }
}
