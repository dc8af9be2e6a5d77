//! The controller: Autonomic's MAPE-K loop assembled from the stage crates.
//!
//! - [`config`]: the YAML configuration and its two-phase checking.
//! - [`topology`]: ports and addresses of every replica.
//! - [`controller`]: starting and stopping the loop.
//! - [`incidents`]: signals → incidents (dedup, symptoms, root cause along `depends_on`) → ladders.
//! - [`verify`]: recovery checks for playbook steps.
//! - [`journal_watch`]: the journal while the loop runs: loud when it cannot be written, pruned.
//! - [`baseline`]: the comparison setup (restart on exit + Kubernetes-style liveness probes).

pub mod baseline;
mod cluster;
pub mod config;
pub mod controller;
pub mod incidents;
pub mod journal_watch;
pub mod self_metrics;
pub mod tasks;
pub mod topology;
pub mod verify;

pub use config::{Config, check_playbook_file, compile, load};
pub use controller::{Controller, ControllerError, RunOptions};
pub use incidents::Mode;
