//! Kefu's domain layer: the types and rules every other layer shares, and the
//! ports (traits) that adapters implement. Nothing here knows about HTTP, SQL
//! or Redis.
#![forbid(unsafe_code)]

pub mod analytics;
pub mod attachments;
pub mod audit;
pub mod bus;
pub mod chat;
pub mod clock;
pub mod email;
pub mod error;
pub mod ids;
pub mod kb;
pub mod limits;
pub mod model;
pub mod role;
pub mod routing;
pub mod secrets;
pub mod sso;
pub mod store;

pub use clock::{truncate_to_micros, truncate_to_micros_now, Clock, SystemClock};
pub use error::{StoreError, StoreResult};
pub use ids::*;
pub use role::{Action, Role, Scope};
