//! What host functions defined on a [`Runtime`](crate::Runtime) can do beyond
//! [`wes_runtime::Caller`]: log, record side effects, and reach the embedder's data of the
//! instance. Each instance's store carries a `HostState` for this, made when a host function
//! or the embedder first needs it (a fresh instance whose calls log nothing has none).

use std::any::Any;

use wes_runtime::{Caller, HostError};

use crate::result::SideEffect;

/// The longest message one `wes.log` call may write, in bytes.
pub const MAX_LOG_MESSAGE: u32 = 16 * 1024;
/// The most log bytes one call may write in total; past it `wes.log` fails the call.
pub const MAX_LOG_BYTES: usize = 1024 * 1024;
/// Gas `wes.log` charges per byte, on top of the host call's base cost.
pub const LOG_GAS_PER_BYTE: u64 = 1;

/// The per-instance state host functions of the facade share: logs, side effects of the call
/// running now, and the embedder's own data.
#[derive(Default)]
pub(crate) struct HostState {
    pub(crate) logs: Vec<String>,
    pub(crate) log_bytes: usize,
    pub(crate) effects: Vec<SideEffect>,
    pub(crate) user: Option<Box<dyn Any + Send>>,
    /// The instance's permissions, when the runtime has a security layer (kept here so a
    /// pooled instance brings its own back on every check-out).
    pub(crate) session: Option<std::sync::Arc<wes_security::Session>>,
}

impl HostState {
    /// Forgets everything a user of the instance left, keeping its session.
    pub(crate) fn clear(&mut self) {
        self.logs.clear();
        self.log_bytes = 0;
        self.effects.clear();
        self.user = None;
    }
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState").field("logs", &self.logs.len()).field("effects", &self.effects.len()).finish()
    }
}

fn state<'a>(caller: &'a mut Caller<'_>) -> Result<&'a mut HostState, HostError> {
    caller.data_or_insert_with(HostState::default).ok_or_else(|| HostError::new("not an instance of a wes::Runtime"))
}

/// The embedder's data of the calling instance (set with
/// [`Instance::set_data`](crate::Instance::set_data)), if it is a `T`.
pub fn data<'a, T: Any>(caller: &'a mut Caller<'_>) -> Option<&'a mut T> {
    caller.data::<HostState>()?.user.as_mut()?.downcast_mut()
}

/// Records a side effect of the running call; it appears in
/// [`ExecutionResult::side_effects`](crate::ExecutionResult::side_effects).
///
/// # Errors
///
/// A host error when the caller is not an instance of a [`Runtime`](crate::Runtime).
pub fn record_effect(caller: &mut Caller<'_>, kind: impl Into<String>, data: Vec<u8>) -> Result<(), HostError> {
    state(caller)?.effects.push(SideEffect { kind: kind.into(), data });
    Ok(())
}

/// Appends a line to the running call's log, as `wes.log` does.
///
/// # Errors
///
/// A host error past [`MAX_LOG_BYTES`] for the call, or when the caller is not an instance of a
/// [`Runtime`](crate::Runtime).
pub fn log(caller: &mut Caller<'_>, message: impl Into<String>) -> Result<(), HostError> {
    let message = message.into();
    let s = state(caller)?;
    if s.log_bytes + message.len() > MAX_LOG_BYTES {
        return Err(HostError::new(format!("the call logged more than {MAX_LOG_BYTES} bytes")));
    }
    s.log_bytes += message.len();
    s.logs.push(message);
    Ok(())
}

/// The `wes.log` capability every runtime links: `(func (param $ptr i32) (param $len i32))`
/// logs the UTF-8 text at `ptr` (invalid sequences replaced), charging
/// [`LOG_GAS_PER_BYTE`] per byte before reading it.
pub(crate) fn log_capability(caller: &mut Caller<'_>, (ptr, len): (u32, u32)) -> Result<(), HostError> {
    log_message(caller, ptr, len)
}

/// `wes.log` under a security layer: of capability `log`, its bytes counted against the
/// capability's byte budget before anything is read.
pub(crate) fn guarded_log_capability(
    caller: &mut Caller<'_>,
    permit: &wes_security::Permit<'_>,
    (ptr, len): (u32, u32),
) -> Result<(), HostError> {
    permit.bytes(u64::from(len))?;
    log_message(caller, ptr, len)
}

fn log_message(caller: &mut Caller<'_>, ptr: u32, len: u32) -> Result<(), HostError> {
    if len > MAX_LOG_MESSAGE {
        return Err(HostError::new(format!("a log message of {len} bytes is longer than {MAX_LOG_MESSAGE}")));
    }
    caller.charge_gas(u64::from(len) * LOG_GAS_PER_BYTE)?;
    let mut buf = vec![0; len as usize];
    caller.read_memory(u64::from(ptr), &mut buf)?;
    log(caller, String::from_utf8_lossy(&buf).into_owned())
}
