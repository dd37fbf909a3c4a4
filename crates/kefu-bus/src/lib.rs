//! Event bus adapters for the domain's [`Bus`](kefu_domain::bus::Bus) port:
//! [`MemoryBus`] for a single node, [`RedisBus`] for a cluster of replicas;
//! and [`RedisLimits`], the cluster's limit counters
//! ([`Limits`](kefu_domain::limits::Limits) port) over the bus's connection.
#![forbid(unsafe_code)]

mod memory;
mod redis;

pub use crate::memory::MemoryBus;
pub use crate::redis::{BusError, RedisBus, RedisLimits, LIMITS_CALL_TIMEOUT};

#[cfg(feature = "testing")]
pub mod testing;
