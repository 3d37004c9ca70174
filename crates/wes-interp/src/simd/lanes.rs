//! Lane views of a `u128`: reading lane `i` of a shape, building a vector lane by lane, and the
//! lane-wise shapes every SIMD operator is made of (map, zip, compare, widen, narrow, pairwise).
//!
//! Lane 0 is the least significant, as in wasm's little-endian lane order. Everything is plain
//! integer and float arithmetic on scalars: no host SIMD.

/// A lane type: an integer of 8 to 64 bits (either signedness) or a float.
pub(super) trait Lane: Copy {
    /// Width of the lane in bits.
    const BITS: u32;
    /// The lane whose bits are the low [`Self::BITS`] bits of `bits`.
    fn from_low(bits: u128) -> Self;
    /// The lane's bits, zero-extended.
    fn bits(self) -> u128;
    /// Whether the lane is a NaN; integers never are.
    fn is_nan(self) -> bool {
        false
    }
}

macro_rules! int_lane {
    ($($t:ty => $u:ty),* $(,)?) => {$(
        impl Lane for $t {
            const BITS: u32 = <$u>::BITS;
            fn from_low(bits: u128) -> Self {
                // Truncation to the lane width is the point.
                bits as $u as $t
            }
            fn bits(self) -> u128 {
                u128::from(self as $u)
            }
        }
    )*};
}
int_lane!(u8 => u8, i8 => u8, u16 => u16, i16 => u16, u32 => u32, i32 => u32, u64 => u64, i64 => u64);

impl Lane for f32 {
    const BITS: u32 = 32;
    fn from_low(bits: u128) -> Self {
        f32::from_bits(bits as u32)
    }
    fn bits(self) -> u128 {
        u128::from(self.to_bits())
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Lane for f64 {
    const BITS: u32 = 64;
    fn from_low(bits: u128) -> Self {
        f64::from_bits(bits as u64)
    }
    fn bits(self) -> u128 {
        u128::from(self.to_bits())
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// How many lanes of `L` a `v128` has.
pub(super) const fn count<L: Lane>() -> u32 {
    128 / L::BITS
}

/// Lane `i` of `v` viewed as `L`. `i` is below [`count`] wherever this is called; the shift is
/// masked anyway so no index can make it overflow.
pub(super) fn get<L: Lane>(v: u128, i: u32) -> L {
    L::from_low(v >> (i.wrapping_mul(L::BITS) & 127))
}

/// The vector whose lane `i` is `f(i)`.
pub(super) fn build<L: Lane>(f: impl Fn(u32) -> L) -> u128 {
    (0..count::<L>()).fold(0, |acc, i| acc | (f(i).bits() << (i * L::BITS)))
}

/// `f` applied to each lane.
pub(super) fn map<L: Lane>(a: u128, f: impl Fn(L) -> L) -> u128 {
    build(|i| f(get(a, i)))
}

/// `f` applied to each pair of lanes of `a` and `b`.
pub(super) fn zip<L: Lane>(a: u128, b: u128, f: impl Fn(L, L) -> L) -> u128 {
    build(|i| f(get(a, i), get(b, i)))
}

/// A lane of all ones where `f` holds, of zeros where it does not.
pub(super) fn cmp<L: Lane>(a: u128, b: u128, f: impl Fn(L, L) -> bool) -> u128 {
    let ones = u128::MAX >> (128 - L::BITS);
    (0..count::<L>()).fold(0, |acc, i| if f(get(a, i), get(b, i)) { acc | (ones << (i * L::BITS)) } else { acc })
}

/// The low or high half of `a`'s lanes, each converted by `f` to a lane twice as wide.
pub(super) fn widen<F: Lane, T: Lane>(a: u128, high: bool, f: impl Fn(F) -> T) -> u128 {
    let base = if high { count::<T>() } else { 0 };
    build(|i| f(get(a, base + i)))
}

/// `f` of the same lane of `a` and `b`, from their low or high halves, giving a lane twice as
/// wide.
pub(super) fn widen_zip<F: Lane, T: Lane>(a: u128, b: u128, high: bool, f: impl Fn(F, F) -> T) -> u128 {
    let base = if high { count::<T>() } else { 0 };
    build(|i| f(get(a, base + i), get(b, base + i)))
}

/// `a`'s lanes then `b`'s, each converted by `f` to a lane half as wide.
pub(super) fn narrow<F: Lane, T: Lane>(a: u128, b: u128, f: impl Fn(F) -> T) -> u128 {
    let half = count::<F>();
    build(|i| f(if i < half { get(a, i) } else { get(b, i - half) }))
}

/// Lane `i` is `f` of `a`'s lanes `2i` and `2i + 1` and `b`'s same two lanes.
pub(super) fn pairwise<F: Lane, T: Lane>(a: u128, b: u128, f: impl Fn(F, F, F, F) -> T) -> u128 {
    build(|i| f(get(a, 2 * i), get(a, 2 * i + 1), get(b, 2 * i), get(b, 2 * i + 1)))
}

/// Whether every lane is non-zero.
pub(super) fn all_true<L: Lane>(a: u128) -> bool {
    (0..count::<L>()).all(|i| get::<L>(a, i).bits() != 0)
}

/// The top bit of each lane, lane `i` in bit `i`.
pub(super) fn bitmask<L: Lane>(a: u128) -> u128 {
    (0..count::<L>()).fold(0, |acc, i| acc | (((get::<L>(a, i).bits() >> (L::BITS - 1)) & 1) << i))
}

/// Each NaN lane of `L` (`f32` or `f64`) replaced by `canonical`, other lanes unchanged.
pub(super) fn canonicalize<L: Lane>(v: u128, canonical: L) -> u128 {
    map(v, |x: L| if x.is_nan() { canonical } else { x })
}
