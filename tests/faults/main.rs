//! The AWS fault suite (docs/architecture.md "Nothing acknowledged is
//! lost"): the functions run against moto behind a fault-injecting proxy
//! (tests/support/faults). `findings` pins each loss the suite found, one
//! scripted fault at a time; the other modules storm the functions with
//! 20–30 % faults and check that nothing acknowledged is lost.

mod findings;
mod ingest;
mod partners;
mod receiver;
mod streams;
