//! The audit log: every decision a line, the chain intact, and any tampering detected.

use std::sync::Arc;

use wes_security::audit::{AuditError, verify};
use wes_security::{AuditRecord, Decision, ManualClock, ModuleRef, SecurityManager, SecurityPolicy};

use crate::support::Sink;

/// A manager that has made five decisions: two admissions, a refusal, a grant, a revoke.
fn logged() -> (String, [u8; 32]) {
    let sink = Sink::default();
    let clock = Arc::new(ManualClock::at(1_000));
    let security = SecurityManager::with_clock(SecurityPolicy::contract(), clock.clone())
        .unwrap()
        .with_audit(Box::new(sink.clone()), clock.clone());
    security.admit(b"(module)", Some("a")).unwrap();
    clock.advance(5);
    security.admit(b"(module (func))", None).unwrap();
    assert!(security.admit(b"(module (memory 600))", None).is_err());
    let (id, _) = security.admit(b"(module)", Some("a")).unwrap();
    security.grant(&ModuleRef::Name("a".into()), "time", id.hash()).unwrap();
    security.revoke(&ModuleRef::Name("a".into()), "time", id.hash()).unwrap();
    let head = security.audit().unwrap().head();
    (sink.text(), head)
}

#[test]
fn every_decision_is_a_chained_json_line() {
    let (log, head) = logged();
    assert_eq!(verify(&log, Some(head)), Ok(6));
    let records: Vec<AuditRecord> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let decisions: Vec<Decision> = records.iter().map(|r| r.decision).collect();
    use Decision::*;
    assert_eq!(decisions, [Allow, Allow, Deny, Allow, Grant, Revoke]);
    assert_eq!(records[2].subject, "limit:max_memory_pages");
    assert_eq!(records[4].subject, "capability:time");
    assert_eq!(records[1].time_ms, 1_005);
    assert!(records.iter().all(|r| r.module.len() == 64));
}

#[test]
fn a_removed_line_is_detected() {
    let (log, head) = logged();
    let lines: Vec<&str> = log.lines().collect();
    for removed in 0..lines.len() {
        let mut tampered: Vec<&str> = lines.clone();
        tampered.remove(removed);
        let text = tampered.join("\n");
        let err = verify(&text, Some(head)).unwrap_err();
        if removed + 1 == lines.len() {
            // The last line cut off: only the head tells.
            assert!(matches!(err, AuditError::Head { .. }), "{err}");
            assert!(verify(&text, None).is_ok());
        } else {
            assert!(matches!(err, AuditError::Broken { line, .. } if line == removed + 1), "line {removed}: {err}");
        }
    }
}

#[test]
fn an_edited_or_reordered_line_is_detected() {
    let (log, head) = logged();
    let edited = log.replacen("\"deny\"", "\"allow\"", 1);
    assert_ne!(edited, log);
    assert!(matches!(verify(&edited, Some(head)), Err(AuditError::Broken { line: 4, .. })));
    // Editing the last line is caught by the head.
    let mut lines: Vec<String> = log.lines().map(str::to_string).collect();
    let last = lines.len() - 1;
    lines[last] = lines[last].replace("\"revoke\"", "\"grant\"");
    assert!(matches!(verify(&lines.join("\n"), Some(head)), Err(AuditError::Head { .. })));
    // Swapping two lines.
    let mut lines: Vec<&str> = log.lines().collect();
    lines.swap(1, 2);
    assert!(verify(&lines.join("\n"), None).is_err());
    // Not a record at all.
    assert!(matches!(verify("{\"seq\":0}", None), Err(AuditError::Malformed { line: 1, .. })));
}
