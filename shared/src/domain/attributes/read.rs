//! Attribute text read without building anything: its names as sent,
//! checked to read as a map would read it, a long name or a named string
//! found. canonical.rs reads names and checks values with these.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A name as sent: borrowed unless it had escapes.
pub(super) struct Name<'de>(pub(super) Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an attribute name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// The first name of an object longer than `max_bytes`, borrowed unless
/// it had escapes.
pub(super) struct LongName {
    pub(super) max_bytes: usize,
}

impl<'de> DeserializeSeed<'de> for LongName {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LongName {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut long = None;
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            map.next_value::<IgnoredAny>()?;
            if long.is_none() && name.len() > self.max_bytes {
                long = Some(name);
            }
        }
        Ok(long)
    }
}

/// The string of an object whose only member is `name`'s, written with no
/// whitespace and no escape: `{"moengage_user_id":"…"}`, as every
/// mParticle event's user attributes are queued. Found by its bytes,
/// because the text is a JSON object (checked when kept): with no quote or
/// backslash in `name`, its first member is `name`'s, and with none in
/// the value, that member is the last. `None` for any other shape.
/// `Event::moengage_user_id` is asked several times per event; reading the
/// text each time was 4 % of the consumers' samples (BENCHMARKS.md "Issue
/// 22, nineteenth session").
pub(super) fn only_string<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    if quote_or_backslash(name) {
        return None;
    }
    let value = text
        .strip_prefix("{\"")?
        .strip_prefix(name)?
        .strip_prefix("\":\"")?
        .strip_suffix("\"}")?;
    (!quote_or_backslash(value)).then_some(value)
}

/// Whether `s` holds a `"` or a `\`. `memchr2` over the bytes: `str::contains`
/// with a set of chars decodes each char, and made `only_string` most of
/// what it was meant to save (BENCHMARKS.md "Issue 22, twentieth session").
fn quote_or_backslash(s: &str) -> bool {
    memchr::memchr2(b'"', b'\\', s.as_bytes()).is_some()
}

/// The string value of the name `name`: the last one's, as a map keeps
/// it; `None` for another kind of value or no such name. An error for a
/// string with escapes, which cannot be lent from the text as it is.
pub(super) struct StrNamed<'n> {
    pub(super) name: &'n str,
}

impl<'de> DeserializeSeed<'de> for StrNamed<'_> {
    type Value = Option<&'de str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StrNamed<'_> {
    type Value = Option<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            if name != self.name {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let raw = map.next_value::<&'de RawValue>()?.get();
            found = match raw.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(text) if text.contains('\\') => {
                    return Err(A::Error::custom("a string with escapes"));
                }
                Some(text) => Some(text),
                None => None,
            };
        }
        Ok(found)
    }
}

/// A JSON value read as a `Value` reads it (`deserialize_any`), with every
/// string borrowed or left in the reader's scratch and nothing built.
pub(super) struct Readable;

impl<'de> Deserialize<'de> for Readable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ReadableVisitor)
    }
}

struct ReadableVisitor;

impl<'de> Visitor<'de> for ReadableVisitor {
    type Value = Readable;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_str<E>(self, _: &str) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_unit<E>(self) -> Result<Readable, E> {
        Ok(Readable)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Readable, A::Error> {
        while seq.next_element::<Readable>()?.is_some() {}
        Ok(Readable)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Readable, A::Error> {
        while map.next_key::<Readable>()?.is_some() {
            map.next_value::<Readable>()?;
        }
        Ok(Readable)
    }
}
