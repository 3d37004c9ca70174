//! The `v128` memory operators' lane arithmetic: what a load puts in the vector and which
//! bytes a lane access touches. Memory is little-endian and lane 0 is the vector's lowest
//! bytes, so a vector is `u128::from_le_bytes` of its sixteen bytes.

use crate::code::VLoad;

/// Reads `bytes` bytes (at most 8) little-endian from `p`.
///
/// # Safety
///
/// `p..p + bytes` must be readable.
pub(super) unsafe fn read_le(p: *const u8, bytes: u64) -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: by this function's contract; `bytes <= 8` fits the buffer.
    unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), bytes.min(8) as usize) };
    u64::from_le_bytes(buf)
}

/// Writes the low `bytes` bytes (at most 8) of `v` little-endian to `p`.
///
/// # Safety
///
/// `p..p + bytes` must be writable.
pub(super) unsafe fn write_le(p: *mut u8, bytes: u64, v: u64) {
    let buf = v.to_le_bytes();
    // SAFETY: by this function's contract; `bytes <= 8` fits the buffer.
    unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), p, bytes.min(8) as usize) };
}

/// The vector load `kind` produces from the [`VLoad::size`] bytes at `p`.
///
/// # Safety
///
/// `p..p + kind.size()` must be readable.
pub(super) unsafe fn load(kind: VLoad, p: *const u8) -> u128 {
    match kind {
        VLoad::Full => {
            let mut buf = [0u8; 16];
            // SAFETY: 16 readable bytes, by this function's contract.
            unsafe { std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), 16) };
            u128::from_le_bytes(buf)
        }
        VLoad::Extend { lane_bytes, signed } => {
            // SAFETY: 8 readable bytes, by this function's contract.
            let x = unsafe { read_le(p, 8) };
            let bits = u32::from(lane_bytes) * 8;
            let mut out = 0u128;
            for i in 0..64 / bits {
                let lane = (x >> (i * bits)) & ((1u64 << bits) - 1);
                let wide = if signed {
                    // Sign-extend from `bits` to `2 * bits`.
                    let shift = 64 - bits;
                    (((lane << shift) as i64) >> shift) as u64 & mask(2 * bits)
                } else {
                    lane
                };
                out |= u128::from(wide) << (i * 2 * bits);
            }
            out
        }
        VLoad::Splat(n) => {
            // SAFETY: `n` readable bytes, by this function's contract.
            let x = u128::from(unsafe { read_le(p, u64::from(n)) });
            let bits = u32::from(n) * 8;
            (0..128 / bits).fold(0u128, |acc, i| acc | (x << (i * bits)))
        }
        // SAFETY: `n` readable bytes, by this function's contract.
        VLoad::Zero(n) => u128::from(unsafe { read_le(p, u64::from(n)) }),
    }
}

/// A mask of the low `bits` bits (`bits <= 64`).
fn mask(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

/// Lane `lane` of `size`-byte lanes of `v`, zero-extended.
pub(super) fn lane(v: u128, size: u8, lane: u8) -> u64 {
    let bits = u32::from(size) * 8;
    ((v >> (u32::from(lane) * bits)) as u64) & mask(bits)
}

/// `v` with lane `lane` of `size`-byte lanes replaced by the low bits of `x`.
pub(super) fn replace_lane(v: u128, size: u8, lane: u8, x: u64) -> u128 {
    let bits = u32::from(size) * 8;
    let at = u32::from(lane) * bits;
    let m = u128::from(mask(bits)) << at;
    (v & !m) | ((u128::from(x & mask(bits))) << at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extending_loads_widen_each_lane() {
        let bytes: [u8; 8] = [0x80, 0x01, 0xff, 0x7f, 0, 0, 0, 0x90];
        // SAFETY: eight readable bytes.
        let s = unsafe { load(VLoad::Extend { lane_bytes: 1, signed: true }, bytes.as_ptr()) };
        assert_eq!(lane(s, 2, 0), 0xff80);
        assert_eq!(lane(s, 2, 1), 0x0001);
        assert_eq!(lane(s, 2, 7), 0xff90);
        // SAFETY: eight readable bytes.
        let u = unsafe { load(VLoad::Extend { lane_bytes: 4, signed: false }, bytes.as_ptr()) };
        assert_eq!(lane(u, 8, 1), 0x9000_0000);
        // SAFETY: eight readable bytes.
        let s = unsafe { load(VLoad::Extend { lane_bytes: 4, signed: true }, bytes.as_ptr()) };
        assert_eq!(lane(s, 8, 1), 0xffff_ffff_9000_0000);
    }

    #[test]
    fn splats_and_lanes() {
        let bytes: [u8; 2] = [0x34, 0x12];
        // SAFETY: two readable bytes.
        let v = unsafe { load(VLoad::Splat(2), bytes.as_ptr()) };
        assert_eq!(v, 0x1234_1234_1234_1234_1234_1234_1234_1234);
        let v = replace_lane(v, 4, 3, 0xdead_beef);
        assert_eq!(lane(v, 4, 3), 0xdead_beef);
        assert_eq!(lane(v, 4, 2), 0x1234_1234);
    }
}
