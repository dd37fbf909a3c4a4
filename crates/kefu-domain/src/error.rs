//! Errors a store (any backend) reports to the layers above.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The row does not exist, or belongs to another workspace (the two are
    /// deliberately indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was violated; the payload names the rule in
    /// snake_case (for example `email_taken`).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A domain rule refused the change (for example removing the last owner).
    #[error("rule violated: {0}")]
    Rule(&'static str),
    /// Anything else: connection lost, corrupt row, driver error.
    #[error("storage failure: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }
}
