//! [`SecurityPolicy`]: everything the security layer enforces, as data (TOML or JSON), with the
//! presets [`SecurityPolicy::spec`] and [`SecurityPolicy::contract`].
//!
//! The policy serialises as one section (`[security]` in a runtime configuration):
//!
//! ```toml
//! [limits]                        # wes_decode::Limits, checked while decoding
//! max_functions = 10000
//! max_memory_pages = 512
//!
//! [capabilities]
//! default_grants = ["log", "storage.read"]     # every module; "*" is every capability
//! grants = { "token" = ["storage.write"], "sha256:3b2f…" = ["crypto"] }
//! budgets = { "log" = { calls_per_invocation = 100, bytes_per_invocation = 16384 } }
//!
//! [threats.trap_storm]             # one table per rule
//! threshold = 20
//! window_ms = 60000
//! action = "quarantine"
//!
//! [resources]                     # per store, checked by the runtime before allocating
//! memory_bytes = 33554432
//! table_elements = 2500
//! instances = 1
//! ```
//!
//! Every table rejects unknown keys. A table left out is the [`spec`](SecurityPolicy::spec)
//! preset's; a key left out of a table takes that table's default — for `[limits]`,
//! [`Limits::default`], no limit of ours (`wasmparser`'s own still apply).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wes_decode::Limits;
use wes_runtime::StoreLimits;

use crate::SecurityError;
use crate::threat::{Action, Rule, ThreatPolicy};

/// The whole policy: static limits, capabilities, threat rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityPolicy {
    /// Static limits on a module's shape, checked by the decoder before anything is compiled.
    pub limits: Limits,
    /// Who may call which host functions, and how much per invocation.
    pub capabilities: CapabilityPolicy,
    /// What the threat monitor watches for, and what it does.
    pub threats: ThreatPolicy,
    /// What one store may hold in total: the runtime's per-store limits, checked before a
    /// memory, table or instance is created or grown.
    pub resources: ResourcePolicy,
}

/// Per-store resource limits (the runtime's [`StoreLimits`]), as data. A key left out is the
/// runtime's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourcePolicy {
    /// Bytes of linear memory across a store's memories.
    pub memory_bytes: u64,
    /// Elements across a store's tables.
    pub table_elements: u64,
    /// Memories in a store.
    pub memories: u64,
    /// Tables in a store.
    pub tables: u64,
    /// Instances in a store.
    pub instances: u64,
}

impl Default for ResourcePolicy {
    /// The runtime's defaults ([`StoreLimits::default`]).
    fn default() -> Self {
        ResourcePolicy::from(StoreLimits::default())
    }
}

impl From<StoreLimits> for ResourcePolicy {
    fn from(l: StoreLimits) -> Self {
        ResourcePolicy {
            memory_bytes: l.memory_bytes,
            table_elements: l.table_elements,
            memories: l.memories,
            tables: l.tables,
            instances: l.instances,
        }
    }
}

impl From<&ResourcePolicy> for StoreLimits {
    fn from(p: &ResourcePolicy) -> Self {
        StoreLimits {
            memory_bytes: p.memory_bytes,
            table_elements: p.table_elements,
            memories: p.memories,
            tables: p.tables,
            instances: p.instances,
        }
    }
}

impl Default for SecurityPolicy {
    /// The [`spec`](SecurityPolicy::spec) preset: a runtime without a `[security]` section
    /// behaves as one without a security layer.
    fn default() -> Self {
        SecurityPolicy::spec()
    }
}

/// Capabilities granted to modules, and per-invocation budgets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapabilityPolicy {
    /// Capabilities every module is granted; `"*"` grants every capability, including ones
    /// defined later.
    pub default_grants: Vec<String>,
    /// Further grants by module: the key is a module name or `sha256:` and the module's
    /// hash in hex.
    pub grants: BTreeMap<String, Vec<String>>,
    /// Budgets per capability; a capability without one is unbounded.
    pub budgets: BTreeMap<String, Budget>,
}

impl Default for CapabilityPolicy {
    fn default() -> Self {
        CapabilityPolicy { default_grants: vec!["*".to_string()], grants: BTreeMap::new(), budgets: BTreeMap::new() }
    }
}

/// What one invocation (one call from the embedder into the module, with everything it calls)
/// may spend on one capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    /// Host calls of the capability.
    pub calls_per_invocation: u64,
    /// Bytes its host functions read or write (as they declare them through
    /// [`Permit::bytes`](crate::Permit::bytes)).
    pub bytes_per_invocation: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::UNLIMITED
    }
}

impl Budget {
    /// No bound.
    pub const UNLIMITED: Budget = Budget { calls_per_invocation: u64::MAX, bytes_per_invocation: u64::MAX };
}

impl SecurityPolicy {
    /// Only the spec's limits ([`Limits::spec`]), every capability granted to every module, no
    /// budgets, a threat monitor that never acts, and the runtime's default per-store limits
    /// ([`StoreLimits::default`]: one 4 GiB memory's worth of bytes, ten million table
    /// elements, wasmtime's 10,000 instances, memories and tables), which the spec leaves to the
    /// embedder.
    pub fn spec() -> Self {
        SecurityPolicy {
            limits: Limits::spec(),
            capabilities: CapabilityPolicy::default(),
            threats: ThreatPolicy::off(),
            resources: ResourcePolicy::default(),
        }
    }

    /// For smart contracts: limits in the spirit of what CosmWasm and NEAR enforce at upload,
    /// deterministic capabilities only, log budgets, and a threat monitor that quarantines.
    ///
    /// Where each figure comes from ("CosmWasm" is `cosmwasm-vm`'s `WasmLimits` defaults,
    /// "NEAR" is nearcore's `parameters.yaml`; "WES" is our own choice, with the reason):
    ///
    /// | limit | value | source |
    /// |---|---|---|
    /// | `max_module_bytes` | 4 MiB (4,194,304) | NEAR `max_contract_size` |
    /// | `max_types` | 1,000 | WES: compilers emit one type per distinct signature, a few dozen in practice |
    /// | `max_functions` | 10,000 | NEAR `max_functions_number_per_contract` (CosmWasm allows 20,000) |
    /// | `max_imports` | 100 | CosmWasm `DEFAULT_MAX_IMPORTS` |
    /// | `max_exports` | 1,000 | WES: entry points plus the allocator's, with room to spare |
    /// | `max_globals` | 512 | WES (Radix Scrypto allows the same) |
    /// | `max_tables` | 1 | WES: compiled contracts use one `funcref` table (NEAR bounds tables per contract too) |
    /// | `max_memories` | 1 | the WebAssembly 2.0 limit without multi-memory |
    /// | `max_data_segments` | 1,000 | WES |
    /// | `max_element_segments` | 1,000 | WES |
    /// | `max_locals_per_function` | 1,024 | WES (NEAR bounds locals per contract instead) |
    /// | `max_params` | 100 | CosmWasm `DEFAULT_MAX_FUNCTION_PARAMS` |
    /// | `max_results` | 1 | CosmWasm `DEFAULT_MAX_FUNCTION_RESULTS` |
    /// | `max_body_bytes` | 256 KiB | WES: compile time grows with a body's size; large generated functions stay under this |
    /// | `max_operators_per_function` | 100,000 | WES, for the same reason |
    /// | `max_nesting_depth` | 256 | WES: deep nesting is the usual compile-time bomb |
    /// | `max_br_table_targets` | 1,024 | WES (Radix Scrypto allows 256) |
    /// | `max_memory_pages` | 512 (32 MiB) | CosmWasm `DEFAULT_MEMORY_LIMIT` (NEAR allows 2,048) |
    /// | `max_table_elements` | 2,500 | CosmWasm `DEFAULT_TABLE_SIZE_LIMIT` |
    /// | `max_custom_section_bytes` | 64 KiB | WES: names and producers fit; NEAR strips custom sections |
    ///
    /// Capabilities: `storage.read`, `storage.write`, `crypto` and `log` for every module (the
    /// deterministic host API a contract platform offers); anything else (`time`, `random`,
    /// `network`, ...) only by an explicit grant. The `log` capability may be called 100 times
    /// and move 16 KiB per invocation (NEAR's `max_number_logs` and `max_total_log_length`).
    ///
    /// Threats: see [`ThreatPolicy::contract`].
    ///
    /// Per-store resources (a store runs one contract call):
    ///
    /// | limit | value | source |
    /// |---|---|---|
    /// | `memory_bytes` | 32 MiB (512 pages) | CosmWasm `DEFAULT_MEMORY_LIMIT`, the same figure as `max_memory_pages`, now also bounding growth |
    /// | `table_elements` | 2,500 | CosmWasm `DEFAULT_TABLE_SIZE_LIMIT`, also bounding `table.grow` |
    /// | `memories` | 1 | as `max_memories` |
    /// | `tables` | 1 | as `max_tables` |
    /// | `instances` | 1 | CosmWasm and NEAR instantiate one contract module per call |
    pub fn contract() -> Self {
        let limits = Limits {
            max_module_bytes: 4 * 1024 * 1024,
            max_types: 1_000,
            max_functions: 10_000,
            max_imports: 100,
            max_exports: 1_000,
            max_globals: 512,
            max_tables: 1,
            max_memories: 1,
            max_data_segments: 1_000,
            max_element_segments: 1_000,
            max_locals_per_function: 1_024,
            max_params: 100,
            max_results: 1,
            max_body_bytes: 256 * 1024,
            max_operators_per_function: 100_000,
            max_nesting_depth: 256,
            max_br_table_targets: 1_024,
            max_memory_pages: 512,
            max_table_elements: 2_500,
            max_custom_section_bytes: 64 * 1024,
        };
        let default_grants = ["storage.read", "storage.write", "crypto", "log"].map(str::to_string).to_vec();
        let budgets = BTreeMap::from([(
            "log".to_string(),
            Budget { calls_per_invocation: 100, bytes_per_invocation: 16 * 1024 },
        )]);
        SecurityPolicy {
            limits,
            capabilities: CapabilityPolicy { default_grants, grants: BTreeMap::new(), budgets },
            threats: ThreatPolicy::contract(),
            resources: ResourcePolicy {
                memory_bytes: 512 * 64 * 1024,
                table_elements: 2_500,
                memories: 1,
                tables: 1,
                instances: 1,
            },
        }
    }

    /// A preset by name: `"spec"` or `"contract"`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "spec" => Some(SecurityPolicy::spec()),
            "contract" => Some(SecurityPolicy::contract()),
            _ => None,
        }
    }

    /// Parses a policy from TOML.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Config`] for malformed TOML, an unknown key or a bad value, naming it.
    pub fn from_toml(text: &str) -> Result<Self, SecurityError> {
        toml::from_str(text).map_err(|e| SecurityError::Config(e.to_string()))
    }

    /// Parses a policy from JSON.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Config`] for malformed JSON, an unknown key or a bad value.
    pub fn from_json(text: &str) -> Result<Self, SecurityError> {
        serde_json::from_str(text).map_err(|e| SecurityError::Config(e.to_string()))
    }

    /// The policy as TOML.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Config`] if serialisation fails (it does not for policies built from
    /// the presets or parsed from text).
    pub fn to_toml(&self) -> Result<String, SecurityError> {
        toml::to_string(self).map_err(|e| SecurityError::Config(e.to_string()))
    }

    /// The per-store limits: what [`wes_runtime::Store::set_limits`] takes.
    pub fn store_limits(&self) -> StoreLimits {
        StoreLimits::from(&self.resources)
    }

    /// The decoder limits: what [`wes_decode::Decoder::with_limits`] takes.
    pub fn decoder_limits(&self) -> Limits {
        self.limits.clone()
    }
}

impl From<&SecurityPolicy> for Limits {
    fn from(policy: &SecurityPolicy) -> Self {
        policy.limits.clone()
    }
}

impl ThreatPolicy {
    /// Every rule off.
    pub fn off() -> Self {
        let off = Rule { threshold: u64::MAX, window_ms: 60_000, action: Action::Log };
        ThreatPolicy {
            out_of_gas_storm: off,
            trap_storm: off,
            memory_growth_spike: off,
            host_call_flood: off,
            compile_blowup: off,
            policy_violations: off,
            throttle_ms: 60_000,
        }
    }

    /// The contract preset's rules, per module over one minute: 50 out-of-gas traps
    /// (throttle), 20 other traps (quarantine), 65,536 pages grown (4 GiB, throttle),
    /// 1,000,000 host calls (throttle), 10 s of compile time (quarantine), 5 policy violations
    /// (quarantine). Throttling lasts a minute.
    pub fn contract() -> Self {
        let minute = 60_000;
        let rule = |threshold, action| Rule { threshold, window_ms: minute, action };
        ThreatPolicy {
            out_of_gas_storm: rule(50, Action::Throttle),
            trap_storm: rule(20, Action::Quarantine),
            memory_growth_spike: rule(65_536, Action::Throttle),
            host_call_flood: rule(1_000_000, Action::Throttle),
            compile_blowup: rule(10_000_000, Action::Quarantine),
            policy_violations: rule(5, Action::Quarantine),
            throttle_ms: minute,
        }
    }
}
