//! Integration tests of `wes-lifecycle` (with the JIT): no state leaks between reuses, the
//! eviction order of each strategy, lifetimes and idle timeouts under a driven clock, legal
//! transitions, and use from several threads.
#![allow(clippy::panic, clippy::unwrap_used, reason = "tests fail by panicking")]

use std::sync::Arc;
use std::time::Duration;

use wes_core::Value;
use wes_lifecycle::{
    InstanceFactory, InstanceManager, InstancePool, LifecycleController, LifecycleError, LifetimePolicy, ManagerConfig,
    ManualClock, ModuleId, PoolConfig, PoolStrategy, State,
};
use wes_runtime::{Caller, Config, Engine, HostError, Linker, Module};

fn engine() -> Engine {
    Engine::new(Config::default(), Arc::new(wes_jit::Jit::new().unwrap()))
}

/// A contract with 40 KiB of data (a mapped image), a start function, a global and a table; its
/// `attack` leaves a secret in memory (a data page and a zero page), the global, the table,
/// a grown memory, and drops its passive segment.
fn contract() -> String {
    let data: String = (0..40_000).map(|i| format!("\\{:02x}", (i % 253) as u8)).collect();
    format!(
        r#"(module
          (import "env" "inc" (func $inc (param i64) (result i64)))
          (memory 2)
          (global $g (mut i64) (i64.const 11))
          (table $t 2 funcref)
          (type $r (func (result i64)))
          (func $good (result i64) i64.const 1)
          (func $evil (result i64) i64.const 666)
          (elem (table $t) (i32.const 0) func $good)
          (elem declare func $evil)
          (data (i32.const 4096) "{data}")
          (data $p "xy")
          (func $start (i64.store (i32.const 65536) (i64.const 99)))
          (start $start)
          (func (export "attack") (param $s i64)
            (i64.store (i32.const 4096) (local.get $s))
            (i64.store (i32.const 70000) (local.get $s))
            (drop (memory.grow (i32.const 1)))
            (global.set $g (local.get $s))
            (table.set $t (i32.const 0) (ref.func $evil))
            (table.set $t (i32.const 1) (ref.func $evil))
            (data.drop $p))
          (func (export "look") (result i64 i64 i64 i64 i64 i32 i32)
            (i64.load (i32.const 4096))
            (i64.load (i32.const 70000))
            (i64.load (i32.const 65536))
            (global.get $g)
            (call_indirect $t (type $r) (i32.const 0))
            (ref.is_null (table.get $t (i32.const 1)))
            (memory.size))
          (func (export "passive") (result i32)
            (memory.init $p (i32.const 0) (i32.const 0) (i32.const 2))
            (i32.load8_u (i32.const 1)))
          (func (export "call") (param i64) (result i64) (call $inc (local.get 0))))"#
    )
}

fn factory(engine: &Engine, wat: &str) -> InstanceFactory {
    let module = Module::new(engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> { Ok(x + 1) });
    InstanceFactory::new(engine, &linker, &module).unwrap()
}

fn initial_look() -> Vec<Value> {
    let first = i64::from_le_bytes(std::array::from_fn(|k| (k % 253) as u8));
    vec![Value::I64(first), Value::I64(0), Value::I64(99), Value::I64(11), Value::I64(1), Value::I32(1), Value::I32(2)]
}

#[test]
fn the_next_user_of_an_instance_sees_nothing_of_the_last() {
    let engine = engine();
    let pool = InstancePool::new(
        factory(&engine, &contract()),
        PoolConfig { strategy: PoolStrategy::Fixed(1), ..Default::default() },
        Arc::new(ManualClock::new()),
    )
    .unwrap();
    for secret in [0x5ec2e7_i64, -1, 42] {
        let mut lease = pool.checkout().unwrap();
        assert_eq!(lease.call("look", &[]).unwrap(), initial_look(), "secret {secret}");
        assert_eq!(lease.call("passive", &[]).unwrap(), [Value::I32(i32::from(b'y'))]);
        lease.call("attack", &[Value::I64(secret)]).unwrap();
        let seen = lease.call("look", &[]).unwrap();
        assert_eq!(seen[..2], [Value::I64(secret), Value::I64(secret)]);
        assert_eq!(seen[3..], [Value::I64(secret), Value::I64(666), Value::I32(0), Value::I32(3)]);
        assert!(matches!(lease.call("passive", &[]), Err(LifecycleError::Runtime(_))), "dropped segment traps");
    }
    let m = pool.metrics();
    assert_eq!((m.created, m.reused, m.resets, m.live, m.idle), (1, 2, 3, 1, 1));
    assert!(m.reset_time > Duration::ZERO && m.max_reset_time <= m.reset_time);
}

#[test]
fn a_fixed_pool_is_made_up_front_and_never_exceeds_its_size() {
    let engine = engine();
    let pool = InstancePool::new(
        factory(&engine, &contract()),
        PoolConfig { strategy: PoolStrategy::Fixed(2), ..Default::default() },
        Arc::new(ManualClock::new()),
    )
    .unwrap();
    assert_eq!((pool.live(), pool.idle()), (2, 2));
    let a = pool.checkout().unwrap();
    let b = pool.checkout().unwrap();
    assert_ne!(a.id(), b.id());
    assert!(matches!(pool.checkout(), Err(LifecycleError::Exhausted { max: 2, .. })));
    drop(a);
    let c = pool.checkout().unwrap();
    assert_eq!(c.lifecycle().uses(), 2, "the instance that came back");
    drop((b, c));
    assert_eq!(pool.metrics().created, 2);
}

#[test]
fn a_dynamic_pool_grows_to_its_maximum_and_shrinks_to_its_minimum_when_idle() {
    let engine = engine();
    let clock = Arc::new(ManualClock::new());
    let lifetime = LifetimePolicy { idle_timeout: Some(Duration::from_secs(30)), ..Default::default() };
    let pool = InstancePool::new(
        factory(&engine, &contract()),
        PoolConfig { strategy: PoolStrategy::Dynamic { min: 1, max: 3 }, lifetime, priority: 0 },
        clock.clone(),
    )
    .unwrap();
    assert_eq!(pool.live(), 1);
    let leases: Vec<_> = (0..3).map(|_| pool.checkout().unwrap()).collect();
    assert!(matches!(pool.checkout(), Err(LifecycleError::Exhausted { max: 3, .. })));
    drop(leases);
    assert_eq!((pool.live(), pool.idle()), (3, 3));
    clock.advance(Duration::from_secs(29));
    assert_eq!(pool.evict_expired(), 0, "not idle long enough yet");
    clock.advance(Duration::from_secs(1));
    assert_eq!(pool.evict_expired(), 2, "down to the minimum");
    assert_eq!((pool.live(), pool.idle()), (1, 1));
    assert_eq!(pool.metrics().evicted, 2);
}

#[test]
fn max_uses_and_max_age_retire_instances_under_a_driven_clock() {
    let engine = engine();
    let clock = Arc::new(ManualClock::new());
    let lifetime = LifetimePolicy { max_uses: Some(2), max_age: Some(Duration::from_secs(60)), idle_timeout: None };
    let pool = InstancePool::new(
        factory(&engine, &contract()),
        PoolConfig { strategy: PoolStrategy::Dynamic { min: 0, max: 4 }, lifetime, priority: 0 },
        clock.clone(),
    )
    .unwrap();
    let first = pool.checkout().unwrap().id();
    assert_eq!(pool.checkout().unwrap().id(), first);
    // Two uses: retired at the second check-in.
    let third = pool.checkout().unwrap().id();
    assert_ne!(third, first);
    assert_eq!(pool.metrics().retired, 1);
    // Past its age, an idle instance is retired when met (at check-out or by the evictor).
    clock.advance(Duration::from_secs(60));
    let fourth = pool.checkout().unwrap();
    assert_ne!(fourth.id(), third);
    assert_eq!(fourth.lifecycle().created_at(), Duration::from_secs(60));
    drop(fourth);
    clock.advance(Duration::from_secs(61));
    assert_eq!(pool.evict_expired(), 1);
    assert_eq!(pool.live(), 0);
}

#[test]
fn the_manager_evicts_the_lowest_tier_then_the_least_recently_used_module() {
    let engine = engine();
    let clock = Arc::new(ManualClock::new());
    let manager = InstanceManager::new(ManagerConfig { capacity: 3, clock: clock.clone() });
    let f = factory(&engine, &contract());
    let dynamic = |priority| PoolConfig {
        strategy: PoolStrategy::Dynamic { min: 0, max: 3 },
        lifetime: LifetimePolicy::default(),
        priority,
    };
    let hot = manager.register(f.clone(), dynamic(1)).unwrap();
    let a = manager.register(f.clone(), dynamic(0)).unwrap();
    let b = manager.register(f.clone(), dynamic(0)).unwrap();
    let c = manager.register(f.clone(), dynamic(0)).unwrap();
    let use_once = |m: ModuleId| {
        clock.advance(Duration::from_secs(1));
        drop(manager.checkout(m).unwrap());
    };
    // hot (tier 1) used first, then b, then a: a is the most recent of tier 0.
    use_once(hot);
    use_once(b);
    use_once(a);
    assert_eq!(manager.metrics().live, 3);
    // c needs room: b goes (tier 0, least recently used), not hot although it is older.
    use_once(c);
    let idle = |m| manager.pool(m).unwrap().idle();
    assert_eq!((idle(hot), idle(a), idle(b), idle(c)), (1, 1, 0, 1));
    // Then a (tier 0, least recent now), then c; hot last.
    use_once(b);
    assert_eq!((idle(hot), idle(a), idle(b), idle(c)), (1, 0, 1, 1));
    manager.pool(b).unwrap().prewarm(2).unwrap();
    assert_eq!((idle(hot), idle(a), idle(b), idle(c)), (1, 0, 2, 0));
    manager.pool(b).unwrap().prewarm(3).unwrap();
    assert_eq!((idle(hot), idle(a), idle(b), idle(c)), (0, 0, 3, 0));
    assert_eq!(manager.metrics().evicted, 4);
    // Nothing idle elsewhere and all of b's checked out: the capacity holds.
    let leases: Vec<_> = (0..3).map(|_| manager.checkout(b).unwrap()).collect();
    assert!(matches!(manager.checkout(a), Err(LifecycleError::CapacityReached { capacity: 3 })));
    drop(leases);
}

#[test]
fn instances_by_id_are_created_found_and_destroyed() {
    let engine = engine();
    let manager = InstanceManager::default();
    let m = manager.register(factory(&engine, &contract()), PoolConfig::default()).unwrap();
    let id = manager.create(m).unwrap();
    let held = manager.get(id).unwrap();
    assert_eq!(held.lock().unwrap().call("call", &[Value::I64(1)]).unwrap(), [Value::I64(2)]);
    assert_eq!(held.lock().unwrap().lifecycle().state(), State::InUse);
    assert_eq!(manager.metrics().live, 1);
    assert!(manager.destroy(id));
    assert!(!manager.destroy(id));
    assert!(manager.get(id).is_none());
    assert_eq!(held.lock().unwrap().lifecycle().state(), State::Destroyed);
    let metrics = manager.metrics();
    assert_eq!((metrics.live, metrics.created, metrics.retired), (0, 1, 1));
    assert!(matches!(manager.checkout(ModuleId(9)), Err(LifecycleError::UnknownModule(ModuleId(9)))));
}

#[test]
fn only_legal_transitions_are_allowed() {
    use State::*;
    let all = [Created, Ready, InUse, Idle, Retiring, Destroyed];
    let legal = [
        (Created, Ready),
        (Created, Retiring),
        (Ready, InUse),
        (Ready, Retiring),
        (InUse, Idle),
        (InUse, Retiring),
        (Idle, InUse),
        (Idle, Retiring),
        (Retiring, Destroyed),
    ];
    for from in all {
        for to in all {
            assert_eq!(from.can_become(to), legal.contains(&(from, to)), "{from:?} -> {to:?}");
        }
    }
    let mut c = LifecycleController::new(Duration::ZERO);
    let e = c.transition(InUse, Duration::ZERO).unwrap_err();
    assert!(matches!(e, LifecycleError::IllegalTransition { from: Created, to: InUse }));
    for s in [Ready, InUse, Idle, InUse, Retiring, Destroyed] {
        c.transition(s, Duration::from_secs(1)).unwrap();
    }
    assert_eq!((c.state(), c.uses()), (Destroyed, 2));
}

#[test]
fn many_threads_check_out_and_in_at_once() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<InstanceManager>();
    send_sync::<InstancePool>();
    let engine = engine();
    let manager = Arc::new(InstanceManager::default());
    let m = manager
        .register(
            factory(&engine, &contract()),
            PoolConfig { strategy: PoolStrategy::Dynamic { min: 2, max: 4 }, ..Default::default() },
        )
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let manager = Arc::clone(&manager);
            std::thread::spawn(move || {
                for k in 0..25i64 {
                    let mut lease = loop {
                        match manager.checkout(m) {
                            Ok(l) => break l,
                            Err(LifecycleError::Exhausted { .. }) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    };
                    assert_eq!(lease.call("look", &[]).unwrap(), initial_look());
                    lease.call("attack", &[Value::I64(t * 100 + k)]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let metrics = manager.metrics();
    assert_eq!(metrics.resets, 100);
    assert!(metrics.live <= 4 && metrics.created <= 4, "{metrics:?}");
    // Every check-out but each instance's first was a reuse.
    assert!(metrics.reused >= 100 - metrics.created && metrics.reused < 100, "{metrics:?}");
}

mod snapshot;

#[test]
fn a_thread_gets_back_the_instance_it_checked_in_and_no_idle_instance_is_out_of_reach() {
    let engine = engine();
    let pool = InstancePool::new(
        factory(&engine, &contract()),
        PoolConfig { strategy: PoolStrategy::Fixed(3), ..Default::default() },
        Arc::new(ManualClock::new()),
    )
    .unwrap();
    // With three idle, a first-in first-out pool would hand out the other two next.
    let first = pool.checkout().unwrap().id();
    for _ in 0..3 {
        let lease = pool.checkout().unwrap();
        assert_eq!(lease.id(), first, "this thread's last check-in comes back first");
    }
    // Parked by another thread: still idle, and checked out here when nothing else is left.
    let other = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.checkout().unwrap().id()).join().unwrap()
    };
    assert_eq!(pool.idle(), 3);
    let held: Vec<_> = (0..3).map(|_| pool.checkout().unwrap()).collect();
    let mut ids: Vec<_> = held.iter().map(|l| l.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert!(ids.contains(&other) && ids.contains(&first), "{ids:?}");
    assert!(matches!(pool.checkout(), Err(LifecycleError::Exhausted { max: 3, .. })));
    drop(held);
    assert_eq!((pool.idle(), pool.live()), (3, 3));
    assert_eq!(pool.metrics().resets, 8);
}

/// Leases keep their pool as a per-thread spare between one lease and the next, but a pool is
/// still dropped (its instances with it) with its last handle and last lease: a lease dropped
/// on another thread, which stays alive with its spare, does not keep it.
#[test]
fn a_pool_goes_with_its_last_handle_and_lease() {
    struct Dropped(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let engine = engine();
    let pool = || {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = Dropped(Arc::clone(&flag));
        let module = Module::new(&engine, wes_decode::decode_text(&contract()).unwrap()).unwrap();
        let mut linker = Linker::new();
        linker.func_wrap("env", "inc", move |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
            let _ = &held;
            Ok(x + 1)
        });
        let factory = InstanceFactory::new(&engine, &linker, &module).unwrap();
        let config = PoolConfig { strategy: PoolStrategy::Fixed(1), ..PoolConfig::default() };
        (InstancePool::new(factory, config, Arc::new(ManualClock::new())).unwrap(), flag)
    };
    let dropped = |flag: &Arc<std::sync::atomic::AtomicBool>| flag.load(std::sync::atomic::Ordering::SeqCst);

    // On this thread: leases come and go, then the pool handle.
    let (p, flag) = pool();
    for _ in 0..3 {
        let mut lease = p.checkout().unwrap();
        assert_eq!(lease.call("call", &[Value::I64(1)]).unwrap(), [Value::I64(2)]);
    }
    drop(p.clone());
    assert!(!dropped(&flag));
    drop(p);
    assert!(dropped(&flag), "a lease's spare kept the pool");

    // The handle first, then the last lease.
    let (p, flag) = pool();
    let lease = p.checkout().unwrap();
    drop(p);
    assert!(!dropped(&flag), "a lease still uses it");
    drop(lease);
    assert!(dropped(&flag));

    // A lease dropped on another thread that stays alive; the last handle goes here.
    let (p, flag) = pool();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let p2 = p.clone();
        scope.spawn(move || {
            let mut lease = p2.checkout().unwrap();
            assert_eq!(lease.call("call", &[Value::I64(1)]).unwrap(), [Value::I64(2)]);
            drop(lease);
            drop(p2);
            done_tx.send(()).unwrap();
            let _ = end_rx.recv();
        });
        done_rx.recv().unwrap();
        assert!(!dropped(&flag));
        drop(p);
        assert!(dropped(&flag), "another thread's spare kept the pool");
        drop(end_tx);
    });
}
