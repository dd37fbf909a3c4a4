//! Kefu's HTTP layer: the `/api/v1` REST surface, health and metrics, the
//! JSON error envelope, authentication extractors and the protective
//! middleware (request ids, rate limits, timeouts, security headers).
//! Handlers are thin: extract, call a service, map the error.
#![forbid(unsafe_code)]

mod assets;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
mod process_metrics;
pub mod ratelimit;
pub mod router;
mod routes;
pub mod state;
pub mod trace;
pub mod ws;

pub use config::{HttpConfig, MetricsConfig};
pub use error::ApiError;
pub use router::{build_router, metrics_router};
pub use state::AppState;
