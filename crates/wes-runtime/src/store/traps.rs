//! The store's side of traps and values: recording a trap and its frames for the backtrace, and
//! converting values between the embedder's `Value` and the raw slots compiled code uses.

use super::*;

impl StoreInner {
    pub(crate) fn record_trap(&mut self, code: TrapCode, detail: Option<String>) {
        self.trap = Some(PendingTrap { code, detail, inner: Vec::new(), frames: Vec::new() });
    }

    /// Records the trap of a wasm call a host function made and passed on as its own error:
    /// the same code and detail, with the inner call's frames first in the backtrace.
    pub(crate) fn record_inner_trap(&mut self, trap: Trap) {
        self.trap =
            Some(PendingTrap { code: trap.code, detail: trap.detail, inner: trap.backtrace, frames: Vec::new() });
    }

    pub(crate) fn record_frame(&mut self, instance: usize, func_index: u32, offset: u32) {
        let trap = self.trap.get_or_insert_with(|| PendingTrap {
            // A status of zero without a recorded trap would be a runtime bug; report it as a
            // host error rather than losing the trap.
            code: TrapCode::HostError,
            detail: Some("trap without a recorded cause".into()),
            inner: Vec::new(),
            frames: Vec::new(),
        });
        if trap.inner.len() + trap.frames.len() < MAX_BACKTRACE {
            trap.frames.push((instance, func_index, offset));
        }
    }

    /// Records the frames of native code a trap unwinds, for the backtrace: walking the
    /// frame-pointer chain from the frame whose frame pointer is `fp` outward, each return
    /// address names a call site of a caller (through [`CompiledModule::frame_at`] of the
    /// module whose code it is in), until the frame that the innermost entry (whose frame
    /// pointer is `stop`) called. `first_offset`, when given, replaces the offset of the first
    /// frame found (the segment that ran out of gas, which called a shim, rather than the
    /// shim's call site).
    ///
    /// # Safety
    ///
    /// `fp` must be the frame pointer of a live frame of native code that keeps frame pointers
    /// (as every frame between it and the innermost entry does), called, through such frames
    /// only, by the function the innermost entry of this store called, and `stop` that entry's
    /// [`UnwindBuf::frame_pointer`](wes_core::unwind::UnwindBuf::frame_pointer).
    pub(crate) unsafe fn record_native_frames(&mut self, mut fp: usize, stop: usize, mut first_offset: Option<u32>) {
        // Bounds the walk whatever the stack holds: a wasm frame and an entry between each
        // two, and never more wasm frames than the backtrace keeps.
        let mut steps = 2 * MAX_BACKTRACE + 2;
        while fp != 0 && steps > 0 && !self.backtrace_full() {
            steps -= 1;
            // SAFETY: `fp` is the frame pointer of a live frame of native code (this function's
            // contract for the first, the saved frame pointer of such a frame for the others,
            // until the entry's is reached): it holds the caller's frame pointer and, above
            // it, the return address.
            let (caller_fp, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
            if caller_fp == stop {
                break; // `fp` is the frame the entry called
            }
            match self.native_frame(ret) {
                Some((instance, wes_core::backend::NativeFrame::Wasm { func_index, offset })) => {
                    let offset = first_offset.take().unwrap_or(offset);
                    self.record_frame(instance, func_index, offset);
                }
                Some((_, wes_core::backend::NativeFrame::Trampoline)) => {}
                // Code of no module of this store: not a frame this walk may follow.
                None => break,
            }
            fp = caller_fp;
        }
    }

    /// The instance whose module's native code holds return address `pc`, and what it is.
    fn native_frame(&self, pc: usize) -> Option<(usize, wes_core::backend::NativeFrame)> {
        self.instances.iter().enumerate().find_map(|(i, inst)| inst.compiled().frame_at(pc).map(|f| (i, f)))
    }

    /// The instance whose module's code holds the instruction at `pc` whose fault is a trap,
    /// and what the fault means (see [`CompiledModule::fault_at`]). Allocates nothing and
    /// takes no lock: the fault handler asks.
    pub(crate) fn fault_at(&self, pc: usize) -> Option<(usize, wes_core::Fault<'_>)> {
        self.instances.iter().enumerate().find_map(|(i, inst)| inst.compiled().fault_at(pc).map(|f| (i, f)))
    }

    fn backtrace_full(&self) -> bool {
        self.trap.as_ref().is_some_and(|t| t.inner.len() + t.frames.len() >= MAX_BACKTRACE)
    }

    pub(crate) fn take_trap(&mut self) -> Trap {
        let pending = self.trap.take().unwrap_or(PendingTrap {
            code: TrapCode::HostError,
            detail: Some("trap without a recorded cause".into()),
            inner: Vec::new(),
            frames: Vec::new(),
        });
        let mut trap = Trap::new(pending.code);
        trap.detail = pending.detail;
        trap.backtrace = pending.inner;
        trap.backtrace.extend(pending.frames.iter().map(|(i, f, at)| FrameInfo {
            func_index: *f,
            func_name: self.instances.get(*i).and_then(|inst| inst.module().func_name(*f)).map(str::to_string),
            offset: Some(*at),
        }));
        trap
    }

    // ---- values ------------------------------------------------------------------------

    /// The raw form of a value, or `None` for a function reference of another store.
    #[inline]
    pub(crate) fn value_to_raw(&self, v: Value) -> Option<ValRaw> {
        Some(match v {
            Value::I32(x) => ValRaw::from(x as u32),
            Value::I64(x) => ValRaw::from(x as u64),
            Value::F32(b) => ValRaw::from(b),
            Value::F64(b) => ValRaw::from(b),
            Value::V128(x) => x,
            Value::FuncRef(None) | Value::ExternRef(None) => 0,
            Value::FuncRef(Some(r)) => self.funcref_raw(r)?,
            Value::ExternRef(Some(e)) => ValRaw::from(e.0) + 1,
        })
    }

    pub(super) fn funcref_raw(&self, r: FuncRef) -> Option<ValRaw> {
        let f = self.funcs.get(r.index() as usize)?;
        Some(f.vmref as usize as ValRaw)
    }

    /// The function whose record is at `addr`, if it is one of this store's.
    pub(super) fn func_at(&self, addr: usize) -> Option<u32> {
        let size = std::mem::size_of::<VMFuncRef>();
        let block = self.func_blocks.get(self.func_blocks.partition_point(|b| b.start <= addr).checked_sub(1)?)?;
        let offset = addr - block.start;
        let i = u32::try_from(offset / size).ok().filter(|i| offset.is_multiple_of(size) && *i < block.count)?;
        Some(block.first + i)
    }

    /// The value of type `ty` whose raw form is `raw`.
    #[inline]
    pub(crate) fn raw_to_value(&self, raw: ValRaw, ty: ValType) -> Value {
        match ty {
            ValType::I32 => Value::I32(raw as u32 as i32),
            ValType::I64 => Value::I64(raw as u64 as i64),
            ValType::F32 => Value::F32(raw as u32),
            ValType::F64 => Value::F64(raw as u64),
            ValType::V128 => Value::V128(raw),
            ValType::FuncRef => {
                let addr = raw as u64 as usize;
                Value::FuncRef(if addr == 0 { None } else { self.func_at(addr).map(FuncRef::from_index) })
            }
            ValType::ExternRef => {
                let x = raw as u64;
                Value::ExternRef(if x == 0 { None } else { Some(wes_core::ExternRef((x - 1) as u32)) })
            }
        }
    }
}
