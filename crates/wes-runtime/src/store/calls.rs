//! Calls from the embedder into wasm: the native stack they run on and the entry itself.

use wes_core::Value;
use wes_core::backend::ValRaw;

use super::{FRAME_SLACK, StoreInner};
use crate::RuntimeError;
use crate::vm::{self, WasmStack};

/// Value slots of a call from the embedder held on the stack; a signature with more
/// parameters or results than this gets a heap buffer.
const INLINE_SLOTS: usize = 16;

impl StoreInner {
    /// The native stack a call needs for the configured depth and the largest frame here.
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size_for(self.max_frame)
    }

    /// The native stack for the configured depth with frames of up to `max_frame` bytes: every
    /// wasm frame, plus a host reserve for the host function at the top and one for each host
    /// function that may be calling back into wasm below it.
    pub(super) fn stack_size_for(&self, max_frame: usize) -> usize {
        let config = self.engine.config();
        let per_frame = max_frame.saturating_add(FRAME_SLACK);
        let host_levels = (config.max_host_reentry as usize).saturating_add(1);
        (config.max_call_depth as usize)
            .saturating_mul(per_frame)
            .saturating_add(host_levels.saturating_mul(config.host_stack_reserve))
    }

    /// The native stack a call back into wasm from a host function needs, to open `frames`
    /// frames and call one more host function at the top.
    pub(crate) fn stack_needed(&self, frames: u32) -> usize {
        let per_frame = self.max_frame.saturating_add(FRAME_SLACK);
        (frames as usize).saturating_mul(per_frame).saturating_add(self.engine.config().host_stack_reserve)
    }

    /// The tail-call buffer of re-entry level `level` (0 for the first host function calling
    /// into wasm), made on first use.
    pub(crate) fn reentry_tail_buffer(&mut self, level: usize) -> *mut ValRaw {
        while self.reentry.tail_buffers.len() <= level {
            self.reentry
                .tail_buffers
                .push(vec![0 as ValRaw; wes_core::vm::TAIL_CALL_SLOTS as usize].into_boxed_slice());
        }
        self.reentry.tail_buffers[level].as_mut_ptr()
    }

    pub(crate) fn take_stack(&mut self) -> Result<WasmStack, RuntimeError> {
        let need = self.stack_size();
        match self.stack.take() {
            Some(s) if s.size() >= need => Ok(s),
            _ => match self.engine.take_stack(need) {
                Some(s) => Ok(s),
                None => WasmStack::new(need)
                    .map_err(|e| RuntimeError::ResourceLimit(format!("cannot map a {need}-byte stack for wasm: {e}"))),
            },
        }
    }

    pub(crate) fn put_stack(&mut self, stack: WasmStack) {
        self.stack = Some(stack);
    }

    /// Calls function `func` of this store with `args`, from the embedder.
    pub(crate) fn call(&mut self, func: u32, args: &[Value]) -> Result<Vec<Value>, RuntimeError> {
        self.call_with(func, args, vm::call)
    }

    /// Calls function `func` of this store with `args`, from a host function that wasm called.
    pub(crate) fn call_from_host(&mut self, func: u32, args: &[Value]) -> Result<Vec<Value>, RuntimeError> {
        self.call_with(func, args, vm::reenter)
    }

    fn call_with(
        &mut self,
        func: u32,
        args: &[Value],
        enter: fn(&mut StoreInner, u32, &mut [ValRaw]) -> Result<bool, RuntimeError>,
    ) -> Result<Vec<Value>, RuntimeError> {
        // The type is borrowed, not cloned (a clone is a locked add and a locked sub of its
        // `Arc`s on every call): read what the call needs now, and again after it.
        // `let else`, not `ok_or`: the error would be built and dropped on every call.
        let Some(ty) = self.func_ty(func) else { return Err(RuntimeError::WrongStore) };
        if args.len() != ty.params().len() || args.iter().zip(ty.params()).any(|(a, t)| a.ty() != *t) {
            let got: Vec<&str> = args.iter().map(|a| a.ty().name()).collect();
            return Err(RuntimeError::TypeMismatch(format!("{ty} called with ({})", got.join(" "))));
        }
        // The values go in and out through one buffer of max(params, results) slots; most
        // signatures fit in a few, kept on the stack rather than allocated and freed per call
        // (a `calloc`/`free` pair was about 2% of a pooled contract call).
        let slots = ty.params().len().max(ty.results().len()).max(1);
        // Code may write memory: a checkpoint can no longer take a memory as it was made.
        self.touched = true;
        let mut inline = [0 as ValRaw; INLINE_SLOTS];
        let mut heap = Vec::new();
        let buf: &mut [ValRaw] = match inline.get_mut(..slots) {
            Some(buf) => buf,
            None => {
                heap.resize(slots, 0 as ValRaw);
                &mut heap
            }
        };
        for (slot, a) in buf.iter_mut().zip(args) {
            let Some(raw) = self.value_to_raw(*a) else { return Err(RuntimeError::WrongStore) };
            *slot = raw;
        }
        let profiled = self.profile_depth();
        let entered = enter(self, func, buf);
        // Frames a trap unwound never reported their exit.
        self.profile_unwind(profiled);
        if !entered? {
            return Err(RuntimeError::Trap(self.take_trap()));
        }
        // The store's functions are never removed, so the type is still there.
        let results = self.func_ty(func).map_or(&[][..], |ty| ty.results());
        Ok(results.iter().zip(buf.iter()).map(|(t, raw)| self.raw_to_value(*raw, *t)).collect())
    }
}
