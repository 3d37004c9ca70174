//! Per-store resource limits: how much memory and how many table elements, memories, tables and
//! instances one store may hold in total, asked *before* anything is allocated.
//!
//! The engine's [`Config`](crate::Config) bounds each memory and table on its own; that does
//! not bound a store, whose module may declare a hundred tables of ten million elements each or
//! grow memory after memory. Every creation and growth of a memory or table, and every
//! instantiation, goes through the store's [`ResourceLimiter`] first, with the store's usage now
//! and what it would be afterwards ([`ResourceUsage`]). A refusal is
//! [`RuntimeError::StoreLimit`](crate::RuntimeError::StoreLimit) for a creation or an
//! instantiation (nothing of the instance is left in the store), and -1 for `memory.grow` and
//! `table.grow` (counted in [`StoreStats`](crate::StoreStats)) — never an allocation failure.
//!
//! [`StoreLimits`] is the limiter every store starts with (from [`Config::store_limits`](crate::Config::store_limits));
//! an embedder with its own accounting (one budget across many stores, say) installs its own
//! with [`Store::set_limiter`](crate::Store::set_limiter). Like wasmtime's `ResourceLimiter` and
//! wasmi's `StoreLimits`, but the limiter sees the store's totals, which the runtime keeps.

use std::fmt;

/// A resource a store's limiter bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Bytes of linear memory across the store's memories (their current lengths).
    MemoryBytes,
    /// Elements across the store's tables (their current lengths).
    TableElements,
    /// How many memories the store holds.
    Memories,
    /// How many tables the store holds.
    Tables,
    /// How many instances the store holds.
    Instances,
}

impl Resource {
    /// Every resource, in the order a limiter checks them.
    pub const ALL: [Resource; 5] =
        [Resource::Instances, Resource::Memories, Resource::Tables, Resource::MemoryBytes, Resource::TableElements];

    /// The resource's name in configuration and messages (`memory_bytes`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Resource::MemoryBytes => "memory_bytes",
            Resource::TableElements => "table_elements",
            Resource::Memories => "memories",
            Resource::Tables => "tables",
            Resource::Instances => "instances",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a store holds, in the units its limiter counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// Bytes of linear memory across the store's memories.
    pub memory_bytes: u64,
    /// Elements across the store's tables.
    pub table_elements: u64,
    /// Memories in the store.
    pub memories: u64,
    /// Tables in the store.
    pub tables: u64,
    /// Instances in the store.
    pub instances: u64,
}

impl ResourceUsage {
    /// The amount of `resource`.
    pub fn get(&self, resource: Resource) -> u64 {
        match resource {
            Resource::MemoryBytes => self.memory_bytes,
            Resource::TableElements => self.table_elements,
            Resource::Memories => self.memories,
            Resource::Tables => self.tables,
            Resource::Instances => self.instances,
        }
    }

    /// This usage plus `other`, saturating (a saturated figure is past any limit).
    pub(crate) fn plus(&self, other: &ResourceUsage) -> ResourceUsage {
        ResourceUsage {
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
            table_elements: self.table_elements.saturating_add(other.table_elements),
            memories: self.memories.saturating_add(other.memories),
            tables: self.tables.saturating_add(other.tables),
            instances: self.instances.saturating_add(other.instances),
        }
    }
}

/// What a store asks its limiter about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceOp {
    /// Instantiating a module: the instance and every memory and table it defines, at their
    /// initial sizes, asked about at once.
    Instantiate,
    /// The embedder creating a memory ([`Memory::new`](crate::Memory::new)).
    CreateMemory,
    /// The embedder creating a table ([`Table::new`](crate::Table::new)).
    CreateTable,
    /// `memory.grow`, from wasm or the embedder.
    MemoryGrow,
    /// `table.grow`, from wasm or the embedder.
    TableGrow,
}

/// A limiter's refusal: which limit, its value, and the total the store asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("store limit {resource} is {limit}, {requested} requested")]
pub struct LimitExceeded {
    /// The limit that would be passed.
    pub resource: Resource,
    /// Its value.
    pub limit: u64,
    /// The store's total of that resource had the operation gone ahead.
    pub requested: u64,
}

/// Decides whether a store may hold more. Asked before every creation and growth of a memory or
/// table and every instantiation, with the store's usage now and what it would be after; an
/// `Err` refuses (nothing is allocated). Must be deterministic in its inputs for a store whose
/// results must agree across nodes: `memory.grow` returns what it says.
///
/// An admitted operation can still fail after it (a grow that then runs out of gas, a mapping
/// the host refuses): a limiter keeping an account of its own should settle it from the usage
/// it is shown, which is always what the store really holds, rather than from its admissions.
pub trait ResourceLimiter: Send {
    /// Whether the store may go from `current` to `desired` for `op`.
    ///
    /// # Errors
    ///
    /// [`LimitExceeded`] naming the limit that `desired` passes.
    fn admit(&mut self, op: ResourceOp, current: &ResourceUsage, desired: &ResourceUsage) -> Result<(), LimitExceeded>;
}

/// The limiter every store starts with: a fixed bound on each [`Resource`] of the store.
///
/// The defaults bound a store to what one instance of a large module needs: one 4 GiB memory,
/// ten million table elements in total (the engine's per-table default, now across tables), and
/// wasmtime's default of 10,000 instances, memories and tables per store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Bytes of memory across the store's memories.
    pub memory_bytes: u64,
    /// Elements across the store's tables.
    pub table_elements: u64,
    /// Memories in the store.
    pub memories: u64,
    /// Tables in the store.
    pub tables: u64,
    /// Instances in the store.
    pub instances: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            memory_bytes: 4 << 30,
            table_elements: 10_000_000,
            memories: 10_000,
            tables: 10_000,
            instances: 10_000,
        }
    }
}

impl StoreLimits {
    /// No limit on anything (the engine's per-memory and per-table limits still apply).
    pub fn unlimited() -> StoreLimits {
        StoreLimits {
            memory_bytes: u64::MAX,
            table_elements: u64::MAX,
            memories: u64::MAX,
            tables: u64::MAX,
            instances: u64::MAX,
        }
    }

    /// The limit on `resource`.
    pub fn limit(&self, resource: Resource) -> u64 {
        match resource {
            Resource::MemoryBytes => self.memory_bytes,
            Resource::TableElements => self.table_elements,
            Resource::Memories => self.memories,
            Resource::Tables => self.tables,
            Resource::Instances => self.instances,
        }
    }

    /// The check [`ResourceLimiter::admit`] makes: every resource that would increase must stay
    /// within its limit (one already past it, after the limits were lowered, does not block
    /// operations that do not add to it).
    pub fn check(&self, current: &ResourceUsage, desired: &ResourceUsage) -> Result<(), LimitExceeded> {
        for resource in Resource::ALL {
            let (now, want, limit) = (current.get(resource), desired.get(resource), self.limit(resource));
            if want > now && want > limit {
                return Err(LimitExceeded { resource, limit, requested: want });
            }
        }
        Ok(())
    }
}

impl ResourceLimiter for StoreLimits {
    fn admit(&mut self, _: ResourceOp, current: &ResourceUsage, desired: &ResourceUsage) -> Result<(), LimitExceeded> {
        self.check(current, desired)
    }
}

/// A store's limiter: the configured [`StoreLimits`] inline (no allocation, no dynamic call), or
/// the embedder's own.
pub(crate) enum Limiter {
    Limits(StoreLimits),
    Custom(Box<dyn ResourceLimiter>),
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limiter::Limits(l) => l.fmt(f),
            Limiter::Custom(_) => f.write_str("ResourceLimiter"),
        }
    }
}

impl Limiter {
    pub(crate) fn admit(
        &mut self,
        op: ResourceOp,
        current: &ResourceUsage,
        desired: &ResourceUsage,
    ) -> Result<(), LimitExceeded> {
        match self {
            Limiter::Limits(l) => l.check(current, desired),
            Limiter::Custom(l) => l.admit(op, current, desired),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_increases_past_a_limit_are_refused() {
        let limits = StoreLimits { memory_bytes: 100, ..StoreLimits::unlimited() };
        let now = ResourceUsage { memory_bytes: 150, ..ResourceUsage::default() };
        // Already past (the limit was lowered): adding a table is still fine.
        let more_tables = ResourceUsage { tables: 1, ..now };
        assert_eq!(limits.check(&now, &more_tables), Ok(()));
        let more_memory = ResourceUsage { memory_bytes: 151, ..now };
        assert_eq!(
            limits.check(&now, &more_memory),
            Err(LimitExceeded { resource: Resource::MemoryBytes, limit: 100, requested: 151 })
        );
        let at = ResourceUsage { memory_bytes: 100, ..ResourceUsage::default() };
        assert_eq!(limits.check(&ResourceUsage::default(), &at), Ok(()));
    }
}
