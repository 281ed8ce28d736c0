//! synod-tools: the engines behind the `synod` command line.
//!
//! - [`local`]: a local cluster of node processes in a directory, and
//!   [`queries`]: what the engines ask any cluster's nodes.
//! - [`demo`]: a cluster loses its leader under load and must carry on.
//! - [`bench`]: closed-loop load, latency percentiles, a picture of the run.
//! - [`nemesis`]: faults on real processes while clients record a history,
//!   then the checkers of synod-check.
//! - [`scenario`]: bank test sets with nodes cut off, set by set.
//! - [`desk`]: the order desk's lines and answers.
//! - [`membership`]: add, promote and remove nodes of a running cluster,
//!   keeping its cluster file in step.
//!
//! The contract: an engine takes an options struct and reports through
//! typed values, a report at the end and events handed to a callback as
//! they happen. Engines parse no arguments and print nothing; what an event
//! or report says to a person is its `Display`. They are async and run on
//! the caller's tokio runtime.

pub mod bench;
pub mod certs;
pub mod demo;
pub mod desk;
pub mod local;
pub mod membership;
pub mod nemesis;
pub mod queries;
pub mod scenario;
