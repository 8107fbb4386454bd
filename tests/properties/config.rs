//! The configuration file (interface §7): `shared::config::parse` accepts
//! every valid file, never panics, and never echoes a secret in an error.

use proptest::collection::{btree_map, vec};
use proptest::option::{self, weighted};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use crate::harness::{Outcome, config};
use crate::mutate::{Mutation, Placement, Syntax, WEIRD, apply_to, mutation};
use crate::values::{name, object, word};

/// Every secret in a generated file starts with this, so it can be found
/// in any text (also inside a URL).
pub const SECRET_MARK: &str = "sEcReT";

/// How often a key of §7 that the parser does not know today appears.
const NEWER: f64 = 0.15;

fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{10,16}".prop_map(|s| format!("{SECRET_MARK}{s}"))
}

fn maybe<S: Strategy<Value = Value>>(s: S) -> impl Strategy<Value = Option<Value>> {
    option::of(s)
}

/// A §7 key the parser may not know yet (see [`NEWER`]).
fn newer<S: Strategy<Value = Value>>(s: S) -> impl Strategy<Value = Option<Value>> {
    weighted(NEWER, s)
}

fn one_of(values: &'static [&'static str]) -> impl Strategy<Value = Value> {
    select(values).prop_map(Value::from)
}

fn selection() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("all")),
        vec(
            select(
                &[
                    "MOE_EMAIL_SENT",
                    "Email Clicked",
                    "PARTNER_SYNC",
                    "purchase"
                ][..]
            ),
            0..3
        )
        .prop_map(Value::from),
    ]
}

/// An http(s) URL, sometimes with a password in it.
fn url() -> impl Strategy<Value = Value> {
    (
        select(&["https", "http"][..]),
        option::of(("[a-z]{1,8}", secret())),
        select(
            &[
                "example.com",
                "hooks.example.org",
                // Public address literals: loopback and private ones are
                // refused with `private_destinations = "deny"`.
                "93.184.216.34:9000",
                "[2606:2800:220:1::]:8443",
            ][..],
        ),
        "(/[a-z0-9]{1,8}){0,3}",
    )
        .prop_map(|(scheme, user, host, path)| {
            let user = user.map_or(String::new(), |(u, p)| format!("{u}:{p}@"));
            json!(format!("{scheme}://{user}{host}{path}"))
        })
}

fn auth() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "none"})),
        ("[a-z]{1,8}", secret())
            .prop_map(|(u, p)| json!({"type": "basic", "username": u, "password": p})),
        ("X-[A-Za-z]{1,10}", secret())
            .prop_map(|(n, v)| json!({"type": "header", "name": n, "value": v})),
        (
            url(),
            "[a-z]{1,8}",
            secret(),
            maybe(word().prop_map(Value::from))
        )
            .prop_map(|(token_url, id, secret, scope)| {
                let mut auth = json!({"type": "oauth2", "token_url": token_url,
                    "client_id": id, "client_secret": secret});
                if let Some(scope) = scope {
                    auth["scope"] = scope;
                }
                auth
            }),
    ]
}

/// Keys both stream types take.
fn stream_common() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    (
        maybe(selection()),
        maybe(selection()),
        maybe(selection()),
        maybe((1u32..=100).prop_map(Value::from)),
        maybe((1u32..=900).prop_map(Value::from)),
        newer(any::<bool>().prop_map(Value::from)),
        newer((1u32..=10_000).prop_map(|n| Value::from(f64::from(n) / 10.0))),
    )
        .prop_map(|(events, users, devices, batch, timeout, enabled, rate)| {
            vec![
                ("events", events),
                ("user_attributes", users),
                ("device_attributes", devices),
                ("batch_size", batch),
                ("timeout_seconds", timeout),
                ("enabled", enabled),
                ("max_requests_per_second", rate),
            ]
        })
}

fn webhook_stream() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    // `whsec_` + base64 of a 24-byte key: 32 base64 characters, starting
    // with the mark (any [A-Za-z0-9] text of a length divisible by 4 is
    // valid base64).
    let signing = vec(
        "[A-Za-z0-9]{26}".prop_map(|s| format!("whsec_{SECRET_MARK}{s}")),
        0..3,
    )
    .prop_map(Value::from);
    (
        url(),
        maybe(auth()),
        option::of(btree_map("X-[A-Za-z]{1,10}", secret(), 0..3)),
        newer(signing),
    )
        .prop_map(|(url, auth, headers, signing)| {
            vec![
                ("type", Some(json!("webhook"))),
                ("url", Some(url)),
                ("auth", auth),
                ("headers", headers.map(|h| json!(h))),
                ("signing_secrets", signing),
            ]
        })
}

fn amplitude_stream() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    (secret(), maybe(one_of(&["us", "eu"])), maybe(url())).prop_map(|(key, region, endpoint)| {
        vec![
            ("type", Some(json!("amplitude"))),
            ("api_key", Some(json!(key))),
            ("region", region),
            ("endpoint", endpoint),
        ]
    })
}

fn stream() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    (
        prop_oneof![webhook_stream(), amplitude_stream()],
        stream_common(),
    )
        .prop_map(|(kind, common)| [kind, common].concat())
}

fn workspace_secret() -> impl Strategy<Value = (&'static str, Value)> {
    prop_oneof![
        4 => secret().prop_map(|s| ("secret", json!(s))),
        1 => "[0-9a-f]{64}".prop_map(|h| ("secret_sha256", json!(h))),
        // §7: a list of two while a secret rotates.
        1 => (secret(), secret()).prop_map(|(a, b)| ("secret", json!([a, b]))),
    ]
}

fn customerio() -> impl Strategy<Value = Value> {
    (secret(), any::<bool>(), 1u32..3600).prop_map(|(key, body, tolerance)| {
        json!({"signing_key": key, "account_id": "1", "workspace_id": "56354",
               "body_content": body, "tolerance_seconds": tolerance})
    })
}

fn workspace() -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    (
        (
            "[A-Za-z0-9_-]{1,20}",
            workspace_secret(),
            name(),
            maybe(one_of(&["customer_id", "email", "mpid"])),
            maybe(word().prop_map(Value::from)),
            maybe(one_of(&["drop", "create"])),
        ),
        (
            maybe(any::<bool>().prop_map(Value::from)),
            maybe(any::<bool>().prop_map(Value::from)),
            maybe((1u32..100_000).prop_map(Value::from)),
            maybe((1u32..10_000).prop_map(Value::from)),
            newer(customerio()),
            vec(stream(), 0..3),
        ),
    )
        .prop_map(
            |((id, (secret_key, secret), app, identity, anon, unknown), rest)| {
                let (objects, promotions, rpm, rps, cio, streams) = rest;
                let streams: Vec<Value> = streams
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut s)| {
                        s.push(("name", Some(json!(format!("stream-{i}")))));
                        object(s)
                    })
                    .collect();
                vec![
                    ("id", Some(json!(id))),
                    (secret_key, Some(secret)),
                    ("app_name", Some(json!(app))),
                    ("mparticle_identity", identity),
                    ("anonymous_id_attribute", anon),
                    ("unknown_cohort_users", unknown),
                    ("allow_object_attributes", objects),
                    ("commerce_promotions_and_impressions", promotions),
                    ("mparticle_requests_per_minute", rpm),
                    ("amplitude_requests_per_second", rps),
                    ("customerio", cio),
                    ("streams", Some(json!(streams))),
                ]
            },
        )
}

/// A valid configuration file per interface §7, as a value (written as
/// TOML: `[server]`, `[[workspaces]]`, `[[workspaces.streams]]`, …).
pub fn config_file() -> impl Strategy<Value = Value> {
    let server = (
        maybe(one_of(&["127.0.0.1:8080", "0.0.0.0:80", "[::1]:9000"])),
        newer((1u32..120).prop_map(Value::from)),
    )
        .prop_map(|(listen, grace)| {
            object(vec![("listen", listen), ("shutdown_grace_seconds", grace)])
        });
    let logging = (
        one_of(&["auto", "text", "json"]),
        one_of(&["info", "debug", "warn"]),
    )
        .prop_map(|(format, level)| json!({"format": format, "level": level}));
    let security = one_of(&["allow", "deny"]).prop_map(|p| json!({"private_destinations": p}));
    let storage = (one_of(&["sqlite", "aws"]), "[a-z]{1,8}")
        .prop_map(|(backend, file)| json!({"backend": backend, "path": format!("data/{file}.db")}));
    let retry = vec(1u32..=900, 1..4).prop_map(|s| json!({"schedule_seconds": s}));
    (
        maybe(server),
        newer(logging),
        newer(security),
        maybe(storage),
        maybe(retry),
        vec(workspace(), 0..3),
    )
        .prop_map(|(server, logging, security, storage, retry, workspaces)| {
            let workspaces: Vec<Value> = workspaces
                .into_iter()
                .enumerate()
                .map(|(i, mut w)| {
                    // Ids are unique in a file.
                    if let Some((_, Some(Value::String(id)))) = w.first_mut() {
                        id.push_str(&format!("-{i}"));
                    }
                    object(w)
                })
                .collect();
            object(vec![
                ("server", server),
                ("logging", logging),
                ("security", security),
                ("storage", storage),
                ("retry", retry),
                ("workspaces", Some(json!(workspaces))),
            ])
        })
}

/// Every secret written in `text`: each run of letters and digits that
/// starts with [`SECRET_MARK`].
pub fn secrets_in(text: &str) -> Vec<&str> {
    text.match_indices(SECRET_MARK)
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest
                .char_indices()
                .find(|(_, c)| !c.is_ascii_alphanumeric())
                .map_or(rest.len(), |(i, _)| i);
            &rest[..end]
        })
        .collect()
}

/// The file written as TOML.
pub fn write(value: &Value) -> String {
    toml::to_string(value).expect("a valid config is a TOML table")
}

fn accepted(file: &Value) -> Outcome {
    let text = write(file);
    let parsed = shared::config::parse(&text);
    prop_assert!(parsed.is_ok(), "{}\n---\n{}", parsed.unwrap_err(), text);
    let parsed = parsed.unwrap_or_default();
    let expected = file["workspaces"].as_array().map_or(0, Vec::len);
    prop_assert_eq!(parsed.workspaces.len(), expected);
    for (w, ws) in parsed.workspaces.iter().enumerate() {
        prop_assert_eq!(&json!(ws.id), &file["workspaces"][w]["id"]);
        let streams = file["workspaces"][w]["streams"]
            .as_array()
            .map_or(0, Vec::len);
        prop_assert_eq!(ws.streams.len(), streams);
    }
    Ok(())
}

/// Damage that keeps a value's text (so its secret) around, or any mutation.
fn secret_damage() -> impl Strategy<Value = Mutation> {
    let keep = prop_oneof![
        Just(Placement::Prefix),
        Just(Placement::Suffix),
        Just(Placement::Middle)
    ];
    prop_oneof![
        2 => (any::<usize>(), select(WEIRD), keep).prop_map(|(at, w, p)| Mutation::Weird(at, w, p)),
        1 => mutation(),
    ]
}

fn holds_secret(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.contains(SECRET_MARK))
}

/// `parse` answers (an error has a message); `secrets` also checks that
/// an error names no secret of the input.
fn mutated(
    file: &Value,
    mutation: &Mutation,
    focus: &dyn Fn(&Value) -> bool,
    secrets: bool,
) -> Outcome {
    let bytes = apply_to(file, mutation, Syntax::Toml, focus);
    let text = String::from_utf8_lossy(&bytes);
    if let Err(error) = shared::config::parse(&text) {
        let message = error.to_string();
        prop_assert!(!message.trim().is_empty());
        if !secrets {
            return Ok(());
        }
        for secret in secrets_in(&text) {
            prop_assert!(
                !message.contains(secret),
                "the error echoes the secret {:?}: {}",
                secret,
                message
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Every valid §7 file parses, with its workspaces and streams.
    #[test]
    fn config_valid_is_accepted(file in config_file()) {
        accepted(&file)?;
    }

    /// Mutated files: `parse` never panics and explains every refusal.
    #[test]
    fn config_mutated_never_panics(file in config_file(), m in mutation()) {
        mutated(&file, &m, &|_| true, false)?;
    }

    /// An error never contains a secret of the input (workspace secret,
    /// stream password, header value, api_key, signing secret, a password
    /// inside a URL); mutations are aimed at the values holding secrets.
    #[test]
    fn config_errors_never_echo_secrets(file in config_file(), m in secret_damage()) {
        mutated(&file, &m, &holds_secret, true)?;
    }

    /// Arbitrary text: `parse` never panics.
    #[test]
    fn config_arbitrary_text_never_panics(text in "(\\PC|\n|\\[|\\]|=|\"|\\{|\\})*") {
        let _ = shared::config::parse(&text);
    }
}

const MINIMAL: &str = "[[workspaces]]\nid = \"w\"\nsecret = \"s\"\napp_name = \"A\"\n";
const STREAM: &str =
    "[[workspaces.streams]]\nname = \"s\"\ntype = \"webhook\"\nurl = \"https://example.com\"\n";

/// The minimal failing inputs of `config_valid_is_accepted`: each §7 key
/// the parser does not know today, alone.
#[test]
fn every_interface_key_is_accepted() {
    let files = [
        format!("[server]\nshutdown_grace_seconds = 25\n{MINIMAL}"),
        format!("[logging]\nformat = \"json\"\nlevel = \"info\"\n{MINIMAL}"),
        format!("[security]\nprivate_destinations = \"deny\"\n{MINIMAL}"),
        MINIMAL.replace("secret = \"s\"", "secret = [\"s\", \"t\"]"),
        format!(
            "{MINIMAL}customerio = {{ signing_key = \"k\", account_id = \"1\", workspace_id = \"2\" }}\n"
        ),
        format!("{MINIMAL}{STREAM}enabled = false\n"),
        format!(
            "{MINIMAL}{STREAM}signing_secrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n"
        ),
        format!(
            "{MINIMAL}{STREAM}auth = {{ type = \"oauth2\", token_url = \"https://auth.example.com/token\", \
             client_id = \"id\", client_secret = \"s\", scope = \"events:write\", audience = \"a\" }}\n"
        ),
        format!("{MINIMAL}{STREAM}max_requests_per_second = 20\n"),
        format!("{MINIMAL}{STREAM}max_requests_per_second = 0.5\n"),
    ];
    let failures: Vec<String> = files
        .iter()
        .filter_map(|text| shared::config::parse(text).err().map(|e| e.to_string()))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The minimal failing input of `config_errors_never_echo_secrets`.
#[test]
fn a_bad_url_never_echoes_its_password() {
    for url in [
        "ftp://u:sEcReTpassword1@example.com",
        ".https://u:sEcReTpassword1@example.com",
    ] {
        let text = format!("{MINIMAL}{}", STREAM.replace("https://example.com", url));
        let error = shared::config::parse(&text)
            .expect_err("an invalid url")
            .to_string();
        assert!(!error.contains("sEcReTpassword1"), "{error}");
    }
}

/// Each new stream key's errors name its path and line, say what is wrong,
/// and never quote a secret (client_secret, the TLS key).
#[test]
fn the_new_stream_keys_are_explained_with_path_and_line() {
    let oauth2 = |rest: &str| format!("auth = {{ type = \"oauth2\", client_id = \"i\", {rest} }}");
    let cases = [
        (
            oauth2("token_url = \"ftp://x/t\", client_secret = \"sEcReT1\""),
            "workspaces[0].streams[0].auth.token_url (line 9): ftp://x/t is not an http(s) URL",
        ),
        (
            oauth2("token_url = \"http://169.254.169.254/t\", client_secret = \"sEcReT1\""),
            "workspaces[0].streams[0].auth.token_url (line 9): destination refused: 169.254.169.254 is a link-local (cloud metadata) address, which streams may never reach",
        ),
        (
            oauth2("token_url = \"https://a.example/t\", client_secret = \"\""),
            "workspaces[0].streams[0].auth.client_secret (line 9): must not be empty",
        ),
        (
            oauth2("token_url = \"https://a.example/t\""),
            "workspaces[0].streams[0].auth (line 9): missing field `client_secret`",
        ),
        (
            "tls = { client_cert = \"not pem\", client_key = \"sEcReTkey\" }".to_owned(),
            "workspaces[0].streams[0].tls.client_cert (line 9): client_cert and client_key are not a PEM certificate and its PEM private key",
        ),
        (
            "tls = { client_cert = \"c\", client_key = \"sEcReTkey\", key = \"k\" }".to_owned(),
            "workspaces[0].streams[0].tls.key (line 9): unknown field `key`, expected one of `client_cert`, `client_key`, `ca`",
        ),
        (
            "max_requests_per_second = 0".to_owned(),
            "workspaces[0].streams[0].max_requests_per_second (line 9): 0 is not a rate above 0 and at most 10000 requests per second",
        ),
        (
            "max_requests_per_second = 20000".to_owned(),
            "workspaces[0].streams[0].max_requests_per_second (line 9): 20000 is not a rate above 0 and at most 10000 requests per second",
        ),
    ];
    for (line, expected) in cases {
        let error = shared::config::parse(&format!("{MINIMAL}{STREAM}{line}\n"))
            .expect_err(&line)
            .to_string();
        assert_eq!(error, format!("invalid config: {expected}"));
        assert!(!error.contains(SECRET_MARK), "{error}");
    }
    let amplitude = "[[workspaces.streams]]\nname = \"a\"\ntype = \"amplitude\"\napi_key = \"k\"\n\
                     tls = { client_cert = \"c\", client_key = \"k\" }\n";
    let error = shared::config::parse(&format!("{MINIMAL}{amplitude}")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid config: workspaces[0].streams[0].tls (line 9): unknown key `tls` for a stream of type amplitude (keys of this type: api_key, region, endpoint, secret_key, forward_deletions, deletion_endpoint)"
    );
}
