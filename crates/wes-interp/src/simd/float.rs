//! Float lane operations whose wasm meaning differs from Rust's: `min`/`max` (NaN wins, `-0`
//! is below `+0`), `pmin`/`pmax` (a plain compare-and-select), and the NaN bits of
//! `demote`/`promote`, spelled out so they are the same on every host.

use core::ops::Add;

use super::lanes::Lane;

/// An `f32` or `f64` lane.
pub(super) trait Float: Lane + PartialOrd + Add<Output = Self> {
    /// Whether the sign bit is set (true for `-0.0` and negative NaNs too).
    fn sign(self) -> bool;
}

impl Float for f32 {
    fn sign(self) -> bool {
        self.is_sign_negative()
    }
}

impl Float for f64 {
    fn sign(self) -> bool {
        self.is_sign_negative()
    }
}

/// `fN.min`: a NaN if either operand is one, `-0` below `+0`, otherwise the smaller.
///
/// Which NaN is not specified by wasm: it is `x + y`, whatever the host's adder makes of the
/// operands' payloads, which is what the JIT's uncanonicalised code gives too; with NaN
/// canonicalisation on it becomes the canonical NaN.
pub(super) fn min<F: Float>(x: F, y: F) -> F {
    if x.is_nan() || y.is_nan() {
        x + y
    } else if x == y {
        // Equal and different can only be `+0` and `-0`.
        if x.sign() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

/// `fN.max`: a NaN if either operand is one, `+0` above `-0`, otherwise the larger.
pub(super) fn max<F: Float>(x: F, y: F) -> F {
    if x.is_nan() || y.is_nan() {
        x + y
    } else if x == y {
        if x.sign() { y } else { x }
    } else if x < y {
        y
    } else {
        x
    }
}

/// `fN.pmin`: `y < x ? y : x`, so a NaN operand passes through with its bits.
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
