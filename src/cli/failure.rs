//! The exit-code convention every subcommand answers with: 2 for bad
//! input, 1 for a run or check that failed.

use servesim::report::ReportError;

/// A failure with the exit code it maps to.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// Bad input: exit code 2.
    pub fn input(error: impl Into<anyhow::Error>) -> Self {
        Failure { code: 2, error: error.into() }
    }

    /// A run or check that failed: exit code 1.
    pub fn failed(error: impl Into<anyhow::Error>) -> Self {
        Failure { code: 1, error: error.into() }
    }
}

/// A destination servesim may not write over is bad input (exit 2); a
/// report that could not be encoded or written is a failed run (exit 1).
impl From<ReportError> for Failure {
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::Refused { .. } => Failure::input(error),
            _ => Failure::failed(error),
        }
    }
}
