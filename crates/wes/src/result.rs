//! [`ExecutionResult`]: everything one call of an export came to.

use std::time::Duration;

use wes_core::Value;

use crate::error::RuntimeError;

/// The outcome of [`Instance::execute`](crate::Instance::execute): the results (typed and
/// encoded), the gas, memory, time, host calls, logs and side effects of the call, and the
/// error when it failed. A call that traps still has its gas and everything it did up to the
/// trap.
#[derive(Debug)]
#[non_exhaustive]
pub struct ExecutionResult {
    /// Whether the call returned normally.
    pub success: bool,
    /// The results (empty when the call failed).
    pub values: Vec<Value>,
    /// The runtime's `[data] encoding`, which [`ExecutionResult::encoded`] uses.
    pub encoding: crate::Encoding,
    /// Gas figures of this call.
    pub gas: GasReport,
    /// Memory 0 of the instance over this call (all zero when the module has no memory).
    pub memory: MemoryReport,
    /// Wall-clock time of the call. Not consensus-visible: it varies with the machine.
    /// Measured with the CPU's time-stamp counter, calibrated against the monotonic clock
    /// once per process (the monotonic clock itself where the CPU has no invariant counter);
    /// zero if the thread moved to a CPU whose counter reads behind.
    pub duration: Duration,
    /// Host functions called (by wasm, during this call).
    pub host_calls: u64,
    /// The wasm operators the call executed, nested calls back into wasm included, when
    /// `monitoring.count_operators` is on (`None` otherwise). Counted per straight-line segment
    /// when its gas is charged (`docs/pricing.md`): a trapping segment counts whole, one that
    /// runs out of gas not at all. The same on every backend.
    pub operators_executed: Option<u64>,
    /// What the code logged through the `wes.log` capability, in order.
    pub logs: Vec<String>,
    /// What host functions recorded with [`record_effect`](crate::host::record_effect), in order.
    pub side_effects: Vec<SideEffect>,
    /// Why the call failed, when it did.
    pub error: Option<RuntimeError>,
    /// Gas and time per function of this call, when `monitoring.profile` is on: the functions'
    /// exclusive gas adds up to [`GasReport::consumed`]. Render it with
    /// [`GasProfile::folded`](wes_runtime::GasProfile::folded) for flame-graph tools.
    pub profile: Option<wes_runtime::GasProfile>,
}

impl ExecutionResult {
    /// The results in the runtime's `[data] encoding`. Encoded on request, so a caller that
    /// only reads [`ExecutionResult::values`] does not pay for it.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Encoding`](crate::ErrorCode::Encoding) if the format cannot represent a
    /// value (none of the built-in ones fails).
    pub fn encoded(&self) -> Result<Vec<u8>, RuntimeError> {
        Ok(self.encoding.encoder().encode(&self.values)?)
    }

    /// The results, or the error.
    ///
    /// # Errors
    ///
    /// The call's [`RuntimeError`] when it failed.
    pub fn into_result(self) -> Result<Vec<Value>, RuntimeError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.values),
        }
    }
}

/// Gas of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GasReport {
    /// The instance meter's limit when the call ended (with any top-ups).
    pub limit: u64,
    /// Gas the call consumed, before refunds.
    pub consumed: u64,
    /// Gas refunded to the call.
    pub refunded: u64,
    /// Net: `consumed - refunded`.
    pub used: u64,
    /// What the instance's meter has left.
    pub remaining: u64,
}

/// Memory 0 over one call, in 64 KiB pages. Wasm memories never shrink, so the peak of a call
/// is its final size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryReport {
    /// Size when the call started.
    pub initial_pages: u64,
    /// The largest size during the call.
    pub peak_pages: u64,
    /// Size when the call ended.
    pub final_pages: u64,
    /// Successful `memory.grow`s during the call (of any memory of the store).
    pub growths: u64,
}

/// Something a host function did that the embedder must know about (a storage write, an
/// event, a message to send), recorded in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideEffect {
    /// What kind of effect, in the host's vocabulary (`"storage.write"`, `"event"`).
    pub kind: String,
    /// Its data.
    pub data: Vec<u8>,
}
