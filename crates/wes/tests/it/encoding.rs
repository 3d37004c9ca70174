//! Data encoders: every value type round-trips exactly through every format.

use wes::{Encoding, ExternRef, FuncRef, Value};

fn every_value() -> Vec<Value> {
    vec![
        Value::I32(0),
        Value::I32(i32::MIN),
        Value::I64(i64::MAX),
        Value::I64(-1),
        Value::f32(1.5),
        Value::F32(0x7fc0_1234), // a NaN with a payload
        Value::f64(-0.0),
        Value::F64(0xfff8_0000_0000_0001),
        Value::V128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
        Value::V128(u128::MAX),
        Value::FuncRef(None),
        Value::FuncRef(Some(FuncRef::from_index(7))),
        Value::ExternRef(None),
        Value::ExternRef(Some(ExternRef(u32::MAX))),
    ]
}

#[test]
fn every_value_type_round_trips_in_every_format() {
    let values = every_value();
    for encoding in Encoding::ALL {
        let e = encoding.encoder();
        let bytes = e.encode(&values).unwrap();
        assert_eq!(e.decode(&bytes).unwrap(), values, "{encoding:?}");
        // Each value alone, and none.
        for v in &values {
            assert_eq!(e.decode(&e.encode(&[*v]).unwrap()).unwrap(), [*v], "{encoding:?} {v:?}");
        }
        assert_eq!(e.decode(&e.encode(&[]).unwrap()).unwrap(), []);
    }
}

#[test]
fn json_is_readable_and_floats_keep_their_bits() {
    let bytes = Encoding::Json.encoder().encode(&[Value::I32(5), Value::f32(1.0), Value::FuncRef(None)]).unwrap();
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), r#"[{"i32":5},{"f32":1065353216},{"funcref":null}]"#);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for encoding in Encoding::ALL {
        let e = encoding.encoder();
        let good = e.encode(&every_value()).unwrap();
        for cut in [1, good.len() / 2, good.len() - 1] {
            // A truncated encoding decodes to an error or (protobuf, which has no framing) to a
            // prefix of the values; never a panic and never a value that was not there.
            if let Ok(v) = e.decode(&good[..cut]) {
                assert!(every_value().starts_with(&v), "{encoding:?} cut at {cut}: {v:?}");
            }
        }
        assert!(e.decode(&[0xff; 7]).is_err(), "{encoding:?}");
    }
}
