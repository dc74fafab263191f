//! Why the demo could not start or go on: one error enum for `halfsky demo`, with the
//! step that failed in its message ("starting the node in …: …").

use crate::config::ConfigError;
use crate::ledger::LedgerError;
use crate::pki::PkiError;
use crate::run::RunError;
use crate::sync::bundle::BundleError;

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// An option is not usable; the message says which and what to give.
    #[error("{0}")]
    Usage(String),
    /// A step of setting up or running the city failed.
    #[error("{step}: {source}")]
    Step {
        /// What the demo was doing.
        step: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Something the demo needed was not there.
    #[error("{0}")]
    Missing(String),
    /// Writing the summary or a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A node home's config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A node would not start.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The demo CA or a certificate.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Carrying a bundle.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

/// The demo's results.
pub type Result<T> = std::result::Result<T, DemoError>;

/// Names the step that failed, as the error's context.
pub trait Context<T> {
    /// With a fixed description of the step.
    fn context(self, step: &str) -> Result<T>;
    /// With a description made only when the step failed.
    fn with_context(self, step: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, step: &str) -> Result<T> {
        self.with_context(|| step.to_string())
    }

    fn with_context(self, step: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| DemoError::Step {
            step: step(),
            source: Box::new(e),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: &str) -> Result<T> {
        self.ok_or_else(|| DemoError::Missing(what.to_string()))
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.ok_or_else(|| DemoError::Missing(what()))
    }
}
