//! Portable lane semantics of the 128-bit SIMD operators that do not access memory: pure
//! functions on `u128`, no host SIMD required.
