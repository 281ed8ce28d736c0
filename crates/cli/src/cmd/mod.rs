pub mod admin;
pub mod bench;
pub mod certs;
pub mod check;
pub mod client;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod desk;
pub mod nemesis;
pub mod node;
pub mod scenario;
pub mod sim;

/// An error meaning that no node answered: `synod` exits with 4 for it
/// (0 ok, 1 refused by the application, 2 any other error, 3 unknown
/// outcome, 4 unreachable).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);
