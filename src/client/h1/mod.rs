//! HTTP/1.1 of our own, as wrk and h2load own theirs: the lane writes a prepared request
//! and frames the response itself on the stream, with no task or channel in between.
//! `frame.rs` says what bytes are (httparse parses; RFC 9112 delimits), without I/O, and
//! is property-tested with responses cut at every point; `conn.rs` reads and writes.

pub mod conn;
pub mod frame;
