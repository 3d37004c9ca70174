//! The workloads: the WAT files in `benches/workloads/` (embedded at build time), one module
//! generated here and the real-world C modules of [`crate::realworld`], each with the calls that
//! set it up and the call that is timed.

use anyhow::{Context, Result};

use crate::large_module;
use crate::runtimes::Val;

/// What is timed.
pub enum Kind {
    /// One call of `func(args)` on an instance that ran `setup` first.
    Call,
    /// `rounds` times: a fresh store, instantiation and one call of `func(args)`; reported per
    /// round.
    InstantiateCall { rounds: u32 },
    /// Decoding, validating and compiling the module; `func(args)` only checks the result.
    Compile,
    /// From the bytes to the first result: compiling, a fresh instance and one call of
    /// `func(args)`, what a user waits for a module never seen before.
    FirstResult,
}

pub struct Workload {
    pub name: &'static str,
    /// What it measures and at what size, for the table.
    pub what: String,
    pub wasm: Vec<u8>,
    /// Calls made once on the instance before timing (not timed).
    pub setup: Vec<(&'static str, Vec<Val>)>,
    pub func: &'static str,
    pub args: Vec<Val>,
    pub kind: Kind,
    /// The result computed natively (in Rust, or by the same C built for the host), where a
    /// reference exists: the runtimes must not only agree with each other but be right.
    pub reference: Option<Vec<Val>>,
}

fn wat(name: &str, text: &str) -> Result<Vec<u8>> {
    wat::parse_str(text).with_context(|| format!("assembling the {name} workload"))
}

/// All workloads, sized for a full run or for `--quick`.
pub fn all(quick: bool) -> Result<Vec<Workload>> {
    let size = |full: u32, small: u32| if quick { small } else { full };
    let fib_n = size(32, 27);
    let loop_n = size(100_000_000, 10_000_000);
    let sha_len = size(4 << 20, 1 << 20);
    let mat_n = size(256, 128);
    let mem_rounds = size(40, 10);
    let host_n = size(10_000_000, 1_000_000);
    let contract_rounds = size(2_000, 500);
    let gen_funcs = size(2_000, 500);
    let big_loop_n = size(50_000_000, 10_000_000);

    let generated = generated_module(gen_funcs)?;
    let mut all = vec![
        Workload {
            name: "fib",
            what: format!("recursive fib({fib_n}): call-heavy"),
            wasm: wat("fib", include_str!("../workloads/fib.wat"))?,
            setup: vec![],
            func: "fib",
            args: vec![Val::I32(fib_n as i32)],
            kind: Kind::Call,
            reference: Some(vec![Val::I64(fib(fib_n))]),
        },
        Workload {
            name: "xorshift",
            what: format!("xorshift64 loop, {loop_n} iterations: branch-heavy, short blocks"),
            wasm: wat("xorshift", include_str!("../workloads/xorshift.wat"))?,
            setup: vec![],
            func: "run",
            args: vec![Val::I64(i64::from(loop_n))],
            kind: Kind::Call,
            reference: Some(vec![Val::I64(xorshift(loop_n))]),
        },
        Workload {
            name: "sha256",
            what: format!("SHA-256 of {} MiB of linear memory", sha_len >> 20),
            wasm: wat("sha256", include_str!("../workloads/sha256.wat"))?,
            setup: vec![("fill", vec![Val::I32(sha_len as i32)])],
            func: "hash",
            args: vec![Val::I32(sha_len as i32)],
            kind: Kind::Call,
            reference: Some(vec![Val::I64(sha256_prefix(sha_len))]),
        },
        Workload {
            name: "matmul",
            what: format!("f64 matrix multiply, {mat_n}x{mat_n}"),
            wasm: wat("matmul", include_str!("../workloads/matmul.wat"))?,
            setup: vec![("init", vec![Val::I32(mat_n as i32)])],
            func: "run",
            args: vec![Val::I32(mat_n as i32)],
            kind: Kind::Call,
            reference: Some(vec![Val::F64(matmul(mat_n as usize).to_bits())]),
        },
        Workload {
            name: "bulk-memory",
            what: format!("memory.fill + 2x memory.copy of 8 MiB, {mem_rounds} rounds"),
            wasm: wat("memory", include_str!("../workloads/memory.wat"))?,
            setup: vec![],
            func: "run",
            args: vec![Val::I32(mem_rounds as i32)],
            kind: Kind::Call,
            reference: None,
        },
        Workload {
            name: "host-call",
            what: format!("{host_n} calls of an imported host function"),
            wasm: wat("hostcall", include_str!("../workloads/hostcall.wat"))?,
            setup: vec![],
            func: "run",
            args: vec![Val::I32(host_n as i32)],
            kind: Kind::Call,
            reference: None,
        },
        Workload {
            name: "instantiate+call",
            what: "fresh store + instantiate a small contract + one call (time per round)".to_string(),
            wasm: wat("contract", include_str!("../workloads/contract.wat"))?,
            setup: vec![],
            func: "call",
            args: vec![Val::I64(42)],
            kind: Kind::InstantiateCall { rounds: contract_rounds },
            reference: None,
        },
        Workload {
            name: "instantiate-large",
            what: format!(
                "fresh store + instantiate a large contract ({} functions, a {}-entry table, {} KiB of data, {} pages) + one call",
                large_module::FUNCS,
                large_module::TABLE,
                large_module::DATA_BYTES >> 10,
                large_module::PAGES
            ),
            wasm: wat("large", &large_module::wat())?,
            setup: vec![],
            func: "call",
            args: vec![Val::I64(42)],
            kind: Kind::InstantiateCall { rounds: size(500, 100) },
            reference: None,
        },
        Workload {
            name: "instantiate+dirty-64k",
            what: "fresh store + instantiate a 16 MiB memory + a call writing 64 KiB of it (one write per 4 KiB page)"
                .to_string(),
            wasm: wat("dirty", include_str!("../workloads/dirty.wat"))?,
            setup: vec![],
            func: "dirty",
            args: vec![Val::I32(64 << 10)],
            kind: Kind::InstantiateCall { rounds: size(500, 100) },
            reference: Some(vec![Val::I64(16)]),
        },
        Workload {
            name: "instantiate+dirty-16m",
            what: "fresh store + instantiate a 16 MiB memory + a call writing all of it (one write per 4 KiB page)"
                .to_string(),
            wasm: wat("dirty", include_str!("../workloads/dirty.wat"))?,
            setup: vec![],
            func: "dirty",
            args: vec![Val::I32(16 << 20)],
            kind: Kind::InstantiateCall { rounds: size(40, 10) },
            reference: Some(vec![Val::I64(4096)]),
        },
        Workload {
            name: "loop-in-big-fn",
            what: format!(
                "an empty loop (counter in a global) and an xorshift loop, {big_loop_n} iterations each, \
                 inside a generated 16 KB function with 48 live values"
            ),
            wasm: big_function_module()?,
            setup: vec![],
            func: "run",
            args: vec![Val::I64(i64::from(big_loop_n))],
            kind: Kind::Call,
            reference: None,
        },
        Workload {
            name: "compile",
            what: format!("compile a generated module: {gen_funcs} functions, {} KiB", generated.len() >> 10),
            wasm: generated.clone(),
            setup: vec![],
            func: "main",
            args: vec![Val::I64(1), Val::I64(2)],
            kind: Kind::Compile,
            reference: None,
        },
        Workload {
            name: "first-result",
            what: "bytes to the first result: the compile workload's module, one call of main".to_string(),
            wasm: generated,
            setup: vec![],
            func: "main",
            args: vec![Val::I64(1), Val::I64(2)],
            kind: Kind::FirstResult,
            reference: None,
        },
    ];
    all.extend(crate::realworld::workloads(quick)?);
    Ok(all)
}

fn fib(n: u32) -> i64 {
    let (mut a, mut b) = (0i64, 1i64);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

/// What `xorshift.wat` computes.
fn xorshift(n: u32) -> i64 {
    let (mut x, mut acc) = (88_172_645_463_325_252u64, 0u64);
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        acc = if x & 1 == 0 { acc.wrapping_add(x) } else { acc ^ x.rotate_left(5) };
    }
    acc as i64
}

/// What `matmul.wat` computes, in the same order of operations (so the same bits).
fn matmul(n: usize) -> f64 {
    let a: Vec<f64> = (0..n * n).map(|i| (i % 17) as f64 / 8.0 - 1.0).collect();
    let b: Vec<f64> = (0..n * n).map(|i| (i % 13) as f64 / 4.0 + 0.5).collect();
    let mut total = 0.0;
    // C is summed row by row after the multiply; summing each entry as it is made is the same
    // sequence of additions.
    for i in 0..n {
        for j in 0..n {
            let mut sum = 0.0;
            for k in 0..n {
                sum += a[i * n + k] * b[k * n + j];
            }
            total += sum;
        }
    }
    total
}

/// What `sha256.wat` computes, by the `sha2` crate: the digest of `len` bytes of xorshift64
/// output (little-endian words), its first 8 bytes as a big-endian i64.
fn sha256_prefix(len: u32) -> i64 {
    use sha2::{Digest, Sha256};
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut hasher = Sha256::new();
    for _ in 0..len / 8 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        hasher.update(x.to_le_bytes());
    }
    let digest = hasher.finalize();
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(prefix)
}

/// A deterministic pseudo-random module with `funcs` functions of integer, float, memory and
/// control-flow code, and a `main` that calls them all: compile throughput on something shaped
/// like real code rather than one huge function. Written as WAT, then assembled.
fn generated_module(funcs: u32) -> Result<Vec<u8>> {
    // A fixed-seed xorshift: the module must be the same on every run and machine.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    const OPS: [&str; 9] = ["add", "sub", "mul", "xor", "or", "and", "rotl", "shl", "shr_u"];
    let mut text = String::from("(module\n  (memory 1)\n");
    for i in 0..funcs {
        text += &format!(
            "  (func $f{i} (param $a i64) (param $b i64) (result i64)\n    (local $i i32) (local $x i64) (local $y f64)\n    (local.set $x (local.get $a))\n    (block $done (loop $l\n      (br_if $done (i32.ge_u (local.get $i) (i32.const {})))\n",
            2 + next(3)
        );
        for _ in 0..(8 + next(12)) {
            let op = OPS[next(OPS.len() as u64) as usize];
            let operand = if next(3) == 0 {
                "(local.get $b)".to_string()
            } else {
                format!("(i64.const {})", next(1 << 40) as i64 - (1 << 39))
            };
            text += &format!("      (local.set $x (i64.{op} (local.get $x) {operand}))\n");
        }
        text += &format!(
            "      (if (i64.lt_s (local.get $x) (local.get $b))\n        (then (local.set $x (i64.xor (local.get $x) (i64.const {}))))\n        (else (local.set $x (i64.add (local.get $x) (i64.load offset={} (i32.const 0))))))\n",
            next(1 << 30),
            8 * next(1000)
        );
        text += &format!(
            "      (i64.store offset={} (i32.const 0) (local.get $x))\n      (local.set $y (f64.add (f64.mul (local.get $y) (f64.const 0.5)) (f64.convert_i64_s (local.get $x))))\n      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n      (br $l)))\n",
            8 * next(1000)
        );
        // Calls to the previous function, in chains of at most eight.
        let call = if i % 8 == 0 {
            "(i64.const 0)".to_string()
        } else {
            format!("(call $f{} (local.get $x) (local.get $b))", i - 1)
        };
        text += &format!("    (i64.add (i64.add (local.get $x) {call}) (i64.reinterpret_f64 (local.get $y))))\n");
    }
    text += "  (func (export \"main\") (param $a i64) (param $b i64) (result i64)\n    (local $acc i64)\n";
    for i in 0..funcs {
        text += &format!(
            "    (local.set $acc (i64.add (i64.rotl (local.get $acc) (i64.const 1)) (call $f{i} (i64.add (local.get $a) (local.get $acc)) (local.get $b))))\n"
        );
    }
    text += "    (local.get $acc)))\n";
    wat("generated", &text)
}

/// One big function around two hot loops: the shape LLVM gives contract code (a 16 KB body,
/// many values live across the loops, calls and memory traffic before and after them), where
/// the hand-written workloads are small functions with few live values. What it measures is
/// whether the loops' own values, the gas counter among them, stay in registers while the
/// register allocator has to spill the rest. The same pseudo-random statements on every run.
fn big_function_module() -> Result<Vec<u8>> {
    const LIVE: u64 = 48;
    const STATEMENTS: u32 = 700;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    const OPS: [&str; 7] = ["add", "sub", "mul", "xor", "or", "and", "rotl"];
    let mut text = String::from(
        "(module (memory 1) (global $count (mut i64) (i64.const 0))\n  (func $h (param $x i64) (result i64)\n    \
         (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005)) (i64.const 1442695040888963407)))\n  \
         (func (export \"run\") (param $n i64) (result i64)\n    ",
    );
    for k in 0..LIVE {
        text += &format!("(local $v{k} i64) ");
    }
    text += "(local $i i64) (local $x i64)\n";
    for k in 0..LIVE {
        if k % 6 == 0 {
            text += &format!("    (local.set $v{k} (call $h (i64.add (local.get $n) (i64.const {k}))))\n");
        } else {
            let op = OPS[next(OPS.len() as u64) as usize];
            text += &format!(
                "    (local.set $v{k} (i64.{op} (local.get $v{}) (i64.load offset={} (i32.const 0))))\n",
                k - 1,
                8 * k
            );
        }
    }
    let mut statements = |text: &mut String| {
        for r in 0..STATEMENTS {
            let (a, b, c) = (next(LIVE), next(LIVE), next(LIVE));
            let op = OPS[next(OPS.len() as u64) as usize];
            *text += &if r % 25 == 0 {
                format!("    (local.set $v{a} (call $h (local.get $v{b})))\n")
            } else if r % 7 == 0 {
                format!("    (i64.store offset={} (i32.const 0) (local.get $v{a}))\n", 8 * next(500))
            } else {
                format!("    (local.set $v{a} (i64.{op} (local.get $v{b}) (local.get $v{c})))\n")
            };
        }
    };
    statements(&mut text);
    // The empty loop: its counter is a global, so the only value it carries in a register, if
    // any, is the gas counter, as in a Rust `loop {}` that runs until the gas runs out.
    text += "    (global.set $count (local.get $n))\n    (loop $empty\n      \
             (global.set $count (i64.sub (global.get $count) (i64.const 1)))\n      \
             (br_if $empty (i64.ne (global.get $count) (i64.const 0))))\n";
    // A loop with work: an xorshift64 step per iteration.
    text += "    (local.set $x (i64.or (local.get $v5) (i64.const 1)))\n    (local.set $i (i64.const 0))\n    \
             (loop $work\n      \
             (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))\n      \
             (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))\n      \
             (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))\n      \
             (br_if $work (i64.lt_u (local.tee $i (i64.add (local.get $i) (i64.const 1))) (local.get $n))))\n";
    statements(&mut text);
    let mut sum = "(local.get $x)".to_string();
    for k in 0..LIVE {
        sum = format!("(i64.add {sum} (local.get $v{k}))");
    }
    text += &format!("    {sum}))\n");
    wat("loop-in-big-fn", &text)
}
