//! Privacy and data lifecycle (docs/interface/privacy.md) end to end, on
//! both backends: erasure, suppression, access, the OpenDSR processor with
//! its signatures checked by an independent library, Amplitude deletions,
//! retention.

mod delivery_log;
mod erasure;
mod forward;
mod opendsr;
mod retention;
mod support;
mod suppression;
