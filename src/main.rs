//! The `ingest` binary: parse the command line, hand over to the library,
//! exit with the code it decides.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let started = Instant::now();
    ExitCode::from(ingest::cli::main(started))
}
