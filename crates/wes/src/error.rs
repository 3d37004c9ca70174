//! [`RuntimeError`]: every failure of the facade, with a kind, a stable code, the wasm backtrace
//! and the context it happened in; and [`Diagnosis`], a cause and a concrete suggestion.

use std::fmt;

use wes_core::{FrameInfo, Trap, TrapCode};

use crate::config::ConfigError;
use crate::encoding::EncodingError;

/// The broad class of a failure: what part of the system refused or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An out-of-bounds access of memory or a table.
    Memory,
    /// A security decision refused the operation.
    Security,
    /// A limit was reached: gas, call depth, memory or table size, the host's resources.
    Resource,
    /// The input is not acceptable: a malformed or invalid module, a missing import, bad
    /// arguments, a bad configuration.
    Validation,
    /// The code failed while running: a trap of its own, or a host function's error.
    Execution,
    /// WES itself failed (a backend bug, an unexpected state).
    Internal,
}

/// A stable, machine-readable code for each failure. [`ErrorCode::as_str`] never changes
/// meaning between releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The call ran out of gas.
    OutOfGas,
    /// More nested calls than the depth limit.
    CallStackExhausted,
    /// A trap of the code (see [`RuntimeError::trap_code`] for which).
    Trap,
    /// An out-of-bounds memory access.
    MemoryOutOfBounds,
    /// An out-of-bounds table access.
    TableOutOfBounds,
    /// A host function failed.
    HostError,
    /// The bytes are not a valid module.
    InvalidModule,
    /// The backend could not compile the module.
    CompileFailed,
    /// An import the module needs is not defined.
    UnknownImport,
    /// An import is defined with another type.
    IncompatibleImport,
    /// No export of that name, or not a function.
    NoSuchExport,
    /// Arguments of the wrong number or types.
    BadArguments,
    /// A configured limit or the host's resources.
    ResourceLimit,
    /// The configuration is not usable.
    Config,
    /// Values could not be encoded or decoded.
    Encoding,
    /// The module is past a static limit of the security policy.
    PolicyViolation,
    /// A host function of a capability the module is not granted (or no longer is), or an
    /// embedder's checker refused.
    PermissionDenied,
    /// A capability's per-invocation budget ran out.
    BudgetExhausted,
    /// The threat monitor quarantined or throttled the module.
    Quarantined,
    /// A pool of reused instances is full, or the runtime's capacity is reached.
    PoolExhausted,
    /// The call's predicted cost exceeds the gas it may spend, or a reservation the balance.
    Unaffordable,
    /// A compiled artifact is corrupt, of another WES, configuration or CPU, or lacks its
    /// module.
    ArtifactRefused,
    /// Anything else (a bug).
    Internal,
}

impl ErrorCode {
    /// The code as a stable string, for logs and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::OutOfGas => "WES-OUT-OF-GAS",
            ErrorCode::CallStackExhausted => "WES-CALL-STACK-EXHAUSTED",
            ErrorCode::Trap => "WES-TRAP",
            ErrorCode::MemoryOutOfBounds => "WES-MEMORY-OUT-OF-BOUNDS",
            ErrorCode::TableOutOfBounds => "WES-TABLE-OUT-OF-BOUNDS",
            ErrorCode::HostError => "WES-HOST-ERROR",
            ErrorCode::InvalidModule => "WES-INVALID-MODULE",
            ErrorCode::CompileFailed => "WES-COMPILE-FAILED",
            ErrorCode::UnknownImport => "WES-UNKNOWN-IMPORT",
            ErrorCode::IncompatibleImport => "WES-INCOMPATIBLE-IMPORT",
            ErrorCode::NoSuchExport => "WES-NO-SUCH-EXPORT",
            ErrorCode::BadArguments => "WES-BAD-ARGUMENTS",
            ErrorCode::ResourceLimit => "WES-RESOURCE-LIMIT",
            ErrorCode::Config => "WES-CONFIG",
            ErrorCode::Encoding => "WES-ENCODING",
            ErrorCode::PolicyViolation => "WES-POLICY-VIOLATION",
            ErrorCode::PermissionDenied => "WES-PERMISSION-DENIED",
            ErrorCode::BudgetExhausted => "WES-BUDGET-EXHAUSTED",
            ErrorCode::Quarantined => "WES-QUARANTINED",
            ErrorCode::PoolExhausted => "WES-POOL-EXHAUSTED",
            ErrorCode::Unaffordable => "WES-UNAFFORDABLE",
            ErrorCode::ArtifactRefused => "WES-ARTIFACT-REFUSED",
            ErrorCode::Internal => "WES-INTERNAL",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a failure happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorContext {
    /// SHA-256 of the module's bytes, in hex, when a module was involved.
    pub module_hash: Option<String>,
    /// The export being called.
    pub export: Option<String>,
    /// The instance's id in its runtime.
    pub instance_id: Option<u64>,
}

/// What the facade knows beyond the error itself, for [`Runtime::diagnose`](crate::Runtime::diagnose).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// For out of gas: the gas the call had, what it consumed, and the shortfall of the charge
    /// that did not fit.
    pub(crate) gas: Option<(u64, u64, u64)>,
    /// For a depth trap: the configured limits (wasm frames, host re-entry).
    pub(crate) depth: Option<(u32, u32)>,
    /// For a missing or mistyped import: what is defined under the import's module name.
    pub(crate) linked: Option<Vec<String>>,
    /// For [`ErrorCode::Quarantined`]: throttled (for a while) rather than quarantined.
    pub(crate) throttled: bool,
    /// For a failed instantiation: the gas its start function and segments consumed.
    pub(crate) gas_used: Option<u64>,
    /// A limit the same module always exceeds (a compile limit): retrying cannot help.
    pub(crate) permanent: bool,
}

/// A failure of the facade: what kind, a stable code, a one-line message, details, the wasm
/// backtrace, the context, and whether retrying can help. One pointer wide, so `Result`s of it
/// stay small on the success path.
#[derive(Debug)]
pub struct RuntimeError {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    code: ErrorCode,
    message: String,
    details: Vec<String>,
    trap: Option<Trap>,
    context: ErrorContext,
    facts: Facts,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.inner.code, self.inner.message)
    }
}

impl std::error::Error for RuntimeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl RuntimeError {
    pub(crate) fn new(kind: ErrorKind, code: ErrorCode, message: impl Into<String>) -> Self {
        RuntimeError {
            inner: Box::new(Inner {
                kind,
                code,
                message: message.into(),
                details: Vec::new(),
                trap: None,
                context: ErrorContext::default(),
                facts: Facts::default(),
                source: None,
            }),
        }
    }

    pub(crate) fn with_source(mut self, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(e));
        self
    }

    /// Takes the trap out (for an error that replaces this one).
    pub(crate) fn take_trap(&mut self) -> Option<Trap> {
        self.inner.trap.take()
    }

    /// Attaches the trap the failure ended the call with.
    pub(crate) fn set_trap(&mut self, trap: Option<Trap>) {
        self.inner.trap = trap;
    }

    pub(crate) fn context_mut(&mut self) -> &mut ErrorContext {
        &mut self.inner.context
    }

    pub(crate) fn facts(&self) -> &Facts {
        &self.inner.facts
    }

    pub(crate) fn facts_mut(&mut self) -> &mut Facts {
        &mut self.inner.facts
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.inner.code
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Further details, one fact each.
    pub fn details(&self) -> &[String] {
        &self.inner.details
    }

    /// The trap, when the code trapped.
    pub fn trap(&self) -> Option<&Trap> {
        self.inner.trap.as_ref()
    }

    /// The trap's code, when the code trapped.
    pub fn trap_code(&self) -> Option<TrapCode> {
        self.inner.trap.as_ref().map(|t| t.code)
    }

    /// The wasm frames live at the trap, innermost first, with function names where the
    /// module has them (empty when there was no trap).
    pub fn backtrace(&self) -> &[FrameInfo] {
        self.inner.trap.as_ref().map_or(&[], |t| &t.backtrace)
    }

    /// The gas consumed before a failed instantiation (a trapping start function, say) gave
    /// up; `None` for other errors (a call's gas is in its
    /// [`ExecutionResult`](crate::ExecutionResult)).
    pub fn gas_used(&self) -> Option<u64> {
        self.inner.facts.gas_used
    }

    /// Where it happened.
    pub fn context(&self) -> &ErrorContext {
        &self.inner.context
    }

    /// Whether the same request can succeed later or with more resources without changing the
    /// module or the input: running out of gas (with a higher limit) and a host's transient
    /// resource shortage. A trap of the code, an invalid module or a missing import fail again.
    pub fn is_retryable(&self) -> bool {
        match self.inner.code {
            ErrorCode::OutOfGas | ErrorCode::ResourceLimit | ErrorCode::PoolExhausted | ErrorCode::Unaffordable => {
                !self.inner.facts.permanent
            }
            // A throttled module is accepted again later; a quarantined one only when released.
            ErrorCode::Quarantined => self.inner.facts.throttled,
            _ => false,
        }
    }

    /// The error of a trap.
    pub(crate) fn from_trap(trap: Trap) -> Self {
        let (kind, code) = match trap.code {
            TrapCode::OutOfGas => (ErrorKind::Resource, ErrorCode::OutOfGas),
            TrapCode::CallStackExhausted => (ErrorKind::Resource, ErrorCode::CallStackExhausted),
            TrapCode::MemoryOutOfBounds => (ErrorKind::Memory, ErrorCode::MemoryOutOfBounds),
            TrapCode::TableOutOfBounds => (ErrorKind::Memory, ErrorCode::TableOutOfBounds),
            TrapCode::HostError => (ErrorKind::Execution, ErrorCode::HostError),
            _ => (ErrorKind::Execution, ErrorCode::Trap),
        };
        let mut e = RuntimeError::new(kind, code, trap.to_string());
        if let Some(d) = &trap.detail {
            e.inner.details.push(d.clone());
        }
        e.inner.trap = Some(trap);
        e
    }
}

impl From<wes_runtime::RuntimeError> for RuntimeError {
    fn from(e: wes_runtime::RuntimeError) -> Self {
        use wes_runtime::RuntimeError as R;
        let message = e.to_string();
        let (kind, code) = match &e {
            R::Trap(t) => return RuntimeError::from_trap(t.clone()),
            R::Compile(wes_core::CompileError::Limit(_) | wes_core::CompileError::FunctionLimit { .. }) => {
                // The module's shape exceeds a compile limit: it will again, however often.
                let mut out = RuntimeError::new(ErrorKind::Resource, ErrorCode::ResourceLimit, message).with_source(e);
                out.inner.facts.permanent = true;
                return out;
            }
            R::Compile(_) => (ErrorKind::Internal, ErrorCode::CompileFailed),
            R::UnknownImport { .. } => (ErrorKind::Validation, ErrorCode::UnknownImport),
            R::IncompatibleImport { .. } => (ErrorKind::Validation, ErrorCode::IncompatibleImport),
            R::TypeMismatch(_) => (ErrorKind::Validation, ErrorCode::BadArguments),
            R::ResourceLimit(_) | R::StoreLimit(_) => (ErrorKind::Resource, ErrorCode::ResourceLimit),
            R::PricingMismatch { .. }
            | R::OperatorCountMismatch { .. }
            | R::BodyConventionMismatch { .. }
            | R::NoOutOfGasResume { .. }
            | R::OutOfGasResumeMismatch { .. }
            | R::EngineMismatch
            | R::WrongStore => (ErrorKind::Internal, ErrorCode::Internal),
            _ => (ErrorKind::Internal, ErrorCode::Internal),
        };
        RuntimeError::new(kind, code, message).with_source(e)
    }
}

impl From<wes_decode::DecodeError> for RuntimeError {
    fn from(e: wes_decode::DecodeError) -> Self {
        RuntimeError::new(ErrorKind::Validation, ErrorCode::InvalidModule, e.to_string()).with_source(e)
    }
}

impl From<wes_security::SecurityError> for RuntimeError {
    fn from(e: wes_security::SecurityError) -> Self {
        use wes_security::SecurityError as S;
        let message = e.to_string();
        let (kind, code) = match e {
            S::Runtime(e) => return e.into(),
            S::Decode { source: wes_decode::DecodeError::LimitExceeded { .. }, .. } => {
                (ErrorKind::Security, ErrorCode::PolicyViolation)
            }
            S::Decode { .. } => (ErrorKind::Validation, ErrorCode::InvalidModule),
            S::NotGranted { .. } | S::Revoked { .. } | S::Refused { .. } => {
                (ErrorKind::Security, ErrorCode::PermissionDenied)
            }
            S::BudgetExhausted { .. } => (ErrorKind::Security, ErrorCode::BudgetExhausted),
            S::Quarantined { .. } | S::Throttled { .. } => (ErrorKind::Security, ErrorCode::Quarantined),
            S::TooManyCapabilities(_) | S::InvalidCapability(_) | S::Config(_) => {
                (ErrorKind::Validation, ErrorCode::Config)
            }
            _ => (ErrorKind::Internal, ErrorCode::Internal),
        };
        let throttled = matches!(e, S::Throttled { .. });
        let mut out = RuntimeError::new(kind, code, message).with_source(e);
        out.inner.facts.throttled = throttled;
        out
    }
}

impl From<wes_lifecycle::LifecycleError> for RuntimeError {
    fn from(e: wes_lifecycle::LifecycleError) -> Self {
        use wes_lifecycle::LifecycleError as L;
        match e {
            L::Runtime(e) => e.into(),
            L::Refused(e) => match e.downcast::<wes_security::SecurityError>() {
                Ok(e) => (*e).into(),
                Err(e) => RuntimeError::new(ErrorKind::Internal, ErrorCode::Internal, e.to_string()),
            },
            L::Exhausted { .. } | L::CapacityReached { .. } => {
                RuntimeError::new(ErrorKind::Resource, ErrorCode::PoolExhausted, e.to_string()).with_source(e)
            }
            e => RuntimeError::new(ErrorKind::Internal, ErrorCode::Internal, e.to_string()).with_source(e),
        }
    }
}

impl From<wes_meter::AccountError> for RuntimeError {
    fn from(e: wes_meter::AccountError) -> Self {
        RuntimeError::new(ErrorKind::Resource, ErrorCode::Unaffordable, e.to_string()).with_source(e)
    }
}

impl From<wes_cache::CacheError> for RuntimeError {
    fn from(e: wes_cache::CacheError) -> Self {
        use wes_cache::CacheError as C;
        match e {
            C::Decode(e) => e.into(),
            C::Runtime(e) => e.into(),
            C::Artifact(_) => {
                RuntimeError::new(ErrorKind::Validation, ErrorCode::ArtifactRefused, e.to_string()).with_source(e)
            }
            e => RuntimeError::new(ErrorKind::Resource, ErrorCode::ResourceLimit, e.to_string()).with_source(e),
        }
    }
}

impl From<ConfigError> for RuntimeError {
    fn from(e: ConfigError) -> Self {
        RuntimeError::new(ErrorKind::Validation, ErrorCode::Config, e.to_string()).with_source(e)
    }
}

impl From<EncodingError> for RuntimeError {
    fn from(e: EncodingError) -> Self {
        RuntimeError::new(ErrorKind::Validation, ErrorCode::Encoding, e.to_string()).with_source(e)
    }
}

/// What went wrong and what to do about it, from [`Runtime::diagnose`](crate::Runtime::diagnose).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The error's kind.
    pub kind: ErrorKind,
    /// The error's code.
    pub code: ErrorCode,
    /// The cause, in a sentence.
    pub cause: String,
    /// A concrete next step.
    pub suggestion: String,
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {} Suggestion: {}", self.code, kind_name(self.kind), self.cause, self.suggestion)
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Memory => "memory",
        ErrorKind::Security => "security",
        ErrorKind::Resource => "resource",
        ErrorKind::Validation => "validation",
        ErrorKind::Execution => "execution",
        ErrorKind::Internal => "internal",
    }
}

/// The diagnosis of `e`.
pub(crate) fn diagnose(e: &RuntimeError) -> Diagnosis {
    let at = e.backtrace().first().map(|f| format!(" in {f}")).unwrap_or_default();
    let (cause, suggestion) = match e.code() {
        ErrorCode::OutOfGas => match e.facts().gas {
            Some((limit, consumed, shortfall)) => (
                format!(
                    "the call ran out of gas{at}: it had {limit} gas, consumed {consumed}, and the next \
                     charge needed {shortfall} more than was left"
                ),
                format!(
                    "the call needs at least {} gas; raise the limit to that or more (a call that goes further \
                     may need more still), or make the code do less work",
                    limit.saturating_add(shortfall)
                ),
            ),
            None => (
                format!("the call ran out of gas{at}"),
                "raise the call's gas limit, or make the code do less work".to_string(),
            ),
        },
        ErrorCode::CallStackExhausted => {
            let recursion = recursion(e.backtrace());
            let limits = e.facts().depth.map_or(String::new(), |(depth, reentry)| {
                format!(" (the limit is {depth} wasm frames, and {reentry} host functions calling back into wasm)")
            });
            (
                format!("the call nested too deeply{limits}{recursion}"),
                "look for unbounded recursion in the code; if the depth is legitimate, raise \
                 limits.max_call_depth (or limits.max_host_reentry)"
                    .to_string(),
            )
        }
        ErrorCode::MemoryOutOfBounds | ErrorCode::TableOutOfBounds => (
            format!(
                "the code accessed {} outside its bounds{at}",
                if e.code() == ErrorCode::MemoryOutOfBounds { "memory" } else { "a table" }
            ),
            "check the pointer or index arithmetic of the code at that offset, and the sizes the host passes in"
                .to_string(),
        ),
        ErrorCode::Trap => (
            format!("the code trapped: {}{at}", e.trap().map_or("", |t| t.code.message())),
            "this is the module's own failure; fix the code or its input (the backtrace shows where)".to_string(),
        ),
        ErrorCode::HostError => (
            format!("a host function failed: {}", e.details().first().map_or("", String::as_str)),
            "see the host function's message; the module called it with input it refused".to_string(),
        ),
        ErrorCode::UnknownImport | ErrorCode::IncompatibleImport => {
            let linked = match &e.facts().linked {
                Some(names) if names.is_empty() => "; nothing is linked under that module name".to_string(),
                Some(names) => format!("; linked under that module name: {}", names.join(", ")),
                None => String::new(),
            };
            (
                format!("the module expects an import the runtime does not provide as such: {}{linked}", e.message()),
                "define the import with the expected type on the runtime's linker before loading, or build the \
                 module against the host interface the runtime provides"
                    .to_string(),
            )
        }
        ErrorCode::InvalidModule => (
            format!("the bytes are not a valid module: {}", e.message()),
            "check that the file is a WebAssembly 2.0 module (with only tail calls and extended-const beyond it) \
             and was not truncated"
                .to_string(),
        ),
        ErrorCode::NoSuchExport | ErrorCode::BadArguments => {
            (e.message().to_string(), "check the export's name and type against the module's exports".to_string())
        }
        ErrorCode::ResourceLimit => (
            format!("a limit was reached: {}", e.message()),
            "raise the limit in the configuration's [limits] section, or give the host more memory".to_string(),
        ),
        ErrorCode::Config => (e.message().to_string(), "fix the key named in the message".to_string()),
        ErrorCode::PolicyViolation => (
            format!("the module is outside the security policy: {}", e.message()),
            "shrink the module below the named limit (a smaller build, fewer functions or pages), or raise \
             that key in the configuration's [security.limits]"
                .to_string(),
        ),
        ErrorCode::PermissionDenied => (
            format!("a security decision refused the module: {}", e.message()),
            "grant the named capability to the module (by name or sha256 hash) in [security.capabilities] \
             grants, or build the module without that import"
                .to_string(),
        ),
        ErrorCode::BudgetExhausted => (
            format!("the call used up a capability's budget: {}", e.message()),
            "make fewer or smaller host calls of that capability per call, or raise its budget in \
             [security.capabilities] budgets"
                .to_string(),
        ),
        ErrorCode::Quarantined => (
            format!("the threat monitor holds the module back: {}", e.message()),
            if e.facts().throttled {
                "wait until the throttle ends, and find why the module tripped a threat rule (the audit log has it)"
            } else {
                "the module tripped a threat rule; inspect it (the audit log says which rule), then release it"
            }
            .to_string(),
        ),
        ErrorCode::ArtifactRefused => (
            format!("the compiled artifact cannot be used here: {}", e.message()),
            "compile the module again (`wes compile`) with this WES and this configuration, or load the \
             wasm module itself"
                .to_string(),
        ),
        ErrorCode::Unaffordable => (
            format!("the call was refused before it started: {}", e.message()),
            "give the call at least the predicted gas (Runtime::predict says how much and on what basis), \
             or deposit more into the account"
                .to_string(),
        ),
        ErrorCode::PoolExhausted => (
            format!("no instance could be made: {}", e.message()),
            "destroy instances no longer used, or raise instance.pool_size / instance.capacity".to_string(),
        ),
        ErrorCode::Encoding => (e.message().to_string(), "check the data's format against [data] encoding".to_string()),
        ErrorCode::CompileFailed | ErrorCode::Internal => {
            (format!("WES failed: {}", e.message()), "this is a WES bug; report it with the module".to_string())
        }
    };
    Diagnosis { kind: e.kind(), code: e.code(), cause, suggestion }
}

/// ", recursing through func[N] <name> (K of the last M frames)" when one function fills most
/// of the backtrace.
fn recursion(frames: &[FrameInfo]) -> String {
    let mut best: Option<(&FrameInfo, usize)> = None;
    for f in frames {
        let n = frames.iter().filter(|g| g.func_index == f.func_index).count();
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((f, n));
        }
    }
    match best {
        Some((f, n)) if n > 1 => format!(
            ", recursing through func[{}]{} ({n} of the last {} frames)",
            f.func_index,
            f.func_name.as_deref().map(|s| format!(" <{s}>")).unwrap_or_default(),
            frames.len()
        ),
        _ => String::new(),
    }
}
