//! Amplitude cohort sync (docs/rules/member-matching.md): cohort webhooks and the list API in,
//! segments with identity-matched members and `Partner Sync` events out.
//!
//! A request is validated ([`payload`], [`names`]), de-duplicated by
//! `message_id`, staged on the cohort queue and acknowledged ([`receive`]);
//! the queue consumer ([`apply`]) matches users to profiles ([`matching`])
//! and applies the versioned changes (`crate::membership`).
//! docs/architecture.md "Cohorts: stage, then apply".

pub mod apply;
pub mod matching;
pub mod names;
pub mod payload;
mod receive;

pub use apply::apply_staged;
pub use receive::{MESSAGE_ID_TTL, change_list, create_list, receive_webhook};
