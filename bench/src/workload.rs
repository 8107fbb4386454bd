//! Request bodies: mParticle Events-API batches, Amplitude cohort webhooks
//! and Customer.io reporting webhooks (docs/interface/http.md). Every request number
//! `seq` gives different event ids, message ids and user ids, so nothing is
//! de-duplicated; bodies are written directly as bytes so that building
//! them costs the generator little.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// `POST /v1/mparticle/events`: Events-API batches of custom events.
    Mparticle,
    /// `POST /v1/amplitude/cohorts`: cohort webhooks adding new users.
    Cohort,
    /// `POST /v1/customerio/{workspace_id}/reporting`: one signed webhook each.
    Customerio,
}

#[derive(Clone, Debug, clap::Args)]
pub struct Shape {
    /// Which route to load.
    #[arg(long, value_enum, default_value = "mparticle")]
    pub workload: Kind,
    /// mParticle: users (batches) per request.
    #[arg(long, default_value_t = 10)]
    pub users_per_request: u64,
    /// mParticle: custom events per user, so events per request =
    /// users-per-request × events-per-user.
    #[arg(long, default_value_t = 10)]
    pub events_per_user: u64,
    /// mParticle: user ids cycle over this many users (profiles are updated,
    /// not only created).
    #[arg(long, default_value_t = 100_000)]
    pub user_pool: u64,
    /// Cohort: users per cohort webhook (each a new user: one Partner Sync
    /// event each with `unknown_cohort_users = "create"`).
    #[arg(long, default_value_t = 1000)]
    pub cohort_users: u64,
}

pub const WORKSPACE: &str = "load";
pub const SECRET: &str = "load-secret";
pub const CIO_SIGNING_KEY: &str = "load-signing-key";

/// One request to send.
pub struct Request {
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Events this request produces on the events queue when accepted.
    pub events: u64,
}

pub struct Workload {
    shape: Shape,
    /// Distinguishes runs (ids stay unique across runs on one store).
    nonce: String,
    authorization: HeaderValue,
    base_ms: u64,
}

impl Workload {
    pub fn new(shape: Shape) -> Self {
        let base_ms = now_ms();
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{WORKSPACE}:{SECRET}"));
        Self {
            shape,
            nonce: format!("{:x}", base_ms),
            authorization: HeaderValue::from_str(&format!("Basic {credentials}"))
                .expect("header value"),
            base_ms,
        }
    }

    pub fn kind(&self) -> Kind {
        self.shape.workload
    }

    pub fn path(&self) -> String {
        match self.shape.workload {
            Kind::Mparticle => "/v1/mparticle/events".into(),
            Kind::Cohort => "/v1/amplitude/cohorts".into(),
            Kind::Customerio => format!("/v1/customerio/{WORKSPACE}/reporting"),
        }
    }

    pub fn events_per_request(&self) -> u64 {
        match self.shape.workload {
            Kind::Mparticle => self.shape.users_per_request * self.shape.events_per_user,
            Kind::Cohort => self.shape.cohort_users,
            Kind::Customerio => 1,
        }
    }

    pub fn request(&self, seq: u64) -> Request {
        let mut headers = vec![
            (hyper::header::AUTHORIZATION, self.authorization.clone()),
            (
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ];
        let body = match self.shape.workload {
            Kind::Mparticle => self.mparticle(seq),
            Kind::Cohort => self.cohort(seq),
            Kind::Customerio => {
                let timestamp = now_ms() / 1000;
                let body = self.customerio(seq, timestamp);
                let mut signed = format!("v0:{timestamp}:").into_bytes();
                signed.extend_from_slice(&body);
                let signature = hex::encode(hmac_sha256(CIO_SIGNING_KEY.as_bytes(), &signed));
                headers.push((
                    HeaderName::from_static("x-cio-timestamp"),
                    HeaderValue::from(timestamp),
                ));
                headers.push((
                    HeaderName::from_static("x-cio-signature"),
                    HeaderValue::from_str(&signature).expect("hex"),
                ));
                body
            }
        };
        Request {
            path: self.path(),
            headers,
            body: Bytes::from(body),
            events: self.events_per_request(),
        }
    }

    /// An Events-API request: an array of batches, one per user, of custom
    /// events (the issue's shape: 100 events for 10 users).
    fn mparticle(&self, seq: u64) -> Vec<u8> {
        let users = self.shape.users_per_request;
        let per_user = self.shape.events_per_user;
        let mut b = Vec::with_capacity((users * (per_user * 420 + 900)) as usize);
        b.push(b'[');
        for u in 0..users {
            let user = (seq * users + u) % self.shape.user_pool.max(1);
            if u > 0 {
                b.push(b',');
            }
            b.extend_from_slice(br#"{"events":["#);
            for i in 0..per_user {
                if i > 0 {
                    b.push(b',');
                }
                let n = (seq * users + u) * per_user + i;
                // Positive, unique per run: the event identity mParticle sends.
                let event_id = (self.base_ms << 20) ^ n;
                let _ = write!(
                    b,
                    r#"{{"event_type":"custom_event","data":{{"event_name":"Viewed Product {page}","custom_event_type":"navigation","event_id":{event_id},"source_message_id":"{nonce}-{n}","session_id":{session},"timestamp_unixtime_ms":{ts},"custom_attributes":{{"product_id":"SKU-{i}","category":"Shoes","on_sale":"true","price":"49.99","position":{i}}}}}}}"#,
                    page = n % 3,
                    nonce = self.nonce,
                    session = 4_957_918_240_501_247_u64 + user,
                    ts = self.base_ms + i,
                );
            }
            let _ = write!(
                b,
                r#"],"device_info":{{"platform":"iOS","brand":"Apple","product":"iPhone15,2","device_manufacturer":"Apple","os_version":"17.1","ios_idfv":"0D2A1F4C-6B3E-4F5A-8C7D-{user:012}","locale_language":"en","locale_country":"US","timezone_offset":0}},"application_info":{{"application_name":"Demo App","application_version":"2.3.1"}},"user_attributes":{{"$FirstName":"Jane","$LastName":"Doe","$City":"Berlin","$Country":"DE","plan":"premium","loyalty_points":1200,"newsletter_opt_in":true}},"user_identities":[{{"identity_type":"customer_id","identity":"load-{user}","timestamp_unixtime_ms":1795255200000}},{{"identity_type":"email","identity":"load{user}@example.com","timestamp_unixtime_ms":1795255200000}}],"environment":"production","mpid":{mpid},"batch_id":{batch},"timestamp_unixtime_ms":{ts}}}"#,
                mpid = 1_000_000_000_u64 + user,
                batch = (self.base_ms << 16) ^ (seq * users + u),
                ts = self.base_ms,
            );
        }
        b.push(b']');
        b
    }

    /// A cohort webhook adding `cohort_users` users never seen before.
    fn cohort(&self, seq: u64) -> Vec<u8> {
        let n = self.shape.cohort_users;
        let mut b = Vec::with_capacity((n * 40 + 200) as usize);
        let _ = write!(
            b,
            r#"{{"cohort_name":"Load Test","cohort_id":"load1","in_cohort":true,"computed_time":"{t}","message_id":"{nonce}-{seq}","users":["#,
            t = self.base_ms / 1000 + seq,
            nonce = self.nonce,
        );
        for i in 0..n {
            if i > 0 {
                b.push(b',');
            }
            let _ = write!(b, r#"{{"user_id":"c-{}-{seq}-{i}"}}"#, self.nonce);
        }
        b.extend_from_slice(b"]}");
        b
    }

    /// A Customer.io reporting webhook (an email "sent" metric).
    fn customerio(&self, seq: u64, timestamp: u64) -> Vec<u8> {
        let user = seq % self.shape.user_pool.max(1);
        format!(
            r#"{{"event_id":"01LOAD{nonce}{seq:012}","object_type":"email","metric":"sent","timestamp":{timestamp},"data":{{"identifiers":{{"id":"cio-{user}","email":"cio{user}@example.com","cio_id":"c{user}"}},"customer_id":"cio-{user}","recipient":"cio{user}@example.com","delivery_id":"d-{nonce}-{seq}","campaign_id":101,"action_id":7,"journey_id":"j-1","subject":"Hello"}}}}"#,
            nonce = self.nonce,
        )
        .into_bytes()
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// HMAC-SHA256 (RFC 2104) over sha2.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(workload: Kind) -> Shape {
        Shape {
            workload,
            users_per_request: 10,
            events_per_user: 10,
            user_pool: 100_000,
            cohort_users: 5,
        }
    }

    #[test]
    fn mparticle_bodies_are_json_with_unique_event_ids() {
        let w = Workload::new(shape(Kind::Mparticle));
        let mut ids = std::collections::HashSet::new();
        for seq in 0..3 {
            let request = w.request(seq);
            let value: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let batches = value.as_array().unwrap();
            assert_eq!(batches.len(), 10);
            for batch in batches {
                for event in batch["events"].as_array().unwrap() {
                    assert!(ids.insert(event["data"]["event_id"].as_u64().unwrap()));
                }
            }
            assert_eq!(request.events, 100);
        }
        assert_eq!(ids.len(), 300);
    }

    #[test]
    fn cohort_and_customerio_bodies_are_json() {
        let cohort = Workload::new(shape(Kind::Cohort)).request(7);
        let value: serde_json::Value = serde_json::from_slice(&cohort.body).unwrap();
        assert_eq!(value["users"].as_array().unwrap().len(), 5);
        let cio = Workload::new(shape(Kind::Customerio)).request(7);
        let value: serde_json::Value = serde_json::from_slice(&cio.body).unwrap();
        assert_eq!(value["metric"], "sent");
        assert_eq!(cio.path, "/v1/customerio/load/reporting");
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
