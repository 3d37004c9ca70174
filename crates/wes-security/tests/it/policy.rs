//! The policy as data, and every static limit of both presets: at its value a module passes,
//! one past it fails with that limit's error.

use wes_decode::{DecodeError, Decoder, Features, Limit, Limits};
use wes_security::{Budget, SecurityError, SecurityManager, SecurityPolicy};

use crate::shapes::shape;

/// The decoder a preset's policy gives, with multi-memory on so that several memories are
/// valid up to the limit.
fn decoder(policy: &SecurityPolicy) -> Decoder {
    Decoder::new(Features { multi_memory: true, ..Features::default() }).with_limits(Limits::from(policy))
}

fn check_preset(name: &str, policy: &SecurityPolicy) -> Vec<Limit> {
    let mut tested = Vec::new();
    for limit in Limit::ALL {
        let max = policy.limits.get(limit);
        if max == u64::MAX {
            continue; // No limit of ours: nothing is one past it.
        }
        if max > 64 << 20 {
            // The spec's module size (1 GiB) is not built in a test; the limit's check is the
            // same code as the contract preset's 4 MiB, tested below.
            assert_eq!((name, limit), ("spec", Limit::ModuleBytes));
            continue;
        }
        let mut p = policy.clone();
        match limit {
            // The shape pads the module with a custom section, which has a limit of its own.
            Limit::ModuleBytes => p.limits.max_custom_section_bytes = u64::MAX,
            // The shape fills the body with `nop`s, one operator per byte.
            Limit::BodyBytes => p.limits.max_operators_per_function = u64::MAX,
            _ => {}
        }
        let d = decoder(&p);
        let at = shape(limit, max);
        if let Err(e) = d.decode(&at) {
            panic!("{name}: {limit} at its value {max} is rejected: {e}");
        }
        tested.push(limit);
        let err = d.decode(&shape(limit, max + 1)).expect_err(&format!("{name}: {limit} one past accepted"));
        match err {
            DecodeError::LimitExceeded { limit: l, max: m, actual, .. } => {
                assert_eq!((l, m, actual), (limit, max, max + 1), "{name}: {limit}");
            }
            // wasmparser's reader refuses more than 1,000 parameters or results while reading
            // the type, before any check of ours: at the spec's value that limit is its own.
            DecodeError::Malformed { .. } if name == "spec" && matches!(limit, Limit::Params | Limit::Results) => {}
            other => panic!("{name}: {limit} one past: expected LimitExceeded, got {other}"),
        }
    }
    tested
}

#[test]
fn every_limit_of_the_contract_preset() {
    let tested = check_preset("contract", &SecurityPolicy::contract());
    // Every limit is set in the contract preset.
    assert_eq!(tested, Limit::ALL.to_vec());
}

#[test]
fn every_limit_of_the_spec_preset() {
    let tested = check_preset("spec", &SecurityPolicy::spec());
    // Those the spec bounds (module bytes aside, see above); the rest are u64::MAX.
    assert_eq!(tested.len(), 15, "{tested:?}");
}

#[test]
fn a_limit_refusal_goes_through_the_manager_named() {
    let security = SecurityManager::new(SecurityPolicy::contract()).unwrap();
    let err = security.admit(&shape(Limit::Imports, 101), Some("greedy")).unwrap_err();
    let SecurityError::Decode { source: DecodeError::LimitExceeded { limit, max, actual, .. }, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((*limit, *max, *actual), (Limit::Imports, 100, 101));
    assert_eq!(err.subject().as_deref(), Some("limit:max_imports"));
    assert!(err.to_string().contains("max_imports"), "{err}");
}

#[test]
fn policies_round_trip_and_reject_unknown_keys() {
    for policy in [SecurityPolicy::spec(), SecurityPolicy::contract()] {
        let toml = policy.to_toml().unwrap();
        assert_eq!(SecurityPolicy::from_toml(&toml).unwrap(), policy);
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(SecurityPolicy::from_json(&json).unwrap(), policy);
    }
    assert_eq!(SecurityPolicy::preset("contract"), Some(SecurityPolicy::contract()));
    // A left-out table is the spec preset's; a key left out of a table is that table's
    // default: for limits, none of ours (wasmparser's own still apply).
    let p = SecurityPolicy::from_toml("[limits]\nmax_functions = 7\n").unwrap();
    assert_eq!(p.limits.max_functions, 7);
    assert_eq!(p.limits.max_types, Limits::unlimited().max_types);
    assert_eq!(p.threats, SecurityPolicy::spec().threats);
    // Unknown keys, at any level, are errors naming the key.
    for bad in [
        "colour = 1",
        "[limits]\nmax_funcs = 7",
        "[capabilities]\nbudget = {}",
        "[threats.trap_storm]\nthreshold = 1\nwindow_ms = 1\naction = \"log\"\nextra = 2",
    ] {
        let err = SecurityPolicy::from_toml(bad).unwrap_err();
        assert!(matches!(err, SecurityError::Config(ref m) if m.contains("unknown field")), "{bad}: {err}");
    }
    let err = SecurityPolicy::from_json(
        r#"{"threats": {"trap_storm": {"threshold": 1, "window_ms": 1, "action": "explode"}}}"#,
    )
    .unwrap_err();
    assert!(matches!(err, SecurityError::Config(_)), "{err}");
}

#[test]
fn a_policy_is_a_section_of_a_larger_configuration() {
    // As the facade's `[security]` section will embed it.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RuntimeConfig {
        #[serde(default)]
        security: SecurityPolicy,
    }
    let text = r#"
        [security.capabilities]
        default_grants = ["log"]
        grants = { "token" = ["storage.write"], "sha256:00000000000000000000000000000000000000000000000000000000000000ff" = ["crypto"] }
        budgets = { "log" = { calls_per_invocation = 3 } }
        [security.threats.trap_storm]
        threshold = 4
        window_ms = 1000
        action = "quarantine"
    "#;
    let config: RuntimeConfig = toml::from_str(text).unwrap();
    let p = config.security;
    assert_eq!(p.capabilities.budgets["log"], Budget { calls_per_invocation: 3, ..Budget::UNLIMITED });
    assert_eq!(p.threats.trap_storm.threshold, 4);
    assert_eq!(p.limits, Limits::spec());
    assert!(SecurityManager::new(p).is_ok());
    let absent: RuntimeConfig = toml::from_str("").unwrap();
    assert_eq!(absent.security, SecurityPolicy::spec());
}
