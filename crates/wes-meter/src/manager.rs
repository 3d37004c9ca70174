//! [`ResourceManager`]: one object an embedder asks to meter, predict, refund and report.

use crate::meter::{GasMeter, OutOfGas};
use crate::predictor::{CallHistory, ResourcePredictor, WorstCase};
use crate::pricing::{DynamicOp, Pricing};

/// An operation whose cost can be predicted before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation<'a> {
    /// A call of an export (`func_index` in the function index space) with an input of
    /// `input_size` (whatever size measure the embedder records history with).
    Call {
        /// The export's name, for history.
        export: &'a str,
        /// The function it names.
        func_index: u32,
        /// The input size.
        input_size: u64,
    },
    /// A dynamic operation of `units` units.
    Dynamic(DynamicOp, u64),
    /// A host call's base cost.
    HostCall,
}

/// What a prediction is worth.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prediction {
    /// The cost is exactly this.
    Exact(u64),
    /// The cost is at most this.
    AtMost(u64),
    /// An estimate from history (no guarantee).
    Estimate(u64),
    /// Nothing can be said; the reason says why.
    Unknown(String),
}

/// Totals a resource manager reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceMetrics {
    /// The meter's limit.
    pub limit: u64,
    /// Gas consumed.
    pub consumed: u64,
    /// Gas refunded.
    pub refunded: u64,
    /// Gas remaining.
    pub remaining: u64,
}

/// Meter, predict the cost of an operation, refund, report metrics.
pub trait ResourceManager {
    /// The meter charges go to.
    fn meter(&mut self) -> &mut dyn GasMeter;
    /// The predicted cost of `op`.
    fn predict(&self, op: &Operation<'_>) -> Prediction;
    /// Refunds up to `amount` (bounded by the meter's policy); returns what was refunded.
    fn refund(&mut self, amount: u64) -> u64 {
        self.meter().refund(amount)
    }
    /// The current totals.
    fn metrics(&self) -> ResourceMetrics;
}

/// The standard [`ResourceManager`]: a meter, the pricing, an optional static analysis of the
/// module and the call history.
#[derive(Debug)]
pub struct GasManager<M: GasMeter> {
    meter: M,
    pricing: Pricing,
    predictor: Option<ResourcePredictor>,
    history: CallHistory,
}

impl<M: GasMeter> GasManager<M> {
    /// A manager of `meter` under `pricing`.
    pub fn new(meter: M, pricing: Pricing) -> Self {
        GasManager { meter, pricing, predictor: None, history: CallHistory::new() }
    }

    /// Adds a static analysis of the module whose calls are predicted.
    #[must_use]
    pub fn with_predictor(mut self, predictor: ResourcePredictor) -> Self {
        self.predictor = Some(predictor);
        self
    }

    /// Records a finished call for history-based estimates.
    pub fn record_call(&mut self, export: &str, input_size: u64, gas: u64) {
        self.history.record(export, input_size, gas);
    }

    /// Charges `amount` to the meter.
    ///
    /// # Errors
    ///
    /// [`OutOfGas`] when it does not fit.
    pub fn charge(&mut self, amount: u64) -> Result<(), OutOfGas> {
        self.meter.charge(amount)
    }

    /// The meter itself.
    pub fn into_meter(self) -> M {
        self.meter
    }
}

impl<M: GasMeter> ResourceManager for GasManager<M> {
    fn meter(&mut self) -> &mut dyn GasMeter {
        &mut self.meter
    }

    fn predict(&self, op: &Operation<'_>) -> Prediction {
        match *op {
            Operation::Dynamic(d, units) => Prediction::Exact(self.pricing.dynamic_cost(d, units)),
            Operation::HostCall => Prediction::Exact(self.pricing.host_call_cost()),
            Operation::Call { export, func_index, input_size } => {
                let static_case = self.predictor.as_ref().and_then(|p| p.worst_case(func_index));
                match (static_case, self.history.estimate(export, input_size)) {
                    (Some(WorstCase::Bounded(b)), _) => Prediction::AtMost(*b),
                    (_, Some(e)) => Prediction::Estimate(e),
                    (Some(WorstCase::Unbounded(r)), None) => Prediction::Unknown(r.clone()),
                    (None, None) => Prediction::Unknown(format!("no analysis or history for `{export}`")),
                }
            }
        }
    }

    fn metrics(&self) -> ResourceMetrics {
        ResourceMetrics {
            limit: self.meter.limit(),
            consumed: self.meter.consumed(),
            refunded: self.meter.refunded(),
            remaining: self.meter.remaining(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meter::BasicMeter;

    #[test]
    fn predicts_meters_and_reports() {
        let m = wes_decode::decode_text("(module (func (result i32) i32.const 1) (func (loop)))").unwrap();
        let pricing = Pricing::default();
        let p = ResourcePredictor::analyze(&m, &pricing).unwrap();
        let mut g = GasManager::new(BasicMeter::new(1000), pricing).with_predictor(p);
        assert_eq!(g.predict(&Operation::Call { export: "a", func_index: 0, input_size: 0 }), Prediction::AtMost(2));
        let loopy = Operation::Call { export: "b", func_index: 1, input_size: 4 };
        assert!(matches!(g.predict(&loopy), Prediction::Unknown(_)));
        g.record_call("b", 2, 20);
        g.record_call("b", 6, 60);
        assert_eq!(g.predict(&loopy), Prediction::Estimate(40));
        assert_eq!(g.predict(&Operation::Dynamic(DynamicOp::MemoryCopy, 10)), Prediction::Exact(10));
        assert_eq!(g.predict(&Operation::HostCall), Prediction::Exact(50));
        g.charge(500).unwrap();
        assert_eq!(g.refund(200), 100);
        assert_eq!(g.metrics(), ResourceMetrics { limit: 1000, consumed: 500, refunded: 100, remaining: 500 });
    }
}
