//! [`ThreatMonitor`]: rules over a sliding window per module, each with a threshold and an
//! action — log it, throttle the module for a while, or quarantine it until released.
//!
//! ```text
//!  event (module, kind, amount) ──▶ window of that rule for that module
//!                                     │  drop entries older than window_ms
//!                                     │  sum ≥ threshold?
//!                                     ▼
//!                                   alert ──▶ Log | Throttle (until now + throttle_ms) | Quarantine
//! ```
//!
//! Time comes from a [`Clock`]: [`SystemClock`] in production, [`ManualClock`] where a test
//! or a deterministic replay drives it. A window is exact: it keeps one entry per distinct
//! millisecond in it, so its memory is bounded by the window's length, not by the event rate.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::ModuleHash;

/// A source of time in milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since some fixed point; never decreasing.
    fn now_ms(&self) -> u64;
}

/// Wall-clock time (milliseconds since the Unix epoch).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to; clones share the time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock at `ms`.
    pub fn at(ms: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(ms)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::Relaxed);
    }

    /// Sets the clock (it must not go backwards for the windows to be right).
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the monitor does when a rule fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Record the alert (in the audit log, when the monitor runs under a
    /// [`SecurityManager`](crate::SecurityManager)) and nothing else.
    Log,
    /// Refuse the module's invocations for [`ThreatPolicy::throttle_ms`].
    Throttle,
    /// Refuse the module (instantiation and invocation) until [`ThreatMonitor::release`].
    Quarantine,
}

/// One rule: fire when the amounts recorded in the last `window_ms` reach `threshold`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The sum that fires the rule (`u64::MAX`: never).
    pub threshold: u64,
    /// The window's length.
    pub window_ms: u64,
    /// What to do.
    pub action: Action,
}

/// The monitor's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThreatPolicy {
    /// Calls that ran out of gas ([`ThreatKind::OutOfGas`], amount 1 each).
    pub out_of_gas_storm: Rule,
    /// Calls that trapped otherwise ([`ThreatKind::Trap`], 1 each).
    pub trap_storm: Rule,
    /// Memory pages grown ([`ThreatKind::MemoryGrowth`]).
    pub memory_growth_spike: Rule,
    /// Host calls made ([`ThreatKind::HostCalls`]).
    pub host_call_flood: Rule,
    /// Microseconds spent compiling the module ([`ThreatKind::Compile`]).
    pub compile_blowup: Rule,
    /// Refusals by the security layer ([`ThreatKind::PolicyViolation`], 1 each).
    pub policy_violations: Rule,
    /// How long a throttle lasts.
    pub throttle_ms: u64,
}

impl Default for ThreatPolicy {
    fn default() -> Self {
        ThreatPolicy::off()
    }
}

/// The kinds of event the monitor counts, one rule each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThreatKind {
    /// A call ran out of gas.
    OutOfGas,
    /// A call trapped (other than out of gas).
    Trap,
    /// Memory pages were grown.
    MemoryGrowth,
    /// Host functions were called.
    HostCalls,
    /// The module was compiled (amount: microseconds).
    Compile,
    /// The security layer refused something of the module's.
    PolicyViolation,
}

impl ThreatKind {
    /// Every kind, in the order of [`ThreatPolicy`]'s rules.
    pub const ALL: [ThreatKind; 6] = [
        ThreatKind::OutOfGas,
        ThreatKind::Trap,
        ThreatKind::MemoryGrowth,
        ThreatKind::HostCalls,
        ThreatKind::Compile,
        ThreatKind::PolicyViolation,
    ];

    /// The rule's name in [`ThreatPolicy`].
    pub fn rule_name(self) -> &'static str {
        match self {
            ThreatKind::OutOfGas => "out_of_gas_storm",
            ThreatKind::Trap => "trap_storm",
            ThreatKind::MemoryGrowth => "memory_growth_spike",
            ThreatKind::HostCalls => "host_call_flood",
            ThreatKind::Compile => "compile_blowup",
            ThreatKind::PolicyViolation => "policy_violations",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl ThreatPolicy {
    /// The rule for `kind`.
    pub fn rule(&self, kind: ThreatKind) -> &Rule {
        match kind {
            ThreatKind::OutOfGas => &self.out_of_gas_storm,
            ThreatKind::Trap => &self.trap_storm,
            ThreatKind::MemoryGrowth => &self.memory_growth_spike,
            ThreatKind::HostCalls => &self.host_call_flood,
            ThreatKind::Compile => &self.compile_blowup,
            ThreatKind::PolicyViolation => &self.policy_violations,
        }
    }
}

/// A rule that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreatAlert {
    /// The module.
    pub module: ModuleHash,
    /// Which rule.
    pub kind: ThreatKind,
    /// The sum in the window when it fired.
    pub total: u64,
    /// The rule's threshold.
    pub threshold: u64,
    /// What the monitor did.
    pub action: Action,
    /// When, on the monitor's clock.
    pub at_ms: u64,
}

/// Whether a module may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleStatus {
    /// Nothing against it.
    Clear,
    /// Refused until the given time.
    Throttled {
        /// When it may run again.
        until_ms: u64,
    },
    /// Refused until released.
    Quarantined,
}

/// One rule's window for one module: `(time, amount)` per distinct millisecond, oldest first.
#[derive(Debug, Default)]
struct Window {
    entries: VecDeque<(u64, u64)>,
    sum: u64,
}

impl Window {
    fn add(&mut self, now: u64, amount: u64, window_ms: u64) -> u64 {
        // Entries at or before `now - window_ms` have left the window; before the clock has
        // run a whole window, none has.
        while let (Some(&(t, a)), Some(horizon)) = (self.entries.front(), now.checked_sub(window_ms)) {
            if t > horizon {
                break;
            }
            self.sum -= a;
            self.entries.pop_front();
        }
        match self.entries.back_mut() {
            Some((t, a)) if *t == now => *a = a.saturating_add(amount),
            _ => self.entries.push_back((now, amount)),
        }
        self.sum = self.sum.saturating_add(amount);
        self.sum
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.sum = 0;
    }
}

#[derive(Debug, Default)]
struct ModuleState {
    windows: [Window; 6],
    throttled_until: u64,
    quarantined: bool,
}

/// Watches what modules do and acts on the rules of a [`ThreatPolicy`]. Shared by reference
/// between threats (one lock over the per-module state, held for one event).
#[derive(Debug)]
pub struct ThreatMonitor {
    policy: ThreatPolicy,
    clock: Arc<dyn Clock>,
    modules: Mutex<HashMap<ModuleHash, ModuleState>>,
}

impl ThreatMonitor {
    /// A monitor with these rules, on wall-clock time.
    pub fn new(policy: ThreatPolicy) -> Self {
        ThreatMonitor::with_clock(policy, Arc::new(SystemClock))
    }

    /// A monitor with these rules on the given clock.
    pub fn with_clock(policy: ThreatPolicy, clock: Arc<dyn Clock>) -> Self {
        ThreatMonitor { policy, clock, modules: Mutex::new(HashMap::new()) }
    }

    /// The rules.
    pub fn policy(&self) -> &ThreatPolicy {
        &self.policy
    }

    /// The current time on the monitor's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ModuleHash, ModuleState>> {
        // The state is a set of counters: one left half-updated by a panic elsewhere is
        // still a usable set of counters.
        self.modules.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `amount` of `kind` for `module`; returns the alert if a rule fired (its window
    /// then starts over, so one burst fires once).
    pub fn record(&self, module: &ModuleHash, kind: ThreatKind, amount: u64) -> Option<ThreatAlert> {
        let rule = *self.policy.rule(kind);
        if rule.threshold == u64::MAX || amount == 0 {
            return None;
        }
        let now = self.clock.now_ms();
        let mut modules = self.lock();
        let state = modules.entry(*module).or_default();
        let window = &mut state.windows[kind.index()];
        let total = window.add(now, amount, rule.window_ms);
        if total < rule.threshold {
            return None;
        }
        window.clear();
        match rule.action {
            Action::Log => {}
            Action::Throttle => {
                state.throttled_until = state.throttled_until.max(now.saturating_add(self.policy.throttle_ms));
            }
            Action::Quarantine => state.quarantined = true,
        }
        Some(ThreatAlert { module: *module, kind, total, threshold: rule.threshold, action: rule.action, at_ms: now })
    }

    /// Whether `module` may run now.
    pub fn status(&self, module: &ModuleHash) -> ModuleStatus {
        let now = self.clock.now_ms();
        match self.lock().get(module) {
            Some(s) if s.quarantined => ModuleStatus::Quarantined,
            Some(s) if s.throttled_until > now => ModuleStatus::Throttled { until_ms: s.throttled_until },
            _ => ModuleStatus::Clear,
        }
    }

    /// Lifts a quarantine or throttle and forgets the module's windows. Returns whether the
    /// module was refused.
    pub fn release(&self, module: &ModuleHash) -> bool {
        let now = self.clock.now_ms();
        match self.lock().remove(module) {
            Some(s) => s.quarantined || s.throttled_until > now,
            None => false,
        }
    }
}
