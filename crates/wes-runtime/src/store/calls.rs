//! Calls from the embedder into wasm: the native stack they run on and the entry itself.

use wes_core::Value;
use wes_core::backend::ValRaw;

use super::{FRAME_SLACK, StoreInner};
use crate::RuntimeError;
use crate::vm::{self, WasmStack};

impl StoreInner {
    /// The native stack a call needs for the configured depth and the largest frame here.
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size_for(self.max_frame)
    }

    pub(super) fn stack_size_for(&self, max_frame: usize) -> usize {
        let config = self.engine.config();
        let per_frame = max_frame.saturating_add(FRAME_SLACK);
        (config.max_call_depth as usize).saturating_mul(per_frame).saturating_add(config.host_stack_reserve)
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

    /// Calls function `func` of this store with `args`.
    pub(crate) fn call(&mut self, func: u32, args: &[Value]) -> Result<Vec<Value>, RuntimeError> {
        let ty = self.func_ty(func).ok_or(RuntimeError::WrongStore)?.clone();
        if args.len() != ty.params().len() || args.iter().zip(ty.params()).any(|(a, t)| a.ty() != *t) {
            let got: Vec<&str> = args.iter().map(|a| a.ty().name()).collect();
            return Err(RuntimeError::TypeMismatch(format!("{ty} called with ({})", got.join(" "))));
        }
        // Code may write memory: a checkpoint can no longer take a memory as it was made.
        self.touched = true;
        let mut buf = vec![0 as ValRaw; ty.params().len().max(ty.results().len()).max(1)];
        for (slot, a) in buf.iter_mut().zip(args) {
            *slot = self.value_to_raw(*a).ok_or(RuntimeError::WrongStore)?;
        }
        if !vm::call(self, func, &mut buf)? {
            return Err(RuntimeError::Trap(self.take_trap()));
        }
        Ok(ty.results().iter().zip(&buf).map(|(t, raw)| self.raw_to_value(*raw, *t)).collect())
    }
}
