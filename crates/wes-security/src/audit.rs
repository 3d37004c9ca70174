//! [`AuditLogger`]: one JSON object per line for every security decision, each line carrying the
//! SHA-256 of the line before it, so that [`verify`] detects a line removed, inserted, reordered
//! or edited.
//!
//! ```text
//! {"seq":0,"time_ms":…,"module":"3b2f…","subject":"limit:max_functions","decision":"deny","detail":"…","prev":"0000…"}
//! {"seq":1,…,"prev":"<sha256 of line 0>"}
//! ```
//!
//! The chain proves the lines agree with each other; that the last lines were not cut off is
//! proven by the [`head`](AuditLogger::head) (the hash of the last line), which the embedder
//! keeps elsewhere (and may pass to [`verify`]).

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::hex;
use crate::{Clock, ModuleHash, SecurityError};

/// What was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Allowed.
    Allow,
    /// Refused.
    Deny,
    /// A capability granted.
    Grant,
    /// A capability revoked.
    Revoke,
    /// The threat monitor acted (or logged).
    Alert,
    /// A quarantine or throttle lifted.
    Release,
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When, on the logger's clock.
    pub time_ms: u64,
    /// The module's hash, hex.
    pub module: String,
    /// What the decision was about: `capability:<name>`, `limit:<name>`, `threat:<rule>`,
    /// `instantiate`, `checker:<name>`, ...
    pub subject: String,
    /// The decision.
    pub decision: Decision,
    /// Free text: the error's message, the alert's numbers.
    pub detail: String,
    /// SHA-256 (hex) of the previous line, without its newline; zeros for the first.
    pub prev: String,
}

const GENESIS: [u8; 32] = [0; 32];

struct Chain {
    out: Box<dyn Write + Send>,
    seq: u64,
    head: [u8; 32],
}

/// Writes the hash-chained log. Thread-safe; each record is one `write_all` of one line.
pub struct AuditLogger {
    chain: Mutex<Chain>,
    clock: std::sync::Arc<dyn Clock>,
}

impl std::fmt::Debug for AuditLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLogger").field("head", &hex(&self.head())).finish_non_exhaustive()
    }
}

impl AuditLogger {
    /// A log written to `out` (a file, a socket, a `Vec<u8>` behind a shared handle), timed by
    /// `clock`, starting a new chain.
    pub fn new(out: Box<dyn Write + Send>, clock: std::sync::Arc<dyn Clock>) -> Self {
        AuditLogger { chain: Mutex::new(Chain { out, seq: 0, head: GENESIS }), clock }
    }

    /// A log that continues the chain of `existing` (the log so far, verified first), appending
    /// to `out`: how a log file survives restarts as one chain.
    ///
    /// # Errors
    ///
    /// [`AuditError`] when `existing` does not verify: the file was tampered with, and
    /// appending to it would hide that.
    pub fn resume(
        out: Box<dyn Write + Send>,
        clock: std::sync::Arc<dyn Clock>,
        existing: &str,
    ) -> Result<Self, AuditError> {
        let seq = verify(existing, None)?;
        let head = existing.lines().last().map_or(GENESIS, |l| Sha256::digest(l.as_bytes()).into());
        Ok(AuditLogger { chain: Mutex::new(Chain { out, seq, head }), clock })
    }

    /// The hash of the last line written (zeros before the first): keep it elsewhere to detect
    /// lines cut off the end.
    pub fn head(&self) -> [u8; 32] {
        self.chain.lock().unwrap_or_else(PoisonError::into_inner).head
    }

    /// Appends one record.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Audit`] when the output fails; the chain is not advanced then.
    pub fn record(
        &self,
        module: &ModuleHash,
        subject: &str,
        decision: Decision,
        detail: &str,
    ) -> Result<(), SecurityError> {
        let time_ms = self.clock.now_ms();
        let mut chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        let record = AuditRecord {
            seq: chain.seq,
            time_ms,
            module: module.to_hex(),
            subject: subject.to_string(),
            decision,
            detail: detail.to_string(),
            prev: hex(&chain.head),
        };
        let mut line = serde_json::to_vec(&record).map_err(|e| SecurityError::Audit(e.into()))?;
        let hash: [u8; 32] = Sha256::digest(&line).into();
        line.push(b'\n');
        chain.out.write_all(&line)?;
        chain.out.flush()?;
        chain.seq += 1;
        chain.head = hash;
        Ok(())
    }
}

/// Why a log failed verification.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A line is not a record.
    #[error("line {line}: not an audit record: {message}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A line's `prev` is not the hash of the line before it (a line before it was removed,
    /// inserted or edited), or its `seq` is out of order.
    #[error("line {line}: chain broken ({what})")]
    Broken {
        /// 1-based line number.
        line: usize,
        /// What does not match.
        what: &'static str,
    },
    /// The last line's hash is not the expected head: lines were cut off the end, or the last
    /// line was edited.
    #[error("the log ends at {found}, expected head {expected}")]
    Head {
        /// The hash the log ends at.
        found: String,
        /// The head kept elsewhere.
        expected: String,
    },
}

/// Checks a whole log: every line a record, `seq` counting from 0, every `prev` the hash of
/// the line before (zeros for the first), and, when `head` is given, the last line's hash equal
/// to it. Returns the number of records.
///
/// # Errors
///
/// [`AuditError`] naming the first line that does not fit.
pub fn verify(log: &str, head: Option<[u8; 32]>) -> Result<u64, AuditError> {
    let mut prev = GENESIS;
    let mut count = 0u64;
    for (i, line) in log.lines().enumerate() {
        let n = i + 1;
        let record: AuditRecord =
            serde_json::from_str(line).map_err(|e| AuditError::Malformed { line: n, message: e.to_string() })?;
        if record.prev != hex(&prev) {
            return Err(AuditError::Broken { line: n, what: "prev is not the hash of the line before" });
        }
        if record.seq != count {
            return Err(AuditError::Broken { line: n, what: "seq out of order" });
        }
        prev = Sha256::digest(line.as_bytes()).into();
        count += 1;
    }
    if let Some(expected) = head
        && expected != prev
    {
        return Err(AuditError::Head { found: hex(&prev), expected: hex(&expected) });
    }
    Ok(count)
}
