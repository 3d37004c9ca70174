//! Host functions: Rust closures wasm can import, and the [`Caller`] handle they receive.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use wes_core::backend::{ArrayCallFn, ValRaw};
use wes_core::{FuncType, Trap, TrapCode, ValType, Value};

use crate::RuntimeError;
use crate::api::{Extern, Func};
use crate::store::StoreInner;

/// The error a host function fails with. The wasm call that reached it traps with
/// [`TrapCode::HostError`](wes_core::TrapCode::HostError) and this message as the trap's detail
/// — unless the error passes on a trap (see [`HostError::out_of_gas`] and the conversion from
/// [`RuntimeError`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    message: String,
    trap: Option<TrapCode>,
    /// The trap of a call back into wasm that this error passes on.
    inner: Option<Box<Trap>>,
}

impl HostError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        HostError { message: message.into(), trap: None, inner: None }
    }

    /// The error [`Caller::charge_gas`] returns when the gas ran out: the wasm call traps with
    /// [`TrapCode::OutOfGas`] rather than a host error.
    pub fn out_of_gas() -> Self {
        HostError { message: TrapCode::OutOfGas.message().into(), trap: Some(TrapCode::OutOfGas), inner: None }
    }

    /// The trap of a call back into wasm ([`Caller::call`]) that this error passes on, if it
    /// does.
    pub fn inner_trap(&self) -> Option<&Trap> {
        self.inner.as_deref()
    }

    /// Takes the inner trap out, for the trampoline.
    pub(crate) fn into_inner_trap(self) -> Option<Trap> {
        self.inner.map(|t| *t)
    }

    /// The trap this error becomes, when it is not a plain host error.
    pub fn trap_code(&self) -> Option<TrapCode> {
        self.trap
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A failed call back into wasm, passed on with `?`: a trap stays that trap — the wasm call
/// that reached the host function traps with the same code and detail, its backtrace the
/// inner call's frames followed by the outer ones — exactly as if the wasm functions had
/// called each other directly. Other errors (a wrong argument type, say) become host errors.
impl From<RuntimeError> for HostError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Trap(t) => HostError { message: t.to_string(), trap: Some(t.code), inner: Some(Box::new(t)) },
            other => HostError::new(other.to_string()),
        }
    }
}

impl From<MemoryAccessError> for HostError {
    fn from(e: MemoryAccessError) -> Self {
        HostError::new(e.to_string())
    }
}

/// Why a host function could not access the caller's memory.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryAccessError {
    /// The function was not called from wasm, or the calling instance has no memory.
    #[error("the caller has no linear memory")]
    NoMemory,
    /// The range is not inside the memory.
    #[error("memory access out of bounds: {len} bytes at {offset} in a memory of {size} bytes")]
    OutOfBounds {
        /// Where the access starts.
        offset: u64,
        /// How many bytes it covers.
        len: u64,
        /// The memory's size in bytes.
        size: u64,
    },
}

/// What the trampoline calls (see [`HostCall`]), behind the `dyn` that stores hold.
pub(crate) type RawHostFn = dyn HostCall;

/// What the trampoline runs for a host function: [`HostCall::call`] on the function's type and
/// its argument/result slots, read and written in place (the slots are the caller's
/// array-call buffer: `max(params, results)` values in their raw form, arguments on entry,
/// results on a successful return), after a check when the function has one.
pub(crate) trait HostCall: Send + Sync {
    /// Whether calls are gated: when true, a call goes ahead without [`HostCall::check`] only
    /// while the function's [`Gate`] is open (its records then point at the ordinary entry).
    /// A constant of the type.
    fn gated(&self) -> bool;
    /// The closer check, out of line, of a gated call made while the gate was closed: an
    /// error makes the call trap before [`HostCall::call`] runs.
    fn check(&self) -> Result<(), HostError>;
    /// The call.
    fn call(&self, caller: &mut Caller<'_>, ty: &FuncType, slots: &mut [ValRaw]) -> Result<(), HostError>;
}

/// A host function without a check.
struct Unchecked<F>(F);

impl<F> HostCall for Unchecked<F>
where
    F: Fn(&mut Caller<'_>, &FuncType, &mut [ValRaw]) -> Result<(), HostError> + Send + Sync,
{
    #[inline(always)]
    fn gated(&self) -> bool {
        false
    }
    fn check(&self) -> Result<(), HostError> {
        Ok(())
    }
    #[inline(always)]
    fn call(&self, caller: &mut Caller<'_>, ty: &FuncType, slots: &mut [ValRaw]) -> Result<(), HostError> {
        (self.0)(caller, ty, slots)
    }
}

/// A typed host function with a gate (see [`HostFunc::wrap_gated`]): its state, the check of
/// calls made while the gate is closed, and the call, both of the state.
struct Checked<S, Check, Call> {
    state: S,
    check: Check,
    call: Call,
}

impl<S, Check, Call> HostCall for Checked<S, Check, Call>
where
    S: Send + Sync,
    Check: Fn(&S) -> Result<(), HostError> + Send + Sync,
    Call: Fn(&S, &mut Caller<'_>, &mut [ValRaw]) -> Result<(), HostError> + Send + Sync,
{
    #[inline(always)]
    fn gated(&self) -> bool {
        true
    }
    fn check(&self) -> Result<(), HostError> {
        (self.check)(&self.state)
    }
    #[inline(always)]
    fn call(&self, caller: &mut Caller<'_>, _: &FuncType, slots: &mut [ValRaw]) -> Result<(), HostError> {
        (self.call)(&self.state, caller, slots)
    }
}

/// A host function's type and implementation, shared by every store that uses it. Stores
/// hold it by `Arc` and the trampoline borrows it for the call, so calling costs no clone.
pub(crate) struct HostFuncData<F: ?Sized = RawHostFn> {
    pub(crate) ty: FuncType,
    /// `max(params, results)`: the slots of the call buffer, computed once.
    pub(crate) slots: usize,
    /// The array-call entry of this function: [`crate::vm::host_trampoline`] instantiated for
    /// the closure's own type, so the call into the closure is direct (and inlined) rather
    /// than through the `dyn` vtable. Only ever paired with this data (see `from_raw`).
    pub(crate) trampoline: ArrayCallFn,
    /// The cold entry ([`crate::vm::host_checked`] for the same closure type): charges the
    /// base cost out of line and runs the check when the gate is closed.
    pub(crate) checked: ArrayCallFn,
    /// A gated function's [`Gate`]: open, its calls skip the check. Unused by ungated
    /// functions.
    pub(crate) gate: AtomicBool,
    /// How many [`HostFunc`] handles of this function exist (the embedder's, a linker's, an
    /// `InstancePre`'s); the stores' references are not counted. While it is not zero, a
    /// store's reference may be kept as a thread's spare when the store drops (see
    /// `crate::spare`); when it reaches zero, every thread's spares of the function are let
    /// go at once, so the function is dropped with its last store.
    pub(crate) handles: AtomicUsize,
    /// The records of a gated function in every store that has it, which the gate switches
    /// between [`HostFuncData::trampoline`] (open: the call costs exactly an ungated one's)
    /// and [`HostFuncData::checked`] (closed). Records are added and removed, and switched,
    /// under this lock only, so a switch never writes a record its store has freed.
    pub(crate) records: Mutex<Records>,
    pub(crate) call: F,
}

/// Addresses of live [`VMFuncRef`](crate::vm::VMFuncRef)s (as integers: the list is only
/// ever dereferenced under its lock, by [`Gate::set`]).
#[derive(Default)]
pub(crate) struct Records(pub(crate) Vec<usize>);

impl<F: ?Sized> HostFuncData<F> {
    /// The entry a record of this gated function takes now: the cold one while its gate is
    /// closed.
    pub(crate) fn gated_entry(&self) -> ArrayCallFn {
        match self.gate.load(Ordering::Acquire) {
            true => self.trampoline,
            false => self.checked,
        }
    }
}

/// A host function: its type and implementation, defined once and usable in any store.
pub struct HostFunc {
    pub(crate) data: Arc<HostFuncData>,
}

impl Clone for HostFunc {
    fn clone(&self) -> Self {
        HostFunc { data: wes_core::spare::Spares::clone_handle(&self.data) }
    }
}

impl Drop for HostFunc {
    fn drop(&mut self) {
        // The last handle: no store made from now on can hold the function, so the spares
        // threads keep of it go now (each store still using it holds its own reference).
        crate::spare::HOST_SPARES.drop_handle(&self.data);
    }
}

impl std::fmt::Debug for HostFunc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostFunc").field("ty", &self.data.ty).finish_non_exhaustive()
    }
}

/// Argument and result buffers of the [`Value`] form up to this many values live on the stack;
/// wider signatures allocate.
const INLINE_VALUES: usize = 8;

impl HostFunc {
    /// A host function of type `ty`. The closure receives the arguments (already checked
    /// against the parameter types) and a result slice pre-filled with zero values of the result
    /// types, to overwrite; returning a value of the wrong type is a host error.
    pub fn new(
        ty: FuncType,
        func: impl Fn(&mut Caller<'_>, &[Value], &mut [Value]) -> Result<(), HostError> + Send + Sync + 'static,
    ) -> Self {
        HostFunc::from_raw(ty, move |caller, ty, slots| {
            let (np, nr) = (ty.params().len(), ty.results().len());
            let mut params_inline = [Value::I32(0); INLINE_VALUES];
            let mut results_inline = [Value::I32(0); INLINE_VALUES];
            let (mut params_heap, mut results_heap) = (Vec::new(), Vec::new());
            let params = match params_inline.get_mut(..np) {
                Some(p) => p,
                None => {
                    params_heap.resize(np, Value::I32(0));
                    &mut params_heap[..]
                }
            };
            let results = match results_inline.get_mut(..nr) {
                Some(r) => r,
                None => {
                    results_heap.resize(nr, Value::I32(0));
                    &mut results_heap[..]
                }
            };
            for ((p, t), raw) in params.iter_mut().zip(ty.params()).zip(slots.iter()) {
                *p = caller.store.raw_to_value(*raw, *t);
            }
            for (r, t) in results.iter_mut().zip(ty.results()) {
                *r = Value::default_for(*t);
            }
            func(caller, params, results)?;
            for (i, ((t, v), slot)) in ty.results().iter().zip(results.iter()).zip(slots.iter_mut()).enumerate() {
                if v.ty() != *t {
                    return Err(HostError::new(format!(
                        "host function returned {} for result {i} of type {t}",
                        v.ty()
                    )));
                }
                *slot = caller.store.value_to_raw(*v).ok_or_else(foreign_funcref)?;
            }
            Ok(())
        })
    }

    /// A host function of type `ty` working on the raw slots directly (see [`RawHostFn`]).
    fn from_raw(
        ty: FuncType,
        call: impl Fn(&mut Caller<'_>, &FuncType, &mut [ValRaw]) -> Result<(), HostError> + Send + Sync + 'static,
    ) -> Self {
        HostFunc { data: make_data(ty, Unchecked(call)) }
    }

    /// The function's type.
    pub fn ty(&self) -> &FuncType {
        &self.data.ty
    }

    /// A host function from a typed closure, its wasm type derived from the Rust types:
    ///
    /// ```
    /// use wes_runtime::{Caller, HostError, HostFunc};
    /// let add = HostFunc::wrap(|_: &mut Caller<'_>, (a, b): (i32, i64)| -> Result<i64, HostError> {
    ///     Ok(i64::from(a) + b)
    /// });
    /// assert_eq!(add.ty().to_string(), "(func (param i32 i64) (result i64))");
    /// ```
    ///
    /// The arguments are read from and the results written to the call's raw slots directly,
    /// with no intermediate [`Value`]s: this is the fast way to define a host function.
    pub fn wrap<P: WasmParams, R: WasmResults>(
        f: impl Fn(&mut Caller<'_>, P) -> Result<R, HostError> + Send + Sync + 'static,
    ) -> Self {
        let ty = FuncType::new(P::types(), R::types());
        HostFunc::from_raw(ty, move |caller, _, slots| {
            let p = P::load(caller, slots).ok_or_else(|| HostError::new("argument type mismatch"))?;
            f(caller, p)?.store(caller, slots)
        })
    }

    /// [`HostFunc::wrap`] behind a gate, with a check for the calls made while it is closed:
    /// `state` is the function's own data; while the returned [`Gate`] is open a call goes
    /// ahead at once, at exactly the cost of an ungated call; while it is closed, each call
    /// first runs `check` out of line, whose error makes the call trap without running `f`.
    /// The gate starts closed.
    ///
    /// For a check that usually has nothing to say (a permission that is granted): whoever
    /// owns the policy opens the gate while calls need no closer look and closes it when they
    /// do, from any thread. The gate is not tested on each call: setting it switches the
    /// function's records, in every store that has it, between its ordinary entry and a
    /// checking one (a lock and one store per record), so the common path has nothing of the
    /// rare one.
    ///
    /// ```
    /// use wes_runtime::{Caller, HostError, HostFunc};
    /// let (open, gate) = HostFunc::wrap_gated(
    ///     (),
    ///     |_| Err(HostError::new("closed")),
    ///     |_, _: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> { Ok(x) },
    /// );
    /// assert_eq!(open.ty().to_string(), "(func (param i32) (result i32))");
    /// assert!(!gate.is_open());
    /// assert!(gate.set(true));
    /// assert!(gate.is_open());
    /// drop(open);
    /// assert!(!gate.set(true), "the function is gone");
    /// ```
    pub fn wrap_gated<S, P, R, F>(
        state: S,
        check: impl Fn(&S) -> Result<(), HostError> + Send + Sync + 'static,
        f: F,
    ) -> (Self, Gate)
    where
        S: Send + Sync + 'static,
        P: WasmParams,
        R: WasmResults,
        F: Fn(&S, &mut Caller<'_>, P) -> Result<R, HostError> + Send + Sync + 'static,
    {
        let ty = FuncType::new(P::types(), R::types());
        let call = move |state: &S, caller: &mut Caller<'_>, slots: &mut [ValRaw]| {
            let p = P::load(caller, slots).ok_or_else(|| HostError::new("argument type mismatch"))?;
            f(state, caller, p)?.store(caller, slots)
        };
        let data = make_data(ty, Checked { state, check, call });
        let gate = Gate(Arc::downgrade(&data));
        (HostFunc { data }, gate)
    }
}

/// The gate of a host function made by [`HostFunc::wrap_gated`]: open, its calls skip their
/// check. A weak handle: it does not keep the function alive, and may be kept and set from
/// any thread (a security policy following a grant, say). A call that starts after
/// [`Gate::set`] returns sees the new state.
#[derive(Clone)]
pub struct Gate(Weak<HostFuncData>);

impl Gate {
    /// Opens (`true`) or closes the gate: every record of the function, in every store, is
    /// switched to the entry that skips the check or to the one that makes it. False when the
    /// function no longer exists (nothing can call it).
    pub fn set(&self, open: bool) -> bool {
        let Some(data) = self.0.upgrade() else { return false };
        let records = data.records.lock().unwrap_or_else(PoisonError::into_inner);
        data.gate.store(open, Ordering::Release);
        let entry = data.gated_entry();
        for &record in &records.0 {
            // SAFETY: a record's address is in the list only while the record lives: its
            // store adds it when it makes the record and removes it, under this same lock,
            // before freeing it (`HostRecord`'s drop).
            unsafe { (*(record as *const crate::vm::VMFuncRef)).set_call(entry) };
        }
        true
    }

    /// Whether the gate is open (false once the function no longer exists).
    pub fn is_open(&self) -> bool {
        self.0.upgrade().is_some_and(|data| data.gate.load(Ordering::Acquire))
    }

    /// Whether the function still exists.
    pub fn is_live(&self) -> bool {
        self.0.strong_count() > 0
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("live", &self.is_live()).field("open", &self.is_open()).finish()
    }
}

/// The shared data of a host function whose call has type `F`, with the trampoline for `F`.
fn make_data<F: HostCall + 'static>(ty: FuncType, call: F) -> Arc<HostFuncData> {
    let slots = ty.params().len().max(ty.results().len());
    Arc::new(HostFuncData {
        ty,
        slots,
        trampoline: crate::vm::host_trampoline::<F>,
        checked: crate::vm::host_checked::<F>,
        gate: AtomicBool::new(false),
        handles: AtomicUsize::new(1),
        records: Mutex::new(Records::default()),
        call,
    })
}

fn foreign_funcref() -> HostError {
    HostError::new("host function returned a foreign funcref")
}

/// A Rust type that is one wasm value.
pub trait WasmTy: Sized {
    /// Its wasm type.
    const TYPE: ValType;
    /// Converts from a value of [`WasmTy::TYPE`].
    fn from_value(v: Value) -> Option<Self>;
    /// Converts to a value.
    fn into_value(self) -> Value;
}

macro_rules! wasm_ty {
    ($t:ty, $vt:ident, $from:expr, $into:expr) => {
        impl WasmTy for $t {
            const TYPE: ValType = ValType::$vt;
            fn from_value(v: Value) -> Option<Self> {
                $from(v)
            }
            fn into_value(self) -> Value {
                $into(self)
            }
        }
    };
}

wasm_ty!(i32, I32, |v: Value| v.as_i32(), Value::I32);
wasm_ty!(i64, I64, |v: Value| v.as_i64(), Value::I64);
wasm_ty!(u32, I32, |v: Value| v.as_i32().map(|x| x as u32), |x: u32| Value::I32(x as i32));
wasm_ty!(u64, I64, |v: Value| v.as_i64().map(|x| x as u64), |x: u64| Value::I64(x as i64));
wasm_ty!(f32, F32, |v: Value| v.as_f32(), Value::f32);
wasm_ty!(f64, F64, |v: Value| v.as_f64(), Value::f64);
// A `v128` as one little-endian 128-bit integer: lane 0 is the least significant.
wasm_ty!(u128, V128, |v: Value| v.as_v128(), Value::V128);
wasm_ty!(
    Option<wes_core::FuncRef>,
    FuncRef,
    |v: Value| match v {
        Value::FuncRef(r) => Some(r),
        _ => None,
    },
    Value::FuncRef
);
wasm_ty!(
    Option<wes_core::ExternRef>,
    ExternRef,
    |v: Value| match v {
        Value::ExternRef(r) => Some(r),
        _ => None,
    },
    Value::ExternRef
);

/// A tuple of [`WasmTy`]s: the parameters of a typed host function.
pub trait WasmParams: Sized {
    /// The parameter types.
    fn types() -> Vec<ValType>;
    /// Converts from checked argument values.
    fn from_values(values: &[Value]) -> Option<Self>;
    /// Reads the arguments from a call's raw slots, which hold values of [`WasmParams::types`].
    #[doc(hidden)]
    fn load(caller: &Caller<'_>, slots: &[ValRaw]) -> Option<Self> {
        let values: Vec<Value> =
            Self::types().into_iter().zip(slots).map(|(t, raw)| caller.store.raw_to_value(*raw, t)).collect();
        Self::from_values(&values)
    }
}

/// A tuple of [`WasmTy`]s, or one: the results of a typed host function.
pub trait WasmResults {
    /// The result types.
    fn types() -> Vec<ValType>;
    /// Writes the results.
    fn into_values(self, out: &mut [Value]);
    /// Writes the results into a call's raw slots.
    ///
    /// # Errors
    ///
    /// A host error when a result is a function reference of another store.
    #[doc(hidden)]
    fn store(self, caller: &Caller<'_>, slots: &mut [ValRaw]) -> Result<(), HostError>
    where
        Self: Sized,
    {
        let mut values: Vec<Value> = Self::types().into_iter().map(Value::default_for).collect();
        self.into_values(&mut values);
        for (slot, v) in slots.iter_mut().zip(values) {
            *slot = caller.store.value_to_raw(v).ok_or_else(foreign_funcref)?;
        }
        Ok(())
    }
}

impl<T: WasmTy> WasmResults for T {
    fn types() -> Vec<ValType> {
        vec![T::TYPE]
    }
    fn into_values(self, out: &mut [Value]) {
        if let Some(o) = out.first_mut() {
            *o = self.into_value();
        }
    }
    #[inline]
    fn store(self, caller: &Caller<'_>, slots: &mut [ValRaw]) -> Result<(), HostError> {
        if let Some(s) = slots.first_mut() {
            *s = caller.store.value_to_raw(self.into_value()).ok_or_else(foreign_funcref)?;
        }
        Ok(())
    }
}

macro_rules! tuples {
    ($($n:ident $i:tt),*) => {
        impl<$($n: WasmTy),*> WasmParams for ($($n,)*) {
            fn types() -> Vec<ValType> {
                vec![$($n::TYPE),*]
            }
            #[allow(unused_variables)]
            fn from_values(values: &[Value]) -> Option<Self> {
                Some(($($n::from_value(*values.get($i)?)?,)*))
            }
            #[inline]
            #[allow(unused_variables)]
            fn load(caller: &Caller<'_>, slots: &[ValRaw]) -> Option<Self> {
                // The type is a constant here, so each conversion folds to a cast.
                Some(($($n::from_value(caller.store.raw_to_value(*slots.get($i)?, $n::TYPE))?,)*))
            }
        }
        impl<$($n: WasmTy),*> WasmResults for ($($n,)*) {
            fn types() -> Vec<ValType> {
                vec![$($n::TYPE),*]
            }
            #[allow(unused_variables)]
            fn into_values(self, out: &mut [Value]) {
                $(if let Some(o) = out.get_mut($i) { *o = self.$i.into_value(); })*
            }
            #[inline]
            #[allow(unused_variables)]
            fn store(self, caller: &Caller<'_>, slots: &mut [ValRaw]) -> Result<(), HostError> {
                $(if let Some(s) = slots.get_mut($i) {
                    *s = caller.store.value_to_raw(self.$i.into_value()).ok_or_else(foreign_funcref)?;
                })*
                Ok(())
            }
        }
    };
}

tuples!();
tuples!(A 0);
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);
tuples!(A 0, B 1, C 2, D 3, E 4);
tuples!(A 0, B 1, C 2, D 3, E 4, F 5);

/// What a host function gets besides its arguments: access to the calling instance.
pub struct Caller<'a> {
    store: &'a mut StoreInner,
    instance: Option<usize>,
}

impl std::fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller").field("instance", &self.instance).finish_non_exhaustive()
    }
}

impl<'a> Caller<'a> {
    pub(crate) fn new(store: &'a mut StoreInner, instance: Option<usize>) -> Self {
        Caller { store, instance }
    }

    fn memory(&mut self) -> Result<&mut [u8], MemoryAccessError> {
        let instance = self.instance.ok_or(MemoryAccessError::NoMemory)?;
        self.store.instance_memory_data(instance, 0).ok_or(MemoryAccessError::NoMemory)
    }

    /// Charges `amount` gas for work the host function does, before doing it. Free when the
    /// engine does not meter or the store has no meter.
    ///
    /// # Errors
    ///
    /// [`HostError::out_of_gas`] when the gas runs out (and no out-of-gas handler adds enough);
    /// return it so the call traps with `OutOfGas`.
    pub fn charge_gas(&mut self, amount: u64) -> Result<(), HostError> {
        self.store.charge_gas(wes_meter::ChargeKind::Host, amount).map_err(|_| HostError::out_of_gas())
    }

    /// Asks for a refund of up to `amount` gas, bounded by the meter's refund policy; returns
    /// what was refunded (0 without a meter).
    pub fn refund_gas(&mut self, amount: u64) -> u64 {
        self.store.refund_gas(amount)
    }

    /// The gas left for the running call, or `None` when the store has no meter.
    pub fn gas_remaining(&mut self) -> Option<u64> {
        self.store.gas_remaining()
    }

    /// The calling instance's export `name`, if there is one (`None` too when the function was
    /// not called from wasm).
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        let (kind, index) = self.store.export(self.instance?, name)?;
        Some(Extern::from_parts(self.store.id(), kind, index))
    }

    /// The calling instance's exported function `name`, if there is one.
    pub fn get_func(&self, name: &str) -> Option<Func> {
        match self.get_export(name)? {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    /// Calls `func`, a function of this store (typically an export of the calling instance,
    /// from [`Caller::get_func`]), with `args`, and returns its results: a host function can
    /// ask the contract that called it to allocate a buffer for its answer.
    ///
    /// The call behaves exactly as a call between wasm functions: it runs on the same stack,
    /// draws on the same gas (the out-of-gas handler applies), and counts against the
    /// call-depth limit with one frame for this host function; at most
    /// [`Config::max_host_reentry`](crate::Config::max_host_reentry) host functions may be
    /// calling into wasm at once.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Trap`] when the call traps: return it (`?` converts it) and the wasm
    /// call that reached this host function traps the same way, or handle it and go on — the
    /// store is consistent either way. [`RuntimeError::TypeMismatch`] for arguments of the
    /// wrong types, [`RuntimeError::WrongStore`] for a function of another store.
    pub fn call(&mut self, func: Func, args: &[Value]) -> Result<Vec<Value>, RuntimeError> {
        if func.store != self.store.id() {
            return Err(RuntimeError::WrongStore);
        }
        self.store.call_from_host(func.index, args)
    }

    /// The store's data attached with [`Store::set_data`](crate::Store::set_data), if it is a
    /// `T`.
    pub fn data<T: std::any::Any>(&mut self) -> Option<&mut T> {
        self.store.data_mut()
    }

    /// The store's data if it is a `T`, made with `make` and attached first when the store has
    /// none (as [`Store::data_or_insert_with`](crate::Store::data_or_insert_with)).
    pub fn data_or_insert_with<T: std::any::Any + Send>(&mut self, make: impl FnOnce() -> T) -> Option<&mut T> {
        self.store.data_or_insert_with(make)
    }

    /// The size in bytes of the calling instance's memory 0.
    ///
    /// # Errors
    ///
    /// [`MemoryAccessError::NoMemory`] when there is no calling instance or it has no memory.
    pub fn memory_size(&mut self) -> Result<u64, MemoryAccessError> {
        Ok(self.memory()?.len() as u64)
    }

    /// Reads `buf.len()` bytes at `offset` from the calling instance's memory 0.
    ///
    /// # Errors
    ///
    /// [`MemoryAccessError`] when there is no memory or the range is outside it.
    pub fn read_memory(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), MemoryAccessError> {
        let mem = self.memory()?;
        let range = checked_range(offset, buf.len(), mem.len())?;
        buf.copy_from_slice(&mem[range]);
        Ok(())
    }

    /// Writes `data` at `offset` into the calling instance's memory 0.
    ///
    /// # Errors
    ///
    /// [`MemoryAccessError`] when there is no memory or the range is outside it.
    pub fn write_memory(&mut self, offset: u64, data: &[u8]) -> Result<(), MemoryAccessError> {
        let mem = self.memory()?;
        let range = checked_range(offset, data.len(), mem.len())?;
        mem[range].copy_from_slice(data);
        Ok(())
    }
}

fn checked_range(offset: u64, len: usize, size: usize) -> Result<std::ops::Range<usize>, MemoryAccessError> {
    let oob = MemoryAccessError::OutOfBounds { offset, len: len as u64, size: size as u64 };
    let start = usize::try_from(offset).map_err(|_| oob.clone())?;
    let end = start.checked_add(len).ok_or(oob.clone())?;
    if end > size {
        return Err(oob);
    }
    Ok(start..end)
}
