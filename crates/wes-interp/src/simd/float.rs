//! Float lane operations whose wasm meaning differs from Rust's: `min`/`max` (NaN wins, `-0`
//! is below `+0`), `pmin`/`pmax` (a plain compare-and-select), and the NaN bits of every
//! operation that can produce a NaN.
//!
//! Wasm lets an implementation choose the bits of a NaN result (within "arithmetic" NaNs);
//! with NaN canonicalisation on (the default) those bits never show, but with it off they are
//! what the JIT's machine code gives on x86-64, its host. The rules here spell out exactly those
//! bits in portable Rust, so the interpreter gives them on every host:
//! - arithmetic (`add`, `sub`, `mul`, `div`, `sqrt`, rounding, `demote`, `promote`): the first
//!   NaN operand, made quiet; a NaN made from numbers (`0 / 0`, `inf - inf`, `sqrt(-1)`) is
//!   x86's "indefinite" NaN, `0xffc0_0000` / `0xfff8_0000_0000_0000` (sign set, payload zero);
//! - `min`: always the indefinite NaN; `max`: the quiet NaN with payload zero, negative when
//!   either operand's sign bit is set — what Cranelift's branch-free `minps`/`maxps` sequences
//!   compute (`cranelift-codegen` `isa/x64/lower.isle`, `fmin`/`fmax` of `F32X4`/`F64X2`).

use super::lanes::Lane;

/// An `f32` or `f64` lane.
pub(super) trait Float: Lane + PartialOrd {
    /// Whether the sign bit is set (true for `-0.0` and negative NaNs too).
    fn sign(self) -> bool;
    /// The NaN `self` with its quiet bit set.
    fn quiet(self) -> Self;
    /// The quiet NaN with payload zero and the given sign; with the sign set it is x86's
    /// "indefinite" NaN.
    fn nan(negative: bool) -> Self;
}

macro_rules! float {
    ($t:ty, $bits:ty, $quiet:expr, $canonical:expr) => {
        impl Float for $t {
            fn sign(self) -> bool {
                self.is_sign_negative()
            }
            fn quiet(self) -> Self {
                <$t>::from_bits(self.to_bits() | $quiet)
            }
            fn nan(negative: bool) -> Self {
                let sign: $bits = if negative { 1 << (<$bits>::BITS - 1) } else { 0 };
                <$t>::from_bits(sign | $canonical)
            }
        }
    };
}
float!(f32, u32, 0x0040_0000, 0x7fc0_0000);
float!(f64, u64, 0x0008_0000_0000_0000, 0x7ff8_0000_0000_0000);

/// `op(x)` with x86's NaN bits: a NaN operand made quiet, a NaN made from a number (`sqrt` of
/// a negative) the indefinite NaN.
pub(super) fn unary<F: Float>(x: F, op: impl Fn(F) -> F) -> F {
    if x.is_nan() {
        return x.quiet();
    }
    let r = op(x);
    if r.is_nan() { F::nan(true) } else { r }
}

/// `op(x, y)` with x86's NaN bits: the first NaN operand made quiet, a NaN made from numbers
/// the indefinite NaN.
pub(super) fn binary<F: Float>(x: F, y: F, op: impl Fn(F, F) -> F) -> F {
    if x.is_nan() {
        return x.quiet();
    }
    if y.is_nan() {
        return y.quiet();
    }
    let r = op(x, y);
    if r.is_nan() { F::nan(true) } else { r }
}

/// `fN.min`: a NaN if either operand is one (the indefinite NaN, as the JIT's sequence makes
/// it), `-0` below `+0`, otherwise the smaller.
pub(super) fn min<F: Float>(x: F, y: F) -> F {
    if x.is_nan() || y.is_nan() {
        F::nan(true)
    } else if x == y {
        // Equal and different can only be `+0` and `-0`.
        if x.sign() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// `fN.max`: a NaN if either operand is one (quiet, payload zero, negative if either
/// operand's sign bit is set, as the JIT's sequence makes it), `+0` above `-0`, otherwise the
/// larger.
pub(super) fn max<F: Float>(x: F, y: F) -> F {
    if x.is_nan() || y.is_nan() {
        F::nan(x.sign() || y.sign())
    } else if x == y {
        if x.sign() { y } else { x }
    } else if x < y {
        y
    } else {
        x
    }
}

/// `fN.pmin`: `y < x ? y : x`, a select: the chosen operand keeps its bits, NaN or not.
pub(super) fn pmin<F: Float>(x: F, y: F) -> F {
    if y < x { y } else { x }
}

/// `fN.pmax`: `x < y ? y : x`.
pub(super) fn pmax<F: Float>(x: F, y: F) -> F {
    if x < y { y } else { x }
}

/// `f64` to `f32`, rounding to nearest even; a NaN keeps its sign and the top of its payload
/// and becomes quiet, as x86-64 and Arm both convert it (Rust leaves the NaN bits of `as`
/// unspecified).
pub(super) fn demote(x: f64) -> f32 {
    if x.is_nan() {
        let bits = x.to_bits();
        let sign = (bits >> 32) as u32 & 0x8000_0000;
        let payload = (bits >> 29) as u32 & 0x007f_ffff;
        f32::from_bits(sign | 0x7fc0_0000 | payload)
    } else {
        // Exact rounding to nearest even for every non-NaN value (Rust guarantees it).
        x as f32
    }
}

/// `f32` to `f64`, exact; a NaN keeps its sign and payload and becomes quiet.
pub(super) fn promote(x: f32) -> f64 {
    if x.is_nan() {
        let bits = x.to_bits();
        let sign = u64::from(bits & 0x8000_0000) << 32;
        let payload = u64::from(bits & 0x007f_ffff) << 29;
        f64::from_bits(sign | 0x7ff8_0000_0000_0000 | payload)
    } else {
        f64::from(x)
    }
}
