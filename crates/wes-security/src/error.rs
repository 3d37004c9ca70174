//! [`SecurityError`]: every decision of the security layer that says no, with what it was about.

use wes_decode::DecodeError;
use wes_runtime::RuntimeError;

/// Which per-invocation budget of a capability ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BudgetKind {
    /// Host calls of the capability in one invocation.
    Calls,
    /// Bytes the capability's host functions moved in one invocation.
    Bytes,
}

impl std::fmt::Display for BudgetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BudgetKind::Calls => "calls",
            BudgetKind::Bytes => "bytes",
        })
    }
}

/// Why the security layer refused something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// The module is malformed, invalid, or past a static limit of the policy
    /// ([`DecodeError::LimitExceeded`] names the limit).
    #[error("module {module} refused: {source}")]
    Decode {
        /// The module.
        module: String,
        /// The decoder's verdict.
        #[source]
        source: DecodeError,
    },
    /// The module imports a host function of a capability it was not granted.
    #[error(
        "module {module} imports {import_module}::{import_name} of capability `{capability}`, which it is not granted"
    )]
    NotGranted {
        /// The module.
        module: String,
        /// The import's module name.
        import_module: String,
        /// The import's field name.
        import_name: String,
        /// The capability the host function belongs to.
        capability: String,
    },
    /// A host function was called after its capability was revoked for the module.
    #[error("module {module} called {function} after capability `{capability}` was revoked")]
    Revoked {
        /// The module.
        module: String,
        /// The capability.
        capability: String,
        /// The host function, as `module::name`.
        function: String,
    },
    /// A capability's per-invocation budget ran out.
    #[error("module {module} exhausted the {kind} budget of capability `{capability}`: {used} > {limit}")]
    BudgetExhausted {
        /// The module.
        module: String,
        /// The capability.
        capability: String,
        /// Which budget.
        kind: BudgetKind,
        /// The budget.
        limit: u64,
        /// What the invocation asked for, the refused call included.
        used: u64,
    },
    /// The threat monitor quarantined the module; it is refused until released.
    #[error("module {module} is quarantined")]
    Quarantined {
        /// The module.
        module: String,
    },
    /// The threat monitor throttled the module; it is refused until the given time.
    #[error("module {module} is throttled until {until_ms} ms")]
    Throttled {
        /// The module.
        module: String,
        /// When invocations are accepted again, on the monitor's clock.
        until_ms: u64,
    },
    /// An embedder's [`CustomSecurityChecker`](crate::CustomSecurityChecker) refused.
    #[error("module {module} refused by checker `{checker}`: {reason}")]
    Refused {
        /// The module.
        module: String,
        /// The checker's name.
        checker: String,
        /// Its reason.
        reason: String,
    },
    /// More capabilities than a permission controller can hold (64).
    #[error("too many capabilities: `{0}` would be the 65th")]
    TooManyCapabilities(String),
    /// A capability name that is empty or has characters other than `a-z`, `0-9`, `.`, `_`, `-`.
    #[error("invalid capability name `{0}`")]
    InvalidCapability(String),
    /// A policy that does not parse or has an unknown key.
    #[error("invalid security policy: {0}")]
    Config(String),
    /// The audit log could not be written.
    #[error("audit log: {0}")]
    Audit(#[from] std::io::Error),
    /// The runtime failed (a link error, a trap that is not a security decision, ...).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl SecurityError {
    /// The capability or limit the decision was about, if it was about one: what the audit log
    /// records as its subject.
    pub fn subject(&self) -> Option<String> {
        match self {
            SecurityError::Decode { source: DecodeError::LimitExceeded { limit, .. }, .. } => {
                Some(format!("limit:{}", limit.name()))
            }
            SecurityError::NotGranted { capability, .. }
            | SecurityError::Revoked { capability, .. }
            | SecurityError::BudgetExhausted { capability, .. } => Some(format!("capability:{capability}")),
            _ => None,
        }
    }
}
