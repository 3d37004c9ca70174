//! A large contract-shaped module, generated deterministically: what a real contract compiled
//! from Rust looks like to instantiation (hundreds of functions, a function table of a few
//! hundred entries filled by an element segment, about 100 KiB of data segments, 17 pages of
//! memory, a stack-pointer global), with a cheap export so a round is instantiation plus one
//! call. It measures what a fresh instance costs, not code speed.
//!
//! Plain text with no dependency, so the Criterion benches of `wes-runtime` build the same
//! module (they include this file by path).

/// Defined functions.
pub(crate) const FUNCS: u32 = 600;
/// Entries of the function table (all filled by one active element segment).
pub(crate) const TABLE: u32 = 400;
/// Bytes of data segments in total, in [`SEGMENTS`] segments.
pub(crate) const DATA_BYTES: u32 = 100 * 1024;
/// Number of data segments.
pub(crate) const SEGMENTS: u32 = 6;
/// Pages of memory.
pub(crate) const PAGES: u32 = 17;

/// The module as WAT text. It imports `env.inc (i64) -> i64` and exports `memory` and
/// `call (i64) -> i64`.
pub(crate) fn wat() -> String {
    // A fixed-seed xorshift: the module must be the same on every run and machine.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    let mut text = String::with_capacity(600 * 1024);
    text += "(module\n  (type $binop (func (param i64 i64) (result i64)))\n";
    text += "  (import \"env\" \"inc\" (func $inc (param i64) (result i64)))\n";
    text += &format!("  (memory (export \"memory\") {PAGES})\n");
    text += &format!("  (table {TABLE} {TABLE} funcref)\n");
    // What rustc emits: the shadow stack pointer at the top of the first megabyte, and the ends
    // of the static data.
    text += "  (global $sp (mut i32) (i32.const 1048576))\n";
    text += &format!("  (global (export \"__data_end\") i32 (i32.const {}))\n", 4096 + DATA_BYTES);
    text += &format!("  (global (export \"__heap_base\") i32 (i32.const {}))\n", 8192 + DATA_BYTES);
    const OPS: [&str; 6] = ["add", "sub", "mul", "xor", "or", "rotl"];
    for i in 0..FUNCS {
        text += &format!("  (func $f{i} (type $binop)\n    (local $x i64)\n    (local.set $x (local.get 0))\n");
        for _ in 0..(2 + next(6)) {
            let op = OPS[next(OPS.len() as u64) as usize];
            text += &format!("    (local.set $x (i64.{op} (local.get $x) (i64.const {})))\n", next(1 << 20));
        }
        text += &format!(
            "    (local.set $x (i64.add (local.get $x) (i64.load offset={} (i32.const 0))))\n",
            4096 + 8 * next(u64::from(DATA_BYTES / 8 - 1))
        );
        // Some functions call a lower one directly, as real code does.
        if i > 0 && next(4) == 0 {
            text += &format!("    (local.set $x (call $f{} (local.get $x) (local.get 1)))\n", next(u64::from(i)));
        }
        text += "    (i64.add (local.get $x) (local.get 1)))\n";
    }
    text += "  (elem (i32.const 0)";
    for i in 0..TABLE {
        text += &format!(" $f{}", (i * 7) % FUNCS);
    }
    text += ")\n";
    // Read-only data, as rustc lays it out from 4096 up: a few segments of pseudo-random bytes.
    let per = DATA_BYTES / SEGMENTS;
    for s in 0..SEGMENTS {
        let len = if s + 1 == SEGMENTS { DATA_BYTES - per * (SEGMENTS - 1) } else { per };
        text += &format!("  (data (i32.const {}) \"", 4096 + s * per);
        for _ in 0..len {
            text += &format!("\\{:02x}", next(256));
        }
        text += "\")\n";
    }
    // The cheap export: two calls through the table, a read of the data and one host call.
    text += &format!(
        "  (func (export \"call\") (param $n i64) (result i64)\n    (local $x i64)\n    (global.set $sp (i32.sub \
         (global.get $sp) (i32.const 16)))\n    (local.set $x (call_indirect (type $binop) (local.get $n) (i64.const 3) \
         (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const {TABLE})))))\n    (local.set $x (call_indirect (type $binop) \
         (local.get $x) (local.get $n) (i32.const 5)))\n    (i64.store (global.get $sp) (local.get $x))\n    (global.set \
         $sp (i32.add (global.get $sp) (i32.const 16)))\n    (call $inc (i64.add (local.get $x) (i64.load (i32.const \
         4096)))))\n"
    );
    text += ")\n";
    text
}
