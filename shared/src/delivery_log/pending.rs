//! What one delivery hands to the recorder: its entries (each with the
//! request body as sent), count deltas and waiting changes. It is sealed
//! before it is buffered: secret values masked, bodies cut and packed
//! ([`Pending::seal`]), so nothing unmasked is kept, even in memory. A body
//! is packed from the bytes that were sent, copied only when a secret has
//! to be masked in it.

use std::borrow::Cow;

use bytes::Bytes;

use super::batch::{LogBatch, PackedBody};
use super::model::{
    AttemptOutcome, CountDelta, CountKind, LogEntry, REQUEST_BODY_LIMIT, SyncRecord, WaitingChange,
    bucket_of, entry_id,
};
use super::trace::{MASK, Trace, floor_char_boundary, text_of};
use crate::store::packed;

/// One attempt and the body it sent.
#[derive(Clone, Debug)]
pub struct PendingEntry {
    pub entry: LogEntry,
    /// As sent (shared with the request).
    pub body: Option<Bytes>,
}

impl PendingEntry {
    /// The entry of attempt `number` of a request to `stream`, from its
    /// trace.
    pub fn of_trace(
        workspace: &str,
        stream: &str,
        number: usize,
        trace: Trace,
        outcome: AttemptOutcome,
    ) -> Self {
        Self {
            entry: LogEntry {
                id: entry_id(trace.at_ms),
                workspace_id: workspace.to_owned(),
                stream: stream.to_owned(),
                at_ms: trace.at_ms,
                moe_request_id: trace.request_id,
                outcome,
                attempt: number as u32,
                status: trace.status,
                error: trace.error,
                latency_ms: trace
                    .request
                    .is_some()
                    .then_some(trace.took.as_millis() as u64),
                events: trace.events,
                request: trace.request,
                response: trace.response,
            },
            body: trace.body,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Pending {
    pub entries: Vec<PendingEntry>,
    pub counts: Vec<CountDelta>,
    pub waiting: Vec<WaitingChange>,
    pub syncs: Vec<SyncRecord>,
    /// Secret values of the streams concerned, masked wherever they appear.
    pub secrets: Vec<String>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.counts.is_empty()
            && self.waiting.is_empty()
            && self.syncs.is_empty()
    }

    /// `n` more of `kind` for `stream` and for the workspace as a whole.
    pub fn add_count(
        &mut self,
        workspace_id: &str,
        stream: &str,
        kind: CountKind,
        n: u64,
        at_ms: i64,
    ) {
        if n == 0 {
            return;
        }
        let streams: &[&str] = if stream.is_empty() {
            &[""]
        } else {
            &[stream, ""]
        };
        for stream in streams {
            self.counts.push(CountDelta {
                workspace_id: workspace_id.to_owned(),
                stream: (*stream).to_owned(),
                bucket_ms: bucket_of(at_ms),
                kind,
                n,
            });
        }
    }

    pub fn wait(
        &mut self,
        workspace_id: &str,
        stream: &str,
        request: &str,
        events: Option<u64>,
        at_ms: i64,
    ) {
        self.waiting.push(WaitingChange {
            workspace_id: workspace_id.to_owned(),
            stream: stream.to_owned(),
            moe_request_id: request.to_owned(),
            waiting_events: events,
            at_ms,
        });
    }

    pub fn add_secrets<'a>(&mut self, secrets: impl IntoIterator<Item = &'a str>) {
        for secret in secrets {
            // Too short a value would mask ordinary text, and means little.
            if secret.len() >= 4 && !self.secrets.iter().any(|s| s == secret) {
                self.secrets.push(secret.to_owned());
            }
        }
    }

    /// `text` with each secret masked; copied only when one is in it.
    fn masked<'a>(&self, mut text: Cow<'a, str>) -> Cow<'a, str> {
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), MASK).into();
            }
        }
        text
    }

    fn mask(&self, text: &mut String) {
        if let Cow::Owned(masked) = self.masked(Cow::Borrowed(text.as_str())) {
            *text = masked;
        }
    }

    /// This delivery's part of a write: secrets masked, bodies cut at
    /// [`REQUEST_BODY_LIMIT`] and packed.
    pub fn seal(mut self) -> LogBatch {
        let mut batch = LogBatch {
            entries: Vec::with_capacity(self.entries.len()),
            ..LogBatch::default()
        };
        for PendingEntry { mut entry, body } in std::mem::take(&mut self.entries) {
            if let Some(response) = &mut entry.response {
                self.mask(&mut response.body);
                for (_, value) in &mut response.headers {
                    self.mask(value);
                }
            }
            if let Some(error) = &mut entry.error {
                self.mask(error);
            }
            if let Some(body) = body {
                let text = self.masked(text_of(&body));
                let kept = floor_char_boundary(&text, REQUEST_BODY_LIMIT);
                batch.add_body(
                    &entry.workspace_id,
                    PackedBody {
                        moe_request_id: entry.moe_request_id.clone(),
                        at_ms: entry.at_ms,
                        packed: packed::pack(&text[..kept]),
                        truncated: kept < text.len(),
                    },
                );
            }
            batch.entries.push(entry);
        }
        for delta in self.counts {
            batch.add_count(delta);
        }
        batch.waiting = self.waiting;
        batch.syncs = self.syncs;
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery_log::model::{AttemptOutcome, EventSummary, ReceivedResponse};

    /// The one body `batch` holds, unpacked.
    fn body_text(batch: &LogBatch) -> String {
        assert_eq!(batch.bodies.len(), 1);
        packed::unpack(&batch.bodies[0].1.packed, REQUEST_BODY_LIMIT).unwrap()
    }

    fn entry(body: &str) -> PendingEntry {
        PendingEntry {
            entry: LogEntry {
                id: "000000000000001-0-abcdef12".into(),
                workspace_id: "ws".into(),
                stream: "s".into(),
                at_ms: 1,
                moe_request_id: "r".into(),
                outcome: AttemptOutcome::Failed,
                attempt: 1,
                status: Some(500),
                error: Some("HTTP 500".into()),
                latency_ms: Some(3),
                events: EventSummary::default(),
                request: None,
                response: Some(ReceivedResponse {
                    status: 500,
                    headers: vec![("x-echo".into(), "key=hunter22".into())],
                    body: "you sent hunter22".into(),
                    truncated: false,
                }),
            },
            body: Some(Bytes::copy_from_slice(body.as_bytes())),
        }
    }

    #[test]
    fn secrets_are_masked_in_bodies_and_answers() {
        let mut pending = Pending {
            entries: vec![entry(r#"{"api_key":"hunter22","events":[]}"#)],
            ..Pending::default()
        };
        pending.add_secrets(["hunter22", "ab"]);
        let batch = pending.seal();
        let text = format!("{batch:?}");
        assert!(!text.contains("hunter22"), "{text}");
        assert_eq!(body_text(&batch), r#"{"api_key":"••••","events":[]}"#);
        assert_eq!(
            batch.entries[0].response.as_ref().unwrap().body,
            "you sent ••••"
        );
    }

    #[test]
    fn a_body_is_copied_only_when_a_secret_is_masked_in_it() {
        let mut pending = Pending::default();
        pending.add_secrets(["hunter22"]);
        let clean = r#"{"events":[]}"#;
        assert!(matches!(
            pending.masked(Cow::Borrowed(clean)),
            Cow::Borrowed(text) if text == clean
        ));
        let masked = pending.masked(Cow::Borrowed(r#"{"k":"hunter22","again":"hunter22"}"#));
        assert_eq!(masked, r#"{"k":"••••","again":"••••"}"#);
    }

    #[test]
    fn large_bodies_are_cut_at_a_character() {
        let body = "é".repeat(REQUEST_BODY_LIMIT);
        let pending = Pending {
            entries: vec![entry(&body)],
            ..Pending::default()
        };
        let batch = pending.seal();
        assert!(batch.bodies[0].1.truncated);
        let kept = body_text(&batch);
        assert!(kept.len() <= REQUEST_BODY_LIMIT);
        assert!(kept.len() > REQUEST_BODY_LIMIT - 2);
        assert!(kept.chars().all(|c| c == 'é'));
    }

    #[test]
    fn counts_for_a_stream_count_for_the_workspace_too() {
        let mut pending = Pending::default();
        pending.add_count("ws", "s", CountKind::Delivered, 3, 10);
        pending.add_count("ws", "t", CountKind::Delivered, 2, 10);
        let batch = pending.seal();
        let total: u64 = batch
            .counts
            .iter()
            .filter(|c| c.stream.is_empty())
            .map(|c| c.n)
            .sum();
        assert_eq!(total, 5);
        assert_eq!(batch.counts.len(), 3);
    }
}
