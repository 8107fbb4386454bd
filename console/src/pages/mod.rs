//! The console's pages (docs/interface/console.md "Pages").

pub mod dead_letters;
pub mod deliveries;
pub mod live;
pub mod login;
pub mod overview;
pub mod segments;
pub mod users;
