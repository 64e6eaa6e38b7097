//! JSON as ingest reads it: items parsed where they are normalized into
//! a [`Node`] that borrows from the page's body and keeps document order,
//! and [`DotPath`], the one parsed form of every dot path a config names.
//!
//! Everything above reads JSON through these two types; nothing here
//! knows about sources, records or the network.

pub mod dot_path;
pub mod node;

pub use dot_path::DotPath;
pub use node::Node;
