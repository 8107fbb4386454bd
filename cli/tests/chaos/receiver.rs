//! A stream receiver on raw TCP, so it can misbehave the ways real
//! endpoints do: answer any status (with or without `Retry-After`), hang
//! without ever answering, or reset the connection. It records the size of
//! every request and, up to [`MAX_RECORDED_BODY`], its JSON body. Aborted,
//! with every connection it holds, when dropped.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Larger requests are answered `413` unread (and recorded by size only).
pub const MAX_RECORDED_BODY: usize = 8 * 1024 * 1024;

/// What the receiver does with one request.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    Status(u16),
    /// This status, after a pause.
    Slow(u16, Duration),
    /// `429` with this `Retry-After` (seconds).
    TooManyRequests(u32),
    /// Never answers; the connection stays open until the test ends.
    Hang,
    /// Closes the connection with a TCP reset.
    Reset,
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// Body size in bytes (its `Content-Length`).
    pub bytes: usize,
    /// The JSON body; `Null` when too large or not JSON.
    pub body: Value,
    /// The status answered; `None` for [`Reply::Hang`], [`Reply::Reset`]
    /// and when the caller was gone before the answer.
    pub answered: Option<u16>,
}

type Policy = dyn Fn(&Value) -> Reply + Send + Sync;

pub struct Receiver {
    pub url: String,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Answers every request as `policy` says, given the request's JSON body.
    pub async fn start(policy: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::default();
        let policy: Arc<Policy> = Arc::new(policy);
        let recorded = arrivals.clone();
        let task = tokio::spawn(async move {
            // Owning the connections here aborts them with the accept loop.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        connections.spawn(serve(stream, policy.clone(), recorded.clone()));
                    }
                    Some(_) = connections.join_next() => {}
                }
            }
        });
        Receiver {
            url,
            arrivals,
            task,
        }
    }

    /// Answers everything `200`.
    pub async fn ok() -> Receiver {
        Self::start(|_| Reply::Status(200)).await
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    /// `event_uuid`s of the requests answered 2xx (duplicates collapsed).
    pub fn delivered_uuids(&self) -> HashSet<String> {
        self.delivered("event_uuid")
    }

    /// The given field of every event of the requests answered 2xx.
    pub fn delivered(&self, field: &str) -> HashSet<String> {
        self.arrivals()
            .iter()
            .filter(|a| a.answered.is_some_and(|s| (200..300).contains(&s)))
            .flat_map(|a| a.body["events"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e[field].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the requests of one (keep-alive) connection.
async fn serve(mut stream: TcpStream, policy: Arc<Policy>, arrivals: Arc<Mutex<Vec<Arrival>>>) {
    let mut buffer = Vec::new();
    loop {
        let Some(bytes) = read_head(&mut stream, &mut buffer).await else {
            return;
        };
        if bytes > MAX_RECORDED_BODY {
            record(&arrivals, bytes, Value::Null, Some(413));
            let _ = stream.write_all(&response(413, None)).await;
            return;
        }
        while buffer.len() < bytes {
            let mut chunk = vec![0; 64 * 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let rest = buffer.split_off(bytes);
        let body: Value = serde_json::from_slice(&buffer).unwrap_or_default();
        buffer = rest;
        let (status, retry_after, pause) = match policy(&body) {
            Reply::Status(status) => (status, None, Duration::ZERO),
            Reply::Slow(status, pause) => (status, None, pause),
            Reply::TooManyRequests(seconds) => (429, Some(seconds), Duration::ZERO),
            reply @ (Reply::Hang | Reply::Reset) => {
                record(&arrivals, bytes, body, None);
                if let Reply::Hang = reply {
                    std::future::pending::<()>().await;
                }
                let _ = stream.set_zero_linger();
                return;
            }
        };
        // The caller may give up meanwhile (HTTP/1.1: it sends nothing
        // more until answered, so anything read means it is gone).
        let mut probe = [0; 1];
        let gone = tokio::select! {
            () = tokio::time::sleep(pause) => false,
            _ = stream.read(&mut probe) => true,
        };
        let answered = !gone
            && stream
                .write_all(&response(status, retry_after))
                .await
                .is_ok();
        record(&arrivals, bytes, body, answered.then_some(status));
        if !answered {
            return;
        }
    }
}

fn record(arrivals: &Mutex<Vec<Arrival>>, bytes: usize, body: Value, answered: Option<u16>) {
    arrivals.lock().unwrap().push(Arrival {
        bytes,
        body,
        answered,
    });
}

/// Reads up to the end of a request head, leaves what follows in `buffer`
/// and returns the `Content-Length`. `None` when the connection closed.
async fn read_head(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            buffer.drain(..end + 4);
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            return Some(length);
        }
        let mut chunk = [0; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

fn response(status: u16, retry_after: Option<u32>) -> Vec<u8> {
    let retry_after = retry_after.map_or(String::new(), |s| format!("retry-after: {s}\r\n"));
    format!("HTTP/1.1 {status} chaos\r\ncontent-length: 0\r\n{retry_after}\r\n").into_bytes()
}
