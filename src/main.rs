//! The `ingest` binary: parse the command line, hand over to the library,
//! exit with the code it decides.

fn main() {}
