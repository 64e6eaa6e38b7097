//! `ingest`: pull paginated JSON from several HTTP APIs at once, politely
//! and resiliently, normalize it into one record shape, dedupe it, and
//! account for every item.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aggregate;
pub mod cli;
pub mod config;
pub mod control;
pub mod dedupe;
pub mod error;
pub mod fetch;
pub mod logging;
pub mod normalize;
pub mod output;
pub mod pipeline;
pub mod price;
pub mod process;
pub mod progress;
