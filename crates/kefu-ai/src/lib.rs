//! Clients for the AI endpoints Kefu talks to, in the wire protocols that
//! self-hosted servers share (vLLM, TEI, Ollama, llama.cpp, Xinference,
//! LiteLLM, OpenAI itself …):
//!
//! - [`EmbeddingsClient`] — `POST {url}/embeddings`, batched, vectors in
//!   input order and L2-normalised; separate query / passage models or an
//!   `input_type` field for asymmetric models.
//! - [`ChatClient`] — `POST {url}/chat/completions` with `stream: true`:
//!   answers a question from numbered knowledge-base passages, streams the
//!   text as it arrives, maps `[n]` citations back to the passages and
//!   detects refusals (`NO_ANSWER`). Personal data is masked
//!   ([`mask::mask_pii`]) before anything leaves the process.
//! - [`RerankClient`] — `POST {url}/rerank` in Cohere's and Jina's shape
//!   (vLLM, Xinference …) or TEI's: relevance scores of a few passages for
//!   a question, which is masked before it is sent.
//! - [`mask`] — the personal-data scanner (phone numbers, e-mail
//!   addresses, resident ID numbers, bank cards), also meant for logs.
//! - `fake` (feature `testing`) — `FakeOpenAi`, a scriptable server on a
//!   real TCP port speaking the same protocols, for this crate's tests and
//!   the integration tests of the crates that use it.
//!
//! No client logs text: only the model, latency and token counts.
#![forbid(unsafe_code)]

mod answer;
mod chat;
mod config;
mod embeddings;
mod error;
pub mod mask;
mod rerank;
mod sse;

#[cfg(feature = "testing")]
pub mod fake;

pub use crate::answer::{Passage, NO_ANSWER};
pub use crate::chat::{ChatClient, LlmAnswer};
pub use crate::config::{EmbeddingsConfig, LlmConfig, RerankApi, RerankConfig};
pub use crate::embeddings::{EmbedMode, EmbeddingsClient};
pub use crate::error::AiError;
pub use crate::rerank::{Ranked, RerankClient};
