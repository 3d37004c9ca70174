//! Paying for calls before and after they run: a [`GasAccount`] (a balance shared by many
//! calls), [`Reservation`]s taken up front — prepaid — and settled after the call with what it
//! really used — postpaid — and [`admit`], which refuses a call that cannot be afforded before
//! it starts.
//!
//! A reservation is sized from a [`Prediction`]: the static bound when the code has one (the
//! call can never need more), otherwise an estimate from history with a margin, otherwise the
//! caller's ceiling. The call runs under a meter whose limit is the reservation; settling
//! returns the unused part to the balance, so the account pays exactly what the call used.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::manager::Prediction;

/// Why a reservation or an admission was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The balance cannot cover the reservation.
    #[error("cannot reserve {requested} gas: the balance is {balance}")]
    InsufficientBalance {
        /// What was asked for.
        requested: u64,
        /// What the account had.
        balance: u64,
    },
    /// The call's cost can exceed what it may spend.
    #[error("the call can cost up to {needed} gas ({basis}), more than the {available} available")]
    Unaffordable {
        /// The predicted cost.
        needed: u64,
        /// What the prediction rests on: "static bound" or "estimate".
        basis: &'static str,
        /// What the call may spend.
        available: u64,
    },
}

/// A balance of gas that calls reserve from and settle with; shareable between threads.
#[derive(Debug, Default)]
pub struct GasAccount {
    balance: AtomicU64,
}

/// Gas taken from an account for one call; give it back with [`GasAccount::settle`]. Dropping
/// it unsettled keeps the whole amount spent (the safe side for the account's owner).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "settle the reservation, or its unused gas stays spent"]
pub struct Reservation {
    amount: u64,
}

impl Reservation {
    /// The gas reserved: the limit to run the call under.
    pub fn amount(&self) -> u64 {
        self.amount
    }
}

/// What settling a reservation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// Gas the call used, now spent.
    pub used: u64,
    /// Unused gas returned to the balance.
    pub returned: u64,
}

impl GasAccount {
    /// An account holding `balance`.
    pub fn new(balance: u64) -> Self {
        GasAccount { balance: AtomicU64::new(balance) }
    }

    /// The balance now (reservations not yet settled are not in it).
    pub fn balance(&self) -> u64 {
        self.balance.load(Ordering::Acquire)
    }

    /// Adds `amount` to the balance (saturating).
    pub fn deposit(&self, amount: u64) {
        // An update that cannot fail: the closure always returns Some.
        let _ = self.balance.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| Some(b.saturating_add(amount)));
    }

    /// Takes `amount` out of the balance for one call (prepaid).
    ///
    /// # Errors
    ///
    /// [`AccountError::InsufficientBalance`]; the balance is unchanged then.
    pub fn reserve(&self, amount: u64) -> Result<Reservation, AccountError> {
        self.balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| b.checked_sub(amount))
            .map(|_| Reservation { amount })
            .map_err(|balance| AccountError::InsufficientBalance { requested: amount, balance })
    }

    /// Takes gas for a call predicted as `prediction`, at most `ceiling`: the static bound
    /// when there is one, an estimate plus `margin_percent`, or, when nothing is known, as
    /// much of the balance as `ceiling` allows.
    ///
    /// # Errors
    ///
    /// [`AccountError::Unaffordable`] when a static bound exceeds `ceiling` (the call could
    /// not be allowed to finish), [`AccountError::InsufficientBalance`].
    pub fn reserve_for(
        &self,
        prediction: &Prediction,
        margin_percent: u64,
        ceiling: u64,
    ) -> Result<Reservation, AccountError> {
        admit(prediction, ceiling, Admission::StaticBound)?;
        let amount = match *prediction {
            Prediction::Exact(b) | Prediction::AtMost(b) => b,
            Prediction::Estimate(e) => e.saturating_add(e.saturating_mul(margin_percent) / 100).min(ceiling),
            Prediction::Unknown(_) => {
                let mut taken = 0;
                // An update that cannot fail: the closure always returns Some.
                let _ = self.balance.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                    taken = b.min(ceiling);
                    Some(b - taken)
                });
                return Ok(Reservation { amount: taken });
            }
        };
        self.reserve(amount)
    }

    /// Settles `reservation` with the gas the call used (postpaid): the unused part goes back
    /// to the balance. A call never uses more than its reservation when it ran under a meter
    /// of that limit; if `used` says more, the excess is taken from the balance too (as far as
    /// it goes).
    pub fn settle(&self, reservation: Reservation, used: u64) -> Settlement {
        let returned = reservation.amount.saturating_sub(used);
        let extra = used.saturating_sub(reservation.amount);
        let _ = self.balance.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
            Some(b.saturating_add(returned).saturating_sub(extra))
        });
        Settlement { used, returned }
    }
}

/// What [`admit`] refuses on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// Admit everything.
    #[default]
    Off,
    /// Refuse a call whose static bound (exact or at most) exceeds what it may spend: the
    /// same decision on every node, so fit for consensus.
    StaticBound,
    /// Also refuse a call whose estimate from history exceeds it: advice, since history differs
    /// between nodes; for off-chain gateways and local policy only.
    Estimate,
}

/// Whether a call predicted as `prediction` may start with `available` gas.
///
/// # Errors
///
/// [`AccountError::Unaffordable`] naming the predicted cost and what it rests on.
pub fn admit(prediction: &Prediction, available: u64, policy: Admission) -> Result<(), AccountError> {
    let (needed, basis) = match (prediction, policy) {
        (_, Admission::Off) => return Ok(()),
        (Prediction::Exact(b) | Prediction::AtMost(b), _) => (*b, "static bound"),
        (Prediction::Estimate(e), Admission::Estimate) => (*e, "estimate"),
        _ => return Ok(()),
    };
    if needed > available { Err(AccountError::Unaffordable { needed, basis, available }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_is_prepaid_and_settled_to_exactly_what_was_used() {
        let account = GasAccount::new(1_000);
        let r = account.reserve(600).unwrap();
        assert_eq!(account.balance(), 400);
        assert_eq!(
            account.reserve(500).unwrap_err(),
            AccountError::InsufficientBalance { requested: 500, balance: 400 }
        );
        assert_eq!(account.settle(r, 250), Settlement { used: 250, returned: 350 });
        assert_eq!(account.balance(), 750, "the account paid exactly 250");
        account.deposit(u64::MAX);
        assert_eq!(account.balance(), u64::MAX);
    }

    #[test]
    fn reservations_follow_the_prediction() {
        let account = GasAccount::new(10_000);
        let r = account.reserve_for(&Prediction::AtMost(300), 50, 5_000).unwrap();
        assert_eq!(r.amount(), 300, "a static bound needs no margin");
        let e = account.reserve_for(&Prediction::Estimate(1_000), 20, 5_000).unwrap();
        assert_eq!(e.amount(), 1_200);
        let u = account.reserve_for(&Prediction::Unknown("loop".into()), 20, 5_000).unwrap();
        assert_eq!(u.amount(), 5_000);
        let rest = account.reserve_for(&Prediction::Unknown("loop".into()), 20, 5_000).unwrap();
        assert_eq!(rest.amount(), 10_000 - 300 - 1_200 - 5_000, "what is left, up to the ceiling");
        account.settle(rest, 0);
        assert!(matches!(
            account.reserve_for(&Prediction::AtMost(6_000), 0, 5_000),
            Err(AccountError::Unaffordable { needed: 6_000, basis: "static bound", .. })
        ));
        for r in [r, e, u] {
            account.settle(r, 0);
        }
        assert_eq!(account.balance(), 10_000);
    }

    #[test]
    fn admission_refuses_only_on_what_the_policy_trusts() {
        let bound = Prediction::AtMost(100);
        let estimate = Prediction::Estimate(100);
        assert!(admit(&bound, 99, Admission::Off).is_ok());
        assert!(admit(&bound, 100, Admission::StaticBound).is_ok());
        assert!(admit(&bound, 99, Admission::StaticBound).is_err());
        assert!(admit(&estimate, 99, Admission::StaticBound).is_ok(), "history is not consensus data");
        assert!(admit(&estimate, 99, Admission::Estimate).is_err());
        assert!(admit(&Prediction::Unknown(String::new()), 0, Admission::Estimate).is_ok());
    }
}
