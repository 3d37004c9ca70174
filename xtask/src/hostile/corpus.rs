//! The hostile-module corpus: small, valid modules shaped to make a compiler's work grow faster
//! than its input (deep nesting, huge bodies, many locals, live values, functions, branch
//! targets and signatures). Every module is generated here, deterministically, never checked
//! in as a blob.

use std::borrow::Cow;

use wasm_encoder::{
    BlockType, CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction as I, MemArg,
    MemArgTarget, MemorySection, MemoryType, Module, RefType, TableSection, TableType, TypeSection, ValType,
};

/// One case of the corpus.
pub(crate) struct Case {
    /// Short stable name, used on the command line and in the table.
    pub(crate) name: &'static str,
    /// What the module is.
    pub(crate) what: &'static str,
    /// Builds the module's bytes, every count divided by the argument (1: full size).
    pub(crate) build: fn(u32) -> Vec<u8>,
}

/// Every case, in the order the table lists them.
pub(crate) fn cases() -> Vec<Case> {
    vec![
        Case { name: "blocks-100k", what: "one function, 100k blocks in a row", build: |d| blocks(100_000 / d) },
        Case { name: "if-else-100k", what: "one function, 100k if/else in a row", build: |d| if_else(100_000 / d) },
        Case { name: "br-if-100k", what: "one function, 100k br_if out of one block", build: |d| br_ifs(100_000 / d) },
        Case { name: "nest-block-10k", what: "10k nested blocks", build: |d| nest(Nest::Block, 10_000 / d) },
        Case { name: "nest-loop-10k", what: "10k nested loops", build: |d| nest(Nest::Loop, 10_000 / d) },
        Case { name: "nest-if-10k", what: "10k nested ifs", build: |d| nest(Nest::If, 10_000 / d) },
        Case { name: "nest-block-100k", what: "100k nested blocks", build: |d| nest(Nest::Block, 100_000 / d) },
        Case { name: "nest-loop-100k", what: "100k nested loops", build: |d| nest(Nest::Loop, 100_000 / d) },
        Case { name: "nest-if-100k", what: "100k nested ifs", build: |d| nest(Nest::If, 100_000 / d) },
        Case { name: "body-1m", what: "one body of 1M instructions (200k loads)", build: |d| body(200_000 / d) },
        Case {
            name: "locals-50k-i32",
            what: "50k i32 locals, each set in a block",
            build: |d| locals(ValType::I32, 49_999 / d),
        },
        Case {
            name: "locals-50k-i64",
            what: "50k i64 locals, each set in a block",
            build: |d| locals(ValType::I64, 49_999 / d),
        },
        Case {
            name: "locals-50k-f32",
            what: "50k f32 locals, each set in a block",
            build: |d| locals(ValType::F32, 49_999 / d),
        },
        Case {
            name: "locals-50k-f64",
            what: "50k f64 locals, each set in a block",
            build: |d| locals(ValType::F64, 49_999 / d),
        },
        Case {
            name: "locals-50k-v128",
            what: "50k v128 locals, each set in a block",
            build: |d| locals(ValType::V128, 49_999 / d),
        },
        Case {
            name: "live-200k",
            what: "200k values live across recursive calls",
            build: |d| live_values(200_000 / d, 10_000 / d),
        },
        Case { name: "funcs-100k", what: "100k small functions calling the next", build: |d| functions(100_000 / d) },
        Case {
            name: "br-table-64k",
            what: "a br_table of 65,520 targets over 1k labels",
            build: |d| br_table(65_520 / d),
        },
        Case {
            name: "br-table-1m",
            what: "a br_table of 1M targets over 1k labels",
            build: |d| br_table(1_000_000 / d),
        },
        // The same shapes just inside the default admission limits (wes_core::FunctionLimits):
        // these must compile, within the budget.
        Case {
            name: "blocks-at-limit",
            what: "7,999 blocks in a row (16k control operators)",
            build: |d| blocks(7_999 / d),
        },
        Case { name: "if-else-at-limit", what: "5,333 if/else in a row", build: |d| if_else(5_333 / d) },
        Case { name: "br-if-at-limit", what: "2,048 br_if out of one block", build: |d| br_ifs(2_048 / d) },
        Case { name: "nest-block-at-limit", what: "4,096 nested blocks", build: |d| nest(Nest::Block, 4_096 / d) },
        Case { name: "nest-loop-at-limit", what: "4,096 nested loops", build: |d| nest(Nest::Loop, 4_096 / d) },
        Case { name: "nest-if-at-limit", what: "4,096 nested ifs", build: |d| nest(Nest::If, 4_096 / d) },
        Case { name: "body-at-limit", what: "one body of 100k instructions (20k loads)", build: |d| body(19_999 / d) },
        Case {
            name: "locals-at-limit",
            what: "3,800 i64 locals, each set in a block",
            build: |d| locals(ValType::I64, 3_800 / d),
        },
        Case {
            name: "types-at-limit",
            what: "1,999 function types, each used by a call_indirect",
            build: |d| call_indirect_types(1_999 / d),
        },
        Case {
            name: "live-at-limit",
            what: "24k values live across recursive calls",
            build: |d| live_values(24_000 / d, 10_000 / d),
        },
        Case { name: "funcs-at-limit", what: "5k small functions calling the next", build: |d| functions(5_000 / d) },
        Case {
            name: "types-10k",
            what: "10k function types, each used by a call_indirect",
            build: |d| call_indirect_types(10_000 / d),
        },
    ]
}

/// A module of one memory, one table and the given functions (type, body); function 0 is
/// exported as `f`.
fn module(types: &[(Vec<ValType>, Vec<ValType>)], funcs: &[(u32, Function)], memory: bool, table: bool) -> Vec<u8> {
    let mut ts = TypeSection::new();
    for (p, r) in types {
        ts.ty().function(p.iter().copied(), r.iter().copied());
    }
    let mut fs = FunctionSection::new();
    let mut code = CodeSection::new();
    for (ty, body) in funcs {
        fs.function(*ty);
        code.function(body);
    }
    let mut m = Module::new();
    m.section(&ts).section(&fs);
    if table {
        let mut tables = TableSection::new();
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: 1,
            maximum: None,
            shared: false,
        });
        m.section(&tables);
    }
    if memory {
        let mut mems = MemorySection::new();
        mems.memory(MemoryType { minimum: 1, maximum: None, memory64: false, shared: false, page_size_log2: None });
        m.section(&mems);
    }
    let mut ex = ExportSection::new();
    ex.export("f", ExportKind::Func, 0);
    m.section(&ex).section(&code);
    m.finish()
}

/// One function of type `(i32) -> i32` with `locals` and the instructions `body` writes (the
/// final `end` is added).
fn one_function(locals: Vec<(u32, ValType)>, memory: bool, body: impl FnOnce(&mut Function)) -> Vec<u8> {
    let mut f = Function::new(locals);
    body(&mut f);
    f.instruction(&I::End);
    module(&[(vec![ValType::I32], vec![ValType::I32])], &[(0, f)], memory, false)
}

/// `local 0 += k`
fn bump(f: &mut Function, k: i32) {
    f.instruction(&I::LocalGet(0)).instruction(&I::I32Const(k)).instruction(&I::I32Add).instruction(&I::LocalSet(0));
}

fn blocks(n: u32) -> Vec<u8> {
    one_function(vec![], false, |f| {
        for i in 0..n {
            f.instruction(&I::Block(BlockType::Empty));
            bump(f, i as i32);
            f.instruction(&I::End);
        }
        f.instruction(&I::LocalGet(0));
    })
}

fn if_else(n: u32) -> Vec<u8> {
    one_function(vec![], false, |f| {
        for i in 0..n {
            f.instruction(&I::LocalGet(0)).instruction(&I::If(BlockType::Empty));
            bump(f, i as i32);
            f.instruction(&I::Else);
            bump(f, -(i as i32));
            f.instruction(&I::End);
        }
        f.instruction(&I::LocalGet(0));
    })
}

fn br_ifs(n: u32) -> Vec<u8> {
    one_function(vec![], false, |f| {
        f.instruction(&I::Block(BlockType::Empty));
        for _ in 0..n {
            f.instruction(&I::LocalGet(0))
                .instruction(&I::I32Const(1))
                .instruction(&I::I32Sub)
                .instruction(&I::LocalTee(0))
                .instruction(&I::BrIf(0));
        }
        f.instruction(&I::End).instruction(&I::LocalGet(0));
    })
}

#[derive(Clone, Copy)]
enum Nest {
    Block,
    Loop,
    If,
}

fn nest(kind: Nest, n: u32) -> Vec<u8> {
    one_function(vec![], false, |f| {
        for _ in 0..n {
            match kind {
                Nest::Block => f.instruction(&I::Block(BlockType::Empty)),
                Nest::Loop => f.instruction(&I::Loop(BlockType::Empty)),
                Nest::If => f.instruction(&I::LocalGet(0)).instruction(&I::If(BlockType::Empty)),
            };
        }
        bump(f, 1);
        if let Nest::Loop = kind {
            // Branch back to a loop half-way out, so the nest is a real loop nest.
            f.instruction(&I::LocalGet(0)).instruction(&I::BrIf(n / 2));
        }
        for i in 0..n {
            f.instruction(&I::End);
            if i % 2 == 0 {
                bump(f, i as i32);
            }
        }
        f.instruction(&I::LocalGet(0));
    })
}

/// `loads` groups of `local.get 0; i32.load offset=k; local.get 1; i32.add; local.set 1`:
/// 5 instructions each, one straight-line segment with a bounds check per load.
fn body(loads: u32) -> Vec<u8> {
    one_function(vec![(1, ValType::I32)], true, |f| {
        for i in 0..loads {
            let memarg =
                MemArg { offset: u64::from(i % 1000) * 4, align: 2, target: MemArgTarget::Memory(0), ordering: None };
            f.instruction(&I::LocalGet(0))
                .instruction(&I::I32Load(memarg))
                .instruction(&I::LocalGet(1))
                .instruction(&I::I32Add)
                .instruction(&I::LocalSet(1));
        }
        f.instruction(&I::LocalGet(1));
    })
}

/// `n` locals of `ty` (49,999 and the parameter are as many as wasmparser allows), each copied
/// to the next inside a block of its own, so every local is defined in a different block.
fn locals(ty: ValType, n: u32) -> Vec<u8> {
    one_function(vec![(n, ty)], false, |f| {
        for i in 1..n {
            f.instruction(&I::Block(BlockType::Empty))
                .instruction(&I::LocalGet(i))
                .instruction(&I::LocalSet(i + 1))
                .instruction(&I::End);
        }
        f.instruction(&I::LocalGet(0));
    })
}

/// A function that pushes `n` values (`local.get 0 + k`), calling itself every `every` values
/// while they are all live, then adds them up.
fn live_values(n: u32, every: u32) -> Vec<u8> {
    one_function(vec![], false, |f| {
        for k in 0..n {
            f.instruction(&I::LocalGet(0)).instruction(&I::I32Const(k as i32)).instruction(&I::I32Add);
            if k % every == every - 1 {
                f.instruction(&I::LocalGet(0)).instruction(&I::Call(0)).instruction(&I::Drop);
            }
        }
        for _ in 1..n {
            f.instruction(&I::I32Add);
        }
    })
}

/// `n` functions `(i32) -> i32`, each calling the next; only the first is exported.
fn functions(n: u32) -> Vec<u8> {
    let funcs: Vec<(u32, Function)> = (0..n)
        .map(|i| {
            let mut f = Function::new(vec![]);
            f.instruction(&I::LocalGet(0));
            if i + 1 < n {
                f.instruction(&I::Call(i + 1));
            }
            f.instruction(&I::I32Const(1)).instruction(&I::I32Add).instruction(&I::End);
            (0, f)
        })
        .collect();
    module(&[(vec![ValType::I32], vec![ValType::I32])], &funcs, false, false)
}

/// 1,000 nested blocks around one `br_table` of `targets` targets spread over them.
fn br_table(targets: u32) -> Vec<u8> {
    const DEPTH: u32 = 1_000;
    one_function(vec![], false, |f| {
        for _ in 0..DEPTH {
            f.instruction(&I::Block(BlockType::Empty));
        }
        let labels: Vec<u32> = (0..targets).map(|i| (i.wrapping_mul(7919)) % DEPTH).collect();
        f.instruction(&I::LocalGet(0)).instruction(&I::BrTable(Cow::Owned(labels), 0));
        for i in 0..DEPTH {
            f.instruction(&I::End);
            bump(f, i as i32);
        }
        f.instruction(&I::LocalGet(0));
    })
}

/// `n` distinct function types (parameters spelled by the base-4 digits of `k + 1`), and one
/// function that calls through table 0 with each of them.
fn call_indirect_types(n: u32) -> Vec<u8> {
    const KINDS: [ValType; 4] = [ValType::I32, ValType::I64, ValType::F32, ValType::F64];
    let mut types = vec![(vec![ValType::I32], vec![ValType::I32])];
    for k in 0..n {
        let mut x = k + 1;
        let mut params = Vec::new();
        while x > 0 {
            params.push(KINDS[(x % 4) as usize]);
            x /= 4;
        }
        types.push((params, vec![]));
    }
    let mut f = Function::new(vec![]);
    for (t, (params, _)) in types.iter().enumerate().skip(1) {
        for p in params {
            match p {
                ValType::I32 => f.instruction(&I::I32Const(1)),
                ValType::I64 => f.instruction(&I::I64Const(2)),
                ValType::F32 => f.instruction(&I::F32Const(3.0.into())),
                _ => f.instruction(&I::F64Const(4.0.into())),
            };
        }
        f.instruction(&I::LocalGet(0)).instruction(&I::CallIndirect { type_index: t as u32, table_index: 0 });
    }
    f.instruction(&I::LocalGet(0)).instruction(&I::End);
    module(&types, &[(0, f)], false, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_is_valid_and_small() {
        for case in cases() {
            // The big cases take a while to validate in a debug build; the small ones
            // exercise the same generators.
            if case.name.contains("100k") || case.name.contains("1m") || case.name.contains("50k") {
                continue;
            }
            let bytes = (case.build)(1);
            assert!(bytes.len() < super::super::SMALL_MODULE, "{}: {} bytes", case.name, bytes.len());
            wes_decode::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        }
        for bytes in [blocks(10), if_else(10), br_ifs(10), nest(Nest::Loop, 10), body(10), locals(ValType::V128, 50)] {
            wes_decode::decode(&bytes).unwrap();
        }
        for bytes in [nest(Nest::If, 10), nest(Nest::Block, 10), live_values(100, 10), functions(10)] {
            wes_decode::decode(&bytes).unwrap();
        }
    }
}
