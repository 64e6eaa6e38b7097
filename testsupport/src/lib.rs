//! Deterministic in-process mock HTTP APIs for ingest's tests and demo.
