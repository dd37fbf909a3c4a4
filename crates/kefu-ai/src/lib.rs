//! Clients for the AI endpoints Kefu talks to, both spoken in the
//! OpenAI-compatible wire protocol (vLLM, TEI, Ollama, llama.cpp, LiteLLM,
//! OpenAI itself …):
//!
//! - [`EmbeddingsClient`] — `POST {url}/embeddings`, batched, vectors in
//!   input order and L2-normalised; separate query / passage models or an
//!   `input_type` field for asymmetric models.
//! - [`ChatClient`] — `POST {url}/chat/completions` with `stream: true`:
//!   answers a question from numbered knowledge-base passages, streams the
//!   text as it arrives, maps `[n]` citations back to the passages and
//!   detects refusals (`NO_ANSWER`). Personal data is masked
//!   ([`mask::mask_pii`]) before anything leaves the process.
//! - [`mask`] — the personal-data scanner (phone numbers, e-mail
//!   addresses, resident ID numbers, bank cards), also meant for logs.
//! - `fake` (feature `testing`) — `FakeOpenAi`, a scriptable server on a
//!   real TCP port speaking the same protocol, for this crate's tests and
//!   the integration tests of the crates that use it.
//!
//! Neither client logs text: only the model, latency and token counts.
#![forbid(unsafe_code)]

mod answer;
mod chat;
mod config;
mod embeddings;
mod error;
pub mod mask;
mod sse;

#[cfg(feature = "testing")]
pub mod fake;

pub use crate::answer::{Passage, NO_ANSWER};
pub use crate::chat::{ChatClient, LlmAnswer};
pub use crate::config::{EmbeddingsConfig, LlmConfig};
pub use crate::embeddings::{EmbedMode, EmbeddingsClient};
pub use crate::error::AiError;
