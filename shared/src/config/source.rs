//! The configuration text itself: where a key stands (its line, for error
//! messages), `${NAME}` taken from the environment, and keeping secrets out
//! of every message (docs/interface/config.md "Validation" and "Secrets").

use std::borrow::Cow;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// One step of a key path: `workspaces[0].streams[1].url`.
enum Step<'p> {
    Key(&'p str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Step::Index(i));
            }
        }
    }
    out
}

/// The span of the value at `path`, or of the deepest table or array on the
/// way that exists (a missing key is reported where it should be).
pub fn span_of(root: &Spanned<DeTable<'_>>, path: &str) -> Range<usize> {
    let mut span = root.span();
    let mut current: Option<&DeValue<'_>> = None;
    for step in steps(path) {
        let next = match (step, current) {
            (Step::Key(key), None) => lookup(root.get_ref(), key),
            (Step::Key(key), Some(DeValue::Table(table))) => lookup(table, key),
            (Step::Index(i), Some(DeValue::Array(items))) => items.get(i),
            _ => None,
        };
        let Some(value) = next else { break };
        span = value.span();
        current = Some(value.get_ref());
    }
    span
}

fn lookup<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

/// An unresolvable `${NAME}`: the message, the span of the string naming
/// it and the key path of that string.
pub struct Unresolved {
    pub problem: Substitution,
    pub span: Range<usize>,
    pub path: String,
}

/// Replaces `${NAME}` in every string value with the variable's value;
/// an unset variable is an error naming it (never a value), its key path
/// and the span of the string that names it.
pub fn interpolate<'i>(
    table: &mut DeTable<'i>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Unresolved> {
    interpolate_table(table, "", env)
}

fn interpolate_table<'i>(
    table: &mut DeTable<'i>,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Unresolved> {
    for (key, value) in table.iter_mut() {
        let path = if path.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{path}.{}", key.get_ref())
        };
        interpolate_value(value, &path, env)?;
    }
    Ok(())
}

fn interpolate_value<'i>(
    value: &mut Spanned<DeValue<'i>>,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Unresolved> {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(text) if text.contains("${") => {
            let resolved = substitute(text, env).map_err(|problem| Unresolved {
                problem,
                span,
                path: path.to_owned(),
            })?;
            *text = Cow::Owned(resolved);
        }
        DeValue::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), env)?;
            }
        }
        DeValue::Table(table) => interpolate_table(table, path, env)?,
        _ => {}
    }
    Ok(())
}

/// Why a `${NAME}` reference could not be replaced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Substitution {
    #[error("an unclosed \"${{\" (write ${{NAME}} to read the environment variable NAME)")]
    Unclosed,
    #[error("\"${{{0}}}\" is not an environment variable reference")]
    NotAReference(String),
    #[error("environment variable {0} is not set")]
    Unset(String),
}

fn substitute(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, Substitution> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(Substitution::Unclosed)?;
        let name = &after[..end];
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Substitution::NotAReference(name.to_owned()));
        }
        let value = env(name).ok_or_else(|| Substitution::Unset(name.to_owned()))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Keys whose values are secrets (or may carry one, like a URL with
/// credentials): messages about them never quote the value.
const SECRET_KEYS: [&str; 11] = [
    "secret",
    "auth",
    "secret_sha256",
    "password",
    "value",
    "api_key",
    "signing_secrets",
    "signing_key",
    "headers",
    "url",
    "endpoint",
];

/// Whether the key at `path` holds a secret (a header of `headers` too).
pub fn is_secret_path(path: &str) -> bool {
    steps(path)
        .iter()
        .any(|step| matches!(step, Step::Key(key) if SECRET_KEYS.contains(key)))
}

/// A parser message with every quoted value removed: `invalid type: integer
/// `987654321`, expected a string` → `invalid type: integer (value not shown),
/// expected a string`. Only messages that quote the value are touched (ours
/// quote key names, which stay).
pub fn redact(message: &str) -> String {
    if !["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|kind| message.starts_with(kind))
    {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c == '`' || c == '"' {
            for inner in chars.by_ref() {
                if inner == c {
                    break;
                }
            }
            out.push_str("(value not shown)");
        } else {
            out.push(c);
        }
    }
    out
}

/// A URL as messages may show it: scheme, host, port and path, without
/// credentials or query.
pub fn display_url(url: &reqwest::Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_the_environment() {
        let env = |name: &str| (name == "KEY").then(|| "s3cr3t".to_owned());
        assert_eq!(substitute("${KEY}", &env).unwrap(), "s3cr3t");
        assert_eq!(substitute("a-${KEY}-b", &env).unwrap(), "a-s3cr3t-b");
        assert_eq!(substitute("no refs $HOME", &env).unwrap(), "no refs $HOME");
        let e = substitute("${MISSING}", &env).unwrap_err();
        assert_eq!(e, Substitution::Unset("MISSING".into()));
        assert_eq!(e.to_string(), "environment variable MISSING is not set");
        assert_eq!(substitute("${KEY", &env), Err(Substitution::Unclosed));
        assert_eq!(
            substitute("${not a name}", &env),
            Err(Substitution::NotAReference("not a name".into()))
        );
    }

    #[test]
    fn spans_are_found_by_key_path() {
        let text = "[server]\nlisten = \"x\"\n\n[[workspaces]]\nid = \"a\"\n\n[[workspaces]]\nid = \"b\"\n[[workspaces.streams]]\nname = \"s\"\nurl = \"u\"\n";
        let root = DeTable::parse(text).unwrap();
        let line = |path| line_of(text, span_of(&root, path).start);
        assert_eq!(line("server.listen"), 2);
        assert_eq!(line("workspaces[1].id"), 8);
        assert_eq!(line("workspaces[1].streams[0].url"), 11);
        // A missing key: where it should be (its table).
        assert_eq!(line("workspaces[1].streams[0].type"), 9);
    }

    #[test]
    fn secrets_are_never_quoted() {
        assert!(is_secret_path("workspaces[0].secret"));
        assert!(is_secret_path("workspaces[0].streams[1].headers.X-Api-Key"));
        assert!(is_secret_path("workspaces[0].streams[1].auth.value"));
        assert!(!is_secret_path("workspaces[0].mparticle_identity"));
        assert_eq!(
            redact("invalid type: integer `987654321`, expected a string"),
            "invalid type: integer (value not shown), expected a string"
        );
        let url = reqwest::Url::parse("https://u:pa55@example.com:8443/x?token=t").unwrap();
        assert_eq!(display_url(&url), "https://example.com:8443/x");
    }
}
