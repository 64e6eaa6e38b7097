//! `ingest`: pull paginated JSON from several HTTP APIs at once, politely
//! and resiliently, normalize it into one record shape, dedupe it, and
//! account for every item.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod normalize;
pub mod price;
