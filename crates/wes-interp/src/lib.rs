//! The WES interpreter: a [`Backend`](wes_core::Backend) that runs validated wasm without
//! generating native code.
//!
//! It serves what a JIT cannot: a module ready to run in microseconds, hosts the JIT does not
//! support, and an independent implementation to test the JIT against call by call. Results,
//! traps and gas are those of the JIT by construction: gas is charged per
//! `wes_meter::function_segments` segment, and everything an instance owns is reached through
//! the same vmctx layout (`wes_core::vm`) and runtime libcalls.

mod simd;
