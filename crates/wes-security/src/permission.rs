//! [`PermissionController`]: host functions grouped into named capabilities, capabilities
//! granted to modules (by hash or name), revocation at run time, and per-invocation budgets.
//!
//! The run-time side is a [`Session`], one per instance: the module's grant (an atomic bit set
//! shared by every instance of the module, so that a revocation reaches them all at their next
//! host call) plus the instance's own budget counters. A guarded host function checks it on
//! every call before the function's body runs; see [`GuardedLinker`](crate::GuardedLinker).
//!
//! The check is resolved ahead of the call: each capability's slot in a session holds how many
//! calls may pass without a closer look (its call budget while the capability is granted and no
//! checker watches it, zero otherwise), kept up to date by every grant, revocation and session
//! start. A capability without a call budget has the figure `u64::MAX`, and the slot then also
//! opens the runtime [`Gate`] of each of its typed host functions: their calls then cost
//! what an unguarded call does (the runtime points their records at the ordinary entry).
//! Otherwise the gates are closed and each call counts against the figure (a load and a store of the counter, in the slot's cache
//! line); revocations, exhausted budgets and checkers are found on the cold path behind it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use wes_runtime::{Gate, HostError};

use crate::error::BudgetKind;
use crate::policy::{Budget, CapabilityPolicy};
use crate::{CustomSecurityChecker, ModuleHash, ModuleIdentity, SecurityError};

/// How many capabilities one controller holds: a grant is one `u64` of bits.
pub const MAX_CAPABILITIES: usize = 64;

/// A capability registered with a controller: its bit in a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capability(u8);

impl Capability {
    fn bit(self) -> u64 {
        1 << self.0
    }

    fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A module as a grant names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModuleRef {
    /// Exactly this module.
    Hash(ModuleHash),
    /// Every module given this name.
    Name(String),
}

impl ModuleRef {
    /// A policy key: `sha256:<hex>` is a hash, anything else a name.
    pub fn parse(key: &str) -> Self {
        match key.strip_prefix("sha256:").and_then(ModuleHash::from_hex) {
            Some(hash) => ModuleRef::Hash(hash),
            None => ModuleRef::Name(key.to_string()),
        }
    }

    fn matches(&self, id: &ModuleIdentity) -> bool {
        match self {
            ModuleRef::Hash(h) => h == id.hash(),
            ModuleRef::Name(n) => id.name() == Some(n.as_str()),
        }
    }
}

impl std::fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModuleRef::Hash(h) => write!(f, "sha256:{}", h.to_hex()),
            ModuleRef::Name(n) => f.write_str(n),
        }
    }
}

/// Granted bits; `all` stands for every capability, including ones registered later.
#[derive(Clone, Copy, Debug, Default)]
struct Mask {
    bits: u64,
    all: bool,
}

impl Mask {
    fn value(self) -> u64 {
        if self.all { u64::MAX } else { self.bits }
    }
}

/// A module's grant as running instances see it.
#[derive(Debug)]
struct GrantCell {
    identity: ModuleIdentity,
    bits: AtomicU64,
    /// The capability slots of the module's sessions, whose pass figures follow `bits`. Changed
    /// only under the controller's write lock (the mutex is never contended).
    slots: Mutex<Vec<std::sync::Weak<Slot>>>,
}

impl GrantCell {
    /// Publishes `bits` as the module's grant, to the cell and to its sessions' slots.
    fn publish(&self, bits: u64) {
        self.bits.store(bits, Ordering::Release);
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|slot| match slot.upgrade() {
            Some(slot) => {
                slot.refresh(bits);
                true
            }
            None => false,
        });
    }

    /// Adds one slot made after its session started, refreshed from the grant as it is now.
    /// The grant is read under the slots' lock, which [`GrantCell::publish`] takes after
    /// storing new bits: either this reads them, or that publication refreshes the slot after
    /// this, so the slot never keeps a stale figure.
    fn adopt_following(&self, slot: &Arc<Slot>) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|slot| slot.strong_count() > 0);
        slot.refresh(self.bits.load(Ordering::Acquire));
        slots.push(Arc::downgrade(slot));
    }

    /// Adds a new session's slots (already refreshed), dropping those of ended sessions.
    fn adopt(&self, new: &[Arc<Slot>]) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|slot| slot.strong_count() > 0);
        slots.extend(new.iter().map(Arc::downgrade));
    }
}

#[derive(Default)]
struct State {
    names: Vec<String>,
    budgets: Vec<Budget>,
    default: Mask,
    grants: HashMap<ModuleRef, Mask>,
    revoked: HashMap<ModuleRef, u64>,
    cells: HashMap<ModuleHash, Arc<GrantCell>>,
    checkers: Vec<Arc<dyn CustomSecurityChecker>>,
}

impl State {
    fn lookup(&self, name: &str) -> Option<Capability> {
        self.names.iter().position(|n| n == name).and_then(|i| u8::try_from(i).ok()).map(Capability)
    }

    fn register(&mut self, name: &str) -> Result<Capability, SecurityError> {
        if let Some(c) = self.lookup(name) {
            return Ok(c);
        }
        let valid = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(SecurityError::InvalidCapability(name.to_string()));
        }
        let id = u8::try_from(self.names.len())
            .ok()
            .filter(|&i| usize::from(i) < MAX_CAPABILITIES)
            .ok_or_else(|| SecurityError::TooManyCapabilities(name.to_string()))?;
        self.names.push(name.to_string());
        self.budgets.push(Budget::UNLIMITED);
        Ok(Capability(id))
    }

    /// The bits granted to `id` now.
    fn resolve(&self, id: &ModuleIdentity) -> u64 {
        let mut granted = self.default.value();
        let mut revoked = 0;
        for (r, mask) in &self.grants {
            if r.matches(id) {
                granted |= mask.value();
            }
        }
        for (r, bits) in &self.revoked {
            if r.matches(id) {
                revoked |= bits;
            }
        }
        granted & !revoked
    }

    /// Pushes the current grants to every running module's cell and sessions.
    fn refresh(&self) {
        for cell in self.cells.values() {
            cell.publish(self.resolve(&cell.identity));
        }
    }
}

/// Capabilities, who is granted them, and their budgets. Shared (`Arc`) between the
/// [`GuardedLinker`](crate::GuardedLinker)s and sessions that use it.
pub struct PermissionController {
    state: RwLock<State>,
}

impl std::fmt::Debug for PermissionController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PermissionController").field("capabilities", &self.read().names).finish_non_exhaustive()
    }
}

impl Default for PermissionController {
    /// No capabilities, nothing granted.
    fn default() -> Self {
        PermissionController { state: RwLock::new(State::default()) }
    }
}

impl PermissionController {
    /// The grants and budgets of a policy.
    ///
    /// # Errors
    ///
    /// [`SecurityError::InvalidCapability`] / [`SecurityError::TooManyCapabilities`] for a bad
    /// capability name in the policy.
    pub fn from_policy(policy: &CapabilityPolicy) -> Result<Self, SecurityError> {
        let controller = PermissionController::default();
        {
            let mut s = controller.write();
            for name in &policy.default_grants {
                if name == "*" {
                    s.default.all = true;
                } else {
                    let c = s.register(name)?;
                    s.default.bits |= c.bit();
                }
            }
            for (key, names) in &policy.grants {
                let mut mask = Mask::default();
                for name in names {
                    if name == "*" {
                        mask.all = true;
                    } else {
                        mask.bits |= s.register(name)?.bit();
                    }
                }
                s.grants.insert(ModuleRef::parse(key), mask);
            }
            for (name, budget) in &policy.budgets {
                let c = s.register(name)?;
                s.budgets[c.index()] = *budget;
            }
        }
        Ok(controller)
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The capability `name`, registered if it is new.
    ///
    /// # Errors
    ///
    /// [`SecurityError::InvalidCapability`] for a name other than `a-z0-9._-`,
    /// [`SecurityError::TooManyCapabilities`] past [`MAX_CAPABILITIES`].
    pub fn capability(&self, name: &str) -> Result<Capability, SecurityError> {
        if let Some(c) = self.read().lookup(name) {
            return Ok(c);
        }
        self.write().register(name)
    }

    /// The name of a capability.
    pub fn name(&self, capability: Capability) -> String {
        self.read().names.get(capability.index()).cloned().unwrap_or_default()
    }

    /// Sets a capability's budget, for sessions started afterwards.
    ///
    /// # Errors
    ///
    /// As [`capability`](Self::capability).
    pub fn set_budget(&self, name: &str, budget: Budget) -> Result<(), SecurityError> {
        let mut s = self.write();
        let c = s.register(name)?;
        s.budgets[c.index()] = budget;
        Ok(())
    }

    /// Grants `capability` to `module` (lifting an earlier revocation). Running instances see
    /// it at their next host call.
    ///
    /// # Errors
    ///
    /// As [`capability`](Self::capability).
    pub fn grant(&self, module: &ModuleRef, capability: &str) -> Result<(), SecurityError> {
        let mut s = self.write();
        let c = s.register(capability)?;
        s.grants.entry(module.clone()).or_default().bits |= c.bit();
        if let Some(r) = s.revoked.get_mut(module) {
            *r &= !c.bit();
        }
        s.refresh();
        Ok(())
    }

    /// Revokes `capability` from `module`, whatever grants it (a default, a name, a hash):
    /// running instances refuse their next call of it, with [`SecurityError::Revoked`].
    ///
    /// # Errors
    ///
    /// As [`capability`](Self::capability).
    pub fn revoke(&self, module: &ModuleRef, capability: &str) -> Result<(), SecurityError> {
        let mut s = self.write();
        let c = s.register(capability)?;
        *s.revoked.entry(module.clone()).or_default() |= c.bit();
        if let Some(g) = s.grants.get_mut(module) {
            g.bits &= !c.bit();
        }
        s.refresh();
        Ok(())
    }

    /// Whether `module` holds `capability` now.
    pub fn is_granted(&self, module: &ModuleIdentity, capability: &str) -> bool {
        let s = self.read();
        s.lookup(capability).is_some_and(|c| s.resolve(module) & c.bit() != 0)
    }

    /// Adds an embedder's checker.
    pub fn add_checker(&self, checker: Arc<dyn CustomSecurityChecker>) {
        self.write().checkers.push(checker);
    }

    /// Runs every checker's [`check_instantiation`](CustomSecurityChecker::check_instantiation).
    ///
    /// # Errors
    ///
    /// [`SecurityError::Refused`] from the first checker that refuses.
    pub fn check_instantiation(&self, module: &ModuleIdentity, wasm: &wes_core::Module) -> Result<(), SecurityError> {
        let checkers = self.read().checkers.clone();
        for checker in checkers {
            checker.check_instantiation(module, wasm).map_err(|reason| SecurityError::Refused {
                module: module.to_string(),
                checker: checker.name().to_string(),
                reason,
            })?;
        }
        Ok(())
    }

    /// A new session for an instance of `module`: its grant (shared with the module's other
    /// instances) and fresh budget counters.
    pub fn session(&self, module: &ModuleIdentity) -> Arc<Session> {
        let mut s = self.write();
        let bits = s.resolve(module);
        let cell = Arc::clone(s.cells.entry(*module.hash()).or_insert_with(|| {
            Arc::new(GrantCell { identity: module.clone(), bits: AtomicU64::new(bits), slots: Mutex::default() })
        }));
        // A cell made for the same hash under another name keeps serving; its grant is this
        // identity's from now on (and its other sessions' too).
        cell.publish(bits);
        let mut checkers: Vec<Vec<Arc<dyn CustomSecurityChecker>>> = vec![Vec::new(); s.names.len()];
        // A checker may name a capability nothing defines yet: registering it keeps ids stable.
        let all_checkers = s.checkers.clone();
        for checker in &all_checkers {
            for name in checker.capabilities() {
                if let Ok(c) = s.register(&name) {
                    if checkers.len() <= c.index() {
                        checkers.resize(c.index() + 1, Vec::new());
                    }
                    checkers[c.index()].push(Arc::clone(checker));
                }
            }
        }
        checkers.resize(s.names.len().max(checkers.len()), Vec::new());
        let slots: Box<[Arc<Slot>]> = checkers
            .into_iter()
            .enumerate()
            .map(|(i, checkers)| {
                let slot = Slot::new(
                    1u64.checked_shl(u32::try_from(i).unwrap_or(u32::MAX)).unwrap_or(0),
                    s.budgets.get(i).copied().unwrap_or(Budget::UNLIMITED),
                    checkers.into_boxed_slice(),
                );
                slot.refresh(bits);
                Arc::new(slot)
            })
            .collect();
        cell.adopt(&slots);
        Arc::new(Session {
            identity: module.clone(),
            cell,
            slots,
            names: s.names.clone().into_boxed_slice(),
            violation: Mutex::new(None),
        })
    }
}

/// One capability in a session: its budget, the invocation's counters and its checkers, side
/// by side so that a host call's check reads one place.
struct Slot {
    /// Host calls of the capability in this invocation (refused ones included, revoked ones
    /// not).
    calls: AtomicU64,
    /// How many calls an invocation may make without a closer look: the call budget while the
    /// capability is granted and no checker watches it, else 0 (every call takes the cold
    /// path, which tells a revocation from an exhausted budget and runs the checkers).
    pass: AtomicU64,
    bytes: AtomicU64,
    /// The capability's bit in a grant.
    bit: u64,
    budget: Budget,
    checkers: Box<[Arc<dyn CustomSecurityChecker>]>,
    /// The gates of the guarded host functions of this capability and session, open exactly
    /// while calls pass uncounted (see [`Slot::passes_uncounted`]).
    gates: Mutex<Vec<Gate>>,
}

impl Slot {
    fn new(bit: u64, budget: Budget, checkers: Box<[Arc<dyn CustomSecurityChecker>]>) -> Slot {
        Slot {
            calls: AtomicU64::new(0),
            pass: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            bit,
            budget,
            checkers,
            gates: Mutex::new(Vec::new()),
        }
    }

    /// Follows the module's grant `bits`: the pass figure, then the gates. Refreshes are
    /// serialised by the grant cell's lock; the gates are set under their own lock, which
    /// [`Slot::follow`] takes too, so a gate added meanwhile ends up matching the figure.
    fn refresh(&self, bits: u64) {
        let pass = match bits & self.bit != 0 && self.checkers.is_empty() {
            true => self.budget.calls_per_invocation,
            false => 0,
        };
        self.pass.store(pass, Ordering::Release);
        let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
        gates.retain(|gate| gate.set(pass == u64::MAX));
    }

    /// Has `gate` follow this slot: open exactly while calls pass uncounted. The figure is
    /// read under the gates' lock, which [`Slot::refresh`] takes after storing a new one:
    /// either this reads it, or that refresh sets the gate after this.
    fn follow(&self, gate: Gate) {
        let mut gates = self.gates.lock().unwrap_or_else(PoisonError::into_inner);
        gates.retain(Gate::is_live);
        if gate.set(self.passes_uncounted()) {
            gates.push(gate);
        }
    }

    /// Whether a call passes without being counted: the pass figure is `u64::MAX` only for a
    /// granted capability without a call budget and without checkers, which no count can
    /// reach (the counter's load, add and store were the whole cost of a guarded call over a
    /// plain one). Anything else — a budget, a revocation (0), a checker (0) — counts.
    #[inline(always)]
    fn passes_uncounted(&self) -> bool {
        self.pass.load(Ordering::Acquire) == u64::MAX
    }
}

/// One instance's view of its permissions: the module's grant, and this instance's budget
/// counters for the current invocation.
pub struct Session {
    identity: ModuleIdentity,
    cell: Arc<GrantCell>,
    /// By capability index; shared with the [`Guard`]s of the session's host functions.
    slots: Box<[Arc<Slot>]>,
    names: Box<[String]>,
    violation: Mutex<Option<SecurityError>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("module", &self.identity).finish_non_exhaustive()
    }
}

impl Session {
    /// The module.
    pub fn identity(&self) -> &ModuleIdentity {
        &self.identity
    }

    /// Whether the module holds `capability` now.
    pub fn is_granted(&self, capability: Capability) -> bool {
        self.cell.bits.load(Ordering::Acquire) & capability.bit() != 0
    }

    /// Starts a new invocation: budgets count from zero again and the last violation is
    /// forgotten.
    pub fn begin_invocation(&self) {
        for c in self.slots.iter() {
            c.calls.store(0, Ordering::Relaxed);
            c.bytes.store(0, Ordering::Relaxed);
        }
        *self.violation.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Host calls of `capability` in this invocation (refused ones included), counted while
    /// the capability has a call budget, is revoked or is watched by a checker: calls of a
    /// granted capability with no call budget and no checker pass uncounted (0 here).
    pub fn calls(&self, capability: Capability) -> u64 {
        self.slots.get(capability.index()).map_or(0, |c| c.calls.load(Ordering::Relaxed))
    }

    /// The security decision that made the last host call trap, if one did, taken out.
    pub fn take_violation(&self) -> Option<SecurityError> {
        self.violation.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// The check before a host call of `capability`: granted, within the call budget, and
    /// allowed by the checkers registered for it. `function` (`module::name`) is for errors.
    ///
    /// # Errors
    ///
    /// A [`HostError`] that makes the wasm call trap; the [`SecurityError`] behind it is kept
    /// for [`take_violation`](Self::take_violation).
    #[inline]
    pub fn enter(&self, capability: Capability, function: &str) -> Result<Permit<'_>, HostError> {
        match self.slots.get(capability.index()) {
            Some(slot) => self.check(slot, capability, function),
            // A capability registered after the session started: no budget, no checker.
            None if self.is_granted(capability) => Ok(Permit { session: self, capability }),
            None => Err(self.revoked(capability, function)),
        }
    }

    /// A guard for host calls of `capability` through this session (what a guarded host
    /// function holds). It always holds a slot: a capability registered after the session
    /// started gets one of its own here (no budget, no checker), followed by the module's
    /// grant like the session's others, so that a call's check never has to ask whether
    /// there is one.
    pub(crate) fn guard(self: &Arc<Self>, capability: Capability, function: Arc<str>) -> Guard {
        let slot = match self.slots.get(capability.index()) {
            Some(slot) => Arc::clone(slot),
            None => {
                let slot = Arc::new(Slot::new(capability.bit(), Budget::UNLIMITED, Box::default()));
                self.cell.adopt_following(&slot);
                slot
            }
        };
        Guard { slot, session: Arc::clone(self), capability, function }
    }

    /// [`Session::enter`] against the capability's `slot`. The common case — granted, no call
    /// budget, no checker — is one load and one compare of the slot's pass figure; everything
    /// else is [`Session::count`].
    #[inline(always)]
    fn check(&self, slot: &Slot, capability: Capability, function: &str) -> Result<Permit<'_>, HostError> {
        if !slot.passes_uncounted() {
            self.count(slot, capability, function)?;
        }
        Ok(Permit { session: self, capability })
    }

    /// A call of a capability with a call budget, revoked, or watched by a checker: counted,
    /// and checked closely once past the pass figure. A load and a store of the call counter
    /// and a compare with the pass figure, in one cache line.
    #[inline(always)]
    fn count(&self, slot: &Slot, capability: Capability, function: &str) -> Result<(), HostError> {
        // A load and a store rather than an atomic add: a session's counters are only
        // touched by calls of its instance, which its store (`&mut`) serialises, so no
        // increment can race; a locked add would double the cost of the check.
        // Wrapping: 2^64 calls is out of reach, and the add is one instruction.
        let before = slot.calls.load(Ordering::Relaxed);
        let calls = before.wrapping_add(1);
        slot.calls.store(calls, Ordering::Relaxed);
        if calls > slot.pass.load(Ordering::Relaxed) {
            self.check_closely(slot, before, capability, function)?;
        }
        Ok(())
    }

    /// The cold half of [`Session::count`]: the grant, the call budget and the checkers, in
    /// that order (a revoked call is not counted).
    #[cold]
    #[inline(never)]
    fn check_closely(&self, slot: &Slot, before: u64, capability: Capability, function: &str) -> Result<(), HostError> {
        if self.cell.bits.load(Ordering::Acquire) & slot.bit == 0 {
            slot.calls.store(before, Ordering::Relaxed);
            return Err(self.revoked(capability, function));
        }
        let calls = before.saturating_add(1);
        if calls > slot.budget.calls_per_invocation {
            return Err(self.exhausted(capability, BudgetKind::Calls, slot.budget.calls_per_invocation, calls));
        }
        if !slot.checkers.is_empty() {
            self.run_checkers(slot, capability, function)?;
        }
        Ok(())
    }

    #[cold]
    fn revoked(&self, capability: Capability, function: &str) -> HostError {
        self.refuse(SecurityError::Revoked {
            module: self.identity.to_string(),
            capability: self.name(capability),
            function: function.to_string(),
        })
    }

    #[cold]
    fn run_checkers(&self, slot: &Slot, capability: Capability, function: &str) -> Result<(), HostError> {
        let name = self.names.get(capability.index()).map_or("", String::as_str);
        for checker in slot.checkers.iter() {
            if let Err(reason) = checker.check_host_call(&self.identity, name, function) {
                return Err(self.refuse(SecurityError::Refused {
                    module: self.identity.to_string(),
                    checker: checker.name().to_string(),
                    reason,
                }));
            }
        }
        Ok(())
    }

    fn name(&self, capability: Capability) -> String {
        self.names.get(capability.index()).cloned().unwrap_or_default()
    }

    #[cold]
    fn exhausted(&self, capability: Capability, kind: BudgetKind, limit: u64, used: u64) -> HostError {
        self.refuse(SecurityError::BudgetExhausted {
            module: self.identity.to_string(),
            capability: self.name(capability),
            kind,
            limit,
            used,
        })
    }

    #[cold]
    fn refuse(&self, e: SecurityError) -> HostError {
        let error = HostError::new(format!("security: {e}"));
        *self.violation.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
        error
    }
}

/// Proof that a host call passed its checks; the host function declares the bytes it moves
/// through it, against the capability's byte budget.
#[derive(Debug)]
pub struct Permit<'s> {
    session: &'s Session,
    capability: Capability,
}

impl Permit<'_> {
    /// Declares `n` bytes about to be read or written for the capability, before moving them.
    ///
    /// # Errors
    ///
    /// A [`HostError`] (the call traps) when the invocation's byte budget would be exceeded.
    pub fn bytes(&self, n: u64) -> Result<(), HostError> {
        if let Some(slot) = self.session.slots.get(self.capability.index()) {
            // As for calls in `Session::enter`: serialised by the store.
            let used = slot.bytes.load(Ordering::Relaxed).saturating_add(n);
            slot.bytes.store(used, Ordering::Relaxed);
            if used > slot.budget.bytes_per_invocation {
                return Err(self.session.exhausted(
                    self.capability,
                    BudgetKind::Bytes,
                    slot.budget.bytes_per_invocation,
                    used,
                ));
            }
        }
        Ok(())
    }

    /// The capability the call is of.
    pub fn capability(&self) -> Capability {
        self.capability
    }
}

/// See [`Guard::follower`].
pub(crate) struct GateFollower(Arc<Slot>);

impl GateFollower {
    /// Has `gate` open exactly while the guard's calls pass uncounted ([`Guard::passes`]).
    pub(crate) fn follow(self, gate: Gate) {
        self.0.follow(gate);
    }
}

/// What a guarded host function checks before its body runs: one instance's session, one
/// capability, the function's name for errors. Holds the capability's slot itself (always
/// one, see [`Session::guard`]). A typed guarded function ([`GuardedLinker::func_wrap`]) is
/// gated by the runtime: its gate follows the slot ([`Guard::follower`]), so the common case
/// costs nothing over an unguarded call, and every other case ([`Guard::count`]) runs on the
/// trampoline's cold entry, so that the call does not set up
/// what only a counted or refused call reads. A function of [`Value`](wes_core::Value)s
/// tests [`Guard::check`] itself.
///
/// [`GuardedLinker::func_wrap`]: crate::GuardedLinker::func_wrap
pub(crate) struct Guard {
    slot: Arc<Slot>,
    session: Arc<Session>,
    capability: Capability,
    /// `module::name`.
    function: Arc<str>,
}

impl Guard {
    /// [`Session::enter`]'s check for the guard's capability; [`Guard::permit`] after it.
    #[inline(always)]
    pub(crate) fn check(&self) -> Result<(), HostError> {
        if !self.passes() {
            self.count()?;
        }
        Ok(())
    }

    /// The common case of [`Guard::check`]: a granted capability with no call budget and no
    /// checker, whose calls pass uncounted (see [`Session::check`]).
    #[inline(always)]
    fn passes(&self) -> bool {
        self.slot.passes_uncounted()
    }

    /// What has the gate of the guarded function that will hold this guard follow the
    /// guard's slot (the gate exists only once the function does, around the guard).
    pub(crate) fn follower(&self) -> GateFollower {
        GateFollower(Arc::clone(&self.slot))
    }

    /// The permit of a call that passed [`Guard::check`].
    #[inline(always)]
    pub(crate) fn permit(&self) -> Permit<'_> {
        Permit { session: &self.session, capability: self.capability }
    }

    /// [`Session::count`] for a call of a capability with a budget, revoked or watched.
    #[inline(never)]
    pub(crate) fn count(&self) -> Result<(), HostError> {
        self.session.count(&self.slot, self.capability, &self.function)
    }
}
