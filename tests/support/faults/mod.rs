//! A fault-injecting proxy between engage-bridge's AWS clients and moto
//! (docs/architecture.md "Nothing acknowledged is lost"): it answers a
//! share of the DynamoDB and SQS calls the way AWS misbehaves at scale —
//! throttling, 500s, dropped connections, slow answers, partial batch
//! results, cancelled transactions — and, the hard case, applies a call and
//! then fails the answer anyway, so the SDK's resend meets its own write.
//!
//! The faults are drawn from a seeded generator: a run is reproduced by its
//! seed (printed with the figures) up to the order concurrent calls arrive.

mod answers;
pub mod cloud;
pub mod logs;
mod proxy;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub use proxy::FaultProxy;

/// What the proxy does to one call instead of passing it through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Not forwarded: DynamoDB `ProvisionedThroughputExceededException` or
    /// `ThrottlingException`, SQS `RequestThrottled` (400).
    Throttled,
    /// Not forwarded: a 500 (`InternalServerError` / `InternalError`).
    ServerError,
    /// Not forwarded: the connection is dropped without an answer.
    Reset,
    /// Forwarded, answered only after [`Plan::slow`] (past the clients'
    /// attempt timeout): applied, but the caller has given up on it.
    Slow,
    /// Batch calls: only part forwarded, the rest answered as
    /// `UnprocessedItems` / `UnprocessedKeys` / `Failed` entries.
    Partial,
    /// TransactWriteItems, not forwarded: `TransactionCanceledException`
    /// with `TransactionConflict` reasons.
    Cancelled,
    /// Forwarded (applied), then answered 500.
    AppliedThenError,
    /// Forwarded (applied), then the connection is dropped.
    AppliedThenReset,
}

impl Fault {
    pub const ALL: [Fault; 8] = [
        Self::Throttled,
        Self::ServerError,
        Self::Reset,
        Self::Slow,
        Self::Partial,
        Self::Cancelled,
        Self::AppliedThenError,
        Self::AppliedThenReset,
    ];

    /// Whether this fault can happen to `call`.
    fn applies_to(self, call: &Call) -> bool {
        match self {
            Self::Partial => call.entries >= 2 && call.operation.is_partial(),
            Self::Cancelled => call.operation.name == "TransactWriteItems",
            _ => true,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Throttled => "throttled",
            Self::ServerError => "500",
            Self::Reset => "reset",
            Self::Slow => "slow",
            Self::Partial => "partial",
            Self::Cancelled => "cancelled",
            Self::AppliedThenError => "applied+500",
            Self::AppliedThenReset => "applied+reset",
        };
        f.write_str(name)
    }
}

/// The AWS service of a call, from its `X-Amz-Target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    DynamoDb,
    Sqs,
}

/// One call: its service and operation (`X-Amz-Target`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operation {
    pub service: Service,
    pub name: String,
}

impl Operation {
    /// `DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessageBatch`.
    fn from_target(target: &str) -> Option<Self> {
        let (prefix, name) = target.split_once('.')?;
        let service = match prefix {
            p if p.starts_with("DynamoDB_") => Service::DynamoDb,
            "AmazonSQS" => Service::Sqs,
            _ => return None,
        };
        Some(Self {
            service,
            name: name.to_owned(),
        })
    }

    /// A call AWS may answer with part of its work left undone.
    fn is_partial(&self) -> bool {
        matches!(
            self.name.as_str(),
            "BatchWriteItem" | "BatchGetItem" | "SendMessageBatch" | "DeleteMessageBatch"
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let service = match self.service {
            Service::DynamoDb => "DynamoDB",
            Service::Sqs => "SQS",
        };
        write!(f, "{service}.{}", self.name)
    }
}

/// A call as the fault plan sees it.
struct Call {
    operation: Operation,
    /// Entries of a batch call (items, keys, messages); 1 otherwise.
    entries: usize,
}

/// Which faults, how often.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    /// Share of the calls answered with a fault, 0.0..=1.0.
    pub rate: f64,
    /// The faults drawn from, uniformly among those a call can have; a
    /// batch call's faults are half partial results.
    pub faults: Vec<Fault>,
    /// How long a [`Fault::Slow`] answer waits: past the attempt timeout.
    pub slow: Duration,
}

impl Plan {
    /// Every fault at `rate`; the seed from `ENGAGE_BRIDGE_FAULT_SEED` when
    /// set (to reproduce a run), else `seed`.
    pub fn new(seed: u64, rate: f64) -> Self {
        let seed = std::env::var("ENGAGE_BRIDGE_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(seed);
        Self {
            seed,
            rate,
            faults: Fault::ALL.to_vec(),
            slow: Duration::from_millis(1500),
        }
    }

    pub fn without(mut self, fault: Fault) -> Self {
        self.faults.retain(|f| *f != fault);
        self
    }
}

/// What the proxy saw and did.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Calls received, per operation.
    pub calls: BTreeMap<Operation, u64>,
    /// Faults injected, per kind.
    pub faults: BTreeMap<Fault, u64>,
}

impl Figures {
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Faults injected per call.
    pub fn share(&self) -> f64 {
        self.total_faults() as f64 / self.total_calls().max(1) as f64
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (total, faults) = (self.total_calls(), self.total_faults());
        let share = 100.0 * self.share();
        write!(f, "AWS calls {total}, faults {faults} ({share:.1} %):")?;
        for (fault, n) in &self.faults {
            write!(f, " {fault} {n}")?;
        }
        Ok(())
    }
}
