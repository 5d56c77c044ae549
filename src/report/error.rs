//! How writing a report fails. Below the report's sections (`frontdoor.rs`,
//! `safety.rs`), which return it, and the folder writer that assembles them.

use super::plots;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("writing report {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("encoding {what}: {message}")]
    Encode { what: &'static str, message: String },
    /// The destination holds something servesim did not write: bad input.
    /// `why` says what is there and what to do instead.
    #[error("--out {} {why}", path.display())]
    Refused { path: PathBuf, why: String },
    #[error(transparent)]
    Plot(#[from] plots::PlotError),
}
