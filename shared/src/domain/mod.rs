//! Plain domain types: no AWS SDK, no storage, no HTTP.

pub mod attributes;
pub mod batching;
pub mod delivery;
pub mod encoded;
pub mod event;
pub mod ids;
pub mod page;
pub mod profile;
pub mod replay;
pub mod segment;
mod shared_devices;
pub mod staged;
pub mod stream_state;
pub mod time;
pub mod version;
pub mod window;

pub use attributes::Attributes;
pub use delivery::{Attempt, DeadBatch, DeadLetter, DeadMessage, FailureKind, RetryMessage};
pub use encoded::Encoded;
pub use event::{Event, EventSource, EventType, EventsMessage};
pub use ids::ProfileKey;
pub use page::{Page, PageRequest};
pub use profile::{Profile, ProfileUpdate};
pub use segment::{
    Member, MembershipAction, MembershipChange, MembershipOutcome, Segment, SegmentSource,
};
pub use staged::{StagedChanges, StagedSync, StagedUser};
pub use stream_state::{Disabled, Hold, StateChange, StreamState};
pub use version::{Arrival, MembershipState, Version};
pub use window::FixedWindow;
