//! Predicting a call's gas through the facade: the export's static bound (from
//! `wes_meter::ResourcePredictor`, computed once per module when first asked), or an estimate
//! from the runtime's history of calls (`[gas.prediction]`); refusing unaffordable calls before
//! they start, and sizing prepaid reservations.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use wes_core::module::ExternKind;
use wes_meter::{CallHistory, Prediction, Pricing, ResourcePredictor, WorstCase};

use crate::config::PredictionConfig;

/// A runtime's prediction settings and history.
#[derive(Debug)]
pub(crate) struct Predictions {
    pub(crate) config: PredictionConfig,
    pricing: Option<Arc<Pricing>>,
    history: Mutex<CallHistory>,
}

/// The static analysis of one module, made when first needed.
#[derive(Debug, Default)]
pub(crate) struct Analysis(OnceLock<Result<ResourcePredictor, String>>);

impl Predictions {
    pub(crate) fn new(config: PredictionConfig, pricing: Option<Arc<Pricing>>) -> Self {
        Predictions { history: Mutex::new(CallHistory::with_window(config.window)), config, pricing }
    }

    /// The prediction for a call of `export` of `module` (hash `hash`) with an input of
    /// `input_size`: exact 0 when nothing is metered, the static bound when the code has one,
    /// the configured estimate from history otherwise.
    pub(crate) fn predict(
        &self,
        module: &wes_core::Module,
        analysis: &Analysis,
        hash: &str,
        export: &str,
        input_size: u64,
    ) -> Prediction {
        let Some(pricing) = &self.pricing else { return Prediction::Exact(0) };
        let func = module.exports.iter().find(|e| e.name == export && e.kind == ExternKind::Func).map(|e| e.index);
        let Some(func) = func else { return Prediction::Unknown(format!("no exported function `{export}`")) };
        let analysed =
            analysis.0.get_or_init(|| ResourcePredictor::analyze(module, pricing).map_err(|e| e.to_string()));
        let reason = match analysed.as_ref().map(|a| a.worst_case(func)) {
            Ok(Some(WorstCase::Bounded(b))) => return Prediction::AtMost(*b),
            Ok(Some(WorstCase::Unbounded(reason))) => reason.clone(),
            Ok(None) => format!("`{export}` is an imported function"),
            Err(e) => e.clone(),
        };
        let history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        match history.estimate_by(&key(hash, export), input_size, self.config.estimator()) {
            Some(e) => Prediction::Estimate(e),
            None => Prediction::Unknown(reason),
        }
    }

    /// Records a finished call, when `record_history` is on.
    pub(crate) fn record(&self, hash: &str, export: &str, input_size: u64, gas: u64) {
        if self.config.record_history {
            self.history.lock().unwrap_or_else(PoisonError::into_inner).record(&key(hash, export), input_size, gas);
        }
    }
}

fn key(hash: &str, export: &str) -> String {
    format!("{hash}/{export}")
}
