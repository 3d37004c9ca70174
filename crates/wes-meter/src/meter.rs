//! Gas meters: who counts what was charged, refunded and what remains.
//!
//! [`GasMeter`] follows the resource-meter interface: a limit, what was consumed and refunded,
//! `charge` that either takes the whole amount or nothing, bounded `refund`, and an optional log
//! of charges. Compiled code does not call a meter for every segment (it decrements a counter in
//! the store context); the runtime settles with the meter at the end of a call and before every
//! run-time charge, so a meter always sees the exact totals. A meter that
//! [only counts](GasMeter::counts_only) may have fixed run-time charges (a host call's base cost)
//! taken from that counter too.

use std::collections::BTreeMap;
use std::fmt;

/// A charge that did not fit: nothing of it was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("out of gas: {requested} requested, {remaining} remaining")]
pub struct OutOfGas {
    /// The amount asked for.
    pub requested: u64,
    /// What remained (and still remains).
    pub remaining: u64,
}

/// What a charge paid for, for logs and profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ChargeKind {
    /// Straight-line segments of compiled code.
    Code,
    /// A run-time cost (bulk operation, grow), named by its operator.
    Dynamic(&'static str),
    /// The base cost of a host call.
    HostCall,
    /// Gas a host function charged through its caller handle.
    Host,
    /// Anything an embedder charges directly.
    Other,
}

/// One entry of a meter's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChargeRecord {
    /// What was paid for.
    pub kind: ChargeKind,
    /// How much.
    pub amount: u64,
}

/// A gas meter.
pub trait GasMeter: fmt::Debug + Send {
    /// The current limit (the initial limit plus top-ups).
    fn limit(&self) -> u64;
    /// Gas charged so far.
    fn consumed(&self) -> u64;
    /// Gas refunded so far (never more than the refund policy allows).
    fn refunded(&self) -> u64;
    /// Gas that can still be charged.
    fn remaining(&self) -> u64 {
        self.limit().saturating_sub(self.consumed())
    }
    /// Charges `amount` for `kind`: all of it, or nothing and [`OutOfGas`].
    ///
    /// # Errors
    ///
    /// [`OutOfGas`] when `amount` exceeds [`GasMeter::remaining`].
    fn charge_for(&mut self, kind: ChargeKind, amount: u64) -> Result<(), OutOfGas>;
    /// Charges `amount` as [`ChargeKind::Other`].
    ///
    /// # Errors
    ///
    /// [`OutOfGas`] when `amount` exceeds [`GasMeter::remaining`].
    fn charge(&mut self, amount: u64) -> Result<(), OutOfGas> {
        self.charge_for(ChargeKind::Other, amount)
    }
    /// Refunds up to `amount`, bounded so that the total refunded never exceeds the policy's
    /// share of what was consumed. Returns what was actually refunded by this call.
    fn refund(&mut self, amount: u64) -> u64;
    /// Raises the limit by `amount` (a top-up by an out-of-gas handler).
    fn add_gas(&mut self, amount: u64);
    /// A function starts running (for profiling meters); `name` identifies it.
    fn enter(&mut self, _name: &str) {}
    /// The innermost running function returned.
    fn leave(&mut self) {}
    /// The log of charges, when this meter keeps one.
    fn log(&self) -> Option<&[ChargeRecord]> {
        None
    }
    /// Whether this meter only counts: it keeps no log, attributes nothing, and treats a
    /// charge of any kind like any other, so only the sum of its charges matters.
    ///
    /// A runtime may then take fixed run-time charges (the base cost of a host call) from its
    /// gas counter the way compiled code takes a segment's cost, checked before the work they
    /// pay for, and settle them with the meter together with the code's gas, as
    /// [`ChargeKind::Code`]. Totals, limits and out-of-gas points are unchanged; only the kind
    /// and the grouping of charges, which such a meter does not observe, differ.
    ///
    /// The default is `false`: every run-time charge reaches the meter when it happens, with
    /// its kind.
    fn counts_only(&self) -> bool {
        false
    }
    /// Gas used net of refunds: `consumed - refunded`.
    fn used(&self) -> u64 {
        self.consumed().saturating_sub(self.refunded())
    }
    /// The limit, consumed, refunded and remaining figures together, as
    /// [`GasMeter::limit`], [`GasMeter::consumed`], [`GasMeter::refunded`] and
    /// [`GasMeter::remaining`] give them: one call through a `dyn GasMeter` instead of four
    /// (a runtime reads them before and after every call it reports).
    fn figures(&self) -> GasFigures {
        GasFigures {
            limit: self.limit(),
            consumed: self.consumed(),
            refunded: self.refunded(),
            remaining: self.remaining(),
        }
    }
}

/// A meter's figures at one moment (see [`GasMeter::figures`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GasFigures {
    /// [`GasMeter::limit`].
    pub limit: u64,
    /// [`GasMeter::consumed`].
    pub consumed: u64,
    /// [`GasMeter::refunded`].
    pub refunded: u64,
    /// [`GasMeter::remaining`].
    pub remaining: u64,
}

/// How much of what was consumed may be refunded: at most `numerator / denominator` of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefundPolicy {
    /// Numerator of the share.
    pub numerator: u64,
    /// Denominator of the share (0 means no refunds).
    pub denominator: u64,
}

impl Default for RefundPolicy {
    /// At most a fifth of what was consumed.
    fn default() -> Self {
        RefundPolicy { numerator: 1, denominator: 5 }
    }
}

impl RefundPolicy {
    /// The most that may be refunded in total when `consumed` was consumed.
    pub fn cap(&self, consumed: u64) -> u64 {
        if self.denominator == 0 {
            return 0;
        }
        let cap = u128::from(consumed) * u128::from(self.numerator) / u128::from(self.denominator);
        u64::try_from(cap).unwrap_or(u64::MAX).min(consumed)
    }
}

/// A counter: the plain meter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicMeter {
    limit: u64,
    consumed: u64,
    refunded: u64,
    policy: RefundPolicy,
    log: Option<Vec<ChargeRecord>>,
}

impl BasicMeter {
    /// A meter allowing `limit` gas, with the default refund policy and no log.
    pub fn new(limit: u64) -> Self {
        BasicMeter { limit, consumed: 0, refunded: 0, policy: RefundPolicy::default(), log: None }
    }

    /// Sets the refund policy.
    #[must_use]
    pub fn with_refund_policy(mut self, policy: RefundPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Keeps a log of every charge.
    #[must_use]
    pub fn with_log(mut self) -> Self {
        self.log = Some(Vec::new());
        self
    }
}

impl GasMeter for BasicMeter {
    fn limit(&self) -> u64 {
        self.limit
    }

    fn consumed(&self) -> u64 {
        self.consumed
    }

    fn refunded(&self) -> u64 {
        self.refunded
    }

    #[inline]
    fn charge_for(&mut self, kind: ChargeKind, amount: u64) -> Result<(), OutOfGas> {
        let remaining = self.limit - self.consumed;
        if amount > remaining {
            return Err(OutOfGas { requested: amount, remaining });
        }
        self.consumed += amount;
        if let Some(log) = &mut self.log {
            log.push(ChargeRecord { kind, amount });
        }
        Ok(())
    }

    fn refund(&mut self, amount: u64) -> u64 {
        let room = self.policy.cap(self.consumed).saturating_sub(self.refunded);
        let granted = amount.min(room);
        self.refunded += granted;
        granted
    }

    fn add_gas(&mut self, amount: u64) {
        self.limit = self.limit.saturating_add(amount);
    }

    fn log(&self) -> Option<&[ChargeRecord]> {
        self.log.as_deref()
    }

    fn counts_only(&self) -> bool {
        self.log.is_none()
    }
}

/// Gas and call counts of one function, as a [`ProfilingMeter`] saw them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionProfile {
    /// Gas charged while this function was the innermost one entered.
    pub gas: u64,
    /// How many times it was entered.
    pub calls: u64,
}

/// A meter that also attributes gas to functions: every charge goes to the innermost function
/// entered (see [`GasMeter::enter`]), or to `"<outside>"` when none is.
#[derive(Clone, Debug)]
pub struct ProfilingMeter {
    inner: BasicMeter,
    stack: Vec<String>,
    profile: BTreeMap<String, FunctionProfile>,
}

impl ProfilingMeter {
    /// A profiling meter allowing `limit` gas.
    pub fn new(limit: u64) -> Self {
        ProfilingMeter { inner: BasicMeter::new(limit), stack: Vec::new(), profile: BTreeMap::new() }
    }

    /// Gas and calls per function name, in name order.
    pub fn profile(&self) -> &BTreeMap<String, FunctionProfile> {
        &self.profile
    }
}

impl GasMeter for ProfilingMeter {
    fn limit(&self) -> u64 {
        self.inner.limit()
    }

    fn consumed(&self) -> u64 {
        self.inner.consumed()
    }

    fn refunded(&self) -> u64 {
        self.inner.refunded()
    }

    fn charge_for(&mut self, kind: ChargeKind, amount: u64) -> Result<(), OutOfGas> {
        self.inner.charge_for(kind, amount)?;
        let name = self.stack.last().map_or("<outside>", String::as_str);
        if let Some(p) = self.profile.get_mut(name) {
            p.gas += amount;
        } else {
            self.profile.insert(name.to_string(), FunctionProfile { gas: amount, calls: 0 });
        }
        Ok(())
    }

    fn refund(&mut self, amount: u64) -> u64 {
        self.inner.refund(amount)
    }

    fn add_gas(&mut self, amount: u64) {
        self.inner.add_gas(amount);
    }

    fn enter(&mut self, name: &str) {
        self.profile.entry(name.to_string()).or_default().calls += 1;
        self.stack.push(name.to_string());
    }

    fn leave(&mut self) {
        self.stack.pop();
    }
}

/// Fans every operation out to several meters. A charge succeeds only if every meter can take
/// it (then all take it); the totals reported are the first meter's.
#[derive(Debug, Default)]
pub struct CompositeMeter {
    meters: Vec<Box<dyn GasMeter>>,
}

impl CompositeMeter {
    /// A composite of `meters`; the first is the primary whose totals are reported.
    pub fn new(meters: Vec<Box<dyn GasMeter>>) -> Self {
        CompositeMeter { meters }
    }

    /// The meters, in order.
    pub fn meters(&self) -> &[Box<dyn GasMeter>] {
        &self.meters
    }
}

impl GasMeter for CompositeMeter {
    fn limit(&self) -> u64 {
        self.meters.first().map_or(0, |m| m.limit())
    }

    fn consumed(&self) -> u64 {
        self.meters.first().map_or(0, |m| m.consumed())
    }

    fn refunded(&self) -> u64 {
        self.meters.first().map_or(0, |m| m.refunded())
    }

    fn remaining(&self) -> u64 {
        self.meters.iter().map(|m| m.remaining()).min().unwrap_or(0)
    }

    fn charge_for(&mut self, kind: ChargeKind, amount: u64) -> Result<(), OutOfGas> {
        let remaining = self.remaining();
        if amount > remaining {
            return Err(OutOfGas { requested: amount, remaining });
        }
        for m in &mut self.meters {
            m.charge_for(kind, amount)?;
        }
        Ok(())
    }

    fn refund(&mut self, amount: u64) -> u64 {
        let mut first = None;
        for m in &mut self.meters {
            let r = m.refund(amount);
            first.get_or_insert(r);
        }
        first.unwrap_or(0)
    }

    fn add_gas(&mut self, amount: u64) {
        for m in &mut self.meters {
            m.add_gas(amount);
        }
    }

    fn enter(&mut self, name: &str) {
        for m in &mut self.meters {
            m.enter(name);
        }
    }

    fn leave(&mut self) {
        for m in &mut self.meters {
            m.leave();
        }
    }

    fn log(&self) -> Option<&[ChargeRecord]> {
        self.meters.iter().find_map(|m| m.log())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_all_or_nothing() {
        let mut m = BasicMeter::new(10).with_log();
        m.charge_for(ChargeKind::Code, 7).unwrap();
        assert_eq!(m.charge(4), Err(OutOfGas { requested: 4, remaining: 3 }));
        assert_eq!((m.consumed(), m.remaining()), (7, 3));
        m.charge(3).unwrap();
        assert_eq!(m.remaining(), 0);
        m.add_gas(5);
        m.charge_for(ChargeKind::Dynamic("memory.fill"), 5).unwrap();
        assert_eq!(m.log().unwrap().len(), 3);
        assert_eq!(m.log().unwrap()[2], ChargeRecord { kind: ChargeKind::Dynamic("memory.fill"), amount: 5 });
    }

    #[test]
    fn only_a_meter_that_observes_nothing_but_the_sum_counts_only() {
        assert!(BasicMeter::new(10).counts_only());
        assert!(!BasicMeter::new(10).with_log().counts_only(), "a log records each charge's kind");
        assert!(!ProfilingMeter::new(10).counts_only(), "a profile attributes each charge");
        let composite = CompositeMeter::new(vec![Box::new(BasicMeter::new(10))]);
        assert!(!composite.counts_only(), "the default is to see every charge");
    }

    #[test]
    fn refunds_are_bounded_by_the_policy() {
        let mut m = BasicMeter::new(1000);
        m.charge(100).unwrap();
        assert_eq!(m.refund(15), 15);
        assert_eq!(m.refund(15), 5, "at most a fifth of 100 in total");
        assert_eq!(m.refund(1), 0);
        assert_eq!((m.refunded(), m.used()), (20, 80));
        let mut m = BasicMeter::new(1000).with_refund_policy(RefundPolicy { numerator: 0, denominator: 0 });
        m.charge(100).unwrap();
        assert_eq!(m.refund(10), 0);
        assert_eq!(RefundPolicy { numerator: 3, denominator: 2 }.cap(10), 10, "never more than consumed");
    }

    #[test]
    fn profiling_attributes_to_the_innermost_function() {
        let mut m = ProfilingMeter::new(100);
        m.charge(1).unwrap();
        m.enter("main");
        m.charge(10).unwrap();
        m.enter("helper");
        m.charge(5).unwrap();
        m.leave();
        m.enter("helper");
        m.charge(5).unwrap();
        m.leave();
        m.leave();
        let p = m.profile();
        assert_eq!(p["main"], FunctionProfile { gas: 10, calls: 1 });
        assert_eq!(p["helper"], FunctionProfile { gas: 10, calls: 2 });
        assert_eq!(p["<outside>"], FunctionProfile { gas: 1, calls: 0 });
        assert_eq!(m.consumed(), 21);
    }

    #[test]
    fn composite_charges_all_or_none() {
        let mut m = CompositeMeter::new(vec![Box::new(BasicMeter::new(100)), Box::new(BasicMeter::new(10))]);
        assert_eq!(m.remaining(), 10);
        assert!(m.charge(11).is_err());
        assert_eq!(m.meters()[0].consumed(), 0, "the failed charge touched no meter");
        m.charge(10).unwrap();
        assert_eq!((m.consumed(), m.meters()[1].consumed()), (10, 10));
        m.add_gas(5);
        assert_eq!(m.remaining(), 5);
    }
}
