//! The gas profiler: code compiled with `JitConfig::profile` reports every function it enters
//! and leaves ([`Libcall::ProfileEnter`](wes_core::vm::Libcall) / `ProfileExit`), with the gas
//! counter flushed, and the store attributes the gas consumed in between — exactly, since it
//! reads the same counter the code charges — and the time, to a call tree.
//!
//! Each node of the tree is a function reached through one path of calls; it keeps the gas
//! and time spent in the function itself (exclusive). A frame a trap unwinds never reports its
//! exit: the call that trapped closes the frames it opened, at the gas and time of the trap.
//! [`GasProfile`] is the report: per function, inclusive and exclusive gas and time (recursion
//! counted once in inclusive figures), and folded stacks for flame graphs. The exclusive gas of
//! all functions adds up to the gas consumed inside profiled functions; only gas charged outside
//! any wasm function (none today: host-call costs are charged inside their caller) is left out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::StoreInner;

/// A function: the instance (its index in the store) and its index in the module.
type FuncKey = (usize, u32);

#[derive(Debug)]
struct Node {
    parent: usize,
    func: FuncKey,
    calls: u64,
    gas: u64,
    time: Duration,
    /// The first child and the next sibling (0: none; the root is never a child): a node has
    /// few children, and a short list walk beats hashing on every call.
    first_child: usize,
    next_sibling: usize,
}

#[derive(Debug)]
struct OpenFrame {
    node: usize,
    gas_at_entry: u64,
    child_gas: u64,
    at: Instant,
    child_time: Duration,
}

/// The profiler's state in a store.
#[derive(Debug, Default)]
pub(crate) struct Profiler {
    /// Node 0 is the root: outside every function.
    nodes: Vec<Node>,
    stack: Vec<OpenFrame>,
}

impl Profiler {
    fn new() -> Self {
        let root = Node {
            parent: 0,
            func: (usize::MAX, u32::MAX),
            calls: 0,
            gas: 0,
            time: Duration::ZERO,
            first_child: 0,
            next_sibling: 0,
        };
        Profiler { nodes: vec![root], stack: Vec::new() }
    }

    pub(crate) fn depth(&self) -> usize {
        self.stack.len()
    }

    fn enter(&mut self, func: FuncKey, gas: u64, at: Instant) {
        let parent = self.stack.last().map_or(0, |f| f.node);
        let mut node = self.nodes[parent].first_child;
        while node != 0 && self.nodes[node].func != func {
            node = self.nodes[node].next_sibling;
        }
        if node == 0 {
            node = self.nodes.len();
            let next_sibling = self.nodes[parent].first_child;
            self.nodes.push(Node {
                parent,
                func,
                calls: 0,
                gas: 0,
                time: Duration::ZERO,
                first_child: 0,
                next_sibling,
            });
            self.nodes[parent].first_child = node;
        }
        self.nodes[node].calls += 1;
        self.stack.push(OpenFrame { node, gas_at_entry: gas, child_gas: 0, at, child_time: Duration::ZERO });
    }

    fn exit(&mut self, gas: u64, at: Instant) {
        let Some(f) = self.stack.pop() else { return };
        let inclusive = gas.saturating_sub(f.gas_at_entry);
        let elapsed = at.saturating_duration_since(f.at);
        let node = &mut self.nodes[f.node];
        node.gas += inclusive.saturating_sub(f.child_gas);
        node.time += elapsed.saturating_sub(f.child_time);
        if let Some(parent) = self.stack.last_mut() {
            parent.child_gas += inclusive;
            parent.child_time += elapsed;
        }
    }

    /// Closes the frames above `depth` (a trap unwound them).
    fn unwind(&mut self, depth: usize, gas: u64, at: Instant) {
        while self.stack.len() > depth {
            self.exit(gas, at);
        }
    }
}

/// The cost of one function in a [`GasProfile`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FunctionCost {
    /// The instance, by its index in the store (instantiation order).
    pub instance: usize,
    /// The function's index in its module.
    pub func_index: u32,
    /// Its name in the module's name section, if any.
    pub name: Option<String>,
    /// Times it was entered.
    pub calls: u64,
    /// Gas consumed while it ran, its callees included (once, however deep it recursed).
    pub gas_inclusive: u64,
    /// Gas consumed by its own code.
    pub gas_exclusive: u64,
    /// Time it ran, its callees included.
    pub time_inclusive: Duration,
    /// Time in its own code (and the host functions it called).
    pub time_exclusive: Duration,
}

impl FunctionCost {
    /// `name` or `func[N]`, for stacks and tables.
    pub fn label(&self) -> String {
        label(self.name.as_deref(), self.instance, self.func_index)
    }
}

fn label(name: Option<&str>, instance: usize, func_index: u32) -> String {
    let base = name.map_or_else(|| format!("func[{func_index}]"), str::to_string);
    if instance == 0 { base } else { format!("{base}@{instance}") }
}

/// What the profiler saw: gas and time per function, and per stack of calls.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GasProfile {
    /// Every function entered, by exclusive gas, largest first (ties by instance and index).
    pub functions: Vec<FunctionCost>,
    /// Each distinct stack of calls (outermost first, labels as [`FunctionCost::label`]) with
    /// the gas and time spent in its innermost function, in first-seen order.
    pub stacks: Vec<(Vec<String>, u64, Duration)>,
}

impl GasProfile {
    /// The gas of all functions' own code: the gas consumed inside profiled functions.
    pub fn total_gas(&self) -> u64 {
        self.functions.iter().map(|f| f.gas_exclusive).sum()
    }

    /// The stacks in the folded format flame-graph tools read (`a;b;c 123` per line), weighed
    /// by gas; stacks that used none are left out.
    pub fn folded(&self) -> String {
        let mut out = String::new();
        for (stack, gas, _) in &self.stacks {
            if *gas > 0 {
                out.push_str(&stack.join(";"));
                out.push(' ');
                out.push_str(&gas.to_string());
                out.push('\n');
            }
        }
        out
    }
}

impl StoreInner {
    /// Starts a new profile (code must be compiled with `JitConfig::profile` to report to it).
    pub(crate) fn start_profile(&mut self) {
        self.profiler = Some(Box::new(Profiler::new()));
    }

    /// The gas consumed so far, the counter settled with the meter first.
    fn consumed_now(&mut self) -> u64 {
        self.gas_sync();
        self.meter.as_ref().map_or(0, |m| m.consumed())
    }

    pub(crate) fn profile_enter(&mut self, instance: usize, func_index: u32) {
        if self.profiler.is_some() {
            let gas = self.consumed_now();
            if let Some(p) = &mut self.profiler {
                p.enter((instance, func_index), gas, Instant::now());
            }
        }
    }

    pub(crate) fn profile_exit(&mut self) {
        if self.profiler.is_some() {
            let gas = self.consumed_now();
            if let Some(p) = &mut self.profiler {
                p.exit(gas, Instant::now());
            }
        }
    }

    /// Open profiled frames, to close with [`StoreInner::profile_unwind`] after a call.
    pub(crate) fn profile_depth(&self) -> usize {
        self.profiler.as_ref().map_or(0, |p| p.depth())
    }

    /// Closes the frames a call opened above `depth` and did not leave (it trapped).
    pub(crate) fn profile_unwind(&mut self, depth: usize) {
        if self.profiler.as_ref().is_some_and(|p| p.depth() > depth) {
            let gas = self.consumed_now();
            if let Some(p) = &mut self.profiler {
                p.unwind(depth, gas, Instant::now());
            }
        }
    }

    /// The profile so far, ending the profiling (frames still open are closed now).
    pub(crate) fn take_profile(&mut self) -> Option<GasProfile> {
        self.profile_unwind(0);
        let p = self.profiler.take()?;
        let name =
            |(i, f): FuncKey| self.instances.get(i).and_then(|inst| inst.module().func_name(f)).map(str::to_string);
        // Inclusive figures per node: its own plus its subtree's (children come after parents).
        let mut gas_in: Vec<u64> = p.nodes.iter().map(|n| n.gas).collect();
        let mut time_in: Vec<Duration> = p.nodes.iter().map(|n| n.time).collect();
        for i in (1..p.nodes.len()).rev() {
            let parent = p.nodes[i].parent;
            if parent != i {
                let (g, t) = (gas_in[i], time_in[i]);
                gas_in[parent] += g;
                time_in[parent] += t;
            }
        }
        let mut by_func: Vec<FunctionCost> = Vec::new();
        let mut index: HashMap<FuncKey, usize> = HashMap::new();
        let mut labels: Vec<String> = vec![String::new(); p.nodes.len()];
        let mut stacks = Vec::new();
        for (i, n) in p.nodes.iter().enumerate().skip(1) {
            let entry = *index.entry(n.func).or_insert_with(|| {
                by_func.push(FunctionCost {
                    instance: n.func.0,
                    func_index: n.func.1,
                    name: name(n.func),
                    calls: 0,
                    gas_inclusive: 0,
                    gas_exclusive: 0,
                    time_inclusive: Duration::ZERO,
                    time_exclusive: Duration::ZERO,
                });
                by_func.len() - 1
            });
            let f = &mut by_func[entry];
            f.calls += n.calls;
            f.gas_exclusive += n.gas;
            f.time_exclusive += n.time;
            // Inclusive once per outermost activation: skip nodes under the same function.
            let mut a = n.parent;
            let mut nested = false;
            while a != 0 {
                if p.nodes[a].func == n.func {
                    nested = true;
                    break;
                }
                a = p.nodes[a].parent;
            }
            if !nested {
                f.gas_inclusive += gas_in[i];
                f.time_inclusive += time_in[i];
            }
            labels[i] = f.label();
            let mut stack = vec![labels[i].clone()];
            let mut a = n.parent;
            while a != 0 {
                stack.push(labels[a].clone());
                a = p.nodes[a].parent;
            }
            stack.reverse();
            stacks.push((stack, n.gas, n.time));
        }
        by_func.sort_by(|a, b| {
            b.gas_exclusive
                .cmp(&a.gas_exclusive)
                .then(a.instance.cmp(&b.instance))
                .then(a.func_index.cmp(&b.func_index))
        });
        Some(GasProfile { functions: by_func, stacks })
    }
}
