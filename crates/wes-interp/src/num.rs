//! Scalar numeric operators: their semantics on 64-bit cells, with the JIT's traps and NaN
//! canonicalisation.
//!
//! Which float operators get their NaN results canonicalised follows `wes-jit`'s `nan.rs`
//! exactly: `add`, `sub`, `mul`, `div`, `min`, `max`, `sqrt`, `ceil`, `floor`, `trunc`,
//! `nearest`, `demote` and `promote`. The others (`abs`, `neg`, `copysign`, loads,
//! reinterpretations) only move bits and keep every payload, as the JIT's do.

use wasmparser::Operator;
use wes_core::{TrapCode, ValType};

/// The canonical NaN of `f32`: sign clear, quiet bit set, payload zero.
const CANON_F32: u32 = 0x7fc0_0000;
/// The canonical NaN of `f64`.
const CANON_F64: u64 = 0x7ff8_0000_0000_0000;

macro_rules! num_ops {
    ($( $name:ident => $arity:literal ),* $(,)?) => {
        /// A numeric (or reference-test) operator that pops one or two cells and pushes one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum NumOp { $( $name ),* }

        impl NumOp {
            /// Every operator, in declaration order (`op as usize` indexes it).
            const ALL: &'static [NumOp] = &[ $( NumOp::$name ),* ];

            /// How many cells the operator pops (it always pushes one).
            pub(crate) fn arity(self) -> u32 {
                match self { $( NumOp::$name => $arity ),* }
            }

            /// The wasm name of the operator, as `wasmparser` spells its variant.
            fn name(self) -> &'static str {
                match self { $( NumOp::$name => stringify!($name) ),* }
            }

            /// The operator for `op`, if it is one of these.
            pub(crate) fn from_operator(op: &Operator<'_>) -> Option<NumOp> {
                Some(match op {
                    $( Operator::$name => NumOp::$name, )*
                    Operator::RefIsNull => NumOp::I64Eqz,
                    _ => return None,
                })
            }
        }
    };
}

num_ops! {
    I32Eqz => 1, I32Eq => 2, I32Ne => 2, I32LtS => 2, I32LtU => 2, I32GtS => 2, I32GtU => 2,
    I32LeS => 2, I32LeU => 2, I32GeS => 2, I32GeU => 2,
    I64Eqz => 1, I64Eq => 2, I64Ne => 2, I64LtS => 2, I64LtU => 2, I64GtS => 2, I64GtU => 2,
    I64LeS => 2, I64LeU => 2, I64GeS => 2, I64GeU => 2,
    F32Eq => 2, F32Ne => 2, F32Lt => 2, F32Gt => 2, F32Le => 2, F32Ge => 2,
    F64Eq => 2, F64Ne => 2, F64Lt => 2, F64Gt => 2, F64Le => 2, F64Ge => 2,
    I32Clz => 1, I32Ctz => 1, I32Popcnt => 1, I32Add => 2, I32Sub => 2, I32Mul => 2,
    I32DivS => 2, I32DivU => 2, I32RemS => 2, I32RemU => 2, I32And => 2, I32Or => 2, I32Xor => 2,
    I32Shl => 2, I32ShrS => 2, I32ShrU => 2, I32Rotl => 2, I32Rotr => 2,
    I64Clz => 1, I64Ctz => 1, I64Popcnt => 1, I64Add => 2, I64Sub => 2, I64Mul => 2,
    I64DivS => 2, I64DivU => 2, I64RemS => 2, I64RemU => 2, I64And => 2, I64Or => 2, I64Xor => 2,
    I64Shl => 2, I64ShrS => 2, I64ShrU => 2, I64Rotl => 2, I64Rotr => 2,
    F32Abs => 1, F32Neg => 1, F32Ceil => 1, F32Floor => 1, F32Trunc => 1, F32Nearest => 1,
    F32Sqrt => 1, F32Add => 2, F32Sub => 2, F32Mul => 2, F32Div => 2, F32Min => 2, F32Max => 2,
    F32Copysign => 2,
    F64Abs => 1, F64Neg => 1, F64Ceil => 1, F64Floor => 1, F64Trunc => 1, F64Nearest => 1,
    F64Sqrt => 1, F64Add => 2, F64Sub => 2, F64Mul => 2, F64Div => 2, F64Min => 2, F64Max => 2,
    F64Copysign => 2,
    I32WrapI64 => 1, I32TruncF32S => 1, I32TruncF32U => 1, I32TruncF64S => 1, I32TruncF64U => 1,
    I64ExtendI32S => 1, I64ExtendI32U => 1, I64TruncF32S => 1, I64TruncF32U => 1,
    I64TruncF64S => 1, I64TruncF64U => 1,
    F32ConvertI32S => 1, F32ConvertI32U => 1, F32ConvertI64S => 1, F32ConvertI64U => 1,
    F32DemoteF64 => 1,
    F64ConvertI32S => 1, F64ConvertI32U => 1, F64ConvertI64S => 1, F64ConvertI64U => 1,
    F64PromoteF32 => 1,
    I32ReinterpretF32 => 1, I64ReinterpretF64 => 1, F32ReinterpretI32 => 1, F64ReinterpretI64 => 1,
    I32Extend8S => 1, I32Extend16S => 1, I64Extend8S => 1, I64Extend16S => 1, I64Extend32S => 1,
    I32TruncSatF32S => 1, I32TruncSatF32U => 1, I32TruncSatF64S => 1, I32TruncSatF64U => 1,
    I64TruncSatF32S => 1, I64TruncSatF32U => 1, I64TruncSatF64S => 1, I64TruncSatF64U => 1,
}

fn i32c(v: i32) -> u64 {
    u64::from(v as u32)
}
fn u32c(v: u32) -> u64 {
    u64::from(v)
}
fn b(v: bool) -> u64 {
    u64::from(v)
}
fn f32v(x: u64) -> f32 {
    f32::from_bits(x as u32)
}
fn f64v(x: u64) -> f64 {
    f64::from_bits(x)
}

/// The cell of an `f32` result of an operator the JIT canonicalises. A NaN is the cold path:
/// as a branch, the result does not wait for the NaN test, where a conditional move put that
/// test on every chain of float operators (a sum through memory ran in 0.8x the time).
///
/// The setting is read only on that path: tested beside the NaN test (`&&`), it cost every
/// float operator a flag set, a load and a test.
fn f32n(v: f32, canon: bool) -> u64 {
    if v.is_nan() {
        std::hint::cold_path();
        if canon {
            return u64::from(CANON_F32);
        }
    }
    u64::from(v.to_bits())
}
/// The cell of an `f64` result of an operator the JIT canonicalises (a NaN the cold path, as
/// for [`f32n`]).
fn f64n(v: f64, canon: bool) -> u64 {
    if v.is_nan() {
        std::hint::cold_path();
        if canon {
            return CANON_F64;
        }
    }
    v.to_bits()
}

/// Wasm `min`: NaN if either operand is, and -0 below +0.
macro_rules! fminmax {
    ($a:expr, $b:expr, $min:literal) => {{
        let (a, b) = ($a, $b);
        if a.is_nan() || b.is_nan() {
            a + b
        } else if a == b {
            // Equal values differ only in the sign of zero.
            if $min {
                if a.is_sign_negative() { a } else { b }
            } else if a.is_sign_negative() {
                b
            } else {
                a
            }
        } else if (a < b) == $min {
            a
        } else {
            b
        }
    }};
}

/// A trapping float-to-int conversion: NaN is a bad conversion, a value at or beyond the
/// exclusive bounds `(lo, hi)` (the JIT's constants) an overflow; otherwise `x` in range.
fn trunc_check(x: f64, nan: bool, lo: f64, hi: f64) -> Result<(), TrapCode> {
    if nan {
        return Err(TrapCode::BadConversionToInteger);
    }
    if x <= lo || x >= hi {
        return Err(TrapCode::IntegerOverflow);
    }
    Ok(())
}

fn trunc32(x: f32, lo: f64, hi: f64) -> Result<(), TrapCode> {
    // The JIT compares in the source type, with the bounds rounded to it.
    let (lo, hi) = (f64::from(lo as f32), f64::from(hi as f32));
    trunc_check(f64::from(x), x.is_nan(), lo, hi)
}

const I32S: (f64, f64) = (-2147483649.0, 2147483648.0);
const I32S_F32: (f64, f64) = (-2147483904.0, 2147483648.0);
const I64S: (f64, f64) = (-9223372036854777856.0, 9223372036854775808.0);
const I64S_F32: (f64, f64) = (-9223373136366403584.0, 9223372036854775808.0);
const U32: (f64, f64) = (-1.0, 4294967296.0);
const U64: (f64, f64) = (-1.0, 18446744073709551616.0);

impl NumOp {
    /// The type of the operator's result: `i32` for tests and comparisons, otherwise the type
    /// its name starts with (`I64ExtendI32S` → `i64`).
    pub(crate) fn result_type(self) -> ValType {
        // Derived from the names once: the translator asks for nearly every operator, and
        // matching the strings each time was 5% of an eager translation's instructions.
        static TYPES: std::sync::LazyLock<Vec<ValType>> =
            std::sync::LazyLock::new(|| NumOp::ALL.iter().map(|op| op.result_type_by_name()).collect());
        TYPES.get(self as usize).copied().unwrap_or_else(|| self.result_type_by_name())
    }

    fn result_type_by_name(self) -> ValType {
        let name = self.name();
        let (prefix, rest) = name.split_at(3.min(name.len()));
        let compares = matches!(
            rest,
            "Eqz"
                | "Eq"
                | "Ne"
                | "Lt"
                | "LtS"
                | "LtU"
                | "Gt"
                | "GtS"
                | "GtU"
                | "Le"
                | "LeS"
                | "LeU"
                | "Ge"
                | "GeS"
                | "GeU"
        );
        match prefix {
            _ if compares => ValType::I32,
            "I64" => ValType::I64,
            "F32" => ValType::F32,
            "F64" => ValType::F64,
            _ => ValType::I32,
        }
    }

    /// Whether the operator is a comparison of two `i64`s.
    pub(crate) fn i64_compare(self) -> bool {
        use NumOp as N;
        matches!(
            self,
            N::I64Eq
                | N::I64Ne
                | N::I64LtS
                | N::I64LtU
                | N::I64GtS
                | N::I64GtU
                | N::I64LeS
                | N::I64LeU
                | N::I64GeS
                | N::I64GeU
        )
    }

    /// The integer comparison that holds exactly when this one does not (`lt_u` for `ge_u`).
    pub(crate) fn negated(self) -> Option<NumOp> {
        use NumOp as N;
        Some(match self {
            N::I32Eq => N::I32Ne,
            N::I32Ne => N::I32Eq,
            N::I32LtS => N::I32GeS,
            N::I32GeS => N::I32LtS,
            N::I32LtU => N::I32GeU,
            N::I32GeU => N::I32LtU,
            N::I32GtS => N::I32LeS,
            N::I32LeS => N::I32GtS,
            N::I32GtU => N::I32LeU,
            N::I32LeU => N::I32GtU,
            N::I64Eq => N::I64Ne,
            N::I64Ne => N::I64Eq,
            N::I64LtS => N::I64GeS,
            N::I64GeS => N::I64LtS,
            N::I64LtU => N::I64GeU,
            N::I64GeU => N::I64LtU,
            N::I64GtS => N::I64LeS,
            N::I64LeS => N::I64GtS,
            N::I64GtU => N::I64LeU,
            N::I64LeU => N::I64GtU,
            _ => return None,
        })
    }

    /// Whether [`NumOp::eval`] can trap (divisions, remainders, float-to-int truncations):
    /// the translator fuses only operators that cannot into superinstructions, whose module
    /// offset is that of their first wasm operator.
    pub(crate) fn can_trap(self) -> bool {
        use NumOp as N;
        matches!(
            self,
            N::I32DivS
                | N::I32DivU
                | N::I32RemS
                | N::I32RemU
                | N::I64DivS
                | N::I64DivU
                | N::I64RemS
                | N::I64RemU
                | N::I32TruncF32S
                | N::I32TruncF32U
                | N::I32TruncF64S
                | N::I32TruncF64U
                | N::I64TruncF32S
                | N::I64TruncF32U
                | N::I64TruncF64S
                | N::I64TruncF64U
        )
    }

    /// Applies the operator to `a` (and `b` for binary operators), canonicalising NaN results
    /// of the operators the JIT canonicalises when `canon` is set. Inlined into the loop in
    /// optimised builds, so an operator costs a second jump table rather than a call returning
    /// a `Result` in memory (a loop of integer ops ran in 0.65× the time); and a threaded handler
    /// passing the address of its result slot could not end in a jump (see `exec::threaded`).
    /// Not in unoptimised builds, where the inlined match would grow the loop's native frame
    /// past its bound.
    #[cfg_attr(any(wes_threaded, not(debug_assertions)), inline(always))]
    pub(crate) fn eval(self, a: u64, bb: u64, canon: bool) -> Result<u64, TrapCode> {
        use NumOp as N;
        let (x32, y32) = (a as u32, bb as u32);
        let (sx32, sy32) = (a as u32 as i32, bb as u32 as i32);
        let (sx64, sy64) = (a as i64, bb as i64);
        Ok(match self {
            N::I32Eqz => b(x32 == 0),
            N::I32Eq => b(x32 == y32),
            N::I32Ne => b(x32 != y32),
            N::I32LtS => b(sx32 < sy32),
            N::I32LtU => b(x32 < y32),
            N::I32GtS => b(sx32 > sy32),
            N::I32GtU => b(x32 > y32),
            N::I32LeS => b(sx32 <= sy32),
            N::I32LeU => b(x32 <= y32),
            N::I32GeS => b(sx32 >= sy32),
            N::I32GeU => b(x32 >= y32),
            N::I64Eqz => b(a == 0),
            N::I64Eq => b(a == bb),
            N::I64Ne => b(a != bb),
            N::I64LtS => b(sx64 < sy64),
            N::I64LtU => b(a < bb),
            N::I64GtS => b(sx64 > sy64),
            N::I64GtU => b(a > bb),
            N::I64LeS => b(sx64 <= sy64),
            N::I64LeU => b(a <= bb),
            N::I64GeS => b(sx64 >= sy64),
            N::I64GeU => b(a >= bb),
            N::F32Eq => b(f32v(a) == f32v(bb)),
            N::F32Ne => b(f32v(a) != f32v(bb)),
            N::F32Lt => b(f32v(a) < f32v(bb)),
            N::F32Gt => b(f32v(a) > f32v(bb)),
            N::F32Le => b(f32v(a) <= f32v(bb)),
            N::F32Ge => b(f32v(a) >= f32v(bb)),
            N::F64Eq => b(f64v(a) == f64v(bb)),
            N::F64Ne => b(f64v(a) != f64v(bb)),
            N::F64Lt => b(f64v(a) < f64v(bb)),
            N::F64Gt => b(f64v(a) > f64v(bb)),
            N::F64Le => b(f64v(a) <= f64v(bb)),
            N::F64Ge => b(f64v(a) >= f64v(bb)),

            N::I32Clz => u32c(x32.leading_zeros()),
            N::I32Ctz => u32c(x32.trailing_zeros()),
            N::I32Popcnt => u32c(x32.count_ones()),
            N::I32Add => u32c(x32.wrapping_add(y32)),
            N::I32Sub => u32c(x32.wrapping_sub(y32)),
            N::I32Mul => u32c(x32.wrapping_mul(y32)),
            N::I32DivS => {
                if sy32 == 0 {
                    return Err(TrapCode::IntegerDivideByZero);
                }
                if sx32 == i32::MIN && sy32 == -1 {
                    return Err(TrapCode::IntegerOverflow);
                }
                i32c(sx32.wrapping_div(sy32))
            }
            N::I32DivU => u32c(x32.checked_div(y32).ok_or(TrapCode::IntegerDivideByZero)?),
            N::I32RemS => {
                if sy32 == 0 {
                    return Err(TrapCode::IntegerDivideByZero);
                }
                i32c(sx32.wrapping_rem(sy32))
            }
            N::I32RemU => u32c(x32.checked_rem(y32).ok_or(TrapCode::IntegerDivideByZero)?),
            N::I32And => u32c(x32 & y32),
            N::I32Or => u32c(x32 | y32),
            N::I32Xor => u32c(x32 ^ y32),
            N::I32Shl => u32c(x32.wrapping_shl(y32)),
            N::I32ShrS => i32c(sx32.wrapping_shr(y32)),
            N::I32ShrU => u32c(x32.wrapping_shr(y32)),
            N::I32Rotl => u32c(x32.rotate_left(y32 % 32)),
            N::I32Rotr => u32c(x32.rotate_right(y32 % 32)),
            N::I64Clz => u64::from(a.leading_zeros()),
            N::I64Ctz => u64::from(a.trailing_zeros()),
            N::I64Popcnt => u64::from(a.count_ones()),
            N::I64Add => a.wrapping_add(bb),
            N::I64Sub => a.wrapping_sub(bb),
            N::I64Mul => a.wrapping_mul(bb),
            N::I64DivS => {
                if sy64 == 0 {
                    return Err(TrapCode::IntegerDivideByZero);
                }
                if sx64 == i64::MIN && sy64 == -1 {
                    return Err(TrapCode::IntegerOverflow);
                }
                sx64.wrapping_div(sy64) as u64
            }
            N::I64DivU => a.checked_div(bb).ok_or(TrapCode::IntegerDivideByZero)?,
            N::I64RemS => {
                if sy64 == 0 {
                    return Err(TrapCode::IntegerDivideByZero);
                }
                sx64.wrapping_rem(sy64) as u64
            }
            N::I64RemU => a.checked_rem(bb).ok_or(TrapCode::IntegerDivideByZero)?,
            N::I64And => a & bb,
            N::I64Or => a | bb,
            N::I64Xor => a ^ bb,
            N::I64Shl => a.wrapping_shl(bb as u32),
            N::I64ShrS => sx64.wrapping_shr(bb as u32) as u64,
            N::I64ShrU => a.wrapping_shr(bb as u32),
            N::I64Rotl => a.rotate_left((bb % 64) as u32),
            N::I64Rotr => a.rotate_right((bb % 64) as u32),

            N::F32Abs => u64::from(x32 & 0x7fff_ffff),
            N::F32Neg => u64::from(x32 ^ 0x8000_0000),
            N::F32Copysign => u64::from((x32 & 0x7fff_ffff) | (y32 & 0x8000_0000)),
            N::F32Ceil => f32n(f32v(a).ceil(), canon),
            N::F32Floor => f32n(f32v(a).floor(), canon),
            N::F32Trunc => f32n(f32v(a).trunc(), canon),
            N::F32Nearest => f32n(f32v(a).round_ties_even(), canon),
            N::F32Sqrt => f32n(f32v(a).sqrt(), canon),
            N::F32Add => f32n(f32v(a) + f32v(bb), canon),
            N::F32Sub => f32n(f32v(a) - f32v(bb), canon),
            N::F32Mul => f32n(f32v(a) * f32v(bb), canon),
            N::F32Div => f32n(f32v(a) / f32v(bb), canon),
            N::F32Min => f32n(fminmax!(f32v(a), f32v(bb), true), canon),
            N::F32Max => f32n(fminmax!(f32v(a), f32v(bb), false), canon),
            N::F64Abs => a & 0x7fff_ffff_ffff_ffff,
            N::F64Neg => a ^ 0x8000_0000_0000_0000,
            N::F64Copysign => (a & 0x7fff_ffff_ffff_ffff) | (bb & 0x8000_0000_0000_0000),
            N::F64Ceil => f64n(f64v(a).ceil(), canon),
            N::F64Floor => f64n(f64v(a).floor(), canon),
            N::F64Trunc => f64n(f64v(a).trunc(), canon),
            N::F64Nearest => f64n(f64v(a).round_ties_even(), canon),
            N::F64Sqrt => f64n(f64v(a).sqrt(), canon),
            N::F64Add => f64n(f64v(a) + f64v(bb), canon),
            N::F64Sub => f64n(f64v(a) - f64v(bb), canon),
            N::F64Mul => f64n(f64v(a) * f64v(bb), canon),
            N::F64Div => f64n(f64v(a) / f64v(bb), canon),
            N::F64Min => f64n(fminmax!(f64v(a), f64v(bb), true), canon),
            N::F64Max => f64n(fminmax!(f64v(a), f64v(bb), false), canon),

            N::I32WrapI64 => u64::from(a as u32),
            N::I64ExtendI32S => i64::from(sx32) as u64,
            N::I64ExtendI32U => u64::from(x32),
            N::I32Extend8S => i32c(i32::from(a as u8 as i8)),
            N::I32Extend16S => i32c(i32::from(a as u16 as i16)),
            N::I64Extend8S => i64::from(a as u8 as i8) as u64,
            N::I64Extend16S => i64::from(a as u16 as i16) as u64,
            N::I64Extend32S => i64::from(a as u32 as i32) as u64,
            N::I32TruncF32S => {
                trunc32(f32v(a), I32S_F32.0, I32S_F32.1)?;
                i32c(f32v(a) as i32)
            }
            N::I32TruncF32U => {
                trunc32(f32v(a), U32.0, U32.1)?;
                u32c(f32v(a) as u32)
            }
            N::I32TruncF64S => {
                trunc_check(f64v(a), f64v(a).is_nan(), I32S.0, I32S.1)?;
                i32c(f64v(a) as i32)
            }
            N::I32TruncF64U => {
                trunc_check(f64v(a), f64v(a).is_nan(), U32.0, U32.1)?;
                u32c(f64v(a) as u32)
            }
            N::I64TruncF32S => {
                trunc32(f32v(a), I64S_F32.0, I64S_F32.1)?;
                f32v(a) as i64 as u64
            }
            N::I64TruncF32U => {
                trunc32(f32v(a), U64.0, U64.1)?;
                f32v(a) as u64
            }
            N::I64TruncF64S => {
                trunc_check(f64v(a), f64v(a).is_nan(), I64S.0, I64S.1)?;
                f64v(a) as i64 as u64
            }
            N::I64TruncF64U => {
                trunc_check(f64v(a), f64v(a).is_nan(), U64.0, U64.1)?;
                f64v(a) as u64
            }
            // Rust's float-to-int casts saturate and map NaN to zero: wasm's `trunc_sat`.
            N::I32TruncSatF32S => i32c(f32v(a) as i32),
            N::I32TruncSatF32U => u32c(f32v(a) as u32),
            N::I32TruncSatF64S => i32c(f64v(a) as i32),
            N::I32TruncSatF64U => u32c(f64v(a) as u32),
            N::I64TruncSatF32S => f32v(a) as i64 as u64,
            N::I64TruncSatF32U => f32v(a) as u64,
            N::I64TruncSatF64S => f64v(a) as i64 as u64,
            N::I64TruncSatF64U => f64v(a) as u64,
            // Rust's int-to-float casts round to nearest, ties to even: wasm's `convert`.
            N::F32ConvertI32S => u64::from((sx32 as f32).to_bits()),
            N::F32ConvertI32U => u64::from((x32 as f32).to_bits()),
            N::F32ConvertI64S => u64::from((sx64 as f32).to_bits()),
            N::F32ConvertI64U => u64::from((a as f32).to_bits()),
            N::F64ConvertI32S => f64::from(sx32).to_bits(),
            N::F64ConvertI32U => f64::from(x32).to_bits(),
            N::F64ConvertI64S => (sx64 as f64).to_bits(),
            N::F64ConvertI64U => (a as f64).to_bits(),
            N::F32DemoteF64 => f32n(f64v(a) as f32, canon),
            N::F64PromoteF32 => f64n(f64::from(f32v(a)), canon),
            N::I32ReinterpretF32 | N::F32ReinterpretI32 => u64::from(x32),
            N::I64ReinterpretF64 | N::F64ReinterpretI64 => a,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_types_follow_the_names() {
        assert_eq!(NumOp::F32Neg.result_type(), ValType::F32);
        assert_eq!(NumOp::I64Eqz.result_type(), ValType::I32);
        assert_eq!(NumOp::F64Ge.result_type(), ValType::I32);
        assert_eq!(NumOp::I64ExtendI32U.result_type(), ValType::I64);
        assert_eq!(NumOp::I32ReinterpretF32.result_type(), ValType::I32);
        assert_eq!(NumOp::F64ConvertI64U.result_type(), ValType::F64);
        // The table `result_type` reads is indexed by discriminant: every operator finds its
        // own entry there.
        for (i, op) in NumOp::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i, "{op:?}");
            assert_eq!(op.result_type(), op.result_type_by_name(), "{op:?}");
        }
    }

    #[test]
    fn min_max_order_zeros_and_propagate_nan() {
        let z = 0.0f32.to_bits() as u64;
        let nz = (-0.0f32).to_bits() as u64;
        assert_eq!(NumOp::F32Min.eval(z, nz, true), Ok(nz));
        assert_eq!(NumOp::F32Max.eval(nz, z, true), Ok(z));
        let nan = 0x7fa0_0001u64;
        assert_eq!(NumOp::F32Min.eval(nan, z, true), Ok(u64::from(CANON_F32)));
    }

    #[test]
    fn trapping_conversions_use_the_jit_codes() {
        let nan = f64::NAN.to_bits();
        assert_eq!(NumOp::I32TruncF64S.eval(nan, 0, true), Err(TrapCode::BadConversionToInteger));
        assert_eq!(NumOp::I32TruncF64S.eval(2147483648.0f64.to_bits(), 0, true), Err(TrapCode::IntegerOverflow));
        assert_eq!(NumOp::I32TruncF64S.eval((-2147483648.9f64).to_bits(), 0, true), Ok(0x8000_0000));
        assert_eq!(NumOp::I32TruncF32U.eval(u64::from((-0.9f32).to_bits()), 0, true), Ok(0));
        assert_eq!(NumOp::I32DivS.eval(0x8000_0000, 0xffff_ffff, true), Err(TrapCode::IntegerOverflow));
        assert_eq!(NumOp::I64RemS.eval(i64::MIN as u64, u64::MAX, true), Ok(0));
    }
}
