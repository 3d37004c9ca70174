//! `[gas.prediction]`: static bounds, estimates from history, admission before a call starts,
//! and prepaid reservations settled to exactly what the call used.

use wes::{ErrorCode, ErrorKind, GasAccount, Prediction, Runtime, RuntimeConfig, Value};

const CONTRACT: &str = r#"(module
  (func (export "fixed") (param i32) (result i32)
    local.get 0 i32.const 3 i32.mul i32.const 7 i32.add)
  (func (export "work") (param $n i32) (result i32) (local $acc i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    local.get $acc))"#;

fn runtime(prediction: &str) -> Runtime {
    Runtime::new(RuntimeConfig::from_toml(&format!("[gas.prediction]\n{prediction}")).unwrap()).unwrap()
}

#[test]
fn a_static_bound_is_the_prediction_and_the_gas_of_straight_line_code() {
    let rt = runtime("");
    let m = rt.load(CONTRACT.as_bytes()).unwrap();
    let Prediction::AtMost(bound) = rt.predict(&m, "fixed", 0) else { panic!("{:?}", rt.predict(&m, "fixed", 0)) };
    let mut i = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
    assert_eq!(i.execute("fixed", &[Value::I32(5)]).unwrap().gas.used, bound, "straight-line code uses its bound");
    assert!(matches!(rt.predict(&m, "work", 0), Prediction::Unknown(r) if r.contains("loop")));
    assert!(matches!(rt.predict(&m, "nope", 0), Prediction::Unknown(r) if r.contains("no exported function")));
    let free = Runtime::new(RuntimeConfig::from_toml("[gas]\nmetered = false\n").unwrap()).unwrap();
    let m = free.load(CONTRACT.as_bytes()).unwrap();
    assert_eq!(free.predict(&m, "work", 0), Prediction::Exact(0));
}

#[test]
fn admission_refuses_an_unaffordable_call_before_it_runs() {
    let rt = runtime("admission = \"static_bound\"\n");
    let m = rt.load(CONTRACT.as_bytes()).unwrap();
    let Prediction::AtMost(bound) = rt.predict(&m, "fixed", 0) else { panic!() };
    let mut short = rt.create_instance(&m, rt.gas_meter(bound - 1)).unwrap();
    let e = short.execute("fixed", &[Value::I32(1)]).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Resource, ErrorCode::Unaffordable));
    assert!(e.is_retryable());
    assert!(e.message().contains("static bound"), "{e}");
    assert_eq!(short.gas_remaining(), bound - 1, "nothing ran");
    // Loops have no bound: admitted, and stopped by the meter as ever.
    assert_eq!(short.execute("work", &[Value::I32(1_000_000)]).unwrap().error.unwrap().code(), ErrorCode::OutOfGas);
    let mut enough = rt.create_instance(&m, rt.gas_meter(bound)).unwrap();
    assert!(enough.execute("fixed", &[Value::I32(1)]).unwrap().success);
}

#[test]
fn history_estimates_unbounded_calls_and_admission_can_use_them() {
    let rt = runtime("record_history = true\nadmission = \"estimate\"\n");
    let m = rt.load(CONTRACT.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(10_000_000)).unwrap();
    let mut gas = Vec::new();
    for n in [10, 20, 30, 40] {
        gas.push(i.execute_sized("work", &[Value::I32(n)], n as u64).unwrap().gas.used);
    }
    // The loop's cost is exactly linear in n, so the fitted line predicts the next call.
    let per_step = gas[1] - gas[0];
    let Prediction::Estimate(e) = rt.predict(&m, "work", 100) else { panic!("{:?}", rt.predict(&m, "work", 100)) };
    let actual = i.execute_sized("work", &[Value::I32(100)], 100).unwrap().gas.used;
    assert_eq!(e, actual, "per step {per_step}");
    // An instance whose meter cannot cover the estimate is refused.
    let mut poor = rt.create_instance(&m, rt.gas_meter(e / 2)).unwrap();
    assert_eq!(poor.execute_sized("work", &[Value::I32(100)], 100).unwrap_err().code(), ErrorCode::Unaffordable);
}

#[test]
fn a_reservation_is_prepaid_and_the_account_pays_exactly_what_the_call_used() {
    let rt = runtime("record_history = true\nreserve_margin_percent = 50\n");
    let m = rt.load(CONTRACT.as_bytes()).unwrap();
    let account = GasAccount::new(1_000_000);
    for (export, n) in [("fixed", 3), ("work", 50), ("work", 60)] {
        let before = account.balance();
        let reservation = rt.reserve(&account, &m, export, n).unwrap();
        let mut i = rt.create_instance(&m, rt.gas_meter(reservation.amount())).unwrap();
        let r = i.execute_sized(export, &[Value::I32(n as i32)], n).unwrap();
        assert!(r.success, "{export} {n}: {:?}", r.error);
        let settled = account.settle(reservation, r.gas.used);
        assert_eq!(before - account.balance(), r.gas.used, "{export} {n}: {settled:?}");
    }
    let e = rt.reserve(&GasAccount::new(5), &m, "fixed", 0).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Unaffordable);
}
