//! The `servesim` command line: a thin clap layer over the library.
//! Exit codes: 0 success, 1 a check failed (validation, invariants) or the
//! report could not be written, 2 bad input (scenario, trace, arguments).

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}
