//! synod-sim: runs whole synod clusters (the real protocol code of
//! synod-core and the real applications of synod-apps) in one thread on
//! virtual time, under a seeded schedule of faults, and checks every
//! invariant of docs/simulator.md ("Checkers") while and after it runs.
//!
//! - [`world`]: one run, in parts with one job each: the event loop
//!   (`world/mod.rs`), options and report (`options`), the node hosts with
//!   the persist-then-send contract enforced on a simulated disk (`hosts`),
//!   fault application and healing (`chaos`), the clients and probes
//!   (`clients`), and the checks at events and at the end (`verdict`);
//!   [`workload`]: the clients, which draw the workload of synod-check.
//! - [`faults`]: the fault catalogue and the per-seed schedule of the fixed
//!   mix; [`swarm`]: the swarm, where each seed draws which faults strike,
//!   how often and how hard, or a scenario family aimed at a rare corner.
//! - [`net`], [`disk`]: the network and storage models.
//! - [`checks`]: safety invariants checked as the run goes;
//!   [`durability`]: what a crashed node recovers covers every vote it sent.
//! - the client-history checks of synod-check run at the end
//!   (kv linearizability, bank and inventory consistency).
//! - [`runner`]: many seeds, in parallel, with a summary; [`replay`]: the
//!   arguments that rerun one seed, and the regression seeds `cargo test`
//!   replays (`regressions.txt`).

pub mod checks;
pub mod disk;
pub mod durability;
pub mod faults;
pub mod net;
pub mod replay;
pub mod runner;
pub mod swarm;
pub mod workload;
pub mod world;

pub use checks::Violation;
pub use faults::FaultKind;
pub use runner::{Summary, run_seeds, run_seeds_until};
pub use swarm::{Family, Mix};
pub use world::{Configure, SimOptions, SimReport, run};
