//! Each threat rule fires at its threshold and stays quiet just below it; actions throttle and
//! quarantine; the manager feeds the monitor from real calls.

use std::sync::Arc;

use wes_core::Value;
use wes_runtime::Store;
use wes_security::{
    Action, ManualClock, ModuleHash, ModuleStatus, Rule, SecurityError, SecurityManager, SecurityPolicy, ThreatKind,
    ThreatMonitor, ThreatPolicy,
};

use crate::support::{engine, load};

const WINDOW: u64 = 1_000;

fn policy(threshold: u64, action: Action) -> ThreatPolicy {
    let rule = Rule { threshold, window_ms: WINDOW, action };
    ThreatPolicy {
        out_of_gas_storm: rule,
        trap_storm: rule,
        memory_growth_spike: rule,
        host_call_flood: rule,
        compile_blowup: rule,
        policy_violations: rule,
        throttle_ms: 5_000,
    }
}

const M: ModuleHash = ModuleHash([7; 32]);

#[test]
fn every_rule_fires_at_its_threshold_and_not_below() {
    for kind in ThreatKind::ALL {
        // Amounts of 3 against a threshold of 12: quiet at 9, 11 (just below), fires at 12.
        let clock = ManualClock::at(10_000);
        let monitor = ThreatMonitor::with_clock(policy(12, Action::Log), Arc::new(clock.clone()));
        for _ in 0..3 {
            assert_eq!(monitor.record(&M, kind, 3), None, "{kind:?} fired early");
            clock.advance(10);
        }
        assert_eq!(monitor.record(&M, kind, 2), None, "{kind:?} fired at threshold - 1");
        let alert = monitor.record(&M, kind, 1).unwrap_or_else(|| panic!("{kind:?} did not fire at its threshold"));
        assert_eq!((alert.kind, alert.total, alert.threshold, alert.action), (kind, 12, 12, Action::Log));
        // Logged only: the module still runs, and the window starts over.
        assert_eq!(monitor.status(&M), ModuleStatus::Clear);
        assert_eq!(monitor.record(&M, kind, 11), None);
    }
}

#[test]
fn the_window_slides() {
    let clock = ManualClock::at(0);
    let monitor = ThreatMonitor::with_clock(policy(3, Action::Log), Arc::new(clock.clone()));
    monitor.record(&M, ThreatKind::Trap, 1);
    clock.advance(500);
    monitor.record(&M, ThreatKind::Trap, 1);
    clock.advance(500); // the first event is now WINDOW old: out of the window
    assert_eq!(monitor.record(&M, ThreatKind::Trap, 1), None);
    clock.advance(1);
    assert!(monitor.record(&M, ThreatKind::Trap, 1).is_some(), "three events within the window");
    // Other modules and other rules have windows of their own.
    assert_eq!(monitor.record(&ModuleHash([8; 32]), ThreatKind::Trap, 2), None);
    assert_eq!(monitor.record(&M, ThreatKind::OutOfGas, 2), None);
}

#[test]
fn throttle_and_quarantine() {
    let clock = ManualClock::at(0);
    let mut p = policy(2, Action::Throttle);
    p.trap_storm.action = Action::Quarantine;
    let monitor = ThreatMonitor::with_clock(p, Arc::new(clock.clone()));
    monitor.record(&M, ThreatKind::OutOfGas, 2);
    assert_eq!(monitor.status(&M), ModuleStatus::Throttled { until_ms: 5_000 });
    clock.advance(5_000);
    assert_eq!(monitor.status(&M), ModuleStatus::Clear);
    monitor.record(&M, ThreatKind::Trap, 2);
    clock.advance(1_000_000);
    assert_eq!(monitor.status(&M), ModuleStatus::Quarantined, "a quarantine does not expire");
    assert!(monitor.release(&M));
    assert_eq!(monitor.status(&M), ModuleStatus::Clear);
    assert!(!monitor.release(&M));
}

#[test]
fn the_manager_quarantines_a_trap_storm_and_counts_growth_and_host_calls() {
    let clock = ManualClock::at(0);
    let mut p = SecurityPolicy::spec();
    p.threats = ThreatPolicy::off();
    p.threats.trap_storm = Rule { threshold: 3, window_ms: WINDOW, action: Action::Quarantine };
    p.threats.memory_growth_spike = Rule { threshold: 10, window_ms: WINDOW, action: Action::Throttle };
    p.threats.host_call_flood = Rule { threshold: 5, window_ms: WINDOW, action: Action::Log };
    p.threats.throttle_ms = 100;
    let security = SecurityManager::with_clock(p, Arc::new(clock.clone())).unwrap();
    let mut linker = security.linker();
    linker.func_wrap("log", "env", "log", |_, _, ()| Ok(())).unwrap();
    let wat = r#"(module (import "env" "log" (func $log)) (memory 1)
        (func (export "trap") unreachable)
        (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
        (func (export "log") (param i32)
          (block $d (loop $l local.get 0 i32.eqz br_if $d call $log
            local.get 0 i32.const 1 i32.sub local.set 0 br $l))))"#;
    let (id, module) = load(&security, wat, None);
    let mut store = Store::new(&engine());
    let i = security.instantiate(&linker, &mut store, &module, &id).unwrap();

    // Four host calls, then one: the flood rule fires (logs) at five.
    security.invoke(&mut store, &i, "log", &[Value::I32(4)]).unwrap();
    assert_eq!(security.monitor().record(id.hash(), ThreatKind::HostCalls, 0), None);
    security.invoke(&mut store, &i, "log", &[Value::I32(1)]).unwrap();
    assert_eq!(security.monitor().status(id.hash()), ModuleStatus::Clear);

    // Nine pages grown: quiet; one more: throttled.
    security.invoke(&mut store, &i, "grow", &[Value::I32(9)]).unwrap();
    assert_eq!(security.monitor().status(id.hash()), ModuleStatus::Clear);
    security.invoke(&mut store, &i, "grow", &[Value::I32(1)]).unwrap();
    let err = security.invoke(&mut store, &i, "grow", &[Value::I32(0)]).unwrap_err();
    assert!(matches!(err, SecurityError::Throttled { until_ms: 100, .. }), "{err}");
    clock.advance(100);

    // Two traps: still running; the third quarantines.
    for _ in 0..2 {
        assert!(matches!(security.invoke(&mut store, &i, "trap", &[]), Err(SecurityError::Runtime(_))));
    }
    assert_eq!(security.monitor().status(id.hash()), ModuleStatus::Clear);
    assert!(matches!(security.invoke(&mut store, &i, "trap", &[]), Err(SecurityError::Runtime(_))));
    assert!(matches!(
        security.invoke(&mut store, &i, "grow", &[Value::I32(0)]),
        Err(SecurityError::Quarantined { .. })
    ));
    assert!(matches!(security.admit(wat.as_bytes(), None), Err(SecurityError::Quarantined { .. })));
    let mut store2 = Store::new(&engine());
    assert!(matches!(security.instantiate(&linker, &mut store2, &module, &id), Err(SecurityError::Quarantined { .. })));
    assert!(security.release(id.hash()).unwrap());
    assert!(security.invoke(&mut store, &i, "grow", &[Value::I32(0)]).is_ok());
}

#[test]
fn repeated_violations_quarantine() {
    let clock = ManualClock::at(0);
    let mut p = SecurityPolicy::contract();
    p.threats.policy_violations = Rule { threshold: 3, window_ms: WINDOW, action: Action::Quarantine };
    let security = SecurityManager::with_clock(p, Arc::new(clock)).unwrap();
    let too_big = "(module (memory 513))";
    for _ in 0..2 {
        assert!(matches!(security.admit(too_big.as_bytes(), None), Err(SecurityError::Decode { .. })));
    }
    let hash = ModuleHash::of(too_big.as_bytes());
    assert_eq!(security.monitor().status(&hash), ModuleStatus::Clear);
    assert!(matches!(security.admit(too_big.as_bytes(), None), Err(SecurityError::Decode { .. })));
    assert!(matches!(security.admit(too_big.as_bytes(), None), Err(SecurityError::Quarantined { .. })));
}
