//! Cohort names and list names.
//!
//! The cohort name rule (docs/rules/cohort-names.md) is data: one table here,
//! checked by [`check_cohort_name`]. The list API wraps the name as
//! `[Amplitude] <cohort name>: <cohort id>` (same page, "The list-name
//! wrapper"); [`parse_list_name`] unwraps it.

use std::fmt;

use crate::input::{limits, quoted};

/// docs/rules/cohort-names.md "The name rule": a cohort name must not start
/// with a period (.) nor contain any of the restricted characters below."
pub const FORBIDDEN_LEADING: char = '.';
/// The ten restricted characters, in the order of the docs page's table.
pub const RESTRICTED_CHARACTERS: [char; 10] = ['|', '*', '?', '\\', ':', '<', '>', '=', '$', '"'];

/// How a cohort name breaks the name rule. The message states the whole
/// rule so the sender knows what to rename.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong(usize),
    LeadingPeriod,
    Restricted(char),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let problem = match self {
            Self::Empty => "is empty".to_owned(),
            Self::TooLong(chars) => format!(
                "is {chars} characters long (at most {} are accepted)",
                limits::NAME_CHARS
            ),
            Self::LeadingPeriod => "starts with a period (.)".to_owned(),
            Self::Restricted(c) => format!("contains the restricted character {c}"),
        };
        let list = RESTRICTED_CHARACTERS
            .iter()
            .map(char::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        write!(
            f,
            "cohort name {problem}; a cohort name must not be empty, must not start with \
             a period (.) and must not contain any of {list}"
        )
    }
}

impl std::error::Error for NameError {}

/// Checks a cohort name against the name rule (docs/rules/cohort-names.md).
pub fn check_cohort_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    let chars = name.chars().count();
    if chars > limits::NAME_CHARS {
        return Err(NameError::TooLong(chars));
    }
    if name.starts_with(FORBIDDEN_LEADING) {
        return Err(NameError::LeadingPeriod);
    }
    match name.chars().find(|c| RESTRICTED_CHARACTERS.contains(c)) {
        Some(c) => Err(NameError::Restricted(c)),
        None => Ok(()),
    }
}

/// The prefix Amplitude puts before list names.
pub const LIST_NAME_PREFIX: &str = "[Amplitude] ";

/// A list name that is not `[Amplitude] <cohort name>: <cohort id>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListNameError(pub String);

impl fmt::Display for ListNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "list name {} is not of the form \"[Amplitude] <cohort name>: <cohort id>\"",
            quoted(&self.0)
        )
    }
}

impl std::error::Error for ListNameError {}

/// Splits `[Amplitude] <cohort name>: <cohort id>` into (name, id). The
/// separator is the LAST `": "`: cohort ids never contain one, and a name
/// that does is then rejected by [`check_cohort_name`] (`:` is restricted).
pub fn parse_list_name(text: &str) -> Result<(&str, &str), ListNameError> {
    let error = || ListNameError(text.to_owned());
    let rest = text.strip_prefix(LIST_NAME_PREFIX).ok_or_else(error)?;
    let (name, id) = rest.rsplit_once(": ").ok_or_else(error)?;
    if name.is_empty() || id.trim().is_empty() {
        return Err(error());
    }
    Ok((name, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_restricted_character_and_the_leading_period_are_refused() {
        for c in RESTRICTED_CHARACTERS {
            let name = format!("Cart{c}Drop");
            assert_eq!(check_cohort_name(&name), Err(NameError::Restricted(c)));
        }
        assert_eq!(check_cohort_name(".hidden"), Err(NameError::LeadingPeriod));
        assert_eq!(check_cohort_name("  "), Err(NameError::Empty));
        // A period elsewhere, and other punctuation, are fine.
        assert_eq!(check_cohort_name("v1.2 buyers (EU) & friends"), Ok(()));
    }

    #[test]
    fn messages_state_the_rule() {
        let text = NameError::Restricted('$').to_string();
        assert!(text.contains("restricted character $"), "{text}");
        assert!(text.contains(r#"| * ? \ : < > = $ ""#), "{text}");
        assert!(text.contains("must not start with a period"), "{text}");
    }

    #[test]
    fn list_names_unwrap() {
        assert_eq!(
            parse_list_name("[Amplitude] Cart Drop off: 7khm89cz"),
            Ok(("Cart Drop off", "7khm89cz"))
        );
        // The last ": " separates; the name part then fails the name rule.
        assert_eq!(parse_list_name("[Amplitude] a: b: c"), Ok(("a: b", "c")));
        for bad in [
            "Cart Drop off: 7khm89cz",
            "[Amplitude] Cart Drop off",
            "[Amplitude] : 7khm89cz",
            "[Amplitude] Cart: ",
            "",
        ] {
            assert!(parse_list_name(bad).is_err(), "{bad:?}");
        }
    }
}
