//! The proxy itself: a hyper server on 127.0.0.1 that forwards to moto and
//! answers a share of the calls with faults (see the module above).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::answers;
use super::{Call, Fault, Figures, Operation, Plan};

/// The connection is dropped without an answer.
#[derive(Debug)]
pub(super) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

/// A call to hold unanswered once forwarded (see [`FaultProxy::hold_after`]).
struct Hold {
    operation: String,
    remaining: u64,
    reached: Option<oneshot::Sender<()>>,
}

/// Faults scripted for the next calls of an operation.
struct Scripted {
    operation: String,
    fault: Fault,
    /// Calls of the operation passed through first.
    skip: u64,
    remaining: u64,
}

pub(super) struct State {
    upstream: String,
    /// moto's TransactWriteItems is not isolated: one that fails restores
    /// the whole table as it was when it began, undoing (or tearing) every
    /// write made meanwhile — DynamoDB does no such thing. So a transaction
    /// runs alone: it takes this exclusively, other DynamoDB calls shared.
    transactions: tokio::sync::RwLock<()>,
    scripted: Mutex<Vec<Scripted>>,
    client: reqwest::Client,
    plan: Mutex<Plan>,
    rng: Mutex<StdRng>,
    /// Which of the next calls fault: dealt in decks of [`DECK`] with the
    /// plan's share of faults each, shuffled, so the share holds closely in
    /// any run, not only on average.
    deck: Mutex<Vec<bool>>,
    figures: Mutex<Figures>,
    holds: Mutex<Vec<Hold>>,
    /// The request ids of the error answers the proxy made up.
    answered: Mutex<Vec<String>>,
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (moto's URL) faulting as `plan` says.
    pub async fn start(upstream: &str, plan: Plan) -> Self {
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: {
                shared::outbound::use_ring();
                reqwest::Client::builder()
                    .no_proxy()
                    .build()
                    .expect("an HTTP client")
            },
            rng: Mutex::new(StdRng::seed_from_u64(plan.seed)),
            plan: Mutex::new(plan),
            deck: Mutex::default(),
            figures: Mutex::default(),
            holds: Mutex::default(),
            scripted: Mutex::default(),
            answered: Mutex::default(),
            transactions: tokio::sync::RwLock::new(()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let serving = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), request));
                    // A dropped connection ends here with an error: intended.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state, task }
    }

    /// The endpoint URL to give the SDK (`AWS_ENDPOINT_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn seed(&self) -> u64 {
        self.state.plan.lock().unwrap().seed
    }

    /// Changes the share of faulted calls from now on.
    pub fn set_rate(&self, rate: f64) {
        self.state.plan.lock().unwrap().rate = rate;
    }

    /// The request ids (`x-amzn-requestid`) of the answers the proxy made
    /// up rather than forwarded.
    pub fn answered_request_ids(&self) -> Vec<String> {
        self.state.answered.lock().unwrap().clone()
    }

    pub fn figures(&self) -> Figures {
        self.state.figures.lock().unwrap().clone()
    }

    /// Answers the next `times` calls of `operation` with `fault`,
    /// whatever the plan's rate (scripted faults come first).
    pub fn inject(&self, operation: &str, fault: Fault, times: u64) {
        self.inject_after(operation, 0, fault, times);
    }

    /// Forgets the scripted faults not yet injected.
    pub fn clear(&self) {
        self.state.scripted.lock().unwrap().clear();
    }

    /// Passes the next `skip` calls of `operation` through, then answers
    /// `times` calls with `fault`.
    pub fn inject_after(&self, operation: &str, skip: u64, fault: Fault, times: u64) {
        self.state.scripted.lock().unwrap().push(Scripted {
            operation: operation.to_owned(),
            fault,
            skip,
            remaining: times,
        });
    }

    /// The `n`-th call of `operation` from now is forwarded (applied) and
    /// then never answered; the receiver hears when that happened, so a
    /// test can kill the caller right after a write it never saw succeed.
    pub fn hold_after(&self, operation: &str, n: u64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.state.holds.lock().unwrap().push(Hold {
            operation: operation.to_owned(),
            remaining: n.max(1),
            reached: Some(tx),
        });
        rx
    }
}

type Answer = Result<Response<Full<Bytes>>, Dropped>;

/// Calls per deck of faults (see `State::deck`).
const DECK: usize = 20;

impl State {
    fn decide(&self, call: &Call) -> Option<Fault> {
        let mut scripted = self.scripted.lock().unwrap();
        let matching = scripted.iter_mut().find(|s| {
            s.remaining > 0 && s.operation == call.operation.name && s.fault.applies_to(call)
        });
        if let Some(script) = matching {
            if script.skip > 0 {
                script.skip -= 1;
                return None;
            }
            script.remaining -= 1;
            return Some(script.fault);
        }
        drop(scripted);
        let plan = self.plan.lock().unwrap();
        if plan.rate <= 0.0 {
            return None;
        }
        let mut rng = self.rng.lock().unwrap();
        let mut deck = self.deck.lock().unwrap();
        if deck.is_empty() {
            let faults = (plan.rate * DECK as f64).round() as usize;
            deck.extend((0..DECK).map(|i| i < faults));
            deck.shuffle(&mut *rng);
        }
        if !deck.pop().unwrap_or(false) {
            return None;
        }
        let mut eligible: Vec<Fault> = plan
            .faults
            .iter()
            .copied()
            .filter(|f| f.applies_to(call))
            .collect();
        // Half the faults of a batch call are partial results: the case
        // only batch calls have, and the one most easily mishandled.
        if eligible.contains(&Fault::Partial) {
            let others = eligible.len() - 1;
            eligible.extend(std::iter::repeat_n(
                Fault::Partial,
                others.saturating_sub(1),
            ));
        }
        if eligible.is_empty() {
            return None;
        }
        Some(eligible[rng.random_range(0..eligible.len())])
    }

    fn count(&self, operation: &Operation, fault: Option<Fault>) {
        let mut figures = self.figures.lock().unwrap();
        *figures.calls.entry(operation.clone()).or_default() += 1;
        if let Some(fault) = fault {
            *figures.faults.entry(fault).or_default() += 1;
        }
    }

    /// A coin toss from the seeded generator.
    pub(super) fn coin(&self) -> bool {
        self.rng.lock().unwrap().random::<bool>()
    }

    /// Splits a batch into what is forwarded and what is withheld, each
    /// non-empty (the batch has at least two entries).
    pub(super) fn split<T>(&self, items: Vec<T>) -> (Vec<T>, Vec<T>) {
        let n = items.len();
        let mut rng = self.rng.lock().unwrap();
        let withheld = rng.random_range(1..n);
        let mut keep: Vec<bool> = (0..n).map(|i| i >= withheld).collect();
        // Which entries are withheld is drawn too, not always the last ones.
        for i in (1..n).rev() {
            keep.swap(i, rng.random_range(0..=i));
        }
        let (mut forwarded, mut held) = (Vec::new(), Vec::new());
        for (item, keep) in items.into_iter().zip(keep) {
            if keep {
                forwarded.push(item);
            } else {
                held.push(item);
            }
        }
        (forwarded, held)
    }

    /// Forwards a call to moto; holds it unanswered if a hold says so.
    pub(super) async fn forward(
        &self,
        headers: &HeaderMap,
        path: &str,
        operation: Option<&Operation>,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Dropped> {
        let mut request = self.client.post(format!("{}{path}", self.upstream));
        for (name, value) in headers {
            if !matches!(
                name.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding"
            ) {
                request = request.header(name, value);
            }
        }
        let (status, headers, body) = {
            let _alone = match operation {
                Some(op) if op.name == "TransactWriteItems" => {
                    (None, Some(self.transactions.write().await))
                }
                Some(op) if op.service == super::Service::DynamoDb => {
                    (Some(self.transactions.read().await), None)
                }
                _ => (None, None),
            };
            let response = request.body(body).send().await.map_err(|_| Dropped)?;
            let status = response.status();
            let headers = response.headers().clone();
            (
                status,
                headers,
                response.bytes().await.map_err(|_| Dropped)?,
            )
        };
        if let Some(operation) = operation {
            self.maybe_hold(operation).await;
        }
        Ok((status, headers, body))
    }

    async fn maybe_hold(&self, operation: &Operation) {
        let reached = {
            let mut holds = self.holds.lock().unwrap();
            holds
                .iter_mut()
                .filter(|h| h.operation == operation.name && h.reached.is_some())
                .find_map(|h| {
                    h.remaining -= 1;
                    (h.remaining == 0).then(|| h.reached.take()).flatten()
                })
        };
        if let Some(reached) = reached {
            let _ = reached.send(());
            std::future::pending::<()>().await;
        }
    }
}

/// An answer as hyper sends it (length recomputed; a rewritten body's
/// checksum header dropped).
pub(super) fn respond(status: StatusCode, headers: &HeaderMap, body: Bytes) -> Answer {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    for (name, value) in headers {
        if !matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding" | "x-amz-crc32" | "date"
        ) {
            response.headers_mut().append(name, value.clone());
        }
    }
    Ok(response)
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Answer {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .and_then(Operation::from_target);
    let Some(operation) = operation else {
        let (status, headers, body) = state.forward(&parts.headers, &path, None, body).await?;
        return respond(status, &headers, body);
    };
    let call = Call {
        entries: answers::entries(&operation, &body),
        operation,
    };
    let fault = state.decide(&call);
    state.count(&call.operation, fault);
    let operation = &call.operation;
    let forward = |body: Bytes| state.forward(&parts.headers, &path, Some(operation), body);
    let answer = faulted(&state, fault, operation, forward, body).await;
    if let Ok(response) = &answer
        && fault.is_some()
        && let Some(id) = response.headers().get("x-amzn-requestid")
    {
        let id = id.to_str().unwrap_or_default().to_owned();
        state.answered.lock().unwrap().push(id);
    }
    answer
}

/// The answer to a call with `fault` (none: moto's).
async fn faulted<F, Fut>(
    state: &State,
    fault: Option<Fault>,
    operation: &Operation,
    forward: F,
    body: Bytes,
) -> Answer
where
    F: Fn(Bytes) -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, HeaderMap, Bytes), Dropped>>,
{
    match fault {
        None => {
            let (status, headers, body) = forward(body).await?;
            respond(status, &headers, body)
        }
        Some(Fault::Throttled) => answers::throttled(operation.service, state.coin()),
        Some(Fault::ServerError) => answers::server_error(operation.service),
        Some(Fault::Reset) => Err(Dropped),
        Some(Fault::Slow) => {
            let answer = forward(body).await?;
            let slow = state.plan.lock().unwrap().slow;
            tokio::time::sleep(slow).await;
            respond(answer.0, &answer.1, answer.2)
        }
        Some(Fault::Partial) => {
            let (forwarded, withheld) = answers::split_request(state, operation, &body);
            let (status, headers, answer) = forward(forwarded).await?;
            if status != StatusCode::OK {
                return respond(status, &headers, answer);
            }
            let rewritten = answers::with_withheld(operation, &answer, withheld);
            respond(status, &headers, rewritten)
        }
        Some(Fault::Cancelled) => answers::cancelled(&body),
        Some(Fault::AppliedThenError) => {
            forward(body).await?;
            answers::server_error(operation.service)
        }
        Some(Fault::AppliedThenReset) => {
            forward(body).await?;
            Err(Dropped)
        }
    }
}
