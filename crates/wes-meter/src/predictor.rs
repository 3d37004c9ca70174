//! Predicting gas: exact static costs where the code allows it, estimates from history where
//! it does not.
//!
//! [`ResourcePredictor::analyze`] prices every straight-line segment of every defined function
//! (with the same [`function_segments`] the backends compile in) and bounds the worst case of
//! each function that has no loop, no recursion, no indirect call, no call to an import and no
//! operation with a run-time cost: such a function runs each of its segments at most once, so
//! the sum of its segments plus the bounds of its callees (per call site) is a sound bound.
//! Anything else is [`WorstCase::Unbounded`], with the reason.
//!
//! [`CallHistory`] estimates a call's gas from earlier calls of the same export, two ways
//! ([`Estimator`]): a least-squares line through (input size, gas) once it has seen two
//! different sizes (the mean before that), or a quantile of the gas of the recent calls whatever
//! their size. It keeps the most recent calls of each export only (a window), so its memory is
//! bounded and it follows a contract whose cost drifts. [`CallHistory::backtest`] measures how
//! good an estimator is on a sequence of calls. Estimates use floating point and depend on what
//! one node has seen: they are advice (sizing a reservation, refusing early off-chain), never
//! consensus data; only [`WorstCase::Bounded`] is the same on every node.

use std::collections::BTreeMap;

use wes_core::Module;

use crate::pricing::Pricing;
use crate::segment::{FunctionSegments, function_segments};

/// The static worst case of a function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorstCase {
    /// No call of the function can cost more than this.
    Bounded(u64),
    /// No static bound exists; the reason says why.
    Unbounded(String),
}

/// Why the predictor could not analyse a module.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot analyse function {func_index}: {message}")]
pub struct AnalysisError {
    /// The function.
    pub func_index: u32,
    /// What went wrong.
    pub message: String,
}

/// Static gas analysis of one module under one pricing.
#[derive(Clone, Debug)]
pub struct ResourcePredictor {
    imported: u32,
    /// Segments of each defined function.
    functions: Vec<FunctionSegments>,
    /// Worst case of each defined function.
    worst: Vec<WorstCase>,
}

impl ResourcePredictor {
    /// Analyses every defined function of `module`.
    ///
    /// # Errors
    ///
    /// [`AnalysisError`] when a body cannot be read (impossible for a validated module).
    pub fn analyze(module: &Module, pricing: &Pricing) -> Result<ResourcePredictor, AnalysisError> {
        let imported = module.num_imported_functions;
        let mut functions = Vec::with_capacity(module.bodies.len());
        for (i, body) in module.bodies.iter().enumerate() {
            let func_index = imported + i as u32;
            let bad = |message: String| AnalysisError { func_index, message };
            let bytes = module.bytes.get(body.range.clone()).ok_or_else(|| bad("body outside the module".into()))?;
            let segs = function_segments(bytes, body.range.start as u64, pricing).map_err(|e| bad(e.to_string()))?;
            functions.push(segs);
        }
        let mut p = ResourcePredictor { imported, functions, worst: Vec::new() };
        let mut memo: Vec<Option<WorstCase>> = vec![None; p.functions.len()];
        for i in 0..p.functions.len() {
            let mut on_path = vec![false; p.functions.len()];
            p.bound(i, &mut memo, &mut on_path);
        }
        p.worst = memo.into_iter().map(|w| w.unwrap_or(WorstCase::Unbounded("not analysed".into()))).collect();
        Ok(p)
    }

    fn bound(&self, i: usize, memo: &mut Vec<Option<WorstCase>>, on_path: &mut Vec<bool>) -> WorstCase {
        if let Some(Some(w)) = memo.get(i) {
            return w.clone();
        }
        let Some(f) = self.functions.get(i) else { return WorstCase::Unbounded("no such function".into()) };
        let fi = self.imported + i as u32;
        let w = if on_path.get(i).copied().unwrap_or(false) {
            return WorstCase::Unbounded(format!("function {fi} is recursive"));
        } else if f.has_loop {
            WorstCase::Unbounded(format!("function {fi} has a loop"))
        } else if f.has_indirect_call {
            WorstCase::Unbounded(format!("function {fi} calls indirectly"))
        } else if f.has_dynamic_cost {
            WorstCase::Unbounded(format!("function {fi} has an operation priced by its operands"))
        } else {
            on_path[i] = true;
            let mut total = f.total();
            let mut result = None;
            for callee in &f.direct_calls {
                let Some(ci) = callee.checked_sub(self.imported) else {
                    result = Some(WorstCase::Unbounded(format!("function {fi} calls import {callee}")));
                    break;
                };
                match self.bound(ci as usize, memo, on_path) {
                    WorstCase::Bounded(b) => total = total.saturating_add(b),
                    u @ WorstCase::Unbounded(_) => {
                        result = Some(u);
                        break;
                    }
                }
            }
            on_path[i] = false;
            result.unwrap_or(WorstCase::Bounded(total))
        };
        if let Some(slot) = memo.get_mut(i) {
            *slot = Some(w.clone());
        }
        w
    }

    /// The segments of function `func_index` (an index of the function index space), or `None`
    /// for an import or no function.
    pub fn segments(&self, func_index: u32) -> Option<&FunctionSegments> {
        self.functions.get(func_index.checked_sub(self.imported)? as usize)
    }

    /// The worst case of function `func_index`, or `None` for an import or no function.
    pub fn worst_case(&self, func_index: u32) -> Option<&WorstCase> {
        self.worst.get(func_index.checked_sub(self.imported)? as usize)
    }
}

/// How [`CallHistory`] turns earlier calls into an estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Estimator {
    /// The least-squares line through (input size, gas), evaluated at the input size: for
    /// code whose cost grows with its input.
    Linear,
    /// This quantile (0 to 1) of the gas of the calls in the window, whatever their size: for
    /// code whose cost does not follow the input size; 0.5 is the median, 0.95 covers all but
    /// one call in twenty.
    Quantile(f64),
}

/// How good an [`Estimator`] was over a sequence of calls ([`CallHistory::backtest`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accuracy {
    /// Calls estimated (after the warm-up).
    pub calls: usize,
    /// Mean of |estimate − actual| / actual.
    pub mean_abs_error: f64,
    /// The 95th percentile of |estimate − actual| / actual.
    pub p95_abs_error: f64,
    /// Share of calls that used more gas than estimated (a reservation of the estimate would
    /// have run short).
    pub under_estimated: f64,
}

/// The most recent calls of each export kept by default.
pub const DEFAULT_WINDOW: usize = 1024;

/// Earlier calls of each export, to estimate the next one's gas.
#[derive(Clone, Debug)]
pub struct CallHistory {
    /// `(input size, gas)` of the most recent calls, per export, oldest first.
    calls: BTreeMap<String, std::collections::VecDeque<(u64, u64)>>,
    window: usize,
}

impl Default for CallHistory {
    fn default() -> Self {
        CallHistory::with_window(DEFAULT_WINDOW)
    }
}

impl CallHistory {
    /// An empty history keeping the [`DEFAULT_WINDOW`] most recent calls of each export.
    pub fn new() -> Self {
        CallHistory::default()
    }

    /// An empty history keeping the `window` most recent calls of each export (at least one).
    pub fn with_window(window: usize) -> Self {
        CallHistory { calls: BTreeMap::new(), window: window.max(1) }
    }

    /// Records that a call of `export` with an input of `input_size` used `gas`; the oldest
    /// call of `export` is forgotten when the window is full.
    pub fn record(&mut self, export: &str, input_size: u64, gas: u64) {
        let calls = match self.calls.get_mut(export) {
            Some(c) => c,
            None => self.calls.entry(export.to_string()).or_default(),
        };
        if calls.len() == self.window {
            calls.pop_front();
        }
        calls.push_back((input_size, gas));
    }

    /// The estimate of `estimator` for a call of `export` with an input of `input_size`, or
    /// `None` before any call of it was recorded.
    pub fn estimate_by(&self, export: &str, input_size: u64, estimator: Estimator) -> Option<u64> {
        match estimator {
            Estimator::Linear => self.estimate(export, input_size),
            Estimator::Quantile(q) => self.quantile(export, q),
        }
    }

    /// The `q` quantile (nearest rank, `q` clamped to 0..=1) of the gas of the recorded calls of
    /// `export`, or `None` before any was recorded.
    pub fn quantile(&self, export: &str, q: f64) -> Option<u64> {
        let calls = self.calls.get(export).filter(|c| !c.is_empty())?;
        let mut gas: Vec<u64> = calls.iter().map(|(_, g)| *g).collect();
        gas.sort_unstable();
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        let rank = (q * gas.len() as f64).ceil() as usize;
        gas.get(rank.saturating_sub(1)).copied()
    }

    /// Replays `calls` (`(input size, gas)` of one export, in order) through an empty history
    /// with this one's window: each call after the first `warmup` is estimated from the ones
    /// before it, then recorded. How close the estimates came.
    pub fn backtest(&self, calls: &[(u64, u64)], estimator: Estimator, warmup: usize) -> Accuracy {
        let mut h = CallHistory::with_window(self.window);
        let mut errors = Vec::with_capacity(calls.len());
        let mut under = 0usize;
        for (i, &(size, gas)) in calls.iter().enumerate() {
            if i >= warmup
                && let Some(e) = h.estimate_by("f", size, estimator)
            {
                errors.push(e.abs_diff(gas) as f64 / gas.max(1) as f64);
                under += usize::from(gas > e);
            }
            h.record("f", size, gas);
        }
        if errors.is_empty() {
            return Accuracy::default();
        }
        let n = errors.len();
        let mean = errors.iter().sum::<f64>() / n as f64;
        errors.sort_by(f64::total_cmp);
        let p95 = errors[((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1];
        Accuracy { calls: n, mean_abs_error: mean, p95_abs_error: p95, under_estimated: under as f64 / n as f64 }
    }

    /// How many calls of `export` were recorded.
    pub fn len(&self, export: &str) -> usize {
        self.calls.get(export).map_or(0, std::collections::VecDeque::len)
    }

    /// Whether nothing was recorded at all.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The estimated gas of a call of `export` with an input of `input_size`, or `None` before
    /// any call of it was recorded. An estimate, not consensus data: it uses floating point.
    pub fn estimate(&self, export: &str, input_size: u64) -> Option<u64> {
        let calls = self.calls.get(export).filter(|c| !c.is_empty())?;
        let n = calls.len() as f64;
        let mean_x = calls.iter().map(|(x, _)| *x as f64).sum::<f64>() / n;
        let mean_y = calls.iter().map(|(_, y)| *y as f64).sum::<f64>() / n;
        let sxx: f64 = calls.iter().map(|(x, _)| (*x as f64 - mean_x).powi(2)).sum();
        let estimate = if sxx > 0.0 {
            let sxy: f64 = calls.iter().map(|(x, y)| (*x as f64 - mean_x) * (*y as f64 - mean_y)).sum();
            let slope = sxy / sxx;
            mean_y + slope * (input_size as f64 - mean_x)
        } else {
            mean_y
        };
        Some(estimate.max(0.0).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_fits_a_line_and_falls_back_to_the_mean() {
        let mut h = CallHistory::new();
        assert_eq!(h.estimate("f", 3), None);
        h.record("f", 10, 100);
        assert_eq!(h.estimate("f", 50), Some(100), "one size seen: the mean");
        h.record("f", 20, 150);
        h.record("f", 30, 200);
        assert_eq!(h.estimate("f", 100), Some(550), "gas = 50 + 5·size");
        assert_eq!(h.len("f"), 3);
        assert_eq!(h.estimate("g", 1), None);
    }

    #[test]
    fn quantiles_and_the_window() {
        let mut h = CallHistory::with_window(4);
        assert_eq!(h.quantile("f", 0.5), None);
        for g in [10, 40, 20, 30] {
            h.record("f", 0, g);
        }
        assert_eq!(h.quantile("f", 0.5), Some(20));
        assert_eq!(h.quantile("f", 0.95), Some(40));
        assert_eq!(h.quantile("f", 0.0), Some(10));
        h.record("f", 0, 50); // 10 leaves the window
        assert_eq!(h.len("f"), 4);
        assert_eq!(h.quantile("f", 0.0), Some(20));
        assert_eq!(h.estimate_by("f", 0, Estimator::Quantile(1.0)), Some(50));
    }

    /// Generated workloads, deterministic: a cost linear in the input with ±5% jitter, and a
    /// cost that ignores the input but has a heavy tail (one call in ten costs ten times more).
    #[test]
    fn backtests_measure_each_estimator_on_generated_workloads() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let linear: Vec<(u64, u64)> = (0..800)
            .map(|_| {
                let size = next() % 10_000;
                let exact = 5_000 + 37 * size;
                (size, exact - exact / 20 + next() % (exact / 10 + 1))
            })
            .collect();
        let tail: Vec<(u64, u64)> =
            (0..800).map(|i| (next() % 10_000, if i % 10 == 7 { 100_000 } else { 10_000 + next() % 1_000 })).collect();
        let h = CallHistory::new();
        let fit = h.backtest(&linear, Estimator::Linear, 10);
        assert_eq!(fit.calls, 790);
        assert!(fit.mean_abs_error < 0.04, "{fit:?}");
        let median = h.backtest(&linear, Estimator::Quantile(0.5), 10);
        assert!(median.mean_abs_error > 5.0 * fit.mean_abs_error, "a line beats a constant: {median:?} {fit:?}");
        // On the tail workload a line is as lost as a median; a high quantile covers the calls.
        let p95 = h.backtest(&tail, Estimator::Quantile(0.95), 10);
        assert!(p95.under_estimated < 0.12, "{p95:?}");
        let lin = h.backtest(&tail, Estimator::Linear, 10);
        assert!(lin.under_estimated > 0.05, "{lin:?}");
    }

    #[test]
    fn bounds_follow_the_call_graph() {
        let m = wes_decode::decode_text(
            r#"(module
                (import "h" "f" (func $imp))
                (func $leaf (result i32) i32.const 1)                      ;; 2
                (func $mid (result i32) call $leaf call $leaf i32.add)     ;; 10 + 10 + 2 + leafs
                (func $loopy (loop br 0))
                (func $rec call $rec)
                (func $host call $imp)
                (func $grow (result i32) (memory.grow (i32.const 1)))
                (memory 1))"#,
        )
        .unwrap();
        let p = ResourcePredictor::analyze(&m, &Pricing::default()).unwrap();
        assert_eq!(p.worst_case(1), Some(&WorstCase::Bounded(2)));
        assert_eq!(p.worst_case(2), Some(&WorstCase::Bounded(10 + 10 + 2 + 2 + 2)));
        assert!(matches!(p.worst_case(3), Some(WorstCase::Unbounded(r)) if r.contains("loop")));
        assert!(matches!(p.worst_case(4), Some(WorstCase::Unbounded(r)) if r.contains("recursive")));
        assert!(matches!(p.worst_case(5), Some(WorstCase::Unbounded(r)) if r.contains("import")));
        assert!(matches!(p.worst_case(6), Some(WorstCase::Unbounded(_))));
        assert_eq!(p.worst_case(0), None);
        assert_eq!(p.segments(2).map(|s| s.segments.len()), Some(3));
    }
}
