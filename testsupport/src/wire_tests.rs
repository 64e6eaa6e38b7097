//! Socket-level tests of the whole mock server (filled in next).
