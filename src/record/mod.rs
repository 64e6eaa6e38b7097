//! Items into records (SPEC §5): a source's [`RecordSchema`] says which
//! fields a record has and of what type; [`normalize`] turns one parsed
//! item into a [`Record`] or says why it cannot ([`InvalidReason`]).
//!
//! `coerce` reads a value as a declared type, `price` reads price strings,
//! `bookmark` compares incremental values as instants or integers. This
//! stage is pure: no I/O, no threads, no config file.

pub mod bookmark;
pub mod coerce;
pub mod normalize;
pub mod price;
pub mod schema;

pub use normalize::{normalize, Record};
pub use schema::{FieldPaths, InvalidReason, RecordSchema};
