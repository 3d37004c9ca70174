//! The store's side of gas: the counter compiled code decrements, settling it with the meter,
//! run-time charges, the out-of-gas handler and refunds.

use wes_core::TrapCode;
use wes_meter::{ChargeKind, DynamicOp, GasMeter};

use super::{HandlerBox, OutOfGasHandler, StoreInner};
use crate::vm;

impl StoreInner {
    /// Loads the meter's remaining gas into the counter before wasm runs.
    pub(crate) fn gas_enter(&mut self) {
        let gas = self.meter.as_ref().map_or(u64::MAX, |m| m.remaining());
        vm::set_gas_counter(self.ctx_ptr, gas);
        self.gas_synced = gas;
        self.counts_only = self.meter.as_ref().is_some_and(|m| m.counts_only());
    }

    /// Charges the meter what compiled code spent since the last sync.
    pub(crate) fn gas_leave(&mut self) {
        self.gas_sync();
    }

    pub(super) fn gas_sync(&mut self) {
        let counter = vm::gas_counter(self.ctx_ptr);
        if let Some(meter) = &mut self.meter {
            let spent = self.gas_synced.saturating_sub(counter);
            if spent > 0 {
                // Cannot fail: the counter started at the meter's remaining gas.
                let _ = meter.charge_for(ChargeKind::Code, spent);
            }
        }
        self.gas_synced = counter;
    }

    /// After the meter changed: the counter becomes its remaining gas.
    fn gas_reload(&mut self) {
        if let Some(meter) = &self.meter {
            let gas = meter.remaining();
            vm::set_gas_counter(self.ctx_ptr, gas);
            self.gas_synced = gas;
            self.counts_only = meter.counts_only();
        }
    }

    /// Asks the out-of-gas handler for `needed` more gas; whether it added any.
    fn ask_for_gas(&mut self, needed: u64) -> bool {
        self.stats.last_shortfall = needed;
        let (Some(meter), Some(handler)) = (&mut self.meter, &mut self.out_of_gas) else { return false };
        let before = meter.remaining();
        (handler.0)(meter.as_mut(), needed) && meter.remaining() > before
    }

    /// Charges the base cost of a host call, before the host function runs.
    ///
    /// A meter that [only counts](GasMeter::counts_only) is charged through the gas counter,
    /// as compiled code charges a segment: the meter sees the cost at the next settlement,
    /// with the code's gas. This keeps the meter's dynamic calls off the path of every host
    /// call. When the counter is short, the regular charge settles, asks the out-of-gas
    /// handler and traps exactly as for any other run-time charge.
    #[inline]
    pub(crate) fn charge_host_call(&mut self) -> Result<(), TrapCode> {
        if self.charge_host_call_inline() {
            return Ok(());
        }
        self.charge_gas(ChargeKind::HostCall, self.host_call_cost)
    }

    /// The part of [`StoreInner::charge_host_call`] that needs no call, inlined into the host
    /// trampoline: `true` when the base cost is paid (from the gas counter, when the meter only
    /// counts and the counter holds enough) or there is none to pay; `false`, with nothing
    /// charged, when `charge_host_call` must do it.
    #[inline(always)]
    pub(crate) fn charge_host_call_inline(&mut self) -> bool {
        let cost = self.host_call_cost;
        if cost == 0 || self.meter.is_none() {
            return true;
        }
        if !self.counts_only {
            return false;
        }
        match vm::gas_counter(self.ctx_ptr).checked_sub(cost) {
            Some(left) => {
                vm::set_gas_counter(self.ctx_ptr, left);
                true
            }
            None => false,
        }
    }

    /// Charges `amount` at run time (a dynamic cost, a host call, a host function's charge),
    /// asking the out-of-gas handler when it does not fit. Nothing is charged when the engine
    /// does not meter or the store has no meter.
    pub(crate) fn charge_gas(&mut self, kind: ChargeKind, amount: u64) -> Result<(), TrapCode> {
        if self.pricing().is_none() || self.meter.is_none() || amount == 0 {
            return Ok(());
        }
        self.gas_sync();
        loop {
            let Some(meter) = &mut self.meter else { return Ok(()) };
            match meter.charge_for(kind, amount) {
                Ok(()) => break,
                Err(e) => {
                    if !self.ask_for_gas(e.requested - e.remaining) {
                        return Err(TrapCode::OutOfGas);
                    }
                }
            }
        }
        self.gas_reload();
        Ok(())
    }

    /// Makes sure `amount` can be charged (asking the out-of-gas handler if needed) without
    /// charging it.
    pub(super) fn ensure_gas(&mut self, amount: u64) -> Result<(), TrapCode> {
        if self.pricing().is_none() || self.meter.is_none() || amount == 0 {
            return Ok(());
        }
        self.gas_sync();
        loop {
            let remaining = self.meter.as_ref().map_or(u64::MAX, |m| m.remaining());
            if remaining >= amount {
                self.gas_reload();
                return Ok(());
            }
            if !self.ask_for_gas(amount - remaining) {
                self.gas_reload();
                return Err(TrapCode::OutOfGas);
            }
        }
    }

    pub(super) fn charge_dynamic(&mut self, op: DynamicOp, units: u64) -> Result<(), TrapCode> {
        let cost = self.pricing().map_or(0, |p| p.dynamic_cost(op, units));
        self.charge_gas(ChargeKind::Dynamic(op.name()), cost)
    }

    /// The `OutOfGas` libcall: a segment costing `cost` found the counter short. Returns
    /// whether the counter now covers it; otherwise the `OutOfGas` trap is recorded.
    pub(crate) fn refill_gas(&mut self, cost: u64) -> bool {
        if self.meter.is_none() {
            // Unlimited gas: the counter only ran down from u64::MAX.
            vm::set_gas_counter(self.ctx_ptr, u64::MAX);
            self.gas_synced = u64::MAX;
            return true;
        }
        self.gas_sync();
        loop {
            let remaining = self.meter.as_ref().map_or(0, |m| m.remaining());
            if remaining >= cost {
                self.gas_reload();
                return true;
            }
            if !self.ask_for_gas(cost - remaining) {
                self.gas_reload();
                self.record_trap(TrapCode::OutOfGas, None);
                return false;
            }
        }
    }

    /// A gas check of code that does not resume out of gas faulted
    /// ([`wes_core::Fault::OutOfGas`]): the counter's home holds the gas it found. Pays for the
    /// chain's segments in order while the gas covers them, counting their operators, as the
    /// checks of one segment each would have, and records the `OutOfGas` trap of the first it
    /// cannot pay for, in function `func_index` of instance `instance` at that segment's
    /// start. No handler is asked: a store whose code faults has none.
    pub(crate) fn gas_fault(&mut self, instance: usize, func_index: u32, chain: &[wes_core::GasLink]) {
        self.gas_sync();
        for link in chain {
            // Without a meter the counter ran down from u64::MAX (2^64 units of gas: not
            // reachable in practice); it is then the counter that runs out.
            let remaining = self.meter.as_ref().map_or(vm::gas_counter(self.ctx_ptr), |m| m.remaining());
            if remaining >= link.cost {
                if let Some(meter) = &mut self.meter {
                    // Cannot fail: the cost fits what is left.
                    let _ = meter.charge_for(ChargeKind::Code, link.cost);
                } else {
                    vm::set_gas_counter(self.ctx_ptr, remaining - link.cost);
                    self.gas_synced = remaining - link.cost;
                }
                let ops = vm::operator_counter(self.ctx_ptr);
                vm::set_operator_counter(self.ctx_ptr, ops.wrapping_add(link.ops));
                continue;
            }
            self.stats.last_shortfall = link.cost - remaining;
            self.gas_reload();
            self.record_trap(TrapCode::OutOfGas, None);
            self.record_frame(instance, func_index, link.offset);
            return;
        }
        // Not reachable: the check failed, so the chain costs more than the counter held.
        self.gas_reload();
        self.record_trap(TrapCode::OutOfGas, Some("a gas check faulted with its segments paid for".into()));
        let offset = chain.last().map_or(0, |l| l.offset);
        self.record_frame(instance, func_index, offset);
    }

    /// Refunds up to `amount` (bounded by the meter's policy); what was refunded.
    pub(crate) fn refund_gas(&mut self, amount: u64) -> u64 {
        self.gas_sync();
        self.meter.as_mut().map_or(0, |m| m.refund(amount))
    }

    /// Gas left, as the running code sees it; `None` without a meter.
    pub(crate) fn gas_remaining(&mut self) -> Option<u64> {
        self.gas_sync();
        self.meter.as_ref().map(|m| m.remaining())
    }

    pub(crate) fn set_meter(&mut self, meter: Option<Box<dyn GasMeter>>) -> Option<Box<dyn GasMeter>> {
        // Read again when the next call loads the counter.
        self.counts_only = false;
        std::mem::replace(&mut self.meter, meter)
    }

    pub(crate) fn meter(&self) -> Option<&dyn GasMeter> {
        self.meter.as_deref()
    }

    pub(crate) fn set_out_of_gas_handler(&mut self, handler: Option<Box<OutOfGasHandler>>) {
        self.out_of_gas = handler.map(HandlerBox);
    }
}
