//! Plain domain types: no AWS SDK, no storage, no HTTP.

pub mod delivery;
pub mod event;
pub mod ids;
pub mod page;
pub mod profile;
pub mod segment;
pub mod time;

pub use delivery::{Attempt, DeadLetter, RetryMessage};
pub use event::{Event, EventType, EventsMessage};
pub use ids::ProfileKey;
pub use page::{Page, PageRequest};
pub use profile::{Profile, ProfileUpdate};
pub use segment::{
    Member, MembershipAction, MembershipChange, MembershipOutcome, MembershipVersion, Segment,
    SegmentSource,
};
