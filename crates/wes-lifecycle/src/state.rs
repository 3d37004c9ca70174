//! [`LifecycleController`]: the states an instance goes through, only by legal transitions,
//! and the limits ([`LifetimePolicy`]) that retire it.

use std::time::Duration;

use crate::LifecycleError;

/// Where an instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Instantiated, not yet checkpointed.
    Created,
    /// Checkpointed and never used: a pre-warmed instance.
    Ready,
    /// Checked out by a caller.
    InUse,
    /// Checked back in and reset, waiting for the next caller.
    Idle,
    /// Chosen for removal (a limit reached, evicted, or a reset failed); it is never handed out
    /// again.
    Retiring,
    /// Its store is dropped.
    Destroyed,
}

impl State {
    /// Whether the controller may go from `self` to `to`.
    pub fn can_become(self, to: State) -> bool {
        use State::*;
        matches!(
            (self, to),
            (Created, Ready)
                | (Created, Retiring)
                | (Ready, InUse)
                | (Ready, Retiring)
                | (InUse, Idle)
                | (InUse, Retiring)
                | (Idle, InUse)
                | (Idle, Retiring)
                | (Retiring, Destroyed)
        )
    }
}

/// When an instance must be retired rather than reused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LifetimePolicy {
    /// Retire an instance this long after it was created (checked at check-in and by the
    /// evictor).
    pub max_age: Option<Duration>,
    /// Retire an instance after this many uses.
    pub max_uses: Option<u64>,
    /// Evict an idle instance that has waited this long (the evictor keeps a pool's minimum).
    pub idle_timeout: Option<Duration>,
}

/// Why an instance was retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetireReason {
    /// [`LifetimePolicy::max_age`].
    MaxAge,
    /// [`LifetimePolicy::max_uses`].
    MaxUses,
    /// [`LifetimePolicy::idle_timeout`].
    IdleTimeout,
    /// Evicted to make room for another module's instance, or because the pool shrank.
    Evicted,
    /// Its reset failed (or it gained objects a reset would not remove).
    ResetFailed,
    /// Destroyed by the embedder.
    Destroyed,
}

/// One instance's state, times and uses, changed only by legal transitions.
#[derive(Clone, Debug)]
pub struct LifecycleController {
    state: State,
    created_at: Duration,
    last_used: Duration,
    uses: u64,
}

impl LifecycleController {
    /// A controller for an instance created at `now`.
    pub fn new(now: Duration) -> Self {
        LifecycleController { state: State::Created, created_at: now, last_used: now, uses: 0 }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// How many times the instance was checked out.
    pub fn uses(&self) -> u64 {
        self.uses
    }

    /// When it was created.
    pub fn created_at(&self) -> Duration {
        self.created_at
    }

    /// When it was last checked in (or created).
    pub fn last_used(&self) -> Duration {
        self.last_used
    }

    /// Moves to `to` at time `now`.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::IllegalTransition`] when `to` cannot follow the current state.
    pub fn transition(&mut self, to: State, now: Duration) -> Result<(), LifecycleError> {
        if !self.state.can_become(to) {
            return Err(LifecycleError::IllegalTransition { from: self.state, to });
        }
        match to {
            State::InUse => self.uses += 1,
            State::Idle => self.last_used = now,
            _ => {}
        }
        self.state = to;
        Ok(())
    }

    /// Whether `policy` retires the instance at `now`: age and uses always, the idle timeout
    /// only while it is idle or ready.
    pub fn expired(&self, policy: &LifetimePolicy, now: Duration) -> Option<RetireReason> {
        if policy.max_age.is_some_and(|age| now.saturating_sub(self.created_at) >= age) {
            return Some(RetireReason::MaxAge);
        }
        if policy.max_uses.is_some_and(|uses| self.uses >= uses) {
            return Some(RetireReason::MaxUses);
        }
        let waiting = matches!(self.state, State::Idle | State::Ready);
        if waiting && policy.idle_timeout.is_some_and(|t| now.saturating_sub(self.last_used) >= t) {
            return Some(RetireReason::IdleTimeout);
        }
        None
    }
}
