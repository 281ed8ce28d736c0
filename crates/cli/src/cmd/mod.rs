pub mod admin;
pub mod bench;
pub mod client;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod node;
pub mod sim;
