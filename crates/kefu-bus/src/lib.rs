//! Event bus adapters for the domain's [`Bus`](kefu_domain::bus::Bus) port:
//! [`MemoryBus`] for a single node, [`RedisBus`] for a cluster of replicas.
#![forbid(unsafe_code)]

mod memory;
mod redis;

pub use crate::memory::MemoryBus;
pub use crate::redis::{BusError, RedisBus};

#[cfg(feature = "testing")]
pub mod testing;
