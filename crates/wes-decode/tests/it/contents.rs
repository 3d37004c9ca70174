//! What a decoded module records: every section, in index-space order.

use wes_core::module::{ConstOp, DataMode, ElementItems, ElementMode, ExternKind, ImportType};
use wes_core::types::{Mutability, RefType, ValType};
use wes_decode::decode_text;

const MODULE: &str = r#"
(module $demo
  (type $sig (func (param i32) (result i32)))
  (import "env" "log" (func $log (param i32)))
  (import "env" "mem" (memory 1 4))
  (import "env" "base" (global $base i32))
  (table $t 4 8 funcref)
  (table $ext 2 externref)
  (global $g (mut i64) (i64.const -5))
  (global $sum i32 (i32.add (global.get $base) (i32.const 16)))
  (func $double (type $sig) (i32.mul (local.get 0) (i32.const 2)))
  (func $start (call $log (i32.const 1)))
  (export "double" (func $double))
  (export "t" (table $t))
  (export "g" (global $g))
  (start $start)
  (elem (table $t) (i32.const 1) func $double $start)
  (elem $passive funcref (ref.func $double) (ref.null func))
  (elem declare func $double)
  (data (memory 0) (global.get $base) "hello")
  (data $later "xyz")
  (@custom "producer" "made by hand")
)
"#;

#[test]
fn every_section_is_recorded() {
    let m = decode_text(MODULE).unwrap();

    // The declared type, then the implicit ones of the import and of `$start`.
    assert_eq!(m.types.len(), 3);
    assert_eq!(m.imports.len(), 3);
    assert_eq!(m.imports[0].module, "env");
    assert!(matches!(m.imports[1].ty, ImportType::Memory(t) if t.limits.min == 1 && t.limits.max == Some(4)));

    assert_eq!(m.num_imported_functions, 1);
    assert_eq!(m.functions.len(), 3);
    assert_eq!(m.bodies.len(), 2);
    assert_eq!(m.func_type(1).unwrap().params(), &[ValType::I32]);
    assert_eq!(m.func_type(1).unwrap().results(), &[ValType::I32]);

    assert_eq!(m.tables.len(), 2);
    assert_eq!(m.tables[1].element, RefType::ExternRef);
    assert_eq!(m.table_inits, vec![None, None]);
    assert_eq!(m.num_imported_memories, 1);
    assert_eq!(m.num_imported_globals, 1);
    assert_eq!(m.globals.len(), 3);
    assert_eq!(m.globals[1].mutability, Mutability::Var);
    assert_eq!(m.global_inits[0].ops, vec![ConstOp::I64Const(-5)]);
    assert_eq!(m.global_inits[1].ops, vec![ConstOp::GlobalGet(0), ConstOp::I32Const(16), ConstOp::I32Add]);

    let double = m.export("double").unwrap();
    assert_eq!((double.kind, double.index), (ExternKind::Func, 1));
    assert_eq!(m.export("t").unwrap().kind, ExternKind::Table);
    assert_eq!(m.start, Some(2));

    assert_eq!(m.elements.len(), 3);
    assert!(
        matches!(&m.elements[0].mode, ElementMode::Active { table: 0, offset } if offset.ops == [ConstOp::I32Const(1)])
    );
    assert_eq!(m.elements[0].items, ElementItems::Functions(vec![1, 2]));
    assert_eq!(m.elements[1].mode, ElementMode::Passive);
    match &m.elements[1].items {
        ElementItems::Exprs(e) => {
            assert_eq!(e[0].ops, vec![ConstOp::RefFunc(1)]);
            assert_eq!(e[1].ops, vec![ConstOp::RefNull(RefType::FuncRef)]);
        }
        other => panic!("expected expressions, got {other:?}"),
    }
    assert_eq!(m.elements[2].mode, ElementMode::Declared);

    assert_eq!(m.data.len(), 2);
    assert_eq!(m.slice(&m.data[0].range), b"hello");
    assert!(matches!(&m.data[0].mode, DataMode::Active { memory: 0, offset } if offset.ops == [ConstOp::GlobalGet(0)]));
    assert_eq!(m.data[1].mode, DataMode::Passive);
    assert_eq!(m.slice(&m.data[1].range), b"xyz");

    assert_eq!(m.names.module.as_deref(), Some("demo"));
    assert_eq!(m.func_name(1), Some("double"));
    assert_eq!(m.func_name(0), Some("log"));
    assert_eq!(m.custom_sections.len(), 1);
    assert_eq!(m.custom_sections[0].name, "producer");
    assert_eq!(m.slice(&m.custom_sections[0].range), b"made by hand");
}

#[test]
fn bodies_are_ranges_a_backend_can_reread() {
    let m = decode_text(MODULE).unwrap();
    let body = m.body(1).unwrap();
    let reader = wasmparser::BinaryReader::new(m.slice(&body.range), body.range.start as u64);
    let body = wasmparser::FunctionBody::new(reader);
    let ops: Vec<_> = body.get_operators_reader().unwrap().into_iter().collect::<Result<_, _>>().unwrap();
    assert!(matches!(ops[0], wasmparser::Operator::LocalGet { local_index: 0 }));
    assert!(matches!(ops[1], wasmparser::Operator::I32Const { value: 2 }));
    assert!(matches!(ops[2], wasmparser::Operator::I32Mul));
}

#[test]
fn text_and_binary_inputs_agree() {
    let bytes = wat::parse_str(MODULE).unwrap();
    let from_binary = wes_decode::decode(&bytes).unwrap();
    let from_text = decode_text(MODULE).unwrap();
    assert_eq!(from_binary, from_text);
    assert_eq!(wes_decode::decode_any(&bytes).unwrap(), from_text);
    assert_eq!(wes_decode::decode_any(MODULE.as_bytes()).unwrap(), from_text);
}

#[test]
fn a_damaged_name_section_loses_names_not_the_module() {
    let mut bytes = wat::parse_str("(module (func $f))").unwrap();
    // A custom section named "name" whose function-names subsection claims 200 entries.
    bytes.extend_from_slice(&[0, 10, 4, b'n', b'a', b'm', b'e', 1, 3, 0xc8, 0x01, 0]);
    let m = wes_decode::decode(&bytes).unwrap();
    assert!(m.names.functions.len() <= 1);
}
