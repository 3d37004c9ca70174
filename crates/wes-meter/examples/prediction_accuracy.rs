//! How good each estimator of `CallHistory` is on generated workloads: prints one table row
//! per (workload, estimator) with the mean and 95th-percentile relative error and the share of
//! calls that used more than estimated. `cargo run -p wes-meter --example prediction_accuracy`.
//!
//! The workloads are deterministic (a xorshift generator with a fixed seed), 5,000 calls each:
//! - linear: 5,000 + 37·size gas, ±5% jitter;
//! - quadratic: 1,000 + size²/50, ±5% jitter (sizes up to 2,000);
//! - flat-tail: 10,000 ± 5% whatever the size, one call in ten 10× dearer;
//! - bimodal: two code paths chosen by the input's parity, 20,000 or 60,000 + 3·size.

use wes_meter::{CallHistory, Estimator};

fn main() {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let jitter = |g: u64, r: u64| g - g / 20 + r % (g / 10 + 1);
    let n = 5_000;
    let mut workloads: Vec<(&str, Vec<(u64, u64)>)> = Vec::new();
    let linear = (0..n).map(|_| (next() % 10_000, next())).map(|(s, r)| (s, jitter(5_000 + 37 * s, r))).collect();
    workloads.push(("linear", linear));
    let quadratic = (0..n).map(|_| (next() % 2_000, next())).map(|(s, r)| (s, jitter(1_000 + s * s / 50, r))).collect();
    workloads.push(("quadratic", quadratic));
    let tail = (0..n)
        .map(|i| (next() % 10_000, next(), i))
        .map(|(s, r, i)| (s, jitter(if i % 10 == 7 { 100_000 } else { 10_000 }, r)))
        .collect();
    workloads.push(("flat-tail", tail));
    let bimodal = (0..n)
        .map(|_| (next() % 10_000, next()))
        .map(|(s, r)| (s, jitter(if s % 2 == 0 { 20_000 } else { 60_000 + 3 * s }, r)))
        .collect();
    workloads.push(("bimodal", bimodal));

    let history = CallHistory::new();
    println!("| workload | estimator | calls | mean error | p95 error | under-estimated |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, calls) in &workloads {
        for (label, e) in [
            ("linear", Estimator::Linear),
            ("median", Estimator::Quantile(0.5)),
            ("p95", Estimator::Quantile(0.95)),
            ("p99", Estimator::Quantile(0.99)),
        ] {
            let a = history.backtest(calls, e, 20);
            println!(
                "| {name} | {label} | {} | {:.1}% | {:.1}% | {:.1}% |",
                a.calls,
                a.mean_abs_error * 100.0,
                a.p95_abs_error * 100.0,
                a.under_estimated * 100.0
            );
        }
    }
}
