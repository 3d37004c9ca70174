//! WES's gas: pricing, segment costs, meters, refunds and prediction, usable on its own.
//!
//! | module | what it holds |
//! |---|---|
//! | [`pricing`] | [`PricingTable`] (serde, TOML/JSON) and the resolved, hashed [`Pricing`] |
//! | [`segment`] | [`function_segments`]: the straight-line segments of a body and their costs |
//! | [`plan`] | [`ChargePlan`]: which segments' checks an earlier check may do, unobservably |
//! | [`meter`] | the [`GasMeter`] trait, [`BasicMeter`], [`ProfilingMeter`], [`CompositeMeter`] |
//! | [`predictor`] | [`ResourcePredictor`] (static bounds) and [`CallHistory`] (estimates) |
//! | [`manager`] | the [`ResourceManager`] interface and [`GasManager`] |
//! | [`account`] | [`GasAccount`]: prepaid reservations settled postpaid, and [`admit`] |
//!
//! Gas is defined on the *input wasm operators*, never on generated code: every backend calls
//! [`function_segments`] and charges each segment's cost once, before it runs, so the same
//! module, inputs and pricing use the same gas whatever compiled them. The semantics are
//! documented in `docs/pricing.md`.
//!
//! ```
//! use wes_meter::{BasicMeter, GasMeter, Pricing};
//!
//! let pricing = Pricing::default();
//! let add = pricing.operator_cost(&wasmparser::Operator::I32Add);
//! let mut meter = BasicMeter::new(10);
//! meter.charge(add)?;
//! assert_eq!(meter.remaining(), 10 - add);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod account;
pub mod manager;
pub mod meter;
mod ops;
pub mod plan;
pub mod predictor;
pub mod pricing;
pub mod segment;

pub use account::{AccountError, Admission, GasAccount, Reservation, Settlement, admit};
pub use manager::{GasManager, Operation, Prediction, ResourceManager, ResourceMetrics};
pub use meter::{
    BasicMeter, ChargeKind, ChargeRecord, CompositeMeter, FunctionProfile, GasFigures, GasMeter, OutOfGas,
    ProfilingMeter, RefundPolicy,
};
pub use ops::{OPERATOR_NAMES, operator_name};
pub use plan::{ChainLink, Chains, ChargePlan, MAX_CHAIN, PlanBuilder, SegmentCharge};
pub use predictor::{Accuracy, AnalysisError, CallHistory, DEFAULT_WINDOW, Estimator, ResourcePredictor, WorstCase};
pub use pricing::{DynamicOp, OpClass, Pricing, PricingError, PricingTable, operator_class};
pub use segment::{FunctionSegments, Segment, SegmentCutter, ends_segment, function_segments};
